//! Seed sweeps: many runs of one scenario, in parallel, into one CSV.
//!
//! Each run is single-threaded and a pure function of (scenario, seed), so
//! the rows do not depend on how many threads ran them or on how the seed
//! range was sharded across machines: rows are sorted by seed, and no
//! wall-clock figure is written to the CSV.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::provenance::Provenance;
use crate::run::{run, Outcome, RunOptions};
use crate::scenario::{FaultKind, Scenario};
use crate::swarm;

/// One run's row of `sweep.csv`. The columns and their types are the
/// schema documented in docs/testing.md: every column keeps one type
/// whatever the data (a count is always an integer, a flag `true` or
/// `false`, a missing text an empty string, a missing time an empty
/// field), so pandas and DuckDB infer the same types for every file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    pub seed: u64,
    /// `pass`, `fail`, or `panic` (the simulator itself panicked; see
    /// `panic_message`).
    pub verdict: String,
    /// The outcome matched `[expect]` (never for a panic).
    pub matched: bool,
    /// The first violated invariant; empty when none fired.
    pub first_invariant: String,
    /// When it fired; empty when none fired.
    pub first_time_ms: Option<u64>,
    pub violations: u64,
    pub events: u64,
    pub sim_time_ms: u64,
    /// Faults the seed drew, and each kind's weight (0: not drawn).
    pub faults: u64,
    pub faults_partition: u64,
    pub faults_cut: u64,
    pub faults_isolate: u64,
    pub faults_stall: u64,
    pub faults_flap: u64,
    pub faults_crash: u64,
    pub faults_skew: u64,
    pub faults_race: u64,
    pub faults_shutdown: u64,
    pub faults_redirect: u64,
    pub faults_storm: u64,
    pub faults_greeter: u64,
    pub faults_token: u64,
    pub links_registered: u64,
    pub loops_broken: u64,
    pub handshakes_failed: u64,
    pub misdirected: u64,
    pub components: u64,
    pub trace_hash: String,
    pub nick_collision: String,
    pub ordering: String,
    /// How the seed's clients sent room messages (`ask-first`, `at-once`).
    pub send: String,
    pub quiescent: bool,
    pub budget_exceeded: bool,
    pub clients: u64,
    pub clients_connected: u64,
    pub clients_quit: u64,
    pub clients_disconnected: u64,
    pub clients_killed: u64,
    pub clients_pending: u64,
    pub room_sends_failed: u64,
    pub room_sends_unconfirmed: u64,
    pub private_sends_failed: u64,
    pub nick_changes_refused: u64,
    pub registrations_given_up: u64,
    /// Measures (see `Measures` in checkers/counts.rs).
    pub convergence_ms: u64,
    pub frames: u64,
    pub wire_frames: u64,
    pub wire_bytes: u64,
    pub collisions: u64,
    pub kills_sent: u64,
    pub saves_sent: u64,
    pub rejects_sent: u64,
    pub resolution_frames: u64,
    pub messages_sequenced: u64,
    pub seq_skipped: u64,
    pub deliveries: u64,
    pub gaps_closed: u64,
    pub messages_passed_over: u64,
    pub copies_passed_over: u64,
    pub epochs_started: u64,
    /// Why the run panicked; empty otherwise.
    pub panic_message: String,
    /// Provenance, the same on every row of a file.
    pub drcsim: String,
    pub scenario: String,
    pub scenario_hash: String,
    pub seeds: String,
    pub shard: String,
}

impl Row {
    fn set_kind(&mut self, k: FaultKind, w: u64) {
        let slot = match k {
            FaultKind::Partition => &mut self.faults_partition,
            FaultKind::Cut => &mut self.faults_cut,
            FaultKind::Isolate => &mut self.faults_isolate,
            FaultKind::Stall => &mut self.faults_stall,
            FaultKind::Flap => &mut self.faults_flap,
            FaultKind::Crash => &mut self.faults_crash,
            FaultKind::Skew => &mut self.faults_skew,
            FaultKind::Race => &mut self.faults_race,
            FaultKind::Shutdown => &mut self.faults_shutdown,
            FaultKind::Redirect => &mut self.faults_redirect,
            FaultKind::Storm => &mut self.faults_storm,
            FaultKind::Greeter => &mut self.faults_greeter,
            FaultKind::Token => &mut self.faults_token,
        };
        *slot = w;
    }

