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

/// Clients keep alive on their own timers (30 s and 90 s here), the link
/// between the servers on the defaults (5 s and 15 s).
#[test]
fn a_client_keepalive_of_minutes_pings_and_drops_on_its_own_clock() {
    use drc_sim::trace::{SharedBuffer, TraceFilter};
    let sink = SharedBuffer::default();
    let o = run(
        &load("client-keepalive-minutes"),
        RunOptions {
            trace: Some(Box::new(sink.clone())),
            trace_filter: TraceFilter::default(),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(o.violations.is_empty(), "{}", o.summary());
    let text = String::from_utf8(sink.contents()).unwrap();
    let events = drc_sim::view::parse_lines(&text).unwrap();
    let secs = |e: &Value| e["t_ns"].as_u64().unwrap() as f64 / 1e9;
    let delivered = |from: &str, to: &str, cmd: &str| -> Vec<f64> {
        events
            .iter()
            .filter(|e| {
                e["ev"] == "deliver" && e["from"] == from && e["to"] == to && e["cmd"] == cmd
            })
            .map(secs)
            .collect()
    };
    // alice last spoke to east at 0.03 s and was cut off at 5 s: east
    // drops her 90 s later, she gives east up 120 s after she last heard it.
    let noted = |host: &str, kind: &str| -> Vec<f64> {
        events
            .iter()
            .filter(|e| e["ev"] == "note" && e["host"] == host && e["note"]["kind"] == kind)
            .filter(|e| host != "east" || e["note"]["peer"] == "alice")
            .map(secs)
            .collect()
    };
    let down = noted("east", "link_down");
    assert_eq!(down.len(), 1, "{down:?}");
    assert!((90.0..90.2).contains(&down[0]), "{down:?}");
    let gone = noted("alice", "disconnected");
    assert!(
        gone.len() == 1 && (120.0..120.2).contains(&gone[0]),
        "{gone:?}"
    );
    // bob, idle, answers every PING: one every 30 s, not every 5 s.
    let pings = delivered("hub", "bob", "PING");
    assert!(pings.len() >= 12, "{pings:?}");
    assert!(pings.windows(2).all(|w| w[1] - w[0] >= 30.0), "{pings:?}");
    // The link is pinged at its own pace: either end's PING is life to
    // the other, so hub pings every 10 s or 15 s, about 40 times in 450 s.
    let link = delivered("hub", "east", "PING");
    assert!(link.len() >= 35, "{link:?}");
    assert!(link.windows(2).all(|w| w[1] - w[0] < 16.0), "{link:?}");
    let f = o.to_json()["final"].clone();
    assert_eq!(f["clients"]["alice"]["state"], "connected");
    assert_eq!(texts(&f, "alice", "#r"), ["while alice was away"]);
}

/// `timer.advances` ends a spinning run where it fires: far short of the
/// budget, which the outcome still reports as it was, and not as spent.
#[test]
fn a_spinning_client_ends_the_run_at_the_check_not_at_the_budget() {
    let o = run(&load("ablate-move-watch"), RunOptions::default()).unwrap();
    let fired: Vec<&str> = o.violations.iter().map(|v| v.invariant).collect();
    assert_eq!(fired, ["timer.advances"]);
    assert!(o.events < 1_000, "{}", o.events);
    assert_eq!(o.max_events, 10_000_000);
    assert!(!o.budget_exceeded);
    assert!(
        o.warnings[0].contains("u0012 asks at every wake-up"),
        "{:?}",
        o.warnings
    );
}
