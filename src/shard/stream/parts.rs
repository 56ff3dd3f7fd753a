//! A streaming partition made by map tasks (docs/scale.md, "Map tasks"):
//! the three passes of the module above, with the first and the third
//! spread over M tasks, each over a share of the input files.
//!
//! 1. `partition --part I/M` reads its files (pass 1) into
//!    `parts/part-IIIII/`: its spills, bucketed as every part buckets them
//!    (the bucket count follows the size of all the inputs, which every
//!    task sees), each accepted row's account, and `part.json` (what it
//!    read of each file, its rejects).
//! 2. `partition --settle` settles what crosses parts (pass 2): bucket b
//!    is every part's bucket b, so duplicate ids, order → account links,
//!    batches and as_of are settled exactly as in one piece. It writes the
//!    manifest (the shards' rows counted from the parts' account lists),
//!    rejects.csv, the groups, and the state the copy needs
//!    (`parts/losers-K.bin`, `parts/roots.csv`).
//! 3. `partition --part I/M --copy` copies its files' kept rows (pass 3)
//!    into `shard-KKKKK/part-IIIII/`.
//!
//! Parts are contiguous runs of the inputs' files (about equal bytes), so
//! a shard's pieces read in part order are its rows in the exports'
//! order, as a partition in one piece writes them.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{
    buckets_for, check, copy_input, describe, explain_of, manifest, out_err, pass1, settle, shard_dirs, total_bytes,
    AccountList, InputFiles, Read1, Settled, Streamed,
};
use crate::error::AppError;
use crate::ingest::Reject;

/// The parts' folder in a work folder.
pub const PARTS: &str = "parts";
const RECORD: &str = "part.json";
const COPIED: &str = "copied.json";
const ROOTS: &str = "roots.csv";

/// Part `part`'s folder.
pub fn part_dir(work: &Path, part: u32) -> PathBuf {
    work.join(PARTS).join(format!("part-{part:05}"))
}

/// Which part reads each file of each input: the files in input order
/// (orders, payments, unsubscriptions), cut into `parts` contiguous runs
/// of about equal bytes.
pub fn plan(files: &[InputFiles; 3], parts: u32) -> [Vec<u32>; 3] {
    let size = |p: &PathBuf| std::fs::metadata(p).map_or(0, |m| m.len());
    let sizes: Vec<Vec<u64>> = files.iter().map(|f| f.paths.iter().map(size).collect()).collect();
    let total: u64 = sizes.iter().flatten().sum();
    let mut before = 0u64;
    std::array::from_fn(|k| {
        sizes[k]
            .iter()
            .map(|&n| {
                let part = match total {
                    0 => 0,
                    t => (u128::from(before) * u128::from(parts) / u128::from(t)) as u32,
                };
                before += n;
                part.min(parts - 1)
            })
            .collect()
    })
}

/// What a part read of one file (an [`crate::ingest::InputMeta`] and its
/// SHA-256).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct FileRead {
    input: usize,
    file: usize,
    name: String,
    path: PathBuf,
    bytes: u64,
    rows_read: u64,
    rejected: u64,
    accepted: u64,
    extra_columns: Vec<String>,
    line_offsets: Vec<u64>,
    sha256: String,
}

/// `part.json`: what a map task read.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct PartRecord {
    part: u32,
    parts: u32,
    /// The inputs' files (all parts'), their bytes in all, the buckets.
    paths: [Vec<PathBuf>; 3],
    context: [usize; 3],
    total: u64,
    buckets: usize,
    files: Vec<FileRead>,
    /// Per input, the rows its checks rejected.
    rejects: [Vec<Reject>; 3],
}

/// `I/M` of `--part`; `M` alone takes I from the scheduler's index
/// variable (as `run --work` takes its shard).
pub fn parse_part(v: &str) -> Result<(u32, u32), AppError> {
    let bad = || {
        AppError::Usage(format!(
            "--part {v}: give I/M, the part I (0 … M-1) of M parts, or M with the index in JOB_COMPLETION_INDEX, SLURM_ARRAY_TASK_ID or AWS_BATCH_JOB_ARRAY_INDEX"
        ))
    };
    let (i, m): (u32, u32) = match v.split_once('/') {
        Some((i, m)) => (
            i.trim().parse().map_err(|_| bad())?,
            m.trim().parse().map_err(|_| bad())?,
        ),
        None => (
            crate::shard::task::scheduler_index()?.ok_or_else(bad)?,
            v.trim().parse().map_err(|_| bad())?,
        ),
    };
    if m == 0 || i >= m {
        return Err(bad());
    }
    Ok((i, m))
}

