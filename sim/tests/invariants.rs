//! Each invariant is seen both holding and firing: some scenario of the
//! suite expects it violated (a deliberately broken protocol switch or
//! setting), and its healthy twin passes with every invariant evaluated.

use std::collections::BTreeSet;
use std::path::PathBuf;

use drc_sim::checkers::{Kind, CATALOG};
use drc_sim::run::{run, RunOptions};
use drc_sim::scenario::{self, Verdict};

fn load_all() -> Vec<(String, scenario::Scenario)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut out: Vec<(String, scenario::Scenario)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|p| (p.display().to_string(), scenario::load(&p).unwrap()))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn every_invariant_fires_in_some_scenario_and_only_where_expected() {
    let mut fired: BTreeSet<&'static str> = BTreeSet::new();
    for (path, scn) in load_all() {
        let o = run(&scn, RunOptions::default()).unwrap();
        for v in &o.violations {
            fired.insert(v.invariant);
            assert!(
                scn.expect.verdict == Verdict::Fail,
                "{path}: unexpected {} violation: {}",
                v.invariant,
                v.detail
            );
        }
        for name in &scn.expect.violated {
            assert!(
                o.violations.iter().any(|v| v.invariant == name),
                "{path}: {name} did not fire"
            );
        }
    }
    let missing: Vec<&str> = CATALOG
        .iter()
        .map(|i| i.name)
        .filter(|n| !fired.contains(n))
        .collect();
    assert!(missing.is_empty(), "never seen firing: {missing:?}");
}

#[test]
fn the_catalog_names_are_unique_dotted_and_both_kinds_exist() {
    let names: BTreeSet<&str> = CATALOG.iter().map(|i| i.name).collect();
    assert_eq!(names.len(), CATALOG.len());
    assert!(CATALOG
        .iter()
        .all(|i| i.name.contains('.') && !i.statement.is_empty()));
    assert!(CATALOG.iter().any(|i| i.kind == Kind::Safety));
    assert!(CATALOG.iter().any(|i| i.kind == Kind::Convergence));
}

#[test]
fn ablations_are_caught_only_when_switched_on() {
    // Every ablation has a scenario that switches it on and expects the
    // invariant the protocol crate says should catch it.
    let all = load_all();
    for (name, _, invariant) in drc_protocol::config::ABLATIONS {
        if *name == "redirect-dedup" {
            // No run reaches it (see CLIENT_ONLY in sweeps.rs); a client
            // unit test feeds it both copies instead.
            continue;
        }
        // Its own file first: a scenario of another ablation may switch
        // it on too, to keep its course (ablate-take-reask.toml).
        let own = format!("ablate-{name}.toml");
        let hit = all
            .iter()
            .find(|(p, s)| p.ends_with(&own) && s.protocol.ablate.iter().any(|a| a == name))
            .or_else(|| {
                all.iter()
                    .find(|(_, s)| s.protocol.ablate.iter().any(|a| a == name))
            });
        let (path, scn) = hit.unwrap_or_else(|| panic!("no scenario ablates {name}"));
        assert!(
            scn.expect.violated.iter().any(|v| v == invariant),
            "{path} should expect {invariant}"
        );
        // The same scenario without the ablation keeps every invariant.
        let mut healthy = scn.clone();
        healthy.protocol.ablate.clear();
        healthy.expect = Default::default();
        let o = run(&healthy, RunOptions::default()).unwrap();
        assert!(
            o.violations.is_empty(),
            "{path} without {name}:\n{}",
            o.summary()
        );
    }
}