    fn stamp(&mut self, p: &Provenance) {
        self.drcsim = p.drcsim.clone();
        self.scenario = p.scenario.clone();
        self.scenario_hash = p.scenario_hash.clone();
        self.seeds = p.seeds.clone();
        self.shard = p.shard.clone();
    }

    /// The row's fields as the CSV writes them.
    pub fn fields(&self) -> Vec<String> {
        let mut w = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(Vec::new());
        w.serialize(self).expect("a row serializes");
        let bytes = w.into_inner().expect("in memory");
        let mut r = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(&bytes[..]);
        let rec = r
            .records()
            .next()
            .expect("one record")
            .expect("its own output");
        rec.iter().map(String::from).collect()
    }

    /// A one-line reason for a person.
    pub fn what(&self) -> String {
        if self.verdict == "panic" {
            format!("panicked: {}", self.panic_message)
        } else if !self.first_invariant.is_empty() {
            format!(
                "{} at {} ms",
                self.first_invariant,
                self.first_time_ms.unwrap_or(0)
            )
        } else if self.budget_exceeded {
            "event budget exhausted".to_string()
        } else if !self.quiescent {
            "ended before it was quiet".to_string()
        } else {
            "expectation mismatch".to_string()
        }
    }
}

/// The CSV's column names, in order.
pub fn header() -> Vec<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.serialize(Row::default()).expect("a row serializes");
    let bytes = w.into_inner().expect("in memory");
    let mut r = csv::Reader::from_reader(&bytes[..]);
    r.headers()
        .expect("a header")
        .iter()
        .map(String::from)
        .collect()
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
            // A row reads counters only: no per-server views to build.
            summary: crate::run::Summary::Brief,
            ..Default::default()
        },
    )?;
    let first = o.violations.first();
    let c = &o.clients;
    let e = &c.at_end;
    let n = &c.counts;
    let m = &o.measures;
    let mut row = Row {
        seed,
        verdict: o.verdict.as_str().to_string(),
        matched: o.matched,
        first_invariant: first.map(|v| v.invariant.to_string()).unwrap_or_default(),
        first_time_ms: first.map(|v| v.time_ms),
        violations: o.violations.len() as u64,
        events: o.events,
        sim_time_ms: o.sim_time_ms,
        faults: plan.as_ref().map_or(0, |p| p.faults as u64),
        links_registered: o.stats.links_registered,
        loops_broken: o.stats.loops_broken,
        handshakes_failed: o.stats.handshakes_failed,
        misdirected: o.stats.misdirected,
        components: o.components.len() as u64,
        trace_hash: o.trace_hash.clone(),
        nick_collision: expanded.protocol.nick_collision.as_str().to_string(),
        ordering: expanded.protocol.ordering.as_str().to_string(),
        send: expanded.protocol.send.as_str().to_string(),
        quiescent: o.quiescent,
        budget_exceeded: o.budget_exceeded,
        clients: c.total,
        clients_connected: e.connected,
        clients_quit: e.quit,
        clients_disconnected: e.disconnected,
        clients_killed: e.killed,
        clients_pending: e.pending,
        room_sends_failed: n.room_sends_failed,
        room_sends_unconfirmed: c.room_sends_unconfirmed,
        private_sends_failed: n.private_sends_failed,
        nick_changes_refused: n.nick_changes_refused,
        registrations_given_up: n.registrations_given_up,
        convergence_ms: o.convergence_ms,
        frames: o.stats.frames_in,
        wire_frames: m.wire_frames,
        wire_bytes: m.wire_bytes,
        collisions: m.collisions,
        kills_sent: m.kills_sent,
        saves_sent: m.saves_sent,
        rejects_sent: m.rejects_sent,
        resolution_frames: o.stats.resolutions,
        messages_sequenced: m.messages_sequenced,
        seq_skipped: m.seq_skipped,
        deliveries: m.deliveries,
        gaps_closed: m.gaps_closed,
        messages_passed_over: m.messages_passed_over,
        copies_passed_over: m.copies_passed_over,
        epochs_started: m.epochs_started,
        ..Default::default()
    };
    if let Some(p) = &plan {
        for (k, w) in &p.kinds {
            row.set_kind(*k, *w);
        }
    }
    Ok((row, o, expanded))
}

