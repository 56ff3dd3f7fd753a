//! R4 Expected amounts (refund = cash to the customer):
//!
//! | type | refund | handling_fee | coupon_returned |
//! |---|---|---|---|
//! | release | 0 | 0 | 0 |
//! | unactivated | cash_due | 0 | coupon_amount |
//! | unconditional | cash_due | 0 | coupon_amount if return_coupons else 0 |
//! | partial | max(0, gross − fee) | min(fee, gross) | 0 |
//!
//! Each amount is rounded once, at the end of its formula, to the
//! currency's minor units with the policy's rounding.

use rust_decimal::Decimal;

use crate::config::{ConsumptionUnit, Policy};
use crate::model::ExpectedType;
use crate::money;
use crate::rules::{OrderFacts, Step};
use crate::time::{Micros, DAY};

/// The arithmetic of a partial refund, kept for `explain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartialCalc {
    pub unit: ConsumptionUnit,
    /// Service term in units (at least 1).
    pub total: i64,
    /// Units used at requested_at, capped at `total`.
    pub used: i64,
    /// round(cash_due × (total − used) / total).
    pub gross: Decimal,
    /// Whole days, rounded up, for the fee tiers.
    pub term_days: i64,
    pub used_days: i64,
    pub rate: Decimal,
    /// Index of the fee tier that matched, if any.
    pub tier: Option<usize>,
    /// round(rate × cash_due), before capping at gross.
    pub fee: Decimal,
}

/// Expected refund, fee and coupon of one unsubscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Amounts {
    pub refund: Decimal,
    pub fee: Decimal,
    pub coupon: Decimal,
}

impl Amounts {
    pub fn zero() -> Amounts {
        Amounts {
            refund: Decimal::ZERO,
            fee: Decimal::ZERO,
            coupon: Decimal::ZERO,
        }
    }
}

/// An R4 step whose exact result does not fit (impossible within the money
/// bound and year 0–9999, docs/design.md "Money bound"; checked, never assumed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overflow(pub &'static str);

/// `raw / unit`, rounded up or down (raw ≥ 0).
fn units(raw: Micros, unit: Micros, round_up: bool) -> i64 {
    if round_up {
        (raw + unit - 1).div_euclid(unit)
    } else {
        raw.div_euclid(unit)
    }
}

/// R4 for one unsubscription of `order` with expected type `ty`.
pub fn expected_amounts(
    ty: ExpectedType,
    order: &OrderFacts<'_>,
    requested_at: Micros,
    policy: &Policy,
) -> Result<Amounts, Overflow> {
    let dp = policy.minor_units.of(order.currency);
    let round = |v: Decimal| money::round(v, dp, policy.rounding);
    let cash_due = order.cash_due();
    Ok(match ty {
        ExpectedType::Release | ExpectedType::Blocked | ExpectedType::Duplicate => Amounts::zero(),
        ExpectedType::Unactivated => Amounts {
            refund: round(cash_due),
            fee: Decimal::ZERO,
            coupon: round(order.coupon_amount),
        },
        ExpectedType::Unconditional => Amounts {
            refund: round(cash_due),
            fee: Decimal::ZERO,
            coupon: if policy.unconditional.return_coupons {
                round(order.coupon_amount)
            } else {
                Decimal::ZERO
            },
        },
        ExpectedType::Partial => {
            let c = partial_calc(order, requested_at, policy)?;
            Amounts {
                refund: (c.gross - c.fee).max(Decimal::ZERO),
                fee: c.fee.min(c.gross),
                coupon: Decimal::ZERO,
            }
        }
    })
}

