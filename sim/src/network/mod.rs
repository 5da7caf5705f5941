//! The virtual network: TCP-like connections between hosts.
//!
//! A connection is two FIFO directions. Each frame gets its own latency
//! draw, but never overtakes the frame before it (TCP keeps order). Only
//! the head of a direction has a delivery event in the queue; the next one
//! is scheduled when the head is delivered. A direction that cannot
//! deliver (partition, stall) holds its frames and is woken when the
//! obstacle goes away, as a TCP retransmission would eventually succeed.

mod partition;

use std::collections::VecDeque;

use drc_protocol::LinkId;
use rand_chacha::ChaCha8Rng;

use crate::clock::SimTime;
use crate::rng;

pub use partition::Partition;

pub type HostId = u32;
pub type ConnId = u32;

/// Length marker for the FIN that ends a direction.
const FIN: u32 = u32::MAX;

#[derive(Clone, Copy, Debug)]
struct Queued {
    due: SimTime,
    /// Stream offset of the frame's first byte (wrapping; see [`Dir::base`]).
    start: u32,
    len: u32,
}

/// One direction of a connection: bytes in flight, in order.
#[derive(Debug, Default)]
pub struct Dir {
    /// The bytes of the frames in flight, and possibly some already
    /// delivered in front of them.
    buf: Vec<u8>,
    /// Stream offset of `buf[0]`, counting every byte ever queued, modulo
    /// 2^32 (far more than can be in flight). Frames keep stream offsets so
    /// that dropping delivered bytes from the front moves no bookkeeping.
    base: u32,
    frames: VecDeque<Queued>,
    /// A delivery event for the head is in the event queue.
    pub scheduled: bool,
    /// The head could not be delivered; wake it when the path clears.
    pub blocked: bool,
    last_due: SimTime,
}

/// Delivered bytes at the front of a buffer are dropped once they are at
/// least this many and at least as many as the bytes still in flight: a
/// direction that never drains (a steady flood) then keeps a bounded buffer
/// and no longer reallocates, and each byte is moved at most once on
/// average.
const COMPACT_AT: usize = 4096;

/// What the head of a direction holds.
pub enum Head<'a> {
    Frame(&'a [u8]),
    Fin,
}

impl Dir {
    fn push(&mut self, now: SimTime, latency: u64, bytes: &[u8], fin: bool) -> SimTime {
        let due = (now + latency).max(self.last_due);
        self.last_due = due;
        let start = self.base.wrapping_add(self.buf.len() as u32);
        self.buf.extend_from_slice(bytes);
        self.frames.push_back(Queued {
            due,
            start,
            len: if fin { FIN } else { bytes.len() as u32 },
        });
        due
    }

    fn bytes_of(&self, q: &Queued) -> &[u8] {
        let at = q.start.wrapping_sub(self.base) as usize;
        &self.buf[at..at + q.len as usize]
    }

    pub fn head_due(&self) -> Option<SimTime> {
        self.frames.front().map(|q| q.due)
    }

    pub fn head(&self) -> Option<Head<'_>> {
        let q = self.frames.front()?;
        Some(if q.len == FIN {
            Head::Fin
        } else {
            Head::Frame(self.bytes_of(q))
        })
    }

    pub fn pop(&mut self) {
        self.frames.pop_front();
        match self.frames.front() {
            None => {
                self.base = self.base.wrapping_add(self.buf.len() as u32);
                self.buf.clear();
            }
            Some(q) => {
                let dead = q.start.wrapping_sub(self.base) as usize;
                if dead >= COMPACT_AT && 2 * dead >= self.buf.len() {
                    self.buf.drain(..dead);
                    self.base = q.start;
                }
            }
        }
    }

    pub fn discard(&mut self) {
        self.frames.clear();
        self.base = self.base.wrapping_add(self.buf.len() as u32);
        self.buf.clear();
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
#[derive(Debug)]
pub struct Conn {
    pub ends: [HostId; 2],
    /// Each end's link id, once it has one.
    pub links: [Option<LinkId>; 2],
    /// Whether each end still holds the connection open.
    pub open: [bool; 2],
    /// The incarnation of each end's host when it joined the connection:
    /// a restarted host does not know its old connections.
    pub epoch: [u64; 2],
    /// Whether each end's server reported the link registered.
    pub registered: [bool; 2],
    pub state: ConnState,
    pub stalled_until: SimTime,
    /// `dirs[i]` carries frames from `ends[i]` to the other end.
    pub dirs: [Dir; 2],
    pub opened_at: SimTime,
}

impl Conn {
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
    pub partition: Partition,
    latency_min: u64,
    latency_max: u64,
    pub connect_timeout: u64,
    rng: ChaCha8Rng,
}

impl Network {
    pub fn new(seed: u64, latency: (u64, u64), connect_timeout: u64) -> Self {
        Network {
            conns: Vec::new(),
            partition: Partition::default(),
            latency_min: latency.0,
            latency_max: latency.1,
            connect_timeout,
            rng: rng::stream(seed, "network"),
        }
    }

    pub fn latency(&mut self) -> u64 {
        rng::between(&mut self.rng, self.latency_min, self.latency_max)
    }

    pub fn dial(
        &mut self,
        now: SimTime,
        from: HostId,
        to: HostId,
        link: LinkId,
        epoch: u64,
    ) -> ConnId {
        let id = self.conns.len() as ConnId;
        self.conns.push(Conn {
            ends: [from, to],
            links: [Some(link), None],
            open: [true, false],
            epoch: [epoch, 0],
            registered: [false, false],
            state: ConnState::Dialing,
            stalled_until: 0,
            dirs: [Dir::default(), Dir::default()],
            opened_at: now,
        });
        id
    }

    /// Whether frames can currently cross from one end of `c` to the other.
    pub fn passable(&self, c: ConnId, now: SimTime) -> bool {
        let conn = &self.conns[c as usize];
        conn.stalled_until <= now && self.partition.reachable(conn.ends[0], conn.ends[1])
    }

    /// Queues a frame (or the FIN) from `end`; returns the time a delivery
    /// event must be scheduled for, if the direction had none.
    pub fn send(
        &mut self,
        now: SimTime,
        c: ConnId,
        end: usize,
        bytes: &[u8],
        fin: bool,
    ) -> Option<SimTime> {
        let latency = self.latency();
        let dir = &mut self.conns[c as usize].dirs[end];
        let due = dir.push(now, latency, bytes, fin);
        if dir.scheduled || dir.blocked {
            return None;
        }
        dir.scheduled = true;
        Some(due)
    }

    /// Frames in flight over all open connections.
    pub fn in_flight(&self) -> usize {
        self.conns
            .iter()
            .filter(|c| c.state != ConnState::Closed)
            .map(|c| c.dirs[0].in_flight() + c.dirs[1].in_flight())
            .sum()
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
        for step in 0..200_000 {
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
            assert!(d.buf.len() <= 2 * (COMPACT_AT + 40 * 300));
        }
    }
}
