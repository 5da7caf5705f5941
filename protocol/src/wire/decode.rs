//! Single-pass decoder.
//!
//! The body of a frame is classified sixteen bytes at a time and only the
//! special bytes in it are visited, by walking the bits of the block's mask.
//! The text is not copied run by run: the frame's bytes are copied in as few
//! pieces as possible (one, unless there are escapes, whose backslashes have
//! to go) and the command and arguments are spans of that copy. The commas
//! and skipped spaces between them stay in the buffer, unused; that is
//! cheaper than cutting them out, and it is why [`Frame`] stores a start and
//! an end for every span.

use super::scan::{self, BLOCK};
use super::{Frame, WireError, WireErrorKind, MAX_ARGS, MAX_FRAME};

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\r' | b'\n')
}

fn err(kind: WireErrorKind, offset: usize) -> WireError {
    WireError::new(kind, offset)
}

const MAX_COMMAND: usize = 16;

/// `[A-Z0-9_]`: the bytes of a command after the first.
static COMMAND_BYTE: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_';
        b += 1;
    }
    t
};

/// The error for byte `b` at `at`, where a command byte (or its end) was
/// expected.
fn not_command(b: u8, at: usize) -> WireError {
    match b {
        b'<' => err(WireErrorKind::UnexpectedOpen, at),
        0..=0x1f | 0x7f => err(WireErrorKind::ControlByte, at),
        _ => err(WireErrorKind::BadCommand, at),
    }
}

/// Decodes one frame from the start of `input`, after skipping whitespace.
///
/// Returns the number of bytes consumed, whitespace included. On error
/// `frame` is left empty. See the module docs for when the error is
/// [`WireErrorKind::Incomplete`] (wait for more input) rather than fatal.
pub fn decode(input: &[u8], frame: &mut Frame) -> Result<usize, WireError> {
    match decode_plain(input, frame) {
        Some(n) => Ok(n),
        None => decode_general(input, frame),
    }
}

/// The fast path, for the frames a healthy peer sends nearly all the time:
/// the frame starts at `input[0]`, ends within the input, and is ASCII
/// without escapes, control bytes or a stray `<`. One pass finds the commas
/// and the `>`, and the text is copied once. Anything else, valid or not,
/// returns `None` and is left to [`decode_general`], which decides it from
/// scratch (so this path only has to be right when it succeeds).
///
/// Frames longer than a 32-byte block are scanned with AVX2 where the CPU
/// has it: half the blocks of SSE2, and no register copies. The result is
/// the same either way (the tests run both).
#[inline]
pub(super) fn decode_plain(input: &[u8], frame: &mut Frame) -> Option<usize> {
    let window = &input[..input.len().min(MAX_FRAME)];
    if window.first() != Some(&b'<') {
        return None;
    }
    #[cfg(target_arch = "x86_64")]
    if window.len() > 32 && std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { decode_plain_32(window, frame) };
    }
    decode_plain_16(window, frame)
}

