//! Bounded seed sweeps of the stock swarm scenarios: the regression the CI
//! runs on every change. A longer sweep is opt-in:
//! `cargo test --release --test sweeps -- --ignored`.

use std::path::{Path, PathBuf};

use drc_sim::scenario::{self, Scenario};
use drc_sim::sweep::{self, Seeds};

fn load(name: &str) -> Scenario {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../scenarios/{name}.toml"));
    scenario::load(&p).unwrap()
}

fn stock() -> Scenario {
    load("swarm-tree")
}

fn tmp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("drcsim-sweeps-{}-{name}", std::process::id()))
}

fn csv(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("sweep.csv")).unwrap()
}

#[test]
fn stock_swarm_keeps_every_invariant_over_300_seeds() {
    let out = tmp("stock");
    let seeds: Vec<u64> = (0..300).collect();
    let res = sweep::sweep(&stock(), &seeds, 2, &out, false).unwrap();
    assert_eq!(res.rows.len(), 300);
    assert!(
        res.failing.is_empty(),
        "failing seeds {:?}; see {}",
        res.failing,
        out.display()
    );
}

#[test]
fn multihomed_swarm_keeps_every_invariant_over_150_seeds() {
    let out = tmp("mesh");
    let seeds: Vec<u64> = (0..150).collect();
    let res = sweep::sweep(&load("swarm-mesh"), &seeds, 2, &out, false).unwrap();
    assert!(
        res.failing.is_empty(),
        "failing seeds {:?}; see {}",
        res.failing,
        out.display()
    );
}

#[test]
fn chat_swarm_keeps_every_invariant_over_300_seeds() {
    let out = tmp("chat");
    let seeds: Vec<u64> = (0..300).collect();
    let res = sweep::sweep(&load("swarm-chat"), &seeds, 2, &out, false).unwrap();
    assert_eq!(res.rows.len(), 300);
    assert!(
        res.failing.is_empty(),
        "failing seeds {:?}; see {}",
        res.failing,
        out.display()
    );
    // The seeds really do cover every pair of policies.
    let col = |name: &str| sweep::HEADER.iter().position(|h| *h == name).unwrap();
    let (nc, ord) = (col("nick_collision"), col("ordering"));
    let pairs: std::collections::BTreeSet<(String, String)> = res
        .rows
        .iter()
        .map(|r| (r.fields[nc].clone(), r.fields[ord].clone()))
        .collect();
    assert_eq!(pairs.len(), 8, "{pairs:?}");
}

/// The ablations of the server tree, caught by the stock swarm; every other
/// one but those of [`OWN_SCENARIO`] breaks the user and room layer and is
/// caught by the swarm with users.
const TREE_ABLATIONS: [&str; 6] = [
    "loop-check",
    "squit-direction",
    "burst-order",
    "auth-before-state",
    "handshake-timeout",
    "squit-forward",
];

/// Ablations no swarm reaches, each caught in its own scenario. Neither
/// swarm sends operator broadcasts (`bcast-direction`, see
/// ablate-bcast-direction.toml). A KILL, SAVE or REJECT arrives from the
/// wrong side only if a transient cycle carries it at the instant of a
/// collision: with `collision-direction` on, 600 seeds of the swarm with
/// users fail exactly as without it (ablate-collision-direction.toml
/// builds that cycle).
const OWN_SCENARIO: [&str; 2] = ["bcast-direction", "collision-direction"];

/// Runs each named ablation on `base` until a seed fails with the
/// ablation's own invariant among its violations.
fn catch_ablations(base: &Scenario, names: &[&str]) {
    for name in names {
        let (_, _, invariant) = drc_protocol::config::ABLATIONS
            .iter()
            .find(|a| a.0 == *name)
            .unwrap_or_else(|| panic!("unknown ablation {name}"));
        let mut scn = base.clone();
        scn.protocol.ablate = vec![name.to_string()];
        let hit = (0..200u64).find(|&seed| {
            let (row, o, _) = sweep::run_seed(&scn, seed).unwrap();
            let fired: Vec<&str> = o.violations.iter().map(|v| v.invariant).collect();
            // A seed that fails for another reason is not a catch.
            !row.matched && fired.contains(invariant)
        });
        assert!(
            hit.is_some(),
            "ablation {name} survived 200 seeds of {} ({invariant} never fired)",
            base.name
        );
    }
}

