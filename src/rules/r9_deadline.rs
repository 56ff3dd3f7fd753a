//! R9 Refund deadline: the refund is due by the end of the local day of the
//! `sla_business_days`-th business day after the local date of approval.

use crate::rules::{ts_or_dash, Cell, Code, Env, Finding, Step, UnsubFacts};
use crate::time::{whole_seconds, Calendar, Micros};

/// 23:59:59 local of the `sla`-th business day after approved_at's date.
pub fn refund_deadline(approved_at: Micros, sla_business_days: u32, cal: &Calendar) -> Micros {
    let day = cal.nth_business_day_after(cal.local_date(approved_at), sla_business_days);
    cal.end_of_local_day(day)
}

/// R9 for a completed U with a recorded refund > 0: `LATE_REFUND` with the
/// business days late, or `REFUND_NOT_PAID` when there is no refunded_at
/// and as_of is past the deadline. Whole seconds compare.
pub fn deadline_finding(
    deadline: Micros,
    refunded_at: Option<Micros>,
    as_of: Micros,
    cal: &Calendar,
) -> Option<(Code, u32)> {
    match refunded_at {
        Some(r) if whole_seconds(r) > whole_seconds(deadline) => {
            let late = cal
                .business_days_between(cal.local_date(deadline), cal.local_date(r))
                .max(1);
            Some((Code::LATE_REFUND, late))
        }
        Some(_) => None,
        None if whole_seconds(as_of) > whole_seconds(deadline) => Some((Code::REFUND_NOT_PAID, 0)),
        None => None,
    }
}

/// R9's step: the deadline and, for a refund paid out, what R9 found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeadlineStep {
    pub deadline: Micros,
    /// LATE_REFUND (with business days late) or REFUND_NOT_PAID.
    pub verdict: Option<(Code, u32)>,
}

/// R9 with its findings. `pays_out`: completed with a recorded refund > 0
/// (only then are LATE_REFUND and REFUND_NOT_PAID checked).
pub fn check(u: &UnsubFacts<'_>, approved_at: Micros, env: &Env<'_>, findings: &mut Vec<Finding>) -> DeadlineStep {
    let (cal, sla) = (env.cal, env.policy.refund.sla_business_days);
    let deadline = refund_deadline(approved_at, sla, cal);
    let verdict = if u.pays_out() {
        deadline_finding(deadline, u.refunded_at, env.as_of, cal)
    } else {
        None
    };
    // Formatted only for a finding (this runs on every refund).
    let due = || {
        format!(
            "R9: approved {} so due by {} ({sla} business days), but",
            cal.format(approved_at),
            cal.format(deadline)
        )
    };
    match (verdict, u.refunded_at) {
        (Some((code @ Code::LATE_REFUND, late)), Some(paid)) => {
            let mut f = Finding::new(
                code,
                format!(
                    "{} refunded at {}, {late} business day(s) late",
                    due(),
                    cal.format(paid)
                ),
            )
            .field(
                "refunded_at",
                Cell::text(cal.format(deadline)),
                Cell::text(cal.format(paid)),
            );
            f.delta = Cell::Count(i64::from(late));
            findings.push(f);
        }
        (Some((code, _)), _) => findings.push(
            Finding::new(
                code,
                format!("{} not refunded at as_of {}", due(), cal.format(env.as_of)),
            )
            .field("refunded_at", Cell::text(cal.format(deadline)), Cell::Empty),
        ),
        (None, _) => {}
    }
    DeadlineStep { deadline, verdict }
}

impl DeadlineStep {
    /// R9's trail line for a refund paid out.
    pub fn describe(&self, u: &UnsubFacts<'_>, approved_at: Micros, env: &Env<'_>) -> Step {
        let cal = env.cal;
        let verdict = match self.verdict {
            Some((c, n)) if n > 0 => format!("{} ({n} business day(s) late)", c.as_str()),
            Some((c, _)) => c.as_str().to_string(),
            None => "on time".into(),
        };
        let sla = env.policy.refund.sla_business_days;
        Step::new(
            "R9",
            "deadline",
            format!(
                "R9 deadline: {sla} business day(s) after {} → {}; refunded_at {} → {verdict}",
                cal.local_date(approved_at),
                cal.format(self.deadline),
                ts_or_dash(cal, u.refunded_at)
            ),
        )
        .value("sla_business_days", sla)
        .value("deadline", cal.format(self.deadline))
        .value("refunded_at", ts_or_dash(cal, u.refunded_at))
        .value("verdict", verdict)
    }
}

/// R9 in the shape every rule has ([`super::Rule`]).
pub struct R9;

/// What R9 reads: the unsubscription and R5's approved_at.
pub struct Facts<'a> {
    pub unsub: &'a UnsubFacts<'a>,
    pub approved_at: Micros,
}

