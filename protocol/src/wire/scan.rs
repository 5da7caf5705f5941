//! Classifying bytes sixteen at a time.
//!
//! Both directions of the codec spend nearly all their time skipping
//! ordinary text, so this is the one place worth making clever. On x86_64
//! it uses SSE2, which every x86_64 CPU has; elsewhere a plain loop with
//! the same results. The tests check the SSE2 version against the plain one
//! for every byte value in every lane.

/// Bytes per block.
pub(super) const BLOCK: usize = 16;

/// Bytes that end a run of argument text, in both directions: the
/// delimiters, the escape, the stray opener and the control bytes.
pub(super) const fn is_special(b: u8) -> bool {
    matches!(b, 0..=0x1f | 0x7f | b',' | b'<' | b'>' | b'\\')
}

/// [`is_special`] as a table, for the byte loops on short inputs.
static SPECIAL: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = is_special(b as u8);
        b += 1;
    }
    t
};

/// Bit `i` of the first word is set when `block[i]` [`is_special`], bit `i`
/// of the second when `block[i] >= 0x80`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(super) fn masks(block: &[u8; BLOCK]) -> (u32, u32) {
    use core::arch::x86_64::*;
    // SAFETY: SSE2 is part of the x86_64 baseline, so the intrinsics are
    // always available; the load reads exactly the 16 bytes of `block` and
    // has no alignment requirement.
    unsafe {
        let x = _mm_loadu_si128(block.as_ptr().cast());
        let splat = |b: u8| _mm_set1_epi8(b as i8);
        let ctl = _mm_cmpeq_epi8(_mm_and_si128(x, splat(0xe0)), _mm_setzero_si128());
        let del = _mm_cmpeq_epi8(x, splat(0x7f));
        // `<` (0x3c) and `>` (0x3e) differ only in bit 1.
        let angle = _mm_cmpeq_epi8(_mm_or_si128(x, splat(0x02)), splat(b'>'));
        let comma = _mm_cmpeq_epi8(x, splat(b','));
        let bslash = _mm_cmpeq_epi8(x, splat(b'\\'));
        let special = _mm_or_si128(
            _mm_or_si128(ctl, del),
            _mm_or_si128(angle, _mm_or_si128(comma, bslash)),
        );
        (
            _mm_movemask_epi8(special) as u32,
            _mm_movemask_epi8(x) as u32,
        )
    }
}

#[cfg(not(target_arch = "x86_64"))]
pub(super) use masks_portable as masks;

#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
#[inline]
fn masks_portable(block: &[u8; BLOCK]) -> (u32, u32) {
    let (mut special, mut high) = (0, 0);
    for (i, &b) in block.iter().enumerate() {
        special |= u32::from(is_special(b)) << i;
        high |= u32::from(b >= 0x80) << i;
    }
    (special, high)
}

/// The masks the decoder's fast path needs, bit `i` for `block[i]`: commas,
/// `>`s, and every other byte that rules the fast path out (the rest of
/// [`is_special`], and bytes >= 0x80).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Plain {
    pub comma: u32,
    pub close: u32,
    pub other: u32,
}

