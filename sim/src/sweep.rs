//! Seed sweeps: many runs of one scenario, in parallel, into one CSV.
//!
//! Each run is single-threaded and a pure function of (scenario, seed), so
//! the rows do not depend on how many threads ran them or on how the seed
//! range was sharded across machines: rows are sorted by seed, and no
//! wall-clock figure is written to the CSV.

use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;

use crate::run::{run, Outcome, RunOptions};
use crate::scenario::Scenario;
use crate::swarm;

pub const HEADER: &[&str] = &[
    "seed",
    "verdict",
    "matched",
    "first_invariant",
    "first_time_ms",
    "violations",
    "events",
    "sim_time_ms",
    "faults",
    "fault_kinds",
    "links_registered",
    "loops_broken",
    "handshakes_failed",
    "misdirected",
    "components",
    "trace_hash",
    "nick_collision",
    "ordering",
    // Appended, so the columns above keep their places. Every one is a
    // boolean or a count, present (0) even in runs without clients.
    "quiescent",
    "budget_exceeded",
    "clients",
    "clients_connected",
    "clients_quit",
    "clients_disconnected",
    "clients_killed",
    "clients_pending",
    "room_sends_failed",
    "room_sends_unconfirmed",
    "private_sends_failed",
    "nick_changes_refused",
    "registrations_given_up",
];

/// One run's row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub seed: u64,
    pub fields: Vec<String>,
    pub matched: bool,
}

/// A range of seeds, and which of them this shard runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seeds {
    pub first: u64,
    /// Exclusive.
    pub end: u64,
    pub shard: u64,
    pub shards: u64,
}

impl Seeds {
    /// Parses `A..B` (B exclusive) or `A..=B`.
    pub fn parse_range(s: &str) -> Result<(u64, u64), String> {
        let bad = || format!("bad seed range {s:?}: expected A..B (B excluded) or A..=B");
        let (a, b, inclusive) = if let Some((a, b)) = s.split_once("..=") {
            (a, b, true)
        } else if let Some((a, b)) = s.split_once("..") {
            (a, b, false)
        } else {
            return Err(bad());
        };
        let a: u64 = a.trim().parse().map_err(|_| bad())?;
        let b: u64 = b.trim().parse().map_err(|_| bad())?;
        let end = if inclusive {
            b.checked_add(1).ok_or_else(bad)?
        } else {
            b
        };
        if end <= a {
            return Err(format!("seed range {s:?} is empty"));
        }
        Ok((a, end))
    }

