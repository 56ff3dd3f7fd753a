//! The generator's view of the policy: the billing calendar
//! ([`crate::time::Calendar`]) in the generator's Unix seconds and local
//! day numbers, and the rules' own functions (R2, R3, R4, R5, R6, R9) for
//! the values it records as correct. Times cross into the library as
//! microseconds; money as exact decimals of the currency's minor units.

use std::io;

use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;

use crate::config::Policy;
use crate::model::{ExpectedType, InstanceState, Month, RefundType};
use crate::rules::{r2_blocked, r3_type, r4_amounts, r5_review, r6_cycle, r9_deadline, OrderFacts};
use crate::time::{Calendar, Micros, SECOND};

use super::accounts::Order;
use super::catalog::{Cur, Method};
use super::write::{Offset, Offsets};
use super::{invalid, HOUR};

/// Days from 0001-01-01 (day 1 of the common era) to 1970-01-01.
const EPOCH_FROM_CE: i64 = 719_163;

fn micros(t: i64) -> Micros {
    t * SECOND
}

/// Whole seconds (every instant the calendar gives back here is one).
fn seconds(t: Micros) -> i64 {
    t.div_euclid(SECOND)
}

fn day_number(d: NaiveDate) -> i64 {
    i64::from(d.num_days_from_ce()) - EPOCH_FROM_CE
}

fn date(day: i64) -> NaiveDate {
    i32::try_from(day + EPOCH_FROM_CE)
        .ok()
        .and_then(NaiveDate::from_num_days_from_ce_opt)
        .expect("a generated day is a valid date")
}

/// An exact amount in minor units, as an integer count of them.
fn minor(mut d: Decimal, dp: u32) -> i64 {
    d.rescale(dp);
    i64::try_from(d.mantissa()).expect("generated amounts fit in i64")
}

/// The policy and what the generator derives from it.
pub(super) struct Terms<'p> {
    pub(super) policy: &'p Policy,
    pub(super) cal: Calendar,
    /// Local midnight of 2021-01-01: no order before.
    pub(super) start: i64,
    /// Its local day.
    pub(super) start_day: i64,
    /// Local midnight of 2022-12-28: no request after this; refunds and
    /// reviews still end within 2022.
    pub(super) horizon: i64,
    /// R3c's unconditional window, in seconds.
    pub(super) window: i64,
    /// R5's auto-approval delay, in seconds.
    pub(super) auto_approve: i64,
    /// R8's fallback destination.
    pub(super) fallback: Method,
    /// Minor units and review thresholds, by [`Cur`].
    decimals: [u32; 4],
    thresholds: [Decimal; 4],
    offsets: Offsets,
}

impl<'p> Terms<'p> {
    pub(super) fn new(policy: &'p Policy) -> io::Result<Terms<'p>> {
        let cal = policy.calendar();
        let fallback = Method::parse(&policy.refund.fallback_destination).ok_or_else(|| {
            invalid(format!(
                "the policy's fallback_destination {:?} is not a payment method the generator writes ({})",
                policy.refund.fallback_destination,
                Method::ALL.map(Method::token).join(", ")
            ))
        })?;
        let decimals = Cur::ALL.map(|c| policy.minor_units.of(c.currency()));
        let mut thresholds = [Decimal::ZERO; 4];
        for ((t, c), dp) in thresholds.iter_mut().zip(Cur::ALL).zip(decimals) {
            *t = *policy.review.thresholds.get(&c.currency()).ok_or_else(|| {
                invalid(format!(
                    "the policy has no review threshold for {}, a currency of the generated orders",
                    c.code()
                ))
            })?;
            // At the amounts' scale, the comparison is of two integers (the
            // same value: a threshold with more decimals keeps its own).
            if t.scale() < dp {
                t.rescale(dp);
            }
        }
        let day = |y, m, d| seconds(cal.start_of_local_day(NaiveDate::from_ymd_opt(y, m, d).expect("a date")));
        let start = day(2021, 1, 1);
        Ok(Terms {
            policy,
            start,
            start_day: day_number(cal.local_date(micros(start))),
            horizon: day(2022, 12, 28),
            window: policy.unconditional.window_hours * HOUR,
            auto_approve: policy.review.auto_approve_hours * HOUR,
            fallback,
            decimals,
            thresholds,
            offsets: Offsets::new(&cal),
            cal,
        })
    }

    // ------------------------------------------------------------ calendar

    /// The local date of `t`, as days since 1970-01-01.
    pub(super) fn local_day(&self, t: i64) -> i64 {
        day_number(self.cal.local_date(micros(t)))
    }

    /// The first instant of a local day.
    pub(super) fn day_start(&self, day: i64) -> i64 {
        seconds(self.cal.start_of_local_day(date(day)))
    }

    /// Start (local midnight) of the local month after the one holding `t`.
    pub(super) fn next_month_start(&self, t: i64) -> i64 {
        let m = Month(self.cal.month_of(micros(t)).0 + 1);
        let first = NaiveDate::from_ymd_opt(m.year(), m.month(), 1).expect("first of a month");
        seconds(self.cal.start_of_local_day(first))
    }

    /// The local calendar year of `t` (R3c's quota year).
    pub(super) fn year(&self, t: i64) -> i32 {
        self.cal.year_of(micros(t))
    }

    /// The local day `n` business days after the local date of `t`.
    pub(super) fn business_days_after(&self, t: i64, n: u32) -> i64 {
        day_number(self.cal.nth_business_day_after(self.cal.local_date(micros(t)), n))
    }

    /// The zone's UTC offset at `t` (whole minutes).
    #[inline]
    pub(super) fn offset(&self, t: i64) -> Offset {
        self.offsets.at(&self.cal, t)
    }

    // --------------------------------------------------------------- money

    #[inline]
    pub(super) fn decimals(&self, cur: Cur) -> u32 {
        self.decimals[cur as usize]
    }

    fn money(&self, v: i64, cur: Cur) -> Decimal {
        Decimal::new(v, self.decimals(cur))
    }

    /// The order as the rules see it (the ids are not read).
    fn facts(&self, o: &Order) -> OrderFacts<'static> {
        OrderFacts {
            order_id: "",
            account_id: "",
            instance_id: "",
            item_kind: o.item,
            billing_mode: o.mode,
            order_type: o.otype,
            ordered_at: micros(o.ordered_at),
            service_start: micros(o.start),
            service_end: micros(o.end),
            amount: self.money(o.amount, o.cur),
            coupon_amount: self.money(o.coupon, o.cur),
            currency: o.cur.currency(),
            promotional: o.promo,
            invoice_issued: o.invoice,
        }
    }