pub struct SweepResult {
    pub rows: Vec<Row>,
    pub failing: Vec<u64>,
    /// Seeds whose run panicked (also in `failing`).
    pub panicked: Vec<u64>,
    /// Seeds taken from an earlier, interrupted sweep (`--resume`).
    pub resumed: usize,
}

/// How a sweep runs, beyond its scenario and seeds.
pub struct SweepOptions {
    pub jobs: usize,
    /// An indicatif bar (on a terminal).
    pub progress: bool,
    /// A plain line on stderr at most this often (off a terminal).
    pub log_every: Option<std::time::Duration>,
    /// Keep the rows an earlier sweep of the same scenario and build wrote
    /// into `out`, and run only the seeds they lack.
    pub resume: bool,
    pub provenance: Provenance,
    /// Test-only: make this seed's run panic (see [`test_panic_seed`]).
    #[doc(hidden)]
    pub panic_at: Option<u64>,
}

impl SweepOptions {
    pub fn quiet(jobs: usize, provenance: Provenance) -> Self {
        SweepOptions {
            jobs,
            progress: false,
            log_every: None,
            resume: false,
            provenance,
            panic_at: None,
        }
    }
}

/// Provenance for a sweep of `scn` (its text hashed as given) over seeds.
pub fn provenance(scn: &Scenario, text: &str, seeds: &Seeds) -> Provenance {
    Provenance {
        drcsim: crate::provenance::VERSION.to_string(),
        scenario: scn.name.clone(),
        scenario_hash: crate::provenance::content_hash(text),
        seeds: format!("{}..{}", seeds.first, seeds.end),
        shard: format!("{}/{}", seeds.shard, seeds.shards),
    }
}

thread_local! {
    // Set while a sweep runs a seed: a panic there is recorded in the CSV,
    // so the default hook's message would only be noise in the log.
    static IN_SEED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    static PANIC_AT: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

fn install_quiet_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IN_SEED.with(|f| f.get()) {
                let at = info
                    .location()
                    .map(|l| format!(" at {}:{}", l.file(), l.line()))
                    .unwrap_or_default();
                PANIC_AT.with(|p| *p.borrow_mut() = at);
            } else {
                previous(info);
            }
        }));
    });
}

/// The seed a test asks to panic in (`DRCSIM_TEST_PANIC_AT_SEED`): the only
/// way to see the panic path work end to end, since no scenario the
/// parser accepts is known to panic. The name says what it is for.
pub fn test_panic_seed() -> Option<u64> {
    std::env::var("DRCSIM_TEST_PANIC_AT_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
}

/// Runs one seed, turning a panic into a `panic` row.
fn guarded(
    scn: &Scenario,
    seed: u64,
    panic_at: Option<u64>,
) -> Result<(Row, Option<Scenario>), String> {
    install_quiet_hook();
    IN_SEED.with(|f| f.set(true));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        if panic_at == Some(seed) {
            panic!("test-only panic requested by DRCSIM_TEST_PANIC_AT_SEED");
        }
        run_seed(scn, seed)
    }));
    IN_SEED.with(|f| f.set(false));
    match r {
        Ok(Ok((row, _, expanded))) => Ok((row, Some(expanded))),
        Ok(Err(e)) => Err(e),
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic with no message".to_string());
            let at = PANIC_AT.with(|p| std::mem::take(&mut *p.borrow_mut()));
            Ok((
                Row {
                    seed,
                    verdict: "panic".to_string(),
                    panic_message: format!("{msg}{at}"),
                    ..Default::default()
                },
                // The reproducer is still worth having: the expansion is
                // pure and cheap, and the run is what panicked.
                std::panic::catch_unwind(|| swarm::expand(scn, seed).0).ok(),
            ))
        }
    }
}

