//! The simulation: hosts, network, event loop and scenario actions.
//!
//! One thread, one event queue, one seed. Every source of variation is a
//! named random stream derived from the seed; every collection that is
//! iterated is ordered, so a run is a pure function of (scenario, seed).

mod actions;
mod attacks;
mod datagrams;
mod delivery;
mod dispatch;
mod tracing;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use foldhash::fast::FixedState;

use drc_protocol::client::{Client, ClientCommand, ClientConfig, ClientInput, Reconnect};
use drc_protocol::crypto::KeyPair;
use drc_protocol::server::Command;
use drc_protocol::{Config, Identity, Input, LinkId, Note, Outbox, Output, Registry, Server};
use rand_core::RngCore;

use crate::checkers::Checkers;
use crate::clock::{EventQueue, Packed, SimTime};
use crate::host::Host;
use crate::network::{ConnId, ConnState, Head, HostId, Network};
use crate::rng;
use crate::scenario::{Action, Scenario};
use crate::trace::{TraceHash, TraceWriter};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// The head frame of `conns[conn].dirs[dir]` arrives.
    Deliver {
        conn: ConnId,
        dir: u8,
    },
    /// A connection request reaches its target.
    Syn {
        conn: ConnId,
    },
    /// The target's answer reaches the dialler.
    SynAck {
        conn: ConnId,
        ok: bool,
    },
    ConnectTimeout {
        conn: ConnId,
    },
    /// `gen` is the low 24 bits of the host's timer generation.
    Timer {
        host: HostId,
        gen: u32,
    },
    Action {
        index: u32,
    },
    StallEnd {
        conn: ConnId,
    },
    /// The datagram copy in slot `slot` arrives.
    Datagram {
        slot: u32,
    },
    End,
}

const GEN_MASK: u64 = 0xFF_FFFF;

impl Packed for Event {
    /// Always inline: where the event is built, its packing folds away.
    #[inline(always)]
    fn pack(self) -> u64 {
        // Tag in the low 4 bits; ids fit in 32 bits, flags and timer
        // generations (24 bits) in the bits between.
        let (tag, a, b): (u64, u32, u64) = match self {
            Event::Deliver { conn, dir } => (0, conn, u64::from(dir)),
            Event::Syn { conn } => (1, conn, 0),
            Event::SynAck { conn, ok } => (2, conn, u64::from(ok)),
            Event::ConnectTimeout { conn } => (3, conn, 0),
            Event::Timer { host, gen } => (4, host, u64::from(gen) & GEN_MASK),
            Event::Action { index } => (5, index, 0),
            Event::StallEnd { conn } => (6, conn, 0),
            Event::End => (7, 0, 0),
            Event::Datagram { slot } => (8, slot, 0),
        };
        tag | (b << 4) | (u64::from(a) << 32)
    }

    #[inline]
    fn unpack(x: u64) -> Self {
        let a = (x >> 32) as u32;
        let b = (x >> 4) & GEN_MASK;
        match x & 15 {
            0 => Event::Deliver {
                conn: a,
                dir: b as u8,
            },
            1 => Event::Syn { conn: a },
            2 => Event::SynAck {
                conn: a,
                ok: b != 0,
            },
            3 => Event::ConnectTimeout { conn: a },
            4 => Event::Timer {
                host: a,
                gen: b as u32,
            },
            5 => Event::Action { index: a },
            6 => Event::StallEnd { conn: a },
            8 => Event::Datagram { slot: a },
            _ => Event::End,
        }
    }
}

impl Event {
    fn code(&self) -> u64 {
        match self {
            Event::Deliver { .. } => 1,
            Event::Syn { .. } => 2,
            Event::SynAck { .. } => 3,
            Event::ConnectTimeout { .. } => 4,
            Event::Timer { .. } => 5,
            Event::Action { .. } => 6,
            Event::StallEnd { .. } => 7,
            Event::End => 8,
            Event::Datagram { .. } => 9,
        }
    }
}

