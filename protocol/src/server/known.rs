//! What a server knows of every other server: one small fixed record each.
//!
//! A network of N servers holds N × N of these records (every server
//! knows every other), 100 million at 10,000 servers, so their size is the
//! network's memory. A record is 32 bytes in a vector indexed by the
//! server's name id ([`NetworkIds`], one table per network): no name string
//! as a key, no B-tree node around it, its uplink a name id and its last
//! link a link tag id rather than pointers.
//!
//! Its path (the links from here to it, which the loop rule compares) is
//! nearly always its uplink's path and one link more, both having come
//! from the same neighbour (see path.rs). Such a record holds that last
//! link alone and reads the rest from its uplink's record. Paths are
//! values, fixed when the record is made: so before a record's path
//! changes or the record goes, every record that reads from it is given a
//! copy of the path it had ("frozen"). What a server decides is then the
//! same as when each record held a path of its own. Other paths (a
//! neighbour's, a whole path sent that is not the uplink's and one link
//! more, a frozen one) are held apart, by name id.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::hash::BuildHasher;
use std::sync::Arc;

use elsa::FrozenVec;
use hashbrown::HashTable;

use super::path::{self, Path};
use super::Sid;
use crate::identity::LinkTag;
use crate::message::PathArgs;
use crate::outbox::LinkId;

/// Small integer ids shared by every server of one network (the simulator
/// runs them all in one thread; a real server would have a table of its
/// own): for server names and link tags here, which are handed out in
/// the order values are first met and never reused, so an id names one
/// value for the life of the table; and for UIDs and rooms (id_map.rs),
/// which are given back when no server holds them. Nothing a server
/// decides or shows depends on the ids' order: whatever iterates records
/// in a way that could be seen sorts them by name.
#[derive(Default)]
pub struct NetworkIds {
    names: Interned<str>,
    tags: Interned<LinkTag>,
    /// Ids for the UIDs the servers' user tables hold, for the folded
    /// names of the rooms they hold, and for the folded nicks of their
    /// nick indexes (see id_map.rs).
    pub(crate) uids: std::rc::Rc<crate::id_map::Ids>,
    pub(crate) room_ids: std::rc::Rc<crate::id_map::Ids>,
    pub(crate) nick_ids: std::rc::Rc<crate::id_map::Ids>,
}

impl std::fmt::Debug for NetworkIds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "NetworkIds({} names, {} link tags)",
            self.names.len(),
            self.tags.len()
        )
    }
}

impl NetworkIds {
    /// The id of server name `name`, if it has one.
    pub(crate) fn id(&self, name: &str) -> Option<u32> {
        self.names.id(name)
    }

    /// The id of server name `name`, given one if it has none.
    pub(crate) fn intern(&self, name: &str) -> u32 {
        self.names.intern(name, || crate::intern::arc(name))
    }

    pub(crate) fn name(&self, id: u32) -> &Arc<str> {
        self.names.get(id)
    }

    /// The id of a link tag, given one if it has none (the first time a
    /// link's tag is met, once per link).
    fn tag_id(&self, tag: &LinkTag) -> u32 {
        self.tags.intern(tag, || Arc::new(tag.clone()))
    }

    fn tag(&self, id: u32) -> &Arc<LinkTag> {
        self.tags.get(id)
    }

    /// How many server names have an id.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.len() == 0
    }
}

/// One shared copy of each value, with its id.
struct Interned<T: ?Sized> {
    /// Boxed so that a value handed out stays put as the vector grows.
    list: FrozenVec<Box<Arc<T>>>,
    index: RefCell<HashTable<u32>>,
    hasher: foldhash::fast::FixedState,
}

impl<T: ?Sized> Default for Interned<T> {
    fn default() -> Self {
        Interned {
            list: FrozenVec::new(),
            index: RefCell::new(HashTable::new()),
            hasher: foldhash::fast::FixedState::default(),
        }
    }
}

