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

/// The version of the trace's line format, in its header. Raised when a
/// field changes meaning or goes away (adding one does not).
pub const SCHEMA: u32 = 2;

/// Arguments longer than this many characters are cut in the trace.
pub const ARG_LIMIT: usize = 48;

/// Which events reach the trace file; by default all of them.
#[derive(Clone, Debug, Default)]
pub struct TraceFilter {
    /// Only events at simulated times in `[from, to]`, in ns.
    pub window: Option<(u64, u64)>,
    /// Only events naming one of these hosts (events that name none, such
    /// as a heal, are kept).
    pub hosts: Option<std::collections::BTreeSet<String>>,
    /// Only the N events before the first violation, it, and the N after.
    pub around_violation: Option<usize>,
}

impl TraceFilter {
    /// `T1..T2` with durations (`2s..5s`); either end may be left out.
    pub fn parse_window(s: &str) -> Result<(u64, u64), String> {
        let (a, b) = s
            .split_once("..")
            .ok_or_else(|| format!("--trace-window {s:?}: expected T1..T2, e.g. 2s..5s"))?;
        let t = |x: &str, default: u64| -> Result<u64, String> {
            if x.trim().is_empty() {
                return Ok(default);
            }
            crate::scenario::parse_duration(x.trim())
                .map(|d| d.as_nanos())
                .map_err(|e| format!("--trace-window {s:?}: {e}"))
        };
        let (from, to) = (t(a, 0)?, t(b, u64::MAX)?);
        if from > to {
            return Err(format!(
                "--trace-window {s:?}: the window ends before it starts"
            ));
        }
        Ok((from, to))
    }

    /// Whether anything is filtered at all.
    pub fn is_all(&self) -> bool {
        self.window.is_none() && self.hosts.is_none() && self.around_violation.is_none()
    }
}

/// The fields of an event that name a host.
const HOST_FIELDS: [&str; 7] = ["host", "from", "to", "client", "server", "a", "b"];

/// A frame in flight: its trace id and when it was sent.
#[derive(Clone, Copy, Debug)]
pub struct InFlight {
    pub id: u64,
    pub sent: u64,
}

/// Writes one JSON object per event. Errors are remembered, not fatal to
/// the run, and reported at the end.
pub struct TraceWriter {
    out: Box<dyn Write>,
    pub error: Option<std::io::Error>,
    line: String,
    filter: TraceFilter,
    /// For `around_violation`: the last lines before the first violation,
    /// then how many may still follow it.
    before: std::collections::VecDeque<String>,
    after: Option<usize>,
    /// Frames sent and not yet delivered or dropped, by connection and
    /// direction, in the order they were sent: a direction is first in,
    /// first out, so its head frame is the front of its queue here. Kept
    /// here rather than in the network so that an untraced run pays
    /// nothing for it.
    pub in_flight: std::collections::BTreeMap<(u32, u8), std::collections::VecDeque<InFlight>>,
    pub next_frame: u64,
    /// Violations already written.
    pub violations_seen: usize,
}

impl TraceWriter {
    pub fn new(out: Box<dyn Write>) -> Self {
        Self::filtered(out, TraceFilter::default())
    }

    pub fn filtered(out: Box<dyn Write>, filter: TraceFilter) -> Self {
        TraceWriter {
            out,
            error: None,
            line: String::with_capacity(256),
            filter,
            before: std::collections::VecDeque::new(),
            after: None,
            in_flight: std::collections::BTreeMap::new(),
            next_frame: 0,
            violations_seen: 0,
        }
    }

    /// Whether an event at `t_ns` can pass the time window: checked before
    /// the event is formatted at all.
    #[inline]
    pub fn wants(&self, t_ns: u64) -> bool {
        // After a write failed nothing more is written: no line is made.
        self.error.is_none()
            && self
                .filter
                .window
                .is_none_or(|(a, b)| (a..=b).contains(&t_ns))
    }

    /// A line every trace keeps whatever its filters (the hosts line).
    pub fn record_always(&mut self, value: &serde_json::Value) {
        if self.error.is_none() {
            self.write(&format!("{value}\n"));
        }
    }

