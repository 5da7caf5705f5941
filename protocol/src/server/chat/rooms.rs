//! Rooms, memberships and per-room sequencing.
//!
//! Every server knows every room and its members (the burst carries them),
//! but room messages travel only toward servers that have members. Each
//! room has one sequencer, named with its epoch in the room's [`Stream`].
//! A client asks for a number (GETSEQ), sends its message with it (CSEND),
//! and the sequencer, which alone can tell a held number from a used or
//! skipped one, validates it and sends the message (RMSG) to the members.
//!
//! Stream rule. A room's stream is a lattice value: a higher epoch wins,
//! then the smaller sequencer SID, then the later incarnation of that
//! sequencer. Every server adopts the larger of what
//! it has and what it hears, and passes on only what it adopted, so all
//! servers of a component end with one stream whatever order they heard
//! things in. Under `epoch` a component that lost its sequencer elects the
//! lowest SID with members and starts epoch + 1; under `home` the
//! sequencer never changes and a component without it cannot send, unless
//! the sequencer shut down for good without handing the stream on (see
//! `sequencer_gone`): then the room elects as under `epoch`.
//!
//! A stream names its sequencer by SID *and incarnation*. A restarted
//! process has lost every number it issued, so it must never number a
//! stream its earlier incarnation numbered: the incarnation makes its
//! streams new ones (a room it creates afresh, one it is elected to), and
//! when it hears a stream naming its SID that it does not run (its earlier
//! incarnation's) it starts epoch + 1 under its own name instead.

use crate::message::HANDED_OVER;
use crate::vec_map::VecMap;
use crate::wire::Dec;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::{frame, verbatim, Dest, Room};
use crate::config::{Ordering, SendMode};
use crate::id_map::Found;
use crate::names::{fold, fold_cow, uid_sid};
use crate::outbox::{ChatNote, LinkId, Outbox, Stream};
use crate::server::Server;
use crate::time::Instant;
use crate::wire::{parse_u64, Encoder, Frame};

/// The fate of one number of a stream, as its sequencer knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Slot {
    /// Handed to `uid` at `at`; its message has not arrived.
    Held { uid: Arc<str>, at: Instant },
    /// Carries this message.
    Used {
        uid: Arc<str>,
        nick: Arc<str>,
        /// The sender's name for the message (opaque to servers), so
        /// members can tell a retried message from a new one.
        id: Arc<str>,
        text: Arc<str>,
    },
    /// Will never carry a message.
    Skipped,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Sequencer {
    pub next: u64,
    pub slots: BTreeMap<u64, Slot>,
    /// Numbers still held, oldest first (numbers are issued in time order).
    pub(crate) held: BTreeSet<u64>,
    /// Where each member's share of the stream starts, so a start point
    /// asked for again (RSTARTREQ) is the one first given, not a later one
    /// that would hide the messages in between; and the membership id it
    /// was given to, so that a successor taking the stream can tell a
    /// start point of an earlier membership (see handoff.rs).
    pub(crate) starts: BTreeMap<Arc<str>, (u64, u64)>,
    /// Under `send = "at-once"`: per message origin (a client names all
    /// its messages after one origin then), the highest count numbered and
    /// its number, to keep each origin's messages in its order (see
    /// [`Sequencer::in_origin_order`]). Empty when clients ask first:
    /// numbers are handed out in the order asked.
    pub(crate) last_k: BTreeMap<Arc<str>, (u64, u64)>,
    /// The numbers taken back (skipped) at the start of the handover that
    /// brought the stream here (as the state named them) or, on the old
    /// sequencer, of the one taking it away, and the members they were
    /// held for. A member's
    /// CSEND for one can reach us after our take (its NEWSEQ was on its
    /// way when the number was taken back) and is refused as handed over,
    /// at no try, as the old sequencer refuses it (`handover-refusal`).
    /// On a successor at most [`TAKEN_BACK`]; dropped at the next handover; a
    /// number skipped when its hold expired is never here.
    pub(crate) taken_back: Vec<(u64, Arc<str>)>,
}

/// Taken-back numbers a successor keeps per stream (see
/// [`Sequencer::taken_back`]): one a member at most, so a bound well
/// above a busy room's holds at any moment.
pub(crate) const TAKEN_BACK: usize = 64;

impl Sequencer {
    /// Whether number `n` was taken back from `uid` at the handover that
    /// brought the stream here, or that is taking it away.
    pub(crate) fn took_back(&self, n: u64, uid: &str) -> bool {
        self.taken_back.iter().any(|(t, u)| *t == n && **u == *uid)
    }

    fn new() -> Self {
        Sequencer {
            next: 1,
            ..Default::default()
        }
    }

    /// Under `send = "at-once"`: whether message `id` may take number
    /// `n` (`unnumbered`: it came with none, and `n` is the next), keeping
    /// each origin's messages numbered in its order; records it if so.
    /// A message sent with no number is numbered whenever it arrives, so
    /// a copy held up by a stalled link can arrive after its sender gave
    /// it up and said more (swarm-chat-at-once seed 766): refused when
    /// its count is no later than the last numbered of its origin. And a
    /// later message of the origin holding a number handed out before
    /// such a copy was numbered is refused too, and asks again (seed 695:
    /// a new session, not synced yet, asked first). Copies of earlier
    /// messages with numbers they hold are in order already: numbers are
    /// handed out in the order asked, and a client asks for one message
    /// at a time.
    pub(crate) fn in_origin_order(&mut self, id: &str, n: u64, unnumbered: bool) -> bool {
        let Some((origin, k)) = crate::client::split_id(id) else {
            return true;
        };
        let Some(last) = self.last_k.get_mut(origin) else {
            self.last_k.insert(origin.into(), (k, n));
            return true;
        };
        let (last_k, last_n) = *last;
        if unnumbered && k <= last_k || k > last_k && n < last_n {
            return false;
        }
        if k > last_k {
            *last = (k, n);
        }
        true
    }

    pub(crate) fn oldest_hold(&self) -> Option<Instant> {
        let n = self.held.first()?;
        match self.slots.get(n) {
            Some(Slot::Held { at, .. }) => Some(*at),
            _ => None,
        }
    }
}

/// A room message's place: room name, stream (epoch and sequencer name)
/// and number, as a client or a relay names it.
pub(crate) struct Numbered<'a> {
    pub name: &'a str,
    pub epoch: u64,
    pub seq: &'a str,
    pub n: u64,
}

/// Whether stream `a` is later than `b` in the lattice: a higher epoch,
/// then the smaller sequencer SID, then the later incarnation of the same
/// sequencer (the earlier one is dead).
pub fn stream_beats(a: &Stream, b: &Stream) -> bool {
    // A malformed name (only a misbehaving peer sends one) still orders,
    // as a SID of its own with incarnation 0.
    fn key(s: &Stream) -> (u64, std::cmp::Reverse<&str>, u64) {
        let (sid, inc) = sequencer_parts(&s.seq).unwrap_or((&s.seq, 0));
        (s.epoch, std::cmp::Reverse(sid), inc)
    }
    key(a) > key(b)
}

/// A stream's sequencer name: `SID-incarnation`.
pub(crate) fn sequencer_name(sid: &str, incarnation: u64) -> Arc<str> {
    format!("{sid}-{incarnation}").into()
}

/// Splits a sequencer name into its SID and incarnation; `None` unless it
/// is a valid SID, a dash and decimal digits.
pub(crate) fn sequencer_parts(seq: &str) -> Option<(&str, u64)> {
    // Every room message's relay reads this: a SID is three bytes, so the
    // dash is at 3 and no search is needed.
    let (sid, inc) = (seq.get(..3)?, seq.get(3..)?.strip_prefix('-')?);
    crate::server::sid_code(sid)?;
    Some((sid, parse_u64(inc)?))
}

/// A membership id no other membership of the network has: the
/// server's SID in the top 24 bits, its incarnation in the next 16, and
/// its count of memberships in the low 24 (so unique while a server
/// restarts fewer than 65,536 times and one incarnation makes fewer than
/// 16,777,216 memberships). A count per server alone made a user's new
/// membership, on another server after a move, take the id of one it had
/// left, and a leave or a start point of the old one then passed for the
/// new one's (swarm-chat with leaves, seed 63).
pub(crate) fn membership_id(sid: &str, incarnation: u64, n: u64) -> u64 {
    let code = sid.bytes().take(3).fold(0u64, |c, b| c << 8 | u64::from(b));
    code << 40 | (incarnation & 0xFFFF) << 24 | (n & 0xFF_FFFF)
}

