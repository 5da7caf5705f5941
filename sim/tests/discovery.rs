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

#[test]
fn a_crashed_or_stopped_server_hears_no_hello() {
    // hub is the only server a seeker could find. Down (crashed at 0s,
    // back at 30s), it answers nothing: the seeker links only after the
    // restart. Then hub shuts down for good at 60s, and a new seeker
    // booted at 70s hears nobody.
    let src = r#"
name = "deaf"
duration = "120s"
[[server]]
name = "hub"
[[server]]
name = "s"
[[server]]
name = "t"
start = false
[discovery]
seekers = ["s", "t"]
[[at]]
time = "0s"
do = "crash"
server = "hub"
[[at]]
time = "30s"
do = "restart"
server = "hub"
[[at]]
time = "60s"
do = "shutdown"
server = "hub"
[[at]]
time = "70s"
do = "restart"
server = "t"
"#;
    let scn = scenario::parse_str(src, "deaf.toml").unwrap();
    // Cut at 29 s: HELLOs went out all along, and nobody answered.
    let mut early = scn.clone();
    early.duration = drc_protocol::Duration::from_secs(29);
    early.actions.truncate(1);
    let o = run(&early, RunOptions::default()).unwrap();
    let d = o.discovery.unwrap();
    assert!(d.hello_sent >= 14, "{d:?}");
    assert_eq!((d.welcome_sent, d.links_from_discovery), (0, 0), "{d:?}");
    let o = run(&scn, RunOptions::default()).unwrap();
    let d = o.discovery.unwrap();
    // Every WELCOME came from hub while it ran: s's first link is from
    // discovery after 30 s, and t, booted beside a stopped hub and s
    // (whose own answers it hears), links to s.
    assert_eq!(d.links_from_discovery, 2, "{d:?}");
    assert!(o.violations.is_empty(), "{:?}", o.violations);
    assert_eq!(o.links, [("s".to_string(), "t".to_string())]);
}
