//! A client's side of room ordering: sending one message at a time, and
//! delivering in sequence order with gaps buffered and asked about.

use std::collections::VecDeque;
use std::sync::Arc;

use super::reorder_buf::ReorderBuf;
use super::{Client, ClientConfig, ClientState, DeliveryLog};
use crate::message::HANDED_OVER;
use crate::names::fold_cow;
use crate::outbox::{ChatNote, Outbox, Stream};
use crate::room_text::RoomText;
use crate::server::stream_beats;
use crate::time::Instant;
use crate::wire::{parse_u64, Frame};

#[derive(Clone, Debug)]
enum Entry {
    /// A message, with its id split on arrival ([`split_id`]).
    Msg {
        text: RoomText,
        /// The length of the id's origin UID.
        origin_len: u32,
        /// The sender's count.
        k: u64,
    },
    Skip,
}

#[derive(Clone, Debug)]
enum Sending {
    /// GETSEQ sent.
    AwaitNumber { since: Instant },
    /// CSEND sent with this number; waiting for our own message to come back.
    AwaitEcho {
        stream: Stream,
        n: u64,
        since: Instant,
    },
}

#[derive(Clone, Debug)]
struct Outgoing {
    k: u64,
    /// The UID the message was first sent under: with `k` it names the
    /// message for good, even if a retry goes out in a later session.
    origin: Option<Arc<str>>,
    text: Arc<str>,
    tries: u32,
    /// Of `tries`, those refused as handed over (`handover-refusal`):
    /// the handover's doing, not the try's, so they do not count toward
    /// giving the message up.
    spared: u32,
    state: Option<Sending>,
    /// A CSEND of it went out: it may have been taken into the stream
    /// whatever the client hears after.
    went_out: bool,
}

/// Attempts per message before the client gives up on it.
const MAX_TRIES: u32 = 3;

#[derive(Clone, Debug)]
pub struct RoomState {
    pub name: Arc<str>,
    pub joined: bool,
    /// The stream being delivered, once the sequencer said where to start.
    pub stream: Option<Stream>,
    /// The next number to deliver.
    pub next: u64,
    /// Where delivery of the current stream started.
    pub start: u64,
    /// The highest number known to exist in the stream.
    top: u64,
    /// Entries ahead of a gap.
    buf: ReorderBuf<Entry>,
    /// Entries of a stream not synced yet.
    early: Vec<(Stream, u64, Entry)>,
    gap_since: Option<Instant>,
    outq: VecDeque<Outgoing>,
    /// What was delivered to the user (a message's sender's nick at the
    /// time is `msg.nick()`, the sender's name for it `msg.id()`, see
    /// [`split_id`]).
    pub log: DeliveryLog,
    /// Messages that arrived for a stream already left behind.
    pub late: u64,
    /// The counter of the last message delivered per origin UID. A sender
    /// has one message under way per room, so the second copy of a retried
    /// message always comes right after the first.
    /// Searched at every delivery, never walked: a hash table by the
    /// UID's number (name_map.rs), no string allocated per origin.
    last_k: crate::name_map::NameIndex<u64>,
    /// Second copies of retried messages passed over.
    pub duplicates: u64,
    /// Rejoined after a lost session: the next SYNC says which stream to
    /// follow, even one the kept stream would beat (the new server's
    /// component may not know the kept one yet).
    resync: bool,
    /// The user left while messages of its were still on their way: the
    /// leave goes to the server once they have gone (see `Client::leave`).
    pub(crate) leaving: bool,
}

impl RoomState {
    pub(crate) fn new(name: &str, keep_msgs: bool) -> Self {
        RoomState {
            // Shared (intern.rs): every delivery's note clones it, and its
            // members touching one copy keep it in the caches.
            name: crate::intern::arc(name),
            joined: false,
            stream: None,
            next: 0,
            start: 0,
            top: 0,
            buf: ReorderBuf::default(),
            early: Vec::new(),
            gap_since: None,
            outq: VecDeque::new(),
            log: DeliveryLog::new(keep_msgs),
            late: 0,
            last_k: Default::default(),
            duplicates: 0,
            resync: false,
            leaving: false,
        }
    }

