//! monthly_bill.csv (docs/outputs.md#monthly_billcsv): one row per
//! (account_id, billing_cycle, currency) with an order or any nonzero
//! amount.
//!
//! Charges (by month of ordered_at), succeeded payments (by month of
//! paid_at, under the payment's own account and currency) and the
//! refunds of completed unsubscriptions (expected by expected_cycle,
//! recorded by the recorded billing_cycle) are read account by account
//! (ingest leaves the tables in account order), then each account's few
//! rows are summed exactly (integers at 10⁻⁶), rounded once and written —
//! accounts in parallel batches, in rank order, which is account_id byte
//! order. See
//! docs/performance.md for why this is not a polars group-by.

use std::collections::BTreeMap;
use std::path::Path;

use rust_decimal::Decimal;

use super::csvout::Rows;
use super::html::{Bill, BillCells, BillDigest};
use super::Selection;
use crate::columns::ByAccount;
use crate::engine::{Reconciliation, RowIndex};
use crate::error::AppError;
use crate::model::{Currency, Month, PaymentStatus, UnsubStatus};
use crate::rules::r0_linking::Link;

pub const HEADER: [&str; 14] = super::schema::header(&super::schema::MONTHLY_BILL);

const CHARGED: usize = 0;
const COUPON: usize = 1;
const PAID: usize = 2;
const EXP_REFUND: usize = 3;
const REC_REFUND: usize = 4;
const EXP_FEE: usize = 5;
const EXP_COUPON: usize = 6;
/// Sums are exact integers in units of 10⁻⁶ (inputs have at most 6
/// decimals; computed amounts are rounded to the minor units).
pub const SCALE: u32 = 6;

/// An amount as an integer of 10⁻⁶ units (the bill's sums, and the
/// control total against refunds.csv).
pub(super) fn scaled(v: Decimal) -> i128 {
    // Every amount read or computed has at most SCALE decimals: widen its
    // mantissa in i128 (exact) instead of rescaling the decimal.
    let scale = v.scale();
    if scale <= SCALE {
        return v.mantissa() * i128::from(crate::money::pow10(SCALE - scale));
    }
    let mut v = v;
    v.rescale(SCALE);
    v.mantissa()
}

/// One contribution to a bill row.
struct Entry {
    cycle: i32,
    currency: Currency,
    orders: u64,
    sums: [i128; 7],
}

impl Entry {
    /// (cycle, currency) as one integer that sorts as the pair does: the
    /// month with its sign bit flipped, then the three letters. One
    /// integer comparison per probe instead of a tuple's (log entry 57).
    fn key(cycle: Month, currency: Currency) -> u64 {
        let [a, b, c] = currency.bytes();
        let month = (cycle.0 as u32) ^ (1 << 31);
        u64::from(month) << 24 | u64::from(a) << 16 | u64::from(b) << 8 | u64::from(c)
    }

    fn new(cycle: Month, currency: Currency) -> Entry {
        Entry {
            cycle: cycle.0,
            currency,
            orders: 0,
            sums: [0; 7],
        }
    }
}

/// One account's entries, summed per (cycle, currency), kept in the order
/// their keys first came. An account has a few keys (ten in the
/// benchmark's exports): a key is found by a scan of them, or, past
/// [`Entries::SCAN`] keys, through a hash index, so an account with rows in
/// thousands of months costs a sort, not a quadratic search. (Kept
/// sorted, a binary search and an insertion per new key, a lookup took
/// 1.3–2.3 times the instructions: log entry 93.) One is reused for every
/// account of a batch, and the entries are read in key order through a
/// sorted list of their places, so an entry is never moved (moving them
/// out cost more than finding them).
#[derive(Default)]
struct Entries {
    keys: Vec<u64>,
    entries: Vec<Entry>,
    index: Option<rustc_hash::FxHashMap<u64, usize>>,
    /// Places in `entries`, in key order ([`Entries::sorted`]).
    order: Vec<u32>,
}

impl Entries {
    const SCAN: usize = 32;

    /// Empties for the next account, keeping the room.
    fn clear(&mut self) {
        self.keys.clear();
        self.entries.clear();
        self.index = None;
    }

    /// The entry a contribution of (`cycle`, `currency`) is added to.
    fn at(&mut self, cycle: Month, currency: Currency) -> &mut Entry {
        let key = Entry::key(cycle, currency);
        let found = match &self.index {
            None => self.keys.iter().position(|&k| k == key),
            Some(index) => index.get(&key).copied(),
        };
        let at = match found {
            Some(at) => at,
            None => self.add(key, Entry::new(cycle, currency)),
        };
        &mut self.entries[at]
    }

