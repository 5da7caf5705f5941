//! The parsed, validated form of a scenario file.

use drc_protocol::time::Duration;

/// A whole scenario: topology, timeline of actions, and expectations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    pub seed: u64,
    pub duration: Duration,
    pub protocol: ProtocolSection,
    pub network: NetworkSection,
    pub servers: Vec<ServerDecl>,
    pub clients: Vec<ClientDecl>,
    /// Sorted by time; actions at the same time keep their file order.
    pub actions: Vec<TimedAction>,
    /// `[faults]`: a seeded random fault schedule (swarm testing).
    pub faults: Option<FaultsSection>,
    /// `[workload]`: seeded random clients and chatter.
    pub workload: Option<WorkloadSection>,
    /// `[limits]`: how much work one run may do.
    pub limits: Limits,
    /// `[discovery]`: servers find peers by HELLO/WELCOME datagrams.
    pub discovery: Option<DiscoverySection>,
    /// `[greeter]`: a server that logs clients in and hands out tokens.
    pub greeter: Option<GreeterSection>,
    pub expect: Expect,
}

impl Scenario {
    /// Every server name the scenario can mention: the `[[server]]`
    /// declarations in order, then the `add_server` actions in timeline order.
    pub fn server_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.servers.iter().map(|s| s.name.clone()).collect();
        names.extend(self.actions.iter().filter_map(|a| match &a.action {
            Action::AddServer { name, .. } => Some(name.clone()),
            _ => None,
        }));
        names
    }

    /// Every client id: the `[[client]]` declarations in order, then the ids
    /// first introduced by a `connect` action, in timeline order.
    pub fn client_ids(&self) -> Vec<String> {
        client_ids(&self.clients, self.actions.iter().map(|a| &a.action))
    }

    /// The declaration of server `name`, if it is declared in `[[server]]`.
    pub fn server(&self, name: &str) -> Option<&ServerDecl> {
        self.servers.iter().find(|s| s.name == name)
    }

    /// The declaration of client `id`, if it is declared in `[[client]]`.
    pub fn client(&self, id: &str) -> Option<&ClientDecl> {
        self.clients.iter().find(|c| c.id == id)
    }
}

/// [`Scenario::client_ids`] of the declared clients and the actions,
/// for a caller holding the actions apart from their scenario.
pub fn client_ids<'a>(
    clients: &[ClientDecl],
    actions: impl Iterator<Item = &'a Action>,
) -> Vec<String> {
    let mut ids: Vec<String> = clients.iter().map(|c| c.id.clone()).collect();
    // A set beside the list: at 100,000 clients a search of the list
    // per connect action was the longest part of setting up.
    let mut seen: std::collections::BTreeSet<&str> =
        clients.iter().map(|c| c.id.as_str()).collect();
    for a in actions {
        if let Action::Connect { client, .. } = a {
            if seen.insert(client) {
                ids.push(client.clone());
            }
        }
    }
    ids
}

/// `[protocol]`: knobs of the protocol under test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolSection {
    pub nick_collision: NickCollision,
    pub ordering: Ordering,
    /// How clients send room messages.
    pub send: SendMode,
    pub ping_interval: Duration,
    pub ping_timeout: Duration,
    /// The keepalive of a server's clients, when not the links' own.
    pub client_ping_interval: Option<Duration>,
    pub client_ping_timeout: Option<Duration>,
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
    pub handshake_timeout: Duration,
    pub seq_hold: Duration,
    pub find_delay: Duration,
    pub nick_history: Duration,
    pub redirect_timeout: Duration,
    pub relink_grace: Duration,
    /// Load balancing by seamless redirect.
    pub balance: bool,
    /// Protocol safeguards switched off, each one of
    /// [`KNOWN_ABLATIONS`](super::KNOWN_ABLATIONS).
    pub ablate: Vec<String>,
}

