//! The four-step server handshake.
//!
//! 1. the connecting side sends LINK with the identity it claims;
//! 2. the target seals a random challenge and its own public key to the
//!    key the registry holds for that identity (CHALLENGE);
//! 3. the connecting side opens it, checks the target's key against the
//!    registry, and seals the challenge plus a counter-challenge to the
//!    target's registered key (RESPONSE);
//! 4. the target checks the challenge and answers the counter-challenge in
//!    clear (VERIFIED). Only a peer that passed steps 3 or 4 is registered;
//!    no table changes before that.
//!
//! Step 4 is our addition to the seed protocol: without it the connecting
//! side never learns that the target holds its private key.

use rand_core::CryptoRngCore;

use super::{Known, Link, NewPath, Phase, Server, Sid};
use crate::identity::{valid_server_name, LinkTag};
use crate::message::Msg;
use crate::outbox::{CloseReason, LinkId, Note, Outbox};
use crate::time::Instant;
use crate::wire;

const CHALLENGE_LEN: usize = 32;

/// What one side remembers between handshake steps.
#[derive(Clone, Debug)]
pub(crate) struct Pending {
    challenge: [u8; CHALLENGE_LEN],
    peer_incarnation: u64,
    /// The peer opened with NEWLINK: it wants a sync, not a place.
    newcomer: bool,
}

impl Server {
    pub(crate) fn on_connected(&mut self, now: Instant, link: LinkId, out: &mut Outbox) {
        let stamp = self.next_stamp(now);
        let Some(l) = self.links.get_mut(&link) else {
            return;
        };
        if !matches!(l.phase, Phase::Dialing) {
            return;
        }
        l.phase = Phase::AwaitChallenge;
        l.opened_at = now;
        l.last_rx = now;
        l.stamp = stamp;
        l.peer = l.target.clone();
        let (name, sid, incarnation) = (
            self.me.name.clone(),
            self.me.sid.clone(),
            self.me.incarnation,
        );
        let (name, sid) = (&*name, &*sid);
        let syncing = self.is_syncing();
        out.send(link, |b| {
            if syncing {
                Msg::NewLink {
                    name,
                    sid,
                    incarnation,
                    stamp,
                }
                .encode(b)
            } else {
                Msg::Link {
                    name,
                    sid,
                    incarnation,
                    stamp,
                }
                .encode(b)
            }
        });
        out.note(Note::HandshakeStarted { link });
    }

    /// A stamp for a new link: later than anything this server has seen.
    fn next_stamp(&mut self, now: Instant) -> u64 {
        self.lamport = (self.lamport + 1).max(now.as_millis());
        self.lamport
    }

