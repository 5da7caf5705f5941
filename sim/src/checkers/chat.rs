//! Invariants of the user and room layer, judged from the notes servers
//! and clients emit as they go (safety) and from their views at a quiet
//! end (convergence).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use drc_protocol::client::DeliveryLog;
use drc_protocol::vec_map::VecMap;
use drc_protocol::{ChatNote, LinkId, RoomText, Stream};
use foldhash::fast::FixedState;

use super::graph::Components;
use super::Violation;
use crate::clock::SimTime;
use crate::host::Host;
use crate::network::HostId;

/// What a number of a room's stream carries, as first observed.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Fate {
    /// Judged by its sender's UID and text.
    Msg(RoomText),
    Skipped,
}

/// A room's stream, numbered by the checker on first sight, so the maps
/// below compare integers rather than names on every delivery.
type StreamId = u32;
type RoomId = u32;
/// A room's streams with their ids (a stream or two per room).
type RoomStreams = Vec<(Stream, StreamId)>;
/// The two claims of a collision (UID and nick timestamp), smaller UID
/// first, and who kept the nick. Keyed by claim, not by the pair of users:
/// the same two users may collide again over later claims, and the older
/// claim may be the other one's.
type Outcomes = BTreeMap<((Arc<str>, u64), (Arc<str>, u64)), Option<Arc<str>>>;

/// A resolution a server sent: (host, incarnation, UID, kind, lost
/// claim). A user dies once but can be renamed once per nick it claims, so
/// a SAVE is bounded per claim, not per user.
type Resolution = (HostId, u64, Arc<str>, &'static str, Option<u64>);

/// Numbers of one stream are dense from 1, so they index vectors.
#[derive(Default)]
struct Numbers {
    /// What each number carries, per the sequencer and the deliveries.
    fates: Vec<Option<Fate>>,
    /// Who sent each number, with the sender's message counter.
    senders: Vec<Option<(HostId, u64)>>,
}

fn at<T: Default>(v: &mut Vec<T>, i: usize) -> &mut T {
    if v.len() <= i {
        v.resize_with(i + 1, T::default);
    }
    &mut v[i]
}

#[derive(Default)]
struct Receiver {
    /// Last number delivered per stream (a client is in few rooms).
    last_n: Vec<(StreamId, u64)>,
    /// The stream and sender counter of the last message delivered per
    /// (room, sender), across streams: a retried message's second copy
    /// may come in a later stream than its first. Searched at every
    /// delivery and never walked, so hashed (with a fixed seed): a
    /// B-tree's search cost three cache misses a delivery at scale.
    last_k: HashMap<(RoomId, HostId), (StreamId, u64), FixedState>,
}

impl Receiver {
    fn last_n(&mut self, sid: StreamId) -> &mut u64 {
        let i = match self.last_n.iter().position(|(s, _)| *s == sid) {
            Some(i) => i,
            None => {
                self.last_n.push((sid, 0));
                self.last_n.len() - 1
            }
        };
        &mut self.last_n[i].1
    }
}

/// The ids of recently looked-up streams, by the addresses of their room's
/// and sequencer's names. A client's notes carry the copies every member
/// shares (the protocol's intern.rs), so the members' deliveries of a
/// message find their ids here by two pointer compares, where the table
/// hashed and compared the room's name each time (a third of the chat
/// checker's cost a delivery). Each entry holds its names, so an address
/// cannot be reused for another name while the entry stands. A miss (a
/// name copied elsewhere, or a slot taken by another stream) only goes to
/// the table, so the ids found never depend on addresses; only how often
/// the table is searched does (a few instructions a delivery between two
/// builds whose heaps start elsewhere).
struct StreamMemo(Box<[Option<Memo>; MEMO]>);

const MEMO: usize = 256;

struct Memo {
    room: Arc<str>,
    seq: Arc<str>,
    epoch: u64,
    ids: (RoomId, StreamId),
}

impl Default for StreamMemo {
    fn default() -> Self {
        StreamMemo(Box::new([const { None }; MEMO]))
    }
}

impl StreamMemo {
    /// By the address of the room's name, mixed (allocations are 16-byte
    /// aligned, and neighbours should not share a slot).
    fn slot(room: &Arc<str>) -> usize {
        let p = Arc::as_ptr(room).cast::<u8>() as usize as u64;
        (p.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - MEMO.trailing_zeros())) as usize
    }

    fn get(&self, room: &Arc<str>, stream: &Stream) -> Option<(RoomId, StreamId)> {
        let m = self.0[Self::slot(room)].as_ref()?;
        (Arc::ptr_eq(&m.room, room) && m.epoch == stream.epoch && Arc::ptr_eq(&m.seq, &stream.seq))
            .then_some(m.ids)
    }

    fn put(&mut self, room: &Arc<str>, stream: &Stream, ids: (RoomId, StreamId)) {
        self.0[Self::slot(room)] = Some(Memo {
            room: room.clone(),
            seq: stream.seq.clone(),
            epoch: stream.epoch,
            ids,
        });
    }
}

