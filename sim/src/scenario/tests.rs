use drc_protocol::time::Duration;
use proptest::prelude::*;

use super::*;

/// A scenario touching every part of the format.
const RICH: &str = r##"# A rich scenario exercising every part of the format.
name = "rich"
description = "every feature, \"quoted\" and\ttabbed"
seed = 42
duration = "2m"

[protocol]
nick_collision = "ts-rename"
ordering = "home"
ping_interval = "2s"
ping_timeout = "6s"
reconnect_min = "500ms"
reconnect_max = "10s"
handshake_timeout = "3s"
ablate = ["loop-check", "burst-order"]

[network]
latency = { min = "2ms", max = "20ms" }
connect_timeout = "1s"

[[server]]
name = "a"
connect = ["b", "c"]
sid = "0AA"

[[server]]
name = "b"
sid = "1BB"

[[server]]
name = "c"
start = false

[[server]]
name = "evil"
claims = "a"
registered = false
connect = ["b"]

[[client]]
id = "alice"
server = "a"
join = ["#lobby"]

[[client]]
id = "bob"
server = "b"
nick = "bobby"
join = ["#lobby", "#dev"]

[[at]]
time = "1s"
do = "partition"
groups = [["a", "alice"], ["b", "c"]]

[[at]]
time = "2s"
do = "heal"

[[at]]
time = "3s"
do = "cut"
a = "a"
b = "b"

[[at]]
time = "3s"
do = "stall"
a = "b"
b = "c"
for = "750ms"

[[at]]
time = "4s"
do = "crash"
server = "c"

[[at]]
time = "5s"
do = "restart"
server = "c"

[[at]]
time = "6s"
do = "link"
a = "a"
b = "c"

[[at]]
time = "7s"
do = "unlink"
a = "a"
b = "c"

[[at]]
time = "8s"
do = "add_server"
name = "d"
via = "a"

[[at]]
time = "9s"
do = "skew"
server = "d"
by = "-1500ms"

[[at]]
time = "10s"
do = "connect"
client = "carol"
server = "d"
nick = "caz"

[[at]]
time = "10s"
do = "connect"
client = "dave"
server = "a"

[[at]]
time = "11s"
do = "nick"
client = "carol"
nick = "carol2"

[[at]]
time = "12s"
do = "create"
client = "carol"
room = "#new"

[[at]]
time = "13s"
do = "join"
client = "bob"
room = "#new"

[[at]]
time = "14s"
do = "say"
client = "bob"
room = "#new"
text = "hello, \"world\" \\ é"

[[at]]
time = "15s"
do = "send_list"
client = "alice"
to = ["bob", "carol"]
text = "psst"

[[at]]
time = "16s"
do = "private"
client = "bob"
to = "alice"
text = "hi"

[[at]]
time = "17s"
do = "leave"
client = "bob"
room = "#new"

[[at]]
time = "18s"
do = "redirect"
client = "alice"
to = "b"

[[at]]
time = "19s"
do = "broadcast"
server = "a"
text = "maintenance"

[[at]]
time = "20s"
do = "quit"
client = "dave"

[[at]]
time = "21s"
do = "shutdown"
server = "evil"

[[at]]
time = "22s"
do = "storm"
for = "5s"
loss = 0.75
duplicate = 0.25

[[at]]
time = "22.4s"
do = "kill"
server = "a"
nick = "dave"

[[at]]
time = "22.5s"
do = "ulist"
client = "dave"
room = "#lobby"

[[at]]
time = "22.6s"
do = "listrooms"
client = "dave"

[[at]]
time = "23s"
do = "present_token"
client = "dave"
server = "b"
token = "stale-secret"

[greeter]
name = "a"
token_ttl = "20s"
login_timeout = "4s"

[discovery]
seekers = ["c"]
period = "3s"
loss = 0.1

[expect]
verdict = "fail"
violated = ["users.unique", "tree.acyclic"]
components = [["a", "b", "c", "d"], ["evil"]]
links = [["a", "b"], ["a", "d"]]
min_events = 100
"##;

const MINIMAL: &str = "name = \"m\"\nduration = \"1m\"\n[[server]]\nname = \"a\"\n[[server]]\nname = \"b\"\n[[client]]\nid = \"c1\"\nserver = \"a\"\n";

fn parse(src: &str) -> Scenario {
    parse_str(src, "t.toml").unwrap_or_else(|e| panic!("{e}\n---\n{src}"))
}

/// Parses `src`, expecting an error; returns it as displayed.
fn error(src: &str) -> String {
    match parse_str(src, "t.toml") {
        Ok(s) => panic!("expected an error, parsed {s:#?}\n---\n{src}"),
        Err(e) => e.to_string(),
    }
}

/// Asserts that `src` fails at `line:col` with a message containing `needle`.
#[track_caller]
fn assert_error(src: &str, line: usize, col: usize, needle: &str) {
    let e = error(src);
    let prefix = format!("t.toml:{line}:{col}: ");
    assert!(
        e.starts_with(&prefix) && e.contains(needle),
        "expected {prefix}...{needle}...\n     got {e}\n---\n{src}"
    );
}

fn s(x: &str) -> String {
    x.to_string()
}

// ----- durations ---------------------------------------------------------

#[test]
fn durations_parse() {
    assert_eq!(parse_duration("0s"), Ok(Duration(0)));
    assert_eq!(parse_duration("7ns"), Ok(Duration(7)));
    assert_eq!(parse_duration("7us"), Ok(Duration::from_micros(7)));
    assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
    assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
    assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
    assert_eq!(parse_duration("3h"), Ok(Duration::from_secs(3 * 3600)));
    assert_eq!(parse_duration("007s"), Ok(Duration::from_secs(7)));
    assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
    assert_eq!(parse_duration("10.001s"), Ok(Duration::from_millis(10_001)));
    assert_eq!(parse_duration("0.5ms"), Ok(Duration::from_micros(500)));
    assert_eq!(parse_duration("1.5m"), Ok(Duration::from_secs(90)));
    assert_eq!(parse_duration("0.1h"), Ok(Duration::from_secs(360)));
    assert_eq!(parse_duration("2.000s"), Ok(Duration::from_secs(2)));
    assert_eq!(parse_duration("6.791263186s"), Ok(Duration(6_791_263_186)));
    for bad in [
        "",
        "s",
        "5",
        "5 s",
        " 5s",
        "5s ",
        "-1s",
        "1.s",
        ".5s",
        "1..5s",
        "1.5.5s",
        "0.5ns",
        "1.0000000001s",
        "0.00000000000000000001h",
        "+1s",
        "5sec",
        "5S",
        "5d",
        "1e3ms",
        "18446744073709551616ns",
        "99999999999h",
        "5ms5",
    ] {
        let e = parse_duration(bad).expect_err(bad);
        assert!(e.contains("invalid duration"), "{bad}: {e}");
    }
    assert_eq!(
        parse_duration("18446744073709551615ns"),
        Ok(Duration(u64::MAX))
    );
}

#[test]
fn signed_durations_parse() {
    assert_eq!(parse_signed_duration("-250ms"), Ok(-250_000_000));
    assert_eq!(parse_signed_duration("+2s"), Ok(2_000_000_000));
    assert_eq!(parse_signed_duration("2s"), Ok(2_000_000_000));
    assert_eq!(parse_signed_duration("-0s"), Ok(0));
    assert_eq!(parse_signed_duration("-1.5s"), Ok(-1_500_000_000));
    assert_eq!(
        parse_signed_duration("-9223372036.854775808s"),
        Ok(i64::MIN)
    );
    assert_eq!(parse_signed_duration("9223372036854775807ns"), Ok(i64::MAX));
    for bad in [
        "",
        "-",
        "+-1s",
        "--1s",
        "- 1s",
        "9223372036854775808ns",
        "-9223372036854775809ns",
        "-1.5ns",
    ] {
        assert!(parse_signed_duration(bad).is_err(), "{bad}");
    }
}

