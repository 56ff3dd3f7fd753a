//! `run --baseline DIR` (docs/outputs.md#since-the-last-run): the findings
//! of a previous run's reports folder, to mark each finding of this run
//! `new` or `persisting` (carrying its `first_seen` forward) and to list
//! the baseline's findings that are gone (resolved.csv).
//!
//! A baseline is refused (exit 2) when it is not a refund-recon reports
//! folder, was made under another policy or `--account` selection, has a
//! discrepancies.csv that differs from what its summary.json recorded, or
//! cannot be read. Its as_of must not be later than this run's.

use std::path::{Path, PathBuf};

use rustc_hash::FxHashMap;

use crate::error::AppError;
use crate::rules::finding::FindingId;
use crate::time::{parse_written_ts, Calendar, Micros, DAY};

/// One finding of the baseline, as its discrepancies.csv wrote it.
#[derive(Debug, Clone)]
pub struct PastFinding {
    pub id: FindingId,
    pub first_seen: Micros,
    /// severity, code, account_id, unsub_id, order_id, payment_id, field,
    /// currency, message: the baseline's cells, unchanged.
    pub cells: [String; 9],
}

/// A previous run's findings.
#[derive(Debug)]
pub struct Baseline {
    /// The folder as given.
    pub path: PathBuf,
    /// The baseline run's as_of, as its summary.json wrote it.
    pub as_of_text: String,
    pub as_of: Micros,
    /// The mapping the baseline run read its exports through (its
    /// SHA-256), if any: summary.json's `baseline.mapping_sha256`.
    pub mapping_sha256: Option<String>,
    /// One entry per finding id, in the baseline's report order.
    pub findings: Vec<PastFinding>,
    by_id: FxHashMap<FindingId, u32>,
}

/// A finding of this run compared with the baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Since {
    /// Not in the baseline.
    pub new: bool,
    /// The as_of of the run where it first appeared.
    pub first_seen: Micros,
}

impl Since {
    /// Whole days (24 h) from first_seen to `as_of`.
    pub fn age_days(&self, as_of: Micros) -> i64 {
        (as_of - self.first_seen).div_euclid(DAY)
    }
}

/// The columns of resolved.csv.
pub const RESOLVED_HEADER: [&str; 12] = super::schema::header(&super::schema::RESOLVED);

/// The identity and text columns a baseline's discrepancies.csv must have
/// (in [`PastFinding::cells`] order).
const NEEDED: [&str; 9] = [
    "severity",
    "code",
    "account_id",
    "unsub_id",
    "order_id",
    "payment_id",
    "field",
    "currency",
    "message",
];

fn refuse(dir: &Path, why: impl std::fmt::Display) -> AppError {
    AppError::Usage(format!("--baseline {}: {why}", dir.display()))
}

