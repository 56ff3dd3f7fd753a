//! R1 Payments: `cash_paid(O)` = Σ amount of O's succeeded payments that
//! belong to it (same account and currency); every payment row is checked
//! for orphan, currency and account; the original payment method.

use std::cmp::Ordering;

use rust_decimal::Decimal;

use crate::model::{BillingMode, Currency, PaymentStatus};
use crate::money::format_exact;
use crate::rules::{Cell, Code, Finding};
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
    /// may be the original payment method (docs/rules.md#r1-payments, R8).
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

/// R1's aggregates of one order, updated with its payment rows one at a
/// time in file order (the engine keeps them in columns, one slot per
/// order, and hands each order's rows to this in order).
pub struct OrderPayments<'s, P> {
    /// Σ succeeded payments that belong to the order.
    pub cash_paid: &'s mut Decimal,
    /// Whether any accepted payment row names the order.
    pub has_rows: &'s mut bool,
    /// The best candidate for the original payment method so far.
    pub original: &'s mut Option<P>,
}

impl<P: Copy> OrderPayments<'_, P> {
    /// Adds payment row `row` (any status), with R1's `check` of it:
    /// every row names the order; a succeeded one that belongs counts in
    /// cash_paid and is the original method if it beats the best so far
    /// ([`original_method_order`]; `candidate` gives a row's facts).
    pub fn add<'c>(
        &mut self,
        row: P,
        status: PaymentStatus,
        check: PaymentCheck,
        candidate: impl Fn(P) -> MethodCandidate<'c>,
    ) {
        *self.has_rows = true;
        if status != PaymentStatus::Succeeded || !check.belongs() {
            return;
        }
        let this = candidate(row);
        *self.cash_paid += this.amount;
        let better = match *self.original {
            None => true,
            Some(best) => original_method_order(&this, &candidate(best)) == Ordering::Less,
        };
        if better {
            *self.original = Some(row);
        }
    }
}

/// A payment row as R1's findings name it.
#[derive(Debug, Clone, Copy)]
pub struct PaymentFacts<'a> {
    pub payment_id: &'a str,
    pub account_id: &'a str,
    pub order_id: &'a str,
    pub currency: Currency,
}

/// The order a payment names, as R1's findings name it.
#[derive(Debug, Clone, Copy)]
pub struct OrderRef<'a> {
    pub order_id: &'a str,
    pub account_id: &'a str,
    pub currency: Currency,
}

/// R1's findings on one payment row: ORPHAN_PAYMENT, else
/// CURRENCY_MISMATCH and/or ACCOUNT_MISMATCH.
pub fn payment_findings(p: &PaymentFacts<'_>, order: Option<OrderRef<'_>>, check: PaymentCheck) -> Vec<Finding> {
    let mut out = Vec::new();
    let finding = |code: Code, message: String| {
        let mut x = Finding::new(code, message).currency(Some(p.currency));
        x.set_ids(p.account_id, "", p.order_id, p.payment_id);
        x
    };
    let Some(o) = order.filter(|_| !check.orphan) else {
        out.push(
            finding(
                Code::ORPHAN_PAYMENT,
                format!(
                    "R1: payment {} names order {}, which is not an accepted order",
                    p.payment_id, p.order_id
                ),
            )
            .field("order_id", Cell::Empty, Cell::text(p.order_id)),
        );
        return out;
    };
    if check.currency_mismatch {
        out.push(
            finding(
                Code::CURRENCY_MISMATCH,
                format!(
                    "R1: payment {} is in {} but order {} is in {}; it is left out of cash_paid",
                    p.payment_id, p.currency, o.order_id, o.currency
                ),
            )
            .field(
                "currency",
                Cell::text(o.currency.as_str()),
                Cell::text(p.currency.as_str()),
            ),
        );
    }
    if check.account_mismatch {
        out.push(
            finding(
                Code::ACCOUNT_MISMATCH,
                format!(
                    "R1: payment {} is from account {} but order {} belongs to account {}; it is left out of cash_paid",
                    p.payment_id, p.account_id, o.order_id, o.account_id
                ),
            )
            .field("account_id", Cell::text(o.account_id), Cell::text(p.account_id)),
        );
    }
    out
}

