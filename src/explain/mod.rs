//! `explain ID`: replays the trail the rules recorded while evaluating —
//! each rule's step with the values it used ([`crate::rules::Step`]), the
//! input rows, and the findings exactly as discrepancies.csv has them. Nothing
//! is recomputed here: every value comes from the [`Outcome`] the
//! evaluation left, the stored R1 aggregates, or the input rows.
//!
//! ID is looked up as an unsubscription id, then an order id (every
//! unsubscription and payment of the order), then an account id (one short
//! line per unsubscription, in evaluation order). The answer is built once,
//! as one value ([`Explanation`]); `--json` prints it with serde, the text
//! for people is rendered from it ([`text`]). A finding's cells come from
//! the function that writes discrepancies.csv ([`crate::report::finding_row`]).

pub mod store;
mod text;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::columns::{CodeCol, StrCol};
use crate::engine::{unsub_facts, Outcome, Reconciliation, RowIndex};
use crate::model::PaymentStatus;
use crate::money::format_exact as exact;
use crate::report::{finding_row, CellList, Tracked, DISCREPANCIES_HEADER};
use crate::rules::r0_linking::{self, Link, LinkStep};
use crate::rules::{r11_batches, r2_blocked, r4_amounts, r6_cycle, r7_recorded, r8_destination};
use crate::rules::{Env, Finding, Step};

/// What an id names.
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    /// An accepted unsubscription: its outcome.
    Unsub(&'a Outcome),
    /// An order id named by an accepted order, unsubscription or payment.
    Order,
    /// An account id with accepted unsubscriptions or findings.
    Account,
}

/// Finds what `id` names, or None.
pub fn lookup<'a>(rec: &'a Reconciliation, id: &str) -> Option<Subject<'a>> {
    if let Some(o) = rec.outcome_of(id) {
        return Some(Subject::Unsub(o));
    }
    let (o, u, p) = (&rec.inputs.orders, &rec.inputs.unsubs, &rec.inputs.payments);
    let named = |c: &StrCol| (0..c.len()).any(|i| c.view().get(i) == id);
    if named(&o.order_id) || named(&u.order_id) || named(&p.order_id) {
        return Some(Subject::Order);
    }
    let account = |c: &CodeCol| (0..c.codes.len()).any(|i| c.view().get(i) == id);
    if account(&u.account_id) || rec.other_findings.iter().any(|f| f.account_id() == id) {
        return Some(Subject::Account);
    }
    None
}

/// The answer to `explain ID`: what the text and the JSON both print.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Explanation {
    Unsub(Box<UnsubTrail>),
    Order(Box<OrderTrail>),
    Account(AccountTrail),
}

/// One unsubscription's whole trail.
#[derive(Debug, Clone, Serialize)]
pub struct UnsubTrail {
    kind: &'static str,
    pub unsub_id: String,
    pub as_of: String,
    pub unsubscription: UnsubRow,
    /// Its accepted order, if any.
    pub order: Option<OrderRow>,
    /// The payments of that order, in file order.
    pub payments: Vec<PaymentRow>,
    pub steps: Vec<StepView>,
    pub findings: Vec<FindingView>,
}

/// An order, its payments, the findings on them, and the trail of each of
/// its unsubscriptions.
#[derive(Debug, Clone, Serialize)]
pub struct OrderTrail {
    kind: &'static str,
    pub order_id: String,
    pub order: Option<OrderRow>,
    /// Every payment naming the order id, in file order.
    pub payments: Vec<PaymentRow>,
    pub unsubscriptions: Vec<UnsubTrail>,
    pub findings: Vec<FindingView>,
}

/// An account's unsubscriptions in evaluation order, its quota per year,
/// and the findings on its orders and payments.
#[derive(Debug, Clone, Serialize)]
pub struct AccountTrail {
    kind: &'static str,
    pub account_id: String,
    pub unsubscriptions: Vec<ShortLine>,
    pub findings: Vec<FindingView>,
    /// quota_usage.csv's rows of the account (the text shows them).
    #[serde(skip)]
    pub quota: Vec<crate::engine::QuotaRow>,
}

