//! summary.json's file list and `refund-recon verify DIR`
//! (docs/outputs.md#verifying-a-reports-folder): every file a run wrote,
//! with its size, SHA-256 and data rows, so an auditor can check later that
//! a reports folder is the one the run produced — and, where the inputs and
//! the policy are still at their paths, that they are the ones it read.

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::ingest::sha256_file;

/// One file of a reports folder, as summary.json lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    pub name: String,
    pub bytes: u64,
    pub sha256: String,
    /// Data rows (header excluded); null for a file that is not a table.
    pub rows: Option<u64>,
}

/// What `verify` found for one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Same SHA-256 (and size) as recorded.
    Matches,
    /// Present, but not what the run recorded (the reason).
    Differs(String),
    /// A report the run wrote is gone.
    Missing,
    /// An input or the policy is no longer at its recorded path: not checked.
    NotAtPath,
    /// A file in the folder that the run did not write.
    Unlisted,
}

/// One line of `verify`'s answer.
#[derive(Debug, Clone)]
pub struct Check {
    /// `report`, `input` or `policy`.
    pub kind: &'static str,
    pub path: PathBuf,
    pub outcome: Outcome,
}

impl Check {
    /// Whether this makes the folder fail verification.
    pub fn fails(&self) -> bool {
        matches!(self.outcome, Outcome::Differs(_) | Outcome::Missing)
    }
}

#[derive(Deserialize)]
struct Recorded {
    tool: String,
    #[serde(default)]
    files: Option<Vec<FileEntry>>,
    policy: RecordedFile,
    inputs: Vec<RecordedInput>,
    #[serde(default)]
    mapping: Option<RecordedMapping>,
}

/// summary.json's `mapping`: the mapping (a file or a preset) and its
/// source files.
#[derive(Deserialize)]
struct RecordedMapping {
    name: String,
    sha256: String,
    sources: Vec<RecordedFile>,
}

/// A preset built into the binary (a policy or a mapping) named `path`
/// where no file has that name: compared by its text's SHA-256.
fn preset(path: &str, want_sha: &str) -> Option<Outcome> {
    if Path::new(path).exists() {
        return None;
    }
    let text = crate::config::PRESETS
        .iter()
        .chain(crate::mapping::PRESETS.iter())
        .find(|(n, _)| *n == path)?
        .1;
    let got = crate::config::hex(&<sha2::Sha256 as sha2::Digest>::digest(text.as_bytes()));
    Some(if got == want_sha {
        Outcome::Matches
    } else {
        Outcome::Differs(format!(
            "the built-in preset's SHA-256 is {}…, the run recorded {}… (another version of refund-recon)",
            &got[..12],
            want_sha.get(..12).unwrap_or(want_sha)
        ))
    })
}

#[derive(Deserialize)]
struct RecordedFile {
    path: String,
    sha256: String,
}

/// An input as summary.json records it: one file, or several (`files`).
#[derive(Deserialize)]
struct RecordedInput {
    path: String,
    sha256: String,
    #[serde(default)]
    files: Vec<RecordedFile>,
}

fn compare(path: &Path, want_sha: &str, want_bytes: Option<u64>) -> Outcome {
    let meta = match std::fs::metadata(path) {
        Ok(m) if m.is_file() => m,
        Ok(_) => return Outcome::Differs("not a plain file".into()),
        Err(_) => return Outcome::Missing,
    };
    if let Some(b) = want_bytes.filter(|b| *b != meta.len()) {
        return Outcome::Differs(format!("{} bytes, the run wrote {b}", meta.len()));
    }
    match sha256_file(path) {
        Ok(got) if got == want_sha => Outcome::Matches,
        Ok(got) => Outcome::Differs(format!(
            "SHA-256 {}…, the run recorded {}…",
            &got[..12],
            want_sha.get(..12).unwrap_or(want_sha)
        )),
        Err(e) => Outcome::Differs(format!("cannot read it ({e})")),
    }
}

/// Re-hashes the reports in `dir` (and the inputs and policy where they
/// still are at their recorded paths, relative ones from the current
/// folder) against `dir/summary.json`.
pub fn verify(dir: &Path) -> Result<Vec<Check>, AppError> {
    let summary_path = dir.join("summary.json");
    let text = std::fs::read(&summary_path).map_err(|e| {
        AppError::Usage(format!(
            "{}: cannot read it ({e}); give the reports folder of a run",
            summary_path.display()
        ))
    })?;
    let rec: Recorded = serde_json::from_slice(&text).map_err(|e| {
        AppError::Usage(format!(
            "{}: not a summary.json of refund-recon ({e})",
            summary_path.display()
        ))
    })?;
    if rec.tool != "refund-recon" {
        return Err(AppError::Usage(format!(
            "{}: written by {:?}, not refund-recon",
            summary_path.display(),
            rec.tool
        )));
    }
    let files = rec.files.ok_or_else(|| {
        AppError::Usage(format!(
            "{}: lists no files with their SHA-256 (written by an older refund-recon); rerun `run` to get a folder that can be verified",
            summary_path.display()
        ))
    })?;
    let mut checks: Vec<Check> = files
        .par_iter()
        .map(|f| {
            let path = dir.join(&f.name);
            let outcome = if f.name.contains('/') || f.name.contains('\\') || f.name.starts_with('.') {
                Outcome::Differs("not a file name of a reports folder".into())
            } else {
                compare(&path, &f.sha256, Some(f.bytes))
            };
            Check {
                kind: "report",
                path,
                outcome,
            }
        })
        .collect();
    if let Ok(entries) = std::fs::read_dir(dir) {
        let mut extra: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n != "summary.json" && n != ".gitkeep" && !files.iter().any(|f| &f.name == n))
            .map(|n| dir.join(n))
            .collect();
        extra.sort();
        checks.extend(extra.into_iter().map(|path| Check {
            kind: "report",
            path,
            outcome: Outcome::Unlisted,
        }));
    }
    // A mapped run's inputs were made in memory (no path): its mapping
    // and the mapping's source files are checked instead.
    let mapping_file = rec.mapping.as_ref().map(|m| RecordedFile {
        path: m.name.clone(),
        sha256: m.sha256.clone(),
    });
    let mut sources: Vec<(&'static str, &RecordedFile)> = vec![("policy", &rec.policy)];
    let inputs: Vec<RecordedFile> = rec
        .inputs
        .iter()
        .flat_map(|i| {
            let one = RecordedFile {
                path: i.path.clone(),
                sha256: i.sha256.clone(),
            };
            let several = i.files.iter().map(|f| RecordedFile {
                path: f.path.clone(),
                sha256: f.sha256.clone(),
            });
            std::iter::once(one).chain(several)
        })
        .filter(|f| !f.path.is_empty())
        .collect();
    sources.extend(inputs.iter().map(|i| ("input", i)));
    sources.extend(mapping_file.iter().map(|m| ("mapping", m)));
    let mut seen = std::collections::BTreeSet::new();
    for s in rec.mapping.iter().flat_map(|m| &m.sources) {
        if seen.insert(&s.path) {
            sources.push(("source", s));
        }
    }
    for (kind, f) in sources {
        let path = PathBuf::from(&f.path);
        let outcome = match preset(&f.path, &f.sha256).unwrap_or_else(|| compare(&path, &f.sha256, None)) {
            Outcome::Missing => Outcome::NotAtPath,
            o => o,
        };
        checks.push(Check { kind, path, outcome });
    }
    Ok(checks)
}