/// Pass 1 of part `part` of `parts` into the work folder `work`; returns
/// the rows it read per input.
pub fn read_part(s: &Streamed<'_>, work: &Path, part: u32, parts: u32) -> Result<[u64; 3], AppError> {
    let cal = s.policy.calendar();
    let plan = plan(&s.files, parts);
    let total = total_bytes(s);
    let n = buckets_for(total);
    let dir = part_dir(work, part);
    let tmp = dir.with_extension("tmp");
    let _ = std::fs::remove_dir_all(&tmp);
    let spilled = pass1(s, &cal, &tmp, n, &|k, fi| plan[k][fi] == part)?;
    let mut record = PartRecord {
        part,
        parts,
        paths: std::array::from_fn(|k| s.files[k].paths.clone()),
        context: std::array::from_fn(|k| s.files[k].context),
        total,
        buckets: n,
        files: Vec::new(),
        rejects: Default::default(),
    };
    let mut rows = [0u64; 3];
    for (k, read) in spilled.reads.into_iter().enumerate() {
        let mine = (0..plan[k].len()).filter(|&fi| plan[k][fi] == part);
        for (fi, (m, sha)) in mine.zip(read.meta) {
            rows[k] += m.rows_read;
            record.files.push(FileRead {
                input: k,
                file: fi,
                name: m.name,
                path: m.path,
                bytes: m.bytes,
                rows_read: m.rows_read,
                rejected: m.rejected,
                accepted: m.accepted,
                extra_columns: m.extra_columns,
                line_offsets: m.line_offsets,
                sha256: sha,
            });
        }
        record.rejects[k] = read.rejects;
    }
    write_json(&tmp.join(RECORD), &record)?;
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| out_err(&dir, e))?;
    }
    std::fs::rename(&tmp, &dir).map_err(|e| out_err(&dir, e))?;
    Ok(rows)
}

fn write_json<T: Serialize>(path: &Path, v: &T) -> Result<(), AppError> {
    let text = serde_json::to_vec(v).expect("a part record serializes");
    std::fs::write(path, text).map_err(|e| out_err(path, e))
}

/// Reads part `p`'s record, refusing one that is missing or was read from
/// other files (exit 3, naming the part and what to run).
fn load_record(work: &Path, p: u32, parts: Option<u32>) -> Result<PartRecord, AppError> {
    let path = part_dir(work, p).join(RECORD);
    let m = parts.map_or("M".to_string(), |m| m.to_string());
    let rerun = format!("run `refund-recon partition --part {p}/{m}` with the same input options");
    let text = std::fs::read(&path).map_err(|_| AppError::Work(format!("part {p} has not been read; {rerun}")))?;
    let r: PartRecord = serde_json::from_slice(&text)
        .map_err(|e| AppError::Work(format!("{}: not a part record ({e}); {rerun}", path.display())))?;
    let in_range = r.files.iter().all(|f| f.input < 3 && f.file < r.paths[f.input].len());
    if !in_range || r.parts == 0 {
        return Err(AppError::Work(format!(
            "{}: a damaged part record; {rerun}",
            path.display()
        )));
    }
    if r.part != p || parts.is_some_and(|m| m != r.parts) {
        return Err(AppError::Work(format!(
            "{}: holds part {}/{}, not {p}/{m}; {rerun}",
            path.display(),
            r.part,
            r.parts
        )));
    }
    Ok(r)
}

