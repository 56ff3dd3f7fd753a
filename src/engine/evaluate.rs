//! One account's unsubscriptions, in (requested_at, unsub_id) order: R0,
//! R2–R9 with the running quota counter of R3c.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use rustc_hash::FxHashMap;

use super::{order_facts, Inputs, PaymentAgg, NONE};
use crate::config::Policy;
use crate::ingest::Unsubscriptions;
use crate::model::{Currency, ExpectedType, Month, RefundType, UnsubStatus};
use crate::money::format_exact as exact;
use crate::rules::r0_linking::{self, Link};
use crate::rules::r2_blocked::{self, Blocked};
use crate::rules::r3_type::{self, TypeDecision};
use crate::rules::r4_amounts::{self, Amounts};
use crate::rules::r5_review::{self, Approval};
use crate::rules::{r6_cycle, r7_recorded, r8_destination, r9_deadline, Cell, Code, Finding};
use crate::time::{Calendar, Micros};

/// What the engine needs while evaluating.
pub struct Ctx<'a> {
    pub policy: &'a Policy,
    pub cal: &'a Calendar,
    pub as_of: Micros,
    pub inputs: &'a Inputs,
    pub order_of_unsub: &'a [u32],
    pub pay: &'a PaymentAgg,
}

/// The expected side of one unsubscription and its findings.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Row in the unsubscriptions table.
    pub unsub: u32,
    pub link: Link,
    /// For a duplicate: the row of the first completed unsubscription.
    pub first_completion: u32,
    /// The order's currency, when the order is known.
    pub currency: Option<Currency>,
    pub blocked: Option<Blocked>,
    pub decision: Option<TypeDecision>,
    /// Empty for ORDER_NOT_FOUND and ACCOUNT_MISMATCH.
    pub expected_type: Option<ExpectedType>,
    pub refund: Decimal,
    pub fee: Decimal,
    pub coupon: Decimal,
    pub review_required: Option<bool>,
    pub approval: Option<(Micros, Approval)>,
    pub expected_cycle: Option<Month>,
    pub deadline: Option<Micros>,
    /// R3c's running count in the account-year after this unsubscription.
    pub quota_used: Option<u32>,
    /// Findings on this unsubscription (sorted once all rules ran).
    pub findings: Vec<Finding>,
}

impl Outcome {
    fn new(unsub: usize, link: Link) -> Outcome {
        Outcome {
            unsub: unsub as u32,
            link,
            first_completion: NONE,
            currency: None,
            blocked: None,
            decision: None,
            expected_type: None,
            refund: Decimal::ZERO,
            fee: Decimal::ZERO,
            coupon: Decimal::ZERO,
            review_required: None,
            approval: None,
            expected_cycle: None,
            deadline: None,
            quota_used: None,
            findings: Vec::new(),
        }
    }

    /// Puts this unsubscription's ids and currency on a finding.
    pub fn stamp(&self, f: &mut Finding, inputs: &Inputs) {
        let u = &inputs.unsubs;
        let r = self.unsub as usize;
        f.account_id = u.account_id.view().get(r).to_string();
        f.unsub_id = u.unsub_id.view().get(r).to_string();
        f.order_id = u.order_id.view().get(r).to_string();
        f.currency = self.currency;
    }

    /// Whether the rules past R0 and R2 ran (the expected columns are full).
    pub fn evaluated(&self) -> bool {
        self.link == Link::Linked && self.blocked.is_none()
    }

    /// The set of codes on this unsubscription, sorted, once each.
    pub fn codes(&self) -> Vec<&'static str> {
        let mut c: Vec<&'static str> = self.findings.iter().map(|f| f.code.as_str()).collect();
        c.sort_unstable();
        c.dedup();
        c
    }
}

/// One row of quota_usage.csv.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaRow {
    pub account_id: String,
    pub year: i32,
    pub allowed: u32,
    pub granted: u32,
    pub denied_by_quota: u32,
    pub recorded_unconditional: u32,
}

#[derive(Default)]
struct YearCounts {
    exists: bool,
    granted: u32,
    denied: u32,
    recorded: u32,
}

/// A rule step on one unsubscription whose exact result does not fit
/// (README "Money bound": impossible for accepted amounts, but checked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overflow {
    pub unsub: u32,
    pub step: &'static str,
}

