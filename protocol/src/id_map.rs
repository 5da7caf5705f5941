//! A map keyed by names, its values in a vector indexed by an id that one
//! table per network gives each name.
//!
//! Every server holds a record of every user, so at 250,000 users and 100
//! servers the users' tables are 25 million records, and nearly every
//! event searches one (each room message looks its sender up at every
//! server it crosses). A hash table of its own per server (as
//! `name_map.rs` kept them) costs a cache miss for the table's slot and
//! another for the boxed record behind it. Here the search for a name's id goes to one table shared by
//! the network's servers ([`Ids`]), which the servers a message crosses
//! one after another keep warm in the caches, and the record is then one
//! index away. A short name (every UID, room name and nick in practice)
//! is found by its number, as in name_map.rs, without reading its bytes.
//! Users, rooms and the nick index (every nick change and quit crosses
//! every server) are kept this way, each under ids of its own table.
//!
//! An id is given while some map holds the name and taken back when none
//! does (the last map to remove it gives it up), so the ids, and with them
//! each server's vector, grow with the names held, not with every name
//! ever met. Iteration in name order sorts the entries by name, the order
//! an ordered map of names gives; the other order (by id) never leaves
//! this file but through the walks marked unordered, whose callers only
//! count. Nothing compares ids to decide anything. Each slot keeps its
//! name's `Arc` beside the value (the shared table holds its copy behind
//! a `RefCell`, which cannot lend it out), 16 bytes a record.

use std::cell::RefCell;
use std::hash::BuildHasher;
use std::rc::Rc;
use std::sync::Arc;

use hashbrown::HashTable;

use crate::name_map::{hash, short, Number};

/// Ids for the names the maps of one network hold.
#[derive(Default)]
pub struct Ids {
    inner: RefCell<Inner>,
    hasher: foldhash::fast::FixedState,
}

#[derive(Default)]
struct Inner {
    /// The ids of short names under their numbers (name_map.rs): a search
    /// hashes one number and compares in the slot, reading no name. At
    /// 250,000 users the names sit behind pointers all over the heap, and
    /// following one cost a cache miss on nearly every search.
    short: HashTable<(Number, u32)>,
    /// The ids of longer names, found by the names kept in `names`.
    long: HashTable<u32>,
    /// By id: the name and how many maps hold it (0: the id is free).
    names: Vec<(Option<Arc<str>>, u32)>,
    free: Vec<u32>,
}

impl std::fmt::Debug for Ids {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let i = self.inner.borrow();
        write!(f, "Ids({} held)", i.names.len() - i.free.len())
    }
}

impl Ids {
    /// The id `name` has, if some map holds it.
    #[inline]
    pub(crate) fn id(&self, name: &str) -> Option<u32> {
        let i = self.inner.borrow();
        match short(name) {
            Some(n) => i.short.find(hash(n), |e| e.0 == n).map(|e| e.1),
            None => {
                let h = self.hasher.hash_one(name);
                let names = &i.names;
                i.long
                    .find(h, |&id| names[id as usize].0.as_deref() == Some(name))
                    .copied()
            }
        }
    }

    /// The id of `name` for one more map that holds it.
    fn hold(&self, name: &Arc<str>) -> u32 {
        if let Some(id) = self.id(name) {
            self.inner.borrow_mut().names[id as usize].1 += 1;
            return id;
        }
        let mut guard = self.inner.borrow_mut();
        let Inner {
            short: shorts,
            long,
            names,
            free,
        } = &mut *guard;
        let id = match free.pop() {
            Some(id) => {
                names[id as usize] = (Some(name.clone()), 1);
                id
            }
            None => {
                names.push((Some(name.clone()), 1));
                u32::try_from(names.len() - 1).expect("fewer than 2^32 names held")
            }
        };
        match short(name) {
            Some(n) => {
                shorts.insert_unique(hash(n), (n, id), |e| hash(e.0));
            }
            None => {
                let hasher = &self.hasher;
                long.insert_unique(hasher.hash_one(&**name), id, |&j| {
                    hasher.hash_one(names[j as usize].0.as_deref().unwrap_or_default())
                });
            }
        }
        id
    }