    /// The server confirmed the membership. A stream kept from an earlier
    /// session is resumed: its position stays, so nothing is delivered
    /// twice, and the numbers sequenced meanwhile are asked for.
    pub(crate) fn join(&mut self) {
        if !self.joined {
            self.joined = true;
            self.resync = self.stream.is_some();
            self.early.clear();
            self.gap_since = None;
        }
    }

    /// The session ended without the user leaving: the membership is gone
    /// but the stream's position is kept for the next session.
    pub(crate) fn suspend(&mut self) {
        self.joined = false;
        self.early.clear();
        self.gap_since = None;
        for o in &mut self.outq {
            o.state = None;
        }
    }

    /// The membership ends. The messages still queued are given up and
    /// returned, each count with whether a CSEND of it went out (the user
    /// is told each failed), unless `keep` (the `leave-after-sends`
    /// ablation: they wait, as they did at first, for a join that may
    /// never come).
    pub(crate) fn leave(&mut self, keep: bool) -> Vec<(u64, bool)> {
        self.joined = false;
        self.leaving = false;
        self.stream = None;
        self.resync = false;
        self.buf.clear();
        self.early.clear();
        self.gap_since = None;
        if keep {
            for o in &mut self.outq {
                o.state = None;
            }
            return Vec::new();
        }
        self.outq.drain(..).map(|o| (o.k, o.went_out)).collect()
    }

    /// Delivers entry `n` of `stream` (see [`Client::deliver`]); true when
    /// it was our own message, so the next one queued may go. Takes the
    /// stream owned, for the note it goes into.
    fn deliver(
        &mut self,
        dedup_off: bool,
        stream: Stream,
        n: u64,
        e: Entry,
        out: &mut Outbox,
    ) -> bool {
        self.next = self.next.max(n + 1);
        let passed_over = |r: &RoomState, stream: Stream, out: &mut Outbox| {
            let room = r.name.clone();
            Client::note(out, ChatNote::GapClosed { room, stream, n });
            false
        };
        let Entry::Msg {
            text: msg,
            origin_len,
            k,
        } = e
        else {
            return passed_over(self, stream, out);
        };
        let origin = &msg.id()[..origin_len as usize];
        if self.note_sender(origin, k) && !dedup_off {
            // A retried message whose first copy also got through.
            self.duplicates += 1;
            return passed_over(self, stream, out);
        }
        // Our own message came back (this copy or an earlier one of a
        // retry, maybe from an earlier session): the next one may go.
        let ours = self
            .outq
            .front()
            .is_some_and(|o| o.k == k && o.origin.as_deref() == Some(origin));
        self.log.push(&stream, n, &msg);
        let room = self.name.clone();
        Client::note(
            out,
            ChatNote::Delivered {
                room,
                stream,
                n,
                msg,
            },
        );
        if ours {
            self.outq.pop_front();
        }
        ours
    }

    /// Starts the gap timer when numbers it knows exist are missing (kept
    /// if it runs already), and stops it when none are.
    fn time_gap(&mut self, now: Instant) {
        if self.has_gap() {
            self.gap_since.get_or_insert(now);
        } else {
            self.gap_since = None;
        }
    }

    /// Records message `k` of `origin` as the last from that origin, and
    /// says whether it already was: the second copy of a retry.
    fn note_sender(&mut self, origin: &str, k: u64) -> bool {
        match self.last_k.get_mut(origin) {
            Some(last) => std::mem::replace(last, k) == k,
            None => {
                self.last_k.insert(origin, k);
                false
            }
        }
    }

    /// Messages buffered behind a gap.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Whether the client is waiting for numbers it knows exist.
    pub fn has_gap(&self) -> bool {
        self.stream.is_some() && (self.top >= self.next || !self.buf.is_empty())
    }

    /// Messages not yet sent or not yet confirmed.
    pub fn unsent(&self) -> usize {
        self.outq.len()
    }

    pub(crate) fn deadline(&self, cfg: &ClientConfig) -> Option<Instant> {
        let mut d = self
            .gap_since
            .filter(|_| !cfg.no_find)
            .map(|t| t + cfg.find_delay);
        if let Some(o) = self.outq.front() {
            let since = match &o.state {
                Some(Sending::AwaitNumber { since }) | Some(Sending::AwaitEcho { since, .. }) => {
                    *since
                }
                None => return d,
            };
            let t = since + cfg.send_timeout;
            d = Some(d.map_or(t, |x| x.min(t)));
        }
        d
    }
}

