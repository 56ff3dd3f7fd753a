//! Several files per input (docs/inputs.md#several-files-per-input): one
//! table in file-name order, each reject naming its own file and line.

use std::path::Path;
use std::process::Command;

use crate::common::{assert_same_results, repo, BIN};

/// The sample's orders.csv cut into two monthly files (the second without
/// a final line break), in a folder.
fn split_orders(dir: &Path) -> std::path::PathBuf {
    let text = std::fs::read_to_string(repo().join("data/orders.csv")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let half = lines.len() / 2;
    let folder = dir.join("orders");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("2021-09.csv"), lines[..half].join("\n") + "\n").unwrap();
    let second = std::iter::once(lines[0])
        .chain(lines[half..].iter().copied())
        .collect::<Vec<_>>();
    std::fs::write(folder.join("2021-10.csv"), second.join("\n")).unwrap();
    folder
}

fn run(args: &[&str], extra: &[&Path]) -> std::process::Output {
    Command::new(BIN)
        .current_dir(repo())
        .args(args)
        .args(extra)
        .output()
        .expect("run refund-recon")
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn an_input_split_over_files_gives_the_same_reports_and_names_each_file() {
    let dir = tempfile::tempdir().unwrap();
    let folder = split_orders(dir.path());
    let (one, two) = (dir.path().join("one"), dir.path().join("two"));
    assert!(run(&["run", "--out"], &[&one]).status.code().is_some_and(|c| c <= 1));
    let o = run(&["run", "--orders"], &[&folder, Path::new("--out"), &two]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert_same_results(&one, &two);
    // Each reject names its own file and its line there.
    let rejects = read(&two.join("rejects.csv"));
    let half = read(&repo().join("data/orders.csv")).lines().count() / 2;
    assert!(rejects.contains("2021-09.csv,16,ord-057,coupon_amount"), "{rejects}");
    let original = read(&one.join("rejects.csv"));
    let moved = original
        .lines()
        .find(|l| l.starts_with("orders.csv,") && l.split(',').nth(1).unwrap().parse::<usize>().unwrap() > half)
        .unwrap();
    let line: usize = moved.split(',').nth(1).unwrap().parse().unwrap();
    let rest = moved.splitn(3, ',').nth(2).unwrap();
    assert!(
        rejects.contains(&format!("2021-10.csv,{},{rest}", line - half + 1)),
        "{rejects}"
    );
    // summary.json hashes each file; verify checks them.
    let s: serde_json::Value = serde_json::from_str(&read(&two.join("summary.json"))).unwrap();
    let files = s["inputs"][0]["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    assert_eq!(files[0]["file"], "2021-09.csv");
    let sum: u64 = files.iter().map(|f| f["rows_read"].as_u64().unwrap()).sum();
    assert_eq!(sum, s["inputs"][0]["rows_read"].as_u64().unwrap());
    let v = run(&["verify"], &[&two]);
    let text = String::from_utf8_lossy(&v.stdout);
    assert_eq!(v.status.code(), Some(0), "{text}");
    assert!(text.contains("2021-10.csv"), "{text}");
    // No explain index: explain --reports says why.
    let e = run(&["explain", "uns-007", "--reports"], &[&two]);
    assert_eq!(e.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&e.stderr).contains("several files for one input"));
    // explain from the exports names the file and line.
    let e = run(&["explain", "ord-001", "--orders"], &[&folder]);
    assert!(String::from_utf8_lossy(&e.stdout).contains("2021-09.csv line 2)"));
}

#[test]
fn a_row_repeated_in_an_overlapping_export_is_a_duplicate_naming_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let folder = split_orders(dir.path());
    // The last row of September again at the top of October.
    let first = read(&folder.join("2021-09.csv"));
    let last = first.lines().last().unwrap().to_string();
    let id = last.split(',').next().unwrap().to_string();
    let second = read(&folder.join("2021-10.csv"));
    let mut lines: Vec<&str> = second.lines().collect();
    lines.insert(1, &last);
    std::fs::write(folder.join("2021-10.csv"), lines.join("\n") + "\n").unwrap();
    let out = dir.path().join("r");
    let o = run(&["run", "--orders"], &[&folder, Path::new("--out"), &out]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let rejects = read(&out.join("rejects.csv"));
    let n = first.lines().count();
    assert!(
        rejects.contains(&format!("2021-10.csv,2,{id},order_id,{id},duplicate order_id: the first row with this id (2021-09.csv line {n}) is used")),
        "{rejects}"
    );
}

#[test]
fn files_of_one_input_need_the_same_header_and_a_pattern_must_match() {
    let dir = tempfile::tempdir().unwrap();
    let folder = split_orders(dir.path());
    let second = read(&folder.join("2021-10.csv")).replacen("order_id,account_id", "account_id,order_id", 1);
    std::fs::write(folder.join("2021-10.csv"), second).unwrap();
    let o = run(&["validate", "--orders"], &[&folder]);
    assert_eq!(o.status.code(), Some(3));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("2021-10.csv: line 1: its header differs"), "{err}");
    let o = run(&["validate", "--orders"], &[&dir.path().join("orders-*.csv")]);
    assert_eq!(o.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no file matches"));
}

#[test]
fn files_of_the_same_name_in_two_folders_are_counted_apart() {
    // `2021/orders.csv` and `2022/orders.csv`: one name, two files; each
    // file's counts come from its own rows, not from its name.
    let dir = tempfile::tempdir().unwrap();
    let text = read(&repo().join("data/orders.csv"));
    let lines: Vec<&str> = text.lines().collect();
    let half = lines.len() / 2;
    for (folder, rows) in [("2021", &lines[1..half]), ("2022", &lines[half..])] {
        std::fs::create_dir_all(dir.path().join(folder)).unwrap();
        let body = std::iter::once(lines[0])
            .chain(rows.iter().copied())
            .collect::<Vec<_>>();
        std::fs::write(dir.path().join(folder).join("orders.csv"), body.join("\n") + "\n").unwrap();
    }
    let out = dir.path().join("r");
    let pattern = dir.path().join("*").join("orders.csv");
    let o = run(&["run", "--orders"], &[&pattern, Path::new("--out"), &out]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let s: serde_json::Value = serde_json::from_str(&read(&out.join("summary.json"))).unwrap();
    let files = s["inputs"][0]["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    let rejected: Vec<u64> = files.iter().map(|f| f["rejected"].as_u64().unwrap()).collect();
    // The sample's malformed orders sit at lines 16, 31 and 42 of orders.csv.
    let first_half = [16usize, 31, 42].iter().filter(|&&l| l <= half).count() as u64;
    assert_eq!(rejected, [first_half, 3 - first_half]);
}
