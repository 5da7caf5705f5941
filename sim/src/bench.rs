//! Throughput benchmarks. Wall-clock time is read here and only here: it
//! measures the simulator, it never feeds a run.

use std::fmt::Write as _;
use std::time::Instant as WallClock;

use drc_protocol::config::SendMode;
use drc_protocol::Duration;

use crate::clock::SimTime;
use crate::progress::Progress;
use crate::run::{build, RunOptions};
use crate::scenario::{
    Action, Expect, Limits, NetworkSection, ProtocolSection, Scenario, ServerDecl, TimedAction,
    WorkloadSection,
};
use crate::world::World;

/// When the flood starts: long enough for any tree we bench to form.
const FLOOD_START: u64 = 20_000_000_000;
/// Gap between two broadcasts.
const FLOOD_GAP: u64 = 50_000;

/// N servers in a seeded random tree (each links to a random earlier one).
pub fn flood_scenario(servers: usize, messages: u64, seed: u64) -> Scenario {
    let mut rng = crate::rng::stream(seed, "bench/tree");
    let decls = (0..servers)
        .map(|i| {
            let mut d = ServerDecl::new(format!("s{i}"));
            if i > 0 {
                let parent = crate::rng::between(&mut rng, 0, i as u64 - 1);
                d.connect = vec![format!("s{parent}")];
            }
            d
        })
        .collect();
    let text: String = "0123456789abcdef".repeat(4);
    let actions = (0..messages)
        .map(|i| TimedAction {
            time: Duration::from_nanos(FLOOD_START + i * FLOOD_GAP),
            action: Action::Broadcast {
                server: "s0".into(),
                text: text.clone(),
            },
            line: 0,
        })
        .collect();
    Scenario {
        name: format!("bench-flood-{servers}x{messages}"),
        description: "flood benchmark".into(),
        seed,
        duration: Duration::from_nanos(FLOOD_START + messages * FLOOD_GAP + 1_000_000_000),
        protocol: ProtocolSection::default(),
        network: NetworkSection {
            latency_min: Duration::from_millis(1),
            latency_max: Duration::from_millis(10),
            connect_timeout: Duration::from_secs(3),
        },
        servers: decls,
        clients: Vec::new(),
        actions,
        faults: None,
        workload: None,
        discovery: None,
        greeter: None,
        // A benchmark's size is set by its flags, and the default chat
        // bench alone runs 35 M events: no budget.
        limits: Limits {
            max_events: u64::MAX,
        },
        expect: Expect::default(),
    }
}

#[derive(serde::Serialize)]
pub struct FloodReport {
    pub servers: usize,
    pub messages: u64,
    pub hops: u64,
    pub events: u64,
    pub wall_secs: f64,
    pub sim_secs: f64,
    pub violations: usize,
    pub tree_ok: bool,
    /// The run's trace hash: equal across builds means the same run.
    pub trace_hash: String,
    /// Wall time and events of the set-up (boot, handshakes, bursts)
    /// before the timed part.
    pub setup_wall_secs: f64,
    pub setup_events: u64,
    /// The process's peak resident memory so far, from the OS (Linux's
    /// `VmHWM`; absent elsewhere).
    pub peak_rss_mib: Option<f64>,
    /// How much of the process's memory is in transparent huge pages at
    /// the end (Linux's `AnonHugePages`; see [`crate::huge_pages`]).
    pub huge_pages_mib: Option<f64>,
    /// Simulated seconds run on after the flood (`--hold`), untimed, and
    /// the wall time they took; then the run is judged as `drcsim run`
    /// judges one (`violations` counts what that found too).
    pub hold_secs: u64,
    pub hold_wall_secs: f64,
    /// After a hold: whether the end was quiet, so convergence (every
    /// server's view of the tree, and their agreement) was judged.
    pub quiescent: Option<bool>,
}

/// The process's peak resident set size in MiB, as Linux reports it in
/// `/proc/self/status` (`VmHWM`): what the OS had to give, allocator
/// overhead included. `None` where there is no such file.
pub fn peak_rss_mib() -> Option<f64> {
    Some(crate::footprint::proc_kib("/proc/self/status", "VmHWM")? as f64 / 1024.0)
}

/// The process's anonymous memory in transparent huge pages now, in MiB
/// (`AnonHugePages` in `/proc/self/smaps_rollup`). `None` where there is
/// no such file.
pub fn huge_pages_mib() -> Option<f64> {
    Some(crate::footprint::proc_kib("/proc/self/smaps_rollup", "AnonHugePages")? as f64 / 1024.0)
}

