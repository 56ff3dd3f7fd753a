//! R0 Linking: an unsubscription must point at an accepted order of its
//! own account, and an order is unsubscribed (completed) once.

use crate::rules::{Cell, Code, Finding, Step, UnsubFacts};

/// How an unsubscription links to its order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// No accepted order with U.order_id → `ORDER_NOT_FOUND`.
    OrderNotFound,
    /// U.account_id ≠ O.account_id → `ACCOUNT_MISMATCH`.
    AccountMismatch,
    /// A second or later completed U of the same order, in evaluation
    /// order → `DUPLICATE_UNSUBSCRIPTION`; expected type `duplicate`.
    Duplicate,
    /// Linked: the other rules apply.
    Linked,
}

/// R0 for one unsubscription. `order_account` is the account of the
/// accepted order (None: no such order); `completed` whether U.status is
/// `completed`; `order_already_completed` whether an earlier U of this
/// order (in evaluation order, blocked ones included) was completed.
pub fn link(u_account: &str, order_account: Option<&str>, completed: bool, order_already_completed: bool) -> Link {
    match order_account {
        None => Link::OrderNotFound,
        Some(a) if a != u_account => Link::AccountMismatch,
        Some(_) if completed && order_already_completed => Link::Duplicate,
        Some(_) => Link::Linked,
    }
}

/// R0's step: the link and, for a duplicate, the first completion's row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkStep {
    pub link: Link,
    /// Duplicate only: the unsubscription row that completed the order first.
    pub first_completion: Option<u32>,
}

/// The earlier completion of an order: its unsubscription row and id.
#[derive(Debug, Clone, Copy)]
pub struct FirstCompletion<'a> {
    pub row: u32,
    pub unsub_id: &'a str,
}

/// R0 with its findings: ORDER_NOT_FOUND, ACCOUNT_MISMATCH,
/// DUPLICATE_UNSUBSCRIPTION.
pub fn check(
    u: &UnsubFacts<'_>,
    order_account: Option<&str>,
    first: Option<FirstCompletion<'_>>,
    findings: &mut Vec<Finding>,
) -> LinkStep {
    let link = link(u.account_id, order_account, u.completed(), first.is_some());
    let mut step = LinkStep {
        link,
        first_completion: None,
    };
    match (link, order_account, first) {
        (Link::OrderNotFound, ..) => findings.push(
            Finding::new(
                Code::ORDER_NOT_FOUND,
                format!(
                    "R0: unsubscription {} names order {}, which is not an accepted order",
                    u.unsub_id, u.order_id
                ),
            )
            .field("order_id", Cell::Empty, Cell::text(u.order_id)),
        ),
        (Link::AccountMismatch, Some(owner), _) => findings.push(
            Finding::new(
                Code::ACCOUNT_MISMATCH,
                format!(
                    "R0: unsubscription {} is from account {} but order {} belongs to account {owner}",
                    u.unsub_id, u.account_id, u.order_id
                ),
            )
            .field("account_id", Cell::text(owner), Cell::text(u.account_id)),
        ),
        (Link::Duplicate, _, Some(first)) => {
            step.first_completion = Some(first.row);
            findings.push(
                Finding::new(
                    Code::DUPLICATE_UNSUBSCRIPTION,
                    format!(
                        "R0: order {} was already unsubscribed by {}; {} is a second completed unsubscription and should refund nothing",
                        u.order_id, first.unsub_id, u.unsub_id
                    ),
                )
                .field("unsub_id", Cell::text(first.unsub_id), Cell::text(u.unsub_id)),
            );
        }
        _ => {}
    }
    step
}

