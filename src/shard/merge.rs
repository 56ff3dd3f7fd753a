//! `refund-recon merge`: the shards' reports put together into the
//! reports of one run. Every account is in one shard and every report is
//! sorted by account_id first, so the merged reports are the shards' rows
//! interleaved by account (each shard lists its accounts in accounts.csv);
//! the counts and totals are added up, the control totals checked again
//! across the shards and against partition's counts, then report.html,
//! the Parquet copies and summary.json are written as a run writes them.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::path::Path;
use std::str::FromStr;

use rust_decimal::Decimal;

use super::rows::{cell, Out, Rows};
use super::since::Since;
use super::{Manifest, ShardResult, Work};
use crate::error::AppError;
use crate::model::Currency;
use crate::report::{self, output, Counts, Done, Formats, Summary, Totals};
use crate::rules::Code;

/// A shard's accounts, in byte order.
pub const ACCOUNTS: &str = "accounts.csv";
/// A shard's counts and totals ([`ShardResult`]).
pub const RESULT: &str = "shard.json";

/// The reports merged by account, and the column each is matched on.
const BY_ACCOUNT: [(&str, &str); 5] = [
    ("discrepancies.csv", "account_id"),
    ("refunds.csv", "account_id"),
    ("monthly_bill.csv", "account_id"),
    (report::focus::FILE, "BillingAccountId"),
    ("quota_usage.csv", "account_id"),
];

/// Reads every shard's result, refusing a missing, misplaced or stale one
/// (exit 3, naming it and what to run).
pub fn results(work: &Work, m: &Manifest) -> Result<Vec<(ShardResult, String)>, AppError> {
    (0..m.shards)
        .map(|k| {
            let path = work.reports(k).join(RESULT);
            let rerun = format!("run `refund-recon run --work {} --shard {k}`", work.dir.display());
            let text = std::fs::read_to_string(&path)
                .map_err(|_| AppError::Work(format!("shard {k} has no reports ({}); {rerun}", path.display())))?;
            let r: ShardResult = serde_json::from_str(&text)
                .map_err(|e| AppError::Work(format!("{}: not a shard result ({e}); {rerun}", path.display())))?;
            if r.shard != k {
                return Err(AppError::Work(format!(
                    "{}: holds the reports of shard {}, not {k} (copied or doubled); {rerun}",
                    path.display(),
                    r.shard
                )));
            }
            if r.id != m.id || r.rows != m.shard_rows[k as usize] {
                return Err(AppError::Work(format!(
                    "shard {k} is stale: its reports were made from another partition of the inputs; {rerun}"
                )));
            }
            let sha = crate::config::hex(&<sha2::Sha256 as sha2::Digest>::digest(text.as_bytes()));
            Ok((r, sha))
        })
        .collect()
}

/// The shards' accounts in byte order, each with its shard.
struct Accounts {
    readers: Vec<csv::Reader<std::io::BufReader<std::fs::File>>>,
    heap: BinaryHeap<Reverse<(Vec<u8>, u32)>>,
}

impl Accounts {
    fn open(work: &Work, shards: u32) -> Result<Accounts, AppError> {
        let mut a = Accounts {
            readers: Vec::new(),
            heap: BinaryHeap::new(),
        };
        for k in 0..shards {
            let path = work.reports(k).join(ACCOUNTS);
            let f = std::fs::File::open(&path).map_err(|e| AppError::Work(format!("{}: {e}", path.display())))?;
            a.readers.push(csv::Reader::from_reader(std::io::BufReader::new(f)));
            a.pull(k)?;
        }
        Ok(a)
    }

    fn pull(&mut self, k: u32) -> Result<(), AppError> {
        let mut rec = csv::ByteRecord::new();
        let more = self.readers[k as usize]
            .read_byte_record(&mut rec)
            .map_err(|e| AppError::Work(format!("shard {k} {ACCOUNTS}: {e}")))?;
        if more {
            self.heap.push(Reverse((rec.get(0).unwrap_or_default().to_vec(), k)));
        }
        Ok(())
    }

    fn next(&mut self) -> Result<Option<(Vec<u8>, u32)>, AppError> {
        let Some(Reverse((account, k))) = self.heap.pop() else {
            return Ok(None);
        };
        self.pull(k)?;
        Ok(Some((account, k)))
    }
}

