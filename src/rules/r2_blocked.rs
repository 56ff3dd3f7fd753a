//! R2 Blocked states: self-service unsubscription is unavailable for an
//! abnormal instance state, or for an unactivated promotional order whose
//! invoice was issued. Expected outcome: rejected, type `blocked`, all 0.

use crate::model::{BillingMode, InstanceState};
use crate::rules::{Cell, Code, Finding, OrderFacts, Step, UnsubFacts};
use crate::time::Micros;

/// Why an unsubscription is blocked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blocked {
    /// instance_state ≠ normal.
    State(InstanceState),
    /// R3b would make it `unactivated`, and the order is promotional with
    /// an invoice issued.
    InvoiceIssued,
}

/// R2 for one unsubscription.
pub fn blocked(state: InstanceState, order: &OrderFacts<'_>, requested_at: Micros) -> Option<Blocked> {
    if state != InstanceState::Normal {
        return Some(Blocked::State(state));
    }
    let would_be_unactivated = order.billing_mode != BillingMode::PayPerUse && order.service_start > requested_at;
    if would_be_unactivated && order.promotional && order.invoice_issued {
        return Some(Blocked::InvoiceIssued);
    }
    None
}

/// R2 with its finding: INELIGIBLE_STATE when a blocked unsubscription was
/// completed anyway.
pub fn check(u: &UnsubFacts<'_>, order: &OrderFacts<'_>, findings: &mut Vec<Finding>) -> Option<Blocked> {
    let b = blocked(u.instance_state, order, u.requested_at)?;
    if u.completed() {
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
        findings.push(
            Finding::new(
                Code::INELIGIBLE_STATE,
                format!(
                    "R2: unsubscription {} was completed but {why}; expected rejected with no refund",
                    u.unsub_id
                ),
            )
            .field(field, Cell::text(expected), Cell::text(recorded)),
        );
    }
    Some(b)
}

/// R2's trail line.
pub fn describe(b: Option<Blocked>) -> Step {
    let (line, value) = match b {
        Some(Blocked::State(st)) => (
            format!("R2 blocked: instance_state {st} blocks self-service unsubscription → expected rejected, type blocked, amounts 0"),
            format!("instance_state {st}"),
        ),
        Some(Blocked::InvoiceIssued) => (
            "R2 blocked: unactivated promotional order with an invoice issued → expected rejected, type blocked, amounts 0".to_string(),
            "invoice_issued".to_string(),
        ),
        None => ("R2 blocked: no (instance_state normal)".to_string(), "no".to_string()),
    };
    Step::new("R2", "blocked", line).value("blocked", value)
}

/// R2 in the shape every rule has ([`super::Rule`]).
pub struct R2;

impl super::Rule for R2 {
    type Facts<'a> = super::Linked<'a>;
    type Step = Option<Blocked>;
    fn check(f: &super::Linked<'_>, _: &super::Env<'_>, findings: &mut Vec<Finding>) -> Option<Blocked> {
        check(f.unsub, f.order, findings)
    }
}

/// What R2 reads and raises (docs/rules.md, checked by a test).
pub const RULE: super::declared::Rule = {
    use super::declared::{File::*, Rule, Via};
    Rule {
        id: "R2",
        module: module_path!(),
        title: "Blocked states",
        columns: &[
            (Unsubscriptions, "instance_state"),
            (Unsubscriptions, "status"),
            (Unsubscriptions, "requested_at"),
            (Orders, "billing_mode"),
            (Orders, "service_start"),
            (Orders, "promotional"),
            (Orders, "invoice_issued"),
        ],
        via: &[Via {
            from: "R0",
            result: "link",
        }],
        policy: &[],
        codes: &[Code::INELIGIBLE_STATE],
    }
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testkit::{order, t};

    #[test]
    fn abnormal_states_block() {
        let o = order();
        let at = t("2021-09-02T10:00:00+08:00");
        for s in InstanceState::ALL {
            let b = blocked(*s, &o, at);
            assert_eq!(b.is_some(), *s != InstanceState::Normal, "{s}");
        }
    }

    #[test]
    fn promotional_invoiced_unactivated_blocks() {
        let mut o = order();
        o.service_start = t("2021-10-01T00:00:00+08:00");
        o.promotional = true;
        o.invoice_issued = true;
        let before_start = t("2021-09-15T00:00:00+08:00");
        assert_eq!(
            blocked(InstanceState::Normal, &o, before_start),
            Some(Blocked::InvoiceIssued)
        );
        // Already active: it would not be unactivated, so not blocked.
        assert_eq!(blocked(InstanceState::Normal, &o, t("2021-10-02T00:00:00+08:00")), None);
        o.invoice_issued = false;
        assert_eq!(blocked(InstanceState::Normal, &o, before_start), None);
        o.invoice_issued = true;
        o.billing_mode = BillingMode::PayPerUse;
        assert_eq!(
            blocked(InstanceState::Normal, &o, before_start),
            None,
            "R3a comes first"
        );
    }

    #[test]
    fn r2_finding_only_when_completed() {
        use crate::rules::testkit::unsub;
        let mut u = unsub();
        u.instance_state = InstanceState::LegalFrozen;
        let mut f = Vec::new();
        assert_eq!(
            check(&u, &order(), &mut f),
            Some(Blocked::State(InstanceState::LegalFrozen))
        );
        assert_eq!(f[0].code, Code::INELIGIBLE_STATE);
        assert_eq!(
            (f[0].field, &f[0].recorded),
            ("instance_state", &Cell::text("legal_frozen"))
        );
        f.clear();
        u.status = crate::model::UnsubStatus::Rejected;
        assert!(check(&u, &order(), &mut f).is_some());
        assert!(f.is_empty(), "a blocked rejection is what the policy wants");
    }
}
