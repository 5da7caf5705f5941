//! Discovery: `discovery.registered` as it happens, `discovery.converges`
//! at a quiet end, and the counters of `stats.discovery`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use drc_protocol::LinkId;

use super::Violation;
use crate::network::HostId;
use crate::world::World;

/// `stats.discovery` in the JSON summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct DiscoveryCounts {
    pub hello_sent: u64,
    pub welcome_sent: u64,
    /// Copies lost by the odds (or a storm's) or by a partition.
    pub datagrams_lost: u64,
    pub datagrams_duplicated: u64,
    pub links_from_discovery: u64,
}

impl DiscoveryCounts {
    /// The counts of a run with `[discovery]`, `None` for any other.
    pub fn of(w: &World) -> Option<Self> {
        let d = w.datagrams.as_ref()?;
        let c = &w.checks.discovery;
        Some(DiscoveryCounts {
            hello_sent: c.hello_sent,
            welcome_sent: c.welcome_sent,
            datagrams_lost: d.stats.lost,
            datagrams_duplicated: d.stats.duplicated,
            links_from_discovery: c.links_from_discovery,
        })
    }
}

#[derive(Default)]
pub struct DiscoveryChecks {
    /// The operator's registry, by name: the ground truth of which servers
    /// a seeker may dial (declared and genuine, or admitted by
    /// `add_server`).
    pub registered: BTreeSet<String>,
    /// Dials discovery made that have not registered or failed yet, by
    /// (host, incarnation, link): link ids start over at a restart.
    dials: BTreeMap<(HostId, u64, LinkId), Arc<str>>,
    pub hello_sent: u64,
    pub welcome_sent: u64,
    /// Dials from discovery whose link registered at the dialler.
    pub links_from_discovery: u64,
}

impl DiscoveryChecks {
    /// A server chose `peer` from its WELCOMEs and dials it: the peer must
    /// be registered. Returns the violation's detail.
    pub fn on_dial(
        &mut self,
        h: HostId,
        incarnation: u64,
        link: LinkId,
        peer: &Arc<str>,
    ) -> Option<String> {
        self.dials.insert((h, incarnation, link), peer.clone());
        (!self.registered.contains(&**peer)).then(|| {
            format!(
                "dialled {peer}, which the registry does not know (link {})",
                link.0
            )
        })
    }

    pub fn on_registered(&mut self, h: HostId, incarnation: u64, link: LinkId) {
        if self.dials.remove(&(h, incarnation, link)).is_some() {
            self.links_from_discovery += 1;
        }
    }

    pub fn on_down(&mut self, h: HostId, incarnation: u64, link: LinkId) {
        self.dials.remove(&(h, incarnation, link));
    }
}

/// `discovery.converges`, at a quiet end once datagrams flow (no storm
/// still blowing): every running seeker the registry knows has a
/// registered link if another running registered server can reach it, and
/// its component holds a server that is not a seeker whenever one is
/// reachable: seekers must not settle into an island of their own beside
/// the network they heard.
pub fn converges(w: &World, running: &[HostId]) -> Vec<Violation> {
    let mut out = Vec::new();
    let Some(dgs) = &w.datagrams else {
        return out;
    };
    if dgs.storm.is_some_and(|(until, _)| until > w.now) {
        return out;
    }
    let reg = &w.checks.discovery.registered;
    let admitted: Vec<HostId> = running
        .iter()
        .copied()
        .filter(|&h| {
            let host = &w.hosts[h as usize];
            host.genuine && reg.contains(&host.label)
        })
        .collect();
    let seeker = |h: HostId| {
        w.hosts[h as usize]
            .discovery
            .as_ref()
            .is_some_and(|d| d.seeker)
    };
    let components = w.checks.graph.components(&admitted);
    for &h in &admitted {
        if !seeker(h) {
            continue;
        }
        let reach = |x: &HostId| *x != h && w.net.partition.reachable(h, *x);
        let others: Vec<HostId> = admitted.iter().copied().filter(reach).collect();
        if others.is_empty() {
            continue;
        }
        let comp = components.of(h).unwrap_or(&[]);
        let label = &w.hosts[h as usize].label;
        let v = |detail: String| Violation {
            invariant: "discovery.converges",
            time_ms: w.now / 1_000_000,
            host: Some(label.clone()),
            detail,
        };
        if comp.len() < 2 {
            out.push(v(format!(
                "seeker {label} has no link, though {} server(s) can reach it",
                others.len()
            )));
            continue;
        }
        let network_near = others.iter().any(|&x| !seeker(x));
        if network_near && comp.iter().all(|&x| seeker(x)) {
            let names: Vec<&str> = comp
                .iter()
                .map(|&x| w.hosts[x as usize].label.as_str())
                .collect();
            out.push(v(format!(
                "seeker {label} ended in an island of seekers {names:?}, apart from the network it can reach"
            )));
        }
    }
    out
}
