//! The worked examples of docs/rules.md#worked-examples, end to end
//! through the binary.

use crate::common::golden;
use crate::common::*;

/// An edition subscription order in USD on its own instance.
#[allow(clippy::too_many_arguments)]
fn order(id: &str, acct: &str, ty: &str, ordered: &str, start: &str, end: &str, amount: &str, coupon: &str) -> String {
    format!("{id},{acct},i-{id},Host Security,edition,subscription,{ty},{ordered},{start},{end},{amount},{coupon},USD,false,false")
}

fn pay(id: &str, order: &str, acct: &str, at: &str, amount: &str) -> String {
    format!("{id},{order},{acct},{at},{amount},USD,credit_card,succeeded")
}

#[allow(clippy::too_many_arguments)]
fn unsub(
    id: &str,
    order: &str,
    acct: &str,
    requested: &str,
    reviewed: &str,
    completed: &str,
    refunded: &str,
    ty: &str,
    refund: &str,
    coupon: &str,
    cycle: &str,
) -> String {
    format!("{id},{order},{acct},,{requested},{reviewed},{completed},{refunded},normal,completed,{ty},{refund},0.00,{coupon},credit_card,{cycle}")
}

#[test]
fn example_1_review_month() {
    let (o, s, e) = (
        "2021-08-20T10:00:00+08:00",
        "2021-08-20T10:00:00+08:00",
        "2022-08-20T10:00:00+08:00",
    );
    let req = "2021-09-30T10:00:00+08:00";
    let f = Fixture::with(
        &[
            &order("O1", "A", "new", o, s, e, "2000.00", "0.00"),
            &order("O2", "A", "new", o, s, e, "2000.00", "0.00"),
            &order("O3", "A", "new", o, s, e, "2000.00", "0.00"),
        ],
        &[
            &pay("P1", "O1", "A", o, "2000.00"),
            &pay("P2", "O2", "A", o, "2000.00"),
            &pay("P3", "O3", "A", o, "2000.00"),
        ],
        &[
            // 41 days used of 365: 2000 × 324/365 = 1775.34.
            &unsub(
                "U1",
                "O1",
                "A",
                req,
                "2021-09-30T18:00:00+08:00",
                "2021-09-30T18:30:00+08:00",
                "2021-10-01T10:00:00+08:00",
                "partial",
                "1775.34",
                "0.00",
                "2021-09",
            ),
            &unsub(
                "U2",
                "O2",
                "A",
                req,
                "2021-10-01T09:00:00+08:00",
                "2021-10-01T09:30:00+08:00",
                "2021-10-02T10:00:00+08:00",
                "partial",
                "1775.34",
                "0.00",
                "2021-10",
            ),
            &unsub(
                "U3",
                "O3",
                "A",
                req,
                "",
                "2021-10-01T10:30:00+08:00",
                "2021-10-02T10:00:00+08:00",
                "partial",
                "1775.34",
                "0.00",
                "2021-10",
            ),
        ],
    );
    expect_code(&f.run(&["--fail-on", "warning"]), 0);
    golden::check_reports("examples/1-review-month", &f.out(), f.path());
    let r = f.rows("refunds.csv");
    for u in ["U1", "U2", "U3"] {
        assert_eq!(refund(&r, u).get("review_required"), "true");
        assert_eq!(refund(&r, u).get("expected_refund"), "1775.34");
    }
    assert_eq!(refund(&r, "U1").get("approved_at"), "2021-09-30T18:00:00+08:00");
    assert_eq!(refund(&r, "U1").get("expected_cycle"), "2021-09");
    assert_eq!(refund(&r, "U2").get("approved_at"), "2021-10-01T09:00:00+08:00");
    assert_eq!(refund(&r, "U2").get("expected_cycle"), "2021-10");
    assert_eq!(
        refund(&r, "U3").get("approved_at"),
        "2021-10-01T10:00:00+08:00",
        "auto-approved after 24 h"
    );
    assert_eq!(refund(&r, "U3").get("expected_cycle"), "2021-10");
    assert!(
        f.rows("discrepancies.csv").is_empty(),
        "{}",
        f.report("discrepancies.csv")
    );
}