/// msg.direction has two halves; the SQUIT one fires in
/// ablate-squit-direction. This pins the BCAST one: in
/// ablate-bcast-direction a broadcast crosses the brief cycle and a copy
/// reaches b1 from b2 while b1 routes its origin through a1.
#[test]
fn the_bcast_half_of_msg_direction_fires_and_holds() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios/ablate-bcast-direction.toml");
    let scn = scenario::load(&path).unwrap();
    assert_eq!(scn.protocol.ablate, ["bcast-direction"]);

    // Ablated: every violation is a broadcast accepted from the wrong
    // side, the first at b1; none is the SQUIT half.
    let o = run(&scn, RunOptions::default()).unwrap();
    assert!(o.matched, "{}", o.summary());
    assert!(!o.violations.is_empty());
    for v in &o.violations {
        assert_eq!(v.invariant, "msg.direction");
        assert!(
            v.detail.starts_with("accepted a broadcast on link "),
            "not the BCAST half: {}",
            v.detail
        );
    }
    assert_eq!(o.violations[0].host.as_deref(), Some("b1"));

    // Healthy: b1 refuses that copy (a Misdirected BCAST note) and
    // nothing fires.
    let mut healthy = scn.clone();
    healthy.protocol.ablate.clear();
    healthy.expect = Default::default();
    let sink = drc_sim::trace::SharedBuffer::default();
    let o = run(
        &healthy,
        RunOptions {
            trace: Some(Box::new(sink.clone())),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(o.violations.is_empty(), "{}", o.summary());
    assert!(o.stats.misdirected > 0);
    let text = String::from_utf8(sink.contents()).unwrap();
    let refused: Vec<String> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| {
            v["ev"] == "note" && v["note"]["kind"] == "misdirected" && v["note"]["what"] == "BCAST"
        })
        .map(|v| v["host"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        refused,
        ["b1"],
        "b1, and only b1, refuses a misdirected BCAST"
    );
}

/// The KILL/SAVE/REJECT half of msg.direction: in
/// ablate-collision-direction a KILL issued by a1 reaches b1 only the long
/// way round the brief cycle, from b2, while b1 routes a1 over a1-b1.
#[test]
fn the_resolution_half_of_msg_direction_fires_and_holds() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios/ablate-collision-direction.toml");
    let scn = scenario::load(&path).unwrap();
    assert_eq!(scn.protocol.ablate, ["collision-direction"]);

    let o = run(&scn, RunOptions::default()).unwrap();
    assert!(o.matched, "{}", o.summary());
    assert!(!o.violations.is_empty());
    for v in &o.violations {
        assert_eq!(v.invariant, "msg.direction");
        assert!(
            v.detail.starts_with("accepted a KILL on link "),
            "not the resolution half: {}",
            v.detail
        );
    }
    assert_eq!(o.violations[0].host.as_deref(), Some("b1"));

    // Healthy: b1 refuses that KILL (a Misdirected KILL note), and only
    // b1, and nothing fires.
    let mut healthy = scn.clone();
    healthy.protocol.ablate.clear();
    healthy.expect = Default::default();
    let sink = drc_sim::trace::SharedBuffer::default();
    let o = run(
        &healthy,
        RunOptions {
            trace: Some(Box::new(sink.clone())),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(o.violations.is_empty(), "{}", o.summary());
    let text = String::from_utf8(sink.contents()).unwrap();
    let refused: Vec<String> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| {
            v["ev"] == "note" && v["note"]["kind"] == "misdirected" && v["note"]["what"] == "KILL"
        })
        .map(|v| v["host"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        refused,
        ["b1"],
        "b1, and only b1, refuses a misdirected KILL"
    );
}

/// `stream.kept` judges the calm part of a run: a room started afresh
/// before the first fault is a violation dated at that fault (stream
/// epochs only grow, so one look then sees it); after a fault, nothing is
/// judged. ablate-sequencer-handoff starts #lobby afresh a few seconds
/// after east's shutdown at 5 s.
#[test]
fn stream_kept_judges_the_calm_part_of_a_run_only() {
    use drc_protocol::Duration;
    use drc_sim::scenario::{Action, TimedAction};
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios/ablate-sequencer-handoff.toml");
    let base = scenario::load(&path).unwrap();
    let with_crash = |at: Duration| {
        let mut scn = base.clone();
        scn.expect = Default::default();
        scn.actions.push(TimedAction {
            time: at,
            action: Action::Crash {
                server: "west".into(),
            },
            line: 0,
        });
        scn.actions.sort_by_key(|a| a.time);
        let o = run(&scn, RunOptions::default()).unwrap();
        o.violations
            .iter()
            .filter(|v| v.invariant == "stream.kept")
            .map(|v| (v.time_ms, v.detail.clone()))
            .collect::<Vec<_>>()
    };
    let late = with_crash(Duration::from_secs(40));
    assert_eq!(late.len(), 1, "{late:?}");
    assert_eq!(late[0].0, 40_000);
    assert!(late[0].1.starts_with("#lobby is on stream 2."), "{late:?}");
    // A crash before the shutdown: the rescue that follows is excused.
    assert_eq!(with_crash(Duration::from_secs(3)), []);
}
