//! What the greeter scenarios end with, beyond "no invariant fired": how
//! each client logged in, where its session is, what each bad token was
//! answered, and the token counters.

use std::collections::BTreeMap;
use std::path::PathBuf;

use drc_sim::run::{run, RunOptions};
use drc_sim::scenario;
use serde_json::Value;

fn outcome_of(name: &str) -> Value {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../scenarios/{name}.toml"));
    let scn = scenario::load(&p).unwrap();
    let o = run(&scn, RunOptions::default()).unwrap();
    assert!(o.violations.is_empty(), "{name}:\n{}", o.summary());
    o.to_json()
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("null")
}

#[test]
fn every_bad_token_is_refused_with_its_reason_and_changes_nothing() {
    let j = outcome_of("greeter-tokens");
    let c = &j["final"]["clients"];
    // Alice and carol came through the greeter to #lobby's server, `a`
    // (carol after a restart of `a`, under its new secret).
    for id in ["alice", "carol"] {
        let x = &c[id];
        assert_eq!(
            (
                s(&x["state"]),
                s(&x["server"]),
                s(&x["login"]),
                s(&x["session"])
            ),
            ("connected", "a", "greeter", "a"),
            "{id}"
        );
        assert_eq!(s(&x["sessions"][0]["room"]), "#lobby");
    }
    // Alice's listing named `a` with bob on it.
    assert_eq!(s(&c["alice"]["sessions"][0]["servers"]), "a:1");
    assert_eq!(s(&c["bob"]["login"]), "direct");
    let answers: Vec<(&str, &str)> = c["mallory"]["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (s(&t["token"]), s(&t["answer"])))
        .collect();
    assert_eq!(
        answers,
        [
            ("replayed", "replay"),
            ("expired", "expired"),
            ("tampered", "signature"),
            ("other-audience", "audience"),
            ("stale-secret", "stale"),
            ("stale-secret", "stale"),
        ]
    );
    // No bad token made a user: `a` knows bob, alice and carol, and
    // mallory lives on `b`.
    let users: BTreeMap<&str, &str> = j["final"]["servers"]["a"]["users"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.as_str(), s(v)))
        .collect();
    assert_eq!(
        users,
        BTreeMap::from([
            ("alice", "a"),
            ("bob", "a"),
            ("carol", "a"),
            ("mallory", "b")
        ])
    );
    let t = &j["stats"]["tokens"];
    assert_eq!(
        (t["issued"].as_u64(), t["accepted"].as_u64()),
        (Some(2), Some(2))
    );
    let rejected: BTreeMap<&str, u64> = t["rejected"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_u64().unwrap()))
        .collect();
    assert_eq!(
        rejected,
        BTreeMap::from([
            ("audience", 1),
            ("expired", 1),
            ("replay", 1),
            ("signature", 1),
            ("stale", 2)
        ])
    );
}

#[test]
fn a_hundred_logins_at_once_spread_evenly_over_four_servers() {
    let j = outcome_of("greeter-100-logins");
    let mut per: BTreeMap<String, u64> = BTreeMap::new();
    for (_, c) in j["final"]["clients"].as_object().unwrap() {
        assert_eq!((s(&c["state"]), s(&c["login"])), ("connected", "greeter"));
        assert_eq!(s(&c["session"]), s(&c["server"]));
        *per.entry(s(&c["server"]).to_string()).or_default() += 1;
    }
    let want: BTreeMap<String, u64> = ["s1", "s2", "s3", "s4"]
        .iter()
        .map(|x| (x.to_string(), 25))
        .collect();
    assert_eq!(per, want);
    assert_eq!(j["stats"]["tokens"]["issued"].as_u64(), Some(100));
    assert_eq!(j["stats"]["tokens"]["accepted"].as_u64(), Some(100));
}

#[test]
fn a_greeter_crash_mid_login_ends_in_a_full_login_and_spares_sessions() {
    let j = outcome_of("greeter-crash-mid-login");
    let c = &j["final"]["clients"];
    let a = &c["alice"];
    assert_eq!(
        (
            s(&a["state"]),
            s(&a["server"]),
            s(&a["login"]),
            s(&a["login_fallback"])
        ),
        ("connected", "b", "direct", "login timed out")
    );
    // Bob's session on `a` outlived the crash; dave's login after the
    // restart went through, and bob heard him.
    for id in ["bob", "dave"] {
        assert_eq!(
            (s(&c[id]["state"]), s(&c[id]["session"]), s(&c[id]["login"])),
            ("connected", "a", "greeter"),
            "{id}"
        );
        let said: Vec<&str> = c[id]["rooms"]["#lobby"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| s(&m["text"]))
            .collect();
        assert_eq!(said, ["hello from dave"], "{id}");
    }
}

/// Fails with the greeter's clock offset ignored: both tokens for `b`
/// (50 s ahead) arrive expired and ben and dan fall back to full logins.
#[test]
fn tokens_are_good_at_servers_whose_clocks_are_far_off() {
    let j = outcome_of("greeter-skewed-clocks");
    for (id, server) in [("ann", "a"), ("ben", "b"), ("cat", "a"), ("dan", "b")] {
        let c = &j["final"]["clients"][id];
        assert_eq!(
            (s(&c["state"]), s(&c["login"]), s(&c["session"])),
            ("connected", "greeter", server),
            "{id}"
        );
    }
    assert_eq!(j["stats"]["tokens"]["accepted"].as_u64(), Some(4));
    assert_eq!(
        j["stats"]["tokens"]["rejected"]["expired"].as_u64(),
        Some(0)
    );
}
