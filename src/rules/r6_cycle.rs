//! R6 Billing cycle: the refund counts in the month (billing time zone) in
//! which the unsubscription is approved.

use rust_decimal::Decimal;

use crate::model::Month;
use crate::rules::r5_review::ReviewStep;
use crate::rules::{Cell, Code, Env, Finding, Step, UnsubFacts};
use crate::time::{Calendar, Micros};

/// `expected_cycle = month(approved_at)`.
pub fn expected_cycle(approved_at: Micros, cal: &Calendar) -> Month {
    cal.month_of(approved_at)
}

/// `WRONG_BILLING_CYCLE`: a completed U with a recorded refund > 0 whose
/// recorded billing_cycle differs.
pub fn wrong_cycle(
    completed: bool,
    recorded_refund: Option<Decimal>,
    recorded: Option<Month>,
    expected: Month,
) -> bool {
    completed && recorded_refund.is_some_and(|r| r > Decimal::ZERO) && recorded != Some(expected)
}

/// R6 with its finding: WRONG_BILLING_CYCLE.
pub fn check(u: &UnsubFacts<'_>, review: &ReviewStep, env: &Env<'_>, findings: &mut Vec<Finding>) -> Month {
    let cycle = expected_cycle(review.approved_at, env.cal);
    if wrong_cycle(u.completed(), u.refund_amount, u.billing_cycle, cycle) {
        let recorded = u.billing_cycle.map(|m| m.to_string()).unwrap_or_default();
        findings.push(
            Finding::new(
                Code::WRONG_BILLING_CYCLE,
                format!(
                    "R6: the refund of {} counts in the month of approval {} ({}), so billing_cycle should be {cycle}, not {recorded}",
                    u.unsub_id,
                    env.cal.format(review.approved_at),
                    review.approval.words()
                ),
            )
            .field("billing_cycle", Cell::Text(cycle.to_string()), Cell::Text(recorded)),
        );
    }
    cycle
}

/// R6's trail line.
pub fn describe(cycle: Month, u: &UnsubFacts<'_>, env: &Env<'_>) -> Step {
    let recorded = u.billing_cycle.map(|m| m.to_string()).unwrap_or_else(|| "-".into());
    Step::new(
        "R6",
        "cycle",
        format!(
            "R6 cycle: month of approved_at in {} = {cycle}; recorded {recorded}",
            env.policy.billing_timezone
        ),
    )
    .value("billing_timezone", env.policy.billing_timezone)
    .value("expected_cycle", cycle)
    .value("recorded_cycle", recorded)
}

/// R6 in the shape every rule has ([`super::Rule`]).
pub struct R6;

/// What R6 reads: the unsubscription and R5's step (approved_at).
pub struct Facts<'a> {
    pub unsub: &'a UnsubFacts<'a>,
    pub review: &'a ReviewStep,
}

impl super::Rule for R6 {
    type Facts<'a> = Facts<'a>;
    type Step = Month;
    fn check(f: &Facts<'_>, env: &Env<'_>, findings: &mut Vec<Finding>) -> Month {
        check(f.unsub, f.review, env, findings)
    }
}

/// What R6 reads and raises (docs/rules.md, checked by a test).
pub const RULE: super::declared::Rule = {
    use super::declared::{File::*, Rule, Via};
    Rule {
        id: "R6",
        module: module_path!(),
        title: "Billing cycle",
        columns: &[
            (Unsubscriptions, "status"),
            (Unsubscriptions, "refund_amount"),
            (Unsubscriptions, "billing_cycle"),
        ],
        via: &[Via {
            from: "R5",
            result: "approved_at",
        }],
        policy: &["billing_timezone"],
        codes: &[Code::WRONG_BILLING_CYCLE],
    }
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testkit::{cal, d, t};

    /// Worked example 2 (docs/rules.md#example-2-time-zone-edge):
    /// 2021-09-30T16:30:00Z is 00:30 on 1 October in Shanghai.
    #[test]
    fn worked_example_2_time_zone_edge() {
        assert_eq!(expected_cycle(t("2021-09-30T16:30:00Z"), &cal()).to_string(), "2021-10");
    }

    #[test]
    fn approval_around_local_midnight_at_month_end() {
        let c = cal();
        assert_eq!(
            expected_cycle(t("2021-10-31T23:59:59+08:00"), &c).to_string(),
            "2021-10"
        );
        assert_eq!(
            expected_cycle(t("2021-11-01T00:00:00+08:00"), &c).to_string(),
            "2021-11"
        );
        assert_eq!(expected_cycle(t("2021-12-31T16:00:00Z"), &c).to_string(), "2022-01");
    }

    #[test]
    fn only_completed_refunds_are_checked() {
        let sep = Month::parse("2021-09").unwrap();
        let oct = Month::parse("2021-10").unwrap();
        assert!(wrong_cycle(true, Some(d("1")), Some(sep), oct));
        assert!(!wrong_cycle(true, Some(d("1")), Some(oct), oct));
        assert!(!wrong_cycle(true, Some(d("0")), Some(sep), oct));
        assert!(!wrong_cycle(false, Some(d("1")), Some(sep), oct));
    }

    #[test]
    fn r6_finding_names_both_months() {
        use crate::rules::r5_review::{Approval, ReviewStep};
        use crate::rules::testkit::{policy, unsub, with_env};
        let policy = policy();
        let mut u = unsub();
        u.billing_cycle = Month::parse("2021-10");
        let review = ReviewStep {
            required: false,
            approved_at: u.requested_at,
            approval: Approval::NotRequired,
        };
        let mut f = Vec::new();
        let cycle = with_env(&policy, |env| check(&u, &review, env, &mut f));
        assert_eq!(cycle.to_string(), "2021-09");
        assert_eq!(f[0].code, Code::WRONG_BILLING_CYCLE);
        assert_eq!(
            (&f[0].expected, &f[0].recorded),
            (&Cell::text("2021-09"), &Cell::text("2021-10"))
        );
    }
}
