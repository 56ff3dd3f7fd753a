//! The reports of SPEC §5, written into a folder (the caller makes that a
//! temporary folder and publishes it atomically, see [`output`]).
//!
//! Rows are formatted in parallel, a batch of accounts at a time, and
//! written in order, so memory stays bounded and the bytes do not depend
//! on the thread count.

mod monthly_bill;
pub mod output;
mod summary;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use rayon::prelude::*;
use rust_decimal::Decimal;

use crate::engine::{Outcome, Reconciliation, NONE};
use crate::error::AppError;
use crate::model::{Currency, UnsubStatus};
use crate::money;
use crate::rules::r0_linking::Link;
use crate::rules::{Cell, Finding};

pub use monthly_bill::BillRow;
pub use summary::{Summary, Totals};

/// The report files, in the order they are written.
pub const FILES: [&str; 6] = [
    "discrepancies.csv",
    "refunds.csv",
    "monthly_bill.csv",
    "quota_usage.csv",
    "rejects.csv",
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

/// Spreadsheet formula injection (OWASP): a text cell that begins with
/// `=`, `+`, `-`, `@`, tab or CR gets a leading `'`. Never used on numbers.
pub fn escape(s: &str) -> Cow<'_, str> {
    match s.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => Cow::Owned(format!("'{s}")),
        _ => Cow::Borrowed(s),
    }
}

fn io_err(path: &Path, e: std::io::Error) -> AppError {
    AppError::Output(format!(
        "{}: cannot write ({e}); check that the folder is writable and has space",
        path.display()
    ))
}

/// Writes a CSV file: the header, then rows produced by `rows` for each
/// batch of `items`, formatted in parallel.
fn write_csv<T: Sync>(
    path: &Path,
    header: &[&str],
    items: &[T],
    batch: usize,
    rows: impl Fn(&T, &mut csv::Writer<Vec<u8>>) -> csv::Result<()> + Sync,
) -> Result<(), AppError> {
    let file = File::create(path).map_err(|e| io_err(path, e))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(header).map_err(|e| AppError::Internal(e.to_string()))?;
    out.write_all(&w.into_inner().map_err(|e| AppError::Internal(e.to_string()))?)
        .map_err(|e| io_err(path, e))?;
    for group in items.chunks(batch * rayon::current_num_threads().max(1) * 4) {
        let parts: Vec<Vec<u8>> = group
            .par_chunks(batch)
            .map(|chunk| {
                let mut w = csv::WriterBuilder::new()
                    .has_headers(false)
                    .from_writer(Vec::with_capacity(chunk.len() * 128));
                for item in chunk {
                    rows(item, &mut w).expect("writing CSV into memory cannot fail");
                }
                w.into_inner().expect("in-memory CSV")
            })
            .collect();
        for p in parts {
            out.write_all(&p).map_err(|e| io_err(path, e))?;
        }
    }
    let file = out.into_inner().map_err(|e| io_err(path, e.into_error()))?;
    file.sync_all().map_err(|e| io_err(path, e))?;
    Ok(())
}

/// Formats an amount at the currency's minor units (exact without one).
fn amount(rec: &Reconciliation, v: Decimal, currency: Option<Currency>) -> String {
    match currency {
        Some(c) => money::format(v, rec.policy.minor_units.of(c), rec.policy.rounding),
        None => v.to_string(),
    }
}

fn cell(rec: &Reconciliation, c: &Cell, currency: Option<Currency>) -> String {
    match c {
        Cell::Empty => String::new(),
        Cell::Text(s) => escape(s).into_owned(),
        Cell::Amount(v) => amount(rec, *v, currency),
        Cell::Count(n) => n.to_string(),
    }
}

