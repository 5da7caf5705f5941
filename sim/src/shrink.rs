//! Shrinking a failing run to a small scenario a person can read.
//!
//! The seed's faults are first made explicit actions, then reduced by
//! delta debugging (Zeller's ddmin) while the run keeps violating the same
//! invariant: drop chunks of actions, drop servers (with everything that
//! names them), drop autoconnect edges, shorten the run, and round the
//! times that are left. Each candidate is written and parsed back, so
//! whatever the shrinker returns is a valid, self-contained scenario file.

use drc_protocol::Duration;

use crate::run::{run, RunOptions};
use crate::scenario::{self, Action, Scenario};
use crate::swarm;

/// What shrinking did.
pub struct Shrunk {
    pub scenario: Scenario,
    pub invariant: &'static str,
    pub runs: u64,
    pub before: Size,
    pub after: Size,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Size {
    pub actions: usize,
    pub servers: usize,
    pub duration_ms: u64,
    pub events: u64,
}

struct Judge {
    invariant: &'static str,
    /// Invariants the original run violated: a candidate may not violate
    /// any other, or shrinking would trade the bug for a new one (a broken
    /// configuration, say).
    allowed: Vec<&'static str>,
    runs: u64,
    /// A spinner on a terminal (hidden otherwise): shrinking takes minutes
    /// and a silent one looks hung.
    bar: indicatif::ProgressBar,
}

impl Judge {
    /// Whether `s` is a valid scenario whose run violates the invariant.
    fn fails(&mut self, s: &Scenario) -> bool {
        if scenario::parse_str(&s.to_toml(), "candidate.toml")
            .ok()
            .as_ref()
            != Some(s)
        {
            return false;
        }
        self.runs += 1;
        self.bar.inc(1);
        let fails = run(
            s,
            RunOptions {
                seed: Some(s.seed),
                ..Default::default()
            },
        )
        .map(|o| {
            o.violations.iter().any(|v| v.invariant == self.invariant)
                && o.violations
                    .iter()
                    .all(|v| self.allowed.contains(&v.invariant))
        })
        .unwrap_or(false);
        if fails {
            self.bar.set_message(format!(
                "still violates {}: {} actions, {} servers, {}",
                self.invariant,
                s.actions.len(),
                s.servers.len(),
                crate::scenario::format_duration(s.duration)
            ));
        }
        fails
    }
}

fn size(s: &Scenario) -> Size {
    let events = run(
        s,
        RunOptions {
            seed: Some(s.seed),
            ..Default::default()
        },
    )
    .map_or(0, |o| o.events);
    Size {
        actions: s.actions.len(),
        servers: s.servers.len(),
        duration_ms: s.duration.as_millis(),
        events,
    }
}

/// Shrinks the run of `scn` with `seed`. Errors if that run does not fail.
pub fn shrink(scn: &Scenario, seed: u64) -> Result<Shrunk, String> {
    shrink_with_progress(scn, seed, false)
}

/// [`shrink`], showing a spinner with the runs tried and the current size
/// on standard error when `progress` is set.
pub fn shrink_with_progress(scn: &Scenario, seed: u64, progress: bool) -> Result<Shrunk, String> {
    shrink_keeping(scn, seed, progress, false)
}

/// [`shrink_with_progress`]; with `keep_autoconnects`, the servers left
/// keep their `connect` lists, so the shrunk run re-forms its tree after
/// a split or a shutdown as the original did. Without it a shrunk file
/// can fail for a reason of its own (a server left apart for good) or
/// never reach the quiet end a regression scenario needs.
pub fn shrink_keeping(
    scn: &Scenario,
    seed: u64,
    progress: bool,
    keep_autoconnects: bool,
) -> Result<Shrunk, String> {
    crate::run::validate(scn)?;
    let (mut cur, _) = swarm::expand(scn, seed);
    cur.seed = seed;
    let first = run(
        &cur,
        RunOptions {
            seed: Some(seed),
            ..Default::default()
        },
    )?;
    let Some(v) = first.violations.first() else {
        return Err(format!(
            "seed {seed} of {:?} violates no invariant: nothing to shrink",
            scn.name
        ));
    };
    let mut judge = Judge {
        invariant: v.invariant,
        allowed: first.violations.iter().map(|v| v.invariant).collect(),
        runs: 1,
        bar: if progress {
            indicatif::ProgressBar::new_spinner()
        } else {
            indicatif::ProgressBar::hidden()
        },
    };
    judge.bar.set_style(
        indicatif::ProgressStyle::with_template("{elapsed_precise} {spinner} {pos} runs, {msg}")
            .expect("template"),
    );
    if progress {
        // A ticker thread redraws the spinner; it reads nothing of the run.
        judge
            .bar
            .enable_steady_tick(std::time::Duration::from_millis(200));
    }
    judge.bar.set_message(format!(
        "shrinking a run that violates {}: {} actions, {} servers",
        judge.invariant,
        cur.actions.len(),
        cur.servers.len()
    ));
    let before = size(&cur);
    loop {
        let start = cur.clone();
        cur = ddmin_actions(&mut judge, cur);
        cur = drop_servers(&mut judge, cur);
        if !keep_autoconnects {
            cur = drop_edges(&mut judge, cur);
        }
        cur = shift_earlier(&mut judge, cur);
        cur = shorten(&mut judge, cur);
        cur = round_times(&mut judge, cur);
        if cur == start {
            break;
        }
    }
    if keep_autoconnects {
        cur = run_on_to_quiet(&mut judge, cur);
    }
    cur.name = format!("{}-seed{seed}-min", scn.name);
    cur.description = format!(
        "Shrunk from {:?} seed {seed}: violates {}.\n{}",
        scn.name, judge.invariant, scn.description
    );
    let after = size(&cur);
    judge.bar.finish_and_clear();
    Ok(Shrunk {
        scenario: cur,
        invariant: judge.invariant,
        runs: judge.runs,
        before,
        after,
    })
}

fn ddmin_actions(judge: &mut Judge, mut cur: Scenario) -> Scenario {
    let mut n = 2usize;
    while cur.actions.len() >= 2 {
        let len = cur.actions.len();
        let chunk = len.div_ceil(n);
        let found = (0..n)
            .map(|i| i * chunk)
            .take_while(|&lo| lo < len)
            .find_map(|lo| {
                let mut cand = cur.clone();
                cand.actions.drain(lo..(lo + chunk).min(len));
                judge.fails(&cand).then_some(cand)
            });
        let reduced = found.is_some();
        if let Some(cand) = found {
            cur = cand;
            n = (n - 1).max(2);
        }
        if !reduced {
            if n >= len {
                break;
            }
            n = (2 * n).min(len);
        }
    }
    if cur.actions.len() == 1 {
        let mut cand = cur.clone();
        cand.actions.clear();
        if judge.fails(&cand) {
            cur = cand;
        }
    }
    cur
}

fn mentions(a: &Action, name: &str) -> bool {
    match a {
        Action::Partition { groups } => groups.iter().flatten().any(|g| g == name),
        Action::Heal => false,
        Action::Cut { a, b } | Action::Stall { a, b, .. } | Action::Link { a, b } => {
            a == name || b == name
        }
        Action::Unlink { a, b, via } => a == name || b == name || via.as_deref() == Some(name),
        Action::Kill { server, .. } => server == name,
        Action::Crash { server }
        | Action::Restart { server }
        | Action::Shutdown { server }
        | Action::Skew { server, .. }
        | Action::Broadcast { server, .. } => server == name,
        Action::AddServer { name: n, via } => n == name || via == name,
        _ => false,
    }
}

fn without_server(s: &Scenario, name: &str) -> Scenario {
    let mut c = s.clone();
    c.servers.retain(|d| d.name != name);
    for d in &mut c.servers {
        d.connect.retain(|t| t != name);
    }
    c.actions.retain(|a| match &a.action {
        Action::Partition { .. } => true,
        other => !mentions(other, name),
    });
    for a in &mut c.actions {
        if let Action::Partition { groups } = &mut a.action {
            for g in groups.iter_mut() {
                g.retain(|x| x != name);
            }
            groups.retain(|g| !g.is_empty());
        }
    }
    c.actions
        .retain(|a| !matches!(&a.action, Action::Partition { groups } if groups.is_empty()));
    if let Some(comps) = &mut c.expect.components {
        for comp in comps.iter_mut() {
            comp.retain(|x| x != name);
        }
        comps.retain(|comp| !comp.is_empty());
    }
    if let Some(links) = &mut c.expect.links {
        links.retain(|(a, b)| a != name && b != name);
    }
    if let Some(d) = &mut c.discovery {
        d.seekers.retain(|x| x != name);
    }
    c
}

fn drop_servers(judge: &mut Judge, mut cur: Scenario) -> Scenario {
    let mut i = 0;
    while i < cur.servers.len() {
        let cand = without_server(&cur, &cur.servers[i].name.clone());
        if judge.fails(&cand) {
            cur = cand;
        } else {
            i += 1;
        }
    }
    cur
}

fn drop_edges(judge: &mut Judge, mut cur: Scenario) -> Scenario {
    for i in 0..cur.servers.len() {
        let mut j = 0;
        while j < cur.servers[i].connect.len() {
            let mut cand = cur.clone();
            cand.servers[i].connect.remove(j);
            if judge.fails(&cand) {
                cur = cand;
            } else {
                j += 1;
            }
        }
    }
    cur
}

/// Moves the whole timeline earlier so that it starts at one second, if
/// the failure does not depend on the time the network had to settle.
fn shift_earlier(judge: &mut Judge, mut cur: Scenario) -> Scenario {
    const SEC: u64 = 1_000_000_000;
    let Some(first) = cur.actions.iter().map(|a| a.time.as_nanos()).min() else {
        return cur;
    };
    for target in [SEC, 5 * SEC, 10 * SEC] {
        if first <= target {
            break;
        }
        let delta = first - target;
        let mut cand = cur.clone();
        for a in &mut cand.actions {
            a.time = Duration::from_nanos(a.time.as_nanos() - delta);
        }
        cand.duration = Duration::from_nanos(cand.duration.as_nanos() - delta);
        if judge.fails(&cand) {
            cur = cand;
            break;
        }
    }
    cur
}

/// Lengthens the run to the quiet end its `[expect]` judges, when it
/// still fails so: shortening stopped it just after the violation, and a
/// file that ends before it is quiet cannot pass once the bug is fixed
/// (it fails for the missing judgement instead), so it is no regression
/// scenario yet. The end is the one `drcsim run` asks for: the last fault
/// or operator action plus the settle time, the last client action plus
/// the chat settle time, whichever is later, rounded up to a second.
fn run_on_to_quiet(judge: &mut Judge, cur: Scenario) -> Scenario {
    const SEC: u64 = 1_000_000_000;
    let Ok(cfg) = crate::run::protocol_config(&cur) else {
        return cur;
    };
    let last = |client: bool| {
        cur.actions
            .iter()
            .filter(|a| a.action.is_client_action() == client)
            .map(|a| a.time.as_nanos())
            .max()
            .unwrap_or(0)
    };
    let settle = cur.expect.settle.map_or_else(
        || crate::checkers::convergence::settle(&cfg),
        |d| d.as_nanos(),
    );
    let quiet = crate::checkers::convergence::quiet_from(last(false), last(true), settle, &cfg);
    let end = quiet.div_ceil(SEC) * SEC;
    if end <= cur.duration.as_nanos() {
        return cur;
    }
    let mut cand = cur.clone();
    cand.duration = Duration::from_nanos(end);
    if judge.fails(&cand) {
        cand
    } else {
        cur
    }
}

/// Binary-searches the shortest run that still fails.
fn shorten(judge: &mut Judge, mut cur: Scenario) -> Scenario {
    let floor = cur
        .actions
        .iter()
        .map(|a| a.time.as_nanos())
        .max()
        .unwrap_or(0);
    let (mut lo, mut hi) = (floor, cur.duration.as_nanos());
    const STEP: u64 = 100_000_000;
    while hi > lo + STEP {
        let mid = (lo + (hi - lo) / 2) / STEP * STEP;
        if mid <= lo {
            break;
        }
        let mut cand = cur.clone();
        cand.duration = Duration::from_nanos(mid);
        if judge.fails(&cand) {
            hi = mid;
            cur = cand;
        } else {
            lo = mid;
        }
    }
    cur
}

/// Rounds each action's time to the coarsest of 1s, 100ms, 1ms that keeps
/// the failure, so the file reads like one a person wrote.
fn round_times(judge: &mut Judge, mut cur: Scenario) -> Scenario {
    for i in 0..cur.actions.len() {
        let t = cur.actions[i].time.as_nanos();
        for unit in [1_000_000_000u64, 100_000_000, 1_000_000] {
            let r = (t + unit / 2) / unit * unit;
            if r == t {
                break;
            }
            let mut cand = cur.clone();
            cand.actions[i].time = Duration::from_nanos(r);
            cand.actions.sort_by_key(|a| a.time);
            if judge.fails(&cand) {
                cur = cand;
                break;
            }
        }
    }
    cur
}

impl Shrunk {
    pub fn report(&self) -> String {
        let pct = |a: u64, b: u64| {
            a.checked_mul(100)
                .and_then(|x| x.checked_div(b))
                .map_or(0, |x| 100 - x.min(100))
        };
        format!(
            "violates {} ({} runs tried)\n  actions  {} -> {}\n  servers  {} -> {}\n  duration {}ms -> {}ms\n  events   {} -> {} ({}% smaller)\n",
            self.invariant,
            self.runs,
            self.before.actions,
            self.after.actions,
            self.before.servers,
            self.after.servers,
            self.before.duration_ms,
            self.after.duration_ms,
            self.before.events,
            self.after.events,
            pct(self.after.events, self.before.events)
        )
    }
}
