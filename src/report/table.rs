//! The reports, declared once: each file's name, columns, sort order and
//! writer, in the order summary.json lists them ([`REPORTS`]).
//! [`super::write_reports`] runs the writers and lists what they wrote in
//! this order; [`files_for`] gives the list for a set of formats.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use super::baseline::RESOLVED_HEADER;
use super::schema::{self, Column};
use super::{focus, Done, Formats, ReportOptions, Selection, Tracked};
use super::{BaselineInfo, Reconciliation};
use crate::engine::Outcome;
use crate::error::AppError;
use crate::model::Currency;
use crate::rules::Finding;

/// What the CSV writers read: the results, the selection, and the
/// findings and outcomes the selection keeps, sorted as written.
pub struct Job<'a> {
    pub rec: &'a Reconciliation,
    pub sel: &'a Selection,
    pub dir: &'a Path,
    pub opts: ReportOptions<'a>,
    /// The kept findings in discrepancies.csv's order, with their ids.
    pub tracked: Vec<(&'a Finding, Tracked)>,
    /// The kept unsubscriptions' outcomes, in refunds.csv's order.
    pub selected: Vec<&'a Outcome>,
    /// Whether report.html is written (not in a shard): the bill's writer
    /// then digests what the page shows of it.
    pub html: bool,
}

impl Job<'_> {
    /// Whether the run reads a large report back soon after writing it, so
    /// it goes through the page cache: for its Parquet copy, or in a shard,
    /// whose reports `merge` reads.
    pub fn read_back(&self) -> bool {
        self.opts.formats.parquet || !self.html
    }
}

/// What the CSV writers found out while writing, for the control totals
/// and summary.json.
#[derive(Default)]
pub struct Facts {
    pub findings_written: u64,
    pub rejects_written: u64,
    /// Expected refunds per currency in the monthly bill (10⁻⁶ units).
    pub billed: BTreeMap<Currency, i128>,
    /// `--baseline`: what changed since.
    pub since_baseline: Option<BaselineInfo>,
    /// The monthly bill's time (the "aggregate" phase).
    pub aggregate: Duration,
    /// What report.html shows of the bill, digested as it was written
    /// (None in a shard, which writes no report.html).
    pub bill: Option<super::html::Bill>,
}

