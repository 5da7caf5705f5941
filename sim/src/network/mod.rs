//! The virtual network: TCP-like connections between hosts.
//!
//! A connection is two FIFO directions. Each frame gets its own latency
//! draw, but never overtakes the frame before it (TCP keeps order). Only
//! the head of a direction has a delivery event in the queue; the next one
//! is scheduled when the head is delivered. A direction that cannot
//! deliver (partition, stall) holds its frames and is woken when the
//! obstacle goes away, as a TCP retransmission would eventually succeed.

pub mod datagram;
mod fifo;
mod frames;
mod partition;

use fifo::Fifo;
use frames::{Block, FrameStore};

use drc_protocol::LinkId;
use rand_chacha::rand_core::RngCore;
use rand_chacha::ChaCha8Rng;

use crate::clock::SimTime;
use crate::rng;

pub use partition::Partition;

pub type HostId = u32;
pub type ConnId = u32;

/// Length marker for the FIN that ends a direction.
const FIN: u32 = u32::MAX;

#[derive(Clone, Copy, Debug, Default)]
struct Queued {
    due: SimTime,
    /// Where the frame's bytes are in the [`FrameStore`] (none for the FIN).
    at: Block,
    len: u32,
}

/// One direction of a connection: the frame at its head (the one a
/// delivery reads) and the times a send needs, in the connection's
/// second cache line; the frames behind the head are in
/// [`Conn::behind`], their bytes in the network's [`FrameStore`].
///
/// A user's connection seldom has more than one frame in flight each way,
/// so at 250,000 users a frame touches the connection's first two lines
/// and the store, not a queue elsewhere that nothing had touched for a
/// minute (a cache miss at every frame).
#[derive(Debug, Default)]
pub struct Dir {
    /// The head, if `busy`.
    first: Queued,
    last_due: SimTime,
    busy: bool,
    /// Frames wait behind the head (so a pop reads the queue only then).
    more: bool,
    /// A delivery event for the head is in the event queue.
    pub scheduled: bool,
    /// The head could not be delivered; wake it when the path clears.
    pub blocked: bool,
}

/// What the head of a direction holds.
pub enum Head<'a> {
    Frame(&'a [u8]),
    Fin,
}

impl Dir {
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        behind: &mut Fifo<Queued>,
        store: &mut FrameStore,
        now: SimTime,
        latency: u64,
        bytes: &[u8],
        fin: bool,
    ) -> SimTime {
        let due = (now + latency).max(self.last_due);
        self.last_due = due;
        let (at, len) = if fin {
            (0, FIN)
        } else {
            (store.put(bytes), bytes.len() as u32)
        };
        let q = Queued { due, at, len };
        if self.busy {
            behind.push_back(q);
            self.more = true;
        } else {
            self.first = q;
            self.busy = true;
        }
        due
    }

    #[inline(always)]
    fn front(&self) -> Option<&Queued> {
        self.busy.then_some(&self.first)
    }

    #[inline]
    pub fn head_due(&self) -> Option<SimTime> {
        self.front().map(|q| q.due)
    }

    #[inline(always)]
    fn head<'a>(&self, store: &'a FrameStore) -> Option<Head<'a>> {
        let q = self.front()?;
        Some(if q.len == FIN {
            Head::Fin
        } else {
            Head::Frame(store.get(q.at, q.len as usize))
        })
    }

    #[inline(always)]
    fn pop(&mut self, behind: &mut Fifo<Queued>, store: &mut FrameStore) {
        if !self.busy {
            return;
        }
        if self.first.len != FIN {
            store.release(self.first.at, self.first.len as usize);
        }
        if !self.more {
            self.busy = false;
            return;
        }
        self.first = behind.pop_front().expect("frames behind the head");
        if behind.is_empty() {
            self.more = false;
            behind.release_if_empty(KEEP_FRAMES);
        }
    }

    fn discard(&mut self, behind: &mut Fifo<Queued>, store: &mut FrameStore) {
        while self.busy {
            self.pop(behind, store);
        }
    }

    #[cfg(test)]
    fn in_flight(&self, behind: &Fifo<Queued>) -> usize {
        usize::from(self.busy) + behind.len()
    }

    /// The frames in flight (`None` for the FIN).
    #[cfg(test)]
    fn frames<'a>(
        &'a self,
        behind: &'a Fifo<Queued>,
        store: &'a FrameStore,
    ) -> impl Iterator<Item = Option<&'a [u8]>> + 'a {
        self.front()
            .into_iter()
            .chain(behind.iter())
            .map(|q| (q.len != FIN).then(|| store.get(q.at, q.len as usize)))
    }
}

