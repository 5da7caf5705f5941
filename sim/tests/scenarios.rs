//! Every scenario in `scenarios/` runs twice: the outcome must match its
//! `[expect]`, and both runs must produce the same trace hash.

use std::path::PathBuf;

use drc_sim::run::{run, RunOptions};
use drc_sim::scenario;

fn scenario_files() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("scenarios/ exists")
        .map(|e| e.expect("readable").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 8, "the regression suite is in scenarios/");
    files
}

#[test]
fn every_scenario_matches_its_expectation_and_is_deterministic() {
    let mut failures = Vec::new();
    for path in scenario_files() {
        let scn = scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
        let a =
            run(&scn, RunOptions::default()).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let b = run(&scn, RunOptions::default()).expect("second run");
        if a.trace_hash != b.trace_hash || a.events != b.events {
            failures.push(format!(
                "{}: nondeterministic ({} vs {})",
                path.display(),
                a.trace_hash,
                b.trace_hash
            ));
        }
        if !a.matched {
            failures.push(format!("{}:\n{}", path.display(), a.summary()));
        }
        if scn.expect.verdict == scenario::Verdict::Pass && !a.quiescent {
            failures.push(format!(
                "{}: passes without convergence being judged",
                path.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_built_in_default_passes() {
    let scn = scenario::parse_str(drc_sim::DEFAULT_SCENARIO, "default").unwrap();
    let o = run(&scn, RunOptions::default()).unwrap();
    assert!(o.matched, "{}", o.summary());
    assert!(o.quiescent);
}

#[test]
fn another_seed_gives_another_trace_but_the_same_verdict() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios/netsplit-heal.toml");
    let scn = scenario::load(&path).unwrap();
    let a = run(&scn, RunOptions::default()).unwrap();
    let b = run(
        &scn,
        RunOptions {
            seed: Some(12345),
            ..Default::default()
        },
    )
    .unwrap();
    assert_ne!(a.trace_hash, b.trace_hash, "the seed must reach the trace");
    assert!(a.matched && b.matched, "{}\n{}", a.summary(), b.summary());
}

/// cut-mid-burst must really cut inside a burst: before the cut, part of
/// one side's burst (some SERVER frames) has crossed the a-b link but not
/// its end-of-burst marker.
#[test]
fn cut_mid_burst_cuts_inside_a_burst() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios/cut-mid-burst.toml");
    let scn = scenario::load(&path).unwrap();
    let sink = drc_sim::trace::SharedBuffer::default();
    let o = run(
        &scn,
        RunOptions {
            trace: Some(Box::new(sink.clone())),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(o.matched, "{}", o.summary());
    let text = String::from_utf8(sink.contents()).unwrap();
    let mut servers = [0, 0];
    let mut eob = [false, false];
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if v["ev"] == "action" && v["do"] == "cut" {
            break;
        }
        if v["ev"] != "deliver" {
            continue;
        }
        let dir = match (v["from"].as_str(), v["to"].as_str()) {
            (Some("a"), Some("b")) => 0,
            (Some("b"), Some("a")) => 1,
            _ => continue,
        };
        let cmd = v["cmd"].as_str().unwrap();
        if cmd == "SERVER" {
            servers[dir] += 1;
        } else if cmd == "EOB" {
            eob[dir] = true;
        }
    }
    assert!(
        (0..2).any(|d| servers[d] > 0 && !eob[d]),
        "the cut fell outside the bursts: SERVER frames {servers:?}, EOB seen {eob:?}"
    );
}
