//! The reports of docs/outputs.md, written into a folder (the caller makes
//! that a temporary folder and publishes it atomically, see [`output`]).
//!
//! Rows are formatted in parallel, a batch of accounts at a time, and
//! written in order, so memory stays bounded and the bytes do not depend
//! on the thread count; a writer thread hashes and writes one group of
//! batches while the next is formatted ([`sink::pipeline`]). Every file
//! is hashed as it is written, and all are fsynced together before
//! summary.json lists them ([`sink`]).

pub mod baseline;
pub mod control;
pub mod csvout;
mod direct;
pub mod explain_index;
pub mod focus;
pub mod html;
pub mod manifest;
mod monthly_bill;
pub mod output;
pub mod parquet;
pub mod schema;
pub mod sink;
mod summary;
pub mod table;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;
use rust_decimal::Decimal;

use crate::engine::{Outcome, Reconciliation, RowIndex};
use crate::error::AppError;
use crate::ingest::Table;
use crate::model::{Currency, UnsubStatus};
use crate::money;
use crate::money::Stored;
use crate::rules::r0_linking::Link;
use crate::rules::{Cell, Finding};

pub use csvout::{CellList, CellWriter, Rows};
pub use parquet::Formats;

pub use baseline::Baseline;
pub use manifest::{verify, FileEntry};
pub use sink::{Done, Written};
pub use summary::{
    input_infos, mapping_info, BaselineInfo, Counts, InputInfo, MappingInfo, PolicyInfo, ShardEntry, Summary, Totals,
};

use crate::rules::finding::FindingId;
use baseline::Since;

/// The report files a run writes by default, in summary.json's order
/// ([`table::REPORTS`] declares them all; a unit test keeps the two equal).
pub const FILES: [&str; 8] = [
    "discrepancies.csv",
    "resolved.csv",
    "refunds.csv",
    "monthly_bill.csv",
    "quota_usage.csv",
    "rejects.csv",
    "report.html",
    "summary.json",
];

pub use table::{files_for, is_report, write_rejects};

/// What the reports of a run are written with besides the results.
#[derive(Debug, Clone, Copy)]
pub struct ReportOptions<'a> {
    /// When the run started (summary.json).
    pub started_at: &'a str,
    /// `--baseline`: the previous run to compare the findings with.
    pub baseline: Option<&'a Baseline>,
    /// `--format`: Parquet copies too.
    pub formats: Formats,
}

/// Which accounts the reports keep (`--account`); all when empty.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    accounts: BTreeSet<String>,
}

impl Selection {
    pub fn new(accounts: impl IntoIterator<Item = String>) -> Self {
        Selection {
            accounts: accounts.into_iter().collect(),
        }
    }

    pub fn keeps(&self, account: &str) -> bool {
        self.accounts.is_empty() || self.accounts.contains(account)
    }

    pub fn is_all(&self) -> bool {
        self.accounts.is_empty()
    }

    /// The selected accounts, sorted (empty: all).
    pub fn accounts(&self) -> Vec<String> {
        self.accounts.iter().cloned().collect()
    }
}

/// A report that could not be written. It names the report only: the
/// file is in the temporary folder, which [`output::publish`] removes, and
/// publish says which `--out` it was for.
pub(crate) fn io_err(path: &Path, e: std::io::Error) -> AppError {
    AppError::Output(format!(
        "cannot write {} ({e})",
        path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default()
    ))
}

/// Creates a CSV report and writes its header line.
fn csv_sink(path: &Path, header: &[&str]) -> Result<sink::Sink, AppError> {
    with_header(sink::Sink::create(path)?, header)
}

/// Creates a CSV report that the run reads back only for its Parquet copy
/// (the FOCUS bill, refunds.csv): around the page cache
/// ([`sink::Sink::create_direct`]) unless that copy is asked for.
fn unread_csv_sink(path: &Path, header: &[&str], formats: Formats) -> Result<sink::Sink, AppError> {
    report_sink(path, header, formats.parquet)
}

/// Creates a CSV report: through the page cache when something reads it
/// back soon (`read_back`: a Parquet copy, report.html, `merge`), else
/// around it, which costs far less CPU for a large report
/// (docs/performance.md).
fn report_sink(path: &Path, header: &[&str], read_back: bool) -> Result<sink::Sink, AppError> {
    let sink = if read_back {
        sink::Sink::create(path)?
    } else {
        sink::Sink::create_direct(path)?
    };
    with_header(sink, header)
}

