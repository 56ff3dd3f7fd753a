use clap::Parser;

// Parallel parsing makes many short-lived allocations: mimalloc is faster
// than glibc's malloc here and peaks lower on large inputs
// (docs/performance.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
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