/// Evaluates one account's unsubscriptions (`rows`, already in evaluation
/// order).
pub fn account(ctx: &Ctx<'_>, rows: &[u32]) -> Result<(Vec<Outcome>, Vec<QuotaRow>), Overflow> {
    let u: &Unsubscriptions = &ctx.inputs.unsubs;
    let o = &ctx.inputs.orders;
    let (u_acct, u_id, u_order) = (u.account_id.view(), u.unsub_id.view(), u.order_id.view());
    let o_acct = o.account_id.view();
    let policy = ctx.policy;
    let cal = ctx.cal;

    let mut outcomes = Vec::with_capacity(rows.len());
    let mut first_completion: FxHashMap<u32, u32> = FxHashMap::default();
    let mut years: BTreeMap<i32, YearCounts> = BTreeMap::new();

    for &row in rows {
        let r = row as usize;
        let status = u.status[r];
        let completed = status == UnsubStatus::Completed;
        let requested = u.requested_at[r];
        let year = cal.year_of(requested);
        if completed && u.refund_type[r] == Some(RefundType::Unconditional) {
            let y = years.entry(year).or_default();
            y.exists = true;
            y.recorded += 1;
        }
        let oi = ctx.order_of_unsub[r];
        let first = (oi != NONE).then(|| first_completion.get(&oi).copied()).flatten();
        let order_account = (oi != NONE).then(|| o_acct.get(oi as usize));
        let link = r0_linking::link(u_acct.get(r), order_account, completed, first.is_some());
        let mut out = Outcome::new(r, link);
        let push = |out: &mut Outcome, f: Finding| {
            let mut f = f;
            out.stamp(&mut f, ctx.inputs);
            out.findings.push(f);
        };
        match link {
            Link::OrderNotFound => {
                let f = Finding::new(
                    Code::ORDER_NOT_FOUND,
                    format!(
                        "R0: unsubscription {} names order {}, which is not an accepted order",
                        u_id.get(r),
                        u_order.get(r)
                    ),
                )
                .field("order_id", Cell::Empty, Cell::text(u_order.get(r)));
                push(&mut out, f);
                outcomes.push(out);
                continue;
            }
            Link::AccountMismatch => {
                out.currency = Some(o.currency[oi as usize]);
                let f = Finding::new(
                    Code::ACCOUNT_MISMATCH,
                    format!(
                        "R0: unsubscription {} is from account {} but order {} belongs to account {}",
                        u_id.get(r),
                        u_acct.get(r),
                        u_order.get(r),
                        o_acct.get(oi as usize)
                    ),
                )
                .field(
                    "account_id",
                    Cell::text(o_acct.get(oi as usize)),
                    Cell::text(u_acct.get(r)),
                );
                push(&mut out, f);
                outcomes.push(out);
                continue;
            }
            Link::Duplicate => {
                let first = first.expect("a duplicate has a first completion");
                out.currency = Some(o.currency[oi as usize]);
                out.first_completion = first;
                out.expected_type = Some(ExpectedType::Duplicate);
                let f = Finding::new(
                    Code::DUPLICATE_UNSUBSCRIPTION,
                    format!(
                        "R0: order {} was already unsubscribed by {}; {} is a second completed unsubscription and should refund nothing",
                        u_order.get(r),
                        u_id.get(first as usize),
                        u_id.get(r)
                    ),
                )
                .field("unsub_id", Cell::text(u_id.get(first as usize)), Cell::text(u_id.get(r)));
                push(&mut out, f);
                outcomes.push(out);
                continue;
            }
            Link::Linked => {}
        }
        let oi = oi as usize;
        if completed {
            first_completion.insert(oi as u32, row);
        }
        let order = order_facts(o, oi);
        out.currency = Some(order.currency);

        // R2 Blocked states.
        if let Some(b) = r2_blocked::blocked(u.instance_state[r], &order, requested) {
            out.blocked = Some(b);
            out.expected_type = Some(ExpectedType::Blocked);
            if completed {
                let (field, expected, recorded, why) = match b {
                    Blocked::State(s) => (
                        "instance_state",
                        "normal",
                        s.as_str(),
                        format!("its instance was {s}, which blocks self-service unsubscription"),
                    ),
                    Blocked::InvoiceIssued => (
                        "invoice_issued",
                        "false",
                        "true",
                        format!(
                            "order {} is an unactivated promotional order with an invoice issued",
                            order.order_id
                        ),
                    ),
                };
                let f = Finding::new(
                    Code::INELIGIBLE_STATE,
                    format!(
                        "R2: unsubscription {} was completed but {why}; expected rejected with no refund",
                        u_id.get(r)
                    ),
                )
                .field(field, Cell::text(expected), Cell::text(recorded));
                push(&mut out, f);
            }
            outcomes.push(out);
            continue;
        }

        // R3 Expected refund type, with the yearly quota.
        let y = years.entry(year).or_default();
        let decision = r3_type::expected_type(&order, requested, y.granted, policy);
        if decision.eligible {
            y.exists = true;
            if status != UnsubStatus::Rejected {
                if decision.denied_by_quota() {
                    y.denied += 1;
                } else {
                    y.granted += 1;
                }
            }
        }
        out.quota_used = Some(y.granted);
        out.decision = Some(decision);
        out.expected_type = Some(decision.expected);

        // R4 Expected amounts.
        let Amounts {
            refund, fee, coupon, ..
        } = r4_amounts::expected_amounts(decision.expected, &order, requested, policy)
            .map_err(|e| Overflow { unsub: row, step: e.0 })?;
        (out.refund, out.fee, out.coupon) = (refund, fee, coupon);

        // R5 Review and approval.
        let threshold = policy
            .review
            .thresholds
            .get(&order.currency)
            .copied()
            .unwrap_or(Decimal::MAX);
        let required = r5_review::review_required(order.amount, threshold);
        let (approved_at, approval) =
            r5_review::approved_at(required, requested, u.reviewed_at[r], policy.review.auto_approve_hours);
        out.review_required = Some(required);
        out.approval = Some((approved_at, approval));
        if completed && r5_review::review_bypassed(required, u.completed_at[r], approved_at) {
            let done = u.completed_at[r].expect("completed rows have completed_at");
            let f = Finding::new(
                Code::REVIEW_BYPASSED,
                format!(
                    "R5: order amount {} {} is above the review threshold {}, so approval came at {} ({}), but unsubscription {} was completed at {}",
                    exact(order.amount),
                    order.currency,
                    exact(threshold),
                    cal.format(approved_at),
                    approval_words(approval),
                    u_id.get(r),
                    cal.format(done)
                ),
            )
            .field("completed_at", Cell::text(cal.format(approved_at)), Cell::text(cal.format(done)));
            push(&mut out, f);
        }
        if r5_review::stale_pending(
            status == UnsubStatus::Pending,
            required,
            requested,
            policy.review.auto_approve_hours,
            ctx.as_of,
        ) {
            let f = Finding::new(
                Code::STALE_PENDING,
                format!(
                    "R5: unsubscription {} needs review (order amount {} {} above {}) and should have been auto-approved at {}, but is still pending at as_of {}",
                    u_id.get(r),
                    exact(order.amount),
                    order.currency,
                    exact(threshold),
                    cal.format(requested + policy.review.auto_approve_hours * crate::time::HOUR),
                    cal.format(ctx.as_of)
                ),
            )
            .field("status", Cell::text("completed"), Cell::text("pending"));
            push(&mut out, f);
        }

        // R6 Billing cycle.
        let cycle = r6_cycle::expected_cycle(approved_at, cal);
        out.expected_cycle = Some(cycle);
        if r6_cycle::wrong_cycle(completed, u.refund_amount[r], u.billing_cycle[r], cycle) {
            let recorded = u.billing_cycle[r].map(|m| m.to_string()).unwrap_or_default();
            let f = Finding::new(
                Code::WRONG_BILLING_CYCLE,
                format!(
                    "R6: the refund of {} counts in the month of approval {} ({}), so billing_cycle should be {cycle}, not {recorded}",
                    u_id.get(r),
                    cal.format(approved_at),
                    approval_words(approval)
                ),
            )
            .field("billing_cycle", Cell::Text(cycle.to_string()), Cell::Text(recorded));
            push(&mut out, f);
        }

        let cash_paid = ctx.pay.cash_paid[oi];
        let tolerance = policy.amount_tolerance;
        // R7 Recorded vs expected.
        if completed {
            let recorded_type = u.refund_type[r].expect("completed rows have a refund_type");
            if let Some(code) = r7_recorded::type_finding(decision.expected, decision.denied_by_quota(), recorded_type)
            {
                let why = match code {
                    Code::QUOTA_EXCEEDED => format!(
                        "the account already used its {} unconditional refund(s) of {year}",
                        policy.unconditional.per_calendar_year
                    ),
                    _ => type_reason(&decision, policy),
                };
                let f = Finding::new(
                    code,
                    format!(
                        "R3/R7: unsubscription {} was recorded {recorded_type} but should be {} because {why}",
                        u_id.get(r),
                        decision.expected
                    ),
                )
                .field(
                    "refund_type",
                    Cell::text(decision.expected.as_str()),
                    Cell::text(recorded_type.as_str()),
                );
                push(&mut out, f);
            }
            let amount_checks = [
                (
                    Code::REFUND_AMOUNT_MISMATCH,
                    "refund_amount",
                    refund,
                    u.refund_amount[r],
                ),
                (Code::HANDLING_FEE_MISMATCH, "handling_fee", fee, u.handling_fee[r]),
                (
                    Code::COUPON_RETURN_MISMATCH,
                    "coupon_returned",
                    coupon,
                    u.coupon_returned[r],
                ),
            ];
            for (code, field, expected, recorded) in amount_checks {
                let recorded = recorded.expect("completed rows have amounts");
                if !r7_recorded::amounts_match(expected, recorded, tolerance) {
                    let f = Finding::new(
                        code,
                        format!(
                            "R4/R7: {field} of {} recorded {} but the expected {} amount is {} ({})",
                            u_id.get(r),
                            exact(recorded),
                            decision.expected,
                            exact(expected),
                            amount_basis(field, decision.expected, &order, policy)
                        ),
                    )
                    .amounts(field, expected, recorded);
                    push(&mut out, f);
                }
            }
            let recorded_refund = u.refund_amount[r].unwrap_or_default();
            if r7_recorded::exceeds_paid(recorded_refund, cash_paid, tolerance) {
                let f = Finding::new(
                    Code::REFUND_EXCEEDS_PAID,
                    format!(
                        "R7: unsubscription {} refunds {} but order {} was paid only {} in succeeded payments",
                        u_id.get(r),
                        exact(recorded_refund),
                        order.order_id,
                        exact(cash_paid)
                    ),
                )
                .amounts("refund_amount", cash_paid, recorded_refund);
                push(&mut out, f);
            }
        }
        if r7_recorded::unexpected_rejection(status == UnsubStatus::Rejected, false, refund) {
            let f = Finding::new(
                Code::UNEXPECTED_REJECTION,
                format!(
                    "R7: unsubscription {} was rejected although nothing blocks it and a {} refund of {} {} was due",
                    u_id.get(r),
                    decision.expected,
                    exact(refund),
                    order.currency
                ),
            )
            .field("status", Cell::text("completed"), Cell::text("rejected"));
            push(&mut out, f);
        }

        // R8 Destination and R9 Deadline (completed, recorded refund > 0).
        let recorded_refund = u.refund_amount[r].unwrap_or_default();
        let pays_out = completed && recorded_refund > Decimal::ZERO;
        if refund > Decimal::ZERO || pays_out {
            out.deadline = Some(r9_deadline::refund_deadline(
                approved_at,
                policy.refund.sla_business_days,
                cal,
            ));
        }
        if pays_out {
            let recorded = u.refund_destination.view().get(r);
            let original_row = ctx.pay.original[oi];
            let original = (original_row != NONE).then(|| ctx.inputs.payments.method.view().get(original_row as usize));
            let fallback = policy.refund.fallback_destination.as_str();
            if let Some(code) = r8_destination::destination_finding(recorded, original, fallback) {
                let origin = match original {
                    Some(m) => format!("the original payment method is {m}"),
                    None => format!("order {} has no succeeded payment of its own", order.order_id),
                };
                let what = if code == Code::FALLBACK_TO_BALANCE {
                    "fell back to"
                } else {
                    "went to"
                };
                let f = Finding::new(
                    code,
                    format!("R8: the refund of {} {what} {recorded} but {origin}", u_id.get(r)),
                )
                .field(
                    "refund_destination",
                    original.map(Cell::text).unwrap_or(Cell::Empty),
                    Cell::text(recorded),
                );
                push(&mut out, f);
            }
            let deadline = out.deadline.expect("set above");
            if let Some((code, late)) = r9_deadline::deadline_finding(deadline, u.refunded_at[r], ctx.as_of, cal) {
                let mut f = match code {
                    Code::LATE_REFUND => {
                        let paid = u.refunded_at[r].expect("late refunds were paid");
                        Finding::new(
                            code,
                            format!(
                                "R9: approved {} so due by {} ({} business days), but refunded at {}, {late} business day(s) late",
                                cal.format(approved_at),
                                cal.format(deadline),
                                policy.refund.sla_business_days,
                                cal.format(paid)
                            ),
                        )
                        .field("refunded_at", Cell::text(cal.format(deadline)), Cell::text(cal.format(paid)))
                    }
                    _ => Finding::new(
                        code,
                        format!(
                            "R9: approved {} so due by {} ({} business days), but not refunded at as_of {}",
                            cal.format(approved_at),
                            cal.format(deadline),
                            policy.refund.sla_business_days,
                            cal.format(ctx.as_of)
                        ),
                    )
                    .field("refunded_at", Cell::text(cal.format(deadline)), Cell::Empty),
                };
                if code == Code::LATE_REFUND {
                    f.delta = Cell::Count(i64::from(late));
                }
                push(&mut out, f);
            }
        }
        outcomes.push(out);
    }

    let account_id = rows
        .first()
        .map(|&r| u_acct.get(r as usize).to_string())
        .unwrap_or_default();
    let quota = years
        .into_iter()
        .filter(|(_, y)| y.exists)
        .map(|(year, y)| QuotaRow {
            account_id: account_id.clone(),
            year,
            allowed: policy.unconditional.per_calendar_year,
            granted: y.granted,
            denied_by_quota: y.denied,
            recorded_unconditional: y.recorded,
        })
        .collect();
    Ok((outcomes, quota))
}