/// The name [`split_id`] splits, built by hand: `format!` was about 900
/// instructions a message, most of the client's cost of sending one.
fn message_id(origin: &str, k: u64) -> String {
    let digits = crate::wire::Dec::new(k);
    let digits: &str = &digits;
    let mut id = String::with_capacity(origin.len() + 1 + digits.len());
    id.push_str(origin);
    id.push('/');
    id.push_str(digits);
    id
}

/// The origin a message is named after when it first goes out: the
/// session's UID, or under `send = "at-once"` the first session's.
/// A message sent with no number would be numbered wherever and
/// whenever it arrives, even after its sender gave it up and said more
/// in a later session (a copy held up by a stalled link:
/// swarm-chat-at-once seed 695); named after one origin, all of a
/// client's messages are counted in one sequence, and the sequencer
/// refuses a copy no later than the last it numbered of that origin.
/// A free function of the three fields, so that it can be called while
/// a room is borrowed.
fn new_origin(
    cfg: &ClientConfig,
    first_uid: &Option<Arc<str>>,
    uid: &Option<Arc<str>>,
) -> Option<Arc<str>> {
    match cfg.send_at_once {
        true => first_uid.clone().or_else(|| uid.clone()),
        false => uid.clone(),
    }
}

/// A message's name, `origin/k`: the UID its sender first sent it under
/// and the sender's counter.
pub fn split_id(id: &str) -> Option<(&str, u64)> {
    // A byte search, not `rsplit_once`: ids are a dozen bytes, and every
    // delivery splits one twice, where the general searcher's set-up cost
    // more than the search.
    let slash = id.bytes().rposition(|b| b == b'/')?;
    let (origin, k) = (&id[..slash], &id[slash + 1..]);
    Some((origin, parse_u64(k)?)).filter(|(o, _)| !o.is_empty())
}

impl Client {
    /// The user leaves `room`. Messages it said there before leaving and
    /// still on their way go first, as on IRC, where a message sent before
    /// a PART is seen in the channel: the leave goes once each is taken
    /// into the stream and back, or given up (`pump`). Nothing more may be
    /// said there meanwhile, and a join of the room cancels the leave.
    /// Not connected, the membership ends here and what waited for the
    /// next session is given up.
    pub(crate) fn leave(&mut self, room: &str, out: &mut Outbox) {
        self.unwant_room(room);
        let connected = self.state == ClientState::Connected;
        if let Some(r) = self.rooms.get_mut(&fold_cow(room)) {
            if connected && r.joined && !r.outq.is_empty() && !self.cfg.no_leave_after_sends {
                r.leaving = true;
                return;
            }
        }
        self.leave_now(room, out);
    }

    /// The membership of `room` ends now: its queue is given up, and the
    /// server is told if there is one.
    pub(crate) fn leave_now(&mut self, room: &str, out: &mut Outbox) {
        let key = fold_cow(room);
        self.give_up_rooms(|r| fold_cow(&r.name) == key, "left the room", out);
        if self.state == ClientState::Connected {
            self.send(out, "LEAVEROOM", &[room]);
            self.await_answer("LEAVEROOM", room);
        }
    }

    /// A join or create of a room being left: the leave is called off
    /// and nothing need be sent (the membership never ended).
    pub(crate) fn stay(&mut self, room: &str) -> bool {
        let Some(r) = self.rooms.get_mut(&fold_cow(room)).filter(|r| r.leaving) else {
            return false;
        };
        r.leaving = false;
        self.want_room(room);
        true
    }

    /// The session ended without the user leaving: every room is kept for
    /// the next one, but a room the user was leaving ends here (the server
    /// ended the membership with the session), and its queue is given up;
    /// so are the private texts waiting for an answer the session's server
    /// would have brought.
    pub(crate) fn session_ended(&mut self, out: &mut Outbox) {
        self.private_session_ended(out);
        self.give_up_rooms(|r| r.leaving, "left the room", out);
        for r in self.rooms.values_mut() {
            r.suspend();
        }
    }

