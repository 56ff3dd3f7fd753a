//! monthly_bill.focus.csv (docs/focus.md): the recomputed bill at charge
//! granularity, in the FinOps FOCUS 1.0 columns and value sets.
//!
//! Three kinds of rows, each from what monthly_bill.csv sums:
//! - `Purchase`: one per accepted order, in the billing month of
//!   ordered_at. BilledCost = EffectiveCost = cash_due (the coupon is a
//!   discount), ListCost = ContractedCost = amount.
//! - `Purchase`, negative: one per nonzero expected refund of a completed
//!   evaluated unsubscription, in its expected_cycle. ChargeClass is
//!   `Correction` exactly when that month is later than the order's.
//! - `Credit`: one per nonzero expected coupon return, beside its refund.
//!   BilledCost = EffectiveCost = 0 (a coupon is not cash; it lowers a
//!   later order's cash_due when used), ListCost = ContractedCost =
//!   −coupon.
//!
//! So for each (account, billing period, currency), Σ BilledCost =
//! expected_net of monthly_bill.csv and Σ ListCost = charged −
//! expected_refunds − expected_coupons_returned, exactly. Periods are
//! written in UTC, start inclusive, end exclusive. Accounts are written in
//! parallel batches, in account_id byte order, so the bytes do not depend
//! on the thread count.

use std::fmt::Write as _;
use std::path::Path;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use rustc_hash::FxHashMap;

use super::csvout::Rows;
use super::schema::{col, Column, Kind};
use super::Selection;
use crate::columns::ByAccount;
use crate::engine::{Reconciliation, RowIndex};
use crate::error::AppError;
use crate::model::{ItemKind, Month, UnsubStatus};
use crate::rules::r0_linking::Link;
use crate::time::{days_from_civil, Calendar, Micros, DAY};

/// The file name, written right after monthly_bill.csv.
pub const FILE: &str = "monthly_bill.focus.csv";

/// The FOCUS 1.0 columns in the specification's (alphabetical) order,
/// then two custom `x_` columns that link each row back to the exports.
pub const COLUMNS: [Column; 45] = [
    col("AvailabilityZone", Kind::Text),
    col("BilledCost", Kind::Amount),
    col("BillingAccountId", Kind::Text),
    col("BillingAccountName", Kind::Text),
    col("BillingCurrency", Kind::Text),
    col("BillingPeriodEnd", Kind::Timestamp),
    col("BillingPeriodStart", Kind::Timestamp),
    col("ChargeCategory", Kind::Text),
    col("ChargeClass", Kind::Text),
    col("ChargeDescription", Kind::Text),
    col("ChargeFrequency", Kind::Text),
    col("ChargePeriodEnd", Kind::Timestamp),
    col("ChargePeriodStart", Kind::Timestamp),
    col("CommitmentDiscountCategory", Kind::Text),
    col("CommitmentDiscountId", Kind::Text),
    col("CommitmentDiscountName", Kind::Text),
    col("CommitmentDiscountStatus", Kind::Text),
    col("CommitmentDiscountType", Kind::Text),
    col("ConsumedQuantity", Kind::Amount),
    col("ConsumedUnit", Kind::Text),
    col("ContractedCost", Kind::Amount),
    col("ContractedUnitPrice", Kind::Amount),
    col("EffectiveCost", Kind::Amount),
    col("InvoiceIssuerName", Kind::Text),
    col("ListCost", Kind::Amount),
    col("ListUnitPrice", Kind::Amount),
    col("PricingCategory", Kind::Text),
    col("PricingQuantity", Kind::Amount),
    col("PricingUnit", Kind::Text),
    col("ProviderName", Kind::Text),
    col("PublisherName", Kind::Text),
    col("RegionId", Kind::Text),
    col("RegionName", Kind::Text),
    col("ResourceId", Kind::Text),
    col("ResourceName", Kind::Text),
    col("ResourceType", Kind::Text),
    col("ServiceCategory", Kind::Text),
    col("ServiceName", Kind::Text),
    col("SkuId", Kind::Text),
    col("SkuPriceId", Kind::Text),
    col("SubAccountId", Kind::Text),
    col("SubAccountName", Kind::Text),
    col("Tags", Kind::Text),
    col("x_OrderId", Kind::Text),
    col("x_UnsubId", Kind::Text),
];

/// What a row of the FOCUS bill is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Charge {
    /// An order (ChargeCategory Purchase).
    Purchase,
    /// An expected refund (Purchase, negative).
    Refund,
    /// An expected coupon return (ChargeCategory Credit).
    Credit,
}

