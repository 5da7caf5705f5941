//! Invariants, checked as the run goes.
//!
//! Safety invariants are checked after every event, from the notes the
//! servers emit and the frames they receive, at a cost proportional to
//! what changed. Convergence invariants are checked once the network has
//! been quiet for the settle period (see [`convergence`]).

pub mod chat;
pub mod clients;
pub mod convergence;
pub mod counts;
pub mod discovery;
pub mod graph;
pub mod lists;
pub mod moves;
pub mod said;
pub mod sends;
pub mod streams;
pub mod tokens;

use std::collections::BTreeMap;

use drc_protocol::{Config, LinkId, Note, Server};
use serde::Serialize;

use crate::clock::SimTime;
use crate::host::Host;
use crate::network::{HostId, Network};

use graph::LinkGraph;

/// When an invariant is evaluated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// After every event.
    Safety,
    /// Once the network has been quiet for the settle period.
    Convergence,
}

pub struct Invariant {
    pub name: &'static str,
    pub kind: Kind,
    pub statement: &'static str,
}

/// The catalog, in the order `drcsim invariants` prints it.
pub const CATALOG: &[Invariant] = &[
    Invariant {
        name: "tree.acyclic",
        kind: Kind::Safety,
        statement: "registered server links that can carry traffic never keep a cycle longer than the loop grace (5s)",
    },
    Invariant {
        name: "auth.before_state",
        kind: Kind::Safety,
        statement: "no server table changes through a link before its peer is authenticated, and never for an impostor",
    },
    Invariant {
        name: "msg.direction",
        kind: Kind::Safety,
        statement: "a SQUIT, broadcast, KILL, SAVE or REJECT takes effect only when it arrives from the direction of the server it names (its origin or issuer)",
    },
    Invariant {
        name: "handshake.finishes",
        kind: Kind::Safety,
        statement: "every handshake finishes or is abandoned at each end within handshake_timeout (+1s)",
    },
    Invariant {
        name: "tree.view",
        kind: Kind::Convergence,
        statement: "each server's view is a tree rooted at itself whose hops, uplinks and routes match the real links",
    },
    Invariant {
        name: "servers.agree",
        kind: Kind::Convergence,
        statement: "all servers of a component know the same servers, with the same incarnations",
    },
    Invariant {
        name: "ghost.server",
        kind: Kind::Convergence,
        statement: "no server knows a server that is down, unreachable, or an earlier incarnation",
    },
    Invariant {
        name: "link.flap",
        kind: Kind::Convergence,
        statement: "no server link is made or lost in the second half of the settle period",
    },
    Invariant {
        name: "users.unique",
        kind: Kind::Safety,
        statement: "no UID is ever issued twice (servers hold one user per nick by construction)",
    },
    Invariant {
        name: "nick.deterministic",
        kind: Kind::Safety,
        statement: "every server that resolves a collision between the same two claims (user and nick timestamp) keeps the same one",
    },
    Invariant {
        name: "collision.bounded",
        kind: Kind::Safety,
        statement: "a server takes each KILL or REJECT for a user at most once per incarnation, and each SAVE at most once per nick the user claimed (resending one to a side that brings the user back is not taking it again)",
    },
    Invariant {
        name: "order.seq_safety",
        kind: Kind::Safety,
        statement: "a room number carries one message or one skip, never both or two; each client delivers a stream's numbers strictly increasing",
    },
    Invariant {
        name: "order.fifo",
        kind: Kind::Safety,
        statement: "within a stream, every client delivers each sender's messages in the order they were sent",
    },
    Invariant {
        name: "order.once",
        kind: Kind::Safety,
        statement: "a client delivers each message once, even when its sender retried it and both copies got a number",
    },
    Invariant {
        name: "room.membership",
        kind: Kind::Safety,
        statement: "a client only receives the messages of rooms it has joined",
    },
    Invariant {
        name: "private.direct",
        kind: Kind::Safety,
        statement: "the text of a private message never reaches a server",
    },
    Invariant {
        name: "registration.finishes",
        kind: Kind::Safety,
        statement: "every client registration finishes or is abandoned, at the server's end and at the client's, within handshake_timeout (+1s)",
    },
    Invariant {
        name: "users.agree",
        kind: Kind::Convergence,
        statement: "all servers of a component know the same users (UID and nick), rooms, members, membership ids and room streams",
    },
    Invariant {
        name: "ghost.user",
        kind: Kind::Convergence,
        statement: "every user a server knows is a connected client of a running server in its component, and every connected client is known to its own server",
    },
    Invariant {
        name: "order.liveness",
        kind: Kind::Convergence,
        statement: "every member connected in its room sequencer's component is synced to the room's stream with no gap left",
    },
    Invariant {
        name: "order.complete",
        kind: Kind::Convergence,
        statement: "such a member has delivered every message its sequencer numbered from the member's starting point on",
    },
    Invariant {
        name: "client.liveness",
        kind: Kind::Convergence,
        statement: "every client that was started, did not quit and either is in a session or reconnects (not reconnect = false) is connected and registered if a running server of its list is in its partition",
    },
    Invariant {
        name: "client.rooms",
        kind: Kind::Convergence,
        statement: "such a client is a member, at its client and at every server of its component, of every room its user joined and did not leave",
    },
    Invariant {
        name: "client.nick",
        kind: Kind::Convergence,
        statement: "such a client goes by the nick its server holds for its user, and every nick change its user asked for in its current session was answered (NICKOK or NICKERR)",
    },
    Invariant {
        name: "send.settled",
        kind: Kind::Convergence,
        statement: "every room message a connected client's user said was taken into its room's stream (sequenced) or refused to the user (SendFailed): none is left waiting or dropped without a word",
    },
    Invariant {
        name: "private.settled",
        kind: Kind::Convergence,
        statement: "every private message such a client's user sent left on an open direct link or was refused to the user (PrivateFailed), once: none is left waiting or dropped without a word",
    },
    Invariant {
        name: "list.kept",
        kind: Kind::Convergence,
        statement: "while no fault has touched the run and the running servers are one tree (and were within relink_grace + 1s), every copy of a list message that its sender's server addressed to a user reaches that user's client, unless the user's session ended first: shutdowns, redirects and new servers lose none",
    },
    Invariant {
        name: "redirect.finishes",
        kind: Kind::Safety,
        statement: "each end of a seamless redirect ends it once (completed, refused, timed out or cancelled), each within redirect_timeout (+1s) of its own start (the target's starts when the source's notice reaches it)",
    },
    Invariant {
        name: "redirect.continuity",
        kind: Kind::Safety,
        statement: "a moved user arrives at its new server with the rooms and membership ids it had when its old server let go: nobody sees it leave or rejoin (its UID is the same by construction, and its messages are judged by the order invariants)",
    },
    Invariant {
        name: "redirect.single",
        kind: Kind::Convergence,
        statement: "a connected client is not left between two servers, and every server of its server's component places its user on that server and nowhere else",
    },
    Invariant {
        name: "shutdown.drains",
        kind: Kind::Convergence,
        statement: "every client connected to a server when it began shutting down moved to another server or was told why it lost its session (\"server shutting down\", or its move failed), unless it quit or the network cut it off",
    },
    Invariant {
        name: "room.sequenced",
        kind: Kind::Convergence,
        statement: "no room with members is left sequenced by a server that shut down: a graceful shutdown hands its streams over",
    },
    Invariant {
        name: "send.kept",
        kind: Kind::Safety,
        statement: "while no fault has touched the run (no partition, cut, stall, crash, restart, unlink, kill or datagram storm), no member's room message is refused: shutdowns, redirects and new servers lose none, unless the running servers are (or were within relink_grace + 1s) in more than one tree",
    },
    Invariant {
        name: "stream.kept",
        kind: Kind::Safety,
        statement: "under `home`, while no fault has touched the run, every room keeps the stream it was created with: a shutdown hands its streams over whole, so no server has to start a room afresh in a new epoch",
    },
    Invariant {
        name: "sync.refuses",
        kind: Kind::Safety,
        statement: "a newcomer still syncing through its sponsor registers no server link and accepts no client",
    },
    Invariant {
        name: "registry.agrees",
        kind: Kind::Convergence,
        statement: "all servers of a component hold the same registry (names, SIDs and keys of the admitted servers)",
    },
    Invariant {
        name: "discovery.registered",
        kind: Kind::Safety,
        statement: "discovery never dials a server the operator's registry does not know, so no link is ever made to one from a WELCOME",
    },
    Invariant {
        name: "discovery.converges",
        kind: Kind::Convergence,
        statement: "once datagrams flow again, every running seeker that another server can reach ends linked, and not in an island of seekers beside a network it can reach",
    },
    Invariant {
        name: "token.once",
        kind: Kind::Safety,
        statement: "a session server accepts a token only once, before its expiry (+ token_leeway), for itself, signed with the secret of its current incarnation",
    },
    Invariant {
        name: "login.finishes",
        kind: Kind::Safety,
        statement: "every greeter login ends, with a session or a fallback to a full login, within login_timeout",
    },
    Invariant {
        name: "timer.advances",
        kind: Kind::Safety,
        statement: "a host that has just handled its wake-up asks for the next one later than now: a deadline still due after the wake-up is asked for again at every wake-up, and the run creeps on a nanosecond at a time",
    },
    Invariant {
        name: "liveness.converge",
        kind: Kind::Convergence,
        statement: "when asked ([expect] connected, every swarm run), all running admitted servers end in one tree",
    },
];