impl Plain {
    /// The masks of a block that starts `k` lanes later (lanes past the end
    /// clear).
    #[inline(always)]
    pub fn shifted(self, k: usize) -> Plain {
        Plain {
            comma: self.comma >> k,
            close: self.close >> k,
            other: self.other >> k,
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(super) fn plain(block: &[u8; BLOCK]) -> Plain {
    use core::arch::x86_64::*;
    // SAFETY: as in `masks`: SSE2 is baseline on x86_64 and the load reads
    // exactly the 16 bytes of `block`, unaligned.
    unsafe {
        let x = _mm_loadu_si128(block.as_ptr().cast());
        let splat = |b: u8| _mm_set1_epi8(b as i8);
        // A signed compare: 0x00..=0x1f and everything >= 0x80 in one go.
        let low_or_high = _mm_cmplt_epi8(x, splat(0x20));
        let del = _mm_cmpeq_epi8(x, splat(0x7f));
        let open = _mm_cmpeq_epi8(x, splat(b'<'));
        let bslash = _mm_cmpeq_epi8(x, splat(b'\\'));
        let other = _mm_or_si128(_mm_or_si128(low_or_high, del), _mm_or_si128(open, bslash));
        Plain {
            comma: _mm_movemask_epi8(_mm_cmpeq_epi8(x, splat(b','))) as u32,
            close: _mm_movemask_epi8(_mm_cmpeq_epi8(x, splat(b'>'))) as u32,
            other: _mm_movemask_epi8(other) as u32,
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
pub(super) use plain_portable as plain;

/// [`plain`] for a 32-byte block: bit `i` for `block[i]`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
pub(super) fn plain32(block: &[u8; 32]) -> Plain {
    use core::arch::x86_64::*;
    // SAFETY: the load reads exactly the 32 bytes of `block`, unaligned.
    let x = unsafe { _mm256_loadu_si256(block.as_ptr().cast()) };
    // A signed compare: 0x00..=0x1f and everything >= 0x80 in one go.
    let low_or_high = _mm256_cmpgt_epi8(_mm256_set1_epi8(0x20), x);
    let del = _mm256_cmpeq_epi8(x, _mm256_set1_epi8(0x7f));
    let open = _mm256_cmpeq_epi8(x, _mm256_set1_epi8(b'<' as i8));
    let bslash = _mm256_cmpeq_epi8(x, _mm256_set1_epi8(b'\\' as i8));
    let other = _mm256_or_si256(
        _mm256_or_si256(low_or_high, del),
        _mm256_or_si256(open, bslash),
    );
    let comma = _mm256_cmpeq_epi8(x, _mm256_set1_epi8(b',' as i8));
    let close = _mm256_cmpeq_epi8(x, _mm256_set1_epi8(b'>' as i8));
    Plain {
        comma: _mm256_movemask_epi8(comma) as u32,
        close: _mm256_movemask_epi8(close) as u32,
        other: _mm256_movemask_epi8(other) as u32,
    }
}

#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
#[inline]
fn plain_portable(block: &[u8; BLOCK]) -> Plain {
    let mut m = Plain {
        comma: 0,
        close: 0,
        other: 0,
    };
    for (i, &b) in block.iter().enumerate() {
        m.comma |= u32::from(b == b',') << i;
        m.close |= u32::from(b == b'>') << i;
        m.other |= u32::from(b >= 0x80 || (is_special(b) && b != b',' && b != b'>')) << i;
    }
    m
}

/// [`plain`] of fewer than [`BLOCK`] bytes, lanes past them clear. Out of
/// line: only frames shorter than a block get here, and keeping the copy out
/// of the decoder's loop keeps its registers free.
#[inline(never)]
pub(super) fn plain_short(rest: &[u8]) -> Plain {
    let mut block = [b'a'; BLOCK];
    let k = rest.len().min(BLOCK);
    block[..k].copy_from_slice(&rest[..k]);
    let m = plain(&block);
    let live = (1u32 << k) - 1;
    Plain {
        comma: m.comma & live,
        close: m.close & live,
        other: m.other & live,
    }
}

/// [`plain32`] of fewer than 32 bytes, lanes past them clear. (The decoder
/// takes the 32-byte path only for longer frames, so this is a fallback.)
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline(never)]
pub(super) fn plain32_short(rest: &[u8]) -> Plain {
    let mut block = [b'a'; 32];
    let k = rest.len().min(32);
    block[..k].copy_from_slice(&rest[..k]);
    let m = plain32(&block);
    let live = if k == 32 { u32::MAX } else { (1u32 << k) - 1 };
    Plain {
        comma: m.comma & live,
        close: m.close & live,
        other: m.other & live,
    }
}

/// [`plain`] of the block starting at `bytes[q]` (`q < bytes.len()`), with
/// lanes past the end clear.
#[cfg(test)]
fn plain_at(bytes: &[u8], q: usize) -> Plain {
    if let Some(block) = bytes.get(q..q + BLOCK) {
        plain(block.try_into().unwrap_or(&[0; BLOCK]))
    } else if bytes.len() >= BLOCK {
        let t = bytes.len() - BLOCK;
        plain(bytes[t..].try_into().unwrap_or(&[0; BLOCK])).shifted(q - t)
    } else {
        plain_short(&bytes[q..])
    }
}

/// [`masks`] of the block starting at `bytes[q]` (`q < bytes.len()`), with
/// lanes past the end clear.
#[inline(always)]
pub(super) fn masks_at(bytes: &[u8], q: usize) -> (u32, u32) {
    if let Some(block) = bytes.get(q..q + BLOCK) {
        masks(block.try_into().unwrap_or(&[0; BLOCK]))
    } else if bytes.len() >= BLOCK {
        // Re-read the last full block and shift off what was seen before:
        // cheaper than copying the tail into a padded block.
        let t = bytes.len() - BLOCK;
        let (s, h) = masks(bytes[t..].try_into().unwrap_or(&[0; BLOCK]));
        ((s >> (q - t)), (h >> (q - t)))
    } else {
        let rest = bytes.get(q..).unwrap_or_default();
        let mut block = [b'a'; BLOCK];
        block[..rest.len()].copy_from_slice(rest);
        let (s, h) = masks(&block);
        let live = (1u32 << rest.len()) - 1;
        (s & live, h & live)
    }
}

/// Index of the first byte in `bytes[from..]` that [`is_special`], or
/// `bytes.len()`.
#[inline]
pub(super) fn find_special(bytes: &[u8], from: usize) -> usize {
    let len = bytes.len();
    if len - from.min(len) < BLOCK {
        // Short: a byte loop beats setting up a block.
        let mut p = from;
        while p < len && !SPECIAL[bytes[p] as usize] {
            p += 1;
        }
        return p;
    }
    let mut q = from;
    while q < len {
        let (s, _) = masks_at(bytes, q);
        if s != 0 {
            return q + s.trailing_zeros() as usize;
        }
        q += BLOCK;
    }
    len
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn slow(bytes: &[u8], from: usize) -> usize {
        bytes[from..]
            .iter()
            .position(|&b| is_special(b))
            .map_or(bytes.len(), |k| from + k)
    }

    fn slow_masks(bytes: &[u8], q: usize) -> (u32, u32) {
        let mut block = [b'a'; BLOCK];
        let rest = &bytes[q..bytes.len().min(q + BLOCK)];
        block[..rest.len()].copy_from_slice(rest);
        let (s, h) = masks_portable(&block);
        let live = (1u32 << rest.len()) - 1;
        (s & live, h & live)
    }

    fn slow_plain(bytes: &[u8], q: usize) -> Plain {
        let mut block = [b'a'; BLOCK];
        let rest = &bytes[q..bytes.len().min(q + BLOCK)];
        block[..rest.len()].copy_from_slice(rest);
        let m = plain_portable(&block);
        let live = (1u32 << rest.len()) - 1;
        Plain {
            comma: m.comma & live,
            close: m.close & live,
            other: m.other & live,
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_block_matches_two_portable_halves() {
        if !std::is_x86_feature_detected!("avx2") {
            return;
        }
        for b in 0..=255u8 {
            for lane in 0..32 {
                for fill in [b'a', 0x00, 0xff, b'<', 0x7f, 0x80, b' ', b',', b'>', b'\\'] {
                    let mut v = [fill; 32];
                    v[lane] = b;
                    let lo = plain_portable(v[..16].try_into().unwrap());
                    let hi = plain_portable(v[16..].try_into().unwrap());
                    let want = Plain {
                        comma: lo.comma | hi.comma << 16,
                        close: lo.close | hi.close << 16,
                        other: lo.other | hi.other << 16,
                    };
                    // SAFETY: AVX2 is present, checked above.
                    assert_eq!(unsafe { plain32(&v) }, want, "{v:?}");
                }
            }
        }
    }

    #[test]
    fn every_byte_in_every_lane() {
        for b in 0..=255u8 {
            for lane in 0..BLOCK {
                for fill in [b'a', 0x00, 0xff, b'<', 0x7f, 0x80, b' ', b',', b'>'] {
                    let mut v = [fill; BLOCK];
                    v[lane] = b;
                    assert_eq!(masks(&v), masks_portable(&v), "{v:?}");
                    assert_eq!(plain(&v), plain_portable(&v), "{v:?}");
                    v = [b'a'; BLOCK];
                    v[lane] = b;
                    assert_eq!(find_special(&v, 0), slow(&v, 0), "{v:?}");
                }
            }
        }
    }

    proptest! {
        #[test]
        fn matches_byte_definition(
            v in prop::collection::vec(
                prop_oneof![3 => 0x20u8..0x7f, 1 => any::<u8>()], 0..80),
            from in 0usize..80,
        ) {
            let from = from.min(v.len());
            prop_assert_eq!(find_special(&v, from), slow(&v, from));
            if from < v.len() {
                prop_assert_eq!(masks_at(&v, from), slow_masks(&v, from));
                prop_assert_eq!(plain_at(&v, from), slow_plain(&v, from));
            }
        }
    }
}