impl Server {
    fn room_key<'a>(&self, name: &'a str) -> Option<Cow<'a, str>> {
        let k = fold_cow(name);
        self.chat.rooms.contains_key(&k).then_some(k)
    }

    /// This process's name as a sequencer.
    pub(super) fn my_sequencer_name(&self) -> Arc<str> {
        let incarnation = if self.cfg.ablations.no_seq_incarnation {
            0
        } else {
            self.me.incarnation
        };
        sequencer_name(&self.me.sid, incarnation)
    }

    /// Where the sequencer a stream names is, from here.
    /// Where the sequencer of the room `key`'s stream `seq` is: the
    /// server named in `seq`, or the one it was handed to at a shutdown.
    pub(crate) fn dest_of_sequencer(&self, key: &str, seq: &str) -> Dest {
        self.dest_of_sid(self.sequencer_sid(key, seq).unwrap_or(""))
    }

    /// The SID of the server that sequences stream `seq` of room `key`.
    pub(crate) fn sequencer_sid<'a>(&'a self, key: &str, seq: &'a str) -> Option<&'a str> {
        if !self.chat.holders.is_empty() {
            if let Some(h) = self.chat.holders.get(key, seq) {
                return Some(&h.sid);
            }
        }
        sequencer_parts(seq).map(|(sid, _)| sid)
    }

    /// The incarnation of the server `sid` as this server knows it.
    fn incarnation_of_sid(&self, sid: &str) -> Option<u64> {
        if sid == &*self.me.sid {
            return Some(self.me.incarnation);
        }
        // The first by name of the servers that hold the SID (two may,
        // for a while, after a collision).
        self.known
            .iter()
            .filter(|k| *k.sid == *sid)
            .min_by(|a, b| a.name().cmp(b.name()))
            .map(|k| k.incarnation)
    }

    /// Creates a room with this server as its sequencer.
    pub(crate) fn create_room(&mut self, now: Instant, name: &str, out: &mut Outbox) {
        let stream = Stream {
            epoch: 1,
            seq: self.my_sequencer_name(),
        };
        let room = Room {
            name: name.into(),
            ts: self.wall_secs(now),
            members: VecMap::new(),
            stream,
            seq: Some(Box::new(Sequencer::new())),
            // Kept from the first join (a room starts empty), so no
            // message waits for a walk of its members.
            fanout: Some(Fanout::new()),
        };
        self.announce_room(&room, None, out);
        let key = crate::intern::arc(&fold(name));
        self.note_sequenced_in_drain(&key);
        self.chat.rooms.insert(key, room);
    }

    /// A room we began to sequence: if we are shutting down, the drain
    /// hands it over at its next step.
    fn note_sequenced_in_drain(&mut self, key: &Arc<str>) {
        if self.draining.is_some() && !self.cfg.ablations.no_drain_new_streams {
            self.chat.sequenced_in_drain.push(key.clone());
        }
    }

    pub(super) fn announce_room(&mut self, r: &Room, except: Option<LinkId>, out: &mut Outbox) {
        let (ts, epoch) = (Dec::new(r.ts), Dec::new(r.stream.epoch));
        self.flood(
            except,
            frame("ROOM", &[&r.name, &ts, &epoch, &r.stream.seq]),
            out,
        );
    }

    /// A local user joins (the room exists). Returns false if it already was a member.
    pub(crate) fn join_local(&mut self, key: &str, uid: &Arc<str>, out: &mut Outbox) -> bool {
        let room = self.chat.rooms.get_mut(key).expect("room exists");
        if room.members.contains_key(uid) {
            return false;
        }
        self.chat.next_mem += 1;
        let memid = if self.cfg.ablations.no_unique_memid {
            self.chat.next_mem
        } else {
            membership_id(&self.me.sid, self.me.incarnation, self.chat.next_mem)
        };
        room.members.insert(uid.clone(), memid);
        let name = room.name.clone();
        let shared = crate::intern::arc(key);
        if let Some(u) = self.chat.users.get_mut(uid) {
            u.rooms.insert(shared);
            fan_join(&mut room.fanout, uid, u.via);
        }
        let m = Dec::new(memid);
        self.flood(None, frame("RJOIN", &[&name, uid, &m]), out);
        if self.chat.rooms[key].seq.is_some() {
            self.new_membership(key, uid, out);
        } else {
            self.await_start(key, uid);
        }
        true
    }

    /// A local user leaves. Returns false if it was not a member.
    pub(crate) fn leave_local(&mut self, key: &str, uid: &Arc<str>, out: &mut Outbox) -> bool {
        let Some(room) = self.chat.rooms.get(key) else {
            return false;
        };
        let Some(&memid) = room.members.get(uid) else {
            return false;
        };
        let name = room.name.clone();
        self.drop_membership(key, uid, out);
        if let Some(u) = self.chat.users.get_mut(uid) {
            u.rooms.remove(key);
        }
        let m = Dec::new(memid);
        self.flood(None, frame("RLEAVE", &[&name, uid, &m]), out);
        true
    }

    /// Removes a membership; the sequencer gives up numbers its holder held.
    pub(crate) fn drop_membership(&mut self, key: &str, uid: &str, out: &mut Outbox) {
        let via = self.chat.users.get(uid).map(|u| u.via);
        self.drop_membership_via(key, uid, via, out);
    }

    /// [`Server::drop_membership`] of a member behind `via` (`None`: its
    /// user is not in the table, so no fan-out counted it).
    pub(crate) fn drop_membership_via(
        &mut self,
        key: &str,
        uid: &str,
        via: Option<LinkId>,
        out: &mut Outbox,
    ) {
        let Some(room) = self.chat.rooms.get_mut(key) else {
            return;
        };
        if room.members.remove(uid).is_none() {
            return;
        }
        if let Some(via) = via {
            let users = &self.chat.users;
            let members = &room.members;
            fan_leave(&mut room.fanout, uid, via, || {
                next_behind(members, uid, via, |u| users.get(u).map(|u| u.via))
            });
        }
        let Some(seq) = room.seq.as_mut() else {
            return;
        };
        seq.starts.remove(uid);
        let doomed: Vec<u64> = seq
            .held
            .iter()
            .copied()
            .filter(|n| matches!(seq.slots.get(n), Some(Slot::Held { uid: h, .. }) if &**h == uid))
            .collect();
        for n in doomed {
            self.skip_number(key, n, out);
        }
    }

    /// The sequencer learned of a membership: tell the member where its
    /// share of the stream starts.
    pub(crate) fn new_membership(&mut self, key: &str, uid: &Arc<str>, out: &mut Outbox) {
        let room = self.chat.rooms.get_mut(key).expect("room exists");
        // Only the sequencer keeps start points: the others (all but one
        // server a join crosses) need not search the members.
        let Some(seq) = room.seq.as_mut() else {
            return;
        };
        let memid = room.members.get(uid).copied().unwrap_or(0);
        seq.starts.insert(uid.clone(), (seq.next, memid));
        self.send_start(key, uid, false, out);
    }

    /// Tells a member (through its server) where its share of the stream
    /// starts, as first given (this server is the sequencer). Asked again
    /// (`again`), it also tells where the stream is now: the member may
    /// have missed every message numbered since it started, and a second
    /// start point for the same stream is how a client learns that numbers
    /// below it exist and fetches them.
    pub(crate) fn send_start(&mut self, key: &str, uid: &Arc<str>, again: bool, out: &mut Outbox) {
        let room = &self.chat.rooms[key];
        let Some(seq) = &room.seq else {
            return;
        };
        let Some(&(start, memid)) = seq.starts.get(uid) else {
            return;
        };
        let (name, epoch, sid, m) = (
            room.name.clone(),
            room.stream.epoch.to_string(),
            room.stream.seq.clone(),
            memid.to_string(),
        );
        let mut points = vec![start];
        if again && seq.next > start {
            points.push(seq.next);
        }
        let dest = self.dest_of_uid(uid);
        for p in points {
            let next = Dec::new(p);
            match dest {
                Dest::Client(l) => out.send(l, frame("SYNC", &[&name, &epoch, &sid, &next])),
                Dest::Link(l) => {
                    out.send(l, frame("RSTART", &[uid, &name, &epoch, &sid, &next, &m]));
                }
                _ => {}
            }
        }
    }

    /// Hands out the next number of a room's stream (this server is its
    /// sequencer). `None` if the room has no stream here.
    pub(crate) fn issue_number(
        &mut self,
        now: Instant,
        key: &str,
        uid: &str,
    ) -> Option<(Stream, u64)> {
        let room = self.chat.rooms.get_mut(key)?;
        let seq = room.seq.as_mut()?;
        let n = seq.next;
        seq.next += 1;
        seq.slots.insert(
            n,
            Slot::Held {
                uid: uid.into(),
                at: now,
            },
        );
        let first = seq.held.is_empty();
        seq.held.insert(n);
        let stream = room.stream.clone();
        if first {
            self.chat.hold_queue.insert((now, key.to_string()));
        }
        self.arm(now + self.cfg.seq_hold);
        Some((stream, n))
    }

    /// Sequencer: a message arrived for number `m.n`. Returns an error
    /// reason if it cannot carry it.
    pub(crate) fn accept_message(
        &mut self,
        key: &str,
        m: &Numbered<'_>,
        uid: &str,
        id: &str,
        text: &str,
        out: &mut Outbox,
    ) -> Result<(), &'static str> {
        let (epoch, sid, n) = (m.epoch, m.seq, m.n);
        let nick = match self.chat.users.get(uid) {
            Some(u) => u.nick.clone(),
            None => return Err("unknown sender"),
        };
        let room = self.chat.rooms.get_mut(key).ok_or("no such room")?;
        if room.stream.epoch != epoch || *room.stream.seq != *sid {
            return Err("stale stream");
        }
        let seq = room.seq.as_mut().ok_or("not the sequencer")?;
        // The holder's UID as the slot keeps it, shared rather than
        // copied again (a copy only where the ablation takes any sender).
        let (n, uid): (u64, Arc<str>) = match seq.slots.get(&n) {
            // Sent at once, with no number: numbered here as it arrives,
            // if its sender is a member (the member list's copy of the UID).
            _ if n == 0 => match room.members.get_key_value(uid) {
                Some((member, _)) => (seq.next, member.clone()),
                None => return Err("not a member"),
            },
            Some(Slot::Held { uid: h, .. }) if **h == *uid => (n, h.clone()),
            _ if self.cfg.ablations.no_seq_check => (n, uid.into()),
            // Taken back at the handover that brought the stream here,
            // from this sender (see `Sequencer::taken_back`).
            _ if !self.cfg.ablations.no_handover_refusal && seq.took_back(n, uid) => {
                return Err(HANDED_OVER)
            }
            _ => return Err("number not held"),
        };
        if self.cfg.send == SendMode::AtOnce
            && !self.cfg.ablations.no_origin_order
            && !seq.in_origin_order(id, n, m.n == 0)
        {
            return Err("out of its sender's order");
        }
        if m.n == 0 {
            seq.next += 1;
        }
        let uid = &uid;
        let text: Arc<str> = text.into();
        let id: Arc<str> = id.into();
        let at_once = (m.n == 0).then(|| id.clone());
        seq.slots.insert(
            n,
            Slot::Used {
                uid: uid.clone(),
                nick: nick.clone(),
                id: id.clone(),
                text: text.clone(),
            },
        );
        seq.held.remove(&n);
        let (name, stream) = (room.name.clone(), room.stream.clone());
        Self::chat_note(
            out,
            ChatNote::Sequenced {
                room: name.clone(),
                stream: stream.clone(),
                n,
                uid: uid.clone(),
                at_once,
            },
        );
        let range = out.encode(|b| {
            let mut e = Encoder::begin(b, "RMSG");
            e.arg(&name)
                .arg_u64(stream.epoch)
                .arg(&stream.seq)
                .arg_u64(n)
                .arg(uid)
                .arg(&nick)
                .arg(&id)
                .arg(&text);
            e.finish()
        });
        if let Some(r) = range {
            self.fan_out(key, None, r, out);
        }
        Ok(())
    }

    /// Sends an encoded room frame to local members and toward every
    /// server with members, except back on `from`.
    fn fan_out(&mut self, key: &str, from: Option<LinkId>, r: (u32, u32), out: &mut Outbox) {
        self.fan_out_with(key, from, out, |_| Some(r));
    }

    /// [`Server::fan_out`] of the frame `frame` writes into `out`, written
    /// only if the room `key` is known here (and sent only if written).
    #[inline(always)]
    fn fan_out_with(
        &mut self,
        key: &str,
        from: Option<LinkId>,
        out: &mut Outbox,
        frame: impl FnOnce(&mut Outbox) -> Option<(u32, u32)>,
    ) {
        let Some(room) = self.chat.rooms.get_mut(key) else {
            return;
        };
        #[cfg(debug_assertions)]
        if let Some(kept) = &room.fanout {
            // Every test checks the upkeep against the walk it replaces.
            let walked = fanout_walk(&room.members, |uid| self.chat.users.get(uid).map(|u| u.via));
            assert_eq!(kept, &walked, "room {key}: kept fan-out");
        }
        if room.fanout.is_none() {
            let users = &self.chat.users;
            room.fanout = Some(fanout_walk(&room.members, |uid| {
                users.get(uid).map(|u| u.via)
            }));
        }
        let Some(r) = frame(out) else {
            return;
        };
        let everyone = self.cfg.ablations.no_room_routing;
        let cached = room.fanout.as_ref().expect("just built");
        if !everyone {
            for f in cached {
                if Some(f.link) != from {
                    out.send_again(f.link, r);
                    self.stats.frames_out += 1;
                }
            }
            return;
        }
        let mut links: Vec<LinkId> = cached
            .iter()
            .map(|f| f.link)
            .filter(|&l| Some(l) != from)
            .collect();
        if everyone {
            // Research switch: every local client gets the room's traffic.
            for (&l, c) in &self.chat.clients {
                if c.uid.is_some() && !links.contains(&l) {
                    links.push(l);
                }
            }
        }
        for l in links {
            out.send_again(l, r);
            self.stats.frames_out += 1;
        }
    }

    /// Sequencer: number `n` will not be used; members are told.
    pub(crate) fn skip_number(&mut self, key: &str, n: u64, out: &mut Outbox) {
        let Some(room) = self.chat.rooms.get_mut(key) else {
            return;
        };
        let Some(seq) = room.seq.as_mut() else {
            return;
        };
        seq.slots.insert(n, Slot::Skipped);
        seq.held.remove(&n);
        let (name, stream) = (room.name.clone(), room.stream.clone());
        Self::chat_note(
            out,
            ChatNote::SeqSkipped {
                room: name.clone(),
                stream: stream.clone(),
                n,
            },
        );
        let range = out.encode(|b| {
            let mut e = Encoder::begin(b, "SKIPSEQ");
            e.arg(&name)
                .arg_u64(stream.epoch)
                .arg(&stream.seq)
                .arg_u64(n);
            e.finish()
        });
        if let Some(r) = range {
            self.fan_out(key, None, r, out);
        }
    }

    /// Skips numbers held longer than `seq_hold`.
    pub(crate) fn expire_holds(&mut self, now: Instant, out: &mut Outbox) {
        let hold = self.cfg.seq_hold;
        // The rooms whose oldest hold is due, in name order (the order
        // the numbers are skipped in); the others hold nothing due.
        let mut rooms: Vec<String> = Vec::new();
        while let Some(at) = self.first_hold() {
            if now.saturating_since(at) < hold {
                break;
            }
            let (_, key) = self.chat.hold_queue.pop_first().expect("a first hold");
            rooms.push(key);
        }
        rooms.sort_unstable();
        rooms.dedup();
        let mut due: Vec<(String, u64)> = Vec::new();
        for key in &rooms {
            if let Some(s) = self.chat.rooms.get(key).and_then(|r| r.seq.as_ref()) {
                for &n in &s.held {
                    match s.slots.get(&n) {
                        Some(Slot::Held { at, .. }) if now.saturating_since(*at) >= hold => {
                            due.push((key.clone(), n))
                        }
                        _ => break,
                    }
                }
            }
        }
        for (key, n) in due {
            self.skip_number(&key, n, out);
        }
        for key in rooms {
            if let Some(t) = self.oldest_hold_of(&key) {
                self.chat.hold_queue.insert((t, key));
            }
        }
    }

    /// Answers a request for number `n` of the room's stream: the message
    /// again, or a skip. Returns what to send toward `uid`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn find_number(
        &mut self,
        key: &str,
        epoch: u64,
        sid: &str,
        n: u64,
        uid: &str,
        out: &mut Outbox,
    ) {
        let Some(room) = self.chat.rooms.get(key) else {
            return;
        };
        let name = room.name.clone();
        let current = room.stream.epoch == epoch && *room.stream.seq == *sid;
        let (e, s, nn) = (Dec::new(epoch), sid.to_string(), Dec::new(n));
        if !current {
            // A closed stream: nobody will fill the gap any more.
            return self.send_to_member(uid, "SKIPSEQ", "RSKIPTO", &[&name, &e, &s, &nn], out);
        }
        if room.seq.is_none() {
            // The current stream, numbered elsewhere.
            if let Dest::Link(l) = self.dest_of_sequencer(key, sid) {
                out.send(l, frame("RFIND", &[&name, &e, &s, &nn, uid]));
            }
            return;
        }
        let slot = room.seq.as_ref().and_then(|q| q.slots.get(&n)).cloned();
        match slot {
            Some(Slot::Used {
                uid: from,
                nick,
                id,
                text,
            }) => self.send_to_member(
                uid,
                "RMSG",
                "RRESEND",
                &[&name, &e, &s, &nn, &from, &nick, &id, &text],
                out,
            ),
            Some(Slot::Skipped) => {
                self.send_to_member(uid, "SKIPSEQ", "RSKIPTO", &[&name, &e, &s, &nn], out)
            }
            Some(Slot::Held { .. }) => {} // its holder may still send it
            // Below `next` and unknown: issued by an earlier process of
            // this stream's numbering, never to be filled. At or above
            // `next`: not issued yet, nothing to say.
            None if room.seq.as_ref().is_some_and(|q| n < q.next) => {
                self.send_to_member(uid, "SKIPSEQ", "RSKIPTO", &[&name, &e, &s, &nn], out)
            }
            None => {}
        }
    }

    /// Sends `args` to the member `uid`: as `client_cmd` to a local client,
    /// or wrapped as `relay_cmd` (UID first) toward its server.
    fn send_to_member(
        &mut self,
        uid: &str,
        client_cmd: &str,
        relay_cmd: &str,
        args: &[&str],
        out: &mut Outbox,
    ) {
        match self.dest_of_uid(uid) {
            Dest::Client(l) => out.send(l, frame(client_cmd, args)),
            Dest::Link(l) => {
                let mut v: Vec<&str> = Vec::with_capacity(args.len() + 1);
                v.push(uid);
                v.extend_from_slice(args);
                out.send(l, frame(relay_cmd, &v));
            }
            _ => {}
        }
    }

    /// Adopts `stream` for a room if it beats the current one.
    pub(super) fn adopt_stream(&mut self, key: &str, stream: Stream, out: &mut Outbox) -> bool {
        let me = self.my_sequencer_name();
        let room = self.chat.rooms.get_mut(key).expect("room exists");
        if !stream_beats(&stream, &room.stream) {
            return false;
        }
        room.stream = stream;
        room.seq = None;
        if room.stream.seq == me {
            self.take_office(key, out);
        } else {
            let members: Vec<Arc<str>> = room.members.keys().cloned().collect();
            for uid in members {
                self.await_start(key, &uid);
            }
        }
        true
    }

    /// A local member of `key` needs its start point from the room's
    /// sequencer, another server. The sequencer sends it unasked (RSTART)
    /// when it learns of the membership or takes office, but that frame is
    /// directed, and one routed along a link that a loop break or a cut
    /// drops on the way is lost with nobody to notice; until it arrives,
    /// the member's server asks again (RSTARTREQ) every `find_delay`.
    pub(crate) fn await_start(&mut self, key: &str, uid: &Arc<str>) {
        if self.cfg.ablations.no_start_retry || !matches!(self.dest_of_uid(uid), Dest::Client(_)) {
            return;
        }
        self.start_awaited(key, uid);
    }

    /// The server `sid` came into this server's view, fresh: if it
    /// sequences rooms our members are in, it may have lost sight of us
    /// meanwhile, dropped their memberships and, when our bursts brought
    /// them back, given them start points past what it numbered in
    /// between. That RSTART is directed, and lost if a loop break drops
    /// the link it takes; we had a start point, so no retry covered it,
    /// and the member held at its old one for good
    /// (start-point-lost-after-a-split.toml). So every such start point is
    /// awaited again: the answer is the one the sequencer holds, the old
    /// one if nothing changed.
    pub(crate) fn sequencer_back(&mut self, sid: &str) {
        if self.cfg.ablations.no_start_recheck
            || self.cfg.ablations.no_start_retry
            || self.chat.rooms.is_empty()
        {
            return;
        }
        let mut due: Vec<(Arc<str>, Arc<str>)> = Vec::new();
        for (key, r) in self.chat.rooms.iter() {
            if r.seq.is_some() || self.sequencer_sid(key, &r.stream.seq) != Some(sid) {
                continue;
            }
            for (uid, _) in r.members.iter() {
                if matches!(self.dest_of_uid(uid), Dest::Client(_)) {
                    due.push((key.clone(), uid.clone()));
                }
            }
        }
        for (key, uid) in due {
            self.start_awaited(&key, &uid);
        }
    }

    /// Awaits `uid`'s start point in room `key`, timed (and the server
    /// armed) at the end of the input.
    pub(crate) fn start_awaited(&mut self, key: &str, uid: &Arc<str>) {
        let k = (key.to_string(), uid.clone());
        self.chat.starts.insert(k.clone(), None);
        self.chat.starts_unarmed.push(k);
    }

    /// Gives a time to the start points awaited since the input began,
    /// and wakes the server then: nothing else may (found by a mutant:
    /// a lost start point was asked for again only at the next ping).
    pub(crate) fn arm_starts(&mut self, now: Instant) {
        let again = now + self.cfg.find_delay;
        let mut fresh = false;
        for k in std::mem::take(&mut self.chat.starts_unarmed) {
            if let Some(t @ None) = self.chat.starts.get_mut(&k) {
                *t = Some(again);
                fresh = true;
            }
        }
        if fresh {
            self.arm(again);
        }
    }

    /// Asks again for the start points still awaited whose time has come;
    /// forgets those no longer needed (the member left), and gives those of
    /// a room this server now sequences itself.
    pub(crate) fn retry_starts(&mut self, now: Instant, out: &mut Outbox) {
        let due: Vec<(String, Arc<str>)> = self
            .chat
            .starts
            .iter()
            .filter(|(_, t)| t.is_some_and(|t| t <= now))
            .map(|(k, _)| k.clone())
            .collect();
        for (key, uid) in due {
            let member = self
                .chat
                .rooms
                .get(&key)
                .is_some_and(|r| r.members.contains_key(&uid))
                && matches!(self.dest_of_uid(&uid), Dest::Client(_));
            if !member {
                self.chat.starts.remove(&(key, uid));
                continue;
            }
            if self.chat.rooms[&key].seq.is_some() {
                // We took the stream over (a handover) while our member
                // still awaited the start point the old sequencer sent and
                // lost: the state we took holds it, and nobody else will
                // send it (swarm-discovery seed 15028,
                // start-awaited-by-the-taker.toml).
                if !self.cfg.ablations.no_taker_starts {
                    self.send_start(&key, &uid, true, out);
                }
                self.chat.starts.remove(&(key, uid));
                continue;
            }
            let room = &self.chat.rooms[&key];
            // No sequencer in reach: the room's re-election names one,
            // whose start point is awaited in turn; meanwhile keep asking.
            if let Dest::Link(l) = self.dest_of_sequencer(&key, &room.stream.seq) {
                out.send(l, frame("RSTARTREQ", &[&room.name, &uid]));
            }
            self.chat
                .starts
                .insert((key, uid), Some(now + self.cfg.find_delay));
        }
    }

    /// This server becomes the sequencer of a fresh stream it names: it
    /// tells every member where to start.
    fn take_office(&mut self, key: &str, out: &mut Outbox) {
        let room = self.chat.rooms.get_mut(key).expect("room exists");
        room.seq = Some(Box::new(Sequencer::new()));
        if self.draining.is_some() {
            let shared = self
                .chat
                .rooms
                .get_key_value(key)
                .expect("room exists")
                .0
                .clone();
            self.note_sequenced_in_drain(&shared);
        }
        let room = &self.chat.rooms[key];
        let members: Vec<Arc<str>> = room.members.keys().cloned().collect();
        for uid in members {
            self.new_membership(key, &uid, out);
        }
    }

    /// Rooms whose sequencer left this component elect another: under
    /// `epoch` all of them, under `home` only those whose sequencer shut
    /// down for good without handing them on (`sequencer_gone`).
    pub(crate) fn reelect(&mut self, out: &mut Outbox) {
        // A server closing its links on the way out elects nothing: a ROOM
        // it sent would reach the others before its SCLOSE.
        if self.stopped {
            return;
        }
        // Under `home` the end of a grace only answers the requests it
        // held (with no number).
        self.end_grace();
        let epoch = self.cfg.ordering == Ordering::Epoch;
        if !epoch && self.chat.gone.is_empty() {
            return;
        }
        let lost: Vec<Arc<str>> = self
            .chat
            .rooms
            .iter()
            .filter(|(k, r)| {
                self.dest_of_sequencer(k, &r.stream.seq) == Dest::Nowhere
                    && (epoch || self.sequencer_gone(k, &r.stream.seq))
            })
            .map(|(k, _)| k.clone())
            .collect();
        for key in lost {
            self.elect(&key, out);
        }
    }

    /// Whether the process that numbers stream `seq` of room `key` shut
    /// down gracefully, so that nobody will ever number it again: the
    /// server it names (or the one it was handed to) was heard to shut
    /// down, and no later incarnation of it has been seen since. Under
    /// `home` a room waits for its home to come back after a crash; a
    /// home that restarted and then shut down before it heard of the room
    /// (so had nothing to hand over) never will.
    pub(crate) fn sequencer_gone(&self, key: &str, seq: &str) -> bool {
        if self.chat.gone.is_empty() || self.cfg.ablations.no_gone_sequencer {
            return false;
        }
        // A holder's incarnation is not recorded, but its SID's record
        // lasts only until a later incarnation shows up.
        let (sid, inc) = match self.chat.holders.get(key, seq) {
            Some(h) => (&*h.sid, None),
            None => match sequencer_parts(seq) {
                Some((sid, inc)) => (sid, Some(inc)),
                None => return false,
            },
        };
        let Some(code) = crate::server::sid_code(sid) else {
            return false;
        };
        self.chat
            .gone
            .get(&code)
            .is_some_and(|&g| inc.is_none_or(|inc| inc <= g))
    }

    /// A server shut down gracefully (its SCLOSE, or a SQUIT saying so):
    /// remember it until a later incarnation of its SID shows up.
    pub(crate) fn note_gone(&mut self, sid: &str, incarnation: u64) {
        if let Some(code) = crate::server::sid_code(sid) {
            let g = self.chat.gone.entry(code).or_insert(incarnation);
            *g = (*g).max(incarnation);
        }
    }

    /// The room `key` elects the lowest SID among its members' servers
    /// (else the lowest SID known) for the next epoch, and tells everyone.
    fn elect(&mut self, key: &str, out: &mut Outbox) {
        let room = &self.chat.rooms[key];
        let mut best: Option<Arc<str>> = None;
        for uid in room.members.keys() {
            if let Some(u) = self.chat.users.get(uid) {
                if best.as_ref().is_none_or(|b| u.sid < *b) {
                    best = Some(u.sid.clone());
                }
            }
        }
        let best = best.unwrap_or_else(|| {
            let lowest = self
                .known
                .iter()
                .map(|k| k.sid_str())
                .chain(std::iter::once(&*self.me.sid))
                .min()
                .expect("at least this server");
            crate::intern::arc(lowest)
        });
        // The elected server's incarnation, as every server of the
        // component knows it, names the stream: if it restarts, its
        // next process cannot take this stream for one of its own.
        let seq = if best == self.me.sid {
            self.my_sequencer_name()
        } else {
            let Some(inc) = self.incarnation_of_sid(&best) else {
                return;
            };
            let inc = if self.cfg.ablations.no_seq_incarnation {
                0
            } else {
                inc
            };
            sequencer_name(&best, inc)
        };
        let stream = Stream {
            epoch: room.stream.epoch.saturating_add(1),
            seq,
        };
        if self.adopt_stream(key, stream, out) {
            let r = self.chat.rooms[key].clone();
            self.announce_room(&r, None, out);
        }
    }

    /// RMSG and SKIPSEQ: a numbered entry of a room's stream, from its
    /// sequencer toward the members.
    fn on_numbered(&mut self, link: LinkId, f: &Frame, raw: &[u8], out: &mut Outbox) -> bool {
        let Some(name) = f.arg(0) else {
            return false;
        };
        self.on_numbered_args(link, name, f.arg(2).unwrap_or(""), raw, out)
    }

    /// [`Server::on_numbered`] on the room and sequencer names alone (a
    /// plain RMSG is read off the bytes, with no `Frame`). False if
    /// malformed, before anything is done.
    pub(crate) fn on_numbered_args(
        &mut self,
        link: LinkId,
        name: &str,
        seq_name: &str,
        raw: &[u8],
        out: &mut Outbox,
    ) -> bool {
        let Some((seq, _)) = sequencer_parts(seq_name) else {
            return false;
        };
        // From the stream's sequencer: the one named in it, or its
        // successor after a handover.
        let holder = if self.chat.holders.is_empty() {
            None
        } else {
            self.chat
                .holders
                .get(&fold_cow(name), seq_name)
                .map(|h| h.sid.clone())
        };
        if !self.check_direction(link, holder.as_deref().unwrap_or(seq), "RMSG", out) {
            return true;
        }
        // The room found once: each lookup hashes the name in the shared
        // id table, and a room message crosses every server with members.
        self.fan_out_with(&fold_cow(name), Some(link), out, |out| {
            out.encode(verbatim(raw))
        });
        true
    }

    /// An RSEND's arguments (room, epoch, stream, number, UID, id, text):
    /// a message on its way to its room's sequencer. False if malformed.
    pub(crate) fn on_rsend_args(
        &mut self,
        link: LinkId,
        [name, epoch, seq, n, uid, id, text]: [&str; 7],
        raw: &[u8],
        out: &mut Outbox,
    ) -> bool {
        let (Some(epoch), Some(n), Some(_)) = (parse_u64(epoch), parse_u64(n), uid_sid(uid)) else {
            return false;
        };
        if !self.check_user_direction(link, uid, "RSEND", out) {
            return true;
        }
        let m = Numbered {
            name,
            epoch,
            seq,
            n,
        };
        self.route_message(m, uid, id, text, Some(raw), out);
        true
    }

    /// ROOM and the R* messages from a server link. False if malformed.
    pub(crate) fn on_room_msg(
        &mut self,
        now: Instant,
        link: LinkId,
        f: &Frame,
        raw: &[u8],
        out: &mut Outbox,
    ) -> bool {
        if f.command() == "RMSG" {
            // Most of a server's room traffic, so not after eight other names.
            return self.on_numbered(link, f, raw, out);
        }
        match f.command().as_bytes() {
            b"ROOM" => {
                let Some([name, ts, epoch, seq]) = f.args_exact::<4>() else {
                    return false;
                };
                let (Some(ts), Some(epoch)) = (parse_u64(ts), parse_u64(epoch)) else {
                    return false;
                };
                let Some((seq_sid, _)) = sequencer_parts(seq) else {
                    return false;
                };
                if !crate::names::valid_room(name) {
                    return false;
                }
                let key = fold(name);
                let heard = Stream {
                    epoch,
                    seq: seq.into(),
                };
                let mut stream = heard.clone();
                let holder = self.chat.holders.get(&key, seq);
                // Ours by name (and not handed away), or handed to us.
                let ours = match holder {
                    Some(h) => *h.sid == *self.me.sid,
                    None => seq_sid == &*self.me.sid,
                };
                if ours
                    && self.chat.rooms.get(&key).is_none_or(|r| {
                        // Handing it over at a shutdown counts as running it.
                        let runs_it = r.stream == heard
                            && (r.seq.is_some() || self.chat.handing.contains_key(&key));
                        !(runs_it || stream_beats(&r.stream, &heard))
                    })
                {
                    // Named sequencer or holder of a stream this process does
                    // not run (an earlier incarnation's: it restarted), which would
                    // win here: its numbers are lost with that process, so
                    // start a new stream above it rather than number it again.
                    stream = Stream {
                        epoch: epoch.saturating_add(1),
                        seq: self.my_sequencer_name(),
                    };
                }
                if !self.chat.rooms.contains_key(&key) {
                    let room = Room {
                        name: name.into(),
                        ts,
                        members: VecMap::new(),
                        stream: Stream {
                            epoch: 0,
                            seq: "".into(),
                        },
                        seq: None,
                        fanout: Some(Fanout::new()),
                    };
                    self.chat.rooms.insert(crate::intern::arc(&key), room);
                }
                let adopted = self.adopt_stream(&key, stream.clone(), out);
                let room = self.chat.rooms.get_mut(&key).expect("room exists");
                room.ts = room.ts.min(ts);
                let r = room.clone();
                if adopted {
                    self.announce_room(&r, Some(link), out);
                    if r.stream != heard {
                        // Also tell the sender what we started.
                        let (t, e) = (Dec::new(r.ts), Dec::new(r.stream.epoch));
                        out.send(link, frame("ROOM", &[&r.name, &t, &e, &r.stream.seq]));
                    }
                } else if stream_beats(&r.stream, &heard) {
                    // The sender is behind: let its side catch up.
                    let (t, e) = (Dec::new(r.ts), Dec::new(r.stream.epoch));
                    out.send(link, frame("ROOM", &[&r.name, &t, &e, &r.stream.seq]));
                }
                // A stream nobody will number again, heard from a side
                // that did not see its sequencer shut down: elect, as that
                // side would have (the flood reaches the sender too).
                if !self.stopped
                    && self.sequencer_gone(&key, &r.stream.seq)
                    && self.dest_of_sequencer(&key, &r.stream.seq) == Dest::Nowhere
                {
                    self.elect(&key, out);
                }
                true
            }
            b"RJOIN" | b"RLEAVE" => {
                let Some([name, uid, memid]) = f.args_exact::<3>() else {
                    return false;
                };
                let (Some(_), Some(memid)) = (uid_sid(uid), parse_u64(memid)) else {
                    return false;
                };
                // One search each of the users and the rooms: a join
                // crosses every server, and nothing below adds or
                // removes a user or a room before the entries are read.
                let user = self.chat.users.find(uid);
                if !self.check_found_user_direction(link, uid, user, "RJOIN/RLEAVE", out) {
                    return true;
                }
                let key = fold_cow(name);
                let Found::Here(room_id) = self.chat.rooms.find(&key) else {
                    return true;
                };
                let Some((uid, u)) = (match user {
                    Found::Here(id) => self.chat.users.at(id),
                    _ => None,
                }) else {
                    return true;
                };
                let (uid, home, via) = (uid.clone(), u.sid.clone(), u.via);
                if f.command() == "RJOIN" {
                    self.sync_confirm(&home, link, &uid, Some(&key));
                }
                let chat = &mut self.chat;
                let (shared, room) = chat.rooms.at_mut(room_id).expect("room found");
                if f.command() == "RJOIN" {
                    // One search of the members for the test and the write.
                    let renewed = match room.members.position(&uid) {
                        Ok(i) if *room.members.value_at_mut(i) == memid => return true,
                        Ok(i) => {
                            *room.members.value_at_mut(i) = memid;
                            true
                        }
                        Err(i) => {
                            room.members.insert_at(i, uid.clone(), memid);
                            false
                        }
                    };
                    // The room table's copy of the key, not the interner's
                    // (a search of every name the process holds).
                    let shared = shared.clone();
                    if !renewed {
                        fan_join(&mut room.fanout, &uid, via);
                    }
                    // Only the sequencer keeps start points.
                    let sequencer = room.seq.is_some();
                    if let Found::Here(id) = user {
                        if let Some((_, u)) = chat.users.at_mut(id) {
                            u.rooms.insert(shared);
                        }
                    }
                    self.flood(Some(link), verbatim(raw), out);
                    if sequencer {
                        self.new_membership(&key, &uid, out);
                    }
                } else {
                    let current = room.members.get(&uid).copied();
                    if current != Some(memid) {
                        return true; // an older membership: the new one stays
                    }
                    self.drop_membership_via(&key, &uid, Some(via), out);
                    if let Some(u) = self.chat.users.get_mut(&uid) {
                        u.rooms.remove(&key);
                    }
                    self.flood(Some(link), verbatim(raw), out);
                }
                true
            }
            b"RSEQREQ" => {
                // room, uid[, the server it is for]: a request re-sent by a
                // sequencer that handed the stream over names the new
                // holder, and goes there whatever our view of the
                // sequencer (see handoff.rs).
                let (name, uid, to) = match f.args_exact::<3>() {
                    Some([name, uid, to]) => (name, uid, Some(to)),
                    None => match f.args_exact::<2>() {
                        Some([name, uid]) => (name, uid, None),
                        None => return false,
                    },
                };
                let Some(key) = self.room_key(name) else {
                    return true;
                };
                if let Some(Dest::Link(l)) = to.map(|t| self.dest_of_sid(t)) {
                    if l != link {
                        out.send(l, verbatim(raw));
                        return true;
                    }
                }
                // Named for us, by a server that has not heard that we
                // handed the stream over and sees us as its sequencer the
                // way the member is: on to the holder, named for it, even
                // back the way it came. Served as any named request, it
                // went out unnamed while the member was ours, came back
                // named for us, and so on until the member moved on and it
                // was refused (request-while-handing-over.toml, swarm-chat
                // seed 4386).
                if to == Some(&*self.me.sid) && !self.cfg.ablations.no_request_names_holder {
                    let seq = &self.chat.rooms[&key].stream.seq;
                    let holder = self.chat.holders.get(&key, seq).map(|h| h.sid.clone());
                    if let Some(sid) = holder.filter(|h| **h != *self.me.sid) {
                        if let Dest::Link(l) = self.dest_of_sid(&sid) {
                            out.send(l, frame("RSEQREQ", &[name, uid, &sid]));
                            return true;
                        }
                    }
                }
                // Passed on unnamed as it came when it is exactly the
                // frame this server would write (no optional spaces or
                // escapes: its length is its parts'), not written again.
                let as_came = (to.is_none()
                    && raw.len() == "<RSEQREQ,,>".len() + name.len() + uid.len())
                .then_some((name, raw));
                self.request_number_as(now, &key, uid, to.is_some(), as_came, out);
                true
            }
            b"RSEQ" => {
                // Toward the asker: room, uid, epoch, sequencer, n (0: none).
                let Some([name, uid, epoch, seq, n]) = f.args_exact::<5>() else {
                    return false;
                };
                match self.dest_of_uid(uid) {
                    Dest::Client(l) => {
                        self.number_answered(&fold_cow(name), uid);
                        if n == "0" {
                            // Refused by a sequencer that has since handed
                            // the stream on (we heard its RHOLDER while the
                            // request was on its way): ask where it is now.
                            let key = fold(name);
                            let moved = self.chat.rooms.get(&key).is_some_and(|r| {
                                let d = self.dest_of_sequencer(&key, &r.stream.seq);
                                d == Dest::Me || matches!(d, Dest::Link(s) if s != link)
                            });
                            if moved {
                                self.request_number(now, &key, uid, out);
                                return true;
                            }
                            out.send(l, frame("NOSEQ", &[name, seq]));
                        } else {
                            out.send(l, frame("NEWSEQ", &[name, epoch, seq, n]));
                        }
                    }
                    Dest::Link(l) if l != link => out.send(l, verbatim(raw)),
                    _ => {}
                }
                true
            }
            b"RSEND" => {
                let Some(args) = f.args_exact::<7>() else {
                    return false;
                };
                self.on_rsend_args(link, args, raw, out)
            }
            b"RMSG" | b"SKIPSEQ" => self.on_numbered(link, f, raw, out),
            b"RSTART" | b"RRESEND" | b"RSKIPTO" | b"RFAIL" => {
                // Toward one member: uid first, then the client frame's arguments.
                let Some(uid) = f.arg(0) else {
                    return false;
                };
                let mut args: Vec<&str> = f.args().skip(1).collect();
                let dest = self.dest_of_uid(uid);
                if f.command() == "RSTART" {
                    // The membership the start point was given to, last:
                    // its member's server takes it for that membership
                    // only. A request of an earlier membership can reach
                    // the sequencer before that membership's leave, and
                    // its answer, after the member joined again, would
                    // start the new membership where the old one began
                    // (swarm-chat with leaves, seed 103).
                    let Some(memid) = args.pop().and_then(parse_u64) else {
                        return false;
                    };
                    if args.len() != 4 {
                        return false;
                    }
                    if !self.start_is_current(uid, args[0], memid) {
                        return true;
                    }
                    if matches!(dest, Dest::Client(_)) {
                        self.adopt_started(args[0], args[1], args[2], out);
                    }
                    self.start_arrived(uid, &args);
                }
                let cmd = match f.command() {
                    "RSTART" => "SYNC",
                    "RRESEND" => "RMSG",
                    "RFAIL" => "SENDFAIL",
                    _ => "SKIPSEQ",
                };
                // Adopting a stream moves no user: the route found above holds.
                match dest {
                    Dest::Client(l) => out.send(l, frame(cmd, &args)),
                    Dest::Link(l) if l != link => out.send(l, verbatim(raw)),
                    _ => {}
                }
                true
            }
            b"RSTARTREQ" => {
                // Toward the sequencer: a member's server asks again for
                // the start point of its member (room, uid).
                let Some([name, uid]) = f.args_exact::<2>() else {
                    return false;
                };
                let Some(key) = self.room_key(name) else {
                    return true;
                };
                let room = &self.chat.rooms[&*key];
                let Some((uid, _)) = room.members.get_key_value(uid) else {
                    return true;
                };
                let uid = uid.clone();
                match self.dest_of_sequencer(&key, &room.stream.seq) {
                    Dest::Me => {
                        let key = key.into_owned();
                        self.send_start(&key, &uid, true, out);
                    }
                    Dest::Link(l) if l != link => out.send(l, verbatim(raw)),
                    _ => {}
                }
                true
            }
            b"RFIND" => {
                let Some([name, epoch, seq, n, uid]) = f.args_exact::<5>() else {
                    return false;
                };
                let (Some(epoch), Some(n)) = (parse_u64(epoch), parse_u64(n)) else {
                    return false;
                };
                let Some(key) = self.room_key(name) else {
                    return true;
                };
                self.find_number(&key, epoch, seq, n, uid, out);
                true
            }
            _ => false,
        }
    }

    /// A start point for a local member names the stream the member is
    /// to follow, and its server passes it on (SYNC) only for a stream it
    /// follows itself: one that beats its own is adopted first, as the
    /// ROOM that announced it would have been. Sent together, the ROOM can
    /// be held up or lost where the start point was not (swarm-greeter
    /// with 100 ms latencies, seed 3838 of 3000..4500: a partition began
    /// between the two); the server, still on the epoch before, then
    /// elected a stream of the same epoch that the member's stream beat,
    /// and the member never followed the room again (`order.liveness`:
    /// not synced).
    fn adopt_started(&mut self, name: &str, epoch: &str, seq: &str, out: &mut Outbox) {
        let Some(epoch) = parse_u64(epoch) else {
            return;
        };
        let Some(key) = self.room_key(name).map(Cow::into_owned) else {
            return;
        };
        // A stream named after this server is its own business (the ROOM
        // path starts a new one above an earlier incarnation's).
        if sequencer_parts(seq).is_none_or(|(sid, _)| sid == &*self.me.sid) {
            return;
        }
        let heard = Stream {
            epoch,
            seq: seq.into(),
        };
        if self.adopt_stream(&key, heard, out) {
            let r = self.chat.rooms[&*key].clone();
            self.announce_room(&r, None, out);
        }
    }

    /// Whether an RSTART for `uid`'s membership `memid` of room `name`
    /// may go on: at the member's own server, only for its membership now
    /// (a server passing it on cannot tell, and lets it by).
    fn start_is_current(&self, uid: &str, name: &str, memid: u64) -> bool {
        if self.cfg.ablations.no_start_membership
            || !matches!(self.dest_of_uid(uid), Dest::Client(_))
        {
            return true;
        }
        self.chat
            .rooms
            .get(&fold_cow(name))
            .and_then(|r| r.members.get(uid))
            .is_some_and(|&m| m == memid)
    }

    /// An RSTART for `uid` (room, epoch, sequencer, start) passing
    /// through: the member's server stops asking once it has the current
    /// stream's.
    fn start_arrived(&mut self, uid: &str, args: &[&str]) {
        let [name, epoch, seq, _] = args[..] else {
            return;
        };
        if self.chat.starts.is_empty() {
            return;
        }
        let key = fold(name);
        let current = self
            .chat
            .rooms
            .get(&key)
            .is_some_and(|r| r.stream.epoch.to_string() == epoch && &*r.stream.seq == seq);
        if current {
            self.chat.starts.remove(&(key, Arc::from(uid)));
        }
    }

    /// GETSEQ for `uid` (local or relayed): answer if this server is the
    /// sequencer, else pass it on toward the sequencer.
    pub(crate) fn request_number(&mut self, now: Instant, key: &str, uid: &str, out: &mut Outbox) {
        self.request_number_as(now, key, uid, false, None, out);
    }

    /// As [`Self::request_number`]; `came_named`: the request arrived
    /// named for its sequencer (`RSEQREQ,room,uid,sid`) by the link our
    /// route to that server takes, so it is not named and sent back.
    /// `as_came`: the room's name in an unnamed request from a server
    /// link and the request's bytes, which go on as they came when they
    /// are what this server would write (the same name).
    pub(crate) fn request_number_as(
        &mut self,
        now: Instant,
        key: &str,
        uid: &str,
        came_named: bool,
        as_came: Option<(&str, &[u8])>,
        out: &mut Outbox,
    ) {
        let room = &self.chat.rooms[key];
        let (name, seq) = (room.name.clone(), room.stream.seq.clone());
        let reply = |s: &mut Server, epoch: &str, n: &str, out: &mut Outbox| {
            let args = [&*name, uid, epoch, &*seq, n];
            match s.dest_of_uid(uid) {
                Dest::Client(l) => {
                    s.number_answered(key, uid);
                    if n == "0" {
                        out.send(l, frame("NOSEQ", &[&name, &seq]));
                    } else {
                        out.send(l, frame("NEWSEQ", &[&name, epoch, &seq, n]));
                    }
                }
                Dest::Link(l) => out.send(l, frame("RSEQ", &args)),
                _ => {}
            }
        };
        if !room.members.contains_key(uid) {
            return reply(self, "0", "0", out);
        }
        match self.dest_of_sequencer(key, &seq) {
            Dest::Me => match self.issue_number(now, key, uid) {
                Some((stream, n)) => {
                    let (e, n) = (Dec::new(stream.epoch), Dec::new(n));
                    reply(self, &e, &n, out)
                }
                None if self.wait_for_handoff(key, uid) => {}
                None => reply(self, "0", "0", out),
            },
            Dest::Link(l) if self.dest_of_uid(uid) != Dest::Link(l) => match as_came {
                Some((spelled, raw)) if spelled == &*name => {
                    debug_assert!({
                        let mut written = Vec::new();
                        crate::wire::encode(&mut written, "RSEQREQ", &[&name, uid])
                            .is_ok_and(|_| written == raw)
                    });
                    out.send(l, verbatim(raw));
                    self.number_asked(key, uid, &seq);
                }
                _ => {
                    out.send(l, frame("RSEQREQ", &[&name, uid]));
                    self.number_asked(key, uid, &seq);
                }
            },
            // The sequencer lies the way the member is. Sent on unnamed, the
            // request would reach a server that routed it here and be
            // refused as one going back where it came from; but this is
            // also where a request ends up that waited while the tree
            // re-formed (grace.rs), or that reached a sequencer after it
            // handed the stream to a server behind the member. Named for
            // the sequencer it goes by the servers' routes to that server;
            // one that comes back named the way it went is refused, so it
            // cannot go round (grace-request-behind-its-member.toml,
            // request-after-handover-behind-its-member.toml).
            Dest::Link(l) if !came_named && !self.cfg.ablations.no_request_named => {
                let sid = self.sequencer_sid(key, &seq).unwrap_or("").to_string();
                out.send(l, frame("RSEQREQ", &[&name, uid, &sid]));
                self.number_asked(key, uid, &seq);
            }
            Dest::Nowhere if self.hold_request(key, uid) => {}
            _ => reply(self, "0", "0", out),
        }
    }

    /// A request for a number went out toward the sequencer of stream
    /// `seq`: a local member's is kept until answered (`request-reask`).
    fn number_asked(&mut self, key: &str, uid: &str, seq: &str) {
        if self.cfg.ablations.no_request_reask || !self.chat.users.get(uid).is_some_and(|u| u.local)
        {
            return;
        }
        let Some(sid) = self.sequencer_sid(key, seq).map(Arc::<str>::from) else {
            return;
        };
        let list = match self.chat.asked.get_mut(uid) {
            Some(list) => list,
            None => self.chat.asked.entry(uid.into()).or_default(),
        };
        match list.iter_mut().find(|(k, _)| k == key) {
            Some(e) => e.1 = sid,
            None => list.push((key.to_string(), sid)),
        }
    }

    /// A local member's request for a number is answered (or answered
    /// here): nothing is left to ask again.
    fn number_answered(&mut self, key: &str, uid: &str) {
        if let Some(list) = self.chat.asked.get_mut(uid) {
            list.retain(|(k, _)| k != key);
            if list.is_empty() {
                self.chat.asked.remove(uid);
            }
        }
    }

    /// CSEND for `uid`: validate here if this server is the sequencer,
    /// else pass it on toward the sequencer. `passing` is the RSEND this
    /// is read from, passed on as it came (its arguments, encoded again,
    /// would be the same bytes: the text's escapes scanned and copied at
    /// every hop were most of a hop's cost); `None` for a local CSEND.
    pub(crate) fn route_message(
        &mut self,
        m: Numbered<'_>,
        uid: &str,
        id: &str,
        text: &str,
        passing: Option<&[u8]>,
        out: &mut Outbox,
    ) {
        let Some(key) = self.room_key(m.name) else {
            return self.send_fail(uid, &m, id, "no such room", out);
        };
        match self.dest_of_sequencer(&key, m.seq) {
            Dest::Me => {
                if let Err(why) = self.accept_message(&key, &m, uid, id, text, out) {
                    // Handing the stream over (see `handed_over`).
                    let why = match self.handed_over(&key, &m, uid) {
                        true => HANDED_OVER,
                        false => why,
                    };
                    self.send_fail(uid, &m, id, why, out);
                }
            }
            // After the go, a number taken back here would be refused by
            // the holder as not held: refused here as handed over.
            Dest::Link(_)
                if m.n != 0 && !self.chat.handing.is_empty() && self.handed_over(&key, &m, uid) =>
            {
                self.send_fail(uid, &m, id, HANDED_OVER, out);
            }
            Dest::Link(l) => match passing {
                Some(raw) => out.send(l, verbatim(raw)),
                None => {
                    let (e, nn) = (Dec::new(m.epoch), Dec::new(m.n));
                    out.send(l, frame("RSEND", &[m.name, &e, m.seq, &nn, uid, id, text]));
                }
            },
            _ => self.send_fail(uid, &m, id, "sequencer unreachable", out),
        }
    }

    /// Tells `uid` its message `m` was refused, `why`; one sent with no
    /// number is named by its `id`, after the reason.
    fn send_fail(&mut self, uid: &str, m: &Numbered<'_>, id: &str, why: &str, out: &mut Outbox) {
        let (e, nn) = (Dec::new(m.epoch), Dec::new(m.n));
        let args = [m.name, &e, m.seq, &nn, why, id];
        let args = if m.n == 0 { &args[..] } else { &args[..5] };
        self.send_to_member(uid, "SENDFAIL", "RFAIL", args, out);
    }
}