/// Whether the running servers are in more than one tree of registered
/// links (`send.kept`'s excuse).
fn servers_split(graph: &LinkGraph, hosts: &[Host]) -> bool {
    let running: Vec<HostId> = (0..hosts.len() as HostId)
        .filter(|&x| hosts[x as usize].running())
        .collect();
    graph.components(&running).list.len() > 1
}

pub fn is_known(name: &str) -> bool {
    CATALOG.iter().any(|i| i.name == name)
}

/// Wake-ups in a row that leave a deadline due before `timer.advances`
/// calls it a spin.
/// One in a row is common (a queue's stale key put right at the next
/// wake-up); two never came in the 157 scenarios and 1,500 stock swarm
/// seeds; a spin reaches any count in as many nanoseconds.
pub const OVERDUE_RUN: u32 = 16;

/// How long a cycle of registered links may live while the loop rule
/// resolves it.
pub const LOOP_GRACE: SimTime = 5_000_000_000;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Violation {
    pub invariant: &'static str,
    pub time_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    pub detail: String,
}

/// What a checker noted about a frame before the server saw it.
pub enum Probe {
    None,
    /// The SQUIT's server and its route before (boxed: the probe is made
    /// for every frame, and kept this small it travels in registers).
    Squit(Box<(String, Option<LinkId>)>),
    /// A broadcast from another direction than its origin's, and how many
    /// broadcasts the server had accepted before it.
    MisdirectedBcast {
        accepted: u64,
    },
    /// A KILL, SAVE or REJECT (`kind`: its first letter) from another
    /// direction than its issuer's, and how many the server had accepted
    /// before it.
    MisdirectedResolution {
        accepted: u64,
        kind: u8,
    },
}

