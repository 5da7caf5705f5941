//! Graphviz DOT of the tree at one simulated moment: the real links, and
//! beside them each server's own view, its edges drawn red where they
//! are not real links.

use std::fmt::Write;

use serde_json::Value;

use super::{hosts, tree_at};

fn q(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The DOT text for time `at` (ns).
pub fn dot_at(events: &[Value], at: u64) -> String {
    let (servers, _) = hosts(events);
    let tree = tree_at(events, at);
    let mut o = String::new();
    let _ = writeln!(o, "// drcsim: the server tree at {} ms", at / 1_000_000);
    o.push_str("graph drc {\n  node [shape=box, fontname=\"Helvetica\"];\n");
    let _ = writeln!(
        o,
        "  subgraph cluster_real {{\n    label={};",
        q(&format!("real links at {} ms", at / 1_000_000))
    );
    for s in &servers {
        let style = if tree.down.contains(s) {
            ", style=dashed, fontcolor=gray"
        } else {
            ""
        };
        let _ = writeln!(
            o,
            "    {} [label={}{style}];",
            q(&format!("real/{s}")),
            q(s)
        );
    }
    for (a, b) in &tree.links {
        let _ = writeln!(
            o,
            "    {} -- {};",
            q(&format!("real/{a}")),
            q(&format!("real/{b}"))
        );
    }
    o.push_str("  }\n");
    for (host, view) in &tree.views {
        let _ = writeln!(
            o,
            "  subgraph {} {{\n    label={};",
            q(&format!("cluster_view_{host}")),
            q(&format!("{host}'s view"))
        );
        let node = |n: &str| q(&format!("{host}/{n}"));
        let _ = writeln!(o, "    {} [label={}, style=bold];", node(host), q(host));
        for (name, _) in view {
            let _ = writeln!(o, "    {} [label={}];", node(name), q(name));
        }
        for (name, uplink) in view {
            let pair = if name < uplink {
                (name.clone(), uplink.clone())
            } else {
                (uplink.clone(), name.clone())
            };
            let wrong = if tree.links.contains(&pair) {
                ""
            } else {
                " [color=red, fontcolor=red, label=\"not real\"]"
            };
            let _ = writeln!(o, "    {} -- {}{wrong};", node(uplink), node(name));
        }
        o.push_str("  }\n");
    }
    o.push_str("}\n");
    o
}
