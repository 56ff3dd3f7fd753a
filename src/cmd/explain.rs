//! `explain ID`: the rule trail of an unsubscription, order or account —
//! evaluated from the inputs, or read from a finished run's folder
//! (`--reports`).

use std::path::{Path, PathBuf};

use super::{input_bytes, load_checked, Config, ExplainArgs, Progress};
use crate::engine::{Keep, Reconciliation};
use crate::error::AppError;

/// Where the answer comes from.
enum Source {
    /// Evaluate the inputs now.
    Inputs(Box<Config>),
    /// A finished run's reports folder.
    Reports(PathBuf),
}

/// A validated `explain`.
pub(crate) struct ExplainPlan {
    id: String,
    json: bool,
    source: Source,
}

impl ExplainPlan {
    pub(crate) fn new(a: &ExplainArgs) -> Result<ExplainPlan, AppError> {
        if a.input.threads == Some(0) {
            return Err(AppError::Usage("--threads 0: give at least 1 thread".into()));
        }
        let source = match &a.reports {
            Some(dir) => Source::Reports(dir.clone()),
            None => Source::Inputs(Box::new(a.input.config()?)),
        };
        Ok(ExplainPlan {
            id: a.id.trim().to_string(),
            json: a.json,
            source,
        })
    }
}

pub(crate) fn explain(p: ExplainPlan) -> Result<u8, AppError> {
    match p.source {
        Source::Reports(dir) => from_reports(&p.id, p.json, &dir),
        Source::Inputs(cfg) => from_inputs(&p.id, p.json, *cfg),
    }
}

fn print_reject(id: &str, file: &str, line: &str, column: &str, reason: &str, value: &str) {
    say!("unsubscription {id} was rejected: {file} line {line}, column {column}: {reason} (value {value:?})");
}

fn from_inputs(id: &str, json: bool, cfg: Config) -> Result<u8, AppError> {
    let progress = Progress::new(input_bytes(&cfg.paths));
    let (inputs, ingest) = load_checked(&cfg, &progress)?;
    let mut rec = Reconciliation::run(cfg.policy, cfg.cal, inputs, cfg.as_of, ingest, Keep::All)?;
    rec.set_coverage(crate::mapping::coverage::coverage(cfg.mapping.as_ref()));
    progress.done();
    let answer = if json {
        crate::explain::json(&rec, id).map(|v| format!("{v:#}\n"))
    } else {
        crate::explain::text(&rec, id)
    };
    if let Some(text) = answer {
        say_raw!("{text}");
        return Ok(0);
    }
    let u = &rec.inputs.unsubs;
    if let Some(r) = (0..u.unsub_id.len()).find(|&r| u.unsub_id.view().get(r) == id) {
        // Evaluated, but left out of the reports: a context export's row.
        let (file, _, line) = rec.inputs.origin(2, u.line.get(r));
        say!("unsubscription {id} is in an earlier export given as context ({file} line {line}): it links to its order and counts toward the year's quota, but is not reported; run with that export as the input to explain it");
        return Ok(0);
    }
    let unsubs = &rec.inputs.metas.unsubs;
    let rejected: Vec<_> = rec
        .inputs
        .rejects_of("unsubscriptions")
        .filter(|r| r.record_id == id)
        .collect();
    if rejected.is_empty() {
        return Err(AppError::Usage(format!(
            "{id:?} is no unsubscription, order or account in {}; check the id (ids are case-sensitive)",
            unsubs.path.display()
        )));
    }
    for r in rejected {
        print_reject(id, &r.file, &r.line.to_string(), &r.column, &r.reason, &r.value);
    }
    Ok(0)
}

/// `explain ID --reports DIR`: from the run's explain index; an id rejected
/// at input is found in the folder's rejects.csv.
fn from_reports(id: &str, json: bool, dir: &Path) -> Result<u8, AppError> {
    let answer = crate::explain::store::answer(dir, id, json)?;
    if let Some(text) = answer.text {
        say_raw!("{text}");
        return Ok(0);
    }
    let path = dir.join("rejects.csv");
    let bad = |e: csv::Error| AppError::Usage(format!("{}: {e}", path.display()));
    let mut rd = csv::Reader::from_path(&path).map_err(bad)?;
    let mut found = false;
    for r in rd.records() {
        let r = r.map_err(bad)?;
        if r.len() == 6 && r[0] == answer.unsubscriptions && &r[2] == id {
            found = true;
            print_reject(id, &r[0], &r[1], &r[3], &r[5], &r[4]);
        }
    }
    if found {
        return Ok(0);
    }
    Err(AppError::Usage(format!(
        "{id:?} is no unsubscription, order or account in the run of {}; check the id (ids are case-sensitive)",
        dir.display()
    )))
}