/// Writes a CSV header line into a new report.
fn with_header(mut out: sink::Sink, header: &[&str]) -> Result<sink::Sink, AppError> {
    let mut head = Rows::with_capacity(1024);
    for h in header {
        head.plain(h);
    }
    head.end();
    out.put(&head.buf)?;
    Ok(out)
}

/// Writes a CSV file: the header, then the rows that `row` appends for
/// each item, formatted in parallel a batch at a time and written in order
/// ([`sink::pipeline`]). The file's entry counts its data rows.
fn write_csv<T: Sync>(
    path: &Path,
    header: &[&str],
    items: &[T],
    batch: usize,
    row: impl Fn(&T, &mut Rows) + Sync,
) -> Result<Done, AppError> {
    write_csv_into(csv_sink(path, header)?, items, batch, row)
}

/// [`write_csv`] into a sink already made, its header written.
fn write_csv_into<T: Sync>(
    mut out: sink::Sink,
    items: &[T],
    batch: usize,
    row: impl Fn(&T, &mut Rows) + Sync,
) -> Result<Done, AppError> {
    // Each batch's buffer sized for the longest rows on average of the
    // batches before it, so that it is not grown by copying: refunds.csv's
    // and discrepancies.csv's rows are 220–250 bytes on average.
    let row_bytes = AtomicUsize::new(160);
    let n = sink::pipeline(
        &mut out,
        items,
        batch,
        |chunk| {
            let mut rows = Rows::with_capacity(chunk.len() * row_bytes.load(Ordering::Relaxed));
            for item in chunk {
                row(item, &mut rows);
            }
            row_bytes.fetch_max(rows.buf.len().div_ceil(chunk.len().max(1)) + 16, Ordering::Relaxed);
            (rows, ())
        },
        |()| {},
    )?;
    out.finish(Some(n))
}

/// An amount cell at the currency's minor units (exact without one).
fn amount_cell<W: CellWriter>(rows: &mut W, rec: &Reconciliation, v: Decimal, currency: Option<Currency>) {
    match currency {
        Some(c) => rows.amount(v, rec.policy.minor_units.of(c), rec.policy.rounding),
        None => rows.plain(&v.to_string()),
    }
}

fn cell<W: CellWriter>(rows: &mut W, rec: &Reconciliation, c: &Cell, currency: Option<Currency>) {
    match c {
        Cell::Empty => rows.empty(),
        Cell::Text(s) => rows.text(s),
        Cell::Amount(v) => amount_cell(rows, rec, *v, currency),
        Cell::Count(n) => rows.plain(&n.to_string()),
    }
}

/// The columns of discrepancies.csv.
pub const DISCREPANCIES_HEADER: [&str; 16] = schema::header(&schema::DISCREPANCIES);

/// A finding's id, and how it stands against `--baseline` (None without).
#[derive(Debug, Clone, Copy)]
pub struct Tracked {
    pub id: FindingId,
    pub since: Option<Since>,
}

/// One finding as a row of discrepancies.csv, or as its cells
/// ([`CellList`], for explain): one function for both.
pub fn finding_row<W: CellWriter>(r: &mut W, rec: &Reconciliation, f: &Finding, t: &Tracked) {
    r.plain(f.severity().as_str());
    r.plain(f.code.as_str());
    r.text(f.account_id());
    r.text(f.unsub_id());
    r.text(f.order_id());
    r.text(f.payment_id());
    r.plain(f.field);
    cell(r, rec, &f.expected, f.currency);
    cell(r, rec, &f.recorded, f.currency);
    cell(r, rec, &f.delta, f.currency);
    r.plain(f.currency.as_ref().map(|c| c.as_str()).unwrap_or(""));
    r.text(&f.message);
    r.plain(&t.id.to_string());
    match t.since {
        Some(s) => {
            r.plain(if s.new { "new" } else { "persisting" });
            r.ts(s.first_seen, &rec.cal);
            r.plain(&s.age_days(rec.as_of).to_string());
        }
        None => {
            r.empty();
            r.empty();
            r.empty();
        }
    }
    r.end();
}

