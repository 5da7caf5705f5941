//! A first-in first-out queue in a power-of-two ring.
//!
//! `VecDeque` would do, but its capacity need not be a power of two, so
//! every access folds its index with a compare and a subtraction; here it
//! is one mask. It holds the frames behind a direction's head (see
//! `Dir`): on a busy link (a flood) nearly every frame passes through it.

/// A FIFO of small `Copy` items.
#[derive(Debug)]
pub struct Fifo<T> {
    /// Capacity a power of two (or zero before the first push).
    buf: Vec<T>,
    head: usize,
    len: usize,
}

impl<T> Default for Fifo<T> {
    fn default() -> Self {
        Fifo {
            buf: Vec::new(),
            head: 0,
            len: 0,
        }
    }
}

impl<T: Copy + Default> Fifo<T> {
    #[inline(always)]
    fn mask(&self) -> usize {
        self.buf.len().wrapping_sub(1)
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
    }

    #[inline(always)]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[cfg(test)]
    pub fn front(&self) -> Option<&T> {
        (self.len != 0).then(|| &self.buf[self.head])
    }

    #[cfg(test)]
    pub fn back(&self) -> Option<&T> {
        (self.len != 0).then(|| &self.buf[(self.head + self.len - 1) & self.mask()])
    }

    #[inline(always)]
    pub fn push_back(&mut self, x: T) {
        if self.len == self.buf.len() {
            self.grow();
        }
        let i = (self.head + self.len) & self.mask();
        self.buf[i] = x;
        self.len += 1;
    }

    #[inline(always)]
    pub fn pop_front(&mut self) -> Option<T> {
        if self.len == 0 {
            return None;
        }
        let x = self.buf[self.head];
        self.head = (self.head + 1) & self.mask();
        self.len -= 1;
        Some(x)
    }

    #[cfg(test)]
    pub fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
    }

    /// The `i`-th item from the front.
    #[cfg(test)]
    pub fn get_mut(&mut self, i: usize) -> &mut T {
        assert!(i < self.len, "index {i} past the end ({})", self.len);
        let m = self.mask();
        &mut self.buf[(self.head + i) & m]
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> + '_ {
        (0..self.len).map(move |i| &self.buf[(self.head + i) & self.mask()])
    }

    /// Hands a large buffer back once the queue is empty (see
    /// [`super::Dir::pop`]).
    pub fn release_if_empty(&mut self, keep: usize) {
        if self.len == 0 && self.buf.len() > keep {
            *self = Fifo::default();
        }
    }

    /// Doubles the ring, the items moved to its front in order.
    #[cold]
    #[inline(never)]
    fn grow(&mut self) {
        let cap = (2 * self.buf.len()).max(16);
        let mut buf = Vec::with_capacity(cap);
        buf.extend(self.iter().copied());
        buf.resize(cap, T::default());
        self.buf = buf;
        self.head = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::Fifo;
    use rand_chacha::rand_core::{RngCore, SeedableRng};
    use std::collections::VecDeque;

    /// Agrees with `VecDeque` on a long random run of pushes, pops and
    /// clears, across many wraps and growths.
    #[test]
    fn matches_vecdeque() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        let mut f: Fifo<u64> = Fifo::default();
        let mut want: VecDeque<u64> = VecDeque::new();
        for step in 0..100_000u64 {
            let r = rng.next_u32();
            match r % 100 {
                0 => {
                    f.clear();
                    want.clear();
                }
                1..=52 => {
                    f.push_back(step);
                    want.push_back(step);
                }
                _ => assert_eq!(f.pop_front(), want.pop_front()),
            }
            assert_eq!(f.len(), want.len());
            assert_eq!(f.is_empty(), want.is_empty());
            assert_eq!(f.front(), want.front());
            assert_eq!(f.back(), want.back());
            if step % 997 == 0 {
                assert!(f.iter().eq(want.iter()));
                if !want.is_empty() {
                    let i = r as usize % want.len();
                    *f.get_mut(i) += 1;
                    want[i] += 1;
                }
            }
        }
    }
}
