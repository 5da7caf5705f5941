//! Running one scenario with one seed, and judging the outcome against
//! the scenario's `[expect]`.

use std::io::Write;

use drc_protocol::config::{self, Ablations};
use drc_protocol::Config;
use serde_json::{json, Map, Value};

use crate::checkers::counts::ClientSummary;
use crate::checkers::{convergence, Violation};
use crate::scenario::{Action, Scenario, Verdict};
use crate::trace::TraceWriter;
use crate::world::World;

#[derive(Default)]
pub struct RunOptions {
    /// Overrides the scenario's seed.
    pub seed: Option<u64>,
    pub trace: Option<Box<dyn Write>>,
    /// Which events reach the trace.
    pub trace_filter: crate::trace::TraceFilter,
    pub stop_on_violation: bool,
    /// Keep a hash after every event (for the determinism self-check).
    pub event_hashes: bool,
    /// How much of the final state the summary carries.
    pub summary: Summary,
    /// A progress line on standard error while the run goes, if that is
    /// a terminal ([`crate::progress`]; it changes nothing in the run).
    pub progress: bool,
}

/// How much of the final state a run's summary carries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Summary {
    /// Every server's view (the servers, users and rooms it knows) and
    /// every client's state and deliveries: the contract's fields. Its
    /// size grows as servers x (servers + users).
    #[default]
    Full,
    /// Per server whether it is up and how many servers, users and rooms
    /// it knows; per client its state, server, nick, login and how many
    /// messages it delivered: linear in servers + clients, for networks of
    /// thousands.
    Brief,
}

pub struct Outcome {
    pub scenario: String,
    pub seed: u64,
    pub verdict: Verdict,
    pub expected: Verdict,
    /// Everything in `[expect]` held (verdict, named violations, topology).
    pub matched: bool,
    pub expect_failures: Vec<String>,
    pub trace_hash: String,
    pub events: u64,
    pub sim_time_ms: u64,
    pub violations: Vec<Violation>,
    /// The end of the run was quiet, so convergence was judged.
    pub quiescent: bool,
    /// What a person should know before trusting the verdict: a run that
    /// ended too soon to judge convergence, or ran out of its budget.
    pub warnings: Vec<String>,
    /// The event budget the run had, and whether it ran out.
    pub max_events: u64,
    pub budget_exceeded: bool,
    /// What failed at the clients.
    pub clients: ClientSummary,
    pub components: Vec<Vec<String>>,
    pub links: Vec<(String, String)>,
    pub final_servers: Value,
    pub final_clients: Value,
    pub event_hashes: Option<Vec<u64>>,
    /// Protocol counters summed over the servers running at the end.
    pub stats: drc_protocol::server::Stats,
    pub redirects: crate::checkers::moves::RedirectCounts,
    /// `add_server` actions carried out.
    pub servers_added: u64,
    /// `stats.discovery`, in a run with `[discovery]`.
    pub discovery: Option<crate::checkers::discovery::DiscoveryCounts>,
    /// `stats.tokens`, in a run with `[greeter]`.
    pub tokens: Option<crate::checkers::tokens::TokenCounts>,
    /// Registered links made or lost during the run.
    pub link_changes: u64,
    /// What the run cost and lost (wire traffic, collisions, sequencing).
    pub measures: crate::checkers::counts::Measures,
    /// From the last fault or operator action to the last registered link
    /// made or lost after it: how long the tree took to settle (0 when
    /// nothing changed after the last action, or there was none).
    pub convergence_ms: u64,
}

