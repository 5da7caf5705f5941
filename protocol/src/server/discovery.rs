//! Discovery: finding peers by datagram instead of a configured `connect`.
//!
//! A *seeker* with no registered link multicasts `HELLO <name> <ip> <port>`
//! every `period` (jittered to between half and all of it). Every server
//! that listens on the group answers a HELLO from a registered name with a
//! unicast `WELCOME <name> <ip> <port> <seeking>`, the last field saying
//! whether the responder is itself a seeker without a link. Neither message
//! changes any table: a HELLO only makes its receiver answer, and a WELCOME
//! only lands in the seeker's map of responders, keyed by name. A lost
//! datagram is made up for by the next period; a duplicate finds the same
//! entry again. That is what makes loss and duplication harmless.
//!
//! At each period the seeker, if it is not already dialling, picks one
//! responder from the WELCOMEs it holds and dials it by the ordinary
//! handshake; only the handshake creates a link. The pick:
//!
//! * only servers the registry knows (an unknown one could never pass the
//!   handshake, and dialling it would tell it we exist), and none already
//!   in our view;
//! * a responder that is not seeking comes first, lowest SID first: two
//!   seekers that hear the same network then dial the same server of it
//!   rather than each other, so they join the tree instead of forming an
//!   island of two that no longer looks;
//! * a responder that is seeking too is dialled only if its SID is lower
//!   than ours: of two lone seekers, exactly one dials the other, so the
//!   pair never opens two connections at once.
//!
//! The SID comes from the registry, never from the datagram, so a forged
//! WELCOME cannot jump the queue.
//!
//! A seeker stops once a link *it dialled* is registered, and starts again
//! (after a jittered period, so servers cut off together do not all HELLO
//! at one instant) once it has lost it. A link another server dialled to
//! it does not end the search: that dialler may be a seeker that heard
//! only this one (the network's WELCOMEs lost), and if both stopped, the
//! pair would stay an island beside the network for ever. The one dialled
//! keeps looking and joins the network for both; the dialler, which has
//! its link, stops, so only one of them dials out and no cycle is made.
//! The price: a seeker that a configured `connect` dials keeps sending a
//! HELLO every period, to which everyone it hears is already known.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use rand_core::CryptoRngCore;

use super::{jitter, Phase, Server};
use crate::outbox::{LinkId, Note, Outbox};
use crate::time::{Duration, Instant};
use crate::wire::{self, Frame};

/// How one server takes part in discovery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiscoveryConfig {
    /// The address and port it advertises; answers to its HELLO go there.
    pub addr: Arc<str>,
    pub port: u16,
    /// Looks for peers by HELLO while it has no registered link.
    pub seeker: bool,
    /// The HELLO interval while looking.
    pub period: Duration,
}

/// Where a datagram goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatagramTo {
    /// The discovery multicast group: every server listening on it.
    Group,
    /// One address and port.
    Unicast { addr: Arc<str>, port: u16 },
}

/// A datagram for the environment to send (see [`Server::poll_datagram`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Datagram {
    pub to: DatagramTo,
    pub bytes: Vec<u8>,
}

/// Counters of the discovery procedure (they start over at a restart).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiscoveryStats {
    pub hello_sent: u64,
    pub welcome_sent: u64,
    /// Links dialled because of a WELCOME.
    pub dials: u64,
}

/// A responder as the seeker heard it.
#[derive(Clone, Debug)]
struct Heard {
    seeking: bool,
    at: Instant,
}

#[derive(Debug)]
pub(crate) struct Discovery {
    cfg: DiscoveryConfig,
    /// Sending HELLOs: a seeker with no registered link.
    looking: bool,
    next_hello: Option<Instant>,
    heard: BTreeMap<Arc<str>, Heard>,
    /// The link dialled from a WELCOME, until it registers or fails.
    dialling: Option<LinkId>,
    outgoing: VecDeque<Datagram>,
    stats: DiscoveryStats,
}

