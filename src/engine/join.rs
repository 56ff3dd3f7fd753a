//! The joins of payments and unsubscriptions to their orders, and the sort
//! that fixes the evaluation order. Results come back as plain row indices.

use std::ops::Range;

use polars::prelude::*;
use rayon::prelude::*;
use rustc_hash::FxHashMap;

use super::RowIndex;
use crate::columns::{StrCol, StrView};
use crate::ingest::{Inputs, Orders, Table};

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
    /// Where each account's orders are ([`account_starts`]), when the
    /// orders are in account order and there are some.
    pub order_starts: Option<Vec<u32>>,
}

/// Where each account's rows are in a table in account order: account `a`
/// has rows `start[a]..start[a + 1]`. None when the table is not in
/// account order (ingest sorts it; `explain --reports` loads a few
/// accounts' rows in file order).
pub(crate) fn account_starts(codes: &[u32], accounts: usize) -> Option<Vec<u32>> {
    if !codes.windows(2).all(|w| w[0] <= w[1]) {
        return None;
    }
    let mut start = vec![0u32; accounts + 1];
    for &a in codes {
        *start.get_mut(a as usize + 1)? += 1;
    }
    for a in 0..accounts {
        start[a + 1] += start[a];
    }
    Some(start)
}

/// An account's orders above this many are searched through a sorted
/// index, fewer by a scan.
const SCAN: usize = 16;

/// The order rows of each account, for finding an order_id among them:
/// the rows themselves for a small account, sorted by order_id for a
/// large one (so an account with a million orders is not scanned).
struct OrderIndex<'a> {
    ids: StrView<'a>,
    start: Vec<u32>,
    /// Large accounts: their rows sorted by order_id.
    sorted: FxHashMap<u32, Vec<u32>>,
}

/// For each of `wanted` (ids not found among their own account's
/// orders), the row of the order with that id in any account (the first,
/// should ids repeat), or None. One parallel pass over every order's id
/// against a map of the distinct wanted ids: the ids missed by both joins
/// are looked for together, and the pass costs a hash per order, where a
/// sorted hash index of every order cost a sort of them all, built once per
/// join (docs/performance.md, log entry 43).
fn find_anywhere(ids: StrView<'_>, n: usize, wanted: &[&str]) -> Vec<Option<u32>> {
    if wanted.is_empty() {
        return Vec::new();
    }
    let mut slot: FxHashMap<&str, u32> = FxHashMap::with_capacity_and_hasher(wanted.len(), Default::default());
    for &w in wanted {
        let next = slot.len() as u32;
        slot.entry(w).or_insert(next);
    }
    // In row order (an indexed collect), so the first row of an id wins.
    let hits: Vec<(u32, u32)> = (0..n)
        .into_par_iter()
        .filter_map(|r| slot.get(ids.get(r)).map(|&s| (s, r as u32)))
        .collect();
    let mut row_of: Vec<Option<u32>> = vec![None; slot.len()];
    for (s, r) in hits {
        row_of[s as usize].get_or_insert(r);
    }
    wanted.iter().map(|w| row_of[slot[w] as usize]).collect()
}

impl<'a> OrderIndex<'a> {
    fn new(ids: StrView<'a>, start: Vec<u32>) -> Self {
        let large: Vec<u32> = (0..start.len() as u32 - 1)
            .filter(|&a| (start[a as usize + 1] - start[a as usize]) as usize > SCAN)
            .collect();
        let sorted = large
            .into_par_iter()
            .map(|a| {
                let mut rows: Vec<u32> = (start[a as usize]..start[a as usize + 1]).collect();
                rows.sort_unstable_by(|&x, &y| ids.get(x as usize).cmp(ids.get(y as usize)));
                (a, rows)
            })
            .collect();
        OrderIndex { ids, start, sorted }
    }