/// One row before it is written.
struct Line {
    cycle: Month,
    charge_start: Micros,
    charge_end: Micros,
    charge: Charge,
    /// Orders row.
    order: usize,
    /// Unsubscriptions row (refunds and credits).
    unsub: Option<usize>,
    /// The refund or coupon (positive), or the order's amount.
    value: Decimal,
    /// The refund's handling fee (refunds only).
    fee: Decimal,
    /// The expected refund type (refunds only).
    refund_type: &'static str,
    correction: bool,
}

/// ResourceType of an order's item kind.
fn resource_type(k: ItemKind) -> &'static str {
    match k {
        ItemKind::Edition => "Edition",
        ItemKind::AssetQuota => "Asset quota",
        ItemKind::ValueAdded => "Value-added package",
        ItemKind::Resource => "Resource",
    }
}

/// The first instant of billing month `m` in the policy's zone.
fn month_start(cal: &Calendar, m: Month) -> Micros {
    match NaiveDate::from_ymd_opt(m.year(), m.month(), 1) {
        Some(d) => cal.start_of_local_day(d),
        // Outside chrono's ±262 000 years (no input gets there): UTC.
        None => days_from_civil(i64::from(m.year()), i64::from(m.month()), 1).saturating_mul(DAY),
    }
}

/// The first instant after billing month `m` (its exclusive end).
fn month_end(cal: &Calendar, m: Month) -> Micros {
    month_start(cal, Month(m.0.saturating_add(1)))
}

/// The local day of `t` in the policy's zone: [start, end) as instants.
#[cfg(test)]
fn local_day(cal: &Calendar, t: Micros) -> (Micros, Micros) {
    day_bounds(cal, cal.local_date(t))
}

/// Local day `d` in the policy's zone: [start, end) as instants.
fn day_bounds(cal: &Calendar, d: NaiveDate) -> (Micros, Micros) {
    let start = cal.start_of_local_day(d);
    let end = d.succ_opt().map(|n| cal.start_of_local_day(n)).unwrap_or(start + DAY);
    (start, end)
}

/// What a batch has already worked out: the bounds of local days and the
/// UTC text of instants (a batch's accounts share a few hundred days, and
/// the time-zone lookups and the formatting were the bill's hot spots).
#[derive(Default)]
struct Cache {
    days: FxHashMap<NaiveDate, (Micros, Micros)>,
    months: FxHashMap<Month, (Micros, Micros)>,
    utc: FxHashMap<Micros, Vec<u8>>,
}

impl Cache {
    /// Billing month `m`: [start, end) as instants.
    fn month(&mut self, cal: &Calendar, m: Month) -> (Micros, Micros) {
        *self
            .months
            .entry(m)
            .or_insert_with(|| (month_start(cal, m), month_end(cal, m)))
    }

    /// The local day of `t` in the policy's zone: [start, end) as instants.
    fn local_day(&mut self, cal: &Calendar, t: Micros) -> (Micros, Micros) {
        let d = cal.local_date(t);
        *self.days.entry(d).or_insert_with(|| day_bounds(cal, d))
    }
}

/// A UTC cell (`…Z`, whole seconds), formatted once per instant.
fn utc_cell(r: &mut Rows, texts: &mut FxHashMap<Micros, Vec<u8>>, t: Micros) {
    let text = texts.entry(t).or_insert_with(|| {
        let mut b = Vec::with_capacity(24);
        crate::time::write_utc(&mut b, t);
        b
    });
    r.plain_bytes(text);
}

