//! From TOML text to a validated [`Scenario`].
//!
//! The text is parsed with `toml_edit`, which keeps the byte span of every
//! key, value and table header; the document is then walked by hand so that
//! every error can point at the key or value at fault.

use std::collections::{HashMap, HashSet};

use drc_protocol::time::Duration;
use toml_edit::{ImDocument, Item, TableLike, Value};

use super::duration::{format_duration, parse_duration, parse_signed_duration};
use super::error::{LineMap, ScenarioError};
use super::model::*;
use super::KNOWN_ABLATIONS;

type Res<T> = Result<T, ScenarioError>;

const TOP_KEYS: &[&str] = &[
    "name",
    "description",
    "seed",
    "duration",
    "protocol",
    "network",
    "server",
    "client",
    "at",
    "faults",
    "workload",
    "limits",
    "discovery",
    "greeter",
    "expect",
];
const GREETER_KEYS: &[&str] = &[
    "name",
    "token_ttl",
    "token_leeway",
    "secret_refresh",
    "login_timeout",
];
const DISCOVERY_KEYS: &[&str] = &["seekers", "period", "loss", "duplicate"];
const LIMITS_KEYS: &[&str] = &["max_events"];
const WORKLOAD_KEYS: &[&str] = &[
    "clients",
    "rooms",
    "joins",
    "say_every",
    "nick_every",
    "churn_every",
    "start",
    "stop",
    "private_every",
    "list_every",
    "leave_every",
    "nick_pool",
    "nick_case",
    "via_greeter",
];
const FAULTS_KEYS: &[&str] = &[
    "start",
    "window",
    "mean_gap",
    "kinds",
    "converge_within",
    "nick_collision",
    "ordering",
    "send",
];
const PROTOCOL_KEYS: &[&str] = &[
    "nick_collision",
    "ordering",
    "send",
    "ping_interval",
    "ping_timeout",
    "client_ping_interval",
    "client_ping_timeout",
    "reconnect_min",
    "reconnect_max",
    "handshake_timeout",
    "seq_hold",
    "find_delay",
    "nick_history",
    "redirect_timeout",
    "relink_grace",
    "balance",
    "ablate",
];
const NETWORK_KEYS: &[&str] = &["latency", "connect_timeout"];
const LATENCY_KEYS: &[&str] = &["min", "max"];
const SERVER_KEYS: &[&str] = &["name", "connect", "sid", "claims", "registered", "start"];
const CLIENT_KEYS: &[&str] = &[
    "id",
    "server",
    "nick",
    "join",
    "accept_private",
    "accept_redirect",
    "servers",
    "reconnect",
    "start",
    "via",
    "session",
];
const EXPECT_KEYS: &[&str] = &[
    "verdict",
    "violated",
    "components",
    "links",
    "min_events",
    "settle",
    "connected",
    "converge",
];

/// The arguments of each action (besides `time` and `do`).
pub(super) fn action_args(name: &str) -> Option<&'static [&'static str]> {
    Some(match name {
        "partition" => &["groups"],
        "heal" => &[],
        "cut" | "link" => &["a", "b"],
        "unlink" => &["a", "b", "via"],
        "kill" => &["server", "nick", "comment"],
        "stall" => &["a", "b", "for"],
        "crash" | "restart" | "shutdown" => &["server"],
        "storm" => &["for", "loss", "duplicate"],
        "add_server" => &["name", "via"],
        "skew" => &["server", "by"],
        "connect" => &["client", "server", "nick"],
        "nick" => &["client", "nick"],
        "create" | "join" | "leave" => &["client", "room"],
        "say" => &["client", "room", "text"],
        "send_list" | "private" => &["client", "to", "text"],
        "redirect" => &["client", "to", "by"],
        "quit" => &["client", "exit"],
        "ulist" => &["client", "room"],
        "listrooms" => &["client"],
        "broadcast" => &["server", "text"],
        "present_token" => &["client", "server", "token"],
        _ => return None,
    })
}

pub(crate) fn parse(src: &str, file: &str) -> Res<Scenario> {
    let p = Parser {
        file,
        map: LineMap::new(src),
    };
    let doc = ImDocument::parse(src).map_err(|e| p.syntax_error(&e))?;
    p.scenario(doc.as_table())
}

/// A value and the byte offset where it starts.
#[derive(Debug, Clone)]
struct Sp<T> {
    v: T,
    pos: usize,
}

/// A table (standard, array element or inline) and where it starts.
struct Tbl<'a> {
    t: &'a dyn TableLike,
    pos: usize,
    /// How messages name it: "[protocol]", "[[server]]", "the top level".
    what: String,
}

/// One key of a table with its value.
struct Field<'a> {
    key: &'a str,
    key_pos: usize,
    item: &'a Item,
    /// Start of the value (or of the key when the value has no span).
    pos: usize,
}

impl<'a> Tbl<'a> {
    fn field(&self, key: &'a str, item: &'a Item) -> Field<'a> {
        let key_pos = self
            .t
            .key(key)
            .and_then(|k| k.span())
            .map_or(self.pos, |r| r.start);
        let pos = item_start(item).unwrap_or(key_pos);
        Field {
            key,
            key_pos,
            item,
            pos,
        }
    }

    fn fields(&self) -> Vec<Field<'a>> {
        let t: &'a dyn TableLike = self.t;
        t.iter()
            .filter(|(_, item)| !item.is_none())
            .map(|(k, item)| self.field(k, item))
            .collect()
    }

    fn get(&self, key: &str) -> Option<Field<'a>> {
        let t: &'a dyn TableLike = self.t;
        let (k, item) = t.get_key_value(key)?;
        if item.is_none() {
            return None;
        }
        Some(self.field(k.get(), item))
    }
}

impl Field<'_> {
    /// Where to report this key as unexpected: a `[header]` for tables
    /// written as sections, the key itself otherwise.
    fn unknown_pos(&self) -> usize {
        match self.item {
            Item::Table(t) if !t.is_dotted() => self.pos,
            Item::ArrayOfTables(_) => self.pos,
            _ => self.key_pos,
        }
    }
}

fn describe_value(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a float",
        Value::Boolean(_) => "a boolean",
        Value::Datetime(_) => "a datetime",
        Value::Array(_) => "an array",
        Value::InlineTable(_) => "a table",
    }
}

fn describe_item(item: &Item) -> &'static str {
    match item {
        Item::None => "nothing",
        Item::Value(v) => describe_value(v),
        Item::Table(_) => "a table",
        Item::ArrayOfTables(_) => "an array of tables",
    }
}

/// Where an item starts. An implicit table (`[a.b]` creates `a`) has no
/// span of its own: it starts at the first header inside it.
fn item_start(item: &Item) -> Option<usize> {
    if let Some(span) = item.span() {
        return Some(span.start);
    }
    match item {
        Item::Table(t) => t.iter().filter_map(|(_, child)| item_start(child)).min(),
        _ => None,
    }
}

fn value_pos(v: &Value, fallback: usize) -> usize {
    v.span().map_or(fallback, |r| r.start)
}

/// What a name in an action or declaration must refer to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RefKind {
    Server,
    Client,
    /// Partition groups hold servers and clients alike.
    Member,
}

#[derive(Debug, Clone)]
struct Ref {
    kind: RefKind,
    name: Sp<String>,
}

/// A name an action brings into existence.
#[derive(Debug, Clone)]
enum Intro {
    Server(Sp<String>),
    Client(Sp<String>),
}

struct RawAction {
    action: TimedAction,
    /// Where its `time` value starts.
    time_pos: usize,
    refs: Vec<Ref>,
    intro: Option<Intro>,
}

struct RawServer {
    connect: Vec<Sp<String>>,
    claims: Option<Sp<String>>,
}