/// The protocol crate's defaults are the defaults of the file format.
impl Default for ProtocolSection {
    fn default() -> Self {
        let c = drc_protocol::Config::default();
        ProtocolSection {
            nick_collision: c.nick_collision,
            ordering: c.ordering,
            send: c.send,
            ping_interval: c.ping_interval,
            ping_timeout: c.ping_timeout,
            client_ping_interval: None,
            client_ping_timeout: None,
            reconnect_min: c.reconnect_min,
            reconnect_max: c.reconnect_max,
            handshake_timeout: c.handshake_timeout,
            seq_hold: c.seq_hold,
            find_delay: c.find_delay,
            nick_history: c.nick_history,
            redirect_timeout: c.redirect_timeout,
            relink_grace: c.relink_grace,
            balance: c.balance,
            ablate: Vec::new(),
        }
    }
}

/// The policies are the protocol crate's own types, with their file spellings.
pub use drc_protocol::config::{NickCollision, Ordering, SendMode};

/// `[network]`: the simulated network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkSection {
    pub latency_min: Duration,
    pub latency_max: Duration,
    pub connect_timeout: Duration,
}

impl Default for NetworkSection {
    fn default() -> Self {
        NetworkSection {
            latency_min: Duration::from_millis(1),
            latency_max: Duration::from_millis(10),
            connect_timeout: Duration::from_secs(3),
        }
    }
}

/// One `[[server]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerDecl {
    pub name: String,
    /// Servers this one dials at start.
    pub connect: Vec<String>,
    pub sid: Option<String>,
    /// This host is an impostor claiming to be the named server.
    pub claims: Option<String>,
    /// Whether the operator registry knows this server's key.
    pub registered: bool,
    /// `false`: configured but not running until `restart`/`add_server`.
    pub start: bool,
}

impl ServerDecl {
    /// A server with every optional field at its default.
    pub fn new(name: impl Into<String>) -> Self {
        ServerDecl {
            name: name.into(),
            connect: Vec::new(),
            sid: None,
            claims: None,
            registered: true,
            start: true,
        }
    }
}

/// One `[[client]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientDecl {
    pub id: String,
    pub server: String,
    /// `None`: the nick is the id (see [`ClientDecl::nick`]).
    pub nick: Option<String>,
    pub join: Vec<String>,
    /// Whether it accepts private message requests (default true).
    pub accept_private: bool,
    /// Follow a server's redirect (false: refuse every one).
    pub accept_redirect: bool,
    /// Where it reconnects after losing its server: `server` first, then
    /// these, in order.
    pub servers: Vec<String>,
    /// `false`: a client that loses its server stays disconnected.
    pub reconnect: bool,
    /// `false`: idle until a `connect` action (a `[workload]` client).
    pub start: bool,
    /// `via = "greeter"`: logs in through the greeter; `server` is where
    /// a full login goes if that fails.
    pub via_greeter: bool,
    /// The room whose session it asks the greeter for.
    pub session: Option<String>,
}

impl ClientDecl {
    /// A client with every optional field at its default.
    pub fn new(id: impl Into<String>, server: impl Into<String>) -> Self {
        ClientDecl {
            id: id.into(),
            server: server.into(),
            nick: None,
            join: Vec::new(),
            accept_private: true,
            accept_redirect: true,
            servers: Vec::new(),
            reconnect: true,
            start: true,
            via_greeter: false,
            session: None,
        }
    }

    /// The nick the client registers with.
    pub fn nick(&self) -> &str {
        self.nick.as_deref().unwrap_or(&self.id)
    }
}

/// One `[[at]]`: an action and when it happens.
///
/// Equality ignores `line`, which only locates the action in its file for
/// messages (so a scenario written with `to_toml` and parsed back is equal
/// to the original).
#[derive(Debug, Clone, Eq)]
pub struct TimedAction {
    pub time: Duration,
    pub action: Action,
    /// Line of the `[[at]]` header (0 for actions not read from a file).
    pub line: usize,
}

impl PartialEq for TimedAction {
    fn eq(&self, other: &Self) -> bool {
        self.time == other.time && self.action == other.action
    }
}

