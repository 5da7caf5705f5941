//! `stream.kept`: under the `home` ordering, while no fault has touched a
//! run, every room keeps the stream it was created with.
//!
//! Under `home` nobody elects a sequencer: a room's stream changes only
//! when its home restarts (a fault) or when its sequencer shut down for
//! good without handing it over, and the servers left elect so that the
//! room does not die. That rescue starts a new epoch, and whatever the old
//! stream held that a member had not delivered is lost with it, so in a
//! calm run it means a shutdown failed to hand a stream over: the promise
//! is that a shutdown hands it over whole. Stream epochs only grow at a
//! server, so looking once, when the first fault comes or at the end,
//! sees every replacement the calm part of the run made.

use drc_protocol::config::Ordering;

use super::Violation;
use crate::clock::SimTime;
use crate::host::Host;

/// One violation per room that some server up (running or shut down)
/// holds on a stream later than the one it was created with.
pub fn streams_kept(now: SimTime, ordering: Ordering, hosts: &[Host]) -> Vec<Violation> {
    let mut out: Vec<Violation> = Vec::new();
    if ordering != Ordering::Home {
        return out;
    }
    let mut seen = std::collections::BTreeSet::new();
    for h in hosts.iter().filter(|h| !h.is_client && h.up) {
        let Some(s) = h.server.as_ref() else {
            continue;
        };
        for r in s.rooms() {
            if r.stream.epoch <= 1 || !seen.insert(r.name.to_string()) {
                continue;
            }
            out.push(Violation {
                invariant: "stream.kept",
                time_ms: now / 1_000_000,
                host: Some(h.label.clone()),
                detail: format!(
                    "{} is on stream {}.{}, not the one it was created with, in a run no fault has touched",
                    r.name, r.stream.epoch, r.stream.seq
                ),
            });
        }
    }
    out
}
