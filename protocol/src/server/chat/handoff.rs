//! Handing a room's sequencer over at a graceful shutdown.
//!
//! A server about to shut down gives every stream it sequences to another
//! server, which goes on numbering the same stream (same epoch, same
//! sequencer name) from where it stopped: the room does not stop, no epoch
//! is started, no number is lost or used twice. In order:
//! 1. numbers held for senders who have not used them are skipped (the
//!    members are told; a sender whose CSEND then fails asks again);
//! 2. the whole state goes to the successor, routed hop by hop, the
//!    destination last: `RSEQSTATE,room,epoch,seq,next,dest`, one
//!    `RSEQSLOT,room,seq,n,[uid,nick,id,text,]dest` per number (a message
//!    or a skip; `RSEQSLOT,room,seq,n,uid,dest` for a number taken back at
//!    step 1 from member `uid`) so the successor can answer any FINDSEQ, one
//!    `RSEQSTART,room,uid,start,memid,dest` per member (the membership the
//!    start point was given to), and
//!    `RSEQEND,room,gen,dest`, at which it takes the stream over;
//! 3. the successor, on `RSEQEND`, says it is ready (`RSEQTAKE`, again
//!    every `find_delay` until the answer comes: the take or the answer
//!    may die with a link), takes the stream over at the old sequencer's
//!    `RSEQGO` and floods
//!    `RHOLDER,room,seq,holder,gen`: every server sends the stream's
//!    traffic to the holder from then on. The old sequencer routes its own
//!    traffic there as soon as it sent the state, and waits (at most
//!    `redirect_timeout`) for that RHOLDER (of that stream: another stream
//!    of the room can go to the same successor at the same `gen`) as its
//!    receipt before it closes its links, and passes it on, so it precedes
//!    the shutdown's SCLOSE on every link and no server elects another
//!    sequencer when the old one leaves. Without a receipt it closes
//!    anyway and tries nobody else: the state may only be late (a
//!    partition holds it, then heals), and a second successor would
//!    number the same numbers again. Having told
//!    the successor to go, it floods the successor's RHOLDER itself as it
//!    leaves, and a successor awaiting the go takes an RHOLDER naming it
//!    for that handover as the go: a go lost where the tree re-forms can
//!    outlast the successor's repeated takes. If the state is lost, the
//!    room stops with the old sequencer, as with a crash.
//!    `gen` counts the stream's handovers (a successor may shut down in
//!    turn): the newest wins, and a holder that hears of a newer one steps
//!    down. Bursts carry every holder, before the rooms, so a restarted
//!    process does not mistake its old stream for one it lost; a restarted
//!    holder, like a restarted sequencer, starts a new epoch above the
//!    stream it no longer runs.
//! 4. A member whose join reached the old sequencer after it sent the state
//!    is not in it: the successor starts every member without a start
//!    point when it takes the stream, and every member whose start point
//!    was given to an earlier membership (it left and joined again
//!    meanwhile).
//!
//! The successor is the server with the most members of the room, then
//! the least loaded, then the first by name.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::rooms::{Numbered, Sequencer, Slot, TAKEN_BACK};
use super::{frame, verbatim, Dest};
use crate::config::SendMode;
use crate::outbox::{LinkId, Outbox, Stream};
use crate::server::Server;
use crate::time::Instant;
use crate::wire::{parse_u64, Frame};

/// Who sequences a room's stream after a handover.
#[derive(Clone, Debug)]
pub(crate) struct Holder {
    /// The stream's sequencer name (the server that started it).
    pub seq: Arc<str>,
    /// The server sequencing it now.
    pub sid: Arc<str>,
    pub gen: u64,
}

/// A stream this server, shutting down, is handing over: what it sent,
/// to whom, and until when it waits for the successor's RHOLDER.
#[derive(Clone, Debug)]
pub(crate) struct Handing {
    stream: Stream,
    seq: Sequencer,
    /// SIDs tried, the current one last.
    tried: Vec<Arc<str>>,
    /// The server we took the stream from while shutting down ourselves:
    /// it handed the stream away because it is shutting down too, so it is
    /// never offered the stream back (two draining servers handed one
    /// stream to each other 84 times in five seconds).
    leaving: Option<Arc<str>>,
    /// Rounds of `redirect_timeout` used, with a successor or without.
    rounds: usize,
    gen: u64,
    until: Instant,
    /// The current successor said it is ready and we told it to go: the
    /// stream is its now, whatever happens next.
    decided: bool,
    /// Members whose requests for a number came while the stream was in
    /// flight: asked again once it is decided (toward the successor) or
    /// let go (refused), instead of being refused while it was merely
    /// moving (a message lost to a shutdown, shutdown-hub-200-clients).
    waiting: Vec<Arc<str>>,
}

