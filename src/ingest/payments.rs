//! payments.csv: one row per payment attempt
//! (docs/inputs.md#paymentscsv--one-row-per-payment-attempt).

use super::cell;
use super::table::declare_table;
use super::{RowCtx, RowError};
use crate::columns::{CodeCol, StrCol};
use crate::model::{Currency, PaymentStatus};
use crate::money::Stored;
use crate::time::Micros;

declare_table! {
    /// Accepted payments.
    pub struct Payments {
        file: "payments.csv",
        flag: "payments",
        id: payment_id,
        columns: {
            required payment_id: StrCol,
            required order_id: StrCol,
            /// Interned: a rank per row into the accounts dictionary.
            required account_id: CodeCol = accounts,
            required paid_at: Vec<Micros>,
            required amount: Vec<Stored>,
            required currency: Vec<Currency>,
            /// Interned payment methods.
            required method: CodeCol = methods,
            required status: Vec<PaymentStatus>,
        }
    }
}

impl Payments {
    /// Validates one row's cells in the order of docs/inputs.md.
    #[inline]
    fn parse<'a>(cells: &[&'a str], ctx: &RowCtx<'_>) -> Result<ParsedRow<'a>, RowError> {
        let cal = ctx.cal;
        let payment_id = cell::id(cells, col::payment_id)?;
        let order_id = cell::id(cells, col::order_id)?;
        let account_id = cell::id(cells, col::account_id)?;
        let paid_at = cell::ts(cells, col::paid_at, cal)?;
        let amount = cell::money(cells, col::amount)?;
        if amount.get().is_zero() {
            return Err(RowError::new(col::amount, "a payment amount must be greater than 0"));
        }
        let currency = cell::currency(cells, col::currency)?;
        let method = cell::id(cells, col::method)?;
        let status = cell::token(cells, col::status, PaymentStatus::parse, PaymentStatus::TOKENS)?;

        Ok(ParsedRow {
            payment_id,
            order_id,
            account_id,
            paid_at,
            amount,
            currency,
            method,
            status,
        })
    }
}