/// The unsubscription row as read (typed values written back as text).
#[derive(Debug, Clone, Serialize)]
pub struct UnsubRow {
    pub file: String,
    pub line: u64,
    pub unsub_id: String,
    pub order_id: String,
    pub account_id: String,
    pub batch_id: String,
    pub requested_at: String,
    pub reviewed_at: String,
    pub completed_at: String,
    pub refunded_at: String,
    pub instance_state: &'static str,
    pub status: &'static str,
    pub refund_type: &'static str,
    pub refund_amount: String,
    pub handling_fee: String,
    pub coupon_returned: String,
    pub refund_destination: String,
    pub billing_cycle: String,
    /// The file's path as given to the run.
    #[serde(skip)]
    pub path: String,
    #[serde(skip)]
    pub completed: bool,
}

/// An accepted order row, with R1's cash_paid and original payment.
#[derive(Debug, Clone, Serialize)]
pub struct OrderRow {
    pub file: String,
    pub line: u64,
    pub order_id: String,
    pub account_id: String,
    pub instance_id: String,
    pub product: String,
    pub item_kind: &'static str,
    pub billing_mode: &'static str,
    pub order_type: &'static str,
    pub ordered_at: String,
    pub service_start: String,
    pub service_end: String,
    pub amount: String,
    pub coupon_amount: String,
    pub currency: String,
    pub promotional: bool,
    pub invoice_issued: bool,
    pub cash_due: String,
    pub cash_paid: String,
    pub original_payment_id: Option<String>,
    #[serde(skip)]
    pub path: String,
    /// The original payment's method.
    #[serde(skip)]
    pub original_method: Option<String>,
}

/// A payment row and how R1 counted it.
#[derive(Debug, Clone, Serialize)]
pub struct PaymentRow {
    pub file: String,
    pub line: u64,
    pub payment_id: String,
    pub order_id: String,
    pub account_id: String,
    pub paid_at: String,
    pub amount: String,
    pub currency: String,
    pub method: String,
    pub status: &'static str,
    pub r1: &'static str,
}

/// One rule's step: the values it used and its sentence.
#[derive(Debug, Clone, Serialize)]
pub struct StepView {
    pub rule: &'static str,
    pub name: &'static str,
    pub values: BTreeMap<&'static str, String>,
    /// The sentence on one line.
    pub text: String,
    /// The sentence as the text shows it (a second line continues it).
    #[serde(skip)]
    pub lines: Vec<String>,
}

/// A finding: its cells exactly as discrepancies.csv has them (the JSON
/// object), and the values the text shows beside them.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct FindingView {
    pub cells: BTreeMap<&'static str, String>,
    #[serde(skip)]
    pub severity: &'static str,
    #[serde(skip)]
    pub code: &'static str,
    #[serde(skip)]
    pub field: &'static str,
    #[serde(skip)]
    pub message: String,
}

/// One unsubscription of an account, in a line.
#[derive(Debug, Clone, Serialize)]
pub struct ShortLine {
    pub unsub_id: String,
    pub order_id: String,
    pub requested_at: String,
    pub status: &'static str,
    pub expected_type: Option<&'static str>,
    pub expected_refund: Option<String>,
    pub recorded_type: Option<&'static str>,
    pub recorded_refund: Option<String>,
    pub quota_used: Option<u32>,
    pub text: String,
    pub findings: Vec<FindingView>,
}

/// The explanation of `id` (None: the id names nothing accepted).
pub fn explain(rec: &Reconciliation, id: &str) -> Option<Explanation> {
    Some(match lookup(rec, id)? {
        Subject::Unsub(out) => Explanation::Unsub(Box::new(unsub_trail(rec, out))),
        Subject::Order => Explanation::Order(Box::new(order_trail(rec, id))),
        Subject::Account => Explanation::Account(account_trail(rec, id)),
    })
}

