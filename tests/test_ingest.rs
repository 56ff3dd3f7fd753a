//! Ingest (docs/inputs.md): every reject reason, every file-level error,
//! header handling, BOM/CRLF/quoting, time zones, row conservation.

use crate::common::*;

const O1: &str = "O1,A1,i-1,Prod,edition,subscription,new,2021-09-01T10:00:00+08:00,2021-09-01T10:00:00+08:00,2022-09-01T10:00:00+08:00,300.00,0.00,USD,false,false";
const P1: &str = "P1,O1,A1,2021-09-01T10:00:00+08:00,300.00,USD,credit_card,succeeded";
const U1: &str = "U1,O1,A1,,2021-09-02T10:00:00+08:00,,2021-09-02T11:00:00+08:00,2021-09-03T10:00:00+08:00,normal,completed,unconditional,300.00,0.00,0.00,credit_card,2021-09";

/// A valid base with one bad row appended to `file`: the run rejects
/// exactly that row (line 3), naming `column` with a reason containing
/// `reason`.
fn rejects_row(file: &str, bad: &str, column: &str, reason: &str) {
    let (mut o, mut p, mut u) = (vec![O1], vec![P1], vec![U1]);
    match file {
        "orders.csv" => o.push(bad),
        "payments.csv" => p.push(bad),
        _ => u.push(bad),
    }
    let f = Fixture::with(&o, &p, &u);
    let out = f.run(&[]);
    expect_code(&out, 0);
    let rejects = f.rows("rejects.csv");
    assert_eq!(rejects.len(), 1, "{bad}\n{}", f.report("rejects.csv"));
    let r = &rejects[0];
    assert_eq!(
        (r.get("file"), r.get("line"), r.get("column")),
        (file, "3", column),
        "{bad}"
    );
    assert!(
        r.get("reason").contains(reason),
        "{bad}: reason {:?} lacks {reason:?}",
        r.get("reason")
    );
}

fn order_with(col: usize, value: &str) -> String {
    let mut cells: Vec<String> = O1.split(',').map(str::to_string).collect();
    cells[0] = "O9".into();
    cells[col] = value.into();
    cells.join(",")
}

fn payment_with(col: usize, value: &str) -> String {
    let mut cells: Vec<String> = P1.split(',').map(str::to_string).collect();
    cells[0] = "P9".into();
    cells[col] = value.into();
    cells.join(",")
}

fn unsub_with(changes: &[(usize, &str)]) -> String {
    let mut cells: Vec<String> = U1.split(',').map(str::to_string).collect();
    cells[0] = "U9".into();
    for (c, v) in changes {
        cells[*c] = (*v).into();
    }
    cells.join(",")
}

#[test]
fn reject_required_value_empty() {
    rejects_row(
        "orders.csv",
        &order_with(1, ""),
        "account_id",
        "required value is empty",
    );
    rejects_row(
        "orders.csv",
        &order_with(3, "   "),
        "product",
        "required value is empty",
    );
}

#[test]
fn reject_unknown_token() {
    rejects_row("orders.csv", &order_with(4, "Edition"), "item_kind", "expected one of");
    rejects_row(
        "orders.csv",
        &order_with(5, "monthly"),
        "billing_mode",
        "expected one of",
    );
    rejects_row("payments.csv", &payment_with(7, "ok"), "status", "expected one of");
    rejects_row(
        "unsubscriptions.csv",
        &unsub_with(&[(8, "frozen")]),
        "instance_state",
        "expected one of",
    );
    rejects_row(
        "unsubscriptions.csv",
        &unsub_with(&[(9, "done")]),
        "status",
        "expected one of",
    );
    rejects_row(
        "unsubscriptions.csv",
        &unsub_with(&[(10, "full")]),
        "refund_type",
        "expected one of",
    );
}

#[test]
fn reject_usage_without_pay_per_use() {
    rejects_row("orders.csv", &order_with(6, "usage"), "order_type", "pay_per_use");
}

