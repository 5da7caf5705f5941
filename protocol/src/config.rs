//! Protocol settings and research switches.

use crate::time::Duration;

/// How a nick claimed on two servers at once is resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum NickCollision {
    KillBoth,
    #[default]
    TsKill,
    TsRename,
    Reject,
}

impl NickCollision {
    pub const ALL: [NickCollision; 4] = [
        NickCollision::KillBoth,
        NickCollision::TsKill,
        NickCollision::TsRename,
        NickCollision::Reject,
    ];

    /// The spelling used in scenario files.
    pub fn as_str(self) -> &'static str {
        match self {
            NickCollision::KillBoth => "kill-both",
            NickCollision::TsKill => "ts-kill",
            NickCollision::TsRename => "ts-rename",
            NickCollision::Reject => "reject",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// How room messages are sequenced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Ordering {
    #[default]
    Epoch,
    Home,
}

impl Ordering {
    pub const ALL: [Ordering; 2] = [Ordering::Epoch, Ordering::Home];

    /// The spelling used in scenario files.
    pub fn as_str(self) -> &'static str {
        match self {
            Ordering::Epoch => "epoch",
            Ordering::Home => "home",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// How a client sends a room message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum SendMode {
    /// Ask the sequencer for a number (GETSEQ), then send the message with
    /// it (CSEND): two trips to the sequencer and back before the members
    /// hear of it.
    #[default]
    AskFirst,
    /// Send the message with no number (CSEND numbered 0) and let the
    /// sequencer number it as it arrives: one trip. A retry asks first.
    AtOnce,
}

impl SendMode {
    pub const ALL: [SendMode; 2] = [SendMode::AskFirst, SendMode::AtOnce];

