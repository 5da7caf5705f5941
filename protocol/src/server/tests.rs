//! The server state machine driven through its public API only, on a small
//! deterministic in-memory network ([`Net`]): every host has its own
//! ChaCha8 generator, every frame takes the same fixed latency, and
//! simultaneous events run in a fixed (optionally reversed) order.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{Command, Input, LinkPhase, Server};
use crate::crypto::KeyPair;
use crate::message::{Msg, HANDED_OVER};
use crate::wire::{self, Encoder, Frame};
use crate::{
    ChatNote, CloseReason, Config, Duration, Identity, Instant, LinkId, Note, Outbox, Output,
    Registry,
};

// ---------------------------------------------------------------- harness

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A frame as its command followed by its arguments ("?" if undecodable).
fn words(bytes: &[u8]) -> Vec<String> {
    let mut f = Frame::new();
    match wire::decode_exact(bytes, &mut f) {
        Ok(()) => std::iter::once(f.command())
            .chain(f.args())
            .map(String::from)
            .collect(),
        Err(_) => vec!["?".into()],
    }
}

fn starts(w: &[String], prefix: &[&str]) -> bool {
    w.len() >= prefix.len() && w.iter().zip(prefix).all(|(a, b)| a == b)
}

enum Ev {
    Frame {
        link: LinkId,
        bytes: Vec<u8>,
    },
    Closed {
        link: LinkId,
    },
    /// A connection attempt reaches the target; the destination is the dialler.
    Dial {
        link: LinkId,
        to: Arc<str>,
    },
}

struct Host {
    id: Identity,
    auto: Vec<Arc<str>>,
    /// `None` for a crashed host or a puppet.
    srv: Option<Server>,
    rng: ChaCha8Rng,
    /// A scripted peer: the test reads what it receives and sends by hand.
    puppet: bool,
    /// Answer connection attempts with `ConnectFailed`.
    refuse: bool,
    puppet_links: u64,
}

/// One known server as an owned, comparable row.
type Row = (String, String, u64, u32, String, LinkId);

struct Net {
    now: Instant,
    cfg: Arc<Config>,
    registry: Registry,
    hosts: Vec<Host>,
    dns: BTreeMap<Arc<str>, usize>,
    /// Both directions of every open connection: (host, link) -> (host, link).
    wires: BTreeMap<(usize, LinkId), (usize, LinkId)>,
    dialing: BTreeSet<(usize, LinkId)>,
    /// In flight, by (due, destination rank, sequence): FIFO per destination.
    queue: BTreeMap<(Instant, usize, u64), (usize, Ev)>,
    seq: u64,
    steps: u64,
    latency: Duration,
    /// Run simultaneous events for different hosts in reverse host order.
    reverse: bool,
    /// Extra delay for everything sent to a host (FIFO per link is kept).
    slow: BTreeMap<usize, Duration>,
    /// Extra delay, both ways, on every connection a host dials from then
    /// on: one slow path among fast ones.
    slow_dials: BTreeMap<usize, Duration>,
    /// The same per link end, as (host, link): filled from `slow_dials`.
    slow_links: BTreeMap<(usize, LinkId), Duration>,
    out: Outbox,
    sent: Vec<(Instant, usize, LinkId, Vec<u8>)>,
    got: Vec<(Instant, usize, LinkId, Vec<u8>)>,
    notes: Vec<(Instant, usize, Note)>,
    connects: Vec<(Instant, usize, LinkId)>,
    failures: Vec<(Instant, usize, LinkId)>,
    closes: Vec<(Instant, usize, LinkId)>,
    peer_closed: Vec<(Instant, usize, LinkId)>,
    /// Commands whose next frame sent is lost on the wire, one each.
    lose: Vec<String>,
}

impl Net {
    fn new(cfg: Config) -> Net {
        Net {
            now: Instant::ZERO,
            cfg: Arc::new(cfg),
            registry: Registry::new(),
            hosts: Vec::new(),
            dns: BTreeMap::new(),
            wires: BTreeMap::new(),
            dialing: BTreeSet::new(),
            queue: BTreeMap::new(),
            seq: 0,
            steps: 0,
            latency: ms(10),
            reverse: false,
            slow: BTreeMap::new(),
            slow_dials: BTreeMap::new(),
            slow_links: BTreeMap::new(),
            out: Outbox::new(),
            sent: Vec::new(),
            got: Vec::new(),
            notes: Vec::new(),
            connects: Vec::new(),
            failures: Vec::new(),
            closes: Vec::new(),
            peer_closed: Vec::new(),
            lose: Vec::new(),
        }
    }

    /// An admitted, reachable server.
    fn add(&mut self, name: &str, auto: &[&str]) -> usize {
        let keys = KeyPair::generate(&mut ChaCha8Rng::seed_from_u64(
            1000 + self.hosts.len() as u64,
        ));
        let sid = format!("{:03}", self.hosts.len());
        self.add_host(name, &sid, keys, true, true, auto)
    }

    fn add_host(
        &mut self,
        name: &str,
        sid: &str,
        keys: KeyPair,
        register: bool,
        listed: bool,
        auto: &[&str],
    ) -> usize {
        let i = self.hosts.len();
        if register {
            self.registry.register(name, sid, keys.public());
        }
        if listed {
            self.dns.insert(name.into(), i);
        }
        let id = Identity {
            name: name.into(),
            sid: sid.into(),
            incarnation: 1,
            keys,
        };
        self.hosts.push(Host {
            id,
            auto: auto.iter().map(|&a| a.into()).collect(),
            srv: None,
            rng: ChaCha8Rng::seed_from_u64(i as u64),
            puppet: false,
            refuse: false,
            puppet_links: 0,
        });
        self.boot(i);
        let reg = Arc::new(self.registry.clone());
        for s in self.hosts.iter_mut().filter_map(|h| h.srv.as_mut()) {
            s.set_registry(reg.clone());
        }
        i
    }

    fn boot(&mut self, i: usize) {
        let h = &mut self.hosts[i];
        h.rng = ChaCha8Rng::seed_from_u64(i as u64 * 1000 + h.id.incarnation);
        let reg = Arc::new(self.registry.clone());
        h.srv = Some(Server::new(h.id.clone(), self.cfg.clone(), reg, &h.auto));
    }

    fn add_puppet(&mut self, name: &str) -> usize {
        let keys = KeyPair::generate(&mut ChaCha8Rng::seed_from_u64(7));
        let i = self.add_host(name, "PUP", keys, false, true, &[]);
        self.hosts[i].srv = None;
        self.hosts[i].puppet = true;
        i
    }

    fn find(&self, name: &str) -> usize {
        self.dns[name]
    }

    fn srv(&self, i: usize) -> &Server {
        self.hosts[i].srv.as_ref().expect("host is up")
    }

    fn handle(&mut self, i: usize, input: Input<'_>) {
        let h = &mut self.hosts[i];
        if let Some(s) = h.srv.as_mut() {
            s.handle(self.now, input, &mut h.rng, &mut self.out);
            // A server never asks to be woken in the past: a timer armed
            // before `now` is a wake-up for nothing at best.
            if let Some(t) = s.poll_timeout() {
                assert!(t >= self.now, "{} armed {t:?} at {:?}", h.id.name, self.now);
            }
            self.apply(i);
        }
    }

    fn connect(&mut self, i: usize, to: &str) {
        self.handle(i, Input::Operator(Command::Connect { to }));
    }

    fn push(&mut self, dest: usize, ev: Ev) {
        let rank = if self.reverse {
            usize::MAX - dest
        } else {
            dest
        };
        self.seq += 1;
        let mut due = self.now + self.latency + self.slow.get(&dest).copied().unwrap_or_default();
        if let Ev::Frame { link, .. } = &ev {
            due = due
                + self
                    .slow_links
                    .get(&(dest, *link))
                    .copied()
                    .unwrap_or_default();
        }
        self.queue.insert((due, rank, self.seq), (dest, ev));
    }

    /// Carries out host `i`'s outputs.
    fn apply(&mut self, i: usize) {
        let items = self.out.items().to_vec();
        for o in items {
            match o {
                Output::Send { link, start, end } => {
                    let bytes = self.out.bytes(start, end).to_vec();
                    self.sent.push((self.now, i, link, bytes.clone()));
                    let cmd = words(&bytes).into_iter().next().unwrap_or_default();
                    if let Some(k) = self.lose.iter().position(|c| *c == cmd) {
                        self.lose.remove(k);
                        continue;
                    }
                    if let Some(&(p, pl)) = self.wires.get(&(i, link)) {
                        self.push(p, Ev::Frame { link: pl, bytes });
                    }
                }
                Output::Connect { link, to } => {
                    self.connects.push((self.now, i, link));
                    self.dialing.insert((i, link));
                    self.push(i, Ev::Dial { link, to });
                }
                Output::Close { link } => {
                    self.closes.push((self.now, i, link));
                    self.dialing.remove(&(i, link));
                    if let Some((p, pl)) = self.wires.remove(&(i, link)) {
                        self.push(p, Ev::Closed { link: pl });
                    }
                }
            }
        }
        for n in self.out.notes() {
            self.notes.push((self.now, i, n.clone()));
        }
        self.out.clear();
    }

    fn accept(&mut self, t: usize) -> LinkId {
        let h = &mut self.hosts[t];
        if h.puppet {
            h.puppet_links += 1;
            return LinkId(h.puppet_links);
        }
        let l = h
            .srv
            .as_mut()
            .expect("target up")
            .accept(self.now, &mut self.out);
        self.apply(t);
        l
    }

    fn deliver(&mut self, i: usize, ev: Ev) {
        match ev {
            Ev::Frame { link, bytes } => {
                self.got.push((self.now, i, link, bytes.clone()));
                self.handle(
                    i,
                    Input::Frame {
                        link,
                        bytes: &bytes,
                    },
                );
            }
            Ev::Closed { link } => {
                self.wires.remove(&(i, link));
                self.peer_closed.push((self.now, i, link));
                self.handle(i, Input::Closed { link });
            }
            Ev::Dial { link, to } => {
                if !self.dialing.remove(&(i, link)) {
                    return; // the dialler gave up first
                }
                let target = self.dns.get(&to).copied();
                match target.filter(|&t| {
                    (self.hosts[t].srv.is_some() || self.hosts[t].puppet) && !self.hosts[t].refuse
                }) {
                    None => {
                        self.failures.push((self.now, i, link));
                        self.handle(i, Input::ConnectFailed { link });
                    }
                    Some(t) => {
                        let tl = self.accept(t);
                        self.wires.insert((i, link), (t, tl));
                        self.wires.insert((t, tl), (i, link));
                        if let Some(&d) = self.slow_dials.get(&i) {
                            self.slow_links.insert((i, link), d);
                            self.slow_links.insert((t, tl), d);
                        }
                        self.handle(i, Input::Connected { link });
                    }
                }
            }
        }
    }

    /// Runs the next event or timer if it is due by `limit`.
    fn step_before(&mut self, limit: Instant) -> bool {
        let ev = self.queue.keys().next().map(|k| k.0);
        let timer = (0..self.hosts.len())
            .filter_map(|i| Some((self.hosts[i].srv.as_ref()?.poll_timeout()?, i)))
            .min();
        let (t, timer) = match (ev, timer) {
            (Some(e), Some((t, i))) if t < e => (t, Some(i)),
            (None, Some((t, i))) => (t, Some(i)),
            (Some(e), _) => (e, None),
            (None, None) => return false,
        };
        if t > limit {
            return false;
        }
        self.steps += 1;
        assert!(
            self.steps < 1_000_000,
            "runaway simulation at {:?}",
            self.now
        );
        self.now = self.now.max(t);
        match timer {
            Some(i) => self.handle(i, Input::Timeout),
            None => {
                let (_, (dest, ev)) = self.queue.pop_first().expect("queue not empty");
                self.deliver(dest, ev);
            }
        }
        true
    }

    fn run_until(&mut self, t: Instant) {
        while self.step_before(t) {}
        self.now = self.now.max(t);
    }

    fn run_for(&mut self, d: Duration) {
        self.run_until(self.now + d);
    }

    /// Turns on discovery at host `i`, as a seeker with HELLOs every
    /// `period` (each host its own address).
    fn make_seeker(&mut self, i: usize, period: Duration) {
        let addr = format!("10.0.0.{}", i + 1);
        let srv = self.hosts[i].srv.as_mut().expect("host up");
        srv.set_discovery(super::DiscoveryConfig {
            addr: addr.into(),
            port: 6667,
            seeker: true,
            period,
        });
    }

    /// Runs in steps of `step` until `done` holds, for at most a minute:
    /// a condition that never comes is a failure, not a hang (under a
    /// mutant, a hang costs the mutation run its whole timeout).
    fn run_until_true(&mut self, step: Duration, done: impl Fn(&Net) -> bool) {
        let end = self.now + secs(60);
        while !done(self) {
            assert!(self.now < end, "still waiting at {:?}", self.now);
            self.run_for(step);
        }
    }

    /// Runs until nothing is in flight (timers due before that fire too).
    fn settle(&mut self) {
        while !self.queue.is_empty() {
            assert!(self.step_before(Instant(u64::MAX)));
        }
    }

    /// Drops host `i` silently: no Close, nothing it had in flight to it.
    fn crash(&mut self, i: usize) {
        self.hosts[i].srv = None;
        self.wires.retain(|k, v| k.0 != i && v.0 != i);
        self.dialing.retain(|k| k.0 != i);
        self.queue.retain(|_, (d, _)| *d != i);
    }

    /// Boots host `i` again with the next incarnation.
    fn restart(&mut self, i: usize) {
        self.hosts[i].id.incarnation += 1;
        self.boot(i);
        self.handle(i, Input::Start);
    }

    /// A puppet opens a connection to a server (instantly).
    fn puppet_dial(&mut self, p: usize, to: &str) -> LinkId {
        let t = self.find(to);
        let tl = self.accept(t);
        let h = &mut self.hosts[p];
        h.puppet_links += 1;
        let pl = LinkId(h.puppet_links);
        self.wires.insert((p, pl), (t, tl));
        self.wires.insert((t, tl), (p, pl));
        pl
    }

    fn puppet_send(&mut self, p: usize, link: LinkId, bytes: &[u8]) {
        let (t, tl) = self.wires[&(p, link)];
        self.sent.push((self.now, p, link, bytes.to_vec()));
        self.push(
            t,
            Ev::Frame {
                link: tl,
                bytes: bytes.to_vec(),
            },
        );
    }

    /// What puppet `p` received on `link`, as words.
    fn puppet_got(&self, p: usize, link: LinkId) -> Vec<Vec<String>> {
        self.got
            .iter()
            .filter(|g| g.1 == p && g.2 == link)
            .map(|g| words(&g.3))
            .collect()
    }

    /// Hands a frame to host `i` as if it had just arrived on `link`.
    fn inject(&mut self, i: usize, link: LinkId, bytes: &[u8]) {
        self.handle(i, Input::Frame { link, bytes });
    }

    fn view(&self, i: usize) -> Vec<Row> {
        self.srv(i)
            .known_servers()
            .map(|k| {
                (
                    k.name.into(),
                    k.sid.into(),
                    k.incarnation,
                    k.hops,
                    k.uplink.into(),
                    k.via,
                )
            })
            .collect()
    }

    fn views(&self) -> Vec<Option<Vec<Row>>> {
        (0..self.hosts.len())
            .map(|i| self.hosts[i].srv.as_ref().map(|_| self.view(i)))
            .collect()
    }

    /// Host `i`'s registered links to the server named `peer`.
    fn links_to(&self, i: usize, peer: &str) -> Vec<LinkId> {
        self.srv(i)
            .links()
            .filter(|l| l.phase == LinkPhase::Registered && l.peer == Some(peer))
            .map(|l| l.id)
            .collect()
    }

    fn link_to(&self, i: usize, peer: &str) -> LinkId {
        let l = self.links_to(i, peer);
        assert_eq!(
            l.len(),
            1,
            "{} should have one link to {peer}: {l:?}",
            self.srv(i).name()
        );
        l[0]
    }

    /// The frames host `i` sent on `link`, as words.
    fn sent_on(&self, i: usize, link: LinkId) -> Vec<Vec<String>> {
        self.sent
            .iter()
            .filter(|s| s.1 == i && s.2 == link)
            .map(|s| words(&s.3))
            .collect()
    }

    /// [`Net::sent_on`], only the frames of command `cmd`.
    fn sent_cmd(&self, i: usize, link: LinkId, cmd: &str) -> Vec<Vec<String>> {
        let mut all = self.sent_on(i, link);
        all.retain(|w| w[0] == cmd);
        all
    }

    /// The frames host `i` sent on `link`, as they went.
    fn sent_raw_on(&self, i: usize, link: LinkId) -> Vec<Vec<u8>> {
        self.sent
            .iter()
            .filter(|s| s.1 == i && s.2 == link)
            .map(|s| s.3.clone())
            .collect()
    }

    fn link_downs(&self, i: usize) -> Vec<(LinkId, CloseReason)> {
        self.notes
            .iter()
            .filter_map(|(_, h, n)| match n {
                Note::LinkDown { link, reason } if *h == i => Some((*link, *reason)),
                _ => None,
            })
            .collect()
    }

    /// Each host's count of broadcasts accepted from other servers (0
    /// when down).
    fn accepted_broadcasts(&self) -> Vec<u64> {
        self.hosts
            .iter()
            .map(|h| h.srv.as_ref().map_or(0, |s| s.stats().broadcasts))
            .collect()
    }

    /// A broadcast from every live server reaches every other one once.
    fn check_broadcasts(&mut self) {
        let live: Vec<usize> = (0..self.hosts.len())
            .filter(|&i| self.hosts[i].srv.is_some())
            .collect();
        for &i in &live {
            let mark = self.notes.len();
            let before = self.accepted_broadcasts();
            self.handle(i, Input::Operator(Command::Broadcast { text: "hi" }));
            self.settle();
            let after = self.accepted_broadcasts();
            for &j in live.iter().filter(|&&j| j != i) {
                let n = after[j] - before[j];
                assert_eq!(
                    n, 1,
                    "{} got {n} copies of {}'s broadcast",
                    self.hosts[j].id.name, self.hosts[i].id.name
                );
            }
            assert!(!self.notes[mark..]
                .iter()
                .any(|n| matches!(n.2, Note::Misdirected { .. })));
        }
    }

    /// [`Net::check_forest`] with a single tree.
    fn check_tree(&self) -> BTreeSet<(String, String)> {
        let edges = self.check_forest();
        let live = self.hosts.iter().filter(|h| h.srv.is_some()).count();
        assert_eq!(edges.len() + 1, live, "not one tree: {edges:?}");
        edges
    }

    /// Every live server's links are registered at both ends and form a
    /// forest, and every server's table matches its tree exactly (hops,
    /// uplink, incarnation, sid). Returns the edges.
    fn check_forest(&self) -> BTreeSet<(String, String)> {
        let live: Vec<usize> = (0..self.hosts.len())
            .filter(|&i| self.hosts[i].srv.is_some())
            .collect();
        let mut adj: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut edges = BTreeSet::new();
        // DUMP=1 prints every view before judging: the quickest way into a
        // failing soak seed.
        if std::env::var("DUMP").is_ok() {
            for &i in &live {
                let sv = self.srv(i);
                let known: Vec<String> = sv
                    .known_servers()
                    .map(|k| format!("{}#{}h{}v{}", k.name, k.incarnation, k.hops, k.via.0))
                    .collect();
                let links: Vec<String> = sv
                    .links()
                    .map(|l| format!("{}:{:?}:{:?}", l.id.0, l.peer, l.phase))
                    .collect();
                eprintln!(
                    "{} inc{} known {:?} links {:?}",
                    sv.name(),
                    sv.incarnation(),
                    known,
                    links
                );
            }
        }
        for &i in &live {
            let me = self.srv(i).name().to_string();
            adj.entry(me.clone()).or_default();
            for l in self.srv(i).links() {
                assert_eq!(
                    l.phase,
                    LinkPhase::Registered,
                    "{me} has an unfinished link at quiescence"
                );
                let p = l.peer.expect("registered link has a peer").to_string();
                assert_eq!(
                    self.links_to(i, &p).len(),
                    1,
                    "{me} has duplicate links to {p}"
                );
                adj.get_mut(&me).unwrap().push(p.clone());
                edges.insert(if me < p {
                    (me.clone(), p)
                } else {
                    (p, me.clone())
                });
            }
        }
        for (a, b) in &edges {
            assert!(
                adj[a].contains(b) && adj[b].contains(a),
                "link {a}-{b} is one-sided"
            );
        }
        for &i in &live {
            let me = self.srv(i).name().to_string();
            // BFS from `me`: hops and parent of every other server.
            let mut seen: BTreeMap<String, (u32, String)> = BTreeMap::new();
            let mut frontier = vec![me.clone()];
            let mut hops = 0;
            while !frontier.is_empty() {
                hops += 1;
                let mut next = Vec::new();
                for n in frontier {
                    for p in &adj[&n] {
                        if *p != me && !seen.contains_key(p) {
                            seen.insert(p.clone(), (hops, n.clone()));
                            next.push(p.clone());
                        }
                    }
                }
                frontier = next;
            }
            let degrees: usize = seen.keys().chain([&me]).map(|n| adj[n].len()).sum();
            assert_eq!(
                degrees / 2,
                seen.len(),
                "{me}'s component is not a tree: {edges:?}"
            );
            let want: Vec<(String, String, u64, u32, String)> = seen
                .into_iter()
                .map(|(n, (h, up))| {
                    let host = &self.hosts[self.find(&n)];
                    (n, host.id.sid.to_string(), host.id.incarnation, h, up)
                })
                .collect();
            let have: Vec<_> = self
                .view(i)
                .into_iter()
                .map(|r| (r.0, r.1, r.2, r.3, r.4))
                .collect();
            assert_eq!(have, want, "{me}'s view");
        }
        edges
    }
}

/// Links a chain of servers, each dialling the next, and settles.
fn chain(cfg: Config, names: &[&str], links: &[(&str, &str)]) -> Net {
    let mut net = Net::new(cfg);
    for n in names {
        net.add(n, &[]);
    }
    for (a, b) in links {
        let a = net.find(a);
        net.connect(a, b);
        net.settle();
    }
    net
}

fn edge(a: &str, b: &str) -> (String, String) {
    (a.into(), b.into())
}

/// Runs until `until`, asserting after every event that no live server's
/// table differs from what it was at the start.
fn run_unchanged(net: &mut Net, until: Instant) {
    let before = net.views();
    while net.step_before(until) {
        assert_eq!(net.views(), before, "a table changed at {:?}", net.now);
    }
}

/// The link on which host `i` registered `peer` most recently.
/// The UID the WELCOME a puppet got on `l` gave it.
fn welcomed_uid(net: &Net, p: usize, l: LinkId) -> String {
    net.puppet_got(p, l)
        .into_iter()
        .find(|w| w[0] == "WELCOME")
        .expect("welcomed")[2]
        .clone()
}

fn registered_link(net: &Net, i: usize, peer: &str) -> LinkId {
    net.notes
        .iter()
        .rev()
        .find_map(|(_, h, n)| match n {
            Note::LinkRegistered { link, peer: p } if *h == i && &**p == peer => Some(*link),
            _ => None,
        })
        .expect("registered")
}

fn squit(name: &str, incarnation: u64) -> Vec<u8> {
    let mut b = Vec::new();
    Msg::Squit {
        name,
        incarnation,
        reason: "test",
    }
    .encode(&mut b)
    .unwrap();
    b
}

fn hex_frame(command: &str, bytes: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    let mut e = Encoder::begin(&mut b, command);
    e.arg_hex(bytes);
    e.finish().unwrap();
    b
}

// ------------------------------------------------------------------ tests

#[test]
fn handshake_registers_both_ends_and_introduces_the_tree() {
    let net = chain(
        Config::default(),
        &["A", "B", "C"],
        &[("A", "B"), ("B", "C")],
    );
    let (a, b, c) = (0, 1, 2);
    for (i, p) in [(a, "B"), (b, "A"), (b, "C"), (c, "B")] {
        let l = net.link_to(i, p);
        assert_eq!(net.srv(i).link_phase(l), Some(LinkPhase::Registered));
    }
    let ab = net.link_to(a, "B");
    let kb = net.srv(a).known_server("B").unwrap();
    assert_eq!(
        (kb.hops, kb.uplink, kb.sid, kb.incarnation, kb.via),
        (1, "A", "001", 1, ab)
    );
    let kc = net.srv(a).known_server("C").unwrap();
    assert_eq!((kc.hops, kc.uplink, kc.sid, kc.via), (2, "B", "002", ab));
    let ka = net.srv(c).known_server("A").unwrap();
    assert_eq!((ka.hops, ka.uplink), (2, "B"));
    assert_eq!(net.srv(b).known_server("C").unwrap().hops, 1);
    assert_eq!(net.srv(b).known_count(), 2);
    assert_eq!(net.check_tree(), [edge("A", "B"), edge("B", "C")].into());
    assert_eq!(net.srv(a).stats().links_registered, 1);
    assert_eq!(net.srv(b).stats().links_registered, 2);
    // The four handshake steps, then the bursts, in order on the wire.
    let cmds = |i, l| -> Vec<String> {
        net.sent_on(i, l)
            .into_iter()
            .map(|w| w[0].clone())
            .take(4)
            .collect()
    };
    assert_eq!(cmds(a, ab), ["LINK", "RESPONSE", "SERVER", "EOB"]);
    assert_eq!(
        cmds(b, net.link_to(b, "A")),
        ["CHALLENGE", "VERIFIED", "SERVER", "EOB"]
    );
    let burst_received = net.srv(a).link(ab).unwrap().burst_received;
    assert!(burst_received);
}

#[test]
fn impostor_holding_another_key_is_refused_in_either_role() {
    let mut net = chain(
        Config::default(),
        &["A", "B", "C", "D"],
        &[("A", "B"), ("B", "C")],
    );
    let (a, d) = (0, 3);
    let fake = || KeyPair::generate(&mut ChaCha8Rng::seed_from_u64(666));
    // It dials A claiming to be B (admitted, sid 001, currently linked).
    let xb = net.add_host("B", "001", fake(), false, false, &[]);
    net.connect(xb, "A");
    let until = net.now + secs(30);
    run_unchanged(&mut net, until);
    assert_eq!(net.srv(xb).links().count(), 0);
    assert_eq!(
        net.srv(a).links().count(),
        1,
        "only the real B is linked to A"
    );
    assert_eq!(net.srv(a).stats().handshakes_failed, 1);
    assert_eq!(net.srv(a).stats().links_registered, 1);
    assert!(net.sent_on(xb, LinkId(1)).iter().any(|w| w[0] == "ERROR"));
    let al = net.link_downs(a)[0].0;
    let cmds: Vec<String> = net
        .sent_on(a, al)
        .into_iter()
        .map(|w| w[0].clone())
        .collect();
    assert_eq!(cmds, ["CHALLENGE"], "A never told the impostor anything");
    assert!(
        net.closes.iter().any(|c| c.1 == xb),
        "the impostor's link was closed"
    );
    // D dials C but reaches an impostor of C, which answers LINK with its own key.
    let xc = net.add_host("C", "002", fake(), false, true, &[]);
    net.connect(d, "C");
    let until = net.now + secs(30);
    run_unchanged(&mut net, until);
    let dl = net.connects.last().unwrap().2;
    assert!(net.sent_on(d, dl).contains(&vec![
        "ERROR".into(),
        "target key does not match the registry".into()
    ]));
    assert_eq!(net.srv(d).links().count(), 0);
    assert_eq!(net.srv(xc).links().count(), 0);
    assert_eq!(net.link_downs(d), [(dl, CloseReason::HandshakeFailed)]);
    net.crash(xb);
    net.crash(xc);
    net.crash(d);
    net.dns.insert("C".into(), 2);
    net.check_tree();
}

#[test]
fn impostor_that_claims_the_right_key_fails_the_counter_challenge() {
    let mut net = chain(Config::default(), &["A", "B", "D"], &[("A", "B")]);
    let d = 2;
    // D dials B, but B's address leads to a scripted impostor.
    let p = net.add_puppet("B");
    net.connect(d, "B");
    net.settle();
    let pl = LinkId(1);
    assert_eq!(net.puppet_got(p, pl)[0][0], "LINK");
    // It knows B's public key, so the challenge it seals to D looks right...
    let b_key = net.registry.get("B").unwrap().key;
    let d_key = net.registry.get("D").unwrap().key;
    let mut plain = vec![7u8; 32];
    plain.extend_from_slice(&b_key.0);
    let sealed = d_key.seal(&mut ChaCha8Rng::seed_from_u64(5), &plain);
    net.puppet_send(p, pl, &hex_frame("CHALLENGE", &sealed));
    let until = net.now + secs(1);
    run_unchanged(&mut net, until);
    assert_eq!(
        net.puppet_got(p, pl)[1][0],
        "RESPONSE",
        "D answered the challenge"
    );
    // ...but it cannot read the counter-challenge sealed to B's real key.
    net.puppet_send(p, pl, &hex_frame("VERIFIED", &[0u8; 32]));
    let until = net.now + secs(30);
    run_unchanged(&mut net, until);
    assert_eq!(
        net.puppet_got(p, pl)[2],
        ["ERROR", "target failed the counter-challenge"]
    );
    assert!(net.peer_closed.iter().any(|c| c.1 == p && c.2 == pl));
    assert_eq!(net.srv(d).links().count(), 0);
    assert_eq!(net.srv(d).stats().links_registered, 0);
}

#[test]
fn unregistered_server_is_refused_in_either_role() {
    let mut net = chain(Config::default(), &["A", "B"], &[("A", "B")]);
    let a = 0;
    let keys = KeyPair::generate(&mut ChaCha8Rng::seed_from_u64(99));
    let u = net.add_host("U", "0UU", keys, false, true, &[]);
    net.connect(u, "A");
    let until = net.now + secs(30);
    run_unchanged(&mut net, until);
    let al = net.link_downs(a)[0].0;
    assert!(net
        .sent_on(a, al)
        .contains(&vec!["ERROR".into(), "not an admitted server".into()]));
    assert_eq!(net.link_downs(a), [(al, CloseReason::HandshakeFailed)]);
    assert!(
        net.sent_on(a, al).iter().all(|w| w[0] == "ERROR"),
        "no CHALLENGE to a stranger"
    );
    net.connect(a, "U");
    let until = net.now + secs(30);
    run_unchanged(&mut net, until);
    let al = net.connects.last().unwrap().2;
    assert!(net
        .sent_on(a, al)
        .contains(&vec!["ERROR".into(), "target not admitted".into()]));
    assert_eq!(net.srv(a).links().count(), 1);
    assert_eq!(net.srv(u).links().count(), 0);
    assert_eq!(net.srv(u).known_count(), 0);
    // An admitted name and key, but not the SID the registry holds for it.
    let keys = net.hosts[1].id.keys.clone();
    let w = net.add_host("B", "0ZZ", keys, false, false, &[]);
    net.connect(w, "A");
    let until = net.now + secs(30);
    run_unchanged(&mut net, until);
    let al = net.link_downs(a)[2].0;
    assert_eq!(net.sent_on(a, al), [["ERROR", "not an admitted server"]]);
    assert_eq!(net.srv(w).links().count(), 0);
    net.crash(u);
    net.crash(w);
    net.check_tree();
}

#[test]
fn silent_peer_is_closed_after_the_handshake_timeout_at_both_ends() {
    let mut net = Net::new(Config::default());
    let a = net.add("A", &[]);
    let p = net.add_puppet("P");
    net.run_until(Instant::ZERO + secs(1));
    let t0 = net.now;
    let pl = net.puppet_dial(p, "A");
    let al = net.wires[&(p, pl)].1;
    net.run_until(t0 + secs(10) - Duration::from_nanos(1));
    assert_eq!(net.srv(a).link_phase(al), Some(LinkPhase::Handshaking));
    net.run_until(t0 + secs(10));
    assert_eq!(net.srv(a).link_phase(al), None);
    assert_eq!(net.link_downs(a), [(al, CloseReason::HandshakeTimeout)]);
    assert_eq!(net.closes, [(t0 + secs(10), a, al)]);
    net.settle();
    assert_eq!(net.peer_closed, [(t0 + secs(10) + ms(10), p, pl)]);
    // The dialling side gives up the same way on a target that never answers.
    let t1 = net.now;
    net.connect(a, "P");
    net.run_for(secs(20));
    let dl = net.connects[0].2;
    assert_eq!(net.puppet_got(p, LinkId(2))[0][0], "LINK");
    assert_eq!(net.link_downs(a)[1], (dl, CloseReason::HandshakeTimeout));
    assert_eq!(
        net.closes[1],
        (t1 + ms(10) + secs(10), a, dl),
        "timed from the connection opening"
    );
    assert_eq!(net.peer_closed[1], (t1 + ms(20) + secs(10), p, LinkId(2)));
    assert_eq!(net.srv(a).stats().handshakes_failed, 2);
}

#[test]
fn a_link_that_would_close_a_loop_is_refused() {
    let mut net = chain(
        Config::default(),
        &["A", "B", "C", "D"],
        &[("A", "B"), ("B", "C"), ("B", "D")],
    );
    let (a, d) = (0, 3);
    let edges = net.check_tree();
    net.connect(d, "A");
    let until = net.now + secs(30);
    run_unchanged(&mut net, until);
    let al = registered_link(&net, a, "D");
    assert!(net
        .sent_on(a, al)
        .contains(&vec!["ERROR".into(), "Already Registered".into()]));
    assert_eq!(net.link_downs(a), [(al, CloseReason::AlreadyRegistered)]);
    assert_eq!(net.srv(a).stats().loops_broken, 1);
    assert_eq!(net.srv(d).links().count(), 1);
    assert_eq!(net.check_tree(), edges);
}

/// {A1-A2} and {B1-B2} join over A1-B1 and A2-B2 at the same instant.
fn merge_two_pairs(latency: Duration, reverse: bool) -> BTreeSet<(String, String)> {
    let mut net = Net::new(Config::default());
    net.latency = latency;
    net.reverse = reverse;
    let [a1, a2, _b1, _b2] = ["A1", "A2", "B1", "B2"].map(|n| net.add(n, &[]));
    net.connect(a1, "A2");
    net.connect(3, "B1");
    net.settle();
    net.run_until(Instant::ZERO + secs(10));
    net.connect(a1, "B1");
    net.connect(a2, "B2");
    net.settle();
    let edges = net.check_tree();
    let broken: Vec<_> = net
        .notes
        .iter()
        .filter(|n| {
            matches!(
                n.2,
                Note::LinkDown {
                    reason: CloseReason::LoopBroken,
                    ..
                }
            )
        })
        .collect();
    assert!(!broken.is_empty(), "the loop was broken by the tree rule");
    // Each server counts the loops it broke: at least one per link it
    // closed for one (mutation survivors: the counters never read).
    for i in 0..4 {
        let closed = broken.iter().filter(|n| n.1 == i).count() as u64;
        assert!(net.srv(i).stats().loops_broken >= closed, "server {i}");
    }
    net.run_for(secs(60));
    assert_eq!(net.check_tree(), edges, "stable");
    edges
}

#[test]
fn simultaneous_links_between_two_components_keep_exactly_one() {
    // Equal stamps: the tag with the larger names (A2-B2) loses.
    let want: BTreeSet<_> = [edge("A1", "A2"), edge("B1", "B2"), edge("A1", "B1")].into();
    for latency in [ms(10), ms(37)] {
        for reverse in [false, true] {
            assert_eq!(
                merge_two_pairs(latency, reverse),
                want,
                "latency {latency:?} reverse {reverse}"
            );
        }
    }
}

#[test]
fn a_pair_dialling_each_other_at_once_keeps_one_link() {
    // Y dials at the same instant as X, or a little later but before X's
    // handshake reaches it: the tie is then broken on registration (by the
    // tags) or by the cycle rule on the bursts. Either way the link with
    // the smaller tag, X's (earlier stamp, or equal stamp and initiator X),
    // is kept at both ends.
    for latency in [ms(10), ms(37)] {
        for reverse in [false, true] {
            for delay in [0, 10, 25, 35] {
                let mut net = Net::new(Config::default());
                net.latency = latency;
                net.reverse = reverse;
                let x = net.add("X", &[]);
                let y = net.add("Y", &[]);
                net.run_until(Instant::ZERO + secs(1));
                net.connect(x, "Y");
                net.run_for(Duration::from_nanos(latency.as_nanos() * delay / 10));
                net.connect(y, "X");
                net.settle();
                net.run_for(secs(30));
                let case = format!("latency {latency:?} reverse {reverse} delay {delay}");
                assert_eq!(net.check_tree(), [edge("X", "Y")].into(), "{case}");
                assert_eq!(net.connects.len(), 2, "{case}: both dialled");
                let kept = net.link_to(x, "Y");
                assert!(net.srv(x).link(kept).unwrap().outbound, "{case}");
                assert_eq!(net.links_to(y, "X").len(), 1);
            }
        }
    }
}

#[test]
fn squit_is_only_taken_from_the_direction_of_the_server() {
    let links = [("A", "B"), ("B", "C"), ("C", "E"), ("D", "A")];
    let mut net = chain(Config::default(), &["A", "B", "C", "D", "E"], &links);
    let (a, d) = (0, 3);
    let (ab, ad) = (net.link_to(a, "B"), net.link_to(a, "D"));
    let before = net.view(a);
    let sent = net.sent.len();
    net.inject(a, ad, &squit("C", 1));
    assert_eq!(net.view(a), before, "wrong direction: ignored");
    assert_eq!(net.srv(a).stats().misdirected, 1);
    assert_eq!(net.sent.len(), sent, "and not forwarded");
    net.inject(a, ab, &squit("C", 9));
    assert_eq!(net.view(a), before, "another incarnation: ignored");
    net.inject(a, ab, &squit("C", 1));
    let names = |net: &Net, i| net.view(i).into_iter().map(|r| r.0).collect::<Vec<_>>();
    assert_eq!(
        names(&net, a),
        ["B", "D"],
        "C and the subtree behind it are gone"
    );
    assert_eq!(net.sent_on(a, ad).last().unwrap()[..2], ["SQUIT", "C"]);
    assert!(
        net.sent_on(a, ab).iter().all(|w| w[0] != "SQUIT"),
        "not sent back"
    );
    let (after, sent) = (net.view(a), net.sent.len());
    net.inject(a, ab, &squit("C", 1));
    assert_eq!(
        (net.view(a), net.sent.len()),
        (after, sent),
        "a repeated SQUIT is a no-op"
    );
    assert_eq!(net.srv(a).stats().misdirected, 1);
    net.settle();
    assert_eq!(names(&net, d), ["A", "B"], "D applied the forwarded SQUIT");

    // The ablation switch turns the direction check off.
    let mut cfg = Config::default();
    cfg.ablations.no_squit_direction = true;
    let mut net = chain(cfg, &["A", "B", "C", "D", "E"], &links);
    let ad = net.link_to(a, "D");
    net.inject(a, ad, &squit("C", 1));
    assert_eq!(names(&net, a), ["B", "D"]);
    assert_eq!(net.srv(a).stats().misdirected, 0);
}

#[test]
fn bcast_is_only_taken_from_the_direction_of_its_origin() {
    let links = [("A", "B"), ("B", "C"), ("C", "E"), ("D", "A")];
    let mut net = chain(Config::default(), &["A", "B", "C", "D", "E"], &links);
    let (a, c) = (0, 2);
    let (ab, ad) = (net.link_to(a, "B"), net.link_to(a, "D"));
    let sid = net.srv(c).sid().to_string();
    let mut bcast = Vec::new();
    Msg::Bcast {
        origin: &sid,
        id: 7,
        text: "hi",
    }
    .encode(&mut bcast)
    .unwrap();
    let sent = net.sent.len();
    net.inject(a, ad, &bcast);
    assert_eq!(net.srv(a).stats().broadcasts, 0, "wrong direction: refused");
    assert_eq!(net.srv(a).stats().misdirected, 1);
    assert_eq!(net.sent.len(), sent, "and not forwarded");
    net.inject(a, ab, &bcast);
    assert_eq!(net.srv(a).stats().broadcasts, 1);
    assert_eq!(net.sent_on(a, ad).last().unwrap()[0], "BCAST");
    assert!(
        net.sent_on(a, ab).iter().all(|w| w[0] != "BCAST"),
        "not sent back"
    );

    // The ablation switch turns the direction check off: accepted and
    // passed on as if it came from C's side.
    let mut cfg = Config::default();
    cfg.ablations.no_bcast_direction = true;
    let mut net = chain(cfg, &["A", "B", "C", "D", "E"], &links);
    let (ab, ad) = (net.link_to(a, "B"), net.link_to(a, "D"));
    net.inject(a, ad, &bcast);
    assert_eq!(net.srv(a).stats().broadcasts, 1);
    assert_eq!(net.srv(a).stats().misdirected, 0);
    assert_eq!(net.sent_on(a, ab).last().unwrap()[0], "BCAST");
}

fn chat_frame(command: &str, args: &[&str]) -> Vec<u8> {
    let mut b = Vec::new();
    wire::encode(&mut b, command, args).unwrap();
    b
}

/// Since `sent`, A sent nothing but the UID of `uid` on `link`: a
/// refused resolution is not passed on, and the sender is told the user
/// it named (`resolution-reask`).
fn only_reasked(net: &Net, sent: usize, link: LinkId, uid: &str) {
    let since: Vec<_> = net.sent[sent..]
        .iter()
        .map(|s| (s.1, s.2, words(&s.3)))
        .collect();
    assert_eq!(since.len(), 1, "not forwarded, one UID back: {since:?}");
    assert_eq!((since[0].0, since[0].1), (0, link), "{since:?}");
    assert_eq!(since[0].2[..2], ["UID", uid], "{since:?}");
}

/// The resolution `kind` (KILL, REJECT or SAVE) of `uid`, issued by
/// `issuer`; a SAVE saves the claim of timestamp `ts`.
fn resolution_frame(kind: &str, issuer: &str, uid: &str, ts: &str) -> Vec<u8> {
    match kind {
        "KILL" => chat_frame("KILL", &[issuer, uid, "nick collision"]),
        "REJECT" => chat_frame("REJECT", &[issuer, uid]),
        _ => chat_frame("SAVE", &[issuer, uid, ts]),
    }
}

/// Each kind of resolution with the collision policy that issues it (a
/// KILL under `kill`), with the ablation `off` set and not: whether it is
/// set, the config and the kind.
fn resolution_cases(
    kill: crate::config::NickCollision,
    off: fn(&mut crate::config::Ablations) -> &mut bool,
) -> Vec<(bool, Config, &'static str)> {
    use crate::config::NickCollision;
    let policies = [
        (kill, "KILL"),
        (NickCollision::Reject, "REJECT"),
        (NickCollision::TsRename, "SAVE"),
    ];
    let mut cases = Vec::new();
    for ablate in [false, true] {
        for (policy, kind) in policies {
            let mut cfg = Config {
                nick_collision: policy,
                ..Config::default()
            };
            *off(&mut cfg.ablations) = ablate;
            cases.push((ablate, cfg, kind));
        }
    }
    cases
}

/// A in the chain A-B-C-E, D-A, with two users of C's introduced from B's
/// side: "sam" (timestamp 5) and "max". Returns the net, A's links to B
/// and D, C's and D's SIDs and the users' UIDs.
#[allow(clippy::type_complexity)]
fn users_of_c(cfg: Config) -> (Net, LinkId, LinkId, String, String, [String; 2]) {
    let links = [("A", "B"), ("B", "C"), ("C", "E"), ("D", "A")];
    let mut net = chain(cfg, &["A", "B", "C", "D", "E"], &links);
    let (a, c, d) = (0, 2, 3);
    let (ab, ad) = (net.link_to(a, "B"), net.link_to(a, "D"));
    let (c_sid, d_sid) = (net.srv(c).sid().to_string(), net.srv(d).sid().to_string());
    let uids = [format!("{c_sid}-1-1"), format!("{c_sid}-1-2")];
    net.inject(a, ab, &chat_frame("UID", &[&uids[0], "sam", "5", "5"]));
    net.inject(a, ab, &chat_frame("UID", &[&uids[1], "max", "6", "6"]));
    assert_eq!(net.srv(a).user_count(), 2);
    (net, ab, ad, c_sid, d_sid, uids)
}

/// B's introduction of C again, one hop longer: the route to C behind B
/// changes shape, so A asks B for C's users (USYNC).
fn route_to_c_reshaped(net: &mut Net, ab: LinkId) {
    let intro = net
        .sent_on(1, net.link_to(1, "A"))
        .into_iter()
        .find(|w| w[0] == "SERVER" && w[1] == "C")
        .expect("B introduced C to A");
    let mut w: Vec<&str> = intro.iter().map(String::as_str).collect();
    w[2] = "2";
    net.inject(0, ab, &encoded(&w));
}

fn nick_of(net: &Net, i: usize, uid: &str) -> Option<String> {
    net.srv(i)
        .users()
        .find(|u| u.0 == uid)
        .map(|u| u.1.to_string())
}

/// A KILL, SAVE or REJECT is issued by whichever server saw both claims,
/// and is taken only from the link toward that server, like a BCAST from
/// its origin. The victim's server is no guide: a KILL issued by D reaches
/// A from D's side, away from C, and is applied.
#[test]
fn kill_is_only_taken_from_the_direction_of_its_issuer() {
    let (mut net, ab, ad, c_sid, d_sid, [sam, max]) = users_of_c(Config::default());
    let a = 0;
    let sent = net.sent.len();
    net.inject(a, ad, &chat_frame("KILL", &[&c_sid, &sam, "test"]));
    assert_eq!(nick_of(&net, a, &sam).as_deref(), Some("sam"), "wrong side");
    assert_eq!(net.srv(a).stats().misdirected, 1);
    assert_eq!(net.srv(a).stats().resolutions, 0);
    only_reasked(&net, sent, ad, &sam);
    // Nor is a copy of A's own KILL that comes back round a cycle.
    let a_sid = net.srv(a).sid().to_string();
    net.inject(a, ab, &chat_frame("KILL", &[&a_sid, &sam, "test"]));
    assert_eq!(net.srv(a).stats().misdirected, 2);
    assert_eq!(nick_of(&net, a, &sam).as_deref(), Some("sam"));

    net.inject(a, ab, &chat_frame("KILL", &[&c_sid, &sam, "test"]));
    assert_eq!(nick_of(&net, a, &sam), None, "from C's side: applied");
    assert_eq!(net.srv(a).stats().resolutions, 1);
    assert_eq!(
        net.sent_on(a, ad).last().unwrap(),
        &["KILL", &*c_sid, &*sam, "test"],
        "passed on naming the same issuer"
    );
    assert!(
        net.sent_on(a, ab).iter().all(|w| w[0] != "KILL"),
        "not sent back"
    );

    net.inject(a, ad, &chat_frame("KILL", &[&d_sid, &max, "test"]));
    assert_eq!(nick_of(&net, a, &max), None, "issued by D, from D's side");
    assert_eq!(net.srv(a).stats().resolutions, 2);
    assert_eq!(net.srv(a).stats().misdirected, 2);

    // The ablation switch turns the direction check off.
    let mut cfg = Config::default();
    cfg.ablations.no_collision_direction = true;
    let (mut net, _, ad, c_sid, _, [sam, _]) = users_of_c(cfg);
    net.inject(a, ad, &chat_frame("KILL", &[&c_sid, &sam, "test"]));
    assert_eq!(nick_of(&net, a, &sam), None);
    assert_eq!(net.srv(a).stats().misdirected, 0);
}

#[test]
fn save_is_only_taken_from_the_direction_of_its_issuer() {
    let cfg = Config {
        nick_collision: crate::config::NickCollision::TsRename,
        ..Config::default()
    };
    let (mut net, ab, ad, c_sid, _, [sam, _]) = users_of_c(cfg.clone());
    let a = 0;
    let sent = net.sent.len();
    net.inject(a, ad, &chat_frame("SAVE", &[&c_sid, &sam, "5"]));
    assert_eq!(nick_of(&net, a, &sam).as_deref(), Some("sam"), "wrong side");
    assert_eq!(net.srv(a).stats().misdirected, 1);
    assert_eq!(net.srv(a).stats().resolutions, 0);
    only_reasked(&net, sent, ad, &sam);

    net.inject(a, ab, &chat_frame("SAVE", &[&c_sid, &sam, "5"]));
    assert_eq!(
        nick_of(&net, a, &sam),
        Some(sam.clone()),
        "renamed to its UID"
    );
    assert_eq!(net.srv(a).stats().resolutions, 1);
    assert_eq!(
        net.sent_on(a, ad).last().unwrap(),
        &["SAVE", &*c_sid, &*sam, "5"]
    );
    assert!(
        net.sent_on(a, ab).iter().all(|w| w[0] != "SAVE"),
        "not sent back"
    );

    let mut cfg = cfg;
    cfg.ablations.no_collision_direction = true;
    let (mut net, _, ad, c_sid, _, [sam, _]) = users_of_c(cfg);
    net.inject(a, ad, &chat_frame("SAVE", &[&c_sid, &sam, "5"]));
    assert_eq!(nick_of(&net, a, &sam), Some(sam.clone()));
    assert_eq!(net.srv(a).stats().misdirected, 0);
}

/// A user that lost two claims is saved once per claim, whichever order
/// the SAVEs arrive in. Several servers issue a SAVE for the same claim;
/// a server used to remember only the latest claim saved, so the older
/// claim's SAVE arriving late made it take a second copy of the newer
/// one for new and flood it again (swarm-chat seed 294,
/// save-claims-out-of-order.toml).
#[test]
fn each_lost_claim_is_saved_once_whatever_order_the_saves_arrive_in() {
    let cfg = Config {
        nick_collision: crate::config::NickCollision::TsRename,
        ..Config::default()
    };
    let (mut net, ab, ad, c_sid, _, [sam, _]) = users_of_c(cfg);
    let a = 0;
    let b_sid = net.srv(1).sid().to_string();
    net.inject(a, ab, &chat_frame("UNICK", &[&sam, "tom", "7"]));
    assert_eq!(nick_of(&net, a, &sam).as_deref(), Some("tom"));
    // C and B each resolve both collisions; the newer claim's SAVE comes
    // first, then the older claim's, then the second copies.
    net.inject(a, ab, &chat_frame("SAVE", &[&c_sid, &sam, "7"]));
    assert_eq!(nick_of(&net, a, &sam), Some(sam.clone()));
    net.inject(a, ab, &chat_frame("SAVE", &[&c_sid, &sam, "5"]));
    net.inject(a, ab, &chat_frame("SAVE", &[&b_sid, &sam, "7"]));
    net.inject(a, ab, &chat_frame("SAVE", &[&b_sid, &sam, "5"]));
    let saves = |ts: &str| {
        net.sent_on(a, ad)
            .iter()
            .filter(|w| w[0] == "SAVE" && w[2] == sam && w[3] == ts)
            .count()
    };
    assert_eq!((saves("7"), saves("5")), (1, 1), "one SAVE per claim");
    assert_eq!(net.srv(a).stats().resolutions, 2);
    assert_eq!(nick_of(&net, a, &sam), Some(sam.clone()));
}
/// A claim this server resolved itself is saved once, even if the same
/// losing claim reaches it again; under the `no_resolution_once` ablation
/// a repeated SAVE is passed on again (mutation survivor: the ablation's
/// half of the once-only test in `flood_save` could be inverted
/// unnoticed).
#[test]
fn a_claim_lost_here_twice_is_saved_once() {
    let cfg = Config {
        nick_collision: crate::config::NickCollision::TsRename,
        ..Config::default()
    };
    let (mut net, ab, ad, _, _, [sam, _]) = users_of_c(cfg);
    let a = 0;
    // sam claims max's nick, later than max: sam loses, here.
    for _ in 0..2 {
        net.inject(a, ab, &chat_frame("UNICK", &[&sam, "max", "7"]));
        assert_eq!(nick_of(&net, a, &sam), Some(sam.clone()));
    }
    let saves = net
        .sent_on(a, ad)
        .iter()
        .filter(|w| w[0] == "SAVE" && w[2] == sam && w[3] == "7")
        .count();
    assert_eq!(saves, 1);
    assert_eq!(net.srv(a).stats().resolutions, 0, "none taken from others");

    let mut cfg = Config {
        nick_collision: crate::config::NickCollision::TsRename,
        ..Config::default()
    };
    cfg.ablations.no_resolution_once = true;
    let (mut net, ab, ad, c_sid, _, [sam, _]) = users_of_c(cfg);
    for _ in 0..2 {
        net.inject(a, ab, &chat_frame("SAVE", &[&c_sid, &sam, "5"]));
    }
    let saves = net
        .sent_on(a, ad)
        .iter()
        .filter(|w| w[0] == "SAVE" && w[2] == sam)
        .count();
    assert_eq!(saves, 2, "the ablation passes every copy on");
}

/// A nick change carrying a claim this server already saw saved means
/// the user's side never applied that SAVE: the server takes the UID for
/// the nick, and sends its own SAVE both ways, back toward the user too
/// (mutation survivor: `follow_with_save` a no-op).
#[test]
fn a_nick_change_on_a_saved_claim_is_followed_by_a_save_both_ways() {
    let cfg = Config {
        nick_collision: crate::config::NickCollision::TsRename,
        ..Config::default()
    };
    let (mut net, ab, ad, c_sid, _, [sam, _]) = users_of_c(cfg);
    let a = 0;
    let a_sid = net.srv(a).sid().to_string();
    net.inject(a, ab, &chat_frame("SAVE", &[&c_sid, &sam, "7"]));
    net.inject(a, ab, &chat_frame("UNICK", &[&sam, "tom", "7"]));
    assert_eq!(nick_of(&net, a, &sam), Some(sam.clone()));
    for l in [ab, ad] {
        assert!(
            net.sent_on(a, l)
                .iter()
                .any(|w| *w == ["SAVE", a_sid.as_str(), sam.as_str(), "7"]),
            "{l:?}"
        );
    }
}

/// A local client that loses its nick to an older claim is told its new
/// name, its UID (mutation survivor: `flush_renames` a no-op).
#[test]
fn a_local_client_saved_from_a_collision_is_told_its_new_name() {
    let cfg = Config {
        nick_collision: crate::config::NickCollision::TsRename,
        ..Config::default()
    };
    let mut net = chain(cfg, &["A", "B"], &[("A", "B")]);
    net.run_for(secs(10));
    let p = net.add_puppet("sam");
    let l = client_registers(&mut net, p, "A", "sam");
    net.settle();
    let uid = net.srv(0).local_uids().next().unwrap().to_string();
    let b_sid = net.srv(1).sid().to_string();
    let ab = net.link_to(0, "B");
    net.inject(
        0,
        ab,
        &chat_frame("UID", &[&format!("{b_sid}-1-9"), "sam", "1", "1"]),
    );
    net.settle();
    assert!(net
        .puppet_got(p, l)
        .iter()
        .any(|w| *w == ["RENAMED", uid.as_str()]));
}

/// The UID of the user `nick` as server `i` knows it.
fn uid_at(net: &Net, i: usize, nick: &str) -> String {
    let users = net.srv(i).users();
    users
        .filter(|u| u.1 == nick)
        .map(|u| u.0.to_string())
        .next()
        .expect("a known user")
}

/// A room join a server already has (the same membership id) goes no
/// further; one with a new id for a member it knows (a rejoin whose leave
/// it missed) replaces the id and goes on (mutation survivors: the test
/// for the id made always or never true, after the join's two searches
/// became one).
#[test]
fn a_known_join_stops_and_a_renewed_one_goes_on() {
    let (mut net, _) = room_across_b_and_c();
    let (a, b) = (0, 1);
    let (ab, ac) = (net.link_to(a, "B"), net.link_to(a, "C"));
    let uid = uid_at(&net, b, "p1");
    let memid = |net: &Net| -> u64 {
        let s = net.srv(a);
        let r = s.rooms().find(|r| r.name == "#r").expect("#r");
        *r.members.get(uid.as_str()).expect("p1 a member")
    };
    let m = memid(&net);
    let to_c = net.sent_on(a, ac).len();
    net.inject(a, ab, &chat_frame("RJOIN", &["#r", &uid, &m.to_string()]));
    assert!(
        net.sent_on(a, ac)[to_c..].is_empty(),
        "a known join went on"
    );
    assert_eq!(memid(&net), m);
    let renewed = (m + 1).to_string();
    net.inject(a, ab, &chat_frame("RJOIN", &["#r", &uid, &renewed]));
    assert_eq!(
        net.sent_on(a, ac)[to_c..],
        [["RJOIN", "#r", uid.as_str(), renewed.as_str()]]
    );
    assert_eq!(memid(&net), m + 1);
}

/// Servers of one network that know the same users and rooms walk them
/// in one order by the network's ids (what lets the end's check compare
/// them in step without sorting), whatever order each learned them in;
/// the walk holds what the walk by name holds.
#[test]
fn servers_with_the_same_users_walk_them_in_one_id_order() {
    let mut net = chain(
        Config::default(),
        &["A", "B", "C"],
        &[("A", "B"), ("B", "C")],
    );
    net.settle();
    for (i, (server, nick)) in [("C", "zed"), ("A", "amy"), ("B", "max"), ("A", "bob")]
        .into_iter()
        .enumerate()
    {
        let p = net.add_puppet(nick);
        client_joins(&mut net, p, server, nick);
        if i == 1 {
            let p = net.add_puppet("kim");
            let l = client_registers(&mut net, p, "C", "kim");
            net.settle();
            net.puppet_send(p, l, &encoded(&["JOINROOM", "#other"]));
        }
    }
    net.settle();
    let walk = |i: usize| -> Vec<(String, String)> {
        let s = net.srv(i);
        s.users_in_id_order()
            .map(|(u, n, _)| (u.into(), n.into()))
            .collect()
    };
    let rooms = |i: usize| -> Vec<String> {
        net.srv(i)
            .rooms_in_id_order()
            .map(|r| r.name.to_string())
            .collect()
    };
    assert_eq!(walk(0).len(), 5);
    assert_eq!((walk(1), walk(2)), (walk(0), walk(0)));
    assert_eq!((rooms(1), rooms(2)), (rooms(0), rooms(0)));
    let mut by_name = walk(0);
    by_name.sort();
    let named: Vec<(String, String)> = net
        .srv(0)
        .users()
        .map(|(u, n, _)| (u.into(), n.into()))
        .collect();
    assert_eq!(by_name, named);
    let mut room_names = rooms(0);
    room_names.sort();
    assert_eq!(room_names, ["#other", "#r"]);
}

/// A UID has four arguments, six once its user moved (home and move
/// count), and three more of USER fields on either: any other count, or a
/// move count of 0, is malformed: the link is ended (so each case runs on
/// a network of its own) and the user not taken.
#[test]
fn a_uid_is_taken_with_four_six_seven_or_nine_arguments_only() {
    let cases: [(&[&str], bool); 9] = [
        (&["1", "1"], true),
        (&["1", "1", "B", "1"], true),
        (&["1", "1", "u", "h", "real name"], true),
        (&["1", "1", "B", "1", "u", "h", "real name"], true),
        (&["1"], false),
        (&["1", "1", "B"], false),
        (&["1", "1", "B", "1", "u", "h"], false),
        (&["1", "1", "B", "1", "u", "h", "real name", "x"], false),
        (&["1", "1", "B", "0"], false),
    ];
    for (rest, taken) in cases {
        let mut net = chain(Config::default(), &["A", "B"], &[("A", "B")]);
        net.settle();
        let b = net.srv(1).sid().to_string();
        let ab = net.link_to(0, "B");
        let uid = format!("{b}-1-77");
        // "B" stands for B's SID, the home of a user that moved.
        let rest: Vec<&str> = rest
            .iter()
            .map(|&a| if a == "B" { &*b } else { a })
            .collect();
        let args = [&[uid.as_str(), "nick"][..], &rest].concat();
        net.inject(0, ab, &chat_frame("UID", &args));
        let known = net.srv(0).users().any(|u| u.0 == uid);
        assert_eq!(known, taken, "{args:?}");
        // A malformed frame from a server ends the link.
        assert_eq!(net.links_to(0, "B").len() == 1, taken, "{args:?}");
    }
}

#[test]
fn reject_is_only_taken_from_the_direction_of_its_issuer() {
    let cfg = Config {
        nick_collision: crate::config::NickCollision::Reject,
        ..Config::default()
    };
    let (mut net, ab, ad, c_sid, _, [sam, _]) = users_of_c(cfg.clone());
    let a = 0;
    let sent = net.sent.len();
    net.inject(a, ad, &chat_frame("REJECT", &[&c_sid, &sam]));
    assert_eq!(nick_of(&net, a, &sam).as_deref(), Some("sam"), "wrong side");
    assert_eq!(net.srv(a).stats().misdirected, 1);
    assert_eq!(net.srv(a).stats().resolutions, 0);
    only_reasked(&net, sent, ad, &sam);

    net.inject(a, ab, &chat_frame("REJECT", &[&c_sid, &sam]));
    assert_eq!(nick_of(&net, a, &sam), None, "from C's side: applied");
    assert_eq!(net.srv(a).stats().resolutions, 1);
    assert_eq!(
        net.sent_on(a, ad).last().unwrap(),
        &["REJECT", &*c_sid, &*sam]
    );
    assert!(
        net.sent_on(a, ab).iter().all(|w| w[0] != "REJECT"),
        "not sent back"
    );

    let mut cfg = cfg;
    cfg.ablations.no_collision_direction = true;
    let (mut net, _, ad, c_sid, _, [sam, _]) = users_of_c(cfg);
    net.inject(a, ad, &chat_frame("REJECT", &[&c_sid, &sam]));
    assert_eq!(nick_of(&net, a, &sam), None);
    assert_eq!(net.srv(a).stats().misdirected, 0);
}

/// A resolution refused as misdirected, for a user the server holds, is
/// asked for again: the server tells the sender the user (its UID), and
/// the sender, which applied the resolution, answers with it as its
/// issuer, which the direction check passes. At 1 s hops a server
/// refused the only copy of a KILL of a user it held, while the loop rule
/// reshaped the tree between it and the sender; nobody sent it again, and
/// its side kept the user for good
/// (kill-refused-across-a-reshaped-tree-at-1s.toml). Here D has applied
/// C's resolution and passes it on to A, which routes C through B. Not
/// with `resolution-reask` ablated: A keeps sam, and tells D nothing.
#[test]
fn a_resolution_refused_for_a_user_held_is_asked_for_again() {
    let kill = crate::config::NickCollision::TsKill;
    for (ablate, cfg, kind) in resolution_cases(kill, |a| &mut a.no_resolution_reask) {
        let (mut net, ab, ad, c_sid, d_sid, [sam, max]) = users_of_c(cfg);
        net.settle();
        let (a, d) = (0, 3);
        let da = net.link_to(d, "A");
        let resolution = |uid: &str| resolution_frame(kind, &c_sid, uid, "5");
        let kept = (kind == "SAVE").then(|| sam.clone());
        net.inject(d, da, &resolution(&sam));
        assert_eq!(nick_of(&net, d, &sam), kept, "{kind}: D applied it");

        let sent = net.sent.len();
        net.inject(a, ad, &resolution(&sam));
        assert_eq!(net.srv(a).stats().misdirected, 1, "{kind}: refused");
        assert_eq!(nick_of(&net, a, &sam).as_deref(), Some("sam"), "{kind}");
        if ablate {
            assert_eq!(net.sent.len(), sent, "{kind}: ablated, nothing sent");
        } else {
            only_reasked(&net, sent, ad, &sam);
        }
        net.settle();
        if ablate {
            assert_eq!(nick_of(&net, a, &sam).as_deref(), Some("sam"), "{kind}");
            assert_eq!(net.srv(a).stats().resolutions, 0, "{kind}");
            continue;
        }
        assert_eq!(nick_of(&net, a, &sam), kept, "{kind}: D's answer applied");
        assert_eq!(net.srv(a).stats().resolutions, 1, "{kind}");
        assert_eq!(net.srv(a).stats().misdirected, 1, "{kind}: only the first");
        let passed = net
            .sent_on(a, ab)
            .into_iter()
            .filter(|w| w[0] == kind)
            .collect::<Vec<_>>();
        assert_eq!(passed.len(), 1, "{kind}: passed on once");
        assert_eq!(passed[0][1..3], [&*d_sid, &*sam], "{kind}: issued by D");

        // Not for a user whose home lies behind the sender (our UID
        // would be refused there), nor for one we do not hold.
        let sent = net.sent.len();
        let from_c_side = resolution_frame(kind, &d_sid, &max, "6");
        net.inject(a, ab, &from_c_side);
        net.inject(a, ad, &resolution(&format!("{c_sid}-1-9")));
        assert_eq!(net.srv(a).stats().misdirected, 3, "{kind}");
        assert_eq!(net.sent.len(), sent, "{kind}: nothing asked");
        assert!(nick_of(&net, a, &max).is_some(), "{kind}");
    }
}

/// Review of `resolution-reask`: the re-ask reaches the sender as a UID,
/// and the sender checks a UID against the direction of the user's home
/// before it looks at its tombstone. While the tree is reshaped the two
/// views can disagree on that direction too: here D routes C (sam's home)
/// through F, A routes it through B. D takes C's KILL from F's side and
/// passes it to A, which refuses it (misdirected) and tells D sam; D
/// refused that UID as misdirected in turn and answered nothing, and A
/// kept the user it asked about, as before the fix; now D, holding the
/// tombstone, answers the refused UID with the KILL as its issuer, which
/// A takes (D is its neighbour). Chain D-F, D-A, A-B,
/// B-C; D learns C behind F by a route through a link older than every
/// real one (B-C, the newest, loses), and its forward of that route to A
/// is lost.
#[test]
fn a_reask_refused_by_the_sender_as_misdirected_is_answered() {
    let links = [("D", "F"), ("D", "A"), ("A", "B"), ("B", "C")];
    let mut net = chain(Config::default(), &["A", "B", "C", "D", "F"], &links);
    let (a, d) = (0, 3);
    let (ab, ad) = (net.link_to(a, "B"), net.link_to(a, "D"));
    let (da, df) = (net.link_to(d, "A"), net.link_to(d, "F"));
    let c_sid = net.srv(2).sid().to_string();
    let sam = format!("{c_sid}-1-1");
    net.inject(a, ab, &chat_frame("UID", &[&sam, "sam", "5", "5"]));
    net.settle();
    assert_eq!(nick_of(&net, d, &sam).as_deref(), Some("sam"));
    // D moves C behind F; A does not hear of it.
    net.lose.push("SERVER".into());
    net.inject(
        d,
        df,
        &encoded(&["SERVER", "C", "1", &c_sid, "1", "F", "0:C:F:C"]),
    );
    assert_eq!(net.srv(d).known_server("C").map(|k| k.via), Some(df));
    assert_eq!(net.srv(a).known_server("C").map(|k| k.via), Some(ab));
    // C's KILL reaches D from F's side, D's view of C's direction.
    net.inject(
        d,
        df,
        &chat_frame("KILL", &[&c_sid, &sam, "nick collision"]),
    );
    assert_eq!(nick_of(&net, d, &sam), None, "D applied it");
    net.settle();
    assert!(net.srv(a).stats().misdirected >= 1, "A refused D's copy");
    assert!(
        net.sent_on(a, ad)
            .iter()
            .any(|w| w.len() > 1 && w[..2] == ["UID", sam.as_str()]),
        "A asked D"
    );
    let d_answers: Vec<_> = net
        .sent_on(d, da)
        .into_iter()
        .filter(|w| w[0] == "KILL" && w.get(2) == Some(&sam))
        .collect();
    assert!(net.srv(d).stats().misdirected >= 1, "D refused A's UID");
    assert_eq!(
        nick_of(&net, a, &sam),
        None,
        "A still holds sam; D answered: {d_answers:?}"
    );
    assert!(
        d_answers.iter().any(|w| w[1] == net.srv(d).sid()),
        "issued by D"
    );
}

/// A resolution that never reached the loser's side (cut off while it
/// flooded) must not leave that side holding the user for good: when the
/// side introduces the UID again (a burst after the heal, a USYNC answer),
/// the server holding the tombstone answers on that link alone, naming
/// itself as the issuer so the check on its neighbour's side passes.
/// Swarm-chat seeds 57 and 239 (kill-both) ended with a user only part of
/// the network knew, before.
#[test]
fn a_user_reintroduced_after_its_resolution_is_answered_with_it() {
    let kill = crate::config::NickCollision::KillBoth;
    for (ablate, cfg, kind) in resolution_cases(kill, |a| &mut a.no_resolution_answer) {
        let (mut net, ab, ad, _, d_sid, [sam, _]) = users_of_c(cfg);
        let a = 0;
        let a_sid = net.srv(a).sid().to_string();
        let resolution = resolution_frame(kind, &d_sid, &sam, "5");
        net.inject(a, ad, &resolution);
        let kept = (kind == "SAVE").then(|| sam.clone());
        assert_eq!(nick_of(&net, a, &sam), kept, "{kind} applied");
        let count = |net: &Net, l| net.sent_on(a, l).iter().filter(|w| w[0] == kind).count();
        let (on_ab, on_ad) = (count(&net, ab), count(&net, ad));
        let resolutions = net.srv(a).stats().resolutions;

        // C's side, which never got it, introduces sam again.
        net.inject(a, ab, &chat_frame("UID", &[&sam, "sam", "5", "5"]));
        assert_eq!(nick_of(&net, a, &sam), kept, "{kind}: not brought back");
        let want: Vec<&str> = match kind {
            "KILL" => vec!["KILL", &a_sid, &sam, "nick collision"],
            "REJECT" => vec!["REJECT", &a_sid, &sam],
            _ => vec!["SAVE", &a_sid, &sam, "5"],
        };
        if ablate {
            assert_eq!(count(&net, ab), on_ab, "{kind}: ablated, no answer");
        } else {
            assert_eq!(count(&net, ab), on_ab + 1, "{kind}: answered once");
            assert_eq!(net.sent_on(a, ab).last().unwrap(), &want, "{kind}");
        }
        assert_eq!(count(&net, ad), on_ad, "{kind}: only toward C's side");
        assert_eq!(net.srv(a).stats().resolutions, resolutions, "not a new one");

        // The same introduction from the wrong side is refused as
        // misdirected, nothing is introduced or passed on, but the
        // neighbour that sent it is told the resolution all the same
        // (a re-ask the asker's view routed the wrong way; see
        // a_reask_refused_by_the_sender_as_misdirected_is_answered).
        let misdirected = net.srv(a).stats().misdirected;
        let sent = net.sent.len();
        net.inject(a, ad, &chat_frame("UID", &[&sam, "sam", "5", "5"]));
        assert_eq!(net.srv(a).stats().misdirected, misdirected + 1);
        assert_eq!(nick_of(&net, a, &sam), kept, "{kind}: not brought back");
        if ablate {
            assert_eq!(net.sent.len(), sent, "{kind}: nothing sent");
        } else {
            assert_eq!(net.sent.len(), sent + 1, "{kind}: one answer");
            assert_eq!(net.sent_on(a, ad).last().unwrap(), &want, "{kind}");
        }

        // A renamed introduction carries the SAVE already: no answer.
        if kind == "SAVE" && !ablate {
            net.inject(a, ab, &chat_frame("UID", &[&sam, &sam, "5", "5"]));
            assert_eq!(count(&net, ab), on_ab + 1, "no answer to a saved UID");
        }
    }
}

/// The SERVER/EOB frames hub A sends to a newcomer N, as (name, uplink).
fn burst_to_newcomer(cfg: Config) -> Vec<(String, String)> {
    // Names chosen so that name order is not parent order (B under E, C under M).
    let links = [("A", "M"), ("M", "C"), ("C", "Z"), ("A", "E"), ("E", "B")];
    let mut net = chain(cfg, &["A", "M", "C", "Z", "E", "B", "N"], &links);
    net.connect(6, "A");
    net.settle();
    let l = registered_link(&net, 0, "N");
    let mut burst = Vec::new();
    for w in net.sent_on(0, l) {
        match w[0].as_str() {
            "SERVER" => burst.push((w[1].clone(), w[5].clone())),
            "EOB" => {
                burst.push(("EOB".into(), String::new()));
                break;
            }
            _ => {}
        }
    }
    burst
}

/// Whether every SERVER names an uplink introduced before it.
fn parents_first(burst: &[(String, String)]) -> bool {
    let mut seen: Vec<&str> = vec!["*"];
    burst.iter().all(|(n, up)| {
        seen.push(n);
        n == "EOB" || seen.contains(&up.as_str())
    })
}

#[test]
fn bursts_introduce_parents_before_children_then_eob() {
    let burst = burst_to_newcomer(Config::default());
    assert_eq!(burst[0], ("A".into(), "*".into()));
    assert_eq!(burst.last().unwrap().0, "EOB");
    let mut names: Vec<_> = burst.iter().map(|b| b.0.as_str()).collect();
    names.sort();
    assert_eq!(names, ["A", "B", "C", "E", "EOB", "M", "Z"]);
    assert!(parents_first(&burst), "{burst:?}");

    let mut cfg = Config::default();
    cfg.ablations.no_burst_order = true;
    let burst = burst_to_newcomer(cfg);
    assert_eq!(burst.len(), 7);
    assert_eq!(burst.last().unwrap().0, "EOB");
    assert!(!parents_first(&burst), "children come first: {burst:?}");
}

#[test]
fn idle_links_ping_and_a_dead_peer_is_timed_out_and_squit() {
    let mut net = chain(
        Config::default(),
        &["A", "B", "C"],
        &[("A", "B"), ("C", "A")],
    );
    let (a, b, c) = (0, 1, 2);
    let start = net.now;
    net.run_for(secs(60));
    let pings: Vec<_> = net
        .sent
        .iter()
        .filter(|s| words(&s.3)[0] == "PING")
        .cloned()
        .collect();
    assert!(
        pings.len() >= 8,
        "every idle link end pings: {}",
        pings.len()
    );
    for (t, i, l, _) in &pings {
        let last_rx = net
            .got
            .iter()
            .filter(|g| g.1 == *i && g.2 == *l && g.0 < *t)
            .map(|g| g.0)
            .max()
            .unwrap();
        assert_eq!(
            *t,
            last_rx + secs(5),
            "PING after exactly ping_interval of silence"
        );
    }
    assert!(net.got.iter().any(|g| g.1 == a && words(&g.3)[0] == "PONG"));
    assert!(net
        .notes
        .iter()
        .all(|n| !matches!(n.2, Note::LinkDown { .. })));
    assert!(net.now > start + secs(59));

    net.run_for(ms(2500));
    let ab = net.link_to(a, "B");
    net.crash(b);
    let last_rx = net
        .got
        .iter()
        .filter(|g| g.1 == a && g.2 == ab)
        .map(|g| g.0)
        .max()
        .unwrap();
    net.run_for(secs(30));
    let sent = net.sent_on(a, ab);
    let ping_at = net
        .sent
        .iter()
        .rfind(|s| s.1 == a && s.2 == ab && words(&s.3)[0] == "PING")
        .unwrap()
        .0;
    assert_eq!(ping_at, last_rx + secs(5));
    assert_eq!(sent.last().unwrap(), &["ERROR", "ping timeout, 15s"]);
    assert!(net.closes.contains(&(last_rx + secs(15), a, ab)));
    assert_eq!(net.link_downs(a), [(ab, CloseReason::PingTimeout)]);
    assert!(net
        .got
        .iter()
        .any(|g| g.1 == c && starts(&words(&g.3), &["SQUIT", "B"])));
    assert!(net.srv(c).known_server("B").is_none());
    assert_eq!(net.check_tree(), [edge("A", "C")].into());
}

/// The servers' jitter covers the whole of [d/2, d], both ends included
/// (mutation survivor: the range's `+ 1` as `- 1` never left d/2).
#[test]
fn the_servers_jitter_covers_half_the_wait_to_all_of_it() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let waits: BTreeSet<u64> = (0..64)
        .map(|_| super::jitter(&mut rng, Duration::from_nanos(4)).as_nanos())
        .collect();
    assert_eq!(waits.into_iter().collect::<Vec<_>>(), [2, 3, 4]);
}

#[test]
fn autoconnect_backs_off_with_jitter_up_to_the_cap() {
    let mut net = Net::new(Config::default());
    let a = net.add("A", &["B"]);
    let b = net.add("B", &[]);
    net.hosts[b].refuse = true;
    net.handle(a, Input::Start);
    net.run_until(Instant::ZERO + secs(300));
    let (min, max) = (secs(1), secs(30));
    let c: Vec<Instant> = net.connects.iter().map(|x| x.0).collect();
    let f: Vec<Instant> = net.failures.iter().map(|x| x.0).collect();
    assert!(c.len() >= 10, "{} attempts", c.len());
    assert!(
        c[0] >= Instant::ZERO + ms(50) && c[0] <= Instant::ZERO + ms(100),
        "first try {:?}",
        c[0]
    );
    let mut backoff = min;
    let mut jittered = false;
    for k in 0..c.len() - 1 {
        assert_eq!(f[k], c[k] + ms(10));
        let wait = c[k + 1].saturating_since(f[k]);
        let lo = Duration::from_nanos(backoff.as_nanos() / 2);
        assert!(
            wait >= lo && wait <= backoff,
            "retry {k}: waited {wait:?}, backoff {backoff:?}"
        );
        jittered |= wait < backoff;
        backoff = Duration::from_nanos(backoff.as_nanos() * 2).min(max);
    }
    assert!(jittered);
    assert_eq!(backoff, max, "the cap was reached");
    assert_eq!(net.srv(a).autoconnect_targets()[0].backoff, max);
    assert_eq!(net.srv(a).autoconnect_targets()[0].attempts, c.len() as u64);
    // Once the target answers, the link comes up and the backoff resets.
    net.hosts[b].refuse = false;
    net.run_for(secs(40));
    assert_eq!(net.check_tree(), [edge("A", "B")].into());
    assert_eq!(net.srv(a).autoconnect_targets()[0].backoff, min);
    let tries = net.connects.len();
    net.run_for(secs(100));
    assert_eq!(net.connects.len(), tries, "no dialling while connected");
}

#[test]
fn a_restarted_server_supersedes_its_old_link_without_ghosts() {
    let mut net = Net::new(Config::default());
    let a = net.add("A", &[]);
    let b = net.add("B", &[]);
    let c = net.add("C", &["B"]);
    let d = net.add("D", &[]);
    net.connect(a, "B");
    net.connect(d, "A");
    net.handle(c, Input::Start);
    net.settle();
    net.run_for(secs(3));
    assert_eq!(net.check_tree().len(), 3);
    let old = net.link_to(b, "C");
    net.crash(c);
    net.run_for(secs(1));
    net.restart(c);
    net.settle();
    net.run_for(secs(2));
    assert_eq!(net.srv(c).incarnation(), 2);
    assert_eq!(net.link_downs(b), [(old, CloseReason::Superseded)]);
    assert_ne!(net.link_to(b, "C"), old);
    net.check_tree();
    for i in [a, b, d] {
        assert_eq!(net.srv(i).known_server("C").unwrap().incarnation, 2);
    }
    net.run_for(secs(60));
    assert!(net.notes.iter().all(|n| !matches!(
        n.2,
        Note::LinkDown {
            reason: CloseReason::PingTimeout,
            ..
        }
    )));
    assert_eq!(
        net.check_tree(),
        [edge("A", "B"), edge("B", "C"), edge("A", "D")].into()
    );
}

/// Two live links between one pair, the second registered after the
/// first's burst: both ends keep the one with the smaller tag, even when
/// it came second. X's stamps run an hour ahead (as a skewed clock makes
/// them), so Y's later dial carries the smaller stamp. (Mutation
/// survivor: with the tie-break `ranks_first` always false both ends kept
/// the first link, no test had a second link rank first.)
#[test]
fn of_two_live_links_both_ends_keep_the_smaller_tag_even_when_it_came_second() {
    let mut net = Net::new(Config::default());
    let x = net.add("X", &[]);
    let y = net.add("Y", &[]);
    net.hosts[x].srv.as_mut().unwrap().lamport = 3_600_000;
    // Both dial at once, so Y's stamp has not seen X's; Y's path is slow,
    // so its link registers after the first link's burst.
    net.slow_dials.insert(y, ms(200));
    net.connect(x, "Y");
    net.connect(y, "X");
    let first = net.connects[0].2;
    net.settle();
    let (xy, yx) = (net.link_to(x, "Y"), net.link_to(y, "X"));
    assert_ne!(xy, first, "X kept Y's link");
    assert_eq!(net.link_downs(x), [(first, CloseReason::Superseded)]);
    // At Y the same link: the one it dialled.
    assert!(net.srv(y).links().any(|l| l.id == yx && l.outbound));
    assert_eq!(net.srv(x).stats().loops_broken, 0);
    assert_eq!(net.check_tree(), [edge("X", "Y")].into());
}

#[test]
fn a_peer_redialling_over_a_half_open_link_supersedes_it_once_stale() {
    let mut net = Net::new(Config::default());
    let a = net.add("A", &[]);
    let b = net.add("B", &["A"]);
    net.handle(b, Input::Start);
    net.run_for(secs(3));
    let (ab, ba) = (net.link_to(a, "B"), net.link_to(b, "A"));
    // B's end is reset and B redials; A never hears of it (a lost FIN).
    net.wires.remove(&(a, ab));
    net.wires.remove(&(b, ba));
    net.handle(b, Input::Closed { link: ba });
    let last_rx = net
        .got
        .iter()
        .filter(|g| g.1 == a && g.2 == ab)
        .map(|g| g.0)
        .max()
        .unwrap();
    net.run_for(secs(30));
    let (t, _, _) = net
        .notes
        .iter()
        .find(|n| {
            n.1 == a
                && n.2
                    == Note::LinkDown {
                        link: ab,
                        reason: CloseReason::Superseded,
                    }
        })
        .expect("A superseded the half-open link");
    assert!(
        *t >= last_rx + secs(5) && *t < last_rx + secs(15),
        "{t:?}, silent since {last_rx:?}"
    );
    // B's first tries may land while A still hears the old link as live.
    let downs = net.link_downs(a);
    assert!(
        downs
            .iter()
            .all(|d| *d == (ab, CloseReason::Superseded) || d.1 == CloseReason::AlreadyRegistered),
        "{downs:?}"
    );
    net.check_tree();
}

#[test]
fn malformed_frames_get_error_and_close() {
    let bad: &[&[u8]] = &[
        b"<NOPE>",
        b"garbage",
        b"",
        b"<LINK,A>",
        b"<PING>",
        b"<SERVER,X,1,0XX,1,B,garbage>",
        b"<SERVER,X,99999999999,0XX,1,B>",
        b"<VERIFIED,zz>",
        b"\xff<\x00",
    ];
    // Before registration, from a scripted peer.
    for &f in bad {
        let mut net = Net::new(Config::default());
        let a = net.add("A", &[]);
        let p = net.add_puppet("P");
        let pl = net.puppet_dial(p, "A");
        net.puppet_send(p, pl, f);
        net.settle();
        let got = net.puppet_got(p, pl);
        assert_eq!(got.len(), 1, "{f:?}: {got:?}");
        assert_eq!(got[0][0], "ERROR", "{f:?}");
        assert!(
            net.peer_closed.iter().any(|x| x.1 == p && x.2 == pl),
            "{f:?}"
        );
        assert_eq!(net.srv(a).links().count(), 0);
    }
    // On a registered link, as if the peer had sent it.
    let bad_tags: &[&[u8]] = &[
        b"<SERVER,X,1,0XX,1,B,garbage>",
        b"<SERVER,X,1,0XX,1,B,1:A:B:C>",
        b"<SERVER,X,1,0XX,1,B,1:B:A:A>",
        b"<SERVER,A,0,000,1,*>",
    ];
    for &f in bad.iter().chain(bad_tags) {
        let mut net = chain(Config::default(), &["A", "B"], &[("A", "B")]);
        let ab = net.link_to(0, "B");
        let malformed = net.srv(0).stats().malformed;
        net.inject(0, ab, f);
        net.settle();
        assert_eq!(net.sent_on(0, ab).last().unwrap()[0], "ERROR", "{f:?}");
        assert!(net.closes.iter().any(|x| x.1 == 0 && x.2 == ab), "{f:?}");
        assert_eq!(
            net.link_downs(0),
            [(ab, CloseReason::ProtocolError)],
            "{f:?}"
        );
        assert_eq!(net.link_downs(1).len(), 1, "{f:?}: B saw the ERROR");
        assert_eq!((net.srv(0).known_count(), net.srv(1).known_count()), (0, 0));
        if !f.starts_with(b"<SERVER,X,1,") && f != b"<SERVER,A,0,000,1,*>" && f != b"<VERIFIED,zz>"
        {
            assert_eq!(net.srv(0).stats().malformed, malformed + 1, "{f:?}");
        }
    }
}

// ------------------------------------------- regressions for fixed bugs

#[test]
fn relinking_a_live_neighbour_never_loses_the_link() {
    // An idle healthy link is silent for a ping interval once per ping
    // round trip, and each end used to judge "stale" by its own silence: a
    // redundant dial landing in that window made one end supersede the old
    // link while the other refused the new one, leaving the pair unlinked.
    // A long latency widens the window; the sweep covers a ping period.
    for idle in (4000..=10000).step_by(50) {
        for (dialler, target) in [("A", "B"), ("B", "A")] {
            let mut net = Net::new(Config::default());
            net.latency = ms(200);
            let a = net.add("A", &[]);
            net.add("B", &[]);
            net.connect(a, "B");
            net.settle();
            net.run_for(ms(idle));
            let d = net.find(dialler);
            net.connect(d, target);
            net.settle();
            net.run_for(secs(30));
            eprintln!("idle {idle} {dialler} {:?}", net.link_downs(0));
            let edges = net.check_tree();
            assert_eq!(
                edges,
                [edge("A", "B")].into(),
                "idle {idle}ms, {dialler} dials"
            );
        }
    }
}

#[test]
fn an_autoconnect_target_lost_through_a_remote_squit_is_redialled() {
    let mut net = Net::new(Config::default());
    let a = net.add("A", &[]);
    let b = net.add("B", &["A"]);
    let c = net.add("C", &["A"]);
    net.handle(b, Input::Start);
    net.run_for(secs(1));
    assert_eq!(net.links_to(b, "A").len(), 1);
    net.connect(b, "C");
    net.settle();
    // C reaches A through B, so its first attempt is skipped.
    net.handle(c, Input::Start);
    net.run_for(secs(1));
    assert!(net.connects.iter().all(|x| x.1 != c));
    assert_eq!(net.srv(c).known_server("A").unwrap().hops, 2);
    net.crash(a);
    net.run_for(secs(20));
    let squit_at = net
        .got
        .iter()
        .find(|g| g.1 == c && starts(&words(&g.3), &["SQUIT", "A"]))
        .expect("B told C that A is gone")
        .0;
    let first = net.connects.iter().find(|x| x.1 == c).expect("C dials A").0;
    assert!(
        first >= squit_at + ms(500) && first <= squit_at + secs(1),
        "{first:?} after {squit_at:?}"
    );
    net.restart(a);
    net.run_for(secs(60));
    net.check_tree();
}

/// A route through a ghost beat a real one, and when the ghost expired the
/// real route was never announced again (fixed by RESYNC).
///
/// X bounces (incarnation 2, relinked to Y); N still holds its dead link to
/// X#1 until its ping timeout. V links to N (ghost route V-N-X#1-Y) while R
/// links to Y (real route V-R-Y) at the same instant. At V the cycle rule
/// keeps the ghost route for Y because R-Y is the largest tag and trusts R
/// or Y to close R-Y; but R drops the ghost SERVERs as stale (X#1 < X#2)
/// and misdirected, so it never sees a cycle. X#2 from R is misdirected at
/// V (its uplink Y is routed via N). When N timed X#1 out, V and N forgot X
/// and Y for good while R, X and Y knew everyone: `servers.agree` broke,
/// and an autoconnect from N's side to Y's would have been refused forever.
/// Now V remembers that R introduced Y and X along routes it refused, and
/// when it loses them it names them to R, which still knows them and sends
/// its burst again.
#[test]
fn a_ghost_route_must_not_hide_a_live_server_for_good() {
    let (mut net, [_, v, ..]) = ghost_route();
    net.run_for(secs(60));
    assert!(net.srv(v).known_server("Y").is_some(), "V lost Y");
    // When the ghost expired, V named what it lost to R, whose route to
    // them it had refused, and R sent its burst again.
    let resync = net.sent_on(v, net.link_to(v, "R"));
    assert!(resync.iter().any(|w| starts(w, &["RESYNC"])), "{resync:?}");
    net.check_tree();
}

/// V remembers what R introduced along routes it refused until it asks R
/// about it or R takes the introduction back (a mutation survivor: the
/// check for an empty set negated kept the dispute after R's SQUIT).
#[test]
fn a_dispute_ends_once_asked_about_or_taken_back() {
    let (mut net, [_, v, ..]) = ghost_route();
    let via_r = net.link_to(v, "R");
    let disputed = |net: &Net| -> Vec<String> {
        net.srv(v)
            .disputed
            .iter()
            .map(|(n, l)| {
                assert_eq!(*l, via_r);
                n.to_string()
            })
            .collect()
    };
    assert_eq!(disputed(&net), ["X", "Y"]);
    // N takes Y back: V loses it, names it to R and forgets that dispute
    // alone (a mutation survivor: `!hit` as `hit` kept it and dropped X's).
    let via_n = net.link_to(v, "N");
    let inc = net.srv(v).known_server("Y").unwrap().incarnation;
    net.inject(v, via_n, format!("<SQUIT,Y,{inc},gone>").as_bytes());
    assert!(net.srv(v).known_server("Y").is_none());
    let resync = net.sent_on(v, via_r);
    assert!(resync.iter().any(|w| w == &["RESYNC", "Y"]), "{resync:?}");
    assert_eq!(disputed(&net), ["X"]);
    // R takes X back: nothing is left in dispute.
    net.inject(v, via_r, b"<SQUIT,X,2,gone>");
    assert_eq!(disputed(&net), [] as [String; 0]);
}

/// X bounces (incarnation 2, relinked to Y) while N still holds its dead
/// link to X#1; then V links to N and R links to Y at the same instant, so
/// V keeps the ghost route V-N-X#1-Y and refuses R's routes to X and Y.
/// Returns the net and the hosts R, V, N, X, Y.
fn ghost_route() -> (Net, [usize; 5]) {
    let mut net = Net::new(Config::default());
    let [r, v, n, x, y] = [
        ("R", &[][..]),
        ("V", &[]),
        ("N", &[]),
        ("X", &["Y"]),
        ("Y", &[]),
    ]
    .map(|(name, auto)| net.add(name, auto));
    net.connect(r, "V");
    net.connect(x, "Y");
    net.connect(n, "X");
    net.settle();
    net.run_for(secs(2));
    net.crash(x);
    net.restart(x);
    net.settle();
    net.run_for(secs(1));
    assert_eq!(
        net.srv(n).known_server("X").unwrap().incarnation,
        1,
        "N holds a ghost"
    );
    net.connect(v, "N");
    net.connect(r, "Y");
    net.settle();
    let via_n = net.link_to(v, "N");
    assert_eq!(
        net.srv(v).known_server("Y").map(|k| k.via),
        Some(via_n),
        "V keeps the route through the ghost"
    );
    (net, [r, v, n, x, y])
}

/// The same bug found by the soak with servers that autoconnect to two
/// others (5 seeds in 20000 failed, all with a ghost route; these are four).
#[test]
fn soak_multihomed_autoconnect() {
    let seeds = [9191, 11786, 13728, 19514];
    let failed: Vec<String> = seeds
        .into_iter()
        .filter_map(|s| soak_chaos(s, true).err())
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
}

#[test]
fn resync_is_answered_only_by_a_neighbour_that_knows_a_named_server_otherwise() {
    let mut net = chain(
        Config::default(),
        &["A", "B", "C"],
        &[("A", "B"), ("B", "C")],
    );
    let b = net.find("B");
    let to_a = net.link_to(b, "A");
    let before = net.views();
    let bursts = |net: &Net| {
        net.sent_on(b, to_a)
            .iter()
            .filter(|w| starts(w, &["SERVER", "B", "0"]))
            .count()
    };
    let first = bursts(&net);
    // A names servers B knows only through A, or not at all: no answer.
    for names in [&["A"][..], &["Z"], &["A", "Z"]] {
        let mut frame = Vec::new();
        crate::message::encode_resync(&mut frame, names).unwrap();
        net.inject(b, to_a, &frame);
        net.settle();
        assert_eq!(bursts(&net), first, "{names:?}");
    }
    // C lies behind B's other link, and B is B: its burst again, each time,
    // and since A already agrees with it nothing changes.
    for names in [&["C"][..], &["Z", "B"]] {
        let mut frame = Vec::new();
        crate::message::encode_resync(&mut frame, names).unwrap();
        net.inject(b, to_a, &frame);
        net.settle();
    }
    assert_eq!(bursts(&net), first + 2);
    assert_eq!(net.views(), before);
    net.check_tree();
}

/// Starts hub, n1, n2 (both dialling the hub) and n1a (dialling n1 and n2)
/// together, with a user registered on the hub, and returns the servers
/// that end without the user and whether some server asked for users
/// outside a burst and got one back (USYNC answered with a UID).
fn startup_loop_users(cfg: Config, latency: u64, slow: &[u64; 4]) -> (Vec<String>, bool) {
    let mut net = Net::new(cfg);
    net.latency = ms(latency);
    let names = ["hub", "n1", "n2", "n1a"];
    let autos: [&[&str]; 4] = [&[], &["hub"], &["hub"], &["n1", "n2"]];
    for (i, (n, a)) in names.iter().zip(autos).enumerate() {
        net.add(n, a);
        net.slow.insert(i, ms(slow[i]));
    }
    let p = net.add_puppet("alice");
    let c = net.puppet_dial(p, "hub");
    net.puppet_send(p, c, b"<USER,alice>");
    net.puppet_send(p, c, b"<NICK,alice>");
    for i in 0..names.len() {
        net.handle(i, Input::Start);
    }
    net.run_until(Instant::ZERO + secs(8));
    let missing = names
        .iter()
        .enumerate()
        .filter(|&(i, _)| net.srv(i).users().all(|(_, nick, _)| nick != "alice"))
        .map(|(_, n)| n.to_string())
        .collect();
    // Whether some server answered a USYNC with the user.
    let mut asked = BTreeSet::new();
    let mut answered = false;
    for (_, h, l, b) in &net.got {
        let w = words(b);
        if starts(&w, &["USYNC"]) {
            asked.insert((*h, *l));
        }
    }
    for (_, h, l, b) in &net.sent {
        if asked.contains(&(*h, *l)) && starts(&words(b), &["UID"]) {
            answered = true;
        }
    }
    (missing, answered)
}

#[test]
fn a_server_relearned_outside_a_burst_brings_its_users() {
    // Timings under which the loop of four start-up links is broken in
    // different places; in some of them a server drops the hub (and alice
    // with it) on the losing link and re-learns it through a neighbour
    // that learned alice long before and would never send her again.
    let mut cases = Vec::new();
    for latency in [3, 10, 17] {
        for slow in [
            [0, 0, 0, 0],
            [0, 9, 0, 0],
            [0, 0, 9, 0],
            [5, 0, 0, 13],
            [0, 13, 4, 0],
        ] {
            cases.push((latency, slow));
        }
    }
    let mut lost_without = 0;
    let mut repaired = 0;
    for &(latency, slow) in &cases {
        let mut cfg = Config::default();
        cfg.ablations.no_user_resync = true;
        let (missing, _) = startup_loop_users(cfg, latency, &slow);
        if !missing.is_empty() {
            lost_without += 1;
        }
        let (missing, answered) = startup_loop_users(Config::default(), latency, &slow);
        assert!(
            missing.is_empty(),
            "latency {latency} slow {slow:?}: {missing:?} lack alice"
        );
        if answered {
            repaired += 1;
        }
    }
    // The cases do exercise the bug: without USYNC some lose alice for good.
    assert!(lost_without > 0, "no case loses the user without USYNC");
    assert!(repaired >= lost_without);
}

// ------------------------------------------------------------ soak tests

fn root(uf: &[usize], mut x: usize) -> usize {
    while uf[x] != x {
        x = uf[x];
    }
    x
}

/// Random forests merged by random simultaneous (or nearly) links: every
/// component must end as one consistent tree, none split by the merge.
fn soak_merge(seed: u64) -> Result<(), String> {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    let mut rnd = |n: u64| r.next_u64() % n;
    let n = 3 + rnd(7) as usize;
    let mut net = Net::new(Config::default());
    net.latency = ms(1 + rnd(50));
    net.reverse = rnd(2) == 0;
    let names: Vec<String> = (0..n).map(|i| format!("S{i}")).collect();
    for (i, name) in names.iter().enumerate() {
        net.add(name, &[]);
        if rnd(2) == 0 {
            net.slow.insert(i, ms(rnd(40)));
        }
    }
    let mut uf: Vec<usize> = (0..n).collect();
    let mut log = Vec::new();
    let mut link = |net: &mut Net, uf: &mut Vec<usize>, x: usize, y: usize| {
        let rx = root(uf, x);
        uf[rx] = root(uf, y);
        log.push(format!("{:?} {x}->{y}", net.now));
        net.connect(x, &names[y]);
    };
    for i in 1..n {
        if rnd(3) != 0 {
            let j = rnd(i as u64) as usize;
            link(&mut net, &mut uf, i, j);
            net.settle();
        }
    }
    net.run_until(Instant::ZERO + secs(10));
    let spread = rnd(3) * 40;
    for _ in 0..1 + rnd(6) {
        let (x, y) = (rnd(n as u64) as usize, rnd(n as u64) as usize);
        if spread > 0 {
            net.run_for(ms(rnd(spread)));
        }
        if x != y {
            link(&mut net, &mut uf, x, y);
        }
    }
    net.settle();
    net.run_for(secs(60));
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let edges = net.check_forest();
        let components = (0..n).filter(|&x| root(&uf, x) == x).count();
        assert_eq!(
            edges.len() + components,
            n,
            "a component was split: {edges:?}"
        );
    }))
    .map_err(|e| format!("seed {seed}: {:?} {log:?}", e.downcast_ref::<String>()))
}

/// Servers autoconnecting to a random earlier one, then crashes, restarts,
/// quick bounces, operator links and unlinks: once everything is back up
/// the network must re-form one consistent tree that carries broadcasts.
fn soak_chaos(seed: u64, multihomed: bool) -> Result<(), String> {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    let mut rnd = |n: u64| r.next_u64() % n;
    let n = 3 + rnd(6) as usize;
    let mut net = Net::new(Config::default());
    net.latency = ms(1 + rnd(50));
    net.reverse = rnd(2) == 0;
    let names: Vec<String> = (0..n).map(|i| format!("S{i}")).collect();
    for (i, name) in names.iter().enumerate() {
        let mut auto: Vec<&str> = Vec::new();
        if i > 0 {
            auto.push(names[rnd(i as u64) as usize].as_str());
        }
        let extra = &names[rnd(n as u64) as usize];
        if multihomed && rnd(3) == 0 && extra != name && !auto.contains(&extra.as_str()) {
            auto.push(extra);
        }
        net.add(name, &auto);
        if rnd(2) == 0 {
            net.slow.insert(i, ms(rnd(40)));
        }
    }
    for i in 0..n {
        net.handle(i, Input::Start);
    }
    net.run_until(Instant::ZERO + secs(10));
    let mut log = Vec::new();
    let mut down: Vec<usize> = Vec::new();
    for _ in 0..1 + rnd(8) {
        net.run_for(ms(rnd(8000)));
        let (x, y) = (rnd(n as u64) as usize, rnd(n as u64) as usize);
        let up = !down.contains(&x);
        let act = rnd(5);
        log.push(format!("{:?} {act} {x} {y}", net.now));
        match act {
            0 if up => {
                net.crash(x);
                down.push(x);
            }
            1 if !up => {
                net.restart(x);
                down.retain(|&d| d != x);
            }
            2 if up && x != y => net.connect(x, &names[y]),
            3 if up && x != y => {
                net.handle(x, Input::Operator(Command::Unlink { peer: &names[y] }))
            }
            4 if up => {
                net.crash(x);
                net.run_for(ms(rnd(2000)));
                net.restart(x);
            }
            _ => {}
        }
    }
    for x in down {
        net.run_for(ms(rnd(3000)));
        net.restart(x);
    }
    net.run_for(secs(300));
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        net.check_tree();
        net.check_broadcasts();
    }))
    .map_err(|e| format!("seed {seed}: {:?} {log:?}", e.downcast_ref::<String>()))
}

#[test]
fn soak_random_merges() {
    let failed: Vec<String> = (0..300).filter_map(|s| soak_merge(s).err()).collect();
    assert!(failed.is_empty(), "{failed:#?}");
}

#[test]
fn soak_random_crashes_restarts_and_relinks() {
    // Stops at the first failing seed: a change that breaks the tree fails
    // here in a seed or two rather than after all 300 (under a mutant of
    // the path tags, running them all took longer than the mutation
    // run's timeout). `soak_long` lists every failing seed.
    let failed = (0..300).find_map(|s| soak_chaos(s, false).err());
    assert!(failed.is_none(), "{failed:#?}");
}

/// The long form of the soaks above: `cargo test --release -p drc-protocol
/// -- --ignored soak_long`.
#[test]
#[ignore = "long: 20,000 seeds of each soak; run with --release"]
fn soak_long() {
    // The multihomed soak used to fail on a handful of seeds (the
    // ghost-route bug, `a_ghost_route_must_not_hide_a_live_server_for_good`).
    // A first trial fix kept refused routes in reserve and adopted them when
    // the kept route died: it cured these but adopted stale routes in the
    // simulator's multihomed swarm (5 ghosts in 1,000 seeds of
    // scenarios/swarm-mesh.toml). The fix kept asks the neighbour instead
    // (RESYNC) and adopts only what it answers now: all 60,000 runs pass.
    let guarded =
        |kind: &str, seed: u64, f: &dyn Fn() -> Result<(), String>| match std::panic::catch_unwind(
            std::panic::AssertUnwindSafe(f),
        ) {
            Ok(r) => r.err().map(|e| format!("{kind} seed {seed}: {e}")),
            Err(_) => Some(format!("{kind} seed {seed}: panicked")),
        };
    let failed: Vec<String> = (0..20_000u64)
        .flat_map(|s| {
            [
                guarded("merge", s, &|| soak_merge(s)),
                guarded("chaos", s, &|| soak_chaos(s, false)),
                guarded("multihomed", s, &|| soak_chaos(s, true)),
            ]
        })
        .flatten()
        .collect();
    assert!(
        failed.is_empty(),
        "{} failures, first: {:#?}",
        failed.len(),
        failed.first()
    );
}

// ------------------------------------------------- room streams and restarts

fn encoded(parts: &[&str]) -> Vec<u8> {
    let mut b = Vec::new();
    wire::encode(&mut b, parts[0], &parts[1..]).unwrap();
    b
}

/// Puppet `p` dials `server` and registers as `nick` (user name the
/// same), without waiting for the answer; the link.
fn client_registers(net: &mut Net, p: usize, server: &str, nick: &str) -> LinkId {
    let l = net.puppet_dial(p, server);
    net.puppet_send(p, l, &encoded(&["USER", nick]));
    net.puppet_send(p, l, &encoded(&["NICK", nick]));
    l
}

/// Puppet `p` registers on `server` as `nick` and joins `#r`; the link.
fn client_joins(net: &mut Net, p: usize, server: &str, nick: &str) -> LinkId {
    let l = client_registers(net, p, server, nick);
    net.settle();
    net.puppet_send(p, l, &encoded(&["JOINROOM", "#r"]));
    net.settle();
    l
}

/// Puppet `p` says `text` in `#r` the way a client does: GETSEQ, then
/// CSEND with the number it was given. Returns (epoch, sequencer, n).
fn client_says(net: &mut Net, p: usize, l: LinkId, text: &str) -> (String, String, String) {
    let before = net.puppet_got(p, l).len();
    net.puppet_send(p, l, &encoded(&["GETSEQ", "#r"]));
    net.settle();
    let got = net.puppet_got(p, l);
    let new = got[before..]
        .iter()
        .find(|w| w[0] == "NEWSEQ")
        .unwrap_or_else(|| panic!("no NEWSEQ for {text:?}: {:?}", &got[before..]))
        .clone();
    let (e, s, n) = (new[2].clone(), new[3].clone(), new[4].clone());
    let id = format!("{text}/1");
    net.puppet_send(p, l, &encoded(&["CSEND", "#r", &e, &s, &n, &id, text]));
    net.settle();
    (e, s, n)
}

/// The sequencer takes a message only for its current stream: a CSEND
/// naming another epoch, or the same epoch under another sequencer name,
/// fails as stale and uses up nothing (mutation survivor: the two tests
/// joined by `&&` let either through).
#[test]
fn a_message_for_another_epoch_or_sequencer_name_is_refused_as_stale() {
    let mut net = chain(Config::default(), &["A"], &[]);
    let p = net.add_puppet("alice");
    let l = client_joins(&mut net, p, "A", "alice");
    let stale = |net: &mut Net, e: &str, s: &str, n: &str, text: &str| {
        net.puppet_send(p, l, &encoded(&["CSEND", "#r", e, s, n, text, text]));
        net.settle();
        let last = net.puppet_got(p, l).pop().expect("an answer");
        assert_eq!(last[0], "SENDFAIL", "{text}: {last:?}");
        assert!(last.iter().any(|w| w == "stale stream"), "{text}: {last:?}");
    };
    net.puppet_send(p, l, &encoded(&["GETSEQ", "#r"]));
    net.settle();
    let new = net.puppet_got(p, l).pop().expect("NEWSEQ");
    assert_eq!(new[0], "NEWSEQ");
    let (e, s, n) = (new[2].clone(), new[3].clone(), new[4].clone());
    let (sid, inc) = s.rsplit_once('-').expect("SID-incarnation");
    let other = format!("{sid}-{}", inc.parse::<u64>().unwrap() + 7);
    stale(&mut net, "2", &s, &n, "later epoch");
    stale(&mut net, &e, &other, &n, "other incarnation");
    // The number is still held: the right stream takes it.
    net.puppet_send(p, l, &encoded(&["CSEND", "#r", &e, &s, &n, "ok/1", "ok"]));
    net.settle();
    let last = net.puppet_got(p, l).pop().expect("an answer");
    assert_eq!(last[0], "RMSG", "{last:?}");
}

/// `send = "at-once"`: a CSEND numbered 0 passes on toward the sequencer
/// as an RSEND numbered 0, byte for byte, and the sequencer numbers it as
/// it arrives, after a number it holds for another member (which that
/// member can still use), noting the id so the checkers know whose it is.
/// A sender that is not a member is refused, the refusal naming the
/// message by its id after the reason.
#[test]
fn an_unnumbered_message_is_numbered_where_it_arrives() {
    let mut net = chain(Config::default(), &["A", "B"], &[("A", "B")]);
    let bob = net.add_puppet("bob");
    let lb = client_joins(&mut net, bob, "A", "bob");
    let alice = net.add_puppet("alice");
    let la = client_joins(&mut net, alice, "B", "alice");
    let (e, s) = synced_stream(&net, alice, la);
    net.puppet_send(bob, lb, &encoded(&["GETSEQ", "#r"]));
    net.settle();
    let held = net.puppet_got(bob, lb).pop().expect("NEWSEQ");
    assert_eq!((held[0].as_str(), held[4].as_str()), ("NEWSEQ", "1"));
    let csend = encoded(&["CSEND", "#r", &e, &s, "0", "a/1", "hi"]);
    net.puppet_send(alice, la, &csend);
    net.settle();
    let rsend = net.sent_cmd(1, net.link_to(1, "A"), "RSEND");
    assert_eq!(rsend.len(), 1, "{rsend:?}");
    assert_eq!(rsend[0][4], "0", "passed on unnumbered: {:?}", rsend[0]);
    let got = net.puppet_got(alice, la).pop().expect("the echo");
    assert_eq!(got[0], "RMSG", "{got:?}");
    assert_eq!(
        (got[4].as_str(), got[7].as_str()),
        ("2", "a/1"),
        "after the held 1"
    );
    let noted: Vec<Option<String>> = net
        .notes
        .iter()
        .filter_map(|(_, _, n)| match n {
            Note::Chat(crate::ChatNote::Sequenced { n: 2, at_once, .. }) => {
                Some(at_once.as_deref().map(String::from))
            }
            _ => None,
        })
        .collect();
    assert_eq!(noted, [Some("a/1".to_string())]);
    net.puppet_send(
        bob,
        lb,
        &encoded(&["CSEND", "#r", &e, &s, "1", "b/1", "first"]),
    );
    net.settle();
    let got = net.puppet_got(bob, lb).pop().expect("bob's echo");
    assert_eq!((got[0].as_str(), got[4].as_str()), ("RMSG", "1"), "{got:?}");
    // Not a member: refused, named by the id.
    let carol = net.add_puppet("carol");
    let lc = client_registers(&mut net, carol, "B", "carol");
    net.settle();
    net.puppet_send(
        carol,
        lc,
        &encoded(&["CSEND", "#r", &e, &s, "0", "c/1", "hi"]),
    );
    net.settle();
    let got = net.puppet_got(carol, lc).pop().expect("an answer");
    assert_eq!(got, ["SENDFAIL", "#r", &e, &s, "0", "not a member", "c/1"]);
    assert_numbers_unique(&net, 2);
}

/// Alice (on A, the sequencer) in `#r` under `cfg`, her link and the
/// stream (epoch, sequencer) she synced to.
fn alice_in_a_room(cfg: Config) -> (Net, usize, LinkId, String, String) {
    let mut net = chain(cfg, &["A"], &[]);
    let alice = net.add_puppet("alice");
    let la = client_joins(&mut net, alice, "A", "alice");
    let (e, s) = synced_stream(&net, alice, la);
    (net, alice, la, e, s)
}

/// The stream (epoch, sequencer) puppet `p`'s first SYNC on `l` named.
fn synced_stream(net: &Net, p: usize, l: LinkId) -> (String, String) {
    let sync = net
        .puppet_got(p, l)
        .into_iter()
        .find(|w| w[0] == "SYNC")
        .expect("synced");
    (sync[2].clone(), sync[3].clone())
}

/// Under `at-once` the sequencer keeps a sender's messages in its order:
/// two unnumbered messages take the next two numbers, and a stale copy
/// of the first, arriving after the second was numbered, is refused and
/// named by its id; asking first (no guard: such a copy cannot come
/// unnumbered from a client that asks first) or with the `origin-order`
/// ablation it is numbered after the second. With `seq-check` ablated a
/// number nobody holds is taken.
#[test]
fn a_stale_unnumbered_copy_is_refused_under_at_once() {
    let mut at_once = Config {
        send: crate::config::SendMode::AtOnce,
        ..Config::default()
    };
    let mut ablated = at_once.clone();
    ablated.ablations.no_origin_order = true;
    for (cfg, guarded) in [
        (at_once.clone(), true),
        (Config::default(), false),
        (ablated, false),
    ] {
        let (mut net, p, l, e, s) = alice_in_a_room(cfg);
        let say = |net: &mut Net, id: &str| {
            net.puppet_send(p, l, &encoded(&["CSEND", "#r", &e, &s, "0", id, "hi"]));
            net.settle();
            net.puppet_got(p, l).pop().expect("an answer")
        };
        let first = say(&mut net, "a/1");
        let second = say(&mut net, "a/2");
        assert_eq!((first[4].as_str(), second[4].as_str()), ("1", "2"));
        let stale = say(&mut net, "a/1");
        if guarded {
            assert_eq!(
                stale,
                [
                    "SENDFAIL",
                    "#r",
                    &e,
                    &s,
                    "0",
                    "out of its sender's order",
                    "a/1"
                ]
            );
        } else {
            assert_eq!(
                (stale[0].as_str(), stale[4].as_str()),
                ("RMSG", "3"),
                "{stale:?}"
            );
        }
    }
    at_once.ablations.no_seq_check = true;
    let (mut net, p, l, e, s) = alice_in_a_room(at_once);
    net.puppet_send(p, l, &encoded(&["CSEND", "#r", &e, &s, "7", "a/1", "hi"]));
    net.settle();
    let got = net.puppet_got(p, l).pop().expect("an answer");
    assert_eq!((got[0].as_str(), got[4].as_str()), ("RMSG", "7"), "{got:?}");
}

/// Each membership a server makes has a number of its own, so a leave of
/// an older membership arriving late (through another path after the
/// tree changed) leaves the newer one in place (mutation survivor: the
/// counter as `*=` numbered every membership 0).
#[test]
fn a_late_leave_of_an_older_membership_keeps_the_newer() {
    let mut net = chain(Config::default(), &["A", "B"], &[("A", "B")]);
    let p = net.add_puppet("alice");
    let l = client_joins(&mut net, p, "A", "alice");
    net.puppet_send(p, l, &encoded(&["LEAVEROOM", "#r"]));
    net.settle();
    net.puppet_send(p, l, &encoded(&["JOINROOM", "#r"]));
    net.settle();
    let ab = net.link_to(0, "B");
    let joins: Vec<Vec<String>> = net
        .sent_on(0, ab)
        .into_iter()
        .filter(|w| w[0] == "RJOIN")
        .collect();
    assert_eq!(joins.len(), 2, "{joins:?}");
    assert_ne!(joins[0][3], joins[1][3], "one number per membership");
    let uid = joins[0][2].clone();
    let ba = net.link_to(1, "A");
    net.inject(1, ba, &encoded(&["RLEAVE", "#r", &uid, &joins[0][3]]));
    net.settle();
    let r = net.srv(1).rooms().find(|r| r.name == "#r").unwrap();
    assert!(
        r.members.contains_key(uid.as_str()),
        "the newer membership stays"
    );
}

/// A request for a number answers for the stream it names: a closed one
/// (another epoch, or the same epoch under another sequencer name) gets a
/// skip, never the current stream's message of that number (mutation
/// survivor: the two tests joined by `||`).
#[test]
fn a_find_for_a_closed_stream_is_skipped_not_answered_from_the_current() {
    let mut net = chain(Config::default(), &["A"], &[]);
    let p = net.add_puppet("alice");
    let l = client_joins(&mut net, p, "A", "alice");
    let (e, s, n) = client_says(&mut net, p, l, "one");
    let (sid, inc) = s.rsplit_once('-').expect("SID-incarnation");
    let other = format!("{sid}-{}", inc.parse::<u64>().unwrap() + 7);
    for (e, s) in [("2", s.as_str()), (e.as_str(), other.as_str())] {
        net.puppet_send(p, l, &encoded(&["FINDSEQ", "#r", e, s, &n]));
        net.settle();
        let last = net.puppet_got(p, l).pop().expect("an answer");
        assert_eq!(last, ["SKIPSEQ", "#r", e, s, &n]);
    }
}

/// A start point is asked for again only while it is still wanted: a
/// member that left before the retry is not asked about (mutation
/// survivors: either `&&` of the test as `||` kept asking).
#[test]
fn a_start_point_is_not_asked_for_a_member_that_left() {
    let (mut net, bob, l) = bob_joins_with_his_start_lost();
    net.settle();
    net.puppet_send(bob, l, &encoded(&["LEAVEROOM", "#r"]));
    let delay = Config::default().find_delay;
    net.run_for(delay + delay + ms(500));
    let asked = start_requests_from_b(&net);
    assert_eq!(asked, 0);
}

/// A number its holder never used is skipped when the hold runs out, and
/// the skip reaches members on other servers too (mutation survivors:
/// a server dropped SKIPSEQ from a link, or took it for malformed).
#[test]
fn a_skip_reaches_a_member_on_another_server() {
    let mut net = chain(Config::default(), &["A", "B"], &[("A", "B")]);
    let alice = net.add_puppet("alice");
    let la = client_joins(&mut net, alice, "A", "alice");
    let bob = net.add_puppet("bob");
    let lb = client_joins(&mut net, bob, "B", "bob");
    net.puppet_send(alice, la, &encoded(&["GETSEQ", "#r"]));
    net.settle();
    let new = net.puppet_got(alice, la).pop().expect("NEWSEQ");
    assert_eq!(new[0], "NEWSEQ");
    net.run_for(Config::default().seq_hold + secs(1));
    let skip = ["SKIPSEQ", "#r", &new[2], &new[3], &new[4]].map(String::from);
    assert!(
        net.puppet_got(bob, lb).contains(&skip.to_vec()),
        "{:?}",
        net.puppet_got(bob, lb)
    );
}

/// A-B: alice joins #r on A (A sequences it), then bob, registered on B,
/// asks to join it with the RSTART that answers lost on the way. Returns
/// the net, bob's puppet and his link; his JOINROOM is sent, not yet
/// delivered.
fn bob_joins_with_his_start_lost() -> (Net, usize, LinkId) {
    bob_joins_with_his_start_lost_under(Config::default())
}

fn bob_joins_with_his_start_lost_under(cfg: Config) -> (Net, usize, LinkId) {
    let mut net = chain(cfg, &["A", "B"], &[("A", "B")]);
    let alice = net.add_puppet("alice");
    client_joins(&mut net, alice, "A", "alice");
    let bob = net.add_puppet("bob");
    let l = client_registers(&mut net, bob, "B", "bob");
    net.settle();
    net.lose.push("RSTART".into());
    net.puppet_send(bob, l, &encoded(&["JOINROOM", "#r"]));
    (net, bob, l)
}

/// How many times B asked A for a start point (RSTARTREQ).
fn start_requests_from_b(net: &Net) -> usize {
    net.sent_on(1, net.link_to(1, "A"))
        .iter()
        .filter(|w| w[0] == "RSTARTREQ")
        .count()
}

/// Every number the servers sequenced, as (host, room, stream, n).
fn sequenced(net: &Net) -> Vec<(usize, String, crate::Stream, u64)> {
    net.notes
        .iter()
        .filter_map(|(_, h, n)| match n {
            Note::Chat(crate::ChatNote::Sequenced {
                room, stream, n, ..
            }) => Some((*h, room.to_string(), stream.clone(), *n)),
            _ => None,
        })
        .collect()
}

fn assert_numbers_unique(net: &Net, expected: usize) {
    let all = sequenced(net);
    let distinct: BTreeSet<(String, crate::Stream, u64)> = all
        .iter()
        .map(|(_, r, s, n)| (r.clone(), s.clone(), *n))
        .collect();
    assert_eq!(all.len(), expected, "{all:?}");
    assert_eq!(
        distinct.len(),
        all.len(),
        "a number sequenced twice: {all:?}"
    );
}

fn ordering_cfg(ordering: crate::config::Ordering) -> Config {
    Config {
        ordering,
        ..Config::default()
    }
}

#[test]
fn a_restarted_sequencer_never_numbers_its_earlier_stream_again() {
    // One server, one client: two messages, a crash, a restart, the room
    // created afresh, one more message. The restarted process has no
    // record of the numbers it issued, so only the stream's name can keep
    // it from issuing them again.
    for ordering in [
        crate::config::Ordering::Epoch,
        crate::config::Ordering::Home,
    ] {
        let mut net = Net::new(ordering_cfg(ordering));
        let a = net.add("A", &[]);
        let p = net.add_puppet("alice");
        net.handle(a, Input::Start);
        let l = client_joins(&mut net, p, "A", "alice");
        let first = client_says(&mut net, p, l, "one");
        let second = client_says(&mut net, p, l, "two");
        assert_eq!(first, ("1".into(), "000-1".into(), "1".into()));
        assert_eq!(second.2, "2");
        net.crash(a);
        net.restart(a);
        let l = client_joins(&mut net, p, "A", "alice");
        let third = client_says(&mut net, p, l, "three");
        assert_eq!(
            third,
            ("1".into(), "000-2".into(), "1".into()),
            "{ordering:?}"
        );
        assert_numbers_unique(&net, 3);
    }
}

#[test]
fn a_restarted_sequencer_hearing_its_old_stream_starts_a_new_epoch() {
    // B keeps the room A numbered; A restarts and relinks. Under `home` the
    // burst names A's earlier incarnation as the sequencer: A starts epoch
    // 2 under its new name and B follows. Under `epoch` B, having lost A,
    // elected itself for epoch 2 first and A follows. Either way numbers go
    // on in a new stream only.
    use crate::config::Ordering::{Epoch, Home};
    for (ordering, seq) in [(Epoch, "001-1"), (Home, "000-2")] {
        let mut net = Net::new(ordering_cfg(ordering));
        let a = net.add("A", &["B"]);
        let b = net.add("B", &[]);
        let (pa, pb) = (net.add_puppet("alice"), net.add_puppet("bob"));
        net.handle(b, Input::Start);
        net.handle(a, Input::Start);
        net.settle();
        let la = client_joins(&mut net, pa, "A", "alice");
        let lb = client_joins(&mut net, pb, "B", "bob");
        client_says(&mut net, pa, la, "alice 1");
        client_says(&mut net, pb, lb, "bob 1");
        net.crash(a);
        net.restart(a);
        net.settle();
        net.run_for(secs(5));
        let la = client_joins(&mut net, pa, "A", "alice");
        let s = client_says(&mut net, pa, la, "alice 2");
        assert_eq!((s.0.as_str(), s.1.as_str()), ("2", seq), "{ordering:?}");
        let s = client_says(&mut net, pb, lb, "bob 2");
        assert_eq!((s.0.as_str(), s.1.as_str()), ("2", seq), "{ordering:?}");
        for i in [a, b] {
            let r = net.srv(i).rooms().next().unwrap();
            assert_eq!((r.stream.epoch, &*r.stream.seq), (2, seq));
        }
        assert_numbers_unique(&net, 4);
    }
}

#[test]
fn a_restarted_sequencers_own_stream_beats_its_earlier_one_without_a_new_epoch() {
    // A restarts while cut off from B and creates the room again, (1,
    // 000-2); B still holds (1, 000-1). At the merge the later incarnation
    // wins the lattice as it is: no server starts another epoch.
    let mut net = Net::new(ordering_cfg(crate::config::Ordering::Home));
    let a = net.add("A", &[]);
    let b = net.add("B", &[]);
    let (pa, pb) = (net.add_puppet("alice"), net.add_puppet("bob"));
    net.handle(b, Input::Start);
    net.handle(a, Input::Start);
    net.connect(a, "B");
    net.settle();
    let la = client_joins(&mut net, pa, "A", "alice");
    let lb = client_joins(&mut net, pb, "B", "bob");
    client_says(&mut net, pa, la, "alice 1");
    net.crash(a);
    net.restart(a);
    let la = client_joins(&mut net, pa, "A", "alice");
    assert_eq!(
        client_says(&mut net, pa, la, "alice 2"),
        ("1".into(), "000-2".into(), "1".into())
    );
    net.connect(a, "B");
    net.settle();
    net.run_for(secs(5));
    for i in [a, b] {
        let r = net.srv(i).rooms().next().unwrap();
        assert_eq!((r.stream.epoch, &*r.stream.seq), (1, "000-2"));
    }
    let s = client_says(&mut net, pb, lb, "bob 1");
    assert_eq!(s, ("1".into(), "000-2".into(), "2".into()));
    assert_numbers_unique(&net, 3);
}

#[test]
fn streams_order_by_epoch_then_smaller_sid_then_later_incarnation() {
    let s = |epoch: u64, seq: &str| crate::Stream {
        epoch,
        seq: seq.into(),
    };
    let beats = super::stream_beats;
    assert!(beats(&s(2, "0AB-1"), &s(1, "0AA-9")));
    assert!(beats(&s(1, "0AA-1"), &s(1, "0AB-1")));
    assert!(beats(&s(1, "0AA-2"), &s(1, "0AA-1")));
    // Incarnations compare as numbers, not as text.
    assert!(beats(&s(1, "0AA-10"), &s(1, "0AA-9")));
    assert!(!beats(&s(1, "0AA-9"), &s(1, "0AA-10")));
    assert!(!beats(&s(1, "0AA-1"), &s(1, "0AA-1")));
}

/// Words of the SYNCs puppet `p` got on `l`, in order.
fn syncs(net: &Net, p: usize, l: LinkId) -> Vec<Vec<String>> {
    net.puppet_got(p, l)
        .into_iter()
        .filter(|w| w[0] == "SYNC")
        .collect()
}

#[test]
fn a_start_point_lost_on_the_way_is_asked_for_again() {
    // A sequences #r (alice joined it first there); bob joins on B, and
    // the RSTART that A sends back for him is lost on the wire. alice
    // speaks meanwhile. B asks again after find_delay and A answers with
    // bob's first start point and the stream's current number, so bob
    // both syncs and learns that number 1 exists. Without the retry
    // (the `start-retry` ablation) bob never syncs.
    for ablate in [false, true] {
        let mut cfg = Config::default();
        cfg.ablations.no_start_retry = ablate;
        let find_delay = cfg.find_delay;
        let mut net = chain(cfg, &["A", "B"], &[("B", "A")]);
        let (pa, pb) = (net.add_puppet("alice"), net.add_puppet("bob"));
        let la = client_joins(&mut net, pa, "A", "alice");
        assert_eq!(syncs(&net, pa, la).len(), 1, "alice syncs at once");
        net.lose.push("RSTART".into());
        let lb = client_joins(&mut net, pb, "B", "bob");
        assert!(net.lose.is_empty(), "an RSTART was sent, and lost");
        assert_eq!(syncs(&net, pb, lb), Vec::<Vec<String>>::new());
        let said = client_says(&mut net, pa, la, "hello");
        assert_eq!(said.2, "1");
        net.run_for(Duration::from_nanos(find_delay.as_nanos() * 3));
        let asked = net
            .sent
            .iter()
            .filter(|s| words(&s.3)[0] == "RSTARTREQ")
            .count();
        let got = syncs(&net, pb, lb);
        if ablate {
            assert_eq!(asked, 0);
            assert!(got.is_empty(), "{got:?}");
        } else {
            assert_eq!(asked, 1, "asked once: the answer stops the asking");
            let starts: Vec<&str> = got.iter().map(|w| w[4].as_str()).collect();
            assert_eq!(starts, ["1", "2"], "{got:?}");
            assert!(got.iter().all(|w| w[1] == "#r" && w[3] == said.1));
        }
    }
}

/// A member's server asks again for its members' start points when a
/// room's sequencer comes back into its view, even when the heal is
/// not on its own link (whose burst makes it ask anyway). Under `home`,
/// bob (on B) is in A's #r with start point 1, B behind M; the link A-M
/// is cut, A drops bob's membership and numbers alice's "hello" 1
/// without him. At the heal M's burst brings the membership back and A
/// gives it a new start point, 2, whose RSTART is lost. B asks again
/// once A is back in its view (RSTARTREQ) and bob learns 2, so that he
/// fetches 1. Without the asking (`start-recheck`) bob stays at 1 for
/// good (start-point-lost-after-a-split.toml); so too without any
/// asking again (`start-retry`, whose retries the asking rides on).
/// A server that comes into view sequencing nothing of ours is not a
/// reason to ask.
#[test]
fn a_start_point_given_anew_after_a_split_is_asked_for_again() {
    for (recheck_off, retry_off) in [(false, false), (true, false), (false, true)] {
        let ablate = recheck_off || retry_off;
        let mut cfg = ordering_cfg(crate::config::Ordering::Home);
        cfg.ablations.no_start_recheck = recheck_off;
        cfg.ablations.no_start_retry = retry_off;
        let find_delay = cfg.find_delay;
        let mut net = chain(cfg, &["A", "M", "B"], &[("M", "A"), ("B", "M")]);
        let (a, m) = (net.find("A"), net.find("M"));
        let (pa, pb) = (net.add_puppet("alice"), net.add_puppet("bob"));
        let la = client_joins(&mut net, pa, "A", "alice");
        let lb = client_joins(&mut net, pb, "B", "bob");
        let starts = |net: &Net| -> Vec<String> {
            syncs(net, pb, lb).iter().map(|w| w[4].clone()).collect()
        };
        assert_eq!(starts(&net), ["1"]);
        let (am, ma) = (net.link_to(a, "M"), net.link_to(m, "A"));
        net.wires.remove(&(a, am));
        net.wires.remove(&(m, ma));
        net.handle(a, Input::Closed { link: am });
        net.handle(m, Input::Closed { link: ma });
        net.settle();
        let said = client_says(&mut net, pa, la, "hello");
        assert_eq!(said.2, "1");
        net.lose.push("RSTART".into());
        net.connect(m, "A");
        net.settle();
        assert!(
            net.lose.is_empty(),
            "the new start point was sent, and lost"
        );
        net.run_for(Duration::from_nanos(find_delay.as_nanos() * 3));
        if ablate {
            assert_eq!(starts(&net), ["1"]);
            continue;
        }
        assert_eq!(starts(&net), ["1", "2"]);
        // D, new to B, sequences no room: B asks nothing more.
        let b = net.find("B");
        let asks = |net: &Net| {
            net.sent
                .iter()
                .filter(|s| s.1 == b && words(&s.3)[0] == "RSTARTREQ")
                .count()
        };
        let before = asks(&net);
        let d = net.add("D", &[]);
        net.handle(d, Input::Start);
        net.connect(d, "A");
        net.settle();
        assert!(net.srv(b).known_server("D").is_some());
        net.run_for(Duration::from_nanos(find_delay.as_nanos() * 3));
        assert_eq!(asks(&net), before);
    }
}

#[test]
fn sid_codes_tell_every_character_apart() {
    // Route-table keys: SIDs that differ in one place, any place, must not
    // share a code.
    let sids = ["0AB", "1AB", "9AB", "0BB", "0AC", "ZAB", "zAB", "A0B"];
    let codes: BTreeSet<u32> = sids.iter().map(|s| super::sid_code(s).expect(s)).collect();
    assert_eq!(codes.len(), sids.len());
    for bad in ["0A", "0ABC", "0A-", "0A "] {
        assert_eq!(super::sid_code(bad), None, "{bad}");
    }
}

#[test]
fn views_and_counters_follow_a_registration() {
    // What the simulator's checkers read must say what happened: a client
    // half-way through registering, the nick it ends with (found under any
    // case, on both servers), and one `frames_in` per frame handed in.
    let mut net = chain(Config::default(), &["A", "B"], &[("B", "A")]);
    let (a, b) = (net.find("A"), net.find("B"));
    let p = net.add_puppet("alice");
    let l = net.puppet_dial(p, "A");
    let (got0, in0) = (net.got.len(), net.srv(a).stats().frames_in);
    // A connection is a client once its first frame says so.
    assert_eq!(net.srv(a).registering_clients(), 0);
    net.puppet_send(p, l, &encoded(&["USER", "alice"]));
    net.settle();
    assert_eq!(
        net.srv(a).registering_clients(),
        1,
        "USER sent, no NICK yet"
    );
    net.puppet_send(p, l, &encoded(&["NICK", "Alice"]));
    net.settle();
    assert_eq!(net.srv(a).registering_clients(), 0);
    let uid = welcomed_uid(&net, p, l);
    let uid = uid.as_str();
    for s in [a, b] {
        assert_eq!(net.srv(s).uid_of_nick("Alice"), Some(uid));
        assert_eq!(net.srv(s).uid_of_nick("ALICE"), Some(uid));
        assert_eq!(net.srv(s).uid_of_nick("bob"), None);
    }
    let handed = net.got[got0..].iter().filter(|g| g.1 == a).count() as u64;
    assert!(handed >= 2, "USER and NICK at least");
    assert_eq!(net.srv(a).stats().frames_in - in0, handed);
}

/// Nick changes to capitals (the index's key is then not the nick), in
/// case only (the key stays) and back to lower case: every server shows
/// the nick as given, finds its user under any case, forgets the nicks
/// given up from the index and remembers them in the history. (The first
/// server a change reaches takes the new nick from the interner; the
/// others take the copy the first one's index holds.) A change in case
/// only was answered NICKOK and never applied (scenario
/// nick-case-change).
#[test]
fn nick_changes_in_case_and_to_capitals_are_applied_on_every_server() {
    let mut net = chain(
        Config::default(),
        &["A", "B", "C"],
        &[("B", "A"), ("C", "B")],
    );
    let servers = [net.find("A"), net.find("B"), net.find("C")];
    let p = net.add_puppet("alice");
    let l = net.puppet_dial(p, "A");
    net.puppet_send(p, l, &encoded(&["USER", "alice"]));
    net.puppet_send(p, l, &encoded(&["NICK", "alice"]));
    net.settle();
    let uid = welcomed_uid(&net, p, l);
    let mut given_up: Vec<&str> = Vec::new();
    let steps = [
        ("BOB", Some("alice")),
        ("Bob", None),
        ("carol", Some("bob")),
        ("Dave", Some("CAROL")),
    ];
    for (nick, gives_up) in steps {
        net.puppet_send(p, l, &encoded(&["NICK", nick]));
        net.settle();
        let answer = net.puppet_got(p, l).into_iter().last().expect("an answer");
        assert_eq!(answer, ["NICKOK", nick]);
        given_up.extend(gives_up);
        for &s in &servers {
            let srv = net.srv(s);
            let shown = srv.users().find(|u| u.0 == uid).map(|u| u.1.to_string());
            assert_eq!(shown.as_deref(), Some(nick), "server {s}");
            for any_case in [nick.to_string(), nick.to_lowercase(), nick.to_uppercase()] {
                assert_eq!(srv.uid_of_nick(&any_case), Some(uid.as_str()), "{any_case}");
            }
            for old in &given_up {
                assert_eq!(srv.uid_of_nick(old), None, "{old} given up, on {s}");
                assert_eq!(
                    srv.resolve_nick(old).as_deref(),
                    Some(uid.as_str()),
                    "{old} remembered on {s}"
                );
            }
        }
    }
    // The very same nick again: answered, nothing changes.
    net.puppet_send(p, l, &encoded(&["NICK", "Dave"]));
    net.settle();
    let answer = net.puppet_got(p, l).into_iter().last().expect("an answer");
    assert_eq!(answer, ["NICKOK", "Dave"]);
}

#[test]
fn under_reject_only_a_registration_is_refused_and_a_nick_change_is_renamed() {
    // Later claims on sam's and max's nicks arrive from C's side: one that
    // registered earlier and changed nick (timestamp 7, registered at 3),
    // one that registers with the nick (8, 8). `reject` refuses only the
    // registration; the nick change is renamed to its UID, as its old
    // nick may be someone else's by now.
    let cfg = Config {
        nick_collision: crate::config::NickCollision::Reject,
        ..Config::default()
    };
    let (mut net, ab, _, c_sid, _, uids) = users_of_c(cfg);
    let a = 0;
    let (changed, registered) = (format!("{c_sid}-1-3"), format!("{c_sid}-1-4"));
    net.inject(a, ab, &chat_frame("UID", &[&changed, "sam", "7", "3"]));
    net.inject(a, ab, &chat_frame("UID", &[&registered, "max", "8", "8"]));
    assert_eq!(nick_of(&net, a, &uids[0]).as_deref(), Some("sam"));
    assert_eq!(nick_of(&net, a, &uids[1]).as_deref(), Some("max"));
    assert_eq!(nick_of(&net, a, &changed), Some(changed.clone()), "renamed");
    assert_eq!(nick_of(&net, a, &registered), None, "refused");
    assert_eq!(net.srv(a).uid_of_nick("sam"), Some(uids[0].as_str()));
}

#[test]
fn a_private_talk_between_users_of_one_server_is_set_up_there() {
    // Request and answer go straight from one local client to the other;
    // an unknown nick is refused.
    let mut net = Net::new(Config::default());
    let a = net.add("A", &[]);
    net.handle(a, Input::Start);
    let (pa, pb) = (net.add_puppet("alice"), net.add_puppet("bob"));
    let la = client_joins(&mut net, pa, "A", "alice");
    let lb = client_joins(&mut net, pb, "A", "bob");
    let alice = net.srv(a).uid_of_nick("alice").unwrap().to_string();
    let bob = net.srv(a).uid_of_nick("bob").unwrap().to_string();
    net.puppet_send(pa, la, &encoded(&["PRIVREQ", "bob", "10.0.0.1:7000"]));
    net.settle();
    let last = |net: &Net, p, l| net.puppet_got(p, l).last().cloned().unwrap();
    assert_eq!(
        last(&net, pb, lb),
        ["PRIVREQ", "alice", &alice, "10.0.0.1:7000"]
    );
    net.puppet_send(
        pb,
        lb,
        &encoded(&["PRIVANS", &alice, "yes", "10.0.0.2:7001"]),
    );
    net.settle();
    assert_eq!(
        last(&net, pa, la),
        ["PRIVANS", "bob", "yes", "10.0.0.2:7001"]
    );
    net.puppet_send(pa, la, &encoded(&["PRIVREQ", "carol", "10.0.0.1:7000"]));
    net.settle();
    assert_eq!(last(&net, pa, la), ["PRIVERR", "carol", "no such nick"]);
    assert_ne!(alice, bob);
}

#[test]
fn an_operator_unlink_holds_the_autoconnect_back_for_reconnect_max() {
    // A dials B by autoconnect; the operator unlinks them at A. A must not
    // dial B straight back (the operator meant it), only after
    // reconnect_max.
    let mut net = Net::new(Config::default());
    let a = net.add("A", &["B"]);
    let b = net.add("B", &[]);
    net.handle(b, Input::Start);
    net.handle(a, Input::Start);
    net.run_for(secs(5));
    assert_eq!(net.check_tree(), [edge("A", "B")].into());
    let max = net.srv(a).config().reconnect_max;
    let dials = net.connects.iter().filter(|c| c.1 == a).count();
    let t0 = net.now;
    net.handle(a, Input::Operator(Command::Unlink { peer: "B" }));
    net.run_for(Duration::from_nanos(max.as_nanos() - ms(1).as_nanos()));
    assert_eq!(
        net.connects.iter().filter(|c| c.1 == a).count(),
        dials,
        "held back"
    );
    net.run_for(secs(5));
    let redial = net
        .connects
        .iter()
        .filter(|c| c.1 == a)
        .nth(dials)
        .map(|c| c.0);
    assert!(redial.is_some_and(|t| t >= t0 + max), "{redial:?}");
    assert_eq!(net.check_tree(), [edge("A", "B")].into());
}

#[test]
fn findseq_from_a_member_elsewhere_is_answered_by_the_sequencer() {
    // A sequences #r; bob on B asks for number 1 (as after a gap): B
    // passes the question on (RFIND) and the message comes back to bob
    // (RRESEND -> RMSG). A number not issued yet gets no answer: it may
    // still be.
    let mut net = chain(Config::default(), &["A", "B"], &[("B", "A")]);
    let (pa, pb) = (net.add_puppet("alice"), net.add_puppet("bob"));
    let la = client_joins(&mut net, pa, "A", "alice");
    let lb = client_joins(&mut net, pb, "B", "bob");
    let (e, s, n) = client_says(&mut net, pa, la, "hello");
    let before = net.puppet_got(pb, lb).len();
    net.puppet_send(pb, lb, &encoded(&["FINDSEQ", "#r", &e, &s, &n]));
    net.settle();
    let got = net.puppet_got(pb, lb)[before..].to_vec();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(&got[0][..5], ["RMSG", "#r", &e, &s, &n]);
    assert_eq!(got[0].last().map(String::as_str), Some("hello"));
    let before = net.puppet_got(pb, lb).len();
    net.puppet_send(pb, lb, &encoded(&["FINDSEQ", "#r", &e, &s, "2"]));
    net.settle();
    assert_eq!(net.puppet_got(pb, lb).len(), before);
}

/// Room traffic sent counts in `frames_out`, one per link, also under the
/// `no_room_routing` ablation, where every local client gets it (mutation
/// survivor: that count could stand still).
#[test]
fn room_frames_sent_are_counted_under_no_room_routing() {
    let mut cfg = Config::default();
    cfg.ablations.no_room_routing = true;
    let mut net = chain(cfg, &["A", "B"], &[("A", "B")]);
    let (p1, p2) = (net.add_puppet("p1"), net.add_puppet("p2"));
    let l1 = client_joins(&mut net, p1, "A", "p1");
    let l2 = client_registers(&mut net, p2, "A", "p2");
    net.settle();
    let (out0, sent0) = (net.srv(0).stats().frames_out, net.sent.len());
    client_says(&mut net, p1, l1, "one");
    let rmsgs = net.sent[sent0..]
        .iter()
        .filter(|s| s.1 == 0 && words(&s.3)[0] == "RMSG")
        .count();
    assert!(
        net.puppet_got(p2, l2).iter().any(|w| w[0] == "RMSG"),
        "not a member, told anyway"
    );
    assert_eq!(net.srv(0).stats().frames_out - out0, rmsgs as u64);
}

/// Room traffic sent counts in `frames_out` on the routed path too, at
/// the sequencer and at a server passing it on (mutation survivor: the
/// count as `*=` stood still).
#[test]
fn room_frames_sent_are_counted_where_they_are_routed() {
    let mut net = chain(Config::default(), &["A", "B"], &[("A", "B")]);
    let (p1, p2) = (net.add_puppet("p1"), net.add_puppet("p2"));
    let l1 = client_joins(&mut net, p1, "A", "p1");
    client_joins(&mut net, p2, "B", "p2");
    let out0 = [0, 1].map(|i| net.srv(i).stats().frames_out);
    let sent0 = net.sent.len();
    client_says(&mut net, p1, l1, "one");
    for i in [0, 1] {
        let rmsgs = net.sent[sent0..]
            .iter()
            .filter(|s| s.1 == i && words(&s.3)[0] == "RMSG")
            .count();
        assert_eq!(rmsgs, if i == 0 { 2 } else { 1 }, "server {i}");
        let counted = net.srv(i).stats().frames_out - out0[i];
        assert!(counted >= rmsgs as u64, "server {i}: {counted} < {rmsgs}");
    }
}

/// Under `no_room_routing` a server passing a room message on sends it to
/// every registered local client once, members or not, and on every
/// member's link but the one it came from; never to a client that has
/// not registered (mutation survivors: the `from` filter turned round
/// sent it back instead of on; `&&` as `||` doubled members' copies and
/// reached unregistered clients).
#[test]
fn under_no_room_routing_a_passed_on_message_reaches_each_client_once() {
    let mut cfg = Config::default();
    cfg.ablations.no_room_routing = true;
    let mut net = chain(cfg, &["A", "B", "C"], &[("A", "B"), ("B", "C")]);
    let [alice, bob, dave, eve, carol] =
        ["alice", "bob", "dave", "eve", "carol"].map(|n| net.add_puppet(n));
    let la = client_joins(&mut net, alice, "A", "alice");
    let lb = client_joins(&mut net, bob, "B", "bob");
    let lc = client_joins(&mut net, carol, "C", "carol");
    let ld = client_registers(&mut net, dave, "B", "dave");
    let le = net.puppet_dial(eve, "B");
    net.puppet_send(eve, le, &encoded(&["USER", "eve"]));
    net.settle();
    let sent0 = net.sent.len();
    client_says(&mut net, alice, la, "one");
    let copies = |net: &Net, p: usize, l: LinkId| {
        net.puppet_got(p, l)
            .iter()
            .filter(|w| w[0] == "RMSG" && w.last().is_some_and(|t| t == "one"))
            .count()
    };
    assert_eq!(copies(&net, bob, lb), 1, "bob");
    assert_eq!(copies(&net, dave, ld), 1, "dave");
    assert_eq!(copies(&net, carol, lc), 1, "carol");
    assert_eq!(copies(&net, eve, le), 0, "eve");
    let back = net.sent[sent0..]
        .iter()
        .filter(|s| s.1 == 1 && s.2 == net.link_to(1, "A") && words(&s.3)[0] == "RMSG")
        .count();
    assert_eq!(back, 0, "sent back to A");
}

/// A member on another server than the sequencer awaits its start point
/// (RSTART), asking again (RSTARTREQ) every `find_delay` until it passes
/// through its server; here it comes at once, so it never asks (mutation
/// survivor: with `start_arrived` a no-op it asked every `find_delay`).
#[test]
fn a_remote_members_start_point_ends_its_asking() {
    let mut net = chain(Config::default(), &["A", "B"], &[("A", "B")]);
    let (p1, p2) = (net.add_puppet("p1"), net.add_puppet("p2"));
    client_joins(&mut net, p1, "A", "p1");
    let l2 = client_joins(&mut net, p2, "B", "p2");
    let delay = Config::default().find_delay;
    net.run_for(delay + delay + delay);
    let asked = net
        .sent_on(1, net.link_to(1, "A"))
        .iter()
        .filter(|w| w[0] == "RSTARTREQ")
        .count();
    assert_eq!(asked, 0);
    assert!(net.puppet_got(p2, l2).iter().any(|w| w[0] == "SYNC"));
}

#[test]
fn an_operator_broadcast_is_a_notice_to_every_local_client() {
    let mut net = chain(Config::default(), &["A", "B"], &[("B", "A")]);
    let (pa, pb) = (net.add_puppet("alice"), net.add_puppet("bob"));
    let la = client_joins(&mut net, pa, "A", "alice");
    let lb = client_joins(&mut net, pb, "B", "bob");
    let a = net.find("A");
    let out0 = net.srv(a).stats().frames_out;
    // Three in a row: each has a number of its own, so B takes each as
    // new (the same number twice would be dropped as a copy).
    for text in ["maintenance", "soon", "now"] {
        net.handle(a, Input::Operator(Command::Broadcast { text }));
    }
    net.settle();
    for (p, l) in [(pa, la), (pb, lb)] {
        let notices: Vec<Vec<String>> = net
            .puppet_got(p, l)
            .into_iter()
            .filter(|w| w[0] == "NOTICE")
            .collect();
        assert_eq!(
            notices,
            [
                ["NOTICE", "maintenance"],
                ["NOTICE", "soon"],
                ["NOTICE", "now"]
            ],
            "puppet {p}"
        );
    }
    // Each went out on A's one server link, counted once, under a number
    // of its own.
    assert!(net.srv(a).stats().frames_out >= out0 + 3);
    let ids: Vec<String> = net
        .sent_on(a, net.link_to(a, "B"))
        .into_iter()
        .filter(|w| w[0] == "BCAST")
        .map(|w| w[2].clone())
        .collect();
    assert_eq!(ids, ["1", "2", "3"]);
}

/// Alice registered on A of the chain A-B-C and joined #r; the operator
/// asks A to move her to C. Returns the net, the puppet, its link to A,
/// her UID and the request id A sent her.
fn alice_asked_to_move(cfg: Config) -> (Net, usize, LinkId, String, String) {
    let mut net = chain(cfg, &["A", "B", "C"], &[("A", "B"), ("B", "C")]);
    let p = net.add_puppet("alice");
    let l = client_joins(&mut net, p, "A", "alice");
    let uid = net.srv(0).local_uids().next().unwrap().to_string();
    let id = redirect_alice_to_c(&mut net, p, l);
    (net, p, l, uid, id)
}

/// A (server 0) redirects alice, puppet `p` on its link `l`, to C; the
/// request id she was sent.
fn redirect_alice_to_c(net: &mut Net, p: usize, l: LinkId) -> String {
    net.handle(
        0,
        Input::Operator(Command::Redirect {
            user: "alice",
            to: "C",
        }),
    );
    net.settle();
    let got = net.puppet_got(p, l);
    let redirect = got
        .iter()
        .find(|w| starts(w, &["REDIRECT"]))
        .expect("REDIRECT");
    assert_eq!(redirect[2], "C");
    redirect[1].clone()
}

fn homes(net: &Net, uid: &str) -> Vec<String> {
    (0..3)
        .map(|i| {
            let s = net.srv(i);
            s.users()
                .find(|u| u.0 == uid)
                .map_or("-".into(), |u| u.2.to_string())
        })
        .collect()
}

/// Alice (puppet `p`) dials C and hands over with request `id`, and C
/// answers HANDOK; her new link.
fn hands_over_at_c(net: &mut Net, p: usize, id: &str, uid: &str) -> LinkId {
    let new = net.puppet_dial(p, "C");
    net.puppet_send(p, new, &encoded(&["HANDOVER", id, uid]));
    net.settle();
    assert!(net.puppet_got(p, new).iter().any(|w| *w == ["HANDOK", id]));
    new
}

/// The nick timestamp of user `uid` as its first UID frame gave it.
fn uid_ts(net: &Net, uid: &str) -> String {
    net.sent
        .iter()
        .map(|s| words(&s.3))
        .find(|w| w[0] == "UID" && w[1] == uid)
        .expect("the user's UID")[3]
        .clone()
}

/// A user renamed to its UID (SAVE) at its move's target before the move
/// commits hears of it there, after HANDOK: the target had no connection
/// for it when it applied the rename (nick-saved-during-a-move.toml).
#[test]
fn a_user_saved_while_it_moves_is_told_at_handok() {
    let (mut net, p, _, uid, id) = alice_asked_to_move(Config::default());
    let ts = uid_ts(&net, &uid);
    let new = net.puppet_dial(p, "C");
    let (cb, b_sid) = (net.link_to(2, "B"), net.srv(1).sid().to_string());
    net.inject(2, cb, &chat_frame("SAVE", &[&b_sid, &uid, &ts]));
    net.puppet_send(p, new, &encoded(&["HANDOVER", &id, &uid]));
    net.settle();
    let got = net.puppet_got(p, new);
    let at = got
        .iter()
        .position(|w| *w == ["HANDOK", id.as_str()])
        .expect("HANDOK");
    assert_eq!(got[at + 1], ["RENAMED".to_string(), uid.clone()]);
}

/// The target of a move introduces the moved user, once the move
/// completes, on every link it sent a burst on while the move was in:
/// the burst left the user out (not the target's yet), and a server
/// behind that link that dropped the user at the UMOVE (the target out
/// of its view just then) would never learn it again
/// (moved-while-its-target-relinked.toml). Here D links to C while
/// alice moves from A to C: C's burst to D has no user of C's, and when
/// the move completes C sends D alice's UID and her join, and nothing of
/// the kind on its older link to B. Not with `move-introduce`.
#[test]
fn a_move_target_introduces_the_user_where_it_burst_during_the_move() {
    for ablate in [false, true] {
        let mut cfg = Config::default();
        cfg.ablations.no_move_introduce = ablate;
        let mut net = chain(cfg, &["A", "B", "C", "D"], &[("A", "B"), ("B", "C")]);
        let p = net.add_puppet("alice");
        let l = client_joins(&mut net, p, "A", "alice");
        let uid = net.srv(0).local_uids().next().unwrap().to_string();
        let id = redirect_alice_to_c(&mut net, p, l);
        net.connect(3, "C");
        net.settle();
        let (cd, cb) = (net.link_to(2, "D"), net.link_to(2, "B"));
        let (d_before, b_before) = (net.sent_on(2, cd).len(), net.sent_on(2, cb).len());
        assert!(
            !net.sent_on(2, cd).iter().any(|w| w[0] == "UID"
                && w[1] == uid
                && w.get(5).map(String::as_str) == Some(net.srv(2).sid())),
            "C's burst did not name alice as its own"
        );
        hands_over_at_c(&mut net, p, &id, &uid);
        let after = |net: &Net, link, from: usize| -> Vec<String> {
            net.sent_on(2, link)[from..]
                .iter()
                .filter(|w| (w[0] == "UID" || w[0] == "RJOIN") && w.contains(&uid))
                .map(|w| w[0].clone())
                .collect()
        };
        if ablate {
            assert!(after(&net, cd, d_before).is_empty());
        } else {
            assert_eq!(after(&net, cd, d_before), ["UID", "RJOIN"]);
        }
        assert!(
            after(&net, cb, b_before).is_empty(),
            "B had no burst meanwhile"
        );
        // D took the repeat as one: one alice, homed at C. (D never
        // dropped her here; a_move_caught_up_from_a_uid_is_passed_on and
        // moved-while-its-target-relinked.toml show the recovery.)
        let c_sid = net.srv(2).sid().to_string();
        let on_d: Vec<String> = net
            .srv(3)
            .users()
            .filter(|u| u.0 == uid)
            .map(|u| u.2.to_string())
            .collect();
        assert_eq!(on_d, [c_sid]);
    }
}

/// A server that learns of a move from a UID (it holds the user at its
/// old home: it missed the UMOVE, or takes a target's introduction before
/// the UMOVE) passes the UID on, so that the servers behind it catch up
/// too: it will take the UMOVE as seen when it comes, and pass that on to
/// nobody. Here B hears from C that alice, A's user, moved to C. Not with
/// `move-introduce`.
#[test]
fn a_move_caught_up_from_a_uid_is_passed_on() {
    for ablate in [false, true] {
        let mut cfg = Config::default();
        cfg.ablations.no_move_introduce = ablate;
        let mut net = chain(
            cfg,
            &["A", "B", "C", "D"],
            &[("A", "B"), ("B", "C"), ("C", "D")],
        );
        let p = net.add_puppet("alice");
        client_joins(&mut net, p, "D", "alice");
        let uid = net.srv(3).local_uids().next().unwrap().to_string();
        let (bc, ba) = (net.link_to(1, "C"), net.link_to(1, "A"));
        let before = net.sent_on(1, ba).len();
        let ts = uid_ts(&net, &uid);
        // D's user, moved to C (the move's UID names C and its count).
        let c_sid = net.srv(2).sid().to_string();
        net.inject(
            1,
            bc,
            &chat_frame("UID", &[&uid, "alice", &ts, &ts, &c_sid, "1"]),
        );
        let home_at_b = net
            .srv(1)
            .users()
            .find(|u| u.0 == uid)
            .map(|u| u.2.to_string());
        assert_eq!(home_at_b, Some(c_sid.clone()), "B caught up");
        let passed: Vec<Vec<String>> = net.sent_on(1, ba)[before..]
            .iter()
            .filter(|w| w[0] == "UID" && w[1] == uid)
            .cloned()
            .collect();
        assert_eq!(passed.len(), usize::from(!ablate), "{passed:?}");
    }
}

/// A server that drops a user at a UMOVE to a server out of its view
/// asks for that server's users (USYNC) when it learns the server, even
/// from a burst, which as a rule needs no question: the burst may have
/// been sent before its sender knew the move, and a neighbour that
/// learned the user from this server would never tell it again
/// (moved-to-an-unseen-target.toml). Here B hears that alice, A's user,
/// moved to C, which B does not know, then C links to B. Not with
/// `ask-after-unseen-move`; and a server that came into view with no
/// such move behind it (D) is not asked about.
#[test]
fn a_server_that_dropped_a_user_moved_out_of_view_asks_for_its_users() {
    for ablate in [false, true] {
        let mut cfg = Config::default();
        cfg.ablations.no_ask_after_unseen_move = ablate;
        let mut net = chain(cfg, &["A", "B", "C", "D"], &[("A", "B"), ("C", "D")]);
        let (pa, pd) = (net.add_puppet("alice"), net.add_puppet("dave"));
        client_joins(&mut net, pa, "A", "alice");
        // A user on D, so that C's burst does not say it holds none.
        client_joins(&mut net, pd, "D", "dave");
        let uid = net.srv(0).local_uids().next().unwrap().to_string();
        let (a_sid, c_sid) = (net.srv(0).sid().to_string(), net.srv(2).sid().to_string());
        let ba = net.link_to(1, "A");
        net.inject(1, ba, &chat_frame("UMOVE", &[&uid, &a_sid, &c_sid, "1"]));
        assert!(
            !net.srv(1).users().any(|u| u.0 == uid),
            "B dropped alice, moved behind a split"
        );
        net.connect(2, "B");
        net.settle();
        let bc = net.link_to(1, "C");
        let asked: Vec<String> = net
            .sent_on(1, bc)
            .iter()
            .filter(|w| w[0] == "USYNC")
            .map(|w| w[1].clone())
            .collect();
        if ablate {
            assert!(asked.is_empty(), "{asked:?}");
        } else {
            assert_eq!(asked, [c_sid], "asked about C only, not D");
        }
    }
}

#[test]
fn a_handover_with_the_right_id_moves_the_users_home_everywhere() {
    let (mut net, p, old, uid, id) = alice_asked_to_move(Config::default());
    let c_sid = net.srv(2).sid().to_string();
    let new = hands_over_at_c(&mut net, p, &id, &uid);
    // The source closed the old connection, without a QUIT to anyone.
    assert!(!net.wires.contains_key(&(p, old)));
    assert!(!net.sent.iter().any(|s| starts(&words(&s.3), &["UQUIT"])));
    assert_eq!(homes(&net, &uid), [c_sid.clone(), c_sid.clone(), c_sid]);
    assert_eq!(net.srv(0).local_uids().count(), 0);
    assert_eq!(net.srv(2).local_uids().collect::<Vec<_>>(), [uid.as_str()]);
    // Still a member of #r, with the same membership everywhere.
    for i in 0..3 {
        let r = net.srv(i).rooms().find(|r| r.name == "#r").unwrap();
        assert_eq!(r.members.len(), 1, "server {i}");
        assert!(r.members.contains_key(uid.as_str()), "server {i}");
    }
    // And the new server serves her: she can talk there.
    let (_, _, n) = client_says(&mut net, p, new, "hello from C");
    assert_eq!(n, "1");
}

/// A room's kept fan-out follows a member who moves: bob on C hears
/// alice on A (every server keeps #r's fan-out), alice moves to C, and
/// bob's next message reaches her new connection there (mutation
/// survivor: a move that kept the fan-outs built for her old route).
#[test]
fn a_moved_member_still_gets_the_rooms_messages() {
    let mut net = chain(
        Config::default(),
        &["A", "B", "C"],
        &[("A", "B"), ("B", "C")],
    );
    let bob = net.add_puppet("bob");
    let lb = client_joins(&mut net, bob, "C", "bob");
    let p = net.add_puppet("alice");
    let old = client_joins(&mut net, p, "A", "alice");
    let uid = net.srv(0).local_uids().next().unwrap().to_string();
    client_says(&mut net, p, old, "from A");
    client_says(&mut net, bob, lb, "before");
    assert!(net
        .puppet_got(p, old)
        .iter()
        .any(|w| w[0] == "RMSG" && w.contains(&"before".to_string())));
    let id = redirect_alice_to_c(&mut net, p, old);
    let new = net.puppet_dial(p, "C");
    net.puppet_send(p, new, &encoded(&["HANDOVER", &id, &uid]));
    net.settle();
    client_says(&mut net, bob, lb, "after");
    let heard = |w: &Vec<String>| w[0] == "RMSG" && w.contains(&"after".to_string());
    assert_eq!(
        net.puppet_got(p, new).iter().filter(|w| heard(w)).count(),
        1
    );
}

/// Under the `no_home_move` research switch the servers the user does not
/// come to keep her old home, while the target still takes her client
/// (mutation survivor: the switch's `!= Me` as `== Me` stops the target
/// and moves the bystander).
#[test]
fn under_no_home_move_only_the_target_takes_the_new_home() {
    let mut cfg = Config::default();
    cfg.ablations.no_home_move = true;
    let (mut net, p, _old, uid, id) = alice_asked_to_move(cfg);
    let (a_sid, c_sid) = (net.srv(0).sid().to_string(), net.srv(2).sid().to_string());
    hands_over_at_c(&mut net, p, &id, &uid);
    assert_eq!(net.srv(2).local_uids().collect::<Vec<_>>(), [uid.as_str()]);
    assert_eq!(homes(&net, &uid), [a_sid.clone(), a_sid, c_sid]);
}

/// Two users moved to the same target at once: when the source's UMOVE
/// for the second-asked arrives, the first-asked's handover is also
/// waiting at the target, under the lower id. Each user must keep her own
/// connection (mutation survivors: either `&&` of the search for the
/// waiting handover as `||` binds the user to the other's connection).
#[test]
fn two_moves_waiting_at_one_target_each_keep_their_own_connection() {
    let mut net = chain(
        Config::default(),
        &["A", "B", "C"],
        &[("A", "B"), ("B", "C")],
    );
    let mut users = Vec::new();
    for nick in ["alice", "bob"] {
        let p = net.add_puppet(nick);
        let l = client_joins(&mut net, p, "A", nick);
        net.handle(
            0,
            Input::Operator(Command::Redirect {
                user: nick,
                to: "C",
            }),
        );
        net.settle();
        let id = net
            .puppet_got(p, l)
            .into_iter()
            .find(|w| w[0] == "REDIRECT")
            .expect("REDIRECT")[1]
            .clone();
        users.push((p, nick, id));
    }
    // The higher id hands over first; the lower one while the first is
    // still waiting for the source's word.
    users.sort_by(|a, b| b.2.cmp(&a.2));
    let mut new = Vec::new();
    for &(p, nick, ref id) in &users {
        let uid = net
            .srv(0)
            .users()
            .find(|u| u.1 == nick)
            .expect("known at A")
            .0
            .to_string();
        let l = net.puppet_dial(p, "C");
        net.puppet_send(p, l, &encoded(&["HANDOVER", id, &uid]));
        net.run_for(ms(15));
        new.push((p, nick, l));
    }
    net.settle();
    for &(p, nick, l) in &new {
        let got = net.puppet_got(p, l);
        assert!(got.iter().any(|w| w[0] == "HANDOK"), "{nick}: {got:?}");
    }
    assert_eq!(net.srv(2).local_uids().count(), 2);
    for &(p, nick, l) in &new {
        client_says(&mut net, p, l, &format!("hello from {nick}"));
    }
    // Both see both messages, each under its sender's own nick.
    for &(p, nick, l) in &new {
        let shown: Vec<(String, String)> = net
            .puppet_got(p, l)
            .into_iter()
            .filter(|w| w[0] == "RMSG")
            .map(|w| (w[6].clone(), w[8].clone()))
            .collect();
        let want = [("alice", "hello from alice"), ("bob", "hello from bob")]
            .map(|(n, t)| (n.to_string(), t.to_string()));
        assert_eq!(shown, want, "{nick}");
    }
}

#[test]
fn a_foreign_unknown_or_used_id_is_refused_and_changes_nothing() {
    let (mut net, p, _old, uid, id) = alice_asked_to_move(Config::default());
    let a_sid = net.srv(0).sid().to_string();
    // Someone else's UID under alice's id.
    let bob = net.add_puppet("bob");
    let l = net.puppet_dial(bob, "C");
    net.puppet_send(bob, l, &encoded(&["HANDOVER", &id, "0ZZ-1-1"]));
    net.settle();
    let refused = |net: &Net, p: usize, l: LinkId, why: &str| {
        net.puppet_got(p, l)
            .iter()
            .any(|w| *w == ["ERROR".to_string(), format!("redirect refused: {why}")])
    };
    assert!(refused(&net, bob, l, "foreign id"));
    // An id C never heard of is parked for the notice, then refused.
    let l2 = net.puppet_dial(bob, "C");
    net.puppet_send(bob, l2, &encoded(&["HANDOVER", "00000000000000aa", &uid]));
    net.settle();
    assert!(!refused(&net, bob, l2, "unknown id"));
    net.run_for(secs(6));
    assert!(refused(&net, bob, l2, "unknown id"));
    // Nothing moved, and the real request was given up by both ends.
    assert_eq!(homes(&net, &uid), [a_sid.clone(), a_sid.clone(), a_sid]);
    assert_eq!(net.srv(0).pending_moves().count(), 0);
    assert_eq!(net.srv(2).pending_moves().count(), 0);
    // The id, once ended, is unknown: a late handover with it is refused.
    let l3 = net.puppet_dial(p, "C");
    net.puppet_send(p, l3, &encoded(&["HANDOVER", &id, &uid]));
    net.run_for(secs(6));
    assert!(refused(&net, p, l3, "unknown id"));
    assert_eq!(net.srv(0).local_uids().collect::<Vec<_>>(), [uid.as_str()]);
}

/// A handover that reaches the target at its request's deadline, before
/// the target's timer has ended the request, is refused as expired
/// (mutation survivor: the deadline guard could be dropped).
#[test]
fn a_handover_at_the_targets_deadline_is_refused_as_expired() {
    let (mut net, p, _old, uid, id) = alice_asked_to_move(Config::default());
    let (_, _, deadline, _) = net.srv(2).pending_moves().next().expect("C was told");
    let l = net.puppet_dial(p, "C");
    net.run_until(Instant(deadline.0 - 1));
    let (c, cl) = net.wires[&(p, l)];
    assert_eq!(c, 2);
    net.now = deadline;
    net.inject(2, cl, &encoded(&["HANDOVER", &id, &uid]));
    net.settle();
    assert!(net
        .puppet_got(p, l)
        .iter()
        .any(|w| *w == ["ERROR", "redirect refused: expired id"]));
    assert_eq!(net.srv(2).local_uids().count(), 0);
}

/// After a move the target asks the room's sequencer for the member's
/// start point again, and keeps asking every `find_delay` until it comes
/// (mutation survivor: with the retry's test negated, one lost answer
/// left the member without its start point).
#[test]
fn a_moved_members_start_point_is_asked_for_until_it_comes() {
    let (mut net, p, _old, uid, id) = alice_asked_to_move(Config::default());
    let new = net.puppet_dial(p, "C");
    net.lose.push("RSTART".into());
    net.puppet_send(p, new, &encoded(&["HANDOVER", &id, &uid]));
    let delay = Config::default().find_delay;
    net.run_for(delay + delay + delay);
    let asked = net
        .sent_on(2, net.link_to(2, "B"))
        .iter()
        .filter(|w| w[0] == "RSTARTREQ")
        .count();
    assert!(asked >= 2, "asked {asked} times");
    assert!(net.puppet_got(p, new).iter().any(|w| w[0] == "SYNC"));
}

/// A lost start point is asked for again exactly `find_delay` after the
/// first request, after a move as after a join: the retry wakes the
/// server (the retry was once left to the next unrelated wake-up, a ping
/// up to `ping_interval` later; and a mutant scheduling it `find_delay`
/// in the past survived).
#[test]
fn a_lost_start_point_is_asked_for_again_after_find_delay() {
    let delay = Config::default().find_delay;
    let asked_at = |net: &Net, i: usize, l: LinkId| -> Vec<Instant> {
        net.sent
            .iter()
            .filter(|s| s.1 == i && s.2 == l && words(&s.3)[0] == "RSTARTREQ")
            .map(|s| s.0)
            .collect()
    };
    // After a move: C asks A (through B) for alice's start in #r.
    let (mut net, p, _old, uid, id) = alice_asked_to_move(Config::default());
    let new = net.puppet_dial(p, "C");
    net.lose.push("RSTART".into());
    net.puppet_send(p, new, &encoded(&["HANDOVER", &id, &uid]));
    net.run_for(delay + delay + ms(500));
    let cb = net.link_to(2, "B");
    let times = asked_at(&net, 2, cb);
    assert_eq!(times.len(), 2, "{times:?}");
    assert_eq!(times[1], times[0] + delay);
    assert!(net.puppet_got(p, new).iter().any(|w| w[0] == "SYNC"));
    // After a join: bob joins #r on B, which A sequences.
    let (mut net, bob, l) = bob_joins_with_his_start_lost();
    net.run_for(delay + delay + ms(500));
    let ba = net.link_to(1, "A");
    let times = asked_at(&net, 1, ba);
    assert_eq!(times.len(), 1, "{times:?}");
    let joined = net
        .sent
        .iter()
        .find(|s| s.1 == 1 && s.2 == ba && words(&s.3)[0] == "RJOIN")
        .map(|s| s.0);
    assert_eq!(Some(times[0]), joined.map(|t| t + delay));
    assert!(net.puppet_got(bob, l).iter().any(|w| w[0] == "SYNC"));
}

/// A join from a user already a member is answered like a first one:
/// JOINED, then the member's start point, from the sequencer here or
/// asked of it. A client moved while its join crossed the old connection
/// drops the start point the new server sends before the old one's
/// JOINED has come, and joins again there; answered JOINED alone
/// (`rejoin-start`), it waited for a start point for good (swarm-discovery
/// seed 63441 at 1 s hops, start-lost-to-a-join-across-a-move.toml).
#[test]
fn a_members_join_is_answered_with_its_start_point_again() {
    for ablate in [false, true] {
        let mut cfg = Config::default();
        cfg.ablations.no_rejoin_start = ablate;
        // alice on A, which sequences #r; bob on B.
        let mut net = chain(cfg, &["A", "B"], &[("A", "B")]);
        let alice = net.add_puppet("alice");
        let la = client_joins(&mut net, alice, "A", "alice");
        let bob = net.add_puppet("bob");
        let lb = client_joins(&mut net, bob, "B", "bob");
        for (p, l) in [(alice, la), (bob, lb)] {
            let before = net.puppet_got(p, l).len();
            net.puppet_send(p, l, &encoded(&["JOINROOM", "#r"]));
            net.settle();
            let got = net.puppet_got(p, l)[before..].to_vec();
            let cmds: Vec<&str> = got.iter().map(|w| w[0].as_str()).collect();
            let want: &[&str] = if ablate {
                &["JOINED"]
            } else {
                &["JOINED", "SYNC"]
            };
            assert_eq!(cmds, want, "ablated: {ablate}, {got:?}");
            if !ablate {
                assert_eq!(got[1][1..4], got[0][1..4], "the room's stream");
            }
        }
        // The membership is the one there was: no second RJOIN went out.
        let rjoins = net
            .sent_on(1, net.link_to(1, "A"))
            .iter()
            .filter(|w| w[0] == "RJOIN")
            .count();
        assert_eq!(rjoins, 1);
    }
}

/// The source commits a move only on the target's word for that very
/// request: an RDDONE naming another target leaves it pending (mutation
/// survivor: the check could be dropped).
#[test]
fn a_done_naming_another_target_commits_nothing() {
    let (mut net, _p, _old, uid, id) = alice_asked_to_move(Config::default());
    let (a_sid, b_sid) = (net.srv(0).sid().to_string(), net.srv(1).sid().to_string());
    let ab = net.link_to(0, "B");
    net.inject(0, ab, &encoded(&["RDDONE", &id, &uid, &b_sid, &a_sid]));
    assert_eq!(net.srv(0).local_uids().collect::<Vec<_>>(), [uid.as_str()]);
    assert_eq!(net.srv(0).pending_moves().count(), 1);
    assert_eq!(homes(&net, &uid)[0], a_sid);
}

/// A client quicker than the servers: alice's HANDOVER reaches C before
/// A's notice (RDNOTE, slowed at B) and is parked there. Returns the net,
/// the puppet, its new link to C, the request id and her UID.
fn handover_beats_the_notice() -> (Net, usize, LinkId, String, String) {
    let mut net = chain(
        Config::default(),
        &["A", "B", "C"],
        &[("A", "B"), ("B", "C")],
    );
    let p = net.add_puppet("alice");
    let l = client_joins(&mut net, p, "A", "alice");
    let uid = net.srv(0).local_uids().next().unwrap().to_string();
    net.slow.insert(1, ms(200));
    net.handle(
        0,
        Input::Operator(Command::Redirect {
            user: "alice",
            to: "C",
        }),
    );
    net.run_for(ms(50));
    let id = net
        .puppet_got(p, l)
        .into_iter()
        .find(|w| w[0] == "REDIRECT")
        .expect("REDIRECT")[1]
        .clone();
    let new = net.puppet_dial(p, "C");
    net.puppet_send(p, new, &encoded(&["HANDOVER", &id, &uid]));
    net.run_for(ms(50));
    let waiting: Vec<bool> = net.srv(2).pending_moves().map(|m| m.3).collect();
    assert_eq!(waiting, [false], "parked at C before the notice");
    assert!(net.puppet_got(p, new).is_empty());
    (net, p, new, id, uid)
}

/// The parked handover is served when the notice comes (mutation
/// survivor: the notice taken for a repeat, the handover never served).
#[test]
fn a_handover_that_beats_the_notice_waits_for_it() {
    let (mut net, p, new, id, uid) = handover_beats_the_notice();
    net.settle();
    assert!(net
        .puppet_got(p, new)
        .iter()
        .any(|w| *w == ["HANDOK", id.as_str()]));
    assert_eq!(net.srv(2).local_uids().collect::<Vec<_>>(), [uid.as_str()]);
}

/// A parked handover whose connection closes is forgotten at once
/// (mutation survivor: the closed link's moves told apart from the
/// others the wrong way round).
#[test]
fn a_parked_handover_whose_connection_closes_is_forgotten() {
    let (mut net, p, new, _, _) = handover_beats_the_notice();
    let (c, cl) = net.wires[&(p, new)];
    net.handle(c, Input::Closed { link: cl });
    assert_eq!(net.srv(2).pending_moves().count(), 0);
}

/// A cancel that finds only a parked handover (its notice not come, or
/// come and ended here already) refuses the client and ends no request:
/// this server never noted one, or noted its end already. A hunt found
/// the second case (swarm-chat-at-once with latencies to 300 ms, seed
/// 4987 of 4000..5500): the target timed a noted request out, then the
/// client's HANDOVER and the source's cancel, both held up past that,
/// parked a fresh entry and ended it again (`redirect.finishes`).
#[test]
fn a_cancel_of_a_parked_handover_refuses_it_and_ends_nothing() {
    let (mut net, p, new, id, _) = handover_beats_the_notice();
    let ends = |net: &Net| {
        net.notes
            .iter()
            .filter(|(_, h, n)| *h == 2 && matches!(n, Note::Chat(ChatNote::MoveEnded { .. })))
            .count()
    };
    let c_sid = net.srv(2).sid().to_string();
    let cb = net.link_to(2, "B");
    net.inject(2, cb, &chat_frame("RDCANCEL", &[&id, "timed out", &c_sid]));
    assert_eq!(ends(&net), 0, "C noted no request");
    assert_eq!(net.srv(2).pending_moves().count(), 0);
    net.run_for(ms(20));
    assert!(
        net.puppet_got(p, new)
            .iter()
            .any(|w| *w == ["ERROR", "redirect refused: timed out"]),
        "{:?}",
        net.puppet_got(p, new)
    );
}

#[test]
fn a_client_that_refuses_ends_the_request_at_both_ends() {
    let (mut net, p, old, uid, id) = alice_asked_to_move(Config::default());
    assert_eq!(net.srv(2).pending_moves().count(), 1, "C was told");
    net.puppet_send(p, old, &encoded(&["REDIRNO", &id, "refused"]));
    net.settle();
    assert_eq!(net.srv(0).pending_moves().count(), 0);
    assert_eq!(net.srv(2).pending_moves().count(), 0, "cancelled at C");
    let ends: Vec<(usize, &'static str, bool)> = net
        .notes
        .iter()
        .filter_map(|(_, h, n)| match n {
            Note::Chat(ChatNote::MoveEnded {
                outcome, source, ..
            }) => Some((*h, *outcome, *source)),
            _ => None,
        })
        .collect();
    assert_eq!(ends, [(0, "refused", true), (2, "cancelled", false)]);
    assert_eq!(net.srv(0).local_uids().collect::<Vec<_>>(), [uid.as_str()]);
}

#[test]
fn each_end_gives_up_on_its_own_timer() {
    let (mut net, p, old, _uid, id) = alice_asked_to_move(Config::default());
    // The client never answers: after redirect_timeout the source tells it
    // to stay and cancels at the target, which had its own deadline too.
    net.run_for(secs(6));
    assert!(net
        .puppet_got(p, old)
        .iter()
        .any(|w| *w == ["REDIRCANCEL", id.as_str(), "timed-out"]));
    assert_eq!(net.srv(0).pending_moves().count(), 0);
    assert_eq!(net.srv(2).pending_moves().count(), 0);
}

#[test]
fn a_shutdown_moves_every_client_before_closing() {
    let mut net = chain(
        Config::default(),
        &["A", "B", "C"],
        &[("A", "B"), ("B", "C")],
    );
    let mut puppets = Vec::new();
    for nick in ["p1", "p2"] {
        let p = net.add_puppet(nick);
        let l = client_joins(&mut net, p, "B", nick);
        puppets.push((p, l));
    }
    net.handle(1, Input::Operator(Command::Shutdown));
    net.settle();
    // Spread: one to A, one to C (both empty, ties broken by name).
    let mut targets = Vec::new();
    for &(p, l) in &puppets {
        let got = net.puppet_got(p, l);
        let w = got
            .iter()
            .find(|w| starts(w, &["REDIRECT"]))
            .expect("REDIRECT");
        targets.push(w[2].clone());
    }
    assert_eq!(targets, ["A", "C"]);
    // B refuses new clients meanwhile.
    let late = net.add_puppet("late");
    let l = net.puppet_dial(late, "B");
    net.puppet_send(late, l, &encoded(&["USER", "late"]));
    net.settle();
    assert!(net
        .puppet_got(late, l)
        .iter()
        .any(|w| *w == ["ERROR", "server shutting down"]));
    // Nobody hands over: at the deadline B tells them why, and stops.
    assert!(!net.srv(1).is_stopped(), "draining is not stopped yet");
    net.run_for(secs(6));
    for &(p, l) in &puppets {
        assert!(net
            .puppet_got(p, l)
            .iter()
            .any(|w| *w == ["ERROR", "server shutting down"]));
    }
    assert!(net.srv(1).is_stopped());
}
/// A-B-C with p1 and p2 registered on B, in no room; the net and each
/// puppet with its link.
fn two_users_on_b() -> (Net, [(usize, LinkId); 2]) {
    let mut net = chain(
        Config::default(),
        &["A", "B", "C"],
        &[("A", "B"), ("B", "C")],
    );
    let users = ["p1", "p2"].map(|nick| {
        let p = net.add_puppet(nick);
        let l = client_registers(&mut net, p, "B", nick);
        (p, l)
    });
    net.settle();
    (net, users)
}

/// With no stream to hand over (its client joined no room), a shutdown
/// waits for its moves until `redirect_timeout` after the command (a
/// mutation survivor: the deadline set in the past; with rooms, the
/// handovers' own deadlines hid it).
#[test]
fn a_shutdown_without_rooms_drains_until_its_deadline() {
    let (mut net, [(p, l), _]) = two_users_on_b();
    let until = net.now + Config::default().redirect_timeout;
    net.handle(1, Input::Operator(Command::Shutdown));
    // Up to the deadline the move is offered, and waited for...
    net.run_until(until - ms(1));
    assert!(net.puppet_got(p, l).iter().any(|w| w[0] == "REDIRECT"));
    assert!(net.srv(1).is_draining());
    assert!(!net.srv(1).is_stopped(), "stopped before the deadline");
    // ...and at it, given up: the server has its last word with each
    // neighbour, and stops once they have answered.
    net.run_until(until);
    assert!(last_word_sent(&net, 1), "no last word at the deadline");
    net.run_for(secs(1));
    assert!(
        net.srv(1).is_stopped(),
        "still draining after the last word"
    );
}

/// Server `i` has sent its last word (the shutdown's PING) to each of its
/// server neighbours.
fn last_word_sent(net: &Net, i: usize) -> bool {
    let last = vec!["PING".to_string(), u64::MAX.to_string()];
    let peers: Vec<LinkId> = net.srv(i).links.keys().copied().collect();
    !peers.is_empty() && peers.iter().all(|&l| net.sent_on(i, l).contains(&last))
}

/// A client may ask to be moved (MOVEME): it is offered the move like
/// any redirect, told why not when there is no such server, and a MOVEME
/// without its one argument is a protocol error (mutation survivor: the
/// whole arm could go unnoticed).
#[test]
fn a_client_asking_to_move_is_redirected_or_told_why_not() {
    let mut net = chain(Config::default(), &["A", "B"], &[("A", "B")]);
    let p = net.add_puppet("p1");
    let l = client_registers(&mut net, p, "A", "p1");
    net.settle();
    net.puppet_send(p, l, &encoded(&["MOVEME", "nowhere"]));
    net.puppet_send(p, l, &encoded(&["MOVEME", "B"]));
    net.settle();
    let got = net.puppet_got(p, l);
    assert!(
        got.iter().any(|w| w[0] == "REDIRERR" && w[1] == "nowhere"),
        "{got:?}"
    );
    let redirect = got.iter().find(|w| w[0] == "REDIRECT").expect("REDIRECT");
    assert_eq!(redirect[2], "B");
    net.puppet_send(p, l, &encoded(&["MOVEME"]));
    net.settle();
    assert!(net
        .puppet_got(p, l)
        .iter()
        .any(|w| *w == ["ERROR", "bad MOVEME command"]));
}

/// p1 and p2 on A, p3 on C, A-B-C: registered, in no room. Returns the
/// net and each puppet with its link.
fn three_users() -> (Net, [(usize, LinkId); 3]) {
    let mut net = chain(
        Config::default(),
        &["A", "B", "C"],
        &[("A", "B"), ("B", "C")],
    );
    let users = [("p1", "A"), ("p2", "A"), ("p3", "C")].map(|(nick, at)| {
        let p = net.add_puppet(nick);
        let l = client_registers(&mut net, p, at, nick);
        (p, l)
    });
    net.settle();
    (net, users)
}

/// A list message reaches each recipient once, the remote ones through
/// one LCOPY per link, and a nick nobody holds is answered with LERR
/// (mutation survivors: the duplicate test in LSEND, and the LCOPY's
/// way out, each negated).
#[test]
fn a_list_message_reaches_each_recipient_once() {
    let (mut net, [(p1, l1), (p2, l2), (p3, l3)]) = three_users();
    net.puppet_send(
        p1,
        l1,
        &encoded(&["LSEND", "hi", "p2", "p3", "P2", "nobody"]),
    );
    net.settle();
    let lmsgs = |net: &Net, p, l| -> Vec<Vec<String>> {
        net.puppet_got(p, l)
            .into_iter()
            .filter(|w| w[0] == "LMSG")
            .collect()
    };
    assert_eq!(lmsgs(&net, p2, l2), [["LMSG", "p1", "hi"]]);
    assert_eq!(lmsgs(&net, p3, l3), [["LMSG", "p1", "hi"]]);
    assert!(lmsgs(&net, p1, l1).is_empty());
    assert!(net
        .puppet_got(p1, l1)
        .iter()
        .any(|w| *w == ["LERR", "nobody", "no such nick"]));
    // The sender's server notes whom it addressed (once each), for
    // `list.kept`.
    let uid = |nick| net.srv(0).uid_of_nick(nick).unwrap().to_string();
    let addressed: Vec<(usize, String, Vec<String>)> = net
        .notes
        .iter()
        .filter_map(|(_, i, n)| match n {
            Note::Chat(ChatNote::ListAddressed { from, to, text }) if &**text == "hi" => Some((
                *i,
                from.to_string(),
                to.iter().map(|t| t.to_string()).collect(),
            )),
            _ => None,
        })
        .collect();
    assert_eq!(addressed, [(0, uid("p1"), vec![uid("p2"), uid("p3")])]);
}

/// A private talk's request and answer cross the tree with their fields
/// in place (mutation survivor: PRIVREQ2 and PRIVANS2 told apart the
/// wrong way round).
#[test]
fn a_private_request_and_its_answer_cross_the_tree() {
    let (mut net, [(p1, l1), _, (p3, l3)]) = three_users();
    net.puppet_send(p1, l1, &encoded(&["PRIVREQ", "p3", "10.0.0.1"]));
    net.settle();
    let req = net
        .puppet_got(p3, l3)
        .into_iter()
        .find(|w| w[0] == "PRIVREQ")
        .expect("PRIVREQ");
    assert_eq!((req[1].as_str(), req[3].as_str()), ("p1", "10.0.0.1"));
    let p1_uid = req[2].clone();
    net.puppet_send(p3, l3, &encoded(&["PRIVANS", &p1_uid, "yes", "10.0.0.3"]));
    net.settle();
    let ans = net
        .puppet_got(p1, l1)
        .into_iter()
        .find(|w| w[0] == "PRIVANS")
        .expect("PRIVANS");
    assert_eq!(ans, ["PRIVANS", "p3", "yes", "10.0.0.3"]);
}

/// Puppet `p` refuses the REDIRECT it got on `l` (REDIRNO, "not now").
fn refuse_the_redirect(net: &mut Net, p: usize, l: LinkId) {
    let id = net
        .puppet_got(p, l)
        .into_iter()
        .find(|w| w[0] == "REDIRECT")
        .expect("REDIRECT")[1]
        .clone();
    net.puppet_send(p, l, &encoded(&["REDIRNO", &id, "not now"]));
}

/// The drain ends at its deadline even when a move is still pending then:
/// one that p1 asked for itself after refusing the first, so it ends
/// later than the drain (p2, who never answers, keeps the drain going
/// meanwhile). Mutation survivor: `now < until` as `<=` kept the server
/// draining past its deadline.
#[test]
fn a_drain_ends_at_its_deadline_with_a_later_move_pending() {
    let (mut net, [(p, l), _]) = two_users_on_b();
    let until = net.now + Config::default().redirect_timeout;
    net.handle(1, Input::Operator(Command::Shutdown));
    net.run_for(ms(100));
    refuse_the_redirect(&mut net, p, l);
    net.run_for(secs(1));
    net.puppet_send(p, l, &encoded(&["MOVEME", "A"]));
    net.run_for(ms(100));
    let pending: Vec<Instant> = net.srv(1).pending_moves().map(|m| m.2).collect();
    assert_eq!(pending.len(), 2, "p2's move and p1's own");
    assert!(pending.iter().any(|&t| t > until));
    net.run_until(until);
    assert!(last_word_sent(&net, 1), "still draining at the deadline");
    net.run_for(secs(1));
    assert!(
        net.srv(1).is_stopped(),
        "still draining after the last word"
    );
}

/// A shutting-down server reads its links until each neighbour has
/// answered its last word (so a list copy for a user it just moved, sent
/// by a neighbour that had not yet heard of the move, still goes back
/// toward the user's new server: list-copy-lost-at-a-shutdown.toml).
/// With the `last-word` ablation it closes at once.
#[test]
fn a_shutdown_has_a_last_word_with_each_neighbour_before_it_closes() {
    for ablated in [false, true] {
        let mut cfg = Config::default();
        cfg.ablations.no_last_word = ablated;
        let mut net = chain(cfg, &["A", "B"], &[("A", "B")]);
        net.settle();
        net.handle(1, Input::Operator(Command::Shutdown));
        // No client to move: stopped at once (ablated), or reading
        // until the neighbour's answer comes.
        assert_eq!(net.srv(1).is_stopped(), ablated, "ablated: {ablated}");
        assert_eq!(last_word_sent(&net, 1), !ablated);
        if !ablated {
            let ba = net.link_to(1, "A");
            assert_eq!(net.srv(1).last_word.as_deref(), Some(&[ba][..]));
            // Another link's answer, or a keepalive's, is not the one.
            net.inject(1, ba, &encoded(&["PONG", "7"]));
            assert!(!net.srv(1).is_stopped());
            net.inject(1, ba, &encoded(&["PONG", &u64::MAX.to_string()]));
            assert!(net.srv(1).is_stopped(), "the answer came");
        }
    }
}

// ------------------------------------------------------- adding a server

/// Registers a newcomer `name` (not yet booted) at `sponsor` by operator
/// command, and adds its host, which will sync through the sponsor.
fn add_newcomer(net: &mut Net, name: &str, sid: &str, sponsor: &str) -> usize {
    let keys = KeyPair::generate(&mut ChaCha8Rng::seed_from_u64(4242));
    let key = keys.public();
    // Added first: `add_host` hands every server the harness's registry,
    // which is the configured one and must not carry the newcomer.
    let n = net.add_host(name, sid, keys, false, true, &[sponsor]);
    let s = net.find(sponsor);
    net.handle(s, Input::Operator(Command::Register { name, sid, key }));
    net.hosts[n].srv.as_mut().unwrap().join_via(sponsor);
    n
}

fn note_times(net: &Net, i: usize, pick: impl Fn(&Note) -> bool) -> Vec<Instant> {
    net.notes
        .iter()
        .filter(|(_, h, n)| *h == i && pick(n))
        .map(|(t, _, _)| *t)
        .collect()
}

#[test]
fn a_newcomer_syncs_the_whole_database_then_joins_as_a_member() {
    let mut net = chain(Config::default(), &["A", "B"], &[("A", "B")]);
    let (a, b) = (0, 1);
    let n = add_newcomer(&mut net, "N", "0NN", "B");
    net.settle();
    // Step 1: the registration reached A over the tree before N started.
    assert_eq!(net.srv(a).registry().get("N").unwrap().sid.as_ref(), "0NN");
    net.handle(n, Input::Start);
    net.run_for(secs(5));
    // Steps 3-5: NEWLINK, the handshake, and B's whole database.
    // Its first link, the sync; the member link came later.
    let first = LinkId(1);
    let sync = net.sent_on(n, first);
    assert!(starts(&sync[0], &["NEWLINK", "N", "0NN", "1"]), "{sync:?}");
    let served: Vec<Vec<String>> = net
        .got
        .iter()
        .filter(|g| g.1 == n && g.2 == first)
        .map(|g| words(&g.3))
        .collect();
    let cmds: Vec<&str> = served.iter().map(|w| w[0].as_str()).collect();
    assert_eq!(
        cmds,
        [
            "CHALLENGE",
            "VERIFIED",
            "SERVER",
            "SERVER",
            "SREG",
            "SREG",
            "SREG",
            "EOB"
        ]
    );
    assert!(starts(&served[2], &["SERVER", "B", "0", "001", "1", "*"]));
    assert!(starts(&served[3], &["SERVER", "A", "1", "000"]));
    // Step 6: N closed the sync link itself, with SCLOSE.
    assert_eq!(sync.last().unwrap(), &["SCLOSE", "synced"]);
    // Step 7: then joined with a plain LINK, and is an ordinary member.
    let synced = note_times(&net, n, |x| matches!(x, Note::Synced { .. }));
    let joined = note_times(&net, n, |x| matches!(x, Note::Joined { .. }));
    assert_eq!((synced.len(), joined.len()), (1, 1));
    assert_eq!(net.check_tree(), [edge("A", "B"), edge("B", "N")].into());
    assert!(!net.srv(n).is_joining());
    // No server heard of N as a server before its sync was over.
    let heard = note_times(
        &net,
        a,
        |x| matches!(x, Note::ServerAdded { name, .. } if &**name == "N"),
    );
    assert!(heard.iter().all(|&t| t > synced[0]), "{heard:?} {synced:?}");
    // Nothing about the sync counted as a failed handshake at B.
    assert_eq!(net.srv(b).stats().handshakes_failed, 0);
    assert_eq!(net.srv(n).registry(), net.srv(a).registry());
}

fn syncing_newcomer_is_dialled(ablate: bool) -> (Net, usize, usize) {
    let mut cfg = Config::default();
    cfg.ablations.no_sync_refuse = ablate;
    let mut net = chain(cfg, &["A"], &[]);
    let a = 0;
    // A sponsor that accepts the connection and never answers: N stays
    // in its sync.
    net.add_puppet("P");
    let n = add_newcomer(&mut net, "N", "0NN", "A");
    // The newcomer's own sponsor is silent, so let it sync "through" P.
    net.hosts[n].srv.as_mut().unwrap().join_via("P");
    net.handle(n, Input::Start);
    net.run_for(ms(500));
    assert!(net.srv(n).is_syncing());
    net.connect(a, "N");
    net.run_for(ms(500));
    (net, a, n)
}

#[test]
fn a_syncing_newcomer_refuses_a_server_that_knows_it() {
    let (net, a, n) = syncing_newcomer_is_dialled(false);
    let got: Vec<Vec<String>> = net
        .got
        .iter()
        .filter(|g| g.1 == a)
        .map(|g| words(&g.3))
        .collect();
    assert_eq!(got, [["ERROR", "syncing, try later"]]);
    assert!(net.srv(n).links().all(|l| l.phase != LinkPhase::Registered));
    assert_eq!(net.srv(a).known_count(), 0);
    // Under the ablation the same link registers at both ends.
    let (net, a, n) = syncing_newcomer_is_dialled(true);
    assert!(net.srv(n).links().any(|l| l.phase == LinkPhase::Registered));
    assert!(net.srv(a).known_server("N").is_some());
}

#[test]
fn conflicting_registrations_settle_on_the_smaller_everywhere() {
    let mut net = chain(
        Config::default(),
        &["A", "B", "C"],
        &[("A", "B"), ("B", "C")],
    );
    let k1 = KeyPair::generate(&mut ChaCha8Rng::seed_from_u64(1)).public();
    let k2 = KeyPair::generate(&mut ChaCha8Rng::seed_from_u64(2)).public();
    let reg = |net: &mut Net, i: usize, sid: &str, key: &crate::crypto::PublicKey| {
        net.handle(
            i,
            Input::Operator(Command::Register {
                name: "X",
                sid,
                key: *key,
            }),
        );
    };
    // At once at both ends of the chain, so each side sees its own first.
    reg(&mut net, 2, "0XB", &k2);
    reg(&mut net, 0, "0XA", &k1);
    net.settle();
    for i in 0..3 {
        let r = net.srv(i).registry().get("X").unwrap();
        assert_eq!((r.sid.as_ref(), r.key), ("0XA", k1), "server {i}");
    }
    // Registering it again changes nothing and sends nothing.
    let before = net.sent.len();
    reg(&mut net, 1, "0XA", &k1);
    net.settle();
    assert_eq!(net.sent.len(), before);
}

#[test]
fn a_newcomer_whose_sponsor_dies_mid_sync_retries_through_a_member_it_heard_of() {
    let mut net = chain(Config::default(), &["A", "B"], &[("A", "B")]);
    let b = 1;
    let n = add_newcomer(&mut net, "N", "0NN", "B");
    net.settle();
    // B's database arrives but for its EOB, then B dies: N is left
    // mid-sync, having heard of A.
    net.lose.push("EOB".into());
    net.handle(n, Input::Start);
    net.run_for(secs(1));
    assert!(net.srv(n).is_syncing());
    // What it may try next: the members the sync named, each once, never
    // itself or a name no server can have (mutation survivors: either
    // `&&` of that test as `||`). B's introduction of A comes again, and
    // as if of N and of a malformed name.
    let intro = net
        .sent
        .iter()
        .filter(|s| s.1 == b)
        .map(|s| words(&s.3))
        .find(|w| w[0] == "SERVER" && w[1] == "A")
        .expect("B introduced A");
    let sync = net.srv(n).links().find(|l| l.peer == Some("B")).unwrap().id;
    for name in ["A", "N", "x y"] {
        let mut w: Vec<&str> = intro.iter().map(String::as_str).collect();
        w[1] = name;
        net.inject(n, sync, &encoded(&w));
    }
    let candidates = &net.srv(n).joining.as_ref().unwrap().candidates;
    assert_eq!(candidates, &[Arc::from("B"), Arc::from("A")]);
    net.crash(b);
    net.run_for(net.cfg.handshake_timeout + secs(10));
    let joined: Vec<String> = net
        .notes
        .iter()
        .filter_map(|(_, h, x)| match x {
            Note::Joined { via } if *h == n => Some(via.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(joined, ["A"]);
    assert!(!net.srv(n).is_joining());
    assert_eq!(net.check_tree(), [edge("A", "N")].into());
}

// ------------------------------------------- handing over a room's sequencer

/// B-A-C (B a leaf, so its leaving splits nothing); p1 on B makes #r (B
/// sequences it), p2 on C joins. Returns the net and each puppet with
/// its link.
fn room_across_b_and_c() -> (Net, [(usize, LinkId); 2]) {
    room_across_b_and_c_with(Config::default())
}

fn room_across_b_and_c_with(cfg: Config) -> (Net, [(usize, LinkId); 2]) {
    let mut net = chain(cfg, &["A", "B", "C"], &[("A", "B"), ("A", "C")]);
    let p1 = net.add_puppet("p1");
    let l1 = client_joins(&mut net, p1, "B", "p1");
    let p2 = net.add_puppet("p2");
    let l2 = client_joins(&mut net, p2, "C", "p2");
    (net, [(p1, l1), (p2, l2)])
}

/// When a room's sequencer is lost, a server that elects another server
/// names the new stream after that server's incarnation as it knows it,
/// the very name the elected server gives itself (mutation survivors:
/// the incarnation lookup could answer nothing, a constant, or the
/// elector's own).
#[test]
fn an_election_names_the_elected_server_by_its_incarnation() {
    let mut net = chain(
        Config::default(),
        &["A", "B", "C"],
        &[("A", "B"), ("B", "C")],
    );
    // A restarts once, so its incarnation is not the others'.
    net.crash(0);
    net.run_for(secs(1));
    net.restart(0);
    net.connect(0, "B");
    net.settle();
    let carol = net.add_puppet("carol");
    client_joins(&mut net, carol, "C", "carol");
    let alice = net.add_puppet("alice");
    client_joins(&mut net, alice, "A", "alice");
    let bob = net.add_puppet("bob");
    client_joins(&mut net, bob, "B", "bob");
    let (a, b) = (net.srv(0), net.srv(1));
    assert_ne!(a.incarnation(), b.incarnation());
    let want = format!("{}-{}", a.sid(), a.incarnation());
    // C goes, and B hears of it at once.
    let bc = net.link_to(1, "C");
    net.crash(2);
    net.handle(1, Input::Closed { link: bc });
    net.run_for(secs(3));
    let ba = net.link_to(1, "A");
    let rooms: Vec<Vec<String>> = net
        .sent_on(1, ba)
        .into_iter()
        .filter(|w| w[0] == "ROOM")
        .collect();
    // B elected A itself (it did not only pass A's word on, which would
    // not go back to A).
    assert!(
        rooms.iter().any(|w| w[3] == "2" && w[4] == want),
        "{rooms:?}, want {want}"
    );
    for i in 0..2 {
        let r = net.srv(i).rooms().find(|r| r.name == "#r").unwrap();
        assert_eq!(&*r.stream.seq, want.as_str(), "server {i}");
    }
}

/// The election takes the lowest home SID among the members, wherever it
/// comes in the member list: here the member listed first (by UID) lives
/// on B, and the one listed second registered on C but moved to A
/// (mutation survivors: the comparison as `==` or `>`).
#[test]
fn an_election_takes_the_lowest_home_among_the_members() {
    let mut net = chain(
        Config::default(),
        &["A", "B", "C"],
        &[("A", "B"), ("B", "C")],
    );
    let alice = net.add_puppet("alice");
    let l = client_joins(&mut net, alice, "C", "alice");
    let bob = net.add_puppet("bob");
    client_joins(&mut net, bob, "B", "bob");
    net.handle(
        2,
        Input::Operator(Command::Redirect {
            user: "alice",
            to: "A",
        }),
    );
    net.settle();
    let id = net
        .puppet_got(alice, l)
        .into_iter()
        .find(|w| w[0] == "REDIRECT")
        .expect("REDIRECT")[1]
        .clone();
    let uid = net.srv(2).local_uids().next().unwrap().to_string();
    let new = net.puppet_dial(alice, "A");
    net.puppet_send(alice, new, &encoded(&["HANDOVER", &id, &uid]));
    net.settle();
    let (a, b) = (net.srv(0).sid().to_string(), net.srv(1).sid().to_string());
    assert_eq!(homes(&net, &uid)[1], a);
    let r = net.srv(1).rooms().find(|r| r.name == "#r").unwrap();
    let first = r.members.keys().next().unwrap().to_string();
    assert!(first.starts_with(&b), "{first} listed first");
    // C goes, and B hears of it at once: B names A, not itself.
    let bc = net.link_to(1, "C");
    net.crash(2);
    net.handle(1, Input::Closed { link: bc });
    net.run_for(secs(3));
    let want = format!("{a}-{}", net.srv(0).incarnation());
    for i in 0..2 {
        let r = net.srv(i).rooms().find(|r| r.name == "#r").unwrap();
        assert_eq!(&*r.stream.seq, want.as_str(), "server {i}");
    }
    let ba = net.link_to(1, "A");
    assert!(net
        .sent_on(1, ba)
        .iter()
        .any(|w| w[0] == "ROOM" && w[4] == want));
}

/// After a handover, room messages from the new holder reach the members
/// on other servers: the holder record, not the stream's name, says
/// where they come from (mutation survivor: the record's stream test turned
/// round, so the message seemed to come from the wrong side).
#[test]
fn after_a_handover_the_holders_messages_reach_other_servers() {
    let (mut net, [(p1, l1), (p2, l2)]) = room_across_b_and_c();
    let p3 = net.add_puppet("p3");
    let l3 = client_joins(&mut net, p3, "A", "p3");
    client_says(&mut net, p1, l1, "one");
    net.handle(1, Input::Operator(Command::Shutdown));
    net.run_for(secs(12));
    assert!(net.srv(1).is_stopped());
    assert!(sequences(&net, 0) || sequences(&net, 2));
    client_says(&mut net, p2, l2, "two");
    for (p, l) in [(p2, l2), (p3, l3)] {
        let texts: Vec<String> = net
            .puppet_got(p, l)
            .iter()
            .filter(|w| w[0] == "RMSG")
            .map(|w| w.last().unwrap().clone())
            .collect();
        assert_eq!(texts, ["one", "two"], "puppet {p}");
    }
}

/// A refusal (RSEQ with number 0) from a sequencer that has handed the
/// stream on since, arriving where the new holder is now this server,
/// is not passed to the client: the number is asked for again here
/// (mutation survivor: the two destinations joined by `&&`, never true).
#[test]
fn a_late_refusal_from_the_old_sequencer_is_asked_again_of_the_holder() {
    let (mut net, p2, l2) = sequencer_shuts_down(&[]);
    assert!(sequences(&net, 2));
    let uid = net.srv(2).local_uids().next().unwrap().to_string();
    let stream = stream_of(&net, 2);
    let ca = net.link_to(2, "A");
    let e = stream.epoch.to_string();
    net.inject(2, ca, &encoded(&["RSEQ", "#r", &uid, &e, &stream.seq, "0"]));
    net.settle();
    let last = net.puppet_got(p2, l2).pop().expect("an answer");
    assert_eq!(last[0], "NEWSEQ", "{last:?}");
}

/// A member's CSEND for a number its sequencer took back when it began
/// to hand the stream over (its NEWSEQ was still on the way) is refused
/// as handed over, a refusal that costs the client no try: by the old
/// sequencer while the stream is in flight, and after the go, where the
/// holder would refuse it as a number not held, by the old sequencer
/// too. Refused as any other (`handover-refusal`), it cost a try, and a
/// message whose earlier tries had gone with sessions that nick
/// collisions ended was given up (swarm-nicks seed 45617 at 1 s hops,
/// number-taken-back-at-a-handover.toml).
#[test]
fn a_message_for_a_number_taken_back_at_a_handover_is_refused_as_handed_over() {
    for ablate in [false, true] {
        let mut cfg = Config::default();
        cfg.ablations.no_handover_refusal = ablate;
        let (mut net, [_, (p2, l2)]) = room_across_b_and_c_with(cfg);
        let (b, c) = (net.srv(1).sid().to_string(), net.srv(2).sid().to_string());
        let uid = welcomed_uid(&net, p2, l2);
        // B, the room's sequencer, gives p2 (on C) a number.
        net.puppet_send(p2, l2, &encoded(&["GETSEQ", "#r"]));
        net.settle();
        let new = net.puppet_got(p2, l2).pop().expect("an answer");
        assert_eq!(new[0], "NEWSEQ", "{new:?}");
        let (e, s, n) = (new[2].clone(), new[3].clone(), new[4].clone());
        // B begins to shut down before p2's CSEND reaches it; C, its
        // successor, never says it is ready (the end of the state is lost).
        net.lose.push("RSEQEND".into());
        net.handle(1, Input::Operator(Command::Shutdown));
        net.run_for(ms(5));
        let csend = encoded(&["CSEND", "#r", &e, &s, &n, "x/1", "x"]);
        net.puppet_send(p2, l2, &csend);
        net.run_for(ms(200));
        let why = if ablate {
            "not the sequencer"
        } else {
            HANDED_OVER
        };
        let last = net.puppet_got(p2, l2).pop().expect("an answer");
        assert_eq!(
            last,
            ["SENDFAIL", "#r", &e, &s, &n, why],
            "ablated: {ablate}"
        );
        // C's take, by hand: B says go (C, with no end of the state, takes
        // nothing) and routes the stream's traffic to C. A second copy of
        // the CSEND, arriving at B now, is refused there all the same;
        // ablated, it goes on toward C.
        let ba = net.link_to(1, "A");
        net.inject(1, ba, &chat_frame("RSEQTAKE", &["#r", "1", &c, &b]));
        assert_eq!(net.srv(1).room_sequencer("#r"), Some(c.as_str()));
        let rsend = chat_frame("RSEND", &["#r", &e, &s, &n, &uid, "x/1", "x"]);
        net.inject(1, ba, &rsend);
        let sent = net.sent_on(1, ba).pop().expect("an answer");
        if ablate {
            assert_eq!(sent[0], "RSEND", "{sent:?}");
        } else {
            assert_eq!(sent, ["RFAIL", &uid, "#r", &e, &s, &n, HANDED_OVER]);
        }
    }
}

/// A server that handed its stream over at a shutdown and comes back
/// does not start a new stream over the one it handed on: the holder
/// record names the holder (mutation survivor: the record's stream test
/// turned round, so the returning server took the stream for an earlier
/// incarnation's and bumped the epoch).
#[test]
fn a_returning_server_leaves_the_stream_it_handed_on() {
    let (mut net, _p2, _l2) = sequencer_shuts_down(&[]);
    assert!(sequences(&net, 2));
    let before = stream_of(&net, 2);
    net.crash(1);
    net.restart(1);
    net.connect(1, "A");
    net.settle();
    net.run_for(secs(2));
    for i in 0..3 {
        let r = net.srv(i).rooms().find(|r| r.name == "#r").unwrap();
        assert_eq!(r.stream, &before, "server {i}");
    }
    assert!(sequences(&net, 2));
}

/// A server that hears of a stream named after an earlier process of its
/// own, newer than the one it runs, starts a stream above it rather than
/// take it: nobody numbers the old one any more (mutation survivor: the
/// "runs it" test with `||` counted running any stream as running that
/// one).
#[test]
fn a_newer_stream_of_an_earlier_incarnation_is_superseded() {
    let mut net = chain(Config::default(), &["A", "B"], &[("A", "B")]);
    net.crash(1);
    net.run_for(secs(1));
    net.restart(1);
    net.connect(1, "A");
    net.settle();
    let (b, inc) = (net.srv(1).sid().to_string(), net.srv(1).incarnation());
    assert!(inc > 1);
    let p = net.add_puppet("p");
    client_joins(&mut net, p, "B", "p");
    let ba = net.link_to(1, "A");
    let room = net
        .sent_on(1, ba)
        .into_iter()
        .find(|w| w[0] == "ROOM")
        .expect("B announced #r");
    let mine = format!("{b}-{inc}");
    assert_eq!(room[3..], ["1".to_string(), mine.clone()]);
    let old = format!("{b}-{}", inc - 1);
    net.inject(1, ba, &encoded(&["ROOM", "#r", &room[2], "5", &old]));
    net.settle();
    let r = net.srv(1).rooms().find(|r| r.name == "#r").unwrap();
    assert_eq!((r.stream.epoch, &*r.stream.seq), (6, mine.as_str()));
    assert!(r.sequencer.is_some());
}

/// The same, then p1 says one message and B shuts down.
/// Returns the net and p2's puppet and link.
fn sequencer_shuts_down(lose: &[&str]) -> (Net, usize, LinkId) {
    sequencer_shuts_down_with(Config::default(), lose)
}

fn sequencer_shuts_down_with(cfg: Config, lose: &[&str]) -> (Net, usize, LinkId) {
    let (mut net, [(p1, l1), (p2, l2)]) = room_across_b_and_c_with(cfg);
    let (e, s, n) = client_says(&mut net, p1, l1, "one");
    assert_eq!((e.as_str(), n.as_str()), ("1", "1"));
    assert!(s.starts_with(net.srv(1).sid()), "{s}");
    net.lose.extend(lose.iter().map(|c| c.to_string()));
    net.handle(1, Input::Operator(Command::Shutdown));
    // (Puppets answer no PING: well before their ping timeout.)
    net.run_for(secs(12));
    assert!(net.srv(1).is_stopped());
    (net, p2, l2)
}

/// The stream room `#r` is on at server `i`.
fn stream_of(net: &Net, i: usize) -> crate::outbox::Stream {
    net.srv(i)
        .rooms()
        .find(|r| r.name == "#r")
        .expect("#r")
        .stream
        .clone()
}

fn sequences(net: &Net, i: usize) -> bool {
    net.srv(i)
        .rooms()
        .any(|r| r.name == "#r" && r.sequencer.is_some())
}

/// A number below the stream's next that the sequencer has no record of
/// (its slot lost on the way during a handover) was issued and will not
/// be filled: a request for it gets a skip at once (mutation survivor:
/// the guard as `false` left the asker waiting).
#[test]
fn a_find_for_an_issued_number_without_a_record_is_skipped() {
    let (mut net, p2, l2) = sequencer_shuts_down(&["RSEQSLOT"]);
    assert!(sequences(&net, 2));
    let room = net.srv(2).rooms().find(|r| r.name == "#r").unwrap();
    let seq = room.stream.seq.to_string();
    assert!(room
        .sequencer
        .expect("C sequences #r")
        .slots
        .get(&1)
        .is_none());
    net.puppet_send(p2, l2, &encoded(&["FINDSEQ", "#r", "1", &seq, "1"]));
    net.settle();
    let last = net.puppet_got(p2, l2).pop().expect("an answer");
    assert_eq!(last, ["SKIPSEQ", "#r", "1", &seq, "1"]);
}

#[test]
fn a_shutdown_hands_the_stream_on_and_the_room_goes_on_in_the_same_epoch() {
    let (mut net, p2, l2) = sequencer_shuts_down(&[]);
    // C has the room's other member: it holds the stream now, and A knows.
    assert!(sequences(&net, 2));
    // With what was numbered, message and all (a mutation survivor: used
    // slots handed over as skipped ones).
    let room = net.srv(2).rooms().find(|r| r.name == "#r").unwrap();
    let slots = room.sequencer.expect("C sequences #r").slots;
    assert!(
        matches!(slots.get(&1), Some(super::Slot::Used { text, .. }) if &**text == "one"),
        "{slots:?}"
    );
    assert!(!sequences(&net, 0));
    let c = net.srv(2).sid().to_string();
    assert_eq!(net.srv(0).room_sequencer("#r"), Some(c.as_str()));
    // Offer, ready, go, then the flooded record, in that order.
    // (Each hop's send is listed: one run of each.)
    let mut cmds: Vec<String> = net
        .sent
        .iter()
        .map(|s| words(&s.3)[0].clone())
        .filter(|c| ["RSEQEND", "RSEQTAKE", "RSEQGO", "RHOLDER"].contains(&c.as_str()))
        .collect();
    cmds.dedup();
    assert_eq!(cmds, ["RSEQEND", "RSEQTAKE", "RSEQGO", "RHOLDER"]);
    // Same epoch, same stream name, the next number.
    let (e, _, n) = client_says(&mut net, p2, l2, "two");
    assert_eq!((e.as_str(), n.as_str()), ("1", "2"));
    let got = net.puppet_got(p2, l2);
    let texts: Vec<&str> = got
        .iter()
        .filter(|w| w[0] == "RMSG")
        .map(|w| w.last().unwrap().as_str())
        .collect();
    assert_eq!(texts, ["one", "two"]);
}

/// A stream can be handed over again (its holder shuts down in turn): the
/// record with the later handover number wins wherever it arrives, and a
/// record of a handover already known is not taken again (a mutation
/// survivor: `<` as `==` kept the first holder for ever).
#[test]
fn a_later_handover_of_a_stream_replaces_its_holder_and_a_repeat_does_not() {
    let (mut net, _, _) = sequencer_shuts_down(&[]);
    let c = net.srv(2).sid().to_string();
    let rec = net
        .sent
        .iter()
        .map(|s| words(&s.3))
        .find(|w| w[0] == "RHOLDER")
        .expect("a holder record");
    assert_eq!((rec[3].as_str(), rec[4].as_str()), (c.as_str(), "1"));
    assert_eq!(net.srv(0).room_sequencer("#r"), Some(c.as_str()));
    let from_c = net.link_to(0, "C");
    let seq = rec[2].clone();
    let holder = |net: &mut Net, sid: &str, gen: u64| {
        let f = format!("<RHOLDER,#r,{seq},{sid},{gen}>");
        net.inject(0, from_c, f.as_bytes());
    };
    holder(&mut net, "9ZZ", 2);
    assert_eq!(net.srv(0).room_sequencer("#r"), Some("9ZZ"));
    // The same handover again, or an older one, changes nothing.
    holder(&mut net, "8YY", 2);
    holder(&mut net, "7XX", 1);
    assert_eq!(net.srv(0).room_sequencer("#r"), Some("9ZZ"));
}

/// A successor that is shutting down itself when the stream arrives takes
/// it and hands it on in turn, never back to the server it came from
/// (mutation survivor: with the ablation's test negated it kept the
/// stream and stopped with it).
#[test]
fn a_successor_that_is_shutting_down_hands_the_stream_on() {
    let (mut net, [(p1, l1), _]) = room_across_b_and_c();
    client_says(&mut net, p1, l1, "one");
    net.handle(1, Input::Operator(Command::Shutdown));
    net.run_for(ms(10));
    net.handle(2, Input::Operator(Command::Shutdown));
    net.run_for(secs(12));
    assert!(net.srv(1).is_stopped() && net.srv(2).is_stopped());
    assert!(sequences(&net, 0), "A holds the stream");
    assert!(!sequences(&net, 2), "C let it go");
    // Two handovers, B to C and C to A: C does not offer it back to B,
    // which is leaving (they once handed it to each other 84 times).
    let gens: BTreeSet<String> = net
        .sent
        .iter()
        .map(|s| words(&s.3))
        .filter(|w| w[0] == "RSEQGO")
        .map(|w| w[2].clone())
        .collect();
    assert_eq!(gens, ["1", "2"].map(String::from).into());
}

#[test]
fn a_successor_without_the_go_never_takes_the_stream_and_the_next_one_does() {
    // C's answers to B are lost, the first and both it sends again
    // within B's `redirect_timeout`: C, ready but never told to go, must
    // not number anything; after redirect_timeout B tries the nearest
    // untried server, A, and tells it to go.
    let (net, _, _) = sequencer_shuts_down(&["RSEQTAKE"; 3]);
    assert!(!sequences(&net, 2));
    assert!(sequences(&net, 0));
    let a = net.srv(0).sid().to_string();
    assert_eq!(net.srv(2).room_sequencer("#r"), Some(a.as_str()));
    // The only go went to A (sent by B, so one frame: A is B's neighbour),
    // naming the stream.
    let seq = stream_of(&net, 0).seq.to_string();
    let gos: Vec<Vec<String>> = net
        .sent
        .iter()
        .map(|s| words(&s.3))
        .filter(|w| w[0] == "RSEQGO")
        .collect();
    assert_eq!(gos, [["RSEQGO", "#r", "2", seq.as_str(), a.as_str()]]);
}

/// A successor offered two streams of one room at once (two servers
/// shutting down each created the room while draining, before either
/// heard of the other's, and handed it to the same successor, both as the
/// stream's first handover) takes the one its go names. With one offer a
/// room (`offer-per-stream`) the second state replaced the first, and the
/// go for the first, the stream the room is on, was spent on it: nobody
/// took that stream (swarm-nicks seed 42861,
/// two-streams-offered-at-once.toml).
#[test]
fn a_successor_offered_two_streams_of_a_room_takes_the_one_its_go_names() {
    // The rival's state before B's end (interleaved: each part names its
    // stream) or after it, or the rival's whole offer before B's.
    for rival_first in [false, true] {
        for rival_before in [false, true] {
            for ablate in [false, true] {
                let mut cfg = Config::default();
                cfg.ablations.no_offer_per_stream = ablate;
                let mut net = chain(cfg, &["A", "B", "C"], &[("A", "B"), ("A", "C")]);
                let p1 = net.add_puppet("p1");
                client_joins(&mut net, p1, "B", "p1");
                let p2 = net.add_puppet("p2");
                client_joins(&mut net, p2, "C", "p2");
                let c_sid = net.srv(2).sid().to_string();
                let ca = net.link_to(2, "A");
                // A second server shutting down offers C the room's other
                // stream, which the room's beats (a larger SID), as its first
                // handover too.
                let (rival, from) = ("0ZZ-1", "0ZZ");
                let state = ["#r", "1", rival, "1", &c_sid];
                if rival_before {
                    // The whole offer, under the handover number B's will
                    // have: the go must still pick B's by its stream, not
                    // the first offer with that number (mutation survivors).
                    let rival_end = ["#r", rival, "1", from, &c_sid];
                    net.inject(2, ca, &chat_frame("RSEQSTATE", &state));
                    net.inject(2, ca, &chat_frame("RSEQEND", &rival_end));
                }
                // B hands #r to C; the end of its offer is delivered by hand.
                net.lose.push("RSEQEND".into());
                net.handle(1, Input::Operator(Command::Shutdown));
                net.run_for(ms(100));
                let end = offered_end(&net);
                assert_eq!(end[5], c_sid, "C is B's successor");
                let gen = end[3].clone();
                assert_eq!(gen, "1", "B's first handover");
                let end: Vec<&str> = end[1..].iter().map(String::as_str).collect();
                let rival_end = ["#r", rival, &gen, from, &c_sid];
                if rival_before {
                    net.inject(2, ca, &chat_frame("RSEQEND", &end));
                } else if rival_first {
                    net.inject(2, ca, &chat_frame("RSEQSTATE", &state));
                    net.inject(2, ca, &chat_frame("RSEQEND", &end));
                    net.inject(2, ca, &chat_frame("RSEQEND", &rival_end));
                } else {
                    net.inject(2, ca, &chat_frame("RSEQEND", &end));
                    net.inject(2, ca, &chat_frame("RSEQSTATE", &state));
                    net.inject(2, ca, &chat_frame("RSEQEND", &rival_end));
                }
                // B's go, for its own stream.
                net.run_for(secs(1));
                if rival_before && ablate {
                    // One offer a room: B's replaced the rival's, and its go
                    // finds it.
                    assert!(sequences(&net, 2));
                } else {
                    assert_eq!(
                        sequences(&net, 2),
                        !ablate,
                        "C took B's stream (rival first: {rival_first}, before: \
                     {rival_before}, ablated: {ablate})"
                    );
                }
                let room = net.srv(2).rooms().find(|r| r.name == "#r").unwrap();
                assert_eq!(room.stream.epoch, 1);
            }
        }
    }
}

/// A successor keeps at most `OFFERS` offers of a room, the newest: a
/// room's states from servers that will never send the go cannot pile up
/// (mutation survivors: the bound off by one either way).
#[test]
fn offers_of_a_room_are_bounded_and_the_oldest_give_way() {
    let mut net = chain(
        Config::default(),
        &["A", "B", "C"],
        &[("A", "B"), ("A", "C")],
    );
    let p2 = net.add_puppet("p2");
    client_joins(&mut net, p2, "C", "p2");
    let c_sid = net.srv(2).sid().to_string();
    let ca = net.link_to(2, "A");
    let streams: Vec<String> = (0..6).map(|i| format!("0Z{i}-1")).collect();
    for s in &streams {
        net.inject(
            2,
            ca,
            &chat_frame("RSEQSTATE", &["#r", "1", s, "1", &c_sid]),
        );
    }
    let held: Vec<String> = net.srv(2).chat.incoming["#r"]
        .iter()
        .map(|i| i.0.seq.to_string())
        .collect();
    let n = crate::server::chat::handoff::OFFERS;
    assert_eq!(held, streams[streams.len() - n..]);
}

/// A server handing a stream over takes as its receipt only an RHOLDER
/// for that stream. Two servers that each created a room, shutting down,
/// can hand their two streams to one successor, both as the streams'
/// first handover: the other stream's RHOLDER names the same successor
/// and number. Taken as B's receipt (`receipt-per-stream`), it let B's
/// stream go before C's take came, the take found nothing to answer, and
/// nobody took the stream (swarm-discovery seed 61382,
/// receipt-names-its-stream.toml).
#[test]
fn a_receipt_for_another_stream_of_the_room_does_not_end_a_handover() {
    for ablate in [false, true] {
        let mut cfg = Config::default();
        cfg.ablations.no_receipt_per_stream = ablate;
        let (mut net, _) = room_across_b_and_c_with(cfg);
        // B hands #r to C; the end of its offer is delivered by hand.
        net.lose.push("RSEQEND".into());
        net.handle(1, Input::Operator(Command::Shutdown));
        net.run_for(ms(100));
        let end = offered_end(&net);
        let c_sid = net.srv(2).sid().to_string();
        assert_eq!(end[5], c_sid, "C is B's successor");
        let b_stream = stream_of(&net, 2);
        assert_eq!(end[2], *b_stream.seq);
        // The RHOLDER of the room's other stream, handed to C by another
        // server as its first handover, reaches B first.
        let ba = net.link_to(1, "A");
        let rival = chat_frame("RHOLDER", &["#r", "0ZZ-1", &c_sid, &end[3]]);
        net.inject(1, ba, &rival);
        // Then C has B's state, says it is ready, and waits for the go.
        let ca = net.link_to(2, "A");
        let end: Vec<&str> = end[1..].iter().map(String::as_str).collect();
        net.inject(2, ca, &chat_frame("RSEQEND", &end));
        net.run_for(secs(12));
        assert!(net.srv(1).is_stopped());
        // B answered C's take with the go, and the room goes on in C's
        // hands on B's stream; ablated, the take went unanswered and the
        // room was started afresh in a new epoch.
        let b_go = net.sent_cmd(1, ba, "RSEQGO");
        assert_eq!(b_go.len(), usize::from(!ablate), "ablated: {ablate}");
        assert_eq!(stream_of(&net, 2) == b_stream, !ablate);
        assert!(sequences(&net, 2));
    }
}

// ------------------------------------ waiting for the tree after a shutdown

/// B and C hang off H; C has B as an autoconnect target. p1 on B makes
/// #r (B sequences it), p2 on C joins. H shuts down; p2 asks for a number
/// while C and B are apart. Returns the net, p2's puppet and link, and
/// whether p2's request was still unanswered while they were apart.
fn hub_leaves_while_a_member_asks(grace: Duration) -> (Net, usize, LinkId, bool) {
    hub_leaves_while_a_member_asks_with(grace, &["B"])
}

/// The same, with C's autoconnect targets given (none: B and C stay
/// apart).
fn hub_leaves_while_a_member_asks_with(
    grace: Duration,
    c_dials: &[&str],
) -> (Net, usize, LinkId, bool) {
    let cfg = Config {
        relink_grace: grace,
        ..Config::default()
    };
    let mut net = Net::new(cfg);
    // Linked by hand; C's autoconnect target matters only once B is
    // out of its view.
    let h = net.add("H", &[]);
    let b = net.add("B", &[]);
    let c = net.add("C", c_dials);
    for i in [b, c] {
        net.connect(i, "H");
        net.settle();
    }
    assert_eq!(net.check_tree(), [edge("B", "H"), edge("C", "H")].into());
    let p1 = net.add_puppet("p1");
    client_joins(&mut net, p1, "B", "p1");
    let p2 = net.add_puppet("p2");
    let l2 = client_joins(&mut net, p2, "C", "p2");
    assert_eq!(net.srv(c).room_sequencer("#r"), Some(net.srv(b).sid()));
    net.handle(h, Input::Operator(Command::Shutdown));
    net.run_until_true(ms(1), |net| net.srv(c).known_server("B").is_none());

    let before = net.puppet_got(p2, l2).len();
    net.puppet_send(p2, l2, &encoded(&["GETSEQ", "#r"]));
    net.run_for(ms(50));
    let waiting = net.puppet_got(p2, l2)[before..]
        .iter()
        .all(|w| w[0] != "NEWSEQ" && w[0] != "NOSEQ");
    assert!(
        net.srv(c).known_server("B").is_none(),
        "C and B apart still"
    );
    net.run_for(secs(5));
    (net, p2, l2, waiting)
}

#[test]
fn after_a_graceful_shutdown_a_room_waits_for_the_tree_instead_of_forking() {
    let (net, p2, l2, waiting) = hub_leaves_while_a_member_asks(secs(3));
    let (b, c) = (net.find("B"), net.find("C"));
    // (H is stopped, not gone: it has no links.)
    assert_eq!(net.check_forest(), [edge("B", "C")].into());
    // The request waited, and was answered by B's stream once C and B
    // linked: same epoch, no new one anywhere.
    assert!(waiting);
    let got = net.puppet_got(p2, l2);
    let new: Vec<&Vec<String>> = got.iter().filter(|w| w[0] == "NEWSEQ").collect();
    assert_eq!(new.len(), 1, "{got:?}");
    assert_eq!(new[0][2], "1");
    assert!(new[0][3].starts_with(net.srv(b).sid()), "{:?}", new[0]);
    assert!(!got.iter().any(|w| w[0] == "NOSEQ"));
    for i in [b, c] {
        let r = net.srv(i).rooms().find(|r| r.name == "#r").unwrap();
        assert_eq!(r.stream.epoch, 1);
    }
    // Answered as soon as C and B linked, not only when the grace ran
    // out (mutation survivor: the held requests whose sequencer was back
    // in reach held again instead).
    let asked = newest(&net, p2, l2, "GETSEQ", true);
    let answered = newest(&net, p2, l2, "NEWSEQ", false);
    assert!(answered < asked + secs(2), "{asked:?} {answered:?}");
}

/// When puppet `p` last sent (`sent`) or got a frame `cmd` on `l`.
fn newest(net: &Net, p: usize, l: LinkId, cmd: &str, sent: bool) -> Instant {
    let mine =
        |x: &(Instant, usize, LinkId, Vec<u8>)| x.1 == p && x.2 == l && words(&x.3)[0] == cmd;
    let list = if sent { &net.sent } else { &net.got };
    list.iter().rev().find(|x| mine(x)).expect(cmd).0
}

/// Survivors of the grace: when the tree does not come back, the rooms
/// cut off elect once `relink_grace` has passed (not before, and not
/// later because inputs kept arriving), and the held request is answered
/// from the new stream.
#[test]
fn when_the_tree_does_not_come_back_the_grace_ends_in_an_election() {
    let (net, p2, l2, waiting) = hub_leaves_while_a_member_asks_with(secs(3), &[]);
    let c = net.find("C");
    assert!(waiting, "held during the grace");
    let got = net.puppet_got(p2, l2);
    let new: Vec<&Vec<String>> = got.iter().filter(|w| w[0] == "NEWSEQ").collect();
    assert_eq!(new.len(), 1, "{got:?}");
    assert_ne!(new[0][2], "1");
    assert!(new[0][3].starts_with(net.srv(c).sid()), "{:?}", new[0]);
    let asked = newest(&net, p2, l2, "GETSEQ", true);
    let answered = newest(&net, p2, l2, "NEWSEQ", false);
    assert!(
        answered <= asked + secs(3) + ms(100),
        "{asked:?} {answered:?}"
    );
}

#[test]
fn without_the_grace_the_cut_off_side_elects_at_once() {
    let (net, p2, l2, waiting) = hub_leaves_while_a_member_asks(Duration::ZERO);
    let c = net.find("C");
    // C elected itself the moment it lost B and answered p2 from that
    // new stream; the room never goes back to epoch 1.
    assert!(!waiting);
    let got = net.puppet_got(p2, l2);
    let new: Vec<&Vec<String>> = got.iter().filter(|w| w[0] == "NEWSEQ").collect();
    assert_eq!(new.len(), 1, "{got:?}");
    assert_ne!(new[0][2], "1");
    assert!(new[0][3].starts_with(net.srv(c).sid()), "{:?}", new[0]);
    let r = net.srv(c).rooms().find(|r| r.name == "#r").unwrap();
    assert!(r.stream.epoch > 1);
}

/// A member's server asks again for its member's number when a graceful
/// shutdown takes the sequencer out of its view before the answer came
/// (`request-reask`). In swarm-one-second seed 31810 a server shutting
/// down passed a request on in its last moments and closed before the
/// sequencer's answer came back through it; the member's server saw the
/// sequencer leave and come back when the tree re-formed, but only the
/// client's retry would have asked again, and its tries were spent
/// (answer-lost-at-a-graceful-close.toml). Here B's answer is lost on its
/// way back through H, and H shuts down.
#[test]
fn a_request_whose_answer_a_graceful_shutdown_lost_is_asked_again() {
    for ablate in [false, true] {
        let mut cfg = Config {
            relink_grace: secs(3),
            ..Config::default()
        };
        cfg.ablations.no_request_reask = ablate;
        let mut net = Net::new(cfg);
        let h = net.add("H", &[]);
        let b = net.add("B", &[]);
        let c = net.add("C", &["B"]);
        for i in [b, c] {
            net.connect(i, "H");
            net.settle();
        }
        let p1 = net.add_puppet("p1");
        client_joins(&mut net, p1, "B", "p1");
        let p2 = net.add_puppet("p2");
        let l2 = client_joins(&mut net, p2, "C", "p2");
        assert_eq!(net.srv(c).room_sequencer("#r"), Some(net.srv(b).sid()));

        net.lose.push("RSEQ".into());
        net.puppet_send(p2, l2, &encoded(&["GETSEQ", "#r"]));
        net.settle();
        assert!(net.lose.is_empty(), "B's answer was lost");
        let answers = |net: &Net| {
            let got = net.puppet_got(p2, l2);
            got.into_iter()
                .filter(|w| w[0] == "NEWSEQ" || w[0] == "NOSEQ")
                .collect::<Vec<_>>()
        };
        assert_eq!(answers(&net), Vec::<Vec<String>>::new());

        net.handle(h, Input::Operator(Command::Shutdown));
        net.run_until_true(ms(1), |net| net.srv(c).known_server("B").is_none());
        net.run_for(secs(5));
        assert!(net.srv(c).known_server("B").is_some(), "C and B linked");
        // Asked again once C and B linked, and answered from B's stream,
        // number 2 (number 1, held for the lost answer, is skipped
        // later); ablated, C waits for a retry that p2 never sends.
        let got = answers(&net);
        if ablate {
            assert_eq!(got, Vec::<Vec<String>>::new(), "ablated");
        } else {
            assert_eq!(got.len(), 1, "{got:?}");
            assert_eq!(got[0][0], "NEWSEQ");
            assert_eq!(got[0][2], "1", "{got:?}");
            assert!(got[0][3].starts_with(net.srv(b).sid()), "{got:?}");
            assert_eq!(got[0][4], "2", "{got:?}");
        }
    }
}

// ------------------------------------------- gaps a mutation run found

#[test]
fn every_valid_sid_packs_to_its_own_route_key() {
    // Route-table keys: two SIDs that differ only in their first character
    // must not share one (a shift the wrong way would fold them together).
    let chars = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut seen = BTreeSet::new();
    for &a in chars {
        for &b in chars {
            for &c in chars {
                assert!(seen.insert(super::pack_sid(a, b, c)), "{a} {b} {c}");
            }
        }
    }
    assert_eq!(seen.len(), 36 * 36 * 36);
    assert_eq!(super::pack_sid(b'0', b'A', b'B'), 0x30_41_42);
}

#[test]
fn servers_whose_sids_differ_in_the_first_character_get_their_own_routes() {
    let mut net = Net::new(Config::default());
    let a = net.add("A", &[]);
    for (name, sid) in [("B", "0QQ"), ("C", "1QQ")] {
        let keys = KeyPair::generate(&mut ChaCha8Rng::seed_from_u64(
            sid.len() as u64 + name.len() as u64 * 31,
        ));
        let i = net.add_host(name, sid, keys, true, true, &[]);
        net.connect(i, "A");
        net.settle();
    }
    let (lb, lc) = (net.link_to(a, "B"), net.link_to(a, "C"));
    assert_ne!(lb, lc);
    assert_eq!(net.srv(a).route_by_sid("0QQ"), Some(lb));
    assert_eq!(net.srv(a).route_by_sid("1QQ"), Some(lc));
}

#[test]
fn a_route_whose_path_changes_alone_is_recorded_and_passed_on() {
    // D-A-B-C. B re-announces C with the same hops and uplink but another
    // link tag (the B-C link was replaced): A must take the new path, the
    // one its loop checks compare, and pass it on to D.
    let mut net = chain(
        Config::default(),
        &["D", "A", "B", "C"],
        &[("A", "D"), ("B", "A"), ("C", "B")],
    );
    let (a, d) = (net.find("A"), net.find("D"));
    let (ab, ad) = (net.link_to(a, "B"), net.link_to(a, "D"));
    let old = net
        .sent_on(net.find("B"), net.link_to(net.find("B"), "A"))
        .into_iter()
        .rfind(|w| w[0] == "SERVER" && w[1] == "C")
        .expect("B introduced C to A");
    // SERVER,name,hops,sid,incarnation,uplink,-,path (B holds no
    // users): bump the tag's stamp.
    let mut w = old.clone();
    assert_eq!(w[6], "-", "{w:?}");
    let (stamp, rest) = w[7].split_once(':').expect("tagged path");
    let bumped = format!("{}:{rest}", stamp.parse::<u64>().unwrap() + 1000);
    w[7] = bumped.clone();
    let args: Vec<&str> = w[1..].iter().map(String::as_str).collect();
    let before = net.sent_on(a, ad).len();
    net.inject(a, ab, &chat_frame("SERVER", &args));
    net.settle();
    let to_d: Vec<Vec<String>> = net.sent_on(a, ad)[before..].to_vec();
    let fwd = to_d
        .iter()
        .find(|w| w[0] == "SERVER" && w[1] == "C")
        .unwrap_or_else(|| panic!("A passed nothing on: {to_d:?}"));
    assert!(fwd.contains(&bumped), "{fwd:?}");
    // The same announcement again changes nothing and goes nowhere.
    let before = net.sent_on(a, ad).len();
    net.inject(a, ab, &chat_frame("SERVER", &args));
    net.settle();
    assert!(net.sent_on(a, ad)[before..].is_empty());
    let _ = d;
}

/// A UID, UNICK or UQUIT a server takes goes on as it came, byte for
/// byte, as a BCAST or an RJOIN does: one written otherwise than the
/// encoder would (leading zeros, a space escaped mid-text) is not
/// rewritten on the way.
#[test]
fn user_messages_are_passed_on_as_they_came() {
    let (mut net, ab, ad, c_sid, _, [sam, _]) = users_of_c(Config::default());
    let a = 0;
    let newer = format!("{c_sid}-1-3");
    for frame in [
        format!("<UNICK,{sam},samuel,0008>"),
        format!("<UID,{newer},zed,0009,9>"),
        format!("<UQUIT,{newer},so\\ long>"),
    ] {
        let before = net.sent.len();
        net.inject(a, ab, frame.as_bytes());
        let passed: Vec<&[u8]> = net.sent[before..]
            .iter()
            .filter(|s| s.1 == a && s.2 == ad)
            .map(|s| &s.3[..])
            .collect();
        assert_eq!(passed, [frame.as_bytes()], "{frame}");
    }
    assert_eq!(nick_of(&net, a, &sam).as_deref(), Some("samuel"));
    assert_eq!(nick_of(&net, a, &newer), None, "zed came and quit");
}

#[test]
fn a_nick_change_frees_the_old_nick() {
    let (mut net, ab, ad, _, d_sid, [sam, max]) = users_of_c(Config::default());
    let a = 0;
    net.inject(a, ab, &chat_frame("UNICK", &[&sam, "samuel", "8"]));
    assert_eq!(net.srv(a).uid_of_nick("samuel"), Some(sam.as_str()));
    assert_eq!(net.srv(a).uid_of_nick("sam"), None);
    assert_eq!(net.srv(a).uid_of_nick("max"), Some(max.as_str()));
    // So a newcomer may take it without a collision.
    let newer = format!("{d_sid}-1-1");
    net.inject(a, ad, &chat_frame("UID", &[&newer, "sam", "9", "9"]));
    assert_eq!(nick_of(&net, a, &newer).as_deref(), Some("sam"));
    assert_eq!(net.srv(a).stats().resolutions, 0);
}

// ---------------------------------------------------------------- greeter

/// g, a and b in a chain g-a-b, g the greeter, every server started (so
/// each drew its secret) and linked; a puppet `p` plays the clients.
fn greeter_net() -> (Net, usize) {
    let cfg = Config {
        greeter: Some("g".into()),
        ..Config::default()
    };
    let mut net = Net::new(cfg);
    for n in ["g", "a", "b"] {
        let i = net.add(n, &[]);
        net.handle(i, Input::Start);
    }
    for (x, y) in [("a", "g"), ("b", "a")] {
        let x = net.find(x);
        net.connect(x, y);
        net.settle();
    }
    let p = net.add_puppet("p");
    (net, p)
}

/// A server that has shut down sends the greeter no secret any more,
/// even when its refresh falls due: stopping closed its links, so it
/// knows no greeter (which is also why `tokens_after`'s "stopped" test
/// as `&&` is equivalent, see .cargo/mutants.toml).
#[test]
fn a_stopped_server_sends_no_secret() {
    let (mut net, _) = greeter_net();
    let b = net.find("b");
    net.handle(b, Input::Operator(Command::Shutdown));
    net.run_for(secs(12));
    assert!(net.srv(b).is_stopped());
    assert!(net.srv(b).known_server("g").is_none());
    let stopped_at = net.now;
    net.run_for(net.srv(b).config().secret_refresh + secs(5));
    let late: Vec<_> = net
        .sent
        .iter()
        .filter(|s| s.1 == b && s.0 >= stopped_at && words(&s.3)[0] == "GSECRET")
        .collect();
    assert!(late.is_empty(), "{late:?}");
}

/// The puppet logs in at the greeter; the answer's frames.
fn glogin(net: &mut Net, p: usize, args: &[&str]) -> Vec<Vec<String>> {
    let l = net.puppet_dial(p, "g");
    net.puppet_send(p, l, &chat_frame("GLOGIN", args));
    net.settle();
    net.puppet_got(p, l)
}

/// The puppet presents `token` to `server` on a new connection.
fn present(net: &mut Net, p: usize, server: &str, token: &str) -> (LinkId, Vec<Vec<String>>) {
    let l = net.puppet_dial(p, server);
    net.puppet_send(p, l, &chat_frame("TOKEN", &[token]));
    net.settle();
    (l, net.puppet_got(p, l))
}

#[test]
fn the_greeter_holds_every_secret_and_no_server_on_the_way_can_read_one() {
    let (net, _) = greeter_net();
    let g = net.find("g");
    let keys: Vec<(String, u64)> = net
        .srv(g)
        .greeter_keys()
        .map(|(n, i)| (n.to_string(), i))
        .collect();
    assert_eq!(keys, [("a".to_string(), 1), ("b".to_string(), 1)]);
    // b's GSECRET crossed a, sealed: the hex on the wire is not b's secret.
    let b = net.find("b");
    let secret = net.srv(b).token_secret().unwrap();
    let plain: String = secret.iter().map(|x| format!("{x:02x}")).collect();
    let a = net.find("a");
    let to_g = net.link_to(a, "g");
    let forwarded: Vec<Vec<String>> = net
        .sent_on(a, to_g)
        .into_iter()
        .filter(|w| w[0] == "GSECRET" && w[3] == "b")
        .collect();
    assert_eq!(forwarded.len(), 1, "b's secret went once, through a");
    assert_ne!(forwarded[0][6], plain);
    assert!(!forwarded[0].concat().contains(&plain));
}

/// `token_secret` is the key the server's tokens are signed with: a
/// token the greeter issued for it verifies under it, and not under the
/// other server's (mutation survivor: the accessor could answer a zero
/// key; the simulator's stolen-key attacks rely on it).
#[test]
fn token_secret_is_the_key_a_servers_tokens_verify_under() {
    let (mut net, p) = greeter_net();
    let got = glogin(&mut net, p, &["alice", "al"]);
    let tok = got.iter().find(|w| w[0] == "GTOKEN").expect("a token");
    let (server, token) = (tok[1].clone(), tok[2].clone());
    let other = if server == "a" { "b" } else { "a" };
    let (_, body, mac) = crate::token::parse(&token).unwrap();
    let key = |n: &str| net.srv(net.find(n)).token_secret().expect("a secret");
    assert!(crate::token::mac_ok(&key(&server), body, &mac));
    assert!(!crate::token::mac_ok(&key(other), body, &mac));
}

#[test]
fn a_greeter_token_logs_in_once_without_user_or_nick() {
    let (mut net, p) = greeter_net();
    let got = glogin(&mut net, p, &["alice", "al"]);
    let tok = got.iter().find(|w| w[0] == "GTOKEN").expect("a token");
    let (server, token) = (tok[1].clone(), tok[2].clone());
    assert!(server == "a" || server == "b", "{server}");
    assert!(token.starts_with(&format!("{server}:alice:al:")), "{token}");
    // Its expiry is token_ttl ahead on the audience's clock (here the
    // greeter's: no skew), give or take the GSECRET's trip.
    let s = net.find(&server);
    let expiry = crate::token::parse(&token).unwrap().0.expiry_ms;
    let now_ms = net.srv(s).wall_clock_ms(net.now);
    let ttl = Config::default().token_ttl.as_millis();
    assert!(
        expiry <= now_ms + ttl && expiry + 1_000 >= now_ms + ttl,
        "expiry {expiry} vs now {now_ms} + {ttl}"
    );
    let (_, answer) = present(&mut net, p, &server, &token);
    assert_eq!(answer[0][0], "WELCOME", "{answer:?}");
    assert_eq!(answer[0][1], "alice");
    let s = net.find(&server);
    assert!(net.srv(s).uid_of_nick("alice").is_some());
    // The same token again: refused as a replay, and nobody new.
    let users = net.srv(s).user_count();
    let (_, again) = present(&mut net, p, &server, &token);
    assert_eq!(again, [["TOKENERR", "replay"]]);
    assert_eq!(net.srv(s).user_count(), users);
    // At the other session server it is another server's token.
    let other = if server == "a" { "b" } else { "a" };
    let (_, there) = present(&mut net, p, other, &token);
    assert_eq!(there, [["TOKENERR", "audience"]]);
}

#[test]
fn a_refused_token_leaves_the_connection_open_for_a_full_login() {
    let (mut net, p) = greeter_net();
    let (l, got) = present(&mut net, p, "a", "not-a-token");
    assert_eq!(got, [["TOKENERR", "signature"]]);
    net.puppet_send(p, l, &chat_frame("USER", &["bo"]));
    net.puppet_send(p, l, &chat_frame("NICK", &["bob"]));
    net.settle();
    let got = net.puppet_got(p, l);
    assert_eq!(got[1][0], "WELCOME", "{got:?}");
}

#[test]
fn after_a_restart_the_old_secret_is_stale_and_the_greeter_learns_the_new_one() {
    let (mut net, p) = greeter_net();
    let token_for = |net: &mut Net, nick: &str, server: &str| {
        // The greeter alternates by load; ask until it names `server`
        // (a few times at most: a greeter that never names it is a
        // failure, not a hang).
        for _ in 0..8 {
            let got = glogin(net, p, &[nick, "u"]);
            let t = got.iter().find(|w| w[0] == "GTOKEN").unwrap().clone();
            if t[1] == server {
                return t[2].clone();
            }
        }
        panic!("the greeter never named {server}");
    };
    let old = token_for(&mut net, "carl", "b");
    let b = net.find("b");
    net.crash(b);
    net.restart(b);
    let a = net.find("a");
    net.connect(b, "a");
    net.settle();
    assert!(net.srv(a).known_servers().any(|k| k.name == "b"));
    let g = net.find("g");
    assert!(net.srv(g).greeter_keys().any(|k| k == ("b", 2)));
    let (_, got) = present(&mut net, p, "b", &old);
    assert_eq!(got, [["TOKENERR", "stale"]]);
    let new = token_for(&mut net, "dora", "b");
    let (_, got) = present(&mut net, p, "b", &new);
    assert_eq!(got[0][0], "WELCOME", "{got:?}");
}

#[test]
fn the_greeter_counts_its_own_tokens_as_load_and_lists_sessions() {
    let (mut net, p) = greeter_net();
    let mut sent_to = Vec::new();
    for n in ["u1", "u2", "u3", "u4"] {
        let got = glogin(&mut net, p, &[n, "u"]);
        sent_to.push(got.iter().find(|w| w[0] == "GTOKEN").unwrap()[1].clone());
    }
    // Nobody presented a token yet: only the greeter's count of what it
    // handed out spreads them.
    sent_to.sort();
    assert_eq!(sent_to, ["a", "a", "b", "b"]);
    // A user of `b` in #r: a login asking for #r's session goes to `b`,
    // and the listing names it with its load.
    let (l, _) = present(&mut net, p, "b", "x");
    net.puppet_send(p, l, &chat_frame("USER", &["ro"]));
    net.puppet_send(p, l, &chat_frame("NICK", &["rose"]));
    net.puppet_send(p, l, &chat_frame("CREATEROOM", &["#r"]));
    net.settle();
    let got = glogin(&mut net, p, &["vic", "u", "#r"]);
    assert_eq!(got[0], ["GSESSION", "#r", "b:3"]);
    assert_eq!(got[1][..2], ["GTOKEN", "b"]);
    // Once a token's user has arrived it counts as a user, not twice:
    // vic logs in at b, and b's load is rose, vic and u2's and u4's
    // tokens, still 4.
    let (_, w) = present(&mut net, p, "b", &got[1][2]);
    assert_eq!(w[0][0], "WELCOME");
    let got = glogin(&mut net, p, &["wes", "u", "#r"]);
    assert_eq!(got[0], ["GSESSION", "#r", "b:4"]);
    // A greeter that knows no session server refuses, and says why.
    let got = glogin(&mut net, p, &["1bad", "u"]);
    assert_eq!(got, [["GREFUSE", "invalid nick, user or room"]]);
}

#[test]
fn a_server_that_is_not_the_greeter_refuses_a_greeter_login() {
    let (mut net, p) = greeter_net();
    let l = net.puppet_dial(p, "a");
    net.puppet_send(p, l, &chat_frame("GLOGIN", &["zed", "z"]));
    net.settle();
    assert_eq!(net.puppet_got(p, l), [["GREFUSE", "not a greeter"]]);
}

// ---------------------------------------------------------------- operator

#[test]
fn an_operator_kill_travels_to_the_users_server_which_carries_it_out() {
    let mut net = chain(
        Config::default(),
        &["a", "b", "c"],
        &[("b", "a"), ("c", "b")],
    );
    let p = net.add_puppet("p");
    let l = net.puppet_dial(p, "c");
    net.puppet_send(p, l, &chat_frame("USER", &["s"]));
    net.puppet_send(p, l, &chat_frame("NICK", &["sam"]));
    net.settle();
    let a = net.find("a");
    net.handle(
        a,
        Input::Operator(Command::Kill {
            nick: "sam",
            comment: "spam",
        }),
    );
    net.settle();
    let got = net.puppet_got(p, l);
    assert_eq!(got.last().unwrap(), &["KILLED", "spam"]);
    for s in ["a", "b", "c"] {
        let i = net.find(s);
        assert_eq!(net.srv(i).uid_of_nick("sam"), None, "{s}");
    }
    // The request went hop by hop; the KILL came back from c, its issuer.
    let b = net.find("b");
    let to_c = net.link_to(b, "c");
    assert!(net.sent_on(b, to_c).iter().any(|w| w[0] == "OKILL"));
    let c_sid = net.hosts[net.find("c")].id.sid.to_string();
    let to_a = net.link_to(b, "a");
    assert!(net
        .sent_on(b, to_a)
        .iter()
        .any(|w| w[0] == "KILL" && w[1] == c_sid));
}

#[test]
fn an_unlink_asked_elsewhere_closes_the_link_with_sclose_at_its_end() {
    let mut net = chain(
        Config::default(),
        &["a", "b", "c"],
        &[("b", "a"), ("c", "b")],
    );
    let a = net.find("a");
    net.handle(
        a,
        Input::Operator(Command::UnlinkAt {
            server: "b",
            peer: "c",
        }),
    );
    net.settle();
    let b = net.find("b");
    assert!(net.links_to(b, "c").is_empty(), "b closed its link to c");
    assert!(net.srv(a).known_servers().all(|k| k.name != "c"));
    // Asking the server itself is a local unlink; an unknown server, nothing.
    net.handle(
        a,
        Input::Operator(Command::UnlinkAt {
            server: "zz",
            peer: "b",
        }),
    );
    net.settle();
    assert_eq!(net.links_to(a, "b").len(), 1);
    net.handle(
        a,
        Input::Operator(Command::UnlinkAt {
            server: "a",
            peer: "b",
        }),
    );
    net.settle();
    assert!(net.links_to(a, "b").is_empty());
}

/// An unlink asked two hops away is relayed toward the server that acts
/// on it (a mutation survivor: the relay sent it only back where it came
/// from).
#[test]
fn an_unlink_asked_two_hops_away_is_relayed() {
    let mut net = chain(
        Config::default(),
        &["a", "b", "c", "d"],
        &[("b", "a"), ("c", "b"), ("d", "c")],
    );
    let a = net.find("a");
    net.handle(
        a,
        Input::Operator(Command::UnlinkAt {
            server: "c",
            peer: "d",
        }),
    );
    net.settle();
    let c = net.find("c");
    assert!(net.links_to(c, "d").is_empty(), "c closed its link to d");
    assert_eq!(net.links_to(c, "b").len(), 1);
    assert!(net.srv(a).known_servers().all(|k| k.name != "d"));
}

#[test]
fn user_fields_travel_with_the_uid_and_ulist_shows_them_elsewhere() {
    let mut net = chain(Config::default(), &["a", "b"], &[("b", "a")]);
    let p = net.add_puppet("p");
    let la = net.puppet_dial(p, "a");
    net.puppet_send(p, la, &chat_frame("USER", &["ann", "0", "*", "Ann Other"]));
    net.puppet_send(p, la, &chat_frame("NICK", &["ann"]));
    net.puppet_send(p, la, &chat_frame("JOINROOM", &["#r"]));
    // A one-argument USER is still taken: its user name is its real name.
    let lb = net.puppet_dial(p, "b");
    net.puppet_send(p, lb, &chat_frame("USER", &["bo"]));
    net.puppet_send(p, lb, &chat_frame("NICK", &["bob"]));
    net.puppet_send(p, lb, &chat_frame("JOINROOM", &["#r"]));
    net.settle();
    net.puppet_send(p, lb, &chat_frame("ULIST", &["#r"]));
    net.settle();
    let got = net.puppet_got(p, lb);
    assert_eq!(
        got.last().unwrap(),
        &["USERS", "#r", "ann!ann@a Ann Other", "bob!bo@b bo"]
    );
    // A server that links later learns them from the burst.
    let c = net.add("c", &[]);
    net.connect(c, "b");
    net.settle();
    let lc = net.puppet_dial(p, "c");
    net.puppet_send(p, lc, &chat_frame("USER", &["cy"]));
    net.puppet_send(p, lc, &chat_frame("NICK", &["cy"]));
    net.puppet_send(p, lc, &chat_frame("ULIST", &["#r"]));
    net.settle();
    assert_eq!(
        net.puppet_got(p, lc).last().unwrap(),
        &["USERS", "#r", "ann!ann@a Ann Other", "bob!bo@b bo"]
    );
    // Two or three arguments are neither form.
    let lc = net.puppet_dial(p, "b");
    net.puppet_send(p, lc, &chat_frame("USER", &["x", "0"]));
    net.settle();
    assert_eq!(net.puppet_got(p, lc)[0][0], "ERROR");
}

#[test]
fn a_secret_naming_another_incarnation_is_not_kept_and_secrets_are_refreshed() {
    let (mut net, _) = greeter_net();
    let (a, b, g) = (net.find("a"), net.find("b"), net.find("g"));
    // b's GSECRET as a forwarded it to g, replayed with another
    // incarnation: g keeps what it has.
    let to_g = net.link_to(a, "g");
    let mut w = net
        .sent_on(a, to_g)
        .into_iter()
        .find(|w| w[0] == "GSECRET" && w[3] == "b")
        .unwrap();
    w[4] = "7".into();
    let args: Vec<&str> = w[1..].iter().map(|s| s.as_str()).collect();
    let from_a = net.link_to(g, "a");
    net.inject(g, from_a, &chat_frame("GSECRET", &args));
    let keys: Vec<(String, u64)> = net
        .srv(g)
        .greeter_keys()
        .map(|(n, i)| (n.to_string(), i))
        .collect();
    assert_eq!(keys, [("a".to_string(), 1), ("b".to_string(), 1)]);
    // Every secret_refresh each server sends its secret (and clock) again.
    let sent = |net: &Net| {
        let to_a = net.link_to(b, "a");
        net.sent_on(b, to_a)
            .iter()
            .filter(|w| w[0] == "GSECRET")
            .count()
    };
    assert_eq!(sent(&net), 1);
    net.run_for(Config::default().secret_refresh + secs(1));
    assert_eq!(sent(&net), 2);
    // On its own timer, to the instant: not whenever some other input
    // happens to wake the server.
    let times: Vec<Instant> = net
        .sent
        .iter()
        .filter(|s| s.1 == b && words(&s.3)[0] == "GSECRET")
        .map(|s| s.0)
        .collect();
    assert_eq!(times[1], times[0] + Config::default().secret_refresh);
}

#[test]
fn the_wall_clock_follows_the_offset_in_ms_and_whole_seconds() {
    let mut net = chain(Config::default(), &["a"], &[]);
    let a = net.find("a");
    let t = Instant::ZERO + secs(10);
    assert_eq!(net.srv(a).wall_clock_ms(t), 10_000);
    // Nick and room timestamps: whole seconds (a survivor: `/` as `%`).
    let t2 = Instant::ZERO + ms(2_900);
    assert_eq!(net.srv(a).wall_secs(t2), 2);
    net.hosts[a]
        .srv
        .as_mut()
        .unwrap()
        .set_wall_offset(5_000_000_000);
    assert_eq!(net.srv(a).wall_clock_ms(t), 15_000);
    assert_eq!(net.srv(a).wall_secs(t2), 7);
    net.hosts[a]
        .srv
        .as_mut()
        .unwrap()
        .set_wall_offset(-20_000_000_000);
    assert_eq!(net.srv(a).wall_clock_ms(t), 0, "never below zero");
}

#[test]
fn a_response_of_the_right_length_without_our_challenge_is_refused() {
    // An impostor names A (registered; its key is public) to B, cannot
    // read the CHALLENGE sealed to A's key, and answers with a RESPONSE
    // sealed to B's key: the right length, a guessed challenge.
    let mut net = chain(Config::default(), &["A", "B"], &[]);
    let b = net.find("B");
    let p = net.add_puppet("p");
    let l = net.puppet_dial(p, "B");
    let a_sid = net.hosts[net.find("A")].id.sid.to_string();
    net.puppet_send(p, l, &chat_frame("LINK", &["A", &a_sid, "1", "5"]));
    net.settle();
    assert_eq!(net.puppet_got(p, l)[0][0], "CHALLENGE");
    let b_key = net.registry.get("B").unwrap().key;
    let sealed = b_key.seal(&mut ChaCha8Rng::seed_from_u64(3), &[9u8; 64]);
    net.puppet_send(p, l, &hex_frame("RESPONSE", &sealed));
    net.settle();
    let got = net.puppet_got(p, l);
    assert!(got.iter().all(|w| w[0] != "VERIFIED"), "{got:?}");
    assert_eq!(got.last().unwrap()[0], "ERROR", "{got:?}");
    assert_eq!(net.srv(b).stats().links_registered, 0);
}

#[test]
fn a_registered_users_nick_change_is_checked_for_validity_and_use() {
    let mut net = chain(Config::default(), &["a"], &[]);
    let p = net.add_puppet("p");
    let l = net.puppet_dial(p, "a");
    net.puppet_send(p, l, &chat_frame("USER", &["u"]));
    net.puppet_send(p, l, &chat_frame("NICK", &["ann"]));
    let m = net.puppet_dial(p, "a");
    net.puppet_send(p, m, &chat_frame("USER", &["v"]));
    net.puppet_send(p, m, &chat_frame("NICK", &["max"]));
    net.settle();
    for (nick, want) in [
        ("anna", vec!["NICKOK", "anna"]),
        ("1anna", vec!["NICKERR", "1anna", "invalid nick"]),
        ("MAX", vec!["NICKERR", "MAX", "nick in use"]),
        ("Anna", vec!["NICKOK", "Anna"]),
    ] {
        net.puppet_send(p, l, &chat_frame("NICK", &[nick]));
        net.settle();
        assert_eq!(net.puppet_got(p, l).last().unwrap(), &want, "{nick}");
    }
    let a = net.find("a");
    assert!(net.srv(a).uid_of_nick("anna").is_some());
    assert!(net.srv(a).uid_of_nick("1anna").is_none());
}

#[test]
fn a_greeter_login_or_a_token_only_opens_a_connection() {
    let (mut net, p) = greeter_net();
    let l = net.puppet_dial(p, "g");
    net.puppet_send(p, l, &chat_frame("USER", &["u"]));
    net.puppet_send(p, l, &chat_frame("GLOGIN", &["zed", "z"]));
    net.settle();
    let got = net.puppet_got(p, l);
    assert!(got.iter().all(|w| w[0] != "GTOKEN"), "{got:?}");
    assert_eq!(got.last().unwrap(), &["ERROR", "register first"]);
    let l = net.puppet_dial(p, "a");
    net.puppet_send(p, l, &chat_frame("NICK", &["zed"]));
    net.puppet_send(
        p,
        l,
        &chat_frame("TOKEN", &["a:zed:z:1:0000000000000001:1:00"]),
    );
    net.settle();
    let got = net.puppet_got(p, l);
    assert!(got.iter().all(|w| w[0] != "TOKENERR"), "{got:?}");
    assert_eq!(got.last().unwrap(), &["ERROR", "register first"]);
}

/// Mutation survivors of server/mod.rs: a chat message is taken only on a
/// registered link (the guard on "unknown command" replaced by `true` let
/// one from a link still in its handshake reach the chat layer), a new
/// link's handshake timer is armed ahead, not behind, and frames from
/// clients are counted.
#[test]
fn a_chat_message_on_a_link_not_yet_registered_is_a_protocol_error() {
    let mut net = chain(Config::default(), &["A", "B"], &[("A", "B")]);
    let (a, b_sid) = (0, net.srv(1).sid().to_string());
    let p = net.add_puppet("P");
    let pl = net.puppet_dial(p, "A");
    let uid = format!("{b_sid}-1-1");
    net.puppet_send(p, pl, &chat_frame("UID", &[&uid, "sam", "5", "5"]));
    net.run_for(ms(100));
    assert_eq!(net.srv(a).user_count(), 0);
    assert!(
        net.puppet_got(p, pl).iter().any(|w| w[0] == "ERROR"),
        "{:?}",
        net.puppet_got(p, pl)
    );
    assert!(net
        .link_downs(a)
        .iter()
        .any(|(_, why)| *why == CloseReason::ProtocolError));
}

#[test]
fn a_new_link_arms_its_handshake_timer_ahead_of_now() {
    let mut net = chain(Config::default(), &["A", "B"], &[("A", "B")]);
    let a = 0;
    let p = net.add_puppet("P");
    net.puppet_dial(p, "A");
    let due = net.srv(a).poll_timeout().expect("a timer");
    assert!(due > net.now, "due {due:?} at {:?}", net.now);
    assert!(due <= net.now + Config::default().handshake_timeout);
}

#[test]
fn frames_from_clients_are_counted_in() {
    let mut net = chain(Config::default(), &["A", "B"], &[("A", "B")]);
    let a = 0;
    let before = net.srv(a).stats().frames_in;
    let p = net.add_puppet("P");
    let pl = net.puppet_dial(p, "A");
    net.puppet_send(p, pl, &chat_frame("NICK", &["sam"]));
    net.puppet_send(p, pl, &chat_frame("USER", &["sam"]));
    net.run_for(ms(10));
    assert_eq!(net.srv(a).stats().frames_in, before + 2);
    // One that does not decode is counted as malformed and answered.
    let malformed = net.srv(a).stats().malformed;
    net.puppet_send(p, pl, b"<NICK,sam");
    net.run_for(ms(500));
    assert_eq!(net.srv(a).stats().frames_in, before + 3);
    assert_eq!(net.srv(a).stats().malformed, malformed + 1);
    let got = net.puppet_got(p, pl);
    assert!(got.iter().any(|w| w[0] == "ERROR"), "{got:?}");
}

/// Survivors: `is_draining` as `true`, and `link_phase` without its
/// `Dialing` arm (a dial not yet connected read as handshaking).
#[test]
fn a_server_drains_only_once_told_to_shut_down_with_clients_to_move() {
    let mut net = chain(Config::default(), &["A", "B"], &[("A", "B")]);
    let p = net.add_puppet("p1");
    client_joins(&mut net, p, "B", "p1");
    assert!(!net.srv(1).is_draining());
    net.handle(1, Input::Operator(Command::Shutdown));
    assert!(net.srv(1).is_draining(), "moving p1 away first");
}

#[test]
fn a_dial_not_yet_connected_is_in_the_dialing_phase() {
    let mut net = chain(Config::default(), &["A", "B", "C"], &[("A", "B")]);
    net.connect(0, "C");
    let dialed = net.connects.last().unwrap().2;
    assert_eq!(net.srv(0).link_phase(dialed), Some(LinkPhase::Dialing));
    let info = net.srv(0).links().find(|l| l.id == dialed).unwrap();
    assert_eq!(info.phase, LinkPhase::Dialing);
    assert!(info.outbound);
    let b = net.link_to(0, "B");
    assert_eq!(net.srv(0).link(b).unwrap().phase, LinkPhase::Registered);
}

/// A survivor: `config` answering a default config instead of the one
/// the server was given.
#[test]
fn a_server_answers_the_config_it_was_given() {
    let cfg = Config {
        reconnect_max: secs(123),
        ..Config::default()
    };
    let net = chain(cfg, &["A"], &[]);
    assert_eq!(net.srv(0).config().reconnect_max, secs(123));
}

/// A survivor of server/chat/mod.rs: a user not known here is routed
/// toward the server its UID names, unless that is this one.
#[test]
fn an_unknown_user_is_routed_toward_the_server_its_uid_names() {
    use super::chat::Dest;
    let net = chain(
        Config::default(),
        &["A", "B", "C"],
        &[("A", "B"), ("B", "C")],
    );
    let a = net.find("A");
    let (a_sid, c_sid) = (net.srv(a).sid().to_string(), net.srv(2).sid().to_string());
    let ab = net.link_to(a, "B");
    assert_eq!(
        net.srv(a).dest_of_uid(&format!("{c_sid}-1-9")),
        Dest::Link(ab)
    );
    assert_eq!(
        net.srv(a).dest_of_uid(&format!("{a_sid}-1-9")),
        Dest::Nowhere
    );
}

/// A plain RMSG is read off the bytes; one with a malformed sequencer
/// name still goes the general way and is refused as a bad message.
#[test]
fn a_plain_rmsg_with_a_malformed_sequencer_is_a_protocol_error() {
    let mut net = chain(Config::default(), &["A", "B"], &[("A", "B")]);
    let a = net.find("A");
    let ab = net.link_to(a, "B");
    let before = net.srv(a).stats().malformed;
    let bad = chat_frame(
        "RMSG",
        &["#r", "1", "no-such", "1", "x-1-1", "sam", "x-1-1/1", "hi"],
    );
    net.inject(a, ab, &bad);
    assert_eq!(net.srv(a).stats().malformed, before + 1);
    assert!(net
        .sent_on(a, ab)
        .iter()
        .any(|w| w[0] == "ERROR" && w[1] == "bad RMSG message"));
}

/// An RSEND that is not plain (its text has an escaped comma) takes the
/// general path to its sequencer and is numbered there like a plain one.
#[test]
fn an_rsend_with_an_escape_reaches_its_sequencer_the_general_way() {
    let mut net = chain(Config::default(), &["A", "B"], &[("A", "B")]);
    let bob = net.add_puppet("bob");
    client_joins(&mut net, bob, "A", "bob");
    let alice = net.add_puppet("alice");
    let la = client_joins(&mut net, alice, "B", "alice");
    let (e, s) = synced_stream(&net, alice, la);
    net.puppet_send(
        alice,
        la,
        &encoded(&["CSEND", "#r", &e, &s, "0", "a/1", "hi, there"]),
    );
    net.settle();
    let rsend = net.sent_cmd(1, net.link_to(1, "A"), "RSEND");
    assert_eq!(rsend.len(), 1, "{rsend:?}");
    let got = net.puppet_got(alice, la).pop().expect("the echo");
    assert_eq!(
        (got[0].as_str(), got[8].as_str()),
        ("RMSG", "hi, there"),
        "{got:?}"
    );
    assert_eq!(net.srv(0).stats().malformed, 0);
}

/// A plain RSEND is read off the bytes too; one with a bad number or a
/// bad UID goes the general way and is refused as a bad message (which
/// ends the link, so each on a network of its own).
#[test]
fn a_plain_rsend_with_a_bad_number_or_uid_is_a_protocol_error() {
    for (n, good_uid) in [("x", true), ("0", false)] {
        let mut net = chain(Config::default(), &["A", "B"], &[("A", "B")]);
        let b = net.find("B");
        let ba = net.link_to(b, "A");
        let seq = format!("{}-1", net.srv(b).sid());
        let a_uid = format!("{}-1-1", net.srv(net.find("A")).sid());
        let uid = if good_uid { a_uid.as_str() } else { "nobody" };
        let before = net.srv(b).stats().malformed;
        let bad = chat_frame(
            "RSEND",
            &["#r", "1", &seq, n, uid, &format!("{uid}/1"), "hi"],
        );
        net.inject(b, ba, &bad);
        assert_eq!(net.srv(b).stats().malformed, before + 1, "{n} {uid}");
        assert!(net
            .sent_on(b, ba)
            .iter()
            .any(|w| w[0] == "ERROR" && w[1] == "bad RSEND message"));
    }
}

/// A survivor of server/chat/mod.rs: a client that has not finished
/// registering wakes its server at the handshake timeout (with the `!`
/// deleted, only under the ablation that turns the timeout off).
#[test]
fn a_registering_client_arms_the_handshake_timeout() {
    let mut net = chain(Config::default(), &["a"], &[]);
    let a = net.find("a");
    let p = net.add_puppet("p");
    let l = net.puppet_dial(p, "a");
    net.puppet_send(p, l, &chat_frame("NICK", &["sam"]));
    net.run_for(ms(10));
    let due = net.srv(a).poll_timeout().expect("a timer");
    assert!(due <= net.now + Config::default().handshake_timeout);
    net.run_for(Config::default().handshake_timeout);
    assert!(
        net.puppet_got(p, l).iter().any(|w| w[0] == "ERROR"),
        "{:?}",
        net.puppet_got(p, l)
    );
}

/// A survivor of server/chat/mod.rs: a nick given up still finds its
/// user until `nick_history` has passed (with `>` as `==`, the first
/// timeout after the change forgot it).
#[test]
fn a_nick_given_up_still_names_its_user_until_the_history_ends() {
    let (mut net, ab, _, _, _, uids) = users_of_c(Config::default());
    let a = 0;
    net.inject(a, ab, &chat_frame("UNICK", &[&uids[0], "samuel", "9"]));
    assert_eq!(nick_of(&net, a, &uids[0]).as_deref(), Some("samuel"));
    assert_eq!(net.srv(a).resolve_nick("sam").as_deref(), Some(&*uids[0]));
    net.run_for(secs(10));
    net.handle(a, Input::Timeout);
    assert_eq!(
        net.srv(a).resolve_nick("SAM").as_deref(),
        Some(&*uids[0]),
        "still within the history"
    );
    net.run_for(Config::default().nick_history);
    net.handle(a, Input::Timeout);
    assert_eq!(net.srv(a).resolve_nick("sam"), None);
}

/// A newcomer with discovery on looks for nobody while it syncs through
/// its sponsor (nor after: then it has a link). Mutation survivors: with
/// `joining` dropped from discovery's idle test, it sent HELLOs all
/// through the sync. Frames to it are slowed so the sync lasts seconds.
#[test]
fn a_joining_seeker_sends_no_hello_while_it_syncs() {
    let mut net = chain(Config::default(), &["A", "B"], &[("A", "B")]);
    let n = add_newcomer(&mut net, "N", "0NN", "B");
    net.make_seeker(n, ms(200));
    net.slow.insert(n, ms(300));
    net.settle();
    net.handle(n, Input::Start);
    net.run_for(ms(1_000));
    assert!(net.srv(n).is_joining(), "still syncing a second in");
    net.run_for(secs(10));
    assert!(!net.srv(n).is_joining());
    assert_eq!(net.check_tree(), [edge("A", "B"), edge("B", "N")].into());
    assert_eq!(net.srv(n).discovery_stats().hello_sent, 0);
}

/// A seeker that shuts down looks for nobody while it drains (mutation
/// survivor: with `draining` dropped from discovery's idle test it went on
/// sending HELLOs to the end). B only was dialled, so it seeks until then.
#[test]
fn a_draining_seeker_sends_no_hello() {
    let mut net = chain(Config::default(), &["A", "B"], &[("A", "B")]);
    let b = 1;
    net.make_seeker(b, ms(200));
    let p = net.add_puppet("p1");
    client_registers(&mut net, p, "B", "p1");
    net.run_for(secs(2));
    let before = net.srv(b).discovery_stats().hello_sent;
    assert!(before > 0, "B, only dialled, seeks");
    net.handle(b, Input::Operator(Command::Shutdown));
    net.run_for(secs(4));
    assert!(net.srv(b).is_draining(), "the move is still awaited");
    assert_eq!(net.srv(b).discovery_stats().hello_sent, before);
}

/// A nick change or quit of a user is taken only from the direction of
/// its home, and each refusal is counted (mutation survivor: the count
/// in `check_user_direction` could run backwards unnoticed).
#[test]
fn a_users_nick_change_or_quit_from_the_wrong_side_is_refused_and_counted() {
    let (mut net, ab, ad, _, _, [sam, _]) = users_of_c(Config::default());
    let a = 0;
    let before = net.srv(a).stats().misdirected;
    net.inject(a, ad, &chat_frame("UNICK", &[&sam, "tom", "7"]));
    net.inject(a, ad, &chat_frame("UQUIT", &[&sam, "bye"]));
    assert_eq!(net.srv(a).stats().misdirected, before + 2);
    assert_eq!(nick_of(&net, a, &sam).as_deref(), Some("sam"));
    // From C's side both are taken.
    net.inject(a, ab, &chat_frame("UNICK", &[&sam, "tom", "7"]));
    assert_eq!(nick_of(&net, a, &sam).as_deref(), Some("tom"));
    net.inject(a, ab, &chat_frame("UQUIT", &[&sam, "bye"]));
    assert_eq!(nick_of(&net, a, &sam), None);
    assert_eq!(net.srv(a).stats().misdirected, before + 2);
}

/// B, a seeker with HELLOs every `period`, autoconnects to A; ten
/// seconds on it is linked and looks no more. Returns the net and B.
fn linked_seeker(period: Duration) -> (Net, usize) {
    let mut net = Net::new(Config::default());
    net.add("A", &[]);
    let b = net.add("B", &["A"]);
    net.make_seeker(b, period);
    net.handle(b, Input::Start);
    net.run_for(secs(10));
    assert_eq!(net.check_tree(), [edge("A", "B")].into());
    assert!(!net.srv(b).is_seeking());
    (net, b)
}

/// A seeker stops looking once it has a registered link: at most the one
/// HELLO sent before its autoconnect registered, then none in ten
/// seconds of 200 ms periods (mutation survivor: with `linked || idle`
/// as `&&` in `discovery_after` it went on every period).
#[test]
fn a_seeker_with_a_registered_link_sends_no_more_hellos() {
    let (mut net, b) = linked_seeker(ms(200));
    let hellos = net.srv(b).discovery_stats().hello_sent;
    assert!(hellos <= 1);
    // A crashes: once B's ping timeout drops the link, B looks again (its
    // next HELLO timed from then, never armed in the past: see `handle`).
    net.crash(0);
    net.run_for(secs(60));
    assert!(net.srv(b).is_seeking());
    assert!(net.srv(b).discovery_stats().hello_sent > hellos + 10);
}

/// After losing its uplink a seeker's first HELLO waits at least half a
/// period (the jitter's least), whatever wakes it before (mutation
/// survivor: that HELLO timed as far in the past went out at the next
/// wake-up, here the autoconnect's retries).
#[test]
fn a_seekers_first_hello_after_a_lost_uplink_waits_half_a_period() {
    let (mut net, b) = linked_seeker(secs(10));
    let hellos = net.srv(b).discovery_stats().hello_sent;
    net.crash(0);
    net.run_until_true(ms(100), |net| net.links_to(b, "A").is_empty());
    // Lost within the last 100 ms: nothing before 5 s from then...
    net.run_for(ms(4_900));
    assert!(net.srv(b).is_seeking());
    assert_eq!(net.srv(b).discovery_stats().hello_sent, hellos);
    // ...and one by the full period.
    net.run_for(ms(5_100));
    assert!(net.srv(b).discovery_stats().hello_sent > hellos);
}

/// A chain A-B-C: A's link to B, and B's SERVER introducing C to A.
fn b_introduces_c_to_a() -> (Net, LinkId, Vec<String>) {
    let net = chain(
        Config::default(),
        &["A", "B", "C"],
        &[("A", "B"), ("B", "C")],
    );
    let ab = net.link_to(0, "B");
    let intro = net
        .sent_on(1, net.link_to(1, "A"))
        .into_iter()
        .find(|w| w[0] == "SERVER" && w[1] == "C")
        .expect("B introduced C to A");
    (net, ab, intro)
}

/// A route that changes shape behind the same link after that link's
/// burst may carry other users: the server asks the neighbour for them
/// (USYNC). Mutation survivor: with the burst test negated it asked only
/// during the burst, which resends them anyway.
#[test]
fn a_route_reshaped_behind_the_same_link_asks_for_its_users() {
    let (mut net, ab, intro) = b_introduces_c_to_a();
    let a = 0;
    let c_sid = net.srv(a).known_server("C").unwrap().sid.to_string();
    let asked = |net: &Net| -> Vec<Vec<String>> {
        net.sent_on(a, ab)
            .into_iter()
            .filter(|w| w[0] == "USYNC")
            .collect()
    };
    let before = asked(&net).len();
    // The same introduction, one hop longer, from a B that no longer says
    // it holds no users.
    let mut w: Vec<&str> = intro.iter().map(String::as_str).collect();
    assert_eq!((w[2], w[6]), ("1", "-"));
    w[2] = "2";
    w.remove(6);
    net.inject(a, ab, &encoded(&w));
    assert_eq!(net.srv(a).known_server("C").unwrap().hops, 3);
    assert_eq!(asked(&net)[before..], [["USYNC", c_sid.as_str()]]);
}

/// A neighbour that says it holds no users (`-`) is not asked for a
/// re-routed server's users when we hold none of them either: its answer
/// could neither add nor remove anything. When we do hold some, it is
/// asked all the same (its empty answer drops them).
#[test]
fn a_neighbour_without_users_is_asked_only_when_we_hold_some() {
    let (mut net, ab, intro) = b_introduces_c_to_a();
    let a = 0;
    let asked = |net: &Net| {
        net.sent_on(a, ab)
            .iter()
            .filter(|w| w[0] == "USYNC")
            .count()
    };
    let before = asked(&net);
    let mut w: Vec<&str> = intro.iter().map(String::as_str).collect();
    assert_eq!(w[6], "-", "B holds no users: {w:?}");
    w[2] = "2";
    net.inject(a, ab, &encoded(&w));
    assert_eq!(net.srv(a).known_server("C").unwrap().hops, 3);
    assert_eq!(asked(&net), before, "nothing to ask");
    // Now A holds a user of C; the route changes shape again.
    let c_sid = net.srv(a).known_server("C").unwrap().sid.to_string();
    let sam = format!("{c_sid}-1-1");
    net.inject(a, ab, &chat_frame("UID", &[&sam, "sam", "5", "5"]));
    assert_eq!(nick_of(&net, a, &sam).as_deref(), Some("sam"));
    w[2] = "3";
    net.inject(a, ab, &encoded(&w));
    assert_eq!(net.srv(a).known_server("C").unwrap().hops, 4);
    assert_eq!(asked(&net), before + 1, "asked: sam may be gone");
    net.inject(a, ab, &chat_frame("USYNCEND", &[&c_sid, "1"]));
    assert_eq!(nick_of(&net, a, &sam), None, "and the answer named nobody");
}

/// What a USYNC answer does not name is dropped at its end, and only
/// that: C's users at A are sam and max; B's answer names sam alone
/// (mutation survivor: the drop's two tests joined by `||`, which kept
/// the unnamed user).
#[test]
fn a_user_the_sync_answer_does_not_name_is_dropped() {
    let (mut net, ab, _, c_sid, _, [sam, max]) = users_of_c(Config::default());
    let a = 0;
    // The route to C behind B changes shape: A asks B for C's users.
    route_to_c_reshaped(&mut net, ab);
    assert!(net
        .sent_on(a, ab)
        .iter()
        .any(|w| *w == ["USYNC", c_sid.as_str()]));
    net.inject(a, ab, &chat_frame("UID", &[&sam, "sam", "5", "5"]));
    net.inject(a, ab, &chat_frame("USYNCEND", &[&c_sid, "1"]));
    assert_eq!(nick_of(&net, a, &sam).as_deref(), Some("sam"));
    assert_eq!(nick_of(&net, a, &max), None, "max was not named");
}

/// A user that moved to another server after A asked for its old home's
/// users is the new home's: the answer about the old home leaves it out
/// and A keeps it. Here max moves from C to E (both behind B) while A's
/// USYNC about C is unanswered; B's answer names sam alone. Without the
/// check (`sync-moved`) A drops max for good (sync-after-a-move.toml).
#[test]
fn a_user_that_moved_since_the_sync_was_asked_is_kept() {
    for ablate in [false, true] {
        let mut cfg = Config::default();
        cfg.ablations.no_sync_moved = ablate;
        let (mut net, ab, _, c_sid, _, [sam, max]) = users_of_c(cfg);
        let a = 0;
        let e_sid = net.srv(4).sid().to_string();
        route_to_c_reshaped(&mut net, ab);
        net.inject(a, ab, &chat_frame("UMOVE", &[&max, &c_sid, &e_sid, "1"]));
        net.inject(a, ab, &chat_frame("UID", &[&sam, "sam", "5", "5"]));
        net.inject(a, ab, &chat_frame("USYNCEND", &[&c_sid, "1"]));
        assert_eq!(nick_of(&net, a, &sam).as_deref(), Some("sam"));
        let kept = nick_of(&net, a, &max);
        if ablate {
            assert_eq!(kept, None);
        } else {
            assert_eq!(kept.as_deref(), Some("max"), "max lives on E now");
        }
    }
}

/// A UMOVE for a user A does not hold, from the neighbour that is A's
/// route to both the move's source and its target, makes A ask that
/// neighbour for the target's users: it holds the user there and A is
/// behind its view. Here max moved from C to E (both behind B) and A had
/// the move; the route to E behind B changes shape, A asks B for E's
/// users, and B, answering before the move reached it, names nobody, so
/// A drops max. The UMOVE comes right behind and, ignored, left max lost
/// at A and the servers behind it (D) for good
/// (user-dropped-by-a-resync-after-a-move-at-1s.toml). Not with
/// `unknown-move-ask`; not asked while A's question is out, nor when
/// the target lies another way.
#[test]
fn a_move_of_a_user_dropped_by_a_stale_sync_answer_asks_again() {
    for ablate in [false, true] {
        let mut cfg = Config::default();
        cfg.ablations.no_unknown_move_ask = ablate;
        let (mut net, ab, ad, c_sid, d_sid, [_, max]) = users_of_c(cfg);
        let a = 0;
        let e_sid = net.srv(4).sid().to_string();
        net.inject(a, ab, &chat_frame("UMOVE", &[&max, &c_sid, &e_sid, "1"]));
        assert_eq!(nick_of(&net, a, &max).as_deref(), Some("max"));
        // B's introduction of E again, one hop longer: A asks about E.
        let intro = net
            .sent_on(1, net.link_to(1, "A"))
            .into_iter()
            .find(|w| w[0] == "SERVER" && w[1] == "E")
            .expect("B introduced E to A");
        let mut w: Vec<&str> = intro.iter().map(String::as_str).collect();
        w[2] = "3";
        net.inject(a, ab, &encoded(&w));
        let asked = |net: &Net| {
            net.sent_on(a, ab)
                .iter()
                .filter(|w| *w == &["USYNC", e_sid.as_str()])
                .count()
        };
        assert_eq!(asked(&net), 1);
        // A move of a user A does not hold, toward a server it routes
        // through B, while that question is out: its answer, still to
        // come, is given after the move.
        let ghost = format!("{c_sid}-1-9");
        net.inject(a, ab, &chat_frame("UMOVE", &[&ghost, &c_sid, &e_sid, "1"]));
        assert_eq!(asked(&net), 1, "not asked while the question is out");
        net.inject(a, ab, &chat_frame("USYNCEND", &[&e_sid, "1"]));
        assert_eq!(nick_of(&net, a, &max), None, "dropped by the stale answer");
        assert!(net
            .sent_on(a, ad)
            .iter()
            .any(|w| *w == ["UQUIT", max.as_str(), "resync"]));
        // A move toward a server A routes elsewhere (D): not asked.
        net.inject(a, ab, &chat_frame("UMOVE", &[&ghost, &c_sid, &d_sid, "1"]));
        assert!(!net.sent_on(a, ad).iter().any(|w| w[0] == "USYNC"));
        assert_eq!(asked(&net), 1);
        // The move, passed on by B behind its answer.
        net.inject(a, ab, &chat_frame("UMOVE", &[&max, &c_sid, &e_sid, "1"]));
        if ablate {
            assert_eq!(asked(&net), 1, "ignored");
            continue;
        }
        assert_eq!(asked(&net), 2, "asked again");
        net.inject(
            a,
            ab,
            &chat_frame("UID", &[&max, "max", "6", "6", &e_sid, "1"]),
        );
        net.inject(a, ab, &chat_frame("USYNCEND", &[&e_sid, "1"]));
        assert_eq!(nick_of(&net, a, &max).as_deref(), Some("max"));
        assert_eq!(
            net.sent_on(a, ad).last().unwrap(),
            &["UID", &*max, "max", "6", "6", &*e_sid, "1"],
            "and passed on to D"
        );
    }
}

/// A membership the USYNC answer names (an RJOIN) is kept at its end, one
/// it does not name is dropped: sam and max of C are both in #r at A; B's
/// answer names both users but only sam's membership (mutation survivor:
/// the confirmation taken from RLEAVE instead of RJOIN dropped sam's).
#[test]
fn a_membership_the_sync_answer_names_is_kept() {
    let (mut net, ab, _, c_sid, _, [sam, max]) = users_of_c(Config::default());
    let a = 0;
    let seq = format!("{c_sid}-1");
    net.inject(a, ab, &chat_frame("ROOM", &["#r", "7", "1", &seq]));
    net.inject(a, ab, &chat_frame("RJOIN", &["#r", &sam, "1"]));
    net.inject(a, ab, &chat_frame("RJOIN", &["#r", &max, "2"]));
    let members = |net: &Net| -> Vec<String> {
        let r = net.srv(a).rooms().find(|r| r.name == "#r").unwrap();
        r.members.keys().map(|k| k.to_string()).collect()
    };
    assert_eq!(members(&net), [sam.clone(), max.clone()]);
    route_to_c_reshaped(&mut net, ab);
    net.inject(a, ab, &chat_frame("UID", &[&sam, "sam", "5", "5"]));
    net.inject(a, ab, &chat_frame("UID", &[&max, "max", "6", "6"]));
    net.inject(a, ab, &chat_frame("RJOIN", &["#r", &sam, "1"]));
    net.inject(a, ab, &chat_frame("USYNCEND", &[&c_sid, "1"]));
    assert_eq!(members(&net), [sam]);
    assert_eq!(nick_of(&net, a, &max).as_deref(), Some("max"));
}

/// Frames directed to one member (RSEQ, RSTART, RRESEND, RSKIPTO,
/// RFAIL) or to the sequencer (RSTARTREQ) that arrive from the direction
/// they are going are not sent back where they came from (mutation
/// survivors: the guards as `true` bounced them). Sam and C, #r's
/// sequencer, are both behind B.
#[test]
fn a_directed_room_frame_from_where_it_is_going_is_not_sent_back() {
    let (mut net, ab, _, c_sid, _, [sam, _]) = users_of_c(Config::default());
    let a = 0;
    let seq = format!("{c_sid}-1");
    net.inject(a, ab, &chat_frame("ROOM", &["#r", "7", "1", &seq]));
    net.inject(a, ab, &chat_frame("RJOIN", &["#r", &sam, "1"]));
    let frames = [
        chat_frame("RSTARTREQ", &["#r", &sam]),
        chat_frame("RSEQ", &["#r", &sam, "1", &seq, "1"]),
        chat_frame("RSTART", &[&sam, "#r", "1", &seq, "1", "1"]),
        chat_frame(
            "RRESEND",
            &[&sam, "#r", "1", &seq, "1", &sam, "sam", "x/1", "hi"],
        ),
        chat_frame("RSKIPTO", &[&sam, "#r", "1", &seq, "1"]),
        chat_frame("RFAIL", &[&sam, "#r", "1", &seq, "1", "stale stream"]),
    ];
    for f in &frames {
        let before = net.sent_on(a, ab).len();
        net.inject(a, ab, f);
        net.settle();
        assert_eq!(
            net.sent_on(a, ab)[before..],
            [] as [Vec<String>; 0],
            "{:?}",
            words(f)
        );
    }
}

/// A message the sequencer refuses fails back to a sender on another
/// server as SENDFAIL, with the reason (mutation survivor: RFAIL's arm
/// deleted, it reached the client as SKIPSEQ).
#[test]
fn a_refusal_from_a_remote_sequencer_reaches_the_sender_as_sendfail() {
    let mut net = chain(Config::default(), &["A", "B"], &[("A", "B")]);
    let alice = net.add_puppet("alice");
    client_joins(&mut net, alice, "A", "alice");
    let bob = net.add_puppet("bob");
    let l = client_joins(&mut net, bob, "B", "bob");
    let seq = net.srv(1).room_sequencer("#r").expect("known").to_string();
    assert!(seq.starts_with(net.srv(0).sid()));
    let stream = stream_of(&net, 1).seq.to_string();
    net.puppet_send(
        bob,
        l,
        &encoded(&["CSEND", "#r", "1", &stream, "1", "x/1", "hi"]),
    );
    net.settle();
    let last = net.puppet_got(bob, l).pop().expect("an answer");
    assert_eq!(last[0], "SENDFAIL", "{last:?}");
    assert!(last.iter().any(|w| w == "number not held"), "{last:?}");
}

/// An RSTART for another stream of the room (an older epoch under the
/// same sequencer name) does not end the asking for the current one
/// (mutation survivor: the two tests joined by `||`).
#[test]
fn a_start_point_for_another_epoch_does_not_end_the_asking() {
    let (mut net, _, _) = bob_joins_with_his_start_lost();
    net.settle();
    let uid = net.srv(1).local_uids().next().unwrap().to_string();
    let (seq, memid) = bobs_stream_and_membership(&net, &uid);
    let ba = net.link_to(1, "A");
    net.inject(
        1,
        ba,
        &chat_frame("RSTART", &[&uid, "#r", "0", &seq, "1", &memid]),
    );
    let delay = Config::default().find_delay;
    net.run_for(delay + ms(500));
    assert_eq!(start_requests_from_b(&net), 1);
}

/// A start point for a stream newer than the one its member's server
/// follows is adopted there before it is passed on: the member and its
/// server never follow different streams (swarm-greeter seed 3838 of
/// 3000..4500 with 100 ms latencies: the ROOM that announced the stream,
/// sent with the start point, was held by a partition; the server then
/// elected a stream of the same epoch that the member's beat, and the
/// member never followed the room again).
#[test]
fn a_start_point_for_a_newer_stream_is_adopted_before_it_is_passed_on() {
    let (mut net, bob, l) = bob_joins_with_his_start_lost();
    net.settle();
    let uid = net.srv(1).local_uids().next().unwrap().to_string();
    let (seq, memid) = bobs_stream_and_membership(&net, &uid);
    let epoch = |net: &Net| stream_of(net, 1).epoch;
    assert_eq!(epoch(&net), 1);
    let ba = net.link_to(1, "A");
    net.inject(
        1,
        ba,
        &chat_frame("RSTART", &[&uid, "#r", "2", &seq, "1", &memid]),
    );
    assert_eq!(epoch(&net), 2, "B follows the stream it tells bob of");
    net.run_for(ms(50));
    assert!(
        net.puppet_got(bob, l)
            .iter()
            .any(|w| *w == ["SYNC", "#r", "2", seq.as_str(), "1"]),
        "{:?}",
        net.puppet_got(bob, l)
    );
}

/// #r's stream as B knows it, and the id of `uid`'s membership there.
fn bobs_stream_and_membership(net: &Net, uid: &str) -> (String, String) {
    let r = net.srv(1).rooms().find(|r| r.name == "#r").unwrap();
    (r.stream.seq.to_string(), r.members[uid].to_string())
}

/// An RSTART for the current stream but another membership of the member
/// (the answer to a request of one it has left since) is not passed to
/// the client and does not end the asking; A's answer to the asking,
/// for its membership now, is (swarm-chat with leaves, seed 103). With
/// the `start-membership` ablation the other membership's answer is
/// taken.
#[test]
fn a_start_point_of_another_membership_is_not_taken() {
    for ablate in [false, true] {
        let mut cfg = Config::default();
        cfg.ablations.no_start_membership = ablate;
        let (mut net, bob, l) = bob_joins_with_his_start_lost_under(cfg);
        net.settle();
        let uid = net.srv(1).local_uids().next().unwrap().to_string();
        let (seq, memid) = bobs_stream_and_membership(&net, &uid);
        let ba = net.link_to(1, "A");
        let other = (memid.parse::<u64>().unwrap() + 1).to_string();
        let syncs = |net: &Net| {
            net.puppet_got(bob, l)
                .iter()
                .filter(|w| w[0] == "SYNC")
                .count()
        };
        let before = syncs(&net);
        net.inject(
            1,
            ba,
            &chat_frame("RSTART", &[&uid, "#r", "1", &seq, "1", &other]),
        );
        net.settle();
        assert_eq!(
            syncs(&net),
            before + usize::from(ablate),
            "ablated: {ablate}"
        );
        if ablate {
            continue;
        }
        // B asks again, and A's answer, for bob's membership now, is
        // taken.
        let delay = Config::default().find_delay;
        net.run_for(delay + ms(500));
        assert_eq!(start_requests_from_b(&net), 1, "still asking");
        assert_eq!(syncs(&net), before + 1, "its own membership's is taken");
    }
}

/// A USYNCEND must name a SID and say 0 or 1; anything else is a
/// protocol error (mutation survivor: the two tests joined by `&&`).
#[test]
fn a_usyncend_with_a_bad_sid_or_flag_is_malformed() {
    for (sid, ok) in [("", "2"), ("XY", "1")] {
        // (A protocol error closes the link: a fresh net for each.)
        let (mut net, ab, _, c_sid, _, _) = users_of_c(Config::default());
        let sid = if sid.is_empty() { c_sid.as_str() } else { sid };
        let bad = net.srv(0).stats().malformed;
        net.inject(0, ab, &chat_frame("USYNCEND", &[sid, ok]));
        assert_eq!(net.srv(0).stats().malformed, bad + 1, "{sid} {ok}");
    }
}

/// A server asked about a SID vouches for its view only when it routes
/// that server elsewhere than the asker, or is that server; otherwise
/// it says it cannot (USYNCEND sid 0). Mutation survivor: "is that
/// server" turned round.
#[test]
fn a_usync_is_answered_for_oneself_and_refused_for_the_askers_side() {
    let (mut net, ab, _, c_sid, _, _) = users_of_c(Config::default());
    let a = 0;
    let a_sid = net.srv(a).sid().to_string();
    let ends = |net: &Net| -> Vec<Vec<String>> {
        net.sent_on(a, ab)
            .into_iter()
            .filter(|w| w[0] == "USYNCEND")
            .collect()
    };
    let before = ends(&net).len();
    net.inject(a, ab, &chat_frame("USYNC", &[&a_sid]));
    net.inject(a, ab, &chat_frame("USYNC", &[&c_sid]));
    assert_eq!(
        ends(&net)[before..],
        [
            ["USYNCEND", a_sid.as_str(), "1"],
            ["USYNCEND", c_sid.as_str(), "0"]
        ]
    );
}

/// While a server asks about a SID itself, a neighbour asking it the same
/// gets its answer only once its own has come (mutation survivor: the
/// test of "asked through another link" turned round answered at once).
#[test]
fn a_usync_asked_while_asking_is_answered_after_the_own_answer() {
    let (mut net, ab, ad, c_sid, _, [sam, max]) = users_of_c(Config::default());
    let a = 0;
    route_to_c_reshaped(&mut net, ab);
    net.inject(a, ad, &chat_frame("USYNC", &[&c_sid]));
    assert!(
        net.sent_on(a, ad).iter().all(|w| w[0] != "USYNCEND"),
        "answered at once"
    );
    net.inject(a, ab, &chat_frame("UID", &[&sam, "sam", "5", "5"]));
    net.inject(a, ab, &chat_frame("UID", &[&max, "max", "6", "6"]));
    net.inject(a, ab, &chat_frame("USYNCEND", &[&c_sid, "1"]));
    assert!(net
        .sent_on(a, ad)
        .iter()
        .any(|w| *w == ["USYNCEND", c_sid.as_str(), "1"]));
}

/// An answer that cannot vouch for its view (USYNCEND sid 0) drops
/// nothing (mutation survivor: its two tests joined by `||`).
#[test]
fn an_answer_that_cannot_vouch_drops_nobody() {
    let (mut net, ab, _, c_sid, _, [sam, max]) = users_of_c(Config::default());
    let a = 0;
    route_to_c_reshaped(&mut net, ab);
    net.inject(a, ab, &chat_frame("USYNCEND", &[&c_sid, "0"]));
    assert_eq!(nick_of(&net, a, &sam).as_deref(), Some("sam"));
    assert_eq!(nick_of(&net, a, &max).as_deref(), Some("max"));
}

/// A user who moved home to another side while the question was out is
/// not dropped for missing from the answer about its old home (mutation
/// survivor: the drop's two tests joined by `||`).
#[test]
fn a_user_moved_away_during_a_sync_is_not_dropped() {
    let (mut net, ab, _, c_sid, d_sid, [sam, max]) = users_of_c(Config::default());
    let a = 0;
    route_to_c_reshaped(&mut net, ab);
    net.inject(a, ab, &chat_frame("UMOVE", &[&sam, &c_sid, &d_sid, "1"]));
    let home = net
        .srv(a)
        .users()
        .find(|u| u.0 == sam)
        .map(|u| u.2.to_string());
    assert_eq!(home, Some(d_sid));
    net.inject(a, ab, &chat_frame("UID", &[&max, "max", "6", "6"]));
    net.inject(a, ab, &chat_frame("USYNCEND", &[&c_sid, "1"]));
    assert_eq!(nick_of(&net, a, &sam).as_deref(), Some("sam"));
}

/// A UID from the user's side for a user already known under another
/// nick, with a later stamp, carries a nick change this server missed:
/// it takes it and passes it on (mutation survivors: `sync_nick` a no-op,
/// its "same nick" test turned round).
#[test]
fn a_known_users_later_nick_in_a_uid_is_taken_and_passed_on() {
    let (mut net, ab, ad, _, _, [sam, _]) = users_of_c(Config::default());
    let a = 0;
    net.inject(a, ab, &chat_frame("UID", &[&sam, "samuel", "9", "5"]));
    assert_eq!(nick_of(&net, a, &sam).as_deref(), Some("samuel"));
    assert!(net
        .sent_on(a, ad)
        .iter()
        .any(|w| w[0] == "UNICK" && w[1] == sam && w[2] == "samuel"));
}

/// Alice registered on A of the pair A-B under `policy`; then a user of
/// B claiming "alice" with stamp `ts` is introduced to A. Returns the net,
/// alice's puppet and link, her UID and the claimant's.
fn alice_meets_a_claim(
    policy: crate::config::NickCollision,
    tweak: impl FnOnce(&mut Config),
    ts: &str,
) -> (Net, usize, LinkId, String, String) {
    let mut cfg = Config {
        nick_collision: policy,
        ..Config::default()
    };
    tweak(&mut cfg);
    let mut net = chain(cfg, &["A", "B"], &[("A", "B")]);
    // Stamps are wall seconds: alice's is 5, so "1" is earlier.
    net.run_until(Instant::ZERO + secs(5));
    let p = net.add_puppet("alice");
    let l = client_registers(&mut net, p, "A", "alice");
    net.settle();
    let alice = net.srv(0).uid_of_nick("alice").unwrap().to_string();
    let other = format!("{}-1-9", net.srv(1).sid());
    let ab = net.link_to(0, "B");
    net.inject(0, ab, &chat_frame("UID", &[&other, "alice", ts, ts]));
    net.settle();
    (net, p, l, alice, other)
}

/// The survivor each collision note names.
fn collision_survivors(net: &Net, host: usize) -> Vec<Option<String>> {
    net.notes
        .iter()
        .filter_map(|(_, h, n)| match n {
            Note::Chat(crate::ChatNote::Collision { survivor, .. }) if *h == host => {
                Some(survivor.as_ref().map(|s| s.to_string()))
            }
            _ => None,
        })
        .collect()
}

/// Under `reject`, a holder whose nick came with its registration and who
/// loses is refused (NICKERR), not renamed; the note names the winner
/// (mutation survivors: the holder's "registration" test turned round,
/// and the note's survivor arms deleted).
#[test]
fn under_reject_a_registered_holder_that_loses_is_refused() {
    let (net, p, l, alice, other) =
        alice_meets_a_claim(crate::config::NickCollision::Reject, |_| {}, "1");
    let got = net.puppet_got(p, l);
    assert!(got.iter().any(|w| w[0] == "NICKERR"), "{got:?}");
    assert!(got.iter().all(|w| w[0] != "RENAMED"), "{got:?}");
    assert_eq!(nick_of(&net, 0, &alice), None);
    assert_eq!(collision_survivors(&net, 0), [Some(other)]);
}

/// Under `ts-rename` the later claim loses and is renamed to its UID: the
/// holder when it came later (RENAMED to its client), the claimant when
/// it did; the note names who keeps the nick (mutation survivors:
/// `rename_to_uid`'s "already renamed" test turned round, the note's
/// survivor arms deleted).
#[test]
fn under_ts_rename_the_later_claim_is_renamed_to_its_uid() {
    use crate::config::NickCollision::TsRename;
    let (net, p, l, alice, other) = alice_meets_a_claim(TsRename, |_| {}, "1");
    assert_eq!(nick_of(&net, 0, &alice), Some(alice.clone()));
    assert_eq!(nick_of(&net, 0, &other).as_deref(), Some("alice"));
    assert!(net
        .puppet_got(p, l)
        .iter()
        .any(|w| *w == ["RENAMED", alice.as_str()]));
    assert_eq!(collision_survivors(&net, 0), [Some(other)]);
    let (net, _, _, alice, other) = alice_meets_a_claim(TsRename, |_| {}, "99999999999");
    assert_eq!(nick_of(&net, 0, &alice).as_deref(), Some("alice"));
    assert_eq!(nick_of(&net, 0, &other), Some(other.clone()));
    assert_eq!(collision_survivors(&net, 0), [Some(alice)]);
}

/// Under the `no_collision_order` research switch the claim seen first
/// keeps the nick whatever the stamps say, under `ts-kill` as under the
/// other ordered policies (mutation survivor: the policy test turned
/// round applied the switch only under kill-both).
#[test]
fn under_no_collision_order_the_claim_seen_first_keeps_the_nick() {
    let (net, p, l, alice, other) = alice_meets_a_claim(
        crate::config::NickCollision::TsKill,
        |c| c.ablations.no_collision_order = true,
        "1",
    );
    assert_eq!(nick_of(&net, 0, &alice).as_deref(), Some("alice"));
    assert_eq!(nick_of(&net, 0, &other), None);
    assert!(net.puppet_got(p, l).iter().all(|w| w[0] != "KILLED"));
}

/// A local user killed by a collision is told (KILLED) and its connection
/// closed from the server's side (mutation survivor: `close_client` a
/// no-op left it open).
#[test]
fn a_killed_local_user_is_told_and_its_connection_closed() {
    let (net, p, l, alice, _) =
        alice_meets_a_claim(crate::config::NickCollision::TsKill, |_| {}, "1");
    assert_eq!(nick_of(&net, 0, &alice), None);
    assert!(net.puppet_got(p, l).iter().any(|w| w[0] == "KILLED"));
    assert!(!net.wires.contains_key(&(p, l)), "still connected");
}

/// A KILL is applied and passed on once per UID: the same KILL again
/// goes no further (mutation survivor: the once-only test negated).
#[test]
fn a_repeated_kill_is_passed_on_once() {
    let (mut net, ab, ad, c_sid, _, [sam, _]) = users_of_c(Config::default());
    let a = 0;
    for _ in 0..2 {
        net.inject(a, ab, &chat_frame("KILL", &[&c_sid, &sam, "test"]));
    }
    let kills = net.sent_on(a, ad).iter().filter(|w| w[0] == "KILL").count();
    assert_eq!(kills, 1);
}

/// Old nicks are remembered per nick: after alice and bob both change
/// nick, a private request to either old nick still finds its user, and
/// one to a nick nobody held finds nobody (mutation survivors: the
/// history's "other nick" test turned round forgot alice's; the lookup's
/// two tests joined by `||` took any remembered user).
#[test]
fn old_nicks_resolve_to_their_users_and_unknown_ones_to_nobody() {
    let mut net = chain(Config::default(), &["A"], &[]);
    let mut links = Vec::new();
    for n in ["alice", "bob", "carol"] {
        let p = net.add_puppet(n);
        let l = client_registers(&mut net, p, "A", n);
        links.push((p, l));
    }
    net.settle();
    for (i, n) in [(0, "alice2"), (1, "bob2")] {
        let (p, l) = links[i];
        net.puppet_send(p, l, &encoded(&["NICK", n]));
        net.settle();
    }
    let (carol, lc) = links[2];
    for n in ["alice", "bob", "nobody"] {
        net.puppet_send(carol, lc, &encoded(&["PRIVREQ", n, "10.0.0.3:7000"]));
        net.settle();
    }
    let errs: Vec<String> = net
        .puppet_got(carol, lc)
        .into_iter()
        .filter(|w| w[0] == "PRIVERR")
        .map(|w| w[1].clone())
        .collect();
    assert_eq!(errs, ["nobody"]);
    for (p, l) in &links[..2] {
        assert!(
            net.puppet_got(*p, *l).iter().any(|w| w[0] == "PRIVREQ"),
            "puppet {p}"
        );
    }
}

/// A UID may name its user by the UID itself (a user renamed after a
/// collision), but not by an invalid nick (mutation survivor: the "or its
/// UID" test turned round took any nick but the UID).
#[test]
fn a_uid_named_by_its_uid_is_taken_and_an_invalid_nick_refused() {
    let (mut net, ab, _, c_sid, _, _) = users_of_c(Config::default());
    let a = 0;
    let renamed = format!("{c_sid}-1-3");
    net.inject(a, ab, &chat_frame("UID", &[&renamed, &renamed, "7", "7"]));
    assert_eq!(nick_of(&net, a, &renamed), Some(renamed.clone()));
    let bad = net.srv(a).stats().malformed;
    let other = format!("{c_sid}-1-4");
    net.inject(a, ab, &chat_frame("UID", &[&other, "no way", "7", "7"]));
    assert_eq!(net.srv(a).stats().malformed, bad + 1);
    assert_eq!(nick_of(&net, a, &other), None);
}

/// What a user said it is (user, host, real name) is set once: a later
/// UID for it, with other fields or none, changes nothing, and a USYNC
/// answer carries the first (mutation survivor: the "not known yet" test
/// joined by `||` took the later fields).
#[test]
fn a_users_info_is_set_once() {
    let (mut net, ab, ad, c_sid, _, [sam, _]) = users_of_c(Config::default());
    let a = 0;
    let with = ["sam", "5", "5", "sammy", "host.example", "Sam Smith"];
    let mut args = vec![sam.as_str()];
    args.extend(with);
    net.inject(a, ab, &chat_frame("UID", &args));
    net.inject(a, ab, &chat_frame("UID", &[&sam, "sam", "5", "5"]));
    let other = [&sam, "sam", "5", "5", "impostor", "elsewhere", "Not Sam"];
    net.inject(a, ab, &chat_frame("UID", &other));
    net.inject(a, ad, &chat_frame("USYNC", &[&c_sid]));
    let uid = net
        .sent_on(a, ad)
        .into_iter()
        .rfind(|w| w[0] == "UID" && w[1] == sam)
        .expect("sam in the answer");
    assert_eq!(uid[5..], ["sammy", "host.example", "Sam Smith"]);
}

/// A user introduced after its claim was saved (the SAVE came first) is
/// taken under its UID, and the SAVE follows its UID onward so the
/// servers beyond rename it too (mutation survivor: the "nick is not the
/// UID" test turned round).
#[test]
fn a_user_saved_before_its_uid_is_followed_by_the_save() {
    let cfg = Config {
        nick_collision: crate::config::NickCollision::TsRename,
        ..Config::default()
    };
    let (mut net, ab, ad, c_sid, _, _) = users_of_c(cfg);
    let a = 0;
    let x = format!("{c_sid}-1-3");
    net.inject(a, ab, &chat_frame("SAVE", &[&c_sid, &x, "7"]));
    net.inject(a, ab, &chat_frame("UID", &[&x, "xavier", "7", "7"]));
    assert_eq!(nick_of(&net, a, &x), Some(x.clone()));
    let after: Vec<Vec<String>> = net
        .sent_on(a, ad)
        .into_iter()
        .skip_while(|w| !(w[0] == "UID" && w[1] == x))
        .collect();
    assert!(
        after.iter().any(|w| w[0] == "SAVE" && w[2] == x),
        "{after:?}"
    );
}

/// KILL and REJECT must name a three-character issuer and a UID; anything
/// else is a protocol error (mutation survivors: the two tests joined by
/// `&&`).
#[test]
fn a_kill_or_reject_with_a_bad_issuer_is_malformed() {
    for cmd in ["KILL", "REJECT"] {
        // (A protocol error closes the link: a fresh net for each.)
        let (mut net, ab, _, _, _, [sam, _]) = users_of_c(Config::default());
        let bad = net.srv(0).stats().malformed;
        let mut args = vec!["XY", sam.as_str()];
        if cmd == "KILL" {
            args.push("test");
        }
        net.inject(0, ab, &chat_frame(cmd, &args));
        assert_eq!(net.srv(0).stats().malformed, bad + 1, "{cmd}");
    }
}

/// A UID carrying a home move must name a SID and a positive move
/// number; anything else is malformed (mutation survivor: the two tests
/// joined by `||` took a move numbered 0).
#[test]
fn a_uid_with_a_move_numbered_zero_is_malformed() {
    let (mut net, ab, _, c_sid, _, _) = users_of_c(Config::default());
    let a = 0;
    let uid = format!("{c_sid}-1-3");
    net.inject(
        a,
        ab,
        &chat_frame("UID", &[&uid, "zed", "9", "9", &c_sid, "0"]),
    );
    assert_eq!(nick_of(&net, a, &uid), None);
    assert!(
        net.sent_on(a, ab).iter().any(|w| w[0] == "ERROR"),
        "a protocol error on the link"
    );
}

/// A room message for a room nobody knows, or one sequenced by a server
/// out of reach, fails back to its sender with the reason (mutation
/// survivor: `send_fail` a no-op).
#[test]
fn a_room_message_that_cannot_be_numbered_fails_back_with_its_reason() {
    let mut net = chain(Config::default(), &["A", "B"], &[("A", "B")]);
    let p = net.add_puppet("p1");
    let l = client_joins(&mut net, p, "A", "p1");
    net.puppet_send(
        p,
        l,
        &encoded(&["CSEND", "#nowhere", "1", "0AA-1", "1", "x/1", "hi"]),
    );
    net.puppet_send(
        p,
        l,
        &encoded(&["CSEND", "#r", "1", "9ZZ-1", "1", "x/2", "hi"]),
    );
    net.settle();
    let fails: Vec<Vec<String>> = net
        .puppet_got(p, l)
        .into_iter()
        .filter(|w| w[0] == "SENDFAIL")
        .collect();
    assert_eq!(
        fails,
        [
            ["SENDFAIL", "#nowhere", "1", "0AA-1", "1", "no such room"],
            ["SENDFAIL", "#r", "1", "9ZZ-1", "1", "sequencer unreachable"]
        ]
    );
}

/// A request for a number that would go back where its member lives goes
/// back only named for its sequencer, and a named one that would go back
/// the way it came is answered with no number: it cannot go round
/// (mutation survivor: the guard against sending it back could be
/// dropped).
#[test]
fn a_number_request_goes_back_toward_its_member_only_named_and_once() {
    let mut net = chain(Config::default(), &["A", "B"], &[("A", "B")]);
    let p = net.add_puppet("p1");
    client_joins(&mut net, p, "B", "p1");
    let uid = net.srv(1).local_uids().next().unwrap().to_string();
    let b_sid = net.srv(1).sid().to_string();
    let ab = net.link_to(0, "B");
    let before = net.sent_on(0, ab).len();
    net.inject(0, ab, &chat_frame("RSEQREQ", &["#r", &uid]));
    let sent = net.sent_on(0, ab)[before..].to_vec();
    let named = ["RSEQREQ", "#r", &uid, &b_sid].map(String::from).to_vec();
    assert_eq!(sent, std::slice::from_ref(&named));
    let before = net.sent_on(0, ab).len();
    net.inject(0, ab, &chat_frame("RSEQREQ", &["#r", &uid, &b_sid]));
    let sent = net.sent_on(0, ab)[before..].to_vec();
    assert!(sent.iter().all(|w| w[0] != "RSEQREQ"), "{sent:?}");
    assert!(
        sent.iter().any(|w| w[0] == "RSEQ" && w[5] == "0"),
        "{sent:?}"
    );
}

/// Load balancing's timer comes round every ping interval, each time from
/// now (mutation survivor: armed a ping interval in the past, it went
/// unnoticed; `handle` now checks every server's next wake-up).
#[test]
fn the_balance_timer_is_armed_ahead_every_time() {
    let cfg = Config {
        balance: true,
        ..Config::default()
    };
    let mut net = Net::new(cfg);
    let a = net.add("A", &[]);
    let b = net.add("B", &["A"]);
    net.handle(a, Input::Start);
    net.handle(b, Input::Start);
    net.run_for(secs(60));
    assert_eq!(net.check_tree(), [edge("A", "B")].into());
}

/// Load balancing moves a heavy server's excess to the lightest servers
/// one client at a time, counting each as it goes, until moving cannot
/// make it more even. A holds 12, B 2, C none: mean 4, margin 2. The
/// moves go C, C, B, C, B, C, B (ties by name), then C at 4 against A's
/// 5 left is as even as it gets: 7 redirects, 4 to C and 3 to B.
/// (Mutation survivors in `loads` and `balance`: no protocol test
/// balanced before.)
#[test]
fn balancing_moves_the_excess_one_by_one_to_the_lightest() {
    assert_eq!(
        balance_targets(&[12, 2, 0]),
        ["B", "B", "B", "C", "C", "C", "C"]
    );
    // A 12, B none, C 12: mean 8, so A stops once it is down to 8, four
    // moves to B (B at 4 is still lighter than A's 8: the mean ends it).
    assert_eq!(balance_targets(&[12, 0, 12]), ["B", "B", "B", "B"]);
}

/// Load balancing leaves a server alone within the margin (a quarter of
/// the mean): A 15, B 11, C 10 is mean 12, margin 3, so no move; A 16 is
/// past it. And while its moves are pending, the next round (a ping
/// interval later) moves nobody more. (Mutation survivors: the margin as
/// `mean % 4`; the pending-moves test joined to the draining one by `&&`.)
#[test]
fn balancing_waits_past_the_margin_and_for_its_pending_moves() {
    assert_eq!(balance_targets(&[15, 11, 10]), Vec::<String>::new());
    // Past it, A moves down to the mean: C, C, then B and C (ties by name).
    assert_eq!(balance_targets(&[16, 11, 9]), ["B", "C", "C", "C"]);
    // Moves pending for 20 s: the round at 10 s waits for them.
    let slow = Config {
        balance: true,
        redirect_timeout: secs(20),
        ..Config::default()
    };
    let first = balance_targets_by(slow.clone(), &[12, 2, 0], secs(7));
    assert_eq!(first.len(), 7);
    assert_eq!(balance_targets_by(slow, &[12, 2, 0], secs(12)), first);
}

/// The REDIRECT targets A's clients are told in the first balancing
/// round, with `users[i]` clients on A, B and C of the chain A-B-C.
fn balance_targets(users: &[usize; 3]) -> Vec<String> {
    let cfg = Config {
        balance: true,
        ..Config::default()
    };
    balance_targets_by(cfg, users, secs(7))
}

/// The REDIRECT targets A's clients are told by `t` after start.
fn balance_targets_by(cfg: Config, users: &[usize; 3], t: Duration) -> Vec<String> {
    let names = ["A", "B", "C"];
    let mut net = chain(cfg, &names, &[("A", "B"), ("B", "C")]);
    let mut at_a = Vec::new();
    for (s, &n) in users.iter().enumerate() {
        for i in 0..n {
            let nick = format!("u{s}x{i}");
            let p = net.add_puppet(&nick);
            let l = client_joins(&mut net, p, names[s], &nick);
            if s == 0 {
                at_a.push((p, l));
            }
        }
    }
    // The first round comes a ping interval (5 s) after start; its moves
    // (never taken up by the puppets) block the next until they time out.
    for s in 0..3 {
        net.handle(s, Input::Start);
    }
    net.run_for(t);
    let mut targets: Vec<String> = Vec::new();
    for &(p, l) in &at_a {
        for w in net.puppet_got(p, l) {
            if w[0] == "REDIRECT" {
                targets.push(w[2].clone());
            }
        }
    }
    targets.sort();
    targets
}

/// Survivors of `on_client_frame`: a client's PING is answered with its
/// token before and after it registers, and a PONG needs no answer.
#[test]
fn a_client_ping_is_answered_and_its_pong_needs_no_answer() {
    let mut net = chain(Config::default(), &["A"], &[]);
    let p = net.add_puppet("p1");
    let l = net.puppet_dial(p, "A");
    net.puppet_send(p, l, &encoded(&["PING", "41"]));
    net.settle();
    assert_eq!(net.puppet_got(p, l), [["PONG", "41"]]);
    net.puppet_send(p, l, &encoded(&["USER", "p1"]));
    net.puppet_send(p, l, &encoded(&["NICK", "p1"]));
    net.puppet_send(p, l, &encoded(&["PING", "42"]));
    net.puppet_send(p, l, &encoded(&["PONG", "7"]));
    net.settle();
    let got = net.puppet_got(p, l);
    assert_eq!(got[1][0], "WELCOME");
    let replies: Vec<&Vec<String>> = got[2..]
        .iter()
        .filter(|w| w[0] == "PONG" || w[0] == "ERROR")
        .collect();
    assert_eq!(replies, [&["PONG", "42"]]);
}

/// Survivors of `on_client_frame`: QUIT is acknowledged with ERROR and
/// EXIT is not; both close the link, end the user and pass the reason on
/// (`quit` or `exit` when none is given).
#[test]
fn quit_is_acknowledged_exit_just_closes_and_both_say_why() {
    let mut net = chain(Config::default(), &["A", "B"], &[("A", "B")]);
    let ab = net.link_to(0, "B");
    for (nick, words_sent, ack, reason) in [
        ("q1", vec!["QUIT"], Some("closing link: quit"), "quit"),
        ("q2", vec!["QUIT", "bye"], Some("closing link: bye"), "bye"),
        ("e1", vec!["EXIT"], None, "exit"),
    ] {
        let p = net.add_puppet(nick);
        let l = client_joins(&mut net, p, "A", nick);
        let uid = net.srv(0).uid_of_nick(nick).unwrap().to_string();
        let before = net.puppet_got(p, l).len();
        let (_, server_side) = net.wires[&(p, l)];
        net.puppet_send(p, l, &encoded(&words_sent));
        net.settle();
        let errors: Vec<String> = net.puppet_got(p, l)[before..]
            .iter()
            .filter(|w| w[0] == "ERROR")
            .map(|w| w[1].clone())
            .collect();
        assert_eq!(errors, ack.into_iter().collect::<Vec<_>>(), "{nick}");
        assert!(net.closes.iter().any(|c| c.1 == 0 && c.2 == server_side));
        assert_eq!(net.srv(0).uid_of_nick(nick), None);
        assert_eq!(net.srv(1).uid_of_nick(nick), None);
        assert!(net
            .sent_on(0, ab)
            .contains(&vec!["UQUIT".into(), uid, reason.into()]));
    }
}

/// Survivors of `on_client_frame`: HANDOVER is taken only as a client's
/// first frame; from a registered client it is one more command it may
/// not use.
#[test]
fn handover_after_registering_is_refused() {
    let (mut net, p, old, uid, id) = alice_asked_to_move(Config::default());
    for first in [&["USER", "x"][..], &["NICK", "x"]] {
        let l = net.puppet_dial(p, "C");
        net.puppet_send(p, l, &encoded(first));
        net.puppet_send(p, l, &encoded(&["HANDOVER", &id, &uid]));
        net.settle();
        let got = net.puppet_got(p, l);
        assert!(got.iter().all(|w| w[0] != "HANDOK"), "{got:?}");
        assert!(got.iter().any(|w| w[0] == "ERROR"), "{got:?}");
    }
    // The request itself still stands, and alice is still at A.
    assert_eq!(net.srv(0).local_uids().collect::<Vec<_>>(), [uid.as_str()]);
    assert!(net.puppet_got(p, old).iter().all(|w| w[0] != "ERROR"));
}

/// Survivor of `on_client_frame`: a client whose handover waits for the
/// notice gets nothing but PINGs answered; a NICK in between is ignored.
#[test]
fn a_client_waiting_for_its_handover_is_not_heard() {
    let (mut net, p, new, id, uid) = handover_beats_the_notice();
    net.puppet_send(p, new, &encoded(&["NICK", "other"]));
    net.puppet_send(p, new, &encoded(&["JOINROOM", "#x"]));
    net.settle();
    let got = net.puppet_got(p, new);
    assert_eq!(got[0], ["HANDOK", id.as_str()], "{got:?}");
    assert!(got.iter().all(|w| w[0] != "ERROR"), "{got:?}");
    assert_eq!(net.srv(2).local_uids().collect::<Vec<_>>(), [uid.as_str()]);
    assert_eq!(net.srv(2).uid_of_nick("alice"), Some(uid.as_str()));
}

/// Survivor of `on_client_frame`: a REDIRNO that cannot be read is
/// answered with ERROR; one that can is not.
#[test]
fn a_malformed_redirno_is_an_error() {
    let (mut net, p, old, _uid, id) = alice_asked_to_move(Config::default());
    net.puppet_send(p, old, &encoded(&["REDIRNO", "not-hex"]));
    net.settle();
    let errors = |net: &Net| -> Vec<Vec<String>> {
        net.puppet_got(p, old)
            .into_iter()
            .filter(|w| w[0] == "ERROR")
            .collect()
    };
    assert_eq!(errors(&net), [["ERROR", "bad REDIRNO command"]]);
    net.puppet_send(p, old, &encoded(&["REDIRNO", &id, "refused"]));
    net.settle();
    assert_eq!(errors(&net).len(), 1);
    assert_eq!(net.srv(0).pending_moves().count(), 0);
}

/// Members of room `name` as server `i` knows them.
fn members(net: &Net, i: usize, name: &str) -> Vec<String> {
    net.srv(i)
        .rooms()
        .find(|r| r.name == name)
        .map(|r| r.members.keys().map(|u| u.to_string()).collect())
        .unwrap_or_default()
}

/// Survivors of `client_command`: LEAVEROOM takes the user out of the
/// room everywhere and says LEFT; it needs the room's name.
#[test]
fn leaving_a_room_is_confirmed_and_known_everywhere() {
    let mut net = chain(Config::default(), &["A", "B"], &[("A", "B")]);
    let p = net.add_puppet("p1");
    let l = client_joins(&mut net, p, "A", "p1");
    let uid = net.srv(0).uid_of_nick("p1").unwrap().to_string();
    assert_eq!(members(&net, 1, "#r"), [uid]);
    net.puppet_send(p, l, &encoded(&["LEAVEROOM"]));
    net.puppet_send(p, l, &encoded(&["LEAVEROOM", "#R"]));
    net.settle();
    let got = net.puppet_got(p, l);
    let tail: Vec<&Vec<String>> = got.iter().rev().take(2).rev().collect();
    assert_eq!(
        tail,
        [&["ERROR", "bad LEAVEROOM command"][..], &["LEFT", "#R"]]
    );
    assert!(members(&net, 0, "#r").is_empty());
    assert!(members(&net, 1, "#r").is_empty());
}

/// Survivor of `client_command`: LISTROOMS names every room the server
/// knows, in the order of their folded names.
#[test]
fn listing_rooms_names_every_room() {
    let mut net = chain(Config::default(), &["A", "B"], &[("A", "B")]);
    let p = net.add_puppet("p1");
    let l = client_joins(&mut net, p, "A", "p1");
    let q = net.add_puppet("p2");
    let m = client_joins(&mut net, q, "B", "p2");
    net.puppet_send(q, m, &encoded(&["CREATEROOM", "#Alpha"]));
    net.settle();
    net.puppet_send(p, l, &encoded(&["LISTROOMS"]));
    net.settle();
    assert_eq!(
        net.puppet_got(p, l).last().unwrap(),
        &["ROOMS", "#Alpha", "#r"]
    );
}

/// Survivor of `client_command`: a nick change within the second of the
/// last one is stamped one second later, so the newer claim always has
/// the later timestamp.
#[test]
fn a_quick_nick_change_is_stamped_after_the_last() {
    let mut net = chain(Config::default(), &["A", "B"], &[("A", "B")]);
    let ab = net.link_to(0, "B");
    let p = net.add_puppet("p1");
    let l = client_joins(&mut net, p, "A", "p1");
    let uid = net.srv(0).uid_of_nick("p1").unwrap().to_string();
    let sent = net.sent_on(0, ab);
    let intro = sent.iter().find(|w| w[0] == "UID" && w[1] == uid).unwrap();
    let ts: u64 = intro[3].parse().unwrap();
    net.puppet_send(p, l, &encoded(&["NICK", "p2"]));
    net.puppet_send(p, l, &encoded(&["NICK", "p3"]));
    net.settle();
    let stamps: Vec<String> = net
        .sent_on(0, ab)
        .into_iter()
        .filter(|w| w[0] == "UNICK")
        .map(|w| w[3].clone())
        .collect();
    assert_eq!(stamps, [(ts + 1).to_string(), (ts + 2).to_string()]);
}

/// Survivors of `split_list`: recipients behind one link share one LCOPY,
/// and a copy is never sent back on the link it came from (here an LCOPY
/// from A that names a user behind A again).
#[test]
fn list_copies_are_shared_per_link_and_never_sent_back() {
    let (mut net, [(p1, l1), _, (p3, l3)]) = three_users();
    let p4 = net.add_puppet("p4");
    client_registers(&mut net, p4, "C", "p4");
    net.settle();
    let (ab, ba) = (net.link_to(0, "B"), net.link_to(1, "A"));
    let uid = |net: &Net, nick| net.srv(0).uid_of_nick(nick).unwrap().to_string();
    let (u1, u2, u3, u4) = (
        uid(&net, "p1"),
        uid(&net, "p2"),
        uid(&net, "p3"),
        uid(&net, "p4"),
    );
    net.puppet_send(p1, l1, &encoded(&["LSEND", "hi", "p3", "p4"]));
    net.settle();
    let copies: Vec<Vec<String>> = net
        .sent_on(0, ab)
        .into_iter()
        .filter(|w| w[0] == "LCOPY")
        .collect();
    assert_eq!(copies, [["LCOPY", &u1, "p1", "hi", &u3, &u4]]);
    assert!(net
        .puppet_got(p3, l3)
        .iter()
        .any(|w| *w == ["LMSG", "p1", "hi"]));
    let back = net.sent_on(1, ba).len();
    net.inject(1, ba, &chat_frame("LCOPY", &[&u1, "p1", "again", &u2]));
    net.settle();
    assert_eq!(net.sent_on(1, ba).len(), back, "nothing sent back to A");
}

/// A list copy for a user that moved while the copy was on its way goes
/// back on the link it came from, toward the user's new server: the
/// sender's side had not heard of the move (here C's user moved to A, and
/// A's copy names it as if it were still behind B). With the
/// `list-return` ablation, or for a user that never moved (the test
/// above), it is dropped.
#[test]
fn a_list_copy_for_a_user_that_moved_goes_back_toward_its_new_server() {
    for ablated in [false, true] {
        let mut cfg = Config::default();
        cfg.ablations.no_list_return = ablated;
        let mut net = chain(cfg, &["A", "B", "C"], &[("A", "B"), ("B", "C")]);
        let p1 = net.add_puppet("p1");
        client_registers(&mut net, p1, "A", "p1");
        let p3 = net.add_puppet("p3");
        client_registers(&mut net, p3, "C", "p3");
        net.settle();
        let (ba, bc) = (net.link_to(1, "A"), net.link_to(1, "C"));
        let uid = |net: &Net, nick| net.srv(1).uid_of_nick(nick).unwrap().to_string();
        let (u1, u3) = (uid(&net, "p1"), uid(&net, "p3"));
        let (a_sid, c_sid) = (net.srv(0).sid().to_string(), net.srv(2).sid().to_string());
        net.inject(1, bc, &chat_frame("UMOVE", &[&u3, &c_sid, &a_sid, "1"]));
        let before = net.sent_on(1, ba).len();
        net.inject(1, ba, &chat_frame("LCOPY", &[&u1, "p1", "late", &u3]));
        let back: Vec<Vec<String>> = net.sent_on(1, ba)[before..].to_vec();
        let want: Vec<Vec<String>> = if ablated {
            Vec::new()
        } else {
            vec![["LCOPY", &u1, "p1", "late", &u3].map(String::from).to_vec()]
        };
        assert_eq!(back, want, "ablated: {ablated}");
    }
}

/// Survivor of `on_direct_msg`: a PRIVREQ2 or PRIVANS2 for a user behind
/// the link it came from is dropped, not sent back.
#[test]
fn a_private_request_is_never_sent_back() {
    let (mut net, _) = three_users();
    let ba = net.link_to(1, "A");
    let u1 = net.srv(0).uid_of_nick("p1").unwrap().to_string();
    let u3 = net.srv(2).uid_of_nick("p3").unwrap().to_string();
    let back = net.sent_on(1, ba).len();
    net.inject(
        1,
        ba,
        &chat_frame("PRIVREQ2", &[&u1, &u3, "p3", "10.0.0.3"]),
    );
    net.inject(
        1,
        ba,
        &chat_frame("PRIVANS2", &[&u1, &u3, "p3", "yes", "x"]),
    );
    net.settle();
    assert_eq!(net.sent_on(1, ba).len(), back, "nothing sent back to A");
}

/// Survivors of `client_timeouts`: every PING to a client carries a fresh
/// token, and a link closed for silence and one closed for never
/// registering are told apart.
#[test]
fn client_pings_carry_fresh_tokens_and_closes_say_why() {
    let mut net = chain(Config::default(), &["A"], &[]);
    let p = net.add_puppet("p1");
    let l = client_joins(&mut net, p, "A", "p1");
    let (_, al) = net.wires[&(p, l)];
    let q = net.add_puppet("p2");
    let m = net.puppet_dial(q, "A");
    let (_, am) = net.wires[&(q, m)];
    let mut tokens = Vec::new();
    for _ in 0..3 {
        net.run_for(secs(6));
        let got = net.puppet_got(p, l);
        let ping = got
            .iter()
            .rev()
            .find(|w| w[0] == "PING")
            .unwrap_or_else(|| panic!("{got:?}"))
            .clone();
        net.puppet_send(p, l, &encoded(&["PONG", &ping[1]]));
        tokens.push(ping[1].clone());
    }
    tokens.dedup();
    assert_eq!(tokens.len(), 3, "{tokens:?}");
    net.run_for(secs(20));
    let downs = net.link_downs(0);
    assert!(
        downs.contains(&(am, CloseReason::HandshakeTimeout)),
        "{downs:?}"
    );
    assert!(downs.contains(&(al, CloseReason::PingTimeout)), "{downs:?}");
}

/// A client has its own keepalive: pinged after `client_ping_interval`
/// of silence and dropped after `client_ping_timeout`, while the server
/// link beside it is still pinged every `ping_interval`.
#[test]
fn clients_keep_alive_on_their_own_timers_and_links_on_theirs() {
    let cfg = Config {
        client_ping_interval: secs(60),
        client_ping_timeout: secs(180),
        ..Config::default()
    };
    let mut net = chain(cfg, &["A", "B"], &[("A", "B")]);
    let p = net.add_puppet("p1");
    let l = client_joins(&mut net, p, "A", "p1");
    let (_, al) = net.wires[&(p, l)];
    let heard = net
        .got
        .iter()
        .filter(|g| g.1 == 0 && g.2 == al)
        .map(|g| g.0)
        .max()
        .unwrap();
    let ab = net.link_to(0, "B");
    let pings_to = |net: &Net| -> Vec<Instant> {
        net.sent
            .iter()
            .filter(|s| s.1 == 0 && s.2 == al && words(&s.3)[0] == "PING")
            .map(|s| s.0)
            .collect()
    };
    net.run_for(secs(59));
    assert_eq!(pings_to(&net), [], "not pinged before a minute of silence");
    let link_pings = net.sent_on(0, ab).iter().filter(|w| w[0] == "PING").count();
    // Either end's PING is life to the other: A pings every other 5 s.
    assert!(link_pings >= 5, "the link to B is pinged: {link_pings}");
    net.run_for(secs(2));
    assert_eq!(pings_to(&net), [heard + secs(60)]);
    // Unanswered: dropped at 180 s of silence, not at the links' 15 s.
    net.run_until(heard + secs(179));
    assert!(
        !net.link_downs(0).iter().any(|d| d.0 == al),
        "dropped early"
    );
    net.run_until(heard + secs(181));
    assert!(net.link_downs(0).contains(&(al, CloseReason::PingTimeout)));
    assert_eq!(pings_to(&net).len(), 1, "one PING, then the close");
}

/// Survivor of `on_glogin`: a token's expiry is counted on its audience's
/// clock, as the greeter last learned it (here a and b run 1,000 s ahead
/// of the greeter, and the network has run for a minute).
#[test]
fn a_token_expires_on_its_audiences_clock() {
    let cfg = Config {
        greeter: Some("g".into()),
        ..Config::default()
    };
    let mut net = Net::new(cfg);
    for (n, ahead) in [("g", 0), ("a", 1_000), ("b", 1_000)] {
        let i = net.add(n, &[]);
        let srv = net.hosts[i].srv.as_mut().unwrap();
        srv.set_wall_offset(ahead * 1_000_000_000);
        net.handle(i, Input::Start);
    }
    for (x, y) in [("a", "g"), ("b", "a")] {
        let x = net.find(x);
        net.connect(x, y);
        net.settle();
    }
    net.run_for(secs(60));
    let p = net.add_puppet("p");
    let got = glogin(&mut net, p, &["alice", "al"]);
    let tok = got.iter().find(|w| w[0] == "GTOKEN").expect("a token");
    let s = net.find(&tok[1]);
    let expiry = crate::token::parse(&tok[2]).unwrap().0.expiry_ms;
    let want = net.srv(s).wall_clock_ms(net.now) + Config::default().token_ttl.as_millis();
    assert!(
        expiry <= want && expiry + 1_000 >= want,
        "{expiry} vs {want}"
    );
}

/// Survivor of `on_glogin`: a login with a user field a token cannot
/// carry is refused before anything else, sessions included.
#[test]
fn a_greeter_refuses_a_bad_user_before_showing_sessions() {
    let (mut net, p) = greeter_net();
    client_joins(&mut net, p, "a", "bob");
    let got = glogin(&mut net, p, &["alice", "a:l", "#r"]);
    assert_eq!(got, [["GREFUSE", "invalid nick, user or room"]]);
    let got = glogin(&mut net, p, &["alice", "al", "#r"]);
    assert_eq!(got[0][..2], ["GSESSION", "#r"], "{got:?}");
}

/// Survivor of `on_glogin`: a token not yet used counts toward its
/// server's load until the instant it expires, and no longer. (bob on a
/// makes a the busier; x1's token goes to b; at its expiry b is the less
/// loaded again, not tied with a.)
#[test]
fn a_pending_token_counts_toward_load_until_it_expires() {
    let (mut net, p) = greeter_net();
    let ttl = Config::default().token_ttl;
    let bob = client_joins(&mut net, p, "a", "bob");
    let l = net.puppet_dial(p, "g");
    net.puppet_send(p, l, &chat_frame("GLOGIN", &["x1", "u"]));
    let handled = net.now + net.latency;
    net.settle();
    assert_eq!(token_for(&net, p, l), "b");
    // bob stays (any frame is life to his server) until x1's expiry.
    let at = handled + ttl - net.latency;
    while net.now + secs(4) < at {
        net.run_for(secs(4));
        net.puppet_send(p, bob, &chat_frame("PING", &["1"]));
    }
    net.run_until(at);
    assert!(net.srv(0).uid_of_nick("bob").is_some());
    let m = net.puppet_dial(p, "g");
    net.puppet_send(p, m, &chat_frame("GLOGIN", &["x2", "u"]));
    net.settle();
    assert_eq!(token_for(&net, p, m), "b");
}

/// The server puppet `p`'s GTOKEN on `l` names.
fn token_for(net: &Net, p: usize, l: LinkId) -> String {
    let got = net.puppet_got(p, l);
    let tok = got.iter().find(|w| w[0] == "GTOKEN");
    tok.unwrap_or_else(|| panic!("{got:?}"))[1].clone()
}

/// Survivor of `successor`: with no other member anywhere, a shutting
/// down sequencer hands its stream to the least loaded server, not the
/// first by name (A has a user, C none: C).
#[test]
fn a_stream_goes_to_the_least_loaded_server_when_members_tie() {
    let mut net = chain(
        Config::default(),
        &["A", "B", "C"],
        &[("A", "B"), ("A", "C")],
    );
    let p1 = net.add_puppet("p1");
    client_joins(&mut net, p1, "B", "p1");
    let p2 = net.add_puppet("p2");
    client_registers(&mut net, p2, "A", "p2");
    net.settle();
    net.handle(1, Input::Operator(Command::Shutdown));
    net.run_for(secs(12));
    assert!(net.srv(1).is_stopped());
    assert!(sequences(&net, 2), "C, the less loaded");
    assert!(!sequences(&net, 0));
}

/// Survivor of `wait_for_handoff`: a member asking for a number while its
/// sequencer hands the stream over waits until the handover is decided,
/// and is then numbered by the new holder, rather than being refused at
/// once. (Until the waiting request named the holder, A, between B and
/// C, sent it back to B, which refused it: p1 got NOSEQ.)
#[test]
fn a_number_asked_for_during_a_handover_waits_for_it() {
    let (mut net, [(p1, l1), _]) = room_across_b_and_c();
    net.handle(1, Input::Operator(Command::Shutdown));
    net.puppet_send(p1, l1, &encoded(&["GETSEQ", "#r"]));
    let asked = net.now;
    net.run_for(secs(1));
    let got = net.puppet_got(p1, l1);
    assert!(!got.iter().any(|w| w[0] == "NOSEQ"), "{got:?}");
    let new = got.iter().rfind(|w| w[0] == "NEWSEQ").expect("numbered");
    // B's stream, numbered on by C.
    assert!(new[3].starts_with(net.srv(1).sid()), "{new:?}");
    let answer = newest(&net, p1, l1, "NEWSEQ", false);
    let decided = net
        .sent
        .iter()
        .find(|s| s.1 == 2 && words(&s.3)[0] == "RHOLDER")
        .expect("C took the stream")
        .0;
    assert!(
        asked < decided && decided <= answer,
        "{asked:?} {decided:?} {answer:?}"
    );
}

/// Survivor of `wait_for_handoff`'s test for a member already waiting:
/// two asks during a handover wait as one, and one number comes of them.
#[test]
fn a_member_asking_twice_during_a_handover_waits_once() {
    let (mut net, [(p1, l1), _]) = room_across_b_and_c();
    net.handle(1, Input::Operator(Command::Shutdown));
    let before = net.puppet_got(p1, l1).len();
    net.puppet_send(p1, l1, &encoded(&["GETSEQ", "#r"]));
    net.puppet_send(p1, l1, &encoded(&["GETSEQ", "#r"]));
    net.run_for(secs(1));
    let got = &net.puppet_got(p1, l1)[before..];
    let numbered = got.iter().filter(|w| w[0] == "NEWSEQ").count();
    assert_eq!(numbered, 1, "{got:?}");
}

/// The sequencer takes a message only from the member its number was
/// given to: another member's CSEND with that number fails as not held,
/// and the number stays for its holder (mutation survivor: the holder's
/// test in `accept_message` made always true).
#[test]
fn a_number_given_to_one_member_is_not_held_for_another() {
    let mut net = chain(Config::default(), &["A"], &[]);
    let alice = net.add_puppet("alice");
    let la = client_joins(&mut net, alice, "A", "alice");
    let bob = net.add_puppet("bob");
    let lb = client_joins(&mut net, bob, "A", "bob");
    net.puppet_send(alice, la, &encoded(&["GETSEQ", "#r"]));
    net.settle();
    let new = net.puppet_got(alice, la).pop().expect("NEWSEQ");
    assert_eq!(new[0], "NEWSEQ", "{new:?}");
    let (e, s, n) = (new[2].clone(), new[3].clone(), new[4].clone());
    net.puppet_send(bob, lb, &encoded(&["CSEND", "#r", &e, &s, &n, "b/1", "hi"]));
    net.settle();
    let last = net.puppet_got(bob, lb).pop().expect("an answer");
    assert_eq!(last[0], "SENDFAIL", "{last:?}");
    assert!(last.iter().any(|w| w == "number not held"), "{last:?}");
    net.puppet_send(
        alice,
        la,
        &encoded(&["CSEND", "#r", &e, &s, &n, "a/1", "hi"]),
    );
    net.settle();
    let last = net.puppet_got(alice, la).pop().expect("an answer");
    assert_eq!(last[0], "RMSG", "{last:?}");
}

/// A request a sequencer re-sends after handing its stream over names the
/// new holder, and a server on the way sends it there even though its own
/// view (which the holder's RHOLDER has not yet corrected) puts the
/// sequencer back where the request came from. A, between B (the
/// sequencer) and C: routed by A's view, p2's request would go back to B.
#[test]
fn a_request_for_a_number_that_names_the_new_holder_goes_there() {
    let (mut net, _) = room_across_b_and_c();
    let (a, c) = (0, 2);
    let (ab, ac) = (net.link_to(a, "B"), net.link_to(a, "C"));
    let uid = uid_at(&net, c, "p2");
    let c_sid = net.srv(c).sid().to_string();
    let (to_b, to_c) = (net.sent_on(a, ab).len(), net.sent_on(a, ac).len());
    net.inject(a, ab, &chat_frame("RSEQREQ", &["#r", &uid, &c_sid]));
    assert_eq!(
        net.sent_on(a, ac)[to_c..],
        [["RSEQREQ", "#r", uid.as_str(), c_sid.as_str()]]
    );
    assert!(net.sent_on(a, ab)[to_b..].is_empty());
    // Without the holder named, A's view decides: back toward B.
    net.inject(a, ab, &chat_frame("RSEQREQ", &["#r", &uid]));
    assert_eq!(
        net.sent_on(a, ab)[to_b..],
        [["RSEQREQ", "#r", uid.as_str()]]
    );
}

/// A request for a number passed on toward the sequencer goes as this
/// server would write it, whatever spelling it came in: as it came when
/// that is the same bytes, written again when it had an optional space or
/// the room's name in other letters (the bytes are in every trace hash).
#[test]
fn a_request_passed_on_is_written_as_this_server_writes_it() {
    let (mut net, _) = room_across_b_and_c();
    let (a, c) = (0, 2);
    let (ab, ac) = (net.link_to(a, "B"), net.link_to(a, "C"));
    let uid = uid_at(&net, c, "p2");
    let canonical = format!("<RSEQREQ,#r,{uid}>").into_bytes();
    for came in [
        format!("<RSEQREQ,#r,{uid}>"),
        format!("<RSEQREQ,#r, {uid}>"),
        format!("<RSEQREQ,#R,{uid}>"),
    ] {
        let before = net.sent_raw_on(a, ab).len();
        net.inject(a, ac, came.as_bytes());
        assert_eq!(
            &net.sent_raw_on(a, ab)[before..],
            std::slice::from_ref(&canonical),
            "{came}"
        );
    }
}

/// After a successor that never answered, the next try goes through
/// another of our links first: C (the most members) is behind A, so after
/// C the stream goes to D, not to A, which the rest of the order (hops,
/// members, load, then name) would pick (mutation survivor: the silent
/// links taken as those of every server not tried).
#[test]
fn after_a_silent_successor_the_next_try_goes_another_way() {
    let mut net = chain(
        Config::default(),
        &["A", "B", "C", "D"],
        &[("A", "B"), ("A", "C"), ("B", "D")],
    );
    let (b, c, d) = (net.find("B"), net.find("C"), net.find("D"));
    let p1 = net.add_puppet("p1");
    client_joins(&mut net, p1, "B", "p1");
    let p2 = net.add_puppet("p2");
    client_joins(&mut net, p2, "C", "p2");
    assert!(sequences(&net, b));
    // C's take, and both it sends again before B gives up on it.
    net.lose
        .extend(std::iter::repeat_n("RSEQTAKE".to_string(), 3));
    net.handle(b, Input::Operator(Command::Shutdown));
    net.run_for(secs(12));
    let dests: Vec<String> = net
        .sent
        .iter()
        .filter(|s| s.1 == b && words(&s.3)[0] == "RSEQSTATE")
        .map(|s| words(&s.3).last().unwrap().clone())
        .collect();
    let sid = |i: usize| net.srv(i).sid().to_string();
    assert!(dests.len() >= 2, "{dests:?}");
    assert_eq!(dests[..2], [sid(c), sid(d)]);
}

/// Survivor of `send_holders`: a server that links after a handover
/// learns in the burst who holds the stream now, not only the stream's
/// name (which still names the server that left).
#[test]
fn a_server_linking_after_a_handover_learns_the_holder() {
    let (mut net, _, _) = sequencer_shuts_down(&[]);
    let c = net.srv(2).sid().to_string();
    let d = net.add("D", &[]);
    net.handle(d, Input::Start);
    net.connect(d, "A");
    net.settle();
    assert_eq!(net.srv(d).room_sequencer("#r"), Some(c.as_str()));
}

/// Survivors of `send_handoff`: when no successor ever takes the stream,
/// a shutting down sequencer tries a bounded number of rounds, each a
/// `redirect_timeout` apart (also the rounds with nobody left to try),
/// and then stops anyway.
#[test]
fn a_handover_nobody_takes_ends_after_its_rounds() {
    let (mut net, _) = room_across_b_and_c();
    net.lose
        .extend(std::iter::repeat_n("RSEQTAKE".to_string(), 20));
    let t0 = net.now;
    net.handle(1, Input::Operator(Command::Shutdown));
    // C at once, A after a round, then three rounds with nobody left.
    net.run_until(t0 + secs(24));
    assert!(!net.srv(1).is_stopped(), "still trying");
    net.run_until(t0 + secs(26));
    assert!(net.srv(1).is_stopped());
    assert!(!sequences(&net, 0) && !sequences(&net, 2));
}

/// A shutting-down server tells a client it could not move why it lets
/// it go once the move has ended, not only once its streams are handed
/// over: here p1 (a puppet) never follows its REDIRECT, so the move ends
/// at `redirect_timeout`, while nobody takes B's stream for five rounds.
/// Without that (`prompt-goodbye`) p1 hears nothing for 25 s, long
/// enough for a client to time its server out
/// (shutdown-goodbye-while-handing-over.toml).
#[test]
fn a_client_that_could_not_move_is_told_before_the_streams_are_handed_over() {
    for ablate in [false, true] {
        let mut cfg = Config::default();
        cfg.ablations.no_prompt_goodbye = ablate;
        let redirect_timeout = cfg.redirect_timeout;
        let (mut net, [(p1, l1), _]) = room_across_b_and_c_with(cfg);
        net.lose
            .extend(std::iter::repeat_n("RSEQTAKE".to_string(), 20));
        let t0 = net.now;
        net.handle(1, Input::Operator(Command::Shutdown));
        net.run_until(t0 + redirect_timeout + secs(1));
        let told = net
            .puppet_got(p1, l1)
            .iter()
            .any(|w| *w == ["ERROR", "server shutting down"]);
        assert!(!net.srv(1).is_stopped(), "still handing over");
        assert_eq!(told, !ablate);
    }
}

/// A client whose move ended early (it refused) is told at once, not at
/// the drain's deadline (mutation survivor: "no move pending, or time is
/// up" as "and").
#[test]
fn a_client_that_refused_to_move_is_told_at_once() {
    let (mut net, [(p1, l1), _]) = room_across_b_and_c();
    net.lose
        .extend(std::iter::repeat_n("RSEQTAKE".to_string(), 20));
    net.handle(1, Input::Operator(Command::Shutdown));
    net.run_for(ms(100));
    refuse_the_redirect(&mut net, p1, l1);
    net.run_for(ms(100));
    let got = net.puppet_got(p1, l1);
    assert_eq!(got.last().unwrap(), &["ERROR", "server shutting down"]);
}

/// Survivors of `on_handoff_msg`: only the receipt of the successor last
/// tried, for the handover number last sent, ends a handover; a record
/// naming another holder or another number does not (here no successor
/// ever takes the stream, so the sequencer keeps trying its rounds).
#[test]
fn only_the_successors_own_receipt_ends_a_handover() {
    let (mut net, _) = room_across_b_and_c();
    net.lose
        .extend(std::iter::repeat_n("RSEQTAKE".to_string(), 20));
    let t0 = net.now;
    net.handle(1, Input::Operator(Command::Shutdown));
    net.run_for(ms(100));
    let end = offered_end(&net);
    let (gen, to) = (end[3].clone(), end[5].clone());
    let seq = stream_of(&net, 1).seq.to_string();
    let a_sid = net.srv(0).sid().to_string();
    let ba = net.link_to(1, "A");
    net.inject(1, ba, &chat_frame("RHOLDER", &["#r", &seq, &a_sid, &gen]));
    net.inject(1, ba, &chat_frame("RHOLDER", &["#r", &seq, &to, "77"]));
    net.run_until(t0 + secs(24));
    assert!(!net.srv(1).is_stopped(), "still handing over");
}

/// Survivors of `on_handoff_msg`: the holder of a stream steps down when
/// a newer handover record of that stream names another server, and only
/// then (not for its own record, nor another stream's).
#[test]
fn a_holder_steps_down_only_for_a_newer_record_naming_another() {
    let (mut net, _, _) = sequencer_shuts_down(&[]);
    assert!(sequences(&net, 2));
    let seq = stream_of(&net, 2).seq.to_string();
    let (a_sid, c_sid) = (net.srv(0).sid().to_string(), net.srv(2).sid().to_string());
    let ca = net.link_to(2, "A");
    net.inject(2, ca, &chat_frame("RHOLDER", &["#r", &seq, &c_sid, "50"]));
    assert!(sequences(&net, 2), "its own record");
    net.inject(
        2,
        ca,
        &chat_frame("RHOLDER", &["#r", "0ZZ-9", &a_sid, "51"]),
    );
    assert!(sequences(&net, 2), "another stream's record");
    net.inject(2, ca, &chat_frame("RHOLDER", &["#r", &seq, &a_sid, "52"]));
    assert!(!sequences(&net, 2), "stepped down for A");
}

/// Survivor of `on_handoff_msg`: a stream's state on its way to a server
/// behind the link it came from is not sent back.
#[test]
fn a_handover_state_is_never_sent_back() {
    let (mut net, _, _) = sequencer_shuts_down(&[]);
    let c_sid = net.srv(2).sid().to_string();
    let ac = net.link_to(0, "C");
    let back = net.sent_on(0, ac).len();
    net.inject(
        0,
        ac,
        &chat_frame("RSEQSTATE", &["#r", "1", "001-1", "9", &c_sid]),
    );
    net.settle();
    assert_eq!(net.sent_on(0, ac).len(), back);
}

/// Survivors of `on_handoff_msg`: the old sequencer tells to go only the
/// successor of its current try, for that try's number; a take that
/// successor sends again (its go was lost) gets the go again.
#[test]
fn only_the_current_successor_is_told_to_go() {
    let (mut net, _) = room_across_b_and_c();
    net.lose
        .extend(std::iter::repeat_n("RSEQTAKE".to_string(), 20));
    net.handle(1, Input::Operator(Command::Shutdown));
    net.run_for(ms(100));
    let end = offered_end(&net);
    let (gen, to) = (end[3].clone(), end[5].clone());
    let (a_sid, b_sid) = (net.srv(0).sid().to_string(), net.srv(1).sid().to_string());
    let ba = net.link_to(1, "A");
    let gos = |net: &Net| {
        net.sent
            .iter()
            .filter(|s| s.1 == 1 && words(&s.3)[0] == "RSEQGO")
            .count()
    };
    net.inject(1, ba, &chat_frame("RSEQTAKE", &["#r", "77", &to, &b_sid]));
    net.inject(
        1,
        ba,
        &chat_frame("RSEQTAKE", &["#r", &gen, &a_sid, &b_sid]),
    );
    assert_eq!(gos(&net), 0, "a stale number, or not the one tried");
    net.inject(1, ba, &chat_frame("RSEQTAKE", &["#r", &gen, &to, &b_sid]));
    assert_eq!(gos(&net), 1, "told to go");
    net.inject(1, ba, &chat_frame("RSEQTAKE", &["#r", &gen, &to, &b_sid]));
    assert_eq!(gos(&net), 2, "told again");
    net.inject(
        1,
        ba,
        &chat_frame("RSEQTAKE", &["#r", &gen, &a_sid, &b_sid]),
    );
    assert_eq!(gos(&net), 2, "never another");
}

/// A successor whose go is lost says it is ready again every
/// `find_delay` and takes the stream at the go that answers; without
/// that (`take-reask`), and without the old sequencer's word when it
/// leaves (`holder-word`, which alone would rescue it too, later), the
/// stream is left with nobody (two-shutdowns-lose-the-stream.toml).
#[test]
fn a_successor_whose_go_is_lost_asks_again_and_takes_the_stream() {
    for ablate in [false, true] {
        let mut cfg = Config::default();
        cfg.ablations.no_take_reask = ablate;
        cfg.ablations.no_holder_word = ablate;
        let (mut net, p2, l2) = sequencer_shuts_down_with(cfg, &["RSEQGO"]);
        let takes = net
            .sent
            .iter()
            .filter(|s| s.1 == 2 && words(&s.3)[0] == "RSEQTAKE")
            .count();
        let epoch = |i: usize| {
            let r = net.srv(i).rooms().find(|r| r.name == "#r").unwrap();
            r.stream.epoch
        };
        if ablate {
            // Nobody took the stream: once B's grace ended, the servers
            // left started the room afresh.
            assert_eq!(takes, 1);
            assert!(epoch(0) > 1 && epoch(2) == epoch(0), "{}", epoch(0));
        } else {
            assert_eq!((epoch(0), epoch(2)), (1, 1));
            assert_eq!(takes, 2, "once, and again after find_delay");
            assert!(sequences(&net, 2), "C took the stream");
            let (e, _, n) = client_says(&mut net, p2, l2, "two");
            assert_eq!((e.as_str(), n.as_str()), ("1", "2"));
        }
    }
}

/// A successor none of whose goes arrives takes the stream at the old
/// sequencer's word: B, letting go of the handover it decided with no
/// receipt back, floods an RHOLDER naming C, which C takes as the go.
/// Without that (`holder-word`) nobody takes the stream, and the servers
/// left start the room afresh (two-shutdowns-at-300ms.toml: the go lost
/// where the tree re-formed, and the repeated takes with no way back to
/// the old sequencer before it left).
#[test]
fn a_successor_whose_go_never_comes_takes_the_stream_at_the_old_sequencers_word() {
    for ablate in [false, true] {
        let mut cfg = Config::default();
        cfg.ablations.no_holder_word = ablate;
        let (mut net, p2, l2) = sequencer_shuts_down_with(cfg, &["RSEQGO"; 20]);
        let said = |net: &Net, i: usize, cmd: &str| {
            net.sent
                .iter()
                .filter(|s| s.1 == i && words(&s.3)[0] == cmd)
                .count()
        };
        assert!(said(&net, 1, "RSEQGO") >= 2, "told to go, and again");
        assert_eq!(
            net.lose.len(),
            20 - said(&net, 1, "RSEQGO"),
            "every go lost"
        );
        let epoch = |i: usize| {
            let r = net.srv(i).rooms().find(|r| r.name == "#r").unwrap();
            r.stream.epoch
        };
        if ablate {
            assert_eq!(said(&net, 1, "RHOLDER"), 0);
            assert!(epoch(0) > 1 && epoch(2) == epoch(0), "{}", epoch(0));
        } else {
            assert_eq!(said(&net, 1, "RHOLDER"), 1, "B's word, once");
            assert_eq!((epoch(0), epoch(2)), (1, 1));
            assert!(sequences(&net, 2), "C took the stream");
            let c = net.srv(2).sid().to_string();
            assert_eq!(net.srv(0).room_sequencer("#r"), Some(c.as_str()));
            let (e, _, n) = client_says(&mut net, p2, l2, "two");
            assert_eq!((e.as_str(), n.as_str()), ("1", "2"));
        }
    }
}

/// A successor that said it was ready and then restarted, before any go
/// reached it, is named holder by the old sequencer's word as it leaves;
/// the restarted process has neither the stream's state nor the offer,
/// and the word comes after the bursts that a restart's check of its own
/// streams reads. It starts a new stream above the one it is named for,
/// and the room goes on. Found by review, under `home`: without that the
/// servers left routed the stream to C, which numbered nothing, and A's
/// member got NOSEQ for good. (With the ablation, which removes the word
/// too, the old sequencer's leaving makes the room elect anew.)
#[test]
fn a_restarted_successor_named_holder_starts_a_new_stream() {
    for ablate in [false, true] {
        let mut cfg = ordering_cfg(crate::config::Ordering::Home);
        cfg.ablations.no_holder_word = ablate;
        let (mut net, _) = room_across_b_and_c_with(cfg);
        net.lose
            .extend(std::iter::repeat_n("RSEQGO".to_string(), 20));
        net.handle(1, Input::Operator(Command::Shutdown));
        net.run_for(ms(100));
        assert!(
            net.sent
                .iter()
                .any(|s| s.1 == 2 && words(&s.3)[0] == "RSEQTAKE"),
            "C said it was ready"
        );
        net.crash(2);
        net.run_for(ms(200));
        net.restart(2);
        net.connect(2, "A");
        net.run_for(secs(9));
        assert!(net.srv(1).is_stopped());
        let p3 = net.add_puppet("p3");
        let l3 = client_joins(&mut net, p3, "A", "p3");
        let (e, _, n) = client_says(&mut net, p3, l3, "after");
        assert!(e.parse::<u64>().unwrap() > 1, "a new stream: {e}");
        assert!(!n.is_empty());
        if !ablate {
            assert!(sequences(&net, 2), "C runs the new stream");
        }
    }
}

/// A stream that becomes a shutting-down server's during its drain is
/// handed over too: here a join that reaches B after its shutdown began
/// creates #new there, after B handed over #r. Without that
/// (`drain-new-streams`) #new stopped with B and the servers left started
/// it afresh (room-created-while-draining.toml: hops of 1 s put the join
/// on the wire before the shutdown and at B after it).
#[test]
fn a_room_created_during_the_drain_is_handed_over_too() {
    for ablate in [false, true] {
        let mut cfg = ordering_cfg(crate::config::Ordering::Home);
        cfg.ablations.no_drain_new_streams = ablate;
        let mut net = chain(cfg, &["A", "B"], &[("A", "B")]);
        let p = net.add_puppet("p");
        let l = client_joins(&mut net, p, "B", "p");
        net.handle(1, Input::Operator(Command::Shutdown));
        net.puppet_send(p, l, &encoded(&["JOINROOM", "#new"]));
        net.run_for(ms(50));
        assert!(net
            .puppet_got(p, l)
            .iter()
            .any(|w| w[0] == "JOINED" && w[1] == "#new"));
        let handed: Vec<String> = net
            .sent
            .iter()
            .filter(|s| s.1 == 1 && words(&s.3)[0] == "RSEQSTATE")
            .map(|s| words(&s.3)[1].clone())
            .collect();
        if ablate {
            assert_eq!(handed, ["#r"]);
        } else {
            assert_eq!(handed, ["#r", "#new"]);
        }
    }
}

/// A server whose view is empty when its shutdown begins, because the
/// burst of the neighbour it has just linked to is still on its way, hands
/// its streams over once that burst brings servers into view: the last
/// word on that link is answered only after the burst, so they come
/// before it closes. Before (`drain-kept-streams`) it found nobody to hand
/// #r to at the start, kept it, and the room stopped with it
/// (swarm-discovery seed 41490 at 1 s hops: a seeker shut down 450 ms
/// after its link came up; shutdown-before-its-first-burst.toml).
#[test]
fn a_stream_kept_for_want_of_a_successor_is_handed_over_when_one_comes_into_view() {
    for ablate in [false, true] {
        let mut cfg = ordering_cfg(crate::config::Ordering::Home);
        cfg.ablations.no_drain_kept_streams = ablate;
        let mut net = chain(cfg, &["A", "B"], &[]);
        let p = net.add_puppet("p");
        let l = client_joins(&mut net, p, "B", "p");
        assert!(sequences(&net, 1), "B created #r");
        // A second room kept too: each is offered again, not only the
        // first (mutation survivors: kept once for any other room).
        net.puppet_send(p, l, &encoded(&["JOINROOM", "#s"]));
        net.settle();
        // B links to A and begins its shutdown the instant its end of the
        // link is registered, before A's burst (behind the VERIFIED) is read.
        net.connect(1, "A");
        let registered = |net: &Net| {
            net.notes
                .iter()
                .any(|(_, h, n)| *h == 1 && matches!(n, Note::LinkRegistered { .. }))
        };
        while !registered(&net) {
            assert!(net.step_before(Instant(u64::MAX)), "B's link registers");
        }
        assert_eq!(net.view(1).len(), 0, "A's burst not read yet");
        net.handle(1, Input::Operator(Command::Shutdown));
        net.run_for(secs(2));
        assert!(net.srv(1).is_stopped(), "B closed");
        let mut handed: Vec<String> = net
            .sent
            .iter()
            .filter(|s| s.1 == 1 && words(&s.3)[0] == "RSEQSTATE")
            .map(|s| words(&s.3)[1].clone())
            .collect();
        handed.sort();
        if ablate {
            assert!(handed.is_empty(), "{handed:?}");
        } else {
            assert_eq!(handed, ["#r", "#s"]);
        }
        for room in ["#r", "#s"] {
            let a = net.srv(0).rooms().find(|r| r.name == room).unwrap();
            assert_eq!(
                a.sequencer.is_some(),
                !ablate,
                "A took {room} over (ablated: {ablate})"
            );
            assert_eq!(a.stream.epoch, 1);
        }
    }
}

/// The take is said again `find_delay` after the first, not at an earlier
/// wake-up of the successor for anything else (mutation survivor: the
/// due test reversed said it again at any wake-up before its time).
#[test]
fn a_take_is_said_again_only_when_due() {
    let (mut net, _) = room_across_b_and_c();
    net.lose.push("RSEQGO".into());
    net.handle(1, Input::Operator(Command::Shutdown));
    let takes = |net: &Net| {
        net.sent
            .iter()
            .filter(|s| s.1 == 2 && words(&s.3)[0] == "RSEQTAKE")
            .map(|s| s.0)
            .collect::<Vec<_>>()
    };
    net.run_until_true(ms(10), |n| !takes(n).is_empty());
    let first = takes(&net)[0];
    net.run_for(ms(100));
    net.handle(2, Input::Timeout);
    assert_eq!(takes(&net).len(), 1, "not yet due");
    net.run_for(secs(3));
    assert_eq!(takes(&net), [first, first + Config::default().find_delay]);
}

/// A server that takes a stream over gives its own members the start
/// points they still await: here C's member p2 never got its RSTART
/// (lost), and B, shutting down, hands the stream to C, whose state holds
/// p2's start point. Without that (`taker-starts`) C forgets the wait
/// once it sequences the room, and p2 never syncs
/// (start-awaited-by-the-taker.toml).
#[test]
fn a_taker_gives_its_own_waiting_members_their_start_points() {
    for ablate in [false, true] {
        let mut cfg = Config::default();
        cfg.ablations.no_taker_starts = ablate;
        let find_delay = cfg.find_delay;
        let mut net = chain(cfg, &["A", "B", "C"], &[("A", "B"), ("A", "C")]);
        let p1 = net.add_puppet("p1");
        client_joins(&mut net, p1, "B", "p1");
        // Every RSTART and RSTARTREQ toward B is lost until B leaves.
        net.lose
            .extend(std::iter::repeat_n("RSTART".to_string(), 10));
        net.lose
            .extend(std::iter::repeat_n("RSTARTREQ".to_string(), 10));
        let p2 = net.add_puppet("p2");
        let l2 = client_joins(&mut net, p2, "C", "p2");
        assert!(syncs(&net, p2, l2).is_empty());
        net.handle(1, Input::Operator(Command::Shutdown));
        net.run_for(secs(12));
        assert!(sequences(&net, 2), "C took the stream");
        net.run_for(Duration::from_nanos(find_delay.as_nanos() * 2));
        let got = syncs(&net, p2, l2);
        if ablate {
            assert!(got.is_empty(), "{got:?}");
        } else {
            assert_eq!(got.first().map(|w| w[4].as_str()), Some("1"), "{got:?}");
        }
    }
}

/// Survivor of `on_handoff_msg`: the new holder gives a start point only
/// to members that had none in the state it took; a member that had one
/// keeps it (a second would tell it to skip what came before).
#[test]
fn a_new_holder_keeps_the_members_start_points() {
    let (net, p2, l2) = sequencer_shuts_down(&[]);
    assert!(sequences(&net, 2));
    let syncs: Vec<Vec<String>> = net
        .puppet_got(p2, l2)
        .into_iter()
        .filter(|w| w[0] == "SYNC")
        .collect();
    assert_eq!(syncs.len(), 1, "{syncs:?}");
    assert_eq!(syncs[0][4], "1");
}

/// Survivor of `on_move_msg`: a move message on its way to a server
/// behind the link it came from is not sent back.
#[test]
fn a_move_message_is_never_sent_back() {
    let mut net = chain(
        Config::default(),
        &["A", "B", "C"],
        &[("A", "B"), ("B", "C")],
    );
    let c_sid = net.srv(2).sid().to_string();
    let bc = net.link_to(1, "C");
    let back = net.sent_on(1, bc).len();
    let id = "00000000000000aa";
    net.inject(
        1,
        bc,
        &chat_frame("RDNOTE", &[id, "0ZZ-1-1", "001", &c_sid]),
    );
    net.inject(1, bc, &chat_frame("RDCANCEL", &[id, "why", &c_sid]));
    net.settle();
    assert_eq!(net.sent_on(1, bc).len(), back);
}

/// Survivor of `on_move_msg`: a repeated notice of a move the target has
/// noted changes nothing; in particular its deadline stays.
#[test]
fn a_repeated_move_notice_keeps_the_first_deadline() {
    let (mut net, _, _, _, _) = alice_asked_to_move(Config::default());
    let (t0, note) = net
        .sent
        .iter()
        .find(|s| s.1 == 1 && words(&s.3)[0] == "RDNOTE")
        .map(|s| (s.0, s.3.clone()))
        .expect("B passed the notice on");
    let cb = net.link_to(2, "B");
    // (A's own give-up would end it at C too.)
    net.lose
        .extend(std::iter::repeat_n("RDCANCEL".to_string(), 4));
    net.run_until(t0 + secs(3));
    net.inject(2, cb, &note);
    net.run_until(t0 + secs(5) + ms(10));
    assert_eq!(net.srv(2).pending_moves().count(), 0, "ended on time");
}

/// Survivor of `on_handover`: an id a parked handover holds is refused
/// to a second connection.
#[test]
fn a_handover_id_in_use_is_refused_to_another_connection() {
    let (mut net, p, _, id, uid) = handover_beats_the_notice();
    let again = net.puppet_dial(p, "C");
    net.puppet_send(p, again, &encoded(&["HANDOVER", &id, &uid]));
    net.run_for(ms(20));
    assert_eq!(
        net.puppet_got(p, again),
        [["ERROR", "redirect refused: id already used"]]
    );
}

/// Survivor of `on_handover`: under `no_handover_id`, a target takes a
/// client's word for a move it was never told of, for a user it knows.
#[test]
fn without_handover_ids_a_target_takes_the_clients_word() {
    let mut cfg = Config::default();
    cfg.ablations.no_handover_id = true;
    let mut net = chain(cfg, &["A", "B", "C"], &[("A", "B"), ("B", "C")]);
    let p = net.add_puppet("alice");
    client_joins(&mut net, p, "A", "alice");
    let uid = net.srv(0).local_uids().next().unwrap().to_string();
    let l = net.puppet_dial(p, "C");
    net.puppet_send(p, l, &encoded(&["HANDOVER", "00000000000000aa", &uid]));
    net.run_for(ms(200));
    let got = net.puppet_got(p, l);
    assert_eq!(
        got.first().map(|w| &w[0]),
        Some(&"HANDOK".to_string()),
        "{got:?}"
    );
    assert_eq!(net.srv(2).local_uids().collect::<Vec<_>>(), [uid.as_str()]);
}

/// Survivors of `commit_move`: a source commits only moves it asked for;
/// under `no_handover_id` it also commits one it does not hold, for a
/// user of its own (and ends nothing for anyone else's).
#[test]
fn a_source_commits_only_its_own_moves_unless_ids_are_off() {
    let ends = |net: &Net| {
        net.notes
            .iter()
            .filter(|(_, h, n)| *h == 0 && matches!(n, Note::Chat(ChatNote::MoveEnded { .. })))
            .count()
    };
    for ids_off in [false, true] {
        let mut cfg = Config::default();
        cfg.ablations.no_handover_id = ids_off;
        let mut net = chain(cfg, &["A", "B", "C"], &[("A", "B"), ("B", "C")]);
        for nick in ["alice", "carl"] {
            let p = net.add_puppet(nick);
            client_joins(&mut net, p, if nick == "alice" { "A" } else { "C" }, nick);
        }
        let alice = net.srv(0).uid_of_nick("alice").unwrap().to_string();
        let carl = net.srv(0).uid_of_nick("carl").unwrap().to_string();
        let (a_sid, c_sid) = (net.srv(0).sid().to_string(), net.srv(2).sid().to_string());
        let ab = net.link_to(0, "B");
        let id = "00000000000000bb";
        assert!(net.srv(0).local_uids().any(|u| u == alice));
        net.inject(0, ab, &chat_frame("RDDONE", &[id, &carl, &c_sid, &a_sid]));
        net.settle();
        assert_eq!(ends(&net), 0, "carl is not A's to move");
        net.inject(0, ab, &chat_frame("RDDONE", &[id, &alice, &c_sid, &a_sid]));
        net.settle();
        // Under the switch A hands alice to C, which never had her
        // client: she is gone from A (and then from everywhere).
        let at_a = net.srv(0).local_uids().any(|u| u == alice);
        assert_eq!(at_a, !ids_off, "{ids_off}");
        assert_eq!(ends(&net), usize::from(ids_off));
    }
}

/// Survivors of `catch_up_move`: a UID that carries a later move than a
/// server knows moves the user's home there; an older one does not, and
/// nothing moves a user whose client is here.
#[test]
fn a_uid_with_a_later_move_catches_up_on_the_home() {
    let mut net = chain(
        Config::default(),
        &["A", "B", "C"],
        &[("A", "B"), ("B", "C")],
    );
    for (nick, at) in [("alice", "A"), ("carl", "C")] {
        let p = net.add_puppet(nick);
        client_joins(&mut net, p, at, nick);
    }
    let alice = net.srv(0).uid_of_nick("alice").unwrap().to_string();
    let carl = net.srv(0).uid_of_nick("carl").unwrap().to_string();
    let (b_sid, c_sid) = (net.srv(1).sid().to_string(), net.srv(2).sid().to_string());
    let ab = net.link_to(0, "B");
    let home_at_a = |net: &Net, uid: &str| net.srv(0).user(uid).unwrap().1.to_string();
    net.inject(
        0,
        ab,
        &chat_frame("UID", &[&carl, "carl", "5", "5", &b_sid, "3"]),
    );
    assert_eq!(home_at_a(&net, &carl), b_sid, "a later move");
    net.inject(
        0,
        ab,
        &chat_frame("UID", &[&carl, "carl", "5", "5", &c_sid, "2"]),
    );
    assert_eq!(home_at_a(&net, &carl), b_sid, "an older one");
    net.inject(
        0,
        ab,
        &chat_frame("UID", &[&alice, "alice", "5", "5", &b_sid, "9"]),
    );
    assert!(
        net.srv(0).local_uids().any(|u| u == alice),
        "her client is here"
    );
}

/// Survivor of `on_umove`: a UMOVE naming a malformed SID is refused and
/// moves nothing.
#[test]
fn a_umove_with_a_bad_sid_moves_nothing() {
    let mut net = chain(
        Config::default(),
        &["A", "B", "C"],
        &[("A", "B"), ("B", "C")],
    );
    let p = net.add_puppet("carl");
    client_joins(&mut net, p, "C", "carl");
    let carl = net.srv(0).uid_of_nick("carl").unwrap().to_string();
    let c_sid = net.srv(2).sid().to_string();
    let ab = net.link_to(0, "B");
    let bad = net.srv(0).stats().malformed;
    // (A malformed frame from a server is a protocol error: the link
    // closes, and carl with it.)
    net.inject(0, ab, &chat_frame("UMOVE", &[&carl, &c_sid, "XY", "5"]));
    assert_eq!(net.srv(0).stats().malformed, bad + 1);
    assert_ne!(net.srv(0).user(&carl).map(|u| u.1), Some("XY"));
}

/// Survivor of `moves_client_gone`: when the connection that presented a
/// handover closes, a move the target was told of stays open for the
/// client to present it again on a new connection.
#[test]
fn a_noted_move_survives_its_handover_connection_closing() {
    let (mut net, p, _, uid, id) = alice_asked_to_move(Config::default());
    let first = net.puppet_dial(p, "C");
    let (c, cl) = net.wires[&(p, first)];
    net.puppet_send(p, first, &encoded(&["HANDOVER", &id, &uid]));
    net.run_for(net.latency);
    net.handle(c, Input::Closed { link: cl });
    assert_eq!(net.srv(c).pending_moves().count(), 1, "still open");
    let second = net.puppet_dial(p, "C");
    net.puppet_send(p, second, &encoded(&["HANDOVER", &id, &uid]));
    net.settle();
    let got = net.puppet_got(p, second);
    assert!(got.iter().all(|w| w[0] != "ERROR"), "{got:?}");
}

/// Survivor of `oldest_hold`: a number given out and never used is
/// skipped when its hold runs out, even when the server's deadline was
/// recomputed in between (here by a client's PING).
#[test]
fn an_unused_number_is_skipped_when_its_hold_runs_out() {
    let mut net = chain(Config::default(), &["A"], &[]);
    let p = net.add_puppet("p1");
    let l = client_joins(&mut net, p, "A", "p1");
    net.puppet_send(p, l, &encoded(&["GETSEQ", "#r"]));
    let held = net.now + net.latency;
    net.run_for(secs(12));
    let skipped: Vec<Instant> = net
        .notes
        .iter()
        .filter(|(_, _, n)| matches!(n, Note::Chat(ChatNote::SeqSkipped { .. })))
        .map(|(t, _, _)| *t)
        .collect();
    assert_eq!(skipped, [held + Config::default().seq_hold]);
}

/// A hold that ran out before a late wake-up is skipped at that wake-up,
/// as one exactly due is (mutation survivor of the hold queue: taking
/// only holds exactly due, `<` as `>`, passed every run, whose wake-ups
/// come at the deadline).
#[test]
fn a_hold_past_due_at_a_late_wake_up_is_skipped() {
    let mut net = chain(Config::default(), &["A"], &[]);
    let p = net.add_puppet("p1");
    let l = client_joins(&mut net, p, "A", "p1");
    net.puppet_send(p, l, &encoded(&["GETSEQ", "#r"]));
    net.run_for(ms(100));
    // Woken well after the hold ran out (a host that slept, say).
    net.now = net.now + Config::default().seq_hold + secs(3);
    net.handle(0, Input::Timeout);
    let skipped = net
        .notes
        .iter()
        .filter(|(_, _, n)| matches!(n, Note::Chat(ChatNote::SeqSkipped { .. })))
        .count();
    assert_eq!(skipped, 1);
    assert!(net.srv(0).chat.hold_queue.is_empty());
}

/// A room message whose text is not plain ASCII is read by the general
/// decoder rather than straight off the bytes, and still goes from server
/// to server to the members (mutation survivor: the general path's RMSG
/// arm could go, turning such a message into a protocol error).
#[test]
fn a_room_message_that_is_not_plain_ascii_crosses_servers_too() {
    let (mut net, [(p1, l1), (p2, l2)]) = room_across_b_and_c();
    let text = "größer, <à> ça";
    client_says(&mut net, p1, l1, text);
    let got: Vec<Vec<String>> = net
        .puppet_got(p2, l2)
        .into_iter()
        .filter(|w| w[0] == "RMSG")
        .collect();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].last().map(String::as_str), Some(text));
    assert!(net.closes.is_empty(), "{:?}", net.closes);
}

/// Losing one server drops its users and any USYNC pending about it, and
/// nothing else: A asked B about C's users when D went; B's answer still
/// ends that sync (max, not named, is dropped). Under the `no_split_users`
/// ablation, D's users stay. (Mutation survivors: the pending syncs of
/// every other server dropped instead; the ablation ignored.)
#[test]
fn losing_a_server_drops_its_users_and_leaves_other_syncs_pending() {
    for ablated in [false, true] {
        let mut cfg = Config::default();
        cfg.ablations.no_split_users = ablated;
        let (mut net, ab, ad, c_sid, d_sid, [sam, max]) = users_of_c(cfg);
        let a = 0;
        let dan = format!("{d_sid}-1-1");
        net.inject(a, ad, &chat_frame("UID", &[&dan, "dan", "7", "7"]));
        assert_eq!(nick_of(&net, a, &dan).as_deref(), Some("dan"));
        route_to_c_reshaped(&mut net, ab);
        net.handle(a, Input::Closed { link: ad });
        let kept = nick_of(&net, a, &dan).is_some();
        assert_eq!(kept, ablated, "D's user kept: {kept}, ablated: {ablated}");
        if !ablated {
            net.inject(a, ab, &chat_frame("UID", &[&sam, "sam", "5", "5"]));
            net.inject(a, ab, &chat_frame("USYNCEND", &[&c_sid, "1"]));
            assert_eq!(nick_of(&net, a, &sam).as_deref(), Some("sam"));
            assert_eq!(nick_of(&net, a, &max), None, "the sync about C ended");
        }
    }
}

/// A sequencer's queue of rooms holding numbers forgets a room that holds
/// none any more when it comes first, so the queue stays as small as what
/// is held (mutation survivor: kept every room ever held).
#[test]
fn a_room_whose_held_numbers_are_used_leaves_the_held_set() {
    let mut net = chain(Config::default(), &["A"], &[]);
    let p = net.add_puppet("alice");
    let l = client_joins(&mut net, p, "A", "alice");
    net.puppet_send(p, l, &encoded(&["GETSEQ", "#r"]));
    net.settle();
    assert_eq!(net.srv(0).chat.hold_queue.len(), 1, "a number held");
    let new = net.puppet_got(p, l).pop().expect("NEWSEQ");
    let (e, s, n) = (&new[2], &new[3], &new[4]);
    net.puppet_send(p, l, &encoded(&["CSEND", "#r", e, s, n, "hi/1", "hi"]));
    // Until the next wake-up (the hold's expiry, which it no longer
    // needs) the set may still name it.
    net.run_for(Config::default().seq_hold + secs(1));
    let held = &net.srv(0).chat.hold_queue;
    assert!(held.is_empty(), "{held:?}");
}

/// Discovery's datagrams handed to server `i` by hand (this harness does
/// not carry them), and what it queued in answer.
fn datagram(net: &mut Net, i: usize, parts: &[&str]) -> Vec<Vec<String>> {
    net.handle(
        i,
        Input::Datagram {
            bytes: &encoded(parts),
        },
    );
    let srv = net.hosts[i].srv.as_mut().expect("host up");
    std::iter::from_fn(|| srv.poll_datagram())
        .map(|d| words(&d.bytes))
        .collect()
}

/// A responder answers a HELLO from an admitted server with a WELCOME,
/// and nothing else: not its own, not one from a name the registry does
/// not know, and none once it has stopped (mutation survivors: the
/// unknown-name and stopped guards weakened).
#[test]
fn a_responder_answers_admitted_servers_hellos_until_it_stops() {
    let mut net = Net::new(Config::default());
    let a = net.add("A", &[]);
    net.add("B", &[]);
    net.hosts[a]
        .srv
        .as_mut()
        .unwrap()
        .set_discovery(super::DiscoveryConfig {
            addr: "10.0.0.1".into(),
            port: 6667,
            seeker: false,
            period: secs(1),
        });
    net.handle(a, Input::Start);
    let hello = |who| ["HELLO", who, "10.0.0.9", "6667"];
    for who in ["A", "Z"] {
        assert_eq!(
            datagram(&mut net, a, &hello(who)),
            Vec::<Vec<String>>::new()
        );
    }
    let got = datagram(&mut net, a, &hello("B"));
    assert_eq!(got, [["WELCOME", "A", "10.0.0.1", "6667", "0"]]);
    net.handle(a, Input::Operator(Command::Shutdown));
    net.run_for(secs(12));
    assert!(net.srv(a).is_stopped());
    assert_eq!(
        datagram(&mut net, a, &hello("B")),
        Vec::<Vec<String>>::new()
    );
}

/// A seeker does not dial a responder it is already connecting to, by
/// its own autoconnect or by the responder's incoming link, whose
/// handshake is under way; otherwise it dials it and counts the dial
/// (mutation survivors: the busy test's `||` and both `==`, the counter).
#[test]
fn a_seeker_dials_a_responder_only_when_no_link_with_it_is_under_way() {
    let welcome = ["WELCOME", "A", "10.0.0.1", "6667", "0"];
    // B's autoconnect to A is still dialling.
    let mut net = Net::new(Config::default());
    net.add("A", &[]);
    let b = net.add("B", &["A"]);
    net.make_seeker(b, secs(1));
    net.handle(b, Input::Start);
    datagram(&mut net, b, &welcome);
    net.now = net.now + secs(2);
    net.handle(b, Input::Timeout);
    assert_eq!(net.srv(b).discovery_stats().dials, 0, "own dial under way");
    assert!(net.srv(b).discovery_stats().hello_sent > 0);

    // A's link in to B (here a puppet speaking for A) is handshaking.
    let mut net = Net::new(Config::default());
    let a = net.add("A", &[]);
    let b = net.add("B", &[]);
    let p = net.add_puppet("p");
    net.make_seeker(b, secs(1));
    net.handle(b, Input::Start);
    let l = net.puppet_dial(p, "B");
    let a_sid = net.srv(a).sid().to_string();
    net.puppet_send(p, l, &encoded(&["LINK", "A", &a_sid, "1", "5"]));
    net.settle();
    assert_eq!(net.puppet_got(p, l)[0][0], "CHALLENGE", "{:?}", net.notes);
    datagram(&mut net, b, &welcome);
    net.now = net.now + secs(2);
    net.handle(b, Input::Timeout);
    assert_eq!(net.srv(b).discovery_stats().dials, 0, "A's link under way");

    // Nothing under way: dialled, once.
    let mut net = Net::new(Config::default());
    net.add("A", &[]);
    let b = net.add("B", &[]);
    net.make_seeker(b, secs(1));
    net.handle(b, Input::Start);
    datagram(&mut net, b, &welcome);
    net.now = net.now + secs(2);
    net.handle(b, Input::Timeout);
    assert_eq!(net.srv(b).discovery_stats().dials, 1);
}

/// Links a server opens at the same instant get distinct stamps, later
/// than any it has seen: each is the last one plus one when the clock is
/// not ahead (mutation survivor: `+ 1` as `* 1` stamped both alike).
#[test]
fn links_dialled_at_one_instant_get_increasing_stamps() {
    let mut net = Net::new(Config::default());
    net.add("A", &[]);
    net.add("B", &[]);
    let c = net.add("C", &[]);
    net.connect(c, "A");
    net.connect(c, "B");
    net.settle();
    let stamps: Vec<u64> = net
        .sent
        .iter()
        .filter(|s| s.1 == c && words(&s.3)[0] == "LINK")
        .map(|s| words(&s.3)[4].parse().unwrap())
        .collect();
    // The first is the clock (in ms) when the link opened; the second
    // opened in the same millisecond.
    assert_eq!(stamps.len(), 2, "{stamps:?}");
    assert_eq!(stamps[1], stamps[0] + 1, "{stamps:?}");
}

/// An operator's registration with a bad server name or a SID that is
/// not three characters is ignored, not learned or flooded (mutation
/// survivor: the two tests joined by `&&` let either through alone).
#[test]
fn a_registration_with_a_bad_name_or_sid_is_ignored() {
    let mut net = chain(Config::default(), &["A", "B"], &[("A", "B")]);
    let key = KeyPair::generate(&mut ChaCha8Rng::seed_from_u64(1)).public();
    for (name, sid) in [("X", "0XAB"), ("X!", "0XA"), ("Y", "0YA")] {
        net.handle(0, Input::Operator(Command::Register { name, sid, key }));
    }
    net.settle();
    for i in 0..2 {
        let reg = net.srv(i).registry();
        assert!(
            reg.get("X").is_none() && reg.get("X!").is_none(),
            "server {i}"
        );
        assert!(
            reg.get("Y").is_some(),
            "server {i}: the good one is learned"
        );
    }
}

/// An SREG is taken only with a valid server name, a three-character SID
/// and a key in hex; anything else is malformed (mutation survivor: the
/// first two tests joined by `&&` let a bad name with a good SID in).
#[test]
fn an_sreg_with_a_bad_name_sid_or_key_is_malformed() {
    let key = KeyPair::generate(&mut ChaCha8Rng::seed_from_u64(1)).public();
    let hex: String = key.0.iter().map(|b| format!("{b:02x}")).collect();
    for (name, sid, key) in [
        ("X!", "0XA", &*hex),
        ("X", "0XAB", &*hex),
        ("X", "0XA", "zz"),
    ] {
        let mut net = chain(Config::default(), &["A", "B"], &[("A", "B")]);
        let ab = net.link_to(0, "B");
        let before = net.srv(0).stats().malformed;
        net.inject(0, ab, &chat_frame("SREG", &[name, sid, key]));
        assert_eq!(
            net.srv(0).stats().malformed,
            before + 1,
            "{name} {sid} {key}"
        );
        assert!(net.srv(0).registry().get(name).is_none());
    }
    // And the well-formed one is learned.
    let mut net = chain(Config::default(), &["A", "B"], &[("A", "B")]);
    let ab = net.link_to(0, "B");
    net.inject(0, ab, &chat_frame("SREG", &["X", "0XA", &hex]));
    assert_eq!(net.srv(0).registry().get("X").map(|r| r.key), Some(key));
}

/// A newcomer whose sponsor ends the sync with an ERROR drops that link at
/// once (mutation survivor: with the arm gone it waited for the close).
#[test]
fn a_sync_ended_by_an_error_drops_the_link_at_once() {
    let mut net = chain(Config::default(), &["A", "B"], &[("A", "B")]);
    let n = add_newcomer(&mut net, "N", "0NN", "B");
    net.settle();
    net.handle(n, Input::Start);
    let fetching = |net: &Net| -> Vec<LinkId> {
        let links = &net.srv(n).links;
        links
            .iter()
            .filter(|(_, l)| matches!(l.phase, super::Phase::Fetching))
            .map(|(id, _)| *id)
            .collect()
    };
    // Event by event: the database follows VERIFIED in the same instant.
    let end = net.now + secs(60);
    while fetching(&net).is_empty() {
        assert!(net.step_before(end), "never fetched");
    }
    let l = fetching(&net)[0];
    net.inject(n, l, &encoded(&["ERROR", "going away"]));
    assert!(fetching(&net).is_empty(), "dropped at once");
}

/// After its sync a newcomer dials its sponsor again as a member; if that
/// fails it tries the member after the sponsor in its list (mutation
/// survivor: the list position taken as the first member that is not the
/// sponsor skipped one).
#[test]
fn a_newcomer_whose_sponsor_fails_after_the_sync_tries_the_next_member() {
    let mut net = chain(
        Config::default(),
        &["A", "B", "C"],
        &[("A", "B"), ("B", "C")],
    );
    let n = add_newcomer(&mut net, "N", "0NN", "B");
    net.settle();
    net.handle(n, Input::Start);
    let synced = |net: &Net| net.srv(n).is_joining() && !net.srv(n).is_syncing();
    let end = net.now + secs(60);
    while !synced(&net) {
        assert!(net.step_before(end), "never synced");
    }
    let list: Vec<String> = net
        .srv(n)
        .joining
        .as_ref()
        .unwrap()
        .candidates
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(list.len(), 3, "{list:?}");
    assert_eq!(list[0], "B");
    net.crash(1);
    net.run_for(ms(500));
    let targets: Vec<String> = net.srv(n).auto.iter().map(|t| t.name.to_string()).collect();
    assert_eq!(targets, [list[1].clone()], "{list:?}");
}

/// C autoconnects to both ends of the link A-B; the loop that makes is
/// broken, and the target C lost that way is reachable through the other.
/// A later split elsewhere (D, C's leaf, goes) schedules no attempt for a
/// target C still reaches through the tree (mutation survivor: the known
/// test joined by `&&` with the link test scheduled both, a wake-up that
/// finds them known and dials nothing).
#[test]
fn a_split_schedules_no_attempt_for_an_autoconnect_target_still_reached() {
    let mut net = Net::new(Config::default());
    let a = net.add("A", &[]);
    net.add("B", &[]);
    let c = net.add("C", &["A", "B"]);
    let d = net.add("D", &[]);
    net.connect(a, "B");
    net.settle();
    net.handle(c, Input::Start);
    net.connect(d, "C");
    net.settle();
    net.run_for(secs(10));
    assert_eq!(
        net.check_tree(),
        [edge("A", "B"), edge("A", "C"), edge("C", "D")].into()
    );
    let cd = net.link_to(c, "D");
    net.handle(c, Input::Closed { link: cd });
    assert!(net.srv(c).known_server("D").is_none(), "split");
    let scheduled: Vec<String> = net
        .srv(c)
        .auto
        .iter()
        .filter(|t| t.next_attempt.is_some())
        .map(|t| t.name.to_string())
        .collect();
    assert!(scheduled.is_empty(), "{scheduled:?}");
}

/// Each PING a server sends carries a token of its own, so a PONG names
/// the PING it answers (mutation survivor: the counter as `*=` sent every
/// PING with the same token).
#[test]
fn each_ping_carries_a_fresh_token() {
    let mut net = chain(
        Config::default(),
        &["A", "B", "C"],
        &[("A", "B"), ("A", "C")],
    );
    let d = Config::default().ping_interval;
    net.run_for(d + d + d + d);
    let mut most = 0;
    for i in 0..3 {
        let tokens: Vec<String> = net
            .sent
            .iter()
            .filter(|s| s.1 == i && words(&s.3)[0] == "PING")
            .map(|s| words(&s.3)[1].clone())
            .collect();
        let distinct: BTreeSet<&String> = tokens.iter().collect();
        assert_eq!(distinct.len(), tokens.len(), "server {i}: {tokens:?}");
        most = most.max(tokens.len());
    }
    assert!(most >= 2, "some server pinged twice");
}

/// Under the `no_handshake_timeout` ablation a handshake under way is
/// never timed out, so it wakes nobody; but a dial that never connects
/// still is, and the server wakes for it (mutation survivors: the
/// dialling arm gone, such a dial was never woken for; the ablation's
/// guard ignored, a handshake woke the server for nothing).
#[test]
fn without_handshake_timeouts_only_dials_wake_the_server() {
    let mut cfg = Config::default();
    cfg.ablations.no_handshake_timeout = true;
    // An incoming handshake that stalls after LINK: no deadline.
    let mut net = Net::new(cfg.clone());
    let a = net.add("A", &[]);
    let b = net.add("B", &[]);
    let p = net.add_puppet("p");
    let l = net.puppet_dial(p, "A");
    let b_sid = net.srv(b).sid().to_string();
    net.puppet_send(p, l, &encoded(&["LINK", "B", &b_sid, "1", "5"]));
    net.settle();
    assert_eq!(net.puppet_got(p, l)[0][0], "CHALLENGE");
    // (A wakes once, at the timer the connection had while it might
    // still have been a client's; then nothing is due.) Bounded: under
    // the mutant the handshake's deadline stays due and wakes A for ever.
    let end = net.now + secs(11);
    let mut steps = 0;
    while net.step_before(end) {
        steps += 1;
        assert!(steps < 1_000, "woken again and again at {:?}", net.now);
    }
    assert_eq!(net.srv(a).poll_timeout(), None);
    // A dial whose connection never comes (the harness forgets it): woken
    // for at its timeout, and given up.
    let mut net = Net::new(cfg);
    let a = net.add("A", &[]);
    net.add("B", &[]);
    net.connect(a, "B");
    net.dialing.clear();
    let timeout = Config::default().handshake_timeout;
    let due = net.now + timeout;
    assert_eq!(net.srv(a).poll_timeout(), Some(due));
    // A wake-up in between computes the deadline afresh and keeps it.
    net.now = net.now + secs(1);
    net.handle(a, Input::Timeout);
    assert_eq!(net.srv(a).poll_timeout(), Some(due));
    net.run_for(timeout);
    assert_eq!(net.srv(a).links().count(), 0, "the dial was given up");
}

/// A user renamed to its UID (a SAVE) gives its nick up in the nick
/// index, and is found by its UID as a nick instead (mutation survivor:
/// the old nick's entry kept, so "sam" still named the renamed user).
#[test]
fn a_saved_user_gives_its_nick_up() {
    let cfg = Config {
        nick_collision: crate::config::NickCollision::TsRename,
        ..Config::default()
    };
    let (mut net, ab, _, c_sid, _, [sam, _]) = users_of_c(cfg);
    assert_eq!(net.srv(0).uid_of_nick("sam"), Some(&*sam));
    net.inject(0, ab, &chat_frame("SAVE", &[&c_sid, &sam, "5"]));
    assert_eq!(nick_of(&net, 0, &sam), Some(sam.clone()));
    assert_eq!(net.srv(0).uid_of_nick("sam"), None);
    assert_eq!(net.srv(0).uid_of_nick(&sam), Some(&*sam));
}

/// Three links made at the same instant close a triangle: a server that
/// hears of another by two routes breaks the cycle, and every loop a
/// server closes a link for is counted (mutation survivor: the count of
/// cycles seen never read). The own-introduction case has its own test
/// below: this harness never routes one back here.
#[test]
fn a_triangle_made_at_once_is_broken_and_counted() {
    for (latency, reverse) in [(ms(10), false), (ms(10), true), (ms(37), false)] {
        let mut net = Net::new(Config::default());
        net.latency = latency;
        net.reverse = reverse;
        let [a, b, c] = ["A", "B", "C"].map(|n| net.add(n, &[]));
        net.connect(a, "B");
        net.connect(b, "C");
        net.connect(c, "A");
        net.settle();
        assert_eq!(net.check_tree().len(), 2);
        for i in [a, b, c] {
            let closed = net
                .link_downs(i)
                .iter()
                .filter(|d| d.1 == CloseReason::LoopBroken)
                .count() as u64;
            assert!(net.srv(i).stats().loops_broken >= closed, "server {i}");
        }
        let total: u64 = (0..3).map(|i| net.srv(i).stats().loops_broken).sum();
        assert!(total >= 1);
    }
}
/// A server's own introduction coming back to it closes a cycle through
/// the link it came on: if that link is the cycle's largest, the server
/// closes it and counts a loop broken; if not, it leaves it to the
/// cycle's other end (mutation survivor: the count never read).
#[test]
fn its_own_introduction_back_closes_the_link_it_came_on_if_that_loses() {
    for (older, closes) in [(true, true), (false, false)] {
        let mut net = chain(Config::default(), &["A", "B"], &[("A", "B")]);
        let ab = net.link_to(0, "B");
        let mine = net.srv(0).links[&ab].tag.clone().expect("registered");
        let stamp = if older { 0 } else { mine.stamp + 1 };
        assert!(mine.stamp > 0);
        let path = format!("{stamp}:B:C:B");
        let a_sid = net.srv(0).sid().to_string();
        net.inject(
            0,
            ab,
            &encoded(&["SERVER", "A", "1", &a_sid, "1", "B", &path]),
        );
        let downs = net.link_downs(0);
        if closes {
            assert_eq!(downs, [(ab, CloseReason::LoopBroken)]);
            assert_eq!(net.srv(0).stats().loops_broken, 1);
        } else {
            assert!(downs.is_empty(), "{downs:?}");
            assert_eq!(net.srv(0).stats().loops_broken, 0);
        }
    }
}

/// A SERVER whose uplink is neither the sender nor a server behind the
/// sender's link is misdirected: counted, and the route not taken
/// (mutation survivor: the count never read).
#[test]
fn a_server_hanging_off_the_wrong_side_is_misdirected() {
    let (mut net, ab, _, _, _, _) = users_of_c(Config::default());
    let before = net.srv(0).stats().misdirected;
    net.inject(
        0,
        ab,
        &encoded(&["SERVER", "X", "2", "0XX", "1", "D", "1:D:X:D"]),
    );
    assert_eq!(net.srv(0).stats().misdirected, before + 1);
    assert!(net.srv(0).known_server("X").is_none());
}

/// A restarted server that comes back through another neighbour: the
/// others learn its new incarnation from a SERVER and let the ghost's
/// link go as superseded (mutation survivor: the newer incarnation taken
/// for the same one, a loop to break).
#[test]
fn a_server_restarted_behind_another_neighbour_supersedes_its_ghost() {
    let mut net = chain(
        Config::default(),
        &["A", "B", "C"],
        &[("A", "B"), ("B", "C")],
    );
    let (b, c) = (1, 2);
    let old = net.link_to(b, "C");
    net.crash(c);
    net.run_for(secs(1));
    net.restart(c);
    net.connect(c, "A");
    net.settle();
    net.run_for(secs(2));
    assert_eq!(net.srv(c).incarnation(), 2);
    assert_eq!(net.link_downs(b), [(old, CloseReason::Superseded)]);
    assert_eq!(net.check_tree(), [edge("A", "B"), edge("A", "C")].into());
    assert_eq!(net.srv(b).stats().loops_broken, 0);
}

/// A restarted server that registers a link to a server holding its
/// ghost by another route, and is gone again before its burst arrives:
/// the ghost goes at registration, and the servers that had it from
/// there are told by a SQUIT (ghost-after-a-relink-cut-short.toml,
/// swarm-greeter at 1 s hops, seed 41946: d2 restarted, dialled hub and
/// shut down before hub had its burst; g kept d2#1 by way of hub for
/// good). A-B-C, D-A: C restarts and dials A, which drops C#1 (routed
/// through B) and SQUITs it to D; C crashes before A hears its burst.
/// B's own SQUIT, when it times C#1 out, finds C gone at A and goes no
/// further. Not with `ghost-squit` ablated: D keeps C#1 for good.
#[test]
fn a_ghost_dropped_at_a_relink_is_squit_even_if_the_burst_never_comes() {
    for ablate in [false, true] {
        let mut cfg = Config::default();
        cfg.ablations.no_ghost_squit = ablate;
        let links = [("A", "B"), ("B", "C"), ("D", "A")];
        let mut net = chain(cfg, &["A", "B", "C", "D"], &links);
        let (a, b, c, d) = (0, 1, 2, 3);
        let (ab, ad) = (net.link_to(a, "B"), net.link_to(a, "D"));
        assert_eq!(net.srv(d).known_server("C").map(|k| k.incarnation), Some(1));
        net.crash(c);
        net.run_for(secs(1));
        net.restart(c);
        net.connect(c, "A");
        net.run_until_true(ms(1), |n| {
            n.notes.iter().any(|(_, h, note)| {
                *h == a && matches!(note, Note::LinkRegistered { peer, .. } if &**peer == "C")
            })
        });
        // C never sends its burst: it is gone at once.
        net.crash(c);
        assert!(net.srv(a).known_server("C").is_none(), "the ghost went");
        let ghost_squits = |net: &Net, l: LinkId| {
            net.sent_cmd(a, l, "SQUIT")
                .iter()
                .filter(|w| w[1] == "C" && w[2] == "1")
                .count()
        };
        assert_eq!(ghost_squits(&net, ad), usize::from(!ablate));
        assert_eq!(ghost_squits(&net, ab), 0, "not to the ghost's own link");
        // B times C#1 out well within the minute.
        net.run_for(secs(60));
        assert!(net.srv(b).known_server("C").is_none());
        assert_eq!(
            net.srv(d).known_server("C").map(|k| k.incarnation),
            ablate.then_some(1)
        );
    }
}

/// A learns C again from D, by a route through a link older than every
/// real one (B-C, on the old route only, is the cycle's largest tag), so
/// the loop rule moves C onto D's link. Servers A, B, C, D; `ad` is A's
/// link to D.
fn move_c_behind_d(net: &mut Net, ad: LinkId) {
    let c_sid = net.srv(2).sid().to_string();
    net.inject(
        0,
        ad,
        &encoded(&["SERVER", "C", "1", &c_sid, "1", "D", "0:C:D:C"]),
    );
    assert_eq!(net.srv(0).known_server("C").map(|k| k.via), Some(ad));
}

/// A server that switches its route to another server to a new link
/// (the old route crossed the cycle's losing link, further off) asks the
/// new neighbour for that server's users (mutation survivor: the USYNC
/// sent only when the direction stayed the same).
#[test]
fn a_route_moved_to_another_link_asks_that_neighbour_for_its_users() {
    let links = [("D", "A"), ("A", "B"), ("B", "C")];
    let mut net = chain(Config::default(), &["A", "B", "C", "D"], &links);
    let (ab, ad) = (net.link_to(0, "B"), net.link_to(0, "D"));
    let c_sid = net.srv(2).sid().to_string();
    assert_eq!(net.srv(0).known_server("C").map(|k| k.via), Some(ab));
    // C behind D through a link older than every real one: B-C, on the
    // old route only, is the cycle's largest tag.
    move_c_behind_d(&mut net, ad);
    assert!(net
        .sent_on(0, ad)
        .iter()
        .any(|w| *w == ["USYNC", c_sid.as_str()]));
}

/// A route moved onto a neighbour's link, then lost by that neighbour's
/// SQUIT, is withdrawn there: A told D that C was behind it (by way of
/// B), moved its route to D's, and when D takes C away A sends D a SQUIT
/// for C, so that D drops the route through A it may have taken from
/// A's crossing introduction (crossed-introduction-ghost.toml). Nothing
/// is sent at the move itself, and nothing with `route-withdraw` ablated.
#[test]
fn a_route_moved_onto_a_link_and_lost_by_its_squit_is_withdrawn_there() {
    for ablate in [false, true] {
        let mut cfg = Config::default();
        cfg.ablations.no_route_withdraw = ablate;
        let links = [("D", "A"), ("A", "B"), ("B", "C")];
        let mut net = chain(cfg, &["A", "B", "C", "D"], &links);
        let ad = net.link_to(0, "D");
        let squits = |net: &Net| {
            net.sent_on(0, ad)
                .iter()
                .filter(|w| **w == ["SQUIT", "C", "1", "loop broken"])
                .count()
        };
        move_c_behind_d(&mut net, ad);
        assert_eq!(squits(&net), 0, "nothing at the move itself");
        net.inject(0, ad, &encoded(&["SQUIT", "C", "1", "ping timeout"]));
        assert!(net.srv(0).known_server("C").is_none());
        assert_eq!(squits(&net), usize::from(!ablate));
    }
}

/// A server that hung under a route moved away stays behind on the old
/// route (its uplink moved, the new route did not introduce it); when the
/// old neighbour's SQUIT for the moved server comes, misdirected, it goes
/// too, and A tells its other links. A-B-C-E, D-A: A moves C onto D's
/// link (B-C is the cycle's largest tag), E stays routed through B; B's
/// SQUIT for C then removes E, and A sends D a SQUIT for E
/// (tree-view-after-partitions-at-1s.toml). Not with `squit-strays`
/// ablated: E stays routed through B, which no longer has it.
#[test]
fn a_misdirected_squit_removes_what_stayed_behind_on_the_old_route() {
    for ablate in [false, true] {
        let mut cfg = Config::default();
        cfg.ablations.no_squit_strays = ablate;
        let links = [("D", "A"), ("A", "B"), ("B", "C"), ("C", "E")];
        let mut net = chain(cfg, &["A", "B", "C", "D", "E"], &links);
        let (ab, ad) = (net.link_to(0, "B"), net.link_to(0, "D"));
        assert_eq!(net.srv(0).known_server("E").map(|k| k.via), Some(ab));
        move_c_behind_d(&mut net, ad);
        // E hangs under C, but is still routed through B.
        assert_eq!(net.srv(0).known_server("E").map(|k| k.via), Some(ab));
        net.inject(0, ab, &encoded(&["SQUIT", "C", "1", "loop broken"]));
        assert_eq!(net.srv(0).known_server("C").map(|k| k.via), Some(ad));
        let e_squits = net
            .sent_on(0, ad)
            .iter()
            .filter(|w| **w == ["SQUIT", "E", "1", "loop broken"])
            .count();
        if ablate {
            assert_eq!(net.srv(0).known_server("E").map(|k| k.via), Some(ab));
            assert_eq!(e_squits, 0);
        } else {
            assert!(net.srv(0).known_server("E").is_none());
            assert_eq!(e_squits, 1);
        }
    }
}

/// A seeker takes a WELCOME only with a port and from another server: one
/// naming itself (its own answer echoed back) or with a bad port is
/// dropped, and nothing is dialled (mutation survivor: the two tests
/// joined by `&&` let its own name in, and it dialled itself).
#[test]
fn a_seeker_ignores_a_welcome_from_itself_or_with_a_bad_port() {
    let mut net = Net::new(Config::default());
    net.add("A", &[]);
    let b = net.add("B", &[]);
    net.make_seeker(b, secs(1));
    net.handle(b, Input::Start);
    datagram(&mut net, b, &["WELCOME", "B", "10.0.0.2", "6667", "0"]);
    datagram(&mut net, b, &["WELCOME", "A", "10.0.0.1", "port", "0"]);
    net.now = net.now + secs(2);
    net.handle(b, Input::Timeout);
    assert_eq!(net.srv(b).discovery_stats().dials, 0);
    assert_eq!(net.srv(b).links().count(), 0);
}

/// A newcomer answers no HELLO while it syncs: it refuses connections
/// until it has the database (mutation survivor: `joining || draining`
/// as `&&` answered while joining).
#[test]
fn a_syncing_newcomer_answers_no_hello() {
    let mut net = chain(Config::default(), &["A", "B"], &[("A", "B")]);
    let n = add_newcomer(&mut net, "N", "0NN", "B");
    net.hosts[n]
        .srv
        .as_mut()
        .unwrap()
        .set_discovery(super::DiscoveryConfig {
            addr: "10.0.0.9".into(),
            port: 6667,
            seeker: false,
            period: secs(1),
        });
    net.slow.insert(n, ms(300));
    net.settle();
    net.handle(n, Input::Start);
    net.run_for(ms(100));
    assert!(net.srv(n).is_syncing());
    let hello = ["HELLO", "A", "10.0.0.1", "6667"];
    assert_eq!(datagram(&mut net, n, &hello), Vec::<Vec<String>>::new());
}

/// A chain A-B-C-D: B introduces D to A with the last link alone after
/// `^` (A holds B's path to C already), and A records the whole path, the
/// one its loop checks compare; A's own forwards to a fourth neighbour are
/// shared too. Without the shared form each SERVER carried its whole path:
/// servers x servers x depth bytes over a network's set-up.
#[test]
fn a_path_shared_with_the_uplink_travels_as_its_last_link() {
    let net = chain(
        Config::default(),
        &["A", "B", "C", "D"],
        &[("A", "B"), ("B", "C"), ("C", "D")],
    );
    let (a, b, c) = (net.find("A"), net.find("B"), net.find("C"));
    let tag = |net: &Net, i: usize, peer: &str| {
        net.srv(i).links[&net.link_to(i, peer)]
            .tag
            .clone()
            .expect("registered")
    };
    let (ab, bc, cd) = (tag(&net, a, "B"), tag(&net, b, "C"), tag(&net, c, "D"));
    let intro = net
        .sent_on(b, net.link_to(b, "A"))
        .into_iter()
        .rfind(|w| w[0] == "SERVER" && w[1] == "D")
        .expect("B introduced D to A");
    // B holds no users, so it says so first (`-`).
    assert_eq!(intro[6..], ["-", "^", &cd.to_string()], "{intro:?}");
    // C, B's neighbour, hangs off B itself: one link, nothing to share.
    let c_intro = net
        .sent_on(b, net.link_to(b, "A"))
        .into_iter()
        .rfind(|w| w[0] == "SERVER" && w[1] == "C")
        .expect("B introduced C to A");
    assert_eq!(c_intro[6..], ["-", &bc.to_string()], "{c_intro:?}");
    let mut path = Vec::new();
    net.srv(a)
        .known
        .get("D")
        .unwrap()
        .path()
        .near_first(&mut path);
    assert_eq!(path, [&ab, &bc, &cd]);
}

/// The shared form carries exactly one tag: none, or more than one, is a
/// malformed SERVER, and the link is closed as a protocol error.
#[test]
fn a_shared_path_with_other_than_one_tag_is_refused() {
    for tail in [&["^"][..], &["^", "1:C:D:C", "2:D:E:D"][..]] {
        let mut net = chain(
            Config::default(),
            &["A", "B", "C"],
            &[("A", "B"), ("B", "C")],
        );
        let ab = net.link_to(0, "B");
        let mut args = vec!["SERVER", "D", "2", "0DD", "1", "C"];
        args.extend_from_slice(tail);
        net.inject(0, ab, &encoded(&args));
        assert_eq!(
            net.link_downs(0),
            [(ab, CloseReason::ProtocolError)],
            "{tail:?}"
        );
        assert!(net.srv(0).known_server("D").is_none());
    }
}

/// A shared path whose uplink is the sender itself is the sender's link
/// and the one tag; one whose uplink we do not route through the sender
/// is misdirected, as a whole path would be.
#[test]
fn a_shared_path_hangs_off_the_sender_or_is_misdirected() {
    let mut net = chain(Config::default(), &["A", "B"], &[("A", "B")]);
    let ab = net.link_to(0, "B");
    let tag = net.srv(0).links[&ab].tag.clone().expect("registered");
    let stamp = tag.stamp + 1;
    let bx = format!("{stamp}:B:X:B");
    net.inject(
        0,
        ab,
        &encoded(&["SERVER", "X", "1", "0XX", "1", "B", "^", &bx]),
    );
    let mut path = Vec::new();
    net.srv(0)
        .known
        .get("X")
        .unwrap()
        .path()
        .near_first(&mut path);
    assert_eq!(path, [&tag, &crate::LinkTag::parse(&bx).unwrap()]);
    let before = net.srv(0).stats().misdirected;
    let zy = format!("{stamp}:Y:Z:Y");
    net.inject(
        0,
        ab,
        &encoded(&["SERVER", "Z", "2", "0ZZ", "1", "Y", "^", &zy]),
    );
    assert_eq!(net.srv(0).stats().misdirected, before + 1);
    assert!(net.srv(0).known_server("Z").is_none());
}

/// A path is sent shared only while it still extends the uplink's: in
/// A-B-C-D-E, B learns a new C-D link tag (D re-announced alone), so its
/// entry for E keeps the path it was made with, which no longer extends
/// D's. Asked for its burst again, B sends E with that whole path: the
/// shared form would make A rebuild it from D's new path.
#[test]
fn a_path_left_behind_by_its_uplinks_route_is_sent_whole() {
    let mut net = chain(
        Config::default(),
        &["A", "B", "C", "D", "E"],
        &[("A", "B"), ("B", "C"), ("C", "D"), ("D", "E")],
    );
    let b = net.find("B");
    let (ba, bc) = (net.link_to(b, "A"), net.link_to(b, "C"));
    let old = net
        .sent_on(net.find("C"), net.link_to(net.find("C"), "B"))
        .into_iter()
        .rfind(|w| w[0] == "SERVER" && w[1] == "D")
        .expect("C introduced D to B");
    // SERVER,name,hops,sid,incarnation,uplink,-,tag: D hangs off C itself
    // (and C holds no users).
    let mut w = old.clone();
    assert_eq!(w[6], "-", "{w:?}");
    let (stamp, rest) = w[7].split_once(':').expect("a tag");
    w[7] = format!("{}:{rest}", stamp.parse::<u64>().unwrap() + 1000);
    let args: Vec<&str> = w[1..].iter().map(String::as_str).collect();
    net.inject(b, bc, &chat_frame("SERVER", &args));
    net.settle();
    let before = net.sent_on(b, ba).len();
    net.inject(b, ba, &encoded(&["RESYNC", "E"]));
    net.settle();
    let sent = net.sent_on(b, ba)[before..].to_vec();
    let e = sent
        .iter()
        .find(|w| w[0] == "SERVER" && w[1] == "E")
        .unwrap_or_else(|| panic!("no burst: {sent:?}"));
    assert_eq!(e.len(), 7 + 3, "-, then B-C, C-D as first made, D-E: {e:?}");
    assert!(!e.contains(&"^".to_string()), "{e:?}");
    // D itself, re-announced, now shares nothing either (C is B's own
    // neighbour), and E's entry at A is the path B holds.
    let a = net.find("A");
    let mut at_a = Vec::new();
    net.srv(a)
        .known
        .get("E")
        .unwrap()
        .path()
        .near_first(&mut at_a);
    let mut at_b = Vec::new();
    net.srv(b)
        .known
        .get("E")
        .unwrap()
        .path()
        .near_first(&mut at_b);
    assert_eq!(at_a.len(), at_b.len() + 1);
    assert_eq!(at_a[1..], at_b[..]);
}

/// Servers A (0), H (1), N (2) and M (3, linked to nobody yet) under
/// `home`; alice makes #r on A, bob on N joins it and says "one" in A's
/// stream (1, 000-1); then H and A crash and restart, and A's new process
/// links to H's, which knows no room. Returns the net and bob's puppet.
fn home_restarted_behind_a_fresh_hub(cfg: Config) -> (Net, usize) {
    let mut net = Net::new(cfg);
    let (a, h) = (net.add("A", &[]), net.add("H", &[]));
    let (n, m) = (net.add("N", &[]), net.add("M", &[]));
    let (pa, pn) = (net.add_puppet("alice"), net.add_puppet("bob"));
    for i in [a, h, n, m] {
        net.handle(i, Input::Start);
    }
    net.connect(a, "H");
    net.connect(n, "H");
    net.settle();
    client_joins(&mut net, pa, "A", "alice");
    let ln = client_joins(&mut net, pn, "N", "bob");
    let first = client_says(&mut net, pn, ln, "one");
    assert_eq!(first, ("1".into(), "000-1".into(), "1".into()));
    net.crash(h);
    net.crash(a);
    net.restart(h);
    net.restart(a);
    net.connect(a, "H");
    net.settle();
    (net, pn)
}

/// Under `home`, a room waits for its home after a crash; but a home that
/// restarted and shut down before it heard of the room (it reached only a
/// server that knew nothing yet) is gone for good, with nothing handed
/// over. The server that saw it go elects a sequencer when the room
/// reaches it, and the room goes on in epoch 2. With the `gone-sequencer`
/// ablation the room waits for ever and bob cannot talk (found by
/// swarm-discovery seed 3390).
#[test]
fn a_home_that_restarted_and_shut_down_unaware_of_its_room_is_replaced() {
    for ablate in [false, true] {
        let mut cfg = ordering_cfg(crate::config::Ordering::Home);
        cfg.ablations.no_gone_sequencer = ablate;
        let (mut net, pn) = home_restarted_behind_a_fresh_hub(cfg);
        let (a, h, n) = (0, 1, 2);
        net.handle(a, Input::Operator(Command::Shutdown));
        net.run_for(secs(12));
        assert!(net.srv(a).is_stopped());
        // N notices H's crash only by its ping timeout; then it dials H.
        net.run_for(secs(20));
        assert_eq!(net.srv(n).known_servers().count(), 0);
        net.connect(n, "H");
        net.settle();
        net.run_for(secs(5));
        let stream = room_r_stream;
        // (Puppets answer no PING: bob's session timed out meanwhile.)
        let ln = client_joins(&mut net, pn, "N", "bob");
        if ablate {
            assert_eq!(stream(&net, n), (1, "000-1".into()));
            net.puppet_send(pn, ln, &encoded(&["GETSEQ", "#r"]));
            net.settle();
            let last = net.puppet_got(pn, ln).pop().expect("an answer");
            assert_eq!(last[0], "NOSEQ", "{last:?}");
        } else {
            // H hears the room before its members (ROOM comes first in
            // N's burst), so it elects the lowest SID it knows: itself,
            // in its second incarnation.
            let won = (2, format!("{}-2", net.srv(h).sid()));
            assert_eq!(stream(&net, n), won);
            assert_eq!(stream(&net, h), won);
            let (e, s, no) = client_says(&mut net, pn, ln, "two");
            assert_eq!((e, s, no), ("2".into(), won.1.clone(), "1".into()));
        }
    }
}

/// The epoch and sequencer name of #r's stream at server `i`.
fn room_r_stream(net: &Net, i: usize) -> (u64, String) {
    let r = net.srv(i).rooms().find(|r| r.name == "#r").unwrap();
    (r.stream.epoch, r.stream.seq.to_string())
}

/// The same rescue by a server that heard of the home's shutdown only
/// from a SQUIT: M hangs off H, which saw A close; H then crashes, and it
/// is M that meets the room in N's burst (a mutation survivor: the SQUIT
/// side was not remembered, and H alone elected in the scenarios).
#[test]
fn a_server_that_heard_a_squit_for_the_shutdown_rescues_the_room() {
    let cfg = ordering_cfg(crate::config::Ordering::Home);
    let (mut net, pn) = home_restarted_behind_a_fresh_hub(cfg);
    let (a, h, n, m) = (0, 1, 2, 3);
    net.connect(m, "H");
    net.settle();
    net.handle(a, Input::Operator(Command::Shutdown));
    net.run_for(secs(12));
    assert!(net.srv(a).is_stopped());
    let a_sid = crate::server::sid_code(net.srv(a).sid()).unwrap();
    assert_eq!(net.srv(m).chat.gone.get(&a_sid), Some(&2));
    net.crash(h);
    net.run_for(secs(20));
    net.connect(n, "M");
    net.settle();
    net.run_for(secs(5));
    // M elects N (the lowest SID it knows) for epoch 2; N, hearing a
    // stream that names it but that it does not run, takes it for an
    // earlier incarnation's and starts epoch 3 (one epoch more than
    // needed: the ROOM rule for a stream named for this server does not
    // look at the incarnation; harmless, and left as is).
    let stream = room_r_stream;
    assert_eq!(stream(&net, n), stream(&net, m));
    assert!(stream(&net, n).0 >= 2, "{:?}", stream(&net, n));
    let ln = client_joins(&mut net, pn, "N", "bob");
    let said = client_says(&mut net, pn, ln, "two");
    assert_eq!(
        (said.0, said.1),
        (stream(&net, n).0.to_string(), stream(&net, n).1)
    );
}

/// A server seen to shut down is remembered only until a later
/// incarnation of it shows up: from then on its streams are its own
/// business again (a restarted home takes them up when it hears them).
#[test]
fn a_later_incarnation_of_a_server_that_shut_down_is_forgotten_as_gone() {
    let mut net = Net::new(ordering_cfg(crate::config::Ordering::Home));
    let a = net.add("A", &[]);
    let h = net.add("H", &[]);
    for i in [a, h] {
        net.handle(i, Input::Start);
    }
    net.connect(a, "H");
    net.settle();
    net.handle(a, Input::Operator(Command::Shutdown));
    net.run_for(secs(12));
    let a_sid = crate::server::sid_code(net.srv(a).sid()).unwrap();
    assert_eq!(net.srv(h).chat.gone.get(&a_sid), Some(&1));
    net.crash(a);
    net.restart(a);
    net.connect(a, "H");
    net.settle();
    assert_eq!(net.srv(h).chat.gone.get(&a_sid), None);
}

/// A request named for a server that knows the stream was handed over
/// goes on named for the holder, even back the way it came; with the
/// `request-names-holder` ablation it is served as any named request,
/// and refused, since the holder lies the way the member is (found by
/// swarm-chat seed 4386: the neighbour that named it had not heard the
/// handover, and the request went to and fro until refused).
#[test]
fn a_request_named_for_an_old_sequencer_goes_on_named_for_the_holder() {
    for ablate in [false, true] {
        let (mut net, p2, l2) = sequencer_shuts_down(&[]);
        let c = net.srv(2).sid().to_string();
        let a = net.srv(0).sid().to_string();
        assert_eq!(net.srv(0).room_sequencer("#r"), Some(c.as_str()));
        let uid = welcomed_uid(&net, p2, l2);
        let srv = net.hosts[0].srv.as_mut().unwrap();
        let mut cfg = (*srv.cfg).clone();
        cfg.ablations.no_request_names_holder = ablate;
        srv.cfg = std::sync::Arc::new(cfg);
        let before = net.sent.len();
        let from_c = net.link_to(0, "C");
        net.inject(0, from_c, format!("<RSEQREQ,#r,{uid},{a}>").as_bytes());
        let out: Vec<Vec<String>> = net.sent[before..]
            .iter()
            .filter(|s| s.1 == 0)
            .map(|s| words(&s.3))
            .filter(|w| w[0] == "RSEQREQ" || w[0] == "RSEQ")
            .collect();
        let want: Vec<String> = if ablate {
            vec!["RSEQ".into(), "#r".into(), uid.clone(), "0".into()]
        } else {
            vec!["RSEQREQ".into(), "#r".into(), uid.clone(), c.clone()]
        };
        assert_eq!(
            out.first().map(|w| &w[..want.len()]),
            Some(&want[..]),
            "ablated: {ablate}: {out:?}"
        );
    }
}

/// The first RSEQEND sent: the end of a handover's offer, as words.
fn offered_end(net: &Net) -> Vec<String> {
    net.sent
        .iter()
        .map(|s| words(&s.3))
        .find(|w| w[0] == "RSEQEND")
        .expect("offered")
}

/// A successor taking a stream starts afresh a member whose start point
/// in the state was given to an earlier membership (it left and joined
/// again while the stream was in flight), as it does a member the state
/// does not name; with the `start-membership` ablation it keeps the old
/// start point and tells the member nothing (swarm-chat with leaves,
/// seed 258).
#[test]
fn a_successor_starts_afresh_a_member_whose_start_is_of_an_earlier_membership() {
    for ablate in [false, true] {
        let mut cfg = Config::default();
        cfg.ablations.no_start_membership = ablate;
        let mut net = chain(cfg, &["A", "B", "C"], &[("A", "B"), ("A", "C")]);
        let p1 = net.add_puppet("p1");
        let l1 = client_joins(&mut net, p1, "B", "p1");
        let p2 = net.add_puppet("p2");
        let l2 = client_joins(&mut net, p2, "C", "p2");
        client_says(&mut net, p1, l1, "one");
        // B's own start points and the end of its offer are lost: C gets
        // the start point given here instead, then the end.
        net.lose
            .extend(["RSEQSTART", "RSEQSTART", "RSEQEND"].map(String::from));
        net.handle(1, Input::Operator(Command::Shutdown));
        net.run_for(ms(100));
        let end = offered_end(&net);
        let room = net.srv(2).rooms().find(|r| r.name == "#r").unwrap();
        let uid = room
            .members
            .keys()
            .find(|u| !u.starts_with(net.srv(1).sid()))
            .expect("p2 is a member")
            .to_string();
        let earlier = (room.members[uid.as_str()] + 1).to_string();
        let syncs = |net: &Net| {
            net.puppet_got(p2, l2)
                .iter()
                .filter(|w| w[0] == "SYNC")
                .count()
        };
        let before = syncs(&net);
        let ca = net.link_to(2, "A");
        let c_sid = net.srv(2).sid().to_string();
        net.inject(
            2,
            ca,
            &chat_frame("RSEQSTART", &["#r", &end[2], &uid, "1", &earlier, &c_sid]),
        );
        let end: Vec<&str> = end[1..].iter().map(String::as_str).collect();
        net.inject(2, ca, &chat_frame("RSEQEND", &end));
        net.run_for(secs(1));
        assert!(sequences(&net, 2), "C took the stream (ablated: {ablate})");
        assert_eq!(
            syncs(&net),
            before + usize::from(!ablate),
            "ablated: {ablate}: {:?}",
            net.puppet_got(p2, l2)
        );
    }
}

/// A member's CSEND for the number B took back at its handover's start
/// (its NEWSEQ was on its way) that reaches the successor C after C took
/// the stream (the sender is on C, or its server already routes to C) is
/// refused by C as handed over, at no try, as B refuses it: B named the
/// member in the skip's RSEQSLOT (`handover-refusal`). Ablated, C says the
/// number is not held, which costs the sender a try.
fn csend_for_a_number_taken_back_reaching_the_successor(cfg: Config) -> Vec<String> {
    let (mut net, [_, (p2, l2)]) = room_across_b_and_c_with(cfg);
    net.puppet_send(p2, l2, &encoded(&["GETSEQ", "#r"]));
    net.settle();
    let new = net.puppet_got(p2, l2).pop().expect("an answer");
    assert_eq!(new[0], "NEWSEQ", "{new:?}");
    let (e, s, n) = (new[2].clone(), new[3].clone(), new[4].clone());
    net.handle(1, Input::Operator(Command::Shutdown));
    net.run_for(ms(500));
    assert!(sequences(&net, 2), "C holds the stream");
    let csend = encoded(&["CSEND", "#r", &e, &s, &n, "x/1", "x"]);
    net.puppet_send(p2, l2, &csend);
    net.run_for(ms(200));
    let last = net.puppet_got(p2, l2).pop().expect("an answer");
    assert_eq!(last[..5], ["SENDFAIL", "#r", &e, &s, &n], "{last:?}");
    last
}

#[test]
fn the_successor_refuses_a_number_taken_back_at_the_handover_as_handed_over() {
    let last = csend_for_a_number_taken_back_reaching_the_successor(Config::default());
    assert_eq!(last[5], HANDED_OVER, "{last:?}");
    let mut cfg = Config::default();
    cfg.ablations.no_handover_refusal = true;
    let last = csend_for_a_number_taken_back_reaching_the_successor(cfg);
    assert_eq!(last[5], "number not held", "{last:?}");
}
