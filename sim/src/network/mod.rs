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
mod partition;

use fifo::Fifo;

use drc_protocol::LinkId;
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
    /// Index of the frame's first byte in [`Dir::ring`].
    start: u32,
    len: u32,
}

impl Queued {
    /// Bytes it occupies in the ring (none for the FIN).
    #[inline]
    fn size(&self) -> usize {
        if self.len == FIN {
            0
        } else {
            self.len as usize
        }
    }

    #[inline]
    fn end(&self) -> usize {
        self.start as usize + self.size()
    }
}

/// One direction of a connection: bytes in flight, in order.
///
/// The bytes live in a ring, each frame contiguous: a frame that does not
/// fit before the end of the ring starts over at index 0 if the head has
/// moved far enough on, and the ring grows only when neither fits. A
/// direction that never drains (a steady flood) so copies each frame in
/// once and never moves or reallocates it.
#[derive(Debug, Default)]
pub struct Dir {
    ring: Vec<u8>,
    frames: Fifo<Queued>,
    /// Just past the last frame's bytes (while there are frames).
    tail: usize,
    /// The frames continue at the start of the ring: those from the head
    /// to the end of the ring come first, then those from index 0.
    wrapped: bool,
    /// A delivery event for the head is in the event queue.
    pub scheduled: bool,
    /// The head could not be delivered; wake it when the path clears.
    pub blocked: bool,
    last_due: SimTime,
}

/// What the head of a direction holds.
pub enum Head<'a> {
    Frame(&'a [u8]),
    Fin,
}

impl Dir {
    #[inline(always)]
    fn push(&mut self, now: SimTime, latency: u64, bytes: &[u8], fin: bool) -> SimTime {
        let due = (now + latency).max(self.last_due);
        self.last_due = due;
        let start = self.place(bytes.len());
        self.ring[start..start + bytes.len()].copy_from_slice(bytes);
        self.tail = start + bytes.len();
        self.frames.push_back(Queued {
            due,
            start: start as u32,
            len: if fin { FIN } else { bytes.len() as u32 },
        });
        due
    }

    /// Where the next `n` bytes go; grows the ring if they fit nowhere.
    /// The common case, room after the last frame, is inline.
    #[inline(always)]
    fn place(&mut self, n: usize) -> usize {
        if let Some(head) = self.frames.front() {
            // Before the end of the ring, or, once the frames continue
            // from its start, before the head.
            let limit = if self.wrapped {
                head.start as usize
            } else {
                self.ring.len()
            };
            if self.tail + n <= limit {
                return self.tail;
            }
        }
        self.place_slow(n)
    }

    /// [`Dir::place`] when the bytes do not fit after the last frame.
    #[inline(never)]
    fn place_slow(&mut self, n: usize) -> usize {
        let Some(head) = self.frames.front() else {
            if self.ring.len() < n {
                self.ring.resize(n.next_power_of_two().max(1024), 0);
            }
            return 0;
        };
        debug_assert_eq!(Some(self.tail), self.frames.back().map(Queued::end));
        // `n > 0` here (nothing else misses the room after the last frame),
        // so if the head is at least `n` in, the frames before index `n`
        // (if any) are all delivered: start over at the front.
        if !self.wrapped && n <= head.start as usize {
            self.wrapped = true;
            return 0;
        }
        self.grow(n)
    }

    /// Copies the frames in flight to the front of a larger ring, in order.
    fn grow(&mut self, n: usize) -> usize {
        let live: usize = self.frames.iter().map(Queued::size).sum();
        let mut ring = vec![0; (2 * (live + n)).next_power_of_two()];
        let mut at = 0;
        for i in 0..self.frames.len() {
            let q = self.frames.get_mut(i);
            let size = q.size();
            let from = q.start as usize;
            ring[at..at + size].copy_from_slice(&self.ring[from..from + size]);
            q.start = at as u32;
            at += size;
        }
        self.ring = ring;
        self.wrapped = false;
        at
    }

    #[inline]
    fn bytes_of(&self, q: &Queued) -> &[u8] {
        &self.ring[q.start as usize..q.end()]
    }

    #[inline]
    pub fn head_due(&self) -> Option<SimTime> {
        self.frames.front().map(|q| q.due)
    }

