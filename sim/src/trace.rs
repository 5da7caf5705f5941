//! The event trace: a rolling hash of everything that happened, and an
//! optional JSON Lines record of it.
//!
//! The hash folds in every event's time, kind, hosts and frame bytes, so
//! two runs with equal hashes made the same decisions in the same order.

use std::io::Write;

const K: u64 = 0x9E37_79B9_7F4A_7C15;
const K2: u64 = 0xD6E8_FEB8_6659_FD93;

/// A fast, fixed, portable 64-bit rolling hash (not cryptographic: it
/// detects divergence, it does not resist forgery).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceHash(u64);

impl Default for TraceHash {
    fn default() -> Self {
        TraceHash(0x243F_6A88_85A3_08D3)
    }
}

impl TraceHash {
    #[inline]
    pub fn word(&mut self, x: u64) {
        let v = (self.0 ^ x).wrapping_mul(K);
        self.0 = v ^ (v >> 29);
    }

    /// 16 bytes in one step: one 64 × 64 → 128-bit multiply, its halves
    /// folded. Each of `x` and `y` meets the state on its own side of the
    /// product, so order and content both count; the state's rotation on
    /// `y`'s side keeps a particular `y` from zeroing the product whatever
    /// came before.
    #[inline(always)]
    fn pair(&mut self, x: u64, y: u64) {
        let m = u128::from(self.0 ^ x) * u128::from(y ^ K2 ^ self.0.rotate_left(32));
        self.0 = (m as u64) ^ ((m >> 64) as u64);
    }

    /// The whole 16-byte blocks of `b` in order, then a last whole 8-byte
    /// word if there is one, then the rest with the length. A frame costs
    /// one multiply per 16 bytes.
    #[inline]
    pub fn bytes(&mut self, b: &[u8]) {
        let mut pairs = b.chunks_exact(16);
        for p in &mut pairs {
            let (x, y) = p.split_at(8);
            self.pair(
                u64::from_le_bytes(x.try_into().expect("8 bytes")),
                u64::from_le_bytes(y.try_into().expect("8 bytes")),
            );
        }
        if let Some(&w) = pairs.remainder().first_chunk::<8>() {
            self.word(u64::from_le_bytes(w));
        }
        self.word(tail_word(b) ^ ((b.len() as u64) << 56));
    }

    pub fn value(&self) -> u64 {
        self.0
    }

    pub fn hex(&self) -> String {
        format!("{:016x}", self.0)
    }
}

/// The bytes after the last whole 8-byte word of `b`, zero-padded, as a
/// little-endian word. Called once per delivered frame: for frames of a
/// word or more it shifts the last eight bytes instead of copying the tail
/// into a padded buffer (a `memcpy` call).
#[inline]
fn tail_word(b: &[u8]) -> u64 {
    let rest = b.len() % 8;
    if rest == 0 {
        return 0;
    }
    match b.last_chunk::<8>() {
        Some(&last) => u64::from_le_bytes(last) >> (8 * (8 - rest)),
        None => b.iter().rev().fold(0, |w, &x| (w << 8) | u64::from(x)),
    }
}

/// Writes one JSON object per event. Errors are remembered, not fatal to
/// the run, and reported at the end.
pub struct TraceWriter {
    out: Box<dyn Write>,
    pub error: Option<std::io::Error>,
    line: String,
}

impl TraceWriter {
    pub fn new(out: Box<dyn Write>) -> Self {
        TraceWriter {
            out,
            error: None,
            line: String::with_capacity(256),
        }
    }

    pub fn record(&mut self, value: &serde_json::Value) {
        if self.error.is_some() {
            return;
        }
        self.line.clear();
        self.line.push_str(&value.to_string());
        self.line.push('\n');
        if let Err(e) = self.out.write_all(self.line.as_bytes()) {
            self.error = Some(e);
        }
    }

    pub fn finish(&mut self) -> std::io::Result<()> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.out.flush()
    }
}

/// An in-memory trace destination that stays readable after the run has
/// taken its writer (replay keeps both runs' traces this way).
#[derive(Clone, Default)]
pub struct SharedBuffer(std::rc::Rc<std::cell::RefCell<Vec<u8>>>);

impl SharedBuffer {
    pub fn contents(&self) -> Vec<u8> {
        self.0.borrow().clone()
    }
}

impl Write for SharedBuffer {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_depends_on_content_and_order() {
        let mut a = TraceHash::default();
        a.word(1);
        a.word(2);
        let mut b = TraceHash::default();
        b.word(2);
        b.word(1);
        assert_ne!(a, b);
        let mut c = TraceHash::default();
        c.bytes(b"<PING,1>");
        let mut d = TraceHash::default();
        d.bytes(b"<PING,2>");
        assert_ne!(c, d);
        let mut e = TraceHash::default();
        e.bytes(b"ab");
        let mut f = TraceHash::default();
        f.bytes(b"ab\0");
        assert_ne!(e, f, "length is part of the hash");
    }

    /// `bytes` is the plain definition: each whole 16-byte block as a
    /// pair of words, a last whole word, then the zero-padded rest with
    /// the length in the top byte.
    #[test]
    fn bytes_hash_block_by_block() {
        let data: Vec<u8> = (1..=90).collect();
        for len in 0..data.len() {
            let b = &data[..len];
            let word = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().unwrap());
            let mut want = TraceHash::default();
            let mut i = 0;
            while i + 16 <= len {
                want.pair(word(i), word(i + 8));
                i += 16;
            }
            if i + 8 <= len {
                want.word(word(i));
            }
            let mut last = [0u8; 8];
            last[..len % 8].copy_from_slice(&b[len - len % 8..]);
            want.word(u64::from_le_bytes(last) ^ ((len as u64) << 56));
            let mut got = TraceHash::default();
            got.bytes(b);
            assert_eq!(got, want, "{len}");
        }
    }

    /// Every single-bit change of a frame changes the hash, and so does
    /// swapping the two words of a block.
    #[test]
    fn every_bit_and_the_block_order_count() {
        let frame: Vec<u8> = (0..80u8).map(|i| b'a' + i % 26).collect();
        let hash = |b: &[u8]| {
            let mut h = TraceHash::default();
            h.bytes(b);
            h
        };
        let base = hash(&frame);
        for i in 0..frame.len() {
            for bit in 0..8 {
                let mut f = frame.clone();
                f[i] ^= 1 << bit;
                assert_ne!(hash(&f), base, "byte {i} bit {bit}");
            }
        }
        let mut swapped = frame[8..16].to_vec();
        swapped.extend_from_slice(&frame[..8]);
        swapped.extend_from_slice(&frame[16..]);
        assert_ne!(hash(&swapped), base);
    }

    #[test]
    fn tail_word_is_the_zero_padded_remainder() {
        let data: Vec<u8> = (1..=40).collect();
        for len in 0..data.len() {
            let b = &data[..len];
            let rest = &b[len - len % 8..];
            let mut last = [0u8; 8];
            last[..rest.len()].copy_from_slice(rest);
            assert_eq!(tail_word(b), u64::from_le_bytes(last), "{len}");
        }
    }
}