/// What an `[[at]]` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Split the network: only members of the same group can talk.
    Partition {
        groups: Vec<Vec<String>>,
    },
    /// Undo every partition.
    Heal,
    /// Drop the link between two servers (both see it fail).
    Cut {
        a: String,
        b: String,
    },
    /// Hold traffic between two servers for a while.
    Stall {
        a: String,
        b: String,
        duration: Duration,
    },
    Crash {
        server: String,
    },
    Restart {
        server: String,
    },
    /// Orderly stop of a server.
    Shutdown {
        server: String,
    },
    /// Datagrams are lost and duplicated with these odds (parts per
    /// million) for a while, instead of the `[discovery]` ones.
    Storm {
        duration: Duration,
        loss_ppm: u32,
        duplicate_ppm: u32,
    },
    /// Operator asks `a` to link to `b`.
    Link {
        a: String,
        b: String,
    },
    /// Operator asks `a` to drop its link to `b`; with `via`, the
    /// operator is on `via` and the request travels the tree to `a`.
    Unlink {
        a: String,
        b: String,
        via: Option<String>,
    },
    /// Operator on `server` KILLs the user with this nick (carried out by
    /// the server holding its connection).
    Kill {
        server: String,
        nick: String,
        comment: String,
    },
    /// Start a server not declared in `[[server]]`, linking it to `via`.
    AddServer {
        name: String,
        via: String,
    },
    /// Shift a server's clock.
    Skew {
        server: String,
        by_nanos: i64,
    },
    Connect {
        client: String,
        server: String,
        nick: Option<String>,
    },
    Nick {
        client: String,
        nick: String,
    },
    Create {
        client: String,
        room: String,
    },
    Join {
        client: String,
        room: String,
    },
    Leave {
        client: String,
        room: String,
    },
    Say {
        client: String,
        room: String,
        text: String,
    },
    SendList {
        client: String,
        to: Vec<String>,
        text: String,
    },
    Private {
        client: String,
        to: String,
        text: String,
    },
    /// Move a client to the server `to` by seamless redirect: asked by
    /// the operator at the client's server, or by the client itself.
    Redirect {
        client: String,
        to: String,
        by_client: bool,
    },
    /// The client leaves: with QUIT, or with EXIT and this message.
    Quit {
        client: String,
        exit: Option<String>,
    },
    /// The client asks for a room's members (ULIST).
    Ulist {
        client: String,
        room: String,
    },
    /// The client asks for the rooms (LISTROOMS).
    ListRooms {
        client: String,
    },
    /// Operator broadcast (extension).
    Broadcast {
        server: String,
        text: String,
    },
    /// The client presents a bad token of this kind to `server`
    /// ([`TOKEN_ATTACKS`]).
    PresentToken {
        client: String,
        server: String,
        token: String,
    },
}

/// The kinds of bad token `present_token` can present, each with the
/// reason a session server must refuse it with.
pub const TOKEN_ATTACKS: &[(&str, &str)] = &[
    ("replayed", "replay"),
    ("expired", "expired"),
    ("tampered", "signature"),
    ("other-audience", "audience"),
    ("stale-secret", "stale"),
];

impl Action {
    /// A client's own doing rather than a fault or an operator command.
    pub fn is_client_action(&self) -> bool {
        matches!(
            self,
            Action::Connect { .. }
                | Action::Nick { .. }
                | Action::Create { .. }
                | Action::Join { .. }
                | Action::Leave { .. }
                | Action::Say { .. }
                | Action::SendList { .. }
                | Action::Private { .. }
                | Action::Redirect { .. }
                | Action::Quit { .. }
                | Action::Ulist { .. }
                | Action::ListRooms { .. }
        )
    }
}

