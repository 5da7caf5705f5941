//! `redirect.finishes`, `redirect.single` and `shutdown.drains`: seamless
//! redirects end, leave one home, and a shutdown leaves nobody behind.
//!
//! The request's ends are judged from the servers' notes (each end says
//! when it ends its part, and how); where the user lives is judged from
//! the servers' user tables against the client's own connection.

use std::collections::BTreeMap;

use std::sync::Arc;

use drc_protocol::client::ClientState;
use drc_protocol::{ChatNote, Server};

use super::Violation;
use crate::clock::SimTime;
use crate::network::HostId;
use crate::world::World;

/// Redirect outcomes counted at the source, for `stats.redirects`.
#[derive(Clone, Copy, Debug, Default)]
pub struct RedirectCounts {
    pub requested: u64,
    pub completed: u64,
    pub refused: u64,
    pub timed_out: u64,
    pub cancelled: u64,
}

/// A shutdown: the server host, when it began, and the clients it held
/// then, each with when its session there began.
type Shutdown = (HostId, SimTime, Vec<(HostId, SimTime)>);

#[derive(Default)]
pub struct MoveChecks {
    /// Requests started and not yet ended at their source: id to (source
    /// host, started).
    open: BTreeMap<u64, (HostId, SimTime)>,
    /// Ends already seen: (id, at the source).
    ended: BTreeMap<(u64, bool), SimTime>,
    /// When each end's clock started: (id, at the source).
    started: BTreeMap<(u64, bool), SimTime>,
    pub counts: RedirectCounts,
    shutdowns: Vec<Shutdown>,
    /// Per client host: the last time it completed a move, and the last
    /// time its session ended with "server shutting down" or a failed move.
    moved_at: BTreeMap<HostId, SimTime>,
    told_at: BTreeMap<HostId, SimTime>,
    /// Per client host: the last time its user quit, and the last time
    /// it was welcomed (its session began).
    quit_at: BTreeMap<HostId, SimTime>,
    welcome_at: BTreeMap<HostId, SimTime>,
    /// Either end of a request may take this long (+1s).
    timeout: SimTime,
    /// A user's memberships (room, membership id) at the source when it
    /// committed a move, until the target takes the user.
    committed: BTreeMap<Arc<str>, Vec<(String, u64)>>,
    /// Servers that shut down with no link to a server they could reach:
    /// nobody could take their streams, so for the others they are as
    /// crashed.
    pub alone_at_shutdown: std::collections::BTreeSet<HostId>,
}

const SLACK: SimTime = 1_000_000_000;

impl MoveChecks {
    pub fn new(redirect_timeout: SimTime) -> Self {
        MoveChecks {
            timeout: redirect_timeout,
            ..Default::default()
        }
    }

    pub fn on_note(
        &mut self,
        now: SimTime,
        h: HostId,
        label: &str,
        note: &ChatNote,
        v: &mut Vec<Violation>,
    ) {
        let mut violate = |detail: String| {
            v.push(Violation {
                invariant: "redirect.finishes",
                time_ms: now / 1_000_000,
                host: Some(label.to_string()),
                detail,
            })
        };
        match note {
            ChatNote::MoveStarted { id, .. } => {
                self.counts.requested += 1;
                self.open.insert(*id, (h, now));
                self.started.insert((*id, true), now);
            }
            ChatNote::Welcome { .. } => {
                self.welcome_at.insert(h, now);
            }
            ChatNote::MoveNoted { id, .. } => {
                self.started.insert((*id, false), now);
            }
            ChatNote::MoveEnded {
                id,
                uid,
                outcome,
                source,
            } => {
                if self.ended.insert((*id, *source), now).is_some() {
                    let end = if *source { "source" } else { "target" };
                    violate(format!(
                        "request {id:016x} for {uid} ended twice at its {end} (now {outcome})"
                    ));
                    return;
                }
                if *source {
                    self.open.remove(id);
                    let c = &mut self.counts;
                    match *outcome {
                        "completed" => c.completed += 1,
                        "refused" => c.refused += 1,
                        "timed-out" => c.timed_out += 1,
                        _ => c.cancelled += 1,
                    }
                }
                let limit = self.timeout + SLACK;
                if let Some(&t0) = self.started.get(&(*id, *source)) {
                    if now - t0 > limit {
                        violate(format!(
                            "request {id:016x} for {uid} ended {outcome} after {} ms",
                            (now - t0) / 1_000_000
                        ));
                    }
                }
            }
            ChatNote::Moved {
                outcome: "completed",
                ..
            } => {
                self.moved_at.insert(h, now);
            }
            // Told why: the shutdown itself, or whatever else ended the
            // session with a reason (a move a fault cut short, a KILL);
            // only a silent close is a client left behind.
            ChatNote::Disconnected { reason } if &**reason != "connection closed" => {
                self.told_at.insert(h, now);
            }
            _ => {}
        }
    }

