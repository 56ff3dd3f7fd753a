//! summary.json: the run manifest an auditor keeps next to the reports —
//! tool version, policy and input hashes, row counts, as_of, findings by
//! code and severity, refund totals per currency, and timings.

use std::collections::BTreeMap;
use std::path::Path;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::engine::{Reconciliation, Timings};
use crate::error::AppError;
use crate::model::Currency;
use crate::rules::{Code, Finding, Severity};

/// Expected and recorded refunds of completed unsubscriptions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub expected: Decimal,
    pub recorded: Decimal,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PolicyInfo {
    pub name: String,
    pub path: String,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InputInfo {
    pub file: String,
    pub path: String,
    pub sha256: String,
    pub bytes: u64,
    pub rows_read: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub extra_columns: Vec<String>,
    /// An input read from several files: each one's counts and SHA-256.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<crate::ingest::FileCount>,
}

/// summary.json's `mapping`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MappingInfo {
    pub name: String,
    pub sha256: String,
    pub sources: Vec<crate::ingest::SourceCount>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FindingCounts {
    pub total: u64,
    pub by_severity: BTreeMap<&'static str, u64>,
    /// Per code; null for a code not checked this run (docs/mapping.md,
    /// Coverage).
    pub by_code: BTreeMap<&'static str, Option<u64>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TotalsOut {
    pub expected_refunds: String,
    pub recorded_refunds: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Elapsed {
    pub total: f64,
    pub ingest: f64,
    pub join: f64,
    pub rules: f64,
    pub aggregate: f64,
    pub write: f64,
}

/// What changed since `--baseline` (the first thing summary.json says).
#[derive(Debug, Clone, Serialize)]
pub struct BaselineInfo {
    /// "N new errors since <baseline as_of>, M resolved".
    pub headline: String,
    /// The baseline folder, as given.
    pub path: String,
    /// The baseline run's as_of.
    pub as_of: String,
    /// New findings of severity error.
    pub new_errors: u64,
    /// New findings (every severity).
    pub new: u64,
    /// Findings also in the baseline.
    pub persisting: u64,
    /// Baseline findings gone now (rows of resolved.csv).
    pub resolved: u64,
    /// The baseline run's mapping (SHA-256), when it read its exports
    /// through one; left out otherwise. A finding whose code this run did
    /// not check is never counted resolved (docs/mapping.md).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mapping_sha256: Option<String>,
}

/// Findings counted by code and severity: null for a code not checked.
#[derive(Debug, Clone)]
pub struct Counts {
    pub total: u64,
    pub by_severity: BTreeMap<&'static str, u64>,
    pub by_code: BTreeMap<&'static str, Option<u64>>,
    pub worst: Option<Severity>,
}

impl Counts {
    /// No findings yet: 0 for each code checked, null for the others.
    pub fn new(coverage: &crate::mapping::coverage::Coverage) -> Counts {
        Counts {
            total: 0,
            by_severity: [Severity::Error, Severity::Warning, Severity::Info]
                .iter()
                .map(|s| (s.as_str(), 0))
                .collect(),
            by_code: Code::ALL
                .iter()
                .map(|c| (c.as_str(), coverage.checks(*c).then_some(0)))
                .collect(),
            worst: None,
        }
    }

    /// Counts `n` findings of `code`.
    pub fn add(&mut self, code: Code, n: u64) {
        if n == 0 {
            return;
        }
        self.total += n;
        *self.by_code.entry(code.as_str()).or_default().get_or_insert(0) += n;
        *self.by_severity.entry(code.severity().as_str()).or_default() += n;
        self.worst = self.worst.max(Some(code.severity()));
    }
}

/// summary.json's `inputs`: what was read of each export.
pub fn input_infos(inputs: &crate::ingest::Inputs) -> Vec<InputInfo> {
    inputs
        .metas
        .iter()
        .map(|m| InputInfo {
            file: m.file.to_string(),
            path: m.path.display().to_string(),
            sha256: m.sha256.clone(),
            bytes: m.bytes,
            rows_read: m.rows_read,
            accepted: m.accepted,
            rejected: m.rejected,
            extra_columns: m.extra_columns.clone(),
            files: m.files.clone(),
        })
        .collect()
}

/// summary.json's `mapping`, for inputs read through one.
pub fn mapping_info(inputs: &crate::ingest::Inputs) -> Option<MappingInfo> {
    inputs.mapped.as_ref().map(|m| MappingInfo {
        name: m.name.clone(),
        sha256: m.sha256.clone(),
        sources: m.sources.clone(),
    })
}

/// One shard of a sharded run, in summary.json's `shards`.
#[derive(Debug, Clone, Serialize)]
pub struct ShardEntry {
    pub shard: u32,
    /// Rows of orders, payments, unsubscriptions it judged.
    pub rows: [u64; 3],
    /// SHA-256 of its shard.json.
    pub sha256: String,
}

/// The content of summary.json.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Since the baseline; null without `--baseline`.
    pub baseline: Option<BaselineInfo>,
    pub tool: &'static str,
    pub version: &'static str,
    pub policy: PolicyInfo,
    pub inputs: Vec<InputInfo>,
    /// The mapping the inputs came through, with its counts per source
    /// file (docs/mapping.md); absent without `--mapping`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mapping: Option<MappingInfo>,
    pub as_of: String,
    /// The `--account` selection; empty means every account.
    pub accounts: Vec<String>,
    pub findings: FindingCounts,
    /// Per rule and finding code: checked, assumed or not checked.
    pub coverage: crate::mapping::coverage::Coverage,
    pub refund_totals: BTreeMap<String, TotalsOut>,
    pub reports: Vec<&'static str>,
    /// Every file the run wrote but this one: name, bytes, SHA-256, data
    /// rows (`refund-recon verify` checks them).
    pub files: Vec<super::FileEntry>,
    /// A sharded run's shards (docs/scale.md): each one's index, rows read
    /// and the SHA-256 of its shard.json (which lists its reports' hashes);
    /// absent for a run in one piece.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub shards: Vec<ShardEntry>,
    /// When the run started (excluded from byte-identical comparisons).
    pub started_at: String,
    /// Seconds per phase (excluded from byte-identical comparisons).
    pub elapsed_seconds: Elapsed,
    #[serde(skip)]
    pub worst: Option<Severity>,
}

impl Summary {
    pub fn new(rec: &Reconciliation, findings: &[&Finding], totals: BTreeMap<Currency, Totals>) -> Summary {
        let mut counts = Counts::new(&rec.coverage);
        // Counted per code first: two map lookups per finding were 0.14 s
        // at 10M orders (docs/performance.md, log entry 41).
        let mut per_code = [0u64; Code::ALL.len()];
        for f in findings {
            per_code[f.code as usize] += 1;
        }
        for (code, n) in Code::ALL.iter().zip(per_code) {
            counts.add(*code, n);
        }
        let policy = PolicyInfo {
            name: rec.policy.name.clone(),
            path: rec.policy.path.display().to_string(),
            sha256: rec.policy.sha256.clone(),
        };
        Summary::from_parts(
            policy,
            (input_infos(&rec.inputs), mapping_info(&rec.inputs)),
            rec.cal.format(rec.as_of),
            counts,
            (&rec.coverage, &rec.policy),
            totals,
        )
    }

    /// A summary from its parts: a run's, or a sharded run's merged ones
    /// (docs/scale.md). Its file list, timings and start are set later.
    pub fn from_parts(
        policy: PolicyInfo,
        (inputs, mapping): (Vec<InputInfo>, Option<MappingInfo>),
        as_of: String,
        counts: Counts,
        (coverage, rules): (&crate::mapping::coverage::Coverage, &crate::config::Policy),
        totals: BTreeMap<Currency, Totals>,
    ) -> Summary {
        let fmt = |c: Currency, v: Decimal| crate::money::format(v, rules.minor_units.of(c), rules.rounding);
        Summary {
            baseline: None,
            tool: "refund-recon",
            version: env!("CARGO_PKG_VERSION"),
            policy,
            inputs,
            mapping,
            as_of,
            accounts: Vec::new(),
            findings: FindingCounts {
                total: counts.total,
                by_severity: counts.by_severity,
                by_code: counts.by_code,
            },
            coverage: coverage.clone(),
            refund_totals: totals
                .into_iter()
                .map(|(c, t)| {
                    (
                        c.as_str().to_string(),
                        TotalsOut {
                            expected_refunds: fmt(c, t.expected),
                            recorded_refunds: fmt(c, t.recorded),
                        },
                    )
                })
                .collect(),
            reports: super::FILES.to_vec(),
            files: Vec::new(),
            shards: Vec::new(),
            started_at: String::new(),
            elapsed_seconds: Elapsed::default(),
            worst: counts.worst,
        }
    }

    pub fn set_timings(&mut self, t: &Timings) {
        let s = |d: std::time::Duration| (d.as_secs_f64() * 1000.0).round() / 1000.0;
        self.elapsed_seconds = Elapsed {
            total: s(t.ingest + t.join + t.rules + t.aggregate + t.write),
            ingest: s(t.ingest),
            join: s(t.join),
            rules: s(t.rules),
            aggregate: s(t.aggregate),
            write: s(t.write),
        };
    }

    pub fn write(&self, path: &Path) -> Result<(), AppError> {
        let mut text = serde_json::to_string_pretty(self).map_err(|e| AppError::Internal(e.to_string()))?;
        text.push('\n');
        let file = std::fs::File::create(path)
            .map_err(|e| AppError::Output(format!("{}: cannot write ({e})", path.display())))?;
        use std::io::Write;
        let mut w = std::io::BufWriter::new(file);
        w.write_all(text.as_bytes())
            .and_then(|_| w.flush())
            .and_then(|_| w.get_ref().sync_all())
            .map_err(|e| AppError::Output(format!("{}: cannot write ({e})", path.display())))
    }
}
