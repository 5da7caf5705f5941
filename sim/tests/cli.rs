//! The `drcsim` binary as a user meets it: exit codes, errors, output.

use std::process::Command;

fn drcsim(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_drcsim"))
        .args(args)
        .output()
        .expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn temp(name: &str, text: &str) -> String {
    // Cargo's scratch directory for integration tests (under target/):
    // files written there are overwritten by the next run, not left in
    // the system's temporary directory.
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli");
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[test]
fn run_without_a_file_runs_the_built_in_default() {
    let (code, out, _) = drcsim(&["run"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("PASS") && out.contains("violations: none"),
        "{out}"
    );
}

#[test]
fn json_output_has_the_contract_fields() {
    let (code, out, _) = drcsim(&["run", "--json", "--seed", "3"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).expect("one JSON object");
    for key in [
        "scenario",
        "seed",
        "verdict",
        "trace_hash",
        "events",
        "sim_time_ms",
        "violations",
        "final",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    assert_eq!(v["seed"], 3);
    assert_eq!(v["verdict"], "pass");
    assert_eq!(
        v["final"]["components"],
        serde_json::json!([["east", "hub", "north", "west"]])
    );
    assert_eq!(v["final"]["servers"]["east"]["servers"]["hub"], 1);
    assert_eq!(v["final"]["servers"]["east"]["servers"]["west"], 2);
    assert_eq!(v["final"]["servers"]["hub"]["up"], true);
}

#[test]
fn a_bad_scenario_is_reported_with_its_location_and_exit_2() {
    let p = temp(
        "bad.toml",
        "name = \"x\"\nduration = \"5s\"\n[[server]]\nname = \"a\"\ncolour = \"blue\"\n",
    );
    let (code, _, err) = drcsim(&["run", &p]);
    assert_eq!(code, 2);
    assert!(err.contains(&format!("{p}:5:1")), "{err}");
    assert!(err.contains("colour"), "{err}");
    let (code, _, err) = drcsim(&["run", "/no/such/file.toml"]);
    assert_eq!(code, 2);
    assert!(err.contains("/no/such/file.toml"), "{err}");
}

#[test]
fn usage_errors_exit_2_and_help_exits_0() {
    assert_eq!(drcsim(&["run", "--no-such-flag"]).0, 2);
    assert_eq!(drcsim(&["run", "--seed", "minus-one"]).0, 2);
    assert_eq!(drcsim(&["frobnicate"]).0, 2);
    let (code, out, _) = drcsim(&["--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("run") && out.contains("invariants"));
}

#[test]
fn an_outcome_that_differs_from_expect_exits_1() {
    let p = temp(
        "wrong.toml",
        "name = \"w\"\nduration = \"60s\"\n[[server]]\nname = \"a\"\n[[server]]\nname = \"b\"\nconnect = [\"a\"]\n[expect]\nverdict = \"fail\"\n",
    );
    let (code, out, _) = drcsim(&["run", &p]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("MISMATCH"), "{out}");
}

#[test]
fn trace_and_out_write_their_files() {
    let dir = scratch("out");
    let trace = dir.join("t.jsonl");
    std::fs::create_dir_all(&dir).unwrap();
    let (code, _, err) = drcsim(&[
        "run",
        "--trace",
        trace.to_str().unwrap(),
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let lines = std::fs::read_to_string(&trace).unwrap();
    assert!(lines.lines().count() > 100);
    for l in lines.lines() {
        let v: serde_json::Value = serde_json::from_str(l).expect("each line is JSON");
        assert!(v.get("t_ns").is_some() && v.get("ev").is_some());
    }
    // The first line says where the run came from.
    let head: serde_json::Value = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
    assert_eq!(head["ev"], "header");
    assert!(head["drcsim"].as_str().unwrap().contains("commit"));
    assert_eq!(head["scenario_hash"].as_str().unwrap().len(), 16);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["verdict"], "pass");
}

#[test]
fn invariants_lists_the_catalog() {
    let (code, out, _) = drcsim(&["invariants"]);
    assert_eq!(code, 0);
    for name in [
        "tree.acyclic",
        "tree.view",
        "auth.before_state",
        "msg.direction",
        "link.flap",
    ] {
        assert!(out.contains(name), "{name} missing");
    }
}

#[test]
fn replay_confirms_determinism() {
    let scn = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scenarios/netsplit-heal.toml"
    );
    let (code, out, _) = drcsim(&["replay", scn]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("identical hash after each of"), "{out}");
}

/// Two linked servers and whatever `extra` adds (sections, actions).
fn two_servers(extra: &str) -> String {
    format!(
        "name = \"t\"\nduration = \"60s\"\n[[server]]\nname = \"a\"\n[[server]]\nname = \"b\"\nconnect = [\"a\"]\n{extra}"
    )
}

#[test]
fn settings_without_a_bound_on_their_event_rate_exit_2_with_their_location() {
    let cases = [
        ("[protocol]\nping_interval = \"0s\"\n", 9, 17, "too short"),
        (
            "[protocol]\nhandshake_timeout = \"1ns\"\n",
            9,
            21,
            "too short",
        ),
        ("[protocol]\nreconnect_min = \"0s\"\n", 9, 17, "too short"),
        ("[network]\nconnect_timeout = \"0s\"\n", 9, 19, "too short"),
        ("[workload]\nsay_every = \"0s\"\n", 9, 13, "too short"),
        ("[faults]\nmean_gap = \"1ns\"\n", 9, 12, "too short"),
        (
            "[faults]\nwindow = \"9000h\"\n",
            9,
            10,
            "faults, at most 100000",
        ),
        (
            "[protocol]\nping_interval = \"5s\"\nping_timeout = \"5s\"\n",
            10,
            16,
            "must be longer than ping_interval",
        ),
        (
            "[[at]]\ntime = \"61s\"\ndo = \"heal\"\n",
            9,
            8,
            "comes after the end of the run",
        ),
    ];
    for (i, (extra, line, col, needle)) in cases.into_iter().enumerate() {
        let p = temp(&format!("unbounded-{i}.toml"), &two_servers(extra));
        let (code, out, err) = drcsim(&["run", &p]);
        assert_eq!(code, 2, "{extra}: {out}{err}");
        assert!(
            err.contains(&format!("--> {p}:{line}:{col}\n")) && err.contains(needle),
            "{extra}: {err}"
        );
    }
    let p = temp("no-server.toml", "name = \"t\"\nduration = \"60s\"\n");
    let (code, _, err) = drcsim(&["run", &p]);
    assert_eq!(code, 2);
    assert!(
        err.contains(&format!("--> {p}:1:1")) && err.contains("the scenario declares no server"),
        "{err}"
    );
}

#[test]
fn a_run_past_its_event_budget_ends_with_a_failing_outcome_and_says_so() {
    let scn = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scenarios/netsplit-heal.toml"
    );
    let (code, out, err) = drcsim(&["run", scn, "--max-events", "100", "--json"]);
    assert_eq!(code, 1, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["budget_exceeded"], true);
    assert_eq!(v["max_events"], 100);
    assert_eq!(v["events"], 100);
    assert_eq!(v["matched"], false);
    assert_eq!(v["quiescent"], false);
    assert!(
        v["expect_failures"][0]
            .as_str()
            .unwrap()
            .starts_with("event budget exhausted: stopped after 100 events"),
        "{out}"
    );
    assert!(
        err.contains("drcsim: warning: event budget exhausted"),
        "{err}"
    );
    // The same from the file; the full run fits the default budget.
    let p = temp(
        "budget.toml",
        &two_servers("[limits]\nmax_events = 20\n[expect]\nverdict = \"pass\"\n"),
    );
    let (code, out, _) = drcsim(&["run", &p]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("event budget exhausted: stopped after 20 events"),
        "{out}"
    );
    assert_eq!(drcsim(&["run", scn]).0, 0);
    assert_eq!(drcsim(&["run", scn, "--max-events", "0"]).0, 2);
}

#[test]
fn a_run_too_short_to_judge_convergence_warns_and_fails_when_convergence_is_expected() {
    // A cut at 50s of a 60s run: the settle period (45s) has not passed.
    let cut = "[[at]]\ntime = \"50s\"\ndo = \"cut\"\na = \"a\"\nb = \"b\"\n";
    let plain = temp("short.toml", &two_servers(cut));
    let (code, out, err) = drcsim(&["run", &plain, "--json"]);
    assert_eq!(code, 0, "nothing asked for convergence: {out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["quiescent"], false);
    let w = v["warnings"][0].as_str().unwrap();
    assert!(
        w.starts_with("the run ended at 60000 ms, before it was quiet (from 95000 ms"),
        "{w}"
    );
    assert!(
        err.contains("drcsim: warning: the run ended at 60000 ms"),
        "{err}"
    );
    for expect in [
        "connected = true",
        "converge = true",
        "components = [[\"a\", \"b\"]]",
        "links = [[\"a\", \"b\"]]",
    ] {
        let p = temp(
            "short-expect.toml",
            &two_servers(&format!("{cut}[expect]\n{expect}\n")),
        );
        let (code, out, err) = drcsim(&["run", &p]);
        assert_eq!(code, 1, "{expect}: {out}");
        assert!(
            out.contains("expectation failed: [expect] needs a settled network"),
            "{expect}: {out}"
        );
        assert!(err.contains("before it was quiet"), "{err}");
    }
    // Long enough, the same expectations hold.
    let p = temp(
        "long-expect.toml",
        &two_servers(&format!(
            "{cut}[expect]\nconnected = true\nconverge = true\n"
        ))
        .replace("duration = \"60s\"", "duration = \"100s\""),
    );
    let (code, out, err) = drcsim(&["run", &p]);
    assert_eq!(code, 0, "{out}");
    assert!(!err.contains("warning"), "{err}");
}

// ----- papercuts a newcomer met -------------------------------------------

#[test]
fn a_reader_that_goes_away_ends_the_output_quietly() {
    use std::process::Stdio;
    for args in [
        &["run", "--json"][..],
        &["run", "--trace", "-"][..],
        &["invariants"][..],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_drcsim"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("runs");
        // Closing the read end before anything is written makes every
        // write fail with a broken pipe, as `| head -1` does.
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("waits");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
        assert!(
            !err.contains("panicked") && !err.contains("Broken pipe"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn trace_dash_writes_the_trace_to_standard_output_and_the_summary_to_standard_error() {
    let (code, out, err) = drcsim(&["run", "--trace", "-"]);
    assert_eq!(code, 0, "{err}");
    assert!(!std::path::Path::new("-").exists(), "no file named -");
    assert!(out.lines().count() > 100);
    for l in out.lines() {
        let v: serde_json::Value = serde_json::from_str(l).expect("each line is JSON");
        assert!(v.get("ev").is_some(), "{l}");
    }
    assert!(err.contains("PASS"), "{err}");
}

#[test]
fn scenario_errors_show_the_line_with_a_caret_under_the_column() {
    let p = temp(
        "unknown-invariant.toml",
        "name = \"x\"\nduration = \"5s\"\n[[server]]\nname = \"a\"\n[expect]\nviolated = [\"tree.acyclic\", \"tree.nope\"]\n",
    );
    let (code, _, err) = drcsim(&["run", &p]);
    assert_eq!(code, 2);
    assert!(err.contains(&format!("{p}:6:29")), "{err}");
    assert!(err.contains("unknown invariant \"tree.nope\""), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    let src = lines
        .iter()
        .position(|l| l.ends_with("violated = [\"tree.acyclic\", \"tree.nope\"]"))
        .expect("the source line is shown");
    let col = lines[src].find("violated").unwrap() + 28;
    assert_eq!(lines[src + 1].find('^'), Some(col), "{err}");
    // A file that cannot be read has no line to show, and no 0:0 either.
    let (code, _, err) = drcsim(&["run", "/no/such/file.toml"]);
    assert_eq!(code, 2);
    assert!(
        err.starts_with("drcsim: error: /no/such/file.toml: cannot read"),
        "{err}"
    );
    assert!(!err.contains(":0:0"), "{err}");
}

#[test]
fn a_redirect_by_nobody_is_refused_at_its_position() {
    let p = temp(
        "redirect.toml",
        "name = \"r\"\nduration = \"5s\"\n[[server]]\nname = \"a\"\n[[client]]\nid = \"c\"\nserver = \"a\"\n[[at]]\ntime = \"1s\"\ndo = \"redirect\"\nclient = \"c\"\nto = \"a\"\nby = \"nobody\"\n",
    );
    let (code, _, err) = drcsim(&["run", &p]);
    assert_eq!(code, 2);
    assert!(err.contains(&format!("--> {p}:13:")), "{err}");
    assert!(err.contains("`by` is \"server\" or \"client\""), "{err}");
}

#[test]
fn decimal_durations_are_accepted() {
    let p = temp(
        "decimal.toml",
        "name = \"d\"\nduration = \"12.5s\"\n[[server]]\nname = \"a\"\n",
    );
    let (code, out, err) = drcsim(&["run", &p, "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["sim_time_ms"], 12_500);
}

#[test]
fn replay_counts_as_many_events_as_the_run() {
    let scn = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scenarios/netsplit-heal.toml"
    );
    let (_, json, _) = drcsim(&["run", scn, "--json"]);
    let events = serde_json::from_str::<serde_json::Value>(&json).unwrap()["events"]
        .as_u64()
        .unwrap();
    let (code, out, _) = drcsim(&["replay", scn]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("identical hash after each of {events} events")),
        "{events}: {out}"
    );
}

#[test]
fn shrink_checks_its_output_path_before_it_starts() {
    let scn = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scenarios/netsplit-heal.toml"
    );
    let (code, _, err) = drcsim(&["shrink", scn, "-o", "/no/such/dir/min.toml"]);
    assert_eq!(code, 2);
    assert!(err.contains("/no/such/dir is not a directory"), "{err}");
}

#[test]
fn version_names_the_commit_and_completions_and_man_page_are_printed() {
    let (code, out, _) = drcsim(&["--version"]);
    assert_eq!(code, 0);
    assert!(
        out.starts_with(&format!("drcsim {} (", env!("CARGO_PKG_VERSION")))
            && (out.contains("commit ") || out.contains("unknown commit")),
        "{out}"
    );
    let (code, out, _) = drcsim(&["completions", "bash"]);
    assert_eq!(code, 0);
    assert!(out.contains("_drcsim()") && out.contains("shrink"), "{out}");
    let (code, out, _) = drcsim(&["man"]);
    assert_eq!(code, 0);
    assert!(
        out.contains(".TH drcsim 1") && out.contains("sweep"),
        "{out}"
    );
    assert_eq!(drcsim(&["completions", "tcsh"]).0, 2);
}

#[test]
fn every_subcommand_and_argument_has_help_and_an_example() {
    use clap::CommandFactory;
    fn check(cmd: &clap::Command, path: &str, leaves: &mut usize) {
        for arg in cmd.get_arguments() {
            let id = arg.get_id().as_str();
            if id == "help" || id == "version" {
                continue;
            }
            assert!(
                arg.get_help().is_some_and(|h| !h.to_string().is_empty()),
                "{path}: argument {id} is not described"
            );
        }
        let subs: Vec<_> = cmd
            .get_subcommands()
            .filter(|s| s.get_name() != "help")
            .collect();
        if path != "drcsim" {
            assert!(cmd.get_about().is_some(), "{path}: no description");
        }
        if subs.is_empty() || path == "drcsim" {
            assert!(
                cmd.get_after_help()
                    .is_some_and(|h| h.to_string().contains("Example")),
                "{path}: no example"
            );
            *leaves += 1;
        } else if !cmd
            .get_after_help()
            .is_some_and(|h| h.to_string().contains("Example"))
        {
            panic!("{path}: no example");
        }
        for s in subs {
            check(s, &format!("{path} {}", s.get_name()), leaves);
        }
    }
    let mut leaves = 0;
    check(&drc_sim::cli::Cli::command(), "drcsim", &mut leaves);
    assert!(leaves >= 10, "{leaves}");
    // And the help a person sees says so.
    let (code, out, _) = drcsim(&["shrink", "--help"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("The failing seed") && out.contains("Example"),
        "{out}"
    );
}

#[test]
fn bench_prints_json_for_scripts() {
    let (code, out, _) = drcsim(&[
        "bench",
        "flood",
        "--servers",
        "4",
        "--messages",
        "10",
        "--json",
    ]);
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON object");
    assert_eq!(v["hops"], 30);
    assert_eq!(v["violations"], 0);
    let (code, out, _) = drcsim(&[
        "bench",
        "chat",
        "--servers",
        "2",
        "--rooms",
        "2",
        "--members",
        "2",
        "--seconds",
        "1",
        "--json",
    ]);
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON object");
    assert_eq!(v["clients"], 4);
}

/// `bench users` runs the `[workload]` users it describes, times them
/// after set-up, and gives the same trace twice.
#[test]
fn bench_users_chats_changes_nicks_and_churns_deterministically() {
    let args = [
        "bench",
        "users",
        "--servers",
        "3",
        "--users",
        "60",
        "--seconds",
        "40",
        "--say-every",
        "5",
        "--nick-every",
        "20",
        "--churn-every",
        "20",
        "--json",
    ];
    let (code, out, _) = drcsim(&args);
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON object");
    assert_eq!(
        (v["servers"].as_u64(), v["users"].as_u64()),
        (Some(3), Some(60))
    );
    assert_eq!(v["violations"], 0);
    // 60 users saying one message every 5 s in rooms of about 20 for 40 s
    // (less the time churned users spend away): thousands of deliveries.
    let deliveries = v["deliveries"].as_u64().unwrap();
    assert!((2_000..20_000).contains(&deliveries), "{deliveries}");
    assert!(v["setup_events"].as_u64().unwrap() > 0);
    assert!(v["sim_secs"].as_f64().unwrap() >= 40.0);
    // Judged at the end as `run` judges: the benches run on untimed to a
    // quiet end, so convergence is judged too (every user back, every
    // server agreeing), and the clients' end states are counted.
    assert_eq!(v["client_summary"]["total"], 60);
    assert_eq!(v["quiescent"], true);
    assert!(v["drain_wall_secs"].as_f64().unwrap() > 0.0);
    let at_end = &v["client_summary"]["at_end"];
    let states: u64 = ["connected", "quit", "killed", "disconnected", "pending"]
        .iter()
        .map(|k| at_end[k].as_u64().unwrap())
        .sum();
    assert_eq!(states, 60, "{at_end}");
    assert!(at_end["connected"].as_u64().unwrap() >= 50, "{at_end}");
    let (_, again, _) = drcsim(&args);
    let w: serde_json::Value = serde_json::from_str(again.trim()).expect("one JSON object");
    assert_eq!(v["trace_hash"], w["trace_hash"]);
    assert_eq!(v["events"], w["events"]);
}

fn drcsim_env(args: &[&str], env: (&str, &str)) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_drcsim"))
        .args(args)
        .env(env.0, env.1)
        .output()
        .expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn scenario(name: &str) -> String {
    format!("{}/../scenarios/{name}.toml", env!("CARGO_MANIFEST_DIR"))
}

/// An empty scratch directory of this test binary's own, `name` unique
/// to one test (under Cargo's target/tmp, emptied at each run).
fn scratch(name: &str) -> std::path::PathBuf {
    let d = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{name}"));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn tmpdir(name: &str) -> String {
    scratch(name).display().to_string()
}

#[test]
fn set_overrides_a_setting_and_names_itself_in_errors() {
    // Switching the ablation off turns a failing run into a passing one
    // (its [expect] then no longer matches).
    let f = scenario("ablate-squit-forward");
    let (code, out, _) = drcsim(&["run", &f, "--json"]);
    assert_eq!(code, 0);
    let ablated: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(ablated["verdict"], "fail");
    let (code, out, err) = drcsim(&["run", &f, "--json", "--set", "protocol.ablate=[]"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(code, 1, "{err}");
    assert_eq!(v["verdict"], "pass");
    assert_ne!(
        v["provenance"]["scenario_hash"],
        ablated["provenance"]["scenario_hash"]
    );
    // A bare word is a string; the expectation can be set too.
    let (code, _, _) = drcsim(&[
        "run",
        &f,
        "--set",
        "protocol.ablate=[]",
        "--set",
        "expect.verdict=pass",
        "--set",
        "expect.violated=[]",
    ]);
    assert_eq!(code, 0);
    let (code, _, err) = drcsim(&["run", &f, "--set", "protocol.nick_colision=x"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("--set protocol.nick_colision=x:") && err.contains("nick_colision"),
        "{err}"
    );
    let (code, _, err) = drcsim(&["run", &f, "--set", "protocol.nick_collision=sometimes"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("--set protocol.nick_collision=sometimes:"),
        "{err}"
    );
    let (code, _, err) = drcsim(&["run", &f, "--set", "server.99.start=false"]);
    assert_eq!(code, 2);
    assert!(err.contains("no such entry"), "{err}");
    // Settings that must agree are judged together, in either order; what
    // still disagrees at the end names the override that broke it.
    let (ping, timeout) = ("protocol.ping_interval=60s", "protocol.ping_timeout=180s");
    for order in [[ping, timeout], [timeout, ping]] {
        let (code, _, err) = drcsim(&[
            "run",
            &f,
            "--set",
            order[0],
            "--set",
            order[1],
            "--set",
            "protocol.ablate=[]",
        ]);
        assert_eq!(code, 1, "{order:?}: {err}");
    }
    let (code, _, err) = drcsim(&["run", &f, "--set", ping, "--set", "protocol.ablate=[]"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("--set protocol.ping_interval=60s:")
            && err.contains("must be longer than ping_interval"),
        "{err}"
    );
}

#[test]
fn expand_prints_a_plain_scenario_that_runs_like_the_seed() {
    let f = scenario("swarm-tree");
    let (code, text, err) = drcsim(&["expand", &f, "--seed", "5"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        !text.contains("[faults]") && text.contains("[[at]]"),
        "{text}"
    );
    let p = temp("expanded-5.toml", &text);
    let (_, a, _) = drcsim(&["run", &p, "--json"]);
    let (_, b, _) = drcsim(&["run", &f, "--seed", "5", "--json"]);
    let (a, b): (serde_json::Value, serde_json::Value) = (
        serde_json::from_str(&a).unwrap(),
        serde_json::from_str(&b).unwrap(),
    );
    assert_eq!(a["trace_hash"], b["trace_hash"]);
}

#[test]
fn a_sweep_records_a_panic_and_goes_on_and_logs_progress_off_a_terminal() {
    let out = tmpdir("panic-sweep");
    let f = scenario("swarm-tree");
    let (code, stdout, err) = drcsim_env(
        &["sweep", &f, "--seeds", "0..3", "--jobs", "1", "-o", &out],
        ("DRCSIM_TEST_PANIC_AT_SEED", "1"),
    );
    assert_eq!(code, 1, "{stdout}{err}");
    assert!(
        stdout.contains("1 panicked") && stdout.contains("seed 1: panicked"),
        "{stdout}"
    );
    // The panic's own message does not flood the log; progress lines do
    // reach it (stderr is a pipe here).
    assert!(!err.contains("thread '"), "{err}");
    assert!(err.contains("3/3 seeds"), "{err}");
    let csv = std::fs::read_to_string(format!("{out}/sweep.csv")).unwrap();
    assert_eq!(csv.lines().count(), 4);
    assert!(
        csv.lines().nth(2).unwrap().starts_with("1,panic,false,"),
        "{csv}"
    );
    // Resuming runs nothing new and writes the same file.
    let (code, stdout, _) = drcsim_env(
        &[
            "sweep", &f, "--seeds", "0..3", "--jobs", "1", "--out", &out, "--resume",
        ],
        ("DRCSIM_TEST_PANIC_AT_SEED", "1"),
    );
    assert_eq!(code, 1);
    assert!(stdout.contains("3 resumed"), "{stdout}");
    assert_eq!(
        std::fs::read_to_string(format!("{out}/sweep.csv")).unwrap(),
        csv
    );
}

#[test]
fn merge_reports_missing_seeds_and_exits_nonzero() {
    let f = scenario("swarm-tree");
    let a = tmpdir("merge-a");
    let (code, _, err) = drcsim(&[
        "sweep", &f, "--seeds", "0..4", "--shard", "0/2", "--out", &a,
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = drcsim(&[
        "merge",
        &format!("{a}/sweep.csv"),
        "-o",
        &format!("{a}/all.csv"),
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("2 of the declared range's seeds are in no input (1, 3)"),
        "{err}"
    );
    let (code, _, err) = drcsim(&[
        "merge",
        &format!("{a}/sweep.csv"),
        "-o",
        &format!("{a}/all.csv"),
        "--allow-missing",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("missing: 1, 3"), "{err}");
}

#[test]
fn compare_runs_every_variant_on_the_same_seeds() {
    let out = tmpdir("compare");
    let f = scenario("swarm-tree");
    let (code, stdout, err) = drcsim(&[
        "compare",
        &f,
        "--vary",
        "protocol.ablate=[],[loop-check]",
        "--seeds",
        "0..12",
        "--jobs",
        "1",
        "--out",
        &out,
    ]);
    assert_eq!(code, 0, "{stdout}{err}");
    assert!(stdout.contains("2 variants, 24 runs"), "{stdout}");
    let csv = std::fs::read_to_string(format!("{out}/compare.csv")).unwrap();
    let mut lines = csv.lines();
    assert!(lines
        .next()
        .unwrap()
        .starts_with("variant,protocol.ablate,seed,verdict,"));
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 24);
    assert!(rows[0].starts_with("0,[],0,pass,true,"), "{}", rows[0]);
    assert!(rows[12].starts_with("1,[loop-check],0,"), "{}", rows[12]);
    // The healthy variant passes everywhere, the ablated one fails some.
    let failing = |v: &str| {
        rows.iter()
            .filter(|r| r.starts_with(v) && r.split(',').nth(4) == Some("false"))
            .count()
    };
    assert_eq!(failing("0,"), 0);
    assert!(failing("1,") > 0);
    let html = std::fs::read_to_string(format!("{out}/report.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("tree.acyclic") && !html.contains("http://cdn"));
    assert!(
        html.contains("repro-seed-"),
        "paired differences link reproducers"
    );
}

#[test]
fn json_records_give_arrays_and_room_numbers_as_integers() {
    let f = scenario("client-reconnect");
    let (_, keyed, _) = drcsim(&["run", &f, "--json"]);
    let (_, recs, _) = drcsim(&["run", &f, "--json", "--records"]);
    let keyed: serde_json::Value = serde_json::from_str(&keyed).unwrap();
    let recs: serde_json::Value = serde_json::from_str(&recs).unwrap();
    let servers = recs["final"]["servers"].as_array().expect("an array");
    assert_eq!(
        servers.len(),
        keyed["final"]["servers"].as_object().unwrap().len()
    );
    for s in servers {
        let name = s["name"].as_str().unwrap();
        assert_eq!(s["servers"], keyed["final"]["servers"][name]["servers"]);
    }
    assert!(recs["final"]["clients"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["name"].is_string()));
    assert_eq!(recs["trace_hash"], keyed["trace_hash"]);
    assert!(keyed["measures"]["wire_bytes"].as_u64().unwrap() > 0);
    // Every delivered room message: seq "E.N" with E and N as integers.
    let mut seen = 0;
    for c in keyed["final"]["clients"].as_object().unwrap().values() {
        for msgs in c["rooms"].as_object().unwrap().values() {
            for m in msgs.as_array().unwrap() {
                let want = format!(
                    "{}.{}",
                    m["epoch"].as_u64().unwrap(),
                    m["n"].as_u64().unwrap()
                );
                assert_eq!(m["seq"].as_str().unwrap(), want);
                seen += 1;
            }
        }
    }
    assert!(seen > 0, "the scenario delivers room messages");
}

#[test]
fn report_draws_a_scenario_or_a_trace_into_one_page() {
    let dir = scratch("report");
    std::fs::create_dir_all(&dir).unwrap();
    let scn = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scenarios/ablate-dedup.toml"
    );
    let page = dir.join("r.html");
    let (code, out, err) = drcsim(&["report", scn, "-o", page.to_str().unwrap()]);
    // Exit status as for `run`: the run matched its [expect] (a failure).
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("3 violations"), "{out}");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.starts_with("<!doctype html>") && html.contains("order.once"));
    // The page is a function of the run: drawn again, the same bytes.
    let again = dir.join("r2.html");
    let (code, _, _) = drcsim(&["report", scn, "-o", again.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert_eq!(std::fs::read(&again).unwrap(), html.as_bytes());

    // The same run's trace file gives the same diagram.
    let trace = dir.join("t.jsonl");
    let (code, _, err) = drcsim(&["run", scn, "--trace", trace.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let from_trace = dir.join("t.html");
    let (code, out, err) = drcsim(&[
        "report",
        trace.to_str().unwrap(),
        "-o",
        from_trace.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("3 violations, 249 frames drawn"), "{out}");
    let (code, _, err) = drcsim(&["report", trace.to_str().unwrap(), "--seed", "2"]);
    assert_eq!(code, 2);
    assert!(err.contains("not to a trace"), "{err}");
}

#[test]
fn perfetto_and_dot_are_written_beside_the_run() {
    let dir = scratch("pics");
    std::fs::create_dir_all(&dir).unwrap();
    let (p, d) = (dir.join("p.json"), dir.join("t.dot"));
    let (code, _, err) = drcsim(&[
        "run",
        "--perfetto",
        p.to_str().unwrap(),
        "--dot-at",
        "40s",
        d.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    assert!(v["traceEvents"].as_array().unwrap().len() > 100);
    let dot = std::fs::read_to_string(&d).unwrap();
    assert!(
        dot.contains("graph drc {") && dot.contains("real links at 40000 ms"),
        "{dot}"
    );
    let (code, _, err) = drcsim(&["run", "--dot-at", "soon", d.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("--dot-at"), "{err}");
}

#[test]
fn trace_filters_need_a_trace_and_a_well_formed_window() {
    let (code, _, err) = drcsim(&["run", "--trace-window", "1s..2s"]);
    assert_eq!(code, 2);
    assert!(err.contains("--trace"), "{err}");
    let (code, _, err) = drcsim(&["run", "--trace", "-", "--trace-window", "2s..1s"]);
    assert_eq!(code, 2);
    assert!(err.contains("ends before it starts"), "{err}");
    let (code, out, _) = drcsim(&["run", "--trace", "-", "--trace-hosts", "east"]);
    assert_eq!(code, 0);
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["ev"], "header");
    assert_eq!(lines[0]["schema"], 2);
    assert_eq!(lines[0]["time_unit"], "ns");
    assert!(lines
        .iter()
        .filter(|v| v["ev"] == "deliver")
        .all(|v| v["from"] == "east" || v["to"] == "east"));
}

#[test]
fn sweep_writes_a_summary_page_beside_the_csv() {
    let dir = scratch("sweep-html");
    let scn = concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios/swarm-tree.toml");
    let (code, out, err) = drcsim(&[
        "sweep",
        scn,
        "--seeds",
        "0..6",
        "--jobs",
        "1",
        "--set",
        "protocol.ablate=[loop-check]",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{out}{err}");
    let html = std::fs::read_to_string(dir.join("summary.html")).unwrap();
    assert!(html.contains("6 seeds, 2 failing"), "{html}");
    assert!(html.contains("tree.acyclic"));
    assert!(html.contains("Failure rate by fault kind drawn"));
    assert!(html.contains("href=\"repro-seed-2.toml\""));
    assert!(!html.contains("<script"));
}

#[test]
fn a_brief_summary_counts_what_the_full_one_lists() {
    let f = scenario("leave-rejoin");
    let (code, full, _) = drcsim(&["run", &f, "--json"]);
    assert_eq!(code, 0);
    let (code, brief, _) = drcsim(&["run", &f, "--json", "--summary", "brief"]);
    assert_eq!(code, 0);
    let full: serde_json::Value = serde_json::from_str(&full).unwrap();
    let brief: serde_json::Value = serde_json::from_str(&brief).unwrap();
    assert_eq!(full["trace_hash"], brief["trace_hash"], "the same run");
    assert_eq!(full["verdict"], brief["verdict"]);
    // The text summary, which runs brief inside (it reads counts alone),
    // tells of the same run.
    let (code, text, _) = drcsim(&["run", &f]);
    assert_eq!(code, 0);
    let hash = full["trace_hash"].as_str().unwrap();
    assert!(text.contains(&format!(", trace {hash}\n")), "{text}");
    let fs = full["final"]["servers"].as_object().unwrap();
    let bs = brief["final"]["servers"].as_object().unwrap();
    assert_eq!(fs.keys().collect::<Vec<_>>(), bs.keys().collect::<Vec<_>>());
    for (name, f) in fs {
        let b = &bs[name];
        assert_eq!(b["up"], f["up"], "{name}");
        for k in ["servers", "users", "rooms"] {
            let n = f[k].as_object().unwrap().len() as u64;
            assert_eq!(b[k].as_u64(), Some(n), "{name} {k}");
        }
    }
    for (id, f) in full["final"]["clients"].as_object().unwrap() {
        let b = &brief["final"]["clients"][id];
        for k in ["state", "server", "nick", "uid", "login", "session"] {
            assert_eq!(b[k], f[k], "{id} {k}");
        }
        let delivered: usize = f["rooms"]
            .as_object()
            .unwrap()
            .values()
            .map(|r| r.as_array().unwrap().len())
            .sum();
        assert_eq!(b["delivered"].as_u64(), Some(delivered as u64), "{id}");
    }
    let (code, _, err) = drcsim(&["run", &f, "--summary", "tiny"]);
    assert_eq!(code, 2, "{err}");
}

/// The benches say how much of the process's memory is in transparent
/// huge pages (sim/src/huge_pages.rs advises it; whether the kernel grants
/// a huge page at each fault depends on its free memory, so only the
/// figure's presence is asserted here, and the advice itself is tested in
/// huge_pages.rs).
#[cfg(target_os = "linux")]
#[test]
fn the_benches_report_their_memory_in_huge_pages() {
    let args = [
        "bench",
        "flood",
        "--servers",
        "100",
        "--messages",
        "10",
        "--json",
    ];
    let (code, out, _) = drcsim(&args);
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON object");
    let huge = v["huge_pages_mib"]
        .as_f64()
        .expect("Linux reports AnonHugePages");
    let peak = v["peak_rss_mib"].as_f64().expect("Linux reports VmHWM");
    assert!((0.0..=peak).contains(&huge), "{out}");
}

/// `bench flood --hold` runs on after the flood and judges the run, the
/// tree's convergence included: what the 10,000-server figure in
/// docs/performance.md is made with.
#[test]
fn the_flood_bench_holds_the_tree_and_judges_it() {
    let base = ["bench", "flood", "--servers", "60", "--messages", "10"];
    let (code, out, _) = drcsim(&[&base[..], &["--hold", "60", "--json"]].concat());
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON object");
    assert_eq!(v["hold_secs"], 60, "{out}");
    assert_eq!(v["quiescent"], true, "60 s is past the 45 s settle: {out}");
    assert_eq!(
        (v["violations"].as_u64(), v["tree_ok"].as_bool()),
        (Some(0), Some(true))
    );
    // Too short a hold for a quiet end says so; no hold judges nothing.
    let (code, out, _) = drcsim(&[&base[..], &["--hold", "5"]].concat());
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("not quiet: convergence not judged"), "{out}");
    let (_, out, _) = drcsim(&[&base[..], &["--json"]].concat());
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON object");
    assert_eq!(
        (v["hold_secs"].as_u64(), v["quiescent"].is_null()),
        (Some(0), true)
    );
}

/// A bench too large for the machine is refused before it starts, with
/// the estimate and what is available, not killed by the OS minutes
/// later (sim/src/footprint.rs). Ten million users on 46,656 servers
/// need about 110 TiB: past any machine this test runs on.
#[cfg(target_os = "linux")]
#[test]
fn a_bench_too_large_for_the_machine_is_refused_at_once() {
    let t = std::time::Instant::now();
    let big = ["--servers", "46656", "--users", "10000000"];
    let (code, out, err) = drcsim(&[&["bench", "users"][..], &big].concat());
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.is_empty(), "{out}");
    assert!(
        err.starts_with(
            "drcsim: error: bench users: 10,000,000 users on 46,656 servers would need about "
        ),
        "{err}"
    );
    assert!(
        err.contains("available; ask for less, or add --force"),
        "{err}"
    );
    let (code, _, err) = drcsim(&["bench", "chat", "--servers", "46656", "--rooms", "10000"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("bench chat: 640,000 clients on 46,656 servers"),
        "{err}"
    );
    // Refused before any set-up: a run of that size would take hours.
    assert!(t.elapsed().as_secs() < 60, "{:?}", t.elapsed());
    // A small one is not refused, and --force is accepted.
    let small = [
        "bench",
        "flood",
        "--servers",
        "8",
        "--messages",
        "1",
        "--force",
    ];
    let (code, out, err) = drcsim(&small);
    assert_eq!(code, 0, "{out}{err}");
}

/// A run whose full JSON summary would be large says so before it runs,
/// and names the way out; without `--json` or `--out` no summary is made
/// and nothing is said (sim/src/footprint.rs).
#[test]
fn a_large_full_summary_is_warned_about_before_the_run() {
    let mut toml = String::from("name = \"wide\"\nseed = 1\nduration = \"60s\"\n");
    for i in 0..1_000 {
        toml += &format!("[[server]]\nname = \"s{i}\"\n");
    }
    toml += "[workload]\nclients = 5000\nrooms = 250\njoins = 1\nsay_every = \"600s\"\n";
    let f = temp("wide.toml", &toml);
    let quick = ["--max-events", "1"];
    let (_, out, err) = drcsim(&[&["run", &f, "--json"][..], &quick].concat());
    assert!(
        err.starts_with(
            "drcsim: warning: the full summary of 1,000 servers and 5,000 users is about 273 MiB \
             of JSON"
        ),
        "{err}"
    );
    assert!(err.contains("--summary brief"), "{err}");
    assert!(out.starts_with('{'), "the JSON still comes");
    let (_, _, err) = drcsim(&[&["run", &f, "--json", "--summary", "brief"][..], &quick].concat());
    assert!(!err.contains("full summary"), "{err}");
    let (_, _, err) = drcsim(&[&["run", &f][..], &quick].concat());
    assert!(!err.contains("full summary"), "{err}");
}
