//! The `drcsim` command line. Exit status: 0 the outcome matched
//! `[expect]`, 1 it did not, 2 bad input or usage.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{CommandFactory, Parser, Subcommand};
use drc_protocol::config::SendMode;

use crate::checkers::CATALOG;
use crate::footprint::{self, thousands};
use crate::provenance::{LoadError, Loaded};
use crate::run::{self, RunOptions};
use crate::scenario::{self, Scenario};

/// The version with the commit it was built from: trace hashes change
/// between versions, so a figure needs both to be reproduced.
const VERSION: &str = crate::provenance::VERSION;

#[derive(Parser, Debug)]
#[command(
    name = "drcsim",
    version = VERSION,
    about = "Deterministic simulation testbed for a Distributed Relay Chat network",
    long_about = "Runs the DRC protocol core against a virtual clock and network, injects faults \
                  from a scenario file, and checks tree, convergence and ordering invariants.\n\n\
                  Exit status: 0 the outcome matched the scenario's [expect], 1 it did not, \
                  2 bad input or usage.",
    after_help = "Examples:\n  \
                  drcsim run                                  # the built-in demo\n  \
                  drcsim run scenarios/netsplit-heal.toml --seed 7 --json\n  \
                  drcsim sweep scenarios/swarm-chat.toml --seeds 0..1000\n  \
                  drcsim shrink scenarios/swarm-chat.toml --seed 1962 -o min.toml\n  \
                  drcsim report min.toml -o min.html\n  \
                  drcsim invariants"
)]
pub struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run one scenario (the built-in demo when FILE is omitted).
    #[command(after_help = "Examples:\n  \
        drcsim run\n  \
        drcsim run scenarios/netsplit-heal.toml --seed 99 --json\n  \
        drcsim run scenarios/cut-mid-burst.toml --trace - | grep '\"ev\":\"action\"'\n  \
        drcsim run scenarios/ablate-dedup.toml --trace t.jsonl --trace-around-violation 50\n  \
        drcsim run scenarios/netsplit-heal.toml --trace t.jsonl --trace-window 9s..12s --trace-hosts hub,east\n  \
        drcsim run scenarios/netsplit-heal.toml --perfetto run.json --dot-at 15s tree.dot")]
    Run {
        /// Scenario file (TOML); the built-in demo (a hub with three leaves,
        /// one partitioned away for 20 s and healed) when omitted.
        file: Option<PathBuf>,
        /// Seed to use instead of the scenario's own `seed`.
        #[arg(long)]
        seed: Option<u64>,
        /// Print one JSON object instead of the summary.
        #[arg(long)]
        json: bool,
        /// Write every event as JSON Lines to this file; `-` writes them to
        /// standard output (the summary or JSON then goes to standard error).
        #[arg(long, value_name = "OUT.jsonl")]
        trace: Option<PathBuf>,
        /// Write summary.json and summary.txt into this directory.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Stop at the first violated invariant.
        #[arg(long)]
        stop_at_first: bool,
        /// Event budget, instead of the scenario's [limits] max_events.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        max_events: Option<u64>,
        /// Override a scenario setting before it is parsed: a dotted key and
        /// a TOML value (a bare word is a string), e.g.
        /// `protocol.nick_collision=reject`, `protocol.ablate=[loop-check]`,
        /// `server.0.start=false`. Repeatable.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// In the JSON, give servers and clients as arrays of records
        /// (`{"name": ..., ...}`) rather than objects keyed by name.
        #[arg(long)]
        records: bool,
        /// How much of the final state the summary carries: `full` (every
        /// server's view, every client's deliveries) or `brief` (counts
        /// per server and client, linear in their number: for networks of
        /// thousands of servers).
        #[arg(long, value_enum, default_value_t = run::Summary::Full)]
        summary: run::Summary,
        /// Trace only events at simulated times from T1 to T2 (durations,
        /// either end may be left out: `2s..5s`, `..500ms`, `10s..`).
        #[arg(long, value_name = "T1..T2", requires = "trace")]
        trace_window: Option<String>,
        /// Trace only events naming one of these hosts (comma-separated
        /// server or client names); events naming no host are kept.
        #[arg(long, value_name = "H1,H2", value_delimiter = ',', requires = "trace")]
        trace_hosts: Vec<String>,
        /// Trace only the N lines before the first violation's line,
        /// that line, and the N lines after it.
        #[arg(long, value_name = "N", requires = "trace")]
        trace_around_violation: Option<usize>,
        /// Also write the run as Chrome trace-event JSON, for
        /// ui.perfetto.dev or chrome://tracing.
        #[arg(long, value_name = "OUT.json")]
        perfetto: Option<PathBuf>,
        /// Also write the server tree at simulated time T as Graphviz DOT:
        /// the real links and each server's view of the tree.
        #[arg(long, num_args = 2, value_names = ["T", "OUT.dot"])]
        dot_at: Vec<String>,
    },
    /// Draw a run as one self-contained HTML page: verdict, violations,
    /// counters, a space-time diagram, the tree at a cursor, rooms and
    /// clients.
    #[command(after_help = "Examples:\n  \
        drcsim report scenarios/ablate-dedup.toml -o dedup.html\n  \
        drcsim report scenarios/swarm-chat.toml --seed 1962 -o seed1962.html\n  \
        drcsim run scenarios/cut-mid-burst.toml --trace t.jsonl && drcsim report t.jsonl")]
    Report {
        /// A scenario (TOML), which is run, or a trace written by
        /// `drcsim run --trace` (JSON Lines), which is drawn as it is.
        file: PathBuf,
        /// Seed to use instead of the scenario's own `seed`.
        #[arg(long)]
        seed: Option<u64>,
        /// Where to write the page (default: report.html).
        #[arg(short, long, value_name = "OUT.html", default_value = "report.html")]
        output: PathBuf,
        /// Override a scenario setting before it is parsed: a dotted key and
        /// a TOML value (a bare word is a string), e.g.
        /// `protocol.nick_collision=reject`, `protocol.ablate=[loop-check]`,
        /// `server.0.start=false`. Repeatable.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
    },
    /// Run twice, compare a hash after every event, and name the first
    /// divergent event if the two runs differ.
    #[command(after_help = "Example:\n  drcsim replay scenarios/cut-mid-burst.toml --seed 3")]
    Replay {
        /// Scenario file (TOML), e.g. a reproducer written by `sweep`.
        file: PathBuf,
        /// Seed to use instead of the scenario's own `seed`.
        #[arg(long)]
        seed: Option<u64>,
        /// Override a scenario setting before it is parsed: a dotted key and
        /// a TOML value (a bare word is a string), e.g.
        /// `protocol.nick_collision=reject`, `protocol.ablate=[loop-check]`,
        /// `server.0.start=false`. Repeatable.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
    },
    /// Run a range of seeds in parallel; one CSV row per seed and a
    /// reproducer per failing seed.
    #[command(after_help = "Examples:\n  \
        drcsim sweep scenarios/swarm-chat.toml --seeds 0..1000\n  \
        drcsim sweep scenarios/swarm-tree.toml --seeds 0..=99 --jobs 1 --out /tmp/s\n  \
        drcsim sweep scenarios/swarm-tree.toml --seeds 0..10000 --shard env/40")]
    Sweep {
        /// Scenario file (TOML); its `[faults]` section, if any, draws a
        /// different fault schedule for every seed.
        file: PathBuf,
        /// Seeds: A..B (B excluded) or A..=B.
        #[arg(long, value_name = "A..B")]
        seeds: String,
        /// Worker threads (default: the number of cores).
        #[arg(long)]
        jobs: Option<usize>,
        /// Run only shard K of N (K from 0): every N-th seed from the K-th.
        /// `env/N` reads K from SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX.
        #[arg(long, value_name = "K/N")]
        shard: Option<String>,
        /// Where sweep.csv and the reproducers go
        /// (default: reports/tmp/<scenario>-<A>-<B>).
        #[arg(short = 'o', long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Event budget per seed, instead of the scenario's [limits] max_events.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        max_events: Option<u64>,
        /// Override a scenario setting before it is parsed: a dotted key and
        /// a TOML value (a bare word is a string), e.g.
        /// `protocol.nick_collision=reject`, `protocol.ablate=[loop-check]`,
        /// `server.0.start=false`. Repeatable.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// Keep the rows an interrupted sweep left in DIR (same build and
        /// scenario text) and run only the seeds they lack.
        #[arg(long)]
        resume: bool,
    },
    /// Run every combination of the varied settings over the same seeds;
    /// one tidy CSV with a column per varied key, and an HTML report.
    #[command(after_help = "Example:\n  \
        drcsim compare scenarios/swarm-chat.toml --set faults.nick_collision=[] \\\n    \
        --vary protocol.nick_collision=kill-both,ts-kill --seeds 0..100 --out /tmp/cmp")]
    Compare {
        /// Scenario file (TOML).
        file: PathBuf,
        /// A key and the values it takes, comma-separated (each a TOML
        /// value or a bare word). Repeatable: the variants are the cross
        /// product.
        #[arg(long, value_name = "KEY=V1,V2", required = true)]
        vary: Vec<String>,
        /// Seeds: A..B (B excluded) or A..=B; every variant runs all of them.
        #[arg(long, value_name = "A..B")]
        seeds: String,
        /// Worker threads (default: the number of cores).
        #[arg(long)]
        jobs: Option<usize>,
        /// Where compare.csv, report.html and each variant's sweep go
        /// (default: reports/tmp/compare-<scenario>-<A>-<B>).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Event budget per run, instead of the scenario's [limits] max_events.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        max_events: Option<u64>,
        /// Override a scenario setting before it is parsed: a dotted key and
        /// a TOML value (a bare word is a string), e.g.
        /// `protocol.nick_collision=reject`, `protocol.ablate=[loop-check]`,
        /// `server.0.start=false`. Repeatable.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
    },
    /// Print a seed's run as a plain scenario: the workload and fault
    /// schedule it draws, every action explicit.
    #[command(
        after_help = "Example:\n  drcsim expand scenarios/swarm-chat.toml --seed 7 > seed7.toml"
    )]
    Expand {
        /// Scenario file (TOML).
        file: PathBuf,
        /// The seed (default: the scenario's own `seed`).
        #[arg(long)]
        seed: Option<u64>,
        /// Override a scenario setting before it is parsed: a dotted key and
        /// a TOML value (a bare word is a string), e.g.
        /// `protocol.nick_collision=reject`, `protocol.ablate=[loop-check]`,
        /// `server.0.start=false`. Repeatable.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
    },
    /// Shrink a failing run (the seed's faults made explicit) to a small
    /// scenario that still violates the same invariant.
    #[command(after_help = "Example:\n  \
        drcsim shrink scenarios/swarm-chat.toml --seed 1962 -o min.toml && drcsim run min.toml")]
    Shrink {
        /// Scenario file (TOML) whose run with SEED fails.
        file: PathBuf,
        /// The failing seed (default: the scenario's own `seed`).
        #[arg(long)]
        seed: Option<u64>,
        /// Where to write the shrunk scenario.
        #[arg(short, long, value_name = "MIN.toml")]
        output: PathBuf,
        /// Keep every remaining server's autoconnect targets (`connect`),
        /// so the shrunk run re-forms its tree after splits and shutdowns
        /// as the original did, and run it on to the quiet end its
        /// `[expect]` judges: what a regression scenario, which must end
        /// quiet and converged, needs.
        #[arg(long)]
        keep_autoconnects: bool,
        /// Override a scenario setting before it is parsed: a dotted key and
        /// a TOML value (a bare word is a string), e.g.
        /// `protocol.nick_collision=reject`, `protocol.ablate=[loop-check]`,
        /// `server.0.start=false`. Repeatable.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
    },
    /// Join the CSVs of several sweep shards into one, sorted by seed.
    #[command(after_help = "Example:\n  drcsim merge shards/*/sweep.csv -o all.csv")]
    Merge {
        /// Shard CSVs (the `sweep.csv` each shard wrote).
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// Where to write the joined CSV.
        #[arg(short, long, value_name = "OUT.csv")]
        output: PathBuf,
        /// Write the joined CSV even if seeds of the declared range are in
        /// no input (they are listed on stderr).
        #[arg(long)]
        allow_missing: bool,
    },
    /// Print the invariant catalog.
    #[command(after_help = "Example:\n  drcsim invariants --json")]
    Invariants {
        /// One JSON array of {name, kind, statement} instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Measure simulator throughput. While it runs, a progress line on
    /// standard error when that is a terminal (the run is the same
    /// without it).
    #[command(after_help = "Examples:\n  \
        drcsim bench flood --servers 64 --messages 10000\n  \
        drcsim bench chat --servers 16 --rooms 16 --members 16 --seconds 3 --json")]
    Bench {
        #[command(subcommand)]
        which: BenchCmd,
    },
    /// Print a shell completion script to standard output.
    #[command(
        after_help = "Example:\n  drcsim completions bash > ~/.local/share/bash-completion/completions/drcsim"
    )]
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) to standard output.
    #[command(after_help = "Example:\n  drcsim man > drcsim.1 && man ./drcsim.1")]
    Man,
}

