//! An index keyed by names whose searches rarely read a name.
//!
//! Every server kept its nicks by folded nick here (and its users by UID
//! and rooms by folded name; all three are now in id_map.rs, whose shared
//! table of ids does the same search once for the servers a change
//! crosses), and nearly every use is a search: each UID claims its nick
//! on every server. With 100 servers each holding every user, those
//! tables together outgrow the caches, and an ordered tree's search costs
//! a cache miss per level (about six at 250,000 users). What stays here
//! is smaller: a server's recently given-up nicks and a client's counters
//! per sender.
//!
//! Here a name of at most 15 bytes is kept under a number: its bytes,
//! big-endian, zero-padded to 15, and its length in the 16th byte.
//! Distinct names give distinct numbers, and numbers compare as the names
//! do: where two names' padded bytes differ, the first difference is the
//! names' own (padding is no larger than any byte), and where they agree,
//! one name is the other with NULs added, which its length puts second.
//! Those numbers key a hash table, so a search hashes one number and
//! reads one or two slots, and never reads a name. Longer names (few in
//! practice: a UID, a room name or a nick rarely has 16 bytes) go to an
//! ordinary ordered map. The index is never walked, so the hash table's
//! order never leaves this file.

use std::collections::BTreeMap;
use std::sync::Arc;

use hashbrown::hash_table::{self, HashTable};

/// A short name's number as two words: as a `u128` it would be aligned
/// to 16 bytes and pad every slot of a table of users by 8.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Number {
    hi: u64,
    lo: u64,
}

/// The hash a table keeps for a number: fixed (no per-process seed), so
/// a run's memory layout and timing never depend on the process, though
/// no order of the table reaches a run anyway. Both words are mixed by
/// one folded 64 × 64 → 128-bit multiply, enough to spread names that
/// differ only in their last bytes (UIDs counting up) over the low bits
/// the table indexes by and the high bits it tags slots with.
#[inline]
pub(crate) fn hash(n: Number) -> u64 {
    let p = ((n.hi ^ 0x243f_6a88_85a3_08d3) as u128) * ((n.lo ^ 0x1319_8a2e_0370_7344) as u128);
    (p as u64) ^ ((p >> 64) as u64)
}

/// The number a short name is kept under, or `None` for a long one: its
/// bytes, big-endian, zero-padded to 15, then its length in the last
/// byte. The length keeps names that differ only in trailing NULs apart
/// (a NUL would otherwise read as padding), so no byte needs checking,
/// and the order is still the names': two names whose padded bytes agree
/// are one and the other with NULs added, and the shorter comes first.
///
/// Read as two overlapping words (the first and the last eight or four
/// bytes), not copied into a zeroed buffer: the copy of a length known
/// only at run time was a `memcpy` call, and every search of the shared id
/// tables (UIDs, rooms, nicks) starts here.
#[inline]
pub(crate) fn short(s: &str) -> Option<Number> {
    let b = s.as_bytes();
    let len = b.len();
    let be64 = |at: usize| u64::from_be_bytes(b[at..at + 8].try_into().expect("8 bytes"));
    let be32 = |at: usize| {
        u64::from(u32::from_be_bytes(
            b[at..at + 4].try_into().expect("4 bytes"),
        ))
    };
    let (hi, lo) = match len {
        // The last word's first 16 - len bytes are the first word's last;
        // its last byte, free below 16 bytes, takes the length.
        8..=15 => (
            be64(0),
            be64(len - 8)
                .checked_shl(8 * (16 - len) as u32)
                .unwrap_or(0),
        ),
        4..=7 => (
            be32(0) << 32 | (be32(len - 4) << (8 * (8 - len))) & 0xFFFF_FFFF,
            0,
        ),
        0..=3 => (
            b.iter()
                .enumerate()
                .fold(0, |w, (i, &c)| w | u64::from(c) << (56 - 8 * i)),
            0,
        ),
        _ => return None,
    };
    Some(Number {
        hi,
        lo: lo | len as u64,
    })
}

/// A map of names that is only searched, never walked: a short name is
/// not kept beside its number at all (its number is the name), and the
/// entries sit in the table's slots (a number and a small value).
#[derive(Clone, Debug)]
pub(crate) struct NameIndex<V> {
    short: HashTable<(Number, V)>,
    long: BTreeMap<Arc<str>, V>,
}

impl<V> Default for NameIndex<V> {
    fn default() -> Self {
        NameIndex {
            short: HashTable::new(),
            long: BTreeMap::new(),
        }
    }
}

impl<V> NameIndex<V> {
    pub fn get(&self, s: &str) -> Option<&V> {
        match short(s) {
            Some(n) => self.short.find(hash(n), |e| e.0 == n).map(|e| &e.1),
            None => self.long.get(s),
        }
    }

    pub fn get_mut(&mut self, s: &str) -> Option<&mut V> {
        match short(s) {
            Some(n) => self.short.find_mut(hash(n), |e| e.0 == n).map(|e| &mut e.1),
            None => self.long.get_mut(s),
        }
    }

    /// A short name is not kept at all; a long one is shared (intern.rs).
    pub fn insert(&mut self, name: &str, v: V) -> Option<V> {
        let Some(num) = short(name) else {
            return self.long.insert(crate::intern::arc(name), v);
        };
        match self.short.entry(hash(num), |e| e.0 == num, |e| hash(e.0)) {
            hash_table::Entry::Occupied(mut o) => Some(std::mem::replace(&mut o.get_mut().1, v)),
            hash_table::Entry::Vacant(slot) => {
                slot.insert((num, v));
                None
            }
        }
    }

