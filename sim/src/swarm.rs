//! Swarm faults: a `[faults]` section turned, per seed, into an explicit
//! timeline of `[[at]]` actions.
//!
//! Each seed enables a random subset of the fault kinds the scenario
//! allows, gives each a random weight, and scales the mean gap between
//! faults, in the spirit of swarm testing (Groce et al.): a run that
//! never partitions can find the bugs partitions would mask, and the
//! other way round. At the end of the fault window a liveness phase heals
//! every partition and restarts every crashed server; the network must
//! then converge, as one tree, within `converge_within`.
//!
//! Expanding first and simulating second keeps the world free of
//! randomness of its own and lets `shrink` work on plain actions.

use std::collections::BTreeSet;

use drc_protocol::Duration;
use rand_chacha::rand_core::RngCore;
use rand_chacha::ChaCha8Rng;

use crate::rng;
use crate::scenario::{
    Action, FaultKind, FaultsSection, NickCollision, Ordering, Scenario, SendMode, TimedAction,
};

/// What a seed chose: shown in sweep reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub kinds: Vec<(FaultKind, u64)>,
    pub mean_gap: Duration,
    pub faults: usize,
    /// The policies this seed runs under.
    pub nick_collision: NickCollision,
    pub ordering: Ordering,
    pub send: SendMode,
}

/// The scenario with its `[faults]` replaced by explicit actions for
/// `seed`, and the expectations a swarm run carries (one tree at the end,
/// judged after `converge_within`). A scenario without `[faults]` is
/// returned unchanged.
pub fn expand(scn: &Scenario, seed: u64) -> (Scenario, Option<Plan>) {
    let with_users = crate::workload::expand(scn, seed);
    let scn = &with_users;
    let Some(f) = &scn.faults else {
        return (scn.clone(), None);
    };
    let mut rng = rng::stream(seed, "faults");
    // Moving clients needs clients: a scenario of servers alone draws
    // exactly what it drew before the kind existed.
    let allowed: Vec<FaultKind> = f
        .kinds
        .iter()
        .copied()
        .filter(|&k| k != FaultKind::Redirect || !scn.clients.is_empty())
        // Likewise storms need datagrams.
        .filter(|&k| k != FaultKind::Storm || scn.discovery.is_some())
        // And greeter faults a greeter (token attacks clients as well).
        .filter(|&k| k != FaultKind::Greeter || scn.greeter.is_some())
        .filter(|&k| k != FaultKind::Token || (scn.greeter.is_some() && !scn.clients.is_empty()))
        .collect();
    if allowed.is_empty() {
        return (scn.clone(), None);
    }
    let plan_kinds = choose_kinds(&mut rng, &allowed);
    let scale_percent = 50 + rng::between(&mut rng, 0, 150);
    let mean_gap = Duration::from_nanos(f.mean_gap.as_nanos() / 100 * scale_percent);
    let mut gen = Generator::new(scn, f, rng);
    let faults = gen.run(&plan_kinds, mean_gap);
    let mut out = scn.clone();
    out.seed = seed;
    out.faults = None;
    // A stream of its own, so listing policies leaves every fault draw
    // of a seed as it was.
    let mut prng = rng::stream(seed, "policies");
    if !f.nick_collision.is_empty() {
        let i = rng::between(&mut prng, 0, f.nick_collision.len() as u64 - 1);
        out.protocol.nick_collision = f.nick_collision[i as usize];
    }
    if !f.ordering.is_empty() {
        let i = rng::between(&mut prng, 0, f.ordering.len() as u64 - 1);
        out.protocol.ordering = f.ordering[i as usize];
    }
    // Drawn after the others, so that adding the list to a swarm leaves
    // every seed's other policies as they were.
    if !f.send.is_empty() {
        let i = rng::between(&mut prng, 0, f.send.len() as u64 - 1);
        out.protocol.send = f.send[i as usize];
    }
    out.actions.extend(gen.actions);
    out.actions.sort_by_key(|a| a.time);
    let end = f.start.as_nanos() + f.window.as_nanos();
    out.duration = Duration::from_nanos(end + f.converge_within.as_nanos()).max(scn.duration);
    out.expect.settle = Some(f.converge_within);
    out.expect.connected = true;
    let (nick_collision, ordering, send) = (
        out.protocol.nick_collision,
        out.protocol.ordering,
        out.protocol.send,
    );
    (
        out,
        Some(Plan {
            kinds: plan_kinds,
            mean_gap,
            faults,
            nick_collision,
            ordering,
            send,
        }),
    )
}

