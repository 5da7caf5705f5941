//! The report as a person sees it: drawn by a real headless Chromium from
//! a file:// URL. Skipped, saying so, where no `chromium` is installed
//! (`apt-get install chromium` on Debian). With `DRCSIM_SCREENSHOT=1` it
//! also refreshes the README's screenshot, docs/img/report.png.

use std::path::{Path, PathBuf};
use std::process::Command;

fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| {
            let ok = Command::new(name)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success());
            ok.then(|| PathBuf::from(name))
        })
}

/// Runs Chromium headless on the page; returns the DOM after the script
/// ran, and the browser's log.
fn render(browser: &Path, page: &Path, extra: &[&str]) -> (String, String) {
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1400,1700",
            "--virtual-time-budget=5000",
        ])
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_report_of_a_failing_run_draws_in_chromium() {
    let Some(browser) = chromium() else {
        eprintln!(
            "SKIPPED: no chromium on PATH; install it (apt-get install chromium) to run this check"
        );
        return;
    };
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser");
    std::fs::create_dir_all(&dir).unwrap();
    let page = dir.join("report.html");
    let out = Command::new(env!("CARGO_BIN_EXE_drcsim"))
        .current_dir(&root)
        .args(["report", "scenarios/ablate-dedup.toml"])
        .arg("-o")
        .arg(&page)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let (dom, log) = render(&browser, &page, &["--dump-dom"]);
    // A script error would stop the drawing before this mark.
    assert!(
        dom.contains("data-render=\"ok\""),
        "the script did not finish:\n{log}"
    );
    for line in log.lines() {
        assert!(
            !(line.contains("CONSOLE") && (line.contains("Uncaught") || line.contains("Error"))),
            "console error: {line}"
        );
    }
    // One lane per server and client (3 + 3), arrows for the frames, and
    // the three order.once violations marked.
    assert_eq!(dom.matches("class=\"lane\"").count(), 6, "lanes");
    // It opens on the violations (3.2 s to 9.2 s), where the room's
    // messages and the reconnection cross the diagram.
    let arrows = dom.matches("class=\"arrow\"").count();
    assert!(arrows > 20, "{arrows} arrows");
    assert_eq!(
        dom.matches("class=\"violation-mark\"").count(),
        3,
        "violation marks"
    );
    assert!(
        dom.contains("class=\"real-link\""),
        "the tree at the cursor"
    );
    // The second copy of alice's message, at bob, wes and alice herself
    // (the three order.once violations).
    assert_eq!(
        dom.matches("class=\"dup\" data-delivery=\"d\"").count(),
        3,
        "the duplicate deliveries are marked in the room"
    );

    let shot = dir.join("report.png");
    render(
        &browser,
        &page,
        &[&format!("--screenshot={}", shot.display())],
    );
    let png = std::fs::read(&shot).expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG"));
    if std::env::var_os("DRCSIM_SCREENSHOT").is_some() {
        std::fs::create_dir_all(root.join("docs/img")).unwrap();
        std::fs::copy(&shot, root.join("docs/img/report.png")).unwrap();
    }
}
