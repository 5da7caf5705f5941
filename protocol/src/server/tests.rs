//! The server state machine driven through its public API only, on a small
//! deterministic in-memory network ([`Net`]): every host has its own
//! ChaCha8 generator, every frame takes the same fixed latency, and
//! simultaneous events run in a fixed (optionally reversed) order.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::{Command, Input, LinkPhase, Server};
use crate::crypto::KeyPair;
use crate::message::Msg;
use crate::wire::{self, Encoder, Frame};
use crate::{CloseReason, Config, Duration, Identity, Instant, LinkId, Note, Output, Outbox, Registry};

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
        Ok(()) => std::iter::once(f.command()).chain(f.args()).map(String::from).collect(),
        Err(_) => vec!["?".into()],
    }
}

enum Ev {
    Frame { link: LinkId, bytes: Vec<u8> },
    Closed { link: LinkId },
    /// A connection attempt reaches the target; the destination is the dialler.
    Dial { link: LinkId, to: Arc<str> },
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
    out: Outbox,
    sent: Vec<(Instant, usize, LinkId, Vec<u8>)>,
    got: Vec<(Instant, usize, LinkId, Vec<u8>)>,
    notes: Vec<(Instant, usize, Note)>,
    connects: Vec<(Instant, usize, LinkId)>,
    failures: Vec<(Instant, usize, LinkId)>,
    closes: Vec<(Instant, usize, LinkId)>,
    peer_closed: Vec<(Instant, usize, LinkId)>,
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
            out: Outbox::new(),
            sent: Vec::new(),
            got: Vec::new(),
            notes: Vec::new(),
            connects: Vec::new(),
            failures: Vec::new(),
            closes: Vec::new(),
            peer_closed: Vec::new(),
        }
    }

    /// An admitted, reachable server.
    fn add(&mut self, name: &str, auto: &[&str]) -> usize {
        let keys = KeyPair::generate(&mut ChaCha8Rng::seed_from_u64(1000 + self.hosts.len() as u64));
        let sid = format!("{:03}", self.hosts.len());
        self.add_host(name, &sid, keys, true, true, auto)
    }

    fn add_host(&mut self, name: &str, sid: &str, keys: KeyPair, register: bool, listed: bool, auto: &[&str]) -> usize {
        let i = self.hosts.len();
        if register {
            self.registry.register(name, sid, keys.public());
        }
        if listed {
            self.dns.insert(name.into(), i);
        }
        let id = Identity { name: name.into(), sid: sid.into(), incarnation: 1, keys };
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
            self.apply(i);
        }
    }

    fn connect(&mut self, i: usize, to: &str) {
        self.handle(i, Input::Operator(Command::Connect { to }));
    }

    fn push(&mut self, dest: usize, ev: Ev) {
        let rank = if self.reverse { usize::MAX - dest } else { dest };
        self.seq += 1;
        self.queue.insert((self.now + self.latency, rank, self.seq), (dest, ev));
    }

    /// Carries out host `i`'s outputs.
    fn apply(&mut self, i: usize) {
        let items = self.out.items().to_vec();
        for o in items {
            match o {
                Output::Send { link, start, end } => {
                    let bytes = self.out.bytes(start, end).to_vec();
                    self.sent.push((self.now, i, link, bytes.clone()));
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
                Output::Note(n) => self.notes.push((self.now, i, n)),
            }
        }
        self.out.clear();
    }

    fn accept(&mut self, t: usize) -> LinkId {
        let h = &mut self.hosts[t];
        if h.puppet {
            h.puppet_links += 1;
            return LinkId(h.puppet_links);
        }
        let l = h.srv.as_mut().expect("target up").accept(self.now, &mut self.out);
        self.apply(t);
        l
    }

    fn deliver(&mut self, i: usize, ev: Ev) {
        match ev {
            Ev::Frame { link, bytes } => {
                self.got.push((self.now, i, link, bytes.clone()));
                self.handle(i, Input::Frame { link, bytes: &bytes });
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
                match target.filter(|&t| (self.hosts[t].srv.is_some() || self.hosts[t].puppet) && !self.hosts[t].refuse) {
                    None => {
                        self.failures.push((self.now, i, link));
                        self.handle(i, Input::ConnectFailed { link });
                    }
                    Some(t) => {
                        let tl = self.accept(t);
                        self.wires.insert((i, link), (t, tl));
                        self.wires.insert((t, tl), (i, link));
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
        assert!(self.steps < 1_000_000, "runaway simulation at {:?}", self.now);
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
        self.push(t, Ev::Frame { link: tl, bytes: bytes.to_vec() });
    }

    /// What puppet `p` received on `link`, as words.
    fn puppet_got(&self, p: usize, link: LinkId) -> Vec<Vec<String>> {
        self.got.iter().filter(|g| g.1 == p && g.2 == link).map(|g| words(&g.3)).collect()
    }

    /// Hands a frame to host `i` as if it had just arrived on `link`.
    fn inject(&mut self, i: usize, link: LinkId, bytes: &[u8]) {
        self.handle(i, Input::Frame { link, bytes });
    }

    fn view(&self, i: usize) -> Vec<Row> {
        self.srv(i)
            .known_servers()
            .map(|k| (k.name.into(), k.sid.into(), k.incarnation, k.hops, k.uplink.into(), k.via))
            .collect()
    }

    fn views(&self) -> Vec<Option<Vec<Row>>> {
        (0..self.hosts.len()).map(|i| self.hosts[i].srv.as_ref().map(|_| self.view(i))).collect()
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
        assert_eq!(l.len(), 1, "{} should have one link to {peer}: {l:?}", self.srv(i).name());
        l[0]
    }

    /// The frames host `i` sent on `link`, as words.
    fn sent_on(&self, i: usize, link: LinkId) -> Vec<Vec<String>> {
        self.sent.iter().filter(|s| s.1 == i && s.2 == link).map(|s| words(&s.3)).collect()
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

    /// Every live server's links are registered at both ends and form one
    /// tree, and every server's table matches that tree exactly (hops,
    /// uplink, incarnation, sid). Returns the tree's edges.
    fn check_tree(&self) -> BTreeSet<(String, String)> {
        let live: Vec<usize> = (0..self.hosts.len()).filter(|&i| self.hosts[i].srv.is_some()).collect();
        let mut adj: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut edges = BTreeSet::new();
        for &i in &live {
            let me = self.srv(i).name().to_string();
            adj.entry(me.clone()).or_default();
            for l in self.srv(i).links() {
                assert_eq!(l.phase, LinkPhase::Registered, "{me} has an unfinished link at quiescence");
                let p = l.peer.expect("registered link has a peer").to_string();
                assert_eq!(self.links_to(i, &p).len(), 1, "{me} has duplicate links to {p}");
                adj.get_mut(&me).unwrap().push(p.clone());
                edges.insert(if me < p { (me.clone(), p) } else { (p, me.clone()) });
            }
        }
        for (a, b) in &edges {
            assert!(adj[a].contains(b) && adj[b].contains(a), "link {a}-{b} is one-sided");
        }
        assert_eq!(edges.len() + 1, live.len(), "not a tree: {edges:?}");
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
            assert_eq!(seen.len() + 1, live.len(), "tree not connected");
            let want: Vec<(String, String, u64, u32, String)> = seen
                .into_iter()
                .map(|(n, (h, up))| {
                    let host = &self.hosts[self.find(&n)];
                    (n, host.id.sid.to_string(), host.id.incarnation, h, up)
                })
                .collect();
            let have: Vec<_> = self.view(i).into_iter().map(|r| (r.0, r.1, r.2, r.3, r.4)).collect();
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
