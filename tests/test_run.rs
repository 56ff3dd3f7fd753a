//! The `run` command: exit codes, --fail-on, --account, --as-of,
//! determinism across reruns and thread counts, formula injection.

use std::process::Command;

use crate::common::*;

const O1: &str = "O1,A1,i-1,Prod,edition,subscription,new,2021-09-01T10:00:00+08:00,2021-09-01T10:00:00+08:00,2022-09-01T10:00:00+08:00,300.00,0.00,USD,false,false";
const P1: &str = "P1,O1,A1,2021-09-01T10:00:00+08:00,300.00,USD,credit_card,succeeded";
const U_OK: &str = "U1,O1,A1,,2021-09-02T10:00:00+08:00,,2021-09-02T11:00:00+08:00,2021-09-03T10:00:00+08:00,normal,completed,unconditional,300.00,0.00,0.00,credit_card,2021-09";

#[test]
fn fail_on_picks_the_exit_code() {
    // Clean: 0 whatever --fail-on says.
    let f = Fixture::with(&[O1], &[P1], &[U_OK]);
    for level in ["never", "error", "warning"] {
        expect_code(&f.run(&["--fail-on", level]), 0);
    }
    // Only an info finding (fallback to balance): still 0.
    let info = U_OK.replace("credit_card,2021-09", "account_balance,2021-09");
    let f = Fixture::with(&[O1], &[P1], &[&info]);
    expect_code(&f.run(&["--fail-on", "warning"]), 0);
    // A warning (late refund).
    let late = U_OK.replace("2021-09-03T10:00:00+08:00", "2021-09-09T10:00:00+08:00");
    let f = Fixture::with(&[O1], &[P1], &[&late]);
    expect_code(&f.run(&["--fail-on", "error"]), 0);
    expect_code(&f.run(&["--fail-on", "warning"]), 1);
    expect_code(&f.run(&[]), 0);
    // An error (wrong amount).
    let wrong = U_OK.replace("unconditional,300.00", "unconditional,301.00");
    let f = Fixture::with(&[O1], &[P1], &[&wrong]);
    expect_code(&f.run(&["--fail-on", "error"]), 1);
    expect_code(&f.run(&["--fail-on", "never"]), 0);
    // Reports are written in every case.
    assert!(f.out().join("summary.json").exists());
}

#[test]
fn bad_command_line_is_exit_2() {
    let f = Fixture::with(&[O1], &[P1], &[U_OK]);
    expect_code(&f.run(&["--fail-on", "sometimes"]), 2);
    expect_code(&f.run(&["--max-reject-rate", "2"]), 2);
    expect_code(&f.run(&["--threads", "0"]), 2);
    let out = f.run(&["--as-of", "2021-13-01"]);
    expect_code(&out, 2);
    assert!(stderr(&out).contains("--as-of"), "{}", stderr(&out));
}

#[test]
fn as_of_drives_pending_and_unpaid_findings() {
    // A pending review-required unsubscription.
    let big = O1.replace("300.00,0.00,USD", "3000.00,0.00,USD");
    let p = P1.replace("300.00", "3000.00");
    let pending = "U1,O1,A1,,2021-09-02T10:00:00+08:00,,,,normal,pending,,,,,,";
    let f = Fixture::with(&[&big], &[&p], &[pending]);
    f.run(&[]);
    assert!(
        f.rows("discrepancies.csv").is_empty(),
        "default as_of = the request itself"
    );
    f.run(&["--as-of", "2021-09-03 10:00:00"]);
    let d = f.rows("discrepancies.csv");
    assert_eq!(d.len(), 1);
    assert_eq!((d[0].get("code"), d[0].get("severity")), ("STALE_PENDING", "warning"));
    f.run(&["--as-of", "2021-09-03T09:59:59+08:00"]);
    assert!(
        f.rows("discrepancies.csv").is_empty(),
        "one second before auto-approval"
    );
    let s: serde_json::Value = serde_json::from_str(&f.report("summary.json")).unwrap();
    assert_eq!(s["as_of"], "2021-09-03T09:59:59+08:00");
}

