//! R7 Recorded vs expected: type, refund, fee and coupon of a completed
//! unsubscription; refunds above what was paid; rejections that should
//! have paid out.

use rust_decimal::Decimal;

use crate::model::{ExpectedType, RefundType, UnsubStatus};
use crate::money::format_exact as exact;
use crate::rules::r3_type::TypeStep;
use crate::rules::r4_amounts::{self, Amounts};
use crate::rules::{Cell, Code, Env, Finding, OrderFacts, Step, UnsubFacts};

/// Whether two amounts match: `|recorded − expected| ≤ tolerance`.
pub fn amounts_match(expected: Decimal, recorded: Decimal, tolerance: Decimal) -> bool {
    (recorded - expected).abs() <= tolerance
}

/// The type finding, if any: `QUOTA_EXCEEDED` when the only reason is an
/// exhausted quota (recorded `unconditional`, would be with quota left),
/// else `REFUND_TYPE_MISMATCH`.
pub fn type_finding(expected: ExpectedType, denied_by_quota: bool, recorded: RefundType) -> Option<Code> {
    if expected.matches(recorded) {
        None
    } else if denied_by_quota && recorded == RefundType::Unconditional {
        Some(Code::QUOTA_EXCEEDED)
    } else {
        Some(Code::REFUND_TYPE_MISMATCH)
    }
}

/// `REFUND_EXCEEDS_PAID`: recorded refund > cash_paid + tolerance.
pub fn exceeds_paid(recorded_refund: Decimal, cash_paid: Decimal, tolerance: Decimal) -> bool {
    recorded_refund > cash_paid + tolerance
}

/// `UNEXPECTED_REJECTION`: rejected, not blocked, expected refund > 0.
pub fn unexpected_rejection(rejected: bool, blocked: bool, expected_refund: Decimal) -> bool {
    rejected && !blocked && expected_refund > Decimal::ZERO
}

/// R7 with its findings: REFUND_TYPE_MISMATCH or QUOTA_EXCEEDED, the three
/// amount mismatches and REFUND_EXCEEDS_PAID (completed rows), and
/// UNEXPECTED_REJECTION.
pub fn check(
    u: &UnsubFacts<'_>,
    order: &OrderFacts<'_>,
    ty: &TypeStep,
    a: &Amounts,
    cash_paid: Decimal,
    env: &Env<'_>,
    findings: &mut Vec<Finding>,
) {
    let policy = env.policy;
    let expected = ty.decision.expected;
    if u.completed() {
        // A mapped export may have no refund_type (docs/mapping.md): the
        // amounts are still compared.
        if let Some(recorded) = u.refund_type {
            if let Some(code) = type_finding(expected, ty.decision.denied_by_quota(), recorded) {
                let why = match code {
                    Code::QUOTA_EXCEEDED => format!(
                        "the account already used its {} unconditional refund(s) of {}",
                        policy.unconditional.per_calendar_year, ty.year
                    ),
                    _ => ty.reason(policy),
                };
                findings.push(
                    Finding::new(
                        code,
                        format!(
                            "R3/R7: unsubscription {} was recorded {recorded} but should be {expected} because {why}",
                            u.unsub_id
                        ),
                    )
                    .field(
                        "refund_type",
                        Cell::text(expected.as_str()),
                        Cell::text(recorded.as_str()),
                    ),
                );
            }
        }
        amount_findings(u, order, expected, a, env, findings);
        let recorded_refund = u.recorded_refund();
        if exceeds_paid(recorded_refund, cash_paid, policy.amount_tolerance) {
            findings.push(
                Finding::new(
                    Code::REFUND_EXCEEDS_PAID,
                    format!(
                        "R7: unsubscription {} refunds {} but order {} was paid only {} in succeeded payments",
                        u.unsub_id,
                        exact(recorded_refund),
                        order.order_id,
                        exact(cash_paid)
                    ),
                )
                .amounts("refund_amount", cash_paid, recorded_refund),
            );
        }
    }
    if unexpected_rejection(u.status == UnsubStatus::Rejected, false, a.refund) {
        findings.push(
            Finding::new(
                Code::UNEXPECTED_REJECTION,
                format!(
                    "R7: unsubscription {} was rejected although nothing blocks it and a {expected} refund of {} {} was due",
                    u.unsub_id,
                    exact(a.refund),
                    order.currency
                ),
            )
            .field("status", Cell::text("completed"), Cell::text("rejected")),
        );
    }
}