#[derive(Subcommand, Debug)]
enum BenchCmd {
    /// N servers in a seeded random tree; one floods M 64-byte broadcasts.
    #[command(after_help = "Example:\n  drcsim bench flood --servers 1000 --messages 1000 --json")]
    Flood {
        /// Servers in the tree.
        #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(2..=46656))]
        servers: u64,
        /// Broadcasts to flood, once the tree has formed.
        #[arg(long, default_value_t = 10_000)]
        messages: u64,
        /// Seed of the random tree.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Simulated seconds to run on after the flood (untimed), then
        /// judge the run as `drcsim run` does, convergence included
        /// (quiet from 45 s on).
        #[arg(long, default_value_t = 0, value_name = "SECONDS",
              value_parser = clap::value_parser!(u64).range(0..=31_536_000))]
        hold: u64,
        /// Run even if the expected peak memory is more than the machine
        /// has available (without it such a run is refused at once, with
        /// the figures).
        #[arg(long)]
        force: bool,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Servers in a seeded random tree, rooms of clients each saying one
    /// message per simulated second.
    #[command(
        after_help = "Example:\n  drcsim bench chat --servers 16 --rooms 16 --members 16 --seconds 3"
    )]
    Chat {
        /// Servers in the tree.
        #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=46656))]
        servers: u64,
        /// Rooms, each with its own members.
        #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=10000))]
        rooms: u64,
        /// Clients per room, spread over the servers.
        #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=10000))]
        members: u64,
        /// Simulated seconds of chatter.
        #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
        seconds: u64,
        /// Seed of the random tree and placement.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// How clients send room messages: `ask-first` (a number from the
        /// sequencer, then the message) or `at-once` (the message, numbered
        /// where it arrives).
        #[arg(long, default_value = "ask-first", value_parser = parse_send)]
        send: SendMode,
        /// Run even if the expected peak memory is more than the machine
        /// has available (without it such a run is refused at once, with
        /// the figures).
        #[arg(long)]
        force: bool,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Servers in a seeded random tree and many users in rooms of about
    /// 20, chatting, changing nicks and reconnecting at random (the
    /// scenario `[workload]`), timed once all have connected and joined.
    #[command(
        after_help = "Examples:\n  drcsim bench users --servers 100 --users 10000 --seconds 60\n  drcsim bench users --users 250000 --json"
    )]
    Users {
        /// Servers in the tree.
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=46656))]
        servers: u64,
        /// Users, each in one room (rooms of about 20).
        #[arg(long, default_value_t = 10000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
        users: u64,
        /// Simulated seconds timed, after set-up.
        #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
        seconds: u64,
        /// Mean seconds between one user's room messages.
        #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
        say_every: u64,
        /// Mean seconds between one user's nick changes (0: none).
        #[arg(long, default_value_t = 600)]
        nick_every: u64,
        /// Mean seconds a user stays connected before it quits and
        /// reconnects (0: never).
        #[arg(long, default_value_t = 600)]
        churn_every: u64,
        /// Seconds of a user's silence after which its server pings it
        /// (it is dropped after three times as long). Real networks use
        /// minutes; 5 is the scenarios' default, the links' keepalive.
        #[arg(long, default_value_t = crate::bench::USERS_CLIENT_PING_SECS, value_parser = clap::value_parser!(u64).range(1..=86_400))]
        client_ping: u64,
        /// How users send room messages: `ask-first` or `at-once` (as for
        /// `bench chat`).
        #[arg(long, default_value = "ask-first", value_parser = parse_send)]
        send: SendMode,
        /// Seed of the random tree and the users.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Run even if the expected peak memory is more than the machine
        /// has available (without it such a run is refused at once, with
        /// the figures).
        #[arg(long)]
        force: bool,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// A send mode by its scenario-file spelling.
