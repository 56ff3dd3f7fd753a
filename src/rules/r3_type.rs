//! R3 Expected refund type, first that applies: a. pay-per-use →
//! `release`; b. not yet in service → `unactivated`; c. within the window,
//! of a qualifying order type, with yearly quota left → `unconditional`;
//! d. otherwise `partial`.

use crate::config::Policy;
use crate::model::{BillingMode, ExpectedType};
use crate::rules::{Env, OrderFacts, Step};
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

/// R3's step: the decision and the values it used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypeStep {
    pub decision: TypeDecision,
    /// The calendar year of requested_at (the quota's year).
    pub year: i32,
    /// Unconditional refunds granted earlier in the account-year.
    pub granted_before: u32,
}

/// R3 for one unsubscription (no findings of its own: R7 compares the type).
pub fn check(
    order: &OrderFacts<'_>,
    requested_at: Micros,
    year: i32,
    granted_before: u32,
    policy: &Policy,
) -> TypeStep {
    TypeStep {
        decision: expected_type(order, requested_at, granted_before, policy),
        year,
        granted_before,
    }
}

/// One account-year of R3c's quota counter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QuotaYear {
    /// Whether quota_usage.csv has a row for it: an eligible U, or a
    /// completed U recorded `unconditional`.
    pub exists: bool,
    /// Eligible completed or pending Us that got the quota.
    pub granted: u32,
    /// Eligible completed or pending Us that missed it.
    pub denied: u32,
    /// Completed Us recorded `unconditional`.
    pub recorded: u32,
}

/// R3c's quota counter of one account, carried from one unsubscription to
/// the next in evaluation order: per calendar year (of requested_at), the
/// unconditional refunds granted and denied, and those recorded.
#[derive(Debug, Clone, Default)]
pub struct Quota {
    years: std::collections::BTreeMap<i32, QuotaYear>,
}

impl Quota {
    /// A completed U recorded `unconditional` in `year`, whatever R0 and R2
    /// made of it (quota_usage.csv's recorded_unconditional).
    pub fn record_unconditional(&mut self, year: i32) {
        let y = self.years.entry(year).or_default();
        y.exists = true;
        y.recorded += 1;
    }

    /// R3 on a linked, unblocked unsubscription requested in `year`, with
    /// the count so far; an eligible completed or pending one takes the
    /// quota or is denied it (a rejected one is counted in neither).
    pub fn check(
        &mut self,
        order: &OrderFacts<'_>,
        requested_at: Micros,
        rejected: bool,
        year: i32,
        env: &Env<'_>,
    ) -> TypeStep {
        let y = self.years.entry(year).or_default();
        let facts = Facts {
            order,
            requested_at,
            year,
            granted_before: y.granted,
        };
        // R3 raises no finding of its own (R7 compares the type).
        let step = <R3 as super::Rule>::check(&facts, env, &mut Vec::new());
        if step.decision.eligible {
            y.exists = true;
            if !rejected {
                if step.decision.denied_by_quota() {
                    y.denied += 1;
                } else {
                    y.granted += 1;
                }
            }
        }
        step
    }

    /// Unconditional refunds granted so far in `year` (refunds.csv's
    /// quota_used after the last U checked).
    pub fn granted(&self, year: i32) -> u32 {
        self.years.get(&year).map_or(0, |y| y.granted)
    }

    /// The years quota_usage.csv lists, in order.
    pub fn years(&self) -> impl Iterator<Item = (i32, QuotaYear)> + '_ {
        self.years.iter().filter(|(_, y)| y.exists).map(|(&year, &y)| (year, y))
    }
}

impl TypeStep {
    /// Why R3 chose the type, in the words of a finding's message.
    pub fn reason(&self, policy: &Policy) -> String {
        let window = policy.unconditional.window_hours;
        match self.decision.reason {
            TypeReason::PayPerUse => "the order is pay-per-use (R3a)".into(),
            TypeReason::NotYetInService => "the service had not started at the request (R3b)".into(),
            TypeReason::WithinWindow => {
                format!("it was requested within {window} h of purchase with quota left (R3c)")
            }
            TypeReason::NotEligible => {
                format!("it was requested more than {window} h after purchase or the order type does not qualify (R3d)")
            }
            TypeReason::QuotaExhausted => "the yearly unconditional quota was used up (R3d)".into(),
        }
    }

