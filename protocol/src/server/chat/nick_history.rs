//! Nicks given up recently, so that commands aimed at one still find its
//! user for a while (`Config::nick_history`).
//!
//! Every server records every nick change in the network, so at scale
//! this holds thousands of entries (250,000 users changing nick every
//! ten minutes make about 12,500 a server within 30 s). It was a vector
//! walked, with a fresh folded copy of the nick per entry, and sorted at
//! every change: quadratic in the changes. Now it is an index by folded
//! nick (at most one entry each: a newer one replaces it) and a queue by
//! expiry.
//!
//! The queue was an ordered set, whose insert searched a tree of some
//! thousand entries per server, cold by the time the next change came:
//! ten cache misses a nick change (3.5 % of the misses of `bench users`'
//! timed part). A server's clock moves on, so a new expiry nearly always
//! goes at the back of a queue.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::name_map::NameIndex;
use crate::time::Instant;

#[derive(Clone, Debug, Default)]
pub(crate) struct NickHistory {
    /// Folded nick to the UID that gave it up, and until when.
    by_nick: NameIndex<(Arc<str>, Instant)>,
    /// The expiries in time order, with the nicks (shared copies) to drop
    /// then. An entry whose nick was remembered again since is stale
    /// (`by_nick` holds another time for it): it stays where it is, as
    /// finding it would cost the search this queue saves, and is skipped
    /// when reached. A stale entry is never left at the front, so the
    /// front is the next expiry the index holds.
    by_time: VecDeque<(Instant, Arc<str>)>,
}

impl NickHistory {
    /// `uid` gave up the nick folded to `key` (a shared copy, kept in the
    /// queue); remember it until `until`.
    pub fn remember(&mut self, key: Arc<str>, uid: Arc<str>, until: Instant) {
        let replaced = self.by_nick.insert(&key, (uid, until)).is_some();
        // After every expiry up to `until`: the back, unless a clock was
        // set back.
        let at = match self.by_time.back() {
            Some((t, _)) if *t > until => self.by_time.partition_point(|(t, _)| *t <= until),
            _ => self.by_time.len(),
        };
        self.by_time.insert(at, (until, key));
        if replaced {
            self.drop_stale_front();
        }
    }

    /// Who gave up the nick folded to `key`, if remembered.
    pub fn get(&self, key: &str) -> Option<&Arc<str>> {
        self.by_nick.get(key).map(|(uid, _)| uid)
    }

    /// When the next entry expires.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.by_time.front().map(|(t, _)| *t)
    }

    /// Forgets what expired by `now`.
    pub fn expire(&mut self, now: Instant) {
        while let Some((t, key)) = self.by_time.front() {
            if *t > now {
                break;
            }
            if self.is_current(*t, key) {
                self.by_nick.remove(key);
            }
            self.by_time.pop_front();
        }
        self.drop_stale_front();
    }

    /// Whether the queue's entry (`t`, `key`) is the one the index holds.
    fn is_current(&self, t: Instant, key: &str) -> bool {
        self.by_nick.get(key).is_some_and(|(_, until)| *until == t)
    }

    fn drop_stale_front(&mut self) {
        while let Some((t, key)) = self.by_time.front() {
            if self.is_current(*t, key) {
                break;
            }
            self.by_time.pop_front();
        }
    }

    /// The nicks remembered (stale queue entries not counted).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        // A nick remembered twice until the same time is queued twice.
        self.by_time
            .iter()
            .filter(|(t, k)| self.is_current(*t, k))
            .map(|(_, k)| k)
            .collect::<std::collections::BTreeSet<_>>()
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Duration;

    proptest::proptest! {
        /// The same answers as a map of nick to (UID, expiry) in which a
        /// nick's newer entry replaces its older one, and an expiry drops
        /// every entry due: with clocks set back, nicks remembered again
        /// before, at and after their old expiry, and expiries in between.
        #[test]
        fn answers_as_a_map_of_latest_entries(
            ops in proptest::collection::vec((0u8..3, 0u8..4, 0u64..40), 0..120),
        ) {
            let t = |s: u64| Instant::ZERO + Duration::from_secs(s);
            let mut h = NickHistory::default();
            let mut model: std::collections::BTreeMap<String, (Arc<str>, Instant)> = Default::default();
            for (i, (op, nick, secs)) in ops.into_iter().enumerate() {
                let key = format!("nick{nick}");
                if op < 2 {
                    let uid: Arc<str> = format!("0AA-1-{i}").into();
                    h.remember(key.as_str().into(), uid.clone(), t(secs));
                    model.insert(key, (uid, t(secs)));
                } else {
                    h.expire(t(secs));
                    model.retain(|_, (_, until)| *until > t(secs));
                }
                for n in 0..4 {
                    let k = format!("nick{n}");
                    proptest::prop_assert_eq!(h.get(&k), model.get(&k).map(|(u, _)| u));
                }
                proptest::prop_assert_eq!(h.next_expiry(), model.values().map(|(_, t)| *t).min());
                proptest::prop_assert_eq!(h.len(), model.len());
            }
        }
    }

    #[test]
    fn a_nick_is_remembered_once_until_its_latest_expiry() {
        let t0 = Instant::ZERO;
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut h = NickHistory::default();
        assert_eq!((h.get("alice"), h.next_expiry()), (None, None));
        h.remember("alice".into(), Arc::from("0AA-1-1"), at(30));
        h.remember("bob".into(), Arc::from("0AA-1-2"), at(31));
        h.remember("alice".into(), Arc::from("0AA-1-3"), at(32));
        assert_eq!(h.len(), 2);
        assert_eq!(h.get("alice").map(|u| &**u), Some("0AA-1-3"));
        assert_eq!(h.next_expiry(), Some(at(31)));
        h.expire(at(30));
        assert_eq!(h.len(), 2, "nothing expires early");
        h.expire(at(31));
        assert_eq!((h.get("bob"), h.len()), (None, 1));
        assert_eq!(h.next_expiry(), Some(at(32)));
        h.expire(at(40));
        assert_eq!((h.get("alice"), h.next_expiry(), h.len()), (None, None, 0));
    }
}
