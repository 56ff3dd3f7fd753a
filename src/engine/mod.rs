//! The reconciliation: join the exports (polars), then evaluate every
//! account's unsubscriptions in order (rayon over accounts), then the
//! cross-row rules R10 (per instance) and R11 (per batch).
//!
//! Phases, each timed for the benchmark: read + validate (ingest), join,
//! rules, aggregate and write (in [`crate::report`]).

mod evaluate;
mod join;

use std::ops::Range;
use std::time::{Duration, Instant};

use rayon::prelude::*;
use rust_decimal::Decimal;
use rustc_hash::FxHashMap;

use crate::config::Policy;
use crate::ingest::{Inputs, Orders, Table};
use crate::model::{BillingMode, ItemKind, PaymentStatus};
use crate::rules::r0_linking::Link;
use crate::rules::r10_value_added::{self, InstanceOrder, InstanceUnsub, R10Finding};
use crate::rules::r11_batches::{self, BatchDiff, BatchRow};
use crate::rules::r1_payments::{self, MethodCandidate, PaymentCheck};
use crate::rules::{Cell, Code, Finding, OrderFacts};
use crate::time::{Calendar, Micros};

pub use evaluate::{Outcome, QuotaRow};

/// "No row": an unsubscription or payment whose order is not accepted.
pub const NONE: u32 = u32::MAX;

/// Wall time of each phase.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timings {
    pub ingest: Duration,
    pub join: Duration,
    pub rules: Duration,
    pub aggregate: Duration,
    pub write: Duration,
}

/// R1's aggregates per order.
pub struct PaymentAgg {
    /// Σ succeeded payments that belong to the order (same account, currency).
    pub cash_paid: Vec<Decimal>,
    /// Whether any accepted payment row names the order.
    pub has_rows: Vec<bool>,
    /// The payment row of the original payment method, or NONE.
    pub original: Vec<u32>,
    /// R1's check of each payment row.
    pub checks: Vec<PaymentCheck>,
}

/// Everything the reports and `explain` need.
pub struct Reconciliation {
    pub policy: Policy,
    pub cal: Calendar,
    pub as_of: Micros,
    pub inputs: Inputs,
    pub order_of_unsub: Vec<u32>,
    pub order_of_payment: Vec<u32>,
    pub pay: PaymentAgg,
    /// One per accepted unsubscription, sorted by account_id, requested_at,
    /// unsub_id (the evaluation order).
    pub outcomes: Vec<Outcome>,
    /// The outcomes of each account, in account order.
    pub accounts: Vec<Range<usize>>,
    /// Quota rows (account, year), sorted.
    pub quota: Vec<QuotaRow>,
    /// Findings on payments and orders (R1, R10).
    pub other_findings: Vec<Finding>,
    pub timings: Timings,
}

impl Reconciliation {
    /// Joins and evaluates. `as_of` defaults to [`Inputs::default_as_of`].
    pub fn run(
        policy: Policy,
        cal: Calendar,
        inputs: Inputs,
        as_of: Option<Micros>,
        ingest_time: Duration,
    ) -> Result<Reconciliation, crate::error::AppError> {
        let as_of = as_of.or_else(|| inputs.default_as_of()).unwrap_or(0);
        let mut timings = Timings {
            ingest: ingest_time,
            ..Timings::default()
        };

        let t = Instant::now();
        let j = {
            let _span = crate::trace::span("join");
            join::join(&inputs)?
        };
        timings.join = t.elapsed();

        let t = Instant::now();
        let span = crate::trace::span("rules: R1 aggregates");
        let pay = payment_aggregates(&inputs, &j.order_of_payment);
        drop(span);
        let span = crate::trace::span("rules: accounts");
        let ctx = evaluate::Ctx {
            policy: &policy,
            cal: &cal,
            as_of,
            inputs: &inputs,
            order_of_unsub: &j.order_of_unsub,
            pay: &pay,
        };
        let per_account: Vec<(Vec<Outcome>, Vec<QuotaRow>)> = j
            .accounts
            .par_iter()
            .map(|range| evaluate::account(&ctx, &j.unsub_sorted[range.clone()]))
            .collect::<Result<_, _>>()
            .map_err(|e| {
                let u = &inputs.unsubs;
                let r = e.unsub as usize;
                crate::error::AppError::Arithmetic(format!(
                    "{} line {} (unsub_id {}): {} does not fit exactly; the order's amounts or service dates are outside what refund-recon computes (amounts up to {}); correct or remove the row",
                    inputs.metas.unsubs.name,
                    u.line(r),
                    u.id(r),
                    e.step,
                    crate::money::MAX_AMOUNT
                ))
            })?;
        let mut outcomes = Vec::with_capacity(inputs.unsubs.len());
        let mut accounts = Vec::with_capacity(per_account.len());
        let mut quota = Vec::new();
        for (o, q) in per_account {
            accounts.push(outcomes.len()..outcomes.len() + o.len());
            outcomes.extend(o);
            quota.extend(q);
        }
        drop(span);
        let span = crate::trace::span("rules: R1 findings");
        let mut other_findings = payment_findings(&inputs, &j.order_of_payment, &pay, &policy);
        drop(span);
        let span = crate::trace::span("rules: R10 + R11");
        other_findings.extend(value_added(&inputs, &j.order_of_unsub, &mut outcomes, &cal));
        batches(&inputs, &mut outcomes, &cal);
        for o in &mut outcomes {
            o.findings.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        }
        drop(span);
        timings.rules = t.elapsed();
        Ok(Reconciliation {
            policy,
            cal,
            as_of,
            inputs,
            order_of_unsub: j.order_of_unsub,
            order_of_payment: j.order_of_payment,
            pay,
            outcomes,
            accounts,
            quota,
            other_findings,
            timings,
        })
    }

