//! `refund-recon run --work DIR --shard K`: one shard judged like a run
//! over its rows alone, with the whole export's as_of, its reports
//! published into the shard's folder as a whole (a task killed and rerun
//! writes the same bytes).

use std::io::Write;
use std::path::{Path, PathBuf};

use super::stream::parts::row_dirs;

use super::partition::{LINES, NAMES};
use super::{Manifest, ShardResult, Work};
use crate::engine::{Keep, Reconciliation};
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
    scheduler_index()?.ok_or_else(|| {
        AppError::Usage(
            "--work needs --shard K, or a scheduler's index variable (JOB_COMPLETION_INDEX, SLURM_ARRAY_TASK_ID, AWS_BATCH_JOB_ARRAY_INDEX)".into(),
        )
    })
}

/// The task's index from the first of the schedulers' variables set:
/// JOB_COMPLETION_INDEX, SLURM_ARRAY_TASK_ID, AWS_BATCH_JOB_ARRAY_INDEX.
pub fn scheduler_index() -> Result<Option<u32>, AppError> {
    for var in [
        "JOB_COMPLETION_INDEX",
        "SLURM_ARRAY_TASK_ID",
        "AWS_BATCH_JOB_ARRAY_INDEX",
    ] {
        if let Ok(v) = std::env::var(var) {
            return v
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| AppError::Usage(format!("{var}={v:?}: not a task index (0, 1, …)")));
        }
    }
    Ok(None)
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

/// Input `k`'s rows of a shard whose rows are in `dirs` (one, or a piece
/// per part): the pieces one after the other, under the first one's
/// header, their lines renumbered. A part with no file of the input has
/// no piece of it.
fn read_rows(dirs: &[PathBuf], k: usize) -> Result<ShardInput, AppError> {
    if let [dir] = dirs {
        return read_input(dir, k);
    }
    let mut out = ShardInput {
        text: Vec::new(),
        lines: Vec::new(),
    };
    // The line the next byte appended starts.
    let mut next = 1u64;
    for dir in dirs.iter().filter(|d| d.join(NAMES[k]).exists()) {
        let piece = read_input(dir, k)?;
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(piece.text.as_slice());
        let mut header = csv::ByteRecord::new();
        let _ = rdr.read_byte_record(&mut header);
        let head = (rdr.position().byte() as usize).min(piece.text.len());
        let head_lines = crate::ingest::count_line_breaks(&piece.text[..head], piece.text.get(head).copied());
        if out.text.is_empty() {
            out.text.extend_from_slice(&piece.text[..head]);
            next = 1 + head_lines;
        }
        let body = &piece.text[head..];
        for &(l, origin) in &piece.lines {
            let at = l.checked_sub(1 + head_lines).ok_or_else(|| {
                AppError::Work(format!(
                    "{}: a row's line is inside the header; the work folder was changed: partition again",
                    dir.join(LINES[k]).display()
                ))
            })?;
            out.lines.push((at + next, origin));
        }
        next += crate::ingest::count_line_breaks(body, None);
        out.text.extend_from_slice(body);
    }
    Ok(out)
}

