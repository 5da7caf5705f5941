//! `[workload]`: seeded random users, expanded into ordinary `connect`,
//! `join`, `say`, `nick` and `quit` actions before a run, so a workload run
//! replays, shrinks and traces like any hand-written scenario. Each user
//! is also declared as a `[[client]]` with `start = false` (it connects at
//! its first `connect` action) and a list of servers to reconnect to: its
//! own, then two or three others.

use drc_protocol::time::Duration;
use rand_chacha::ChaCha8Rng;
use rand_core::RngCore;

use crate::rng;
use crate::scenario::{Action, ClientDecl, Scenario, TimedAction};

/// The scenario with its workload turned into clients and actions.
pub fn expand(scn: &Scenario, seed: u64) -> Scenario {
    let Some(w) = &scn.workload else {
        return scn.clone();
    };
    let mut out = scn.clone();
    out.workload = None;
    let servers = scn.server_names();
    if servers.is_empty() || w.clients == 0 {
        return out;
    }
    let mut rng = rng::stream(seed, "workload");
    // A stream of its own, so that the lists leave the timeline drawn from
    // `workload` as it was before clients had lists.
    let mut lists = rng::stream(seed, "workload/servers");
    let rooms: Vec<String> = (1..=w.rooms).map(|i| format!("#room{i:02}")).collect();
    let stop = w.stop.as_nanos();
    let mut push = |t: u64, action: Action| {
        if t < stop {
            out.actions.push(TimedAction {
                time: Duration::from_nanos(t),
                action,
                line: 0,
            });
        }
    };
    for i in 1..=w.clients {
        let id = format!("u{i:04}");
        let server = servers[pick(&mut rng, servers.len())].clone();
        if !scn.clients.iter().any(|c| c.id == id) {
            let mut decl = ClientDecl::new(id.clone(), server.clone());
            decl.start = false;
            let want = (2 + pick(&mut lists, 2)).min(servers.len() - 1);
            while decl.servers.len() < want {
                let s = &servers[pick(&mut lists, servers.len())];
                if *s != server && !decl.servers.contains(s) {
                    decl.servers.push(s.clone());
                }
            }
            out.clients.push(decl);
        }
        let mut t = w.start.as_nanos() + rng::between(&mut rng, 0, 5_000_000_000);
        let mut generation = 0u32;
        let mut nick_changes = 0u32;
        loop {
            push(
                t,
                Action::Connect {
                    client: id.clone(),
                    server: server.clone(),
                    nick: (generation > 0).then(|| format!("{id}_r{generation}")),
                },
            );
            let mut mine: Vec<&String> = Vec::new();
            for _ in 0..w.joins.min(w.rooms) {
                let r = &rooms[pick(&mut rng, rooms.len())];
                if !mine.contains(&r) {
                    mine.push(r);
                }
            }
            for (k, r) in mine.iter().enumerate() {
                push(
                    t + 1_000_000_000 + k as u64 * 10_000_000,
                    Action::Join {
                        client: id.clone(),
                        room: (*r).clone(),
                    },
                );
            }
            // Until this session ends: a quit (churn) or the stop time.
            let end = match w.churn_every.as_nanos() {
                0 => stop,
                mean => (t + 5_000_000_000 + exp(&mut rng, mean)).min(stop),
            };
            let mut s = t + 2_000_000_000;
            let mut said = 0u32;
            while !mine.is_empty() {
                s += exp(&mut rng, w.say_every.as_nanos().max(1));
                if s >= end {
                    break;
                }
                said += 1;
                let r = mine[pick(&mut rng, mine.len())];
                push(
                    s,
                    Action::Say {
                        client: id.clone(),
                        room: r.clone(),
                        text: format!("{id} {said}"),
                    },
                );
            }
            if w.nick_every.as_nanos() > 0 {
                let mut n = t + 2_000_000_000;
                loop {
                    n += exp(&mut rng, w.nick_every.as_nanos());
                    if n >= end {
                        break;
                    }
                    nick_changes += 1;
                    push(
                        n,
                        Action::Nick {
                            client: id.clone(),
                            nick: format!("{id}_n{nick_changes}"),
                        },
                    );
                }
            }
            if end >= stop {
                break;
            }
            push(end, Action::Quit { client: id.clone() });
            generation += 1;
            t = end + 2_000_000_000;
        }
    }
    out.actions.sort_by_key(|a| a.time);
    out
}

fn pick(rng: &mut ChaCha8Rng, n: usize) -> usize {
    (rng.next_u64() % n as u64) as usize
}

/// An exponential gap with the given mean, in integer arithmetic (no float
/// reaches the schedule's bits in a platform-dependent way).
fn exp(rng: &mut ChaCha8Rng, mean: u64) -> u64 {
    // -ln(u) by the integer log2 of a 53-bit uniform: coarse but exact
    // everywhere; scaled so its mean is `mean`.
    let u = (rng.next_u64() >> 11) | 1;
    let bits = 53 - (63 - u.leading_zeros() as u64); // ~ -log2(u / 2^53)
    let frac = rng.next_u64() % 1000;
    // ceil(-log2 u) minus a uniform fraction has the mean of -log2 u;
    // times ln 2 that is -ln u, whose mean is 1 (in thousandths here).
    let x = (bits * 1000 - frac) * 693 / 1000;
    mean.saturating_mul(x) / 1000
}
