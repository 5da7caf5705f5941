//! The two per-server tables on every forwarded message's path.
//!
//! Both were ordered maps. A server has a handful of links and looks one
//! up (and floods over all of them) for every frame it receives, and it
//! checks each broadcast's origin against a route table as large as the
//! network; a sorted vector and a hash map do those for a fraction of the
//! cost, and neither changes what the server does: the links still come
//! out in id order, and the routes are never iterated.

use super::Link;
use crate::outbox::LinkId;

/// A server's links, kept sorted by id: the order flooding and timeouts
/// visit them in, as with the ordered map it replaces. Ids only grow, so
/// an insertion is nearly always a push.
#[derive(Clone, Debug, Default)]
pub(crate) struct LinkTable {
    entries: Vec<(LinkId, Link)>,
}

impl LinkTable {
    #[inline]
    fn find(&self, id: LinkId) -> Result<usize, usize> {
        self.entries.binary_search_by_key(&id, |e| e.0)
    }

    #[inline]
    pub fn get(&self, id: &LinkId) -> Option<&Link> {
        let i = self.find(*id).ok()?;
        Some(&self.entries[i].1)
    }

    #[inline]
    pub fn get_mut(&mut self, id: &LinkId) -> Option<&mut Link> {
        let i = self.find(*id).ok()?;
        Some(&mut self.entries[i].1)
    }

    pub fn contains_key(&self, id: &LinkId) -> bool {
        self.find(*id).is_ok()
    }

    pub fn insert(&mut self, id: LinkId, link: Link) {
        match self.find(id) {
            Ok(i) => self.entries[i].1 = link,
            Err(i) => self.entries.insert(i, (id, link)),
        }
    }

    pub fn remove(&mut self, id: &LinkId) -> Option<Link> {
        let i = self.find(*id).ok()?;
        Some(self.entries.remove(i).1)
    }

    /// In id order.
    #[inline]
    pub fn iter(&self) -> impl Iterator<Item = (&LinkId, &Link)> {
        self.entries.iter().map(|(id, l)| (id, l))
    }

    pub fn keys(&self) -> impl Iterator<Item = &LinkId> {
        self.entries.iter().map(|(id, _)| id)
    }

    pub fn values(&self) -> impl Iterator<Item = &Link> {
        self.entries.iter().map(|(_, l)| l)
    }
}

impl std::ops::Index<&LinkId> for LinkTable {
    type Output = Link;

    fn index(&self, id: &LinkId) -> &Link {
        self.get(id).expect("no such link")
    }
}

impl<'a> IntoIterator for &'a LinkTable {
    type Item = (&'a LinkId, &'a Link);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (LinkId, Link)>,
        fn(&'a (LinkId, Link)) -> (&'a LinkId, &'a Link),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter().map(|(id, l)| (id, l))
    }
}

impl<'a> IntoIterator for &'a mut LinkTable {
    type Item = (&'a LinkId, &'a mut Link);
    type IntoIter = std::iter::Map<
        std::slice::IterMut<'a, (LinkId, Link)>,
        fn(&'a mut (LinkId, Link)) -> (&'a LinkId, &'a mut Link),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter_mut().map(|(id, l)| (&*id, l))
    }
}

/// The route to each known server, by SID code (see `sid_code`): an open
/// addressing hash table with linear probing. Only ever looked up by key,
/// so where entries sit never shows outside. Every server holds one entry
/// per server in the network, so a slot is 8 bytes: the link id in 32
/// bits, with the rare id that does not fit (a server would have to open
/// four billion links) kept aside.
#[derive(Clone, Debug)]
pub(crate) struct Routes {
    /// [`FREE`] marks a free slot. The length is a power of two, at least
    /// twice the entries, so a probe always ends.
    slots: Vec<(u32, u32)>,
    /// 64 minus log2 of the length: what a key's hash is shifted down by.
    shift: u32,
    len: usize,
    /// The links of slots holding [`WIDE`], by key.
    wide: std::collections::BTreeMap<u32, LinkId>,
}

/// No key is this: keys are three bytes.
const FREE: u32 = u32::MAX;

/// A slot's link that is in `wide` instead: no narrow link id is this.
const WIDE: u32 = u32::MAX;

const MIN_SLOTS: usize = 16;

impl Default for Routes {
    fn default() -> Self {
        Routes {
            slots: vec![(FREE, 0); MIN_SLOTS],
            shift: 64 - MIN_SLOTS.trailing_zeros(),
            len: 0,
            wide: Default::default(),
        }
    }
}

