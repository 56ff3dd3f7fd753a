//! `run --format csv,parquet` (docs/parquet.md): every report's Parquet
//! copy has real types and equals its CSV cell for cell; the bytes do not
//! depend on the thread count; csv stays the default and is required.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;
use std::process::Command;
use std::str::FromStr;

use polars::prelude::{DataFrame, DataType, ParquetReader, SerReader, TimeUnit};
use refund_recon::report::parquet::{zone_of, COPIED, FILES};
use refund_recon::report::schema::{Column, Kind};
use rust_decimal::Decimal;

use crate::common::*;

/// Runs the bundled sample (data/) into `<dir>/reports` with `extra` flags.
fn run_sample(dir: &Path, extra: &[&str]) -> std::process::Output {
    run_sample_to(&dir.join("reports"), extra)
}

fn read_parquet(path: &Path) -> DataFrame {
    let f = File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    ParquetReader::new(f).finish().unwrap()
}

fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_path(path).unwrap();
    let header = r.headers().unwrap().iter().map(str::to_string).collect();
    let rows = r
        .records()
        .map(|x| x.unwrap().iter().map(str::to_string).collect())
        .collect();
    (header, rows)
}

/// Asserts a column's dtype matches its kind (timestamps tagged `tz`).
fn assert_dtype(file: &str, c: &Column, dtype: &DataType, tz: &str) {
    let ok = match (c.kind, dtype) {
        (Kind::Text | Kind::Month, DataType::String) => true,
        (Kind::Int, DataType::Int64) => true,
        (Kind::Bool, DataType::Boolean) => true,
        (Kind::Amount, DataType::Decimal(38, s)) => *s >= 2,
        (Kind::Timestamp, DataType::Datetime(TimeUnit::Microseconds, Some(z))) => z.as_str() == tz,
        _ => false,
    };
    assert!(ok, "{file}: column {} ({:?}) has dtype {dtype:?}", c.name, c.kind);
}

/// Asserts that the Parquet copy of `csv` equals it cell for cell: text as
/// written, amounts equal as decimals, timestamps the same instant, null
/// exactly where the CSV cell is empty.
fn assert_same_cells(dir: &Path, csv: &str, columns: &[Column], tz: &str) {
    let (header, rows) = read_csv(&dir.join(csv));
    let pq_name = csv.replace(".csv", ".parquet");
    let df = read_parquet(&dir.join(&pq_name));
    assert_eq!(df.height(), rows.len(), "{pq_name}: rows");
    let names: Vec<&str> = df.get_column_names().iter().map(|n| n.as_str()).collect();
    assert_eq!(names, header, "{pq_name}: column names");
    for (j, c) in columns.iter().enumerate() {
        let col = df.column(c.name).unwrap();
        assert_dtype(&pq_name, c, col.dtype(), tz);
        for (i, row) in rows.iter().enumerate() {
            let cell = row[j].as_str();
            let place = format!("{pq_name} row {i} column {}: CSV {cell:?}", c.name);
            match c.kind {
                Kind::Text | Kind::Month => {
                    let got = col.str().unwrap().get(i);
                    assert_eq!(got, Some(cell).filter(|s| !s.is_empty()), "{place}");
                }
                Kind::Int => {
                    let got = col.i64().unwrap().get(i);
                    assert_eq!(got, (!cell.is_empty()).then(|| cell.parse().unwrap()), "{place}");
                }
                Kind::Bool => {
                    let got = col.bool().unwrap().get(i);
                    assert_eq!(got, (!cell.is_empty()).then(|| cell == "true"), "{place}");
                }
                Kind::Amount => {
                    let d = col.decimal().unwrap();
                    let got = d
                        .phys
                        .get(i)
                        .map(|v| Decimal::try_from_i128_with_scale(v, d.scale() as u32).unwrap());
                    let want = (!cell.is_empty()).then(|| Decimal::from_str(cell).unwrap());
                    assert_eq!(got, want, "{place}");
                }
                Kind::Timestamp => {
                    let got = col.datetime().unwrap().phys.get(i);
                    let want = (!cell.is_empty())
                        .then(|| chrono::DateTime::parse_from_rfc3339(cell).unwrap().timestamp_micros());
                    assert_eq!(got, want, "{place}");
                }
            }
        }
    }
}

#[test]
fn sample_parquet_copies_are_typed_and_equal_the_csvs() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_sample(dir.path(), &["--format", "csv,focus,parquet"]);
    expect_code(&out, 0);
    let reports = dir.path().join("reports");
    for (csv, columns) in COPIED {
        assert_same_cells(&reports, csv, columns, zone_of(csv, "Asia/Shanghai"));
    }
    // The sample has rows in every copy but rejects-free files are fine too;
    // refunds at least must hold rows for the sums below to mean something.
    assert!(read_parquet(&reports.join("refunds.parquet")).height() > 10);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(reports.join("summary.json")).unwrap()).unwrap();
    let listed: Vec<&str> = summary["reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for name in FILES {
        assert!(listed.contains(&name), "summary.json lists {name}: {listed:?}");
    }
    assert_eq!(listed.last(), Some(&"summary.json"));
    assert!(stdout(&out).contains("refunds.parquet"), "{}", stdout(&out));
}

