//! One account's unsubscriptions, in (requested_at, unsub_id) order: R0,
//! R2–R9 with the running quota counter of R3c.

use rust_decimal::Decimal;
use rustc_hash::FxHashMap;

use super::{order_facts, Inputs, PaymentAgg, RowIndex};
use crate::config::Policy;
use crate::ingest::Unsubscriptions;
use crate::model::{Currency, ExpectedType, Month, RefundType, UnsubStatus};
use crate::money::Stored;
use crate::rules::r0_linking::{self, FirstCompletion, Link, LinkStep, R0};
use crate::rules::r2_blocked::{Blocked, R2};
use crate::rules::r3_type::{Quota, TypeStep};
use crate::rules::r4_amounts::{self, Amounts, R4};
use crate::rules::r5_review::{ReviewStep, R5};
use crate::rules::r6_cycle::{self, R6};
use crate::rules::r7_recorded::{self, R7};
use crate::rules::r8_destination::{self, R8};
use crate::rules::r9_deadline::{self, DeadlineStep, R9};
use crate::rules::{Code, Env, Finding, Linked, Rule, UnsubFacts};
use crate::time::{Calendar, Micros};

/// What the engine needs while evaluating.
pub struct Ctx<'a> {
    pub policy: &'a Policy,
    pub cal: &'a Calendar,
    pub as_of: Micros,
    pub inputs: &'a Inputs,
    pub order_of_unsub: &'a [Option<RowIndex>],
    pub pay: &'a PaymentAgg,
}

/// The expected side of one unsubscription, the step each rule recorded
/// on it (what `explain` replays), and its findings.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Row in the unsubscriptions table.
    pub unsub: u32,
    pub link: Link,
    /// For a duplicate: the row of the first completed unsubscription.
    pub first_completion: Option<u32>,
    /// The order's currency, when the order is known.
    pub currency: Option<Currency>,
    pub blocked: Option<Blocked>,
    pub type_step: Option<TypeStep>,
    /// Empty for ORDER_NOT_FOUND and ACCOUNT_MISMATCH.
    pub expected_type: Option<ExpectedType>,
    pub amounts: Amounts,
    pub review: Option<ReviewStep>,
    pub expected_cycle: Option<Month>,
    /// R8's finding code on a refund paid out (None: back to the original
    /// method, or not paid out).
    pub destination: Option<Code>,
    pub deadline: Option<DeadlineStep>,
    /// R3c's running count in the account-year after this unsubscription.
    pub quota_used: Option<u32>,
    /// Findings on this unsubscription (sorted once all rules ran).
    pub findings: Vec<Finding>,
}

impl Outcome {
    /// An outcome that a task's evaluation overwrites: room for one in
    /// the run's outcomes, made before the accounts are evaluated.
    pub fn placeholder() -> Outcome {
        Outcome::new(
            0,
            LinkStep {
                link: Link::OrderNotFound,
                first_completion: None,
            },
        )
    }

    fn new(unsub: usize, link: LinkStep) -> Outcome {
        Outcome {
            unsub: unsub as u32,
            link: link.link,
            first_completion: link.first_completion,
            currency: None,
            blocked: None,
            type_step: None,
            expected_type: None,
            amounts: Amounts::zero(),
            review: None,
            expected_cycle: None,
            destination: None,
            deadline: None,
            quota_used: None,
            findings: Vec::new(),
        }
    }

    /// Puts this unsubscription's ids and currency on a finding.
    pub fn stamp(&self, f: &mut Finding, inputs: &Inputs) {
        let u = &inputs.unsubs;
        let r = self.unsub as usize;
        f.set_unsub_ids(
            u.account_id.view().get(r),
            u.unsub_id.view().get(r),
            u.order_id.view().get(r),
        );
        f.currency = self.currency;
    }

    /// Whether the rules past R0 and R2 ran (the expected columns are full).
    pub fn evaluated(&self) -> bool {
        self.link == Link::Linked && self.blocked.is_none()
    }

    /// R5's approval instant, once R5 ran.
    pub fn approved_at(&self) -> Option<Micros> {
        self.review.map(|r| r.approved_at)
    }

    /// The set of codes on this unsubscription, sorted, once each.
    pub fn codes(&self) -> Vec<&'static str> {
        let mut c: Vec<&'static str> = self.findings.iter().map(|f| f.code.as_str()).collect();
        c.sort_unstable();
        c.dedup();
        c
    }
}

/// The recorded fields of unsubscription row `r`, as the rules read them.
pub fn unsub_facts(u: &Unsubscriptions, r: usize) -> UnsubFacts<'_> {
    UnsubFacts {
        unsub_id: u.unsub_id.view().get(r),
        account_id: u.account_id.view().get(r),
        order_id: u.order_id.view().get(r),
        status: u.status[r],
        instance_state: u.instance_state[r],
        requested_at: u.requested_at[r],
        reviewed_at: u.reviewed_at.get(r),
        completed_at: u.completed_at.get(r),
        refunded_at: u.refunded_at.get(r),
        refund_type: u.refund_type[r],
        refund_amount: u.refund_amount[r].map(Stored::get),
        handling_fee: u.handling_fee[r].map(Stored::get),
        coupon_returned: u.coupon_returned[r].map(Stored::get),
        refund_destination: u.refund_destination.view().get(r),
        billing_cycle: u.billing_cycle[r],
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

/// A rule step on one unsubscription whose exact result does not fit
/// (docs/design.md "Money bound": impossible for accepted amounts, but checked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overflow {
    pub unsub: u32,
    pub step: &'static str,
}

