//! The determinism self-check: run a scenario twice, compare a hash after
//! every event, and on a mismatch show the first divergent event as each
//! run recorded it.

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

fn traced(scn: &Scenario, seed: u64) -> Result<(Outcome, Vec<u8>), String> {
    let sink = SharedBuffer::default();
    let o = run(
        scn,
        RunOptions {
            seed: Some(seed),
            trace: Some(Box::new(sink.clone())),
            stop_on_violation: false,
            event_hashes: true,
            trace_filter: Default::default(),
            summary: Default::default(),
            progress: false,
        },
    )?;
    let bytes = sink.contents();
    Ok((o, bytes))
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
    let (a, ta) = traced(scn, seed_a)?;
    let (b, tb) = traced(scn, seed_b)?;
    let ha = a.event_hashes.as_deref().unwrap_or_default();
    let hb = b.event_hashes.as_deref().unwrap_or_default();
    let divergence = first_divergence(ha, hb).map(|i| {
        let event = i as u64 + 1;
        Divergence {
            event,
            first: lines_of(&ta, event),
            second: lines_of(&tb, event),
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
