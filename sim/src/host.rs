//! A simulated machine: a server process, its key, its clock skew, and the
//! map from its link ids to the network's connections.

use std::sync::Arc;

use drc_protocol::client::Client;
use drc_protocol::crypto::KeyPair;
use drc_protocol::{Instant, LinkId, Server};
use rand_chacha::ChaCha8Rng;
use smallvec::SmallVec;

use crate::clock::SimTime;
use crate::network::ConnId;

/// Local clocks start far from zero, so that no arithmetic near the start
/// of a run can underflow the protocol's unsigned time.
pub const CLOCK_BASE: u64 = 1_000_000_000_000_000_000;

/// One machine of the run.
///
/// Laid out by hand, what every frame and timer reads first (at 250,000
/// users the hosts far outgrow the caches, and each line a frame touches
/// is a miss): whether it runs, its incarnation, its processes, its links
/// and its timer in the first line, the rest after.
#[repr(C, align(64))]
pub struct Host {
    /// The machine is running (false after a crash, before a start).
    pub up: bool,
    pub is_client: bool,
    /// Holds the key the registry has for `claims`.
    pub genuine: bool,
    /// A client declared `reconnect = false`: once it loses its server it
    /// no longer wants to be connected (what `client.liveness` reads, not
    /// the client's own settings, which an ablation may change).
    pub gives_up: bool,
    /// Counts the timers scheduled, so that a stale one is known (the
    /// event carries the count's low bits, `GEN_MASK`).
    pub timer_gen: u32,
    pub incarnation: u64,
    pub server: Option<Box<Server>>,
    /// The client process, on a client's machine.
    pub client: Option<Box<Client>>,
    /// When the timer in the queue is due; [`NO_TIMER`] for none.
    pub timer_at: SimTime,
    /// The connection of each link id; a client has a few links.
    link_conn: SmallVec<[ConnId; 4]>,
    /// Wake-ups in a row after which the host still had a deadline due
    /// (`timer.advances`).
    pub overdue_run: u32,
    /// How far this host's wall clock is off. Timers run on the monotonic
    /// clock, which a skew does not move (as on a real machine); nothing in
    /// the server tier reads the wall clock yet.
    pub skew: i64,
    /// The scenario's id for this host.
    pub label: String,
    /// Boots next as a newcomer that syncs through this member before it
    /// joins (`add_server`).
    pub join_via: Option<Arc<str>>,
    /// The server name it presents (differs from `label` for an impostor).
    pub claims: Arc<str>,
    pub sid: Arc<str>,
    /// A server's long-term keys; a client machine has none (generating
    /// them was a third of setting up 5,000 clients).
    pub keys: Option<KeyPair>,
    pub autoconnect: Vec<Arc<str>>,
    /// A client's declared servers (`server`, then `servers`), for the
    /// same reason as `gives_up`.
    pub client_servers: Vec<Arc<str>>,
    pub rng: ChaCha8Rng,
    /// How its server takes part in discovery (a scenario with
    /// `[discovery]`), given to every incarnation.
    pub discovery: Option<drc_protocol::server::DiscoveryConfig>,
    /// The token secret of each incarnation, as it booted (a network with
    /// a greeter): what a stale-secret attack signs with.
    pub old_secrets: Vec<(u64, drc_protocol::token::Secret)>,
}

const NO_CONN: ConnId = ConnId::MAX;

/// [`Host::timer_at`] when no timer is in the queue.
pub const NO_TIMER: SimTime = SimTime::MAX;

impl Host {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        label: String,
        claims: Arc<str>,
        sid: Arc<str>,
        genuine: bool,
        keys: Option<KeyPair>,
        autoconnect: Vec<Arc<str>>,
        rng: ChaCha8Rng,
    ) -> Self {
        Host {
            label,
            claims,
            sid,
            genuine,
            keys,
            autoconnect,
            up: false,
            incarnation: 0,
            skew: 0,
            server: None,
            client: None,
            is_client: false,
            join_via: None,
            gives_up: false,
            client_servers: Vec::new(),
            rng,
            link_conn: SmallVec::new(),
            timer_at: NO_TIMER,
            timer_gen: 0,
            overdue_run: 0,
            discovery: None,
            old_secrets: Vec::new(),
        }
    }

    /// The long-term keys of a server host.
    pub fn server_keys(&self) -> &KeyPair {
        self.keys.as_ref().expect("a server host has keys")
    }

    /// The host's monotonic clock, which the protocol's timers use.
    pub fn local_time(&self, now: SimTime) -> Instant {
        Instant(CLOCK_BASE + now)
    }

    /// The simulated time at which this host's monotonic clock shows `local`.
    pub fn global_time(&self, local: Instant) -> SimTime {
        local.0.saturating_sub(CLOCK_BASE)
    }

    pub fn map_link(&mut self, link: LinkId, conn: ConnId) {
        let i = link.0 as usize;
        if self.link_conn.len() <= i {
            self.link_conn.resize(i + 1, NO_CONN);
        }
        self.link_conn[i] = conn;
    }

    pub fn conn_of(&self, link: LinkId) -> Option<ConnId> {
        self.link_conn
            .get(link.0 as usize)
            .copied()
            .filter(|&c| c != NO_CONN)
    }

    /// A restarted process numbers its links afresh.
    pub fn forget_links(&mut self) {
        self.link_conn.clear();
    }

    pub fn running(&self) -> bool {
        self.up && self.server.as_ref().is_some_and(|s| !s.is_stopped())
    }

    /// Whether a connection to this host would be accepted.
    pub fn listening(&self) -> bool {
        self.running() || (self.up && self.client.is_some())
    }

    /// The wall clock offset the protocol sees.
    pub fn wall_offset(&self) -> i64 {
        self.skew
    }
}