    /// `redirect.continuity`: a move completed at one end, `server`. The
    /// source's view of the user's memberships when it let go must be the
    /// target's when it takes the user: same rooms, same membership ids (a
    /// leave and a rejoin, which other members would see, change them).
    pub fn on_completed(
        &mut self,
        now: SimTime,
        label: &str,
        server: &Server,
        uid: &Arc<str>,
        source: bool,
        v: &mut Vec<Violation>,
    ) {
        let mut rooms: Vec<(String, u64)> = server
            .rooms()
            .filter_map(|r| r.members.get(&**uid).map(|&m| (r.name.to_string(), m)))
            .collect();
        rooms.sort();
        if source {
            // A source that stopped in the same step (its last move ended
            // a shutdown) has dropped everything: nothing to compare.
            if !server.is_stopped() {
                self.committed.insert(uid.clone(), rooms);
            }
            return;
        }
        let Some(before) = self.committed.remove(uid) else {
            return;
        };
        if before != rooms {
            v.push(Violation {
                invariant: "redirect.continuity",
                time_ms: now / 1_000_000,
                host: Some(label.to_string()),
                detail: format!(
                    "{uid} arrived with memberships {rooms:?}, but left its old server with {before:?}"
                ),
            });
        }
    }

    /// A shutdown begins at server `h`; `clients` are connected to it.
    pub fn on_shutdown(&mut self, now: SimTime, h: HostId, clients: Vec<HostId>, alone: bool) {
        if alone {
            self.alone_at_shutdown.insert(h);
        } else {
            self.alone_at_shutdown.remove(&h);
        }
        let clients = clients
            .into_iter()
            .map(|c| (c, self.welcome_at.get(&c).copied().unwrap_or(0)))
            .collect();
        self.shutdowns.push((h, now, clients));
    }

    /// The user of client `h` quit (it asked to leave; nobody owes it a move).
    pub fn on_quit(&mut self, now: SimTime, h: HostId) {
        self.quit_at.insert(h, now);
    }

    /// A server went down (crash): it forgets its requests and its
    /// shutdown, and so do we.
    pub fn host_down(&mut self, h: HostId) {
        self.open.retain(|_, (src, _)| *src != h);
        // A server that crashes while it drains owes its clients nothing
        // more: they lose it as they would any crashed server.
        self.shutdowns.retain(|(s, _, _)| *s != h);
    }

    /// Requests still open at their source past their time.
    pub fn overdue(&self, now: SimTime, w: &World) -> Vec<Violation> {
        let mut out = Vec::new();
        for (id, &(h, t0)) in &self.open {
            let host = &w.hosts[h as usize];
            // A source that shut down ended nothing: it let go.
            if !host.running() || now - t0 <= self.timeout + SLACK {
                continue;
            }
            out.push(Violation {
                invariant: "redirect.finishes",
                time_ms: now / 1_000_000,
                host: Some(host.label.clone()),
                detail: format!(
                    "request {id:016x} still open at its source after {} ms",
                    (now - t0) / 1_000_000
                ),
            });
        }
        out
    }

    /// At a quiet end: every client of a finished shutdown moved or was
    /// told why it was let go, unless the network cut it off first.
    pub fn drains(&self, w: &World) -> Vec<Violation> {
        let mut out = Vec::new();
        for (s, t0, clients) in &self.shutdowns {
            let server = &w.hosts[*s as usize];
            for &(c, since) in clients {
                let moved = self.moved_at.get(&c).is_some_and(|t| t >= t0);
                let told = self.told_at.get(&c).is_some_and(|t| t >= t0);
                // A quit the server had not yet heard of when it began
                // counts too: it ended the session being drained.
                let quit = self.quit_at.get(&c).is_some_and(|&t| t >= since);
                if moved || told || quit || !w.net.partition.reachable(c, *s) {
                    continue;
                }
                out.push(Violation {
                    invariant: "shutdown.drains",
                    time_ms: w.now / 1_000_000,
                    host: Some(server.label.clone()),
                    detail: format!(
                        "client {} neither moved nor was told the server was shutting down",
                        w.hosts[c as usize].label
                    ),
                });
            }
        }
        out
    }
}