/// The fast path's loop, for blocks of `$width` bytes classified by
/// `$classify`. A macro rather than a generic function so that the AVX2
/// instance is compiled, inlining included, entirely inside a function
/// with AVX2 enabled. `$window` starts with `<` and holds at most
/// `MAX_FRAME` bytes; `$short` classifies a tail shorter than a block.
macro_rules! plain_scan {
    ($window:expr, $frame:expr, $width:expr, $classify:path, $short:expr) => {{
        let window: &[u8] = $window;
        let frame: &mut Frame = $frame;
        let n = window.len();
        // Spans are written by index into the frame's vector opened up to a
        // fixed size (no capacity check or length update per push), and
        // cut to length at the end. A failed frame leaves it for the
        // general path, which starts by clearing it.
        let spans = &mut frame.spans;
        spans.clear();
        spans.resize(PLAIN_SPANS, 0);
        let spans = &mut spans[..PLAIN_SPANS];
        let mut k = 1;
        let mut q = 1;
        let found = loop {
            let m =
                if let Some(Ok(block)) = window.get(q..q + $width).map(<&[u8; $width]>::try_from) {
                    $classify(block)
                } else if let (true, Ok(last)) = (
                    q < n,
                    <&[u8; $width]>::try_from(&window[n.saturating_sub($width)..]),
                ) {
                    // Re-read the last full block and shift off what was seen.
                    $classify(last).shifted(q - (n - $width))
                } else if q < n {
                    $short(&window[q..])
                } else {
                    break None;
                };
            // Lanes before the first `>`.
            let live = (m.close & m.close.wrapping_neg()).wrapping_sub(1);
            if m.other & live != 0 {
                break None;
            }
            let mut commas = m.comma & live;
            while commas != 0 && k + 2 < PLAIN_SPANS {
                let r = q + commas.trailing_zeros() as usize;
                commas &= commas - 1;
                // Offsets into the text, which starts after the `<`.
                let skip = u32::from(window.get(r + 1) == Some(&b' '));
                spans[k] = r as u32 - 1;
                spans[k + 1] = r as u32 + skip;
                k += 2;
            }
            if commas != 0 {
                break None; // more arguments than the fast path keeps
            }
            if m.close != 0 {
                let r = q + m.close.trailing_zeros() as usize;
                spans[k] = r as u32 - 1;
                k += 1;
                break Some(r);
            }
            q += $width;
        };
        match found {
            Some(r) if is_command(&window[1..spans[1] as usize + 1]) => {
                frame.spans.truncate(k);
                let text = &window[1..r];
                debug_assert!(text.is_ascii());
                frame.text.clear();
                // SAFETY: every byte of `text` lies before the first `>` and
                // was seen by the scan with its high bit clear (`other`
                // covers bytes >= 0x80), so `text` is ASCII, which is valid
                // UTF-8. (Checking again would cost a fifth of the decode.)
                frame
                    .text
                    .push_str(unsafe { std::str::from_utf8_unchecked(text) });
                Some(r + 1)
            }
            _ => None,
        }
    }};
}

/// Spans the fast path keeps: the command and up to 15 arguments, far more
/// than any frame sent per message. Frames with more (long SERVER paths)
/// take the general path.
const PLAIN_SPANS: usize = 32;

/// `[A-Z][A-Z0-9_]{0,15}`.
#[inline(always)]
fn is_command(cmd: &[u8]) -> bool {
    matches!(cmd.first(), Some(b) if b.is_ascii_uppercase())
        && cmd.len() <= MAX_COMMAND
        && cmd.iter().all(|&b| COMMAND_BYTE[b as usize])
}

/// The fast path with 16-byte blocks (SSE2, or the portable classifier).
#[inline(never)]
pub(super) fn decode_plain_16(window: &[u8], frame: &mut Frame) -> Option<usize> {
    plain_scan!(window, frame, BLOCK, scan::plain, scan::plain_short)
}

/// The fast path with 32-byte blocks.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
pub(super) fn decode_plain_32(window: &[u8], frame: &mut Frame) -> Option<usize> {
    plain_scan!(window, frame, 32, scan::plain32, scan::plain32_short)
}

/// The general decoder: any input, every error. Also the reference the
/// fast path is tested against. Out of line so that `decode` stays a small
/// function with a cheap entry for the fast path.
#[inline(never)]
pub(super) fn decode_general(input: &[u8], frame: &mut Frame) -> Result<usize, WireError> {
    // The text is built as bytes and turned back into a `String` at the end;
    // `take` and `into_bytes` move the buffer, they do not allocate.
    let mut text = std::mem::take(&mut frame.text).into_bytes();
    text.clear();
    frame.spans.clear();
    let error = match parse(input, &mut text, &mut frame.spans) {
        Ok(Parsed {
            end, ascii: true, ..
        }) => {
            debug_assert!(text.is_ascii());
            // SAFETY: every byte in `text` was copied from a lane that the
            // block scan saw with its high bit clear (`ascii`), or is a
            // command byte checked to be in `[A-Z0-9_]`. ASCII is valid
            // UTF-8. (Validating here would cost as much as decoding.)
            frame.text = unsafe { String::from_utf8_unchecked(text) };
            return Ok(end);
        }
        Ok(Parsed { end, start, .. }) => match String::from_utf8(text) {
            Ok(t) => {
                frame.text = t;
                return Ok(end);
            }
            Err(e) => {
                text = e.into_bytes();
                // The text is the frame minus ASCII bytes that never sit
                // inside a character, so the frame itself is invalid at the
                // corresponding place.
                let at = std::str::from_utf8(&input[start..end])
                    .err()
                    .map_or(start, |u| start + u.valid_up_to());
                err(WireErrorKind::BadUtf8, at)
            }
        },
        Err(e) => e,
    };
    text.clear();
    frame.spans.clear();
    frame.text = String::from_utf8(text).unwrap_or_default();
    Err(error)
}

