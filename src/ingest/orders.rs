//! orders.csv (SPEC §2): one row per order.

use rust_decimal::Decimal;

use super::cell;
use super::{Memo, RowCtx, RowError, Table};
use crate::columns::{CodeCol, StrCol, StrColBuilder, StrView};
use crate::model::{BillingMode, Currency, ItemKind, OrderType};
use crate::time::Micros;

/// Accepted orders, one column per SPEC field.
#[derive(Debug, Default)]
pub struct Orders {
    pub order_id: StrCol,
    /// Interned: a rank per row into the accounts dictionary.
    pub account_id: CodeCol,
    pub instance_id: StrCol,
    /// Interned product names.
    pub product: CodeCol,
    pub item_kind: Vec<ItemKind>,
    pub billing_mode: Vec<BillingMode>,
    pub order_type: Vec<OrderType>,
    pub ordered_at: Vec<Micros>,
    pub service_start: Vec<Micros>,
    pub service_end: Vec<Micros>,
    pub amount: Vec<Decimal>,
    pub coupon_amount: Vec<Decimal>,
    pub currency: Vec<Currency>,
    pub promotional: Vec<bool>,
    pub invoice_issued: Vec<bool>,
    pub line: Vec<u64>,
    builders: Option<Box<[StrColBuilder; 2]>>,
    memo: [Memo; 2],
}

const ORDER_ID: usize = 0;
const ACCOUNT_ID: usize = 1;
const INSTANCE_ID: usize = 2;
const PRODUCT: usize = 3;
const ITEM_KIND: usize = 4;
const BILLING_MODE: usize = 5;
const ORDER_TYPE: usize = 6;
const ORDERED_AT: usize = 7;
const SERVICE_START: usize = 8;
const SERVICE_END: usize = 9;
const AMOUNT: usize = 10;
const COUPON_AMOUNT: usize = 11;
const CURRENCY: usize = 12;
const PROMOTIONAL: usize = 13;
const INVOICE_ISSUED: usize = 14;

impl Orders {
    /// `cash_due(O) = amount − coupon_amount` (SPEC §2), exact.
    pub fn cash_due(&self, i: usize) -> Decimal {
        self.amount[i] - self.coupon_amount[i]
    }

    fn flush_builders(&mut self) {
        if let Some(b) = self.builders.take() {
            let [o, i] = *b;
            self.order_id.append(o.finish());
            self.instance_id.append(i.finish());
        }
    }
}

