//! A DRC server as a plain state machine.
//!
//! The environment feeds it [`Input`]s with the current local time and a
//! random generator, and carries out the [`Output`]s it leaves in the
//! [`Outbox`]. Everything a checker may read is behind [`Server::view`]-style
//! accessors; nothing here knows it runs in a simulator.

mod chat;
mod discovery;
mod handshake;
mod joining;
mod known;
mod liveness;
mod operator;
mod path;
mod shutdown;
mod table;
mod tree;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use rand_core::CryptoRngCore;

use crate::config::Config;
use crate::identity::{Identity, LinkTag, Registry};
use crate::message::Msg;
use crate::outbox::{CloseReason, LinkId, Note, Outbox, Output};
use crate::time::{Duration, Instant};
use crate::wire::{self, Frame};

pub(crate) use chat::frame as chat_frame;
pub(crate) use chat::verbatim as verbatim_frame;
pub use chat::{collision_losers, stream_beats, RoomView, SequencerView, Slot};
pub use discovery::{Datagram, DatagramTo, DiscoveryConfig, DiscoveryStats};
pub use liveness::AutoTarget;
use shutdown::SHUTDOWN_REASON;
use table::{LinkTable, Routes};

/// What happened to the server.
#[derive(Clone, Copy, Debug)]
pub enum Input<'a> {
    /// The process started (first boot or restart): begin autoconnecting.
    Start,
    /// An outbound connection opened.
    Connected { link: LinkId },
    /// An outbound connection was refused or timed out.
    ConnectFailed { link: LinkId },
    /// One whole frame arrived on a link.
    Frame { link: LinkId, bytes: &'a [u8] },
    /// The peer closed or reset the link.
    Closed { link: LinkId },
    /// The deadline from [`Server::poll_timeout`] passed.
    Timeout,
    /// An operator command.
    Operator(Command<'a>),
    /// A discovery datagram arrived (multicast or unicast).
    Datagram { bytes: &'a [u8] },
}

#[derive(Clone, Copy, Debug)]
pub enum Command<'a> {
    /// Connect to this server now (once; not added to autoconnect).
    Connect { to: &'a str },
    /// Close the link to this direct neighbour gracefully (SCLOSE).
    Unlink { peer: &'a str },
    /// Close the link between `server` and its neighbour `peer`: the
    /// request travels the tree to `server`, which closes it with SCLOSE.
    UnlinkAt { server: &'a str, peer: &'a str },
    /// KILL the user with this nick: the request travels to the server
    /// holding its connection, which carries it out.
    Kill { nick: &'a str, comment: &'a str },
    /// Flood a message to every server.
    Broadcast { text: &'a str },
    /// Move every local client away (seamless redirect), then close every
    /// link gracefully and stop autoconnecting.
    Shutdown,
    /// Move a local user (by nick or UID) to the server `to`.
    Redirect { user: &'a str, to: &'a str },
    /// Admit a new server: registered here and flooded to every server.
    Register {
        name: &'a str,
        sid: &'a str,
        key: crate::crypto::PublicKey,
    },
}

/// Where a link is in its life.
#[derive(Clone, Debug)]
pub(crate) enum Phase {
    /// Outbound connection not yet open.
    Dialing,
    /// Inbound: waiting for the peer's LINK.
    AwaitLink,
    /// Outbound: LINK sent, waiting for CHALLENGE.
    AwaitChallenge,
    /// Inbound: CHALLENGE sent, waiting for RESPONSE.
    AwaitResponse(Box<handshake::Pending>),
    /// Outbound: RESPONSE sent, waiting for VERIFIED.
    AwaitVerified(Box<handshake::Pending>),
    /// Authenticated and part of the tree.
    Registered,
    /// Inbound from a newcomer: authenticated, its database sent; waiting
    /// for it to close. Never part of the tree.
    Serving,
    /// Outbound while joining: authenticated, reading the sponsor's
    /// database.
    Fetching,
}

impl Phase {
    /// What a view shows of this phase.
    fn public(&self) -> LinkPhase {
        match self {
            Phase::Dialing => LinkPhase::Dialing,
            Phase::Registered => LinkPhase::Registered,
            _ => LinkPhase::Handshaking,
        }
    }
}

/// The coarse link state a view exposes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkPhase {
    Dialing,
    Handshaking,
    Registered,
}

#[derive(Clone, Debug)]
pub(crate) struct Link {
    pub outbound: bool,
    /// The server we dialled, for outbound links.
    pub target: Option<Arc<str>>,
    pub phase: Phase,
    pub opened_at: Instant,
    pub last_rx: Instant,
    pub ping_sent: bool,
    /// Set once the peer is known (after LINK for inbound, at dial for outbound).
    pub stamp: u64,
    pub tag: Option<LinkTag>,
    pub peer: Option<Arc<str>>,
    pub burst_received: bool,
}

pub use known::NetworkIds;
pub(crate) use known::{Known, KnownTable, NewPath};

/// Counters a report may show.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub frames_in: u64,
    pub frames_out: u64,
    pub malformed: u64,
    pub misdirected: u64,
    /// Broadcasts accepted from another server (each floods on).
    pub broadcasts: u64,
    /// KILLs, SAVEs and REJECTs accepted from another server (each floods
    /// on); repeats of one already applied are not counted.
    pub resolutions: u64,
    pub links_registered: u64,
    pub loops_broken: u64,
    pub handshakes_failed: u64,
}

pub struct Server {
    pub(crate) me: Identity,
    pub(crate) cfg: Arc<Config>,
    pub(crate) registry: Arc<Registry>,
    pub(crate) links: LinkTable,
    next_link: u64,
    pub(crate) known: KnownTable,
    /// Route to each known server by SID, for the per-message direction
    /// checks (a SID packs into a u32, far cheaper to look up than a name).
    routes: Routes,
    /// Servers a neighbour introduced that we do not route through it (we
    /// refused or left its route), by name and link. Should we lose such a
    /// server, that neighbour's view may be the right one: we ask it for a
    /// fresh burst (see `tree.rs`).
    pub(crate) disputed: BTreeSet<(Arc<str>, LinkId)>,
    /// Servers whose route we moved onto a link after introducing them
    /// along it by the old route, with their incarnation. Should that
    /// neighbour's SQUIT take them from us, our old introduction may have
    /// reached it after it lost its own route, and it would hold a route
    /// through us that we no longer have: we withdraw it (see `tree.rs`).
    pub(crate) moved_onto: BTreeMap<(Arc<str>, LinkId), u64>,
    pub(crate) auto: Vec<AutoTarget>,
    pub(crate) lamport: u64,
    pub(crate) next_token: u64,
    pub(crate) next_bcast: u64,
    /// Earliest instant a timer may be due; conservative (may be early).
    pub(crate) deadline: Option<Instant>,
    pub(crate) stopped: bool,
    /// Shutting down gracefully, until this instant at the latest.
    pub(crate) draining: Option<Instant>,
    /// Shutting down, with nothing left to move: the server links whose
    /// answer to its last word (a PING) it awaits before it closes.
    pub(crate) last_word: Option<Vec<LinkId>>,
    /// When load balancing next looks at the loads.
    pub(crate) balance_at: Option<Instant>,
    /// A newcomer, from its first boot until it is a member.
    pub(crate) joining: Option<joining::Joining>,
    /// Servers registered at run time (by SREG), sent in every burst.
    pub(crate) learned: BTreeSet<Arc<str>>,
    pub(crate) stats: Stats,
    frame: Frame,
    pub(crate) chat: chat::ChatState,
    /// Set when the server takes part in discovery (see `discovery.rs`).
    pub(crate) discovery: Option<Box<discovery::Discovery>>,
}

impl Server {
    pub fn new(
        me: Identity,
        cfg: Arc<Config>,
        registry: Arc<Registry>,
        autoconnect: &[Arc<str>],
    ) -> Self {
        Self::sharing_ids(me, cfg, registry, autoconnect, Default::default())
    }

    /// A server whose records of other servers are indexed by `ids`, a
    /// table of server names shared with the other servers of its network
    /// (see known.rs): what it decides is the same as with a table of its
    /// own.
    pub fn sharing_ids(
        me: Identity,
        cfg: Arc<Config>,
        registry: Arc<Registry>,
        autoconnect: &[Arc<str>],
        ids: std::rc::Rc<NetworkIds>,
    ) -> Self {
        let chat = chat::ChatState {
            users: crate::id_map::IdMap::new(ids.uids.clone()),
            rooms: crate::id_map::IdMap::new(ids.room_ids.clone()),
            nicks: crate::id_map::IdMap::new(ids.nick_ids.clone()),
            ..Default::default()
        };
        let known = KnownTable::new(ids, &me.name);
        Server {
            me,
            cfg,
            registry,
            links: LinkTable::default(),
            next_link: 1,
            known,
            routes: Routes::default(),
            disputed: BTreeSet::new(),
            moved_onto: BTreeMap::new(),
            auto: autoconnect
                .iter()
                .map(|n| AutoTarget::new(n.clone()))
                .collect(),
            lamport: 0,
            next_token: 1,
            next_bcast: 1,
            deadline: None,
            stopped: false,
            draining: None,
            last_word: None,
            balance_at: None,
            joining: None,
            learned: BTreeSet::new(),
            stats: Stats::default(),
            frame: Frame::new(),
            chat,
            discovery: None,
        }
    }

    /// Handles one input. `out` must be empty or hold outputs the caller
    /// has not carried out yet; new outputs are appended.
    pub fn handle<R: CryptoRngCore>(
        &mut self,
        now: Instant,
        input: Input<'_>,
        rng: &mut R,
        out: &mut Outbox,
    ) {
        match input {
            Input::Start => self.start(now, rng),
            Input::Connected { link } => self.on_connected(now, link, out),
            Input::ConnectFailed { link } => {
                if self.links.remove(&link).is_some() {
                    out.note(Note::LinkDown {
                        link,
                        reason: CloseReason::ConnectFailed,
                    });
                    self.connect_failed(now, link, rng);
                }
            }
            Input::Frame { link, bytes } => self.on_frame(now, link, bytes, rng, out),
            Input::Closed { link } => {
                if self.links.contains_key(&link) {
                    self.drop_link(now, link, CloseReason::PeerClosed, false, rng, out);
                } else if self.chat.clients.contains_key(&link) {
                    self.client_closed(link, out);
                }
            }
            Input::Timeout => self.on_timeout(now, rng, out),
            Input::Operator(cmd) => self.on_command(now, cmd, rng, out),
            Input::Datagram { bytes } => self.on_datagram(now, bytes),
        }
        if !self.chat.starts_unarmed.is_empty() {
            self.arm_starts(now);
        }
        debug_assert!(
            self.chat.starts.values().all(Option::is_some),
            "a start point awaited but never timed"
        );
        if self.draining.is_some() {
            self.progress_shutdown(now, rng, out);
        }
        if self.discovery.is_some() {
            self.discovery_after(now, rng);
        }
        if self.chat.grace.is_some() {
            self.grace_after(now, out);
        }
        if self.chat.tokens.is_some() {
            self.tokens_after(now, rng, out);
        }
    }

    /// Registers an inbound connection and returns its id.
    pub fn accept(&mut self, now: Instant, out: &mut Outbox) -> LinkId {
        let id = self.open_link(now, None);
        out.note(Note::HandshakeStarted { link: id });
        id
    }

    /// Replaces the operator registry (a server was admitted).
    pub fn set_registry(&mut self, registry: Arc<Registry>) {
        self.registry = registry;
    }

    /// The next instant at which [`Input::Timeout`] should be delivered.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    /// A new link, outbound when it has a target; it must authenticate
    /// within the handshake timeout.
    fn open_link(&mut self, now: Instant, target: Option<Arc<str>>) -> LinkId {
        let id = LinkId(self.next_link);
        self.next_link += 1;
        let outbound = target.is_some();
        self.links.insert(
            id,
            Link {
                outbound,
                target,
                phase: if outbound {
                    Phase::Dialing
                } else {
                    Phase::AwaitLink
                },
                opened_at: now,
                last_rx: now,
                ping_sent: false,
                stamp: 0,
                tag: None,
                peer: None,
                burst_received: false,
            },
        );
        self.arm(now + self.cfg.handshake_timeout);
        id
    }

    /// Records a known server; every change to `known` goes through here
    /// or [`Server::unset_known`] so that `routes` stays in step.
    pub(crate) fn set_known(&mut self, id: u32, k: Known) -> Option<known::Was> {
        let code = k.sid.code();
        let via = k.via;
        // Routed through the neighbour now: nothing left to dispute.
        if !self.disputed.is_empty() {
            let name = self.known.ids().name(id).clone();
            self.disputed.remove(&(name, via));
        }
        // A later incarnation of a server that shut down is back: it takes
        // its streams up itself when it hears them.
        if self
            .chat
            .gone
            .get(&code)
            .is_some_and(|&g| g < k.incarnation)
        {
            self.chat.gone.remove(&code);
        }
        let old = self.known.set(id, k);
        if let Some(o) = &old {
            self.routes.remove(o.sid.code());
        }
        self.routes.insert(code, via);
        old
    }

    /// Removes these servers' records, and returns what each held.
    pub(crate) fn unset_known(&mut self, ids: &[u32]) -> Vec<Option<known::Was>> {
        let was = self.known.remove_all(ids);
        for old in was.iter().flatten() {
            let code = old.sid.code();
            if self.routes.get(code) == Some(old.via) {
                self.routes.remove(code);
            }
        }
        was
    }

    pub(crate) fn arm(&mut self, at: Instant) {
        self.deadline = Some(self.deadline.map_or(at, |d| d.min(at)));
    }

    pub(crate) fn dial<R: CryptoRngCore>(
        &mut self,
        now: Instant,
        to: Arc<str>,
        out: &mut Outbox,
        _rng: &mut R,
    ) -> LinkId {
        let id = self.open_link(now, Some(to.clone()));
        out.push(Output::Connect { link: id, to });
        id
    }

    #[inline(always)]
    fn on_frame<R: CryptoRngCore>(
        &mut self,
        now: Instant,
        link: LinkId,
        bytes: &[u8],
        rng: &mut R,
        out: &mut Outbox,
    ) {
        let Some(l) = self.links.get_mut(&link) else {
            if self.chat.clients.contains_key(&link) {
                self.stats.frames_in += 1;
                let mut frame = std::mem::take(&mut self.frame);
                match wire::decode_exact(bytes, &mut frame) {
                    Ok(()) => self.on_client_frame(now, link, &frame, rng, out),
                    Err(e) => {
                        self.stats.malformed += 1;
                        out.send(link, |b| {
                            Msg::Error {
                                reason: &e.to_string(),
                            }
                            .encode(b)
                        });
                    }
                }
                self.frame = frame;
            }
            return;
        };
        l.last_rx = now;
        l.ping_sent = false;
        // Read here, where the link is at hand: handling a message starts
        // from the phase the link had when the frame arrived.
        let registered = matches!(l.phase, Phase::Registered);
        let awaiting = matches!(l.phase, Phase::AwaitLink);
        let fetching = matches!(l.phase, Phase::Fetching);
        self.stats.frames_in += 1;
        if registered {
            // A flood's frame, read without decoding it into `self.frame`
            // and handled as `on_message` handles a BCAST on a registered
            // link (the general path below would end there too).
            if let Some(Msg::Bcast { origin, text, .. }) = Msg::parse_plain_bcast(bytes) {
                return self.on_bcast(link, origin, text, bytes, out);
            }
            // A room message on its way to the members, likewise read off
            // the bytes; one it refuses as malformed goes the general way,
            // which refuses it again and says why.
            if let Some(args) = wire::plain_args::<8>(bytes, "RMSG") {
                if self.on_numbered_args(link, args[0], args[2], bytes, out) {
                    return;
                }
            }
            // A message on its way to its sequencer, likewise (each of
            // its hops decoded it whole into `self.frame` and tried it as
            // a tree message first).
            if let Some(args) = wire::plain_args::<7>(bytes, "RSEND") {
                if self.on_rsend_args(link, args, bytes, out) {
                    return;
                }
            }
        }
        // The frame buffer is moved out so the parsed message can borrow it
        // while `self` is mutated.
        let mut frame = std::mem::take(&mut self.frame);
        match wire::decode_exact(bytes, &mut frame) {
            Ok(()) if fetching => self.on_sync_frame(now, link, &frame, rng, out),
            Ok(()) if awaiting && self.refuses_incoming() => {
                let why = "syncing, try later";
                self.error_and_close(now, link, why, CloseReason::HandshakeFailed, rng, out);
            }
            Ok(()) if awaiting && chat::opens_client(frame.command()) => {
                self.become_client(now, link, out);
                self.on_client_frame(now, link, &frame, rng, out);
                self.recompute_deadline();
            }
            Ok(()) => match Msg::parse(&frame) {
                Ok(msg) => self.on_message(now, link, registered, msg, bytes, rng, out),
                Err(e) if registered && e.problem == "unknown command" => {
                    self.on_chat_frame(now, link, &frame, bytes, rng, out)
                }
                Err(e) => {
                    self.stats.malformed += 1;
                    self.protocol_error(now, link, &e.to_string(), rng, out);
                }
            },
            Err(e) => {
                self.stats.malformed += 1;
                self.protocol_error(now, link, &e.to_string(), rng, out);
            }
        }
        self.frame = frame;
    }

    #[allow(clippy::too_many_arguments)]
    fn on_message<R: CryptoRngCore>(
        &mut self,
        now: Instant,
        link: LinkId,
        registered: bool,
        msg: Msg<'_>,
        raw: &[u8],
        rng: &mut R,
        out: &mut Outbox,
    ) {
        match msg {
            Msg::Ping { token } => out.send(link, |b| Msg::Pong { token }.encode(b)),
            Msg::Pong { token } => {
                if token == shutdown::LAST_WORD {
                    self.heard_last_word(link);
                }
            }
            Msg::Error { .. } => {
                self.drop_link(now, link, CloseReason::PeerClosed, false, rng, out)
            }
            Msg::Sclose { reason } => {
                let why = if reason == SHUTDOWN_REASON {
                    CloseReason::PeerShutdown
                } else {
                    CloseReason::PeerClosed
                };
                self.drop_link(now, link, why, false, rng, out)
            }
            Msg::Link { .. }
            | Msg::NewLink { .. }
            | Msg::Challenge { .. }
            | Msg::Response { .. }
            | Msg::Verified { .. } => self.on_handshake(now, link, msg, rng, out),
            _ if !registered => {
                if self.cfg.ablations.no_auth_before_state {
                    if let Msg::Server { .. } = msg {
                        return self.on_server(now, link, msg, rng, out);
                    }
                }
                self.protocol_error(now, link, "not registered", rng, out)
            }
            Msg::Server { .. } => self.on_server(now, link, msg, rng, out),
            Msg::Squit {
                name,
                incarnation,
                reason,
            } => {
                self.on_squit(link, name, incarnation, reason, out);
                // A SQUIT can take an autoconnect target out of reach as
                // surely as losing one of our own links: schedule it again,
                // or it is never redialled (its earlier attempt was skipped
                // while it was still known through someone else).
                self.after_split(now, rng);
            }
            Msg::Eob => {
                if let Some(l) = self.links.get_mut(&link) {
                    l.burst_received = true;
                }
                out.note(Note::BurstReceived { link });
            }
            Msg::Resync { names } => self.on_resync(link, names, out),
            Msg::Bcast { origin, text, .. } => self.on_bcast(link, origin, text, raw, out),
        }
    }

    /// Closes the link to the direct neighbour `peer` with SCLOSE.
    pub(crate) fn unlink_peer<R: CryptoRngCore>(
        &mut self,
        now: Instant,
        peer: &str,
        rng: &mut R,
        out: &mut Outbox,
    ) {
        let found = self
            .links
            .iter()
            .find(|(_, l)| l.peer.as_deref() == Some(peer))
            .map(|(id, _)| *id);
        if let Some(link) = found {
            // Don't dial it straight back.
            if let Some(t) = self.auto.iter_mut().find(|t| &*t.name == peer) {
                t.hold_off(now, self.cfg.reconnect_max);
            }
            out.send(link, |b| Msg::Sclose { reason: "operator" }.encode(b));
            self.drop_link(now, link, CloseReason::Operator, true, rng, out);
        }
    }

    fn on_command<R: CryptoRngCore>(
        &mut self,
        now: Instant,
        cmd: Command<'_>,
        rng: &mut R,
        out: &mut Outbox,
    ) {
        if self.stopped {
            return;
        }
        match cmd {
            Command::Connect { to } => {
                // Not while we already dial `to` or hold a registered link to
                // it. A second link to a live neighbour is resolved in
                // `register` partly by each end's own view of whether the old
                // link is stale (silent for a ping interval, which an idle
                // healthy link routinely is); the two ends could disagree, one
                // superseding the old link while the other refuses the new,
                // and the pair would be left with no link at all. That rule
                // assumes the dialler lost its old link; this keeps it true.
                let busy = self.links.values().any(|l| {
                    l.target.as_deref() == Some(to)
                        || (matches!(l.phase, Phase::Registered) && l.peer.as_deref() == Some(to))
                });
                if to != &*self.me.name && !busy {
                    self.dial(now, to.into(), out, rng);
                }
            }
            Command::Unlink { peer } => self.unlink_peer(now, peer, rng, out),
            Command::UnlinkAt { server, peer } => self.operator_unlink(now, server, peer, rng, out),
            Command::Kill { nick, comment } => self.operator_kill(nick, comment, out),
            Command::Broadcast { text } => {
                let id = self.next_bcast;
                self.next_bcast += 1;
                let sid = self.me.sid.clone();
                self.notice_local_clients(text, out);
                self.flood(
                    None,
                    |b| {
                        Msg::Bcast {
                            origin: &sid,
                            id,
                            text,
                        }
                        .encode(b)
                    },
                    out,
                );
            }
            Command::Shutdown => self.begin_shutdown(now, rng, out),
            Command::Register { name, sid, key } => self.register_server(name, sid, key, out),
            Command::Redirect { user, to } => {
                let uid = self
                    .resolve_nick(user)
                    .or_else(|| self.chat.users.get_key_value(user).map(|(u, _)| u.clone()));
                if let Some(uid) = uid {
                    let _ = self.start_redirect(now, &uid, to, rng, out);
                }
            }
        }
    }

    /// A broadcast is accepted only from the direction of its origin (named
    /// by SID), and forwarded byte for byte: re-encoding would only repeat
    /// the work the sender did.
    #[inline(always)]
    fn on_bcast(&mut self, link: LinkId, origin: &str, text: &str, raw: &[u8], out: &mut Outbox) {
        if self.route_by_sid(origin) != Some(link) && !self.cfg.ablations.no_bcast_direction {
            self.stats.misdirected += 1;
            out.note(Note::Misdirected {
                link,
                what: "BCAST",
            });
            return;
        }
        self.stats.broadcasts += 1;
        if !self.chat.clients.is_empty() {
            self.notice_local_clients(text, out);
        }
        self.flood(Some(link), chat::verbatim(raw), out);
    }

    /// Sends one frame on every registered link but `from`, encoding it once.
    /// Always inline: a forwarded BCAST's whole handling is a few steps
    /// around it.
    #[inline(always)]
    pub(crate) fn flood(
        &mut self,
        from: Option<LinkId>,
        encode: impl FnOnce(&mut Vec<u8>) -> Result<usize, crate::wire::WireError>,
        out: &mut Outbox,
    ) {
        let mut encode = Some(encode);
        let mut range = None;
        for (&l, link) in &self.links {
            if Some(l) == from || !matches!(link.phase, Phase::Registered) {
                continue;
            }
            if let Some(f) = encode.take() {
                range = out.encode(f);
            }
            let Some(r) = range else { return };
            out.send_again(l, r);
            self.stats.frames_out += 1;
        }
    }

    /// Answers a malformed or out-of-place frame with ERROR and closes.
    pub(crate) fn protocol_error<R: CryptoRngCore>(
        &mut self,
        now: Instant,
        link: LinkId,
        why: &str,
        rng: &mut R,
        out: &mut Outbox,
    ) {
        self.error_and_close(now, link, why, CloseReason::ProtocolError, rng, out);
    }

    /// Tells the peer why in an ERROR, then closes the link.
    pub(crate) fn error_and_close<R: CryptoRngCore>(
        &mut self,
        now: Instant,
        link: LinkId,
        why: &str,
        reason: CloseReason,
        rng: &mut R,
        out: &mut Outbox,
    ) {
        out.send(link, |b| Msg::Error { reason: why }.encode(b));
        self.drop_link(now, link, reason, true, rng, out);
    }

    /// Forgets a link, and with it every server reached through it. `close`
    /// says whether we end it (else the peer already did).
    pub(crate) fn drop_link<R: CryptoRngCore>(
        &mut self,
        now: Instant,
        link: LinkId,
        reason: CloseReason,
        close: bool,
        rng: &mut R,
        out: &mut Outbox,
    ) {
        let Some(l) = self.links.remove(&link) else {
            return;
        };
        if close {
            out.push(Output::Close { link });
        }
        out.note(Note::LinkDown { link, reason });
        if !matches!(l.phase, Phase::Registered) {
            if !matches!(l.phase, Phase::Dialing | Phase::Serving | Phase::Fetching) {
                self.stats.handshakes_failed += 1;
            }
            if l.outbound {
                self.connect_failed(now, link, rng);
            }
            return;
        }
        self.lose_link(link, l.peer.as_deref(), reason, out);
        self.after_split(now, rng);
    }
}

/// Read-only accessors: everything checkers and reports may see.
impl Server {
    pub fn name(&self) -> &str {
        &self.me.name
    }
    pub fn sid(&self) -> &str {
        &self.me.sid
    }
    pub fn incarnation(&self) -> u64 {
        self.me.incarnation
    }
    pub fn stats(&self) -> Stats {
        self.stats
    }
    pub fn config(&self) -> &Config {
        &self.cfg
    }
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }
    /// Shutting down: moving its clients away before closing its links.
    pub fn is_draining(&self) -> bool {
        self.draining.is_some()
    }

    /// Every other server this one knows, by name.
    pub fn known_servers(&self) -> impl Iterator<Item = KnownServer<'_>> {
        self.known.by_name().into_iter().map(KnownServer::of)
    }

    pub fn known_server(&self, name: &str) -> Option<KnownServer<'_>> {
        self.known.get(name).map(KnownServer::of)
    }

    /// The link toward the server with this SID, if known.
    #[inline]
    pub fn route_by_sid(&self, sid: &str) -> Option<LinkId> {
        // No alphanumeric check here: only valid SIDs' codes are stored, and
        // packing three bytes into a `u32` is one-to-one, so any other
        // three bytes simply miss.
        match *sid.as_bytes() {
            [a, b, c] => self.routes.get(pack_sid(a, b, c)),
            _ => None,
        }
    }

    pub fn known_count(&self) -> usize {
        self.known.len()
    }

    /// Every open or opening link.
    pub fn links(&self) -> impl Iterator<Item = LinkInfo<'_>> {
        self.links.iter().map(|(&id, l)| LinkInfo {
            id,
            phase: l.phase.public(),
            peer: l.peer.as_deref(),
            outbound: l.outbound,
            opened_at: l.opened_at,
            burst_received: l.burst_received,
        })
    }

    pub fn link(&self, id: LinkId) -> Option<LinkInfo<'_>> {
        self.links().find(|l| l.id == id)
    }

    pub fn link_phase(&self, id: LinkId) -> Option<LinkPhase> {
        self.links.get(&id).map(|l| l.phase.public())
    }

    pub fn autoconnect_targets(&self) -> &[AutoTarget] {
        &self.auto
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KnownServer<'a> {
    pub name: &'a str,
    pub sid: &'a str,
    pub incarnation: u64,
    pub hops: u32,
    pub uplink: &'a str,
    pub via: LinkId,
}

