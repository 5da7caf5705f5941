//! What a protocol call asks its environment to do.
//!
//! Frames are encoded once into one shared byte buffer and referenced by
//! range, so a message forwarded to several links is encoded once and the
//! buffer is reused from call to call.

use std::sync::Arc;

use crate::room_text::RoomText;
use crate::wire::WireError;

/// A connection as one server numbers it. Ids are never reused by a
/// server process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize), serde(transparent))]
pub struct LinkId(pub u64);

/// Why a link ended, as the protocol saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "snake_case")
)]
pub enum CloseReason {
    PeerClosed,
    /// The peer closed with SCLOSE "shutting down": the tree is expected
    /// to re-form around it.
    PeerShutdown,
    /// Out of reach because the neighbour it was routed through shut
    /// down, though its own uplink lay elsewhere: said in the SQUIT for
    /// such a server, which unlike `PeerShutdown` does not say that
    /// server is shutting down. Never the reason a link closed.
    BehindShutdown,
    PingTimeout,
    HandshakeTimeout,
    HandshakeFailed,
    AlreadyRegistered,
    LoopBroken,
    Superseded,
    ProtocolError,
    Operator,
    ConnectFailed,
}

impl CloseReason {
    /// Whether what was lost with the link is expected back shortly by
    /// another way: a graceful shutdown (the tree re-forms around it) or
    /// a loop break (the other path stays). Rooms wait `relink_grace`
    /// before electing after such a loss. Not a superseded link: that is
    /// a restarted server replacing its dead incarnation.
    pub fn tree_reforms(self) -> bool {
        matches!(
            self,
            CloseReason::PeerShutdown | CloseReason::BehindShutdown | CloseReason::LoopBroken
        )
    }

    /// [`CloseReason::tree_reforms`] for a reason as a SQUIT carries it.
    pub fn reforms_by_text(text: &str) -> bool {
        [
            CloseReason::PeerShutdown,
            CloseReason::BehindShutdown,
            CloseReason::LoopBroken,
        ]
        .iter()
        .any(|r| r.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::PeerClosed => "peer closed",
            CloseReason::PeerShutdown => "peer shutting down",
            CloseReason::BehindShutdown => "behind a server shutting down",
            CloseReason::PingTimeout => "ping timeout",
            CloseReason::HandshakeTimeout => "handshake timeout",
            CloseReason::HandshakeFailed => "handshake failed",
            CloseReason::AlreadyRegistered => "already registered",
            CloseReason::LoopBroken => "loop broken",
            CloseReason::Superseded => "superseded by a newer link",
            CloseReason::ProtocolError => "protocol error",
            CloseReason::Operator => "closed by operator",
            CloseReason::ConnectFailed => "connect failed",
        }
    }
}

/// Observations for checkers and traces; a real daemon would log them.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(tag = "kind", rename_all = "snake_case")
)]
pub enum Note {
    HandshakeStarted {
        link: LinkId,
    },
    /// The peer proved its identity; the link now carries tree traffic.
    LinkRegistered {
        link: LinkId,
        peer: Arc<str>,
    },
    /// A link ended before or after registration.
    LinkDown {
        link: LinkId,
        reason: CloseReason,
    },
    ServerAdded {
        name: Arc<str>,
        via: LinkId,
    },
    ServerRemoved {
        name: Arc<str>,
        via: LinkId,
    },
    /// The peer's burst ended on this link.
    BurstReceived {
        link: LinkId,
    },
    /// A message was refused because it came from the wrong direction or
    /// named something unknown; the link stays up.
    Misdirected {
        link: LinkId,
        what: &'static str,
    },
    /// Something the user and room layer did (servers and clients).
    /// Serialised, it would carry two `kind` keys (this one's and the chat
    /// note's): serialise the `ChatNote` itself, as the simulator does.
    Chat(ChatNote),
    /// A newcomer's database sync began on this link (at both ends); the
    /// link ends when it is done and never joins the tree.
    SyncStarted {
        link: LinkId,
    },
    /// A newcomer's sync through `link` completed; it closes the link and
    /// dials again as a member.
    Synced {
        link: LinkId,
    },
    /// A newcomer is registered as a member through `via`: joining is over.
    Joined {
        via: Arc<str>,
    },
    /// Discovery chose `peer` from the WELCOMEs it held and dials it on
    /// `link`.
    DiscoveryDial {
        link: LinkId,
        peer: Arc<str>,
    },
}

/// A room's sequence: the epoch and the sequencer that numbers it, named
/// `SID-incarnation` (`0AB-3`). Numbers are unique within a stream, never
/// across streams. The incarnation is what keeps a restarted sequencer,
/// which has forgotten every number it issued, from numbering the same
/// stream again (as it keeps UIDs unique).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Stream {
    pub epoch: u64,
    pub seq: Arc<str>,
}

