//! Unsubscription lifecycles: early requests around the unconditional
//! window, instance teardowns (packages after their asset quota), retries
//! after a blocked attempt, and the recording of each account's
//! unsubscriptions with the values the policy's rules expect.

use rand::Rng;

use crate::model::{ExpectedType, InstanceState, RefundType, UnsubStatus};

use super::accounts::{AccountGen, Draft, Unsub, NO_BATCH, NO_KEY};
use super::policy::recorded_type;
use super::{between, scale, DAY, HOUR, MINUTE};

impl AccountGen<'_> {
    /// Offset of an early unsubscription from ordered_at: mostly inside the
    /// unconditional window, sometimes exactly at it or just after it.
    pub(super) fn early_offset(&mut self) -> i64 {
        let window = self.terms.window;
        let r = self.rng.gen_range(0..100);
        match r {
            0..=79 => between(self.rng, 10 * MINUTE, window),
            80..=86 => window,
            87..=92 => window + between(self.rng, 1, HOUR),
            _ => between(self.rng, window, 10 * DAY),
        }
    }

    /// Unsubscribes the instance's live orders at `t`; value-added packages
    /// follow once the asset quota's unsubscriptions completed (R10).
    pub(super) fn teardown(&mut self, live: &[u32], vas_live: &[u32], t: i64, joined: Option<u32>) {
        let key = match joined {
            Some(_) => {
                let (tb, mut key, rows) = self.acct_batch.expect("joined a batch");
                if key == NO_KEY {
                    key = self.new_key();
                }
                self.acct_batch = Some((tb, key, rows + live.len() as u32));
                key
            }
            None if live.len() >= 2 && self.rng.gen_bool(0.8) => self.new_key(),
            None => NO_KEY,
        };
        let state = super::catalog::pick_state(self.rng, false);
        let mut done = self.event(live, t, key, state, true);
        if done.is_none() && state != InstanceState::Normal && key == NO_KEY && self.rng.gen_bool(0.5) {
            // Retry once the instance is back to normal.
            let t2 = t + between(self.rng, 2 * HOUR, 72 * HOUR);
            if t2 <= self.terms.horizon {
                done = self.event(live, t2, NO_KEY, InstanceState::Normal, true);
            }
        }
        if let Some(c) = done {
            let vas: Vec<u32> = vas_live
                .iter()
                .copied()
                .filter(|&o| self.block.orders[o as usize].end > c)
                .collect();
            if vas.is_empty() {
                return;
            }
            let mut t2 = c + between(self.rng, 10 * MINUTE, 2 * DAY);
            if t2 > self.terms.horizon {
                t2 = c + between(self.rng, MINUTE, 10 * MINUTE);
            }
            let key = if vas.len() >= 2 && self.rng.gen_bool(0.6) {
                self.new_key()
            } else {
                NO_KEY
            };
            self.event(&vas, t2, key, InstanceState::Normal, false);
        }
    }

    /// One unsubscription request for `orders` at `t`: R2 decides whether
    /// it is rejected, R5 when it is approved. Returns the latest
    /// completed_at when every row completed.
    pub(super) fn event(
        &mut self,
        orders: &[u32],
        t: i64,
        key: u32,
        state: InstanceState,
        allow_pending: bool,
    ) -> Option<i64> {
        let terms = self.terms;
        let reviews: Vec<bool> = orders
            .iter()
            .map(|&o| terms.review_required(&self.block.orders[o as usize]))
            .collect();
        let any_review = reviews.contains(&true);
        let p_pending = if t > terms.horizon - 20 * DAY { 0.4 } else { 0.012 };
        // Always drawn, so the data stream does not depend on the arguments.
        let draw = self.rng.gen_bool(p_pending);
        let pending = allow_pending && state == InstanceState::Normal && !any_review && draw;
        let mut all = true;
        let mut last = t;
        for (&oi, &review) in orders.iter().zip(&reviews) {
            let o = self.block.orders[oi as usize];
            let status = if terms.blocked(state, &o, t) {
                UnsubStatus::Rejected
            } else if pending {
                UnsubStatus::Pending
            } else {
                UnsubStatus::Completed
            };
            // Every draw is made whatever the status, so that a status
            // changed by a mistake does not shift the data stream.
            let how = self.rng.gen_range(0..100);
            let review_after = between(self.rng, 10 * MINUTE, 23 * HOUR);
            let delay = if review {
                between(self.rng, 30, 4 * HOUR)
            } else {
                between(self.rng, 5, 20 * MINUTE)
            };
            // Reviewed within a day, or exactly at the auto-approval, or
            // left to it.
            let reviewed = match how {
                _ if !review || status != UnsubStatus::Completed => None,
                0..=79 => Some(t + review_after),
                80..=84 => Some(t + terms.auto_approve),
                _ => None,
            };
            let approved = terms.approved_at(review, t, reviewed);
            let completed = if status == UnsubStatus::Completed {
                last = last.max(approved + delay);
                Some(approved + delay)
            } else {
                all = false;
                None
            };
            let ts_style = [
                super::write::ts_style(self.rng, false),
                super::write::ts_style(self.rng, false),
                super::write::ts_style(self.rng, true),
                super::write::ts_style(self.rng, true),
            ];
            let to_balance = self.rng.gen_bool(0.04);
            let refund_delay = self.rng.gen();
            self.drafts.push(Draft {
                order: oi,
                requested: t,
                reviewed,
                approved,
                completed,
                state,
                status,
                key,
                seq: self.seq,
                ts_style,
                to_balance,
                refund_delay,
            });
            self.seq += 1;
        }
        all.then_some(last)
    }

    /// Evaluates the account's unsubscriptions in (requested_at, unsub_id)
    /// order under the policy and records them.
    pub(super) fn finalize(&mut self) {
        let mut drafts = std::mem::take(&mut self.drafts);
        drafts.sort_by_key(|d| (d.requested, d.seq));
        let mut key_rows = vec![0u32; self.keys as usize];
        for d in &drafts {
            if d.key != NO_KEY {
                key_rows[d.key as usize] += 1;
            }
        }
        let mut key_batch = vec![NO_BATCH; self.keys as usize];
        // R3c: unconditional refunds granted, per local calendar year.
        let mut granted: Vec<(i32, u32)> = Vec::new();
        for d in &drafts {
            let batch = if d.key != NO_KEY && key_rows[d.key as usize] >= 2 {
                let b = &mut key_batch[d.key as usize];
                if *b == NO_BATCH {
                    *b = self.block.batches;
                    self.block.batches += 1;
                }
                *b
            } else {
                NO_BATCH
            };
            let u = self.record(d, batch, &mut granted);
            self.block.unsubs.push(u);
        }
    }

    /// One unsubscription as recorded: R3 type (with the yearly quota), R4
    /// amounts, R6 cycle, R8 destination, R9 refund time; then, with
    /// probability `error_rate`, one mistake.
    fn record(&mut self, d: &Draft, batch: u32, granted: &mut Vec<(i32, u32)>) -> Unsub {
        let terms = self.terms;
        let o = self.block.orders[d.order as usize];
        let mut u = Unsub {
            order: d.order,
            missing_order: false,
            account: self.acct_global,
            batch,
            requested: d.requested,
            reviewed: None,
            completed: None,
            refunded: None,
            state: d.state,
            status: d.status,
            rtype: RefundType::Partial,
            refund: 0,
            fee: 0,
            coupon: 0,
            dest: None,
            cycle: None,
            cur: o.cur,
            ts_style: d.ts_style,
        };
        if d.status == UnsubStatus::Rejected {
            return u;
        }
        // Completed and pending requests both consume the quota.
        let year = terms.year(d.requested);
        let slot = match granted.iter().position(|g| g.0 == year) {
            Some(i) => i,
            None => {
                granted.push((year, 0));
                granted.len() - 1
            }
        };
        let completed = d.status == UnsubStatus::Completed;
        let (expected, amounts) = terms.type_and_amounts(&o, d.requested, granted[slot].1, completed);
        if expected == ExpectedType::Unconditional {
            granted[slot].1 += 1;
        }
        let Some([refund, fee, coupon]) = amounts else {
            return u;
        };
        let completed = d.completed.expect("completed has a time");
        u.rtype = recorded_type(expected);
        (u.refund, u.fee, u.coupon) = (refund, fee, coupon);
        u.reviewed = d.reviewed;
        u.completed = Some(completed);
        if refund > 0 {
            u.dest = Some(if d.to_balance {
                terms.fallback
            } else {
                o.original.unwrap_or(terms.fallback)
            });
            u.cycle = Some(terms.cycle(d.approved));
            let span = (terms.deadline(d.approved) - completed).min(2 * DAY);
            u.refunded = Some(completed + scale(d.refund_delay, MINUTE, span));
        }
        if self.err.gen::<f64>() < self.error_rate {
            self.mistake(&mut u, &o, d.approved);
            self.block.wrong += 1;
        }
        u
    }
}