impl Action {
    /// Every action name, as spelled in `do = "..."`.
    pub const NAMES: &'static [&'static str] = &[
        "partition",
        "heal",
        "cut",
        "stall",
        "crash",
        "restart",
        "shutdown",
        "storm",
        "link",
        "unlink",
        "add_server",
        "skew",
        "connect",
        "nick",
        "create",
        "join",
        "leave",
        "say",
        "send_list",
        "private",
        "redirect",
        "quit",
        "broadcast",
        "present_token",
        "ulist",
        "listrooms",
        "kill",
    ];

    /// The action's name as spelled in `do = "..."`.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Partition { .. } => "partition",
            Action::Heal => "heal",
            Action::Cut { .. } => "cut",
            Action::Stall { .. } => "stall",
            Action::Crash { .. } => "crash",
            Action::Restart { .. } => "restart",
            Action::Shutdown { .. } => "shutdown",
            Action::Storm { .. } => "storm",
            Action::Link { .. } => "link",
            Action::Unlink { .. } => "unlink",
            Action::Kill { .. } => "kill",
            Action::AddServer { .. } => "add_server",
            Action::Skew { .. } => "skew",
            Action::Connect { .. } => "connect",
            Action::Nick { .. } => "nick",
            Action::Create { .. } => "create",
            Action::Join { .. } => "join",
            Action::Leave { .. } => "leave",
            Action::Say { .. } => "say",
            Action::SendList { .. } => "send_list",
            Action::Private { .. } => "private",
            Action::Redirect { .. } => "redirect",
            Action::Quit { .. } => "quit",
            Action::Ulist { .. } => "ulist",
            Action::ListRooms { .. } => "listrooms",
            Action::Broadcast { .. } => "broadcast",
            Action::PresentToken { .. } => "present_token",
        }
    }
}

/// `[expect]`: what the run should end with.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Expect {
    pub verdict: Verdict,
    /// Invariants that must have fired (names checked by the checkers).
    pub violated: Vec<String>,
    /// The final connected components, as lists of server names.
    pub components: Option<Vec<Vec<String>>>,
    /// The final established server links (unordered pairs).
    pub links: Option<Vec<(String, String)>>,
    pub min_events: Option<u64>,
    /// The quiet period before the end that lets convergence be judged
    /// (default: derived from the ping and reconnect settings).
    pub settle: Option<Duration>,
    /// Every running admitted server must end in one tree.
    pub connected: bool,
    /// The run must end quiet, so that convergence is judged (implied by
    /// `connected`, `components` and `links`).
    pub converge: bool,
}

impl Expect {
    /// Whether the expectations only make sense once the network has
    /// settled: a run that ends before it is quiet cannot meet them.
    pub fn asks_convergence(&self) -> bool {
        self.converge || self.connected || self.components.is_some() || self.links.is_some()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Verdict {
    #[default]
    Pass,
    Fail,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "pass" => Some(Verdict::Pass),
            "fail" => Some(Verdict::Fail),
            _ => None,
        }
    }
}

/// Kinds of fault a `[faults]` schedule can draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    /// A random group of servers is cut off, healed later.
    Partition,
    /// One link between two servers is reset.
    Cut,
    /// The best-connected server is partitioned away alone.
    Isolate,
    /// One link holds its traffic for a while.
    Stall,
    /// One link is reset several times in a row.
    Flap,
    /// A server crashes, and restarts later.
    Crash,
    /// A server's clock jumps.
    Skew,
    /// Two operators link pairs of servers at the same instant.
    Race,
    /// A leaf server (one nobody autoconnects to) is shut down for good.
    Shutdown,
    /// A random client is moved to a random server by seamless redirect
    /// (one in four asked by the client itself). Drawn only in scenarios
    /// with clients.
    Redirect,
    /// Datagrams are lost or duplicated far more often for a while, or the
    /// discovery seekers are partitioned away. Drawn only in scenarios with
    /// `[discovery]`.
    Storm,
    /// The greeter crashes, and restarts later. Drawn only in scenarios
    /// with `[greeter]`.
    Greeter,
    /// A client presents a bad token (of a random kind) to a random
    /// server. Drawn only in scenarios with `[greeter]` and clients.
    Token,
}

