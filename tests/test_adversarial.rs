//! Adversarial inputs: whatever the exports hold, the run never panics,
//! stops with exit 3 (and no reports) when a file is unusable, turns bad
//! rows into rejects otherwise, names the file, line and column, and never
//! loses a row (docs/inputs.md, docs/cli.md#exit-codes; README "Inputs",
//! "Exit codes").

use std::process::Output;
use std::time::{Duration, Instant};

use crate::common::*;

const O1: &str = "O1,A1,i-1,Prod,edition,subscription,new,2021-09-01T10:00:00+08:00,2021-09-01T10:00:00+08:00,2022-09-01T10:00:00+08:00,300.00,0.00,USD,false,false";
const P1: &str = "P1,O1,A1,2021-09-01T10:00:00+08:00,300.00,USD,credit_card,succeeded";
const U1: &str = "U1,O1,A1,,2021-09-02T10:00:00+08:00,,2021-09-02T11:00:00+08:00,2021-09-03T10:00:00+08:00,normal,completed,unconditional,300.00,0.00,0.00,credit_card,2021-09";

/// The largest amount the exports may hold (13 integer digits, 6 decimals).
const MAX: &str = "9999999999999.999999";

fn with_cell(row: &str, id: &str, changes: &[(usize, &str)]) -> String {
    let mut cells: Vec<String> = row.split(',').map(str::to_string).collect();
    cells[0] = id.into();
    for (c, v) in changes {
        cells[*c] = (*v).into();
    }
    cells.join(",")
}

fn order_with(changes: &[(usize, &str)]) -> String {
    with_cell(O1, "O9", changes)
}

fn payment_with(changes: &[(usize, &str)]) -> String {
    with_cell(P1, "P9", changes)
}

fn unsub_with(changes: &[(usize, &str)]) -> String {
    with_cell(U1, "U9", changes)
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// A valid base (O1, P1, U1).
fn base() -> Fixture {
    Fixture::with(&[O1], &[P1], &[U1])
}

/// Runs `run` and `validate`: neither panics, both exit 3, stderr names
/// every needle (case-insensitive), and no reports are written.
fn expect_file_error(f: &Fixture, extra: &[&str], needles: &[&str]) -> Output {
    let v = f.cmd("validate", extra);
    assert_no_panic(&v);
    let out = f.run(extra);
    assert_no_panic(&out);
    for (what, o) in [("run", &out), ("validate", &v)] {
        let err = stderr(o);
        assert_eq!(
            code(o),
            3,
            "{what}: want exit 3\nstdout:\n{}\nstderr:\n{}",
            clip(&stdout(o), 2000),
            clip(&err, 2000)
        );
        let lower = err.to_lowercase();
        for n in needles {
            assert!(
                lower.contains(&n.to_lowercase()),
                "{what}: stderr lacks {n:?}:\n{}",
                clip(&err, 2000)
            );
        }
    }
    assert!(!f.out().exists(), "no reports on a file-level error");
    out
}

/// Runs `run`: no panic, exit 0, rows conserved. Returns the output.
fn expect_reports(f: &Fixture, extra: &[&str]) -> Output {
    let out = f.run(extra);
    assert_no_panic(&out);
    assert_eq!(
        code(&out),
        0,
        "want exit 0\nstdout:\n{}\nstderr:\n{}",
        clip(&stdout(&out), 2000),
        clip(&stderr(&out), 2000)
    );
    assert_rows_conserved(f);
    out
}

/// The rejects of one file, as (line, column, reason).
fn rejects_of(f: &Fixture, file: &str) -> Vec<(u64, String, String, String)> {
    f.rows("rejects.csv")
        .iter()
        .filter(|r| r.get("file") == file)
        .map(|r| {
            (
                r.get("line").parse().unwrap(),
                r.get("column").to_string(),
                r.get("reason").to_string(),
                r.get("record_id").to_string(),
            )
        })
        .collect()
}

/// Deterministic pseudo-random bytes (splitmix64).
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut s = seed;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        out.extend_from_slice(&z.to_le_bytes());
    }
    out.truncate(len);
    out
}

// ---------------------------------------------------------------------
// Whole-file problems: exit 3, no reports.

#[test]
fn empty_file_is_exit_3() {
    for file in ["orders.csv", "payments.csv", "unsubscriptions.csv"] {
        let f = base();
        f.bytes(file, b"");
        expect_file_error(&f, &[], &[file, "empty"]);
    }
}

#[test]
fn bom_only_file_is_exit_3() {
    let f = base();
    f.bytes("payments.csv", b"\xEF\xBB\xBF");
    expect_file_error(&f, &[], &["payments.csv", "header"]);
    // Blank lines only: no header either.
    let f = base();
    f.bytes("payments.csv", b"\xEF\xBB\xBF\r\n\n\r\n");
    expect_file_error(&f, &[], &["payments.csv", "header"]);
}

#[test]
fn header_only_files_are_a_valid_empty_run() {
    let f = Fixture::with(&[], &[], &[]);
    let v = f.cmd("validate", &[]);
    assert_no_panic(&v);
    expect_code(&v, 0);
    expect_reports(&f, &[]);
    let s = summary_of(&f);
    for m in s["inputs"].as_array().unwrap() {
        assert_eq!(m["rows_read"], 0, "{m}");
    }
    for name in [
        "refunds.csv",
        "discrepancies.csv",
        "monthly_bill.csv",
        "quota_usage.csv",
        "rejects.csv",
    ] {
        assert!(f.rows(name).is_empty(), "{name}: {}", f.report(name));
        assert!(
            f.report(name).starts_with(|c: char| c.is_ascii_lowercase()),
            "{name} has its header"
        );
    }
    // Header only, without a final newline, with a BOM and CRLF elsewhere.
    let f = base();
    f.file("orders.csv", &format!("\u{feff}{ORDERS_HEADER}"));
    f.file("payments.csv", &format!("{PAYMENTS_HEADER}\r\n"));
    expect_reports(&f, &[]);
    assert_eq!(summary_of(&f)["inputs"][0]["rows_read"], 0);
}

#[test]
fn no_header_is_missing_columns() {
    // The first line is data: its cells are taken as column names.
    let f = base();
    f.file("orders.csv", &format!("{O1}\n{}\n", O1.replace("O1", "O2")));
    expect_file_error(&f, &[], &["orders.csv", "line 1", "order_id", "missing"]);
}

