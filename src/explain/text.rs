//! The text of `explain ID` for people, rendered from the [`Explanation`]
//! that `--json` prints.

use std::fmt::Write;

use super::{AccountTrail, Explanation, FindingView, OrderRow, OrderTrail, PaymentRow, UnsubRow, UnsubTrail};

/// The explanation as text.
pub fn render(e: &Explanation) -> String {
    let mut s = String::new();
    let r = match e {
        Explanation::Unsub(u) => unsub(&mut s, u, true),
        Explanation::Order(o) => order(&mut s, o),
        Explanation::Account(a) => account(&mut s, a),
    };
    r.expect("writing to a String cannot fail");
    s
}

fn or_dash(s: &str) -> &str {
    if s.is_empty() {
        "-"
    } else {
        s
    }
}

/// One unsubscription's whole trail; `with_order`: also its order and
/// payments (explain ORDER_ID shows them once, above).
fn unsub(s: &mut String, u: &UnsubTrail, with_order: bool) -> std::fmt::Result {
    unsub_row(s, &u.unsubscription, &u.as_of)?;
    writeln!(s)?;
    if with_order {
        match &u.order {
            None => writeln!(s, "order {}: not among the accepted orders", u.unsubscription.order_id)?,
            Some(o) => order_row(s, o, &u.payments)?,
        }
        writeln!(s)?;
    }
    writeln!(s, "rules")?;
    for step in &u.steps {
        let mut lines = step.lines.iter();
        if let Some(first) = lines.next() {
            writeln!(s, "  {first}")?;
        }
        for more in lines {
            writeln!(s, "              {more}")?;
        }
    }
    writeln!(s)?;
    writeln!(s, "findings ({})", u.findings.len())?;
    if u.findings.is_empty() {
        writeln!(s, "  none: the recorded values match the policy")?;
    }
    findings(s, &u.findings)
}

/// Findings as explain lists them: severity, code, field, expected and
/// recorded as in discrepancies.csv (`-` for an empty cell), the message.
fn findings(s: &mut String, findings: &[FindingView]) -> std::fmt::Result {
    for f in findings {
        let cell = |name: &str| or_dash(f.cells.get(name).map(String::as_str).unwrap_or("")).to_string();
        writeln!(
            s,
            "  {} {} [{}]: expected {}, recorded {}\n    {}\n    finding_id {}",
            f.severity,
            f.code,
            f.field,
            cell("expected"),
            cell("recorded"),
            f.message,
            cell("finding_id")
        )?;
    }
    Ok(())
}

fn unsub_row(s: &mut String, u: &UnsubRow, as_of: &str) -> std::fmt::Result {
    writeln!(s, "unsubscription {}  ({} line {})", u.unsub_id, u.path, u.line)?;
    writeln!(
        s,
        "  account {}, order {}, batch {}, status {}, instance_state {}",
        u.account_id,
        u.order_id,
        or_dash(&u.batch_id),
        u.status,
        u.instance_state
    )?;
    writeln!(
        s,
        "  requested_at {}, reviewed_at {}, completed_at {}, refunded_at {}",
        u.requested_at,
        or_dash(&u.reviewed_at),
        or_dash(&u.completed_at),
        or_dash(&u.refunded_at)
    )?;
    if u.completed {
        writeln!(
            s,
            "  recorded: type {}, refund {}, fee {}, coupon returned {}, destination {}, billing_cycle {}",
            or_dash(u.refund_type),
            u.refund_amount,
            u.handling_fee,
            u.coupon_returned,
            or_dash(&u.refund_destination),
            or_dash(&u.billing_cycle)
        )?;
    } else {
        writeln!(
            s,
            "  recorded amounts: none ({} rows carry none; any given are ignored)",
            u.status
        )?;
    }
    writeln!(s, "  as_of {as_of}")
}

fn order_row(s: &mut String, o: &OrderRow, payments: &[PaymentRow]) -> std::fmt::Result {
    writeln!(s, "order {}  ({} line {})", o.order_id, o.path, o.line)?;
    writeln!(
        s,
        "  account {}, instance {}, product {:?}, {} {} {}",
        o.account_id, o.instance_id, o.product, o.item_kind, o.billing_mode, o.order_type
    )?;
    writeln!(
        s,
        "  ordered_at {}, service {} → {}",
        o.ordered_at, o.service_start, o.service_end
    )?;
    writeln!(
        s,
        "  amount {} {}, coupon {}, cash_due {}, promotional {}, invoice_issued {}",
        o.amount, o.currency, o.coupon_amount, o.cash_due, o.promotional, o.invoice_issued
    )?;
    payment_lines(s, &o.order_id, payments)?;
    let original = match (&o.original_method, &o.original_payment_id) {
        (Some(method), Some(id)) => format!("{method} ({id})"),
        _ => "none (no succeeded payment of its own)".to_string(),
    };
    writeln!(
        s,
        "  cash_paid {} (R1); original payment method {original}",
        o.cash_paid
    )
}

/// "payments naming ORDER:" and one line per payment row (or "none").
fn payment_lines(s: &mut String, order_id: &str, payments: &[PaymentRow]) -> std::fmt::Result {
    writeln!(s, "payments naming {order_id}:")?;
    if payments.is_empty() {
        writeln!(s, "  none")?;
    }
    for p in payments {
        writeln!(
            s,
            "  {} {} {} {} via {} at {} ({})",
            p.payment_id, p.status, p.amount, p.currency, p.method, p.paid_at, p.r1
        )?;
    }
    Ok(())
}

/// `explain ORDER_ID`: the order, its payments, the findings on the order
/// and its payments, and the full trail of each of its unsubscriptions.
fn order(s: &mut String, o: &OrderTrail) -> std::fmt::Result {
    match &o.order {
        Some(row) => order_row(s, row, &o.payments)?,
        None => {
            writeln!(s, "order {}: not among the accepted orders", o.order_id)?;
            payment_lines(s, &o.order_id, &o.payments)?;
        }
    }
    writeln!(s)?;
    writeln!(s, "findings on the order and its payments ({})", o.findings.len())?;
    findings(s, &o.findings)?;
    writeln!(s)?;
    writeln!(s, "unsubscriptions of {}: {}", o.order_id, o.unsubscriptions.len())?;
    for u in &o.unsubscriptions {
        writeln!(s)?;
        writeln!(s, "────────")?;
        unsub(s, u, false)?;
    }
    Ok(())
}

/// `explain ACCOUNT_ID`: a short line per unsubscription in evaluation
/// order, the quota per year, then the findings on the account's orders
/// and payments.
fn account(s: &mut String, a: &AccountTrail) -> std::fmt::Result {
    writeln!(
        s,
        "account {}: {} unsubscription(s), in evaluation order",
        a.account_id,
        a.unsubscriptions.len()
    )?;
    for u in &a.unsubscriptions {
        writeln!(s, "  {}", u.text)?;
    }
    for q in &a.quota {
        writeln!(
            s,
            "  quota {}: {} of {} unconditional refund(s) granted, {} denied by quota, {} recorded",
            q.year, q.granted, q.allowed, q.denied_by_quota, q.recorded_unconditional
        )?;
    }
    writeln!(s)?;
    writeln!(
        s,
        "findings on the account's orders and payments ({})",
        a.findings.len()
    )?;
    findings(s, &a.findings)?;
    writeln!(s)?;
    writeln!(s, "explain UNSUB_ID shows one unsubscription's whole trail")
}