fn choose_kinds(rng: &mut ChaCha8Rng, allowed: &[FaultKind]) -> Vec<(FaultKind, u64)> {
    let mut kinds: Vec<(FaultKind, u64)> = allowed
        .iter()
        .filter(|_| rng.next_u32().is_multiple_of(2))
        .map(|&k| (k, 0))
        .collect();
    if kinds.is_empty() {
        let k = allowed[rng::between(rng, 0, allowed.len() as u64 - 1) as usize];
        kinds.push((k, 0));
    }
    for k in &mut kinds {
        k.1 = rng::between(rng, 1, 4);
    }
    kinds
}

struct Generator<'a> {
    scn: &'a Scenario,
    f: &'a FaultsSection,
    rng: ChaCha8Rng,
    servers: Vec<String>,
    /// Configured server pairs (autoconnect edges and race links).
    edges: Vec<(String, String)>,
    actions: Vec<TimedAction>,
    crashed: BTreeSet<String>,
    retired: BTreeSet<String>,
    partition_until: u64,
    end: u64,
}

const SEC: u64 = 1_000_000_000;

impl<'a> Generator<'a> {
    fn new(scn: &'a Scenario, f: &'a FaultsSection, rng: ChaCha8Rng) -> Self {
        let servers = scn.server_names();
        let mut edges: Vec<(String, String)> = Vec::new();
        for s in &scn.servers {
            for t in &s.connect {
                edges.push((s.name.clone(), t.clone()));
            }
        }
        Generator {
            scn,
            f,
            rng,
            servers,
            edges,
            actions: Vec::new(),
            crashed: BTreeSet::new(),
            retired: BTreeSet::new(),
            partition_until: 0,
            end: f.start.as_nanos() + f.window.as_nanos(),
        }
    }

    fn at(&mut self, t: u64, action: Action) {
        self.actions.push(TimedAction {
            time: Duration::from_nanos(t),
            action,
            line: 0,
        });
    }

    fn pick<T: Clone>(&mut self, v: &[T]) -> Option<T> {
        if v.is_empty() {
            return None;
        }
        Some(v[rng::between(&mut self.rng, 0, v.len() as u64 - 1) as usize].clone())
    }

    fn span(&mut self, lo: u64, hi: u64) -> u64 {
        rng::between(&mut self.rng, lo, hi)
    }

    /// Generates the fault timeline; returns the number of faults.
    fn run(&mut self, kinds: &[(FaultKind, u64)], mean_gap: Duration) -> usize {
        let total: u64 = kinds.iter().map(|k| k.1).sum();
        let ping = self.scn.protocol.ping_timeout.as_nanos();
        let mut t = self.f.start.as_nanos();
        let mut n = 0;
        loop {
            t += self.span(0, 2 * mean_gap.as_nanos());
            if t >= self.end {
                break;
            }
            let mut r = self.span(0, total - 1);
            let kind = kinds
                .iter()
                .find(|k| {
                    if r < k.1 {
                        true
                    } else {
                        r -= k.1;
                        false
                    }
                })
                .map(|k| k.0)
                .expect("weights cover the draw");
            if self.fault(kind, t, ping) {
                n += 1;
            }
        }
        // Liveness phase: heal everything and restart what is down.
        self.at(self.end, Action::Heal);
        for s in std::mem::take(&mut self.crashed) {
            self.at(self.end, Action::Restart { server: s });
        }
        n
    }

