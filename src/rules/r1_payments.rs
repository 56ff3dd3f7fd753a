//! R1 Payments: `cash_paid(O)` = Σ amount of O's succeeded payments that
//! belong to it (same account and currency); every payment row is checked
//! for orphan, currency and account; the original payment method.

use std::cmp::Ordering;

use rust_decimal::Decimal;

use crate::model::{BillingMode, Currency};
use crate::time::Micros;

/// What R1 says about one payment row, whatever its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PaymentCheck {
    /// No accepted order with payment.order_id → `ORPHAN_PAYMENT`.
    pub orphan: bool,
    /// Payment currency ≠ order currency → `CURRENCY_MISMATCH`.
    pub currency_mismatch: bool,
    /// Payment account ≠ order account → `ACCOUNT_MISMATCH`.
    pub account_mismatch: bool,
}

impl PaymentCheck {
    /// Whether a succeeded payment with this check counts in cash_paid and
    /// may be the original payment method (SPEC §9, R8).
    pub fn belongs(&self) -> bool {
        !self.orphan && !self.currency_mismatch && !self.account_mismatch
    }
}

/// R1 for one payment; `order` is the (account, currency) of its order.
pub fn check_payment(p_account: &str, p_currency: Currency, order: Option<(&str, Currency)>) -> PaymentCheck {
    match order {
        None => PaymentCheck {
            orphan: true,
            ..Default::default()
        },
        Some((account, currency)) => PaymentCheck {
            orphan: false,
            currency_mismatch: currency != p_currency,
            account_mismatch: account != p_account,
        },
    }
}

/// `PAYMENT_MISMATCH`: `cash_paid ≠ cash_due` beyond the tolerance. Not
/// raised for a pay-per-use order with no payment rows at all.
pub fn payment_mismatch(
    billing_mode: BillingMode,
    has_payment_rows: bool,
    cash_due: Decimal,
    cash_paid: Decimal,
    tolerance: Decimal,
) -> bool {
    if billing_mode == BillingMode::PayPerUse && !has_payment_rows {
        return false;
    }
    (cash_paid - cash_due).abs() > tolerance
}

/// A candidate for the original payment method.
#[derive(Debug, Clone, Copy)]
pub struct MethodCandidate<'a> {
    pub amount: Decimal,
    pub paid_at: Micros,
    pub payment_id: &'a str,
}

/// R8's tie-break: the succeeded payment with the largest amount; ties by
/// earliest paid_at, then payment_id. `Less` means `a` is preferred.
pub fn original_method_order(a: &MethodCandidate<'_>, b: &MethodCandidate<'_>) -> Ordering {
    b.amount
        .cmp(&a.amount)
        .then(a.paid_at.cmp(&b.paid_at))
        .then(a.payment_id.as_bytes().cmp(b.payment_id.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testkit::d;

    fn usd() -> Currency {
        Currency::parse("USD").unwrap()
    }

    #[test]
    fn payment_checks() {
        let eur = Currency::parse("EUR").unwrap();
        assert!(check_payment("A", usd(), None).orphan);
        let c = check_payment("A", eur, Some(("A", usd())));
        assert!(c.currency_mismatch && !c.account_mismatch && !c.belongs());
        let c = check_payment("B", usd(), Some(("A", usd())));
        assert!(c.account_mismatch && !c.belongs());
        assert!(check_payment("A", usd(), Some(("A", usd()))).belongs());
    }

    #[test]
    fn mismatch_respects_tolerance_and_pay_per_use() {
        let sub = BillingMode::Subscription;
        assert!(payment_mismatch(sub, true, d("100"), d("99.99"), d("0")));
        assert!(!payment_mismatch(sub, true, d("100"), d("99.99"), d("0.01")));
        assert!(
            payment_mismatch(sub, false, d("100"), d("0"), d("0")),
            "unpaid subscription"
        );
        assert!(!payment_mismatch(BillingMode::PayPerUse, false, d("5"), d("0"), d("0")));
        assert!(payment_mismatch(BillingMode::PayPerUse, true, d("5"), d("0"), d("0")));
        assert!(!payment_mismatch(sub, true, d("0"), d("0"), d("0")));
    }

    #[test]
    fn original_method_tie_break() {
        let a = MethodCandidate {
            amount: d("50"),
            paid_at: 10,
            payment_id: "P2",
        };
        let b = MethodCandidate {
            amount: d("60"),
            paid_at: 20,
            payment_id: "P1",
        };
        assert_eq!(original_method_order(&b, &a), Ordering::Less, "largest amount wins");
        let c = MethodCandidate {
            amount: d("50.00"),
            paid_at: 5,
            payment_id: "P9",
        };
        assert_eq!(original_method_order(&c, &a), Ordering::Less, "then earliest paid_at");
        let e = MethodCandidate {
            amount: d("50"),
            paid_at: 10,
            payment_id: "P1",
        };
        assert_eq!(original_method_order(&e, &a), Ordering::Less, "then payment_id");
    }
}