pub struct Checkers {
    pub violations: Vec<Violation>,
    pub graph: LinkGraph,
    cycle_since: Option<SimTime>,
    cycle_reported: bool,
    handshake_timeout: SimTime,
    /// Handshakes in progress: (started, host, link).
    handshakes: BTreeMap<(SimTime, HostId, LinkId), ()>,
    handshake_started: BTreeMap<(HostId, LinkId), SimTime>,
    /// When a registered link last appeared or went away.
    pub last_link_change: SimTime,
    pub link_changes: u64,
    /// Checks switched off for a run (e.g. to measure their cost).
    pub enabled: bool,
    /// No time-bounded check can fire at or before this time: the earliest
    /// of the pending cycle's, handshakes' and registrations' deadlines.
    next_due: SimTime,
    pub chat: chat::ChatChecks,
    pub clients: clients::ClientChecks,
    /// What failed at the clients (counted even with checks switched off).
    pub counts: counts::ClientCounts,
    /// What the run cost and lost, for comparing variants.
    pub measures: counts::Measures,
    pub moves: moves::MoveChecks,
    pub sends: sends::SendChecks,
    pub lists: lists::ListChecks,
    /// Newcomers that completed their sync (`stats.servers_added`).
    pub servers_added: u64,
    pub discovery: discovery::DiscoveryChecks,
    pub tokens: tokens::TokenChecks,
}

impl Checkers {
    pub fn new(cfg: &Config) -> Self {
        Checkers {
            violations: Vec::new(),
            graph: LinkGraph::default(),
            cycle_since: None,
            cycle_reported: false,
            handshake_timeout: cfg.handshake_timeout.as_nanos(),
            chat: chat::ChatChecks::new(cfg),
            clients: clients::ClientChecks::default(),
            counts: counts::ClientCounts::default(),
            measures: counts::Measures::default(),
            moves: moves::MoveChecks::new(cfg.redirect_timeout.as_nanos()),
            sends: sends::SendChecks::new(cfg.relink_grace.as_nanos()),
            lists: lists::ListChecks::default(),
            servers_added: 0,
            discovery: discovery::DiscoveryChecks::default(),
            tokens: tokens::TokenChecks::new(cfg),
            handshakes: BTreeMap::new(),
            handshake_started: BTreeMap::new(),
            last_link_change: 0,
            link_changes: 0,
            enabled: true,
            next_due: SimTime::MAX,
        }
    }

