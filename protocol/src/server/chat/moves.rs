//! Seamless redirect: a user moves to another server without quitting.
//!
//! The source (the user's home) decides; the target only vouches that the
//! client arrived with the right id. In order:
//! 1. the source picks a target and a random request id, routes
//!    `RDNOTE,id,uid,source,target` to the target and sends
//!    `REDIRECT,id,target` to the client;
//! 2. the client opens a second connection to the target and sends
//!    `HANDOVER,id,uid` (or answers `REDIRNO,id,why` to refuse);
//! 3. the target matches the id against its pending requests (unknown,
//!    expired, used or foreign ids are refused with ERROR and change
//!    nothing) and routes `RDDONE,id,source,target` back;
//! 4. the source, if the request is still its own, commits: it floods
//!    `UMOVE,uid,source,target,gen` and closes the old connection;
//! 5. the target, when the UMOVE reaches it, takes the user as local and
//!    tells the client `HANDOK,id`; the client swaps to the new connection.
//!
//! Only the source commits, so the two ends cannot both own the user: a
//! request the source gave up (timed out, refused, cancelled) is never
//! committed later, and the target lets go of its end on its own timer.
//! UMOVE is accepted only from the direction of the source (the old home),
//! so it follows, on every link, whatever the source said about the user
//! before; `gen` (the user's move count) makes it idempotent and lets a
//! burst after a split carry the newer home.

use std::sync::Arc;

use rand_core::CryptoRngCore;

use super::{frame, verbatim, Dest};
use crate::outbox::{ChatNote, LinkId, Outbox, Output};
use crate::server::Server;
use crate::time::Instant;
use crate::wire::{parse_u64, Frame};

/// A redirect this server (the user's home) asked for.
#[derive(Clone, Debug)]
pub(crate) struct MoveOut {
    pub uid: Arc<str>,
    /// The client link being moved away from.
    pub link: LinkId,
    pub to_sid: Arc<str>,
    pub deadline: Instant,
}

/// A redirect another server announced to this one (the target).
#[derive(Clone, Debug)]
pub(crate) struct MoveIn {
    pub uid: Arc<str>,
    pub from_sid: Arc<str>,
    /// The client's new connection, once it has handed over.
    pub link: Option<LinkId>,
    pub deadline: Instant,
    /// The source's notice arrived. A client can overtake the notice (it
    /// comes straight here, the notice over the tree): its handover is
    /// parked until the notice comes or the time is up.
    pub noted: bool,
    /// Server links we described our own users on (our burst on a new
    /// link, an answer to a USYNC about us) while this move was in: they
    /// were told of our users without this one, not ours yet. It is
    /// introduced there when the move completes.
    pub described: Vec<LinkId>,
}

/// How a redirect ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MoveOutcome {
    Completed,
    Refused,
    TimedOut,
    Cancelled,
}

impl MoveOutcome {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            MoveOutcome::Completed => "completed",
            MoveOutcome::Refused => "refused",
            MoveOutcome::TimedOut => "timed-out",
            MoveOutcome::Cancelled => "cancelled",
        }
    }
}

fn hex_id(id: u64) -> String {
    format!("{id:016x}")
}

fn parse_id(s: &str) -> Option<u64> {
    if s.len() != 16 {
        return None;
    }
    u64::from_str_radix(s, 16).ok()
}