struct RawClient {
    id: Sp<String>,
    server: Sp<String>,
    servers: Vec<Sp<String>>,
    via: Option<Sp<String>>,
}

struct RawExpect {
    components: Vec<Sp<String>>,
    links: Vec<(Sp<String>, Sp<String>)>,
}

struct Parser<'a> {
    file: &'a str,
    map: LineMap<'a>,
}

fn is_server_name(s: &str) -> bool {
    (1..=32).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

fn is_sid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 3
        && b[0].is_ascii_digit()
        && b.iter()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
}

impl<'a> Parser<'a> {
    fn err(&self, pos: usize, message: impl Into<String>) -> ScenarioError {
        let (line, col) = self.map.line_col(pos);
        ScenarioError {
            file: self.file.to_string(),
            line,
            col,
            message: message.into(),
            source_line: self.map.line_text(line).to_string(),
        }
    }

    /// Records the first use of a name that must be unique; a second use
    /// is an error that points back at the first.
    fn first_use(
        &self,
        seen: &mut HashMap<String, usize>,
        name: &Sp<String>,
        what: &str,
        verb: &str,
    ) -> Res<()> {
        if let Some(&first) = seen.get(&name.v) {
            return Err(self.err(
                name.pos,
                format!(
                    "{what} `{}` (first {verb} on line {})",
                    name.v,
                    self.line(first)
                ),
            ));
        }
        seen.insert(name.v.clone(), name.pos);
        Ok(())
    }

    fn line(&self, pos: usize) -> usize {
        self.map.line_col(pos).0
    }

    fn syntax_error(&self, e: &toml_edit::TomlError) -> ScenarioError {
        let pos = e.span().map_or(0, |r| r.start);
        let message = e
            .message()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        self.err(pos, format!("TOML syntax error: {message}"))
    }

    // ----- generic accessors -------------------------------------------

    fn check_keys(&self, t: &Tbl<'a>, allowed: &[&str]) -> Res<()> {
        for f in t.fields() {
            if !allowed.contains(&f.key) {
                return Err(self.unknown_key(t, &f, allowed));
            }
        }
        Ok(())
    }

    fn unknown_key(&self, t: &Tbl<'a>, f: &Field<'a>, allowed: &[&str]) -> ScenarioError {
        self.err(
            f.unknown_pos(),
            format!(
                "unknown key `{}` in {} (expected one of: {})",
                f.key,
                t.what,
                allowed.join(", ")
            ),
        )
    }

