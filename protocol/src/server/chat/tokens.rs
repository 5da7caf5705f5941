//! The session server's side of greeter logins: its secret, how the
//! greeter gets it, and the TOKEN a client logs in with.
//!
//! Every server of a network with a greeter draws a random secret when it
//! starts, so each incarnation signs with its own. It sends the secret to
//! the greeter in GSECRET, routed hop by hop over the authenticated server
//! links toward the greeter's SID, sealed to the greeter's registered
//! public key so that no server on the way can read it; each hop checks
//! that the message came from the direction of the server it names. It
//! sends it again whenever a new greeter incarnation appears (a restarted
//! greeter forgot it) and every `secret_refresh`, each time with its wall
//! clock, from which the greeter measures the offset between the two
//! clocks.
//!
//! A client that got a token from the greeter opens its connection with
//! `TOKEN <token>` instead of USER and NICK. The server checks it (see
//! [`crate::token`]): audience, secret incarnation, MAC, expiry against
//! its own wall clock with `token_leeway`, then its nonce against the
//! nonces it accepted. A good token registers the client with the nick
//! and user it carries, as USER and NICK would; a bad one is answered
//! `TOKENERR <reason>` and nothing else changes: the connection stays open
//! for a full login. Accepted nonces are kept until their token expires
//! (after which the token is refused as expired anyway), so the memory is
//! bounded by the tokens of one `token_ttl`.

use std::collections::BTreeMap;
use std::sync::Arc;

use rand_core::CryptoRngCore;

use super::frame;
use crate::outbox::{ChatNote, LinkId, Note, Outbox};
use crate::server::Server;
use crate::time::Instant;
use crate::token::{Refusal, Secret, Verifier};
use crate::wire::Frame;

pub(crate) struct Tokens {
    pub secret: Secret,
    /// Accepted nonces, with their token's expiry (our wall clock, ms).
    pub seen: BTreeMap<u64, u64>,
    /// The greeter incarnation our secret last went to.
    pub sent_to: Option<u64>,
    /// When to send it again.
    pub refresh_at: Option<Instant>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret itself.
        f.debug_struct("Tokens")
            .field("seen", &self.seen.len())
            .field("sent_to", &self.sent_to)
            .finish()
    }
}