/// A link room traffic goes out on, with the first member (in UID order)
/// behind it and how many are. Links go out in the order of their first
/// members, which is the order a walk of the members meets them, so a
/// join or leave can keep the list as the walk would build it without
/// looking up every member's route (a search of the user table each,
/// after every join and leave: at 250,000 users most of those searches).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FanLink {
    pub link: LinkId,
    pub first: Arc<str>,
    pub members: u32,
}

/// A room's fan-out, its first two links inline in the room's record: a
/// room message passing through a server reads the list, and most rooms
/// go out on a few links at each server (a list behind a pointer was a
/// second cache miss for every room message at every server).
pub(crate) type Fanout = smallvec::SmallVec<[FanLink; 2]>;

/// The fan-out of a room's members: each member's route, in UID order,
/// each link once (members whose user is not known have none).
fn fanout_walk(members: &VecMap<Arc<str>, u64>, via_of: impl Fn(&str) -> Option<LinkId>) -> Fanout {
    let mut links = Fanout::new();
    for uid in members.keys() {
        if let Some(via) = via_of(uid) {
            match links.iter_mut().find(|f| f.link == via) {
                Some(f) => f.members += 1,
                None => links.push(FanLink {
                    link: via,
                    first: uid.clone(),
                    members: 1,
                }),
            }
        }
    }
    links
}