    fn required(&self, t: &Tbl<'a>, key: &str) -> Res<Field<'a>> {
        t.get(key)
            .ok_or_else(|| self.err(t.pos, format!("{} is missing required key `{key}`", t.what)))
    }

    fn value(&self, f: &Field<'a>, expected: &str) -> Res<&'a Value> {
        f.item
            .as_value()
            .ok_or_else(|| self.type_error(f, expected))
    }

    fn type_error(&self, f: &Field<'a>, expected: &str) -> ScenarioError {
        self.err(
            f.pos,
            format!(
                "`{}` must be {expected}, found {}",
                f.key,
                describe_item(f.item)
            ),
        )
    }

    fn string(&self, f: &Field<'a>) -> Res<Sp<String>> {
        match self.value(f, "a string")? {
            Value::String(s) => Ok(Sp {
                v: s.value().clone(),
                pos: f.pos,
            }),
            _ => Err(self.type_error(f, "a string")),
        }
    }

    fn boolean(&self, f: &Field<'a>) -> Res<bool> {
        match self.value(f, "a boolean")? {
            Value::Boolean(b) => Ok(*b.value()),
            _ => Err(self.type_error(f, "a boolean")),
        }
    }

    /// A non-negative integer, or (for values above `i64::MAX`, which TOML
    /// integers cannot hold) a string of decimal digits.
    fn uint(&self, f: &Field<'a>) -> Res<u64> {
        const WHAT: &str = "a non-negative integer";
        match self.value(f, WHAT)? {
            Value::Integer(i) => u64::try_from(*i.value())
                .map_err(|_| self.err(f.pos, format!("`{}` must be {WHAT}", f.key))),
            Value::String(s)
                if !s.value().is_empty() && s.value().bytes().all(|b| b.is_ascii_digit()) =>
            {
                s.value()
                    .parse::<u64>()
                    .map_err(|_| self.err(f.pos, format!("`{}` is out of range", f.key)))
            }
            _ => Err(self.type_error(f, WHAT)),
        }
    }

    /// A duration no longer than [`MAX_TIME`], so that sums of scenario
    /// times never overflow.
    fn duration(&self, f: &Field<'a>) -> Res<Duration> {
        let s = self.duration_string(f)?;
        let d = parse_duration(&s.v).map_err(|m| self.err(s.pos, m))?;
        if d > MAX_TIME {
            return Err(self.err(
                s.pos,
                format!(
                    "`{}` is {}, longer than the {} a scenario may name",
                    f.key,
                    format_duration(d),
                    format_duration(MAX_TIME)
                ),
            ));
        }
        Ok(d)
    }

    /// A duration of at least `min`: a rate, timer or gap whose zero (or
    /// near-zero) value would schedule events without bound.
    /// A keepalive pings after `interval` of silence and drops after
    /// `timeout`: a timeout not above the interval drops every idle link
    /// before its PONG can arrive. `prefix` names the pair's keys
    /// (`ping_*`, `client_ping_*`); the error points at the timeout if
    /// given, else at the interval.
    fn keepalive_order(
        &self,
        t: &Tbl<'a>,
        prefix: &str,
        interval: Duration,
        timeout: Duration,
    ) -> Res<()> {
        if timeout > interval {
            return Ok(());
        }
        let (ik, tk) = (
            format!("{prefix}ping_interval"),
            format!("{prefix}ping_timeout"),
        );
        let at = t.get(&tk).or_else(|| t.get(&ik));
        Err(self.err(
            at.map_or(t.pos, |f| f.pos),
            format!(
                "{tk} ({}) must be longer than {ik} ({})",
                format_duration(timeout),
                format_duration(interval)
            ),
        ))
    }

    fn duration_at_least(&self, f: &Field<'a>, min: Duration) -> Res<Duration> {
        let d = self.duration(f)?;
        if d < min {
            return Err(self.err(
                f.pos,
                format!(
                    "`{}` = {} is too short: at least {} (a shorter one floods the run with events)",
                    f.key,
                    format_duration(d),
                    format_duration(min)
                ),
            ));
        }
        Ok(d)
    }

    fn signed_duration(&self, f: &Field<'a>) -> Res<i64> {
        let s = self.duration_string(f)?;
        let d = parse_signed_duration(&s.v).map_err(|m| self.err(s.pos, m))?;
        if d.unsigned_abs() > MAX_TIME.as_nanos() {
            return Err(self.err(
                s.pos,
                format!(
                    "`{}` is {}, longer than the {} a scenario may name",
                    f.key,
                    s.v,
                    format_duration(MAX_TIME)
                ),
            ));
        }
        Ok(d)
    }

    fn duration_string(&self, f: &Field<'a>) -> Res<Sp<String>> {
        const WHAT: &str = "a duration string such as \"5s\"";
        match self.value(f, WHAT)? {
            Value::String(s) => Ok(Sp {
                v: s.value().clone(),
                pos: f.pos,
            }),
            _ => Err(self.type_error(f, WHAT)),
        }
    }

    /// The elements of an array value, with their positions.
    fn array(&self, f: &Field<'a>, expected: &str) -> Res<Vec<(&'a Value, usize)>> {
        match self.value(f, expected)? {
            Value::Array(a) => Ok(a.iter().map(|v| (v, value_pos(v, f.pos))).collect()),
            _ => Err(self.type_error(f, expected)),
        }
    }

    fn string_list(&self, f: &Field<'a>) -> Res<Vec<Sp<String>>> {
        let elements = self.array(f, "a list of strings")?;
        elements
            .into_iter()
            .map(|(v, pos)| self.element_string(f.key, v, pos))
            .collect()
    }

    fn element_string(&self, key: &str, v: &Value, pos: usize) -> Res<Sp<String>> {
        match v {
            Value::String(s) => Ok(Sp {
                v: s.value().clone(),
                pos,
            }),
            other => Err(self.err(
                pos,
                format!(
                    "elements of `{key}` must be strings, found {}",
                    describe_value(other)
                ),
            )),
        }
    }

    /// A list of lists of strings, each inner list with its position.
    fn string_lists(&self, f: &Field<'a>) -> Res<Vec<Sp<Vec<Sp<String>>>>> {
        const WHAT: &str = "a list of lists of strings";
        let outer = self.array(f, WHAT)?;
        let mut lists = Vec::with_capacity(outer.len());
        for (v, pos) in outer {
            let Value::Array(inner) = v else {
                return Err(self.err(
                    pos,
                    format!(
                        "elements of `{}` must be lists of strings, found {}",
                        f.key,
                        describe_value(v)
                    ),
                ));
            };
            let items = inner
                .iter()
                .map(|e| self.element_string(f.key, e, value_pos(e, pos)))
                .collect::<Res<Vec<_>>>()?;
            lists.push(Sp { v: items, pos });
        }
        Ok(lists)
    }

    fn section(&self, top: &Tbl<'a>, key: &str) -> Res<Option<Tbl<'a>>> {
        let Some(f) = top.get(key) else {
            return Ok(None);
        };
        let t = f
            .item
            .as_table_like()
            .ok_or_else(|| self.type_error(&f, "a table"))?;
        Ok(Some(Tbl {
            t,
            pos: f.pos,
            what: format!("[{key}]"),
        }))
    }

    fn subtable(&self, f: &Field<'a>, what: String) -> Res<Tbl<'a>> {
        let t = f
            .item
            .as_table_like()
            .ok_or_else(|| self.type_error(f, "a table"))?;
        Ok(Tbl {
            t,
            pos: f.pos,
            what,
        })
    }

    /// `[[key]]` entries (or an array of inline tables).
    fn table_list(&self, top: &Tbl<'a>, key: &str) -> Res<Vec<Tbl<'a>>> {
        let Some(f) = top.get(key) else {
            return Ok(Vec::new());
        };
        let what = format!("[[{key}]]");
        let expected = "an array of tables";
        match f.item {
            Item::ArrayOfTables(a) => Ok(a
                .iter()
                .map(|t| Tbl {
                    t,
                    pos: t.span().map_or(f.pos, |r| r.start),
                    what: what.clone(),
                })
                .collect()),
            Item::Value(Value::Array(a)) => a
                .iter()
                .map(|v| match v {
                    Value::InlineTable(t) => Ok(Tbl {
                        t,
                        pos: value_pos(v, f.pos),
                        what: what.clone(),
                    }),
                    other => Err(self.err(
                        value_pos(other, f.pos),
                        format!(
                            "elements of `{key}` must be tables, found {}",
                            describe_value(other)
                        ),
                    )),
                })
                .collect(),
            _ => Err(self.type_error(&f, expected)),
        }
    }

    // ----- the scenario ------------------------------------------------

    fn scenario(&self, root: &'a toml_edit::Table) -> Res<Scenario> {
        let top = Tbl {
            t: root,
            pos: 0,
            what: "the top level".to_string(),
        };
        // Unsupported sections get their own message; otherwise the first
        // offending key in the file is reported.
        for f in top.fields() {
            if !TOP_KEYS.contains(&f.key) {
                return Err(self.unknown_key(&top, &f, TOP_KEYS));
            }
        }

        let name = self.string(&self.required(&top, "name")?)?.v;
        let description = match top.get("description") {
            Some(f) => self.string(&f)?.v,
            None => String::new(),
        };
        let seed = match top.get("seed") {
            Some(f) => self.uint(&f)?,
            None => 1,
        };
        let duration = self.duration(&self.required(&top, "duration")?)?;

        let protocol = self.protocol(&top)?;
        let network = self.network(&top)?;
        let (servers, raw_servers) = self.servers(&top)?;
        let (clients, raw_clients) = self.clients(&top)?;
        let mut raw_actions = self.actions(&top)?;
        let (expect, raw_expect) = self.expect(&top)?;
        let faults = self.faults(&top)?;
        let workload = self.workload(&top)?;
        let limits = self.limits(&top)?;
        let (discovery, raw_seekers) = self.discovery(&top)?;
        let (greeter, raw_greeter) = self.greeter(&top)?;
        if servers.is_empty() {
            // `add_server` needs a running server to link through, so a
            // scenario without a declared server has nothing to run.
            return Err(self.err(
                0,
                "the scenario declares no server: add at least one [[server]]",
            ));
        }

        // Every server and client name the file introduces anywhere.
        let mut all_servers: HashSet<String> = servers.iter().map(|s| s.name.clone()).collect();
        let mut all_clients: HashSet<String> = clients.iter().map(|c| c.id.clone()).collect();
        for a in &raw_actions {
            match &a.intro {
                Some(Intro::Server(n)) => {
                    all_servers.insert(n.v.clone());
                }
                Some(Intro::Client(n)) => {
                    all_clients.insert(n.v.clone());
                }
                None => {}
            }
        }

        self.check_server_refs(&raw_servers, &all_servers)?;
        for n in &raw_seekers {
            if !all_servers.contains(&n.v) {
                return Err(self.err(
                    n.pos,
                    format!("unknown server `{}` in [discovery] seekers", n.v),
                ));
            }
        }
        self.check_client_refs(&raw_clients, &all_servers)?;
        let declared: HashSet<&str> = servers.iter().map(|s| s.name.as_str()).collect();
        if let Some(g) = &raw_greeter {
            if !declared.contains(g.v.as_str()) {
                return Err(self.err(
                    g.pos,
                    format!("[greeter] name `{}` is not a declared [[server]]", g.v),
                ));
            }
        }
        if greeter.is_none() {
            if workload.as_ref().is_some_and(|w| w.via_greeter_ppm > 0) {
                return Err(self.err(
                    0,
                    "[workload] via_greeter needs a [greeter] to log in through",
                ));
            }
            if let Some(c) = raw_clients.iter().find(|c| c.via.is_some()) {
                let pos = c.via.as_ref().map_or(c.id.pos, |v| v.pos);
                return Err(self.err(
                    pos,
                    format!(
                        "client `{}` logs in via the greeter, but the scenario has no [greeter]",
                        c.id.v
                    ),
                ));
            }
            if let Some(a) = raw_actions
                .iter()
                .find(|a| matches!(a.action.action, Action::PresentToken { .. }))
            {
                return Err(self.err(
                    a.time_pos,
                    "`present_token` needs a [greeter]: only then do servers take tokens",
                ));
            }
        }
        raw_actions.sort_by_key(|a| a.action.time);
        if let Some(late) = raw_actions.iter().find(|a| a.action.time > duration) {
            return Err(self.err(
                late.time_pos,
                format!(
                    "action `{}` at {} comes after the end of the run (duration = {})",
                    late.action.action.name(),
                    format_duration(late.action.time),
                    format_duration(duration)
                ),
            ));
        }
        self.check_timeline(&raw_actions, &servers, &clients, &all_servers, &all_clients)?;
        for n in &raw_expect.components {
            if !all_servers.contains(&n.v) {
                return Err(self.err(n.pos, format!("unknown server `{}`", n.v)));
            }
        }
        for (a, b) in &raw_expect.links {
            for n in [a, b] {
                if !all_servers.contains(&n.v) {
                    return Err(self.err(n.pos, format!("unknown server `{}`", n.v)));
                }
            }
        }

        Ok(Scenario {
            name,
            description,
            seed,
            duration,
            protocol,
            network,
            servers,
            clients,
            actions: raw_actions.into_iter().map(|a| a.action).collect(),
            faults,
            workload,
            limits,
            discovery,
            greeter,
            expect,
        })
    }

    fn greeter(&self, top: &Tbl<'a>) -> Res<(Option<GreeterSection>, Option<Sp<String>>)> {
        let Some(t) = self.section(top, "greeter")? else {
            return Ok((None, None));
        };
        self.check_keys(&t, GREETER_KEYS)?;
        let name = self.string(&self.required(&t, "name")?)?;
        let mut g = GreeterSection::new(name.v.clone());
        let durations: [(&str, &mut Duration); 4] = [
            ("token_ttl", &mut g.token_ttl),
            ("token_leeway", &mut g.token_leeway),
            ("secret_refresh", &mut g.secret_refresh),
            ("login_timeout", &mut g.login_timeout),
        ];
        for (key, slot) in durations {
            if let Some(f) = t.get(key) {
                *slot = if key == "token_leeway" {
                    self.duration(&f)?
                } else {
                    self.duration_at_least(&f, MIN_TIMER)?
                };
            }
        }
        Ok((Some(g), Some(name)))
    }

    /// A probability: a number from 0 to 1, kept in parts per million.
    fn probability(&self, f: &Field<'a>) -> Res<u32> {
        const WHAT: &str = "a probability from 0 to 1";
        let p = match self.value(f, WHAT)? {
            Value::Float(x) => *x.value(),
            Value::Integer(i) => *i.value() as f64,
            _ => return Err(self.type_error(f, WHAT)),
        };
        if !(0.0..=1.0).contains(&p) {
            return Err(self.err(
                f.pos,
                format!("`{}` = {p} is not a probability: use 0 to 1", f.key),
            ));
        }
        Ok((p * 1e6).round() as u32)
    }

    fn discovery(&self, top: &Tbl<'a>) -> Res<(Option<DiscoverySection>, Vec<Sp<String>>)> {
        let Some(t) = self.section(top, "discovery")? else {
            return Ok((None, Vec::new()));
        };
        self.check_keys(&t, DISCOVERY_KEYS)?;
        let mut d = DiscoverySection::default();
        let mut raw = Vec::new();
        if let Some(f) = t.get("seekers") {
            let mut seen = HashMap::new();
            for n in self.string_list(&f)? {
                self.first_use(&mut seen, &n, "duplicate seeker", "listed")?;
                d.seekers.push(n.v.clone());
                raw.push(n);
            }
        }
        if let Some(f) = t.get("period") {
            d.period = self.duration_at_least(&f, MIN_TIMER)?;
        }
        if let Some(f) = t.get("loss") {
            d.loss_ppm = self.probability(&f)?;
            if d.loss_ppm == 1_000_000 {
                return Err(self.err(
                    f.pos,
                    "`loss` = 1 loses every datagram: nothing could ever be discovered",
                ));
            }
        }
        if let Some(f) = t.get("duplicate") {
            d.duplicate_ppm = self.probability(&f)?;
        }
        Ok((Some(d), raw))
    }

    fn limits(&self, top: &Tbl<'a>) -> Res<Limits> {
        let mut l = Limits::default();
        let Some(t) = self.section(top, "limits")? else {
            return Ok(l);
        };
        self.check_keys(&t, LIMITS_KEYS)?;
        if let Some(f) = t.get("max_events") {
            l.max_events = self.uint(&f)?;
            if l.max_events == 0 {
                return Err(self.err(f.pos, "`max_events` must be at least 1"));
            }
        }
        Ok(l)
    }

    fn faults(&self, top: &Tbl<'a>) -> Res<Option<FaultsSection>> {
        let Some(t) = self.section(top, "faults")? else {
            return Ok(None);
        };
        self.check_keys(&t, FAULTS_KEYS)?;
        let mut f = FaultsSection::default();
        let durations: [(&str, &mut Duration); 4] = [
            ("start", &mut f.start),
            ("window", &mut f.window),
            ("mean_gap", &mut f.mean_gap),
            ("converge_within", &mut f.converge_within),
        ];
        for (key, slot) in durations {
            if let Some(field) = t.get(key) {
                *slot = if key == "mean_gap" {
                    self.duration_at_least(&field, MIN_MEAN_GAP)?
                } else {
                    self.duration(&field)?
                };
            }
        }
        // Faults are drawn one mean gap apart until the window closes:
        // their number, and the actions they expand into, grow with the
        // ratio.
        let expected = f.window.as_nanos() / f.mean_gap.as_nanos();
        if expected > MAX_FAULTS {
            let at = t.get("window").or_else(|| t.get("mean_gap"));
            return Err(self.err(
                at.map_or(t.pos, |f| f.pos),
                format!(
                    "a window of {} with mean_gap {} draws about {expected} faults, at most {MAX_FAULTS}",
                    format_duration(f.window),
                    format_duration(f.mean_gap)
                ),
            ));
        }
        if let Some(field) = t.get("kinds") {
            f.kinds.clear();
            for s in self.string_list(&field)? {
                let kind = FaultKind::from_name(&s.v).ok_or_else(|| {
                    let known: Vec<_> = FaultKind::ALL.iter().map(|k| k.as_str()).collect();
                    self.err(
                        s.pos,
                        format!("unknown fault kind {:?} (known: {})", s.v, known.join(", ")),
                    )
                })?;
                if !f.kinds.contains(&kind) {
                    f.kinds.push(kind);
                }
            }
            if f.kinds.is_empty() {
                return Err(self.err(t.pos, "kinds must name at least one fault kind"));
            }
        }
        // Policies a seed may draw: each seed runs under one of each list.
        if let Some(field) = t.get("nick_collision") {
            for s in self.string_list(&field)? {
                let v = self.nick_policy(&s)?;
                if !f.nick_collision.contains(&v) {
                    f.nick_collision.push(v);
                }
            }
        }
        if let Some(field) = t.get("ordering") {
            for s in self.string_list(&field)? {
                let v = self.ordering_policy(&s)?;
                if !f.ordering.contains(&v) {
                    f.ordering.push(v);
                }
            }
        }
        if let Some(field) = t.get("send") {
            for s in self.string_list(&field)? {
                let v = self.send_mode(&s)?;
                if !f.send.contains(&v) {
                    f.send.push(v);
                }
            }
        }
        Ok(Some(f))
    }

    fn workload(&self, top: &Tbl<'a>) -> Res<Option<WorkloadSection>> {
        let Some(t) = self.section(top, "workload")? else {
            return Ok(None);
        };
        self.check_keys(&t, WORKLOAD_KEYS)?;
        let mut w = WorkloadSection::default();
        let counts: [(&str, &mut u64); 4] = [
            ("clients", &mut w.clients),
            ("rooms", &mut w.rooms),
            ("joins", &mut w.joins),
            ("nick_pool", &mut w.nick_pool),
        ];
        for (key, slot) in counts {
            if let Some(f) = t.get(key) {
                *slot = self.uint(&f)?;
            }
        }
        // The mean gaps have a floor (omit nick_every, churn_every,
        // private_every, list_every or leave_every for none); start and
        // stop are times.
        let durations: [(&str, &mut Duration, Duration); 8] = [
            ("say_every", &mut w.say_every, MIN_MEAN_GAP),
            ("nick_every", &mut w.nick_every, MIN_MEAN_GAP),
            ("churn_every", &mut w.churn_every, MIN_MEAN_GAP),
            ("private_every", &mut w.private_every, MIN_MEAN_GAP),
            ("list_every", &mut w.list_every, MIN_MEAN_GAP),
            ("leave_every", &mut w.leave_every, MIN_MEAN_GAP),
            ("start", &mut w.start, Duration::ZERO),
            ("stop", &mut w.stop, Duration::ZERO),
        ];
        for (key, slot, min) in durations {
            if let Some(f) = t.get(key) {
                *slot = self.duration_at_least(&f, min)?;
            }
        }
        if let Some(f) = t.get("via_greeter") {
            w.via_greeter_ppm = self.probability(&f)?;
        }
        if let Some(f) = t.get("nick_case") {
            w.nick_case = self.boolean(&f)?;
        }
        if w.clients > 100_000 || w.rooms > 10_000 || w.nick_pool > 10_000 {
            return Err(self.err(
                t.pos,
                "workload: at most 100000 clients, 10000 rooms and a nick_pool of 10000",
            ));
        }
        if w.rooms == 0 && w.joins > 0 {
            return Err(self.err(t.pos, "workload: joins needs rooms > 0"));
        }
        if w.stop <= w.start {
            return Err(self.err(t.pos, "workload: stop must come after start"));
        }
        let expected = workload_actions(&w);
        if expected > MAX_WORKLOAD_ACTIONS {
            return Err(self.err(
                t.pos,
                format!(
                    "workload: about {expected} actions expected, at most {MAX_WORKLOAD_ACTIONS} \
                     (fewer clients, longer gaps or an earlier stop)"
                ),
            ));
        }
        Ok(Some(w))
    }

    fn nick_policy(&self, s: &Sp<String>) -> Res<NickCollision> {
        let known = NickCollision::ALL.map(|v| v.as_str());
        self.named(s, "nick_collision policy", NickCollision::from_name, &known)
    }

    fn ordering_policy(&self, s: &Sp<String>) -> Res<Ordering> {
        self.named(
            s,
            "ordering",
            Ordering::from_name,
            &Ordering::ALL.map(|v| v.as_str()),
        )
    }

    fn send_mode(&self, s: &Sp<String>) -> Res<SendMode> {
        self.named(
            s,
            "send mode",
            SendMode::from_name,
            &SendMode::ALL.map(|v| v.as_str()),
        )
    }

    /// One of a protocol enum's file spellings (`known`), or an error at
    /// the string naming the `what` it is not and the ones it could be.
    fn named<T>(
        &self,
        s: &Sp<String>,
        what: &str,
        from_name: fn(&str) -> Option<T>,
        known: &[&str],
    ) -> Res<T> {
        from_name(&s.v).ok_or_else(|| {
            self.err(
                s.pos,
                format!(
                    "unknown {what} {:?} (expected one of: {})",
                    s.v,
                    known.join(", ")
                ),
            )
        })
    }

    fn protocol(&self, top: &Tbl<'a>) -> Res<ProtocolSection> {
        let mut p = ProtocolSection::default();
        let Some(t) = self.section(top, "protocol")? else {
            return Ok(p);
        };
        self.check_keys(&t, PROTOCOL_KEYS)?;
        if let Some(f) = t.get("nick_collision") {
            p.nick_collision = self.nick_policy(&self.string(&f)?)?;
        }
        if let Some(f) = t.get("ordering") {
            p.ordering = self.ordering_policy(&self.string(&f)?)?;
        }
        if let Some(f) = t.get("send") {
            p.send = self.send_mode(&self.string(&f)?)?;
        }
        // Every timer has a floor; nick_history is a memory, not a timer,
        // and may be zero.
        let durations: [(&str, &mut Duration, Duration); 10] = [
            ("ping_interval", &mut p.ping_interval, MIN_TIMER),
            ("ping_timeout", &mut p.ping_timeout, MIN_TIMER),
            ("reconnect_min", &mut p.reconnect_min, MIN_TIMER),
            ("reconnect_max", &mut p.reconnect_max, MIN_TIMER),
            ("handshake_timeout", &mut p.handshake_timeout, MIN_TIMER),
            ("seq_hold", &mut p.seq_hold, MIN_TIMER),
            ("find_delay", &mut p.find_delay, MIN_TIMER),
            ("nick_history", &mut p.nick_history, Duration::ZERO),
            ("redirect_timeout", &mut p.redirect_timeout, MIN_TIMER),
            // Zero elects at once after a shutdown, as after a crash.
            ("relink_grace", &mut p.relink_grace, Duration::ZERO),
        ];
        for (key, slot, min) in durations {
            if let Some(f) = t.get(key) {
                *slot = self.duration_at_least(&f, min)?;
            }
        }
        self.keepalive_order(&t, "", p.ping_interval, p.ping_timeout)?;
        if let Some(f) = t.get("client_ping_interval") {
            p.client_ping_interval = Some(self.duration_at_least(&f, MIN_TIMER)?);
        }
        if let Some(f) = t.get("client_ping_timeout") {
            p.client_ping_timeout = Some(self.duration_at_least(&f, MIN_TIMER)?);
        }
        // Each half of the clients' pair not given is the links'.
        self.keepalive_order(
            &t,
            "client_",
            p.client_ping_interval.unwrap_or(p.ping_interval),
            p.client_ping_timeout.unwrap_or(p.ping_timeout),
        )?;
        if p.reconnect_max < p.reconnect_min {
            let at = t.get("reconnect_max").or_else(|| t.get("reconnect_min"));
            return Err(self.err(
                at.map_or(t.pos, |f| f.pos),
                format!(
                    "reconnect_max ({}) is shorter than reconnect_min ({})",
                    format_duration(p.reconnect_max),
                    format_duration(p.reconnect_min)
                ),
            ));
        }
        if let Some(f) = t.get("balance") {
            p.balance = self.boolean(&f)?;
        }
        if let Some(f) = t.get("ablate") {
            for s in self.string_list(&f)? {
                if !KNOWN_ABLATIONS.contains(&s.v.as_str()) {
                    return Err(self.err(
                        s.pos,
                        format!(
                            "unknown ablation {:?} (known: {})",
                            s.v,
                            KNOWN_ABLATIONS.join(", ")
                        ),
                    ));
                }
                p.ablate.push(s.v);
            }
        }
        Ok(p)
    }

    fn network(&self, top: &Tbl<'a>) -> Res<NetworkSection> {
        let mut n = NetworkSection::default();
        let Some(t) = self.section(top, "network")? else {
            return Ok(n);
        };
        self.check_keys(&t, NETWORK_KEYS)?;
        if let Some(f) = t.get("latency") {
            let lat = self.subtable(&f, "network.latency".to_string())?;
            self.check_keys(&lat, LATENCY_KEYS)?;
            if let Some(f) = lat.get("min") {
                n.latency_min = self.duration(&f)?;
            }
            if let Some(f) = lat.get("max") {
                n.latency_max = self.duration(&f)?;
            }
            if n.latency_min > n.latency_max {
                return Err(self.err(
                    lat.pos,
                    format!(
                        "latency min ({}) is greater than max ({})",
                        super::duration::format_duration(n.latency_min),
                        super::duration::format_duration(n.latency_max)
                    ),
                ));
            }
        }
        if let Some(f) = t.get("connect_timeout") {
            n.connect_timeout = self.duration_at_least(&f, MIN_TIMER)?;
        }
        Ok(n)
    }

    fn servers(&self, top: &Tbl<'a>) -> Res<(Vec<ServerDecl>, Vec<RawServer>)> {
        let mut servers = Vec::new();
        let mut raws = Vec::new();
        let mut names: HashMap<String, usize> = HashMap::new();
        let mut sids: HashMap<String, usize> = HashMap::new();
        for t in self.table_list(top, "server")? {
            self.check_keys(&t, SERVER_KEYS)?;
            let name = self.string(&self.required(&t, "name")?)?;
            if !is_server_name(&name.v) {
                return Err(self.err(
                    name.pos,
                    format!(
                        "invalid server name {:?}: use 1 to 32 of A-Z a-z 0-9 _ . -",
                        name.v
                    ),
                ));
            }
            self.first_use(&mut names, &name, "duplicate server name", "declared")?;
            let mut decl = ServerDecl::new(name.v.clone());
            let mut connect = Vec::new();
            if let Some(f) = t.get("connect") {
                for peer in self.string_list(&f)? {
                    if peer.v == name.v {
                        return Err(self.err(
                            peer.pos,
                            format!("server `{}` cannot connect to itself", name.v),
                        ));
                    }
                    if decl.connect.contains(&peer.v) {
                        return Err(self.err(
                            peer.pos,
                            format!("`{}` is listed twice in `connect`", peer.v),
                        ));
                    }
                    decl.connect.push(peer.v.clone());
                    connect.push(peer);
                }
            }
            if let Some(f) = t.get("sid") {
                let sid = self.string(&f)?;
                if !is_sid(&sid.v) {
                    return Err(self.err(
                        sid.pos,
                        format!(
                            "invalid sid {:?}: exactly 3 characters of 0-9 A-Z, the first a digit",
                            sid.v
                        ),
                    ));
                }
                self.first_use(&mut sids, &sid, "duplicate sid", "used")?;
                decl.sid = Some(sid.v);
            }
            let mut claims = None;
            if let Some(f) = t.get("claims") {
                let c = self.string(&f)?;
                if c.v == name.v {
                    return Err(self.err(
                        c.pos,
                        format!("server `{}` cannot claim to be itself", name.v),
                    ));
                }
                decl.claims = Some(c.v.clone());
                claims = Some(c);
            }
            if let Some(f) = t.get("registered") {
                decl.registered = self.boolean(&f)?;
            }
            if let Some(f) = t.get("start") {
                decl.start = self.boolean(&f)?;
            }
            servers.push(decl);
            raws.push(RawServer { connect, claims });
        }
        Ok((servers, raws))
    }

    fn clients(&self, top: &Tbl<'a>) -> Res<(Vec<ClientDecl>, Vec<RawClient>)> {
        let mut clients = Vec::new();
        let mut raws = Vec::new();
        let mut ids: HashMap<String, usize> = HashMap::new();
        for t in self.table_list(top, "client")? {
            self.check_keys(&t, CLIENT_KEYS)?;
            let id = self.string(&self.required(&t, "id")?)?;
            if id.v.is_empty() {
                return Err(self.err(id.pos, "client id must not be empty"));
            }
            self.first_use(&mut ids, &id, "duplicate client id", "declared")?;
            let server = self.string(&self.required(&t, "server")?)?;
            let nick = match t.get("nick") {
                Some(f) => Some(self.nick(&f)?),
                None => None,
            };
            let mut join = Vec::new();
            if let Some(f) = t.get("join") {
                for room in self.string_list(&f)? {
                    join.push(self.check_room(room)?);
                }
            }
            let accept_private = match t.get("accept_private") {
                Some(f) => self.boolean(&f)?,
                None => true,
            };
            let accept_redirect = match t.get("accept_redirect") {
                Some(f) => self.boolean(&f)?,
                None => true,
            };
            let servers = match t.get("servers") {
                Some(f) => self.string_list(&f)?,
                None => Vec::new(),
            };
            let mut decl = ClientDecl::new(id.v.clone(), server.v.clone());
            decl.nick = nick;
            decl.join = join;
            decl.accept_private = accept_private;
            decl.accept_redirect = accept_redirect;
            decl.servers = servers.iter().map(|s| s.v.clone()).collect();
            if let Some(f) = t.get("reconnect") {
                decl.reconnect = self.boolean(&f)?;
            }
            if let Some(f) = t.get("start") {
                decl.start = self.boolean(&f)?;
            }
            let via = match t.get("via") {
                Some(f) => {
                    let v = self.string(&f)?;
                    if v.v != "greeter" {
                        return Err(self.err(
                            v.pos,
                            format!("`via` is \"greeter\" (or absent), not {:?}", v.v),
                        ));
                    }
                    decl.via_greeter = true;
                    Some(v)
                }
                None => None,
            };
            if let Some(f) = t.get("session") {
                let room = self.check_room(self.string(&f)?)?;
                if via.is_none() {
                    return Err(self.err(
                        f.pos,
                        "`session` is the room to ask the greeter for: it needs `via = \"greeter\"`",
                    ));
                }
                decl.session = Some(room);
            }
            clients.push(decl);
            raws.push(RawClient {
                id,
                server,
                servers,
                via,
            });
        }
        Ok((clients, raws))
    }

    fn nick(&self, f: &Field<'a>) -> Res<String> {
        let s = self.string(f)?;
        if s.v.is_empty() {
            return Err(self.err(s.pos, "nick must not be empty"));
        }
        Ok(s.v)
    }

    fn check_room(&self, room: Sp<String>) -> Res<String> {
        if !room.v.starts_with('#') {
            return Err(self.err(
                room.pos,
                format!("invalid room name {:?}: room names start with `#`", room.v),
            ));
        }
        Ok(room.v)
    }

    fn actions(&self, top: &Tbl<'a>) -> Res<Vec<RawAction>> {
        self.table_list(top, "at")?
            .iter()
            .map(|t| self.action(t))
            .collect()
    }

    fn action(&self, t: &Tbl<'a>) -> Res<RawAction> {
        let time_field = self.required(t, "time")?;
        let what = self.string(&self.required(t, "do")?)?;
        let Some(args) = action_args(&what.v) else {
            return Err(self.err(
                what.pos,
                format!(
                    "unknown action {:?} (known: {})",
                    what.v,
                    Action::NAMES.join(", ")
                ),
            ));
        };
        for f in t.fields() {
            if f.key != "time" && f.key != "do" && !args.contains(&f.key) {
                let expected = if args.is_empty() {
                    "it takes none".to_string()
                } else {
                    format!("its arguments: {}", args.join(", "))
                };
                return Err(self.err(
                    f.unknown_pos(),
                    format!(
                        "unknown key `{}`: not an argument of action `{}` ({expected})",
                        f.key, what.v
                    ),
                ));
            }
        }
        let time = self.duration(&time_field)?;
        let mut r = Args {
            p: self,
            t,
            action: &what.v,
            refs: Vec::new(),
            intro: None,
        };
        let action = match what.v.as_str() {
            "partition" => Action::Partition {
                groups: r.groups("groups")?,
            },
            "heal" => Action::Heal,
            "cut" => {
                let (a, b) = r.server_pair()?;
                Action::Cut { a, b }
            }
            "stall" => {
                let (a, b) = r.server_pair()?;
                let f = r.field("for")?;
                let duration = self.duration(&f)?;
                if duration == Duration::ZERO {
                    return Err(self.err(f.pos, "a stall must last longer than zero"));
                }
                Action::Stall { a, b, duration }
            }
            "storm" => {
                let f = r.field("for")?;
                let duration = self.duration(&f)?;
                if duration == Duration::ZERO {
                    return Err(self.err(f.pos, "a storm must last longer than zero"));
                }
                let loss_ppm = match t.get("loss") {
                    Some(f) => self.probability(&f)?,
                    None => 0,
                };
                let duplicate_ppm = match t.get("duplicate") {
                    Some(f) => self.probability(&f)?,
                    None => 0,
                };
                Action::Storm {
                    duration,
                    loss_ppm,
                    duplicate_ppm,
                }
            }
            "link" => {
                let (a, b) = r.server_pair()?;
                Action::Link { a, b }
            }
            "unlink" => {
                let (a, b) = r.server_pair()?;
                let via = match t.get("via") {
                    Some(_) => Some(r.server("via")?),
                    None => None,
                };
                Action::Unlink { a, b, via }
            }
            "kill" => Action::Kill {
                server: r.server("server")?,
                nick: self.nick(&r.field("nick")?)?,
                comment: match t.get("comment") {
                    Some(f) => self.string(&f)?.v,
                    None => "killed by an operator".into(),
                },
            },
            "crash" => Action::Crash {
                server: r.server("server")?,
            },
            "restart" => Action::Restart {
                server: r.server("server")?,
            },
            "shutdown" => Action::Shutdown {
                server: r.server("server")?,
            },
            "add_server" => {
                let name = self.string(&r.field("name")?)?;
                if !is_server_name(&name.v) {
                    return Err(self.err(
                        name.pos,
                        format!(
                            "invalid server name {:?}: use 1 to 32 of A-Z a-z 0-9 _ . -",
                            name.v
                        ),
                    ));
                }
                let via = r.server("via")?;
                if via == name.v {
                    return Err(self.err(
                        r.refs[0].name.pos,
                        format!("server `{via}` cannot be added via itself"),
                    ));
                }
                r.intro = Some(Intro::Server(name.clone()));
                Action::AddServer { name: name.v, via }
            }
            "skew" => Action::Skew {
                server: r.server("server")?,
                by_nanos: self.signed_duration(&r.field("by")?)?,
            },
            "connect" => {
                let client = r.string("client")?;
                if client.v.is_empty() {
                    return Err(self.err(client.pos, "client id must not be empty"));
                }
                r.intro = Some(Intro::Client(client.clone()));
                let server = r.server("server")?;
                let nick = match t.get("nick") {
                    Some(f) => Some(self.nick(&f)?),
                    None => None,
                };
                Action::Connect {
                    client: client.v,
                    server,
                    nick,
                }
            }
            "nick" => Action::Nick {
                client: r.client("client")?,
                nick: self.nick(&r.field("nick")?)?,
            },
            "create" => Action::Create {
                client: r.client("client")?,
                room: r.room("room")?,
            },
            "join" => Action::Join {
                client: r.client("client")?,
                room: r.room("room")?,
            },
            "leave" => Action::Leave {
                client: r.client("client")?,
                room: r.room("room")?,
            },
            "say" => Action::Say {
                client: r.client("client")?,
                room: r.room("room")?,
                text: r.string("text")?.v,
            },
            "send_list" => Action::SendList {
                client: r.client("client")?,
                to: r.clients("to")?,
                text: r.string("text")?.v,
            },
            "private" => Action::Private {
                client: r.client("client")?,
                to: r.client("to")?,
                text: r.string("text")?.v,
            },
            "redirect" => {
                let by_client = match t.get("by") {
                    None => false,
                    Some(f) => match self.string(&f)?.v.as_str() {
                        "server" => false,
                        "client" => true,
                        other => {
                            return Err(self.err(
                                f.pos,
                                format!("`by` is \"server\" or \"client\", not {other:?}"),
                            ))
                        }
                    },
                };
                Action::Redirect {
                    client: r.client("client")?,
                    to: r.server("to")?,
                    by_client,
                }
            }
            "quit" => Action::Quit {
                client: r.client("client")?,
                exit: match t.get("exit") {
                    Some(f) => Some(self.string(&f)?.v),
                    None => None,
                },
            },
            "ulist" => Action::Ulist {
                client: r.client("client")?,
                room: r.room("room")?,
            },
            "listrooms" => Action::ListRooms {
                client: r.client("client")?,
            },
            "broadcast" => Action::Broadcast {
                server: r.server("server")?,
                text: r.string("text")?.v,
            },
            "present_token" => {
                let client = r.client("client")?;
                let server = r.server("server")?;
                let kind = r.string("token")?;
                if !TOKEN_ATTACKS.iter().any(|(k, _)| *k == kind.v) {
                    let known: Vec<&str> = TOKEN_ATTACKS.iter().map(|(k, _)| *k).collect();
                    return Err(self.err(
                        kind.pos,
                        format!("unknown token {:?} (known: {})", kind.v, known.join(", ")),
                    ));
                }
                Action::PresentToken {
                    client,
                    server,
                    token: kind.v,
                }
            }
            other => unreachable!("action `{other}` has arguments but no parser"),
        };
        Ok(RawAction {
            time_pos: time_field.pos,
            action: TimedAction {
                time,
                action,
                line: self.line(t.pos),
            },
            refs: r.refs,
            intro: r.intro,
        })
    }

    fn expect(&self, top: &Tbl<'a>) -> Res<(Expect, RawExpect)> {
        let mut e = Expect::default();
        let mut raw = RawExpect {
            components: Vec::new(),
            links: Vec::new(),
        };
        let Some(t) = self.section(top, "expect")? else {
            return Ok((e, raw));
        };
        self.check_keys(&t, EXPECT_KEYS)?;
        if let Some(f) = t.get("verdict") {
            let s = self.string(&f)?;
            e.verdict = Verdict::from_name(&s.v).ok_or_else(|| {
                self.err(
                    s.pos,
                    format!("unknown verdict {:?} (expected \"pass\" or \"fail\")", s.v),
                )
            })?;
        }
        if let Some(f) = t.get("violated") {
            for name in self.string_list(&f)? {
                if !crate::checkers::is_known(&name.v) {
                    return Err(self.err(
                        name.pos,
                        format!(
                            "unknown invariant {:?} in `violated` (see `drcsim invariants`)",
                            name.v
                        ),
                    ));
                }
                e.violated.push(name.v);
            }
        }
        if let Some(f) = t.get("components") {
            let mut seen = HashSet::new();
            let mut components = Vec::new();
            for group in self.string_lists(&f)? {
                let mut names = Vec::new();
                for n in group.v {
                    if !seen.insert(n.v.clone()) {
                        return Err(self.err(
                            n.pos,
                            format!(
                                "server `{}` appears in more than one place in `components`",
                                n.v
                            ),
                        ));
                    }
                    names.push(n.v.clone());
                    raw.components.push(n);
                }
                components.push(names);
            }
            e.components = Some(components);
        }
        if let Some(f) = t.get("links") {
            let mut links = Vec::new();
            for pair in self.string_lists(&f)? {
                let [a, b] = <[Sp<String>; 2]>::try_from(pair.v).map_err(|v| {
                    self.err(
                        pair.pos,
                        format!(
                            "each element of `links` must be a pair of server names, found {} names",
                            v.len()
                        ),
                    )
                })?;
                if a.v == b.v {
                    return Err(self.err(
                        b.pos,
                        format!(
                            "a link joins two different servers, not `{}` to itself",
                            a.v
                        ),
                    ));
                }
                links.push((a.v.clone(), b.v.clone()));
                raw.links.push((a, b));
            }
            e.links = Some(links);
        }
        if let Some(f) = t.get("settle") {
            e.settle = Some(self.duration(&f)?);
        }
        if let Some(f) = t.get("connected") {
            e.connected = self.boolean(&f)?;
        }
        if let Some(f) = t.get("converge") {
            e.converge = self.boolean(&f)?;
        }
        if let Some(f) = t.get("min_events") {
            e.min_events = Some(self.uint(&f)?);
        }
        Ok((e, raw))
    }

    // ----- cross references --------------------------------------------

    fn check_server_refs(&self, raws: &[RawServer], all_servers: &HashSet<String>) -> Res<()> {
        for s in raws {
            for n in s.connect.iter().chain(&s.claims) {
                if !all_servers.contains(&n.v) {
                    return Err(self.err(n.pos, format!("unknown server `{}`", n.v)));
                }
            }
        }
        Ok(())
    }

    fn check_client_refs(&self, raws: &[RawClient], all_servers: &HashSet<String>) -> Res<()> {
        for c in raws {
            if all_servers.contains(&c.id.v) {
                return Err(self.err(
                    c.id.pos,
                    format!("client id `{}` is already a server name", c.id.v),
                ));
            }
            for s in std::iter::once(&c.server).chain(&c.servers) {
                if !all_servers.contains(&s.v) {
                    return Err(self.err(s.pos, format!("unknown server `{}`", s.v)));
                }
            }
        }
        Ok(())
    }

    /// Walks the sorted timeline: a server or client an action names must be
    /// declared, or introduced by an `add_server`/`connect` no later in the
    /// timeline.
    fn check_timeline(
        &self,
        actions: &[RawAction],
        servers: &[ServerDecl],
        clients: &[ClientDecl],
        all_servers: &HashSet<String>,
        all_clients: &HashSet<String>,
    ) -> Res<()> {
        let declared_servers: HashSet<&str> = servers.iter().map(|s| s.name.as_str()).collect();
        let mut known_servers: HashSet<String> = servers.iter().map(|s| s.name.clone()).collect();
        let mut known_clients: HashSet<String> = clients.iter().map(|c| c.id.clone()).collect();
        let mut added: HashMap<String, usize> = HashMap::new();
        for a in actions {
            for r in &a.refs {
                let n = &r.name.v;
                let is_server = known_servers.contains(n);
                let is_client = known_clients.contains(n);
                let ok = match r.kind {
                    RefKind::Server => is_server,
                    RefKind::Client => is_client,
                    // A client's machine exists from the start, so a partition
                    // may place a client that connects later.
                    RefKind::Member => is_server || is_client || all_clients.contains(n),
                };
                if ok {
                    continue;
                }
                let message = match r.kind {
                    RefKind::Server if all_servers.contains(n) => format!(
                        "server `{n}` is used before the `add_server` action that introduces it"
                    ),
                    RefKind::Client if all_clients.contains(n) => format!(
                        "client `{n}` is used before the `connect` action that introduces it"
                    ),
                    RefKind::Member if all_servers.contains(n) || all_clients.contains(n) => {
                        format!("`{n}` is used before the action that introduces it")
                    }
                    RefKind::Server => format!("unknown server `{n}`"),
                    RefKind::Client => format!("unknown client `{n}`"),
                    RefKind::Member => format!("unknown server or client `{n}`"),
                };
                return Err(self.err(r.name.pos, message));
            }
            match &a.intro {
                Some(Intro::Server(n)) => {
                    if declared_servers.contains(n.v.as_str()) {
                        return Err(self.err(
                            n.pos,
                            format!(
                                "server `{}` is declared in [[server]]; add_server needs a new name",
                                n.v
                            ),
                        ));
                    }
                    if let Some(&first) = added.get(&n.v) {
                        return Err(self.err(
                            n.pos,
                            format!(
                                "server `{}` is already added on line {}",
                                n.v,
                                self.line(first)
                            ),
                        ));
                    }
                    if all_clients.contains(&n.v) {
                        return Err(self.err(
                            n.pos,
                            format!("server name `{}` is already a client id", n.v),
                        ));
                    }
                    added.insert(n.v.clone(), n.pos);
                    known_servers.insert(n.v.clone());
                }
                Some(Intro::Client(n)) => {
                    if all_servers.contains(&n.v) {
                        return Err(self.err(
                            n.pos,
                            format!("client id `{}` is already a server name", n.v),
                        ));
                    }
                    known_clients.insert(n.v.clone());
                }
                None => {}
            }
        }
        Ok(())
    }
}

/// Reads the arguments of one action, noting the names it refers to.
struct Args<'p, 'a> {
    p: &'p Parser<'a>,
    t: &'p Tbl<'a>,
    action: &'p str,
    refs: Vec<Ref>,
    intro: Option<Intro>,
}

impl<'a> Args<'_, 'a> {
    fn field(&self, key: &str) -> Res<Field<'a>> {
        self.t.get(key).ok_or_else(|| {
            self.p.err(
                self.t.pos,
                format!("action `{}` is missing argument `{key}`", self.action),
            )
        })
    }

    fn string(&self, key: &str) -> Res<Sp<String>> {
        self.p.string(&self.field(key)?)
    }

    fn named(&mut self, key: &str, kind: RefKind) -> Res<String> {
        let name = self.string(key)?;
        self.refs.push(Ref {
            kind,
            name: name.clone(),
        });
        Ok(name.v)
    }

    fn server(&mut self, key: &str) -> Res<String> {
        self.named(key, RefKind::Server)
    }

    fn client(&mut self, key: &str) -> Res<String> {
        self.named(key, RefKind::Client)
    }

    fn server_pair(&mut self) -> Res<(String, String)> {
        let a = self.server("a")?;
        let b = self.server("b")?;
        if a == b {
            let pos = self.refs.last().map_or(self.t.pos, |r| r.name.pos);
            return Err(self.p.err(
                pos,
                format!("`a` and `b` must be two different servers, both are `{a}`"),
            ));
        }
        Ok((a, b))
    }

    fn room(&mut self, key: &str) -> Res<String> {
        let room = self.string(key)?;
        self.p.check_room(room)
    }

    fn clients(&mut self, key: &str) -> Res<Vec<String>> {
        let f = self.field(key)?;
        let names = self.p.string_list(&f)?;
        let mut out = Vec::with_capacity(names.len());
        for n in names {
            out.push(n.v.clone());
            self.refs.push(Ref {
                kind: RefKind::Client,
                name: n,
            });
        }
        Ok(out)
    }

    fn groups(&mut self, key: &str) -> Res<Vec<Vec<String>>> {
        let f = self.field(key)?;
        let lists = self.p.string_lists(&f)?;
        if lists.is_empty() {
            return Err(self.p.err(f.pos, "`groups` must list at least one group"));
        }
        let mut seen = HashSet::new();
        let mut groups = Vec::with_capacity(lists.len());
        for list in lists {
            if list.v.is_empty() {
                return Err(self.p.err(list.pos, "a partition group must not be empty"));
            }
            let mut group = Vec::with_capacity(list.v.len());
            for n in list.v {
                if !seen.insert(n.v.clone()) {
                    return Err(self.p.err(
                        n.pos,
                        format!("`{}` appears more than once in `groups`", n.v),
                    ));
                }
                group.push(n.v.clone());
                self.refs.push(Ref {
                    kind: RefKind::Member,
                    name: n,
                });
            }
            groups.push(group);
        }
        Ok(groups)
    }
}

/// How many actions a workload expands into, from its means: per client a
/// connect and its joins, its messages, nick changes and leaves (each with
/// its join again) over the whole span, and per churn cycle a quit, a
/// connect and the joins again.
/// Saturating: a bound to compare, not an exact count.
pub(super) fn workload_actions(w: &WorkloadSection) -> u64 {
    let span = w.stop.as_nanos().saturating_sub(w.start.as_nanos());
    let per = |every: Duration| match every.as_nanos() {
        0 => 0,
        gap => span / gap,
    };
    let joins = w.joins.min(w.rooms);
    let per_client = (1 + joins)
        .saturating_add(if joins > 0 { per(w.say_every) } else { 0 })
        .saturating_add(per(w.nick_every))
        .saturating_add(per(w.private_every))
        .saturating_add(per(w.list_every))
        .saturating_add(if joins > 0 {
            per(w.leave_every).saturating_mul(2)
        } else {
            0
        })
        .saturating_add(per(w.churn_every).saturating_mul(2 + joins));
    w.clients.saturating_mul(per_client)
}
