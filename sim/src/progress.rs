//! A progress line on standard error for runs that take minutes.
//!
//! At scale a run is silent for a long time (10,000 servers set up for
//! about three minutes, 250,000 users for a minute and a half before the
//! timed part starts), and a user cannot tell a slow run from a stuck
//! one. When standard error is a terminal, `drcsim run` and the benches
//! draw one line: the phase, the simulated time reached of the run's
//! end, the events so far and the wall time.
//!
//! The line is drawn between steps of simulated time, never from inside
//! the event loop, so the loop is the same code with or without it.
//! Stepping changes nothing in a run: [`World::run_until`] runs exactly
//! the events scheduled before its argument, so a run taken in steps has
//! the same events in the same order, and the same trace hash, as the run
//! taken in one go (tested below). A hidden line takes no steps at all.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::clock::SimTime;
use crate::world::World;

/// Simulated time between two updates of the line: short enough that the
/// slowest runs measured (about 1.3 simulated seconds a wall second at
/// 250,000 users) still move it several times a second.
const STEP: SimTime = 100_000_000;

/// The line, or nothing.
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// No line, and no steps: the run goes in one call.
    pub fn hidden() -> Self {
        Progress { bar: None }
    }

    /// A line on standard error when `wanted` and standard error is a
    /// terminal (not when it is redirected to a file or a pipe, where
    /// the redraws would be noise).
    pub fn on_terminal(wanted: bool) -> Self {
        if wanted && std::io::stderr().is_terminal() {
            Self::drawn_to(ProgressDrawTarget::stderr())
        } else {
            Self::hidden()
        }
    }

    fn drawn_to(target: ProgressDrawTarget) -> Self {
        let bar = ProgressBar::with_draw_target(Some(0), target);
        bar.set_style(
            ProgressStyle::with_template("{elapsed_precise} [{bar:24}] {msg}")
                .expect("a fixed template")
                .progress_chars("=> "),
        );
        Progress { bar: Some(bar) }
    }

    /// Runs every event of `world` scheduled before `t`, as
    /// [`World::run_until`] does, the line naming `phase` and going from
    /// where the world is to `t` (simulated ns).
    pub fn run_until(&self, world: &mut World, t: SimTime, phase: &str) {
        let Some(bar) = &self.bar else {
            return world.run_until(t);
        };
        let start = world.now.min(t);
        bar.set_length((t - start) / 1_000_000);
        loop {
            // From the next event on, not from the last step: a quiet
            // stretch of simulated time (a scenario may last years) is
            // crossed in one step.
            let from = match world.next_event_time() {
                Some(next) if next < t && !world.stopped_early => next,
                _ => break,
            };
            let to = from.saturating_add(STEP).min(t);
            world.run_until(to);
            Self::show(bar, world, start, to, t, phase);
        }
        // Everything before `t` has run, however far the last step got.
        Self::show(bar, world, start, t, t, phase);
    }

    fn show(
        bar: &ProgressBar,
        world: &World,
        start: SimTime,
        at: SimTime,
        t: SimTime,
        phase: &str,
    ) {
        bar.set_position((at - start) / 1_000_000);
        bar.set_message(format!(
            "{phase}: {:.1} of {:.1} s simulated, {} events",
            at as f64 / 1e9,
            t as f64 / 1e9,
            world.events
        ));
    }

    /// Runs `world` to its end, as [`World::run`] does, the line naming
    /// `phase`; `end` is the run's end in simulated ns.
    /// Hidden, it is one call of [`World::run`], which a profiler can
    /// count alone (docs/performance.md).
    pub fn run(&self, world: &mut World, end: SimTime, phase: &str) {
        if self.bar.is_some() {
            self.run_until(world, end, phase);
            if world.stopped_early {
                // At the first violation (`--stop-at-first`) or past the
                // event budget: where `run` would have stopped too.
                return;
            }
        }
        world.run();
    }

    /// Takes the line off the terminal, for the report that follows.
    pub fn clear(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A line with nowhere to draw: steps taken as on a terminal.
    fn stepping() -> Progress {
        Progress::drawn_to(ProgressDrawTarget::hidden())
    }

    /// The text of a scenario of the suite.
    fn stock(name: &str) -> String {
        let path = format!("{}/../scenarios/{name}.toml", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).expect(&path)
    }

    fn world(text: &str) -> (crate::scenario::Scenario, World) {
        let scn = crate::scenario::parse_str(text, "t.toml").expect("scenario");
        let (scn, _) = crate::swarm::expand(&scn, scn.seed);
        let world = crate::run::build(&scn, &mut Default::default()).expect("world");
        (scn, world)
    }

    #[test]
    fn a_run_taken_in_steps_is_the_run_taken_in_one_go() {
        // A swarm's seed: faults, users and timers all through the run.
        let text = stock("swarm-chat");
        let (scn, mut whole) = world(&text);
        whole.run();
        let (_, mut stepped) = world(&text);
        let end = scn.duration.as_nanos();
        stepping().run(&mut stepped, end, "run");
        assert!(whole.events > 10_000, "{} events", whole.events);
        assert_eq!(stepped.events, whole.events);
        assert_eq!(stepped.hash.hex(), whole.hash.hex());
        assert_eq!(stepped.now, whole.now);
    }

    #[test]
    fn a_run_stopped_at_its_first_violation_stops_there_in_steps_too() {
        // An ablation that fails.
        let text = stock("ablate-dedup");
        let (scn, mut whole) = world(&text);
        whole.stop_on_violation = true;
        whole.run();
        assert!(whole.stopped_early && !whole.checks.violations.is_empty());
        let (_, mut stepped) = world(&text);
        stepped.stop_on_violation = true;
        stepping().run(&mut stepped, scn.duration.as_nanos(), "run");
        assert_eq!(stepped.events, whole.events);
        assert_eq!(
            stepped.checks.violations.len(),
            whole.checks.violations.len()
        );
        assert_eq!(stepped.hash.hex(), whole.hash.hex());
    }

    #[test]
    fn the_line_follows_simulated_time_and_stops_where_asked() {
        let (scn, mut w) = world(crate::DEFAULT_SCENARIO);
        let p = stepping();
        let end = scn.duration.as_nanos();
        p.run_until(&mut w, end / 4, "set-up");
        let start = w.now;
        p.run_until(&mut w, end / 2, "timed");
        let bar = p.bar.as_ref().expect("a line");
        // The second phase's bar goes from where the first one stopped to
        // where it was asked to, and got there.
        assert_eq!(bar.length(), Some((end / 2 - start) / 1_000_000));
        assert_eq!(bar.position(), (end / 2 - start) / 1_000_000);
        assert!(bar.message().starts_with("timed: "), "{}", bar.message());
        // Nothing at or after the step's end has run.
        assert!(w.now < end / 2);
        assert!(w.next_event_time().is_some_and(|t| t >= end / 2));
    }

    #[test]
    fn a_hidden_line_runs_in_one_go() {
        let (scn, mut w) = world(crate::DEFAULT_SCENARIO);
        let (_, mut plain) = world(crate::DEFAULT_SCENARIO);
        let end = scn.duration.as_nanos();
        Progress::hidden().run(&mut w, end, "run");
        plain.run();
        assert_eq!(w.hash.hex(), plain.hash.hex());
        assert!(Progress::on_terminal(false).bar.is_none());
    }
}