impl Clone for Tokens {
    fn clone(&self) -> Self {
        Tokens {
            secret: self.secret,
            seen: self.seen.clone(),
            sent_to: self.sent_to,
            refresh_at: self.refresh_at,
        }
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

pub(crate) fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

impl Server {
    /// At start, in a network with a greeter: a fresh secret for this
    /// incarnation, and the greeter's own state on the greeter.
    pub(crate) fn tokens_start<R: CryptoRngCore>(&mut self, rng: &mut R) {
        let Some(g) = self.cfg.greeter.clone() else {
            return;
        };
        let mut secret = [0u8; 32];
        rng.fill_bytes(&mut secret);
        self.chat.tokens = Some(Box::new(Tokens {
            secret,
            seen: BTreeMap::new(),
            sent_to: None,
            refresh_at: None,
        }));
        if *g == *self.me.name {
            self.chat.greeter = Some(Box::default());
        }
    }

    /// The wall clock in milliseconds (tokens' expiry).
    pub(crate) fn wall_ms(&self, now: Instant) -> u64 {
        let ns = i128::from(now.as_nanos()) + i128::from(self.chat.wall_offset);
        (ns.max(0) / 1_000_000) as u64
    }

    /// After each input: send our secret to the greeter when it is new to
    /// it or due again.
    pub(crate) fn tokens_after<R: CryptoRngCore>(
        &mut self,
        now: Instant,
        rng: &mut R,
        out: &mut Outbox,
    ) {
        let Some(g) = self.cfg.greeter.as_deref() else {
            return;
        };
        if g == &*self.me.name || self.stopped {
            return;
        }
        let wall = self.wall_ms(now);
        let Some(t) = self.chat.tokens.as_deref_mut() else {
            return;
        };
        let Some(k) = self.known.get(g) else {
            // Out of reach: no timer (it would fire at once, forever); the
            // secret goes again as soon as the greeter is back.
            t.refresh_at = None;
            return;
        };
        let due = t.sent_to != Some(k.incarnation) || t.refresh_at.is_none_or(|r| now >= r);
        let Some(reg) = self.registry.get(g) else {
            return;
        };
        if !due {
            return;
        }
        let sealed = hex(&reg.key.seal(rng, &t.secret));
        let (inc, wall) = (self.me.incarnation.to_string(), wall.to_string());
        let args = [&*k.sid, &self.me.sid, &self.me.name, &inc, &wall, &sealed];
        out.send(k.via, frame("GSECRET", &args));
        t.sent_to = Some(k.incarnation);
        let at = now + self.cfg.secret_refresh;
        t.refresh_at = Some(at);
        self.arm(at);
    }

    /// GSECRET on a server link: ours to open if we are the greeter it is
    /// addressed to, else passed on toward it.
    pub(crate) fn on_secret_msg(
        &mut self,
        now: Instant,
        link: LinkId,
        f: &Frame,
        raw: &[u8],
        out: &mut Outbox,
    ) -> bool {
        let Some([to, from_sid, from, inc, wall, sealed]) = f.args_exact::<6>() else {
            return false;
        };
        let (Some(inc), Some(wall)) = (crate::wire::parse_u64(inc), crate::wire::parse_u64(wall))
        else {
            return false;
        };
        if !self.check_direction(link, from_sid, "GSECRET", out) {
            return true;
        }
        if to != &*self.me.sid {
            if let Some(l) = self.route_by_sid(to).filter(|l| *l != link) {
                out.send(l, super::verbatim(raw));
            }
            return true;
        }
        let secret = unhex(sealed)
            .and_then(|b| self.me.keys.open(&b))
            .and_then(|b| Secret::try_from(b.as_slice()).ok());
        let known = self
            .known
            .get(from)
            .is_some_and(|k| &*k.sid == from_sid && k.incarnation == inc);
        let offset = wall as i64 - self.wall_ms(now) as i64;
        if let (Some(secret), true, Some(g)) = (secret, known, self.chat.greeter.as_deref_mut()) {
            g.learn(from.into(), inc, secret, offset);
        }
        true
    }

    /// `TOKEN <token>` as a connection's first frame.
    pub(crate) fn on_token(&mut self, now: Instant, link: LinkId, f: &Frame, out: &mut Outbox) {
        let Some([token]) = f.args_exact::<1>() else {
            out.send(link, frame("ERROR", &["TOKEN needs one argument"]));
            return;
        };
        let now_ms = self.wall_ms(now);
        let leeway_ms = self.cfg.token_leeway.as_millis();
        let ab = self.cfg.ablations;
        let refused = |out: &mut Outbox, r: Refusal| {
            out.send(link, frame("TOKENERR", &[r.as_str()]));
            out.note(Note::Chat(ChatNote::TokenRefused {
                link,
                reason: r.as_str(),
            }));
        };
        let Some(t) = self.chat.tokens.as_deref_mut() else {
            // No greeter in this network: no token can be good here.
            return refused(out, Refusal::Signature);
        };
        let v = Verifier {
            me: &self.me.name,
            secret: &t.secret,
            incarnation: self.me.incarnation,
            leeway_ms,
            ablate_audience: ab.no_token_audience,
            ablate_expiry: ab.no_token_expiry,
        };
        let claims = match v.check(token, now_ms) {
            Ok(c) => c,
            Err(r) => return refused(out, r),
        };
        t.seen
            .retain(|_, exp| exp.saturating_add(leeway_ms) >= now_ms);
        if t.seen.contains_key(&claims.nonce) {
            return refused(out, Refusal::Replay);
        }
        if !ab.no_token_replay {
            t.seen.insert(claims.nonce, claims.expiry_ms);
        }
        let (nick, user): (Arc<str>, Arc<str>) = (claims.nick.into(), claims.user.into());
        out.note(Note::Chat(ChatNote::TokenAccepted {
            link,
            token: token.into(),
            wall_ms: now_ms,
            incarnation: self.me.incarnation,
        }));
        if let Some(c) = self.chat.clients.get_mut(&link) {
            c.realname = Some(user.clone());
            c.user = Some(user);
            c.nick = Some(nick);
        }
        self.try_register(now, link, out);
    }

    /// The secret this incarnation signs with (for the simulator, which
    /// plays an attacker holding stolen keys).
    pub fn token_secret(&self) -> Option<Secret> {
        self.chat.tokens.as_deref().map(|t| t.secret)
    }

    /// This server's wall clock in milliseconds, as tokens' expiry reads it.
    pub fn wall_clock_ms(&self, now: Instant) -> u64 {
        self.wall_ms(now)
    }

    pub(crate) fn tokens_deadline(&self) -> Option<Instant> {
        self.chat.tokens.as_deref().and_then(|t| t.refresh_at)
    }
}
