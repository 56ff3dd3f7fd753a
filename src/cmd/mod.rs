//! The command line (docs/cli.md): one module per command. Raw flags
//! become a validated [`Plan`] — every flag checked and the policy loaded —
//! before anything has an effect (the thread pools, the `--out` lock, a
//! written file); every command returns an exit code chosen in one place
//! ([`AppError::exit_code`]).

/// `println!` for a command's output: a reader that has gone (`| head`,
/// `| grep -q`) ends the output quietly instead of panicking, and the
/// command's work and exit code stand; any other write error is said on
/// stderr.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::cmd::say(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` as [`say!`] does `println!`.
macro_rules! say_raw {
    ($($arg:tt)*) => {
        $crate::cmd::say(format_args!($($arg)*))
    };
}

mod explain;
mod generate;
mod map;
mod run;
mod shard;
mod validate;
mod verify;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::Policy;
use crate::error::AppError;
use crate::ingest::{InputPaths, Inputs};
use crate::report::Selection;
use crate::time::{Calendar, Micros};

/// Writes a command's output to stdout (see [`say!`]).
pub(crate) fn say(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    if let Err(e) = std::io::stdout().lock().write_fmt(args) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            let _ = writeln!(std::io::stderr(), "refund-recon: cannot write the output ({e})");
        }
    }
}

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
    /// Write the canonical inputs a mapping makes of a provider's exports
    /// (and the rows it rejects), to look at them or run on them.
    Map(MapArgs),
    /// Split the exports by account into shards in a work folder, for
    /// `run --work DIR --shard K` on any scheduler, then `merge`
    /// (docs/scale.md).
    Partition(PartitionArgs),
    /// Merge a work folder's shard reports into one reports folder, the
    /// same as a run in one piece (docs/scale.md).
    Merge(MergeArgs),
    /// Write a synthetic, seeded set of the three exports.
    Generate(GenerateArgs),
    /// Check a reports folder against its summary.json: every report's
    /// SHA-256, and the inputs' and the policy's where they still are.
    Verify(VerifyArgs),
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
    /// Policy file (TOML), or a preset by name: once-a-year, ten-a-year
    /// (default: data/policy.toml, or the built-in once-a-year, the same
    /// policy, where there is no such file).
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// Read a provider's own exports through a mapping (docs/mapping.md): a
    /// mapping file, or a preset by name: alibaba-bss, huawei-bss. Its
    /// source files are found under --data.
    #[arg(long, value_name = "FILE|PRESET")]
    pub mapping: Option<String>,
    /// An earlier export's folder, laid out like --data, read as context
    /// (repeatable): its rows link payments and unsubscriptions to their
    /// orders and count toward the year's quota, but are not reported.
    #[arg(long, value_name = "DIR")]
    pub context: Vec<PathBuf>,
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

/// A report format of `run --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// The CSV reports (always needed: verify, explain and --baseline read them).
    Csv,
    /// The FOCUS 1.0 bill, monthly_bill.focus.csv (docs/focus.md).
    Focus,
    /// A typed Parquet copy next to each CSV report (docs/parquet.md).
    Parquet,
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
    /// A previous run's reports folder (may be --out itself): mark each
    /// finding new or persisting, and list the ones gone in resolved.csv.
    #[arg(long, value_name = "DIR")]
    pub baseline: Option<PathBuf>,
    /// Report formats, comma-separated: csv, or csv,parquet for typed
    /// Parquet copies as well.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "csv")]
    pub format: Vec<Format>,
    /// Run in N shards on this machine: partition, each shard, merge
    /// (docs/scale.md). The reports are the same as in one piece.
    #[arg(long, value_name = "N")]
    pub shards: Option<u32>,
    /// With --shards: run J shards at a time (default 1).
    #[arg(long, value_name = "J", default_value_t = 1)]
    pub jobs: u32,
    /// A work folder: with --shard K (or a scheduler's index variable),
    /// judge that shard of a `partition`; with --shards, where the shards
    /// go (default: beside --out).
    #[arg(long, value_name = "DIR")]
    pub work: Option<PathBuf>,
    /// The shard to judge (with --work); default: JOB_COMPLETION_INDEX,
    /// SLURM_ARRAY_TASK_ID or AWS_BATCH_JOB_ARRAY_INDEX.
    #[arg(long, value_name = "K")]
    pub shard: Option<u32>,
    /// With --shards: keep the work folder after the merge.
    #[arg(long)]
    pub keep_work: bool,
    /// With --shards: partition a block at a time even when the exports
    /// fit in memory (the default above --memory-limit).
    #[arg(long)]
    pub stream: bool,
}

