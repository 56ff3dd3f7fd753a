//! The command line (SPEC §6): raw flags become a validated [`Config`]
//! before anything runs; every command returns an exit code chosen in one
//! place ([`AppError::exit_code`]).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::Policy;
use crate::engine::Reconciliation;
use crate::error::AppError;
use crate::ingest::{InputMeta, InputPaths, Inputs};
use crate::report::{self, output, Selection, Summary};
use crate::rules::Severity;
use crate::time::{Calendar, Micros};

#[derive(Debug, Parser)]
#[command(
    name = "refund-recon",
    version,
    about = "Reconciles cloud subscription refunds against the published refund policy"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Reconcile the exports and write the reports.
    Run(RunArgs),
    /// Print the rule trail of one unsubscription.
    Explain(ExplainArgs),
    /// Check the inputs and the policy only; write no reports.
    Validate(InputArgs),
    /// Write a synthetic, seeded set of the three exports.
    Generate(GenerateArgs),
    /// Benchmark floor: polars merely reading the three files into memory.
    #[command(hide = true)]
    BenchRead(InputArgs),
}

#[derive(Debug, Clone, Args)]
pub struct InputArgs {
    /// Folder holding orders.csv, payments.csv and unsubscriptions.csv.
    #[arg(long, default_value = "data")]
    pub data: PathBuf,
    /// orders.csv path (default: DATA/orders.csv).
    #[arg(long)]
    pub orders: Option<PathBuf>,
    /// payments.csv path (default: DATA/payments.csv).
    #[arg(long)]
    pub payments: Option<PathBuf>,
    /// unsubscriptions.csv path (default: DATA/unsubscriptions.csv).
    #[arg(long)]
    pub unsubscriptions: Option<PathBuf>,
    /// Policy file (TOML).
    #[arg(long, default_value = "data/policy.toml")]
    pub policy: PathBuf,
    /// Evaluation time: RFC 3339, or local time in the billing zone
    /// (default: the latest event timestamp in the inputs).
    #[arg(long)]
    pub as_of: Option<String>,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Keep only these accounts in the reports (repeatable).
    #[arg(long = "account", value_name = "ID")]
    pub accounts: Vec<String>,
    /// Largest share of rejected rows per file before the run stops (exit 3).
    #[arg(long, default_value_t = 1.0)]
    pub max_reject_rate: f64,
    /// Largest total input size in bytes (default: half the RAM).
    #[arg(long, value_name = "BYTES")]
    pub memory_limit: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    Never,
    Error,
    Warning,
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Output folder; replaced as a whole when the run completes.
    #[arg(long, default_value = "reports")]
    pub out: PathBuf,
    /// Exit 1 when a finding of this severity or worse exists.
    #[arg(long, value_enum, default_value_t = FailOn::Never)]
    pub fail_on: FailOn,
}

#[derive(Debug, Clone, Args)]
pub struct ExplainArgs {
    /// An unsub_id (its whole trail), else an order_id (the order, its
    /// payments and each of its unsubscriptions), else an account_id (one
    /// line per unsubscription, in evaluation order).
    #[arg(value_name = "ID")]
    pub id: String,
    /// Print the trail as JSON for tools: the input rows, each rule's step
    /// with its values, and the findings exactly as in discrepancies.csv.
    #[arg(long)]
    pub json: bool,
    /// Answer from a finished run's reports folder (its explain.idx),
    /// without reading the whole export again; refused when an input or
    /// the policy changed since that run.
    #[arg(long, value_name = "DIR")]
    pub reports: Option<PathBuf>,
    #[command(flatten)]
    pub input: InputArgs,
}

#[derive(Debug, Clone, Args)]
pub struct GenerateArgs {
    /// Folder to write the three exports into.
    #[arg(long)]
    pub out: PathBuf,
    /// Number of accounts (default: orders / 10).
    #[arg(long)]
    pub accounts: Option<u64>,
    /// Number of orders.
    #[arg(long, default_value_t = 10_000)]
    pub orders: u64,
    /// Random seed: the same seed gives the same files.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Share of completed unsubscriptions with deliberately wrong recorded values.
    #[arg(long, default_value_t = 0.02)]
    pub error_rate: f64,
    /// Share of rows per file that are malformed.
    #[arg(long, default_value_t = 0.0)]
    pub malformed_rate: f64,
    /// Policy file (TOML) the recorded values follow.
    #[arg(long, default_value = "data/policy.toml")]
    pub policy: PathBuf,
}

/// Validated input options.
pub struct Config {
    pub paths: InputPaths,
    pub policy: Policy,
    pub cal: Calendar,
    pub as_of: Option<Micros>,
    pub selection: Selection,
    pub max_reject_rate: f64,
    pub memory_limit: u64,
}

