//! `refund-recon run --work DIR --shard K`: one shard judged like a run
//! over its rows alone, with the whole export's as_of, its reports
//! published into the shard's folder as a whole (a task killed and rerun
//! writes the same bytes).

use std::io::Write;
use std::path::Path;

use super::partition::{LINES, NAMES};
use super::{Manifest, ShardResult, Work};
use crate::engine::Reconciliation;
use crate::error::AppError;
use crate::ingest::{Inputs, Part};
use crate::report::{self, output, ReportOptions, Selection};

/// The shard index from `--shard`, or else from the scheduler's variable:
/// JOB_COMPLETION_INDEX (Kubernetes Indexed Job), SLURM_ARRAY_TASK_ID,
/// AWS_BATCH_JOB_ARRAY_INDEX.
pub fn shard_index(given: Option<u32>) -> Result<u32, AppError> {
    if let Some(k) = given {
        return Ok(k);
    }
    for var in [
        "JOB_COMPLETION_INDEX",
        "SLURM_ARRAY_TASK_ID",
        "AWS_BATCH_JOB_ARRAY_INDEX",
    ] {
        if let Ok(v) = std::env::var(var) {
            return v
                .trim()
                .parse()
                .map_err(|_| AppError::Usage(format!("{var}={v:?}: not a shard index (0, 1, …)")));
        }
    }
    Err(AppError::Usage(
        "--work needs --shard K, or a scheduler's index variable (JOB_COMPLETION_INDEX, SLURM_ARRAY_TASK_ID, AWS_BATCH_JOB_ARRAY_INDEX)".into(),
    ))
}

/// One shard's input: its CSV text, and each row's (line in the text,
/// line in the exports).
struct ShardInput {
    text: Vec<u8>,
    lines: Vec<(u64, u64)>,
}

fn read_input(dir: &Path, k: usize) -> Result<ShardInput, AppError> {
    let stale = |p: &Path, e: std::io::Error| {
        AppError::Work(format!(
            "{}: cannot read the shard's rows ({e}); partition again",
            p.display()
        ))
    };
    let (tp, lp) = (dir.join(NAMES[k]), dir.join(LINES[k]));
    let text = std::fs::read(&tp).map_err(|e| stale(&tp, e))?;
    let raw = std::fs::read(&lp).map_err(|e| stale(&lp, e))?;
    let lines = raw
        .chunks_exact(16)
        .map(|c| {
            let (a, b) = c.split_at(8);
            (
                u64::from_le_bytes(a.try_into().expect("8 bytes")),
                u64::from_le_bytes(b.try_into().expect("8 bytes")),
            )
        })
        .collect();
    Ok(ShardInput { text, lines })
}

