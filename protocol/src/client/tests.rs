//! The client state machine driven frame by frame: what it sends, what it
//! delivers.

use super::*;
use crate::message::HANDED_OVER;
use crate::time::Duration;

const SRV: LinkId = LinkId(1);

fn cfg() -> ClientConfig {
    ClientConfig {
        send_at_once: false,
        nick: "alice".into(),
        user: "alice".into(),
        addr: "alice".into(),
        accept_private: true,
        autojoin: Vec::new(),
        ping_interval: Duration::from_secs(10),
        ping_timeout: Duration::from_secs(30),
        register_timeout: Some(Duration::from_secs(10)),
        find_delay: Duration::from_secs(2),
        send_timeout: Duration::from_secs(40),
        keep_log: true,
        relay_private: false,
        retry_to_back: false,
        no_find: false,
        no_dedup: false,
        no_redirect_dedup: false,
        reconnect: None,
        no_rejoin: false,
        no_move_rejoin: false,
        no_move_resend: false,
        no_move_watch: false,
        no_leave_after_sends: false,
        no_private_ends: false,
        no_join_after_leave: false,
        no_stale_nickerr: false,
        no_late_registration_nick: false,
        accept_redirect: true,
        redirect_timeout: Duration::from_secs(10),
        realname: "Alice A".into(),
        greeter: None,
        session: None,
        login_timeout: Some(Duration::from_secs(10)),
    }
}

/// A client, the frames it sent and the notes it emitted.
struct Rig {
    c: Client,
    out: Outbox,
    now: Instant,
    sent: Vec<Vec<String>>,
    /// The link each of `sent` went out on.
    sent_on: Vec<LinkId>,
    notes: Vec<ChatNote>,
    /// Connections opened and closed, in order.
    dialled: Vec<(LinkId, String)>,
    closed: Vec<LinkId>,
    /// The links PONGs went out on (kept out of `sent`).
    pongs: Vec<LinkId>,
}

impl Rig {
    /// Registered as `alice` (UID A-1-1), a member of `#r` whose stream
    /// (epoch 1, sequencer A) starts at number 1.
    fn joined(cfg: ClientConfig) -> Rig {
        let mut r = Rig::connected(cfg);
        r.frame(&["WELCOME", "alice", "A-1-1"]);
        r.input(ClientInput::Command(ClientCommand::Join("#r")));
        r.frame(&["JOINED", "#r"]);
        r.frame(&["SYNC", "#r", "1", "A", "1"]);
        r.sent.clear();
        r.sent_on.clear();
        r.notes.clear();
        r
    }

    /// Connected to `A` on `SRV`, registering (USER and NICK sent).
    fn connected(cfg: ClientConfig) -> Rig {
        let mut r = Rig::new(cfg);
        r.input(ClientInput::Command(ClientCommand::Connect {
            server: "A",
            nick: None,
        }));
        r.input(ClientInput::Connected { link: SRV });
        r
    }

    /// A client that has done nothing yet.
    fn new(cfg: ClientConfig) -> Rig {
        Rig {
            c: Client::new(cfg),
            out: Outbox::new(),
            now: Instant::ZERO,
            sent: Vec::new(),
            sent_on: Vec::new(),
            notes: Vec::new(),
            dialled: Vec::new(),
            closed: Vec::new(),
            pongs: Vec::new(),
        }
    }

    fn input(&mut self, i: ClientInput<'_>) {
        self.out.clear();
        self.c.handle(self.now, i, &mut self.out);
        for o in self.out.items() {
            match o {
                Output::Send { link, start, end } => {
                    let mut f = Frame::new();
                    wire::decode_exact(self.out.bytes(*start, *end), &mut f).unwrap();
                    if f.command() == "PONG" {
                        self.pongs.push(*link);
                    } else {
                        let mut v = vec![f.command().to_string()];
                        v.extend(f.args().map(String::from));
                        self.sent.push(v);
                        self.sent_on.push(*link);
                    }
                }
                Output::Connect { link, to } => self.dialled.push((*link, to.to_string())),
                Output::Close { link } => self.closed.push(*link),
            }
        }
        for n in self.out.notes() {
            if let Note::Chat(n) = n {
                self.notes.push(n.clone());
            }
        }
    }

    fn frame(&mut self, parts: &[&str]) {
        self.frame_on(SRV, parts);
    }

    fn frame_on(&mut self, link: LinkId, parts: &[&str]) {
        let mut b = Vec::new();
        wire::encode(&mut b, parts[0], &parts[1..]).unwrap();
        self.input(ClientInput::Frame { link, bytes: &b });
    }

    /// What went out on `link`, in order.
    fn sent_to(&self, link: LinkId) -> Vec<Vec<String>> {
        self.sent
            .iter()
            .zip(&self.sent_on)
            .filter(|(_, l)| **l == link)
            .map(|(v, _)| v.clone())
            .collect()
    }

    fn say(&mut self, text: &str) {
        self.input(ClientInput::Command(ClientCommand::Say {
            room: "#r",
            text,
        }));
    }

    /// Time passes; the server kept the link alive meanwhile.
    fn after(&mut self, d: Duration) {
        self.now = self.now + d;
        self.frame(&["PING", "1"]);
        self.input(ClientInput::Timeout);
    }

    /// Whether any note so far is one `pick` accepts.
    fn noted(&self, pick: impl Fn(&ChatNote) -> bool) -> bool {
        self.notes.iter().any(pick)
    }

    fn sent_commands(&self) -> Vec<&str> {
        self.sent.iter().map(|v| v[0].as_str()).collect()
    }

    /// (number, text) of every delivered room message, in order.
    fn delivered(&self) -> Vec<(u64, String)> {
        self.notes
            .iter()
            .filter_map(|n| match n {
                ChatNote::Delivered { n, msg, .. } => Some((*n, msg.text().to_string())),
                _ => None,
            })
            .collect()
    }
}

#[test]
fn a_room_message_goes_out_with_its_number_and_counter_and_ends_at_its_echo() {
    let mut r = Rig::joined(cfg());
    r.say("hi");
    r.say("again");
    assert_eq!(r.sent, vec![vec!["GETSEQ", "#r"]], "one message at a time");
    assert_eq!(r.c.room("#r").unwrap().unsent(), 2, "both wait");
    r.frame(&["NEWSEQ", "#r", "1", "A", "1"]);
    assert_eq!(r.sent[1], ["CSEND", "#r", "1", "A", "1", "A-1-1/1", "hi"]);
    r.frame(&[
        "RMSG", "#r", "1", "A", "1", "A-1-1", "alice", "A-1-1/1", "hi",
    ]);
    assert_eq!(r.delivered(), [(1, "hi".to_string())]);
    assert_eq!(r.sent[2], ["GETSEQ", "#r"], "the echo lets the next one go");
    assert_eq!(r.c.room("#r").unwrap().unsent(), 1);
    r.frame(&["NEWSEQ", "#r", "1", "A", "2"]);
    assert_eq!(
        r.sent[3],
        ["CSEND", "#r", "1", "A", "2", "A-1-1/2", "again"]
    );
}

fn at_once() -> ClientConfig {
    ClientConfig {
        send_at_once: true,
        ..cfg()
    }
}

/// `send = "at-once"`: the first try goes with no number, named for the
/// stream the client follows, and notes nothing sent (the client does not
/// know its number); the echo ends it and lets the next go the same way.
#[test]
fn at_once_a_message_goes_unnumbered_and_ends_at_its_echo() {
    let mut r = Rig::joined(at_once());
    r.say("hi");
    r.say("again");
    assert_eq!(
        r.sent,
        [["CSEND", "#r", "1", "A", "0", "A-1-1/1", "hi"]],
        "one message at a time, no number asked"
    );
    assert!(!r.noted(|n| matches!(n, ChatNote::Sent { .. })));
    r.frame(&[
        "RMSG", "#r", "1", "A", "1", "A-1-1", "alice", "A-1-1/1", "hi",
    ]);
    assert_eq!(r.delivered(), [(1, "hi".to_string())]);
    assert_eq!(
        r.sent[1],
        ["CSEND", "#r", "1", "A", "0", "A-1-1/2", "again"]
    );
    assert_eq!(r.c.room("#r").unwrap().unsent(), 1);
}

/// A refusal of an unnumbered message names it by its id: a refusal of
/// another message is not its own, its own makes the retry ask first.
#[test]
fn at_once_a_refused_message_is_retried_by_asking_first() {
    let mut r = Rig::joined(at_once());
    r.say("hi");
    r.frame(&["SENDFAIL", "#r", "1", "A", "0", "stale stream", "A-1-1/7"]);
    assert_eq!(r.sent_commands(), ["CSEND"], "not this message's refusal");
    r.frame(&["SENDFAIL", "#r", "1", "A", "0", "stale stream", "A-1-1/1"]);
    assert_eq!(r.sent_commands(), ["CSEND", "GETSEQ"]);
    r.frame(&["NEWSEQ", "#r", "1", "A", "4"]);
    assert_eq!(r.sent[2], ["CSEND", "#r", "1", "A", "4", "A-1-1/1", "hi"]);
    assert!(r.noted(|n| matches!(n, ChatNote::Sent { n: 4, k: 1, .. })));
}

/// No answer within `send_timeout`: the retry asks first too, and a room
/// not synced yet asks first from the start.
#[test]
fn at_once_a_retry_or_an_unsynced_room_asks_first() {
    let mut r = Rig::joined(at_once());
    r.say("hi");
    r.after(Duration::from_secs(40));
    assert_eq!(r.sent_commands(), ["CSEND", "GETSEQ"]);
    let mut r = Rig::connected(at_once());
    r.frame(&["WELCOME", "alice", "A-1-1"]);
    r.input(ClientInput::Command(ClientCommand::Join("#r")));
    r.frame(&["JOINED", "#r"]);
    r.sent.clear();
    r.say("hi");
    assert_eq!(r.sent_commands(), ["GETSEQ"], "no stream to name yet");
}

/// The first copy of a retried message comes back late, after the client
/// asked for a second number: the second copy is passed over, and the
/// echo of the first already lets the next message go.
#[test]
fn the_second_copy_of_a_retried_message_is_not_delivered() {
    let mut r = Rig::joined(cfg());
    r.say("hi");
    r.say("next");
    r.frame(&["NEWSEQ", "#r", "1", "A", "1"]);
    r.after(Duration::from_secs(40));
    assert_eq!(r.sent_commands(), ["GETSEQ", "CSEND", "GETSEQ"], "retried");
    r.frame(&["NEWSEQ", "#r", "1", "A", "2"]);
    assert_eq!(r.sent[3], ["CSEND", "#r", "1", "A", "2", "A-1-1/1", "hi"]);
    r.frame(&[
        "RMSG", "#r", "1", "A", "1", "A-1-1", "alice", "A-1-1/1", "hi",
    ]);
    assert_eq!(r.sent[4], ["GETSEQ", "#r"], "the first copy was the echo");
    r.frame(&[
        "RMSG", "#r", "1", "A", "2", "A-1-1", "alice", "A-1-1/1", "hi",
    ]);
    r.frame(&["RMSG", "#r", "1", "A", "3", "B-1-1", "bob", "B-1-1/1", "hi"]);
    assert_eq!(
        r.delivered(),
        [(1, "hi".to_string()), (3, "hi".to_string())],
        "same counter from another sender is another message"
    );
    assert!(r.noted(|n| matches!(n, ChatNote::GapClosed { n: 2, .. })));
    assert_eq!(r.c.room("#r").unwrap().duplicates, 1);
    assert_eq!(r.c.room("#r").unwrap().next, 4);
}

#[test]
fn with_dedup_ablated_both_copies_are_delivered() {
    let mut r = Rig::joined(ClientConfig {
        no_dedup: true,
        no_redirect_dedup: false,
        ..cfg()
    });
    r.frame(&["RMSG", "#r", "1", "A", "1", "B-1-1", "bob", "B-1-1/7", "hi"]);
    r.frame(&["RMSG", "#r", "1", "A", "2", "B-1-1", "bob", "B-1-1/7", "hi"]);
    assert_eq!(r.delivered().len(), 2);
}

#[test]
fn messages_wait_behind_a_gap_and_the_client_asks_about_it() {
    let mut r = Rig::joined(cfg());
    r.frame(&[
        "RMSG", "#r", "1", "A", "2", "B-1-1", "bob", "B-1-1/2", "second",
    ]);
    assert!(r.delivered().is_empty(), "number 1 is missing");
    r.after(Duration::from_secs(2));
    assert_eq!(r.sent, vec![vec!["FINDSEQ", "#r", "1", "A", "1"]]);
    r.frame(&["SKIPSEQ", "#r", "1", "A", "1"]);
    assert_eq!(r.delivered(), [(2, "second".to_string())]);
}

#[test]
fn a_room_message_with_a_malformed_id_is_ignored() {
    let mut r = Rig::joined(cfg());
    r.frame(&["RMSG", "#r", "1", "A", "1", "B-1-1", "bob", "B-1-1/x", "hi"]);
    r.frame(&["RMSG", "#r", "1", "A", "1", "B-1-1", "bob", "/1", "hi"]);
    r.frame(&["RMSG", "#r", "1", "A", "1", "B-1-1", "bob", "7", "hi"]);
    r.frame(&["RMSG", "#r", "1", "A", "1", "B-1-1", "bob"]);
    assert!(r.delivered().is_empty());
    assert_eq!(r.c.room("#r").unwrap().next, 1);
}