pub struct World {
    pub now: SimTime,
    pub end: SimTime,
    queue: EventQueue<Event>,
    pub hosts: Vec<Host>,
    /// Servers told to shut down that may still be draining, for the
    /// check after every action (`note_isolated_drainers`).
    shutting: Vec<HostId>,
    pub net: Network,
    /// Host ids by label. Searched by every workload action and never
    /// walked in an order that reaches output (the summaries sort the
    /// labels first), so hashed with a fixed seed: at 250,000 users a
    /// B-tree of labels cost about ten cache misses an action.
    pub by_label: HashMap<String, HostId, FixedState>,
    /// Shared by every server booted while it is current (a copy each
    /// would be servers x servers entries); an admission copies it first
    /// if a server holds it (`Arc::make_mut`), so running servers keep
    /// theirs until the protocol tells them.
    registry: Arc<Registry>,
    /// Ids shared by every server of the run: each server's records of the
    /// other servers (servers x servers), its users and its rooms are
    /// indexed by them.
    server_ids: std::rc::Rc<drc_protocol::server::NetworkIds>,
    cfg: Arc<Config>,
    seed: u64,
    actions: Vec<Action>,
    outbox: Outbox,
    pub hash: TraceHash,
    pub events: u64,
    pub trace: Option<TraceWriter>,
    pub checks: Checkers,
    /// Time of the last scenario action (faults, operator commands).
    pub last_action: SimTime,
    /// Time of the last client action (connect, say, ...).
    pub last_chat: SimTime,
    /// Per-event hashes, kept for the determinism self-check.
    pub event_hashes: Option<Vec<u64>>,
    /// Stop at the first violation.
    pub stop_on_violation: bool,
    pub stopped_early: bool,
    /// The run's event budget (`[limits] max_events`).
    pub max_events: u64,
    /// The budget ran out: the run ended before its time.
    pub budget_exceeded: bool,
    /// The event count at which the run ends: the budget, or the count
    /// at a spin (one comparison per event either way).
    stop_at: u64,
    /// A host spins (`timer.advances`): the run ends at the next event,
    /// as it would have at its budget, only sooner.
    pub spun: Option<String>,
    /// Connections opened so far per (dialler, target), naming their streams.
    pair_conns: BTreeMap<(HostId, HostId), u32>,
    /// Discovery datagrams, in a scenario with `[discovery]`.
    pub datagrams: Option<crate::network::datagram::Datagrams>,
    /// Discovery addresses (`ip:port`) to hosts.
    pub addrs: BTreeMap<String, HostId>,
    /// `present_token` actions so far (each draws its own nonce stream).
    pub attacks: u64,
    /// How much of the final state the run's summary will carry.
    pub summary: crate::run::Summary,
}

/// How many servers can have a default SID: every three-character
/// alphanumeric SID (36^3).
pub const SID_CAPACITY: usize = 36 * 36 * 36;

/// The SID of the i-th server when the scenario names none, one-to-one for
/// `i < SID_CAPACITY`: first a digit and two letters (the first 6,760, as
/// ever, so older traces keep their hashes), then a digit and two
/// characters of which one is a digit (6,200 more: 12,960 start with a
/// digit, as SIDs conventionally do), then a letter and any two (33,696).
pub fn default_sid(i: usize) -> Option<String> {
    const ALNUM: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let c = |x: usize| ALNUM[x] as char;
    let letter = |x: usize| c(10 + x % 26);
    let (a, b, d) = if i < 6_760 {
        (c(i / 676), letter(i / 26), letter(i))
    } else if i < 12_960 {
        let (digit, r) = ((i - 6_760) / 620, (i - 6_760) % 620);
        if r < 360 {
            (c(digit), c(r / 36), c(r % 36))
        } else {
            let r = r - 360;
            (c(digit), letter(r / 10), c(r % 10))
        }
    } else if i < SID_CAPACITY {
        let k = i - 12_960;
        (letter(k / 1_296), c(k % 1_296 / 36), c(k % 36))
    } else {
        return None;
    };
    Some(format!("{a}{b}{d}"))
}