#[test]
fn every_chat_ablation_is_caught_by_the_chat_swarm_within_200_seeds() {
    let chat: Vec<&str> = drc_protocol::config::ABLATIONS
        .iter()
        .map(|a| a.0)
        .filter(|a| !TREE_ABLATIONS.contains(a) && !OWN_SCENARIO.contains(a))
        .collect();
    assert!(chat.len() >= 10, "{chat:?}");
    catch_ablations(&load("swarm-chat"), &chat);
}

#[test]
fn every_tree_ablation_is_caught_within_200_seeds() {
    catch_ablations(&stock(), &TREE_ABLATIONS);
}

#[test]
fn the_csv_does_not_depend_on_jobs_or_sharding() {
    let scn = stock();
    let seeds: Vec<u64> = (40..60).collect();
    let one = tmp("jobs1");
    let two = tmp("jobs2");
    sweep::sweep(&scn, &seeds, 1, &one, false).unwrap();
    sweep::sweep(&scn, &seeds, 2, &two, false).unwrap();
    assert_eq!(csv(&one), csv(&two));
    let mut parts = Vec::new();
    for k in 0..3 {
        let dir = tmp(&format!("shard{k}"));
        let list = Seeds {
            first: 40,
            end: 60,
            shard: k,
            shards: 3,
        }
        .list();
        sweep::sweep(&scn, &list, 1, &dir, false).unwrap();
        parts.push(dir.join("sweep.csv"));
    }
    let merged = tmp("merged.csv");
    assert_eq!(sweep::merge(&parts, &merged).unwrap(), 20);
    assert_eq!(std::fs::read_to_string(&merged).unwrap(), csv(&one));
    // A shard merged twice is refused.
    parts.push(parts[0].clone());
    assert!(sweep::merge(&parts, &tmp("dup.csv"))
        .unwrap_err()
        .contains("more than one input"));
}

#[test]
fn a_failing_seed_leaves_a_reproducer_that_fails_on_its_own() {
    let mut scn = stock();
    scn.protocol.ablate = vec!["loop-check".into()];
    let out = tmp("repro");
    let seeds: Vec<u64> = (0..12).collect();
    let res = sweep::sweep(&scn, &seeds, 2, &out, false).unwrap();
    let seed = *res
        .failing
        .first()
        .expect("loop-check ablation fails some of 12 seeds");
    let repro = scenario::load(&sweep::repro_path(&out, seed)).unwrap();
    assert!(repro.faults.is_none(), "faults are explicit actions");
    let o = drc_sim::run::run(&repro, Default::default()).unwrap();
    assert!(!o.matched);
    let row = res.rows.iter().find(|r| r.seed == seed).unwrap();
    assert_eq!(
        o.trace_hash, row.fields[15],
        "the reproducer replays the same run"
    );
}

#[test]
#[ignore = "long: ten thousand seeds; run with --release"]
fn chat_swarm_long_sweep() {
    let out = tmp("chat-long");
    let seeds: Vec<u64> = (0..10_000).collect();
    let jobs = std::thread::available_parallelism().map_or(1, |n| n.get());
    let res = sweep::sweep(&load("swarm-chat"), &seeds, jobs, &out, false).unwrap();
    assert!(
        res.failing.is_empty(),
        "failing seeds {:?}; see {}",
        res.failing,
        out.display()
    );
}

#[test]
#[ignore = "long: thousands of seeds; run with --release"]
fn stock_swarm_long_sweep() {
    let out = tmp("long");
    let seeds: Vec<u64> = (0..5000).collect();
    let jobs = std::thread::available_parallelism().map_or(1, |n| n.get());
    let res = sweep::sweep(&stock(), &seeds, jobs, &out, false).unwrap();
    assert!(
        res.failing.is_empty(),
        "failing seeds {:?}; see {}",
        res.failing,
        out.display()
    );
}