#[derive(Default)]
pub struct ChatChecks {
    /// Every UID handed out, for `users.unique`.
    uids: BTreeSet<Arc<str>>,
    /// Collision outcomes by the pair of UIDs, for `nick.deterministic`.
    collisions: Outcomes,
    /// Resolutions sent, for `collision.bounded`.
    resolutions: BTreeSet<Resolution>,
    /// Room -> (room id, its streams with their ids). Looked up on every
    /// delivery and never iterated, so hashed (a room has a stream or
    /// two, so those are a short list).
    streams: HashMap<Arc<str>, (RoomId, RoomStreams), FixedState>,
    /// The streams looked up last, found again by the identity of the
    /// names' shared copies (see [`StreamMemo`]).
    memo: StreamMemo,
    next_stream: StreamId,
    /// Per stream id: what each number carries and who sent it.
    numbers: Vec<Numbers>,
    /// Per client host: what it delivered last.
    receivers: Vec<Receiver>,
    /// Client links in registration: (host, link) -> since, and the same
    /// ordered by time.
    registrations: BTreeMap<(HostId, LinkId), SimTime>,
    reg_order: BTreeSet<(SimTime, HostId, LinkId)>,
    /// Private texts sent so far, for `private.direct`.
    pub private_texts: Vec<String>,
    pub deliveries: u64,
    /// Servers outside the network (impostors, unregistered servers), found
    /// on the first note. An impostor issues UIDs and numbers streams under
    /// the SID it copies, so the tables keyed by those names leave out what
    /// it and its clients do: no admitted server ever takes it in (that
    /// boundary is `auth.before_state`'s), and its users are not the
    /// network's.
    outside: Option<Vec<HostId>>,
    passed_over_messages: u64,
    copies_passed_over: u64,
    /// When a room message was last taken into its stream for the first
    /// time (numbered by its sequencer; not a retry's copy): room traffic
    /// settles from there, as from a client action
    /// (`convergence::is_quiet`).
    pub last_send: SimTime,
    /// What each client's user said and how it settled, for `send.settled`.
    pub said: super::said::SaidChecks,
    /// Under `send = "at-once"`: the client host each UID was welcomed
    /// on, which names the sender of a message its client sent with no
    /// number and so never noted as sent (`None` otherwise).
    welcomed: Option<HashMap<Arc<str>, HostId, FixedState>>,
}

impl ChatChecks {
    pub fn new(cfg: &drc_protocol::Config) -> Self {
        ChatChecks {
            welcomed: (cfg.send == drc_protocol::config::SendMode::AtOnce).then(Default::default),
            ..Default::default()
        }
    }

    /// Room messages a client passed over although their number carried
    /// a message it had not shown (some member may have it): left behind
    /// when the room moved to a new stream.
    pub fn passed_over_messages(&self) -> u64 {
        self.passed_over_messages
    }

    /// Numbers a client passed over that carried a copy of a message it
    /// had shown already: the second copy of a retried message, which
    /// the client drops as a duplicate. Nothing was missed.
    pub fn copies_passed_over(&self) -> u64 {
        self.copies_passed_over
    }