#[test]
fn semicolon_delimiter_is_missing_columns() {
    let f = base();
    f.file(
        "orders.csv",
        &format!("{}\n{}\n", ORDERS_HEADER.replace(',', ";"), O1.replace(',', ";")),
    );
    expect_file_error(&f, &[], &["orders.csv", "line 1", "missing"]);
    // Tab-separated likewise.
    let f = base();
    f.file(
        "unsubscriptions.csv",
        &format!("{}\n{}\n", UNSUBS_HEADER.replace(',', "\t"), U1.replace(',', "\t")),
    );
    expect_file_error(&f, &[], &["unsubscriptions.csv", "missing"]);
}

#[test]
fn binary_garbage_is_exit_3() {
    // A whole file of noise (with a PNG signature for good measure).
    let f = base();
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.extend(noise(64 * 1024, 1));
    f.bytes("orders.csv", &bytes);
    expect_file_error(&f, &[], &["orders.csv", "line 1", "UTF-8"]);
    // A valid header, then noise: still not UTF-8, named by line.
    let f = base();
    let mut bytes = format!("{ORDERS_HEADER}\n{O1}\n").into_bytes();
    bytes.extend(noise(256 * 1024, 2));
    f.bytes("orders.csv", &bytes);
    expect_file_error(&f, &[], &["orders.csv", "line 3", "UTF-8"]);
    // ASCII control noise (valid UTF-8, no usable header).
    let f = base();
    let ctl: Vec<u8> = noise(16 * 1024, 3).iter().map(|b| b & 0x1F).collect();
    f.bytes("payments.csv", &ctl);
    let v = f.cmd("validate", &[]);
    assert_no_panic(&v);
    assert_eq!(code(&v), 3, "{}", clip(&stderr(&v), 2000));
    assert!(stderr(&v).contains("payments.csv"), "{}", clip(&stderr(&v), 2000));
}

#[test]
fn invalid_utf8_in_the_middle_names_line_and_column() {
    // 5,000 rows; row 2,500 (line 2,501) has a 0xFF in its product.
    let f = base();
    let mut text = format!("{ORDERS_HEADER}\n");
    for i in 0..5000 {
        let row = O1.replacen("O1,", &format!("O{i},"), 1);
        let row = if i == 2499 {
            row.replace("Prod", "Pr\u{1}d")
        } else {
            row
        };
        text.push_str(&row);
        text.push('\n');
    }
    let mut bytes = text.into_bytes();
    let pos = bytes.iter().position(|&b| b == 1).unwrap();
    bytes[pos] = 0xFF;
    f.bytes("orders.csv", &bytes);
    expect_file_error(&f, &[], &["orders.csv", "line 2501", "column product", "UTF-8"]);

    // Inside a quoted field with a newline (the csv_core path): the line of
    // the record's start, and the column.
    let f = base();
    let mut bytes = format!("{UNSUBS_HEADER}\n{U1}\n").into_bytes();
    let bad = unsub_with(&[(3, "\"batch\nX\u{1}\"")]);
    bytes.extend_from_slice(bad.as_bytes());
    bytes.push(b'\n');
    let pos = bytes.iter().position(|&b| b == 1).unwrap();
    bytes[pos] = 0xC3; // a lead byte followed by '"': not UTF-8
    f.bytes("unsubscriptions.csv", &bytes);
    expect_file_error(&f, &[], &["unsubscriptions.csv", "line 3", "batch_id", "UTF-8"]);

    // A UTF-16 surrogate encoded in UTF-8 (CESU) and an overlong '/'.
    for seq in [&b"\xED\xA0\x80"[..], &b"\xC0\xAF"[..]] {
        let f = base();
        let mut bytes = format!("{PAYMENTS_HEADER}\n{P1}\n").into_bytes();
        let row = payment_with(&[(6, "cardX")]);
        let at = row.find('X').unwrap();
        bytes.extend_from_slice(&row.as_bytes()[..at]);
        bytes.extend_from_slice(seq);
        bytes.extend_from_slice(&row.as_bytes()[at + 1..]);
        bytes.push(b'\n');
        f.bytes("payments.csv", &bytes);
        expect_file_error(&f, &[], &["payments.csv", "line 3", "method", "UTF-8"]);
    }

    // Not UTF-8 in the header itself.
    let f = base();
    let mut bytes = ORDERS_HEADER.as_bytes().to_vec();
    bytes.extend_from_slice(b",not\xFFe\n");
    bytes.extend_from_slice(format!("{O1},x\n").as_bytes());
    f.bytes("orders.csv", &bytes);
    expect_file_error(&f, &[], &["orders.csv", "line 1", "UTF-8"]);
}

#[test]
fn required_column_named_twice_is_exit_3() {
    // Case and spaces do not make it another column.
    let f = base();
    f.file(
        "orders.csv",
        &csv(&format!("{ORDERS_HEADER}, ORDER_ID "), &[&format!("{O1},O1")]),
    );
    expect_file_error(&f, &[], &["orders.csv", "order_id", "twice"]);
    let f = base();
    f.file(
        "unsubscriptions.csv",
        &csv(&format!("Status,{UNSUBS_HEADER}"), &[&format!("completed,{U1}")]),
    );
    expect_file_error(&f, &[], &["unsubscriptions.csv", "status", "twice"]);
    // An optional docs/inputs.md column twice is a known column twice too.
    let f = base();
    f.file(
        "unsubscriptions.csv",
        &csv(&format!("{UNSUBS_HEADER},batch_id"), &[&format!("{U1},")]),
    );
    expect_file_error(&f, &[], &["unsubscriptions.csv", "batch_id", "twice"]);
}

#[test]
fn a_folder_where_a_file_should_be_is_exit_3() {
    let f = base();
    std::fs::remove_file(f.data().join("orders.csv")).unwrap();
    std::fs::create_dir(f.data().join("orders.csv")).unwrap();
    expect_file_error(&f, &[], &["orders.csv", "--orders"]);
    // The whole --data folder missing.
    let f = base();
    let out = std::process::Command::new(BIN)
        .current_dir(f.path())
        .args(["run", "--data"])
        .arg(f.path().join("nope"))
        .arg("--policy")
        .arg(f.path().join("policy.toml"))
        .arg("--out")
        .arg(f.out())
        .output()
        .unwrap();
    assert_no_panic(&out);
    expect_code(&out, 3);
    assert!(stderr(&out).contains("nope"), "{}", stderr(&out));
    assert!(!f.out().exists());
    // A device that never ends would hang; /dev/null is an empty file.
    let f = base();
    let out = f.run(&["--payments", "/dev/null"]);
    assert_no_panic(&out);
    expect_code(&out, 3);
    assert!(stderr(&out).contains("/dev/null"), "{}", stderr(&out));
}