#[test]
fn reject_bad_timestamps() {
    rejects_row(
        "orders.csv",
        &order_with(7, "2021-09-01"),
        "ordered_at",
        "not a timestamp",
    );
    rejects_row(
        "payments.csv",
        &payment_with(3, "2021-09-01T10:00:00+0800"),
        "paid_at",
        "offset",
    );
    rejects_row(
        "orders.csv",
        &order_with(8, "2021-02-30T10:00:00Z"),
        "service_start",
        "calendar date",
    );
    rejects_row(
        "unsubscriptions.csv",
        &unsub_with(&[(4, "yesterday")]),
        "requested_at",
        "not a timestamp",
    );
}

#[test]
fn reject_service_end_not_after_start() {
    rejects_row(
        "orders.csv",
        &order_with(9, "2021-09-01T10:00:00+08:00"),
        "service_end",
        "after service_start",
    );
}

#[test]
fn reject_bad_money() {
    for bad in ["1e3", ".5", "5.", "+5", "-5", "1,000", "$5"] {
        rejects_row(
            "orders.csv",
            &order_with(10, &format!("\"{bad}\"")),
            "amount",
            "not an amount",
        );
    }
    rejects_row(
        "orders.csv",
        &order_with(10, "1.1234567"),
        "amount",
        "more than 6 decimal",
    );
    rejects_row(
        "unsubscriptions.csv",
        &unsub_with(&[(11, "3OO.00")]),
        "refund_amount",
        "not an amount",
    );
}

#[test]
fn reject_coupon_above_amount() {
    rejects_row(
        "orders.csv",
        &order_with(11, "300.01"),
        "coupon_amount",
        "larger than amount",
    );
}

#[test]
fn reject_bad_currency_and_boolean() {
    rejects_row("orders.csv", &order_with(12, "usd"), "currency", "three upper-case");
    rejects_row("orders.csv", &order_with(13, "maybe"), "promotional", "not a boolean");
}

#[test]
fn reject_payment_zero_and_empty_method() {
    rejects_row("payments.csv", &payment_with(4, "0.00"), "amount", "greater than 0");
    rejects_row("payments.csv", &payment_with(6, ""), "method", "required");
}

#[test]
fn reject_timestamps_out_of_order() {
    rejects_row(
        "unsubscriptions.csv",
        &unsub_with(&[(5, "2021-09-01T10:00:00+08:00")]),
        "reviewed_at",
        "out of order",
    );
    rejects_row(
        "unsubscriptions.csv",
        &unsub_with(&[(6, "2021-09-02T09:00:00+08:00")]),
        "completed_at",
        "out of order",
    );
    rejects_row(
        "unsubscriptions.csv",
        &unsub_with(&[(7, "2021-09-02T09:59:59+08:00")]),
        "refunded_at",
        "out of order",
    );
}

#[test]
fn reject_missing_recorded_fields_of_completed() {
    rejects_row(
        "unsubscriptions.csv",
        &unsub_with(&[(6, "")]),
        "completed_at",
        "required",
    );
    rejects_row(
        "unsubscriptions.csv",
        &unsub_with(&[(10, "")]),
        "refund_type",
        "required",
    );
    rejects_row(
        "unsubscriptions.csv",
        &unsub_with(&[(12, "")]),
        "handling_fee",
        "required",
    );
    rejects_row(
        "unsubscriptions.csv",
        &unsub_with(&[(14, "")]),
        "refund_destination",
        "required",
    );
    rejects_row(
        "unsubscriptions.csv",
        &unsub_with(&[(15, "")]),
        "billing_cycle",
        "required",
    );
    rejects_row(
        "unsubscriptions.csv",
        &unsub_with(&[(15, "2021/09")]),
        "billing_cycle",
        "YYYY-MM",
    );
}

#[test]
fn reject_wrong_field_count() {
    rejects_row(
        "payments.csv",
        &format!("{},extra", payment_with(0, "P9")),
        "",
        "9 fields but the header has 8",
    );
    rejects_row("orders.csv", "O9,A1,i-1", "", "3 fields");
}

#[test]
fn reject_duplicate_id_names_first_line() {
    rejects_row("orders.csv", O1, "order_id", "line 2");
    rejects_row("unsubscriptions.csv", U1, "unsub_id", "duplicate unsub_id");
}

