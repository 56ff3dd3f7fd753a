//! `run --baseline DIR` (finding_id, status, first_seen, age_days,
//! resolved.csv, the headline) and `verify DIR` with summary.json's file
//! list.

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::common::*;

/// Account A1 with a clean unconditional refund, and account A2 whose
/// refund is recorded 1.00 short (REFUND_AMOUNT_MISMATCH).
const O1: &str = "O1,A1,i-1,Prod,edition,subscription,new,2021-09-01T10:00:00+08:00,2021-09-01T10:00:00+08:00,2022-09-01T10:00:00+08:00,300.00,0.00,USD,false,false";
const P1: &str = "P1,O1,A1,2021-09-01T10:00:00+08:00,300.00,USD,credit_card,succeeded";
const U1: &str = "U1,O1,A1,,2021-09-02T10:00:00+08:00,,2021-09-02T11:00:00+08:00,2021-09-03T10:00:00+08:00,normal,completed,unconditional,300.00,0.00,0.00,credit_card,2021-09";

fn o2() -> String {
    O1.replace("O1,A1,i-1", "O2,A2,i-2")
}
fn p2() -> String {
    P1.replace("P1,O1,A1", "P2,O2,A2")
}
fn u2(refund: &str) -> String {
    U1.replace("U1,O1,A1", "U2,O2,A2")
        .replace("unconditional,300.00", &format!("unconditional,{refund}"))
}

const DAY1: &str = "2021-09-10T00:00:00+08:00";
const DAY4: &str = "2021-09-13T00:00:00+08:00";
const DAY9: &str = "2021-09-18T12:00:00+08:00";

fn run_to(f: &Fixture, out: &Path, extra: &[&str]) -> std::process::Output {
    let o = f.run_command(out).args(extra).output().unwrap();
    assert_no_panic(&o);
    o
}

fn rows_at(out: &Path, name: &str) -> Vec<CsvRow> {
    parse_csv(&std::fs::read_to_string(out.join(name)).unwrap())
}

fn summary_at(out: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap()
}

fn write_data(f: &Fixture, a1_refund: &str, a2_refund: &str) {
    f.file("orders.csv", &csv(ORDERS_HEADER, &[O1, &o2()]));
    f.file("payments.csv", &csv(PAYMENTS_HEADER, &[P1, &p2()]));
    let u1 = U1.replace("unconditional,300.00", &format!("unconditional,{a1_refund}"));
    f.file("unsubscriptions.csv", &csv(UNSUBS_HEADER, &[&u1, &u2(a2_refund)]));
}

#[test]
fn without_baseline_ids_are_filled_and_the_rest_is_empty() {
    let f = Fixture::new();
    write_data(&f, "300.00", "299.00");
    expect_code(&f.run(&["--as-of", DAY1]), 0);
    let d = f.rows("discrepancies.csv");
    assert_eq!(d.len(), 1);
    let id = d[0].get("finding_id");
    assert_eq!(id.len(), 16);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
    for col in ["status", "first_seen", "age_days"] {
        assert_eq!(d[0].get(col), "", "{col}");
    }
    assert_eq!(f.report("resolved.csv").lines().count(), 1, "header only");
    assert!(summary_of(&f)["baseline"].is_null());
    // The id is the identity's, whatever the amounts say.
    write_data(&f, "300.00", "250.00");
    f.run(&["--as-of", DAY1]);
    assert_eq!(f.rows("discrepancies.csv")[0].get("finding_id"), id);
}