/// A burst (a new server's whole user table, thousands of registrations
/// at once) grows a direction's queue, which would never shrink on its
/// own: once a direction is empty, a queue beyond a day-to-day size is
/// given back.
const KEEP_FRAMES: usize = 256;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnState {
    /// SYN sent, no answer yet.
    Dialing,
    Open,
    /// Both ends are done with it.
    Closed,
}

/// A connection between `ends[0]` (the dialler) and `ends[1]`.
///
/// Laid out by hand, what a delivery or a send reads first: at 250,000
/// users the connections far outgrow the caches, and each line a frame
/// touches is a miss. The first line holds what every frame reads (ends,
/// open, epochs, links, whether it was ever stalled) and the next latency
/// word a send takes, the second both directions' heads (a processor
/// fetches the two lines of an aligned 128-byte pair together); what is
/// seldom read comes after. The latency stream itself lives apart
/// ([`Network::latency`]), read only by a send, after it has its word.
#[derive(Debug)]
#[repr(C, align(64))]
pub struct Conn {
    pub ends: [HostId; 2],
    /// Whether each end still holds the connection open.
    pub open: [bool; 2],
    pub state: ConnState,
    /// Whether each end's server reported the link registered.
    pub registered: [bool; 2],
    /// Whether each end's server has authenticated its peer and not yet
    /// dropped the link (unlike `registered`, a peer's crash leaves it set:
    /// the surviving end still trusts the link until it times it out).
    pub authed: [bool; 2],
    /// Whether `stalled_until` was ever set: most connections never are,
    /// and a delivery then reads nothing past the first line.
    stalled: bool,
    /// The incarnation of each end's host when it joined the connection:
    /// a restarted host does not know its old connections. Four bytes
    /// each, so that the latency word below fits the first line.
    epoch: [u32; 2],
    /// Each end's link id, once it has one.
    pub links: [Option<LinkId>; 2],
    /// The next word of the latency stream, drawn one send ahead
    /// ([`Network::latency`]).
    ahead: u64,
    /// `dirs[i]` carries frames from `ends[i]` to the other end.
    pub dirs: [Dir; 2],
    /// The frames behind each direction's head.
    behind: [Fifo<Queued>; 2],
    stalled_until: SimTime,
    pub opened_at: SimTime,
}

const _: () = {
    assert!(std::mem::offset_of!(Conn, ahead) < 64);
    assert!(std::mem::offset_of!(Conn, dirs) == 64);
    assert!(std::mem::size_of::<[Dir; 2]>() == 64);
};

impl Conn {
    #[inline]
    pub fn end_of(&self, host: HostId) -> usize {
        usize::from(self.ends[0] != host)
    }
    pub fn peer_of(&self, end: usize) -> HostId {
        self.ends[1 - end]
    }
    pub fn joins(&self, a: HostId, b: HostId) -> bool {
        (self.ends[0] == a && self.ends[1] == b) || (self.ends[0] == b && self.ends[1] == a)
    }

    /// Whether end `end` joined the connection in incarnation
    /// `incarnation` of its host (a restarted host has not).
    #[inline]
    pub fn joined_in(&self, end: usize, incarnation: u64) -> bool {
        u64::from(self.epoch[end]) == incarnation
    }

    /// End `end` joins in incarnation `incarnation` of its host.
    pub fn join(&mut self, end: usize, incarnation: u64) {
        self.epoch[end] = epoch(incarnation);
    }

