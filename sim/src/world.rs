//! The simulation: hosts, network, event loop and scenario actions.
//!
//! One thread, one event queue, one seed. Every source of variation is a
//! named random stream derived from the seed; every collection that is
//! iterated is ordered, so a run is a pure function of (scenario, seed).

use std::collections::BTreeMap;
use std::sync::Arc;

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
    End,
}

const GEN_MASK: u64 = 0xFF_FFFF;

impl Packed for Event {
    /// Always inline: where the event is built, its packing folds away.
    #[inline(always)]
    fn pack(self) -> u64 {
        // Tag in the low 3 bits; ids fit in 32 bits, flags and timer
        // generations in the bits between.
        let (tag, a, b): (u64, u32, u64) = match self {
            Event::Deliver { conn, dir } => (0, conn, u64::from(dir)),
            Event::Syn { conn } => (1, conn, 0),
            Event::SynAck { conn, ok } => (2, conn, u64::from(ok)),
            Event::ConnectTimeout { conn } => (3, conn, 0),
            Event::Timer { host, gen } => (4, host, u64::from(gen) & GEN_MASK),
            Event::Action { index } => (5, index, 0),
            Event::StallEnd { conn } => (6, conn, 0),
            Event::End => (7, 0, 0),
        };
        tag | (b << 3) | (u64::from(a) << 32)
    }

    #[inline]
    fn unpack(x: u64) -> Self {
        let a = (x >> 32) as u32;
        let b = (x >> 3) & GEN_MASK;
        match x & 7 {
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
        }
    }
}

pub struct World {
    pub now: SimTime,
    pub end: SimTime,
    queue: EventQueue<Event>,
    pub hosts: Vec<Host>,
    pub net: Network,
    pub by_label: BTreeMap<String, HostId>,
    registry: Registry,
    cfg: Arc<Config>,
    seed: u64,
    actions: Vec<Action>,
    outbox: Outbox,
    notes: Vec<(HostId, Note)>,
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
    /// Connections opened so far per (dialler, target), naming their streams.
    pair_conns: BTreeMap<(HostId, HostId), u32>,
}

/// The SID of the i-th server when the scenario names none: a digit then
/// two letters, unique for the first 6,760 servers.
pub fn default_sid(i: usize) -> String {
    let l = |x: usize| (b'A' + (x % 26) as u8) as char;
    format!("{}{}{}", (i / 676) % 10, l(i / 26), l(i))
}

