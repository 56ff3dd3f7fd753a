//! R3 Expected refund type, first that applies: a. pay-per-use →
//! `release`; b. not yet in service → `unactivated`; c. within the window,
//! of a qualifying order type, with yearly quota left → `unconditional`;
//! d. otherwise `partial`.

use crate::config::Policy;
use crate::model::{BillingMode, ExpectedType};
use crate::rules::OrderFacts;
use crate::time::{Micros, HOUR};

/// Which clause of R3 decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeReason {
    PayPerUse,
    NotYetInService,
    /// R3c: eligible and quota left.
    WithinWindow,
    /// R3c's order-type or window test failed.
    NotEligible,
    /// Eligible, but the account's yearly quota was used up.
    QuotaExhausted,
}

/// R3's decision for one unsubscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypeDecision {
    pub expected: ExpectedType,
    pub reason: TypeReason,
    /// Reached R3c and met its order-type and window tests.
    pub eligible: bool,
}

impl TypeDecision {
    /// Eligible but refused only for lack of quota.
    pub fn denied_by_quota(&self) -> bool {
        self.reason == TypeReason::QuotaExhausted
    }
}

/// R3c's order-type and window tests (a request before ordered_at counts
/// as inside the window).
pub fn within_window(order: &OrderFacts<'_>, requested_at: Micros, policy: &Policy) -> bool {
    policy.unconditional.order_types.contains(&order.order_type)
        && requested_at - order.ordered_at <= policy.unconditional.window_hours * HOUR
}

/// R3 for one unsubscription; `granted_this_year` is how many earlier Us of
/// the account in the calendar year of requested_at were expected
/// `unconditional` and were not blocked or rejected.
pub fn expected_type(
    order: &OrderFacts<'_>,
    requested_at: Micros,
    granted_this_year: u32,
    policy: &Policy,
) -> TypeDecision {
    let decide = |expected, reason, eligible| TypeDecision {
        expected,
        reason,
        eligible,
    };
    if order.billing_mode == BillingMode::PayPerUse {
        return decide(ExpectedType::Release, TypeReason::PayPerUse, false);
    }
    if order.service_start > requested_at {
        return decide(ExpectedType::Unactivated, TypeReason::NotYetInService, false);
    }
    if !within_window(order, requested_at, policy) {
        return decide(ExpectedType::Partial, TypeReason::NotEligible, false);
    }
    if granted_this_year < policy.unconditional.per_calendar_year {
        decide(ExpectedType::Unconditional, TypeReason::WithinWindow, true)
    } else {
        decide(ExpectedType::Partial, TypeReason::QuotaExhausted, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::OrderType;
    use crate::rules::testkit::{order, policy, t};

    #[test]
    fn pay_per_use_is_release_first() {
        let mut o = order();
        o.billing_mode = BillingMode::PayPerUse;
        o.service_start = t("2030-01-01T00:00:00Z");
        let d = expected_type(&o, t("2021-09-02T00:00:00+08:00"), 0, &policy());
        assert_eq!(d.expected, ExpectedType::Release);
        assert!(!d.eligible);
    }

    #[test]
    fn future_service_is_unactivated() {
        let mut o = order();
        o.order_type = OrderType::Renewal;
        o.service_start = t("2021-10-01T00:00:00+08:00");
        let d = expected_type(&o, t("2021-09-30T23:59:59+08:00"), 0, &policy());
        assert_eq!(d.expected, ExpectedType::Unactivated);
        // Starting exactly at the request: in service, not unactivated.
        let d = expected_type(&o, t("2021-10-01T00:00:00+08:00"), 0, &policy());
        assert_eq!(d.expected, ExpectedType::Partial);
    }

    #[test]
    fn window_boundary_is_inclusive() {
        let o = order(); // ordered and started 2021-09-01T10:00+08:00
        let p = policy();
        let exactly = o.ordered_at + 120 * HOUR;
        assert_eq!(expected_type(&o, exactly, 0, &p).expected, ExpectedType::Unconditional);
        let d = expected_type(&o, exactly + 1, 0, &p);
        assert_eq!(d.expected, ExpectedType::Partial);
        assert_eq!(d.reason, TypeReason::NotEligible);
        // A request before ordered_at counts as inside the window.
        let mut early = order();
        early.service_start = early.ordered_at - 10 * HOUR;
        assert_eq!(
            expected_type(&early, early.ordered_at - HOUR, 0, &p).expected,
            ExpectedType::Unconditional
        );
    }

    #[test]
    fn only_listed_order_types_qualify() {
        let mut o = order();
        o.order_type = OrderType::Upgrade;
        assert_eq!(
            expected_type(&o, o.ordered_at + HOUR, 0, &policy()).expected,
            ExpectedType::Partial
        );
    }

    #[test]
    fn quota_exhausted_is_partial_and_flagged() {
        let o = order();
        let d = expected_type(&o, o.ordered_at + HOUR, 1, &policy());
        assert_eq!(d.expected, ExpectedType::Partial);
        assert!(d.eligible && d.denied_by_quota());
        let mut ten = policy();
        ten.unconditional.per_calendar_year = 10;
        assert_eq!(
            expected_type(&o, o.ordered_at + HOUR, 9, &ten).expected,
            ExpectedType::Unconditional
        );
        assert!(expected_type(&o, o.ordered_at + HOUR, 10, &ten).denied_by_quota());
    }
}
