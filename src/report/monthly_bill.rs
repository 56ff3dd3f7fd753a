//! monthly_bill.csv (SPEC §5, §9): one row per (account_id, billing_cycle,
//! currency) with an order or any nonzero amount.
//!
//! The aggregation is polars group-bys over exact integer sums (amounts
//! scaled to 10⁻⁶, `Int128`), rounded once when written. The three keys
//! are packed into one `u64` — account rank (byte order of the id), month
//! index, currency index (alphabetical) — so grouping hashes one integer
//! and sorting by the key is sorting by (account_id, billing_cycle,
//! currency).

use polars::prelude::*;
use rayon::prelude::*;
use rust_decimal::Decimal;

use super::csvout::Rows;
use super::Selection;
use crate::columns::Dict;
use crate::engine::{Reconciliation, NONE};
use crate::error::AppError;
use crate::model::{Currency, Month, PaymentStatus, UnsubStatus};
use crate::rules::r0_linking::Link;

pub const HEADER: [&str; 14] = [
    "account_id",
    "billing_cycle",
    "currency",
    "orders",
    "charged",
    "coupon_deducted",
    "cash_due",
    "paid",
    "expected_refunds",
    "recorded_refunds",
    "refund_difference",
    "expected_handling_fees",
    "expected_coupons_returned",
    "expected_net",
];

/// The summed columns, in frame order.
const SUMS: [&str; 7] = ["charged", "coupon", "paid", "exp_refund", "rec_refund", "exp_fee", "exp_coupon"];
const CHARGED: usize = 0;
const COUPON: usize = 1;
const PAID: usize = 2;
const EXP_REFUND: usize = 3;
const REC_REFUND: usize = 4;
const EXP_FEE: usize = 5;
const EXP_COUPON: usize = 6;
const SCALE: u32 = 6;

/// The bill, column by column, sorted by key.
pub struct Bill {
    keys: Vec<u64>,
    orders: Vec<u64>,
    sums: [Vec<i128>; 7],
    currencies: Vec<Currency>,
    accounts: std::sync::Arc<Dict>,
    /// Indices of the rows that are written (selected, not all zero).
    pub rows: Vec<u32>,
}

/// One row, borrowed from a [`Bill`].
pub struct BillRow<'a> {
    pub account_id: &'a str,
    pub cycle: Month,
    pub currency: Currency,
    pub orders: u64,
    pub charged: Decimal,
    pub coupon: Decimal,
    pub paid: Decimal,
    pub expected_refunds: Decimal,
    pub recorded_refunds: Decimal,
    pub expected_fees: Decimal,
    pub expected_coupons: Decimal,
}

impl Bill {
    pub fn row(&self, i: u32) -> BillRow<'_> {
        let i = i as usize;
        let key = self.keys[i];
        let d = |c: usize| Decimal::from_i128_with_scale(self.sums[c][i], SCALE);
        BillRow {
            account_id: self.accounts.name((key >> 32) as u32),
            cycle: Month(((key >> 8) & 0xFF_FFFF) as i32),
            currency: self.currencies[(key & 0xFF) as usize],
            orders: self.orders[i],
            charged: d(CHARGED),
            coupon: d(COUPON),
            paid: d(PAID),
            expected_refunds: d(EXP_REFUND),
            recorded_refunds: d(REC_REFUND),
            expected_fees: d(EXP_FEE),
            expected_coupons: d(EXP_COUPON),
        }
    }

    /// Σ expected_refunds of the written rows, per currency.
    pub fn expected_refunds_by_currency(&self) -> std::collections::BTreeMap<Currency, Decimal> {
        let mut out = std::collections::BTreeMap::new();
        for &i in &self.rows {
            let r = self.row(i);
            *out.entry(r.currency).or_insert(Decimal::ZERO) += r.expected_refunds;
        }
        out
    }
}

/// Packs (account rank, month, currency index) in sort order.
fn key(account: u32, cycle: Month, currency: u8) -> u64 {
    (u64::from(account) << 32) | ((cycle.0 as u64 & 0xFF_FFFF) << 8) | u64::from(currency)
}

fn scaled(v: Decimal) -> i128 {
    let mut v = v;
    v.rescale(SCALE);
    v.mantissa()
}

