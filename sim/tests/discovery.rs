//! Discovery end to end: seekers that find the network by HELLO/WELCOME
//! over lossy datagrams, and what `stats.discovery` says about it.

use std::path::PathBuf;

use drc_sim::run::{run, RunOptions};
use drc_sim::scenario::{self, Scenario};

fn load(name: &str) -> Scenario {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../scenarios/{name}.toml"));
    scenario::load(&p).unwrap()
}

fn seeded(seed: u64) -> RunOptions {
    RunOptions {
        seed: Some(seed),
        ..Default::default()
    }
}

#[test]
fn two_seekers_join_one_tree_with_no_link_left_over_on_every_seed() {
    let scn = load("discovery-two-seekers");
    let (mut lost, mut duplicated) = (0, 0);
    for seed in 0..30 {
        let o = run(&scn, seeded(seed)).unwrap();
        assert!(o.matched, "seed {seed}: {:?}", o.violations);
        assert_eq!(o.components.len(), 1, "seed {seed}");
        // Five servers, one tree: four links, and never a loop to break
        // (the seekers never dialled each other and the network at once).
        assert_eq!(o.links.len(), 4, "seed {seed}: {:?}", o.links);
        assert_eq!(o.stats.loops_broken, 0, "seed {seed}");
        let d = o.discovery.expect("stats.discovery");
        assert_eq!(d.links_from_discovery, 2, "seed {seed}: {d:?}");
        assert!(
            d.hello_sent >= 2 && d.welcome_sent >= 2,
            "seed {seed}: {d:?}"
        );
        lost += d.datagrams_lost;
        duplicated += d.datagrams_duplicated;
    }
    // The 30 % loss and 10 % duplication were really there.
    assert!(
        lost > 50 && duplicated > 5,
        "lost {lost}, duplicated {duplicated}"
    );
}

#[test]
fn a_seeker_cut_off_looks_again_and_rejoins_after_the_heal() {
    let o = run(&load("discovery-partition-heals"), RunOptions::default()).unwrap();
    assert!(o.matched, "{:?}", o.violations);
    let d = o.discovery.unwrap();
    // Once after the first heal, once after the second.
    assert_eq!(d.links_from_discovery, 2, "{d:?}");
    assert_eq!(
        o.links,
        [("a".into(), "hub".into()), ("hub".into(), "s".into())]
    );
}

#[test]
fn stats_discovery_is_in_the_json_only_with_discovery() {
    let o = run(&load("discovery-two-seekers"), RunOptions::default()).unwrap();
    let d = &o.to_json()["stats"]["discovery"];
    for key in [
        "hello_sent",
        "welcome_sent",
        "datagrams_lost",
        "datagrams_duplicated",
        "links_from_discovery",
    ] {
        assert!(d[key].is_u64(), "{key} in {d}");
    }
    let o = run(&load("netsplit-heal"), RunOptions::default()).unwrap();
    assert!(o.to_json()["stats"].get("discovery").is_none());
}

#[test]
fn a_storm_loses_what_it_says() {
    // Every datagram lost for the first 30 s: the seeker cannot find the
    // network until the storm has passed.
    let mut scn = load("discovery-partition-heals");
    scn.actions.clear();
    scn.actions.push(scenario::TimedAction {
        time: drc_protocol::Duration::ZERO,
        action: scenario::Action::Storm {
            duration: drc_protocol::Duration::from_secs(30),
            loss_ppm: 1_000_000,
            duplicate_ppm: 0,
        },
        line: 0,
    });
    let o = run(&scn, RunOptions::default()).unwrap();
    assert!(o.matched, "{:?}", o.violations);
    let d = o.discovery.unwrap();
    assert_eq!(d.links_from_discovery, 1);
    // 2 s periods jittered down to 1 s at most: 15 HELLOs or more, each
    // lost on its way to both listeners.
    assert!(d.hello_sent >= 15 && d.datagrams_lost >= 30, "{d:?}");
}
