//! Adding a server: the registration travels over the tree, and the
//! newcomer syncs once through a member before it joins.
//!
//! 1. The operator registers the newcomer's name, SID and key at a member
//!    (its sponsor), which floods `SREG,name,sid,key` over the tree; every
//!    server adds it to its registry. Registrations made at run time also
//!    go into every burst, so a part of the network cut off during the
//!    flood learns them on the heal. A server refuses (at the handshake) a
//!    peer it has not heard of yet.
//! 2. The newcomer starts knowing the registry as the operator gave it
//!    (itself and the members) and the address of its sponsor.
//! 3. and 4. It dials the sponsor and shakes hands as usual; it is
//!    *joining*, and refuses every incoming connection meanwhile.
//! 5. The sponsor bursts its whole database on the link (servers, users,
//!    rooms, streams, and the run-time registrations).
//! 6. When the burst is complete (EOB), the newcomer keeps what outlives
//!    the link: the registry, and the names of the members, which become
//!    its autoconnect targets after the sponsor. Then it closes the link
//!    (SCLOSE "synced").
//! 7. It dials again at once as an ordinary member.
//!
//! If the sponsor crashes or a split cuts the link before EOB, the
//! newcomer is still joining: it keeps dialling its targets with the usual
//! backoff until one sync completes, so it is never half a member.

use std::sync::Arc;

use rand_core::CryptoRngCore;

use super::{CloseReason, LinkId, Server};
use crate::crypto::PublicKey;
use crate::identity::valid_server_name;
use crate::outbox::{Note, Outbox};
use crate::time::Instant;
use crate::wire::{self, Frame};

impl Server {
    /// The process is a newcomer: it syncs through its first link before
    /// it joins. Call before `Input::Start`.
    pub fn set_joining(&mut self) {
        self.joining = true;
    }

    /// Still syncing: it refuses every incoming connection.
    pub fn is_joining(&self) -> bool {
        self.joining
    }

    /// The registry as this server knows it now.
    pub fn registry(&self) -> &crate::identity::Registry {
        &self.registry
    }

    /// The operator registers a newcomer here: learn it and flood it.
    pub(crate) fn register_server(
        &mut self,
        name: &str,
        sid: &str,
        key: PublicKey,
        out: &mut Outbox,
    ) {
        if !valid_server_name(name) || sid.len() != 3 {
            return;
        }
        if self.learn_registration(name, sid, key) {
            self.flood(None, sreg(name, sid, &key), out);
        }
    }

    fn learn_registration(&mut self, name: &str, sid: &str, key: PublicKey) -> bool {
        let changed = Arc::make_mut(&mut self.registry).learn(name, sid, key);
        if changed {
            self.learned.insert(name.into());
        }
        changed
    }

    /// SREG from a server link. False if malformed.
    pub(crate) fn on_sreg(&mut self, link: LinkId, f: &Frame, out: &mut Outbox) -> bool {
        let Some([name, sid, key]) = f.args_exact::<3>() else {
            return false;
        };
        let mut buf = Vec::new();
        if !valid_server_name(name) || sid.len() != 3 || !wire::parse_hex(key, &mut buf) {
            return false;
        }
        let Ok(bytes) = <[u8; crate::crypto::KEY_LEN]>::try_from(buf.as_slice()) else {
            return false;
        };
        let key = PublicKey(bytes);
        if self.learn_registration(name, sid, key) {
            self.flood(Some(link), sreg(name, sid, &key), out);
        }
        true
    }

    /// The registrations made at run time, for a burst.
    pub(crate) fn send_registrations(&self, link: LinkId, out: &mut Outbox) {
        if self.cfg.ablations.no_registry_burst {
            return;
        }
        for name in &self.learned {
            if let Some(r) = self.registry.get(name) {
                out.send(link, sreg(name, &r.sid, &r.key));
            }
        }
    }

    /// A joining server refuses every incoming connection. True if `link`
    /// was refused (and closed).
    pub(crate) fn refuse_while_joining(&mut self, link: LinkId, out: &mut Outbox) -> bool {
        if !self.joining || self.cfg.ablations.no_sync_refuse {
            return false;
        }
        out.send(link, super::chat::frame("ERROR", &["syncing, try later"]));
        out.push(crate::outbox::Output::Close { link });
        self.links.remove(&link);
        true
    }

    /// The sponsor's burst is complete: keep what outlives the link, then
    /// close it and dial again as a member.
    pub(crate) fn synced<R: CryptoRngCore>(
        &mut self,
        now: Instant,
        link: LinkId,
        rng: &mut R,
        out: &mut Outbox,
    ) {
        if !self.joining {
            return;
        }
        self.joining = false;
        // Every member heard of becomes a target to join through.
        let names: Vec<Arc<str>> = self.known.keys().cloned().collect();
        for n in names {
            if !self.auto.iter().any(|t| t.name == n) {
                self.auto.push(super::liveness::AutoTarget::new(n));
            }
        }
        out.note(Note::Synced { link });
        out.send(link, |b| {
            crate::message::Msg::Sclose { reason: "synced" }.encode(b)
        });
        self.drop_link(now, link, CloseReason::Operator, true, rng, out);
        for t in &mut self.auto {
            t.next_attempt = Some(now);
        }
        self.arm(now);
    }
}

fn sreg<'a>(
    name: &'a str,
    sid: &'a str,
    key: &'a PublicKey,
) -> impl FnOnce(&mut Vec<u8>) -> Result<usize, wire::WireError> + 'a {
    move |b| {
        let mut e = wire::Encoder::begin(b, "SREG");
        e.arg(name).arg(sid).arg_hex(&key.0);
        e.finish()
    }
}
