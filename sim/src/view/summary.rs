//! `summary.html`, written by `drcsim sweep` beside `sweep.csv`: failures
//! by invariant, the failure rate by fault kind drawn, distributions of
//! events and simulated time, and links to the reproducers. Inline CSS
//! and SVG, no script.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::report::html_escape as esc;
use crate::sweep::{repro_path, Row};

/// A fault kind and its column of the sweep's rows.
type KindColumn = (&'static str, fn(&Row) -> u64);

/// At most this many failing seeds are listed.
const LISTED: usize = 200;

fn bars(rows: &[(String, f64, String)], unit: &str) -> String {
    let max = rows.iter().map(|r| r.1).fold(0.0, f64::max).max(1e-9);
    let mut o = format!("<svg width=\"820\" height=\"{}\">", rows.len() * 20 + 4);
    for (i, (label, v, note)) in rows.iter().enumerate() {
        let y = i * 20 + 2;
        let w = 380.0 * v / max;
        let _ = write!(
            o,
            "<text x=\"0\" y=\"{}\" font-size=\"12\">{}</text>\
             <rect x=\"170\" y=\"{y}\" width=\"{w:.1}\" height=\"15\" fill=\"#4a6fa5\"/>\
             <text x=\"{:.1}\" y=\"{}\" font-size=\"12\">{}{unit} {}</text>",
            y + 12,
            esc(label),
            175.0 + w,
            y + 12,
            if unit == "%" {
                format!("{v:.1}")
            } else {
                format!("{v}")
            },
            esc(note)
        );
    }
    o.push_str("</svg>");
    o
}

/// Twenty bins from the smallest value to the largest.
fn histogram(values: &[u64], unit: &str) -> String {
    let (Some(&lo), Some(&hi)) = (values.iter().min(), values.iter().max()) else {
        return "<p>No runs.</p>".into();
    };
    let bins = 20u64;
    let width = ((hi - lo) / bins).max(1);
    let mut count = vec![0u64; bins as usize + 1];
    for &v in values {
        count[((v - lo) / width).min(bins) as usize] += 1;
    }
    let rows: Vec<(String, f64, String)> = count
        .iter()
        .enumerate()
        .filter(|(_, &c)| c > 0)
        .map(|(i, &c)| {
            let a = lo + i as u64 * width;
            (
                format!("{a}–{} {unit}", a + width - 1),
                c as f64,
                "runs".to_string(),
            )
        })
        .collect();
    bars(&rows, "")
}

pub fn summary_html(name: &str, rows: &[Row], failing: &[u64], out: &std::path::Path) -> String {
    let mut o = String::new();
    let _ = write!(
        o,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>sweep of {n}</title>\
         <style>body{{font:14px/1.4 system-ui,sans-serif;margin:20px;color:#222}}\
         h2{{font-size:16px;border-bottom:1px solid #ddd}}td,th{{padding:2px 8px;text-align:left}}</style>\
         </head><body><h1>Sweep of {n}</h1><p>{} seeds, {} failing ({:.2} %).</p>",
        rows.len(),
        failing.len(),
        100.0 * failing.len() as f64 / rows.len().max(1) as f64,
        n = esc(name)
    );
    let failed = |r: &&Row| !r.matched;
    let mut by_inv: BTreeMap<String, u64> = BTreeMap::new();
    for r in rows.iter().filter(failed) {
        let k = if r.first_invariant.is_empty() {
            r.verdict.clone()
        } else {
            r.first_invariant.clone()
        };
        *by_inv.entry(k).or_default() += 1;
    }
    o.push_str("<h2>Failures by first invariant</h2>");
    if by_inv.is_empty() {
        o.push_str("<p>None.</p>");
    } else {
        let list: Vec<(String, f64, String)> = by_inv
            .iter()
            .map(|(k, &v)| (k.clone(), v as f64, "seeds".into()))
            .collect();
        o.push_str(&bars(&list, ""));
    }
    o.push_str("<h2>Failure rate by fault kind drawn</h2>");
    let kinds: [KindColumn; 9] = [
        ("partition", |r| r.faults_partition),
        ("cut", |r| r.faults_cut),
        ("isolate", |r| r.faults_isolate),
        ("stall", |r| r.faults_stall),
        ("flap", |r| r.faults_flap),
        ("crash", |r| r.faults_crash),
        ("skew", |r| r.faults_skew),
        ("race", |r| r.faults_race),
        ("shutdown", |r| r.faults_shutdown),
    ];
    let rates: Vec<(String, f64, String)> = kinds
        .iter()
        .filter_map(|(k, w)| {
            let drawn: Vec<&Row> = rows.iter().filter(|r| w(r) > 0).collect();
            (!drawn.is_empty()).then(|| {
                let f = drawn.iter().filter(|r| !r.matched).count();
                (
                    k.to_string(),
                    100.0 * f as f64 / drawn.len() as f64,
                    format!("({f} of {} seeds that drew it)", drawn.len()),
                )
            })
        })
        .collect();
    if rates.is_empty() {
        o.push_str("<p>The scenario draws no faults.</p>");
    } else {
        o.push_str(&bars(&rates, "%"));
    }
    o.push_str("<h2>Events per run</h2>");
    o.push_str(&histogram(
        &rows.iter().map(|r| r.events).collect::<Vec<_>>(),
        "events",
    ));
    o.push_str("<h2>Simulated time per run</h2>");
    o.push_str(&histogram(
        &rows.iter().map(|r| r.sim_time_ms).collect::<Vec<_>>(),
        "ms",
    ));
    o.push_str("<h2>Failing seeds</h2>");
    if failing.is_empty() {
        o.push_str("<p>None.</p>");
    } else {
        o.push_str("<table><tr><th>seed</th><th>outcome</th><th>reproducer</th></tr>");
        for seed in failing.iter().take(LISTED) {
            let Some(r) = rows.iter().find(|r| r.seed == *seed) else {
                continue;
            };
            let file = repro_path(out, *seed);
            let href = file
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            let _ = write!(
                o,
                "<tr><td>{seed}</td><td>{}</td><td><a href=\"{}\">{}</a> \
                 (<code>drcsim report {} -o seed{seed}.html</code>)</td></tr>",
                esc(&r.what()),
                esc(&href),
                esc(&href),
                esc(&file.display().to_string())
            );
        }
        o.push_str("</table>");
        if failing.len() > LISTED {
            let _ = write!(
                o,
                "<p>... and {} more, in sweep.csv.</p>",
                failing.len() - LISTED
            );
        }
    }
    o.push_str("</body></html>\n");
    o
}
