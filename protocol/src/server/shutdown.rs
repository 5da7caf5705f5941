//! Graceful shutdown: move every client away by seamless redirect, then
//! close the links.
//!
//! The server stops taking new clients, sends each local user to a server
//! of its component chosen by load (the fewest users living there, ties by
//! name, counting the users it is sending; so they spread instead of
//! piling onto one), waits until every request has ended or
//! `redirect_timeout` has passed, tells whoever is left "server shutting
//! down" (with a QUIT to the network), then closes its links with SCLOSE.

use std::collections::BTreeMap;
use std::sync::Arc;

use rand_core::CryptoRngCore;

use super::{CloseReason, LinkId, Phase, Server};
use crate::message::Msg;
use crate::outbox::{Note, Outbox, Output};
use crate::time::Instant;

impl Server {
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
        // Load of every other server we can reach: users living there.
        let mut load: BTreeMap<Arc<str>, (usize, Arc<str>)> = self
            .known
            .iter()
            .map(|(name, k)| (k.sid.clone(), (0, name.clone())))
            .collect();
        let mut mine: Vec<Arc<str>> = Vec::new();
        for (uid, u) in &self.chat.users {
            if u.local {
                mine.push(uid.clone());
            } else if let Some(l) = load.get_mut(&u.sid) {
                l.0 += 1;
            }
        }
        for uid in mine {
            let Some((sid, (_, name))) = load
                .iter()
                .min_by(|a, b| (a.1 .0, &a.1 .1).cmp(&(b.1 .0, &b.1 .1)))
                .map(|(s, l)| (s.clone(), l.clone()))
            else {
                break; // alone: nowhere to send anyone
            };
            if self.start_redirect(now, &uid, &name, rng, out).is_ok() {
                load.get_mut(&sid).expect("listed").0 += 1;
            }
        }
        self.progress_shutdown(now, rng, out);
    }

    /// Finishes a shutdown once no redirect is pending or time is up.
    pub(crate) fn progress_shutdown<R: CryptoRngCore>(
        &mut self,
        now: Instant,
        rng: &mut R,
        out: &mut Outbox,
    ) {
        let Some(until) = self.draining else {
            return;
        };
        if !self.chat.moves_out.is_empty() && now < until {
            return;
        }
        self.draining = None;
        let why = "server shutting down";
        let clients: Vec<LinkId> = self.chat.clients.keys().copied().collect();
        for l in clients {
            self.let_client_go(l, why, out);
        }
        self.close_down(now, rng, out);
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
                        reason: "shutting down",
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
