//! `drc-sim`: a deterministic discrete-event simulator for the DRC protocol.

pub mod scenario;