impl World {
    /// The world of `scn`; `summary` is how much of the end the run's
    /// summary will show: its clients keep the messages they deliver
    /// only for a full one.
    pub fn new(
        scn: &Scenario,
        seed: u64,
        cfg: Config,
        summary: crate::run::Summary,
    ) -> Result<World, String> {
        let actions = scn.actions.iter().map(|a| a.action.clone()).collect();
        Self::with_actions(scn, actions, seed, cfg, summary)
    }

    /// [`World::new`] with the scenario's actions (in its order) given
    /// apart: a caller that owns the scenario moves them in rather than
    /// have them copied (three strings a message, about 1 % of a room
    /// delivery's instructions at 16/16/16). Of `scn.actions` only the
    /// times are read.
    pub fn with_actions(
        scn: &Scenario,
        actions: Vec<Action>,
        seed: u64,
        cfg: Config,
        summary: crate::run::Summary,
    ) -> Result<World, String> {
        if actions.len() != scn.actions.len() {
            return Err(format!(
                "{} actions given for a scenario of {}",
                actions.len(),
                scn.actions.len()
            ));
        }
        let cfg = Arc::new(cfg);
        let net = Network::new(
            (
                scn.network.latency_min.as_nanos(),
                scn.network.latency_max.as_nanos(),
            ),
            scn.network.connect_timeout.as_nanos(),
        );
        let mut w = World {
            now: 0,
            end: scn.duration.as_nanos(),
            queue: EventQueue::new(),
            // A host is a few KiB: at 100,000 clients, growing by doubling
            // would hold two copies at once at the peak.
            hosts: Vec::with_capacity(scn.servers.len() + scn.clients.len()),
            net,
            by_label: HashMap::default(),
            registry: Arc::new(Registry::new()),
            server_ids: Default::default(),
            cfg: cfg.clone(),
            seed,
            actions,
            outbox: Outbox::new(),
            hash: TraceHash::default(),
            events: 0,
            trace: None,
            checks: Checkers::new(&cfg),
            last_action: 0,
            last_chat: 0,
            event_hashes: None,
            stop_on_violation: false,
            stopped_early: false,
            max_events: scn.limits.max_events,
            budget_exceeded: false,
            stop_at: scn.limits.max_events,
            spun: None,
            pair_conns: BTreeMap::new(),
            datagrams: None,
            addrs: BTreeMap::new(),
            attacks: 0,
            summary,
            shutting: Vec::new(),
        };
        // SIDs first, so an impostor can present its victim's SID.
        let mut sids: BTreeMap<String, String> = BTreeMap::new();
        let too_many = || {
            format!(
                "more than {SID_CAPACITY} servers (and added servers) without a `sid`: \
                 that is every three-character SID"
            )
        };
        for (i, s) in scn.servers.iter().enumerate() {
            let sid = match &s.sid {
                Some(sid) => sid.clone(),
                None => default_sid(i).ok_or_else(too_many)?,
            };
            sids.insert(s.name.clone(), sid);
        }
        for s in &scn.servers {
            let claims = s.claims.clone().unwrap_or_else(|| s.name.clone());
            let sid = sids
                .get(&claims)
                .cloned()
                .unwrap_or_else(|| sids[&s.name].clone());
            let genuine = s.claims.is_none() && s.registered;
            let h = w.add_host(&s.name, &claims, &sid, genuine, &s.connect);
            if genuine {
                let key = w.hosts[h as usize].server_keys().public();
                Arc::make_mut(&mut w.registry).register(&claims, &sid, key);
                w.checks.discovery.registered.insert(claims.clone());
            }
        }
        let mut next_sid = scn.servers.len();
        // Taken out to be scanned while the world is built around them.
        let actions = std::mem::take(&mut w.actions);
        for a in &actions {
            if let Action::AddServer { name, .. } = a {
                // Created now so host ids do not depend on timing; it
                // starts (and is registered) when its action runs.
                let sid = default_sid(next_sid).ok_or_else(too_many)?;
                next_sid += 1;
                w.add_host(name, name, &sid, true, &[]);
            }
        }
        w.actions = actions;
        if let Some(d) = &scn.discovery {
            w.setup_discovery(scn, d);
        }
        // The first declaration of an id, as a search of the list would find.
        let decls: BTreeMap<&str, &crate::scenario::ClientDecl> = scn
            .clients
            .iter()
            .rev()
            .map(|c| (c.id.as_str(), c))
            .collect();
        for id in crate::scenario::client_ids(&scn.clients, w.actions.iter()) {
            let decl = decls.get(id.as_str()).copied();
            let h = w.add_host(&id, &id, "", false, &[]);
            debug_assert!(w.hosts[h as usize].keys.is_none());
            let gives_up = decl.is_some_and(|d| !d.reconnect);
            // The declared server heads the list; a client met only in a
            // `connect` action reconnects to the server it was sent to.
            let servers: Vec<Arc<str>> = decl
                .map(|d| std::iter::once(&d.server).chain(&d.servers))
                .into_iter()
                .flatten()
                .map(|s| Arc::from(s.as_str()))
                .collect();
            let reconnect = (!gives_up && !cfg.ablations.no_client_reconnect).then(|| Reconnect {
                min: cfg.reconnect_min,
                max: cfg.reconnect_max,
                servers: servers.clone(),
                seed: w.hosts[h as usize].rng.next_u64(),
            });
            let ccfg = ClientConfig {
                nick: decl.map_or(id.as_str(), |d| d.nick()).to_string(),
                user: id.clone(),
                realname: format!("{id} (simulated)"),
                addr: id.as_str().into(),
                accept_private: decl.is_none_or(|d| d.accept_private),
                autojoin: decl.map(|d| d.join.clone()).unwrap_or_default(),
                ping_interval: cfg.client_ping_interval,
                ping_timeout: cfg.client_ping_timeout,
                register_timeout: (!cfg.ablations.no_handshake_timeout)
                    .then_some(cfg.handshake_timeout),
                find_delay: cfg.find_delay,
                send_timeout: cfg.seq_hold + cfg.ping_timeout,
                keep_log: summary == crate::run::Summary::Full,
                relay_private: cfg.ablations.no_direct_private,
                retry_to_back: cfg.ablations.no_retry_order,
                send_at_once: cfg.send == drc_protocol::config::SendMode::AtOnce,
                no_find: cfg.ablations.no_gap_recovery,
                no_dedup: cfg.ablations.no_dedup,
                no_redirect_dedup: cfg.ablations.no_redirect_dedup,
                reconnect,
                no_rejoin: cfg.ablations.no_client_rejoin,
                no_move_rejoin: cfg.ablations.no_move_rejoin,
                no_move_resend: cfg.ablations.no_move_resend,
                no_move_watch: cfg.ablations.no_move_watch,
                no_leave_after_sends: cfg.ablations.no_leave_after_sends,
                no_private_ends: cfg.ablations.no_private_ends,
                no_join_after_leave: cfg.ablations.no_join_after_leave,
                no_stale_nickerr: cfg.ablations.no_stale_nickerr,
                no_late_registration_nick: cfg.ablations.no_late_registration_nick,
                accept_redirect: decl.is_none_or(|d| d.accept_redirect),
                // Longer than either server end, so the servers settle it.
                redirect_timeout: drc_protocol::Duration::from_nanos(
                    cfg.redirect_timeout.as_nanos() * 2,
                ),
                greeter: cfg
                    .greeter
                    .clone()
                    .filter(|_| decl.is_some_and(|d| d.via_greeter)),
                session: decl.and_then(|d| d.session.as_deref()).map(Arc::from),
                login_timeout: (!cfg.ablations.no_login_timeout).then_some(cfg.login_timeout),
            };
            w.checks
                .clients
                .declare(h, decl.map(|d| d.join.as_slice()).unwrap_or_default());
            let host = &mut w.hosts[h as usize];
            host.is_client = true;
            host.gives_up = gives_up;
            host.client_servers = servers;
            host.up = true;
            host.client = Some(Box::new(Client::new(ccfg)));
        }
        for (i, a) in scn.actions.iter().enumerate() {
            w.queue
                .schedule(a.time.as_nanos(), Event::Action { index: i as u32 });
        }
        w.queue.schedule(w.end, Event::End);
        let to_start: Vec<HostId> = scn
            .servers
            .iter()
            .filter(|s| s.start)
            .map(|s| w.by_label[&s.name])
            .collect();
        for h in to_start {
            w.boot(h);
        }
        for c in scn.clients.iter().filter(|c| c.start) {
            let h = w.by_label[&c.id];
            w.dispatch_client(
                h,
                ClientInput::Command(ClientCommand::Connect {
                    server: &c.server,
                    nick: None,
                }),
            );
        }
        Ok(w)
    }

