//! Shrinking failing swarm runs of three ablations: the result must be a
//! handful of actions on a few servers, and must still fail on its own.

use std::path::PathBuf;

use drc_sim::run::{run, RunOptions};
use drc_sim::scenario::{self, Scenario};
use drc_sim::{shrink, sweep};

fn ablated(name: &str) -> Scenario {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios/swarm-tree.toml");
    let mut s = scenario::load(&p).unwrap();
    s.protocol.ablate = vec![name.to_string()];
    s
}

fn first_failing(s: &Scenario) -> u64 {
    (0..200)
        .find(|&seed| !sweep::run_seed(s, seed).unwrap().0.matched)
        .expect("a failing seed")
}

#[test]
fn shrinking_three_ablations_gives_small_scenarios_that_still_fail() {
    for (ablation, invariant) in [
        ("loop-check", "tree.acyclic"),
        ("squit-forward", "ghost.server"),
        ("burst-order", "tree.view"),
    ] {
        let scn = ablated(ablation);
        let seed = first_failing(&scn);
        let res = shrink::shrink(&scn, seed).unwrap();
        assert_eq!(res.invariant, invariant, "{ablation}");
        let min = &res.scenario;
        assert!(
            min.actions.len() <= 5,
            "{ablation}: {} actions left",
            min.actions.len()
        );
        assert!(min.servers.len() < 11, "{ablation}: no server dropped");
        assert!(res.after.events < res.before.events);
        // It replays on its own, from the file text alone.
        let text = min.to_toml();
        let reread = scenario::parse_str(&text, "min.toml").unwrap();
        let o = run(&reread, RunOptions::default()).unwrap();
        assert!(
            o.violations.iter().any(|v| v.invariant == invariant),
            "{ablation}: the shrunk scenario no longer fails:\n{text}"
        );
        // And without the ablation the same small scenario passes.
        let mut fixed = reread.clone();
        fixed.protocol.ablate.clear();
        let o = run(&fixed, RunOptions::default()).unwrap();
        assert!(
            o.violations.is_empty(),
            "{ablation}: fails even without the ablation:\n{}",
            o.summary()
        );
    }
}

#[test]
fn shrinking_a_passing_run_is_an_error() {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios/swarm-tree.toml");
    let s = scenario::load(&p).unwrap();
    let err = shrink::shrink(&s, 0).err().expect("seed 0 passes");
    assert!(err.contains("nothing to shrink"), "{err}");
}

/// With `keep_autoconnects` the servers left keep their `connect` lists
/// exactly. ablate-dedup fails whatever the tree: shrunk plainly it loses
/// an autoconnect (one of its two leaves is linked by the other's alone),
/// and keeping them it loses none, and still fails. Kept so, the run also
/// goes on to the quiet end its `[expect]` judges (plain shrinking stops
/// it just after the violation): without the ablation, as once the bug
/// is fixed, it passes, judged, a regression scenario as it stands.
#[test]
fn shrinking_can_keep_the_autoconnects() {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios/ablate-dedup.toml");
    let scn = scenario::load(&p).unwrap();
    let edges = |s: &Scenario| -> Vec<(String, Vec<String>)> {
        s.servers
            .iter()
            .map(|d| (d.name.clone(), d.connect.clone()))
            .collect()
    };
    let count = |s: &Scenario| -> usize { s.servers.iter().map(|d| d.connect.len()).sum() };
    let kept = shrink::shrink_keeping(&scn, scn.seed, false, true).unwrap();
    assert_eq!(edges(&kept.scenario), edges(&scn));
    let o = run(&kept.scenario, RunOptions::default()).unwrap();
    assert!(o.violations.iter().any(|v| v.invariant == kept.invariant));
    let mut fixed = kept.scenario.clone();
    fixed.protocol.ablate.clear();
    let o = run(&fixed, RunOptions::default()).unwrap();
    assert!(o.violations.is_empty(), "{}", o.summary());
    assert!(o.quiescent, "{:?}", o.warnings);
    let plain = shrink::shrink(&scn, scn.seed).unwrap();
    let mut fixed = plain.scenario.clone();
    fixed.protocol.ablate.clear();
    let o = run(&fixed, RunOptions::default()).unwrap();
    assert!(
        !o.quiescent,
        "plain shrinking ends just after the violation"
    );
    assert!(
        count(&plain.scenario) < count(&scn),
        "{:?}",
        edges(&plain.scenario)
    );
}