fn parse_send(s: &str) -> Result<SendMode, String> {
    SendMode::from_name(s).ok_or_else(|| {
        let known: Vec<_> = SendMode::ALL.iter().map(|v| v.as_str()).collect();
        format!(
            "unknown send mode {s:?} (expected one of: {})",
            known.join(", ")
        )
    })
}

/// Refuses, unless `force`, a bench run whose estimated peak is more than
/// the machine has available (`footprint::check`); `users` counts the
/// clients, under the bench's own word for them.
fn bench_fits(
    bench: &str,
    servers: u64,
    users: Option<(u64, &str)>,
    force: bool,
) -> Result<(), String> {
    if force {
        return Ok(());
    }
    let servers_text = format!("{} servers", thousands(servers));
    let (n, what) = match users {
        Some((n, noun)) => (
            n,
            format!("bench {bench}: {} {noun} on {servers_text}", thousands(n)),
        ),
        None => (0, format!("bench {bench}: {servers_text}")),
    };
    footprint::check(&what, servers, n, footprint::available_bytes())
}

/// Parses arguments and runs; returns the exit status.
pub fn main_with_args(args: impl IntoIterator<Item = std::ffi::OsString>) -> u8 {
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    match dispatch(cli) {
        Ok(code) => code,
        Err(CliError::Plain(msg)) => {
            eprintln!("drcsim: error: {msg}");
            2
        }
        Err(CliError::Scenario(e)) if e.line == 0 => {
            eprintln!("drcsim: error: {e}");
            2
        }
        Err(CliError::Scenario(e)) => {
            // Rendered like a compiler's: location, source line, caret.
            eprintln!("{}", e.render());
            2
        }
    }
}