/// The protocol configuration a scenario asks for.
pub fn protocol_config(scn: &Scenario) -> Result<Config, String> {
    let p = &scn.protocol;
    let d = Config::default();
    let mut ablations = Ablations::default();
    for a in &p.ablate {
        if !ablations.enable(a) {
            let known: Vec<&str> = config::ABLATIONS.iter().map(|a| a.0).collect();
            return Err(format!(
                "unknown ablation {a:?} (known: {})",
                known.join(", ")
            ));
        }
    }
    Ok(Config {
        nick_collision: p.nick_collision,
        ordering: p.ordering,
        send: p.send,
        ping_interval: p.ping_interval,
        ping_timeout: p.ping_timeout,
        client_ping_interval: p.client_ping_interval.unwrap_or(p.ping_interval),
        client_ping_timeout: p.client_ping_timeout.unwrap_or(p.ping_timeout),
        reconnect_min: p.reconnect_min,
        reconnect_max: p.reconnect_max,
        handshake_timeout: p.handshake_timeout,
        seq_hold: p.seq_hold,
        find_delay: p.find_delay,
        nick_history: p.nick_history,
        redirect_timeout: p.redirect_timeout,
        relink_grace: p.relink_grace,
        balance: p.balance,
        greeter: scn.greeter.as_ref().map(|g| g.name.as_str().into()),
        token_ttl: scn.greeter.as_ref().map_or(d.token_ttl, |g| g.token_ttl),
        token_leeway: scn
            .greeter
            .as_ref()
            .map_or(d.token_leeway, |g| g.token_leeway),
        secret_refresh: scn
            .greeter
            .as_ref()
            .map_or(d.secret_refresh, |g| g.secret_refresh),
        login_timeout: scn
            .greeter
            .as_ref()
            .map_or(d.login_timeout, |g| g.login_timeout),
        ablations,
    })
}

/// Rejects what this version cannot simulate, before anything runs.
pub fn validate(scn: &Scenario) -> Result<(), String> {
    protocol_config(scn).map(|_| ())
}

pub fn build(scn: &Scenario, opts: &mut RunOptions) -> Result<World, String> {
    build_with(scn, None, opts)
}

/// [`build`] for a caller that owns the scenario and has no further use
/// for its actions: they are moved into the world, and `scn` keeps their
/// times (each action left a `heal`, which nothing reads).
pub fn build_taking_actions(scn: &mut Scenario, opts: &mut RunOptions) -> Result<World, String> {
    let actions = scn
        .actions
        .iter_mut()
        .map(|a| std::mem::replace(&mut a.action, Action::Heal))
        .collect();
    build_with(scn, Some(actions), opts)
}

fn build_with(
    scn: &Scenario,
    actions: Option<Vec<Action>>,
    opts: &mut RunOptions,
) -> Result<World, String> {
    validate(scn)?;
    let seed = opts.seed.unwrap_or(scn.seed);
    let cfg = protocol_config(scn)?;
    let mut world = match actions {
        Some(actions) => World::with_actions(scn, actions, seed, cfg, opts.summary)?,
        None => World::new(scn, seed, cfg, opts.summary)?,
    };
    world.trace = opts
        .trace
        .take()
        .map(|out| TraceWriter::filtered(out, std::mem::take(&mut opts.trace_filter)));
    world.trace_hosts();
    world.stop_on_violation = opts.stop_on_violation;
    if opts.event_hashes {
        world.event_hashes = Some(Vec::new());
    }
    Ok(world)
}

/// Runs a scenario with the seed of the options (or its own); a
/// `[faults]` section is first expanded into explicit actions.
pub fn run(scn: &Scenario, opts: RunOptions) -> Result<Outcome, String> {
    let (scn, world) = simulate(scn, opts)?;
    finish(&scn, world)
}

/// [`run`] for a process that exits right after: the world is left to the
/// exit instead of being freed piece by piece, which at 100 servers and
/// 5,000 users was 8 % of the whole run. Only the trace is dropped, so
/// that whatever it still buffers is written.
pub fn run_and_leave(scn: &Scenario, opts: RunOptions) -> Result<Outcome, String> {
    let (scn, mut world) = simulate(scn, opts)?;
    let outcome = judge(&scn, &mut world);
    drop(world.trace.take());
    std::mem::forget(world);
    outcome
}

