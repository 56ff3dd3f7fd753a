//! `explain ID`: replays the trail the rules recorded while evaluating —
//! each rule's step with the values it used ([`crate::rules::Step`]), the
//! input rows, and the findings exactly as discrepancies.csv has them. Nothing
//! is recomputed here: every value comes from the [`Outcome`] the
//! evaluation left, the stored R1 aggregates, or the input rows.
//!
//! ID is looked up as an unsubscription id, then an order id (every
//! unsubscription and payment of the order), then an account id (one short
//! line per unsubscription, in evaluation order). Text for people, `--json`
//! for tools.

pub mod store;

use std::fmt::Write;

use serde_json::{json, Map, Value};

use crate::columns::{CodeCol, StrCol};
use crate::engine::{unsub_facts, Outcome, Reconciliation, RowIndex};
use crate::model::{PaymentStatus, UnsubStatus};
use crate::money::format_exact as exact;
use crate::report::{finding_row, Rows, DISCREPANCIES_HEADER};
use crate::rules::r0_linking::{self, Link, LinkStep};
use crate::rules::{r11_batches, r2_blocked, r4_amounts, r6_cycle, r7_recorded, r8_destination};
use crate::rules::{ts_or_dash, Env, Finding, Step};

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
    if account(&u.account_id) || rec.other_findings.iter().any(|f| f.account_id == id) {
        return Some(Subject::Account);
    }
    None
}

/// The explanation of `id` as text (None: the id names nothing accepted).
pub fn text(rec: &Reconciliation, id: &str) -> Option<String> {
    let mut s = String::new();
    let r = match lookup(rec, id)? {
        Subject::Unsub(out) => write_unsub(&mut s, rec, out, true),
        Subject::Order => write_order(&mut s, rec, id),
        Subject::Account => write_account(&mut s, rec, id),
    };
    r.expect("writing to a String cannot fail");
    Some(s)
}

/// The explanation of `id` for tools (None: the id names nothing accepted).
pub fn json(rec: &Reconciliation, id: &str) -> Option<Value> {
    Some(match lookup(rec, id)? {
        Subject::Unsub(out) => unsub_json(rec, out),
        Subject::Order => {
            let unsubs: Vec<Value> = order_outcomes(rec, id).map(|o| unsub_json(rec, o)).collect();
            json!({
                "kind": "order",
                "order_id": id,
                "order": order_row(rec, id).map(|oi| order_json(rec, oi)),
                "payments": payments_naming(rec, id).map(|i| payment_json(rec, i)).collect::<Vec<_>>(),
                "unsubscriptions": unsubs,
                "findings": findings_json(rec, rec.other_findings.iter().filter(|f| f.order_id == id)),
            })
        }
        Subject::Account => {
            let unsubs: Vec<Value> = account_outcomes(rec, id).map(|o| short_json(rec, o)).collect();
            json!({
                "kind": "account",
                "account_id": id,
                "unsubscriptions": unsubs,
                "findings": findings_json(rec, rec.other_findings.iter().filter(|f| f.account_id == id)),
            })
        }
    })
}

fn env(rec: &Reconciliation) -> Env<'_> {
    Env {
        policy: &rec.policy,
        cal: &rec.cal,
        as_of: rec.as_of,
    }
}

