//! R11 Batches: the rows of one batch unsubscription (a combined order)
//! share the account and the request time.

use crate::time::Micros;

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
}