#[test]
fn the_same_file_given_twice_is_missing_columns() {
    let f = base();
    let orders = f.data().join("orders.csv");
    let o = orders.to_str().unwrap();
    expect_file_error(
        &f,
        &["--orders", o, "--payments", o],
        &["orders.csv", "payment_id", "missing"],
    );
    expect_file_error(
        &f,
        &["--unsubscriptions", f.data().join("payments.csv").to_str().unwrap()],
        &["payments.csv", "unsub_id", "missing"],
    );
    // All three the same file.
    expect_file_error(
        &f,
        &["--orders", o, "--payments", o, "--unsubscriptions", o],
        &["orders.csv", "missing"],
    );
}

// ---------------------------------------------------------------------
// Row-level problems: rejects, exit 0, nothing lost.

#[test]
fn nul_bytes_inside_fields_do_not_crash() {
    let f = Fixture::with(
        &[
            O1,
            &order_with(&[(3, "Pro\0duct")]),
            &with_cell(O1, "O\u{0}8", &[(1, "A\u{0}2")]),
            &order_with(&[(0, "O7"), (12, "US\u{0}")]),
        ],
        &[P1, &payment_with(&[(6, "\u{0}")])],
        &[U1, &unsub_with(&[(3, "\"b\0\"")])],
    );
    let v = f.cmd("validate", &[]);
    assert_no_panic(&v);
    expect_code(&v, 0);
    expect_reports(&f, &[]);
    // A NUL is not a currency: that row is a reject on currency.
    let rejects = rejects_of(&f, "orders.csv");
    assert!(
        rejects.iter().any(|r| r.0 == 5 && r.1 == "currency"),
        "{}",
        f.report("rejects.csv")
    );
}

#[test]
fn ten_megabyte_field_is_handled_in_reasonable_time() {
    let big = "P".repeat(10 << 20);
    let quoted = format!("\"{}\"", "ab,\"\"\ncd ".repeat((10 << 20) / 10));
    for (name, product) in [("unquoted", big.clone()), ("quoted", quoted)] {
        let f = Fixture::with(
            &[O1, &order_with(&[(3, &product)]), &order_with(&[(0, "O8"), (4, &big)])],
            &[P1],
            &[U1],
        );
        let t = Instant::now();
        let v = f.cmd("validate", &[]);
        assert_no_panic(&v);
        expect_code(&v, 0);
        expect_reports(&f, &[]);
        let took = t.elapsed();
        assert!(took < Duration::from_secs(60), "{name}: validate + run took {took:?}");
        let s = summary_of(&f);
        assert_eq!(s["inputs"][0]["accepted"], 2, "{name}: the big product is a valid row");
        // The 10 MB unknown token is a reject whose value is kept whole.
        let rejects = f.rows("rejects.csv");
        assert_eq!(rejects.len(), 1, "{name}");
        assert_eq!(rejects[0].get("column"), "item_kind");
        assert_eq!(rejects[0].get("value").len(), big.len(), "{name}: the value is not cut");
        eprintln!("{name}: 10 MB field, validate + run in {took:?}");
    }
}

#[test]
fn two_hundred_thousand_escaped_quotes_in_one_field() {
    let field = format!("\"{}\"", "\"\"".repeat(200_000));
    let f = Fixture::with(
        &[O1, &order_with(&[(3, &field)]), &order_with(&[(0, "O8"), (4, &field)])],
        &[P1],
        &[U1],
    );
    let t = Instant::now();
    expect_reports(&f, &[]);
    let took = t.elapsed();
    assert!(took < Duration::from_secs(30), "took {took:?}");
    assert_eq!(summary_of(&f)["inputs"][0]["accepted"], 2);
    let rejects = f.rows("rejects.csv");
    assert_eq!(rejects.len(), 1);
    assert_eq!((rejects[0].get("line"), rejects[0].get("column")), ("4", "item_kind"));
    assert_eq!(
        rejects[0].get("value"),
        "\"".repeat(200_000),
        "the unescaped value, whole"
    );
}

#[test]
fn header_with_ten_thousand_columns() {
    // 9,985 extra columns besides the 15 of orders.csv: ignored.
    let extra: Vec<String> = (0..9985).map(|i| format!("x{i}")).collect();
    let header = format!("{ORDERS_HEADER},{}", extra.join(","));
    let cells = ",v".repeat(9985);
    let f = Fixture::with(&[], &[P1], &[U1]);
    f.file(
        "orders.csv",
        &csv(
            &header,
            &[
                &format!("{O1}{cells}"),
                // Fewer fields than the header: a reject giving both counts.
                &order_with(&[]),
            ],
        ),
    );
    let t = Instant::now();
    expect_reports(&f, &[]);
    assert!(t.elapsed() < Duration::from_secs(30), "took {:?}", t.elapsed());
    let s = summary_of(&f);
    assert_eq!(s["inputs"][0]["accepted"], 1);
    assert_eq!(s["inputs"][0]["extra_columns"].as_array().unwrap().len(), 9985);
    let r = rejects_of(&f, "orders.csv");
    assert_eq!(r.len(), 1);
    assert!(r[0].2.contains("15") && r[0].2.contains("10000"), "{:?}", r[0]);
    // The same extra name 9,985 times (and blank names) is still valid,
    // listed once.
    let f = Fixture::with(&[], &[P1], &[U1]);
    let header = format!("{ORDERS_HEADER}{}{}", ",note".repeat(9985), ",,");
    f.file("orders.csv", &csv(&header, &[&format!("{O1}{cells},,")]));
    expect_reports(&f, &[]);
    let s = summary_of(&f);
    assert_eq!(s["inputs"][0]["accepted"], 1);
    assert_eq!(s["inputs"][0]["extra_columns"], serde_json::json!(["note"]));
}