/// Runs shard `k` of the work folder, refusing one whose rows are more
/// than `memory_limit` bytes ([`check_memory`]); returns its result.
pub fn run_shard(work: &Path, k: u32, memory_limit: u64) -> Result<ShardResult, AppError> {
    let started = std::time::Instant::now();
    let w = Work::new(work);
    let m = w.load()?;
    check_memory(&w, &m, k, memory_limit)?;
    let policy = w.policy(&m)?;
    let cal = policy.calendar();
    let mapping = w.mapping(&m)?;
    let dirs = row_dirs(&w.shard(k), m.parts)?;
    let shard_inputs = [read_rows(&dirs, 0)?, read_rows(&dirs, 1)?, read_rows(&dirs, 2)?];
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
    // As a run does: only the FOCUS bill reads, among the reports, the
    // columns the rules are done with.
    let keep = if m.focus { Keep::All } else { Keep::ReportColumns };
    let mut rec = Reconciliation::run(policy, cal, inputs, Some(m.as_of), started.elapsed(), keep)?;
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

/// A shard whose rows are more than `limit` bytes is refused before it is
/// read (exit 3), as a run refuses such inputs, with what to do: where
/// one account, or one group of accounts whose rows meet, is more than
/// the limit alone, it is named (no number of shards splits it); else the
/// shard count that would fit. Only then are the shard's rows scanned,
/// for each account's bytes.
pub fn check_memory(w: &Work, m: &Manifest, k: u32, limit: u64) -> Result<(), AppError> {
    if k >= m.shards {
        return Err(AppError::Usage(format!(
            "--shard {k}: the work folder {} has shards 0 to {}",
            w.dir.display(),
            m.shards - 1
        )));
    }
    let dir = w.shard(k);
    let dirs = row_dirs(&dir, m.parts)?;
    let size = |d: &PathBuf, n: &str| std::fs::metadata(d.join(n)).map_or(0, |m| m.len());
    let bytes: u64 = dirs.iter().flat_map(|d| NAMES.iter().map(move |n| size(d, n))).sum();
    if bytes <= limit {
        return Ok(());
    }
    let (group, members, group_bytes) = largest_group(&dir, &dirs)?;
    let why = format!(
        "shard {k} holds {bytes} bytes of rows, more than the memory limit of {limit} bytes (--memory-limit, half the RAM by default)"
    );
    let raise = "run it where there is more memory, with --memory-limit raised";
    Err(AppError::Work(if group_bytes > limit && members == 1 {
        format!(
            "{why}: account {group} alone holds {group_bytes} bytes, and one account is judged in one piece, so no number of shards splits it; {raise}"
        )
    } else if group_bytes > limit {
        format!(
            "{why}: account {group} and the {} accounts its rows meet (payments or unsubscriptions of each other's orders, shared batches) hold {group_bytes} bytes, and they are judged together, so no number of shards splits them; {raise}",
            members - 1
        )
    } else {
        let more = (u128::from(bytes) * u128::from(m.shards)).div_ceil(u128::from(limit)) + 1;
        format!(
            "{why}; its largest account or group (account {group}, {members} account(s)) holds {group_bytes} bytes: partition again with more shards (about --shards {more}), or {raise}"
        )
    }))
}

/// The shard's largest group of accounts by the bytes of its rows: its
/// root account, its accounts, its bytes (its rows read for their
/// account_id alone; the groups from partition's groups.csv).
fn largest_group(dir: &Path, dirs: &[PathBuf]) -> Result<(String, u64, u64), AppError> {
    let bad = |p: &Path, e: &dyn std::fmt::Display| AppError::Work(format!("{}: {e}; partition again", p.display()));
    let mut roots: rustc_hash::FxHashMap<Vec<u8>, Vec<u8>> = Default::default();
    let gp = dir.join(super::partition::GROUPS);
    let mut r = csv::Reader::from_path(&gp).map_err(|e| bad(&gp, &e))?;
    for rec in r.byte_records() {
        let rec = rec.map_err(|e| bad(&gp, &e))?;
        roots.insert(rec[0].to_vec(), rec[1].to_vec());
    }
    // Per group root: (accounts, bytes).
    let mut groups: rustc_hash::FxHashMap<Vec<u8>, (rustc_hash::FxHashSet<Vec<u8>>, u64)> = Default::default();
    for p in dirs
        .iter()
        .flat_map(|d| NAMES.map(|n| d.join(n)))
        .filter(|p| p.exists())
    {
        let mut r = csv::ReaderBuilder::new()
            .flexible(true)
            .from_path(&p)
            .map_err(|e| bad(&p, &e))?;
        let header = r.byte_headers().map_err(|e| bad(&p, &e))?.clone();
        let Some(col) = header
            .iter()
            .position(|h| h.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(h) == b"account_id")
        else {
            return Err(bad(&p, &"no account_id column"));
        };
        let mut rec = csv::ByteRecord::new();
        let mut at = r.position().byte();
        while r.read_byte_record(&mut rec).map_err(|e| bad(&p, &e))? {
            let next = r.position().byte();
            let account = rec.get(col).unwrap_or_default();
            let root = roots.get(account).map_or(account, Vec::as_slice);
            let g = groups.entry(root.to_vec()).or_default();
            if !g.0.contains(account) {
                g.0.insert(account.to_vec());
            }
            g.1 += next - at;
            at = next;
        }
    }
    let (root, (accounts, bytes)) = groups
        .into_iter()
        .max_by(|a, b| (a.1 .1, &b.0).cmp(&(b.1 .1, &a.0)))
        .unwrap_or_default();
    Ok((
        String::from_utf8_lossy(&root).into_owned(),
        accounts.len() as u64,
        bytes,
    ))
}

/// Removes shard `k`'s rows (its CSVs and lines), keeping its reports:
/// `run --shards` frees the disk as it goes (a rerun of the shard then
/// needs a new partition).
pub fn drop_rows(work: &Path, k: u32) -> Result<(), AppError> {
    let w = Work::new(work);
    let dirs = row_dirs(&w.shard(k), w.load()?.parts)?;
    for p in dirs
        .iter()
        .flat_map(|d| NAMES.iter().chain(LINES.iter()).map(|n| d.join(n)))
        .filter(|p| p.exists())
    {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Accounts that meet are one group: their bytes add up under the
    /// group's root, each account counted once.
    #[test]
    fn the_largest_group_adds_up_the_accounts_that_meet() {
        let dir = tempfile::tempdir().unwrap();
        let put = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
        put("orders.csv", "order_id,account_id\no1,A\no2,B\no3,C\n");
        put("payments.csv", "account_id,payment_id\nB,p1\n");
        put("unsubscriptions.csv", "unsub_id,account_id,order_id\nu1,C,o3\n");
        put(super::super::partition::GROUPS, "account_id,group\nB,A\n");
        // A: "o1,A\n" (5); B: "o2,B\n" + "B,p1\n" (10); C: 5 + "u1,C,o3\n" (8).
        assert_eq!(
            largest_group(dir.path(), &[dir.path().to_path_buf()]).unwrap(),
            ("A".to_string(), 2, 15)
        );
        put(
            "unsubscriptions.csv",
            "unsub_id,account_id,order_id\nu1,C,o3\nu2,C,o3\n",
        );
        assert_eq!(
            largest_group(dir.path(), &[dir.path().to_path_buf()]).unwrap(),
            ("C".to_string(), 1, 21)
        );
    }
}