#[test]
fn durations_format_whole_down_to_ms_and_exact_decimals_below() {
    let cases = [
        (0, "0s"),
        (1, "1ns"),
        (1_500, "1500ns"),
        (2_000, "2us"),
        (1_500_000, "1.5ms"),
        (999_999, "999999ns"),
        (6_791_263_186, "6.791263186s"),
        (1_000_000_001, "1.000000001s"),
        (250_000_000, "250ms"),
        (1_500_000_000, "1500ms"),
        (5_000_000_000, "5s"),
        (90_000_000_000, "90s"),
        (120_000_000_000, "2m"),
        (7_200_000_000_000, "2h"),
        (u64::MAX, "18446744073.709551615s"),
    ];
    for (n, text) in cases {
        assert_eq!(format_duration(Duration(n)), text);
        assert_eq!(parse_duration(text), Ok(Duration(n)));
    }
    assert_eq!(format_signed_duration(-1_500_000_000), "-1500ms");
    assert_eq!(format_signed_duration(i64::MIN), "-9223372036.854775808s");
    assert_eq!(format_signed_duration(60_000_000_000), "1m");
    for n in [i64::MIN, -1, 0, 1, i64::MAX, -3_600_000_000_000] {
        assert_eq!(parse_signed_duration(&format_signed_duration(n)), Ok(n));
    }
}

// ----- well-formed files -------------------------------------------------

#[test]
fn defaults() {
    let sc = parse(MINIMAL);
    assert_eq!(sc.name, "m");
    assert_eq!(sc.description, "");
    assert_eq!(sc.seed, 1);
    assert_eq!(sc.duration, Duration::from_secs(60));
    let p = &sc.protocol;
    assert_eq!(p.nick_collision, NickCollision::TsKill);
    assert_eq!(p.ordering, Ordering::Epoch);
    assert_eq!(p.ping_interval, Duration::from_secs(5));
    assert_eq!(p.ping_timeout, Duration::from_secs(15));
    assert_eq!(p.reconnect_min, Duration::from_secs(1));
    assert_eq!(p.reconnect_max, Duration::from_secs(30));
    assert_eq!(p.handshake_timeout, Duration::from_secs(10));
    assert!(p.ablate.is_empty());
    assert_eq!(sc.network.latency_min, Duration::from_millis(1));
    assert_eq!(sc.network.latency_max, Duration::from_millis(10));
    assert_eq!(sc.network.connect_timeout, Duration::from_secs(3));
    assert_eq!(sc.servers, vec![ServerDecl::new("a"), ServerDecl::new("b")]);
    let a = &sc.servers[0];
    assert!(a.connect.is_empty() && a.sid.is_none() && a.claims.is_none());
    assert!(a.registered && a.start);
    assert_eq!(
        sc.clients,
        vec![ClientDecl {
            id: s("c1"),
            server: s("a"),
            nick: None,
            join: vec![],
            accept_private: true,
            accept_redirect: true,
            servers: vec![],
            reconnect: true,
            start: true,
            via_greeter: false,
            session: None,
        }]
    );
    assert_eq!(sc.clients[0].nick(), "c1");
    assert!(sc.actions.is_empty());
    assert_eq!(sc.expect, Expect::default());
    assert_eq!(sc.expect.verdict, Verdict::Pass);
    assert!(sc.expect.components.is_none() && sc.expect.links.is_none());
    assert!(sc.expect.min_events.is_none());

    // Empty sections are the defaults too.
    let with_sections = format!("{MINIMAL}[protocol]\n[network]\n[expect]\n");
    assert_eq!(parse(&with_sections), sc);
    // Only the two required keys and one server.
    let bare = parse("name = \"x\"\nduration = \"0s\"\n[[server]]\nname = \"a\"\n");
    assert!(bare.clients.is_empty() && bare.actions.is_empty());
    assert_eq!(bare.limits.max_events, DEFAULT_MAX_EVENTS);
}

#[test]
fn rich_scenario_parses() {
    let sc = parse(RICH);
    assert_eq!(sc.description, "every feature, \"quoted\" and\ttabbed");
    assert_eq!(sc.seed, 42);
    assert_eq!(sc.duration, Duration::from_secs(120));
    assert_eq!(sc.protocol.nick_collision, NickCollision::TsRename);
    assert_eq!(sc.protocol.ordering, Ordering::Home);
    assert_eq!(sc.protocol.reconnect_min, Duration::from_millis(500));
    assert_eq!(sc.protocol.ablate, vec![s("loop-check"), s("burst-order")]);
    assert_eq!(sc.network.latency_min, Duration::from_millis(2));
    assert_eq!(sc.network.latency_max, Duration::from_millis(20));
    assert_eq!(sc.network.connect_timeout, Duration::from_secs(1));
    assert_eq!(sc.servers.len(), 4);
    assert_eq!(sc.servers[0].connect, vec![s("b"), s("c")]);
    assert_eq!(sc.servers[0].sid.as_deref(), Some("0AA"));
    assert!(!sc.servers[2].start);
    assert_eq!(
        sc.servers[3],
        ServerDecl {
            name: s("evil"),
            connect: vec![s("b")],
            sid: None,
            claims: Some(s("a")),
            registered: false,
            start: true,
        }
    );
    assert_eq!(sc.clients[1].nick(), "bobby");
    assert_eq!(sc.clients[1].join, vec![s("#lobby"), s("#dev")]);
    assert_eq!(sc.server_names(), vec!["a", "b", "c", "evil", "d"]);
    assert_eq!(sc.client_ids(), vec!["alice", "bob", "carol", "dave"]);
    assert_eq!(sc.actions.len(), 28);
    let g = sc.greeter.clone().expect("[greeter]");
    assert_eq!(
        (g.name.as_str(), g.token_ttl, g.login_timeout),
        ("a", Duration::from_secs(20), Duration::from_secs(4))
    );
    assert_eq!(g.token_leeway, Duration::from_secs(2), "the default");
    assert_eq!(
        sc.discovery,
        Some(DiscoverySection {
            seekers: vec![s("c")],
            period: Duration::from_secs(3),
            loss_ppm: 100_000,
            duplicate_ppm: 0,
        })
    );
    let names: Vec<_> = sc.actions.iter().map(|a| a.action.name()).collect();
    let mut all: Vec<_> = Action::NAMES.to_vec();
    all.sort_unstable();
    let mut seen = names.clone();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen, all, "the rich example uses every action");
    assert_eq!(sc.actions[0].line, 51);
    assert_eq!(
        sc.actions[9].action,
        Action::Skew {
            server: s("d"),
            by_nanos: -1_500_000_000
        }
    );
    let e = &sc.expect;
    assert_eq!(e.verdict, Verdict::Fail);
    assert_eq!(e.violated, vec![s("users.unique"), s("tree.acyclic")]);
    assert_eq!(
        e.components,
        Some(vec![vec![s("a"), s("b"), s("c"), s("d")], vec![s("evil")]])
    );
    assert_eq!(e.links, Some(vec![(s("a"), s("b")), (s("a"), s("d"))]));
    assert_eq!(e.min_events, Some(100));
}

#[test]
fn round_trip() {
    let sc = parse(RICH);
    let text = sc.to_toml();
    let back = parse_str(&text, "written.toml").unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(back, sc, "{text}");
    assert_eq!(back.to_toml(), text, "writing is stable");
    let min = parse(MINIMAL);
    assert_eq!(parse(&min.to_toml()), min);
}

#[test]
fn round_trip_awkward_values() {
    let mut sc = parse(MINIMAL);
    sc.name = s("q\"uo\\te\nnew\u{1}line\u{7f} é ✓ 'single' \"\"\"");
    sc.description = s("tab\tcr\r");
    sc.seed = u64::MAX;
    sc.duration = MAX_TIME;
    sc.expect.min_events = Some(u64::MAX);
    sc.expect.components = Some(vec![]);
    sc.expect.links = Some(vec![]);
    sc.actions.push(TimedAction {
        time: MAX_TIME,
        action: Action::Say {
            client: s("c1"),
            room: s("#\"x\""),
            text: s(""),
        },
        line: 0,
    });
    sc.actions.push(TimedAction {
        time: MAX_TIME,
        action: Action::Skew {
            server: s("a"),
            by_nanos: -(MAX_TIME.as_nanos() as i64),
        },
        line: 0,
    });
    let text = sc.to_toml();
    assert_eq!(parse(&text), sc, "{text}");
}