fn huge(m: Option<f64>) -> String {
    m.map_or_else(String::new, |m| {
        format!(" ({m:.0} MiB in huge pages at the end)")
    })
}

fn mib(m: Option<f64>) -> String {
    m.map_or_else(|| "unknown".into(), |m| format!("{m:.0} MiB"))
}

/// A bench is the last thing its process does: tearing down millions of
/// map nodes and strings only to hand the pages back to the OS cost about
/// 1,900 instructions per delivery in `bench chat` (a tenth of the whole),
/// so the world and scenario are left for the process exit to reclaim.
fn exit_without_teardown(world: World, scn: Scenario) {
    std::mem::forget(world);
    std::mem::forget(scn);
}

/// Sets up `servers` in a random tree, floods `messages` broadcasts
/// (timed), and with `hold` > 0 runs on `hold` simulated seconds and
/// judges the run. With `progress`, a progress line on standard error if
/// it is a terminal ([`Progress`]).
pub fn flood(
    servers: usize,
    messages: u64,
    seed: u64,
    hold: u64,
    progress: bool,
) -> Result<FloodReport, String> {
    let mut scn = flood_scenario(servers, messages, seed);
    let flood_end = scn.duration.as_nanos();
    scn.duration = Duration::from_nanos(flood_end + hold * 1_000_000_000);
    let end = scn.duration.as_nanos();
    let p = Progress::on_terminal(progress);
    let t_setup = WallClock::now();
    let mut world = build(&scn, &mut brief())?;
    p.run_until(&mut world, FLOOD_START, "set-up");
    let (setup_wall_secs, setup_events) = (t_setup.elapsed().as_secs_f64(), world.events);
    let formed = world.checks.graph.edges().count() == servers - 1;
    let (events0, hops0, sim0) = (world.events, world.broadcasts(), world.now);
    let t0 = WallClock::now();
    if hold == 0 {
        p.run(&mut world, end, "flood");
    } else {
        p.run_until(&mut world, flood_end, "flood");
    }
    let wall = t0.elapsed().as_secs_f64();
    let (events, hops, sim_secs) = (
        world.events - events0,
        world.broadcasts() - hops0,
        (world.now - sim0) as f64 / 1e9,
    );
    let (mut hold_wall_secs, mut quiescent) = (0.0, None);
    if hold > 0 {
        let t_hold = WallClock::now();
        p.run(&mut world, end, "hold");
        quiescent = Some(crate::run::judge(&scn, &mut world)?.quiescent);
        hold_wall_secs = t_hold.elapsed().as_secs_f64();
    }
    p.clear();
    let report = Ok(FloodReport {
        servers,
        messages,
        hops,
        events,
        wall_secs: wall,
        sim_secs,
        violations: world.checks.violations.len(),
        tree_ok: formed,
        trace_hash: world.hash.hex(),
        setup_wall_secs,
        setup_events,
        peak_rss_mib: peak_rss_mib(),
        huge_pages_mib: huge_pages_mib(),
        hold_secs: hold,
        hold_wall_secs,
        quiescent,
    });
    exit_without_teardown(world, scn);
    report
}

impl FloodReport {
    /// Every hop a broadcast must make: each message reaches every other
    /// server once.
    pub fn expected_hops(&self) -> u64 {
        self.messages * (self.servers as u64 - 1)
    }

    pub fn text(&self) -> String {
        format!(
            "flood: {} servers, {} messages of 64 bytes\n\
             \x20 hops {} (expected {}), events {}, violations {}, tree formed: {}\n\
             \x20 trace hash {}\n\
             \x20 wall {:.3}s, {:.0} hops/s, {:.0} events/s, simulated/wall {:.1}x\n\
             \x20 set-up {:.3}s wall, {} events; peak memory {}{}\n{}",
            self.servers,
            self.messages,
            self.hops,
            self.expected_hops(),
            self.events,
            self.violations,
            self.tree_ok,
            self.trace_hash,
            self.wall_secs,
            self.hops as f64 / self.wall_secs,
            self.events as f64 / self.wall_secs,
            self.sim_secs / self.wall_secs,
            self.setup_wall_secs,
            self.setup_events,
            mib(self.peak_rss_mib),
            huge(self.huge_pages_mib),
            match self.quiescent {
                None => String::new(),
                Some(q) => format!(
                    "  held {} simulated seconds more: {:.3}s wall, then judged ({})\n",
                    self.hold_secs,
                    self.hold_wall_secs,
                    if q {
                        "quiet: convergence judged"
                    } else {
                        "not quiet: convergence not judged"
                    }
                ),
            }
        )
    }
}

