//! Getting back to a server after losing one.
//!
//! A client that loses its server (the link closed, the server fell
//! silent, a connection was refused or timed out, a registration was given
//! up, or a KILL) dials again by itself, unless it quit. It walks a
//! *rotation*: the server of its last `connect` command, then the servers
//! of its configured list. A round is one pass over the rotation; attempts
//! within a round are spaced by a jittered `min`, and each round that ends
//! without a registration doubles the wait before the next one, up to
//! `max` (so a client whose every server is out of reach dials each of
//! them about once per `max`, never in a tight loop). After a session that
//! was registered, the first attempt goes to the same server again (a cut
//! link or a brief stall says nothing against it); a session ended by a
//! KILL keeps and doubles the current backoff instead, so that two clients
//! killed over and over by their own collisions slow down.
//!
//! The jitter comes from a seed the caller puts in the configuration (the
//! core owns no generator and reads no entropy). The rooms the client had
//! joined are joined again once it is welcomed, and each room's stream is
//! resumed where delivery stopped (see `rooms.rs`).

use std::sync::Arc;

use super::Client;
use crate::outbox::{LinkId, Outbox, Output};
use crate::time::{Duration, Instant};

/// How a client reconnects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reconnect {
    /// The wait between two attempts of a round, and the first backoff.
    pub min: Duration,
    /// The longest wait between two rounds.
    pub max: Duration,
    /// Servers to try after the one the client was last told to connect to.
    pub servers: Vec<Arc<str>>,
    /// Seeds the jitter of the waits.
    pub seed: u64,
}

/// Where the client is in its rotation, and when it dials next.
#[derive(Clone, Debug, Default)]
#[repr(C)]
pub(crate) struct Redial {
    /// When to dial next, if a dial is due: first, as the client's
    /// `poll_timeout` reads it (see `Client`).
    pub(crate) at: Option<Instant>,
    /// The server of the last connect command: the rotation starts there.
    home: Option<Arc<str>>,
    /// Index in the rotation of the server dialled last.
    pos: usize,
    /// Failed attempts in the current round.
    failed: usize,
    /// The wait before the next round.
    backoff: Duration,
    /// Attempts made since the client was created.
    pub(crate) attempts: u64,
    rng: u64,
}

impl Redial {
    pub(crate) fn new(cfg: Option<&Reconnect>) -> Self {
        Redial {
            backoff: cfg.map_or(Duration::ZERO, |c| c.min),
            rng: cfg.map_or(0, |c| c.seed),
            ..Default::default()
        }
    }

    /// splitmix64: a tiny, well-mixed generator, enough for jitter.
    fn next_u64(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [d/2, d], like the servers' autoconnect: spread out,
    /// never sooner than half the wait.
    fn jitter(&mut self, d: Duration) -> Duration {
        let half = d.as_nanos() / 2;
        if half == 0 {
            return d;
        }
        Duration::from_nanos(half + self.next_u64() % (half + 1))
    }
}

impl Client {
    /// The servers this client dials, in order: the server of its last
    /// connect command, then its configured list.
    pub fn targets(&self) -> Vec<Arc<str>> {
        let mut v: Vec<Arc<str>> = self.redial.home.iter().cloned().collect();
        if let Some(rc) = &self.cfg.reconnect {
            for s in &rc.servers {
                if !v.contains(s) {
                    v.push(s.clone());
                }
            }
        }
        v
    }

    /// When the client will dial again, if it is waiting to.
    pub fn reconnect_at(&self) -> Option<Instant> {
        self.redial.at
    }

    /// Attempts to reconnect made so far (explicit connects not counted).
    pub fn reconnects(&self) -> u64 {
        self.redial.attempts
    }

    /// An explicit connect command: the rotation starts over at `server`.
    pub(crate) fn redial_home(&mut self, server: &Arc<str>) {
        self.redial.home = Some(server.clone());
        self.redial.pos = 0;
        self.redial.failed = 0;
        self.redial.at = None;
        if let Some(rc) = &self.cfg.reconnect {
            self.redial.backoff = rc.min;
        }
    }

    /// The server link was lost (or never came up). `registered`: the
    /// session had been welcomed; `killed`: it ended by a KILL.
    pub(crate) fn schedule_redial(&mut self, now: Instant, registered: bool, killed: bool) {
        let Some(rc) = self.cfg.reconnect.clone() else {
            return;
        };
        let n = self.targets().len();
        if n == 0 {
            return;
        }
        let r = &mut self.redial;
        let double = |d: Duration| Duration::from_nanos(d.as_nanos().saturating_mul(2)).min(rc.max);
        let wait = if killed {
            r.failed = 0;
            let w = r.jitter(r.backoff.max(rc.min));
            r.backoff = double(r.backoff.max(rc.min));
            w
        } else if registered {
            // Success resets the backoff; the same server is tried first.
            r.failed = 0;
            r.backoff = rc.min;
            r.jitter(rc.min)
        } else {
            r.failed += 1;
            r.pos = (r.pos + 1) % n;
            if r.failed >= n {
                // A whole round failed: wait longer before the next.
                r.failed = 0;
                let w = r.jitter(r.backoff.max(rc.min));
                r.backoff = double(r.backoff.max(rc.min));
                w
            } else {
                r.jitter(rc.min)
            }
        };
        r.at = Some(now + wait);
    }

    /// Dials the next server of the rotation if the wait is over.
    pub(crate) fn redial_if_due(&mut self, now: Instant, out: &mut Outbox) {
        if self.redial.at.is_none_or(|t| t > now) {
            return;
        }
        self.redial.at = None;
        let targets = self.targets();
        if targets.is_empty() {
            return;
        }
        let pos = self.redial.pos % targets.len();
        self.redial.pos = pos;
        self.redial.attempts += 1;
        self.dial(now, targets[pos].clone(), out);
    }

    /// Opens a connection to `server` and starts a session there.
    pub(crate) fn dial(&mut self, now: Instant, server: Arc<str>, out: &mut Outbox) -> LinkId {
        let link = self.new_link();
        self.server = Some((link, server.clone()));
        self.state = super::ClientState::Connecting;
        // Questions of an earlier session are never answered.
        self.asking.clear();
        self.uid = None;
        self.nick = self.wanted_nick.clone();
        self.nick_tries = 0;
        self.fell_back = false;
        self.last_rx = now;
        out.push(Output::Connect { link, to: server });
        link
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_jitter_generator_is_splitmix64() {
        // The published first outputs of splitmix64 seeded with 0: the
        // client's jitter is reproducible from its seed on any machine.
        let mut r = Redial::new(None);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }
}