#[derive(Debug, Clone, Args)]
pub struct PartitionArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Number of shards.
    #[arg(long, value_name = "N")]
    pub shards: u32,
    /// The work folder (replaced as a whole).
    #[arg(long, value_name = "DIR")]
    pub work: PathBuf,
    /// Report formats the merge will write (as `run --format`).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "csv")]
    pub format: Vec<Format>,
    /// Read the exports a block at a time even when they fit in memory
    /// (the default above --memory-limit; canonical exports only).
    #[arg(long)]
    pub stream: bool,
    /// A map task: read only part I of M (`I/M`), a share of the input
    /// files (then `--settle` once, then `--part I/M --copy`; docs/scale.md).
    #[arg(long, value_name = "I/M")]
    pub part: Option<String>,
    /// Settle the parts the `--part` tasks read: duplicate ids, orders'
    /// accounts, batches, as_of; writes the manifest.
    #[arg(long, conflicts_with = "part")]
    pub settle: bool,
    /// With `--part I/M`, after `--settle`: copy the part's rows into the
    /// shards (input options are then not read).
    #[arg(long, requires = "part")]
    pub copy: bool,
}

#[derive(Debug, Clone, Args)]
pub struct MergeArgs {
    /// The work folder `partition` wrote and the shards ran in.
    #[arg(long, value_name = "DIR")]
    pub work: PathBuf,
    /// Output folder; replaced as a whole when the merge completes.
    #[arg(long, default_value = "reports")]
    pub out: PathBuf,
    /// Exit 1 when a finding of this severity or worse exists.
    #[arg(long, value_enum, default_value_t = FailOn::Never)]
    pub fail_on: FailOn,
    /// Keep the work folder after a successful merge.
    #[arg(long)]
    pub keep_work: bool,
    /// A previous run's reports folder (may be --out itself), as `run
    /// --baseline`.
    #[arg(long, value_name = "DIR")]
    pub baseline: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct MapArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Folder for orders.csv, payments.csv, unsubscriptions.csv and
    /// mapping-rejects.csv.
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct VerifyArgs {
    /// A reports folder written by `run`.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
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
    /// Policy file (TOML) or preset the recorded values follow (default as
    /// for run).
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// Row order: `interleaved` (each file in time order, accounts mixed, as
    /// billing systems export) or `by-account` (each account's rows together).
    #[arg(long, value_enum, default_value_t = LayoutArg::Interleaved)]
    pub layout: LayoutArg,
}

/// `generate --layout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LayoutArg {
    Interleaved,
    ByAccount,
}

/// Validated input options.
pub struct Config {
    pub paths: InputPaths,
    /// `--data`: where a mapping's source files are.
    pub data: PathBuf,
    /// `--mapping`, loaded.
    pub mapping: Option<crate::mapping::Mapping>,
    /// `--context`: earlier exports' folders (a mapping finds its sources
    /// under each; canonical inputs are already in `paths.context`).
    pub context: Vec<PathBuf>,
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
        let policy = load_policy(self.policy.as_deref())?;
        let cal = policy.calendar();
        let mapping = self.mapping.as_deref().map(crate::mapping::Mapping::load).transpose()?;
        if mapping.is_some() && (self.orders.is_some() || self.payments.is_some() || self.unsubscriptions.is_some()) {
            return Err(AppError::Usage(
                "--mapping reads the files its [sources] name under --data; leave out --orders, --payments and --unsubscriptions".into(),
            ));
        }
        let as_of = match &self.as_of {
            None => None,
            Some(s) => Some(
                cal.parse_ts(s.trim())
                    .map_err(|e| AppError::Usage(format!("--as-of {s:?}: {}", e.reason())))?,
            ),
        };
        // An input given as a folder or a pattern is its files, in file-name
        // order (docs/inputs.md#several-files-per-input).
        let pick = |p: &Option<PathBuf>, name: &str, flag: &'static str| -> Result<Vec<PathBuf>, AppError> {
            match p {
                None => Ok(vec![self.data.join(name)]),
                Some(p) => crate::ingest::multi::expand(p).map_err(|reason| {
                    AppError::Input(crate::ingest::InputError::Unreadable {
                        path: p.display().to_string(),
                        flag,
                        reason,
                    })
                }),
            }
        };
        let [mut o, mut p, mut u] = [
            pick(&self.orders, "orders.csv", "orders")?,
            pick(&self.payments, "payments.csv", "payments")?,
            pick(&self.unsubscriptions, "unsubscriptions.csv", "unsubscriptions")?,
        ];
        let first = |v: &mut Vec<PathBuf>| v.remove(0);
        let context = if mapping.is_some() {
            Default::default()
        } else {
            context_files(&self.context)?
        };
        Ok(Config {
            paths: InputPaths {
                orders: first(&mut o),
                payments: first(&mut p),
                unsubscriptions: first(&mut u),
                more: [o, p, u],
                context,
            },
            data: self.data.clone(),
            mapping,
            context: self.context.clone(),
            policy,
            cal,
            as_of,
            selection: Selection::new(self.accounts.iter().cloned()),
            max_reject_rate: self.max_reject_rate,
            memory_limit: self.memory_limit.unwrap_or_else(default_memory_limit),
        })
    }
}