/// A handed-over stream whose whole state is here: the handover's `gen`
/// and the server offering it, which we told we are ready (RSEQTAKE) and
/// whose go (RSEQGO) we await.
#[derive(Clone, Debug)]
pub(crate) struct Offer {
    pub gen: u64,
    pub from: Arc<str>,
    /// When we say we are ready again, if the go has not come: the take
    /// or the go is directed, and one routed along a link that closes on
    /// the way (a second server shutting down beside the first) is lost
    /// with nobody to notice (two-shutdowns-lose-the-stream.toml). `None`
    /// once the old sequencer has surely let go: it waits at most
    /// `redirect_timeout` for our answer from when it sent the state.
    pub again: Option<Instant>,
    until: Instant,
}

/// Offers kept per room (`incoming`), one per stream, the oldest going
/// first. Two servers shutting down can each create a room while they
/// drain (a join reached each before it heard of the other's room) and
/// hand their two streams to the same successor at once, both as the
/// streams' first handover: with one offer a room, the second state
/// replaced the first, and the go for the first, naming only the room and
/// the handover's number, was spent on the second's offer, which the room
/// (merged onto the first stream) no longer followed. The first stream was
/// left with nobody: a request for a number was refused, and the room
/// started afresh in a new epoch (swarm-nicks seed 42861,
/// two-streams-offered-at-once.toml; the `offer-per-stream` ablation).
pub(crate) const OFFERS: usize = 4;

/// Records kept per room: streams a room moved through that were handed
/// over, as bursts carry them; a stream's record is only ever read for
/// that stream, so an old one costs a little memory and nothing else.
const HOLDERS: usize = 4;

/// The holder records, by room key, one per stream: at most [`HOLDERS`] a
/// room, the record of the stream the room is on here never the one let
/// go. One record a room let a stale record of an older stream, which a
/// server re-linking after a stall sends in its burst, replace the
/// current stream's, and every server then sent the room's traffic to the
/// server that had handed it away (room.sequenced: swarm-chat seed 578,
/// swarm-greeter seed 675; holder-replaced-by-stale-record.toml). A
/// restarted server hears the records in bursts before the rooms, so
/// until it knows which stream a room is on it keeps the newest few.
#[derive(Clone, Debug, Default)]
pub(crate) struct Holders(BTreeMap<String, Vec<Holder>>);

impl Holders {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Who holds stream `seq` of room `key`, if it was handed over.
    pub fn get(&self, key: &str, seq: &str) -> Option<&Holder> {
        self.0.get(key)?.iter().find(|h| *h.seq == *seq)
    }

    /// Records `h` for its stream; past [`HOLDERS`] records, the oldest
    /// other than that of `current` (the stream the room is on here) goes.
    pub fn insert(&mut self, key: &str, h: Holder, current: Option<&str>) {
        let list = self.0.entry(key.to_string()).or_default();
        list.retain(|x| *x.seq != *h.seq);
        list.push(h);
        if list.len() > HOLDERS {
            if let Some(i) = list.iter().position(|x| Some(&*x.seq) != current) {
                list.remove(i);
            }
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Holder)> {
        self.0
            .iter()
            .flat_map(|(k, l)| l.iter().map(move |h| (k, h)))
    }
}

impl Handing {
    pub(crate) fn until(&self) -> Instant {
        self.until
    }
}

/// Rounds per stream (each a try, or a wait when nobody is in reach)
/// before the room is let go with the server.
/// Trying another is safe: only the one we answer RSEQGO takes the stream
/// (without that answer, a late successor and a second one, sent the same
/// state, numbered the same numbers twice: swarm-chat seed 695).
/// Five at the default 5 s each outlast a dead neighbour's ping timeout
/// (15 s), during which our view may route every candidate through it
/// (swarm-discovery seed 173).
const TRIES: usize = 5;

impl Server {
    /// Hands every stream this server sequences to a successor.
    pub(crate) fn hand_over_sequencers(&mut self, now: Instant, out: &mut Outbox) {
        if self.cfg.ablations.no_sequencer_handoff {
            return;
        }
        let keys: Vec<Arc<str>> = self
            .chat
            .rooms
            .iter()
            .filter(|(_, r)| r.seq.is_some())
            .map(|(k, _)| k.clone())
            .collect();
        for key in keys {
            self.hand_over(now, &key, None, out);
        }
    }

