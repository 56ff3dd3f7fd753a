//! Provider exports through a mapping (docs/mapping.md): the presets on
//! their samples, with refunds worked out by hand; a canonical export in
//! another shape giving the same reports; errors that name the source.

use std::path::Path;
use std::process::Command;

use crate::common::{assert_same_results, parse_csv, repo, Fixture, BIN};

/// Runs a preset on its sample from another folder (presets and policies
/// by name need no file there); it must succeed. The reports are in the
/// returned folder's `reports/`.
fn run_preset(preset: &str, policy: &str) -> (tempfile::TempDir, std::path::PathBuf, std::process::Output) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("reports");
    let o = Command::new(BIN)
        .current_dir(std::env::temp_dir())
        .args(["run", "--mapping", preset, "--policy", policy, "--data"])
        .arg(repo().join("data/samples").join(preset))
        .arg("--out")
        .arg(&out)
        .output()
        .expect("run refund-recon");
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    (dir, out, o)
}

fn report(out: &Path, name: &str) -> String {
    std::fs::read_to_string(out.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// summary.json's counts of the (first) source file feeding `input`.
fn source_counts<'a>(s: &'a serde_json::Value, input: &str) -> &'a serde_json::Value {
    s["mapping"]["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["input"] == input)
        .unwrap()
}

fn summary(out: &Path) -> serde_json::Value {
    serde_json::from_str(&report(out, "summary.json")).expect("summary.json")
}

/// Huawei, ten-a-year (hours, rounded down; 10 % fee):
/// - CS2403041010F3B8T, 1,200.00, unsubscribed two days after purchase:
///   unconditional, 1,200.00 back, no fee.
/// - CS2401101000K7Q2M, 3,650.00 from 2024-01-10T02:00:30Z to
///   2025-01-10T16:00:00Z (expire_time 15:59:59 made exclusive): total
///   8,797 h; unsubscribed 2024-07-01T02:00:00Z: used 4,151 h; gross =
///   3650 × 4646 / 8797 = 1,927.69; fee = 10 % × 3,650 = 365.00; refund
///   1,562.69. Huawei recorded 1,920.00 and a commission of 0.00.
#[test]
fn huawei_preset_sample_gives_the_hand_worked_refunds() {
    let (_dir, out, o) = run_preset("huawei-bss", "ten-a-year");
    let refunds = parse_csv(&report(&out, "refunds.csv"));
    assert_eq!(refunds.len(), 2);
    let by_order = |id: &str| refunds.iter().find(|r| r.get("order_id") == id).expect(id);
    let first = by_order("CS2403041010F3B8T");
    assert_eq!(first.get("expected_type"), "unconditional");
    assert_eq!(first.get("expected_refund"), "1200.00");
    assert_eq!(first.get("recorded_type"), "", "Huawei records no refund type");
    let late = by_order("CS2401101000K7Q2M");
    assert_eq!(late.get("expected_type"), "partial");
    assert_eq!(late.get("expected_refund"), "1562.69");
    assert_eq!(late.get("expected_fee"), "365.00");
    assert_eq!(late.get("recorded_refund"), "1920.00");
    let found = parse_csv(&report(&out, "discrepancies.csv"));
    let codes: Vec<&str> = found.iter().map(|r| r.get("code")).collect();
    assert_eq!(codes, ["HANDLING_FEE_MISMATCH", "REFUND_AMOUNT_MISMATCH"]);
    let s = summary(&out);
    // Coverage: refund_destination is absent, so R8's codes are not
    // checked (null, not 0); instance_state is a constant, so R2 is assumed.
    assert_eq!(s["findings"]["by_code"]["WRONG_DESTINATION"], serde_json::Value::Null);
    assert_eq!(s["findings"]["by_code"]["REFUND_AMOUNT_MISMATCH"], 1);
    assert_eq!(s["coverage"]["codes"]["WRONG_DESTINATION"]["status"], "not_checked");
    assert_eq!(s["coverage"]["rules"]["R2"]["status"], "assumed");
    assert_eq!(s["mapping"]["name"], "huawei-bss");
    // No refund_type in the export: quota_usage.csv cannot count recorded
    // unconditional refunds, and says so with empty cells, not 0.
    let quota = parse_csv(&report(&out, "quota_usage.csv"));
    assert!(!quota.is_empty());
    for q in &quota {
        assert_eq!((q.get("recorded_unconditional"), q.get("over_quota")), ("", ""));
    }
    // Per source file: rows read = accepted + rejected + filtered.
    for src in s["mapping"]["sources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["input"] != "lookup")
    {
        let filtered: u64 = src["filtered"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum();
        let n = |k: &str| src[k].as_u64().unwrap();
        assert_eq!(n("rows_read"), n("accepted") + n("rejected") + filtered, "{src}");
    }
    let orders = source_counts(&s, "orders");
    assert_eq!(orders["filtered"]["cancelled (status 4)"], 1);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("not checked (their columns are absent from the export): "),
        "{stdout}"
    );
}

/// Alibaba, once-a-year (days, a started day counts, no fee):
/// - 240304101005102, 1,200.00, refunded two days later: unconditional.
/// - 240110100000101, 3,650.00 from 2024-01-10T02:00:30Z to
///   2025-01-10T16:00:00Z: 367 days (366.58 up); refund requested
///   2024-07-01T02:00:00Z: 173 days used (172.99 up); refund =
///   3650 × 194 / 367 = 1,929.43; Alibaba refunded 1,920.00 (-1,920.00 on
///   the Refund order).
#[test]
fn alibaba_preset_sample_gives_the_hand_worked_refunds() {
    let (_dir, out, _) = run_preset("alibaba-bss", "once-a-year");
    let refunds = parse_csv(&report(&out, "refunds.csv"));
    let by_order = |id: &str| refunds.iter().find(|r| r.get("order_id") == id).expect(id);
    assert_eq!(by_order("240304101005102").get("expected_type"), "unconditional");
    assert_eq!(by_order("240304101005102").get("expected_refund"), "1200.00");
    let late = by_order("240110100000101");
    assert_eq!(late.get("expected_type"), "partial");
    assert_eq!(late.get("expected_refund"), "1929.43");
    assert_eq!(late.get("recorded_refund"), "1920.00");
    let s = summary(&out);
    // No handling fee in Alibaba's exports.
    assert_eq!(
        s["findings"]["by_code"]["HANDLING_FEE_MISMATCH"],
        serde_json::Value::Null
    );
    assert_eq!(s["findings"]["by_code"]["REFUND_AMOUNT_MISMATCH"], 1);
    // The cancelled order and the Refund orders are not orders.
    let orders = source_counts(&s, "orders");
    assert_eq!(orders["rows_read"], 6);
    assert_eq!(orders["accepted"], 3);
}

/// The SPEC's worked sample, every header renamed, every vocabulary
/// remapped, amounts with separators and signs, timestamps in another
/// shape: through its mapping, the same discrepancies, refunds, bill and
/// quota usage as the canonical files.
#[test]
fn a_reshaped_export_through_its_mapping_gives_the_same_reports() {
    let dir = tempfile::tempdir().unwrap();
    let canonical = dir.path().join("canonical");
    let o = Command::new(BIN)
        .current_dir(repo())
        .args(["run", "--out"])
        .arg(&canonical)
        .output()
        .unwrap();
    assert!(
        o.status.code().is_some_and(|c| c <= 1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let f = Fixture::new();
    let reshape = |name: &str| {
        let text = std::fs::read_to_string(repo().join("data").join(name)).unwrap();
        let mut rdr = csv::ReaderBuilder::new().flexible(true).from_reader(text.as_bytes());
        let header: Vec<String> = rdr.headers().unwrap().iter().map(str::to_string).collect();
        let mut out = header
            .iter()
            .map(|h| format!("X_{}", h.to_uppercase()))
            .collect::<Vec<_>>()
            .join(",")
            + "\n";
        for rec in rdr.records() {
            let Ok(rec) = rec else { continue };
            if rec.len() != header.len() {
                // A malformed row stays as it is: rejected both ways.
                let mut w = csv::Writer::from_writer(Vec::new());
                w.write_record(&rec).unwrap();
                out.push_str(std::str::from_utf8(&w.into_inner().unwrap()).unwrap());
                continue;
            }
            let get = |h: &str| rec.get(header.iter().position(|x| x == h).unwrap()).unwrap_or("");
            let cells: Vec<String> = header
                .iter()
                .map(|h| {
                    let v = get(h).to_string();
                    let v = match h.as_str() {
                        "amount" | "coupon_amount" | "refund_amount" | "handling_fee" | "coupon_returned"
                            if canonical_money(&v) =>
                        {
                            // -1,234.50 style: a thousands separator and a sign.
                            let d: rust_decimal::Decimal = v.parse().unwrap();
                            let s = (-d).to_string();
                            let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
                            let neg = int.starts_with('-');
                            let digits = int.trim_start_matches('-');
                            let mut grouped = String::new();
                            for (i, ch) in digits.chars().enumerate() {
                                if i > 0 && (digits.len() - i) % 3 == 0 {
                                    grouped.push(',');
                                }
                                grouped.push(ch);
                            }
                            let dot = if frac.is_empty() { "" } else { "." };
                            format!("{}{grouped}{dot}{frac}", if neg { "-" } else { "" })
                        }
                        "ordered_at" | "service_start" | "service_end" | "paid_at" | "requested_at" | "reviewed_at"
                        | "completed_at" | "refunded_at" => reshape_ts(&v),
                        "status" | "order_type" | "billing_mode" | "item_kind" | "refund_type" | "instance_state"
                            if !v.is_empty() =>
                        {
                            v.to_uppercase()
                        }
                        _ => v,
                    };
                    if v.contains([',', '"', '\n']) {
                        format!("\"{}\"", v.replace('"', "\"\""))
                    } else {
                        v
                    }
                })
                .collect();
            out.push_str(&cells.join(","));
            out.push('\n');
        }
        (header, out)
    };
    let mut mapping = String::from("version = 1\n");
    for (input, file) in [
        ("orders", "orders.csv"),
        ("payments", "payments.csv"),
        ("unsubscriptions", "unsubscriptions.csv"),
    ] {
        let (header, text) = reshape(file);
        f.file(&format!("export-{file}"), &text);
        mapping.push_str(&format!(
            "[sources.{input}]\nfiles = [\"export-{file}\"]\n[{input}]\nsource = \"{input}\"\n[{input}.columns]\n"
        ));
        for h in &header {
            let src = format!("X_{}", h.to_uppercase());
            let line = match h.as_str() {
                "amount" | "coupon_amount" | "refund_amount" | "handling_fee" | "coupon_returned" => {
                    format!("{h} = {{ column = \"{src}\", thousands = \",\", sign = \"negate\" }}")
                }
                "ordered_at" | "service_start" | "service_end" | "paid_at" | "requested_at" | "reviewed_at"
                | "completed_at" | "refunded_at" => {
                    format!("{h} = {{ column = \"{src}\", format = \"%d/%m/%Y %H:%M:%S GMT%:z\" }}")
                }
                "status" | "order_type" | "billing_mode" | "item_kind" | "refund_type" | "instance_state" => {
                    format!("{h} = {{ column = \"{src}\", map = {{ {} }} }}", vocab(h))
                }
                _ => format!("{h} = \"{src}\""),
            };
            mapping.push_str(&line);
            mapping.push('\n');
        }
    }
    f.file("mapping.toml", &mapping);
    let out = f.dir.path().join("mapped");
    run_ok(
        &["run", "--mapping"],
        &[
            &f.data().join("mapping.toml"),
            Path::new("--data"),
            &f.data(),
            Path::new("--out"),
            &out,
        ],
    );
    assert_same_results(&out, &canonical);
    // The same rows rejected, each at its own line of the reshaped file.
    let key = |r: &crate::common::CsvRow, prefix: &str| {
        (
            format!("{prefix}{}", r.get("file")),
            r.get("line").to_string(),
            r.get("record_id").to_string(),
        )
    };
    let mut want: Vec<_> = parse_csv(&report(&canonical, "rejects.csv"))
        .iter()
        .map(|r| key(r, "export-"))
        .collect();
    let mut got: Vec<_> = parse_csv(&report(&out, "rejects.csv"))
        .iter()
        .map(|r| key(r, ""))
        .collect();
    want.sort();
    got.sort();
    assert_eq!(got, want);
}

/// `2021-09-30T15:00:00+08:00` (or `…Z`, or local time in the sample's
/// zone, UTC+8) as `30/09/2021 15:00:00 GMT+08:00`; anything else as it is.
fn reshape_ts(v: &str) -> String {
    let b = v.as_bytes();
    if v.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b' ') || v[11..19].contains('.') {
        return v.to_string();
    }
    let offset = match &v[19..] {
        "" => "+08:00",
        "Z" => "+00:00",
        o if o.len() == 6 && o.as_bytes()[3] == b':' => o,
        _ => return v.to_string(),
    };
    format!("{}/{}/{} {} GMT{offset}", &v[8..10], &v[5..7], &v[..4], &v[11..19])
}

/// docs/inputs.md money: what the canonical reader accepts (anything else
/// is left as it is, to be rejected both ways).
fn canonical_money(v: &str) -> bool {
    let (int, frac) = v.split_once('.').unwrap_or((v, "0"));
    !int.is_empty()
        && int.len() <= 13
        && (1..=6).contains(&frac.len())
        && int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
}

fn vocab(column: &str) -> String {
    let words: &[&str] = match column {
        "status" => &["succeeded", "failed", "completed", "rejected", "pending"],
        "order_type" => &["new", "renewal", "upgrade", "usage"],
        "billing_mode" => &["subscription", "pay_per_use"],
        "item_kind" => &["edition", "asset_quota", "value_added", "resource"],
        "refund_type" => &["unconditional", "partial", "unactivated", "release"],
        _ => &[
            "normal",
            "overdue",
            "security_locked",
            "config_changing",
            "transaction_in_progress",
            "special_unsubscription",
            "legal_frozen",
        ],
    };
    words
        .iter()
        .map(|w| format!("{} = \"{w}\"", w.to_uppercase()))
        .collect::<Vec<_>>()
        .join(", ")
}

#[test]
fn mapping_errors_name_the_key_and_rejects_name_the_source() {
    let f = Fixture::new();
    // A key that is not a column of ours: exit 2 naming it.
    let bad = "version = 1\n[sources.o]\nfiles = [\"o.csv\"]\n[orders]\nsource = \"o\"\n[orders.columns]\norder_idd = \"x\"\n";
    f.file("bad.toml", bad);
    let o = f.run(&["--mapping", f.data().join("bad.toml").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("key `orders.columns.order_idd`"), "{err}");
    // An unmapped value is a reject naming the source file, line, header
    // and mapping key.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    copy_dir(&repo().join("data/samples/huawei-bss"), &data);
    let orders = std::fs::read_to_string(data.join("orders.csv")).unwrap();
    let mut lines: Vec<String> = orders.lines().map(str::to_string).collect();
    // Line 2's order_type 1 → 3, and a copy of the preset without "3" in
    // its order_type map (the `where` still lets 3 through).
    lines[1] = lines[1].replacen(",5,1,", ",5,3,", 1);
    std::fs::write(data.join("orders.csv"), lines.join("\n") + "\n").unwrap();
    let preset = include_str!("../data/mappings/huawei-bss.toml").replace(", \"3\" = \"upgrade\"", "");
    std::fs::write(dir.path().join("m.toml"), preset).unwrap();
    let out = dir.path().join("reports");
    run_ok(
        &["run", "--policy", "ten-a-year", "--mapping"],
        &[
            &dir.path().join("m.toml"),
            Path::new("--data"),
            &data,
            Path::new("--out"),
            &out,
        ],
    );
    let rejects = parse_csv(&report(&out, "rejects.csv"));
    let r = rejects
        .iter()
        .find(|r| r.get("file") == "orders.csv")
        .expect("a reject");
    assert_eq!(r.get("line"), "2");
    assert_eq!(r.get("column"), "order_type");
    assert_eq!(r.get("value"), "3");
    assert!(
        r.get("reason").contains("mapping key `orders.columns.order_type`"),
        "{}",
        r.get("reason")
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// Runs refund-recon; it must finish with reports (exit 0 or 1).
fn run_ok(args: &[&str], extra: &[&Path]) -> std::process::Output {
    let o = refund_recon(args, extra);
    assert!(
        o.status.code().is_some_and(|c| c <= 1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn refund_recon(args: &[&str], extra: &[&Path]) -> std::process::Output {
    Command::new(BIN)
        .current_dir(std::env::temp_dir())
        .args(args)
        .args(extra)
        .output()
        .expect("run refund-recon")
}

#[test]
fn map_writes_the_canonical_inputs_and_validate_reads_them() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("canonical");
    let data = repo().join("data/samples/huawei-bss");
    let o = refund_recon(
        &["map", "--mapping", "huawei-bss", "--policy", "ten-a-year", "--data"],
        &[&data, Path::new("--out"), &out],
    );
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let orders = std::fs::read_to_string(out.join("orders.csv")).unwrap();
    let rows = parse_csv(&orders);
    assert_eq!(
        rows.len(),
        3,
        "the cancelled order and the unsubscription orders are filtered"
    );
    let coupon = rows.iter().find(|r| r.get("order_id") == "CS2405010900P2D6X").unwrap();
    // amount_after_discount 79.00 + coupon 20.00; the end made exclusive.
    assert_eq!(coupon.get("amount"), "99.00");
    assert_eq!(coupon.get("service_end"), "2024-06-01T16:00:00Z");
    assert_eq!(coupon.get("billing_mode"), "subscription");
    let rejects = std::fs::read_to_string(out.join("mapping-rejects.csv")).unwrap();
    assert_eq!(rejects.lines().count(), 1, "header only: {rejects}");
    // The orders and payments are plain canonical files.
    let v = refund_recon(&["validate", "--policy", "ten-a-year", "--data"], &[&out]);
    let text = String::from_utf8_lossy(&v.stdout);
    assert!(text.contains("orders.csv"), "{text}");
}

#[test]
fn a_mapped_run_verifies_and_explains_from_its_exports_not_its_index() {
    let (_dir, out, _) = run_preset("huawei-bss", "ten-a-year");
    let v = refund_recon(&["verify"], &[&out]);
    let text = String::from_utf8_lossy(&v.stdout);
    assert_eq!(v.status.code(), Some(0), "{text}");
    assert!(text.contains("ok       mapping huawei-bss"), "{text}");
    assert!(
        text.contains("order-items.csv"),
        "a looked-up source is checked too: {text}"
    );
    // explain --reports says why it cannot answer.
    let e = refund_recon(&["explain", "7f3a9c1e0b2d4f69", "--reports"], &[&out]);
    assert_eq!(e.status.code(), Some(2));
    let err = String::from_utf8_lossy(&e.stderr);
    assert!(
        err.contains("through the mapping huawei-bss") && err.contains("--mapping huawei-bss"),
        "{err}"
    );
    // explain --mapping maps the exports again, naming the source rows.
    let data = repo().join("data/samples/huawei-bss");
    let e = refund_recon(
        &[
            "explain",
            "7f3a9c1e0b2d4f69",
            "--mapping",
            "huawei-bss",
            "--policy",
            "ten-a-year",
            "--data",
        ],
        &[&data],
    );
    let text = String::from_utf8_lossy(&e.stdout);
    assert_eq!(e.status.code(), Some(0), "{}", String::from_utf8_lossy(&e.stderr));
    assert!(text.contains("refunds.csv line 3)"), "{text}");
    assert!(
        text.contains("[not checked: FALLBACK_TO_BALANCE, WRONG_DESTINATION]"),
        "{text}"
    );
    assert!(!text.contains("error WRONG_DESTINATION"), "{text}");
}

#[test]
fn a_baseline_finding_whose_code_is_not_checked_is_not_resolved() {
    let dir = tempfile::tempdir().unwrap();
    let data = repo().join("data/samples/huawei-bss");
    // First run: a mapping that has a refund destination (a wrong one).
    let with_destination = include_str!("../data/mappings/huawei-bss.toml").replace(
        "refund_destination = \"absent\"",
        "refund_destination = { value = \"wallet\" }",
    );
    let mapping = dir.path().join("with-destination.toml");
    std::fs::write(&mapping, with_destination).unwrap();
    let first = dir.path().join("first");
    let o = refund_recon(
        &["run", "--policy", "ten-a-year", "--mapping"],
        &[&mapping, Path::new("--data"), &data, Path::new("--out"), &first],
    );
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(report(&first, "discrepancies.csv").contains("WRONG_DESTINATION"));
    // Second run: the preset, without refund_destination.
    let second = dir.path().join("second");
    let o = refund_recon(
        &["run", "--policy", "ten-a-year", "--mapping", "huawei-bss", "--data"],
        &[&data, Path::new("--out"), &second, Path::new("--baseline"), &first],
    );
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let resolved = report(&second, "resolved.csv");
    assert!(!resolved.contains("WRONG_DESTINATION"), "{resolved}");
}

#[test]
fn mapping_problems_are_exit_2_and_missing_headers_exit_3_naming_the_key() {
    let f = Fixture::new();
    let preset = include_str!("../data/mappings/huawei-bss.toml");
    // An identifying column cannot be absent.
    f.file(
        "m1.toml",
        &preset.replace("order_id = \"order_id\"", "order_id = \"absent\""),
    );
    let o = f.run(&["--mapping", f.data().join("m1.toml").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("key `orders.columns.order_id`") && err.contains("cannot be absent"),
        "{err}"
    );
    // A money option on a text column.
    f.file(
        "m2.toml",
        &preset.replace(
            "currency = \"currency\"\npromotional",
            "currency = { column = \"currency\", thousands = \",\" }\npromotional",
        ),
    );
    let o = f.run(&["--mapping", f.data().join("m2.toml").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("key `orders.columns.currency.thousands`"), "{err}");
    // A header the export does not have: exit 3 naming file and key.
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&repo().join("data/samples/huawei-bss"), dir.path());
    let orders = std::fs::read_to_string(dir.path().join("orders.csv"))
        .unwrap()
        .replacen("customer_id", "customerId", 1);
    std::fs::write(dir.path().join("orders.csv"), orders).unwrap();
    let o = refund_recon(
        &["run", "--policy", "ten-a-year", "--mapping", "huawei-bss", "--data"],
        &[dir.path()],
    );
    assert_eq!(o.status.code(), Some(3));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("orders.csv") && err.contains("`customer_id`") && err.contains("orders.columns.account_id"),
        "{err}"
    );
}

#[test]
fn outside_the_repository_the_default_policy_is_the_built_in_one() {
    // No data/policy.toml in the current folder: the built-in once-a-year
    // (the same policy), with a note; the same reports as with the file.
    let dir = tempfile::tempdir().unwrap();
    let data = repo().join("data");
    let o = Command::new(BIN)
        .current_dir(dir.path())
        .args(["run", "--data"])
        .arg(&data)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("using the built-in policy once-a-year"), "{err}");
    let inside = tempfile::tempdir().unwrap();
    let o = crate::common::run_sample_to(inside.path(), &[]);
    assert_eq!(o.status.code(), Some(0));
    for name in ["discrepancies.csv", "refunds.csv", "monthly_bill.csv"] {
        assert_eq!(
            report(&dir.path().join("reports"), name),
            report(inside.path(), name),
            "{name}"
        );
    }
    // An unknown name is still exit 2, listing the presets.
    let o = Command::new(BIN)
        .current_dir(dir.path())
        .args(["validate", "--policy", "twice-a-year", "--data"])
        .arg(&data)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("once-a-year, ten-a-year"));
}

/// Every operation of the mapping language on a made-up export, checked
/// cell by cell in what `refund-recon map` writes (docs/mapping.md).
#[test]
fn each_mapping_operation_makes_the_documented_cells() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("exports");
    std::fs::create_dir_all(&data).unwrap();
    let write = |name: &str, text: &str| std::fs::write(data.join(name), text).unwrap();
    write(
        "sales-2024-01.csv",
        "Id,Cust,Kind,Type,Items,Created,Start,End,Price,Coupon1,Coupon2,Cur\n\
         S1,C1,NEW,N,\"[\"\"i-1\"\"]\",1709518205000,2024/03/04 11:10,2025/03/03,\"¥1,000.5000005\",N/A,20.00,cny\n\
         S2,C1,value_added,R,\"[\"\"i-1\"\",\"\"i-2\"\"]\",1709518205000,2024/03/04 11:10,2025/03/03,10,,,cny\n\
         S3,C9,NEW,N,\"[\"\"i-3\"\"]\",1709518205000,2024/03/04 11:10,2025/03/03,10,,,cny\n",
    );
    write("sales-2024-02.csv", "Id,Cust,Kind,Type,Items,Created,Start,End,Price,Coupon1,Coupon2,Cur\nS4,C1,NEW,X,\"[\"\"i-4\"\"]\",1709518205000,2024/03/04 11:10,2025/03/03,5,,,cny\n");
    write("customers.csv", "Code,Account\nC1,acct-1\n");
    write(
        "ledger.csv",
        "Tx,Ref,When,Amt\nT1,S1,1709518205,-1000.50\nT2,S1,1709518206,5\n",
    );
    write("methods.csv", "Tx,Method\nT1,card\nT1,wallet\nT2,wallet\n");
    write("refunds.csv", "RId,Account,Orders,Asked,Cents\nR1,acct-1,\"[\"\"S1\"\",\"\"S4\"\"]\",2024-03-06T10:00:00Z,120000\nR2,acct-1,[],2024-03-06T10:00:00Z,0\n");
    let mapping = r#"
version = 1
[sources.sales]
files = ["sales-*.csv"]
null = ["N/A"]
[sources.customers]
files = ["customers.csv"]
[sources.ledger]
files = ["ledger.csv"]
[sources.methods]
files = ["methods.csv"]
[sources.refunds]
files = ["refunds.csv"]

[orders]
source = "sales"
[orders.columns]
order_id = ["OrderId", "Id"]
account_id = { lookup = "customers", match = "Code", by = "Cust", column = "Account", missing = "reject" }
instance_id = { column = "Items", json = "only" }
product = { value = "Security Center" }
item_kind = { column = "Kind", map = { NEW = "edition" }, unmapped = "keep" }
billing_mode = { value = "subscription" }
order_type = { column = "Type", map = { N = "new", R = "renewal" } }
ordered_at = { column = "Created", epoch = "ms" }
service_start = { column = "Start", format = "%Y/%m/%d %H:%M", timezone = "Asia/Tokyo" }
service_end = { column = "End", format = "%Y/%m/%d", inclusive_end = true }
amount = { column = "Price", thousands = ",", strip = ["¥"], round = "half_even" }
coupon_amount = { sum = ["Coupon1", "Coupon2"] }
currency = { column = "Cur", map = { cny = "CNY" } }
promotional = "absent"
invoice_issued = { value = "false" }

[payments]
source = "ledger"
[payments.columns]
payment_id = "Tx"
order_id = "Ref"
account_id = { value = "acct-1" }
paid_at = { column = "When", epoch = "s" }
amount = { column = "Amt", sign = "abs" }
currency = { value = "CNY" }
method = { lookup = "methods", match = "Tx", by = "Tx", column = "Method" }
status = { value = "succeeded" }

[unsubscriptions]
source = "refunds"
explode = "Orders"
[unsubscriptions.columns]
unsub_id = "Orders"
order_id = "Orders"
account_id = "Account"
batch_id = "RId"
requested_at = { column = "Asked", ignore_offset = true, timezone = "Asia/Shanghai" }
reviewed_at = "absent"
completed_at = { column = "Asked", ignore_offset = true, timezone = "Asia/Shanghai" }
refunded_at = "absent"
instance_state = { value = "normal" }
status = { value = "completed" }
refund_type = "absent"
refund_amount = { column = "Cents", scale = "0.01" }
handling_fee = "absent"
coupon_returned = "absent"
refund_destination = "absent"
billing_cycle = "absent"
"#;
    let m = dir.path().join("m.toml");
    std::fs::write(&m, mapping).unwrap();
    let out = dir.path().join("canonical");
    run_ok(
        &["map", "--policy", "once-a-year", "--mapping"],
        &[&m, Path::new("--data"), &data, Path::new("--out"), &out],
    );
    let orders = parse_csv(&report(&out, "orders.csv"));
    assert_eq!(
        orders.len(),
        1,
        "S2 (two items), S3 (no customer) and S4 (order type X) are rejected"
    );
    let o = &orders[0];
    assert_eq!(o.get("order_id"), "S1", "the second alias");
    assert_eq!(o.get("account_id"), "acct-1", "a lookup");
    assert_eq!(o.get("instance_id"), "i-1", "the only element");
    assert_eq!(o.get("product"), "Security Center");
    assert_eq!(o.get("item_kind"), "edition");
    assert_eq!(o.get("ordered_at"), "2024-03-04T02:10:05Z", "epoch milliseconds");
    assert_eq!(
        o.get("service_start"),
        "2024-03-04T02:10:00Z",
        "a pattern in the column's zone (Tokyo, +09:00)"
    );
    assert_eq!(
        o.get("service_end"),
        "2025-03-03T16:00:00Z",
        "a date made exclusive: the next midnight in the billing zone"
    );
    assert_eq!(
        o.get("amount"),
        "1000.500000",
        "separators and a sign stripped, 7 decimals rounded half to even"
    );
    assert_eq!(o.get("coupon_amount"), "20.00", "a sum; N/A is nothing");
    assert_eq!(o.get("currency"), "CNY");
    assert_eq!(o.get("promotional"), "", "absent");
    let rejects = parse_csv(&report(&out, "mapping-rejects.csv"));
    let why = |line: &str, file: &str| {
        rejects
            .iter()
            .find(|r| r.get("file") == file && r.get("line") == line)
            .map(|r| format!("{} | {} | {}", r.get("column"), r.get("value"), r.get("reason")))
            .unwrap_or_else(|| panic!("no reject {file}:{line} in {rejects:?}"))
    };
    assert!(why("3", "sales-2024-01.csv").contains("the array has 2 elements"));
    assert!(why("4", "sales-2024-01.csv").contains("no row of customers has Code = \"C9\""));
    let x = why("2", "sales-2024-02.csv");
    assert!(
        x.starts_with("Type | X |") && x.contains("mapping key `orders.columns.order_type`"),
        "{x}"
    );
    // Payments: a lookup with two matches is rejected (several = "reject").
    let payments = parse_csv(&report(&out, "payments.csv"));
    assert_eq!(payments.len(), 1);
    assert_eq!(payments[0].get("payment_id"), "T2");
    assert_eq!(payments[0].get("paid_at"), "2024-03-04T02:10:06Z", "epoch seconds");
    assert!(why("2", "ledger.csv").contains("2 rows of methods have Tx = \"T1\""));
    // Unsubscriptions: one refund record over two orders is two rows (a
    // batch); an empty array is filtered; a Z that is really UTC+8.
    let unsubs = parse_csv(&report(&out, "unsubscriptions.csv"));
    let ids: Vec<&str> = unsubs.iter().map(|u| u.get("unsub_id")).collect();
    assert_eq!(ids, ["S1", "S4"]);
    assert_eq!(unsubs[0].get("batch_id"), "R1");
    assert_eq!(unsubs[0].get("requested_at"), "2024-03-06T02:00:00Z");
    assert_eq!(unsubs[0].get("refund_amount"), "1200.00", "cents scaled by 0.01");
    let stdout = String::from_utf8_lossy(
        &refund_recon(
            &["map", "--policy", "once-a-year", "--mapping"],
            &[&m, Path::new("--data"), &data, Path::new("--out"), &out],
        )
        .stdout,
    )
    .into_owned();
    assert!(
        stdout.contains("refunds.csv") && stdout.contains("2 read        1 filtered        2 rows made"),
        "{stdout}"
    );
}

/// A mapping that only renames headers reads the export itself, hashing it
/// as it is read: summary.json holds each file's own SHA-256 (as a hash
/// of the whole file), `verify` checks it, and the reports are those of
/// the canonical run.
#[test]
fn a_rename_only_mapping_hashes_the_exports_it_reads() {
    use sha2::Digest;
    let dir = tempfile::tempdir().unwrap();
    let data = repo().join("data");
    let mut mapping = String::from("version = 1\ndescription = \"our own columns\"\n");
    for input in ["orders", "payments", "unsubscriptions"] {
        let text = std::fs::read_to_string(data.join(format!("{input}.csv"))).unwrap();
        let header = text.lines().next().unwrap();
        mapping += &format!(
            "[sources.{input}]\nfiles = [\"{input}.csv\"]\n[{input}]\nsource = \"{input}\"\n[{input}.columns]\n"
        );
        for column in header.split(',') {
            mapping += &format!("{column} = \"{column}\"\n");
        }
    }
    let file = dir.path().join("identity.toml");
    std::fs::write(&file, mapping).unwrap();
    let (mapped, canonical) = (dir.path().join("mapped"), dir.path().join("canonical"));
    let policy = data.join("policy.toml");
    for (out, with_mapping) in [(&mapped, true), (&canonical, false)] {
        let mut args: Vec<&Path> = vec![
            Path::new("run"),
            Path::new("--data"),
            &data,
            Path::new("--policy"),
            &policy,
        ];
        if with_mapping {
            args.extend([Path::new("--mapping"), file.as_path()]);
        }
        args.extend([Path::new("--out"), out.as_path()]);
        let o = Command::new(BIN).current_dir(repo()).args(&args).output().unwrap();
        assert!(
            o.status.code().is_some_and(|c| c <= 1),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let summary: serde_json::Value = serde_json::from_str(&report(&mapped, "summary.json")).unwrap();
    for (k, input) in ["orders", "payments", "unsubscriptions"].iter().enumerate() {
        let bytes = std::fs::read(data.join(format!("{input}.csv"))).unwrap();
        let want: String = sha2::Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(summary["inputs"][k]["sha256"], want.as_str(), "{input}");
    }
    let v = refund_recon(&["verify"], &[&mapped]);
    assert_eq!(v.status.code(), Some(0), "{}", String::from_utf8_lossy(&v.stdout));
    assert_same_results(&mapped, &canonical);
}
