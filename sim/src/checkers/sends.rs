//! `send.kept`: while no fault has touched a run, no member's room
//! message is refused.
//!
//! A client tells its user when a message could not be sent (no sequencer
//! in reach, no answer after its tries, a refusal). After a partition, a
//! cut, a crash and the like that can be the protocol doing its best. But
//! the graceful operations (a server shutting down and handing its
//! clients and streams on, a seamless redirect, a server added, nick
//! changes, joins) promise that nothing is lost, and a message refused
//! during one broke no other invariant: its client was told, and nobody
//! waits for a message that was never numbered. This check makes the
//! promise part of a PASS.
//!
//! It judges room messages only: a private message to a nick that has
//! just gone is refused rightly in any run.

use drc_protocol::ChatNote;

use crate::clock::SimTime;
use crate::scenario::Action;

/// Refusals that are the user's own doing: a room it is not in, a room
/// that does not exist, no session to send on. Every other reason is the
/// network's.
const USERS_OWN: &[&str] = &["not a member", "no such room", "not connected"];

/// The faults after which a refused message may be the protocol doing
/// its best: anything that loses frames, links or processes. A clock skew
/// moves no timer (they run on the monotonic clock), and shutdowns,
/// redirects, new servers and operator links are the graceful operations
/// this check is about.
pub fn fault_kind(a: &Action) -> Option<&'static str> {
    Some(match a {
        Action::Partition { .. } => "partition",
        Action::Cut { .. } => "cut",
        Action::Stall { .. } => "stall",
        Action::Crash { .. } => "crash",
        Action::Restart { .. } => "restart",
        Action::Unlink { .. } => "unlink",
        Action::Kill { .. } => "kill",
        Action::Storm { .. } => "storm",
        _ => return None,
    })
}

#[derive(Default)]
pub struct SendChecks {
    /// The run's first fault: when, and its kind. From then on no refusal
    /// is judged.
    pub fault: Option<(SimTime, &'static str)>,
}

impl SendChecks {
    pub fn on_action(&mut self, now: SimTime, a: &Action) {
        if self.fault.is_none() {
            self.fault = fault_kind(a).map(|k| (now, k));
        }
    }

    /// What is wrong with note `n` at a client, if anything. `split`
    /// answers whether the running servers are in more than one tree
    /// now (asked only for a refusal in a run with no fault): a graceful
    /// shutdown can leave a server no way back, and then its clients'
    /// messages may rightly find no sequencer.
    pub fn judge(&self, n: &ChatNote, split: impl FnOnce() -> bool) -> Option<String> {
        let ChatNote::SendFailed { room, reason } = n else {
            return None;
        };
        if self.fault.is_some() || USERS_OWN.contains(&&**reason) || split() {
            return None;
        }
        Some(format!(
            "a message to {room} was refused ({reason}) in a run no fault has touched"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(reason: &str) -> ChatNote {
        ChatNote::SendFailed {
            room: "#r".into(),
            reason: reason.into(),
        }
    }

    #[test]
    fn a_refusal_in_a_calm_run_is_a_violation_and_after_a_fault_it_is_not() {
        let mut s = SendChecks::default();
        let why = s.judge(&failed("no sequencer reachable"), || false);
        assert_eq!(
            why.as_deref(),
            Some("a message to #r was refused (no sequencer reachable) in a run no fault has touched")
        );
        // The user's own mistakes, and a network left split, are not.
        assert_eq!(s.judge(&failed("not a member"), || false), None);
        assert_eq!(s.judge(&failed("no answer"), || true), None);
        // A shutdown is no fault; a crash is, from then on.
        s.on_action(5, &Action::Shutdown { server: "a".into() });
        assert_eq!(s.fault, None);
        s.on_action(7, &Action::Crash { server: "a".into() });
        s.on_action(
            9,
            &Action::Cut {
                a: "a".into(),
                b: "b".into(),
            },
        );
        assert_eq!(s.fault, Some((7, "crash")));
        assert_eq!(s.judge(&failed("no answer"), || false), None);
    }
}