    /// One more map holds the name with id `id`, which some map holds:
    /// its shared copy.
    fn hold_id(&self, id: u32) -> Arc<str> {
        let mut i = self.inner.borrow_mut();
        let slot = &mut i.names[id as usize];
        slot.1 += 1;
        slot.0.clone().expect("a held id has its name")
    }

    /// One more map holds `name`, found under `id` by an earlier search:
    /// false, holding nothing, if the id has since been given up (and
    /// perhaps given to another name).
    fn hold_found(&self, id: u32, name: &Arc<str>) -> bool {
        let mut i = self.inner.borrow_mut();
        match i.names.get_mut(id as usize) {
            Some((Some(held), count)) if Arc::ptr_eq(held, name) || **held == **name => {
                *count += 1;
                true
            }
            _ => false,
        }
    }

    /// The shared copy of the name with id `id`, if some map holds it.
    fn name_of(&self, id: u32) -> Option<Arc<str>> {
        self.inner.borrow().names.get(id as usize)?.0.clone()
    }

    /// One map fewer holds the name with id `id`.
    fn release(&self, id: u32) {
        let mut guard = self.inner.borrow_mut();
        let i = &mut *guard;
        let slot = &mut i.names[id as usize];
        slot.1 -= 1;
        if slot.1 > 0 {
            return;
        }
        let name = slot.0.take().expect("a held id has its name");
        match short(&name) {
            Some(n) => {
                if let Ok(e) = i.short.find_entry(hash(n), |e| e.1 == id) {
                    e.remove();
                }
            }
            None => {
                if let Ok(e) = i
                    .long
                    .find_entry(self.hasher.hash_one(&*name), |&j| j == id)
                {
                    e.remove();
                }
            }
        }
        i.free.push(id);
    }

    /// How many ids are given out (held or free): a map's vector needs
    /// no more slots.
    fn span(&self) -> usize {
        self.inner.borrow().names.len()
    }
}

/// Where a name stands for one map, by one search of the shared table:
/// what a caller that reads and then maybe inserts keeps between the two.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Found {
    /// This map holds it under this id.
    Here(u32),
    /// Another map of the table holds it under this id; this one does not.
    Elsewhere(u32),
    /// No map holds it.
    Nowhere,
}

#[derive(Debug)]
pub(crate) struct IdMap<V> {
    ids: Rc<Ids>,
    /// By id: the name (as the caller gave it) and the value.
    slots: Vec<Option<Slot<V>>>,
    len: usize,
}

/// A record with its name first, then the value, whose hot fields come
/// first (`repr(C)`): a search reads whether the slot is taken (the name's
/// pointer) and then the value's first fields, next to it. (Aligned to
/// cache lines as well, the slots cost twice the memory at 25,000 users,
/// 924 -> 1,818 MiB: over-aligned vectors grow by a fresh allocation and a
/// copy, and the blocks they leave are not reused, for 1 % fewer misses.)
#[derive(Clone, Debug)]
#[repr(C)]
struct Slot<V> {
    name: Arc<str>,
    value: V,
}

impl<V> Default for IdMap<V> {
    fn default() -> Self {
        IdMap::new(Rc::default())
    }
}

impl<V: Clone> Clone for IdMap<V> {
    fn clone(&self) -> Self {
        // The copy holds its names too.
        for (id, s) in self.slots.iter().enumerate() {
            if let Some(Slot { name, .. }) = s {
                let held = self.ids.hold(name);
                debug_assert_eq!(held as usize, id);
            }
        }
        IdMap {
            ids: self.ids.clone(),
            slots: self.slots.clone(),
            len: self.len,
        }
    }
}

impl<V> Drop for IdMap<V> {
    fn drop(&mut self) {
        for (id, s) in self.slots.iter().enumerate() {
            if s.is_some() {
                self.ids.release(id as u32);
            }
        }
    }
}

impl<V> IdMap<V> {
    pub fn new(ids: Rc<Ids>) -> Self {
        IdMap {
            ids,
            slots: Vec::new(),
            len: 0,
        }
    }