/// Writes the merged by-account reports into `dir`.
fn merge_tables(
    work: &Work,
    m: &Manifest,
    dir: &Path,
    formats: Formats,
    mut since: Option<&mut Since<'_>>,
) -> Result<Vec<Done>, AppError> {
    let names: Vec<(&str, &str)> = BY_ACCOUNT
        .iter()
        .copied()
        .filter(|(n, _)| *n != report::focus::FILE || formats.focus)
        .collect();
    let mut outs: Vec<Out> = Vec::new();
    let mut readers: Vec<Vec<Rows>> = Vec::new();
    for (name, column) in &names {
        let mut header = Vec::new();
        let mut per_shard = Vec::new();
        for k in 0..m.shards {
            let mut h = Vec::new();
            per_shard.push(Rows::open(&work.reports(k).join(name), column, &mut h)?);
            if k == 0 {
                header = h;
            } else if h != header {
                return Err(AppError::Work(format!(
                    "shard {k}: {name} has another header; rerun the shard"
                )));
            }
        }
        let mut out = Out {
            sink: report::sink::Sink::create(&dir.join(name))?,
            buf: header,
            rows: 0,
        };
        out.flush_if_full()?;
        outs.push(out);
        readers.push(per_shard);
    }
    if let Some(s) = since.as_deref_mut() {
        let header = csv::Reader::from_reader(outs[0].buf.as_slice())
            .headers()
            .cloned()
            .unwrap_or_default();
        let at = |n: &str| header.iter().position(|h| h == n);
        s.columns = at("finding_id")
            .zip(at("severity"))
            .ok_or_else(|| AppError::Internal("discrepancies.csv has no finding_id or severity column".into()))?;
    }
    let mut accounts = Accounts::open(work, m.shards)?;
    while let Some((account, k)) = accounts.next()? {
        if let Some(s) = since.as_deref_mut() {
            s.enter(&account)?;
        }
        let want = cell(&account);
        for (t, (rows, out)) in readers.iter_mut().zip(&mut outs).enumerate() {
            let r = &mut rows[k as usize];
            while r.key() == Some(want.as_slice()) {
                // discrepancies.csv is first: with --baseline, its rows get
                // their standing.
                let start = out.buf.len();
                match since.as_deref_mut().filter(|_| t == 0) {
                    Some(s) => {
                        let id = r.field(s.columns.0).map(<[u8]>::to_vec);
                        let severity = r.field(s.columns.1).map(<[u8]>::to_vec);
                        r.copy(&mut out.buf)?;
                        s.patch(&account, (id.as_deref(), severity.as_deref()), &mut out.buf, start)?;
                    }
                    None => r.copy(&mut out.buf)?,
                }
                out.rows += 1;
            }
            out.flush_if_full()?;
        }
    }
    for (rows, (name, _)) in readers.iter().zip(&names) {
        if let Some(k) = rows.iter().position(|r| r.key().is_some()) {
            return Err(AppError::Internal(format!(
                "shard {k}: {name} has rows of an account missing from its {ACCOUNTS} or out of order"
            )));
        }
    }
    outs.into_iter().map(Out::finish).collect()
}

/// A file of the work folder copied into the reports (rejects.csv from
/// partition, resolved.csv from shard 0: its header).
fn copy_file(from: &Path, to: &Path) -> Result<Done, AppError> {
    let bytes = std::fs::read(from).map_err(|e| AppError::Work(format!("{}: {e}", from.display())))?;
    let rows = csv::Reader::from_reader(bytes.as_slice()).byte_records().count() as u64;
    let mut sink = report::sink::Sink::create(to)?;
    sink.put(&bytes)?;
    sink.finish(Some(rows))
}

/// What `merge` was asked for.
pub struct Options<'a> {
    pub work: &'a Path,
    pub out: &'a Path,
    pub keep_work: bool,
    /// `--baseline`, read before anything is written (it may be `out`).
    pub baseline: Option<&'a Path>,
}

