//! R11 Batches: the rows of one batch unsubscription (a combined order)
//! share the account and the request time.

use crate::rules::{Cell, Code, Finding, Step};
use crate::time::{Calendar, Micros};

/// One row of a batch.
#[derive(Debug, Clone, Copy)]
pub struct BatchRow<'a> {
    pub row: usize,
    pub unsub_id: &'a str,
    pub account_id: &'a str,
    pub requested_at: Micros,
}

/// How a row differs from its batch's first row (by unsub_id); `first` is
/// the first row's index in the batch's slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchDiff {
    AccountId { first: usize },
    RequestedAt { first: usize },
}

/// R11 for the rows of one batch (any order): for each row that differs
/// from the first row by unsub_id, `(index in rows, diff)`; account_id
/// first, then requested_at compared as instants. One pass: linear in the
/// batch, however many rows share it.
pub fn check_batch(rows: &[BatchRow<'_>]) -> Vec<(usize, BatchDiff)> {
    let Some((first_at, first)) = rows
        .iter()
        .enumerate()
        .min_by(|a, b| a.1.unsub_id.as_bytes().cmp(b.1.unsub_id.as_bytes()))
    else {
        return Vec::new();
    };
    rows.iter()
        .enumerate()
        .filter(|&(k, _)| k != first_at)
        .filter_map(|(k, r)| {
            if r.account_id != first.account_id {
                Some((k, BatchDiff::AccountId { first: first_at }))
            } else if r.requested_at != first.requested_at {
                Some((k, BatchDiff::RequestedAt { first: first_at }))
            } else {
                None
            }
        })
        .collect()
}

/// R11 with its findings: BATCH_INCONSISTENT on each row of batch
/// `batch_id` that differs from the first row, as `(row, finding)` (the
/// [`BatchRow::row`] of the row).
pub fn findings(batch_id: &str, rows: &[BatchRow<'_>], cal: &Calendar) -> Vec<(usize, Finding)> {
    check_batch(rows)
        .into_iter()
        .map(|(k, diff)| {
            let this = &rows[k];
            let (first, field, expected, recorded) = match diff {
                BatchDiff::AccountId { first } => {
                    let f = &rows[first];
                    (f, "account_id", f.account_id.to_string(), this.account_id.to_string())
                }
                BatchDiff::RequestedAt { first } => {
                    let f = &rows[first];
                    (f, "requested_at", cal.format(f.requested_at), cal.format(this.requested_at))
                }
            };
            let f = Finding::new(
                Code::BATCH_INCONSISTENT,
                format!(
                    "R11: batch {batch_id} has {field} {recorded} on unsubscription {} but {expected} on its first row {}",
                    this.unsub_id, first.unsub_id
                ),
            )
            .field(field, Cell::Text(expected), Cell::Text(recorded));
            (this.row, f)
        })
        .collect()
}

/// R11's trail line for an unsubscription of batch `batch_id`.
pub fn describe(batch_id: &str) -> Step {
    Step::new(
        "R11",
        "batch",
        format!("R11 batch {batch_id}: compared with the batch's first row by unsub_id"),
    )
    .value("batch_id", batch_id)
}

/// R11 in the shape every rule has ([`super::Rule`]), per batch.
pub struct R11;

/// What R11 reads: a batch id and its rows.
pub struct Facts<'a> {
    pub batch_id: &'a str,
    pub rows: &'a [BatchRow<'a>],
}

impl super::Rule for R11 {
    type Facts<'a> = Facts<'a>;
    /// For each finding pushed, in order, its row ([`BatchRow::row`]).
    type Step = Vec<usize>;
    fn check(f: &Facts<'_>, env: &super::Env<'_>, out: &mut Vec<Finding>) -> Vec<usize> {
        findings(f.batch_id, f.rows, env.cal)
            .into_iter()
            .map(|(row, finding)| {
                out.push(finding);
                row
            })
            .collect()
    }
}

/// What R11 reads and raises (docs/rules.md, checked by a test).
pub const RULE: super::declared::Rule = {
    use super::declared::{File::*, Rule};
    Rule {
        id: "R11",
        module: module_path!(),
        title: "Batches",
        columns: &[
            (Unsubscriptions, "batch_id"),
            (Unsubscriptions, "unsub_id"),
            (Unsubscriptions, "account_id"),
            (Unsubscriptions, "requested_at"),
        ],
        via: &[],
        policy: &[],
        codes: &[Code::BATCH_INCONSISTENT],
    }
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_from_the_first_row_by_id() {
        let rows = [
            BatchRow {
                row: 0,
                unsub_id: "U3",
                account_id: "A",
                requested_at: 5,
            },
            BatchRow {
                row: 1,
                unsub_id: "U1",
                account_id: "A",
                requested_at: 10,
            },
            BatchRow {
                row: 2,
                unsub_id: "U2",
                account_id: "B",
                requested_at: 5,
            },
            BatchRow {
                row: 3,
                unsub_id: "U4",
                account_id: "A",
                requested_at: 10,
            },
        ];
        assert_eq!(
            check_batch(&rows),
            vec![
                (0, BatchDiff::RequestedAt { first: 1 }),
                (2, BatchDiff::AccountId { first: 1 })
            ]
        );
        assert!(check_batch(&rows[3..]).is_empty());
    }

    #[test]
    fn r11_findings_name_the_first_row() {
        let cal = crate::rules::testkit::cal();
        let rows = [
            BatchRow {
                row: 0,
                unsub_id: "U2",
                account_id: "A",
                requested_at: 5,
            },
            BatchRow {
                row: 1,
                unsub_id: "U1",
                account_id: "A",
                requested_at: 0,
            },
        ];
        let f = findings("B1", &rows, &cal);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].0, 0);
        assert_eq!((f[0].1.code, f[0].1.field), (Code::BATCH_INCONSISTENT, "requested_at"));
        assert!(f[0].1.message.contains("on its first row U1"), "{}", f[0].1.message);
    }

    /// 100,000 rows in one batch, every other one of another account: one
    /// finding each, found without a scan per finding.
    #[test]
    fn a_batch_of_100_000_rows_stays_linear() {
        let cal = crate::rules::testkit::cal();
        let n = 100_000;
        let ids: Vec<String> = (0..n).map(|i| format!("U{i:06}")).collect();
        let accounts: Vec<String> = (0..n).map(|i| format!("A{i}")).collect();
        let rows: Vec<BatchRow<'_>> = (0..n)
            .rev()
            .map(|i| BatchRow {
                row: i,
                unsub_id: &ids[i],
                account_id: &accounts[i % 2],
                requested_at: 0,
            })
            .collect();
        let started = std::time::Instant::now();
        let f = findings("B", &rows, &cal);
        println!("{n} rows in one batch: {:?}", started.elapsed());
        assert_eq!(f.len(), n / 2);
        assert!(f
            .iter()
            .all(|(row, f)| row % 2 == 1 && f.message.contains("first row U000000")));
    }
}