    /// Hands the stream of room `key`, sequenced here, to a successor.
    fn hand_over(&mut self, now: Instant, key: &str, leaving: Option<Arc<str>>, out: &mut Outbox) {
        if self.successor(key, &[], leaving.as_deref()).is_none() {
            // Nobody in view just now. Not necessarily alone: a link made
            // an instant before the shutdown is registered at our end
            // before the neighbour's burst arrives, and our last word on
            // it is answered only after that burst. So each step of the
            // drain offers the stream again; if nobody comes into view
            // before we close, the room stops with us (swarm-discovery
            // seed 41490 at 1 s hops: a seeker shut down 450 ms after its
            // one link came up, kept #room05, and the servers left
            // started it afresh in epoch 2; the `drain-kept-streams`
            // ablation).
            let kept = &mut self.chat.kept_in_drain;
            if self.draining.is_some()
                && !self.cfg.ablations.no_drain_kept_streams
                && !kept.iter().any(|(k, _)| k == key)
            {
                kept.push((key.to_string(), leaving));
            }
            return;
        }
        let held: Vec<(u64, Arc<str>)> = self.chat.rooms[key]
            .seq
            .as_ref()
            .map(|s| {
                let holder = |n: &u64| match s.slots.get(n) {
                    Some(Slot::Held { uid, .. }) => Some((*n, uid.clone())),
                    _ => None,
                };
                s.held.iter().filter_map(holder).collect()
            })
            .unwrap_or_default();
        for (n, _) in &held {
            self.skip_number(key, *n, out);
        }
        let room = self.chat.rooms.get_mut(key).expect("listed");
        let mut seq = room.seq.take().expect("sequenced here");
        // The numbers held when this handover began, skipped above, and
        // the members they were handed to: a member's CSEND for one can
        // still be on its way (its NEWSEQ was), and is refused as handed
        // over, here and at the successor, which the state tells. An
        // earlier handover's are not passed on: the record lasts one.
        seq.taken_back = held;
        room.fanout = None;
        let stream = room.stream.clone();
        let gen = self.chat.holders.get(key, &stream.seq).map_or(0, |h| h.gen);
        let h = Handing {
            stream,
            seq: *seq,
            tried: Vec::new(),
            leaving,
            rounds: 0,
            gen,
            until: now,
            decided: false,
            waiting: Vec::new(),
        };
        self.chat.handing.insert(key.to_string(), h);
        self.send_handoff(now, key, out);
    }

    /// Sends a handed-over stream to the next successor, or lets it go
    /// when its rounds are used up.
    fn send_handoff(&mut self, now: Instant, key: &str, out: &mut Outbox) {
        let h = self.chat.handing.get_mut(key).expect("handing");
        if h.rounds >= TRIES {
            let h = self.chat.handing.remove(key).expect("handing");
            self.ask_again_for(now, key, h.waiting, out);
            return;
        }
        h.rounds += 1;
        let (tried, leaving) = (h.tried.clone(), h.leaving.clone());
        let to = self
            .successor(key, &tried, leaving.as_deref())
            .filter(|to| matches!(self.dest_of_sid(to), Dest::Link(_)));
        let Some(to) = to else {
            // Nobody in reach just now (our view lost a dead neighbour's
            // part, say): look again after a round.
            let h = self.chat.handing.get_mut(key).expect("handing");
            h.until = now + self.cfg.redirect_timeout;
            let until = h.until;
            self.arm(until);
            return;
        };
        let Dest::Link(l) = self.dest_of_sid(&to) else {
            unreachable!("filtered");
        };
        let h = self.chat.handing.get_mut(key).expect("handing");
        h.tried.push(to.clone());
        h.gen += 1;
        h.until = now + self.cfg.redirect_timeout;
        let (gen, until) = (h.gen, h.until);
        let (stream, seq) = (h.stream.clone(), h.seq.clone());
        let refuse = !self.cfg.ablations.no_handover_refusal;
        let name = self.chat.rooms[key].name.clone();
        let (e, next) = (stream.epoch.to_string(), seq.next.to_string());
        out.send(l, frame("RSEQSTATE", &[&name, &e, &stream.seq, &next, &to]));
        for (at, slot) in &seq.slots {
            let n = at.to_string();
            match slot {
                Slot::Used {
                    uid,
                    nick,
                    id,
                    text,
                } => out.send(
                    l,
                    frame(
                        "RSEQSLOT",
                        &[&name, &stream.seq, &n, uid, nick, id, text, &to],
                    ),
                ),
                // A number taken back at this handover's start names the
                // member it was held for (`RSEQSLOT,room,seq,n,uid,dest`),
                // so the successor refuses that member's CSEND for it as
                // handed over too (`handover-refusal`).
                _ => match seq.taken_back.iter().find(|(t, _)| t == at) {
                    Some((_, uid)) if refuse => {
                        out.send(l, frame("RSEQSLOT", &[&name, &stream.seq, &n, uid, &to]))
                    }
                    _ => out.send(l, frame("RSEQSLOT", &[&name, &stream.seq, &n, &to])),
                },
            }
        }
        for (uid, (start, memid)) in &seq.starts {
            let (st, m) = (start.to_string(), memid.to_string());
            out.send(
                l,
                frame("RSEQSTART", &[&name, &stream.seq, uid, &st, &m, &to]),
            );
        }
        let g = gen.to_string();
        let me = self.me.sid.clone();
        out.send(l, frame("RSEQEND", &[&name, &stream.seq, &g, &me, &to]));
        self.arm(until);
    }

    /// A request for a number of a stream this server is handing over:
    /// kept until the stream lands (true), else the caller refuses it.
    pub(crate) fn wait_for_handoff(&mut self, key: &str, uid: &str) -> bool {
        match self.chat.handing.get_mut(key) {
            Some(h) if !h.decided => {
                if !h.waiting.iter().any(|w| **w == *uid) {
                    h.waiting.push(uid.into());
                }
                true
            }
            _ => false,
        }
    }