/// When chatter starts: the tree has formed and every client has joined.
const CHAT_START: u64 = 30_000_000_000;

/// `servers` in a seeded random tree, `rooms` rooms of `members` clients
/// (client i on server i mod servers), each client saying one message per
/// simulated second for `seconds`.
pub fn chat_scenario(
    servers: usize,
    rooms: usize,
    members: usize,
    seconds: u64,
    seed: u64,
) -> Scenario {
    let mut scn = flood_scenario(servers, 0, seed);
    scn.name = format!("bench-chat-{servers}x{}", rooms * members);
    scn.description = "chat benchmark".into();
    let mut rng = crate::rng::stream(seed, "bench/chat");
    // Formatted once: each message's action copies them (a copy is a
    // third of a `format!`, and the actions are part of what is counted).
    let labels: Vec<String> = (0..rooms * members).map(|i| format!("c{i}")).collect();
    let names: Vec<String> = (0..rooms).map(|r| format!("#r{r}")).collect();
    for (r, name) in names.iter().enumerate() {
        for m in 0..members {
            let i = r * members + m;
            let mut c =
                crate::scenario::ClientDecl::new(labels[i].clone(), format!("s{}", i % servers));
            c.join = vec![name.clone()];
            scn.clients.push(c);
        }
    }
    // Each second's messages put in time order as they are made: the
    // same order as a stable sort of all of them by time (a second's times
    // lie within it; ties go by client, as they were made), without
    // sorting the whole list of actions (about 80 instructions a delivery
    // at 16/16/16).
    let mut second: Vec<(u64, usize)> = Vec::with_capacity(rooms * members);
    scn.actions.reserve(rooms * members * seconds as usize);
    for sec in 0..seconds {
        second.clear();
        for i in 0..rooms * members {
            second.push((crate::rng::between(&mut rng, 0, 999_999_999), i));
        }
        second.sort_unstable();
        for &(jitter, i) in &second {
            // "c{i} {sec}" in one allocation of the right size:
            // `format!` grew it twice (about 1,000 instructions a
            // message, 1/16 of a delivery's at 16/16/16).
            let mut text = String::with_capacity(labels[i].len() + 21);
            text.push_str(&labels[i]);
            let _ = write!(text, " {sec}");
            scn.actions.push(TimedAction {
                time: Duration::from_nanos(CHAT_START + sec * 1_000_000_000 + jitter),
                action: Action::Say {
                    client: labels[i].clone(),
                    room: names[i / members].clone(),
                    text,
                },
                line: 0,
            });
        }
    }
    debug_assert!(scn.actions.is_sorted_by_key(|a| a.time));
    quiet_end(
        &mut scn,
        CHAT_START + seconds * 1_000_000_000 + 5_000_000_000,
    );
    scn
}

/// How long after the timed part a bench runs on, untimed, for a quiet
/// end: the settling times the convergence checks wait for after the
/// last action and the last client action (`checkers::convergence`).
fn quiet_margin(scn: &Scenario) -> u64 {
    use crate::checkers::convergence::{chat_settle, settle};
    // The benches' scenarios set nothing a config could reject.
    let cfg = crate::run::protocol_config(scn).unwrap_or_default();
    settle(&cfg).max(chat_settle(&cfg))
}

/// Ends `scn` a quiet margin after `timed_end`.
fn quiet_end(scn: &mut Scenario, timed_end: u64) {
    scn.duration = Duration::from_nanos(timed_end + quiet_margin(scn));
}

/// What the chat and users benches measure: a set-up run to a given
/// time, then the workload timed, then an untimed run to a quiet end
/// and its judgement.
#[derive(serde::Serialize)]
pub struct Timed {
    /// Events, deliveries and simulated time after set-up.
    pub events: u64,
    pub deliveries: u64,
    pub wall_secs: f64,
    pub sim_secs: f64,
    /// The untimed run from the timed part to a quiet end.
    pub drain_wall_secs: f64,
    /// Every safety violation, and at a quiet end the convergence checks
    /// too (users left disconnected, servers that disagree), judged after
    /// the timed part as `drcsim run` judges a run.
    pub violations: usize,
    /// The end was quiet, so convergence was judged.
    pub quiescent: bool,
    /// The clients at the end (connected or not) and what failed at them.
    pub client_summary: crate::checkers::counts::ClientSummary,
    pub trace_hash: String,
    pub setup_wall_secs: f64,
    pub setup_events: u64,
    /// As in [`FloodReport::peak_rss_mib`].
    pub peak_rss_mib: Option<f64>,
    /// As in [`FloodReport::huge_pages_mib`].
    pub huge_pages_mib: Option<f64>,
}

