//! Virtual time and the event queue.
//!
//! Events are ordered by `(time, sequence)`: the sequence number is the
//! order of scheduling, so simultaneous events run in the order they were
//! caused, the same on every machine.
//!
//! The queue is the hottest structure of the simulator (one pop and about
//! one push per delivered frame), so it is built around how a run uses it:
//!
//! * Scenario actions and the end of the run are all scheduled up front, in
//!   time order, long before most of them are due. Entries that arrive in
//!   increasing order go to a sorted run (a deque) at O(1) each way, so
//!   thousands of far-future actions do not deepen the heap every delivery
//!   walks through.
//! * Everything else goes to a 4-ary min-heap of 24-byte entries. Handling
//!   an event nearly always schedules another, so a pop leaves its root
//!   vacant and the next schedule drops straight into it: one sift-down
//!   instead of a sift-down for the pop and a sift-up for the push.
//!
//! Both parts only ever hold their own minimum at the front, so the next
//! event is the smaller of two fronts whatever order entries came in.

use std::collections::VecDeque;

/// Simulated time in nanoseconds since the start of the run.
pub type SimTime = u64;

/// An event that packs into 64 bits.
pub trait Packed: Copy {
    fn pack(self) -> u64;
    fn unpack(x: u64) -> Self;
}

#[derive(Clone, Copy)]
struct Entry {
    time: SimTime,
    seq: u64,
    event: u64,
}

impl Entry {
    /// The ordering key. Two `u64`s rather than a `u128` field keep the
    /// entry at 24 bytes (a `u128` would be 16-aligned); comparing the
    /// rebuilt `u128` is still one compare-and-borrow pair.
    #[inline(always)]
    fn key(&self) -> u128 {
        (u128::from(self.time) << 64) | u128::from(self.seq)
    }
}

const ARITY: usize = 4;

pub struct EventQueue<E> {
    heap: Vec<Entry>,
    /// `heap[0]` was popped and not yet refilled (see the module docs).
    vacant: bool,
    /// Entries scheduled in increasing key order, each after the last.
    run: VecDeque<Entry>,
    /// Key of the run's first entry (`u128::MAX` when it is empty), kept
    /// at hand for the compare every pop makes.
    run_next: u128,
    seq: u64,
    _e: std::marker::PhantomData<E>,
}

impl<E: Packed> Default for EventQueue<E> {
    fn default() -> Self {
        EventQueue {
            heap: Vec::new(),
            vacant: false,
            run: VecDeque::new(),
            run_next: u128::MAX,
            seq: 0,
            _e: std::marker::PhantomData,
        }
    }
}

