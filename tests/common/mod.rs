//! Shared helpers: run the real binary in a fresh work folder per test.

#![allow(dead_code)]

pub mod golden;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const BIN: &str = env!("CARGO_BIN_EXE_refund-recon");

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The once-a-year preset with thresholds for the test currencies.
pub const POLICY: &str = r#"
name = "test-once-a-year"
billing_timezone = "Asia/Shanghai"
[review]
thresholds = { USD = "1000", EUR = "1000", CNY = "7000", JPY = "150000" }
"#;

pub const ORDERS_HEADER: &str = "order_id,account_id,instance_id,product,item_kind,billing_mode,order_type,ordered_at,service_start,service_end,amount,coupon_amount,currency,promotional,invoice_issued";
pub const PAYMENTS_HEADER: &str = "payment_id,order_id,account_id,paid_at,amount,currency,method,status";
pub const UNSUBS_HEADER: &str = "unsub_id,order_id,account_id,batch_id,requested_at,reviewed_at,completed_at,refunded_at,instance_state,status,refund_type,refund_amount,handling_fee,coupon_returned,refund_destination,billing_cycle";

/// Runs `run --out OUT EXTRA…` on the bundled sample (data/, from the
/// repository root).
pub fn run_sample_to(out: &Path, extra: &[&str]) -> Output {
    Command::new(BIN)
        .current_dir(repo())
        .args(["run", "--out"])
        .arg(out)
        .args(extra)
        .output()
        .expect("run refund-recon")
}

/// A temporary work folder with data/ and a policy.
pub struct Fixture {
    pub dir: tempfile::TempDir,
}

impl Fixture {
    pub fn new() -> Fixture {
        let f = Fixture {
            dir: tempfile::tempdir().expect("temp dir"),
        };
        std::fs::create_dir_all(f.data()).unwrap();
        f.policy(POLICY);
        f
    }

    /// A fixture with the three files: header + the given rows each.
    pub fn with(orders: &[&str], payments: &[&str], unsubs: &[&str]) -> Fixture {
        let f = Fixture::new();
        f.file("orders.csv", &csv(ORDERS_HEADER, orders));
        f.file("payments.csv", &csv(PAYMENTS_HEADER, payments));
        f.file("unsubscriptions.csv", &csv(UNSUBS_HEADER, unsubs));
        f
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn out(&self) -> PathBuf {
        self.dir.path().join("reports")
    }

    pub fn file(&self, name: &str, content: &str) {
        std::fs::write(self.data().join(name), content).unwrap();
    }

    pub fn bytes(&self, name: &str, content: &[u8]) {
        std::fs::write(self.data().join(name), content).unwrap();
    }

    pub fn policy(&self, text: &str) {
        std::fs::write(self.dir.path().join("policy.toml"), text).unwrap();
    }

    /// Runs a subcommand with --data/--policy (and --out for run) set.
    pub fn cmd(&self, sub: &str, extra: &[&str]) -> Output {
        let mut c = Command::new(BIN);
        c.current_dir(self.dir.path()).arg(sub);
        c.arg("--data")
            .arg(self.data())
            .arg("--policy")
            .arg(self.dir.path().join("policy.toml"));
        if sub == "run" {
            c.arg("--out").arg(self.out());
        }
        c.args(extra);
        c.output().expect("run refund-recon")
    }

    /// A `run` command with --data, --policy and the given --out, for tests
    /// that add environment variables or spawn it.
    pub fn run_command(&self, out: &Path) -> Command {
        let mut c = Command::new(BIN);
        c.current_dir(self.dir.path())
            .args(["run", "--data"])
            .arg(self.data())
            .arg("--policy")
            .arg(self.dir.path().join("policy.toml"))
            .arg("--out")
            .arg(out);
        c
    }

    pub fn run(&self, extra: &[&str]) -> Output {
        self.cmd("run", extra)
    }

    pub fn report(&self, name: &str) -> String {
        std::fs::read_to_string(self.out().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    /// A report as rows of named cells.
    pub fn rows(&self, name: &str) -> Vec<CsvRow> {
        parse_csv(&self.report(name))
    }
}

pub fn csv(header: &str, rows: &[&str]) -> String {
    let mut s = String::from(header);
    s.push('\n');
    for r in rows {
        s.push_str(r);
        s.push('\n');
    }
    s
}

/// A CSV row with access by column name.
#[derive(Debug, Clone)]
pub struct CsvRow {
    pub cells: Vec<(String, String)>,
}

impl CsvRow {
    pub fn get(&self, col: &str) -> &str {
        self.cells
            .iter()
            .find(|(k, _)| k == col)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no column {col}"))
    }
}

pub fn parse_csv(text: &str) -> Vec<CsvRow> {
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
    r.records()
        .map(|rec| CsvRow {
            cells: header
                .iter()
                .cloned()
                .zip(rec.unwrap().iter().map(str::to_string))
                .collect(),
        })
        .collect()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// Asserts that two report folders hold the same results: discrepancies,
/// refunds, bill and quota usage, byte for byte (`a` and `b` name the two
/// runs in the message, which shows the first line that differs).
pub fn assert_same_results(a: &Path, b: &Path) {
    for name in [
        "discrepancies.csv",
        "refunds.csv",
        "monthly_bill.csv",
        "quota_usage.csv",
    ] {
        let read = |dir: &Path| {
            std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{}: {e}", dir.join(name).display()))
        };
        let (x, y) = (read(a), read(b));
        let first = x.lines().zip(y.lines()).find(|(p, q)| p != q);
        assert!(
            x == y,
            "{name} differs between {} and {}; first difference: {first:?}",
            a.display(),
            b.display()
        );
    }
}

/// Asserts the exit code, showing the output on failure.
pub fn expect_code(o: &Output, want: i32) {
    assert_eq!(code(o), want, "stdout:\n{}\nstderr:\n{}", stdout(o), stderr(o));
}

/// The refunds.csv row of an unsubscription.
pub fn refund<'a>(rows: &'a [CsvRow], unsub: &str) -> &'a CsvRow {
    rows.iter()
        .find(|r| r.get("unsub_id") == unsub)
        .unwrap_or_else(|| panic!("no refunds row {unsub}"))
}

/// Codes of the findings in discrepancies.csv for an unsubscription.
pub fn codes_of(rows: &[CsvRow], unsub: &str) -> Vec<String> {
    let mut c: Vec<String> = rows
        .iter()
        .filter(|r| r.get("unsub_id") == unsub)
        .map(|r| r.get("code").to_string())
        .collect();
    c.sort();
    c
}

// ---- Helpers for the adversarial and fault tests (appended) ----

/// At most `n` characters of `s` (messages of runs on huge fields).
pub fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}… [{} bytes in all]", s.chars().take(n).collect::<String>(), s.len())
    }
}