fn or_dash(s: &str) -> &str {
    if s.is_empty() {
        "-"
    } else {
        s
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
            v.push(t.describe(&o, &env));
            v.push(r4_amounts::describe(&out.amounts, t.decision.expected, &o, &rec.policy));
        }
        if let Some(review) = &out.review {
            v.push(review.describe(&o, &env));
        }
        if let Some(cycle) = out.expected_cycle {
            v.push(r6_cycle::describe(cycle, &u, &env));
        }
        if let (true, Some(t), Some(oi)) = (out.evaluated(), &out.type_step, rec.order_of_unsub[r]) {
            let cash_paid = rec.pay.cash_paid[oi.get()];
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

/// The findings as discrepancies.csv writes them: (column, cell) pairs.
pub fn finding_cells(rec: &Reconciliation, f: &Finding) -> Vec<(&'static str, String)> {
    let mut rows = Rows::with_capacity(256);
    let tracked = crate::report::Tracked {
        id: f.id(),
        since: None,
    };
    finding_row(&mut rows, rec, f, &tracked);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(rows.buf.as_slice());
    let record = reader
        .records()
        .next()
        .and_then(Result::ok)
        .expect("a row we wrote parses");
    DISCREPANCIES_HEADER
        .iter()
        .zip(record.iter())
        .map(|(k, v)| (*k, v.to_string()))
        .collect()
}

fn findings_json<'a>(rec: &Reconciliation, findings: impl Iterator<Item = &'a Finding>) -> Vec<Value> {
    findings
        .map(|f| {
            let m: Map<String, Value> = finding_cells(rec, f)
                .into_iter()
                .map(|(k, v)| (k.to_string(), Value::String(v)))
                .collect();
            Value::Object(m)
        })
        .collect()
}

fn step_json(s: &Step) -> Value {
    let values: Map<String, Value> = s
        .values
        .iter()
        .map(|(k, v)| (k.to_string(), Value::String(v.clone())))
        .collect();
    json!({"rule": s.rule, "name": s.name, "values": values, "text": s.lines.join(" ")})
}

fn opt_money(v: Option<rust_decimal::Decimal>) -> String {
    v.map(exact).unwrap_or_default()
}

/// The unsubscription row as read (typed values written back as text).
fn unsub_row_json(rec: &Reconciliation, r: usize) -> Value {
    let u = &rec.inputs.unsubs;
    let f = unsub_facts(u, r);
    let cal = &rec.cal;
    let ts = |t: Option<i64>| t.map(|t| cal.format(t)).unwrap_or_default();
    json!({
        "file": rec.inputs.metas.unsubs.name,
        "line": u.line[r],
        "unsub_id": f.unsub_id,
        "order_id": f.order_id,
        "account_id": f.account_id,
        "batch_id": u.batch_id.view().get(r),
        "requested_at": cal.format(f.requested_at),
        "reviewed_at": ts(f.reviewed_at),
        "completed_at": ts(f.completed_at),
        "refunded_at": ts(f.refunded_at),
        "instance_state": f.instance_state.as_str(),
        "status": f.status.as_str(),
        "refund_type": f.refund_type.map(|t| t.as_str()).unwrap_or(""),
        "refund_amount": opt_money(f.refund_amount),
        "handling_fee": opt_money(f.handling_fee),
        "coupon_returned": opt_money(f.coupon_returned),
        "refund_destination": f.refund_destination,
        "billing_cycle": f.billing_cycle.map(|m| m.to_string()).unwrap_or_default(),
    })
}

fn order_json(rec: &Reconciliation, oi: usize) -> Value {
    let o = rec.order_facts(oi);
    let cal = &rec.cal;
    json!({
        "file": rec.inputs.metas.orders.name,
        "line": rec.inputs.orders.line[oi],
        "order_id": o.order_id,
        "account_id": o.account_id,
        "instance_id": o.instance_id,
        "product": rec.inputs.orders.product.view().get(oi),
        "item_kind": o.item_kind.as_str(),
        "billing_mode": o.billing_mode.as_str(),
        "order_type": o.order_type.as_str(),
        "ordered_at": cal.format(o.ordered_at),
        "service_start": cal.format(o.service_start),
        "service_end": cal.format(o.service_end),
        "amount": exact(o.amount),
        "coupon_amount": exact(o.coupon_amount),
        "currency": o.currency.as_str(),
        "promotional": o.promotional,
        "invoice_issued": o.invoice_issued,
        "cash_due": exact(o.cash_due()),
        "cash_paid": exact(rec.pay.cash_paid[oi]),
        "original_payment_id": rec.pay.original[oi].map(|p| rec.inputs.payments.payment_id.view().get(p.get())),
    })
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

fn payment_json(rec: &Reconciliation, i: usize) -> Value {
    let p = &rec.inputs.payments;
    json!({
        "file": rec.inputs.metas.payments.name,
        "line": p.line[i],
        "payment_id": p.payment_id.view().get(i),
        "order_id": p.order_id.view().get(i),
        "account_id": p.account_id.view().get(i),
        "paid_at": rec.cal.format(p.paid_at[i]),
        "amount": exact(p.amount[i]),
        "currency": p.currency[i].as_str(),
        "method": p.method.view().get(i),
        "status": p.status[i].as_str(),
        "r1": payment_note(rec, i),
    })
}

fn unsub_json(rec: &Reconciliation, out: &Outcome) -> Value {
    let r = out.unsub as usize;
    let order = rec.order_of_unsub[r].map(RowIndex::get);
    let payments: Vec<Value> = order
        .map(|oi| payments_of(rec, oi).map(|i| payment_json(rec, i)).collect())
        .unwrap_or_default();
    json!({
        "kind": "unsubscription",
        "unsub_id": rec.inputs.unsubs.unsub_id.view().get(r),
        "as_of": rec.cal.format(rec.as_of),
        "unsubscription": unsub_row_json(rec, r),
        "order": order.map(|oi| order_json(rec, oi)),
        "payments": payments,
        "steps": steps(rec, out).iter().map(step_json).collect::<Vec<_>>(),
        "findings": findings_json(rec, unsub_findings(rec, out).into_iter()),
    })
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
        .chain(rec.other_findings.iter().filter(|f| f.unsub_id == id))
        .collect();
    v.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    v
}

/// One unsubscription's whole trail; `with_order`: also its order and
/// payments (explain ORDER_ID shows them once, above).
fn write_unsub(s: &mut String, rec: &Reconciliation, out: &Outcome, with_order: bool) -> std::fmt::Result {
    let r = out.unsub as usize;
    write_unsub_rows(s, rec, r)?;
    writeln!(s)?;
    if with_order {
        match rec.order_of_unsub[r] {
            None => writeln!(
                s,
                "order {}: not among the accepted orders",
                rec.inputs.unsubs.order_id.view().get(r)
            )?,
            Some(oi) => write_order_rows(s, rec, oi.get())?,
        }
        writeln!(s)?;
    }
    writeln!(s, "rules")?;
    for step in steps(rec, out) {
        let mut lines = step.lines.iter();
        if let Some(first) = lines.next() {
            writeln!(s, "  {first}")?;
        }
        for more in lines {
            writeln!(s, "              {more}")?;
        }
    }
    writeln!(s)?;
    let findings = unsub_findings(rec, out);
    writeln!(s, "findings ({})", findings.len())?;
    if findings.is_empty() {
        writeln!(s, "  none: the recorded values match the policy")?;
    }
    write_findings(s, rec, findings.into_iter())
}

/// Findings as explain lists them: severity, code, field, expected and
/// recorded as in discrepancies.csv (`-` for an empty cell), the message.
fn write_findings<'a>(
    s: &mut String,
    rec: &Reconciliation,
    findings: impl Iterator<Item = &'a Finding>,
) -> std::fmt::Result {
    for f in findings {
        let cells = finding_cells(rec, f);
        let cell = |name: &str| {
            let v = cells
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.as_str())
                .unwrap_or("");
            or_dash(v).to_string()
        };
        writeln!(
            s,
            "  {} {} [{}]: expected {}, recorded {}\n    {}\n    finding_id {}",
            f.severity().as_str(),
            f.code.as_str(),
            f.field,
            cell("expected"),
            cell("recorded"),
            f.message,
            cell("finding_id")
        )?;
    }
    Ok(())
}