    #[allow(clippy::too_many_arguments)]
    pub fn on_note(
        &mut self,
        now: SimTime,
        hosts: &[Host],
        h: HostId,
        note: &ChatNote,
        v: &mut Vec<Violation>,
    ) {
        if self.is_outside(hosts, h) && names_the_network(note) {
            if let ChatNote::UserRegistered { link, .. } = note {
                self.end_registration(h, *link);
            }
            return;
        }
        let host = &hosts[h as usize];
        let mut violate = |inv: &'static str, detail: String| {
            v.push(Violation {
                invariant: inv,
                time_ms: now / 1_000_000,
                host: Some(host.label.clone()),
                detail,
            })
        };
        match note {
            ChatNote::ClientLink { link } => {
                self.end_registration(h, *link);
                self.registrations.insert((h, *link), now);
                self.reg_order.insert((now, h, *link));
            }
            ChatNote::RegistrationEnded { link } => self.end_registration(h, *link),
            ChatNote::UserRegistered { link, uid } => {
                self.end_registration(h, *link);
                if !self.uids.insert(uid.clone()) {
                    violate("users.unique", format!("UID {uid} issued twice"));
                }
            }
            ChatNote::Collision {
                nick,
                a,
                a_ts,
                b,
                b_ts,
                survivor,
            } => {
                let (ca, cb) = ((a.clone(), *a_ts), (b.clone(), *b_ts));
                let key = if ca < cb { (ca, cb) } else { (cb, ca) };
                match self.collisions.get(&key) {
                    None => {
                        self.collisions.insert(key, survivor.clone());
                    }
                    Some(first) if first != survivor => violate(
                        "nick.deterministic",
                        format!(
                            "collision on {nick} between {} and {}: kept {} here, {} elsewhere",
                            key.0 .0,
                            key.1 .0,
                            survivor.as_deref().unwrap_or("neither"),
                            first.as_deref().unwrap_or("neither")
                        ),
                    ),
                    Some(_) => {}
                }
            }
            ChatNote::Resolution { uid, kind, claim } => {
                if !self
                    .resolutions
                    .insert((h, host.incarnation, uid.clone(), kind, *claim))
                {
                    let of = claim.map_or(String::new(), |ts| format!(" (claim of {ts})"));
                    violate(
                        "collision.bounded",
                        format!("sent {kind} for {uid}{of} a second time"),
                    );
                }
            }
            ChatNote::Sequenced {
                room,
                stream,
                n,
                uid,
                at_once,
            } => {
                let sid = self.stream_id(room, stream).1;
                // Sent with no number: the client that was welcomed as the
                // id's origin sent it, its count `k`.
                let sender = at_once
                    .as_deref()
                    .and_then(drc_protocol::client::split_id)
                    .and_then(|(origin, k)| {
                        let welcomed = self.welcomed.as_ref()?;
                        Some((*welcomed.get(origin)?, k))
                    });
                if let Some(sender) = sender {
                    *at(&mut self.numbers[sid as usize].senders, *n as usize) = Some(sender);
                }
                if let Some(&Some((client, k))) =
                    self.numbers[sid as usize].senders.get(*n as usize)
                {
                    // A message taken into its stream for the first time
                    // (a retry's copy is not new traffic).
                    if self.said.settle(client, k) {
                        self.last_send = now;
                    }
                }
                let fate = at(&mut self.numbers[sid as usize].fates, *n as usize);
                match fate {
                    Some(Fate::Skipped) => violate(
                        "order.seq_safety",
                        format!(
                            "{room} {}.{n} ({}) used after it was skipped",
                            stream.epoch, stream.seq
                        ),
                    ),
                    Some(Fate::Msg(m)) if m.uid() != &**uid => violate(
                        "order.seq_safety",
                        format!("{room} {}.{n} ({}) used twice", stream.epoch, stream.seq),
                    ),
                    _ => {}
                }
            }
            ChatNote::SeqSkipped { room, stream, n } => {
                let sid = self.stream_id(room, stream).1;
                let fate = at(&mut self.numbers[sid as usize].fates, *n as usize);
                if let Some(Fate::Msg(_)) = fate {
                    violate(
                        "order.seq_safety",
                        format!(
                            "{room} {}.{n} ({}) skipped after it carried a message",
                            stream.epoch, stream.seq
                        ),
                    );
                } else {
                    *fate = Some(Fate::Skipped);
                }
            }
            ChatNote::Sent { room, stream, n, k } => {
                let sid = self.stream_id(room, stream).1;
                *at(&mut self.numbers[sid as usize].senders, *n as usize) = Some((h, *k));
            }
            ChatNote::Delivered {
                room,
                stream,
                n,
                msg,
            } => {
                self.deliveries += 1;
                let (rid, sid) = self.stream_id(room, stream);
                let nums = &mut self.numbers[sid as usize];
                let sender = nums.senders.get(*n as usize).copied().flatten();
                match at(&mut nums.fates, *n as usize) {
                    f @ None => *f = Some(Fate::Msg(msg.clone())),
                    Some(Fate::Msg(m))
                        if m.shares(msg)
                            || m.uid() == msg.uid()
                                && m.id() == msg.id()
                                && m.text() == msg.text() => {}
                    Some(_) => violate(
                        "order.seq_safety",
                        format!(
                            "{room} {}.{n} ({}) delivered with two contents",
                            stream.epoch, stream.seq
                        ),
                    ),
                }
                let me = at(&mut self.receivers, h as usize);
                let last = me.last_n(sid);
                if *last >= *n && *last != 0 {
                    violate(
                        "order.seq_safety",
                        format!(
                            "{room}: delivered {}.{n} after {}.{last} ({})",
                            stream.epoch, stream.epoch, stream.seq
                        ),
                    );
                }
                *last = (*last).max(*n);
                if let Some((sender, k)) = sender {
                    let last = me.last_k.entry((rid, sender)).or_insert((sid, 0));
                    if last.1 == k {
                        violate(
                            "order.once",
                            format!(
                                "{room}: message {k} of {} delivered a second time, as {}.{n} ({})",
                                hosts[sender as usize].label, stream.epoch, stream.seq
                            ),
                        );
                    } else if last.1 > k && last.0 == sid {
                        violate(
                            "order.fifo",
                            format!(
                                "{room}: message {k} of {} delivered after its message {}",
                                hosts[sender as usize].label, last.1
                            ),
                        );
                    }
                    *last = (sid, k);
                }
            }
            ChatNote::GapClosed { room, stream, n } => {
                let (rid, sid) = self.stream_id(room, stream);
                let nums = &self.numbers[sid as usize];
                if let Some(Some(Fate::Msg(_))) = nums.fates.get(*n as usize) {
                    // The number carried a message. Either a copy of one
                    // this member has shown already (a retried message
                    // whose first copy got through too, which the client
                    // drops, as it must: its sender's count is the last
                    // this member showed of that sender, the client's own
                    // test), or one it never had: not a violation either,
                    // since a stream whose sequencer is gone cannot be
                    // judged complete. Counted apart, so a study sees
                    // which.
                    let sender = nums.senders.get(*n as usize).copied().flatten();
                    let me = at(&mut self.receivers, h as usize);
                    let shown = sender.is_some_and(|(s, k)| {
                        me.last_k.get(&(rid, s)).is_some_and(|&(_, last)| last == k)
                    });
                    if shown {
                        self.copies_passed_over += 1;
                    } else {
                        self.passed_over_messages += 1;
                    }
                }
                let last = at(&mut self.receivers, h as usize).last_n(sid);
                *last = (*last).max(*n);
            }
            ChatNote::SendFailed { k, .. } => self.said.on_failed(h, *k),
            ChatNote::NotMember { room } => violate(
                "room.membership",
                format!("a message for {room} reached a client that is not a member"),
            ),
            ChatNote::PrivateSent { .. } | ChatNote::PrivateFailed { list: false, .. } => {
                self.said.private_ended(h)
            }
            ChatNote::PrivateReceived { .. }
            | ChatNote::ListAddressed { .. }
            | ChatNote::ListReceived { .. }
            | ChatNote::MoveStarted { .. }
            | ChatNote::MoveNoted { .. }
            | ChatNote::MoveEnded { .. }
            | ChatNote::HandoverRefused { .. }
            | ChatNote::Moved { .. }
            | ChatNote::TokenIssued { .. }
            | ChatNote::LoginAnswered { .. }
            | ChatNote::TokenAccepted { .. }
            | ChatNote::TokenRefused { .. }
            | ChatNote::LoginStarted { .. }
            | ChatNote::LoginEnded { .. }
            | ChatNote::TokenAnswered { .. }
            | ChatNote::Disconnected { .. }
            | ChatNote::PrivateFailed { list: true, .. }
            | ChatNote::NickRefused { .. }
            | ChatNote::RegistrationGivenUp { .. } => {}
            ChatNote::Welcome { uid, .. } => {
                if let Some(w) = &mut self.welcomed {
                    w.insert(uid.clone(), h);
                }
            }
        }
    }

    /// Whether host `h` is, or is a client connected to, a server outside
    /// the network. One branch when there is none, the usual case.
    fn is_outside(&mut self, hosts: &[Host], h: HostId) -> bool {
        let outside = self.outside.get_or_insert_with(|| {
            (0..hosts.len() as HostId)
                .filter(|&x| !hosts[x as usize].is_client && !hosts[x as usize].genuine)
                .collect()
        });
        if outside.is_empty() {
            return false;
        }
        let host = &hosts[h as usize];
        match host.client.as_ref() {
            Some(c) => c
                .server()
                .is_some_and(|s| outside.iter().any(|&x| hosts[x as usize].label == s)),
            None => outside.contains(&h),
        }
    }

    /// The ids of the messages a client delivered in `room`, read from
    /// what each number carries: a client keeps the numbers it delivered,
    /// and `order.seq_safety` holds every delivery of a number to the
    /// message first seen under it (sender, id and text).
    fn delivered_ids<'a>(&'a self, room: &str, log: &DeliveryLog) -> BTreeSet<&'a str> {
        let Some((_, streams)) = self.streams.get(room) else {
            return BTreeSet::new();
        };
        let mut ids = BTreeSet::new();
        for (stream, first, last) in log.runs() {
            let Some(&(_, sid)) = streams.iter().find(|(s, _)| s == stream) else {
                continue;
            };
            let fates = &self.numbers[sid as usize].fates;
            for n in first..=last {
                if let Some(Some(Fate::Msg(m))) = fates.get(n as usize) {
                    ids.insert(m.id());
                }
            }
        }
        ids
    }

    fn stream_id(&mut self, room: &Arc<str>, stream: &Stream) -> (RoomId, StreamId) {
        if let Some(ids) = self.memo.get(room, stream) {
            return ids;
        }
        let ids = self.stream_id_by_name(room, stream);
        self.memo.put(room, stream, ids);
        ids
    }

    fn stream_id_by_name(&mut self, room: &Arc<str>, stream: &Stream) -> (RoomId, StreamId) {
        let next_room = self.streams.len() as RoomId;
        let (rid, of_room) = match self.streams.get_mut(&**room) {
            Some(r) => r,
            None => self
                .streams
                .entry(room.clone())
                .or_insert((next_room, Vec::new())),
        };
        if let Some((_, sid)) = of_room
            .iter()
            .find(|(s, _)| s.epoch == stream.epoch && s.seq == stream.seq)
        {
            return (*rid, *sid);
        }
        let sid = self.next_stream;
        self.next_stream += 1;
        self.numbers.push(Numbers::default());
        of_room.push((stream.clone(), sid));
        (*rid, sid)
    }

    pub fn end_registration(&mut self, h: HostId, link: LinkId) {
        if let Some(t) = self.registrations.remove(&(h, link)) {
            self.reg_order.remove(&(t, h, link));
        }
    }

    pub fn host_down(&mut self, h: HostId) {
        let gone: Vec<(HostId, LinkId)> = self
            .registrations
            .keys()
            .filter(|(x, _)| *x == h)
            .copied()
            .collect();
        for (x, l) in gone {
            self.end_registration(x, l);
        }
    }

    /// The registration in progress the longest.
    #[inline]
    pub fn oldest_registration(&self) -> Option<(SimTime, HostId, LinkId)> {
        self.reg_order.first().copied()
    }

    /// A frame reached a server: no private text may be in it.
    pub fn private_through(&self, bytes: &[u8]) -> Option<&str> {
        self.private_texts
            .iter()
            .find(|t| !t.is_empty() && bytes.windows(t.len()).any(|w| w == t.as_bytes()))
            .map(|s| s.as_str())
    }
}