    /// Ends the membership of every room `which` picks, and tells the user
    /// each message still queued there failed, `why`. One whose CSEND went
    /// out may be taken into the stream all the same: it is told only
    /// that it was not confirmed.
    pub(crate) fn give_up_rooms(
        &mut self,
        which: impl Fn(&RoomState) -> bool,
        why: &str,
        out: &mut Outbox,
    ) {
        let keep = self.cfg.no_leave_after_sends;
        for r in self.rooms.values_mut().filter(|r| which(r)) {
            for (k, went_out) in r.leave(keep) {
                let reason: Arc<str> = if went_out {
                    format!("{why} before it was confirmed").into()
                } else {
                    why.into()
                };
                let room = r.name.clone();
                Self::note(
                    out,
                    ChatNote::SendFailed {
                        room,
                        reason,
                        k: Some(k),
                    },
                );
            }
        }
    }

    pub(crate) fn say(&mut self, now: Instant, room: &str, text: &str, out: &mut Outbox) {
        let key = fold_cow(room);
        let Some(r) = self.rooms.get_mut(&key).filter(|r| r.joined && !r.leaving) else {
            return Self::note(
                out,
                ChatNote::SendFailed {
                    room: room.into(),
                    reason: "not a member".into(),
                    k: None,
                },
            );
        };
        self.next_k += 1;
        r.outq.push_back(Outgoing {
            k: self.next_k,
            origin: None,
            text: text.into(),
            tries: 0,
            spared: 0,
            state: None,
            went_out: false,
        });
        self.pump(now, &key, out);
    }

    /// Starts the next message of a room if none is under way; when a
    /// room being left has none left, the leave goes.
    pub(crate) fn pump(&mut self, now: Instant, key: &str, out: &mut Outbox) {
        let Some(r) = self.rooms.get_mut(key) else {
            return;
        };
        if r.leaving && r.outq.is_empty() {
            let name = r.name.clone();
            return self.leave_now(&name, out);
        }
        if !r.joined {
            return;
        }
        let Some(o) = r.outq.front_mut() else {
            return;
        };
        if o.state.is_some() {
            return;
        }
        o.tries += 1;
        // At once: the first try goes with no number, for the stream the
        // client follows; a retry, or a room not synced yet, asks first.
        let at_once = self.cfg.send_at_once && o.tries == 1 && r.stream.is_some();
        let origin = at_once
            .then(|| {
                (o.origin.clone()).or_else(|| new_origin(&self.cfg, &self.first_uid, &self.uid))
            })
            .flatten();
        if let (Some(stream), Some(origin)) = (&r.stream, origin) {
            o.origin = Some(origin.clone());
            o.state = Some(Sending::AwaitEcho {
                stream: stream.clone(),
                n: 0,
                since: now,
            });
            o.went_out = true;
            let id = message_id(&origin, o.k);
            let (epoch, text) = (crate::wire::Dec::new(stream.epoch), o.text.clone());
            let (name, seq) = (r.name.clone(), stream.seq.clone());
            return self.send(out, "CSEND", &[&name, &epoch, &seq, "0", &id, &text]);
        }
        o.state = Some(Sending::AwaitNumber { since: now });
        let name = r.name.clone();
        self.send(out, "GETSEQ", &[&name]);
    }

    /// The message under way failed; try again or give up.
    fn retry(&mut self, now: Instant, key: &str, why: &str, out: &mut Outbox) {
        let Some(r) = self.rooms.get_mut(key) else {
            return;
        };
        let Some(o) = r.outq.front_mut() else {
            return;
        };
        o.state = None;
        if self.cfg.retry_to_back && r.outq.len() > 1 {
            let o = r.outq.pop_front().expect("front");
            r.outq.push_back(o);
            return self.pump(now, key, out);
        }
        let o = r.outq.front_mut().expect("front");
        // Refused by a server handing its stream over, whose start took
        // back the number this try held (or which the try reached with
        // none): the handover's doing, not the try's. It is asked again
        // (a number first, as any retry), and the refusal costs no try
        // (`handover-refusal`: the server gives this reason only under
        // the rule).
        if why == HANDED_OVER {
            o.spared += 1;
            return self.pump(now, key, out);
        }
        let counted = o.tries - o.spared;
        if counted >= MAX_TRIES || why == "no such room" || why == "not a member" {
            let k = r.outq.pop_front().map(|o| o.k);
            let room = r.name.clone();
            Self::note(
                out,
                ChatNote::SendFailed {
                    room,
                    reason: why.into(),
                    k,
                },
            );
        }
        self.pump(now, key, out);
    }