    /// The order of accepted row `i` as the rules see it.
    pub fn order_facts(&self, i: usize) -> OrderFacts<'_> {
        order_facts(&self.inputs.orders, i)
    }

    /// The outcome of an unsubscription id, if accepted.
    pub fn outcome_of(&self, unsub_id: &str) -> Option<&Outcome> {
        let ids = self.inputs.unsubs.unsub_id.view();
        self.outcomes.iter().find(|o| ids.get(o.unsub as usize) == unsub_id)
    }
}

/// The order of row `i` as the rules see it.
pub fn order_facts(o: &Orders, i: usize) -> OrderFacts<'_> {
    OrderFacts {
        order_id: o.order_id.view().get(i),
        account_id: o.account_id.view().get(i),
        instance_id: o.instance_id.view().get(i),
        item_kind: o.item_kind[i],
        billing_mode: o.billing_mode[i],
        order_type: o.order_type[i],
        ordered_at: o.ordered_at[i],
        service_start: o.service_start[i],
        service_end: o.service_end[i],
        amount: o.amount[i],
        coupon_amount: o.coupon_amount[i],
        currency: o.currency[i],
        promotional: o.promotional[i],
        invoice_issued: o.invoice_issued[i],
    }
}

/// R1: checks of every payment row, cash_paid, payment presence and the
/// original payment method per order.
fn payment_aggregates(inputs: &Inputs, order_of_payment: &[u32]) -> PaymentAgg {
    let (o, p) = (&inputs.orders, &inputs.payments);
    let (o_acct, p_acct, p_id) = (o.account_id.view(), p.account_id.view(), p.payment_id.view());
    let checks: Vec<PaymentCheck> = (0..p.len())
        .into_par_iter()
        .map(|i| {
            let oi = order_of_payment[i];
            let order = (oi != NONE).then(|| (o_acct.get(oi as usize), o.currency[oi as usize]));
            r1_payments::check_payment(p_acct.get(i), p.currency[i], order)
        })
        .collect();
    let mut cash_paid = vec![Decimal::ZERO; o.len()];
    let mut has_rows = vec![false; o.len()];
    let mut original = vec![NONE; o.len()];
    // Each task owns a range of orders and scans the payments for them,
    // in payment order: no sharing, and the result is the sequential one.
    let span = (o.len() / (rayon::current_num_threads() * 4)).max(1 << 16);
    cash_paid
        .par_chunks_mut(span)
        .zip(has_rows.par_chunks_mut(span))
        .zip(original.par_chunks_mut(span))
        .enumerate()
        .for_each(|(k, ((cash_paid, has_rows), original))| {
            let lo = (k * span) as u32;
            let hi = lo + cash_paid.len() as u32;
            for (i, &oi) in order_of_payment.iter().enumerate() {
                if oi == NONE || oi < lo || oi >= hi {
                    continue;
                }
                let at = (oi - lo) as usize;
                has_rows[at] = true;
                if p.status[i] != PaymentStatus::Succeeded || !checks[i].belongs() {
                    continue;
                }
                cash_paid[at] += p.amount[i];
                let candidate = |j: usize| MethodCandidate {
                    amount: p.amount[j],
                    paid_at: p.paid_at[j],
                    payment_id: p_id.get(j),
                };
                let best = original[at];
                if best == NONE
                    || r1_payments::original_method_order(&candidate(i), &candidate(best as usize))
                        == std::cmp::Ordering::Less
                {
                    original[at] = i as u32;
                }
            }
        });
    PaymentAgg {
        cash_paid,
        has_rows,
        original,
        checks,
    }
}

