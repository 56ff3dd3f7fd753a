//! monthly_bill.csv (SPEC §5, §9): one row per (account_id, billing_cycle,
//! currency) with an order or any nonzero amount. The aggregation is
//! polars group-bys over exact decimals (Decimal(38, 6)), rounded once
//! when written.

use polars::prelude::*;
use rayon::prelude::*;
use rust_decimal::Decimal;

use super::{amount, escape, Selection};
use crate::columns::StrCol;
use crate::engine::Reconciliation;
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
const SUMS: [&str; 7] = [
    "charged",
    "coupon",
    "paid",
    "exp_refund",
    "rec_refund",
    "exp_fee",
    "exp_coupon",
];
const SCALE: u32 = 6;

/// One row of the bill.
#[derive(Debug, Clone)]
pub struct BillRow {
    pub account_id: String,
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

fn scaled(v: Decimal) -> i128 {
    let mut v = v;
    v.rescale(SCALE);
    v.mantissa()
}

fn dec_column(name: &str, values: Vec<i128>) -> Column {
    Int128Chunked::from_vec(PlSmallStr::from_str(name), values)
        .into_decimal_unchecked(38, SCALE as usize)
        .into_column()
}

/// A frame of entries: keys plus the given sums (others are added as 0).
struct Entries<'a> {
    account: Vec<Column>,
    cycle: Vec<i32>,
    currency: Vec<&'a str>,
    sums: Vec<(&'static str, Vec<i128>)>,
    orders: bool,
}

/// Groups entries by (account, cycle, currency), summing; every frame gets
/// the full set of columns so the groups can be stacked.
fn aggregate(e: Entries<'_>) -> PolarsResult<DataFrame> {
    let n = e.cycle.len();
    let mut cols = e.account;
    cols.push(Column::new("cycle".into(), e.cycle));
    cols.push(Column::new("currency".into(), e.currency));
    for (name, v) in e.sums {
        cols.push(dec_column(name, v));
    }
    let df = DataFrame::new(n, cols)?;
    let present: Vec<&str> = df.get_column_names().iter().map(|s| s.as_str()).collect();
    let mut aggs = vec![if e.orders {
        len().cast(DataType::UInt64).alias("orders")
    } else {
        lit(0u64).alias("orders")
    }];
    for name in SUMS {
        if present.contains(&name) {
            aggs.push(col(name).sum().alias(name));
        }
    }
    let grouped = df
        .lazy()
        .group_by([col("account_id"), col("cycle"), col("currency")])
        .agg(aggs)
        .collect_with_engine(Engine::InMemory)?
        .unwrap_single();
    // Add the missing sums as zeros.
    let h = grouped.height();
    let mut cols: Vec<Column> = vec![
        grouped.column("account_id")?.clone(),
        grouped.column("cycle")?.clone(),
        grouped.column("currency")?.clone(),
        grouped.column("orders")?.cast(&DataType::UInt64)?,
    ];
    for name in SUMS {
        match grouped.column(name) {
            Ok(c) => cols.push(c.cast(&DataType::Decimal(38, SCALE as usize))?),
            Err(_) => cols.push(dec_column(name, vec![0; h])),
        }
    }
    DataFrame::new(h, cols)
}

/// Computes the bill rows for the selected accounts, sorted.
pub fn compute(rec: &Reconciliation, sel: &Selection) -> Result<Vec<BillRow>, AppError> {
    let cal = &rec.cal;
    let (o, p, u) = (&rec.inputs.orders, &rec.inputs.payments, &rec.inputs.unsubs);
    let mut frames = Vec::new();

    // Charges by month of ordered_at.
    if !o.order_id.is_empty() {
        let cycle: Vec<i32> = o.ordered_at.par_iter().map(|&t| cal.month_of(t).0).collect();
        frames.push(aggregate(Entries {
            account: vec![o.account_id.to_column("account_id")],
            cycle,
            currency: o.currency.iter().map(|c| c.as_str()).collect(),
            sums: vec![
                ("charged", o.amount.par_iter().map(|&v| scaled(v)).collect()),
                ("coupon", o.coupon_amount.par_iter().map(|&v| scaled(v)).collect()),
            ],
            orders: true,
        })?);
    }

    // Succeeded payments by month of paid_at, under their own account.
    let ok: Vec<usize> = (0..p.paid_at.len())
        .filter(|&i| p.status[i] == PaymentStatus::Succeeded)
        .collect();
    if !ok.is_empty() {
        let acct = p.account_id.view();
        frames.push(aggregate(Entries {
            account: vec![StrCol::from_strs(ok.iter().map(|&i| acct.get(i))).to_column("account_id")],
            cycle: ok.par_iter().map(|&i| cal.month_of(p.paid_at[i]).0).collect(),
            currency: ok.iter().map(|&i| p.currency[i].as_str()).collect(),
            sums: vec![("paid", ok.iter().map(|&i| scaled(p.amount[i])).collect())],
            orders: false,
        })?);
    }

    // Completed unsubscriptions: expected by expected_cycle, recorded by
    // the recorded billing_cycle (not without an order: no currency).
    let acct = u.account_id.view();
    let mut exp = (Vec::new(), Vec::new(), Vec::new(), [Vec::new(), Vec::new(), Vec::new()]);
    let mut recd = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for out in &rec.outcomes {
        let r = out.unsub as usize;
        if u.status[r] != UnsubStatus::Completed || out.link == Link::OrderNotFound {
            continue;
        }
        let oi = rec.order_of_unsub[r];
        if out.currency.is_none() || oi == crate::engine::NONE {
            continue;
        }
        let c = o.currency[oi as usize].as_str();
        if let (Some(cycle), true) = (out.expected_cycle, out.evaluated()) {
            exp.0.push(acct.get(r));
            exp.1.push(cycle.0);
            exp.2.push(c);
            exp.3[0].push(scaled(out.refund));
            exp.3[1].push(scaled(out.fee));
            exp.3[2].push(scaled(out.coupon));
        }
        if let (Some(cycle), Some(v)) = (u.billing_cycle[r], u.refund_amount[r]) {
            recd.0.push(acct.get(r));
            recd.1.push(cycle.0);
            recd.2.push(c);
            recd.3.push(scaled(v));
        }
    }
    if !exp.1.is_empty() {
        let [r, f, c] = exp.3;
        frames.push(aggregate(Entries {
            account: vec![StrCol::from_strs(exp.0).to_column("account_id")],
            cycle: exp.1,
            currency: exp.2,
            sums: vec![("exp_refund", r), ("exp_fee", f), ("exp_coupon", c)],
            orders: false,
        })?);
    }
    if !recd.1.is_empty() {
        frames.push(aggregate(Entries {
            account: vec![StrCol::from_strs(recd.0).to_column("account_id")],
            cycle: recd.1,
            currency: recd.2,
            sums: vec![("rec_refund", recd.3)],
            orders: false,
        })?);
    }
    if frames.is_empty() {
        return Ok(Vec::new());
    }

    // Stack the partial sums and group once more: a full outer merge.
    let mut all = frames.remove(0);
    for f in frames {
        all.vstack_mut_owned(f)?;
    }
    let mut aggs = vec![col("orders").sum().alias("orders")];
    aggs.extend(SUMS.iter().map(|name| col(*name).sum().alias(*name)));
    let merged = all
        .lazy()
        .group_by([col("account_id"), col("cycle"), col("currency")])
        .agg(aggs)
        .sort(["account_id", "cycle", "currency"], SortMultipleOptions::default())
        .collect_with_engine(Engine::InMemory)?
        .unwrap_single();

    let accounts = merged.column("account_id")?.str()?;
    let cycles = merged.column("cycle")?.i32()?;
    let currencies = merged.column("currency")?.str()?;
    let orders = merged.column("orders")?.cast(&DataType::UInt64)?;
    let orders = orders.u64()?;
    let sums: Vec<Vec<Decimal>> = SUMS
        .iter()
        .map(|name| -> PolarsResult<Vec<Decimal>> {
            let c = merged.column(name)?.cast(&DataType::Decimal(38, SCALE as usize))?;
            let d = c.decimal()?;
            Ok(d.physical()
                .downcast_iter()
                .flat_map(|a| a.values().iter().map(|&v| Decimal::from_i128_with_scale(v, SCALE)))
                .collect())
        })
        .collect::<PolarsResult<_>>()?;
    let mut rows = Vec::with_capacity(merged.height());
    #[allow(clippy::needless_range_loop)] // i indexes seven parallel columns
    for i in 0..merged.height() {
        let account = accounts.get(i).unwrap_or("");
        if !sel.keeps(account) {
            continue;
        }
        let row = BillRow {
            account_id: account.to_string(),
            cycle: Month(cycles.get(i).unwrap_or(0)),
            currency: Currency::parse(currencies.get(i).unwrap_or(""))
                .ok_or_else(|| AppError::Internal("bad currency in bill".into()))?,
            orders: orders.get(i).unwrap_or(0),
            charged: sums[0][i],
            coupon: sums[1][i],
            paid: sums[2][i],
            expected_refunds: sums[3][i],
            recorded_refunds: sums[4][i],
            expected_fees: sums[5][i],
            expected_coupons: sums[6][i],
        };
        let any = [
            row.charged,
            row.coupon,
            row.paid,
            row.expected_refunds,
            row.recorded_refunds,
            row.expected_fees,
            row.expected_coupons,
        ]
        .iter()
        .any(|v| !v.is_zero());
        if row.orders > 0 || any {
            rows.push(row);
        }
    }
    Ok(rows)
}

/// One CSV row of the bill; sums are rounded once here.
pub fn row(rec: &Reconciliation, b: &BillRow) -> [String; 14] {
    let c = Some(b.currency);
    let cash_due = b.charged - b.coupon;
    [
        escape(&b.account_id).into_owned(),
        b.cycle.to_string(),
        b.currency.as_str().to_string(),
        b.orders.to_string(),
        amount(rec, b.charged, c),
        amount(rec, b.coupon, c),
        amount(rec, cash_due, c),
        amount(rec, b.paid, c),
        amount(rec, b.expected_refunds, c),
        amount(rec, b.recorded_refunds, c),
        amount(rec, b.recorded_refunds - b.expected_refunds, c),
        amount(rec, b.expected_fees, c),
        amount(rec, b.expected_coupons, c),
        amount(rec, cash_due - b.expected_refunds, c),
    ]
}
