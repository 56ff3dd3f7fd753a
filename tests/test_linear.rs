//! Linear in every input (issue 18): a batch, an instance or an order
//! shared by 100,000 rows keeps the run, explain.idx and each explain slice
//! linear. Each test builds the shape, runs, and checks explain.idx's size,
//! its slice row counts, and that `explain --reports` answers as a fresh
//! evaluation does. Times are measured by benches/bench.py, not here.

use std::path::Path;
use std::process::Command;

use refund_recon::explain::store::Index;

use crate::common::*;

const N: usize = 100_000;

/// The explain slices that answer for `id`, and their rows per input.
fn slice_rows(reports: &Path, id: &str) -> [usize; 3] {
    let idx = Index::open(reports).unwrap();
    let slices = idx.slices_of(&idx.accounts_of(id).unwrap()).unwrap();
    [0, 1, 2].map(|f| idx.slice_lines(f, &slices).unwrap().len())
}

/// explain.idx's size and its header's row counts (slices, groups, links).
fn index_of(reports: &Path) -> (u64, refund_recon::explain::store::Header) {
    let size = std::fs::metadata(reports.join("explain.idx")).unwrap().len();
    (size, Index::open(reports).unwrap().header)
}

/// The index stays within a fixed number of bytes per input row.
fn assert_linear_size(size: u64, rows: usize) {
    assert!(
        size <= 64 * rows as u64 + 65_536,
        "explain.idx is {size} bytes for {rows} rows"
    );
}

/// `explain ID --reports` prints what a fresh `explain ID` prints.
fn assert_explained_alike(f: &Fixture, ids: &[&str]) {
    let reports = f.out().display().to_string();
    for id in ids {
        let fresh = f.cmd("explain", &[id]);
        let stored = Command::new(BIN)
            .current_dir(f.path())
            .args(["explain", id, "--reports", &reports])
            .output()
            .unwrap();
        expect_code(&stored, 0);
        assert_eq!(stdout(&fresh), stdout(&stored), "{id}");
    }
}

fn order_row(id: &str, account: &str, instance: &str, kind: &str, mode: &str, ty: &str) -> String {
    format!(
        "{id},{account},{instance},Host Security,{kind},{mode},{ty},2021-09-01T10:00:00+08:00,2021-09-01T10:00:00+08:00,2022-09-01T10:00:00+08:00,300.00,0.00,USD,false,false"
    )
}

fn payment_row(id: &str, order: &str, account: &str) -> String {
    format!("{id},{order},{account},2021-09-01T10:00:00+08:00,300.00,USD,credit_card,succeeded")
}

fn unsub_row(id: &str, order: &str, account: &str, batch: &str, requested_day: u32) -> String {
    format!(
        "{id},{order},{account},{batch},2021-09-{requested_day:02}T10:00:00+08:00,,2021-09-{requested_day:02}T11:00:00+08:00,2021-09-{requested_day:02}T12:00:00+08:00,normal,completed,partial,276.17,0.00,0.00,credit_card,2021-09"
    )
}

fn write(f: &Fixture, orders: Vec<String>, payments: Vec<String>, unsubs: Vec<String>) {
    let join = |header: &str, rows: Vec<String>| {
        let mut s = String::with_capacity(rows.len() * 160);
        s.push_str(header);
        s.push('\n');
        for r in rows {
            s.push_str(&r);
            s.push('\n');
        }
        s
    };
    f.file("orders.csv", &join(ORDERS_HEADER, orders));
    f.file("payments.csv", &join(PAYMENTS_HEADER, payments));
    f.file("unsubscriptions.csv", &join(UNSUBS_HEADER, unsubs));
}

/// 100,000 accounts whose unsubscriptions all carry one batch_id (an
/// export that fills the column with a constant): each slice holds its own
/// rows and the batch's first row, not the batch.
#[test]
fn one_batch_of_100_000_accounts_stays_linear() {
    let f = Fixture::new();
    let (mut orders, mut payments, mut unsubs) = (vec![], vec![], vec![]);
    for i in 0..N {
        let (o, a) = (format!("o{i:06}"), format!("a{i:06}"));
        orders.push(order_row(&o, &a, &format!("i{i}"), "edition", "subscription", "new"));
        payments.push(payment_row(&format!("p{i:06}"), &o, &a));
        // Every 1000th row asks on another day: R11 flags it too.
        let day = if i % 1000 == 999 { 11 } else { 10 };
        unsubs.push(unsub_row(&format!("u{i:06}"), &o, &a, "B-ALL", day));
    }
    write(&f, orders, payments, unsubs);
    expect_code(&f.run(&[]), 0);
    let findings = f.rows("discrepancies.csv");
    let batch = findings
        .iter()
        .filter(|r| r.get("code") == "BATCH_INCONSISTENT")
        .count();
    assert_eq!(batch, N - 1, "every account differs from the first row's");

    let (size, h) = index_of(&f.out());
    println!(
        "one batch of {N} accounts: explain.idx {size} bytes, slice rows {:?}",
        h.lines
    );
    assert_linear_size(size, 3 * N);
    assert_eq!(h.lines, [N as u64, N as u64, 2 * N as u64 - 1]);
    assert_eq!((h.groups, h.links), (0, 0));
    // A member: its own three rows and the batch's first row.
    assert_eq!(slice_rows(&f.out(), "u050000"), [1, 1, 2]);
    assert_eq!(slice_rows(&f.out(), "u000000"), [1, 1, 1]);
    assert_explained_alike(&f, &["u050000", "u000999", "a000999", "u000000"]);
}

