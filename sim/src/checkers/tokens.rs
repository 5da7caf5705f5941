//! Greeter logins and session tokens: `token.once` as tokens are
//! accepted, `login.finishes` as logins end and at the end of the run, and
//! the counters of `stats.tokens`.
//!
//! The checker's ground truth is every token that carries a real MAC: the
//! ones the greeter notes it issued, and the ones the simulator mints with
//! a server's real secret when it plays an attacker. A token accepted
//! anywhere is judged against what it was minted for, never against what
//! the accepting server says about it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use drc_protocol::token::Refusal;
use drc_protocol::ChatNote;

use super::Violation;
use crate::clock::SimTime;
use crate::network::HostId;

/// What a token with a real MAC was made for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Minted {
    pub audience: Arc<str>,
    pub incarnation: u64,
    pub expiry_ms: u64,
}

/// `stats.tokens` in the JSON summary.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct TokenCounts {
    pub issued: u64,
    pub accepted: u64,
    pub rejected: BTreeMap<&'static str, u64>,
}

impl TokenCounts {
    fn new() -> Self {
        TokenCounts {
            issued: 0,
            accepted: 0,
            rejected: Refusal::ALL.iter().map(|r| (r.as_str(), 0)).collect(),
        }
    }
}

pub struct TokenChecks {
    pub minted: BTreeMap<Arc<str>, Minted>,
    accepted: BTreeSet<Arc<str>>,
    /// The last token each server (by name) accepted: what a replay
    /// attack presents again.
    pub last_accepted: BTreeMap<Arc<str>, Arc<str>>,
    /// Client logins under way, by client host, since when.
    logins: BTreeMap<HostId, SimTime>,
    login_timeout: SimTime,
    leeway_ms: u64,
    pub counts: TokenCounts,
}

impl TokenChecks {
    pub fn new(cfg: &drc_protocol::Config) -> Self {
        TokenChecks {
            minted: BTreeMap::new(),
            accepted: BTreeSet::new(),
            last_accepted: BTreeMap::new(),
            logins: BTreeMap::new(),
            login_timeout: cfg.login_timeout.as_nanos(),
            leeway_ms: cfg.token_leeway.as_millis(),
            counts: TokenCounts::new(),
        }
    }

    /// One note of host `h` (named `label`; `name` is the server name it
    /// goes by). Violations go to `v` only when `check` is set; counts are
    /// kept either way.
    #[allow(clippy::too_many_arguments)]
    pub fn on_note(
        &mut self,
        now: SimTime,
        h: HostId,
        label: &str,
        name: &str,
        n: &ChatNote,
        check: bool,
        v: &mut Vec<Violation>,
    ) {
        let mut violate = |inv: &'static str, detail: String| {
            if check {
                v.push(Violation {
                    invariant: inv,
                    time_ms: now / 1_000_000,
                    host: Some(label.to_string()),
                    detail,
                });
            }
        };
        match n {
            ChatNote::TokenIssued {
                token,
                audience,
                incarnation,
                expiry_ms,
            } => {
                self.counts.issued += 1;
                self.minted.insert(
                    token.clone(),
                    Minted {
                        audience: audience.clone(),
                        incarnation: *incarnation,
                        expiry_ms: *expiry_ms,
                    },
                );
            }
            ChatNote::TokenRefused { reason, .. } => {
                *self.counts.rejected.entry(reason).or_insert(0) += 1;
            }
            ChatNote::TokenAccepted {
                token,
                wall_ms,
                incarnation,
                ..
            } => {
                self.counts.accepted += 1;
                let short = &token[..token.len().min(24)];
                match self.minted.get(token) {
                    None => violate(
                        "token.once",
                        format!("accepted {short}…, which no secret signed (bad signature)"),
                    ),
                    Some(m) if *m.audience != *name => violate(
                        "token.once",
                        format!("accepted {short}…, made out for {}", m.audience),
                    ),
                    Some(m) if m.incarnation != *incarnation => violate(
                        "token.once",
                        format!(
                            "accepted {short}…, signed with the secret of incarnation {} (now {incarnation})",
                            m.incarnation
                        ),
                    ),
                    Some(m) if *wall_ms > m.expiry_ms + self.leeway_ms => violate(
                        "token.once",
                        format!(
                            "accepted {short}… {} ms after its expiry",
                            wall_ms - m.expiry_ms
                        ),
                    ),
                    Some(_) => {}
                }
                if !self.accepted.insert(token.clone()) {
                    violate("token.once", format!("accepted {short}… a second time"));
                }
                self.last_accepted.insert(name.into(), token.clone());
            }
            ChatNote::LoginStarted { .. } => {
                self.logins.insert(h, now);
            }
            ChatNote::LoginEnded {
                outcome, reason, ..
            } => {
                if let Some(since) = self.logins.remove(&h) {
                    if now - since > self.login_timeout {
                        violate(
                            "login.finishes",
                            format!(
                                "a greeter login took {} ms (login_timeout {} ms) and ended {outcome} {reason}",
                                (now - since) / 1_000_000,
                                self.login_timeout / 1_000_000
                            ),
                        );
                    }
                }
            }
            _ => {}
        }
    }

    /// `login.finishes` at the end: logins still open past their timeout.
    pub fn overdue(&self, now: SimTime, label: impl Fn(HostId) -> String) -> Vec<Violation> {
        self.logins
            .iter()
            .filter(|(_, &since)| now - since > self.login_timeout)
            .map(|(&h, &since)| Violation {
                invariant: "login.finishes",
                time_ms: now / 1_000_000,
                host: Some(label(h)),
                detail: format!(
                    "a greeter login started at {} ms never ended (login_timeout {} ms)",
                    since / 1_000_000,
                    self.login_timeout / 1_000_000
                ),
            })
            .collect()
    }
}
