//! Typed server-to-server messages on top of the frame codec.
//!
//! Parsing borrows from the decoded [`Frame`], so handling a message costs
//! no allocation; encoding appends to the caller's buffer.

use std::sync::Arc;

use crate::identity::LinkTag;
use crate::wire::{self, Encoder, Frame, WireError};

/// A parse failure: which command and what was wrong with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub command: &'static str,
    pub problem: &'static str,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.command, self.problem)
    }
}

impl std::error::Error for ParseError {}

/// The reason a server handing a room's stream over gives when it refuses
/// a message for that stream: its number was taken back at the handover's
/// start (held, its CSEND still on the way), or it came with none. The
/// sender asks again, and the refusal costs it no try (`handover-refusal`).
pub const HANDED_OVER: &str = "handed over";

/// The uplink a server names for itself at the head of its burst.
pub const SELF_UPLINK: &str = "*";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Msg<'a> {
    /// Handshake step 1, connecting side: who I claim to be, and the stamp
    /// I give this link.
    Link {
        name: &'a str,
        sid: &'a str,
        incarnation: u64,
        stamp: u64,
    },
    /// Step 1 as LINK, from a newcomer that wants the target's whole
    /// database once (see `server/join.rs`), not a place in the tree.
    NewLink {
        name: &'a str,
        sid: &'a str,
        incarnation: u64,
        stamp: u64,
    },
    /// Step 2, target: challenge and my public key, sealed to the
    /// connecting server's registered key (hex).
    Challenge {
        sealed: &'a str,
    },
    /// Step 3, connecting side: the challenge and a counter-challenge,
    /// sealed to the target's registered key (hex).
    Response {
        sealed: &'a str,
    },
    /// Step 4, target: the counter-challenge in clear, which only the
    /// holder of the target's key could have read (hex).
    Verified {
        proof: &'a str,
    },
    /// A server in the sender's tree. `hops` counts from the sender (the
    /// sender itself is 0, with uplink `*`); `path` lists the links from
    /// the sender to it, nearest first.
    Server {
        name: &'a str,
        hops: u32,
        sid: &'a str,
        incarnation: u64,
        uplink: &'a str,
        path: PathArgs<'a>,
    },
    /// End of the sender's burst on this link.
    Eob,
    /// I lost these servers after refusing your route to them: if you
    /// still know one of them (not through me), send me your burst again.
    Resync {
        names: NameArgs<'a>,
    },
    /// The server `name` (incarnation) and everything behind it is gone.
    Squit {
        name: &'a str,
        incarnation: u64,
        reason: &'a str,
    },
    /// The operator closes this link gracefully.
    Sclose {
        reason: &'a str,
    },
    Ping {
        token: u64,
    },
    Pong {
        token: u64,
    },
    Error {
        reason: &'a str,
    },
    /// An operator broadcast flooding the tree from the server whose SID is `origin`.
    Bcast {
        origin: &'a str,
        id: u64,
        text: &'a str,
    },
}

/// The trailing link-tag arguments of a SERVER frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PathArgs<'a> {
    frame: &'a Frame,
    first: usize,
    shared: bool,
    quiet: bool,
}

/// Before a SERVER's path (and its [`SHARED_PATH`] mark): the sender holds
/// no users at all, so asking it for the users of that server (USYNC)
/// would be answered with nothing.
pub const NO_USERS: &str = "-";

/// Before a SERVER's one link tag: the links before it are the sender's
/// path to the uplink, as the sender last introduced the uplink on this
/// link (so the receiver holds them already).
pub const SHARED_PATH: &str = "^";

impl<'a> PathArgs<'a> {
    fn new(frame: &'a Frame, first: usize) -> Self {
        let quiet = frame.arg(first) == Some(NO_USERS);
        let first = first + usize::from(quiet);
        let shared = frame.arg(first) == Some(SHARED_PATH);
        PathArgs {
            frame,
            first: first + usize::from(shared),
            shared,
            quiet,
        }
    }
    /// Whether the sender said it holds no users ([`NO_USERS`]).
    pub fn quiet(&self) -> bool {
        self.quiet
    }
    /// Whether the tags follow [`SHARED_PATH`].
    pub fn shared(&self) -> bool {
        self.shared
    }
    pub fn len(&self) -> usize {
        self.frame.arg_count() - self.first
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The `i`th tag as sent, nearest to the sender first.
    pub fn arg(&self, i: usize) -> Option<&'a str> {
        self.frame.arg(self.first + i)
    }
    /// Parses every tag; `None` if any is malformed.
    pub fn tags(&self) -> Option<Vec<LinkTag>> {
        self.tags_with(&mut |x| x.into())
    }

