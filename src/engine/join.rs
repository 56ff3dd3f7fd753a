//! The polars part of the engine: hash joins of payments and
//! unsubscriptions to their orders, and the sort that fixes the evaluation
//! order. Results come back as plain row indices.

use std::ops::Range;

use polars::prelude::*;

use super::RowIndex;
use crate::columns::StrCol;
use crate::ingest::{Inputs, Table};

/// Row indices produced by the joins and the sort.
pub struct Joined {
    /// Accepted order row of each unsubscription (None: no such order).
    pub order_of_unsub: Vec<Option<RowIndex>>,
    /// Accepted order row of each payment (None: no such order).
    pub order_of_payment: Vec<Option<RowIndex>>,
    /// Unsubscription rows sorted by (account_id, requested_at, unsub_id).
    pub unsub_sorted: Vec<u32>,
    /// Each account's range in `unsub_sorted`, in account order.
    pub accounts: Vec<Range<usize>>,
}

fn row_index(name: &str, n: usize) -> Column {
    Column::new(PlSmallStr::from_str(name), (0..n as u32).collect::<Vec<u32>>())
}

fn collect(lf: LazyFrame) -> PolarsResult<DataFrame> {
    Ok(lf.collect_with_engine(Engine::InMemory)?.unwrap_single())
}

/// For each key, the row of the order with that order_id (ids are unique).
fn order_rows(order_ids: &StrCol, keys: &StrCol) -> PolarsResult<Vec<Option<RowIndex>>> {
    let (n, m) = (keys.len(), order_ids.len());
    let mut out = vec![None; n];
    if n == 0 || m == 0 {
        return Ok(out);
    }
    let left = DataFrame::new(n, vec![keys.to_column("order_id"), row_index("l", n)])?;
    let right = DataFrame::new(m, vec![order_ids.to_column("order_id"), row_index("r", m)])?;
    let joined = collect(
        left.lazy()
            .join(
                right.lazy(),
                [col("order_id")],
                [col("order_id")],
                JoinArgs::new(JoinType::Inner),
            )
            .select([col("l"), col("r")]),
    )?;
    let l = joined.column("l")?.u32()?;
    let r = joined.column("r")?.u32()?;
    for (a, b) in l.into_no_null_iter().zip(r.into_no_null_iter()) {
        out[a as usize] = Some(RowIndex::new(b as usize));
    }
    Ok(out)
}

pub fn join(inputs: &Inputs) -> PolarsResult<Joined> {
    let (o, p, u) = (&inputs.orders, &inputs.payments, &inputs.unsubs);
    let span = crate::trace::span("join: payments → orders");
    let order_of_payment = order_rows(&o.order_id, &p.order_id)?;
    drop(span);
    let span = crate::trace::span("join: unsubs → orders");
    let order_of_unsub = order_rows(&o.order_id, &u.order_id)?;
    drop(span);
    let _span = crate::trace::span("join: sort unsubs");

    let n = u.len();
    let unsub_sorted: Vec<u32> = if n == 0 {
        Vec::new()
    } else {
        let df = DataFrame::new(
            n,
            vec![
                Column::new("account".into(), u.account_id.codes.clone()),
                Column::new("requested_at".into(), u.requested_at.clone()),
                u.unsub_id.to_column("unsub_id"),
                row_index("row", n),
            ],
        )?;
        let sorted = df.sort(["account", "requested_at", "unsub_id"], SortMultipleOptions::default())?;
        let rows = sorted.column("row")?.u32()?;
        rows.into_no_null_iter().collect()
    };

    let acct = u.account_id.view();
    let mut accounts = Vec::new();
    let mut start = 0;
    for i in 1..=unsub_sorted.len() {
        if i == unsub_sorted.len() || acct.code(unsub_sorted[i] as usize) != acct.code(unsub_sorted[start] as usize) {
            accounts.push(start..i);
            start = i;
        }
    }
    Ok(Joined {
        order_of_unsub,
        order_of_payment,
        unsub_sorted,
        accounts,
    })
}