/// Pass 2 over the parts read into `opt.work`, for the inputs `s` (the
/// same options the parts were read with): the manifest, rejects.csv,
/// the shards' folders with their groups, and the copy's state.
pub fn settle_parts(
    s: &Streamed<'_>,
    opt: &crate::shard::partition::Options<'_>,
) -> Result<crate::shard::Manifest, AppError> {
    let work = opt.work;
    let first = load_record(work, 0, None)?;
    let parts = first.parts;
    let records: Vec<PartRecord> = (0..parts)
        .map(|p| load_record(work, p, Some(parts)))
        .collect::<Result<_, _>>()?;
    let paths: [Vec<PathBuf>; 3] = std::array::from_fn(|k| s.files[k].paths.clone());
    let total = total_bytes(s);
    for r in &records {
        if r.paths != paths || r.total != total {
            return Err(AppError::Work(format!(
                "part {} was read from other input files (or they changed since); run `refund-recon partition --part {}/{parts}` again with these input options",
                r.part, r.part
            )));
        }
    }
    let n = first.buckets;
    let bucket = |kind: &str, b: usize| -> Vec<PathBuf> {
        (0..parts)
            .map(|p| part_dir(work, p).join(format!("{kind}-{b:04}")))
            .collect()
    };
    let kinds = ["ids", "orders", "batches"].map(|kind| (0..n).map(|b| bucket(kind, b)).collect::<Vec<_>>());
    let settled = settle(&kinds[0], &kinds[1], &kinds[2])?;
    let mut reads: [Read1; 3] = Default::default();
    let mut files: Vec<FileRead> = records.iter().flat_map(|r| r.files.iter().cloned()).collect();
    files.sort_by_key(|f| (f.input, f.file));
    for f in files {
        let meta = crate::ingest::InputMeta {
            file: crate::shard::partition::NAMES[f.input],
            name: f.name,
            path: f.path,
            bytes: f.bytes,
            rows_read: f.rows_read,
            rejected: f.rejected,
            accepted: f.accepted,
            extra_columns: f.extra_columns,
            line_offsets: f.line_offsets,
            ..Default::default()
        };
        reads[f.input].meta.push((meta, f.sha256));
    }
    for (k, read) in reads.iter_mut().enumerate() {
        if read.meta.len() != paths[k].len() {
            return Err(AppError::Internal(format!(
                "the parts read {} of the {} files of {}",
                read.meta.len(),
                paths[k].len(),
                crate::shard::partition::NAMES[k]
            )));
        }
        read.rejects = records.iter().flat_map(|r| r.rejects[k].iter().cloned()).collect();
    }
    let explain = explain_of(s, &reads, work)?;
    let (inputs, rejects, accepted) = describe(s, reads, &settled)?;
    check(s, &inputs, &settled)?;
    let shard_rows = count_rows(work, parts, opt.shards, &settled)?;
    crate::shard::partition::all_copied(&accepted, &shard_rows)?;
    remove_shards(work)?;
    shard_dirs(work, opt.shards, &settled)?;
    write_state(work, &settled)?;
    for p in (0..parts).flat_map(|p| ["ids", "orders", "batches"].map(|k| (p, k))) {
        for b in 0..n {
            let _ = std::fs::remove_file(part_dir(work, p.0).join(format!("{}-{b:04}", p.1)));
        }
    }
    let mut m = manifest(s, opt, &settled, (inputs, accepted, shard_rows), explain);
    m.parts = parts;
    crate::shard::partition::write_work(work, m, &rejects, s.policy, None)
}

/// Removes the shard folders of an earlier partition of the work folder.
fn remove_shards(work: &Path) -> Result<(), AppError> {
    for e in std::fs::read_dir(work).map_err(|e| out_err(work, e))? {
        let e = e.map_err(|e| out_err(work, e))?;
        if e.file_name().to_string_lossy().starts_with("shard-") {
            std::fs::remove_dir_all(e.path()).map_err(|er| out_err(&e.path(), er))?;
        }
    }
    Ok(())
}

/// Each shard's kept rows per input, from the parts' account lists.
fn count_rows(work: &Path, parts: u32, shards: u32, settled: &Settled) -> Result<Vec<[u64; 3]>, AppError> {
    let mut rows = vec![[0u64; 3]; shards as usize];
    for p in 0..parts {
        for (k, losers) in settled.losers.iter().enumerate() {
            let mut list = AccountList::open(&part_dir(work, p).join(format!("accounts-{k}")))?;
            let mut acct = Vec::new();
            while let Some(line) = list.next_row(&mut acct)? {
                let name = String::from_utf8_lossy(&acct);
                if losers.binary_search(&line).is_ok() {
                    continue;
                }
                let root = settled.roots.get(name.as_ref()).map_or(name.as_ref(), String::as_str);
                rows[crate::shard::shard_of(root, shards) as usize][k] += 1;
            }
        }
    }
    Ok(rows)
}

