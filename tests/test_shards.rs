//! Past one machine (docs/scale.md): partition, run each shard, merge —
//! the merged folder equals a run in one piece, byte for byte; a shard
//! rerun writes the same bytes; merge refuses a missing, doubled or stale
//! shard.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::BIN;

fn refund_recon(args: &[&str], paths: &[&Path]) -> Output {
    Command::new(BIN)
        .current_dir(std::env::temp_dir())
        .args(args)
        .args(paths)
        .output()
        .expect("run refund-recon")
}

fn ok(o: Output) -> Output {
    assert!(
        o.status.code().is_some_and(|c| c <= 1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// Rows of a CSV as records (flexible: malformed rows too).
fn records(path: &Path) -> (csv::StringRecord, Vec<csv::StringRecord>) {
    let mut r = csv::ReaderBuilder::new().flexible(true).from_path(path).unwrap();
    let header = r.headers().unwrap().clone();
    (header, r.records().map(Result::unwrap).collect())
}

fn append(path: &Path, rows: &[Vec<String>]) {
    let mut text = std::fs::read_to_string(path).unwrap();
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in rows {
        w.write_record(r).unwrap();
    }
    text.push_str(&String::from_utf8(w.into_inner().unwrap()).unwrap());
    std::fs::write(path, text).unwrap();
}

/// A generated export with what crosses accounts: payments and
/// unsubscriptions of another account's order, of an unknown order, a
/// batch spanning accounts, malformed rows, and orders in two files that
/// overlap (duplicate ids across files) unless `one_file`.
fn export(dir: &Path, one_file: bool) -> PathBuf {
    let data = dir.join("data");
    ok(refund_recon(
        &[
            "generate",
            "--orders",
            "3000",
            "--seed",
            "11",
            "--malformed-rate",
            "0.01",
            "--out",
        ],
        &[&data],
    ));
    // A baseline: the export before the rows below were added.
    ok(refund_recon(
        &["run", "--data"],
        &[&data, Path::new("--out"), &dir.join("baseline")],
    ));
    let (uh, unsubs) = records(&data.join("unsubscriptions.csv"));
    let (ph, payments) = records(&data.join("payments.csv"));
    let col = |h: &csv::StringRecord, n: &str| h.iter().position(|c| c == n).unwrap();
    let (u_id, u_order, u_acct, u_batch) = (
        col(&uh, "unsub_id"),
        col(&uh, "order_id"),
        col(&uh, "account_id"),
        col(&uh, "batch_id"),
    );
    let (p_id, p_order, p_acct) = (col(&ph, "payment_id"), col(&ph, "order_id"), col(&ph, "account_id"));
    let good: Vec<&csv::StringRecord> = unsubs.iter().filter(|r| r.len() == uh.len()).collect();
    let other = |acct: &str| good.iter().map(|r| r[u_acct].to_string()).find(|a| a != acct).unwrap();
    let mut new_unsubs = Vec::new();
    for (i, r) in good.iter().step_by(97).take(12).enumerate() {
        let mut row: Vec<String> = r.iter().map(str::to_string).collect();
        row[u_id] = format!("X-U{i}");
        match i % 3 {
            0 => row[u_acct] = other(&r[u_acct]),
            1 => row[u_order] = format!("no-such-order-{i}"),
            _ => row[u_batch] = "X-BATCH".into(),
        }
        new_unsubs.push(row);
    }
    append(&data.join("unsubscriptions.csv"), &new_unsubs);
    let mut new_payments = Vec::new();
    for (i, r) in payments
        .iter()
        .filter(|r| r.len() == ph.len())
        .step_by(211)
        .take(8)
        .enumerate()
    {
        let mut row: Vec<String> = r.iter().map(str::to_string).collect();
        row[p_id] = format!("X-P{i}");
        if i % 2 == 0 {
            row[p_acct] = other(&r[p_acct]);
        } else {
            row[p_order] = format!("no-such-order-p{i}");
        }
        new_payments.push(row);
    }
    append(&data.join("payments.csv"), &new_payments);
    if one_file {
        return data;
    }
    // Orders in two files that overlap by 50 lines.
    let text = std::fs::read_to_string(data.join("orders.csv")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let half = lines.len() / 2;
    let folder = data.join("orders");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(folder.join("1.csv"), lines[..half].join("\n") + "\n").unwrap();
    let second: Vec<&str> = std::iter::once(lines[0])
        .chain(lines[half - 50..].iter().copied())
        .collect();
    std::fs::write(folder.join("2.csv"), second.join("\n") + "\n").unwrap();
    std::fs::remove_file(data.join("orders.csv")).unwrap();
    data
}

/// summary.json without what may differ: timings, the start, the file
/// list (explain.idx may differ), the shards.
fn summary(dir: &Path) -> serde_json::Value {
    let mut s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    for k in ["elapsed_seconds", "started_at", "files", "shards"] {
        s.as_object_mut().unwrap().remove(k);
    }
    s
}

fn assert_same(one: &Path, merged: &Path) {
    let mut names: Vec<String> = std::fs::read_dir(one)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "summary.json" && n != "explain.idx")
        .collect();
    names.sort();
    assert!(names.len() >= 7, "{names:?}");
    for n in &names {
        let (a, b) = (
            std::fs::read(one.join(n)).unwrap(),
            std::fs::read(merged.join(n)).unwrap_or_default(),
        );
        assert!(a == b, "{n} differs between one run and the merged shards");
    }
    assert_eq!(summary(one), summary(merged));
    // Every file the merged summary lists is there and verifies.
    let v = refund_recon(&["verify"], &[merged]);
    assert_eq!(v.status.code(), Some(0), "{}", String::from_utf8_lossy(&v.stdout));
}

/// The test export in `dir` (orders in two files) and a run of it in one
/// piece with `cmd` into `dir/one`: the data folder, the orders folder,
/// the reports folder and the run's output.
fn export_and_one_run(dir: &Path, cmd: &[&str]) -> (PathBuf, PathBuf, PathBuf, Output) {
    let data = export(dir, false);
    let orders = data.join("orders");
    let one = dir.join("one");
    let args: [&Path; 6] = [
        Path::new("--data"),
        &data,
        Path::new("--orders"),
        &orders,
        Path::new("--out"),
        &one,
    ];
    let run = ok(refund_recon(cmd, &args));
    (data, orders, one, run)
}

#[test]
fn merged_shards_equal_one_run_for_1_2_and_7_shards() {
    let dir = tempfile::tempdir().unwrap();
    let (data, orders, one, single) = export_and_one_run(dir.path(), &["run", "--format", "csv,focus,parquet"]);
    let inputs: [&Path; 4] = [Path::new("--data"), &data, Path::new("--orders"), &orders];
    let s = summary(&one);
    for code in ["ACCOUNT_MISMATCH", "ORDER_NOT_FOUND", "ORPHAN_PAYMENT"] {
        assert!(
            s["findings"]["by_code"][code].as_u64() > Some(0),
            "the export has {code}"
        );
    }
    assert!(
        s["inputs"][0]["rejected"].as_u64() >= Some(50),
        "duplicates across the order files"
    );
    for n in ["1", "2", "7"] {
        let merged = dir.path().join(format!("merged-{n}"));
        let mut args = inputs.to_vec();
        args.extend([Path::new("--out"), &merged]);
        let o = ok(refund_recon(
            &["run", "--format", "csv,focus,parquet", "--shards", n, "--jobs", "2"],
            &args,
        ));
        assert_eq!(o.status.code(), single.status.code());
        assert_same(&one, &merged);
        assert!(
            !dir.path().join(format!("merged-{n}.work")).exists(),
            "the work folder is removed"
        );
    }
    // --baseline applied by the merge: each finding's standing, resolved.csv.
    let baseline = dir.path().join("baseline");
    let (one, merged) = (dir.path().join("one-b"), dir.path().join("merged-b"));
    for (out, shards) in [(&one, None), (&merged, Some("3"))] {
        let mut args = inputs.to_vec();
        args.extend([Path::new("--baseline"), &baseline, Path::new("--out"), out]);
        let mut flags = vec!["run", "--format", "csv,parquet"];
        if let Some(n) = shards {
            flags.extend(["--shards", n]);
        }
        ok(refund_recon(&flags, &args));
    }
    assert_same(&one, &merged);
    let s = summary(&merged);
    assert!(
        s["baseline"]["new"].as_u64() > Some(0) && s["baseline"]["persisting"].as_u64() > Some(0),
        "{s}"
    );
    // A baseline of other findings (another export, an earlier as_of),
    // accounts of its own among them: merge reads it an account at a time
    // and resolves what is gone, as the run does.
    let (other, base2) = (dir.path().join("other"), dir.path().join("base2"));
    ok(refund_recon(
        &["generate", "--orders", "3000", "--seed", "12", "--out"],
        &[&other],
    ));
    ok(refund_recon(
        &["run", "--as-of", "2021-01-01T00:00:00Z", "--data"],
        &[&other, Path::new("--out"), &base2],
    ));
    let (one, merged) = (dir.path().join("one-c"), dir.path().join("merged-c"));
    for (out, shards) in [(&one, "1"), (&merged, "2")] {
        let mut args = inputs.to_vec();
        args.extend([Path::new("--baseline"), &base2, Path::new("--out"), out]);
        let flags = if out == &one {
            vec!["run"]
        } else {
            vec!["run", "--shards", shards]
        };
        ok(refund_recon(&flags, &args));
    }
    assert_same(&one, &merged);
    assert!(summary(&merged)["baseline"]["resolved"].as_u64() > Some(5));
    // A baseline not in account order (edited, its summary's hashes
    // removed) is refused by merge, which reads it in order (exit 2).
    let base3 = dir.path().join("base3");
    copy_dir(&base2, &base3);
    let text = std::fs::read_to_string(base3.join("discrepancies.csv")).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines[1..].reverse();
    std::fs::write(base3.join("discrepancies.csv"), lines.join("\n") + "\n").unwrap();
    let mut sj: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(base3.join("summary.json")).unwrap()).unwrap();
    sj.as_object_mut().unwrap().remove("files");
    std::fs::write(base3.join("summary.json"), sj.to_string()).unwrap();
    let mut args = inputs.to_vec();
    let refused = dir.path().join("refused");
    args.extend([Path::new("--baseline"), &base3, Path::new("--out"), &refused]);
    let o = refund_recon(&["run", "--shards", "2"], &args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("not in account order"), "{err}");
    assert!(!refused.exists());
}

/// `explain ID --reports` on the merged folder answers as on a run in one
/// piece, for every kind of subject: unsubscriptions (also those of
/// another account's order, of an unknown order, in a batch spanning
/// accounts), orders, accounts, and an id the export does not have.
#[test]
fn explain_reports_on_merged_shards_answers_as_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let data = export(dir.path(), true);
    let one = dir.path().join("one");
    ok(refund_recon(&["run", "--data"], &[&data, Path::new("--out"), &one]));
    let (uh, unsubs) = records(&data.join("unsubscriptions.csv"));
    let (oh, orders) = records(&data.join("orders.csv"));
    let at = |h: &csv::StringRecord, n: &str| h.iter().position(|c| c == n).unwrap();
    let mut ids: Vec<String> = (0..12).map(|i| format!("X-U{i}")).collect();
    let good =
        |rs: &[csv::StringRecord], n: usize| rs.iter().filter(move |r| r.len() == n).cloned().collect::<Vec<_>>();
    let u = good(&unsubs, uh.len());
    ids.extend(u.iter().step_by(53).map(|r| r[at(&uh, "unsub_id")].to_string()));
    ids.extend(u.iter().step_by(131).map(|r| r[at(&uh, "account_id")].to_string()));
    ids.extend(
        good(&orders, oh.len())
            .iter()
            .step_by(149)
            .map(|r| r[at(&oh, "order_id")].to_string()),
    );
    ids.push("no-such-id".into());
    let answer = |reports: &Path, id: &str, json: bool| {
        let mut args = vec!["explain", id];
        if json {
            args.push("--json");
        }
        let o = refund_recon(&args, &[Path::new("--reports"), reports]);
        (o.status.code(), o.stdout)
    };
    for n in ["1", "2", "7"] {
        let merged = dir.path().join(format!("merged-{n}"));
        ok(refund_recon(
            &["run", "--shards", n, "--data"],
            &[&data, Path::new("--out"), &merged],
        ));
        assert_same(&one, &merged);
        assert!(merged.join("explain.idx").exists(), "the merge writes an explain index");
        let mut explained = 0;
        for id in &ids {
            for json in [false, true] {
                let (a, b) = (answer(&one, id, json), answer(&merged, id, json));
                assert_eq!(a.0, b.0, "{id}: exit status, {n} shards");
                assert!(
                    a.1 == b.1,
                    "{id} with {n} shards:\n{}\n---\n{}",
                    String::from_utf8_lossy(&a.1),
                    String::from_utf8_lossy(&b.1)
                );
                explained += usize::from(a.0 == Some(0) && !a.1.is_empty());
            }
        }
        // Some copied rows are rejected (the export has malformed values),
        // and the last id is none: both folders say so, with exit 2.
        assert!(
            explained >= 3 * ids.len() / 2,
            "{explained} answers of {}",
            2 * ids.len()
        );
    }
}

/// A shard whose rows are more than --memory-limit is refused (exit 3)
/// before it is read, naming the account that no number of shards can
/// split, or the shard count that would fit; `run --shards` checks every
/// shard against its share of the limit before the first runs.
#[test]
fn a_shard_over_the_memory_limit_is_refused_naming_its_largest_account() {
    let dir = tempfile::tempdir().unwrap();
    let data = export(dir.path(), true);
    let work = dir.path().join("work");
    ok(refund_recon(
        &["partition", "--shards", "2", "--data"],
        &[&data, Path::new("--work"), &work],
    ));
    let shard = |limit: &str| refund_recon(&["run", "--shard", "0", "--memory-limit", limit, "--work"], &[&work]);
    let o = shard("1");
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(
        err.contains("shard 0 holds") && err.contains("no number of shards splits"),
        "{err}"
    );
    let account = err.split("account ").nth(1).unwrap().split(' ').next().unwrap();
    let (h, rows) = records(&work.join("shard-00000").join("orders.csv"));
    let col = h.iter().position(|c| c == "account_id").unwrap();
    assert!(rows.iter().any(|r| &r[col] == account), "{account} is in shard 0");
    // Above the largest account, below the shard: more shards would do.
    let bytes: u64 = ["orders.csv", "payments.csv", "unsubscriptions.csv"]
        .iter()
        .map(|n| std::fs::metadata(work.join("shard-00000").join(n)).unwrap().len())
        .sum();
    let o = shard(&(bytes / 2).to_string());
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(
        err.contains("partition again with more shards (about --shards 5)"),
        "{err}"
    );
    ok(shard(&bytes.to_string()));
    // run --shards: each of 2 jobs gets half the limit; refused before any
    // shard runs.
    let out = dir.path().join("out");
    let o = refund_recon(
        &[
            "run",
            "--shards",
            "2",
            "--jobs",
            "2",
            "--keep-work",
            "--memory-limit",
            &bytes.to_string(),
            "--data",
        ],
        &[&data, Path::new("--out"), &out],
    );
    assert_eq!(o.status.code(), Some(3), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!dir.path().join("out.work/shard-00000/reports").exists() && !out.exists());
}

/// Map tasks (`partition --part I/M`), each over a share of the files,
/// one settle, the copies, the shards, the merge: the reports of one run
/// — with duplicate ids across two files that fall in different parts.
/// Steps out of order are refused (exit 3, naming what to run), and a copy
/// rerun writes the same bytes.
#[test]
fn map_tasks_over_parts_of_the_files_merge_to_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let (data, orders, one, _) = export_and_one_run(dir.path(), &["run"]);
    let inputs: [&Path; 4] = [Path::new("--data"), &data, Path::new("--orders"), &orders];
    for m in [2u32, 4] {
        let work = dir.path().join(format!("work-{m}"));
        let mut work_args = inputs.to_vec();
        work_args.extend([Path::new("--work"), &work]);
        let read = |i: u32| {
            refund_recon(
                &["partition", "--shards", "3", "--part", &format!("{i}/{m}")],
                &work_args,
            )
        };
        for i in 0..m - 1 {
            ok(read(i));
        }
        let settle = || refund_recon(&["partition", "--shards", "3", "--settle"], &work_args);
        let o = settle();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(3), "{err}");
        assert!(err.contains(&format!("part {} has not been read", m - 1)), "{err}");
        ok(read(m - 1));
        ok(settle());
        let copy = |i: u32| {
            refund_recon(
                &[
                    "partition",
                    "--shards",
                    "3",
                    "--copy",
                    "--part",
                    &format!("{i}/{m}"),
                    "--work",
                ],
                &[&work],
            )
        };
        for i in 0..m - 1 {
            ok(copy(i));
        }
        let o = refund_recon(&["run", "--shard", "0", "--work"], &[&work]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(3), "{err}");
        assert!(err.contains("has not been copied"), "{err}");
        ok(copy(m - 1));
        let before = tree(&work.join("shard-00001"));
        ok(copy(0));
        assert!(
            tree(&work.join("shard-00001")) == before,
            "a copy rerun writes the same bytes"
        );
        for k in ["0", "1", "2"] {
            ok(refund_recon(&["run", "--shard", k, "--work"], &[&work]));
        }
        let merged = dir.path().join(format!("merged-{m}"));
        ok(refund_recon(
            &["merge", "--work"],
            &[&work, Path::new("--out"), &merged],
        ));
        assert_same(&one, &merged);
    }
    // One file per input: the merged folder answers explain --reports.
    let single = dir.path().join("single");
    let first = orders.join("1.csv");
    let inputs: [&Path; 4] = [Path::new("--data"), &data, Path::new("--orders"), &first];
    let mut args = inputs.to_vec();
    args.extend([Path::new("--out"), &single]);
    ok(refund_recon(&["run"], &args));
    let work = dir.path().join("work-single");
    let mut args = inputs.to_vec();
    args.extend([Path::new("--work"), &work]);
    // `--part 3`: each task's index from the scheduler's variable.
    let task = |i: &str, args: &[&str], paths: &[&Path]| {
        ok(Command::new(BIN)
            .current_dir(std::env::temp_dir())
            .args(args)
            .args(paths)
            .env("JOB_COMPLETION_INDEX", i)
            .output()
            .unwrap());
    };
    for i in ["0", "1", "2"] {
        task(i, &["partition", "--shards", "2", "--part", "3"], &args);
    }
    ok(refund_recon(&["partition", "--shards", "2", "--settle"], &args));
    for i in ["0", "1", "2"] {
        task(
            i,
            &["partition", "--shards", "2", "--copy", "--part", "3", "--work"],
            &[&work],
        );
    }
    for k in ["0", "1"] {
        ok(refund_recon(&["run", "--shard", k, "--work"], &[&work]));
    }
    let merged = dir.path().join("merged-single");
    ok(refund_recon(
        &["merge", "--work"],
        &[&work, Path::new("--out"), &merged],
    ));
    assert_same(&single, &merged);
    let (uh, unsubs) = records(&data.join("unsubscriptions.csv"));
    let at = uh.iter().position(|c| c == "unsub_id").unwrap();
    for r in unsubs.iter().filter(|r| r.len() == uh.len()).step_by(61) {
        let ask = |reports: &Path| refund_recon(&["explain", &r[at]], &[Path::new("--reports"), reports]);
        let (a, b) = (ask(&single), ask(&merged));
        assert_eq!((a.status.code(), &a.stdout), (b.status.code(), &b.stdout), "{}", &r[at]);
    }
}