/// Runs shard `k` of the work folder; returns its result.
pub fn run_shard(work: &Path, k: u32) -> Result<ShardResult, AppError> {
    let started = std::time::Instant::now();
    let w = Work::new(work);
    let m = w.load()?;
    if k >= m.shards {
        return Err(AppError::Usage(format!(
            "--shard {k}: the work folder {} has shards 0 to {}",
            work.display(),
            m.shards - 1
        )));
    }
    let policy = w.policy(&m)?;
    let cal = policy.calendar();
    let mapping = w.mapping(&m)?;
    let dir = w.shard(k);
    let shard_inputs = [read_input(&dir, 0)?, read_input(&dir, 1)?, read_input(&dir, 2)?];
    let lookups: Vec<Box<dyn Fn(u64) -> u64 + Sync + '_>> = shard_inputs
        .iter()
        .map(|s| {
            Box::new(move |line: u64| {
                let at = s.lines.partition_point(|&(l, _)| l <= line).saturating_sub(1);
                s.lines.get(at).map_or(line, |&(_, origin)| origin)
            }) as Box<dyn Fn(u64) -> u64 + Sync>
        })
        .collect();
    let names: Vec<std::path::PathBuf> = NAMES.iter().map(std::path::PathBuf::from).collect();
    let part = |i: usize| Part::Text {
        text: &shard_inputs[i].text,
        name: &names[i],
        lines: lookups[i].as_ref(),
    };
    let absent: Vec<&str> = m.absent.iter().map(String::as_str).collect();
    let mut inputs = Inputs::from_parts([part(0), part(1), part(2)], &cal, &absent)?;
    check_rows(&m, k, &inputs)?;
    inputs.files = m.files.clone();
    inputs.context = m.context.clone();
    drop(lookups);
    let mut rec = Reconciliation::run(policy, cal, inputs, Some(m.as_of), started.elapsed())?;
    rec.set_coverage(crate::mapping::coverage::coverage(mapping.as_ref()));
    let sel = Selection::new(m.accounts.iter().cloned());
    let result = ShardResult {
        id: m.id.clone(),
        shard: k,
        rows: m.shard_rows[k as usize],
        by_code: Default::default(),
        files: Vec::new(),
        explain: false,
        totals: report::selected_totals(&rec, &sel)?
            .into_iter()
            .map(|(c, t)| (c.as_str().to_string(), (t.expected.to_string(), t.recorded.to_string())))
            .collect(),
    };
    let out = w.reports(k);
    // A rerun replaces the reports of a killed or earlier task (a shard's
    // folder holds no summary.json for the lock's check to recognise).
    let _ = std::fs::remove_dir_all(&out);
    let lock = output::lock(&out)?;
    let opts = ReportOptions {
        started_at: "",
        baseline: None,
        formats: report::Formats {
            focus: m.focus,
            parquet: false,
        },
    };
    let mut done = None;
    output::publish(&out, &lock, |tmp| {
        // The shard's part of the explain index is built while its reports
        // are written, as a run builds its index.
        let part = tmp.join(report::explain_index::PART);
        let (reports, explain) = rayon::join(
            || report::write_shard_reports(&rec, &sel, tmp, opts),
            || match m.explain {
                Some(_) => report::explain_index::write_part(&rec, &part),
                None => Ok(false),
            },
        );
        let (summary, mut written) = reports?;
        written.sync_all()?;
        write_accounts(&rec, &sel, &tmp.join(super::merge::ACCOUNTS))?;
        let mut result = result;
        result.files = written.entries().to_vec();
        result.explain = explain?;
        result.by_code = summary
            .findings
            .by_code
            .iter()
            .filter_map(|(c, n)| n.map(|n| (c.to_string(), n)))
            .collect();
        let text = serde_json::to_string_pretty(&result).expect("a shard result serializes") + "\n";
        std::fs::write(tmp.join(super::merge::RESULT), text)
            .map_err(|e| AppError::Output(format!("{}: {e}", super::merge::RESULT)))?;
        done = Some(result);
        Ok(())
    })?;
    std::mem::forget(rec);
    Ok(done.expect("publish ran the writer"))
}

/// Removes shard `k`'s rows (its CSVs and lines), keeping its reports:
/// `run --shards` frees the disk as it goes (a rerun of the shard then
/// needs a new partition).
pub fn drop_rows(work: &Path, k: u32) -> Result<(), AppError> {
    let dir = Work::new(work).shard(k);
    for name in NAMES.iter().chain(LINES.iter()) {
        let p = dir.join(name);
        std::fs::remove_file(&p).map_err(|e| AppError::Output(format!("{}: {e}", p.display())))?;
    }
    Ok(())
}

/// The shard read back has the rows partition wrote into it, each accepted.
fn check_rows(m: &Manifest, k: u32, inputs: &Inputs) -> Result<(), AppError> {
    let got = [
        inputs.orders.line.len() as u64,
        inputs.payments.line.len() as u64,
        inputs.unsubs.line.len() as u64,
    ];
    if got != m.shard_rows[k as usize] || !inputs.rejects.is_empty() {
        return Err(AppError::Work(format!(
            "shard {k}: its files hold {got:?} accepted rows (orders, payments, unsubscriptions), partition wrote {:?}; the work folder was changed: partition again",
            m.shard_rows[k as usize]
        )));
    }
    Ok(())
}

/// accounts.csv: the shard's accounts the selection keeps, in byte order
/// (how merge interleaves the shards' reports).
fn write_accounts(rec: &Reconciliation, sel: &Selection, path: &Path) -> Result<(), AppError> {
    let dict = rec.inputs.orders.account_id.dict();
    let mut w = csv::Writer::from_writer(std::io::BufWriter::new(
        std::fs::File::create(path).map_err(|e| AppError::Output(format!("{}: {e}", path.display())))?,
    ));
    let bad = |e: csv::Error| AppError::Output(format!("{}: {e}", path.display()));
    w.write_record(["account_id"]).map_err(bad)?;
    for a in 0..dict.len() as u32 {
        let name = dict.name(a);
        if sel.keeps(name) {
            w.write_record([name]).map_err(bad)?;
        }
    }
    let mut inner = w
        .into_inner()
        .map_err(|e| AppError::Output(format!("{}: {e}", path.display())))?;
    inner
        .flush()
        .map_err(|e| AppError::Output(format!("{}: {e}", path.display())))?;
    inner
        .get_ref()
        .sync_all()
        .map_err(|e| AppError::Output(format!("{}: {e}", path.display())))
}