/// PAYMENT_MISMATCH on an order whose succeeded payments do not sum to its
/// cash_due (see [`payment_mismatch`] for when it is raised).
pub fn mismatch_finding(order: &OrderRef<'_>, amount: Decimal, coupon: Decimal, cash_paid: Decimal) -> Finding {
    let due = amount - coupon;
    let mut f = Finding::new(
        Code::PAYMENT_MISMATCH,
        format!(
            "R1: order {} has cash_due {} (amount {} − coupon {}) but its succeeded payments sum to {}",
            order.order_id,
            format_exact(due),
            format_exact(amount),
            format_exact(coupon),
            format_exact(cash_paid)
        ),
    )
    .amounts("cash_paid", due, cash_paid)
    .currency(Some(order.currency));
    f.set_ids(order.account_id, "", order.order_id, "");
    f
}

/// R1 on one payment row in the shape every rule has ([`super::Rule`]):
/// its check (the step), and ORPHAN_PAYMENT, CURRENCY_MISMATCH or
/// ACCOUNT_MISMATCH. The engine first runs [`check_payment`] over every
/// row for the aggregates, then this on the rows that do not belong.
pub struct R1;

/// What R1 reads of one payment: the row and its order, if accepted.
pub struct Facts<'a> {
    pub payment: PaymentFacts<'a>,
    pub order: Option<OrderRef<'a>>,
}

impl super::Rule for R1 {
    type Facts<'a> = Facts<'a>;
    type Step = PaymentCheck;
    fn check(f: &Facts<'_>, _: &super::Env<'_>, findings: &mut Vec<Finding>) -> PaymentCheck {
        let p = &f.payment;
        let check = check_payment(p.account_id, p.currency, f.order.map(|o| (o.account_id, o.currency)));
        findings.extend(payment_findings(p, f.order, check));
        check
    }
}

/// R1 on one order in the same shape: PAYMENT_MISMATCH when its
/// cash_paid (the [`OrderPayments`] fold) is not its cash_due.
pub struct R1Order;

/// What R1 reads of one order once its payments are summed.
pub struct OrderTotals<'a> {
    pub order: OrderRef<'a>,
    pub billing_mode: BillingMode,
    pub amount: Decimal,
    pub coupon_amount: Decimal,
    pub has_payment_rows: bool,
    pub cash_paid: Decimal,
}

impl super::Rule for R1Order {
    type Facts<'a> = OrderTotals<'a>;
    /// Whether the order's payments miss its cash_due.
    type Step = bool;
    fn check(f: &OrderTotals<'_>, env: &super::Env<'_>, findings: &mut Vec<Finding>) -> bool {
        let due = f.amount - f.coupon_amount;
        let tolerance = env.policy.amount_tolerance;
        let mismatch = payment_mismatch(f.billing_mode, f.has_payment_rows, due, f.cash_paid, tolerance);
        if mismatch {
            findings.push(mismatch_finding(&f.order, f.amount, f.coupon_amount, f.cash_paid));
        }
        mismatch
    }
}

