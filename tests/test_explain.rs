//! `explain` against the reports: what it shows for an unsubscription, an
//! order or an account is exactly what discrepancies.csv says about it.

use std::collections::BTreeSet;
use std::process::Command;

use crate::common::*;

/// discrepancies.csv of the bundled sample, each row as its cells.
fn sample_findings() -> Vec<Vec<(String, String)>> {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r");
    expect_code(&run_sample_to(&out, &[]), 0);
    let mut rd = csv::Reader::from_path(out.join("discrepancies.csv")).unwrap();
    let header: Vec<String> = rd.headers().unwrap().iter().map(String::from).collect();
    rd.records()
        .map(|r| {
            let r = r.unwrap();
            header.iter().cloned().zip(r.iter().map(String::from)).collect()
        })
        .collect()
}

fn explain_json(id: &str) -> serde_json::Value {
    let o = Command::new(BIN)
        .current_dir(repo())
        .args(["explain", id, "--json"])
        .output()
        .unwrap();
    expect_code(&o, 0);
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{id}: {e}"))
}

fn cells(v: &serde_json::Value) -> Vec<(String, String)> {
    v.as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect()
}

fn sorted(mut v: Vec<(String, String)>) -> Vec<(String, String)> {
    v.sort();
    v
}

/// All findings of an explain answer (top level and per unsubscription).
fn all_findings(v: &serde_json::Value) -> BTreeSet<Vec<(String, String)>> {
    let mut out = BTreeSet::new();
    for f in v["findings"].as_array().unwrap() {
        out.insert(sorted(cells(f)));
    }
    if let Some(us) = v["unsubscriptions"].as_array() {
        for u in us {
            for f in u["findings"].as_array().unwrap() {
                out.insert(sorted(cells(f)));
            }
        }
    }
    out
}

fn rows_where(rows: &[Vec<(String, String)>], col: &str, id: &str) -> BTreeSet<Vec<(String, String)>> {
    rows.iter()
        .filter(|r| r.iter().any(|(k, v)| k == col && v == id))
        .map(|r| sorted(r.clone()))
        .collect()
}

#[test]
fn explain_json_findings_are_the_rows_of_discrepancies_csv() {
    let rows = sample_findings();
    let ids: BTreeSet<String> = rows
        .iter()
        .flat_map(|r| {
            r.iter()
                .filter(|(k, v)| k == "unsub_id" && !v.is_empty())
                .map(|(_, v)| v.clone())
        })
        .collect();
    assert!(ids.len() > 15, "the sample has findings on many unsubscriptions");
    for id in ids.iter().chain(["uns-001".to_string()].iter()) {
        let v = explain_json(id);
        assert_eq!(v["kind"], "unsubscription", "{id}");
        // In discrepancies.csv order, cell for cell.
        let got: Vec<Vec<(String, String)>> = v["findings"].as_array().unwrap().iter().map(cells).collect();
        let want: Vec<Vec<(String, String)>> = rows
            .iter()
            .filter(|r| r.iter().any(|(k, v)| k == "unsub_id" && v == id))
            .cloned()
            .collect();
        let got: Vec<_> = got.into_iter().map(sorted).collect();
        let want: Vec<_> = want.into_iter().map(sorted).collect();
        assert_eq!(got, want, "{id}");
        // Each rule step carries values and a sentence.
        let steps = v["steps"].as_array().unwrap();
        assert_eq!(steps[0]["rule"], "R0", "{id}");
        assert!(steps.iter().all(|s| !s["text"].as_str().unwrap().is_empty()));
        assert_eq!(v["unsubscription"]["unsub_id"], id.as_str());
    }
}