/// The FOCUS rows of one account, sorted by billing period, charge period
/// start, order_id, kind, unsub_id.
fn account_lines(
    rec: &Reconciliation,
    orders: &[u32],
    outcomes: std::ops::Range<usize>,
    cache: &mut Cache,
) -> Vec<Line> {
    let (o, u, cal) = (&rec.inputs.orders, &rec.inputs.unsubs, &rec.cal);
    let mut lines = Vec::with_capacity(orders.len() * 2);
    for &i in orders {
        let i = i as usize;
        let (charge_start, charge_end) = cache.local_day(cal, o.ordered_at[i]);
        lines.push(Line {
            cycle: cal.month_of(o.ordered_at[i]),
            charge_start,
            charge_end,
            charge: Charge::Purchase,
            order: i,
            unsub: None,
            value: o.amount[i].get(),
            fee: Decimal::ZERO,
            refund_type: "",
            correction: false,
        });
    }
    for out in rec.outcomes.get(outcomes).unwrap_or_default() {
        let r = out.unsub as usize;
        let Some(oi) = rec.order_of_unsub[r].map(RowIndex::get) else {
            continue;
        };
        if u.status[r] != UnsubStatus::Completed || out.link == Link::OrderNotFound || !out.evaluated() {
            continue;
        }
        let Some(cycle) = out.expected_cycle else { continue };
        let (charge_start, charge_end) = match out.approved_at() {
            Some(t) => cache.local_day(cal, t),
            None => cache.month(cal, cycle),
        };
        let correction = cycle > cal.month_of(o.ordered_at[oi]);
        for (charge, value) in [
            (Charge::Refund, out.amounts.refund),
            (Charge::Credit, out.amounts.coupon),
        ] {
            if !value.is_zero() {
                lines.push(Line {
                    cycle,
                    charge_start,
                    charge_end,
                    charge,
                    order: oi,
                    unsub: Some(r),
                    value,
                    fee: out.amounts.fee,
                    refund_type: out.expected_type.map(|t| t.as_str()).unwrap_or(""),
                    correction: correction && charge == Charge::Refund,
                });
            }
        }
    }
    let (order_id, unsub_id) = (o.order_id.view(), u.unsub_id.view());
    lines.sort_by(|a, b| {
        (a.cycle, a.charge_start)
            .cmp(&(b.cycle, b.charge_start))
            .then_with(|| order_id.get(a.order).cmp(order_id.get(b.order)))
            .then_with(|| a.charge.cmp(&b.charge))
            .then_with(|| a.unsub.map(|r| unsub_id.get(r)).cmp(&b.unsub.map(|r| unsub_id.get(r))))
    });
    lines
}

/// Writes monthly_bill.focus.csv for the selected accounts (around the
/// page cache unless `formats` asks for its Parquet copy).
pub fn write(
    rec: &Reconciliation,
    sel: &Selection,
    path: &Path,
    formats: super::Formats,
) -> Result<super::Done, AppError> {
    let o = &rec.inputs.orders;
    let dict = o.account_id.dict().clone();
    let accounts = dict.len();
    let o_acct = o.account_id.view();
    // Orders of context exports are not billed (docs/inputs.md#context-earlier-exports).
    let context = rec.inputs.has_context();
    let orders = ByAccount::new(accounts, o.amount.len(), |i| {
        (!context || rec.reported(0, i)).then(|| o_acct.code(i))
    });
    let u_acct = rec.inputs.unsubs.account_id.view();
    let mut unsub_ranges = vec![0usize..0usize; accounts];
    for range in &rec.accounts {
        if let Some(first) = rec.outcomes.get(range.start) {
            if let Some(slot) = unsub_ranges.get_mut(u_acct.code(first.unsub as usize) as usize) {
                *slot = range.clone();
            }
        }
    }

    let mut out = super::unread_csv_sink(path, &COLUMNS.map(|c| c.name), formats)?;
    let selected: Vec<usize> = (0..accounts)
        .filter(|&a| sel.is_all() || sel.keeps(dict.name(a as u32)))
        .collect();
    // About 12 rows of ~400 bytes per account: a group stays near 10 MB a thread.
    const BATCH: usize = 256;
    let written = super::sink::pipeline(
        &mut out,
        &selected,
        BATCH,
        |chunk| {
            let mut w = Writer::new(rec);
            for &a in chunk {
                let account = dict.name(a as u32);
                for line in account_lines(rec, orders.of(a), unsub_ranges[a].clone(), &mut w.cache) {
                    w.row(account, &line);
                }
            }
            (w.rows, ())
        },
        |()| {},
    )?;
    out.finish(Some(written))
}

/// Formats rows of one batch, with reusable scratch text.
struct Writer<'a> {
    rec: &'a Reconciliation,
    rows: Rows,
    text: String,
    /// The last billing month and its start and end.
    period: (Option<Month>, Micros, Micros),
    cache: Cache,
}

/// An amount at the currency's minor units, with more decimals only when
/// the value has more (an input amount): never rounded.
fn exact(r: &mut Rows, v: Decimal, dp: u32) {
    let dp = dp.max(v.normalize().scale());
    // dp ≥ every significant decimal: the rounding mode never applies.
    r.amount(v, dp, crate::money::Rounding::HalfUp);
}

fn opt_exact(r: &mut Rows, v: Option<Decimal>, dp: u32) {
    match v {
        Some(v) => exact(r, v, dp),
        None => r.empty(),
    }
}

