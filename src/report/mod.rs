//! The reports of docs/outputs.md, written into a folder (the caller makes
//! that a temporary folder and publishes it atomically, see [`output`]).
//!
//! Rows are formatted in parallel, a batch of accounts at a time, and
//! written in order, so memory stays bounded and the bytes do not depend
//! on the thread count.

pub mod csvout;
pub mod html;
mod monthly_bill;
pub mod output;
pub mod schema;
mod summary;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufWriter, Write};
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

pub use summary::{BaselineInfo, Summary, Totals};

/// The report files, in the order they are written.
pub const FILES: [&str; 7] = [
    "discrepancies.csv",
    "refunds.csv",
    "monthly_bill.csv",
    "quota_usage.csv",
    "rejects.csv",
    "report.html",
    "summary.json",
];

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

/// Writes a CSV file: the header, then the rows that `row` appends for
/// each item, formatted in parallel a batch at a time and written in order.
fn write_csv<T: Sync>(
    path: &Path,
    header: &[&str],
    items: &[T],
    batch: usize,
    row: impl Fn(&T, &mut Rows) + Sync,
) -> Result<u64, AppError> {
    let file = File::create(path).map_err(|e| io_err(path, e))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let mut head = Rows::with_capacity(256);
    for h in header {
        head.plain(h);
    }
    head.end();
    out.write_all(&head.buf).map_err(|e| io_err(path, e))?;
    let mut written = 0u64;
    for group in items.chunks(batch * rayon::current_num_threads().max(1) * 4) {
        let parts: Vec<(Vec<u8>, u64)> = group
            .par_chunks(batch)
            .map(|chunk| {
                let mut rows = Rows::with_capacity(chunk.len() * 160);
                for item in chunk {
                    row(item, &mut rows);
                }
                (rows.buf, rows.rows)
            })
            .collect();
        for (p, n) in parts {
            out.write_all(&p).map_err(|e| io_err(path, e))?;
            written += n;
        }
    }
    let file = out.into_inner().map_err(|e| io_err(path, e.into_error()))?;
    let _s = crate::trace::span("  fsync");
    file.sync_all().map_err(|e| io_err(path, e))?;
    Ok(written)
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
pub const DISCREPANCIES_HEADER: [&str; 12] = [
    "severity",
    "code",
    "account_id",
    "unsub_id",
    "order_id",
    "payment_id",
    "field",
    "expected",
    "recorded",
    "delta",
    "currency",
    "message",
];

/// One finding as a row of discrepancies.csv.
pub fn finding_row(r: &mut Rows, rec: &Reconciliation, f: &Finding) {
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
    r.end();
}

/// Writes every report into `dir` and returns the summary.
pub fn write_reports(rec: &Reconciliation, sel: &Selection, dir: &Path, started_at: &str) -> Result<Summary, AppError> {
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
    let findings_written = write_csv(
        &dir.join("discrepancies.csv"),
        &DISCREPANCIES_HEADER,
        &findings,
        4096,
        |f, r| finding_row(r, rec, f),
    )?;

    drop(_s);
    let _s = crate::trace::span("write refunds.csv");
    let u_acct = rec.inputs.unsubs.account_id.view();
    let selected: Vec<&Outcome> = rec
        .outcomes
        .iter()
        .filter(|o| sel.keeps(u_acct.get(o.unsub as usize)))
        .collect();
    write_csv(&dir.join("refunds.csv"), &REFUNDS_HEADER, &selected, 2048, |o, r| {
        refund_row(r, rec, o)
    })?;

    drop(_s);
    let _s = crate::trace::span("write monthly_bill.csv");
    let bill_start = std::time::Instant::now();
    let billed = monthly_bill::write(rec, sel, &dir.join("monthly_bill.csv"))?;
    let aggregate = bill_start.elapsed();

    drop(_s);
    // quota_usage.csv
    let quota: Vec<_> = rec.quota.iter().filter(|q| sel.keeps(&q.account_id)).collect();
    write_csv(
        &dir.join("quota_usage.csv"),
        &[
            "account_id",
            "year",
            "allowed",
            "granted",
            "denied_by_quota",
            "recorded_unconditional",
            "over_quota",
        ],
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
    let rejects_written = write_csv(
        &dir.join("rejects.csv"),
        &["file", "line", "record_id", "column", "value", "reason"],
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
    summary.started_at = started_at.to_string();
    summary.accounts = sel.accounts();
    // report.html reads the CSV files back; it shows no timings.
    html::write(dir, &summary)?;
    let mut timings = rec.timings;
    timings.aggregate = aggregate;
    timings.write = t.elapsed() - aggregate;
    summary.set_timings(&timings);
    summary.write(&dir.join("summary.json"))?;
    Ok(summary)
}

const REFUNDS_HEADER: [&str; 25] = [
    "unsub_id",
    "account_id",
    "order_id",
    "batch_id",
    "status",
    "currency",
    "expected_type",
    "recorded_type",
    "cash_due",
    "cash_paid",
    "expected_refund",
    "recorded_refund",
    "expected_fee",
    "recorded_fee",
    "expected_coupon_returned",
    "recorded_coupon_returned",
    "review_required",
    "approved_at",
    "expected_cycle",
    "recorded_cycle",
    "refund_deadline",
    "quota_used",
    "config_data_purge_at",
    "log_data_purge_at",
    "findings",
];

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
/// money bound (README "Money bound"); an overflow is still an error.
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
                "{} line {}: the refund total in {c} does not fit; amounts are limited to {} (README \"Money bound\")",
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
