//! What a bench's run will need in memory, estimated before it starts,
//! and what a run's full summary will weigh.
//!
//! The benches take sizes far past what one machine holds (up to 46,656
//! servers, ten million users), and a run too large for the machine only
//! finds out when the OS kills it, minutes into its set-up and with the
//! machine swapping on the way. So before a bench starts, its peak is
//! estimated from the sizes alone and compared with the memory the OS
//! says is available; a run that cannot fit is refused at once, with the
//! figures, unless `--force` asks for it anyway.
//!
//! The estimate is linear in what the run must know (docs/performance.md,
//! "Scale"): every server holds a small record of every other server and
//! of every user, and every user is a client with its host, connection,
//! room state and checker records. The coefficients are fitted to the
//! peaks the benches report (`VmHWM`), rounded up: flood at 1,000 to
//! 10,000 servers (75 to 92 bytes a pair of servers), and users at 2, 10
//! and 100 servers with 50,000 users and at 100 servers with 250,000
//! (about 9.5 KB a user and 250 bytes a user at each server). It errs
//! high, by 6 to 17 % on those runs, so that a run it lets through fits.

/// Bytes a pair of servers costs: each server's record of the other
/// (route, path node, SID) in the tables every server keeps.
pub const PER_SERVER_PAIR: u64 = 80;
/// Bytes a user costs apart from the servers' records of it: its client
/// state, host, connection and buffers, and the checkers' records.
pub const PER_USER: u64 = 10_000;
/// Bytes a user costs at each server: its record in the server's tables.
pub const PER_USER_AT_SERVER: u64 = 260;
/// The process before the run: code, tables, the allocator's arenas.
pub const BASE: u64 = 64 << 20;

/// The estimated peak, in bytes, of a bench with `servers` servers and
/// `users` users (clients); saturates rather than wraps.
pub fn expected_bytes(servers: u64, users: u64) -> u64 {
    BASE.saturating_add(PER_SERVER_PAIR.saturating_mul(servers.saturating_mul(servers)))
        .saturating_add(PER_USER.saturating_mul(users))
        .saturating_add(PER_USER_AT_SERVER.saturating_mul(servers.saturating_mul(users)))
}

/// The memory the OS can give without swapping (Linux's `MemAvailable`),
/// in bytes; `None` where there is no `/proc/meminfo`.
pub fn available_bytes() -> Option<u64> {
    Some(proc_kib("/proc/meminfo", "MemAvailable")?.saturating_mul(1024))
}

/// Field `name` of a Linux `/proc` file of `Name:   N kB` lines, in KiB;
/// `None` where the file or the field is missing.
pub fn proc_kib(path: &str, name: &str) -> Option<u64> {
    kib_field(&std::fs::read_to_string(path).ok()?, name)
}

