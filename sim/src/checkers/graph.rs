//! Ground truth: which server links are really up and registered at both
//! ends, kept incrementally from the servers' notes and host crashes.

use std::collections::BTreeMap;

use crate::network::{ConnId, HostId};

/// What a breadth-first search from one host reached: for each host,
/// (hops, first-hop connection, parent).
#[derive(Default, Debug)]
pub struct Reach {
    at: Vec<Option<(u32, ConnId, HostId)>>,
    /// The hosts reached, in the order reached.
    hit: Vec<HostId>,
}

impl Reach {
    pub fn get(&self, h: HostId) -> Option<(u32, ConnId, HostId)> {
        self.at.get(h as usize).copied().flatten()
    }

    pub fn contains(&self, h: HostId) -> bool {
        self.get(h).is_some()
    }

    /// The hosts reached, in host order.
    pub fn hosts(&self) -> Vec<HostId> {
        let mut v = self.hit.clone();
        v.sort_unstable();
        v
    }
}

#[derive(Default, Debug)]
pub struct LinkGraph {
    /// Registered links by connection, as (dialler, target).
    edges: BTreeMap<ConnId, (HostId, HostId)>,
    adj: Vec<Vec<(HostId, ConnId)>>,
}

impl LinkGraph {
    fn grow(&mut self, h: HostId) {
        if self.adj.len() <= h as usize {
            self.adj.resize(h as usize + 1, Vec::new());
        }
    }

    /// Adds a link; returns true if it closed a cycle.
    pub fn add(&mut self, conn: ConnId, a: HostId, b: HostId) -> bool {
        if self.edges.contains_key(&conn) {
            return false;
        }
        self.grow(a.max(b));
        let cycle = self.path(a, b).is_some();
        self.edges.insert(conn, (a, b));
        self.adj[a as usize].push((b, conn));
        self.adj[b as usize].push((a, conn));
        cycle
    }

    pub fn remove(&mut self, conn: ConnId) -> bool {
        let Some((a, b)) = self.edges.remove(&conn) else {
            return false;
        };
        self.adj[a as usize].retain(|&(_, c)| c != conn);
        self.adj[b as usize].retain(|&(_, c)| c != conn);
        true
    }

    pub fn contains(&self, conn: ConnId) -> bool {
        self.edges.contains_key(&conn)
    }

