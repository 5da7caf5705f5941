//! `drcsim compare`: the cross product of varied settings over the same
//! seeds (paired: seed s runs under every variant), into one tidy CSV and
//! a self-contained HTML report.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::provenance::{LoadError, VERSION};
use crate::sweep::{self, Row, Seeds, SweepOptions};

pub struct CompareSpec<'a> {
    pub file: &'a Path,
    pub sets: &'a [String],
    pub vary: &'a [String],
    pub first: u64,
    pub end: u64,
    pub jobs: usize,
    pub max_events: Option<u64>,
    pub out: &'a Path,
    pub progress: bool,
    pub log_every: Option<std::time::Duration>,
}

/// One combination of the varied values.
pub struct Variant {
    /// (key, value as given) for each `--vary`, in order.
    pub values: Vec<(String, String)>,
    pub dir: PathBuf,
    pub rows: Vec<Row>,
}

impl Variant {
    pub fn label(&self) -> String {
        self.values
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn failing(&self) -> usize {
        self.rows.iter().filter(|r| !r.matched).count()
    }
}

pub struct Comparison {
    pub keys: Vec<String>,
    pub variants: Vec<Variant>,
    pub out: PathBuf,
    pub any_panic: bool,
}

/// Splits `KEY=V1,V2,...` at the commas outside brackets and quotes, so
/// that array values (`protocol.ablate=[],[loop-check,dedup]`) survive.
pub fn parse_vary(s: &str) -> Result<(String, Vec<String>), String> {
    let (k, vals) = s
        .split_once('=')
        .ok_or_else(|| format!("--vary {s}: expected KEY=V1,V2,..."))?;
    let mut out = Vec::new();
    let mut cur = String::new();
    let (mut depth, mut quote) = (0i32, None::<char>);
    for ch in vals.chars() {
        match (quote, ch) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(ch),
            (None, '[' | '{') => depth += 1,
            (None, ']' | '}') => depth -= 1,
            (None, ',') if depth == 0 => {
                out.push(std::mem::take(&mut cur).trim().to_string());
                continue;
            }
            _ => {}
        }
        cur.push(ch);
    }
    out.push(cur.trim().to_string());
    if k.trim().is_empty() || out.iter().any(String::is_empty) {
        return Err(format!(
            "--vary {s}: expected KEY=V1,V2,... with no empty value"
        ));
    }
    Ok((k.trim().to_string(), out))
}

/// The Wilson score interval for k successes in n trials, 95 %.
pub fn wilson(k: usize, n: usize) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let z = 1.959_963_984_540_054_f64;
    let (k, n) = (k as f64, n as f64);
    let p = k / n;
    let d = 1.0 + z * z / n;
    let c = (p + z * z / (2.0 * n)) / d;
    let h = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / d;
    ((c - h).max(0.0), (c + h).min(1.0))
}

fn slug(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

pub fn compare(spec: &CompareSpec) -> Result<Comparison, String> {
    let mut axes = Vec::new();
    for v in spec.vary {
        axes.push(parse_vary(v)?);
    }
    // The cross product, the last key varying fastest.
    let mut combos: Vec<Vec<(String, String)>> = vec![Vec::new()];
    for (k, vals) in &axes {
        combos = combos
            .into_iter()
            .flat_map(|c| {
                vals.iter().map(move |v| {
                    let mut c = c.clone();
                    c.push((k.clone(), v.clone()));
                    c
                })
            })
            .collect();
    }
    let range = Seeds {
        first: spec.first,
        end: spec.end,
        shard: 0,
        shards: 1,
    };
    let seeds = range.list();
    std::fs::create_dir_all(spec.out).map_err(|e| format!("{}: {e}", spec.out.display()))?;
    // Every variant is loaded before any runs, so a bad value fails at once.
    let mut loaded = Vec::new();
    for combo in &combos {
        let mut sets = spec.sets.to_vec();
        sets.extend(combo.iter().map(|(k, v)| format!("{k}={v}")));
        let l = crate::provenance::load(Some(spec.file), &sets).map_err(|e| match e {
            LoadError::Scenario(e) => e.to_string(),
            LoadError::Set(m) => m,
        })?;
        let mut scn = l.scenario.clone();
        if let Some(n) = spec.max_events {
            scn.limits.max_events = n;
        }
        crate::run::validate(&scn)?;
        loaded.push((scn, l.text));
    }
    let mut variants = Vec::new();
    for (i, (combo, (scn, text))) in combos.into_iter().zip(loaded).enumerate() {
        let label: Vec<String> = combo.iter().map(|(_, v)| slug(v)).collect();
        let dir = spec.out.join(format!("v{i}-{}", label.join("-")));
        if spec.log_every.is_some() || spec.progress {
            let l: Vec<String> = combo.iter().map(|(k, v)| format!("{k}={v}")).collect();
            eprintln!("drcsim compare: variant {i}: {}", l.join(" "));
        }
        let opts = SweepOptions {
            jobs: spec.jobs,
            progress: spec.progress,
            log_every: spec.log_every,
            resume: false,
            provenance: sweep::provenance(&scn, &text, &range),
            panic_at: sweep::test_panic_seed(),
        };
        let res = sweep::sweep(&scn, &seeds, &dir, &opts)?;
        variants.push(Variant {
            values: combo,
            dir,
            rows: res.rows,
        });
    }
    let keys: Vec<String> = axes.into_iter().map(|(k, _)| k).collect();
    let any_panic = variants
        .iter()
        .any(|v| v.rows.iter().any(|r| r.verdict == "panic"));
    let c = Comparison {
        keys,
        variants,
        out: spec.out.to_path_buf(),
        any_panic,
    };
    c.write_csv(&spec.out.join("compare.csv"))?;
    let html = spec.out.join("report.html");
    std::fs::write(&html, c.html(spec)).map_err(|e| format!("{}: {e}", html.display()))?;
    Ok(c)
}

/// The measures whose distributions the report shows.
pub const MEASURES: &[&str] = &[
    "convergence_ms",
    "clients_killed",
    "clients_disconnected",
    "kills_sent",
    "saves_sent",
    "rejects_sent",
    "resolution_frames",
    "room_sends_failed",
    "room_sends_unconfirmed",
    "seq_skipped",
    "gaps_closed",
    "messages_passed_over",
    "copies_passed_over",
    "epochs_started",
    "registrations_given_up",
    "wire_frames",
    "wire_bytes",
];

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i]
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

