//! Where a result came from: the drcsim build, the scenario's content and
//! the seeds. Trace hashes change between versions and a `--set` changes
//! a scenario without touching its file, so every output that carries
//! figures (the run's JSON, the trace, the sweep and comparison CSVs)
//! names all of them.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::scenario::{self, Scenario, ScenarioError};
use crate::trace::TraceHash;

/// The version with the commit it was built from.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("DRCSIM_COMMIT"), ")");

/// A 64-bit hash of the scenario text that was run (the file with every
/// `--set` applied), as 16 hex digits. It detects a changed scenario; it
/// does not resist forgery.
pub fn content_hash(text: &str) -> String {
    let mut h = TraceHash::default();
    h.bytes(text.as_bytes());
    h.hex()
}

/// A scenario as it will run, with the text it was parsed from.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub scenario: Scenario,
    /// The effective text: the file's, or its TOML rewritten with the
    /// `--set` overrides.
    pub text: String,
}

impl Loaded {
    pub fn hash(&self) -> String {
        content_hash(&self.text)
    }
}

/// Why loading failed: a located error in the file itself, or an
/// override that broke an otherwise valid file.
#[derive(Debug)]
pub enum LoadError {
    Scenario(ScenarioError),
    Set(String),
}

/// Reads a scenario (the built-in demo when `path` is `None`) and applies
/// `KEY=VALUE` overrides to its TOML before it is parsed, so that any key
/// the parser knows (including ones added later) can be set.
pub fn load(path: Option<&Path>, sets: &[String]) -> Result<Loaded, LoadError> {
    let (text, file) = match path {
        Some(p) => {
            let file = p.display().to_string();
            let text = std::fs::read_to_string(p).map_err(|e| {
                LoadError::Scenario(ScenarioError {
                    file: file.clone(),
                    line: 0,
                    col: 0,
                    message: format!("cannot read scenario file: {e}"),
                    source_line: String::new(),
                })
            })?;
            (text, file)
        }
        None => (
            crate::DEFAULT_SCENARIO.to_string(),
            "<built-in default>".to_string(),
        ),
    };
    let parsed = scenario::parse_for_run(&text, &file).map_err(LoadError::Scenario)?;
    apply_sets(parsed, text, &file, sets)
}

/// Applies the overrides one at a time, parsing after each, so that an
/// error names the override that caused it rather than a line of a
/// rewritten file the user never saw. A scenario that does not parse
/// between two overrides is judged only at the end: settings that must
/// agree (a ping timeout longer than the ping interval) can be given in
/// either order. What still fails at the end is named by the override
/// after which it never parsed again.
pub fn apply_sets(
    parsed: Scenario,
    text: String,
    file: &str,
    sets: &[String],
) -> Result<Loaded, LoadError> {
    if sets.is_empty() {
        return Ok(Loaded {
            scenario: parsed,
            text,
        });
    }
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e| LoadError::Set(format!("{file}: {e}")))?;
    let mut scenario = Ok(parsed);
    let mut failing_since: Option<&String> = None;
    for s in sets {
        let (key, value) = s
            .split_once('=')
            .ok_or_else(|| LoadError::Set(format!("--set {s}: expected KEY=VALUE")))?;
        set_key(&mut doc, key.trim(), parse_value(value.trim()))
            .map_err(|m| LoadError::Set(format!("--set {s}: {m}")))?;
        scenario = scenario::parse_str(&doc.to_string(), file);
        match (&scenario, failing_since) {
            (Ok(_), _) => failing_since = None,
            (Err(_), None) => failing_since = Some(s),
            (Err(_), Some(_)) => {}
        }
    }
    match scenario {
        Ok(scenario) => Ok(Loaded {
            scenario,
            text: doc.to_string(),
        }),
        Err(e) => Err(LoadError::Set(format!(
            "--set {}: {}",
            failing_since.expect("a failed parse is recorded"),
            e.message
        ))),
    }
}

/// A TOML value; a bare word (`reject`) is a string, and a bracketed list
/// of bare words (`[loop-check, dedup]`) an array of strings, so that the
/// shell's quoting is not needed for the common cases.
pub fn parse_value(v: &str) -> toml_edit::Value {
    if let Ok(x) = v.parse::<toml_edit::Value>() {
        return x;
    }
    if let Some(inner) = v.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        let mut a = toml_edit::Array::new();
        for item in inner.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            a.push(parse_value(item));
        }
        return toml_edit::Value::Array(a);
    }
    toml_edit::Value::from(v)
}

/// Sets a dotted key; a number after an array of tables picks one of its
/// entries (`server.2.start=false`). Missing tables are created, so a
/// section the file lacks can be added; the parser then judges the key.
fn set_key(
    doc: &mut toml_edit::DocumentMut,
    key: &str,
    value: toml_edit::Value,
) -> Result<(), String> {
    let parts: Vec<&str> = key.split('.').map(str::trim).collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(format!(
            "bad key {key:?}: expected dotted names like protocol.ordering"
        ));
    }
    set_in(doc.as_table_mut(), &parts, "", value)
}

fn set_in(
    table: &mut dyn toml_edit::TableLike,
    parts: &[&str],
    above: &str,
    value: toml_edit::Value,
) -> Result<(), String> {
    let part = parts[0];
    let here = if above.is_empty() {
        part.to_string()
    } else {
        format!("{above}.{part}")
    };
    if parts.len() == 1 {
        table.insert(part, toml_edit::Item::Value(value));
        return Ok(());
    }
    if table.get(part).is_none() {
        table.insert(part, toml_edit::Item::Table(toml_edit::Table::new()));
    }
    let child = table.get_mut(part).expect("present");
    if let Some(aot) = child.as_array_of_tables_mut() {
        let idx: usize = parts[1]
            .parse()
            .map_err(|_| format!("{here} is a list of tables: expected an index after it"))?;
        let n = aot.len();
        let t = aot
            .get_mut(idx)
            .ok_or_else(|| format!("{here}.{idx}: no such entry ({n} entries, from 0)"))?;
        if parts.len() == 2 {
            return Err(format!("{here}.{idx}: cannot replace a whole table"));
        }
        return set_in(t, &parts[2..], &format!("{here}.{idx}"), value);
    }
    let t = child
        .as_table_like_mut()
        .ok_or_else(|| format!("{here}: not a table"))?;
    set_in(t, &parts[1..], &here, value)
}

/// What every output names about its origin.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    pub drcsim: String,
    pub scenario: String,
    pub scenario_hash: String,
    /// The declared seed range, `A..B` (B excluded).
    pub seeds: String,
    /// `K/N`: this output holds every N-th seed of the range from the K-th.
    pub shard: String,
}

/// Writes the trace's first line, naming where the run came from.
pub fn trace_header(w: &mut dyn Write, loaded: &Loaded, seed: u64) -> std::io::Result<()> {
    let v = serde_json::json!({
        "n": 0,
        "t_ns": 0,
        "ev": "header",
        "schema": crate::trace::SCHEMA,
        "time_unit": "ns",
        "drcsim": VERSION,
        "scenario": loaded.scenario.name,
        "scenario_hash": loaded.hash(),
        "seed": seed,
    });
    writeln!(w, "{v}")
}
