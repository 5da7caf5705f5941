//! A map keyed by names whose searches rarely read a name.
//!
//! Every server keeps its rooms by folded name and its nicks by folded
//! nick (its users by UID were kept here too, and are now in id_map.rs). Bursts and views walk users and rooms in name
//! order, but nearly every use is a search: each room message looks up
//! its sender on every server it crosses and each member when a room's
//! fan-out is rebuilt, each UID claims its nick on every server. With
//! 100 servers each holding every user, those tables together outgrow
//! the caches, and an ordered tree's search costs a cache miss per level
//! (about six at 250,000 users).
//!
//! Here a name of at most 16 bytes (without NUL bytes, which no name
//! has) is kept under its bytes as a big-endian number, zero-padded:
//! distinct names give distinct numbers, and numbers compare as the names
//! do (a name that ends first is a prefix of the other, and its padding
//! is smaller than any byte). Those numbers key a hash table, so a search
//! hashes one number and reads one or two slots, and never reads a name.
//! A walk in name order sorts the numbers first (a walk visits every
//! entry anyway; bursts and views are rare). Longer names (none in
//! practice: UIDs, nicks and room names are shorter) go to an ordinary
//! ordered map, and walks merge the two in name order. Order, and so
//! every run, is the same as with one ordered map of names; the hash
//! table's own order never leaves this file but through the walks marked
//! unordered, whose callers only count.

use std::collections::btree_map;
use std::collections::BTreeMap;
use std::iter::Peekable;
use std::sync::Arc;

use hashbrown::hash_table::{self, HashTable};

/// A short name's number as two words: as a `u128` it would be aligned
/// to 16 bytes and pad every slot of a table of users by 8.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Number {
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
fn hash(n: Number) -> u64 {
    let p = ((n.hi ^ 0x243f_6a88_85a3_08d3) as u128) * ((n.lo ^ 0x1319_8a2e_0370_7344) as u128);
    (p as u64) ^ ((p >> 64) as u64)
}

/// The number a short name is kept under, or `None` for a long one.
#[inline]
fn short(s: &str) -> Option<Number> {
    let b = s.as_bytes();
    if b.len() > 16 {
        return None;
    }
    let mut buf = [0u8; 16];
    buf[..b.len()].copy_from_slice(b);
    let n = u128::from_be_bytes(buf);
    // A NUL would read as padding. With the padding bytes set to 1, the
    // word-wide zero-byte test finds one among the name's bytes (a
    // `contains(&0)` was a `memchr` call, 1.4 % of `bench users`).
    const ONES: u128 = u128::MAX / 255;
    let padding = u128::MAX.checked_shr(8 * b.len() as u32).unwrap_or(0);
    let m = n | (padding & ONES);
    if m.wrapping_sub(ONES) & !m & (ONES << 7) != 0 {
        return None;
    }
    Some(Number {
        hi: (n >> 64) as u64,
        lo: n as u64,
    })
}

/// One short entry, boxed: the table itself holds one pointer a slot, and
/// a search reads the box only at a slot whose hash tag matches, which is
/// nearly always the entry sought (whose value the caller reads next
/// anyway). Inline, a slot of the user table was 40 bytes, and a table
/// runs between 44 and 87 % full.
#[derive(Clone, Debug)]
struct Entry<V> {
    num: Number,
    name: Arc<str>,
    v: V,
}

#[derive(Clone, Debug)]
pub(crate) struct NameMap<V> {
    short: HashTable<Box<Entry<V>>>,
    long: BTreeMap<Arc<str>, V>,
}

impl<V> Default for NameMap<V> {
    fn default() -> Self {
        NameMap {
            short: HashTable::new(),
            long: BTreeMap::new(),
        }
    }
}

impl<V> NameMap<V> {
    #[cfg(test)]
    pub fn new() -> Self {
        Self::default()
    }

    #[inline]
    fn entry(&self, n: Number) -> Option<&Entry<V>> {
        self.short.find(hash(n), |e| e.num == n).map(|e| &**e)
    }

    pub fn get(&self, s: &str) -> Option<&V> {
        match short(s) {
            Some(n) => self.entry(n).map(|e| &e.v),
            None => self.long.get(s),
        }
    }

    pub fn get_mut(&mut self, s: &str) -> Option<&mut V> {
        match short(s) {
            Some(n) => self
                .short
                .find_mut(hash(n), |e| e.num == n)
                .map(|e| &mut e.v),
            None => self.long.get_mut(s),
        }
    }

    pub fn contains_key(&self, s: &str) -> bool {
        match short(s) {
            Some(n) => self.entry(n).is_some(),
            None => self.long.contains_key(s),
        }
    }