impl<T: ?Sized + Eq + std::hash::Hash> Interned<T> {
    fn id(&self, x: &T) -> Option<u32> {
        let hash = self.hasher.hash_one(x);
        let index = self.index.borrow();
        index.find(hash, |&i| *self.list[i as usize] == *x).copied()
    }

    fn intern(&self, x: &T, make: impl FnOnce() -> Arc<T>) -> u32 {
        if let Some(id) = self.id(x) {
            return id;
        }
        let id = u32::try_from(self.list.len()).expect("fewer than 2^32 values");
        self.list.push(Box::new(make()));
        let hash = self.hasher.hash_one(x);
        let (hasher, list) = (&self.hasher, &self.list);
        self.index
            .borrow_mut()
            .insert_unique(hash, id, |&i| hasher.hash_one(&*list[i as usize]));
        id
    }

    fn get(&self, id: u32) -> &Arc<T> {
        self.list.get(id as usize).expect("an id this table gave")
    }

    fn len(&self) -> usize {
        self.list.len()
    }
}

/// A record to store: see [`KnownTable::set`].
#[derive(Clone, Debug)]
pub(crate) struct Known {
    pub sid: Sid,
    pub incarnation: u64,
    pub hops: u32,
    /// The server's parent in this server's tree, by name id (our own id
    /// for a direct neighbour).
    pub uplink: u32,
    pub via: LinkId,
    pub path: NewPath,
}

/// The links from here to a server about to be recorded.
#[derive(Clone, Debug)]
pub(crate) enum NewPath {
    /// The uplink's path as recorded now, and this link more.
    AfterUplink(LinkTag),
    /// This whole path.
    Whole(Path),
}

/// What a record held, returned when it is replaced or removed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Was {
    pub sid: Sid,
    pub incarnation: u64,
    pub hops: u32,
    pub via: LinkId,
}

#[derive(Clone)]
struct Slot {
    incarnation: u64,
    /// The link it is reached through, or [`WIDE`] when that link's id
    /// does not fit (see `KnownTable::wide`).
    via: u32,
    /// The link tag id of the last link of a path that is the uplink's
    /// and this one more; [`NONE`] when the path is held apart (or the
    /// slot is empty).
    last: u32,
    uplink: u32,
    hops: u32,
    /// How many records read their path from this one.
    kids: u32,
    sid: Sid,
    here: bool,
}

const NONE: u32 = u32::MAX;
const WIDE: u32 = u32::MAX;

impl Slot {
    fn last(&self) -> Option<u32> {
        (self.last != NONE).then_some(self.last)
    }
}

const EMPTY: Slot = Slot {
    incarnation: 0,
    via: 0,
    last: NONE,
    uplink: 0,
    hops: 0,
    kids: 0,
    sid: Sid([0; 3]),
    here: false,
};

pub(crate) struct KnownTable {
    ids: std::rc::Rc<NetworkIds>,
    /// This server's own name id (the uplink of its neighbours).
    me: u32,
    slots: Vec<Slot>,
    len: usize,
    /// Paths not read from the uplink's record, by name id.
    whole: BTreeMap<u32, Path>,
    /// Links whose ids do not fit in a record's 32 bits (a server would
    /// need four billion links first), by name id.
    wide: BTreeMap<u32, LinkId>,
}

/// One record, read in place.
#[derive(Clone, Copy)]
pub(crate) struct KnownRef<'a> {
    table: &'a KnownTable,
    pub id: u32,
    pub sid: Sid,
    pub incarnation: u64,
    pub hops: u32,
    pub via: LinkId,
    pub uplink_id: u32,
}

impl<'a> KnownRef<'a> {
    pub fn name(&self) -> &'a Arc<str> {
        self.table.ids.name(self.id)
    }

    /// Its fields, apart from the table.
    pub fn was(&self) -> Was {
        Was {
            sid: self.sid,
            incarnation: self.incarnation,
            hops: self.hops,
            via: self.via,
        }
    }

    pub fn sid_str(&self) -> &'a str {
        self.table.slots[self.id as usize].sid.as_str()
    }

    pub fn uplink(&self) -> &'a Arc<str> {
        self.table.ids.name(self.uplink_id)
    }

    /// The links from here to it.
    pub fn path(&self) -> PathRef<'a> {
        PathRef {
            table: self.table,
            extra: None,
            at: At::Slot(self.id),
        }
    }

    /// Whether its path is read from its uplink's record (so is that path
    /// and one link more).
    pub fn after_uplink(&self) -> bool {
        self.table.slots[self.id as usize].last != NONE
    }
}