    /// [`PathArgs::tags`] with the names from `intern` (see
    /// [`LinkTag::parse_with`]). A path is a chain, so each tag shares an
    /// endpoint with the one before: that name is taken from it rather
    /// than asked of `intern` again (at 1,000 servers, looking names up
    /// was most of the cost of reading paths).
    pub fn tags_with(&self, intern: &mut impl FnMut(&str) -> Arc<str>) -> Option<Vec<LinkTag>> {
        let mut prev: Option<(Arc<str>, Arc<str>)> = None;
        (self.first..self.frame.arg_count())
            .map(|i| {
                let t = LinkTag::parse_with(self.frame.arg(i)?, &mut |s: &str| match &prev {
                    Some((lo, _)) if **lo == *s => lo.clone(),
                    Some((_, hi)) if **hi == *s => hi.clone(),
                    _ => intern(s),
                })?;
                prev = Some((t.lo.clone(), t.hi.clone()));
                Some(t)
            })
            .collect()
    }
}

/// The server names of a RESYNC frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NameArgs<'a> {
    frame: &'a Frame,
}

impl<'a> NameArgs<'a> {
    pub fn iter(&self) -> impl Iterator<Item = &'a str> + 'a {
        let f = self.frame;
        (0..f.arg_count()).filter_map(move |i| f.arg(i))
    }
}

const SERVER_FIXED: usize = 5;

#[inline]
fn num(s: &str, command: &'static str) -> Result<u64, ParseError> {
    wire::parse_u64(s).ok_or(ParseError {
        command,
        problem: "bad number",
    })
}

#[inline]
fn exact<'a, const N: usize>(
    f: &'a Frame,
    command: &'static str,
) -> Result<[&'a str; N], ParseError> {
    f.args_exact().ok_or(ParseError {
        command,
        problem: "wrong number of arguments",
    })
}

impl<'a> Msg<'a> {
    pub fn parse(f: &'a Frame) -> Result<Msg<'a>, ParseError> {
        // Dispatch on the length first: each arm then compares against
        // constants of a known size, which compiles to one or two integer
        // compares instead of a string compare per candidate.
        let c = f.command().as_bytes();
        Ok(match c.len() {
            5 if c == b"BCAST" => {
                let [origin, id, text] = exact(f, "BCAST")?;
                Msg::Bcast {
                    origin,
                    id: num(id, "BCAST")?,
                    text,
                }
            }
            4 if c == b"PING" => {
                let [token] = exact(f, "PING")?;
                Msg::Ping {
                    token: num(token, "PING")?,
                }
            }
            4 if c == b"PONG" => {
                let [token] = exact(f, "PONG")?;
                Msg::Pong {
                    token: num(token, "PONG")?,
                }
            }
            6 if c == b"SERVER" => {
                let fixed = f.args_prefix::<SERVER_FIXED>().ok_or(ParseError {
                    command: "SERVER",
                    problem: "missing argument",
                })?;
                let [name, hops, sid, incarnation, uplink] = fixed;
                let hops = num(hops, "SERVER")?;
                Msg::Server {
                    name,
                    hops: u32::try_from(hops).map_err(|_| ParseError {
                        command: "SERVER",
                        problem: "bad number",
                    })?,
                    sid,
                    incarnation: num(incarnation, "SERVER")?,
                    uplink,
                    path: PathArgs::new(f, SERVER_FIXED),
                }
            }
            5 if c == b"SQUIT" => {
                let [name, incarnation, reason] = exact(f, "SQUIT")?;
                Msg::Squit {
                    name,
                    incarnation: num(incarnation, "SQUIT")?,
                    reason,
                }
            }
            3 if c == b"EOB" => {
                let [] = exact(f, "EOB")?;
                Msg::Eob
            }
            6 if c == b"RESYNC" => {
                if f.arg_count() == 0 {
                    return Err(ParseError {
                        command: "RESYNC",
                        problem: "missing argument",
                    });
                }
                Msg::Resync {
                    names: NameArgs { frame: f },
                }
            }
            4 if c == b"LINK" => {
                let [name, sid, incarnation, stamp] = exact(f, "LINK")?;
                Msg::Link {
                    name,
                    sid,
                    incarnation: num(incarnation, "LINK")?,
                    stamp: num(stamp, "LINK")?,
                }
            }
            7 if c == b"NEWLINK" => {
                let [name, sid, incarnation, stamp] = exact(f, "NEWLINK")?;
                Msg::NewLink {
                    name,
                    sid,
                    incarnation: num(incarnation, "NEWLINK")?,
                    stamp: num(stamp, "NEWLINK")?,
                }
            }
            9 if c == b"CHALLENGE" => {
                let [sealed] = exact(f, "CHALLENGE")?;
                Msg::Challenge { sealed }
            }
            8 if c == b"RESPONSE" => {
                let [sealed] = exact(f, "RESPONSE")?;
                Msg::Response { sealed }
            }
            8 if c == b"VERIFIED" => {
                let [proof] = exact(f, "VERIFIED")?;
                Msg::Verified { proof }
            }
            6 if c == b"SCLOSE" => {
                let [reason] = exact(f, "SCLOSE")?;
                Msg::Sclose { reason }
            }
            5 if c == b"ERROR" => {
                let [reason] = exact(f, "ERROR")?;
                Msg::Error { reason }
            }
            _ => {
                return Err(ParseError {
                    command: "?",
                    problem: "unknown command",
                })
            }
        })
    }

    /// A BCAST read straight from the wire bytes when it is plain (see
    /// [`wire::plain_args`]), without decoding it into a [`Frame`] first:
    /// the message a server handles at every hop of a flood. `None` for
    /// anything else; decoding and [`Msg::parse`] give the same message for
    /// every frame this accepts, and decide the rest.
    #[inline]
    pub fn parse_plain_bcast(bytes: &[u8]) -> Option<Msg<'_>> {
        let [origin, id, text] = wire::plain_args(bytes, "BCAST")?;
        Some(Msg::Bcast {
            origin,
            id: wire::parse_u64(id)?,
            text,
        })
    }