#[test]
fn account_filter_keeps_selected_rows_and_all_rejects() {
    let o2 = O1.replace("O1,A1,i-1", "O2,A2,i-2");
    let p2 = P1.replace("P1,O1,A1", "P2,O2,A2");
    let u2 = U_OK
        .replace("U1,O1,A1", "U2,O2,A2")
        .replace("300.00,0.00,0.00", "299.00,0.00,0.00");
    let bad = "O9,A3";
    let f = Fixture::with(&[O1, &o2, bad], &[P1, &p2], &[U_OK, &u2]);
    expect_code(&f.run(&["--account", "A2"]), 0);
    let r = f.rows("refunds.csv");
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].get("account_id"), "A2");
    let d = f.rows("discrepancies.csv");
    assert!(d.iter().all(|x| x.get("account_id") == "A2") && !d.is_empty());
    assert!(f.rows("monthly_bill.csv").iter().all(|x| x.get("account_id") == "A2"));
    assert_eq!(f.rows("rejects.csv").len(), 1, "rejects stay whole");
    let s: serde_json::Value = serde_json::from_str(&f.report("summary.json")).unwrap();
    assert_eq!(s["accounts"], serde_json::json!(["A2"]));
    assert_eq!(s["refund_totals"]["USD"]["expected_refunds"], "300.00");
    // Same evaluation as a full run: as_of comes from all accounts.
    expect_code(&f.run(&["--account", "A1", "--account", "A2"]), 0);
    assert_eq!(f.rows("refunds.csv").len(), 2);
}

#[test]
fn formula_injection_is_neutralised_in_text_cells_only() {
    let o = O1.replace("O1,A1,i-1", "=O1,+A1,i-1");
    let p = P1.replace("P1,O1,A1", "@P1,=O1,+A1");
    let u = U_OK
        .replace("U1,O1,A1", "-U1,=O1,+A1")
        .replace("unconditional,300.00", "unconditional,299.00");
    let f = Fixture::with(&[&o], &[&p], &[&u]);
    expect_code(&f.run(&[]), 0);
    let r = f.rows("refunds.csv");
    assert_eq!(
        (r[0].get("unsub_id"), r[0].get("account_id"), r[0].get("order_id")),
        ("'-U1", "'+A1", "'=O1")
    );
    let d = f.rows("discrepancies.csv");
    let amount = d.iter().find(|x| x.get("code") == "REFUND_AMOUNT_MISMATCH").unwrap();
    assert_eq!(amount.get("delta"), "-1.00", "numbers are never prefixed");
    assert_eq!(amount.get("account_id"), "'+A1");
    let bill = f.rows("monthly_bill.csv");
    assert!(bill.iter().all(|b| b.get("account_id") == "'+A1"));
    // A bad value echoed into rejects.csv is escaped too.
    let f = Fixture::with(
        &[O1, &O1.replace("O1,", "O2,").replace("300.00,0.00", "=1+1,0.00")],
        &[P1],
        &[U_OK],
    );
    f.run(&[]);
    assert_eq!(f.rows("rejects.csv")[0].get("value"), "'=1+1");
}

/// All report files, summary.json without its volatile fields.
fn snapshot(dir: &std::path::Path) -> Vec<(String, String)> {
    report_snapshot(dir, false)
}

