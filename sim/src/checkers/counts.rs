//! What failed at the clients, counted as the run goes, so that a run
//! whose users could not talk never reads as a clean PASS.
//!
//! No invariant is judged here: a refused send or a lost server is not a
//! protocol bug by itself (a partition refuses sends by design). The
//! counts go into the summary, the JSON and the sweep CSV for a person or
//! a script to judge.

use drc_protocol::client::{Client, ClientState};
use drc_protocol::ChatNote;
use serde::Serialize;

/// Failures the clients reported in notes, counted one by one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ClientCounts {
    /// Room messages refused or given up (not connected, not a member, no
    /// sequencer, no answer after the last retry).
    pub room_sends_failed: u64,
    /// Private messages, and list messages per recipient, that failed.
    pub private_sends_failed: u64,
    /// Nick changes refused by the server, or asked while not connected.
    pub nick_changes_refused: u64,
    /// Registrations the client gave up (timeout, every nick taken).
    pub registrations_given_up: u64,
}

impl ClientCounts {
    /// One note: a match and an increment.
    #[inline]
    pub fn on_note(&mut self, n: &ChatNote) {
        match n {
            ChatNote::SendFailed { .. } => self.room_sends_failed += 1,
            ChatNote::PrivateFailed { .. } => self.private_sends_failed += 1,
            ChatNote::NickRefused { .. } => self.nick_changes_refused += 1,
            ChatNote::RegistrationGivenUp { .. } => self.registrations_given_up += 1,
            _ => {}
        }
    }
}

/// Where the clients stand at the end of a run: every client in exactly
/// one of the five states, so they sum to `total`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct EndStates {
    pub connected: u64,
    /// Quit on the scenario's command: not a failure.
    pub quit: u64,
    /// Removed by a KILL (a nick collision it lost).
    pub killed: u64,
    /// Lost its server (closed, ping timeout, given up) and not back.
    pub disconnected: u64,
    /// Not yet registered: idle, connecting or registering.
    pub pending: u64,
}

impl EndStates {
    pub fn add(&mut self, state: ClientState) {
        // Exhaustive: a new state must be placed in one of the five.
        let slot = match state {
            ClientState::Connected => &mut self.connected,
            ClientState::Quit => &mut self.quit,
            ClientState::Killed => &mut self.killed,
            ClientState::Disconnected => &mut self.disconnected,
            ClientState::Idle | ClientState::Connecting | ClientState::Registering => {
                &mut self.pending
            }
        };
        *slot += 1;
    }

    /// Clients that wanted to be connected at the end and were not.
    pub fn not_connected(&self) -> u64 {
        self.killed + self.disconnected + self.pending
    }
}

/// The counts of a whole run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ClientSummary {
    pub total: u64,
    pub at_end: EndStates,
    #[serde(flatten)]
    pub counts: ClientCounts,
    /// Room messages still queued at the end, never echoed back (sent
    /// without an answer yet, or waiting behind one).
    pub room_sends_unconfirmed: u64,
}

impl ClientSummary {
    /// Adds the end state of each client to the counts the notes gave.
    pub fn at_end<'a>(counts: ClientCounts, clients: impl Iterator<Item = &'a Client>) -> Self {
        let mut s = ClientSummary {
            counts,
            ..Default::default()
        };
        for c in clients {
            s.total += 1;
            s.at_end.add(c.state());
            s.room_sends_unconfirmed += c.rooms().map(|r| r.unsent() as u64).sum::<u64>();
        }
        s
    }
}

/// Measures worth comparing between protocol variants, counted from the
/// notes and the wire as the run goes. None is judged: they describe
/// what a run cost and how much it lost, for `drcsim compare` and the CSV.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Measures {
    /// Frames handed to the network (servers and clients), and their bytes.
    pub wire_frames: u64,
    pub wire_bytes: u64,
    /// Nick collisions resolved, counted at every server that resolved one.
    pub collisions: u64,
    /// KILLs, SAVEs (renames) and REJECTs sent, counted at every server
    /// that decided one (each server that sees both claims decides, the
    /// same way); each then floods as resolution frames.
    pub kills_sent: u64,
    pub saves_sent: u64,
    pub rejects_sent: u64,
    /// Room messages numbered by a sequencer, and numbers it skipped.
    pub messages_sequenced: u64,
    pub seq_skipped: u64,
    /// Room messages shown to users, and numbers the clients passed over.
    pub deliveries: u64,
    pub gaps_closed: u64,
    /// Of those, numbers that carried a message the client had not shown
    /// (filled in at the end of a run from the room checker, so 0 with the
    /// checkers off).
    pub messages_passed_over: u64,
    /// And numbers that carried a copy of a message the client had shown
    /// already (a retry's second copy, dropped as a duplicate; filled in
    /// the same way).
    pub copies_passed_over: u64,
    /// Distinct room streams (room, epoch, sequencer) that numbered or
    /// skipped anything: one per room plus one per epoch started after it.
    pub epochs_started: u64,
    /// List message copies `list.kept` held the network to (addressed
    /// while no fault had touched the run and the servers were one tree),
    /// and of those the ones forgiven by a later fault or split (filled
    /// in at the end of a run, so 0 with the checkers off).
    pub list_copies_judged: u64,
    pub list_copies_forgiven: u64,
    #[serde(skip)]
    streams: std::collections::BTreeSet<(std::sync::Arc<str>, drc_protocol::Stream)>,
}

impl Measures {
    pub fn on_note(&mut self, n: &ChatNote) {
        match n {
            ChatNote::Collision { .. } => self.collisions += 1,
            ChatNote::Resolution { kind, .. } => match *kind {
                "KILL" => self.kills_sent += 1,
                "SAVE" => self.saves_sent += 1,
                _ => self.rejects_sent += 1,
            },
            ChatNote::Sequenced { room, stream, .. } => {
                self.messages_sequenced += 1;
                self.stream(room, stream);
            }
            ChatNote::SeqSkipped { room, stream, .. } => {
                self.seq_skipped += 1;
                self.stream(room, stream);
            }
            ChatNote::Delivered { .. } => self.deliveries += 1,
            ChatNote::GapClosed { .. } => self.gaps_closed += 1,
            _ => {}
        }
    }

    fn stream(&mut self, room: &std::sync::Arc<str>, stream: &drc_protocol::Stream) {
        // Cheap for the common case: the stream is already known.
        if !self.streams.contains(&(room.clone(), stream.clone())) {
            self.streams.insert((room.clone(), stream.clone()));
            self.epochs_started += 1;
        }
    }

    pub fn on_send(&mut self, bytes: usize) {
        self.wire_frames += 1;
        self.wire_bytes += bytes as u64;
    }
}