    pub fn edges(&self) -> impl Iterator<Item = (ConnId, HostId, HostId)> + '_ {
        self.edges.iter().map(|(&c, &(a, b))| (c, a, b))
    }

    pub fn neighbours(&self, h: HostId) -> &[(HostId, ConnId)] {
        self.adj.get(h as usize).map_or(&[], |v| v.as_slice())
    }

    /// The connections on a path from `a` to `b`, if one exists.
    pub fn path(&self, a: HostId, b: HostId) -> Option<Vec<ConnId>> {
        let n = self.adj.len().max(a as usize + 1).max(b as usize + 1);
        let mut prev: Vec<Option<(HostId, ConnId)>> = vec![None; n];
        let mut seen = vec![false; n];
        let mut stack = vec![a];
        seen[a as usize] = true;
        while let Some(x) = stack.pop() {
            if x == b {
                let mut out = Vec::new();
                let mut cur = b;
                while let Some((p, c)) = prev[cur as usize] {
                    out.push(c);
                    cur = p;
                }
                return Some(out);
            }
            for &(y, c) in self.neighbours(x) {
                if !seen[y as usize] {
                    seen[y as usize] = true;
                    prev[y as usize] = Some((x, c));
                    stack.push(y);
                }
            }
        }
        None
    }

    /// Some cycle's connections, if the graph has one.
    pub fn find_cycle(&self) -> Option<Vec<ConnId>> {
        // Rebuild edge by edge: the first edge whose ends are already
        // connected closes a cycle.
        let mut g = LinkGraph::default();
        for (c, a, b) in self.edges() {
            g.grow(a.max(b));
            if let Some(mut cyc) = g.path(a, b) {
                cyc.push(c);
                return Some(cyc);
            }
            g.add(c, a, b);
        }
        None
    }

    /// Hop distance, first-hop connection and parent from `root` to every
    /// host it reaches, into `reach` (whatever it held is cleared).
    /// Indexed by host, not a map: the end checks search from every
    /// server, servers x servers entries at 10,000 servers.
    pub fn bfs_into(&self, root: HostId, reach: &mut Reach) {
        for &h in &reach.hit {
            reach.at[h as usize] = None;
        }
        reach.hit.clear();
        if reach.at.len() < self.adj.len().max(root as usize + 1) {
            reach.at.resize(self.adj.len().max(root as usize + 1), None);
        }
        // The root is reached by nobody, but must not be reached again.
        reach.at[root as usize] = Some((0, ConnId::MAX, root));
        // `hit` is the queue: the root first, then each host as reached.
        let mut i = 0;
        let mut x = root;
        loop {
            let (depth, first, _) = reach.at[x as usize].expect("queued once reached");
            for &(y, c) in self.neighbours(x) {
                if reach.at[y as usize].is_none() {
                    let first = if x == root { c } else { first };
                    reach.at[y as usize] = Some((depth + 1, first, x));
                    reach.hit.push(y);
                }
            }
            let Some(&next) = reach.hit.get(i) else {
                break;
            };
            x = next;
            i += 1;
        }
        reach.at[root as usize] = None;
    }

    /// As [`LinkGraph::bfs_into`], into a fresh [`Reach`].
    pub fn bfs(&self, root: HostId) -> Reach {
        let mut r = Reach::default();
        self.bfs_into(root, &mut r);
        r
    }

    /// Connected components over `hosts` (connected through any host,
    /// listed or not), each sorted, ordered by first member. Linear in
    /// hosts and links: the end checks call it at every size.
    pub fn components(&self, hosts: &[HostId]) -> Components {
        let n = hosts
            .iter()
            .map(|&h| h as usize + 1)
            .max()
            .unwrap_or(0)
            .max(self.adj.len());
        let mut listed = vec![false; n];
        for &h in hosts {
            listed[h as usize] = true;
        }
        let mut of = vec![NONE; n];
        let mut seen = vec![false; n];
        let mut list = Vec::new();
        let mut stack = Vec::new();
        for &h in hosts {
            if seen[h as usize] {
                continue;
            }
            let id = list.len() as u32;
            let mut comp = Vec::new();
            seen[h as usize] = true;
            stack.push(h);
            while let Some(x) = stack.pop() {
                if listed[x as usize] {
                    comp.push(x);
                    of[x as usize] = id;
                }
                for &(y, _) in self.neighbours(x) {
                    if !seen[y as usize] {
                        seen[y as usize] = true;
                        stack.push(y);
                    }
                }
            }
            comp.sort_unstable();
            list.push(comp);
        }
        Components { list, of }
    }
}

const NONE: u32 = u32::MAX;

/// The connected components of some hosts, and which one each is in.
#[derive(Debug, PartialEq)]
pub struct Components {
    pub list: Vec<Vec<HostId>>,
    of: Vec<u32>,
}

impl Components {
    /// The index in `list` of the component holding `h`, if it was listed.
    pub fn index(&self, h: HostId) -> Option<usize> {
        self.of
            .get(h as usize)
            .filter(|&&i| i != NONE)
            .map(|&i| i as usize)
    }

    /// The component holding `h`, if it was listed.
    pub fn of(&self, h: HostId) -> Option<&[HostId]> {
        self.index(h).map(|i| self.list[i].as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_cycles_and_their_removal() {
        let mut g = LinkGraph::default();
        assert!(!g.add(0, 0, 1));
        assert!(!g.add(1, 1, 2));
        assert!(g.add(2, 2, 0), "closes the triangle");
        let mut cyc = g.find_cycle().unwrap();
        cyc.sort_unstable();
        assert_eq!(cyc, vec![0, 1, 2]);
        g.remove(1);
        assert_eq!(g.find_cycle(), None);
        assert!(g.add(3, 0, 2), "a parallel link is a cycle too");
        assert_eq!(g.bfs(0).get(1), Some((1, 0, 0)));
        assert_eq!(g.bfs(0).hosts(), [1, 2], "the root is not reached");
        let c = g.components(&[0, 1, 2, 5]);
        assert_eq!(c.list, vec![vec![0, 1, 2], vec![5]]);
        assert_eq!(
            (c.index(2), c.index(5), c.index(3)),
            (Some(0), Some(1), None)
        );
        assert_eq!(c.of(1), Some(&[0, 1, 2][..]));
        // Connected through a host left out of the list: one component.
        let c = g.components(&[2, 0]);
        assert_eq!(c.list, vec![vec![0, 2]]);
        assert_eq!(c.index(1), None);
    }
}
