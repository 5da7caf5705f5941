//! `drc-protocol`: the sans-IO core of the Distributed Relay Chat network.
//!
//! Nothing in this crate reads a clock, opens a socket, spawns a thread or
//! owns a global random generator. Time and randomness are arguments; the
//! outputs are values the environment acts on.

pub mod time;
pub mod wire;