impl super::Rule for R9 {
    type Facts<'a> = Facts<'a>;
    type Step = DeadlineStep;
    fn check(f: &Facts<'_>, env: &Env<'_>, findings: &mut Vec<Finding>) -> DeadlineStep {
        check(f.unsub, f.approved_at, env, findings)
    }
}

/// What R9 reads and raises (docs/rules.md, checked by a test).
pub const RULE: super::declared::Rule = {
    use super::declared::{File::*, Rule, Via};
    Rule {
        id: "R9",
        module: module_path!(),
        title: "Refund deadline",
        columns: &[
            (Unsubscriptions, "status"),
            (Unsubscriptions, "refund_amount"),
            (Unsubscriptions, "refunded_at"),
        ],
        via: &[
            Via {
                from: "R4",
                result: "expected refund",
            },
            Via {
                from: "R5",
                result: "approved_at",
            },
            Via {
                from: "as_of",
                result: "(REFUND_NOT_PAID)",
            },
        ],
        policy: &["billing_timezone", "holidays", "refund.sla_business_days"],
        codes: &[Code::LATE_REFUND, Code::REFUND_NOT_PAID],
    }
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testkit::{cal, t};
    use crate::time::SECOND;
    use chrono::NaiveDate;

    /// Worked example 6 (docs/rules.md#example-6-deadline).
    #[test]
    fn worked_example_6_friday_deadline() {
        let d = refund_deadline(t("2021-10-08T10:00:00+08:00"), 2, &cal());
        assert_eq!(cal().format(d), "2021-10-12T23:59:59+08:00");
    }

    #[test]
    fn holidays_push_the_deadline() {
        let holidays = ["2021-10-01", "2021-10-04", "2021-10-05", "2021-10-06", "2021-10-07"]
            .iter()
            .map(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap())
            .collect();
        let c = Calendar::new(chrono_tz::Asia::Shanghai, holidays);
        // Approved Thursday 30 September: 1 business day is Friday 8 Oct.
        let d = refund_deadline(t("2021-09-30T10:00:00+08:00"), 2, &c);
        assert_eq!(c.format(d), "2021-10-11T23:59:59+08:00");
        // Approved on the holiday itself counts from that date.
        let d = refund_deadline(t("2021-10-04T10:00:00+08:00"), 1, &c);
        assert_eq!(c.format(d), "2021-10-08T23:59:59+08:00");
    }

    #[test]
    fn late_and_unpaid() {
        let c = cal();
        let deadline = refund_deadline(t("2021-10-08T10:00:00+08:00"), 2, &c);
        let on_time_last_second = deadline + SECOND - 1;
        assert_eq!(
            deadline_finding(deadline, Some(on_time_last_second), deadline, &c),
            None
        );
        assert_eq!(
            deadline_finding(deadline, Some(deadline + SECOND), deadline, &c),
            Some((Code::LATE_REFUND, 1))
        );
        // Paid on Friday 15 October: Wed, Thu, Fri = 3 business days late.
        assert_eq!(
            deadline_finding(deadline, Some(t("2021-10-15T09:00:00+08:00")), deadline, &c),
            Some((Code::LATE_REFUND, 3))
        );
        // Paid on Saturday 13 → still at least 1.
        let sat = t("2021-10-16T09:00:00+08:00");
        assert_eq!(
            deadline_finding(deadline, Some(sat), deadline, &c),
            Some((Code::LATE_REFUND, 3))
        );
        assert_eq!(deadline_finding(deadline, None, deadline + SECOND - 1, &c), None);
        assert_eq!(
            deadline_finding(deadline, None, deadline + SECOND, &c),
            Some((Code::REFUND_NOT_PAID, 0))
        );
    }

    #[test]
    fn r9_findings_carry_days_late() {
        use crate::rules::testkit::{policy, unsub, with_env};
        use crate::rules::Cell;
        let policy = policy();
        let mut u = unsub();
        let approved = u.requested_at; // Friday 2021-09-10: due Tuesday 09-14
        u.refunded_at = Some(t("2021-09-16T10:00:00+08:00"));
        let mut f = Vec::new();
        let step = with_env(&policy, |env| check(&u, approved, env, &mut f));
        assert_eq!(step.verdict, Some((Code::LATE_REFUND, 2)));
        assert_eq!(f[0].delta, Cell::Count(2));
        f.clear();
        u.refunded_at = None;
        with_env(&policy, |env| check(&u, approved, env, &mut f));
        assert_eq!((f[0].code, &f[0].recorded), (Code::REFUND_NOT_PAID, &Cell::Empty));
        f.clear();
        u.status = crate::model::UnsubStatus::Pending;
        let step = with_env(&policy, |env| check(&u, approved, env, &mut f));
        assert!(
            f.is_empty() && step.verdict.is_none(),
            "not paid out: only the deadline"
        );
    }
}
