//! The links from a server to each server it knows, shared along the tree.
//!
//! The loop rule (see tree.rs) compares the whole path of link tags to a
//! server, so each server keeps one per server it knows. Held as a vector
//! each, that is servers × servers × depth tags over a network: at 1,000
//! servers it was most of the heap, and 10,000 servers could not fit.
//!
//! A server's path is nearly always its uplink's path and one link more,
//! both having come the same way. So a path is a chain from the far end
//! back: its last link, then the path before it, shared with the uplink's
//! entry. Each known server then costs one link of its own, however deep.
//! The chain is immutable: when the uplink's route changes later, entries
//! made under the old one keep the path they were made with, exactly as
//! separate vectors would, so what a server decides is unchanged.
//!
//! A node is held by a `triomphe::Arc`, which has no weak count: 24 bytes
//! with its count, where the standard `Arc`'s 32 took a 48-byte block
//! from the allocator. One node per known server per server, that is 16
//! bytes for each of a network's servers × servers entries.

use std::sync::Arc;

use triomphe::Arc as NodeRef;

use crate::identity::LinkTag;
use crate::message::PathArgs;

#[derive(Clone, Debug, Default)]
pub(crate) struct Path(Option<NodeRef<Node>>);

#[derive(Debug)]
struct Node {
    /// Shared with every other server's paths through the link.
    last: Arc<LinkTag>,
    before: Path,
}

impl Path {
    /// The path through these links, nearest first.
    pub fn from_tags(tags: impl IntoIterator<Item = LinkTag>) -> Path {
        tags.into_iter().fold(Path::default(), |p, t| p.then(t))
    }

    /// This path and one link more.
    pub fn then(&self, last: LinkTag) -> Path {
        Path(Some(NodeRef::new(Node {
            last: crate::intern::tag(last),
            before: self.clone(),
        })))
    }

    /// The links from the far end back.
    pub fn far_first(&self) -> impl Iterator<Item = &LinkTag> {
        let mut cur = self.0.as_deref();
        std::iter::from_fn(move || {
            let n = cur?;
            cur = n.before.0.as_deref();
            Some(&*n.last)
        })
    }

    /// The links nearest first, into `out` (cleared first).
    pub fn near_first<'a>(&'a self, out: &mut Vec<&'a LinkTag>) {
        out.clear();
        out.extend(self.far_first());
        out.reverse();
    }

    /// Whether this path is `before` and one link more.
    pub fn extends(&self, before: &Path) -> bool {
        self.0.as_ref().is_some_and(|n| n.before == *before)
    }

    /// The link furthest from us.
    pub fn last(&self) -> Option<&LinkTag> {
        self.0.as_deref().map(|n| &*n.last)
    }

    /// The link nearest to us.
    pub fn first(&self) -> Option<&LinkTag> {
        self.far_first().last()
    }

    pub fn max(&self) -> Option<&LinkTag> {
        self.far_first().max()
    }
}

impl Path {
    /// Whether this path is `first` and then the first `n` tags of `wire`
    /// as sent (each as [`LinkTag::is_wire`] reads it).
    pub fn is_wire(&self, first: &LinkTag, wire: &PathArgs<'_>, n: usize) -> bool {
        let mut rest = n;
        let mut first = Some(first);
        for t in self.far_first() {
            if rest > 0 {
                rest -= 1;
                if !wire.arg(rest).is_some_and(|w| t.is_wire(w)) {
                    return false;
                }
            } else if first == Some(t) {
                first = None;
            } else {
                return false;
            }
        }
        rest == 0 && first.is_none()
    }
}

impl PartialEq for Path {
    fn eq(&self, other: &Path) -> bool {
        let (mut a, mut b) = (self.0.as_ref(), other.0.as_ref());
        loop {
            match (a, b) {
                (None, None) => return true,
                // A shared rest is equal without reading it.
                (Some(x), Some(y)) if NodeRef::ptr_eq(x, y) => return true,
                (Some(x), Some(y)) if x.last == y.last => {
                    a = x.before.0.as_ref();
                    b = y.before.0.as_ref();
                }
                _ => return false,
            }
        }
    }
}

impl Eq for Path {}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(stamp: u64) -> LinkTag {
        LinkTag::new(stamp, "a", "b", "a")
    }

    #[test]
    fn a_path_reads_back_in_both_orders_and_shares_its_start() {
        let up = Path::from_tags([tag(1), tag(2)]);
        let p = up.then(tag(3));
        let mut near = Vec::new();
        p.near_first(&mut near);
        assert_eq!(near, [&tag(1), &tag(2), &tag(3)]);
        assert_eq!(
            p.far_first().cloned().collect::<Vec<_>>(),
            [tag(3), tag(2), tag(1)]
        );
        assert_eq!((p.first(), p.max()), (Some(&tag(1)), Some(&tag(3))));
        assert_eq!(
            (Path::default().first(), Path::default().max()),
            (None, None)
        );
        // The start is the uplink's, not a copy.
        let (Some(n), Some(u)) = (&p.0, &up.0) else {
            panic!("empty")
        };
        assert!(NodeRef::ptr_eq(n.before.0.as_ref().unwrap(), u));
    }

    #[test]
    fn paths_compare_by_their_links() {
        let a = Path::from_tags([tag(1), tag(2)]);
        let b = Path::from_tags([tag(1), tag(2)]);
        assert_eq!(a, b);
        assert_eq!(a.then(tag(3)), b.then(tag(3)));
        assert_ne!(a, Path::from_tags([tag(1)]));
        assert_ne!(a, Path::from_tags([tag(2), tag(1)]));
        assert_ne!(a, Path::from_tags([tag(1), tag(2), tag(3)]));
        assert_ne!(a, Path::default());
        assert_eq!(Path::default(), Path::default());
    }

    #[test]
    fn a_path_matches_a_first_link_and_the_start_of_a_wire_path() {
        use crate::message::{encode_server, Msg, ServerIntro};
        use crate::wire::{self, Frame};
        let sent = [tag(2), tag(3)];
        let mut buf = Vec::new();
        let intro = ServerIntro {
            name: "c",
            hops: 2,
            sid: "0CC",
            incarnation: 1,
            uplink: "b",
            path: &[&sent[0], &sent[1]],
            shared: false,
            quiet: false,
        };
        encode_server(&mut buf, &intro).unwrap();
        let mut f = Frame::new();
        wire::decode_exact(&buf, &mut f).unwrap();
        let Ok(Msg::Server { path: w, .. }) = Msg::parse(&f) else {
            panic!("not a SERVER")
        };
        let p = Path::from_tags([tag(1), tag(2)]);
        assert!(p.is_wire(&tag(1), &w, 1));
        assert!(!p.is_wire(&tag(9), &w, 1), "another first link");
        assert!(!p.is_wire(&tag(1), &w, 0), "the path is longer");
        assert!(!p.is_wire(&tag(1), &w, 2), "the path is shorter");
        assert!(!Path::from_tags([tag(1), tag(3)]).is_wire(&tag(1), &w, 1));
        assert!(Path::from_tags([tag(1)]).is_wire(&tag(1), &w, 0));
        assert!(!Path::default().is_wire(&tag(1), &w, 0));
        assert!(Path::from_tags([tag(1), tag(2), tag(3)]).is_wire(&tag(1), &w, 2));
        // Past the tags sent, nothing matches.
        assert!(!Path::from_tags([tag(1), tag(2), tag(3), tag(4)]).is_wire(&tag(1), &w, 3));
    }
}