/// alice's message got a number and reached the room, but her link broke
/// before the echo; she reconnects as a new UID and sends it again under
/// its first name, so members who saw it pass over the new copy. She
/// herself resumes the stream at 1, fetches the first copy, and passes over
/// the second.
#[test]
fn a_message_retried_in_a_later_session_keeps_its_name() {
    let mut r = Rig::joined(cfg());
    r.say("hi");
    r.frame(&["NEWSEQ", "#r", "1", "A", "1"]);
    r.input(ClientInput::Closed { link: SRV });
    r.input(ClientInput::Command(ClientCommand::Connect {
        server: "A",
        nick: None,
    }));
    let link = LinkId(2);
    r.input(ClientInput::Connected { link });
    let frame = |r: &mut Rig, parts: &[&str]| {
        let mut b = Vec::new();
        wire::encode(&mut b, parts[0], &parts[1..]).unwrap();
        r.input(ClientInput::Frame { link, bytes: &b });
    };
    frame(&mut r, &["WELCOME", "alice", "A-1-2"]);
    r.input(ClientInput::Command(ClientCommand::Join("#r")));
    frame(&mut r, &["JOINED", "#r"]);
    frame(&mut r, &["SYNC", "#r", "1", "A", "5"]);
    frame(&mut r, &["NEWSEQ", "#r", "1", "A", "5"]);
    assert_eq!(
        r.sent.last().unwrap(),
        &["CSEND", "#r", "1", "A", "5", "A-1-1/1", "hi"]
    );
    frame(
        &mut r,
        &[
            "RMSG", "#r", "1", "A", "5", "A-1-2", "alice", "A-1-1/1", "hi",
        ],
    );
    assert!(r.delivered().is_empty(), "1 to 4 were numbered while away");
    r.now = r.now + Duration::from_secs(2);
    r.input(ClientInput::Timeout);
    let asked: Vec<&str> = r
        .sent
        .iter()
        .filter(|f| f[0] == "FINDSEQ")
        .map(|f| f[4].as_str())
        .collect();
    assert_eq!(asked, ["1", "2", "3", "4"]);
    frame(
        &mut r,
        &[
            "RMSG", "#r", "1", "A", "1", "A-1-1", "alice", "A-1-1/1", "hi",
        ],
    );
    for n in ["2", "3", "4"] {
        frame(&mut r, &["SKIPSEQ", "#r", "1", "A", n]);
    }
    assert_eq!(r.c.room("#r").unwrap().unsent(), 0, "the echo ends it");
    assert_eq!(r.delivered(), [(1, "hi".to_string())]);
    assert_eq!(r.c.room("#r").unwrap().duplicates, 1);
    assert_eq!(r.c.room("#r").unwrap().next, 6);
}

fn registering(cfg: ClientConfig) -> (Client, Outbox) {
    let mut c = Client::new(cfg);
    let mut out = Outbox::new();
    let connect = ClientCommand::Connect {
        server: "A",
        nick: None,
    };
    c.handle(Instant::ZERO, ClientInput::Command(connect), &mut out);
    out.clear();
    c.handle(
        Instant::ZERO,
        ClientInput::Connected { link: SRV },
        &mut out,
    );
    assert!(out
        .notes()
        .contains(&Note::Chat(ChatNote::ClientLink { link: SRV })));
    (c, out)
}

#[test]
fn an_unanswered_registration_is_given_up_after_register_timeout() {
    let (mut c, mut out) = registering(cfg());
    let t = Instant::ZERO + Duration::from_secs(10);
    assert_eq!(c.poll_timeout(), Some(t), "sooner than the silence limit");
    out.clear();
    c.handle(t, ClientInput::Timeout, &mut out);
    assert_eq!(c.state(), ClientState::Disconnected);
    assert_eq!(out.items(), [Output::Close { link: SRV }]);
    assert_eq!(
        out.notes(),
        [
            Note::Chat(ChatNote::RegistrationGivenUp {
                link: SRV,
                reason: "no welcome in time"
            }),
            Note::Chat(ChatNote::RegistrationEnded { link: SRV })
        ]
    );
}

#[test]
fn a_welcome_ends_the_registration_and_its_timer() {
    let (mut c, mut out) = registering(cfg());
    out.clear();
    let mut b = Vec::new();
    wire::encode(&mut b, "WELCOME", &["alice", "A-1-1", "A"]).unwrap();
    c.handle(
        Instant::ZERO,
        ClientInput::Frame {
            link: SRV,
            bytes: &b,
        },
        &mut out,
    );
    assert!(out
        .notes()
        .contains(&Note::Chat(ChatNote::RegistrationEnded { link: SRV })));
    let silence = Instant::ZERO + Duration::from_secs(40);
    assert_eq!(
        c.poll_timeout(),
        Some(silence),
        "only the silence limit is left"
    );
}

#[test]
fn without_register_timeout_only_silence_ends_a_registration() {
    let (c, _) = registering(ClientConfig {
        register_timeout: None,
        ..cfg()
    });
    assert_eq!(
        c.poll_timeout(),
        Some(Instant::ZERO + Duration::from_secs(40))
    );
}

/// bob stays in #r while its sequencer restarts. The new process numbers
/// its own stream from 1 again, (2, 0AA-2): bob switches to it rather than
/// taking its numbers for the ones he delivered from (2, 0AA-1), and the
/// old stream's stragglers are not mixed in.
#[test]
fn a_sequencers_next_incarnation_is_a_new_stream_delivered_from_its_start() {
    let mut r = Rig::joined(cfg());
    r.frame(&["SYNC", "#r", "2", "0AA-1", "1"]);
    for (n, k, text) in [("1", "1", "one"), ("2", "2", "two")] {
        let id = format!("0AB-1-1/{k}");
        r.frame(&["RMSG", "#r", "2", "0AA-1", n, "0AB-1-1", "bob", &id, text]);
    }
    r.frame(&["SYNC", "#r", "2", "0AA-2", "1"]);
    r.frame(&[
        "RMSG",
        "#r",
        "2",
        "0AA-2",
        "1",
        "0AB-1-1",
        "bob",
        "0AB-1-1/3",
        "three",
    ]);
    r.frame(&[
        "RMSG",
        "#r",
        "2",
        "0AA-1",
        "3",
        "0AB-1-1",
        "bob",
        "0AB-1-1/4",
        "late",
    ]);
    assert_eq!(
        r.delivered(),
        [
            (1, "one".to_string()),
            (2, "two".to_string()),
            (1, "three".to_string())
        ]
    );
    let room = r.c.room("#r").unwrap();
    assert_eq!(room.stream.as_ref().map(|s| &*s.seq), Some("0AA-2"));
    assert_eq!(room.late, 1);
}

/// A client with reconnects on, and what it asked the environment to do.
struct Redialer {
    c: Client,
    out: Outbox,
    now: Instant,
    /// Every server it dialled, in order.
    dialled: Vec<(LinkId, String)>,
    sent: Vec<(LinkId, Vec<String>)>,
    closed: Vec<LinkId>,
}

const MIN: Duration = Duration::from_secs(1);
const MAX: Duration = Duration::from_secs(8);

fn redial_cfg(seed: u64) -> ClientConfig {
    ClientConfig {
        send_at_once: false,
        reconnect: Some(Reconnect {
            min: MIN,
            max: MAX,
            servers: vec!["A".into(), "B".into(), "C".into()],
            seed,
        }),
        ..cfg()
    }
}

impl Redialer {
    fn new(cfg: ClientConfig) -> Self {
        Redialer {
            c: Client::new(cfg),
            out: Outbox::new(),
            now: Instant::ZERO + Duration::from_secs(100),
            dialled: Vec::new(),
            sent: Vec::new(),
            closed: Vec::new(),
        }
    }

    fn input(&mut self, i: ClientInput<'_>) {
        self.out.clear();
        self.c.handle(self.now, i, &mut self.out);
        for o in self.out.items() {
            match o {
                Output::Send { link, start, end } => {
                    let mut f = Frame::new();
                    wire::decode_exact(self.out.bytes(*start, *end), &mut f).unwrap();
                    let mut v = vec![f.command().to_string()];
                    v.extend(f.args().map(String::from));
                    self.sent.push((*link, v));
                }
                Output::Connect { link, to } => self.dialled.push((*link, to.to_string())),
                Output::Close { link } => self.closed.push(*link),
            }
        }
    }

    fn link(&self) -> LinkId {
        self.dialled.last().expect("dialled").0
    }

    fn frame(&mut self, parts: &[&str]) {
        let mut b = Vec::new();
        wire::encode(&mut b, parts[0], &parts[1..]).unwrap();
        let link = self.link();
        self.input(ClientInput::Frame { link, bytes: &b });
    }

    fn command(&mut self, c: ClientCommand<'_>) {
        self.input(ClientInput::Command(c));
    }

    /// The last dialled connection opens and the server welcomes `nick`.
    fn welcome(&mut self, nick: &str, uid: &str) {
        let link = self.link();
        self.input(ClientInput::Connected { link });
        self.frame(&["WELCOME", nick, uid, "S"]);
    }

    fn lose(&mut self) {
        let link = self.link();
        self.input(ClientInput::Closed { link });
    }

    fn fail(&mut self) {
        let link = self.link();
        self.input(ClientInput::ConnectFailed { link });
    }

    /// Waits until the client's next redial, which must come within
    /// `[lo, hi]`, and returns the server it dials.
    fn redial_within(&mut self, lo: Duration, hi: Duration) -> String {
        let at = self.c.reconnect_at().expect("a redial is scheduled");
        let wait = at.saturating_since(self.now);
        assert!(
            wait >= lo && wait <= hi,
            "waits {wait:?}, not within [{lo:?}, {hi:?}]"
        );
        assert_eq!(self.c.poll_timeout(), Some(at));
        let before = self.dialled.len();
        // Not a moment early.
        self.now = at - Duration::from_nanos(1);
        self.input(ClientInput::Timeout);
        assert_eq!(self.dialled.len(), before, "dialled early");
        self.now = at;
        self.input(ClientInput::Timeout);
        assert_eq!(self.dialled.len(), before + 1, "no redial at {at:?}");
        assert_eq!(self.c.state(), ClientState::Connecting);
        self.dialled.last().unwrap().1.clone()
    }

    /// The JOINROOM frames sent on the current link.
    fn joins(&self) -> Vec<String> {
        let link = self.link();
        self.sent
            .iter()
            .filter(|(l, f)| *l == link && f[0] == "JOINROOM")
            .map(|(_, f)| f[1].clone())
            .collect()
    }
}