/// Writes every report into `dir` and returns the summary.
pub fn write_reports(
    rec: &mut Reconciliation,
    sel: &Selection,
    dir: &Path,
    started_at: &str,
) -> Result<Summary, AppError> {
    let t = std::time::Instant::now();
    let bill = monthly_bill::compute(rec, sel)?;
    rec.timings.aggregate = t.elapsed();

    let t = std::time::Instant::now();
    let rec = &*rec;
    // discrepancies.csv
    let mut findings: Vec<&Finding> = rec
        .other_findings
        .iter()
        .chain(rec.outcomes.iter().flat_map(|o| o.findings.iter()))
        .filter(|f| sel.keeps(&f.account_id))
        .collect();
    findings.par_sort_unstable_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    let _s = crate::trace::span("write discrepancies.csv");
    write_csv(
        &dir.join("discrepancies.csv"),
        &[
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
        ],
        &findings,
        4096,
        |f, w| {
            w.write_record([
                f.severity().as_str(),
                f.code.as_str(),
                &escape(&f.account_id),
                &escape(&f.unsub_id),
                &escape(&f.order_id),
                &escape(&f.payment_id),
                f.field,
                &cell(rec, &f.expected, f.currency),
                &cell(rec, &f.recorded, f.currency),
                &cell(rec, &f.delta, f.currency),
                f.currency.as_ref().map(|c| c.as_str()).unwrap_or(""),
                &escape(&f.message),
            ])
        },
    )?;

    drop(_s);
    let _s = crate::trace::span("write refunds.csv");
    let u_acct = rec.inputs.unsubs.account_id.view();
    let selected: Vec<&Outcome> = rec
        .outcomes
        .iter()
        .filter(|o| sel.keeps(u_acct.get(o.unsub as usize)))
        .collect();
    write_csv(&dir.join("refunds.csv"), &REFUNDS_HEADER, &selected, 2048, |o, w| {
        w.write_record(refund_row(rec, o))
    })?;

    drop(_s);
    let _s = crate::trace::span("write monthly_bill.csv");
    write_csv(
        &dir.join("monthly_bill.csv"),
        &monthly_bill::HEADER,
        &bill,
        4096,
        |b, w| w.write_record(monthly_bill::row(rec, b)),
    )?;

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
        |q, w| {
            w.write_record([
                escape(&q.account_id).into_owned(),
                q.year.to_string(),
                q.allowed.to_string(),
                q.granted.to_string(),
                q.denied_by_quota.to_string(),
                q.recorded_unconditional.to_string(),
                (q.recorded_unconditional > q.allowed).to_string(),
            ])
        },
    )?;

    // rejects.csv: whole, also with --account (rejects have no trusted account).
    write_csv(
        &dir.join("rejects.csv"),
        &["file", "line", "record_id", "column", "value", "reason"],
        &rec.inputs.rejects,
        4096,
        |r, w| {
            w.write_record([
                r.file,
                &r.line.to_string(),
                &escape(&r.record_id),
                &escape(&r.column),
                &escape(&r.value),
                &escape(&r.reason),
            ])
        },
    )?;

    // Control totals, then summary.json.
    let totals = refund_totals(rec, &selected);
    check_bill_ties_out(rec, &bill, &totals)?;
    let mut summary = Summary::new(rec, &findings, totals);
    summary.started_at = started_at.to_string();
    summary.accounts = sel.accounts();
    let mut timings = rec.timings;
    timings.write = t.elapsed();
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

