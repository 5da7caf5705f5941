//! One shared copy of the names every server keeps about every user.
//!
//! A network of S servers and U users holds S × U user records, and each
//! record names its UID, its nick, its USER fields, its home server's SID
//! and the rooms it is in. Real servers each
//! have their own memory; in one process (the simulator runs every server
//! of a network in one thread) those are S copies of the same strings:
//! with 2,000 users on 100 servers, a seventh of the peak memory (150 MiB
//! before sharing, 129 after). [`arc`] hands out one `Arc<str>` per
//! distinct string per thread instead.
//!
//! This is a cache of immutable strings and nothing else: a server given
//! a shared copy behaves exactly as with a fresh one (nothing compares
//! `Arc` pointers to decide anything), so it cannot change a run, and it
//! holds no time, randomness or I/O. Strings no server holds any longer
//! are dropped whenever the set has doubled since it was last pruned, so
//! it stays within about twice what is alive. Link tags are shared the
//! same way.

use std::cell::RefCell;
use std::hash::{BuildHasher, Hash};
use std::sync::Arc;

use hashbrown::HashTable;

use crate::identity::LinkTag;

/// A fixed seed: the set is never iterated into anything a run shows, but
/// a fixed hasher keeps even its memory use the same run to run. foldhash
/// rather than std's SipHash: every server interns every UID and nick it
/// hears of (25 million times when 100 servers learn 250,000 users).
type Hasher = foldhash::fast::FixedState;

/// One shared copy of each distinct value, pruned as [`arc`] says (a
/// module keeps one per type it shares, in a `thread_local`).
pub(crate) struct Set<T: ?Sized> {
    items: HashTable<Arc<T>>,
    hasher: Hasher,
    /// Size at which to prune next.
    prune_at: usize,
}

/// Below this many items, pruning is not worth a pass.
const MIN_PRUNE: usize = 4096;

impl<T: ?Sized + Hash + Eq> Set<T> {
    pub(crate) fn new() -> Self {
        Set {
            items: HashTable::new(),
            hasher: Hasher::default(),
            prune_at: MIN_PRUNE,
        }
    }

    /// The hash [`Set::get_by`] wants for a value: `T`'s own.
    #[inline(always)]
    pub(crate) fn hash_of(&self, x: impl Hash) -> u64 {
        self.hasher.hash_one(x)
    }

    #[inline(always)]
    pub(crate) fn get(&mut self, x: &T, make: impl FnOnce() -> Arc<T>) -> Arc<T> {
        let hash = self.hash_of(x);
        self.get_by(hash, |a| a == x, make)
    }

    /// The shared copy of the value that has hash `hash` (as `T` hashes)
    /// and satisfies `is`, made by `make` if there is none: a caller
    /// that holds the value in parts looks it up without building it.
    /// Always inline, as `get` and `hash_of`: each caller is one lookup
    /// around them, and whether the compiler inlined them moved with
    /// unrelated changes (0.6 % of the users' timed part).
    #[inline(always)]
    pub(crate) fn get_by(
        &mut self,
        hash: u64,
        is: impl Fn(&T) -> bool,
        make: impl FnOnce() -> Arc<T>,
    ) -> Arc<T> {
        if let Some(a) = self.items.find(hash, |a| is(a)) {
            return a.clone();
        }
        let hasher = &self.hasher;
        if self.items.len() >= self.prune_at {
            // Only this set holds them: nothing uses them any more.
            self.items.retain(|a| Arc::strong_count(a) > 1);
            self.prune_at = (2 * self.items.len()).max(MIN_PRUNE);
        }
        let a = make();
        debug_assert_eq!(hasher.hash_one(&*a), hash, "get_by's hash is not T's");
        self.items
            .insert_unique(hash, a.clone(), |a| hasher.hash_one(&**a));
        a
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.items.len()
    }
}

thread_local! {
    static NAMES: RefCell<Set<str>> = RefCell::new(Set::new());
    static TAGS: RefCell<Set<LinkTag>> = RefCell::new(Set::new());
}

/// The shared copy of `s`.
pub fn arc(s: &str) -> Arc<str> {
    NAMES.with(|n| n.borrow_mut().get(s, || s.into()))
}

/// The shared copy of a link's tag: every server keeps the tag of the
/// last link on its path to each server it knows (server/path.rs), so
/// each link's tag is held once per server.
pub fn tag(t: LinkTag) -> Arc<LinkTag> {
    TAGS.with(|n| n.borrow_mut().get(&t, || Arc::new(t.clone())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_strings_share_one_copy_and_unused_ones_are_pruned() {
        let a = arc("0AB-1-7");
        let b = arc(&String::from("0AB-1-7"));
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(&*a, "0AB-1-7");
        assert!(!Arc::ptr_eq(&a, &arc("0AB-1-8")));
        // Below the pruning size nothing is pruned (a pass per new name
        // would make interning quadratic).
        let size = || NAMES.with(|n| n.borrow().len());
        let before = size();
        for i in 0..10 {
            arc(&format!("kept-{i}"));
        }
        assert_eq!(size(), before + 10);
        // Fill past the pruning size with names nobody keeps: the set does
        // not grow without bound, and a name still held survives.
        let held = arc("held");
        for i in 0..4 * MIN_PRUNE {
            arc(&format!("gone-{i}"));
        }
        assert!(size() <= 2 * MIN_PRUNE + 2, "{}", size());
        assert!(Arc::ptr_eq(&held, &arc("held")));
    }

    #[test]
    fn equal_tags_share_one_copy() {
        let a = tag(LinkTag::new(3, "a", "b", "a"));
        assert!(Arc::ptr_eq(&a, &tag(LinkTag::new(3, "b", "a", "a"))));
        assert!(!Arc::ptr_eq(&a, &tag(LinkTag::new(3, "a", "b", "b"))));
        assert_eq!(*a, LinkTag::new(3, "a", "b", "a"));
    }

    #[test]
    fn after_a_prune_the_set_may_double_before_the_next() {
        let size = || NAMES.with(|n| n.borrow().len());
        // More names held than the first pruning size: that prune finds
        // all alive, and the next waits until the set has doubled.
        let held: Vec<Arc<str>> = (0..MIN_PRUNE + 100)
            .map(|i| arc(&format!("held-{i}")))
            .collect();
        drop(held);
        arc("one more");
        assert_eq!(size(), MIN_PRUNE + 101);
    }
}