/// The options of a bench's run: its summary is brief (counts, not every
/// message), so its clients keep the numbers they deliver, not the
/// messages.
fn brief() -> RunOptions {
    RunOptions {
        summary: crate::run::Summary::Brief,
        ..Default::default()
    }
}

/// The part of a bench the wall clock times, in a function of its own so
/// that a profiler can count it alone:
/// `valgrind --tool=callgrind --toggle-collect='drc_sim::bench::timed_part'`.
/// Without a progress line it is one call of [`World::run_until`].
#[inline(never)]
fn timed_part(world: &mut World, end: SimTime, p: &Progress) {
    p.run_until(world, end, "timed");
}

/// Builds `scn` and runs it to `settled` (the set-up), then to the end of
/// its workload and 5 s more (timed: the figures), then untimed to the
/// scenario's end, which [`quiet_end`] put late enough for a quiet end,
/// so that the judgement includes convergence: every user reconnected,
/// every server agreeing on users and rooms, every message delivered.
fn run_timed(mut scn: Scenario, settled: u64, progress: bool) -> Result<Timed, String> {
    let end = scn.duration.as_nanos();
    let timed_end = end - quiet_margin(&scn);
    let p = Progress::on_terminal(progress);
    let t_setup = WallClock::now();
    let mut world = crate::run::build_taking_actions(&mut scn, &mut brief())?;
    p.run_until(&mut world, settled, "set-up");
    let (setup_wall_secs, setup_events) = (t_setup.elapsed().as_secs_f64(), world.events);
    let (events0, del0, sim0) = (world.events, world.checks.chat.deliveries, world.now);
    let t0 = WallClock::now();
    timed_part(&mut world, timed_end, &p);
    let wall_secs = t0.elapsed().as_secs_f64();
    let (events, deliveries) = (world.events - events0, world.checks.chat.deliveries - del0);
    let sim_secs = (world.now - sim0) as f64 / 1e9;
    let t_drain = WallClock::now();
    p.run(&mut world, end, "to a quiet end");
    let drain_wall_secs = t_drain.elapsed().as_secs_f64();
    p.clear();
    let outcome = crate::run::judge(&scn, &mut world)?;
    let timed = Timed {
        events,
        deliveries,
        wall_secs,
        sim_secs,
        drain_wall_secs,
        violations: outcome.violations.len(),
        quiescent: outcome.quiescent,
        client_summary: outcome.clients,
        trace_hash: outcome.trace_hash,
        setup_wall_secs,
        setup_events,
        peak_rss_mib: peak_rss_mib(),
        huge_pages_mib: huge_pages_mib(),
    };
    exit_without_teardown(world, scn);
    Ok(timed)
}

impl Timed {
    fn text(&self) -> String {
        format!(
            "\x20 events {}, room deliveries {}, violations {}{}\n\
             \x20 clients at the end: {} of {} connected\n\
             \x20 trace hash {}\n\
             \x20 wall {:.3}s, {:.0} events/s, {:.0} deliveries/s, simulated/wall {:.2}x\n\
             \x20 set-up {:.3}s wall, {} events; untimed run to a quiet end {:.3}s; peak memory {}{}\n",
            self.events,
            self.deliveries,
            self.violations,
            if self.quiescent {
                " (safety, and convergence at the quiet end)"
            } else {
                " (the end was not quiet: convergence not judged)"
            },
            self.client_summary.at_end.connected,
            self.client_summary.total,
            self.trace_hash,
            self.wall_secs,
            self.events as f64 / self.wall_secs,
            self.deliveries as f64 / self.wall_secs,
            self.sim_secs / self.wall_secs,
            self.setup_wall_secs,
            self.setup_events,
            self.drain_wall_secs,
            mib(self.peak_rss_mib),
            huge(self.huge_pages_mib)
        )
    }
}

#[derive(serde::Serialize)]
pub struct ChatReport {
    pub clients: usize,
    #[serde(flatten)]
    pub timed: Timed,
}

pub fn chat(
    servers: usize,
    rooms: usize,
    members: usize,
    seconds: u64,
    seed: u64,
    send: SendMode,
    progress: bool,
) -> Result<ChatReport, String> {
    let mut scn = chat_scenario(servers, rooms, members, seconds, seed);
    scn.protocol.send = send;
    Ok(ChatReport {
        clients: rooms * members,
        timed: run_timed(scn, CHAT_START, progress)?,
    })
}

