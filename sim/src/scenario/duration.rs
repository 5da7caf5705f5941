//! Duration strings: an amount followed by a unit (`"250ms"`, `"5s"`,
//! `"1.5s"`).

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
    "expected a number followed by one of ns, us, ms, s, m, h (e.g. \"250ms\" or \"1.5s\")";

/// Parses an unsigned duration such as `"250ms"`, `"5s"`, `"1.5s"` or `"2m"`.
///
/// The amount is a plain decimal number (no sign, no exponent, no spaces;
/// a fraction needs a digit on both sides of the point) and the unit one
/// of `ns`, `us`, `ms`, `s`, `m`, `h`. The result must be a whole number
/// of nanoseconds.
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
    let (amount, rest) = s.split_at(digits);
    if amount.is_empty() {
        return Err(EXPECTED.to_string());
    }
    let (fraction, unit) = match rest.strip_prefix('.') {
        Some(r) => {
            let n = r.bytes().take_while(u8::is_ascii_digit).count();
            if n == 0 {
                return Err(EXPECTED.to_string());
            }
            r.split_at(n)
        }
        None => ("", rest),
    };
    let Some(&(_, scale)) = UNITS.iter().find(|(name, _)| *name == unit) else {
        return Err(if unit.is_empty() {
            format!("missing unit; {EXPECTED}")
        } else {
            EXPECTED.to_string()
        });
    };
    let whole = amount
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .ok_or_else(|| "out of range".to_string())?;
    if fraction.is_empty() {
        return Ok(whole);
    }
    // Exact arithmetic: the fraction counts in units of 10^-len of the
    // unit, and must come to a whole number of nanoseconds. Trailing zeros
    // carry nothing, and at most 9 digits remain for a whole result (the
    // smallest unit with a fraction worth writing, s, has 9 decimals of ns).
    let fraction = fraction.trim_end_matches('0');
    if fraction.len() > 13 {
        return Err("finer than a nanosecond".to_string());
    }
    let num = u128::from(fraction.parse::<u64>().unwrap_or(0)) * u128::from(scale);
    let den = 10u128.pow(fraction.len() as u32);
    if num % den != 0 {
        return Err("finer than a nanosecond".to_string());
    }
    u64::try_from(num / den)
        .ok()
        .and_then(|f| whole.checked_add(f))
        .ok_or_else(|| "out of range".to_string())
}

/// Formats a duration with the largest unit that represents it as a whole
/// number down to milliseconds (`"90s"`, `"250ms"`); an amount finer than
/// that is written in seconds or milliseconds with its exact decimals
/// (`"6.791263186s"`) rather than as a wall of nanoseconds.
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
    if scale < 1_000_000 {
        for (unit, scale) in [("s", 1_000_000_000u64), ("ms", 1_000_000)] {
            if n >= scale {
                let digits = scale.ilog10() as usize;
                let frac = format!("{:0digits$}", n % scale);
                return format!("{}.{}{unit}", n / scale, frac.trim_end_matches('0'));
            }
        }
    }
    format!("{}{unit}", n / scale)
}