/// One account whose 100,000 orders all name one instance (a mapping with
/// a constant instance_id): R10 sweeps the instance once.
#[test]
fn one_instance_of_100_000_orders_stays_linear() {
    let f = Fixture::new();
    let (mut orders, mut payments, mut unsubs) = (vec![], vec![], vec![]);
    let kinds = [
        ("asset_quota", "subscription", "new"),
        ("value_added", "subscription", "new"),
        ("asset_quota", "pay_per_use", "new"),
        ("value_added", "pay_per_use", "usage"),
    ];
    for i in 0..N {
        let o = format!("o{i:06}");
        let (kind, mode, ty) = kinds[i % kinds.len()];
        let mut row = order_row(&o, "a1", "i-shared", kind, mode, ty);
        if ty == "usage" {
            // Charged from October: after the September releases.
            row = row.replace(",2021-09-01T10:00:00+08:00,2022", ",2021-10-01T10:00:00+08:00,2022");
        }
        orders.push(row);
        payments.push(payment_row(&format!("p{i:06}"), &o, "a1"));
        if ty != "usage" {
            unsubs.push(unsub_row(&format!("u{i:06}"), &o, "a1", "", 10 + (i % 3) as u32));
        }
    }
    write(&f, orders, payments, unsubs);
    expect_code(&f.run(&[]), 0);
    let findings = f.rows("discrepancies.csv");
    for code in ["CHARGED_AFTER_RELEASE", "VAS_BEFORE_QUOTA"] {
        assert!(findings.iter().any(|r| r.get("code") == code), "{code}");
    }

    let (size, h) = index_of(&f.out());
    println!(
        "one instance of {N} orders: explain.idx {size} bytes, slice rows {:?}",
        h.lines
    );
    assert_linear_size(size, 11 * N / 4);
    assert_eq!(h.lines, [N as u64, N as u64, 3 * N as u64 / 4]);
    assert_eq!((h.groups, h.links), (0, 0));
    assert_eq!(slice_rows(&f.out(), "u000002"), [N, N, 3 * N / 4]);
    assert_explained_alike(&f, &["u000001", "u000002", "u099998"]);
}

/// One order named by 100,000 unsubscriptions of other accounts, and paid
/// by 100 payments: the order and its payments are stored once, as a group
/// each of those accounts links to.
#[test]
fn one_order_named_by_100_000_unsubscriptions_stays_linear() {
    let f = Fixture::new();
    let orders = vec![order_row("o-shared", "owner", "i-1", "edition", "subscription", "new")];
    let payments: Vec<String> = (0..100)
        .map(|i| payment_row(&format!("p{i:03}"), "o-shared", "owner"))
        .collect();
    let unsubs: Vec<String> = (0..N)
        .map(|i| unsub_row(&format!("u{i:06}"), "o-shared", &format!("a{i:06}"), "", 10))
        .collect();
    write(&f, orders, payments, unsubs);
    expect_code(&f.run(&[]), 0);
    let findings = f.rows("discrepancies.csv");
    let mismatched = findings.iter().filter(|r| r.get("code") == "ACCOUNT_MISMATCH").count();
    assert_eq!(mismatched, N);

    let (size, h) = index_of(&f.out());
    println!(
        "one order named by {N} unsubscriptions: explain.idx {size} bytes, slice rows {:?}",
        h.lines
    );
    assert_linear_size(size, N + 101);
    // Orders: the owner's and the group's; payments: the same 100 twice;
    // unsubscriptions: each its own and in the owner's slice.
    assert_eq!(h.lines, [2, 200, 2 * N as u64]);
    assert_eq!((h.groups, h.links), (1, N as u64));
    assert_eq!(slice_rows(&f.out(), "u050000"), [1, 100, 1]);
    assert_eq!(slice_rows(&f.out(), "a050000"), [1, 100, 1]);
    assert_explained_alike(&f, &["u050000", "a000001"]);
}