    pub fn remove(&mut self, s: &str) -> Option<V> {
        let Some(n) = short(s) else {
            return self.long.remove(s);
        };
        let found = self.short.find_entry(hash(n), |e| e.0 == n).ok()?;
        Some(found.remove().0 .1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `short` written the plain way: the bytes copied into a zeroed
    /// 16-byte buffer whose last byte is the length, read big-endian.
    fn short_by_copy(s: &str) -> Option<Number> {
        let b = s.as_bytes();
        if b.len() > 15 {
            return None;
        }
        let mut buf = [0u8; 16];
        buf[..b.len()].copy_from_slice(b);
        buf[15] = b.len() as u8;
        let n = u128::from_be_bytes(buf);
        Some(Number {
            hi: (n >> 64) as u64,
            lo: n as u64,
        })
    }

    /// Every length from 0 to 17, and NULs anywhere: a NUL is a byte like
    /// any other, and a name with one is not the name without it.
    #[test]
    fn short_reads_the_bytes_of_every_length() {
        for len in 0..=17usize {
            let s: String = (0..len).map(|i| char::from(b'a' + i as u8)).collect();
            assert_eq!(short(&s), short_by_copy(&s), "{s:?}");
            assert_eq!(short(&s).is_some(), len <= 15, "{s:?}");
            for at in 0..len {
                let mut t = s.clone().into_bytes();
                t[at] = 0;
                let t = String::from_utf8(t).expect("ascii");
                assert_eq!(short(&t), short_by_copy(&t), "{t:?}");
                if len <= 15 {
                    assert_ne!(short(&t), short(&s[..at]), "{t:?}");
                }
            }
        }
    }

    proptest! {
        /// Any string, of bytes from the whole range (multi-byte
        /// characters, NULs), gives the number the copy gives.
        #[test]
        fn short_agrees_with_a_copy(s in "(?s).{0,18}") {
            prop_assert_eq!(short(&s), short_by_copy(&s));
        }

        /// Short names' numbers are ordered as the names are, NULs,
        /// prefixes and all.
        #[test]
        fn short_numbers_order_as_the_names_do(
            a in "[\\x00\\x01ab]{0,15}",
            b in "[\\x00\\x01ab]{0,15}",
        ) {
            prop_assert_eq!(short(&a).unwrap().cmp(&short(&b).unwrap()), a.cmp(&b));
        }

        /// Any mix of inserts and removes leaves the same contents as a
        /// `BTreeMap` of the names: every lookup agrees.
        /// Names share long prefixes, run past 15 bytes and hold NULs,
        /// the cases where the inline prefix cannot decide.
        #[test]
        fn finds_as_a_btreemap_does(
            ops in proptest::collection::vec(
                (any::<bool>(), "(0AB-1-|abcdefghijklmnop|x)?[\\x00a-c0-2]{0,20}", any::<u8>()),
                0..200,
            ),
            probes in proptest::collection::vec("(abcdefghijklmnop)?[\\x00a-c0-2]{0,20}", 0..20),
        ) {
            let mut index = NameIndex::default();
            let mut theirs: BTreeMap<Arc<str>, u8> = BTreeMap::new();
            for (add, name, v) in ops {
                if add {
                    let t = theirs.insert(Arc::from(name.as_str()), v);
                    prop_assert_eq!(index.insert(&name, v), t);
                } else {
                    let t = theirs.remove(name.as_str());
                    prop_assert_eq!(index.remove(&name), t);
                }
            }
            for p in probes.iter().chain(theirs.keys().map(|k| k.to_string()).collect::<Vec<_>>().iter()) {
                prop_assert_eq!(index.get(p), theirs.get(p.as_str()));
                prop_assert_eq!(index.get_mut(p).map(|v| *v), theirs.get(p.as_str()).copied());
            }
        }
    }

    #[test]
    fn the_hash_mixes_both_words() {
        let (a, b) = (short("0AB-1-100").unwrap(), short("0AB-1-101").unwrap());
        assert_ne!(hash(a), hash(b));
        assert_ne!(hash(Number { hi: 1, lo: 0 }), hash(Number { hi: 2, lo: 0 }));
        // Names counting up spread over the low bits the table indexes by.
        let low: std::collections::BTreeSet<u64> = (0..64)
            .map(|i| hash(short(&format!("0AB-1-{i}")).unwrap()) & 63)
            .collect();
        assert!(low.len() > 32, "{} of 64 buckets", low.len());
        let table: std::collections::BTreeSet<u64> = ["a", "b", "0AB-1-1", "0AB-1-2"]
            .map(|n| hash(short(n).unwrap()))
            .into();
        assert_eq!(table.len(), 4);
    }

    #[test]
    fn short_names_number_in_their_order_and_long_ones_have_none() {
        let n = |s: &str| short(s).unwrap();
        assert!(n("") < n("a"));
        assert!(n("a") < n("a0") && n("ab") < n("b"));
        assert!(n("0AB-1-9") > n("0AB-1-10"));
        assert!(n("abcdefghijklmno") > n("abcdefghijklmn"));
        // Trailing NULs tie with the padding: the length decides.
        assert!(n("a") < n("a\0") && n("a\0") < n("a\0\0") && n("a\0") < n("a\x01"));
        assert!(n("") < n("\0") && n("\0") < n("\x01"));
        assert!(n("abcdefghijklmn") < n("abcdefghijklmn\0"));
        // A 16th byte would take the length's place.
        assert_eq!(
            (short("abcdefghijklmnop"), short("abcdefghijklmno\0")),
            (None, None)
        );
        assert!(short("abcdefghijklmno").is_some() && short("\0abcdefghijklmn").is_some());
    }
}