#[test]
fn duplicate_of_a_rejected_row_is_accepted() {
    // Only accepted rows claim an id: line 2 is bad, so line 3 wins.
    let bad = O1.replace("300.00,0.00,USD", "1e3,0.00,USD");
    let f = Fixture::with(&[&bad, O1], &[P1], &[U1]);
    expect_code(&f.run(&[]), 0);
    let rejects = f.rows("rejects.csv");
    assert_eq!(rejects.len(), 1);
    assert_eq!((rejects[0].get("line"), rejects[0].get("column")), ("2", "amount"));
    assert!(
        f.rows("discrepancies.csv").is_empty(),
        "{}",
        f.report("discrepancies.csv")
    );
}

#[test]
fn recorded_fields_of_pending_rows_are_ignored() {
    // Junk in the recorded columns of a pending row: not validated.
    let pending = "U2,O1,A1,,2021-09-02T10:00:00+08:00,,garbage,garbage,normal,pending,nonsense,1e3,x,y,,2021/13";
    let f = Fixture::with(&[O1], &[P1], &[pending]);
    expect_code(&f.run(&[]), 0);
    assert!(f.rows("rejects.csv").is_empty(), "{}", f.report("rejects.csv"));
    let r = f.rows("refunds.csv");
    assert_eq!(refund(&r, "U2").get("recorded_refund"), "");
    assert_eq!(refund(&r, "U2").get("recorded_type"), "");
    // Its recorded timestamps do not move as_of.
    let summary: serde_json::Value = serde_json::from_str(&f.report("summary.json")).unwrap();
    assert_eq!(summary["as_of"], "2021-09-02T10:00:00+08:00");
}

#[test]
fn dst_nonexistent_local_time_is_rejected() {
    let f = Fixture::with(
        &[O1],
        &[P1],
        &[
            U1,
            &unsub_with(&[(4, "2021-03-14 02:30:00"), (6, "2021-03-15T00:00:00Z"), (7, "")]),
        ],
    );
    f.policy(&POLICY.replace("Asia/Shanghai", "America/New_York"));
    expect_code(&f.run(&[]), 0);
    let rejects = f.rows("rejects.csv");
    assert_eq!(rejects.len(), 1);
    assert_eq!(rejects[0].get("column"), "requested_at");
    assert!(
        rejects[0].get("reason").contains("does not exist"),
        "{}",
        rejects[0].get("reason")
    );
    // The ambiguous hour of the autumn change is refused too.
    let f = Fixture::with(&[O1], &[P1], &[U1, &unsub_with(&[(4, "2021-11-07 01:30:00")])]);
    f.policy(&POLICY.replace("Asia/Shanghai", "America/New_York"));
    f.run(&[]);
    assert!(f.rows("rejects.csv")[0].get("reason").contains("ambiguous"));
}

#[test]
fn naive_timestamps_are_billing_zone_local() {
    let u = "U1,O1,A1,,2021-10-01 00:30:00,,2021-10-01 00:45:00,2021-10-04 10:00:00,normal,completed,partial,246.58,0.00,0.00,credit_card,2021-10";
    let f = Fixture::with(&[O1], &[P1], &[u]);
    expect_code(&f.run(&[]), 0);
    let r = f.rows("refunds.csv");
    let row = refund(&r, "U1");
    assert_eq!(row.get("approved_at"), "2021-10-01T00:30:00+08:00");
    assert_eq!(row.get("expected_cycle"), "2021-10");
    // 29 days 14.5 h used → 30 days; 300 × 335/365 = 275.34.
    assert_eq!(row.get("expected_refund"), "275.34");
}

#[test]
fn header_in_any_order_with_extra_columns() {
    let f = Fixture::with(&[O1], &[P1], &[U1]);
    // Reverse the payments columns, add an extra one, upper-case a name.
    let header = "NOTE,status,method,currency,amount,paid_at,Account_ID,order_id,payment_id";
    f.file(
        "payments.csv",
        &csv(
            header,
            &["hello,succeeded,credit_card,USD,300.00,2021-09-01T10:00:00+08:00,A1,O1,P1"],
        ),
    );
    expect_code(&f.run(&["--fail-on", "warning"]), 0);
    assert!(f.rows("rejects.csv").is_empty());
    let summary: serde_json::Value = serde_json::from_str(&f.report("summary.json")).unwrap();
    assert_eq!(summary["inputs"][1]["extra_columns"], serde_json::json!(["NOTE"]));
    assert_eq!(summary["inputs"][1]["accepted"], 1);
}

