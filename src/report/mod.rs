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
pub mod csvout;
mod direct;
pub mod focus;
pub mod html;
pub mod manifest;
mod monthly_bill;
pub mod output;
pub mod parquet;
pub mod schema;
pub mod sink;
mod summary;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use rayon::prelude::*;
use rust_decimal::Decimal;

use crate::engine::{Outcome, Reconciliation, RowIndex};
use crate::error::AppError;
use crate::ingest::Table;
use crate::model::{Currency, UnsubStatus};
use crate::money;
use crate::rules::r0_linking::Link;
use crate::rules::{Cell, Finding};

pub use csvout::Rows;
pub use parquet::Formats;

pub use baseline::Baseline;
pub use manifest::{verify, FileEntry};
pub use sink::{Done, Written};
pub use summary::{BaselineInfo, Summary, Totals};

use crate::rules::finding::FindingId;
use baseline::Since;

/// The report files a run writes by default, in summary.json's order.
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

/// The report files a run with `formats` writes, in summary.json's order:
/// the FOCUS bill after monthly_bill.csv, the Parquet copies before
/// summary.json.
pub fn files_for(formats: Formats) -> Vec<&'static str> {
    let mut names = Vec::with_capacity(FILES.len() + 1 + parquet::FILES.len());
    for name in FILES {
        if name == "summary.json" && formats.parquet {
            names.extend(
                parquet::FILES
                    .into_iter()
                    .filter(|n| formats.focus || *n != parquet::FOCUS_COPY),
            );
        }
        names.push(name);
        if name == "monthly_bill.csv" && formats.focus {
            names.push(focus::FILE);
        }
    }
    names
}

/// Whether `name` is a file some run writes into a reports folder.
pub fn is_report(name: &str) -> bool {
    FILES.contains(&name) || name == focus::FILE || parquet::is_copy(name)
}

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
    let sink = if formats.parquet {
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
    let n = sink::pipeline(
        &mut out,
        items,
        batch,
        |chunk| {
            let mut rows = Rows::with_capacity(chunk.len() * 160);
            for item in chunk {
                row(item, &mut rows);
            }
            (rows, ())
        },
        |()| {},
    )?;
    out.finish(Some(n))
}

/// Formats an amount at the currency's minor units (exact without one).
fn amount(rec: &Reconciliation, v: Decimal, currency: Option<Currency>) -> String {
    match currency {
        Some(c) => money::format(v, rec.policy.minor_units.of(c), rec.policy.rounding),
        None => v.to_string(),
    }
}

/// An amount cell at the currency's minor units (exact without one).
fn amount_cell(rows: &mut Rows, rec: &Reconciliation, v: Decimal, currency: Option<Currency>) {
    match currency {
        Some(c) => rows.amount(v, rec.policy.minor_units.of(c), rec.policy.rounding),
        None => rows.plain(&v.to_string()),
    }
}