#[test]
fn every_action_parses() {
    let head = "name = \"x\"\nduration = \"1m\"\n[[server]]\nname = \"a\"\n[[server]]\nname = \"b\"\n[[client]]\nid = \"c\"\nserver = \"a\"\n[[client]]\nid = \"e\"\nserver = \"b\"\n[greeter]\nname = \"a\"\n";
    let cases: Vec<(&str, Action)> = vec![
        (
            "do = \"partition\"\ngroups = [[\"a\", \"c\"], [\"b\"]]",
            Action::Partition {
                groups: vec![vec![s("a"), s("c")], vec![s("b")]],
            },
        ),
        ("do = \"heal\"", Action::Heal),
        (
            "do = \"cut\"\na = \"a\"\nb = \"b\"",
            Action::Cut {
                a: s("a"),
                b: s("b"),
            },
        ),
        (
            "do = \"stall\"\na = \"a\"\nb = \"b\"\nfor = \"2s\"",
            Action::Stall {
                a: s("a"),
                b: s("b"),
                duration: Duration::from_secs(2),
            },
        ),
        (
            "do = \"crash\"\nserver = \"a\"",
            Action::Crash { server: s("a") },
        ),
        (
            "do = \"storm\"\nfor = \"3s\"\nloss = 0.5",
            Action::Storm {
                duration: Duration::from_secs(3),
                loss_ppm: 500_000,
                duplicate_ppm: 0,
            },
        ),
        (
            "do = \"restart\"\nserver = \"a\"",
            Action::Restart { server: s("a") },
        ),
        (
            "do = \"shutdown\"\nserver = \"b\"",
            Action::Shutdown { server: s("b") },
        ),
        (
            "do = \"link\"\na = \"b\"\nb = \"a\"",
            Action::Link {
                a: s("b"),
                b: s("a"),
            },
        ),
        (
            "do = \"unlink\"\na = \"a\"\nb = \"b\"",
            Action::Unlink {
                a: s("a"),
                b: s("b"),
                via: None,
            },
        ),
        (
            "do = \"unlink\"\na = \"a\"\nb = \"b\"\nvia = \"b\"",
            Action::Unlink {
                a: s("a"),
                b: s("b"),
                via: Some(s("b")),
            },
        ),
        (
            "do = \"kill\"\nserver = \"b\"\nnick = \"c\"\ncomment = \"spam\"",
            Action::Kill {
                server: s("b"),
                nick: s("c"),
                comment: s("spam"),
            },
        ),
        (
            "do = \"add_server\"\nname = \"z.9_-\"\nvia = \"b\"",
            Action::AddServer {
                name: s("z.9_-"),
                via: s("b"),
            },
        ),
        (
            "do = \"skew\"\nserver = \"a\"\nby = \"+3m\"",
            Action::Skew {
                server: s("a"),
                by_nanos: 180_000_000_000,
            },
        ),
        (
            "do = \"connect\"\nclient = \"c\"\nserver = \"b\"",
            Action::Connect {
                client: s("c"),
                server: s("b"),
                nick: None,
            },
        ),
        (
            "do = \"connect\"\nclient = \"new\"\nserver = \"b\"\nnick = \"N\"",
            Action::Connect {
                client: s("new"),
                server: s("b"),
                nick: Some(s("N")),
            },
        ),
        (
            "do = \"nick\"\nclient = \"c\"\nnick = \"cc\"",
            Action::Nick {
                client: s("c"),
                nick: s("cc"),
            },
        ),
        (
            "do = \"create\"\nclient = \"c\"\nroom = \"#r\"",
            Action::Create {
                client: s("c"),
                room: s("#r"),
            },
        ),
        (
            "do = \"join\"\nclient = \"e\"\nroom = \"#r\"",
            Action::Join {
                client: s("e"),
                room: s("#r"),
            },
        ),
        (
            "do = \"leave\"\nclient = \"e\"\nroom = \"#r\"",
            Action::Leave {
                client: s("e"),
                room: s("#r"),
            },
        ),
        (
            "do = \"say\"\nclient = \"c\"\nroom = \"#r\"\ntext = \"hi\"",
            Action::Say {
                client: s("c"),
                room: s("#r"),
                text: s("hi"),
            },
        ),
        (
            "do = \"send_list\"\nclient = \"c\"\nto = [\"e\", \"c\"]\ntext = \"t\"",
            Action::SendList {
                client: s("c"),
                to: vec![s("e"), s("c")],
                text: s("t"),
            },
        ),
        (
            "do = \"private\"\nclient = \"c\"\nto = \"e\"\ntext = \"t\"",
            Action::Private {
                client: s("c"),
                to: s("e"),
                text: s("t"),
            },
        ),
        (
            "do = \"redirect\"\nclient = \"c\"\nto = \"b\"",
            Action::Redirect {
                client: s("c"),
                to: s("b"),
                by_client: false,
            },
        ),
        (
            "do = \"redirect\"\nclient = \"c\"\nto = \"b\"\nby = \"client\"",
            Action::Redirect {
                client: s("c"),
                to: s("b"),
                by_client: true,
            },
        ),
        (
            "do = \"quit\"\nclient = \"e\"",
            Action::Quit {
                client: s("e"),
                exit: None,
            },
        ),
        (
            "do = \"quit\"\nclient = \"e\"\nexit = \"bye\"",
            Action::Quit {
                client: s("e"),
                exit: Some(s("bye")),
            },
        ),
        (
            "do = \"ulist\"\nclient = \"c\"\nroom = \"#r\"",
            Action::Ulist {
                client: s("c"),
                room: s("#r"),
            },
        ),
        (
            "do = \"listrooms\"\nclient = \"c\"",
            Action::ListRooms { client: s("c") },
        ),
        (
            "do = \"broadcast\"\nserver = \"b\"\ntext = \"hey\"",
            Action::Broadcast {
                server: s("b"),
                text: s("hey"),
            },
        ),
        (
            "do = \"present_token\"\nclient = \"c\"\nserver = \"b\"\ntoken = \"replayed\"",
            Action::PresentToken {
                client: s("c"),
                server: s("b"),
                token: s("replayed"),
            },
        ),
    ];
    let mut covered: Vec<&str> = cases.iter().map(|(_, a)| a.name()).collect();
    covered.sort_unstable();
    covered.dedup();
    let mut all = Action::NAMES.to_vec();
    all.sort_unstable();
    assert_eq!(covered, all);
    for (body, expected) in cases {
        let src = format!("{head}[[at]]\ntime = \"250ms\"\n{body}\n");
        let sc = parse(&src);
        assert_eq!(
            sc.actions,
            vec![TimedAction {
                time: Duration::from_millis(250),
                action: expected.clone(),
                line: 15,
            }]
        );
        assert_eq!(sc.actions[0].line, 15);
        assert_eq!(parse(&sc.to_toml()), sc);
        // The same action as an inline table in an `at = [...]` array.
        let inline = format!(
            "{}\nat = [{{ time = \"250ms\", {} }}]\n",
            head.split_once("[[server]]").unwrap().0,
            body.replace('\n', ", ")
        ) + &head[head.find("[[server]]").unwrap()..];
        assert_eq!(parse(&inline).actions[0].action, expected, "{inline}");
    }
}

#[test]
fn action_names_and_arguments_agree() {
    for name in Action::NAMES {
        assert!(super::parse::action_args(name).is_some(), "{name}");
    }
    assert!(super::parse::action_args("nope").is_none());
}

#[test]
fn actions_sorted_stably_by_time() {
    let src = format!(
        "{MINIMAL}
[[at]]
time = \"5s\"
do = \"crash\"
server = \"a\"
[[at]]
time = \"1s\"
do = \"crash\"
server = \"b\"
[[at]]
time = \"5s\"
do = \"restart\"
server = \"a\"
[[at]]
time = \"1000ms\"
do = \"heal\"
"
    );
    let sc = parse(&src);
    let got: Vec<_> = sc
        .actions
        .iter()
        .map(|a| (a.time.as_millis(), a.action.name(), a.line))
        .collect();
    assert_eq!(
        got,
        vec![
            (1000, "crash", 15),
            (1000, "heal", 23),
            (5000, "crash", 11),
            (5000, "restart", 19),
        ]
    );
}

