//! The greeter: a server that logs clients in and sends them to a session
//! server with a signed token.
//!
//! The greeter is one of the network's servers (`Config::greeter` names
//! it), not a separate kind of host: it needs what a server already has,
//! an authenticated place in the tree to receive secrets over, and the
//! network's users and rooms to list sessions and measure load. It does
//! not offer itself as a session server, so logins keep flowing while it
//! restarts and its own load stays that of a front door.
//!
//! A client opens with `GLOGIN <nick> <user> [<#room>]`. The greeter
//! answers with the sessions, one `GSESSION <#room> <server>:<load>,...`
//! per room (at most [`MAX_SESSIONS`], the fullest first), then either
//! `GTOKEN <server> <token>` or `GREFUSE <reason>`, all in the same step,
//! so the greeter's end of a login never waits on anything. The client
//! then closes the connection and presents the token to the server.
//!
//! Which server: among the servers whose secret of their current
//! incarnation the greeter holds, the least loaded of those hosting a
//! member of the asked room, else the least loaded of all (ties by name).
//! Load is the users living on the server plus the tokens handed out for
//! it whose user has not arrived yet and that have not expired: without
//! the second term, a crowd logging in at once would all be sent to the
//! server that was least loaded before any of them arrived.
//!
//! The token's expiry is written in the session server's clock: the
//! greeter's wall clock plus the offset it measured from the server's last
//! GSECRET (which carries the server's wall clock) plus `token_ttl`. The
//! estimate is off by the GSECRET's network delay and by any step of
//! either clock since; the session server forgives `token_leeway` of it.

use std::collections::BTreeMap;
use std::sync::Arc;

use rand_core::CryptoRngCore;

use super::frame;
use crate::names::{fold, valid_nick, valid_room};
use crate::outbox::{ChatNote, LinkId, Note, Outbox, Output};
use crate::server::Server;
use crate::time::Instant;
use crate::token::{self, Claims, Secret};
use crate::wire::Frame;

/// The most sessions listed in one answer.
pub const MAX_SESSIONS: usize = 20;

#[derive(Clone)]
struct SessionKey {
    incarnation: u64,
    secret: Secret,
    /// Their wall clock minus ours, in ms, when the key arrived.
    offset_ms: i64,
}

#[derive(Clone, Default)]
pub(crate) struct Greeter {
    keys: BTreeMap<Arc<str>, SessionKey>,
    /// Tokens handed out whose user may not have arrived: (server, folded
    /// nick, until when it counts).
    pending: Vec<(Arc<str>, String, Instant)>,
}

impl std::fmt::Debug for Greeter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Greeter")
            .field("keys", &self.keys.keys().collect::<Vec<_>>())
            .field("pending", &self.pending.len())
            .finish()
    }
}

impl Greeter {
    pub(crate) fn learn(
        &mut self,
        server: Arc<str>,
        incarnation: u64,
        secret: Secret,
        offset_ms: i64,
    ) {
        self.keys.insert(
            server,
            SessionKey {
                incarnation,
                secret,
                offset_ms,
            },
        );
    }
}