/// Notes keyed by the network's names (UIDs, streams), which a server
/// outside the network may copy; the rest (registration timing, private
/// texts) is keyed by host and link and is judged everywhere.
fn names_the_network(note: &ChatNote) -> bool {
    matches!(
        note,
        ChatNote::UserRegistered { .. }
            | ChatNote::Collision { .. }
            | ChatNote::Resolution { .. }
            | ChatNote::Sequenced { .. }
            | ChatNote::SeqSkipped { .. }
            | ChatNote::Sent { .. }
            | ChatNote::Delivered { .. }
            | ChatNote::GapClosed { .. }
    )
}

/// Ranges `(first, last)`, `last` included, sorted and merged where they
/// overlap or touch, so that a number is in one of them exactly when the
/// last range starting at or before it reaches it.
fn merged_runs(runs: impl Iterator<Item = (u64, u64)>) -> Vec<(u64, u64)> {
    let mut v: Vec<(u64, u64)> = runs.collect();
    v.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(v.len());
    for (first, last) in v {
        match out.last_mut() {
            Some(prev) if first <= prev.1.saturating_add(1) => prev.1 = prev.1.max(last),
            _ => out.push((first, last)),
        }
    }
    out
}

/// Whether `n` is in one of `runs`, as [`merged_runs`] leaves them.
#[cfg(test)]
fn in_runs(runs: &[(u64, u64)], n: u64) -> bool {
    let i = runs.partition_point(|&(first, _)| first <= n);
    i > 0 && runs[i - 1].1 >= n
}