    /// The row of the order with id `id` (whose [`StrView::raw`] is
    /// `raw`) among account `account`'s orders. A small account's rows
    /// are scanned comparing raw views, one 16-byte comparison per row for
    /// an id of at most 12 bytes, and only the rows whose length and first
    /// bytes agree compared as text otherwise (a call to `memcmp` per row
    /// took a fifth of the join: docs/performance.md, log entry 78).
    fn find(&self, account: u32, id: &str, raw: u128) -> Option<u32> {
        let a = account as usize;
        let (&lo, &hi) = (self.start.get(a)?, self.start.get(a + 1)?);
        if (hi - lo) as usize <= SCAN {
            return if StrView::raw_is_text(raw) {
                (lo..hi).find(|&r| self.ids.raw(r as usize) == raw)
            } else {
                let head = raw as u64;
                (lo..hi).find(|&r| self.ids.raw(r as usize) as u64 == head && self.ids.get(r as usize) == id)
            };
        }
        let rows = self.sorted.get(&account)?;
        rows.binary_search_by(|&r| self.ids.get(r as usize).cmp(id))
            .ok()
            .map(|k| rows[k])
    }
}

/// How order ids are looked up: once ingest has put the orders in account
/// order, among the key's own account's orders (contiguous, so the lookups
/// stay in cache), with one index shared by the payments' and the
/// unsubscriptions' joins; the ids not found there are then looked for
/// among every order, both joins' at once ([`find_anywhere`]). Orders not
/// in account order (explain's few accounts) go through a polars hash join
/// instead.
enum Lookup<'a> {
    ByAccount(OrderIndex<'a>),
    HashJoin,
}

impl<'a> Lookup<'a> {
    fn new(orders: &'a Orders) -> Self {
        let accounts = orders.account_id.dict().len();
        match account_starts(&orders.account_id.codes, accounts) {
            Some(start) if !orders.is_empty() => Lookup::ByAccount(OrderIndex::new(orders.order_id.view(), start)),
            _ => Lookup::HashJoin,
        }
    }
}

/// For each row of `keys` (order_id and account), the row of the order with
/// that order_id (ids are unique), or None ([`Lookup`]); and the keys still
/// to be looked for in other accounts ([`other_accounts`]).
fn order_rows(
    lookup: &Lookup<'_>,
    orders: &Orders,
    key_ids: &StrCol,
    key_accounts: &[u32],
) -> PolarsResult<(Vec<Option<RowIndex>>, Vec<usize>)> {
    let (n, m) = (key_ids.len(), orders.len());
    if n == 0 || m == 0 {
        return Ok((vec![None; n], Vec::new()));
    }
    let Lookup::ByAccount(index) = lookup else {
        return Ok((hash_join(&orders.order_id, key_ids)?, Vec::new()));
    };
    let keys = key_ids.view();
    let out: Vec<Option<RowIndex>> = (0..n)
        .into_par_iter()
        .map(|i| {
            index
                .find(key_accounts[i], keys.get(i), keys.raw(i))
                .map(|r| RowIndex::new(r as usize))
        })
        .collect();
    let misses: Vec<usize> = (0..n).filter(|&i| out[i].is_none()).collect();
    Ok((out, misses))
}

/// One join's rows found so far, its key ids, and the key rows its own
/// accounts' orders do not have.
type Missed<'a> = (&'a mut [Option<RowIndex>], &'a StrCol, &'a [usize]);