impl FaultKind {
    pub const ALL: [FaultKind; 13] = [
        FaultKind::Partition,
        FaultKind::Cut,
        FaultKind::Isolate,
        FaultKind::Stall,
        FaultKind::Flap,
        FaultKind::Crash,
        FaultKind::Skew,
        FaultKind::Race,
        FaultKind::Shutdown,
        FaultKind::Redirect,
        FaultKind::Storm,
        FaultKind::Greeter,
        FaultKind::Token,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::Partition => "partition",
            FaultKind::Cut => "cut",
            FaultKind::Isolate => "isolate",
            FaultKind::Stall => "stall",
            FaultKind::Flap => "flap",
            FaultKind::Crash => "crash",
            FaultKind::Skew => "skew",
            FaultKind::Race => "race",
            FaultKind::Shutdown => "shutdown",
            FaultKind::Redirect => "redirect",
            FaultKind::Storm => "storm",
            FaultKind::Greeter => "greeter",
            FaultKind::Token => "token",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// `[faults]`: what a seed may draw, and the liveness bound after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultsSection {
    /// When the fault window opens.
    pub start: Duration,
    /// How long faults are injected.
    pub window: Duration,
    /// Average gap between two faults (each seed scales it by 1/2 to 2).
    pub mean_gap: Duration,
    /// Kinds a seed may enable (each seed enables a random non-empty subset).
    pub kinds: Vec<FaultKind>,
    /// After the window everything is healed and restarted; the network
    /// must then converge within this bound.
    pub converge_within: Duration,
    /// Collision policies a seed may run under (one drawn per seed; empty:
    /// the `[protocol]` one).
    pub nick_collision: Vec<NickCollision>,
    /// Ordering policies a seed may run under, likewise.
    pub ordering: Vec<Ordering>,
    /// Ways of sending room messages a seed may run under, likewise.
    pub send: Vec<SendMode>,
}

impl Default for FaultsSection {
    fn default() -> Self {
        FaultsSection {
            start: Duration::from_secs(5),
            window: Duration::from_secs(60),
            mean_gap: Duration::from_secs(5),
            kinds: FaultKind::ALL.to_vec(),
            converge_within: Duration::from_secs(60),
            nick_collision: Vec::new(),
            ordering: Vec::new(),
            send: Vec::new(),
        }
    }
}

/// `[workload]`: seeded random users. Each client connects to a random
/// server between `start` and `start + 5s`, joins `joins` random rooms,
/// and until `stop` says something every `say_every` on average; if set,
/// changes nick every `nick_every` (into a shared pool of `nick_pool`
/// nicks, if set), sends private and list messages every `private_every`
/// and `list_every`, leaves a room and joins it again every
/// `leave_every`, and quits and comes back every `churn_every` on
/// average.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadSection {
    pub clients: u64,
    pub rooms: u64,
    pub joins: u64,
    pub say_every: Duration,
    /// Zero: no nick changes.
    pub nick_every: Duration,
    /// Zero: no churn.
    pub churn_every: Duration,
    pub start: Duration,
    pub stop: Duration,
    /// Mean gap between one client's private messages to another workload
    /// client (zero: none).
    pub private_every: Duration,
    /// Mean gap between one client's list messages to two or three others
    /// (zero: none).
    pub list_every: Duration,
    /// Mean gap between one client's leaving one of its rooms, which it
    /// joins again one to three seconds later (zero: none).
    pub leave_every: Duration,
    /// Nick changes draw from this many shared nicks (`nick01`..), so users
    /// contend for them across splits (zero: every new nick is unique).
    pub nick_pool: u64,
    /// Nicks drawn in mixed case (`nick01`, `Nick01` or `NICK01`, from a
    /// stream of their own): claims that differ only in case collide, and
    /// a user may change its nick's case alone.
    pub nick_case: bool,
    /// Probability, in parts per million, that a user logs in through the
    /// greeter (needs `[greeter]`).
    pub via_greeter_ppm: u32,
}