/// The expanded scenario and its world, run to the end. The scenario's
/// actions are in the world (`build_taking_actions`): only their times
/// are left in it, which is all the judgement reads.
fn simulate(scn: &Scenario, mut opts: RunOptions) -> Result<(Scenario, World), String> {
    let seed = opts.seed.unwrap_or(scn.seed);
    let (mut scn, _) = crate::swarm::expand(scn, seed);
    opts.seed = Some(seed);
    let mut world = build_taking_actions(&mut scn, &mut opts)?;
    let end = scn.duration.as_nanos();
    crate::progress::Progress::on_terminal(opts.progress).run(&mut world, end, "run");
    Ok((scn, world))
}

/// Judges a finished world.
pub fn finish(scn: &Scenario, mut world: World) -> Result<Outcome, String> {
    judge(scn, &mut world)
}

pub(crate) fn judge(scn: &Scenario, world: &mut World) -> Result<Outcome, String> {
    let settle = scn
        .expect
        .settle
        .map_or_else(|| convergence::settle(world.config()), |d| d.as_nanos());
    let quiescent = !world.stopped_early && convergence::is_quiet(world, settle);
    let mut warnings = Vec::new();
    let ms = |t: u64| t / 1_000_000;
    if world.budget_exceeded {
        warnings.push(format!(
            "event budget exhausted: stopped after {} events at {} ms of {} ms; nothing \
             after that was simulated or judged (raise [limits] max_events or --max-events)",
            world.events,
            ms(world.now),
            ms(world.end)
        ));
    } else if let Some(host) = &world.spun {
        warnings.push(format!(
            "stopped at {} ms: {host} asks at every wake-up for one already due \
             (timer.advances); nothing after that was simulated, convergence was not judged",
            ms(world.now)
        ));
    } else if world.stopped_early {
        warnings.push(format!(
            "stopped at the first violation, at {} ms: convergence was not judged",
            ms(world.now)
        ));
    } else if !quiescent {
        let last_chat = convergence::last_chat(world);
        let quiet_from =
            convergence::quiet_from(world.last_action, last_chat, settle, world.config());
        let chat = if last_chat > world.last_chat {
            "the last room message first numbered"
        } else {
            "the last client action"
        };
        warnings.push(format!(
            "the run ended at {} ms, before it was quiet (from {} ms: the last fault or \
             operator action at {} ms + settle {} ms, {chat} at {} ms + chat settle {} ms): \
             convergence was not judged",
            ms(world.now),
            ms(quiet_from),
            ms(world.last_action),
            ms(settle),
            ms(last_chat),
            ms(convergence::chat_settle(world.config()))
        ));
    }
    if quiescent {
        let found = convergence::check(world, settle, scn.expect.connected);
        world.checks.violations.extend(found);
        if world.checks.enabled {
            let running = convergence::running(world);
            let mut more = crate::checkers::moves::single(world, &running);
            more.extend(world.checks.moves.drains(world));
            more.extend(world.checks.moves.overdue(world.now, world));
            more.extend(crate::checkers::moves::registries_agree(world, &running));
            more.extend(crate::checkers::moves::rooms_sequenced(world, &running));
            more.extend(crate::checkers::discovery::converges(world, &running));
            world.checks.violations.extend(more);
        }
        world.trace_violations();
    }
    if world.checks.enabled {
        if world.checks.sends.fault.is_none() {
            let found = crate::checkers::streams::streams_kept(
                world.now,
                world.config().ordering,
                &world.hosts,
            );
            world.checks.violations.extend(found);
        }
        let hosts = &world.hosts;
        let late = world
            .checks
            .tokens
            .overdue(world.now, |h| hosts[h as usize].label.clone());
        world.checks.violations.extend(late);
    }
    if let Some(t) = &mut world.trace {
        t.finish().map_err(|e| format!("writing the trace: {e}"))?;
    }
    let running = convergence::running(world);
    let label = |h: u32| world.hosts[h as usize].label.clone();
    let mut components: Vec<Vec<String>> = world
        .checks
        .graph
        .components(&running)
        .list
        .into_iter()
        .map(|c| {
            let mut names: Vec<String> = c.into_iter().map(label).collect();
            names.sort();
            names
        })
        .collect();
    components.sort();
    let mut links: Vec<(String, String)> = world
        .checks
        .graph
        .edges()
        .map(|(_, a, b)| {
            let (a, b) = (label(a), label(b));
            if a <= b {
                (a, b)
            } else {
                (b, a)
            }
        })
        .collect();
    links.sort();
    let violations = std::mem::take(&mut world.checks.violations);
    let verdict = if violations.is_empty() {
        Verdict::Pass
    } else {
        Verdict::Fail
    };
    let mut expect_failures = Vec::new();
    let ex = &scn.expect;
    // A run cut short by its budget is never a match, whatever [expect]
    // says; one that merely ended before it was quiet fails only what
    // needs a settled network.
    if world.budget_exceeded {
        expect_failures.push(warnings[0].clone());
    } else if !quiescent && !world.stopped_early && ex.asks_convergence() {
        expect_failures.push(format!(
            "[expect] needs a settled network (connected, components, links or converge), \
             but {}",
            warnings[0]
        ));
    }
    if verdict != ex.verdict {
        expect_failures.push(format!(
            "verdict {} but [expect] says {}",
            verdict.as_str(),
            ex.verdict.as_str()
        ));
    }
    for name in &ex.violated {
        if !violations.iter().any(|v| v.invariant == name) {
            expect_failures.push(format!("expected {name} to be violated, it was not"));
        }
    }
    if let Some(want) = &ex.components {
        let mut want: Vec<Vec<String>> = want
            .iter()
            .map(|c| {
                let mut c = c.clone();
                c.sort();
                c
            })
            .collect();
        want.sort();
        if want != components {
            expect_failures.push(format!("components {components:?}, expected {want:?}"));
        }
    }
    if let Some(want) = &ex.links {
        let mut want: Vec<(String, String)> = want
            .iter()
            .map(|(a, b)| {
                if a <= b {
                    (a.clone(), b.clone())
                } else {
                    (b.clone(), a.clone())
                }
            })
            .collect();
        want.sort();
        if want != links {
            expect_failures.push(format!("links {links:?}, expected {want:?}"));
        }
    }
    if let Some(min) = ex.min_events {
        if world.events < min {
            expect_failures.push(format!("{} events, expected at least {min}", world.events));
        }
    }
    let clients = ClientSummary::at_end(
        world.checks.counts,
        world.hosts.iter().filter_map(|h| h.client.as_deref()),
    );
    let (final_servers, final_clients) = match world.summary {
        Summary::Full => (server_views(world), client_views(world)),
        Summary::Brief => (server_counts(world), client_counts(world)),
    };
    let mut stats = drc_protocol::server::Stats::default();
    for h in &world.hosts {
        if let Some(s) = h.server.as_ref() {
            let x = s.stats();
            stats.frames_in += x.frames_in;
            stats.frames_out += x.frames_out;
            stats.malformed += x.malformed;
            stats.misdirected += x.misdirected;
            stats.links_registered += x.links_registered;
            stats.loops_broken += x.loops_broken;
            stats.handshakes_failed += x.handshakes_failed;
            stats.resolutions += x.resolutions;
            stats.broadcasts += x.broadcasts;
        }
    }
    Ok(Outcome {
        scenario: scn.name.clone(),
        seed: world.seed(),
        verdict,
        expected: ex.verdict,
        matched: expect_failures.is_empty(),
        expect_failures,
        trace_hash: world.hash.hex(),
        events: world.events,
        sim_time_ms: world.now / 1_000_000,
        violations,
        quiescent,
        warnings,
        max_events: world.max_events,
        budget_exceeded: world.budget_exceeded,
        clients,
        components,
        links,
        final_servers,
        final_clients,
        event_hashes: world.event_hashes.take(),
        stats,
        redirects: world.checks.moves.counts,
        servers_added: world.checks.servers_added,
        discovery: crate::checkers::discovery::DiscoveryCounts::of(world),
        tokens: scn
            .greeter
            .as_ref()
            .map(|_| world.checks.tokens.counts.clone()),
        link_changes: world.checks.link_changes,
        measures: {
            let mut m = std::mem::take(&mut world.checks.measures);
            m.messages_passed_over = world.checks.chat.passed_over_messages();
            m.copies_passed_over = world.checks.chat.copies_passed_over();
            m.list_copies_judged = world.checks.lists.addressed;
            m.list_copies_forgiven = world.checks.lists.forgiven;
            m
        },
        convergence_ms: if world.last_action > 0 {
            world
                .checks
                .last_link_change
                .saturating_sub(world.last_action)
                / 1_000_000
        } else {
            0
        },
    })
}

