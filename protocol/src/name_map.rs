//! A map keyed by names whose searches rarely read a name.
//!
//! Every server keeps its users by UID and its nicks by folded nick in
//! ordered maps (ordered, because bursts and views walk them in name
//! order). A `BTreeMap<Arc<str>, _>` compares keys by following each
//! key's pointer to its bytes: about fifteen reads of scattered memory per
//! search at 25,000 users, each likely a cache miss (`memcmp` was 42 % of
//! the `bench users` profile there, and the share grew with the users).
//!
//! Here a name of at most 16 bytes (without NUL bytes, which no name
//! has) is kept under its bytes as a big-endian number, zero-padded:
//! distinct names give distinct numbers, and numbers compare as the names
//! do (a name that ends first is a prefix of the other, and its padding
//! is smaller than any byte). A search compares numbers held in the
//! tree's own nodes, exactly once per node, and never reads a name.
//! Longer names (none in practice: UIDs, nicks and room names are
//! shorter) go to an ordinary map, and iteration merges the two in name
//! order. It costs 16 bytes more per entry. Order, and so every run, is
//! unchanged.

use std::collections::btree_map;
use std::collections::BTreeMap;
use std::iter::Peekable;
use std::sync::Arc;

/// The number a short name is kept under, or `None` for a long one.
#[inline]
fn short(s: &str) -> Option<u128> {
    let b = s.as_bytes();
    if b.len() > 16 || b.contains(&0) {
        return None;
    }
    let mut buf = [0u8; 16];
    buf[..b.len()].copy_from_slice(b);
    Some(u128::from_be_bytes(buf))
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NameMap<V> {
    short: BTreeMap<u128, (Arc<str>, V)>,
    long: BTreeMap<Arc<str>, V>,
}

impl<V> Default for NameMap<V> {
    fn default() -> Self {
        NameMap {
            short: BTreeMap::new(),
            long: BTreeMap::new(),
        }
    }
}

impl<V> NameMap<V> {
    #[cfg(test)]
    pub fn new() -> Self {
        Self::default()
    }

    pub fn get_key_value(&self, s: &str) -> Option<(&Arc<str>, &V)> {
        match short(s) {
            Some(k) => self.short.get(&k).map(|(n, v)| (n, v)),
            None => self.long.get_key_value(s),
        }
    }

    pub fn get(&self, s: &str) -> Option<&V> {
        match short(s) {
            Some(k) => self.short.get(&k).map(|(_, v)| v),
            None => self.long.get(s),
        }
    }

    pub fn get_mut(&mut self, s: &str) -> Option<&mut V> {
        match short(s) {
            Some(k) => self.short.get_mut(&k).map(|(_, v)| v),
            None => self.long.get_mut(s),
        }
    }

    pub fn contains_key(&self, s: &str) -> bool {
        match short(s) {
            Some(k) => self.short.contains_key(&k),
            None => self.long.contains_key(s),
        }
    }

    pub fn insert(&mut self, name: Arc<str>, v: V) -> Option<V> {
        match short(&name) {
            Some(k) => self.short.insert(k, (name, v)).map(|(_, v)| v),
            None => self.long.insert(name, v),
        }
    }

    pub fn remove(&mut self, s: &str) -> Option<V> {
        self.remove_entry(s).map(|(_, v)| v)
    }

    pub fn remove_entry(&mut self, s: &str) -> Option<(Arc<str>, V)> {
        match short(s) {
            Some(k) => self.short.remove(&k),
            None => self.long.remove_entry(s),
        }
    }

    pub fn len(&self) -> usize {
        self.short.len() + self.long.len()
    }

    /// In name order.
    pub fn iter(&self) -> Iter<'_, V> {
        Iter {
            short: self.short.values().peekable(),
            long: self.long.iter().peekable(),
        }
    }

    /// In name order.
    pub fn iter_mut(&mut self) -> IterMut<'_, V> {
        IterMut {
            short: self.short.values_mut().peekable(),
            long: self.long.iter_mut().peekable(),
        }
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
        self.short.retain(|_, (k, v)| keep(k, v));
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
    short: Peekable<btree_map::Values<'a, u128, (Arc<str>, V)>>,
    long: Peekable<btree_map::Iter<'a, Arc<str>, V>>,
}

impl<'a, V> Iterator for Iter<'a, V> {
    type Item = (&'a Arc<str>, &'a V);
    fn next(&mut self) -> Option<Self::Item> {
        let s = self.short.peek().map(|(k, _)| k);
        let l = self.long.peek().map(|(k, _)| *k);
        if short_first(s, l) {
            self.short.next().map(|(k, v)| (k, v))
        } else {
            self.long.next()
        }
    }
}

pub(crate) struct IterMut<'a, V> {
    short: Peekable<btree_map::ValuesMut<'a, u128, (Arc<str>, V)>>,
    long: Peekable<btree_map::IterMut<'a, Arc<str>, V>>,
}

impl<'a, V> Iterator for IterMut<'a, V> {
    type Item = (&'a Arc<str>, &'a mut V);
    fn next(&mut self) -> Option<Self::Item> {
        let s = self.short.peek().map(|(k, _)| k);
        let l = self.long.peek().map(|(k, _)| *k);
        if short_first(s, l) {
            self.short.next().map(|(k, v)| (&*k, v))
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
/// not kept beside its number at all (its number is the name), 16 bytes
/// less per entry. The nick index, one entry per user on every server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NameIndex<V> {
    short: BTreeMap<u128, V>,
    long: BTreeMap<Arc<str>, V>,
}

impl<V> Default for NameIndex<V> {
    fn default() -> Self {
        NameIndex {
            short: BTreeMap::new(),
            long: BTreeMap::new(),
        }
    }
}

impl<V> NameIndex<V> {
    pub fn get(&self, s: &str) -> Option<&V> {
        match short(s) {
            Some(k) => self.short.get(&k),
            None => self.long.get(s),
        }
    }

    pub fn contains_key(&self, s: &str) -> bool {
        self.get(s).is_some()
    }

    /// A short name is not kept at all; a long one is shared (intern.rs).
    pub fn insert(&mut self, name: &str, v: V) -> Option<V> {
        match short(name) {
            Some(k) => self.short.insert(k, v),
            None => self.long.insert(crate::intern::arc(name), v),
        }
    }

    pub fn remove(&mut self, s: &str) -> Option<V> {
        match short(s) {
            Some(k) => self.short.remove(&k),
            None => self.long.remove(s),
        }
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
            prop_assert_eq!(a, b);
            for p in probes.iter().chain(theirs.keys().map(|k| k.to_string()).collect::<Vec<_>>().iter()) {
                prop_assert_eq!(ours.get(p), theirs.get(p.as_str()));
                prop_assert_eq!(ours.contains_key(p), theirs.contains_key(p.as_str()));
                prop_assert_eq!(index.get(p), theirs.get(p.as_str()));
                prop_assert_eq!(index.contains_key(p), theirs.contains_key(p.as_str()));
            }
        }
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