/// The explanation of `id` as text (None: the id names nothing accepted).
pub fn text(rec: &Reconciliation, id: &str) -> Option<String> {
    explain(rec, id).map(|e| text::render(&e))
}

/// The explanation of `id` for tools (None: the id names nothing accepted).
pub fn json(rec: &Reconciliation, id: &str) -> Option<serde_json::Value> {
    explain(rec, id).map(|e| serde_json::to_value(e).expect("an explanation serializes"))
}

fn unsub_trail(rec: &Reconciliation, out: &Outcome) -> UnsubTrail {
    let r = out.unsub as usize;
    let order = rec.order_of_unsub[r].map(RowIndex::get);
    UnsubTrail {
        kind: "unsubscription",
        unsub_id: rec.inputs.unsubs.unsub_id.view().get(r).to_string(),
        as_of: rec.cal.format(rec.as_of),
        unsubscription: unsub_row(rec, r),
        order: order.map(|oi| order_row_of(rec, oi)),
        payments: order
            .map(|oi| payments_of(rec, oi).map(|i| payment_row(rec, i)).collect())
            .unwrap_or_default(),
        steps: steps(rec, out).iter().map(|s| step_view(s, rec)).collect(),
        findings: finding_views(rec, unsub_findings(rec, out).into_iter()),
    }
}

fn order_trail(rec: &Reconciliation, id: &str) -> OrderTrail {
    OrderTrail {
        kind: "order",
        order_id: id.to_string(),
        order: order_row(rec, id).map(|oi| order_row_of(rec, oi)),
        payments: payments_naming(rec, id).map(|i| payment_row(rec, i)).collect(),
        unsubscriptions: order_outcomes(rec, id).map(|o| unsub_trail(rec, o)).collect(),
        findings: finding_views(rec, rec.other_findings.iter().filter(|f| f.order_id() == id)),
    }
}

fn account_trail(rec: &Reconciliation, id: &str) -> AccountTrail {
    AccountTrail {
        kind: "account",
        account_id: id.to_string(),
        unsubscriptions: account_outcomes(rec, id).map(|o| short(rec, o)).collect(),
        findings: finding_views(rec, rec.other_findings.iter().filter(|f| f.account_id() == id)),
        quota: rec.quota.iter().filter(|q| q.account_id == id).cloned().collect(),
    }
}

fn opt_money(v: Option<rust_decimal::Decimal>) -> String {
    v.map(exact).unwrap_or_default()
}

fn unsub_row(rec: &Reconciliation, r: usize) -> UnsubRow {
    let u = &rec.inputs.unsubs;
    let f = unsub_facts(u, r);
    let cal = &rec.cal;
    let ts = |t: Option<i64>| t.map(|t| cal.format(t)).unwrap_or_default();
    UnsubRow {
        file: rec.inputs.origin(2, u.line.get(r)).0,
        line: rec.inputs.origin(2, u.line.get(r)).2,
        unsub_id: f.unsub_id.to_string(),
        order_id: f.order_id.to_string(),
        account_id: f.account_id.to_string(),
        batch_id: u.batch_id.view().get(r).to_string(),
        requested_at: cal.format(f.requested_at),
        reviewed_at: ts(f.reviewed_at),
        completed_at: ts(f.completed_at),
        refunded_at: ts(f.refunded_at),
        instance_state: f.instance_state.as_str(),
        status: f.status.as_str(),
        refund_type: f.refund_type.map(|t| t.as_str()).unwrap_or(""),
        refund_amount: opt_money(f.refund_amount),
        handling_fee: opt_money(f.handling_fee),
        coupon_returned: opt_money(f.coupon_returned),
        refund_destination: f.refund_destination.to_string(),
        billing_cycle: f.billing_cycle.map(|m| m.to_string()).unwrap_or_default(),
        path: rec.inputs.origin(2, u.line.get(r)).1,
        completed: f.completed(),
    }
}