    /// Replaces the value of a name already present (and the name's
    /// `Arc` with this one).
    pub fn insert(&mut self, name: Arc<str>, v: V) -> Option<V> {
        let Some(num) = short(&name) else {
            return self.long.insert(name, v);
        };
        match self
            .short
            .entry(hash(num), |e| e.num == num, |e| hash(e.num))
        {
            hash_table::Entry::Occupied(mut o) => {
                let e = o.get_mut();
                e.name = name;
                Some(std::mem::replace(&mut e.v, v))
            }
            hash_table::Entry::Vacant(slot) => {
                slot.insert(Box::new(Entry { num, name, v }));
                None
            }
        }
    }

    #[cfg(test)]
    pub fn remove(&mut self, s: &str) -> Option<V> {
        self.remove_entry(s).map(|(_, v)| v)
    }

    #[cfg(test)]
    pub fn remove_entry(&mut self, s: &str) -> Option<(Arc<str>, V)> {
        let Some(n) = short(s) else {
            return self.long.remove_entry(s);
        };
        let found = self.short.find_entry(hash(n), |e| e.num == n).ok()?;
        let e = found.remove().0;
        Some((e.name, e.v))
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.short.len() + self.long.len()
    }

    /// In name order.
    pub fn iter(&self) -> Iter<'_, V> {
        let mut short: Vec<&Entry<V>> = self.short.iter().map(|e| &**e).collect();
        short.sort_unstable_by_key(|e| e.num);
        Iter {
            short: short.into_iter().peekable(),
            long: self.long.iter().peekable(),
        }
    }

    /// In name order.
    #[cfg(test)]
    pub fn iter_mut(&mut self) -> IterMut<'_, V> {
        let mut short: Vec<(Number, &Arc<str>, &mut V)> = self
            .short
            .iter_mut()
            .map(|e| {
                let e = &mut **e;
                (e.num, &e.name, &mut e.v)
            })
            .collect();
        short.sort_unstable_by_key(|e| e.0);
        IterMut {
            short: short.into_iter().peekable(),
            long: self.long.iter_mut().peekable(),
        }
    }

    /// Every value in no particular order, for callers that only count
    /// or check (nothing they produce depends on the order).
    #[cfg(test)]
    pub fn values_unordered(&self) -> impl Iterator<Item = &V> {
        self.short.iter().map(|e| &e.v).chain(self.long.values())
    }

    /// Every entry in no particular order (see `values_unordered`).
    #[cfg(any(test, debug_assertions))]
    pub fn iter_unordered(&self) -> impl Iterator<Item = (&Arc<str>, &V)> {
        self.short
            .iter()
            .map(|e| (&e.name, &e.v))
            .chain(self.long.iter())
    }

    #[cfg(test)]
    pub fn keys(&self) -> impl Iterator<Item = &Arc<str>> {
        self.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.iter().map(|(_, v)| v)
    }

    #[cfg(test)]
    pub fn retain(&mut self, mut keep: impl FnMut(&Arc<str>, &mut V) -> bool) {
        self.short.retain(|e| {
            let e = &mut **e;
            keep(&e.name, &mut e.v)
        });
        self.long.retain(|k, v| keep(k, v));
    }
}

/// Whether the next short entry comes before the next long one.
fn short_first(short: Option<&Arc<str>>, long: Option<&Arc<str>>) -> bool {
    match (short, long) {
        (Some(s), Some(l)) => s < l,
        (s, _) => s.is_some(),
    }
}

pub(crate) struct Iter<'a, V> {
    short: Peekable<std::vec::IntoIter<&'a Entry<V>>>,
    long: Peekable<btree_map::Iter<'a, Arc<str>, V>>,
}

impl<'a, V> Iterator for Iter<'a, V> {
    type Item = (&'a Arc<str>, &'a V);
    fn next(&mut self) -> Option<Self::Item> {
        let s = self.short.peek().map(|e| &e.name);
        let l = self.long.peek().map(|(k, _)| *k);
        if short_first(s, l) {
            self.short.next().map(|e| (&e.name, &e.v))
        } else {
            self.long.next()
        }
    }
}

#[cfg(test)]
type SortedMut<'a, V> = std::vec::IntoIter<(Number, &'a Arc<str>, &'a mut V)>;

#[cfg(test)]
pub(crate) struct IterMut<'a, V> {
    short: Peekable<SortedMut<'a, V>>,
    long: Peekable<btree_map::IterMut<'a, Arc<str>, V>>,
}

#[cfg(test)]
impl<'a, V> Iterator for IterMut<'a, V> {
    type Item = (&'a Arc<str>, &'a mut V);
    fn next(&mut self) -> Option<Self::Item> {
        let s = self.short.peek().map(|e| e.1);
        let l = self.long.peek().map(|(k, _)| *k);
        if short_first(s, l) {
            self.short.next().map(|(_, k, v)| (k, v))
        } else {
            self.long.next()
        }
    }
}