/// Observations of the user and room layer.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(tag = "kind", rename_all = "snake_case")
)]
pub enum ChatNote {
    /// Server: an inbound link turned out to be a client (its first frame
    /// was USER or NICK); registration starts. Client: it starts (or, after
    /// a rolled-back registration, restarts) registering on this link.
    ClientLink { link: LinkId },
    /// Client: registration on this link ended, welcomed or not. Server:
    /// the new link is a client handing over by redirect, not registering.
    RegistrationEnded { link: LinkId },
    /// Server: a client finished registering on this link.
    UserRegistered { link: LinkId, uid: Arc<str> },
    /// Server: two users claimed one nick; `survivor` keeps it (none when
    /// both lose it). `a_ts` and `b_ts` are the claims' timestamps: the same
    /// two users may collide again over later claims, with another outcome.
    Collision {
        nick: Arc<str>,
        a: Arc<str>,
        a_ts: u64,
        b: Arc<str>,
        b_ts: u64,
        survivor: Option<Arc<str>>,
    },
    /// Server: it sent a KILL, SAVE or REJECT for `uid` on its links. For
    /// a SAVE, `claim` is the timestamp of the nick claim it undoes (a user
    /// can lose one collision per nick it claims); KILL and REJECT end the
    /// user and have none.
    Resolution {
        uid: Arc<str>,
        // `kind` names the note itself in the trace.
        #[cfg_attr(feature = "serde", serde(rename = "resolution"))]
        kind: &'static str,
        claim: Option<u64>,
    },
    /// Server (sequencer): number `n` of the stream now carries `uid`'s message.
    Sequenced {
        room: Arc<str>,
        stream: Stream,
        n: u64,
        uid: Arc<str>,
        /// The message's id when it came with no number (`send =
        /// "at-once"`): its sender never learnt the number, so this is
        /// how the checkers learn whose message `n` is.
        at_once: Option<Arc<str>>,
    },
    /// Server (sequencer): number `n` will never carry a message.
    SeqSkipped {
        room: Arc<str>,
        stream: Stream,
        n: u64,
    },
    /// Client: registration finished.
    Welcome { uid: Arc<str>, nick: Arc<str> },
    /// Client: a room message was shown to the user.
    Delivered {
        room: Arc<str>,
        stream: Stream,
        n: u64,
        /// Sender and words (a trace shows its `from` UID and `text`).
        #[cfg_attr(feature = "serde", serde(flatten))]
        msg: RoomText,
    },
    /// Client: a number was passed over (skipped by the sequencer, or left
    /// behind when the room moved to a new stream).
    GapClosed {
        room: Arc<str>,
        stream: Stream,
        n: u64,
    },
    /// Client: its `k`-th room message went out with this number.
    Sent {
        room: Arc<str>,
        stream: Stream,
        n: u64,
        k: u64,
    },
    /// Client: a room message could not be sent. `k`: the message's count
    /// (as in `Sent`) if it had been queued; none for one refused as it was
    /// said (not connected, not a member).
    SendFailed {
        room: Arc<str>,
        reason: Arc<str>,
        k: Option<u64>,
    },
    /// Client: a private message, or (`list`) a list message to one
    /// recipient, could not be sent (not connected, no such nick,
    /// unreachable, refused, no answer, no direct link).
    PrivateFailed {
        to: Arc<str>,
        reason: Arc<str>,
        list: bool,
    },
    /// Client: a nick change was refused (by its server, or not connected).
    NickRefused { nick: Arc<str>, reason: Arc<str> },
    /// Client: it gave up registering on this link (no welcome in time, or
    /// every nick it tried was taken).
    RegistrationGivenUp { link: LinkId, reason: &'static str },
    /// Client: a room message arrived for a room it is not in.
    NotMember { room: Arc<str> },
    /// Client: a private message left over a direct link.
    PrivateSent { to: Arc<str>, text: Arc<str> },
    /// Client: a private message arrived over a direct link.
    PrivateReceived { from: Arc<str>, text: Arc<str> },
    /// Server (the sender's): a list message from the user `from` was
    /// addressed to these users (the nicks it named that it could
    /// resolve; the others were refused to the sender with LERR).
    ListAddressed {
        from: Arc<str>,
        to: Vec<Arc<str>>,
        text: Arc<str>,
    },
    /// Client: a list message from the nick `from` arrived.
    ListReceived { from: Arc<str>, text: Arc<str> },
    /// Server (the user's home): it asked to move `uid` to the server `to`
    /// (seamless redirect) under request `id`.
    MoveStarted {
        id: u64,
        uid: Arc<str>,
        to: Arc<str>,
    },
    /// Server (the target): the source's notice of request `id` arrived;
    /// its own clock for the request starts.
    MoveNoted { id: u64, uid: Arc<str> },
    /// Server: its end of request `id` ended; `source` tells which end.
    /// `outcome` is completed, refused, timed-out or cancelled.
    MoveEnded {
        id: u64,
        uid: Arc<str>,
        outcome: &'static str,
        source: bool,
    },
    /// Server (target): a HANDOVER on this new connection was refused.
    HandoverRefused { link: LinkId, reason: Arc<str> },
    /// Client: its registered session ended (not by a move), with the
    /// server's last ERROR reason, or "connection closed"; or its server
    /// closed a registration with an ERROR.
    Disconnected { reason: Arc<str> },
    /// Server (the greeter): it handed out this token for `audience`'s
    /// secret of `incarnation`, good until `expiry_ms` of the audience's
    /// wall clock.
    TokenIssued {
        token: Arc<str>,
        audience: Arc<str>,
        incarnation: u64,
        expiry_ms: u64,
    },
    /// Server (the greeter): its end of a login on this link ended with a
    /// token or a refusal.
    LoginAnswered { link: LinkId, outcome: &'static str },
    /// Server: it accepted this token on this link, at `wall_ms` of its
    /// wall clock, in its incarnation `incarnation`.
    TokenAccepted {
        link: LinkId,
        token: Arc<str>,
        wall_ms: u64,
        incarnation: u64,
    },
    /// Server: it refused a token on this link.
    TokenRefused { link: LinkId, reason: &'static str },
    /// Client: it started a login at the greeter.
    LoginStarted { greeter: Arc<str> },
    /// Client: its greeter login ended: with a session at `server`
    /// ("session"), by falling back to a full login at `server`
    /// ("fallback", with the reason), or because the user quit or
    /// connected again ("abandoned").
    LoginEnded {
        outcome: &'static str,
        server: Arc<str>,
        reason: Arc<str>,
    },
    /// Client: a token it presented as a probe (an attack) was answered.
    TokenAnswered {
        server: Arc<str>,
        attack: Arc<str>,
        answer: Arc<str>,
    },
    /// Client: a move from server `from` to server `to` ended.
    Moved {
        from: Arc<str>,
        to: Arc<str>,
        outcome: &'static str,
    },
}

/// An action for the environment. Notes are kept apart ([`Outbox::notes`]):
/// nearly every output is a send, and a send item is then 32 bytes rather
/// than the 88 of the largest note, which every send pushed and the
/// simulator read back at every hop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Transmit `bytes[start..end]` of the outbox on the link.
    Send { link: LinkId, start: u32, end: u32 },
    /// Open a connection to the named server; the environment answers
    /// with `Input::Connected` or `Input::ConnectFailed` for this id.
    Connect { link: LinkId, to: Arc<str> },
    /// Close the link (a FIN after anything already sent).
    Close { link: LinkId },
}

/// Reusable output buffer, cleared by the environment between calls.
#[derive(Default, Debug)]
pub struct Outbox {
    bytes: Vec<u8>,
    items: Vec<Output>,
    /// Some item is a `Connect`, which holds an `Arc`: clearing must then
    /// run the items' drop code. Nearly every call leaves only sends and
    /// closes, and clearing happens once per delivered frame.
    owning: bool,
    /// The notes of the call, in order, after its actions in the
    /// simulator's reading (it carries out every action, then hands the
    /// notes to its checkers).
    notes: Vec<Note>,
    /// Frames the encoder refused (too long, bad characters): a protocol
    /// bug surfaced instead of a malformed frame on the wire.
    pub encode_errors: u64,
}

impl Outbox {
    pub fn new() -> Self {
        Self::default()
    }

    #[inline(always)]
    pub fn clear(&mut self) {
        self.bytes.clear();
        if !self.notes.is_empty() {
            self.clear_notes();
        }
        if self.owning {
            self.owning = false;
            self.items.clear();
        } else {
            // SAFETY: length 0 is always within capacity and leaves no
            // element to be initialised. It skips the items' drop code,
            // which is correct because `owning` is false: no item holds an
            // `Arc` (no `Connect`), so dropping them would do nothing.
            unsafe { self.items.set_len(0) };
        }
    }

    /// Out of line: most calls note nothing, and the notes' drop code
    /// inline made every caller's `clear` too large to inline.
    #[inline(never)]
    fn clear_notes(&mut self) {
        self.notes.clear();
    }

    #[inline]
    pub fn items(&self) -> &[Output] {
        &self.items
    }

    #[inline]
    pub fn bytes(&self, start: u32, end: u32) -> &[u8] {
        &self.bytes[start as usize..end as usize]
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.items.is_empty() && self.notes.is_empty()
    }

    /// Whether the call noted something.
    #[inline]
    pub fn has_notes(&self) -> bool {
        !self.notes.is_empty()
    }

    /// The notes, in the order they were made.
    #[inline]
    pub fn notes(&self) -> &[Note] {
        &self.notes
    }

    /// Encodes one frame; returns its range for [`Outbox::send_again`].
    #[inline]
    pub fn encode(
        &mut self,
        f: impl FnOnce(&mut Vec<u8>) -> Result<usize, WireError>,
    ) -> Option<(u32, u32)> {
        let start = self.bytes.len();
        match f(&mut self.bytes) {
            Ok(_) => Some((start as u32, self.bytes.len() as u32)),
            Err(_) => {
                self.bytes.truncate(start);
                self.encode_errors += 1;
                None
            }
        }
    }

    #[inline]
    pub fn send(&mut self, link: LinkId, f: impl FnOnce(&mut Vec<u8>) -> Result<usize, WireError>) {
        if let Some(range) = self.encode(f) {
            self.send_again(link, range);
        }
    }

    /// Queues an already encoded frame on another link.
    #[inline]
    pub fn send_again(&mut self, link: LinkId, (start, end): (u32, u32)) {
        self.items.push(Output::Send { link, start, end });
    }

    #[inline]
    pub fn push(&mut self, o: Output) {
        self.owning |= matches!(o, Output::Connect { .. });
        self.items.push(o);
    }

    #[inline]
    pub fn note(&mut self, n: Note) {
        self.notes.push(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Mutation survivors: the reasons' texts (SQUITs carry them, and
    /// `reforms_by_text` reads them back) and the count of frames that
    /// could not be encoded.
    #[test]
    fn only_a_shutdown_or_a_loop_break_reforms_the_tree_by_its_text() {
        assert_eq!(CloseReason::PingTimeout.as_str(), "ping timeout");
        assert_eq!(CloseReason::LoopBroken.as_str(), "loop broken");
        for r in [
            CloseReason::PeerShutdown,
            CloseReason::BehindShutdown,
            CloseReason::LoopBroken,
        ] {
            assert!(CloseReason::reforms_by_text(r.as_str()) && r.tree_reforms());
        }
        for r in [
            CloseReason::PingTimeout,
            CloseReason::PeerClosed,
            CloseReason::Superseded,
        ] {
            assert!(!CloseReason::reforms_by_text(r.as_str()) && !r.tree_reforms());
        }
        assert!(!CloseReason::reforms_by_text("xyzzy"));
    }

    #[test]
    fn a_frame_that_fails_to_encode_is_counted_and_leaves_nothing() {
        let mut out = Outbox::new();
        for _ in 0..2 {
            let failing = |b: &mut Vec<u8>| {
                b.push(b'<');
                Err(WireError::new(crate::wire::WireErrorKind::Garbage, 0))
            };
            assert!(out.encode(failing).is_none());
        }
        assert_eq!(out.encode_errors, 2);
        assert!(out.is_empty());
    }

    /// Notes and actions are kept apart; either alone makes the outbox
    /// not empty (an `||` for the `&&` survived the mutants).
    #[test]
    fn a_note_alone_or_an_action_alone_is_not_empty() {
        let mut out = Outbox::new();
        assert!(out.is_empty());
        out.note(Note::BurstReceived { link: LinkId(1) });
        assert!(!out.is_empty() && out.items().is_empty() && out.has_notes());
        out.clear();
        out.push(Output::Close { link: LinkId(1) });
        assert!(!out.is_empty() && !out.has_notes());
        out.clear();
        assert!(out.is_empty());
    }

    #[test]
    fn clear_empties_and_releases_what_items_hold() {
        let name: Arc<str> = Arc::from("east");
        let mut out = Outbox::new();
        for round in 0..3 {
            out.send(LinkId(1), |b| {
                b.extend_from_slice(b"<PING,1>");
                Ok(8)
            });
            assert!(!out.has_notes(), "a send is not a note");
            out.note(Note::BurstReceived {
                link: LinkId(round),
            });
            if round != 1 {
                out.push(Output::Connect {
                    link: LinkId(2),
                    to: name.clone(),
                });
                out.note(Note::ServerAdded {
                    name: name.clone(),
                    via: LinkId(1),
                });
                assert_eq!(Arc::strong_count(&name), 3);
            }
            assert_eq!(out.bytes(0, 8), b"<PING,1>");
            assert!(!out.is_empty());
            assert!(out.has_notes());
            let burst = |n: &&Note| matches!(n, Note::BurstReceived { .. });
            assert_eq!(out.notes().iter().filter(burst).count(), 1);
            assert_eq!(out.notes().len(), if round != 1 { 2 } else { 1 });
            assert_eq!(out.items().len(), if round != 1 { 2 } else { 1 });
            out.clear();
            assert!(out.is_empty() && out.items().is_empty() && !out.has_notes());
            assert_eq!(Arc::strong_count(&name), 1);
        }
    }
}
