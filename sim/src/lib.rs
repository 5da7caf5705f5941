//! `drc-sim`: a deterministic discrete-event simulator for the DRC protocol.
//!
//! - [`clock`]: virtual time and the event queue;
//! - [`network`]: TCP-like connections, latency, partitions and stalls;
//! - [`host`]: a simulated machine running one server process;
//! - [`world`]: the event loop and the scenario's faults and commands;
//! - [`checkers`]: the invariants, safety and convergence;
//! - [`scenario`]: the scenario file format;
//! - [`run`]: one run judged against `[expect]`; [`trace`]: hashes and JSONL;
//! - [`cli`], [`bench`]: the `drcsim` command; [`huge_pages`]: its allocator;
//!   [`progress`]: its progress line.

pub mod bench;
pub mod checkers;
pub mod cli;
pub mod clock;
pub mod compare;
pub mod footprint;
pub mod host;
pub mod huge_pages;
pub mod network;
pub mod progress;
pub mod provenance;
pub mod replay;
pub mod rng;
pub mod run;
pub mod scenario;
pub mod shrink;
pub mod swarm;
pub mod sweep;
pub mod trace;
pub mod view;
pub mod workload;
pub mod world;

/// The scenario `drcsim run` uses when given no file.
pub const DEFAULT_SCENARIO: &str = include_str!("default.toml");