/// The files of `--context` folders for canonical inputs: each folder's
/// orders.csv, payments.csv and unsubscriptions.csv where it has them (an
/// earlier export may lack one), in the order the folders are given. A
/// folder with none of them is exit 3.
fn context_files(dirs: &[PathBuf]) -> Result<[Vec<PathBuf>; 3], AppError> {
    let mut files: [Vec<PathBuf>; 3] = Default::default();
    for dir in dirs {
        let found: Vec<(usize, PathBuf)> = ["orders.csv", "payments.csv", "unsubscriptions.csv"]
            .iter()
            .enumerate()
            .map(|(k, name)| (k, dir.join(name)))
            .filter(|(_, p)| p.is_file())
            .collect();
        if found.is_empty() {
            return Err(AppError::Input(crate::ingest::InputError::Unreadable {
                path: dir.display().to_string(),
                flag: "context",
                reason: "holds none of orders.csv, payments.csv, unsubscriptions.csv; give the folder of an earlier export, laid out like --data".into(),
            }));
        }
        for (k, p) in found {
            files[k].push(p);
        }
    }
    Ok(files)
}

/// `--policy`, or its default: `data/policy.toml`, or, where there is no
/// such file (an installed binary run from another folder), the built-in
/// `once-a-year`, which is the same policy (with a note on stderr).
pub(crate) fn load_policy(given: Option<&Path>) -> Result<Policy, AppError> {
    if let Some(p) = given {
        return Ok(Policy::load(p)?);
    }
    let default = Path::new("data/policy.toml");
    if default.exists() {
        return Ok(Policy::load(default)?);
    }
    eprintln!(
        "refund-recon: note: no data/policy.toml in this folder: using the built-in policy once-a-year (the same as the bundled data/policy.toml); give --policy to choose another"
    );
    Ok(Policy::load(Path::new("once-a-year"))?)
}

