//! From a [`Scenario`] back to TOML text.
//!
//! Every setting is written out, defaults included, so a written file keeps
//! meaning the same thing if a default changes later.

use std::fmt::Write as _;

use super::duration::{format_duration, format_signed_duration};
use super::model::*;

impl Scenario {
    /// The scenario as a TOML file that [`parse_str`](super::parse_str)
    /// reads back to an equal `Scenario` (for a valid scenario). Durations
    /// are written with the largest unit that represents them exactly.
    pub fn to_toml(&self) -> String {
        let mut w = Writer::default();
        w.kv("name", string(&self.name));
        w.kv("description", string(&self.description));
        w.kv("seed", uint(self.seed));
        w.kv("duration", duration(self.duration));

        let p = &self.protocol;
        w.header("[protocol]");
        w.kv("nick_collision", string(p.nick_collision.as_str()));
        w.kv("ordering", string(p.ordering.as_str()));
        if p.send != SendMode::default() {
            w.kv("send", string(p.send.as_str()));
        }
        w.kv("ping_interval", duration(p.ping_interval));
        w.kv("ping_timeout", duration(p.ping_timeout));
        if let Some(d) = p.client_ping_interval {
            w.kv("client_ping_interval", duration(d));
        }
        if let Some(d) = p.client_ping_timeout {
            w.kv("client_ping_timeout", duration(d));
        }
        w.kv("reconnect_min", duration(p.reconnect_min));
        w.kv("reconnect_max", duration(p.reconnect_max));
        w.kv("handshake_timeout", duration(p.handshake_timeout));
        w.kv("seq_hold", duration(p.seq_hold));
        w.kv("find_delay", duration(p.find_delay));
        w.kv("nick_history", duration(p.nick_history));
        w.kv("redirect_timeout", duration(p.redirect_timeout));
        w.kv("relink_grace", duration(p.relink_grace));
        if p.balance {
            w.kv("balance", "true".to_string());
        }
        w.kv("ablate", strings(&p.ablate));

        let n = &self.network;
        w.header("[network]");
        w.kv(
            "latency",
            format!(
                "{{ min = {}, max = {} }}",
                duration(n.latency_min),
                duration(n.latency_max)
            ),
        );
        w.kv("connect_timeout", duration(n.connect_timeout));

        for s in &self.servers {
            w.header("[[server]]");
            w.kv("name", string(&s.name));
            w.kv("connect", strings(&s.connect));
            if let Some(sid) = &s.sid {
                w.kv("sid", string(sid));
            }
            if let Some(claims) = &s.claims {
                w.kv("claims", string(claims));
            }
            w.kv("registered", s.registered.to_string());
            w.kv("start", s.start.to_string());
        }

        for c in &self.clients {
            w.header("[[client]]");
            w.kv("id", string(&c.id));
            w.kv("server", string(&c.server));
            if let Some(nick) = &c.nick {
                w.kv("nick", string(nick));
            }
            w.kv("join", strings(&c.join));
            if !c.accept_redirect {
                w.kv("accept_redirect", "false".to_string());
            }
            if !c.accept_private {
                w.kv("accept_private", "false".to_string());
            }
            if !c.servers.is_empty() {
                w.kv("servers", strings(&c.servers));
            }
            if !c.reconnect {
                w.kv("reconnect", "false".to_string());
            }
            if !c.start {
                w.kv("start", "false".to_string());
            }
            if c.via_greeter {
                w.kv("via", string("greeter"));
            }
            if let Some(s) = &c.session {
                w.kv("session", string(s));
            }
        }

        for a in &self.actions {
            w.header("[[at]]");
            w.kv("time", duration(a.time));
            w.kv("do", string(a.action.name()));
            write_action(&mut w, &a.action);
        }

        if let Some(f) = &self.faults {
            w.header("[faults]");
            w.kv("start", duration(f.start));
            w.kv("window", duration(f.window));
            w.kv("mean_gap", duration(f.mean_gap));
            let kinds: Vec<String> = f.kinds.iter().map(|k| k.as_str().to_string()).collect();
            w.kv("kinds", strings(&kinds));
            w.kv("converge_within", duration(f.converge_within));
            if !f.nick_collision.is_empty() {
                let v: Vec<String> = f.nick_collision.iter().map(|p| p.as_str().into()).collect();
                w.kv("nick_collision", strings(&v));
            }
            if !f.ordering.is_empty() {
                let v: Vec<String> = f.ordering.iter().map(|p| p.as_str().into()).collect();
                w.kv("ordering", strings(&v));
            }
            if !f.send.is_empty() {
                let v: Vec<String> = f.send.iter().map(|p| p.as_str().into()).collect();
                w.kv("send", strings(&v));
            }
        }

        if let Some(d) = &self.discovery {
            w.header("[discovery]");
            w.kv("seekers", strings(&d.seekers));
            w.kv("period", duration(d.period));
            w.kv("loss", probability(d.loss_ppm));
            w.kv("duplicate", probability(d.duplicate_ppm));
        }

        if let Some(g) = &self.greeter {
            w.header("[greeter]");
            w.kv("name", string(&g.name));
            w.kv("token_ttl", duration(g.token_ttl));
            w.kv("token_leeway", duration(g.token_leeway));
            w.kv("secret_refresh", duration(g.secret_refresh));
            w.kv("login_timeout", duration(g.login_timeout));
        }

        if let Some(wl) = &self.workload {
            w.header("[workload]");
            w.kv("clients", uint(wl.clients));
            w.kv("rooms", uint(wl.rooms));
            w.kv("joins", uint(wl.joins));
            w.kv("say_every", duration(wl.say_every));
            // Zero means none, which the file says by leaving them out.
            if wl.nick_every.as_nanos() > 0 {
                w.kv("nick_every", duration(wl.nick_every));
            }
            if wl.churn_every.as_nanos() > 0 {
                w.kv("churn_every", duration(wl.churn_every));
            }
            if wl.private_every.as_nanos() > 0 {
                w.kv("private_every", duration(wl.private_every));
            }
            if wl.list_every.as_nanos() > 0 {
                w.kv("list_every", duration(wl.list_every));
            }
            if wl.leave_every.as_nanos() > 0 {
                w.kv("leave_every", duration(wl.leave_every));
            }
            if wl.nick_pool > 0 {
                w.kv("nick_pool", uint(wl.nick_pool));
            }
            if wl.nick_case {
                w.kv("nick_case", "true".to_string());
            }
            if wl.via_greeter_ppm > 0 {
                w.kv("via_greeter", probability(wl.via_greeter_ppm));
            }
            w.kv("start", duration(wl.start));
            w.kv("stop", duration(wl.stop));
        }

        w.header("[limits]");
        w.kv("max_events", uint(self.limits.max_events));

        let e = &self.expect;
        w.header("[expect]");
        w.kv("verdict", string(e.verdict.as_str()));
        w.kv("violated", strings(&e.violated));
        if let Some(components) = &e.components {
            w.kv("components", string_lists(components));
        }
        if let Some(links) = &e.links {
            let pairs: Vec<String> = links
                .iter()
                .map(|(a, b)| format!("[{}, {}]", string(a), string(b)))
                .collect();
            w.kv("links", format!("[{}]", pairs.join(", ")));
        }
        if let Some(settle) = e.settle {
            w.kv("settle", duration(settle));
        }
        if e.connected {
            w.kv("connected", "true".to_string());
        }
        if e.converge {
            w.kv("converge", "true".to_string());
        }
        if let Some(min) = e.min_events {
            w.kv("min_events", uint(min));
        }
        w.out
    }
}