impl Table for Orders {
    const FILE: &'static str = "orders.csv";
    const FLAG: &'static str = "orders";
    const COLUMNS: &'static [(&'static str, bool)] = &[
        ("order_id", true),
        ("account_id", true),
        ("instance_id", true),
        ("product", true),
        ("item_kind", true),
        ("billing_mode", true),
        ("order_type", true),
        ("ordered_at", true),
        ("service_start", true),
        ("service_end", true),
        ("amount", true),
        ("coupon_amount", true),
        ("currency", true),
        ("promotional", false),
        ("invoice_issued", false),
    ];
    const ID: usize = ORDER_ID;

    fn with_capacity(rows: usize) -> Self {
        Orders {
            builders: Some(Box::new(std::array::from_fn(|_| StrColBuilder::new(rows)))),
            account_id: CodeCol::with_capacity(rows),
            product: CodeCol::with_capacity(rows),
            item_kind: Vec::with_capacity(rows),
            billing_mode: Vec::with_capacity(rows),
            order_type: Vec::with_capacity(rows),
            ordered_at: Vec::with_capacity(rows),
            service_start: Vec::with_capacity(rows),
            service_end: Vec::with_capacity(rows),
            amount: Vec::with_capacity(rows),
            coupon_amount: Vec::with_capacity(rows),
            currency: Vec::with_capacity(rows),
            promotional: Vec::with_capacity(rows),
            invoice_issued: Vec::with_capacity(rows),
            line: Vec::with_capacity(rows),
            ..Orders::default()
        }
    }

    fn reserve(&mut self, rows: usize) {
        self.account_id.codes.reserve(rows);
        self.product.codes.reserve(rows);
        self.item_kind.reserve(rows);
        self.billing_mode.reserve(rows);
        self.order_type.reserve(rows);
        self.ordered_at.reserve(rows);
        self.service_start.reserve(rows);
        self.service_end.reserve(rows);
        self.amount.reserve(rows);
        self.coupon_amount.reserve(rows);
        self.currency.reserve(rows);
        self.promotional.reserve(rows);
        self.invoice_issued.reserve(rows);
        self.line.reserve(rows);
    }

    fn push_row(&mut self, cells: &[&str], line: u64, ctx: &RowCtx<'_>) -> Result<(), RowError> {
        let cal = ctx.cal;
        let order_id = cell::id(cells, ORDER_ID)?;
        let account_id = cell::id(cells, ACCOUNT_ID)?;
        let instance_id = cell::id(cells, INSTANCE_ID)?;
        let product = cell::text(cells, PRODUCT)?;
        let item_kind = cell::token(cells, ITEM_KIND, ItemKind::parse, ItemKind::TOKENS)?;
        let billing_mode = cell::token(cells, BILLING_MODE, BillingMode::parse, BillingMode::TOKENS)?;
        let order_type = cell::token(cells, ORDER_TYPE, OrderType::parse, OrderType::TOKENS)?;
        if order_type == OrderType::Usage && billing_mode != BillingMode::PayPerUse {
            return Err(RowError::new(
                ORDER_TYPE,
                "order_type usage is only allowed with billing_mode pay_per_use",
            ));
        }
        let ordered_at = cell::ts(cells, ORDERED_AT, cal)?;
        let service_start = cell::ts(cells, SERVICE_START, cal)?;
        let service_end = cell::ts(cells, SERVICE_END, cal)?;
        if service_end <= service_start {
            return Err(RowError::new(SERVICE_END, "service_end must be after service_start"));
        }
        let amount = cell::money(cells, AMOUNT)?;
        let coupon_amount = cell::money(cells, COUPON_AMOUNT)?;
        if coupon_amount > amount {
            return Err(RowError::new(COUPON_AMOUNT, "coupon_amount is larger than amount"));
        }
        let currency = cell::currency(cells, CURRENCY)?;
        let promotional = cell::opt_bool(cells, PROMOTIONAL)?;
        let invoice_issued = cell::opt_bool(cells, INVOICE_ISSUED)?;

        let b = self
            .builders
            .get_or_insert_with(|| Box::new(std::array::from_fn(|_| StrColBuilder::new(16))));
        b[0].push(order_id);
        b[1].push(instance_id);
        self.account_id.codes.push(self.memo[0].code(account_id, ctx.accounts));
        self.product.codes.push(self.memo[1].code(product, ctx.products));
        self.item_kind.push(item_kind);
        self.billing_mode.push(billing_mode);
        self.order_type.push(order_type);
        self.ordered_at.push(ordered_at);
        self.service_start.push(service_start);
        self.service_end.push(service_end);
        self.amount.push(amount);
        self.coupon_amount.push(coupon_amount);
        self.currency.push(currency);
        self.promotional.push(promotional);
        self.invoice_issued.push(invoice_issued);
        self.line.push(line);
        Ok(())
    }

    fn append(&mut self, mut other: Self) {
        other.flush_builders();
        self.flush_builders();
        self.order_id.append(other.order_id);
        self.account_id.codes.append(&mut other.account_id.codes);
        self.instance_id.append(other.instance_id);
        self.product.codes.append(&mut other.product.codes);
        self.item_kind.append(&mut other.item_kind);
        self.billing_mode.append(&mut other.billing_mode);
        self.order_type.append(&mut other.order_type);
        self.ordered_at.append(&mut other.ordered_at);
        self.service_start.append(&mut other.service_start);
        self.service_end.append(&mut other.service_end);
        self.amount.append(&mut other.amount);
        self.coupon_amount.append(&mut other.coupon_amount);
        self.currency.append(&mut other.currency);
        self.promotional.append(&mut other.promotional);
        self.invoice_issued.append(&mut other.invoice_issued);
        self.line.append(&mut other.line);
    }

    fn finish(&mut self) {
        self.flush_builders();
        for c in [&mut self.order_id, &mut self.instance_id] {
            c.rechunk();
        }
    }

    fn retain(&mut self, keep: &[bool]) {
        self.order_id = self.order_id.filter(keep);
        retain(&mut self.account_id.codes, keep);
        self.instance_id = self.instance_id.filter(keep);
        retain(&mut self.product.codes, keep);
        retain(&mut self.item_kind, keep);
        retain(&mut self.billing_mode, keep);
        retain(&mut self.order_type, keep);
        retain(&mut self.ordered_at, keep);
        retain(&mut self.service_start, keep);
        retain(&mut self.service_end, keep);
        retain(&mut self.amount, keep);
        retain(&mut self.coupon_amount, keep);
        retain(&mut self.currency, keep);
        retain(&mut self.promotional, keep);
        retain(&mut self.invoice_issued, keep);
        retain(&mut self.line, keep);
    }

    fn lines(&self) -> &[u64] {
        &self.line
    }

    fn lines_mut(&mut self) -> &mut [u64] {
        &mut self.line
    }

    fn ids(&self) -> StrView<'_> {
        self.order_id.view()
    }
}

/// Keeps the elements whose flag is true.
pub(crate) fn retain<T>(v: &mut Vec<T>, keep: &[bool]) {
    let mut i = 0;
    v.retain(|_| {
        i += 1;
        keep[i - 1]
    });
}