impl<'a> KnownServer<'a> {
    fn of(k: known::KnownRef<'a>) -> Self {
        KnownServer {
            name: k.name(),
            sid: k.sid_str(),
            incarnation: k.incarnation,
            hops: k.hops,
            uplink: k.uplink(),
            via: k.via,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkInfo<'a> {
    pub id: LinkId,
    pub phase: LinkPhase,
    pub peer: Option<&'a str>,
    pub outbound: bool,
    pub opened_at: Instant,
    pub burst_received: bool,
}

/// A SID packed into an integer: exactly three ASCII alphanumerics.
/// A SID held inline: three ASCII letters or digits, as `sid_code`
/// accepts (a server's SID is checked before it is stored).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Sid([u8; 3]);

impl Sid {
    pub fn new(sid: &str) -> Option<Sid> {
        sid_code(sid)?;
        let b = sid.as_bytes();
        Some(Sid([b[0], b[1], b[2]]))
    }

    pub fn as_str(&self) -> &str {
        // ASCII by construction.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The shared string the rest of the server keeps SIDs as.
    pub fn arc(&self) -> Arc<str> {
        crate::intern::arc(self.as_str())
    }

    pub fn code(&self) -> u32 {
        pack_sid(self.0[0], self.0[1], self.0[2])
    }
}

impl std::ops::Deref for Sid {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Debug for Sid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

pub(crate) fn sid_code(sid: &str) -> Option<u32> {
    match sid.as_bytes() {
        &[a, b, c] if [a, b, c].iter().all(u8::is_ascii_alphanumeric) => Some(pack_sid(a, b, c)),
        _ => None,
    }
}

#[inline]
fn pack_sid(a: u8, b: u8, c: u8) -> u32 {
    u32::from(a) << 16 | u32::from(b) << 8 | u32::from(c)
}

pub(crate) fn jitter<R: CryptoRngCore>(rng: &mut R, d: Duration) -> Duration {
    // Uniform in [d/2, d]: spreads retries without ever hammering early.
    let half = d.as_nanos() / 2;
    if half == 0 {
        return d;
    }
    Duration::from_nanos(half + rng.next_u64() % (half + 1))
}

#[cfg(test)]
mod discovery_tests;
#[cfg(test)]
mod tests;