/// A member behind `via` joined.
fn fan_join(fanout: &mut Option<Fanout>, uid: &Arc<str>, via: LinkId) {
    let Some(links) = fanout else {
        return;
    };
    let mut f = match links.iter().position(|f| f.link == via) {
        Some(i) if *uid < links[i].first => links.remove(i),
        Some(i) => {
            links[i].members += 1;
            return;
        }
        None => FanLink {
            link: via,
            first: uid.clone(),
            members: 0,
        },
    };
    f.members += 1;
    f.first = uid.clone();
    let at = links.partition_point(|g| g.first < f.first);
    links.insert(at, f);
}

/// The first member after `uid` (in UID order) whose route is `via`: the
/// link's first member once `uid`, its first, has left.
fn next_behind(
    members: &VecMap<Arc<str>, u64>,
    uid: &str,
    via: LinkId,
    via_of: impl Fn(&str) -> Option<LinkId>,
) -> Option<Arc<str>> {
    members
        .keys_after(uid)
        .find(|m| via_of(m) == Some(via))
        .cloned()
}

/// A member behind `via` left. If it was the first of several behind that
/// link, `next` names the one that now is (the members after it are
/// searched, not all of them walked: at 100,000 users dropping the list
/// for a walk at the next message cost 3 % of the run); if it cannot,
/// the list is dropped, to be walked again when next used.
fn fan_leave(
    fanout: &mut Option<Fanout>,
    uid: &str,
    via: LinkId,
    next: impl FnOnce() -> Option<Arc<str>>,
) {
    let Some(links) = fanout else {
        return;
    };
    match links.iter().position(|f| f.link == via) {
        Some(i) if links[i].members == 1 && *links[i].first == *uid => {
            links.remove(i);
        }
        Some(i) if links[i].members > 1 && *links[i].first != *uid => links[i].members -= 1,
        Some(i) if links[i].members > 1 => match next() {
            Some(first) => {
                // Its first member is later now: it moves down the list,
                // which is in first-member order.
                let mut f = links.remove(i);
                f.members -= 1;
                f.first = first;
                let at = links.partition_point(|g| g.first < f.first);
                links.insert(at, f);
            }
            None => *fanout = None,
        },
        _ => *fanout = None,
    }
}

