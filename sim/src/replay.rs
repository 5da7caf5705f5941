//! The determinism self-check: run a scenario twice, compare a hash after
//! every event, and on a mismatch show the first divergent event as each
//! run recorded it (each run again, traced up to that event).

use crate::run::{run, Outcome, RunOptions};
use crate::scenario::Scenario;
use crate::trace::SharedBuffer;

/// The first event at which two runs differ, with each run's trace lines
/// for it (frames delivered, notes, actions).
#[derive(Debug)]
pub struct Divergence {
    /// 1-based event number.
    pub event: u64,
    pub first: Vec<String>,
    pub second: Vec<String>,
}

pub struct Replay {
    pub outcome: Outcome,
    pub events: usize,
    pub divergence: Option<Divergence>,
}

/// One run with a hash after every event and no trace: what the check
/// compares costs 8 bytes an event, whatever the run's size (a full trace
/// of a 1,000-server tree is about 2 GB, and the check kept two).
fn hashed(scn: &Scenario, seed: u64) -> Result<Outcome, String> {
    run(
        scn,
        RunOptions {
            seed: Some(seed),
            event_hashes: true,
            // The report reads counts alone; the run is the same.
            summary: crate::run::Summary::Brief,
            ..Default::default()
        },
    )
}

/// The trace lines of event `event` of one run: the run again, traced
/// and stopped after that event, its trace held up to
/// `limit` bytes ([`crate::view::TRACE_LIMIT`]). `None` when the trace
/// up to there is larger.
fn lines_at(scn: &Scenario, seed: u64, event: u64, limit: usize) -> Option<Vec<String>> {
    let mut cut = scn.clone();
    cut.limits.max_events = event;
    let sink = SharedBuffer::with_limit(limit);
    let o = run(
        &cut,
        RunOptions {
            seed: Some(seed),
            trace: Some(Box::new(sink.clone())),
            summary: crate::run::Summary::Brief,
            ..Default::default()
        },
    );
    if sink.overflowed() {
        return None;
    }
    o.ok()?;
    Some(lines_of(&sink.contents(), event))
}

/// Index of the first differing hash (or the shorter length).
pub fn first_divergence(a: &[u64], b: &[u64]) -> Option<usize> {
    a.iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .or((a.len() != b.len()).then(|| a.len().min(b.len())))
}

fn lines_of(trace: &[u8], event: u64) -> Vec<String> {
    let key = format!("\"n\":{event},");
    String::from_utf8_lossy(trace)
        .lines()
        .filter(|l| l.contains(&key))
        .map(str::to_string)
        .collect()
}

/// Runs `scn` with `seed_a` and then `seed_b` and compares them event by
/// event. With equal seeds any difference is nondeterminism.
pub fn compare(scn: &Scenario, seed_a: u64, seed_b: u64) -> Result<Replay, String> {
    let a = hashed(scn, seed_a)?;
    let b = hashed(scn, seed_b)?;
    let ha = a.event_hashes.as_deref().unwrap_or_default();
    let hb = b.event_hashes.as_deref().unwrap_or_default();
    // Only a divergence is traced, each run again up to it.
    let divergence = first_divergence(ha, hb).map(|i| {
        let event = i as u64 + 1;
        let lines = |seed| {
            lines_at(scn, seed, event, crate::view::TRACE_LIMIT).unwrap_or_else(|| {
                vec![format!(
                    "(not shown: the trace up to event {event} is more than {} MiB)",
                    crate::view::TRACE_LIMIT >> 20
                )]
            })
        };
        Divergence {
            event,
            first: lines(seed_a),
            second: lines(seed_b),
        }
    });
    let events = ha.len();
    Ok(Replay {
        outcome: a,
        events,
        divergence,
    })
}

pub fn replay(scn: &Scenario, seed: u64) -> Result<Replay, String> {
    compare(scn, seed, seed)
}

impl Replay {
    pub fn report(&self) -> String {
        let mut s = self.outcome.summary();
        match &self.divergence {
            None => s.push_str(&format!(
                "  determinism: identical hash after each of {} events in two runs\n",
                self.events
            )),
            Some(d) => {
                s.push_str(&format!(
                    "  determinism: RUNS DIVERGE at event {}\n",
                    d.event
                ));
                s.push_str("  first run:\n");
                for l in &d.first {
                    s.push_str(&format!("    {l}\n"));
                }
                s.push_str("  second run:\n");
                for l in &d.second {
                    s.push_str(&format!("    {l}\n"));
                }
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_divergence_finds_the_first_difference() {
        assert_eq!(first_divergence(&[1, 2, 3], &[1, 2, 3]), None);
        assert_eq!(first_divergence(&[1, 2, 3], &[1, 9, 3]), Some(1));
        assert_eq!(first_divergence(&[1, 2], &[1, 2, 3]), Some(2));
    }

    /// A run traced up to an event shows that event as the whole run's
    /// trace does; past the limit it shows nothing.
    #[test]
    fn an_event_traced_up_to_is_the_event_of_the_whole_trace() {
        let scn = crate::scenario::parse_str(crate::DEFAULT_SCENARIO, "default").unwrap();
        let sink = SharedBuffer::default();
        run(
            &scn,
            RunOptions {
                seed: Some(7),
                trace: Some(Box::new(sink.clone())),
                ..Default::default()
            },
        )
        .unwrap();
        let whole = sink.contents();
        let mut shown = 0;
        for event in [1, 40, 41, 42, 300, 301, 302] {
            let cut = lines_at(&scn, 7, event, crate::view::TRACE_LIMIT).expect("small");
            assert_eq!(cut, lines_of(&whole, event), "event {event}");
            shown += usize::from(!cut.is_empty());
        }
        // Some events leave no line of their own (16 of the 372 here).
        assert!(shown >= 4, "{shown} of 7 events with lines");
        assert_eq!(lines_at(&scn, 7, 300, 1_000), None);
    }

    #[test]
    fn a_divergence_is_named_with_both_versions() {
        let scn = crate::scenario::parse_str(crate::DEFAULT_SCENARIO, "default").unwrap();
        assert!(replay(&scn, 7).unwrap().divergence.is_none());
        // Two seeds stand in for a nondeterministic run.
        let r = compare(&scn, 7, 8).unwrap();
        let d = r.divergence.as_ref().expect("different seeds diverge");
        assert!(d.event >= 1);
        assert!(!d.first.is_empty() || !d.second.is_empty(), "{d:?}");
        assert_ne!(d.first, d.second);
        assert!(r
            .report()
            .contains(&format!("RUNS DIVERGE at event {}", d.event)));
    }
}
