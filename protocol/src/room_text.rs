//! A room message as a client keeps it: sender UID, nick, the sender's
//! id for the message, and its text, in one shared allocation, joined by
//! commas as a frame carries them.
//!
//! Why one allocation: every delivery used to make four `Arc<str>`s (and
//! free them later), a third of a client's work per message. The four
//! fields are copied once, side by side, and the note, the log and the
//! reorder buffer share the same bytes by reference count. The members
//! of a room on one thread share them too: [`RoomText::new`] hands out
//! the copy it made a moment ago for the same message.

use std::fmt;
use std::sync::Arc;

#[derive(Clone, PartialEq, Eq)]
pub struct RoomText {
    /// `uid`, `nick`, `id` and `text`, joined by commas: as an RMSG
    /// carries them, so that the copy made for one member is recognised
    /// in the next member's frame by one compare (see [`RoomText::new`]).
    all: Arc<[u8]>,
    /// Where `uid`, `nick` and `id` end in `all` (the comma after each).
    ends: [u32; 3],
}

/// Slots of the cache of recent room texts (see [`RoomText::new`]): a
/// power of two, large against the messages in flight at once in a
/// thread's run (a few hundred at 250,000 users).
const RECENT: usize = 1024;

thread_local! {
    /// Recent room texts by a hash of their id, each slot the last one
    /// made there. Only equal contents are ever shared, so what a run
    /// computes cannot depend on what the cache holds.
    static RECENT_TEXTS: std::cell::RefCell<Vec<Option<RoomText>>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// The cache slot of message id `id`: its last 8 bytes (where the
/// sender's counter is) mixed with its first 8 and its length.
fn slot(id: &[u8]) -> usize {
    let word = |b: &[u8]| {
        let mut w = [0u8; 8];
        w[..b.len()].copy_from_slice(b);
        u64::from_le_bytes(w)
    };
    let n = id.len();
    // Eight bytes or more (every id a client makes): two fixed loads.
    // The copy into a zeroed word, of a length known only at run time,
    // was a `memcpy` call each, about 25 instructions a delivery.
    let (head, tail) = match (id.first_chunk::<8>(), id.last_chunk::<8>()) {
        (Some(h), Some(t)) => (u64::from_le_bytes(*h), u64::from_le_bytes(*t)),
        _ => (word(&id[..n.min(8)]), word(&id[n.saturating_sub(8)..])),
    };
    let h = (tail ^ head.rotate_left(29) ^ n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (h >> (64 - RECENT.trailing_zeros())) as usize
}

impl RoomText {
    /// The text of a room message as a client keeps it.
    ///
    /// Every member of a room receives the same message: the copy a
    /// client made a moment ago for the same id and contents is shared
    /// rather than made again. Made afresh, it was an allocation and its
    /// release per delivery, about 6 % of a room delivery's instructions.
    pub fn new(uid: &str, nick: &str, id: &str, text: &str) -> Self {
        Self::new_in(None, uid, nick, id, text)
    }

    /// [`RoomText::new`] for parts read out of `span`, the frame's bytes
    /// from the first to the last of them. Where the span is the parts
    /// joined by single commas (every frame a server writes), a copy made
    /// for another member is recognised by one compare of the span, not
    /// four of the parts (about 100 instructions a delivery at
    /// 16/16/16), and a fresh one is one copy of it.
    pub(crate) fn new_in(span: Option<&str>, uid: &str, nick: &str, id: &str, text: &str) -> Self {
        debug_assert!(span.is_none_or(|s| s.starts_with(uid) && s.ends_with(text)));
        RECENT_TEXTS.with_borrow_mut(|recent| {
            if recent.is_empty() {
                recent.resize(RECENT, None);
            }
            let at = &mut recent[slot(id.as_bytes())];
            let len = uid.len() + nick.len() + id.len() + text.len() + 3;
            // Equal lengths: the span has no space after a comma, so it is
            // the four parts joined exactly as `all` holds them.
            let joined = span.filter(|s| s.len() == len);
            match at {
                Some(t) if t.is(joined, uid, nick, id, text) => t.clone(),
                _ => at.insert(Self::fresh(joined, uid, nick, id, text)).clone(),
            }
        })
    }

    /// Whether `other` is this very copy (so certainly equal): texts of
    /// one message made on one thread are (see [`RoomText::new`]).
    #[inline]
    pub fn shares(&self, other: &RoomText) -> bool {
        Arc::ptr_eq(&self.all, &other.all)
    }

    /// Whether this is the text of those four parts. Always inline, as
    /// `slot`: whether the compiler inlined them into `new` moved with
    /// unrelated changes elsewhere in the crate (about 25 a delivery).
    /// `joined`, when given, is the four parts joined by single commas.
    #[inline(always)]
    fn is(&self, joined: Option<&str>, uid: &str, nick: &str, id: &str, text: &str) -> bool {
        let e0 = uid.len();
        let (e1, e2) = (e0 + 1 + nick.len(), e0 + nick.len() + id.len() + 2);
        // The text's length the compares below check.
        if self.ends != [e0, e1, e2].map(|e| e as u32) {
            return false;
        }
        match joined {
            // The first three parts' lengths agree, so equal bytes (the
            // same length, then) are equal parts.
            Some(j) => *self.all == *j.as_bytes(),
            None => {
                self.id() == id && self.uid() == uid && self.text() == text && self.nick() == nick
            }
        }
    }

    fn fresh(joined: Option<&str>, uid: &str, nick: &str, id: &str, text: &str) -> Self {
        let e0 = uid.len();
        let e1 = e0 + 1 + nick.len();
        let e2 = e1 + 1 + id.len();
        let all: Arc<[u8]> = match joined {
            // Commas where the parts end (always so for a span of the parts
            // as the caller promises): what makes `part` sound below.
            Some(j) if [e0, e1, e2].iter().all(|&e| j.as_bytes()[e] == b',') => {
                Arc::from(j.as_bytes())
            }
            _ => {
                let mut v = Vec::with_capacity(e2 + 1 + text.len());
                for (i, part) in [uid, nick, id, text].into_iter().enumerate() {
                    if i > 0 {
                        v.push(b',');
                    }
                    v.extend_from_slice(part.as_bytes());
                }
                Arc::from(v)
            }
        };
        let ends = [e0, e1, e2].map(|e| u32::try_from(e).expect("a frame is far shorter"));
        RoomText { all, ends }
    }

    #[inline]
    fn part(&self, from: usize, to: usize) -> &str {
        let bytes = &self.all[from..to];
        // SAFETY: `all` is UTF-8 (four `&str`s joined by commas, or a
        // `&str` span) with an ASCII comma at each of `ends`, and every
        // part runs from the start or just after a comma to the end or
        // the next comma: whole characters of valid UTF-8.
        unsafe { std::str::from_utf8_unchecked(bytes) }
    }

    /// The sender's UID.
    #[inline]
    pub fn uid(&self) -> &str {
        self.part(0, self.ends[0] as usize)
    }

    /// The sender's nick when it sent the message.
    #[inline]
    pub fn nick(&self) -> &str {
        self.part(self.ends[0] as usize + 1, self.ends[1] as usize)
    }

    /// The sender's name for the message (see [`crate::client::split_id`]).
    #[inline]
    pub fn id(&self) -> &str {
        self.part(self.ends[1] as usize + 1, self.ends[2] as usize)
    }

    #[inline]
    pub fn text(&self) -> &str {
        self.part(self.ends[2] as usize + 1, self.all.len())
    }
}

impl fmt::Debug for RoomText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RoomText")
            .field("uid", &self.uid())
            .field("nick", &self.nick())
            .field("id", &self.id())
            .field("text", &self.text())
            .finish()
    }
}