#[cfg(test)]
mod fanout_tests {
    use super::*;
    use proptest::prelude::*;

    fn view(f: &[FanLink]) -> Vec<(LinkId, String, u32)> {
        f.iter()
            .map(|f| (f.link, f.first.to_string(), f.members))
            .collect()
    }

    proptest! {
        /// Joins and leaves kept up one at a time give the list a walk of
        /// the members gives, whenever the list is kept at all; a dropped
        /// list is walked again, as `fan_out` does.
        #[test]
        fn upkeep_matches_a_walk(
            ops in proptest::collection::vec((any::<bool>(), 0u8..12, 0u64..4), 0..80),
        ) {
            let mut members: VecMap<Arc<str>, u64> = VecMap::new();
            let mut vias: BTreeMap<Arc<str>, LinkId> = BTreeMap::new();
            let mut fanout: Option<Fanout> = Some(Fanout::new());
            for (join, who, link) in ops {
                let uid: Arc<str> = format!("0AB-1-{who}").into();
                let via_of = |u: &str| vias.get(u).copied();
                if fanout.is_none() {
                    fanout = Some(fanout_walk(&members, via_of));
                }
                if join && !members.contains_key(&uid) {
                    members.insert(uid.clone(), 1);
                    vias.insert(uid.clone(), LinkId(link));
                    fan_join(&mut fanout, &uid, LinkId(link));
                } else if !join && members.remove(&uid).is_some() {
                    let via = vias.remove(&uid).expect("member");
                    fan_leave(&mut fanout, &uid, via, || {
                        next_behind(&members, &uid, via, |u| vias.get(u).copied())
                    });
                }
                let walked = fanout_walk(&members, |u| vias.get(u).copied());
                if let Some(kept) = &fanout {
                    prop_assert_eq!(view(kept), view(&walked));
                }
            }
        }
    }