    #[inline]
    fn slot(&self, s: &str) -> Option<&Slot<V>> {
        let id = self.ids.id(s)?;
        self.slots.get(id as usize)?.as_ref()
    }

    /// Where `s` stands, for [`IdMap::at`], [`IdMap::at_mut`],
    /// [`IdMap::name_of`] and [`IdMap::insert_found`]: a UID new to a
    /// server (every server a registration crosses after the first) was
    /// searched for four times, to test, to take the other servers' copy
    /// of its name and twice to insert it.
    #[inline]
    pub fn find(&self, s: &str) -> Found {
        match self.ids.id(s) {
            None => Found::Nowhere,
            Some(id) if matches!(self.slots.get(id as usize), Some(Some(_))) => Found::Here(id),
            Some(id) => Found::Elsewhere(id),
        }
    }

    /// The entry [`IdMap::find`] found here, if the map has not changed
    /// since.
    pub fn at(&self, id: u32) -> Option<(&Arc<str>, &V)> {
        let e = self.slots.get(id as usize)?.as_ref()?;
        Some((&e.name, &e.value))
    }

    /// [`IdMap::at`], to change.
    pub fn at_mut(&mut self, id: u32) -> Option<(&Arc<str>, &mut V)> {
        let e = self.slots.get_mut(id as usize)?.as_mut()?;
        Some((&e.name, &mut e.value))
    }

    /// The shared copy of the name [`IdMap::find`] found elsewhere, if
    /// some map still holds it.
    pub fn name_of(&self, id: u32) -> Option<Arc<str>> {
        self.ids.name_of(id)
    }

    /// [`IdMap::insert`] of a name [`IdMap::find`] found: no search when
    /// it was found elsewhere and that id still holds it (the map may
    /// have changed in between; a stale find costs the searches saved).
    pub fn insert_found(&mut self, found: Found, name: Arc<str>, v: V) -> Option<V> {
        if let Found::Elsewhere(id) = found {
            if matches!(self.slots.get(id as usize), None | Some(None))
                && self.ids.hold_found(id, &name)
            {
                self.put(id as usize, name, v);
                return None;
            }
        }
        self.insert(name, v)
    }

    pub fn get_key_value(&self, s: &str) -> Option<(&Arc<str>, &V)> {
        self.slot(s).map(|e| (&e.name, &e.value))
    }

    pub fn get(&self, s: &str) -> Option<&V> {
        self.slot(s).map(|e| &e.value)
    }

    pub fn get_mut(&mut self, s: &str) -> Option<&mut V> {
        let id = self.ids.id(s)?;
        self.slots
            .get_mut(id as usize)?
            .as_mut()
            .map(|e| &mut e.value)
    }

    pub fn contains_key(&self, s: &str) -> bool {
        self.slot(s).is_some()
    }

    /// Replaces the value of a name already present (and the name's `Arc`
    /// with this one).
    pub fn insert(&mut self, name: Arc<str>, v: V) -> Option<V> {
        if let Some(id) = self.ids.id(&name) {
            if let Some(Some(slot)) = self.slots.get_mut(id as usize) {
                slot.name = name;
                return Some(std::mem::replace(&mut slot.value, v));
            }
        }
        let id = self.ids.hold(&name) as usize;
        self.put(id, name, v);
        None
    }

    /// [`IdMap::insert`] for a caller without the name's `Arc`: the slot
    /// keeps the shared table's copy when another map holds the name
    /// (the servers a nick change crosses after the first), else one
    /// shared by intern.rs. A name already present keeps its copy.
    pub fn insert_str(&mut self, name: &str, v: V) -> Option<V> {
        let Some(id) = self.ids.id(name) else {
            return self.insert(crate::intern::arc(name), v);
        };
        if let Some(Some(slot)) = self.slots.get_mut(id as usize) {
            return Some(std::mem::replace(&mut slot.value, v));
        }
        let name = self.ids.hold_id(id);
        self.put(id as usize, name, v);
        None
    }