impl InputArgs {
    /// Checks the flags and loads the policy (exit 2 on any problem).
    pub fn config(&self) -> Result<Config, AppError> {
        if !(0.0..=1.0).contains(&self.max_reject_rate) || self.max_reject_rate.is_nan() {
            return Err(AppError::Usage(format!(
                "--max-reject-rate {}: must be a share between 0 and 1, e.g. 0.01",
                self.max_reject_rate
            )));
        }
        if self.threads == Some(0) {
            return Err(AppError::Usage("--threads 0: give at least 1 thread".into()));
        }
        let policy = Policy::load(&self.policy)?;
        let cal = policy.calendar();
        let as_of = match &self.as_of {
            None => None,
            Some(s) => Some(
                cal.parse_ts(s.trim())
                    .map_err(|e| AppError::Usage(format!("--as-of {s:?}: {}", e.reason())))?,
            ),
        };
        let pick = |p: &Option<PathBuf>, name: &str| p.clone().unwrap_or_else(|| self.data.join(name));
        Ok(Config {
            paths: InputPaths {
                orders: pick(&self.orders, "orders.csv"),
                payments: pick(&self.payments, "payments.csv"),
                unsubscriptions: pick(&self.unsubscriptions, "unsubscriptions.csv"),
            },
            policy,
            cal,
            as_of,
            selection: Selection::new(self.accounts.iter().cloned()),
            max_reject_rate: self.max_reject_rate,
            memory_limit: self.memory_limit.unwrap_or_else(default_memory_limit),
        })
    }
}

/// Half the machine's RAM (from /proc/meminfo), or 8 GiB when unknown.
fn default_memory_limit() -> u64 {
    let total = std::fs::read_to_string("/proc/meminfo").ok().and_then(|s| {
        s.lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<u64>().ok()))
    });
    total.map(|kb| kb * 1024 / 2).unwrap_or(8 << 30)
}

/// Sets the thread count for rayon and polars; must run before either
/// starts its pool.
pub fn configure_threads(threads: Option<usize>) {
    if let Some(n) = threads {
        // polars reads this when its pool starts (on first use).
        // SAFETY-free in edition 2021; nothing else runs yet.
        std::env::set_var("POLARS_MAX_THREADS", n.to_string());
        let _ = rayon::ThreadPoolBuilder::new().num_threads(n).build_global();
    }
}

/// Runs a parsed command line; returns the exit code.
pub fn main_with(cli: Cli) -> u8 {
    let threads = match &cli.command {
        Command::Run(a) => a.input.threads,
        Command::Explain(a) => a.input.threads,
        Command::Validate(a) => a.threads,
        Command::Generate(_) => None,
        Command::BenchRead(a) => a.threads,
    };
    configure_threads(threads);
    let result = match cli.command {
        Command::Run(a) => run(&a),
        Command::Explain(a) => explain(&a),
        Command::Validate(a) => validate(&a),
        Command::Generate(a) => generate(&a),
        Command::BenchRead(a) => bench_read(&a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("refund-recon: error: {e}");
            e.exit_code()
        }
    }
}

/// A spinner on stderr for long runs at a terminal.
struct Progress(Option<indicatif::ProgressBar>);

impl Progress {
    fn new(input_bytes: u64) -> Progress {
        if !std::io::stderr().is_terminal() || input_bytes < (64 << 20) {
            return Progress(None);
        }
        let pb = indicatif::ProgressBar::new_spinner();
        pb.enable_steady_tick(std::time::Duration::from_millis(120));
        Progress(Some(pb))
    }

    fn phase(&self, msg: &str) {
        if let Some(pb) = &self.0 {
            pb.set_message(msg.to_string());
        }
    }

    fn done(&self) {
        if let Some(pb) = &self.0 {
            pb.finish_and_clear();
        }
    }
}

fn input_bytes(paths: &InputPaths) -> u64 {
    [&paths.orders, &paths.payments, &paths.unsubscriptions]
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum()
}

/// Reads the inputs and applies the checks that stop a run (exit 2 or 3):
/// memory limit, file errors, review thresholds, reject rate.
fn load_checked(cfg: &Config, progress: &Progress) -> Result<(Inputs, std::time::Duration), AppError> {
    let total = input_bytes(&cfg.paths);
    if total > cfg.memory_limit {
        return Err(crate::ingest::InputError::TooLarge {
            path: cfg
                .paths
                .orders
                .parent()
                .unwrap_or(Path::new("."))
                .display()
                .to_string(),
            bytes: total,
            limit: cfg.memory_limit,
        }
        .into());
    }
    progress.phase("reading and validating the exports");
    let t = Instant::now();
    let inputs = Inputs::load(&cfg.paths, &cfg.cal)?;
    let elapsed = t.elapsed();
    cfg.policy
        .check_thresholds(inputs.orders.currency.iter().collect::<std::collections::BTreeSet<_>>())?;
    for m in &inputs.metas {
        if m.rows_read > 0 {
            let rate = m.rejected as f64 / m.rows_read as f64;
            if rate > cfg.max_reject_rate {
                return Err(AppError::RejectRate {
                    file: m.path.display().to_string(),
                    rejected: m.rejected,
                    read: m.rows_read,
                    rate,
                    max: cfg.max_reject_rate,
                });
            }
        }
    }
    Ok((inputs, elapsed))
}

