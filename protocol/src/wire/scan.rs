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

/// The classes of bytes [`commas_head32`] looks for, one bit each, as
/// sets of high nibbles times sets of low nibbles: a byte is in a class if
/// both its nibbles are. Bytes >= 0x80 are in all of them.
mod class {
    /// 0x00..=0x1f.
    pub const CONTROL: u8 = 1 << 0;
    /// `<` 0x3c and `>` 0x3e.
    pub const ANGLE: u8 = 1 << 1;
    /// `\\` 0x5c.
    pub const BACKSLASH: u8 = 1 << 2;
    /// DEL 0x7f.
    pub const DEL: u8 = 1 << 3;
    /// `,` 0x2c: bit 7, which `movemask` reads.
    pub const COMMA: u8 = 1 << 7;
    pub const ALL: u8 = CONTROL | ANGLE | BACKSLASH | DEL | COMMA;

    /// The classes each high nibble allows, complemented: bit clear where
    /// the nibble is in the class.
    pub const HIGH: [u8; 16] = {
        let mut t = [0; 16];
        t[0] = !CONTROL;
        t[1] = !CONTROL;
        t[2] = !COMMA;
        t[3] = !ANGLE;
        t[4] = !0;
        t[5] = !BACKSLASH;
        t[6] = !0;
        t[7] = !DEL;
        // 8..=15: every class, so every byte >= 0x80 is refused.
        t
    };

    /// The same for low nibbles.
    pub const LOW: [u8; 16] = {
        let mut t = [!CONTROL; 16];
        t[0xc] = !(CONTROL | ANGLE | BACKSLASH | COMMA);
        t[0xe] = !(CONTROL | ANGLE);
        t[0xf] = !(CONTROL | DEL);
        t
    };
}

/// `FORGIVE[k..k + 32]` has [`class::COMMA`] set in its first `32 - k`
/// lanes and nothing in the rest.
static FORGIVE: [u8; 64] = {
    let mut t = [0; 64];
    let mut i = 0;
    while i < 32 {
        t[i] = class::COMMA;
        i += 1;
    }
    t
};

/// The nibble tables of [`class`], each in both 128-bit lanes (a shuffle
/// looks up within its lane).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
fn class_tables() -> (core::arch::x86_64::__m256i, core::arch::x86_64::__m256i) {
    use core::arch::x86_64::*;
    let table = |t: [u8; 16]| {
        let t = t.map(|b| b as i8);
        _mm256_setr_epi8(
            t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], t[8], t[9], t[10], t[11], t[12], t[13],
            t[14], t[15], t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], t[8], t[9], t[10], t[11],
            t[12], t[13], t[14], t[15],
        )
    };
    (table(class::HIGH), table(class::LOW))
}

/// For each byte of `x`, the classes it is not in (bit clear for each
/// class it is in). A shuffle gives 0 for an index >= 0x80, so the
/// low-nibble lookup of a byte >= 0x80 is 0 and its high-nibble lookup
/// decides (all classes).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
fn allowed32(
    x: core::arch::x86_64::__m256i,
    high: core::arch::x86_64::__m256i,
    low: core::arch::x86_64::__m256i,
) -> core::arch::x86_64::__m256i {
    use core::arch::x86_64::*;
    let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(x), _mm256_set1_epi8(0x0f));
    _mm256_or_si256(_mm256_shuffle_epi8(high, hi), _mm256_shuffle_epi8(low, x))
}

