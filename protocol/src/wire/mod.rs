//! The frame codec: `<COMMAND,arg,arg,...>` with backslash escaping.
//!
//! # Grammar
//!
//! ```text
//! stream   = *( *ws frame ) *ws
//! ws       = " " / CR / LF                    ; only between frames
//! frame    = "<" command *( "," [" "] arg ) ">"
//! command  = UPPER *15( UPPER / DIGIT / "_" ) ; 1..=16 bytes
//! arg      = *( plain / "\" escaped )       ; UTF-8 once unescaped
//! escaped  = "," / ">" / "<" / "\" / " "
//! plain    = any byte but "," ">" "<" "\" and control bytes (< 0x20, 0x7f)
//! ```
//!
//! Limits: a frame is at most [`MAX_FRAME`] bytes from `<` to `>`, with at
//! most [`MAX_ARGS`] arguments.
//!
//! Why it looks like this:
//!
//! * The format is meant to be typed and read by people (simulator traces,
//!   hand-written scenarios), so it is text, and control bytes (below 0x20
//!   and 0x7f) are refused everywhere inside a frame, by the encoder as well
//!   as the decoder: a trace line can then always be printed as is.
//! * The decoder skips one optional space after each `,` so that the natural
//!   hand-written `<JOIN, a, b>` means `a`, `b`. That makes a leading space in
//!   an argument ambiguous, so the encoder writes it as `\ `; it never emits
//!   the optional space itself, which keeps its output canonical (one string
//!   per frame, so traces can be compared byte for byte).
//! * A backslash before anything but a special byte is an error rather than
//!   a literal, so every frame has exactly one meaning and new escapes can be
//!   added later without changing the meaning of old traces.
//! * An unescaped `<` inside a frame is an error: it almost always means a
//!   frame was cut short and the next one started, and reporting it there
//!   points at the real fault instead of at a confusing later one.
//! * [`MAX_FRAME`] and [`MAX_ARGS`] bound what a peer can make us buffer.
//!   A stream reader gets [`WireErrorKind::Incomplete`] while a frame may
//!   still complete within the bound and [`WireErrorKind::TooLong`] as soon as
//!   it cannot, so its buffer never has to grow past about `2 * MAX_FRAME`.
//!   For the same reason at most `MAX_FRAME` whitespace bytes may precede a
//!   frame.
//! * Arguments must be UTF-8 so the decoded frame can hand out `&str`.
//!
//! Error offsets from the decoder are byte offsets into its input. The
//! encoder reports offsets relative to the `<` of the frame it was writing,
//! i.e. where the decoder would have complained about the same bytes.
//!
//! [`Frame`] keeps all decoded text in one `String` and the boundaries in a
//! `Vec<u32>`, so decoding into a reused frame costs no allocation once its
//! buffers have grown; that matters because decoding is on the simulator's
//! per-message hot path. So is the block-at-a-time scan in `scan.rs`, which
//! is where the codec's only `unsafe` comes from: the SSE2 and AVX2 loads
//! (AVX2 only after a runtime check), and, in `decode.rs`, skipping a UTF-8
//! check on text the scan saw to be ASCII.
//!
//! Decoding first tries a fast path for the common frame (whole, ASCII, no
//! escapes, few arguments) and falls back to the general decoder for
//! anything else; the tests hold the two to the same results. For the one
//! message on every hop of a flood, [`plain_args`] goes further: it reads a
//! plain frame's arguments straight from the input, with no [`Frame`] and
//! no copy, and leaves anything else to the decoder (again held to the same
//! results by the tests).

mod decode;
mod encode;
mod scan;
#[cfg(test)]
mod tests;

use std::fmt;

#[cfg(all(test, target_arch = "x86_64"))]
use decode::decode_plain_32;
pub use decode::{decode, decode_exact, plain_args, plain_args_in};
#[cfg(test)]
use decode::{decode_general, decode_plain, decode_plain_16, plain_commas, plain_commas_16};
pub(crate) use encode::Dec;
pub use encode::{encode, Encoder};

/// Largest encoded frame, `<` and `>` included.
pub const MAX_FRAME: usize = 4096;
/// Largest number of arguments in one frame.
pub const MAX_ARGS: usize = 64;

/// What went wrong while decoding or encoding a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireErrorKind {
    /// The input ended before the frame did; a stream reader should wait
    /// for more bytes.
    Incomplete,
    /// A byte other than whitespace where a frame (`<`) should start, or
    /// after the frame in [`decode_exact`].
    Garbage,
    /// The command is empty, too long or has a byte outside `[A-Z0-9_]`
    /// (or does not start with a letter).
    BadCommand,
    /// A backslash not followed by one of `, > < \ ` and space.
    BadEscape,
    /// An unescaped `<` inside a frame.
    UnexpectedOpen,
    /// A byte below 0x20, or 0x7f, inside a frame.
    ControlByte,
    /// An argument is not valid UTF-8.
    BadUtf8,
    /// The frame is (or would be) longer than [`MAX_FRAME`] bytes.
    TooLong,
    /// The frame has more than [`MAX_ARGS`] arguments.
    TooManyArgs,
}