#[test]
fn explain_by_order_and_account_covers_their_rows_of_discrepancies_csv() {
    let rows = sample_findings();
    for order in ["ord-007", "ord-014", "ord-029", "ord-033", "ord-043", "ord-999"] {
        let v = explain_json(order);
        assert_eq!(v["kind"], "order", "{order}");
        let want = rows_where(&rows, "order_id", order);
        let got: BTreeSet<_> = all_findings(&v)
            .into_iter()
            .filter(|r| r.iter().any(|(k, v)| k == "order_id" && v == order))
            .collect();
        assert_eq!(got, want, "{order}");
    }
    for account in ["acct-004", "acct-010", "acct-023", "acct-033", "acct-036"] {
        let v = explain_json(account);
        assert_eq!(v["kind"], "account", "{account}");
        assert_eq!(all_findings(&v), rows_where(&rows, "account_id", account), "{account}");
        // One entry per unsubscription of the account, in evaluation order.
        let times: Vec<&str> = v["unsubscriptions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["requested_at"].as_str().unwrap())
            .collect();
        let mut sorted_times = times.clone();
        sorted_times.sort();
        assert_eq!(times, sorted_times, "{account}");
    }
}

#[test]
fn explain_of_an_unknown_id_is_a_usage_error() {
    let o = Command::new(BIN)
        .current_dir(repo())
        .args(["explain", "no-such-id"])
        .output()
        .unwrap();
    expect_code(&o, 2);
    assert!(
        stderr(&o).contains("no unsubscription, order or account"),
        "{}",
        stderr(&o)
    );
}

fn explain_in(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .current_dir(dir)
        .arg("explain")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn explain_from_a_reports_folder_answers_as_a_fresh_evaluation() {
    // The sample, copied so the test can change it afterwards.
    let f = Fixture::new();
    for name in ["orders.csv", "payments.csv", "unsubscriptions.csv"] {
        std::fs::copy(repo().join("data").join(name), f.data().join(name)).unwrap();
    }
    std::fs::copy(repo().join("data/policy.toml"), f.path().join("policy.toml")).unwrap();
    expect_code(&f.run(&[]), 0);
    assert!(f.out().join("explain.idx").is_file());
    let reports = f.out().display().to_string();
    let mut ids: Vec<String> = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(f.data().join("unsubscriptions.csv"))
        .unwrap()
        .records()
        .filter_map(|r| Some(r.ok()?.get(0)?.to_string()))
        .collect();
    assert!(ids.len() > 50);
    ids.extend(["ord-014", "ord-043", "ord-999", "acct-004", "acct-033", "acct-036"].map(String::from));
    for id in &ids {
        for json in [false, true] {
            let mut fresh = vec![id.as_str()];
            let mut stored = vec![id.as_str(), "--reports", reports.as_str()];
            if json {
                fresh.push("--json");
                stored.push("--json");
            }
            let a = f.cmd("explain", &fresh);
            let b = explain_in(f.path(), &stored);
            assert_eq!(code(&a), code(&b), "{id}: {}", stderr(&b));
            assert_eq!(stdout(&a), stdout(&b), "{id} json={json}");
        }
    }
    // The reports folder can still be replaced by the next night's run.
    expect_code(&f.run(&[]), 0);

    // Touched but unchanged: still answered (the hash is checked again).
    let unsubs = f.data().join("unsubscriptions.csv");
    let text = std::fs::read(&unsubs).unwrap();
    std::fs::write(&unsubs, &text).unwrap();
    expect_code(&explain_in(f.path(), &["uns-007", "--reports", &reports]), 0);

    // Changed: refused, naming the file.
    let mut changed = text.clone();
    changed.extend_from_slice(b"uns-999,ord-001,acct-001,,2021-10-01T00:00:00+08:00,,,,normal,pending,,,,,,\n");
    std::fs::write(&unsubs, &changed).unwrap();
    let o = explain_in(f.path(), &["uns-007", "--reports", &reports]);
    expect_code(&o, 2);
    assert!(
        stderr(&o).contains("unsubscriptions.csv is not the file this run read"),
        "{}",
        stderr(&o)
    );

    // A folder without an index.
    let o = explain_in(f.path(), &["uns-007", "--reports", &f.data().display().to_string()]);
    expect_code(&o, 2);
    assert!(stderr(&o).contains("explain index"), "{}", stderr(&o));
}

/// explain.idx on files with CRLF and bare-CR line ends, a quoted line
/// break and blank lines, past several 1024-line checkpoints.
#[test]
fn explain_from_reports_finds_rows_past_checkpoints_whatever_the_line_ends() {
    let n = 2500;
    let mut orders = vec![ORDERS_HEADER.to_string()];
    let mut payments = vec![PAYMENTS_HEADER.to_string()];
    let mut unsubs = vec![UNSUBS_HEADER.to_string()];
    for i in 0..n {
        orders.push(format!(
            "o{i},a{},i{i},\"Host\nSecurity\",edition,subscription,new,2021-09-01T10:00:00+08:00,2021-09-01T10:00:00+08:00,2022-09-01T10:00:00+08:00,300.00,0.00,USD,false,false",
            i % 7
        ));
        payments.push(format!(
            "p{i},o{i},a{},2021-09-01T10:00:00+08:00,300.00,USD,credit_card,succeeded",
            i % 7
        ));
        unsubs.push(format!(
            "u{i},o{i},a{},,2021-09-10T10:00:00+08:00,,2021-09-10T11:00:00+08:00,2021-09-11T10:00:00+08:00,normal,completed,partial,276.17,0.00,0.00,credit_card,2021-09",
            i % 7
        ));
        if i % 100 == 0 {
            unsubs.push(String::new());
        }
    }
    let f = Fixture::new();
    f.file("orders.csv", &(orders.join("\r\n") + "\r\n"));
    f.file("payments.csv", &(payments.join("\r") + "\r"));
    f.file("unsubscriptions.csv", &(unsubs.join("\n") + "\n"));
    expect_code(&f.run(&[]), 0);
    let reports = f.out().display().to_string();
    for id in ["u0", "u1023", "u1024", "u2047", "u2499", "o1500", "a3"] {
        let a = f.cmd("explain", &[id]);
        let b = explain_in(f.path(), &[id, "--reports", &reports]);
        expect_code(&b, 0);
        assert_eq!(stdout(&a), stdout(&b), "{id}");
    }
}