    #[test]
    fn the_first_of_several_leaving_hands_its_link_to_the_next() {
        let [a, b, c, d]: [Arc<str>; 4] = ["a", "b", "c", "d"].map(Arc::from);
        let via = |u: &str| Some(LinkId(if u == "b" { 1 } else { 2 }));
        let mut members: VecMap<Arc<str>, u64> = VecMap::new();
        let mut f = Some(Fanout::new());
        for m in [&a, &b, &c, &d] {
            members.insert(m.clone(), 1);
            fan_join(&mut f, m, via(m).unwrap());
        }
        let v = view(f.as_ref().unwrap());
        assert_eq!(v, [(LinkId(2), "a".into(), 3), (LinkId(1), "b".into(), 1)]);
        members.remove(&a);
        fan_leave(&mut f, &a, LinkId(2), || {
            next_behind(&members, &a, LinkId(2), via)
        });
        // c (not b, behind the other link) is link 2's first now, and the
        // link moves below link 1, whose first sorts before it.
        let v = view(f.as_ref().unwrap());
        assert_eq!(v, [(LinkId(1), "b".into(), 1), (LinkId(2), "c".into(), 2)]);
        assert_eq!(v, view(&fanout_walk(&members, via)));
    }

    #[test]
    fn a_leave_it_cannot_follow_drops_the_list() {
        let [a, b, c, d]: [Arc<str>; 4] = ["a", "b", "c", "d"].map(Arc::from);
        let mut f = Some(Fanout::new());
        fan_join(&mut f, &b, LinkId(1));
        fan_join(&mut f, &a, LinkId(2)); // goes first: its first member sorts first
        fan_join(&mut f, &c, LinkId(1));
        let v = view(f.as_ref().unwrap());
        assert_eq!(v, [(LinkId(2), "a".into(), 1), (LinkId(1), "b".into(), 2)]);
        let unknown = || None;
        fan_leave(&mut f, &c, LinkId(1), unknown); // not the first behind link 1
        assert_eq!(view(f.as_ref().unwrap())[1], (LinkId(1), "b".into(), 1));
        fan_leave(&mut f, &b, LinkId(1), unknown); // the last behind it
        assert_eq!(view(f.as_ref().unwrap()), [(LinkId(2), "a".into(), 1)]);
        fan_join(&mut f, &d, LinkId(2));
        fan_leave(&mut f, &a, LinkId(2), unknown); // the first of two: the next unknown
        assert!(f.is_none());
        fan_leave(&mut f, &d, LinkId(2), unknown); // nothing kept, nothing to do
        assert!(f.is_none());
    }
}