impl WireErrorKind {
    fn describe(self) -> &'static str {
        match self {
            WireErrorKind::Incomplete => "incomplete frame",
            WireErrorKind::Garbage => "garbage outside a frame",
            WireErrorKind::BadCommand => "bad command",
            WireErrorKind::BadEscape => "bad escape",
            WireErrorKind::UnexpectedOpen => "unexpected '<'",
            WireErrorKind::ControlByte => "control byte",
            WireErrorKind::BadUtf8 => "invalid UTF-8",
            WireErrorKind::TooLong => "frame too long",
            WireErrorKind::TooManyArgs => "too many arguments",
        }
    }
}

impl fmt::Display for WireErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// A codec error and the byte offset where it was detected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireError {
    pub kind: WireErrorKind,
    /// Byte offset into the decoder's input, or, from the encoder, into the
    /// frame being written (counting from its `<`).
    pub offset: usize,
}

impl WireError {
    pub(crate) const fn new(kind: WireErrorKind, offset: usize) -> Self {
        WireError { kind, offset }
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.kind, self.offset)
    }
}

impl std::error::Error for WireError {}

/// A decoded frame, meant to be reused across [`decode`] calls.
///
/// `text` holds the frame's bytes after `<` with the escaping backslashes
/// removed; `spans` holds a `[start, end)` pair into it for the command and
/// then for each argument. The bytes between spans (commas, the skipped
/// optional spaces) are left in place because cutting them out would cost
/// more than it saves; equality compares command and arguments only.
#[derive(Default, Clone)]
pub struct Frame {
    text: String,
    spans: Vec<u32>,
}

impl Frame {
    pub fn new() -> Self {
        Self::default()
    }

    /// The `k`th span: 0 is the command, `i + 1` argument `i`.
    #[inline]
    fn span(&self, k: usize) -> Option<&str> {
        let start = *self.spans.get(k.checked_mul(2)?)?;
        let end = *self.spans.get(2 * k + 1)?;
        Some(self.piece(start, end))
    }

    /// The text from `start` to `end`, a span this frame's decode wrote.
    /// Spans start and end next to ASCII bytes (the delimiters) or at the
    /// end of the text, so they lie on character boundaries: only the
    /// bounds are checked, not the boundaries (`str::get` tests both ends
    /// for a character's start, out of line: about 50 instructions a room
    /// delivery over the frames decoded on its way).
    #[inline(always)]
    fn piece(&self, start: u32, end: u32) -> &str {
        let (start, end) = (start as usize, end as usize);
        debug_assert!(
            start > end
                || end > self.text.len()
                || self.text.is_char_boundary(start) && self.text.is_char_boundary(end),
            "a span off a character boundary"
        );
        match self.text.as_bytes().get(start..end) {
            // SAFETY: a slice of a `str` between two character
            // boundaries is valid UTF-8 (above).
            Some(b) => unsafe { std::str::from_utf8_unchecked(b) },
            None => "",
        }
    }

    /// The command; empty for a frame that holds nothing (new, or after a
    /// failed decode).
    #[inline]
    pub fn command(&self) -> &str {
        self.span(0).unwrap_or_default()
    }

    #[inline]
    pub fn arg_count(&self) -> usize {
        (self.spans.len() / 2).saturating_sub(1)
    }

    #[inline]
    pub fn arg(&self, i: usize) -> Option<&str> {
        self.span(i.checked_add(1)?)
    }

    /// The arguments, if there are exactly `N`: one count check for all
    /// of them, for typed parsing. Always inline: a call costs as much as
    /// the check.
    #[inline(always)]
    pub fn args_exact<const N: usize>(&self) -> Option<[&str; N]> {
        if self.spans.len() != 2 * (N + 1) {
            return None;
        }
        self.args_prefix()
    }

    /// The first `N` arguments, if there are at least `N`.
    #[inline(always)]
    pub fn args_prefix<const N: usize>(&self) -> Option<[&str; N]> {
        let spans = self.spans.get(2..2 + 2 * N)?;
        let mut out = [""; N];
        for (o, w) in out.iter_mut().zip(spans.chunks_exact(2)) {
            *o = self.piece(w[0], w[1]);
        }
        Some(out)
    }

    pub fn args(&self) -> impl Iterator<Item = &str> + '_ {
        self.spans
            .chunks_exact(2)
            .skip(1)
            .map(move |w| self.piece(w[0], w[1]))
    }

    /// Appends the canonical encoding of this frame to `out`.
    ///
    /// Cannot fail for a frame produced by [`decode`] (the canonical form is
    /// never longer than any accepted spelling), only for one that holds
    /// nothing.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<usize, WireError> {
        let mut enc = Encoder::begin(out, self.command());
        for a in self.args() {
            enc.arg(a);
        }
        enc.finish()
    }

    fn clear(&mut self) {
        self.text.clear();
        self.spans.clear();
    }
}

