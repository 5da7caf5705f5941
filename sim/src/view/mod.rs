//! Pictures of a run, drawn from its trace: Chrome trace-event JSON for
//! Perfetto, Graphviz DOT of the tree at one moment, and the
//! self-contained HTML report.
//!
//! Everything here reads the trace's JSON lines (schema
//! [`crate::trace::SCHEMA`]), so a picture shows exactly what the trace
//! says, and a trace written earlier can be drawn without running again.

pub mod dot;
pub mod perfetto;
pub mod report;
pub mod summary;

use serde_json::Value;

use crate::run::{Outcome, RunOptions};
use crate::scenario::Scenario;
use crate::trace::SharedBuffer;

/// Runs a scenario with a full trace kept in memory; the trace's lines
/// are parsed back (the header, which the command line writes, is not
/// among them).
pub fn traced_run(scn: &Scenario, seed: u64) -> Result<(Outcome, Vec<Value>), String> {
    let sink = SharedBuffer::default();
    let o = crate::run::run(
        scn,
        RunOptions {
            seed: Some(seed),
            trace: Some(Box::new(sink.clone())),
            ..Default::default()
        },
    )?;
    let text = sink.contents();
    Ok((o, parse_lines(&String::from_utf8_lossy(&text))?))
}

/// The JSON lines of a trace file.
pub fn parse_lines(text: &str) -> Result<Vec<Value>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| format!("trace line {}: {e}", i + 1)))
        .collect()
}

pub(crate) fn ev(v: &Value) -> &str {
    v["ev"].as_str().unwrap_or("")
}

pub(crate) fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or("")
}

pub(crate) fn t(v: &Value) -> u64 {
    v["t_ns"].as_u64().unwrap_or(0)
}

/// The servers and clients a trace names, in the order of its `hosts` line.
pub(crate) fn hosts(events: &[Value]) -> (Vec<String>, Vec<String>) {
    let Some(h) = events.iter().find(|v| ev(v) == "hosts") else {
        return (Vec::new(), Vec::new());
    };
    let names = |k: &str, field: Option<&str>| -> Vec<String> {
        h[k].as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| match field {
                Some(f) => x[f].as_str(),
                None => x.as_str(),
            })
            .map(String::from)
            .collect()
    };
    (names("servers", Some("name")), names("clients", None))
}

/// Registered links and each server's view at one moment, replayed from
/// the trace's notes, `view` lines and crashes.
#[derive(Debug, Default)]
pub struct TreeAt {
    /// Real links: connections both of whose ends have registered them
    /// and neither has dropped since, as sorted host pairs.
    pub links: std::collections::BTreeSet<(String, String)>,
    /// Each server's view: the servers it knows with their uplinks.
    pub views: std::collections::BTreeMap<String, Vec<(String, String)>>,
    /// Servers not running at that moment.
    pub down: std::collections::BTreeSet<String>,
}

pub fn tree_at(events: &[Value], at: u64) -> TreeAt {
    use std::collections::BTreeMap;
    // (conn) -> the ends that hold it registered, with their peers.
    let mut reg: BTreeMap<u64, BTreeMap<String, String>> = BTreeMap::new();
    let mut out = TreeAt::default();
    for v in events.iter().take_while(|v| t(v) <= at) {
        match ev(v) {
            "note" => {
                let n = &v["note"];
                let host = s(v, "host").to_string();
                let conn = n["conn"].as_u64();
                match (n["kind"].as_str(), conn) {
                    (Some("link_registered"), Some(c)) => {
                        reg.entry(c)
                            .or_default()
                            .insert(host, s(n, "peer").to_string());
                    }
                    (Some("link_down"), Some(c)) => {
                        if let Some(e) = reg.get_mut(&c) {
                            e.remove(&host);
                        }
                    }
                    _ => {}
                }
            }
            "view" => {
                let list = v["servers"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| Some((p[0].as_str()?.into(), p[1].as_str()?.into())))
                    .collect();
                out.views.insert(s(v, "host").into(), list);
            }
            "action" => match s(v, "do") {
                "crash" => {
                    let h = s(v, "server");
                    for e in reg.values_mut() {
                        e.remove(h);
                    }
                    out.views.insert(h.into(), Vec::new());
                    out.down.insert(h.into());
                }
                "restart" | "add_server" => {
                    let h = s(v, "server");
                    for e in reg.values_mut() {
                        e.remove(h);
                    }
                    out.views.insert(h.into(), Vec::new());
                    out.down.remove(h);
                }
                _ => {}
            },
            _ => {}
        }
    }
    for ends in reg.values() {
        if ends.len() == 2 {
            let mut pair: Vec<&String> = ends.keys().collect();
            pair.sort();
            out.links.insert((pair[0].clone(), pair[1].clone()));
        }
    }
    out
}
