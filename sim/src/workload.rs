//! `[workload]`: seeded random users, expanded into ordinary `connect`,
//! `join`, `leave`, `say`, `nick` and `quit` actions before a run, so a
//! workload run replays, shrinks and traces like any hand-written
//! scenario. Each user is also declared as a `[[client]]` with `start =
//! false` (it connects at its first `connect` action) and a list of
//! servers to reconnect to: its own, then two or three others.

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
    let mut door = rng::stream(seed, "workload/greeter");
    // Leaves draw from a stream of their own too: a workload without them
    // expands as before they existed.
    let mut leaves = rng::stream(seed, "workload/leaves");
    // And the case of a drawn nick (`nick_case`).
    let mut case = rng::stream(seed, "workload/nick-case");
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
            if w.via_greeter_ppm > 0 {
                decl.via_greeter = door.next_u32() % 1_000_000 < w.via_greeter_ppm;
            }
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
                    let nick = match w.nick_pool {
                        0 => format!("{id}_n{nick_changes}"),
                        pool => format!("nick{:02}", 1 + pick(&mut rng, pool as usize)),
                    };
                    let nick = if w.nick_case {
                        match pick(&mut case, 3) {
                            0 => nick,
                            1 => nick[..1].to_uppercase() + &nick[1..],
                            _ => nick.to_uppercase(),
                        }
                    } else {
                        nick
                    };
                    push(
                        n,
                        Action::Nick {
                            client: id.clone(),
                            nick,
                        },
                    );
                }
            }
            // Private and list messages go to other workload clients, by
            // id; whoever is not connected then simply misses them. They
            // start once every client has connected for the first time
            // (by start + 5s), so a recipient is never named before its
            // first `connect` (which a reproducer file must not do).
            let others = w.clients.saturating_sub(1) as usize;
            let everyone_in = w.start.as_nanos() + 5_000_000_001;
            let other = |rng: &mut ChaCha8Rng| {
                let j = 1 + pick(rng, others) as u64;
                format!("u{:04}", if j >= i { j + 1 } else { j })
            };
            for (every, list) in [(w.private_every, false), (w.list_every, true)] {
                if every.as_nanos() == 0 || others == 0 {
                    continue;
                }
                let mut p = (t + 2_000_000_000).max(everyone_in);
                let mut k = 0u32;
                loop {
                    p += exp(&mut rng, every.as_nanos());
                    if p >= end {
                        break;
                    }
                    k += 1;
                    let action = if list {
                        let mut to: Vec<String> = Vec::new();
                        for _ in 0..2 + pick(&mut rng, 2) {
                            let o = other(&mut rng);
                            if !to.contains(&o) {
                                to.push(o);
                            }
                        }
                        Action::SendList {
                            client: id.clone(),
                            to,
                            text: format!("{id} list {k}"),
                        }
                    } else {
                        Action::Private {
                            client: id.clone(),
                            to: other(&mut rng),
                            text: format!("{id} private {k}"),
                        }
                    };
                    push(p, action);
                }
            }
            // A leave, and the join again one to three seconds later (if
            // the session lasts), of one of the session's rooms.
            if w.leave_every.as_nanos() > 0 && !mine.is_empty() {
                let mut l = t + 2_000_000_000;
                loop {
                    l += exp(&mut leaves, w.leave_every.as_nanos());
                    if l >= end {
                        break;
                    }
                    let r = mine[pick(&mut leaves, mine.len())];
                    let back = l + rng::between(&mut leaves, 1_000_000_000, 3_000_000_000);
                    push(
                        l,
                        Action::Leave {
                            client: id.clone(),
                            room: r.clone(),
                        },
                    );
                    if back < end {
                        push(
                            back,
                            Action::Join {
                                client: id.clone(),
                                room: r.clone(),
                            },
                        );
                    }
                    l = back;
                }
            }
            if end >= stop {
                break;
            }
            push(
                end,
                Action::Quit {
                    client: id.clone(),
                    exit: None,
                },
            );
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_list_and_pooled_nicks_name_other_workload_clients() {
        let mut scn = crate::scenario::parse_str(
            "name = \"w\"\nduration = \"60s\"\n[[server]]\nname = \"a\"\n\
             [workload]\nclients = 5\nrooms = 2\nsay_every = \"5s\"\n\
             nick_every = \"5s\"\nprivate_every = \"5s\"\nlist_every = \"5s\"\n\
             nick_pool = 3\nstop = \"50s\"\n",
            "w.toml",
        )
        .unwrap();
        let x = expand(&scn, 7);
        let ids: Vec<String> = (1..=5).map(|i| format!("u{i:04}")).collect();
        let (mut privates, mut lists, mut nicks) = (0, 0, 0);
        for a in &x.actions {
            match &a.action {
                Action::Private { client, to, .. } => {
                    privates += 1;
                    assert!(ids.contains(to) && to != client, "{to} from {client}");
                }
                Action::SendList { client, to, .. } => {
                    lists += 1;
                    assert!((1..=3).contains(&to.len()));
                    assert!(to.iter().all(|t| ids.contains(t) && t != client));
                }
                Action::Nick { nick, .. } => {
                    nicks += 1;
                    assert!(
                        ["nick01", "nick02", "nick03"].contains(&nick.as_str()),
                        "{nick}"
                    );
                }
                _ => {}
            }
        }
        assert!(
            privates > 10 && lists > 10 && nicks > 10,
            "{privates} {lists} {nicks}"
        );
        // A recipient is never named before its first connect: the
        // expansion is a valid scenario file.
        crate::scenario::parse_str(&x.to_toml(), "x.toml").unwrap();
        // Without the new keys, no private or list message is drawn.
        let w = scn.workload.as_mut().unwrap();
        (w.private_every, w.list_every, w.nick_pool) = (Duration::ZERO, Duration::ZERO, 0);
        let plain = expand(&scn, 7);
        assert!(plain
            .actions
            .iter()
            .all(|a| !matches!(a.action, Action::Private { .. } | Action::SendList { .. })));
    }

    /// Each leave is of a room its client joined, and is followed by that
    /// room's join again 1 to 3 seconds later unless the session ends
    /// first; a workload with leaves draws everything else as one
    /// without them (their own stream), and a scenario written out with
    /// them reads back with them.
    #[test]
    fn a_leave_is_of_a_joined_room_and_joined_again_and_draws_nothing_else() {
        let text = "name = \"w\"\nduration = \"60s\"\n[[server]]\nname = \"a\"\n\
                    [workload]\nclients = 6\nrooms = 3\nsay_every = \"5s\"\n\
                    churn_every = \"20s\"\nleave_every = \"4s\"\nstop = \"50s\"\n";
        let scn = crate::scenario::parse_str(text, "w.toml").unwrap();
        let x = expand(&scn, 7);
        let mut leaves = 0;
        for (i, a) in x.actions.iter().enumerate() {
            let Action::Leave { client, room } = &a.action else {
                continue;
            };
            leaves += 1;
            let joined_before = x.actions[..i].iter().any(|b| {
                matches!(&b.action, Action::Join { client: c, room: r } if c == client && r == room)
            });
            assert!(joined_before, "{client} leaves {room} it never joined");
            let t = a.time.as_nanos();
            let next = x.actions[i + 1..].iter().find(|b| match &b.action {
                Action::Join { client: c, room: r } => c == client && r == room,
                Action::Quit { client: c, .. } => c == client,
                _ => false,
            });
            if let Some(b) = next {
                if matches!(b.action, Action::Join { .. }) {
                    let dt = b.time.as_nanos() - t;
                    assert!((1_000_000_000..=3_000_000_000).contains(&dt), "{dt}");
                }
            }
        }
        assert!(leaves > 10, "{leaves}");
        let mut plain = scn.clone();
        plain.workload.as_mut().unwrap().leave_every = Duration::ZERO;
        let plain = expand(&plain, 7);
        let others = |s: &Scenario| -> Vec<(u64, String)> {
            let mut v: Vec<(u64, String)> = s
                .actions
                .iter()
                .filter(|a| !matches!(a.action, Action::Leave { .. } | Action::Join { .. }))
                .map(|a| (a.time.as_nanos(), format!("{:?}", a.action)))
                .collect();
            v.sort();
            v
        };
        assert_eq!(others(&x), others(&plain), "only leaves and joins differ");
        let back = crate::scenario::parse_str(&scn.to_toml(), "w.toml").unwrap();
        assert_eq!(back.workload, scn.workload);
    }
}