    /// Adds a new key's entry; returns where it is.
    fn add(&mut self, key: u64, entry: Entry) -> usize {
        let at = self.entries.len();
        self.keys.push(key);
        self.entries.push(entry);
        match &mut self.index {
            Some(index) => {
                index.insert(key, at);
            }
            None if self.keys.len() > Self::SCAN => {
                self.index = Some(self.keys.iter().enumerate().map(|(i, &k)| (k, i)).collect());
            }
            None => {}
        }
        at
    }

    /// The entries in (cycle, currency) order, one per key, without those
    /// that hold nothing.
    fn sorted(&mut self) -> impl Iterator<Item = &Entry> {
        let Entries {
            keys, entries, order, ..
        } = self;
        order.clear();
        order.extend(0..keys.len() as u32);
        // Keys are unique, so the order is the same with any sort.
        order.sort_unstable_by_key(|&i| keys[i as usize]);
        order
            .iter()
            .map(|&i| &entries[i as usize])
            .filter(|e| e.orders > 0 || e.sums.iter().any(|&s| s != 0))
    }
}

/// Each account's rows of a table: its range of the table when the table
/// is in account order, as ingest leaves it (the rows then tested as they
/// are read), else the rows that count, bucketed by account.
enum AccountRows {
    Ranges(Vec<u32>),
    Buckets(ByAccount),
}

impl AccountRows {
    /// The rows of a table of account `codes`; `account` gives a row's
    /// account when it counts.
    fn new(codes: &[u32], accounts: usize, account: impl Fn(usize) -> Option<u32>) -> AccountRows {
        match crate::engine::account_starts(codes, accounts) {
            Some(start) => AccountRows::Ranges(start),
            None => AccountRows::Buckets(ByAccount::new(accounts, codes.len(), account)),
        }
    }

    /// Calls `f` with each row of account `a` that counts (`counts`), in
    /// table order.
    fn each(&self, a: usize, counts: impl Fn(usize) -> bool, mut f: impl FnMut(usize)) {
        match self {
            AccountRows::Ranges(start) => (start[a] as usize..start[a + 1] as usize)
                .filter(|&i| counts(i))
                .for_each(f),
            AccountRows::Buckets(b) => b.of(a).iter().for_each(|&i| f(i as usize)),
        }
    }
}

/// Bytes per account a batch's buffer starts with: about 760 are written
/// in the benchmark's exports (ten rows of 78 bytes), and a buffer that
/// grows copies what it holds. Room not written to is never touched.
const ACCOUNT_BYTES: usize = 1024;

/// What writing the bill gives: the control total per currency,
/// report.html's digest (when asked for) and the file.
pub type Written = (BTreeMap<Currency, i128>, Option<Bill>, super::Done);

