//! unsubscriptions.csv (SPEC §2, §9): one row per unsubscription of one
//! order, as the billing system recorded it.

use rust_decimal::Decimal;

use super::cell;
use super::orders::retain;
use super::{Memo, RowCtx, RowError, Table};
use crate::columns::{CodeCol, StrCol, StrColBuilder, StrView};
use crate::model::{InstanceState, Month, RefundType, UnsubStatus};
use crate::time::Micros;

/// Accepted unsubscriptions. The recorded fields (`completed_at`,
/// `refunded_at`, `refund_type`, amounts, destination, cycle) are `None` /
/// empty on pending and rejected rows: SPEC §9 says they are ignored there.
#[derive(Debug, Default)]
pub struct Unsubscriptions {
    pub unsub_id: StrCol,
    pub order_id: StrCol,
    /// Interned: a rank per row into the accounts dictionary.
    pub account_id: CodeCol,
    /// Empty when the row is not part of a batch.
    pub batch_id: StrCol,
    pub requested_at: Vec<Micros>,
    pub reviewed_at: Vec<Option<Micros>>,
    pub completed_at: Vec<Option<Micros>>,
    pub refunded_at: Vec<Option<Micros>>,
    pub instance_state: Vec<InstanceState>,
    pub status: Vec<UnsubStatus>,
    pub refund_type: Vec<Option<RefundType>>,
    pub refund_amount: Vec<Option<Decimal>>,
    pub handling_fee: Vec<Option<Decimal>>,
    pub coupon_returned: Vec<Option<Decimal>>,
    /// Empty when not given.
    pub refund_destination: StrCol,
    pub billing_cycle: Vec<Option<Month>>,
    pub line: Vec<u64>,
    builders: Option<Box<[StrColBuilder; 4]>>,
    memo: Memo,
}

const UNSUB_ID: usize = 0;
const ORDER_ID: usize = 1;
const ACCOUNT_ID: usize = 2;
const BATCH_ID: usize = 3;
const REQUESTED_AT: usize = 4;
const REVIEWED_AT: usize = 5;
const COMPLETED_AT: usize = 6;
const REFUNDED_AT: usize = 7;
const INSTANCE_STATE: usize = 8;
const STATUS: usize = 9;
const REFUND_TYPE: usize = 10;
const REFUND_AMOUNT: usize = 11;
const HANDLING_FEE: usize = 12;
const COUPON_RETURNED: usize = 13;
const REFUND_DESTINATION: usize = 14;
const BILLING_CYCLE: usize = 15;

const OUT_OF_ORDER: &str = "timestamps out of order: earlier than requested_at";

impl Unsubscriptions {
    fn flush_builders(&mut self) {
        if let Some(b) = self.builders.take() {
            let [u, o, bt, d] = *b;
            self.unsub_id.append(u.finish());
            self.order_id.append(o.finish());
            self.batch_id.append(bt.finish());
            self.refund_destination.append(d.finish());
        }
    }
}

