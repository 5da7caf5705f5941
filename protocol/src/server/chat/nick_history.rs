//! Nicks given up recently, so that commands aimed at one still find its
//! user for a while (`Config::nick_history`).
//!
//! Every server records every nick change in the network, so at scale
//! this holds thousands of entries (250,000 users changing nick every
//! ten minutes make about 12,500 a server within 30 s). It was a vector
//! walked, with a fresh folded copy of the nick per entry, and sorted at
//! every change: quadratic in the changes. Now it is an index by folded
//! nick (at most one entry each: a newer one replaces it) and a set by
//! expiry.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::name_map::NameIndex;
use crate::time::Instant;

#[derive(Clone, Debug, Default)]
pub(crate) struct NickHistory {
    /// Folded nick to the UID that gave it up, and until when.
    by_nick: NameIndex<(Arc<str>, Instant)>,
    /// Its expiries, with the nicks (shared copies) to drop then.
    by_time: BTreeSet<(Instant, Arc<str>)>,
}

impl NickHistory {
    /// `uid` gave up the nick folded to `key`; remember it until `until`.
    pub fn remember(&mut self, key: &str, uid: Arc<str>, until: Instant) {
        let key = crate::intern::arc(key);
        if let Some((_, old)) = self.by_nick.insert(&key, (uid, until)) {
            self.by_time.remove(&(old, key.clone()));
        }
        self.by_time.insert((until, key));
    }

    /// Who gave up the nick folded to `key`, if remembered.
    pub fn get(&self, key: &str) -> Option<&Arc<str>> {
        self.by_nick.get(key).map(|(uid, _)| uid)
    }

    /// When the next entry expires.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.by_time.first().map(|(t, _)| *t)
    }

    /// Forgets what expired by `now`.
    pub fn expire(&mut self, now: Instant) {
        while let Some((t, key)) = self.by_time.first() {
            if *t > now {
                break;
            }
            self.by_nick.remove(key);
            self.by_time.pop_first();
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.by_time.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Duration;

    #[test]
    fn a_nick_is_remembered_once_until_its_latest_expiry() {
        let t0 = Instant::ZERO;
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut h = NickHistory::default();
        assert_eq!((h.get("alice"), h.next_expiry()), (None, None));
        h.remember("alice", Arc::from("0AA-1-1"), at(30));
        h.remember("bob", Arc::from("0AA-1-2"), at(31));
        h.remember("alice", Arc::from("0AA-1-3"), at(32));
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
