//! What the trace says about frames, notes and violations. Called only
//! when a trace was asked for: an untraced run formats nothing.

use super::*;
use crate::trace::{self, InFlight};

impl World {
    /// A frame was just queued on `conn` from `end`.
    #[cold]
    #[inline(never)]
    pub(super) fn trace_send(&mut self, conn: ConnId, end: usize, start: u32, stop: u32) {
        let now = self.now;
        let c = &self.net.conns[conn as usize];
        let Some(t) = &mut self.trace else {
            return;
        };
        let id = t.next_frame;
        t.next_frame += 1;
        t.in_flight
            .entry((conn, end as u8))
            .or_default()
            .push_back(InFlight { id, sent: now });
        if !t.wants(now) {
            return;
        }
        let bytes = self.outbox.bytes(start, stop);
        let (cmd, args) = trace::frame_fields(bytes);
        let v = serde_json::json!({
            "n": self.events, "t_ns": now, "ev": "send", "id": id, "conn": conn,
            "from": self.hosts[c.ends[end] as usize].label,
            "to": self.hosts[c.ends[1 - end] as usize].label,
            "cmd": cmd, "args": args, "len": bytes.len(),
        });
        t.record(&v);
    }

    /// The head frame of `conn` from `end` leaves the network: delivered,
    /// or dropped for `why`. Called before it is popped.
    #[cold]
    #[inline(never)]
    pub(super) fn trace_arrival(&mut self, conn: ConnId, end: usize, why: Option<&str>) {
        let now = self.now;
        let c = &self.net.conns[conn as usize];
        let Some(t) = &mut self.trace else {
            return;
        };
        // A frame sent before the trace was attached has no id.
        let f = t
            .in_flight
            .get_mut(&(conn, end as u8))
            .and_then(|q| q.pop_front());
        if !t.wants(now) {
            return;
        }
        let cmd = match self.net.head(conn, end) {
            Some(Head::Frame(b)) => trace::frame_fields(b).0,
            _ => String::new(),
        };
        let mut v = serde_json::json!({
            "n": self.events, "t_ns": now,
            "ev": if why.is_some() { "drop" } else { "deliver" },
            "id": f.map(|f| f.id), "conn": conn,
            "from": self.hosts[c.ends[end] as usize].label,
            "to": self.hosts[c.ends[1 - end] as usize].label,
            "sent_ns": f.map(|f| f.sent), "cmd": cmd,
        });
        if let Some(why) = why {
            v["why"] = why.into();
        }
        t.record(&v);
    }

    /// Every frame still queued on `conn` is about to be thrown away.
    #[cold]
    #[inline(never)]
    pub(super) fn trace_discard(&mut self, conn: ConnId, end: usize, why: &str) {
        let now = self.now;
        let c = &self.net.conns[conn as usize];
        let Some(t) = &mut self.trace else {
            return;
        };
        let gone = t.in_flight.remove(&(conn, end as u8)).unwrap_or_default();
        for f in gone {
            if t.wants(now) {
                let v = serde_json::json!({
                    "n": self.events, "t_ns": now, "ev": "drop", "id": f.id, "conn": conn,
                    "from": self.hosts[c.ends[end] as usize].label,
                    "to": self.hosts[c.ends[1 - end] as usize].label,
                    "sent_ns": f.sent, "why": why,
                });
                t.record(&v);
            }
        }
    }

    /// A note as an object, with the peer host and connection of its link
    /// when the simulator knows them.
    pub(super) fn trace_note(&mut self, h: HostId, n: &Note) {
        let now = self.now;
        let Some(t) = &mut self.trace else {
            return;
        };
        if !t.wants(now) {
            return;
        }
        let mut note = trace::note_json(n);
        let link = note
            .get("link")
            .or_else(|| note.get("via"))
            .and_then(|l| l.as_u64());
        let host = &self.hosts[h as usize];
        if let Some(conn) = link.and_then(|l| host.conn_of(LinkId(l))) {
            let c = &self.net.conns[conn as usize];
            note["conn"] = conn.into();
            note["peer"] = self.hosts[c.peer_of(c.end_of(h)) as usize]
                .label
                .as_str()
                .into();
        }
        let v = serde_json::json!({"n": self.events, "t_ns": now, "ev": "note",
            "host": host.label, "note": note});
        t.record(&v);
    }

    /// A server's view of the tree (each server it knows and the uplink it
    /// was announced with), written after a note that may have changed it.
    /// Views of more than [`VIEW_LIMIT`] servers are left out.
    pub(super) fn trace_view(&mut self, h: HostId) {
        let now = self.now;
        let host = &self.hosts[h as usize];
        let Some(t) = &mut self.trace else {
            return;
        };
        if !t.wants(now) {
            return;
        }
        let servers: Vec<[&str; 2]> = match host.server.as_ref().filter(|_| host.up) {
            Some(s) if s.known_count() <= VIEW_LIMIT => {
                s.known_servers().map(|k| [k.name, k.uplink]).collect()
            }
            Some(_) => return,
            None => Vec::new(),
        };
        let v = serde_json::json!({"n": self.events, "t_ns": now, "ev": "view",
            "host": host.label, "servers": servers});
        t.record(&v);
    }

    /// Writes the violations found since the last call, at this moment.
    pub fn trace_violations(&mut self) {
        let now = self.now;
        let Some(t) = &mut self.trace else {
            return;
        };
        let all = &self.checks.violations;
        for v in &all[t.violations_seen.min(all.len())..] {
            if t.wants(now) {
                let mut e = serde_json::json!({"n": self.events, "t_ns": now, "ev": "violation",
                    "invariant": v.invariant, "detail": v.detail});
                if let Some(h) = &v.host {
                    e["host"] = h.as_str().into();
                }
                t.record(&e);
            }
        }
        t.violations_seen = all.len();
    }

    /// The hosts of the run, once, before its first event.
    pub fn trace_hosts(&mut self) {
        if self.trace.is_none() {
            return;
        }
        let servers: Vec<serde_json::Value> = self
            .hosts
            .iter()
            .filter(|h| !h.is_client)
            .map(|h| serde_json::json!({"name": h.label, "sid": h.sid, "claims": h.claims}))
            .collect();
        let clients: Vec<&str> = self
            .hosts
            .iter()
            .filter(|h| h.is_client)
            .map(|h| h.label.as_str())
            .collect();
        let v = serde_json::json!({"n": 0, "t_ns": 0, "ev": "hosts",
            "servers": servers, "clients": clients});
        if let Some(t) = &mut self.trace {
            t.record_always(&v);
        }
    }
}

/// Above this many known servers a server's view is not traced: it would
/// be written after every change to the tree, for every server.
pub const VIEW_LIMIT: usize = 200;