/// Evaluates one account's unsubscriptions (`rows`, already in evaluation
/// order): R0, R2–R9 in turn on each, carrying the yearly quota counter and
/// the first completion of each order.
pub fn account(
    ctx: &Ctx<'_>,
    rows: &[u32],
    outcomes: &mut Vec<Outcome>,
    quota: &mut Vec<QuotaRow>,
) -> Result<(), Overflow> {
    let u: &Unsubscriptions = &ctx.inputs.unsubs;
    let env = Env {
        policy: ctx.policy,
        cal: ctx.cal,
        as_of: ctx.as_of,
    };
    let mut first_completion: FxHashMap<u32, u32> = FxHashMap::default();
    let mut quota_counter = Quota::default();
    for &row in rows {
        let r = row as usize;
        let facts = unsub_facts(u, r);
        let year = ctx.cal.year_of(facts.requested_at);
        if facts.completed() && facts.refund_type == Some(RefundType::Unconditional) {
            quota_counter.record_unconditional(year);
        }
        let order = ctx.order_of_unsub[r].map(|oi| oi.get());
        let first = order
            .and_then(|oi| first_completion.get(&(oi as u32)).copied())
            .map(|row| FirstCompletion {
                row,
                unsub_id: u.unsub_id.view().get(row as usize),
            });
        let mut findings = Vec::new();
        let order_account = order.map(|oi| ctx.inputs.orders.account_id.view().get(oi));
        let linking = r0_linking::Facts {
            unsub: &facts,
            order_account,
            first,
        };
        let link = R0::check(&linking, &env, &mut findings);
        let mut out = Outcome::new(r, link);
        // Known whenever the order is (account mismatch and duplicate too).
        out.currency = order.map(|oi| ctx.inputs.orders.currency[oi]);
        match (order, link.link) {
            (Some(oi), Link::Linked) => {
                if facts.completed() {
                    first_completion.insert(oi as u32, row);
                }
                let subject = LinkedUnsub { facts, oi, year };
                linked(ctx, &env, &subject, &mut quota_counter, &mut out, &mut findings)
                    .map_err(|e| Overflow { unsub: row, step: e.0 })?;
            }
            (_, Link::Duplicate) => out.expected_type = Some(ExpectedType::Duplicate),
            _ => {}
        }
        for f in &mut findings {
            out.stamp(f, ctx.inputs);
        }
        out.findings = findings;
        outcomes.push(out);
    }
    quota.extend(quota_rows(ctx, rows, &quota_counter));
    Ok(())
}

/// An unsubscription R0 linked to its order: its facts, the order's row
/// and the calendar year of requested_at (the quota's year).
struct LinkedUnsub<'a> {
    facts: UnsubFacts<'a>,
    oi: usize,
    year: i32,
}

/// R2–R9 on a linked unsubscription, with the account's quota counter.
fn linked(
    ctx: &Ctx<'_>,
    env: &Env<'_>,
    subject: &LinkedUnsub<'_>,
    quota: &mut Quota,
    out: &mut Outcome,
    findings: &mut Vec<Finding>,
) -> Result<(), r4_amounts::Overflow> {
    let LinkedUnsub { facts, oi, year } = subject;
    let (facts, oi, year) = (facts, *oi, *year);
    let order = order_facts(&ctx.inputs.orders, oi);
    let unit = Linked {
        unsub: facts,
        order: &order,
    };
    if let Some(b) = R2::check(&unit, env, findings) {
        out.blocked = Some(b);
        out.expected_type = Some(ExpectedType::Blocked);
        return Ok(());
    }
    let rejected = facts.status == UnsubStatus::Rejected;
    let ty = quota.check(&order, facts.requested_at, rejected, year, env);
    out.quota_used = Some(quota.granted(year));
    out.type_step = Some(ty);
    out.expected_type = Some(ty.decision.expected);
    let amounts = r4_amounts::Facts {
        expected: ty.decision.expected,
        order: &order,
        requested_at: facts.requested_at,
    };
    out.amounts = R4::check(&amounts, env, findings)?;
    let review = R5::check(&unit, env, findings);
    out.review = Some(review);
    let cycle = r6_cycle::Facts {
        unsub: facts,
        review: &review,
    };
    out.expected_cycle = Some(R6::check(&cycle, env, findings));
    let recorded = r7_recorded::Facts {
        linked: unit,
        type_step: &ty,
        amounts: &out.amounts,
        cash_paid: ctx.pay.cash_paid.get(oi),
    };
    R7::check(&recorded, env, findings);
    if facts.pays_out() {
        let destination = r8_destination::Facts {
            unsub: facts,
            order_id: order.order_id,
            original: ctx.pay.original[oi].map(|p| ctx.inputs.payments.method.view().get(p.get())),
        };
        out.destination = R8::check(&destination, env, findings);
    }
    if out.amounts.refund > Decimal::ZERO || facts.pays_out() {
        let deadline = r9_deadline::Facts {
            unsub: facts,
            approved_at: review.approved_at,
        };
        out.deadline = Some(R9::check(&deadline, env, findings));
    }
    Ok(())
}

/// The account's rows of quota_usage.csv, by year.
fn quota_rows<'c>(ctx: &'c Ctx<'_>, rows: &[u32], quota: &'c Quota) -> impl Iterator<Item = QuotaRow> + 'c {
    let account_id = rows
        .first()
        .map(|&r| ctx.inputs.unsubs.account_id.view().get(r as usize).to_string())
        .unwrap_or_default();
    quota.years().map(move |(year, y)| QuotaRow {
        account_id: account_id.clone(),
        year,
        allowed: ctx.policy.unconditional.per_calendar_year,
        granted: y.granted,
        denied_by_quota: y.denied,
        recorded_unconditional: y.recorded,
    })
}