impl KnownTable {
    pub fn new(ids: std::rc::Rc<NetworkIds>, me: &str) -> Self {
        let me = ids.intern(me);
        KnownTable {
            ids,
            me,
            slots: Vec::new(),
            len: 0,
            whole: BTreeMap::new(),
            wide: BTreeMap::new(),
        }
    }

    pub fn ids(&self) -> &NetworkIds {
        &self.ids
    }

    pub fn me(&self) -> u32 {
        self.me
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn get(&self, name: &str) -> Option<KnownRef<'_>> {
        self.get_id(self.ids.id(name)?)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    pub fn get_id(&self, id: u32) -> Option<KnownRef<'_>> {
        let s = self.slots.get(id as usize).filter(|s| s.here)?;
        Some(KnownRef {
            table: self,
            id,
            sid: s.sid,
            incarnation: s.incarnation,
            hops: s.hops,
            via: match s.via {
                WIDE => self.wide[&id],
                v => LinkId(u64::from(v)),
            },
            uplink_id: s.uplink,
        })
    }

    /// Every record, in no order that means anything (by id).
    pub fn iter(&self) -> impl Iterator<Item = KnownRef<'_>> {
        (0..self.slots.len() as u32).filter_map(|id| self.get_id(id))
    }

    /// Every record, by name.
    pub fn by_name(&self) -> Vec<KnownRef<'_>> {
        let mut v: Vec<KnownRef<'_>> = self.iter().collect();
        v.sort_unstable_by(|a, b| a.name().cmp(b.name()));
        v
    }

    /// The path a record `k` would have, read before it is stored.
    pub fn new_path<'a>(&'a self, k: &'a Known) -> PathRef<'a> {
        match &k.path {
            NewPath::AfterUplink(last) => PathRef {
                table: self,
                extra: Some(last),
                at: self.base_of(k.uplink),
            },
            NewPath::Whole(p) => PathRef {
                table: self,
                extra: None,
                at: At::Whole(p),
            },
        }
    }

    /// Where a path that is `uplink`'s and one link more continues.
    fn base_of(&self, uplink: u32) -> At<'_> {
        if self.get_id(uplink).is_some() {
            At::Slot(uplink)
        } else {
            // Ourselves (a neighbour's path is its link alone), or a
            // server we do not know: its path is empty to us.
            At::End
        }
    }

    /// Stores `k` as the record of the server with name id `id`, and
    /// returns what it replaced.
    pub fn set(&mut self, id: u32, k: Known) -> Option<Was> {
        let i = id as usize;
        if self.slots.len() <= i {
            // To every id the network has given out, not by doubling: the
            // table is most of a large network's memory, and ids are given
            // to every server as it boots, so this is nearly always once.
            let all = self.ids.len().max(i + 1);
            self.slots.reserve_exact(all - self.slots.len());
            self.slots.resize(all, EMPTY);
        }
        let new_path = match k.path {
            NewPath::AfterUplink(last) if k.uplink != id && self.get_id(k.uplink).is_some() => {
                Ok(last)
            }
            // Read from a record about to change (only a sender naming a
            // server its own uplink does this), or from nowhere: held whole.
            NewPath::AfterUplink(last) => Err(self.to_path(PathRef {
                table: self,
                extra: Some(&last),
                at: if k.uplink == id {
                    self.base_of(id)
                } else {
                    At::End
                },
            })),
            NewPath::Whole(p) => Err(p),
        };
        let was = self.get_id(id).map(|o| o.was());
        if was.is_some() {
            if self.slots[i].kids > 0 && !self.same_path(id, k.uplink, &new_path) {
                self.freeze_kids(|x| x == id, |_| false);
            }
            self.unlink(id);
        } else {
            self.len += 1;
        }
        let last = match new_path {
            Ok(last) => {
                self.slots[k.uplink as usize].kids += 1;
                self.ids.tag_id(&last)
            }
            Err(p) => {
                self.whole.insert(id, p);
                NONE
            }
        };
        let via = match u32::try_from(k.via.0) {
            Ok(v) if v != WIDE => v,
            _ => {
                self.wide.insert(id, k.via);
                WIDE
            }
        };
        let kids = self.slots[i].kids;
        self.slots[i] = Slot {
            incarnation: k.incarnation,
            via,
            last,
            uplink: k.uplink,
            hops: k.hops,
            kids,
            sid: k.sid,
            here: true,
        };
        was
    }

    /// Whether the record `id` now has the path the new one would have.
    fn same_path(&self, id: u32, uplink: u32, new: &Result<LinkTag, Path>) -> bool {
        let s = &self.slots[id as usize];
        let old = PathRef {
            table: self,
            extra: None,
            at: At::Slot(id),
        };
        match new {
            Ok(last) => {
                if s.uplink == uplink && s.last().is_some_and(|l| **self.ids.tag(l) == *last) {
                    return true;
                }
                old.same(PathRef {
                    table: self,
                    extra: Some(last),
                    at: At::Slot(uplink),
                })
            }
            Err(p) => old.same(PathRef {
                table: self,
                extra: None,
                at: At::Whole(p),
            }),
        }
    }

    /// Drops the record `id`'s hold on its path (its uplink's count of
    /// readers, or the path held apart).
    fn unlink(&mut self, id: u32) {
        let s = &mut self.slots[id as usize];
        if s.via == WIDE {
            self.wide.remove(&id);
        }
        if std::mem::replace(&mut s.last, NONE) != NONE {
            let up = s.uplink as usize;
            self.slots[up].kids -= 1;
        } else {
            self.whole.remove(&id);
        }
    }

    /// Gives every record that reads its path from a record in `from`,
    /// and is not in `spared`, a copy of that path to hold apart.
    fn freeze_kids(&mut self, from: impl Fn(u32) -> bool, spared: impl Fn(u32) -> bool) {
        let mut frozen: Vec<(u32, Path)> = Vec::new();
        // One copy of each uplink's path, shared by its readers.
        let mut bases: BTreeMap<u32, Path> = BTreeMap::new();
        for (i, s) in self.slots.iter().enumerate() {
            let id = i as u32;
            let Some(last) = s.last() else { continue };
            if !s.here || !from(s.uplink) || spared(id) {
                continue;
            }
            let base = bases.entry(s.uplink).or_insert_with(|| {
                self.to_path(PathRef {
                    table: self,
                    extra: None,
                    at: At::Slot(s.uplink),
                })
            });
            frozen.push((id, base.then_shared(self.ids.tag(last).clone())));
        }
        for (id, p) in frozen {
            let s = &mut self.slots[id as usize];
            s.last = NONE;
            let up = s.uplink as usize;
            self.slots[up].kids -= 1;
            self.whole.insert(id, p);
        }
    }

    /// Removes the record `id`, and returns what it held.
    #[cfg(test)]
    pub fn remove(&mut self, id: u32) -> Option<Was> {
        self.remove_all(&[id]).pop().flatten()
    }

    /// Removes these records (distinct ids), and returns what each held.
    pub fn remove_all(&mut self, ids: &[u32]) -> Vec<Option<Was>> {
        let was: Vec<Option<Was>> = ids
            .iter()
            .map(|&id| self.get_id(id).map(|o| o.was()))
            .collect();
        let readers = ids
            .iter()
            .any(|&id| self.slots.get(id as usize).is_some_and(|s| s.kids > 0));
        if readers {
            let mut doomed: Vec<u32> = ids.to_vec();
            doomed.sort_unstable();
            let is = |x: u32| doomed.binary_search(&x).is_ok();
            self.freeze_kids(is, is);
        }
        for (&id, w) in ids.iter().zip(&was) {
            if w.is_some() && self.slots[id as usize].here {
                self.unlink(id);
                self.slots[id as usize] = Slot {
                    kids: self.slots[id as usize].kids,
                    ..EMPTY
                };
                self.len -= 1;
            }
        }
        was
    }

    /// The path as a value of its own.
    pub fn to_path(&self, p: PathRef<'_>) -> Path {
        let mut tags: Vec<&Arc<LinkTag>> = Vec::new();
        let mut extra_owned = None;
        if let Some(x) = p.extra {
            extra_owned = Some(crate::intern::tag(x.clone()));
        }
        let mut at = p.at;
        let base = loop {
            match at {
                At::End => break Path::default(),
                At::Whole(w) => break w.clone(),
                At::Slot(id) => {
                    let s = &self.slots[id as usize];
                    match s.last() {
                        Some(last) => {
                            tags.push(self.ids.tag(last));
                            at = self.base_of(s.uplink);
                        }
                        None => break self.whole.get(&id).cloned().unwrap_or_default(),
                    }
                }
            }
        };
        let mut path = tags
            .into_iter()
            .rev()
            .fold(base, |p, t| p.then_shared(t.clone()));
        if let Some(x) = extra_owned {
            path = path.then_shared(x);
        }
        path
    }
}