    // --------------------------------------------------------------- rules

    /// R2: whether an unsubscription of `o` at `t` in `state` is blocked.
    pub(super) fn blocked(&self, state: InstanceState, o: &Order, t: i64) -> bool {
        r2_blocked::blocked(state, &self.facts(o), micros(t)).is_some()
    }

    /// R5: whether `o` needs review (amount above its currency's threshold).
    pub(super) fn review_required(&self, o: &Order) -> bool {
        r5_review::review_required(self.money(o.amount, o.cur), self.thresholds[o.cur as usize])
    }

    /// R5: approved_at of a request at `t`.
    pub(super) fn approved_at(&self, review: bool, t: i64, reviewed: Option<i64>) -> i64 {
        let hours = self.policy.review.auto_approve_hours;
        seconds(r5_review::approved_at(review, micros(t), reviewed.map(micros), hours).0)
    }

    /// R3 and R4: the expected type of an unsubscription of `o` requested
    /// at `t`, `granted` unconditional refunds into its calendar year, and
    /// (when `completed`) its refund, handling fee and coupon returned, in
    /// minor units.
    pub(super) fn type_and_amounts(
        &self,
        o: &Order,
        t: i64,
        granted: u32,
        completed: bool,
    ) -> (ExpectedType, Option<[i64; 3]>) {
        let facts = self.facts(o);
        let ty = r3_type::expected_type(&facts, micros(t), granted, self.policy).expected;
        let amounts = completed.then(|| {
            let a = r4_amounts::expected_amounts(ty, &facts, micros(t), self.policy)
                .expect("generated amounts and terms are within the money bound");
            let dp = self.decimals(o.cur);
            [minor(a.refund, dp), minor(a.fee, dp), minor(a.coupon, dp)]
        });
        (ty, amounts)
    }

    /// R6: the billing month of a refund approved at `approved`.
    pub(super) fn cycle(&self, approved: i64) -> Month {
        r6_cycle::expected_cycle(micros(approved), &self.cal)
    }

    /// R9: the refund deadline of an approval at `approved`.
    pub(super) fn deadline(&self, approved: i64) -> i64 {
        let sla = self.policy.refund.sla_business_days;
        seconds(r9_deadline::refund_deadline(micros(approved), sla, &self.cal))
    }
}

/// The recorded type for an expected one (R3 gives only these four).
pub(super) fn recorded_type(e: ExpectedType) -> RefundType {
    match e {
        ExpectedType::Unconditional => RefundType::Unconditional,
        ExpectedType::Partial => RefundType::Partial,
        ExpectedType::Unactivated => RefundType::Unactivated,
        ExpectedType::Release => RefundType::Release,
        ExpectedType::Blocked | ExpectedType::Duplicate => unreachable!("R3 never expects {e}"),
    }
}
