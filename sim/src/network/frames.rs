//! The bytes of every frame in flight, for all connections at once.
//!
//! Each direction of a connection used to keep its frames in a ring of
//! its own (a kilobyte at least, kept once grown), with their headers in a
//! queue of its own. At 250,000 users those are half a million rings, and
//! a frame to or from a user wrote into a ring nothing had touched for a
//! minute and read it back a few milliseconds later: two or three cache
//! misses a frame, and 640 MB of rings. Here frames live in blocks of a
//! few sizes in one store; a block given back goes to the front of its
//! size's free list and is the next one taken, so the frame a delivery
//! frees is where the frames its handler sends are written, while it is
//! still in the caches. Which block a frame sits in is invisible to a run.

/// Blocks are whole multiples of this many bytes, and start at one.
const UNIT: usize = 64;

/// Enough block sizes for any frame a `u32` can measure.
const CLASSES: usize = 32;

#[derive(Debug, Default)]
pub struct FrameStore {
    bytes: Vec<u8>,
    /// By size class (blocks of `UNIT << class` bytes): the blocks given
    /// back, by their first unit, the last given back at the end.
    free: [Vec<u32>; CLASSES],
}

/// Where a frame's bytes are: its block's first unit.
pub type Block = u32;

/// The size class of a block for `len` bytes (an empty frame takes the
/// smallest block: the FIN takes none, see `Dir`).
#[inline(always)]
fn class(len: usize) -> usize {
    let units = len.div_ceil(UNIT).max(1);
    (usize::BITS - (units - 1).leading_zeros()) as usize
}

impl FrameStore {
    /// Copies `bytes` into a block; returns where.
    #[inline(always)]
    pub fn put(&mut self, bytes: &[u8]) -> Block {
        let c = class(bytes.len());
        let at = match self.free[c].pop() {
            Some(at) => at,
            None => self.grow(c),
        };
        let from = at as usize * UNIT;
        self.bytes[from..from + bytes.len()].copy_from_slice(bytes);
        at
    }

    /// A new block of class `c` at the end of the store.
    #[cold]
    #[inline(never)]
    fn grow(&mut self, c: usize) -> Block {
        let at = self.bytes.len();
        let size = UNIT << c;
        self.bytes.resize(at + size, 0);
        u32::try_from(at / UNIT).expect("frames in flight past 256 GiB")
    }

    /// The `len` bytes in block `at`.
    #[inline(always)]
    pub fn get(&self, at: Block, len: usize) -> &[u8] {
        let from = at as usize * UNIT;
        &self.bytes[from..from + len]
    }

    /// Gives back the block `at` that holds `len` bytes.
    #[inline(always)]
    pub fn release(&mut self, at: Block, len: usize) {
        self.free[class(len)].push(at);
    }

    /// Bytes the store has taken (held by frames or free).
    #[cfg(test)]
    pub fn size(&self) -> usize {
        self.bytes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::{RngCore, SeedableRng};

    #[test]
    fn classes_fit_their_lengths() {
        for len in 0..5000usize {
            let c = class(len);
            assert!(UNIT << c >= len.max(1), "{len} in class {c}");
            assert!(
                c == 0 || UNIT << (c - 1) < len,
                "{len} could go lower than {c}"
            );
        }
        assert_eq!(class(u32::MAX as usize), 26);
    }

    /// Frames put in and given back in random order each read back as
    /// written, and the store grows with the bytes held at once, not with
    /// the bytes ever put.
    #[test]
    fn frames_read_back_and_blocks_are_reused() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let mut s = FrameStore::default();
        let mut held: Vec<(Block, Vec<u8>)> = Vec::new();
        let mut total = 0usize;
        for step in 0..100_000u32 {
            let r = rng.next_u32();
            if held.len() < 50 && (r % 2 == 0 || held.is_empty()) {
                let len = (r >> 8) as usize % 700;
                let bytes: Vec<u8> = (0..len).map(|i| (step as usize + i) as u8).collect();
                total += len;
                held.push((s.put(&bytes), bytes));
            } else {
                let (at, bytes) = held.swap_remove(r as usize % held.len());
                assert_eq!(s.get(at, bytes.len()), &bytes[..]);
                s.release(at, bytes.len());
            }
        }
        // At most 50 frames of at most 1 KiB blocks, in each of five classes.
        assert!(s.size() <= 5 * 50 * 1024, "{}", s.size());
        assert!(total > 100 * s.size());
    }

    /// The block a frame gives back is the next one a frame of its size
    /// takes.
    #[test]
    fn the_last_block_given_back_is_taken_first() {
        let mut s = FrameStore::default();
        let a = s.put(&[1; 100]);
        let b = s.put(&[2; 100]);
        s.release(a, 100);
        s.release(b, 100);
        assert_eq!(s.put(&[3; 70]), b);
        assert_eq!(s.put(&[4; 128]), a);
        assert_ne!(s.put(&[5; 10]), a, "a smaller class has blocks of its own");
    }
}