#[cfg(test)]
mod membership_id_tests {
    use super::membership_id;

    /// Ids of memberships made by other servers, other incarnations of
    /// one server, or one after another by one incarnation all differ,
    /// and each field keeps to its bits (a user that joins again on
    /// another server must not get the id it left: swarm-chat with
    /// leaves, seed 63).
    #[test]
    fn membership_ids_differ_across_servers_incarnations_and_counts() {
        let id = membership_id;
        assert_eq!(id("0AB", 1, 7), 0x30_41_42 << 40 | 1 << 24 | 7);
        let ids = [
            id("0AB", 1, 7),
            id("0AC", 1, 7),
            id("1AB", 1, 7),
            id("0AB", 2, 7),
            id("0AB", 1, 8),
            id("0AB", 0xFFFF, 0xFF_FFFF),
            id("0AC", 0, 0),
        ];
        let distinct: std::collections::BTreeSet<u64> = ids.iter().copied().collect();
        assert_eq!(distinct.len(), ids.len(), "{ids:x?}");
        // The count and the incarnation stay in their fields.
        assert_eq!(id("0AB", 0xFFFF, 0xFF_FFFF) >> 40, id("0AB", 0, 0) >> 40);
        assert!(id("0AB", 1, 8) > id("0AB", 1, 7));
    }
}