impl Server {
    /// `GLOGIN <nick> <user> [<room>]` as a connection's first frame.
    pub(crate) fn on_glogin<R: CryptoRngCore>(
        &mut self,
        now: Instant,
        link: LinkId,
        f: &Frame,
        rng: &mut R,
        out: &mut Outbox,
    ) {
        let (nick, user, room) = match (f.arg(0), f.arg(1), f.arg(2), f.arg(3)) {
            (Some(n), Some(u), r, None) => (n, u, r),
            _ => {
                return self.greeter_refuse(
                    link,
                    "GLOGIN needs a nick, a user and maybe a room",
                    out,
                )
            }
        };
        if self.chat.greeter.is_none() {
            return self.greeter_refuse(link, "not a greeter", out);
        }
        if !valid_nick(nick) || !token::field_ok(user) || room.is_some_and(|r| !valid_room(r)) {
            return self.greeter_refuse(link, "invalid nick, user or room", out);
        }
        let wall = self.wall_ms(now);
        // Servers by SID, and each one's load, from our view of the network.
        let mut by_sid: BTreeMap<&str, &Arc<str>> = BTreeMap::new();
        // By name, so that of two servers sharing a SID the later name wins,
        // as it always has.
        for k in self.known.by_name() {
            by_sid.insert(k.sid_str(), k.name());
        }
        let g = self.chat.greeter.as_deref_mut().expect("checked above");
        g.pending
            .retain(|(_, n, until)| *until > now && !self.chat.nicks.contains_key(n));
        let mut load: BTreeMap<Arc<str>, u64> = BTreeMap::new();
        for (name, k) in &g.keys {
            if self
                .known
                .get(name)
                .is_some_and(|s| s.incarnation == k.incarnation)
            {
                load.insert(name.clone(), 0);
            }
        }
        for u in self.chat.users.values_unordered() {
            if let Some(n) = by_sid.get(&*u.sid).and_then(|n| load.get_mut(*n)) {
                *n += 1;
            }
        }
        for (s, _, _) in &g.pending {
            if let Some(n) = load.get_mut(s) {
                *n += 1;
            }
        }
        // The sessions: rooms with the servers their members live on.
        let mut sessions: Vec<(usize, &str, Vec<&Arc<str>>)> = Vec::new();
        for r in self.chat.rooms.values() {
            let mut hosts: Vec<&Arc<str>> = r
                .members
                .keys()
                .filter_map(|uid| self.chat.users.get(uid))
                .filter_map(|u| by_sid.get(&*u.sid).copied())
                .collect();
            hosts.sort();
            hosts.dedup();
            sessions.push((r.members.len(), &r.name, hosts));
        }
        sessions.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
        for (_, name, hosts) in sessions.iter().take(MAX_SESSIONS) {
            let list: Vec<String> = hosts
                .iter()
                .map(|h| format!("{h}:{}", load.get(*h).copied().unwrap_or(0)))
                .collect();
            out.send(link, frame("GSESSION", &[name, &list.join(",")]));
        }
        let least = |among: &mut dyn Iterator<Item = &Arc<str>>| {
            among
                .filter_map(|s| load.get(s).map(|l| (*l, s.clone())))
                .min()
                .map(|(_, s)| s)
        };
        let asked = room.map(fold);
        let in_room = sessions
            .iter()
            .find(|(_, name, _)| asked.as_deref() == Some(&*fold(name)))
            .and_then(|(_, _, hosts)| least(&mut hosts.iter().copied()));
        let Some(server) = in_room.or_else(|| least(&mut load.keys())) else {
            return self.greeter_refuse(link, "no session server", out);
        };
        let key = &g.keys[&server];
        let expiry_ms =
            (wall as i64 + key.offset_ms).max(0) as u64 + self.cfg.token_ttl.as_millis();
        let claims = Claims {
            audience: &server,
            nick,
            user,
            expiry_ms,
            nonce: rng.next_u64(),
            incarnation: key.incarnation,
        };
        let Some(tok) = token::sign(&key.secret, &claims) else {
            return self.greeter_refuse(link, "invalid nick, user or room", out);
        };
        g.pending
            .push((server.clone(), fold(nick), now + self.cfg.token_ttl));
        out.send(link, frame("GTOKEN", &[&server, &tok]));
        out.note(Note::Chat(ChatNote::TokenIssued {
            token: tok.into(),
            audience: server,
            incarnation: key.incarnation,
            expiry_ms,
        }));
        out.note(Note::Chat(ChatNote::LoginAnswered {
            link,
            outcome: "token",
        }));
    }

    fn greeter_refuse(&mut self, link: LinkId, why: &str, out: &mut Outbox) {
        out.send(link, frame("GREFUSE", &[why]));
        self.client_closed(link, out);
        out.push(Output::Close { link });
        out.note(Note::Chat(ChatNote::LoginAnswered {
            link,
            outcome: "refused",
        }));
    }

    /// The servers whose secret the greeter holds, with the incarnation.
    pub fn greeter_keys(&self) -> impl Iterator<Item = (&str, u64)> {
        self.chat
            .greeter
            .iter()
            .flat_map(|g| g.keys.iter().map(|(n, k)| (&**n, k.incarnation)))
    }
}
