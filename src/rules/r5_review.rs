//! R5 Review and approval: orders above the currency's threshold are
//! reviewed by an account manager and auto-approved after
//! `auto_approve_hours`; `approved_at` is what the billing month follows.

use rust_decimal::Decimal;

use crate::time::{whole_seconds, Micros, HOUR};

/// How approved_at was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Approval {
    /// No review needed: approved at requested_at.
    NotRequired,
    /// Reviewed within the auto-approval window: approved at reviewed_at.
    Reviewed,
    /// Not reviewed in time: approved at requested_at + auto_approve_hours.
    AutoApproved,
}

/// `review_required ⇔ O.amount > threshold of O.currency`.
pub fn review_required(order_amount: Decimal, threshold: Decimal) -> bool {
    order_amount > threshold
}

/// R5's approved_at (the same formula whatever the status).
pub fn approved_at(
    required: bool,
    requested_at: Micros,
    reviewed_at: Option<Micros>,
    auto_approve_hours: i64,
) -> (Micros, Approval) {
    if !required {
        return (requested_at, Approval::NotRequired);
    }
    let auto = requested_at + auto_approve_hours * HOUR;
    match reviewed_at {
        Some(r) if r <= auto => (r, Approval::Reviewed),
        _ => (auto, Approval::AutoApproved),
    }
}

/// `REVIEW_BYPASSED`: review required, completed, completed_at < approved_at.
pub fn review_bypassed(required: bool, completed_at: Option<Micros>, approved_at: Micros) -> bool {
    required && completed_at.is_some_and(|c| c < approved_at)
}

/// `STALE_PENDING`: pending, review required and as_of ≥ requested_at +
/// auto_approve_hours (whole seconds).
pub fn stale_pending(
    pending: bool,
    required: bool,
    requested_at: Micros,
    auto_approve_hours: i64,
    as_of: Micros,
) -> bool {
    pending && required && whole_seconds(as_of) >= whole_seconds(requested_at + auto_approve_hours * HOUR)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testkit::{cal, d, t};

    #[test]
    fn threshold_is_strictly_greater() {
        assert!(!review_required(d("1000.00"), d("1000")));
        assert!(review_required(d("1000.01"), d("1000")));
    }

    /// SPEC §7 worked example 1 (all three variants).
    #[test]
    fn worked_example_1_review_month() {
        let requested = t("2021-09-30T10:00:00+08:00");
        let (a, how) = approved_at(true, requested, Some(t("2021-09-30T18:00:00+08:00")), 24);
        assert_eq!(
            (cal().month_of(a).to_string(), how),
            ("2021-09".to_string(), Approval::Reviewed)
        );
        let (a, how) = approved_at(true, requested, Some(t("2021-10-01T09:00:00+08:00")), 24);
        assert_eq!(
            (cal().month_of(a).to_string(), how),
            ("2021-10".to_string(), Approval::Reviewed)
        );
        let (a, how) = approved_at(true, requested, None, 24);
        assert_eq!(how, Approval::AutoApproved);
        assert_eq!(cal().format(a), "2021-10-01T10:00:00+08:00");
        assert_eq!(cal().month_of(a).to_string(), "2021-10");
    }

    #[test]
    fn late_review_is_auto_approval() {
        let requested = t("2021-09-30T10:00:00+08:00");
        let exactly = t("2021-10-01T10:00:00+08:00");
        assert_eq!(
            approved_at(true, requested, Some(exactly), 24),
            (exactly, Approval::Reviewed)
        );
        let late = t("2021-10-01T10:00:01+08:00");
        assert_eq!(
            approved_at(true, requested, Some(late), 24),
            (exactly, Approval::AutoApproved)
        );
        assert_eq!(
            approved_at(false, requested, Some(late), 24),
            (requested, Approval::NotRequired)
        );
    }

    #[test]
    fn bypass_and_stale() {
        let approved = t("2021-10-01T10:00:00+08:00");
        assert!(review_bypassed(true, Some(approved - 1), approved));
        assert!(!review_bypassed(true, Some(approved), approved));
        assert!(!review_bypassed(false, Some(approved - 1), approved));
        let requested = t("2021-09-30T10:00:00+08:00");
        assert!(stale_pending(true, true, requested, 24, approved));
        assert!(!stale_pending(true, true, requested, 24, approved - 1_000_000));
        assert!(
            stale_pending(true, true, requested, 24, approved + 999_999),
            "fractions truncated"
        );
        assert!(!stale_pending(false, true, requested, 24, approved));
        assert!(!stale_pending(true, false, requested, 24, approved));
    }
}
