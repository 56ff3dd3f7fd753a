//! `merge --baseline`: the baseline read alongside the merged findings, an
//! account at a time. Both are in account order (every report is sorted
//! by account_id first, and merge writes the accounts in byte order), and
//! a finding's id includes its account, so a finding persists only where
//! the baseline holds its id among the same account's findings. Memory is
//! one account's baseline findings, whatever the baseline's size.
//! resolved.csv is written as the baseline is read: in its order, each id
//! once, as a run writes it.

use std::path::Path;

use rustc_hash::FxHashMap;

use crate::error::AppError;
use crate::report::baseline::{FindingReader, PastFinding, Since as Standing};
use crate::report::{self, Baseline, Done, ResolvedRows};
use crate::rules::finding::FindingId;

/// The baseline's findings of one account, in its order, each id once.
struct Account {
    name: String,
    findings: Vec<PastFinding>,
    /// Where each id is in `findings`.
    at: FxHashMap<FindingId, usize>,
    /// Whether the merged findings have it.
    seen: Vec<bool>,
}

/// `--baseline` applied to discrepancies.csv while it is merged: each
/// finding's status, first_seen and age_days (the shards leave them
/// empty), resolved.csv and the counts.
pub(super) struct Since<'a> {
    pub baseline: &'a Baseline,
    reader: FindingReader,
    /// The next finding read and not yet in an [`Account`].
    ahead: Option<PastFinding>,
    /// The baseline account at hand (not before the one being merged).
    account: Option<Account>,
    resolved: ResolvedRows<'a>,
    cal: &'a crate::time::Calendar,
    as_of: i64,
    /// Columns of finding_id and severity.
    pub columns: (usize, usize),
    pub counts: report::SinceCounts,
}

impl<'a> Since<'a> {
    pub fn new(
        (baseline, mut reader): (&'a Baseline, FindingReader),
        resolved: &Path,
        coverage: &'a crate::mapping::coverage::Coverage,
        cal: &'a crate::time::Calendar,
        as_of: i64,
    ) -> Result<Since<'a>, AppError> {
        let ahead = reader.next_finding()?;
        Ok(Since {
            baseline,
            reader,
            ahead,
            account: None,
            resolved: ResolvedRows::create(resolved, coverage, cal, baseline.as_of)?,
            cal,
            as_of,
            columns: (0, 0),
            counts: report::SinceCounts::default(),
        })
    }

    /// The baseline's next account, read whole; refused where the baseline
    /// is not in account order (no refund-recon run writes one so).
    fn next_account(&mut self) -> Result<Option<Account>, AppError> {
        let Some(first) = self.ahead.take() else {
            return Ok(None);
        };
        let mut a = Account {
            name: first.account().to_string(),
            findings: Vec::new(),
            at: FxHashMap::default(),
            seen: Vec::new(),
        };
        if let Some(before) = &self.account {
            if a.name.as_bytes() < before.name.as_bytes() {
                return Err(AppError::Usage(format!(
                    "--baseline {}: its discrepancies.csv is not in account order (line {}: account {} after {}); merge reads a baseline in the order a run writes it: give the reports folder of a refund-recon run",
                    self.baseline.path.display(),
                    self.reader.line(),
                    a.name,
                    before.name
                )));
            }
        }
        let mut next = Some(first);
        while let Some(f) = next.take() {
            if f.account() != a.name {
                self.ahead = Some(f);
                break;
            }
            if let std::collections::hash_map::Entry::Vacant(v) = a.at.entry(f.id) {
                v.insert(a.findings.len());
                a.findings.push(f);
                a.seen.push(false);
            }
            next = self.reader.next_finding()?;
        }
        Ok(Some(a))
    }

    /// The account at hand's findings not merged now, into resolved.csv.
    fn resolve(&mut self) -> Result<(), AppError> {
        if let Some(a) = &self.account {
            for (f, seen) in a.findings.iter().zip(&a.seen) {
                if !seen {
                    self.resolved.push(f)?;
                }
            }
        }
        Ok(())
    }

    /// Moves the baseline to `account` (merged next): the accounts before
    /// it are resolved, its own findings held for [`Since::patch`].
    pub fn enter(&mut self, account: &[u8]) -> Result<(), AppError> {
        loop {
            match &self.account {
                Some(a) if a.name.as_bytes() >= account => return Ok(()),
                _ => {}
            }
            self.resolve()?;
            match self.next_account()? {
                Some(a) => self.account = Some(a),
                None => {
                    self.account = None;
                    return Ok(());
                }
            }
        }
    }

    /// Where `id`, of the account entered last, stands.
    fn standing(&mut self, id: FindingId, account: &[u8]) -> Standing {
        let held = self
            .account
            .as_mut()
            .filter(|a| a.name.as_bytes() == account)
            .and_then(|a| {
                let i = *a.at.get(&id)?;
                Some((a, i))
            });
        match held {
            Some((a, i)) => {
                a.seen[i] = true;
                Standing {
                    new: false,
                    first_seen: a.findings[i].first_seen,
                }
            }
            None => Standing {
                new: true,
                first_seen: self.as_of,
            },
        }
    }

    /// Rewrites the row of `account` just copied to the end of `buf` (its
    /// last three cells empty) with its standing against the baseline;
    /// `id` and `severity` are its cells.
    pub fn patch(
        &mut self,
        account: &[u8],
        (id, severity): (Option<&[u8]>, Option<&[u8]>),
        buf: &mut Vec<u8>,
        start: usize,
    ) -> Result<(), AppError> {
        let bad = || {
            AppError::Internal(
                "a shard's discrepancies.csv row does not end with its three empty baseline cells".into(),
            )
        };
        let id = id
            .and_then(|f| std::str::from_utf8(f).ok())
            .and_then(FindingId::parse)
            .ok_or_else(bad)?;
        if !buf[start..].ends_with(b",,,\n") {
            return Err(bad());
        }
        buf.truncate(buf.len() - 3);
        let since = self.standing(id, account);
        buf.extend_from_slice(if since.new { b"new," } else { b"persisting," });
        self.cal.write_rfc3339(buf, since.first_seen);
        buf.extend_from_slice(format!(",{}\n", since.age_days(self.as_of)).as_bytes());
        let severity = match severity {
            Some(b"error") => crate::rules::Severity::Error,
            _ => crate::rules::Severity::Warning,
        };
        self.counts.add(since.new, severity);
        Ok(())
    }

    /// The rest of the baseline resolved; resolved.csv and summary.json's
    /// `baseline`.
    pub fn finish(mut self) -> Result<(Done, report::BaselineInfo), AppError> {
        self.resolve()?;
        while let Some(a) = self.next_account()? {
            self.account = Some(a);
            self.resolve()?;
        }
        let done = self.resolved.finish()?;
        let info = self.counts.info(self.baseline, self.cal, done.rows());
        Ok((done, info))
    }
}