    /// Encodes every message except SERVER, whose path comes from owned
    /// tags (see [`encode_server`]); a parsed SERVER re-encodes verbatim.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<usize, WireError> {
        match *self {
            Msg::Link {
                name,
                sid,
                incarnation,
                stamp,
            } => {
                let mut e = Encoder::begin(out, "LINK");
                e.arg(name).arg(sid).arg_u64(incarnation).arg_u64(stamp);
                e.finish()
            }
            Msg::NewLink {
                name,
                sid,
                incarnation,
                stamp,
            } => {
                let mut e = Encoder::begin(out, "NEWLINK");
                e.arg(name).arg(sid).arg_u64(incarnation).arg_u64(stamp);
                e.finish()
            }
            Msg::Challenge { sealed } => one(out, "CHALLENGE", sealed),
            Msg::Response { sealed } => one(out, "RESPONSE", sealed),
            Msg::Verified { proof } => one(out, "VERIFIED", proof),
            Msg::Server {
                name,
                hops,
                sid,
                incarnation,
                uplink,
                path,
            } => {
                let mut e = Encoder::begin(out, "SERVER");
                e.arg(name)
                    .arg_u64(u64::from(hops))
                    .arg(sid)
                    .arg_u64(incarnation)
                    .arg(uplink);
                if path.quiet {
                    e.arg(NO_USERS);
                }
                if path.shared {
                    e.arg(SHARED_PATH);
                }
                for i in path.first..path.frame.arg_count() {
                    e.arg(path.frame.arg(i).unwrap_or(""));
                }
                e.finish()
            }
            Msg::Eob => Encoder::begin(out, "EOB").finish(),
            Msg::Resync { names } => {
                let mut e = Encoder::begin(out, "RESYNC");
                for n in names.iter() {
                    e.arg(n);
                }
                e.finish()
            }
            Msg::Squit {
                name,
                incarnation,
                reason,
            } => {
                let mut e = Encoder::begin(out, "SQUIT");
                e.arg(name).arg_u64(incarnation).arg(reason);
                e.finish()
            }
            Msg::Sclose { reason } => one(out, "SCLOSE", reason),
            Msg::Ping { token } => {
                let mut e = Encoder::begin(out, "PING");
                e.arg_u64(token);
                e.finish()
            }
            Msg::Pong { token } => {
                let mut e = Encoder::begin(out, "PONG");
                e.arg_u64(token);
                e.finish()
            }
            Msg::Error { reason } => one(out, "ERROR", reason),
            Msg::Bcast { origin, id, text } => {
                let mut e = Encoder::begin(out, "BCAST");
                e.arg(origin).arg_u64(id).arg(text);
                e.finish()
            }
        }
    }
}