/// Why a command failed: a scenario error keeps its position so it can be
/// shown with its source line.
enum CliError {
    Plain(String),
    Scenario(scenario::ScenarioError),
}

impl From<String> for CliError {
    fn from(s: String) -> Self {
        CliError::Plain(s)
    }
}

/// Writes to standard output. A reader that went away (`| head -1`) ends
/// the output quietly, as other command-line tools do; the exit status is
/// still the command's.
fn emit(text: &str) {
    let mut o = std::io::stdout().lock();
    if let Err(e) = o.write_all(text.as_bytes()).and_then(|()| o.flush()) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("drcsim: error: writing to standard output: {e}");
        }
    }
}

/// Standard output as the trace's writer (`--trace -`): a reader that went
/// away stops the trace, not the run.
struct QuietStdout {
    gone: bool,
}

impl Write for QuietStdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if !self.gone {
            if let Err(e) = std::io::stdout().lock().write_all(buf) {
                if e.kind() != std::io::ErrorKind::BrokenPipe {
                    return Err(e);
                }
                self.gone = true;
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match std::io::stdout().lock().flush() {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                self.gone = true;
                Ok(())
            }
            r => r,
        }
    }
}

fn load(file: Option<&Path>, sets: &[String]) -> Result<Scenario, CliError> {
    Ok(load_full(file, sets)?.scenario)
}

