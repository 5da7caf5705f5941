//! Throughput benchmarks. Wall-clock time is read here and only here: it
//! measures the simulator, it never feeds a run.

use std::time::Instant as WallClock;

use drc_protocol::Duration;

use crate::run::{build, RunOptions};
use crate::scenario::{
    Action, Expect, NetworkSection, ProtocolSection, Scenario, ServerDecl, TimedAction,
};

/// When the flood starts: long enough for any tree we bench to form.
const FLOOD_START: u64 = 20_000_000_000;
/// Gap between two broadcasts.
const FLOOD_GAP: u64 = 50_000;

/// N servers in a seeded random tree (each links to a random earlier one).
pub fn flood_scenario(servers: usize, messages: u64, seed: u64) -> Scenario {
    let mut rng = crate::rng::stream(seed, "bench/tree");
    let decls = (0..servers)
        .map(|i| {
            let mut d = ServerDecl::new(format!("s{i}"));
            if i > 0 {
                let parent = crate::rng::between(&mut rng, 0, i as u64 - 1);
                d.connect = vec![format!("s{parent}")];
            }
            d
        })
        .collect();
    let text: String = "0123456789abcdef".repeat(4);
    let actions = (0..messages)
        .map(|i| TimedAction {
            time: Duration::from_nanos(FLOOD_START + i * FLOOD_GAP),
            action: Action::Broadcast {
                server: "s0".into(),
                text: text.clone(),
            },
            line: 0,
        })
        .collect();
    Scenario {
        name: format!("bench-flood-{servers}x{messages}"),
        description: "flood benchmark".into(),
        seed,
        duration: Duration::from_nanos(FLOOD_START + messages * FLOOD_GAP + 1_000_000_000),
        protocol: ProtocolSection::default(),
        network: NetworkSection {
            latency_min: Duration::from_millis(1),
            latency_max: Duration::from_millis(10),
            connect_timeout: Duration::from_secs(3),
        },
        servers: decls,
        clients: Vec::new(),
        actions,
        faults: None,
        workload: None,
        expect: Expect::default(),
    }
}

pub struct FloodReport {
    pub servers: usize,
    pub messages: u64,
    pub hops: u64,
    pub events: u64,
    pub wall_secs: f64,
    pub sim_secs: f64,
    pub violations: usize,
    pub tree_ok: bool,
}

pub fn flood(servers: usize, messages: u64, seed: u64) -> Result<FloodReport, String> {
    let scn = flood_scenario(servers, messages, seed);
    let mut world = build(&scn, &mut RunOptions::default())?;
    world.run_until(FLOOD_START);
    let formed = world.checks.graph.edges().count() == servers - 1;
    let (events0, hops0, sim0) = (world.events, world.broadcasts, world.now);
    let t0 = WallClock::now();
    world.run();
    let wall = t0.elapsed().as_secs_f64();
    Ok(FloodReport {
        servers,
        messages,
        hops: world.broadcasts - hops0,
        events: world.events - events0,
        wall_secs: wall,
        sim_secs: (world.now - sim0) as f64 / 1e9,
        violations: world.checks.violations.len(),
        tree_ok: formed,
    })
}

impl FloodReport {
    pub fn print(&self) {
        let expected = self.messages * (self.servers as u64 - 1);
        println!(
            "flood: {} servers, {} messages of 64 bytes",
            self.servers, self.messages
        );
        println!(
            "  hops {} (expected {}), events {}, violations {}, tree formed: {}",
            self.hops, expected, self.events, self.violations, self.tree_ok
        );
        println!(
            "  wall {:.3}s, {:.0} hops/s, {:.0} events/s, simulated/wall {:.1}x",
            self.wall_secs,
            self.hops as f64 / self.wall_secs,
            self.events as f64 / self.wall_secs,
            self.sim_secs / self.wall_secs
        );
    }
}