/// The numbers from `start` on that none of `runs` (as [`merged_runs`]
/// leaves them) holds, as ascending ranges: the gaps between the runs and
/// everything past the last.
fn gaps(
    runs: &[(u64, u64)],
    start: u64,
) -> impl Iterator<Item = std::ops::RangeInclusive<u64>> + '_ {
    let mut lo = Some(start);
    runs.iter().map(Some).chain([None]).filter_map(move |run| {
        let from = lo?;
        match run {
            Some(&(first, last)) => {
                if last >= from {
                    lo = last.checked_add(1);
                }
                (first > from).then(|| from..=first - 1)
            }
            None => {
                lo = None;
                Some(from..=u64::MAX)
            }
        }
    })
}

/// Judges the user and room layer at a quiet end, per component of
/// running servers. As in the safety checks, servers outside the network
/// and their clients are left out.
pub fn converge(w: &crate::world::World, comps: &Components) -> Vec<Violation> {
    let ms = w.now / 1_000_000;
    let mut out = Vec::new();
    let mut v = |inv: &'static str, host: &str, detail: String| {
        out.push(Violation {
            invariant: inv,
            time_ms: ms,
            host: Some(host.to_string()),
            detail,
        })
    };
    let inside = |x: HostId| w.hosts[x as usize].genuine;
    // Connected clients by UID: (client host, its server's host).
    let mut clients: BTreeMap<&str, (HostId, Option<HostId>)> = BTreeMap::new();
    for (i, h) in w.hosts.iter().enumerate() {
        let Some(c) = h.client.as_ref() else { continue };
        if c.state() != drc_protocol::client::ClientState::Connected {
            continue;
        }
        if let Some(uid) = c.uid() {
            let server = c.server().and_then(|s| w.by_label.get(s).copied());
            if server.is_some_and(|s| !inside(s)) {
                continue;
            }
            clients.insert(uid, (i as HostId, server));
        }
    }
    for (ci, comp) in comps.list.iter().enumerate() {
        let in_comp = |h: HostId| comps.index(h) == Some(ci) && inside(h);
        let comp: Vec<HostId> = comp.iter().copied().filter(|&x| inside(x)).collect();
        let comp = &comp;
        let Some(&x0) = comp.first() else { continue };
        let s0 = w.hosts[x0 as usize].server.as_ref().expect("running");
        // Both views are ordered by key (UID, folded room name), so they
        // are compared in step, against the first server's read once; the
        // maps that name the first difference are built only when there
        // is one.
        let users0: Vec<(&str, &str)> = s0.users().map(user_key).collect();
        // The same in the order of the network's ids, which every server
        // holding the same users (rooms) walks alike: compared in that
        // order first, a server's users need no sort (a sort of every
        // user at every server was most of the end's judgement at 250,000
        // users). A server walked otherwise (different users, or ids of
        // another table) is compared by name, as before, which decides.
        let users0_ids: Vec<(&str, &str)> = s0.users_in_id_order().map(user_key).collect();
        let rooms0: Vec<RoomKey> = s0.rooms().map(room_key).collect();
        let rooms0_ids: Vec<RoomKey> = s0.rooms_in_id_order().map(room_key).collect();
        // What `ghost.user` finds among a server's users. A server whose
        // users are the first server's finds the same: it is looked up
        // once, not once per server (servers × users searches).
        let ghosts = |users: &mut dyn Iterator<Item = (&str, &str)>| -> Vec<String> {
            let mut found = Vec::new();
            for (uid, nick) in users {
                match clients.get(uid) {
                    Some(&(_, Some(sv))) if in_comp(sv) => {}
                    Some(_) => found.push(format!(
                        "knows {nick} ({uid}), whose server is not in this component"
                    )),
                    None => found.push(format!(
                        "knows {nick} ({uid}), which is no connected client"
                    )),
                }
            }
            found
        };
        let mut ghosts0: Option<Vec<String>> = None;
        for &x in comp {
            let hx = &w.hosts[x as usize];
            let s = hx.server.as_ref().expect("running");
            let mut same_users = true;
            if x != x0 {
                same_users = s
                    .users_in_id_order()
                    .map(user_key)
                    .eq(users0_ids.iter().copied())
                    || s.users().map(user_key).eq(users0.iter().copied());
                if !same_users {
                    let diff = first_diff(&users_of(s), &users_of(s0));
                    v(
                        "users.agree",
                        &hx.label,
                        format!("users differ from {}: {diff}", w.hosts[x0 as usize].label),
                    );
                }
                let same_rooms = s
                    .rooms_in_id_order()
                    .map(room_key)
                    .eq(rooms0_ids.iter().copied())
                    || s.rooms().map(room_key).eq(rooms0.iter().copied());
                if !same_rooms {
                    let diff = first_diff(&rooms_of(s), &rooms_of(s0));
                    v(
                        "users.agree",
                        &hx.label,
                        format!("rooms differ from {}: {diff}", w.hosts[x0 as usize].label),
                    );
                }
            }
            let own;
            let found = if same_users {
                ghosts0.get_or_insert_with(|| ghosts(&mut users0.iter().copied()))
            } else {
                own = ghosts(&mut s.users().map(user_key));
                &own
            };
            for detail in found {
                v("ghost.user", &hx.label, detail.clone());
            }
            // Rooms this server sequences: every member in reach is in step.
            for r in s.rooms() {
                let Some(seq) = &r.sequencer else { continue };
                for uid in r.members.keys() {
                    let Some(&(ch, Some(sv))) = clients.get(&**uid) else {
                        continue;
                    };
                    if !in_comp(sv) {
                        continue;
                    }
                    let c = w.hosts[ch as usize].client.as_ref().expect("client");
                    let label = &w.hosts[ch as usize].label;
                    let Some(rs) = c.room(r.name).filter(|rs| rs.joined) else {
                        v(
                            "order.liveness",
                            label,
                            format!("member of {} by its sequencer, not joined itself", r.name),
                        );
                        continue;
                    };
                    if rs.stream.as_ref() != Some(r.stream) {
                        v(
                            "order.liveness",
                            label,
                            format!(
                                "{}: not synced to stream {}.{}",
                                r.name, r.stream.epoch, r.stream.seq
                            ),
                        );
                        continue;
                    }
                    if rs.next < seq.next || rs.has_gap() {
                        v(
                            "order.liveness",
                            label,
                            format!(
                                "{}: stuck before {}.{} (sequencer at {})",
                                r.name, r.stream.epoch, rs.next, seq.next
                            ),
                        );
                    }
                    // The runs of numbers the member delivered in this
                    // stream (a run or two, whatever the traffic), sorted
                    // and merged; the numbers between them are read below.
                    let got = merged_runs(
                        rs.log
                            .runs()
                            .filter(|(s, _, _)| *s == r.stream)
                            .map(|(_, first, last)| (first, last)),
                    );
                    // A number whose message the client already had under
                    // another number (the first copy of a retry) is not
                    // missing. Read only for a number not delivered: the
                    // numbers in the gaps between the runs and past the
                    // last (none, nearly always), not every number the
                    // stream used.
                    let mut had: Option<BTreeSet<&str>> = None;
                    let missing: Vec<u64> = gaps(&got, rs.start)
                        .flat_map(|gap| seq.slots.range(gap))
                        .filter(|(_, s)| match s {
                            drc_protocol::server::Slot::Used { id, .. } => !had
                                .get_or_insert_with(|| {
                                    w.checks.chat.delivered_ids(&rs.name, &rs.log)
                                })
                                .contains(&**id),
                            _ => false,
                        })
                        .map(|(n, _)| *n)
                        .collect();
                    if let Some(first) = missing.first() {
                        v(
                            "order.complete",
                            label,
                            format!(
                                "{}: {} numbered messages never delivered, first {}.{first}",
                                r.name,
                                missing.len(),
                                r.stream.epoch
                            ),
                        );
                    }
                }
            }
        }
    }
    // Every running server's local clients, looked up per client below
    // (a scan of the server's clients per client was quadratic in users).
    let local: BTreeSet<(HostId, &str)> = w
        .hosts
        .iter()
        .enumerate()
        .filter(|(_, h)| h.running())
        .filter_map(|(i, h)| Some((i as HostId, h.server.as_ref()?)))
        .flat_map(|(i, s)| s.local_uids().map(move |u| (i, u)))
        .collect();
    for (uid, &(ch, sv)) in &clients {
        let Some(sv) = sv else { continue };
        let hs = &w.hosts[sv as usize];
        let known = local.contains(&(sv, *uid));
        if !known {
            v(
                "ghost.user",
                &w.hosts[ch as usize].label,
                format!("connected as {uid}, unknown to its server {}", hs.label),
            );
        }
    }
    out
}