/// Writes every report but summary.json into `dir`; returns the summary
/// and the files written, listed in [`table::REPORTS`]' order, for
/// [`finish`]. First the CSVs from the results, then the control totals
/// and the summary, then what reads them back: the FOCUS bill and the
/// Parquet copies beside report.html.
pub fn write_reports(
    rec: &Reconciliation,
    sel: &Selection,
    dir: &Path,
    opts: ReportOptions<'_>,
) -> Result<(Summary, Written), AppError> {
    let t = std::time::Instant::now();
    let job = job(rec, sel, dir, opts);
    let (mut summary, mut done, aggregate, bill) = write_tables(&job)?;
    let (read_back, page) = rayon::join(|| write_read_back(&job), || html::write(dir, &summary, bill));
    done.extend(read_back?);
    done.push(page?);
    let written = in_order(done, opts.formats);
    let mut timings = rec.timings;
    timings.aggregate = aggregate;
    timings.write = t.elapsed() - aggregate;
    summary.set_timings(&timings);
    Ok((summary, written))
}

/// A shard's reports (docs/scale.md): the CSVs and the FOCUS bill of its
/// accounts, no report.html and no Parquet copies (`merge` writes those
/// for the merged folder).
pub fn write_shard_reports(
    rec: &Reconciliation,
    sel: &Selection,
    dir: &Path,
    opts: ReportOptions<'_>,
) -> Result<(Summary, Written), AppError> {
    let opts = ReportOptions {
        formats: Formats {
            parquet: false,
            ..opts.formats
        },
        ..opts
    };
    let job = table::Job {
        html: false,
        ..job(rec, sel, dir, opts)
    };
    let (summary, mut done, _, _) = write_tables(&job)?;
    done.extend(write_read_back(&job)?);
    Ok((summary, in_order(done, opts.formats)))
}

/// What [`write_tables`] gives: the summary, the files, the bill's time
/// and report.html's digest of the bill.
type Tables = (Summary, Vec<Done>, std::time::Duration, Option<html::Bill>);

/// The CSV reports from the results, then the control totals and the
/// summary (its file list still empty); returns the bill's time and
/// digest too.
fn write_tables(job: &table::Job<'_>) -> Result<Tables, AppError> {
    let (sel, dir, opts) = (job.sel, job.dir, job.opts);
    let mut facts = table::Facts::default();
    let mut done: Vec<Done> = Vec::with_capacity(table::REPORTS.len());
    for r in &table::REPORTS {
        if let table::Writer::Csv(write) = r.writer {
            done.push(write(job, &dir.join(r.name), &mut facts)?);
        }
    }
    let mut summary = checked_summary(job, &facts)?;
    summary.reports = files_for(opts.formats);
    summary.baseline = facts.since_baseline.take();
    summary.started_at = opts.started_at.to_string();
    summary.accounts = sel.accounts();
    Ok((summary, done, facts.aggregate, facts.bill.take()))
}

/// The files written, in [`table::REPORTS`]' order.
pub fn in_order(mut done: Vec<Done>, formats: Formats) -> Written {
    let mut written = Written::default();
    for r in table::REPORTS.iter().filter(|r| r.written_with(formats)) {
        if let Some(at) = done.iter().position(|d| d.entry.name == r.name) {
            written.push(done.swap_remove(at));
        }
    }
    debug_assert!(done.is_empty(), "every file written is a declared report");
    written
}

/// The findings and outcomes the selection keeps, in the order they are
/// written, each finding with its id and its standing against
/// `--baseline`.
fn job<'a>(rec: &'a Reconciliation, sel: &'a Selection, dir: &'a Path, opts: ReportOptions<'a>) -> table::Job<'a> {
    let mut findings: Vec<&Finding> = rec
        .other_findings
        .iter()
        .chain(rec.outcomes.iter().flat_map(|o| o.findings.iter()))
        .filter(|f| sel.keeps(f.account_id()))
        .collect();
    crate::rules::finding::sort_in_order(&mut findings);
    let tracked = findings
        .par_iter()
        .map(|f| {
            let id = f.id();
            let since = opts.baseline.map(|b| b.since(id, rec.as_of));
            (*f, Tracked { id, since })
        })
        .collect();
    let u_acct = rec.inputs.unsubs.account_id.view();
    let selected = rec
        .outcomes
        .iter()
        .filter(|o| sel.keeps(u_acct.get(o.unsub as usize)))
        .collect();
    table::Job {
        rec,
        sel,
        dir,
        opts,
        tracked,
        selected,
        html: true,
    }
}

