//! Who a server is, and the operator's registry of who may join.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::crypto::{KeyPair, PublicKey};

/// Longest server name accepted on the wire.
pub const MAX_NAME: usize = 32;

/// Names are short ASCII labels so that they never need escaping and
/// compare the same everywhere (case-sensitive, byte order).
pub fn valid_server_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// A server's own identity: what it claims and the key that proves it.
#[derive(Clone, Debug)]
pub struct Identity {
    pub name: Arc<str>,
    /// Short server id, three characters, unique in the network.
    pub sid: Arc<str>,
    /// Boot counter: a restarted server comes back with a larger one.
    pub incarnation: u64,
    pub keys: KeyPair,
}

/// One admitted server as the operator registered it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registration {
    pub sid: Arc<str>,
    pub key: PublicKey,
}

/// The operator's list of admitted servers. Shared read-only by every
/// server; the operator replaces it wholesale to admit a newcomer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Registry {
    entries: BTreeMap<Arc<str>, Registration>,
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn register(&mut self, name: &str, sid: &str, key: PublicKey) {
        self.entries.insert(
            name.into(),
            Registration {
                sid: sid.into(),
                key,
            },
        );
    }
    pub fn get(&self, name: &str) -> Option<&Registration> {
        self.entries.get(name)
    }
    /// Every registration, by name.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &Registration)> {
        self.entries.iter().map(|(n, r)| (&**n, r))
    }
    /// Takes a registration heard from the network. Two registrations of
    /// one name (an operator's mistake) are settled the same way on every
    /// server, whatever the order they arrive in: the smaller (SID, key)
    /// stays. Returns whether anything changed.
    pub fn learn(&mut self, name: &str, sid: &str, key: PublicKey) -> bool {
        let new = Registration {
            sid: sid.into(),
            key,
        };
        match self.entries.get(name) {
            Some(old) if (&old.sid, old.key) <= (&new.sid, new.key) => false,
            _ => {
                self.entries.insert(name.into(), new);
                true
            }
        }
    }
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The network-wide identity of one server link, used to break loops the
/// same way on every server. Links are ranked by `stamp` (a Lamport-style
/// time the initiator assigns, larger than every stamp it has seen), then
/// by endpoint names; in any cycle the largest-ranked link is dropped.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LinkTag {
    pub stamp: u64,
    /// The endpoint names, smaller first.
    pub lo: Arc<str>,
    pub hi: Arc<str>,
    /// Which endpoint opened the connection (two simultaneous opposite
    /// connections between one pair are distinct links).
    pub initiator: Arc<str>,
}

impl LinkTag {
    pub fn new(stamp: u64, a: &str, b: &str, initiator: &str) -> Self {
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        LinkTag {
            stamp,
            lo: lo.into(),
            hi: hi.into(),
            initiator: initiator.into(),
        }
    }

    /// Wire form `stamp:lo:hi:initiator` (names never contain ':').
    pub fn encode(&self, out: &mut String) {
        use std::fmt::Write;
        let _ = write!(
            out,
            "{}:{}:{}:{}",
            self.stamp, self.lo, self.hi, self.initiator
        );
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::parse_with(s, &mut |x| x.into())
    }

    /// [`LinkTag::parse`], taking each endpoint name from `intern` (a
    /// server hands out the names it already holds, so the tags of every
    /// path it keeps share them instead of each owning copies: at 1,000
    /// servers those copies were most of the heap). The initiator shares
    /// its endpoint's name.
    pub fn parse_with(s: &str, intern: &mut impl FnMut(&str) -> Arc<str>) -> Option<Self> {
        let mut it = s.split(':');
        let stamp = crate::wire::parse_u64(it.next()?)?;
        let lo = it.next()?;
        let hi = it.next()?;
        let initiator = it.next()?;
        if it.next().is_some()
            || !valid_server_name(lo)
            || !valid_server_name(hi)
            // A link joins two servers (a server never registers a peer
            // under its own name), named in order.
            || lo >= hi
            || (initiator != lo && initiator != hi)
        {
            return None;
        }
        let (lo_name, hi_name) = (intern(lo), intern(hi));
        let initiator = if initiator == lo {
            lo_name.clone()
        } else {
            hi_name.clone()
        };
        Some(LinkTag {
            stamp,
            lo: lo_name,
            hi: hi_name,
            initiator,
        })
    }

