//! The `drcsim` command line. Exit status: 0 the outcome matched
//! `[expect]`, 1 it did not, 2 bad input or usage.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};

use crate::checkers::CATALOG;
use crate::run::{self, RunOptions};
use crate::scenario::{self, Scenario};

#[derive(Parser, Debug)]
#[command(
    name = "drcsim",
    version,
    about = "Deterministic simulation testbed for a Distributed Relay Chat network",
    long_about = "Runs the DRC protocol core against a virtual clock and network, injects faults \
                  from a scenario file, and checks tree, convergence and ordering invariants.\n\n\
                  Exit status: 0 the outcome matched the scenario's [expect], 1 it did not, \
                  2 bad input or usage."
)]
pub struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run one scenario (the built-in demo when FILE is omitted).
    Run {
        /// Scenario file (TOML).
        file: Option<PathBuf>,
        /// Seed to use instead of the scenario's own.
        #[arg(long)]
        seed: Option<u64>,
        /// Print one JSON object instead of the summary.
        #[arg(long)]
        json: bool,
        /// Write every event as JSON Lines to this file.
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
    },
    /// Run twice, compare a hash after every event, and name the first
    /// divergent event if the two runs differ.
    Replay {
        file: PathBuf,
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Run a range of seeds in parallel; one CSV row per seed and a
    /// reproducer per failing seed.
    Sweep {
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
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Event budget per seed, instead of the scenario's [limits] max_events.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        max_events: Option<u64>,
    },
    /// Shrink a failing run (the seed's faults made explicit) to a small
    /// scenario that still violates the same invariant.
    Shrink {
        file: PathBuf,
        #[arg(long)]
        seed: Option<u64>,
        /// Where to write the shrunk scenario.
        #[arg(short, long, value_name = "MIN.toml")]
        output: PathBuf,
    },
    /// Join the CSVs of several sweep shards into one, sorted by seed.
    Merge {
        /// Shard CSVs.
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        #[arg(short, long, value_name = "OUT.csv")]
        output: PathBuf,
    },
    /// Print the invariant catalog.
    Invariants {
        #[arg(long)]
        json: bool,
    },
    /// Measure simulator throughput.
    Bench {
        #[command(subcommand)]
        which: BenchCmd,
    },
}