/// Merges the work folder's shards into `--out`; returns the summary.
pub fn merge(opt: &Options<'_>) -> Result<Summary, AppError> {
    let started = chrono::Utc::now();
    let t = std::time::Instant::now();
    let work = Work::new(opt.work);
    let m = work.load()?;
    let policy = work.policy(&m)?;
    let cal = policy.calendar();
    let mapping = work.mapping(&m)?;
    let coverage = crate::mapping::coverage::coverage(mapping.as_ref());
    let shards = results(&work, &m)?;
    let results: Vec<&ShardResult> = shards.iter().map(|(r, _)| r).collect();
    // Rows conserved: the shards hold every row partition accepted.
    for (k, name) in super::partition::NAMES.iter().enumerate() {
        let sum: u64 = results.iter().map(|r| r.rows[k]).sum();
        if sum != m.accepted[k] {
            return Err(AppError::Internal(format!(
                "control total failed: the shards read {sum} rows of {name}, partition accepted {}",
                m.accepted[k]
            )));
        }
    }
    let mut counts = Counts::new(&coverage);
    let mut totals: BTreeMap<Currency, Totals> = BTreeMap::new();
    for r in &results {
        for (code, n) in &r.by_code {
            let c =
                Code::parse(code).ok_or_else(|| AppError::Work(format!("shard {}: unknown code {code}", r.shard)))?;
            counts.add(c, *n);
        }
        for (c, (e, rec)) in &r.totals {
            let c = Currency::parse(c).ok_or_else(|| AppError::Work(format!("shard {}: currency {c}", r.shard)))?;
            let d = |s: &str| Decimal::from_str(s).map_err(|_| AppError::Work(format!("shard {}: total {s}", r.shard)));
            let t = totals.entry(c).or_default();
            t.expected += d(e)?;
            t.recorded += d(rec)?;
        }
    }
    let formats = Formats {
        focus: m.focus,
        parquet: m.parquet,
    };
    let mut summary = Summary::from_parts(
        m.policy.clone(),
        (m.inputs.clone(), m.mapping_info.clone()),
        cal.format(m.as_of),
        counts,
        (&coverage, &policy),
        totals,
    );
    summary.reports = report::files_for(formats);
    summary.accounts = m.accounts.clone();
    summary.shards = shards
        .iter()
        .map(|(r, sha)| report::ShardEntry {
            shard: r.shard,
            rows: r.rows,
            sha256: sha.clone(),
        })
        .collect();
    summary.started_at = started.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    // The baseline is opened (and checked) before anything is written: it
    // may be `out` itself, which publish replaces only at the end.
    let (baseline, reader) = match opt.baseline {
        Some(dir) => {
            let (b, reader) = report::Baseline::open_stream(dir, &m.policy.sha256, &m.accounts)?;
            b.check_order(m.as_of, &cal)?;
            (Some(b), Some(reader))
        }
        None => (None, None),
    };
    let lock = output::lock(opt.out)?;
    output::publish(opt.out, &lock, |dir| {
        let resolved = dir.join("resolved.csv");
        let mut since = match (&baseline, reader) {
            (Some(b), Some(reader)) => Some(Since::new((b, reader), &resolved, &coverage, &cal, m.as_of)?),
            _ => None,
        };
        let mut done = merge_tables(&work, &m, dir, formats, since.as_mut())?;
        match since {
            Some(s) => {
                let (d, info) = s.finish()?;
                summary.baseline = Some(info);
                done.push(d);
            }
            None => done.push(copy_file(&work.reports(0).join("resolved.csv"), &resolved)?),
        }
        done.push(copy_file(&work.dir.join("rejects.csv"), &dir.join("rejects.csv"))?);
        check_totals(&m, &summary, &done)?;
        done.push(report::html::write(dir, &summary, None)?);
        done.extend(report::write_parquet_copies(
            dir,
            formats,
            policy.billing_timezone.name(),
        )?);
        let mut written = report::in_order(done, formats);
        if let Some(d) = super::explain::write_index(&work, &m, &results, dir)? {
            written.push(d);
        }
        summary.set_timings(&crate::engine::Timings {
            write: t.elapsed(),
            ..Default::default()
        });
        report::finish(&mut summary, dir, written)
    })?;
    if !opt.keep_work {
        std::fs::remove_dir_all(&work.dir).map_err(|e| {
            AppError::Output(format!(
                "{}: the reports are written, but the work folder could not be removed ({e})",
                work.dir.display()
            ))
        })?;
    }
    Ok(summary)
}

/// The merged files against the counts: one row per finding, per reject.
fn check_totals(m: &Manifest, s: &Summary, done: &[Done]) -> Result<(), AppError> {
    let rows = |name: &str| done.iter().find(|d| d.entry.name == name).map_or(0, Done::rows);
    let rejected: u64 = m.inputs.iter().map(|i| i.rejected).sum();
    if rows("discrepancies.csv") != s.findings.total || rows("rejects.csv") != rejected {
        return Err(AppError::Internal(format!(
            "control total failed: merged {} findings and {} rejects, the shards counted {} and partition {rejected}",
            rows("discrepancies.csv"),
            rows("rejects.csv"),
            s.findings.total
        )));
    }
    Ok(())
}