/// One pass over an argument area `rest`, for
/// [`plain_args`](super::plain_args): if `rest` has at least 32 bytes,
/// every byte is one the fast path takes (none that [`Plain::other`] or
/// [`Plain::close`] covers) and every comma lies in the first 32 bytes, the
/// mask of those commas (bit `i` for `rest[i]`); otherwise `None` (not
/// settled: left to the block-by-block scan).
///
/// Cheaper per block than [`plain32`]: each byte's classes are looked up
/// by nibble (two shuffles) rather than compared for class by class, what
/// rules a block out is gathered in one vector over all blocks and tested
/// once at the end, and only the first block's commas are moved to a
/// register (a message's short leading arguments end there).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
pub(super) fn commas_head32(rest: &[u8]) -> Option<u32> {
    use core::arch::x86_64::*;
    let len = rest.len();
    let load = |block: Option<&[u8]>| match block.map(<&[u8; 32]>::try_from) {
        // SAFETY: the load reads exactly the 32 bytes of `block`, unaligned.
        Some(Ok(block)) => unsafe { _mm256_loadu_si256(block.as_ptr().cast()) },
        _ => _mm256_setzero_si256(),
    };
    let (high, low) = class_tables();
    let allowed = |x| allowed32(x, high, low);
    let first = rest.get(..32)?;
    let x = allowed(load(Some(first)));
    // A comma, or a byte >= 0x80 (which makes the result unsure anyway).
    let head = !(_mm256_movemask_epi8(x) as u32);
    let mut ok = _mm256_or_si256(x, _mm256_set1_epi8(class::COMMA as i8));
    // The blocks after the first that end before the last byte; the first
    // of them outside the loop, which then only runs for areas longer than
    // 96 bytes (and the common shorter ones skip its set-up).
    if len > 64 {
        ok = _mm256_and_si256(ok, allowed(load(rest.get(32..64))));
    }
    let mut q = 64;
    while q + 32 < len {
        ok = _mm256_and_si256(ok, allowed(load(rest.get(q..q + 32))));
        q += 32;
    }
    // The last 32 bytes, which may overlap blocks seen already: a comma
    // counts against it only past the first block.
    let t = len - 32;
    let x = allowed(load(rest.get(t..)));
    let forgive = load(FORGIVE.get(t.min(32)..t.min(32) + 32));
    ok = _mm256_and_si256(ok, _mm256_or_si256(x, forgive));
    // Every lane still allows every class: `!ok & ALL` is zero.
    (_mm256_testc_si256(ok, _mm256_set1_epi8(class::ALL as i8)) != 0).then_some(head)
}

/// Where each of the `N` arguments of a plain area `rest` of at least 32
/// bytes ends, as `plain_commas_16` finds them, 32 bytes at a time: the
/// classes of [`commas_head32`] for every block, what rules the area out
/// gathered over all of them and tested once, and each block's commas
/// taken as they come. A room message's commas are spread over its first
/// 40 to 80 bytes, past where the head scan settles anything; it then went
/// through the area twice, the second time 16 bytes a block.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
pub(super) fn plain_commas32<const N: usize>(rest: &[u8]) -> Option<[usize; N]> {
    use core::arch::x86_64::*;
    let len = rest.len();
    // The last block is the area's last 32 bytes (`plain_commas` sends
    // shorter areas elsewhere).
    debug_assert!(len >= 32, "an area of {len} bytes");
    let (high, low) = class_tables();
    let allowed = |block: &[u8; 32]| {
        // SAFETY: the load reads exactly the 32 bytes of `block`, unaligned.
        allowed32(
            unsafe { _mm256_loadu_si256(block.as_ptr().cast()) },
            high,
            low,
        )
    };
    let comma = _mm256_set1_epi8(class::COMMA as i8);
    let mut ok = _mm256_set1_epi8(-1);
    let mut ends = [len; N];
    let mut k = 0;
    let mut q = 0;
    while q < len {
        // The last block may overlap the one before: its lanes already
        // seen are shifted off (their classes were counted once already,
        // and counting them again changes nothing).
        let (at, skip) = if q + 32 <= len {
            (q, 0)
        } else {
            (len - 32, q - (len - 32))
        };
        let block: &[u8; 32] = rest.get(at..at + 32)?.try_into().ok()?;
        let x = allowed(block);
        ok = _mm256_and_si256(ok, _mm256_or_si256(x, comma));
        // Bit 7 clear: a comma, or a byte >= 0x80, which `ok` refuses.
        let mut commas = !(_mm256_movemask_epi8(x) as u32) >> skip;
        while commas != 0 {
            // Past `N` commas `ends` has no room; `N` of them (one too
            // many) the count below refuses.
            *ends.get_mut(k)? = q + commas.trailing_zeros() as usize;
            commas &= commas - 1;
            k += 1;
        }
        q += 32;
    }
    let plain = _mm256_testc_si256(ok, _mm256_set1_epi8(class::ALL as i8)) != 0;
    (plain && k + 1 == N).then_some(ends)
}