fn order_row_of(rec: &Reconciliation, oi: usize) -> OrderRow {
    let o = rec.order_facts(oi);
    let cal = &rec.cal;
    let p = &rec.inputs.payments;
    let original = rec.pay.original[oi].map(RowIndex::get);
    OrderRow {
        file: rec.inputs.origin(0, rec.inputs.orders.line.get(oi)).0,
        line: rec.inputs.origin(0, rec.inputs.orders.line.get(oi)).2,
        order_id: o.order_id.to_string(),
        account_id: o.account_id.to_string(),
        instance_id: o.instance_id.to_string(),
        product: rec.inputs.orders.product.view().get(oi).to_string(),
        item_kind: o.item_kind.as_str(),
        billing_mode: o.billing_mode.as_str(),
        order_type: o.order_type.as_str(),
        ordered_at: cal.format(o.ordered_at),
        service_start: cal.format(o.service_start),
        service_end: cal.format(o.service_end),
        amount: exact(o.amount),
        coupon_amount: exact(o.coupon_amount),
        currency: o.currency.as_str().to_string(),
        promotional: o.promotional,
        invoice_issued: o.invoice_issued,
        cash_due: exact(o.cash_due()),
        cash_paid: exact(rec.pay.cash_paid.get(oi)),
        original_payment_id: original.map(|j| p.payment_id.view().get(j).to_string()),
        path: rec.inputs.origin(0, rec.inputs.orders.line.get(oi)).1,
        original_method: original.map(|j| p.method.view().get(j).to_string()),
    }
}

fn payment_row(rec: &Reconciliation, i: usize) -> PaymentRow {
    let p = &rec.inputs.payments;
    PaymentRow {
        file: rec.inputs.origin(1, p.line.get(i)).0,
        line: rec.inputs.origin(1, p.line.get(i)).2,
        payment_id: p.payment_id.view().get(i).to_string(),
        order_id: p.order_id.view().get(i).to_string(),
        account_id: p.account_id.view().get(i).to_string(),
        paid_at: rec.cal.format(p.paid_at[i]),
        amount: exact(p.amount[i].get()),
        currency: p.currency[i].as_str().to_string(),
        method: p.method.view().get(i).to_string(),
        status: p.status[i].as_str(),
        r1: payment_note(rec, i),
    }
}

/// A step as explain shows it; a rule whose codes this run could not
/// check (their columns are absent from a mapped export) says which.
fn step_view(s: &Step, rec: &Reconciliation) -> StepView {
    let mut lines = s.lines.clone();
    let unchecked: Vec<&str> = crate::rules::declared::rule(s.rule)
        .into_iter()
        .flat_map(|r| r.codes.iter())
        .filter(|c| !rec.coverage.checks(**c))
        .map(|c| c.as_str())
        .collect();
    if let (Some(first), false) = (lines.first_mut(), unchecked.is_empty()) {
        first.push_str(&format!(" [not checked: {}]", unchecked.join(", ")));
    }
    StepView {
        rule: s.rule,
        name: s.name,
        values: s.values.iter().map(|(k, v)| (*k, v.clone())).collect(),
        text: lines.join(" "),
        lines,
    }
}

/// A finding's cells as discrepancies.csv writes them, from the function
/// that writes it: (column, cell) pairs.
pub fn finding_cells(rec: &Reconciliation, f: &Finding) -> Vec<(&'static str, String)> {
    let mut cells = CellList::default();
    let tracked = Tracked {
        id: f.id(),
        since: None,
    };
    finding_row(&mut cells, rec, f, &tracked);
    DISCREPANCIES_HEADER.iter().copied().zip(cells.cells).collect()
}

fn finding_views<'a>(rec: &Reconciliation, findings: impl Iterator<Item = &'a Finding>) -> Vec<FindingView> {
    findings
        .map(|f| FindingView {
            cells: finding_cells(rec, f).into_iter().collect(),
            severity: f.severity().as_str(),
            code: f.code.as_str(),
            field: f.field,
            message: f.message.to_string(),
        })
        .collect()
}

