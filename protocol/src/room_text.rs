//! A room message as a client keeps it: sender UID, nick, the sender's
//! id for the message, and its text, in one shared allocation.
//!
//! Why one allocation: every delivery used to make four `Arc<str>`s (and
//! free them later), a third of a client's work per message. The four
//! fields are copied once, side by side, and the note, the log and the
//! reorder buffer share the same bytes by reference count.

use std::fmt;
use std::sync::Arc;

#[derive(Clone, PartialEq, Eq)]
pub struct RoomText {
    /// `uid`, `nick`, `id` and `text`, back to back.
    all: Arc<[u8]>,
    /// Where `uid`, `nick` and `id` end in `all`.
    ends: [u32; 3],
}

impl RoomText {
    pub fn new(uid: &str, nick: &str, id: &str, text: &str) -> Self {
        let e0 = uid.len();
        let e1 = e0 + nick.len();
        let e2 = e1 + id.len();
        let mut all = Arc::<[u8]>::new_uninit_slice(e2 + text.len());
        let dst = Arc::get_mut(&mut all).expect("just made, not shared");
        let mut at = 0;
        for part in [uid, nick, id, text] {
            let to = &mut dst[at..at + part.len()];
            // SAFETY: `to` is `part.len()` bytes of our own fresh
            // allocation, which cannot overlap `part`. (A safe
            // `write_copy_of_slice` needs Rust 1.93, past our MSRV.)
            unsafe {
                std::ptr::copy_nonoverlapping(part.as_ptr(), to.as_mut_ptr().cast(), part.len());
            }
            at += part.len();
        }
        // SAFETY: the four parts fill `dst` exactly, end to end.
        let all = unsafe { all.assume_init() };
        let ends = [e0, e1, e2].map(|e| u32::try_from(e).expect("a frame is far shorter"));
        RoomText { all, ends }
    }

    #[inline]
    fn part(&self, from: usize, to: usize) -> &str {
        let bytes = &self.all[from..to];
        // SAFETY: `all` is four `&str`s copied back to back, and every
        // part is exactly one of them, so it starts and ends on character
        // boundaries of valid UTF-8.
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
        self.part(self.ends[0] as usize, self.ends[1] as usize)
    }

    /// The sender's name for the message (see [`crate::client::split_id`]).
    #[inline]
    pub fn id(&self) -> &str {
        self.part(self.ends[1] as usize, self.ends[2] as usize)
    }

    #[inline]
    pub fn text(&self) -> &str {
        self.part(self.ends[2] as usize, self.all.len())
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
}
