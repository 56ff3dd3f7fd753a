//! Giving freed memory back to the system at the points where a run's
//! memory peaks. mimalloc returns freed pages to the system a second after
//! they are freed (its purge delay); a table's old columns freed by a
//! gather, or the columns the rules are done with, would otherwise still
//! count while the next phase allocates (docs/performance.md, log entries
//! 53 and 55). Asking for all of it at every free instead
//! (`MIMALLOC_PURGE_DELAY=10`) cost 1–1.5 s at 10M orders in faults;
//! these few calls do not.

/// Returns the memory freed so far to the system now. A no-op where
/// mimalloc is not the allocator (the tests).
pub fn give_back() {
    // SAFETY: mi_collect takes no pointers and may be called at any time
    // from any thread.
    unsafe { libmimalloc_sys::mi_collect(true) };
}