    /// A message for stream `m` of room `key` from `uid` that this server,
    /// handing that stream over, refuses as handed over: one whose number
    /// was held for `uid` when the handover began and skipped then, or
    /// (before the go) one sent with no number. Its sender asks again, and
    /// the refusal costs it no try. Refused as any other, "not the
    /// sequencer" before the go, or by the holder for a number not held
    /// after it, the skip cost a try: in swarm-nicks seed 45617 at 1 s
    /// hops (no fault) n1a, shutting down, took back #room01's number 15,
    /// whose NEWSEQ was still on its way to u0028; u0028's CSEND for it
    /// was its third try, the first two gone with sessions a nick
    /// collision had ended, and the message was given up
    /// (`number-taken-back-at-a-handover.toml`; the `handover-refusal`
    /// ablation).
    pub(crate) fn handed_over(&self, key: &str, m: &Numbered<'_>, uid: &str) -> bool {
        if self.cfg.ablations.no_handover_refusal {
            return false;
        }
        let Some(h) = self.chat.handing.get(key) else {
            return false;
        };
        if h.stream.epoch != m.epoch || *h.stream.seq != *m.seq {
            return false;
        }
        match m.n {
            0 => !h.decided,
            n => h.seq.took_back(n, uid),
        }
    }

    /// The requests held while the stream was in flight go to its new
    /// holder, named as their destination (`RSEQREQ,room,uid,holder`):
    /// the servers on the way learn of the new holder only from its
    /// RHOLDER, later, and routed by their view of the sequencer (us) a
    /// request for a member behind the holder's link would come straight
    /// back and be refused (a message lost to a shutdown,
    /// shutdown-hub-with-clients).
    fn ask_again_for(&mut self, now: Instant, key: &str, uids: Vec<Arc<str>>, out: &mut Outbox) {
        let Some(room) = self.chat.rooms.get(key) else {
            return;
        };
        let name = room.name.clone();
        let holder = self
            .chat
            .holders
            .get(key, &room.stream.seq)
            .map(|h| h.sid.clone());
        let holder = holder.filter(|_| !self.cfg.ablations.no_handoff_reask);
        for uid in uids {
            match holder.as_ref().map(|h| (h, self.dest_of_sid(h))) {
                Some((h, Dest::Link(l))) => out.send(l, frame("RSEQREQ", &[&name, &uid, h])),
                _ => self.request_number(now, key, &uid, out),
            }
        }
    }

    /// Tells the server offering us stream `seq` of room `key` that we are
    /// ready to take it (`RSEQTAKE,room,gen,us,it`), if it is in reach.
    /// The offer of stream `seq` of the room a part of a handed-over
    /// state (RSEQSLOT, RSEQSTART, RSEQEND) is for. Each part names its
    /// stream: two states of one room can reach a successor interleaved,
    /// a frame at a time through servers that forward each as it comes.
    /// (Under `offer-per-stream`, the one offer a room, as before.)
    fn offer_of(&mut self, key: &str, seq: &str) -> Option<&mut super::Incoming> {
        let list = self.chat.incoming.get_mut(key)?;
        if self.cfg.ablations.no_offer_per_stream {
            return list.last_mut();
        }
        list.iter_mut().rev().find(|i| *i.0.seq == *seq)
    }

    fn send_take(&self, key: &str, seq: &str, out: &mut Outbox) {
        let offer = self
            .chat
            .incoming
            .get(key)
            .and_then(|l| l.iter().find(|i| *i.0.seq == *seq));
        let (Some(room), Some((_, _, Some(o)))) = (self.chat.rooms.get(key), offer) else {
            return;
        };
        if let Dest::Link(l) = self.dest_of_sid(&o.from) {
            let (g, me) = (o.gen.to_string(), self.me.sid.clone());
            out.send(l, frame("RSEQTAKE", &[&room.name, &g, &me, &o.from]));
        }
    }

    /// Offers whose go has not come: said again every `find_delay` until
    /// the old sequencer has surely let go. (Called on a timeout, whose
    /// end computes the next wake-up from `chat_deadline`, which counts
    /// the offers' times.)
    pub(crate) fn retry_takes(&mut self, now: Instant, out: &mut Outbox) {
        if self.chat.incoming.is_empty() {
            return;
        }
        let delay = self.cfg.find_delay;
        let mut due: Vec<(String, Arc<str>)> = Vec::new();
        for (key, list) in self.chat.incoming.iter_mut() {
            for (stream, _, o) in list.iter_mut() {
                let Some(o) = o else { continue };
                if o.again.is_none_or(|t| t > now) {
                    continue;
                }
                o.again = Some(now + delay).filter(|t| *t <= o.until);
                if o.again.is_some() {
                    due.push((key.clone(), stream.seq.clone()));
                }
            }
        }
        for (key, seq) in due {
            self.send_take(&key, &seq, out);
        }
    }