    fn fault(&mut self, kind: FaultKind, t: u64, ping: u64) -> bool {
        let until = |g: &mut Self, lo: u64, hi: u64| (t + g.span(lo, hi)).min(g.end);
        match kind {
            FaultKind::Partition | FaultKind::Isolate => {
                if t < self.partition_until || self.servers.len() < 2 {
                    return false;
                }
                let group = if kind == FaultKind::Isolate {
                    vec![self.hub()]
                } else {
                    let k = self.span(1, (self.servers.len() as u64 / 2).max(1));
                    let mut pool = self.servers.clone();
                    let mut g = Vec::new();
                    for _ in 0..k {
                        let i = self.span(0, pool.len() as u64 - 1) as usize;
                        g.push(pool.remove(i));
                    }
                    g.sort();
                    g
                };
                let heal = until(self, SEC, 3 * ping);
                self.partition_until = heal;
                self.at(
                    t,
                    Action::Partition {
                        groups: vec![group],
                    },
                );
                if heal < self.end {
                    self.at(heal, Action::Heal);
                }
            }
            FaultKind::Cut => {
                let Some((a, b)) = self.pick(&self.edges.clone()) else {
                    return false;
                };
                self.at(t, Action::Cut { a, b });
            }
            FaultKind::Flap => {
                let Some((a, b)) = self.pick(&self.edges.clone()) else {
                    return false;
                };
                let mut at = t;
                for _ in 0..self.span(2, 4) {
                    if at >= self.end {
                        break;
                    }
                    self.at(
                        at,
                        Action::Cut {
                            a: a.clone(),
                            b: b.clone(),
                        },
                    );
                    at += self.span(SEC, 5 * SEC);
                }
            }
            FaultKind::Stall => {
                let Some((a, b)) = self.pick(&self.edges.clone()) else {
                    return false;
                };
                let stop = until(self, SEC / 2, 2 * ping);
                self.at(
                    t,
                    Action::Stall {
                        a,
                        b,
                        duration: Duration::from_nanos(stop.saturating_sub(t).max(1)),
                    },
                );
            }
            FaultKind::Storm => {
                let stop = until(self, 2 * SEC, 3 * ping);
                let seekers = self
                    .scn
                    .discovery
                    .as_ref()
                    .map(|d| d.seekers.clone())
                    .unwrap_or_default();
                // Half the storms blow on the datagrams alone; the other
                // half cut some seekers off entirely (links too), so that
                // they lose their links and must find the network again.
                if self.span(0, 1) == 0 || seekers.is_empty() || t < self.partition_until {
                    let loss_ppm = self.span(500_000, 950_000) as u32;
                    let duplicate_ppm = self.span(0, 500_000) as u32;
                    self.at(
                        t,
                        Action::Storm {
                            duration: Duration::from_nanos(stop.saturating_sub(t).max(1)),
                            loss_ppm,
                            duplicate_ppm,
                        },
                    );
                } else {
                    let k = self.span(1, seekers.len() as u64);
                    let mut pool = seekers;
                    let mut g = Vec::new();
                    for _ in 0..k {
                        let i = self.span(0, pool.len() as u64 - 1) as usize;
                        g.push(pool.remove(i));
                    }
                    g.sort();
                    self.partition_until = stop;
                    self.at(t, Action::Partition { groups: vec![g] });
                    if stop < self.end {
                        self.at(stop, Action::Heal);
                    }
                }
            }
            FaultKind::Redirect => {
                let clients = self.scn.client_ids();
                let Some(client) = self.pick(&clients) else {
                    return false;
                };
                let up: Vec<String> = self
                    .servers
                    .iter()
                    .filter(|s| !self.retired.contains(*s))
                    .cloned()
                    .collect();
                let Some(to) = self.pick(&up) else {
                    return false;
                };
                let by_client = self.span(0, 3) == 0;
                self.at(
                    t,
                    Action::Redirect {
                        client,
                        to,
                        by_client,
                    },
                );
            }
            FaultKind::Shutdown => {
                // Only a leaf: shutting down a server others depend on
                // would leave them split by configuration, not by a bug.
                let leaves: Vec<String> = self
                    .servers
                    .iter()
                    .filter(|s| !self.edges.iter().any(|(_, t)| t == *s))
                    .filter(|s| !self.crashed.contains(*s) && !self.retired.contains(*s))
                    .cloned()
                    .collect();
                let Some(s) = self.pick(&leaves) else {
                    return false;
                };
                self.retired.insert(s.clone());
                self.at(t, Action::Shutdown { server: s });
            }
            FaultKind::Crash => {
                let up: Vec<String> = self
                    .servers
                    .iter()
                    .filter(|s| !self.crashed.contains(*s) && !self.retired.contains(*s))
                    .cloned()
                    .collect();
                let Some(s) = self.pick(&up) else {
                    return false;
                };
                let back = until(self, 2 * SEC, 3 * ping);
                self.at(t, Action::Crash { server: s.clone() });
                if back < self.end {
                    self.at(back, Action::Restart { server: s });
                } else {
                    self.crashed.insert(s);
                }
            }
            FaultKind::Greeter => {
                let Some(g) = self.scn.greeter.as_ref().map(|g| g.name.clone()) else {
                    return false;
                };
                if self.crashed.contains(&g) || self.retired.contains(&g) {
                    return false;
                }
                let back = until(self, 2 * SEC, 3 * ping);
                self.at(t, Action::Crash { server: g.clone() });
                if back < self.end {
                    self.at(back, Action::Restart { server: g });
                } else {
                    self.crashed.insert(g);
                }
            }
            FaultKind::Token => {
                let clients = self.scn.client_ids();
                let Some(client) = self.pick(&clients) else {
                    return false;
                };
                let Some(server) = self.pick(&self.servers.clone()) else {
                    return false;
                };
                let kinds = crate::scenario::TOKEN_ATTACKS;
                let token = kinds[self.span(0, kinds.len() as u64 - 1) as usize]
                    .0
                    .to_string();
                self.at(
                    t,
                    Action::PresentToken {
                        client,
                        server,
                        token,
                    },
                );
            }
            FaultKind::Skew => {
                let Some(server) = self.pick(&self.servers.clone()) else {
                    return false;
                };
                let mag = self.span(SEC, 60 * SEC) as i64;
                let by_nanos = if self.rng.next_u32().is_multiple_of(2) {
                    mag
                } else {
                    -mag
                };
                self.at(t, Action::Skew { server, by_nanos });
            }
            FaultKind::Race => {
                if self.servers.len() < 4 {
                    return false;
                }
                let mut pool = self.servers.clone();
                let mut four = Vec::new();
                for _ in 0..4 {
                    let i = self.span(0, pool.len() as u64 - 1) as usize;
                    four.push(pool.remove(i));
                }
                self.at(
                    t,
                    Action::Link {
                        a: four[0].clone(),
                        b: four[1].clone(),
                    },
                );
                self.at(
                    t,
                    Action::Link {
                        a: four[2].clone(),
                        b: four[3].clone(),
                    },
                );
            }
        }
        true
    }