/// The control totals ([`control`]; checked in every build), then the
/// summary of the CSVs written.
fn checked_summary(job: &table::Job<'_>, facts: &table::Facts) -> Result<Summary, AppError> {
    let _s = crate::trace::span("control totals + summary");
    let rec = job.rec;
    let failed = |e: String| AppError::Internal(format!("control total failed: {e}"));
    let skew = control::Skew::from_env();
    let totals = refund_totals(rec, &job.selected)?;
    let i = &rec.inputs;
    let kept = [i.orders.len() as u64, i.payments.len() as u64, i.unsubs.len() as u64];
    let mut files: Vec<control::FileRows> = i
        .metas
        .iter()
        .zip(kept)
        .map(|(m, accepted)| control::FileRows {
            name: m.name.clone(),
            rows_read: m.rows_read,
            accepted,
            rejected: m.rejected,
        })
        .collect();
    if i.mapped.is_none() && i.metas.iter().any(|m| !m.files.is_empty()) {
        // Inputs read from several files: each file's rows, their sum
        // checked against the input's.
        let mut per_file = Vec::new();
        for (f, m) in files.iter().zip(i.metas.iter()) {
            if m.files.is_empty() {
                per_file.push(f.clone());
                continue;
            }
            let sum = |g: fn(&crate::ingest::FileCount) -> u64| m.files.iter().map(g).sum::<u64>();
            if (sum(|x| x.rows_read), sum(|x| x.accepted), sum(|x| x.rejected)) != (f.rows_read, f.accepted, f.rejected)
            {
                return Err(failed(format!(
                    "{}: its files' rows do not add up to the input's",
                    m.file
                )));
            }
            per_file.extend(m.files.iter().map(|x| control::FileRows {
                name: x.file.clone(),
                rows_read: x.rows_read,
                accepted: x.accepted,
                rejected: x.rejected,
            }));
        }
        files = per_file;
    }
    if let Some(mapped) = &i.mapped {
        // Mapped rows' rejects name their source files: count per source
        // file (the rows a mapping made from it), after checking that the
        // source files' rows add up to each input's.
        for (f, m) in files.iter().zip(i.metas.iter()) {
            let of = |g: fn(&crate::ingest::SourceCount) -> u64| -> u64 {
                mapped
                    .sources
                    .iter()
                    .filter(|s| s.input == m.file.trim_end_matches(".csv"))
                    .map(g)
                    .sum()
            };
            if (of(|s| s.rows), of(|s| s.accepted), of(|s| s.rejected)) != (f.rows_read, f.accepted, f.rejected) {
                return Err(failed(format!(
                    "{}: the mapping's source files made {} rows ({} accepted, {} rejected), ingest counted {} ({} + {})",
                    m.file,
                    of(|s| s.rows),
                    of(|s| s.accepted),
                    of(|s| s.rejected),
                    f.rows_read,
                    f.accepted,
                    f.rejected
                )));
            }
        }
        files = mapped
            .sources
            .iter()
            .map(|s| control::FileRows {
                name: s.file.clone(),
                rows_read: s.rows,
                accepted: s.accepted,
                rejected: s.rejected,
            })
            .collect();
    }
    let listed = |name: &str| i.rejects.iter().filter(|r| r.file == name).count() as u64;
    control::rows_conserved(&files, listed, facts.rejects_written + skew.rows).map_err(failed)?;
    let mut billed = facts.billed.clone();
    if skew.bill != 0 {
        *billed.entry(Currency::parse("USD").expect("a currency")).or_default() += skew.bill;
    }
    let from_refunds = totals
        .iter()
        .map(|(c, t)| (*c, monthly_bill::scaled(t.expected)))
        .collect();
    let show = |c: Currency, v: i128| {
        let mut b = Vec::new();
        money::write_scaled(
            &mut b,
            v,
            monthly_bill::SCALE,
            rec.policy.minor_units.of(c),
            rec.policy.rounding,
        );
        String::from_utf8_lossy(&b).into_owned()
    };
    control::bill_ties_out(&billed, &from_refunds, show).map_err(failed)?;
    let findings: Vec<&Finding> = job.tracked.iter().map(|(f, _)| *f).collect();
    let summary = Summary::new(rec, &findings, totals);
    let counts = &summary.findings;
    control::findings_counted(
        counts.total,
        counts.by_severity.values().sum(),
        counts.by_code.values().flatten().sum(),
        facts.findings_written + skew.findings,
    )
    .map_err(failed)?;
    Ok(summary)
}

