//! Session tokens: what a greeter hands a client for one session server.
//!
//! A token is text, so it travels as one frame argument:
//!
//! ```text
//! audience:nick:user:expiry:nonce:incarnation:mac
//! ```
//!
//! * `audience` is the session server's name: a token is good at one
//!   server only;
//! * `nick` and `user` are who the client registers as, so the session
//!   server asks no more;
//! * `expiry` is in milliseconds of the *session server's* wall clock (the
//!   greeter converts with the offset it measured when the secret arrived,
//!   see `docs/protocol.md`), so clock skew between the two machines does
//!   not stretch or shorten a token;
//! * `nonce` (16 hex digits from the greeter's random generator) tells two
//!   tokens with the same fields apart and is what the session server
//!   remembers to refuse a replay;
//! * `incarnation` names the secret: a server's secret is random per
//!   incarnation, so a token signed before a restart is refused as stale;
//! * `mac` is HMAC-SHA256 over everything before it, keyed with the
//!   session server's secret, in lower-case hex.
//!
//! The MAC comes from the RustCrypto `hmac` and `sha2` crates; only the
//! text layout is ours. Verification compares in constant time
//! (`Mac::verify_slice`).

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// A session server's signing key.
pub type Secret = [u8; 32];

/// Why a session server refused a token (the contract's names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Refusal {
    /// Malformed, or the MAC does not match.
    Signature,
    /// Made out for another server.
    Audience,
    /// Presented after its expiry.
    Expired,
    /// Its nonce was accepted before.
    Replay,
    /// Signed with the secret of an earlier incarnation.
    Stale,
}

impl Refusal {
    pub const ALL: [Refusal; 5] = [
        Refusal::Signature,
        Refusal::Audience,
        Refusal::Expired,
        Refusal::Replay,
        Refusal::Stale,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Signature => "signature",
            Refusal::Audience => "audience",
            Refusal::Expired => "expired",
            Refusal::Replay => "replay",
            Refusal::Stale => "stale",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// What a token says, before its MAC is checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claims<'a> {
    pub audience: &'a str,
    pub nick: &'a str,
    pub user: &'a str,
    pub expiry_ms: u64,
    pub nonce: u64,
    pub incarnation: u64,
}

/// Whether a name can sit in a token field (no separator, not empty).
pub fn field_ok(s: &str) -> bool {
    !s.is_empty() && !s.contains(':')
}

fn mac_of(secret: &Secret, body: &str) -> Hmac<Sha256> {
    let mut m = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    m.update(body.as_bytes());
    m
}

/// The token for `claims`, signed with `secret`. `None` when a field
/// cannot be carried (empty, or holding `:`).
pub fn sign(secret: &Secret, c: &Claims<'_>) -> Option<String> {
    if ![c.audience, c.nick, c.user].iter().all(|f| field_ok(f)) {
        return None;
    }
    let body = format!(
        "{}:{}:{}:{}:{:016x}:{}",
        c.audience, c.nick, c.user, c.expiry_ms, c.nonce, c.incarnation
    );
    let tag = mac_of(secret, &body).finalize().into_bytes();
    let mut s = body;
    s.push(':');
    for b in tag {
        s.push_str(&format!("{b:02x}"));
    }
    Some(s)
}

/// Splits a token into its claims, its signed body and its MAC, without
/// checking the MAC. `None` when it is not a token at all.
pub fn parse(token: &str) -> Option<(Claims<'_>, &str, [u8; 32])> {
    let (body, mac_hex) = token.rsplit_once(':')?;
    let mut f = body.split(':');
    let mut next = || f.next();
    let (audience, nick, user) = (next()?, next()?, next()?);
    let expiry_ms = crate::wire::parse_u64(next()?)?;
    let nonce = next()?;
    let nonce = (nonce.len() == 16)
        .then(|| u64::from_str_radix(nonce, 16).ok())
        .flatten()?;
    let incarnation = crate::wire::parse_u64(next()?)?;
    if next().is_some() || ![audience, nick, user].iter().all(|s| field_ok(s)) {
        return None;
    }
    let mut mac = [0u8; 32];
    let hex = mac_hex.as_bytes();
    if hex.len() != 64 {
        return None;
    }
    for (i, m) in mac.iter_mut().enumerate() {
        let d = |c: u8| (c as char).to_digit(16).filter(|_| !c.is_ascii_uppercase());
        *m = (d(hex[2 * i])? * 16 + d(hex[2 * i + 1])?) as u8;
    }
    let claims = Claims {
        audience,
        nick,
        user,
        expiry_ms,
        nonce,
        incarnation,
    };
    Some((claims, body, mac))
}

/// Whether `mac` is the MAC of `body` under `secret` (constant time).
pub fn mac_ok(secret: &Secret, body: &str, mac: &[u8; 32]) -> bool {
    mac_of(secret, body).verify_slice(mac).is_ok()
}

/// What a session server checks a token against.
#[derive(Clone, Copy, Debug)]
pub struct Verifier<'k> {
    /// The server's own name: the audience it accepts.
    pub me: &'k str,
    pub secret: &'k Secret,
    /// The incarnation `secret` belongs to.
    pub incarnation: u64,
    /// How far past its expiry a token still passes (clock error).
    pub leeway_ms: u64,
    /// Research switch: accept any audience.
    pub ablate_audience: bool,
    /// Research switch: accept expired tokens.
    pub ablate_expiry: bool,
}