#[test]
fn ragged_rows_are_each_rejected_with_both_counts() {
    let long = format!("{O1}{}", ",x".repeat(1000));
    let f = Fixture::with(
        &[
            O1,
            &format!("{},x", order_with(&[])),
            "O8,A1,i-1",
            "O7",
            &long.replacen("O1", "O6", 1),
        ],
        &[P1, "P8,O1,A1,2021-09-01T10:00:00+08:00,300.00,USD,credit_card"],
        &[U1, &format!("{},extra", unsub_with(&[]))],
    );
    expect_reports(&f, &[]);
    let want = [
        ("orders.csv", 3, "16", "15"),
        ("orders.csv", 4, "3", "15"),
        ("orders.csv", 5, "1", "15"),
        ("orders.csv", 6, "1015", "15"),
        ("payments.csv", 3, "7", "8"),
        ("unsubscriptions.csv", 3, "17", "16"),
    ];
    for (file, line, got, header) in want {
        let r = rejects_of(&f, file);
        let r = r
            .iter()
            .find(|r| r.0 == line)
            .unwrap_or_else(|| panic!("{file} line {line} not rejected: {r:?}"));
        assert_eq!(r.1, "", "no single column is at fault");
        assert!(
            r.2.contains(&format!("{got} fields")) && r.2.contains(&format!("header has {header}")),
            "{file} line {line}: {}",
            r.2
        );
    }
    assert_eq!(f.rows("rejects.csv").len(), want.len());
}

#[test]
fn unterminated_quote_is_reported_as_such() {
    // Line 3 opens a quote that never closes: the csv reader takes the rest
    // of the file (100 more rows) as one field. Those rows must not vanish
    // into a reject that only says "wrong number of fields": either the
    // file is refused, or the reject says a quote was left open at line 3.
    let mut rows = vec![O1.to_string(), order_with(&[(3, "\"Unterminated product")])];
    for i in 0..100 {
        rows.push(O1.replacen("O1", &format!("O{}", 100 + i), 1));
    }
    let refs: Vec<&str> = rows.iter().map(String::as_str).collect();
    let f = Fixture::with(&refs, &[P1], &[U1]);
    let out = f.run(&[]);
    assert_no_panic(&out);
    match code(&out) {
        3 => {
            let err = stderr(&out).to_lowercase();
            assert!(
                err.contains("orders.csv") && err.contains("line 3") && err.contains("quote"),
                "{err}"
            );
        }
        0 => {
            assert_rows_conserved(&f);
            let r = rejects_of(&f, "orders.csv");
            assert_eq!(r.len(), 1, "{r:?}");
            assert_eq!(r[0].0, 3);
            assert!(
                r[0].2.to_lowercase().contains("quote"),
                "the reject of line 3 swallows lines 4-103 but its reason does not say why: {:?}",
                r[0].2
            );
        }
        c => panic!("exit {c}: {}", stderr(&out)),
    }
}

#[test]
fn stray_quote_does_not_merge_rows_into_an_accepted_order() {
    // Line 3 opens a quote that the next quote in the file (inside line 5's
    // quoted product) "closes". The csv crate's lenient reading then makes
    // lines 3-5 one record of exactly 15 fields: O9, with an instance_id
    // holding two newlines and half of O3's product. O2 and O3 are gone,
    // and nothing says so. A finance user expects the broken quote to be
    // caught at line 3 (a reject, or the file refused), and O2 and O3 kept.
    let o2 = O1.replacen("O1", "O2", 1);
    let o3 = O1
        .replacen("O1", "O3", 1)
        .replace(",Prod,", ",\"Web Application Firewall, Standard\",");
    let f = Fixture::with(&[O1, "O9,A1,\"unterminated", &o2, &o3], &[P1], &[U1]);
    let out = f.run(&[]);
    assert_no_panic(&out);
    match code(&out) {
        3 => {
            let err = stderr(&out).to_lowercase();
            assert!(
                err.contains("orders.csv") && err.contains("line 3") && err.contains("quote"),
                "{err}"
            );
        }
        0 => {
            assert_rows_conserved(&f);
            let s = summary_of(&f);
            let r = rejects_of(&f, "orders.csv");
            assert!(
                r.iter().any(|x| x.0 == 3),
                "line 3 (the broken quote) is not rejected: it became an accepted order; orders rows read {}, accepted {}, rejects {r:?}",
                s["inputs"][0]["rows_read"],
                s["inputs"][0]["accepted"]
            );
            assert_eq!(
                s["inputs"][0]["rows_read"], 4,
                "O2 and O3 are rows of their own: {}",
                s["inputs"][0]
            );
        }
        c => panic!("exit {c}: {}", stderr(&out)),
    }
}

#[test]
fn bare_cr_line_ends_do_not_lose_rows_or_lines() {
    // Old Mac line ends (bare CR) go beyond LF and CRLF (docs/inputs.md):
    // either refused (exit 3), or read with the right rows and line numbers.
    let f = base();
    let text = [
        ORDERS_HEADER,
        O1,
        &order_with(&[(10, "1e3")]),
        &order_with(&[(0, "O8")]),
    ]
    .join("\r")
        + "\r";
    f.file("orders.csv", &text);
    let out = f.run(&[]);
    assert_no_panic(&out);
    match code(&out) {
        3 => assert!(stderr(&out).contains("orders.csv"), "{}", stderr(&out)),
        0 => {
            assert_rows_conserved(&f);
            let s = summary_of(&f);
            assert_eq!(s["inputs"][0]["rows_read"], 3, "{}", s["inputs"][0]);
            let r = rejects_of(&f, "orders.csv");
            assert_eq!(r.len(), 1);
            assert_eq!((r[0].0, r[0].1.as_str()), (3, "amount"), "the reject's line: {r:?}");
        }
        c => panic!("exit {c}: {}", stderr(&out)),
    }
}

