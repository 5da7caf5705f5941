//! Virtual time and the event queue.
//!
//! Events are ordered by `(time, sequence)`: the sequence number is the
//! order of scheduling, so simultaneous events run in the order they were
//! caused, the same on every machine.
//!
//! The queue is the hottest structure of the simulator (one pop and about
//! one push per delivered frame), so it is built around how a run uses it:
//! time never goes back, so it is a radix heap on the time, with digits
//! of `DIGIT` bits. Bucket `(p, d)` holds the entries whose time first
//! differs from the last time popped (`last`) in digit `p`, where it is
//! `d`; buckets in `(p, d)` order hold ever later entries, and `now`
//! holds those due at `last` itself, in scheduling order.
//! Scheduling is a push onto the end of one bucket; a pop takes the next
//! entry of `now`, and when that is used up, the lowest bucket in use is
//! emptied into the lower ones around its earliest time: each entry lands
//! in a lower digit, so it moves at most 64 / `DIGIT` times in its life.
//! A bucket whose entries are all due at one time (any bucket of the
//! lowest digit, and any bucket of one entry) becomes `now` whole, by a
//! swap of the two vectors: the common case of a refill moves nothing.
//! (With
//! one-bit digits, as this queue first had, an entry moved down about
//! once per bit between its time and the times around it: a client's
//! timer twenty seconds ahead moved a dozen times.) Every step walks a
//! vector from its start: with a quarter of a million client timers
//! pending, a binary heap's sift touches a cache line per level, this
//! touches them in order.
//!
//! An entry scheduled before `last` (only a caller that does not run
//! events in order does that; the tests do) sets `last` back and
//! re-sorts every entry: correct, and never on the simulator's path.

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

/// Bits per digit of the time: of 1, 3, 4, 6 and 8, eight cost the
/// fewest instructions per room delivery and per flood hop (2,048
/// buckets, 48 KiB of empty vectors).
const DIGIT: u32 = 8;
const RADIX: usize = 1 << DIGIT;
/// Bucket `p * RADIX + d` for digit `p` (0 the lowest) and value `d`.
const BUCKETS: usize = (63 / DIGIT as usize + 1) * RADIX;
const WORDS: usize = BUCKETS.div_ceil(64);
// `EventQueue::words` has a bit per word.
const _: () = assert!(WORDS <= 32);
/// Popped entries `now` may keep before a push at the same instant drops
/// them (see `EventQueue::compact`).
const COMPACT: usize = 1024;

pub struct EventQueue<E> {
    /// Entries due at `last`, in scheduling order, from `next` on (those
    /// before it are popped). A vector read from a cursor rather than a
    /// deque: a push is a vector's, and a refill swaps a whole bucket in.
    now: Vec<Entry>,
    next: usize,
    buckets: Vec<Vec<Entry>>,
    /// Bit `b % 64` of word `b / 64` set when bucket `b` holds entries.
    used: [u64; WORDS],
    /// Bit `w` set when word `w` of `used` is not zero: the lowest bucket
    /// in use is found with two bit scans, not a walk over the words.
    words: u32,
    /// The time of the last entry popped (or of the rebase): no entry is
    /// earlier.
    last: SimTime,
    len: usize,
    seq: u64,
    _e: std::marker::PhantomData<E>,
}

impl<E: Packed> Default for EventQueue<E> {
    fn default() -> Self {
        EventQueue {
            now: Vec::new(),
            next: 0,
            buckets: (0..BUCKETS).map(|_| Vec::new()).collect(),
            used: [0; WORDS],
            words: 0,
            last: 0,
            len: 0,
            seq: 0,
            _e: std::marker::PhantomData,
        }
    }
}

/// The bucket of `time` when the last time popped is `last` (`time >
/// last`).
#[inline(always)]
fn bucket(last: SimTime, time: SimTime) -> usize {
    let p = (63 - (time ^ last).leading_zeros()) / DIGIT;
    p as usize * RADIX + ((time >> (p * DIGIT)) as usize & (RADIX - 1))
}

