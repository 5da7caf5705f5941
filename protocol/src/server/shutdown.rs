//! Graceful shutdown: move every client away by seamless redirect, then
//! close the links.
//!
//! The server stops taking new clients, sends each local user to a server
//! of its component chosen by load (the fewest users living there, ties by
//! name, counting the users it is sending; so they spread instead of
//! piling onto one), waits until every request has ended or
//! `redirect_timeout` has passed, tells whoever is left "server shutting
//! down" (with a QUIT to the network), then has a last word with each
//! neighbour and closes its links with SCLOSE.
//!
//! The last word is a PING with its own token ([`LAST_WORD`]) on every
//! server link; the server closes once each has answered (or gone, or
//! `ping_timeout` has passed). A neighbour answers once it has read
//! everything before it, the moves' UMOVEs included, so whatever it sent
//! toward the moved users before it heard of them arrives first, while
//! the server still reads its links and can send it on: a list copy for a
//! user it just moved goes back toward the user's new server
//! (`list-copy-lost-at-a-shutdown.toml`; the `last-word` ablation closes
//! at once, as before, and drops it).

use std::collections::BTreeMap;
use std::sync::Arc;

use rand_core::CryptoRngCore;

use super::{CloseReason, LinkId, Phase, Server};
use crate::message::Msg;
use crate::outbox::{Note, Outbox, Output};
use crate::time::Instant;

/// The SCLOSE reason of a graceful shutdown: its neighbours give the tree
/// `relink_grace` to re-form before their rooms elect new sequencers.
pub(crate) const SHUTDOWN_REASON: &str = "shutting down";

/// The token of a shutting-down server's last PING: keepalive tokens
/// count up from 0 and never reach it.
pub(crate) const LAST_WORD: u64 = u64::MAX;

/// Another server's load: (users living there, name, SID).
type Load = (usize, Arc<str>, Arc<str>);

impl Server {
    /// Every other server of the component by load (users living there),
    /// lightest first, ties by name; and this server's own load.
    fn loads(&self) -> (Vec<Load>, usize) {
        let mut by_sid: BTreeMap<&str, usize> = BTreeMap::new();
        let mut mine = 0;
        for u in self.chat.users.values_unordered() {
            if u.local {
                mine += 1;
            } else {
                *by_sid.entry(&u.sid).or_default() += 1;
            }
        }
        let mut v: Vec<Load> = self
            .known
            .iter()
            .map(|k| {
                (
                    by_sid.get(&*k.sid).copied().unwrap_or(0),
                    k.name().clone(),
                    k.sid.arc(),
                )
            })
            .collect();
        v.sort();
        (v, mine)
    }

    /// Load balancing: a server holding more than the component's mean by
    /// a margin (a quarter of the mean, at least 2) moves the excess, one
    /// client at a time to the lightest server, counting each as it goes.
    /// Only while no move of ours is pending, so a slow move is not
    /// doubled by the next check.
    pub(crate) fn balance<R: CryptoRngCore>(
        &mut self,
        now: Instant,
        rng: &mut R,
        out: &mut Outbox,
    ) {
        if self.draining.is_some() || !self.chat.moves_out.is_empty() {
            return;
        }
        let (mut others, mine) = self.loads();
        if others.is_empty() {
            return;
        }
        let total = mine + others.iter().map(|o| o.0).sum::<usize>();
        let mean = total / (others.len() + 1);
        let margin = (mean / 4).max(2);
        if mine <= mean + margin {
            return;
        }
        let movable: Vec<Arc<str>> = self
            .chat
            .users
            .iter()
            .filter(|(_, u)| u.local)
            .map(|(uid, _)| uid.clone())
            .collect();
        let mut left = mine;
        for uid in movable {
            if left <= mean {
                break;
            }
            let (load, name, _) = others[0].clone();
            if load + 1 >= left {
                break; // as even as moving can make it
            }
            if self.start_redirect(now, &uid, &name, rng, out).is_ok() {
                left -= 1;
                others[0].0 += 1;
                others.sort();
            }
        }
    }

    pub(crate) fn begin_shutdown<R: CryptoRngCore>(
        &mut self,
        now: Instant,
        rng: &mut R,
        out: &mut Outbox,
    ) {
        if self.draining.is_some() {
            return;
        }
        self.draining = Some(now + self.cfg.redirect_timeout);
        self.arm(now + self.cfg.redirect_timeout);
        self.hand_over_sequencers(now, out);
        let (mut others, _) = self.loads();
        let mine: Vec<Arc<str>> = self
            .chat
            .users
            .iter()
            .filter(|(_, u)| u.local)
            .map(|(uid, _)| uid.clone())
            .collect();
        for uid in mine {
            // Alone: nowhere to send anyone.
            let Some((_, name, _)) = others.first().cloned() else {
                break;
            };
            if self.start_redirect(now, &uid, &name, rng, out).is_ok() {
                others[0].0 += 1;
                others.sort();
            }
        }
        self.progress_shutdown(now, rng, out);
    }

