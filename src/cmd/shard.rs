//! `partition`, `run --work DIR --shard K`, `merge`, and `run --shards N`,
//! which does the three on this machine (docs/scale.md).

use std::path::PathBuf;

use super::{Config, FailOn, MergeArgs, PartitionArgs, RunArgs};
use crate::error::AppError;
use crate::rules::Severity;
use crate::shard::{merge, partition, stream, task};

pub(crate) enum ShardPlan {
    Partition(Box<Config>, u32, PathBuf, crate::report::Formats, bool),
    /// A map task (`--part I/M`), or the settle.
    Part(Box<Config>, u32, PathBuf, crate::report::Formats, Option<(u32, u32)>),
    Copy(PathBuf, u32, u32),
    Task(PathBuf, Option<u32>, u64),
    Merge(MergeArgs),
    Local(Box<Config>, Box<RunArgs>, crate::report::Formats),
}

impl ShardPlan {
    pub(crate) fn partition(a: &PartitionArgs) -> Result<ShardPlan, AppError> {
        if a.shards == 0 {
            return Err(AppError::Usage("--shards 0: give at least 1 shard".into()));
        }
        let formats = super::run::formats(&a.format)?;
        let part = a.part.as_deref().map(stream::parts::parse_part).transpose()?;
        if let (Some((i, m)), true) = (part, a.copy) {
            return Ok(ShardPlan::Copy(a.work.clone(), i, m));
        }
        if part.is_some() || a.settle {
            return Ok(ShardPlan::Part(
                Box::new(a.input.config()?),
                a.shards,
                a.work.clone(),
                formats,
                part,
            ));
        }
        Ok(ShardPlan::Partition(
            Box::new(a.input.config()?),
            a.shards,
            a.work.clone(),
            formats,
            a.stream,
        ))
    }

    pub(crate) fn from_run(a: &RunArgs) -> Result<ShardPlan, AppError> {
        match (a.shards, &a.work) {
            (None, Some(work)) => Ok(ShardPlan::Task(
                work.clone(),
                a.shard,
                a.input.memory_limit.unwrap_or_else(super::default_memory_limit),
            )),
            _ => {
                if a.shards == Some(0) || a.jobs == 0 {
                    return Err(AppError::Usage("--shards and --jobs take at least 1".into()));
                }
                let formats = super::run::formats(&a.format)?;
                Ok(ShardPlan::Local(
                    Box::new(a.input.config()?),
                    Box::new(a.clone()),
                    formats,
                ))
            }
        }
    }
}

pub(crate) fn execute(p: ShardPlan) -> Result<u8, AppError> {
    match p {
        ShardPlan::Partition(cfg, shards, work, formats, stream) => {
            let m = partition_run(&cfg, &opts(shards, &work, formats), stream)?;
            say!(
                "partitioned {} orders, {} payments, {} unsubscriptions into {} shards in {}",
                m.accepted[0],
                m.accepted[1],
                m.accepted[2],
                m.shards,
                work.display()
            );
            Ok(0)
        }
        ShardPlan::Part(cfg, shards, work, formats, part) => {
            let files = stream_files(&cfg)?;
            let s = streamed(&cfg, files);
            match part {
                Some((i, m)) => {
                    let rows = stream::parts::read_part(&s, &work, i, m)?;
                    say!(
                        "part {i}/{m}: read {} orders, {} payments, {} unsubscriptions rows into {}",
                        rows[0],
                        rows[1],
                        rows[2],
                        work.display()
                    );
                }
                None => {
                    let m = stream::parts::settle_parts(&s, &opts(shards, &work, formats))?;
                    say!(
                        "settled {} parts: {} orders, {} payments, {} unsubscriptions for {} shards in {}; copy each part next (--part I/{} --copy)",
                        m.parts,
                        m.accepted[0],
                        m.accepted[1],
                        m.accepted[2],
                        m.shards,
                        work.display(),
                        m.parts
                    );
                }
            }
            Ok(0)
        }
        ShardPlan::Copy(work, i, m) => {
            let rows = stream::parts::copy_part(&work, i, m)?;
            let sum = |k: usize| rows.iter().map(|r| r[k]).sum::<u64>();
            say!(
                "part {i}/{m}: copied {} orders, {} payments, {} unsubscriptions into {} shards",
                sum(0),
                sum(1),
                sum(2),
                rows.len()
            );
            Ok(0)
        }
        ShardPlan::Task(work, shard, limit) => {
            let k = task::shard_index(shard)?;
            let r = task::run_shard(&work, k, limit)?;
            say!(
                "shard {k}: {} orders, {} payments, {} unsubscriptions judged; {} findings",
                r.rows[0],
                r.rows[1],
                r.rows[2],
                r.by_code.values().sum::<u64>()
            );
            Ok(0)
        }
        ShardPlan::Merge(a) => {
            let s = merge::merge(&merge::Options {
                work: &a.work,
                out: &a.out,
                keep_work: a.keep_work,
                baseline: a.baseline.as_deref(),
            })?;
            Ok(finish(&s, &a.out, a.fail_on))
        }
        ShardPlan::Local(cfg, a, formats) => {
            let shards = a.shards.unwrap_or(1);
            let work = a.work.clone().unwrap_or_else(|| {
                let name = a
                    .out
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or("reports".into());
                a.out.with_file_name(format!("{name}.work"))
            });
            partition_run(&cfg, &opts(shards, &work, formats), a.stream)?;
            run_all(&work, shards, a.jobs, !a.keep_work, cfg.memory_limit)?;
            let s = merge::merge(&merge::Options {
                work: &work,
                out: &a.out,
                keep_work: a.keep_work,
                baseline: a.baseline.as_deref(),
            })?;
            Ok(finish(&s, &a.out, a.fail_on))
        }
    }
}