/// The hosts by label, in label order (the label table is hashed).
fn sorted_labels(w: &World) -> Vec<(&String, &u32)> {
    let mut labels: Vec<(&String, &u32)> = w.by_label.iter().collect();
    labels.sort_unstable();
    labels
}

/// Each server's view in counts, keyed by name (`--summary brief`).
fn server_counts(w: &World) -> Value {
    let mut servers = Map::new();
    for (label, &h) in sorted_labels(w) {
        let host = &w.hosts[h as usize];
        if host.is_client {
            continue;
        }
        let s = host.server.as_ref().filter(|_| host.up);
        servers.insert(
            label.clone(),
            json!({
                "up": host.running(),
                "servers": s.map_or(0, |s| s.known_servers().count()),
                "users": s.map_or(0, |s| s.user_count()),
                "rooms": s.map_or(0, |s| s.rooms().count()),
            }),
        );
    }
    Value::Object(servers)
}

/// Each client's state in brief, keyed by id (`--summary brief`).
fn client_counts(w: &World) -> Value {
    let mut clients = Map::new();
    for (label, &h) in sorted_labels(w) {
        let Some(c) = w.hosts[h as usize].client.as_ref() else {
            continue;
        };
        let delivered: u64 = c.rooms().map(|r| r.log.len()).sum();
        clients.insert(
            label.clone(),
            json!({
                "state": c.state().as_str(),
                "server": c.server(),
                "nick": c.nick(),
                "uid": c.uid(),
                "login": c.login_kind(),
                "session": c.session(),
                "delivered": delivered,
            }),
        );
    }
    Value::Object(clients)
}

