use clap::Parser;

// Parallel parsing makes many short-lived allocations: mimalloc is faster
// than glibc's malloc here and peaks lower on large inputs (README,
// performance).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = refund_recon::cli::Cli::parse();
    std::process::ExitCode::from(refund_recon::cli::main_with(cli))
}