fn write_action(w: &mut Writer, action: &Action) {
    match action {
        Action::Partition { groups } => w.kv("groups", string_lists(groups)),
        Action::Heal => {}
        Action::Cut { a, b } | Action::Link { a, b } => {
            w.kv("a", string(a));
            w.kv("b", string(b));
        }
        Action::Unlink { a, b, via } => {
            w.kv("a", string(a));
            w.kv("b", string(b));
            if let Some(v) = via {
                w.kv("via", string(v));
            }
        }
        Action::Kill {
            server,
            nick,
            comment,
        } => {
            w.kv("server", string(server));
            w.kv("nick", string(nick));
            w.kv("comment", string(comment));
        }
        Action::Stall { a, b, duration: d } => {
            w.kv("a", string(a));
            w.kv("b", string(b));
            w.kv("for", duration(*d));
        }
        Action::Storm {
            duration: d,
            loss_ppm,
            duplicate_ppm,
        } => {
            w.kv("for", duration(*d));
            w.kv("loss", probability(*loss_ppm));
            w.kv("duplicate", probability(*duplicate_ppm));
        }
        Action::Crash { server } | Action::Restart { server } | Action::Shutdown { server } => {
            w.kv("server", string(server))
        }
        Action::AddServer { name, via } => {
            w.kv("name", string(name));
            w.kv("via", string(via));
        }
        Action::Skew { server, by_nanos } => {
            w.kv("server", string(server));
            w.kv("by", string(&format_signed_duration(*by_nanos)));
        }
        Action::Connect {
            client,
            server,
            nick,
        } => {
            w.kv("client", string(client));
            w.kv("server", string(server));
            if let Some(nick) = nick {
                w.kv("nick", string(nick));
            }
        }
        Action::Nick { client, nick } => {
            w.kv("client", string(client));
            w.kv("nick", string(nick));
        }
        Action::Create { client, room }
        | Action::Join { client, room }
        | Action::Leave { client, room } => {
            w.kv("client", string(client));
            w.kv("room", string(room));
        }
        Action::Say { client, room, text } => {
            w.kv("client", string(client));
            w.kv("room", string(room));
            w.kv("text", string(text));
        }
        Action::SendList { client, to, text } => {
            w.kv("client", string(client));
            w.kv("to", strings(to));
            w.kv("text", string(text));
        }
        Action::Private { client, to, text } => {
            w.kv("client", string(client));
            w.kv("to", string(to));
            w.kv("text", string(text));
        }
        Action::Redirect {
            client,
            to,
            by_client,
        } => {
            w.kv("client", string(client));
            w.kv("to", string(to));
            if *by_client {
                w.kv("by", string("client"));
            }
        }
        Action::Quit { client, exit } => {
            w.kv("client", string(client));
            if let Some(m) = exit {
                w.kv("exit", string(m));
            }
        }
        Action::Ulist { client, room } => {
            w.kv("client", string(client));
            w.kv("room", string(room));
        }
        Action::ListRooms { client } => w.kv("client", string(client)),
        Action::Broadcast { server, text } => {
            w.kv("server", string(server));
            w.kv("text", string(text));
        }
        Action::PresentToken {
            client,
            server,
            token,
        } => {
            w.kv("client", string(client));
            w.kv("server", string(server));
            w.kv("token", string(token));
        }
    }
}

