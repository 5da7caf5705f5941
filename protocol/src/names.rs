//! Nicks, room names and user ids: what is valid and how they compare.
//!
//! Nicks and room names compare case-insensitively under one folding rule
//! that every server applies, so `Alice` and `alice` are one claim. A UID
//! holds `-`, which no nick may, so a user renamed to its UID can never
//! collide with anyone.

use std::borrow::Cow;

/// Longest nick accepted.
pub const MAX_NICK: usize = 30;
/// Longest room name accepted, `#` included.
pub const MAX_ROOM: usize = 32;

fn nick_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'[' | b']' | b'{' | b'}' | b'^' | b'|' | b'`')
}

/// A nick: 1 to 30 of letters, digits and `_[]{}^|`` ` ``, not starting
/// with a digit.
pub fn valid_nick(nick: &str) -> bool {
    let b = nick.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_NICK
        && !b[0].is_ascii_digit()
        && b.iter().all(|&c| nick_char(c))
}

/// A room: `#` then 1 to 31 letters, digits, `_` or `-`.
pub fn valid_room(room: &str) -> bool {
    let b = room.as_bytes();
    b.len() >= 2
        && b.len() <= MAX_ROOM
        && b[0] == b'#'
        && b[1..]
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-'))
}

/// The form two names are compared in: ASCII lower case, with `[]` folded
/// onto `{}` as IRC's rfc1459 mapping does.
pub fn fold(name: &str) -> String {
    fold_cow(name).into_owned()
}

/// [`fold`] without a copy when the name is already folded, as nearly
/// every name on the wire is: for lookups on the message path. Inline,
/// the copy out of line: whether the compiler inlined the whole of it
/// moved with unrelated changes (1 % of the users' timed part).
#[inline]
pub fn fold_cow(name: &str) -> Cow<'_, str> {
    if !any_folds(name.as_bytes()) {
        return Cow::Borrowed(name);
    }
    Cow::Owned(folded_copy(name))
}

/// A byte that folds: `A` to `Z`, `[` or `]` (what [`any_folds`] tests
/// eight at a time).
#[cfg(test)]
fn folds(b: u8) -> bool {
    b == b'[' || b == b']' || b.is_ascii_uppercase()
}

/// Whether any byte of `b` folds, eight bytes at a step (words that
/// overlap, or repeat a byte, test it twice): a room name is looked up
/// folded at every server it crosses and at every member, and a byte at
/// a time cost about 25 instructions for a name of four.
#[inline]
fn any_folds(b: &[u8]) -> bool {
    let n = b.len();
    let le64 = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"));
    let le32 = |at: usize| {
        u64::from(u32::from_le_bytes(
            b[at..at + 4].try_into().expect("4 bytes"),
        ))
    };
    match n {
        0 => false,
        1..=3 => word_folds(u64::from(b[0]) | u64::from(b[n / 2]) << 8 | u64::from(b[n - 1]) << 16),
        4..=8 => word_folds(le32(0) | le32(n - 4) << 32),
        _ => {
            let mut at = 0;
            while at + 8 < n {
                if word_folds(le64(at)) {
                    return true;
                }
                at += 8;
            }
            word_folds(le64(n - 8))
        }
    }
}

/// Whether a byte of `w` folds (zero bytes do not). Exact, not likely:
/// a byte below 0x80 lies in `0x41..=0x5B` when adding `127 - 0x40` sets
/// its top bit and subtracting it from `127 + 0x5C` leaves it set, with
/// no carry or borrow between bytes; `]` is a zero byte of `w ^ ']'`,
/// which the classic test finds whenever there is one.
#[inline(always)]
fn word_folds(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const TOPS: u64 = 0x8080_8080_8080_8080;
    let low7 = w & (ONES * 0x7F);
    let upper_or_open = (ONES * (127 + 0x5C) - low7) & !w & (low7 + ONES * (127 - 0x40)) & TOPS;
    let v = w ^ (ONES * u64::from(b']'));
    let close = v.wrapping_sub(ONES) & !v & TOPS;
    upper_or_open | close != 0
}

#[cold]
fn folded_copy(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'[' => '{',
            b']' => '}',
            _ => b.to_ascii_lowercase() as char,
        })
        .collect()
}