impl ChatReport {
    pub fn text(&self) -> String {
        format!(
            "chat: {} clients, every safety checker on\n{}",
            self.clients,
            self.timed.text()
        )
    }
}

/// When the users of `bench users` start to connect: the tree has formed.
const USERS_START: u64 = 30_000_000_000;
/// When the measured stretch starts: every user connects within 5 s of
/// [`USERS_START`] and joins its room a second later.
const USERS_SETTLED: u64 = USERS_START + 8_000_000_000;

/// What each user of `bench users` does, on average, and how often its
/// server pings it when it is silent.
#[derive(Clone, Copy, Debug)]
pub struct UserHabits {
    pub say_every_secs: u64,
    pub nick_every_secs: u64,
    pub churn_every_secs: u64,
    /// The servers' keepalive for users: PING after this many seconds of
    /// silence, close after three times as many (the links' own ratio).
    pub client_ping_secs: u64,
    /// How the users send their room messages.
    pub send: SendMode,
}

/// Real networks ping a silent user every couple of minutes (solanum's
/// default class pings after 2 minutes, InspIRCd's `pingfreq` is 2
/// minutes too), not every 5 s as the scenarios' links: at 5 s the PINGs,
/// PONGs and timers of a user who speaks once a minute are a quarter of
/// all events.
pub const USERS_CLIENT_PING_SECS: u64 = 120;

impl Default for UserHabits {
    fn default() -> Self {
        UserHabits {
            say_every_secs: 60,
            nick_every_secs: 600,
            churn_every_secs: 600,
            client_ping_secs: USERS_CLIENT_PING_SECS,
            send: SendMode::AskFirst,
        }
    }
}

/// `servers` in a seeded random tree and `users` workload users, one
/// room each out of `users / 20` (rooms of about 20), with `habits`
/// (a user who quits comes back two seconds later), for `seconds`
/// simulated seconds once all have connected and joined.
pub fn users_scenario(
    servers: usize,
    users: u64,
    seconds: u64,
    habits: UserHabits,
    seed: u64,
) -> Scenario {
    let mut scn = flood_scenario(servers, 0, seed);
    scn.name = format!("bench-users-{servers}x{users}");
    scn.description = "users benchmark".into();
    let stop = USERS_SETTLED + seconds * 1_000_000_000;
    let secs = |s: u64| Duration::from_secs(s);
    scn.workload = Some(WorkloadSection {
        clients: users,
        rooms: (users / 20).max(1),
        joins: 1,
        say_every: secs(habits.say_every_secs),
        nick_every: secs(habits.nick_every_secs),
        churn_every: secs(habits.churn_every_secs),
        start: Duration::from_nanos(USERS_START),
        stop: Duration::from_nanos(stop),
        ..WorkloadSection::default()
    });
    let p = &mut scn.protocol;
    p.send = habits.send;
    let (ping, drop) = (
        secs(habits.client_ping_secs),
        secs(3 * habits.client_ping_secs),
    );
    // The links' keepalive is left unwritten: a file for 5 s is the
    // file of every earlier round.
    if (ping, drop) != (p.ping_interval, p.ping_timeout) {
        p.client_ping_interval = Some(ping);
        p.client_ping_timeout = Some(drop);
    }
    quiet_end(&mut scn, stop + 5_000_000_000);
    scn
}

#[derive(serde::Serialize)]
pub struct UsersReport {
    pub servers: usize,
    pub users: u64,
    pub client_ping_secs: u64,
    /// From [`USERS_SETTLED`] to 5 s after the workload; then untimed
    /// to a quiet end, judged.
    #[serde(flatten)]
    pub timed: Timed,
}

pub fn users(
    servers: usize,
    users: u64,
    seconds: u64,
    habits: UserHabits,
    seed: u64,
    progress: bool,
) -> Result<UsersReport, String> {
    let scn = crate::workload::expand(&users_scenario(servers, users, seconds, habits, seed), seed);
    Ok(UsersReport {
        servers,
        users,
        client_ping_secs: habits.client_ping_secs,
        timed: run_timed(scn, USERS_SETTLED, progress)?,
    })
}