#[test]
fn example_2_time_zone_edge() {
    let t = "2021-09-28T09:00:00+08:00";
    let f = Fixture::with(
        &[&order(
            "O1",
            "A",
            "new",
            t,
            t,
            "2022-09-28T09:00:00+08:00",
            "300.00",
            "0.00",
        )],
        &[&pay("P1", "O1", "A", t, "300.00")],
        &[&unsub(
            "U1",
            "O1",
            "A",
            "2021-09-30T16:30:00Z",
            "",
            "2021-09-30T16:45:00Z",
            "2021-10-04T10:00:00+08:00",
            "unconditional",
            "300.00",
            "0.00",
            "2021-10",
        )],
    );
    expect_code(&f.run(&["--fail-on", "warning"]), 0);
    golden::check_reports("examples/2-time-zone-edge", &f.out(), f.path());
    let r = f.rows("refunds.csv");
    let u = refund(&r, "U1");
    assert_eq!(u.get("approved_at"), "2021-10-01T00:30:00+08:00");
    assert_eq!(u.get("expected_cycle"), "2021-10");
    assert_eq!(u.get("review_required"), "false");
}

#[test]
fn example_3_quota() {
    let f = Fixture::with(
        &[
            &order(
                "O1",
                "A",
                "new",
                "2021-03-01T10:00:00+08:00",
                "2021-03-01T10:00:00+08:00",
                "2022-03-01T10:00:00+08:00",
                "199.00",
                "0.00",
            ),
            &order(
                "O2",
                "A",
                "new",
                "2021-06-01T10:00:00+08:00",
                "2021-06-01T10:00:00+08:00",
                "2022-06-01T10:00:00+08:00",
                "199.00",
                "0.00",
            ),
            &order(
                "O3",
                "A",
                "new",
                "2022-01-10T10:00:00+08:00",
                "2022-01-10T10:00:00+08:00",
                "2023-01-10T10:00:00+08:00",
                "199.00",
                "0.00",
            ),
        ],
        &[
            &pay("P1", "O1", "A", "2021-03-01T10:00:00+08:00", "199.00"),
            &pay("P2", "O2", "A", "2021-06-01T10:00:00+08:00", "199.00"),
            &pay("P3", "O3", "A", "2022-01-10T10:00:00+08:00", "199.00"),
        ],
        &[
            &unsub(
                "U1",
                "O1",
                "A",
                "2021-03-02T10:00:00+08:00",
                "",
                "2021-03-02T11:00:00+08:00",
                "2021-03-03T10:00:00+08:00",
                "unconditional",
                "199.00",
                "0.00",
                "2021-03",
            ),
            // Within 2 days too, but the 2021 quota is gone: partial, 1 day used.
            &unsub(
                "U2",
                "O2",
                "A",
                "2021-06-02T12:00:00+08:00",
                "",
                "2021-06-02T13:00:00+08:00",
                "2021-06-03T10:00:00+08:00",
                "unconditional",
                "199.00",
                "0.00",
                "2021-06",
            ),
            &unsub(
                "U3",
                "O3",
                "A",
                "2022-01-11T10:00:00+08:00",
                "",
                "2022-01-11T11:00:00+08:00",
                "2022-01-12T10:00:00+08:00",
                "unconditional",
                "199.00",
                "0.00",
                "2022-01",
            ),
        ],
    );
    expect_code(&f.run(&[]), 0);
    golden::check_reports("examples/3-quota", &f.out(), f.path());
    let r = f.rows("refunds.csv");
    assert_eq!(refund(&r, "U1").get("expected_type"), "unconditional");
    assert_eq!(refund(&r, "U2").get("expected_type"), "partial");
    assert_eq!(refund(&r, "U2").get("expected_refund"), "197.91", "199 × 363/365");
    assert_eq!(
        refund(&r, "U3").get("expected_type"),
        "unconditional",
        "a new calendar year"
    );
    assert_eq!(refund(&r, "U1").get("quota_used"), "1");
    assert_eq!(refund(&r, "U2").get("quota_used"), "1");
    assert_eq!(refund(&r, "U3").get("quota_used"), "1");
    let d = f.rows("discrepancies.csv");
    assert_eq!(codes_of(&d, "U2"), vec!["QUOTA_EXCEEDED", "REFUND_AMOUNT_MISMATCH"]);
    assert!(codes_of(&d, "U1").is_empty() && codes_of(&d, "U3").is_empty());
    let q = f.rows("quota_usage.csv");
    assert_eq!(q.len(), 2);
    assert_eq!(
        (
            q[0].get("year"),
            q[0].get("allowed"),
            q[0].get("granted"),
            q[0].get("denied_by_quota")
        ),
        ("2021", "1", "1", "1")
    );
    assert_eq!(
        (q[0].get("recorded_unconditional"), q[0].get("over_quota")),
        ("2", "true")
    );
    assert_eq!(
        (q[1].get("year"), q[1].get("granted"), q[1].get("over_quota")),
        ("2022", "1", "false")
    );
}