    /// `timer.advances`: a host asked, after [`OVERDUE_RUN`] wake-ups in
    /// a row, for one already due. Judged once: the run ends there.
    #[cold]
    #[inline(never)]
    pub fn overdue_after_wake(&mut self, now: SimTime, label: &str) {
        self.violate(
            now,
            "timer.advances",
            Some(label),
            format!("{OVERDUE_RUN} wake-ups in a row left a deadline due, each asking for the next nanosecond"),
        );
    }

    pub fn violate(
        &mut self,
        now: SimTime,
        invariant: &'static str,
        host: Option<&str>,
        detail: String,
    ) {
        debug_assert!(is_known(invariant));
        self.violations.push(Violation {
            invariant,
            time_ms: now / 1_000_000,
            host: host.map(str::to_string),
            detail,
        });
    }

    /// Digests the notes of one event, all of one host `h`.
    pub fn on_notes<'n>(
        &mut self,
        now: SimTime,
        hosts: &[Host],
        net: &mut Network,
        h: HostId,
        notes: impl Iterator<Item = &'n Note>,
    ) {
        // Deliveries alone change none of what `next_due` reads.
        let mut only_deliveries = true;
        for note in notes {
            let host = &hosts[h as usize];
            if !matches!(note, Note::Chat(drc_protocol::ChatNote::Delivered { .. })) {
                only_deliveries = false;
            }
            match note {
                Note::HandshakeStarted { link } => {
                    self.handshakes.insert((now, h, *link), ());
                    self.handshake_started.insert((h, *link), now);
                }
                Note::SyncStarted { link } => self.end_handshake(h, *link),
                Note::Joined { .. } => self.servers_added += 1,
                Note::DiscoveryDial { link, peer } => {
                    let found = self.discovery.on_dial(h, host.incarnation, *link, peer);
                    if let Some(detail) = found.filter(|_| self.enabled) {
                        self.violate(now, "discovery.registered", Some(&host.label), detail);
                    }
                }
                Note::LinkRegistered { link, .. } => {
                    self.end_handshake(h, *link);
                    self.judge_sync_refusal(now, host, "registered a server link");
                    self.discovery.on_registered(h, host.incarnation, *link);
                    let Some(conn) = host.conn_of(*link) else {
                        continue;
                    };
                    let c = &mut net.conns[conn as usize];
                    let e = c.end_of(h);
                    c.registered[e] = true;
                    c.authed[e] = true;
                    if c.registered[1 - e] && c.open[0] && c.open[1] {
                        self.link_changes += 1;
                        self.last_link_change = now;
                        self.sends.dirty = true;
                        // The grace starts when the cycle can carry traffic:
                        // one closed through links a partition or stall
                        // holds is timed from when they carry it again.
                        if self.graph.add(conn, c.ends[0], c.ends[1])
                            && self.cycle_since.is_none()
                            && self.live_graph(now, net).find_cycle().is_some()
                        {
                            self.cycle_since = Some(now);
                        }
                    }
                }
                Note::Chat(n @ drc_protocol::ChatNote::Delivered { .. }) => {
                    // Nearly every note of a busy run: counted, and read by
                    // the order checks; the other checkers below pass a
                    // delivery over, so it skips them.
                    self.measures.on_note(n);
                    if self.enabled {
                        self.split_if_wanted(now, hosts);
                        self.chat.on_note(now, hosts, h, n, &mut self.violations);
                    }
                }
                Note::Chat(n) => {
                    self.counts.on_note(n);
                    self.measures.on_note(n);
                    self.tokens.on_note(
                        now,
                        h,
                        &host.label,
                        &host.claims,
                        n,
                        self.enabled,
                        &mut self.violations,
                    );
                    if host.client.is_some()
                        && matches!(
                            n,
                            drc_protocol::ChatNote::ClientLink { .. }
                                | drc_protocol::ChatNote::Disconnected { .. }
                        )
                    {
                        self.clients.session_ended(h);
                    }
                    if let drc_protocol::ChatNote::ClientLink { link } = n {
                        self.end_handshake(h, *link);
                        if host.client.is_none() {
                            self.judge_sync_refusal(now, host, "accepted a client");
                        }
                    }
                    if self.enabled {
                        self.split_if_wanted(now, hosts);
                        if let Some(detail) = self.sends.judge(now, n) {
                            self.violate(now, "send.kept", Some(&host.label), detail);
                        }
                        match n {
                            drc_protocol::ChatNote::ListAddressed { from, to, text }
                                if host.genuine =>
                            {
                                let calm = self.sends.calm(now);
                                self.lists.on_addressed(now, from, to, text, calm);
                            }
                            drc_protocol::ChatNote::ListReceived { text, .. } => {
                                if let Some(uid) = host.client.as_ref().and_then(|c| c.uid()) {
                                    self.lists.on_received(uid, text);
                                }
                            }
                            _ => {}
                        }
                        self.chat.on_note(now, hosts, h, n, &mut self.violations);
                        self.moves
                            .on_note(now, h, &host.label, n, &mut self.violations);
                        if let drc_protocol::ChatNote::MoveEnded {
                            uid,
                            outcome: "completed",
                            source,
                            ..
                        } = n
                        {
                            if let Some(s) = host.server.as_ref() {
                                self.moves.on_completed(
                                    now,
                                    &host.label,
                                    s,
                                    uid,
                                    *source,
                                    &mut self.violations,
                                );
                            }
                        }
                    }
                }
                Note::LinkDown { link, .. } => {
                    self.end_handshake(h, *link);
                    self.discovery.on_down(h, host.incarnation, *link);
                    self.chat.end_registration(h, *link);
                    let Some(conn) = host.conn_of(*link) else {
                        continue;
                    };
                    let c = &mut net.conns[conn as usize];
                    let e = c.end_of(h);
                    c.registered[e] = false;
                    c.authed[e] = false;
                    self.drop_edge(now, conn);
                }
                Note::ServerAdded { name, via } => {
                    if !self.enabled {
                        continue;
                    }
                    // Judged by the link state as of this note (notes come in
                    // the order the server made its changes), not as of the
                    // end of the event: a server may add through a link and
                    // drop that link later in the same call.
                    let authenticated = host.conn_of(*via).is_some_and(|c| {
                        let conn = &net.conns[c as usize];
                        conn.authed[conn.end_of(h)]
                    });
                    if !authenticated {
                        self.violate(
                            now,
                            "auth.before_state",
                            Some(&host.label),
                            format!("added server {name} through link {} before its peer was authenticated", via.0),
                        );
                        continue;
                    }
                    if let Some(conn) = host.conn_of(*via) {
                        let peer = &hosts[net.conns[conn as usize]
                            .peer_of(net.conns[conn as usize].end_of(h))
                            as usize];
                        if *peer.claims == **name && !peer.genuine {
                            self.violate(
                                now,
                                "auth.before_state",
                                Some(&host.label),
                                format!("admitted {} presenting itself as {name}", peer.label),
                            );
                        }
                    }
                }
                _ => {}
            }
        }
        if only_deliveries {
            // The split was asked about at each (their arm above).
            return;
        }
        // Looked at as soon as the graph changes, not at a refusal: a
        // refusal is excused by a split it may no longer see.
        if self.enabled {
            self.split_if_wanted(now, hosts);
        }
        self.refresh_next_due();
    }

    /// `sync.refuses`: a newcomer must not be syncing as it does `what`.
    fn judge_sync_refusal(&mut self, now: SimTime, host: &Host, what: &str) {
        if self.enabled && host.server.as_ref().is_some_and(|s| s.is_syncing()) {
            self.violate(
                now,
                "sync.refuses",
                Some(&host.label),
                format!("{what} while syncing its database as a newcomer"),
            );
        }
    }

    /// Works out whether the servers are split, when the send checks
    /// want to know (see `SendChecks::wants_split`): a test of a flag at
    /// every note, so inline.
    #[inline]
    fn split_if_wanted(&mut self, now: SimTime, hosts: &[Host]) {
        if self.sends.wants_split() {
            let split = servers_split(&self.graph, hosts);
            self.set_split(now, split);
        }
    }

    /// The running servers are (or are not) split at `now`: list copies
    /// on their way across the split may rightly be lost.
    fn set_split(&mut self, now: SimTime, split: bool) {
        self.sends.set_split(now, split);
        if split {
            self.lists.forgive_all();
        }
    }

    fn end_handshake(&mut self, h: HostId, link: LinkId) {
        if let Some(t) = self.handshake_started.remove(&(h, link)) {
            self.handshakes.remove(&(t, h, link));
        }
    }

    fn drop_edge(&mut self, now: SimTime, conn: u32) {
        if self.graph.remove(conn) {
            self.sends.dirty = true;
            self.link_changes += 1;
            self.last_link_change = now;
            if self.cycle_since.is_some() && self.graph.find_cycle().is_none() {
                self.cycle_since = None;
                self.cycle_reported = false;
            }
        }
    }

    /// A host crashed: its links are gone at its end.
    pub fn host_down(&mut self, now: SimTime, h: HostId, net: &mut Network) {
        self.moves.host_down(h);
        let conns: Vec<u32> = self
            .graph
            .edges()
            .filter(|&(_, a, b)| a == h || b == h)
            .map(|(c, _, _)| c)
            .collect();
        for c in conns {
            net.conns[c as usize].registered = [false, false];
            self.drop_edge(now, c);
        }
        let pending: Vec<(HostId, LinkId)> = self
            .handshake_started
            .keys()
            .filter(|(x, _)| *x == h)
            .copied()
            .collect();
        for (x, l) in pending {
            self.end_handshake(x, l);
        }
        self.chat.host_down(h);
        self.refresh_next_due();
    }

    /// Time-bounded safety checks, after every event: one compare unless
    /// one of them may be due.
    #[inline]
    pub fn tick(&mut self, now: SimTime, hosts: &[Host], net: &Network) {
        if now > self.next_due {
            self.tick_due(now, hosts, net);
        }
    }

    #[cold]
    #[inline(never)]
    fn tick_due(&mut self, now: SimTime, hosts: &[Host], net: &Network) {
        if !self.enabled {
            return;
        }
        if let Some(since) = self.cycle_since {
            if !self.cycle_reported && now.saturating_sub(since) > LOOP_GRACE {
                self.judge_cycle(now, since, hosts, net);
            }
        }
        if let Some((&(started, h, link), _)) = self.handshakes.first_key_value() {
            if now.saturating_sub(started) > self.handshake_timeout + 1_000_000_000 {
                self.report_handshake(now, (started, h, link), hosts);
            }
        }
        if let Some((started, h, link)) = self.chat.oldest_registration() {
            if now.saturating_sub(started) > self.handshake_timeout + 1_000_000_000 {
                self.chat.end_registration(h, link);
                let label = hosts[h as usize].label.clone();
                self.violate(
                    now,
                    "registration.finishes",
                    Some(&label),
                    format!(
                        "client link {} still registering since {}ms",
                        link.0,
                        started / 1_000_000
                    ),
                );
            }
        }
        self.refresh_next_due();
    }

    /// Recomputes [`Checkers::next_due`]; called at the end of everything
    /// that changes the pending cycle, handshakes or registrations.
    fn refresh_next_due(&mut self) {
        let grace = self.handshake_timeout + 1_000_000_000;
        let cycle = self
            .cycle_since
            .filter(|_| !self.cycle_reported)
            .map(|t| t.saturating_add(LOOP_GRACE));
        let handshake = self
            .handshakes
            .first_key_value()
            .map(|(&(t, _, _), _)| t.saturating_add(grace));
        let registration = self
            .chat
            .oldest_registration()
            .map(|(t, _, _)| t.saturating_add(grace));
        self.next_due = [cycle, handshake, registration]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(SimTime::MAX);
    }

    /// A frame reached a server: a private message's text must not be in it.
    #[cold]
    #[inline(never)]
    pub fn private_through(&mut self, now: SimTime, server: &str, bytes: &[u8]) {
        if let Some(t) = self.chat.private_through(bytes) {
            let detail = format!("private text {t:?} passed through this server");
            self.violate(now, "private.direct", Some(server), detail);
        }
    }

    /// The registered links whose traffic can flow now.
    fn live_graph(&self, now: SimTime, net: &Network) -> LinkGraph {
        let mut g = LinkGraph::default();
        for (c, a, b) in self.graph.edges() {
            if net.passable(c, now) {
                g.add(c, a, b);
            }
        }
        g
    }

    /// A partition, heal or stall changed which links carry traffic: a
    /// cycle that could not loop anything before may now.
    pub fn paths_changed(&mut self, now: SimTime, net: &Network) {
        // A cycle the change held up can loop nothing until traffic flows
        // again, and the loop rule cannot see it before: its grace starts
        // when it is live (a cycle closed during a partition through the
        // links across it was judged at the heal as if it had had the whole
        // partition to resolve: swarm-chat-at-once seed 24717).
        let live = self.live_graph(now, net).find_cycle().is_some();
        match (self.cycle_since, live) {
            (None, true) => self.cycle_since = Some(now),
            (Some(_), false) => self.cycle_since = None,
            _ => {}
        }
        self.refresh_next_due();
    }

    /// A cycle has outlived the grace period. It counts only if its links
    /// can carry traffic: links through a partition are registered at both
    /// ends until their ping timeouts, but nothing loops over them, and the
    /// cycle's grace starts again when the partition heals
    /// (`paths_changed`).
    #[cold]
    #[inline(never)]
    fn judge_cycle(&mut self, now: SimTime, since: SimTime, hosts: &[Host], net: &Network) {
        let Some(cycle) = self.live_graph(now, net).find_cycle() else {
            self.cycle_since = None;
            return;
        };
        self.cycle_reported = true;
        let links: Vec<String> = cycle
            .iter()
            .filter_map(|c| self.graph.edges().find(|e| e.0 == *c))
            .map(|(_, a, b)| format!("{}-{}", hosts[a as usize].label, hosts[b as usize].label))
            .collect();
        self.violate(
            now,
            "tree.acyclic",
            None,
            format!(
                "cycle of registered links {} since {}ms",
                links.join(", "),
                since / 1_000_000
            ),
        );
    }

    #[cold]
    #[inline(never)]
    fn report_handshake(
        &mut self,
        now: SimTime,
        (started, h, link): (SimTime, HostId, LinkId),
        hosts: &[Host],
    ) {
        self.handshakes.remove(&(started, h, link));
        self.handshake_started.remove(&(h, link));
        let label = &hosts[h as usize].label;
        self.violate(
            now,
            "handshake.finishes",
            Some(label),
            format!(
                "link {} still handshaking since {}ms",
                link.0,
                started / 1_000_000
            ),
        );
    }

    /// Looks at a frame before a server handles it. Runs for every
    /// delivered frame, so only the common BCAST is looked at inline.
    #[inline(always)]
    pub fn before_frame(&mut self, server: &Server, link: LinkId, bytes: &[u8]) -> Probe {
        if !self.enabled {
            return Probe::None;
        }
        // One fixed-size compare of the head sets the common BCAST and the
        // rare SQUIT, KILL, SAVE and REJECT apart from the rest.
        let Some((&head, rest)) = bytes.split_first_chunk::<7>() else {
            return Probe::None;
        };
        if head == *b"<BCAST," {
            if server.route_by_sid(first_arg(rest)) == Some(link) {
                return Probe::None;
            }
            return misdirected_bcast_probe(server);
        }
        if head == *b"<SQUIT," {
            return squit_probe(server, rest);
        }
        if head[..6] == *b"<KILL," || head[..6] == *b"<SAVE," || head == *b"<REJECT" {
            return resolution_probe(server, link, bytes);
        }
        Probe::None
    }

    /// Judges what a server did with a frame.
    #[inline]
    pub fn after_frame(&mut self, now: SimTime, host: &Host, link: LinkId, probe: Probe) {
        match probe {
            Probe::None => {}
            Probe::MisdirectedBcast { accepted } => self.judge_bcast(now, host, link, accepted),
            Probe::MisdirectedResolution { accepted, kind } => {
                self.judge_resolution(now, host, link, accepted, kind)
            }
            Probe::Squit(squit) => self.judge_squit(now, host, link, &squit.0, squit.1),
        }
    }

    /// A broadcast came from another direction than its origin's: the
    /// server must not have accepted it.
    #[cold]
    #[inline(never)]
    fn judge_bcast(&mut self, now: SimTime, host: &Host, link: LinkId, before: u64) {
        let server = host.server.as_ref().expect("running");
        if server.stats().broadcasts != before {
            self.violate(
                now,
                "msg.direction",
                Some(&host.label),
                format!(
                    "accepted a broadcast on link {} that is not its origin's route",
                    link.0
                ),
            );
        }
    }

    /// A KILL, SAVE or REJECT came from another direction than its
    /// issuer's: the server must not have applied it.
    #[cold]
    #[inline(never)]
    fn judge_resolution(&mut self, now: SimTime, host: &Host, link: LinkId, before: u64, kind: u8) {
        let server = host.server.as_ref().expect("running");
        if server.stats().resolutions != before {
            let kind = match kind {
                b'K' => "KILL",
                b'S' => "SAVE",
                _ => "REJECT",
            };
            self.violate(
                now,
                "msg.direction",
                Some(&host.label),
                format!(
                    "accepted a {kind} on link {} that is not its issuer's route",
                    link.0
                ),
            );
        }
    }

    #[cold]
    #[inline(never)]
    fn judge_squit(
        &mut self,
        now: SimTime,
        host: &Host,
        link: LinkId,
        name: &str,
        route: Option<LinkId>,
    ) {
        let server = host.server.as_ref().expect("running");
        if route.is_some() && server.known_server(name).is_none() && route != Some(link) {
            self.violate(
                now,
                "msg.direction",
                Some(&host.label),
                format!(
                    "applied SQUIT {name} from link {}, but its route was link {}",
                    link.0,
                    route.map_or(0, |l| l.0)
                ),
            );
        }
    }
}

