//! The trace made for analysis (schema 2), its filters, and the pictures
//! drawn from it: Perfetto JSON, DOT and the HTML report.

use std::collections::BTreeMap;
use std::path::PathBuf;

use drc_sim::run::{run, RunOptions};
use drc_sim::scenario::{self, Scenario};
use drc_sim::trace::{SharedBuffer, TraceFilter};
use drc_sim::view;
use serde_json::Value;

fn load(name: &str) -> Scenario {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios")
        .join(name);
    scenario::load(&p).unwrap()
}

fn traced(scn: &Scenario, filter: TraceFilter) -> (drc_sim::run::Outcome, Vec<Value>) {
    let sink = SharedBuffer::default();
    let o = run(
        scn,
        RunOptions {
            trace: Some(Box::new(sink.clone())),
            trace_filter: filter,
            ..Default::default()
        },
    )
    .unwrap();
    let text = String::from_utf8(sink.contents()).unwrap();
    (o, view::parse_lines(&text).unwrap())
}

fn ev(v: &Value) -> &str {
    v["ev"].as_str().unwrap()
}

/// Every frame sent is delivered or dropped at most once, under the same
/// id, with the send's time, hosts and command; times never go back.
#[test]
fn sends_and_deliveries_pair_up_by_id() {
    pairing("cut-mid-burst.toml", Some("cut"));
    pairing("hub-crash-restart.toml", None);
    // Every fault kind, clients moving between servers.
    pairing("swarm-chat.toml", None);
}

fn pairing(file: &str, dropped: Option<&str>) {
    let (o, events) = traced(&load(file), TraceFilter::default());
    let mut sends: BTreeMap<u64, &Value> = BTreeMap::new();
    let mut ends: BTreeMap<u64, &Value> = BTreeMap::new();
    let mut last = 0;
    for v in &events {
        let t = v["t_ns"].as_u64().unwrap();
        assert!(t >= last, "time went back at {v}");
        last = t;
        match ev(v) {
            "send" => {
                assert!(v["cmd"].as_str().is_some_and(|c| !c.is_empty()), "{v}");
                assert!(v["args"].is_array(), "{v}");
                assert!(sends.insert(v["id"].as_u64().unwrap(), v).is_none(), "{v}");
            }
            "deliver" | "drop" => {
                let Some(id) = v["id"].as_u64() else { continue };
                assert!(ends.insert(id, v).is_none(), "id {id} ended twice");
                let s = sends[&id];
                assert_eq!(v["sent_ns"], s["t_ns"]);
                assert_eq!(
                    (&v["from"], &v["to"], &v["conn"]),
                    (&s["from"], &s["to"], &s["conn"])
                );
                if ev(v) == "deliver" {
                    assert_eq!(v["cmd"], s["cmd"]);
                }
            }
            _ => {}
        }
    }
    assert!(sends.len() > 50, "{}", sends.len());
    // A cut throws frames away: some are dropped, not delivered.
    if let Some(why) = dropped {
        assert!(
            ends.values().any(|v| ev(v) == "drop" && v["why"] == why),
            "{file}"
        );
    }
    assert_eq!(
        sends.len() as u64,
        o.measures.wire_frames,
        "one send line per frame on the wire"
    );
}

/// A trace changes nothing about the run: the same hash as untraced.
#[test]
fn tracing_does_not_change_the_run() {
    let scn = load("ablate-dedup.toml");
    let plain = run(&scn, RunOptions::default()).unwrap();
    let (o, _) = traced(&scn, TraceFilter::default());
    assert_eq!(plain.trace_hash, o.trace_hash);
    assert_eq!(plain.events, o.events);
}

