//! Earlier exports given as context (docs/inputs.md#context-earlier-exports):
//! their rows link and count toward the year's quota, but are not
//! reported. The sample cut in time into an earlier and a later export:
//! the later one with the earlier as context reports exactly what a run
//! over both reports about the later one's rows.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use crate::common::{parse_csv, repo, BIN};

/// The time column each canonical input is cut on.
const CUTS: [(&str, &str); 3] = [
    ("orders.csv", "ordered_at"),
    ("payments.csv", "paid_at"),
    ("unsubscriptions.csv", "requested_at"),
];

/// Rows before `cut` (compared as text) go to `early/`, the rest to
/// `late/`, each with the header, each row's text as it is (the sample's
/// malformed rows included); the policy stays in the repository.
fn cut_sample(dir: &Path, cut: &str) {
    for (name, column) in CUTS {
        let text = std::fs::read_to_string(repo().join("data").join(name)).unwrap();
        let mut r = csv::ReaderBuilder::new()
            .flexible(true)
            .has_headers(false)
            .from_reader(text.as_bytes());
        let mut starts: Vec<(usize, String)> = Vec::new();
        let mut at = None;
        for rec in r.records() {
            let rec = rec.unwrap();
            let start = rec.position().unwrap().byte() as usize;
            match at {
                None => at = rec.iter().position(|h| h == column),
                Some(i) => starts.push((start, rec.get(i).unwrap_or("").to_string())),
            }
        }
        let header_end = starts.first().map_or(text.len(), |s| s.0);
        let (mut early, mut late) = (text[..header_end].to_string(), text[..header_end].to_string());
        for (k, (start, time)) in starts.iter().enumerate() {
            let end = starts.get(k + 1).map_or(text.len(), |s| s.0);
            let w = if time.as_str() < cut { &mut early } else { &mut late };
            w.push_str(&text[*start..end]);
        }
        std::fs::write(dir.join("early").join(name), early).unwrap();
        std::fs::write(dir.join("late").join(name), late).unwrap();
    }
}