/// R1's findings on payments and orders.
fn payment_findings(inputs: &Inputs, order_of_payment: &[u32], pay: &PaymentAgg, policy: &Policy) -> Vec<Finding> {
    let (o, p) = (&inputs.orders, &inputs.payments);
    let (o_acct, o_id) = (o.account_id.view(), o.order_id.view());
    let (p_acct, p_id, p_order) = (p.account_id.view(), p.payment_id.view(), p.order_id.view());
    let mut out: Vec<Finding> = (0..p.len())
        .into_par_iter()
        .flat_map_iter(|i| {
            let c = pay.checks[i];
            let mut f = Vec::new();
            if c.belongs() {
                return f;
            }
            let on_payment = |code: Code, message: String| {
                let mut x = Finding::new(code, message).currency(Some(p.currency[i]));
                x.account_id = p_acct.get(i).to_string();
                x.payment_id = p_id.get(i).to_string();
                x.order_id = p_order.get(i).to_string();
                x
            };
            if c.orphan {
                f.push(
                    on_payment(
                        Code::ORPHAN_PAYMENT,
                        format!("R1: payment {} names order {}, which is not an accepted order", p_id.get(i), p_order.get(i)),
                    )
                    .field("order_id", Cell::Empty, Cell::text(p_order.get(i))),
                );
                return f;
            }
            let oi = order_of_payment[i] as usize;
            if c.currency_mismatch {
                f.push(
                    on_payment(
                        Code::CURRENCY_MISMATCH,
                        format!(
                            "R1: payment {} is in {} but order {} is in {}; it is left out of cash_paid",
                            p_id.get(i),
                            p.currency[i],
                            o_id.get(oi),
                            o.currency[oi]
                        ),
                    )
                    .field("currency", Cell::text(o.currency[oi].as_str()), Cell::text(p.currency[i].as_str())),
                );
            }
            if c.account_mismatch {
                f.push(
                    on_payment(
                        Code::ACCOUNT_MISMATCH,
                        format!(
                            "R1: payment {} is from account {} but order {} belongs to account {}; it is left out of cash_paid",
                            p_id.get(i),
                            p_acct.get(i),
                            o_id.get(oi),
                            o_acct.get(oi)
                        ),
                    )
                    .field("account_id", Cell::text(o_acct.get(oi)), Cell::text(p_acct.get(i))),
                );
            }
            f
        })
        .collect();
    let tolerance = policy.amount_tolerance;
    out.par_extend((0..o.len()).into_par_iter().filter_map(|i| {
        let due = o.cash_due(i);
        if !r1_payments::payment_mismatch(o.billing_mode[i], pay.has_rows[i], due, pay.cash_paid[i], tolerance) {
            return None;
        }
        let mut f = Finding::new(
            Code::PAYMENT_MISMATCH,
            format!(
                "R1: order {} has cash_due {} (amount {} − coupon {}) but its succeeded payments sum to {}",
                o_id.get(i),
                crate::money::format_exact(due),
                crate::money::format_exact(o.amount[i]),
                crate::money::format_exact(o.coupon_amount[i]),
                crate::money::format_exact(pay.cash_paid[i])
            ),
        )
        .amounts("cash_paid", due, pay.cash_paid[i])
        .currency(Some(o.currency[i]));
        f.account_id = o_acct.get(i).to_string();
        f.order_id = o_id.get(i).to_string();
        Some(f)
    }));
    out
}