#[test]
fn bom_crlf_and_quoted_newline() {
    let f = Fixture::with(&[O1], &[P1], &[U1]);
    let rows = [
        O1.replace("Prod", "\"Security Center,\r\nPro \"\"2\"\"\""),
        order_with(10, "oops").replace("O9", "O2"),
        O1.replace("O1", "O3"),
    ];
    let mut text = String::from("\u{feff}");
    text.push_str(ORDERS_HEADER);
    text.push_str("\r\n");
    for r in &rows {
        text.push_str(r);
        text.push_str("\r\n");
    }
    text.push_str("\r\n"); // a blank line is not a row
    f.file("orders.csv", &text);
    f.file(
        "payments.csv",
        &csv(PAYMENTS_HEADER, &[P1, &P1.replace("P1,O1", "P3,O3")]),
    );
    expect_code(&f.run(&[]), 0);
    let rejects = f.rows("rejects.csv");
    assert_eq!(rejects.len(), 1);
    // The quoted newline makes the bad row physical line 4.
    assert_eq!((rejects[0].get("line"), rejects[0].get("record_id")), ("4", "O2"));
    let summary: serde_json::Value = serde_json::from_str(&f.report("summary.json")).unwrap();
    assert_eq!(summary["inputs"][0]["rows_read"], 3);
    assert_eq!(summary["inputs"][0]["accepted"], 2);
    // The product with its newline reached the order (explain shows it).
    let out = f.cmd("explain", &["U1"]);
    expect_code(&out, 0);
    assert!(
        stdout(&out).contains(r#"Security Center,\r\nPro \"2\""#),
        "{}",
        stdout(&out)
    );
}

#[test]
fn rows_are_conserved_per_file() {
    let f = Fixture::with(
        &[
            O1,
            &order_with(10, "x"),
            &order_with(12, "x").replace("O9", "O8"),
            "",
            "O7,A1",
        ],
        &[P1, P1, &payment_with(4, "-1")],
        &[U1, &unsub_with(&[(9, "maybe")])],
    );
    expect_code(&f.run(&[]), 0);
    let summary: serde_json::Value = serde_json::from_str(&f.report("summary.json")).unwrap();
    let rejects = f.rows("rejects.csv");
    let mut total_rejected = 0;
    for (i, (read, rejected)) in [(4, 3), (3, 2), (2, 1)].iter().enumerate() {
        let m = &summary["inputs"][i];
        assert_eq!(m["rows_read"], *read, "{m}");
        assert_eq!(m["rejected"], *rejected, "{m}");
        assert_eq!(
            m["rows_read"].as_u64().unwrap(),
            m["accepted"].as_u64().unwrap() + m["rejected"].as_u64().unwrap()
        );
        let file = m["file"].as_str().unwrap();
        assert_eq!(
            rejects.iter().filter(|r| r.get("file") == file).count() as u64,
            *rejected as u64
        );
        total_rejected += rejected;
    }
    assert_eq!(rejects.len(), total_rejected);
    // Sorted by file, then line.
    let keys: Vec<(String, u64)> = rejects
        .iter()
        .map(|r| (r.get("file").to_string(), r.get("line").parse().unwrap()))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
}

// File-level errors: exit 3 (2 for policy), a message naming the file,
// line and column, and no reports.

fn file_error(f: &Fixture, extra: &[&str], want: i32, needles: &[&str]) {
    let out = f.run(extra);
    expect_code(&out, want);
    let err = stderr(&out);
    for n in needles {
        assert!(err.contains(n), "stderr {err:?} lacks {n:?}");
    }
    assert!(!f.out().exists(), "no reports on a failed run");
}

#[test]
fn missing_file_is_exit_3() {
    let f = Fixture::with(&[O1], &[P1], &[U1]);
    std::fs::remove_file(f.data().join("payments.csv")).unwrap();
    file_error(&f, &[], 3, &["payments.csv", "cannot read", "--payments"]);
}

#[test]
fn missing_column_is_exit_3() {
    let f = Fixture::with(&[O1], &[P1], &[U1]);
    f.file("orders.csv", &csv(&ORDERS_HEADER.replace(",currency", ""), &[]));
    file_error(&f, &[], 3, &["orders.csv", "line 1", "`currency`", "missing"]);
}

#[test]
fn duplicate_header_column_is_exit_3() {
    let f = Fixture::with(&[O1], &[P1], &[U1]);
    f.file("payments.csv", &csv(&format!("{PAYMENTS_HEADER},Amount"), &[]));
    file_error(&f, &[], 3, &["payments.csv", "`amount`", "twice"]);
}

#[test]
fn not_utf8_is_exit_3_with_line_and_column() {
    let f = Fixture::with(&[O1], &[P1], &[U1]);
    let mut bytes = csv(ORDERS_HEADER, &[O1]).into_bytes();
    bytes.extend_from_slice(&O1.replace("O1", "O2").replace("Prod", "Pr\u{1}d").into_bytes());
    let pos = bytes.iter().rposition(|&b| b == 1).unwrap();
    bytes[pos] = 0xFF;
    f.bytes("orders.csv", &bytes);
    file_error(&f, &[], 3, &["orders.csv", "line 3", "column product", "UTF-8"]);
}

#[test]
fn reject_rate_above_limit_is_exit_3() {
    let f = Fixture::with(&[O1, &order_with(10, "x")], &[P1], &[U1]);
    file_error(
        &f,
        &["--max-reject-rate", "0.25"],
        3,
        &["orders.csv", "1 of 2 rows rejected", "--max-reject-rate"],
    );
    // At the limit it runs.
    expect_code(&f.run(&["--max-reject-rate", "0.5"]), 0);
}

#[test]
fn currency_without_threshold_is_policy_error() {
    let f = Fixture::with(&[&O1.replace("USD", "GBP")], &[&P1.replace("USD", "GBP")], &[U1]);
    file_error(&f, &[], 2, &["review.thresholds.GBP", "GBP"]);
}

#[test]
fn policy_float_and_unknown_key_are_exit_2() {
    let f = Fixture::with(&[O1], &[P1], &[U1]);
    f.policy(&format!("{POLICY}\n[partial]\nhandling_fee_rate = 0.05\n"));
    file_error(&f, &[], 2, &["partial.handling_fee_rate", "string"]);
    f.policy(&format!("{POLICY}\nwindow_hours = 3\n"));
    file_error(&f, &[], 2, &["window_hours", "unknown key"]);
    std::fs::remove_file(f.path().join("policy.toml")).unwrap();
    file_error(&f, &[], 2, &["policy.toml", "cannot read"]);
}

#[test]
fn inputs_over_the_memory_limit_stop_before_work() {
    let f = Fixture::with(&[O1], &[P1], &[U1]);
    file_error(&f, &["--memory-limit", "100"], 3, &["memory limit", "--memory-limit"]);
    expect_code(&f.run(&["--memory-limit", "100000"]), 0);
}

#[test]
fn validate_reports_counts_and_rejects() {
    let f = Fixture::with(&[O1, &order_with(10, "1e3")], &[P1], &[U1]);
    let out = f.cmd("validate", &[]);
    expect_code(&out, 0);
    let text = stdout(&out);
    assert!(text.contains("2 rows read, 1 accepted, 1 rejected"), "{text}");
    assert!(text.contains("orders.csv line 3, column amount"), "{text}");
    assert!(!f.out().exists(), "validate writes no reports");
    let out = f.cmd("validate", &["--max-reject-rate", "0"]);
    expect_code(&out, 3);
}

#[test]
fn rejects_name_the_file_actually_read() {
    let f = Fixture::with(&[O1], &[P1], &[U1]);
    let custom = f.data().join("2021-10-orders.csv");
    std::fs::write(&custom, csv(ORDERS_HEADER, &[O1, &order_with(10, "1e3")])).unwrap();
    expect_code(&f.run(&["--orders", custom.to_str().unwrap()]), 0);
    let rejects = f.rows("rejects.csv");
    assert_eq!(
        (rejects[0].get("file"), rejects[0].get("line")),
        ("2021-10-orders.csv", "3")
    );
    let summary: serde_json::Value = serde_json::from_str(&f.report("summary.json")).unwrap();
    assert_eq!(summary["inputs"][0]["file"], "orders.csv");
    assert!(summary["inputs"][0]["path"]
        .as_str()
        .unwrap()
        .ends_with("2021-10-orders.csv"));
}