fn cell(rows: &mut Rows, rec: &Reconciliation, c: &Cell, currency: Option<Currency>) {
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

/// One finding as a row of discrepancies.csv.
pub fn finding_row(r: &mut Rows, rec: &Reconciliation, f: &Finding, t: &Tracked) {
    r.plain(f.severity().as_str());
    r.plain(f.code.as_str());
    r.text(&f.account_id);
    r.text(&f.unsub_id);
    r.text(&f.order_id);
    r.text(&f.payment_id);
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
/// and the files written, for [`finish`].
pub fn write_reports(
    rec: &Reconciliation,
    sel: &Selection,
    dir: &Path,
    opts: ReportOptions<'_>,
) -> Result<(Summary, Written), AppError> {
    let t = std::time::Instant::now();
    // discrepancies.csv
    let mut findings: Vec<&Finding> = rec
        .other_findings
        .iter()
        .chain(rec.outcomes.iter().flat_map(|o| o.findings.iter()))
        .filter(|f| sel.keeps(&f.account_id))
        .collect();
    findings.par_sort_unstable_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    let _s = crate::trace::span("write discrepancies.csv");
    let tracked: Vec<(&Finding, Tracked)> = findings
        .par_iter()
        .map(|f| {
            let id = f.id();
            let since = opts.baseline.map(|b| b.since(id, rec.as_of));
            (*f, Tracked { id, since })
        })
        .collect();
    let d = write_csv(
        &dir.join("discrepancies.csv"),
        &DISCREPANCIES_HEADER,
        &tracked,
        4096,
        |(f, t), r| finding_row(r, rec, f, t),
    )?;
    let findings_written = d.rows();
    let mut written = Written::default();
    written.push(d);
    let since_baseline = match opts.baseline {
        Some(b) => {
            let (info, d) = write_resolved(rec, b, &tracked, &dir.join("resolved.csv"))?;
            written.push(d);
            Some(info)
        }
        None => {
            written.push(write_csv(
                &dir.join("resolved.csv"),
                &baseline::RESOLVED_HEADER,
                &[(); 0],
                1,
                |_, _| {},
            )?);
            None
        }
    };
    drop(tracked);

    drop(_s);
    let _s = crate::trace::span("write refunds.csv");
    let u_acct = rec.inputs.unsubs.account_id.view();
    let selected: Vec<&Outcome> = rec
        .outcomes
        .iter()
        .filter(|o| sel.keeps(u_acct.get(o.unsub as usize)))
        .collect();
    written.push(write_csv_into(
        unread_csv_sink(&dir.join("refunds.csv"), &REFUNDS_HEADER, opts.formats)?,
        &selected,
        2048,
        |o, r| refund_row(r, rec, o),
    )?);

    drop(_s);
    let _s = crate::trace::span("write monthly_bill.csv");
    let bill_start = std::time::Instant::now();
    let (billed, d) = monthly_bill::write(rec, sel, &dir.join("monthly_bill.csv"))?;
    written.push(d);
    let aggregate = bill_start.elapsed();

    drop(_s);
    // quota_usage.csv
    let quota: Vec<_> = rec.quota.iter().filter(|q| sel.keeps(&q.account_id)).collect();
    let quota = write_csv(
        &dir.join("quota_usage.csv"),
        &schema::header(&schema::QUOTA_USAGE),
        &quota,
        4096,
        |q, r| {
            r.text(&q.account_id);
            r.plain(&q.year.to_string());
            r.int(u64::from(q.allowed));
            r.int(u64::from(q.granted));
            r.int(u64::from(q.denied_by_quota));
            r.int(u64::from(q.recorded_unconditional));
            r.plain(if q.recorded_unconditional > q.allowed {
                "true"
            } else {
                "false"
            });
            r.end();
        },
    )?;

    // rejects.csv: whole, also with --account (rejects have no trusted account).
    let rejects = write_csv(
        &dir.join("rejects.csv"),
        &schema::header(&schema::REJECTS),
        &rec.inputs.rejects,
        4096,
        |x, r| {
            r.text(&x.file);
            r.int(x.line);
            r.text(&x.record_id);
            r.text(&x.column);
            r.text(&x.value);
            r.text(&x.reason);
            r.end();
        },
    )?;
    let rejects_written = rejects.rows();

    // Control totals (checked in every build), then summary.json. The
    // test hook skews one figure to prove each check fires (exit 5).
    let skew = std::env::var("REFUND_RECON_TEST_SKEW_CONTROL_TOTAL").unwrap_or_default();
    let totals = refund_totals(rec, &selected)?;
    check_rows_conserved(rec, rejects_written + u64::from(skew == "rows"))?;
    let mut billed = billed;
    if skew == "bill" {
        *billed.entry(Currency::parse("USD").expect("a currency")).or_default() += 1;
    }
    check_bill_ties_out(rec, &billed, &totals)?;
    let mut summary = Summary::new(rec, &findings, totals);
    check_findings_counted(&summary, findings_written + u64::from(skew == "findings"))?;
    summary.baseline = since_baseline;
    summary.started_at = opts.started_at.to_string();
    summary.accounts = sel.accounts();
    summary.reports = files_for(opts.formats);

    // The FOCUS bill (and the Parquet copies) beside report.html, which
    // reads only the CSV reports finished above back and runs on one core
    // while the FOCUS bill's writer leaves the other partly idle.
    // (rayon's join, not a thread of its own: report.html joins rayon work
    // too, and a worker blocked on a plain thread join could deadlock the
    // pool at --threads 1.)
    let (bill_files, page) = rayon::join(
        || -> Result<(Option<Done>, Vec<Done>), AppError> {
            // The FOCUS bill on request (`--format csv,focus`).
            let bill = if opts.formats.focus {
                let _s = crate::trace::span("write monthly_bill.focus.csv");
                Some(focus::write(rec, sel, &dir.join(focus::FILE), opts.formats)?)
            } else {
                None
            };
            // Parquet copies (docs/parquet.md), read back from the finished CSVs.
            let mut copies = Vec::new();
            if opts.formats.parquet {
                let _s = crate::trace::span("write parquet copies");
                let copied: Vec<(&str, &[schema::Column])> = parquet::COPIED
                    .into_iter()
                    .filter(|(csv, _)| opts.formats.focus || *csv != focus::FILE)
                    .collect();
                copies = parquet::write_copies(dir, &copied, rec.policy.billing_timezone.name())?;
            }
            Ok((bill, copies))
        },
        || html::write(dir, &summary),
    );
    // summary.json lists the files in this order.
    let (bill, copies) = bill_files?;
    written.extend(bill);
    written.push(quota);
    written.push(rejects);
    written.extend(copies);
    written.push(page?);
    let mut timings = rec.timings;
    timings.aggregate = aggregate;
    timings.write = t.elapsed() - aggregate;
    summary.set_timings(&timings);
    Ok((summary, written))
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
    let gone: Vec<&baseline::PastFinding> = b.resolved(&current).collect();
    let last_seen = b.as_of;
    let d = write_csv(path, &baseline::RESOLVED_HEADER, &gone, 4096, |p, r| {
        r.plain(&p.id.to_string());
        for c in &p.cells {
            r.text(c);
        }
        r.ts(p.first_seen, &rec.cal);
        r.ts(last_seen, &rec.cal);
        r.end();
    })?;
    let resolved = d.rows();
    let (mut new, mut new_errors, mut persisting) = (0u64, 0u64, 0u64);
    for (f, t) in tracked {
        match t.since {
            Some(s) if s.new => {
                new += 1;
                new_errors += u64::from(f.severity() == crate::rules::Severity::Error);
            }
            _ => persisting += 1,
        }
    }
    let as_of = rec.cal.format(b.as_of);
    let plural = |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let info = BaselineInfo {
        headline: format!(
            "{} since {as_of}, {resolved} resolved",
            plural(new_errors, "new error", "new errors")
        ),
        path: b.path.display().to_string(),
        as_of,
        new_errors,
        new,
        persisting,
        resolved,
    };
    Ok((info, d))
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
        amount_cell(r, rec, rec.pay.cash_paid[oi], currency);
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
    recorded(r, u.refund_amount[i]);
    expected(r, o.amounts.fee);
    recorded(r, u.handling_fee[i]);
    expected(r, o.amounts.coupon);
    recorded(r, u.coupon_returned[i]);
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
    let completed_at = u.completed_at[i];
    r.opt_ts(completed_at.map(|t| t + rec.policy.config_days * crate::time::DAY), cal);
    r.opt_ts(completed_at.map(|t| cal.start_of_next_local_day(t)), cal);
    r.joined(o.codes());
    r.end();
}

/// Expected and recorded refunds of completed unsubscriptions, per
/// currency (summary.json and the control total). The sums fit by the
/// money bound (docs/design.md "Money bound"); an overflow is still an error.
fn refund_totals(rec: &Reconciliation, selected: &[&Outcome]) -> Result<BTreeMap<Currency, Totals>, AppError> {
    let u = &rec.inputs.unsubs;
    let mut totals: BTreeMap<Currency, Totals> = BTreeMap::new();
    for o in selected {
        let r = o.unsub as usize;
        if u.status[r] != UnsubStatus::Completed || matches!(o.link, Link::OrderNotFound | Link::AccountMismatch) {
            continue;
        }
        let Some(c) = o.currency else { continue };
        let t = totals.entry(c).or_default();
        let overflow = || {
            AppError::Arithmetic(format!(
                "{} line {}: the refund total in {c} does not fit; amounts are limited to {} (docs/design.md, \"Money bound\")",
                rec.inputs.metas.unsubs.name,
                u.line(r),
                crate::money::MAX_AMOUNT
            ))
        };
        if o.expected_type.is_some() {
            t.expected = t.expected.checked_add(o.amounts.refund).ok_or_else(overflow)?;
        }
        t.recorded = t
            .recorded
            .checked_add(u.refund_amount[r].unwrap_or_default())
            .ok_or_else(overflow)?;
    }
    Ok(totals)
}

/// Control total: for each input file, rows read = rows accepted (kept in
/// the table) + rows rejected (in rejects.csv), counted independently.
fn check_rows_conserved(rec: &Reconciliation, rejects_written: u64) -> Result<(), AppError> {
    let i = &rec.inputs;
    let kept = [i.orders.len() as u64, i.payments.len() as u64, i.unsubs.len() as u64];
    for (m, kept) in i.metas.iter().zip(kept) {
        // Two inputs may share a file name; compare per name.
        let same: Vec<_> = i.metas.iter().filter(|x| x.name == m.name).collect();
        let rejected = i.rejects.iter().filter(|r| r.file == m.name).count() as u64;
        let expected_rejects: u64 = same.iter().map(|x| x.rejected).sum();
        if m.rows_read != kept + m.rejected || rejected != expected_rejects {
            return Err(AppError::Internal(format!(
                "control total failed: {} rows read {} ≠ accepted {} + rejected {} (rejects listed for it: {rejected})",
                m.name, m.rows_read, kept, m.rejected
            )));
        }
    }
    let read: u64 = i.metas.iter().map(|m| m.rows_read).sum();
    let accepted = (i.orders.len() + i.payments.len() + i.unsubs.len()) as u64;
    if read != accepted + rejects_written {
        return Err(AppError::Internal(format!(
            "control total failed: rows read {read} (all files) ≠ accepted {accepted} + rejected {rejects_written} (rows of rejects.csv)"
        )));
    }
    Ok(())
}

/// The monthly bill's expected refunds must equal refunds.csv's, per
/// currency — a failure is a bug, never a silent report. Compared exactly,
/// as integers of 10⁻⁶.
fn check_bill_ties_out(
    rec: &Reconciliation,
    from_bill: &BTreeMap<Currency, i128>,
    totals: &BTreeMap<Currency, Totals>,
) -> Result<(), AppError> {
    let show = |c: Currency, v: i128| {
        let mut b = Vec::new();
        crate::money::write_scaled(
            &mut b,
            v,
            monthly_bill::SCALE,
            rec.policy.minor_units.of(c),
            rec.policy.rounding,
        );
        String::from_utf8_lossy(&b).into_owned()
    };
    for (c, t) in totals {
        let billed = from_bill.get(c).copied().unwrap_or_default();
        if monthly_bill::scaled(t.expected) != billed {
            return Err(AppError::Internal(format!(
                "control total failed: monthly_bill expected_refunds {} {c} ≠ refunds.csv expected refunds {} {c}",
                show(*c, billed),
                amount(rec, t.expected, Some(*c))
            )));
        }
    }
    for (c, v) in from_bill {
        if *v != 0 && !totals.contains_key(c) {
            return Err(AppError::Internal(format!(
                "control total failed: monthly_bill expected_refunds {} {c} ≠ refunds.csv expected refunds 0 {c} (none listed)",
                show(*c, *v)
            )));
        }
    }
    Ok(())
}

/// summary.json's finding count must equal the rows of discrepancies.csv.
fn check_findings_counted(summary: &Summary, written: u64) -> Result<(), AppError> {
    let by_severity: u64 = summary.findings.by_severity.values().sum();
    let by_code: u64 = summary.findings.by_code.values().sum();
    if summary.findings.total != written || by_severity != written || by_code != written {
        return Err(AppError::Internal(format!(
            "control total failed: summary.json counts {} findings ({by_severity} by severity, {by_code} by code) ≠ {written} rows of discrepancies.csv",
            summary.findings.total
        )));
    }
    Ok(())
}