    /// The spelling used in scenario files.
    pub fn as_str(self) -> &'static str {
        match self {
            SendMode::AskFirst => "ask-first",
            SendMode::AtOnce => "at-once",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// Protections that can be switched off to study what catches their absence.
/// A production network never sets any of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Ablations {
    /// Accept a SERVER for a name already known instead of breaking the loop.
    pub no_loop_check: bool,
    /// Apply a SQUIT whatever link it arrives on.
    pub no_squit_direction: bool,
    /// Accept a BCAST whatever link it arrives on.
    pub no_bcast_direction: bool,
    /// Burst servers children-first instead of parents-first.
    pub no_burst_order: bool,
    /// Record the peer's claimed identity before the handshake proves it.
    pub no_auth_before_state: bool,
    /// Never give up on a handshake that stalls.
    pub no_handshake_timeout: bool,
    /// Apply a SQUIT but do not pass it on.
    pub no_squit_forward: bool,
    /// Resolve a nick collision by arrival order instead of (timestamp, UID).
    pub no_collision_order: bool,
    /// Let a sequencer accept a message for a number it did not hand to its sender.
    pub no_seq_check: bool,
    /// Send room traffic to every local client, members or not.
    pub no_room_routing: bool,
    /// Clients relay private text through their servers instead of a direct link.
    pub no_direct_private: bool,
    /// Build UIDs without the server's incarnation.
    pub no_uid_incarnation: bool,
    /// Name room streams by the sequencer's SID without its incarnation.
    pub no_seq_incarnation: bool,
    /// Pass on every KILL or SAVE received, not only the first.
    pub no_resolution_once: bool,
    /// Clients put a message that failed behind the ones queued after it.
    pub no_retry_order: bool,
    /// Keep the users of servers that left the view.
    pub no_split_users: bool,
    /// Clients never ask about gaps (no FINDSEQ).
    pub no_gap_recovery: bool,
    /// Clients deliver the second copy of a retried message.
    pub no_dedup: bool,
    /// During a move, clients deliver a message that arrives on both
    /// connections twice.
    pub no_redirect_dedup: bool,
    /// Accept a KILL, SAVE or REJECT whatever link it arrives on.
    pub no_collision_direction: bool,
    /// Do not ask a neighbour for the users of a server newly routed through it.
    pub no_user_resync: bool,
    /// Drop a re-introduced UID of a killed, rejected or saved user
    /// silently instead of answering its side with the resolution.
    pub no_resolution_answer: bool,
    /// Clients never reconnect after losing their server.
    pub no_client_reconnect: bool,
    /// A client's new session joins only its configured rooms, not the
    /// ones it had joined.
    pub no_client_rejoin: bool,
    /// A member's server never asks the sequencer again for a start point
    /// that did not arrive.
    pub no_start_retry: bool,
    /// A member's server does not ask again for its members' start points
    /// when a room's sequencer comes back into its view.
    pub no_start_recheck: bool,
    /// The target takes a handover whatever its id, and the source commits
    /// a request it already ended.
    pub no_handover_id: bool,
    /// A shutting-down server drops the clients it could not move
    /// without telling them why.
    pub no_shutdown_reason: bool,
    /// Only the target applies a UMOVE: every other server keeps the old home.
    pub no_home_move: bool,
    /// The target takes a moved user out of its rooms and back in (new
    /// memberships), as a handover done by re-registering would.
    pub no_seamless_rooms: bool,
    /// A newcomer accepts connections while it syncs.
    pub no_sync_refuse: bool,
    /// Bursts carry no registrations made at run time.
    pub no_registry_burst: bool,
    /// A shutting-down server leaves the streams it sequences behind.
    pub no_sequencer_handoff: bool,
    /// A room whose sequencer shut down for good without handing it over
    /// waits for it forever, under `home`.
    pub no_gone_sequencer: bool,
    /// After a move, a client does not ask again for the rooms whose join
    /// was not confirmed.
    pub no_move_rejoin: bool,
    /// A server answers a JOINROOM from a user already a member of the
    /// room with JOINED alone, without its start point.
    pub no_rejoin_start: bool,
    /// After a move, a client does not send again the nick changes and
    /// leaves that went to the old server and were not answered.
    pub no_move_resend: bool,
    /// A client still times its old server out by silence after the old
    /// connection closed during a move.
    pub no_move_watch: bool,
    /// A client's leave goes at once, and the room's messages still on
    /// their way wait in its queue for a join that may never come.
    pub no_leave_after_sends: bool,
    /// A client drops the private texts that can no longer go (no answer,
    /// no direct link, the session ended, the user quit) without a word.
    pub no_private_ends: bool,
    /// A server drops a list copy whose user it routes back where the
    /// copy came from (a user that moved while the copy was on its way).
    pub no_list_return: bool,
    /// A request named for a server that has handed the stream over is
    /// served there as any named request, not sent on named for the holder.
    pub no_request_names_holder: bool,
    /// A successor keeps every start point handed over with the stream,
    /// even one given to an earlier membership of a member that left and
    /// joined again while the stream was in flight.
    pub no_start_membership: bool,
    /// A client takes the JOINED answering a join it has since taken back
    /// with a leave.
    pub no_join_after_leave: bool,
    /// Membership ids count per server, as at first, and are not unique
    /// in the network.
    pub no_unique_memid: bool,
    /// A server answers a client's LEAVEROOM with LEFT but keeps the
    /// membership.
    pub no_leave_ends_membership: bool,
    /// Requests for numbers that waited out a handover are sent again
    /// toward the room's sequencer as the next server sees it, not toward
    /// the holder the old sequencer named.
    pub no_handoff_reask: bool,
    /// A request for a number that would go back the way its member is
    /// is refused, instead of sent on named for the sequencer.
    pub no_request_named: bool,
    /// A server shutting down closes its links while a stream it agreed
    /// to take still waits for the old sequencer's go.
    pub no_drain_waits_go: bool,
    /// A successor that said it is ready to take a stream (RSEQTAKE) never
    /// says it again while it waits for the go.
    pub no_take_reask: bool,
    /// An old sequencer that lets go of a handover it decided, with no
    /// receipt, leaves without saying who holds the stream, and a
    /// successor takes a stream only at the go itself.
    pub no_holder_word: bool,
    /// A server that a move completes at introduces the moved user
    /// nowhere (a description of its users it sent while the move was in,
    /// a burst, stays without it), and a server that catches up on a move
    /// from a UID does not pass it on.
    pub no_move_introduce: bool,
    /// A server shutting down hands over only the streams it sequenced
    /// when the shutdown began.
    pub no_drain_new_streams: bool,
    /// A server that dropped a user at a UMOVE to a server it did not
    /// know then does not ask for that server's users when it learns the
    /// server in a burst.
    pub no_ask_after_unseen_move: bool,
    /// A registering client takes a refusal of any nick as a refusal of
    /// its registration.
    pub no_stale_nickerr: bool,
    /// A client welcomed under another nick than the one it last
    /// registered under does not await that registration's answer.
    pub no_late_registration_nick: bool,
    /// A server that asked a neighbour for a server's users (USYNC) drops
    /// every user the answer leaves out, even one that moved to another
    /// server since it asked.
    pub no_sync_moved: bool,
    /// A shutting-down server tells the clients it could not move why it
    /// lets them go only once its streams are handed over.
    pub no_prompt_goodbye: bool,
    /// A server that took a stream over forgets the start points its own
    /// members still await instead of giving them.
    pub no_taker_starts: bool,
    /// Under `send = "at-once"`, number every message where it arrives,
    /// without keeping each origin's messages in its order.
    pub no_origin_order: bool,
    /// A server that moved its route to a server onto a neighbour's link
    /// does not withdraw its old introduction there when that neighbour
    /// takes the server from it.
    pub no_route_withdraw: bool,
    /// A SQUIT for a server we route elsewhere removes nothing, not even
    /// what we still route through the sender by way of that server.
    pub no_squit_strays: bool,
    /// A successor keeps one handover offer a room, not one a stream: a
    /// second stream's state replaces the first's, and a go takes whichever
    /// offer has its handover number.
    pub no_offer_per_stream: bool,
    /// A server handing a stream over takes any RHOLDER naming its
    /// successor and the handover's number as its receipt, whichever
    /// stream of the room it names.
    pub no_receipt_per_stream: bool,
    /// A server that drops a restarted peer's earlier incarnation, held
    /// by another route, when the peer registers a link to it tells
    /// nobody: its other links learn the new incarnation only from the
    /// peer's burst.
    pub no_ghost_squit: bool,
    /// A server shutting down that had nobody in view to hand a stream to
    /// when its shutdown began keeps it, even if servers come into view
    /// before it closes.
    pub no_drain_kept_streams: bool,
    /// A server that refuses a KILL, SAVE or REJECT as misdirected, for a
    /// user it holds, drops it without a word, instead of telling the
    /// sender the user (its UID) so that the sender answers with the
    /// resolution as its issuer.
    pub no_resolution_reask: bool,
    /// A member's server forgets its local members' requests for numbers
    /// once they are sent: one whose sequencer a graceful shutdown takes
    /// out of its view is left to the client's retry.
    pub no_request_reask: bool,
    /// A server handing a room's stream over refuses a message whose
    /// number it took back at the handover (or that came with none) as
    /// any other ("not the sequencer"), and the client counts the refusal
    /// as one of its tries.
    pub no_handover_refusal: bool,
    /// A server ignores a UMOVE for a user it does not hold, instead of
    /// asking the neighbour it came from, when that neighbour is its route
    /// to the move's target, for the target's users.
    pub no_unknown_move_ask: bool,
    /// A shutting-down server closes its links at once, without waiting
    /// for its neighbours' answer to its last word.
    pub no_last_word: bool,
    /// A seeker dials any server that answered its HELLO, registered or not.
    pub no_discovery_registry: bool,
    /// A seeker stops looking at any registered link, even one another
    /// seeker dialled to it.
    pub no_discovery_uplink: bool,
    /// A session server forgets the nonces it accepted: a token works twice.
    pub no_token_replay: bool,
    /// A session server accepts a token made out for another server.
    pub no_token_audience: bool,
    /// A session server accepts a token past its expiry.
    pub no_token_expiry: bool,
    /// A client waits for the greeter forever instead of falling back to a
    /// full login after `login_timeout`.
    pub no_login_timeout: bool,
}

/// Every ablation by its scenario name, what it removes, and the invariant
/// that should catch its absence.
pub const ABLATIONS: &[(&str, &str, &str)] = &[
    (
        "loop-check",
        "accept a SERVER for a name already known instead of breaking the loop",
        "tree.acyclic",
    ),
    (
        "squit-direction",
        "apply a SQUIT from any direction",
        "msg.direction",
    ),
    (
        "bcast-direction",
        "accept a BCAST from any direction",
        "msg.direction",
    ),
    (
        "burst-order",
        "burst servers children before parents",
        "tree.view",
    ),
    (
        "auth-before-state",
        "record the claimed identity before the handshake proves it",
        "auth.before_state",
    ),
    (
        "handshake-timeout",
        "never abandon a stalled handshake",
        "handshake.finishes",
    ),
    (
        "squit-forward",
        "apply a SQUIT without passing it on",
        "ghost.server",
    ),
    (
        "collision-order",
        "resolve a nick collision by arrival order instead of (timestamp, UID)",
        "nick.deterministic",
    ),
    (
        "seq-check",
        "let a sequencer accept a message for a number it did not hand out or already skipped",
        "order.seq_safety",
    ),
    (
        "room-routing",
        "send room traffic to every local client, members or not",
        "room.membership",
    ),
    (
        "direct-private",
        "relay private text through the servers",
        "private.direct",
    ),
    (
        "uid-incarnation",
        "build UIDs without the server's incarnation",
        "users.unique",
    ),
    (
        "seq-incarnation",
        "name a room stream's sequencer without its incarnation",
        "order.seq_safety",
    ),
    (
        "resolution-once",
        "pass on every KILL or SAVE received, not only the first",
        "collision.bounded",
    ),
    (
        "retry-order",
        "a client retries a failed message after the ones queued behind it",
        "order.fifo",
    ),
    (
        "split-users",
        "keep the users of servers that left the view",
        "ghost.user",
    ),
    (
        "gap-recovery",
        "clients never ask about gaps (no FINDSEQ)",
        "order.liveness",
    ),
    (
        "dedup",
        "clients deliver the second copy of a retried message",
        "order.once",
    ),
    (
        "redirect-dedup",
        "during a move, clients deliver a message that arrives on both connections twice",
        "order.once",
    ),
    (
        "collision-direction",
        "accept a KILL, SAVE or REJECT from any direction",
        "msg.direction",
    ),
    (
        "user-resync",
        "never ask for the users of a server routed through a new link",
        "users.agree",
    ),
    (
        "resolution-answer",
        "drop a UID re-introduced for a killed or renamed user without telling its side",
        "users.agree",
    ),
    (
        "client-reconnect",
        "clients never reconnect after losing their server",
        "client.liveness",
    ),
    (
        "client-rejoin",
        "a reconnected client does not rejoin the rooms it had joined",
        "client.rooms",
    ),
    (
        "start-retry",
        "a member's server never asks again for a start point (RSTART) lost on the way",
        "order.liveness",
    ),
    (
        "start-recheck",
        "a member's server does not ask again for its members' start points when a room's sequencer comes back into its view after a split, so a start point the sequencer gave anew meanwhile (it had dropped the membership) and lost on the way is never known",
        "order.liveness",
    ),
    (
        "handover-id",
        "a redirect's target accepts any request id, and its source commits a request it already ended",
        "redirect.finishes",
    ),
    (
        "shutdown-reason",
        "a server shutting down drops the clients it could not move without telling them why",
        "shutdown.drains",
    ),
    (
        "home-move",
        "only a redirect's target applies the move: every other server keeps the user's old home",
        "redirect.single",
    ),
    (
        "seamless-rooms",
        "the target takes a moved user out of its rooms and back in, with new memberships",
        "redirect.continuity",
    ),
    (
        "sync-refuse",
        "a newcomer accepts connections while it syncs through its sponsor",
        "sync.refuses",
    ),
    (
        "registry-burst",
        "bursts carry no registrations made at run time, so a part cut off while one flooded never learns it",
        "registry.agrees",
    ),
    (
        "sequencer-handoff",
        "a shutting-down server leaves the room streams it sequences behind instead of handing them over (the servers left elect another sequencer for them, so the room goes on in a new stream)",
        "stream.kept",
    ),
    (
        "move-rejoin",
        "after a move a client does not ask again for the rooms whose join it sent and saw no answer to: a join sent on the old connection just before the handover can reach the source after it let the user go, and is lost",
        "client.rooms",
    ),
    (
        "rejoin-start",
        "a server answers a join from a user already a member of the room with JOINED alone: a client moved while its join was on the old connection drops the start point the new server sends it before the old one's JOINED arrives, joins the room again there, and waits for good for a start point that never comes",
        "order.liveness",
    ),
    (
        "move-resend",
        "after a move a client does not send again the nick changes and leaves it sent on the old connection and saw no answer to: one sent just before the handover can reach the source after it let the user go, and is lost",
        "client.nick",
    ),
    (
        "move-watch",
        "a client still times its old server out by silence once the old connection has closed during a move: past the limit it asks for a wake-up already due at every wake-up",
        "timer.advances",
    ),
    (
        "leave-after-sends",
        "a client leaves a room at once, and the messages its user said there that are still on their way wait in the room's queue for a join that may never come: neither sent nor refused, and the user is never told",
        "send.settled",
    ),
    (
        "private-ends",
        "a client drops without a word the private texts that can no longer go: a request never answered, a direct link that never opened, a session that ended while its requests waited, a quit",
        "private.settled",
    ),
    (
        "last-word",
        "a shutting-down server closes its links as soon as its clients have moved, and so drops what its neighbours sent it before they heard of the moves: a list message's copy for a user it just moved, which it would have sent back toward the user's new server",
        "list.kept",
    ),
    (
        "list-return",
        "a server drops a list message's copy for a user it routes back where the copy came from: a copy sent toward a user's old server while the user moved reaches a server that has heard of the move, which drops it instead of sending it back toward the new one",
        "list.kept",
    ),
    (
        "leave-ends-membership",
        "a server answers a client's leave but keeps its membership: the servers list the user in a room it left, and send it that room's traffic",
        "client.rooms",
    ),
    (
        "unique-memid",
        "membership ids count per server and repeat across servers: a user who joins again on another server after a move can get the id of the membership it left, and a leave or a start point of the old one passes for the new one's",
        "order.seq_safety",
    ),
    (
        "join-after-leave",
        "a client takes the JOINED answering a join it has since taken back with a leave: it counts itself a member of a room the servers no longer list it in, and its messages there are refused",
        "send.kept",
    ),
    (
        "start-membership",
        "a successor keeps a start point handed over for an earlier membership of its member: a user who left and joined again while the stream was in flight is started where its first membership began, and is sent every message since again",
        "order.seq_safety",
    ),
    (
        "request-names-holder",
        "a request named for a server that has handed the stream over is served there like any named request, not sent on named for the holder: a neighbour that has not heard the new holder sends it back named again, until the old sequencer refuses it once its member has moved on",
        "send.kept",
    ),
    (
        "gone-sequencer",
        "under `home`, a room whose sequencer shut down without handing it over (a home that restarted and shut down before it heard of the room) waits for it forever instead of electing another",
        "room.sequenced",
    ),
    (
        "handoff-reask",
        "the requests for numbers a sequencer held while handing its stream over go out again as any request does, routed by the next server's view, which may not know the new holder yet and send them straight back",
        "send.kept",
    ),
    (
        "drain-waits-go",
        "a server shutting down closes its links while a stream it agreed to take still waits for the old sequencer's go, so the stream is left with nobody (and the servers left start it afresh in a new epoch)",
        "stream.kept",
    ),
    (
        "take-reask",
        "a successor that said it is ready to take a stream (RSEQTAKE) never says it again, so a take or a go lost with a link that closed on the way (a second server shutting down beside the first) leaves the stream with nobody",
        "stream.kept",
    ),
    (
        "holder-word",
        "an old sequencer that told its successor to go, and had no receipt back, leaves without saying who holds the stream, and the successor takes the stream only at the go: a go lost while the tree re-forms around a second server shutting down leaves the stream with nobody (the successor's repeated take finds no way to the old sequencer before it leaves)",
        "stream.kept",
    ),
    (
        "move-introduce",
        "a server that a move completes at introduces the moved user to nobody, though a burst it sent while the move was in left the user out, and a server that catches up on a move from a UID does not pass it on: a server that dropped the user at the UMOVE, because the target was behind a split from it then, never learns the user again",
        "users.agree",
    ),
    (
        "drain-new-streams",
        "a server shutting down hands over only the streams it sequenced when the shutdown began: a room created there by a join that arrived during the drain stops with the server, and the servers left start it afresh",
        "stream.kept",
    ),
    (
        "ask-after-unseen-move",
        "a server that dropped a user at a UMOVE, because the move's target was out of its view then, takes the target's users from the next burst that brings the target, without asking: a burst sent before its sender learned the move leaves the user out, and a neighbour that learned the user from this server never tells it again, so the user is lost here for good",
        "users.agree",
    ),
    (
        "stale-nickerr",
        "a registering client takes a refusal of any nick as a refusal of its registration: a nick change sent just before its nick was rejected, refused as a registration, is retried with a `_` while another registration is on its way, and the client ends up known to the servers by a nick it does not know it has",
        "client.nick",
    ),
    (
        "late-registration-nick",
        "a client welcomed under another nick than the one it last registered under (a nick change sent before its registration was rolled back registered it) drops the answer to its own registration NICK, which the server took as a nick change: the servers hold the client by that nick, and the client goes by the welcome's",
        "client.nick",
    ),
    (
        "sync-moved",
        "a server that asked a neighbour for a server's users (USYNC) drops every user the answer leaves out, even one that moved to another server since it asked, so the moved user is lost there for good",
        "users.agree",
    ),
    (
        "prompt-goodbye",
        "a shutting-down server tells the clients it could not move why it lets them go only once its streams are handed over, which with nobody in reach takes rounds: a client can time the server out first, never told",
        "shutdown.drains",
    ),
    (
        "taker-starts",
        "a server that takes a stream over forgets the start points its own members still await (the old sequencer's RSTART was lost) instead of giving them from the state it took, so those members never sync",
        "order.liveness",
    ),
    (
        "route-withdraw",
        "a server that moved its route to a server onto a neighbour's link and then lost it by that neighbour's SQUIT does not withdraw what it had introduced there by the old route: the introduction, crossing the neighbour's own and arriving after the neighbour lost its route, is a ghost of a live server that nothing removes",
        "ghost.server",
    ),
    (
        "squit-strays",
        "a SQUIT from a neighbour for a server we have moved onto another route is dropped whole, though servers that hung under it stayed behind on the old route (their uplink moved, the new route had not introduced them): they stay routed through a neighbour that has dropped them, it never learns them back from us, and the live route, when it comes, is refused as a loop with a newer link",
        "tree.view",
    ),
    (
        "offer-per-stream",
        "a successor keeps one handover offer a room: two servers shutting down that each created the room while draining and handed their streams to it at once (both the streams' first handover) leave it the second's state only, and the go for the first, naming just the room and the handover's number, is spent on that offer, which the room, merged onto the first stream, no longer follows: the stream the room is on is left with nobody, a request for a number is refused and the room starts afresh",
        "send.kept",
    ),
    (
        "receipt-per-stream",
        "a server handing a stream over takes any RHOLDER that names its successor and the handover's number as its receipt, whichever stream of the room it names: two servers that each created the room hand their two streams to one successor, each as its first handover, and the first stream's RHOLDER, reaching the second's old sequencer before the successor's take, lets that stream go untold; its successor's take finds nobody to answer it, a request for a number is refused, and the room starts afresh in a new epoch",
        "send.kept",
    ),
    (
        "ghost-squit",
        "a server that drops a restarted peer's earlier incarnation (held by another route) when the peer registers a link to it tells its other links nothing, leaving it to the peer's burst: if the link closes before the burst arrives, the servers that had the ghost from it keep it for good, since the SQUIT of the neighbour that times the ghost out finds it gone there and goes no further",
        "ghost.server",
    ),
    (
        "drain-kept-streams",
        "a server shutting down that had nobody in view to hand a stream to when its shutdown began (its view empty, the burst of a neighbour it had just linked to still on its way) keeps the stream, though that burst arrives before its last word is answered: the room stops with the server, and the servers left start it afresh in a new epoch",
        "stream.kept",
    ),
    (
        "resolution-reask",
        "a server that refuses a KILL, SAVE or REJECT as misdirected (its tree being reshaped just then) drops it though it holds the user it names, and tells the sender nothing: the sender applied it and sends it no more, the issuer's own copy went another way, and the refusing server's side keeps the user for good",
        "users.agree",
    ),
    (
        "request-reask",
        "a member's server forgets a local member's request for a number once it is sent: a request that a server shutting down passed on in its last moments is answered back through it after it closed, or one reaches it after it closed, and the answer is lost; the member's server, which saw the sequencer leave its view and come back when the tree re-formed, never asks again, and the client's tries are spent",
        "send.kept",
    ),
    (
        "handover-refusal",
        "a server handing a room's stream over refuses a message whose number it took back at the handover's start (its NEWSEQ still on its way to the sender), or one sent with no number, as any other (\"not the sequencer\"), and the client counts the refusal as one of its three tries: a message whose earlier tries went with sessions a nick collision ended is given up",
        "send.kept",
    ),
    (
        "unknown-move-ask",
        "a server ignores a UMOVE for a user it does not hold, though the neighbour that sends it is its route to the move's target: a server that had applied the move asked that neighbour for the target's users (USYNC, its route to the target having changed), and the neighbour, the move not yet reaching it, answered without the user; the asker dropped the user as gone, the UMOVE came right behind the answer and found nobody, and nothing introduced the user to that server or the ones behind it again",
        "users.agree",
    ),
    (
        "origin-order",
        "under send = \"at-once\" the sequencer numbers every message where it arrives, even a copy held up by a stalled link whose sender has since said more: it reaches the members after the sender's later messages",
        "order.fifo",
    ),
    (
        "request-named",
        "a request for a number whose sequencer lies the way its member is (a tree re-formed while the request waited, a stream handed over behind it) is refused instead of sent on named for the sequencer",
        "send.kept",
    ),
    (
        "discovery-registry",
        "a seeker dials any server that answered its HELLO, even one the registry does not know",
        "discovery.registered",
    ),
    (
        "discovery-uplink",
        "a seeker stops looking at any registered link, even one another seeker dialled, so two seekers can settle as an island",
        "discovery.converges",
    ),
    (
        "token-replay",
        "a session server keeps no memory of the nonces it accepted, so a token works twice",
        "token.once",
    ),
    (
        "token-audience",
        "a session server accepts a token made out for another server",
        "token.once",
    ),
    (
        "token-expiry",
        "a session server accepts a token past its expiry",
        "token.once",
    ),
    (
        "login-timeout",
        "a client waits for the greeter forever instead of falling back to a full login",
        "login.finishes",
    ),
];

/// The names of [`ABLATIONS`].
pub const ABLATION_NAMES: [&str; ABLATIONS.len()] = {
    let mut names = [""; ABLATIONS.len()];
    let mut i = 0;
    while i < ABLATIONS.len() {
        names[i] = ABLATIONS[i].0;
        i += 1;
    }
    names
};

impl Ablations {
    /// Switches one ablation on by name; false for an unknown name.
    pub fn enable(&mut self, name: &str) -> bool {
        let flag = match name {
            "loop-check" => &mut self.no_loop_check,
            "squit-direction" => &mut self.no_squit_direction,
            "bcast-direction" => &mut self.no_bcast_direction,
            "burst-order" => &mut self.no_burst_order,
            "auth-before-state" => &mut self.no_auth_before_state,
            "handshake-timeout" => &mut self.no_handshake_timeout,
            "squit-forward" => &mut self.no_squit_forward,
            "collision-order" => &mut self.no_collision_order,
            "seq-check" => &mut self.no_seq_check,
            "room-routing" => &mut self.no_room_routing,
            "direct-private" => &mut self.no_direct_private,
            "uid-incarnation" => &mut self.no_uid_incarnation,
            "seq-incarnation" => &mut self.no_seq_incarnation,
            "resolution-once" => &mut self.no_resolution_once,
            "retry-order" => &mut self.no_retry_order,
            "split-users" => &mut self.no_split_users,
            "gap-recovery" => &mut self.no_gap_recovery,
            "dedup" => &mut self.no_dedup,
            "redirect-dedup" => &mut self.no_redirect_dedup,
            "collision-direction" => &mut self.no_collision_direction,
            "user-resync" => &mut self.no_user_resync,
            "resolution-answer" => &mut self.no_resolution_answer,
            "client-reconnect" => &mut self.no_client_reconnect,
            "client-rejoin" => &mut self.no_client_rejoin,
            "start-retry" => &mut self.no_start_retry,
            "start-recheck" => &mut self.no_start_recheck,
            "handover-id" => &mut self.no_handover_id,
            "shutdown-reason" => &mut self.no_shutdown_reason,
            "home-move" => &mut self.no_home_move,
            "seamless-rooms" => &mut self.no_seamless_rooms,
            "sync-refuse" => &mut self.no_sync_refuse,
            "registry-burst" => &mut self.no_registry_burst,
            "sequencer-handoff" => &mut self.no_sequencer_handoff,
            "gone-sequencer" => &mut self.no_gone_sequencer,
            "request-names-holder" => &mut self.no_request_names_holder,
            "start-membership" => &mut self.no_start_membership,
            "join-after-leave" => &mut self.no_join_after_leave,
            "unique-memid" => &mut self.no_unique_memid,
            "leave-ends-membership" => &mut self.no_leave_ends_membership,
            "move-rejoin" => &mut self.no_move_rejoin,
            "rejoin-start" => &mut self.no_rejoin_start,
            "move-resend" => &mut self.no_move_resend,
            "move-watch" => &mut self.no_move_watch,
            "leave-after-sends" => &mut self.no_leave_after_sends,
            "private-ends" => &mut self.no_private_ends,
            "list-return" => &mut self.no_list_return,
            "handoff-reask" => &mut self.no_handoff_reask,
            "request-named" => &mut self.no_request_named,
            "drain-waits-go" => &mut self.no_drain_waits_go,
            "take-reask" => &mut self.no_take_reask,
            "holder-word" => &mut self.no_holder_word,
            "move-introduce" => &mut self.no_move_introduce,
            "drain-new-streams" => &mut self.no_drain_new_streams,
            "ask-after-unseen-move" => &mut self.no_ask_after_unseen_move,
            "stale-nickerr" => &mut self.no_stale_nickerr,
            "late-registration-nick" => &mut self.no_late_registration_nick,
            "sync-moved" => &mut self.no_sync_moved,
            "prompt-goodbye" => &mut self.no_prompt_goodbye,
            "taker-starts" => &mut self.no_taker_starts,
            "origin-order" => &mut self.no_origin_order,
            "route-withdraw" => &mut self.no_route_withdraw,
            "squit-strays" => &mut self.no_squit_strays,
            "offer-per-stream" => &mut self.no_offer_per_stream,
            "receipt-per-stream" => &mut self.no_receipt_per_stream,
            "ghost-squit" => &mut self.no_ghost_squit,
            "drain-kept-streams" => &mut self.no_drain_kept_streams,
            "resolution-reask" => &mut self.no_resolution_reask,
            "request-reask" => &mut self.no_request_reask,
            "handover-refusal" => &mut self.no_handover_refusal,
            "unknown-move-ask" => &mut self.no_unknown_move_ask,
            "last-word" => &mut self.no_last_word,
            "discovery-registry" => &mut self.no_discovery_registry,
            "discovery-uplink" => &mut self.no_discovery_uplink,
            "token-replay" => &mut self.no_token_replay,
            "token-audience" => &mut self.no_token_audience,
            "token-expiry" => &mut self.no_token_expiry,
            "login-timeout" => &mut self.no_login_timeout,
            _ => return false,
        };
        *flag = true;
        true
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub nick_collision: NickCollision,
    pub ordering: Ordering,
    /// How clients send room messages.
    pub send: SendMode,
    /// Silence on a link after which its end sends PING.
    pub ping_interval: Duration,
    /// Silence on a link after which its end closes it.
    pub ping_timeout: Duration,
    /// The same two for a server's clients (and the client's own watch on
    /// its server). Real networks ping idle users every few minutes and
    /// their links far more often; the defaults equal the link's.
    pub client_ping_interval: Duration,
    pub client_ping_timeout: Duration,
    /// First autoconnect retry delay; doubles per failure up to `reconnect_max`.
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
    /// A link must finish authenticating within this long of opening.
    pub handshake_timeout: Duration,
    /// How long a sequencer keeps a number for its holder before skipping it.
    pub seq_hold: Duration,
    /// How long a client waits on a gap before asking FINDSEQ (and between asks).
    pub find_delay: Duration,
    /// How long a given-up nick still finds its user.
    pub nick_history: Duration,
    /// How long either end of a seamless redirect waits for it to finish.
    pub redirect_timeout: Duration,
    /// After a neighbour shuts down gracefully, how long rooms whose
    /// sequencer went out of reach wait for the tree to re-form before
    /// electing a new epoch (under `home`, before refusing), requests for
    /// numbers waiting with them; zero does not wait, as after a crash.
    pub relink_grace: Duration,
    /// Move local clients to less loaded servers when this server holds
    /// clearly more than its share (checked every `ping_interval`).
    pub balance: bool,
    /// The server that greets clients and hands out session tokens, when
    /// the network has one (see `server/chat/greeter.rs`).
    pub greeter: Option<std::sync::Arc<str>>,
    /// How long a token the greeter hands out stays good.
    pub token_ttl: Duration,
    /// How far past its expiry a session server still takes a token: the
    /// error of the greeter's estimate of the session server's clock.
    pub token_leeway: Duration,
    /// How often a server sends its secret and clock to the greeter again
    /// (besides whenever a new greeter incarnation appears).
    pub secret_refresh: Duration,
    /// How long a client's login through the greeter may take, from
    /// dialling the greeter to the session's welcome, before the client
    /// falls back to a full login at a server of its own.
    pub login_timeout: Duration,
    pub ablations: Ablations,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            nick_collision: NickCollision::default(),
            ordering: Ordering::default(),
            send: SendMode::default(),
            ping_interval: Duration::from_secs(5),
            ping_timeout: Duration::from_secs(15),
            client_ping_interval: Duration::from_secs(5),
            client_ping_timeout: Duration::from_secs(15),
            reconnect_min: Duration::from_secs(1),
            reconnect_max: Duration::from_secs(30),
            handshake_timeout: Duration::from_secs(10),
            seq_hold: Duration::from_secs(10),
            find_delay: Duration::from_secs(2),
            nick_history: Duration::from_secs(30),
            redirect_timeout: Duration::from_secs(5),
            relink_grace: Duration::from_secs(3),
            balance: false,
            greeter: None,
            token_ttl: Duration::from_secs(30),
            token_leeway: Duration::from_secs(2),
            secret_refresh: Duration::from_secs(30),
            login_timeout: Duration::from_secs(10),
            ablations: Ablations::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_policy_name_reads_back_as_its_policy() {
        for p in NickCollision::ALL {
            assert_eq!(NickCollision::from_name(p.as_str()), Some(p));
        }
        for o in Ordering::ALL {
            assert_eq!(Ordering::from_name(o.as_str()), Some(o));
        }
        for m in SendMode::ALL {
            assert_eq!(SendMode::from_name(m.as_str()), Some(m));
        }
        assert_eq!(SendMode::from_name("at_once"), None);
        assert_eq!(NickCollision::from_name("ts_kill"), None);
        assert_eq!(Ordering::from_name("Epoch"), None);
    }

    #[test]
    fn every_ablation_name_switches_its_own_flag_and_only_that() {
        let mut seen: Vec<Ablations> = Vec::new();
        for name in ABLATION_NAMES {
            let mut a = Ablations::default();
            assert!(a.enable(name), "{name} is not enabled by its name");
            assert_ne!(a, Ablations::default(), "{name} changed nothing");
            assert!(!seen.contains(&a), "{name} shares a flag with another");
            seen.push(a);
        }
        assert!(!Ablations::default().enable("no-such-ablation"));
    }
}