/// What R1 reads and raises (docs/rules.md, checked by a test).
pub const RULE: super::declared::Rule = {
    use super::declared::{File::*, Rule};
    Rule {
        id: "R1",
        module: module_path!(),
        title: "Payments",
        columns: &[
            (Payments, "payment_id"),
            (Payments, "order_id"),
            (Payments, "account_id"),
            (Payments, "paid_at"),
            (Payments, "amount"),
            (Payments, "currency"),
            (Payments, "method"),
            (Payments, "status"),
            (Orders, "order_id"),
            (Orders, "account_id"),
            (Orders, "billing_mode"),
            (Orders, "amount"),
            (Orders, "coupon_amount"),
            (Orders, "currency"),
        ],
        via: &[],
        policy: &["amount_tolerance"],
        codes: &[
            Code::ACCOUNT_MISMATCH,
            Code::PAYMENT_MISMATCH,
            Code::ORPHAN_PAYMENT,
            Code::CURRENCY_MISMATCH,
        ],
    }
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testkit::d;

    fn usd() -> Currency {
        Currency::parse("USD").unwrap()
    }

    /// cash_paid counts succeeded payments that belong; every row names the
    /// order; the original method is the largest, then earliest, then
    /// smallest id, among those that count.
    #[test]
    fn order_payments_sum_and_choose_the_original() {
        let rows = [
            (d("50"), 3, "p3", PaymentStatus::Succeeded, true),
            (d("80"), 2, "p2", PaymentStatus::Failed, true),
            (d("50"), 1, "p4", PaymentStatus::Succeeded, true),
            (d("90"), 1, "p1", PaymentStatus::Succeeded, false),
            (d("50"), 1, "p0", PaymentStatus::Succeeded, true),
        ];
        let (mut cash_paid, mut has_rows, mut original) = (Decimal::ZERO, false, None);
        let mut order = OrderPayments {
            cash_paid: &mut cash_paid,
            has_rows: &mut has_rows,
            original: &mut original,
        };
        for (i, &(_, _, _, status, belongs)) in rows.iter().enumerate() {
            let check = PaymentCheck {
                account_mismatch: !belongs,
                ..Default::default()
            };
            order.add(i, status, check, |j: usize| MethodCandidate {
                amount: rows[j].0,
                paid_at: rows[j].1,
                payment_id: rows[j].2,
            });
        }
        assert_eq!((cash_paid, has_rows, original), (d("150"), true, Some(4)));
        let (mut none_paid, mut named, mut none) = (Decimal::ZERO, false, None::<usize>);
        let mut failed_only = OrderPayments {
            cash_paid: &mut none_paid,
            has_rows: &mut named,
            original: &mut none,
        };
        failed_only.add(1, PaymentStatus::Failed, PaymentCheck::default(), |j: usize| {
            MethodCandidate {
                amount: rows[j].0,
                paid_at: rows[j].1,
                payment_id: rows[j].2,
            }
        });
        assert_eq!((none_paid, named, none), (Decimal::ZERO, true, None));
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

    #[test]
    fn r1_findings_on_payments_and_orders() {
        let usd = Currency::parse("USD").unwrap();
        let eur = Currency::parse("EUR").unwrap();
        let p = PaymentFacts {
            payment_id: "P1",
            account_id: "A",
            order_id: "O1",
            currency: eur,
        };
        let orphan = payment_findings(&p, None, check_payment("A", eur, None));
        assert_eq!(orphan.len(), 1);
        assert_eq!((orphan[0].code, orphan[0].payment_id()), (Code::ORPHAN_PAYMENT, "P1"));
        let o = OrderRef {
            order_id: "O1",
            account_id: "B",
            currency: usd,
        };
        let both = payment_findings(&p, Some(o), check_payment("A", eur, Some(("B", usd))));
        let codes: Vec<Code> = both.iter().map(|f| f.code).collect();
        assert_eq!(codes, [Code::CURRENCY_MISMATCH, Code::ACCOUNT_MISMATCH]);
        assert_eq!(both[0].currency, Some(eur));
        let m = mismatch_finding(&o, d("500"), d("0"), d("300"));
        assert_eq!((m.code, m.field), (Code::PAYMENT_MISMATCH, "cash_paid"));
        assert_eq!(m.delta, Cell::Amount(d("-200")));
        assert_eq!((m.account_id(), m.order_id()), ("B", "O1"));
    }
}
