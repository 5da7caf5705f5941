//! Names the commit the binary was built from, for `drcsim --version`:
//! trace hashes change between versions, so a figure or a failing seed is
//! only reproducible with the commit that produced it.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    Some(String::from_utf8(out.stdout).ok()?.trim().to_string())
}

fn main() {
    // The commit HEAD names when the build script last ran: uncommitted
    // edits are not detected (watching every file would rebuild the crate
    // on every save), which the version text says.
    let text = git(&["rev-parse", "--short=12", "HEAD"])
        .map_or_else(|| "unknown commit".to_string(), |c| format!("commit {c}"));
    println!("cargo:rustc-env=DRCSIM_COMMIT={text}");
    // Rerun when HEAD moves (a commit, a checkout); the paths come from
    // git so that worktrees and packed refs are found too.
    // A watched path that does not exist would rerun the script (and
    // rebuild the crate) on every build, so only existing ones are named.
    let head = git(&["symbolic-ref", "-q", "HEAD"]);
    for path in ["HEAD", "packed-refs"].into_iter().chain(head.as_deref()) {
        if let Some(p) = git(&["rev-parse", "--path-format=absolute", "--git-path", path]) {
            if std::path::Path::new(&p).exists() {
                println!("cargo:rerun-if-changed={p}");
            }
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