#[derive(Default)]
struct Writer {
    out: String,
}

impl Writer {
    fn header(&mut self, h: &str) {
        self.out.push('\n');
        self.out.push_str(h);
        self.out.push('\n');
    }

    fn kv(&mut self, key: &str, value: String) {
        let _ = writeln!(self.out, "{key} = {value}");
    }
}

/// A TOML basic string.
fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn strings(list: &[String]) -> String {
    let items: Vec<String> = list.iter().map(|s| string(s)).collect();
    format!("[{}]", items.join(", "))
}

fn string_lists(lists: &[Vec<String>]) -> String {
    let items: Vec<String> = lists.iter().map(|l| strings(l)).collect();
    format!("[{}]", items.join(", "))
}

fn duration(d: drc_protocol::time::Duration) -> String {
    string(&format_duration(d))
}

/// TOML integers are signed 64-bit; larger values are written as strings of
/// digits, which the parser accepts for `seed` and `min_events`.
fn uint(n: u64) -> String {
    if i64::try_from(n).is_ok() {
        n.to_string()
    } else {
        string(&n.to_string())
    }
}

/// A probability kept in parts per million, written so that it reads back
/// to the same count (a float literal always has a point).
fn probability(ppm: u32) -> String {
    format!("{:?}", ppm_to_f64(ppm))
}
