//! Adding a server: the registration travels over the tree, and the
//! newcomer reads one member's database before it joins.
//!
//! 1. The operator registers the newcomer's name, SID and key at a member
//!    (its sponsor), which floods `SREG,name,sid,key` over the tree; every
//!    server adds it to its registry. Registrations made at run time also
//!    go into every burst, so a part of the network cut off during the
//!    flood learns them on the heal. A server refuses (at the handshake) a
//!    peer it has not heard of yet.
//! 2. The newcomer starts knowing the registry as the operator gave it
//!    and the address of its sponsor.
//! 3. It dials the sponsor; the usual four-step handshake follows,
//! 4. opened with `NEWLINK` instead of `LINK`: the sponsor knows not to
//!    give it a place in the tree, so nothing about the newcomer reaches
//!    any other server while it syncs.
//! 5. The sponsor sends its whole database on the link (servers, users,
//!    rooms with their streams and memberships, the whole registry), then
//!    EOB.
//! 6. The newcomer keeps what outlives the link: the registry, and the
//!    names of the members, to try in turn should joining fail. It closes
//!    the link (SCLOSE "synced").
//! 7. It dials the same sponsor again at once, with `LINK`, as an
//!    ordinary member: the usual burst exchange places it in the tree.
//!    One member at a time: dialling every member at once would make links
//!    that the loop breaker must then cut.
//!
//! While it syncs the newcomer refuses every incoming connection: it is in
//! no tree, so whatever it admitted would hang on a server nobody routes
//! to. A failed attempt (refused, cut, timed out, sponsor gone) leaves
//! nothing at the sponsor, whose sync link never was a tree link; the
//! newcomer retries with the usual backoff, each time through the next
//! member it knows of, until it is registered as a member.

use std::sync::Arc;

use rand_core::CryptoRngCore;

use super::{CloseReason, LinkId, Phase, Server};
use crate::crypto::PublicKey;
use crate::identity::valid_server_name;
use crate::message::Msg;
use crate::outbox::{Note, Outbox, Output};
use crate::time::Instant;
use crate::wire::{self, Frame};

impl Server {
    /// The process is a newcomer that syncs through `sponsor` (its only
    /// autoconnect target) before it joins. Call before `Input::Start`.
    pub fn join_via(&mut self, sponsor: &str) {
        let sponsor: Arc<str> = sponsor.into();
        self.auto = vec![super::liveness::AutoTarget::new(sponsor.clone())];
        self.joining = Some(Joining {
            candidates: vec![sponsor],
            next: 0,
            synced: false,
        });
    }

    /// Still reading a member's database: refuses every connection.
    pub fn is_syncing(&self) -> bool {
        self.joining.as_ref().is_some_and(|j| !j.synced)
    }

    /// Added at run time and not yet registered as a member.
    pub fn is_joining(&self) -> bool {
        self.joining.is_some()
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
        let Some((name, sid, key)) = parse_sreg(f) else {
            return false;
        };
        if self.learn_registration(name, sid, key) {
            self.flood(Some(link), sreg(name, sid, &key), out);
        }
        true
    }

    /// The registrations made at run time, for a burst (`all`: the whole
    /// registry, for a newcomer's sync).
    pub(crate) fn send_registrations(&self, link: LinkId, all: bool, out: &mut Outbox) {
        if all {
            for (name, r) in self.registry.entries() {
                out.send(link, sreg(name, &r.sid, &r.key));
            }
            return;
        }
        if self.cfg.ablations.no_registry_burst {
            return;
        }
        for name in &self.learned {
            if let Some(r) = self.registry.get(name) {
                out.send(link, sreg(name, &r.sid, &r.key));
            }
        }
    }

    /// Whether an incoming connection is turned away (at its first
    /// frame, so the ERROR reaches the peer) because we sync.
    pub(crate) fn refuses_incoming(&self) -> bool {
        self.is_syncing() && !self.cfg.ablations.no_sync_refuse
    }

    /// After a failed attempt, the next try goes to the next member known.
    pub(crate) fn rotate_join_target(&mut self, link: LinkId) {
        let Some(j) = self.joining.as_mut() else {
            return;
        };
        let Some(t) = self.auto.iter_mut().find(|t| t.link == Some(link)) else {
            return;
        };
        j.next = (j.next + 1) % j.candidates.len();
        t.name = j.candidates[j.next].clone();
    }