    #[inline]
    pub fn head(&self) -> Option<Head<'_>> {
        let q = self.frames.front()?;
        Some(if q.len == FIN {
            Head::Fin
        } else {
            Head::Frame(self.bytes_of(q))
        })
    }

    #[inline]
    pub fn pop(&mut self) {
        let Some(old) = self.frames.pop_front() else {
            return;
        };
        // Frames sit at rising indices within each of the two stretches,
        // and the second starts at index 0 with a non-empty frame, below
        // every frame of the first: a lower head means the first is done.
        match self.frames.front() {
            Some(q) if q.start >= old.start => {}
            Some(_) => self.wrapped = false,
            None => {
                self.wrapped = false;
                self.release_if_large();
            }
        }
    }

    /// A burst (a new server's whole user table, thousands of
    /// registrations at once) grows a direction's ring and queue, and they
    /// never shrink on their own: at 100 servers and 2,000 users the
    /// server links kept 19 MiB of rings for bursts long over. Once a
    /// direction is empty, anything beyond a day-to-day size is given back;
    /// where bytes go in the ring is invisible to a run.
    #[inline]
    fn release_if_large(&mut self) {
        const KEEP_RING: usize = 16 << 10;
        const KEEP_FRAMES: usize = 256;
        if self.ring.len() > KEEP_RING {
            self.ring = Vec::new();
        }
        self.frames.release_if_empty(KEEP_FRAMES);
    }

    pub fn discard(&mut self) {
        self.frames.clear();
        self.wrapped = false;
    }

    pub fn in_flight(&self) -> usize {
        self.frames.len()
    }

    /// The frames in flight, for reports and checks.
    pub fn frames(&self) -> impl Iterator<Item = Option<&[u8]>> + '_ {
        self.frames
            .iter()
            .map(|q| (q.len != FIN).then(|| self.bytes_of(q)))
    }
}

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
/// touches is a miss. The fields every frame reads (ends, open, epochs,
/// links, stall) come first, then the two directions; the latency stream
/// lives apart ([`Network::latency`]), read only by a send.
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
    pub stalled_until: SimTime,
    /// The incarnation of each end's host when it joined the connection:
    /// a restarted host does not know its old connections.
    pub epoch: [u64; 2],
    /// Each end's link id, once it has one.
    pub links: [Option<LinkId>; 2],
    /// `dirs[i]` carries frames from `ends[i]` to the other end.
    pub dirs: [Dir; 2],
    pub opened_at: SimTime,
}

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
}

pub struct Network {
    pub conns: Vec<Conn>,
    /// Each connection's own latency stream, by connection id: what one
    /// connection draws never shifts the latencies of another, so adding
    /// or removing a host (or a shrinker dropping one) leaves the rest of
    /// the timing alone. Apart from [`Conn`], which every delivery reads,
    /// as only a send draws.
    rngs: Vec<ChaCha8Rng>,
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
            partition: Partition::default(),
            latency_min: latency.0,
            latency_max: latency.1,
            connect_timeout,
        }
    }

    /// One latency draw on connection `c`.
    #[inline]
    pub fn latency(&mut self, c: ConnId) -> u64 {
        rng::between(
            &mut self.rngs[c as usize],
            self.latency_min,
            self.latency_max,
        )
    }

    pub fn dial(
        &mut self,
        now: SimTime,
        from: HostId,
        to: HostId,
        link: LinkId,
        epoch: u64,
        rng: ChaCha8Rng,
    ) -> ConnId {
        let id = self.conns.len() as ConnId;
        self.conns.push(Conn {
            ends: [from, to],
            links: [Some(link), None],
            open: [true, false],
            epoch: [epoch, 0],
            registered: [false, false],
            authed: [false, false],
            state: ConnState::Dialing,
            stalled_until: 0,
            dirs: [Dir::default(), Dir::default()],
            opened_at: now,
        });
        self.rngs.push(rng);
        id
    }

    /// Whether frames can currently cross from one end of `c` to the other.
    #[inline]
    pub fn passable(&self, c: ConnId, now: SimTime) -> bool {
        let conn = &self.conns[c as usize];
        conn.stalled_until <= now && self.partition.reachable(conn.ends[0], conn.ends[1])
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
        let dir = &mut self.conns[c as usize].dirs[end];
        let due = dir.push(now, latency, bytes, fin);
        if dir.scheduled || dir.blocked {
            return None;
        }
        dir.scheduled = true;
        Some(due)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::{RngCore, SeedableRng};
    use std::collections::VecDeque;

    /// A direction that never drains keeps returning the right frames, in
    /// order, without its buffer growing past a bound.
    #[test]
    fn dir_matches_a_reference_and_stays_bounded() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let mut d = Dir::default();
        let mut want: VecDeque<Option<Vec<u8>>> = VecDeque::new();
        let mut next = 0u8;
        let mut wraps = 0;
        for step in 0..200_000 {
            wraps += usize::from(d.wrapped);
            let r = rng.next_u32();
            if r % 1000 == 0 {
                d.discard();
                want.clear();
            } else if want.len() < 40 && (r % 2 == 0 || want.is_empty()) {
                let fin = r % 97 == 0;
                let len = (r >> 8) as usize % 300;
                let bytes: Vec<u8> = (0..len).map(|i| next.wrapping_add(i as u8)).collect();
                next = next.wrapping_add(1);
                d.push(step, 5, if fin { &[] } else { &bytes }, fin);
                want.push_back((!fin).then_some(bytes));
            } else {
                match (d.head(), want.front()) {
                    (Some(Head::Fin), Some(None)) => {}
                    (Some(Head::Frame(b)), Some(Some(w))) => assert_eq!(b, &w[..]),
                    _ => panic!("head differs at step {step}"),
                }
                d.pop();
                want.pop_front();
            }
            assert_eq!(d.in_flight(), want.len());
            if step % 1000 == 0 {
                let got: Vec<Option<Vec<u8>>> = d.frames().map(|f| f.map(<[u8]>::to_vec)).collect();
                assert_eq!(got, Vec::from(want.clone()));
            }
            assert!(d.ring.len() <= 4 * 40 * 300);
        }
        assert!(wraps > 10_000, "the ring wrapped in {wraps} steps only");
    }
}
