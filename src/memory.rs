//! Giving freed memory back to the system before a run's memory peaks.
//! mimalloc returns freed pages to the system a second after they are
//! freed (its purge delay), so the columns the rules are done with, or what
//! the parses freed, would still count while the next phase allocates.
//! Asked for at four points (after the parses, after R1's findings, after
//! the accounts' rules, after R10): 10M orders' peak 1.00 → 0.97 × the
//! input, for 0–0.1 s; at every free (`MIMALLOC_PURGE_DELAY=10`) the faults
//! cost 1–1.5 s, and more points (after each parse and each gather) about
//! 0.4 s for 20 MiB more (docs/performance.md, log entry 54).

/// Returns the memory freed so far to the system now. A no-op where
/// mimalloc is not the allocator (the tests).
pub fn give_back() {
    // SAFETY: mi_collect takes no pointers and may be called at any time
    // from any thread.
    unsafe { libmimalloc_sys::mi_collect(true) };
}
