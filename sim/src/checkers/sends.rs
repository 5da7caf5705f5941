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
/// that does not exist, no session to send on, and the messages still on
/// their way when the user left their room or quit. Every other reason is
/// the network's.
const USERS_OWN: &[&str] = &[
    "not a member",
    "no such room",
    "not connected",
    "left the room",
    "left the room before it was confirmed",
    "the user quit",
    "the user quit before it was confirmed",
];

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
    /// The server link graph changed since the split was last looked at.
    pub dirty: bool,
    /// The running servers are in more than one tree now.
    split_now: bool,
    /// The last time they were seen split.
    last_split: Option<SimTime>,
    /// How long after a split a refusal is still excused: a request held
    /// while the tree re-forms is answered when `relink_grace` ends, and
    /// its answer then travels to the client (1 s more).
    window: SimTime,
}

impl SendChecks {
    pub fn new(relink_grace: SimTime) -> Self {
        SendChecks {
            window: relink_grace + 1_000_000_000,
            ..SendChecks::default()
        }
    }

    pub fn on_action(&mut self, now: SimTime, a: &Action) {
        if self.fault.is_none() {
            self.fault = fault_kind(a).map(|k| (now, k));
        }
    }

    /// Whether the split must be looked at again (only while calm: after a
    /// fault nothing is judged).
    pub fn wants_split(&self) -> bool {
        self.dirty && self.fault.is_none()
    }

    /// The running servers are (`split`) or are not in more than one tree
    /// at `now`, after a change of the link graph.
    pub fn set_split(&mut self, now: SimTime, split: bool) {
        if split || self.split_now {
            self.last_split = Some(now);
        }
        self.split_now = split;
        self.dirty = false;
    }

    /// No fault has touched the run, and the running servers are one
    /// tree and were for the window before `now`.
    pub fn calm(&self, now: SimTime) -> bool {
        let split_lately = self.split_now
            || self
                .last_split
                .is_some_and(|t| now.saturating_sub(t) <= self.window);
        self.fault.is_none() && !split_lately
    }

    /// What is wrong with note `n` at a client at `now`, if anything. A
    /// refusal is excused while the running servers are split or were
    /// within the window: a graceful shutdown can leave a server no way
    /// back for a while, and then its clients' messages may rightly find
    /// no sequencer (and the refusal, decided while split, may reach the
    /// client after the tree is whole again).
    pub fn judge(&self, now: SimTime, n: &ChatNote) -> Option<String> {
        let ChatNote::SendFailed { room, reason, .. } = n else {
            return None;
        };
        if !self.calm(now) || USERS_OWN.contains(&&**reason) {
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
            k: None,
        }
    }

    #[test]
    fn a_refusal_in_a_calm_run_is_a_violation_and_after_a_fault_it_is_not() {
        let mut s = SendChecks::new(3_000);
        let why = s.judge(10, &failed("no sequencer reachable"));
        assert_eq!(
            why.as_deref(),
            Some("a message to #r was refused (no sequencer reachable) in a run no fault has touched")
        );
        // The user's own mistakes are not.
        assert_eq!(s.judge(10, &failed("not a member")), None);
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
        assert_eq!(s.judge(10, &failed("no answer")), None);
    }

    /// A refusal while the servers are split, or within relink_grace and
    /// a second of the split's end, is excused; later it is not.
    #[test]
    fn a_refusal_during_or_just_after_a_split_is_excused() {
        let second = 1_000_000_000;
        let mut s = SendChecks::new(3 * second);
        s.dirty = true;
        assert!(s.wants_split());
        s.set_split(10 * second, true);
        assert!(!s.wants_split());
        assert_eq!(s.judge(11 * second, &failed("no answer")), None);
        s.set_split(12 * second, false);
        assert_eq!(s.judge(16 * second, &failed("no answer")), None);
        assert!(s.judge(16 * second + 1, &failed("no answer")).is_some());
    }
}
