//! Faults while writing the reports (docs/design.md "Output safety"; exit 4 in
//! docs/cli.md#exit-codes): a full disk, an output folder that cannot be
//! written, a run killed at any moment. Each must leave the previous
//! reports whole, exit 4 with a message that says what to do, and leave
//! nothing behind for the next run.
//!
//! A second run while the first holds the lock (exit 4) is
//! `test_output::concurrent_run_on_same_out_is_exit_4`.
//!
//! The disk-full and read-only cases need a tmpfs mount (root); elsewhere
//! they print a skip message and pass.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Instant;

use crate::common::*;

const O1: &str = "O1,A1,i-1,Prod,edition,subscription,new,2021-09-01T10:00:00+08:00,2021-09-01T10:00:00+08:00,2022-09-01T10:00:00+08:00,300.00,0.00,USD,false,false";
const P1: &str = "P1,O1,A1,2021-09-01T10:00:00+08:00,300.00,USD,credit_card,succeeded";
const U1: &str = "U1,O1,A1,,2021-09-02T10:00:00+08:00,,2021-09-02T11:00:00+08:00,2021-09-03T10:00:00+08:00,normal,completed,unconditional,300.00,0.00,0.00,credit_card,2021-09";

/// A tmpfs mounted for the life of the value (unmounted on drop, also when
/// the test fails).
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` at `dir`, or None (with a skip message) when
    /// this process may not mount.
    fn mount(dir: &Path, size: &str, test: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("SKIP {test}: needs root to mount a tmpfs");
            return None;
        }
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("SKIP {test}: `mount -t tmpfs` is not allowed here");
            return None;
        }
        Some(Tmpfs { dir: dir.to_path_buf() })
    }

    fn remount(&self, mode: &str) -> bool {
        Command::new("mount")
            .args(["-o", &format!("remount,{mode}")])
            .arg(&self.dir)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.dir).status();
    }
}

/// Runs `run` on the fixture's data with another --out.
fn run_to(f: &Fixture, data: &Path, out: &Path, env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(BIN);
    c.current_dir(f.path())
        .args(["run", "--data"])
        .arg(data)
        .arg("--policy")
        .arg(f.path().join("policy.toml"))
        .arg("--out")
        .arg(out);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn spawn_to(f: &Fixture, data: &Path, out: &Path, env: &[(&str, &str)]) -> std::process::Child {
    let mut c = Command::new(BIN);
    c.current_dir(f.path())
        .args(["run", "--data"])
        .arg(data)
        .arg("--policy")
        .arg(f.path().join("policy.toml"))
        .arg("--out")
        .arg(out)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    c.spawn().unwrap()
}

/// The reports in `out`, byte for byte.
fn files(out: &Path) -> Vec<(String, Vec<u8>)> {
    refund_recon::report::FILES
        .iter()
        .map(|n| {
            let bytes = std::fs::read(out.join(n)).unwrap_or_else(|e| panic!("{}: {e}", out.join(n).display()));
            (n.to_string(), bytes)
        })
        .collect()
}

/// The reports with summary.json's volatile fields removed.
fn snapshot(out: &Path) -> Vec<(String, String)> {
    report_snapshot(out, false)
}

/// Names beside `out` left by a run: `.<name>.tmp-*` or `.<name>.old-*`.
fn leftovers(out: &Path) -> Vec<String> {
    let name = out.file_name().unwrap().to_str().unwrap();
    let prefixes = [format!(".{name}.tmp-"), format!(".{name}.old-")];
    std::fs::read_dir(out.parent().unwrap())
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| prefixes.iter().any(|p| n.starts_with(p.as_str())))
        .collect()
}

/// Writes a generated data set of `orders` orders into `dir`.
fn generate(dir: &Path, orders: u32) {
    let out = Command::new(BIN)
        .args(["generate", "--orders", &orders.to_string(), "--seed", "11", "--out"])
        .arg(dir)
        .output()
        .unwrap();
    expect_code(&out, 0);
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
        .sum()
}

#[test]
fn disk_full_is_exit_4_and_keeps_the_previous_reports() {
    let f = Fixture::with(&[O1], &[P1], &[U1]);
    // Room for two folders of a small run's reports (each file takes at
    // least a 4 KiB page), not for a big run's.
    let Some(fs) = Tmpfs::mount(&f.path().join("small-disk"), "128k", "disk_full") else {
        return;
    };
    let out = fs.dir.join("reports");
    // A small run fits.
    let o = run_to(&f, &f.data(), &out, &[]);
    assert_no_panic(&o);
    expect_code(&o, 0);
    let before = files(&out);
    let before_snap = snapshot(&out);
    // 20,000 orders give megabytes of reports: the disk fills up.
    let big = f.path().join("big");
    generate(&big, 20_000);
    let o = run_to(&f, &big, &out, &[]);
    assert_no_panic(&o);
    expect_code(&o, 4);
    let err = stderr(&o);
    assert!(
        err.contains("cannot write") && err.contains("space"),
        "the message says the reports could not be written and why: {err}"
    );
    assert!(err.contains(&fs.dir.display().to_string()), "names the place: {err}");
    assert_eq!(files(&out), before, "the previous reports are intact");
    assert!(
        leftovers(&out).is_empty(),
        "a failed run cleans up: {:?}",
        leftovers(&out)
    );
    // The space is free again: the next small run succeeds and leaves
    // nothing behind.
    let o = run_to(&f, &f.data(), &out, &[]);
    expect_code(&o, 0);
    assert!(leftovers(&out).is_empty(), "{:?}", leftovers(&out));
    assert_eq!(snapshot(&out), before_snap, "the same reports as the first small run");
    assert!(dir_bytes(&out) < 64 * 1024);
}

#[test]
fn disk_too_small_for_any_report_leaves_no_folder_behind() {
    // So little space that even the first small run cannot write: exit 4,
    // no reports folder, no temporary folder.
    let f = Fixture::with(&[O1], &[P1], &[U1]);
    let Some(fs) = Tmpfs::mount(&f.path().join("tiny-disk"), "4k", "disk_full_tiny") else {
        return;
    };
    let out = fs.dir.join("reports");
    let o = run_to(&f, &f.data(), &out, &[]);
    assert_no_panic(&o);
    expect_code(&o, 4);
    assert!(stderr(&o).contains("cannot"), "{}", stderr(&o));
    assert!(!out.exists(), "no half-written reports folder");
    assert!(leftovers(&out).is_empty(), "{:?}", leftovers(&out));
}

#[test]
fn out_whose_parent_is_a_file_is_exit_4() {
    let f = Fixture::with(&[O1], &[P1], &[U1]);
    let file = f.path().join("a-file");
    std::fs::write(&file, "not a folder").unwrap();
    let out = file.join("reports");
    let o = run_to(&f, &f.data(), &out, &[]);
    assert_no_panic(&o);
    expect_code(&o, 4);
    let err = stderr(&o);
    assert!(err.contains(&file.display().to_string()), "names the folder: {err}");
    assert!(err.contains("--out"), "names the option: {err}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "not a folder");
}

#[test]
fn read_only_out_is_exit_4_and_keeps_the_previous_reports() {
    let f = Fixture::with(&[O1], &[P1], &[U1]);
    let Some(fs) = Tmpfs::mount(&f.path().join("ro-disk"), "1m", "read_only_out") else {
        return;
    };
    let out = fs.dir.join("reports");
    expect_code(&run_to(&f, &f.data(), &out, &[]), 0);
    let before = files(&out);
    if !fs.remount("ro") {
        eprintln!("SKIP read_only_out: cannot remount read-only");
        return;
    }
    let o = run_to(&f, &f.data(), &out, &[]);
    assert_no_panic(&o);
    expect_code(&o, 4);
    let err = stderr(&o);
    assert!(err.contains(&fs.dir.display().to_string()), "names the folder: {err}");
    assert!(err.to_lowercase().contains("read-only"), "says why: {err}");
    assert_eq!(files(&out), before);
    // A fresh --out on the read-only disk: exit 4 too.
    let o = run_to(&f, &f.data(), &fs.dir.join("new-reports"), &[]);
    assert_no_panic(&o);
    expect_code(&o, 4);
    assert!(fs.remount("rw"));
    expect_code(&run_to(&f, &f.data(), &out, &[]), 0);
    assert!(leftovers(&out).is_empty(), "{:?}", leftovers(&out));
}

/// Extends `test_output::killed_run_leaves_previous_reports_intact`: after
/// a SIGKILL just before publishing, the previous reports are intact, and
/// the next run succeeds and leaves no temporary folder at all.
#[cfg(feature = "test-hooks")]
#[test]
fn killed_before_publish_then_next_run_cleans_up() {
    let f = Fixture::with(&[O1], &[P1], &[U1]);
    expect_code(&f.run(&[]), 0);
    let before = files(&f.out());
    f.file(
        "unsubscriptions.csv",
        &csv(UNSUBS_HEADER, &[&U1.replace("300.00,0.00,0.00", "310.00,0.00,0.00")]),
    );
    let mut child = spawn_to(
        &f,
        &f.data(),
        &f.out(),
        &[("REFUND_RECON_TEST_PAUSE_BEFORE_PUBLISH_MS", "20000")],
    );
    let start = Instant::now();
    while !leftovers(&f.out())
        .iter()
        .any(|n| f.path().join(n).join("summary.json").exists())
    {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(60),
            "the run never wrote its temporary reports"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert_eq!(files(&f.out()), before, "the previous reports are intact");
    assert_eq!(
        leftovers(&f.out()).len(),
        1,
        "the killed run's folder is there until the next run"
    );
    let o = f.run(&[]);
    expect_code(&o, 0);
    assert!(
        leftovers(&f.out()).is_empty(),
        "no temporary folder after the next run: {:?}",
        leftovers(&f.out())
    );
    assert!(
        f.report("discrepancies.csv").contains("REFUND_AMOUNT_MISMATCH"),
        "the new reports"
    );
    // Only the reports, the lock and the data beside --out.
    let mut names: Vec<String> = std::fs::read_dir(f.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, [".reports.lock", "data", "policy.toml", "reports"]);
}

/// SIGKILL at many moments of a run on 20,000 orders (reading, evaluating,
/// writing, publishing): the reports are always either all the previous ones
/// or all the new ones, never a mix; the next run cleans up.
#[test]
fn killed_at_any_moment_leaves_old_or_new_reports_whole() {
    let f = Fixture::with(&[O1], &[P1], &[U1]);
    let big = f.path().join("big");
    generate(&big, 20_000);
    // The new reports, from an undisturbed run elsewhere.
    let reference = f.path().join("reference");
    let t = Instant::now();
    expect_code(&run_to(&f, &big, &reference, &[]), 0);
    let full = t.elapsed();
    let new = snapshot(&reference);
    let old_out = f.path().join("old-reference");
    expect_code(&run_to(&f, &f.data(), &old_out, &[]), 0);
    let old = snapshot(&old_out);
    let out = f.out();
    let (mut saw_old, mut saw_new) = (0, 0);
    let steps = 12;
    for i in 0..steps {
        // The small run restores the previous reports.
        expect_code(&run_to(&f, &f.data(), &out, &[]), 0);
        assert_eq!(snapshot(&out), old);
        let delay = full.mul_f64(1.3 * f64::from(i) / f64::from(steps));
        let mut child = spawn_to(&f, &big, &out, &[]);
        std::thread::sleep(delay);
        let _ = child.kill();
        child.wait().unwrap();
        let now = snapshot(&out);
        if now == old {
            saw_old += 1;
        } else if now == new {
            saw_new += 1;
        } else {
            let mixed: Vec<&str> = now
                .iter()
                .zip(&new)
                .filter(|(a, b)| a != b)
                .map(|(a, _)| a.0.as_str())
                .collect();
            panic!(
                "killed after {delay:?}: the reports are neither the old nor the new ones (differ from new: {mixed:?})"
            );
        }
    }
    eprintln!("kill test: full run {full:?}; {saw_old} kills left the old reports, {saw_new} the new");
    assert!(saw_old > 0, "at least one kill came before publishing");
    let o = run_to(&f, &big, &out, &[]);
    expect_code(&o, 0);
    assert_eq!(snapshot(&out), new);
    assert!(leftovers(&out).is_empty(), "{:?}", leftovers(&out));
}

/// --out pointing at the folder that holds the inputs would replace the
/// exports with the reports: the run must refuse, and the inputs survive.
#[test]
fn out_equal_to_the_data_folder_is_refused() {
    let f = Fixture::with(&[O1], &[P1], &[U1]);
    let before: Vec<Vec<u8>> = ["orders.csv", "payments.csv", "unsubscriptions.csv"]
        .iter()
        .map(|n| std::fs::read(f.data().join(n)).unwrap())
        .collect();
    let o = run_to(&f, &f.data(), &f.data(), &[]);
    assert_no_panic(&o);
    let survived = ["orders.csv", "payments.csv", "unsubscriptions.csv"]
        .iter()
        .map(|n| std::fs::read(f.data().join(n)).ok())
        .collect::<Vec<_>>();
    assert!(
        survived.iter().zip(&before).all(|(a, b)| a.as_ref() == Some(b)),
        "--out = --data destroyed the inputs (exit {}): {:?}",
        code(&o),
        std::fs::read_dir(f.data())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect::<Vec<_>>()
    );
    assert_ne!(code(&o), 0, "--out = --data is refused");
    assert!(stderr(&o).contains("--out"), "{}", stderr(&o));
}

/// --out pointing at a folder that contains the inputs (the work folder)
/// would delete all of it; the run must refuse.
#[test]
fn out_containing_the_inputs_is_refused() {
    let f = Fixture::with(&[O1], &[P1], &[U1]);
    let o = run_to(&f, &f.data(), f.path(), &[]);
    assert_no_panic(&o);
    let intact = f.data().join("orders.csv").exists() && f.path().join("policy.toml").exists();
    assert!(
        intact,
        "--out = the folder above --data destroyed it (exit {})",
        code(&o)
    );
    assert_ne!(code(&o), 0, "refused");
}