fn run(a: &RunArgs) -> Result<u8, AppError> {
    let started = chrono::Utc::now();
    let cfg = a.input.config()?;
    let lock = output::lock(&a.out)?;
    let progress = Progress::new(input_bytes(&cfg.paths));
    let (inputs, ingest) = load_checked(&cfg, &progress)?;
    progress.phase("joining and evaluating the rules");
    let rec = Reconciliation::run(cfg.policy, cfg.cal, inputs, cfg.as_of, ingest)?;
    progress.phase("writing the reports");
    let mut summary: Option<Summary> = None;
    output::publish(&a.out, &lock, |dir| {
        // The explain index is built while the reports are written.
        let (s, index) = rayon::join(
            || {
                report::write_reports(
                    &rec,
                    &cfg.selection,
                    dir,
                    &started.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                )
            },
            || crate::explain::store::write(&rec, dir),
        );
        index?;
        summary = Some(s?);
        Ok(())
    })?;
    progress.done();
    let summary = summary.expect("publish ran the writer");
    print_summary(&summary, &a.out);
    let fail = match a.fail_on {
        FailOn::Never => false,
        FailOn::Error => summary.worst >= Some(Severity::Error),
        FailOn::Warning => summary.worst >= Some(Severity::Warning),
    };
    Ok(if fail { 1 } else { 0 })
}

fn print_summary(s: &Summary, out: &Path) {
    println!(
        "refund-recon {} · policy {} · as_of {}",
        s.version, s.policy.name, s.as_of
    );
    for i in &s.inputs {
        println!(
            "  {:<20} {:>10} read {:>10} accepted {:>8} rejected",
            i.file, i.rows_read, i.accepted, i.rejected
        );
    }
    let sev = |k: &str| s.findings.by_severity.get(k).copied().unwrap_or(0);
    println!(
        "findings: {} ({} error, {} warning, {} info)",
        s.findings.total,
        sev("error"),
        sev("warning"),
        sev("info")
    );
    for (code, n) in &s.findings.by_code {
        if *n > 0 {
            println!("  {code:<26} {n:>8}");
        }
    }
    if !s.refund_totals.is_empty() {
        println!("refunds of completed unsubscriptions:");
        for (c, t) in &s.refund_totals {
            println!(
                "  {c}  expected {:>16}  recorded {:>16}",
                t.expected_refunds, t.recorded_refunds
            );
        }
    }
    println!("reports: {}/ ({})", out.display(), report::FILES.join(", "));
}

fn validate(a: &InputArgs) -> Result<u8, AppError> {
    let cfg = a.config()?;
    let progress = Progress::new(input_bytes(&cfg.paths));
    let result = load_checked(&cfg, &progress);
    progress.done();
    let (inputs, _) = result?;
    println!("policy {} ({}): ok", cfg.policy.name, cfg.policy.path.display());
    for m in &inputs.metas {
        print_meta(m);
    }
    let shown = 50;
    if inputs.rejects.is_empty() {
        println!("no rejected rows");
    } else {
        println!("rejected rows ({}):", inputs.rejects.len());
        for r in inputs.rejects.iter().take(shown) {
            let col = if r.column.is_empty() {
                String::new()
            } else {
                format!(", column {}", r.column)
            };
            println!(
                "  {} line {}{col}: {} (value {:?}, id {:?})",
                r.file, r.line, r.reason, r.value, r.record_id
            );
        }
        if inputs.rejects.len() > shown {
            println!(
                "  … {} more; `refund-recon run` writes them all to rejects.csv",
                inputs.rejects.len() - shown
            );
        }
    }
    Ok(0)
}

fn print_meta(m: &InputMeta) {
    println!(
        "{}: {} rows read, {} accepted, {} rejected (sha256 {})",
        m.path.display(),
        m.rows_read,
        m.accepted,
        m.rejected,
        &m.sha256[..16]
    );
    if !m.extra_columns.is_empty() {
        println!("  extra columns ignored: {}", m.extra_columns.join(", "));
    }
}