#[test]
fn baseline_marks_new_persisting_and_resolved_and_carries_first_seen() {
    let f = Fixture::new();
    let (night1, night2, night3) = (f.path().join("n1"), f.path().join("n2"), f.path().join("n3"));
    // Night 1: A2 is short.
    write_data(&f, "300.00", "299.00");
    expect_code(&run_to(&f, &night1, &["--as-of", DAY1]), 0);
    let first = rows_at(&night1, "discrepancies.csv");
    assert_eq!(first.len(), 1);
    // Night 2: A2 still short (other amount), A1 now short too.
    write_data(&f, "290.00", "298.00");
    let b1 = night1.display().to_string();
    let o = run_to(&f, &night2, &["--as-of", DAY4, "--baseline", &b1]);
    expect_code(&o, 0);
    let d = rows_at(&night2, "discrepancies.csv");
    let by = |rows: &[CsvRow], acct: &str| rows.iter().find(|r| r.get("account_id") == acct).cloned().unwrap();
    let (a1, a2) = (by(&d, "A1"), by(&d, "A2"));
    assert_eq!(a2.get("finding_id"), first[0].get("finding_id"));
    assert_eq!(
        (a2.get("status"), a2.get("first_seen"), a2.get("age_days")),
        ("persisting", DAY1, "3")
    );
    assert_eq!(
        (a1.get("status"), a1.get("first_seen"), a1.get("age_days")),
        ("new", DAY4, "0")
    );
    assert_eq!(rows_at(&night2, "resolved.csv").len(), 0);
    let s = summary_at(&night2);
    let b = &s["baseline"];
    assert_eq!(b["headline"], format!("1 new error since {DAY1}, 0 resolved"));
    assert_eq!((b["new"].as_u64(), b["persisting"].as_u64()), (Some(1), Some(1)));
    assert_eq!(b["as_of"], DAY1);
    assert_eq!(
        stdout(&o).lines().next().unwrap(),
        format!("1 new error since {DAY1}, 0 resolved"),
        "the summary leads with it"
    );
    // summary.json leads with it too.
    let text = std::fs::read_to_string(night2.join("summary.json")).unwrap();
    assert!(text.starts_with("{\n  \"baseline\": {\n    \"headline\""), "{text}");

    // Night 3: A2 fixed, A1 still short: A2's finding is resolved, A1's
    // first_seen stays night 2's, carried through the baseline.
    write_data(&f, "290.00", "300.00");
    let b2 = night2.display().to_string();
    expect_code(&run_to(&f, &night3, &["--as-of", DAY9, "--baseline", &b2]), 0);
    let d = rows_at(&night3, "discrepancies.csv");
    assert_eq!(d.len(), 1);
    assert_eq!(
        (
            d[0].get("account_id"),
            d[0].get("status"),
            d[0].get("first_seen"),
            d[0].get("age_days")
        ),
        ("A1", "persisting", DAY4, "5")
    );
    let r = rows_at(&night3, "resolved.csv");
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].get("finding_id"), first[0].get("finding_id"));
    assert_eq!(r[0].get("code"), "REFUND_AMOUNT_MISMATCH");
    assert_eq!(r[0].get("account_id"), "A2");
    assert_eq!((r[0].get("first_seen"), r[0].get("last_seen")), (DAY1, DAY4));
    assert_eq!(
        summary_at(&night3)["baseline"]["headline"],
        format!("0 new errors since {DAY4}, 1 resolved")
    );
}

#[test]
fn baseline_may_be_the_out_folder_itself() {
    let f = Fixture::new();
    write_data(&f, "300.00", "299.00");
    expect_code(&f.run(&["--as-of", DAY1]), 0);
    write_data(&f, "300.00", "300.00");
    let out = f.out().display().to_string();
    expect_code(&f.run(&["--as-of", DAY4, "--baseline", &out]), 0);
    assert_eq!(f.rows("discrepancies.csv").len(), 0);
    assert_eq!(f.rows("resolved.csv").len(), 1);
}

#[test]
fn a_baseline_from_before_finding_ids_still_works() {
    let f = Fixture::new();
    let old = f.path().join("old");
    write_data(&f, "300.00", "299.00");
    run_to(&f, &old, &["--as-of", DAY1]);
    let id = rows_at(&old, "discrepancies.csv")[0].get("finding_id").to_string();
    // Strip what an older version did not write.
    let text = std::fs::read_to_string(old.join("discrepancies.csv")).unwrap();
    let stripped: String = text
        .lines()
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            format!("{}\n", cells[..cells.len() - 4].join(","))
        })
        .collect();
    std::fs::write(old.join("discrepancies.csv"), stripped).unwrap();
    let mut s = summary_at(&old);
    s.as_object_mut().unwrap().remove("files");
    s.as_object_mut().unwrap().remove("baseline");
    std::fs::write(old.join("summary.json"), serde_json::to_string_pretty(&s).unwrap()).unwrap();
    let b = old.display().to_string();
    expect_code(&f.run(&["--as-of", DAY4, "--baseline", &b]), 0);
    let d = f.rows("discrepancies.csv");
    assert_eq!(
        (d[0].get("finding_id"), d[0].get("status"), d[0].get("first_seen")),
        (id.as_str(), "persisting", DAY1)
    );
}

