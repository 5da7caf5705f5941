//! `drc-protocol`: the sans-IO core of the Distributed Relay Chat network.
//!
//! Nothing in this crate reads a clock, opens a socket, spawns a thread or
//! owns a global random generator. Time and randomness are arguments; the
//! outputs are values the environment acts on. The one piece of state
//! outside a server, [`intern`], is a per-thread cache of immutable
//! strings that cannot change what a server does.

pub mod client;
pub mod config;
pub mod crypto;
mod id_map;
pub mod identity;
pub mod intern;
pub mod message;
mod name_map;
pub mod names;
pub mod outbox;
pub mod room_text;
pub mod server;
pub mod time;
pub mod token;
pub mod vec_map;
pub mod wire;

pub use config::{Ablations, Config};
pub use identity::{Identity, LinkTag, Registry};
pub use outbox::{ChatNote, CloseReason, LinkId, Note, Outbox, Output, Stream};
pub use room_text::RoomText;
pub use server::{Command, Input, Server};
pub use time::{Duration, Instant};