fn load_full(file: Option<&Path>, sets: &[String]) -> Result<Loaded, CliError> {
    crate::provenance::load(file, sets).map_err(|e| match e {
        LoadError::Scenario(e) => CliError::Scenario(e),
        LoadError::Set(m) => CliError::Plain(m),
    })
}

/// Every `interval` on stderr when it is not a terminal (a CI log), where a
/// long sweep would otherwise say nothing until the end.
fn log_interval(terminal: bool) -> Option<std::time::Duration> {
    (!terminal).then(|| std::time::Duration::from_secs(5))
}

fn dispatch(cli: Cli) -> Result<u8, CliError> {
    match cli.cmd {
        Cmd::Run {
            file,
            seed,
            json,
            trace,
            out,
            stop_at_first,
            max_events,
            sets,
            records,
            summary,
            trace_window,
            trace_hosts,
            trace_around_violation,
            perfetto,
            dot_at,
        } => {
            let trace_filter = crate::trace::TraceFilter {
                window: trace_window
                    .as_deref()
                    .map(crate::trace::TraceFilter::parse_window)
                    .transpose()?,
                hosts: (!trace_hosts.is_empty()).then(|| trace_hosts.iter().cloned().collect()),
                around_violation: trace_around_violation,
            };
            let dot_at = match dot_at.as_slice() {
                [] => None,
                [t, out] => Some((
                    scenario::parse_duration(t)
                        .map_err(|e| format!("--dot-at {t:?}: {e}"))?
                        .as_nanos(),
                    PathBuf::from(out),
                )),
                _ => return Err(CliError::Plain("--dot-at takes a time and a file".into())),
            };
            let loaded = load_full(file.as_deref(), &sets)?;
            let mut scn = loaded.scenario.clone();
            if let Some(n) = max_events {
                scn.limits.max_events = n;
            }
            let run_seed = seed.unwrap_or(scn.seed);
            let wants_json = json || out.is_some();
            if wants_json && summary == run::Summary::Full {
                // Said before the run, which at that size takes a while.
                let users =
                    scn.clients.len() as u64 + scn.workload.as_ref().map_or(0, |w| w.clients);
                if let Some(w) = footprint::large_summary_warning(scn.servers.len() as u64, users) {
                    eprintln!("drcsim: warning: {w}");
                }
            }
            let trace_to_stdout = trace.as_deref() == Some(Path::new("-"));
            let mut trace: Option<Box<dyn Write>> = match &trace {
                Some(_) if trace_to_stdout => {
                    Some(Box::new(std::io::BufWriter::new(QuietStdout {
                        gone: false,
                    })))
                }
                Some(p) => Some(Box::new(std::io::BufWriter::new(
                    std::fs::File::create(p).map_err(|e| format!("{}: {e}", p.display()))?,
                ))),
                None => None,
            };
            if let Some(t) = trace.as_mut() {
                crate::provenance::trace_header(t, &loaded, run_seed)
                    .map_err(|e| format!("writing the trace: {e}"))?;
            }
            let outcome = run::run_and_leave(
                &scn,
                RunOptions {
                    seed,
                    trace,
                    trace_filter,
                    stop_on_violation: stop_at_first,
                    event_hashes: false,
                    // The text summary reads counts alone, which the brief
                    // form has: the run is the same (same trace), and its
                    // clients keep the numbers they deliver, not the
                    // messages.
                    summary: if wants_json {
                        summary
                    } else {
                        run::Summary::Brief
                    },
                    progress: true,
                },
            )?;
            // Made only when asked for: a full summary grows as servers x
            // (servers + users), about 20 MB at 1,000 servers.
            let json_text = wants_json.then(|| {
                let mut json_value = if records {
                    outcome.to_json_records()
                } else {
                    outcome.to_json()
                };
                if let Some(o) = json_value.as_object_mut() {
                    o.insert(
                        "provenance".into(),
                        serde_json::json!({
                            "drcsim": VERSION,
                            "scenario": scn.name,
                            "scenario_hash": loaded.hash(),
                            "seeds": format!("{run_seed}..{}", run_seed.saturating_add(1)),
                            "shard": "0/1",
                        }),
                    );
                }
                serde_json::to_string_pretty(&json_value).expect("json")
            });
            let report = if let (true, Some(text)) = (json, &json_text) {
                format!("{text}\n")
            } else {
                outcome.summary()
            };
            if trace_to_stdout {
                // Standard output holds the trace alone, line by line.
                eprint!("{report}");
            } else {
                emit(&report);
            }
            // Also on stderr, where a script that keeps only the JSON or
            // the exit status still shows them to a person.
            for w in &outcome.warnings {
                eprintln!("drcsim: warning: {w}");
            }
            if let Some(dir) = out {
                std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
                let write = |name: &str, text: &str| {
                    let p = dir.join(name);
                    std::fs::write(&p, text).map_err(|e| format!("{}: {e}", p.display()))
                };
                write("summary.json", json_text.as_deref().unwrap_or_default())?;
                write("summary.txt", &outcome.summary())?;
            }
            if perfetto.is_some() || dot_at.is_some() {
                // A second run, traced in full in memory: the pictures
                // need every event whatever the trace file kept. After
                // the summary and its files, which a picture too large to
                // draw does not take with it.
                let (_, events) = crate::view::traced_run(&scn, run_seed)?;
                if let Some(p) = &perfetto {
                    let v = crate::view::perfetto::perfetto(&events);
                    std::fs::write(p, serde_json::to_string(&v).expect("json"))
                        .map_err(|e| format!("{}: {e}", p.display()))?;
                }
                if let Some((t, p)) = &dot_at {
                    std::fs::write(p, crate::view::dot::dot_at(&events, *t))
                        .map_err(|e| format!("{}: {e}", p.display()))?;
                }
            }
            Ok(if outcome.matched { 0 } else { 1 })
        }
        Cmd::Replay { file, seed, sets } => replay(&file, seed, &sets),
        Cmd::Report {
            file,
            seed,
            output,
            sets,
        } => report(&file, seed, &output, &sets),
        Cmd::Sweep {
            file,
            seeds,
            jobs,
            shard,
            out,
            max_events,
            sets,
            resume,
        } => {
            use crate::sweep::Seeds;
            let loaded = load_full(Some(&file), &sets)?;
            let mut scn = loaded.scenario.clone();
            if let Some(n) = max_events {
                scn.limits.max_events = n;
            }
            crate::run::validate(&scn)?;
            let (first, end) = Seeds::parse_range(&seeds)?;
            let (k, n) = match &shard {
                Some(s) => Seeds::parse_shard(s, |v| std::env::var(v).ok())?,
                None => (0, 1),
            };
            let range = Seeds {
                first,
                end,
                shard: k,
                shards: n,
            };
            let list = range.list();
            let jobs =
                jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            if jobs == 0 {
                return Err(CliError::Plain("--jobs must be at least 1".into()));
            }
            let out_dir = out.unwrap_or_else(|| {
                let mut d = format!("reports/tmp/{}-{first}-{end}", scn.name);
                if n > 1 {
                    d.push_str(&format!("-shard-{k}-of-{n}"));
                }
                PathBuf::from(d)
            });
            let t0 = std::time::Instant::now();
            let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
            let opts = crate::sweep::SweepOptions {
                jobs,
                progress: terminal,
                log_every: log_interval(terminal),
                resume,
                provenance: crate::sweep::provenance(&scn, &loaded.text, &range),
                panic_at: crate::sweep::test_panic_seed(),
            };
            let res = crate::sweep::sweep(&scn, &list, &out_dir, &opts)?;
            emit(&crate::sweep::report(
                &scn.name,
                &res,
                t0.elapsed().as_secs_f64(),
                &out_dir,
            ));
            Ok(if res.failing.is_empty() { 0 } else { 1 })
        }
        Cmd::Compare {
            file,
            vary,
            seeds,
            jobs,
            out,
            max_events,
            sets,
        } => {
            let (first, end) = crate::sweep::Seeds::parse_range(&seeds)?;
            let jobs =
                jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            if jobs == 0 {
                return Err(CliError::Plain("--jobs must be at least 1".into()));
            }
            let base = load(Some(&file), &sets)?;
            let out_dir = out.unwrap_or_else(|| {
                PathBuf::from(format!("reports/tmp/compare-{}-{first}-{end}", base.name))
            });
            let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
            let t0 = std::time::Instant::now();
            let res = crate::compare::compare(&crate::compare::CompareSpec {
                file: &file,
                sets: &sets,
                vary: &vary,
                first,
                end,
                jobs,
                max_events,
                out: &out_dir,
                progress: terminal,
                log_every: log_interval(terminal),
            })?;
            emit(&res.report(t0.elapsed().as_secs_f64()));
            Ok(if res.any_panic { 1 } else { 0 })
        }
        Cmd::Expand { file, seed, sets } => {
            let loaded = load_full(Some(&file), &sets)?;
            let scn = &loaded.scenario;
            let seed = seed.unwrap_or(scn.seed);
            let (expanded, _) = crate::swarm::expand(scn, seed);
            emit(&format!(
                "# Seed {seed} of {} expanded by `drcsim expand`: its workload and faults\n\
                 # are explicit actions, so `drcsim run` on this file repeats the seed's run.\n\
                 # drcsim {VERSION}; scenario content {}.\n{}",
                file.display(),
                loaded.hash(),
                expanded.to_toml()
            ));
            Ok(0)
        }
        Cmd::Shrink {
            file,
            seed,
            output,
            keep_autoconnects,
            sets,
        } => {
            let scn = load(Some(&file), &sets)?;
            let seed = seed.unwrap_or(scn.seed);
            // Minutes of shrinking must not end in "cannot write": the
            // output path is checked before the first run.
            check_writable(&output)?;
            let progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
            let res = crate::shrink::shrink_keeping(&scn, seed, progress, keep_autoconnects)?;
            // Only a run that goes on to its quiet end can pass once fixed.
            let after = if keep_autoconnects {
                "then serves as a regression test"
            } else {
                "then still ends before it is quiet: shrink with\n\
                 # --keep-autoconnects for a regression test, which runs on to its quiet end"
            };
            let text = format!(
                "# Shrunk by `drcsim shrink` from {} (seed {seed}).\n\
                 # It violates {}; its [expect] is the original one, so it fails\n\
                 # (exit 1) until the bug is fixed, {after}.\n{}",
                file.display(),
                res.invariant,
                res.scenario.to_toml()
            );
            std::fs::write(&output, text).map_err(|e| format!("{}: {e}", output.display()))?;
            emit(&format!(
                "{}  written to {}\n",
                res.report(),
                output.display()
            ));
            Ok(0)
        }
        Cmd::Merge {
            inputs,
            output,
            allow_missing,
        } => {
            let m = crate::sweep::merge(&inputs, &output, allow_missing)?;
            emit(&format!(
                "{} rows from {} files into {}\n",
                m.rows,
                inputs.len(),
                output.display()
            ));
            if !m.missing.is_empty() {
                eprintln!(
                    "drcsim: warning: {} seeds of the range are missing: {}",
                    m.missing.len(),
                    crate::sweep::list_seeds(&m.missing)
                );
                return Ok(1);
            }
            Ok(0)
        }
        Cmd::Invariants { json } => {
            if json {
                let v: Vec<_> = CATALOG
                    .iter()
                    .map(|i| serde_json::json!({"name": i.name, "kind": i.kind, "statement": i.statement}))
                    .collect();
                emit(&format!(
                    "{}\n",
                    serde_json::to_string_pretty(&v).expect("json")
                ));
            } else {
                let mut text = String::new();
                for i in CATALOG {
                    let kind = match i.kind {
                        crate::checkers::Kind::Safety => "safety",
                        crate::checkers::Kind::Convergence => "convergence",
                    };
                    text.push_str(&format!("{:<20} {:<12} {}\n", i.name, kind, i.statement));
                }
                emit(&text);
            }
            Ok(0)
        }
        Cmd::Bench { which } => match which {
            BenchCmd::Flood {
                servers,
                messages,
                seed,
                hold,
                force,
                json,
            } => {
                bench_fits("flood", servers, None, force)?;
                let r = crate::bench::flood(servers as usize, messages, seed, hold, true)?;
                emit(&if json { json_line(&r) } else { r.text() });
                Ok(if r.hops == r.expected_hops() && r.violations == 0 {
                    0
                } else {
                    1
                })
            }
            BenchCmd::Chat {
                servers,
                rooms,
                members,
                seconds,
                seed,
                send,
                force,
                json,
            } => {
                bench_fits("chat", servers, Some((rooms * members, "clients")), force)?;
                let r = crate::bench::chat(
                    servers as usize,
                    rooms as usize,
                    members as usize,
                    seconds,
                    seed,
                    send,
                    true,
                )?;
                emit(&if json { json_line(&r) } else { r.text() });
                Ok(if r.timed.violations == 0 { 0 } else { 1 })
            }
            BenchCmd::Users {
                servers,
                users,
                seconds,
                say_every,
                nick_every,
                churn_every,
                client_ping,
                send,
                seed,
                force,
                json,
            } => {
                bench_fits("users", servers, Some((users, "users")), force)?;
                let habits = crate::bench::UserHabits {
                    say_every_secs: say_every,
                    nick_every_secs: nick_every,
                    churn_every_secs: churn_every,
                    client_ping_secs: client_ping,
                    send,
                };
                let r = crate::bench::users(servers as usize, users, seconds, habits, seed, true)?;
                emit(&if json { json_line(&r) } else { r.text() });
                Ok(if r.timed.violations == 0 { 0 } else { 1 })
            }
        },
        Cmd::Completions { shell } => {
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "drcsim", &mut buf);
            emit(&String::from_utf8_lossy(&buf));
            Ok(0)
        }
        Cmd::Man => {
            let mut buf = Vec::new();
            clap_mangen::Man::new(Cli::command())
                .render(&mut buf)
                .map_err(|e| format!("rendering the manual: {e}"))?;
            emit(&String::from_utf8_lossy(&buf));
            Ok(0)
        }
    }
}