/// Refund, fee and coupon of a completed row against R4.
fn amount_findings(
    u: &UnsubFacts<'_>,
    order: &OrderFacts<'_>,
    ty: ExpectedType,
    a: &Amounts,
    env: &Env<'_>,
    findings: &mut Vec<Finding>,
) {
    let checks = [
        (Code::REFUND_AMOUNT_MISMATCH, "refund_amount", a.refund, u.refund_amount),
        (Code::HANDLING_FEE_MISMATCH, "handling_fee", a.fee, u.handling_fee),
        (
            Code::COUPON_RETURN_MISMATCH,
            "coupon_returned",
            a.coupon,
            u.coupon_returned,
        ),
    ];
    for (code, field, expected, recorded) in checks {
        // Completed rows always carry the three amounts (ingest checks it).
        let Some(recorded) = recorded else { continue };
        if !amounts_match(expected, recorded, env.policy.amount_tolerance) {
            findings.push(
                Finding::new(
                    code,
                    format!(
                        "R4/R7: {field} of {} recorded {} but the expected {ty} amount is {} ({})",
                        u.unsub_id,
                        exact(recorded),
                        exact(expected),
                        r4_amounts::basis(field, ty, order, env.policy)
                    ),
                )
                .amounts(field, expected, recorded),
            );
        }
    }
}

/// R7's trail line: expected against recorded.
pub fn describe(u: &UnsubFacts<'_>, ty: ExpectedType, a: &Amounts, cash_paid: Decimal, env: &Env<'_>) -> Step {
    let rec = |v: Option<Decimal>| v.map(exact).unwrap_or_else(|| "-".into());
    let recorded_type = u.refund_type.map(|t| t.as_str()).unwrap_or("-");
    let tolerance = exact(env.policy.amount_tolerance);
    Step::new(
        "R7",
        "recorded",
        format!(
            "R7 expected vs recorded: type {ty} / {recorded_type}, refund {} / {}, fee {} / {}, coupon {} / {} (tolerance {tolerance})",
            exact(a.refund),
            rec(u.refund_amount),
            exact(a.fee),
            rec(u.handling_fee),
            exact(a.coupon),
            rec(u.coupon_returned),
        ),
    )
    .value("expected_type", ty)
    .value("recorded_type", recorded_type)
    .value("expected_refund", exact(a.refund))
    .value("recorded_refund", rec(u.refund_amount))
    .value("expected_fee", exact(a.fee))
    .value("recorded_fee", rec(u.handling_fee))
    .value("expected_coupon", exact(a.coupon))
    .value("recorded_coupon", rec(u.coupon_returned))
    .value("cash_paid", exact(cash_paid))
    .value("tolerance", tolerance)
}

/// R7 in the shape every rule has ([`super::Rule`]): findings only.
pub struct R7;

/// What R7 reads: the linked unsubscription, R3's step, R4's amounts and
/// R1's cash_paid of the order.
pub struct Facts<'a> {
    pub linked: super::Linked<'a>,
    pub type_step: &'a TypeStep,
    pub amounts: &'a Amounts,
    pub cash_paid: Decimal,
}

impl super::Rule for R7 {
    type Facts<'a> = Facts<'a>;
    type Step = ();
    fn check(f: &Facts<'_>, env: &Env<'_>, findings: &mut Vec<Finding>) {
        check(
            f.linked.unsub,
            f.linked.order,
            f.type_step,
            f.amounts,
            f.cash_paid,
            env,
            findings,
        )
    }
}

