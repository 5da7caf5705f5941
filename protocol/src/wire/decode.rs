//! Single-pass decoder. Runs of ordinary ASCII are found eight bytes at a
//! time and copied in one go; only the bytes that end a run are looked at
//! one by one. Non-ASCII text takes a slower path through `std`'s UTF-8
//! validation.

use super::scan;
use super::{Frame, WireError, WireErrorKind, MAX_ARGS, MAX_FRAME};

/// Appends a run the scanner has proven to be ASCII.
#[inline]
fn push_ascii(text: &mut String, run: &[u8]) {
    debug_assert!(run.is_ascii());
    // SAFETY: every byte of `run` is below 0x80: runs end at the first byte
    // `scan::find::<true>` stops at, which includes every byte >= 0x80, and
    // command bytes are checked to be in `[A-Z0-9_]`. ASCII bytes are
    // complete UTF-8 characters, so `text` stays valid UTF-8. (Going
    // through `str::from_utf8` here cost more than the rest of decoding.)
    unsafe { text.as_mut_vec() }.extend_from_slice(run);
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\r' | b'\n')
}

fn is_control(b: u8) -> bool {
    b < 0x20 || b == 0x7f
}

fn err(kind: WireErrorKind, offset: usize) -> WireError {
    WireError::new(kind, offset)
}

/// Decodes one frame from the start of `input`, after skipping whitespace.
///
/// Returns the number of bytes consumed, whitespace included. On error
/// `frame` is left empty. See the module docs for when the error is
/// [`WireErrorKind::Incomplete`] (wait for more input) rather than fatal.
pub fn decode(input: &[u8], frame: &mut Frame) -> Result<usize, WireError> {
    frame.clear();
    let r = decode_into(input, frame);
    if r.is_err() {
        frame.clear();
    }
    r
}

/// Decodes a buffer that must hold exactly one frame, optionally surrounded
/// by whitespace.
pub fn decode_exact(input: &[u8], frame: &mut Frame) -> Result<(), WireError> {
    let n = decode(input, frame)?;
    match input[n..].iter().position(|&b| !is_ws(b)) {
        None => Ok(()),
        Some(j) => {
            frame.clear();
            Err(err(WireErrorKind::Garbage, n + j))
        }
    }
}

fn decode_into(input: &[u8], frame: &mut Frame) -> Result<usize, WireError> {
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

    // Command. At most 17 bytes are looked at, far below `limit`'s bound,
    // so only the end of the input can stop it.
    let cmd_start = s + 1;
    let mut p = cmd_start;
    let end_byte = loop {
        let &b = input.get(p).ok_or_else(need_more)?;
        let n = p - cmd_start;
        match b {
            b',' | b'>' => {
                if n == 0 {
                    return Err(err(WireErrorKind::BadCommand, p));
                }
                break b;
            }
            b'<' => return Err(err(WireErrorKind::UnexpectedOpen, p)),
            _ if is_control(b) => return Err(err(WireErrorKind::ControlByte, p)),
            b'A'..=b'Z' if n < 16 => {}
            b'0'..=b'9' | b'_' if n > 0 && n < 16 => {}
            _ => return Err(err(WireErrorKind::BadCommand, p)),
        }
        p += 1;
    };
    push_ascii(&mut frame.text, &input[cmd_start..p]);
    frame.ends.push(frame.text.len() as u32);
    if end_byte == b'>' {
        return Ok(p + 1);
    }

    // Arguments; `p` is at the `,` that opens the next one.
    let mut nargs = 0;
    loop {
        if nargs == MAX_ARGS {
            return Err(err(WireErrorKind::TooManyArgs, p));
        }
        nargs += 1;
        p += 1;
        match window.get(p) {
            None => return Err(need_more()),
            Some(b' ') => p += 1,
            Some(_) => {}
        }
        loop {
            let run_start = p;
            p = scan::find::<true>(window, p);
            if p > run_start {
                push_ascii(&mut frame.text, &input[run_start..p]);
            }
            let Some(&b) = window.get(p) else {
                return Err(need_more());
            };
            match b {
                b',' => break,
                b'>' => {
                    frame.ends.push(frame.text.len() as u32);
                    return Ok(p + 1);
                }
                b'\\' => {
                    let Some(&c) = window.get(p + 1) else {
                        return Err(need_more());
                    };
                    if !matches!(c, b',' | b'>' | b'<' | b'\\' | b' ') {
                        return Err(err(WireErrorKind::BadEscape, p));
                    }
                    frame.text.push(c as char);
                    p += 2;
                }
                b'<' => return Err(err(WireErrorKind::UnexpectedOpen, p)),
                0x80.. => {
                    // Validate up to the next delimiter in one call: `std`
                    // is fast on long runs and slow per call.
                    let run_start = p;
                    p = scan::find::<false>(window, p);
                    match std::str::from_utf8(&input[run_start..p]) {
                        Ok(t) => frame.text.push_str(t),
                        // A sequence cut off by `limit` may yet be completed.
                        Err(e) if e.error_len().is_none() && p == limit => return Err(need_more()),
                        Err(e) => {
                            return Err(err(WireErrorKind::BadUtf8, run_start + e.valid_up_to()))
                        }
                    }
                }
                _ => return Err(err(WireErrorKind::ControlByte, p)),
            }
        }
        frame.ends.push(frame.text.len() as u32);
    }
}
