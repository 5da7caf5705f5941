//! Clients that lose their server: where they go, what they rejoin, what
//! they deliver; and where a partition puts a client nobody named.

use std::path::PathBuf;

use drc_sim::run::{build, run, RunOptions};
use drc_sim::scenario;
use serde_json::Value;

fn texts(f: &Value, id: &str, room: &str) -> Vec<String> {
    f["clients"][id]["rooms"][room]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|m| m["text"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn load(name: &str) -> scenario::Scenario {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../scenarios/{name}.toml"));
    scenario::load(&p).unwrap()
}

#[test]
fn a_client_moves_along_its_list_and_delivers_every_message_once() {
    let o = run(&load("client-reconnect"), RunOptions::default()).unwrap();
    assert!(o.violations.is_empty(), "{}", o.summary());
    let f = o.to_json()["final"].clone();
    let alice = &f["clients"]["alice"];
    assert_eq!(alice["state"], "connected");
    // east crashed (she went on to west), then west was cut off from her
    // (she went on to hub, though east was back: the list is walked in order).
    assert_eq!(alice["server"], "hub");
    assert!(
        alice["uid"].as_str().unwrap().ends_with("-2"),
        "a second UID of hub's: {}",
        alice["uid"]
    );
    let all = ["one", "two", "three", "alice on west", "four", "five"];
    assert_eq!(
        texts(&f, "alice", "#r"),
        all,
        "every message, once, in order"
    );
    assert_eq!(texts(&f, "carol", "#r"), all);
    // bob was on the other side of the partition when carol said "four",
    // in a stream the merge then replaced.
    assert_eq!(
        texts(&f, "bob", "#r"),
        ["one", "two", "three", "alice on west", "five"]
    );
    assert_eq!(
        f["clients"]["carol"]["uid"], "0AA-1-1",
        "carol never left hub"
    );
}

#[test]
fn without_reconnects_the_client_stays_away_and_its_rooms_too() {
    let mut scn = load("client-reconnect");
    scn.clients[0].reconnect = false; // alice
    let o = run(&scn, RunOptions::default()).unwrap();
    assert!(o.violations.is_empty(), "{}", o.summary());
    let f = o.to_json()["final"].clone();
    assert_eq!(f["clients"]["alice"]["state"], "disconnected");
    assert_eq!(texts(&f, "alice", "#r"), ["one"]);
    assert_eq!(
        f["servers"]["hub"]["rooms"]["#r"],
        serde_json::json!(["bob", "carol"])
    );
}

#[test]
fn a_partition_puts_an_unnamed_client_with_its_server() {
    let src = r#"
name = "placement"
duration = "20s"

[[server]]
name = "hub"

[[server]]
name = "east"
connect = ["hub"]

[[client]]
id = "on_east"
server = "east"

[[client]]
id = "on_hub"
server = "hub"

[[client]]
id = "named"
server = "east"

[[client]]
id = "idle"
server = "east"
start = false

[[at]]
time = "5s"
do = "partition"
groups = [["east"], ["named"]]
"#;
    let scn = scenario::parse_str(src, "placement.toml").unwrap();
    let mut w = build(&scn, &mut RunOptions::default()).unwrap();
    w.run_until(6_000_000_000);
    let h = |l: &str| w.by_label[l];
    let reach = |a: &str, b: &str| w.net.partition.reachable(h(a), h(b));
    assert!(reach("on_east", "east") && !reach("on_east", "hub"));
    assert!(reach("on_hub", "hub") && !reach("on_hub", "east"));
    // Named clients are cut off as named; one with no server stays with
    // the hosts nobody named.
    assert!(!reach("named", "east") && !reach("named", "hub"));
    assert!(reach("idle", "hub") && !reach("idle", "east"));
}
