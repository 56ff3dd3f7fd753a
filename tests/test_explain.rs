//! `explain` against the reports: what it shows for an unsubscription, an
//! order or an account is exactly what discrepancies.csv says about it.

use std::collections::BTreeSet;
use std::process::Command;

use crate::common::*;

/// discrepancies.csv of the bundled sample, each row as its cells.
fn sample_findings() -> Vec<Vec<(String, String)>> {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r");
    let o = Command::new(BIN)
        .current_dir(repo())
        .args(["run", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    expect_code(&o, 0);
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