/// The reports read back from the finished CSVs: the FOCUS bill (on
/// request) and the Parquet copies (docs/parquet.md). They run beside
/// report.html, which reads only the CSVs and runs on one core while the
/// FOCUS bill's writer leaves the other partly idle (rayon's join, not a
/// thread of its own: report.html joins rayon work too, and a worker
/// blocked on a plain thread join could deadlock the pool at --threads 1).
fn write_read_back(job: &table::Job<'_>) -> Result<Vec<Done>, AppError> {
    let formats = job.opts.formats;
    let mut done = Vec::new();
    if formats.focus {
        let _s = crate::trace::span("write monthly_bill.focus.csv");
        done.push(focus::write(job.rec, job.sel, &job.dir.join(focus::FILE), formats)?);
    }
    done.extend(write_parquet_copies(
        job.dir,
        formats,
        job.rec.policy.billing_timezone.name(),
    )?);
    Ok(done)
}

/// The Parquet copies `formats` asks for, read back from the CSVs in `dir`
/// (docs/parquet.md); `billing` is the billing zone's name.
pub fn write_parquet_copies(dir: &Path, formats: Formats, billing: &str) -> Result<Vec<Done>, AppError> {
    let copies: Vec<(&str, &[schema::Column])> = table::REPORTS
        .iter()
        .filter(|r| r.written_with(formats))
        .filter_map(|r| match (r.writer, r.columns) {
            (table::Writer::ParquetCopy(csv), Some(columns)) => Some((csv, columns)),
            _ => None,
        })
        .collect();
    if copies.is_empty() {
        return Ok(Vec::new());
    }
    let _s = crate::trace::span("write parquet copies");
    parquet::write_copies(dir, &copies, billing)
}

/// Completes a reports folder: makes every file the run wrote (`written`,
/// the explain index included) durable, lists them with the SHA-256, size
/// and rows taken while they were written, then writes summary.json — last.
pub fn finish(summary: &mut Summary, dir: &Path, mut written: Written) -> Result<(), AppError> {
    let _s = crate::trace::span("write summary.json");
    written.sync_all()?;
    summary.files = written.entries().to_vec();
    summary.write(&dir.join("summary.json"))
}

/// Writes resolved.csv (the baseline's findings that are gone) and
/// returns what changed since the baseline, and the file.
fn write_resolved(
    rec: &Reconciliation,
    b: &Baseline,
    tracked: &[(&Finding, Tracked)],
    path: &Path,
) -> Result<(BaselineInfo, Done), AppError> {
    let mut current: Vec<FindingId> = tracked.iter().map(|(_, t)| t.id).collect();
    current.par_sort_unstable();
    current.dedup();
    let d = resolved_file(&rec.coverage, &rec.cal, b, &current, path)?;
    let mut since = SinceCounts::default();
    for (f, t) in tracked {
        since.add(t.since.is_some_and(|s| s.new), f.severity());
    }
    Ok((since.info(b, &rec.cal, d.rows()), d))
}

/// resolved.csv: the baseline's findings whose id is not in `current`
/// (sorted). A finding whose code this run did not check (its columns are
/// absent from a mapped export) is not resolved: it was not looked for.
pub fn resolved_file(
    coverage: &crate::mapping::coverage::Coverage,
    cal: &crate::time::Calendar,
    b: &Baseline,
    current: &[FindingId],
    path: &Path,
) -> Result<Done, AppError> {
    let mut out = ResolvedRows::create(path, coverage, cal, b.as_of)?;
    for p in b.resolved(current) {
        out.push(p)?;
    }
    out.finish()
}

/// resolved.csv written a finding at a time: the baseline's findings gone
/// now, except those of a code this run did not check (docs/mapping.md).
pub struct ResolvedRows<'a> {
    sink: sink::Sink,
    rows: Rows,
    coverage: &'a crate::mapping::coverage::Coverage,
    cal: &'a crate::time::Calendar,
    /// The baseline's as_of (each row's last_seen).
    last_seen: crate::time::Micros,
}