    /// NEWSEQ, NOSEQ and SENDFAIL.
    pub(crate) fn on_seq_reply(&mut self, now: Instant, f: &Frame, out: &mut Outbox) {
        let a = |i: usize| f.arg(i).unwrap_or("");
        let key = fold_cow(a(0));
        let Some(r) = self.rooms.get_mut(&key) else {
            return;
        };
        match f.command() {
            "NEWSEQ" => {
                let (Some(epoch), Some(n)) = (parse_u64(a(1)), parse_u64(a(3))) else {
                    return;
                };
                let Some(o) = r.outq.front_mut() else {
                    return;
                };
                if !matches!(o.state, Some(Sending::AwaitNumber { .. })) {
                    return;
                }
                // The first UID it goes out under names the message for good.
                let fresh = || new_origin(&self.cfg, &self.first_uid, &self.uid);
                let Some(origin) = o.origin.clone().or_else(fresh) else {
                    return;
                };
                o.origin = Some(origin.clone());
                let stream = Stream {
                    epoch,
                    seq: a(2).into(),
                };
                o.state = Some(Sending::AwaitEcho {
                    stream: stream.clone(),
                    n,
                    since: now,
                });
                o.went_out = true;
                let (k, text, name) = (o.k, o.text.clone(), r.name.clone());
                let id = message_id(&origin, k);
                self.send(out, "CSEND", &[&name, a(1), a(2), a(3), &id, &text]);
                Self::note(
                    out,
                    ChatNote::Sent {
                        room: name,
                        stream,
                        n,
                        k,
                    },
                );
            }
            "NOSEQ" => {
                if r.outq
                    .front()
                    .is_some_and(|o| matches!(o.state, Some(Sending::AwaitNumber { .. })))
                {
                    // No sequencer in reach (`home` policy, split): give up
                    // on this message now rather than retrying into the void.
                    let k = r.outq.pop_front().map(|o| o.k);
                    let room = r.name.clone();
                    let why = if a(1).is_empty() {
                        "no sequencer"
                    } else {
                        "no sequencer reachable"
                    };
                    Self::note(
                        out,
                        ChatNote::SendFailed {
                            room,
                            reason: why.into(),
                            k,
                        },
                    );
                    self.pump(now, &key, out);
                }
            }
            _ => {
                // SENDFAIL room epoch seq n why
                let (Some(epoch), Some(n)) = (parse_u64(a(1)), parse_u64(a(3))) else {
                    return;
                };
                // A message sent with no number is named by its id, after
                // the reason (a refusal of an earlier one is not this one's).
                let mine = r.outq.front().is_some_and(|o| {
                    matches!(&o.state, Some(Sending::AwaitEcho { stream, n: m, .. })
                        if stream.epoch == epoch && *stream.seq == *a(2) && *m == n)
                        && (n != 0
                            || o.origin
                                .as_deref()
                                .is_some_and(|g| a(5) == message_id(g, o.k)))
                });
                if mine {
                    let why = a(4).to_string();
                    self.retry(now, &key, &why, out);
                }
            }
        }
    }

    /// SYNC, RMSG and SKIPSEQ.
    pub(crate) fn on_room_frame(&mut self, now: Instant, f: &Frame, out: &mut Outbox) {
        let mut args = [""; 8];
        for (i, arg) in args.iter_mut().enumerate() {
            *arg = f.arg(i).unwrap_or("");
        }
        self.on_room_args(now, f.command(), &args, None, out);
    }

