//! R5 Review and approval: orders above the currency's threshold are
//! reviewed by an account manager and auto-approved after
//! `auto_approve_hours`; `approved_at` is what the billing month follows.

use rust_decimal::Decimal;

use crate::model::UnsubStatus;
use crate::money::format_exact as exact;
use crate::rules::{Cell, Code, Env, Finding, OrderFacts, Step, UnsubFacts};
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

/// R5's step: whether review was needed and when the unsubscription was
/// approved. (The threshold it compared with is the policy's for the
/// order's currency, looked up again by [`ReviewStep::describe`]: 16 bytes
/// less on each outcome, docs/performance.md, log entry 50.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReviewStep {
    pub required: bool,
    pub approved_at: Micros,
    pub approval: Approval,
}

impl Approval {
    /// How approved_at was found, in a message's words.
    pub fn words(self) -> &'static str {
        match self {
            Approval::NotRequired => "no review needed",
            Approval::Reviewed => "reviewed",
            Approval::AutoApproved => "auto-approved",
        }
    }
}

/// R5 with its findings: REVIEW_BYPASSED and STALE_PENDING.
pub fn check(u: &UnsubFacts<'_>, order: &OrderFacts<'_>, env: &Env<'_>, findings: &mut Vec<Finding>) -> ReviewStep {
    let (policy, cal) = (env.policy, env.cal);
    let hours = policy.review.auto_approve_hours;
    let listed = policy.review.thresholds.get(&order.currency).copied();
    let threshold = listed.unwrap_or(Decimal::MAX);
    let required = review_required(order.amount, threshold);
    let (approved_at, approval) = approved_at(required, u.requested_at, u.reviewed_at, hours);
    let amount = || format!("{} {}", exact(order.amount), order.currency);
    let bypassed = u.completed() && review_bypassed(required, u.completed_at, approved_at);
    if let Some(done) = u.completed_at.filter(|_| bypassed) {
        findings.push(
            Finding::new(
                Code::REVIEW_BYPASSED,
                format!(
                    "R5: order amount {} is above the review threshold {}, so approval came at {} ({}), but unsubscription {} was completed at {}",
                    amount(),
                    exact(threshold),
                    cal.format(approved_at),
                    approval.words(),
                    u.unsub_id,
                    cal.format(done)
                ),
            )
            .field("completed_at", Cell::text(cal.format(approved_at)), Cell::text(cal.format(done))),
        );
    }
    if stale_pending(
        u.status == UnsubStatus::Pending,
        required,
        u.requested_at,
        hours,
        env.as_of,
    ) {
        findings.push(
            Finding::new(
                Code::STALE_PENDING,
                format!(
                    "R5: unsubscription {} needs review (order amount {} above {}) and should have been auto-approved at {}, but is still pending at as_of {}",
                    u.unsub_id,
                    amount(),
                    exact(threshold),
                    cal.format(u.requested_at + hours * HOUR),
                    cal.format(env.as_of)
                ),
            )
            .field("status", Cell::text("completed"), Cell::text("pending")),
        );
    }
    ReviewStep {
        required,
        approved_at,
        approval,
    }
}

impl ReviewStep {
    /// R5's trail line.
    pub fn describe(&self, order: &OrderFacts<'_>, env: &Env<'_>) -> Step {
        let hours = env.policy.review.auto_approve_hours;
        let how = match self.approval {
            Approval::NotRequired => "approved_at = requested_at".to_string(),
            Approval::Reviewed => "reviewed within the window: approved_at = reviewed_at".to_string(),
            Approval::AutoApproved => {
                format!("not reviewed within {hours} h: auto-approved at requested_at + {hours} h")
            }
        };
        let listed = env.policy.review.thresholds.get(&order.currency).copied();
        let threshold = exact(listed.unwrap_or_default());
        let approved = env.cal.format(self.approved_at);
        Step::new(
            "R5",
            "review",
            format!(
                "R5 review: amount {} {} {} threshold {threshold} → review {}; {how} = {approved}",
                exact(order.amount),
                order.currency,
                if self.required { ">" } else { "≤" },
                if self.required { "required" } else { "not required" },
            ),
        )
        .value("order_amount", exact(order.amount))
        .value("threshold", threshold)
        .value("review_required", self.required)
        .value("approval", self.approval.words())
        .value("approved_at", approved)
    }
}

/// R5 in the shape every rule has ([`super::Rule`]).
pub struct R5;

impl super::Rule for R5 {
    type Facts<'a> = super::Linked<'a>;
    type Step = ReviewStep;
    fn check(f: &super::Linked<'_>, env: &Env<'_>, findings: &mut Vec<Finding>) -> ReviewStep {
        check(f.unsub, f.order, env, findings)
    }
}

/// What R5 reads and raises (docs/rules.md, checked by a test).
pub const RULE: super::declared::Rule = {
    use super::declared::{File::*, Rule, Via};
    Rule {
        id: "R5",
        module: module_path!(),
        title: "Review and approval",
        columns: &[
            (Orders, "amount"),
            (Orders, "currency"),
            (Unsubscriptions, "requested_at"),
            (Unsubscriptions, "reviewed_at"),
            (Unsubscriptions, "status"),
            (Unsubscriptions, "completed_at"),
        ],
        via: &[
            Via {
                from: "R2",
                result: "blocked (not evaluated)",
            },
            Via {
                from: "as_of",
                result: "(STALE_PENDING)",
            },
        ],
        policy: &["review.thresholds", "review.auto_approve_hours"],
        codes: &[Code::REVIEW_BYPASSED, Code::STALE_PENDING],
    }
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testkit::{cal, d, t};

    #[test]
    fn threshold_is_strictly_greater() {
        assert!(!review_required(d("1000.00"), d("1000")));
        assert!(review_required(d("1000.01"), d("1000")));
    }

    /// Worked example 1, all three variants
    /// (docs/rules.md#example-1-review-month).
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

    #[test]
    fn r5_findings() {
        use crate::rules::testkit::{order, policy, unsub, with_env};
        let policy = policy();
        let mut o = order();
        o.amount = d("2000");
        let mut u = unsub();
        u.completed_at = Some(u.requested_at + HOUR);
        let mut f = Vec::new();
        let step = with_env(&policy, |env| check(&u, &o, env, &mut f));
        assert!(step.required);
        assert_eq!(step.approval, Approval::AutoApproved);
        assert_eq!(f[0].code, Code::REVIEW_BYPASSED);
        assert_eq!(f[0].field, "completed_at");
        f.clear();
        u.status = UnsubStatus::Pending;
        u.completed_at = None;
        with_env(&policy, |env| check(&u, &o, env, &mut f));
        assert_eq!(f[0].code, Code::STALE_PENDING);
        assert_eq!(
            (&f[0].expected, &f[0].recorded),
            (&Cell::text("completed"), &Cell::text("pending"))
        );
        f.clear();
        with_env(&policy, |env| check(&u, &order(), env, &mut f));
        assert!(f.is_empty(), "below the threshold no review is needed");
    }
}