impl Discovery {
    pub(crate) fn new(cfg: DiscoveryConfig) -> Self {
        Discovery {
            cfg,
            looking: false,
            next_hello: None,
            heard: BTreeMap::new(),
            dialling: None,
            outgoing: VecDeque::new(),
            stats: DiscoveryStats::default(),
        }
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.next_hello.filter(|_| self.looking)
    }
}

impl Server {
    /// Takes part in discovery: listens on the group and answers HELLOs,
    /// and, for a seeker, looks for peers while it has no link. Call before
    /// [`super::Input::Start`].
    pub fn set_discovery(&mut self, cfg: DiscoveryConfig) {
        self.discovery = Some(Box::new(Discovery::new(cfg)));
    }

    /// The next datagram to send, if any; call until `None` after every
    /// [`Server::handle`].
    pub fn poll_datagram(&mut self) -> Option<Datagram> {
        self.discovery.as_mut()?.outgoing.pop_front()
    }

    pub fn discovery_stats(&self) -> DiscoveryStats {
        self.discovery.as_ref().map(|d| d.stats).unwrap_or_default()
    }

    /// Whether it is sending HELLOs now.
    pub fn is_seeking(&self) -> bool {
        self.discovery.as_ref().is_some_and(|d| d.looking)
    }

    /// Whether it takes part in discovery as a seeker.
    pub fn is_seeker(&self) -> bool {
        self.discovery.as_ref().is_some_and(|d| d.cfg.seeker)
    }

    /// Whether a link this server dialled is registered: what ends a
    /// seeker's search (see the module docs for why inbound ones do not).
    fn has_registered_uplink(&self) -> bool {
        let any = self.cfg.ablations.no_discovery_uplink;
        self.links
            .values()
            .any(|l| (l.outbound || any) && matches!(l.phase, Phase::Registered))
    }

    /// Brings `looking` in line with the links, after every input: a
    /// registered link it dialled ends the search, losing it starts it.
    pub(crate) fn discovery_after<R: CryptoRngCore>(&mut self, now: Instant, rng: &mut R) {
        let linked = self.has_registered_uplink();
        let idle = self.stopped || self.draining.is_some() || self.joining.is_some();
        let Some(d) = self.discovery.as_mut() else {
            return;
        };
        if d.dialling.is_some_and(|l| !self.links.contains_key(&l)) {
            // The dial failed or its link went down: pick again.
            d.dialling = None;
        }
        if linked || idle || !d.cfg.seeker {
            if linked {
                d.dialling = None;
            }
            d.looking = false;
            d.heard.clear();
            return;
        }
        if !d.looking {
            d.looking = true;
            let wait = jitter(rng, d.cfg.period);
            d.next_hello = Some(now + wait);
            self.arm(now + wait);
        }
    }

    /// At boot the first HELLO goes out within 100 ms, jittered like the
    /// first autoconnect attempt, so servers booted together spread.
    pub(crate) fn discovery_start<R: CryptoRngCore>(&mut self, now: Instant, rng: &mut R) {
        let Some(d) = self.discovery.as_mut() else {
            return;
        };
        d.heard.clear();
        d.dialling = None;
        d.looking = d.cfg.seeker;
        if d.looking {
            let at = now + jitter(rng, Duration::from_millis(100));
            d.next_hello = Some(at);
            self.arm(at);
        }
    }

    /// A period has passed while looking: dial the best responder heard,
    /// or else HELLO again.
    pub(crate) fn discovery_timeout<R: CryptoRngCore>(
        &mut self,
        now: Instant,
        rng: &mut R,
        out: &mut Outbox,
    ) {
        let Some(d) = self.discovery.as_mut() else {
            return;
        };
        if !d.looking || d.next_hello.is_none_or(|t| t > now) {
            return;
        }
        let period = d.cfg.period;
        d.next_hello = Some(now + jitter(rng, period));
        if d.dialling.is_some() {
            return;
        }
        if let Some(peer) = self.pick_responder(now) {
            let link = self.dial(now, peer.clone(), out, rng);
            let d = self.discovery.as_mut().expect("discovery is on");
            d.dialling = Some(link);
            d.stats.dials += 1;
            // A fresh round of WELCOMEs decides the next pick, should this
            // dial fail: a responder heard now may be gone by then.
            d.heard.clear();
            out.note(Note::DiscoveryDial { link, peer });
            return;
        }
        self.send_hello();
    }

