//! `drcsim report`: one self-contained HTML page (inline CSS, script and
//! SVG; nothing fetched) showing a run: verdict, violations, counters, a
//! space-time diagram, the tree at a cursor, room streams and clients.
//!
//! The page's data is a JSON object built here from the trace; the script
//! in `report.js` draws it. Large runs are cut to [`MAX_FRAMES`] frames
//! (those nearest the first violation, or every k-th), and the page says
//! what was left out.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::{ev, hosts, s, t};

/// Frames drawn at most; beyond, the page holds a window of them.
pub const MAX_FRAMES: usize = 30_000;
/// Room and client records kept at most, each.
pub const MAX_RECORDS: usize = 30_000;

const SCRIPT: &str = include_str!("report.js");
const STYLE: &str = include_str!("report.css");

/// The page's data. `summary` is the run's JSON (`drcsim run --json`),
/// when the run was made here; a report of a trace file has none.
pub fn data(events: &[Value], summary: Option<&Value>, title: &str) -> Value {
    let (servers, clients) = hosts(events);
    let all: Vec<String> = servers.iter().chain(&clients).cloned().collect();
    let idx: BTreeMap<&str, usize> = all
        .iter()
        .enumerate()
        .map(|(i, h)| (h.as_str(), i))
        .collect();
    let lane = |h: &str| idx.get(h).map_or(Value::Null, |&i| i.into());

    // Frames: [id, from, to, sent_ns, arrived_ns or null, cmd, args, fate]
    // where fate is "d" delivered, "x" dropped (with why), "f" in flight.
    let mut frames: Vec<Value> = Vec::new();
    let mut by_id: BTreeMap<u64, usize> = BTreeMap::new();
    let mut faults = Vec::new();
    let mut chat_actions = Vec::new();
    let mut violations = Vec::new();
    let mut tree = Vec::new();
    let mut rooms: BTreeMap<String, Value> = BTreeMap::new();
    let mut client_log: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut records = 0usize;
    let mut header = Value::Null;
    // The checkers' verdict on a delivery: the invariant a violation at
    // the same event and host names, so the page marks exactly what the
    // checkers found rather than guessing from texts.
    // One event can deliver several numbers (a gap filled): a violation
    // that names `epoch.n` goes to that delivery, one that names none to
    // every delivery of its event.
    let mut judged: BTreeMap<(u64, &str), Vec<(&str, &str)>> = BTreeMap::new();
    for v in events.iter().filter(|v| ev(v) == "violation") {
        if let (Some(e), Some(h)) = (v["n"].as_u64(), v["host"].as_str()) {
            judged
                .entry((e, h))
                .or_default()
                .push((s(v, "invariant"), s(v, "detail")));
        }
    }
    let names = |detail: &str, epoch: &Value, num: &Value| {
        let want = format!(" {epoch}.{num}");
        detail
            .match_indices(&want)
            .any(|(i, _)| !detail[i + want.len()..].starts_with(|c: char| c.is_ascii_digit()))
    };
    for v in events {
        let now = t(v);
        match ev(v) {
            "header" => header = v.clone(),
            "send" => {
                let args: Vec<&str> = v["args"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|a| a.as_str())
                    .collect();
                let id = v["id"].as_u64().unwrap_or(u64::MAX);
                by_id.insert(id, frames.len());
                frames.push(json!([
                    id,
                    lane(s(v, "from")),
                    lane(s(v, "to")),
                    now,
                    null,
                    s(v, "cmd"),
                    args.join(","),
                    "f"
                ]));
            }
            "deliver" | "drop" => {
                let Some(&i) = v["id"].as_u64().and_then(|id| by_id.get(&id)) else {
                    continue;
                };
                frames[i][4] = now.into();
                frames[i][7] = if ev(v) == "drop" {
                    format!("x:{}", s(v, "why")).into()
                } else {
                    "d".into()
                };
            }
            "action" => {
                let mut text = s(v, "do").to_string();
                for k in ["a", "b", "server", "via", "room", "nick", "text"] {
                    if let Some(x) = v[k].as_str() {
                        text.push_str(&format!(" {k}={x}"));
                    }
                }
                if let Some(g) = v["groups"].as_array() {
                    text.push_str(&format!(" {}", Value::Array(g.clone())));
                }
                let named: Vec<Value> = ["a", "b", "server", "client"]
                    .iter()
                    .filter_map(|k| v[*k].as_str())
                    .map(lane)
                    .collect();
                let dur = v["for_ns"].as_u64().unwrap_or(0);
                if super::perfetto::is_fault(s(v, "do")) {
                    faults.push(json!([now, s(v, "do"), text, named, dur]));
                } else {
                    let c = s(v, "client").to_string();
                    chat_actions.push(json!([now, lane(&c), text]));
                    if records < MAX_RECORDS {
                        records += 1;
                        client_log
                            .entry(c)
                            .or_default()
                            .push(json!([now, "action", text]));
                    }
                }
            }
            "violation" => violations.push(json!([
                now,
                s(v, "invariant"),
                v["host"].as_str().map_or(Value::Null, lane),
                s(v, "detail")
            ])),
            "view" => tree.push(json!([now, "view", s(v, "host"), v["servers"]])),
            "note" => {
                let n = &v["note"];
                let host = s(v, "host");
                let kind = s(n, "kind");
                match kind {
                    "link_registered" | "link_down" => {
                        tree.push(json!([now, kind, host, n["conn"], n["peer"]]));
                    }
                    _ => {}
                }
                if records >= MAX_RECORDS {
                    continue;
                }
                let stream =
                    |n: &Value| format!("{}@{}", n["stream"]["epoch"], s(&n["stream"], "seq"));
                match kind {
                    "sequenced" | "seq_skipped" => {
                        records += 1;
                        let r = rooms
                            .entry(s(n, "room").into())
                            .or_insert_with(|| json!({"seq": [], "members": {}}));
                        r["seq"].as_array_mut().expect("array").push(json!([
                            now,
                            stream(n),
                            n["n"],
                            if kind == "sequenced" {
                                n["uid"].clone()
                            } else {
                                Value::Null
                            },
                            host
                        ]));
                    }
                    "delivered" | "gap_closed" | "sent" => {
                        records += 1;
                        let r = rooms
                            .entry(s(n, "room").into())
                            .or_insert_with(|| json!({"seq": [], "members": {}}));
                        let m = &mut r["members"][host];
                        if m.is_null() {
                            *m = json!([]);
                        }
                        let code = match kind {
                            "delivered" => "d",
                            "gap_closed" => "g",
                            _ => "s",
                        };
                        let found = v["n"].as_u64().and_then(|e| judged.get(&(e, host)));
                        let verdict = found
                            .and_then(|list| {
                                let named =
                                    |d: &&(&str, &str)| names(d.1, &n["stream"]["epoch"], &n["n"]);
                                list.iter()
                                    .find(named)
                                    .or_else(|| list.iter().find(|d| !names_a_number(d.1)))
                            })
                            .map_or("", |d| d.0);
                        m.as_array_mut().expect("array").push(json!([
                            now,
                            stream(n),
                            n["n"],
                            code,
                            s(n, "from"),
                            super::super::trace::elide(s(n, "text")),
                            verdict
                        ]));
                    }
                    "client_link"
                    | "welcome"
                    | "registration_ended"
                    | "registration_given_up"
                    | "nick_refused"
                    | "send_failed"
                    | "private_failed" => {
                        if !clients.iter().any(|c| c == host) {
                            continue;
                        }
                        records += 1;
                        let mut text = kind.to_string();
                        for k in ["peer", "nick", "uid", "reason", "room", "to"] {
                            if let Some(x) = n[k].as_str() {
                                text.push_str(&format!(" {k}={x}"));
                            }
                        }
                        client_log
                            .entry(host.into())
                            .or_default()
                            .push(json!([now, kind, text]));
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    let total = frames.len();
    let mut cut_note = String::new();
    if total > MAX_FRAMES {
        if let Some(tv) = violations.first().and_then(|v| v[0].as_u64()) {
            // The frames sent nearest the first violation.
            frames.sort_by_key(|f| (f[3].as_u64().unwrap_or(0).abs_diff(tv), f[0].as_u64()));
            frames.truncate(MAX_FRAMES);
            frames.sort_by_key(|f| f[0].as_u64());
            let (a, b) = (
                frames.first().and_then(|f| f[3].as_u64()).unwrap_or(0),
                frames.last().and_then(|f| f[3].as_u64()).unwrap_or(0),
            );
            cut_note = format!(
                "{total} frames in the run; only the {MAX_FRAMES} sent nearest the first \
                 violation are drawn (sent from {} ms to {} ms).",
                a / 1_000_000,
                b / 1_000_000
            );
        } else {
            let k = total.div_ceil(MAX_FRAMES);
            frames = frames.into_iter().step_by(k).collect();
            cut_note = format!(
                "{total} frames in the run; one in {k} is drawn ({} frames).",
                frames.len()
            );
        }
    }
    if records >= MAX_RECORDS {
        if !cut_note.is_empty() {
            cut_note.push(' ');
        }
        cut_note.push_str(&format!(
            "Room and client records stop after the first {MAX_RECORDS}."
        ));
    }
    let end = events.iter().map(t).max().unwrap_or(0);
    json!({
        "title": title,
        "header": header,
        "summary": summary.cloned().unwrap_or(Value::Null),
        "servers": servers,
        "clients": clients,
        "end_ns": end,
        "frames": frames,
        "faults": faults,
        "chat": chat_actions,
        "violations": violations,
        "tree": tree,
        "rooms": rooms,
        "client_log": client_log,
        "cut": cut_note,
    })
}

/// Whether a violation's detail names a stream number (` 2.15`).
fn names_a_number(detail: &str) -> bool {
    let b = detail.as_bytes();
    (1..b.len()).any(|i| {
        b[i] == b'.'
            && b[..i].last().is_some_and(u8::is_ascii_digit)
            && b.get(i + 1).is_some_and(u8::is_ascii_digit)
            && b[..i]
                .iter()
                .rev()
                .find(|c| !c.is_ascii_digit())
                .is_none_or(|&c| c == b' ')
    })
}

/// The whole page.
pub fn html(data: &Value) -> String {
    // `</` cannot close the script early once escaped.
    let json = data.to_string().replace("</", "<\\/");
    let title = html_escape(data["title"].as_str().unwrap_or("drcsim report"));
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n\
         <title>{title}</title>\n<style>{STYLE}</style></head>\n<body>\n\
         <div id=\"app\"><p>This report needs JavaScript to draw the run.</p></div>\n\
         <script id=\"data\" type=\"application/json\">{json}</script>\n\
         <script>{SCRIPT}</script>\n</body></html>\n"
    )
}

pub fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::names_a_number;

    #[test]
    fn a_stream_number_is_digits_a_dot_and_digits_after_a_space() {
        assert!(names_a_number("delivered a second time, as 1.2 (0AA-1)"));
        assert!(names_a_number("#r: delivered 12.30 after 12.31"));
        assert!(!names_a_number(
            "message 3 of alice delivered after its message 4"
        ));
        assert!(!names_a_number("x1.2"));
    }
}