/// One row of refunds.csv (SPEC §5, §9).
fn refund_row(rec: &Reconciliation, o: &Outcome) -> [String; 25] {
    let u = &rec.inputs.unsubs;
    let r = o.unsub as usize;
    let cal = &rec.cal;
    let linked_order = !matches!(o.link, Link::OrderNotFound | Link::AccountMismatch);
    let currency = if linked_order { o.currency } else { None };
    let oi = rec.order_of_unsub[r];
    let (cash_due, cash_paid) = if linked_order && oi != NONE {
        let oi = oi as usize;
        (
            amount(rec, rec.inputs.orders.cash_due(oi), currency),
            amount(rec, rec.pay.cash_paid[oi], currency),
        )
    } else {
        (String::new(), String::new())
    };
    let expected = |v: Decimal| {
        if o.expected_type.is_some() {
            amount(rec, v, currency)
        } else {
            String::new()
        }
    };
    let recorded = |v: Option<Decimal>| v.map(|v| amount(rec, v, currency)).unwrap_or_default();
    let completed = u.status[r] == UnsubStatus::Completed;
    let evaluated = o.evaluated();
    let completed_at = u.completed_at[r];
    [
        escape(u.unsub_id.view().get(r)).into_owned(),
        escape(u.account_id.view().get(r)).into_owned(),
        escape(u.order_id.view().get(r)).into_owned(),
        escape(u.batch_id.view().get(r)).into_owned(),
        u.status[r].as_str().to_string(),
        currency.map(|c| c.as_str().to_string()).unwrap_or_default(),
        o.expected_type.map(|t| t.as_str().to_string()).unwrap_or_default(),
        if completed {
            u.refund_type[r].map(|t| t.as_str().to_string()).unwrap_or_default()
        } else {
            String::new()
        },
        cash_due,
        cash_paid,
        expected(o.refund),
        recorded(u.refund_amount[r]),
        expected(o.fee),
        recorded(u.handling_fee[r]),
        expected(o.coupon),
        recorded(u.coupon_returned[r]),
        if evaluated {
            o.review_required.map(|b| b.to_string()).unwrap_or_default()
        } else {
            String::new()
        },
        if evaluated {
            o.approval.map(|(t, _)| cal.format(t)).unwrap_or_default()
        } else {
            String::new()
        },
        if evaluated {
            o.expected_cycle.map(|m| m.to_string()).unwrap_or_default()
        } else {
            String::new()
        },
        if completed {
            u.billing_cycle[r].map(|m| m.to_string()).unwrap_or_default()
        } else {
            String::new()
        },
        if evaluated {
            o.deadline.map(|t| cal.format(t)).unwrap_or_default()
        } else {
            String::new()
        },
        if evaluated {
            o.quota_used.map(|q| q.to_string()).unwrap_or_default()
        } else {
            String::new()
        },
        completed_at
            .map(|t| cal.format(t + rec.policy.config_days * crate::time::DAY))
            .unwrap_or_default(),
        completed_at
            .map(|t| cal.format(cal.start_of_next_local_day(t)))
            .unwrap_or_default(),
        o.codes().join(";"),
    ]
}

/// Expected and recorded refunds of completed unsubscriptions, per
/// currency (summary.json and the control total).
fn refund_totals(rec: &Reconciliation, selected: &[&Outcome]) -> BTreeMap<Currency, Totals> {
    let u = &rec.inputs.unsubs;
    let mut totals: BTreeMap<Currency, Totals> = BTreeMap::new();
    for o in selected {
        let r = o.unsub as usize;
        if u.status[r] != UnsubStatus::Completed || matches!(o.link, Link::OrderNotFound | Link::AccountMismatch) {
            continue;
        }
        let Some(c) = o.currency else { continue };
        let t = totals.entry(c).or_default();
        if o.expected_type.is_some() {
            t.expected += o.refund;
        }
        t.recorded += u.refund_amount[r].unwrap_or_default();
    }
    totals
}

/// The monthly bill's expected refunds must equal refunds.csv's, per
/// currency — a failure is a bug, never a silent report.
fn check_bill_ties_out(
    rec: &Reconciliation,
    bill: &[BillRow],
    totals: &BTreeMap<Currency, Totals>,
) -> Result<(), AppError> {
    let mut from_bill: BTreeMap<Currency, Decimal> = BTreeMap::new();
    for b in bill {
        *from_bill.entry(b.currency).or_default() += b.expected_refunds;
    }
    for (c, t) in totals {
        let billed = from_bill.get(c).copied().unwrap_or_default();
        if billed != t.expected {
            return Err(AppError::Internal(format!(
                "control total failed: monthly_bill expected_refunds {} {c} ≠ refunds.csv {}",
                amount(rec, billed, Some(*c)),
                amount(rec, t.expected, Some(*c))
            )));
        }
    }
    for (c, v) in from_bill {
        if !v.is_zero() && !totals.contains_key(&c) {
            return Err(AppError::Internal(format!(
                "control total failed: monthly_bill has refunds in {c} but refunds.csv has none"
            )));
        }
    }
    Ok(())
}