fn write_unsub_rows(s: &mut String, rec: &Reconciliation, r: usize) -> std::fmt::Result {
    let u = &rec.inputs.unsubs;
    let f = unsub_facts(u, r);
    let cal = &rec.cal;
    writeln!(
        s,
        "unsubscription {}  ({} line {})",
        f.unsub_id,
        rec.inputs.metas.unsubs.path.display(),
        u.line[r]
    )?;
    writeln!(
        s,
        "  account {}, order {}, batch {}, status {}, instance_state {}",
        f.account_id,
        f.order_id,
        or_dash(u.batch_id.view().get(r)),
        f.status,
        f.instance_state
    )?;
    writeln!(
        s,
        "  requested_at {}, reviewed_at {}, completed_at {}, refunded_at {}",
        cal.format(f.requested_at),
        ts_or_dash(cal, f.reviewed_at),
        ts_or_dash(cal, f.completed_at),
        ts_or_dash(cal, f.refunded_at)
    )?;
    if f.status == UnsubStatus::Completed {
        writeln!(
            s,
            "  recorded: type {}, refund {}, fee {}, coupon returned {}, destination {}, billing_cycle {}",
            f.refund_type.map(|t| t.as_str()).unwrap_or("-"),
            opt_money(f.refund_amount),
            opt_money(f.handling_fee),
            opt_money(f.coupon_returned),
            or_dash(f.refund_destination),
            f.billing_cycle.map(|m| m.to_string()).unwrap_or_else(|| "-".into())
        )?;
    } else {
        writeln!(
            s,
            "  recorded amounts: none ({} rows carry none; any given are ignored)",
            f.status
        )?;
    }
    writeln!(s, "  as_of {}", cal.format(rec.as_of))
}

fn write_order_rows(s: &mut String, rec: &Reconciliation, oi: usize) -> std::fmt::Result {
    let cal = &rec.cal;
    let o = rec.order_facts(oi);
    writeln!(
        s,
        "order {}  ({} line {})",
        o.order_id,
        rec.inputs.metas.orders.path.display(),
        rec.inputs.orders.line[oi]
    )?;
    writeln!(
        s,
        "  account {}, instance {}, product {:?}, {} {} {}",
        o.account_id,
        o.instance_id,
        rec.inputs.orders.product.view().get(oi),
        o.item_kind,
        o.billing_mode,
        o.order_type
    )?;
    writeln!(
        s,
        "  ordered_at {}, service {} → {}",
        cal.format(o.ordered_at),
        cal.format(o.service_start),
        cal.format(o.service_end)
    )?;
    writeln!(
        s,
        "  amount {} {}, coupon {}, cash_due {}, promotional {}, invoice_issued {}",
        exact(o.amount),
        o.currency,
        exact(o.coupon_amount),
        exact(o.cash_due()),
        o.promotional,
        o.invoice_issued
    )?;
    write_payments(s, rec, o.order_id, payments_of(rec, oi))?;
    let p = &rec.inputs.payments;
    let original = match rec.pay.original[oi] {
        None => "none (no succeeded payment of its own)".to_string(),
        Some(j) => format!(
            "{} ({})",
            p.method.view().get(j.get()),
            p.payment_id.view().get(j.get())
        ),
    };
    writeln!(
        s,
        "  cash_paid {} (R1); original payment method {original}",
        exact(rec.pay.cash_paid[oi])
    )
}