fn short(rec: &Reconciliation, out: &Outcome) -> ShortLine {
    let r = out.unsub as usize;
    let f = unsub_facts(&rec.inputs.unsubs, r);
    ShortLine {
        unsub_id: f.unsub_id.to_string(),
        order_id: f.order_id.to_string(),
        requested_at: rec.cal.format(f.requested_at),
        status: f.status.as_str(),
        expected_type: out.expected_type.map(|t| t.as_str()),
        expected_refund: out.expected_type.map(|_| exact(out.amounts.refund)),
        recorded_type: f.refund_type.filter(|_| f.completed()).map(|t| t.as_str()),
        recorded_refund: f.refund_amount.filter(|_| f.completed()).map(exact),
        quota_used: out.quota_used,
        text: short_line(rec, out),
        findings: finding_views(rec, unsub_findings(rec, out).into_iter()),
    }
}

fn env(rec: &Reconciliation) -> Env<'_> {
    Env {
        policy: &rec.policy,
        cal: &rec.cal,
        as_of: rec.as_of,
    }
}

/// The steps the rules recorded on one unsubscription, in rule order.
pub fn steps(rec: &Reconciliation, out: &Outcome) -> Vec<Step> {
    let r = out.unsub as usize;
    let u = unsub_facts(&rec.inputs.unsubs, r);
    let order = rec.order_of_unsub[r].map(|oi| rec.order_facts(oi.get()));
    let env = env(rec);
    let link = LinkStep {
        link: out.link,
        first_completion: out.first_completion,
    };
    let first_id = out
        .first_completion
        .map(|row| rec.inputs.unsubs.unsub_id.view().get(row as usize));
    let mut v = vec![r0_linking::describe(&link, &u, order.map(|o| o.account_id), first_id)];
    if let (Link::Linked, Some(o)) = (out.link, order) {
        v.push(r2_blocked::describe(out.blocked));
        if let Some(t) = &out.type_step {
            v.push(t.describe(&o, u.requested_at, &env));
            v.push(r4_amounts::describe(
                &out.amounts,
                t.decision.expected,
                &o,
                u.requested_at,
                &rec.policy,
            ));
        }
        if let Some(review) = &out.review {
            v.push(review.describe(&o, &env));
        }
        if let Some(cycle) = out.expected_cycle {
            v.push(r6_cycle::describe(cycle, &u, &env));
        }
        if let (true, Some(t), Some(oi)) = (out.evaluated(), &out.type_step, rec.order_of_unsub[r]) {
            let cash_paid = rec.pay.cash_paid.get(oi.get());
            v.push(r7_recorded::describe(
                &u,
                t.decision.expected,
                &out.amounts,
                cash_paid,
                &env,
            ));
            v.extend(payout_steps(rec, out, &u, oi));
            if let Some(q) = out.quota_used {
                let allowed = rec.policy.unconditional.per_calendar_year;
                v.push(
                    Step::new(
                        "R3",
                        "quota",
                        format!(
                            "quota: {q} of {allowed} unconditional refund(s) used in {} after this unsubscription",
                            t.year
                        ),
                    )
                    .value("quota_used", q)
                    .value("per_calendar_year", allowed)
                    .value("year", t.year),
                );
            }
        }
    }
    let batch = rec.inputs.unsubs.batch_id.view().get(r);
    if !batch.is_empty() {
        v.push(r11_batches::describe(batch));
    }
    v
}

/// R8 and R9's steps (or why they did not apply).
fn payout_steps(rec: &Reconciliation, out: &Outcome, u: &crate::rules::UnsubFacts<'_>, oi: RowIndex) -> Vec<Step> {
    let cal = &rec.cal;
    if u.pays_out() {
        let original = rec.pay.original[oi.get()].map(|p| rec.inputs.payments.method.view().get(p.get()));
        let mut v = vec![r8_destination::describe(out.destination, u, original)];
        if let (Some(d), Some(at)) = (out.deadline, out.approved_at()) {
            v.push(d.describe(u, at, &env(rec)));
        }
        return v;
    }
    let step = match out.deadline {
        Some(d) => Step::new(
            "R8/R9",
            "payout",
            format!(
                "R8/R9: no recorded refund paid out; the refund would be due by {}",
                cal.format(d.deadline)
            ),
        )
        .value("deadline", cal.format(d.deadline)),
        None => Step::new("R8/R9", "payout", "R8/R9: nothing to pay out".to_string()),
    };
    vec![step]
}