#[cfg(test)]
mod origin_order_tests {
    use super::Sequencer;

    /// The sequencer's guard under `at-once`, each origin's messages kept
    /// in its order: an unnumbered copy no later than the origin's last
    /// numbered message is refused (a stale copy or a second one), and so
    /// is a later message holding a number handed out before an unnumbered
    /// copy was numbered after it; copies of earlier messages with the
    /// numbers they hold go through (numbers are handed out in the order
    /// asked).
    #[test]
    fn an_origins_messages_are_numbered_in_its_order() {
        let mut s = Sequencer::default();
        // (id, number it would take, unnumbered, taken)
        let steps = [
            ("o/1", 1, true, true),
            ("o/1", 2, true, false),
            ("o/2", 5, false, true),
            ("o/2", 6, true, false),
            ("o/3", 6, true, true),
            ("o/4", 4, false, false),
            ("o/3", 7, false, true),
            ("o/2", 3, false, true),
            // A copy of the last with a number held from before it (the
            // members pass the second over), and one with a later number,
            // which leaves the mark at the first: the next message's
            // number need only come after that.
            ("o/3", 5, false, true),
            ("o/3", 9, false, true),
            ("o/4", 8, false, true),
            ("p/1", 2, false, true),
            ("no-count", 9, true, true),
            ("o/5", 8, false, true),
        ];
        for (id, n, unnumbered, taken) in steps {
            assert_eq!(s.in_origin_order(id, n, unnumbered), taken, "{id} at {n}");
        }
        assert_eq!(s.last_k.get("o").copied(), Some((5, 8)));
        assert_eq!(s.last_k.get("p").copied(), Some((1, 2)));
    }
}
