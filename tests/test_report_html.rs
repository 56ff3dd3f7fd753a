//! report.html in a real headless browser (Debian's `chromium`): the
//! figures on the rendered page equal summary.json, values from the inputs
//! show as text (no injected element runs), and a screenshot of the
//! bundled sample's page is saved as a test artifact
//! (docs/report-html.md#the-browser-test).
//!
//! Without a browser these tests print why they are skipped and pass,
//! unless `REFUND_RECON_BROWSER_TESTS=1` (CI), where they fail.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

use rust_decimal::Decimal;

use crate::common::*;

/// How long one browser run may take before the test fails.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(90);

/// The browser, or None (after saying why) when the test is skipped.
fn browser() -> Option<PathBuf> {
    let required = std::env::var("REFUND_RECON_BROWSER_TESTS").is_ok_and(|v| v == "1");
    let candidates = ["chromium", "chromium-browser", "google-chrome"];
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = candidates
        .iter()
        .flat_map(|c| std::env::split_paths(&path).map(move |d| d.join(c)))
        .find(|p| p.is_file());
    if found.is_none() {
        assert!(
            !required,
            "REFUND_RECON_BROWSER_TESTS=1 but no chromium on PATH: install it (apt-get install chromium)"
        );
        eprintln!("SKIPPED: no chromium on PATH; the report.html browser tests need it (apt-get install chromium)");
    }
    found
}

/// Runs the browser headless on `page` with `args`; fails the test when it
/// fails or runs past [`BROWSER_TIMEOUT`]. Returns its standard output.
fn headless(browser: &Path, page: &Path, args: &[String]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out_file = profile.path().join("stdout.txt");
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_file).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > BROWSER_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium {args:?} did not finish within {BROWSER_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "chromium {args:?} failed: {status:?}");
    std::fs::read_to_string(&out_file).unwrap()
}

/// The DOM after the page ran, as the browser serialises it.
fn dump_dom(browser: &Path, page: &Path) -> String {
    let dom = headless(browser, page, &["--dump-dom".to_string()]);
    assert!(dom.contains("</html>"), "no DOM from chromium: {}", clip(&dom, 500));
    dom
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}

/// Every `data-figure` element's key and text, in page order.
fn figures(dom: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = dom;
    while let Some(i) = rest.find("data-figure=\"") {
        rest = &rest[i + 13..];
        let key_end = rest.find('"').expect("closed attribute");
        let key = unescape(&rest[..key_end]);
        let text_start = rest.find('>').expect("tag end") + 1;
        let text_end = text_start + rest[text_start..].find('<').expect("element end");
        out.push((key, unescape(&rest[text_start..text_end])));
        rest = &rest[text_end..];
    }
    out
}

