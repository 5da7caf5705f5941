//! The rooms a user is in, as a server keeps them for every user it knows.
//!
//! Why not a `BTreeSet`: a user is in a handful of rooms, and a B-tree's
//! first node holds room for eleven, about 190 bytes per user per server:
//! at 100 servers it was the largest single cost of a user. A sorted
//! vector iterates in the same order, so nothing a server sends changes.
//! The first room is held inline (most users are in one): a vector's own
//! allocation was another 32 bytes per user per server.

use std::sync::Arc;

use smallvec::SmallVec;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct RoomSet(SmallVec<[Arc<str>; 1]>);

impl RoomSet {
    /// Adds a room key; false if it was there.
    pub fn insert(&mut self, key: Arc<str>) -> bool {
        match self.0.binary_search(&key) {
            Ok(_) => false,
            Err(at) => {
                self.0.insert(at, key);
                true
            }
        }
    }

    /// Removes a room key; false if it was not there.
    pub fn remove(&mut self, key: &str) -> bool {
        match self.0.binary_search_by(|k| (**k).cmp(key)) {
            Ok(at) => {
                self.0.remove(at);
                true
            }
            Err(_) => false,
        }
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Arc<str>> {
        self.0.iter()
    }
}

impl<'a> IntoIterator for &'a RoomSet {
    type Item = &'a Arc<str>;
    type IntoIter = std::slice::Iter<'a, Arc<str>>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::RoomSet;

    #[test]
    fn keeps_each_key_once_in_sorted_order() {
        let mut s = RoomSet::default();
        assert!(s.insert("#b".into()));
        assert!(s.insert("#a".into()));
        assert!(s.insert("#c".into()));
        assert!(!s.insert("#a".into()), "already there");
        let keys: Vec<&str> = s.iter().map(|k| &**k).collect();
        assert_eq!(keys, ["#a", "#b", "#c"]);
        assert!(s.remove("#b"));
        assert!(!s.remove("#b"), "already gone");
        let keys: Vec<&str> = (&s).into_iter().map(|k| &**k).collect();
        assert_eq!(keys, ["#a", "#c"]);
    }

    #[test]
    fn one_room_takes_no_allocation() {
        let mut s = RoomSet::default();
        s.insert("#a".into());
        assert!(!s.0.spilled());
        s.insert("#b".into());
        assert!(s.0.spilled());
        assert_eq!(std::mem::size_of::<RoomSet>(), 24);
    }
}