    /// Fills the free slot `id`, which the shared table holds for us.
    fn put(&mut self, id: usize, name: Arc<str>, v: V) {
        if self.slots.len() <= id {
            // To every id given out, and at least a quarter more: a map
            // grows with the network's names, nearly always one at a time.
            let want = self.ids.span().max(id + 1).max(self.slots.len() * 5 / 4);
            self.slots.reserve_exact(want - self.slots.len());
            self.slots.resize_with(want, || None);
        }
        self.slots[id] = Some(Slot { name, value: v });
        self.len += 1;
    }

    pub fn remove(&mut self, s: &str) -> Option<V> {
        self.remove_entry(s).map(|(_, v)| v)
    }

    pub fn remove_entry(&mut self, s: &str) -> Option<(Arc<str>, V)> {
        let id = self.ids.id(s)?;
        let e = self.slots.get_mut(id as usize)?.take()?;
        self.len -= 1;
        self.ids.release(id);
        Some((e.name, e.value))
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether this map's ids come from `ids`.
    #[cfg(test)]
    pub(crate) fn shares(&self, ids: &Rc<Ids>) -> bool {
        Rc::ptr_eq(&self.ids, ids)
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// In name order.
    pub fn iter(&self) -> impl Iterator<Item = (&Arc<str>, &V)> {
        let mut v: Vec<(&Arc<str>, &V)> = self.iter_unordered().collect();
        v.sort_unstable_by(|a, b| a.0.cmp(b.0));
        v.into_iter()
    }

    /// In name order.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&Arc<str>, &mut V)> {
        let mut v: Vec<(&Arc<str>, &mut V)> = self
            .slots
            .iter_mut()
            .flatten()
            .map(|e| (&e.name, &mut e.value))
            .collect();
        v.sort_unstable_by(|a, b| a.0.cmp(b.0));
        v.into_iter()
    }

    /// In name order.
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.iter().map(|(_, v)| v)
    }

    /// Every value in no particular order, for callers that only count
    /// or check (nothing they produce depends on the order).
    pub fn values_unordered(&self) -> impl Iterator<Item = &V> {
        self.slots.iter().flatten().map(|e| &e.value)
    }

    /// Every entry in no particular order (see `values_unordered`).
    pub fn iter_unordered(&self) -> impl Iterator<Item = (&Arc<str>, &V)> {
        self.slots.iter().flatten().map(|e| (&e.name, &e.value))
    }
}

impl<V> std::ops::Index<&str> for IdMap<V> {
    type Output = V;
    fn index(&self, s: &str) -> &V {
        self.get(s).expect("no entry for this name")
    }
}

