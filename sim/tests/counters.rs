//! The client counters of the summary, the JSON and the sweep CSV, on a
//! crafted scenario where each kind of failure happens a known number of
//! times: a run whose users could not talk must not read as a clean PASS.

use drc_sim::run::{run, RunOptions};
use drc_sim::scenario;
use drc_sim::sweep;

/// Every failure below is one the clients can see; no invariant fires,
/// so the verdict is PASS and only the counters tell.
const CLIENT_FAILURES: &str = r##"name = "client-failures"
duration = "120s"

[network]
latency = { min = "20ms", max = "20ms" }

[[server]]
name = "hub"

[[server]]
name = "side"

[[client]]
id = "alice"
server = "hub"
join = ["#r"]

[[client]]
id = "bob"
server = "hub"
join = ["#r"]

[[client]]
id = "eve"
server = "side"
join = ["#s"]

[[at]]
time = "0s"
do = "say"
client = "alice"
room = "#r"
text = "too early"

[[at]]
time = "5s"
do = "nick"
client = "bob"
nick = "alice"

[[at]]
time = "6s"
do = "say"
client = "alice"
room = "#nope"
text = "not a member"

[[at]]
time = "7s"
do = "connect"
client = "carol"
server = "hub"

[[at]]
time = "8s"
do = "quit"
client = "carol"

[[at]]
time = "9s"
do = "private"
client = "alice"
to = "carol"
text = "are you there?"

[[at]]
time = "9s"
do = "send_list"
client = "alice"
to = ["carol", "bob"]
text = "to both"

[[at]]
time = "10s"
do = "quit"
client = "bob"

[[at]]
time = "11s"
do = "say"
client = "bob"
room = "#r"
text = "after quitting"

[[at]]
time = "12s"
do = "nick"
client = "bob"
nick = "bobby"

[[at]]
time = "13s"
do = "say"
client = "eve"
room = "#s"
text = "lost with side"

[[at]]
time = "13s"
do = "crash"
server = "side"

[[at]]
time = "40s"
do = "connect"
client = "zed"
server = "hub"

[[at]]
time = "40070ms"
do = "partition"
groups = [["zed"]]

[[at]]
time = "60s"
do = "heal"
"##;

fn counted() -> drc_sim::run::Outcome {
    let scn = scenario::parse_str(CLIENT_FAILURES, "client-failures.toml").unwrap();
    run(&scn, RunOptions::default()).unwrap()
}

#[test]
fn each_client_failure_is_counted_once() {
    let o = counted();
    assert!(
        o.violations.is_empty() && o.matched && o.quiescent,
        "{}",
        o.summary()
    );
    let c = &o.clients;
    let n = &c.counts;
    // alice's say at 0s (still connecting), alice's say to a room she is
    // not in, bob's say after his quit.
    assert_eq!(n.room_sends_failed, 3);
    // eve's message went out as side crashed: never numbered, never
    // echoed, still queued at the end.
    assert_eq!(c.room_sends_unconfirmed, 1);
    // alice's private message to carol, who quit (no such nick), and the
    // carol half of the list message to carol and bob.
    assert_eq!(n.private_sends_failed, 2);
    // bob asked for "alice" (in use), then for "bobby" after quitting.
    assert_eq!(n.nick_changes_refused, 2);
    // zed's welcome was held by the partition past handshake_timeout.
    assert_eq!(n.registrations_given_up, 1);
    let e = &c.at_end;
    assert_eq!(c.total, 5);
    assert_eq!(
        (e.connected, e.quit, e.disconnected, e.killed, e.pending),
        (2, 2, 1, 0, 0),
        "alice and zed (it gave up a registration, then reconnected after the heal) \
         connected; bob and carol quit; eve (side crashed for good) disconnected"
    );
    assert_eq!(
        e.connected + e.quit + e.disconnected + e.killed + e.pending,
        c.total
    );
    assert_eq!(e.not_connected(), 1);
    // bob still got the list message: only its carol half failed.
    let f = &o.final_clients;
    assert_eq!(f["bob"]["list"][0]["text"], "to both");

    let v = o.to_json();
    let j = &v["clients"];
    assert_eq!(j["total"], 5);
    assert_eq!(j["room_sends_failed"], 3);
    assert_eq!(j["room_sends_unconfirmed"], 1);
    assert_eq!(j["private_sends_failed"], 2);
    assert_eq!(j["nick_changes_refused"], 2);
    assert_eq!(j["registrations_given_up"], 1);
    assert_eq!(
        j["at_end"],
        serde_json::json!({"connected": 2, "quit": 2, "disconnected": 1, "killed": 0, "pending": 0})
    );
    let text = o.summary();
    assert!(
        text.contains("clients: 5 (2 connected, 2 quit, 1 disconnected, 0 killed, 0 pending)"),
        "{text}"
    );
    assert!(
        text.contains(
            "3 room sends failed, 1 unconfirmed, 2 private sends failed, \
             2 nick changes refused, 1 registrations given up"
        ),
        "{text}"
    );
}

