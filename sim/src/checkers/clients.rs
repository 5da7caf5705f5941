//! `client.liveness`, `client.rooms` and `client.nick`: at a quiet end,
//! every client that wants to be connected and can be is connected,
//! registered, in every room its user joined and did not leave, and in no
//! other; every nick change its user asked for in the session was
//! answered, and it goes by the nick its server holds for it.
//!
//! What the user wants is taken from the scenario (its declarations and
//! the client actions the world hands out), never from the client's own
//! bookkeeping, so a client that forgets a room or stops dialling is
//! caught rather than believed.

use drc_protocol::vec_map::VecMap;
use std::collections::BTreeMap;
use std::sync::Arc;

use drc_protocol::client::ClientState;
use drc_protocol::names::fold;
use drc_protocol::wire::{self, Frame};

use super::chat::room_key;
use super::graph::Components;
use super::Violation;
use crate::network::HostId;
use crate::scenario::Action;
use crate::world::World;

#[derive(Default)]
pub struct ClientChecks {
    /// Per client host: its configured rooms (joined in every session).
    autojoin: BTreeMap<HostId, Vec<String>>,
    /// Per client host: the rooms its user joined and did not leave, by
    /// folded name.
    rooms: BTreeMap<HostId, BTreeMap<String, String>>,
    /// Per client host: the nick changes its user asked for in the current
    /// session that no NICKOK or NICKERR has answered, in order, with the
    /// time asked (ms).
    nicks: BTreeMap<HostId, Vec<(String, u64)>>,
}

impl ClientChecks {
    /// A client host and the rooms its declaration joins.
    pub fn declare(&mut self, h: HostId, join: &[String]) {
        self.autojoin.insert(h, join.to_vec());
        let rooms = self.rooms.entry(h).or_default();
        for r in join {
            rooms.insert(fold(r), r.clone());
        }
    }

    /// A client action, before the client handles it. `connected`: the
    /// client is registered, so a join or create is sent (a client that
    /// is not answers "not connected" and forgets the command).
    pub fn on_action(&mut self, h: HostId, action: &Action, connected: bool, ms: u64) {
        let rooms = self.rooms.entry(h).or_default();
        match action {
            Action::Connect { .. } => {
                for r in self.autojoin.get(&h).into_iter().flatten() {
                    rooms.insert(fold(r), r.clone());
                }
            }
            Action::Join { room, .. } | Action::Create { room, .. } if connected => {
                rooms.insert(fold(room), room.clone());
            }
            Action::Leave { room, .. } => {
                rooms.remove(&fold(room));
            }
            Action::Quit { .. } => rooms.clear(),
            _ => {}
        }
        match action {
            Action::Nick { nick, .. } if connected => {
                self.nicks.entry(h).or_default().push((nick.clone(), ms));
            }
            Action::Connect { .. } | Action::Quit { .. } => self.session_ended(h),
            _ => {}
        }
    }

    /// Client `h`'s session ended (or a registration began again): what it
    /// asked for there is no longer owed an answer.
    pub fn session_ended(&mut self, h: HostId) {
        self.nicks.remove(&h);
    }

    /// A NICKOK or NICKERR reached client `h`. Its server answers in the
    /// order asked, so it settles that change and every one asked before
    /// it; an answer to none awaited (a second one, after a move) is
    /// ignored.
    pub fn nick_answered(&mut self, h: HostId, bytes: &[u8]) {
        let mut f = Frame::new();
        let (Some(asked), Ok(())) = (self.nicks.get_mut(&h), wire::decode_exact(bytes, &mut f))
        else {
            return;
        };
        let nick = f.arg(0).unwrap_or("");
        if let Some(i) = asked.iter().position(|(n, _)| n == nick) {
            asked.drain(..=i);
        }
    }

    /// A ROOMERR reached client `h`: that room was not joined (a create
    /// of a room that exists).
    pub fn refused(&mut self, h: HostId, bytes: &[u8]) {
        let mut f = Frame::new();
        if wire::decode_exact(bytes, &mut f).is_ok() {
            if let (Some(room), Some(rooms)) = (f.arg(0), self.rooms.get_mut(&h)) {
                rooms.remove(&fold(room));
            }
        }
    }
}

