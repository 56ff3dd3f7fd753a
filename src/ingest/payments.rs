//! payments.csv (SPEC §2): one row per payment attempt.

use rust_decimal::Decimal;

use super::cell;
use super::orders::retain;
use super::{Memo, RowCtx, RowError, Table};
use crate::columns::{CodeCol, StrCol, StrColBuilder, StrView};
use crate::model::{Currency, PaymentStatus};
use crate::time::Micros;

/// Accepted payments.
#[derive(Debug, Default)]
pub struct Payments {
    pub payment_id: StrCol,
    pub order_id: StrCol,
    /// Interned: a rank per row into the accounts dictionary.
    pub account_id: CodeCol,
    pub paid_at: Vec<Micros>,
    pub amount: Vec<Decimal>,
    pub currency: Vec<Currency>,
    /// Interned payment methods.
    pub method: CodeCol,
    pub status: Vec<PaymentStatus>,
    pub line: Vec<u64>,
    builders: Option<Box<[StrColBuilder; 2]>>,
    memo: [Memo; 2],
}

const PAYMENT_ID: usize = 0;
const ORDER_ID: usize = 1;
const ACCOUNT_ID: usize = 2;
const PAID_AT: usize = 3;
const AMOUNT: usize = 4;
const CURRENCY: usize = 5;
const METHOD: usize = 6;
const STATUS: usize = 7;

impl Payments {
    fn flush_builders(&mut self) {
        if let Some(b) = self.builders.take() {
            let [p, o] = *b;
            self.payment_id.append(p.finish());
            self.order_id.append(o.finish());
        }
    }
}

impl Table for Payments {
    const FILE: &'static str = "payments.csv";
    const FLAG: &'static str = "payments";
    const COLUMNS: &'static [(&'static str, bool)] = &[
        ("payment_id", true),
        ("order_id", true),
        ("account_id", true),
        ("paid_at", true),
        ("amount", true),
        ("currency", true),
        ("method", true),
        ("status", true),
    ];
    const ID: usize = PAYMENT_ID;

    fn with_capacity(rows: usize) -> Self {
        Payments {
            builders: Some(Box::new(std::array::from_fn(|_| StrColBuilder::new(rows)))),
            account_id: CodeCol::with_capacity(rows),
            method: CodeCol::with_capacity(rows),
            paid_at: Vec::with_capacity(rows),
            amount: Vec::with_capacity(rows),
            currency: Vec::with_capacity(rows),
            status: Vec::with_capacity(rows),
            line: Vec::with_capacity(rows),
            ..Payments::default()
        }
    }

    fn reserve(&mut self, rows: usize) {
        self.account_id.codes.reserve(rows);
        self.method.codes.reserve(rows);
        self.paid_at.reserve(rows);
        self.amount.reserve(rows);
        self.currency.reserve(rows);
        self.status.reserve(rows);
        self.line.reserve(rows);
    }

    fn push_row(&mut self, cells: &[&str], line: u64, ctx: &RowCtx<'_>) -> Result<(), RowError> {
        let cal = ctx.cal;
        let payment_id = cell::id(cells, PAYMENT_ID)?;
        let order_id = cell::id(cells, ORDER_ID)?;
        let account_id = cell::id(cells, ACCOUNT_ID)?;
        let paid_at = cell::ts(cells, PAID_AT, cal)?;
        let amount = cell::money(cells, AMOUNT)?;
        if amount.is_zero() {
            return Err(RowError::new(AMOUNT, "a payment amount must be greater than 0"));
        }
        let currency = cell::currency(cells, CURRENCY)?;
        let method = cell::id(cells, METHOD)?;
        let status = cell::token(cells, STATUS, PaymentStatus::parse, PaymentStatus::TOKENS)?;

        let b = self
            .builders
            .get_or_insert_with(|| Box::new(std::array::from_fn(|_| StrColBuilder::new(16))));
        b[0].push(payment_id);
        b[1].push(order_id);
        self.account_id.codes.push(self.memo[0].code(account_id, ctx.accounts));
        self.method.codes.push(self.memo[1].code(method, ctx.methods));
        self.paid_at.push(paid_at);
        self.amount.push(amount);
        self.currency.push(currency);
        self.status.push(status);
        self.line.push(line);
        Ok(())
    }

    fn append(&mut self, mut other: Self) {
        other.flush_builders();
        self.flush_builders();
        self.payment_id.append(other.payment_id);
        self.order_id.append(other.order_id);
        self.account_id.codes.append(&mut other.account_id.codes);
        self.method.codes.append(&mut other.method.codes);
        self.paid_at.append(&mut other.paid_at);
        self.amount.append(&mut other.amount);
        self.currency.append(&mut other.currency);
        self.status.append(&mut other.status);
        self.line.append(&mut other.line);
    }

    fn finish(&mut self) {
        self.flush_builders();
        for c in [&mut self.payment_id, &mut self.order_id] {
            c.rechunk();
        }
    }

    fn retain(&mut self, keep: &[bool]) {
        self.payment_id = self.payment_id.filter(keep);
        self.order_id = self.order_id.filter(keep);
        retain(&mut self.account_id.codes, keep);
        retain(&mut self.method.codes, keep);
        retain(&mut self.paid_at, keep);
        retain(&mut self.amount, keep);
        retain(&mut self.currency, keep);
        retain(&mut self.status, keep);
        retain(&mut self.line, keep);
    }

    fn lines(&self) -> &[u64] {
        &self.line
    }

    fn lines_mut(&mut self) -> &mut [u64] {
        &mut self.line
    }

    fn ids(&self) -> StrView<'_> {
        self.payment_id.view()
    }
}