    /// R3's trail line for the unsubscription requested at `requested_at`
    /// (the time since purchase and whether the order type qualifies are
    /// worked out again here rather than kept on every outcome).
    pub fn describe(&self, order: &OrderFacts<'_>, requested_at: Micros, env: &Env<'_>) -> Step {
        let policy = env.policy;
        let hours = (requested_at - order.ordered_at) as f64 / HOUR as f64;
        let type_listed = policy.unconditional.order_types.contains(&order.order_type);
        let window = policy.unconditional.window_hours;
        let year = self.year;
        let why = match self.decision.reason {
            TypeReason::PayPerUse => "pay-per-use order (R3a)".to_string(),
            TypeReason::NotYetInService => format!(
                "service starts {} after the request (R3b)",
                env.cal.format(order.service_start)
            ),
            TypeReason::WithinWindow => format!(
                "{} order requested {hours:.1} h after purchase (window {window} h), quota left in {year} (R3c)",
                order.order_type
            ),
            TypeReason::QuotaExhausted => format!(
                "{} order requested {hours:.1} h after purchase (window {window} h) but the {} unconditional refund(s) of {year} were used (R3d)",
                order.order_type, policy.unconditional.per_calendar_year
            ),
            TypeReason::NotEligible if type_listed => {
                format!("requested {hours:.1} h after purchase, outside the {window} h window (R3d)")
            }
            TypeReason::NotEligible => format!(
                "order type {} does not qualify for the unconditional refund (R3d)",
                order.order_type
            ),
        };
        let clause = match self.decision.reason {
            TypeReason::PayPerUse => "R3a",
            TypeReason::NotYetInService => "R3b",
            TypeReason::WithinWindow => "R3c",
            TypeReason::NotEligible | TypeReason::QuotaExhausted => "R3d",
        };
        Step::new("R3", "type", format!("R3 type: {} — {why}", self.decision.expected))
            .value("expected_type", self.decision.expected)
            .value("clause", clause)
            .value("hours_since_purchase", format!("{hours:.1}"))
            .value("window_hours", window)
            .value("order_type_qualifies", type_listed)
            .value("quota_year", year)
            .value("granted_before", self.granted_before)
            .value("per_calendar_year", policy.unconditional.per_calendar_year)
    }
}

/// R3 in the shape every rule has ([`super::Rule`]); the account's
/// [`Quota`] counts its steps.
pub struct R3;

/// What R3 reads: the order, the request, its calendar year and the
/// unconditional refunds granted earlier that year.
pub struct Facts<'a> {
    pub order: &'a OrderFacts<'a>,
    pub requested_at: Micros,
    pub year: i32,
    pub granted_before: u32,
}

impl super::Rule for R3 {
    type Facts<'a> = Facts<'a>;
    type Step = TypeStep;
    fn check(f: &Facts<'_>, env: &Env<'_>, _: &mut Vec<super::Finding>) -> TypeStep {
        check(f.order, f.requested_at, f.year, f.granted_before, env.policy)
    }
}

/// What R3 reads and raises (docs/rules.md, checked by a test).
pub const RULE: super::declared::Rule = {
    use super::declared::{File::*, Rule, Via};
    Rule {
        id: "R3",
        module: module_path!(),
        title: "Refund type",
        columns: &[
            (Orders, "billing_mode"),
            (Orders, "service_start"),
            (Orders, "order_type"),
            (Orders, "ordered_at"),
            (Unsubscriptions, "requested_at"),
            (Unsubscriptions, "status"),
        ],
        via: &[
            Via {
                from: "R0",
                result: "link",
            },
            Via {
                from: "R2",
                result: "blocked (no quota used)",
            },
        ],
        policy: &[
            "billing_timezone",
            "unconditional.order_types",
            "unconditional.window_hours",
            "unconditional.per_calendar_year",
        ],
        codes: &[],
    }
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::OrderType;
    use crate::rules::testkit::{order, policy, t};

    /// R3c's counter: eligible Us take the quota until it is used up, then
    /// are denied; a rejected one counts in neither; recorded
    /// unconditional refunds make a row of their own; a new year starts
    /// from zero.
    #[test]
    fn the_quota_counter_grants_then_denies_per_year() {
        let p = policy(); // once a year
        crate::rules::testkit::with_env(&p, quota_counts);
    }

    fn quota_counts(env: &Env<'_>) {
        let o = order(); // new, bought 2021-09-01 10:00
        let soon = t("2021-09-02T10:00:00+08:00");
        let mut q = Quota::default();
        let first = q.check(&o, soon, true, 2021, env);
        assert_eq!(first.decision.expected, ExpectedType::Unconditional);
        assert_eq!(q.granted(2021), 0, "a rejected U takes no quota");
        let second = q.check(&o, soon, false, 2021, env);
        assert_eq!(second.decision.expected, ExpectedType::Unconditional);
        assert_eq!(q.granted(2021), 1);
        let third = q.check(&o, soon, false, 2021, env);
        assert!(third.decision.denied_by_quota());
        assert_eq!(third.granted_before, 1);
        q.record_unconditional(2020);
        let later = t("2022-01-02T10:00:00+08:00");
        let mut next_year = order();
        next_year.ordered_at = later;
        assert_eq!(
            q.check(&next_year, later, false, 2022, env).decision.expected,
            ExpectedType::Unconditional
        );
        let years: Vec<(i32, QuotaYear)> = q.years().collect();
        let row = |granted, denied, recorded| QuotaYear {
            exists: true,
            granted,
            denied,
            recorded,
        };
        assert_eq!(
            years,
            vec![(2020, row(0, 0, 1)), (2021, row(1, 1, 0)), (2022, row(1, 0, 0))]
        );
    }

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
