//! HELLO/WELCOME handling, driven through the public API: a server with
//! discovery on, fed datagrams and timeouts by hand, its datagrams read
//! with `poll_datagram` and its dials from the outbox.

use std::sync::Arc;

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::{Datagram, DatagramTo, DiscoveryConfig, Input, Server};
use crate::crypto::KeyPair;
use crate::wire::{self, Frame};
use crate::{Config, Identity, Instant, Note, Outbox, Output, Registry};

/// Registered servers by (name, SID); `u` is never registered.
const REGISTERED: [(&str, &str); 4] = [("s", "0AD"), ("a", "0AB"), ("b", "0AC"), ("z", "0AZ")];

struct One {
    srv: Server,
    rng: ChaCha8Rng,
    out: Outbox,
    now: Instant,
}

fn server(name: &str, seeker: bool, cfg: Config) -> One {
    let mut reg = Registry::new();
    for (i, (n, sid)) in REGISTERED.iter().enumerate() {
        let k = KeyPair::generate(&mut ChaCha8Rng::seed_from_u64(i as u64));
        reg.register(n, sid, k.public());
    }
    let sid = REGISTERED
        .iter()
        .find(|r| r.0 == name)
        .map_or("9XX", |r| r.1);
    let me = Identity {
        name: name.into(),
        sid: sid.into(),
        incarnation: 1,
        keys: KeyPair::generate(&mut ChaCha8Rng::seed_from_u64(99)),
    };
    let mut srv = Server::new(me, Arc::new(cfg), Arc::new(reg), &[]);
    srv.set_discovery(DiscoveryConfig {
        addr: format!("10.0.0.{}", name.len()).into(),
        port: 6667,
        seeker,
        period: crate::Duration::from_secs(2),
    });
    let mut one = One {
        srv,
        rng: ChaCha8Rng::seed_from_u64(1),
        out: Outbox::new(),
        now: Instant(1_000_000_000_000),
    };
    one.input(Input::Start);
    one
}

impl One {
    fn input(&mut self, i: Input<'_>) {
        self.out.clear();
        self.srv.handle(self.now, i, &mut self.rng, &mut self.out);
        if let Some(t) = self.srv.poll_timeout() {
            assert!(t >= self.now, "armed {t:?} at {:?}", self.now);
        }
    }

    fn datagrams(&mut self) -> Vec<Datagram> {
        std::iter::from_fn(|| self.srv.poll_datagram()).collect()
    }

    /// Runs the server's timer once (moving the clock to it).
    fn tick(&mut self) {
        let at = self.srv.poll_timeout().expect("a seeker has a timer");
        self.now = self.now.max(at);
        self.input(Input::Timeout);
    }

    fn dials(&self) -> Vec<String> {
        self.out
            .items()
            .iter()
            .filter_map(|o| match o {
                Output::Connect { to, .. } => Some(to.to_string()),
                _ => None,
            })
            .collect()
    }

    fn welcome(&mut self, name: &str, seeking: bool) {
        let mut b = Vec::new();
        let flag = if seeking { "1" } else { "0" };
        wire::encode(&mut b, "WELCOME", &[name, "10.0.0.9", "6667", flag]).unwrap();
        self.input(Input::Datagram { bytes: &b });
    }

    fn hello(&mut self, name: &str) {
        let mut b = Vec::new();
        wire::encode(&mut b, "HELLO", &[name, "10.0.0.7", "6667"]).unwrap();
        self.input(Input::Datagram { bytes: &b });
    }
}

fn words(d: &Datagram) -> Vec<String> {
    let mut f = Frame::new();
    wire::decode_exact(&d.bytes, &mut f).unwrap();
    std::iter::once(f.command())
        .chain(f.args())
        .map(String::from)
        .collect()
}

/// The seeker after its first HELLO, holding the given WELCOMEs, at its
/// next period: what it dials then.
fn pick(from: &[(&str, bool)], cfg: Config) -> Vec<String> {
    let mut s = server("s", true, cfg);
    s.tick();
    let hello = s.datagrams();
    assert_eq!(hello.len(), 1);
    assert_eq!(hello[0].to, DatagramTo::Group);
    assert_eq!(words(&hello[0]), ["HELLO", "s", "10.0.0.1", "6667"]);
    for &(n, seeking) in from {
        s.welcome(n, seeking);
        assert!(s.dials().is_empty(), "a WELCOME alone never dials");
    }
    s.tick();
    s.dials()
}

#[test]
fn a_hello_is_answered_by_one_welcome_per_copy_and_changes_nothing() {
    let mut r = server("a", false, Config::default());
    assert!(r.srv.poll_timeout().is_none(), "a listener sends nothing");
    for _ in 0..2 {
        r.hello("s");
        let w = r.datagrams();
        assert_eq!(w.len(), 1);
        assert_eq!(
            w[0].to,
            DatagramTo::Unicast {
                addr: "10.0.0.7".into(),
                port: 6667
            }
        );
        assert_eq!(words(&w[0]), ["WELCOME", "a", "10.0.0.1", "6667", "0"]);
        assert!(r.out.is_empty(), "no link, no note: {:?}", r.out.items());
    }
    assert_eq!(r.srv.links().count(), 0);
    assert_eq!(r.srv.known_count(), 0);
    assert_eq!(r.srv.discovery_stats().welcome_sent, 2);
    // Nobody answers a name the registry does not know, or itself, or
    // garbage.
    r.hello("u");
    r.hello("a");
    r.input(Input::Datagram {
        bytes: b"<HELLO,s>",
    });
    r.input(Input::Datagram {
        bytes: b"not a frame",
    });
    assert!(r.datagrams().is_empty());
}

