//! `explain UNSUB_ID`: the rule trail of one unsubscription — its order and
//! payments, each rule with the values it used, expected vs recorded, and
//! the findings — so an analyst can answer "why" without reading code.

use std::fmt::Write;

use crate::engine::{Outcome, Reconciliation, NONE};
use crate::model::{ExpectedType, UnsubStatus};
use crate::money::format_exact as exact;
use crate::rules::r0_linking::Link;
use crate::rules::r2_blocked::Blocked;
use crate::rules::r3_type::TypeReason;
use crate::rules::r4_amounts;
use crate::rules::r5_review::Approval;
use crate::rules::{r8_destination, r9_deadline, Cell};
use crate::time::HOUR;

fn opt_ts(rec: &Reconciliation, t: Option<i64>) -> String {
    t.map(|t| rec.cal.format(t)).unwrap_or_else(|| "-".into())
}

fn or_dash(s: &str) -> &str {
    if s.is_empty() {
        "-"
    } else {
        s
    }
}

/// The trail as text, or None when the id is not an accepted unsubscription.
pub fn trail(rec: &Reconciliation, unsub_id: &str) -> Option<String> {
    let out = rec.outcome_of(unsub_id)?;
    let mut s = String::new();
    write_trail(&mut s, rec, out).expect("writing to a String cannot fail");
    Some(s)
}