impl<E: Packed> EventQueue<E> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Inline, so that the event packs at compile time where it is built
    /// (the root refill after a pop is the common case; the rest is out of
    /// line).
    #[inline(always)]
    pub fn schedule(&mut self, at: SimTime, event: E) {
        self.seq += 1;
        let entry = Entry {
            time: at,
            seq: self.seq,
            event: event.pack(),
        };
        if self.vacant {
            self.vacant = false;
            self.sift_down(entry);
        } else {
            self.insert(entry);
        }
    }

    /// [`EventQueue::schedule`] with no vacant root to fill.
    fn insert(&mut self, entry: Entry) {
        if self.run.back().is_none_or(|b| b.time <= entry.time) {
            // Not before anything already in the run: `seq` makes it later.
            if self.run.is_empty() {
                self.run_next = entry.key();
            }
            self.run.push_back(entry);
        } else {
            self.sift_up(entry);
        }
    }

    #[inline]
    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        self.settle();
        let e = match self.heap.first() {
            // Keys are unique, so `<=` only matters for an empty run.
            Some(&h) if h.key() <= self.run_next => {
                self.vacant = true;
                h
            }
            _ => {
                let r = self.run.pop_front()?;
                self.run_next = self.run.front().map_or(u128::MAX, Entry::key);
                r
            }
        };
        Some((e.time, E::unpack(e.event)))
    }

    pub fn peek_time(&mut self) -> Option<SimTime> {
        self.settle();
        match (self.heap.first(), self.run.front()) {
            (Some(h), Some(r)) => Some(h.time.min(r.time)),
            (h, r) => h.or(r).map(|e| e.time),
        }
    }

    pub fn len(&self) -> usize {
        self.heap.len() - usize::from(self.vacant) + self.run.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Finishes a pop whose root no schedule refilled: the last entry
    /// takes the root's place.
    #[inline]
    fn settle(&mut self) {
        if self.vacant {
            self.refill_root();
        }
    }

    fn refill_root(&mut self) {
        self.vacant = false;
        let last = self.heap.pop().expect("a vacant root is in the heap");
        if !self.heap.is_empty() {
            self.sift_down(last);
        }
    }

    fn sift_up(&mut self, entry: Entry) {
        let key = entry.key();
        let mut i = self.heap.len();
        self.heap.push(entry);
        let heap = &mut self.heap[..];
        while i > 0 {
            let parent = (i - 1) / ARITY;
            if heap[parent].key() <= key {
                break;
            }
            heap[i] = heap[parent];
            i = parent;
        }
        heap[i] = entry;
    }

    /// Places `entry` at the (vacant) root and moves it down to its place.
    /// Inline: it usually stops within a level or two, where a call would
    /// cost as much as the work.
    #[inline(always)]
    fn sift_down(&mut self, entry: Entry) {
        let key = entry.key();
        let heap = &mut self.heap[..];
        let n = heap.len();
        let mut i = 0;
        loop {
            let first = i * ARITY + 1;
            let best = if let Some(c) = heap.get(first..first + ARITY) {
                // All four children: a tournament of three compares.
                let a = usize::from(c[1].key() < c[0].key());
                let b = 2 + usize::from(c[3].key() < c[2].key());
                first + if c[b].key() < c[a].key() { b } else { a }
            } else if first < n {
                let mut best = first;
                for c in first + 1..n {
                    if heap[c].key() < heap[best].key() {
                        best = c;
                    }
                }
                best
            } else {
                break;
            };
            if heap[best].key() >= key {
                break;
            }
            heap[i] = heap[best];
            i = best;
        }
        heap[i] = entry;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::{RngCore, SeedableRng};

    impl Packed for u32 {
        fn pack(self) -> u64 {
            u64::from(self)
        }
        fn unpack(x: u64) -> Self {
            x as u32
        }
    }

    #[test]
    fn ties_run_in_scheduling_order() {
        let mut q = EventQueue::new();
        q.schedule(5, 1u32);
        q.schedule(3, 0);
        q.schedule(5, 2);
        q.schedule(5, 3);
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(order, vec![(3, 0), (5, 1), (5, 2), (5, 3)]);
    }

    #[test]
    fn matches_a_sorted_reference_under_random_interleaving() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let mut q = EventQueue::new();
        let mut reference: Vec<(u64, u64, u32)> = Vec::new();
        let mut seq = 0;
        let mut popped = Vec::new();
        let mut expected = Vec::new();
        for i in 0..20_000u32 {
            if rng.next_u32() % 3 != 0 {
                let t = u64::from(rng.next_u32() % 1000);
                seq += 1;
                q.schedule(t, i);
                reference.push((t, seq, i));
            } else if let Some(x) = q.pop() {
                popped.push(x);
                reference.sort();
                let (t, _, e) = reference.remove(0);
                expected.push((t, e));
            }
        }
        assert_eq!(popped, expected);
    }

    /// Mixes the shapes a run produces: an increasing batch scheduled up
    /// front (the run), pops followed by schedules (the vacant root), pops
    /// with none, ties, and peeks between them.
    #[test]
    fn matches_a_sorted_reference_with_runs_vacancies_and_peeks() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        for round in 0..50u64 {
            let mut q = EventQueue::new();
            let mut reference: Vec<(u64, u64, u32)> = Vec::new();
            let mut seq = 0;
            let mut next = 0u32;
            let mut sched = |q: &mut EventQueue<u32>, r: &mut Vec<_>, t: u64| {
                seq += 1;
                next += 1;
                q.schedule(t, next);
                r.push((t, seq, next));
            };
            let batch = rng.next_u32() % 200;
            for i in 0..u64::from(batch) {
                sched(&mut q, &mut reference, 5_000 + i * (round % 3) * 7);
            }
            let mut now = 0;
            for _ in 0..3_000 {
                reference.sort();
                assert_eq!(q.len(), reference.len());
                assert_eq!(q.peek_time(), reference.first().map(|x| x.0));
                match rng.next_u32() % 8 {
                    0..=3 => {
                        let got = q.pop();
                        let want = (!reference.is_empty()).then(|| reference.remove(0));
                        assert_eq!(got, want.map(|(t, _, e)| (t, e)));
                        if let Some((t, _)) = got {
                            now = t;
                        }
                    }
                    4 => sched(&mut q, &mut reference, now),
                    5 => {
                        let t = now + 10_000 + u64::from(rng.next_u32() % 50);
                        sched(&mut q, &mut reference, t)
                    }
                    _ => {
                        let t = now + u64::from(rng.next_u32() % 3_000);
                        sched(&mut q, &mut reference, t)
                    }
                }
            }
            while let Some(x) = q.pop() {
                reference.sort();
                let (t, _, e) = reference.remove(0);
                assert_eq!(x, (t, e));
            }
            assert!(reference.is_empty() && q.is_empty());
        }
    }
}