    pub fn record(&mut self, value: &serde_json::Value) {
        if self.error.is_some() {
            return;
        }
        if let Some(hosts) = &self.filter.hosts {
            let named: Vec<&str> = HOST_FIELDS
                .iter()
                .filter_map(|f| value.get(*f).and_then(|v| v.as_str()))
                .collect();
            if !named.is_empty() && !named.iter().any(|h| hosts.contains(*h)) {
                return;
            }
        }
        self.line.clear();
        self.line.push_str(&value.to_string());
        self.line.push('\n');
        if let Some(n) = self.filter.around_violation {
            match self.after {
                None if value.get("ev").and_then(|v| v.as_str()) == Some("violation") => {
                    let mut text: String = self.before.drain(..).collect();
                    text.push_str(&self.line);
                    self.after = Some(n);
                    self.write(&text);
                }
                None => {
                    if n > 0 {
                        if self.before.len() == n {
                            self.before.pop_front();
                        }
                        self.before.push_back(self.line.clone());
                    }
                }
                Some(0) => {}
                Some(k) => {
                    self.after = Some(k - 1);
                    let line = std::mem::take(&mut self.line);
                    self.write(&line);
                    self.line = line;
                }
            }
            return;
        }
        let line = std::mem::take(&mut self.line);
        self.write(&line);
        self.line = line;
    }