#[cold]
#[inline(never)]
fn misdirected_bcast_probe(server: &Server) -> Probe {
    Probe::MisdirectedBcast {
        accepted: server.stats().broadcasts,
    }
}

/// A KILL, SAVE or REJECT names its issuer first: a probe only if it is
/// not arriving from the issuer's direction.
#[cold]
#[inline(never)]
fn resolution_probe(server: &Server, link: LinkId, bytes: &[u8]) -> Probe {
    let Some(comma) = bytes.iter().position(|&b| b == b',') else {
        return Probe::None;
    };
    if server.route_by_sid(first_arg(&bytes[comma + 1..])) == Some(link) {
        return Probe::None;
    }
    Probe::MisdirectedResolution {
        accepted: server.stats().resolutions,
        kind: bytes[1],
    }
}

/// What a SQUIT's probe notes: where its server was routed before.
#[cold]
#[inline(never)]
fn squit_probe(server: &Server, rest: &[u8]) -> Probe {
    let name = first_arg(rest);
    let route = server.known_server(name).map(|k| k.via);
    Probe::Squit(Box::new((name.to_string(), route)))
}

/// The first argument of a frame body (names never need escaping).
/// Always inline: on a flood's every hop, a call costs more than the body.
#[inline(always)]
fn first_arg(rest: &[u8]) -> &str {
    // A BCAST, on every hop of a flood, names a SID: three ASCII bytes
    // before a delimiter, taken in one go.
    if let [a, b, c, ref after @ ..] = *rest {
        let plain = |x: u8| x.is_ascii() && x != b',' && x != b'>';
        if plain(a) && plain(b) && plain(c) && matches!(after.first(), None | Some(b',' | b'>')) {
            return sid_str(&rest[..3]);
        }
    }
    first_arg_scan(rest)
}