    /// Finishes a shutdown: once no redirect is pending (or time is up),
    /// no stream is being handed on and none it agreed to take waits for
    /// its go, it has its last word; once that is answered (or
    /// `ping_timeout` has passed), it closes.
    pub(crate) fn progress_shutdown<R: CryptoRngCore>(
        &mut self,
        now: Instant,
        rng: &mut R,
        out: &mut Outbox,
    ) {
        let Some(until) = self.draining else {
            return;
        };
        if !self.chat.sequenced_in_drain.is_empty() {
            self.hand_over_sequenced_in_drain(now, out);
        }
        if !self.chat.kept_in_drain.is_empty() && self.known.len() > 0 {
            self.hand_over_kept_in_drain(now, out);
        }
        self.retry_handoffs(now, out);
        // The clients it could not move are told as soon as no move is
        // pending (or the drain's time ran out), whatever the streams do: a
        // handover with nobody in reach takes five rounds, and a client
        // left that long without a word timed its server out first, never
        // told why (shutdown.drains: swarm-greeter seed 11092,
        // shutdown-goodbye-while-handing-over.toml).
        let moves_ended = self.chat.moves_out.is_empty() || now >= until;
        if moves_ended && self.last_word.is_none() && !self.cfg.ablations.no_prompt_goodbye {
            self.let_clients_go(out);
        }
        // Streams wait for their successor's receipt (each try is bounded,
        // and so is their number), and the drain with them.
        if let Some(next) = self.chat.handing.values().map(|h| h.until()).min() {
            if until <= now {
                self.draining = Some(next);
            }
            return;
        }
        // Moves still pending when the drain's time ran out are not waited
        // for again under the last word's later deadline.
        if self.last_word.is_none() && !self.chat.moves_out.is_empty() && now < until {
            return;
        }
        // A stream this server said it would take (RSEQTAKE) is given up by
        // the old sequencer at its go: closing before the go arrives would
        // leave the stream with nobody (two neighbours shutting down
        // together, handover-to-a-server-shutting-down.toml). Once it
        // arrives, the stream is handed on in turn, and waited for above.
        // So too during the last word, when a neighbour shutting down
        // meanwhile may still choose this server, which it still sees,
        // for its streams (stream-offered-during-the-last-word.toml).
        let taking = self
            .chat
            .incoming
            .values()
            .flatten()
            .any(|(_, _, offered)| offered.is_some());
        if taking && now < until && !self.cfg.ablations.no_drain_waits_go {
            return;
        }
        if let Some(waiting) = &mut self.last_word {
            let links = &self.links;
            waiting.retain(|l| {
                links
                    .get(l)
                    .is_some_and(|x| matches!(x.phase, Phase::Registered))
            });
            if waiting.is_empty() || now >= until {
                self.draining = None;
                self.last_word = None;
                self.close_down(now, rng, out);
            }
            return;
        }
        self.let_clients_go(out);
        let neighbours: Vec<LinkId> = self
            .links
            .iter()
            .filter(|(_, l)| matches!(l.phase, Phase::Registered))
            .map(|(&id, _)| id)
            .collect();
        if self.cfg.ablations.no_last_word || neighbours.is_empty() {
            self.draining = None;
            return self.close_down(now, rng, out);
        }
        for &l in &neighbours {
            out.send(l, |b| Msg::Ping { token: LAST_WORD }.encode(b));
        }
        self.last_word = Some(neighbours);
        let until = now + self.cfg.ping_timeout;
        self.draining = Some(until);
        self.arm(until);
    }

    /// A neighbour answered the last word.
    pub(crate) fn heard_last_word(&mut self, link: LinkId) {
        if let Some(waiting) = &mut self.last_word {
            waiting.retain(|&l| l != link);
        }
    }

    /// Lets every client still here go, told why.
    fn let_clients_go(&mut self, out: &mut Outbox) {
        let clients: Vec<LinkId> = self.chat.clients.keys().copied().collect();
        for l in clients {
            self.let_client_go(l, "server shutting down", out);
        }
    }

    /// Closes a client connection with the reason, and the user's session
    /// with it.
    pub(crate) fn let_client_go(&mut self, link: LinkId, why: &str, out: &mut Outbox) {
        if !self.cfg.ablations.no_shutdown_reason {
            out.send(link, super::chat::frame("ERROR", &[why]));
        }
        self.local_quit(link, why, out);
        out.push(Output::Close { link });
        out.note(Note::LinkDown {
            link,
            reason: CloseReason::Operator,
        });
    }

    /// Closes every link gracefully and stops.
    pub(crate) fn close_down<R: CryptoRngCore>(
        &mut self,
        now: Instant,
        rng: &mut R,
        out: &mut Outbox,
    ) {
        // Stopped first: a server on its way out adopts no routes and
        // schedules no reconnects while its links close.
        self.stopped = true;
        let ids: Vec<LinkId> = self.links.keys().copied().collect();
        for link in ids {
            if matches!(self.links[&link].phase, Phase::Registered) {
                out.send(link, |b| {
                    Msg::Sclose {
                        reason: SHUTDOWN_REASON,
                    }
                    .encode(b)
                });
            }
            self.drop_link(now, link, CloseReason::Operator, true, rng, out);
        }
        self.stopped = true;
        self.deadline = None;
    }
}
