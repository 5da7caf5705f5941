//! Scenario files: a TOML description of a network, a timeline of actions
//! and the expected outcome.
//!
//! [`parse_str`] and [`load`] read and validate a file; every problem is a
//! [`ScenarioError`] with the file, line and column at fault.
//! [`Scenario::to_toml`] writes a scenario back out.

mod duration;
mod error;
mod model;
mod parse;
mod write;

#[cfg(test)]
mod tests;

use std::path::Path;

pub use duration::{
    format_duration, format_signed_duration, parse_duration, parse_signed_duration,
};
pub use error::ScenarioError;
pub use model::{
    client_ids, ppm_to_f64, Action, ClientDecl, DiscoverySection, Expect, FaultKind, FaultsSection,
    GreeterSection, Limits, NetworkSection, NickCollision, Ordering, ProtocolSection, Scenario,
    SendMode, ServerDecl, TimedAction, Verdict, WorkloadSection, DEFAULT_MAX_EVENTS, MAX_FAULTS,
    MAX_TIME, MAX_WORKLOAD_ACTIONS, MIN_MEAN_GAP, MIN_TIMER, TOKEN_ATTACKS,
};

/// Protocol safeguards a scenario can switch off with `[protocol] ablate`:
/// the protocol crate's list, by name.
pub const KNOWN_ABLATIONS: &[&str] = &drc_protocol::config::ABLATION_NAMES;

/// Parses and validates scenario text; `file` names it in errors.
pub fn parse_str(src: &str, file: &str) -> Result<Scenario, ScenarioError> {
    parse::parse(src, file)
}

/// Parses scenario text that is about to be run (today the same as
/// [`parse_str`]: every action the format knows can be simulated).
pub fn parse_for_run(src: &str, file: &str) -> Result<Scenario, ScenarioError> {
    parse::parse(src, file)
}

/// Reads and parses a scenario file to be run (see [`parse_for_run`]).
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let file = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(src) => parse_for_run(&src, &file),
        Err(e) => Err(ScenarioError {
            file,
            line: 0,
            col: 0,
            message: format!("cannot read scenario file: {e}"),
            source_line: String::new(),
        }),
    }
}