#[test]
fn scheduler_steps_with_an_account_selection_rerun_and_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let data = export(dir.path(), false);
    let (_, unsubs) = records(&data.join("unsubscriptions.csv"));
    let accounts: Vec<String> = unsubs.iter().step_by(40).map(|r| r[2].to_string()).collect();
    let mut select: Vec<&str> = Vec::new();
    for a in &accounts {
        select.extend(["--account", a.as_str()]);
    }
    let orders = data.join("orders");
    // The exports' options, then one more flag and its folder.
    let with = |flag: &'static str, dir: &Path| -> Vec<PathBuf> {
        [
            Path::new("--data"),
            &data,
            Path::new("--orders"),
            &orders,
            Path::new(flag),
            dir,
        ]
        .iter()
        .map(|p| p.to_path_buf())
        .collect()
    };

    let one = dir.path().join("one");
    let mut run = vec!["run"];
    run.extend(&select);
    ok(refund_recon(&run, &paths(&with("--out", &one))));

    let work = dir.path().join("work");
    let mut part = vec!["partition", "--shards", "3"];
    part.extend(&select);
    let part_args = with("--work", &work);
    ok(refund_recon(&part, &paths(&part_args)));
    let merge = |out: &Path| refund_recon(&["merge", "--keep-work", "--work"], &[&work, Path::new("--out"), out]);
    // A missing shard: exit 3, naming it.
    for k in ["0", "1"] {
        ok(refund_recon(&["run", "--shard", k, "--work"], &[&work]));
    }
    let o = merge(&dir.path().join("x"));
    assert_eq!(o.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&o.stderr).contains("shard 2 has no reports"));
    // The index from the scheduler's variable; a rerun writes the same bytes.
    let task = |var: &str| {
        Command::new(BIN)
            .args(["run", "--work"])
            .arg(&work)
            .env(var, "2")
            .output()
            .unwrap()
    };
    ok(task("SLURM_ARRAY_TASK_ID"));
    let first = std::fs::read(work.join("shard-00002/reports/refunds.csv")).unwrap();
    // A task killed mid-write leaves a temporary folder; the rerun is the same.
    std::fs::create_dir_all(work.join("shard-00002/.reports.tmp-1")).unwrap();
    ok(task("JOB_COMPLETION_INDEX"));
    assert_eq!(
        std::fs::read(work.join("shard-00002/reports/refunds.csv")).unwrap(),
        first
    );
    let merged = dir.path().join("merged");
    ok(merge(&merged));
    assert_same(&one, &merged);

    // A doubled shard (shard 0's reports where shard 1's should be).
    let r1 = work.join("shard-00001/reports");
    let saved = dir.path().join("saved");
    std::fs::rename(&r1, &saved).unwrap();
    copy_dir(&work.join("shard-00000/reports"), &r1);
    let o = merge(&dir.path().join("y"));
    assert_eq!(o.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("not 1"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    std::fs::remove_dir_all(&r1).unwrap();
    std::fs::rename(&saved, &r1).unwrap();
    // A stale shard: the inputs changed and partition ran again; an old
    // shard's reports put back are refused.
    std::fs::rename(&r1, &saved).unwrap();
    let mut text = std::fs::read_to_string(data.join("unsubscriptions.csv")).unwrap();
    text.push('\n');
    std::fs::write(data.join("unsubscriptions.csv"), text).unwrap();
    ok(refund_recon(&part, &paths(&part_args)));
    for k in ["0", "2"] {
        ok(refund_recon(&["run", "--shard", k, "--work"], &[&work]));
    }
    copy_dir(&saved, &work.join("shard-00001/reports"));
    let o = merge(&dir.path().join("z"));
    assert_eq!(o.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("shard 1 is stale"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // A manifest edited by hand (more shards than it lists rows for) is
    // refused, not trusted.
    let path = work.join("manifest.json");
    let mut m: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    m["shards"] = serde_json::json!(5);
    std::fs::write(&path, m.to_string()).unwrap();
    let o = refund_recon(&["run", "--shard", "4", "--work"], &[&work]);
    assert_eq!(o.status.code(), Some(3), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("the manifest was changed"));
}

fn paths(v: &[PathBuf]) -> Vec<&Path> {
    v.iter().map(PathBuf::as_path).collect()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// Mapped exports: the presets' samples (made canonical in memory) and a
/// mapping that only renames headers (read straight from its files by a
/// run; partition describes them the same way).
#[test]
fn mapped_exports_merge_to_the_same_reports() {
    let dir = tempfile::tempdir().unwrap();
    let repo = crate::common::repo();
    for (preset, policy) in [("huawei-bss", "ten-a-year"), ("alibaba-bss", "once-a-year")] {
        let data = repo.join("data/samples").join(preset);
        let (one, merged) = (
            dir.path().join(format!("{preset}-one")),
            dir.path().join(format!("{preset}-merged")),
        );
        let args = ["run", "--mapping", preset, "--policy", policy];
        ok(refund_recon(
            &args,
            &[Path::new("--data"), &data, Path::new("--out"), &one],
        ));
        let mut sharded = args.to_vec();
        sharded.extend(["--shards", "3"]);
        ok(refund_recon(
            &sharded,
            &[Path::new("--data"), &data, Path::new("--out"), &merged],
        ));
        assert_same(&one, &merged);
    }
    // Every header renamed: a mapping of names only.
    let data = dir.path().join("renamed");
    ok(refund_recon(
        &["generate", "--orders", "2000", "--seed", "3", "--out"],
        &[&data],
    ));
    let mut toml = String::from("version = 1\n");
    for (input, file) in [
        ("orders", "orders.csv"),
        ("payments", "payments.csv"),
        ("unsubscriptions", "unsubscriptions.csv"),
    ] {
        let path = data.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        let (header, rest) = text.split_once('\n').unwrap();
        let renamed: Vec<String> = header.split(',').map(|h| format!("X_{}", h.to_uppercase())).collect();
        std::fs::write(data.join(format!("x-{file}")), format!("{}\n{rest}", renamed.join(","))).unwrap();
        std::fs::remove_file(&path).unwrap();
        toml.push_str(&format!(
            "[sources.{input}]\nfiles = [\"x-{file}\"]\n[{input}]\nsource = \"{input}\"\n[{input}.columns]\n"
        ));
        for h in header.split(',') {
            toml.push_str(&format!("{h} = \"X_{}\"\n", h.to_uppercase()));
        }
    }
    let mapping = dir.path().join("renamed.toml");
    std::fs::write(&mapping, toml).unwrap();
    let policy = repo.join("data/policy.toml");
    let (one, merged) = (dir.path().join("renamed-one"), dir.path().join("renamed-merged"));
    let inputs: [&Path; 6] = [
        Path::new("--mapping"),
        &mapping,
        Path::new("--policy"),
        &policy,
        Path::new("--data"),
        &data,
    ];
    let mut a = inputs.to_vec();
    a.extend([Path::new("--out"), &one]);
    ok(refund_recon(&["run"], &a));
    let mut a = inputs.to_vec();
    a.extend([Path::new("--out"), &merged]);
    ok(refund_recon(&["run", "--shards", "2"], &a));
    assert_same(&one, &merged);
    assert!(summary(&one)["inputs"][0]["path"]
        .as_str()
        .is_some_and(|p| p.ends_with("x-orders.csv")));
}

/// Every file of a folder, by relative path, with its bytes.
fn tree(dir: &Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.insert(p.strip_prefix(dir).unwrap().to_path_buf(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// The streaming partition (exports larger than memory) writes the work
/// folder the in-memory one writes, byte for byte — with the export cut
/// into many small blocks where the binary has its test switches — and
/// its shards merge into the run's reports.
#[test]
fn a_streamed_partition_is_the_in_memory_one_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let data = export(dir.path(), false);
    let orders = data.join("orders");
    let (memory, streamed) = (dir.path().join("memory"), dir.path().join("streamed"));
    let args = |work: &Path| -> Vec<PathBuf> {
        [
            Path::new("--data"),
            &data,
            Path::new("--orders"),
            &orders,
            Path::new("--work"),
            work,
        ]
        .iter()
        .map(|p| p.to_path_buf())
        .collect()
    };
    ok(refund_recon(&["partition", "--shards", "4"], &paths(&args(&memory))));
    let o = Command::new(BIN)
        .current_dir(std::env::temp_dir())
        .args(["partition", "--shards", "4", "--stream"])
        .args(args(&streamed))
        .env("REFUND_RECON_TEST_BLOCK_BYTES", "20000")
        .output()
        .unwrap();
    ok(o);
    let (a, b) = (tree(&memory), tree(&streamed));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (name, bytes) in &a {
        assert!(
            bytes == &b[name],
            "{} differs:\n{}\n{}",
            name.display(),
            String::from_utf8_lossy(bytes),
            String::from_utf8_lossy(&b[name])
        );
    }
    // With one file per input, the work folder also holds the inputs'
    // checkpoints and stamps (for the merged explain index): the same too.
    let first = orders.join("1.csv");
    let single = |work: &Path| -> Vec<PathBuf> {
        let mut a = args(work);
        a[3] = first.clone();
        a
    };
    let (memory1, streamed1) = (dir.path().join("memory1"), dir.path().join("streamed1"));
    ok(refund_recon(&["partition", "--shards", "3"], &paths(&single(&memory1))));
    ok(Command::new(BIN)
        .current_dir(std::env::temp_dir())
        .args(["partition", "--shards", "3", "--stream"])
        .args(single(&streamed1))
        .env("REFUND_RECON_TEST_BLOCK_BYTES", "20000")
        .output()
        .unwrap());
    let (a1, b1) = (tree(&memory1), tree(&streamed1));
    assert!(a1.contains_key(Path::new("checkpoints.bin")), "{:?}", a1.keys());
    assert!(a1 == b1, "the same work folder with one file per input");
    // Past --memory-limit, partition streams by itself.
    let limited = dir.path().join("limited");
    let mut limit = args(&limited);
    limit.extend([PathBuf::from("--memory-limit"), PathBuf::from("1000")]);
    ok(refund_recon(&["partition", "--shards", "4"], &paths(&limit)));
    assert!(tree(&limited) == a, "the same work folder");
    for k in ["0", "1", "2", "3"] {
        ok(refund_recon(&["run", "--shard", k, "--work"], &[&streamed]));
    }
    let (one, merged) = (dir.path().join("one"), dir.path().join("merged"));
    ok(refund_recon(
        &["run"],
        &[
            Path::new("--data"),
            &data,
            Path::new("--orders"),
            &orders,
            Path::new("--out"),
            &one,
        ],
    ));
    ok(refund_recon(
        &["merge", "--work"],
        &[&streamed, Path::new("--out"), &merged],
    ));
    assert_same(&one, &merged);
}