    /// The newcomer is registered as a member: joining is over.
    pub(crate) fn joined(&mut self, peer: &Arc<str>, out: &mut Outbox) {
        if self.joining.as_ref().is_some_and(|j| j.synced) {
            self.joining = None;
            out.note(Note::Joined { via: peer.clone() });
        }
    }

    /// Sponsor side: the newcomer proved who it is; send the database.
    pub(crate) fn serve_sync(&mut self, now: Instant, link: LinkId, out: &mut Outbox) {
        let l = self.links.get_mut(&link).expect("link exists");
        l.phase = Phase::Serving;
        // The sync gets a handshake_timeout of its own to finish in.
        l.opened_at = now;
        out.note(Note::SyncStarted { link });
        self.send_server_intros(link, out);
        self.send_chat_db(link, out);
        self.send_registrations(link, true, out);
        out.send(link, |b| Msg::Eob.encode(b));
        self.arm(now + self.cfg.handshake_timeout);
    }

    /// Newcomer side: the sponsor proved who it is; read its database.
    pub(crate) fn start_fetch(&mut self, now: Instant, link: LinkId, out: &mut Outbox) {
        let l = self.links.get_mut(&link).expect("link exists");
        l.phase = Phase::Fetching;
        l.opened_at = now;
        out.note(Note::SyncStarted { link });
        self.arm(now + self.cfg.handshake_timeout);
    }

    /// One frame of the sponsor's database. Users and rooms are read past:
    /// the newcomer gets them again, with its place in the tree, in the
    /// burst it receives on joining as a member.
    pub(crate) fn on_sync_frame<R: CryptoRngCore>(
        &mut self,
        now: Instant,
        link: LinkId,
        frame: &Frame,
        rng: &mut R,
        out: &mut Outbox,
    ) {
        if frame.command() == "SREG" {
            if let Some((name, sid, key)) = parse_sreg(frame) {
                self.learn_registration(name, sid, key);
            }
            return;
        }
        match Msg::parse(frame) {
            Ok(Msg::Server { name, .. }) => {
                let j = self.joining.as_mut().expect("syncing");
                if name != &*self.me.name
                    && valid_server_name(name)
                    && !j.candidates.iter().any(|c| &**c == name)
                {
                    j.candidates.push(name.into());
                }
            }
            Ok(Msg::Eob) => self.finish_sync(now, link, out),
            Ok(Msg::Error { .. } | Msg::Sclose { .. }) => {
                self.drop_link(now, link, CloseReason::PeerClosed, false, rng, out)
            }
            _ => {}
        }
    }

    /// The database is in: close the sync link and dial the same sponsor
    /// again at once, as a member.
    fn finish_sync(&mut self, now: Instant, link: LinkId, out: &mut Outbox) {
        let Some(l) = self.links.remove(&link) else {
            return;
        };
        out.send(link, |b| Msg::Sclose { reason: "synced" }.encode(b));
        out.push(Output::Close { link });
        out.note(Note::LinkDown {
            link,
            reason: CloseReason::Operator,
        });
        let sponsor = l.target.expect("a sync link is outbound");
        let j = self.joining.as_mut().expect("syncing");
        j.synced = true;
        j.next = j.candidates.iter().position(|c| *c == sponsor).unwrap_or(0);
        out.note(Note::Synced { link });
        if let Some(t) = self.auto.iter_mut().find(|t| t.link == Some(link)) {
            t.link = None;
            t.next_attempt = Some(now);
            t.backoff = self.cfg.reconnect_min;
        }
        self.arm(now);
    }
}

/// A newcomer's progress until it is a member.
#[derive(Clone, Debug)]
pub(crate) struct Joining {
    /// Members to join through: the sponsor first, then those a sync named.
    pub(crate) candidates: Vec<Arc<str>>,
    next: usize,
    /// The database was read; what is left is joining as a member.
    synced: bool,
}

fn parse_sreg(f: &Frame) -> Option<(&str, &str, PublicKey)> {
    let [name, sid, key] = f.args_exact::<3>()?;
    let mut buf = Vec::new();
    if !valid_server_name(name) || sid.len() != 3 || !wire::parse_hex(key, &mut buf) {
        return None;
    }
    let bytes = <[u8; crate::crypto::KEY_LEN]>::try_from(buf.as_slice()).ok()?;
    Some((name, sid, PublicKey(bytes)))
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