impl Comparison {
    /// Column `name` of every row of a variant, as numbers.
    fn column(&self, v: &Variant, name: &str) -> Vec<f64> {
        let i = sweep::header()
            .iter()
            .position(|h| h == name)
            .expect("a known column");
        let mut xs: Vec<f64> = v
            .rows
            .iter()
            .filter(|r| r.verdict != "panic")
            .filter_map(|r| r.fields()[i].parse().ok())
            .collect();
        xs.sort_by(f64::total_cmp);
        xs
    }

    /// One tidy CSV: `variant`, a column per varied key, then the sweep's
    /// columns; rows by variant, then seed.
    pub fn write_csv(&self, path: &Path) -> Result<(), String> {
        let mut w = csv::Writer::from_path(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut h = vec!["variant".to_string()];
        h.extend(self.keys.iter().cloned());
        h.extend(sweep::header());
        w.write_record(&h).map_err(|e| e.to_string())?;
        for (i, v) in self.variants.iter().enumerate() {
            for r in &v.rows {
                let mut rec = vec![i.to_string()];
                rec.extend(v.values.iter().map(|(_, x)| x.clone()));
                rec.extend(r.fields());
                w.write_record(&rec).map_err(|e| e.to_string())?;
            }
        }
        w.flush().map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn report(&self, secs: f64) -> String {
        let mut s = String::new();
        let runs: usize = self.variants.iter().map(|v| v.rows.len()).sum();
        let _ = writeln!(
            s,
            "{} variants, {runs} runs, {secs:.1}s wall; {} and {}",
            self.variants.len(),
            self.out.join("compare.csv").display(),
            self.out.join("report.html").display()
        );
        for (i, v) in self.variants.iter().enumerate() {
            let (n, k) = (v.rows.len(), v.failing());
            let (lo, hi) = wilson(k, n);
            let _ = writeln!(
                s,
                "  v{i} {}: {k}/{n} failing ({:.1} %, 95 % CI {:.1}-{:.1} %)",
                v.label(),
                100.0 * k as f64 / n.max(1) as f64,
                100.0 * lo,
                100.0 * hi
            );
        }
        s
    }

    fn html(&self, spec: &CompareSpec) -> String {
        let mut h = String::new();
        let title = format!(
            "drcsim compare: {} over seeds {}..{}",
            spec.file.display(),
            spec.first,
            spec.end
        );
        let _ = write!(
            h,
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t}</title><style>\
             body{{font-family:sans-serif;max-width:70em;margin:1em auto;padding:0 1em}}\
             table{{border-collapse:collapse;margin:.5em 0}}td,th{{border:1px solid #ccc;padding:.2em .5em;text-align:right}}\
             th{{background:#eee}}td.l,th.l{{text-align:left}}code{{background:#f4f4f4}}</style></head><body>\
             <h1>{t}</h1><p>drcsim {v}; {n} variants, the same seeds under each. \
             Settings: {sets}. Data: <code>compare.csv</code>; each variant's sweep and reproducers in its folder.</p>",
            t = esc(&title),
            v = esc(VERSION),
            n = self.variants.len(),
            sets = if spec.sets.is_empty() {
                "as in the file".to_string()
            } else {
                esc(&spec
                    .sets
                    .iter()
                    .map(|s| format!("--set {s}"))
                    .collect::<Vec<_>>()
                    .join(" "))
            }
        );
        // Failure rates.
        h.push_str("<h2>Failure rate</h2><p>A run fails when its outcome does not match the scenario's <code>[expect]</code>. Intervals are Wilson 95 %.</p><table><tr><th>variant</th>");
        for k in &self.keys {
            let _ = write!(h, "<th class=l>{}</th>", esc(k));
        }
        h.push_str("<th>runs</th><th>failing</th><th>rate</th><th>95 % interval</th><th>panics</th><th class=l>first invariant violated (runs)</th></tr>");
        for (i, v) in self.variants.iter().enumerate() {
            let (n, k) = (v.rows.len(), v.failing());
            let (lo, hi) = wilson(k, n);
            let mut inv: std::collections::BTreeMap<&str, usize> = Default::default();
            for r in v.rows.iter().filter(|r| !r.matched) {
                let key = if r.verdict == "panic" {
                    "(panic)"
                } else if r.first_invariant.is_empty() {
                    "(no violation: expectation)"
                } else {
                    r.first_invariant.as_str()
                };
                *inv.entry(key).or_default() += 1;
            }
            let inv: Vec<String> = inv
                .iter()
                .map(|(k, n)| format!("{} ({n})", esc(k)))
                .collect();
            let _ = write!(h, "<tr><td>v{i}</td>");
            for (_, x) in &v.values {
                let _ = write!(h, "<td class=l><code>{}</code></td>", esc(x));
            }
            let _ = write!(
                h,
                "<td>{n}</td><td>{k}</td><td>{:.1} %</td><td>{:.1} – {:.1} %</td><td>{}</td><td class=l>{}</td></tr>",
                100.0 * k as f64 / n.max(1) as f64,
                100.0 * lo,
                100.0 * hi,
                v.rows.iter().filter(|r| r.verdict == "panic").count(),
                inv.join(", ")
            );
        }
        h.push_str("</table>");
        h.push_str(&self.rate_svg());
        // Paired differences.
        h.push_str("<h2>Paired differences</h2><p>Seeds that fail under one variant and pass under another (the same seed draws the same faults and workload under both, except what the varied setting changes). Each links to its reproducer.</p><table><tr><th class=l>fails under</th><th class=l>passes under</th><th>seeds</th><th class=l>first seeds</th></tr>");
        let mut any = false;
        for (i, a) in self.variants.iter().enumerate() {
            for (j, b) in self.variants.iter().enumerate() {
                if i == j {
                    continue;
                }
                let diff: Vec<u64> = a
                    .rows
                    .iter()
                    .zip(&b.rows)
                    .filter(|(x, y)| !x.matched && y.matched)
                    .map(|(x, _)| x.seed)
                    .collect();
                if diff.is_empty() {
                    continue;
                }
                any = true;
                let links: Vec<String> = diff
                    .iter()
                    .take(8)
                    .map(|s| {
                        let p = sweep::repro_path(&a.dir, *s);
                        let rel = p.strip_prefix(&self.out).unwrap_or(&p);
                        format!("<a href=\"{}\">{s}</a>", esc(&rel.display().to_string()))
                    })
                    .collect();
                let _ = write!(
                    h,
                    "<tr><td class=l>v{i}</td><td class=l>v{j}</td><td>{}</td><td class=l>{}{}</td></tr>",
                    diff.len(),
                    links.join(" "),
                    if diff.len() > 8 { " …" } else { "" }
                );
            }
        }
        if !any {
            h.push_str("<tr><td class=l colspan=4>none: every seed has the same outcome under every variant</td></tr>");
        }
        h.push_str("</table>");
        // Measures.
        h.push_str("<h2>Measures</h2><p>Per run (panicked runs left out): the box spans the 25th to 75th percentile, the line inside is the median, the whiskers the 5th and 95th percentiles; the mean is printed. Definitions are in docs/testing.md.</p>");
        for m in MEASURES {
            let cols: Vec<Vec<f64>> = self.variants.iter().map(|v| self.column(v, m)).collect();
            let _ = write!(h, "<h3><code>{m}</code></h3><table><tr><th>variant</th><th>mean</th><th>p5</th><th>p25</th><th>median</th><th>p75</th><th>p95</th><th>max</th></tr>");
            for (i, xs) in cols.iter().enumerate() {
                let mean = xs.iter().sum::<f64>() / xs.len().max(1) as f64;
                let _ = write!(
                    h,
                    "<tr><td>v{i}</td><td>{mean:.1}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    quantile(xs, 0.05),
                    quantile(xs, 0.25),
                    quantile(xs, 0.5),
                    quantile(xs, 0.75),
                    quantile(xs, 0.95),
                    xs.last().copied().unwrap_or(0.0)
                );
            }
            h.push_str("</table>");
            h.push_str(&box_svg(&cols));
        }
        h.push_str("</body></html>\n");
        h
    }

    fn rate_svg(&self) -> String {
        let n = self.variants.len();
        let (w, row) = (600.0, 22.0);
        let height = row * n as f64 + 30.0;
        let mut s = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height}\">",
            w + 60.0
        );
        let max = self
            .variants
            .iter()
            .map(|v| wilson(v.failing(), v.rows.len()).1)
            .fold(0.01_f64, f64::max);
        for (i, v) in self.variants.iter().enumerate() {
            let y = 5.0 + row * i as f64;
            let (k, nn) = (v.failing(), v.rows.len());
            let p = k as f64 / nn.max(1) as f64;
            let (lo, hi) = wilson(k, nn);
            let x = |f: f64| 40.0 + f / max * (w - 20.0);
            let _ = write!(
                s,
                "<text x=\"0\" y=\"{}\" font-size=\"12\">v{i}</text>\
                 <rect x=\"40\" y=\"{y}\" width=\"{:.1}\" height=\"14\" fill=\"#8ab\"/>\
                 <line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{}\" y2=\"{}\" stroke=\"#000\"/>",
                y + 12.0,
                x(p) - 40.0,
                x(lo),
                x(hi),
                y + 7.0,
                y + 7.0
            );
        }
        let _ = write!(
            s,
            "<text x=\"40\" y=\"{}\" font-size=\"11\">0 %</text><text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"end\">{:.1} %</text></svg>",
            height - 5.0,
            w + 20.0,
            height - 5.0,
            100.0 * max
        );
        s
    }
}

/// Horizontal box plots, one per variant, on a shared scale.
fn box_svg(cols: &[Vec<f64>]) -> String {
    let (w, row) = (600.0, 20.0);
    let height = row * cols.len() as f64 + 24.0;
    let max = cols
        .iter()
        .filter_map(|c| c.last().copied())
        .fold(0.0_f64, f64::max)
        .max(1.0);
    let x = |v: f64| 40.0 + v / max * (w - 20.0);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height}\">",
        w + 60.0
    );
    for (i, xs) in cols.iter().enumerate() {
        let y = 4.0 + row * i as f64;
        let q = |p: f64| x(quantile(xs, p));
        let _ = write!(
            s,
            "<text x=\"0\" y=\"{}\" font-size=\"12\">v{i}</text>\
             <line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{m}\" y2=\"{m}\" stroke=\"#555\"/>\
             <rect x=\"{:.1}\" y=\"{y}\" width=\"{:.1}\" height=\"14\" fill=\"#cde\" stroke=\"#555\"/>\
             <line x1=\"{md:.1}\" x2=\"{md:.1}\" y1=\"{y}\" y2=\"{}\" stroke=\"#000\" stroke-width=\"2\"/>",
            y + 12.0,
            q(0.05),
            q(0.95),
            q(0.25),
            (q(0.75) - q(0.25)).max(1.0),
            y + 14.0,
            m = y + 7.0,
            md = q(0.5)
        );
    }
    let _ = write!(
        s,
        "<text x=\"40\" y=\"{}\" font-size=\"11\">0</text><text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"end\">{max}</text></svg>",
        height - 4.0,
        w + 20.0,
        height - 4.0
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vary_values_split_outside_brackets() {
        assert_eq!(
            parse_vary("protocol.ablate=[],[loop-check,dedup],\"a,b\"").unwrap(),
            (
                "protocol.ablate".to_string(),
                vec![
                    "[]".to_string(),
                    "[loop-check,dedup]".to_string(),
                    "\"a,b\"".to_string()
                ]
            )
        );
        assert!(parse_vary("noequals").is_err());
        assert!(parse_vary("k=a,,b").is_err());
    }

    #[test]
    fn wilson_matches_known_values() {
        // 0 of 10: the upper bound is about 27.8 %.
        let (lo, hi) = wilson(0, 10);
        assert_eq!(lo, 0.0);
        assert!((hi - 0.2775).abs() < 1e-3, "{hi}");
        // 5 of 10: symmetric around one half, about 23.7 % to 76.3 %.
        let (lo, hi) = wilson(5, 10);
        assert!((lo - 0.2366).abs() < 1e-3 && (hi - 0.7634).abs() < 1e-3);
    }
}