/// A report cell back to the value it shows: the `'` that the CSV writer
/// puts before a text starting with `= + - @`, tab or CR is removed.
fn unguard(cell: &str) -> &str {
    match cell.as_bytes() {
        [b'\'', b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r', ..] => &cell[1..],
        _ => cell,
    }
}

impl Baseline {
    /// The baseline folder `dir` checked (its summary.json, and its
    /// discrepancies.csv's hash), without its findings; and where they are.
    fn head(dir: &Path, policy_sha256: &str, accounts: &[String]) -> Result<(Baseline, PathBuf), AppError> {
        let summary_path = dir.join("summary.json");
        let text = std::fs::read(&summary_path).map_err(|e| {
            refuse(
                dir,
                format!("cannot read its summary.json ({e}); give the reports folder of an earlier run"),
            )
        })?;
        let summary: serde_json::Value = serde_json::from_slice(&text).map_err(|e| {
            refuse(
                dir,
                format!("its summary.json is not valid JSON ({e}); give the reports folder of an earlier run"),
            )
        })?;
        if summary.get("tool").and_then(|t| t.as_str()) != Some("refund-recon") {
            return Err(refuse(
                dir,
                "its summary.json was not written by refund-recon; give the reports folder of an earlier run",
            ));
        }
        let field = |path: &[&str]| -> Option<&serde_json::Value> { path.iter().try_fold(&summary, |v, k| v.get(*k)) };
        let their_sha = field(&["policy", "sha256"]).and_then(|v| v.as_str()).unwrap_or("");
        if their_sha != policy_sha256 {
            let name = field(&["policy", "name"]).and_then(|v| v.as_str()).unwrap_or("?");
            return Err(refuse(
                dir,
                format!(
                    "it was made under another policy ({name:?}, SHA-256 {}…, this run's is {}…); findings under different policies are not comparable: give a baseline made with this policy file, or run without --baseline",
                    &their_sha.get(..12).unwrap_or(their_sha),
                    &policy_sha256.get(..12).unwrap_or(policy_sha256)
                ),
            ));
        }
        let their_accounts: Vec<String> = field(&["accounts"])
            .and_then(|v| v.as_array())
            .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        if their_accounts != accounts {
            let show = |a: &[String]| {
                if a.is_empty() {
                    "every account".to_string()
                } else {
                    format!("--account {}", a.join(" --account "))
                }
            };
            return Err(refuse(
                dir,
                format!(
                    "it covers {}, this run {}; give a baseline made with the same --account selection",
                    show(&their_accounts),
                    show(accounts)
                ),
            ));
        }
        let as_of_text = field(&["as_of"])
            .and_then(|v| v.as_str())
            .ok_or_else(|| refuse(dir, "its summary.json has no as_of"))?
            .to_string();
        let as_of = parse_written_ts(&as_of_text).map_err(|_| {
            refuse(
                dir,
                format!("its as_of {as_of_text:?} is not a timestamp as refund-recon writes them"),
            )
        })?;
        let discrepancies = dir.join("discrepancies.csv");
        check_recorded_hash(dir, &summary, &discrepancies)?;
        let mapping_sha256 = field(&["mapping", "sha256"])
            .and_then(|v| v.as_str())
            .map(str::to_string);
        Ok((
            Baseline {
                path: dir.to_path_buf(),
                as_of_text,
                as_of,
                mapping_sha256,
                findings: Vec::new(),
                by_id: FxHashMap::default(),
            },
            discrepancies,
        ))
    }

    /// Reads the baseline folder `dir` for a run under `policy_sha256` with
    /// the `--account` selection `accounts` (sorted; empty: all).
    pub fn load(dir: &Path, policy_sha256: &str, accounts: &[String]) -> Result<Baseline, AppError> {
        let (mut b, discrepancies) = Baseline::head(dir, policy_sha256, accounts)?;
        (b.findings, b.by_id) = read_findings(dir, &discrepancies, b.as_of)?;
        Ok(b)
    }

    /// The baseline folder `dir` checked as [`Baseline::load`] checks it,
    /// its findings left to be read a finding at a time (`findings` is
    /// empty).
    pub fn open_stream(
        dir: &Path,
        policy_sha256: &str,
        accounts: &[String],
    ) -> Result<(Baseline, FindingReader), AppError> {
        let (b, discrepancies) = Baseline::head(dir, policy_sha256, accounts)?;
        let reader = FindingReader::open(dir, &discrepancies, b.as_of)?;
        Ok((b, reader))
    }

    /// How a finding of this run with `id` stands against the baseline;
    /// `as_of` is this run's.
    pub fn since(&self, id: FindingId, as_of: Micros) -> Since {
        match self.by_id.get(&id) {
            Some(&i) => Since {
                new: false,
                first_seen: self.findings[i as usize].first_seen,
            },
            None => Since {
                new: true,
                first_seen: as_of,
            },
        }
    }

    /// The baseline findings whose id is not in `current` (sorted), in the
    /// baseline's order.
    pub fn resolved<'a>(&'a self, current: &'a [FindingId]) -> impl Iterator<Item = &'a PastFinding> + 'a {
        self.findings
            .iter()
            .filter(move |f| current.binary_search(&f.id).is_err())
    }

    /// This run's as_of must not be before the baseline's.
    pub fn check_order(&self, as_of: Micros, cal: &Calendar) -> Result<(), AppError> {
        if self.as_of > as_of {
            return Err(refuse(
                &self.path,
                format!(
                    "its as_of {} is later than this run's as_of {}; a baseline is an earlier run (or give --as-of)",
                    self.as_of_text,
                    cal.format(as_of)
                ),
            ));
        }
        Ok(())
    }
}

/// When the baseline's summary.json lists its files with their SHA-256,
/// its discrepancies.csv must still be the one that run wrote.
fn check_recorded_hash(dir: &Path, summary: &serde_json::Value, path: &Path) -> Result<(), AppError> {
    let Some(files) = summary.get("files").and_then(|f| f.as_array()) else {
        return Ok(());
    };
    let Some(want) = files
        .iter()
        .find(|f| f.get("name").and_then(|n| n.as_str()) == Some("discrepancies.csv"))
        .and_then(|f| f.get("sha256"))
        .and_then(|s| s.as_str())
    else {
        return Ok(());
    };
    let got = crate::ingest::sha256_file(path)
        .map_err(|e| refuse(dir, format!("cannot read its discrepancies.csv ({e})")))?;
    if got != want {
        return Err(refuse(
            dir,
            format!("its discrepancies.csv is not the one its run wrote (SHA-256 {}…, summary.json says {}…); it was edited or replaced: restore it, or give another baseline (`refund-recon verify {}` lists what changed)",
                &got[..12], want.get(..12).unwrap_or(want), dir.display()),
        ));
    }
    Ok(())
}

/// The findings of a baseline's discrepancies.csv, one per finding id
/// (the first row of an id), and where each id is in that list.
fn read_findings(
    dir: &Path,
    path: &Path,
    as_of: Micros,
) -> Result<(Vec<PastFinding>, FxHashMap<FindingId, u32>), AppError> {
    let mut reader = FindingReader::open(dir, path, as_of)?;
    let mut findings: Vec<PastFinding> = Vec::new();
    let mut by_id: FxHashMap<FindingId, u32> = FxHashMap::default();
    while let Some(f) = reader.next_finding()? {
        if let std::collections::hash_map::Entry::Vacant(v) = by_id.entry(f.id) {
            v.insert(findings.len() as u32);
            findings.push(f);
        }
    }
    Ok((findings, by_id))
}