#[test]
fn clients_introduced_by_connect() {
    let base = format!(
        "{MINIMAL}
[[at]]
time = \"2s\"
do = \"connect\"
client = \"late\"
server = \"b\"
"
    );
    // Used at the same time (after it in the file) or later: fine.
    let ok = format!("{base}[[at]]\ntime = \"2s\"\ndo = \"quit\"\nclient = \"late\"\n");
    assert_eq!(parse(&ok).client_ids(), vec!["c1", "late"]);
    // Earlier in the file but later in time: fine.
    let ok2 = format!(
        "{MINIMAL}[[at]]\ntime = \"3s\"\ndo = \"quit\"\nclient = \"late\"\n{}",
        &base[MINIMAL.len()..]
    );
    parse(&ok2);
    // Used before it connects: error at the reference.
    let early = format!("{base}[[at]]\ntime = \"1s\"\ndo = \"quit\"\nclient = \"late\"\n");
    assert_error(&early, 19, 10, "client `late` is used before the `connect`");
    // A connect to a server added earlier; the new server is usable later.
    let added = format!(
        "{MINIMAL}[[at]]\ntime = \"1s\"\ndo = \"add_server\"\nname = \"n\"\nvia = \"a\"\n\
         [[at]]\ntime = \"1s\"\ndo = \"connect\"\nclient = \"c9\"\nserver = \"n\"\n"
    );
    assert_eq!(parse(&added).server_names(), vec!["a", "b", "n"]);
    // A declared server may list an added one in `connect`.
    let dial_added = added.replace("name = \"b\"\n", "name = \"b\"\nconnect = [\"n\"]\n");
    assert_eq!(parse(&dial_added).servers[1].connect, vec![s("n")]);
}

// ----- errors ------------------------------------------------------------

#[test]
fn error_display_format() {
    let e = ScenarioError {
        file: s("x/y.toml"),
        line: 3,
        col: 7,
        message: s("boom"),
        source_line: s("dur = \"5q\""),
    };
    assert_eq!(e.to_string(), "x/y.toml:3:7: boom");
    // Rendered: the location, the line, and a caret under column 7.
    let r = e.render();
    assert!(r.contains("x/y.toml:3:7"), "{r}");
    assert!(r.contains("boom"), "{r}");
    let lines: Vec<&str> = r.lines().collect();
    let src = lines
        .iter()
        .position(|l| l.ends_with("dur = \"5q\""))
        .expect("source line");
    let caret = lines[src + 1];
    let bar = lines[src].find("dur").unwrap();
    assert_eq!(caret.find('^'), Some(bar + 6), "{r}");
    // Without a position (an unreadable file) there is nothing to point at.
    let io = ScenarioError {
        line: 0,
        col: 0,
        source_line: String::new(),
        ..e
    };
    assert_eq!(io.to_string(), "x/y.toml: boom");
    assert_eq!(io.render(), "x/y.toml: boom");
}

#[test]
fn error_syntax() {
    assert_error("name = \"x\"\nduration = \n", 2, 12, "TOML syntax error");
    assert_error("name = \"x\"\n[[server]\n", 2, 9, "TOML syntax error");
    assert_error("name = \"x\"\nname = \"y\"\n", 2, 1, "TOML syntax error");
    let e = error("name = \"x\nduration = \"1s\"\n");
    assert!(e.starts_with("t.toml:1:"), "{e}");
    assert!(!e.contains('\n'), "one line: {e}");
}

#[test]
fn error_missing_required() {
    assert_error("duration = \"1s\"\n", 1, 1, "missing required key `name`");
    assert_error("name = \"x\"\n", 1, 1, "missing required key `duration`");
    assert_error(
        "name = \"x\"\nduration = \"1s\"\n\n[[server]]\nconnect = []\n",
        4,
        1,
        "[[server]] is missing required key `name`",
    );
    assert_error(
        &format!("{MINIMAL}[[client]]\nid = \"z\"\n"),
        10,
        1,
        "missing required key `server`",
    );
    assert_error(
        &format!("{MINIMAL}[[at]]\ndo = \"heal\"\n"),
        10,
        1,
        "missing required key `time`",
    );
    assert_error(
        &format!("{MINIMAL}[[at]]\ntime = \"1s\"\n"),
        10,
        1,
        "missing required key `do`",
    );
}

#[test]
fn error_unknown_top_level_key() {
    assert_error(
        "name = \"x\"\nduration = \"1s\"\n  colour = \"red\"\n",
        3,
        3,
        "unknown key `colour` in the top level",
    );
    assert_error(
        "name = \"x\"\nduration = \"1s\"\n\n[colours]\nred = 1\n",
        4,
        1,
        "unknown key `colours`",
    );
    assert_error(
        "name = \"x\"\nduration = \"1s\"\nfoo.bar = 1\n",
        3,
        1,
        "unknown key `foo`",
    );
}

#[test]
fn error_unknown_key_in_sections() {
    assert_error(
        "name = \"x\"\nduration = \"1s\"\n[[server]]\nname = \"a\"\n  colour = \"red\"\n",
        5,
        3,
        "unknown key `colour` in [[server]] (expected one of: name, connect, sid, claims, registered, start)",
    );
    assert_error(
        &format!("{MINIMAL}[[client]]\nid = \"z\"\nserver = \"a\"\nnik = \"q\"\n"),
        13,
        1,
        "unknown key `nik` in [[client]]",
    );
    assert_error(
        "name = \"x\"\nduration = \"1s\"\n[protocol]\nping = \"1s\"\n",
        4,
        1,
        "unknown key `ping` in [protocol]",
    );
    assert_error(
        "name = \"x\"\nduration = \"1s\"\n[network]\nlatency = { min = \"1ms\", mx = \"2ms\" }\n",
        4,
        26,
        "unknown key `mx` in network.latency",
    );
    assert_error(
        "name = \"x\"\nduration = \"1s\"\n[expect]\nverdict = \"pass\"\nviolates = []\n",
        5,
        1,
        "unknown key `violates` in [expect]",
    );
}

#[test]
fn greeter_section_and_client_keys_are_checked() {
    let base = "name = \"x\"\nduration = \"1s\"\n[[server]]\nname = \"a\"\n";
    assert_error(
        &format!("{base}[greeter]\nname = \"a\"\nrate = 3\n"),
        7,
        1,
        "unknown key `rate` in [greeter]",
    );
    assert_error(
        &format!("{base}[greeter]\nlogin_timeout = \"1s\"\n"),
        5,
        1,
        "[greeter] is missing required key `name`",
    );
    assert_error(
        &format!("{base}[greeter]\nname = \"zz\"\n"),
        6,
        8,
        "[greeter] name `zz` is not a declared [[server]]",
    );
    assert_error(
        &format!("{base}[[client]]\nid = \"c\"\nserver = \"a\"\nvia = \"greeter\"\n"),
        8,
        7,
        "client `c` logs in via the greeter, but the scenario has no [greeter]",
    );
    assert_error(
        &format!("{base}[greeter]\nname = \"a\"\n[[client]]\nid = \"c\"\nserver = \"a\"\nvia = \"door\"\n"),
        10,
        7,
        "`via` is \"greeter\" (or absent), not \"door\"",
    );
    assert_error(
        &format!("{base}[greeter]\nname = \"a\"\n[[client]]\nid = \"c\"\nserver = \"a\"\nsession = \"#r\"\n"),
        10,
        11,
        "`session` is the room to ask the greeter for",
    );
    assert_error(
        &format!("{base}[[client]]\nid = \"c\"\nserver = \"a\"\n[[at]]\ntime = \"0s\"\ndo = \"present_token\"\nclient = \"c\"\nserver = \"a\"\ntoken = \"expired\"\n"),
        9,
        8,
        "`present_token` needs a [greeter]",
    );
    assert_error(
        &format!("{base}[greeter]\nname = \"a\"\n[[client]]\nid = \"c\"\nserver = \"a\"\n[[at]]\ntime = \"0s\"\ndo = \"present_token\"\nclient = \"c\"\nserver = \"a\"\ntoken = \"forged\"\n"),
        15,
        9,
        "unknown token \"forged\" (known: replayed, expired, tampered, other-audience, stale-secret)",
    );
    let sc = parse(&format!(
        "{base}[greeter]\nname = \"a\"\n[[client]]\nid = \"c\"\nserver = \"a\"\nvia = \"greeter\"\nsession = \"#r\"\n"
    ));
    assert!(sc.clients[0].via_greeter);
    assert_eq!(sc.clients[0].session.as_deref(), Some("#r"));
    assert_eq!(sc.greeter, Some(GreeterSection::new("a")));
}

