//! Logging in through the greeter, and presenting a token as a probe.
//!
//! A client configured with a greeter dials it instead of a server and
//! sends `GLOGIN <nick> <user> [<#room>]`. It keeps the sessions listed
//! (GSESSION), and on `GTOKEN <server> <token>` closes the greeter's
//! connection, dials the session server and opens with `TOKEN <token>`: no
//! USER or NICK, the token carries both. The login ends with the session's
//! WELCOME. Anything else ends it by falling back to a full login (USER and
//! NICK): at the fallback server when the greeter refuses (GREFUSE), fails
//! or closes; on the same connection when the session server refuses the
//! token (TOKENERR); and at the fallback server when `login_timeout` passes
//! first (a greeter that crashed mid-login says nothing). Every login so
//! ends, one way or the other, within `login_timeout`.
//!
//! Reconnects after a session was lost are full logins at the client's
//! reconnect targets, the session server first: the greeter is a door for
//! new logins, and a network whose greeter is down must not strand users.
//!
//! A probe (`present_token`, an attack the simulator plays) opens its own
//! connection to a server, presents a token and records the answer: the
//! reason of a TOKENERR, or "accepted" (then quits at once), or "closed".

use std::sync::Arc;

use super::{frame, Client, ClientState};
use crate::outbox::{ChatNote, LinkId, Outbox, Output};
use crate::time::Instant;
use crate::wire::Frame;

/// The most sessions a client keeps from one greeter answer.
const MAX_SESSIONS: usize = 20;

#[derive(Clone, Debug)]
pub(super) struct Login {
    /// Where a full login goes if this one fails.
    fallback: Arc<str>,
    deadline: Option<Instant>,
    /// Once the greeter answered: the session server and the token.
    token: Option<(Arc<str>, Arc<str>)>,
}

/// A token presented on its own connection.
#[derive(Clone, Debug)]
pub(super) struct Probe {
    server: Arc<str>,
    kind: Arc<str>,
    token: Arc<str>,
}

impl Client {
    /// A new login through the greeter; `fallback` is where a full login
    /// goes if it fails.
    pub(super) fn start_login(
        &mut self,
        now: Instant,
        greeter: Arc<str>,
        fallback: Arc<str>,
        out: &mut Outbox,
    ) {
        self.login = Some(Box::new(Login {
            fallback,
            deadline: self.cfg.login_timeout.map(|t| now + t),
            token: None,
        }));
        self.login_kind = "direct";
        self.fallback_reason = None;
        self.session = None;
        self.sessions.clear();
        Self::note(
            out,
            ChatNote::LoginStarted {
                greeter: greeter.clone(),
            },
        );
        self.dial(now, greeter, out);
    }

    pub(super) fn login_deadline(&self) -> Option<Instant> {
        self.login.as_ref().and_then(|l| l.deadline)
    }

    /// The server link opened during a login: greet, or present the token.
    pub(super) fn login_connected(&mut self, now: Instant, link: LinkId, out: &mut Outbox) -> bool {
        let Some(l) = &self.login else {
            return false;
        };
        match l.token.clone() {
            None => {
                let (nick, user) = (self.nick.clone(), self.cfg.user.clone());
                let mut args: Vec<&str> = vec![&nick, &user];
                let session = self.cfg.session.clone();
                if let Some(s) = &session {
                    args.push(s);
                }
                out.send(link, frame("GLOGIN", &args));
            }
            Some((_, token)) => {
                self.begin_registration(now, link, out);
                out.send(link, frame("TOKEN", &[&token]));
            }
        }
        true
    }

    /// A frame from the server link during a login; false when the
    /// ordinary handling should see it.
    pub(super) fn login_frame(&mut self, now: Instant, f: &Frame, out: &mut Outbox) -> bool {
        let Some(l) = &self.login else {
            return false;
        };
        let a = |i: usize| f.arg(i).unwrap_or("");
        let at_greeter = l.token.is_none();
        match f.command() {
            "GSESSION" if at_greeter => {
                if self.sessions.len() < MAX_SESSIONS {
                    self.sessions.push((a(0).into(), a(1).into()));
                }
            }
            "GTOKEN" if at_greeter => {
                let (server, token): (Arc<str>, Arc<str>) = (a(0).into(), a(1).into());
                if let Some(link) = self.server_link() {
                    out.push(Output::Close { link });
                }
                self.server = None;
                if let Some(l) = self.login.as_mut() {
                    l.token = Some((server.clone(), token));
                }
                self.dial(now, server, out);
            }
            "GREFUSE" | "ERROR" if at_greeter => {
                let reason = format!("greeter refused: {}", a(0));
                self.fall_back(now, &reason, out);
            }
            "TOKENERR" if !at_greeter => {
                // The session server still takes a full login, here.
                let reason: Arc<str> = format!("token refused: {}", a(0)).into();
                let server = self.server().unwrap_or_default().into();
                self.login = None;
                self.fallback_reason = Some(reason.clone());
                Self::login_ended(out, "fallback", server, reason);
                self.send_user(out);
                self.send_registration_nick(out);
            }
            _ => return false,
        }
        true
    }