/// R0's trail line. `order_account` and `first_id` as in [`check`].
pub fn describe(step: &LinkStep, u: &UnsubFacts<'_>, order_account: Option<&str>, first_id: Option<&str>) -> Step {
    let line = match step.link {
        Link::OrderNotFound => format!(
            "R0 linking: no accepted order {} → ORDER_NOT_FOUND; not evaluated further",
            u.order_id
        ),
        Link::AccountMismatch => format!(
            "R0 linking: the order belongs to account {}, not {} → ACCOUNT_MISMATCH; not evaluated further",
            order_account.unwrap_or_default(),
            u.account_id
        ),
        Link::Duplicate => format!(
            "R0 linking: the order was already completed by {} → DUPLICATE_UNSUBSCRIPTION; expected type duplicate, amounts 0",
            first_id.unwrap_or_default()
        ),
        Link::Linked => "R0 linking: order found, same account, not a second completion".to_string(),
    };
    let link = match step.link {
        Link::OrderNotFound => "order_not_found",
        Link::AccountMismatch => "account_mismatch",
        Link::Duplicate => "duplicate",
        Link::Linked => "linked",
    };
    let mut s = Step::new("R0", "linking", line).value("link", link);
    if let Some(owner) = order_account {
        s = s.value("order_account_id", owner);
    }
    if let Some(first) = first_id {
        s = s.value("first_completion", first);
    }
    s
}

/// R0 in the shape every rule has ([`super::Rule`]).
pub struct R0;

/// What R0 reads: the unsubscription, its order's account (None: no
/// accepted order) and the order's first completion so far.
pub struct Facts<'a> {
    pub unsub: &'a UnsubFacts<'a>,
    pub order_account: Option<&'a str>,
    pub first: Option<FirstCompletion<'a>>,
}

impl super::Rule for R0 {
    type Facts<'a> = Facts<'a>;
    type Step = LinkStep;
    fn check(f: &Facts<'_>, _: &super::Env<'_>, findings: &mut Vec<Finding>) -> LinkStep {
        check(f.unsub, f.order_account, f.first, findings)
    }
}

/// What R0 reads and raises (docs/rules.md, checked by a test).
pub const RULE: super::declared::Rule = {
    use super::declared::{File::*, Rule};
    Rule {
        id: "R0",
        module: module_path!(),
        title: "Linking",
        columns: &[
            (Unsubscriptions, "unsub_id"),
            (Unsubscriptions, "order_id"),
            (Unsubscriptions, "account_id"),
            (Unsubscriptions, "requested_at"),
            (Unsubscriptions, "status"),
            (Orders, "order_id"),
            (Orders, "account_id"),
        ],
        via: &[],
        policy: &[],
        codes: &[
            Code::ORDER_NOT_FOUND,
            Code::ACCOUNT_MISMATCH,
            Code::DUPLICATE_UNSUBSCRIPTION,
        ],
    }
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r0_cases() {
        assert_eq!(link("A", None, true, false), Link::OrderNotFound);
        assert_eq!(link("A", Some("B"), true, false), Link::AccountMismatch);
        assert_eq!(link("A", Some("A"), true, true), Link::Duplicate);
        assert_eq!(
            link("A", Some("A"), false, true),
            Link::Linked,
            "a pending U is never a duplicate"
        );
        assert_eq!(link("A", Some("A"), true, false), Link::Linked);
        // Ids compare exactly.
        assert_eq!(link("a", Some("A"), true, false), Link::AccountMismatch);
    }

    #[test]
    fn r0_findings_name_the_ids() {
        use crate::rules::testkit::unsub;
        let u = unsub();
        let mut f = Vec::new();
        assert_eq!(check(&u, Some("A"), None, &mut f).link, Link::Linked);
        assert!(f.is_empty());
        check(&u, None, None, &mut f);
        assert_eq!(f[0].code, Code::ORDER_NOT_FOUND);
        assert_eq!((f[0].field, &f[0].recorded), ("order_id", &Cell::text("O1")));
        f.clear();
        check(&u, Some("B"), None, &mut f);
        assert_eq!(f[0].code, Code::ACCOUNT_MISMATCH);
        assert_eq!((&f[0].expected, &f[0].recorded), (&Cell::text("B"), &Cell::text("A")));
        f.clear();
        let first = FirstCompletion { row: 7, unsub_id: "U0" };
        let step = check(&u, Some("A"), Some(first), &mut f);
        assert_eq!(step.first_completion, Some(7));
        assert_eq!(f[0].code, Code::DUPLICATE_UNSUBSCRIPTION);
        assert_eq!(f[0].expected, Cell::text("U0"));
        assert!(f[0].message.contains("already unsubscribed by U0"), "{}", f[0].message);
        assert!(describe(&step, &u, Some("A"), Some("U0")).lines[0].contains("completed by U0"));
    }
}