/// What `users.agree` compares of a user: UID and nick.
fn user_key<'a>((uid, nick, _): (&'a str, &'a str, &'a str)) -> (&'a str, &'a str) {
    (uid, nick)
}

/// What `users.agree` compares of a room: name, stream and memberships.
pub(crate) type RoomKey<'a> = (&'a str, &'a Stream, &'a VecMap<Arc<str>, u64>);
pub(crate) fn room_key<'a>(r: drc_protocol::server::RoomView<'a>) -> RoomKey<'a> {
    (r.name, r.stream, r.members)
}

fn users_of(s: &drc_protocol::Server) -> BTreeMap<&str, &str> {
    s.users().map(|(u, n, _)| (u, n)).collect()
}

fn rooms_of(s: &drc_protocol::Server) -> BTreeMap<&str, String> {
    s.rooms().map(|r| (r.name, room_digest(&r))).collect()
}

fn room_digest(r: &drc_protocol::server::RoomView<'_>) -> String {
    let members: Vec<String> = r.members.iter().map(|(u, m)| format!("{u}#{m}")).collect();
    format!(
        "stream {}.{} members [{}]",
        r.stream.epoch,
        r.stream.seq,
        members.join(" ")
    )
}

fn first_diff<V: PartialEq + std::fmt::Debug>(
    a: &BTreeMap<&str, V>,
    b: &BTreeMap<&str, V>,
) -> String {
    for (k, x) in a {
        match b.get(k) {
            None => return format!("{k} only here"),
            Some(y) if y != x => return format!("{k}: {x:?} here, {y:?} there"),
            _ => {}
        }
    }
    for k in b.keys() {
        if !a.contains_key(k) {
            return format!("{k} missing here");
        }
    }
    "none".into()
}

