//! `present_token`: the simulator plays an attacker who holds stolen
//! tokens and keys, and makes a client present a bad token.
//!
//! Each kind is built to fail exactly one of the session server's checks:
//! `replayed` is the last token the server accepted; `expired` is signed
//! with the server's real secret but ran out before the leeway; `tampered`
//! is a real token with its user changed after signing; `other-audience`
//! names another running server as its audience but carries a good MAC
//! under this server's secret, as a greeter that mixed up its keys would
//! sign it (a token signed with the other server's own secret fails the
//! MAC as well, so only this one tests the audience check alone);
//! `stale-secret` is signed
//! with the secret of the server's previous incarnation (or, before any
//! restart, a secret of incarnation 0, which never exists). Every token
//! with a real MAC is recorded for `token.once` with what it was made
//! for, so acceptance of any of them is judged from the truth.

use drc_protocol::token::{self, Claims, Secret};

use super::*;
use crate::checkers::tokens::Minted;

impl World {
    pub(super) fn present_token(&mut self, client: &str, server: &str, kind: &str) {
        let Some(token) = self.attack_token(client, server, kind) else {
            // Nothing to present (no token accepted there yet to replay,
            // or the server is down and holds no secret): the trace says so.
            if let Some(t) = &mut self.trace {
                let v = serde_json::json!({"n": self.events, "t_ns": self.now, "ev": "skipped",
                    "host": client, "why": format!("present_token {kind}: nothing to present to {server}")});
                t.record(&v);
            }
            return;
        };
        let h = self.host(client);
        let cmd = ClientCommand::PresentToken {
            server,
            kind,
            token: &token,
        };
        self.dispatch_client(h, ClientInput::Command(cmd));
    }

    /// The server's secret, incarnation and wall clock (ms) now.
    fn secret_of(&self, h: HostId) -> Option<(Secret, u64, u64)> {
        let host = &self.hosts[h as usize];
        let s = host.server.as_ref().filter(|_| host.running())?;
        let wall = s.wall_clock_ms(host.local_time(self.now));
        Some((s.token_secret()?, host.incarnation, wall))
    }

    fn mint(
        &mut self,
        audience: &str,
        c: &Claims<'_>,
        secret: &Secret,
        record: bool,
    ) -> Option<String> {
        let t = token::sign(secret, c)?;
        if record {
            self.checks.tokens.minted.insert(
                t.as_str().into(),
                Minted {
                    audience: audience.into(),
                    incarnation: c.incarnation,
                    expiry_ms: c.expiry_ms,
                },
            );
        }
        Some(t)
    }

    fn attack_token(&mut self, client: &str, server: &str, kind: &str) -> Option<String> {
        let sh = self.host(server);
        let name = self.hosts[sh as usize].claims.clone();
        if kind == "replayed" {
            return self
                .checks
                .tokens
                .last_accepted
                .get(&name)
                .map(|t| t.to_string());
        }
        self.attacks += 1;
        let nonce = rng::stream(self.seed, &format!("attack/{}", self.attacks)).next_u64();
        let nick = self.nick_of(client);
        let ttl = self.cfg.token_ttl.as_millis();
        match kind {
            "expired" | "tampered" => {
                let (secret, incarnation, wall) = self.secret_of(sh)?;
                let expiry_ms = if kind == "expired" {
                    wall.saturating_sub(self.cfg.token_leeway.as_millis() + 1_000)
                } else {
                    wall + ttl
                };
                let c = Claims {
                    audience: &name,
                    nick: &nick,
                    user: client,
                    expiry_ms,
                    nonce,
                    incarnation,
                };
                let t = self.mint(&name, &c, &secret, kind == "expired")?;
                if kind == "expired" {
                    return Some(t);
                }
                // Signed for `client`, presented as someone else.
                let mut f: Vec<&str> = t.split(':').collect();
                let other = format!("{client}x");
                f[2] = &other;
                Some(f.join(":"))
            }
            "other-audience" => {
                let other = (0..self.hosts.len() as HostId)
                    .filter(|&h| h != sh && !self.hosts[h as usize].is_client)
                    .filter(|&h| self.hosts[h as usize].genuine)
                    .find(|&h| self.secret_of(h).is_some())?;
                let (secret, incarnation, wall) = self.secret_of(sh)?;
                let audience = self.hosts[other as usize].claims.clone();
                let c = Claims {
                    audience: &audience,
                    nick: &nick,
                    user: client,
                    expiry_ms: wall + ttl,
                    nonce,
                    incarnation,
                };
                self.mint(&audience, &c, &secret, true)
            }
            "stale-secret" => {
                let (_, now_inc, wall) = self.secret_of(sh)?;
                let host = &self.hosts[sh as usize];
                let (incarnation, secret) =
                    match host.old_secrets.iter().rev().find(|(i, _)| *i < now_inc) {
                        Some(&(i, s)) => (i, s),
                        None => {
                            let mut s = [0u8; 32];
                            rng::stream(self.seed, &format!("stale/{server}")).fill_bytes(&mut s);
                            (0, s)
                        }
                    };
                let c = Claims {
                    audience: &name,
                    nick: &nick,
                    user: client,
                    expiry_ms: wall + ttl,
                    nonce,
                    incarnation,
                };
                self.mint(&name, &c, &secret, true)
            }
            _ => None,
        }
    }
}