/// The lines the issue asks for: a hosts line, actions with their
/// arguments, notes as objects with a kind, views, and each violation at
/// the moment it fired.
#[test]
fn actions_notes_and_violations_are_structured() {
    let scn = load("ablate-dedup.toml");
    let (o, events) = traced(&scn, TraceFilter::default());
    assert_eq!(ev(&events[0]), "hosts");
    assert_eq!(
        events[0]["servers"].as_array().unwrap().len(),
        scn.servers.len()
    );
    for v in &events {
        match ev(v) {
            "note" => assert!(v["note"]["kind"].is_string(), "{v}"),
            "action" => assert!(v["do"].is_string(), "{v}"),
            _ => {}
        }
    }
    let says: Vec<&Value> = events
        .iter()
        .filter(|v| ev(v) == "action" && v["do"] == "say")
        .collect();
    assert!(!says.is_empty());
    for a in says {
        for k in ["client", "room", "text"] {
            assert!(a[k].is_string(), "say without {k}: {a}");
        }
    }
    let link_downs: Vec<&Value> = events
        .iter()
        .filter(|v| ev(v) == "note" && v["note"]["kind"] == "link_registered")
        .collect();
    assert!(link_downs.iter().all(|v| v["note"]["peer"].is_string()));
    assert!(events.iter().any(|v| ev(v) == "view"));
    let traced: Vec<(&str, u64, Option<&str>)> = events
        .iter()
        .filter(|v| ev(v) == "violation")
        .map(|v| {
            (
                v["invariant"].as_str().unwrap(),
                v["t_ns"].as_u64().unwrap() / 1_000_000,
                v["host"].as_str(),
            )
        })
        .collect();
    let want: Vec<(&str, u64, Option<&str>)> = o
        .violations
        .iter()
        .map(|v| (v.invariant, v.time_ms, v.host.as_deref()))
        .collect();
    assert!(!want.is_empty());
    assert_eq!(traced, want);
    // At the moment: the delivery that broke order.once is in the same event.
    let first = events.iter().position(|v| ev(v) == "violation").unwrap();
    let n = &events[first]["n"];
    assert!(events[..first]
        .iter()
        .any(|v| &v["n"] == n && ev(v) == "note" && v["note"]["kind"] == "delivered"));
}

#[test]
fn filters_keep_a_window_some_hosts_or_the_first_violation() {
    let scn = load("ablate-dedup.toml");
    let (_, all) = traced(&scn, TraceFilter::default());

    let window = TraceFilter::parse_window("5s..6s").unwrap();
    assert_eq!(window, (5_000_000_000, 6_000_000_000));
    let (_, w) = traced(
        &scn,
        TraceFilter {
            window: Some(window),
            ..Default::default()
        },
    );
    let inside = |v: &&Value| (window.0..=window.1).contains(&v["t_ns"].as_u64().unwrap());
    // The hosts line stays whatever the filters, as the header does.
    assert_eq!(ev(&w[0]), "hosts");
    assert!(w.len() > 1);
    assert!(w[1..].iter().all(|v| inside(&v)));
    assert_eq!(w.len() - 1, all.iter().filter(inside).count());

    let (_, h) = traced(
        &scn,
        TraceFilter {
            hosts: Some(["bob".to_string()].into()),
            ..Default::default()
        },
    );
    assert!(h.len() < all.len());
    for v in &h {
        let named: Vec<&str> = ["host", "from", "to", "client", "server", "a", "b"]
            .iter()
            .filter_map(|k| v[*k].as_str())
            .collect();
        assert!(named.is_empty() || named.contains(&"bob"), "{v}");
    }
    assert!(h.iter().any(|v| ev(v) == "deliver" && v["to"] == "bob"));

    let (_, a) = traced(
        &scn,
        TraceFilter {
            around_violation: Some(4),
            ..Default::default()
        },
    );
    assert_eq!(a.len(), 10, "hosts, four before, the violation, four after");
    assert_eq!(ev(&a[5]), "violation");
    let at = all.iter().position(|v| v == &a[5]).unwrap();
    assert_eq!(
        &all[at - 4..=at + 4],
        &a[1..],
        "a contiguous stretch of the full trace"
    );

    assert!(TraceFilter::parse_window("6s..5s").is_err());
    assert!(TraceFilter::parse_window("5s").is_err());
    assert_eq!(
        TraceFilter::parse_window("..1s").unwrap(),
        (0, 1_000_000_000)
    );
}

/// Perfetto's JSON: a named process per host, every flow start with its
/// end, phases as slices, and the violations as instant events.
#[test]
fn perfetto_has_tracks_flows_phases_and_violations() {
    let scn = load("ablate-dedup.toml");
    let (o, events) = view::traced_run(&scn, scn.seed).unwrap();
    let p = view::perfetto::perfetto(&events);
    let evs = p["traceEvents"].as_array().unwrap();
    let names: Vec<&str> = evs
        .iter()
        .filter(|e| e["name"] == "process_name")
        .map(|e| e["args"]["name"].as_str().unwrap())
        .collect();
    for s in &scn.servers {
        assert!(
            names.contains(&format!("server {}", s.name).as_str()),
            "{names:?}"
        );
    }
    let ids = |ph: &str| -> Vec<u64> {
        let mut v: Vec<u64> = evs
            .iter()
            .filter(|e| e["ph"] == ph && e["cat"] == "frame")
            .map(|e| e["id"].as_u64().unwrap())
            .collect();
        v.sort();
        v
    };
    assert!(!ids("s").is_empty());
    assert_eq!(ids("s"), ids("f"), "every frame sent here arrived");
    let phases: Vec<&str> = evs
        .iter()
        .filter(|e| e["cat"] == "phase")
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    for want in [
        "handshake",
        "burst",
        "registered",
        "registering",
        "connected",
        "client registered",
    ] {
        assert!(phases.contains(&want), "no {want} slice in {phases:?}");
    }
    let marks = evs
        .iter()
        .filter(|e| e["ph"] == "i" && e["cat"] == "violation")
        .count();
    assert_eq!(marks, o.violations.len());
}