/// R10 per instance: findings on unsubscriptions go into their outcomes;
/// findings on orders are returned.
fn value_added(inputs: &Inputs, order_of_unsub: &[u32], outcomes: &mut [Outcome], cal: &Calendar) -> Vec<Finding> {
    let o = &inputs.orders;
    let u = &inputs.unsubs;
    let (o_acct, o_inst, o_id) = (o.account_id.view(), o.instance_id.view(), o.order_id.view());
    // Instances that an unsubscription of the account's own order touches,
    // where R10 can say something.
    let mut instance_of: FxHashMap<(u32, &str), u32> = FxHashMap::default();
    let mut unsubs_of: Vec<Vec<u32>> = Vec::new();
    for (k, out) in outcomes.iter().enumerate() {
        if matches!(out.link, Link::OrderNotFound | Link::AccountMismatch) {
            continue;
        }
        let oi = order_of_unsub[out.unsub as usize] as usize;
        let relevant = o.billing_mode[oi] == BillingMode::PayPerUse
            || matches!(o.item_kind[oi], ItemKind::AssetQuota | ItemKind::ValueAdded);
        if !relevant {
            continue;
        }
        let key = (o_acct.code(oi), o_inst.get(oi));
        let next = instance_of.len() as u32;
        let idx = *instance_of.entry(key).or_insert(next);
        if idx == next {
            unsubs_of.push(Vec::new());
        }
        unsubs_of[idx as usize].push(k as u32);
    }
    if instance_of.is_empty() {
        return Vec::new();
    }
    let mut orders_of: Vec<Vec<u32>> = vec![Vec::new(); instance_of.len()];
    // Only these orders take part in R10 (see check_instance).
    let relevant = |i: usize| {
        o.billing_mode[i] == BillingMode::PayPerUse
            || matches!(o.item_kind[i], ItemKind::AssetQuota | ItemKind::ValueAdded)
    };
    let hits: Vec<(u32, u32)> = (0..o.len())
        .into_par_iter()
        .filter(|&i| relevant(i))
        .filter_map(|i| {
            instance_of
                .get(&(o_acct.code(i), o_inst.get(i)))
                .map(|&k| (k, i as u32))
        })
        .collect();
    for (k, i) in hits {
        orders_of[k as usize].push(i);
    }
    let u_id = u.unsub_id.view();
    // Per instance: findings on unsubscriptions (by outcome) and on orders.
    type InstanceFindings = (Vec<(usize, Finding)>, Vec<Finding>);
    let results: Vec<InstanceFindings> = (0..orders_of.len())
        .into_par_iter()
        .map(|k| {
            let rows = &orders_of[k];
            let list: Vec<InstanceOrder<'_>> = rows
                .iter()
                .map(|&r| {
                    let r = r as usize;
                    InstanceOrder {
                        row: r,
                        order_id: o_id.get(r),
                        item_kind: o.item_kind[r],
                        billing_mode: o.billing_mode[r],
                        order_type: o.order_type[r],
                        service_start: o.service_start[r],
                        service_end: o.service_end[r],
                    }
                })
                .collect();
            let index_of = |row: u32| rows.binary_search(&row).expect("the unsubscribed order is on its instance");
            let us: Vec<InstanceUnsub<'_>> = unsubs_of[k]
                .iter()
                .map(|&oc| {
                    let out = &outcomes[oc as usize];
                    let ur = out.unsub as usize;
                    InstanceUnsub {
                        row: oc as usize,
                        unsub_id: u_id.get(ur),
                        order: index_of(order_of_unsub[ur]),
                        status: u.status[ur],
                        requested_at: u.requested_at[ur],
                        completed_at: u.completed_at[ur],
                        evaluated: out.link == Link::Linked && out.blocked.is_none(),
                    }
                })
                .collect();
            let mut on_unsubs = Vec::new();
            let mut on_orders = Vec::new();
            for f in r10_value_added::check_instance(&list, &us) {
                match f {
                    R10Finding::VasBeforeQuota { unsub, quota } => {
                        let x = &us[unsub];
                        let q = &list[quota];
                        let v = &list[x.order];
                        let finding = Finding::new(
                            Code::VAS_BEFORE_QUOTA,
                            format!(
                                "R10: value-added order {} was unsubscribed at {} while asset quota order {} on instance {} was in service and not unsubscribed",
                                v.order_id,
                                cal.format(x.requested_at),
                                q.order_id,
                                o_inst.get(q.row)
                            ),
                        )
                        .field(
                            "requested_at",
                            Cell::text(format!("after asset_quota {} is unsubscribed", q.order_id)),
                            Cell::text(cal.format(x.requested_at)),
                        );
                        on_unsubs.push((x.row, finding));
                    }
                    R10Finding::OrphanedValueAdded { order, after } => {
                        let v = &list[order];
                        let mut finding = Finding::new(
                            Code::ORPHANED_VALUE_ADDED,
                            format!(
                                "R10: every asset quota of instance {} was unsubscribed (last at {}) but value-added order {} stays in service until {} without an unsubscription",
                                o_inst.get(v.row),
                                cal.format(after),
                                v.order_id,
                                cal.format(v.service_end)
                            ),
                        )
                        .field("service_end", Cell::text(cal.format(after)), Cell::text(cal.format(v.service_end)))
                        .currency(Some(o.currency[v.row]));
                        finding.account_id = o_acct.get(v.row).to_string();
                        finding.order_id = v.order_id.to_string();
                        on_orders.push(finding);
                    }
                    R10Finding::ChargedAfterRelease { order, unsub, released_at } => {
                        let usage = &list[order];
                        let x = &us[unsub];
                        let mut finding = Finding::new(
                            Code::CHARGED_AFTER_RELEASE,
                            format!(
                                "R10: usage order {} ({} on instance {}) starts at {}, after unsubscription {} released that item at {}",
                                usage.order_id,
                                usage.item_kind,
                                o_inst.get(usage.row),
                                cal.format(usage.service_start),
                                x.unsub_id,
                                cal.format(released_at)
                            ),
                        )
                        .field("service_start", Cell::text(cal.format(released_at)), Cell::text(cal.format(usage.service_start)))
                        .currency(Some(o.currency[usage.row]));
                        finding.account_id = o_acct.get(usage.row).to_string();
                        finding.order_id = usage.order_id.to_string();
                        finding.unsub_id = x.unsub_id.to_string();
                        on_orders.push(finding);
                    }
                }
            }
            (on_unsubs, on_orders)
        })
        .collect();
    let mut order_findings = Vec::new();
    for (on_unsubs, on_orders) in results {
        for (k, mut f) in on_unsubs {
            let out = &mut outcomes[k];
            out.stamp(&mut f, inputs);
            out.findings.push(f);
        }
        order_findings.extend(on_orders);
    }
    order_findings
}