    /// Holds the connection's frames until `until` (or later, if already
    /// held longer).
    pub fn stall_until(&mut self, until: SimTime) {
        self.stalled = true;
        self.stalled_until = self.stalled_until.max(until);
    }

    #[inline(always)]
    fn stalled_at(&self, now: SimTime) -> bool {
        self.stalled && self.stalled_until > now
    }
}

/// An incarnation as a connection keeps it.
fn epoch(incarnation: u64) -> u32 {
    u32::try_from(incarnation).expect("fewer than 2^32 restarts of a host")
}

pub struct Network {
    pub conns: Vec<Conn>,
    /// Each connection's own latency stream, by connection id: what one
    /// connection draws never shifts the latencies of another, so adding
    /// or removing a host (or a shrinker dropping one) leaves the rest of
    /// the timing alone. Apart from [`Conn`], which every delivery reads,
    /// as only a send draws.
    rngs: Vec<ChaCha8Rng>,
    /// The bytes of every frame in flight.
    store: FrameStore,
    pub partition: Partition,
    latency_min: u64,
    latency_max: u64,
    pub connect_timeout: u64,
}

impl Network {
    pub fn new(latency: (u64, u64), connect_timeout: u64) -> Self {
        Network {
            conns: Vec::new(),
            rngs: Vec::new(),
            store: FrameStore::default(),
            partition: Partition::default(),
            latency_min: latency.0,
            latency_max: latency.1,
            connect_timeout,
        }
    }

    /// One latency draw on connection `c`: the word drawn the send before
    /// (kept on the connection's first line, which the send reads anyway),
    /// while the next is drawn. The stream's state is two more lines
    /// (its position, and the word there), at 250,000 users two cache
    /// misses a send; what is drawn now is only stored, so the processor
    /// goes on with the send while they are fetched. The words drawn, and
    /// so every latency, are those of `rng::between` on the stream.
    #[inline(always)]
    pub fn latency(&mut self, c: ConnId) -> u64 {
        let (lo, hi) = (self.latency_min, self.latency_max);
        if hi <= lo {
            return lo;
        }
        let next = self.rngs[c as usize].next_u64();
        let word = std::mem::replace(&mut self.conns[c as usize].ahead, next);
        rng::scale(word, lo, hi)
    }

    pub fn dial(
        &mut self,
        now: SimTime,
        from: HostId,
        to: HostId,
        link: LinkId,
        epoch: u64,
        mut rng: ChaCha8Rng,
    ) -> ConnId {
        let id = self.conns.len() as ConnId;
        self.conns.push(Conn {
            ahead: rng.next_u64(),
            ends: [from, to],
            links: [Some(link), None],
            open: [true, false],
            epoch: [self::epoch(epoch), 0],
            registered: [false, false],
            authed: [false, false],
            state: ConnState::Dialing,
            stalled: false,
            stalled_until: 0,
            dirs: [Dir::default(), Dir::default()],
            behind: [Fifo::default(), Fifo::default()],
            opened_at: now,
        });
        self.rngs.push(rng);
        id
    }

    /// Whether frames can currently cross from one end of `c` to the other.
    #[inline]
    pub fn passable(&self, c: ConnId, now: SimTime) -> bool {
        let conn = &self.conns[c as usize];
        !conn.stalled_at(now) && self.partition.reachable(conn.ends[0], conn.ends[1])
    }

    /// Queues a frame (or the FIN) from `end`; returns the time a delivery
    /// event must be scheduled for, if the direction had none.
    #[inline(always)]
    pub fn send(
        &mut self,
        now: SimTime,
        c: ConnId,
        end: usize,
        bytes: &[u8],
        fin: bool,
    ) -> Option<SimTime> {
        let latency = self.latency(c);
        let conn = &mut self.conns[c as usize];
        let dir = &mut conn.dirs[end];
        let due = dir.push(
            &mut conn.behind[end],
            &mut self.store,
            now,
            latency,
            bytes,
            fin,
        );
        if dir.scheduled || dir.blocked {
            return None;
        }
        dir.scheduled = true;
        Some(due)
    }