impl<'a> Writer<'a> {
    fn new(rec: &'a Reconciliation) -> Writer<'a> {
        Writer {
            rec,
            rows: Rows::with_capacity(1 << 16),
            text: String::with_capacity(96),
            period: (None, 0, 0),
            cache: Cache::default(),
        }
    }

    /// One row, every column of [`COLUMNS`] in order.
    fn row(&mut self, account: &str, l: &Line) {
        let rec = self.rec;
        let (o, u, focus) = (&rec.inputs.orders, &rec.inputs.unsubs, &rec.policy.focus);
        let i = l.order;
        let currency = o.currency[i];
        let dp = rec.policy.minor_units.of(currency);
        // (billed = effective, list = contracted, unit price, quantity)
        let (billed, list, unit, quantity) = match l.charge {
            Charge::Purchase => (o.cash_due(i), l.value, Some(l.value), "1.0"),
            Charge::Refund => (-l.value, -l.value, Some(l.value), "-1.0"),
            Charge::Credit => (Decimal::ZERO, -l.value, None, ""),
        };
        let purchase = l.charge != Charge::Credit;
        if self.period.0 != Some(l.cycle) {
            let (start, end) = self.cache.month(&rec.cal, l.cycle);
            self.period = (Some(l.cycle), start, end);
        }
        self.description(l);
        let (r, text, utc) = (&mut self.rows, &mut self.text, &mut self.cache.utc);
        r.empty(); // AvailabilityZone
        exact(r, billed, dp);
        let billed_cell = r.last_cell();
        r.text(account);
        r.empty(); // BillingAccountName
        r.plain(currency.as_str());
        utc_cell(r, utc, self.period.2); // BillingPeriodEnd
        utc_cell(r, utc, self.period.1); // BillingPeriodStart
        r.plain(if purchase { "Purchase" } else { "Credit" });
        r.plain(if l.correction { "Correction" } else { "" });
        r.text(text);
        r.text(&focus.charge_frequency);
        utc_cell(r, utc, l.charge_end);
        utc_cell(r, utc, l.charge_start);
        for _ in 0..7 {
            r.empty(); // CommitmentDiscount* (5), ConsumedQuantity, ConsumedUnit
        }
        exact(r, list, dp); // ContractedCost
        let list_cell = r.last_cell();
        opt_exact(r, unit, dp); // ContractedUnitPrice
        let unit_cell = r.last_cell();
        r.copy(billed_cell); // EffectiveCost
        r.text(&focus.invoice_issuer);
        r.copy(list_cell); // ListCost
        r.copy(unit_cell); // ListUnitPrice
        r.plain(if purchase { "Standard" } else { "" });
        r.plain(quantity);
        r.text(if purchase { &focus.pricing_unit } else { "" });
        r.text(&focus.provider);
        r.text(&focus.publisher);
        r.empty(); // RegionId
        r.empty(); // RegionName
        r.text(o.instance_id.view().get(i));
        r.empty(); // ResourceName
        r.plain(resource_type(o.item_kind[i]));
        r.text(&focus.service_category);
        let product = o.product.view().get(i);
        r.text(product); // ServiceName
        r.text(if purchase { product } else { "" }); // SkuId
        r.text(if purchase { product } else { "" }); // SkuPriceId
        r.empty(); // SubAccountId
        r.empty(); // SubAccountName
        r.empty(); // Tags
        r.text(o.order_id.view().get(i));
        r.text(l.unsub.map(|x| u.unsub_id.view().get(x)).unwrap_or(""));
        r.end();
    }

    /// ChargeDescription of a row, into `self.text`.
    fn description(&mut self, l: &Line) {
        let rec = self.rec;
        let (o, u) = (&rec.inputs.orders, &rec.inputs.unsubs);
        let i = l.order;
        let order_id = o.order_id.view().get(i);
        let unsub_id = l.unsub.map(|x| u.unsub_id.view().get(x)).unwrap_or("");
        let t = &mut self.text;
        t.clear();
        // Pieces pushed in turn: `write!` was a tenth of this file's time.
        let pieces: [&str; 8] = match l.charge {
            // "Order {order_id} ({order_type}, {billing_mode}): {product}"
            Charge::Purchase => [
                "Order ",
                order_id,
                " (",
                o.order_type[i].as_str(),
                ", ",
                o.billing_mode[i].as_str(),
                "): ",
                o.product.view().get(i),
            ],
            // "Refund ({refund_type}) for {unsub_id} of order {order_id}"
            Charge::Refund => [
                "Refund (",
                l.refund_type,
                ") for ",
                unsub_id,
                " of order ",
                order_id,
                "",
                "",
            ],
            // "Coupon returned for {unsub_id} of order {order_id}"
            Charge::Credit => ["Coupon returned for ", unsub_id, " of order ", order_id, "", "", "", ""],
        };
        for p in pieces {
            t.push_str(p);
        }
        if l.charge == Charge::Refund && !l.fee.is_zero() {
            let dp = rec.policy.minor_units.of(o.currency[i]);
            let fee = crate::money::format(l.fee, dp, rec.policy.rounding);
            let _ = write!(t, ", handling fee {fee} withheld");
        }
        if l.correction {
            let _ = write!(t, ", correcting billing period {}", rec.cal.month_of(o.ordered_at[i]));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::time::SECOND;

    fn cal(zone: &str) -> Calendar {
        Calendar::new(zone.parse().unwrap(), BTreeSet::new())
    }

    fn text(t: Micros) -> String {
        let mut b = Vec::new();
        crate::time::write_utc(&mut b, t);
        String::from_utf8(b).unwrap()
    }

    #[test]
    fn columns_are_focus_1_0_then_custom() {
        let names: Vec<&str> = COLUMNS.iter().map(|c| c.name).collect();
        let mut sorted = names[..43].to_vec();
        sorted.sort_by_key(|n| n.to_ascii_lowercase());
        assert_eq!(sorted, names[..43], "FOCUS columns in the spec's alphabetical order");
        assert!(names[43..].iter().all(|n| n.starts_with("x_")));
        let unique: BTreeSet<&str> = names.iter().copied().collect();
        assert_eq!(unique.len(), COLUMNS.len());
        for c in &COLUMNS {
            let want = if c.name.ends_with("Cost") || c.name.ends_with("Price") || c.name.ends_with("Quantity") {
                Kind::Amount
            } else if c.name.ends_with("Start") || c.name.ends_with("End") {
                Kind::Timestamp
            } else {
                Kind::Text
            };
            assert_eq!(c.kind, want, "{}", c.name);
        }
    }

    #[test]
    fn utc_text_is_rfc3339_with_z() {
        assert_eq!(text(0), "1970-01-01T00:00:00Z");
        assert_eq!(text(1_632_990_600 * SECOND + 999_999), "2021-09-30T08:30:00Z");
        assert_eq!(text(-SECOND), "1969-12-31T23:59:59Z");
        assert_eq!(text(253_402_300_800 * SECOND), "+10000-01-01T00:00:00Z");
    }

    #[test]
    fn billing_periods_are_local_months_in_utc() {
        let sh = cal("Asia/Shanghai");
        assert_eq!(text(month_start(&sh, Month::new(2021, 9))), "2021-08-31T16:00:00Z");
        assert_eq!(text(month_start(&sh, Month::new(2022, 1))), "2021-12-31T16:00:00Z");
        let ny = cal("America/New_York");
        assert_eq!(text(month_start(&ny, Month::new(2021, 3))), "2021-03-01T05:00:00Z");
        assert_eq!(text(month_start(&ny, Month::new(2021, 4))), "2021-04-01T04:00:00Z");
        assert_eq!(
            text(month_start(&cal("UTC"), Month::new(2021, 12))),
            "2021-12-01T00:00:00Z"
        );
    }

    #[test]
    fn charge_periods_are_local_days() {
        let ny = cal("America/New_York");
        // 2021-03-14 is 23 hours long in New York (DST starts).
        let t = ny.parse_ts("2021-03-14T12:00:00-04:00").unwrap();
        let (s, e) = local_day(&ny, t);
        assert_eq!(
            (text(s), text(e)),
            ("2021-03-14T05:00:00Z".into(), "2021-03-15T04:00:00Z".into())
        );
        let sh = cal("Asia/Shanghai");
        let t = sh.parse_ts("2021-08-20T10:00:00+08:00").unwrap();
        let (s, e) = local_day(&sh, t);
        assert_eq!(
            (text(s), text(e)),
            ("2021-08-19T16:00:00Z".into(), "2021-08-20T16:00:00Z".into())
        );
    }

    #[test]
    fn amounts_keep_minor_units_and_never_round() {
        let mut r = Rows::with_capacity(64);
        exact(&mut r, Decimal::new(200000, 2), 2);
        exact(&mut r, Decimal::new(2000, 0), 2);
        exact(&mut r, Decimal::new(-1234567, 6), 2);
        exact(&mut r, Decimal::new(150000, 0), 0);
        exact(&mut r, Decimal::new(-0, 2), 2);
        opt_exact(&mut r, None, 2);
        r.end();
        assert_eq!(
            String::from_utf8(r.buf).unwrap(),
            "2000.00,2000.00,-1.234567,150000,0.00,\n"
        );
    }

    #[test]
    fn resource_types_name_every_item_kind() {
        let names: BTreeSet<&str> = ItemKind::ALL.iter().map(|k| resource_type(*k)).collect();
        assert_eq!(names.len(), ItemKind::ALL.len());
    }
}