    fn add_host(
        &mut self,
        label: &str,
        claims: &str,
        sid: &str,
        genuine: bool,
        connect: &[String],
    ) -> HostId {
        let id = self.hosts.len() as HostId;
        // Clients have no SID and need no keys (each stream is its own,
        // so skipping one changes no other draw).
        let keys = (!sid.is_empty())
            .then(|| KeyPair::generate(&mut rng::stream(self.seed, &format!("key/{label}"))));
        let host = Host::new(
            label.to_string(),
            claims.into(),
            sid.into(),
            genuine,
            keys,
            connect.iter().map(|c| Arc::from(c.as_str())).collect(),
            rng::stream(self.seed, &format!("host/{label}")),
        );
        self.hosts.push(host);
        self.by_label.insert(label.to_string(), id);
        id
    }

    /// Starts (or restarts) the server process on host `h`.
    fn boot(&mut self, h: HostId) {
        let registry = self.registry.clone();
        let host = &mut self.hosts[h as usize];
        host.incarnation += 1;
        host.up = true;
        host.forget_links();
        host.timer_at = crate::host::NO_TIMER;
        host.timer_gen = host.timer_gen.wrapping_add(1);
        let me = Identity {
            name: host.claims.clone(),
            sid: host.sid.clone(),
            incarnation: host.incarnation,
            keys: host.server_keys().clone(),
        };
        let mut server = Server::sharing_ids(
            me,
            self.cfg.clone(),
            registry,
            &host.autoconnect,
            self.server_ids.clone(),
        );
        server.set_wall_offset(host.wall_offset());
        // Only its first boot syncs; a restart is an ordinary member's.
        if let Some(via) = host.join_via.take() {
            server.join_via(&via);
        }
        if let Some(d) = host.discovery.clone() {
            server.set_discovery(d);
        }
        host.server = Some(Box::new(server));
        self.dispatch(h, Input::Start);
        // What a stale-secret attack signs with after a restart.
        let host = &mut self.hosts[h as usize];
        if let Some(s) = host.server.as_ref().and_then(|s| s.token_secret()) {
            host.old_secrets.push((host.incarnation, s));
        }
    }

