//! The `drcsim` process's allocator: the system's, with the memory it
//! hands out backed by transparent huge pages where the kernel leaves
//! that to the program (`/sys/kernel/mm/transparent_hugepage/enabled`
//! set to `madvise`, as on most distributions).
//!
//! Why: a large run is a walk through tables the caches cannot hold (a
//! hundred servers each keep a record of every one of 250,000 users), so
//! nearly every search misses the TLB too, and with 4 KiB pages each miss
//! is a page-table walk through memory that misses as well. With 2 MiB
//! pages the timed minute of `bench users --users 50000` took 21 s instead
//! of 28. glibc's malloc asks for huge pages only when an environment
//! tunable (`GLIBC_TUNABLES=glibc.malloc.hugetlb=1`) says so before the
//! process starts; jemalloc and mimalloc do it unasked but held 6-10 %
//! more memory at the same run, and memory is what the largest runs are
//! short of. So the system allocator stays, and this wrapper does what
//! the tunable would: it advises every region of 2 MiB or more it hands
//! out, and the heap as it grows (grown in large steps, so that its new
//! pages are advised before they are first touched).
//!
//! Nothing here reaches a run's output: where memory comes from never
//! changes what the simulation computes (same trace hashes).

use std::alloc::{GlobalAlloc, Layout, System};

/// The allocator `drcsim` installs (`main.rs`).
pub struct HugePages;

#[cfg(target_os = "linux")]
mod advise {
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

    pub const HUGE: usize = 2 << 20;
    /// How far the heap grows at a time: new pages are advised when the
    /// growth is noticed, which is at most [`CHECK_EVERY`] allocations
    /// after it, so the step must be large against what those take.
    const TOP_PAD: usize = 64 << 20;
    /// Blocks below this come from the heap, larger ones are mapped on
    /// their own: glibc's largest (32 MiB on 64-bit systems).
    const MMAP_THRESHOLD: usize = 32 << 20;
    /// Allocations between looks at the heap's top (a system call).
    pub const CHECK_EVERY: usize = 1 << 12;

    static COUNT: AtomicUsize = AtomicUsize::new(0);
    /// The heap's top when last advised; 0 before the first look.
    static ADVISED_TOP: AtomicUsize = AtomicUsize::new(0);

    /// Advises the whole huge pages inside `[p, p + len)`.
    pub fn range(p: usize, len: usize) {
        let start = p.next_multiple_of(HUGE);
        let end = (p + len) & !(HUGE - 1);
        if end > start {
            // SAFETY: the range lies inside memory this process mapped;
            // the advice changes how it is backed, never its contents.
            unsafe {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
            }
        }
    }

    /// Counts an allocation from the heap; every [`CHECK_EVERY`] it looks
    /// whether the heap has grown. A plain load and store, not an atomic
    /// add: a count lost between threads only delays a look.
    #[inline(always)]
    pub fn tick() {
        let n = COUNT.load(Relaxed).wrapping_add(1);
        COUNT.store(n, Relaxed);
        if n.is_multiple_of(CHECK_EVERY) {
            grown();
        }
    }

    #[cold]
    #[inline(never)]
    pub fn grown() {
        // SAFETY: `sbrk(0)` only reads the heap's current end.
        let top = unsafe { libc::sbrk(0) } as usize;
        let done = ADVISED_TOP.load(Relaxed);
        if done == 0 {
            // The first look: from now on the heap grows in large steps.
            // Setting any of these also switches off glibc's own rule that
            // raises the mmap threshold as mapped blocks are freed, so the
            // threshold is set here too: with the default 128 KiB every
            // larger block (a growing table, a burst's ring) was mapped
            // afresh and unmapped when freed, and each new mapping's pages
            // zeroed by the kernel again (115,000 page faults and a third
            // of the timed minute of `bench users --users 25000`, against
            // 11,600). For the same reason the heap's free top is kept
            // rather than given back, to be zeroed again when it regrows.
            // SAFETY: `mallopt` sets a tuning parameter of malloc.
            unsafe {
                libc::mallopt(libc::M_TOP_PAD, TOP_PAD as libc::c_int);
                libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD as libc::c_int);
                libc::mallopt(libc::M_TRIM_THRESHOLD, libc::c_int::MAX);
            }
            ADVISED_TOP.store(top, Relaxed);
        } else if top > done {
            range(done, top - done);
            ADVISED_TOP.store(top, Relaxed);
        }
    }
}

#[cfg(target_os = "linux")]
#[inline(always)]
fn after(p: *mut u8, size: usize) {
    if p.is_null() {
        return;
    }
    if size >= advise::HUGE {
        advise::range(p as usize, size);
    } else {
        advise::tick();
    }
}

#[cfg(not(target_os = "linux"))]
#[inline(always)]
fn after(_: *mut u8, _: usize) {}

// SAFETY: every call is the system allocator's; the advice after it
// touches no byte of what was allocated.
unsafe impl GlobalAlloc for HugePages {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        after(p, layout.size());
        p
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        after(p, layout.size());
        p
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        after(p, new_size);
        p
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// The `VmFlags` of the mapping holding `addr`, from /proc/self/smaps.
    fn flags_at(addr: usize) -> String {
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let mut inside = false;
        for line in smaps.lines() {
            let range = line.split_once(' ').and_then(|(r, _)| r.split_once('-'));
            let bounds = range.and_then(|(a, b)| {
                Some((
                    usize::from_str_radix(a, 16).ok()?,
                    usize::from_str_radix(b, 16).ok()?,
                ))
            });
            if let Some((a, b)) = bounds {
                inside = (a..b).contains(&addr);
            } else if let Some(f) = line.strip_prefix("VmFlags:").filter(|_| inside) {
                return f.trim().to_string();
            }
        }
        panic!("no mapping holds {addr:#x}");
    }

    /// A large block is advised (the mapping holding its first whole huge
    /// page says `hg`), and a block asked for through the system allocator
    /// alone is not: the flag is this wrapper's doing.
    #[test]
    fn a_large_block_is_backed_by_huge_pages_and_a_plain_one_is_not() {
        let layout = Layout::from_size_align(16 << 20, 4096).unwrap();
        let first_whole = |p: *mut u8| (p as usize).next_multiple_of(advise::HUGE);
        unsafe {
            let plain = System.alloc(layout);
            let flags = flags_at(first_whole(plain));
            System.dealloc(plain, layout);
            let advised = HugePages.alloc(layout);
            let flags_advised = flags_at(first_whole(advised));
            HugePages.dealloc(advised, layout);
            assert!(!flags.split(' ').any(|f| f == "hg"), "{flags}");
            assert!(
                flags_advised.split(' ').any(|f| f == "hg"),
                "{flags_advised}"
            );
        }
    }
}