#[test]
fn sub_tables_and_dotted_keys() {
    let src = "name = \"x\"\nduration = \"1s\"\nprotocol.ping_interval = \"2s\"\n\
               server = [{ name = \"a\" }]\n[network.latency]\nmin = \"3ms\"\nmax = \"4ms\"\n";
    let sc = parse(src);
    assert_eq!(sc.protocol.ping_interval, Duration::from_secs(2));
    assert_eq!(sc.network.latency_min, Duration::from_millis(3));
    assert_eq!(sc.network.latency_max, Duration::from_millis(4));
    assert_eq!(sc.network.connect_timeout, Duration::from_secs(3));
    assert_error(
        "name = \"x\"\nduration = \"1s\"\n\n[network.latency]\nmin = \"3ms\"\nmax = \"1ms\"\n",
        4,
        1,
        "latency min (3ms) is greater than max (1ms)",
    );
    assert_error(
        "name = \"x\"\nduration = \"1s\"\nprotocol.pingx = \"1s\"\n",
        3,
        10,
        "unknown key `pingx` in [protocol]",
    );
    assert_error(
        "name = \"x\"\nduration = \"1s\"\n[greeter.x]\na = 1\n",
        3,
        1,
        "unknown key `x` in [greeter]",
    );
    assert_error(
        "name = \"x\"\nduration = \"1s\"\n[[at]]\ntime = \"1s\"\ndo = \"heal\"\n[at.args]\nx = 1\n",
        6,
        1,
        "unknown key `args`: not an argument of action `heal`",
    );
}

#[test]
fn first_offending_top_level_key_is_reported() {
    assert_error(
        "name = \"x\"\nduration = \"1s\"\ncolour = 1\n[greeter]\n",
        3,
        1,
        "unknown key `colour`",
    );
    assert_error(
        "name = \"x\"\nduration = \"1s\"\n[greeter]\n[colour]\n",
        4,
        1,
        "unknown key `colour`",
    );
}

#[test]
fn error_unknown_action() {
    assert_error(
        &format!("{MINIMAL}[[at]]\ntime = \"1s\"\ndo = \"explode\"\n"),
        12,
        6,
        "unknown action \"explode\" (known: partition, heal,",
    );
}

#[test]
fn error_missing_argument() {
    assert_error(
        &format!("{MINIMAL}\n[[at]]\ntime = \"1s\"\ndo = \"cut\"\na = \"a\"\n"),
        11,
        1,
        "action `cut` is missing argument `b`",
    );
    assert_error(
        &format!("{MINIMAL}[[at]]\ntime = \"1s\"\ndo = \"stall\"\na = \"a\"\nb = \"b\"\n"),
        10,
        1,
        "action `stall` is missing argument `for`",
    );
}

#[test]
fn error_extra_argument() {
    assert_error(
        &format!("{MINIMAL}[[at]]\ntime = \"1s\"\ndo = \"heal\"\nserver = \"a\"\n"),
        13,
        1,
        "unknown key `server`: not an argument of action `heal` (it takes none)",
    );
    assert_error(
        &format!(
            "{MINIMAL}[[at]]\ntime = \"1s\"\ndo = \"crash\"\nserver = \"a\"\n  text = \"x\"\n"
        ),
        14,
        3,
        "not an argument of action `crash` (its arguments: server)",
    );
}

#[test]
fn error_bad_durations() {
    assert_error(
        "name = \"x\"\nduration = \"5 s\"\n",
        2,
        12,
        "invalid duration \"5 s\"",
    );
    assert_error(
        "name = \"x\"\nduration = 5\n",
        2,
        12,
        "`duration` must be a duration string",
    );
    assert_error(
        &format!("{MINIMAL}[protocol]\nping_timeout = \"1.5ns\"\n"),
        11,
        16,
        "invalid duration \"1.5ns\": finer than a nanosecond",
    );
    assert_error(
        &format!("{MINIMAL}[[at]]\ntime = \"-1s\"\ndo = \"heal\"\n"),
        11,
        8,
        "invalid duration \"-1s\"",
    );
    assert_error(
        &format!("{MINIMAL}[[at]]\ntime = \"1s\"\ndo = \"skew\"\nserver = \"a\"\nby = \"-x\"\n"),
        14,
        6,
        "invalid signed duration \"-x\"",
    );
    assert_error(
        "name = \"x\"\nduration = \"1s\"\n[network]\nlatency = { min = \"5ms\", max = \"2ms\" }\n",
        4,
        11,
        "latency min (5ms) is greater than max (2ms)",
    );
}

#[test]
fn error_unknown_references() {
    assert_error(
        &format!("{MINIMAL}[[at]]\ntime = \"1s\"\ndo = \"crash\"\nserver = \"zz\"\n"),
        13,
        10,
        "unknown server `zz`",
    );
    assert_error(
        &format!("{MINIMAL}[[at]]\ntime = \"1s\"\ndo = \"quit\"\nclient = \"zz\"\n"),
        13,
        10,
        "unknown client `zz`",
    );
    assert_error(
        &format!("{MINIMAL}[[at]]\ntime = \"1s\"\ndo = \"partition\"\ngroups = [[\"a\"], [\"b\", \"q\"]]\n"),
        13,
        24,
        "unknown server or client `q`",
    );
    assert_error(
        &format!("{MINIMAL}[[at]]\ntime = \"1s\"\ndo = \"partition\"\ngroups = [[\"a\", \"c1\"], [\"c1\"]]\n"),
        13,
        25,
        "`c1` appears more than once in `groups`",
    );
    assert_error(
        "name = \"x\"\nduration = \"1s\"\n[[server]]\nname = \"a\"\nconnect = [\"a2\"]\n",
        5,
        12,
        "unknown server `a2`",
    );
    assert_error(
        "name = \"x\"\nduration = \"1s\"\n[[server]]\nname = \"a\"\n[[client]]\nid = \"u\"\nserver = \"b\"\n",
        7,
        10,
        "unknown server `b`",
    );
    assert_error(
        &format!("{MINIMAL}[expect]\ncomponents = [[\"a\", \"x\"]]\n"),
        11,
        21,
        "unknown server `x`",
    );
    assert_error(
        &format!("{MINIMAL}[expect]\nlinks = [[\"a\", \"b\", \"c\"]]\n"),
        11,
        10,
        "pair of server names",
    );
    assert_error(
        &format!(
            "{MINIMAL}[[at]]\ntime = \"1s\"\ndo = \"add_server\"\nname = \"b\"\nvia = \"a\"\n"
        ),
        13,
        8,
        "add_server needs a new name",
    );
    assert_error(
        &format!(
            "{MINIMAL}[[at]]\ntime = \"1s\"\ndo = \"connect\"\nclient = \"a\"\nserver = \"b\"\n"
        ),
        13,
        10,
        "client id `a` is already a server name",
    );
    assert_error(
        "name = \"x\"\nduration = \"1s\"\n[[server]]\nname = \"a\"\n[[client]]\nid = \"a\"\nserver = \"a\"\n",
        6,
        6,
        "client id `a` is already a server name",
    );
}