impl Default for WorkloadSection {
    fn default() -> Self {
        WorkloadSection {
            clients: 100,
            rooms: 10,
            joins: 2,
            say_every: Duration::from_secs(10),
            nick_every: Duration::ZERO,
            churn_every: Duration::ZERO,
            start: Duration::from_secs(1),
            stop: Duration::from_secs(60),
            private_every: Duration::ZERO,
            list_every: Duration::ZERO,
            leave_every: Duration::ZERO,
            nick_pool: 0,
            nick_case: false,
            via_greeter_ppm: 0,
        }
    }
}

/// `[discovery]`: who looks for peers by HELLO, how often, and how
/// datagrams fare. Every running server listens on the group and answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoverySection {
    /// Servers that send HELLO while they have no registered link.
    pub seekers: Vec<String>,
    /// HELLO interval while looking (jittered to between half and all).
    pub period: Duration,
    /// Probability that a datagram is lost, in parts per million.
    pub loss_ppm: u32,
    /// Probability that a datagram arrives twice, in parts per million.
    pub duplicate_ppm: u32,
}

impl Default for DiscoverySection {
    fn default() -> Self {
        DiscoverySection {
            seekers: Vec::new(),
            period: Duration::from_secs(2),
            loss_ppm: 0,
            duplicate_ppm: 0,
        }
    }
}

/// `[greeter]`: which server greets clients, and the token settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GreeterSection {
    /// A declared server.
    pub name: String,
    pub token_ttl: Duration,
    pub token_leeway: Duration,
    pub secret_refresh: Duration,
    pub login_timeout: Duration,
}

impl GreeterSection {
    pub fn new(name: impl Into<String>) -> Self {
        let d = drc_protocol::Config::default();
        GreeterSection {
            name: name.into(),
            token_ttl: Duration::from_nanos(d.token_ttl.as_nanos()),
            token_leeway: Duration::from_nanos(d.token_leeway.as_nanos()),
            secret_refresh: Duration::from_nanos(d.secret_refresh.as_nanos()),
            login_timeout: Duration::from_nanos(d.login_timeout.as_nanos()),
        }
    }
}

/// A probability in parts per million, as a scenario file writes it.
pub fn ppm_to_f64(ppm: u32) -> f64 {
    f64::from(ppm) / 1e6
}

/// `[limits]`: a budget that ends a run which would otherwise grow without
/// bound, with a failing outcome and a message saying so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Events one run may process (`drcsim run --max-events` overrides).
    pub max_events: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_events: DEFAULT_MAX_EVENTS,
        }
    }
}

/// The default event budget: about 13 times the largest stock scenario
/// (`workload-netsplits`, 0.76 M events). A chat-heavy run keeps about
/// 600 bytes per event (every delivered message stays in the summary), so
/// the budget also caps memory near 6 GB.
pub const DEFAULT_MAX_EVENTS: u64 = 10_000_000;

/// The shortest protocol timer (`ping_interval`, `reconnect_min`,
/// `handshake_timeout`, `seq_hold`, `find_delay`) and `connect_timeout`
/// a scenario may set: anything shorter lets one host schedule events
/// faster than a real network could carry them, and zero spins for ever
/// at one instant.
pub const MIN_TIMER: Duration = Duration::from_millis(10);

/// The shortest mean gap between workload actions of one client
/// (`say_every`, `nick_every`, `churn_every`) and between faults
/// (`[faults] mean_gap`).
pub const MIN_MEAN_GAP: Duration = Duration::from_millis(100);

/// The longest time any duration in a scenario may name (10,000 hours):
/// far beyond any useful run, and small enough that sums of times never
/// overflow.
pub const MAX_TIME: Duration = Duration::from_secs(10_000 * 3600);

/// The most faults a `[faults]` window may draw on average
/// (`window / mean_gap`).
pub const MAX_FAULTS: u64 = 100_000;

/// The most actions a `[workload]` may expand into, estimated from its
/// means before anything is expanded.
pub const MAX_WORKLOAD_ACTIONS: u64 = 2_000_000;