impl Table for Unsubscriptions {
    const FILE: &'static str = "unsubscriptions.csv";
    const FLAG: &'static str = "unsubscriptions";
    const COLUMNS: &'static [(&'static str, bool)] = &[
        ("unsub_id", true),
        ("order_id", true),
        ("account_id", true),
        ("batch_id", false),
        ("requested_at", true),
        ("reviewed_at", false),
        ("completed_at", true),
        ("refunded_at", false),
        ("instance_state", true),
        ("status", true),
        ("refund_type", true),
        ("refund_amount", true),
        ("handling_fee", true),
        ("coupon_returned", true),
        ("refund_destination", true),
        ("billing_cycle", true),
    ];
    const ID: usize = UNSUB_ID;

    fn with_capacity(rows: usize) -> Self {
        Unsubscriptions {
            builders: Some(Box::new(std::array::from_fn(|_| StrColBuilder::new(rows)))),
            account_id: CodeCol::with_capacity(rows),
            requested_at: Vec::with_capacity(rows),
            reviewed_at: Vec::with_capacity(rows),
            completed_at: Vec::with_capacity(rows),
            refunded_at: Vec::with_capacity(rows),
            instance_state: Vec::with_capacity(rows),
            status: Vec::with_capacity(rows),
            refund_type: Vec::with_capacity(rows),
            refund_amount: Vec::with_capacity(rows),
            handling_fee: Vec::with_capacity(rows),
            coupon_returned: Vec::with_capacity(rows),
            billing_cycle: Vec::with_capacity(rows),
            line: Vec::with_capacity(rows),
            ..Unsubscriptions::default()
        }
    }

    fn reserve(&mut self, rows: usize) {
        self.account_id.codes.reserve(rows);
        self.requested_at.reserve(rows);
        self.reviewed_at.reserve(rows);
        self.completed_at.reserve(rows);
        self.refunded_at.reserve(rows);
        self.instance_state.reserve(rows);
        self.status.reserve(rows);
        self.refund_type.reserve(rows);
        self.refund_amount.reserve(rows);
        self.handling_fee.reserve(rows);
        self.coupon_returned.reserve(rows);
        self.billing_cycle.reserve(rows);
        self.line.reserve(rows);
    }

    fn push_row(&mut self, cells: &[&str], line: u64, ctx: &RowCtx<'_>) -> Result<(), RowError> {
        let cal = ctx.cal;
        let unsub_id = cell::id(cells, UNSUB_ID)?;
        let order_id = cell::id(cells, ORDER_ID)?;
        let account_id = cell::id(cells, ACCOUNT_ID)?;
        let batch_id = cell::opt_id(cells, BATCH_ID)?;
        let requested_at = cell::ts(cells, REQUESTED_AT, cal)?;
        let reviewed_at = cell::opt_ts(cells, REVIEWED_AT, cal)?;
        if reviewed_at.is_some_and(|t| t < requested_at) {
            return Err(RowError::new(REVIEWED_AT, OUT_OF_ORDER));
        }
        // The status decides which recorded fields count. With an unknown
        // status the recorded fields are checked only where given, so the
        // first bad column in SPEC order is still the one reported.
        let status = UnsubStatus::parse(cells[STATUS]);
        let completed = status == Some(UnsubStatus::Completed);
        let recorded = status.is_none() || completed;
        let completed_at = match status {
            Some(UnsubStatus::Completed) => Some(cell::ts(cells, COMPLETED_AT, cal)?),
            None => cell::opt_ts(cells, COMPLETED_AT, cal)?,
            Some(_) => None,
        };
        if completed_at.is_some_and(|t| t < requested_at) {
            return Err(RowError::new(COMPLETED_AT, OUT_OF_ORDER));
        }
        let refunded_at = if recorded {
            cell::opt_ts(cells, REFUNDED_AT, cal)?
        } else {
            None
        };
        if refunded_at.is_some_and(|t| t < requested_at) {
            return Err(RowError::new(REFUNDED_AT, OUT_OF_ORDER));
        }
        let instance_state = cell::token(cells, INSTANCE_STATE, InstanceState::parse, InstanceState::TOKENS)?;
        let status = cell::token(cells, STATUS, UnsubStatus::parse, UnsubStatus::TOKENS)?;
        let (mut refund_type, mut refund_amount, mut handling_fee, mut coupon_returned) = (None, None, None, None);
        let mut destination = "";
        let mut billing_cycle = None;
        if completed {
            refund_type = Some(cell::token(cells, REFUND_TYPE, RefundType::parse, RefundType::TOKENS)?);
            let refund = cell::money(cells, REFUND_AMOUNT)?;
            refund_amount = Some(refund);
            handling_fee = Some(cell::money(cells, HANDLING_FEE)?);
            coupon_returned = Some(cell::money(cells, COUPON_RETURNED)?);
            destination = if refund.is_zero() {
                cell::opt_id(cells, REFUND_DESTINATION)?
            } else {
                cell::id(cells, REFUND_DESTINATION)?
            };
            if !refund.is_zero() || !cells[BILLING_CYCLE].is_empty() {
                let v = cell::required(cells, BILLING_CYCLE)?;
                billing_cycle = Some(
                    Month::parse(v)
                        .ok_or_else(|| RowError::new(BILLING_CYCLE, "not a billing cycle; expected YYYY-MM"))?,
                );
            }
        }

        let b = self
            .builders
            .get_or_insert_with(|| Box::new(std::array::from_fn(|_| StrColBuilder::new(16))));
        b[0].push(unsub_id);
        b[1].push(order_id);
        b[2].push(batch_id);
        b[3].push(destination);
        self.account_id.codes.push(self.memo.code(account_id, ctx.accounts));
        self.requested_at.push(requested_at);
        self.reviewed_at.push(reviewed_at);
        self.completed_at.push(completed_at);
        self.refunded_at.push(refunded_at);
        self.instance_state.push(instance_state);
        self.status.push(status);
        self.refund_type.push(refund_type);
        self.refund_amount.push(refund_amount);
        self.handling_fee.push(handling_fee);
        self.coupon_returned.push(coupon_returned);
        self.billing_cycle.push(billing_cycle);
        self.line.push(line);
        Ok(())
    }

    fn append(&mut self, mut other: Self) {
        other.flush_builders();
        self.flush_builders();
        self.unsub_id.append(other.unsub_id);
        self.order_id.append(other.order_id);
        self.account_id.codes.append(&mut other.account_id.codes);
        self.batch_id.append(other.batch_id);
        self.refund_destination.append(other.refund_destination);
        self.requested_at.append(&mut other.requested_at);
        self.reviewed_at.append(&mut other.reviewed_at);
        self.completed_at.append(&mut other.completed_at);
        self.refunded_at.append(&mut other.refunded_at);
        self.instance_state.append(&mut other.instance_state);
        self.status.append(&mut other.status);
        self.refund_type.append(&mut other.refund_type);
        self.refund_amount.append(&mut other.refund_amount);
        self.handling_fee.append(&mut other.handling_fee);
        self.coupon_returned.append(&mut other.coupon_returned);
        self.billing_cycle.append(&mut other.billing_cycle);
        self.line.append(&mut other.line);
    }

    fn finish(&mut self) {
        self.flush_builders();
        for c in [
            &mut self.unsub_id,
            &mut self.order_id,
            &mut self.batch_id,
            &mut self.refund_destination,
        ] {
            c.rechunk();
        }
    }

    fn retain(&mut self, keep: &[bool]) {
        self.unsub_id = self.unsub_id.filter(keep);
        self.order_id = self.order_id.filter(keep);
        retain(&mut self.account_id.codes, keep);
        self.batch_id = self.batch_id.filter(keep);
        self.refund_destination = self.refund_destination.filter(keep);
        retain(&mut self.requested_at, keep);
        retain(&mut self.reviewed_at, keep);
        retain(&mut self.completed_at, keep);
        retain(&mut self.refunded_at, keep);
        retain(&mut self.instance_state, keep);
        retain(&mut self.status, keep);
        retain(&mut self.refund_type, keep);
        retain(&mut self.refund_amount, keep);
        retain(&mut self.handling_fee, keep);
        retain(&mut self.coupon_returned, keep);
        retain(&mut self.billing_cycle, keep);
        retain(&mut self.line, keep);
    }

    fn lines(&self) -> &[u64] {
        &self.line
    }

    fn lines_mut(&mut self) -> &mut [u64] {
        &mut self.line
    }

    fn ids(&self) -> StrView<'_> {
        self.unsub_id.view()
    }
}