impl<'a> ResolvedRows<'a> {
    pub fn create(
        path: &Path,
        coverage: &'a crate::mapping::coverage::Coverage,
        cal: &'a crate::time::Calendar,
        last_seen: crate::time::Micros,
    ) -> Result<ResolvedRows<'a>, AppError> {
        Ok(ResolvedRows {
            sink: csv_sink(path, &baseline::RESOLVED_HEADER)?,
            rows: Rows::with_capacity(1 << 16),
            coverage,
            cal,
            last_seen,
        })
    }

    /// Writes `p` unless this run did not check its code.
    pub fn push(&mut self, p: &baseline::PastFinding) -> Result<(), AppError> {
        if crate::rules::Code::parse(&p.cells[1]).is_some_and(|c| !self.coverage.checks(c)) {
            return Ok(());
        }
        let r = &mut self.rows;
        r.plain(&p.id.to_string());
        for c in &p.cells {
            r.text(c);
        }
        r.ts(p.first_seen, self.cal);
        r.ts(self.last_seen, self.cal);
        r.end();
        if r.buf.len() >= 1 << 16 {
            self.sink.put(&r.buf)?;
            r.buf.clear();
        }
        Ok(())
    }

    pub fn finish(mut self) -> Result<Done, AppError> {
        self.sink.put(&self.rows.buf)?;
        self.sink.finish(Some(self.rows.rows))
    }
}

/// This run's findings against a baseline: new (errors among them) and
/// persisting.
#[derive(Debug, Default, Clone, Copy)]
pub struct SinceCounts {
    pub new: u64,
    pub new_errors: u64,
    pub persisting: u64,
}

impl SinceCounts {
    pub fn add(&mut self, new: bool, severity: crate::rules::Severity) {
        if new {
            self.new += 1;
            self.new_errors += u64::from(severity == crate::rules::Severity::Error);
        } else {
            self.persisting += 1;
        }
    }

    /// summary.json's `baseline`, with `resolved` rows in resolved.csv.
    pub fn info(&self, b: &Baseline, cal: &crate::time::Calendar, resolved: u64) -> BaselineInfo {
        let as_of = cal.format(b.as_of);
        let plural = |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        BaselineInfo {
            headline: format!(
                "{} since {as_of}, {resolved} resolved",
                plural(self.new_errors, "new error", "new errors")
            ),
            path: b.path.display().to_string(),
            as_of,
            new_errors: self.new_errors,
            new: self.new,
            persisting: self.persisting,
            resolved,
            mapping_sha256: b.mapping_sha256.clone(),
        }
    }
}

const REFUNDS_HEADER: [&str; 25] = schema::header(&schema::REFUNDS);

/// One row of refunds.csv (docs/outputs.md#refundscsv).
fn refund_row(r: &mut Rows, rec: &Reconciliation, o: &Outcome) {
    let u = &rec.inputs.unsubs;
    let i = o.unsub as usize;
    let cal = &rec.cal;
    let linked_order = !matches!(o.link, Link::OrderNotFound | Link::AccountMismatch);
    let currency = if linked_order { o.currency } else { None };
    let oi = rec.order_of_unsub[i];
    let completed = u.status[i] == UnsubStatus::Completed;
    let evaluated = o.evaluated();
    r.text(u.unsub_id.view().get(i));
    r.text(u.account_id.view().get(i));
    r.text(u.order_id.view().get(i));
    r.text(u.batch_id.view().get(i));
    r.plain(u.status[i].as_str());
    match &currency {
        Some(c) => r.plain(c.as_str()),
        None => r.empty(),
    }
    r.plain(o.expected_type.map(|t| t.as_str()).unwrap_or(""));
    r.plain(if completed {
        u.refund_type[i].map(|t| t.as_str()).unwrap_or("")
    } else {
        ""
    });
    if let Some(oi) = oi.map(RowIndex::get).filter(|_| linked_order) {
        amount_cell(r, rec, rec.inputs.orders.cash_due(oi), currency);
        amount_cell(r, rec, rec.pay.cash_paid.get(oi), currency);
    } else {
        r.empty();
        r.empty();
    }
    let expected = |r: &mut Rows, v: Decimal| {
        if o.expected_type.is_some() {
            amount_cell(r, rec, v, currency)
        } else {
            r.empty()
        }
    };
    let recorded = |r: &mut Rows, v: Option<Decimal>| match v {
        Some(v) => amount_cell(r, rec, v, currency),
        None => r.empty(),
    };
    expected(r, o.amounts.refund);
    recorded(r, u.refund_amount[i].map(Stored::get));
    expected(r, o.amounts.fee);
    recorded(r, u.handling_fee[i].map(Stored::get));
    expected(r, o.amounts.coupon);
    recorded(r, u.coupon_returned[i].map(Stored::get));
    match (evaluated, o.review.map(|v| v.required)) {
        (true, Some(b)) => r.plain(if b { "true" } else { "false" }),
        _ => r.empty(),
    }
    r.opt_ts(o.approved_at().filter(|_| evaluated), cal);
    match o.expected_cycle.filter(|_| evaluated) {
        Some(m) => r.month(m),
        None => r.empty(),
    }
    match u.billing_cycle[i].filter(|_| completed) {
        Some(m) => r.month(m),
        None => r.empty(),
    }
    r.opt_ts(o.deadline.map(|d| d.deadline).filter(|_| evaluated), cal);
    match o.quota_used.filter(|_| evaluated) {
        Some(q) => r.int(u64::from(q)),
        None => r.empty(),
    }
    let completed_at = u.completed_at.get(i);
    r.opt_ts(completed_at.map(|t| t + rec.policy.config_days * crate::time::DAY), cal);
    r.opt_ts(completed_at.map(|t| cal.start_of_next_local_day(t)), cal);
    r.joined(o.codes());
    r.end();
}

