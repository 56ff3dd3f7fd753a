use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = refund_recon::cli::Cli::parse();
    std::process::ExitCode::from(refund_recon::cli::main_with(cli))
}