fn one(out: &mut Vec<u8>, command: &str, a: &str) -> Result<usize, WireError> {
    let mut e = Encoder::begin(out, command);
    e.arg(a);
    e.finish()
}

/// Fields of a SERVER message built from a server's own tables.
pub struct ServerIntro<'a> {
    pub name: &'a str,
    pub hops: u32,
    pub sid: &'a str,
    pub incarnation: u64,
    pub uplink: &'a str,
    /// The links from the sender to the server, nearest first.
    pub path: &'a [&'a LinkTag],
    /// Whether the path is the uplink's and one link more (the uplink
    /// having been introduced on the link this goes to): then only the
    /// last link is sent, after [`SHARED_PATH`].
    pub shared: bool,
    /// Whether the sender holds no users ([`NO_USERS`]).
    pub quiet: bool,
}

/// A RESYNC naming these servers (at most [`wire::MAX_ARGS`]).
pub fn encode_resync<S: AsRef<str>>(out: &mut Vec<u8>, names: &[S]) -> Result<usize, WireError> {
    let mut e = Encoder::begin(out, "RESYNC");
    for n in names {
        e.arg(n.as_ref());
    }
    e.finish()
}

pub fn encode_server(out: &mut Vec<u8>, s: &ServerIntro<'_>) -> Result<usize, WireError> {
    let mut e = Encoder::begin(out, "SERVER");
    e.arg(s.name)
        .arg_u64(u64::from(s.hops))
        .arg(s.sid)
        .arg_u64(s.incarnation)
        .arg(s.uplink);
    if s.quiet {
        e.arg(NO_USERS);
    }
    let mut path = s.path;
    if s.shared {
        e.arg(SHARED_PATH);
        path = &path[path.len().saturating_sub(1)..];
    }
    let mut tag = String::with_capacity(48);
    for t in path {
        tag.clear();
        t.encode(&mut tag);
        e.arg(&tag);
    }
    e.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The parser as first written, one string compare per command and one
    /// checked lookup per argument: the reference for the dispatch above.
    fn reference(f: &Frame) -> Result<Msg<'_>, ParseError> {
        fn arg<'a>(f: &'a Frame, i: usize, command: &'static str) -> Result<&'a str, ParseError> {
            f.arg(i).ok_or(ParseError {
                command,
                problem: "missing argument",
            })
        }
        fn n(f: &Frame, i: usize, command: &'static str) -> Result<u64, ParseError> {
            num(arg(f, i, command)?, command)
        }
        fn count(f: &Frame, k: usize, command: &'static str) -> Result<(), ParseError> {
            if f.arg_count() == k {
                Ok(())
            } else {
                Err(ParseError {
                    command,
                    problem: "wrong number of arguments",
                })
            }
        }
        let c = f.command();
        Ok(match c {
            "LINK" => {
                count(f, 4, "LINK")?;
                Msg::Link {
                    name: arg(f, 0, "LINK")?,
                    sid: arg(f, 1, "LINK")?,
                    incarnation: n(f, 2, "LINK")?,
                    stamp: n(f, 3, "LINK")?,
                }
            }
            "NEWLINK" => {
                count(f, 4, "NEWLINK")?;
                Msg::NewLink {
                    name: arg(f, 0, "NEWLINK")?,
                    sid: arg(f, 1, "NEWLINK")?,
                    incarnation: n(f, 2, "NEWLINK")?,
                    stamp: n(f, 3, "NEWLINK")?,
                }
            }
            "CHALLENGE" => {
                count(f, 1, "CHALLENGE")?;
                Msg::Challenge {
                    sealed: arg(f, 0, "CHALLENGE")?,
                }
            }
            "RESPONSE" => {
                count(f, 1, "RESPONSE")?;
                Msg::Response {
                    sealed: arg(f, 0, "RESPONSE")?,
                }
            }
            "VERIFIED" => {
                count(f, 1, "VERIFIED")?;
                Msg::Verified {
                    proof: arg(f, 0, "VERIFIED")?,
                }
            }
            "SERVER" => {
                if f.arg_count() < SERVER_FIXED {
                    return Err(ParseError {
                        command: "SERVER",
                        problem: "missing argument",
                    });
                }
                let hops = n(f, 1, "SERVER")?;
                Msg::Server {
                    name: arg(f, 0, "SERVER")?,
                    hops: u32::try_from(hops).map_err(|_| ParseError {
                        command: "SERVER",
                        problem: "bad number",
                    })?,
                    sid: arg(f, 2, "SERVER")?,
                    incarnation: n(f, 3, "SERVER")?,
                    uplink: arg(f, 4, "SERVER")?,
                    path: PathArgs::new(f, SERVER_FIXED),
                }
            }
            "EOB" => {
                count(f, 0, "EOB")?;
                Msg::Eob
            }
            "RESYNC" => {
                arg(f, 0, "RESYNC")?;
                Msg::Resync {
                    names: NameArgs { frame: f },
                }
            }
            "SQUIT" => {
                count(f, 3, "SQUIT")?;
                Msg::Squit {
                    name: arg(f, 0, "SQUIT")?,
                    incarnation: n(f, 1, "SQUIT")?,
                    reason: arg(f, 2, "SQUIT")?,
                }
            }
            "SCLOSE" => {
                count(f, 1, "SCLOSE")?;
                Msg::Sclose {
                    reason: arg(f, 0, "SCLOSE")?,
                }
            }
            "PING" => {
                count(f, 1, "PING")?;
                Msg::Ping {
                    token: n(f, 0, "PING")?,
                }
            }
            "PONG" => {
                count(f, 1, "PONG")?;
                Msg::Pong {
                    token: n(f, 0, "PONG")?,
                }
            }
            "ERROR" => {
                count(f, 1, "ERROR")?;
                Msg::Error {
                    reason: arg(f, 0, "ERROR")?,
                }
            }
            "BCAST" => {
                count(f, 3, "BCAST")?;
                Msg::Bcast {
                    origin: arg(f, 0, "BCAST")?,
                    id: n(f, 1, "BCAST")?,
                    text: arg(f, 2, "BCAST")?,
                }
            }
            _ => {
                return Err(ParseError {
                    command: "?",
                    problem: "unknown command",
                })
            }
        })
    }

    proptest! {
        #[test]
        fn parse_agrees_with_reference(
            cmd in prop::sample::select(vec![
                "LINK", "NEWLINK", "CHALLENGE", "RESPONSE", "VERIFIED", "SERVER", "EOB", "RESYNC",
                "SQUIT", "SCLOSE", "RESYNX", "PING", "PONG", "ERROR", "BCAST", "BCASTX", "PIN", "LINKS",
                "CHALLENGF", "SERVERS", "X", "VERIFIES",
            ]),
            args in prop::collection::vec(
                prop_oneof![
                    "[0-9]{1,3}",
                    "[0-9]{19,21}",
                    "[a-z0-9*]{0,4}",
                    Just(String::new()),
                ],
                0..9,
            ),
        ) {
            let mut buf = Vec::new();
            let mut e = Encoder::begin(&mut buf, cmd);
            for a in &args {
                e.arg(a);
            }
            e.finish().unwrap();
            let mut f = Frame::new();
            wire::decode_exact(&buf, &mut f).unwrap();
            prop_assert_eq!(Msg::parse(&f), reference(&f));
        }
    }

    proptest! {
        /// The wire fast path agrees with decoding and parsing: whatever it
        /// reads is what they read, and it reads every plain BCAST.
        #[test]
        fn plain_bcast_agrees_with_parse(
            cmd in prop::sample::select(vec!["BCAST", "BCAST", "BCAST", "BCASTS", "BCAS", "PING"]),
            origin in "[0-9A-Z]{0,4}| [A-Z]{1,3}|[A-Z,<>\\\\é]{1,2}",
            id in "[0-9]{1,5}| [0-9]{1,3}|[0-9a-]{0,3}|[0-9]{19,21}",
            text in "[ -~]{0,40}|[a-z\t\x7fé]{1,3}",
            extra in prop::sample::select(vec!["", "", "", ",x", ","]),
            sep in prop::sample::select(vec![",", ",", ", "]),
            wrap in prop::sample::select(vec![("<", ">"), ("<", ">"), (" <", ">"), ("<", "> "), ("<", ">>")]),
        ) {
            let raw = format!("{}{cmd}{sep}{origin}{sep}{id}{sep}{text}{extra}{}", wrap.0, wrap.1);
            let mut f = Frame::new();
            let general = wire::decode_exact(raw.as_bytes(), &mut f).ok().and_then(|()| Msg::parse(&f).ok());
            match Msg::parse_plain_bcast(raw.as_bytes()) {
                Some(m) => prop_assert_eq!(Some(m), general, "{}", raw),
                None => prop_assert!(
                    !(matches!(general, Some(Msg::Bcast { .. }))
                        && raw.starts_with('<')
                        && raw.ends_with('>')
                        && raw.bytes().all(|b| b.is_ascii() && b != b'\\' && b >= 0x20 && b != 0x7f)
                        && raw.matches('>').count() == 1
                        && raw.matches('<').count() == 1),
                    "{}",
                    raw
                ),
            }
        }
    }

    fn round_trip(m: Msg<'_>) {
        let mut buf = Vec::new();
        m.encode(&mut buf).unwrap();
        let mut f = Frame::new();
        wire::decode_exact(&buf, &mut f).unwrap();
        assert_eq!(
            Msg::parse(&f).unwrap(),
            m,
            "{}",
            String::from_utf8_lossy(&buf)
        );
    }

    #[test]
    fn every_message_round_trips() {
        round_trip(Msg::Link {
            name: "hub",
            sid: "0AA",
            incarnation: 3,
            stamp: 99,
        });
        round_trip(Msg::NewLink {
            name: "new",
            sid: "0AZ",
            incarnation: 1,
            stamp: 4,
        });
        round_trip(Msg::Challenge { sealed: "00ff" });
        round_trip(Msg::Response { sealed: "ab" });
        round_trip(Msg::Verified { proof: "cd" });
        round_trip(Msg::Eob);
        let mut buf = Vec::new();
        encode_resync(&mut buf, &["east", "west"]).unwrap();
        let mut f = Frame::new();
        wire::decode_exact(&buf, &mut f).unwrap();
        let m = Msg::parse(&f).unwrap();
        let Msg::Resync { names } = m else {
            panic!("not a RESYNC")
        };
        assert_eq!(names.iter().collect::<Vec<_>>(), ["east", "west"]);
        round_trip(m);
        round_trip(Msg::Squit {
            name: "east",
            incarnation: 1,
            reason: "ping timeout, 15s",
        });
        round_trip(Msg::Sclose { reason: "bye" });
        round_trip(Msg::Ping { token: 5 });
        round_trip(Msg::Pong { token: 5 });
        round_trip(Msg::Error {
            reason: "<Already Registered>",
        });
        round_trip(Msg::Bcast {
            origin: "hub",
            id: 7,
            text: "a, b \\ c",
        });
    }

    /// C's introduction, two links from the sender, encoded.
    fn intro_of_c(path: &[LinkTag; 2], shared: bool, quiet: bool) -> Vec<u8> {
        let mut buf = Vec::new();
        encode_server(
            &mut buf,
            &ServerIntro {
                name: "c",
                hops: 2,
                sid: "0CC",
                incarnation: 1,
                uplink: "b",
                path: &[&path[0], &path[1]],
                shared,
                quiet,
            },
        )
        .unwrap();
        buf
    }

    #[test]
    fn server_intro_carries_its_path() {
        let path = [
            LinkTag::new(5, "a", "b", "a"),
            LinkTag::new(9, "c", "b", "c"),
        ];
        let buf = intro_of_c(&path, false, false);
        let mut f = Frame::new();
        wire::decode_exact(&buf, &mut f).unwrap();
        let Msg::Server {
            name,
            hops,
            uplink,
            path: p,
            ..
        } = Msg::parse(&f).unwrap()
        else {
            panic!("not a SERVER")
        };
        assert_eq!((name, hops, uplink), ("c", 2, "b"));
        assert_eq!(p.tags().unwrap(), path.to_vec());
        // Its length counts the tags alone (a mutation survivor: `-` as `/`).
        assert_eq!((p.len(), p.is_empty()), (path.len(), false));
        let mut again = Vec::new();
        Msg::parse(&f).unwrap().encode(&mut again).unwrap();
        assert_eq!(again, buf);
    }

    #[test]
    fn a_shared_server_intro_carries_its_last_tag_after_the_mark() {
        let path = [
            LinkTag::new(5, "a", "b", "a"),
            LinkTag::new(9, "c", "b", "c"),
        ];
        let buf = intro_of_c(&path, true, false);
        let mut f = Frame::new();
        wire::decode_exact(&buf, &mut f).unwrap();
        assert_eq!(f.arg(5), Some(SHARED_PATH));
        let Msg::Server { path: p, .. } = Msg::parse(&f).unwrap() else {
            panic!("not a SERVER")
        };
        assert!(p.shared());
        assert!(!p.quiet());
        assert_eq!(p.tags().unwrap(), [path[1].clone()]);
        assert_eq!((p.len(), p.arg(0), p.arg(1)), (1, Some("9:b:c:c"), None));
        // Read back and written again, the mark stays.
        let mut again = Vec::new();
        Msg::parse(&f).unwrap().encode(&mut again).unwrap();
        assert_eq!(again, buf);
    }

    /// A sender with no users says so before the path, shared or whole;
    /// the mark is not a tag.
    #[test]
    fn a_quiet_server_intro_carries_the_no_users_mark_before_the_path() {
        let path = [
            LinkTag::new(5, "a", "b", "a"),
            LinkTag::new(9, "c", "b", "c"),
        ];
        for shared in [false, true] {
            let buf = intro_of_c(&path, shared, true);
            let mut f = Frame::new();
            wire::decode_exact(&buf, &mut f).unwrap();
            assert_eq!(f.arg(5), Some(NO_USERS));
            assert_eq!(f.arg(6) == Some(SHARED_PATH), shared);
            let Msg::Server { path: p, .. } = Msg::parse(&f).unwrap() else {
                panic!("not a SERVER")
            };
            assert!(p.quiet());
            assert_eq!(p.shared(), shared);
            let tags = if shared { &path[1..] } else { &path[..] };
            assert_eq!(p.tags().unwrap(), tags);
            assert_eq!(p.len(), tags.len());
            let mut again = Vec::new();
            Msg::parse(&f).unwrap().encode(&mut again).unwrap();
            assert_eq!(again, buf);
        }
    }

    #[test]
    fn a_server_intro_may_carry_no_path() {
        let mut buf = Vec::new();
        encode_server(
            &mut buf,
            &ServerIntro {
                name: "b",
                hops: 1,
                sid: "0BB",
                incarnation: 1,
                uplink: "a",
                path: &[],
                shared: false,
                quiet: false,
            },
        )
        .unwrap();
        let mut f = Frame::new();
        wire::decode_exact(&buf, &mut f).unwrap();
        let Msg::Server { path, .. } = Msg::parse(&f).unwrap() else {
            panic!("not a SERVER")
        };
        // (A mutation survivor: `is_empty` as `false`.)
        assert_eq!((path.len(), path.is_empty()), (0, true));
        assert_eq!(path.tags(), Some(Vec::new()));
    }

    #[test]
    fn a_parse_error_reads_command_then_problem() {
        let e = ParseError {
            command: "SERVER",
            problem: "missing argument",
        };
        assert_eq!(e.to_string(), "SERVER: missing argument");
    }

    #[test]
    fn malformed_messages_are_errors() {
        let cases: &[&[u8]] = &[
            b"<LINK,a,b,c,d>",
            b"<LINK,a,b,1>",
            b"<SERVER,a,1,b,2>",
            b"<SERVER,a,x,b,2,*>",
            b"<SERVER,a,99999999999,b,2,*>",
            b"<PING>",
            b"<EOB,x>",
            b"<RESYNC>",
            b"<NOPE>",
        ];
        let mut f = Frame::new();
        for c in cases {
            wire::decode_exact(c, &mut f).unwrap();
            assert!(Msg::parse(&f).is_err(), "{}", String::from_utf8_lossy(c));
        }
        wire::decode_exact(b"<SERVER,a,1,b,2,*,garbage>", &mut f).unwrap();
        let Ok(Msg::Server { path, .. }) = Msg::parse(&f) else {
            panic!()
        };
        assert_eq!(path.tags(), None);
    }
}