/// [`first_arg`] of any length.
#[inline(never)]
fn first_arg_scan(rest: &[u8]) -> &str {
    // Names are short and ASCII: stop at the delimiter or at the first
    // byte that is not ASCII, and validate UTF-8 only in that case.
    let end = rest
        .iter()
        .position(|&b| b == b',' || b == b'>' || !b.is_ascii())
        .unwrap_or(rest.len());
    if rest.get(end).is_some_and(|b| !b.is_ascii()) {
        let end = rest
            .iter()
            .position(|&b| b == b',' || b == b'>')
            .unwrap_or(rest.len());
        return std::str::from_utf8(&rest[..end]).unwrap_or("");
    }
    sid_str(&rest[..end])
}

/// Bytes [`first_arg`] found to be ASCII, as text.
#[inline]
fn sid_str(arg: &[u8]) -> &str {
    debug_assert!(arg.is_ascii());
    // SAFETY: both callers pass bytes they checked are below 0x80: ASCII,
    // therefore UTF-8. This runs once per delivered frame, where the
    // general validation costs more than the rest of the probe.
    unsafe { std::str::from_utf8_unchecked(arg) }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn first_arg_matches_its_definition(
            v in prop::collection::vec(prop_oneof![
                4 => prop::sample::select(b"0AZaz,>".to_vec()),
                1 => any::<u8>(),
            ], 0..12),
        ) {
            let end = v.iter().position(|&b| b == b',' || b == b'>').unwrap_or(v.len());
            let want = std::str::from_utf8(&v[..end]).unwrap_or("");
            prop_assert_eq!(super::first_arg(&v), want);
        }
    }
}
