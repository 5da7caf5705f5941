//! Feeds arbitrary text to the scenario parser: it must return a located
//! error or a scenario that survives a write/parse round trip.

#![no_main]

use drc_sim::scenario;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match scenario::parse_str(text, "fuzz.toml") {
        Ok(s) => {
            let again = scenario::parse_str(&s.to_toml(), "again.toml").expect("written scenario parses");
            assert_eq!(s, again);
        }
        Err(e) => {
            assert!(e.line >= 1 && e.col >= 1, "{e}");
        }
    }
});