    /// Whether `s` reads as this tag: what [`LinkTag::parse`] would make
    /// of it equals `self`, so it is well-formed if `self` is. Cheaper than
    /// parsing: no name is checked or copied.
    pub fn is_wire(&self, s: &str) -> bool {
        let mut it = s.split(':');
        it.next().and_then(crate::wire::parse_u64) == Some(self.stamp)
            && it.next() == Some(&*self.lo)
            && it.next() == Some(&*self.hi)
            && it.next() == Some(&*self.initiator)
            && it.next().is_none()
    }

    pub fn involves(&self, name: &str) -> bool {
        &*self.lo == name || &*self.hi == name
    }
}

impl std::fmt::Display for LinkTag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut s = String::new();
        self.encode(&mut s);
        f.write_str(&s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_tags_round_trip_and_order_by_stamp_first() {
        let t = LinkTag::new(7, "west", "east", "west");
        assert_eq!(&*t.lo, "east");
        assert_eq!(LinkTag::parse(&t.to_string()), Some(t.clone()));
        let older = LinkTag::new(3, "zz", "zy", "zz");
        assert!(older < t);
        assert_eq!(LinkTag::parse("1:b:a:a"), None, "endpoints out of order");
        assert_eq!(LinkTag::parse("1:a:a:a"), None, "a server linked to itself");
        assert_eq!(LinkTag::parse("1:a:b:c"), None, "initiator not an endpoint");
        assert_eq!(LinkTag::parse("x:a:b:a"), None);
    }

    /// Mutation survivors: each check of the parse stands on its own (an
    /// `||` turned `&&` let a tag with one bad name through), `involves`
    /// names either endpoint, and `len` counts.
    #[test]
    fn a_tag_with_either_endpoint_name_invalid_is_refused() {
        assert_eq!(LinkTag::parse("1:a b:c:c"), None, "bad lower name");
        assert_eq!(LinkTag::parse("1:a:c d:a"), None, "bad higher name");
        assert_eq!(LinkTag::parse("1:a:b:a:x"), None, "a field too many");
        let t = LinkTag::parse("12:a:c:c").unwrap();
        assert!(t.is_wire("12:a:c:c"));
        for other in [
            "13:a:c:c",
            "1:a:c:c",
            "12:b:c:c",
            "12:a:d:c",
            "12:a:c:a",
            "12:a:c:c:x",
            "12:a:c",
            "x:a:c:c",
            "",
        ] {
            assert!(!t.is_wire(other), "{other}");
        }
        assert!(LinkTag::parse("1:a:c:c").is_some());
    }

    #[test]
    fn a_tag_involves_both_its_endpoints_and_nothing_else() {
        let t = LinkTag::new(1, "a", "b", "a");
        assert!(t.involves("a") && t.involves("b"));
        assert!(!t.involves("c"));
    }

    #[test]
    fn a_registry_counts_its_names() {
        let mut r = Registry::new();
        assert!(r.is_empty());
        use rand_chacha::rand_core::SeedableRng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let key = crate::crypto::KeyPair::generate(&mut rng);
        r.register("a", "0AA", key.public());
        r.register("b", "0AB", key.public());
        r.register("a", "0AC", key.public());
        assert_eq!(r.len(), 2);
        assert!(!r.is_empty());
    }

    #[test]
    fn server_names() {
        assert!(valid_server_name("hub-1.east_2"));
        assert!(!valid_server_name(""));
        assert!(!valid_server_name("a:b"));
        assert!(!valid_server_name(&"x".repeat(33)));
    }
}