    /// Runs every event scheduled before `t`.
    pub fn run_until(&mut self, t: SimTime) {
        while self.queue.peek_time().is_some_and(|x| x < t) && !self.stopped_early {
            self.run_one();
        }
    }

    /// When the next event is due, if any is left.
    pub fn next_event_time(&mut self) -> Option<SimTime> {
        self.queue.peek_time()
    }

    /// Runs until the scenario's end (or the first violation when asked).
    pub fn run(&mut self) {
        while self.run_one() {}
    }

    /// Runs one event; false once the run is over.
    #[inline(always)]
    fn run_one(&mut self) -> bool {
        let Some((t, ev)) = self.queue.pop() else {
            return false;
        };
        if self.events >= self.stop_at {
            // Whatever made the run this long (a setting, a protocol loop),
            // it ends here with a failing outcome rather than exhausting
            // memory; the event stays unprocessed. A spin ends the run the
            // same way, sooner.
            self.budget_exceeded = self.spun.is_none();
            self.stopped_early = true;
            return false;
        }
        self.now = t;
        self.events += 1;
        // Time and kind in one word: codes fit in 4 bits, and times below
        // 2^60 ns (36 years) keep their top bits clear.
        self.hash.word(t.rotate_left(4) ^ ev.code());
        match ev {
            // Nearly every event is a delivery: it goes straight to its
            // handler rather than through the match of all the others.
            Event::Deliver { conn, dir } => self.deliver(conn, usize::from(dir)),
            Event::End => {
                self.checks.tick(self.now, &self.hosts, &self.net);
                if self.trace.is_some() {
                    self.trace_violations();
                }
                // The end counts as an event in the summary, so it has
                // its hash too: replay compares as many as the run counts.
                if let Some(hs) = &mut self.event_hashes {
                    hs.push(self.hash.value());
                }
                return false;
            }
            ev => self.step(ev),
        }
        self.checks.tick(self.now, &self.hosts, &self.net);
        if self.trace.is_some() {
            self.trace_violations();
        }
        if let Some(hs) = &mut self.event_hashes {
            hs.push(self.hash.value());
        }
        if self.stop_on_violation && !self.checks.violations.is_empty() {
            self.stopped_early = true;
            return false;
        }
        true
    }

