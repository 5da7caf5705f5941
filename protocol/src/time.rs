//! Time as the protocol sees it: plain integers handed in by the caller.
//!
//! The core never reads a clock. The environment passes the node's local
//! time into every call; the simulator adds per-node skew, a real daemon
//! would pass a monotonic clock.

use std::fmt;
use std::ops::{Add, Sub};

/// A point on a node's local clock, in nanoseconds since an arbitrary origin.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(pub u64);

/// A span of time in nanoseconds.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(pub u64);

impl Duration {
    pub const ZERO: Duration = Duration(0);
    pub const fn from_nanos(n: u64) -> Self {
        Duration(n)
    }
    pub const fn from_micros(us: u64) -> Self {
        Duration(us * 1_000)
    }
    pub const fn from_millis(ms: u64) -> Self {
        Duration(ms * 1_000_000)
    }
    pub const fn from_secs(s: u64) -> Self {
        Duration(s * 1_000_000_000)
    }
    pub const fn as_nanos(self) -> u64 {
        self.0
    }
    pub const fn as_millis(self) -> u64 {
        self.0 / 1_000_000
    }
}

impl Instant {
    pub const ZERO: Instant = Instant(0);
    pub const fn as_nanos(self) -> u64 {
        self.0
    }
    pub const fn as_millis(self) -> u64 {
        self.0 / 1_000_000
    }
    pub fn saturating_since(self, earlier: Instant) -> Duration {
        Duration(self.0.saturating_sub(earlier.0))
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        Instant(self.0.saturating_add(d.0))
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;
    fn sub(self, d: Duration) -> Instant {
        Instant(self.0.saturating_sub(d.0))
    }
}

impl Add for Duration {
    type Output = Duration;
    fn add(self, d: Duration) -> Duration {
        Duration(self.0.saturating_add(d.0))
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "@{}", fmt_nanos(self.0))
    }
}

impl fmt::Debug for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&fmt_nanos(self.0))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&fmt_nanos(self.0))
    }
}

/// Integer-only formatting (no floats reach any hashed or printed output).
pub fn fmt_nanos(n: u64) -> String {
    if n.is_multiple_of(1_000_000_000) {
        format!("{}s", n / 1_000_000_000)
    } else if n.is_multiple_of(1_000_000) {
        format!("{}ms", n / 1_000_000)
    } else if n.is_multiple_of(1_000) {
        format!("{}us", n / 1_000)
    } else {
        format!("{n}ns")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_and_durations_read_in_millis() {
        assert_eq!(Instant(2_500_000_000).as_millis(), 2_500);
        assert_eq!(Duration::from_millis(1_250).as_millis(), 1_250);
        assert_eq!(Duration::from_secs(3).as_nanos(), 3_000_000_000);
        assert_eq!(Duration::from_micros(3).as_nanos(), 3_000);
    }

    #[test]
    fn instant_arithmetic_saturates_instead_of_wrapping() {
        let t = Instant(5_000);
        assert_eq!(t - Duration(2_000), Instant(3_000));
        assert_eq!(t - Duration(9_000), Instant::ZERO);
        assert_eq!(t + Duration(1), Instant(5_001));
        assert_eq!(Instant(u64::MAX) + Duration(1), Instant(u64::MAX));
    }
}