impl World {
    pub fn new(scn: &Scenario, seed: u64, cfg: Config) -> Result<World, String> {
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
            hosts: Vec::new(),
            net,
            by_label: BTreeMap::new(),
            registry: Registry::new(),
            cfg: cfg.clone(),
            seed,
            actions: scn.actions.iter().map(|a| a.action.clone()).collect(),
            outbox: Outbox::new(),
            notes: Vec::new(),
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
            pair_conns: BTreeMap::new(),
        };
        // SIDs first, so an impostor can present its victim's SID.
        let mut sids: BTreeMap<String, String> = BTreeMap::new();
        for (i, s) in scn.servers.iter().enumerate() {
            sids.insert(
                s.name.clone(),
                s.sid.clone().unwrap_or_else(|| default_sid(i)),
            );
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
                let key = w.hosts[h as usize].keys.public();
                w.registry.register(&claims, &sid, key);
            }
        }
        let mut next_sid = scn.servers.len();
        for a in &scn.actions {
            if let Action::AddServer { name, .. } = &a.action {
                // Created now so host ids do not depend on timing; it
                // starts (and is registered) when its action runs.
                let sid = default_sid(next_sid);
                next_sid += 1;
                w.add_host(name, name, &sid, true, &[]);
            }
        }
        for id in scn.client_ids() {
            let decl = scn.client(&id);
            let h = w.add_host(&id, &id, "", false, &[]);
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
                addr: id.as_str().into(),
                accept_private: decl.is_none_or(|d| d.accept_private),
                autojoin: decl.map(|d| d.join.clone()).unwrap_or_default(),
                ping_interval: cfg.ping_interval,
                ping_timeout: cfg.ping_timeout,
                register_timeout: (!cfg.ablations.no_handshake_timeout)
                    .then_some(cfg.handshake_timeout),
                find_delay: cfg.find_delay,
                send_timeout: cfg.seq_hold + cfg.ping_timeout,
                keep_log: true,
                relay_private: cfg.ablations.no_direct_private,
                retry_to_back: cfg.ablations.no_retry_order,
                no_find: cfg.ablations.no_gap_recovery,
                no_dedup: cfg.ablations.no_dedup,
                reconnect,
                no_rejoin: cfg.ablations.no_client_rejoin,
            };
            w.checks
                .clients
                .declare(h, decl.map(|d| d.join.as_slice()).unwrap_or_default());
            let host = &mut w.hosts[h as usize];
            host.is_client = true;
            host.gives_up = gives_up;
            host.client_servers = servers;
            host.up = true;
            host.client = Some(Client::new(ccfg));
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
        let keys = KeyPair::generate(&mut rng::stream(self.seed, &format!("key/{label}")));
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
        let registry = Arc::new(self.registry.clone());
        let host = &mut self.hosts[h as usize];
        host.incarnation += 1;
        host.up = true;
        host.forget_links();
        host.timer_at = None;
        host.timer_gen += 1;
        let me = Identity {
            name: host.claims.clone(),
            sid: host.sid.clone(),
            incarnation: host.incarnation,
            keys: host.keys.clone(),
        };
        let mut server = Server::new(me, self.cfg.clone(), registry, &host.autoconnect);
        server.set_wall_offset(host.wall_offset());
        host.server = Some(server);
        self.dispatch(h, Input::Start);
    }

    /// Runs every event scheduled before `t`.
    pub fn run_until(&mut self, t: SimTime) {
        while self.queue.peek_time().is_some_and(|x| x < t) && !self.stopped_early {
            self.run_one();
        }
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
        if self.events >= self.max_events {
            // Whatever made the run this long (a setting, a protocol loop),
            // it ends here with a failing outcome rather than exhausting
            // memory; the event stays unprocessed.
            self.budget_exceeded = true;
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
                return false;
            }
            ev => self.step(ev),
        }
        self.checks.tick(self.now, &self.hosts, &self.net);
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
                    self.record(|| serde_json::json!({"ev": "connect_timeout", "conn": conn}));
                    self.dispatch(h, Input::ConnectFailed { link });
                }
            }
            Event::Timer { host, gen } => {
                let hst = &mut self.hosts[host as usize];
                if (hst.timer_gen & GEN_MASK) as u32 == gen && hst.up {
                    hst.timer_at = None;
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
                self.record(|| serde_json::json!({"ev": "action", "do": action.name()}));
                self.act(&action);
                self.actions[index as usize] = action;
            }
            Event::StallEnd { conn } => {
                self.record(|| serde_json::json!({"ev": "stall_end", "conn": conn}));
                self.wake(conn);
                self.checks.paths_changed(self.now, &self.net);
            }
            Event::End => {}
        }
    }

    fn record(&mut self, f: impl FnOnce() -> serde_json::Value) {
        if let Some(t) = &mut self.trace {
            let mut v = f();
            if let serde_json::Value::Object(m) = &mut v {
                m.insert("n".into(), self.events.into());
                m.insert("t_ns".into(), self.now.into());
            }
            t.record(&v);
        }
    }

    /// Delivers the head of a direction. The path of a frame to a running
    /// server is kept free of the rest (FINs, clients, closed or restarted
    /// receivers, traces), which is out of line.
    #[inline(never)]
    fn deliver(&mut self, conn: ConnId, dir: usize) {
        let now = self.now;
        let d = &mut self.net.conns[conn as usize].dirs[dir];
        d.scheduled = false;
        let Some(due) = d.head_due() else {
            return;
        };
        if due > now {
            d.scheduled = true;
            let dir = dir as u8;
            self.queue.schedule(due, Event::Deliver { conn, dir });
            return;
        }
        if !self.net.passable(conn, now) {
            self.net.conns[conn as usize].dirs[dir].blocked = true;
            return;
        }
        let c = &self.net.conns[conn as usize];
        let recv = 1 - dir;
        let to = c.ends[recv];
        let host = &self.hosts[to as usize];
        let alive = host.up && c.epoch[recv] == host.incarnation && c.open[recv];
        let plain = alive
            && host.client.is_none()
            && host.server.is_some()
            && self.trace.is_none()
            && self.checks.chat.private_texts.is_empty();
        match c.dirs[dir].head() {
            Some(Head::Frame(bytes)) if plain => {
                self.hash.bytes(bytes);
                let link = c.links[recv].expect("open end has a link");
                let host = &mut self.hosts[to as usize];
                Self::serve(host, &mut self.checks, &mut self.outbox, now, link, bytes);
                self.net.conns[conn as usize].dirs[dir].pop();
                self.apply_outputs(to);
                self.rearm(to, false);
                self.reschedule(conn, dir);
            }
            _ => self.deliver_other(conn, dir),
        }
    }

    /// The server on `host` handles a frame, the checkers looking before
    /// and after. Takes the parts of the world it needs rather than the
    /// world, so that the frame can stay where it is in the network.
    #[inline(always)]
    fn serve(
        host: &mut Host,
        checks: &mut Checkers,
        outbox: &mut Outbox,
        now: SimTime,
        link: LinkId,
        bytes: &[u8],
    ) {
        let local = host.local_time(now);
        let server = host.server.as_mut().expect("a running server");
        let probe = checks.before_frame(server, link, bytes);
        outbox.clear();
        server.handle(local, Input::Frame { link, bytes }, &mut host.rng, outbox);
        checks.after_frame(now, host, link, probe);
    }

    /// [`World::deliver`] for everything but a frame to a running server
    /// in an untraced run: the same steps in the same order, plus the rest.
    #[cold]
    #[inline(never)]
    fn deliver_other(&mut self, conn: ConnId, dir: usize) {
        let now = self.now;
        let c = &mut self.net.conns[conn as usize];
        let recv = 1 - dir;
        let to = c.ends[recv];
        let host = &self.hosts[to as usize];
        let alive = host.up && c.epoch[recv] == host.incarnation && c.open[recv];
        let stale = host.up && c.epoch[recv] != host.incarnation && c.open[recv];
        match c.dirs[dir].head() {
            None => return,
            Some(Head::Fin) => {
                c.dirs[dir].pop();
                self.hash.word(0xF1);
                if alive {
                    c.open[recv] = false;
                    if !c.open[dir] {
                        c.state = ConnState::Closed;
                    }
                    let link = c.links[recv].expect("open end has a link");
                    self.record(|| serde_json::json!({"ev": "fin", "conn": conn}));
                    self.dispatch(to, Input::Closed { link });
                }
            }
            Some(Head::Frame(bytes)) => {
                self.hash.bytes(bytes);
                if alive {
                    let link = c.links[recv].expect("open end has a link");
                    if let Some(t) = &mut self.trace {
                        let v = serde_json::json!({
                            "n": self.events, "t_ns": now, "ev": "deliver",
                            "from": self.hosts[c.ends[dir] as usize].label,
                            "to": self.hosts[to as usize].label,
                            "frame": String::from_utf8_lossy(bytes),
                        });
                        t.record(&v);
                    }
                    // Disjoint borrows: the frame stays in the network's
                    // buffer while the server reads it.
                    let host = &mut self.hosts[to as usize];
                    let local = host.local_time(now);
                    if let Some(client) = host.client.as_mut() {
                        if bytes.starts_with(b"<ROOMERR,") {
                            self.checks.clients.refused(to, bytes);
                        }
                        self.outbox.clear();
                        client.handle(local, ClientInput::Frame { link, bytes }, &mut self.outbox);
                        self.net.conns[conn as usize].dirs[dir].pop();
                        self.apply_outputs(to);
                        self.rearm(to, false);
                        self.reschedule(conn, dir);
                        return;
                    }
                    if !self.checks.chat.private_texts.is_empty() {
                        self.checks
                            .private_through(now, &self.hosts[to as usize].label, bytes);
                    }
                    let host = &mut self.hosts[to as usize];
                    Self::serve(host, &mut self.checks, &mut self.outbox, now, link, bytes);
                    self.net.conns[conn as usize].dirs[dir].pop();
                    self.apply_outputs(to);
                    self.rearm(to, false);
                } else {
                    c.dirs[dir].pop();
                    if stale {
                        // A restarted host knows nothing of this connection:
                        // its kernel answers with a reset.
                        c.open[recv] = false;
                        c.dirs[recv].discard();
                        if c.open[dir] {
                            self.send_fin(conn, recv);
                        }
                    }
                }
            }
        }
        self.reschedule(conn, dir);
    }

    #[inline(always)]
    fn reschedule(&mut self, conn: ConnId, dir: usize) {
        let now = self.now;
        let d = &mut self.net.conns[conn as usize].dirs[dir];
        if d.scheduled || d.blocked {
            return;
        }
        if let Some(due) = d.head_due() {
            d.scheduled = true;
            self.queue.schedule(
                due.max(now),
                Event::Deliver {
                    conn,
                    dir: dir as u8,
                },
            );
        }
    }

    /// Wakes held directions of a connection whose path has cleared.
    fn wake(&mut self, conn: ConnId) {
        if !self.net.passable(conn, self.now) {
            return;
        }
        for dir in 0..2 {
            let d = &mut self.net.conns[conn as usize].dirs[dir];
            if d.blocked {
                d.blocked = false;
                self.reschedule(conn, dir);
            }
        }
    }

    fn send_fin(&mut self, conn: ConnId, from_end: usize) {
        if let Some(due) = self.net.send(self.now, conn, from_end, &[], true) {
            self.queue.schedule(
                due,
                Event::Deliver {
                    conn,
                    dir: from_end as u8,
                },
            );
        }
    }

    fn syn(&mut self, conn: ConnId) {
        let now = self.now;
        if self.trace.is_some() {
            let c = &self.net.conns[conn as usize];
            let (from, to) = (
                self.hosts[c.ends[0] as usize].label.clone(),
                self.hosts[c.ends[1] as usize].label.clone(),
            );
            self.record(|| serde_json::json!({"ev": "syn", "conn": conn, "from": from, "to": to}));
        }
        let c = &self.net.conns[conn as usize];
        let (from, to) = (c.ends[0], c.ends[1]);
        if !c.open[0] || !self.net.partition.reachable(from, to) {
            return; // lost; the dialler times out
        }
        let ok = self.hosts[to as usize].listening();
        if ok {
            let host = &mut self.hosts[to as usize];
            self.outbox.clear();
            let local = host.local_time(now);
            let link = match host.server.as_mut() {
                Some(s) => s.accept(local, &mut self.outbox),
                None => host
                    .client
                    .as_mut()
                    .expect("a listening host runs a server or a client")
                    .accept(local, &mut self.outbox),
            };
            host.map_link(link, conn);
            let epoch = host.incarnation;
            let c = &mut self.net.conns[conn as usize];
            c.links[1] = Some(link);
            c.open[1] = true;
            c.epoch[1] = epoch;
            self.apply_outputs(to);
            self.rearm(to, false);
        }
        let at = now + self.net.latency(conn);
        self.queue.schedule(at, Event::SynAck { conn, ok });
    }

    fn syn_ack(&mut self, conn: ConnId, ok: bool) {
        self.record(|| serde_json::json!({"ev": "syn_ack", "conn": conn, "ok": ok}));
        let c = &mut self.net.conns[conn as usize];
        let h = c.ends[0];
        let host = &self.hosts[h as usize];
        if c.state != ConnState::Dialing || !c.open[0] || c.epoch[0] != host.incarnation || !host.up
        {
            return;
        }
        if !self.net.partition.reachable(c.ends[0], c.ends[1]) {
            return; // the answer is lost; the dialler times out
        }
        let link = c.links[0].expect("dialler link");
        if ok {
            c.state = ConnState::Open;
            self.dispatch(h, Input::Connected { link });
        } else {
            c.state = ConnState::Closed;
            c.open[0] = false;
            self.dispatch(h, Input::ConnectFailed { link });
        }
    }

    /// Hands one input to the server (or client) on `h` and carries out
    /// its outputs.
    pub fn dispatch(&mut self, h: HostId, input: Input<'_>) {
        let now = self.now;
        let host = &mut self.hosts[h as usize];
        let local = host.local_time(now);
        if host.is_client {
            let ci = match input {
                Input::Connected { link } => ClientInput::Connected { link },
                Input::ConnectFailed { link } => ClientInput::ConnectFailed { link },
                Input::Frame { link, bytes } => ClientInput::Frame { link, bytes },
                Input::Closed { link } => ClientInput::Closed { link },
                Input::Timeout => ClientInput::Timeout,
                Input::Start | Input::Operator(_) => return,
            };
            return self.dispatch_client(h, ci);
        }
        let Some(server) = host.server.as_mut() else {
            return;
        };
        if !host.up {
            return;
        }
        self.outbox.clear();
        server.handle(local, input, &mut host.rng, &mut self.outbox);
        let timeout = matches!(input, Input::Timeout);
        self.apply_outputs(h);
        self.rearm(h, timeout);
    }

    /// Hands one input to the client on `h`.
    pub fn dispatch_client(&mut self, h: HostId, input: ClientInput<'_>) {
        let now = self.now;
        let host = &mut self.hosts[h as usize];
        let local = host.local_time(now);
        let Some(client) = host.client.as_mut() else {
            return;
        };
        self.outbox.clear();
        client.handle(local, input, &mut self.outbox);
        let timeout = matches!(input, ClientInput::Timeout);
        self.apply_outputs(h);
        self.rearm(h, timeout);
    }

    /// Schedules the host's next timer if it moved earlier.
    #[inline(always)]
    fn rearm(&mut self, h: HostId, after_timeout: bool) {
        let now = self.now;
        let host = &mut self.hosts[h as usize];
        let next = match (&host.server, &host.client) {
            (Some(s), _) => s.poll_timeout(),
            (None, Some(c)) => c.poll_timeout(),
            _ => None,
        };
        let Some(local) = next else {
            return;
        };
        let mut at = host.global_time(local).max(now);
        if after_timeout && at <= now {
            at = now + 1; // never spin at one instant
        }
        if host.timer_at.is_some_and(|t| t <= at) {
            return;
        }
        host.timer_gen += 1;
        host.timer_at = Some(at);
        let gen = (host.timer_gen & GEN_MASK) as u32;
        self.queue.schedule(at, Event::Timer { host: h, gen });
    }

    /// Inlined, like the rest of the per-frame path (`rearm`, `reschedule`,
    /// `Network::send`): a call per step costs as much as some steps do.
    #[inline(always)]
    fn apply_outputs(&mut self, h: HostId) {
        // By index, so the outbox stays where it is (no take and restore per
        // event) while the network and the queue, other fields, change.
        // Sends are nearly all there is; the rest is out of line.
        for i in 0..self.outbox.items().len() {
            match &self.outbox.items()[i] {
                &Output::Send { link, start, end } => {
                    let Some(conn) = self.hosts[h as usize].conn_of(link) else {
                        continue;
                    };
                    let c = &self.net.conns[conn as usize];
                    let e = c.end_of(h);
                    if !c.open[e] || c.state == ConnState::Dialing && e == 0 && c.links[1].is_none()
                    {
                        continue;
                    }
                    let bytes = self.outbox.bytes(start, end);
                    if let Some(due) = self.net.send(self.now, conn, e, bytes, false) {
                        self.queue
                            .schedule(due, Event::Deliver { conn, dir: e as u8 });
                    }
                }
                _ => self.apply_other_output(h, i),
            }
        }
        if !self.notes.is_empty() {
            self.digest_notes();
        }
    }

    /// [`World::apply_outputs`] for the outputs other than sends.
    #[cold]
    #[inline(never)]
    fn apply_other_output(&mut self, h: HostId, i: usize) {
        match &self.outbox.items()[i] {
            Output::Connect { link, to } => {
                let (link, to) = (*link, to.clone());
                self.connect(h, link, &to);
            }
            &Output::Close { link } => {
                let Some(conn) = self.hosts[h as usize].conn_of(link) else {
                    return;
                };
                let c = &mut self.net.conns[conn as usize];
                let e = c.end_of(h);
                if !c.open[e] {
                    return;
                }
                c.open[e] = false;
                if !c.open[1 - e] && c.links[1 - e].is_some() {
                    c.state = ConnState::Closed;
                }
                if c.links[1 - e].is_some() {
                    self.send_fin(conn, e);
                }
            }
            Output::Note(n) => {
                let n = n.clone();
                self.notes.push((h, n));
            }
            Output::Send { .. } => unreachable!("sends are applied inline"),
        }
    }

    /// Hands the notes of one event to the checkers (and the trace).
    #[cold]
    #[inline(never)]
    fn digest_notes(&mut self) {
        let notes = std::mem::take(&mut self.notes);
        self.checks
            .on_notes(self.now, &self.hosts, &mut self.net, &notes);
        if let Some(t) = &mut self.trace {
            for (h, n) in &notes {
                let v = serde_json::json!({"n": self.events, "t_ns": self.now, "ev": "note",
                    "host": self.hosts[*h as usize].label, "note": format!("{n:?}")});
                t.record(&v);
            }
        }
        self.notes = notes;
        self.notes.clear();
    }

    fn connect(&mut self, h: HostId, link: LinkId, to: &str) {
        let now = self.now;
        let target = self.by_label.get(to).copied();
        let epoch = self.hosts[h as usize].incarnation;
        // Each connection draws from a stream named by its endpoints and
        // how many connections that pair has opened before.
        let nth = self.pair_conns.entry((h, target.unwrap_or(h))).or_insert(0);
        *nth += 1;
        let name = format!("conn/{}/{to}/{nth}", self.hosts[h as usize].label);
        let conn = self.net.dial(
            now,
            h,
            target.unwrap_or(h),
            link,
            epoch,
            rng::stream(self.seed, &name),
        );
        self.hosts[h as usize].map_link(link, conn);
        let lat = self.net.latency(conn);
        match target {
            None => self
                .queue
                .schedule(now + lat, Event::SynAck { conn, ok: false }),
            Some(t) => {
                if self.net.partition.reachable(h, t) {
                    self.queue.schedule(now + lat, Event::Syn { conn });
                }
                self.queue.schedule(
                    now + self.net.connect_timeout,
                    Event::ConnectTimeout { conn },
                );
            }
        }
    }

    fn host(&self, label: &str) -> HostId {
        self.by_label[label]
    }

    fn conns_between(&self, a: HostId, b: HostId) -> Vec<ConnId> {
        (0..self.net.conns.len() as ConnId)
            .filter(|&c| {
                let conn = &self.net.conns[c as usize];
                conn.state != ConnState::Closed && conn.joins(a, b)
            })
            .collect()
    }

    fn act(&mut self, action: &Action) {
        match action {
            Action::Partition { groups } => {
                let mut groups: Vec<Vec<HostId>> = groups
                    .iter()
                    .map(|g| {
                        g.iter()
                            .filter_map(|id| self.by_label.get(id).copied())
                            .collect()
                    })
                    .collect();
                self.place_unnamed_clients(&mut groups);
                self.net.partition.set(self.hosts.len(), &groups);
                self.wake_all();
            }
            Action::Heal => {
                self.net.partition.heal();
                self.wake_all();
            }
            Action::Cut { a, b } => {
                let (a, b) = (self.host(a), self.host(b));
                for conn in self.conns_between(a, b) {
                    let c = &mut self.net.conns[conn as usize];
                    c.dirs[0].discard();
                    c.dirs[1].discard();
                    c.state = ConnState::Closed;
                    let ends: Vec<(HostId, LinkId)> = (0..2)
                        .filter(|&e| c.open[e])
                        .filter_map(|e| Some((c.ends[e], c.links[e]?)))
                        .collect();
                    c.open = [false, false];
                    for (h, link) in ends {
                        let host = &self.hosts[h as usize];
                        if host.up
                            && self.net.conns[conn as usize].epoch
                                [self.net.conns[conn as usize].end_of(h)]
                                == host.incarnation
                        {
                            self.dispatch(h, Input::Closed { link });
                        }
                    }
                }
            }
            Action::Stall { a, b, duration } => {
                let (a, b) = (self.host(a), self.host(b));
                let until = self.now + duration.as_nanos();
                for conn in self.conns_between(a, b) {
                    let c = &mut self.net.conns[conn as usize];
                    c.stalled_until = c.stalled_until.max(until);
                    self.queue.schedule(until, Event::StallEnd { conn });
                }
            }
            Action::Crash { server } => self.crash(self.host(server)),
            Action::Restart { server } => {
                let h = self.host(server);
                if self.hosts[h as usize].up {
                    self.crash(h);
                }
                self.boot(h);
            }
            Action::Shutdown { server } => {
                let h = self.host(server);
                self.dispatch(h, Input::Operator(Command::Shutdown));
            }
            Action::Link { a, b } => {
                let h = self.host(a);
                self.dispatch(h, Input::Operator(Command::Connect { to: b }));
            }
            Action::Unlink { a, b } => {
                let h = self.host(a);
                self.dispatch(h, Input::Operator(Command::Unlink { peer: b }));
            }
            Action::AddServer { name, via } => {
                let h = self.host(name);
                let (sid, key) = {
                    let host = &mut self.hosts[h as usize];
                    host.autoconnect = vec![Arc::from(via.as_str())];
                    (host.sid.clone(), host.keys.public())
                };
                self.registry.register(name, &sid, key);
                let reg = Arc::new(self.registry.clone());
                for host in &mut self.hosts {
                    if let Some(s) = &mut host.server {
                        s.set_registry(reg.clone());
                    }
                }
                self.boot(h);
            }
            Action::Skew { server, by_nanos } => {
                let h = self.host(server);
                let host = &mut self.hosts[h as usize];
                host.skew += by_nanos;
                let off = host.wall_offset();
                if let Some(s) = host.server.as_mut() {
                    s.set_wall_offset(off);
                }
            }
            Action::Broadcast { server, text } => {
                let h = self.host(server);
                self.dispatch(h, Input::Operator(Command::Broadcast { text }));
            }
            Action::Redirect { .. } => unreachable!("redirect rejected at load"),
            client_action => self.client_action(client_action),
        }
    }

    /// The nick a client id goes by now, as its own client knows it.
    fn nick_of(&self, id: &str) -> String {
        self.by_label
            .get(id)
            .and_then(|&h| self.hosts[h as usize].client.as_ref())
            .map_or_else(|| id.to_string(), |c| c.nick().to_string())
    }

    fn client_action(&mut self, action: &Action) {
        use ClientCommand as C;
        // Recipients are named by client id in the file, by nick on the wire.
        let nicks: Vec<String> = match action {
            Action::SendList { to, .. } => to.iter().map(|t| self.nick_of(t)).collect(),
            Action::Private { to, text, .. } => {
                self.checks.chat.private_texts.push(text.clone());
                vec![self.nick_of(to)]
            }
            _ => Vec::new(),
        };
        let (id, cmd) = match action {
            Action::Connect {
                client,
                server,
                nick,
            } => (
                client,
                C::Connect {
                    server,
                    nick: nick.as_deref(),
                },
            ),
            Action::Nick { client, nick } => (client, C::Nick(nick)),
            Action::Create { client, room } => (client, C::Create(room)),
            Action::Join { client, room } => (client, C::Join(room)),
            Action::Leave { client, room } => (client, C::Leave(room)),
            Action::Say { client, room, text } => (client, C::Say { room, text }),
            Action::SendList { client, text, .. } => (client, C::SendList { to: &nicks, text }),
            Action::Private { client, text, .. } => (
                client,
                C::Private {
                    to: &nicks[0],
                    text,
                },
            ),
            Action::Quit { client } => (client, C::Quit),
            _ => return,
        };
        let h = self.host(id);
        let connected = self.hosts[h as usize]
            .client
            .as_ref()
            .is_some_and(|c| c.state() == drc_protocol::client::ClientState::Connected);
        self.checks.clients.on_action(h, action, connected);
        self.dispatch_client(h, ClientInput::Command(cmd));
    }

    /// A client no group names goes with the server it is connected to or
    /// dialling, as its traffic would; one with no server stays with the
    /// hosts nobody named.
    fn place_unnamed_clients(&self, groups: &mut [Vec<HostId>]) {
        let named: std::collections::BTreeSet<HostId> = groups.iter().flatten().copied().collect();
        for (i, host) in self.hosts.iter().enumerate() {
            let h = i as HostId;
            let Some(c) = host.client.as_ref().filter(|_| !named.contains(&h)) else {
                continue;
            };
            let Some(&s) = c.server().and_then(|s| self.by_label.get(s)) else {
                continue;
            };
            if let Some(g) = groups.iter_mut().find(|g| g.contains(&s)) {
                g.push(h);
            }
        }
    }

    fn wake_all(&mut self) {
        for conn in 0..self.net.conns.len() as ConnId {
            self.wake(conn);
        }
        self.checks.paths_changed(self.now, &self.net);
    }

    /// The process dies with no goodbye: peers learn by their own timeouts.
    fn crash(&mut self, h: HostId) {
        let host = &mut self.hosts[h as usize];
        host.up = false;
        host.server = None;
        host.timer_gen += 1;
        host.timer_at = None;
        for c in &mut self.net.conns {
            for e in 0..2 {
                if c.ends[e] == h && c.open[e] {
                    c.open[e] = false;
                }
            }
        }
        self.checks.host_down(self.now, h, &mut self.net);
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
            Event::End,
        ];
        for e in all {
            assert_eq!(Event::unpack(e.pack()), e);
        }
    }
}