/// A JSON value as the page shows it (strings as they are).
fn text_of(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// What summary.json (or, for the monthly totals, monthly_bill.csv) says
/// for a `data-figure` key.
fn expected(summary: &serde_json::Value, reports: &Path, key: &str) -> String {
    if key == "rejects.rows" {
        let n: u64 = summary["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["rejected"].as_u64().unwrap())
            .sum();
        return n.to_string();
    }
    if let Some(rest) = key.strip_prefix("inputs.") {
        let (file, field) = rest.rsplit_once('.').unwrap();
        let input = summary["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["file"] == file)
            .unwrap_or_else(|| panic!("no input {file}"));
        return text_of(&input[field]);
    }
    if let Some(rest) = key.strip_prefix("monthly.") {
        let (currency, field) = rest.split_once('.').unwrap();
        if field == "expected_refunds" {
            // The control total: the bill's expected refunds tie to refunds.csv's.
            return text_of(&summary["refund_totals"][currency]["expected_refunds"]);
        }
        let bill = parse_csv(&std::fs::read_to_string(reports.join("monthly_bill.csv")).unwrap());
        let sum: Decimal = bill
            .iter()
            .filter(|r| r.get("currency") == currency)
            .map(|r| Decimal::from_str(r.get(field)).unwrap())
            .sum();
        return sum.to_string();
    }
    let mut v = summary;
    for part in key.split('.') {
        v = &v[part];
    }
    assert!(!v.is_null(), "{key} is not in summary.json");
    text_of(v)
}

/// Runs the bundled sample into a temporary folder.
fn sample_reports() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let reports = dir.path().join("reports");
    expect_code(&run_sample_to(&reports, &[]), 0);
    (dir, reports)
}

/// Where test artifacts go: `$CARGO_TARGET_DIR/artifacts` when that is
/// set for the test run, else the repository's `target/artifacts`.
fn artifacts() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target"));
    let dir = target.join("artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn report_html_is_written_with_the_other_reports_and_is_self_contained() {
    let (_dir, reports) = sample_reports();
    let page = std::fs::read_to_string(reports.join("report.html")).unwrap();
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(reports.join("summary.json")).unwrap()).unwrap();
    assert!(summary["reports"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r == "report.html"));
    for bad in [
        "http:", "https:", "//", "<link", "@import", "url(", "<script", "src=", "href=", "<img",
    ] {
        assert!(!page.contains(bad), "{bad:?} in report.html");
    }
    // Deterministic: a rerun writes the same bytes.
    let (_dir2, again) = sample_reports();
    assert_eq!(page, std::fs::read_to_string(again.join("report.html")).unwrap());
}

#[test]
fn report_html_figures_in_the_browser_equal_summary_json() {
    let Some(browser) = browser() else { return };
    let (_dir, reports) = sample_reports();
    let page = reports.join("report.html");
    let dom = dump_dom(&browser, &page);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(reports.join("summary.json")).unwrap()).unwrap();
    let figs = figures(&dom);
    for (key, text) in &figs {
        assert_eq!(
            text.replace(',', ""),
            expected(&summary, &reports, key).replace(',', ""),
            "the page's {key} differs from summary.json"
        );
    }
    // Every headline figure is there.
    let keys: BTreeSet<&str> = figs.iter().map(|(k, _)| k.as_str()).collect();
    let mut want = vec![
        "as_of".to_string(),
        "policy.name".to_string(),
        "findings.total".to_string(),
        "rejects.rows".to_string(),
    ];
    want.extend(["error", "warning", "info"].map(|s| format!("findings.by_severity.{s}")));
    for i in summary["inputs"].as_array().unwrap() {
        for f in ["rows_read", "accepted", "rejected"] {
            want.push(format!("inputs.{}.{f}", i["file"].as_str().unwrap()));
        }
    }
    for c in summary["refund_totals"].as_object().unwrap().keys() {
        want.push(format!("refund_totals.{c}.expected_refunds"));
        want.push(format!("refund_totals.{c}.recorded_refunds"));
        want.push(format!("monthly.{c}.expected_refunds"));
    }
    for (code, n) in summary["findings"]["by_code"].as_object().unwrap() {
        if n.as_u64() != Some(0) {
            want.push(format!("findings.by_code.{code}"));
        }
    }
    for k in &want {
        assert!(keys.contains(k.as_str()), "no data-figure {k} on the page");
    }
    // The screenshot for people (and the README's picture).
    let shot = artifacts().join("report-html.png");
    let _ = std::fs::remove_file(&shot);
    headless(
        &browser,
        &page,
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1280,3000".to_string(),
        ],
    );
    let png = std::fs::read(&shot).unwrap_or_else(|e| panic!("{}: {e}", shot.display()));
    assert!(png.starts_with(b"\x89PNG") && png.len() > 20_000, "not a screenshot");
    eprintln!("report.html screenshot: {}", shot.display());
}