fn secs(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

#[test]
fn a_registered_client_that_loses_its_server_dials_it_again_after_a_jittered_wait() {
    let mut r = Redialer::new(redial_cfg(7));
    r.command(ClientCommand::Connect {
        server: "A",
        nick: None,
    });
    r.welcome("alice", "A-1-1");
    r.lose();
    assert_eq!(r.c.state(), ClientState::Disconnected);
    assert_eq!(r.dialled.len(), 1, "nothing dialled at once");
    assert_eq!(r.c.reconnects(), 0, "the connect command is not one");
    assert_eq!(
        r.redial_within(secs(500), secs(1000)),
        "A",
        "same server first"
    );
    assert_eq!(r.c.reconnects(), 1);
    // The attempt fails: the next one counts too.
    r.fail();
    r.redial_within(Duration::ZERO, MAX);
    assert_eq!(r.c.reconnects(), 2);
}

/// The jitter covers the whole of [d/2, d], both ends included: with a
/// 4 ns wait, seeds give 2, 3 and 4 ns (mutation survivors: the range's
/// `+ 1` as `- 1` or `* 1` never reached d).
#[test]
fn the_jitter_covers_half_the_wait_to_all_of_it() {
    let mut waits = std::collections::BTreeSet::new();
    for seed in 0..64 {
        let mut cfg = redial_cfg(seed);
        cfg.reconnect.as_mut().unwrap().min = Duration::from_nanos(4);
        let mut r = Redialer::new(cfg);
        r.command(ClientCommand::Connect {
            server: "A",
            nick: None,
        });
        r.welcome("alice", "A-1-1");
        r.lose();
        let at = r.c.reconnect_at().expect("a redial is scheduled");
        waits.insert(at.saturating_since(r.now).as_nanos());
    }
    assert_eq!(waits.into_iter().collect::<Vec<_>>(), [2, 3, 4]);
}

#[test]
fn failed_attempts_walk_the_list_and_each_failed_round_doubles_the_wait() {
    let mut r = Redialer::new(redial_cfg(7));
    r.command(ClientCommand::Connect {
        server: "B",
        nick: None,
    });
    assert_eq!(r.c.targets(), ["B", "A", "C"].map(std::sync::Arc::from));
    r.welcome("alice", "B-1-1");
    r.lose();
    assert_eq!(r.redial_within(secs(500), secs(1000)), "B");
    // Round 1 (B, A, C) fails; within a round each attempt waits min.
    r.fail();
    assert_eq!(r.redial_within(secs(500), secs(1000)), "A");
    r.fail();
    assert_eq!(r.redial_within(secs(500), secs(1000)), "C");
    // The round is over: wait the backoff (min), which then doubles.
    r.fail();
    assert_eq!(r.redial_within(secs(500), secs(1000)), "B");
    for (lo, hi) in [(1000, 2000), (2000, 4000), (4000, 8000), (4000, 8000)] {
        r.fail();
        assert_eq!(r.redial_within(secs(500), secs(1000)), "A");
        r.fail();
        assert_eq!(r.redial_within(secs(500), secs(1000)), "C");
        r.fail();
        assert_eq!(r.redial_within(secs(lo), secs(hi)), "B", "capped at max");
    }
    // Success resets the backoff: the next loss waits min again.
    r.welcome("alice", "B-1-2");
    r.lose();
    assert_eq!(r.redial_within(secs(500), secs(1000)), "B");
    r.fail();
    assert_eq!(r.redial_within(secs(500), secs(1000)), "A");
}

#[test]
fn the_jitter_comes_from_the_seed_in_the_configuration() {
    let waits = |seed: u64| {
        let mut r = Redialer::new(redial_cfg(seed));
        r.command(ClientCommand::Connect {
            server: "A",
            nick: None,
        });
        let mut v = Vec::new();
        for _ in 0..6 {
            r.fail();
            let at = r.c.reconnect_at().unwrap();
            v.push(at.saturating_since(r.now));
            r.redial_within(Duration::ZERO, MAX);
        }
        v
    };
    assert_eq!(waits(1), waits(1));
    assert_ne!(waits(1), waits(2));
}

#[test]
fn a_reconnected_client_rejoins_its_rooms_and_resumes_their_streams() {
    let mut r = Redialer::new(redial_cfg(7));
    r.command(ClientCommand::Connect {
        server: "A",
        nick: None,
    });
    r.welcome("alice", "A-1-1");
    r.command(ClientCommand::Join("#r"));
    r.command(ClientCommand::Join("#gone"));
    r.command(ClientCommand::Leave("#gone"));
    r.frame(&["JOINED", "#r", "1", "A"]);
    r.frame(&["SYNC", "#r", "1", "A", "1"]);
    r.frame(&[
        "RMSG", "#r", "1", "A", "1", "B-1-1", "bob", "B-1-1/1", "one",
    ]);
    r.lose();
    assert!(!r.c.room("#r").unwrap().joined);
    assert_eq!(r.redial_within(secs(500), secs(1000)), "A");
    r.welcome("alice", "A-1-2");
    assert_eq!(r.joins(), ["#r"], "the left room is not joined again");
    r.frame(&["JOINED", "#r", "1", "A"]);
    // The sequencer numbered 2 and 3 while she was away.
    r.frame(&["SYNC", "#r", "1", "A", "4"]);
    r.frame(&[
        "RMSG", "#r", "1", "A", "4", "B-1-1", "bob", "B-1-1/4", "four",
    ]);
    r.now = r.now + Duration::from_secs(2);
    r.input(ClientInput::Timeout);
    let link = r.link();
    let asked: Vec<&str> = r
        .sent
        .iter()
        .filter(|(l, f)| *l == link && f[0] == "FINDSEQ")
        .map(|(_, f)| f[4].as_str())
        .collect();
    assert_eq!(
        asked,
        ["2", "3"],
        "asks for what it missed, not for 1 again"
    );
    // A copy of 1 answered again is not delivered twice.
    r.frame(&[
        "RMSG", "#r", "1", "A", "1", "B-1-1", "bob", "B-1-1/1", "one",
    ]);
    r.frame(&[
        "RMSG", "#r", "1", "A", "2", "B-1-1", "bob", "B-1-1/2", "two",
    ]);
    r.frame(&[
        "RMSG", "#r", "1", "A", "3", "B-1-1", "bob", "B-1-1/3", "three",
    ]);
    let log: Vec<(u64, &str)> =
        r.c.room("#r")
            .unwrap()
            .log
            .messages()
            .map(|(_, n, msg)| (n, msg.text()))
            .collect();
    assert_eq!(log, [(1, "one"), (2, "two"), (3, "three"), (4, "four")]);
}

#[test]
fn after_a_rejoin_the_first_sync_names_the_stream_even_an_older_one() {
    let mut r = Redialer::new(redial_cfg(7));
    r.command(ClientCommand::Connect {
        server: "A",
        nick: None,
    });
    r.welcome("alice", "A-1-1");
    r.command(ClientCommand::Join("#r"));
    r.frame(&["JOINED", "#r", "2", "A"]);
    r.frame(&["SYNC", "#r", "2", "A", "1"]);
    r.lose();
    r.redial_within(secs(500), secs(1000));
    // Her new server's side of a split still has epoch 1 (sequencer B).
    r.welcome("alice", "B-1-1");
    r.frame(&["JOINED", "#r", "1", "B"]);
    r.frame(&["SYNC", "#r", "1", "B", "7"]);
    r.frame(&[
        "RMSG", "#r", "1", "B", "7", "C-1-1", "carol", "C-1-1/1", "hi",
    ]);
    let st = r.c.room("#r").unwrap();
    assert_eq!(st.stream.as_ref().map(|s| s.epoch), Some(1));
    assert_eq!(st.log.len(), 1, "not deaf in the room");
    // Later in the same session, the older stream is not taken back.
    r.frame(&["SYNC", "#r", "2", "A", "1"]);
    r.frame(&["SYNC", "#r", "1", "C", "1"]);
    let st = r.c.room("#r").unwrap();
    assert_eq!(
        st.stream.as_ref().map(|s| (s.epoch, &*s.seq)),
        Some((2, "A"))
    );
}

#[test]
fn a_quit_client_stays_quit() {
    let mut r = Redialer::new(redial_cfg(7));
    r.command(ClientCommand::Connect {
        server: "A",
        nick: None,
    });
    r.welcome("alice", "A-1-1");
    r.command(ClientCommand::Quit);
    assert_eq!(r.sent.last().unwrap().1[0], "QUIT");
    assert!(r.closed.is_empty(), "the link waits for the server's ERROR");
    assert!(r.c.poll_timeout().is_some(), "but not for ever");
    r.lose(); // the server's FIN
    assert_eq!(r.c.state(), ClientState::Quit);
    assert_eq!(r.c.reconnect_at(), None);
    assert_eq!(r.c.poll_timeout(), None);

    // Quitting while waiting to reconnect cancels the redial.
    let mut r = Redialer::new(redial_cfg(7));
    r.command(ClientCommand::Connect {
        server: "A",
        nick: None,
    });
    r.welcome("alice", "A-1-1");
    r.lose();
    let at = r.c.reconnect_at().unwrap();
    r.command(ClientCommand::Quit);
    assert_eq!(r.c.state(), ClientState::Quit);
    r.now = at + Duration::from_secs(60);
    r.input(ClientInput::Timeout);
    assert_eq!(r.dialled.len(), 1);
    assert_eq!(r.c.state(), ClientState::Quit);
}

#[test]
fn an_explicit_connect_after_a_quit_starts_afresh() {
    let mut r = Redialer::new(ClientConfig {
        autojoin: vec!["#home".into()],
        ..redial_cfg(7)
    });
    r.command(ClientCommand::Connect {
        server: "A",
        nick: None,
    });
    r.welcome("alice", "A-1-1");
    assert_eq!(r.joins(), ["#home"]);
    r.command(ClientCommand::Join("#r"));
    r.command(ClientCommand::Quit);
    r.command(ClientCommand::Connect {
        server: "C",
        nick: Some("al"),
    });
    assert_eq!(r.dialled.last().unwrap().1, "C");
    r.input(ClientInput::Connected { link: r.link() });
    assert_eq!(r.sent.last().unwrap().1, ["NICK", "al"]);
    r.frame(&["WELCOME", "al", "C-1-1", "C"]);
    assert_eq!(r.joins(), ["#home"], "a quit left #r for good");
    // The rotation now starts at C.
    assert_eq!(r.c.targets(), ["C", "A", "B"].map(std::sync::Arc::from));
}

#[test]
fn a_killed_client_comes_back_under_its_chosen_nick_and_kills_slow_it_down() {
    let mut r = Redialer::new(redial_cfg(7));
    r.command(ClientCommand::Connect {
        server: "A",
        nick: Some("sam"),
    });
    r.input(ClientInput::Connected { link: r.link() });
    r.frame(&["NICKERR", "sam", "nick in use"]);
    r.frame(&["WELCOME", "sam_", "A-1-1", "A"]);
    r.frame(&["KILLED", "collision"]);
    assert_eq!(r.c.state(), ClientState::Killed);
    assert_eq!(r.closed, [r.link()]);
    assert_eq!(r.redial_within(secs(500), secs(1000)), "A");
    r.input(ClientInput::Connected { link: r.link() });
    let nick = r.sent.last().unwrap().1.clone();
    assert_eq!(nick, ["NICK", "sam"], "the nick the user chose, not sam_");
    r.frame(&["WELCOME", "sam", "A-1-2", "A"]);
    // A second kill waits the doubled backoff; a welcome between kills
    // does not reset it.
    r.frame(&["KILLED", "collision"]);
    assert_eq!(r.redial_within(secs(1000), secs(2000)), "A");
}

#[test]
fn without_reconnect_a_lost_client_stays_disconnected() {
    let mut r = Redialer::new(cfg());
    r.command(ClientCommand::Connect {
        server: "A",
        nick: None,
    });
    r.welcome("alice", "A-1-1");
    r.lose();
    assert_eq!(r.c.state(), ClientState::Disconnected);
    assert_eq!(r.c.reconnect_at(), None);
    assert_eq!(r.c.poll_timeout(), None);
}

#[test]
fn with_rejoin_ablated_a_new_session_joins_only_the_configured_rooms() {
    let mut r = Redialer::new(ClientConfig {
        autojoin: vec!["#home".into()],
        no_rejoin: true,
        ..redial_cfg(7)
    });
    r.command(ClientCommand::Connect {
        server: "A",
        nick: None,
    });
    r.welcome("alice", "A-1-1");
    r.command(ClientCommand::Join("#r"));
    r.lose();
    r.redial_within(secs(500), secs(1000));
    r.welcome("alice", "A-1-2");
    assert_eq!(r.joins(), ["#home"]);
    assert_eq!(
        r.c.wanted_rooms(),
        ["#home", "#r"].map(std::sync::Arc::from)
    );
}

#[test]
fn a_later_start_point_for_the_same_stream_makes_the_client_fetch_what_it_missed() {
    // Number 1 arrived; then the sequencer says the stream is at 4 (a start
    // point asked for again, or a rejoin): 2 and 3 exist and were never
    // delivered here, so the client asks about them, in order.
    let mut r = Rig::joined(cfg());
    r.frame(&[
        "RMSG", "#r", "1", "A", "1", "B-1-1", "bob", "B-1-1/1", "first",
    ]);
    assert_eq!(r.delivered(), [(1, "first".to_string())]);
    r.frame(&["SYNC", "#r", "1", "A", "4"]);
    r.after(Duration::from_secs(2));
    assert_eq!(
        r.sent,
        vec![
            vec!["FINDSEQ", "#r", "1", "A", "2"],
            vec!["FINDSEQ", "#r", "1", "A", "3"]
        ]
    );
    r.frame(&[
        "RMSG", "#r", "1", "A", "2", "B-1-1", "bob", "B-1-1/2", "second",
    ]);
    r.frame(&["SKIPSEQ", "#r", "1", "A", "3"]);
    assert_eq!(
        r.delivered(),
        [(1, "first".to_string()), (2, "second".to_string())]
    );
    // The same start point again, or an earlier one, asks for nothing.
    r.sent.clear();
    r.sent_on.clear();
    r.frame(&["SYNC", "#r", "1", "A", "1"]);
    r.frame(&["SYNC", "#r", "1", "A", "4"]);
    r.after(Duration::from_secs(5));
    assert!(!r.sent_commands().contains(&"FINDSEQ"), "{:?}", r.sent);
}

#[test]
fn a_client_refused_every_nick_tries_five_others_then_gives_up_once() {
    // Each NICKERR while registering makes the client try the nick with
    // one more `_`; after five it stops trying and says so once.
    let (mut c, mut out) = registering(cfg());
    let mut tried = Vec::new();
    let mut given_up = 0;
    let mut nick = String::from("alice");
    for _ in 0..8 {
        out.clear();
        let mut b = Vec::new();
        wire::encode(&mut b, "NICKERR", &[&nick, "nick in use"]).unwrap();
        c.handle(
            Instant::ZERO,
            ClientInput::Frame {
                link: SRV,
                bytes: &b,
            },
            &mut out,
        );
        for o in out.items() {
            if let Output::Send { start, end, .. } = o {
                let mut f = Frame::new();
                wire::decode_exact(out.bytes(*start, *end), &mut f).unwrap();
                assert_eq!(f.command(), "NICK");
                nick = f.arg(0).unwrap().to_string();
                tried.push(nick.clone());
            }
        }
        given_up += out
            .notes()
            .iter()
            .filter(|n| matches!(n, Note::Chat(ChatNote::RegistrationGivenUp { .. })))
            .count();
    }
    assert_eq!(
        tried,
        ["alice_", "alice__", "alice___", "alice____", "alice_____"]
    );
    assert_eq!(given_up, 1);
}

/// A client whose wanted nick (a change it made) is taken with all five
/// variants tries its own nick (the one it was declared or connected
/// with) and its variants before giving up, once; with its own nick free
/// it registers by it (swarm-nicks seeds 11 and 89: users contending for
/// four shared nicks took every variant, and one gave up at every
/// registration, never to be connected again: nick-pool-exhausted.toml).
#[test]
fn a_client_refused_every_variant_of_its_wanted_nick_falls_back_to_its_own() {
    for own_free in [false, true] {
        let mut r = Rig::joined(cfg());
        r.input(ClientInput::Command(ClientCommand::Nick("nick01")));
        r.frame(&["NICKOK", "nick01"]);
        // A new session, the wanted nick kept.
        r.input(ClientInput::Command(ClientCommand::Connect {
            server: "A",
            nick: None,
        }));
        let new = r.dialled.last().expect("dialled").0;
        r.input(ClientInput::Connected { link: new });
        let nicks = |r: &Rig| -> Vec<String> {
            r.sent_to(new)
                .into_iter()
                .filter(|v| v[0] == "NICK")
                .map(|v| v[1].clone())
                .collect()
        };
        for _ in 0..14 {
            let last = nicks(&r).last().expect("a nick").clone();
            if own_free && last == "alice" {
                r.frame_on(new, &["WELCOME", "alice", "A-1-2"]);
                break;
            }
            r.frame_on(new, &["NICKERR", &last, "nick in use"]);
        }
        let variants = |n: &'static str| (0..6).map(move |k| format!("{n}{}", "_".repeat(k)));
        let want: Vec<String> = if own_free {
            variants("nick01").chain(["alice".to_string()]).collect()
        } else {
            variants("nick01").chain(variants("alice")).collect()
        };
        assert_eq!(nicks(&r), want, "own nick free: {own_free}");
        let given_up = r
            .notes
            .iter()
            .filter(|n| matches!(n, ChatNote::RegistrationGivenUp { .. }))
            .count();
        assert_eq!(given_up, usize::from(!own_free));
        if own_free {
            assert_eq!(r.c.nick(), "alice");
            assert_eq!(r.c.state(), ClientState::Connected);
        }
    }
}

#[test]
fn client_states_have_the_names_the_summary_uses_and_notices_are_counted() {
    use ClientState::*;
    let names: Vec<&str> = [
        Idle,
        Connecting,
        Registering,
        Connected,
        Quit,
        Killed,
        Disconnected,
    ]
    .into_iter()
    .map(ClientState::as_str)
    .collect();
    assert_eq!(
        names,
        [
            "idle",
            "connecting",
            "registering",
            "connected",
            "quit",
            "killed",
            "disconnected"
        ]
    );
    let mut r = Rig::joined(cfg());
    assert_eq!(r.c.notices(), 0);
    r.frame(&["NOTICE", "maintenance at noon"]);
    r.frame(&["NOTICE", "done"]);
    assert_eq!(r.c.notices(), 2);
}

#[test]
fn a_gap_sets_the_timer_that_asks_about_it() {
    // Waiting behind a gap is a deadline of its own: find_delay after the
    // gap was seen, whatever else the client waits for.
    let mut r = Rig::joined(cfg());
    let idle = r.c.poll_timeout();
    r.now = r.now + Duration::from_millis(500);
    r.frame(&[
        "RMSG", "#r", "1", "A", "2", "B-1-1", "bob", "B-1-1/2", "second",
    ]);
    let gap = r.now + Duration::from_secs(2);
    assert_eq!(r.c.poll_timeout(), Some(gap), "was {idle:?}");
}

/// The redirect from A to B reached the client, which dialled B on the
/// returned link.
fn asked_to_move(cfg: ClientConfig) -> (Rig, LinkId) {
    let mut r = Rig::joined(cfg);
    r.frame(&["REDIRECT", "00000000000000ab", "B"]);
    let (new, to) = r.dialled.last().cloned().expect("dialled the target");
    assert_eq!(to, "B");
    (r, new)
}

#[test]
fn a_redirected_client_hands_over_holds_its_frames_and_swaps_at_handok() {
    let (mut r, new) = asked_to_move(cfg());
    // Before the handover, commands still go to the old server.
    r.input(ClientInput::Command(ClientCommand::Join("#early")));
    assert_eq!(r.sent_to(SRV).last().unwrap(), &["JOINROOM", "#early"]);
    r.input(ClientInput::Connected { link: new });
    assert_eq!(r.sent_to(new), [["HANDOVER", "00000000000000ab", "A-1-1"]]);
    // From the handover on, frames for the server are held...
    r.input(ClientInput::Command(ClientCommand::Join("#late")));
    assert!(!r.sent.iter().any(|v| v == &["JOINROOM", "#late"]));
    // ...room messages arrive on either connection, each delivered once...
    r.frame(&[
        "RMSG", "#r", "1", "A", "1", "B-1-1", "bob", "B-1-1/1", "one",
    ]);
    r.frame_on(
        new,
        &[
            "RMSG", "#r", "1", "A", "1", "B-1-1", "bob", "B-1-1/1", "one",
        ],
    );
    r.frame_on(
        new,
        &[
            "RMSG", "#r", "1", "A", "2", "B-1-1", "bob", "B-1-1/2", "two",
        ],
    );
    assert_eq!(r.delivered(), [(1, "one".into()), (2, "two".into())]);
    // ...the source lets go; the client is not disconnected...
    r.input(ClientInput::Closed { link: SRV });
    assert_eq!(r.c.state(), ClientState::Connected);
    assert!(r.c.is_moving());
    // ...and HANDOK makes the new connection its server's, where the held
    // frames go out.
    r.frame_on(new, &["HANDOK", "00000000000000ab"]);
    assert!(!r.c.is_moving());
    assert_eq!(r.c.server(), Some("B"));
    assert_eq!(r.c.uid(), Some("A-1-1"));
    // #early, sent to A before the handover and never answered, is asked
    // for again (A may have let the user go before it arrived).
    let sent = r.sent_to(new);
    assert_eq!(
        sent[sent.len() - 2..],
        [["JOINROOM", "#late"], ["JOINROOM", "#early"]]
    );
    assert_eq!(r.c.moves().len(), 1);
    assert_eq!(r.c.moves()[0].2, "completed");
    // No new registration, no rejoin of #r.
    assert!(!r
        .sent
        .iter()
        .any(|v| v[0] == "USER" || v == &["JOINROOM", "#r"]));
}

/// A session that ends during a move (here the user quits) takes the
/// move with it: the new connection is closed and the move recorded as
/// cancelled (mutation survivor: `abandon_move` a no-op left the client
/// moving, its new connection open).
#[test]
fn quitting_during_a_move_cancels_it() {
    let (mut r, new) = asked_to_move(cfg());
    r.input(ClientInput::Connected { link: new });
    r.input(ClientInput::Command(ClientCommand::Quit));
    assert!(!r.c.is_moving());
    assert!(r.closed.contains(&new), "{:?}", r.closed);
    assert_eq!(r.c.moves().len(), 1);
    assert_eq!(r.c.moves()[0].2, "cancelled");
}

/// Only a HANDOK naming this move's id swaps connections: another id
/// leaves the client moving, still on its old server (mutation survivor:
/// the id test as `true` swapped on any HANDOK).
#[test]
fn a_handok_with_another_id_does_not_swap() {
    let (mut r, new) = asked_to_move(cfg());
    r.input(ClientInput::Connected { link: new });
    r.frame_on(new, &["HANDOK", "00000000000000ac"]);
    assert!(r.c.is_moving());
    assert_eq!(r.c.server(), Some("A"));
    r.frame_on(new, &["HANDOK", "00000000000000ab"]);
    assert!(!r.c.is_moving());
    assert_eq!(r.c.server(), Some("B"));
}

/// After the swap the source's connection is read until it closes (what
/// it sent before letting go), but nothing is sent there, not even a PONG
/// (a mutation survivor: reading only its PINGs went unnoticed).
#[test]
fn after_a_move_the_old_connection_is_read_to_its_end_but_not_answered() {
    let (mut r, new) = asked_to_move(cfg());
    r.input(ClientInput::Connected { link: new });
    r.frame_on(new, &["HANDOK", "00000000000000ab"]);
    assert_eq!(r.c.server(), Some("B"));
    r.frame(&[
        "RMSG", "#r", "1", "A", "1", "B-1-1", "bob", "B-1-1/1", "late",
    ]);
    assert_eq!(r.delivered(), [(1, "late".into())]);
    r.frame(&["PING", "7"]);
    assert_eq!(r.pongs, [] as [LinkId; 0]);
    assert!(r.sent_to(SRV).iter().all(|v| v[0] != "PONG"));
}

#[test]
fn under_redirect_dedup_a_message_on_both_connections_is_delivered_twice() {
    // The ablation's effect, on the same frames as above: the copy that
    // came the other way is delivered again (order.once judges that).
    let (mut r, new) = asked_to_move(ClientConfig {
        no_redirect_dedup: true,
        ..cfg()
    });
    r.input(ClientInput::Connected { link: new });
    let one = [
        "RMSG", "#r", "1", "A", "1", "B-1-1", "bob", "B-1-1/1", "one",
    ];
    r.frame(&one);
    r.frame_on(new, &one);
    assert_eq!(r.delivered(), [(1, "one".into()), (1, "one".into())]);
    // Outside a move the ablation changes nothing.
    let mut r = Rig::joined(ClientConfig {
        no_redirect_dedup: true,
        ..cfg()
    });
    r.frame(&one);
    r.frame(&one);
    assert_eq!(r.delivered(), [(1, "one".into())]);
}

#[test]
fn a_client_that_refuses_says_so_and_stays() {
    let mut r = Rig::joined(ClientConfig {
        accept_redirect: false,
        ..cfg()
    });
    r.frame(&["REDIRECT", "00000000000000ab", "B"]);
    assert!(
        r.dialled.len() == 1,
        "only the first connect: {:?}",
        r.dialled
    );
    assert_eq!(
        r.sent_to(SRV).last().unwrap(),
        &["REDIRNO", "00000000000000ab", "refused"]
    );
    assert_eq!(r.c.moves()[0].2, "refused");
}

#[test]
fn a_move_that_fails_sends_the_held_frames_to_the_old_server() {
    let (mut r, new) = asked_to_move(cfg());
    r.input(ClientInput::Connected { link: new });
    r.input(ClientInput::Command(ClientCommand::Join("#late")));
    // The target refuses and closes.
    r.frame_on(new, &["ERROR", "redirect refused: unknown id"]);
    r.input(ClientInput::Closed { link: new });
    let old = r.sent_to(SRV);
    assert_eq!(
        old[old.len() - 2],
        ["REDIRNO", "00000000000000ab", "cancelled"]
    );
    assert_eq!(old[old.len() - 1], ["JOINROOM", "#late"]);
    assert_eq!(r.c.server(), Some("A"));
    assert_eq!(r.c.moves()[0].2, "cancelled");
}

#[test]
fn a_move_the_source_gave_up_is_dropped_at_redircancel() {
    let (mut r, new) = asked_to_move(cfg());
    r.input(ClientInput::Connected { link: new });
    r.frame(&["REDIRCANCEL", "00000000000000ab", "timed-out"]);
    assert!(r.closed.contains(&new));
    assert!(!r.c.is_moving());
    assert_eq!(r.c.moves()[0].2, "timed-out");
}

// ------------------------------------------------------- private talks

fn private(r: &mut Rig, to: &str, text: &str) {
    r.input(ClientInput::Command(ClientCommand::Private { to, text }));
}

fn private_notes(r: &Rig) -> Vec<String> {
    r.notes
        .iter()
        .filter_map(|n| match n {
            ChatNote::PrivateSent { to, text } => Some(format!("sent {to} {text}")),
            ChatNote::PrivateFailed { to, reason, .. } => Some(format!("failed {to} {reason}")),
            ChatNote::PrivateReceived { from, text } => Some(format!("got {from} {text}")),
            _ => None,
        })
        .collect()
}

#[test]
fn a_private_talk_asks_once_then_opens_a_direct_link_and_sends_what_waited() {
    let mut r = Rig::joined(cfg());
    private(&mut r, "Bob", "one");
    private(&mut r, "bob", "two");
    // One request for both (the nick is case-folded), nothing sent yet.
    let reqs: Vec<_> = r.sent.iter().filter(|w| w[0] == "PRIVREQ").collect();
    assert_eq!(reqs.len(), 1, "{:?}", r.sent);
    assert_eq!(reqs[0][1], "Bob");
    assert!(private_notes(&r).is_empty());
    r.frame(&["PRIVANS", "bob", "yes", "10.0.0.2:7000"]);
    let (peer, addr) = r.dialled.last().cloned().expect("dialled the peer");
    assert_eq!(addr, "10.0.0.2:7000");
    r.input(ClientInput::Connected { link: peer });
    let on_peer = r.sent_to(peer);
    assert_eq!(on_peer[0], ["PHELLO", "alice"]);
    assert_eq!(on_peer[1..], [["PTEXT", "one"], ["PTEXT", "two"]]);
    assert_eq!(private_notes(&r), ["sent bob one", "sent bob two"]);
    // The link is open now: the next one goes straight out.
    private(&mut r, "BOB", "three");
    assert_eq!(r.sent_to(peer).last().unwrap(), &["PTEXT", "three"]);
    assert_eq!(r.sent.iter().filter(|w| w[0] == "PRIVREQ").count(), 1);
    // What the peer says is logged under the nick it gave.
    r.frame_on(peer, &["PHELLO", "bob"]);
    r.frame_on(peer, &["PTEXT", "hello"]);
    assert_eq!(private_notes(&r).last().unwrap(), "got bob hello");
    let log: Vec<(&str, &str)> =
        r.c.private_log()
            .iter()
            .map(|(f, t)| (&**f, &**t))
            .collect();
    assert_eq!(log, [("bob", "hello")]);
}

#[test]
fn a_refused_private_talk_fails_each_waiting_message() {
    let mut r = Rig::joined(cfg());
    private(&mut r, "bob", "one");
    private(&mut r, "bob", "two");
    r.frame(&["PRIVANS", "bob", "no", ""]);
    assert!(r.dialled.iter().all(|(l, _)| *l == SRV));
    assert_eq!(
        private_notes(&r),
        [
            "failed bob private message refused",
            "failed bob private message refused"
        ]
    );
    // An answer nobody asked for changes nothing.
    r.frame(&["PRIVANS", "carol", "yes", "10.0.0.3:7000"]);
    assert!(r.dialled.iter().all(|(l, _)| *l == SRV));
}

/// A client that logs in through the greeter `G`, with `B` to fall back to.
fn greeting() -> Rig {
    let mut c = cfg();
    c.greeter = Some("G".into());
    c.session = Some("#r".into());
    c.login_timeout = Some(Duration::from_secs(10));
    let mut r = Rig::new(c);
    r.input(ClientInput::Command(ClientCommand::Connect {
        server: "B",
        nick: None,
    }));
    r
}

/// `greeting()` after the greeter's GTOKEN for `S`, connected to `S`
/// (the token presented); with the greeter's and the session's links.
fn at_session_server() -> (Rig, LinkId, LinkId) {
    let mut r = greeting();
    let gl = r.dialled[0].0;
    r.input(ClientInput::Connected { link: gl });
    r.frame_on(gl, &["GTOKEN", "S", "tok"]);
    let sl = r.dialled[1].0;
    r.input(ClientInput::Connected { link: sl });
    (r, gl, sl)
}

fn login_ends(r: &Rig) -> Vec<(&'static str, String, String)> {
    r.notes
        .iter()
        .filter_map(|n| match n {
            ChatNote::LoginEnded {
                outcome,
                server,
                reason,
            } => Some((*outcome, server.to_string(), reason.to_string())),
            _ => None,
        })
        .collect()
}

#[test]
fn a_greeter_login_presents_the_token_at_the_session_server() {
    let mut r = greeting();
    let (gl, to) = r.dialled[0].clone();
    assert_eq!(to, "G");
    r.input(ClientInput::Connected { link: gl });
    assert_eq!(r.sent, [["GLOGIN", "alice", "alice", "#r"]]);
    r.frame_on(gl, &["GSESSION", "#r", "S:4"]);
    // A TOKENERR is the session server's word, not the greeter's.
    r.frame_on(gl, &["TOKENERR", "expired"]);
    assert_eq!(r.sent.len(), 1, "no full login at the greeter");
    r.frame_on(gl, &["GTOKEN", "S", "tok"]);
    assert_eq!(r.closed, [gl], "the greeter's connection is closed");
    let (sl, to) = r.dialled[1].clone();
    assert_eq!(to, "S");
    r.input(ClientInput::Connected { link: sl });
    assert_eq!(r.sent.last().unwrap(), &["TOKEN", "tok"]);
    // GSESSION is the greeter's word: on the session's link it is not kept.
    r.frame_on(sl, &["GSESSION", "#x", "S:9"]);
    assert_eq!(r.c.sessions().len(), 1);
    assert!(!r.sent.iter().any(|w| w[0] == "USER" || w[0] == "NICK"));
    r.frame_on(sl, &["WELCOME", "alice", "S-1-1"]);
    assert_eq!(r.c.state(), ClientState::Connected);
    assert_eq!((r.c.login_kind(), r.c.session()), ("greeter", Some("S")));
    assert_eq!(r.c.fallback_reason(), None);
    assert_eq!(r.c.sessions()[0], ("#r".into(), "S:4".into()));
    assert_eq!(
        login_ends(&r),
        [("session", "S".to_string(), String::new())]
    );
}

#[test]
fn a_refused_token_falls_back_to_a_full_login_on_the_same_connection() {
    let (mut r, _, sl) = at_session_server();
    r.sent.clear();
    r.frame_on(sl, &["TOKENERR", "expired"]);
    assert_eq!(
        r.sent,
        [
            vec!["USER", "alice", "0", "*", "Alice A"],
            vec!["NICK", "alice"]
        ]
    );
    assert_eq!(r.dialled.len(), 2, "no new connection");
    assert_eq!(
        login_ends(&r),
        [(
            "fallback",
            "S".to_string(),
            "token refused: expired".to_string()
        )]
    );
    r.frame_on(sl, &["WELCOME", "alice", "S-1-1"]);
    assert_eq!((r.c.login_kind(), r.c.session()), ("direct", None));
    assert_eq!(r.c.fallback_reason(), Some("token refused: expired"));
}

#[test]
fn a_silent_greeter_is_given_up_after_the_login_timeout() {
    let mut r = greeting();
    let gl = r.dialled[0].0;
    r.input(ClientInput::Connected { link: gl });
    assert_eq!(
        r.c.poll_timeout(),
        Some(Instant::ZERO + Duration::from_secs(10))
    );
    r.now = Instant::ZERO + Duration::from_secs(9);
    r.input(ClientInput::Timeout);
    assert!(login_ends(&r).is_empty());
    r.now = Instant::ZERO + Duration::from_secs(10);
    r.input(ClientInput::Timeout);
    assert_eq!(r.closed, [gl]);
    assert_eq!(r.dialled[1].1, "B", "a full login at the fallback server");
    assert_eq!(
        login_ends(&r),
        [("fallback", "B".to_string(), "login timed out".to_string())]
    );
    let bl = r.dialled[1].0;
    r.input(ClientInput::Connected { link: bl });
    assert_eq!(r.sent.last().unwrap(), &["NICK", "alice"]);
    // A refusal by the greeter falls back at once.
    let mut r = greeting();
    let gl = r.dialled[0].0;
    r.input(ClientInput::Connected { link: gl });
    r.frame_on(gl, &["GREFUSE", "no session server"]);
    assert_eq!(r.dialled[1].1, "B");
}

#[test]
fn a_quit_is_closed_on_its_acknowledgement_and_an_exit_at_once() {
    let mut r = Rig::joined(cfg());
    r.input(ClientInput::Command(ClientCommand::Quit));
    assert_eq!(r.sent, [["QUIT", "leaving"]]);
    assert!(r.closed.is_empty());
    r.frame(&["ERROR", "closing link: leaving"]);
    assert_eq!(r.closed, [SRV]);
    assert_eq!(r.c.state(), ClientState::Quit);
    assert!(
        !r.noted(|n| matches!(n, ChatNote::Disconnected { .. })),
        "the acknowledgement is not a disconnection"
    );
    // No ERROR: closed at ping_timeout.
    let mut r = Rig::joined(cfg());
    r.input(ClientInput::Command(ClientCommand::Quit));
    let due = r.c.poll_timeout().unwrap();
    assert_eq!(due, r.now + cfg().ping_timeout);
    r.now = due;
    r.input(ClientInput::Timeout);
    assert_eq!(r.closed, [SRV]);
    // EXIT: the server closes without a word, and so does the client.
    let mut r = Rig::joined(cfg());
    r.input(ClientInput::Command(ClientCommand::Exit("bye")));
    assert_eq!(r.sent, [["EXIT", "bye"]]);
    assert_eq!(r.closed, [SRV]);
}

#[test]
fn ulist_and_listrooms_answers_are_kept_with_their_question() {
    let mut r = Rig::joined(cfg());
    r.input(ClientInput::Command(ClientCommand::Ulist("#r")));
    r.input(ClientInput::Command(ClientCommand::ListRooms));
    assert_eq!(r.sent, [vec!["ULIST", "#r"], vec!["LISTROOMS"]]);
    r.frame(&["USERS", "#r", "alice", "bob"]);
    r.frame(&["ROOMS", "#r", "#s"]);
    let got: Vec<(String, Vec<String>)> =
        r.c.answers()
            .iter()
            .map(|(q, a)| (q.to_string(), a.iter().map(|w| w.to_string()).collect()))
            .collect();
    assert_eq!(
        got,
        [
            (
                "ulist #r".to_string(),
                vec!["#r".to_string(), "alice".into(), "bob".into()]
            ),
            ("listrooms".to_string(), vec!["#r".to_string(), "#s".into()]),
        ]
    );
}

#[test]
fn a_new_session_after_an_unacknowledged_quit_takes_errors_as_its_own() {
    let mut r = Rig::joined(cfg());
    r.input(ClientInput::Command(ClientCommand::Quit));
    r.input(ClientInput::Command(ClientCommand::Connect {
        server: "A",
        nick: None,
    }));
    let (l, _) = r.dialled.last().unwrap().clone();
    r.input(ClientInput::Connected { link: l });
    r.frame_on(l, &["WELCOME", "alice", "A-1-2"]);
    r.notes.clear();
    r.frame_on(l, &["ERROR", "server shutting down"]);
    r.input(ClientInput::Closed { link: l });
    let told: Vec<String> = r
        .notes
        .iter()
        .filter_map(|n| match n {
            ChatNote::Disconnected { reason } => Some(reason.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(told, ["server shutting down"]);
}

#[test]
fn a_probe_records_each_answer_and_a_silent_close() {
    let mut r = greeting();
    r.input(ClientInput::Command(ClientCommand::PresentToken {
        server: "S",
        kind: "replayed",
        token: "t1",
    }));
    let (p1, to) = r.dialled.last().unwrap().clone();
    assert_eq!(to, "S");
    r.input(ClientInput::Connected { link: p1 });
    assert_eq!(r.sent.last().unwrap(), &["TOKEN", "t1"]);
    r.frame_on(p1, &["TOKENERR", "replay"]);
    assert!(r.closed.contains(&p1));
    r.input(ClientInput::Command(ClientCommand::PresentToken {
        server: "S",
        kind: "expired",
        token: "t2",
    }));
    let p2 = r.dialled.last().unwrap().0;
    r.input(ClientInput::Connected { link: p2 });
    r.input(ClientInput::Closed { link: p2 });
    let log: Vec<(String, String, String)> =
        r.c.probe_log()
            .iter()
            .map(|(s, k, a)| (s.to_string(), k.to_string(), a.to_string()))
            .collect();
    assert_eq!(
        log,
        [
            ("S".into(), "replayed".into(), "replay".into()),
            ("S".into(), "expired".into(), "closed".into())
        ]
    );
    // The login on the side went on untouched.
    assert!(r.c.logging_in());
}

#[test]
fn list_messages_received_are_kept_with_their_sender() {
    let mut r = Rig::joined(cfg());
    r.frame(&["LMSG", "bob", "hi all"]);
    r.frame(&["LMSG", "carol", "and you"]);
    let got: Vec<(String, String)> =
        r.c.list_log()
            .iter()
            .map(|(f, t)| (f.to_string(), t.to_string()))
            .collect();
    assert_eq!(
        got,
        [
            ("bob".to_string(), "hi all".to_string()),
            ("carol".to_string(), "and you".to_string())
        ]
    );
    // Each is noted as it arrives (what `list.kept` reads).
    assert!(
        r.noted(|n| matches!(n, ChatNote::ListReceived { from, text }
        if &**from == "carol" && &**text == "and you"))
    );
}

/// Also under `retry_to_back`: with no other message to go first, the
/// one that failed is judged as without it, not sent to the back forever.
#[test]
fn a_refusal_that_no_retry_can_mend_fails_the_message_at_once() {
    let whys = ["no such room", "not a member", "number not held"];
    for (why, retry_to_back) in whys.into_iter().flat_map(|w| [(w, false), (w, true)]) {
        let mut r = Rig::joined(ClientConfig {
            retry_to_back,
            ..cfg()
        });
        r.say("hi");
        r.frame(&["NEWSEQ", "#r", "1", "A", "1"]);
        r.sent.clear();
        r.frame(&["SENDFAIL", "#r", "1", "A", "1", why]);
        let failed =
            r.noted(|n| matches!(n, ChatNote::SendFailed { reason, .. } if &**reason == why));
        let retried = r.sent == [["GETSEQ", "#r"]];
        if why == "number not held" {
            assert!(retried && !failed, "{why} {retry_to_back}: {:?}", r.sent);
        } else {
            assert!(failed && !retried, "{why} {retry_to_back}: {:?}", r.sent);
        }
    }
}

#[test]
fn a_start_point_of_zero_for_the_current_stream_changes_nothing() {
    let mut r = Rig::joined(cfg());
    r.frame(&["SYNC", "#r", "1", "A", "0"]);
    r.frame(&[
        "RMSG", "#r", "1", "A", "1", "B-1-1", "bob", "B-1-1/1", "one",
    ]);
    assert_eq!(r.delivered(), [(1, "one".to_string())]);
    assert!(r.sent.is_empty(), "no gap to ask about: {:?}", r.sent);
}

#[test]
fn a_long_gap_is_asked_about_seventeen_numbers_at_a_time() {
    let mut r = Rig::joined(cfg());
    r.frame(&[
        "RMSG", "#r", "1", "A", "40", "B-1-1", "bob", "B-1-1/40", "late",
    ]);
    r.after(Duration::from_secs(2));
    let asked: Vec<&str> = r
        .sent
        .iter()
        .filter(|w| w[0] == "FINDSEQ")
        .map(|w| w[4].as_str())
        .collect();
    let want: Vec<String> = (1..=17).map(|n| n.to_string()).collect();
    assert_eq!(asked, want);
}

/// Mutation survivors (client/mod.rs, the `Nick` arm while not connected,
/// the `ROOMERR` arm, the connected check on `KILLED`): each test below
/// fails with its mutant.
#[test]
fn a_nick_change_asked_while_not_connected_is_refused_as_such() {
    let mut r = Rig::new(cfg());
    r.input(ClientInput::Command(ClientCommand::Nick("bob")));
    assert_eq!(
        r.notes,
        vec![ChatNote::NickRefused {
            nick: "bob".into(),
            reason: "not connected".into(),
        }]
    );
    assert!(r.sent.is_empty(), "no server to ask");
}

#[test]
fn a_kill_of_a_connected_client_is_told_as_a_disconnection_with_its_reason() {
    let mut r = Rig::joined(cfg());
    r.frame(&["KILLED", "nick collision"]);
    assert_eq!(
        r.notes,
        vec![ChatNote::Disconnected {
            reason: "killed: nick collision".into(),
        }]
    );
    assert_eq!(r.closed, vec![SRV]);
    assert_eq!(r.c.state(), ClientState::Killed);
}

#[test]
fn a_kill_during_registration_is_no_disconnection_of_a_session() {
    let mut r = Rig::connected(cfg());
    r.notes.clear();
    r.frame(&["KILLED", "nick collision"]);
    assert!(
        !r.noted(|n| matches!(n, ChatNote::Disconnected { .. })),
        "{:?}",
        r.notes
    );
    assert_eq!(r.c.state(), ClientState::Killed);
}

#[test]
fn a_room_the_server_refused_is_not_asked_for_again_at_the_next_welcome() {
    let mut c = cfg();
    c.autojoin = vec!["#bad".into(), "#ok".into()];
    let mut r = Rig::connected(c);
    r.frame(&["WELCOME", "alice", "A-1-1"]);
    let joins = |r: &Rig| -> Vec<String> {
        r.sent
            .iter()
            .filter(|v| v[0] == "JOINROOM")
            .map(|v| v[1].clone())
            .collect()
    };
    assert_eq!(joins(&r), ["#bad", "#ok"]);
    r.frame(&["ROOMERR", "#BAD", "no such room"]);
    r.sent.clear();
    r.frame(&["WELCOME", "alice", "A-1-2"]);
    assert_eq!(
        joins(&r),
        ["#ok"],
        "refused rooms are dropped, by folded name"
    );
}

/// A registration the network rolled back (`NICKERR ... rejected`) while
/// connected: the client is registering again, without a UID, its rooms
/// waiting for the next welcome, and tries the next nick (a survivor: the
/// connected check as `!=` left it connected under a dead UID).
#[test]
fn a_rejected_registration_while_connected_registers_again_under_the_next_nick() {
    let mut r = Rig::joined(cfg());
    assert_eq!(r.c.uid(), Some("A-1-1"));
    r.frame(&["NICKERR", "alice", "rejected: collision"]);
    assert_eq!(r.c.state(), ClientState::Registering);
    assert_eq!(r.c.uid(), None);
    assert!(r.notes.contains(&ChatNote::ClientLink { link: SRV }));
    assert_eq!(r.sent, vec![vec!["NICK".to_string(), "alice_".to_string()]]);
    assert!(
        !r.c.room("#r").unwrap().joined,
        "waits for the next welcome"
    );
}

/// A nick change refused while registered: the old nick stays and the
/// user is told why (a survivor: the `Connected` guard as `!=` dropped it).
#[test]
fn a_refused_nick_change_keeps_the_old_nick_and_says_why() {
    let mut r = Rig::joined(cfg());
    r.input(ClientInput::Command(ClientCommand::Nick("bob")));
    r.frame(&["NICKERR", "bob", "in use"]);
    assert_eq!(
        r.notes,
        vec![ChatNote::NickRefused {
            nick: "bob".into(),
            reason: "in use".into(),
        }]
    );
    assert_eq!(r.c.state(), ClientState::Connected);
    assert_eq!(r.c.nick(), "alice");
}

/// Survivors of client/login.rs: GTOKEN is the greeter's word only (with
/// the guard as `true`, one on the session's link dialled again), the
/// session list is bounded at 20, and a greeter link lost during a login
/// falls back at once.
#[test]
fn a_gtoken_on_the_session_link_is_not_followed() {
    let (mut r, gl, sl) = at_session_server();
    r.frame_on(sl, &["GTOKEN", "T", "other"]);
    assert_eq!(r.dialled.len(), 2, "no dial to T");
    assert_eq!(r.closed, [gl], "the session's link stays");
    r.frame_on(sl, &["WELCOME", "alice", "S-1-1"]);
    assert_eq!(r.c.session(), Some("S"));
}

#[test]
fn a_greeter_names_at_most_twenty_sessions() {
    let mut r = greeting();
    let gl = r.dialled[0].0;
    r.input(ClientInput::Connected { link: gl });
    for i in 0..25 {
        r.frame_on(gl, &["GSESSION", &format!("#r{i}"), "S:1"]);
    }
    assert_eq!(r.c.sessions().len(), 20);
    assert_eq!(&*r.c.sessions()[19].0, "#r19", "the first twenty kept");
}

#[test]
fn a_greeter_link_lost_during_the_login_falls_back_at_once() {
    let mut r = greeting();
    let gl = r.dialled[0].0;
    r.input(ClientInput::Connected { link: gl });
    r.input(ClientInput::Closed { link: gl });
    assert_eq!(
        login_ends(&r),
        [(
            "fallback",
            "B".to_string(),
            "greeter unreachable".to_string()
        )]
    );
    assert_eq!(r.dialled[1].1, "B", "a full login at the fallback server");
}

/// Survivors of client/moves.rs and login.rs: a move's deadline is
/// `redirect_timeout` ahead and reached at its instant, the new connection
/// answers its server's PINGs before the swap, and `logging_in` holds only
/// during a greeter login.
#[test]
fn a_move_times_out_at_its_deadline_and_not_before() {
    let (mut r, new) = asked_to_move(cfg());
    r.input(ClientInput::Connected { link: new });
    let due = r.now + cfg().redirect_timeout;
    assert_eq!(r.c.poll_timeout().map(|t| t <= due), Some(true));
    r.now = due - Duration::from_millis(1);
    r.input(ClientInput::Timeout);
    assert!(r.c.moves().is_empty(), "still under way");
    r.now = due;
    r.input(ClientInput::Timeout);
    assert_eq!(r.c.moves()[0].2, "timed-out");
}

#[test]
fn the_new_connection_answers_pings_before_the_swap() {
    let (mut r, new) = asked_to_move(cfg());
    r.input(ClientInput::Connected { link: new });
    r.frame_on(new, &["PING", "7"]);
    assert_eq!(r.pongs, [new]);
}

#[test]
fn logging_in_holds_only_while_a_greeter_login_is_under_way() {
    let r = Rig::joined(cfg());
    assert!(!r.c.logging_in(), "a direct login");
    let r = Rig::new(cfg());
    assert!(!r.c.logging_in(), "not connected, and no greeter login");
    let (mut r, _, sl) = at_session_server();
    assert!(r.c.logging_in(), "under way until the session's welcome");
    r.frame_on(sl, &["WELCOME", "alice", "S-1-1"]);
    assert!(!r.c.logging_in());
}

/// A survivor: an ERROR from the session server is not the greeter's
/// refusal (with the guard as `true` it fell back to a full login at
/// once, as from the greeter).
#[test]
fn an_error_from_the_session_server_is_not_a_greeter_refusal() {
    let (mut r, _, sl) = at_session_server();
    r.frame_on(sl, &["ERROR", "going down"]);
    assert!(login_ends(&r).is_empty(), "{:?}", login_ends(&r));
    assert_eq!(r.dialled.len(), 2, "no fallback dial");
}

/// A plain RMSG is read straight off the bytes, anything else (escaped
/// or non-ASCII text, a missing argument) through a `Frame`: both arrive
/// the same, in order, with the sender and text whole.
#[test]
fn plain_and_escaped_room_messages_are_delivered_alike() {
    let mut r = Rig::joined(cfg());
    let plain = ["RMSG", "#r", "1", "A", "1", "B-1-1", "bob", "B-1-1/1", "hi"];
    r.frame(&plain);
    r.frame(&[
        "RMSG",
        "#r",
        "1",
        "A",
        "2",
        "B-1-1",
        "bob",
        "B-1-1/2",
        "héllo, <you>",
    ]);
    r.frame(&["RMSG", "#r", "1", "A", "3", "B-1-1", "bob", "B-1-1/3"]);
    r.frame(&[
        "RMSG", "#r", "1", "A", "3", "B-1-1", "bob", "B-1-1/3", "", "extra",
    ]);
    assert_eq!(
        r.delivered(),
        [
            (1, "hi".to_string()),
            (2, "héllo, <you>".to_string()),
            (3, String::new())
        ]
    );
    let (_, _, second) = r.c.room("#r").unwrap().log.messages().nth(1).unwrap();
    assert_eq!(
        (second.uid(), second.nick(), second.id()),
        ("B-1-1", "bob", "B-1-1/2")
    );
    // A plain RMSG on a link that is not the server's is not taken.
    r.frame_on(LinkId(9), &plain);
    assert_eq!(r.delivered().len(), 3);
}

/// Survivors of client/rooms.rs (shard 0/4): each test fails on its
/// mutant. A message fails for good after three tries.
#[test]
fn a_message_refused_three_times_is_given_up() {
    let mut r = Rig::joined(cfg());
    r.say("hi");
    for n in 1..=3 {
        let n = n.to_string();
        r.frame(&["NEWSEQ", "#r", "1", "A", &n]);
        r.frame(&["SENDFAIL", "#r", "1", "A", &n, "lost"]);
    }
    assert_eq!(
        r.sent_commands(),
        ["GETSEQ", "CSEND", "GETSEQ", "CSEND", "GETSEQ", "CSEND"]
    );
    assert!(
        r.noted(|n| matches!(n, ChatNote::SendFailed { reason, .. } if &**reason == "lost")),
        "{:?}",
        r.notes
    );
    assert_eq!(r.c.room("#r").unwrap().unsent(), 0);
}

/// A refusal by a server handing its stream over (its number taken back
/// when the handover began) costs the message no try: refused so after
/// its third try, the message is asked for again, and only the tries
/// that are the message's own count (`handover-refusal`; swarm-nicks
/// seed 45617 at 1 s hops).
#[test]
fn a_refusal_as_handed_over_costs_no_try() {
    let mut r = Rig::joined(cfg());
    r.say("hi");
    for n in 1..=2 {
        let n = n.to_string();
        r.frame(&["NEWSEQ", "#r", "1", "A", &n]);
        r.frame(&["SENDFAIL", "#r", "1", "A", &n, "lost"]);
    }
    for n in 3..=5 {
        let n = n.to_string();
        r.frame(&["NEWSEQ", "#r", "1", "A", &n]);
        r.frame(&["SENDFAIL", "#r", "1", "A", &n, HANDED_OVER]);
    }
    assert!(r
        .notes
        .iter()
        .all(|n| !matches!(n, ChatNote::SendFailed { .. })));
    assert_eq!(r.sent_commands().last(), Some(&"GETSEQ"));
    assert_eq!(r.c.room("#r").unwrap().unsent(), 1);
    // Its third try of its own ends it.
    r.frame(&["NEWSEQ", "#r", "1", "A", "6"]);
    r.frame(&["SENDFAIL", "#r", "1", "A", "6", "lost"]);
    assert!(r.noted(|n| matches!(n, ChatNote::SendFailed { reason, .. } if &**reason == "lost")));
    assert_eq!(r.c.room("#r").unwrap().unsent(), 0);
    // Under at-once, a first try refused as handed over is a try all the
    // same: the retry asks for a number first, as any retry does.
    let mut r = Rig::joined(at_once());
    r.say("hi");
    r.frame(&["SENDFAIL", "#r", "1", "A", "0", HANDED_OVER, "A-1-1/1"]);
    assert_eq!(r.sent_commands(), ["CSEND", "GETSEQ"]);
}

/// Under `retry_to_back` a failed message goes behind the next one.
#[test]
fn with_retry_to_back_a_failed_message_waits_behind_the_next() {
    let mut c = cfg();
    c.retry_to_back = true;
    let mut r = Rig::joined(c);
    r.say("first");
    r.say("second");
    r.frame(&["NEWSEQ", "#r", "1", "A", "1"]);
    r.frame(&["SENDFAIL", "#r", "1", "A", "1", "lost"]);
    r.frame(&["NEWSEQ", "#r", "1", "A", "2"]);
    let last = r.sent.last().unwrap();
    assert_eq!((last[0].as_str(), last[6].as_str()), ("CSEND", "second"));
}

#[test]
fn a_message_for_a_room_never_joined_is_noted_but_a_sync_is_not() {
    let mut r = Rig::joined(cfg());
    r.frame(&["SYNC", "#other", "1", "A", "1"]);
    assert!(r.notes.is_empty(), "{:?}", r.notes);
    r.frame(&[
        "RMSG", "#other", "1", "A", "1", "B-1-1", "bob", "B-1-1/1", "hi",
    ]);
    assert_eq!(
        r.notes,
        [ChatNote::NotMember {
            room: "#other".into()
        }]
    );
}

/// A newer stream closes the old one: what waited behind its gaps is
/// delivered and each gap passed over once; entries of a stream the new
/// one beats are counted late; `buffered` counts what waits.
#[test]
fn closing_a_stream_passes_over_each_gap_once_and_counts_beaten_entries_late() {
    let mut r = Rig::joined(cfg());
    let rmsg = |epoch: &str, n: &str| {
        let id = format!("B-1-1/{n}");
        [
            "RMSG".to_string(),
            "#r".into(),
            epoch.into(),
            "A".into(),
            n.into(),
            "B-1-1".into(),
            "bob".into(),
            id,
            format!("m{n}"),
        ]
    };
    for n in ["3", "5"] {
        let f = rmsg("1", n);
        r.frame(&f.iter().map(String::as_str).collect::<Vec<_>>());
    }
    assert_eq!(r.c.room("#r").unwrap().buffered(), 2);
    // An entry of stream 2, which stream 3 will beat, waits as early.
    let f = rmsg("2", "1");
    r.frame(&f.iter().map(String::as_str).collect::<Vec<_>>());
    r.notes.clear();
    r.frame(&["SYNC", "#r", "3", "A", "1"]);
    let gaps: Vec<u64> = r
        .notes
        .iter()
        .filter_map(|n| match n {
            ChatNote::GapClosed { n, .. } => Some(*n),
            _ => None,
        })
        .collect();
    assert_eq!(gaps, [1, 2, 4], "each gap once");
    assert_eq!(r.delivered(), [(3, "m3".into()), (5, "m5".into())]);
    let room = r.c.room("#r").unwrap();
    assert_eq!((room.buffered(), room.late), (0, 1));
}

/// Mutation survivors of shard 1/4 (client/mod.rs): the `Private` arm
/// while not connected, `NICKOK`, `PRIVERR`, the connected guard on
/// `NICKERR`, `PHELLO` on an inbound link, and the two limits of
/// `on_timeout`. Each test below fails with its mutant.
/// A client keeps at most 1,000 list answers, the first ones (mutation
/// survivor: `<` as `<=` kept one more).
#[test]
fn at_most_a_thousand_answers_are_kept() {
    let mut r = Rig::joined(cfg());
    for i in 0..1_001 {
        r.frame(&["USERS", "#r", &format!("u{i}")]);
    }
    assert_eq!(r.c.answers().len(), 1_000);
    assert_eq!(r.c.answers()[999].1.last().map(|s| &**s), Some("u999"));
}

/// Mutation survivors of the whole-set run (client/mod.rs): the `PRIVREQ`
/// and `LERR` arms. A peer's request is answered through the server with
/// this client's address and its choice; a list message that could not
/// reach one recipient is a failure for that recipient.
#[test]
fn a_private_request_is_answered_with_the_configured_choice() {
    for accept in [true, false] {
        let mut r = Rig::joined(ClientConfig {
            accept_private: accept,
            ..cfg()
        });
        r.frame(&["PRIVREQ", "bob", "B-1-1", "10.0.0.5"]);
        let answer = if accept { "yes" } else { "no" };
        assert_eq!(r.sent, [["PRIVANS", "B-1-1", answer, "alice"]]);
    }
}

#[test]
fn a_list_message_error_fails_its_recipient() {
    let mut r = Rig::joined(cfg());
    r.frame(&["LERR", "bob", "no such nick"]);
    assert_eq!(private_notes(&r), ["failed bob no such nick"]);
}

/// Mutation survivors of the whole-set run (client/mod.rs): the `PING`
/// and `RENAMED` arms of a server frame.
#[test]
fn a_server_ping_is_answered_on_the_server_link() {
    let mut r = Rig::joined(cfg());
    r.frame(&["PING", "5"]);
    assert_eq!(r.pongs, [SRV]);
}

#[test]
fn a_rename_by_the_server_is_the_clients_nick_from_then_on() {
    let mut r = Rig::joined(cfg());
    r.frame(&["RENAMED", "alice_"]);
    assert_eq!(r.c.nick(), "alice_");
}

/// Mutation survivors of the whole-set run (client/mod.rs): `Say` while
/// not connected, and LEAVEROOM sent only while connected.
#[test]
fn a_room_message_asked_while_not_connected_fails_as_such() {
    let mut r = Rig::new(cfg());
    r.say("hi");
    assert_eq!(
        r.notes,
        vec![ChatNote::SendFailed {
            room: "#r".into(),
            reason: "not connected".into(),
            k: None,
        }]
    );
    assert!(r.sent.is_empty());
}

#[test]
fn leaving_a_room_tells_the_server_only_once_registered() {
    let mut r = Rig::joined(cfg());
    assert!(r.c.room("#r").unwrap().joined);
    r.input(ClientInput::Command(ClientCommand::Leave("#r")));
    assert_eq!(r.sent, [["LEAVEROOM", "#r"]]);
    // Left at once, whatever the server says (mutation survivor:
    // `RoomState::leave` a no-op).
    assert!(!r.c.room("#r").unwrap().joined);
    let mut r = Rig::connected(cfg());
    r.sent.clear();
    r.input(ClientInput::Command(ClientCommand::Leave("#r")));
    assert!(r.sent.is_empty(), "{:?}", r.sent);
}

#[test]
fn a_private_message_asked_while_not_connected_fails_as_such() {
    let mut r = Rig::new(cfg());
    private(&mut r, "bob", "hi");
    assert_eq!(private_notes(&r), ["failed bob not connected"]);
    assert!(r.sent.is_empty());
    // A list message fails once per recipient.
    let to = ["carol".to_string(), "dave".to_string()];
    r.input(ClientInput::Command(ClientCommand::SendList {
        to: &to,
        text: "hi",
    }));
    assert_eq!(
        private_notes(&r),
        [
            "failed bob not connected",
            "failed carol not connected",
            "failed dave not connected"
        ]
    );
    assert!(r.sent.is_empty());
}

#[test]
fn an_accepted_nick_change_becomes_the_clients_nick() {
    let mut r = Rig::joined(cfg());
    r.input(ClientInput::Command(ClientCommand::Nick("carol")));
    assert_eq!(r.sent.last().unwrap(), &["NICK", "carol"]);
    assert_eq!(r.c.nick(), "alice", "not before the server says so");
    r.frame(&["NICKOK", "carol"]);
    assert_eq!(r.c.nick(), "carol");
}

#[test]
fn a_private_request_the_server_cannot_route_fails_each_waiting_message() {
    let mut r = Rig::joined(cfg());
    private(&mut r, "bob", "one");
    private(&mut r, "bob", "two");
    r.frame(&["PRIVERR", "bob", "no such nick"]);
    assert_eq!(
        private_notes(&r),
        ["failed bob no such nick", "failed bob no such nick"]
    );
}

#[test]
fn a_nick_refusal_arriving_after_a_quit_is_not_reported() {
    let mut r = Rig::joined(cfg());
    r.input(ClientInput::Command(ClientCommand::Quit));
    r.notes.clear();
    r.frame(&["NICKERR", "carol", "nick in use"]);
    assert!(
        !r.noted(|n| matches!(n, ChatNote::NickRefused { .. })),
        "{:?}",
        r.notes
    );
}

#[test]
fn an_inbound_private_link_is_logged_under_the_nick_its_peer_gives() {
    let mut r = Rig::joined(cfg());
    let peer = r.c.accept(r.now, &mut r.out);
    r.frame_on(peer, &["PHELLO", "dave"]);
    r.frame_on(peer, &["PTEXT", "psst"]);
    assert_eq!(private_notes(&r), ["got dave psst"]);
}

/// Room traffic is the server's to send: an RMSG on a private link is
/// not a delivery (a mutation survivor: the fast path for RMSG taken on
/// every link but the server's).
#[test]
fn a_room_message_on_a_private_link_is_not_delivered() {
    let mut r = Rig::joined(cfg());
    let peer = r.c.accept(r.now, &mut r.out);
    r.frame_on(peer, &["PHELLO", "dave"]);
    let rmsg = ["RMSG", "#r", "1", "A", "1", "B-1-1", "bob", "B-1-1/1", "hi"];
    r.frame_on(peer, &rmsg);
    assert_eq!(r.delivered(), []);
    r.frame(&rmsg);
    assert_eq!(r.delivered(), [(1, "hi".to_string())]);
}

#[test]
fn timeouts_before_the_registration_and_silence_limits_close_nothing() {
    let mut r = Rig::connected(cfg());
    // Registering since 0 with a 10 s limit: nothing at 5 s.
    r.now = Instant::ZERO + Duration::from_secs(5);
    r.input(ClientInput::Timeout);
    assert!(r.closed.is_empty(), "registration given up early");
    r.frame(&["WELCOME", "alice", "A-1-1"]);
    // Last heard at 5 s; silence ends the link at ping_timeout +
    // ping_interval = 40 s later, not sooner.
    r.now = Instant::ZERO + Duration::from_secs(35);
    r.input(ClientInput::Timeout);
    assert!(r.closed.is_empty(), "closed after 30 s of silence");
    r.now = Instant::ZERO + Duration::from_secs(45);
    r.input(ClientInput::Timeout);
    assert_eq!(r.closed, [SRV]);
}

#[test]
fn a_client_lists_the_rooms_it_is_in() {
    let mut r = Rig::joined(cfg());
    r.input(ClientInput::Command(ClientCommand::Join("#s")));
    r.frame(&["JOINED", "#s"]);
    let rooms: Vec<(&str, bool)> = r.c.rooms().map(|s| (&*s.name, s.joined)).collect();
    assert_eq!(rooms, [("#r", true), ("#s", true)]);
}

/// Mutation survivors of shard 1/4 (client/login.rs, client/moves.rs):
/// a quit during a greeter login ends it as abandoned; a probe that is
/// welcomed records `accepted` and quits; a move the source gave up is
/// not answered with REDIRNO; the old connection closing before the
/// handover is a lost session, not part of the move.
#[test]
fn a_quit_during_a_greeter_login_ends_the_login_as_abandoned() {
    let mut r = greeting();
    let gl = r.dialled[0].0;
    r.input(ClientInput::Connected { link: gl });
    r.input(ClientInput::Command(ClientCommand::Quit));
    assert_eq!(
        login_ends(&r),
        [("abandoned", String::new(), "the user quit".to_string())]
    );
    assert!(!r.c.logging_in());
}

#[test]
fn a_welcomed_probe_records_acceptance_and_quits() {
    let mut r = greeting();
    r.input(ClientInput::Command(ClientCommand::PresentToken {
        server: "S",
        kind: "fresh",
        token: "t1",
    }));
    let p = r.dialled.last().unwrap().0;
    r.input(ClientInput::Connected { link: p });
    r.frame_on(p, &["WELCOME", "alice", "S-1-1"]);
    assert_eq!(r.sent_to(p).last().unwrap(), &["QUIT", "probe"]);
    let log: Vec<String> =
        r.c.probe_log()
            .iter()
            .map(|(_, _, a)| a.to_string())
            .collect();
    assert_eq!(log, ["accepted"]);
    assert_ne!(r.c.state(), ClientState::Connected, "a probe is no session");
}

#[test]
fn a_move_the_source_gave_up_is_not_refused_back_to_it() {
    let (mut r, new) = asked_to_move(cfg());
    r.input(ClientInput::Connected { link: new });
    r.frame(&["REDIRCANCEL", "00000000000000ab", "timed-out"]);
    assert!(
        !r.sent_to(SRV).iter().any(|w| w[0] == "REDIRNO"),
        "{:?}",
        r.sent_to(SRV)
    );
}

#[test]
fn the_old_server_closing_before_the_handover_loses_the_session() {
    let (mut r, _new) = asked_to_move(cfg());
    // The target has not answered the dial yet: nothing was handed over.
    r.input(ClientInput::Closed { link: SRV });
    assert_ne!(r.c.state(), ClientState::Connected);
    assert!(
        r.noted(|n| matches!(n, ChatNote::Disconnected { .. })),
        "{:?}",
        r.notes
    );
}

/// Mutation survivors of shard 1/4 (client/rooms.rs): another sender's
/// message with our counter is not our echo, and a gap is asked about
/// only once `find_delay` has passed.
#[test]
fn another_senders_message_with_our_counter_does_not_release_the_next() {
    let mut r = Rig::joined(cfg());
    r.say("hi");
    r.say("again");
    r.frame(&["NEWSEQ", "#r", "1", "A", "2"]);
    assert_eq!(r.sent[1], ["CSEND", "#r", "1", "A", "2", "A-1-1/1", "hi"]);
    // Bob's first message (his counter 1, like ours) takes number 1.
    r.frame(&["RMSG", "#r", "1", "A", "1", "B-1-1", "bob", "B-1-1/1", "yo"]);
    assert_eq!(r.delivered(), [(1, "yo".to_string())]);
    assert_eq!(
        r.sent.len(),
        2,
        "still waiting for our own echo: {:?}",
        r.sent
    );
    r.frame(&[
        "RMSG", "#r", "1", "A", "2", "A-1-1", "alice", "A-1-1/1", "hi",
    ]);
    assert_eq!(r.sent[2], ["GETSEQ", "#r"]);
}

#[test]
fn a_gap_is_asked_about_only_after_the_find_delay() {
    let mut r = Rig::joined(cfg());
    r.frame(&["RMSG", "#r", "1", "A", "3", "B-1-1", "bob", "B-1-1/3", "c"]);
    r.now = Instant::ZERO + Duration::from_secs(1);
    r.input(ClientInput::Timeout);
    assert!(!r.sent_commands().contains(&"FINDSEQ"), "{:?}", r.sent);
    r.now = Instant::ZERO + Duration::from_secs(2);
    r.input(ClientInput::Timeout);
    let finds: Vec<&Vec<String>> = r.sent.iter().filter(|w| w[0] == "FINDSEQ").collect();
    assert_eq!(finds.len(), 2, "numbers 1 and 2: {:?}", r.sent);
}

/// No sequencer answers for the room: the message waiting for a number is
/// failed at once, and the next one goes.
#[test]
fn a_message_with_no_sequencer_in_reach_fails_and_the_next_goes() {
    let mut r = Rig::joined(cfg());
    r.say("hi");
    r.say("again");
    r.sent.clear();
    r.frame(&["NOSEQ", "#r"]);
    assert_eq!(
        r.notes,
        vec![ChatNote::SendFailed {
            room: "#r".into(),
            reason: "no sequencer".into(),
            k: Some(1),
        }]
    );
    assert_eq!(r.sent, [["GETSEQ", "#r"]], "the second message goes");
    assert_eq!(r.c.room("#r").unwrap().unsent(), 1);
}

/// A message of a newer stream can arrive before the start point that
/// names that stream: it waits, and the start point delivers it; one below
/// the start is passed over.
#[test]
fn a_newer_streams_message_before_its_start_point_waits_for_it() {
    let mut r = Rig::joined(cfg());
    for (n, k, text) in [("3", "1", "below"), ("5", "2", "at start")] {
        let id = format!("B-1-1/{k}");
        r.frame(&["RMSG", "#r", "2", "B", n, "B-1-1", "bob", &id, text]);
    }
    assert!(r.delivered().is_empty());
    r.frame(&["SYNC", "#r", "2", "B", "5"]);
    assert_eq!(r.delivered(), [(5, "at start".to_string())]);
}

/// A message under way is given up `send_timeout` after it went out: that
/// is when its room wants the client woken (mutation survivor: the
/// deadline could be as far before the send as after it).
#[test]
fn a_message_under_way_wakes_the_client_at_its_send_timeout() {
    let mut r = Rig::joined(cfg());
    r.now = Instant::ZERO + Duration::from_secs(50);
    r.say("hi");
    let due = Instant::ZERO + Duration::from_secs(90);
    assert_eq!(r.c.room("#r").unwrap().deadline(&cfg()), Some(due));
}

/// After a move only the joins left unanswered are asked for again: #r
/// (answered JOINED before the redirect) is not, #early is; with the
/// `move-rejoin` ablation neither is (found by swarm-discovery seed
/// 12117: a join that reached the source after it let the user go).
#[test]
fn a_move_asks_again_only_for_the_joins_left_unanswered() {
    for ablate in [false, true] {
        let (mut r, new) = asked_to_move(ClientConfig {
            no_move_rejoin: ablate,
            ..cfg()
        });
        r.input(ClientInput::Command(ClientCommand::Join("#early")));
        r.input(ClientInput::Connected { link: new });
        r.frame_on(new, &["HANDOK", "00000000000000ab"]);
        let joins: Vec<Vec<String>> = r
            .sent_to(new)
            .into_iter()
            .filter(|f| f[0] == "JOINROOM")
            .collect();
        let want: &[[&str; 2]] = if ablate {
            &[]
        } else {
            &[["JOINROOM", "#early"]]
        };
        assert_eq!(joins, want, "ablated: {ablate}");
    }
}

/// A join the user takes back with a leave before its JOINED arrives: the
/// JOINED (followed by the LEFT) does not make the client a member, and
/// the short membership's traffic is dropped as a left room's is, with no
/// note; with the `join-after-leave` ablation the client counts itself a
/// member (swarm-greeter with leaves, seed 513).
#[test]
fn a_join_taken_back_by_a_leave_before_its_answer_does_not_make_a_member() {
    for ablate in [false, true] {
        let mut c = cfg();
        c.no_join_after_leave = ablate;
        let mut r = Rig::joined(c);
        r.input(ClientInput::Command(ClientCommand::Join("#s")));
        r.input(ClientInput::Command(ClientCommand::Leave("#s")));
        assert_eq!(r.sent_commands(), ["JOINROOM", "LEAVEROOM"]);
        r.frame(&["JOINED", "#s", "1", "B"]);
        r.frame(&["SYNC", "#s", "1", "B", "1"]);
        r.frame(&["RMSG", "#s", "1", "B", "1", "B-1-1", "bob", "B-1-1/1", "hi"]);
        r.frame(&["LEFT", "#s"]);
        let joined = r.c.room("#s").is_some_and(|s| s.joined);
        assert_eq!(joined, ablate, "ablated: {ablate}");
        if !ablate {
            assert!(r.notes.is_empty(), "{:?}", r.notes);
        }
        assert!(
            r.c.room("#r").is_some_and(|s| s.joined),
            "the other room stays"
        );
    }
}

/// A nick change and a leave sent to the old server just before the
/// handover, and not answered there, go again to the new one when the
/// move completes, first, before what was held; with the `move-resend`
/// ablation they do not (nick-lost-during-a-move.toml,
/// leave-lost-during-a-move.toml: the source had let the user go).
#[test]
fn a_move_sends_again_the_nick_changes_and_leaves_left_unanswered() {
    for ablate in [false, true] {
        let (mut r, new) = asked_to_move(ClientConfig {
            no_move_resend: ablate,
            ..cfg()
        });
        r.input(ClientInput::Command(ClientCommand::Nick("early")));
        r.input(ClientInput::Command(ClientCommand::Join("#s")));
        r.input(ClientInput::Command(ClientCommand::Leave("#s")));
        r.frame(&["LEFT", "#s"]);
        r.input(ClientInput::Command(ClientCommand::Leave("#r")));
        r.input(ClientInput::Command(ClientCommand::Nick("answered")));
        r.frame(&["NICKOK", "answered"]);
        r.input(ClientInput::Connected { link: new });
        r.input(ClientInput::Command(ClientCommand::Nick("late")));
        r.frame_on(new, &["HANDOK", "00000000000000ab"]);
        let sent: Vec<Vec<String>> = r.sent_to(new).into_iter().skip(1).collect();
        let want: &[&[&str]] = if ablate {
            &[&["NICK", "late"]]
        } else {
            // "early" was answered by the NICKOK of the later "answered"
            // (one server answers in order), and #s's leave by its LEFT:
            // only #r's leave is owed.
            &[&["LEAVEROOM", "#r"], &["NICK", "late"]]
        };
        assert_eq!(sent, want, "ablated: {ablate}");
        assert_eq!(r.c.nick(), "answered");
    }
}

/// After a move, answers can come on both connections: the old server's
/// answer to a change the new server answered too (or that a later
/// change's answer settled) is a second answer, and changes nothing.
#[test]
fn a_second_answer_to_a_nick_change_is_dropped() {
    let (mut r, new) = asked_to_move(cfg());
    r.input(ClientInput::Command(ClientCommand::Nick("first")));
    r.input(ClientInput::Connected { link: new });
    r.input(ClientInput::Command(ClientCommand::Nick("second")));
    r.frame_on(new, &["HANDOK", "00000000000000ab"]);
    assert_eq!(r.sent_to(new)[1..], [["NICK", "first"], ["NICK", "second"]]);
    r.frame_on(new, &["NICKOK", "first"]);
    r.frame_on(new, &["NICKERR", "second", "nick in use"]);
    assert_eq!(r.c.nick(), "first");
    // The old server's answer to "first", late, and a repeat of the
    // refusal: neither is news.
    r.frame(&["NICKOK", "first"]);
    r.frame_on(new, &["NICKERR", "second", "nick in use"]);
    r.frame(&["NICKOK", "stale"]);
    assert_eq!(r.c.nick(), "first");
    let refused = r
        .notes
        .iter()
        .filter(|n| matches!(n, ChatNote::NickRefused { .. }))
        .count();
    assert_eq!(refused, 1);
}

/// What each note says about room message sends: (reason, k) of every
/// SendFailed.
fn send_failures(r: &Rig) -> Vec<(String, Option<u64>)> {
    r.notes
        .iter()
        .filter_map(|n| match n {
            ChatNote::SendFailed { reason, k, .. } => Some((reason.to_string(), *k)),
            _ => None,
        })
        .collect()
}

/// A leave waits for the messages said before it: the LEAVEROOM goes once
/// the last is taken into the stream and back, and nothing more may be
/// said there meanwhile; with the `leave-after-sends` ablation the leave
/// goes at once and the message waits in the queue for good, neither sent
/// nor refused (swarm-chat's seeds, with leaves: send.settled).
#[test]
fn a_leave_waits_for_the_messages_said_before_it() {
    for ablate in [false, true] {
        let mut r = Rig::joined(ClientConfig {
            no_leave_after_sends: ablate,
            ..cfg()
        });
        r.say("hi");
        r.input(ClientInput::Command(ClientCommand::Leave("#r")));
        if ablate {
            assert_eq!(r.sent_commands(), ["GETSEQ", "LEAVEROOM"]);
            r.frame(&["NEWSEQ", "#r", "1", "A", "1"]);
            assert_eq!(r.sent_commands(), ["GETSEQ", "LEAVEROOM"]);
            assert_eq!(r.c.room("#r").unwrap().unsent(), 1, "waits for good");
            assert!(send_failures(&r).is_empty());
            continue;
        }
        assert_eq!(r.sent_commands(), ["GETSEQ"], "the leave waits");
        r.say("too late");
        assert_eq!(send_failures(&r), [("not a member".to_string(), None)]);
        r.frame(&["NEWSEQ", "#r", "1", "A", "1"]);
        r.frame(&[
            "RMSG", "#r", "1", "A", "1", "A-1-1", "alice", "A-1-1/1", "hi",
        ]);
        assert_eq!(r.sent_commands(), ["GETSEQ", "CSEND", "LEAVEROOM"]);
        assert_eq!(r.delivered(), [(1, "hi".to_string())]);
        let room = r.c.room("#r").unwrap();
        assert!(!room.joined && room.unsent() == 0);
    }
}

/// A message given up while its room is being left lets the leave go too;
/// a join of the room meanwhile calls the leave off (the membership never
/// ended, so nothing is sent for it).
#[test]
fn a_leave_goes_after_a_refusal_and_a_join_calls_it_off() {
    let mut r = Rig::joined(cfg());
    r.say("hi");
    r.input(ClientInput::Command(ClientCommand::Leave("#r")));
    r.frame(&["NOSEQ", "#r", ""]);
    assert_eq!(send_failures(&r), [("no sequencer".to_string(), Some(1))]);
    assert_eq!(r.sent_commands(), ["GETSEQ", "LEAVEROOM"]);

    let mut r = Rig::joined(cfg());
    r.say("hi");
    r.input(ClientInput::Command(ClientCommand::Leave("#r")));
    r.input(ClientInput::Command(ClientCommand::Join("#r")));
    r.frame(&["NEWSEQ", "#r", "1", "A", "1"]);
    r.frame(&[
        "RMSG", "#r", "1", "A", "1", "A-1-1", "alice", "A-1-1/1", "hi",
    ]);
    assert_eq!(r.sent_commands(), ["GETSEQ", "CSEND"]);
    assert!(r.c.room("#r").unwrap().joined);
    r.say("still here");
    assert_eq!(r.sent_commands(), ["GETSEQ", "CSEND", "GETSEQ"]);
}

/// Messages that can no longer go are given up with a word to the user:
/// those of a room being left when the session ends (the server ended the
/// membership with it), those of a room left while away, and all at a
/// quit (one whose CSEND went out told only that it was not confirmed).
#[test]
fn queued_messages_that_can_no_longer_go_are_given_up_with_a_word() {
    // A session lost while leaving.
    let mut r = Rig::joined(cfg());
    r.say("hi");
    r.input(ClientInput::Command(ClientCommand::Leave("#r")));
    r.input(ClientInput::Closed { link: SRV });
    assert_eq!(send_failures(&r), [("left the room".to_string(), Some(1))]);
    assert_eq!(r.c.room("#r").unwrap().unsent(), 0);

    // Left while away: the message waited for the next session.
    let mut r = Rig::joined(cfg());
    r.say("hi");
    r.input(ClientInput::Closed { link: SRV });
    assert!(send_failures(&r).is_empty(), "kept for the next session");
    r.input(ClientInput::Command(ClientCommand::Leave("#r")));
    assert_eq!(send_failures(&r), [("left the room".to_string(), Some(1))]);

    // The same, the message's CSEND out before the session ended: the
    // room may have it, so it is not confirmed rather than failed.
    let mut r = Rig::joined(cfg());
    r.say("hi");
    r.frame(&["NEWSEQ", "#r", "1", "A", "1"]);
    r.input(ClientInput::Closed { link: SRV });
    r.input(ClientInput::Command(ClientCommand::Leave("#r")));
    let want = [("left the room before it was confirmed".to_string(), Some(1))];
    assert_eq!(send_failures(&r), want);

    // A quit: "hi", whose CSEND went out, may be taken into the stream
    // all the same, and the user is told so.
    let mut r = Rig::joined(cfg());
    r.say("hi");
    r.say("there");
    r.say("all");
    r.frame(&["NEWSEQ", "#r", "1", "A", "1"]);
    r.input(ClientInput::Command(ClientCommand::Quit));
    assert_eq!(
        send_failures(&r),
        [
            ("the user quit before it was confirmed".to_string(), Some(1)),
            ("the user quit".to_string(), Some(2)),
            ("the user quit".to_string(), Some(3)),
        ]
    );
}

/// Private texts that can no longer go are told failed, each once: a
/// request unanswered within `send_timeout` (and its late refusal says
/// nothing more), a direct link that never opened, a session that ended
/// while a request waited, a quit; with the `private-ends` ablation each
/// was dropped without a word (private.settled).
#[test]
fn private_texts_that_can_no_longer_go_are_told_failed() {
    for ablate in [false, true] {
        let c = || ClientConfig {
            no_private_ends: ablate,
            ..cfg()
        };
        let told = |r: &Rig, want: &[&str]| {
            let want: Vec<String> = if ablate {
                Vec::new()
            } else {
                want.iter().map(|s| s.to_string()).collect()
            };
            assert_eq!(private_notes(r), want, "ablated: {ablate}");
        };
        // No answer in time; a refusal after that is not news.
        let mut r = Rig::joined(c());
        private(&mut r, "bob", "one");
        let (asked, limit) = (r.now, r.c.cfg.send_timeout);
        let deadline = (!ablate).then_some(asked + limit);
        assert_eq!(r.c.private_deadline(), deadline);
        r.now = asked + Duration::from_nanos(limit.as_nanos() - 1);
        r.input(ClientInput::Timeout);
        assert!(private_notes(&r).is_empty(), "not before its time");
        r.now = asked + limit;
        r.input(ClientInput::Timeout);
        r.frame(&["PRIVERR", "bob", "no such nick"]);
        told(&r, &["failed bob no answer"]);

        // A yes whose direct link never opens.
        let mut r = Rig::joined(c());
        private(&mut r, "bob", "one");
        private(&mut r, "bob", "two");
        r.frame(&["PRIVANS", "bob", "yes", "10.0.0.2"]);
        let (peer, _) = r.dialled.last().cloned().expect("dialled bob");
        r.input(ClientInput::Closed { link: peer });
        told(
            &r,
            &["failed bob no direct link", "failed bob no direct link"],
        );

        // The session ends while the request waits.
        let mut r = Rig::joined(c());
        private(&mut r, "bob", "one");
        r.input(ClientInput::Closed { link: SRV });
        told(&r, &["failed bob session ended"]);

        // A quit, with one text waiting on a request and one on a link.
        let mut r = Rig::joined(c());
        private(&mut r, "bob", "one");
        r.frame(&["PRIVANS", "bob", "yes", "10.0.0.2"]);
        private(&mut r, "bob", "two");
        private(&mut r, "carol", "three");
        r.input(ClientInput::Command(ClientCommand::Quit));
        told(
            &r,
            &[
                "failed carol the user quit",
                "failed bob the user quit",
                "failed bob the user quit",
            ],
        );
    }
}

/// A nick change sent just before the client's nick was rejected reaches
/// the server once it has rolled the registration back, and is refused
/// as a registration: that refusal is the change's, not the new
/// registration's, which is another nick still on its way. The client
/// says the change was refused and does not retry its nick with a `_`;
/// it registers under the retry of the rejected nick and keeps that one.
/// Under `stale-nickerr` it retried "nick04_", which the server, having
/// welcomed it as "alice_", took as a nick change and answered NICKOK,
/// answering nothing the client awaited: the servers held it as nick04_,
/// the client went by alice_ (nick-change-across-a-rejection.toml).
#[test]
fn a_refused_change_of_a_rolled_back_registration_is_not_retried_as_one() {
    for ablate in [false, true] {
        let mut r = Rig::joined(ClientConfig {
            no_stale_nickerr: ablate,
            ..cfg()
        });
        r.input(ClientInput::Command(ClientCommand::Nick("nick04")));
        r.frame(&["NICKERR", "alice", "rejected: nick collision"]);
        assert_eq!(r.sent.last().unwrap(), &["NICK", "alice_"]);
        r.sent.clear();
        r.notes.clear();
        r.frame(&["NICKERR", "nick04", "nick in use"]);
        if ablate {
            assert_eq!(r.sent, [["NICK", "nick04_"]]);
            continue;
        }
        assert!(r.sent.is_empty(), "{:?}", r.sent);
        assert!(r.notes.contains(&ChatNote::NickRefused {
            nick: "nick04".into(),
            reason: "nick in use".into(),
        }));
        r.frame(&["WELCOME", "alice_", "A-1-2"]);
        assert_eq!(r.c.nick(), "alice_");
    }
}

/// A nick change sent before the client's registration was rejected
/// reaches the server after the rollback and registers the client under
/// the change's nick; the client's own retry ("alice_"), still on its
/// way, reaches a registered user and is answered as a nick change. The
/// client awaits that answer and takes the nick. Under
/// `late-registration-nick` it dropped the NICKOK and went by "bob",
/// while the servers held it as "alice_"
/// (registration-overtaken-by-a-change.toml).
#[test]
fn a_registration_retry_answered_as_a_change_after_the_welcome_is_taken() {
    for ablate in [false, true] {
        let mut r = Rig::joined(ClientConfig {
            no_late_registration_nick: ablate,
            ..cfg()
        });
        r.input(ClientInput::Command(ClientCommand::Nick("bob")));
        r.frame(&["NICKERR", "alice", "rejected: nick collision"]);
        assert_eq!(r.sent.last().unwrap(), &["NICK", "alice_"]);
        r.frame(&["WELCOME", "bob", "A-1-2"]);
        assert_eq!(r.c.nick(), "bob");
        r.frame(&["NICKOK", "alice_"]);
        assert_eq!(r.c.nick(), if ablate { "bob" } else { "alice_" });
    }
}

/// Welcomed under the nick it last registered under, a client awaits no
/// change: a later NICKOK for its earlier, refused nick is a stray.
#[test]
fn a_welcome_under_the_registered_nick_leaves_no_answer_awaited() {
    let mut r = Rig::joined(cfg());
    r.frame(&["NICKERR", "alice", "rejected: nick collision"]);
    assert_eq!(r.sent.last().unwrap(), &["NICK", "alice_"]);
    r.frame(&["WELCOME", "alice_", "A-1-2"]);
    r.frame(&["NICKOK", "alice"]);
    assert_eq!(r.c.nick(), "alice_");
}

/// A registration rolled back on the old connection of a move (its nick
/// rejected there after the handover) ends when that connection closes:
/// the move absorbs the close, and nothing else would end it
/// (registration-on-a-moving-connection.toml).
#[test]
fn a_registration_on_the_old_connection_of_a_move_ends_when_it_closes() {
    let (mut r, new) = asked_to_move(cfg());
    r.input(ClientInput::Connected { link: new });
    r.frame(&["NICKERR", "alice", "rejected: nick collision"]);
    assert!(r.notes.contains(&ChatNote::ClientLink { link: SRV }));
    r.notes.clear();
    r.input(ClientInput::Closed { link: SRV });
    assert!(r.c.is_moving(), "the move goes on");
    assert_eq!(r.notes, vec![ChatNote::RegistrationEnded { link: SRV }]);
}

/// A client whose old connection closed during a move stops timing that
/// server out by silence: past the limit (8 s here) it would otherwise ask
/// at every wake-up to be woken at once, and close a link already closed
/// (client-silence-during-a-move.toml). The move's deadline still ends
/// the wait. Under `move-watch` the wake-up it asks for is already due.
#[test]
fn a_move_whose_old_connection_closed_waits_for_its_deadline_not_a_past_silence() {
    for ablate in [false, true] {
        let (mut r, new) = asked_to_move(ClientConfig {
            ping_interval: Duration::from_secs(2),
            ping_timeout: Duration::from_secs(6),
            no_move_watch: ablate,
            ..cfg()
        });
        r.input(ClientInput::Connected { link: new });
        r.input(ClientInput::Closed { link: SRV });
        assert!(r.c.is_moving());
        let deadline = r.c.poll_timeout().unwrap();
        r.now = Instant::ZERO + Duration::from_secs(9);
        r.input(ClientInput::Timeout);
        let next = r.c.poll_timeout().unwrap();
        if ablate {
            assert!(next <= r.now, "{next:?}");
        } else {
            assert!(r.c.is_moving());
            assert_eq!(r.c.state(), ClientState::Connected);
            assert!(next > r.now, "{next:?}");
            assert!(deadline > r.now, "{deadline:?}");
        }
    }
}
