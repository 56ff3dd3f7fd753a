//! report.html from hand-made report folders: escaping, the largest
//! differences, the baseline sections (the planned status column and
//! resolved.csv), and empty runs.

use std::collections::BTreeMap;
use std::path::Path;

use super::data::{self, AccountDiff, MonthRefunds};
use super::*;
use crate::report::summary::{Elapsed, FindingCounts, InputInfo, PolicyInfo, TotalsOut};
use crate::report::BaselineInfo;

const BILL: &str = "account_id,billing_cycle,currency,orders,charged,coupon_deducted,cash_due,paid,expected_refunds,recorded_refunds,refund_difference,expected_handling_fees,expected_coupons_returned,expected_net";
const QUOTA: &str = "account_id,year,allowed,granted,denied_by_quota,recorded_unconditional,over_quota";
const REJECTS: &str = "file,line,record_id,column,value,reason";
const DISCREPANCIES: &str =
    "severity,code,account_id,unsub_id,order_id,payment_id,field,expected,recorded,delta,currency,message";

fn d(s: &str) -> Decimal {
    crate::money::parse_written(s).unwrap()
}

/// A bill row: account, month, currency, expected, recorded (difference
/// computed).
fn bill(a: &str, m: &str, c: &str, e: &str, r: &str) -> String {
    format!(
        "{a},{m},{c},0,0.00,0.00,0.00,0.00,{e},{r},{},0.00,0.00,0.00",
        data::unsigned_zero(d(r) - d(e))
    )
}

/// Writes the five CSV reports into `dir` (header + rows each).
fn reports(dir: &Path, bill_rows: &[String], quota: &[&str], rejects: &[&str], discrepancies: (&str, &[&str])) {
    let file = |name: &str, header: &str, rows: &[&str]| {
        let mut s = format!("{header}\n");
        for r in rows {
            s.push_str(r);
            s.push('\n');
        }
        std::fs::write(dir.join(name), s).unwrap();
    };
    let b: Vec<&str> = bill_rows.iter().map(String::as_str).collect();
    file("monthly_bill.csv", BILL, &b);
    file("quota_usage.csv", QUOTA, quota);
    file("rejects.csv", REJECTS, rejects);
    file("discrepancies.csv", discrepancies.0, discrepancies.1);
}