impl Routes {
    /// The slot a key's probe sequence starts at. A SID code is three
    /// bytes of a `u32`; a multiply spreads them over the high bits of the
    /// product, which the index is taken from.
    #[inline]
    fn home(&self, key: u32) -> usize {
        (u64::from(key).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize
    }

    /// The slot holding `key`, or the free slot where it would go.
    #[inline(always)]
    fn probe(&self, key: u32) -> usize {
        let mask = self.slots.len() - 1;
        let mut i = self.home(key);
        while self.slots[i].0 != key && self.slots[i].0 != FREE {
            i = (i + 1) & mask;
        }
        i
    }

    /// Always inline: the direction checker's probe, in the simulator's
    /// delivery, called it out of line at every hop.
    #[inline(always)]
    pub fn get(&self, key: u32) -> Option<LinkId> {
        let (k, via) = self.slots[self.probe(key)];
        if k != key {
            None
        } else if via != WIDE {
            Some(LinkId(u64::from(via)))
        } else {
            self.get_wide(key)
        }
    }

    /// Out of line: every lookup of every forwarded frame inlines `get`.
    #[cold]
    #[inline(never)]
    fn get_wide(&self, key: u32) -> Option<LinkId> {
        self.wide.get(&key).copied()
    }

    pub fn insert(&mut self, key: u32, via: LinkId) {
        assert!(key < 1 << 24, "SID codes are three bytes");
        // At most half full: probe sequences stay short.
        if 2 * (self.len + 1) > self.slots.len() {
            self.grow();
        }
        let i = self.probe(key);
        if self.slots[i].0 == FREE {
            self.len += 1;
        }
        let narrow = match u32::try_from(via.0) {
            Ok(v) if v != WIDE => {
                self.wide.remove(&key);
                v
            }
            _ => {
                self.wide.insert(key, via);
                WIDE
            }
        };
        self.slots[i] = (key, narrow);
    }

    pub fn remove(&mut self, key: u32) -> Option<LinkId> {
        let via = self.get(key)?;
        self.wide.remove(&key);
        let mask = self.slots.len() - 1;
        let mut hole = self.probe(key);
        self.slots[hole].0 = FREE;
        self.len -= 1;
        // Close the gap: move back every entry of the run after the hole
        // whose probe sequence passes over the hole, so that no lookup
        // stops at it early.
        let mut i = hole;
        loop {
            i = (i + 1) & mask;
            let (k, _) = self.slots[i];
            if k == FREE {
                return Some(via);
            }
            let home = self.home(k);
            // Distance from home to `i`, and from `hole` to `i`, cyclically.
            if (i.wrapping_sub(home) & mask) >= (i.wrapping_sub(hole) & mask) {
                self.slots[hole] = self.slots[i];
                self.slots[i].0 = FREE;
                hole = i;
            }
        }
    }

    fn grow(&mut self) {
        let size = 2 * self.slots.len();
        let old = std::mem::replace(&mut self.slots, vec![(FREE, 0); size]);
        self.shift = 64 - size.trailing_zeros();
        for (k, v) in old {
            if k != FREE {
                // Keys are distinct: each goes to the first free slot of
                // its probe, with its link as it was (wide or not).
                let i = self.probe(k);
                self.slots[i] = (k, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    proptest! {
        /// Any mix of inserts, overwrites and removes leaves the table
        /// answering like an ordered map; keys are drawn from a small set
        /// (and clustered codes) so that probe runs collide and wrap.
        #[test]
        fn routes_match_a_map(
            ops in prop::collection::vec(
                (
                    0u8..3,
                    prop_oneof![0u32..40, 0x30_30_30u32..0x30_30_60],
                    // Link ids that fit 32 bits, and some that do not.
                    prop_oneof![4 => 0u64..5, 1 => 0xFFFF_FFFDu64..0x1_0000_0002],
                ),
                0..400,
            ),
        ) {
            let mut t = Routes::default();
            let mut m = BTreeMap::new();
            for (op, key, via) in ops {
                match op {
                    0 | 1 => {
                        t.insert(key, LinkId(via));
                        m.insert(key, LinkId(via));
                    }
                    _ => prop_assert_eq!(t.remove(key), m.remove(&key)),
                }
                prop_assert_eq!(t.len, m.len());
                // Only ids that do not fit 32 bits go aside.
                let wide = m.values().filter(|v| v.0 >= u64::from(WIDE)).count();
                prop_assert_eq!(t.wide.len(), wide);
                for k in (0..40).chain(0x30_30_30..0x30_30_60) {
                    prop_assert_eq!(t.get(k), m.get(&k).copied());
                }
            }
        }
    }

    /// The table is never more than half full, and doubles only when an
    /// insert would take it past half (mutation survivors: growing one
    /// entry early, or letting it fill to all but two slots, answered the
    /// same, with longer probes or twice the memory).
    #[test]
    fn routes_grow_when_an_insert_would_pass_half_full() {
        let mut r = Routes::default();
        for k in 0..8 {
            r.insert(k, LinkId(1));
        }
        assert_eq!((r.len, r.slots.len()), (8, 16), "exactly half full");
        r.insert(8, LinkId(1));
        assert_eq!((r.len, r.slots.len()), (9, 32));
    }
}