    /// [`Client::on_room_frame`] on the arguments alone (missing ones
    /// empty), so that an RMSG read straight off the wire bytes needs no
    /// `Frame`. `span`, when known, is the frame's text from the first
    /// byte of argument 4 to the end of argument 7 (see
    /// [`RoomText::new_in`]).
    pub(crate) fn on_room_args(
        &mut self,
        now: Instant,
        command: &str,
        args: &[&str; 8],
        span: Option<&str>,
        out: &mut Outbox,
    ) {
        let a = |i: usize| args[i];
        let key = fold_cow(a(0));
        let (Some(epoch), Some(n)) = (parse_u64(a(1)), parse_u64(a(3))) else {
            return;
        };
        // The stream is named without allocating: nearly every frame is for
        // the stream being delivered, and is compared against it in place.
        let seq = a(2);
        let stream = || Stream {
            epoch,
            seq: seq.into(),
        };
        let Some(r) = self.rooms.get_mut(&key) else {
            if command == "RMSG" {
                Self::note(out, ChatNote::NotMember { room: a(0).into() });
            }
            return;
        };
        if !r.joined {
            // Left or rejoining: traffic still in flight is dropped.
            return;
        }
        if command == "SYNC" {
            self.sync(now, &key, stream(), n, out);
            return;
        }
        let entry = if command == "RMSG" {
            let Some((origin, k)) = split_id(a(6)) else {
                return;
            };
            Entry::Msg {
                text: RoomText::new_in(span, a(4), a(5), a(6), a(7)),
                origin_len: origin.len() as u32,
                k,
            }
        } else {
            Entry::Skip
        };
        match &r.stream {
            Some(cur) if cur.epoch == epoch && *cur.seq == *seq => {
                if n >= r.next {
                    r.top = r.top.max(n);
                    if n == r.next && r.buf.is_empty() {
                        // Next in line with nothing waiting: delivered
                        // here, and what the drain below would then do
                        // done here too, without finding the room again.
                        let cur = cur.clone();
                        let dedup_off = self.cfg.no_dedup;
                        let ours = r.deliver(dedup_off, cur, n, entry, out);
                        r.time_gap(now);
                        if ours {
                            self.pending_pump.push(key.to_string());
                        }
                        self.pump_pending(now, out);
                        return;
                    }
                    r.buf.insert(n, entry);
                } else if self.cfg.no_redirect_dedup && self.moving.is_some() {
                    // Research switch: during a swap, the copy from the
                    // other connection is delivered too.
                    let cur = cur.clone();
                    self.deliver(&key, &cur, n, entry, false, out);
                    return;
                }
            }
            Some(cur) if !stream_beats(&stream(), cur) => r.late += 1,
            _ => r.early.push((stream(), n, entry)),
        }
        // The room at hand, not found again by name.
        if Self::drain_room(r, self.cfg.no_dedup, &key, &mut self.pending_pump, now, out) {
            self.pump_pending(now, out);
        }
    }

    fn sync(&mut self, now: Instant, key: &str, stream: Stream, start: u64, out: &mut Outbox) {
        let r = self.rooms.get_mut(key).expect("joined room");
        let resync = std::mem::take(&mut r.resync);
        match &r.stream {
            Some(cur) if *cur == stream => {
                // A newer start point for the stream we deliver: numbers
                // below it exist, and we go and get the ones we missed.
                if start > 0 {
                    r.top = r.top.max(start - 1);
                }
            }
            Some(cur) if !stream_beats(&stream, cur) && !resync => {}
            _ => {
                // Close the old stream: deliver what waited behind gaps,
                // passing over the gaps themselves.
                let old = r.stream.take();
                let buf = r.buf.take_all();
                if let Some(old) = old {
                    let mut expect = r.next;
                    for (n, e) in buf {
                        for gap in expect..n {
                            self.deliver(key, &old, gap, Entry::Skip, true, out);
                        }
                        self.deliver(key, &old, n, e, true, out);
                        expect = n + 1;
                    }
                }
                let r = self.rooms.get_mut(key).expect("joined room");
                // The sequencer's name shared (intern.rs), as the room's:
                // every delivery compares it and its note clones it.
                r.stream = Some(Stream {
                    epoch: stream.epoch,
                    seq: crate::intern::arc(&stream.seq),
                });
                r.next = start;
                r.start = start;
                r.top = start.saturating_sub(1);
                r.gap_since = None;
                let early = std::mem::take(&mut r.early);
                for (s, n, e) in early {
                    if s == stream {
                        if n >= start {
                            r.top = r.top.max(n);
                            r.buf.insert(n, e);
                        }
                    } else if stream_beats(&s, &stream) {
                        r.early.push((s, n, e));
                    } else {
                        r.late += 1;
                    }
                }
            }
        }
        self.drain(now, key, out);
    }