    /// The server most others name as an autoconnect target.
    fn hub(&self) -> String {
        let mut best = (0, self.servers[0].clone());
        for s in &self.servers {
            let n = self.edges.iter().filter(|(a, b)| a == s || b == s).count();
            if n > best.0 {
                best = (n, s.clone());
            }
        }
        best.1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn swarm() -> Scenario {
        crate::scenario::parse_str(
            r#"
name = "s"
duration = "10s"
[[server]]
name = "hub"
[[server]]
name = "a"
connect = ["hub"]
[[server]]
name = "b"
connect = ["hub"]
[[server]]
name = "c"
connect = ["a"]
[faults]
start = "5s"
window = "60s"
mean_gap = "2s"
converge_within = "60s"
"#,
            "s.toml",
        )
        .unwrap()
    }

    #[test]
    fn listed_policies_are_drawn_per_seed_and_leave_the_faults_alone() {
        let plain = swarm();
        let mut s = plain.clone();
        let f = s.faults.as_mut().unwrap();
        f.nick_collision = NickCollision::ALL.to_vec();
        f.ordering = Ordering::ALL.to_vec();
        let without_send = s.clone();
        s.faults.as_mut().unwrap().send = SendMode::ALL.to_vec();
        let mut seen = BTreeSet::new();
        for seed in 0..128 {
            let (x, plan) = expand(&s, seed);
            let plan = plan.unwrap();
            assert_eq!(x.protocol.nick_collision, plan.nick_collision);
            assert_eq!(x.protocol.ordering, plan.ordering);
            assert_eq!(x.protocol.send, plan.send);
            seen.insert((
                plan.nick_collision.as_str(),
                plan.ordering.as_str(),
                plan.send.as_str(),
            ));
            // Only the policies differ from the run without the lists.
            let (mut y, _) = expand(&plain, seed);
            y.protocol.nick_collision = x.protocol.nick_collision;
            y.protocol.ordering = x.protocol.ordering;
            y.protocol.send = x.protocol.send;
            assert_eq!(x, y, "seed {seed}");
            // The send list, drawn last, leaves the other two as they were.
            let (z, _) = expand(&without_send, seed);
            assert_eq!(
                (z.protocol.nick_collision, z.protocol.ordering),
                (x.protocol.nick_collision, x.protocol.ordering)
            );
        }
        assert_eq!(
            seen.len(),
            16,
            "every triple of policies comes up: {seen:?}"
        );
        let (x, plan) = expand(&plain, 5);
        assert_eq!(plan.unwrap().nick_collision, plain.protocol.nick_collision);
        assert_eq!(x.protocol, plain.protocol);
    }

    #[test]
    fn storms_are_drawn_only_with_discovery() {
        let plain = swarm();
        let mut without = plain.clone();
        let f = without.faults.as_mut().unwrap();
        f.kinds.retain(|&k| k != FaultKind::Storm);
        let mut with = plain.clone();
        with.discovery = Some(crate::scenario::DiscoverySection {
            seekers: vec!["c".into()],
            ..Default::default()
        });
        let mut stormy = 0;
        for seed in 0..64 {
            // Without [discovery] the kind might as well not exist: every
            // seed draws exactly what it drew before storms were added.
            assert_eq!(expand(&plain, seed), expand(&without, seed), "seed {seed}");
            let (x, plan) = expand(&with, seed);
            if plan.unwrap().kinds.iter().any(|k| k.0 == FaultKind::Storm) {
                stormy += 1;
                assert!(x
                    .actions
                    .iter()
                    .any(|a| matches!(&a.action, Action::Storm { .. } | Action::Partition { .. })));
            }
        }
        assert!(stormy > 10, "{stormy} of 64 seeds enabled storms");
    }

    #[test]
    fn expansion_is_a_pure_function_of_the_seed() {
        let s = swarm();
        assert_eq!(expand(&s, 3), expand(&s, 3));
        assert_ne!(expand(&s, 3).0.actions, expand(&s, 4).0.actions);
    }

    #[test]
    fn the_window_ends_with_a_liveness_phase_and_the_bound_after_it() {
        let s = swarm();
        for seed in 0..50 {
            let (x, plan) = expand(&s, seed);
            let plan = plan.unwrap();
            assert!(x.faults.is_none() && x.expect.connected);
            assert_eq!(x.duration, Duration::from_secs(125));
            let last = x.actions.last().unwrap();
            assert_eq!(last.time, Duration::from_secs(65), "seed {seed}");
            assert!(x.actions.iter().all(|a| a.time >= Duration::from_secs(5)));
            assert!(x
                .actions
                .iter()
                .any(|a| a.action == Action::Heal && a.time == Duration::from_secs(65)));
            // Every crash is followed by a restart.
            for (i, a) in x.actions.iter().enumerate() {
                if let Action::Crash { server } = &a.action {
                    assert!(x.actions[i..].iter().any(|b| b.action
                        == Action::Restart {
                            server: server.clone()
                        }));
                }
            }
            assert!(!plan.kinds.is_empty());
            // The expanded scenario is a valid scenario file.
            let again = crate::scenario::parse_str(&x.to_toml(), "x.toml").unwrap();
            assert_eq!(again, x);
        }
    }
}