/// Looks for the keys of both joins that their own account's orders do
/// not have among every order, in one pass.
fn other_accounts(orders: &Orders, joins: [Missed<'_>; 2]) {
    let wanted: Vec<&str> = joins
        .iter()
        .flat_map(|(_, keys, misses)| {
            let keys = keys.view();
            misses.iter().map(move |&i| keys.get(i))
        })
        .collect();
    let found = find_anywhere(orders.order_id.view(), orders.len(), &wanted);
    let mut found = found.into_iter();
    for (out, _, misses) in joins {
        for (&i, f) in misses.iter().zip(found.by_ref()) {
            out[i] = f.map(|r| RowIndex::new(r as usize));
        }
    }
}

fn row_index(name: &str, n: usize) -> Column {
    Column::new(PlSmallStr::from_str(name), (0..n as u32).collect::<Vec<u32>>())
}

fn collect(lf: LazyFrame) -> PolarsResult<DataFrame> {
    Ok(lf.collect_with_engine(Engine::InMemory)?.unwrap_single())
}

/// For each key, the row of the order with that order_id (ids are unique),
/// by a polars hash join.
fn hash_join(order_ids: &StrCol, keys: &StrCol) -> PolarsResult<Vec<Option<RowIndex>>> {
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

/// Unsubscription rows in evaluation order — (account_id,
/// requested_at, unsub_id) — when they are in account order (as ingest
/// leaves them): each account's rows sorted on their own, accounts a task
/// at a time in parallel, instead of a polars sort of all of them by three
/// columns copied for it (0.14 s at 10M orders at 1.3–1.6 cores;
/// docs/performance.md, log entry 82). Ids are unique, so this is the one
/// order the sort gives. None when the rows are not in account order.
fn evaluation_order_by_account(u: &crate::ingest::Unsubscriptions) -> Option<Vec<u32>> {
    const ACCOUNTS_PER_TASK: usize = 4096;
    let start = account_starts(&u.account_id.codes, u.account_id.dict().len())?;
    let ids = u.unsub_id.view();
    let mut rows: Vec<u32> = (0..u.len() as u32).collect();
    // Each task's rows: the rows of its accounts, split off in order.
    let mut tasks = Vec::with_capacity(start.len() / ACCOUNTS_PER_TASK + 1);
    let mut rest = &mut rows[..];
    for first in (0..start.len() - 1).step_by(ACCOUNTS_PER_TASK) {
        let last = (first + ACCOUNTS_PER_TASK).min(start.len() - 1);
        let (head, tail) = rest.split_at_mut((start[last] - start[first]) as usize);
        tasks.push((first, head));
        rest = tail;
    }
    tasks.into_par_iter().for_each(|(first, task)| {
        let base = start[first];
        for a in first..(first + ACCOUNTS_PER_TASK).min(start.len() - 1) {
            let account = &mut task[(start[a] - base) as usize..(start[a + 1] - base) as usize];
            account.sort_unstable_by(|&x, &y| {
                let (x, y) = (x as usize, y as usize);
                u.requested_at[x]
                    .cmp(&u.requested_at[y])
                    .then_with(|| ids.get(x).as_bytes().cmp(ids.get(y).as_bytes()))
            });
        }
    });
    Some(rows)
}

/// [`evaluation_order_by_account`] for rows in any order: a polars sort by
/// the three columns.
fn evaluation_order_sorted(u: &crate::ingest::Unsubscriptions) -> PolarsResult<Vec<u32>> {
    let n = u.len();
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
    Ok(rows.into_no_null_iter().collect())
}

pub fn join(inputs: &Inputs) -> PolarsResult<Joined> {
    let (o, p, u) = (&inputs.orders, &inputs.payments, &inputs.unsubs);
    let span = crate::trace::span("join: payments → orders");
    let lookup = Lookup::new(o);
    let (mut order_of_payment, p_misses) = order_rows(&lookup, o, &p.order_id, &p.account_id.codes)?;
    drop(span);
    let span = crate::trace::span("join: unsubs → orders");
    let (mut order_of_unsub, u_misses) = order_rows(&lookup, o, &u.order_id, &u.account_id.codes)?;
    drop(span);
    let span = crate::trace::span("join: other accounts' orders");
    other_accounts(
        o,
        [
            (&mut order_of_payment, &p.order_id, &p_misses),
            (&mut order_of_unsub, &u.order_id, &u_misses),
        ],
    );
    let order_starts = match lookup {
        Lookup::ByAccount(index) => Some(index.start),
        Lookup::HashJoin => None,
    };
    drop(span);
    let _span = crate::trace::span("join: sort unsubs");

    let n = u.len();
    let unsub_sorted: Vec<u32> = if n == 0 {
        Vec::new()
    } else if let Some(rows) = evaluation_order_by_account(u) {
        rows
    } else {
        evaluation_order_sorted(u)?
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
        order_starts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Orders in account order: account 0 has 3 (one id longer than 12
    /// bytes), account 1 has 40 (a large one, searched through its sorted
    /// index), account 2 none, account 3 one.
    fn orders() -> (StrCol, Vec<u32>) {
        let mut ids = vec!["o-a1".to_string(), "o-a0".to_string(), LONG_A.to_string()];
        let mut accts = vec![0, 0, 0];
        for k in (0..40).rev() {
            ids.push(format!("o-b{k:02}-a longer id than twelve bytes"));
            accts.push(1);
        }
        ids.push("o-d".into());
        accts.push(3);
        (StrCol::from_strs(ids.iter().map(String::as_str)), accts)
    }

    /// An id of account 0 past the 12 bytes a view holds, and one of the
    /// same length and first bytes that differs only at its end.
    const LONG_A: &str = "o-a2-a longer id than twelve bytes";
    const LONG_A_NOT: &str = "o-a2-a longer id than twelve bytez";

    #[test]
    fn an_order_is_found_in_its_own_account_or_any_other() {
        let (col, accts) = orders();
        let start = account_starts(&accts, 4).unwrap();
        assert_eq!(start, vec![0, 3, 43, 43, 44]);
        let index = OrderIndex::new(col.view(), start);
        assert!(index.sorted.contains_key(&1) && !index.sorted.contains_key(&0));
        let naive = |id: &str| (0..col.len() as u32).find(|&r| col.view().get(r as usize) == id);
        let mut probes: Vec<(u32, String)> = Vec::new();
        for a in 0..4 {
            for id in [
                "o-a0",
                "o-a1",
                "o-d",
                "o-missing",
                "",
                "o-b",
                "o-a",
                "o-a0 ",
                LONG_A,
                LONG_A_NOT,
            ] {
                probes.push((a, id.into()));
            }
            for k in [0, 7, 39, 40] {
                probes.push((a, format!("o-b{k:02}-a longer id than twelve bytes")));
            }
        }
        let own = |a: u32, r: u32| accts[r as usize] == a;
        // The probes as a column of their own, as the payments' order_ids are.
        let keys = StrCol::from_strs(probes.iter().map(|(_, id)| id.as_str()));
        for (k, (a, id)) in probes.iter().enumerate() {
            let want = naive(id);
            assert_eq!(
                index.find(*a, id, keys.view().raw(k)),
                want.filter(|&r| own(*a, r)),
                "account {a}, id {id:?}"
            );
            assert_eq!(
                find_anywhere(col.view(), col.len(), &[id.as_str(), "o-missing", id.as_str()]),
                vec![want, None, want],
                "id {id:?} in any account"
            );
        }
    }

    /// Sorting each account's unsubscriptions on its own gives the order
    /// polars' sort of all of them by the three columns gives; rows out
    /// of account order fall back to that sort.
    #[test]
    fn each_accounts_sort_is_the_evaluation_order() {
        use crate::generate::{generate, GenerateOptions, Layout};
        let dir = tempfile::tempdir().unwrap();
        let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/policy.toml");
        let policy = crate::config::Policy::load(&data).unwrap();
        generate(&GenerateOptions {
            out: dir.path().to_path_buf(),
            accounts: 300,
            orders: 6000,
            seed: 5,
            error_rate: 0.3,
            malformed_rate: 0.0,
            policy: policy.clone(),
            layout: Layout::default(),
        })
        .unwrap();
        let paths = crate::ingest::InputPaths::in_folder(dir.path());
        let mut u = Inputs::load(&paths, &policy.calendar()).unwrap().unsubs;
        // Ties on requested_at within an account, decided by unsub_id.
        let (first, second) = (0, 1);
        assert_eq!(u.account_id.codes[first], u.account_id.codes[second]);
        u.requested_at[second] = u.requested_at[first];
        let by_account = evaluation_order_by_account(&u).expect("ingest leaves account order");
        assert!(by_account.len() > 500, "{} unsubscriptions", by_account.len());
        assert_eq!(by_account, evaluation_order_sorted(&u).unwrap());
        let out_of_order = crate::columns::RowOrder::new((0..u.len() as u32).rev().collect());
        u.gather(&out_of_order);
        assert!(evaluation_order_by_account(&u).is_none());
    }

    #[test]
    fn a_table_out_of_account_order_has_no_starts() {
        assert_eq!(account_starts(&[0, 2, 1], 3), None);
        assert_eq!(account_starts(&[], 2), Some(vec![0, 0, 0]));
    }
}