fn write_trail(s: &mut String, rec: &Reconciliation, out: &Outcome) -> std::fmt::Result {
    let u = &rec.inputs.unsubs;
    let r = out.unsub as usize;
    let cal = &rec.cal;
    let policy = &rec.policy;
    let id = u.unsub_id.view().get(r);
    let money = |v: rust_decimal::Decimal| exact(v);
    writeln!(
        s,
        "unsubscription {id}  ({} line {})",
        rec.inputs.metas.unsubs.path.display(),
        u.line[r]
    )?;
    writeln!(
        s,
        "  account {}, order {}, batch {}, status {}, instance_state {}",
        u.account_id.view().get(r),
        u.order_id.view().get(r),
        or_dash(u.batch_id.view().get(r)),
        u.status[r],
        u.instance_state[r]
    )?;
    writeln!(
        s,
        "  requested_at {}, reviewed_at {}, completed_at {}, refunded_at {}",
        cal.format(u.requested_at[r]),
        opt_ts(rec, u.reviewed_at[r]),
        opt_ts(rec, u.completed_at[r]),
        opt_ts(rec, u.refunded_at[r])
    )?;
    if u.status[r] == UnsubStatus::Completed {
        writeln!(
            s,
            "  recorded: type {}, refund {}, fee {}, coupon returned {}, destination {}, billing_cycle {}",
            u.refund_type[r].map(|t| t.as_str()).unwrap_or("-"),
            u.refund_amount[r].map(money).unwrap_or_default(),
            u.handling_fee[r].map(money).unwrap_or_default(),
            u.coupon_returned[r].map(money).unwrap_or_default(),
            or_dash(u.refund_destination.view().get(r)),
            u.billing_cycle[r].map(|m| m.to_string()).unwrap_or_else(|| "-".into())
        )?;
    } else {
        writeln!(
            s,
            "  recorded amounts: none ({} rows carry none; any given are ignored)",
            u.status[r]
        )?;
    }
    writeln!(s, "  as_of {}", cal.format(rec.as_of))?;

    let oi = rec.order_of_unsub[r];
    writeln!(s)?;
    if oi == NONE {
        writeln!(s, "order {}: not among the accepted orders", u.order_id.view().get(r))?;
    } else {
        let o = rec.order_facts(oi as usize);
        writeln!(
            s,
            "order {}  ({} line {})",
            o.order_id,
            rec.inputs.metas.orders.path.display(),
            rec.inputs.orders.line[oi as usize]
        )?;
        writeln!(
            s,
            "  account {}, instance {}, product {:?}, {} {} {}",
            o.account_id,
            o.instance_id,
            rec.inputs.orders.product.view().get(oi as usize),
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
            money(o.amount),
            o.currency,
            money(o.coupon_amount),
            money(o.cash_due()),
            o.promotional,
            o.invoice_issued
        )?;
        writeln!(s, "payments naming {}:", o.order_id)?;
        let p = &rec.inputs.payments;
        let mut any = false;
        for (i, _) in rec.order_of_payment.iter().enumerate().filter(|(_, &x)| x == oi) {
            any = true;
            let c = rec.pay.checks[i];
            let note = if !c.belongs() {
                "left out: other account or currency"
            } else if p.status[i] == crate::model::PaymentStatus::Succeeded {
                "counts"
            } else {
                "failed: does not count"
            };
            writeln!(
                s,
                "  {} {} {} {} via {} at {} ({note})",
                p.payment_id.view().get(i),
                p.status[i],
                money(p.amount[i]),
                p.currency[i],
                p.method.view().get(i),
                cal.format(p.paid_at[i])
            )?;
        }
        if !any {
            writeln!(s, "  none")?;
        }
        let orig = rec.pay.original[oi as usize];
        writeln!(
            s,
            "  cash_paid {} (R1); original payment method {}",
            money(rec.pay.cash_paid[oi as usize]),
            if orig == NONE {
                "none (no succeeded payment of its own)".to_string()
            } else {
                format!(
                    "{} ({})",
                    p.method.view().get(orig as usize),
                    p.payment_id.view().get(orig as usize)
                )
            }
        )?;
    }

    writeln!(s)?;
    writeln!(s, "rules")?;
    match out.link {
        Link::OrderNotFound => {
            writeln!(
                s,
                "  R0 linking: no accepted order {} → ORDER_NOT_FOUND; not evaluated further",
                u.order_id.view().get(r)
            )?;
        }
        Link::AccountMismatch => {
            let o = rec.order_facts(oi as usize);
            writeln!(
                s,
                "  R0 linking: the order belongs to account {}, not {} → ACCOUNT_MISMATCH; not evaluated further",
                o.account_id,
                u.account_id.view().get(r)
            )?;
        }
        Link::Duplicate => {
            writeln!(
                s,
                "  R0 linking: the order was already completed by {} → DUPLICATE_UNSUBSCRIPTION; expected type duplicate, amounts 0",
                u.unsub_id.view().get(out.first_completion as usize)
            )?;
        }
        Link::Linked => {
            writeln!(s, "  R0 linking: order found, same account, not a second completion")?;
        }
    }
    if out.link == Link::Linked {
        let o = rec.order_facts(oi as usize);
        match out.blocked {
            Some(Blocked::State(st)) => {
                writeln!(s, "  R2 blocked: instance_state {st} blocks self-service unsubscription → expected rejected, type blocked, amounts 0")?
            }
            Some(Blocked::InvoiceIssued) => writeln!(
                s,
                "  R2 blocked: unactivated promotional order with an invoice issued → expected rejected, type blocked, amounts 0"
            )?,
            None => writeln!(s, "  R2 blocked: no (instance_state normal)")?,
        }
        if let Some(d) = out.decision {
            let hours = (u.requested_at[r] - o.ordered_at) as f64 / HOUR as f64;
            let window = policy.unconditional.window_hours;
            let year = cal.year_of(u.requested_at[r]);
            let why = match d.reason {
                TypeReason::PayPerUse => "pay-per-use order (R3a)".to_string(),
                TypeReason::NotYetInService => {
                    format!("service starts {} after the request (R3b)", cal.format(o.service_start))
                }
                TypeReason::WithinWindow => format!(
                    "{} order requested {hours:.1} h after purchase (window {window} h), quota left in {year} (R3c)",
                    o.order_type
                ),
                TypeReason::QuotaExhausted => format!(
                    "{} order requested {hours:.1} h after purchase (window {window} h) but the {} unconditional refund(s) of {year} were used (R3d)",
                    o.order_type, policy.unconditional.per_calendar_year
                ),
                TypeReason::NotEligible => {
                    let listed = policy.unconditional.order_types.contains(&o.order_type);
                    if listed {
                        format!("requested {hours:.1} h after purchase, outside the {window} h window (R3d)")
                    } else {
                        format!("order type {} does not qualify for the unconditional refund (R3d)", o.order_type)
                    }
                }
            };
            writeln!(s, "  R3 type: {} — {why}", d.expected)?;
        }
        if let Some(ty) = out
            .expected_type
            .filter(|t| !matches!(t, ExpectedType::Blocked | ExpectedType::Duplicate))
        {
            let Ok(a) = r4_amounts::expected_amounts(ty, &o, u.requested_at[r], policy) else {
                // The run refuses such a row before explain gets here.
                return Ok(());
            };
            match &a.partial {
                Some(c) => {
                    writeln!(
                        s,
                        "  R4 amounts: partial — term {} {unit}s, used {} {unit}s (rounded {}); gross = round({} × {}/{}) = {}",
                        c.total,
                        c.used,
                        if policy.partial.round_up { "up" } else { "down" },
                        money(o.cash_due()),
                        c.total - c.used,
                        c.total,
                        money(c.gross),
                        unit = c.unit.as_str()
                    )?;
                    let tier = match c.tier {
                        Some(i) => format!("fee tier {} (term {} d, used {} d)", i + 1, c.term_days, c.used_days),
                        None => format!(
                            "no fee tier (term {} d, used {} d): flat rate",
                            c.term_days, c.used_days
                        ),
                    };
                    writeln!(
                        s,
                        "              {tier} {} → fee round({} × {}) = {}; refund max(0, gross − fee) = {}, fee charged {}",
                        money(c.rate),
                        money(c.rate),
                        money(o.cash_due()),
                        money(c.fee),
                        money(a.refund),
                        money(a.fee)
                    )?;
                }
                None => writeln!(
                    s,
                    "  R4 amounts: {ty} — refund {}, fee {}, coupon returned {}",
                    money(a.refund),
                    money(a.fee),
                    money(a.coupon)
                )?,
            }
        }
        if let (Some(req), Some((at, how))) = (out.review_required, out.approval) {
            let threshold = policy.review.thresholds.get(&o.currency).copied().unwrap_or_default();
            let how = match how {
                Approval::NotRequired => "approved_at = requested_at".to_string(),
                Approval::Reviewed => "reviewed within the window: approved_at = reviewed_at".to_string(),
                Approval::AutoApproved => format!(
                    "not reviewed within {} h: auto-approved at requested_at + {} h",
                    policy.review.auto_approve_hours, policy.review.auto_approve_hours
                ),
            };
            writeln!(
                s,
                "  R5 review: amount {} {} {} threshold {} → review {}; {how} = {}",
                money(o.amount),
                o.currency,
                if req { ">" } else { "≤" },
                money(threshold),
                if req { "required" } else { "not required" },
                cal.format(at)
            )?;
        }
        if let Some(cycle) = out.expected_cycle {
            writeln!(
                s,
                "  R6 cycle: month of approved_at in {} = {cycle}; recorded {}",
                policy.billing_timezone,
                u.billing_cycle[r].map(|m| m.to_string()).unwrap_or_else(|| "-".into())
            )?;
        }
        if out.evaluated() {
            writeln!(
                s,
                "  R7 expected vs recorded: type {} / {}, refund {} / {}, fee {} / {}, coupon {} / {} (tolerance {})",
                out.expected_type.map(|t| t.as_str()).unwrap_or("-"),
                u.refund_type[r].map(|t| t.as_str()).unwrap_or("-"),
                money(out.refund),
                u.refund_amount[r].map(money).unwrap_or_else(|| "-".into()),
                money(out.fee),
                u.handling_fee[r].map(money).unwrap_or_else(|| "-".into()),
                money(out.coupon),
                u.coupon_returned[r].map(money).unwrap_or_else(|| "-".into()),
                money(policy.amount_tolerance)
            )?;
            let recorded_refund = u.refund_amount[r].unwrap_or_default();
            if u.status[r] == UnsubStatus::Completed && recorded_refund > rust_decimal::Decimal::ZERO {
                let orig = rec.pay.original[oi as usize];
                let original = (orig != NONE).then(|| rec.inputs.payments.method.view().get(orig as usize));
                let dest = u.refund_destination.view().get(r);
                let verdict = r8_destination::destination_finding(dest, original, &policy.refund.fallback_destination)
                    .map(|c| c.as_str())
                    .unwrap_or("ok");
                writeln!(
                    s,
                    "  R8 destination: recorded {dest}, original {} → {verdict}",
                    original.unwrap_or("none")
                )?;
                if let (Some(deadline), Some((at, _))) = (out.deadline, out.approval) {
                    let verdict = r9_deadline::deadline_finding(deadline, u.refunded_at[r], rec.as_of, cal)
                        .map(|(c, n)| {
                            if n > 0 {
                                format!("{} ({n} business day(s) late)", c.as_str())
                            } else {
                                c.as_str().to_string()
                            }
                        })
                        .unwrap_or_else(|| "on time".into());
                    writeln!(
                        s,
                        "  R9 deadline: {} business day(s) after {} → {}; refunded_at {} → {verdict}",
                        policy.refund.sla_business_days,
                        cal.local_date(at),
                        cal.format(deadline),
                        opt_ts(rec, u.refunded_at[r])
                    )?;
                }
            } else if let Some(deadline) = out.deadline {
                writeln!(
                    s,
                    "  R8/R9: no recorded refund paid out; the refund would be due by {}",
                    cal.format(deadline)
                )?;
            } else {
                writeln!(s, "  R8/R9: nothing to pay out")?;
            }
            if let Some(q) = out.quota_used {
                writeln!(
                    s,
                    "  quota: {q} of {} unconditional refund(s) used in {} after this unsubscription",
                    policy.unconditional.per_calendar_year,
                    cal.year_of(u.requested_at[r])
                )?;
            }
        }
    }
    let batch = u.batch_id.view().get(r);
    if !batch.is_empty() {
        writeln!(
            s,
            "  R11 batch {batch}: compared with the batch's first row by unsub_id"
        )?;
    }

    writeln!(s)?;
    writeln!(s, "findings ({})", out.findings.len())?;
    if out.findings.is_empty() {
        writeln!(s, "  none: the recorded values match the policy")?;
    }
    for f in &out.findings {
        let show = |c: &Cell| match c {
            Cell::Empty => "-".to_string(),
            Cell::Text(t) => t.clone(),
            Cell::Amount(v) => exact(*v),
            Cell::Count(n) => n.to_string(),
        };
        writeln!(
            s,
            "  {} {} [{}]: expected {}, recorded {}\n    {}",
            f.severity().as_str(),
            f.code.as_str(),
            f.field,
            show(&f.expected),
            show(&f.recorded),
            f.message
        )?;
    }
    Ok(())
}
