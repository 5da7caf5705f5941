//! Keeping links honest and the tree whole: PING/PONG, handshake and ping
//! timeouts, and autoconnect with exponential backoff and jitter.
//!
//! Only the two ends of a link time it out. Autoconnect never dials a
//! server the tree already reaches, and never retries sooner than the
//! current backoff allows (RFC 2810 section 6.3: do not hammer a peer).

use std::sync::Arc;

use rand_core::CryptoRngCore;

use super::{jitter, Phase, Server};
use crate::message::Msg;
use crate::outbox::{CloseReason, LinkId, Outbox};
use crate::time::{Duration, Instant};

/// One configured autoconnect target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AutoTarget {
    pub name: Arc<str>,
    /// When to try next, if a try is due.
    pub next_attempt: Option<Instant>,
    /// The delay the next failure will wait (before jitter).
    pub backoff: Duration,
    /// The attempt in progress.
    pub link: Option<LinkId>,
    pub attempts: u64,
}

impl AutoTarget {
    pub(crate) fn new(name: Arc<str>) -> Self {
        AutoTarget {
            name,
            next_attempt: None,
            backoff: Duration::ZERO,
            link: None,
            attempts: 0,
        }
    }

    pub(crate) fn connected(&mut self, min: Duration) {
        self.backoff = min;
        self.link = None;
        self.next_attempt = None;
    }

    pub(crate) fn hold_off(&mut self, now: Instant, d: Duration) {
        self.next_attempt = Some(now + d);
    }
}

impl Server {
    pub(crate) fn start<R: CryptoRngCore>(&mut self, now: Instant, rng: &mut R) {
        self.lamport = self.lamport.max(now.as_millis());
        let min = self.cfg.reconnect_min;
        for t in &mut self.auto {
            t.backoff = min;
            // A short random delay keeps servers booted together from
            // dialling in lockstep.
            t.next_attempt = Some(now + jitter(rng, Duration::from_millis(100)));
        }
        if self.cfg.balance {
            self.balance_at = Some(now + self.cfg.ping_interval);
        }
        self.discovery_start(now, rng);
        self.tokens_start(rng);
        self.recompute_deadline();
    }

    pub(crate) fn connect_failed<R: CryptoRngCore>(
        &mut self,
        now: Instant,
        link: LinkId,
        rng: &mut R,
    ) {
        self.rotate_join_target(link);
        let max = self.cfg.reconnect_max;
        if let Some(t) = self.auto.iter_mut().find(|t| t.link == Some(link)) {
            t.link = None;
            let wait = jitter(rng, t.backoff);
            t.backoff = Duration::from_nanos(t.backoff.as_nanos().saturating_mul(2)).min(max);
            t.next_attempt = Some(now + wait);
            let at = now + wait;
            self.arm(at);
        }
    }

    /// After losing part of the tree, schedule autoconnect to any target
    /// that is now out of reach.
    pub(crate) fn after_split<R: CryptoRngCore>(&mut self, now: Instant, rng: &mut R) {
        if self.stopped {
            return;
        }
        let mut earliest = None;
        for t in &mut self.auto {
            if t.link.is_some() || self.known.contains(&t.name) || t.next_attempt.is_some() {
                continue;
            }
            let at = now + jitter(rng, t.backoff.max(self.cfg.reconnect_min));
            t.next_attempt = Some(at);
            earliest = Some(earliest.map_or(at, |e: Instant| e.min(at)));
        }
        if let Some(at) = earliest {
            self.arm(at);
        }
    }

    pub(crate) fn on_timeout<R: CryptoRngCore>(
        &mut self,
        now: Instant,
        rng: &mut R,
        out: &mut Outbox,
    ) {
        if self.stopped {
            self.deadline = None;
            return;
        }
        let cfg = self.cfg.clone();
        let mut expired: Vec<(LinkId, CloseReason)> = Vec::new();
        for (&id, l) in &mut self.links {
            if !matches!(l.phase, Phase::Registered) {
                let abandon =
                    !cfg.ablations.no_handshake_timeout || matches!(l.phase, Phase::Dialing);
                if abandon && now.saturating_since(l.opened_at) >= cfg.handshake_timeout {
                    expired.push((id, CloseReason::HandshakeTimeout));
                }
                continue;
            }
            let silent = now.saturating_since(l.last_rx);
            if silent >= cfg.ping_timeout {
                expired.push((id, CloseReason::PingTimeout));
            } else if silent >= cfg.ping_interval && !l.ping_sent {
                l.ping_sent = true;
                let token = self.next_token;
                self.next_token += 1;
                out.send(id, |b| Msg::Ping { token }.encode(b));
            }
        }
        for (id, reason) in expired {
            if reason == CloseReason::PingTimeout {
                let why = format!("ping timeout, {}", cfg.ping_timeout);
                self.error_and_close(now, id, &why, reason, rng, out);
            } else {
                self.drop_link(now, id, reason, true, rng, out);
            }
        }
        self.chat_timeout(now, out);
        if self.balance_at.is_some_and(|t| t <= now) {
            self.balance_at = Some(now + self.cfg.ping_interval);
            self.balance(now, rng, out);
        }
        for i in 0..self.auto.len() {
            let t = &self.auto[i];
            let due = t.next_attempt.is_some_and(|a| a <= now);
            if !due {
                continue;
            }
            let name = t.name.clone();
            let busy = t.link.is_some();
            self.auto[i].next_attempt = None;
            if busy || self.known.contains(&name) {
                continue;
            }
            let link = self.dial(now, name, out, rng);
            let t = &mut self.auto[i];
            t.link = Some(link);
            t.attempts += 1;
        }
        if self.discovery.is_some() {
            self.discovery_timeout(now, rng, out);
        }
        self.recompute_deadline();
    }

    /// The earliest instant anything may be due, computed from scratch.
    pub(crate) fn recompute_deadline(&mut self) {
        let cfg = &self.cfg;
        let mut d: Option<Instant> = None;
        let mut at = |t: Instant| d = Some(d.map_or(t, |x: Instant| x.min(t)));
        for l in self.links.values() {
            match l.phase {
                Phase::Registered => at(l.last_rx
                    + if l.ping_sent {
                        cfg.ping_timeout
                    } else {
                        cfg.ping_interval
                    }),
                Phase::Dialing => at(l.opened_at + cfg.handshake_timeout),
                _ if cfg.ablations.no_handshake_timeout => {}
                _ => at(l.opened_at + cfg.handshake_timeout),
            }
        }
        for t in &self.auto {
            if let Some(a) = t.next_attempt {
                at(a);
            }
        }
        if let Some(c) = self.chat_deadline() {
            at(c);
        }
        if let Some(t) = self.discovery.as_ref().and_then(|d| d.deadline()) {
            at(t);
        }
        self.deadline = d;
    }
}