#[test]
fn reports_are_byte_identical_across_threads_and_reruns() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("gen");
    let out = Command::new(BIN)
        .args([
            "generate",
            "--orders",
            "20000",
            "--seed",
            "7",
            "--error-rate",
            "0.05",
            "--malformed-rate",
            "0.01",
            "--out",
        ])
        .arg(&data)
        .output()
        .unwrap();
    expect_code(&out, 0);
    let mut snaps = Vec::new();
    for (i, threads) in ["1", "8", "8", "3"].iter().enumerate() {
        let o = dir.path().join(format!("out{i}"));
        let out = Command::new(BIN)
            .current_dir(repo())
            .args(["run", "--threads", threads, "--data"])
            .arg(&data)
            .arg("--out")
            .arg(&o)
            .output()
            .unwrap();
        expect_code(&out, 0);
        snaps.push(snapshot(&o));
    }
    let findings = parse_csv(&snaps[0][0].1).len();
    assert!(findings > 100, "the generated set has findings to compare ({findings})");
    for s in &snaps[1..] {
        for (a, b) in snaps[0].iter().zip(s) {
            assert!(a.1 == b.1, "{} differs between runs", a.0);
        }
    }
}

#[test]
fn human_summary_on_stdout() {
    let f = Fixture::with(&[O1], &[P1], &[&U_OK.replace("300.00,0.00,0.00", "301.00,0.00,0.00")]);
    let out = f.run(&[]);
    expect_code(&out, 0);
    let text = stdout(&out);
    for needle in [
        "policy test-once-a-year",
        "orders.csv",
        "findings: 2 (2 error, 0 warning, 0 info)",
        "REFUND_AMOUNT_MISMATCH",
        "REFUND_EXCEEDS_PAID",
        "USD  expected",
        "reports:",
    ] {
        assert!(text.contains(needle), "stdout lacks {needle:?}:\n{text}");
    }
}

/// Every flag is checked before anything has an effect: no --out folder,
/// no lock, no generated file after a refused command line.
#[test]
fn refused_flags_leave_no_trace() {
    let f = Fixture::with(&[], &[], &[]);
    let out = f.path().join("never");
    for extra in [
        &["--threads", "0"][..],
        &["--max-reject-rate", "2"],
        &["--as-of", "soon"],
    ] {
        let o = f.run_command(&out).args(extra).output().unwrap();
        expect_code(&o, 2);
        assert!(!out.exists(), "{extra:?} created --out");
        let names: Vec<_> = std::fs::read_dir(f.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(!names.iter().any(|n| n.contains("never")), "{extra:?}: {names:?}");
    }
    let gen = f.path().join("gen");
    let o = std::process::Command::new(BIN)
        .current_dir(repo())
        .args(["generate", "--orders", "0", "--out"])
        .arg(&gen)
        .output()
        .unwrap();
    expect_code(&o, 2);
    assert!(!gen.exists());
    let o = std::process::Command::new(BIN)
        .current_dir(repo())
        .args(["explain", "uns-007", "--threads", "0", "--reports", "reports"])
        .output()
        .unwrap();
    expect_code(&o, 2);
}

/// A reader that stops early (`| head -1`, `| grep -q`) is no error: each
/// command's output ends quietly, with its own exit code and its work
/// done, instead of a panic on the closed pipe (exit 5). The pipe is
/// closed before the command starts, so every write meets it.
#[test]
fn a_closed_stdout_is_not_an_error() {
    use std::process::Stdio;
    let f = Fixture::with(&[O1], &[P1], &[U_OK]);
    let closed = |sub: &str, extra: &[&str]| {
        let mut c = Command::new(BIN);
        c.current_dir(f.dir.path()).arg(sub).args(extra);
        if sub != "verify" && sub != "explain" {
            c.args(["--data", "data", "--policy", "policy.toml"]);
        }
        let mut child = c.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        drop(child.stdout.take());
        child.wait_with_output().unwrap()
    };
    let out = f.out();
    let out = out.to_str().unwrap();
    for (sub, extra) in [
        ("run", vec!["--out", out]),
        ("validate", vec![]),
        ("verify", vec![out]),
        ("explain", vec!["U1", "--reports", out]),
    ] {
        let o = closed(sub, &extra);
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert_eq!(o.status.code(), Some(0), "{sub}: {err}");
        assert!(!err.contains("panicked"), "{sub}: {err}");
    }
    assert!(f.out().join("summary.json").exists());
}