/// Each server's own view, keyed by host id, in a stable order.
fn server_views(w: &World) -> Value {
    let mut servers = Map::new();
    let labels = sorted_labels(w);
    // Server names by SID, for naming a user's server.
    let mut by_sid: std::collections::BTreeMap<&str, &str> = Default::default();
    for h in w.hosts.iter().filter(|h| !h.is_client && h.genuine) {
        by_sid.insert(&h.sid, &h.claims);
    }
    for (label, &h) in labels {
        let host = &w.hosts[h as usize];
        if host.is_client {
            continue;
        }
        let mut known = Map::new();
        let mut users = Map::new();
        let mut rooms = Map::new();
        if let Some(s) = host.server.as_ref().filter(|_| host.up) {
            for k in s.known_servers() {
                known.insert(k.name.to_string(), json!(k.hops));
            }
            let mut nick_of = std::collections::BTreeMap::new();
            for (uid, nick, sid) in s.users() {
                nick_of.insert(uid, nick);
                users.insert(
                    nick.to_string(),
                    json!(by_sid.get(sid).copied().unwrap_or(sid)),
                );
            }
            for r in s.rooms() {
                let mut members: Vec<&str> = r
                    .members
                    .keys()
                    .map(|u| nick_of.get(&**u).copied().unwrap_or(&**u))
                    .collect();
                members.sort_unstable();
                rooms.insert(r.name.to_string(), json!(members));
            }
        }
        servers.insert(
            label.clone(),
            json!({
                "up": host.running(),
                "servers": known,
                "users": users,
                "rooms": rooms,
            }),
        );
    }
    Value::Object(servers)
}

