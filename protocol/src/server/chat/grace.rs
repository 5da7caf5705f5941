//! Waiting for the tree to re-form after a graceful shutdown.
//!
//! When a neighbour closes with SCLOSE "shutting down", the servers that
//! reached each other through it are apart only until their autoconnect
//! targets link them again, usually well under a second. Electing new
//! sequencers at once (as after a crash) would fork every room whose
//! sequencer is on the other side: two epochs, and the numbers the old
//! one gave out while apart passed over by the members that adopt the
//! new one; and under the `home` ordering, which elects nobody, a request
//! would be refused for want of a home that is back half a second later.
//! So for `relink_grace` such rooms keep their stream, and a
//! member's request for a number waits here instead of being refused. A
//! server arriving may bring the sequencer back in reach (the held
//! requests go out again); when the grace ends, or when a crash or cut
//! forces an election anyway, the rooms still cut off elect as before
//! (under `home`, none) and every held request is answered.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::Dest;
use crate::outbox::Outbox;
use crate::server::Server;
use crate::time::Instant;

#[derive(Clone, Debug, Default)]
pub(crate) struct Grace {
    /// When the rooms still cut off elect; `None` until the end of the
    /// input that started (or extended) the grace.
    until: Option<Instant>,
    /// An election happened: the grace is over once the held requests
    /// are answered.
    over: bool,
    /// A server arrived: held requests may find their sequencer.
    pub release: bool,
    /// Requests for numbers (room key, UID) waiting for the sequencer.
    held: BTreeSet<(String, Arc<str>)>,
}

impl Server {
    /// Servers left after a graceful shutdown: start (or extend) the grace
    /// instead of electing. False when there is none to give.
    pub(crate) fn start_grace(&mut self) -> bool {
        if self.cfg.relink_grace == crate::time::Duration::ZERO {
            return false;
        }
        let g = self.chat.grace.get_or_insert_with(Grace::default);
        g.until = None;
        true
    }

    /// A request for a number whose sequencer is out of reach: held while
    /// the grace lasts (true), else the caller refuses it.
    pub(crate) fn hold_request(&mut self, key: &str, uid: &str) -> bool {
        match &mut self.chat.grace {
            Some(g) if !g.over => {
                g.held.insert((key.to_string(), uid.into()));
                true
            }
            _ => false,
        }
    }

    /// Servers `sids` left our view. A local member's request for a
    /// number sent toward a sequencer among them may be lost: a server
    /// shutting down passes a request on in its last moments and closes
    /// before the answer comes back through it, or a request reaches it
    /// after it closed, and only the client's retry (`send_timeout`, a
    /// few tries) would ask again (answer-lost-at-a-graceful-close.toml,
    /// swarm-one-second seed 31810). After a graceful shutdown (`grace`)
    /// such a request waits with those asked during the grace, and goes
    /// out again when the tree brings a server back. A request that was
    /// not lost is answered twice; the member takes the first number, and
    /// the sequencer skips the other after `seq_hold`. After a crash or a
    /// cut, they are left to the client's retry, as before.
    pub(crate) fn reask_lost(&mut self, sids: &[Arc<str>], grace: bool) {
        if self.chat.asked.is_empty() {
            return;
        }
        // Taken out whatever happens to them next (the held set is
        // ordered, so the order found here changes nothing).
        let mut lost: Vec<(String, Arc<str>)> = Vec::new();
        self.chat.asked.retain(|uid, list| {
            list.retain(|(key, sid)| {
                let gone = sids.contains(sid);
                if gone {
                    lost.push((key.clone(), uid.clone()));
                }
                !gone
            });
            !list.is_empty()
        });
        for (key, uid) in lost {
            let member = self.chat.users.get(&uid).is_some_and(|u| u.local)
                && (self.chat.rooms.get(&key)).is_some_and(|r| r.members.contains_key(&uid));
            if grace && member {
                self.hold_request(&key, &uid);
            }
        }
    }

    /// An election ran: whatever the grace waited for is decided.
    pub(crate) fn end_grace(&mut self) {
        if let Some(g) = &mut self.chat.grace {
            g.over = true;
        }
    }

    pub(crate) fn grace_deadline(&self) -> Option<Instant> {
        self.chat.grace.as_ref().and_then(|g| g.until)
    }

    /// The grace's deadline passed: the rooms still cut off elect.
    pub(crate) fn grace_timeout(&mut self, now: Instant, out: &mut Outbox) {
        if self.grace_deadline().is_some_and(|t| t <= now) {
            self.reelect(out);
        }
    }

    /// At the end of every input while a grace exists: arm its deadline,
    /// and send out again the held requests that may now be answered.
    pub(crate) fn grace_after(&mut self, now: Instant, out: &mut Outbox) {
        let grace = self.cfg.relink_grace;
        let Some(g) = &mut self.chat.grace else {
            return;
        };
        if g.until.is_none() && !g.over {
            let at = now + grace;
            g.until = Some(at);
            self.arm(at);
        }
        let g = self.chat.grace.as_mut().expect("grace");
        if !(g.release || g.over) {
            return;
        }
        g.release = false;
        let held = std::mem::take(&mut g.held);
        if g.over {
            self.chat.grace = None;
        }
        for (key, uid) in held {
            let Some(room) = self.chat.rooms.get(&key) else {
                continue;
            };
            let seq = room.stream.seq.clone();
            if self.chat.grace.is_some() && self.dest_of_sequencer(&key, &seq) == Dest::Nowhere {
                self.hold_request(&key, &uid);
                continue;
            }
            self.request_number(now, &key, &uid, out);
        }
    }
}