/// DOT: once the hub of a star has crashed, the leaves, which learn of it
/// only at their ping timeouts, still see edges to it that are not real;
/// after the restart and reconnection every view is real again.
#[test]
fn dot_marks_views_that_differ_from_the_real_links() {
    let scn = load("hub-crash-restart.toml");
    let (_, events) = view::traced_run(&scn, scn.seed).unwrap();
    let crashed = view::dot::dot_at(&events, 10_500_000_000);
    assert!(crashed.contains("not real"), "{crashed}");
    assert!(
        !crashed
            .lines()
            .any(|l| l.contains("\"real/hub\" --") || l.contains("-- \"real/hub\"")),
        "no real link to a crashed server: {crashed}"
    );
    let end = view::dot::dot_at(&events, scn.duration.as_nanos());
    assert!(!end.contains("not real"), "{end}");
}

#[test]
fn dot_shows_real_links_and_each_view() {
    let scn = load("netsplit-heal.toml");
    let (_, events) = view::traced_run(&scn, scn.seed).unwrap();
    let end = view::dot::dot_at(&events, scn.duration.as_nanos());
    assert!(end.starts_with("// drcsim"));
    assert_eq!(end.matches('{').count(), end.matches('}').count());
    for s in &scn.servers {
        assert!(end.contains(&format!("cluster_view_{}", s.name)), "{end}");
    }
    // At the end the tree has healed: no view edge is unreal.
    assert!(!end.contains("not real"), "{end}");
    let real = end.matches("\"real/").count();
    assert!(real > scn.servers.len(), "{end}");
}

/// The page holds everything it needs: no address is fetched.
#[test]
fn the_report_is_self_contained_and_says_what_it_cut() {
    let scn = load("ablate-dedup.toml");
    let (o, events) = view::traced_run(&scn, scn.seed).unwrap();
    let d = view::report::data(&events, Some(&o.to_json()), "t");
    assert_eq!(
        d["violations"].as_array().unwrap().len(),
        o.violations.len()
    );
    assert_eq!(d["cut"], "");
    let page = view::report::html(&d);
    for bad in [
        "<script src",
        "<link",
        "@import",
        "url(http",
        "fetch(",
        "XMLHttpRequest",
    ] {
        assert!(!page.contains(bad), "{bad}");
    }
    // The data survives the trip through the page.
    let start = page.find("application/json\">").unwrap() + "application/json\">".len();
    let stop = start + page[start..].find("</script>").unwrap();
    let back: Value = serde_json::from_str(&page[start..stop].replace("<\\/", "</")).unwrap();
    assert_eq!(back["frames"], d["frames"]);

    // Too many frames: the ones nearest the violation, and a note saying so.
    let mut big = vec![
        serde_json::json!({"ev": "hosts", "servers": [{"name": "a"}, {"name": "b"}], "clients": []}),
    ];
    let n = view::report::MAX_FRAMES as u64 + 500;
    for i in 0..n {
        big.push(
            serde_json::json!({"n": i, "t_ns": i * 1000, "ev": "send", "id": i, "conn": 0,
            "from": "a", "to": "b", "cmd": "PING", "args": []}),
        );
    }
    big.push(serde_json::json!({"n": n, "t_ns": n * 1000, "ev": "violation", "invariant": "x", "detail": "y"}));
    let d = view::report::data(&big, None, "big");
    assert_eq!(
        d["frames"].as_array().unwrap().len(),
        view::report::MAX_FRAMES
    );
    assert_eq!(
        d["frames"][0][0], 500,
        "the earliest frames are the ones left out"
    );
    assert!(d["cut"]
        .as_str()
        .unwrap()
        .contains("nearest the first violation"));
}