/// Groups (key, sums…) rows by key; `counted` adds the row count as
/// `orders`. Every frame gets all columns so that frames can be stacked.
fn group(keys: Vec<u64>, sums: Vec<(usize, Vec<i128>)>, counted: bool) -> PolarsResult<DataFrame> {
    let n = keys.len();
    let mut cols = vec![Column::new("key".into(), keys)];
    let present: Vec<usize> = sums.iter().map(|(c, _)| *c).collect();
    for (c, v) in sums {
        cols.push(Int128Chunked::from_vec(PlSmallStr::from_str(SUMS[c]), v).into_column());
    }
    let mut aggs = vec![if counted { len().cast(DataType::UInt64) } else { lit(0u64) }.alias("orders")];
    aggs.extend(present.iter().map(|&c| col(SUMS[c]).sum().alias(SUMS[c])));
    let g = DataFrame::new(n, cols)?
        .lazy()
        .group_by([col("key")])
        .agg(aggs)
        .sort(["key"], SortMultipleOptions::default())
        .collect_with_engine(Engine::InMemory)?
        .unwrap_single();
    let h = g.height();
    let mut cols = vec![g.column("key")?.clone(), g.column("orders")?.cast(&DataType::UInt64)?];
    for (c, name) in SUMS.iter().enumerate() {
        cols.push(if present.contains(&c) {
            g.column(name)?.cast(&DataType::Int128)?
        } else {
            Int128Chunked::full(PlSmallStr::from_str(name), 0, h).into_column()
        });
    }
    DataFrame::new(h, cols)
}

/// One group-by result as plain columns, sorted by key.
struct Partial {
    keys: Vec<u64>,
    orders: Vec<u64>,
    sums: Vec<Vec<i128>>,
}

impl Partial {
    fn from_frame(df: &DataFrame) -> PolarsResult<Partial> {
        let u64s = |name: &str| -> PolarsResult<Vec<u64>> {
            let c = df.column(name)?.cast(&DataType::UInt64)?;
            Ok(c.u64()?.downcast_iter().flat_map(|a| a.values().iter().copied()).collect())
        };
        let sums = SUMS
            .iter()
            .map(|name| -> PolarsResult<Vec<i128>> {
                let c = df.column(name)?.cast(&DataType::Int128)?;
                Ok(c.i128()?.downcast_iter().flat_map(|a| a.values().iter().copied()).collect())
            })
            .collect::<PolarsResult<_>>()?;
        Ok(Partial { keys: u64s("key")?, orders: u64s("orders")?, sums })
    }
}

/// K-way merge of sorted partial sums; equal keys add up.
fn merge(parts: &[Partial]) -> (Vec<u64>, Vec<u64>, [Vec<i128>; 7]) {
    let total: usize = parts.iter().map(|p| p.keys.len()).sum();
    let mut keys = Vec::with_capacity(total);
    let mut orders = Vec::with_capacity(total);
    let mut sums: [Vec<i128>; 7] = std::array::from_fn(|_| Vec::with_capacity(total));
    let mut pos = vec![0usize; parts.len()];
    loop {
        let next = parts.iter().zip(&pos).filter_map(|(p, &i)| p.keys.get(i)).min().copied();
        let Some(k) = next else { break };
        keys.push(k);
        orders.push(0);
        for s in sums.iter_mut() {
            s.push(0);
        }
        let last = keys.len() - 1;
        for (p, i) in parts.iter().zip(pos.iter_mut()) {
            if p.keys.get(*i) == Some(&k) {
                orders[last] += p.orders[*i];
                for (c, s) in sums.iter_mut().enumerate() {
                    s[last] += p.sums[c][*i];
                }
                *i += 1;
            }
        }
    }
    (keys, orders, sums)
}