    fn write(&mut self, text: &str) {
        if let Err(e) = self.out.write_all(text.as_bytes()) {
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

/// An argument as the trace shows it: cut after [`ARG_LIMIT`] characters,
/// saying how many bytes were left out.
pub fn elide(s: &str) -> String {
    match s.char_indices().nth(ARG_LIMIT) {
        None => s.to_string(),
        Some((i, _)) => format!("{}…(+{} bytes)", &s[..i], s.len() - i),
    }
}

/// A frame's command and arguments (elided); a frame that does not decode
/// is shown as command `?` with its bytes as the one argument.
pub fn frame_fields(bytes: &[u8]) -> (String, Vec<String>) {
    let mut f = drc_protocol::wire::Frame::new();
    match drc_protocol::wire::decode_exact(bytes, &mut f) {
        Ok(()) => (f.command().to_string(), f.args().map(elide).collect()),
        Err(_) => ("?".into(), vec![elide(&String::from_utf8_lossy(bytes))]),
    }
}

/// A note as a structured object: its `kind` and its fields. A chat note
/// is flattened into the same shape.
pub fn note_json(n: &drc_protocol::Note) -> serde_json::Value {
    let v = match n {
        drc_protocol::Note::Chat(c) => serde_json::to_value(c),
        n => serde_json::to_value(n),
    };
    v.expect("notes serialise")
}

/// An action's name and every argument, durations in ns.
pub fn action_json(a: &crate::scenario::Action) -> serde_json::Map<String, serde_json::Value> {
    use crate::scenario::Action as A;
    use serde_json::json;
    let mut m = serde_json::Map::new();
    m.insert("do".into(), a.name().into());
    let args = match a {
        A::Partition { groups } => json!({ "groups": groups }),
        A::Heal => json!({}),
        A::Cut { a, b } | A::Link { a, b } => json!({"a": a, "b": b}),
        A::Unlink { a, b, via } => json!({"a": a, "b": b, "via": via}),
        A::Kill {
            server,
            nick,
            comment,
        } => json!({"server": server, "nick": nick, "comment": elide(comment)}),
        A::Stall { a, b, duration } => json!({"a": a, "b": b, "for_ns": duration.as_nanos()}),
        A::Crash { server } | A::Restart { server } | A::Shutdown { server } => {
            json!({ "server": server })
        }
        A::AddServer { name, via } => json!({"server": name, "via": via}),
        A::Storm {
            duration,
            loss_ppm,
            duplicate_ppm,
        } => json!({"for_ns": duration.as_nanos(),
            "loss": crate::scenario::ppm_to_f64(*loss_ppm),
            "duplicate": crate::scenario::ppm_to_f64(*duplicate_ppm)}),
        A::Skew { server, by_nanos } => json!({"server": server, "by_ns": by_nanos}),
        A::Connect {
            client,
            server,
            nick,
        } => json!({"client": client, "server": server, "nick": nick}),
        A::Nick { client, nick } => json!({"client": client, "nick": nick}),
        A::Create { client, room } | A::Join { client, room } | A::Leave { client, room } => {
            json!({"client": client, "room": room})
        }
        A::Say { client, room, text } => {
            json!({"client": client, "room": room, "text": elide(text)})
        }
        A::SendList { client, to, text } => {
            json!({"client": client, "to": to, "text": elide(text)})
        }
        A::Private { client, to, text } => {
            json!({"client": client, "to": to, "text": elide(text)})
        }
        A::Redirect {
            client,
            to,
            by_client,
        } => {
            json!({"client": client, "to": to, "by": if *by_client { "client" } else { "server" }})
        }
        A::Quit { client, exit } => json!({ "client": client, "exit": exit }),
        A::Ulist { client, room } => json!({"client": client, "room": room}),
        A::ListRooms { client } => json!({ "client": client }),
        A::Broadcast { server, text } => json!({"server": server, "text": elide(text)}),
        A::PresentToken {
            client,
            server,
            token,
        } => json!({"client": client, "server": server, "token": token}),
    };
    if let serde_json::Value::Object(o) = args {
        m.extend(o);
    }
    m
}

/// An in-memory trace destination that stays readable after the run has
/// taken its writer (replay keeps both runs' traces this way). With a
/// limit, a write that would take it past the limit is refused: the
/// trace stops there (the writer remembers the error, stops formatting
/// lines and the run reports it at its end), so that a run too large to
/// hold cannot take the machine's memory.
#[derive(Clone, Default)]
pub struct SharedBuffer {
    buf: std::rc::Rc<std::cell::RefCell<Vec<u8>>>,
    limit: Option<usize>,
    over: std::rc::Rc<std::cell::Cell<bool>>,
}

impl SharedBuffer {
    /// Holds at most `limit` bytes.
    pub fn with_limit(limit: usize) -> Self {
        SharedBuffer {
            limit: Some(limit),
            ..Default::default()
        }
    }

    pub fn contents(&self) -> Vec<u8> {
        self.buf.borrow().clone()
    }

    /// Whether a write was refused for the limit.
    pub fn overflowed(&self) -> bool {
        self.over.get()
    }
}

impl Write for SharedBuffer {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let mut buf = self.buf.borrow_mut();
        if let Some(limit) = self.limit {
            if buf.len().saturating_add(b.len()) > limit {
                self.over.set(true);
                return Err(std::io::Error::other(format!(
                    "the trace passed its limit of {} MiB",
                    limit >> 20
                )));
            }
        }
        buf.extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A limited buffer takes writes up to its limit and refuses the one
    /// that would pass it, keeping what it had; the writer then makes no
    /// more lines.
    #[test]
    fn a_limited_buffer_refuses_past_its_limit_and_the_writer_stops() {
        let mut b = SharedBuffer::with_limit(10);
        assert_eq!(b.write(b"12345").unwrap(), 5);
        assert_eq!(b.write(b"67890").unwrap(), 5);
        assert!(!b.overflowed());
        assert!(b.write(b"x").is_err());
        assert!(b.overflowed());
        assert_eq!(b.contents(), b"1234567890");
        let mut w = TraceWriter::new(Box::new(SharedBuffer::with_limit(30)));
        assert!(w.wants(0));
        w.record(&serde_json::json!({"ev": "a", "pad": "0123456789012345678901234567890"}));
        assert!(w.error.is_some());
        assert!(!w.wants(0), "nothing more is made once a write failed");
        let unlimited = SharedBuffer::default();
        let mut u = unlimited.clone();
        u.write_all(&[b'x'; 100_000]).unwrap();
        assert!(!unlimited.overflowed() && unlimited.contents().len() == 100_000);
    }

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