/// Expected and recorded refunds of completed unsubscriptions, per
/// currency (summary.json and the control total). The sums fit by the
/// money bound (docs/design.md "Money bound"); an overflow is still an error.
/// Expected and recorded refunds per currency of the outcomes the
/// selection keeps, exact (a shard's part of summary.json's totals).
pub fn selected_totals(rec: &Reconciliation, sel: &Selection) -> Result<BTreeMap<Currency, Totals>, AppError> {
    let u_acct = rec.inputs.unsubs.account_id.view();
    let selected: Vec<&Outcome> = rec
        .outcomes
        .iter()
        .filter(|o| sel.keeps(u_acct.get(o.unsub as usize)))
        .collect();
    refund_totals(rec, &selected)
}

fn refund_totals(rec: &Reconciliation, selected: &[&Outcome]) -> Result<BTreeMap<Currency, Totals>, AppError> {
    // The sums are exact, so summing runs of outcomes in parallel gives the
    // same totals; an overflow (impossible within the money bound) is
    // reported by the serial pass, which names its row.
    let add = |mut a: BTreeMap<Currency, Totals>, (c, t): (Currency, Totals)| {
        let e = a.entry(c).or_default();
        e.expected = e.expected.checked_add(t.expected)?;
        e.recorded = e.recorded.checked_add(t.recorded)?;
        Some(a)
    };
    let parallel = selected
        .par_chunks(1 << 14)
        .map(|run| {
            run.iter()
                .filter_map(|o| refund_of(rec, o))
                .try_fold(BTreeMap::new(), add)
        })
        .try_reduce(BTreeMap::new, |a, b| b.into_iter().try_fold(a, add));
    if let Some(totals) = parallel {
        return Ok(totals);
    }
    let u = &rec.inputs.unsubs;
    let mut totals: BTreeMap<Currency, Totals> = BTreeMap::new();
    for o in selected {
        let Some((c, t)) = refund_of(rec, o) else { continue };
        let r = o.unsub as usize;
        if let Some(sum) = add(std::mem::take(&mut totals), (c, t)) {
            totals = sum;
            continue;
        }
        return Err(AppError::Arithmetic(format!(
            "{} line {}: the refund total in {c} does not fit; amounts are limited to {} (docs/design.md, \"Money bound\")",
            rec.inputs.origin(2, u.line(r)).0,
            rec.inputs.origin(2, u.line(r)).2,
            crate::money::MAX_AMOUNT
        )));
    }
    Ok(totals)
}

/// A completed unsubscription's currency and refunds, expected (when R3
/// ran) and recorded, for summary.json's totals; `None` for the others.
fn refund_of(rec: &Reconciliation, o: &Outcome) -> Option<(Currency, Totals)> {
    let u = &rec.inputs.unsubs;
    let r = o.unsub as usize;
    if u.status[r] != UnsubStatus::Completed || matches!(o.link, Link::OrderNotFound | Link::AccountMismatch) {
        return None;
    }
    let c = o.currency?;
    let expected = if o.expected_type.is_some() {
        o.amounts.refund
    } else {
        Decimal::ZERO
    };
    let recorded = u.refund_amount[r].map_or(Decimal::ZERO, Stored::get);
    Some((c, Totals { expected, recorded }))
}