/// [`commas_head32`] byte by byte, for the tests.
#[cfg(test)]
pub(super) fn commas_head_portable(rest: &[u8]) -> Option<u32> {
    let plain = |&b: &u8| (0x20..0x7f).contains(&b) && !matches!(b, b'<' | b'>' | b'\\');
    if rest.len() < 32 || !rest.iter().all(plain) || rest.iter().skip(32).any(|&b| b == b',') {
        return None;
    }
    Some(
        rest.iter()
            .take(32)
            .enumerate()
            .fold(0, |m, (i, &b)| m | u32::from(b == b',') << i),
    )
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

    /// A 32-byte block classified as two portable 16-byte halves.
    #[cfg(target_arch = "x86_64")]
    fn portable32(v: &[u8; 32]) -> Plain {
        let lo = plain_portable(v[..16].try_into().unwrap());
        let hi = plain_portable(v[16..].try_into().unwrap());
        Plain {
            comma: lo.comma | hi.comma << 16,
            close: lo.close | hi.close << 16,
            other: lo.other | hi.other << 16,
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
                    let want = portable32(&v);
                    // SAFETY: AVX2 is present, checked above.
                    assert_eq!(unsafe { plain32(&v) }, want, "{v:?}");
                }
            }
        }
    }

    /// The 32-lane scan of a short tail, every length up to a whole block
    /// (which takes no mask), against the portable classifier.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn short_avx2_tail_of_every_length() {
        if !std::is_x86_feature_detected!("avx2") {
            return;
        }
        let v: Vec<u8> = (0..32u8)
            .map(|i| b",>a\\\x01"[usize::from(i % 5)])
            .collect();
        for k in 0..=32 {
            let mut padded = [b'a'; 32];
            padded[..k].copy_from_slice(&v[..k]);
            let want = portable32(&padded);
            // SAFETY: AVX2 is present, checked above.
            assert_eq!(unsafe { plain32_short(&v[..k]) }, want, "{k}");
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn head_scan_every_byte_in_every_lane() {
        if !std::is_x86_feature_detected!("avx2") {
            return;
        }
        // Too short; one block; two overlapping or not; one to three after
        // the first, with and without the loop and an overlapping tail.
        for len in [31, 32, 33, 63, 64, 65, 73, 96, 97, 100, 129] {
            for lane in 0..len {
                for b in 0..=255u8 {
                    for fill in [b'a', b',', b' ', b'h'] {
                        let mut v = vec![fill; len];
                        if fill == b'h' {
                            // Commas where a BCAST's origin and id end.
                            (v[3], v[8]) = (b',', b',');
                        }
                        v[lane] = b;
                        // SAFETY: AVX2 is present, checked above.
                        let got = unsafe { commas_head32(&v) };
                        assert_eq!(got, commas_head_portable(&v), "{v:?}");
                    }
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

    /// The 32-byte scan finds the arguments the 16-byte one does: every
    /// byte in every lane, over one block, two, and tails that overlap the
    /// block before by every amount, with commas among the fill.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn scan32_every_byte_in_every_lane() {
        use crate::wire::decode::plain_commas_16;
        if !std::is_x86_feature_detected!("avx2") {
            return;
        }
        for len in [32, 33, 40, 63, 64, 65, 80, 95, 96, 97, 129] {
            for lane in 0..len {
                for b in 0..=255u8 {
                    let mut v = vec![b'a'; len];
                    // Seven commas, as in a room message, spread out.
                    for i in 0..7 {
                        v[(i * 11 + 3) % len] = b',';
                    }
                    v[lane] = b;
                    // SAFETY: AVX2 is present, checked above.
                    let got = unsafe { plain_commas32::<8>(&v) };
                    assert_eq!(got, plain_commas_16::<8>(&v), "{v:?}");
                    let got = unsafe { plain_commas32::<5>(&v) };
                    assert_eq!(got, plain_commas_16::<5>(&v), "{v:?}");
                }
            }
        }
    }

    /// Argument areas: mostly plain text, commas often, any byte now and
    /// then.
    #[cfg(target_arch = "x86_64")]
    fn area(len: std::ops::Range<usize>) -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(
            prop_oneof![
                12 => prop::sample::select(b"abz09 .~".to_vec()),
                3 => Just(b','),
                1 => any::<u8>(),
            ],
            len,
        )
    }

    #[cfg(target_arch = "x86_64")]
    proptest! {
        #[test]
        fn scan32_matches_the_16_byte_scan(v in area(32..200)) {
            use crate::wire::decode::plain_commas_16;
            if std::is_x86_feature_detected!("avx2") {
                // SAFETY: AVX2 is present, checked just above.
                unsafe {
                    prop_assert_eq!(plain_commas32::<5>(&v), plain_commas_16::<5>(&v));
                    prop_assert_eq!(plain_commas32::<8>(&v), plain_commas_16::<8>(&v));
                    prop_assert_eq!(plain_commas32::<20>(&v), plain_commas_16::<20>(&v));
                }
            }
        }

        #[test]
        fn head_scan_matches_byte_definition(v in area(0..160)) {
            if std::is_x86_feature_detected!("avx2") {
                // SAFETY: AVX2 is present, checked just above.
                prop_assert_eq!(unsafe { commas_head32(&v) }, commas_head_portable(&v));
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