/// Asserts that the process did not crash: never exit 101 (a panic), never
/// exit 5 (an internal error: a panic caught by main, or a failed control
/// total), never a "panicked" message, never killed by a signal.
pub fn assert_no_panic(o: &Output) {
    let err = stderr(o);
    assert!(
        code(o) != 101 && code(o) != 5 && code(o) != -1 && !err.contains("panicked"),
        "the process crashed: exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        clip(&stdout(o), 2000),
        clip(&err, 4000)
    );
}

/// summary.json of the fixture's last run.
pub fn summary_of(f: &Fixture) -> serde_json::Value {
    serde_json::from_str(&f.report("summary.json")).expect("summary.json is JSON")
}

/// No lost rows: for every input, rows_read = accepted + rejected, and
/// rejects.csv holds exactly `rejected` rows of that file.
pub fn assert_rows_conserved(f: &Fixture) {
    let s = summary_of(f);
    let rejects = f.rows("rejects.csv");
    let mut total = 0u64;
    for m in s["inputs"].as_array().expect("inputs") {
        let (read, acc, rej) = (
            m["rows_read"].as_u64().unwrap(),
            m["accepted"].as_u64().unwrap(),
            m["rejected"].as_u64().unwrap(),
        );
        assert_eq!(read, acc + rej, "rows_read = accepted + rejected: {m}");
        let name = Path::new(m["path"].as_str().unwrap())
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let listed = rejects.iter().filter(|r| r.get("file") == name).count() as u64;
        assert_eq!(listed, rej, "every rejected row of {name} is in rejects.csv");
        total += rej;
    }
    assert_eq!(rejects.len() as u64, total, "rejects.csv has no row of another file");
}

/// Every report in `dir` (refund-recon's own list of them), with
/// summary.json's volatile fields removed (started_at, elapsed_seconds,
/// explain.idx's and report.html's hash and size, and with `drop_input_hashes` the inputs'
/// sha256), for byte comparisons.
pub fn report_snapshot(dir: &Path, drop_input_hashes: bool) -> Vec<(String, String)> {
    refund_recon::report::FILES
        .iter()
        .map(|name| {
            let path = dir.join(name);
            let mut text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            if *name == "summary.json" {
                let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
                let o = v.as_object_mut().unwrap();
                o.remove("started_at");
                o.remove("elapsed_seconds");
                // explain.idx holds absolute paths and modification times,
                // report.html the input paths (compared scrubbed, as a file).
                for f in o["files"].as_array_mut().unwrap() {
                    let f = f.as_object_mut().unwrap();
                    if f["name"] == "explain.idx" || f["name"] == "report.html" {
                        f.remove("sha256");
                        f.remove("bytes");
                    }
                }
                if drop_input_hashes {
                    for input in o["inputs"].as_array_mut().unwrap() {
                        input.as_object_mut().unwrap().remove("sha256");
                    }
                }
                text = serde_json::to_string_pretty(&v).unwrap();
            }
            (name.to_string(), text)
        })
        .collect()
}
