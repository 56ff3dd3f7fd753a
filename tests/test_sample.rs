//! The bundled sample (data/): the exact set of findings and rejects it was
//! built to show (tests/fixtures/, derived by hand from docs/), and the
//! monthly bill's control totals.

use std::collections::BTreeMap;
use std::process::Command;

use crate::common::*;

fn run_sample(extra: &[&str]) -> (tempfile::TempDir, std::process::Output) {
    let dir = tempfile::tempdir().unwrap();
    let out = run_sample_to(&dir.path().join("reports"), extra);
    (dir, out)
}

fn read(dir: &tempfile::TempDir, name: &str) -> Vec<CsvRow> {
    parse_csv(&std::fs::read_to_string(dir.path().join("reports").join(name)).unwrap())
}

/// The identity of a finding (docs/findings.md#identity-and-sort-order)
/// plus its severity.
fn finding_key(r: &CsvRow) -> String {
    format!(
        "{},{},{},{},{},{}",
        r.get("code"),
        r.get("severity"),
        r.get("account_id"),
        r.get("unsub_id"),
        r.get("order_id"),
        r.get("payment_id")
    )
}

#[test]
fn sample_shows_exactly_the_expected_findings() {
    let (dir, out) = run_sample(&[]);
    expect_code(&out, 0);
    let got: Vec<String> = read(&dir, "discrepancies.csv").iter().map(finding_key).collect();
    let want: Vec<String> =
        parse_csv(&std::fs::read_to_string(repo().join("tests/fixtures/sample_expected_findings.csv")).unwrap())
            .iter()
            .map(finding_key)
            .collect();
    let mut g = got.clone();
    g.sort();
    let mut w = want.clone();
    w.sort();
    let missing: Vec<_> = w.iter().filter(|x| !g.contains(x)).collect();
    let extra: Vec<_> = g.iter().filter(|x| !w.contains(x)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:#?}\nunexpected {extra:#?}"
    );
    // Every code of docs/findings.md#codes appears.
    let codes: std::collections::BTreeSet<&str> = got.iter().map(|s| s.split(',').next().unwrap()).collect();
    assert_eq!(codes.len(), 25, "{codes:?}");
}

/// Where a reject is: file, line, record id, column.
fn reject_key(r: &CsvRow) -> [String; 4] {
    ["file", "line", "record_id", "column"].map(|c| r.get(c).to_string())
}

#[test]
fn sample_rejects_are_the_planted_rows() {
    let (dir, out) = run_sample(&[]);
    expect_code(&out, 0);
    let got: Vec<_> = read(&dir, "rejects.csv").iter().map(reject_key).collect();
    let want: Vec<_> =
        parse_csv(&std::fs::read_to_string(repo().join("tests/fixtures/sample_expected_rejects.csv")).unwrap())
            .iter()
            .map(reject_key)
            .collect();
    assert_eq!(got, want);
}

#[test]
fn sample_bill_ties_out_with_refunds() {
    let (dir, out) = run_sample(&[]);
    expect_code(&out, 0);
    let parse = |s: &str| s.parse::<rust_decimal::Decimal>().unwrap();
    let mut from_refunds: BTreeMap<String, rust_decimal::Decimal> = BTreeMap::new();
    for r in read(&dir, "refunds.csv") {
        if r.get("status") == "completed" && !r.get("expected_refund").is_empty() {
            *from_refunds.entry(r.get("currency").into()).or_default() += parse(r.get("expected_refund"));
        }
    }
    let mut from_bill: BTreeMap<String, rust_decimal::Decimal> = BTreeMap::new();
    for r in read(&dir, "monthly_bill.csv") {
        *from_bill.entry(r.get("currency").into()).or_default() += parse(r.get("expected_refunds"));
        // Each row's derived columns follow from its sums.
        assert_eq!(
            parse(r.get("cash_due")),
            parse(r.get("charged")) - parse(r.get("coupon_deducted"))
        );
        assert_eq!(
            parse(r.get("refund_difference")),
            parse(r.get("recorded_refunds")) - parse(r.get("expected_refunds"))
        );
        assert_eq!(
            parse(r.get("expected_net")),
            parse(r.get("cash_due")) - parse(r.get("expected_refunds"))
        );
    }
    from_bill.retain(|_, v| !v.is_zero());
    from_refunds.retain(|_, v| !v.is_zero());
    assert_eq!(from_bill, from_refunds);
    assert!(!from_bill.is_empty());
    // The JPY bill is written without decimals.
    assert!(read(&dir, "monthly_bill.csv")
        .iter()
        .any(|r| r.get("currency") == "JPY" && !r.get("charged").contains('.')));
}

#[test]
fn sample_summary_counts() {
    let (dir, out) = run_sample(&[]);
    expect_code(&out, 0);
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("reports/summary.json")).unwrap()).unwrap();
    assert_eq!(s["as_of"], "2022-01-12T10:00:00+08:00");
    assert_eq!(s["policy"]["name"], "once-a-year");
    assert_eq!(s["policy"]["sha256"].as_str().unwrap().len(), 64);
    let counts: Vec<(u64, u64, u64)> = (0..3)
        .map(|i| {
            let m = &s["inputs"][i];
            (
                m["rows_read"].as_u64().unwrap(),
                m["accepted"].as_u64().unwrap(),
                m["rejected"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(counts, vec![(60, 57, 3), (60, 57, 3), (56, 52, 4)]);
    assert_eq!(s["findings"]["total"], 32);
    let text = stdout(&out);
    assert!(text.contains("findings: 32"), "{text}");
}

#[test]
fn explain_works_on_every_sample_unsubscription() {
    let text = std::fs::read_to_string(repo().join("data/unsubscriptions.csv")).unwrap();
    let ids: Vec<String> = text
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').next())
        .map(str::to_string)
        .collect();
    for id in ids
        .iter()
        .step_by(5)
        .chain(["uns-007".to_string(), "uns-052".to_string()].iter())
    {
        let out = Command::new(BIN)
            .current_dir(repo())
            .args(["explain", id])
            .output()
            .unwrap();
        expect_code(&out, 0);
        assert!(stdout(&out).contains(id.as_str()), "{id}: {}", stdout(&out));
    }
    let out = Command::new(BIN)
        .current_dir(repo())
        .args(["explain", "uns-007"])
        .output()
        .unwrap();
    let t = stdout(&out);
    for needle in [
        "R0 linking",
        "R3 type: partial",
        "R4 amounts: partial",
        "363/365",
        "197.91",
        "QUOTA_EXCEEDED",
        "REFUND_AMOUNT_MISMATCH",
    ] {
        assert!(t.contains(needle), "explain lacks {needle:?}:\n{t}");
    }
    let out = Command::new(BIN)
        .current_dir(repo())
        .args(["explain", "uns-052"])
        .output()
        .unwrap();
    assert!(stdout(&out).contains("was rejected"), "{}", stdout(&out));
    let out = Command::new(BIN)
        .current_dir(repo())
        .args(["explain", "no-such-id"])
        .output()
        .unwrap();
    expect_code(&out, 2);
}
