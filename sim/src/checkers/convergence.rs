//! Convergence invariants, judged at the end of a quiet run.
//!
//! A run is quiet when no scenario action happened during the settle
//! period before its end: long enough for ping timeouts to notice every
//! dead link and for autoconnect to try again at its longest backoff.

use std::collections::{BTreeMap, BTreeSet};

use drc_protocol::Config;

use super::Violation;
use crate::clock::SimTime;
use crate::network::HostId;
use crate::world::World;

/// The settle period for a configuration.
pub fn settle(cfg: &Config) -> SimTime {
    // A client that died is noticed after its own keepalive's timeout.
    let pt = cfg.ping_timeout.max(cfg.client_ping_timeout).as_nanos();
    (3 * pt).max(cfg.reconnect_max.as_nanos() + pt)
}

/// How long after the last client action room traffic may still be
/// settling: a held number expires, a retry goes out, gaps are asked about.
pub fn chat_settle(cfg: &Config) -> SimTime {
    (cfg.seq_hold + cfg.ping_timeout).as_nanos() + 4 * cfg.find_delay.as_nanos()
}

/// When a run is quiet enough to judge convergence: `settle` after its
/// last fault or operator action and the chat settle time after its last
/// client action, whichever is later.
pub fn quiet_from(
    last_action: SimTime,
    last_chat: SimTime,
    settle: SimTime,
    cfg: &Config,
) -> SimTime {
    (last_action + settle).max(last_chat + chat_settle(cfg))
}

/// The last moment room traffic was set going: a client action, or a
/// room message taken into its stream for the first time. A client's
/// messages held back (by a partition, a sequencer out of reach) go out
/// one after another after its last action, each a round trip to the
/// sequencer; until the last of them has had the chat settle time,
/// members may still rightly be waiting for it. A send that makes no
/// progress, or only retries of a message numbered already, moves
/// nothing here, so what is stuck is still judged.
pub fn last_chat(w: &World) -> SimTime {
    w.last_chat.max(w.checks.chat.last_send)
}

/// Whether the end of the run is quiet enough to judge convergence.
pub fn is_quiet(w: &World, settle: SimTime) -> bool {
    w.now >= quiet_from(w.last_action, last_chat(w), settle, w.config())
}

/// Running servers, in host order.
pub fn running(w: &World) -> Vec<HostId> {
    (0..w.hosts.len() as HostId)
        .filter(|&h| w.hosts[h as usize].running())
        .collect()
}