    /// Streams whose successor did not answer in time go to the next; one
    /// we told to go but whose RHOLDER has not come back is let go.
    pub(crate) fn retry_handoffs(&mut self, now: Instant, out: &mut Outbox) {
        let due: Vec<String> = self
            .chat
            .handing
            .iter()
            .filter(|(_, h)| h.until <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for key in due {
            if self.chat.handing[&key].decided {
                // Told to go, and no receipt came back: the go or the
                // receipt was lost, and the successor may be waiting for
                // the go still, out of reach while the tree re-forms
                // around a second server shutting down. Say who holds the
                // stream ourselves before we leave: the servers record
                // it, their bursts carry it on, and the successor takes
                // it as the go (two-shutdowns-at-300ms.toml).
                let h = self.chat.handing.remove(&key).expect("due");
                let name = self.chat.rooms.get(&key).map(|r| r.name.clone());
                if let (Some(to), Some(name)) = (h.tried.last(), name) {
                    if !self.cfg.ablations.no_holder_word {
                        let g = h.gen.to_string();
                        let args = [&*name, &*h.stream.seq, &**to, &g];
                        self.flood(None, frame("RHOLDER", &args), out);
                    }
                }
            } else {
                self.send_handoff(now, &key, out);
            }
        }
    }

    /// The server to hand a room's stream to, other than those `tried`:
    /// the one with the most members of the room, then the least loaded,
    /// then the first by name. After a try that got no answer, one through
    /// another of our links first, then the nearest: the silent one may be
    /// behind a dead link or a partition that our view has not noticed
    /// yet, and another direction, or a nearer server, is likelier in reach.
    fn successor(&self, key: &str, tried: &[Arc<str>], leaving: Option<&str>) -> Option<Arc<str>> {
        let room = &self.chat.rooms[key];
        let mut members: BTreeMap<&str, usize> = BTreeMap::new();
        let mut load: BTreeMap<&str, usize> = BTreeMap::new();
        for (uid, u) in self.chat.users.iter_unordered() {
            if u.local {
                continue;
            }
            *load.entry(&*u.sid).or_default() += 1;
            if room.members.contains_key(uid) {
                *members.entry(&*u.sid).or_default() += 1;
            }
        }
        let silent: Vec<LinkId> = self
            .known
            .iter()
            .filter(|k| tried.iter().any(|t| **t == *k.sid))
            .map(|k| k.via)
            .collect();
        self.known
            .iter()
            .filter(|k| !tried.iter().any(|t| **t == *k.sid) && Some(&*k.sid) != leaving)
            .map(|k| {
                let m = members.get(&*k.sid).copied().unwrap_or(0);
                let l = load.get(&*k.sid).copied().unwrap_or(0);
                let near = if tried.is_empty() { 0 } else { k.hops };
                let way = silent.contains(&k.via);
                (way, near, std::cmp::Reverse(m), l, k.name(), k.sid.arc())
            })
            .min()
            .map(|(_, _, _, _, _, sid)| sid)
    }

    /// Every handed-over stream, for a burst (before the rooms).
    pub(crate) fn send_holders(&self, link: LinkId, out: &mut Outbox) {
        for (key, h) in self.chat.holders.iter() {
            let name = self.chat.rooms.get(key).map_or(key.as_str(), |r| &*r.name);
            let g = h.gen.to_string();
            out.send(link, frame("RHOLDER", &[name, &h.seq, &h.sid, &g]));
        }
    }

    /// The rooms this server began to sequence while it drained, handed
    /// over in turn (room-created-while-draining.toml: with hops of 1 s a
    /// join on its way when the shutdown began created its room here
    /// after the handover, and the room stopped with the server).
    pub(crate) fn hand_over_sequenced_in_drain(&mut self, now: Instant, out: &mut Outbox) {
        for key in std::mem::take(&mut self.chat.sequenced_in_drain) {
            let ours = self.chat.rooms.get(&key).is_some_and(|r| r.seq.is_some());
            if ours && !self.chat.handing.contains_key(&*key) {
                self.hand_over(now, &key, None, out);
            }
        }
    }

    /// The streams kept for want of anybody in view, offered again now
    /// that somebody may be (see `hand_over`).
    pub(crate) fn hand_over_kept_in_drain(&mut self, now: Instant, out: &mut Outbox) {
        for (key, leaving) in std::mem::take(&mut self.chat.kept_in_drain) {
            let ours = self.chat.rooms.get(&key).is_some_and(|r| r.seq.is_some());
            if ours && !self.chat.handing.contains_key(&key) {
                self.hand_over(now, &key, leaving, out);
            }
        }
    }

    /// Takes room `key`'s stream, whose whole state is here, at the go of
    /// the handover numbered `gen`: the old sequencer's RSEQGO, or an
    /// RHOLDER naming us for that handover and `seq` (the old sequencer
    /// floods one when it lets a handover it decided go without our
    /// receipt: the go may have been lost where the tree was re-forming).
    /// True if it took the stream (and flooded its own RHOLDER).
    fn take_handed(
        &mut self,
        now: Instant,
        key: &str,
        gen: u64,
        seq: Option<&str>,
        out: &mut Outbox,
    ) -> bool {
        let Some(list) = self.chat.incoming.get_mut(key) else {
            return false;
        };
        let Some(i) = list.iter().position(|i| {
            i.2.as_ref().map(|o| o.gen) == Some(gen) && seq.is_none_or(|s| *i.0.seq == *s)
        }) else {
            return false;
        };
        let (stream, s, offered) = list.remove(i);
        if list.is_empty() {
            self.chat.incoming.remove(key);
        }
        // Only for the stream the room is on here: one that moved on
        // meanwhile (a merge) has no use for it.
        let Some(room) = self.chat.rooms.get_mut(key) else {
            return false;
        };
        if room.stream != stream {
            return false;
        }
        room.seq = Some(Box::new(s));
        room.fanout = None;
        let name = room.name.clone();
        let me = self.me.sid.clone();
        // Everyone, the old sequencer too (its receipt), learns who holds
        // the stream now.
        let g = gen.to_string();
        let args = [&*name, &*stream.seq, &*me, &g];
        self.flood(None, frame("RHOLDER", &args), out);
        let current = stream.seq.clone();
        self.chat.holders.insert(
            key,
            Holder {
                seq: stream.seq,
                sid: me,
                gen,
            },
            Some(&current),
        );
        // A member whose join reached the old sequencer after it sent the
        // state (and us before we held the stream) has no start point
        // yet: it starts here, now. So does one whose start point was
        // given to an earlier membership: it left and joined again while
        // the stream was in flight (the old sequencer, handing over, keeps
        // the state it sent), and starting it there would send it every
        // message since its first membership again (swarm-chat with
        // leaves, seed 258).
        let room = &self.chat.rooms[key];
        let seq = room.seq.as_ref().expect("just taken");
        let keep_any = self.cfg.ablations.no_start_membership;
        let late: Vec<Arc<str>> = room
            .members
            .iter()
            .filter(|(u, m)| match seq.starts.get(*u) {
                None => true,
                Some(&(_, given)) => given != **m && !keep_any,
            })
            .map(|(u, _)| u.clone())
            .collect();
        for uid in late {
            self.new_membership(key, &uid, out);
        }
        // Given a stream while shutting down ourselves (after our own
        // handover): pass it on in turn.
        if self.draining.is_some() && !self.cfg.ablations.no_sequencer_handoff {
            self.hand_over(now, key, offered.map(|o| o.from), out);
        }
        true
    }

    /// Room `key` is on stream `seq`, which the network says we hold, and
    /// we neither run it nor await it: a new stream above it, ours.
    fn restart_stream_named_ours(&mut self, key: &str, seq: &str, out: &mut Outbox) {
        let Some(r) = self.chat.rooms.get(key) else {
            return;
        };
        let awaited = self.chat.incoming.contains_key(key) || self.chat.handing.contains_key(key);
        if *r.stream.seq != *seq || r.seq.is_some() || awaited {
            return;
        }
        let stream = Stream {
            epoch: r.stream.epoch.saturating_add(1),
            seq: self.my_sequencer_name(),
        };
        if self.adopt_stream(key, stream, out) {
            let r = self.chat.rooms[key].clone();
            self.announce_room(&r, None, out);
        }
    }

    /// The handover messages. False if malformed.
    pub(crate) fn on_handoff_msg(
        &mut self,
        now: Instant,
        link: LinkId,
        f: &Frame,
        raw: &[u8],
        out: &mut Outbox,
    ) -> bool {
        let Some(name) = f.arg(0) else {
            return false;
        };
        if !crate::names::valid_room(name) {
            return false;
        }
        let key = crate::names::fold(name);
        if f.command() == "RHOLDER" {
            let Some([_, seq, holder, gen]) = f.args_exact::<4>() else {
                return false;
            };
            let Some(gen) = parse_u64(gen) else {
                return false;
            };
            if holder.len() != 3 {
                return false;
            }
            // Our successor's receipt: the stream is in its hands. Only
            // for the stream we hand over: a successor can be handed two
            // streams of one room, each as its first handover, and the
            // other stream's RHOLDER, naming the same holder and number,
            // taken as ours let the stream go before its successor was
            // told to take it (swarm-discovery seed 61382 at 1 s hops,
            // receipt-names-its-stream.toml; the `receipt-per-stream`
            // ablation).
            let any_stream = self.cfg.ablations.no_receipt_per_stream;
            if self.chat.handing.get(&key).is_some_and(|h| {
                h.tried.last().is_some_and(|t| **t == *holder)
                    && h.gen == gen
                    && (any_stream || *h.stream.seq == *seq)
            }) {
                // Passed on, although we recorded the holder when we sent
                // the stream: the servers behind us hear it before the
                // SCLOSE that follows on the same links.
                let h = self.chat.handing.remove(&key).expect("handing");
                self.flood(Some(link), verbatim(raw), out);
                self.ask_again_for(now, &key, h.waiting, out);
                return true;
            }
            // The old sequencer's word that the stream we are offered is
            // ours: its go was lost (two-shutdowns-at-300ms.toml).
            if *holder == *self.me.sid
                && !self.cfg.ablations.no_holder_word
                && self.take_handed(now, &key, gen, Some(seq), out)
            {
                return true;
            }
            let newer = self.chat.holders.get(&key, seq).is_none_or(|h| h.gen < gen);
            if !newer {
                return true; // seen
            }
            let current = self.chat.rooms.get(&key).map(|r| r.stream.seq.clone());
            self.chat.holders.insert(
                &key,
                Holder {
                    seq: seq.into(),
                    sid: holder.into(),
                    gen,
                },
                current.as_deref(),
            );
            let me = self.me.sid.clone();
            if let Some(r) = self.chat.rooms.get_mut(&key) {
                r.fanout = None;
                // A newer handover of the stream we sequence went to
                // another server (the old sequencer never had our
                // receipt and tried the next): step down, one holder only.
                if *r.stream.seq == *seq && r.seq.is_some() && *holder != *me {
                    r.seq = None;
                }
            }
            self.flood(Some(link), verbatim(raw), out);
            // Named holder of the stream the room is on here, with neither
            // its state nor an offer of it: we said we were ready and then
            // restarted, and the old sequencer's word came after the
            // bursts that a restart's ROOM check reads. The numbers went
            // with that process: start a new stream above it, as a
            // restarted sequencer does, or under `home` the room would
            // wait on us for good.
            if *holder == *me && !self.cfg.ablations.no_holder_word {
                self.restart_stream_named_ours(&key, seq, out);
            }
            return true;
        }
        // The state travels toward its destination, named last.
        let n = f.arg_count();
        let dest = f.arg(n - 1).unwrap_or("");
        match self.dest_of_sid(dest) {
            Dest::Me => {}
            Dest::Link(l) if l != link => {
                out.send(l, verbatim(raw));
                return true;
            }
            _ => return true,
        }
        let num = |i: usize| f.arg(i).and_then(parse_u64);
        match (f.command(), n) {
            ("RSEQSTATE", 5) => {
                let (Some(epoch), Some(seq), Some(next)) = (num(1), f.arg(2), num(3)) else {
                    return false;
                };
                let stream = Stream {
                    epoch,
                    seq: seq.into(),
                };
                let s = Sequencer {
                    next,
                    ..Default::default()
                };
                // One offer per stream: another stream's, under way or
                // awaiting its go, stays (the `offer-per-stream` ablation
                // keeps one a room, as before).
                let one = self.cfg.ablations.no_offer_per_stream;
                let list = self.chat.incoming.entry(key).or_default();
                list.retain(|i| !one && i.0.seq != stream.seq);
                list.push((stream, s, None));
                if list.len() > OFFERS {
                    list.remove(0);
                }
            }
            ("RSEQSLOT", 8 | 5 | 4) => {
                let (Some(seq), Some(at)) = (f.arg(1), num(2)) else {
                    return false;
                };
                // A skip naming a member: a number taken back from it at
                // the handover's start (see `Sequencer::taken_back`).
                let taken_from = if n == 5 { f.arg(3) } else { None };
                let slot = if n == 8 {
                    let a = |i: usize| -> Arc<str> { f.arg(i).unwrap_or("").into() };
                    Slot::Used {
                        uid: a(3),
                        nick: a(4),
                        id: a(5),
                        text: a(6),
                    }
                } else {
                    Slot::Skipped
                };
                let send = self.cfg.send;
                if let Some((_, s, _)) = self.offer_of(&key, seq) {
                    // Each origin's last count comes with the slots.
                    if let (Slot::Used { id, .. }, SendMode::AtOnce) = (&slot, send) {
                        s.in_origin_order(id, at, false);
                    }
                    s.slots.insert(at, slot);
                    if let Some(uid) = taken_from {
                        if s.taken_back.len() < TAKEN_BACK {
                            s.taken_back.push((at, uid.into()));
                        }
                    }
                }
            }
            ("RSEQSTART", 6) => {
                let (Some(seq), Some(uid), Some(start), Some(memid)) =
                    (f.arg(1), f.arg(2), num(3), num(4))
                else {
                    return false;
                };
                if let Some((_, s, _)) = self.offer_of(&key, seq) {
                    s.starts.insert(uid.into(), (start, memid));
                }
            }
            ("RSEQEND", 5) => {
                // The whole state is here: say we are ready, and take the
                // stream only when the old sequencer says go.
                let (Some(seq), Some(gen), Some(from)) = (f.arg(1), num(2), f.arg(3)) else {
                    return false;
                };
                let again =
                    (!self.cfg.ablations.no_take_reask).then_some(now + self.cfg.find_delay);
                let until = now + self.cfg.redirect_timeout;
                let Some((stream, _, offered)) = self.offer_of(&key, seq) else {
                    return true;
                };
                *offered = Some(Offer {
                    gen,
                    from: from.into(),
                    again,
                    until,
                });
                let seq = stream.seq.clone();
                self.send_take(&key, &seq, out);
                if let Some(t) = again {
                    self.arm(t);
                }
            }
            ("RSEQTAKE", 4) => {
                // At the old sequencer: the first ready successor of the
                // current try is told to go; anything else is too late.
                let (Some(gen), Some(from)) = (num(1), f.arg(2)) else {
                    return false;
                };
                let Some(h) = self.chat.handing.get_mut(&key) else {
                    return true;
                };
                if h.gen != gen || h.tried.last().is_none_or(|t| **t != *from) {
                    return true;
                }
                if h.decided {
                    // Ready again: our go was lost on the way. The stream
                    // is this successor's already; say so again.
                    let seq = h.stream.seq.clone();
                    if let Dest::Link(l) = self.dest_of_sid(from) {
                        let (name, g) = (f.arg(0).unwrap_or(""), gen.to_string());
                        out.send(l, frame("RSEQGO", &[name, &g, &seq, from]));
                    }
                    return true;
                }
                h.decided = true;
                let waiting = std::mem::take(&mut h.waiting);
                let (seq, to) = (
                    h.stream.seq.clone(),
                    h.tried.last().cloned().expect("tried"),
                );
                // Our own traffic for the stream goes there from now on;
                // the others learn it from the successor's RHOLDER, which
                // is also our receipt.
                let current = self.chat.rooms.get(&key).map(|r| r.stream.seq.clone());
                self.chat.holders.insert(
                    &key,
                    Holder {
                        seq: seq.clone(),
                        sid: to.clone(),
                        gen,
                    },
                    current.as_deref(),
                );
                if let Dest::Link(l) = self.dest_of_sid(&to) {
                    let (name, g) = (f.arg(0).unwrap_or(""), gen.to_string());
                    out.send(l, frame("RSEQGO", &[name, &g, &seq, &to]));
                }
                // After the go, so the successor has the stream first.
                self.ask_again_for(now, &key, waiting, out);
            }
            ("RSEQGO", 4) => {
                // The go names its stream: a successor offered two streams
                // of one room at once takes the one it was told to, and
                // only at its own old sequencer's go (with the ablation,
                // whichever offer has that handover number).
                let (Some(gen), Some(seq)) = (num(1), f.arg(2)) else {
                    return false;
                };
                let seq = Some(seq).filter(|_| !self.cfg.ablations.no_offer_per_stream);
                self.take_handed(now, &key, gen, seq, out);
            }
            _ => return false,
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(seq: &str, sid: &str, gen: u64) -> Holder {
        Holder {
            seq: seq.into(),
            sid: sid.into(),
            gen,
        }
    }

    /// A record of another stream does not replace the current stream's:
    /// each stream is looked up by its own name.
    #[test]
    fn a_stale_record_leaves_the_current_streams_record() {
        let mut h = Holders::default();
        h.insert("#r", rec("0AG-2", "0AA", 1), Some("0AG-2"));
        h.insert("#r", rec("0AF-1", "0AG", 1), Some("0AG-2"));
        assert_eq!(&*h.get("#r", "0AG-2").unwrap().sid, "0AA");
        assert_eq!(&*h.get("#r", "0AF-1").unwrap().sid, "0AG");
        // A later handover of the same stream replaces its record.
        h.insert("#r", rec("0AG-2", "0AB", 2), Some("0AG-2"));
        assert_eq!(&*h.get("#r", "0AG-2").unwrap().sid, "0AB");
        assert_eq!(h.iter().count(), 2);
        assert!(h.get("#s", "0AG-2").is_none());
    }

    /// At most `HOLDERS` a room; the oldest goes first, but never the
    /// current stream's, and with no room known yet (a restarted server
    /// reading bursts) the newest are kept.
    #[test]
    fn a_room_keeps_a_few_records_and_always_the_current_streams() {
        let mut h = Holders::default();
        h.insert("#r", rec("0AA-1", "0AB", 1), Some("0AA-1"));
        for (i, seq) in ["0AC-1", "0AD-1", "0AE-1", "0AF-1"].iter().enumerate() {
            h.insert("#r", rec(seq, "0AB", 1), Some("0AA-1"));
            assert_eq!(h.iter().count(), (i + 2).min(HOLDERS));
        }
        assert!(h.get("#r", "0AA-1").is_some(), "the current stream's stays");
        assert!(h.get("#r", "0AC-1").is_none(), "the oldest other went");
        assert!(h.get("#r", "0AF-1").is_some());
        let mut fresh = Holders::default();
        for seq in ["0AA-1", "0AC-1", "0AD-1", "0AE-1", "0AF-1"] {
            fresh.insert("#r", rec(seq, "0AB", 1), None);
        }
        assert!(fresh.get("#r", "0AA-1").is_none());
        assert!(fresh.get("#r", "0AC-1").is_some());
        assert_eq!(fresh.iter().count(), HOLDERS);
    }
}