impl UsersReport {
    pub fn text(&self) -> String {
        format!(
            "users: {} users on {} servers, pinged after {} s of silence, every safety checker on; timed after set-up, {:.0} simulated s:\n{}",
            self.users,
            self.servers,
            self.client_ping_secs,
            self.timed.sim_secs,
            self.timed.text()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The chat bench's messages come made in time order, one per client
    /// a second: what a stable sort by time of the same messages gives.
    #[test]
    fn chat_messages_come_in_time_order_as_a_stable_sort_leaves_them() {
        let scn = chat_scenario(3, 2, 3, 4, 9);
        assert_eq!(scn.actions.len(), 2 * 3 * 4);
        let mut sorted = scn.actions.clone();
        sorted.sort_by_key(|a| a.time);
        assert_eq!(scn.actions, sorted);
        let said = |a: &TimedAction| match &a.action {
            Action::Say { client, text, .. } => (client.clone(), text.clone()),
            other => panic!("not a message: {other:?}"),
        };
        let mut all: Vec<_> = scn.actions.iter().map(said).collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 24, "every client once a second");
    }

    /// The users' timeline: everyone connects and joins within the
    /// set-up, then says, changes nick and reconnects at the rates asked.
    #[test]
    fn users_connect_in_the_set_up_then_chat_rename_and_churn() {
        let habits = UserHabits {
            say_every_secs: 10,
            nick_every_secs: 30,
            churn_every_secs: 30,
            client_ping_secs: 5,
            send: SendMode::AskFirst,
        };
        let unexpanded = users_scenario(4, 200, 60, habits, 7);
        // Users pinged as the links are: no keepalive of their own written.
        assert_eq!(unexpanded.protocol.client_ping_interval, None);
        assert_eq!(unexpanded.protocol.client_ping_timeout, None);
        let scn = crate::workload::expand(&unexpanded, 7);
        assert_eq!(scn.clients.len(), 200);
        let count = |f: &dyn Fn(&Action) -> bool, from: u64, to: u64| {
            scn.actions
                .iter()
                .filter(|a| (from..to).contains(&a.time.as_nanos()) && f(&a.action))
                .count()
        };
        let connects = |a: &Action| matches!(a, Action::Connect { .. });
        let joins = |a: &Action| matches!(a, Action::Join { .. });
        assert_eq!(
            count(&connects, USERS_START, USERS_START + 5_000_000_000),
            200
        );
        assert_eq!(count(&connects, 0, USERS_START), 0);
        assert_eq!(count(&joins, USERS_START, USERS_SETTLED), 200);
        let end = USERS_SETTLED + 60_000_000_000;
        let says = count(&|a| matches!(a, Action::Say { .. }), USERS_SETTLED, end);
        let nicks = count(&|a| matches!(a, Action::Nick { .. }), USERS_SETTLED, end);
        let quits = count(&|a| matches!(a, Action::Quit { .. }), USERS_SETTLED, end);
        // 200 users for 60 s: about 1,200 messages, 400 nick changes and
        // 400 quits, fewer while churned users are away.
        assert!((800..1_400).contains(&says), "{says}");
        assert!((200..500).contains(&nicks), "{nicks}");
        assert!((200..500).contains(&quits), "{quits}");
        assert!(scn.actions.iter().all(|a| a.time.as_nanos() < end));
        // Timed to 5 s after the last action, then 45 s more untimed (the
        // tree's settling time, longer than the rooms') for a quiet end.
        assert_eq!(quiet_margin(&scn), 45_000_000_000);
        assert_eq!(
            scn.duration.as_nanos(),
            end + 5_000_000_000 + 45_000_000_000
        );
    }

    /// By default users are pinged after 2 minutes of silence and dropped
    /// after 6, and the untimed end waits three of those timeouts.
    #[test]
    fn users_are_pinged_every_two_minutes_by_default_and_the_end_waits_for_it() {
        let scn = users_scenario(4, 200, 60, UserHabits::default(), 7);
        let p = &scn.protocol;
        assert_eq!(p.client_ping_interval, Some(Duration::from_secs(120)));
        assert_eq!(p.client_ping_timeout, Some(Duration::from_secs(360)));
        assert_eq!(p.ping_interval, Duration::from_secs(5));
        let cfg = crate::run::protocol_config(&scn).unwrap();
        assert_eq!(
            cfg.client_ping_interval,
            drc_protocol::Duration::from_secs(120)
        );
        assert_eq!(quiet_margin(&scn), 3 * 360_000_000_000);
        let back = crate::scenario::parse_str(&scn.to_toml(), "users.toml").unwrap();
        assert_eq!(back.protocol, scn.protocol);
    }
}
