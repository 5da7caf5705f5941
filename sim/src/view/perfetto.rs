//! Chrome trace-event JSON, which ui.perfetto.dev and chrome://tracing
//! open: a process per host, a thread per link or client connection
//! holding its phases as slices, a thread of the host's own events where
//! frames leave and arrive (joined by flow arrows), and instant events
//! for faults and violations.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::{ev, hosts, s, t};

/// At most this many trace events go into the file.
pub const MAX_EVENTS: usize = 400_000;

/// Trace-event timestamps are microseconds.
fn us(ns: u64) -> f64 {
    ns as f64 / 1000.0
}

pub fn perfetto(events: &[Value]) -> Value {
    let (servers, clients) = hosts(events);
    let pid: BTreeMap<&str, usize> = servers
        .iter()
        .chain(&clients)
        .enumerate()
        .map(|(i, h)| (h.as_str(), i + 1))
        .collect();
    let mut out: Vec<Value> = Vec::new();
    for (h, &p) in &pid {
        let kind = if clients.iter().any(|c| c == h) {
            "client"
        } else {
            "server"
        };
        out.push(json!({"ph": "M", "name": "process_name", "pid": p,
            "args": {"name": format!("{kind} {h}")}}));
        out.push(
            json!({"ph": "M", "name": "process_sort_index", "pid": p, "args": {"sort_index": p}}),
        );
        out.push(json!({"ph": "M", "name": "thread_name", "pid": p, "tid": 0,
            "args": {"name": "frames and events"}}));
    }
    // Open phases by (host, conn): the phase name and when it began.
    let mut open: BTreeMap<(String, u64), (String, u64)> = BTreeMap::new();
    let mut named: BTreeMap<(usize, u64), ()> = BTreeMap::new();
    let end = events.iter().map(t).max().unwrap_or(0);
    let mut cut = 0usize;
    let close = |out: &mut Vec<Value>,
                 named: &mut BTreeMap<(usize, u64), ()>,
                 host: &str,
                 conn: u64,
                 peer: &str,
                 phase: (String, u64),
                 now: u64| {
        let Some(&p) = pid.get(host) else { return };
        let tid = conn + 1;
        if named.insert((p, tid), ()).is_none() {
            out.push(
                json!({"ph": "M", "name": "thread_name", "pid": p, "tid": tid,
                "args": {"name": format!("conn {conn} with {peer}")}}),
            );
        }
        out.push(
            json!({"ph": "X", "name": phase.0, "cat": "phase", "pid": p, "tid": tid,
            "ts": us(phase.1), "dur": us(now.saturating_sub(phase.1)), "args": {"peer": peer}}),
        );
    };
    let mut peers: BTreeMap<(String, u64), String> = BTreeMap::new();
    for v in events {
        if out.len() >= MAX_EVENTS {
            cut += 1;
            continue;
        }
        let now = t(v);
        match ev(v) {
            "send" | "deliver" | "drop" => {
                let (host, flow) = match ev(v) {
                    "send" => (s(v, "from"), "s"),
                    _ => (s(v, "to"), "f"),
                };
                let Some(&p) = pid.get(host) else { continue };
                let name = match s(v, "cmd") {
                    "" => ev(v).to_string(),
                    c => c.to_string(),
                };
                let mut args = json!({"from": s(v, "from"), "to": s(v, "to"), "conn": v["conn"]});
                if ev(v) == "send" {
                    args["args"] = v["args"].clone();
                }
                if ev(v) == "drop" {
                    args["dropped"] = v["why"].clone();
                }
                out.push(
                    json!({"ph": "X", "name": name, "cat": ev(v), "pid": p, "tid": 0,
                    "ts": us(now), "dur": 1, "args": args}),
                );
                if let Some(id) = v["id"].as_u64() {
                    let mut f = json!({"ph": flow, "name": "frame", "cat": "frame", "id": id,
                        "pid": p, "tid": 0, "ts": us(now)});
                    if flow == "f" {
                        f["bp"] = "e".into();
                    }
                    out.push(f);
                }
            }
            "note" => {
                let n = &v["note"];
                let host = s(v, "host").to_string();
                let (Some(kind), Some(conn)) = (n["kind"].as_str(), n["conn"].as_u64()) else {
                    continue;
                };
                let key = (host.clone(), conn);
                if let Some(peer) = n["peer"].as_str() {
                    peers.insert(key.clone(), peer.to_string());
                }
                let next = match kind {
                    "handshake_started" => Some("handshake"),
                    "link_registered" => Some("burst"),
                    "burst_received" => Some("registered"),
                    "client_link" => Some("registering"),
                    // Client: welcomed (or about to give up, which closes it).
                    "registration_ended" => Some("connected"),
                    "user_registered" => Some("client registered"),
                    "link_down" | "registration_given_up" => None,
                    _ => continue,
                };
                let peer = peers.get(&key).cloned().unwrap_or_default();
                if let Some(ph) = open.remove(&key) {
                    close(&mut out, &mut named, &host, conn, &peer, ph, now);
                }
                // A client has one connection at a time: registering on a
                // new one ends whatever the last one was doing.
                if kind == "client_link" && clients.contains(&host) {
                    let stale: Vec<_> = open.keys().filter(|k| k.0 == host).cloned().collect();
                    for k in stale {
                        let ph = open.remove(&k).expect("listed");
                        let peer = peers.get(&k).cloned().unwrap_or_default();
                        close(&mut out, &mut named, &host, k.1, &peer, ph, now);
                    }
                }
                if let Some(n) = next {
                    open.insert(key, (n.to_string(), now));
                }
            }
            // The receiver of a FIN learns its connection is over: the end
            // of a client's `connected`.
            "fin" => {
                let (Some(to), Some(conn)) = (v["to"].as_str(), v["conn"].as_u64()) else {
                    continue;
                };
                let key = (to.to_string(), conn);
                if let Some(ph) = open.remove(&key) {
                    let peer = peers.get(&key).cloned().unwrap_or_default();
                    close(&mut out, &mut named, to, conn, &peer, ph, now);
                }
            }
            "action" | "violation" => {
                let mut name = s(v, "do").to_string();
                if ev(v) == "violation" {
                    name = format!("VIOLATION {}", s(v, "invariant"));
                } else {
                    for k in ["a", "b", "server", "client"] {
                        if let Some(x) = v[k].as_str() {
                            name.push(' ');
                            name.push_str(x);
                        }
                    }
                }
                let host = ["host", "server", "client", "a"]
                    .iter()
                    .find_map(|k| v[*k].as_str().and_then(|h| pid.get(h)));
                let mut e = json!({"ph": "i", "name": name, "cat": ev(v), "ts": us(now),
                    "args": v.clone()});
                match host {
                    Some(&p) if ev(v) == "violation" || !is_fault(s(v, "do")) => {
                        e["pid"] = p.into();
                        e["tid"] = 0.into();
                        e["s"] = "t".into();
                    }
                    _ => {
                        e["pid"] = 0.into();
                        e["tid"] = 0.into();
                        e["s"] = "g".into();
                    }
                }
                out.push(e);
                if ev(v) == "action" && matches!(s(v, "do"), "crash" | "restart") {
                    let h = s(v, "server").to_string();
                    let keys: Vec<_> = open.keys().filter(|k| k.0 == h).cloned().collect();
                    for k in keys {
                        let ph = open.remove(&k).expect("listed");
                        let peer = peers.get(&k).cloned().unwrap_or_default();
                        close(&mut out, &mut named, &h, k.1, &peer, ph, now);
                    }
                }
            }
            _ => {}
        }
    }
    // Still open at the end of the run: drawn up to it.
    for (k, ph) in std::mem::take(&mut open) {
        let peer = peers.get(&k).cloned().unwrap_or_default();
        close(&mut out, &mut named, &k.0, k.1, &peer, ph, end);
    }
    let mut meta = json!({"source": "drcsim", "time_unit_of_ts": "us"});
    if cut > 0 {
        meta["note"] =
            format!("{cut} trace lines left out after the first {MAX_EVENTS} events").into();
    }
    json!({"traceEvents": out, "displayTimeUnit": "ms", "otherData": meta})
}

/// Faults and operator actions, drawn across every track.
pub fn is_fault(name: &str) -> bool {
    matches!(
        name,
        "partition"
            | "heal"
            | "cut"
            | "stall"
            | "crash"
            | "restart"
            | "shutdown"
            | "link"
            | "unlink"
            | "add_server"
            | "skew"
    )
}
