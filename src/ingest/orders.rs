//! orders.csv: one row per order (docs/inputs.md#orderscsv--one-row-per-order).

use rust_decimal::Decimal;

use super::cell;
use super::table::declare_table;
use super::{RowCtx, RowError};
use crate::columns::{CodeCol, StrCol};
use crate::model::{BillingMode, Currency, ItemKind, OrderType};
use crate::money::Stored;
use crate::time::Micros;

declare_table! {
    /// Accepted orders, one column per column of docs/inputs.md.
    pub struct Orders {
        file: "orders.csv",
        flag: "orders",
        id: order_id,
        columns: {
            required order_id: StrCol,
            /// Interned: a rank per row into the accounts dictionary.
            required account_id: CodeCol = accounts,
            required instance_id: StrCol,
            /// Interned product names.
            required product: CodeCol = products,
            required item_kind: Vec<ItemKind>,
            required billing_mode: Vec<BillingMode>,
            required order_type: Vec<OrderType>,
            required ordered_at: Vec<Micros>,
            required service_start: Vec<Micros>,
            required service_end: Vec<Micros>,
            required amount: Vec<Stored>,
            required coupon_amount: Vec<Stored>,
            required currency: Vec<Currency>,
            optional promotional: Vec<bool>,
            optional invoice_issued: Vec<bool>,
        }
    }
}

impl Orders {
    /// `cash_due(O) = amount − coupon_amount` (docs/rules.md#terms), exact.
    pub fn cash_due(&self, i: usize) -> Decimal {
        self.amount[i].get() - self.coupon_amount[i].get()
    }

    /// Validates one row's cells in the order of docs/inputs.md.
    #[inline]
    fn parse<'a>(cells: &[&'a str], ctx: &RowCtx<'_>) -> Result<ParsedRow<'a>, RowError> {
        let cal = ctx.cal;
        let order_id = cell::id(cells, col::order_id)?;
        let account_id = cell::id(cells, col::account_id)?;
        let instance_id = cell::id(cells, col::instance_id)?;
        let product = cell::text(cells, col::product)?;
        let item_kind = cell::token(cells, col::item_kind, ItemKind::parse, ItemKind::TOKENS)?;
        let billing_mode = cell::token(cells, col::billing_mode, BillingMode::parse, BillingMode::TOKENS)?;
        let order_type = cell::token(cells, col::order_type, OrderType::parse, OrderType::TOKENS)?;
        if order_type == OrderType::Usage && billing_mode != BillingMode::PayPerUse {
            return Err(RowError::new(
                col::order_type,
                "order_type usage is only allowed with billing_mode pay_per_use",
            ));
        }
        let ordered_at = cell::ts(cells, col::ordered_at, cal)?;
        let service_start = cell::ts(cells, col::service_start, cal)?;
        let service_end = cell::ts(cells, col::service_end, cal)?;
        if service_end <= service_start {
            return Err(RowError::new(
                col::service_end,
                "service_end must be after service_start",
            ));
        }
        let amount = cell::money(cells, col::amount)?;
        let coupon_amount = cell::money(cells, col::coupon_amount)?;
        if coupon_amount.get() > amount.get() {
            return Err(RowError::new(col::coupon_amount, "coupon_amount is larger than amount"));
        }
        let currency = cell::currency(cells, col::currency)?;
        let promotional = cell::opt_bool(cells, col::promotional)?;
        let invoice_issued = cell::opt_bool(cells, col::invoice_issued)?;

        Ok(ParsedRow {
            order_id,
            account_id,
            instance_id,
            product,
            item_kind,
            billing_mode,
            order_type,
            ordered_at,
            service_start,
            service_end,
            amount,
            coupon_amount,
            currency,
            promotional,
            invoice_issued,
        })
    }
}