/// Each bad money text in each money column is a reject on that column.
#[test]
fn bad_money_in_every_money_column_is_a_reject_on_that_column() {
    let bad = [
        "1234567890123456789012345678901234567890", // 40 digits
        "1e3",
        "1E3",
        "1,000",
        "+5",
        "-5",
        "-0.00",
        "NaN",
        "inf",
        "١٢٣",    // Arabic-Indic digits
        "１２３", // full-width digits
        "5.",
        ".5",
        "0x10",
        "1 000",
        "1_000",
        "$5",
        "5 USD",
        "1.0000000",
    ];
    let mut failures = Vec::new();
    for value in bad {
        let q = format!("\"{value}\"");
        let cases: [(&str, String, &str); 6] = [
            ("orders.csv", order_with(&[(10, &q)]), "amount"),
            ("orders.csv", order_with(&[(11, &q)]), "coupon_amount"),
            ("payments.csv", payment_with(&[(4, &q)]), "amount"),
            ("unsubscriptions.csv", unsub_with(&[(11, &q)]), "refund_amount"),
            ("unsubscriptions.csv", unsub_with(&[(12, &q)]), "handling_fee"),
            ("unsubscriptions.csv", unsub_with(&[(13, &q)]), "coupon_returned"),
        ];
        for (file, row, column) in cases {
            let (mut o, mut p, mut u) = (vec![O1.to_string()], vec![P1.to_string()], vec![U1.to_string()]);
            match file {
                "orders.csv" => o.push(row),
                "payments.csv" => p.push(row),
                _ => u.push(row),
            }
            let f = Fixture::with(&strs(&o), &strs(&p), &strs(&u));
            let out = f.run(&[]);
            assert_no_panic(&out);
            if code(&out) != 0 {
                failures.push(format!(
                    "{value:?} in {file}/{column}: exit {}: {}",
                    code(&out),
                    stderr(&out)
                ));
                continue;
            }
            assert_rows_conserved(&f);
            let rejects = f.rows("rejects.csv");
            let got: Vec<String> = rejects
                .iter()
                .map(|r| {
                    format!(
                        "{}:{}:{}:{}",
                        r.get("file"),
                        r.get("line"),
                        r.get("column"),
                        r.get("reason")
                    )
                })
                .collect();
            let ok = rejects.len() == 1
                && rejects[0].get("file") == file
                && rejects[0].get("line") == "3"
                && rejects[0].get("column") == column
                // A value starting with + or - is written with a leading '
                // (formula injection), so compare without it.
                && rejects[0].get("value").trim_start_matches('\'') == value
                && !rejects[0].get("reason").is_empty();
            if !ok {
                failures.push(format!("{value:?} in {file}/{column}: rejects {got:?}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Every money column of every file at the largest accepted amount, on
/// 2,000 orders each paid twice and unsubscribed with partial refunds in
/// hours over a term from year 0001 to 9999, under the ten-a-year policy:
/// no overflow, no reject, exit 0, exact totals.
#[test]
fn largest_accepted_amount_in_every_money_column() {
    let f = Fixture::new();
    let policy = std::fs::read_to_string(repo().join("data/policies/ten-a-year.toml")).unwrap();
    let policy = policy.replace(
        "thresholds = { USD = \"1000\", EUR = \"1000\", CNY = \"7000\", JPY = \"150000\" }",
        "thresholds = { USD = \"1000\", JPY = \"150000\", KWD = \"300\" }",
    );
    assert!(policy.contains("KWD"), "the preset's thresholds line changed");
    f.policy(&policy);
    let currencies = ["USD", "JPY", "KWD"];
    let near = "9999999999999.999998";
    let (mut orders, mut payments, mut unsubs) = (Vec::new(), Vec::new(), Vec::new());
    for n in 0..2000u32 {
        let account = format!("A{:03}", n / 10);
        let cur = currencies[(n / 10) as usize % 3];
        let coupon = match n % 3 {
            0 => MAX, // fully paid by coupon
            1 => "0",
            _ => near, // cash_due 0.000001
        };
        orders.push(format!(
            "O{n},{account},i-{n},Max,edition,subscription,new,0001-01-01T00:00:00+08:00,0001-01-01T00:00:00+08:00,9999-12-31T23:59:59+08:00,{MAX},{coupon},{cur},false,false"
        ));
        let second = if n % 2 == 0 { "failed" } else { "succeeded" };
        payments.push(format!(
            "P{n}a,O{n},{account},0001-01-01T00:00:00+08:00,{MAX},{cur},credit_card,succeeded"
        ));
        payments.push(format!(
            "P{n}b,O{n},{account},0001-01-01T00:01:00+08:00,{MAX},{cur},credit_card,{second}"
        ));
        // One order in ten per account inside the 120 h window
        // (unconditional, coupons returned), the rest partial in year 5000.
        let (req, rev, done, paid, kind, cycle) = if n % 10 == 0 {
            (
                "0001-01-03T00:00:00+08:00",
                "0001-01-03T01:00:00+08:00",
                "0001-01-03T02:00:00+08:00",
                "0001-01-04T10:00:00+08:00",
                "unconditional",
                "0001-01",
            )
        } else {
            (
                "5000-06-15T12:00:00+08:00",
                "5000-06-15T13:00:00+08:00",
                "5000-06-15T14:00:00+08:00",
                "5000-06-16T10:00:00+08:00",
                "partial",
                "5000-06",
            )
        };
        unsubs.push(format!(
            "U{n},O{n},{account},,{req},{rev},{done},{paid},normal,completed,{kind},{MAX},{MAX},{MAX},credit_card,{cycle}"
        ));
    }
    f.file("orders.csv", &csv(ORDERS_HEADER, &strs(&orders)));
    f.file("payments.csv", &csv(PAYMENTS_HEADER, &strs(&payments)));
    f.file("unsubscriptions.csv", &csv(UNSUBS_HEADER, &strs(&unsubs)));

    let t = Instant::now();
    expect_reports(&f, &[]);
    eprintln!("largest amounts: run in {:?}", t.elapsed());
    assert!(
        f.rows("rejects.csv").is_empty(),
        "the largest accepted amount is accepted everywhere: {}",
        clip(&f.report("rejects.csv"), 2000)
    );
    let s = summary_of(&f);
    for (i, n) in [2000, 4000, 2000].iter().enumerate() {
        assert_eq!(s["inputs"][i]["accepted"], *n, "{}", s["inputs"][i]);
    }
    for c in currencies {
        let t = &s["refund_totals"][c];
        assert!(
            t["expected_refunds"].is_string() && t["recorded_refunds"].is_string(),
            "refund totals for {c}: {}",
            s["refund_totals"]
        );
    }
    // Every account's bill for 0001-01 holds its 10 orders, charged exactly
    // 10 x MAX = 99999999999999.99999, rounded once to the minor units.
    let bill = f.rows("monthly_bill.csv");
    let want = [
        ("USD", "100000000000000.00"),
        ("JPY", "100000000000000"),
        ("KWD", "100000000000000.000"),
    ];
    for (a, account) in (0..200).map(|a| (a, format!("A{a:03}"))) {
        let cur = currencies[a % 3];
        let row = bill
            .iter()
            .find(|b| b.get("account_id") == account && b.get("currency") == cur && b.get("orders") == "10")
            .unwrap_or_else(|| panic!("no bill row with the 10 orders of {account}"));
        let charged = want.iter().find(|w| w.0 == cur).unwrap().1;
        assert_eq!(row.get("charged"), charged, "{account}: {row:?}");
    }
    // The bill's expected refunds tie out with refunds.csv per currency
    // (the run's own control total, checked from the outside).
    let refunds = f.rows("refunds.csv");
    assert_eq!(refunds.len(), 2000);
    let sum = |rows: &[CsvRow], col: &str, cur: &str, filter: &dyn Fn(&CsvRow) -> bool| -> rust_decimal::Decimal {
        rows.iter()
            .filter(|r| r.get("currency") == cur && filter(r))
            .map(|r| r.get(col).parse::<rust_decimal::Decimal>().unwrap_or_default())
            .sum()
    };
    for c in currencies {
        let billed = sum(&bill, "expected_refunds", c, &|_| true);
        let refunded = sum(&refunds, "expected_refund", c, &|r| r.get("status") == "completed");
        assert_eq!(billed, refunded, "{c}");
        assert_eq!(
            s["refund_totals"][c]["expected_refunds"]
                .as_str()
                .unwrap()
                .parse::<rust_decimal::Decimal>()
                .unwrap(),
            refunded,
            "{c}: summary total"
        );
    }
}

/// 10000000000000 (one above the largest amount, 14 integer digits) and
/// 22-digit amounts are rejects naming the bound, in every money column.
#[test]
fn amounts_above_the_bound_are_rejects_naming_it() {
    let values = [
        "10000000000000",
        "10000000000000.000000",
        "10000000000000.5",
        "99999999999999",
        "1234567890123456789012",
        "1234567890123456789012.123456",
        "9999999999999999999999.999999",
    ];
    let mut failures = Vec::new();
    for value in values {
        let cases: [(&str, String, &str); 6] = [
            ("orders.csv", order_with(&[(10, value), (11, "0")]), "amount"),
            ("orders.csv", order_with(&[(10, MAX), (11, value)]), "coupon_amount"),
            ("payments.csv", payment_with(&[(4, value)]), "amount"),
            ("unsubscriptions.csv", unsub_with(&[(11, value)]), "refund_amount"),
            ("unsubscriptions.csv", unsub_with(&[(12, value)]), "handling_fee"),
            ("unsubscriptions.csv", unsub_with(&[(13, value)]), "coupon_returned"),
        ];
        for (file, row, column) in cases {
            let (mut o, mut p, mut u) = (vec![O1.to_string()], vec![P1.to_string()], vec![U1.to_string()]);
            match file {
                "orders.csv" => o.push(row),
                "payments.csv" => p.push(row),
                _ => u.push(row),
            }
            let f = Fixture::with(&strs(&o), &strs(&p), &strs(&u));
            let out = f.run(&[]);
            if code(&out) == 101 || stderr(&out).contains("panicked") {
                failures.push(format!(
                    "{value} in {file}/{column}: CRASH exit {}: {}",
                    code(&out),
                    clip(&stderr(&out), 600)
                ));
                continue;
            }
            if code(&out) != 0 {
                failures.push(format!(
                    "{value} in {file}/{column}: exit {}: {}",
                    code(&out),
                    stderr(&out)
                ));
                continue;
            }
            assert_rows_conserved(&f);
            let rejects = f.rows("rejects.csv");
            let ok = rejects.len() == 1
                && rejects[0].get("column") == column
                && rejects[0].get("line") == "3"
                && rejects[0].get("reason").contains(MAX);
            if !ok {
                let got: Vec<String> = rejects
                    .iter()
                    .map(|r| {
                        format!(
                            "{}:{}:{}:{}",
                            r.get("file"),
                            r.get("line"),
                            r.get("column"),
                            r.get("reason")
                        )
                    })
                    .collect();
                failures.push(format!("{value} in {file}/{column}: rejects {got:?}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------
// Timestamps at the edges.

/// Checks the reports of a run with far-off timestamps: rejects name a
/// column; every timestamp written is RFC 3339 and is the instant it
/// stands for; every billing cycle is `YYYY-MM`.
fn check_far_timestamps(f: &Fixture, unsub: &str, approved: &str) {
    let v = f.cmd("validate", &[]);
    assert_no_panic(&v);
    expect_code(&v, 0);
    expect_reports(f, &[]);
    for r in f.rows("rejects.csv") {
        assert!(!r.get("column").is_empty() && !r.get("reason").is_empty(), "{r:?}");
    }
    let mut problems = Vec::new();
    let rfc3339 = |what: String, v: &str, problems: &mut Vec<String>| {
        if !v.is_empty() && chrono::DateTime::parse_from_rfc3339(v).is_err() {
            problems.push(format!("{what} = {v:?} is not RFC 3339"));
        }
    };
    let refunds = f.rows("refunds.csv");
    for r in &refunds {
        for col in [
            "approved_at",
            "refund_deadline",
            "config_data_purge_at",
            "log_data_purge_at",
        ] {
            rfc3339(
                format!("refunds.csv {} {col}", r.get("unsub_id")),
                r.get(col),
                &mut problems,
            );
        }
        for col in ["expected_cycle", "recorded_cycle"] {
            let c = r.get(col);
            if !c.is_empty() && !is_month(c) {
                problems.push(format!(
                    "refunds.csv {} {col} = {c:?} is not YYYY-MM",
                    r.get("unsub_id")
                ));
            }
        }
    }
    // No review: approved_at is requested_at, the same instant.
    if let Some(r) = refunds.iter().find(|r| r.get("unsub_id") == unsub) {
        let want = chrono::DateTime::parse_from_rfc3339(approved).unwrap();
        match chrono::DateTime::parse_from_rfc3339(r.get("approved_at")) {
            Ok(got) if got == want => {}
            _ => problems.push(format!(
                "{unsub}: approved_at {:?} is not the instant {approved}",
                r.get("approved_at")
            )),
        }
    }
    for b in f.rows("monthly_bill.csv") {
        if !is_month(b.get("billing_cycle")) {
            problems.push(format!(
                "monthly_bill.csv billing_cycle {:?} is not YYYY-MM",
                b.get("billing_cycle")
            ));
        }
    }
    let s = summary_of(f);
    rfc3339("summary.json as_of".into(), s["as_of"].as_str().unwrap(), &mut problems);
    let e = f.cmd("explain", &[unsub]);
    assert_no_panic(&e);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

fn is_month(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 7 && b[4] == b'-' && b.iter().enumerate().all(|(i, c)| i == 4 || c.is_ascii_digit())
}

#[test]
fn timestamps_in_year_0000_are_rejected_and_year_0001_works() {
    // Year 0000 is refused (a reject naming the range 0001-9999) in every
    // timestamp column.
    let f = Fixture::with(
        &[O1, &order_with(&[(0, "O2"), (7, "0000-01-01T00:00:00Z")])],
        &[P1, &payment_with(&[(0, "P2"), (3, "0000-12-31T23:59:59+14:00")])],
        &[U1, &unsub_with(&[(0, "U2"), (4, "0000-06-01 10:00:00")])],
    );
    expect_reports(&f, &[]);
    let r = f.rows("rejects.csv");
    assert_eq!(r.len(), 3, "{}", f.report("rejects.csv"));
    for (x, col) in r.iter().zip(["ordered_at", "paid_at", "requested_at"]) {
        assert_eq!(x.get("column"), col, "{x:?}");
        assert!(x.get("reason").contains("0001-9999"), "{x:?}");
    }
    // Year 0001: before 1901 chrono-tz gives Asia/Shanghai its local mean
    // time, UTC+08:05:43; outputs write +08:05 with the local time shifted
    // to match, so every written timestamp is still the exact instant, and
    // +14:00 on 0001-01-01 lands in year 0000 locally: still four digits.
    let o = order_with(&[
        (0, "O2"),
        (7, "0001-01-01T00:00:00Z"),
        (8, "0001-01-01T00:00:00Z"),
        (9, "9999-12-31T23:59:59Z"),
    ]);
    let p = payment_with(&[(1, "O2"), (3, "0001-01-01T00:00:00+14:00")]);
    let u = unsub_with(&[
        (0, "U2"),
        (1, "O2"),
        (4, "0001-01-02T00:00:00Z"),
        (6, "0001-01-02T01:00:00Z"),
        (7, "0001-01-02T02:00:00Z"),
        (15, "0001-01"),
    ]);
    let f = Fixture::with(&[O1, &o], &[P1, &p], &[U1, &u]);
    check_far_timestamps(&f, "U2", "0001-01-02T00:00:00Z");
    assert!(
        f.rows("monthly_bill.csv")
            .iter()
            .any(|b| b.get("billing_cycle") == "0000-12"),
        "{}",
        f.report("monthly_bill.csv")
    );
}

#[test]
fn timestamps_in_year_9999_are_accepted_and_later_dates_use_expanded_years() {
    // 9999-12-31T23:59:59-14:00 is in year 10000 in UTC and in the billing
    // zone (UTC+8). Such instants, and deadlines or purge dates computed
    // past 9999, are written in ISO 8601's expanded form (+10000-…), which
    // RFC 3339 cannot express (docs/inputs.md, Decisions).
    let o = order_with(&[
        (0, "O3"),
        (7, "9999-12-31T23:59:59-14:00"),
        (8, "9999-12-31T23:59:59-14:00"),
        (9, "9999-12-31T23:59:59.999999-14:00"),
    ]);
    let p = payment_with(&[(0, "P3"), (1, "O3"), (3, "9999-12-31T23:59:59-14:00")]);
    let u = unsub_with(&[
        (0, "U3"),
        (1, "O3"),
        (4, "9999-12-31T23:59:59-14:00"),
        (6, "9999-12-31T23:59:59-14:00"),
        (7, "9999-12-31T23:59:59-14:00"),
        (15, "9999-12"),
    ]);
    let f = Fixture::with(&[O1, &o], &[P1, &p], &[U1, &u]);
    expect_reports(&f, &[]);
    assert_eq!(f.rows("rejects.csv").len(), 0, "{}", f.report("rejects.csv"));
    let refunds = f.rows("refunds.csv");
    let u3 = refund(&refunds, "U3");
    assert_eq!(u3.get("approved_at"), "+10000-01-01T21:59:59+08:00");
    assert_eq!(u3.get("expected_cycle"), "+10000-01");
    assert!(u3.get("refund_deadline").starts_with("+10000-01-"), "{u3:?}");
    assert!(u3.get("config_data_purge_at").starts_with("+10000-01-"), "{u3:?}");
    assert!(
        f.rows("monthly_bill.csv")
            .iter()
            .any(|b| b.get("billing_cycle") == "+10000-01"),
        "{}",
        f.report("monthly_bill.csv")
    );
    assert_eq!(summary_of(&f)["as_of"], "+10000-01-01T21:59:59+08:00");
    let e = f.cmd("explain", &["U3"]);
    assert_no_panic(&e);
    expect_code(&e, 0);
    // A run past 9999 is a usable baseline: its as_of and first_seen are
    // read back in the expanded form they were written in.
    let out = f.out().display().to_string();
    let again = f.run(&["--baseline", &out]);
    assert_no_panic(&again);
    expect_code(&again, 0);
    assert!(
        stdout(&again).starts_with("0 new errors since +10000-01-01T21:59:59+08:00"),
        "{}",
        stdout(&again)
    );
    assert!(f
        .rows("discrepancies.csv")
        .iter()
        .all(|d| d.get("status") == "persisting"));
    // An ordinary local time late in 9999 gives a deadline in 10000.
    let o4 = order_with(&[
        (0, "O4"),
        (7, "9999-12-30T10:00:00+08:00"),
        (8, "9999-12-30T10:00:00+08:00"),
        (9, "9999-12-31T20:00:00+08:00"),
    ]);
    let p4 = payment_with(&[(0, "P4"), (1, "O4"), (3, "9999-12-30T10:00:00+08:00")]);
    let u4 = unsub_with(&[
        (0, "U4"),
        (1, "O4"),
        (4, "9999-12-31T10:00:00+08:00"),
        (6, "9999-12-31T11:00:00+08:00"),
        (7, ""),
        (15, "9999-12"),
    ]);
    let f = Fixture::with(&[O1, &o4], &[P1, &p4], &[U1, &u4]);
    expect_reports(&f, &[]);
    let refunds = f.rows("refunds.csv");
    let deadline = refund(&refunds, "U4").get("refund_deadline").to_string();
    assert!(
        deadline.starts_with("+10000-01-0") && deadline.ends_with("T23:59:59+08:00"),
        "{deadline}"
    );
}

#[test]
fn leap_second_is_a_reject_naming_it() {
    // 23:59:60 is refused with a reason naming the leap second: the
    // exports' clocks do not produce them, and chrono-tz cannot place one.
    let f = Fixture::with(
        &[O1, &order_with(&[(7, "2016-12-31T23:59:60Z")])],
        &[P1],
        &[
            U1,
            &unsub_with(&[(4, "2021-09-02T23:59:60+08:00"), (6, ""), (9, "pending")]),
        ],
    );
    expect_reports(&f, &[]);
    let r = f.rows("rejects.csv");
    assert_eq!(r.len(), 2, "{}", f.report("rejects.csv"));
    assert_eq!((r[0].get("file"), r[0].get("column")), ("orders.csv", "ordered_at"));
    assert_eq!(
        (r[1].get("file"), r[1].get("column")),
        ("unsubscriptions.csv", "requested_at")
    );
    assert!(r.iter().all(|x| x.get("reason").contains("leap second")), "{r:?}");
}

#[test]
fn extreme_offsets_are_accepted() {
    // 2021-09-03T00:00:00+14:00 = 2021-09-02T18:00:00+08:00;
    // 2021-09-01T22:00:00-12:00 = 2021-09-02T18:00:00+08:00.
    let f = Fixture::with(
        &[O1, &order_with(&[(0, "O2")])],
        &[P1, &payment_with(&[(1, "O2"), (3, "2021-09-01T10:00:00-12:00")])],
        &[
            U1.replace(
                "2021-09-02T10:00:00+08:00,,2021-09-02T11:00:00+08:00",
                "2021-09-03T00:00:00+14:00,,2021-09-03T01:00:00+14:00",
            )
            .as_str(),
            &unsub_with(&[
                (1, "O2"),
                (4, "2021-09-01T22:00:00-12:00"),
                (6, "2021-09-01T23:00:00-12:00"),
            ]),
        ],
    );
    expect_reports(&f, &[]);
    assert!(f.rows("rejects.csv").is_empty(), "{}", f.report("rejects.csv"));
    let r = f.rows("refunds.csv");
    assert_eq!(refund(&r, "U1").get("approved_at"), "2021-09-02T18:00:00+08:00");
    assert_eq!(refund(&r, "U9").get("approved_at"), "2021-09-02T18:00:00+08:00");
}

#[test]
fn naive_times_in_a_dst_gap_are_rejects() {
    let ny = POLICY.replace("Asia/Shanghai", "America/New_York");
    let f = Fixture::with(
        &[O1, &order_with(&[(7, "2021-03-14T02:30:00")])],
        &[P1, &payment_with(&[(3, "2021-03-14 02:00:00")])],
        &[
            U1,
            &unsub_with(&[(4, "2021-03-14 02:59:59.5"), (6, "2021-03-15T00:00:00Z"), (7, "")]),
        ],
    );
    f.policy(&ny);
    expect_reports(&f, &[]);
    let r = f.rows("rejects.csv");
    let got: Vec<(&str, &str)> = r.iter().map(|x| (x.get("file"), x.get("column"))).collect();
    assert_eq!(
        got,
        [
            ("orders.csv", "ordered_at"),
            ("payments.csv", "paid_at"),
            ("unsubscriptions.csv", "requested_at")
        ]
    );
    assert!(r.iter().all(|x| x.get("reason").contains("does not exist")), "{r:?}");
    // With an explicit offset the same wall time is fine.
    let f = Fixture::with(&[O1, &order_with(&[(7, "2021-03-14T02:30:00-05:00")])], &[P1], &[U1]);
    f.policy(&ny);
    expect_reports(&f, &[]);
    assert!(f.rows("rejects.csv").is_empty(), "{}", f.report("rejects.csv"));
}

// ---------------------------------------------------------------------
// Many rows of one kind.

#[test]
fn three_thousand_duplicate_order_ids() {
    let rows: Vec<&str> = std::iter::repeat_n(O1, 3000).collect();
    let f = Fixture::with(&rows, &[P1], &[U1]);
    expect_reports(&f, &[]);
    let s = summary_of(&f);
    assert_eq!(
        (
            s["inputs"][0]["rows_read"].as_u64(),
            s["inputs"][0]["accepted"].as_u64()
        ),
        (Some(3000), Some(1))
    );
    let r = rejects_of(&f, "orders.csv");
    assert_eq!(r.len(), 2999);
    for (i, (line, column, reason, id)) in r.iter().enumerate() {
        assert_eq!(*line, i as u64 + 3, "sorted by line");
        assert_eq!((column.as_str(), id.as_str()), ("order_id", "O1"));
        assert!(reason.contains("line 2"), "{reason}");
    }
}

#[test]
fn one_batch_id_shared_by_every_unsubscription() {
    // 1,000 accounts, one order and one unsubscription each, all in batch
    // B1: every row but the batch's first differs from it.
    let (mut o, mut p, mut u) = (Vec::new(), Vec::new(), Vec::new());
    for n in 0..1000 {
        let a = format!("A{n:04}");
        o.push(with_cell(O1, &format!("O{n}"), &[(1, &a), (2, &format!("i-{n}"))]));
        p.push(with_cell(P1, &format!("P{n}"), &[(1, &format!("O{n}")), (2, &a)]));
        let req = format!("2021-09-02T10:{:02}:{:02}+08:00", n / 60 % 60, n % 60);
        u.push(with_cell(
            U1,
            &format!("U{n}"),
            &[(1, &format!("O{n}")), (2, &a), (3, "B1"), (4, &req)],
        ));
    }
    let f = Fixture::with(&strs(&o), &strs(&p), &strs(&u));
    let t = Instant::now();
    expect_reports(&f, &[]);
    assert!(t.elapsed() < Duration::from_secs(30), "took {:?}", t.elapsed());
    let d = f.rows("discrepancies.csv");
    let batch: Vec<&CsvRow> = d.iter().filter(|x| x.get("code") == "BATCH_INCONSISTENT").collect();
    assert_eq!(batch.len(), 999, "{}", clip(&f.report("discrepancies.csv"), 2000));
    assert_eq!(summary_of(&f)["findings"]["by_code"]["BATCH_INCONSISTENT"], 999);
    assert!(
        batch.iter().all(|x| x.get("field") == "account_id"),
        "accounts differ first"
    );
}