/// `explain ID --reports DIR`: from the run's explain index.
fn explain_from_reports(a: &ExplainArgs, dir: &Path) -> Result<u8, AppError> {
    let id = a.id.trim();
    if let Some(text) = crate::explain::store::answer(dir, id, a.json)? {
        print!("{text}");
        return Ok(0);
    }
    let idx = crate::explain::store::Index::open(dir)?;
    let unsubs = &idx.header.inputs[2];
    let path = dir.join("rejects.csv");
    let mut rd = csv::Reader::from_path(&path).map_err(|e| AppError::Usage(format!("{}: {e}", path.display())))?;
    let mut found = false;
    for r in rd.records() {
        let r = r.map_err(|e| AppError::Usage(format!("{}: {e}", path.display())))?;
        if r.get(0) == Some(unsubs.name.as_str()) && r.get(2) == Some(id) {
            found = true;
            println!(
                "unsubscription {id} was rejected: {} line {}, column {}: {} (value {:?})",
                &r[0], &r[1], &r[3], &r[5], &r[4]
            );
        }
    }
    if found {
        return Ok(0);
    }
    Err(AppError::Usage(format!(
        "{id:?} is no unsubscription, order or account in the run of {}; check the id (ids are case-sensitive)",
        dir.display()
    )))
}

fn explain(a: &ExplainArgs) -> Result<u8, AppError> {
    if let Some(dir) = &a.reports {
        return explain_from_reports(a, dir);
    }
    let cfg = a.input.config()?;
    let progress = Progress::new(input_bytes(&cfg.paths));
    let (inputs, ingest) = load_checked(&cfg, &progress)?;
    let rec = Reconciliation::run(cfg.policy, cfg.cal, inputs, cfg.as_of, ingest)?;
    progress.done();
    let id = a.id.trim();
    let answer = if a.json {
        crate::explain::json(&rec, id).map(|v| format!("{:#}\n", v))
    } else {
        crate::explain::text(&rec, id)
    };
    match answer {
        Some(text) => {
            print!("{text}");
            Ok(0)
        }
        None => {
            let rejected: Vec<_> = rec
                .inputs
                .rejects
                .iter()
                .filter(|r| r.file == rec.inputs.metas.unsubs.name && r.record_id == id)
                .collect();
            if rejected.is_empty() {
                return Err(AppError::Usage(format!(
                    "{id:?} is no unsubscription, order or account in {}; check the id (ids are case-sensitive)",
                    rec.inputs.metas.unsubs.path.display()
                )));
            }
            for r in rejected {
                println!(
                    "unsubscription {id} was rejected: {} line {}, column {}: {} (value {:?})",
                    r.file, r.line, r.column, r.reason, r.value
                );
            }
            Ok(0)
        }
    }
}

fn generate(a: &GenerateArgs) -> Result<u8, AppError> {
    if a.orders == 0 {
        return Err(AppError::Usage("--orders must be at least 1".into()));
    }
    for (flag, v) in [("--error-rate", a.error_rate), ("--malformed-rate", a.malformed_rate)] {
        if !(0.0..=1.0).contains(&v) {
            return Err(AppError::Usage(format!("{flag} {v}: must be a share between 0 and 1")));
        }
    }
    let policy = Policy::load(&a.policy)?;
    policy.check_thresholds(&crate::generate::currencies())?;
    let opts = crate::generate::GenerateOptions {
        out: a.out.clone(),
        accounts: a.accounts.unwrap_or((a.orders / 10).max(1)),
        orders: a.orders,
        seed: a.seed,
        error_rate: a.error_rate,
        malformed_rate: a.malformed_rate,
        policy,
    };
    let t = Instant::now();
    let r = crate::generate::generate(&opts)
        .map_err(|e| AppError::Output(format!("{}: cannot write the generated exports ({e})", a.out.display())))?;
    println!(
        "generated {} orders, {} payments, {} unsubscriptions ({} deliberately wrong, {} malformed rows) in {}/ in {:.1} s",
        r.orders,
        r.payments,
        r.unsubscriptions,
        r.wrong_recorded,
        r.malformed,
        a.out.display(),
        t.elapsed().as_secs_f64()
    );
    Ok(0)
}

/// Reads the three files with polars' own CSV reader (schema inferred),
/// the floor that `benches/bench.py` compares a full run with.
fn bench_read(a: &InputArgs) -> Result<u8, AppError> {
    use polars::prelude::{CsvReadOptions, SerReader};
    let pick = |p: &Option<PathBuf>, name: &str| p.clone().unwrap_or_else(|| a.data.join(name));
    let t = Instant::now();
    let mut rows = 0;
    for path in [
        pick(&a.orders, "orders.csv"),
        pick(&a.payments, "payments.csv"),
        pick(&a.unsubscriptions, "unsubscriptions.csv"),
    ] {
        let df = CsvReadOptions::default()
            .with_has_header(true)
            .with_infer_schema_length(Some(0))
            .try_into_reader_with_file_path(Some(path))?
            .finish()?;
        rows += df.height();
    }
    println!("{{\"rows\": {rows}, \"seconds\": {:.3}}}", t.elapsed().as_secs_f64());
    Ok(0)
}
