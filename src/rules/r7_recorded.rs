//! R7 Recorded vs expected: type, refund, fee and coupon of a completed
//! unsubscription; refunds above what was paid; rejections that should
//! have paid out.

use rust_decimal::Decimal;

use crate::model::{ExpectedType, RefundType};
use crate::rules::Code;

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

    /// SPEC §7 worked example 3, the second unsubscription: partial only
    /// because the quota is used, recorded unconditional.
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
}