/// What R7 reads and raises (docs/rules.md, checked by a test).
pub const RULE: super::declared::Rule = {
    use super::declared::{File::*, Rule, Via};
    Rule {
        id: "R7",
        module: module_path!(),
        title: "Recorded vs expected",
        columns: &[
            (Unsubscriptions, "status"),
            (Unsubscriptions, "refund_type"),
            (Unsubscriptions, "refund_amount"),
            (Unsubscriptions, "handling_fee"),
            (Unsubscriptions, "coupon_returned"),
        ],
        via: &[
            Via {
                from: "R1",
                result: "cash_paid",
            },
            Via {
                from: "R3",
                result: "expected type and quota",
            },
            Via {
                from: "R4",
                result: "expected amounts",
            },
        ],
        policy: &["amount_tolerance", "unconditional.per_calendar_year"],
        codes: &[
            Code::REFUND_TYPE_MISMATCH,
            Code::QUOTA_EXCEEDED,
            Code::REFUND_AMOUNT_MISMATCH,
            Code::HANDLING_FEE_MISMATCH,
            Code::COUPON_RETURN_MISMATCH,
            Code::REFUND_EXCEEDS_PAID,
            Code::UNEXPECTED_REJECTION,
        ],
    }
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testkit::d;

    #[test]
    fn tolerance_is_inclusive() {
        assert!(amounts_match(d("10.00"), d("10.01"), d("0.01")));
        assert!(!amounts_match(d("10.00"), d("10.02"), d("0.01")));
        assert!(amounts_match(d("10"), d("10.000"), d("0")));
    }

    /// Worked example 3 (docs/rules.md#example-3-quota), the second
    /// unsubscription: partial only because the quota is used, recorded
    /// unconditional.
    #[test]
    fn worked_example_3_quota_exceeded_code() {
        assert_eq!(
            type_finding(ExpectedType::Partial, true, RefundType::Unconditional),
            Some(Code::QUOTA_EXCEEDED)
        );
        assert_eq!(
            type_finding(ExpectedType::Partial, false, RefundType::Unconditional),
            Some(Code::REFUND_TYPE_MISMATCH)
        );
        assert_eq!(
            type_finding(ExpectedType::Partial, true, RefundType::Unactivated),
            Some(Code::REFUND_TYPE_MISMATCH)
        );
        assert_eq!(type_finding(ExpectedType::Partial, true, RefundType::Partial), None);
        assert_eq!(
            type_finding(ExpectedType::Release, false, RefundType::Partial),
            Some(Code::REFUND_TYPE_MISMATCH)
        );
    }

    #[test]
    fn paid_and_rejection_checks() {
        assert!(exceeds_paid(d("100.01"), d("100"), d("0")));
        assert!(!exceeds_paid(d("100.01"), d("100"), d("0.01")));
        assert!(unexpected_rejection(true, false, d("0.01")));
        assert!(!unexpected_rejection(true, true, d("5")));
        assert!(!unexpected_rejection(true, false, d("0")));
        assert!(!unexpected_rejection(false, false, d("5")));
    }

    #[test]
    fn r7_findings() {
        use crate::rules::r3_type;
        use crate::rules::r4_amounts::expected_amounts;
        use crate::rules::testkit::{order, policy, t, unsub, with_env};
        let policy = policy();
        let o = order();
        let mut u = unsub();
        u.requested_at = t("2021-09-02T10:00:00+08:00");
        u.refund_type = Some(RefundType::Unconditional);
        u.refund_amount = Some(d("300.00"));
        // The quota of 2021 is used: expected partial, recorded unconditional.
        let ty = r3_type::check(&o, u.requested_at, 2021, 1, &policy);
        let a = expected_amounts(ty.decision.expected, &o, u.requested_at, &policy).unwrap();
        let mut f = Vec::new();
        with_env(&policy, |env| check(&u, &o, &ty, &a, d("300.00"), env, &mut f));
        let codes: Vec<Code> = f.iter().map(|x| x.code).collect();
        assert_eq!(codes, [Code::QUOTA_EXCEEDED, Code::REFUND_AMOUNT_MISMATCH]);
        assert_eq!(f[1].delta, Cell::Amount(d("300.00") - a.refund));
        assert!(
            f[0].message.contains("1 unconditional refund(s) of 2021"),
            "{}",
            f[0].message
        );
        // Paid less than refunded.
        f.clear();
        let ty = r3_type::check(&o, u.requested_at, 2021, 0, &policy);
        let a = expected_amounts(ty.decision.expected, &o, u.requested_at, &policy).unwrap();
        with_env(&policy, |env| check(&u, &o, &ty, &a, d("200.00"), env, &mut f));
        assert_eq!(
            f.iter().map(|x| x.code).collect::<Vec<_>>(),
            [Code::REFUND_EXCEEDS_PAID]
        );
        // A rejection that should have paid out.
        f.clear();
        u.status = UnsubStatus::Rejected;
        with_env(&policy, |env| check(&u, &o, &ty, &a, d("300.00"), env, &mut f));
        assert_eq!(
            f.iter().map(|x| x.code).collect::<Vec<_>>(),
            [Code::UNEXPECTED_REJECTION]
        );
    }
}