#[test]
fn error_duplicates_and_bad_names() {
    assert_error(
        "name = \"x\"\nduration = \"1s\"\n[[server]]\nname = \"a\"\n[[server]]\nname = \"a\"\n",
        6,
        8,
        "duplicate server name `a` (first declared on line 4)",
    );
    assert_error(
        &format!("{MINIMAL}[[client]]\nid = \"c1\"\nserver = \"b\"\n"),
        11,
        6,
        "duplicate client id `c1`",
    );
    assert_error(
        "name = \"x\"\nduration = \"1s\"\n[[server]]\nname = \"a b\"\n",
        4,
        8,
        "invalid server name \"a b\"",
    );
    assert_error(
        "name = \"x\"\nduration = \"1s\"\n[[server]]\nname = \"\"\n",
        4,
        8,
        "invalid server name",
    );
    let long = "x".repeat(33);
    assert_error(
        &format!("name = \"x\"\nduration = \"1s\"\n[[server]]\nname = \"{long}\"\n"),
        4,
        8,
        "invalid server name",
    );
    for bad in ["AAA", "0A", "0AAA", "0aA", "0A-"] {
        assert_error(
            &format!(
                "name = \"x\"\nduration = \"1s\"\n[[server]]\nname = \"a\"\nsid = \"{bad}\"\n"
            ),
            5,
            7,
            "invalid sid",
        );
    }
    assert_error(
        "name = \"x\"\nduration = \"1s\"\n[[server]]\nname = \"a\"\nsid = \"0AB\"\n[[server]]\nname = \"b\"\nsid = \"0AB\"\n",
        8,
        7,
        "duplicate sid `0AB`",
    );
    assert_error(
        &format!("{MINIMAL}join = [\"lobby\"]\n"),
        10,
        9,
        "invalid room name \"lobby\"",
    );
    assert_error(
        "name = \"x\"\nduration = \"1s\"\n[[server]]\nname = \"a\"\nconnect = [\"a\"]\n",
        5,
        12,
        "cannot connect to itself",
    );
    assert_error(
        &format!("{MINIMAL}[[at]]\ntime = \"1s\"\ndo = \"link\"\na = \"a\"\nb = \"a\"\n"),
        14,
        5,
        "two different servers",
    );
}

#[test]
fn error_unknown_ablation() {
    assert_error(
        "name = \"x\"\nduration = \"1s\"\n[protocol]\nablate = [\"loop-check\", \"time-travel\"]\n",
        4,
        25,
        &format!(
            "unknown ablation \"time-travel\" (known: {})",
            super::KNOWN_ABLATIONS.join(", ")
        ),
    );
}

#[test]
fn error_wrong_types_and_enums() {
    assert_error(
        "name = 3\nduration = \"1s\"\n",
        1,
        8,
        "`name` must be a string, found an integer",
    );
    assert_error(
        "name = \"x\"\nduration = \"1s\"\nseed = -1\n",
        3,
        8,
        "`seed` must be a non-negative integer",
    );
    assert_error(
        "name = \"x\"\nduration = \"1s\"\n[protocol]\nnick_collision = \"coin-flip\"\n",
        4,
        18,
        "unknown nick_collision policy \"coin-flip\"",
    );
    assert_error(
        "name = \"x\"\nduration = \"1s\"\n[protocol]\nordering = \"random\"\n",
        4,
        12,
        "unknown ordering",
    );
    assert_error(
        "name = \"x\"\nduration = \"1s\"\n[expect]\nverdict = \"maybe\"\n",
        4,
        11,
        "unknown verdict",
    );
    assert_error(
        "name = \"x\"\nduration = \"1s\"\n[[server]]\nname = \"a\"\nstart = \"no\"\n",
        5,
        9,
        "`start` must be a boolean, found a string",
    );
    assert_error(
        "name = \"x\"\nduration = \"1s\"\n[[server]]\nname = \"a\"\nconnect = [\"b\", 3]\n",
        5,
        17,
        "elements of `connect` must be strings, found an integer",
    );
    assert_error(
        "name = \"x\"\nduration = \"1s\"\nserver = 3\n",
        3,
        10,
        "`server` must be an array of tables",
    );
    assert_error(
        "name = \"x\"\nduration = \"1s\"\nprotocol = 3\n",
        3,
        12,
        "`protocol` must be a table",
    );
}

#[test]
fn positions_count_characters() {
    // Column counts characters, not bytes.
    assert_error(
        &format!("{MINIMAL}join = [\"#é✓\", \"bad\"]\n"),
        10,
        16,
        "invalid room name \"bad\"",
    );
    assert_error(
        &format!("{MINIMAL}  \"é✓\" = 1\n"),
        10,
        3,
        "unknown key `é✓` in [[client]]",
    );
    assert_error(
        "description = \"✓✓\"; name = \"x\"\n",
        1,
        19,
        "TOML syntax error",
    );
}

#[test]
fn load_reports_io_errors() {
    let e = load(std::path::Path::new("/nonexistent/dir/nope.toml")).unwrap_err();
    assert_eq!((e.line, e.col), (0, 0));
    assert_eq!(e.file, "/nonexistent/dir/nope.toml");
    assert!(e.message.contains("No such file"), "{e}");
}