fn approval_words(a: Approval) -> &'static str {
    match a {
        Approval::NotRequired => "no review needed",
        Approval::Reviewed => "reviewed",
        Approval::AutoApproved => "auto-approved",
    }
}

/// Why R3 chose the type, in words.
fn type_reason(d: &TypeDecision, policy: &Policy) -> String {
    use crate::rules::r3_type::TypeReason::*;
    match d.reason {
        PayPerUse => "the order is pay-per-use (R3a)".into(),
        NotYetInService => "the service had not started at the request (R3b)".into(),
        WithinWindow => format!(
            "it was requested within {} h of purchase with quota left (R3c)",
            policy.unconditional.window_hours
        ),
        NotEligible => format!(
            "it was requested more than {} h after purchase or the order type does not qualify (R3d)",
            policy.unconditional.window_hours
        ),
        QuotaExhausted => "the yearly unconditional quota was used up (R3d)".into(),
    }
}

/// The formula behind an expected amount, in words.
fn amount_basis(field: &str, ty: ExpectedType, order: &crate::rules::OrderFacts<'_>, policy: &Policy) -> String {
    let due = exact(order.cash_due());
    match (field, ty) {
        (_, ExpectedType::Release) => "pay-per-use resources are released without refund".into(),
        ("refund_amount", ExpectedType::Partial) => format!("unused share of cash_due {due}, less the handling fee"),
        ("handling_fee", ExpectedType::Partial) => format!("fee rate of the policy on cash_due {due}"),
        ("refund_amount", _) => format!("cash_due {due}"),
        ("coupon_returned", ExpectedType::Unactivated) => {
            format!("coupon_amount {} returned", exact(order.coupon_amount))
        }
        ("coupon_returned", ExpectedType::Unconditional) if policy.unconditional.return_coupons => {
            format!("coupon_amount {} returned", exact(order.coupon_amount))
        }
        ("coupon_returned", _) => "no coupon is returned for this type".into(),
        _ => "no handling fee for this type".into(),
    }
}
