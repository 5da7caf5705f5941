//! A client's rooms by folded name.
//!
//! Why not a `BTreeMap`: a client is in a few rooms, and a B-tree's first
//! node holds eleven room states, 2.7 KiB per client however few it
//! joins; at 250,000 simulated users that alone was most of a gigabyte.
//! A vector sorted by key finds a room in a few compares and iterates in
//! the same order, so nothing a client sends changes.
//!
//! The keys are the shared copies of the names (intern.rs): the members of
//! a room compare its one copy at every delivery, which stays in the
//! caches, where a copy of each client's own was a cache miss each time.

use std::sync::Arc;

#[derive(Clone, Debug)]
pub(crate) struct RoomMap<V>(Vec<(Arc<str>, V)>);

impl<V> Default for RoomMap<V> {
    fn default() -> Self {
        RoomMap(Vec::new())
    }
}

impl<V> RoomMap<V> {
    #[inline]
    fn find(&self, key: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| (**k).cmp(key))
    }

    pub fn get(&self, key: &str) -> Option<&V> {
        self.find(key).ok().map(|i| &self.0[i].1)
    }

    /// Inline, as `DeliveryLog::push` and for the same reason.
    #[inline]
    pub fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        self.find(key).ok().map(|i| &mut self.0[i].1)
    }

    /// The room under `key`, made by `make` if there is none.
    pub fn get_or_insert_with(&mut self, key: &str, make: impl FnOnce() -> V) -> &mut V {
        let i = match self.find(key) {
            Ok(i) => i,
            Err(i) => {
                if self.0.capacity() == 0 {
                    self.0.reserve_exact(1);
                }
                self.0.insert(i, (crate::intern::arc(key), make()));
                i
            }
        };
        &mut self.0[i].1
    }

    pub fn keys(&self) -> impl Iterator<Item = &Arc<str>> {
        self.0.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.0.iter().map(|(_, v)| v)
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.0.iter_mut().map(|(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::RoomMap;

    #[test]
    fn finds_inserts_once_and_iterates_in_key_order() {
        let mut m: RoomMap<u32> = RoomMap::default();
        *m.get_or_insert_with("#b", || 2) += 10;
        m.get_or_insert_with("#a", || 1);
        m.get_or_insert_with("#c", || 3);
        assert_eq!(
            *m.get_or_insert_with("#b", || 99),
            12,
            "kept, not made again"
        );
        assert_eq!(m.get("#a"), Some(&1));
        assert_eq!(m.get("#d"), None);
        *m.get_mut("#c").unwrap() += 1;
        assert_eq!(
            m.keys().map(|k| &**k).collect::<Vec<_>>(),
            ["#a", "#b", "#c"]
        );
        for v in m.values_mut() {
            *v += 100;
        }
        assert_eq!(m.values().copied().collect::<Vec<_>>(), [101, 112, 104]);
        // Every client's key for a room is the one shared copy.
        let a = m.keys().next().unwrap();
        assert!(std::sync::Arc::ptr_eq(a, &crate::intern::arc("#a")));
    }
}