impl PartialEq for Frame {
    fn eq(&self, other: &Self) -> bool {
        self.command() == other.command() && self.args().eq(other.args())
    }
}

impl Eq for Frame {}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Args<'a>(&'a Frame);
        impl fmt::Debug for Args<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_list().entries(self.0.args()).finish()
            }
        }
        f.debug_struct("Frame")
            .field("command", &self.command())
            .field("args", &Args(self))
            .finish()
    }
}

/// Parses a decimal `u64`: digits only (no sign, no whitespace); `None` on
/// overflow or an empty string. Leading zeros are accepted.
#[inline(always)]
pub fn parse_u64(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if (4..=8).contains(&b.len()) {
        return parse_u64_word(b);
    }
    if b.is_empty() || b.len() > 19 {
        return parse_u64_long(b);
    }
    // 19 digits cannot overflow: no checked arithmetic.
    let mut v: u64 = 0;
    for &c in b {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v * 10 + u64::from(d);
    }
    Some(v)
}

/// [`parse_u64`] of 4 to 8 bytes, in one 64-bit word instead of a loop:
/// the digits are checked all at once and combined in three
/// multiplications. (Shorter strings take the loop, which is as cheap for
/// them.)
#[inline(always)]
fn parse_u64_word(b: &[u8]) -> Option<u64> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let n = b.len();
    debug_assert!((4..=8).contains(&n));
    let (Some(head), Some(tail)) = (b.first_chunk::<4>(), b.last_chunk::<4>()) else {
        return None;
    };
    // Byte `i` of `v` is `b[i]`: two 4-byte loads, which overlap unless `n`
    // is 8 and agree where they do.
    let v = u64::from(u32::from_le_bytes(*head))
        | u64::from(u32::from_le_bytes(*tail)) << (8 * (n - 4));
    // Each byte's digit value, moved up so that the first digit is in byte
    // `8 - n`; the bytes shifted in below it are zeros, that is, leading
    // zero digits. The bytes past `n` (and anything a borrow carried into
    // them) are shifted out.
    let d = v.wrapping_sub(ONES * u64::from(b'0')) << (8 * (8 - n));
    // A byte is a digit iff its value is at most 9: then adding 0x76 sets
    // no high bit and carries nothing. The lowest byte that is not a digit
    // sets a high bit in one of the two terms (a borrow or carry from it
    // can only spoil the bytes above it).
    if any_non_digit(d) {
        return None;
    }
    // Byte 0 holds the most significant digit. Pairs, then fours, then all
    // eight: each step multiplies the lower (more significant) field by the
    // base, adds the upper, and keeps every other field.
    let d = (d.wrapping_mul((10 << 8) + 1) >> 8) & 0x00ff_00ff_00ff_00ff;
    let d = (d.wrapping_mul((100 << 16) + 1) >> 16) & 0x0000_ffff_0000_ffff;
    Some(d.wrapping_mul((10_000 << 32) + 1) >> 32)
}

/// Whether any byte of `d` (each a byte of the text minus `'0'`) is not a
/// digit's value, by the high bits of `d` and `d + 0x76` per byte.
#[inline(always)]
fn any_non_digit(d: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    (d | d.wrapping_add(ONES * 0x76)) & (ONES * 0x80) != 0
}

/// [`parse_u64`] for strings that might overflow (or are empty).
#[inline(never)]
fn parse_u64_long(b: &[u8]) -> Option<u64> {
    if b.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    for &c in b {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(d))?;
    }
    Some(v)
}

/// Parses a decimal `i64`: an optional `-` then digits (no `+`, no
/// whitespace); `None` on overflow.
pub fn parse_i64(s: &str) -> Option<i64> {
    match s.strip_prefix('-') {
        Some(digits) => {
            let m = parse_u64(digits)?;
            // i64::MIN's magnitude is one more than i64::MAX.
            if m <= i64::MAX as u64 + 1 {
                Some((m as i64).wrapping_neg())
            } else {
                None
            }
        }
        None => i64::try_from(parse_u64(s)?).ok(),
    }
}

/// Appends the bytes spelled by hex string `s` (either case, even length) to
/// `out`. On failure returns `false` and leaves `out` as it was.
pub fn parse_hex(s: &str, out: &mut Vec<u8>) -> bool {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) {
        return false;
    }
    let start = out.len();
    out.reserve(b.len() / 2);
    for pair in b.chunks_exact(2) {
        match (nibble(pair[0]), nibble(pair[1])) {
            (Some(hi), Some(lo)) => out.push(hi << 4 | lo),
            _ => {
                out.truncate(start);
                return false;
            }
        }
    }
    true
}