    /// Every event but deliveries.
    #[inline(never)]
    fn step(&mut self, ev: Event) {
        match ev {
            Event::Deliver { conn, dir } => self.deliver(conn, usize::from(dir)),
            Event::Syn { conn } => self.syn(conn),
            Event::SynAck { conn, ok } => self.syn_ack(conn, ok),
            Event::ConnectTimeout { conn } => {
                let c = &mut self.net.conns[conn as usize];
                if c.state == ConnState::Dialing && c.open[0] {
                    c.open[0] = false;
                    c.state = ConnState::Closed;
                    let (h, link) = (c.ends[0], c.links[0].expect("dialler link"));
                    let (from, to) = (c.ends[0], c.ends[1]);
                    self.record(|| {
                        serde_json::json!({"ev": "connect_timeout", "conn": conn,
                        "from": from, "to": to})
                    });
                    self.dispatch(h, Input::ConnectFailed { link });
                }
            }
            Event::Timer { host, gen } => {
                let hst = &mut self.hosts[host as usize];
                if hst.timer_gen & GEN_MASK as u32 == gen && hst.up {
                    hst.timer_at = crate::host::NO_TIMER;
                    self.hash.word(u64::from(host));
                    if self.trace.is_some() {
                        let label = self.hosts[host as usize].label.clone();
                        self.record(|| serde_json::json!({"ev": "timer", "host": label}));
                    }
                    self.dispatch(host, Input::Timeout);
                }
            }
            Event::Action { index } => {
                // Moved out while it runs, and back after, rather than
                // cloned.
                let action = std::mem::replace(&mut self.actions[index as usize], Action::Heal);
                if action.is_client_action() {
                    self.last_chat = self.now;
                } else {
                    self.last_action = self.now;
                }
                self.record(|| {
                    let mut m = crate::trace::action_json(&action);
                    m.insert("ev".into(), "action".into());
                    serde_json::Value::Object(m)
                });
                self.act(&action);
                self.note_isolated_drainers();
                self.actions[index as usize] = action;
            }
            Event::StallEnd { conn } => {
                self.record(|| serde_json::json!({"ev": "stall_end", "conn": conn}));
                self.wake(conn);
                self.checks.paths_changed(self.now, &self.net);
            }
            Event::Datagram { slot } => self.datagram_arrives(slot),
            Event::End => {}
        }
    }