fn run(args: &[&str], extra: &[&Path]) -> std::process::Output {
    let o = Command::new(BIN)
        .current_dir(repo())
        .args(args)
        .args(extra)
        .output()
        .expect("run refund-recon");
    assert!(
        o.status.code().is_some_and(|c| c <= 1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// A report's records (header left out).
fn records(out: &Path, name: &str) -> Vec<csv::StringRecord> {
    let mut r = csv::Reader::from_path(out.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    r.records().map(Result::unwrap).collect()
}

/// One column of an input file, row by row (malformed rows included).
fn column(path: &Path, name: &str) -> Vec<String> {
    let mut r = csv::ReaderBuilder::new().flexible(true).from_path(path).unwrap();
    let at = r.headers().unwrap().iter().position(|h| h == name).unwrap();
    r.records()
        .map(|rec| rec.unwrap().get(at).unwrap_or("").to_string())
        .collect()
}

/// The ids of one column of an input file.
fn ids(path: &Path, name: &str) -> BTreeSet<String> {
    column(path, name).into_iter().collect()
}

/// Codes whose finding is on an order (R1's payment sum, R10's usage
/// orders) when it names no payment; the rest are on the unsubscription.
const ORDER_CODES: [&str; 3] = ["PAYMENT_MISMATCH", "ORPHANED_VALUE_ADDED", "CHARGED_AFTER_RELEASE"];

#[test]
fn a_later_export_with_the_earlier_as_context_reports_what_a_run_over_both_reports_of_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    for d in ["early", "late"] {
        std::fs::create_dir_all(dir.path().join(d)).unwrap();
    }
    cut_sample(dir.path(), "2021-10-12");
    let (early, late) = (dir.path().join("early"), dir.path().join("late"));
    let (both, with, alone) = (
        dir.path().join("both"),
        dir.path().join("with"),
        dir.path().join("alone"),
    );
    run(&["run", "--out"], &[&both]);
    run(
        &["run", "--data"],
        &[&late, Path::new("--context"), &early, Path::new("--out"), &with],
    );
    run(&["run", "--data"], &[&late, Path::new("--out"), &alone]);

    let late_unsubs = ids(&late.join("unsubscriptions.csv"), "unsub_id");
    let late_orders = ids(&late.join("orders.csv"), "order_id");
    let late_payments = ids(&late.join("payments.csv"), "payment_id");
    assert!(
        late_unsubs.len() > 10 && late_orders.len() > 3,
        "the cut leaves rows on both sides"
    );

    // refunds.csv: the later export's unsubscriptions, as in the run over both.
    let of_late = |recs: Vec<csv::StringRecord>| -> Vec<csv::StringRecord> {
        recs.into_iter().filter(|r| late_unsubs.contains(&r[0])).collect()
    };
    let refunds = records(&with, "refunds.csv");
    assert!(
        refunds.iter().all(|r| late_unsubs.contains(&r[0])),
        "no context unsubscription reported"
    );
    assert_eq!(refunds, of_late(records(&both, "refunds.csv")));
    // Without the context, its orders are not found and its quota starts
    // from nothing: the results differ.
    assert_ne!(refunds, records(&alone, "refunds.csv"));
    let not_found = |out: &Path| {
        records(out, "discrepancies.csv")
            .iter()
            .filter(|r| &r[1] == "ORDER_NOT_FOUND")
            .count()
    };
    assert!(not_found(&alone) > not_found(&with), "context orders link");

    // discrepancies.csv: the findings on the later export's rows.
    let on_late = |r: &csv::StringRecord| {
        let (code, unsub, order, payment) = (&r[1], &r[3], &r[4], &r[5]);
        if !payment.is_empty() {
            late_payments.contains(payment)
        } else if ORDER_CODES.contains(&code) {
            late_orders.contains(order)
        } else {
            late_unsubs.contains(unsub)
        }
    };
    let expected: Vec<_> = records(&both, "discrepancies.csv")
        .into_iter()
        .filter(on_late)
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(records(&with, "discrepancies.csv"), expected);

    // quota_usage.csv: the account-years (in the billing zone, UTC+8)
    // with an unsubscription of the later export, counted from 1 January
    // (context rows included).
    let path = late.join("unsubscriptions.csv");
    let zone = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
    let years: BTreeSet<(String, String)> = column(&path, "account_id")
        .into_iter()
        .zip(column(&path, "requested_at"))
        .filter_map(|(account, at)| {
            let at = chrono::DateTime::parse_from_rfc3339(&at).ok()?;
            Some((account, at.with_timezone(&zone).format("%Y").to_string()))
        })
        .collect();
    let quota: Vec<_> = records(&both, "quota_usage.csv")
        .into_iter()
        .filter(|r| years.contains(&(r[0].to_string(), r[1].to_string())))
        .collect();
    assert_eq!(records(&with, "quota_usage.csv"), quota);

    // monthly_bill.csv: charges and payments of the later export only,
    // the same as without the context.
    let sums = |out: &Path| {
        let bill = parse_csv(&std::fs::read_to_string(out.join("monthly_bill.csv")).unwrap());
        let total = |c: &str| bill.iter().map(|r| r.get(c).parse::<f64>().unwrap()).sum::<f64>();
        (total("orders"), total("charged"), total("paid"))
    };
    assert_eq!(sums(&with), sums(&alone));
    assert!(sums(&with).1 < sums(&both).1, "context charges are not billed");

    // summary.json marks the context files; verify re-hashes them.
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(with.join("summary.json")).unwrap()).unwrap();
    let files = &s["inputs"][0]["files"];
    assert_eq!(files.as_array().map(Vec::len), Some(2), "{files}");
    assert_eq!(files[0].get("context"), None);
    assert_eq!(files[1]["context"], true);
    let v = run(&["verify"], &[&with]);
    assert_eq!(v.status.code(), Some(0));

    // explain names a context unsubscription as such.
    let early_unsub = ids(&early.join("unsubscriptions.csv"), "unsub_id")
        .into_iter()
        .find(|id| !late_unsubs.contains(id))
        .unwrap();
    let e = run(
        &["explain", &early_unsub, "--data"],
        &[&late, Path::new("--context"), &early],
    );
    let text = String::from_utf8_lossy(&e.stdout);
    assert!(
        text.contains(&format!(
            "unsubscription {early_unsub} is in an earlier export given as context (unsubscriptions.csv line"
        )),
        "{text}"
    );
}

#[test]
fn a_context_folder_with_no_export_is_exit_3_and_map_refuses_context() {
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(BIN)
        .current_dir(repo())
        .args(["run", "--context"])
        .arg(dir.path())
        .arg("--out")
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&dir.path().display().to_string()) && err.contains("earlier export"),
        "{err}"
    );
    let o = Command::new(BIN)
        .current_dir(repo())
        .args([
            "map",
            "--mapping",
            "alibaba-bss",
            "--data",
            "data/samples/alibaba-bss",
            "--context",
        ])
        .arg(dir.path())
        .arg("--out")
        .arg(dir.path().join("m"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
}

/// The Alibaba sample cut after April: the July refund names January's
/// order, which is only in the earlier export; March's unconditional
/// refund, also there, used the year's quota.
#[test]
fn a_mapped_export_links_a_refund_to_an_order_in_an_earlier_export_and_counts_its_quota() {
    let dir = tempfile::tempdir().unwrap();
    let sample = repo().join("data/samples/alibaba-bss");
    let (early, late) = (dir.path().join("early"), dir.path().join("late"));
    for (name, keep) in [("orders.csv", 3), ("transactions.csv", 4)] {
        let text = std::fs::read_to_string(sample.join(name)).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (d, rows) in [(&early, &lines[1..=keep]), (&late, &lines[keep + 1..])] {
            std::fs::create_dir_all(d).unwrap();
            let body: Vec<&str> = std::iter::once(lines[0]).chain(rows.iter().copied()).collect();
            std::fs::write(d.join(name), body.join("\n") + "\n").unwrap();
        }
    }
    let args = ["run", "--mapping", "alibaba-bss", "--policy", "once-a-year", "--data"];
    let (with, alone) = (dir.path().join("with"), dir.path().join("alone"));
    run(
        &args,
        &[&late, Path::new("--context"), &early, Path::new("--out"), &with],
    );
    run(&args, &[&late, Path::new("--out"), &alone]);
    let refunds = parse_csv(&std::fs::read_to_string(with.join("refunds.csv")).unwrap());
    assert_eq!(refunds.len(), 1, "only the later export's refund is reported");
    let late_refund = &refunds[0];
    assert_eq!(late_refund.get("order_id"), "240110100000101");
    // As in the whole sample (test_mapping): partial, because March's
    // unconditional refund used the year's one.
    assert_eq!(late_refund.get("expected_type"), "partial");
    assert_eq!(late_refund.get("expected_refund"), "1929.43");
    assert_eq!(late_refund.get("quota_used"), "1");
    let alone_refunds = parse_csv(&std::fs::read_to_string(alone.join("refunds.csv")).unwrap());
    assert_eq!(
        alone_refunds[0].get("expected_type"),
        "",
        "without context the order is not found"
    );
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(with.join("summary.json")).unwrap()).unwrap();
    let context_files = s["mapping"]["sources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["context"] == true)
        .count();
    assert_eq!(context_files, 3, "orders for two inputs, transactions looked up: {s}");
}