/// A user id: the home server's SID, its incarnation and a counter, so
/// that no id is ever issued twice, not even after a restart.
pub fn make_uid(sid: &str, incarnation: u64, n: u64) -> String {
    format!("{sid}-{incarnation}-{n}")
}

/// The SID of the server that issued `uid`.
///
/// Read byte by byte (every server reads it for every user message it
/// hears: two `split_once` searches cost about 280 instructions).
pub fn uid_sid(uid: &str) -> Option<&str> {
    let b = uid.as_bytes();
    if b.len() < 4 || b[3] != b'-' || b[..3].contains(&b'-') {
        return None;
    }
    let rest = &b[4..];
    let dash = rest.iter().position(|&c| c == b'-')?;
    let digits = |s: &[u8]| !s.is_empty() && s.iter().all(u8::is_ascii_digit);
    // Byte 3 is a '-', so byte 3 is where a character starts.
    (digits(&rest[..dash]) && digits(&rest[dash + 1..])).then(|| &uid[..3])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Every byte value at every position of every length to 20, against
    /// the byte-at-a-time test.
    #[test]
    fn any_folds_is_the_byte_test() {
        for n in 1..=20 {
            for at in 0..n {
                for v in 0..=255u8 {
                    let mut b = vec![b'a'; n];
                    b[at] = v;
                    assert_eq!(any_folds(&b), folds(v), "{v:#x} at {at} of {n}");
                    // And beside a byte that folds, and bytes above 0x7F.
                    b.fill(0xC3);
                    b[at] = v;
                    assert_eq!(any_folds(&b), folds(v), "{v:#x} among 0xC3");
                }
            }
        }
        assert!(!any_folds(b""));
    }

    proptest! {
        #[test]
        fn any_folds_matches_the_bytes(b in proptest::collection::vec(any::<u8>(), 0..40)) {
            prop_assert_eq!(any_folds(&b), b.iter().any(|&c| folds(c)));
        }

        /// The byte-wise reading agrees with the plain one on anything.
        #[test]
        fn uid_sid_reads_as_two_splits_do(
            uid in prop_oneof!["[-0-9Aé]{0,12}", "[A0é-]{2,4}-[0-9-]{0,3}-[0-9A-]{0,3}"],
        ) {
            let plain = |uid: &str| -> Option<String> {
                let (sid, rest) = uid.split_once('-')?;
                let (inc, n) = rest.split_once('-')?;
                let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
                (sid.len() == 3 && digits(inc) && digits(n)).then(|| sid.to_string())
            };
            prop_assert_eq!(uid_sid(&uid).map(str::to_string), plain(&uid));
        }
    }

    #[test]
    fn nicks_rooms_and_uids() {
        assert!(valid_nick("alice") && valid_nick("[bot]") && valid_nick("a1_"));
        assert!(!valid_nick("") && !valid_nick("1abc") && !valid_nick("a b") && !valid_nick("a,b"));
        assert!(!valid_nick(&"x".repeat(31)));
        assert!(valid_room("#lobby") && valid_room("#a-b_1"));
        assert!(!valid_room("#") && !valid_room("lobby") && !valid_room("#a b"));
        assert_eq!(fold("Alice[1]"), fold("aLICE{1}"));
        assert_eq!(fold("Alice[1]"), "alice{1}");
        // Brackets alone, and each alone, fold too (no capital to give
        // the fast path away).
        assert_eq!(fold_cow("a[b]"), "a{b}");
        assert_eq!(fold_cow("a["), "a{");
        assert_eq!(fold_cow("a]"), "a}");
        assert!(matches!(fold_cow("plain{}"), Cow::Borrowed(_)));
        assert!(matches!(fold_cow("#lobby{1}"), Cow::Borrowed("#lobby{1}")));
        assert!(matches!(fold_cow("#Lobby"), Cow::Owned(s) if s == "#lobby"));
        let uid = make_uid("0AB", 3, 17);
        assert_eq!(uid, "0AB-3-17");
        assert_eq!(uid_sid(&uid), Some("0AB"));
        assert!(!valid_nick(&uid), "a UID is never a valid nick");
        assert_eq!(uid_sid("alice"), None);
        assert_eq!(uid_sid("0AB-x-1"), None);
    }
}
