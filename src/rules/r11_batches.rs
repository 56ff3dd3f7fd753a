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

/// How a row differs from its batch's first row (by unsub_id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchDiff {
    AccountId { first: usize },
    RequestedAt { first: usize },
}

/// R11 for the rows of one batch (any order): for each row that differs
/// from the first row by unsub_id, `(row, diff)`; account_id first, then
/// requested_at compared as instants.
pub fn check_batch(rows: &[BatchRow<'_>]) -> Vec<(usize, BatchDiff)> {
    let Some(first) = rows
        .iter()
        .min_by(|a, b| a.unsub_id.as_bytes().cmp(b.unsub_id.as_bytes()))
    else {
        return Vec::new();
    };
    rows.iter()
        .filter(|r| r.row != first.row)
        .filter_map(|r| {
            if r.account_id != first.account_id {
                Some((r.row, BatchDiff::AccountId { first: first.row }))
            } else if r.requested_at != first.requested_at {
                Some((r.row, BatchDiff::RequestedAt { first: first.row }))
            } else {
                None
            }
        })
        .collect()
}

/// R11 with its findings: BATCH_INCONSISTENT on each row of batch
/// `batch_id` that differs from the first row, as `(row, finding)`.
pub fn findings(batch_id: &str, rows: &[BatchRow<'_>], cal: &Calendar) -> Vec<(usize, Finding)> {
    let by_row = |row: usize| {
        rows.iter()
            .find(|r| r.row == row)
            .expect("the first row is in the batch")
    };
    check_batch(rows)
        .into_iter()
        .map(|(row, diff)| {
            let this = by_row(row);
            let (first, field, expected, recorded) = match diff {
                BatchDiff::AccountId { first } => {
                    let f = by_row(first);
                    (f, "account_id", f.account_id.to_string(), this.account_id.to_string())
                }
                BatchDiff::RequestedAt { first } => {
                    let f = by_row(first);
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
            (row, f)
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
}