/// Judges convergence at a quiet end. `connected`: all running admitted
/// servers must form one tree.
pub fn check(w: &World, settle: SimTime, connected: bool) -> Vec<Violation> {
    let mut out = Vec::new();
    let now = w.now;
    let ms = now / 1_000_000;
    let mut v = |inv: &'static str, host: &str, detail: String| {
        out.push(Violation {
            invariant: inv,
            time_ms: ms,
            host: Some(host.to_string()),
            detail,
        })
    };
    let hosts = running(w);
    let g = &w.checks.graph;
    let acyclic = g.find_cycle().is_none();
    // Which running host is the genuine holder of each name.
    let by_name: BTreeMap<&str, HostId> = hosts
        .iter()
        .filter(|&&h| w.hosts[h as usize].genuine)
        .map(|&h| (&*w.hosts[h as usize].claims, h))
        .collect();
    let mut reach = crate::checkers::graph::Reach::default();
    for &x in &hosts {
        let hx = &w.hosts[x as usize];
        let server = hx.server.as_ref().expect("running");
        g.bfs_into(x, &mut reach);
        for k in server.known_servers() {
            match by_name.get(k.name) {
                Some(&y) if reach.contains(y) => {
                    let inc = w.hosts[y as usize].incarnation;
                    if k.incarnation != inc {
                        v(
                            "ghost.server",
                            &hx.label,
                            format!(
                                "knows {} incarnation {}, but it runs incarnation {inc}",
                                k.name, k.incarnation
                            ),
                        );
                    }
                }
                Some(_) => v(
                    "ghost.server",
                    &hx.label,
                    format!("knows {}, which it cannot reach", k.name),
                ),
                None => v(
                    "ghost.server",
                    &hx.label,
                    format!("knows {}, which is not running", k.name),
                ),
            }
        }
        if !acyclic {
            continue; // views of a looped graph have no single right answer
        }
        for y in reach.hosts() {
            let (dist, first, parent) = reach.get(y).expect("reached");
            let hy = &w.hosts[y as usize];
            let Some(k) = server.known_server(&hy.claims) else {
                v(
                    "tree.view",
                    &hx.label,
                    format!("does not know {}, {dist} hops away", hy.claims),
                );
                continue;
            };
            if k.hops != dist {
                v(
                    "tree.view",
                    &hx.label,
                    format!("puts {} at {} hops, really {dist}", hy.claims, k.hops),
                );
            }
            let expect_uplink = &*w.hosts[parent as usize].claims;
            if k.uplink != expect_uplink {
                v(
                    "tree.view",
                    &hx.label,
                    format!(
                        "hangs {} under {}, really under {expect_uplink}",
                        hy.claims, k.uplink
                    ),
                );
            }
            if hx.conn_of(k.via) != Some(first) {
                v(
                    "tree.view",
                    &hx.label,
                    format!(
                        "routes {} through link {}, not the real first hop",
                        hy.claims, k.via.0
                    ),
                );
            }
        }
    }
    // Agreement per component on (name, incarnation). Each view is read
    // in place and compared with the first's as it is read: at 10,000
    // servers, holding every view at once would be 100 M entries.
    for comp in g.components(&hosts).list {
        let view = |x: HostId| {
            let s = w.hosts[x as usize].server.as_ref().expect("running");
            let mut v: Vec<(&str, u64)> =
                s.known_servers().map(|k| (k.name, k.incarnation)).collect();
            v.push((s.name(), s.incarnation()));
            v.sort_unstable();
            v.dedup();
            v
        };
        let Some((&x0, rest)) = comp.split_first() else {
            continue;
        };
        let first = view(x0);
        for &x in rest {
            let set = view(x);
            if set != first {
                let (a, b): (BTreeSet<_>, BTreeSet<_>) =
                    (set.iter().collect(), first.iter().collect());
                let diff: Vec<String> = a
                    .symmetric_difference(&b)
                    .map(|(n, i)| format!("{n}#{i}"))
                    .collect();
                v(
                    "servers.agree",
                    &w.hosts[x as usize].label,
                    format!(
                        "disagrees with {} on {}",
                        w.hosts[x0 as usize].label,
                        diff.join(", ")
                    ),
                );
            }
        }
    }
    if connected {
        let admitted: Vec<HostId> = hosts
            .iter()
            .copied()
            .filter(|&h| w.hosts[h as usize].genuine)
            .collect();
        let comps = g.components(&admitted).list;
        if comps.len() > 1 {
            let names: Vec<String> = comps
                .iter()
                .map(|c| {
                    let labels: Vec<&str> = c
                        .iter()
                        .map(|&h| w.hosts[h as usize].label.as_str())
                        .collect();
                    format!("[{}]", labels.join(" "))
                })
                .collect();
            out.push(Violation {
                invariant: "liveness.converge",
                time_ms: ms,
                host: None,
                detail: format!("still split after the liveness phase: {}", names.join(" ")),
            });
        }
    }
    let window = settle / 2;
    if w.checks.link_changes > 0 && w.checks.last_link_change + window > now {
        out.push(Violation {
            invariant: "link.flap",
            time_ms: ms,
            host: None,
            detail: format!(
                "a link changed at {}ms, inside the final {}ms of a quiet run",
                w.checks.last_link_change / 1_000_000,
                window / 1_000_000
            ),
        });
    }
    let comps = g.components(&hosts);
    out.extend(super::chat::converge(w, &comps));
    out.extend(super::clients::converge(w, &comps));
    out
}
