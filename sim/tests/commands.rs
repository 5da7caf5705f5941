//! The multi-server spec's remaining client and operator commands, as
//! their scenarios end: ULIST and LISTROOMS answers, EXIT and an
//! acknowledged QUIT, an operator KILL carried out by the user's server,
//! and SCLOSE of a link asked for by an operator elsewhere.

use std::path::PathBuf;

use drc_sim::run::{run, RunOptions};
use drc_sim::scenario;
use serde_json::Value;

fn outcome_of(name: &str) -> Value {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../scenarios/{name}.toml"));
    let scn = scenario::load(&p).unwrap();
    let o = run(&scn, RunOptions::default()).unwrap();
    assert!(o.violations.is_empty(), "{name}:\n{}", o.summary());
    assert!(o.matched, "{name}:\n{}", o.summary());
    o.to_json()
}

#[test]
fn ulist_and_listrooms_answer_across_servers() {
    let j = outcome_of("client-commands");
    let c = &j["final"]["clients"];
    let answers: Vec<(String, Vec<String>)> = c["carol"]["answers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let words = a["answer"].as_array().unwrap();
            let words = words.iter().map(|w| w.as_str().unwrap().to_string());
            (a["ask"].as_str().unwrap().to_string(), words.collect())
        })
        .collect();
    let w = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        answers,
        [
            // nick!user@host realname: the host is the server each
            // registered on, known at carol's server through UINFO.
            (
                "ulist #lobby".to_string(),
                w(&[
                    "#lobby",
                    "alice!alice@east alice (simulated)",
                    "bob!bob@west bob (simulated)",
                ]),
            ),
            ("listrooms".to_string(), w(&["#dev", "#lobby"])),
            ("ulist #nowhere".to_string(), w(&["#nowhere"])),
        ]
    );
    for id in ["dave", "erin"] {
        assert_eq!(c[id]["state"], "quit", "{id}");
    }
    // Both are gone from every server's view.
    for s in ["hub", "east", "west"] {
        let users = j["final"]["servers"][s]["users"].as_object().unwrap();
        assert!(
            !users.contains_key("dave") && !users.contains_key("erin"),
            "{s}"
        );
    }
}

#[test]
fn an_operator_kill_is_carried_out_by_the_users_server_and_unlink_travels() {
    let j = outcome_of("operator-kill-and-remote-unlink");
    let c = &j["final"]["clients"];
    assert_eq!(c["alice"]["state"], "killed");
    assert_eq!(c["bob"]["state"], "connected", "bob reconnects");
    for s in ["hub", "east", "west"] {
        let users = j["final"]["servers"][s]["users"].as_object().unwrap();
        assert!(!users.contains_key("alice"), "{s}");
        assert_eq!(users["bob"], "west", "{s}");
    }
    // leaf is alone: east closed their link when west's operator asked.
    assert_eq!(
        j["final"]["servers"]["leaf"]["servers"],
        serde_json::json!({})
    );
}
