//! A path of links held as a value of its own, shared along the tree.
//!
//! The loop rule (see tree.rs) compares the whole path of link tags to a
//! server, so each server keeps one per server it knows. Held as a vector
//! each, that is servers × servers × depth tags over a network: at 1,000
//! servers it was most of the heap, and 10,000 servers could not fit.
//!
//! A server's path is nearly always its uplink's path and one link more,
//! both having come the same way: such a path is read from the uplink's
//! record (known.rs) and holds nothing here. The others (a neighbour's
//! link, a whole path sent that is not its uplink's and one more, and
//! a path frozen when the record it was read from changed) are held as a
//! chain from the far end back: its last link, then the path before it,
//! shared with whatever path it was made from. The chain is immutable.
//!
//! A node is held by a `triomphe::Arc`, which has no weak count: 24 bytes
//! with its count, where the standard `Arc`'s 32 took a 48-byte block
//! from the allocator.

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
        self.then_shared(crate::intern::tag(last))
    }

    /// This path and one link more, already shared.
    pub fn then_shared(&self, last: Arc<LinkTag>) -> Path {
        Path(Some(NodeRef::new(Node {
            last,
            before: self.clone(),
        })))
    }

    /// The link furthest from us and the path before it.
    pub fn split(&self) -> Option<(&LinkTag, &Path)> {
        self.0.as_deref().map(|n| (&*n.last, &n.before))
    }

    /// The links from the far end back.
    #[cfg(test)]
    pub fn far_first(&self) -> impl Iterator<Item = &LinkTag> {
        let mut cur = self.0.as_deref();
        std::iter::from_fn(move || {
            let n = cur?;
            cur = n.before.0.as_deref();
            Some(&*n.last)
        })
    }
}

/// Whether the path whose links from the far end back are `far_first` is
/// `first` and then the first `n` tags of `wire` as sent.
pub(crate) fn is_wire<'t>(
    far_first: impl Iterator<Item = &'t LinkTag>,
    first: &LinkTag,
    wire: &PathArgs<'_>,
    n: usize,
) -> bool {
    let mut rest = n;
    let mut first = Some(first);
    for t in far_first {
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
    fn a_path_reads_back_from_the_far_end_and_shares_its_start() {
        let up = Path::from_tags([tag(1), tag(2)]);
        let p = up.then(tag(3));
        assert_eq!(
            p.far_first().cloned().collect::<Vec<_>>(),
            [tag(3), tag(2), tag(1)]
        );
        let (last, before) = p.split().unwrap();
        assert_eq!((last, before), (&tag(3), &up));
        assert!(Path::default().split().is_none());
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
        let is_wire =
            |p: Path, first: u64, n: usize| super::is_wire(p.far_first(), &tag(first), &w, n);
        let p = || Path::from_tags([tag(1), tag(2)]);
        assert!(is_wire(p(), 1, 1));
        assert!(!is_wire(p(), 9, 1), "another first link");
        assert!(!is_wire(p(), 1, 0), "the path is longer");
        assert!(!is_wire(p(), 1, 2), "the path is shorter");
        assert!(!is_wire(Path::from_tags([tag(1), tag(3)]), 1, 1));
        assert!(is_wire(Path::from_tags([tag(1)]), 1, 0));
        assert!(!is_wire(Path::default(), 1, 0));
        assert!(is_wire(Path::from_tags([tag(1), tag(2), tag(3)]), 1, 2));
        // Past the tags sent, nothing matches.
        assert!(!is_wire(
            Path::from_tags([tag(1), tag(2), tag(3), tag(4)]),
            1,
            3
        ));
    }
}