/// In a trace, a delivery shows who sent it and what it said, as before
/// the fields shared one allocation.
#[cfg(feature = "serde")]
impl serde::Serialize for RoomText {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("from", self.uid())?;
        m.serialize_entry("text", self.text())?;
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::RoomText;

    /// What a trace shows of a delivery (the workspace's tests build the
    /// protocol with `serde`, for the simulator; so does the mutation run).
    #[cfg(feature = "serde")]
    #[test]
    fn a_room_text_serializes_as_sender_and_text() {
        let t = RoomText::new("0AA-1-1", "ann", "0AA-1-1/1", "hello, world");
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            r#"{"from":"0AA-1-1","text":"hello, world"}"#
        );
    }

    #[test]
    fn each_field_reads_back_whole_including_empty_and_multibyte_ones() {
        let t = RoomText::new("0AAAAB", "zoë", "", "héllo, wörld");
        assert_eq!(
            (t.uid(), t.nick(), t.id(), t.text()),
            ("0AAAAB", "zoë", "", "héllo, wörld")
        );
        let u = RoomText::new("0AAAAB", "zo", "ë", "héllo, wörld");
        assert_ne!(t, u, "the same bytes split elsewhere are another message");
        assert_eq!(t.clone(), t);
    }

    /// What the cache is for: the texts of messages in flight together,
    /// made again (one per member) in another order, are shared. (Which
    /// ids share a slot is the hash's business; a few may.)
    #[test]
    fn a_burst_of_messages_made_again_shares_nearly_every_copy() {
        let ids: Vec<String> = (0..64)
            .map(|k| {
                format!(
                    "0{}{}-1-{}/{}",
                    (b'A' + k % 5) as char,
                    (b'A' + k % 7) as char,
                    k % 3,
                    100 + k
                )
            })
            .collect();
        let first: Vec<RoomText> = ids
            .iter()
            .map(|id| RoomText::new("0AA-1-1", "n", id, "t"))
            .collect();
        let shared = ids
            .iter()
            .zip(&first)
            .rev()
            .filter(|(id, t)| RoomText::new("0AA-1-1", "n", id, "t").shares(t))
            .count();
        assert!(shared >= 58, "only {shared} of 64 shared");
    }

    /// A text made from a frame's span of the four parts is the text made
    /// from the parts, shared either way round; a span with a space after
    /// a comma (which a frame may carry) is read by its parts.
    #[test]
    fn a_span_of_the_parts_makes_and_finds_the_same_text() {
        let frame = "<RMSG,#r,1,0AA-1,5,0AB-1-1,ann,0AB-1-1/3,hi there>";
        let at = frame.find("0AB-1-1,").unwrap();
        let span = &frame[at..frame.len() - 1];
        let (uid, nick, id, text) = ("0AB-1-1", "ann", "0AB-1-1/3", "hi there");
        let a = RoomText::new_in(Some(span), uid, nick, id, text);
        assert_eq!((a.uid(), a.nick(), a.id(), a.text()), (uid, nick, id, text));
        assert!(RoomText::new(uid, nick, id, text).shares(&a));
        assert!(RoomText::new_in(Some(span), uid, nick, id, text).shares(&a));
        let spaced = "0AB-1-1, ann, 0AB-1-1/3, hi there";
        let b = RoomText::new_in(Some(spaced), uid, nick, id, text);
        assert!(b.shares(&a), "the same parts, another layout");
        // Another message of the same id and lengths is not taken for it.
        let other = "0AB-1-1,bob,0AB-1-1/3,hi there";
        let c = RoomText::new_in(Some(other), uid, "bob", id, text);
        assert!(!c.shares(&a));
        assert_eq!(
            (c.uid(), c.nick(), c.id(), c.text()),
            (uid, "bob", id, text)
        );
    }

    /// The slot of an id read by two fixed loads is the slot of its first
    /// and last eight bytes copied into zeroed words, at every length.
    #[test]
    fn an_ids_slot_is_its_padded_words_hashed() {
        let padded = |b: &[u8]| {
            let mut w = [0u8; 8];
            w[..b.len()].copy_from_slice(b);
            u64::from_le_bytes(w)
        };
        let all = b"0AB-1-12/4567890123";
        for n in 0..all.len() {
            let id = &all[..n];
            let (head, tail) = (padded(&id[..n.min(8)]), padded(&id[n.saturating_sub(8)..]));
            let h = (tail ^ head.rotate_left(29) ^ n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let want = (h >> (64 - super::RECENT.trailing_zeros())) as usize;
            assert_eq!(super::slot(id), want, "{n}");
        }
    }

    /// A span whose separators are not commas where the parts end is not
    /// taken for the parts joined: the text is made from the parts, and a
    /// later span of the same message finds it.
    #[test]
    fn a_span_without_commas_where_the_parts_end_is_not_kept() {
        let (uid, nick, id, text) = ("0AC-1-1", "cy", "0AC-1-1/9", "yo");
        let odd = RoomText::new_in(Some("0AC-1-1;cy;0AC-1-1/9;yo"), uid, nick, id, text);
        assert_eq!(
            (odd.uid(), odd.nick(), odd.id(), odd.text()),
            (uid, nick, id, text)
        );
        let good = RoomText::new_in(Some("0AC-1-1,cy,0AC-1-1/9,yo"), uid, nick, id, text);
        assert!(good.shares(&odd));
    }

    /// The cache shares a text only when all four parts are equal, and
    /// a text whose slot was taken since is made afresh, whole.
    #[test]
    fn equal_texts_share_one_copy_and_others_never_do() {
        let a = RoomText::new("0AA-1-1", "ann", "0AA-1-1/7", "hi");
        let b = RoomText::new("0AA-1-1", "ann", "0AA-1-1/7", "hi");
        assert!(a.shares(&b), "the same message is one copy");
        for (uid, nick, id, text) in [
            ("0AA-1-2", "ann", "0AA-1-1/7", "hi"),
            ("0AA-1-1", "bob", "0AA-1-1/7", "hi"),
            ("0AA-1-1", "ann", "0AA-1-1/7", "ho"),
            ("0AA-1-1", "an", "n0AA-1-1/7", "hi"),
            ("0AA-1-1", "ann", "0AA-1-1/7", "hi!"),
        ] {
            let c = RoomText::new(uid, nick, id, text);
            assert_eq!((c.uid(), c.nick(), c.id(), c.text()), (uid, nick, id, text));
            assert!(!a.shares(&c));
        }
        // Every slot taken by other messages: the first made again.
        for k in 0..4 * super::RECENT {
            let id = format!("0AB-1-1/{k}");
            assert_eq!(RoomText::new("0AB-1-1", "x", &id, "y").id(), id);
        }
        let d = RoomText::new("0AA-1-1", "ann", "0AA-1-1/7", "hi");
        assert_eq!(
            (d.uid(), d.nick(), d.id(), d.text()),
            ("0AA-1-1", "ann", "0AA-1-1/7", "hi")
        );
        assert_eq!(d, a);
    }
}