/// Decodes a buffer that must hold exactly one frame, optionally surrounded
/// by whitespace.
pub fn decode_exact(input: &[u8], frame: &mut Frame) -> Result<(), WireError> {
    if decode_plain(input, frame) == Some(input.len()) {
        return Ok(());
    }
    decode_exact_general(input, frame)
}

/// The `N` arguments of `input` if it is exactly one plain frame with
/// command `command` and `N > 0` arguments, borrowed from the input: `<`
/// first and `>` last, and between them ASCII with no escape, control
/// byte, `<` or other `>`, which is what a healthy peer sends. Nothing is
/// copied and no [`Frame`] is filled, which is the point: a server reads
/// the message every hop of a flood carries this way. `None` for anything
/// else, valid or not; for every frame it accepts, [`decode_exact`] gives
/// the same arguments (the tests hold it to that), and it decides the rest.
#[inline]
pub fn plain_args<'a, const N: usize>(input: &'a [u8], command: &str) -> Option<[&'a str; N]> {
    plain_args_in(input, command).map(|(args, _)| args)
}

/// [`plain_args`], with the text the arguments were read from: everything
/// between the command's comma and the closing `>`, so that a caller can
/// take several adjacent arguments as one slice.
#[inline]
pub fn plain_args_in<'a, const N: usize>(
    input: &'a [u8],
    command: &str,
) -> Option<([&'a str; N], &'a str)> {
    debug_assert!(N > 0 && is_command(command.as_bytes()));
    let (c, n) = (command.len(), input.len());
    if n > MAX_FRAME || n < c + 3 || input[n - 1] != b'>' || !opens_with(input, command) {
        return None;
    }
    // The arguments and the commas between them.
    let rest = &input[c + 2..n - 1];
    let ends = plain_commas::<N>(rest)?;
    debug_assert!(rest.is_ascii());
    // SAFETY (here and for each argument): `plain_commas` saw every byte of
    // `rest` with its high bit clear (`other` covers bytes >= 0x80), so it
    // is ASCII, which is UTF-8. (A check would cost as much as the scan.)
    let text = |b: &'a [u8]| unsafe { std::str::from_utf8_unchecked(b) };
    let mut args = [""; N];
    let mut start = 0;
    for (arg, &end) in args.iter_mut().zip(&ends) {
        debug_assert!(
            start <= end && end <= rest.len(),
            "{start}..{end} of {}",
            rest.len()
        );
        // SAFETY: every way `plain_commas` finds the ends gives the commas'
        // positions in increasing order, each below the length, then the
        // length itself: `start` (0, or just past the comma before) is at
        // most `end`, and `end` at most the length. The checks were two
        // compares and a subtraction an argument, 16 arguments a room
        // delivery (about 2 % of its instructions at 16/16/16).
        let mut bytes = unsafe { rest.get_unchecked(start..end) };
        // One optional space after each comma is not part of the argument.
        if let [b' ', after @ ..] = bytes {
            bytes = after;
        }
        *arg = text(bytes);
        start = end + 1;
    }
    Some((args, text(rest)))
}

/// Whether `input` starts with `<`, `command` and a comma.
#[inline(always)]
fn opens_with(input: &[u8], command: &str) -> bool {
    let c = command.len();
    if let (true, Some(head)) = (c + 2 <= 8, input.first_chunk::<8>()) {
        // One compare of the first 8 bytes, masked to the `c + 2` that
        // matter. The word expected is a constant once `plain_args` is
        // inlined with a literal command.
        let want = command.bytes().enumerate().fold(
            u64::from(b'<') | u64::from(b',') << (8 * (c + 1)),
            |w, (i, b)| w | u64::from(b) << (8 * (i + 1)),
        );
        let mask = u64::MAX >> (64 - 8 * (c + 2));
        return (u64::from_le_bytes(*head) ^ want) & mask == 0;
    }
    input.first() == Some(&b'<')
        && input.get(1..=c) == Some(command.as_bytes())
        && input.get(c + 1) == Some(&b',')
}

/// Where each of the `N` arguments in `rest` ends (at a comma, the last at
/// the end), if `rest` holds exactly `N - 1` commas and nothing else
/// special: no `>`, and nothing the fast path refuses (see [`scan::Plain`]).
/// The ends increase, the first `N - 1` below `rest.len()` and the last
/// equal to it, whichever path finds them: [`plain_args_in`] slices by
/// them unchecked.
///
/// With AVX2, an area of 32 bytes or more: for up to four arguments (a
/// BCAST: origin, id, text), one whose commas all lie in its first 32
/// bytes is settled by one call to [`scan::commas_head32`], which returns
/// the commas as a bit mask; for more (a room message has eight, spread
/// over 40 to 80 bytes) [`scan::plain_commas32`] goes through it 32 bytes a
/// block. Any other area, and everything on other CPUs, goes through
/// [`plain_commas_16`] (so an area the head scan does not settle is
/// scanned twice). The choice by `N` is made when compiling; each path
/// finds the same ends (the wire tests compare them).
#[inline(always)]
pub(super) fn plain_commas<const N: usize>(rest: &[u8]) -> Option<[usize; N]> {
    #[cfg(target_arch = "x86_64")]
    if rest.len() >= 32 && std::is_x86_feature_detected!("avx2") {
        if N > 4 {
            // SAFETY: the CPU has AVX2, checked just above.
            return unsafe { scan::plain_commas32(rest) };
        }
        // SAFETY: as above.
        if let Some(commas) = unsafe { scan::commas_head32(rest) } {
            return ends_from_mask(commas, rest.len());
        }
    }
    plain_commas_16(rest)
}

/// The argument ends for an area of `len` bytes whose commas are the set
/// bits of `commas`, if there are exactly `N - 1`.
#[inline(always)]
fn ends_from_mask<const N: usize>(mut commas: u32, len: usize) -> Option<[usize; N]> {
    let mut ends = [len; N];
    for end in &mut ends[..N - 1] {
        if commas == 0 {
            return None;
        }
        *end = commas.trailing_zeros() as usize;
        commas &= commas - 1;
    }
    (commas == 0).then_some(ends)
}

/// [`plain_commas`] with 16-byte blocks (SSE2, or the portable classifier),
/// for any area.
pub(super) fn plain_commas_16<const N: usize>(rest: &[u8]) -> Option<[usize; N]> {
    let len = rest.len();
    let mut ends = [len; N];
    let mut k = 0;
    let mut q = 0;
    while q < len {
        let m = if let Some(Ok(block)) = rest.get(q..q + BLOCK).map(<&[u8; BLOCK]>::try_from) {
            scan::plain(block)
        } else if let Ok(last) = <&[u8; BLOCK]>::try_from(&rest[len.saturating_sub(BLOCK)..]) {
            // Re-read the last full block and shift off what was seen.
            scan::plain(last).shifted(q - (len - BLOCK))
        } else {
            scan::plain_short(&rest[q..])
        };
        if m.other | m.close != 0 {
            return None;
        }
        let mut commas = m.comma;
        while commas != 0 {
            if k + 1 >= N {
                return None; // more than `N` arguments
            }
            ends[k] = q + commas.trailing_zeros() as usize;
            commas &= commas - 1;
            k += 1;
        }
        q += BLOCK;
    }
    (k + 1 == N).then_some(ends)
}

/// [`decode_exact`] for everything the fast path did not settle alone.
#[inline(never)]
fn decode_exact_general(input: &[u8], frame: &mut Frame) -> Result<(), WireError> {
    let n = decode(input, frame)?;
    match input[n..].iter().position(|&b| !is_ws(b)) {
        None => Ok(()),
        Some(j) => {
            frame.clear();
            Err(err(WireErrorKind::Garbage, n + j))
        }
    }
}

struct Parsed {
    /// Offset of the `<`.
    start: usize,
    /// Offset just past the `>`.
    end: usize,
    /// The frame has no byte >= 0x80.
    ascii: bool,
}

/// Fills `text` with the frame's bytes, minus the backslashes of escapes,
/// and `spans` with `[start, end)` pairs into it: the command's, then one per
/// argument. UTF-8 is checked only on the error paths here; on success the
/// caller checks it if `ascii` is false.
fn parse(input: &[u8], text: &mut Vec<u8>, spans: &mut Vec<u32>) -> Result<Parsed, WireError> {
    let len = input.len();

    let mut s = 0;
    loop {
        match input.get(s) {
            None => return Err(err(WireErrorKind::Incomplete, len)),
            Some(b'<') => break,
            Some(&b) if is_ws(b) => {
                if s == MAX_FRAME {
                    return Err(err(WireErrorKind::TooLong, s));
                }
                s += 1;
            }
            Some(_) => return Err(err(WireErrorKind::Garbage, s)),
        }
    }

    // Everything up to the closing `>` must lie below `limit`; running into
    // it means "need more input", which is fatal once the frame could no
    // longer fit.
    let limit = len.min(s + MAX_FRAME);
    let window = &input[..limit];
    let need_more = || {
        if len > s + MAX_FRAME {
            err(WireErrorKind::TooLong, s + MAX_FRAME)
        } else {
            err(WireErrorKind::Incomplete, len)
        }
    };

    // The command is checked byte by byte (it is short, and its alphabet is
    // narrower than "not special").
    let cmd_start = s + 1;
    let &first = input.get(cmd_start).ok_or_else(need_more)?;
    if !first.is_ascii_uppercase() {
        return Err(not_command(first, cmd_start));
    }
    let cmd_limit = window.len().min(cmd_start + MAX_COMMAND + 1);
    let mut p = cmd_start + 1;
    while p < cmd_limit && COMMAND_BYTE[window[p] as usize] {
        p += 1;
    }
    if p - cmd_start > MAX_COMMAND {
        return Err(err(WireErrorKind::BadCommand, cmd_start + MAX_COMMAND));
    }
    match window.get(p) {
        None => return Err(need_more()),
        Some(b',' | b'>') => {}
        Some(&b) => return Err(not_command(b, p)),
    }

    // From here `text` receives `input[cmd_start..]` lazily: `copied` is how
    // far it has been copied, and input offset `r` lands at `r - base` in
    // `text` (`base` grows by one per escape, whose backslash is dropped).
    let mut copied = cmd_start;
    let mut base = cmd_start;
    spans.push(0);
    let mut nargs = 0;
    // No byte >= 0x80 seen in blocks before the current one.
    let mut ascii = true;
    // Lanes of the next block to ignore: an escaped byte that spilled over.
    let mut skip = 0u32;
    let mut q = p;
    let error = 'blocks: loop {
        if q >= limit {
            break need_more();
        }
        let (mut m, high) = scan::masks_at(window, q);
        m &= !skip;
        skip = 0;
        while m != 0 {
            let i = m.trailing_zeros() as usize;
            m &= m - 1;
            let r = q + i;
            // Whether the frame was ASCII up to here.
            let ascii_here = || ascii && high & ((1 << i) - 1) == 0;
            match window[r] {
                b',' => {
                    if nargs == MAX_ARGS {
                        ascii = ascii_here();
                        break 'blocks err(WireErrorKind::TooManyArgs, r);
                    }
                    nargs += 1;
                    spans.push((r - base) as u32);
                    let start = if window.get(r + 1) == Some(&b' ') {
                        r + 2
                    } else {
                        r + 1
                    };
                    spans.push((start - base) as u32);
                }
                b'>' => {
                    spans.push((r - base) as u32);
                    text.extend_from_slice(&input[copied..r]);
                    return Ok(Parsed {
                        start: s,
                        end: r + 1,
                        ascii: ascii_here(),
                    });
                }
                b'\\' => {
                    let Some(&c) = window.get(r + 1) else {
                        ascii = ascii_here();
                        break 'blocks need_more();
                    };
                    if !matches!(c, b',' | b'>' | b'<' | b'\\' | b' ') {
                        ascii = ascii_here();
                        break 'blocks err(WireErrorKind::BadEscape, r);
                    }
                    text.extend_from_slice(&input[copied..r]);
                    copied = r + 1;
                    base += 1;
                    // The escaped byte is data even if it is special.
                    if i + 1 < BLOCK {
                        m &= !(1 << (i + 1));
                    } else {
                        skip = 1;
                    }
                }
                b'<' => {
                    ascii = ascii_here();
                    break 'blocks err(WireErrorKind::UnexpectedOpen, r);
                }
                _ => {
                    ascii = ascii_here();
                    break 'blocks err(WireErrorKind::ControlByte, r);
                }
            }
        }
        if high != 0 {
            ascii = false;
        }
        q += BLOCK;
    };

    // An invalid UTF-8 sequence before the error is the first error.
    if !ascii {
        let incomplete = matches!(
            error.kind,
            WireErrorKind::Incomplete | WireErrorKind::TooLong
        );
        let upto = if incomplete { limit } else { error.offset };
        if let Err(u) = std::str::from_utf8(&input[s..upto]) {
            // A sequence cut off by the end of the input may yet complete;
            // one cut off by a delimiter cannot.
            if u.error_len().is_some() || !incomplete {
                return Err(err(WireErrorKind::BadUtf8, s + u.valid_up_to()));
            }
        }
    }
    Err(error)
}
