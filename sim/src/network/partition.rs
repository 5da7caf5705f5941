//! Which hosts can reach which.

use super::HostId;

/// Hosts in different groups cannot exchange anything. Group 0 is
/// "everything not listed"; with no partition every host is in group 0.
#[derive(Clone, Debug, Default)]
pub struct Partition {
    group: Vec<u32>,
}

impl Partition {
    #[inline]
    pub fn reachable(&self, a: HostId, b: HostId) -> bool {
        // No partition (the usual case): one test rather than two lookups.
        self.group.is_empty() || self.group_of(a) == self.group_of(b)
    }

    fn group_of(&self, h: HostId) -> u32 {
        self.group.get(h as usize).copied().unwrap_or(0)
    }

    /// Puts each listed group of hosts in a group of its own; hosts not
    /// listed share the remaining group.
    pub fn set(&mut self, hosts: usize, groups: &[Vec<HostId>]) {
        self.group = vec![0; hosts];
        for (i, g) in groups.iter().enumerate() {
            for &h in g {
                self.group[h as usize] = i as u32 + 1;
            }
        }
    }

    pub fn heal(&mut self) {
        self.group.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unlisted_hosts_form_one_more_group() {
        let mut p = Partition::default();
        assert!(p.reachable(0, 5));
        p.set(4, &[vec![0, 1], vec![2]]);
        assert!(p.reachable(0, 1));
        assert!(!p.reachable(1, 2));
        assert!(!p.reachable(2, 3));
        assert!(!p.reachable(0, 3));
        p.heal();
        assert!(p.reachable(2, 3));
    }
}
