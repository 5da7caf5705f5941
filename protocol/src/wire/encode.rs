//! Streaming encoder. Errors are sticky: the first one is remembered, later
//! calls do nothing, and [`Encoder::finish`] (or dropping the encoder)
//! removes the partial frame, so callers can chain `arg` calls and check
//! once.

use super::scan;
use super::scan::BLOCK;
use super::{WireError, WireErrorKind, MAX_ARGS, MAX_FRAME};

/// Every byte's two lowercase hex digits.
static HEX_PAIRS: [u8; 512] = {
    let digits = b"0123456789abcdef";
    let mut t = [0u8; 512];
    let mut i = 0;
    while i < 256 {
        t[2 * i] = digits[i >> 4];
        t[2 * i + 1] = digits[i & 0xf];
        i += 1;
    }
    t
};

/// Writes one frame into a caller's buffer; see the module docs.
#[must_use = "a frame is only complete once finish() has returned Ok"]
pub struct Encoder<'a> {
    out: &'a mut Vec<u8>,
    start: usize,
    args: usize,
    error: Option<WireError>,
    finished: bool,
}

/// Checks a command against the grammar; the error's offset is relative to
/// the frame's `<`, as the decoder would report it.
fn check_command(cmd: &[u8]) -> Result<(), WireError> {
    let bad = match cmd.first() {
        None => Some(0),
        Some(c) if !c.is_ascii_uppercase() => Some(0),
        Some(_) => cmd
            .iter()
            .position(|&b| !(b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'))
            .or((cmd.len() > 16).then_some(16)),
    };
    match bad {
        None => Ok(()),
        Some(i) => {
            let kind = match cmd.get(i) {
                Some(&b) if b < 0x20 || b == 0x7f => WireErrorKind::ControlByte,
                _ => WireErrorKind::BadCommand,
            };
            Err(WireError::new(kind, 1 + i))
        }
    }
}

impl<'a> Encoder<'a> {
    /// Starts a frame at the end of `out`. An invalid command is reported by
    /// [`finish`](Self::finish).
    pub fn begin(out: &'a mut Vec<u8>, command: &str) -> Self {
        let start = out.len();
        let error = check_command(command.as_bytes()).err();
        if error.is_none() {
            out.push(b'<');
            out.extend_from_slice(command.as_bytes());
        }
        Encoder {
            out,
            start,
            args: 0,
            error,
            finished: false,
        }
    }

    fn fail(&mut self, kind: WireErrorKind, offset: usize) {
        self.error = Some(WireError::new(kind, offset));
    }

    /// Writes the `,` for a new argument of at least `min_len` encoded bytes,
    /// unless that is already known to fail.
    fn open_arg(&mut self, min_len: usize) -> bool {
        if self.error.is_some() {
            return false;
        }
        let cur = self.out.len() - self.start;
        if self.args == MAX_ARGS {
            self.fail(WireErrorKind::TooManyArgs, cur);
            return false;
        }
        // Room is needed for the `,`, the argument and the closing `>`.
        if cur + 1 + min_len + 1 > MAX_FRAME {
            self.fail(WireErrorKind::TooLong, MAX_FRAME);
            return false;
        }
        self.args += 1;
        self.out.push(b',');
        true
    }

    /// Escapes may have grown the argument past the room for the `>`.
    fn check_len(&mut self) {
        if self.error.is_none() && self.out.len() - self.start + 1 > MAX_FRAME {
            self.fail(WireErrorKind::TooLong, MAX_FRAME);
        }
    }

    /// Appends a text argument, escaping `, > < \`, and a leading space
    /// (which the decoder would otherwise skip). Control bytes are an error.
    pub fn arg(&mut self, s: &str) -> &mut Self {
        let b = s.as_bytes();
        if self.short_plain(b) {
            return self;
        }
        if !self.open_arg(b.len()) {
            return self;
        }
        // A leading space needs an escape too (the decoder would skip it).
        let mut p = if b.first() == Some(&b' ') {
            0
        } else {
            scan::find_special(b, 0)
        };
        if p == b.len() {
            self.out.extend_from_slice(b);
        } else {
            let mut run = 0;
            while p < b.len() {
                let c = b[p];
                self.out.extend_from_slice(&b[run..p]);
                if c < 0x20 || c == 0x7f {
                    let at = self.out.len() - self.start;
                    self.fail(WireErrorKind::ControlByte, at);
                    return self;
                }
                self.out.extend_from_slice(&[b'\\', c]);
                run = p + 1;
                p = scan::find_special(b, run);
            }
            self.out.extend_from_slice(&b[run..]);
        }
        self.check_len();
        self
    }

    /// [`Encoder::arg`] for an argument of 1 to 16 bytes that needs no
    /// escape, which is nearly every one (names, numbers, short texts):
    /// tested as one block, as the decoder's scan does, and copied with
    /// two fixed-size moves. The general path tested it a byte at a time
    /// and copied it with a call to `memcpy` (about 90 instructions an
    /// argument, a few dozen arguments a room message). False, with
    /// nothing written, for anything else.
    #[inline]
    fn short_plain(&mut self, b: &[u8]) -> bool {
        let n = b.len();
        if !(1..=BLOCK).contains(&n)
            || self.error.is_some()
            || self.args == MAX_ARGS
            || self.out.len() - self.start + 1 + n + 1 > MAX_FRAME
        {
            return false;
        }
        // The block holds every byte of `b` (some twice) and otherwise
        // plain filler: its first and last eight bytes, overlapping below
        // sixteen; its first and last four below eight; below four the
        // first, middle and last.
        let mut block = [b'a'; BLOCK];
        let (head, tail): ([u8; 8], [u8; 8]);
        if n >= 8 {
            head = b[..8].try_into().expect("8 bytes");
            tail = b[n - 8..].try_into().expect("8 bytes");
            block[..8].copy_from_slice(&head);
            block[8..].copy_from_slice(&tail);
        } else if n >= 4 {
            block[..4].copy_from_slice(&b[..4]);
            block[4..8].copy_from_slice(&b[n - 4..]);
            (head, tail) = (block[..8].try_into().expect("8 bytes"), [0; 8]);
        } else {
            (block[0], block[1], block[2]) = (b[0], b[n / 2], b[n - 1]);
            (head, tail) = ([0; 8], [0; 8]);
        }
        // A leading space would be skipped by the decoder: escaped, by
        // the general path.
        if scan::masks(&block).0 != 0 || b[0] == b' ' {
            return false;
        }
        self.args += 1;
        let len = self.out.len();
        self.out.reserve(1 + n);
        let dst = &mut self.out.spare_capacity_mut()[..1 + n];
        dst[0].write(b',');
        let dst = dst[1..].as_mut_ptr().cast::<u8>();
        // SAFETY: `dst` is `n` bytes of the vector's reserved capacity
        // (just above), none of which `b` can overlap (`b` is borrowed
        // while the vector is borrowed mutably). Each write lies within
        // them: eight bytes at 0 and at `n - 8` for `n >= 8`, four at 0
        // and at `n - 4` for `n >= 4`, else bytes 0, `n / 2` and `n - 1`;
        // together they cover all `n`, each with the byte of `b` at that
        // place. `set_len` then counts the comma and the `n` bytes, all
        // written.
        unsafe {
            if n >= 8 {
                dst.cast::<[u8; 8]>().write_unaligned(head);
                dst.add(n - 8).cast::<[u8; 8]>().write_unaligned(tail);
            } else if n >= 4 {
                let (a, z): ([u8; 4], [u8; 4]) = (
                    head[..4].try_into().expect("4 bytes"),
                    head[4..].try_into().expect("4 bytes"),
                );
                dst.cast::<[u8; 4]>().write_unaligned(a);
                dst.add(n - 4).cast::<[u8; 4]>().write_unaligned(z);
            } else {
                dst.write(b[0]);
                dst.add(n / 2).write(b[n / 2]);
                dst.add(n - 1).write(b[n - 1]);
            }
            self.out.set_len(len + 1 + n);
        }
        true
    }

    /// Appends an unsigned decimal argument.
    pub fn arg_u64(&mut self, v: u64) -> &mut Self {
        if self.open_arg(1) {
            push_u64(self.out, v);
            self.check_len();
        }
        self
    }

    /// Appends a signed decimal argument (`-` for negatives, no `+`).
    pub fn arg_i64(&mut self, v: i64) -> &mut Self {
        if self.open_arg(1) {
            if v < 0 {
                self.out.push(b'-');
            }
            push_u64(self.out, v.unsigned_abs());
            self.check_len();
        }
        self
    }

    /// Appends `bytes` as a lowercase hex argument.
    pub fn arg_hex(&mut self, bytes: &[u8]) -> &mut Self {
        if self.open_arg(bytes.len() * 2) {
            let at = self.out.len();
            self.out.resize(at + bytes.len() * 2, 0);
            for (pair, &b) in self.out[at..].chunks_exact_mut(2).zip(bytes) {
                let i = 2 * b as usize;
                pair.copy_from_slice(&HEX_PAIRS[i..i + 2]);
            }
            self.check_len();
        }
        self
    }

    /// Closes the frame and returns its length. On error nothing of the
    /// frame is left in the buffer.
    pub fn finish(mut self) -> Result<usize, WireError> {
        if let Some(e) = self.error {
            return Err(e); // `drop` truncates
        }
        self.out.push(b'>');
        let len = self.out.len() - self.start;
        if len > MAX_FRAME {
            return Err(WireError::new(WireErrorKind::TooLong, MAX_FRAME));
        }
        self.finished = true;
        Ok(len)
    }
}

/// An encoder dropped without a successful `finish` takes its partial frame
/// with it, so a `?` between `begin` and `finish` cannot leave half a frame
/// in the caller's buffer.
impl Drop for Encoder<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.out.truncate(self.start);
        }
    }
}