#[test]
fn report_html_shows_hostile_values_as_text_in_the_browser() {
    let Some(browser) = browser() else { return };
    let evil = "<script>document.title='pwned'</script>";
    let img = "<img src=x onerror=document.title='img'>";
    let f = Fixture::new();
    for name in ["orders.csv", "payments.csv", "unsubscriptions.csv"] {
        let text = std::fs::read_to_string(repo().join("data").join(name)).unwrap();
        let mut text = text.replace("acct-017", evil).replace("Host Security Pro 1 year", img);
        if name == "orders.csv" {
            // A row rejected for its amount: rejects.csv shows the value.
            text.push_str(&format!(
                "ord-900,acct-900,inst-900,x,edition,subscription,new,2021-08-20T10:00:00+08:00,2021-08-20T10:00:00+08:00,2022-08-20T10:00:00+08:00,{img},0.00,USD,false,false\n"
            ));
        }
        f.file(name, &text);
    }
    let policy = std::fs::read_to_string(repo().join("data/policy.toml")).unwrap();
    f.policy(&policy.replace("name = \"once-a-year\"", &format!("name = \"{img}\"")));
    let out = f.run(&[]);
    assert_no_panic(&out);
    let page = f.out().join("report.html");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt;"));
    assert!(html.contains("&lt;img src=x onerror=document.title=&#39;img&#39;&gt;"));
    let dom = dump_dom(&browser, &page);
    let title = dom
        .split_once("<title>")
        .and_then(|(_, rest)| rest.split_once("</title>"))
        .map(|(t, _)| unescape(t))
        .unwrap();
    let as_of = summary_of(&f)["as_of"].as_str().unwrap().to_string();
    assert_eq!(
        title,
        format!("Refund reconciliation · as of {as_of}"),
        "a script changed the title"
    );
    for tag in ["<script", "<img", "<iframe"] {
        assert!(
            !dom.contains(tag),
            "the DOM holds an injected {tag}: {}",
            clip(&dom, 2000)
        );
    }
    // The values are on the page, as text.
    assert!(
        dom.contains("&lt;script&gt;document.title='pwned'&lt;/script&gt;"),
        "account id not shown"
    );
    assert!(
        dom.contains("&lt;img src=x onerror=document.title='img'&gt;"),
        "reject value not shown"
    );
}

/// Night 1: the sample; night 2: uns-007's refund corrected, uns-001's
/// mistyped, against night 1 as the baseline (the README's example).
fn two_nights() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    for f in ["orders.csv", "payments.csv", "unsubscriptions.csv"] {
        std::fs::copy(repo().join("data").join(f), data.join(f)).unwrap();
    }
    let run = |out: &str, extra: &[&str]| {
        let o = Command::new(BIN)
            .current_dir(dir.path())
            .args(["run", "--data", "data", "--policy"])
            .arg(repo().join("data/policy.toml"))
            .args(["--out", out])
            .args(extra)
            .output()
            .unwrap();
        expect_code(&o, 0);
    };
    run("night1", &[]);
    let path = data.join("unsubscriptions.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    let fixed = text
        .replace(
            ",199.00,0.00,0.00,credit_card,2021-06",
            ",197.91,0.00,0.00,credit_card,2021-06",
        )
        .replace(
            ",1775.34,0.00,0.00,credit_card,2021-09",
            ",1785.34,0.00,0.00,credit_card,2021-09",
        );
    assert_ne!(fixed, text, "the sample still has the rows this test edits");
    std::fs::write(&path, fixed).unwrap();
    run("night2", &["--baseline", "night1"]);
    let reports = dir.path().join("night2");
    (dir, reports)
}

#[test]
fn report_html_since_the_baseline_in_the_browser() {
    let Some(browser) = browser() else { return };
    let (_dir, reports) = two_nights();
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(reports.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["baseline"]["new_errors"], 1);
    assert_eq!(summary["baseline"]["resolved"], 1);
    let dom = dump_dom(&browser, &reports.join("report.html"));
    let figs = figures(&dom);
    for key in [
        "baseline.new_errors",
        "baseline.new",
        "baseline.persisting",
        "baseline.resolved",
    ] {
        let (_, text) = figs
            .iter()
            .find(|(k, _)| k == key)
            .unwrap_or_else(|| panic!("no data-figure {key} on the page"));
        assert_eq!(text, &expected(&summary, &reports, key), "{key}");
    }
    let text = unescape(&dom);
    assert!(
        text.contains(summary["baseline"]["headline"].as_str().unwrap()),
        "the page shows the headline"
    );
    // The new finding (uns-001) and the resolved one (uns-007) are listed.
    let new = parse_csv(&std::fs::read_to_string(reports.join("discrepancies.csv")).unwrap());
    let new: Vec<_> = new.iter().filter(|r| r.get("status") == "new").collect();
    assert_eq!(new.len(), 1);
    assert_eq!(new[0].get("unsub_id"), "uns-001");
    let resolved = parse_csv(&std::fs::read_to_string(reports.join("resolved.csv")).unwrap());
    assert_eq!(resolved[0].get("unsub_id"), "uns-007");
    let section = text
        .split("Since the baseline")
        .nth(1)
        .expect("a section on the baseline");
    assert!(section.contains("uns-001") && section.contains("uns-007"), "{section}");
}
