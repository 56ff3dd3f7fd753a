//! Output safety: a killed run leaves the previous reports intact, and a
//! second run on the same --out is refused with exit 4 while one holds it.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

const O1: &str = "O1,A1,i-1,Prod,edition,subscription,new,2021-09-01T10:00:00+08:00,2021-09-01T10:00:00+08:00,2022-09-01T10:00:00+08:00,300.00,0.00,USD,false,false";
const P1: &str = "P1,O1,A1,2021-09-01T10:00:00+08:00,300.00,USD,credit_card,succeeded";
const U1: &str = "U1,O1,A1,,2021-09-02T10:00:00+08:00,,2021-09-02T11:00:00+08:00,2021-09-03T10:00:00+08:00,normal,completed,unconditional,300.00,0.00,0.00,credit_card,2021-09";

/// Starts a run that pauses just before publishing its reports.
fn slow_run(f: &Fixture, pause_ms: u64) -> std::process::Child {
    Command::new(BIN)
        .current_dir(f.path())
        .env("REFUND_RECON_TEST_PAUSE_BEFORE_PUBLISH_MS", pause_ms.to_string())
        .args(["run", "--data"])
        .arg(f.data())
        .arg("--policy")
        .arg(f.path().join("policy.toml"))
        .arg("--out")
        .arg(f.out())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Waits until the run's temporary folder is complete (summary.json is
/// written last).
fn wait_for_temp_reports(f: &Fixture) -> std::path::PathBuf {
    let start = Instant::now();
    loop {
        if let Some(tmp) = std::fs::read_dir(f.path())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.file_name().unwrap().to_str().unwrap().starts_with(".reports.tmp-") && p.join("summary.json").exists()
            })
        {
            return tmp;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the run never wrote its temporary reports"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn killed_run_leaves_previous_reports_intact() {
    let f = Fixture::with(&[O1], &[P1], &[U1]);
    expect_code(&f.run(&[]), 0);
    let before: Vec<(String, Vec<u8>)> = ["refunds.csv", "discrepancies.csv", "summary.json"]
        .iter()
        .map(|n| (n.to_string(), std::fs::read(f.out().join(n)).unwrap()))
        .collect();
    // New data with a finding, then kill the run once its reports are
    // complete but not yet published.
    f.file(
        "unsubscriptions.csv",
        &csv(UNSUBS_HEADER, &[&U1.replace("300.00,0.00,0.00", "310.00,0.00,0.00")]),
    );
    let mut child = slow_run(&f, 20_000);
    let tmp = wait_for_temp_reports(&f);
    child.kill().unwrap();
    child.wait().unwrap();
    for (name, bytes) in &before {
        assert_eq!(&std::fs::read(f.out().join(name)).unwrap(), bytes, "{name} changed");
    }
    // The next run cleans the leftover and publishes.
    expect_code(&f.run(&[]), 0);
    assert!(!tmp.exists(), "leftover temporary folder removed");
    assert!(f.report("discrepancies.csv").contains("REFUND_AMOUNT_MISMATCH"));
}

#[test]
fn concurrent_run_on_same_out_is_exit_4() {
    let f = Fixture::with(&[O1], &[P1], &[U1]);
    let mut first = slow_run(&f, 3_000);
    wait_for_temp_reports(&f);
    let second = f.run(&[]);
    expect_code(&second, 4);
    assert!(
        stderr(&second).contains("another refund-recon run"),
        "{}",
        stderr(&second)
    );
    assert!(first.wait().unwrap().success());
    // Once the first is done the lock is free again.
    expect_code(&f.run(&[]), 0);
}

#[test]
fn unwritable_out_is_exit_4() {
    let f = Fixture::with(&[O1], &[P1], &[U1]);
    std::fs::write(f.out(), "a file, not a folder").unwrap();
    let out = f.run(&[]);
    expect_code(&out, 4);
    assert!(stderr(&out).contains("not a folder"), "{}", stderr(&out));
}
