use clap::Parser;

// Parallel parsing makes many short-lived allocations: mimalloc is faster
// than glibc's malloc here and peaks lower on large inputs
// (docs/performance.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// No transparent huge pages for this process. mimalloc advises them for
/// its arenas, and then every first touch zeroes 2 MiB, again after each
/// purge: 10 % of the CPU of a 1M-order run went to the kernel's
/// `clear_page_erms` (perf), and with THP off the run takes 10 % less CPU
/// and half the system time (docs/performance.md, entry 15). The kernel
/// checks the flag at each fault, so setting it first thing covers every
/// later allocation. Best effort: an old kernel without it changes nothing.
#[cfg(target_os = "linux")]
fn no_huge_pages() {
    // SAFETY: PR_SET_THP_DISABLE takes plain integers and touches no memory.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

#[cfg(not(target_os = "linux"))]
fn no_huge_pages() {}

fn main() -> std::process::ExitCode {
    no_huge_pages();
    // No input should make refund-recon panic (the fuzzers and the
    // adversarial tests check it). Should a bug still do so, say so in one
    // clear line and exit 5 (internal error), never 101 with a backtrace:
    // reports are only ever published complete, so none were changed.
    std::panic::set_hook(Box::new(|info| {
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!(
            "refund-recon: internal error: the program panicked{at}: {what}; no reports were changed; this is a bug in refund-recon, please report it with the command line"
        );
    }));
    let cli = refund_recon::cmd::Cli::parse();
    let code = std::panic::catch_unwind(|| refund_recon::cmd::main_with(cli)).unwrap_or(5);
    std::process::ExitCode::from(code)
}
