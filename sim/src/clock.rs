//! Virtual time and the event queue.
//!
//! Events are ordered by `(time, sequence)`: the sequence number is the
//! order of scheduling, so simultaneous events run in the order they were
//! caused, the same on every machine.
//!
//! The queue is a 4-ary min-heap of 24-byte entries: one 128-bit key
//! (time, sequence) compared in a single operation, and the event packed
//! into 64 bits. It is the hottest structure of the simulator (one push and
//! one pop per delivered frame), so it is kept small and branch-light.

/// Simulated time in nanoseconds since the start of the run.
pub type SimTime = u64;

/// An event that packs into 64 bits.
pub trait Packed: Copy {
    fn pack(self) -> u64;
    fn unpack(x: u64) -> Self;
}

#[derive(Clone, Copy)]
struct Entry {
    key: u128,
    event: u64,
}

const ARITY: usize = 4;

pub struct EventQueue<E> {
    heap: Vec<Entry>,
    seq: u64,
    _e: std::marker::PhantomData<E>,
}

impl<E: Packed> Default for EventQueue<E> {
    fn default() -> Self {
        EventQueue {
            heap: Vec::new(),
            seq: 0,
            _e: std::marker::PhantomData,
        }
    }
}

impl<E: Packed> EventQueue<E> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn schedule(&mut self, at: SimTime, event: E) {
        self.seq += 1;
        let entry = Entry {
            key: (u128::from(at) << 64) | u128::from(self.seq),
            event: event.pack(),
        };
        let mut i = self.heap.len();
        self.heap.push(entry);
        while i > 0 {
            let parent = (i - 1) / ARITY;
            if self.heap[parent].key <= entry.key {
                break;
            }
            self.heap[i] = self.heap[parent];
            i = parent;
        }
        self.heap[i] = entry;
    }

    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        let top = *self.heap.first()?;
        let last = self.heap.pop().expect("non-empty");
        let n = self.heap.len();
        if n > 0 {
            let mut i = 0;
            loop {
                let first = i * ARITY + 1;
                if first >= n {
                    break;
                }
                let end = (first + ARITY).min(n);
                let mut best = first;
                for c in first + 1..end {
                    if self.heap[c].key < self.heap[best].key {
                        best = c;
                    }
                }
                if self.heap[best].key >= last.key {
                    break;
                }
                self.heap[i] = self.heap[best];
                i = best;
            }
            self.heap[i] = last;
        }
        Some(((top.key >> 64) as SimTime, E::unpack(top.event)))
    }

    pub fn peek_time(&self) -> Option<SimTime> {
        self.heap.first().map(|e| (e.key >> 64) as SimTime)
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
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
}