#[test]
fn refund_sums_per_currency_are_exact() {
    let dir = tempfile::tempdir().unwrap();
    expect_code(&run_sample(dir.path(), &["--format", "csv,parquet"]), 0);
    let reports = dir.path().join("reports");
    let (header, rows) = read_csv(&reports.join("refunds.csv"));
    let at = |n: &str| header.iter().position(|h| h == n).unwrap();
    let df = read_parquet(&reports.join("refunds.parquet"));
    let currency = df.column("currency").unwrap().str().unwrap().clone();
    for name in ["expected_refund", "recorded_refund"] {
        let mut from_csv: BTreeMap<String, Decimal> = BTreeMap::new();
        for r in &rows {
            if !r[at(name)].is_empty() {
                *from_csv.entry(r[at("currency")].clone()).or_default() += Decimal::from_str(&r[at(name)]).unwrap();
            }
        }
        let d = df.column(name).unwrap().decimal().unwrap();
        let mut from_parquet: BTreeMap<String, i128> = BTreeMap::new();
        for i in 0..df.height() {
            if let Some(v) = d.phys.get(i) {
                *from_parquet
                    .entry(currency.get(i).unwrap_or("").to_string())
                    .or_default() += v;
            }
        }
        let from_parquet: BTreeMap<String, Decimal> = from_parquet
            .into_iter()
            .map(|(c, v)| (c, Decimal::try_from_i128_with_scale(v, d.scale() as u32).unwrap()))
            .collect();
        assert!(from_csv.len() >= 2, "{name}: several currencies {from_csv:?}");
        assert_eq!(from_parquet, from_csv, "{name}");
    }
}

#[test]
fn parquet_bytes_do_not_depend_on_the_thread_count_or_the_run() {
    let f = Fixture::new();
    let gen = Command::new(BIN)
        .current_dir(repo())
        .args([
            "generate",
            "--orders",
            "3000",
            "--seed",
            "7",
            "--malformed-rate",
            "0.01",
            "--out",
        ])
        .arg(f.data())
        .output()
        .unwrap();
    expect_code(&gen, 0);
    let policy = repo().join("data/policy.toml");
    let run = |out: &str, threads: &str| {
        let o = Command::new(BIN)
            .current_dir(f.path())
            .args(["run", "--data"])
            .arg(f.data())
            .arg("--policy")
            .arg(&policy)
            .args(["--format", "csv,focus,parquet", "--threads", threads, "--out", out])
            .output()
            .unwrap();
        expect_code(&o, 0);
        f.path().join(out)
    };
    let (a, b, c) = (run("one", "1"), run("two", "2"), run("again", "2"));
    for name in FILES {
        let x = std::fs::read(a.join(name)).unwrap();
        assert!(x.starts_with(b"PAR1") && x.len() > 100, "{name}");
        assert!(x == std::fs::read(b.join(name)).unwrap(), "{name}: --threads 1 vs 2");
        assert!(x == std::fs::read(c.join(name)).unwrap(), "{name}: rerun");
    }
    for (csv, columns) in COPIED {
        assert_same_cells(&a, csv, columns, zone_of(csv, "Asia/Shanghai"));
    }
    assert!(read_parquet(&a.join("rejects.parquet")).height() > 0);
}

#[test]
fn csv_is_the_default_and_required() {
    let dir = tempfile::tempdir().unwrap();
    expect_code(&run_sample(dir.path(), &[]), 0);
    let reports = dir.path().join("reports");
    for name in FILES {
        assert!(!reports.join(name).exists(), "{name} without --format");
    }
    let summary = std::fs::read_to_string(reports.join("summary.json")).unwrap();
    assert!(!summary.contains(".parquet"), "{summary}");

    // A later run with Parquet may replace that folder, and one without
    // Parquet may replace a folder holding copies.
    expect_code(&run_sample(dir.path(), &["--format", "csv,parquet"]), 0);
    assert!(reports.join("refunds.parquet").exists());
    assert!(
        !reports.join("monthly_bill.focus.parquet").exists(),
        "the FOCUS bill only with focus"
    );
    expect_code(&run_sample(dir.path(), &["--format", "csv"]), 0);
    assert!(!reports.join("refunds.parquet").exists());

    let other = tempfile::tempdir().unwrap();
    let out = run_sample(other.path(), &["--format", "parquet"]);
    expect_code(&out, 2);
    assert!(stderr(&out).contains("--format csv,parquet"), "{}", stderr(&out));
    assert!(!other.path().join("reports").exists());
    expect_code(&run_sample(other.path(), &["--format", "csv,xlsx"]), 2);
}