fn json_line(v: &impl serde::Serialize) -> String {
    format!("{}\n", serde_json::to_string(v).expect("json"))
}

/// Fails unless `path` can be written: its directory exists and the file,
/// if there is one, opens for writing (it is not truncated here).
fn check_writable(path: &Path) -> Result<(), String> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(format!(
            "{}: cannot write there: {} is not a directory",
            path.display(),
            dir.display()
        ));
    }
    if path.is_dir() {
        return Err(format!("{}: is a directory", path.display()));
    }
    if path.exists() {
        std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

/// Whether a file is a trace (its first line a JSON object) rather than
/// a scenario.
fn is_trace(text: &str) -> bool {
    text.lines()
        .next()
        .and_then(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .is_some_and(|v| v.get("ev").is_some())
}

fn report(file: &Path, seed: Option<u64>, output: &Path, sets: &[String]) -> Result<u8, CliError> {
    check_writable(output)?;
    // A trace is known by its first line, and read only if it is not too
    // large to draw.
    let first_line = {
        use std::io::{BufRead, Read};
        let f = std::fs::File::open(file).map_err(|e| format!("{}: {e}", file.display()))?;
        let mut line = String::new();
        let _ = std::io::BufReader::new(f.take(1 << 16)).read_line(&mut line);
        line
    };
    let trace = is_trace(&first_line);
    let text = if trace {
        crate::view::read_trace_file(file)?
    } else {
        std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?
    };
    let (events, summary, code) = if trace {
        if seed.is_some() || !sets.is_empty() {
            return Err(CliError::Plain(
                "--seed and --set apply to a scenario, not to a trace".into(),
            ));
        }
        (crate::view::parse_lines(&text)?, None, 0)
    } else {
        let loaded = load_full(Some(file), sets)?;
        let scn = &loaded.scenario;
        let seed = seed.unwrap_or(scn.seed);
        let mut head = Vec::new();
        crate::provenance::trace_header(&mut head, &loaded, seed).expect("writing to memory");
        let (outcome, mut events) = crate::view::traced_run(scn, seed)?;
        events.insert(
            0,
            serde_json::from_slice(&head).expect("the header is JSON"),
        );
        let code = if outcome.matched { 0 } else { 1 };
        (events, Some(outcome.to_json()), code)
    };
    let title = format!("drcsim report: {}", file.display());
    let data = crate::view::report::data(&events, summary.as_ref(), &title);
    std::fs::write(output, crate::view::report::html(&data))
        .map_err(|e| format!("{}: {e}", output.display()))?;
    let cut = data["cut"].as_str().unwrap_or("");
    emit(&format!(
        "{} violations, {} frames drawn; written to {}{}\n",
        data["violations"].as_array().map_or(0, Vec::len),
        data["frames"].as_array().map_or(0, Vec::len),
        output.display(),
        if cut.is_empty() {
            String::new()
        } else {
            format!(" (left out: {cut})")
        }
    ));
    Ok(code)
}

fn replay(file: &Path, seed: Option<u64>, sets: &[String]) -> Result<u8, CliError> {
    let scn = load(Some(file), sets)?;
    let r = crate::replay::replay(&scn, seed.unwrap_or(scn.seed))?;
    emit(&r.report());
    Ok(if r.divergence.is_none() && r.outcome.matched {
        0
    } else {
        1
    })
}
