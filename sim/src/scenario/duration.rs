//! Duration strings: an integer amount followed by a unit (`"250ms"`, `"5s"`).

use drc_protocol::time::Duration;

/// Units from largest to smallest, with their length in nanoseconds.
const UNITS: &[(&str, u64)] = &[
    ("h", 3_600_000_000_000),
    ("m", 60_000_000_000),
    ("s", 1_000_000_000),
    ("ms", 1_000_000),
    ("us", 1_000),
    ("ns", 1),
];

const EXPECTED: &str =
    "expected an integer followed by one of ns, us, ms, s, m, h (e.g. \"250ms\")";

/// Parses an unsigned duration such as `"250ms"`, `"5s"` or `"2m"`.
///
/// The amount is a plain decimal integer (no sign, no fraction, no spaces)
/// and the unit one of `ns`, `us`, `ms`, `s`, `m`, `h`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    parse_magnitude(s)
        .map(Duration)
        .map_err(|why| format!("invalid duration {s:?}: {why}"))
}

/// Parses a signed duration (`"-250ms"`, `"+2s"`, `"5s"`) into nanoseconds.
pub fn parse_signed_duration(s: &str) -> Result<i64, String> {
    let fail = |why: &str| format!("invalid signed duration {s:?}: {why}");
    let (negative, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest.starts_with(['-', '+']) {
        return Err(fail(EXPECTED));
    }
    let n = parse_magnitude(rest).map_err(|why| fail(&why))?;
    if negative {
        if n > i64::MAX as u64 + 1 {
            return Err(fail("out of range"));
        }
        Ok((n as i64).wrapping_neg())
    } else {
        i64::try_from(n).map_err(|_| fail("out of range"))
    }
}

fn parse_magnitude(s: &str) -> Result<u64, String> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    let (amount, unit) = s.split_at(digits);
    if amount.is_empty() {
        return Err(EXPECTED.to_string());
    }
    let Some(&(_, scale)) = UNITS.iter().find(|(name, _)| *name == unit) else {
        return Err(if unit.is_empty() {
            format!("missing unit; {EXPECTED}")
        } else {
            EXPECTED.to_string()
        });
    };
    amount
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .ok_or_else(|| "out of range".to_string())
}

/// Formats a duration with the largest unit that represents it exactly.
pub fn format_duration(d: Duration) -> String {
    format_magnitude(d.0)
}

/// Formats signed nanoseconds with the largest exact unit (`"-250ms"`).
pub fn format_signed_duration(nanos: i64) -> String {
    if nanos < 0 {
        format!("-{}", format_magnitude(nanos.unsigned_abs()))
    } else {
        format_magnitude(nanos.unsigned_abs())
    }
}

fn format_magnitude(n: u64) -> String {
    if n == 0 {
        return "0s".to_string();
    }
    let &(unit, scale) = UNITS
        .iter()
        .find(|(_, scale)| n.is_multiple_of(*scale))
        .expect("every amount is a whole number of nanoseconds");
    format!("{}{unit}", n / scale)
}
