//! Seeded random streams.
//!
//! One seed per run is split into independent named streams (network,
//! faults, one per host, ...), so that adding a host or a fault does not
//! shift every latency drawn elsewhere.

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// SplitMix64: a well-mixed 64-bit step, used only for seed derivation.
fn splitmix(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The generator for stream `name` of run `seed`.
pub fn stream(seed: u64, name: &str) -> ChaCha8Rng {
    // FNV-1a of the name keeps stream identity independent of creation order.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let mut state = seed ^ h.rotate_left(17);
    let mut key = [0u8; 32];
    for chunk in key.chunks_mut(8) {
        chunk.copy_from_slice(&splitmix(&mut state).to_le_bytes());
    }
    ChaCha8Rng::from_seed(key)
}

/// Uniform draw in `[lo, hi]` without modulo bias worth caring about at
/// these ranges (nanosecond latencies).
pub fn between(rng: &mut ChaCha8Rng, lo: u64, hi: u64) -> u64 {
    use rand_chacha::rand_core::RngCore;
    if hi <= lo {
        return lo;
    }
    scale(rng.next_u64(), lo, hi)
}

/// A word of a stream as a draw from `lo..=hi` (`lo < hi`), as
/// [`between`] makes it.
#[inline]
pub fn scale(word: u64, lo: u64, hi: u64) -> u64 {
    let span = hi - lo + 1;
    lo + ((u128::from(word) * u128::from(span)) >> 64) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::RngCore;

    #[test]
    fn streams_are_reproducible_and_independent() {
        assert_eq!(stream(7, "net").next_u64(), stream(7, "net").next_u64());
        assert_ne!(stream(7, "net").next_u64(), stream(7, "faults").next_u64());
        assert_ne!(stream(7, "net").next_u64(), stream(8, "net").next_u64());
        let mut r = stream(1, "x");
        for _ in 0..1000 {
            let v = between(&mut r, 10, 20);
            assert!((10..=20).contains(&v));
        }
    }
}