    /// Delivers everything that is next in line.
    fn drain(&mut self, now: Instant, key: &str, out: &mut Outbox) {
        let r = self.rooms.get_mut(key).expect("room");
        if Self::drain_room(r, self.cfg.no_dedup, key, &mut self.pending_pump, now, out) {
            self.pump_pending(now, out);
        }
    }

    /// [`Client::drain`] on a room at hand: delivering changes nothing but
    /// the room and the list of rooms to pump. False, with nothing done,
    /// when the room follows no stream; the caller then pumps nothing.
    fn drain_room(
        r: &mut RoomState,
        dedup_off: bool,
        key: &str,
        pending_pump: &mut Vec<String>,
        now: Instant,
        out: &mut Outbox,
    ) -> bool {
        let Some(stream) = r.stream.clone() else {
            return false;
        };
        while let Some(e) = r.buf.remove(r.next) {
            let n = r.next;
            if r.deliver(dedup_off, stream.clone(), n, e, out) {
                pending_pump.push(key.to_string());
            }
        }
        r.time_gap(now);
        true
    }

    /// Lets the next message of every room whose own message came back go.
    fn pump_pending(&mut self, now: Instant, out: &mut Outbox) {
        for k in std::mem::take(&mut self.pending_pump) {
            self.pump(now, &k, out);
        }
    }

    /// Delivers entry `n`; `dedup`: unless the sender's copy was already
    /// delivered (the `redirect-dedup` ablation redelivers without it).
    fn deliver(
        &mut self,
        key: &str,
        stream: &Stream,
        n: u64,
        e: Entry,
        dedup: bool,
        out: &mut Outbox,
    ) {
        let dedup_off = self.cfg.no_dedup || !dedup;
        let r = self.rooms.get_mut(key).expect("room");
        if r.deliver(dedup_off, stream.clone(), n, e, out) {
            self.pending_pump.push(key.to_string());
        }
    }

    /// Asks about gaps, and retries messages that got no answer.
    pub(crate) fn room_timers(&mut self, now: Instant, key: &str, out: &mut Outbox) {
        let cfg_find = self.cfg.find_delay;
        let cfg_send = self.cfg.send_timeout;
        let r = self.rooms.get_mut(key).expect("room");
        if let (Some(since), Some(stream)) = (r.gap_since, r.stream.clone()) {
            if now.saturating_since(since) >= cfg_find && !self.cfg.no_find {
                r.gap_since = Some(now);
                let name = r.name.clone();
                let limit = r.top.min(r.next + 16);
                let missing: Vec<u64> = (r.next..=limit).filter(|&n| !r.buf.contains(n)).collect();
                let e = stream.epoch.to_string();
                for n in missing {
                    let nn = n.to_string();
                    self.send(out, "FINDSEQ", &[&name, &e, &stream.seq, &nn]);
                }
            }
        }
        let r = self.rooms.get_mut(key).expect("room");
        let stuck = r.outq.front().is_some_and(|o| match &o.state {
            Some(Sending::AwaitNumber { since }) | Some(Sending::AwaitEcho { since, .. }) => {
                now.saturating_since(*since) >= cfg_send
            }
            None => false,
        });
        if stuck {
            self.retry(now, key, "no answer", out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{message_id, split_id};

    /// The id splits at its last slash (an origin may hold one), and an
    /// id without a slash, an empty origin or a counter that is not a
    /// number is no id.
    #[test]
    fn an_id_splits_at_its_last_slash_into_origin_and_counter() {
        assert_eq!(split_id("0AQ-1-17/12"), Some(("0AQ-1-17", 12)));
        assert_eq!(message_id("0AQ-1-17", 12), "0AQ-1-17/12");
        assert_eq!(
            split_id(&message_id("0AQ-1-17", u64::MAX)),
            Some(("0AQ-1-17", u64::MAX))
        );
        assert_eq!(split_id("a/b/7"), Some(("a/b", 7)));
        for bad in ["0AQ-1-17", "/7", "0AQ/", "0AQ/x", "0AQ/-1", ""] {
            assert_eq!(split_id(bad), None, "{bad:?}");
        }
    }
}