/// Computes the bill for the selected accounts.
pub fn compute(rec: &Reconciliation, sel: &Selection) -> Result<Bill, AppError> {
    let cal = &rec.cal;
    let (o, p, u) = (&rec.inputs.orders, &rec.inputs.payments, &rec.inputs.unsubs);
    let mut currencies: Vec<Currency> = o.currency.iter().chain(p.currency.iter()).copied().collect();
    currencies.par_sort_unstable();
    currencies.dedup();
    if currencies.len() > 256 {
        return Err(AppError::Internal("more than 256 currencies".into()));
    }
    let cur = |c: Currency| currencies.binary_search(&c).expect("every currency is listed") as u8;
    let mut frames = Vec::new();

    // Charges by month of ordered_at.
    let span = crate::trace::span("bill: orders group-by");
    if !o.amount.is_empty() {
        let acct = o.account_id.view();
        let keys = (0..o.amount.len())
            .into_par_iter()
            .map(|i| key(acct.code(i), cal.month_of(o.ordered_at[i]), cur(o.currency[i])))
            .collect();
        let charged = o.amount.par_iter().map(|&v| scaled(v)).collect();
        let coupon = o.coupon_amount.par_iter().map(|&v| scaled(v)).collect();
        frames.push(group(keys, vec![(CHARGED, charged), (COUPON, coupon)], true)?);
    }
    drop(span);

    // Succeeded payments by month of paid_at, under their own account and
    // currency (orphans and mismatches too).
    let span = crate::trace::span("bill: payments group-by");
    let acct = p.account_id.view();
    let (keys, paid): (Vec<u64>, Vec<i128>) = (0..p.amount.len())
        .into_par_iter()
        .filter(|&i| p.status[i] == PaymentStatus::Succeeded)
        .map(|i| (key(acct.code(i), cal.month_of(p.paid_at[i]), cur(p.currency[i])), scaled(p.amount[i])))
        .unzip();
    if !keys.is_empty() {
        frames.push(group(keys, vec![(PAID, paid)], false)?);
    }
    drop(span);

    // Completed unsubscriptions: expected amounts by expected_cycle,
    // recorded refunds by the recorded billing_cycle, under the U's account
    // and the order's currency (no order: no currency, left out).
    let span = crate::trace::span("bill: refunds group-by");
    let acct = u.account_id.view();
    let mut exp_keys = Vec::new();
    let mut exp: [Vec<i128>; 3] = Default::default();
    let mut rec_keys = Vec::new();
    let mut recorded = Vec::new();
    for out in &rec.outcomes {
        let r = out.unsub as usize;
        let oi = rec.order_of_unsub[r];
        if u.status[r] != UnsubStatus::Completed || out.link == Link::OrderNotFound || oi == NONE {
            continue;
        }
        let c = cur(o.currency[oi as usize]);
        if let (Some(cycle), true) = (out.expected_cycle, out.evaluated()) {
            exp_keys.push(key(acct.code(r), cycle, c));
            exp[0].push(scaled(out.refund));
            exp[1].push(scaled(out.fee));
            exp[2].push(scaled(out.coupon));
        }
        if let (Some(cycle), Some(v)) = (u.billing_cycle[r], u.refund_amount[r]) {
            rec_keys.push(key(acct.code(r), cycle, c));
            recorded.push(scaled(v));
        }
    }
    if !exp_keys.is_empty() {
        let [r, f, c] = exp;
        frames.push(group(exp_keys, vec![(EXP_REFUND, r), (EXP_FEE, f), (EXP_COUPON, c)], false)?);
    }
    if !rec_keys.is_empty() {
        frames.push(group(rec_keys, vec![(REC_REFUND, recorded)], false)?);
    }
    drop(span);

    // Merge the partial sums, each sorted by key: a full outer merge.
    let _span = crate::trace::span("bill: merge");
    let accounts = o.account_id.dict().clone();
    let parts: Vec<Partial> = frames.iter().map(Partial::from_frame).collect::<PolarsResult<_>>()?;
    let (keys, orders, sums) = merge(&parts);
    let selected: Option<Vec<bool>> = (!sel.is_all()).then(|| (0..accounts.len()).map(|r| sel.keeps(accounts.name(r as u32))).collect());
    let rows = (0..keys.len() as u32)
        .filter(|&i| {
            let i = i as usize;
            let keep = selected.as_ref().is_none_or(|s| s[(keys[i] >> 32) as usize]);
            keep && (orders[i] > 0 || sums.iter().any(|s| s[i] != 0))
        })
        .collect();
    Ok(Bill { keys, orders, sums, currencies, accounts, rows })
}

/// One CSV row of the bill; sums are rounded once here.
pub fn row(r: &mut Rows, rec: &Reconciliation, bill: &Bill, i: u32) {
    let i = i as usize;
    let key = bill.keys[i];
    let currency = bill.currencies[(key & 0xFF) as usize];
    let dp = rec.policy.minor_units.of(currency);
    let rounding = rec.policy.rounding;
    let v = |c: usize| bill.sums[c][i];
    let cash_due = v(CHARGED) - v(COUPON);
    r.text(bill.accounts.name((key >> 32) as u32));
    r.plain(&Month(((key >> 8) & 0xFF_FFFF) as i32).to_string());
    r.plain(currency.as_str());
    r.int(bill.orders[i]);
    for amount in [
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
    ] {
        r.scaled(amount, SCALE, dp, rounding);
    }
    r.end();
}