pub fn partial_path(out: &Path) -> PathBuf {
    out.join("sweep.csv.partial")
}

/// Rows of an earlier sweep in `out`: the finished CSV and whatever an
/// interrupted one appended. A torn last line (the process was killed
/// while writing it) ends the reading; its seed simply runs again.
fn earlier_rows(out: &Path, p: &Provenance) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    for path in [out.join("sweep.csv"), partial_path(out)] {
        if !path.exists() {
            continue;
        }
        let mut r =
            csv::Reader::from_path(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        for rec in r.deserialize::<Row>() {
            let Ok(row) = rec else { break };
            if row.drcsim != p.drcsim || row.scenario_hash != p.scenario_hash {
                return Err(format!(
                    "{}: --resume: written by drcsim {} for scenario {} ({}), not by {} for {} ({}); \
                     use another --out",
                    path.display(),
                    row.drcsim,
                    row.scenario,
                    row.scenario_hash,
                    p.drcsim,
                    p.scenario,
                    p.scenario_hash
                ));
            }
            rows.push(row);
        }
    }
    rows.sort_by_key(|r| r.seed);
    rows.dedup_by_key(|r| r.seed);
    Ok(rows)
}

/// Runs the seeds on `jobs` threads. Each finished row is appended at once
/// to `sweep.csv.partial` (so a killed sweep leaves its results, and
/// `--resume` picks them up); at the end the rows are sorted by seed into
/// `sweep.csv` and the partial file is removed. A reproducer is written
/// for each failing seed.
pub fn sweep(
    scn: &Scenario,
    seeds: &[u64],
    out: &Path,
    opts: &SweepOptions,
) -> Result<SweepResult, String> {
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let prov = &opts.provenance;
    let mut done: Vec<Row> = if opts.resume {
        earlier_rows(out, prov)?
    } else {
        Vec::new()
    };
    let wanted: std::collections::BTreeSet<u64> = seeds.iter().copied().collect();
    done.retain(|r| wanted.contains(&r.seed));
    // Checked equal above where it matters; this also mends a last field
    // torn short by a kill.
    for r in &mut done {
        r.stamp(prov);
    }
    let resumed = done.len();
    let todo: Vec<u64> = seeds
        .iter()
        .copied()
        .filter(|s| done.binary_search_by_key(s, |r| r.seed).is_err())
        .collect();
    let part = partial_path(out);
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_path(&part)
        .map_err(|e| format!("{}: {e}", part.display()))?;
    // The partial file starts with the header and the resumed rows, so it
    // is a complete CSV of everything known at any instant.
    w.write_record(header()).map_err(|e| e.to_string())?;
    for r in &done {
        w.serialize(r).map_err(|e| e.to_string())?;
    }
    w.flush().map_err(|e| format!("{}: {e}", part.display()))?;
    let writer = Mutex::new(w);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.jobs)
        .build()
        .map_err(|e| format!("thread pool: {e}"))?;
    let bar = if opts.progress {
        ProgressBar::new(seeds.len() as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} seeds, {msg}")
            .expect("template")
            .progress_chars("=> "),
    );
    bar.set_position(resumed as u64);
    let panic_at = opts.panic_at;
    let failures = std::sync::atomic::AtomicUsize::new(done.iter().filter(|r| !r.matched).count());
    let finished = std::sync::atomic::AtomicUsize::new(resumed);
    // Wall time only paces the log lines; nothing of it reaches the CSV.
    let t0 = std::time::Instant::now();
    let last_log = Mutex::new(t0);
    let total = seeds.len();
    let results: Vec<Result<Row, String>> = pool.install(|| {
        todo.par_iter()
            .map(|&seed| {
                let (mut row, expanded) = guarded(scn, seed, panic_at)?;
                row.stamp(prov);
                if !row.matched {
                    let n = failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                    bar.set_message(format!("{n} failing"));
                    if let Some(x) = &expanded {
                        write_repro(out, x, &row)?;
                    }
                }
                {
                    let mut w = writer
                        .lock()
                        .map_err(|_| "CSV writer poisoned".to_string())?;
                    w.serialize(&row).map_err(|e| e.to_string())?;
                    w.flush().map_err(|e| format!("{}: {e}", part.display()))?;
                }
                bar.inc(1);
                let k = finished.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                if let Some(every) = opts.log_every {
                    let mut last = last_log
                        .lock()
                        .map_err(|_| "log clock poisoned".to_string())?;
                    if last.elapsed() >= every || k == total {
                        *last = std::time::Instant::now();
                        eprintln!(
                            "drcsim sweep {}: {k}/{total} seeds, {} failing, {:.0}s",
                            prov.scenario,
                            failures.load(std::sync::atomic::Ordering::Relaxed),
                            t0.elapsed().as_secs_f64()
                        );
                    }
                }
                Ok(row)
            })
            .collect()
    });
    bar.finish_and_clear();
    drop(writer);
    let mut rows = done;
    for r in results {
        rows.push(r?);
    }
    rows.sort_by_key(|r| r.seed);
    write_csv(&out.join("sweep.csv"), &rows)?;
    std::fs::remove_file(&part).map_err(|e| format!("{}: {e}", part.display()))?;
    let failing: Vec<u64> = rows.iter().filter(|r| !r.matched).map(|r| r.seed).collect();
    let html = crate::view::summary::summary_html(&prov.scenario, &rows, &failing, out);
    let summary = out.join("summary.html");
    std::fs::write(&summary, html).map_err(|e| format!("{}: {e}", summary.display()))?;
    let panicked = rows
        .iter()
        .filter(|r| r.verdict == "panic")
        .map(|r| r.seed)
        .collect();
    Ok(SweepResult {
        rows,
        failing,
        panicked,
        resumed,
    })
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
         # drcsim {}; scenario content {}.\n\
         # Outcome: {}.\n",
        row.seed,
        expanded.name,
        row.drcsim,
        row.scenario_hash,
        row.what()
    );
    text.push_str(&expanded.to_toml());
    std::fs::write(&p, text).map_err(|e| format!("{}: {e}", p.display()))
}