/// Judges every client at a quiet end. `comps`: the components of
/// running servers.
pub fn converge(w: &World, comps: &Components) -> Vec<Violation> {
    let ms = w.now / 1_000_000;
    let mut out = Vec::new();
    let mut v = |inv: &'static str, host: &str, detail: String| {
        out.push(Violation {
            invariant: inv,
            time_ms: ms,
            host: Some(host.to_string()),
            detail,
        })
    };
    // A server whose rooms (names, streams, memberships) are those of the
    // first server of its component answers every membership question
    // below as that one does, so only one of them is asked (and only its
    // memberships gathered): clients × servers searches become about one
    // per client and room.
    let mut like: BTreeMap<HostId, HostId> = BTreeMap::new();
    for comp in &comps.list {
        let servers: Vec<(HostId, &drc_protocol::Server)> = comp
            .iter()
            .filter_map(|&x| Some((x, w.hosts[x as usize].server.as_deref()?)))
            .collect();
        let Some(&(x0, s0)) = servers.first() else {
            continue;
        };
        // In the network's id order first, which servers holding the same
        // rooms walk alike, so that most servers' rooms need no sort
        // (chat.rs, `converge`); by name when that differs.
        let rooms0_ids: Vec<_> = s0.rooms_in_id_order().map(room_key).collect();
        let mut rooms0: Option<Vec<_>> = None;
        for &(x, s) in &servers[1..] {
            let same = s
                .rooms_in_id_order()
                .map(room_key)
                .eq(rooms0_ids.iter().copied())
                || s.rooms().map(room_key).eq(rooms0
                    .get_or_insert_with(|| s0.rooms().map(room_key).collect())
                    .iter()
                    .copied());
            if same {
                like.insert(x, x0);
            }
        }
    }
    // Each running server's memberships, by folded room name.
    let members: BTreeMap<HostId, BTreeMap<String, &VecMap<Arc<str>, u64>>> = comps
        .list
        .iter()
        .flatten()
        .filter(|x| !like.contains_key(x))
        .filter_map(|&x| Some((x, w.hosts[x as usize].server.as_ref()?)))
        .map(|(x, s)| (x, s.rooms().map(|r| (fold(r.name), r.members)).collect()))
        .collect();
    // Per server asked: the rooms that list each UID, gathered when a
    // client on it is first judged.
    let mut listed_in: BTreeMap<HostId, BTreeMap<&str, Vec<&str>>> = BTreeMap::new();
    for (i, host) in w.hosts.iter().enumerate() {
        let h = i as HostId;
        let Some(c) = host.client.as_ref() else {
            continue;
        };
        let state = c.state();
        let in_session = matches!(
            state,
            ClientState::Connecting | ClientState::Registering | ClientState::Connected
        );
        // Wants to be connected: it was started, did not quit, and either
        // is still in a session or reconnects (not `reconnect = false`).
        let wants = match state {
            ClientState::Idle | ClientState::Quit => false,
            _ => in_session || !host.gives_up,
        };
        if !wants {
            continue;
        }
        // Servers of its list that run and that its partition reaches: the
        // declared ones and the one it was last sent to.
        let mut list = c.targets();
        for s in &host.client_servers {
            if !list.contains(s) {
                list.push(s.clone());
            }
        }
        let reachable: Vec<&str> = list
            .iter()
            .filter_map(|s| w.by_label.get(&**s).copied())
            .filter(|&s| w.hosts[s as usize].running() && w.net.partition.reachable(h, s))
            .map(|s| w.hosts[s as usize].label.as_str())
            .collect();
        if reachable.is_empty() {
            continue;
        }
        let registered = state == ClientState::Connected && c.uid().is_some();
        if !registered {
            let next = match c.reconnect_at() {
                Some(t) => format!("next attempt at {}ms", host.global_time(t) / 1_000_000),
                None => "no attempt scheduled".to_string(),
            };
            let on = c.server().map(|s| format!(" (on {s})")).unwrap_or_default();
            v(
                "client.liveness",
                &host.label,
                format!(
                    "{}{on}, though {} of its servers {} running and in reach; {next}",
                    state.as_str(),
                    reachable.join(", "),
                    if reachable.len() == 1 { "is" } else { "are" },
                ),
            );
            continue;
        }
        let (Some(uid), Some(&sv)) = (c.uid(), c.server().and_then(|s| w.by_label.get(s))) else {
            continue;
        };
        for (nick, at) in w.checks.clients.nicks.get(&h).into_iter().flatten() {
            v(
                "client.nick",
                &host.label,
                format!("its user asked for the nick {nick} at {at}ms; no answer came"),
            );
        }
        let held = w.hosts[sv as usize]
            .server
            .as_ref()
            .and_then(|s| s.user(uid))
            .map(|(n, _)| n);
        if held.is_some_and(|n| n != c.nick()) {
            v(
                "client.nick",
                &host.label,
                format!(
                    "it goes by {}, but {} holds its user ({uid}) as {}",
                    c.nick(),
                    w.hosts[sv as usize].label,
                    held.unwrap_or("")
                ),
            );
        }
        // A client of a server outside the network (an impostor) has its
        // messages numbered there, where no check follows them.
        let (first, open) = w.checks.chat.said.unsettled(h, 5);
        if open > 0 && w.hosts[sv as usize].genuine {
            let ks: Vec<String> = first
                .iter()
                .map(|(k, room)| format!("{k} in {room}"))
                .collect();
            v(
                "send.settled",
                &host.label,
                format!(
                    "{open} of its user's room messages neither taken into their room's stream nor refused (its messages {}{})",
                    ks.join(", "),
                    if open > first.len() as u64 { ", ..." } else { "" }
                ),
            );
        }
        match w.checks.chat.said.private_open(h) {
            0 => {}
            n if n > 0 => v(
                "private.settled",
                &host.label,
                format!("{n} of its user's private messages neither sent nor refused"),
            ),
            n => v(
                "private.settled",
                &host.label,
                format!(
                    "{} more sends and refusals of private messages than messages",
                    -n
                ),
            ),
        }
        let lost: Vec<(&str, u32, &str, u64)> = w.checks.lists.owed_to(uid).collect();
        if !lost.is_empty() {
            let copies: u32 = lost.iter().map(|l| l.1).sum();
            let named: Vec<String> = lost
                .iter()
                .take(3)
                .map(|(text, _, from, at)| format!("{text:?} from {from} at {}ms", at / 1_000_000))
                .collect();
            v(
                "list.kept",
                &host.label,
                format!(
                    "{copies} list message copies addressed to its user ({uid}) never arrived: {}{}",
                    named.join(", "),
                    if lost.len() > named.len() { ", ..." } else { "" }
                ),
            );
        }
        let comp: &[HostId] = comps.of(sv).unwrap_or(&[]);
        let wanted = w.checks.clients.rooms.get(&h);
        // The other way round: no room lists the user that it is not in.
        // A leave the servers never took leaves it listed there, with the
        // room's traffic still sent to a client that drops it, which no
        // other check sees. Its own server is asked (`users.agree` holds
        // the rest of the component to the same memberships).
        let asked = like.get(&sv).copied().unwrap_or(sv);
        let index = listed_in.entry(asked).or_insert_with(|| {
            let mut by_uid: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
            if let Some(s) = w.hosts[asked as usize].server.as_ref() {
                for r in s.rooms() {
                    for uid in r.members.keys() {
                        by_uid.entry(&**uid).or_default().push(r.name);
                    }
                }
            }
            by_uid
        });
        for room in index.get(uid).into_iter().flatten() {
            if !wanted.is_some_and(|r| r.contains_key(&*fold(room))) {
                v(
                    "client.rooms",
                    &host.label,
                    format!(
                        "{} lists it ({uid}) in {room}, which its user did not join or has left",
                        w.hosts[sv as usize].label
                    ),
                );
            }
        }
        for room in wanted.into_iter().flat_map(|r| r.values()) {
            if !c.room(room).is_some_and(|r| r.joined) {
                v(
                    "client.rooms",
                    &host.label,
                    format!("not in {room}, which it joined and did not leave"),
                );
                continue;
            }
            let key = fold(room);
            let mut listed: Vec<HostId> = Vec::new();
            for &x in comp {
                let asked = like.get(&x).copied().unwrap_or(x);
                if listed.contains(&asked) {
                    continue;
                }
                let member = members
                    .get(&asked)
                    .and_then(|m| m.get(&key))
                    .is_some_and(|m| m.contains_key(uid));
                if member {
                    listed.push(asked);
                } else {
                    v(
                        "client.rooms",
                        &host.label,
                        format!(
                            "{} does not list it ({uid}) in {room}",
                            w.hosts[x as usize].label
                        ),
                    );
                    break;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use drc_protocol::client::ClientInput;

    use crate::run::{build, RunOptions};
    use crate::scenario::{self, Action};

    /// bob, on s1, renames himself robert at 5 s; judged at 30 s.
    const SCENARIO: &str = r#"
name = "client-nick"
seed = 1
duration = "30s"

[[server]]
name = "s0"

[[server]]
name = "s1"
connect = ["s0"]

[[client]]
id = "bob"
server = "s1"

[[at]]
time = "5s"
do = "nick"
client = "bob"
nick = "robert"
"#;

    fn judged() -> crate::world::World {
        let scn = scenario::parse_str(SCENARIO, "client-nick.toml").unwrap();
        let mut w = build(&scn, &mut RunOptions::default()).unwrap();
        w.run();
        w
    }

    fn nick_violations(w: &crate::world::World) -> Vec<String> {
        super::super::convergence::check(w, 0, true)
            .into_iter()
            .filter(|v| v.invariant == "client.nick")
            .map(|v| v.detail)
            .collect()
    }

    /// Holds on a change asked for and answered; fires on a change asked
    /// for that no answer settles, and on a client whose nick is not the
    /// one its server holds (crafted: a RENAMED no server sent).
    #[test]
    fn client_nick_holds_and_fires_on_crafted_input() {
        let mut w = judged();
        let bob = w.by_label["bob"];
        assert_eq!(
            w.hosts[bob as usize].client.as_ref().unwrap().nick(),
            "robert"
        );
        assert!(nick_violations(&w).is_empty(), "{:?}", nick_violations(&w));

        let ask = Action::Nick {
            client: "bob".into(),
            nick: "bobby".into(),
        };
        w.checks.clients.on_action(bob, &ask, true, 29_000);
        assert_eq!(
            nick_violations(&w),
            ["its user asked for the nick bobby at 29000ms; no answer came"]
        );
        // An answer to another change does not settle it; its own does.
        w.checks.clients.nick_answered(bob, b"<NICKOK,robert>");
        assert_eq!(nick_violations(&w).len(), 1);
        w.checks.clients.nick_answered(bob, b"<NICKOK,bobby>");
        assert!(nick_violations(&w).is_empty());
        // A session that ends owes nothing.
        w.checks.clients.on_action(bob, &ask, true, 29_000);
        w.checks.clients.session_ended(bob);
        assert!(nick_violations(&w).is_empty());

        let link = w.hosts[bob as usize]
            .client
            .as_ref()
            .unwrap()
            .server_link()
            .unwrap();
        w.dispatch_client(
            bob,
            ClientInput::Frame {
                link,
                bytes: b"<RENAMED,imposter>",
            },
        );
        assert_eq!(
            nick_violations(&w),
            ["it goes by imposter, but s1 holds its user (0AB-1-1) as robert"]
        );
    }

    /// A message settles when a number its client was given for it is
    /// taken into the stream, or when it is refused; a number skipped (the
    /// message never came for it) settles nothing.
    #[test]
    fn send_settled_counts_a_sequenced_number_and_not_a_skipped_one() {
        use drc_protocol::outbox::Stream;
        use drc_protocol::ChatNote;
        let mut w = judged();
        let (bob, s1) = (w.by_label["bob"], w.by_label["s1"]);
        let settled = |w: &crate::world::World| {
            super::super::convergence::check(w, 0, true)
                .into_iter()
                .filter(|v| v.invariant == "send.settled")
                .map(|v| v.detail)
                .collect::<Vec<_>>()
        };
        assert!(settled(&w).is_empty());
        let stream = Stream {
            epoch: 1,
            seq: "0AB-1".into(),
        };
        let room: std::sync::Arc<str> = "#r".into();
        let note = |w: &mut crate::world::World, h, n: ChatNote| {
            let mut v = Vec::new();
            w.checks.chat.on_note(w.now, &w.hosts, h, &n, &mut v);
        };
        for _ in 0..3 {
            w.checks.chat.said.on_say(bob, "#r");
        }
        for (k, n) in [(1, 1), (2, 2)] {
            let sent = ChatNote::Sent {
                room: room.clone(),
                stream: stream.clone(),
                n,
                k,
            };
            note(&mut w, bob, sent);
        }
        let skipped = ChatNote::SeqSkipped {
            room: room.clone(),
            stream: stream.clone(),
            n: 1,
        };
        note(&mut w, s1, skipped);
        let sequenced = ChatNote::Sequenced {
            room: room.clone(),
            stream: stream.clone(),
            n: 2,
            uid: "0AB-1-1".into(),
            at_once: None,
        };
        note(&mut w, s1, sequenced);
        let owed = "2 of its user's room messages neither taken into their room's stream nor refused (its messages 1 in #r, 3 in #r)";
        assert_eq!(settled(&w), [owed]);
        let failed = ChatNote::SendFailed {
            room,
            reason: "no answer".into(),
            k: Some(3),
        };
        note(&mut w, bob, failed);
        assert_eq!(
            settled(&w),
            ["1 of its user's room messages neither taken into their room's stream nor refused (its messages 1 in #r)"]
        );
    }

    /// Under `send = "at-once"` a client never notes the number of a
    /// message it sent with no number; `order.once` learns the sender from
    /// the sequencer's note, by the id's origin welcomed on that client,
    /// and fires on the same message delivered at two numbers. Asking
    /// first, such a note names nobody (the client notes what it sent).
    #[test]
    fn order_once_knows_a_message_sent_at_once_by_its_id() {
        use drc_protocol::outbox::Stream;
        use drc_protocol::room_text::RoomText;
        use drc_protocol::ChatNote;
        for at_once in [true, false] {
            let text = if at_once {
                SCENARIO.replace(
                    "duration = \"30s\"\n",
                    "duration = \"30s\"\n[protocol]\nsend = \"at-once\"\n",
                )
            } else {
                SCENARIO.to_string()
            };
            let scn = scenario::parse_str(&text, "at-once.toml").unwrap();
            assert_eq!(
                scn.protocol.send == drc_protocol::config::SendMode::AtOnce,
                at_once
            );
            let mut w = build(&scn, &mut RunOptions::default()).unwrap();
            w.run();
            let (bob, s1) = (w.by_label["bob"], w.by_label["s1"]);
            let uid = w.hosts[bob as usize]
                .client
                .as_ref()
                .unwrap()
                .uid()
                .unwrap()
                .to_string();
            let stream = Stream {
                epoch: 1,
                seq: "0AB-1".into(),
            };
            let id = format!("{uid}/1");
            let mut v = Vec::new();
            for n in [1, 2] {
                let notes = [
                    (
                        s1,
                        ChatNote::Sequenced {
                            room: "#r".into(),
                            stream: stream.clone(),
                            n,
                            uid: uid.as_str().into(),
                            at_once: Some(id.as_str().into()),
                        },
                    ),
                    (
                        bob,
                        ChatNote::Delivered {
                            room: "#r".into(),
                            stream: stream.clone(),
                            n,
                            msg: RoomText::new(&uid, "bob", &id, "hi"),
                        },
                    ),
                ];
                for (h, note) in notes {
                    w.checks.chat.on_note(w.now, &w.hosts, h, &note, &mut v);
                }
            }
            let once: Vec<&str> = v
                .iter()
                .filter(|x| x.invariant == "order.once")
                .map(|x| x.detail.as_str())
                .collect();
            if at_once {
                assert_eq!(
                    once,
                    ["#r: message 1 of bob delivered a second time, as 1.2 (0AB-1)"]
                );
            } else {
                assert!(once.is_empty(), "{once:?}");
            }
        }
    }
}