/// What the copy needs of pass 2: the lines that lost to an earlier row
/// of the same id (per input, u64 little-endian), the accounts' roots.
fn write_state(work: &Path, settled: &Settled) -> Result<(), AppError> {
    let dir = work.join(PARTS);
    for (k, losers) in settled.losers.iter().enumerate() {
        let path = dir.join(format!("losers-{k}.bin"));
        let bytes: Vec<u8> = losers.iter().flat_map(|l| l.to_le_bytes()).collect();
        std::fs::write(&path, bytes).map_err(|e| out_err(&path, e))?;
    }
    let path = dir.join(ROOTS);
    let mut w = csv::Writer::from_path(&path).map_err(|e| AppError::Output(format!("{}: {e}", path.display())))?;
    let mut roots: Vec<(&String, &String)> = settled.roots.iter().collect();
    roots.sort_unstable();
    for (a, r) in roots {
        w.write_record([a, r])
            .map_err(|e| AppError::Output(format!("{}: {e}", path.display())))?;
    }
    w.flush().map_err(|e| out_err(&path, e))
}

fn read_state(work: &Path) -> Result<Settled, AppError> {
    let dir = work.join(PARTS);
    let stale = |p: &Path, e: &dyn std::fmt::Display| {
        AppError::Work(format!(
            "{}: {e}; run `refund-recon partition --settle` first",
            p.display()
        ))
    };
    let mut s = Settled::default();
    for (k, losers) in s.losers.iter_mut().enumerate() {
        let path = dir.join(format!("losers-{k}.bin"));
        let bytes = std::fs::read(&path).map_err(|e| stale(&path, &e))?;
        *losers = bytes
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect();
    }
    let path = dir.join(ROOTS);
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_path(&path)
        .map_err(|e| stale(&path, &e))?;
    for rec in r.records() {
        let rec = rec.map_err(|e| stale(&path, &e))?;
        s.roots.insert(rec[0].to_string(), rec[1].to_string());
    }
    Ok(s)
}

/// Pass 3 of part `part` (after the settle): its files' kept rows copied
/// into `shard-KKKKK/part-IIIII/`, each shard's piece put in place whole
/// (a task killed and rerun writes the same bytes). Returns the rows per
/// shard and input.
pub fn copy_part(work: &Path, part: u32, parts: u32) -> Result<Vec<[u64; 3]>, AppError> {
    let w = crate::shard::Work::new(work);
    let m = w.load()?;
    if m.parts != parts {
        return Err(AppError::Work(format!(
            "{}: the work folder was settled from {} parts, not {parts}; copy with --part I/{}",
            w.manifest().display(),
            m.parts,
            m.parts
        )));
    }
    let record = load_record(work, part, Some(parts))?;
    let settled = read_state(work)?;
    let pieces: Vec<PathBuf> = (0..m.shards)
        .map(|k| w.shard(k).join(format!("part-{part:05}")))
        .collect();
    let tmps: Vec<PathBuf> = pieces.iter().map(|p| p.with_extension("tmp")).collect();
    for t in &tmps {
        let _ = std::fs::remove_dir_all(t);
        std::fs::create_dir_all(t).map_err(|e| out_err(t, e))?;
    }
    let mut rows = vec![[0u64; 3]; m.shards as usize];
    for k in 0..3 {
        let files = InputFiles {
            paths: record.paths[k].clone(),
            context: record.context[k],
        };
        let mine: Vec<usize> = record.files.iter().filter(|f| f.input == k).map(|f| f.file).collect();
        if mine.is_empty() {
            continue;
        }
        let accounts = part_dir(work, part).join(format!("accounts-{k}"));
        let got = copy_input(k, (&files, &mine), &accounts, &settled, m.shards, &tmps)?;
        for (r, n) in rows.iter_mut().zip(got) {
            r[k] = n;
        }
    }
    for (t, p) in tmps.iter().zip(&pieces) {
        if p.exists() {
            std::fs::remove_dir_all(p).map_err(|e| out_err(p, e))?;
        }
        std::fs::rename(t, p).map_err(|e| out_err(p, e))?;
    }
    write_json(&part_dir(work, part).join(COPIED), &rows)?;
    Ok(rows)
}

/// The folders of shard `dir`'s rows: itself, or its pieces (one per part,
/// in part order) for a partition made in parts; refused (exit 3) where a
/// part has not been copied.
pub fn row_dirs(dir: &Path, parts: u32) -> Result<Vec<PathBuf>, AppError> {
    if parts == 0 {
        return Ok(vec![dir.to_path_buf()]);
    }
    (0..parts)
        .map(|p| {
            let d = dir.join(format!("part-{p:05}"));
            if d.is_dir() {
                Ok(d)
            } else {
                Err(AppError::Work(format!(
                    "{}: part {p} has not been copied; run `refund-recon partition --part {p}/{parts} --copy --work …`",
                    d.display()
                )))
            }
        })
        .collect()
}