#[cfg(test)]
mod tests {
    use super::{in_runs, merged_runs};
    use crate::run::{build, RunOptions};
    use crate::scenario;
    use drc_protocol::{ChatNote, RoomText, Stream};
    use std::sync::Arc;

    /// The memo finds a stream only by the very copies of its names and
    /// its epoch; the ids are the table's whichever way they are found.
    #[test]
    fn streams_are_found_by_their_names_copies_and_by_name_alike() {
        let mut c = super::ChatChecks::default();
        let (room, seq) = (Arc::<str>::from("#r"), Arc::<str>::from("0AA-1"));
        let s1 = Stream {
            epoch: 1,
            seq: seq.clone(),
        };
        let first = c.stream_id(&room, &s1);
        assert_eq!(c.memo.get(&room, &s1), Some(first));
        // Same names, other copies: not in the memo, same ids by name.
        let (room2, seq2) = (Arc::<str>::from("#r"), Arc::<str>::from("0AA-1"));
        let s1b = Stream {
            epoch: 1,
            seq: seq2,
        };
        assert_eq!(c.memo.get(&room2, &s1b), None);
        assert_eq!(c.memo.get(&room, &s1b), None);
        assert_eq!(c.stream_id(&room2, &s1b), first);
        // Another epoch is another stream of the room.
        let s2 = Stream { epoch: 2, seq };
        assert_eq!(c.memo.get(&room, &s2), None);
        let second = c.stream_id(&room, &s2);
        assert_eq!(second.0, first.0);
        assert_ne!(second.1, first.1);
        assert_eq!(c.stream_id(&room2, &s1b), first);
        assert_eq!(c.stream_id(&room, &s2), second);
    }

    /// `order.seq_safety` holds when two members deliver the same message
    /// under a number, and fires when one number is delivered with two
    /// contents (crafted: no sequencer of the protocol numbers two
    /// messages alike, so no scenario reaches it). `order.complete`
    /// excuses a retry's other copy by the ids this branch compares.
    #[test]
    fn one_number_with_two_contents_breaks_seq_safety() {
        let toml = r#"
name = "two-contents"
seed = 1
duration = "10s"

[[server]]
name = "s0"

[[client]]
id = "alice"
server = "s0"

[[client]]
id = "bob"
server = "s0"

[[client]]
id = "carl"
server = "s0"
"#;
        let scn = scenario::parse_str(toml, "two-contents.toml").unwrap();
        let mut w = build(&scn, &mut RunOptions::default()).unwrap();
        let (alice, bob) = (w.by_label["alice"], w.by_label["bob"]);
        let carl = w.by_label["carl"];
        let stream = Stream {
            epoch: 1,
            seq: "0AA.1".into(),
        };
        let note_as = |nick: &str, text: &str| ChatNote::Delivered {
            room: Arc::from("#r"),
            stream: stream.clone(),
            n: 1,
            msg: RoomText::new("0AA-1-1", nick, "0AA-1-1/1", text),
        };
        let note = |text: &str| note_as("carol", text);
        let mut v = Vec::new();
        let chat = &mut w.checks.chat;
        chat.on_note(0, &w.hosts, alice, &note("hello"), &mut v);
        chat.on_note(0, &w.hosts, bob, &note("hello"), &mut v);
        assert!(v.is_empty(), "the same message twice: {v:?}");
        // A copy not shared with the first (its nick differs, which the
        // check does not read): compared part by part, and the same.
        let copy = note_as("carol2", "hello");
        chat.on_note(0, &w.hosts, carl, &copy, &mut v);
        assert!(v.is_empty(), "the same message, another copy: {v:?}");
        chat.on_note(0, &w.hosts, bob, &note("other"), &mut v);
        let fired: Vec<(&str, &str)> = v.iter().map(|x| (x.invariant, x.detail.as_str())).collect();
        assert!(
            fired.contains(&(
                "order.seq_safety",
                "#r 1.1 (0AA.1) delivered with two contents"
            )),
            "{fired:?}"
        );
    }