impl<E: Packed> EventQueue<E> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Inline, so that the event packs at compile time where it is built.
    #[inline(always)]
    pub fn schedule(&mut self, at: SimTime, event: E) {
        self.seq += 1;
        let entry = Entry {
            time: at,
            seq: self.seq,
            event: event.pack(),
        };
        if at < self.last {
            self.rebase(at);
        }
        self.push(entry);
        self.len += 1;
    }

    #[inline(always)]
    fn push(&mut self, entry: Entry) {
        if entry.time == self.last {
            if self.next >= COMPACT && 2 * self.next >= self.now.len() {
                self.compact();
            }
            self.now.push(entry);
        } else {
            let b = bucket(self.last, entry.time);
            self.buckets[b].push(entry);
            self.used[b / 64] |= 1 << (b % 64);
            self.words |= 1 << (b / 64);
        }
    }

    #[inline]
    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        if self.next == self.now.len() && !self.refill() {
            return None;
        }
        let e = self.now[self.next];
        self.next += 1;
        self.len -= 1;
        Some((e.time, E::unpack(e.event)))
    }

    /// The time of the next entry. It may move `last` up to that time,
    /// which changes nothing a caller sees.
    pub fn peek_time(&mut self) -> Option<SimTime> {
        if self.next == self.now.len() && !self.refill() {
            return None;
        }
        Some(self.last)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Empties the lowest bucket in use around its earliest time, which
    /// becomes `last`; false when the queue is empty. Inline: nearly
    /// every pop refills (events seldom share a time), and nearly every
    /// refill is a swap.
    #[inline]
    fn refill(&mut self) -> bool {
        if self.words == 0 {
            return false;
        }
        let w = self.words.trailing_zeros() as usize;
        let b = w * 64 + self.used[w].trailing_zeros() as usize;
        self.used[w] &= !(1 << (b % 64));
        if self.used[w] == 0 {
            self.words &= !(1 << w);
        }
        self.now.clear();
        self.next = 0;
        let from = &mut self.buckets[b];
        if b < RADIX || from.len() == 1 {
            // All due at one time: a bucket of the lowest digit differs
            // from `last` in that digit alone, where it is `b`.
            self.last = from[0].time;
            std::mem::swap(&mut self.now, from);
            if self.now.len() > 1 {
                self.keep_order();
            }
        } else {
            self.spread(b);
        }
        true
    }

    /// Empties bucket `b`, of entries due at several times, into the
    /// lower ones around its earliest time.
    #[inline(never)]
    fn spread(&mut self, b: usize) {
        let mut from = std::mem::take(&mut self.buckets[b]);
        self.last = from.iter().map(|e| e.time).min().expect("a used bucket");
        for &e in &from {
            // Every entry lands in a lower digit: they agree with the new
            // `last` in every digit from that of `b` up.
            self.push(e);
        }
        from.clear();
        self.buckets[b] = from;
        self.keep_order();
    }

    /// Drops the popped entries from the front of `now`: a chain of
    /// events each scheduling the next at the same instant would
    /// otherwise keep every one it ran until the time moved on.
    #[cold]
    #[inline(never)]
    fn compact(&mut self) {
        self.now.drain(..self.next);
        self.next = 0;
    }

    /// Entries due together came from one bucket, which holds them in
    /// scheduling order unless a rebase merged two; the check is cheap.
    #[inline(never)]
    fn keep_order(&mut self) {
        if !self.now.is_sorted_by_key(|e| e.seq) {
            self.now.sort_unstable_by_key(|e| e.seq);
        }
    }

    /// An entry is due before `last`: every bucket is sorted again around
    /// the earlier time (see the module docs).
    #[cold]
    #[inline(never)]
    fn rebase(&mut self, at: SimTime) {
        let mut all: Vec<Entry> = self.now.drain(self.next..).collect();
        self.now.clear();
        self.next = 0;
        for b in &mut self.buckets {
            all.append(b);
        }
        self.used = [0; WORDS];
        self.words = 0;
        self.last = at;
        all.sort_unstable_by_key(|e| (e.time, e.seq));
        for e in all {
            self.push(e);
        }
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

    /// Times of every width, from 0 to `u64::MAX`, so that entries start
    /// in every bucket and move down through many; ties among them keep
    /// their scheduling order.
    #[test]
    fn every_bucket_drains_in_order() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let mut q = EventQueue::new();
        let mut reference = Vec::new();
        for i in 0..5_000u32 {
            let width = rng.next_u32() % 65;
            let t = if width == 64 {
                u64::MAX - u64::from(rng.next_u32() % 3)
            } else {
                rng.next_u64() & ((1u64 << width) - 1)
            };
            q.schedule(t, i);
            reference.push((t, i));
        }
        reference.sort();
        let got: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(got, reference);
    }

    /// A chain of events at one instant, each scheduling the next, keeps
    /// only a bounded number of popped entries, and runs in order.
    #[test]
    fn a_chain_at_one_instant_keeps_bounded_memory() {
        let mut q = EventQueue::new();
        q.schedule(7, 0u32);
        for i in 1..100_000u32 {
            assert_eq!(q.pop(), Some((7, i - 1)));
            q.schedule(7, i);
            assert!(q.now.len() <= 2 * COMPACT + 2, "{} kept", q.now.len());
        }
        assert_eq!(q.pop(), Some((7, 99_999)));
        assert_eq!(q.pop(), None);
    }

    /// Mixes the shapes a run produces: an increasing batch scheduled up
    /// front (the scenario's actions), pops followed by schedules, pops
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