    /// The session's WELCOME: the login ended well.
    pub(super) fn login_welcomed(&mut self, out: &mut Outbox) {
        if self.login.take().is_some() {
            let server: Arc<str> = self.server().unwrap_or_default().into();
            self.session = Some(server.clone());
            self.login_kind = "greeter";
            self.redial_home(&server);
            Self::login_ended(out, "session", server, "".into());
        }
    }

    /// The server link closed during a login; true when handled here.
    pub(super) fn login_closed(&mut self, now: Instant, link: LinkId, out: &mut Outbox) -> bool {
        if self.login.is_none() || self.server_link() != Some(link) {
            return false;
        }
        let why = if self.login.as_ref().is_some_and(|l| l.token.is_none()) {
            "greeter unreachable"
        } else {
            "session server unreachable"
        };
        self.server = None;
        self.fall_back(now, why, out);
        true
    }

    pub(super) fn login_timeout(&mut self, now: Instant, out: &mut Outbox) {
        if self.login_deadline().is_some_and(|d| now >= d) {
            self.fall_back(now, "login timed out", out);
        }
    }

    /// The user gave a login in progress up (a quit, another connect).
    pub(super) fn abandon_login(&mut self, why: &str, out: &mut Outbox) {
        if self.login.take().is_some() {
            Self::login_ended(out, "abandoned", "".into(), why.into());
        }
    }

    /// Gives the login up: a full login at the fallback server.
    fn fall_back(&mut self, now: Instant, reason: &str, out: &mut Outbox) {
        let Some(l) = self.login.take() else {
            return;
        };
        if let Some(link) = self.server_link() {
            out.push(Output::Close { link });
        }
        self.end_registration(out);
        let reason: Arc<str> = reason.into();
        self.fallback_reason = Some(reason.clone());
        Self::login_ended(out, "fallback", l.fallback.clone(), reason);
        self.dial(now, l.fallback, out);
    }

    fn login_ended(out: &mut Outbox, outcome: &'static str, server: Arc<str>, reason: Arc<str>) {
        Self::note(
            out,
            ChatNote::LoginEnded {
                outcome,
                server,
                reason,
            },
        );
    }

    /// Presents `token` to `server` on a connection of its own.
    pub(super) fn present_token(
        &mut self,
        server: &str,
        kind: &str,
        token: &str,
        out: &mut Outbox,
    ) {
        let link = self.new_link();
        let (server, kind, token): (Arc<str>, Arc<str>, Arc<str>) =
            (server.into(), kind.into(), token.into());
        self.probes.insert(
            link,
            Probe {
                server: server.clone(),
                kind,
                token,
            },
        );
        out.push(Output::Connect { link, to: server });
    }

    /// True when `link` is a probe's (and the input was handled).
    pub(super) fn probe_connected(&mut self, link: LinkId, out: &mut Outbox) -> bool {
        let Some(p) = self.probes.get(&link) else {
            return false;
        };
        out.send(link, frame("TOKEN", &[&p.token]));
        true
    }

    /// Whether `link` is a token probe's connection.
    pub(super) fn is_probe(&self, link: LinkId) -> bool {
        self.probes.contains_key(&link)
    }

    pub(super) fn probe_frame(&mut self, link: LinkId, f: &Frame, out: &mut Outbox) -> bool {
        if !self.is_probe(link) {
            return false;
        }
        let answer: Arc<str> = match f.command() {
            "TOKENERR" => f.arg(0).unwrap_or("").into(),
            "WELCOME" => {
                out.send(link, frame("QUIT", &["probe"]));
                "accepted".into()
            }
            _ => return true,
        };
        self.end_probe(link, answer, out);
        true
    }

    pub(super) fn probe_closed(&mut self, link: LinkId, out: &mut Outbox) -> bool {
        if !self.probes.contains_key(&link) {
            return false;
        }
        self.end_probe(link, "closed".into(), out);
        true
    }

    fn end_probe(&mut self, link: LinkId, answer: Arc<str>, out: &mut Outbox) {
        if let Some(p) = self.probes.remove(&link) {
            out.push(Output::Close { link });
            let (server, kind) = (p.server, p.kind);
            self.probe_log
                .push((server.clone(), kind.clone(), answer.clone()));
            Self::note(
                out,
                ChatNote::TokenAnswered {
                    server,
                    attack: kind,
                    answer,
                },
            );
        }
    }
}

/// Read-only views.
impl Client {
    /// "greeter" when the current session was opened with a greeter's
    /// token, else "direct".
    pub fn login_kind(&self) -> &'static str {
        self.login_kind
    }
    /// Why the last greeter login fell back to a full login, if it did.
    pub fn fallback_reason(&self) -> Option<&str> {
        self.fallback_reason.as_deref()
    }
    /// The server the greeter's token opened the current session on.
    pub fn session(&self) -> Option<&str> {
        self.session.as_deref()
    }
    /// The sessions the greeter listed: (room, servers with their load).
    pub fn sessions(&self) -> &[(Arc<str>, Arc<str>)] {
        &self.sessions
    }
    /// Each token probe: (server, kind, answer).
    pub fn probe_log(&self) -> &[(Arc<str>, Arc<str>, Arc<str>)] {
        &self.probe_log
    }
    /// Whether a greeter login is under way.
    pub fn logging_in(&self) -> bool {
        self.login.is_some() && self.state != ClientState::Connected
    }
}