    fn send_hello(&mut self) {
        let name = self.me.name.clone();
        let d = self.discovery.as_mut().expect("discovery is on");
        let mut bytes = Vec::new();
        let port = d.cfg.port.to_string();
        if wire::encode(&mut bytes, "HELLO", &[&name, &d.cfg.addr, &port]).is_ok() {
            d.stats.hello_sent += 1;
            d.outgoing.push_back(Datagram {
                to: DatagramTo::Group,
                bytes,
            });
        }
    }

    /// The responder to dial, by the rule in the module docs.
    fn pick_responder(&self, now: Instant) -> Option<Arc<str>> {
        let d = self.discovery.as_ref()?;
        let any = self.cfg.ablations.no_discovery_registry;
        // Held for three periods at most: a responder that stopped
        // answering is not dialled on the strength of an old WELCOME.
        let fresh = Duration::from_nanos(d.cfg.period.as_nanos().saturating_mul(3));
        // Ranked by (seeking, SID): see the module docs.
        type Rank = (bool, Arc<str>);
        let mut best: Option<(Rank, &Arc<str>)> = None;
        for (name, h) in &d.heard {
            if now.saturating_since(h.at) > fresh || self.known.contains(name) {
                continue;
            }
            // Already dialling it, or handshaking with it (an autoconnect
            // of its own): a second connection would only race the first.
            let busy = self.links.values().any(|l| {
                l.target.as_deref() == Some(&**name) || l.peer.as_deref() == Some(&**name)
            });
            if busy {
                continue;
            }
            let sid: Arc<str> = match self.registry.get(name) {
                Some(r) => r.sid.clone(),
                // Ablation only: an unknown responder, ranked by its name.
                None if any => name.clone(),
                None => continue,
            };
            if h.seeking && *sid >= *self.me.sid {
                continue;
            }
            let key = (h.seeking, sid);
            if best.as_ref().is_none_or(|(k, _)| key < *k) {
                best = Some((key, name));
            }
        }
        best.map(|(_, n)| n.clone())
    }

    /// One datagram arrived from the group or addressed to us.
    pub(crate) fn on_datagram(&mut self, now: Instant, bytes: &[u8]) {
        if self.discovery.is_none() || self.stopped {
            return;
        }
        let mut f = Frame::new();
        if wire::decode_exact(bytes, &mut f).is_err() {
            return;
        }
        match f.command() {
            "HELLO" => {
                let Some([name, addr, port]) = f.args_exact::<3>() else {
                    return;
                };
                let Ok(port) = port.parse::<u16>() else {
                    return;
                };
                // Not while joining or draining: a newcomer refuses
                // connections until it has synced, and a server shutting
                // down is about to close what it has.
                let busy = self.joining.is_some() || self.draining.is_some();
                if name == &*self.me.name || busy || self.registry.get(name).is_none() {
                    return;
                }
                let seeking = self.is_seeking();
                let me = self.me.name.clone();
                let d = self.discovery.as_mut().expect("discovery is on");
                let mut out = Vec::new();
                let (my_port, flag) = (d.cfg.port.to_string(), if seeking { "1" } else { "0" });
                if wire::encode(&mut out, "WELCOME", &[&me, &d.cfg.addr, &my_port, flag]).is_ok() {
                    d.stats.welcome_sent += 1;
                    d.outgoing.push_back(Datagram {
                        to: DatagramTo::Unicast {
                            addr: addr.into(),
                            port,
                        },
                        bytes: out,
                    });
                }
            }
            "WELCOME" => {
                let Some([name, _addr, port, seeking]) = f.args_exact::<4>() else {
                    return;
                };
                if port.parse::<u16>().is_err() || name == &*self.me.name {
                    return;
                }
                let d = self.discovery.as_mut().expect("discovery is on");
                if !d.looking {
                    return;
                }
                d.heard.insert(
                    name.into(),
                    Heard {
                        seeking: seeking == "1",
                        at: now,
                    },
                );
            }
            _ => {}
        }
    }
}