    /// A number passed over that carried a message counts as a copy when
    /// the member had shown that message already (a retry's second copy,
    /// which the client drops), and as a message it missed otherwise
    /// (crafted; `swarm-chat` seed 360 at once has 20 copies and no miss).
    #[test]
    fn a_passed_over_copy_is_told_from_a_missed_message() {
        let toml = r#"
name = "copies"
seed = 1
duration = "10s"

[[server]]
name = "s0"

[[client]]
id = "sender"
server = "s0"

[[client]]
id = "got-the-first"
server = "s0"

[[client]]
id = "got-the-retry"
server = "s0"
"#;
        let scn = scenario::parse_str(toml, "copies.toml").unwrap();
        let mut w = build(&scn, &mut RunOptions::default()).unwrap();
        let (sender, first, retry) = (
            w.by_label["sender"],
            w.by_label["got-the-first"],
            w.by_label["got-the-retry"],
        );
        let room: Arc<str> = Arc::from("#r");
        let stream = Stream {
            epoch: 1,
            seq: "0AA-1".into(),
        };
        let msg = RoomText::new("0AA-1-1", "sender", "0AA-1-1/7", "hi");
        let sent = |n| ChatNote::Sent {
            room: room.clone(),
            stream: stream.clone(),
            n,
            k: 7,
        };
        let delivered = |n| ChatNote::Delivered {
            room: room.clone(),
            stream: stream.clone(),
            n,
            msg: msg.clone(),
        };
        let closed = |n| ChatNote::GapClosed {
            room: room.clone(),
            stream: stream.clone(),
            n,
        };
        let mut v = Vec::new();
        let chat = &mut w.checks.chat;
        // Message 7 goes out as number 1 and, retried, as number 2.
        chat.on_note(0, &w.hosts, sender, &sent(1), &mut v);
        chat.on_note(0, &w.hosts, first, &delivered(1), &mut v);
        chat.on_note(0, &w.hosts, sender, &sent(2), &mut v);
        chat.on_note(0, &w.hosts, retry, &delivered(2), &mut v);
        assert_eq!(
            (chat.passed_over_messages(), chat.copies_passed_over()),
            (0, 0)
        );
        // The member that showed number 1 passes over number 2: a copy.
        chat.on_note(0, &w.hosts, first, &closed(2), &mut v);
        assert_eq!(
            (chat.passed_over_messages(), chat.copies_passed_over()),
            (0, 1)
        );
        // The member that showed number 2 passes over number 1: the same
        // message, so a copy too.
        chat.on_note(0, &w.hosts, retry, &closed(1), &mut v);
        assert_eq!(
            (chat.passed_over_messages(), chat.copies_passed_over()),
            (0, 2)
        );
        // The sender passes over a message it never showed: missed.
        chat.on_note(0, &w.hosts, sender, &closed(1), &mut v);
        assert_eq!(
            (chat.passed_over_messages(), chat.copies_passed_over()),
            (1, 2)
        );
        assert!(v.is_empty(), "{v:?}");
    }

    /// A member that left a stream and came back to it has runs out of
    /// order and overlapping; merged, each number is found in the one
    /// range holding it, and a number between ranges in none.
    #[test]
    fn runs_merge_into_disjoint_ranges() {
        let got = merged_runs([(10, 12), (1, 3), (4, 4), (2, 6), (20, 20)].into_iter());
        assert_eq!(got, [(1, 6), (10, 12), (20, 20)]);
        let found: Vec<u64> = (0..22).filter(|&n| in_runs(&got, n)).collect();
        assert_eq!(found, [1, 2, 3, 4, 5, 6, 10, 11, 12, 20]);
    }

    /// The end check reads only the numbers outside a member's runs: the
    /// gaps give exactly the numbers from the start that no run holds, in
    /// order, for runs below, around and above the start, and none past a
    /// run that ends at the last number.
    #[test]
    fn gaps_are_the_numbers_no_run_holds() {
        use rand_chacha::rand_core::{RngCore, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for _ in 0..2_000 {
            let runs: Vec<(u64, u64)> = (0..rng.next_u32() % 5)
                .map(|_| {
                    let first = u64::from(rng.next_u32() % 40);
                    (first, first + u64::from(rng.next_u32() % 6))
                })
                .collect();
            let got = merged_runs(runs.into_iter());
            let start = u64::from(rng.next_u32() % 30);
            let from_gaps: Vec<u64> = super::gaps(&got, start)
                .flat_map(|g| *g.start()..=(*g.end()).min(60))
                .collect();
            let brute: Vec<u64> = (start..=60).filter(|&n| !in_runs(&got, n)).collect();
            assert_eq!(from_gaps, brute, "runs {got:?} from {start}");
        }
        let all: Vec<_> = super::gaps(&[(0, u64::MAX)], 5).collect();
        assert!(all.is_empty(), "{all:?}");
        let tail: Vec<_> = super::gaps(&[(3, 7)], 0).collect();
        assert_eq!(tail, [0..=2, 8..=u64::MAX]);
    }
}