impl<'a, V> IntoIterator for &'a IdMap<V> {
    type Item = (&'a Arc<str>, &'a V);
    type IntoIter = std::vec::IntoIter<(&'a Arc<str>, &'a V)>;
    fn into_iter(self) -> Self::IntoIter {
        let mut v: Vec<(&Arc<str>, &V)> = self.iter_unordered().collect();
        v.sort_unstable_by(|a, b| a.0.cmp(b.0));
        v.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    /// A slot is aligned as its name is, no more: a hundred servers'
    /// vectors of over-aligned slots, growing in step, once doubled the
    /// 250,000-user run's memory (see `Slot`).
    #[test]
    fn slots_are_not_over_aligned() {
        assert_eq!(
            std::mem::align_of::<Slot<u64>>(),
            std::mem::align_of::<Arc<str>>()
        );
        assert_eq!(std::mem::align_of::<Option<Slot<[u64; 9]>>>(), 8);
    }

    proptest! {
        /// Two maps sharing ids behave as two ordered maps of names, and
        /// the ids held are those some map holds, short names and long,
        /// whether a name comes with its `Arc` or as a `&str` (which the
        /// other map may hold already).
        #[test]
        fn maps_sharing_ids_read_as_ordered_maps(
            ops in proptest::collection::vec((any::<bool>(), 0u8..4, 0u8..10, 0u32..5), 0..200)
        ) {
            let ids = Rc::new(Ids::default());
            let mut maps = [IdMap::new(ids.clone()), IdMap::new(ids.clone())];
            let mut models = [BTreeMap::new(), BTreeMap::new()];
            for (which, put, name, v) in ops {
                let (m, model) = (&mut maps[which as usize], &mut models[which as usize]);
                // Short names, and names the short table cannot hold
                // (past 16 bytes, or with a NUL) found by their text.
                let name: Arc<str> = match name % 4 {
                    0 => format!("a name longer than sixteen bytes {name}"),
                    1 => format!("u\0{name}"),
                    _ => format!("u{name}"),
                }
                .into();
                match put {
                    0 => prop_assert_eq!(m.remove(&name), model.remove(&name)),
                    1 => prop_assert_eq!(m.insert(name.clone(), v), model.insert(name, v)),
                    2 => prop_assert_eq!(m.insert_str(&name, v), model.insert(name, v)),
                    _ => {
                        // Found, then inserted with the copy another map
                        // holds, as a UID new to a server is.
                        let found = m.find(&name);
                        let in_other = models[1 - which as usize].contains_key(&name);
                        let model = &mut models[which as usize];
                        let m = &mut maps[which as usize];
                        let want = match (model.contains_key(&name), in_other) {
                            (true, _) => Found::Here(ids.id(&name).expect("held")),
                            (false, true) => Found::Elsewhere(ids.id(&name).expect("held")),
                            (false, false) => Found::Nowhere,
                        };
                        prop_assert_eq!(found, want);
                        if let Found::Here(id) = found {
                            prop_assert_eq!(m.at_mut(id).map(|(k, v)| (k.clone(), *v)),
                                model.get_key_value(&name).map(|(k, v)| (k.clone(), *v)));
                        }
                        let copy = match found {
                            Found::Elsewhere(id) => m.name_of(id).expect("held elsewhere"),
                            _ => name.clone(),
                        };
                        prop_assert_eq!(&copy, &name);
                        prop_assert_eq!(m.insert_found(found, copy, v), model.insert(name, v));
                    }
                }
                for (m, model) in maps.iter().zip(&models) {
                    prop_assert_eq!(m.len(), model.len());
                    let got: Vec<(Arc<str>, u32)> = m.iter().map(|(k, v)| (k.clone(), *v)).collect();
                    let want: Vec<(Arc<str>, u32)> = model.iter().map(|(k, v)| (k.clone(), *v)).collect();
                    prop_assert_eq!(got, want);
                }
                let held = ids.inner.borrow().names.iter().filter(|n| n.1 > 0).count();
                let union: std::collections::BTreeSet<_> = models.iter().flat_map(|m| m.keys()).collect();
                prop_assert_eq!(held, union.len());
            }
        }
    }

    /// A find gone stale (its id given up, then given to another name)
    /// costs a search, not a wrong entry.
    #[test]
    fn an_insert_after_a_stale_find_searches_again() {
        let ids = Rc::new(Ids::default());
        let (mut a, mut b) = (IdMap::new(ids.clone()), IdMap::new(ids.clone()));
        b.insert("x".into(), 1);
        let found = a.find("x");
        let Found::Elsewhere(id) = found else {
            panic!("x is b's: {found:?}");
        };
        b.remove("x");
        b.insert("y".into(), 2);
        assert_eq!(ids.id("y"), Some(id), "the id went to y");
        assert_eq!(a.insert_found(found, "x".into(), 3), None);
        assert_eq!(
            (a.get("x"), a.get("y"), b.get("y")),
            (Some(&3), None, Some(&2))
        );
        assert_ne!(ids.id("x"), Some(id));
    }

    #[test]
    fn a_dropped_or_cloned_map_gives_up_or_holds_its_names() {
        let ids = Rc::new(Ids::default());
        let mut a = IdMap::new(ids.clone());
        a.insert("x".into(), 1);
        let b = a.clone();
        drop(a);
        assert_eq!(b.get("x"), Some(&1));
        assert!(ids.id("x").is_some());
        drop(b);
        assert!(ids.id("x").is_none(), "no map holds it");
        let mut c = IdMap::new(ids.clone());
        c.insert("y".into(), 2);
        assert_eq!(ids.span(), 1, "the free id is taken again");
    }
}