/// R11 over all accepted unsubscriptions.
fn batches(inputs: &Inputs, outcomes: &mut [Outcome], cal: &Calendar) {
    let u = &inputs.unsubs;
    let (batch, ids, acct) = (u.batch_id.view(), u.unsub_id.view(), u.account_id.view());
    let mut rows: Vec<(&str, usize)> = outcomes
        .iter()
        .enumerate()
        .filter(|(_, o)| !batch.get(o.unsub as usize).is_empty())
        .map(|(k, o)| (batch.get(o.unsub as usize), k))
        .collect();
    rows.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()).then(a.1.cmp(&b.1)));
    let mut start = 0;
    while start < rows.len() {
        let mut end = start + 1;
        while end < rows.len() && rows[end].0 == rows[start].0 {
            end += 1;
        }
        let group: Vec<BatchRow<'_>> = rows[start..end]
            .iter()
            .map(|&(_, k)| {
                let r = outcomes[k].unsub as usize;
                BatchRow {
                    row: k,
                    unsub_id: ids.get(r),
                    account_id: acct.get(r),
                    requested_at: u.requested_at[r],
                }
            })
            .collect();
        for (k, diff) in r11_batches::check_batch(&group) {
            let r = outcomes[k].unsub as usize;
            let (first, field, expected, recorded) = match diff {
                BatchDiff::AccountId { first } => {
                    let fr = outcomes[first].unsub as usize;
                    (fr, "account_id", acct.get(fr).to_string(), acct.get(r).to_string())
                }
                BatchDiff::RequestedAt { first } => {
                    let fr = outcomes[first].unsub as usize;
                    (
                        fr,
                        "requested_at",
                        cal.format(u.requested_at[fr]),
                        cal.format(u.requested_at[r]),
                    )
                }
            };
            let mut f = Finding::new(
                Code::BATCH_INCONSISTENT,
                format!(
                    "R11: batch {} has {field} {recorded} on unsubscription {} but {expected} on its first row {}",
                    batch.get(r),
                    ids.get(r),
                    ids.get(first)
                ),
            )
            .field(field, Cell::Text(expected), Cell::Text(recorded));
            let out = &mut outcomes[k];
            out.stamp(&mut f, inputs);
            out.findings.push(f);
        }
        start = end;
    }
}