/// Half the machine's RAM (from /proc/meminfo), or 8 GiB when unknown.
pub(crate) fn default_memory_limit() -> u64 {
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

/// A command line checked in full, with nothing done yet.
enum Plan {
    Run(run::RunPlan),
    Explain(explain::ExplainPlan),
    Validate(Config),
    Map(Config, MapArgs),
    Shard(shard::ShardPlan),
    Generate(crate::generate::GenerateOptions),
    Verify(VerifyArgs),
    BenchRead(InputArgs),
}

impl Plan {
    /// Validates every flag of `command` and loads what it reads first (the
    /// policy); returns the plan and the thread count to configure.
    fn new(command: Command) -> Result<(Plan, Option<usize>), AppError> {
        Ok(match command {
            Command::Run(a) if a.shards.is_some() || a.work.is_some() => {
                (Plan::Shard(shard::ShardPlan::from_run(&a)?), a.input.threads)
            }
            Command::Partition(a) => (Plan::Shard(shard::ShardPlan::partition(&a)?), a.input.threads),
            Command::Merge(a) => (Plan::Shard(shard::ShardPlan::Merge(a)), None),
            Command::Run(a) => {
                let formats = run::formats(&a.format)?;
                let cfg = a.input.config()?;
                let threads = a.input.threads;
                (Plan::Run(run::RunPlan::new(cfg, &a, formats)?), threads)
            }
            Command::Explain(a) => (Plan::Explain(explain::ExplainPlan::new(&a)?), a.input.threads),
            Command::Validate(a) => (Plan::Validate(a.config()?), a.threads),
            Command::Map(a) => (Plan::Map(a.input.config()?, a.clone()), a.input.threads),
            Command::Generate(a) => (Plan::Generate(generate::options(&a)?), None),
            Command::Verify(a) => (Plan::Verify(a), None),
            Command::BenchRead(a) => {
                if a.threads == Some(0) {
                    return Err(AppError::Usage("--threads 0: give at least 1 thread".into()));
                }
                let threads = a.threads;
                (Plan::BenchRead(a), threads)
            }
        })
    }

    fn execute(self) -> Result<u8, AppError> {
        match self {
            Plan::Run(p) => run::run(p),
            Plan::Explain(p) => explain::explain(p),
            Plan::Validate(cfg) => validate::validate(&cfg),
            Plan::Map(cfg, a) => map::map(&cfg, &a),
            Plan::Shard(p) => shard::execute(p),
            Plan::Generate(opts) => generate::generate(&opts),
            Plan::Verify(a) => verify::verify(&a),
            Plan::BenchRead(a) => bench_read(&a),
        }
    }
}

/// Runs a parsed command line; returns the exit code.
pub fn main_with(cli: Cli) -> u8 {
    let result = Plan::new(cli.command).and_then(|(plan, threads)| {
        configure_threads(threads);
        plan.execute()
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("refund-recon: error: {e}");
            e.exit_code()
        }
    }
}

/// A spinner on stderr for long runs at a terminal.
pub(crate) struct Progress(Option<indicatif::ProgressBar>);

impl Progress {
    pub(crate) fn new(input_bytes: u64) -> Progress {
        if !std::io::stderr().is_terminal() || input_bytes < (64 << 20) {
            return Progress(None);
        }
        let pb = indicatif::ProgressBar::new_spinner();
        pb.enable_steady_tick(std::time::Duration::from_millis(120));
        Progress(Some(pb))
    }

    pub(crate) fn phase(&self, msg: &str) {
        if let Some(pb) = &self.0 {
            pb.set_message(msg.to_string());
        }
    }

    pub(crate) fn done(&self) {
        if let Some(pb) = &self.0 {
            pb.finish_and_clear();
        }
    }
}

pub(crate) fn input_bytes(paths: &InputPaths) -> u64 {
    paths
        .all()
        .iter()
        .flatten()
        .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum()
}

/// Reads the inputs and applies the checks that stop a run (exit 2 or 3):
/// memory limit, file errors, review thresholds, reject rate.
pub(crate) fn load_checked(cfg: &Config, progress: &Progress) -> Result<(Inputs, std::time::Duration), AppError> {
    check_size(cfg)?;
    progress.phase("reading and validating the exports");
    let t = Instant::now();
    let inputs = match &cfg.mapping {
        Some(m) => crate::mapping::load_inputs(m, &cfg.data, &cfg.context, &cfg.cal)?,
        None => Inputs::load(&cfg.paths, &cfg.cal)?,
    };
    let elapsed = t.elapsed();
    check_loaded(cfg, &inputs)?;
    Ok((inputs, elapsed))
}

/// Inputs over `--memory-limit` stop before any work (exit 3).
pub(crate) fn check_size(cfg: &Config) -> Result<(), AppError> {
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
    Ok(())
}

/// The checks on inputs read that stop a run: a review threshold for every
/// currency (exit 2), each file's reject share (exit 3).
pub(crate) fn check_loaded(cfg: &Config, inputs: &Inputs) -> Result<(), AppError> {
    cfg.policy
        .check_thresholds(&crate::model::Currency::distinct(&inputs.orders.currency))?;
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
    Ok(())
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
    say!("{{\"rows\": {rows}, \"seconds\": {:.3}}}", t.elapsed().as_secs_f64());
    Ok(0)
}
