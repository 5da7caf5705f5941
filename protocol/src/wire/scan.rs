//! Finding the next byte that needs attention, eight bytes at a time.
//!
//! Both directions of the codec spend nearly all their time skipping
//! ordinary text, so this is the one place worth making clever. It is plain
//! integer arithmetic on `u64` words (no `unsafe`, no target features), and
//! is checked against the byte-table definition by the tests below.

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

const fn splat(b: u8) -> u64 {
    LO * b as u64
}

/// High bit set in each byte of `v` that is zero. Borrows can also flag
/// bytes *above* a zero byte, never below one, so the lowest flag is exact;
/// that is all the scanner uses.
#[inline(always)]
fn zero_bytes(v: u64) -> u64 {
    v.wrapping_sub(LO) & !v
}

/// High bit set at (at least) the first byte of `w` (little-endian order)
/// that is a control byte, 0x7f, `,`, `<`, `>` or `\`, and, if `NON_ASCII`,
/// at or before the first byte >= 0x80. Exact for the lowest set bit.
#[inline(always)]
fn mask<const NON_ASCII: bool>(w: u64) -> u64 {
    // Below 0x20: the same borrow argument as `zero_bytes`.
    let ctl = w.wrapping_sub(splat(0x20)) & !w;
    let del = zero_bytes(w ^ splat(0x7f));
    // `<` (0x3c) and `>` (0x3e) differ only in bit 1.
    let angle = zero_bytes((w | splat(0x02)) ^ splat(b'>'));
    let comma = zero_bytes(w ^ splat(b','));
    let bslash = zero_bytes(w ^ splat(b'\\'));
    let high = if NON_ASCII { w } else { 0 };
    (ctl | del | angle | comma | bslash | high) & HI
}

/// The bytes `mask` looks for, one at a time.
pub(super) const fn is_special(b: u8) -> bool {
    matches!(b, 0..=0x1f | 0x7f | b',' | b'<' | b'>' | b'\\')
}

/// Index of the first byte in `bytes[from..]` that [`is_special`] (or, if
/// `NON_ASCII`, is >= 0x80), or `bytes.len()` if there is none.
#[inline]
pub(super) fn find<const NON_ASCII: bool>(bytes: &[u8], from: usize) -> usize {
    let mut p = from;
    while let Some(chunk) = bytes.get(p..p + 8) {
        let w = u64::from_le_bytes([
            chunk[0], chunk[1], chunk[2], chunk[3], chunk[4], chunk[5], chunk[6], chunk[7],
        ]);
        let m = mask::<NON_ASCII>(w);
        if m != 0 {
            return p + (m.trailing_zeros() / 8) as usize;
        }
        p += 8;
    }
    while p < bytes.len() {
        let b = bytes[p];
        if is_special(b) || (NON_ASCII && b >= 0x80) {
            break;
        }
        p += 1;
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn slow<const NON_ASCII: bool>(bytes: &[u8], from: usize) -> usize {
        bytes[from..]
            .iter()
            .position(|&b| is_special(b) || (NON_ASCII && b >= 0x80))
            .map_or(bytes.len(), |k| from + k)
    }

    #[test]
    fn every_byte_in_every_lane() {
        for b in 0..=255u8 {
            for lane in 0..8 {
                for fill in [b'a', 0x00, 0xff, b'<', 0x7f, 0x80, b' '] {
                    let mut v = vec![b'a'; 9];
                    v[lane] = b;
                    v[(lane + 1) % 9] = fill;
                    assert_eq!(find::<true>(&v, 0), slow::<true>(&v, 0), "{v:?}");
                    assert_eq!(find::<false>(&v, 0), slow::<false>(&v, 0), "{v:?}");
                }
            }
        }
    }

    proptest! {
        #[test]
        fn matches_byte_table(
            v in prop::collection::vec(
                prop_oneof![3 => 0x20u8..0x7f, 1 => any::<u8>()], 0..40),
            from in 0usize..40,
        ) {
            let from = from.min(v.len());
            prop_assert_eq!(find::<true>(&v, from), slow::<true>(&v, from));
            prop_assert_eq!(find::<false>(&v, from), slow::<false>(&v, from));
        }
    }
}
