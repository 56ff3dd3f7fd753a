//! Golden files for whole reports (tests/golden/): the bundled sample's
//! reports and stdout under both presets, `validate`, and `explain` for
//! unsubscriptions that between them exercise every rule R0–R11. The
//! worked examples of docs/rules.md snapshot their reports in test_examples.
//! `BLESS=1 cargo test --release` rewrites them.

use std::process::Command;

use crate::common::golden::{check, check_reports, scrub};
use crate::common::*;

fn sample_run(golden: &str, extra: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("reports");
    let o = run_sample_to(&out, extra);
    expect_code(&o, 0);
    check_reports(golden, &out, dir.path());
    check(
        &format!("{golden}/stdout.txt"),
        &scrub(&stdout(&o), dir.path(), "<dir>"),
    );
}

#[test]
fn golden_sample_reports() {
    sample_run("sample", &[]);
}

#[test]
fn golden_sample_reports_ten_a_year() {
    sample_run("sample-ten-a-year", &["--policy", "data/policies/ten-a-year.toml"]);
}

/// The FOCUS bill, written on request (`--format csv,focus`): the golden
/// files the default runs above no longer write, and the same other
/// reports.
fn sample_focus(golden: &str, extra: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("reports");
    let mut args = vec!["--format", "csv,focus"];
    args.extend(extra);
    expect_code(&run_sample_to(&out, &args), 0);
    let bill = std::fs::read_to_string(out.join("monthly_bill.focus.csv")).unwrap();
    check(&format!("{golden}/monthly_bill.focus.csv"), &bill);
    for name in ["discrepancies.csv", "refunds.csv", "monthly_bill.csv"] {
        check(
            &format!("{golden}/{name}"),
            &std::fs::read_to_string(out.join(name)).unwrap(),
        );
    }
}

#[test]
fn golden_sample_focus_bill() {
    sample_focus("sample", &[]);
}

#[test]
fn golden_sample_focus_bill_ten_a_year() {
    sample_focus("sample-ten-a-year", &["--policy", "data/policies/ten-a-year.toml"]);
}

#[test]
fn golden_sample_validate() {
    let o = Command::new(BIN).current_dir(repo()).arg("validate").output().unwrap();
    expect_code(&o, 0);
    check("sample/validate.txt", &stdout(&o));
}

/// One unsubscription per rule (and per finding code the sample shows),
/// a clean one, and one rejected at input.
pub const EXPLAINED: &[(&str, &str)] = &[
    ("uns-001", "clean, unconditional within the window"),
    ("uns-005", "R6 wrong billing cycle"),
    ("uns-007", "R3 quota exceeded, R4 amount"),
    ("uns-012", "R4 handling fee"),
    ("uns-013", "R4 coupon return"),
    ("uns-014", "R1 payment mismatch, R4 refund exceeds paid"),
    ("uns-015", "R8 fallback to balance"),
    ("uns-016", "R8 wrong destination"),
    ("uns-017", "R9 late refund"),
    ("uns-018", "R9 refund not paid"),
    ("uns-019", "R5 stale pending"),
    ("uns-021", "R2 ineligible state"),
    ("uns-025", "R5 review bypassed"),
    ("uns-027", "R3 type mismatch"),
    ("uns-029", "R0 duplicate unsubscription"),
    ("uns-030", "R0 order not found"),
    ("uns-032", "R0 account mismatch"),
    ("uns-035", "R10 value-added before quota"),
    ("uns-039", "R10 charged after release"),
    ("uns-044", "R11 batch inconsistent"),
    ("uns-046", "R2 unexpected rejection"),
    ("uns-052", "rejected at input"),
];

#[test]
fn golden_explain() {
    for (id, _why) in EXPLAINED {
        let o = Command::new(BIN)
            .current_dir(repo())
            .args(["explain", id])
            .output()
            .unwrap();
        expect_code(&o, 0);
        check(&format!("explain/{id}.txt"), &stdout(&o));
    }
}

/// `explain --json`, and explain by order and by account id.
#[test]
fn golden_explain_json_order_account() {
    let cases: &[(&str, &[&str])] = &[
        ("json/uns-007.json", &["uns-007", "--json"]),
        ("json/uns-039.json", &["uns-039", "--json"]),
        ("json/ord-014.json", &["ord-014", "--json"]),
        ("json/acct-004.json", &["acct-004", "--json"]),
        ("order/ord-014.txt", &["ord-014"]),
        ("order/ord-043.txt", &["ord-043"]),
        ("order/ord-999.txt", &["ord-999"]),
        ("account/acct-004.txt", &["acct-004"]),
        ("account/acct-033.txt", &["acct-033"]),
    ];
    for (golden, args) in cases {
        let o = Command::new(BIN)
            .current_dir(repo())
            .arg("explain")
            .args(*args)
            .output()
            .unwrap();
        expect_code(&o, 0);
        check(&format!("explain/{golden}"), &stdout(&o));
    }
}