fn kib_field(text: &str, name: &str) -> Option<u64> {
    let line = text
        .lines()
        .find(|l| l.strip_prefix(name).is_some_and(|r| r.starts_with(':')))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Refuses a bench run whose estimated peak is more than `available`
/// (nothing is refused when that is unknown). `what` names the run in
/// the message, e.g. "bench users: 10,000,000 users on 100 servers".
pub fn check(what: &str, servers: u64, users: u64, available: Option<u64>) -> Result<(), String> {
    let need = expected_bytes(servers, users);
    match available {
        Some(have) if need > have => {
            let mut basis = format!("{PER_SERVER_PAIR} bytes for each pair of servers");
            if users > 0 {
                basis += &format!(
                    ", {} for each user and {PER_USER_AT_SERVER} for each user at each server",
                    thousands(PER_USER)
                );
            }
            Err(format!(
                "{what} would need about {} at its peak ({}), and this machine has {} \
                 available; ask for less, or add --force to run it anyway",
                gib(need),
                basis,
                gib(have)
            ))
        }
        _ => Ok(()),
    }
}

/// Bytes of JSON the full summary gives a pair of servers (one server's
/// entry in another's view) and a user at a server (its entry in the
/// server's view, with its share of the clients' own records): measured
/// with 100 and 1,000 servers in a tree and 100 servers with 2,000
/// workload users (21.7, 21.8 and 53).
pub const SUMMARY_PER_SERVER_PAIR: u64 = 22;
pub const SUMMARY_PER_USER_AT_SERVER: u64 = 53;

/// The full summary's size in bytes, about, for `servers` servers and
/// `users` users, not counting the messages the clients delivered
/// (which grow with the run's length, not its size).
pub fn full_summary_bytes(servers: u64, users: u64) -> u64 {
    SUMMARY_PER_SERVER_PAIR
        .saturating_mul(servers.saturating_mul(servers))
        .saturating_add(SUMMARY_PER_USER_AT_SERVER.saturating_mul(servers.saturating_mul(users)))
}

/// Above this a full summary is worth a warning before the run: a
/// quarter of a GiB of JSON is written, and held in memory twice while
/// it is made.
pub const LARGE_SUMMARY: u64 = 256 << 20;

/// The warning for a full summary of `servers` and `users` if it is
/// large, else `None`.
pub fn large_summary_warning(servers: u64, users: u64) -> Option<String> {
    let bytes = full_summary_bytes(servers, users);
    (bytes > LARGE_SUMMARY).then(|| {
        format!(
            "the full summary of {} servers and {} users is about {} of JSON (every \
             server's view of every server and user); --summary brief gives each \
             server's counts instead",
            thousands(servers),
            thousands(users),
            size(bytes)
        )
    })
}

fn size(bytes: u64) -> String {
    if bytes < 1 << 30 {
        format!("{} MiB", thousands(bytes >> 20))
    } else {
        gib(bytes)
    }
}

fn gib(bytes: u64) -> String {
    let g = bytes as f64 / f64::from(1u32 << 30);
    if g >= 100.0 {
        format!("{} GiB", thousands(g.round() as u64))
    } else {
        format!("{g:.1} GiB")
    }
}

/// `n` with a comma every three digits, as the benches print sizes.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    /// The peaks the estimate was fitted to (`VmHWM`, MiB, as the benches
    /// print them; docs/performance.md): it is above each, and not by
    /// much.
    #[test]
    fn the_estimate_is_a_little_above_every_measured_peak() {
        let measured = [
            // (servers, users, peak MiB)
            (1_000, 0, 88),
            (2_000, 0, 311),
            (5_000, 0, 1_869),
            (10_000, 0, 7_175),
            (2, 50_000, 479),
            (10, 50_000, 567),
            (100, 50_000, 1_638),
            (100, 250_000, 8_132),
        ];
        for (servers, users, peak) in measured {
            let est = expected_bytes(servers, users) / MIB;
            assert!(
                est >= peak,
                "{servers} servers, {users} users: {est} < {peak} MiB"
            );
            assert!(
                est <= peak * 3 / 2 + 64,
                "{servers} servers, {users} users: {est} MiB against {peak}"
            );
        }
    }

    #[test]
    fn a_run_that_cannot_fit_is_refused_with_its_figures() {
        let e = check(
            "bench users: 10,000,000 users on 46,656 servers",
            46_656,
            10_000_000,
            Some(24 << 30),
        )
        .expect_err("far too large");
        assert!(
            e.starts_with("bench users: 10,000,000 users on 46,656 servers would need about "),
            "{e}"
        );
        assert!(e.contains("GiB at its peak (80 bytes for each pair of servers, 10,000 for each user and 260 for each user at each server)"), "{e}");
        assert!(e.contains("this machine has 24.0 GiB available"), "{e}");
        assert!(e.contains("--force"), "{e}");
        // The 10,000-server flood fits in 24 GiB, not in 4.
        assert!(check("flood", 10_000, 0, Some(24 << 30)).is_ok());
        let e = check("flood", 10_000, 0, Some(4 << 30)).expect_err("7.5 GiB");
        assert!(e.contains("about 7.5 GiB at its peak (80 bytes for each pair of servers), and this machine has 4.0 GiB"), "{e}");
        // Unknown memory refuses nothing.
        assert!(check("flood", 46_656, 10_000_000, None).is_ok());
    }

    #[test]
    fn sizes_past_any_machine_saturate_rather_than_wrap() {
        assert_eq!(expected_bytes(u64::MAX, u64::MAX), u64::MAX);
        assert!(expected_bytes(1 << 20, 1 << 20) > expected_bytes(1 << 19, 1 << 20));
    }

    /// The measured summaries (bytes of `drcsim run --json`) are within
    /// a tenth of the estimate, and only large ones are warned about.
    #[test]
    fn the_summary_estimate_matches_the_measured_sizes() {
        for (servers, users, bytes) in [
            (100, 0, 217_646),
            (1_000, 0, 21_724_810),
            (100, 2_000, 10_843_682),
        ] {
            let est = full_summary_bytes(servers, users);
            assert!(
                est.abs_diff(bytes) * 10 <= bytes,
                "{servers}, {users}: {est} against {bytes}"
            );
        }
        assert_eq!(large_summary_warning(1_000, 0), None);
        assert_eq!(large_summary_warning(100, 25_000), None);
        let w = large_summary_warning(10_000, 0).expect("2 GiB");
        assert_eq!(
            w,
            "the full summary of 10,000 servers and 0 users is about 2.0 GiB of JSON (every \
             server's view of every server and user); --summary brief gives each server's \
             counts instead"
        );
        let w = large_summary_warning(100, 250_000).expect("1.2 GiB");
        assert!(
            w.contains("100 servers and 250,000 users is about 1.2 GiB"),
            "{w}"
        );
        let w = large_summary_warning(3_600, 0).expect("272 MiB");
        assert!(w.contains("about 271 MiB of JSON"), "{w}");
    }

    #[test]
    fn meminfo_is_read_by_its_field() {
        let text =
            "MemTotal:       24576000 kB\nMemFree:         1000 kB\nMemAvailable:   20000000 kB\n";
        assert_eq!(kib_field(text, "MemAvailable"), Some(20_000_000));
        assert_eq!(kib_field(text, "MemFree"), Some(1000));
        assert_eq!(kib_field("MemTotal: 5 kB\n", "MemAvailable"), None);
        assert_eq!(kib_field("MemAvailable: lots kB\n", "MemAvailable"), None);
        // A field is named whole, not by a prefix of its name.
        assert_eq!(kib_field("MemAvailableX: 5 kB\n", "MemAvailable"), None);
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(46_656), "46,656");
        assert_eq!(thousands(10_000_000), "10,000,000");
    }
}