/// Writes monthly_bill.csv; returns Σ expected_refunds per currency of
/// the rows written (the control total), with `digest` what report.html
/// shows of the bill (from the cells as written), and the file. The file
/// goes around the page cache unless something reads it back (`read_back`:
/// a Parquet copy, or `merge` from a shard).
pub fn write(
    rec: &Reconciliation,
    sel: &Selection,
    path: &Path,
    read_back: bool,
    digest: bool,
) -> Result<Written, AppError> {
    let cal = &rec.cal;
    let (o, p, u) = (&rec.inputs.orders, &rec.inputs.payments, &rec.inputs.unsubs);
    let dict = o.account_id.dict().clone();
    let accounts = dict.len();

    let span = crate::trace::span("bill: account rows");
    let (o_acct, p_acct, u_acct) = (o.account_id.view(), p.account_id.view(), u.account_id.view());
    // Rows of context exports are not billed (docs/inputs.md#context-earlier-exports).
    let context = rec.inputs.has_context();
    let billed_order = |i: usize| !context || rec.reported(0, i);
    let billed_payment = |i: usize| p.status[i] == PaymentStatus::Succeeded && (!context || rec.reported(1, i));
    let (orders, payments) = rayon::join(
        || {
            AccountRows::new(&o.account_id.codes, accounts, |i| {
                billed_order(i).then(|| o_acct.code(i))
            })
        },
        || {
            AccountRows::new(&p.account_id.codes, accounts, |i| {
                billed_payment(i).then(|| p_acct.code(i))
            })
        },
    );
    // Outcomes are already in account order; find each account's range.
    let mut unsub_ranges = vec![0u32..0u32; accounts];
    for range in &rec.accounts {
        if let Some(first) = rec.outcomes.get(range.start) {
            unsub_ranges[u_acct.code(first.unsub as usize) as usize] = range.start as u32..range.end as u32;
        }
    }
    drop(span);

    let _span = crate::trace::span("bill: sum + write");
    // Entries of one account, summed per (cycle, currency) into `entries`
    // ([`Entries`]; docs/performance.md, log entries 37 and 93).
    let account_rows = |a: usize, entries: &mut Entries| {
        entries.clear();
        orders.each(a, billed_order, |i| {
            let e = entries.at(cal.month_of(o.ordered_at[i]), o.currency[i]);
            e.orders += 1;
            e.sums[CHARGED] += scaled(o.amount[i].get());
            e.sums[COUPON] += scaled(o.coupon_amount[i].get());
        });
        payments.each(a, billed_payment, |i| {
            entries.at(cal.month_of(p.paid_at[i]), p.currency[i]).sums[PAID] += scaled(p.amount[i].get());
        });
        let range = &unsub_ranges[a];
        for out in &rec.outcomes[range.start as usize..range.end as usize] {
            let r = out.unsub as usize;
            let Some(oi) = rec.order_of_unsub[r].map(RowIndex::get) else {
                continue;
            };
            if u.status[r] != UnsubStatus::Completed || out.link == Link::OrderNotFound {
                continue;
            }
            let currency = o.currency[oi];
            if let (Some(cycle), true) = (out.expected_cycle, out.evaluated()) {
                let e = entries.at(cycle, currency);
                e.sums[EXP_REFUND] += scaled(out.amounts.refund);
                e.sums[EXP_FEE] += scaled(out.amounts.fee);
                e.sums[EXP_COUPON] += scaled(out.amounts.coupon);
            }
            if let (Some(cycle), Some(v)) = (u.billing_cycle[r], u.refund_amount[r]) {
                entries.at(cycle, currency).sums[REC_REFUND] += scaled(v.get());
            }
        }
    };

    let mut out = super::report_sink(path, &HEADER, read_back)?;
    let selected: Vec<usize> = (0..accounts)
        .filter(|&a| sel.is_all() || sel.keeps(dict.name(a as u32)))
        .collect();
    let mut totals: BTreeMap<Currency, i128> = BTreeMap::new();
    let mut bill = BillDigest::default();
    let mut failed = None;
    const BATCH: usize = 2048;
    let written = super::sink::pipeline(
        &mut out,
        &selected,
        BATCH,
        |chunk| {
            let mut rows = Rows::with_capacity(chunk.len() * ACCOUNT_BYTES);
            // Σ expected refunds per currency: a few currencies, so a short
            // list searched in place of a map updated per row.
            let mut sums: Vec<(Currency, i128)> = Vec::new();
            let mut part = digest.then(BillDigest::default);
            let mut result = Ok(());
            // The account's cell, formatted once for its rows.
            let mut account_cell = Vec::new();
            let mut entries = Entries::default();
            for &a in chunk {
                let account = dict.name(a as u32);
                account_cell.clear();
                super::csvout::write_text(&mut account_cell, account);
                account_rows(a, &mut entries);
                for e in entries.sorted() {
                    match sums.iter_mut().find(|(c, _)| *c == e.currency) {
                        Some((_, sum)) => *sum += e.sums[EXP_REFUND],
                        None => sums.push((e.currency, e.sums[EXP_REFUND])),
                    }
                    let cells = row(&mut rows, rec, &account_cell, e);
                    if let (Some(part), true) = (&mut part, result.is_ok()) {
                        result = digest_row(part, &rows, &cells, account, e);
                    }
                }
            }
            (rows, (sums, part, result))
        },
        |(sums, part, result)| {
            for (c, v) in sums {
                *totals.entry(c).or_default() += v;
            }
            let merged = result
                .map_err(|what| AppError::Internal(format!("monthly_bill.csv does not read back: {what}")))
                .and_then(|()| part.map_or(Ok(()), |p| bill.merge(p)));
            if let Err(e) = merged {
                failed.get_or_insert(e);
            }
        },
    )?;
    if let Some(e) = failed {
        return Err(e);
    }
    let bill = if digest { Some(bill.finish()?) } else { None };
    Ok((totals, bill, out.finish(Some(written))?))
}

/// Adds a row to report.html's digest of the bill: its cells as [`row`]
/// wrote them into `rows` (`cells`: the month and the three refund
/// cells). A row without refunds adds nothing, so it is skipped.
fn digest_row(
    digest: &mut BillDigest,
    rows: &Rows,
    cells: &RefundCells,
    account: &str,
    e: &Entry,
) -> Result<(), String> {
    if e.sums[EXP_REFUND] == 0 && e.sums[REC_REFUND] == 0 {
        return Ok(());
    }
    // The cells from the month to the difference checked as text at once,
    // then cut apart (four checks of a few bytes each were a fortieth of
    // the bill's time).
    let (from, to) = (cells[0].start, cells[3].end);
    let text = std::str::from_utf8(&rows.buf[from..to]).map_err(|e| e.to_string())?;
    let cell = |k: usize| {
        text.get(cells[k].start - from..cells[k].end - from)
            .ok_or_else(|| "a cell is not where it was written".to_string())
    };
    digest.row(&BillCells {
        account,
        month: cell(0)?,
        currency: e.currency.as_str(),
        expected: cell(1)?,
        recorded: cell(2)?,
        difference: cell(3)?,
    })
}

