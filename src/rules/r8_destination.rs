//! R8 Destination: a refund goes back to the original payment method, else
//! to the fallback (the account balance).

use crate::rules::{Cell, Code, Finding, Step, UnsubFacts};

/// R8 for a completed U with a recorded refund > 0. `original` is the
/// method of the order's largest succeeded payment (None without one).
pub fn destination_finding(recorded: &str, original: Option<&str>, fallback: &str) -> Option<Code> {
    if Some(recorded) == original {
        None
    } else if recorded == fallback {
        Some(Code::FALLBACK_TO_BALANCE)
    } else {
        Some(Code::WRONG_DESTINATION)
    }
}

/// R8 with its finding (WRONG_DESTINATION or FALLBACK_TO_BALANCE) for a
/// refund that was paid out; returns the finding's code, None when the
/// refund went back to the original method.
pub fn check(
    u: &UnsubFacts<'_>,
    order_id: &str,
    original: Option<&str>,
    fallback: &str,
    findings: &mut Vec<Finding>,
) -> Option<Code> {
    let recorded = u.refund_destination;
    let code = destination_finding(recorded, original, fallback)?;
    let origin = match original {
        Some(m) => format!("the original payment method is {m}"),
        None => format!("order {order_id} has no succeeded payment of its own"),
    };
    let what = if code == Code::FALLBACK_TO_BALANCE {
        "fell back to"
    } else {
        "went to"
    };
    findings.push(
        Finding::new(
            code,
            format!("R8: the refund of {} {what} {recorded} but {origin}", u.unsub_id),
        )
        .field(
            "refund_destination",
            original.map(Cell::text).unwrap_or(Cell::Empty),
            Cell::text(recorded),
        ),
    );
    Some(code)
}

/// R8's trail line.
pub fn describe(verdict: Option<Code>, u: &UnsubFacts<'_>, original: Option<&str>) -> Step {
    let verdict = verdict.map(|c| c.as_str()).unwrap_or("ok");
    let dest = u.refund_destination;
    Step::new(
        "R8",
        "destination",
        format!(
            "R8 destination: recorded {dest}, original {} → {verdict}",
            original.unwrap_or("none")
        ),
    )
    .value("recorded", dest)
    .value("original", original.unwrap_or(""))
    .value("verdict", verdict)
}

/// R8 in the shape every rule has ([`super::Rule`]).
pub struct R8;

/// What R8 reads: a completed unsubscription with a refund paid out, its
/// order id and R1's original payment method of the order.
pub struct Facts<'a> {
    pub unsub: &'a UnsubFacts<'a>,
    pub order_id: &'a str,
    pub original: Option<&'a str>,
}

impl super::Rule for R8 {
    type Facts<'a> = Facts<'a>;
    type Step = Option<Code>;
    fn check(f: &Facts<'_>, env: &super::Env<'_>, findings: &mut Vec<Finding>) -> Option<Code> {
        let fallback = env.policy.refund.fallback_destination.as_str();
        check(f.unsub, f.order_id, f.original, fallback, findings)
    }
}

/// What R8 reads and raises (docs/rules.md, checked by a test).
pub const RULE: super::declared::Rule = {
    use super::declared::{File::*, Rule, Via};
    Rule {
        id: "R8",
        module: module_path!(),
        title: "Destination",
        columns: &[
            (Unsubscriptions, "status"),
            (Unsubscriptions, "refund_amount"),
            (Unsubscriptions, "refund_destination"),
        ],
        via: &[
            Via {
                from: "R1",
                result: "original payment method",
            },
            Via {
                from: "R2",
                result: "blocked (not evaluated)",
            },
        ],
        policy: &["refund.fallback_destination"],
        codes: &[Code::FALLBACK_TO_BALANCE, Code::WRONG_DESTINATION],
    }
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r8_cases() {
        assert_eq!(
            destination_finding("credit_card", Some("credit_card"), "account_balance"),
            None
        );
        assert_eq!(
            destination_finding("account_balance", Some("credit_card"), "account_balance"),
            Some(Code::FALLBACK_TO_BALANCE)
        );
        assert_eq!(
            destination_finding("wallet", Some("credit_card"), "account_balance"),
            Some(Code::WRONG_DESTINATION)
        );
        assert_eq!(
            destination_finding("account_balance", None, "account_balance"),
            Some(Code::FALLBACK_TO_BALANCE)
        );
        assert_eq!(
            destination_finding("wallet", None, "account_balance"),
            Some(Code::WRONG_DESTINATION)
        );
        // Paid from the balance originally: back to the balance is fine.
        assert_eq!(
            destination_finding("account_balance", Some("account_balance"), "account_balance"),
            None
        );
    }

    #[test]
    fn r8_finding_cells() {
        use crate::rules::testkit::unsub;
        let mut u = unsub();
        let mut f = Vec::new();
        assert_eq!(check(&u, "O1", Some("credit_card"), "account_balance", &mut f), None);
        assert!(f.is_empty());
        u.refund_destination = "alipay";
        assert_eq!(
            check(&u, "O1", Some("credit_card"), "account_balance", &mut f),
            Some(Code::WRONG_DESTINATION)
        );
        assert_eq!(
            (&f[0].expected, &f[0].recorded),
            (&Cell::text("credit_card"), &Cell::text("alipay"))
        );
        f.clear();
        u.refund_destination = "account_balance";
        check(&u, "O1", None, "account_balance", &mut f);
        assert_eq!((f[0].code, &f[0].expected), (Code::FALLBACK_TO_BALANCE, &Cell::Empty));
        assert!(
            f[0].message.contains("order O1 has no succeeded payment"),
            "{}",
            f[0].message
        );
    }
}