#[test]
fn the_healthy_part_counts_nothing() {
    // The same clients with only what succeeds: every counter is zero.
    let scn = scenario::parse_str(
        "name = \"ok\"\nduration = \"60s\"\n[[server]]\nname = \"hub\"\n\
         [[client]]\nid = \"alice\"\nserver = \"hub\"\njoin = [\"#r\"]\n\
         [[client]]\nid = \"bob\"\nserver = \"hub\"\njoin = [\"#r\"]\n\
         [[at]]\ntime = \"5s\"\ndo = \"say\"\nclient = \"alice\"\nroom = \"#r\"\ntext = \"hi\"\n\
         [[at]]\ntime = \"6s\"\ndo = \"nick\"\nclient = \"bob\"\nnick = \"robert\"\n\
         [[at]]\ntime = \"7s\"\ndo = \"private\"\nclient = \"alice\"\nto = \"bob\"\ntext = \"psst\"\n",
        "ok.toml",
    )
    .unwrap();
    let o = run(&scn, RunOptions::default()).unwrap();
    assert!(o.violations.is_empty(), "{}", o.summary());
    let c = &o.clients;
    assert_eq!(c.counts, Default::default());
    assert_eq!(c.room_sends_unconfirmed, 0);
    assert_eq!((c.total, c.at_end.connected), (2, 2));
    assert_eq!(o.final_clients["bob"]["nick"], "robert");
}

#[test]
fn the_sweep_csv_carries_the_counters_in_stable_columns() {
    let scn = scenario::parse_str(CLIENT_FAILURES, "client-failures.toml").unwrap();
    let (row, _, _) = sweep::run_seed(&scn, 1).unwrap();
    let header = sweep::header();
    let fields = row.fields();
    assert_eq!(fields.len(), header.len());
    let col = |name: &str| {
        let i = header.iter().position(|h| *h == name).unwrap();
        fields[i].as_str()
    };
    assert_eq!(col("quiescent"), "true");
    assert_eq!(col("budget_exceeded"), "false");
    assert_eq!(col("clients"), "5");
    assert_eq!(col("clients_connected"), "2");
    assert_eq!(col("clients_quit"), "2");
    assert_eq!(col("clients_disconnected"), "1");
    assert_eq!(col("clients_killed"), "0");
    assert_eq!(col("clients_pending"), "0");
    assert_eq!(col("room_sends_failed"), "3");
    assert_eq!(col("room_sends_unconfirmed"), "1");
    assert_eq!(col("private_sends_failed"), "2");
    assert_eq!(col("nick_changes_refused"), "2");
    assert_eq!(col("registrations_given_up"), "1");
    // Nothing failed: the text column is empty, the time column too.
    assert_eq!((col("first_invariant"), col("first_time_ms")), ("", ""));
    assert_eq!(&header[..3], &["seed", "verdict", "matched"]);
    assert!(
        header.iter().any(|h| h == "faults_crash") && !header.iter().any(|h| h == "fault_kinds")
    );
}