/// A writer of a CSV report from the results.
pub type CsvWriter = fn(&Job<'_>, &Path, &mut Facts) -> Result<Done, AppError>;

/// How a report is written.
#[derive(Clone, Copy)]
pub enum Writer {
    /// From the results, first, in the table's order.
    Csv(CsvWriter),
    /// The FOCUS bill, on request (`--format csv,focus`).
    Focus,
    /// The typed copy of the named CSV report (`--format csv,parquet`),
    /// read back from it.
    ParquetCopy(&'static str),
    /// report.html, from the finished CSVs and the summary.
    Html,
    /// summary.json, last ([`super::finish`]).
    Summary,
}

/// One file of a reports folder.
#[derive(Clone, Copy)]
pub struct Report {
    pub name: &'static str,
    /// Its columns, for a table (CSV or Parquet).
    pub columns: Option<&'static [Column]>,
    /// The order of its rows (docs/outputs.md).
    pub sort_key: &'static str,
    pub writer: Writer,
}

impl Report {
    /// Whether a run with `formats` writes it.
    pub fn written_with(&self, formats: Formats) -> bool {
        match self.writer {
            Writer::Focus => formats.focus,
            Writer::ParquetCopy(csv) => formats.parquet && (formats.focus || csv != focus::FILE),
            Writer::Csv(_) | Writer::Html | Writer::Summary => true,
        }
    }
}

const FINDING_ORDER: &str = "account_id, code, unsub_id, order_id, payment_id, field";

const fn csv(name: &'static str, columns: &'static [Column], sort_key: &'static str, writer: CsvWriter) -> Report {
    Report {
        name,
        columns: Some(columns),
        sort_key,
        writer: Writer::Csv(writer),
    }
}

const fn copy(name: &'static str, of: &'static str, columns: &'static [Column], sort_key: &'static str) -> Report {
    Report {
        name,
        columns: Some(columns),
        sort_key,
        writer: Writer::ParquetCopy(of),
    }
}

/// Every file a run may write (explain.idx aside: an index, not a report),
/// in summary.json's order.
pub const REPORTS: [Report; 16] = [
    csv(
        "discrepancies.csv",
        &schema::DISCREPANCIES,
        FINDING_ORDER,
        discrepancies,
    ),
    csv("resolved.csv", &schema::RESOLVED, FINDING_ORDER, resolved),
    csv(
        "refunds.csv",
        &schema::REFUNDS,
        "account_id, requested_at, unsub_id",
        refunds,
    ),
    csv(
        "monthly_bill.csv",
        &schema::MONTHLY_BILL,
        "account_id, billing_cycle, currency",
        monthly_bill,
    ),
    Report {
        name: focus::FILE,
        columns: Some(&focus::COLUMNS),
        sort_key: "account, billing period, charge period, ids",
        writer: Writer::Focus,
    },
    csv("quota_usage.csv", &schema::QUOTA_USAGE, "account_id, year", quota_usage),
    csv("rejects.csv", &schema::REJECTS, "file, line", rejects),
    copy(
        "discrepancies.parquet",
        "discrepancies.csv",
        &schema::DISCREPANCIES,
        FINDING_ORDER,
    ),
    copy("resolved.parquet", "resolved.csv", &schema::RESOLVED, FINDING_ORDER),
    copy(
        "refunds.parquet",
        "refunds.csv",
        &schema::REFUNDS,
        "account_id, requested_at, unsub_id",
    ),
    copy(
        "monthly_bill.parquet",
        "monthly_bill.csv",
        &schema::MONTHLY_BILL,
        "account_id, billing_cycle, currency",
    ),
    copy(
        "monthly_bill.focus.parquet",
        focus::FILE,
        &focus::COLUMNS,
        "account, billing period, charge period, ids",
    ),
    copy(
        "quota_usage.parquet",
        "quota_usage.csv",
        &schema::QUOTA_USAGE,
        "account_id, year",
    ),
    copy("rejects.parquet", "rejects.csv", &schema::REJECTS, "file, line"),
    Report {
        name: "report.html",
        columns: None,
        sort_key: "",
        writer: Writer::Html,
    },
    Report {
        name: "summary.json",
        columns: None,
        sort_key: "",
        writer: Writer::Summary,
    },
];

/// The report files a run with `formats` writes, in summary.json's order.
pub fn files_for(formats: Formats) -> Vec<&'static str> {
    REPORTS
        .iter()
        .filter(|r| r.written_with(formats))
        .map(|r| r.name)
        .collect()
}

/// Whether `name` is a file some run writes into a reports folder.
pub fn is_report(name: &str) -> bool {
    REPORTS.iter().any(|r| r.name == name)
}

fn discrepancies(job: &Job<'_>, path: &Path, facts: &mut Facts) -> Result<Done, AppError> {
    let _s = crate::trace::span("write discrepancies.csv");
    // Also read back by report.html with a baseline (its status column).
    let read_back = job.read_back() || job.opts.baseline.is_some();
    let out = super::report_sink(path, &super::DISCREPANCIES_HEADER, read_back)?;
    let d = super::write_csv_into(out, &job.tracked, 4096, |(f, t), r| {
        super::finding_row(r, job.rec, f, t)
    })?;
    facts.findings_written = d.rows();
    Ok(d)
}

fn resolved(job: &Job<'_>, path: &Path, facts: &mut Facts) -> Result<Done, AppError> {
    match job.opts.baseline {
        Some(b) => {
            let (info, d) = super::write_resolved(job.rec, b, &job.tracked, path)?;
            facts.since_baseline = Some(info);
            Ok(d)
        }
        None => super::write_csv(path, &RESOLVED_HEADER, &[(); 0], 1, |_, _| {}),
    }
}

fn refunds(job: &Job<'_>, path: &Path, _: &mut Facts) -> Result<Done, AppError> {
    let _s = crate::trace::span("write refunds.csv");
    let out = super::unread_csv_sink(path, &super::REFUNDS_HEADER, job.opts.formats)?;
    super::write_csv_into(out, &job.selected, 2048, |o, r| super::refund_row(r, job.rec, o))
}

fn monthly_bill(job: &Job<'_>, path: &Path, facts: &mut Facts) -> Result<Done, AppError> {
    let _s = crate::trace::span("write monthly_bill.csv");
    let started = std::time::Instant::now();
    let (billed, bill, d) = super::monthly_bill::write(job.rec, job.sel, path, job.read_back(), job.html)?;
    facts.billed = billed;
    facts.bill = bill;
    facts.aggregate = started.elapsed();
    Ok(d)
}

fn quota_usage(job: &Job<'_>, path: &Path, _: &mut Facts) -> Result<Done, AppError> {
    let _s = crate::trace::span("write quota_usage.csv");
    let quota: Vec<_> = job.rec.quota.iter().filter(|q| job.sel.keeps(&q.account_id)).collect();
    let recorded_known = job.rec.coverage.checks(crate::rules::Code::QUOTA_EXCEEDED);
    super::write_csv(path, &schema::header(&schema::QUOTA_USAGE), &quota, 4096, |q, r| {
        r.text(&q.account_id);
        match u64::try_from(q.year) {
            Ok(year) => r.int(year),
            Err(_) => r.plain(&q.year.to_string()),
        }
        r.int(u64::from(q.allowed));
        r.int(u64::from(q.granted));
        r.int(u64::from(q.denied_by_quota));
        if recorded_known {
            r.int(u64::from(q.recorded_unconditional));
            r.plain(if q.recorded_unconditional > q.allowed {
                "true"
            } else {
                "false"
            });
        } else {
            // A mapped export without refund_type: nothing recorded to
            // count (docs/mapping.md, Coverage), so the cells are empty.
            r.empty();
            r.empty();
        }
        r.end();
    })
}

/// rejects.csv: whole, also with `--account` (rejects have no trusted
/// account).
fn rejects(job: &Job<'_>, path: &Path, facts: &mut Facts) -> Result<Done, AppError> {
    let d = write_rejects(path, &job.rec.inputs.rejects)?;
    facts.rejects_written = d.rows();
    Ok(d)
}

/// rejects.csv of `rejects` (sorted by file, line): a run's, or the one
/// `partition` writes for a sharded run (docs/scale.md).
pub fn write_rejects(path: &Path, rejects: &[crate::ingest::Reject]) -> Result<Done, AppError> {
    super::write_csv(path, &schema::header(&schema::REJECTS), rejects, 4096, |x, r| {
        r.text(&x.file);
        r.int(x.line);
        r.text(&x.record_id);
        r.text(&x.column);
        r.text(&x.value);
        r.text(&x.reason);
        r.end();
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_has_its_columns_and_every_copy_its_csv() {
        for r in &REPORTS {
            match r.writer {
                Writer::Csv(_) | Writer::Focus => {
                    assert!(r.columns.is_some() && r.name.ends_with(".csv"), "{}", r.name)
                }
                Writer::ParquetCopy(csv) => {
                    let source = REPORTS
                        .iter()
                        .find(|s| s.name == csv)
                        .expect("the copied CSV is a report");
                    assert_eq!(r.name, csv.replace(".csv", ".parquet"));
                    assert_eq!(r.columns.map(<[Column]>::len), source.columns.map(<[Column]>::len));
                    assert_eq!(r.sort_key, source.sort_key, "{}", r.name);
                }
                Writer::Html | Writer::Summary => assert!(r.columns.is_none()),
            }
        }
        assert_eq!(REPORTS.last().map(|r| r.name), Some("summary.json"), "written last");
    }

    #[test]
    fn the_files_of_each_format_set() {
        let f = |focus, parquet| files_for(Formats { focus, parquet });
        assert_eq!(f(false, false), super::super::FILES);
        let focus = f(true, false);
        let at = focus.iter().position(|n| *n == "monthly_bill.csv").unwrap();
        assert_eq!(focus[at + 1], super::super::focus::FILE);
        let parquet = f(false, true);
        assert!(parquet.contains(&"refunds.parquet") && !parquet.contains(&"monthly_bill.focus.parquet"));
        assert_eq!(f(true, true).len(), REPORTS.len());
        for names in [focus, parquet] {
            assert_eq!(names.last(), Some(&"summary.json"));
        }
    }

    #[test]
    fn the_parquet_copies_are_those_of_the_parquet_module() {
        let copies: Vec<(&str, &str)> = REPORTS
            .iter()
            .filter_map(|r| match r.writer {
                Writer::ParquetCopy(csv) => Some((r.name, csv)),
                _ => None,
            })
            .collect();
        let declared: Vec<(&str, &str)> = super::super::parquet::FILES
            .into_iter()
            .zip(super::super::parquet::COPIED.map(|(csv, _)| csv))
            .collect();
        assert_eq!(copies, declared);
    }
}