/// How R1 counted a payment row.
fn payment_note(rec: &Reconciliation, i: usize) -> &'static str {
    if !rec.pay.checks[i].belongs() {
        "left out: other account or currency"
    } else if rec.inputs.payments.status[i] == PaymentStatus::Succeeded {
        "counts"
    } else {
        "failed: does not count"
    }
}

/// One line per unsubscription: what was expected and recorded, and the
/// codes found.
fn short_line(rec: &Reconciliation, out: &Outcome) -> String {
    let r = out.unsub as usize;
    let f = unsub_facts(&rec.inputs.unsubs, r);
    let expected = match out.expected_type {
        Some(t) => format!("{t} {}", exact(out.amounts.refund)),
        None => "-".into(),
    };
    let recorded = match (f.completed(), f.refund_type) {
        (true, Some(t)) => format!("{t} {}", opt_money(f.refund_amount)),
        _ => "-".into(),
    };
    let codes = out.codes();
    format!(
        "{}  {}  order {}  {}: expected {expected}, recorded {recorded} → {}",
        f.unsub_id,
        rec.cal.format(f.requested_at),
        f.order_id,
        f.status,
        if codes.is_empty() {
            "ok".to_string()
        } else {
            codes.join(", ")
        }
    )
}

/// Payment rows linked to accepted order row `oi`, in file order.
fn payments_of(rec: &Reconciliation, oi: usize) -> impl Iterator<Item = usize> + '_ {
    rec.order_of_payment
        .iter()
        .enumerate()
        .filter(move |(_, x)| x.map(RowIndex::get) == Some(oi))
        .map(|(i, _)| i)
}

/// Payment rows whose order_id is `id` (accepted order or not).
fn payments_naming<'a>(rec: &'a Reconciliation, id: &'a str) -> impl Iterator<Item = usize> + 'a {
    let ids = &rec.inputs.payments.order_id;
    (0..ids.len()).filter(move |&i| ids.view().get(i) == id)
}

fn order_row(rec: &Reconciliation, id: &str) -> Option<usize> {
    let ids = &rec.inputs.orders.order_id;
    (0..ids.len()).find(|&i| ids.view().get(i) == id)
}

/// Outcomes of unsubscriptions naming order `id`, in evaluation order.
fn order_outcomes<'a>(rec: &'a Reconciliation, id: &'a str) -> impl Iterator<Item = &'a Outcome> + 'a {
    let ids = rec.inputs.unsubs.order_id.view();
    rec.outcomes.iter().filter(move |o| ids.get(o.unsub as usize) == id)
}

/// Outcomes of account `id`'s unsubscriptions, in evaluation order.
fn account_outcomes<'a>(rec: &'a Reconciliation, id: &'a str) -> impl Iterator<Item = &'a Outcome> + 'a {
    let ids = rec.inputs.unsubs.account_id.view();
    rec.outcomes.iter().filter(move |o| ids.get(o.unsub as usize) == id)
}

/// Every finding that names the unsubscription: its own, and those on
/// orders that name it (CHARGED_AFTER_RELEASE), in discrepancies.csv order.
fn unsub_findings<'a>(rec: &'a Reconciliation, out: &'a Outcome) -> Vec<&'a Finding> {
    let id = rec.inputs.unsubs.unsub_id.view().get(out.unsub as usize);
    let mut v: Vec<&Finding> = out
        .findings
        .iter()
        .chain(rec.other_findings.iter().filter(|f| f.unsub_id() == id))
        .collect();
    v.sort_by(|a, b| a.cmp_order(b));
    v
}
