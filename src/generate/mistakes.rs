//! Deliberate mistakes (`error_rate`), drawn from the block's own stream
//! (stream 1) so that orders and payments never depend on the rate: a
//! wrong recorded value on a completed unsubscription, or a pay-per-use
//! release placed before the last usage period.

use rand::Rng;

use crate::model::{BillingMode, InstanceState, ItemKind, Month, RefundType};

use super::accounts::{AccountGen, Order, Unsub, NO_BATCH, NO_KEY};
use super::catalog::{blocked_state, Method};
use super::{between, HOUR, MINUTE};

impl AccountGen<'_> {
    /// Releases a pay-per-use instance at `t` (after its last usage period
    /// `primary`, hourly or daily by `gran`) in `state`. With probability
    /// `error_rate` the release comes before the last period instead
    /// (`CHARGED_AFTER_RELEASE`).
    pub(super) fn release(&mut self, primary: &[u32], state: InstanceState, t: i64, gran: i64) {
        let mut refer = *primary.last().expect("non-empty");
        let mut t_rel = t;
        let mut after = false;
        if state == InstanceState::Normal && primary.len() >= 2 && self.err.gen_bool(self.error_rate) {
            // Mistake: released before the last usage period is charged.
            let last_start = self.block.orders[refer as usize].start;
            t_rel = last_start - between(self.err, gran * 5 / 12, gran * 2 / 3);
            refer = primary[primary.len() - 2];
            after = true;
        }
        let done = self.event(&[refer], t_rel, NO_KEY, state, !after);
        if after && done.is_some() {
            self.block.wrong += 1;
        }
    }

    /// Makes one recorded value of a completed unsubscription wrong, in a way
    /// that does not change any other row's expected values.
    pub(super) fn mistake(&mut self, u: &mut Unsub, o: &Order, approved: i64) {
        let terms = self.terms;
        let kind = self.err.gen_range(0..100);
        let isolated = u.rtype != RefundType::Unconditional
            && u.batch == NO_BATCH
            && o.mode == BillingMode::Subscription
            && matches!(o.item, ItemKind::Edition | ItemKind::Resource);
        let has_refund = u.refund > 0 && u.refunded.is_some();
        match kind {
            25..=39 if has_refund => {
                let c = u.cycle.unwrap_or_else(|| terms.cycle(approved));
                u.cycle = Some(Month(if self.err.gen_bool(0.6) { c.0 + 1 } else { c.0 - 1 }));
            }
            40..=54 => {
                u.rtype = match u.rtype {
                    RefundType::Partial => RefundType::Unconditional,
                    RefundType::Unconditional | RefundType::Unactivated | RefundType::Release => RefundType::Partial,
                };
            }
            55..=69 if has_refund && o.original.is_some() => {
                // Neither the original method nor the fallback (that would
                // be FALLBACK_TO_BALANCE, an info finding).
                let others: Vec<Method> = Method::ALL
                    .into_iter()
                    .filter(|&m| Some(m) != o.original && m != terms.fallback)
                    .collect();
                u.dest = Some(others[self.err.gen_range(0..others.len())]);
            }
            70..=84 if has_refund => {
                // Paid 1–4 business days after the deadline's day (R9).
                let late: i32 = self.err.gen_range(1..=4);
                let day = terms.business_days_after(terms.deadline(approved), late as u32);
                u.refunded = Some(terms.day_start(day) + between(self.err, 9 * HOUR, 20 * HOUR));
            }
            85..=94 if u.rtype != RefundType::Unconditional => {
                u.state = blocked_state(self.err);
            }
            95..=97 if isolated => u.missing_order = true,
            98..=99 if isolated && self.accounts > 1 => {
                u.account = if self.acct_global + 1 < self.accounts {
                    self.acct_global + 1
                } else {
                    self.acct_global - 1
                };
            }
            _ => {
                // Refund off by a few minor units.
                let d = self.err.gen_range(1..=5);
                if u.refund > d && self.err.gen_bool(0.5) {
                    u.refund -= d;
                } else {
                    u.refund += d;
                }
                if u.dest.is_none() {
                    u.dest = Some(o.original.unwrap_or(terms.fallback));
                    u.cycle = Some(terms.cycle(approved));
                    let c = u.completed.unwrap_or(u.requested);
                    u.refunded = Some(c + between(self.err, MINUTE, HOUR));
                }
            }
        }
    }
}