#[test]
fn a_seeker_dials_the_lowest_sid_of_the_registered_responders() {
    let cfg = Config::default;
    assert_eq!(
        pick(&[("b", false), ("a", false), ("z", false)], cfg()),
        ["a"]
    );
    // The order of arrival does not matter, nor do duplicates.
    assert_eq!(
        pick(
            &[("z", false), ("a", false), ("b", false), ("a", false)],
            cfg()
        ),
        ["a"]
    );
    // One dial per period, however many copies arrived.
    assert_eq!(
        pick(&[("b", false), ("b", false), ("b", false)], cfg()),
        ["b"]
    );
}

#[test]
fn a_seeker_never_dials_an_unregistered_responder() {
    let mut s = server("s", true, Config::default());
    for _ in 0..5 {
        s.tick();
        s.welcome("u", false);
        assert!(s.dials().is_empty());
    }
    // Still looking: every period a HELLO.
    assert!(s.srv.is_seeking());
    assert!(s.srv.discovery_stats().hello_sent >= 4);
    assert_eq!(s.srv.discovery_stats().dials, 0);
    // The ablation dials it.
    let mut cfg = Config::default();
    cfg.ablations.enable("discovery-registry");
    assert_eq!(pick(&[("u", false)], cfg), ["u"]);
}

#[test]
fn a_non_seeking_responder_comes_before_a_seeking_one_of_lower_sid() {
    let cfg = Config::default;
    // a (0AB) seeks, b (0AC) is in a network: b, so that two seekers join
    // the network rather than each other.
    assert_eq!(pick(&[("a", true), ("b", false)], cfg()), ["b"]);
    // Of two lone seekers only the higher SID dials: s (0AD) dials a, and
    // would not dial z (0AZ), which dials s instead.
    assert_eq!(pick(&[("a", true)], cfg()), ["a"]);
    assert!(pick(&[("z", true)], cfg()).is_empty());
}

#[test]
fn the_dial_is_noted_and_the_seeker_waits_for_it() {
    let mut s = server("s", true, Config::default());
    s.tick();
    s.datagrams();
    s.welcome("a", false);
    s.tick();
    let link = s
        .out
        .notes()
        .iter()
        .find_map(|n| match n {
            Note::DiscoveryDial { link, peer } if &**peer == "a" => Some(*link),
            _ => None,
        })
        .expect("the dial is noted");
    assert!(s.datagrams().is_empty(), "no HELLO while the dial is open");
    // Further WELCOMEs and periods change nothing while it is open.
    s.welcome("b", false);
    s.tick();
    assert!(s.dials().is_empty() && s.datagrams().is_empty());
    // The dial fails: at its next period the seeker picks again, from
    // what it heard since it dialled (a's WELCOME was dropped at the dial).
    s.input(Input::ConnectFailed { link });
    s.tick();
    assert_eq!(s.dials(), ["b"]);
    // Had it heard nothing since, it would HELLO again.
    let mut t = server("s", true, Config::default());
    t.tick();
    t.datagrams();
    t.welcome("a", false);
    t.tick();
    let link = t.srv.links().next().expect("dialling a").id;
    t.input(Input::ConnectFailed { link });
    t.tick();
    assert!(t.dials().is_empty());
    assert_eq!(words(&t.datagrams()[0])[0], "HELLO");
}

#[test]
fn a_seekers_first_hello_waits_a_jittered_moment_after_boot() {
    let s = server("s", true, Config::default());
    let at = s.srv.poll_timeout().expect("a HELLO is due");
    let wait = at.saturating_since(s.now);
    assert!(
        wait.as_nanos() >= 50_000_000 && wait.as_nanos() <= 100_000_000,
        "first HELLO {} ns after boot",
        wait.as_nanos()
    );
}

/// Survivors of discovery.rs: only a seeker says so, and a stopped server
/// neither answers a HELLO nor keeps seeking.
#[test]
fn only_a_seeker_is_a_seeker() {
    assert!(server("s", true, Config::default()).srv.is_seeker());
    assert!(!server("a", false, Config::default()).srv.is_seeker());
}

#[test]
fn a_stopped_server_neither_answers_nor_seeks() {
    let mut r = server("a", false, Config::default());
    r.input(Input::Operator(super::Command::Shutdown));
    assert!(r.srv.is_stopped());
    r.hello("s");
    assert!(r.datagrams().is_empty(), "no WELCOME from a stopped server");
    let mut s = server("s", true, Config::default());
    s.input(Input::Operator(super::Command::Shutdown));
    assert!(s.srv.is_stopped());
    for _ in 0..3 {
        if s.srv.poll_timeout().is_none() {
            break;
        }
        s.tick();
    }
    assert!(s.datagrams().is_empty(), "no HELLO from a stopped seeker");
}

/// A WELCOME is good for three periods (6 s here), to the nanosecond:
/// at exactly 6 s it is still dialled, a nanosecond later it is not.
#[test]
fn a_welcome_is_dialled_up_to_three_periods_after_it_came_and_not_later() {
    for (late, dialled) in [(0, true), (1, false)] {
        let mut s = server("s", true, Config::default());
        s.tick();
        let heard = s.now;
        s.welcome("a", false);
        s.now = heard + crate::Duration::from_secs(6) + crate::Duration::from_nanos(late);
        s.input(Input::Timeout);
        let want: &[&str] = if dialled { &["a"] } else { &[] };
        assert_eq!(s.dials(), want, "{late} ns past three periods");
    }
}