/// Writes the rows, header first, through a temporary file renamed into
/// place, so a reader never sees half a file.
pub fn write_csv(path: &Path, rows: &[Row]) -> Result<(), String> {
    let tmp = path.with_extension("csv.tmp");
    {
        let mut w = csv::Writer::from_path(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
        for r in rows {
            w.serialize(r).map_err(|e| e.to_string())?;
        }
        if rows.is_empty() {
            w.write_record(header()).map_err(|e| e.to_string())?;
        }
        w.flush().map_err(|e| format!("{}: {e}", tmp.display()))?;
    }
    std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Reads a sweep CSV (one written by this version's schema).
pub fn read_csv(p: &Path) -> Result<Vec<Row>, String> {
    let mut r = csv::Reader::from_path(p).map_err(|e| format!("{}: {e}", p.display()))?;
    let h: Vec<String> = r
        .headers()
        .map_err(|e| format!("{}: {e}", p.display()))?
        .iter()
        .map(String::from)
        .collect();
    if h != header() {
        return Err(format!(
            "{}: not a sweep CSV of this drcsim version (its columns differ)",
            p.display()
        ));
    }
    let mut rows = Vec::new();
    for (i, rec) in r.deserialize::<Row>().enumerate() {
        rows.push(rec.map_err(|e| format!("{}: row {}: {e}", p.display(), i + 2))?);
    }
    Ok(rows)
}

/// What `merge` found.
pub struct Merged {
    pub rows: usize,
    /// Seeds of the declared range that no input holds.
    pub missing: Vec<u64>,
}

/// Joins shard CSVs into one, sorted by seed. The inputs must come from
/// one build and one scenario text and declare one seed range; a seed
/// twice is an error, and so are missing seeds of the range unless
/// `allow_missing` (they are then listed). The result declares shard
/// `0/1`, as one machine's sweep of the whole range does, so that it is
/// byte-identical to that sweep.
pub fn merge(inputs: &[PathBuf], output: &Path, allow_missing: bool) -> Result<Merged, String> {
    let mut rows: Vec<Row> = Vec::new();
    let mut first: Option<(PathBuf, Row)> = None;
    for p in inputs {
        for mut row in read_csv(p)? {
            if let Some((fp, f)) = &first {
                for (what, a, b) in [
                    ("drcsim version", &f.drcsim, &row.drcsim),
                    ("scenario", &f.scenario, &row.scenario),
                    (
                        "scenario content hash",
                        &f.scenario_hash,
                        &row.scenario_hash,
                    ),
                    ("seed range", &f.seeds, &row.seeds),
                ] {
                    if a != b {
                        return Err(format!(
                            "{} and {} differ in {what} ({a} vs {b}): not shards of one sweep",
                            fp.display(),
                            p.display()
                        ));
                    }
                }
            } else {
                first = Some((p.clone(), row.clone()));
            }
            row.shard = "0/1".to_string();
            rows.push(row);
        }
    }
    rows.sort_by_key(|r| r.seed);
    if let Some(w) = rows.windows(2).find(|w| w[0].seed == w[1].seed) {
        return Err(format!("seed {} appears in more than one input", w[0].seed));
    }
    let mut missing = Vec::new();
    if let Some((_, f)) = &first {
        let (a, b) = Seeds::parse_range(&f.seeds)?;
        let have: std::collections::BTreeSet<u64> = rows.iter().map(|r| r.seed).collect();
        missing = (a..b).filter(|s| !have.contains(s)).collect();
    }
    if !missing.is_empty() && !allow_missing {
        return Err(format!(
            "{} of the declared range's seeds are in no input ({}); a shard is missing or \
             unfinished (--allow-missing merges what there is)",
            missing.len(),
            list_seeds(&missing)
        ));
    }
    write_csv(output, &rows)?;
    Ok(Merged {
        rows: rows.len(),
        missing,
    })
}

/// A short list of seeds: the first ten, then a count.
pub fn list_seeds(s: &[u64]) -> String {
    let mut t: Vec<String> = s.iter().take(10).map(u64::to_string).collect();
    if s.len() > 10 {
        t.push(format!("and {} more", s.len() - 10));
    }
    t.join(", ")
}

/// A one-line report for the terminal.
pub fn report(name: &str, res: &SweepResult, secs: f64, out: &Path) -> String {
    let mut s = String::new();
    let ran = res.rows.len() - res.resumed;
    s.push_str(&format!(
        "{name}: {} seeds, {} failing{}{}, {:.1}s wall ({:.1} runs/s); CSV {}\n",
        res.rows.len(),
        res.failing.len(),
        if res.panicked.is_empty() {
            String::new()
        } else {
            format!(" ({} panicked)", res.panicked.len())
        },
        if res.resumed > 0 {
            format!(", {} resumed", res.resumed)
        } else {
            String::new()
        },
        secs,
        ran as f64 / secs.max(1e-9),
        out.join("sweep.csv").display()
    ));
    for seed in res.failing.iter().take(10) {
        let row = res
            .rows
            .iter()
            .find(|r| r.seed == *seed)
            .expect("failing row");
        s.push_str(&format!(
            "  seed {seed}: {}; reproducer {}\n",
            row.what(),
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
