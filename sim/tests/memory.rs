//! What the heap holds at its peak while the benches set up and run,
//! counted by the allocator (every byte asked for, so the same on every
//! machine and run, unlike the process's resident size): CI's watch on
//! the scale targets' memory. Every server must know every other, so a
//! network of N servers holds about N x N small records; the users'
//! records grow with the users. A change that copies state per server or
//! per user shows here as a ratio out of its bounds, before anyone runs
//! the 10,000-server bench.
//!
//! One test in its own binary: the counters are the process's, and a
//! second test running beside it would count into them.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed to the system allocator unchanged; the
// counters only watch.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Relaxed) + layout.size();
            PEAK.fetch_max(now, Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                let now =
                    LIVE.fetch_add(new_size - layout.size(), Relaxed) + new_size - layout.size();
                PEAK.fetch_max(now, Relaxed);
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// The heap's peak while `f` runs, above what was live when it began, in
/// MiB. (The benches leave their world to the process's exit, so what
/// one leaves stays live; the next one counts from above it.)
fn peak_of<T>(f: impl FnOnce() -> T) -> (f64, T) {
    let base = LIVE.load(Relaxed);
    PEAK.store(base, Relaxed);
    let out = f();
    let peak = PEAK.load(Relaxed) - base;
    (peak as f64 / (1024.0 * 1024.0), out)
}

#[test]
fn the_heap_grows_with_what_must_be_known() {
    // Servers: set up a random tree and flood a little. 250 -> 500 -> 1,000
    // servers: each step doubles N, so N x N records quadruple; anything
    // per server that also grew with N (paths, copies of the network's
    // tables) would make it eight.
    let mut servers = Vec::new();
    for n in [250, 500, 1000] {
        let (mib, report) = peak_of(|| drc_sim::bench::flood(n, 20, 1, 0, false));
        let report = report.expect("the flood bench runs");
        assert!(
            report.tree_ok && report.violations == 0,
            "{n} servers: no tree, or a violation"
        );
        servers.push((n, mib));
    }
    for w in servers.windows(2) {
        let ratio = w[1].1 / w[0].1;
        assert!(
            ratio < 4.6,
            "{} -> {} servers: heap peak {:.1} -> {:.1} MiB, x{ratio:.2} (quadratic is x4)",
            w[0].0,
            w[1].0,
            w[0].1,
            w[1].1
        );
    }
    // The absolute figure, with room: 1,000 servers peaked at about
    // 60 MiB of heap when this was written (88 MiB resident in the bench).
    let (n, mib) = servers[2];
    assert!(mib < 120.0, "{n} servers: heap peak {mib:.1} MiB");

    // Users: 10 servers, 2,000 then 4,000 users for a few simulated
    // seconds after they settle. Users grow the servers' tables linearly
    // (every server knows every user), so doubling them doubles the heap.
    let habits = drc_sim::bench::UserHabits {
        say_every_secs: 10,
        ..Default::default()
    };
    let mut users = Vec::new();
    for u in [2000, 4000] {
        let (mib, report) = peak_of(|| drc_sim::bench::users(10, u, 5, habits, 1, false));
        let report = report.expect("the users bench runs");
        assert_eq!(report.timed.violations, 0, "{u} users");
        users.push((u, mib));
    }
    let ratio = users[1].1 / users[0].1;
    assert!(
        ratio < 2.4,
        "2,000 -> 4,000 users: heap peak {:.1} -> {:.1} MiB, x{ratio:.2} (linear is x2)",
        users[0].1,
        users[1].1
    );
    eprintln!("heap peaks: servers {servers:?}, users {users:?}");
}