/// A path read in place: `extra` (the far end), then the rest from `at`.
#[derive(Clone, Copy)]
pub(crate) struct PathRef<'a> {
    table: &'a KnownTable,
    extra: Option<&'a LinkTag>,
    at: At<'a>,
}

#[derive(Clone, Copy)]
enum At<'a> {
    Slot(u32),
    Whole(&'a Path),
    End,
}

impl<'a> PathRef<'a> {
    /// The links from the far end back.
    pub fn far_first(self) -> impl Iterator<Item = &'a LinkTag> + Clone {
        let t = self.table;
        let mut extra = self.extra;
        let mut at = self.at;
        std::iter::from_fn(move || {
            if let Some(x) = extra.take() {
                return Some(x);
            }
            loop {
                match at {
                    At::End => return None,
                    At::Whole(w) => {
                        let (last, before) = w.split()?;
                        at = At::Whole(before);
                        return Some(last);
                    }
                    At::Slot(id) => {
                        let s = &t.slots[id as usize];
                        match s.last() {
                            Some(last) => {
                                at = t.base_of(s.uplink);
                                return Some(&**t.ids.tag(last));
                            }
                            None => {
                                at = t.whole.get(&id).map_or(At::End, At::Whole);
                            }
                        }
                    }
                }
            }
        })
    }

    /// The links nearest first, into `out` (cleared first).
    pub fn near_first(self, out: &mut Vec<&'a LinkTag>) {
        out.clear();
        out.extend(self.far_first());
        out.reverse();
    }

    /// The link furthest from us.
    pub fn last(self) -> Option<&'a LinkTag> {
        self.far_first().next()
    }

    /// The link nearest to us.
    pub fn first(self) -> Option<&'a LinkTag> {
        self.far_first().last()
    }

    pub fn max(self) -> Option<&'a LinkTag> {
        self.far_first().max()
    }

    /// Whether the two paths have the same links.
    pub fn same(self, other: PathRef<'_>) -> bool {
        self.far_first().eq(other.far_first())
    }

    /// Whether this path is `before` and one link more.
    pub fn extends(self, before: PathRef<'_>) -> bool {
        let mut a = self.far_first();
        a.next().is_some() && a.eq(before.far_first())
    }

    /// Whether this path is `first` and then the first `n` tags of `wire`
    /// as sent.
    pub fn is_wire(self, first: &LinkTag, wire: &PathArgs<'_>, n: usize) -> bool {
        path::is_wire(self.far_first(), first, wire, n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;

    fn ltag(stamp: u64) -> LinkTag {
        LinkTag::new(stamp, "a", "b", "a")
    }

    fn tag(stamp: u64) -> Arc<LinkTag> {
        Arc::new(ltag(stamp))
    }

    fn rec(uplink: u32, path: NewPath) -> Known {
        Known {
            sid: Sid::new("0AA").unwrap(),
            incarnation: 1,
            hops: 1,
            uplink,
            via: LinkId(1),
            path,
        }
    }

    fn stamps(p: PathRef<'_>) -> Vec<u64> {
        let mut v = Vec::new();
        p.near_first(&mut v);
        v.into_iter().map(|t| t.stamp).collect()
    }

    /// A chain me - a - b - c, each after its uplink.
    fn chain() -> (KnownTable, [u32; 3]) {
        let ids = Rc::new(NetworkIds::default());
        let mut t = KnownTable::new(ids.clone(), "me");
        let [a, b, c] = ["a", "b", "c"].map(|n| ids.intern(n));
        t.set(
            a,
            rec(t.me(), NewPath::Whole(Path::default().then_shared(tag(1)))),
        );
        t.set(b, rec(a, NewPath::AfterUplink(ltag(2))));
        t.set(c, rec(b, NewPath::AfterUplink(ltag(3))));
        (t, [a, b, c])
    }

    #[test]
    fn a_path_after_its_uplink_reads_through_the_chain() {
        let (t, [a, b, c]) = chain();
        assert_eq!(stamps(t.get_id(c).unwrap().path()), [1, 2, 3]);
        assert!(t.get_id(c).unwrap().after_uplink());
        assert!(!t.get_id(a).unwrap().after_uplink());
        assert!(t
            .get_id(c)
            .unwrap()
            .path()
            .extends(t.get_id(b).unwrap().path()));
        assert_eq!(t.slots[b as usize].kids, 1);
        assert_eq!(
            t.to_path(t.get_id(c).unwrap().path()),
            Path::from_tags([1, 2, 3].map(|s| (*tag(s)).clone()))
        );
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn a_record_whose_uplink_changes_path_keeps_the_path_it_had() {
        let (mut t, [a, b, c]) = chain();
        // b re-routed: a path of its own, and c must not follow it.
        t.set(
            b,
            rec(a, NewPath::Whole(Path::from_tags([(*tag(9)).clone()]))),
        );
        assert_eq!(stamps(t.get_id(b).unwrap().path()), [9]);
        assert_eq!(stamps(t.get_id(c).unwrap().path()), [1, 2, 3]);
        assert!(!t.get_id(c).unwrap().after_uplink(), "frozen");
        assert_eq!(t.slots[b as usize].kids, 0);
        // The same path again freezes nothing.
        t.set(c, rec(b, NewPath::AfterUplink(ltag(3))));
        t.set(
            b,
            rec(a, NewPath::Whole(Path::from_tags([(*tag(9)).clone()]))),
        );
        assert!(t.get_id(c).unwrap().after_uplink());
        assert_eq!(stamps(t.get_id(c).unwrap().path()), [9, 3]);
    }

    #[test]
    fn removing_a_record_freezes_the_readers_that_stay_and_not_the_ones_that_go() {
        let (mut t, [a, b, c]) = chain();
        t.remove(b);
        assert!(t.get_id(b).is_none());
        assert_eq!(stamps(t.get_id(c).unwrap().path()), [1, 2, 3]);
        assert_eq!(t.len(), 2);
        let (mut t, [a2, b2, c2]) = chain();
        let was = t.remove_all(&[a2, b2, c2]);
        assert!(was.iter().all(Option::is_some));
        assert_eq!(t.len(), 0);
        assert!(t.whole.is_empty(), "nothing frozen for records that went");
        assert!(t.slots.iter().all(|s| s.kids == 0 && s.last().is_none()));
        let _ = (a, c);
    }

    #[test]
    fn a_server_named_its_own_uplink_holds_the_path_it_was_sent() {
        let (mut t, [_, b, _]) = chain();
        t.set(b, rec(b, NewPath::AfterUplink(ltag(7))));
        assert_eq!(stamps(t.get_id(b).unwrap().path()), [1, 2, 7]);
    }

    #[test]
    fn a_link_id_too_wide_for_a_record_is_kept_beside_it() {
        let (mut t, [a, b, _]) = chain();
        let mut k = rec(a, NewPath::AfterUplink(ltag(2)));
        k.via = LinkId(u64::MAX);
        t.set(b, k.clone());
        assert_eq!(t.get_id(b).unwrap().via, LinkId(u64::MAX));
        k.via = LinkId(7);
        t.set(b, k);
        assert_eq!(t.get_id(b).unwrap().via, LinkId(7));
        assert!(t.wide.is_empty());
    }

    #[test]
    fn names_get_one_id_each_and_keep_it() {
        let ids = NetworkIds::default();
        let x = ids.intern("x");
        assert_eq!((ids.intern("y"), ids.intern("x")), (x + 1, x));
        assert_eq!((ids.id("x"), ids.id("z")), (Some(x), None));
        assert_eq!(&**ids.name(x), "x");
        assert_eq!(std::mem::size_of::<Slot>(), 32, "a record stays small");
    }

    use proptest::prelude::*;

    /// One change to a table of six servers (name ids 1..=6; 0 is us).
    #[derive(Clone, Debug)]
    enum Op {
        /// Record `id` under `uplink`, its path the uplink's and one link
        /// more (`after`), or a whole path of these stamps.
        Set {
            id: u32,
            uplink: u32,
            last: u64,
            after: bool,
            whole: Vec<u64>,
        },
        Remove(Vec<u32>),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (1u32..7, 0u32..7, 1u64..9, any::<bool>(), proptest::collection::vec(1u64..9, 0..4))
                .prop_map(|(id, uplink, last, after, whole)| Op::Set { id, uplink, last, after, whole }),
            1 => proptest::collection::btree_set(1u32..7, 1..4)
                .prop_map(|ids| Op::Remove(ids.into_iter().collect())),
        ]
    }

    proptest! {
        /// Against a model that holds each record's whole path as a value,
        /// made when the record is: every path reads the same, whatever
        /// changed or went since, and the readers' counts stay true.
        #[test]
        fn paths_read_as_the_values_they_were_made_with(ops in proptest::collection::vec(op(), 0..60)) {
            let ids = Rc::new(NetworkIds::default());
            let mut t = KnownTable::new(ids.clone(), "me");
            for n in 1..7 {
                ids.intern(&format!("s{n}"));
            }
            let mut model: BTreeMap<u32, (u32, Vec<u64>)> = BTreeMap::new();
            for op in ops {
                match op {
                    Op::Set { id, uplink, last, after, whole } => {
                        let path = if after {
                            let mut p = model.get(&uplink).map(|m| m.1.clone()).unwrap_or_default();
                            p.push(last);
                            t.set(id, rec(uplink, NewPath::AfterUplink(ltag(last))));
                            p
                        } else {
                            let tags = whole.iter().map(|&s| (*tag(s)).clone());
                            t.set(id, rec(uplink, NewPath::Whole(Path::from_tags(tags))));
                            whole
                        };
                        model.insert(id, (uplink, path));
                    }
                    Op::Remove(gone) => {
                        let was = t.remove_all(&gone);
                        for (id, w) in gone.iter().zip(was) {
                            prop_assert_eq!(w.is_some(), model.remove(id).is_some());
                        }
                    }
                }
                prop_assert_eq!(t.len(), model.len());
                for id in 0..7u32 {
                    let got = t.get_id(id).map(|k| (k.uplink_id, stamps(k.path())));
                    prop_assert_eq!(got, model.get(&id).cloned(), "id {}", id);
                    let readers = t
                        .slots
                        .iter()
                        .filter(|s| s.here && s.last().is_some() && s.uplink == id)
                        .count();
                    prop_assert_eq!(t.slots.get(id as usize).map_or(0, |s| s.kids as usize), readers);
                }
            }
        }
    }
}
