//! The client state machine driven frame by frame: what it sends, what it
//! delivers.

use super::*;
use crate::time::Duration;

const SRV: LinkId = LinkId(1);

fn cfg() -> ClientConfig {
    ClientConfig {
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
    }
}

/// A client, the frames it sent and the notes it emitted.
struct Rig {
    c: Client,
    out: Outbox,
    now: Instant,
    sent: Vec<Vec<String>>,
    notes: Vec<ChatNote>,
}

impl Rig {
    /// Registered as `alice` (UID A-1-1), a member of `#r` whose stream
    /// (epoch 1, sequencer A) starts at number 1.
    fn joined(cfg: ClientConfig) -> Rig {
        let mut r = Rig {
            c: Client::new(cfg),
            out: Outbox::new(),
            now: Instant::ZERO,
            sent: Vec::new(),
            notes: Vec::new(),
        };
        r.input(ClientInput::Command(ClientCommand::Connect {
            server: "A",
            nick: None,
        }));
        r.input(ClientInput::Connected { link: SRV });
        r.frame(&["WELCOME", "alice", "A-1-1"]);
        r.frame(&["JOINED", "#r"]);
        r.frame(&["SYNC", "#r", "1", "A", "1"]);
        r.sent.clear();
        r.notes.clear();
        r
    }

    fn input(&mut self, i: ClientInput<'_>) {
        self.out.clear();
        self.c.handle(self.now, i, &mut self.out);
        for o in self.out.items() {
            match o {
                Output::Send { start, end, .. } => {
                    let mut f = Frame::new();
                    wire::decode_exact(self.out.bytes(*start, *end), &mut f).unwrap();
                    if f.command() != "PONG" {
                        let mut v = vec![f.command().to_string()];
                        v.extend(f.args().map(String::from));
                        self.sent.push(v);
                    }
                }
                Output::Note(Note::Chat(n)) => self.notes.push(n.clone()),
                _ => {}
            }
        }
    }

    fn frame(&mut self, parts: &[&str]) {
        let mut b = Vec::new();
        wire::encode(&mut b, parts[0], &parts[1..]).unwrap();
        self.input(ClientInput::Frame {
            link: SRV,
            bytes: &b,
        });
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

    fn sent_commands(&self) -> Vec<&str> {
        self.sent.iter().map(|v| v[0].as_str()).collect()
    }

    /// (number, text) of every delivered room message, in order.
    fn delivered(&self) -> Vec<(u64, String)> {
        self.notes
            .iter()
            .filter_map(|n| match n {
                ChatNote::Delivered { n, text, .. } => Some((*n, text.to_string())),
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
    r.frame(&["NEWSEQ", "#r", "1", "A", "1"]);
    assert_eq!(r.sent[1], ["CSEND", "#r", "1", "A", "1", "A-1-1/1", "hi"]);
    r.frame(&[
        "RMSG", "#r", "1", "A", "1", "A-1-1", "alice", "A-1-1/1", "hi",
    ]);
    assert_eq!(r.delivered(), [(1, "hi".to_string())]);
    assert_eq!(r.sent[2], ["GETSEQ", "#r"], "the echo lets the next one go");
    r.frame(&["NEWSEQ", "#r", "1", "A", "2"]);
    assert_eq!(
        r.sent[3],
        ["CSEND", "#r", "1", "A", "2", "A-1-1/2", "again"]
    );
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
    assert!(r
        .notes
        .iter()
        .any(|n| matches!(n, ChatNote::GapClosed { n: 2, .. })));
    assert_eq!(r.c.room("#r").unwrap().duplicates, 1);
    assert_eq!(r.c.room("#r").unwrap().next, 4);
}

#[test]
fn with_dedup_ablated_both_copies_are_delivered() {
    let mut r = Rig::joined(ClientConfig {
        no_dedup: true,
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
/// its first name, so members who saw it pass over the new copy.
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
    assert_eq!(r.c.room("#r").unwrap().unsent(), 0, "the echo ends it");
    assert_eq!(r.delivered(), [(5, "hi".to_string())]);
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
        .items()
        .contains(&Output::Note(Note::Chat(ChatNote::ClientLink {
            link: SRV
        }))));
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
    assert_eq!(
        out.items(),
        [
            Output::Note(Note::Chat(ChatNote::RegistrationGivenUp {
                link: SRV,
                reason: "no welcome in time"
            })),
            Output::Close { link: SRV },
            Output::Note(Note::Chat(ChatNote::RegistrationEnded { link: SRV }))
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
        .items()
        .contains(&Output::Note(Note::Chat(ChatNote::RegistrationEnded {
            link: SRV
        }))));
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