    /// Parses `K/N` (K counted from 0). `K` may be `env`: the index is then
    /// read from SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX.
    pub fn parse_shard(
        s: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<(u64, u64), String> {
        let bad = || format!("bad shard {s:?}: expected K/N with 0 <= K < N, or env/N");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let n: u64 = n.trim().parse().map_err(|_| bad())?;
        let k: u64 = if k.trim() == "env" {
            let (var, v) = ["SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX"]
                .iter()
                .find_map(|v| env(v).map(|x| (*v, x)))
                .ok_or(
                    "--shard env/N: neither SLURM_ARRAY_TASK_ID nor JOB_COMPLETION_INDEX is set",
                )?;
            v.trim()
                .parse()
                .map_err(|_| format!("{var}={v:?} is not a shard index"))?
        } else {
            k.trim().parse().map_err(|_| bad())?
        };
        if n == 0 || k >= n {
            return Err(bad());
        }
        Ok((k, n))
    }

    /// The seeds this shard runs: every N-th seed of the range, from the K-th.
    pub fn list(&self) -> Vec<u64> {
        (self.first..self.end)
            .filter(|s| (s - self.first) % self.shards == self.shard)
            .collect()
    }
}

/// Runs one seed; also returns the expanded scenario (the reproducer).
pub fn run_seed(scn: &Scenario, seed: u64) -> Result<(Row, Outcome, Scenario), String> {
    let (expanded, plan) = swarm::expand(scn, seed);
    let o = run(
        &expanded,
        RunOptions {
            seed: Some(seed),
            ..Default::default()
        },
    )?;
    let first = o.violations.first();
    let kinds = plan
        .as_ref()
        .map(|p| {
            p.kinds
                .iter()
                .map(|(k, w)| format!("{}:{w}", k.as_str()))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    let mut fields = vec![
        seed.to_string(),
        o.verdict.as_str().to_string(),
        o.matched.to_string(),
        first.map(|v| v.invariant.to_string()).unwrap_or_default(),
        first.map(|v| v.time_ms.to_string()).unwrap_or_default(),
        o.violations.len().to_string(),
        o.events.to_string(),
        o.sim_time_ms.to_string(),
        plan.as_ref().map_or(0, |p| p.faults).to_string(),
        kinds,
        o.stats.links_registered.to_string(),
        o.stats.loops_broken.to_string(),
        o.stats.handshakes_failed.to_string(),
        o.stats.misdirected.to_string(),
        o.components.len().to_string(),
        o.trace_hash.clone(),
        expanded.protocol.nick_collision.as_str().to_string(),
        expanded.protocol.ordering.as_str().to_string(),
        o.quiescent.to_string(),
        o.budget_exceeded.to_string(),
    ];
    let c = &o.clients;
    let e = &c.at_end;
    let n = &c.counts;
    fields.extend(
        [
            c.total,
            e.connected,
            e.quit,
            e.disconnected,
            e.killed,
            e.pending,
            n.room_sends_failed,
            c.room_sends_unconfirmed,
            n.private_sends_failed,
            n.nick_changes_refused,
            n.registrations_given_up,
        ]
        .map(|x| x.to_string()),
    );
    debug_assert_eq!(fields.len(), HEADER.len());
    Ok((
        Row {
            seed,
            fields,
            matched: o.matched,
        },
        o,
        expanded,
    ))
}

pub struct SweepResult {
    pub rows: Vec<Row>,
    pub failing: Vec<u64>,
}

/// Runs the seeds on `jobs` threads, writing the CSV and a reproducer for
/// each failing seed into `out`.
pub fn sweep(
    scn: &Scenario,
    seeds: &[u64],
    jobs: usize,
    out: &Path,
    progress: bool,
) -> Result<SweepResult, String> {
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .build()
        .map_err(|e| format!("thread pool: {e}"))?;
    let bar = if progress {
        ProgressBar::new(seeds.len() as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} seeds, {msg}")
            .expect("template")
            .progress_chars("=> "),
    );
    let failures = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<Result<Row, String>> = pool.install(|| {
        seeds
            .par_iter()
            .map(|&seed| {
                let (row, _, expanded) = run_seed(scn, seed)?;
                if !row.matched {
                    let n = failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                    bar.set_message(format!("{n} failing"));
                    write_repro(out, &expanded, &row)?;
                }
                bar.inc(1);
                Ok(row)
            })
            .collect()
    });
    bar.finish_and_clear();
    let mut rows = results.into_iter().collect::<Result<Vec<Row>, String>>()?;
    rows.sort_by_key(|r| r.seed);
    write_csv(&out.join("sweep.csv"), &rows)?;
    let failing = rows.iter().filter(|r| !r.matched).map(|r| r.seed).collect();
    Ok(SweepResult { rows, failing })
}

pub fn repro_path(out: &Path, seed: u64) -> PathBuf {
    out.join(format!("repro-seed-{seed}.toml"))
}

fn write_repro(out: &Path, expanded: &Scenario, row: &Row) -> Result<(), String> {
    let p = repro_path(out, row.seed);
    let mut text = format!(
        "# Reproducer for seed {} of {:?}: every fault this seed drew is an\n\
         # explicit action below. `drcsim run` on this file fails (exit 1) while\n\
         # the bug is there; `drcsim shrink` makes it smaller.\n\
         # First violation: {} at {} ms.\n",
        row.seed, expanded.name, row.fields[3], row.fields[4]
    );
    text.push_str(&expanded.to_toml());
    std::fs::write(&p, text).map_err(|e| format!("{}: {e}", p.display()))
}

pub fn write_csv(path: &Path, rows: &[Row]) -> Result<(), String> {
    let mut w = csv::Writer::from_path(path).map_err(|e| format!("{}: {e}", path.display()))?;
    w.write_record(HEADER).map_err(|e| e.to_string())?;
    for r in rows {
        w.write_record(&r.fields).map_err(|e| e.to_string())?;
    }
    w.flush().map_err(|e| format!("{}: {e}", path.display()))
}

/// Joins shard CSVs into one, sorted by seed; a seed twice is an error.
pub fn merge(inputs: &[PathBuf], output: &Path) -> Result<usize, String> {
    let mut rows: Vec<Row> = Vec::new();
    for p in inputs {
        let mut r = csv::Reader::from_path(p).map_err(|e| format!("{}: {e}", p.display()))?;
        let header: Vec<String> = r
            .headers()
            .map_err(|e| format!("{}: {e}", p.display()))?
            .iter()
            .map(String::from)
            .collect();
        if header != HEADER {
            return Err(format!(
                "{}: not a drcsim sweep CSV (header differs)",
                p.display()
            ));
        }
        for (i, rec) in r.records().enumerate() {
            let rec = rec.map_err(|e| format!("{}: {e}", p.display()))?;
            let fields: Vec<String> = rec.iter().map(String::from).collect();
            let seed: u64 = fields[0]
                .parse()
                .map_err(|_| format!("{}: row {}: bad seed {:?}", p.display(), i + 2, fields[0]))?;
            let matched = fields[2] == "true";
            rows.push(Row {
                seed,
                fields,
                matched,
            });
        }
    }
    rows.sort_by_key(|r| r.seed);
    if let Some(w) = rows.windows(2).find(|w| w[0].seed == w[1].seed) {
        return Err(format!("seed {} appears in more than one input", w[0].seed));
    }
    write_csv(output, &rows)?;
    Ok(rows.len())
}

/// A one-line report for the terminal.
pub fn report(name: &str, res: &SweepResult, secs: f64, out: &Path) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "{name}: {} seeds, {} failing, {:.1}s wall ({:.1} runs/s); CSV {}\n",
        res.rows.len(),
        res.failing.len(),
        secs,
        res.rows.len() as f64 / secs.max(1e-9),
        out.join("sweep.csv").display()
    ));
    for seed in res.failing.iter().take(10) {
        let row = res
            .rows
            .iter()
            .find(|r| r.seed == *seed)
            .expect("failing row");
        let col = |name: &str| {
            let i = HEADER.iter().position(|h| *h == name).expect("a column");
            row.fields.get(i).map_or("", String::as_str)
        };
        let what = if !row.fields[3].is_empty() {
            format!("{} at {} ms", row.fields[3], row.fields[4])
        } else if col("budget_exceeded") == "true" {
            "event budget exhausted".to_string()
        } else if col("quiescent") == "false" {
            "ended before it was quiet".to_string()
        } else {
            "expectation mismatch".to_string()
        };
        s.push_str(&format!(
            "  seed {seed}: {what}; reproducer {}\n",
            repro_path(out, *seed).display()
        ));
    }
    if res.failing.len() > 10 {
        s.push_str(&format!("  ... and {} more\n", res.failing.len() - 10));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_shards() {
        assert_eq!(Seeds::parse_range("0..10"), Ok((0, 10)));
        assert_eq!(Seeds::parse_range("5..=7"), Ok((5, 8)));
        assert!(Seeds::parse_range("7..7").is_err());
        assert!(Seeds::parse_range("x..3").is_err());
        let none = |_: &str| None;
        assert_eq!(Seeds::parse_shard("2/4", none), Ok((2, 4)));
        assert!(Seeds::parse_shard("4/4", none).is_err());
        assert!(Seeds::parse_shard("env/4", none).is_err());
        let slurm = |v: &str| (v == "JOB_COMPLETION_INDEX").then(|| "3".to_string());
        assert_eq!(Seeds::parse_shard("env/4", slurm), Ok((3, 4)));
        // Shards partition the range.
        let mut all: Vec<u64> = (0..3)
            .flat_map(|k| {
                Seeds {
                    first: 10,
                    end: 20,
                    shard: k,
                    shards: 3,
                }
                .list()
            })
            .collect();
        all.sort();
        assert_eq!(all, (10..20).collect::<Vec<_>>());
    }
}