    /// The head of direction `dir` of connection `c`.
    #[inline(always)]
    pub fn head(&self, c: ConnId, dir: usize) -> Option<Head<'_>> {
        self.conns[c as usize].dirs[dir].head(&self.store)
    }

    /// Drops the head of direction `dir` of connection `c` (delivered or
    /// lost).
    #[inline(always)]
    pub fn pop(&mut self, c: ConnId, dir: usize) {
        let conn = &mut self.conns[c as usize];
        conn.dirs[dir].pop(&mut conn.behind[dir], &mut self.store);
    }

    /// Drops every frame in flight in direction `dir` of connection `c`.
    pub fn discard(&mut self, c: ConnId, dir: usize) {
        let conn = &mut self.conns[c as usize];
        conn.dirs[dir].discard(&mut conn.behind[dir], &mut self.store);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::SeedableRng;
    use std::collections::VecDeque;

    /// The latencies drawn one ahead are the draws of `rng::between` on
    /// the connection's stream, each connection on its own, and a fixed
    /// latency draws nothing.
    #[test]
    fn latencies_are_the_streams_draws() {
        let stream = |k| rand_chacha::ChaCha8Rng::seed_from_u64(k);
        let mut net = Network::new((1_000, 50_000), 0);
        let (a, b) = (
            net.dial(0, 0, 1, LinkId(0), 0, stream(1)),
            net.dial(0, 1, 2, LinkId(0), 0, stream(2)),
        );
        let (mut ra, mut rb) = (stream(1), stream(2));
        for i in 0..200 {
            // Uneven, so that the two streams' positions differ.
            if i % 3 != 0 {
                assert_eq!(net.latency(a), rng::between(&mut ra, 1_000, 50_000));
            }
            assert_eq!(net.latency(b), rng::between(&mut rb, 1_000, 50_000));
        }
        let mut fixed = Network::new((7, 7), 0);
        let c = fixed.dial(0, 0, 1, LinkId(0), 0, stream(1));
        assert!((0..5).all(|_| fixed.latency(c) == 7));
        assert_eq!(fixed.rngs[c as usize], {
            let mut r = stream(1);
            r.next_u64();
            r
        });
    }

    /// A direction keeps returning the right frames, in order, with
    /// FINs and discards among them, and the store grows with the bytes in
    /// flight at once, not with the bytes ever sent.
    #[test]
    fn dir_matches_a_reference_and_stays_bounded() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let mut store = FrameStore::default();
        let mut d = Dir::default();
        let mut behind = Fifo::default();
        let mut want: VecDeque<Option<Vec<u8>>> = VecDeque::new();
        let mut next = 0u8;
        for step in 0..200_000 {
            let r = rng.next_u32();
            if r % 1000 == 0 {
                d.discard(&mut behind, &mut store);
                want.clear();
            } else if want.len() < 40 && (r % 2 == 0 || want.is_empty()) {
                let fin = r % 97 == 0;
                let len = (r >> 8) as usize % 300;
                let bytes: Vec<u8> = (0..len).map(|i| next.wrapping_add(i as u8)).collect();
                next = next.wrapping_add(1);
                d.push(
                    &mut behind,
                    &mut store,
                    step,
                    5,
                    if fin { &[] } else { &bytes },
                    fin,
                );
                want.push_back((!fin).then_some(bytes));
            } else {
                match (d.head(&store), want.front()) {
                    (Some(Head::Fin), Some(None)) => {}
                    (Some(Head::Frame(b)), Some(Some(w))) => assert_eq!(b, &w[..]),
                    _ => panic!("head differs at step {step}"),
                }
                d.pop(&mut behind, &mut store);
                want.pop_front();
            }
            assert_eq!(d.in_flight(&behind), want.len());
            if step % 1000 == 0 {
                let got: Vec<Option<Vec<u8>>> = d
                    .frames(&behind, &store)
                    .map(|f| f.map(<[u8]>::to_vec))
                    .collect();
                assert_eq!(got, Vec::from(want.clone()));
            }
        }
        // At most 40 frames in flight, in blocks of at most 512 bytes.
        assert!(store.size() <= 40 * 3 * 512, "{}", store.size());
    }
}