#[test]
fn load_reads_files() {
    let dir = std::env::temp_dir().join(format!("drc-scenario-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("rich.toml");
    std::fs::write(&path, RICH).unwrap();
    assert_eq!(load(&path).unwrap(), parse(RICH));
    std::fs::write(&path, "name = 1\n").unwrap();
    let e = load(&path).unwrap_err();
    assert_eq!(e.file, path.display().to_string());
    assert_eq!((e.line, e.col), (1, 8));
    std::fs::remove_dir_all(&dir).unwrap();
}

// ----- robustness ----------------------------------------------------------

/// Parses `src` and, if it parses, checks the written form reads back equal.
fn check_no_panic(src: &str) {
    match parse_str(src, "fuzz.toml") {
        Ok(sc) => {
            let text = sc.to_toml();
            match parse_str(&text, "rewritten.toml") {
                Ok(back) => assert_eq!(back, sc, "{src}\n---\n{text}"),
                Err(e) => panic!("{e}\n{src}\n---\n{text}"),
            }
        }
        Err(e) => {
            assert!(e.line >= 1 && e.col >= 1, "{e}");
            assert!(e.line <= src.lines().count() + 1, "{e}");
        }
    }
}

#[test]
fn truncations_never_panic() {
    for (i, _) in RICH.char_indices() {
        check_no_panic(&RICH[..i]);
    }
}

#[test]
fn single_char_mutations_never_panic() {
    let replacements = [
        '"', '[', ']', '=', '#', '\n', 'x', '0', '-', ' ', '{', ',', 'é',
    ];
    let chars: Vec<char> = RICH.chars().collect();
    for i in 0..chars.len() {
        for &r in &replacements {
            if chars[i] == r {
                continue;
            }
            let mut mutated = chars.clone();
            mutated[i] = r;
            check_no_panic(&mutated.iter().collect::<String>());
        }
        // Deleting a character.
        let mut deleted = chars.clone();
        deleted.remove(i);
        check_no_panic(&deleted.iter().collect::<String>());
    }
}

/// Line-level edits: drop or duplicate each line.
#[test]
fn line_mutations_never_panic() {
    let lines: Vec<&str> = RICH.lines().collect();
    for i in 0..lines.len() {
        let mut dropped = lines.clone();
        dropped.remove(i);
        check_no_panic(&dropped.join("\n"));
        let mut doubled = lines.clone();
        doubled.insert(i, lines[i]);
        check_no_panic(&doubled.join("\n"));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_splices_never_panic(
        at in 0usize..RICH.len(),
        cut in 0usize..40,
        insert in "[a-z0-9_#=\\[\\]{}\",. \n\\\\-]{0,30}",
    ) {
        let mut at = at;
        while !RICH.is_char_boundary(at) {
            at -= 1;
        }
        let mut end = (at + cut).min(RICH.len());
        while !RICH.is_char_boundary(end) {
            end -= 1;
        }
        let src = format!("{}{}{}", &RICH[..at], insert, &RICH[end..]);
        check_no_panic(&src);
    }

    #[test]
    fn arbitrary_text_never_panics(src in "\\PC{0,200}") {
        check_no_panic(&src);
    }

    #[test]
    fn durations_round_trip(n in any::<u64>(), k in any::<i64>()) {
        prop_assert_eq!(parse_duration(&format_duration(Duration(n))), Ok(Duration(n)));
        prop_assert_eq!(parse_signed_duration(&format_signed_duration(k)), Ok(k));
    }
}

#[test]
fn faults_section_parses_with_defaults_and_errors() {
    let sc = parse_str(
        "name = \"x\"\nduration = \"1s\"\n[[server]]\nname = \"a\"\n[faults]\nwindow = \"30s\"\nkinds = [\"cut\", \"crash\"]\n",
        "t.toml",
    )
    .unwrap();
    let f = sc.faults.clone().unwrap();
    assert_eq!(f.window, Duration::from_secs(30));
    assert_eq!(f.kinds, vec![FaultKind::Cut, FaultKind::Crash]);
    assert_eq!(f.start, FaultsSection::default().start);
    assert_eq!(parse_str(&sc.to_toml(), "again.toml").unwrap(), sc);
    assert_error(
        "name = \"x\"\nduration = \"1s\"\n[faults]\nkinds = [\"meteor\"]\n",
        4,
        10,
        "unknown fault kind \"meteor\"",
    );
    let sc = parse_str(
        "name = \"x\"\nduration = \"1s\"\n[[server]]\nname = \"a\"\n[faults]\n\
         nick_collision = [\"reject\", \"ts-kill\"]\nordering = [\"home\"]\n\
         send = [\"at-once\", \"ask-first\", \"at-once\"]\n",
        "t.toml",
    )
    .unwrap();
    let f = sc.faults.clone().unwrap();
    assert_eq!(
        f.nick_collision,
        vec![NickCollision::Reject, NickCollision::TsKill]
    );
    assert_eq!(f.ordering, vec![Ordering::Home]);
    assert_eq!(f.send, vec![SendMode::AtOnce, SendMode::AskFirst]);
    assert_eq!(parse_str(&sc.to_toml(), "again.toml").unwrap(), sc);
    assert_error(
        "name = \"x\"\nduration = \"1s\"\n[[server]]\nname = \"a\"\n[faults]\nsend = [\"later\"]\n",
        6,
        9,
        "unknown send mode \"later\"",
    );
    assert_error(
        "name = \"x\"\nduration = \"1s\"\n[[server]]\nname = \"a\"\n[faults]\nordering = [\"home\", \"chaos\"]\n",
        6,
        21,
        "unknown ordering \"chaos\"",
    );
    assert_error(
        "name = \"x\"\nduration = \"1s\"\n[faults]\nwindows = \"1s\"\n",
        4,
        1,
        "unknown key `windows`",
    );
}

#[test]
fn client_reconnect_keys_parse_and_round_trip() {
    let sc = parse(&format!(
        "{MINIMAL}[[client]]\nid = \"c2\"\nserver = \"b\"\nservers = [\"a\"]\nreconnect = false\nstart = false\n"
    ));
    let c1 = &sc.clients[0];
    assert!(
        c1.servers.is_empty() && c1.reconnect && c1.start,
        "defaults"
    );
    let c2 = &sc.clients[1];
    assert_eq!(c2.servers, vec![s("a")]);
    assert!(!c2.reconnect && !c2.start);
    let text = sc.to_toml();
    assert!(text.contains("servers = [\"a\"]\nreconnect = false\nstart = false\n"));
    assert_eq!(parse_str(&text, "again.toml").unwrap(), sc);

    assert_error(
        &format!("{MINIMAL}servers = [\"a\", \"zz\"]\n"),
        10,
        17,
        "unknown server `zz`",
    );
    assert_error(
        &format!("{MINIMAL}servers = \"a\"\n"),
        10,
        11,
        "a list of strings",
    );
    assert_error(&format!("{MINIMAL}reconnect = 1\n"), 10, 13, "boolean");
}

// ----- bounds: settings that would flood a run are refused ------------------

#[test]
fn every_stock_scenario_round_trips() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    let mut workloads = 0;
    for p in &paths {
        let sc = load(p).unwrap_or_else(|e| panic!("{e}"));
        let text = sc.to_toml();
        let back = parse_str(&text, "written.toml")
            .unwrap_or_else(|e| panic!("{}: {e}\n{text}", p.display()));
        assert_eq!(back, sc, "{}\n{text}", p.display());
        assert_eq!(back.to_toml(), text, "{}: writing is stable", p.display());
        workloads += usize::from(sc.workload.is_some());
    }
    assert!(paths.len() >= 40, "{} scenarios", paths.len());
    assert!(
        workloads >= 1,
        "a stock scenario with a [workload] is covered"
    );
}

const SECTIONS: &str = r#"name = "sections"
duration = "10m"
[[server]]
name = "a"
[[server]]
name = "b"
connect = ["a"]
[workload]
clients = 7
rooms = 3
joins = 2
say_every = "1500ms"
nick_every = "2m"
churn_every = "3m"
start = "2s"
stop = "9m"
[faults]
start = "10s"
window = "5m"
mean_gap = "7s"
kinds = ["crash", "partition"]
converge_within = "80s"
[limits]
max_events = 12345
[expect]
converge = true
"#;

#[test]
fn workload_faults_limits_and_converge_round_trip() {
    let sc = parse(SECTIONS);
    let w = sc.workload.clone().unwrap();
    assert_eq!(
        w,
        WorkloadSection {
            clients: 7,
            rooms: 3,
            joins: 2,
            say_every: Duration::from_millis(1500),
            nick_every: Duration::from_secs(120),
            churn_every: Duration::from_secs(180),
            start: Duration::from_secs(2),
            stop: Duration::from_secs(540),
            ..WorkloadSection::default()
        }
    );
    assert_eq!(sc.limits.max_events, 12345);
    assert!(sc.expect.converge && sc.expect.asks_convergence());
    assert!(!Expect::default().asks_convergence());
    let text = sc.to_toml();
    assert!(
        text.contains("[workload]") && text.contains("[limits]"),
        "{text}"
    );
    assert_eq!(parse(&text), sc, "{text}");
    // Without nick changes or churn: written by leaving them out.
    let plain = SECTIONS
        .replace("nick_every = \"2m\"\n", "")
        .replace("churn_every = \"3m\"\n", "");
    let sc = parse(&plain);
    let w = sc.workload.clone().unwrap();
    assert_eq!(
        (w.nick_every, w.churn_every),
        (Duration::ZERO, Duration::ZERO)
    );
    let text = sc.to_toml();
    assert!(!text.contains("nick_every") && !text.contains("churn_every"));
    assert_eq!(parse(&text), sc, "{text}");
}

const ONE: &str = "name = \"x\"\nduration = \"1m\"\n[[server]]\nname = \"a\"\n";

#[test]
fn error_timers_too_short() {
    // Zero spins at one instant; a nanosecond or two floods the run.
    for key in [
        "ping_interval",
        "reconnect_min",
        "handshake_timeout",
        "seq_hold",
        "find_delay",
    ] {
        for v in ["0s", "1ns", "9ms"] {
            assert_error(
                &format!("{ONE}[protocol]\n{key} = \"{v}\"\n"),
                6,
                key.len() + 4,
                &format!("`{key}` = {v} is too short: at least 10ms"),
            );
        }
    }
    assert_error(
        &format!("{ONE}[network]\nconnect_timeout = \"0s\"\n"),
        6,
        19,
        "`connect_timeout` = 0s is too short: at least 10ms",
    );
    // At the minimum is fine; nick_history is not a timer.
    let sc = parse(&format!(
        "{ONE}[protocol]\nreconnect_min = \"10ms\"\nhandshake_timeout = \"10ms\"\nnick_history = \"0s\"\n"
    ));
    assert_eq!(sc.protocol.reconnect_min, MIN_TIMER);
    // A negative interval is not a duration at all.
    assert_error(
        &format!("{ONE}[protocol]\nping_interval = \"-5s\"\n"),
        6,
        17,
        "invalid duration \"-5s\"",
    );
}

/// The clients' keepalive is the links' unless given; each half given
/// alone is checked against the other half as it will be.
#[test]
fn a_client_keepalive_defaults_to_the_links_and_is_checked_the_same_way() {
    let sc = parse(&format!(
        "{ONE}[protocol]\nping_interval = \"20s\"\nping_timeout = \"60s\"\n"
    ));
    assert_eq!(sc.protocol.client_ping_interval, None);
    let cfg = crate::run::protocol_config(&sc).unwrap();
    assert_eq!(
        cfg.client_ping_interval,
        drc_protocol::Duration::from_secs(20)
    );
    assert_eq!(
        cfg.client_ping_timeout,
        drc_protocol::Duration::from_secs(60)
    );
    let sc = parse(&format!(
        "{ONE}[protocol]\nclient_ping_interval = \"2m\"\nclient_ping_timeout = \"6m\"\n"
    ));
    let cfg = crate::run::protocol_config(&sc).unwrap();
    assert_eq!(
        cfg.client_ping_interval,
        drc_protocol::Duration::from_secs(120)
    );
    assert_eq!(
        cfg.client_ping_timeout,
        drc_protocol::Duration::from_secs(360)
    );
    assert_eq!(cfg.ping_interval, drc_protocol::Duration::from_secs(5));
    assert_eq!(parse(&sc.to_toml()).protocol, sc.protocol);
    // Only the interval given: the links' 15 s timeout is too short for it.
    assert_error(
        &format!("{ONE}[protocol]\nclient_ping_interval = \"30s\"\n"),
        6,
        24,
        "client_ping_timeout (15s) must be longer than client_ping_interval (30s)",
    );
    assert_error(
        &format!(
            "{ONE}[protocol]\nclient_ping_interval = \"30s\"\nclient_ping_timeout = \"30s\"\n"
        ),
        7,
        23,
        "client_ping_timeout (30s) must be longer than client_ping_interval (30s)",
    );
    assert_error(
        &format!("{ONE}[protocol]\nclient_ping_timeout = \"1ms\"\n"),
        6,
        23,
        "`client_ping_timeout` = 1ms is too short: at least 10ms",
    );
}

#[test]
fn error_ping_timeout_not_above_interval() {
    assert_error(
        &format!("{ONE}[protocol]\nping_interval = \"5s\"\nping_timeout = \"5s\"\n"),
        7,
        16,
        "ping_timeout (5s) must be longer than ping_interval (5s)",
    );
    assert_error(
        &format!("{ONE}[protocol]\nping_timeout = \"3s\"\nping_interval = \"10s\"\n"),
        6,
        16,
        "ping_timeout (3s) must be longer than ping_interval (10s)",
    );
    // Only the interval given: it is the one at fault (default timeout 15s).
    assert_error(
        &format!("{ONE}[protocol]\nping_interval = \"20s\"\n"),
        6,
        17,
        "ping_timeout (15s) must be longer than ping_interval (20s)",
    );
    assert_error(
        &format!("{ONE}[protocol]\nreconnect_min = \"5s\"\nreconnect_max = \"2s\"\n"),
        7,
        17,
        "reconnect_max (2s) is shorter than reconnect_min (5s)",
    );
    let sc = parse(&format!(
        "{ONE}[protocol]\nping_interval = \"10s\"\nping_timeout = \"10001ms\"\n"
    ));
    assert_eq!(sc.protocol.ping_timeout, Duration::from_millis(10_001));
}

#[test]
fn error_workload_and_fault_rates() {
    for key in ["say_every", "nick_every", "churn_every"] {
        assert_error(
            &format!("{ONE}[workload]\n{key} = \"0s\"\n"),
            6,
            key.len() + 4,
            &format!("`{key}` = 0s is too short: at least 100ms"),
        );
    }
    assert_error(
        &format!("{ONE}[faults]\nmean_gap = \"1ns\"\n"),
        6,
        12,
        "`mean_gap` = 1ns is too short: at least 100ms",
    );
    assert_error(
        &format!("{ONE}[faults]\nmean_gap = \"100ms\"\nwindow = \"10000h\"\n"),
        7,
        10,
        "draws about 360000000 faults, at most 100000",
    );
    assert_error(
        &format!("{ONE}[workload]\nclients = 100000\nsay_every = \"100ms\"\nstop = \"1h\"\n"),
        5,
        1,
        "workload: about 3599300000 actions expected, at most 2000000",
    );
    // Longer than any scenario may name (sums of times stay far from
    // overflowing).
    assert_error(
        "name = \"x\"\nduration = \"10001h\"\n",
        2,
        12,
        "`duration` is 10001h, longer than the 10000h",
    );
    assert_error(
        &format!("{ONE}[[at]]\ntime = \"1s\"\ndo = \"skew\"\nserver = \"a\"\nby = \"-10001h\"\n"),
        9,
        6,
        "`by` is -10001h, longer than the 10000h",
    );
    assert_error(
        &format!("{ONE}[[server]]\nname = \"b\"\n[[at]]\ntime = \"1s\"\ndo = \"stall\"\na = \"a\"\nb = \"b\"\nfor = \"0s\"\n"),
        12,
        7,
        "a stall must last longer than zero",
    );
}

#[test]
fn error_action_after_the_end_and_no_server() {
    assert_error(
        &format!(
            "{ONE}[[at]]\ntime = \"1m\"\ndo = \"heal\"\n[[at]]\ntime = \"61s\"\ndo = \"heal\"\n"
        ),
        9,
        8,
        "action `heal` at 61s comes after the end of the run (duration = 1m)",
    );
    assert_eq!(
        error("name = \"x\"\nduration = \"1m\"\n[expect]\nverdict = \"pass\"\n"),
        "t.toml:1:1: the scenario declares no server: add at least one [[server]]"
    );
    // Errors inside the file come first.
    assert_error(
        "name = \"x\"\nduration = \"1m\"\n[expect]\nverdict = \"maybe\"\n",
        4,
        11,
        "unknown verdict",
    );
}

#[test]
fn error_limits() {
    assert_error(
        &format!("{ONE}[limits]\nmax_events = 0\n"),
        6,
        14,
        "`max_events` must be at least 1",
    );
    assert_error(
        &format!("{ONE}[limits]\nmax_event = 5\n"),
        6,
        1,
        "unknown key `max_event` in [limits]",
    );
    assert_error(
        &format!("{ONE}[limits]\nmax_events = -3\n"),
        6,
        14,
        "`max_events` must be a non-negative integer",
    );
    assert_error(
        &format!("{ONE}[expect]\nconverge = \"yes\"\n"),
        6,
        12,
        "`converge` must be a boolean",
    );
}

#[test]
fn discovery_section_and_storm_action() {
    let src = format!(
        "{MINIMAL}[discovery]\nseekers = [\"a\"]\nperiod = \"3s\"\nloss = 0.3\nduplicate = 0.1\n\
         [[at]]\ntime = \"1s\"\ndo = \"storm\"\nfor = \"2s\"\nloss = 0.9\nduplicate = 0\n"
    );
    let sc = parse(&src);
    let d = sc.discovery.as_ref().expect("a [discovery] section");
    assert_eq!(d.seekers, ["a"]);
    assert_eq!(d.period, Duration::from_secs(3));
    assert_eq!((d.loss_ppm, d.duplicate_ppm), (300_000, 100_000));
    assert_eq!(
        sc.actions[0].action,
        Action::Storm {
            duration: Duration::from_secs(2),
            loss_ppm: 900_000,
            duplicate_ppm: 0,
        }
    );
    // Written out and read back, it is the same scenario.
    assert_eq!(parse(&sc.to_toml()), sc);
    // Defaults: a period of 2s, nothing lost or duplicated, no seeker.
    let sc = parse(&format!("{MINIMAL}[discovery]\n"));
    assert_eq!(sc.discovery, Some(DiscoverySection::default()));
}

#[test]
fn discovery_errors_point_at_the_value() {
    let at = |body: &str| format!("{MINIMAL}[discovery]\n{body}\n");
    let line = MINIMAL.lines().count() + 2;
    assert_error(
        &at("loss = 1.5"),
        line,
        8,
        "`loss` = 1.5 is not a probability: use 0 to 1",
    );
    assert_error(
        &at("duplicate = -0.1"),
        line,
        13,
        "`duplicate` = -0.1 is not a probability",
    );
    assert_error(&at("loss = 1"), line, 8, "`loss` = 1 loses every datagram");
    assert_error(
        &at("loss = \"high\""),
        line,
        8,
        "`loss` must be a probability from 0 to 1, found a string",
    );
    assert_error(
        &at("period = \"1ms\""),
        line,
        10,
        "`period` = 1ms is too short",
    );
    assert_error(
        &at("seekers = [\"zz\"]"),
        line,
        12,
        "unknown server `zz` in [discovery] seekers",
    );
    assert_error(
        &at("seekers = [\"a\", \"a\"]"),
        line,
        17,
        &format!("duplicate seeker `a` (first listed on line {line})"),
    );
    assert_error(
        &at("rate = 3"),
        line,
        1,
        "unknown key `rate` in [discovery] (expected one of: seekers, period, loss, duplicate)",
    );
    assert_error(
        &format!("{MINIMAL}[[at]]\ntime = \"1s\"\ndo = \"storm\"\nfor = \"0s\"\n"),
        MINIMAL.lines().count() + 4,
        7,
        "a storm must last longer than zero",
    );
}
