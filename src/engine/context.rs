//! Earlier exports given as context (`--context`,
//! docs/inputs.md#context-earlier-exports): their rows are read, joined
//! and evaluated with the rest — a refund links to the order bought last
//! year, a March unsubscription counts the quota from 1 January — and
//! then left out of every report: their unsubscriptions' outcomes and
//! findings, the findings on their orders and payments, their quota rows
//! (an account-year with no unsubscription of its own). The bill leaves
//! out their orders and payments itself ([`Reconciliation::reported`]).

use std::collections::BTreeSet;

use rustc_hash::FxHashSet;

use super::Reconciliation;
use crate::rules::Finding;

impl Reconciliation {
    /// Whether row `row` of input `input` (0 orders, 1 payments, 2
    /// unsubscriptions) is reported: not read from a context export.
    pub fn reported(&self, input: usize, row: usize) -> bool {
        let i = &self.inputs;
        let line = match input {
            0 => i.orders.line.get(row),
            1 => i.payments.line.get(row),
            _ => i.unsubs.line.get(row),
        };
        !i.is_context(input, line)
    }

    /// Leaves out what the rows of context exports produced (a no-op
    /// without them).
    pub(super) fn drop_context(&mut self) {
        if !self.inputs.has_context() {
            return;
        }
        let _span = crate::trace::span("rules: context rows left out");
        let u = &self.inputs.unsubs;
        let u_acct = u.account_id.view();
        // The account-years that keep a quota row: those with an
        // unsubscription of their own.
        let mut years: BTreeSet<(&str, i32)> = BTreeSet::new();
        let keep: Vec<bool> = self
            .outcomes
            .iter()
            .map(|o| {
                let r = o.unsub as usize;
                let own = !self.inputs.is_context(2, u.line.get(r));
                if own {
                    years.insert((u_acct.get(r), self.cal.year_of(u.requested_at[r])));
                }
                own
            })
            .collect();
        let mut accounts = Vec::with_capacity(self.accounts.len());
        let mut at = 0;
        for range in &self.accounts {
            let n = keep[range.clone()].iter().filter(|k| **k).count();
            if n > 0 {
                accounts.push(at..at + n);
                at += n;
            }
        }
        let mut flags = keep.into_iter();
        self.outcomes.retain(|_| flags.next().unwrap_or(true));
        let quota = std::mem::take(&mut self.quota)
            .into_iter()
            .filter(|q| years.contains(&(q.account_id.as_str(), q.year)))
            .collect();
        drop(years);
        // A finding on an order or a payment (R1, R10) is on the payment it
        // names, else on its order.
        let ids = |input: usize| -> FxHashSet<&str> {
            let (view, len) = match input {
                0 => (self.inputs.orders.order_id.view(), self.inputs.orders.order_id.len()),
                _ => (
                    self.inputs.payments.payment_id.view(),
                    self.inputs.payments.payment_id.len(),
                ),
            };
            (0..len)
                .filter(|&r| !self.reported(input, r))
                .map(|r| view.get(r))
                .collect()
        };
        let (orders, payments) = (ids(0), ids(1));
        let on_context = |f: &Finding| {
            if f.payment_id().is_empty() {
                orders.contains(f.order_id())
            } else {
                payments.contains(f.payment_id())
            }
        };
        let other: Vec<Finding> = self.other_findings.iter().filter(|f| !on_context(f)).cloned().collect();
        self.other_findings = other;
        self.accounts = accounts;
        self.quota = quota;
    }
}