#[test]
fn example_4_partial() {
    let f = Fixture::with(
        &[&order(
            "O1",
            "A",
            "new",
            "2021-01-01T00:00:00+08:00",
            "2021-01-31T00:00:00+08:00",
            "2022-01-31T00:00:00+08:00",
            "365.00",
            "65.00",
        )],
        &[&pay("P1", "O1", "A", "2021-01-01T00:00:00+08:00", "300.00")],
        &[&unsub(
            "U1",
            "O1",
            "A",
            "2021-05-11T01:00:00+08:00",
            "",
            "2021-05-11T02:00:00+08:00",
            "2021-05-12T10:00:00+08:00",
            "partial",
            "201.99",
            "0.00",
            "2021-05",
        )],
    );
    f.policy(&format!("{POLICY}\n[partial]\nhandling_fee_rate = \"0.05\"\n"));
    expect_code(&f.run(&[]), 0);
    golden::check_reports("examples/4-partial", &f.out(), f.path());
    let r = f.rows("refunds.csv");
    let u = refund(&r, "U1");
    assert_eq!(u.get("cash_due"), "300.00");
    assert_eq!(u.get("expected_type"), "partial");
    assert_eq!(u.get("expected_refund"), "201.99");
    assert_eq!(u.get("expected_fee"), "15.00");
    // The recorded fee is 0.00: the only finding.
    let d = f.rows("discrepancies.csv");
    assert_eq!(codes_of(&d, "U1"), vec!["HANDLING_FEE_MISMATCH"]);
    let fee = d.iter().find(|x| x.get("code") == "HANDLING_FEE_MISMATCH").unwrap();
    assert_eq!(
        (fee.get("expected"), fee.get("recorded"), fee.get("delta")),
        ("15.00", "0.00", "-15.00")
    );
}

#[test]
fn example_5_unactivated_renewal() {
    let f = Fixture::with(
        &[&order(
            "O1",
            "A",
            "renewal",
            "2021-09-20T10:00:00+08:00",
            "2021-10-15T00:00:00+08:00",
            "2022-10-15T00:00:00+08:00",
            "1200.00",
            "100.00",
        )],
        &[&pay("P1", "O1", "A", "2021-09-20T10:00:00+08:00", "1100.00")],
        &[&unsub(
            "U1",
            "O1",
            "A",
            "2021-09-28T10:00:00+08:00",
            "2021-09-28T15:00:00+08:00",
            "2021-09-28T16:00:00+08:00",
            "2021-09-29T10:00:00+08:00",
            "unactivated",
            "1100.00",
            "100.00",
            "2021-09",
        )],
    );
    expect_code(&f.run(&["--fail-on", "warning"]), 0);
    golden::check_reports("examples/5-unactivated-renewal", &f.out(), f.path());
    let r = f.rows("refunds.csv");
    let u = refund(&r, "U1");
    assert_eq!(u.get("expected_type"), "unactivated");
    assert_eq!(
        (
            u.get("expected_refund"),
            u.get("expected_fee"),
            u.get("expected_coupon_returned")
        ),
        ("1100.00", "0.00", "100.00")
    );
    assert_eq!(u.get("review_required"), "true");
}

#[test]
fn example_6_deadline() {
    let t = "2021-09-01T10:00:00+08:00";
    let f = Fixture::with(
        &[&order(
            "O1",
            "A",
            "new",
            t,
            t,
            "2022-09-01T10:00:00+08:00",
            "365.00",
            "0.00",
        )],
        &[&pay("P1", "O1", "A", t, "365.00")],
        // Approved Friday 2021-10-08 10:00 (no review); paid Wednesday: 1 day late.
        &[&unsub(
            "U1",
            "O1",
            "A",
            "2021-10-08T10:00:00+08:00",
            "",
            "2021-10-08T11:00:00+08:00",
            "2021-10-13T09:00:00+08:00",
            "partial",
            "328.00",
            "0.00",
            "2021-10",
        )],
    );
    expect_code(&f.run(&[]), 0);
    golden::check_reports("examples/6-deadline", &f.out(), f.path());
    let r = f.rows("refunds.csv");
    assert_eq!(refund(&r, "U1").get("refund_deadline"), "2021-10-12T23:59:59+08:00");
    let d = f.rows("discrepancies.csv");
    let late = d.iter().find(|x| x.get("code") == "LATE_REFUND").expect("late refund");
    assert_eq!(
        (late.get("severity"), late.get("delta"), late.get("field")),
        ("warning", "1", "refunded_at")
    );
    assert_eq!(late.get("expected"), "2021-10-12T23:59:59+08:00");
}