/// A baseline's discrepancies.csv read a finding at a time, in its order
/// (repeats of an id included). A baseline written before finding ids
/// existed gets them computed from its identity cells, and first_seen =
/// its as_of.
pub struct FindingReader {
    dir: PathBuf,
    reader: csv::Reader<std::fs::File>,
    record: csv::StringRecord,
    /// The columns of [`NEEDED`], of finding_id and of first_seen.
    cols: [usize; 9],
    id_col: Option<usize>,
    seen_col: Option<usize>,
    as_of: Micros,
    /// The record number of the next row (its line where no cell breaks
    /// a line).
    line: usize,
}

impl FindingReader {
    fn open(dir: &Path, path: &Path, as_of: Micros) -> Result<FindingReader, AppError> {
        let mut reader = csv::ReaderBuilder::new()
            .from_path(path)
            .map_err(|e| refuse(dir, format!("cannot read its discrepancies.csv ({e})")))?;
        let headers = reader
            .headers()
            .map_err(|e| refuse(dir, format!("discrepancies.csv: cannot read the header ({e})")))?
            .clone();
        let pos = |name: &str| headers.iter().position(|h| h == name);
        let mut cols = [0usize; 9];
        for (c, name) in cols.iter_mut().zip(NEEDED) {
            *c = pos(name).ok_or_else(|| {
                refuse(
                    dir,
                    format!("discrepancies.csv has no {name} column; give the reports folder of an earlier run"),
                )
            })?;
        }
        Ok(FindingReader {
            dir: dir.to_path_buf(),
            reader,
            record: csv::StringRecord::new(),
            cols,
            id_col: pos("finding_id"),
            seen_col: pos("first_seen"),
            as_of,
            line: 2,
        })
    }

    /// The record number of the row [`FindingReader::next_finding`] gave last.
    pub fn line(&self) -> usize {
        self.line - 1
    }

    /// The next finding, or None at the end.
    pub fn next_finding(&mut self) -> Result<Option<PastFinding>, AppError> {
        let (dir, line) = (self.dir.as_path(), self.line);
        let more = self
            .reader
            .read_record(&mut self.record)
            .map_err(|e| refuse(dir, format!("discrepancies.csv line {line}: {e}")))?;
        if !more {
            return Ok(None);
        }
        self.line += 1;
        let record = &self.record;
        let cols = self.cols;
        let cell = |i: usize| record.get(i).unwrap_or("");
        let id = match self.id_col.map(cell).filter(|s| !s.is_empty()) {
            Some(s) => FindingId::parse(s).ok_or_else(|| {
                refuse(
                    dir,
                    format!(
                        "discrepancies.csv line {line}, column finding_id: {s:?} is not a finding id (16 hex digits)"
                    ),
                )
            })?,
            None => FindingId::of(
                unguard(cell(cols[1])),
                unguard(cell(cols[2])),
                unguard(cell(cols[3])),
                unguard(cell(cols[4])),
                unguard(cell(cols[5])),
            ),
        };
        let first_seen = match self.seen_col.map(cell).filter(|s| !s.is_empty()) {
            Some(s) => parse_written_ts(s).map_err(|_| {
                refuse(
                    dir,
                    format!("discrepancies.csv line {line}, column first_seen: {s:?} is not a timestamp as refund-recon writes them"),
                )
            })?,
            None => self.as_of,
        };
        if first_seen > self.as_of {
            return Err(refuse(
                dir,
                format!(
                    "discrepancies.csv line {line}, column first_seen: {} is later than the baseline's own as_of; the file was edited: give another baseline",
                    self.seen_col.map(cell).unwrap_or("")
                ),
            ));
        }
        Ok(Some(PastFinding {
            id,
            first_seen,
            cells: cols.map(|c| cell(c).to_string()),
        }))
    }
}

impl PastFinding {
    /// Its account_id, as the value the cell shows.
    pub fn account(&self) -> &str {
        unguard(&self.cells[2])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unguard_removes_only_the_formula_guard() {
        assert_eq!(unguard("'=SUM(A1)"), "=SUM(A1)");
        assert_eq!(unguard("'-acc"), "-acc");
        assert_eq!(unguard("'plain"), "'plain");
        assert_eq!(unguard("acc-1"), "acc-1");
        assert_eq!(unguard(""), "");
    }

    #[test]
    fn age_is_whole_days() {
        let s = Since {
            new: false,
            first_seen: 0,
        };
        assert_eq!(s.age_days(0), 0);
        assert_eq!(s.age_days(DAY - 1), 0);
        assert_eq!(s.age_days(DAY), 1);
        assert_eq!(s.age_days(10 * DAY + 5), 10);
    }
}