#[derive(Subcommand, Debug)]
enum BenchCmd {
    /// N servers in a seeded random tree; one floods M 64-byte broadcasts.
    Flood {
        #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(2..=6760))]
        servers: u64,
        #[arg(long, default_value_t = 10_000)]
        messages: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Servers in a seeded random tree, rooms of clients each saying one
    /// message per simulated second.
    Chat {
        #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=6760))]
        servers: u64,
        #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=10000))]
        rooms: u64,
        #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=10000))]
        members: u64,
        /// Simulated seconds of chatter.
        #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
        seconds: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
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
        Err(msg) => {
            eprintln!("drcsim: error: {msg}");
            2
        }
    }
}

fn load(file: Option<&Path>) -> Result<Scenario, String> {
    match file {
        Some(p) => scenario::load(p).map_err(|e| e.to_string()),
        None => scenario::parse_str(crate::DEFAULT_SCENARIO, "<built-in default>")
            .map_err(|e| e.to_string()),
    }
}

fn dispatch(cli: Cli) -> Result<u8, String> {
    match cli.cmd {
        Cmd::Run {
            file,
            seed,
            json,
            trace,
            out,
            stop_at_first,
            max_events,
        } => {
            let mut scn = load(file.as_deref())?;
            if let Some(n) = max_events {
                scn.limits.max_events = n;
            }
            let trace: Option<Box<dyn Write>> = match &trace {
                Some(p) => Some(Box::new(std::io::BufWriter::new(
                    std::fs::File::create(p).map_err(|e| format!("{}: {e}", p.display()))?,
                ))),
                None => None,
            };
            let outcome = run::run(
                &scn,
                RunOptions {
                    seed,
                    trace,
                    stop_on_violation: stop_at_first,
                    event_hashes: false,
                },
            )?;
            let json_text = serde_json::to_string_pretty(&outcome.to_json()).expect("json");
            if json {
                println!("{json_text}");
            } else {
                print!("{}", outcome.summary());
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
                write("summary.json", &json_text)?;
                write("summary.txt", &outcome.summary())?;
            }
            Ok(if outcome.matched { 0 } else { 1 })
        }
        Cmd::Replay { file, seed } => replay(&file, seed),
        Cmd::Sweep {
            file,
            seeds,
            jobs,
            shard,
            out,
            max_events,
        } => {
            use crate::sweep::Seeds;
            let mut scn = load(Some(&file))?;
            if let Some(n) = max_events {
                scn.limits.max_events = n;
            }
            crate::run::validate(&scn)?;
            let (first, end) = Seeds::parse_range(&seeds)?;
            let (k, n) = match &shard {
                Some(s) => Seeds::parse_shard(s, |v| std::env::var(v).ok())?,
                None => (0, 1),
            };
            let list = Seeds {
                first,
                end,
                shard: k,
                shards: n,
            }
            .list();
            let jobs =
                jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            if jobs == 0 {
                return Err("--jobs must be at least 1".into());
            }
            let out = out.unwrap_or_else(|| {
                let mut d = format!("reports/tmp/{}-{first}-{end}", scn.name);
                if n > 1 {
                    d.push_str(&format!("-shard-{k}-of-{n}"));
                }
                PathBuf::from(d)
            });
            let t0 = std::time::Instant::now();
            let progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
            let res = crate::sweep::sweep(&scn, &list, jobs, &out, progress)?;
            print!(
                "{}",
                crate::sweep::report(&scn.name, &res, t0.elapsed().as_secs_f64(), &out)
            );
            Ok(if res.failing.is_empty() { 0 } else { 1 })
        }
        Cmd::Shrink { file, seed, output } => {
            let scn = load(Some(&file))?;
            let seed = seed.unwrap_or(scn.seed);
            let res = crate::shrink::shrink(&scn, seed)?;
            let text = format!(
                "# Shrunk by `drcsim shrink` from {} (seed {seed}).\n\
                 # It violates {}; its [expect] is the original one, so it fails\n\
                 # (exit 1) until the bug is fixed, then serves as a regression test.\n{}",
                file.display(),
                res.invariant,
                res.scenario.to_toml()
            );
            std::fs::write(&output, text).map_err(|e| format!("{}: {e}", output.display()))?;
            print!("{}", res.report());
            println!("  written to {}", output.display());
            Ok(0)
        }
        Cmd::Merge { inputs, output } => {
            let n = crate::sweep::merge(&inputs, &output)?;
            println!(
                "{n} rows from {} files into {}",
                inputs.len(),
                output.display()
            );
            Ok(0)
        }
        Cmd::Invariants { json } => {
            if json {
                let v: Vec<_> = CATALOG
                    .iter()
                    .map(|i| serde_json::json!({"name": i.name, "kind": i.kind, "statement": i.statement}))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&v).expect("json"));
            } else {
                for i in CATALOG {
                    let kind = match i.kind {
                        crate::checkers::Kind::Safety => "safety",
                        crate::checkers::Kind::Convergence => "convergence",
                    };
                    println!("{:<20} {:<12} {}", i.name, kind, i.statement);
                }
            }
            Ok(0)
        }
        Cmd::Bench { which } => match which {
            BenchCmd::Flood {
                servers,
                messages,
                seed,
            } => {
                let r = crate::bench::flood(servers as usize, messages, seed)?;
                r.print();
                Ok(if r.hops == messages * (servers - 1) && r.violations == 0 {
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
            } => {
                let r = crate::bench::chat(
                    servers as usize,
                    rooms as usize,
                    members as usize,
                    seconds,
                    seed,
                )?;
                r.print();
                Ok(if r.violations == 0 { 0 } else { 1 })
            }
        },
    }
}

fn replay(file: &Path, seed: Option<u64>) -> Result<u8, String> {
    let scn = load(Some(file))?;
    let r = crate::replay::replay(&scn, seed.unwrap_or(scn.seed))?;
    print!("{}", r.report());
    Ok(if r.divergence.is_none() && r.outcome.matched {
        0
    } else {
        1
    })
}