/// `redirect.single`, at a quiet end: a connected client has one server
/// connection, and every running server of that server's component that
/// knows the user places it there (no second home, no stale one).
pub fn single(w: &World, running: &[HostId]) -> Vec<Violation> {
    let mut out = Vec::new();
    let sid_of: BTreeMap<&str, &str> = running
        .iter()
        .map(|&h| {
            let host = &w.hosts[h as usize];
            (&*host.label, &*host.sid)
        })
        .collect();
    let comps = w.checks.graph.components(running);
    // Which running servers hold each UID as a local client (one pass
    // over them, not one per client: this check runs at every scale).
    let mut local: BTreeMap<&str, Vec<HostId>> = BTreeMap::new();
    for &x in running {
        if let Some(s) = w.hosts[x as usize].server.as_ref() {
            for uid in s.local_uids() {
                local.entry(uid).or_default().push(x);
            }
        }
    }
    for host in w.hosts.iter().filter(|h| h.up) {
        let Some(c) = host.client.as_ref() else {
            continue;
        };
        if c.state() != ClientState::Connected {
            continue;
        }
        let (Some(uid), Some(server)) = (c.uid(), c.server()) else {
            continue;
        };
        let mut v = |detail: String| {
            out.push(Violation {
                invariant: "redirect.single",
                time_ms: w.now / 1_000_000,
                host: Some(host.label.clone()),
                detail,
            })
        };
        if c.is_moving() {
            v(format!("{uid} is still between two servers"));
        }
        let Some(&home) = sid_of.get(server) else {
            continue;
        };
        let Some(&sh) = w.by_label.get(server) else {
            continue;
        };
        let holders = local.get(uid).map_or(&[][..], |v| v.as_slice());
        // The other running servers its server reaches.
        for &x in comps.of(sh).unwrap_or(&[]).iter().filter(|&&x| x != sh) {
            let hx = &w.hosts[x as usize];
            let s = hx.server.as_ref().expect("running");
            if let Some((_, sid)) = s.user(uid) {
                if sid != home {
                    v(format!(
                        "{} places {uid} on {sid}, but its client is on {server} ({home})",
                        hx.label
                    ));
                }
            }
            if holders.contains(&x) {
                v(format!("{} also holds {uid} as a local client", hx.label));
            }
        }
    }
    out
}

/// `registry.agrees`, at a quiet end: every running server of a component
/// holds the same registry.
pub fn registries_agree(w: &World, running: &[HostId]) -> Vec<Violation> {
    let mut out = Vec::new();
    for comp in w.checks.graph.components(running).list {
        let mut first: Option<(HostId, &drc_protocol::Registry)> = None;
        for h in comp {
            let Some(s) = w.hosts[h as usize].server.as_ref() else {
                continue;
            };
            match first {
                None => first = Some((h, s.registry())),
                Some((f, r)) if r != s.registry() => {
                    let names = |r: &drc_protocol::Registry| -> Vec<String> {
                        r.entries().map(|(n, _)| n.to_string()).collect()
                    };
                    out.push(Violation {
                        invariant: "registry.agrees",
                        time_ms: w.now / 1_000_000,
                        host: Some(w.hosts[h as usize].label.clone()),
                        detail: format!(
                            "registry {:?} differs from {}'s {:?}",
                            names(s.registry()),
                            w.hosts[f as usize].label,
                            names(r)
                        ),
                    });
                }
                Some(_) => {}
            }
        }
    }
    out
}

/// `room.sequenced`, at a quiet end: no server's room is left sequenced by
/// a server that shut down, unless it could not help it. A crashed
/// sequencer loses its stream by design (`home` rooms then wait for it);
/// so does one that shut down with no server that stays in reach, directly
/// or through servers shutting down too (nobody to hand to for good), and
/// a successor that crashed after taking the stream.
pub fn rooms_sequenced(w: &World, running: &[HostId]) -> Vec<Violation> {
    let mut out = Vec::new();
    let by_sid: BTreeMap<&str, HostId> = w
        .hosts
        .iter()
        .enumerate()
        .filter(|(_, h)| !h.is_client && h.genuine)
        .map(|(i, h)| (&*h.sid, i as HostId))
        .collect();
    for &x in running {
        let hx = &w.hosts[x as usize];
        let s = hx.server.as_ref().expect("running");
        for r in s.rooms() {
            if r.members.is_empty() {
                continue;
            }
            let Some(seq) = s.room_sequencer(r.name) else {
                continue;
            };
            let Some(&y) = by_sid.get(seq) else {
                continue;
            };
            let hy = &w.hosts[y as usize];
            let shut_down = hy.up
                && hy.server.as_ref().is_some_and(|s| s.is_stopped())
                && !w.checks.moves.alone_at_shutdown.contains(&y);
            if !shut_down {
                continue;
            }
            // What the server that shut down did with the stream: kept it,
            // or handed it to a server that runs it now (so this one
            // should have heard), or to one that lost it since (a crash:
            // lost by design, like any crashed sequencer's).
            let sy = hy.server.as_ref().expect("up");
            let detail = match sy.room_sequencer(r.name).filter(|z| *z != &*hy.sid) {
                None => format!(
                    "{} is still sequenced by {}, which shut down",
                    r.name, hy.label
                ),
                Some(z) => {
                    let runs = by_sid.get(z).map(|&zh| &w.hosts[zh as usize]).filter(|hz| {
                        hz.running()
                            && hz.server.as_ref().is_some_and(|s| {
                                s.rooms().any(|v| v.name == r.name && v.sequencer.is_some())
                            })
                    });
                    let Some(hz) = runs else {
                        continue;
                    };
                    format!(
                        "{} is still sequenced by {}, which shut down and handed it to {}",
                        r.name, hy.label, hz.label
                    )
                }
            };
            out.push(Violation {
                invariant: "room.sequenced",
                time_ms: w.now / 1_000_000,
                host: Some(hx.label.clone()),
                detail,
            });
        }
    }
    out
}
