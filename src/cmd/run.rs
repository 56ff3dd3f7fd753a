//! `run`: reconcile and publish the reports (and the explain index).

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::{input_bytes, load_checked, Config, FailOn, Format, Progress, RunArgs};
use crate::engine::{Keep, Reconciliation};
use crate::error::AppError;
use crate::report::{self, output, Baseline, ReportOptions, Summary};
use crate::rules::Severity;

/// A validated `run`.
pub(crate) struct RunPlan {
    cfg: Config,
    out: PathBuf,
    fail_on: FailOn,
    /// `--baseline`, read before anything is written (it may be `--out`).
    baseline: Option<Baseline>,
    formats: report::Formats,
}

impl RunPlan {
    pub(crate) fn new(cfg: Config, a: &RunArgs, formats: report::Formats) -> Result<RunPlan, AppError> {
        let baseline = match &a.baseline {
            Some(dir) => Some(Baseline::load(dir, &cfg.policy.sha256, &cfg.selection.accounts())?),
            None => None,
        };
        Ok(RunPlan {
            cfg,
            out: a.out.clone(),
            fail_on: a.fail_on,
            baseline,
            formats,
        })
    }
}

/// Checks `--format`: the CSVs are always written (verify, explain and
/// `--baseline` read them), so the list must name csv (exit 2 otherwise).
pub(crate) fn formats(list: &[Format]) -> Result<report::Formats, AppError> {
    if !list.contains(&Format::Csv) {
        return Err(AppError::Usage(
            "--format must include csv: the CSV reports are always written (verify, explain and --baseline read them); use --format csv,parquet for Parquet copies as well, csv,focus for the FOCUS bill".into(),
        ));
    }
    Ok(report::Formats {
        focus: list.contains(&Format::Focus),
        parquet: list.contains(&Format::Parquet),
    })
}

pub(crate) fn run(a: RunPlan) -> Result<u8, AppError> {
    let started = chrono::Utc::now();
    let cfg = a.cfg;
    let lock = output::lock(&a.out)?;
    let progress = Progress::new(input_bytes(&cfg.paths));
    let (inputs, ingest) = load_checked(&cfg, &progress)?;
    progress.phase("joining and evaluating the rules");
    // Only the FOCUS bill reads, among the reports, the columns the rules
    // are done with.
    let keep = if a.formats.focus {
        Keep::All
    } else {
        Keep::ReportColumns
    };
    let mut rec = Reconciliation::run(cfg.policy, cfg.cal, inputs, cfg.as_of, ingest, keep)?;
    rec.set_coverage(crate::mapping::coverage::coverage(cfg.mapping.as_ref()));
    if let Some(b) = &a.baseline {
        b.check_order(rec.as_of, &rec.cal)?;
    }
    progress.phase("writing the reports");
    let mut summary: Option<Summary> = None;
    let started_at = started.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let opts = ReportOptions {
        started_at: &started_at,
        baseline: a.baseline.as_ref(),
        formats: a.formats,
    };
    let replaced = output::publish(&a.out, &lock, |dir| {
        // The explain index is built while the reports are written.
        let (s, index) = rayon::join(
            || report::write_reports(&rec, &cfg.selection, dir, opts),
            || report::explain_index::write(&rec, dir),
        );
        let index = index?;
        let (mut s, mut written) = s?;
        if let Some(d) = index {
            written.push(d);
        }
        // summary.json last: it lists every other file with its SHA-256.
        report::finish(&mut s, dir, written)?;
        summary = Some(s);
        Ok(())
    })?;
    progress.done();
    // The previous reports are unlinked (the file system's time) while the
    // run's memory is freed and given back, which the kernel would
    // otherwise do after the last report, at exit, on one core
    // (docs/performance.md, log entries 28 and 89).
    std::thread::scope(|s| {
        s.spawn(move || drop(replaced));
        free(rec);
    });
    let summary = summary.expect("publish ran the writer");
    print_summary(&summary, &a.out);
    let fail = match a.fail_on {
        FailOn::Never => false,
        FailOn::Error => summary.worst >= Some(Severity::Error),
        FailOn::Warning => summary.worst >= Some(Severity::Warning),
    };
    Ok(if fail { 1 } else { 0 })
}

pub(crate) fn print_summary(s: &Summary, out: &Path) {
    if let Some(b) = &s.baseline {
        say!("{}", b.headline);
    }
    say!(
        "refund-recon {} · policy {} · as_of {}",
        s.version,
        s.policy.name,
        s.as_of
    );
    for i in &s.inputs {
        say!(
            "  {:<20} {:>10} read {:>10} accepted {:>8} rejected",
            i.file,
            i.rows_read,
            i.accepted,
            i.rejected
        );
    }
    let sev = |k: &str| s.findings.by_severity.get(k).copied().unwrap_or(0);
    say!(
        "findings: {} ({} error, {} warning, {} info)",
        s.findings.total,
        sev("error"),
        sev("warning"),
        sev("info")
    );
    for (code, n) in &s.findings.by_code {
        if let Some(n) = n.filter(|&n| n > 0) {
            say!("  {code:<26} {n:>8}");
        }
    }
    let unchecked: Vec<&str> = s
        .coverage
        .codes
        .iter()
        .filter(|(_, st)| !st.is_checked())
        .map(|(c, _)| *c)
        .collect();
    let assumed: Vec<&str> = crate::rules::declared::RULES
        .iter()
        .map(|r| r.id)
        .filter(|id| {
            s.coverage
                .rules
                .get(id)
                .is_some_and(|st| matches!(st, crate::mapping::coverage::Status::Assumed { .. }))
        })
        .collect();
    if !assumed.is_empty() {
        say!(
            "assumed (checked under the mapping's constants): {}",
            assumed.join(", ")
        );
    }
    if !unchecked.is_empty() {
        say!(
            "not checked (their columns are absent from the export): {}",
            unchecked.join(", ")
        );
    }
    if !s.refund_totals.is_empty() {
        say!("refunds of completed unsubscriptions:");
        for (c, t) in &s.refund_totals {
            say!(
                "  {c}  expected {:>16}  recorded {:>16}",
                t.expected_refunds,
                t.recorded_refunds
            );
        }
    }
    say!("reports: {}/ ({})", out.display(), s.reports.join(", "));
}

/// Frees a finished run's tables and outcomes, on both cores, and gives
/// the memory back to the system.
fn free(rec: Reconciliation) {
    let Reconciliation {
        inputs,
        outcomes,
        other_findings,
        order_of_unsub,
        order_of_payment,
        ..
    } = rec;
    // The outcomes' findings are most of the small allocations freed here:
    // dropped in parallel, not on one side of a join.
    rayon::join(
        || drop((inputs, other_findings, order_of_unsub, order_of_payment)),
        || outcomes.into_par_iter().for_each(drop),
    );
    crate::memory::give_back();
}
