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
    let folds = |b: u8| b == b'[' || b == b']' || b.is_ascii_uppercase();
    if !name.bytes().any(folds) {
        return Cow::Borrowed(name);
    }
    Cow::Owned(folded_copy(name))
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

    proptest! {
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