/// Each client's state and what it delivered, keyed by client id.
fn client_views(w: &World) -> Value {
    let mut clients = Map::new();
    let labels = sorted_labels(w);
    for (label, &h) in labels {
        let Some(c) = w.hosts[h as usize].client.as_ref() else {
            continue;
        };
        let mut rooms = Map::new();
        for r in c.rooms() {
            let msgs: Vec<Value> = r
                .log
                .messages()
                .map(|(stream, n, msg)| json!({"seq": format!("{}.{}", stream.epoch, n), "epoch": stream.epoch, "n": n, "from": msg.nick(), "text": msg.text()}))
                .collect();
            rooms.insert(r.name.to_string(), Value::Array(msgs));
        }
        let private: Vec<Value> = c
            .private_log()
            .iter()
            .map(|(f, t)| json!({"from": &**f, "text": &**t}))
            .collect();
        let lists: Vec<Value> = c
            .list_log()
            .iter()
            .map(|(f, t)| json!({"from": &**f, "text": &**t}))
            .collect();
        clients.insert(
            label.clone(),
            json!({
                "state": c.state().as_str(),
                "server": c.server(),
                "nick": c.nick(),
                "uid": c.uid(),
                "rooms": rooms,
                "private": private,
                "list": lists,
                "moves": c.moves().iter().map(|(f, t, o)| json!({"from": &**f, "to": &**t, "outcome": o})).collect::<Vec<_>>(),
                "answers": c.answers().iter().map(|(q, a)| json!({"ask": &**q, "answer": a.iter().map(|w| &**w).collect::<Vec<_>>()})).collect::<Vec<_>>(),
                "login": c.login_kind(),
                "session": c.session(),
                "login_fallback": c.fallback_reason(),
                "sessions": c.sessions().iter().map(|(r, s)| json!({"room": &**r, "servers": &**s})).collect::<Vec<_>>(),
                "tokens": c.probe_log().iter().map(|(s, k, a)| json!({"server": &**s, "token": &**k, "answer": &**a})).collect::<Vec<_>>(),
            }),
        );
    }
    Value::Object(clients)
}

impl Outcome {
    fn measures_json(&self) -> Value {
        let mut m = serde_json::to_value(&self.measures).expect("json");
        if let Value::Object(o) = &mut m {
            o.insert("convergence_ms".into(), json!(self.convergence_ms));
            o.insert("resolution_frames".into(), json!(self.stats.resolutions));
        }
        m
    }

    /// The summary with its name-keyed maps (`final.servers`,
    /// `final.clients`) turned into arrays of records, each with its
    /// `name`: a dataframe flattens those into rows, where the keyed form
    /// becomes a column per server or client.
    pub fn to_json_records(&self) -> Value {
        let mut v = self.to_json();
        if let Some(f) = v.get_mut("final").and_then(Value::as_object_mut) {
            for key in ["servers", "clients"] {
                if let Some(Value::Object(m)) = f.get(key) {
                    let arr: Vec<Value> = m
                        .iter()
                        .map(|(name, x)| {
                            let mut r = Map::new();
                            r.insert("name".into(), json!(name));
                            if let Value::Object(o) = x {
                                r.extend(o.clone());
                            }
                            Value::Object(r)
                        })
                        .collect();
                    f.insert(key.into(), Value::Array(arr));
                }
            }
        }
        v
    }

    pub fn to_json(&self) -> Value {
        let mut v = self.to_json_base();
        // Only with `[discovery]`: every other summary stays as it was.
        if let (Some(d), Some(stats)) = (
            &self.discovery,
            v.get_mut("stats").and_then(Value::as_object_mut),
        ) {
            stats.insert("discovery".into(), json!(d));
        }
        if let (Some(t), Some(stats)) = (
            &self.tokens,
            v.get_mut("stats").and_then(Value::as_object_mut),
        ) {
            stats.insert("tokens".into(), json!(t));
        }
        v
    }

