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
        let hit = all
            .iter()
            .find(|(_, s)| s.protocol.ablate.iter().any(|a| a == name));
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