impl<V> std::ops::Index<&str> for NameMap<V> {
    type Output = V;
    fn index(&self, s: &str) -> &V {
        self.get(s).expect("no such name")
    }
}

impl<'a, V> IntoIterator for &'a NameMap<V> {
    type Item = (&'a Arc<str>, &'a V);
    type IntoIter = Iter<'a, V>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// A [`NameMap`] that is only searched, never walked: a short name is
/// not kept beside its number at all (its number is the name), and the
/// entries sit in the table's slots (a number and a small value; a box
/// would cost more). The nick index, one entry per user on every server.
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

    pub fn contains_key(&self, s: &str) -> bool {
        self.get(s).is_some()
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

    proptest! {
        /// Any mix of inserts and removes leaves the same contents, in the
        /// same order, as a `BTreeMap` of the names; lookups agree too.
        /// Names share long prefixes, run past 16 bytes and hold NULs,
        /// the cases where the inline prefix cannot decide.
        #[test]
        fn orders_and_finds_as_a_btreemap_does(
            ops in proptest::collection::vec(
                (any::<bool>(), "(0AB-1-|abcdefghijklmnop|x)?[\\x00a-c0-2]{0,20}", any::<u8>()),
                0..200,
            ),
            probes in proptest::collection::vec("(abcdefghijklmnop)?[\\x00a-c0-2]{0,20}", 0..20),
        ) {
            let mut ours = NameMap::new();
            let mut index = NameIndex::default();
            let mut theirs: BTreeMap<Arc<str>, u8> = BTreeMap::new();
            for (add, name, v) in ops {
                if add {
                    let t = theirs.insert(Arc::from(name.as_str()), v);
                    prop_assert_eq!(ours.insert(Arc::from(name.as_str()), v), t);
                    prop_assert_eq!(index.insert(&name, v), t);
                } else {
                    let t = theirs.remove(name.as_str());
                    prop_assert_eq!(ours.remove(&name), t);
                    prop_assert_eq!(index.remove(&name), t);
                }
                prop_assert_eq!(ours.len(), theirs.len());
            }
            let a: Vec<_> = ours.iter().collect();
            let b: Vec<_> = theirs.iter().collect();
            prop_assert_eq!(&a, &b);
            let mut c: Vec<_> = ours.iter_unordered().collect();
            c.sort();
            prop_assert_eq!(&c, &b);
            let mut d: Vec<_> = ours.values_unordered().collect();
            d.sort();
            let mut e: Vec<_> = theirs.values().collect();
            e.sort();
            prop_assert_eq!(d, e);
            let mut f = ours.clone();
            for (k, v) in f.iter_mut() {
                *v = v.wrapping_add(k.len() as u8);
            }
            let g: Vec<_> = f.iter().map(|(k, v)| (k.clone(), *v)).collect();
            let h: Vec<_> = theirs.iter().map(|(k, v)| (k.clone(), v.wrapping_add(k.len() as u8))).collect();
            prop_assert_eq!(g, h);
            for p in probes.iter().chain(theirs.keys().map(|k| k.to_string()).collect::<Vec<_>>().iter()) {
                prop_assert_eq!(ours.get(p), theirs.get(p.as_str()));
                prop_assert_eq!(ours.contains_key(p), theirs.contains_key(p.as_str()));
                prop_assert_eq!(index.get(p), theirs.get(p.as_str()));
                prop_assert_eq!(index.contains_key(p), theirs.contains_key(p.as_str()));
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
        assert!(n("abcdefghijklmnop") > n("abcdefghijklmno"));
        // A NUL would tie with the padding, and a 17th byte not fit.
        assert_eq!((short("a\0"), short("abcdefghijklmnopX")), (None, None));
        assert_eq!((short("\0"), short("abcdefghijklmno\0")), (None, None));
        assert_eq!(short("\0abcdefghijklmno"), None);
        assert!(short("abcdefghijklmnop").is_some() && short("\x01").is_some());
        let mut m = NameMap::new();
        m.insert(Arc::from("abcdefghijklmnopY"), 2);
        m.insert(Arc::from("abcdefghijklmnopX"), 1);
        m.insert(Arc::from("abcdefghijklmnop"), 0);
        assert_eq!(m.values().copied().collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(m.get("abcdefghijklmnopX"), Some(&1));
        assert_eq!(m.get("abcdefghijklmnopZ"), None);
        assert_eq!(m["abcdefghijklmnop"], 0);
        let mut n = m.clone();
        *n.get_mut("abcdefghijklmnopY").unwrap() = 9;
        assert_eq!(
            n.remove_entry("abcdefghijklmnopY"),
            Some((Arc::from("abcdefghijklmnopY"), 9))
        );
        n.retain(|k, _| k.len() == 16);
        assert_eq!(
            n.keys().map(|k| &**k).collect::<Vec<_>>(),
            ["abcdefghijklmnop"]
        );
    }
}
