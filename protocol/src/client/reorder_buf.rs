//! A room's messages that arrived ahead of a gap, kept in number order
//! until the gap closes.
//!
//! Why not a `BTreeMap`: a room's numbers come mostly in order, a few
//! ahead of their turn at a time (two senders' messages reach the
//! sequencer in another order than they were numbered), so the buffer
//! holds a handful of entries and is emptied from the front. A B-tree
//! allocated a node of room for eleven for the first one, and its insert
//! and remove were about a tenth of what one more member of a 64-member
//! room cost a delivery (docs/performance.md). Here an insert is nearly
//! always a push at the back, and a remove a pop at the front.

use std::collections::VecDeque;

/// Entries by number, ascending, one per number.
#[derive(Clone, Debug)]
pub(crate) struct ReorderBuf<T> {
    items: VecDeque<(u64, T)>,
}

impl<T> Default for ReorderBuf<T> {
    fn default() -> Self {
        ReorderBuf {
            items: VecDeque::new(),
        }
    }
}

/// Room kept when the buffer empties: enough for the usual handful, and
/// no more held by each of a quarter of a million clients after a burst.
const KEEP: usize = 8;

impl<T> ReorderBuf<T> {
    /// Keeps `e` as entry `n`, replacing an entry `n` already there (a
    /// second copy of a message: the later one is kept, as a map would).
    pub(crate) fn insert(&mut self, n: u64, e: T) {
        match self.items.back() {
            Some(&(last, _)) if last >= n => match self.find(n) {
                Ok(i) => self.items[i].1 = e,
                Err(i) => self.items.insert(i, (n, e)),
            },
            _ => self.items.push_back((n, e)),
        }
    }

    /// Takes entry `n` out, if there is one.
    pub(crate) fn remove(&mut self, n: u64) -> Option<T> {
        let e = if self.items.front().is_some_and(|x| x.0 == n) {
            self.items.pop_front()
        } else {
            let i = self.find(n).ok()?;
            self.items.remove(i)
        };
        if self.items.is_empty() && self.items.capacity() > KEEP {
            self.items = VecDeque::new();
        }
        e.map(|(_, e)| e)
    }

    pub(crate) fn contains(&self, n: u64) -> bool {
        self.find(n).is_ok()
    }

    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub(crate) fn clear(&mut self) {
        self.items = VecDeque::new();
    }

    /// Every entry, in number order, leaving the buffer empty.
    pub(crate) fn take_all(&mut self) -> std::collections::vec_deque::IntoIter<(u64, T)> {
        std::mem::take(&mut self.items).into_iter()
    }

    fn find(&self, n: u64) -> Result<usize, usize> {
        self.items.binary_search_by_key(&n, |x| x.0)
    }
}

#[cfg(test)]
mod tests {
    use super::ReorderBuf;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    #[test]
    fn entries_come_out_in_number_order_and_a_second_copy_replaces_the_first() {
        let mut b = ReorderBuf::default();
        for (n, e) in [(5, "e"), (3, "c"), (9, "i"), (4, "d"), (3, "c2")] {
            b.insert(n, e);
        }
        assert_eq!(b.len(), 4);
        assert!(b.contains(4) && !b.contains(6));
        assert_eq!(b.remove(4), Some("d"), "out of the middle");
        assert_eq!(b.remove(4), None);
        assert_eq!(
            b.take_all().collect::<Vec<_>>(),
            [(3, "c2"), (5, "e"), (9, "i")]
        );
        assert!(b.is_empty());
        // A room left: whatever waited is dropped.
        b.insert(7, "g");
        b.clear();
        assert!(b.is_empty() && !b.contains(7));
    }

    #[test]
    fn an_emptied_buffer_gives_back_what_a_burst_grew() {
        let mut b = ReorderBuf::default();
        for n in 1..=100 {
            b.insert(n, ());
        }
        for n in 1..=100 {
            assert_eq!(b.remove(n), Some(()));
        }
        assert!(b.is_empty());
        assert_eq!(b.items.capacity(), 0);
    }

    proptest! {
        /// The same entries as a `BTreeMap` given the same inserts and
        /// removes, in the same order: the map it replaces.
        #[test]
        fn matches_an_ordered_map(ops in prop::collection::vec((0u8..3, 0u64..40, 0u32..1000), 0..200)) {
            let mut b = ReorderBuf::default();
            let mut m = BTreeMap::new();
            for (op, n, v) in ops {
                match op {
                    0 | 1 => {
                        b.insert(n, v);
                        m.insert(n, v);
                    }
                    _ => prop_assert_eq!(b.remove(n), m.remove(&n)),
                }
                prop_assert_eq!(b.len(), m.len());
                prop_assert_eq!(b.contains(n), m.contains_key(&n));
            }
            prop_assert_eq!(b.take_all().collect::<Vec<_>>(), m.into_iter().collect::<Vec<_>>());
        }
    }
}
