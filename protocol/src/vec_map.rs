//! An ordered map in one sorted vector, for maps that stay small: a
//! room's members on every server.
//!
//! Every server keeps every room's membership, so at 250,000 users in
//! rooms of 20 the memberships are 25 million entries. In a `BTreeMap` a
//! room of 20 took three nodes of eleven slots (about 45 bytes a member);
//! here it is one block of 24-byte entries. A search compares the same
//! keys a B-tree's would (a binary search over the sorted keys), and
//! walks go in key order, as the B-tree's did, so nothing a server sends
//! changes. An insert or a removal moves the entries after it: linear in
//! the room, which is cheap for the rooms this holds (a join is rare next
//! to the messages a member receives).

use std::borrow::Borrow;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VecMap<K, V>(Vec<(K, V)>);

impl<K, V> Default for VecMap<K, V> {
    fn default() -> Self {
        VecMap(Vec::new())
    }
}

impl<K: Ord, V> VecMap<K, V> {
    pub fn new() -> Self {
        Self::default()
    }

    fn find<Q: Ord + ?Sized>(&self, key: &Q) -> Result<usize, usize>
    where
        K: Borrow<Q>,
    {
        self.0.binary_search_by(|(k, _)| k.borrow().cmp(key))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn get<Q: Ord + ?Sized>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        self.find(key).ok().map(|i| &self.0[i].1)
    }

    pub fn get_key_value<Q: Ord + ?Sized>(&self, key: &Q) -> Option<(&K, &V)>
    where
        K: Borrow<Q>,
    {
        self.find(key).ok().map(|i| (&self.0[i].0, &self.0[i].1))
    }

    pub fn contains_key<Q: Ord + ?Sized>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
    {
        self.find(key).is_ok()
    }

    /// Where `key` is (`Ok`) or would go (`Err`): for a caller that reads
    /// and then writes one entry, one search instead of two (a room join
    /// crosses every server).
    #[inline]
    pub fn position<Q: Ord + ?Sized>(&self, key: &Q) -> Result<usize, usize>
    where
        K: Borrow<Q>,
    {
        self.find(key)
    }

    /// The value at `i`, a place [`VecMap::position`] found.
    pub fn value_at_mut(&mut self, i: usize) -> &mut V {
        &mut self.0[i].1
    }

    /// Inserts at `i`, where [`VecMap::position`] said `key` would go.
    pub fn insert_at(&mut self, i: usize, key: K, value: V) {
        debug_assert!(
            (i == 0 || self.0[i - 1].0 < key) && self.0.get(i).is_none_or(|(k, _)| key < *k),
            "inserted out of order"
        );
        self.0.insert(i, (key, value));
    }

    /// Inserts or replaces; the value replaced, as `BTreeMap::insert`
    /// (which keeps the key it had).
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self.find(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            Err(i) => {
                self.0.insert(i, (key, value));
                None
            }
        }
    }

    pub fn remove<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        let i = self.find(key).ok()?;
        let (_, v) = self.0.remove(i);
        if self.0.is_empty() {
            // An emptied room gives its block back.
            self.0 = Vec::new();
        }
        Some(v)
    }

    /// The keys in order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &K> + ExactSizeIterator + Clone {
        self.0.iter().map(|(k, _)| k)
    }

    /// The keys after `key` (which need not be present), in order.
    pub fn keys_after<Q: Ord + ?Sized>(&self, key: &Q) -> impl Iterator<Item = &K>
    where
        K: Borrow<Q>,
    {
        let from = match self.find(key) {
            Ok(i) => i + 1,
            Err(i) => i,
        };
        self.0[from..].iter().map(|(k, _)| k)
    }

    /// The values in key order.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &V> + ExactSizeIterator + Clone {
        self.0.iter().map(|(_, v)| v)
    }

    /// The entries in key order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&K, &V)> + ExactSizeIterator + Clone {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

impl<K: Ord + Borrow<Q>, Q: Ord + ?Sized, V> std::ops::Index<&Q> for VecMap<K, V> {
    type Output = V;

    /// The value under `key`; panics if there is none, as `BTreeMap`'s.
    fn index(&self, key: &Q) -> &V {
        self.get(key).expect("no entry found for key")
    }
}

impl<'a, K: Ord, V> IntoIterator for &'a VecMap<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter = std::iter::Map<std::slice::Iter<'a, (K, V)>, fn(&'a (K, V)) -> (&'a K, &'a V)>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

#[cfg(test)]
mod tests {
    use super::VecMap;
    use std::collections::BTreeMap;

    proptest::proptest! {
        /// Against a `BTreeMap` under the same inserts (plain, or at the
        /// place a search found) and removals: the
        /// same answers, the same values replaced and removed, the same
        /// order. The keys include long names with a long common start,
        /// prefixes of each other, and NULs.
        #[test]
        fn agrees_with_a_btree_map(ops in proptest::collection::vec((0u8..4, 0u8..48, 0u32..100), 0..200)) {
            let mut m: VecMap<String, u32> = VecMap::new();
            let mut want: BTreeMap<String, u32> = BTreeMap::new();
            for (op, k, v) in ops {
                let long = "abcdefghijklmnopq";
                let key = match k % 4 {
                    0 => format!("k{k}"),
                    1 => format!("{}{k}", &long[..16]),
                    2 => long[..usize::from(k) % 18].to_string(),
                    _ => format!("a{}", "\0".repeat(usize::from(k) % 3)),
                };
                match op {
                    0 => proptest::prop_assert_eq!(m.insert(key.clone(), v), want.insert(key, v)),
                    1 => proptest::prop_assert_eq!(m.remove(key.as_str()), want.remove(key.as_str())),
                    // An insert by the place a search found: what a
                    // room join does with one search.
                    2 => {
                        let had = match m.position(key.as_str()) {
                            Ok(i) => Some(std::mem::replace(m.value_at_mut(i), v)),
                            Err(i) => {
                                m.insert_at(i, key.clone(), v);
                                None
                            }
                        };
                        proptest::prop_assert_eq!(had, want.insert(key, v));
                    }
                    _ => {
                        proptest::prop_assert_eq!(m.get(key.as_str()), want.get(key.as_str()));
                        proptest::prop_assert_eq!(m.contains_key(key.as_str()), want.contains_key(key.as_str()));
                        proptest::prop_assert_eq!(m.get_key_value(key.as_str()), want.get_key_value(key.as_str()));
                        // After a key present or absent.
                        let after = want.range::<str, _>((std::ops::Bound::Excluded(key.as_str()), std::ops::Bound::Unbounded));
                        proptest::prop_assert!(m.keys_after(key.as_str()).eq(after.map(|(k, _)| k)));
                    }
                }
                proptest::prop_assert_eq!(m.len(), want.len());
                proptest::prop_assert_eq!(m.is_empty(), want.is_empty());
                proptest::prop_assert!(m.iter().eq(want.iter()));
                proptest::prop_assert!(m.keys().rev().eq(want.keys().rev()));
                proptest::prop_assert!(m.values().eq(want.values()));
                proptest::prop_assert!((&m).into_iter().eq(&want));
                if let Some((k, v)) = want.iter().next() {
                    proptest::prop_assert_eq!(&m[k.as_str()], v);
                }
            }
        }
    }
}
