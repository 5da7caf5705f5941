//! A DRC client as a plain state machine, like [`crate::server::Server`].
//!
//! States: Idle -> Connecting -> Registering -> Connected, ending in Quit,
//! Killed or Disconnected. Room messages go out one at a time per room
//! (GETSEQ, NEWSEQ, CSEND, then the message's own echo), which keeps each
//! sender's messages in order even when one has to be retried. Incoming
//! room messages are delivered strictly in sequence order per stream; gaps
//! wait, and after `find_delay` the client asks its server (FINDSEQ).
//! Private messages go over a direct client-to-client link once the
//! recipient accepts; servers carry only the request and the answer.

mod delivery_log;
mod login;
mod moves;
mod private;
mod reconnect;
mod reorder_buf;
mod room_map;
mod rooms;

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::message::Msg;
use crate::names::fold;
use crate::outbox::{ChatNote, LinkId, Note, Outbox, Output};
use crate::server::chat_frame as frame;
use crate::time::{Duration, Instant};
use crate::wire::{self, parse_u64, Frame};
use room_map::RoomMap;

pub use delivery_log::DeliveryLog;
pub use reconnect::Reconnect;
pub use rooms::{split_id, RoomState};

/// Laid out by hand (`repr(C)`): the times and switches a client's
/// `poll_timeout` and its room deliveries read come first, next to the
/// client's own hot fields (see [`Client`]).
#[derive(Clone, Debug)]
#[repr(C)]
pub struct ClientConfig {
    /// The server's keepalive for its clients: it pings after
    /// `ping_interval` of silence and closes after `ping_timeout`, so the
    /// client gives its server up after both of silence.
    pub ping_interval: Duration,
    pub ping_timeout: Duration,
    /// A registration not welcomed within this long is given up (the
    /// client closes the link). `None`: wait forever (research switch).
    pub register_timeout: Option<Duration>,
    pub find_delay: Duration,
    /// How long a room message may wait for its number and its echo
    /// before the client asks again.
    pub send_timeout: Duration,
    /// How long a move may take before the client gives it up.
    pub redirect_timeout: Duration,
    /// How long a greeter login may take before the client falls back to
    /// a full login; `None`: wait forever (research switch).
    pub login_timeout: Option<Duration>,
    /// Send a room message's first try with no number (`CSEND` numbered
    /// 0), for the sequencer to number as it arrives, instead of asking
    /// for a number first (`protocol.send = "at-once"`).
    pub send_at_once: bool,
    /// Research switch: never ask about gaps.
    pub no_find: bool,
    /// Research switch: private texts that can no longer go (no answer,
    /// no direct link, the session ended, the user quit) are dropped
    /// without a word.
    pub no_private_ends: bool,
    /// Research switch: deliver the second copy of a retried message.
    pub no_dedup: bool,
    /// Keep the delivered messages in each room's [`DeliveryLog`], not
    /// only their numbers (a run whose summary lists no messages, with
    /// millions of deliveries, turns it off).
    pub keep_log: bool,
    pub accept_private: bool,
    /// Research switch: a JOINED is taken even for a room the user left
    /// after asking to join it.
    pub no_join_after_leave: bool,
    /// Research switch: while registering, a refusal of a nick other than
    /// the one we register under is taken as a refusal of our
    /// registration (and its nick retried with a `_`).
    pub no_stale_nickerr: bool,
    /// Research switch: a welcome under another nick than the last one
    /// we registered under leaves that registration's answer unawaited
    /// (the server takes it as a nick change, and its NICKOK is dropped).
    pub no_late_registration_nick: bool,
    /// Research switch: relay private text through the servers.
    pub relay_private: bool,
    /// Research switch: a failed message goes behind the ones queued after it.
    pub retry_to_back: bool,
    /// Research switch: during a move, deliver a message that arrives on
    /// both connections twice.
    pub no_redirect_dedup: bool,
    /// Research switch: a new session joins only `autojoin`, not the
    /// rooms the client was in.
    pub no_rejoin: bool,
    /// Research switch: after a move, do not ask again for the rooms
    /// whose join was not confirmed.
    pub no_move_rejoin: bool,
    /// Research switch: after a move, do not send again the nick changes
    /// and leaves that went to the old server and were not answered.
    pub no_move_resend: bool,
    /// Research switch: keep timing the old server out by silence once
    /// its connection closed during a move.
    pub no_move_watch: bool,
    /// Research switch: a leave goes at once, and the room's messages
    /// still on their way wait in its queue for a later join.
    pub no_leave_after_sends: bool,
    /// Follow a server's REDIRECT (false: refuse every one).
    pub accept_redirect: bool,
    pub nick: String,
    pub user: String,
    /// The real name USER gives.
    pub realname: String,
    /// Where other clients reach this one for private messages.
    pub addr: Arc<str>,
    /// Rooms to join once registered.
    pub autojoin: Vec<String>,
    /// Dial again after losing the server; `None`: stay disconnected.
    pub reconnect: Option<Reconnect>,
    /// Log in through this greeter (a server's name) rather than at the
    /// server a connect names, which becomes the fallback.
    pub greeter: Option<Arc<str>>,
    /// The room whose session the client asks the greeter for.
    pub session: Option<Arc<str>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientState {
    Idle,
    Connecting,
    Registering,
    Connected,
    Quit,
    Killed,
    Disconnected,
}

impl ClientState {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientState::Idle => "idle",
            ClientState::Connecting => "connecting",
            ClientState::Registering => "registering",
            ClientState::Connected => "connected",
            ClientState::Quit => "quit",
            ClientState::Killed => "killed",
            ClientState::Disconnected => "disconnected",
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub enum ClientInput<'a> {
    /// An outbound connection opened.
    Connected {
        link: LinkId,
    },
    ConnectFailed {
        link: LinkId,
    },
    Frame {
        link: LinkId,
        bytes: &'a [u8],
    },
    Closed {
        link: LinkId,
    },
    Timeout,
    Command(ClientCommand<'a>),
}

#[derive(Clone, Copy, Debug)]
pub enum ClientCommand<'a> {
    /// Connect to this server and register (with this nick, if given).
    Connect {
        server: &'a str,
        nick: Option<&'a str>,
    },
    Nick(&'a str),
    Create(&'a str),
    Join(&'a str),
    Leave(&'a str),
    Say {
        room: &'a str,
        text: &'a str,
    },
    SendList {
        to: &'a [String],
        text: &'a str,
    },
    Private {
        to: &'a str,
        text: &'a str,
    },
    /// Ask the server to move this client to the server `to`.
    Move {
        to: &'a str,
    },
    /// Leave with EXIT (the server closes at once) instead of QUIT (the
    /// server acknowledges with ERROR, then closes).
    Exit(&'a str),
    /// Ask for a room's members.
    Ulist(&'a str),
    /// Ask for the rooms.
    ListRooms,
    /// Present `token` to `server` on a connection of its own, and record
    /// the answer under `kind` (the simulator's token attacks).
    PresentToken {
        server: &'a str,
        kind: &'a str,
        token: &'a str,
    },
    Quit,
}

/// The most ULIST and LISTROOMS answers a client keeps.
const MAX_ANSWERS: usize = 1_000;

/// A private conversation's direct link.
#[derive(Clone, Debug)]
pub(crate) struct Peer {
    nick: Option<Arc<str>>,
    open: bool,
    queue: Vec<Arc<str>>,
}

/// Laid out by hand (`repr(C)`): what every frame from the server and
/// every `poll_timeout` read comes first, in the first six cache lines
/// of the boxed client (with the configuration's times and switches,
/// first in it), and a move and a greeter login in progress, rare and
/// large, are boxed. At 250,000 users nearly every client event finds
/// its client cold, and the compiler's layout spread those reads over
/// ten of its eighteen lines.
#[repr(C)]
pub struct Client {
    // Read at every frame or by every poll_timeout.
    last_rx: Instant,
    state: ClientState,
    ping_sent: bool,
    server: Option<(LinkId, Arc<str>)>,
    /// The link being registered on, and since when.
    registering: Option<(LinkId, Instant)>,
    /// After a QUIT: the link kept open for the server's ERROR, and
    /// until when it waits for it.
    quitting: Option<(LinkId, Instant)>,
    rooms: RoomMap<RoomState>,
    /// Private texts waiting for the recipient's answer, by folded nick.
    asked: BTreeMap<String, private::Asked>,
    /// Rooms whose next message may go (our own echo arrived).
    pending_pump: Vec<String>,
    redial: reconnect::Redial,
    /// A seamless redirect in progress.
    moving: Option<Box<moves::Moving>>,
    /// A greeter login in progress.
    login: Option<Box<login::Login>>,
    cfg: ClientConfig,
    // The rest.
    nick: Arc<str>,
    uid: Option<Arc<str>>,
    /// The UID of the client's first session: under `send = "at-once"`
    /// every message it says is named after it (see `Client::new_origin`).
    first_uid: Option<Arc<str>>,
    next_link: u64,
    next_k: u64,
    /// Direct links by link id.
    peers: BTreeMap<LinkId, Peer>,
    /// Private messages received: (from nick, text).
    private_log: Vec<(Arc<str>, Arc<str>)>,
    /// List messages received: (from nick, text).
    list_log: Vec<(Arc<str>, Arc<str>)>,
    notices: u64,
    /// Nicks tried during the current registration.
    nick_tries: u32,
    /// The nick the client was declared or last connected with: tried,
    /// with its variants, once the wanted nick's are all taken.
    own_nick: Arc<str>,
    /// The current registration tries `own_nick` and its variants.
    fell_back: bool,
    frame: Frame,
    /// The nick the user chose (the configured one, a connect command's,
    /// or the last accepted change): each registration starts with it.
    wanted_nick: Arc<str>,
    /// Rooms the user joined and did not leave, in joining order: joined
    /// again by every new session.
    wanted_rooms: Vec<Arc<str>>,
    /// The connection left by the last move, read until it closes.
    old_link: Option<LinkId>,
    /// Frames for the server held during a handover.
    held: Vec<(String, Vec<Box<str>>)>,
    /// Nick changes and leaves of this session not answered yet, in the
    /// order sent (see `moves.rs`).
    unanswered: Vec<moves::Unanswered>,
    /// Every move: (from, to, outcome).
    moves: Vec<(Arc<str>, Arc<str>, &'static str)>,
    /// The last ERROR from the server, the reason its session ends with.
    last_error: Option<Arc<str>>,
    /// How the current session was opened: "greeter" or "direct".
    login_kind: &'static str,
    /// Why the last greeter login fell back to a full login.
    fallback_reason: Option<Arc<str>>,
    /// The server the greeter's token opened the session on.
    session: Option<Arc<str>>,
    /// The sessions the greeter listed at the last login.
    sessions: Vec<(Arc<str>, Arc<str>)>,
    /// Token probes awaiting their answer, by link.
    probes: BTreeMap<LinkId, login::Probe>,
    /// Every probe's (server, kind, answer).
    probe_log: Vec<(Arc<str>, Arc<str>, Arc<str>)>,
    /// Answers to ULIST and LISTROOMS: (what was asked, the answer).
    answers: Vec<(Arc<str>, Vec<Arc<str>>)>,
    /// Questions asked and not answered yet, in order (answers come back
    /// in the order asked).
    asking: std::collections::VecDeque<Arc<str>>,
    /// The nick of the last registration NICK sent, until the server
    /// answers it (a refusal, or the welcome).
    registering_as: Option<Arc<str>>,
}

impl Client {
    pub fn new(cfg: ClientConfig) -> Self {
        let own_nick: Arc<str> = cfg.nick.as_str().into();
        Client {
            nick: own_nick.clone(),
            wanted_nick: own_nick.clone(),
            wanted_rooms: cfg.autojoin.iter().map(|r| r.as_str().into()).collect(),
            redial: reconnect::Redial::new(cfg.reconnect.as_ref()),
            cfg,
            state: ClientState::Idle,
            server: None,
            uid: None,
            first_uid: None,
            next_link: 1,
            last_rx: Instant::ZERO,
            registering: None,
            ping_sent: false,
            rooms: RoomMap::default(),
            next_k: 0,
            peers: BTreeMap::new(),
            asked: BTreeMap::new(),
            private_log: Vec::new(),
            list_log: Vec::new(),
            notices: 0,
            nick_tries: 0,
            own_nick,
            fell_back: false,
            frame: Frame::new(),
            pending_pump: Vec::new(),
            moving: None,
            old_link: None,
            held: Vec::new(),
            unanswered: Vec::new(),
            moves: Vec::new(),
            last_error: None,
            login: None,
            login_kind: "direct",
            fallback_reason: None,
            session: None,
            sessions: Vec::new(),
            probes: BTreeMap::new(),
            probe_log: Vec::new(),
            answers: Vec::new(),
            asking: std::collections::VecDeque::new(),
            registering_as: None,
            quitting: None,
        }
    }

    fn new_link(&mut self) -> LinkId {
        let l = LinkId(self.next_link);
        self.next_link += 1;
        l
    }

    /// An inbound connection (a peer opening a private link).
    pub fn accept(&mut self, _now: Instant, _out: &mut Outbox) -> LinkId {
        let l = self.new_link();
        self.peers.insert(
            l,
            Peer {
                nick: None,
                open: true,
                queue: Vec::new(),
            },
        );
        l
    }

    pub fn handle(&mut self, now: Instant, input: ClientInput<'_>, out: &mut Outbox) {
        match input {
            ClientInput::Connected { link } => self.on_connected(now, link, out),
            ClientInput::ConnectFailed { link } | ClientInput::Closed { link } => {
                self.on_closed(now, link, out)
            }
            ClientInput::Frame { link, bytes } => {
                // A plain RMSG from the server: most of what a client
                // hears, read straight off the bytes (as a server reads a
                // BCAST), with no `Frame` filled. Anything else, or an
                // RMSG on any other link, takes the general path below,
                // which handles it the same way. (A token probe has a link
                // of its own, never the server's: every link is numbered
                // afresh.)
                if self.server.as_ref().is_some_and(|(l, _)| *l == link) {
                    if let Some((args, text)) = wire::plain_args_in::<8>(bytes, "RMSG") {
                        self.last_rx = now;
                        self.ping_sent = false;
                        // The sender's four fields, the last of the frame,
                        // as one slice of it.
                        let from = args[4].as_ptr() as usize - text.as_ptr() as usize;
                        let span = text.get(from..);
                        return self.on_room_args(now, "RMSG", &args, span, out);
                    }
                }
                let mut f = std::mem::take(&mut self.frame);
                if wire::decode_exact(bytes, &mut f).is_ok() {
                    if self.probe_frame(link, &f, out) {
                    } else if self.server.as_ref().is_some_and(|(l, _)| *l == link) {
                        self.last_rx = now;
                        self.ping_sent = false;
                        if !self.login_frame(now, &f, out) {
                            self.on_server_frame(now, &f, out);
                        }
                    } else if self.moving.as_ref().is_some_and(|m| m.link == link) {
                        self.move_frame(now, &f, out);
                    } else if self.old_link == Some(link) {
                        if f.command() != "PING" {
                            self.on_server_frame(now, &f, out);
                        }
                    } else {
                        self.on_peer_frame(link, &f, out);
                    }
                }
                self.frame = f;
            }
            ClientInput::Timeout => self.on_timeout(now, out),
            ClientInput::Command(c) => self.on_command(now, c, out),
        }
    }

    /// The link to its server, while it has one.
    pub fn server_link(&self) -> Option<LinkId> {
        self.server.as_ref().map(|(l, _)| *l)
    }

    fn send(&mut self, out: &mut Outbox, cmd: &str, args: &[&str]) {
        if self.moving.as_ref().is_some_and(|m| m.handed) {
            let args = args.iter().map(|a| Box::from(*a)).collect();
            self.held.push((cmd.to_string(), args));
            return;
        }
        if let Some(l) = self.server_link() {
            out.send(l, frame(cmd, args));
        }
    }

    fn on_command(&mut self, now: Instant, c: ClientCommand<'_>, out: &mut Outbox) {
        if let ClientCommand::Connect { server, nick } = c {
            self.abandon_move(out);
            // A QUIT still waiting for its acknowledgement: its link is
            // closed just below, and an ERROR on the new session is not
            // that acknowledgement (found by the greeter swarm, seed 173).
            self.quitting = None;
            if let Some(l) = self.server_link() {
                out.push(Output::Close { link: l });
            }
            self.end_registration(out);
            if let Some(n) = nick {
                self.wanted_nick = n.into();
                self.own_nick = self.wanted_nick.clone();
            }
            // The configured rooms belong to every session, even after a quit.
            for r in self.cfg.autojoin.clone() {
                self.want_room(&r);
            }
            // A new session: rooms are joined afresh and their streams
            // resumed; what was delivered stays, and so does the memory of
            // who said what.
            self.session_ended(out);
            let server: Arc<str> = server.into();
            self.redial_home(&server);
            self.abandon_login("the user connected again", out);
            self.login_kind = "direct";
            self.session = None;
            match self.cfg.greeter.clone() {
                Some(g) => self.start_login(now, g, server, out),
                None => {
                    self.dial(now, server, out);
                }
            }
            return;
        }
        if let ClientCommand::PresentToken {
            server,
            kind,
            token,
        } = c
        {
            return self.present_token(server, kind, token, out);
        }
        match c {
            // Both hold whatever the state: a quit stops reconnecting, and
            // a room left while away is not joined again.
            ClientCommand::Quit => return self.quit(now, None, out),
            ClientCommand::Exit(message) => return self.quit(now, Some(message), out),
            ClientCommand::Leave(r) => return self.leave(r, out),
            _ => {}
        }
        if self.state != ClientState::Connected {
            let failed = |out: &mut Outbox, to: &str, list: bool| {
                let (to, reason) = (to.into(), "not connected".into());
                Self::note(out, ChatNote::PrivateFailed { to, reason, list });
            };
            match c {
                ClientCommand::Say { room, .. } => Self::note(
                    out,
                    ChatNote::SendFailed {
                        room: room.into(),
                        reason: "not connected".into(),
                        k: None,
                    },
                ),
                ClientCommand::Private { to, .. } => failed(out, to, false),
                ClientCommand::SendList { to, .. } => to.iter().for_each(|t| failed(out, t, true)),
                ClientCommand::Nick(nick) => Self::note(
                    out,
                    ChatNote::NickRefused {
                        nick: nick.into(),
                        reason: "not connected".into(),
                    },
                ),
                _ => {}
            }
            return;
        }
        match c {
            ClientCommand::Connect { .. }
            | ClientCommand::Quit
            | ClientCommand::Exit(_)
            | ClientCommand::Leave(_)
            | ClientCommand::PresentToken { .. } => {
                unreachable!("handled above")
            }
            ClientCommand::Ulist(room) => {
                self.ask(format!("ulist {room}"));
                self.send(out, "ULIST", &[room]);
            }
            ClientCommand::ListRooms => {
                self.ask("listrooms".into());
                self.send(out, "LISTROOMS", &[]);
            }
            ClientCommand::Nick(n) => {
                self.send(out, "NICK", &[n]);
                self.await_answer("NICK", n);
            }
            // A room being left is still a membership (its leave has not
            // gone): joining it again keeps it.
            ClientCommand::Create(r) | ClientCommand::Join(r) if self.stay(r) => {}
            ClientCommand::Create(r) => {
                self.want_room(r);
                self.send(out, "CREATEROOM", &[r]);
            }
            ClientCommand::Join(r) => {
                self.want_room(r);
                self.send(out, "JOINROOM", &[r]);
            }
            ClientCommand::Say { room, text } => self.say(now, room, text, out),
            ClientCommand::SendList { to, text } => {
                let mut args: Vec<&str> = vec![text];
                args.extend(to.iter().map(|s| s.as_str()));
                self.send(out, "LSEND", &args);
            }
            ClientCommand::Private { to, text } => self.private(now, to, text, out),
            ClientCommand::Move { to } => {
                if self.moving.is_none() {
                    self.send(out, "MOVEME", &[to]);
                }
            }
        }
    }

    /// The user leaves the network: no reconnecting, no rooms kept. With
    /// QUIT (`exit` None) the connection stays open for the server's
    /// ERROR, which acknowledges it, and closes then or after
    /// `ping_timeout` at the latest; with EXIT the server closes at once,
    /// so the client does too.
    fn quit(&mut self, now: Instant, exit: Option<&str>, out: &mut Outbox) {
        self.abandon_move(out);
        self.abandon_login("the user quit", out);
        let acked = self.state == ClientState::Connected && exit.is_none();
        if self.state == ClientState::Connected {
            match exit {
                None => self.send(out, "QUIT", &["leaving"]),
                Some("") => self.send(out, "EXIT", &[]),
                Some(m) => self.send(out, "EXIT", &[m]),
            }
        }
        match self.server_link() {
            Some(l) if acked => self.quitting = Some((l, now + self.cfg.ping_timeout)),
            Some(l) => out.push(Output::Close { link: l }),
            None => {}
        }
        self.end_registration(out);
        self.give_up_private("the user quit", out);
        for (&l, p) in &self.peers {
            if p.open {
                out.push(Output::Close { link: l });
            }
        }
        self.peers.clear();
        self.redial.at = None;
        self.wanted_rooms.clear();
        self.give_up_rooms(|_| true, "the user quit", out);
        self.state = ClientState::Quit;
    }

    /// `USER <user> <mode> <unused> <realname>`.
    fn send_user(&mut self, out: &mut Outbox) {
        let (user, realname) = (self.cfg.user.clone(), self.cfg.realname.clone());
        self.send(out, "USER", &[&user, "0", "*", &realname]);
    }

    fn ask(&mut self, what: String) {
        if self.asking.len() < MAX_ANSWERS {
            self.asking.push_back(what.into());
        }
    }

    fn want_room(&mut self, room: &str) {
        let key = fold(room);
        if !self.wanted_rooms.iter().any(|r| fold(r) == key) {
            self.wanted_rooms.push(room.into());
        }
    }

    fn unwant_room(&mut self, room: &str) {
        let key = fold(room);
        self.wanted_rooms.retain(|r| fold(r) != key);
    }

    fn on_connected(&mut self, now: Instant, link: LinkId, out: &mut Outbox) {
        if self.moving.as_ref().is_some_and(|m| m.link == link) {
            return self.move_connected(out);
        }
        if self.probe_connected(link, out) {
            return;
        }
        if self.server_link() == Some(link) && self.login_connected(now, link, out) {
            self.last_rx = now;
            return;
        }
        if self.server_link() == Some(link) {
            self.begin_registration(now, link, out);
            self.last_rx = now;
            self.send_user(out);
            self.send_registration_nick(out);
            return;
        }
        let me = self.nick.clone();
        if let Some(p) = self.peers.get_mut(&link) {
            p.open = true;
            out.send(link, frame("PHELLO", &[&me]));
            for text in std::mem::take(&mut p.queue) {
                out.send(link, frame("PTEXT", &[&text]));
                let to = p.nick.clone().unwrap_or_else(|| "".into());
                Self::note(out, ChatNote::PrivateSent { to, text });
            }
        }
    }

    fn on_closed(&mut self, now: Instant, link: LinkId, out: &mut Outbox) {
        if self.quitting.is_some_and(|(l, _)| l == link) {
            self.quitting = None;
            return;
        }
        if self.old_link == Some(link) {
            self.old_link = None;
            return;
        }
        if self.moving.as_ref().is_some_and(|m| m.link == link) {
            return self.move_failed(now, "cancelled", true, out);
        }
        if self.server_link() == Some(link) && self.move_old_closed() {
            // A registration rolled back on the old connection (a REJECT
            // of its nick) ends with that connection: the move goes on,
            // and if it fails the client dials afresh. Left open, it was
            // never ended (registration.finishes: swarm-chat seed 16946,
            // registration-on-a-moving-connection.toml).
            if self.registering.is_some_and(|(l, _)| l == link) {
                self.end_registration(out);
            }
            return;
        }
        if self.probe_closed(link, out) || self.login_closed(now, link, out) {
            return;
        }
        if self.server_link() == Some(link) {
            let told = self.last_error.take();
            let registered = self.state == ClientState::Connected;
            // A session rolled back to registering (a REJECT of its nick)
            // still ends with what the server said: a server shutting down
            // tells it so, and the user was told even if the nick was not
            // yet settled again (found by the discovery swarm, seed 7703:
            // shutdown-while-nick-rejected.toml).
            if registered || told.is_some() {
                let reason = told.unwrap_or_else(|| "connection closed".into());
                Self::note(out, ChatNote::Disconnected { reason });
            }
            self.end_registration(out);
            self.server = None;
            if matches!(
                self.state,
                ClientState::Connecting | ClientState::Registering | ClientState::Connected
            ) {
                self.state = ClientState::Disconnected;
                self.schedule_redial(now, registered, false);
            }
            self.session_ended(out);
        } else {
            self.peer_closed(link, out);
        }
    }

    fn on_server_frame(&mut self, now: Instant, f: &Frame, out: &mut Outbox) {
        if f.command() == "RMSG" {
            // Most of what a client hears, so not after thirty other names.
            return self.on_room_frame(now, f, out);
        }
        let a = |i: usize| f.arg(i).unwrap_or("");
        match f.command() {
            "PING" => {
                if let Some(t) = parse_u64(a(0)) {
                    if let Some(l) = self.server_link() {
                        out.send(l, |b| Msg::Pong { token: t }.encode(b));
                    }
                }
            }
            "WELCOME" => {
                // Welcomed under another nick than the one we last
                // registered under: a nick change sent before our
                // registration was rolled back reached the server after
                // the rollback and registered us. Our own registration
                // NICK, still on its way, reaches a registered user and
                // is taken as a nick change: its answer (NICKOK or
                // NICKERR) is one we await, or the client keeps the
                // welcome's nick while the servers hold the other
                // (client.nick: swarm-slow-links at 1 s hops, seeds
                // 32332 and 32808, registration-overtaken-by-a-change.toml).
                if let Some(sent) = self.registering_as.take() {
                    if *sent != *a(0) && !self.cfg.no_late_registration_nick {
                        self.await_answer("NICK", &sent);
                    }
                }
                self.login_welcomed(out);
                self.end_registration(out);
                self.state = ClientState::Connected;
                self.nick_tries = 0;
                self.fell_back = false;
                self.nick = a(0).into();
                let uid: Arc<str> = a(1).into();
                self.uid = Some(uid.clone());
                self.first_uid.get_or_insert_with(|| uid.clone());
                Self::note(
                    out,
                    ChatNote::Welcome {
                        uid,
                        nick: self.nick.clone(),
                    },
                );
                let rooms: Vec<Arc<str>> = if self.cfg.no_rejoin {
                    self.cfg
                        .autojoin
                        .iter()
                        .map(|r| r.as_str().into())
                        .collect()
                } else {
                    self.wanted_rooms.clone()
                };
                for r in rooms {
                    self.send(out, "JOINROOM", &[&r]);
                }
            }
            // A refusal, while registering, of a nick we are not
            // registering under: a nick change sent before our nick was
            // rejected, which reached the server once it had rolled our
            // registration back, and so was refused as a registration.
            // The change is refused; our registration is another nick,
            // still on its way. Retrying the change's nick as one (with a
            // `_`) registered us under the first and then changed the
            // nick to the retry, whose NICKOK answered nothing we awaited:
            // the client kept the first (client.nick: swarm-slow-links at
            // 1 s hops, seed 23679, nick-change-across-a-rejection.toml).
            "NICKERR"
                if self.state == ClientState::Registering
                    && *self.nick != *a(0)
                    && !a(1).starts_with("rejected")
                    && !self.cfg.no_stale_nickerr =>
            {
                // (The rollback forgot the changes it awaited: told here.)
                self.take_answer("NICK", a(0));
                Self::note(
                    out,
                    ChatNote::NickRefused {
                        nick: a(0).into(),
                        reason: a(1).into(),
                    },
                );
            }
            "NICKERR" if self.state == ClientState::Registering || a(1).starts_with("rejected") => {
                {
                    self.registering_as = None;
                    if self.state == ClientState::Connected {
                        // Our registration was rolled back: the welcome of
                        // the next one joins our rooms again.
                        self.session_ended(out);
                        self.uid = None;
                        if let Some(l) = self.server_link() {
                            self.begin_registration(now, l, out);
                        }
                    }
                    self.nick_tries += 1;
                    if self.nick_tries > 5
                        && !self.fell_back
                        && fold(&self.own_nick) != fold(&self.wanted_nick)
                    {
                        // The wanted nick and its five variants are taken
                        // (users contending for a few shared nicks, in
                        // every case, took them all): the client's own nick
                        // next, or it would give up at every registration
                        // while they are held (swarm-nicks, seeds 11, 89).
                        self.fell_back = true;
                        self.nick_tries = 0;
                        self.nick = self.own_nick.clone();
                        self.send_registration_nick(out);
                        return;
                    }
                    if self.nick_tries > 5 {
                        if self.nick_tries == 6 {
                            if let Some(link) = self.server_link() {
                                let reason = "every nick tried was taken";
                                Self::note(out, ChatNote::RegistrationGivenUp { link, reason });
                            }
                        }
                        return; // give up; the server times the registration out
                    }
                    let mut n = a(0).to_string();
                    if n.len() >= crate::names::MAX_NICK {
                        n.pop();
                    }
                    n.push('_');
                    self.nick = n.as_str().into();
                    self.send_registration_nick(out);
                }
            }
            // A nick change refused while registered: the old nick stays. An
            // answer to no change awaited is a second answer (one from
            // the old server after a move, which the new one answered
            // too, or one overtaken by a later change's): dropped.
            "NICKERR" if self.state == ClientState::Connected && self.take_answer("NICK", a(0)) => {
                Self::note(
                    out,
                    ChatNote::NickRefused {
                        nick: a(0).into(),
                        reason: a(1).into(),
                    },
                )
            }
            "NICKOK" if self.take_answer("NICK", a(0)) => {
                self.nick = a(0).into();
                self.wanted_nick = self.nick.clone();
            }
            "RENAMED" => self.nick = a(0).into(),
            "KILLED" => {
                self.abandon_move(out);
                if self.state == ClientState::Connected {
                    let reason: Arc<str> = format!("killed: {}", a(0)).into();
                    Self::note(out, ChatNote::Disconnected { reason });
                }
                self.state = ClientState::Killed;
                if let Some(l) = self.server_link() {
                    out.push(Output::Close { link: l });
                }
                self.server = None;
                self.session_ended(out);
                // A KILL here only ever settles a nick collision, so the
                // client comes back (with its nick taken, under another).
                self.schedule_redial(now, true, true);
            }
            "ROOMERR" => self.unwant_room(a(0)),
            "REDIRECT" => self.on_redirect(now, a(0), a(1), out),
            "REDIRCANCEL" => self.on_redircancel(now, f, out),
            "ERROR" if self.quitting.is_some() => {
                // The QUIT's acknowledgement: done.
                if let Some((l, _)) = self.quitting.take() {
                    out.push(Output::Close { link: l });
                }
            }
            "ERROR" => self.last_error = Some(a(0).into()),
            "USERS" | "ROOMS" => {
                let asked = self.asking.pop_front().unwrap_or_else(|| "?".into());
                if self.answers.len() < MAX_ANSWERS {
                    let answer = f.args().map(Arc::from).collect();
                    self.answers.push((asked, answer));
                }
            }
            "NOTICE" => self.notices += 1,
            "JOINED" => {
                let name = a(0);
                let key = fold(name);
                let wanted = self.wanted_rooms.iter().any(|r| fold(r) == key);
                let keep = self.cfg.keep_log;
                let r = self
                    .rooms
                    .get_or_insert_with(&key, || RoomState::new(name, keep));
                // The answer to a join the user has since taken back with
                // a leave (sent behind it, and answered LEFT next): the
                // room is known but not joined, so the traffic of the
                // short membership is dropped as a left room's is. Joined,
                // the client would take itself for a member the servers
                // no longer list, and its messages there would be refused
                // (swarm-greeter with leaves, seed 513).
                if !wanted && !self.cfg.no_join_after_leave {
                    return;
                }
                r.join();
                self.pump(now, &key, out);
            }
            "LEFT" => {
                self.take_answer("LEAVEROOM", a(0));
            }
            "SYNC" | "RMSG" | "SKIPSEQ" => self.on_room_frame(now, f, out),
            "NEWSEQ" | "NOSEQ" | "SENDFAIL" => self.on_seq_reply(now, f, out),
            "LMSG" => {
                let (from, text): (Arc<str>, Arc<str>) = (a(0).into(), a(1).into());
                self.list_log.push((from.clone(), text.clone()));
                Self::note(out, ChatNote::ListReceived { from, text });
            }
            "PRIVREQ" => {
                // fromnick, fromuid, addr
                let yes = self.cfg.accept_private;
                let addr = self.cfg.addr.clone();
                self.send(
                    out,
                    "PRIVANS",
                    &[a(1), if yes { "yes" } else { "no" }, &addr],
                );
            }
            "PRIVANS" => self.on_private_answer(a(0), a(1) == "yes", a(2), out),
            "PRIVERR" => self.on_private_refused(a(0), a(1), out),
            "LERR" => Self::note(
                out,
                ChatNote::PrivateFailed {
                    to: a(0).into(),
                    reason: a(1).into(),
                    list: true,
                },
            ),
            _ => {}
        }
    }

    fn on_timeout(&mut self, now: Instant, out: &mut Outbox) {
        if let Some((l, until)) = self.quitting {
            if now >= until {
                self.quitting = None;
                out.push(Output::Close { link: l });
            }
        }
        self.login_timeout(now, out);
        self.private_timeouts(now, out);
        self.redial_if_due(now, out);
        self.move_timeout(now, out);
        if let Some(l) = self.server_link() {
            let silent = now.saturating_since(self.last_rx);
            let limit = self.cfg.ping_timeout.as_nanos() + self.cfg.ping_interval.as_nanos();
            if self.watching_server() && silent.as_nanos() >= limit {
                out.push(Output::Close { link: l });
                self.on_closed(now, l, out);
                return;
            }
            let limit = self.cfg.register_timeout;
            if let (Some((rl, since)), Some(limit)) = (self.registering, limit) {
                if rl == l && now.saturating_since(since) >= limit {
                    let reason = "no welcome in time";
                    Self::note(out, ChatNote::RegistrationGivenUp { link: l, reason });
                    out.push(Output::Close { link: l });
                    self.on_closed(now, l, out);
                    return;
                }
            }
        }
        let keys: Vec<Arc<str>> = self.rooms.keys().cloned().collect();
        for k in keys {
            self.room_timers(now, &k, out);
        }
    }

    /// The next instant [`ClientInput::Timeout`] should be delivered.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut d: Option<Instant> = None;
        let mut at = |t: Instant| d = Some(d.map_or(t, |x: Instant| x.min(t)));
        if self.watching_server() {
            at(self.last_rx + self.cfg.ping_timeout + self.cfg.ping_interval);
        }
        if let (Some((_, since)), Some(limit)) = (self.registering, self.cfg.register_timeout) {
            at(since + limit);
        }
        if let Some(t) = self.redial.at {
            at(t);
        }
        if let Some(t) = self.login_deadline() {
            at(t);
        }
        if let Some((_, t)) = self.quitting {
            at(t);
        }
        if let Some(t) = self.move_deadline() {
            at(t);
        }
        if let Some(t) = self.private_deadline() {
            at(t);
        }
        for r in self.rooms.values() {
            if let Some(t) = r.deadline(&self.cfg) {
                at(t);
            }
        }
        d
    }

    /// Whether the client gives its server up after a silence. Not once
    /// the old connection of a move has closed: the move's own deadline
    /// bounds that wait, and a silence past the limit would otherwise ask
    /// for a wake-up in the past at every wake-up (found by swarm-chat
    /// seed 154 with users pinged after 2 s: a livelock at one instant).
    fn watching_server(&self) -> bool {
        self.server.is_some()
            && matches!(
                self.state,
                ClientState::Registering | ClientState::Connected
            )
            && (self.cfg.no_move_watch || !self.moving.as_ref().is_some_and(|m| m.old_closed))
    }

    fn begin_registration(&mut self, now: Instant, link: LinkId, out: &mut Outbox) {
        self.state = ClientState::Registering;
        self.registering = Some((link, now));
        self.unanswered.clear();
        self.registering_as = None;
        Self::note(out, ChatNote::ClientLink { link });
    }

    /// Registers (or tries again) under `self.nick`.
    fn send_registration_nick(&mut self, out: &mut Outbox) {
        let nick = self.nick.clone();
        self.send(out, "NICK", &[&nick]);
        self.registering_as = Some(nick);
    }

    fn end_registration(&mut self, out: &mut Outbox) {
        if let Some((link, _)) = self.registering.take() {
            Self::note(out, ChatNote::RegistrationEnded { link });
        }
    }

    fn note(out: &mut Outbox, n: ChatNote) {
        out.note(Note::Chat(n));
    }
}

/// Read-only views.
impl Client {
    pub fn state(&self) -> ClientState {
        self.state
    }
    pub fn nick(&self) -> &str {
        &self.nick
    }
    pub fn uid(&self) -> Option<&str> {
        self.uid.as_deref()
    }
    /// The server this client is connected (or connecting) to.
    pub fn server(&self) -> Option<&str> {
        self.server.as_ref().map(|(_, s)| &**s)
    }
    pub fn rooms(&self) -> impl Iterator<Item = &RoomState> {
        self.rooms.values()
    }
    pub fn room(&self, name: &str) -> Option<&RoomState> {
        self.rooms.get(&fold(name))
    }
    pub fn private_log(&self) -> &[(Arc<str>, Arc<str>)] {
        &self.private_log
    }
    pub fn list_log(&self) -> &[(Arc<str>, Arc<str>)] {
        &self.list_log
    }
    /// Every seamless redirect this client went through: (from, to, outcome).
    pub fn moves(&self) -> &[(Arc<str>, Arc<str>, &'static str)] {
        &self.moves
    }
    /// Each ULIST and LISTROOMS answer: what was asked ("ulist #room",
    /// "listrooms") and the answer's words (the room, then its members;
    /// or the rooms).
    pub fn answers(&self) -> &[(Arc<str>, Vec<Arc<str>>)] {
        &self.answers
    }
    /// A move is in progress (two server connections).
    pub fn is_moving(&self) -> bool {
        self.moving.is_some()
    }
    pub fn notices(&self) -> u64 {
        self.notices
    }
    /// The rooms the user joined and did not leave, which every new
    /// session joins again.
    pub fn wanted_rooms(&self) -> &[Arc<str>] {
        &self.wanted_rooms
    }
}

#[cfg(test)]
mod tests;
