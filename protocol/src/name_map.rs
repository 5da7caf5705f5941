//! A map keyed by names whose searches rarely read a name.
//!
//! Every server keeps its users by UID and its nicks by folded nick in
//! ordered maps (ordered, because bursts and views walk them in name
//! order). A `BTreeMap<Arc<str>, _>` compares keys by following each
//! key's pointer to its bytes: about fifteen reads of scattered memory per
//! search at 25,000 users, each likely a cache miss (`memcmp` was 42 % of
//! the `bench users` profile there, and the share grew with the users).
//!
//! Here each key carries its first 16 bytes inline, as a big-endian
//! number padded with zeros, beside the name. Numbers compare in order
//! of their bytes, so `(prefix, name)` sorts exactly as the names do: two
//! names whose prefixes differ differ within their first 16 bytes (or
//! one is shorter there, and so a prefix of the other), and equal
//! prefixes fall back to the names. A search compares numbers held in the
//! tree's own nodes and reads a name only among keys sharing a prefix,
//! which UIDs, nicks and room names (all shorter than 16 bytes here) never
//! do. It costs 16 bytes more per entry. Order, and so every run, is
//! unchanged.

use std::collections::btree_map;
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

/// The first 16 bytes of `s`, big-endian, zero-padded.
#[inline]
fn prefix(s: &str) -> u128 {
    let b = s.as_bytes();
    let mut buf = [0u8; 16];
    let n = b.len().min(16);
    buf[..n].copy_from_slice(&b[..n]);
    u128::from_be_bytes(buf)
}

/// The smallest name: the lower bound of a prefix's range.
fn empty() -> Arc<str> {
    static EMPTY: OnceLock<Arc<str>> = OnceLock::new();
    EMPTY.get_or_init(|| Arc::from("")).clone()
}

type Key = (u128, Arc<str>);

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NameMap<V> {
    map: BTreeMap<Key, V>,
}

impl<V> Default for NameMap<V> {
    fn default() -> Self {
        NameMap {
            map: BTreeMap::new(),
        }
    }
}

impl<V> NameMap<V> {
    pub fn new() -> Self {
        Self::default()
    }

    /// The keys whose prefix is `s`'s: nearly always one or none.
    #[inline]
    fn same_prefix(&self, s: &str) -> impl Iterator<Item = (&Key, &V)> {
        let p = prefix(s);
        // One descent, to the first key at or after the prefix (a bounded
        // range would make two).
        self.map
            .range((p, empty())..)
            .take_while(move |(k, _)| k.0 == p)
    }

    #[inline]
    fn key_of(&self, s: &str) -> Option<&Key> {
        self.same_prefix(s).map(|(k, _)| k).find(|k| *k.1 == *s)
    }

    pub fn get_key_value(&self, s: &str) -> Option<(&Arc<str>, &V)> {
        self.same_prefix(s)
            .find(|(k, _)| *k.1 == *s)
            .map(|(k, v)| (&k.1, v))
    }

    pub fn get(&self, s: &str) -> Option<&V> {
        self.get_key_value(s).map(|(_, v)| v)
    }

    pub fn get_mut(&mut self, s: &str) -> Option<&mut V> {
        let k = self.key_of(s)?.clone();
        self.map.get_mut(&k)
    }

    pub fn contains_key(&self, s: &str) -> bool {
        self.key_of(s).is_some()
    }

    pub fn insert(&mut self, name: Arc<str>, v: V) -> Option<V> {
        self.map.insert((prefix(&name), name), v)
    }

    pub fn remove(&mut self, s: &str) -> Option<V> {
        self.remove_entry(s).map(|(_, v)| v)
    }

    pub fn remove_entry(&mut self, s: &str) -> Option<(Arc<str>, V)> {
        let k = self.key_of(s)?.clone();
        self.map.remove_entry(&k).map(|((_, n), v)| (n, v))
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// In name order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&Arc<str>, &V)> {
        self.map.iter().map(|(k, v)| (&k.1, v))
    }

    pub fn iter_mut(&mut self) -> impl DoubleEndedIterator<Item = (&Arc<str>, &mut V)> {
        self.map.iter_mut().map(|(k, v)| (&k.1, v))
    }

    #[cfg(test)]
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &Arc<str>> {
        self.map.keys().map(|k| &k.1)
    }

    pub fn values(&self) -> impl DoubleEndedIterator<Item = &V> {
        self.map.values()
    }

    #[cfg(test)]
    pub fn retain(&mut self, mut keep: impl FnMut(&Arc<str>, &mut V) -> bool) {
        self.map.retain(|k, v| keep(&k.1, v));
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
    type IntoIter =
        std::iter::Map<btree_map::Iter<'a, Key, V>, fn((&'a Key, &'a V)) -> (&'a Arc<str>, &'a V)>;
    fn into_iter(self) -> Self::IntoIter {
        self.map.iter().map(|(k, v)| (&k.1, v))
    }
}

impl<V> FromIterator<(Arc<str>, V)> for NameMap<V> {
    fn from_iter<I: IntoIterator<Item = (Arc<str>, V)>>(it: I) -> Self {
        let mut m = NameMap::new();
        for (k, v) in it {
            m.insert(k, v);
        }
        m
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
            let mut theirs: BTreeMap<Arc<str>, u8> = BTreeMap::new();
            for (add, name, v) in ops {
                if add {
                    prop_assert_eq!(ours.insert(Arc::from(name.as_str()), v), theirs.insert(Arc::from(name.as_str()), v));
                } else {
                    prop_assert_eq!(ours.remove(&name), theirs.remove(name.as_str()));
                }
                prop_assert_eq!(ours.len(), theirs.len());
            }
            let a: Vec<_> = ours.iter().collect();
            let b: Vec<_> = theirs.iter().collect();
            prop_assert_eq!(a, b);
            for p in probes.iter().chain(theirs.keys().map(|k| k.to_string()).collect::<Vec<_>>().iter()) {
                prop_assert_eq!(ours.get(p), theirs.get(p.as_str()));
                prop_assert_eq!(ours.contains_key(p), theirs.contains_key(p.as_str()));
            }
        }
    }

    #[test]
    fn the_prefix_orders_as_the_bytes_do() {
        assert!(prefix("") < prefix("a"));
        // A NUL ties with the padding: the names decide.
        assert_eq!(prefix("a"), prefix("a\0"));
        assert!(prefix("ab") < prefix("b"));
        assert!(prefix("0AB-1-9") > prefix("0AB-1-10"));
        assert_eq!(prefix("abcdefghijklmnopX"), prefix("abcdefghijklmnopY"));
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
