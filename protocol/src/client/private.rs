//! Private messages between two clients, over a direct link.
//!
//! A text for a nick with no open link to it waits while the client asks
//! the recipient through the servers (`PRIVREQ`); a yes (`PRIVANS`) opens
//! a direct link, where the waiting texts go once it is up (`PTEXT`).
//! Every text ends one of two ways for its user: it leaves on an open
//! direct link (`PrivateSent`), or the user is told it failed
//! (`PrivateFailed`): refused, no such nick, no answer within
//! `send_timeout`, no direct link to be had, the session that asked
//! ended, or the user quit. (At first the last four dropped the texts
//! without a word: the `private-ends` ablation.)

use std::sync::Arc;

use super::{Client, Peer};
use crate::names::fold;
use crate::outbox::{ChatNote, LinkId, Outbox, Output};
use crate::server::chat_frame as frame;
use crate::time::Instant;
use crate::wire::Frame;

/// Texts for one nick waiting for its answer, and since when.
#[derive(Clone, Debug)]
pub(crate) struct Asked {
    since: Instant,
    texts: Vec<Arc<str>>,
}

impl Client {
    pub(crate) fn private(&mut self, now: Instant, to: &str, text: &str, out: &mut Outbox) {
        if self.cfg.relay_private {
            // Research switch: the text travels through the servers.
            self.send(out, "LSEND", &[text, to]);
            Self::note(
                out,
                ChatNote::PrivateSent {
                    to: to.into(),
                    text: text.into(),
                },
            );
            return;
        }
        let key = fold(to);
        let open = self
            .peers
            .iter()
            .find(|(_, p)| p.nick.as_deref().is_some_and(|n| fold(n) == key))
            .map(|(&l, p)| (l, p.open));
        match open {
            Some((l, true)) => {
                out.send(l, frame("PTEXT", &[text]));
                Self::note(
                    out,
                    ChatNote::PrivateSent {
                        to: to.into(),
                        text: text.into(),
                    },
                );
            }
            Some((l, false)) => self
                .peers
                .get_mut(&l)
                .expect("peer")
                .queue
                .push(text.into()),
            None => {
                let first = !self.asked.contains_key(&key);
                let asked = self.asked.entry(key).or_insert_with(|| Asked {
                    since: now,
                    texts: Vec::new(),
                });
                asked.texts.push(text.into());
                if first {
                    let addr = self.cfg.addr.clone();
                    self.send(out, "PRIVREQ", &[to, &addr]);
                }
            }
        }
    }

    pub(crate) fn on_private_answer(
        &mut self,
        nick: &str,
        yes: bool,
        addr: &str,
        out: &mut Outbox,
    ) {
        let Some(asked) = self.asked.remove(&fold(nick)) else {
            return;
        };
        if !yes {
            Self::fail_private(nick, asked.texts.len(), "private message refused", out);
            return;
        }
        let link = self.new_link();
        self.peers.insert(
            link,
            Peer {
                nick: Some(nick.into()),
                open: false,
                queue: asked.texts,
            },
        );
        out.push(Output::Connect {
            link,
            to: addr.into(),
        });
    }

    /// `PRIVERR,nick,why`: one failure per text that waited on the
    /// request (none if none waits: its texts already failed, at the
    /// request's deadline).
    pub(crate) fn on_private_refused(&mut self, nick: &str, why: &str, out: &mut Outbox) {
        if let Some(asked) = self.asked.remove(&fold(nick)) {
            Self::fail_private(nick, asked.texts.len(), why, out);
        }
    }

    pub(crate) fn on_peer_frame(&mut self, link: LinkId, f: &Frame, out: &mut Outbox) {
        let Some(p) = self.peers.get_mut(&link) else {
            return;
        };
        match f.command() {
            "PHELLO" => p.nick = f.arg(0).map(Arc::from),
            "PTEXT" => {
                let from = p.nick.clone().unwrap_or_else(|| "?".into());
                let text: Arc<str> = f.arg(0).unwrap_or("").into();
                self.private_log.push((from.clone(), text.clone()));
                Self::note(out, ChatNote::PrivateReceived { from, text });
            }
            _ => {}
        }
    }

    /// A direct link closed. One that never opened takes the texts that
    /// waited for it down with it, each told.
    pub(crate) fn peer_closed(&mut self, link: LinkId, out: &mut Outbox) {
        if let Some(p) = self
            .peers
            .remove(&link)
            .filter(|_| !self.cfg.no_private_ends)
        {
            let to = p.nick.unwrap_or_else(|| "".into());
            Self::fail_private(&to, p.queue.len(), "no direct link", out);
        }
    }

    /// Requests unanswered within `send_timeout`: the answer may never
    /// come (the request or the recipient was lost on the way).
    pub(crate) fn private_timeouts(&mut self, now: Instant, out: &mut Outbox) {
        if self.cfg.no_private_ends {
            return;
        }
        let limit = self.cfg.send_timeout;
        let due: Vec<String> = self
            .asked
            .iter()
            .filter(|(_, a)| a.since + limit <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for key in due {
            let asked = self.asked.remove(&key).expect("due");
            Self::fail_private(&key, asked.texts.len(), "no answer", out);
        }
    }

    pub(crate) fn private_deadline(&self) -> Option<Instant> {
        // Asked after every input: nearly always with nothing asked, and
        // then without walking an empty tree.
        if self.cfg.no_private_ends || self.asked.is_empty() {
            return None;
        }
        let first = self.asked.values().map(|a| a.since).min()?;
        Some(first + self.cfg.send_timeout)
    }

    /// The session ended: the servers will not answer its requests.
    pub(crate) fn private_session_ended(&mut self, out: &mut Outbox) {
        if self.cfg.no_private_ends {
            return;
        }
        self.fail_asked("session ended", out);
    }

    /// Every request waiting for its answer fails, `why`.
    fn fail_asked(&mut self, why: &str, out: &mut Outbox) {
        for (key, asked) in std::mem::take(&mut self.asked) {
            Self::fail_private(&key, asked.texts.len(), why, out);
        }
    }

    /// The user quit: every text not yet sent is given up.
    pub(crate) fn give_up_private(&mut self, why: &str, out: &mut Outbox) {
        if self.cfg.no_private_ends {
            return;
        }
        self.fail_asked(why, out);
        for p in self.peers.values_mut().filter(|p| !p.open) {
            let to = p.nick.clone().unwrap_or_else(|| "".into());
            let n = std::mem::take(&mut p.queue).len();
            Self::fail_private(&to, n, why, out);
        }
    }

    fn fail_private(to: &str, texts: usize, why: &str, out: &mut Outbox) {
        for _ in 0..texts {
            Self::note(
                out,
                ChatNote::PrivateFailed {
                    to: to.into(),
                    reason: why.into(),
                    list: false,
                },
            );
        }
    }
}