/// Where a bill row's billing_cycle, expected_refunds, recorded_refunds
/// and refund_difference cells lie in the batch's buffer.
type RefundCells = [std::ops::Range<usize>; 4];

/// One CSV row of the bill (`account_cell`: the account's cell as
/// written); sums are rounded once here. Returns where its month and
/// refund cells lie in `r.buf` (report.html's digest).
fn row(r: &mut Rows, rec: &Reconciliation, account_cell: &[u8], e: &Entry) -> RefundCells {
    let dp = rec.policy.minor_units.of(e.currency);
    let rounding = rec.policy.rounding;
    let v = |c: usize| e.sums[c];
    let cash_due = v(CHARGED) - v(COUPON);
    let mut cells = RefundCells::default();
    r.plain_bytes(account_cell);
    r.month(Month(e.cycle));
    cells[0] = r.last_cell();
    r.plain(e.currency.as_str());
    r.int(e.orders);
    for (k, amount) in [
        v(CHARGED),
        v(COUPON),
        cash_due,
        v(PAID),
        v(EXP_REFUND),
        v(REC_REFUND),
        v(REC_REFUND) - v(EXP_REFUND),
        v(EXP_FEE),
        v(EXP_COUPON),
        cash_due - v(EXP_REFUND),
    ]
    .into_iter()
    .enumerate()
    {
        r.scaled(amount, SCALE, dp, rounding);
        if (4..7).contains(&k) {
            cells[k - 3] = r.last_cell();
        }
    }
    r.end();
    cells
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A table in account order is read as ranges, tested row by row; one
    /// out of order is bucketed: either way each account's rows that count,
    /// in table order.
    #[test]
    fn account_rows_are_the_same_as_ranges_or_buckets() {
        let sorted = [0u32, 0, 0, 2, 2, 3, 3, 3, 3];
        let shuffled = [3u32, 0, 2, 3, 0, 3, 2, 0, 3];
        let counts = |i: usize| i % 3 != 1;
        for codes in [&sorted[..], &shuffled[..]] {
            let rows = AccountRows::new(codes, 5, |i| counts(i).then_some(codes[i]));
            assert_eq!(matches!(rows, AccountRows::Ranges(_)), codes == sorted);
            for a in 0..5 {
                let mut got = Vec::new();
                rows.each(a, counts, |i| got.push(i));
                let want: Vec<usize> = (0..codes.len())
                    .filter(|&i| codes[i] == a as u32 && counts(i))
                    .collect();
                assert_eq!(got, want, "account {a}");
            }
        }
    }

    /// Past the keys a scan looks through, keys are found through the
    /// index: one entry per key, in key order.
    #[test]
    fn entries_past_the_scan_limit_hold_one_entry_per_key() {
        let usd = Currency::parse("USD").unwrap();
        let eur = Currency::parse("EUR").unwrap();
        let months = 3 * Entries::SCAN as i32;
        let mut entries = Entries::default();
        for round in 0..2 {
            for m in (0..months).rev() {
                let c = if m % 3 == 0 { eur } else { usd };
                let e = entries.at(Month(24_000 + m), c);
                e.orders += 1;
                e.sums[CHARGED] += i128::from(m + round);
            }
        }
        entries.at(Month(1), usd); // nothing added: dropped
        let got: Vec<&Entry> = entries.sorted().collect();
        assert_eq!(got.len(), months as usize);
        for (k, e) in got.iter().enumerate() {
            let m = k as i32;
            assert_eq!(
                (e.cycle, e.orders, e.sums[CHARGED]),
                (24_000 + m, 2, i128::from(2 * m + 1))
            );
            assert_eq!(e.currency, if m % 3 == 0 { eur } else { usd });
        }
        // Cleared for the next account: only its own entries, in order.
        entries.clear();
        for m in [7, 3, 5, 3] {
            entries.at(Month(m), usd).orders += 1;
        }
        let next: Vec<(i32, u64)> = entries.sorted().map(|e| (e.cycle, e.orders)).collect();
        assert_eq!(next, [(3, 2), (5, 1), (7, 1)]);
    }
}