/// R4's arithmetic of a partial refund of `order` requested at
/// `requested_at`. Not kept on the outcome (104 bytes on each of them):
/// [`describe`] computes it again for `explain`, with the same inputs and
/// so the same result (docs/performance.md, log entry 50).
pub fn partial_calc(order: &OrderFacts<'_>, requested_at: Micros, policy: &Policy) -> Result<PartialCalc, Overflow> {
    let dp = policy.minor_units.of(order.currency);
    let cash_due = order.cash_due();
    let p = &policy.partial;
    let unit = p.consumption_unit.micros();
    let total_raw = order.service_end - order.service_start;
    let used_raw = (requested_at - order.service_start).max(0);
    let total = units(total_raw, unit, p.round_up).max(1);
    let used = units(used_raw, unit, p.round_up).min(total);
    // Multiply before dividing; one rounding.
    let gross = money::mul_div_round(cash_due, total - used, total, dp, policy.rounding)
        .ok_or(Overflow("R4 gross = cash_due × (total − used) / total"))?;
    let term_days = units(total_raw, DAY, true);
    let used_days = units(used_raw, DAY, true);
    let tier = p
        .fee_tiers
        .iter()
        .position(|t| term_days >= t.term_days_at_least && used_days <= t.used_days_at_most);
    let rate = tier.map(|i| p.fee_tiers[i].rate).unwrap_or(p.handling_fee_rate);
    let fee = money::round(
        rate.checked_mul(cash_due)
            .ok_or(Overflow("R4 handling fee = rate × cash_due"))?,
        dp,
        policy.rounding,
    );
    Ok(PartialCalc {
        unit: p.consumption_unit,
        total,
        used,
        gross,
        term_days,
        used_days,
        rate,
        tier,
        fee,
    })
}

/// The formula behind an expected amount, in the words of a finding.
pub fn basis(field: &str, ty: ExpectedType, order: &OrderFacts<'_>, policy: &Policy) -> String {
    let due = money::format_exact(order.cash_due());
    let coupon = || format!("coupon_amount {} returned", money::format_exact(order.coupon_amount));
    match (field, ty) {
        (_, ExpectedType::Release) => "pay-per-use resources are released without refund".into(),
        ("refund_amount", ExpectedType::Partial) => format!("unused share of cash_due {due}, less the handling fee"),
        ("handling_fee", ExpectedType::Partial) => format!("fee rate of the policy on cash_due {due}"),
        ("refund_amount", _) => format!("cash_due {due}"),
        ("coupon_returned", ExpectedType::Unactivated) => coupon(),
        ("coupon_returned", ExpectedType::Unconditional) if policy.unconditional.return_coupons => coupon(),
        ("coupon_returned", _) => "no coupon is returned for this type".into(),
        _ => "no handling fee for this type".into(),
    }
}

/// R4's trail line (two for a partial refund).
pub fn describe(a: &Amounts, ty: ExpectedType, order: &OrderFacts<'_>, requested_at: Micros, policy: &Policy) -> Step {
    let m = money::format_exact;
    let calc = (ty == ExpectedType::Partial)
        .then(|| partial_calc(order, requested_at, policy).ok())
        .flatten();
    let Some(c) = &calc else {
        return Step::new(
            "R4",
            "amounts",
            format!(
                "R4 amounts: {ty} — refund {}, fee {}, coupon returned {}",
                m(a.refund),
                m(a.fee),
                m(a.coupon)
            ),
        )
        .value("refund", m(a.refund))
        .value("handling_fee", m(a.fee))
        .value("coupon_returned", m(a.coupon));
    };
    let unit = c.unit.as_str();
    let mut s = Step::new(
        "R4",
        "amounts",
        format!(
            "R4 amounts: partial — term {} {unit}s, used {} {unit}s (rounded {}); gross = round({} × {}/{}) = {}",
            c.total,
            c.used,
            if policy.partial.round_up { "up" } else { "down" },
            m(order.cash_due()),
            c.total - c.used,
            c.total,
            m(c.gross),
        ),
    );
    let tier = match c.tier {
        Some(i) => format!("fee tier {} (term {} d, used {} d)", i + 1, c.term_days, c.used_days),
        None => format!(
            "no fee tier (term {} d, used {} d): flat rate",
            c.term_days, c.used_days
        ),
    };
    s.lines.push(format!(
        "{tier} {} → fee round({} × {}) = {}; refund max(0, gross − fee) = {}, fee charged {}",
        m(c.rate),
        m(c.rate),
        m(order.cash_due()),
        m(c.fee),
        m(a.refund),
        m(a.fee)
    ));
    s.value("cash_due", m(order.cash_due()))
        .value("unit", unit)
        .value("total_units", c.total)
        .value("used_units", c.used)
        .value("gross", m(c.gross))
        .value("term_days", c.term_days)
        .value("used_days", c.used_days)
        .value("fee_tier", c.tier.map(|i| (i + 1).to_string()).unwrap_or_default())
        .value("fee_rate", m(c.rate))
        .value("fee_before_cap", m(c.fee))
        .value("refund", m(a.refund))
        .value("handling_fee", m(a.fee))
        .value("coupon_returned", m(a.coupon))
}