    fn to_json_base(&self) -> Value {
        json!({
            "scenario": self.scenario,
            "seed": self.seed,
            "verdict": self.verdict.as_str(),
            "expected": self.expected.as_str(),
            "matched": self.matched,
            "expect_failures": self.expect_failures,
            "trace_hash": self.trace_hash,
            "events": self.events,
            "sim_time_ms": self.sim_time_ms,
            "quiescent": self.quiescent,
            "warnings": self.warnings,
            "max_events": self.max_events,
            "budget_exceeded": self.budget_exceeded,
            "violations": self.violations,
            "clients": self.clients,
            "measures": self.measures_json(),
            "stats": {
                "frames": self.stats.frames_in,
                "links_registered": self.stats.links_registered,
                "link_changes": self.link_changes,
                "loops_broken": self.stats.loops_broken,
                "handshakes_failed": self.stats.handshakes_failed,
                "misdirected": self.stats.misdirected,
                "malformed": self.stats.malformed,
                "redirects": {
                    "requested": self.redirects.requested,
                    "completed": self.redirects.completed,
                    "refused": self.redirects.refused,
                    "timed_out": self.redirects.timed_out,
                    "cancelled": self.redirects.cancelled,
                },
                "servers_added": self.servers_added,
            },
            "final": {
                "components": self.components,
                "links": self.links.iter().map(|(a, b)| json!([a, b])).collect::<Vec<_>>(),
                "servers": self.final_servers,
                "clients": self.final_clients,
            }
        })
    }

    /// A few lines for a person at a terminal.
    pub fn summary(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let verdict = self.verdict.as_str().to_uppercase();
        let _ = writeln!(
            s,
            "{} (seed {}): {verdict}, expected {}{}",
            self.scenario,
            self.seed,
            self.expected.as_str(),
            if self.matched { "" } else { "  <-- MISMATCH" }
        );
        let _ = writeln!(
            s,
            "  {} events, {}.{:03}s simulated, trace {}",
            self.events,
            self.sim_time_ms / 1000,
            self.sim_time_ms % 1000,
            self.trace_hash
        );
        let comps: Vec<String> = self
            .components
            .iter()
            .map(|c| format!("[{}]", c.join(" ")))
            .collect();
        let _ = writeln!(s, "  components: {}", comps.join(" "));
        let links: Vec<String> = self.links.iter().map(|(a, b)| format!("{a}-{b}")).collect();
        let _ = writeln!(
            s,
            "  links: {}",
            if links.is_empty() {
                "none".into()
            } else {
                links.join(" ")
            }
        );
        if self.clients.total > 0 {
            let c = &self.clients;
            let e = &c.at_end;
            let _ = writeln!(
                s,
                "  clients: {} ({} connected, {} quit, {} disconnected, {} killed, {} pending)",
                c.total, e.connected, e.quit, e.disconnected, e.killed, e.pending
            );
            let n = &c.counts;
            let _ = writeln!(
                s,
                "  client failures: {} room sends failed, {} unconfirmed, {} private sends \
                 failed, {} nick changes refused, {} registrations given up",
                n.room_sends_failed,
                c.room_sends_unconfirmed,
                n.private_sends_failed,
                n.nick_changes_refused,
                n.registrations_given_up
            );
        }
        for w in &self.warnings {
            let _ = writeln!(s, "  warning: {w}");
        }
        if self.violations.is_empty() {
            let _ = writeln!(s, "  violations: none");
        } else {
            let _ = writeln!(s, "  violations: {}", self.violations.len());
            for v in self.violations.iter().take(20) {
                let _ = writeln!(
                    s,
                    "    {} at {}ms{}: {}",
                    v.invariant,
                    v.time_ms,
                    v.host
                        .as_deref()
                        .map(|h| format!(" on {h}"))
                        .unwrap_or_default(),
                    v.detail
                );
            }
        }
        for f in &self.expect_failures {
            let _ = writeln!(s, "  expectation failed: {f}");
        }
        s
    }
}