#[test]
fn unusable_baselines_are_refused_with_what_to_do() {
    let f = Fixture::new();
    write_data(&f, "300.00", "299.00");
    let base = f.path().join("base");
    run_to(&f, &base, &["--as-of", DAY4]);
    let b = base.display().to_string();
    let refused = |extra: &[&str], want: &str| {
        let mut args = vec!["--baseline", b.as_str()];
        args.extend_from_slice(extra);
        let o = f.run(&args);
        expect_code(&o, 2);
        let e = stderr(&o);
        assert!(e.contains("--baseline") && e.contains(want), "{want}: {e}");
        assert!(!f.out().exists(), "nothing written");
    };
    // Later as_of than this run's.
    refused(&["--as-of", DAY1], "later than this run's as_of");
    // Another --account selection.
    refused(&["--as-of", DAY9, "--account", "A2"], "same --account selection");
    // Another policy.
    f.policy(&POLICY.replace("test-once-a-year", "renamed"));
    refused(&["--as-of", DAY9], "another policy");
    f.policy(POLICY);
    // An edited discrepancies.csv.
    let path = base.join("discrepancies.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("A2", "A3")).unwrap();
    refused(&["--as-of", DAY9], "not the one its run wrote");
    std::fs::write(&path, &text).unwrap();
    // A first_seen after the baseline's own as_of (summary.json's file
    // list dropped, so the edit is not caught by its hash).
    let mut sj = summary_at(&base);
    sj.as_object_mut().unwrap().remove("files");
    std::fs::write(base.join("summary.json"), serde_json::to_string_pretty(&sj).unwrap()).unwrap();
    let rows = rows_at(&base, "discrepancies.csv");
    let id = rows[0].get("finding_id");
    let edited = text.replace(&format!("{id},,,\n"), &format!("{id},new,{DAY9},0\n"));
    assert_ne!(edited, text);
    std::fs::write(&path, edited).unwrap();
    refused(&["--as-of", DAY9], "later than the baseline's own as_of");
    std::fs::write(&path, text).unwrap();
    // Not a reports folder at all.
    std::fs::remove_file(base.join("summary.json")).unwrap();
    refused(&["--as-of", DAY9], "summary.json");
    let missing = f.path().join("nowhere").display().to_string();
    let o = f.run(&["--baseline", &missing]);
    expect_code(&o, 2);
    assert!(stderr(&o).contains("nowhere"), "{}", stderr(&o));
}

fn sha256_hex(path: &Path) -> String {
    Sha256::digest(std::fs::read(path).unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn summary_lists_every_file_with_hash_and_rows() {
    let f = Fixture::new();
    write_data(&f, "300.00", "299.00");
    f.run(&[]);
    let s = summary_of(&f);
    let files = s["files"].as_array().unwrap();
    let mut on_disk: Vec<String> = std::fs::read_dir(f.out())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "summary.json")
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = files.iter().map(|x| x["name"].as_str().unwrap().to_string()).collect();
    listed.sort();
    assert_eq!(listed, on_disk, "every file but summary.json itself");
    for x in files {
        let name = x["name"].as_str().unwrap();
        let path = f.out().join(name);
        assert_eq!(x["sha256"], sha256_hex(&path), "{name}");
        assert_eq!(
            x["bytes"].as_u64(),
            Some(std::fs::metadata(&path).unwrap().len()),
            "{name}"
        );
        if name.ends_with(".csv") {
            assert_eq!(x["rows"].as_u64(), Some(f.rows(name).len() as u64), "{name}");
        }
    }
}

fn verify(f: &Fixture) -> std::process::Output {
    let o = std::process::Command::new(BIN)
        .current_dir(f.path())
        .arg("verify")
        .arg(f.out())
        .output()
        .unwrap();
    assert_no_panic(&o);
    o
}

#[test]
fn verify_names_each_file_that_differs() {
    let f = Fixture::new();
    write_data(&f, "300.00", "299.00");
    f.run(&[]);
    let o = verify(&f);
    expect_code(&o, 0);
    let text = stdout(&o);
    assert!(text.contains("verified"), "{text}");
    for name in [
        "discrepancies.csv",
        "refunds.csv",
        "explain.idx",
        "orders.csv",
        "policy.toml",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with("ok") && l.contains(name)),
            "{name}: {text}"
        );
    }
    // An extra file is shown, not a failure.
    std::fs::write(f.out().join("notes.txt"), "mine").unwrap();
    let o = verify(&f);
    expect_code(&o, 0);
    assert!(stdout(&o)
        .lines()
        .any(|l| l.starts_with("extra") && l.contains("notes.txt")));
    // An edited report, a deleted one and a changed input: each named.
    let refunds = f.out().join("refunds.csv");
    let text = std::fs::read_to_string(&refunds).unwrap();
    std::fs::write(&refunds, text.replace("299.00", "300.00")).unwrap();
    std::fs::remove_file(f.out().join("quota_usage.csv")).unwrap();
    let orders = std::fs::read_to_string(f.data().join("orders.csv")).unwrap();
    std::fs::write(f.data().join("orders.csv"), orders.replace("Prod", "prod")).unwrap();
    let o = verify(&f);
    expect_code(&o, 1);
    let text = stdout(&o);
    for (word, name) in [
        ("DIFFERS", "refunds.csv"),
        ("MISSING", "quota_usage.csv"),
        ("DIFFERS", "orders.csv"),
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(word) && l.contains(name)),
            "{word} {name}: {text}"
        );
    }
    assert!(text.contains("NOT VERIFIED: 3 files differ"), "{text}");
    // An input no longer at its path is skipped, not failed.
    std::fs::remove_file(f.data().join("orders.csv")).unwrap();
    let o = verify(&f);
    expect_code(&o, 1);
    let text = stdout(&o);
    assert!(text
        .lines()
        .any(|l| l.starts_with("skipped") && l.contains("orders.csv")));
    assert!(text.contains("NOT VERIFIED: 2 files differ"), "{text}");
    // No readable summary.json: exit 2.
    std::fs::write(f.out().join("summary.json"), "{").unwrap();
    expect_code(&verify(&f), 2);
}