/// R4 in the shape every rule has ([`super::Rule`]): no findings of its
/// own (R7 compares the amounts).
pub struct R4;

/// What R4 reads: R3's expected type, the order and the request.
pub struct Facts<'a> {
    pub expected: ExpectedType,
    pub order: &'a OrderFacts<'a>,
    pub requested_at: Micros,
}

impl super::Rule for R4 {
    type Facts<'a> = Facts<'a>;
    type Step = Result<Amounts, Overflow>;
    fn check(f: &Facts<'_>, env: &super::Env<'_>, _: &mut Vec<super::Finding>) -> Result<Amounts, Overflow> {
        expected_amounts(f.expected, f.order, f.requested_at, env.policy)
    }
}

/// What R4 reads and raises (docs/rules.md, checked by a test).
pub const RULE: super::declared::Rule = {
    use super::declared::{File::*, Rule, Via};
    Rule {
        id: "R4",
        module: module_path!(),
        title: "Amounts",
        columns: &[
            (Orders, "amount"),
            (Orders, "coupon_amount"),
            (Orders, "currency"),
            (Orders, "service_start"),
            (Orders, "service_end"),
            (Unsubscriptions, "requested_at"),
        ],
        via: &[Via {
            from: "R3",
            result: "expected type",
        }],
        policy: &[
            "rounding",
            "minor_units",
            "unconditional.return_coupons",
            "partial.handling_fee_rate",
            "partial.consumption_unit",
            "partial.consumption_rounding",
            "partial.fee_tiers",
        ],
        codes: &[],
    }
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Currency, OrderType};
    use crate::money::Rounding;
    use crate::rules::testkit::{d, order, policy, t};
    use crate::time::HOUR;

    /// Worked example 4 (docs/rules.md#example-4-partial-refund).
    #[test]
    fn worked_example_4_partial() {
        let mut o = order();
        o.order_type = OrderType::New;
        o.service_start = t("2021-01-31T00:00:00+08:00");
        o.ordered_at = o.service_start - 30 * DAY;
        o.service_end = o.service_start + 365 * DAY;
        o.amount = d("365.00");
        o.coupon_amount = d("65.00");
        let requested = o.service_start + 100 * DAY + HOUR;
        let a = expected_amounts(ExpectedType::Partial, &o, requested, &policy()).unwrap();
        let calc = partial_calc(&o, requested, &policy()).unwrap();
        assert_eq!((calc.total, calc.used), (365, 101));
        assert_eq!(calc.gross, d("216.99"));
        assert_eq!(a.refund, d("216.99"));
        let mut with_fee = policy();
        with_fee.partial.handling_fee_rate = d("0.05");
        let a = expected_amounts(ExpectedType::Partial, &o, requested, &with_fee).unwrap();
        assert_eq!(a.fee, d("15.00"));
        assert_eq!(a.refund, d("201.99"));
        assert_eq!(a.coupon, d("0"));
    }

    /// Worked example 5 (docs/rules.md#example-5-unactivated-renewal).
    #[test]
    fn worked_example_5_unactivated_renewal() {
        let mut o = order();
        o.order_type = OrderType::Renewal;
        o.amount = d("1200.00");
        o.coupon_amount = d("100.00");
        let a = expected_amounts(ExpectedType::Unactivated, &o, o.ordered_at, &policy()).unwrap();
        assert_eq!((a.refund, a.fee, a.coupon), (d("1100.00"), d("0"), d("100.00")));
    }

    #[test]
    fn unconditional_returns_coupons_only_when_policy_says() {
        let mut o = order();
        o.amount = d("100");
        o.coupon_amount = d("20");
        let p = policy();
        let a = expected_amounts(ExpectedType::Unconditional, &o, o.ordered_at, &p).unwrap();
        assert_eq!((a.refund, a.coupon), (d("80"), d("0")));
        let mut p = policy();
        p.unconditional.return_coupons = true;
        let a = expected_amounts(ExpectedType::Unconditional, &o, o.ordered_at, &p).unwrap();
        assert_eq!((a.refund, a.coupon), (d("80"), d("20")));
    }

    #[test]
    fn release_blocked_duplicate_are_zero() {
        let o = order();
        for ty in [ExpectedType::Release, ExpectedType::Blocked, ExpectedType::Duplicate] {
            assert_eq!(
                expected_amounts(ty, &o, o.ordered_at, &policy()).unwrap(),
                Amounts::zero()
            );
        }
    }

    #[test]
    fn consumption_rounds_up_or_down() {
        let mut o = order();
        o.service_end = o.service_start + 10 * DAY;
        o.amount = d("100");
        let requested = o.service_start + 2 * DAY + 1; // one microsecond into day 3
        let up = expected_amounts(ExpectedType::Partial, &o, requested, &policy()).unwrap();
        assert_eq!(partial_calc(&o, requested, &policy()).unwrap().used, 3);
        assert_eq!(up.refund, d("70.00"));
        let mut down = policy();
        down.partial.round_up = false;
        let a = expected_amounts(ExpectedType::Partial, &o, requested, &down).unwrap();
        assert_eq!(partial_calc(&o, requested, &down).unwrap().used, 2);
        assert_eq!(a.refund, d("80.00"));
        // Hours: 48 h + 1 µs used of 240 h.
        let mut hours = policy();
        hours.partial.consumption_unit = ConsumptionUnit::Hour;
        let a = expected_amounts(ExpectedType::Partial, &o, requested, &hours).unwrap();
        let c = partial_calc(&o, requested, &hours).unwrap();
        assert_eq!((c.total, c.used), (240, 49));
        assert_eq!(a.refund, d("79.58"), "100 × 191/240 = 79.5833");
    }

    /// The money bound (docs/design.md "Money bound"): the largest amount, hour
    /// units, a term from year 1 to 9999 and a 10 % fee fit exactly.
    #[test]
    fn largest_amount_over_ten_thousand_years_in_hours_fits() {
        let mut o = order();
        o.service_start = t("0001-01-01T00:00:00Z");
        o.service_end = t("9999-12-31T23:59:59Z");
        o.ordered_at = o.service_start;
        o.amount = d(money::MAX_AMOUNT);
        o.coupon_amount = d("0.000001");
        let mut p = policy();
        p.partial.consumption_unit = ConsumptionUnit::Hour;
        p.partial.round_up = false;
        p.partial.handling_fee_rate = d("0.10");
        let requested = o.service_start + HOUR + 1;
        let a = expected_amounts(ExpectedType::Partial, &o, requested, &p).unwrap();
        let c = partial_calc(&o, requested, &p).unwrap();
        assert_eq!(c.total, 87_649_415);
        assert_eq!(c.used, 1);
        // 9999999999999.999998 × 87649414 / 87649415 = 9999999885909.107…
        assert_eq!(c.gross, d("9999999885909.11"));
        assert_eq!(a.fee, d("1000000000000.00"));
        assert_eq!(a.refund, d("8999999885909.11"));
    }

    #[test]
    fn used_is_capped_and_total_at_least_one() {
        let mut o = order();
        o.service_end = o.service_start + HOUR;
        o.amount = d("10");
        let a = expected_amounts(ExpectedType::Partial, &o, o.service_start + 5 * DAY, &policy()).unwrap();
        let c = partial_calc(&o, o.service_start + 5 * DAY, &policy()).unwrap();
        assert_eq!((c.total, c.used), (1, 1));
        assert_eq!(a.refund, d("0"));
        // Requested before service start: nothing used.
        let a = expected_amounts(ExpectedType::Partial, &o, o.service_start - DAY, &policy()).unwrap();
        assert_eq!(a.refund, d("10.00"));
    }

    #[test]
    fn fee_tiers_first_match_and_cap_at_gross() {
        let p = crate::config::Policy::from_toml(
            "[partial]\nhandling_fee_rate = \"0.10\"\n[[partial.fee_tiers]]\nterm_days_at_least = 730\nused_days_at_most = 365\nrate = \"0.15\"\n[[partial.fee_tiers]]\nterm_days_at_least = 730\nused_days_at_most = 730\nrate = \"0.10\"\n[[partial.fee_tiers]]\nterm_days_at_least = 1095\nused_days_at_most = 1095\nrate = \"0.05\"\n",
            "t",
        )
        .unwrap();
        let mut o = order();
        o.amount = d("1000");
        o.service_end = o.service_start + 730 * DAY;
        let at = o.service_start + 100 * DAY;
        let a = expected_amounts(ExpectedType::Partial, &o, at, &p).unwrap();
        assert_eq!(partial_calc(&o, at, &p).unwrap().tier, Some(0));
        assert_eq!(a.fee, d("150.00"));
        assert_eq!(a.refund, d("713.01"), "1000 × 630/730 = 863.01, less 150");
        assert_eq!(partial_calc(&o, o.service_start + 400 * DAY, &p).unwrap().tier, Some(1));
        // Used days round up from the raw time: 365 days + 1 s is day 366.
        let c = partial_calc(&o, o.service_start + 365 * DAY + 1_000_000, &p).unwrap();
        assert_eq!((c.used_days, c.tier), (366, Some(1)));
        // A short term: no tier, the flat rate.
        o.service_end = o.service_start + 30 * DAY;
        let at = o.service_start + 29 * DAY;
        let a = expected_amounts(ExpectedType::Partial, &o, at, &p).unwrap();
        let c = partial_calc(&o, at, &p).unwrap();
        assert_eq!((c.tier, c.gross), (None, d("33.33")));
        assert_eq!(a.fee, d("33.33"), "fee capped at gross");
        assert_eq!(a.refund, d("0.00"));
    }

    #[test]
    fn rounding_mode_and_minor_units() {
        let mut o = order();
        o.service_end = o.service_start + 8 * DAY;
        o.amount = d("0.20");
        let requested = o.service_start + DAY; // 7/8 of 0.20 = 0.175
        assert_eq!(
            expected_amounts(ExpectedType::Partial, &o, requested, &policy())
                .unwrap()
                .refund,
            d("0.18")
        );
        let mut even = policy();
        even.rounding = Rounding::HalfEven;
        assert_eq!(
            expected_amounts(ExpectedType::Partial, &o, requested, &even)
                .unwrap()
                .refund,
            d("0.18")
        );
        o.amount = d("0.60"); // 7/8 × 0.60 = 0.525
        assert_eq!(
            expected_amounts(ExpectedType::Partial, &o, requested, &policy())
                .unwrap()
                .refund,
            d("0.53")
        );
        assert_eq!(
            expected_amounts(ExpectedType::Partial, &o, requested, &even)
                .unwrap()
                .refund,
            d("0.52")
        );
        o.currency = Currency::parse("JPY").unwrap();
        o.amount = d("1001");
        assert_eq!(
            expected_amounts(ExpectedType::Partial, &o, requested, &policy())
                .unwrap()
                .refund,
            d("876")
        );
    }
}
