//! Output safety: a killed run leaves the previous reports intact, and a
//! second run on the same --out is refused with exit 4 while one holds it.
//! The tests that pause a run before publishing, or skew a control total,
//! need the binary's test switches: `cargo test --release --features
//! test-hooks` (CI runs both builds).

#[cfg(feature = "test-hooks")]
use std::process::Stdio;
#[cfg(feature = "test-hooks")]
use std::time::{Duration, Instant};

use crate::common::*;

const O1: &str = "O1,A1,i-1,Prod,edition,subscription,new,2021-09-01T10:00:00+08:00,2021-09-01T10:00:00+08:00,2022-09-01T10:00:00+08:00,300.00,0.00,USD,false,false";
const P1: &str = "P1,O1,A1,2021-09-01T10:00:00+08:00,300.00,USD,credit_card,succeeded";
const U1: &str = "U1,O1,A1,,2021-09-02T10:00:00+08:00,,2021-09-02T11:00:00+08:00,2021-09-03T10:00:00+08:00,normal,completed,unconditional,300.00,0.00,0.00,credit_card,2021-09";

/// Starts a run that pauses just before publishing its reports.
#[cfg(feature = "test-hooks")]
fn slow_run(f: &Fixture, pause_ms: u64) -> std::process::Child {
    f.run_command(&f.out())
        .env("REFUND_RECON_TEST_PAUSE_BEFORE_PUBLISH_MS", pause_ms.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Waits until the run's temporary folder is complete (summary.json is
/// written last).
#[cfg(feature = "test-hooks")]
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

#[cfg(feature = "test-hooks")]
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

#[cfg(feature = "test-hooks")]
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

/// Runs with an explicit --out (the fixture's `run` always uses reports/).
fn run_into(f: &Fixture, out: &std::path::Path) -> std::process::Output {
    f.run_command(out).output().unwrap()
}

#[test]
fn out_holding_a_foreign_file_or_folder_is_refused_and_untouched() {
    let f = Fixture::with(&[O1], &[P1], &[U1]);
    let out = f.path().join("docs");
    std::fs::create_dir_all(out.join("drafts")).unwrap();
    std::fs::write(out.join("budget.xlsx"), "precious").unwrap();
    std::fs::write(out.join("drafts/memo.txt"), "also precious").unwrap();
    let o = run_into(&f, &out);
    expect_code(&o, 4);
    let err = stderr(&o);
    assert!(err.contains(&out.display().to_string()), "{err}");
    assert!(err.contains("budget.xlsx") && err.contains("drafts"), "{err}");
    assert!(err.contains("choose a new --out folder"), "{err}");
    assert_eq!(std::fs::read_to_string(out.join("budget.xlsx")).unwrap(), "precious");
    assert_eq!(
        std::fs::read_to_string(out.join("drafts/memo.txt")).unwrap(),
        "also precious"
    );
    assert!(!out.join("summary.json").exists());
    // Only the subfolder left: still refused.
    std::fs::remove_file(out.join("budget.xlsx")).unwrap();
    expect_code(&run_into(&f, &out), 4);
    assert!(out.join("drafts/memo.txt").exists());
}

#[test]
fn foreign_out_is_refused_before_any_work() {
    // The inputs are missing (exit 3 if read), but the --out check comes first.
    let f = Fixture::new();
    let out = f.path().join("docs");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("notes.txt"), "x").unwrap();
    let o = run_into(&f, &out);
    expect_code(&o, 4);
    assert!(stderr(&o).contains("notes.txt"), "{}", stderr(&o));
}

#[test]
fn a_file_added_to_last_nights_reports_stops_the_rerun() {
    let f = Fixture::with(&[O1], &[P1], &[U1]);
    expect_code(&f.run(&[]), 0);
    std::fs::write(f.out().join("my-analysis.csv"), "keep me").unwrap();
    let o = f.run(&[]);
    expect_code(&o, 4);
    assert!(stderr(&o).contains("my-analysis.csv"), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(f.out().join("my-analysis.csv")).unwrap(),
        "keep me"
    );
}

#[test]
fn nightly_rerun_into_the_same_reports_folder_works() {
    let f = Fixture::with(&[O1], &[P1], &[U1]);
    std::fs::create_dir_all(f.out()).unwrap();
    std::fs::write(f.out().join(".gitkeep"), "").unwrap();
    for _ in 0..3 {
        expect_code(&f.run(&[]), 0);
        assert!(f.out().join("summary.json").exists());
        assert!(f.out().join(".gitkeep").exists());
    }
}

#[test]
fn symlinked_out_publishes_into_the_target_and_keeps_the_link() {
    let f = Fixture::with(&[O1], &[P1], &[U1]);
    let shared = f.path().join("shared/recon");
    std::fs::create_dir_all(&shared).unwrap();
    let link = f.path().join("latest");
    std::os::unix::fs::symlink(&shared, &link).unwrap();
    for _ in 0..2 {
        expect_code(&run_into(&f, &link), 0);
        assert!(
            std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(),
            "the link survives"
        );
        assert_eq!(std::fs::read_link(&link).unwrap(), shared);
        assert!(shared.join("summary.json").exists(), "the target holds the reports");
    }
    // Nothing but the link, the target's reports, and the lock beside the target.
    let beside_link: Vec<String> = std::fs::read_dir(f.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".latest"))
        .collect();
    assert!(beside_link.is_empty(), "{beside_link:?}");
}

#[cfg(feature = "test-hooks")]
#[test]
fn failed_control_totals_are_exit_5_and_publish_nothing() {
    let f = Fixture::with(&[O1], &[P1], &[U1]);
    expect_code(&f.run(&[]), 0);
    let before = std::fs::read(f.out().join("summary.json")).unwrap();
    for (which, needles) in [
        ("rows", &["rows read", "accepted", "rejected"][..]),
        (
            "bill",
            &["monthly_bill expected_refunds", "refunds.csv expected refunds"][..],
        ),
        ("findings", &["summary.json counts", "rows of discrepancies.csv"][..]),
    ] {
        let o = f
            .run_command(&f.out())
            .env("REFUND_RECON_TEST_SKEW_CONTROL_TOTAL", which)
            .output()
            .unwrap();
        expect_code(&o, 5);
        let err = stderr(&o);
        assert!(err.contains("control total failed"), "{which}: {err}");
        for n in needles {
            assert!(err.contains(n), "{which}: {err}");
        }
        assert_eq!(std::fs::read(f.out().join("summary.json")).unwrap(), before, "{which}");
    }
}

/// The binary users run (`cargo build --release`, no `test-hooks`) reads no
/// test switch: a skewed control total is not even looked at.
#[cfg(not(feature = "test-hooks"))]
#[test]
fn the_release_binary_reads_no_test_switch() {
    let f = Fixture::with(&[O1], &[P1], &[U1]);
    for which in ["rows", "bill", "findings"] {
        let o = f
            .run_command(&f.out())
            .env("REFUND_RECON_TEST_SKEW_CONTROL_TOTAL", which)
            .env("REFUND_RECON_TEST_PAUSE_BEFORE_PUBLISH_MS", "0")
            .output()
            .unwrap();
        expect_code(&o, 0);
    }
}
