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

/// The most trace a picture is drawn from, in bytes of JSON lines. The
/// lines are held parsed, at about fifty times their size (a tree of 300
/// servers run 40 s: a 133 MB trace, a report of 7.4 GB at its peak), so
/// this keeps a picture within a few GB; a tree of 1,000 servers, with a
/// trace of about 2 GB, took the 24 GB of the machine it was tried on.
pub const TRACE_LIMIT: usize = 128 << 20;

/// What to do when a run's trace is past [`TRACE_LIMIT`].
fn too_large(what: &str) -> String {
    format!(
        "{what} more than the {} MiB of trace a picture is drawn from (its lines are \
         held in memory, parsed, at about fifty times their size); trace part of the run \
         with `drcsim run FILE --trace t.jsonl --trace-window T1..T2 --trace-hosts H1,H2` \
         and draw that file",
        TRACE_LIMIT >> 20
    )
}

/// Runs a scenario with a full trace kept in memory; the trace's lines
/// are parsed back (the header, which the command line writes, is not
/// among them). A run whose trace passes [`TRACE_LIMIT`] is refused (it
/// runs to its end untraced from there).
pub fn traced_run(scn: &Scenario, seed: u64) -> Result<(Outcome, Vec<Value>), String> {
    traced_run_within(scn, seed, TRACE_LIMIT)
}

fn traced_run_within(
    scn: &Scenario,
    seed: u64,
    limit: usize,
) -> Result<(Outcome, Vec<Value>), String> {
    let sink = SharedBuffer::with_limit(limit);
    let o = crate::run::run(
        scn,
        RunOptions {
            seed: Some(seed),
            trace: Some(Box::new(sink.clone())),
            ..Default::default()
        },
    );
    if sink.overflowed() {
        return Err(too_large("the run's trace is"));
    }
    let text = sink.contents();
    Ok((o?, parse_lines(&String::from_utf8_lossy(&text))?))
}

/// Reads a trace file to draw, refusing one past [`TRACE_LIMIT`] before
/// reading it.
pub fn read_trace_file(path: &std::path::Path) -> Result<String, String> {
    let len = std::fs::metadata(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .len();
    if len > TRACE_LIMIT as u64 {
        return Err(too_large(&format!(
            "{} is {} MiB,",
            path.display(),
            len >> 20
        )));
    }
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A run whose trace passes the limit is refused with the way to
    /// trace part of it, having held no more than the limit; under it, the
    /// same run is drawn whole.
    #[test]
    fn a_trace_past_the_limit_is_refused_not_held() {
        let scn = crate::scenario::parse_str(crate::DEFAULT_SCENARIO, "default.toml").unwrap();
        let (_, events) = traced_run_within(&scn, 7, TRACE_LIMIT).expect("small enough");
        assert!(events.len() > 100, "{} lines", events.len());
        let e = traced_run_within(&scn, 7, 10_000)
            .err()
            .expect("over 10 kB");
        assert!(
            e.starts_with("the run's trace is more than the 128 MiB"),
            "{e}"
        );
        assert!(
            e.contains("--trace-window T1..T2 --trace-hosts H1,H2"),
            "{e}"
        );
    }

    /// A trace file past the limit is refused by its size, unread (a
    /// sparse file of 129 MiB takes no disk).
    #[test]
    fn a_trace_file_past_the_limit_is_refused_unread() {
        let dir = std::env::temp_dir().join(format!("drcsim-trace-limit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("big.jsonl");
        let f = std::fs::File::create(&p).unwrap();
        f.set_len(TRACE_LIMIT as u64 + (1 << 20)).unwrap();
        let e = read_trace_file(&p).expect_err("too large");
        assert!(
            e.contains("big.jsonl is 129 MiB, more than the 128 MiB"),
            "{e}"
        );
        f.set_len(10).unwrap();
        assert_eq!(read_trace_file(&p).unwrap().len(), 10);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