fn summary(findings: &[(&'static str, u64)], totals: &[(&str, &str, &str)]) -> Summary {
    let mut by_code: BTreeMap<&'static str, Option<u64>> = Code::ALL.iter().map(|c| (c.as_str(), Some(0))).collect();
    let mut by_severity: BTreeMap<&'static str, u64> = [("error", 0), ("warning", 0), ("info", 0)].into();
    for (code, n) in findings {
        by_code.insert(code, Some(*n));
        let sev = Code::parse(code).unwrap().severity().as_str();
        *by_severity.get_mut(sev).unwrap() += n;
    }
    let input = |file: &str, read: u64, rejected: u64| InputInfo {
        file: file.to_string(),
        path: format!("data/{file}"),
        sha256: "ab".repeat(32),
        bytes: 1,
        rows_read: read,
        accepted: read - rejected,
        rejected,
        extra_columns: Vec::new(),
        files: Vec::new(),
    };
    Summary {
        mapping: None,
        coverage: crate::mapping::coverage::coverage(None),
        baseline: None,
        tool: "refund-recon",
        version: "0.1.0",
        policy: PolicyInfo {
            name: "once-a-year".into(),
            path: "data/policy.toml".into(),
            sha256: "cd".repeat(32),
        },
        inputs: vec![
            input("orders.csv", 10, 1),
            input("payments.csv", 10, 0),
            input("unsubscriptions.csv", 5, 0),
        ],
        as_of: "2022-01-12T10:00:00+08:00".into(),
        accounts: Vec::new(),
        findings: FindingCounts {
            total: findings.iter().map(|x| x.1).sum(),
            by_severity,
            by_code,
        },
        refund_totals: totals
            .iter()
            .map(|(c, e, r)| {
                (
                    c.to_string(),
                    TotalsOut {
                        expected_refunds: e.to_string(),
                        recorded_refunds: r.to_string(),
                    },
                )
            })
            .collect(),
        reports: crate::report::FILES.to_vec(),
        files: Vec::new(),
        shards: Vec::new(),
        started_at: String::new(),
        elapsed_seconds: Elapsed::default(),
        worst: None,
    }
}

fn page(dir: &Path, s: &Summary) -> String {
    write(dir, s, None).unwrap();
    std::fs::read_to_string(dir.join(FILE)).unwrap()
}

/// Nothing on the page can load from elsewhere or run.
fn assert_self_contained(p: &str) {
    for bad in [
        "http:", "https:", "//", "<link", "@import", "url(", "<script", "src=", "href=", "<img", "<iframe", " on",
    ] {
        let hits: Vec<_> = p
            .match_indices(bad)
            .map(|(i, _)| &p[i.saturating_sub(40)..(i + 40).min(p.len())])
            .collect();
        if bad == " on" {
            // No event-handler attribute: " on" never starts an attribute.
            assert!(
                !p.contains(" onerror=") && !p.contains(" onload=") && !p.contains(" onclick="),
                "{hits:?}"
            );
            continue;
        }
        assert!(hits.is_empty(), "{bad:?} in the page: {hits:?}");
    }
}

#[test]
fn escape_covers_the_five_characters() {
    assert_eq!(
        escape(r#"<a href="x">'&'</a>"#),
        "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
    );
    assert_eq!(escape("plain ünïcode"), "plain ünïcode");
    assert_eq!(
        escape("<script>document.title='pwned'</script>"),
        "&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt;"
    );
}

#[test]
fn group_inserts_commas_only_into_numbers() {
    assert_eq!(group("11504.66"), "11,504.66");
    assert_eq!(group("-1234567"), "-1,234,567");
    assert_eq!(group("100"), "100");
    assert_eq!(group("1000"), "1,000");
    assert_eq!(group("0.000"), "0.000");
    for s in ["", "-", "abc", "1.2.3", "12a", "+1000", "1e9", "2021-10"] {
        assert_eq!(group(s), s);
    }
    assert_eq!(group("1234567.891").replace(',', ""), "1234567.891");
}

#[test]
fn clip_cuts_long_cells_on_a_character_boundary() {
    let long = "é".repeat(CELL_CHARS + 5);
    let c = clip(&long);
    assert!(c.starts_with(&"é".repeat(CELL_CHARS)) && c.ends_with(&format!("({} bytes in the report)", long.len())));
    assert_eq!(clip("short"), "short");
}

#[test]
fn largest_differences_are_top_20_per_currency_by_absolute_value_ties_by_account() {
    let dir = tempfile::tempdir().unwrap();
    let mut rows = Vec::new();
    // 30 USD accounts; acct-NN differs by NN (sign alternating) over two
    // months, so |difference| = NN; acct-00 has none.
    for n in 0..30i64 {
        let a = format!("acct-{n:02}");
        let h = Decimal::new(n * 50, 2); // n / 2, in month 1; the rest in month 2
        let rest = Decimal::from(n) - h;
        let hundred = d("100.00");
        let (m1, m2) = if n % 2 == 0 {
            ((hundred, hundred + h), (Decimal::ZERO, rest))
        } else {
            ((hundred + h, hundred), (rest, Decimal::ZERO))
        };
        let s = |v: Decimal| format!("{:.2}", v);
        rows.push(bill(&a, "2021-09", "USD", &s(m1.0), &s(m1.1)));
        rows.push(bill(&a, "2021-10", "USD", &s(m2.0), &s(m2.1)));
    }
    // Ties: two accounts with |difference| 29 in USD, one in JPY only.
    rows.push(bill("acct-29b", "2021-10", "USD", "0.00", "29.00"));
    rows.push(bill("acct-x", "2021-10", "JPY", "100", "90"));
    rows.sort();
    reports(dir.path(), &rows, &[], &[], (DISCREPANCIES, &[]));
    let got = data::read(dir.path(), false, None).unwrap();
    let usd: Vec<(&str, String)> = got.top["USD"]
        .iter()
        .map(|a| (a.account.as_str(), a.difference.to_string()))
        .collect();
    assert_eq!(usd.len(), data::TOP);
    assert_eq!(usd[0], ("acct-29", "-29.00".to_string()));
    assert_eq!(usd[1], ("acct-29b", "29.00".to_string()));
    assert_eq!(usd[2], ("acct-28", "28.00".to_string()));
    assert_eq!(usd[19].0, "acct-11");
    assert!(got.top["USD"].iter().all(|a| a.difference == a.recorded - a.expected));
    assert_eq!(got.top["JPY"].len(), 1);
    assert_eq!(got.top["JPY"][0].difference, d("-10"));
    // Month sums per currency, in month order.
    let sep: Decimal = (0..30).map(|_| d("100.00")).sum();
    assert_eq!(got.months["USD"][0].month, "2021-09");
    assert!(got.months["USD"][0].expected >= sep);
}

/// The bill's writer digests batches of whole accounts and merges them in
/// order: for any cut between accounts, what report.html shows equals one
/// pass over the file (the run-level check: merged shards, whose page is
/// read back, equal one run in tests/test_shards.rs).
#[test]
fn a_bill_digest_merged_from_batches_equals_the_file_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut rows = Vec::new();
    for n in 0..90i64 {
        let a = format!("acct-{n:02}");
        let (c, e) = if n % 3 == 0 {
            ("JPY", format!("{n}"))
        } else {
            ("USD", format!("{n}.50"))
        };
        rows.push(bill(&a, "2021-09", c, &e, if n % 4 == 0 { &e } else { "1.00" }));
        rows.push(bill(&a, "2021-10", "USD", "0.00", &format!("{}.25", n % 7)));
        rows.push(bill(&a, "2021-11", "EUR", "0.00", "0.00"));
    }
    rows.sort();
    reports(dir.path(), &rows, &[], &[], (DISCREPANCIES, &[]));
    let want = data::read(dir.path(), false, None).unwrap();
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.split(',').map(str::to_string).collect())
        .collect();
    let digest = |rows: &[Vec<String>]| {
        let mut g = BillDigest::default();
        for r in rows {
            g.row(&BillCells {
                account: &r[0],
                month: &r[1],
                currency: &r[2],
                expected: &r[8],
                recorded: &r[9],
                difference: &r[10],
            })
            .unwrap();
        }
        g
    };
    for batch in [3, 6, 21, 270] {
        let mut all = BillDigest::default();
        for part in cells.chunks(batch) {
            all.merge(digest(part)).unwrap();
        }
        let (months, top) = all.finish().unwrap();
        assert_eq!(months, want.months, "batches of {batch} rows");
        assert_eq!(top, want.top, "batches of {batch} rows");
    }
}

#[test]
fn top_order_breaks_ties_by_account_then_currency() {
    let a = |acc: &str, cur: &str, diff: &str| AccountDiff {
        account: acc.into(),
        currency: cur.into(),
        expected: Decimal::ZERO,
        recorded: Decimal::ZERO,
        difference: d(diff),
    };
    let mut list = vec![
        a("b", "USD", "5"),
        a("a", "USD", "-5"),
        a("c", "USD", "7"),
        a("a", "EUR", "5"),
    ];
    data::finish_top(&mut list);
    let got: Vec<_> = list.iter().map(|x| format!("{} {}", x.account, x.currency)).collect();
    assert_eq!(got, ["c USD", "a EUR", "a USD", "b USD"]);
}

#[test]
fn months_between_are_filled_for_the_chart() {
    let m = |s: &str| MonthRefunds {
        month: s.into(),
        expected: d("1"),
        recorded: d("1"),
    };
    let got: Vec<String> = continuous(&[m("2021-11"), m("2022-02")])
        .into_iter()
        .map(|x| x.month)
        .collect();
    assert_eq!(got, ["2021-11", "2021-12", "2022-01", "2022-02"]);
    let odd = [m("2021-11"), m("+10000-01")];
    assert_eq!(continuous(&odd), odd.to_vec());
    assert!(continuous(&[]).is_empty());
}

#[test]
fn an_empty_run_renders_every_section_without_panicking() {
    let dir = tempfile::tempdir().unwrap();
    reports(dir.path(), &[], &[], &[], (DISCREPANCIES, &[]));
    let mut s = summary(&[], &[]);
    s.inputs.iter_mut().for_each(|i| {
        i.rows_read = 0;
        i.accepted = 0;
        i.rejected = 0
    });
    let p = page(dir.path(), &s);
    for want in [
        "No findings.",
        "No input row was rejected.",
        "No refunds in monthly_bill.csv.",
        "No account has a refund difference.",
        "quota_usage.csv is empty",
        "No completed unsubscription with a known order.",
        "No baseline. Run with <code>--baseline DIR</code>",
        "<span data-figure=\"findings.total\">0</span>",
    ] {
        assert!(p.contains(want), "{want:?} missing");
    }
    assert!(p.ends_with("</html>\n"));
    assert_self_contained(&p);
    // The run writes nothing else than report.html.
    assert!(dir.path().join(FILE).is_file());
}

#[test]
fn values_from_the_reports_show_as_text() {
    let dir = tempfile::tempdir().unwrap();
    let evil = "<script>document.title='pwned'</script>";
    let img = "<img src=x onerror=alert(1)>";
    reports(
        dir.path(),
        &[bill(evil, "2021-10", "USD", "10.00", "12.00")],
        &[&format!("{evil},2021,1,1,0,2,true")],
        &[&format!(
            "orders.csv,3,\"{img}\",amount,\"{img}\",\"a \"\"quoted\"\" reason & more\""
        )],
        (DISCREPANCIES, &[]),
    );
    let mut s = summary(&[("REFUND_AMOUNT_MISMATCH", 1)], &[("USD", "10.00", "12.00")]);
    s.accounts = vec![evil.to_string()];
    s.policy.name = img.to_string();
    let p = page(dir.path(), &s);
    // The values shown as text hold "src=" and " onerror="; the rest of
    // the page must not.
    assert_self_contained(&p.replace(&escape(evil), "").replace(&escape(img), ""));
    assert!(p.contains("&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt;"));
    assert!(p.contains("&lt;img src=x onerror=alert(1)&gt;"));
    assert!(p.contains("a &quot;quoted&quot; reason &amp; more"));
    assert!(!p.contains(evil) && !p.contains(img));
}

#[test]
fn headline_figures_are_marked_and_grouped() {
    let dir = tempfile::tempdir().unwrap();
    reports(
        dir.path(),
        &[
            bill("a", "2021-09", "USD", "1775.34", "1775.34"),
            bill("a", "2021-11", "USD", "10000.00", "9000.00"),
        ],
        &["a,2021,1,1,1,2,true", "b,2021,1,1,0,1,false"],
        &["orders.csv,3,ord-1,amount,1e3,not an amount"],
        (DISCREPANCIES, &[]),
    );
    let s = summary(
        &[("REFUND_AMOUNT_MISMATCH", 2), ("STALE_PENDING", 1)],
        &[("USD", "11775.34", "10775.34")],
    );
    let p = page(dir.path(), &s);
    for want in [
        "data-figure=\"findings.total\">3<",
        "data-figure=\"findings.by_severity.error\">2<",
        "data-figure=\"findings.by_severity.warning\">1<",
        "data-figure=\"findings.by_code.STALE_PENDING\">1<",
        "data-figure=\"inputs.orders.csv.rows_read\">10<",
        "data-figure=\"inputs.orders.csv.rejected\">1<",
        "data-figure=\"refund_totals.USD.expected_refunds\">11,775.34<",
        "data-figure=\"monthly.USD.expected_refunds\">11,775.34<",
        "data-figure=\"monthly.USD.recorded_refunds\">10,775.34<",
        "data-figure=\"rejects.rows\">1<",
        // The gap month is drawn at zero; the table lists refund months only.
        "<title>2021-10 expected: 0 USD</title>",
        "<td class=\"num diff\">-1,000.00</td>",
        "(accounts: 1; rows: all 1)",
    ] {
        assert!(p.contains(want), "{want:?} missing");
    }
    assert!(!p.contains("<td class=\"mono\">2021-10</td>"));
}

#[test]
fn the_baseline_sections_read_status_and_resolved_csv() {
    let dir = tempfile::tempdir().unwrap();
    let header = format!("{DISCREPANCIES},finding_id,status,first_seen,age_days");
    let row = |sev: &str, code: &str, acct: &str, status: &str| {
        format!("{sev},{code},{acct},u,o,,field,1.00,2.00,1.00,USD,msg {acct},0123456789abcdef,{status},2021-01-01T00:00:00+08:00,3")
    };
    let rows = [
        row("warning", "STALE_PENDING", "a1", "new"),
        row("error", "REFUND_AMOUNT_MISMATCH", "a2", "persisting"),
        row("error", "REFUND_AMOUNT_MISMATCH", "a3", "new"),
        row("error", "QUOTA_EXCEEDED", "<b>x</b>", "new"),
    ];
    let refs: Vec<&str> = rows.iter().map(String::as_str).collect();
    reports(dir.path(), &[], &[], &[], (&header, &refs));
    std::fs::write(
        dir.path().join("resolved.csv"),
        "finding_id,severity,code,account_id,unsub_id,order_id,payment_id,field,currency,message,first_seen,last_seen\n\
         fedcba9876543210,error,LATE_REFUND,old-acct,u9,o9,,refunded_at,USD,gone,2020-12-01T00:00:00+08:00,2021-01-01T00:00:00+08:00\n",
    )
    .unwrap();
    let mut s = summary(
        &[
            ("STALE_PENDING", 1),
            ("REFUND_AMOUNT_MISMATCH", 2),
            ("QUOTA_EXCEEDED", 1),
        ],
        &[],
    );
    s.baseline = Some(BaselineInfo {
        headline: "2 new errors since 2021-12-01T00:00:00+08:00, 1 resolved".into(),
        path: "../last-night".into(),
        as_of: "2021-12-01T00:00:00+08:00".into(),
        new_errors: 2,
        new: 3,
        persisting: 1,
        resolved: 1,
        mapping_sha256: None,
    });
    let st = data::read(dir.path(), true, None).unwrap().status.unwrap();
    assert_eq!(st.by_code["REFUND_AMOUNT_MISMATCH"], (1, 1));
    assert_eq!(st.new_rows.total, 3);
    // Errors first, then the rest, each in file order.
    let accounts: Vec<&str> = st.new_rows.rows.iter().map(|r| r[2].as_str()).collect();
    assert_eq!(accounts, ["a3", "<b>x</b>", "a1"]);
    let p = page(dir.path(), &s);
    for want in [
        "2 new errors since 2021-12-01T00:00:00+08:00, 1 resolved",
        "data-figure=\"baseline.new_errors\">2<",
        "data-figure=\"baseline.resolved\">1<",
        "New findings <span class=\"muted\">(all 3, errors first)",
        "Resolved findings <span class=\"muted\">(all 1)",
        "old-acct",
        "&lt;b&gt;x&lt;/b&gt;",
        "<th class=\"num\">new</th><th class=\"num\">persisting</th>",
    ] {
        assert!(p.contains(want), "{want:?} missing");
    }
    assert_self_contained(&p);
    // Without a baseline the status column is not read at all.
    assert!(data::read(dir.path(), false, None).unwrap().status.is_none());
}

#[test]
fn a_status_column_that_is_empty_everywhere_counts_as_none() {
    let dir = tempfile::tempdir().unwrap();
    let header = format!("{DISCREPANCIES},finding_id,status,first_seen,age_days");
    let row = "error,QUOTA_EXCEEDED,a,u,o,,f,,,,USD,m,0123456789abcdef,,,";
    reports(dir.path(), &[], &[], &[], (&header, &[row]));
    std::fs::write(dir.path().join("resolved.csv"), "finding_id,severity\n").unwrap();
    let got = data::read(dir.path(), true, None).unwrap();
    assert!(got.status.is_none());
    assert_eq!(got.resolved.map(|r| r.total), Some(0));
}

#[test]
fn a_damaged_report_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    reports(
        dir.path(),
        &[bill("a", "2021-09", "USD", "1.00", "1.00").replace("1.00,1.00", "x,1.00")],
        &[],
        &[],
        (DISCREPANCIES, &[]),
    );
    let s = summary(&[], &[]);
    assert!(matches!(write(dir.path(), &s, None), Err(AppError::Internal(_))));
    std::fs::write(dir.path().join("monthly_bill.csv"), "account_id\n").unwrap();
    assert!(matches!(write(dir.path(), &s, None), Err(AppError::Internal(_))));
    reports(dir.path(), &[], &[], &[], (DISCREPANCIES, &[]));
    std::fs::remove_file(dir.path().join("quota_usage.csv")).unwrap();
    assert!(write(dir.path(), &s, None).is_err());
}