impl Verifier<'_> {
    /// The claims when the token passes every check but the replay check
    /// (which needs the server's memory), else why not. The checks run in
    /// a fixed order so each bad token has one reason: not a token at all
    /// (`Signature`), another server's (`Audience`), an earlier secret's
    /// (`Stale`), the MAC (`Signature`), then `Expired`.
    pub fn check<'t>(&self, token: &'t str, now_ms: u64) -> Result<Claims<'t>, Refusal> {
        let (c, body, mac) = parse(token).ok_or(Refusal::Signature)?;
        if c.audience != self.me && !self.ablate_audience {
            return Err(Refusal::Audience);
        }
        if c.incarnation != self.incarnation {
            return Err(Refusal::Stale);
        }
        if !mac_ok(self.secret, body, &mac) {
            return Err(Refusal::Signature);
        }
        if now_ms > c.expiry_ms.saturating_add(self.leeway_ms) && !self.ablate_expiry {
            return Err(Refusal::Expired);
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> Claims<'static> {
        Claims {
            audience: "east",
            nick: "alice",
            user: "al",
            expiry_ms: 60_000,
            nonce: 0xfeed,
            incarnation: 2,
        }
    }

    fn v<'k>(me: &'k str, secret: &'k Secret, incarnation: u64) -> Verifier<'k> {
        Verifier {
            me,
            secret,
            incarnation,
            leeway_ms: 0,
            ablate_audience: false,
            ablate_expiry: false,
        }
    }

    #[test]
    fn a_signed_token_parses_back_and_checks() {
        let k = [7u8; 32];
        let t = sign(&k, &claims()).unwrap();
        assert!(
            t.starts_with("east:alice:al:60000:000000000000feed:2:"),
            "{t}"
        );
        assert_eq!(
            t.len(),
            "east:alice:al:60000:000000000000feed:2:".len() + 64
        );
        assert_eq!(parse(&t).unwrap().0, claims());
        assert_eq!(v("east", &k, 2).check(&t, 59_000), Ok(claims()));
        // The leeway lets a token through just past its expiry.
        let lenient = Verifier {
            leeway_ms: 1_000,
            ..v("east", &k, 2)
        };
        assert!(lenient.check(&t, 60_500).is_ok());
    }

    #[test]
    fn each_bad_token_has_its_one_reason() {
        let k = [7u8; 32];
        let t = sign(&k, &claims()).unwrap();
        let chk = |t: &str, me: &str, k: &Secret, inc: u64, now: u64| {
            v(me, k, inc).check(t, now).map(|_| ())
        };
        assert_eq!(chk(&t, "west", &k, 2, 0), Err(Refusal::Audience));
        assert_eq!(chk(&t, "east", &k, 3, 0), Err(Refusal::Stale));
        assert_eq!(chk(&t, "east", &[8; 32], 2, 0), Err(Refusal::Signature));
        assert_eq!(chk(&t, "east", &k, 2, 60_001), Err(Refusal::Expired));
        // Good up to its expiry's very millisecond.
        assert_eq!(chk(&t, "east", &k, 2, 60_000), Ok(()));
        let tampered = t.replace(":alice:", ":mallory:");
        assert_eq!(chk(&tampered, "east", &k, 2, 0), Err(Refusal::Signature));
        let later = t.replace(":60000:", ":99999:");
        assert_eq!(chk(&later, "east", &k, 2, 0), Err(Refusal::Signature));
        // A field too many, even one that could be a name.
        let (body, mac) = t.rsplit_once(':').unwrap();
        let extra = format!("{body}:extra:{mac}");
        for junk in [
            "",
            "x",
            "a:b:c:1:00:2:00",
            &t[..t.len() - 1],
            &t.to_uppercase(),
            &extra,
        ] {
            assert_eq!(
                chk(junk, "east", &k, 2, 0),
                Err(Refusal::Signature),
                "{junk}"
            );
        }
        // The ablations pass what they name and nothing else.
        let any_audience = Verifier {
            ablate_audience: true,
            ..v("west", &k, 2)
        };
        assert!(any_audience.check(&t, 0).is_ok());
        assert_eq!(
            any_audience.check(&t, 70_000).map(|_| ()),
            Err(Refusal::Expired)
        );
        let never_expires = Verifier {
            ablate_expiry: true,
            ..v("east", &k, 2)
        };
        assert!(never_expires.check(&t, 70_000).is_ok());
        let both = Verifier {
            ablate_expiry: true,
            ..any_audience
        };
        assert!(both.check(&tampered, 0).is_err());
    }

    #[test]
    fn a_signed_body_with_a_field_too_many_is_not_a_token() {
        // Only a key holder could make one; the layout is still refused.
        let k = [7u8; 32];
        let body = "east:alice:al:60000:000000000000feed:2:extra";
        let tag = mac_of(&k, body).finalize().into_bytes();
        let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(parse(&format!("{body}:{hex}")), None);
        assert_eq!(
            v("east", &k, 2).check(&format!("{body}:{hex}"), 0),
            Err(Refusal::Signature)
        );
    }

    #[test]
    fn fields_with_the_separator_cannot_be_signed() {
        let mut c = claims();
        c.user = "a:b";
        assert_eq!(sign(&[0; 32], &c), None);
        c.user = "";
        assert_eq!(sign(&[0; 32], &c), None);
        assert_eq!(Refusal::from_name("stale"), Some(Refusal::Stale));
        assert_eq!(Refusal::from_name("nope"), None);
    }
}