impl Server {
    /// Starts moving a local user to the server `to`. Returns why not, if
    /// it cannot start.
    pub(crate) fn start_redirect<R: CryptoRngCore>(
        &mut self,
        now: Instant,
        uid: &Arc<str>,
        to: &str,
        rng: &mut R,
        out: &mut Outbox,
    ) -> Result<(), &'static str> {
        let Some(u) = self.chat.users.get(uid) else {
            return Err("no such user");
        };
        if !u.local {
            return Err("not a local user");
        }
        let link = u.via;
        if self.chat.moves_out.values().any(|m| m.uid == *uid) {
            return Err("already moving");
        }
        let Some(k) = self.known.get(to) else {
            return Err("unknown server");
        };
        let to_sid = k.sid.arc();
        let id = rng.next_u64();
        let deadline = now + self.cfg.redirect_timeout;
        self.chat.moves_out.insert(
            id,
            MoveOut {
                uid: uid.clone(),
                link,
                to_sid: to_sid.clone(),
                deadline,
            },
        );
        self.arm(deadline);
        let (hid, me) = (hex_id(id), self.me.sid.clone());
        self.send_toward(&to_sid, frame("RDNOTE", &[&hid, uid, &me, &to_sid]), out);
        out.send(link, frame("REDIRECT", &[&hid, to]));
        Self::chat_note(
            out,
            ChatNote::MoveStarted {
                id,
                uid: uid.clone(),
                to: to.into(),
            },
        );
        Ok(())
    }

    /// Sends a frame one hop toward the server `sid` (handled here if it
    /// is this server).
    fn send_toward(
        &mut self,
        sid: &str,
        encode: impl FnOnce(&mut Vec<u8>) -> Result<usize, crate::wire::WireError>,
        out: &mut Outbox,
    ) {
        if let Dest::Link(l) = self.dest_of_sid(sid) {
            out.send(l, encode);
        }
    }

    /// RDNOTE, RDDONE, RDCANCEL and UMOVE from a server link. False if
    /// malformed.
    pub(crate) fn on_move_msg(
        &mut self,
        now: Instant,
        link: LinkId,
        f: &Frame,
        raw: &[u8],
        out: &mut Outbox,
    ) -> bool {
        if f.command() == "UMOVE" {
            return self.on_umove(link, f, out);
        }
        // The three routed messages name their destination last.
        let n = f.arg_count();
        if !(3..=4).contains(&n) {
            return false;
        }
        let Some(id) = parse_id(f.arg(0).unwrap_or("")) else {
            return false;
        };
        let dest = f.arg(n - 1).unwrap_or("");
        match self.dest_of_sid(dest) {
            Dest::Me => {}
            Dest::Link(l) if l != link => {
                out.send(l, verbatim(raw));
                return true;
            }
            _ => return true,
        }
        match (f.command(), f.args_exact::<4>(), f.args_exact::<3>()) {
            ("RDNOTE", Some([_, uid, from, _]), _) => {
                let (parked, described) = match self.chat.moves_in.get(&id) {
                    Some(m) if !m.noted => (
                        m.link.map(|l| (l, m.uid.as_ref() == uid)),
                        m.described.clone(),
                    ),
                    Some(_) => return true, // a repeat
                    None => (None, Vec::new()),
                };
                let deadline = now + self.cfg.redirect_timeout;
                self.chat.moves_in.insert(
                    id,
                    MoveIn {
                        uid: uid.into(),
                        from_sid: from.into(),
                        link: None,
                        deadline,
                        noted: true,
                        described,
                    },
                );
                self.arm(deadline);
                Self::chat_note(
                    out,
                    ChatNote::MoveNoted {
                        id,
                        uid: uid.into(),
                    },
                );
                match parked {
                    Some((l, true)) => self.take_handover(id, l, out),
                    Some((l, false)) => self.refuse_handover(l, "foreign id", out),
                    None => {}
                }
                true
            }
            ("RDDONE", Some([_, uid, target, _]), _) => {
                let (uid, target): (Arc<str>, Arc<str>) = (uid.into(), target.into());
                self.commit_move(id, &uid, &target, out);
                true
            }
            ("RDCANCEL", _, Some([_, why, _])) => {
                if let Some(m) = self.chat.moves_in.remove(&id) {
                    if let Some(l) = m.link {
                        self.refuse_handover(l, why, out);
                    }
                    // Only a request noted here ends here. A parked
                    // handover is none: its notice has not come (as on
                    // expiry), or came, and the request ended here
                    // already, before this late copy and the cancel.
                    if m.noted {
                        self.move_ended(id, &m.uid, MoveOutcome::Cancelled, false, out);
                    }
                }
                true
            }
            _ => false,
        }
    }

    /// The first frame of a client connection was HANDOVER.
    pub(crate) fn on_handover(&mut self, now: Instant, link: LinkId, f: &Frame, out: &mut Outbox) {
        let Some([id, uid]) = f.args_exact::<2>() else {
            return self.refuse_handover(link, "bad HANDOVER", out);
        };
        let Some(id) = parse_id(id) else {
            return self.refuse_handover(link, "bad id", out);
        };
        if self.draining.is_some() {
            return self.refuse_handover(link, "server shutting down", out);
        }
        let any_id = self.cfg.ablations.no_handover_id;
        match self.chat.moves_in.get_mut(&id) {
            Some(m) if m.uid.as_ref() != uid => {
                return self.refuse_handover(link, "foreign id", out);
            }
            Some(m) if m.link.is_some() => {
                return self.refuse_handover(link, "id already used", out);
            }
            Some(m) if m.deadline <= now => {
                return self.refuse_handover(link, "expired id", out);
            }
            Some(m) => m.link = Some(link),
            None => {
                // Research switch: take the client's word for its source.
                let from = match self.chat.users.get(uid) {
                    Some(u) if any_id => Some(u.sid.clone()),
                    _ => None,
                };
                let deadline = now + self.cfg.redirect_timeout;
                self.chat.moves_in.insert(
                    id,
                    MoveIn {
                        uid: uid.into(),
                        noted: from.is_some(),
                        from_sid: from.unwrap_or_else(|| "".into()),
                        link: Some(link),
                        deadline,
                        described: Vec::new(),
                    },
                );
                self.arm(deadline);
            }
        }
        self.unqueue_client(link);
        if let Some(c) = self.chat.clients.get_mut(&link) {
            c.handover = Some(id);
        }
        self.queue_client(link);
        // Not a registration: from here the redirect's timers govern it.
        Self::chat_note(out, ChatNote::RegistrationEnded { link });
        if self.chat.moves_in[&id].noted {
            self.take_handover(id, link, out);
        }
    }

    /// The client handed over under a request we were told of: tell the
    /// source (step 9), which decides.
    fn take_handover(&mut self, id: u64, link: LinkId, out: &mut Outbox) {
        let Some(m) = self.chat.moves_in.get_mut(&id) else {
            return;
        };
        m.link = Some(link);
        let (uid, from) = (m.uid.clone(), m.from_sid.clone());
        let (hid, me) = (hex_id(id), self.me.sid.clone());
        self.send_toward(&from, frame("RDDONE", &[&hid, &uid, &me, &from]), out);
    }

    fn refuse_handover(&mut self, link: LinkId, why: &str, out: &mut Outbox) {
        let reason = format!("redirect refused: {why}");
        out.send(link, frame("ERROR", &[&reason]));
        if self
            .chat
            .clients
            .get(&link)
            .is_some_and(|c| c.handover.is_none())
        {
            // Refused before it was taken for a handover: its
            // registration clock stops here.
            Self::chat_note(out, ChatNote::RegistrationEnded { link });
        }
        self.close_client(link, out);
        Self::chat_note(
            out,
            ChatNote::HandoverRefused {
                link,
                reason: why.into(),
            },
        );
    }

    /// The target has the client: move the user's home there, if the
    /// request is still ours.
    fn commit_move(&mut self, id: u64, uid: &Arc<str>, target: &Arc<str>, out: &mut Outbox) {
        let m = match self.chat.moves_out.remove(&id) {
            Some(m) if m.uid == *uid && m.to_sid == *target => m,
            Some(m) => {
                // Not what we asked for: ours stays pending.
                self.chat.moves_out.insert(id, m);
                return;
            }
            // Research switch: commit a request we no longer hold.
            None if self.cfg.ablations.no_handover_id => match self.chat.users.get(uid) {
                Some(u) if u.local => MoveOut {
                    uid: uid.clone(),
                    link: u.via,
                    to_sid: target.clone(),
                    deadline: Instant::ZERO,
                },
                _ => return,
            },
            None => return,
        };
        // The user left this server's hands while the target took its
        // client (a KILL from a collision, a quit, a new session): nothing
        // to move, but the request is ours and must still end, or its
        // source would hold it open for ever. Found by the discovery swarm
        // (redirect-source-killed-before-done.toml): a KILL reached the source
        // between the handover and the target's RDDONE.
        let Some(u) = self
            .chat
            .users
            .get_mut(&m.uid)
            .filter(|u| u.local && u.via == m.link)
        else {
            self.move_ended(id, &m.uid, MoveOutcome::Cancelled, true, out);
            return;
        };
        u.gen += 1;
        let gen = u.gen;
        self.apply_home(&m.uid, &m.to_sid, out);
        let me = self.me.sid.clone();
        let g = gen.to_string();
        self.flood(None, frame("UMOVE", &[&m.uid, &me, &m.to_sid, &g]), out);
        // No QUIT: the user lives on at the target. The close tells the
        // client it may swap.
        self.remove_client(m.link);
        out.push(Output::Close { link: m.link });
        self.move_ended(id, &m.uid, MoveOutcome::Completed, true, out);
    }

    /// Makes `to` the home of a user already in the table: every later
    /// message about it comes from there.
    fn apply_home(&mut self, uid: &Arc<str>, to: &Arc<str>, out: &mut Outbox) {
        let dest = self.dest_of_sid(to);
        if self.cfg.ablations.no_home_move && dest != Dest::Me {
            return; // research switch: the old home stays
        }
        // Its rooms' fan-outs count it behind its old route: dropped
        // before anything joins or leaves behind the new one.
        self.forget_fanouts(uid);
        let Some(u) = self.chat.users.get_mut(uid) else {
            return;
        };
        u.sid = to.clone();
        match dest {
            Dest::Link(l) => {
                u.local = false;
                u.via = l;
            }
            Dest::Me => {
                let taken = self
                    .chat
                    .moves_in
                    .iter()
                    .find(|(_, m)| m.uid == *uid && m.noted && m.link.is_some())
                    .map(|(id, m)| (*id, m.link.expect("checked")));
                match taken {
                    Some((id, link)) => {
                        let described = self
                            .chat
                            .moves_in
                            .remove(&id)
                            .map(|m| m.described)
                            .unwrap_or_default();
                        self.unqueue_client(link);
                        let u = self.chat.users.get_mut(uid).expect("present");
                        u.local = true;
                        u.via = link;
                        if let Some(c) = self.chat.clients.get_mut(&link) {
                            c.handover = None;
                            c.uid = Some(uid.clone());
                            c.nick = Some(u.nick.clone());
                        }
                        self.queue_client(link);
                        out.send(link, frame("HANDOK", &[&hex_id(id)]));
                        // Renamed to its UID by a collision (SAVE) while
                        // it moved: the old server no longer had it to
                        // tell, and we had no connection for it yet, so
                        // the client would go by its old nick for good
                        // (client.nick: swarm-chat seeds 26700, 25935,
                        // nick-saved-during-a-move.toml). A repeat of a
                        // rename it heard is harmless.
                        let u = &self.chat.users[uid];
                        if *u.nick == **uid {
                            out.send(link, frame("RENAMED", &[uid]));
                        }
                        if !self.cfg.ablations.no_move_introduce {
                            self.introduce_moved(uid, &described, out);
                        }
                        self.move_ended(id, uid, MoveOutcome::Completed, false, out);
                        if self.cfg.ablations.no_seamless_rooms {
                            // Research switch: the naive handover.
                            let rooms: Vec<Arc<str>> =
                                self.chat.users[uid].rooms.iter().cloned().collect();
                            for key in rooms {
                                self.leave_local(&key, uid, out);
                                self.join_local(&key, uid, out);
                            }
                        }
                        self.resume_streams(uid, out);
                    }
                    None => {
                        // Ours now, but its client is not here (our end
                        // timed out first): say so rather than keep a
                        // user nobody is behind.
                        self.remove_user(uid, out);
                        self.flood(None, frame("UQUIT", &[uid, "redirect timed out"]), out);
                    }
                }
            }
            Dest::Nowhere | Dest::Client(_) => {
                // Moved behind a split: gone from here, like every user
                // of a server we lost. The burst that brings the target
                // back may have been sent before its sender learned the
                // move, and a neighbour that learned the user from us
                // has no reason to tell us again: so we ask for the
                // target's users when it comes back (ghost.user:
                // swarm-slow-links at 1 s hops, seed 31653,
                // ghost-user-after-moves.toml).
                if !self.cfg.ablations.no_ask_after_unseen_move {
                    self.chat.moved_unseen.insert(to.clone());
                }
                self.remove_user(uid, out);
            }
        }
    }

    /// We described our users on `link` (a burst, a USYNC answer about
    /// us): every move coming in leaves its user out of that description.
    pub(crate) fn described_own_users(&mut self, link: LinkId) {
        for m in self.chat.moves_in.values_mut() {
            if !m.described.contains(&link) {
                m.described.push(link);
            }
        }
    }

    /// A user that just became ours, introduced (`describe_users`: its
    /// rooms, UID and joins, as a burst has them) on the server links we described our
    /// users on while it moved in, where it was left out: a server behind
    /// such a link that had us out of its view when the UMOVE came dropped
    /// the user as moved behind a split, and never learned it again
    /// (users.agree: swarm-chat-at-once at 300 ms, seed 4656,
    /// moved-while-its-target-relinked.toml). A neighbour that knows the
    /// move takes the UID as a repeat; one that holds the user at its old
    /// home catches up and passes the UID on (users.rs).
    fn introduce_moved(&mut self, uid: &Arc<str>, described: &[LinkId], out: &mut Outbox) {
        let Some(u) = self.chat.users.get_key_value(uid) else {
            return;
        };
        for &l in described {
            if self
                .links
                .get(&l)
                .is_some_and(|x| matches!(x.phase, crate::server::Phase::Registered))
            {
                self.describe_users(l, &[u], out);
            }
        }
    }

    /// Drops the fan-out of every room the user is in.
    fn forget_fanouts(&mut self, uid: &str) {
        let Some(u) = self.chat.users.get(uid) else {
            return;
        };
        for key in &u.rooms {
            if let Some(r) = self.chat.rooms.get_mut(key) {
                r.fanout = None;
            }
        }
    }

    fn on_umove(&mut self, link: LinkId, f: &Frame, out: &mut Outbox) -> bool {
        let Some([uid, from, to, gen]) = f.args_exact::<4>() else {
            return false;
        };
        let Some(gen) = parse_u64(gen) else {
            return false;
        };
        if from.len() != 3 || to.len() != 3 {
            return false;
        }
        if !self.check_direction(link, from, "UMOVE", out) {
            return true;
        }
        let Some((uid, u)) = self.chat.users.get_key_value(uid) else {
            if !self.cfg.ablations.no_unknown_move_ask {
                self.ask_after_unknown_move(link, uid, to, out);
            }
            return true;
        };
        if u.gen >= gen {
            return true; // seen
        }
        let uid = uid.clone();
        if let Some(u) = self.chat.users.get_mut(&uid) {
            u.gen = gen;
        }
        let g = gen.to_string();
        self.flood(Some(link), frame("UMOVE", &[&uid, from, to, &g]), out);
        let to = crate::intern::arc(to);
        self.apply_home(&uid, &to, out);
        true
    }

    /// A UMOVE from the direction of the user's old home names a user we
    /// do not hold. If the neighbour that sent it is also our route to the
    /// target, it holds the user there (it applied the move before passing
    /// it on) and we are behind its view: ask it for the target's users.
    /// We held the user at the target once, having had the move another
    /// way, and dropped it at the end of a USYNC about the target that
    /// this neighbour answered before the move reached it; the UMOVE came
    /// right behind that answer and found nobody, and no one introduces
    /// the user to us or to the servers behind us again (users.agree:
    /// swarm-nicks at 1 s hops, seed 45466, user-dropped-by-a-resync-
    /// after-a-move-at-1s.toml). Not asked while our own question about
    /// the target is out on that link, its answer still to come and so
    /// given after the move, nor for a user we know the fate of.
    fn ask_after_unknown_move(&mut self, link: LinkId, uid: &str, to: &str, out: &mut Outbox) {
        if self.route_by_sid(to) != Some(link)
            || self.chat.dead.contains_key(uid)
            || self.chat.syncs.get(to).is_some_and(|p| p.link == link)
        {
            return;
        }
        self.rerouted(to, link, true, false, out);
    }

    /// A UID frame for a known user carried a later move than we hold (we
    /// missed its UMOVE across a split, or the target's introduction came
    /// before it). True if the user is still here, at its new home.
    pub(crate) fn catch_up_move(
        &mut self,
        uid: &Arc<str>,
        home: &str,
        gen: u64,
        out: &mut Outbox,
    ) -> bool {
        let Some(u) = self.chat.users.get_mut(uid) else {
            return false;
        };
        if u.gen >= gen || u.local {
            return false;
        }
        u.gen = gen;
        let home = crate::intern::arc(home);
        self.apply_home(uid, &home, out);
        self.chat.users.contains_key(uid)
    }

    /// A user just arrived here by redirect: room messages numbered while
    /// the move was on their way may have gone to the old home after it
    /// let go, and been dropped there. Ask each room's sequencer for the
    /// member's start point again: its answer carries the stream's current
    /// number, and a client told a later point fetches what it missed.
    fn resume_streams(&mut self, uid: &Arc<str>, out: &mut Outbox) {
        let keys: Vec<Arc<str>> = match self.chat.users.get(uid) {
            Some(u) => u.rooms.iter().cloned().collect(),
            None => return,
        };
        for key in keys {
            self.resume_stream(&key, uid, out);
        }
    }

    /// Asks the sequencer of room `key` for its local member's start point
    /// again (given at once if this server is the sequencer), awaited until
    /// it comes.
    pub(crate) fn resume_stream(&mut self, key: &str, uid: &Arc<str>, out: &mut Outbox) {
        let Some(room) = self.chat.rooms.get(key) else {
            return;
        };
        if room.seq.is_some() {
            self.send_start(key, uid, true, out);
            return;
        }
        if let Dest::Link(l) = self.dest_of_sequencer(key, &room.stream.seq) {
            out.send(l, frame("RSTARTREQ", &[&room.name, uid]));
        }
        if !self.cfg.ablations.no_start_retry {
            self.start_awaited(key, uid);
        }
    }

    /// REDIRNO from the client being moved: it refuses, or the target
    /// refused its handover.
    pub(crate) fn on_redirno(&mut self, link: LinkId, f: &Frame, out: &mut Outbox) -> bool {
        let Some(id) = f.arg(0).and_then(parse_id) else {
            return false;
        };
        let why = f.arg(1).unwrap_or("refused");
        if self.chat.moves_out.get(&id).is_some_and(|m| m.link == link) {
            let m = self.chat.moves_out.remove(&id).expect("checked");
            self.cancel_at_target(id, &m.to_sid, why, out);
            let outcome = if why == "refused" {
                MoveOutcome::Refused
            } else {
                MoveOutcome::Cancelled
            };
            self.move_ended(id, &m.uid, outcome, true, out);
        }
        true
    }

    fn cancel_at_target(&mut self, id: u64, to_sid: &Arc<str>, why: &str, out: &mut Outbox) {
        let hid = hex_id(id);
        self.send_toward(to_sid, frame("RDCANCEL", &[&hid, why, to_sid]), out);
    }

    /// A local client link closed or its user left: its pending move ends.
    pub(crate) fn moves_client_gone(&mut self, link: LinkId, out: &mut Outbox) {
        let ids: Vec<u64> = self
            .chat
            .moves_out
            .iter()
            .filter(|(_, m)| m.link == link)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            let m = self.chat.moves_out.remove(&id).expect("listed");
            self.cancel_at_target(id, &m.to_sid, "client gone", out);
            self.move_ended(id, &m.uid, MoveOutcome::Cancelled, true, out);
        }
        let ids: Vec<u64> = self
            .chat
            .moves_in
            .iter()
            .filter(|(_, m)| m.link == Some(link))
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            match self.chat.moves_in.get_mut(&id) {
                Some(m) if m.noted => m.link = None,
                _ => {
                    self.chat.moves_in.remove(&id);
                }
            }
        }
    }

    /// Ends requests whose time is up, at either end.
    pub(crate) fn expire_moves(&mut self, now: Instant, out: &mut Outbox) {
        let due: Vec<u64> = self
            .chat
            .moves_out
            .iter()
            .filter(|(_, m)| m.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            let m = self.chat.moves_out.remove(&id).expect("listed");
            if self.chat.clients.contains_key(&m.link) {
                out.send(m.link, frame("REDIRCANCEL", &[&hex_id(id), "timed-out"]));
            }
            self.cancel_at_target(id, &m.to_sid, "timed out", out);
            self.move_ended(id, &m.uid, MoveOutcome::TimedOut, true, out);
        }
        let due: Vec<u64> = self
            .chat
            .moves_in
            .iter()
            .filter(|(_, m)| m.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            let m = self.chat.moves_in.remove(&id).expect("listed");
            if !m.noted {
                // Parked, and the notice never came: not a request here.
                if let Some(l) = m.link {
                    self.refuse_handover(l, "unknown id", out);
                }
                continue;
            }
            if let Some(l) = m.link {
                self.refuse_handover(l, "timed out", out);
            }
            self.move_ended(id, &m.uid, MoveOutcome::TimedOut, false, out);
        }
    }

    /// The earliest redirect deadline at either end.
    pub(crate) fn moves_deadline(&self) -> Option<Instant> {
        let a = self.chat.moves_out.values().map(|m| m.deadline);
        let b = self.chat.moves_in.values().map(|m| m.deadline);
        a.chain(b).min()
    }

    fn move_ended(
        &mut self,
        id: u64,
        uid: &Arc<str>,
        outcome: MoveOutcome,
        source: bool,
        out: &mut Outbox,
    ) {
        Self::chat_note(
            out,
            ChatNote::MoveEnded {
                id,
                uid: uid.clone(),
                outcome: outcome.as_str(),
                source,
            },
        );
    }
}

/// Read-only views of redirects in progress.
impl Server {
    /// Pending requests: (id, UID, deadline, this server is the source).
    pub fn pending_moves(&self) -> impl Iterator<Item = (u64, &str, Instant, bool)> {
        let a = self
            .chat
            .moves_out
            .iter()
            .map(|(id, m)| (*id, &*m.uid, m.deadline, true));
        let b = self
            .chat
            .moves_in
            .iter()
            .map(|(id, m)| (*id, &*m.uid, m.deadline, false));
        a.chain(b)
    }
}