    pub(crate) fn on_handshake<R: CryptoRngCore>(
        &mut self,
        now: Instant,
        link: LinkId,
        msg: Msg<'_>,
        rng: &mut R,
        out: &mut Outbox,
    ) {
        let phase = self.links[&link].phase.clone();
        match (phase, msg) {
            (
                Phase::AwaitLink,
                Msg::Link {
                    name,
                    sid,
                    incarnation,
                    stamp,
                },
            ) => self.on_link(now, link, (name, sid, incarnation, stamp), false, rng, out),
            (
                Phase::AwaitLink,
                Msg::NewLink {
                    name,
                    sid,
                    incarnation,
                    stamp,
                },
            ) => self.on_link(now, link, (name, sid, incarnation, stamp), true, rng, out),
            (Phase::AwaitChallenge, Msg::Challenge { sealed }) => {
                self.on_challenge(now, link, sealed, rng, out)
            }
            (Phase::AwaitResponse(p), Msg::Response { sealed }) => {
                let mut buf = Vec::new();
                let opened = if wire::parse_hex(sealed, &mut buf) {
                    self.me.keys.open(&buf)
                } else {
                    None
                };
                match opened {
                    Some(plain)
                        if plain.len() == 2 * CHALLENGE_LEN
                            && plain[..CHALLENGE_LEN] == p.challenge =>
                    {
                        let proof = &plain[CHALLENGE_LEN..];
                        out.send(link, |b| {
                            let mut e = wire::Encoder::begin(b, "VERIFIED");
                            e.arg_hex(proof);
                            e.finish()
                        });
                        self.register(now, link, &p, rng, out);
                    }
                    _ => self.refuse(now, link, "challenge not answered", rng, out),
                }
            }
            (Phase::AwaitVerified(p), Msg::Verified { proof }) => {
                let mut buf = Vec::new();
                if wire::parse_hex(proof, &mut buf) && buf[..] == p.challenge[..] {
                    self.register(now, link, &p, rng, out);
                } else {
                    self.refuse(now, link, "target failed the counter-challenge", rng, out);
                }
            }
            _ => self.protocol_error(now, link, "unexpected handshake message", rng, out),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_link<R: CryptoRngCore>(
        &mut self,
        now: Instant,
        link: LinkId,
        (name, sid, incarnation, stamp): (&str, &str, u64, u64),
        newcomer: bool,
        rng: &mut R,
        out: &mut Outbox,
    ) {
        let registration = self.registry.get(name).cloned();
        let Some(reg) = registration
            .filter(|r| valid_server_name(name) && name != &*self.me.name && &*r.sid == sid)
        else {
            return self.refuse(now, link, "not an admitted server", rng, out);
        };
        self.lamport = self.lamport.max(stamp);
        // Deliberately broken: trust the claim before it is proven (the
        // registered SID, so a valid one).
        let trusted = match self.cfg.ablations.no_auth_before_state {
            true => Sid::new(sid),
            false => None,
        };
        if let Some(sid) = trusted {
            let name: std::sync::Arc<str> = name.into();
            let id = self.known.ids().intern(&name);
            self.set_known(
                id,
                Known {
                    sid,
                    incarnation,
                    hops: 1,
                    uplink: self.known.me(),
                    via: link,
                    path: NewPath::Whole(Default::default()),
                },
            );
            out.note(Note::ServerAdded { name, via: link });
        }
        let mut challenge = [0u8; CHALLENGE_LEN];
        rng.fill_bytes(&mut challenge);
        let mut plain = Vec::with_capacity(2 * CHALLENGE_LEN);
        plain.extend_from_slice(&challenge);
        plain.extend_from_slice(&self.me.keys.public().0);
        let sealed = reg.key.seal(rng, &plain);
        out.send(link, |b| {
            let mut e = wire::Encoder::begin(b, "CHALLENGE");
            e.arg_hex(&sealed);
            e.finish()
        });
        let l = self.links.get_mut(&link).expect("link exists");
        l.peer = Some(name.into());
        l.stamp = stamp;
        l.phase = Phase::AwaitResponse(Box::new(Pending {
            challenge,
            peer_incarnation: incarnation,
            newcomer,
        }));
    }

    fn on_challenge<R: CryptoRngCore>(
        &mut self,
        now: Instant,
        link: LinkId,
        sealed: &str,
        rng: &mut R,
        out: &mut Outbox,
    ) {
        let target = self.links[&link].target.clone().expect("outbound link");
        let Some(reg) = self.registry.get(&target).cloned() else {
            return self.refuse(now, link, "target not admitted", rng, out);
        };
        let mut buf = Vec::new();
        let plain = if wire::parse_hex(sealed, &mut buf) {
            self.me.keys.open(&buf)
        } else {
            None
        };
        let Some(plain) = plain.filter(|p| p.len() == 2 * CHALLENGE_LEN) else {
            return self.refuse(now, link, "challenge unreadable", rng, out);
        };
        if plain[CHALLENGE_LEN..] != reg.key.0[..] {
            return self.refuse(
                now,
                link,
                "target key does not match the registry",
                rng,
                out,
            );
        }
        let mut counter = [0u8; CHALLENGE_LEN];
        rng.fill_bytes(&mut counter);
        let mut reply = Vec::with_capacity(2 * CHALLENGE_LEN);
        reply.extend_from_slice(&plain[..CHALLENGE_LEN]);
        reply.extend_from_slice(&counter);
        let sealed = reg.key.seal(rng, &reply);
        out.send(link, |b| {
            let mut e = wire::Encoder::begin(b, "RESPONSE");
            e.arg_hex(&sealed);
            e.finish()
        });
        let l = self.links.get_mut(&link).expect("link exists");
        l.phase = Phase::AwaitVerified(Box::new(Pending {
            challenge: counter,
            // The connecting side learns the incarnation from the burst.
            peer_incarnation: 0,
            newcomer: false,
        }));
    }

    fn refuse<R: CryptoRngCore>(
        &mut self,
        now: Instant,
        link: LinkId,
        why: &str,
        rng: &mut R,
        out: &mut Outbox,
    ) {
        self.error_and_close(now, link, why, CloseReason::HandshakeFailed, rng, out);
    }

    /// The peer is proven: check the link against the tree, then burst.
    fn register<R: CryptoRngCore>(
        &mut self,
        now: Instant,
        link: LinkId,
        p: &Pending,
        rng: &mut R,
        out: &mut Outbox,
    ) {
        if p.newcomer {
            return self.serve_sync(now, link, out);
        }
        if self.is_syncing() && self.links[&link].outbound {
            return self.start_fetch(now, link, out);
        }
        let l: &mut Link = self.links.get_mut(&link).expect("link exists");
        let peer = l.peer.clone().expect("peer known after LINK");
        let initiator = if l.outbound {
            self.me.name.clone()
        } else {
            peer.clone()
        };
        let tag = LinkTag::new(l.stamp, &self.me.name, &peer, &initiator);
        l.phase = Phase::Registered;
        l.tag = Some(tag);
        l.last_rx = now;
        self.stats.links_registered += 1;
        out.note(Note::LinkRegistered {
            link,
            peer: peer.clone(),
        });
        if let Some(t) = self.auto.iter_mut().find(|t| t.name == peer) {
            t.connected(self.cfg.reconnect_min);
        }
        if let Some(k) = self.known.get(&peer).map(|k| k.was()) {
            let old = self.links.get(&k.via);
            let old_stale =
                old.is_some_and(|o| now.saturating_since(o.last_rx) >= self.cfg.ping_interval);
            let old_tag = old.and_then(|o| o.tag.clone());
            let new_tag = self.links[&link].tag.clone();
            if k.via == link {
                // Only the auth ablation records a peer this early.
            } else if p.peer_incarnation > k.incarnation {
                // A restarted peer: whatever we knew of it is a ghost.
                self.forget_ghost(now, &peer, k, Some(link), rng, out);
            } else if k.hops == 1 && (old_stale || ranks_first(&new_tag, &old_tag)) {
                // The peer dialled again (its old link died on its side), or
                // both ends dialled at once and this link ranks first.
                self.drop_link(now, k.via, CloseReason::Superseded, true, rng, out);
            } else if !self.cfg.ablations.no_loop_check {
                self.stats.loops_broken += 1;
                let reason = CloseReason::AlreadyRegistered;
                return self.error_and_close(now, link, "Already Registered", reason, rng, out);
            }
        }
        self.joined(&peer, out);
        self.send_burst(link, out);
        self.arm(now + self.cfg.ping_interval);
    }
}

/// Whether a new link to a neighbour ranks before the old one (both ends
/// dialled at once: the smaller tag is kept, at both ends).
fn ranks_first(new: &Option<LinkTag>, old: &Option<LinkTag>) -> bool {
    old > new
}