/// Reads the exports as `run` does (a mapped export keeping the texts the
/// mapping made), then partitions them.
fn partition_run(cfg: &Config, opt: &partition::Options<'_>, stream: bool) -> Result<crate::shard::Manifest, AppError> {
    let bytes = super::input_bytes(&cfg.paths);
    partition::check_space(opt.work, bytes)?;
    if cfg.mapping.is_none() && (stream || bytes > cfg.memory_limit) {
        // Exports larger than memory: a block at a time (docs/scale.md).
        let progress = super::Progress::new(bytes);
        progress.phase("partitioning the exports a block at a time");
        let m = stream::partition(streamed(cfg, stream_files(cfg)?), opt)?;
        progress.done();
        return Ok(m);
    }
    let progress = super::Progress::new(bytes);
    let (inputs, texts) = match &cfg.mapping {
        Some(m) => {
            progress.phase("reading and validating the exports");
            let (inputs, texts) = crate::mapping::load_texts(m, &cfg.data, &cfg.context, &cfg.cal)?;
            super::check_loaded(cfg, &inputs)?;
            (inputs, texts)
        }
        None => (super::load_checked(cfg, &progress)?.0, Vec::new()),
    };
    progress.phase("writing the shards");
    let read = partition::Read {
        inputs,
        texts,
        firsts: [&cfg.paths.orders, &cfg.paths.payments, &cfg.paths.unsubscriptions],
        as_of: cfg.as_of,
        policy: &cfg.policy,
        mapping: cfg.mapping.as_ref(),
        accounts: cfg.selection.accounts(),
    };
    let m = partition::partition(read, opt)?;
    progress.done();
    Ok(m)
}

/// The inputs' files as the streaming partition reads them (canonical
/// exports only: exit 2 with a mapping).
fn stream_files(cfg: &Config) -> Result<[stream::InputFiles; 3], AppError> {
    if let Some(m) = &cfg.mapping {
        return Err(AppError::Usage(format!(
            "--part and --settle read canonical exports, and --mapping {} maps them in memory; write the canonical files with `refund-recon map` first, and partition those",
            m.name
        )));
    }
    let all = cfg.paths.all();
    Ok(std::array::from_fn(|k| stream::InputFiles {
        paths: all[k].iter().map(|p| p.to_path_buf()).collect(),
        context: cfg.paths.context[k].len(),
    }))
}

fn streamed(cfg: &Config, files: [stream::InputFiles; 3]) -> stream::Streamed<'_> {
    stream::Streamed {
        files,
        policy: &cfg.policy,
        as_of: cfg.as_of,
        accounts: cfg.selection.accounts(),
        max_reject_rate: cfg.max_reject_rate,
    }
}

fn opts(shards: u32, work: &std::path::Path, formats: crate::report::Formats) -> partition::Options<'_> {
    partition::Options {
        shards,
        work,
        focus: formats.focus,
        parquet: formats.parquet,
    }
}

/// Runs every shard, `jobs` at a time; the first failure is the error.
/// `drop_rows`: a shard's rows are removed once its reports are written
/// (the merge reads only the reports), so the disk the work folder needs
/// shrinks as the shards are judged.
/// `memory_limit` is shared by the `jobs` shards that run at once; every
/// shard is checked against its share before the first runs.
fn run_all(work: &std::path::Path, shards: u32, jobs: u32, drop_rows: bool, memory_limit: u64) -> Result<(), AppError> {
    let limit = memory_limit / u64::from(jobs.min(shards).max(1));
    let w = crate::shard::Work::new(work);
    let m = w.load()?;
    for k in 0..shards {
        task::check_memory(&w, &m, k, limit)?;
    }
    let next = std::sync::atomic::AtomicU32::new(0);
    let worker = || -> Result<(), AppError> {
        loop {
            let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if k >= shards {
                return Ok(());
            }
            task::run_shard(work, k, limit)?;
            if drop_rows {
                task::drop_rows(work, k)?;
            }
        }
    };
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..jobs.min(shards)).map(|_| s.spawn(worker)).collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a shard thread"))
            .collect::<Result<Vec<()>, AppError>>()
    })?;
    Ok(())
}

fn finish(s: &crate::report::Summary, out: &std::path::Path, fail_on: FailOn) -> u8 {
    super::run::print_summary(s, out);
    let fail = match fail_on {
        FailOn::Never => false,
        FailOn::Error => s.worst >= Some(Severity::Error),
        FailOn::Warning => s.worst >= Some(Severity::Warning),
    };
    u8::from(fail)
}
