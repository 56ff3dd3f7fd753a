//! unsubscriptions.csv: one row per unsubscription of one order, as the
//! billing system recorded it
//! (docs/inputs.md#unsubscriptionscsv--one-row-per-unsubscription-of-one-order).

use rust_decimal::Decimal;

use super::cell;
use super::table::declare_table;
use super::{RowCtx, RowError};
use crate::columns::{CodeCol, OptTimes, StrCol};
use crate::model::{InstanceState, Month, RefundType, UnsubStatus};
use crate::money::Stored;
use crate::time::Micros;

declare_table! {
    /// Accepted unsubscriptions. The recorded fields (`completed_at`,
    /// `refunded_at`, `refund_type`, amounts, destination, cycle) are `None` /
    /// empty on pending and rejected rows: docs/inputs.md says they are
    /// ignored there.
    pub struct Unsubscriptions {
        file: "unsubscriptions.csv",
        flag: "unsubscriptions",
        id: unsub_id,
        columns: {
            required unsub_id: StrCol,
            required order_id: StrCol,
            /// Interned: a rank per row into the accounts dictionary.
            required account_id: CodeCol = accounts,
            /// Empty when the row is not part of a batch.
            optional batch_id: StrCol,
            required requested_at: Vec<Micros>,
            optional reviewed_at: OptTimes,
            required completed_at: OptTimes,
            optional refunded_at: OptTimes,
            required instance_state: Vec<InstanceState>,
            required status: Vec<UnsubStatus>,
            required refund_type: Vec<Option<RefundType>>,
            required refund_amount: Vec<Option<Stored>>,
            required handling_fee: Vec<Option<Stored>>,
            required coupon_returned: Vec<Option<Stored>>,
            /// Empty when not given.
            required refund_destination: StrCol,
            required billing_cycle: Vec<Option<Month>>,
        }
    }
}

const OUT_OF_ORDER: &str = "timestamps out of order: earlier than requested_at";

impl Unsubscriptions {
    /// Validates one row's cells in the order of docs/inputs.md; with the
    /// status known, only the recorded fields that count for it.
    #[inline]
    fn parse<'a>(cells: &[&'a str], ctx: &RowCtx<'_>) -> Result<ParsedRow<'a>, RowError> {
        let cal = ctx.cal;
        let unsub_id = cell::id(cells, col::unsub_id)?;
        let order_id = cell::id(cells, col::order_id)?;
        let account_id = cell::id(cells, col::account_id)?;
        let batch_id = cell::opt_id(cells, col::batch_id)?;
        let requested_at = cell::ts(cells, col::requested_at, cal)?;
        let reviewed_at = cell::opt_ts(cells, col::reviewed_at, cal)?;
        if reviewed_at.is_some_and(|t| t < requested_at) {
            return Err(RowError::new(col::reviewed_at, OUT_OF_ORDER));
        }
        // The status decides which recorded fields count. With an unknown
        // status the recorded fields are checked only where given, so the
        // first bad column in docs/inputs.md order is still the one reported.
        let status = UnsubStatus::parse(cells[col::status]);
        let completed = status == Some(UnsubStatus::Completed);
        let recorded = status.is_none() || completed;
        let completed_at = match status {
            Some(UnsubStatus::Completed) => Some(cell::ts(cells, col::completed_at, cal)?),
            None => cell::opt_ts(cells, col::completed_at, cal)?,
            Some(_) => None,
        };
        if completed_at.is_some_and(|t| t < requested_at) {
            return Err(RowError::new(col::completed_at, OUT_OF_ORDER));
        }
        let refunded_at = if recorded {
            cell::opt_ts(cells, col::refunded_at, cal)?
        } else {
            None
        };
        if refunded_at.is_some_and(|t| t < requested_at) {
            return Err(RowError::new(col::refunded_at, OUT_OF_ORDER));
        }
        // A column a mapping declares absent is empty: nothing recorded,
        // and the rules that read it are not checked (docs/mapping.md).
        let absent = |c: usize| ctx.absent & (1 << c) != 0;
        let instance_state = if absent(col::instance_state) {
            InstanceState::Normal
        } else {
            cell::token(cells, col::instance_state, InstanceState::parse, InstanceState::TOKENS)?
        };
        let status = cell::token(cells, col::status, UnsubStatus::parse, UnsubStatus::TOKENS)?;
        let (mut refund_type, mut refund_amount, mut handling_fee, mut coupon_returned) = (None, None, None, None);
        let mut destination = "";
        let mut billing_cycle = None;
        if completed {
            if !absent(col::refund_type) {
                refund_type = Some(cell::token(
                    cells,
                    col::refund_type,
                    RefundType::parse,
                    RefundType::TOKENS,
                )?);
            }
            let money = |c: usize| (!absent(c)).then(|| cell::money(cells, c)).transpose();
            refund_amount = money(col::refund_amount)?;
            let refund = refund_amount.map_or(Decimal::ZERO, Stored::get);
            handling_fee = money(col::handling_fee)?;
            coupon_returned = money(col::coupon_returned)?;
            destination = if refund.is_zero() || absent(col::refund_destination) {
                cell::opt_id(cells, col::refund_destination)?
            } else {
                cell::id(cells, col::refund_destination)?
            };
            if (!refund.is_zero() && !absent(col::billing_cycle)) || !cells[col::billing_cycle].is_empty() {
                let v = cell::required(cells, col::billing_cycle)?;
                billing_cycle = Some(
                    Month::parse(v)
                        .ok_or_else(|| RowError::new(col::billing_cycle, "not a billing cycle; expected YYYY-MM"))?,
                );
            }
        }

        Ok(ParsedRow {
            unsub_id,
            order_id,
            account_id,
            batch_id,
            requested_at,
            reviewed_at,
            completed_at,
            refunded_at,
            instance_state,
            status,
            refund_type,
            refund_amount,
            handling_fee,
            coupon_returned,
            refund_destination: destination,
            billing_cycle,
        })
    }
}