/// "00" to "99", so numbers are written two digits per division.
static DIGIT_PAIRS: [u8; 200] = {
    let mut t = [0u8; 200];
    let mut i = 0;
    while i < 100 {
        t[2 * i] = b'0' + (i / 10) as u8;
        t[2 * i + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    t
};

fn push_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(Dec::new(v).as_bytes());
}

/// A number's decimal digits, on the stack: an argument for a frame
/// without `to_string`'s formatting machinery and allocation (about 100
/// instructions a number, several numbers on every user and room message
/// a server passes on). Reads as the `&str` of its digits.
pub(crate) struct Dec {
    buf: [u8; 20],
    /// Where the digits start in `buf`; they run to its end.
    at: u8,
}

impl Dec {
    #[inline]
    pub(crate) fn new(mut v: u64) -> Dec {
        let mut buf = [0u8; 20];
        let mut i = buf.len();
        while v >= 100 {
            let d = (v % 100) as usize * 2;
            v /= 100;
            i -= 2;
            buf[i..i + 2].copy_from_slice(&DIGIT_PAIRS[d..d + 2]);
        }
        if v >= 10 {
            let d = v as usize * 2;
            i -= 2;
            buf[i..i + 2].copy_from_slice(&DIGIT_PAIRS[d..d + 2]);
        } else {
            i -= 1;
            buf[i] = b'0' + v as u8;
        }
        Dec { buf, at: i as u8 }
    }

    #[inline]
    fn as_bytes(&self) -> &[u8] {
        &self.buf[self.at as usize..]
    }
}

impl std::ops::Deref for Dec {
    type Target = str;

    #[inline]
    fn deref(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).expect("ASCII digits")
    }
}

/// Appends one whole frame to `out`; returns its length.
pub fn encode(out: &mut Vec<u8>, command: &str, args: &[&str]) -> Result<usize, WireError> {
    let mut enc = Encoder::begin(out, command);
    for a in args {
        enc.arg(a);
    }
    enc.finish()
}