    /// Host ids in `from` and `to` are replaced by their labels.
    fn record(&mut self, f: impl FnOnce() -> serde_json::Value) {
        if let Some(t) = &mut self.trace {
            if !t.wants(self.now) {
                return;
            }
            let mut v = f();
            for k in ["from", "to"] {
                if let Some(h) = v.get(k).and_then(|h| h.as_u64()) {
                    v[k] = self.hosts[h as usize].label.as_str().into();
                }
            }
            // Number and time first, as in every other line.
            let mut m = serde_json::Map::new();
            m.insert("n".into(), self.events.into());
            m.insert("t_ns".into(), self.now.into());
            if let serde_json::Value::Object(rest) = v {
                m.extend(rest);
            }
            t.record(&serde_json::Value::Object(m));
        }
    }

    /// Broadcasts the running servers have accepted from other servers
    /// (one per server a broadcast reached; a restart starts its count
    /// over).
    pub fn broadcasts(&self) -> u64 {
        self.hosts
            .iter()
            .filter_map(|h| h.server.as_ref())
            .map(|s| s.stats().broadcasts)
            .sum()
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_pack_losslessly() {
        let all = [
            Event::Deliver {
                conn: u32::MAX,
                dir: 1,
            },
            Event::Deliver { conn: 7, dir: 0 },
            Event::Syn { conn: 3 },
            Event::SynAck { conn: 9, ok: true },
            Event::SynAck { conn: 9, ok: false },
            Event::ConnectTimeout { conn: 1 },
            Event::Timer {
                host: 12,
                gen: 0xFF_FFFF,
            },
            Event::Action { index: 40_000 },
            Event::StallEnd { conn: 2 },
            Event::Datagram { slot: u32::MAX },
            Event::End,
        ];
        for e in all {
            assert_eq!(Event::unpack(e.pack()), e);
        }
    }

    /// Actions moved in must be the scenario's, one for one: a list of
    /// another length is refused, not indexed out of bounds later.
    #[test]
    fn actions_moved_in_must_match_the_scenario() {
        let scn = crate::scenario::parse_str(crate::DEFAULT_SCENARIO, "default.toml")
            .expect("the default");
        assert!(scn.actions.len() > 1);
        let cfg = || crate::run::protocol_config(&scn).expect("config");
        let mut actions: Vec<Action> = scn.actions.iter().map(|a| a.action.clone()).collect();
        let fits = World::with_actions(&scn, actions.clone(), 1, cfg(), Default::default());
        assert!(fits.is_ok());
        actions.pop();
        let e = World::with_actions(&scn, actions, 1, cfg(), Default::default())
            .err()
            .expect("one action short");
        let n = scn.actions.len();
        assert_eq!(e, format!("{} actions given for a scenario of {n}", n - 1));
    }
}

#[cfg(test)]
mod sid_tests {
    use super::*;

    #[test]
    fn default_sids_are_all_distinct_valid_and_start_as_before() {
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..SID_CAPACITY {
            let sid = default_sid(i).unwrap();
            let b = sid.as_bytes();
            assert!(
                b.len() == 3 && b.iter().all(u8::is_ascii_alphanumeric),
                "{sid}"
            );
            // Digit first for the first 12,960.
            assert_eq!(b[0].is_ascii_digit(), i < 12_960, "{i}");
            assert!(seen.insert(sid));
        }
        assert_eq!(default_sid(SID_CAPACITY), None);
        // The first 6,760 are the digit-and-two-letters ones of old.
        assert_eq!(default_sid(0).unwrap(), "0AA");
        assert_eq!(default_sid(27).unwrap(), "0BB");
        assert_eq!(default_sid(6_759).unwrap(), "9ZZ");
        assert_eq!(default_sid(6_760).unwrap(), "000");
        assert_eq!(default_sid(12_959).unwrap(), "9Z9");
        assert_eq!(default_sid(12_960).unwrap(), "A00");
        assert_eq!(default_sid(SID_CAPACITY - 1).unwrap(), "ZZZ");
    }
}