/// "payments naming ORDER:" and one line per payment row (or "none").
fn write_payments(
    s: &mut String,
    rec: &Reconciliation,
    order_id: &str,
    rows: impl Iterator<Item = usize>,
) -> std::fmt::Result {
    writeln!(s, "payments naming {order_id}:")?;
    let mut any = false;
    for i in rows {
        any = true;
        write_payment(s, rec, i)?;
    }
    if !any {
        writeln!(s, "  none")?;
    }
    Ok(())
}

fn write_payment(s: &mut String, rec: &Reconciliation, i: usize) -> std::fmt::Result {
    let p = &rec.inputs.payments;
    writeln!(
        s,
        "  {} {} {} {} via {} at {} ({})",
        p.payment_id.view().get(i),
        p.status[i],
        exact(p.amount[i]),
        p.currency[i],
        p.method.view().get(i),
        rec.cal.format(p.paid_at[i]),
        payment_note(rec, i)
    )
}

/// `explain ORDER_ID`: the order, its payments, the full trail of each of
/// its unsubscriptions, and the findings on the order and its payments.
fn write_order(s: &mut String, rec: &Reconciliation, id: &str) -> std::fmt::Result {
    match order_row(rec, id) {
        Some(oi) => write_order_rows(s, rec, oi)?,
        None => {
            writeln!(s, "order {id}: not among the accepted orders")?;
            write_payments(s, rec, id, payments_naming(rec, id))?;
        }
    }
    let on_order: Vec<&Finding> = rec.other_findings.iter().filter(|f| f.order_id == id).collect();
    writeln!(s)?;
    writeln!(s, "findings on the order and its payments ({})", on_order.len())?;
    write_findings(s, rec, on_order.into_iter())?;
    let unsubs: Vec<&Outcome> = order_outcomes(rec, id).collect();
    writeln!(s)?;
    writeln!(s, "unsubscriptions of {id}: {}", unsubs.len())?;
    for out in unsubs {
        writeln!(s)?;
        writeln!(s, "────────")?;
        write_unsub(s, rec, out, false)?;
    }
    Ok(())
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

fn short_json(rec: &Reconciliation, out: &Outcome) -> Value {
    let r = out.unsub as usize;
    let f = unsub_facts(&rec.inputs.unsubs, r);
    json!({
        "unsub_id": f.unsub_id,
        "order_id": f.order_id,
        "requested_at": rec.cal.format(f.requested_at),
        "status": f.status.as_str(),
        "expected_type": out.expected_type.map(|t| t.as_str()),
        "expected_refund": out.expected_type.map(|_| exact(out.amounts.refund)),
        "recorded_type": f.refund_type.filter(|_| f.completed()).map(|t| t.as_str()),
        "recorded_refund": f.refund_amount.filter(|_| f.completed()).map(exact),
        "quota_used": out.quota_used,
        "text": short_line(rec, out),
        "findings": findings_json(rec, unsub_findings(rec, out).into_iter()),
    })
}

/// `explain ACCOUNT_ID`: a short line per unsubscription in evaluation
/// order, then the findings on the account's orders and payments.
fn write_account(s: &mut String, rec: &Reconciliation, id: &str) -> std::fmt::Result {
    let unsubs: Vec<&Outcome> = account_outcomes(rec, id).collect();
    writeln!(
        s,
        "account {id}: {} unsubscription(s), in evaluation order",
        unsubs.len()
    )?;
    for out in &unsubs {
        writeln!(s, "  {}", short_line(rec, out))?;
    }
    let quota: Vec<_> = rec.quota.iter().filter(|q| q.account_id == id).collect();
    for q in quota {
        writeln!(
            s,
            "  quota {}: {} of {} unconditional refund(s) granted, {} denied by quota, {} recorded",
            q.year, q.granted, q.allowed, q.denied_by_quota, q.recorded_unconditional
        )?;
    }
    let other: Vec<&Finding> = rec.other_findings.iter().filter(|f| f.account_id == id).collect();
    writeln!(s)?;
    writeln!(s, "findings on the account's orders and payments ({})", other.len())?;
    write_findings(s, rec, other.into_iter())?;
    writeln!(s)?;
    writeln!(s, "explain UNSUB_ID shows one unsubscription's whole trail")
}
