use super::*;
use catalog::Cur;
use chrono::DateTime;
use std::collections::{HashMap, HashSet};
use std::path::Path;

use crate::model::{BillingMode, ExpectedType, ItemKind, OrderType};
use crate::time::days_from_civil;

fn bundled() -> Policy {
    Policy::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("data/policy.toml")).unwrap()
}

fn opts(dir: &Path, orders: u64, seed: u64) -> GenerateOptions {
    GenerateOptions {
        out: dir.to_path_buf(),
        accounts: (orders / 10).max(1),
        orders,
        seed,
        error_rate: 0.02,
        malformed_rate: 0.0,
        policy: bundled(),
        layout: Layout::default(),
    }
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap()
}

fn files(dir: &Path) -> [Vec<u8>; 3] {
    ["orders.csv", "payments.csv", "unsubscriptions.csv"].map(|f| std::fs::read(dir.join(f)).unwrap())
}

/// Minimal RFC 4180 reader (LF line ends, as written here).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    assert!(field.is_empty() && row.is_empty(), "file ends with a newline");
    rows
}

fn table(dir: &Path, name: &str) -> (Vec<String>, Vec<HashMap<String, String>>) {
    let mut rows = parse_csv(&read(dir, name));
    let header = rows.remove(0);
    let maps = rows
        .into_iter()
        .map(|r| {
            assert_eq!(r.len(), header.len(), "{name}: {r:?}");
            header.iter().cloned().zip(r).collect()
        })
        .collect();
    (header, maps)
}

fn is_money(s: &str) -> bool {
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.is_none_or(|f| (1..=6).contains(&f.len()) && f.bytes().all(|b| b.is_ascii_digit()))
}

/// RFC 3339 with an offset (`T` or a space between date and time).
fn parse_ts(s: &str) -> DateTime<chrono::FixedOffset> {
    let b = s.as_bytes();
    assert!(b.len() >= 20 && (b[10] == b'T' || b[10] == b' '), "timestamp {s}");
    assert!(s.ends_with('Z') || s.ends_with("+08:00"), "offset of {s}");
    DateTime::parse_from_rfc3339(&s.replacen(' ', "T", 1)).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// Unix seconds of a local date at an hour, through the policy's calendar.
fn local_ts(terms: &Terms<'_>, y: i64, m: i64, d: i64, h: i64) -> i64 {
    terms.day_start(days_from_civil(y, m, d)) + h * HOUR
}

fn zoned(zone: &str) -> Policy {
    let mut p = bundled();
    p.billing_timezone = zone.parse().unwrap();
    p
}

/// An order of the generator's own, for the rule boundary.
fn order(start: i64, days: i64, amount: i64, cur: Cur) -> accounts::Order {
    accounts::Order {
        account: 0,
        instance: 0,
        product: 0,
        item: ItemKind::Edition,
        mode: BillingMode::Subscription,
        otype: OrderType::New,
        cur,
        promo: false,
        invoice: false,
        bool_style: 0,
        ts_style: [0; 3],
        ordered_at: start,
        start,
        end: start + days * DAY,
        amount,
        coupon: 0,
        original: None,
    }
}

#[test]
fn zone_offsets_and_timestamps_follow_the_calendar() {
    for zone in ["Asia/Shanghai", "America/New_York", "Asia/Kolkata"] {
        let p = zoned(zone);
        let terms = Terms::new(&p).unwrap();
        for t in (terms.start - 400 * DAY..terms.horizon + 5 * 365 * DAY).step_by(6 * 3600 + 17) {
            assert_eq!(terms.offset(t).seconds, terms.cal.offset_seconds(t), "{zone} at {t}");
            // Around the day edges too, where a transition may fall.
            let edge = t - t.rem_euclid(DAY);
            assert_eq!(
                terms.offset(edge - 1).seconds,
                terms.cal.offset_seconds(edge - 1),
                "{zone}"
            );
        }
        for t in [
            terms.start,
            terms.horizon,
            terms.horizon + 1000 * DAY + 7,
            0,
            4_000_000_000,
        ] {
            let mut buf = Vec::new();
            write::push_ts(&mut buf, &terms, t, 0);
            let text = String::from_utf8(buf).unwrap();
            assert_eq!(text, terms.cal.format(t * crate::time::SECOND), "{zone}");
        }
    }
    let p = bundled();
    let terms = Terms::new(&p).unwrap();
    let t = local_ts(&terms, 2021, 10, 1, 0) + 30 * MINUTE;
    let mut buf = Vec::new();
    write::push_ts(&mut buf, &terms, t, write::TS_UTC);
    assert_eq!(buf, b"2021-09-30T16:30:00Z");
    buf.clear();
    write::push_ts(&mut buf, &terms, t, 0);
    assert_eq!(buf, b"2021-10-01T00:30:00+08:00");
    assert_eq!(terms.cycle(t).to_string(), "2021-10");
    assert_eq!(terms.next_month_start(t - HOUR), t - 30 * MINUTE);
    assert_eq!(terms.year(local_ts(&terms, 2022, 1, 1, 0) - 1), 2021);
    assert_eq!(terms.local_day(t), days_from_civil(2021, 10, 1));
    let ny = zoned("America/New_York");
    let terms = Terms::new(&ny).unwrap();
    let mut buf = Vec::new();
    write::push_ts(&mut buf, &terms, local_ts(&terms, 2021, 7, 1, 12), 0);
    assert_eq!(buf, b"2021-07-01T12:00:00-04:00");
}

#[test]
fn spec_worked_examples_through_the_rules() {
    let p = bundled();
    let terms = Terms::new(&p).unwrap();
    // Example 4: 365-day term, cash_due 300.00, requested 100 days and
    // 1 hour after service_start -> 216.99.
    let s = local_ts(&terms, 2021, 3, 1, 0);
    let o = order(s, 365, 30_000, Cur::Usd);
    let partial = (ExpectedType::Partial, Some([21_699, 0, 0]));
    assert_eq!(terms.type_and_amounts(&o, s + 100 * DAY + HOUR, 0, true), partial);
    // R3c: the window is inclusive; the quota is one a year.
    let full = (ExpectedType::Unconditional, Some([30_000, 0, 0]));
    assert_eq!(terms.type_and_amounts(&o, s + 120 * HOUR, 0, true), full);
    assert_eq!(
        terms.type_and_amounts(&o, s + 120 * HOUR, 1, false).0,
        ExpectedType::Partial
    );
    assert_eq!(
        terms.type_and_amounts(&o, s + 120 * HOUR + 1, 0, false),
        (ExpectedType::Partial, None)
    );
    // JPY has no minor units: 1001 yen, 7/8 left -> 876.
    let mut o = order(s, 8, 1001, Cur::Jpy);
    o.otype = OrderType::Renewal;
    assert_eq!(
        terms.type_and_amounts(&o, s + DAY, 0, true),
        (ExpectedType::Partial, Some([876, 0, 0]))
    );
    // Example 6: approved Friday 2021-10-08 10:00 -> Tuesday 23:59:59.
    let approved = local_ts(&terms, 2021, 10, 8, 10);
    assert_eq!(terms.deadline(approved), local_ts(&terms, 2021, 10, 13, 0) - 1);
    // National Day holidays are not business days.
    assert_eq!(
        terms.deadline(local_ts(&terms, 2021, 9, 30, 10)),
        local_ts(&terms, 2021, 10, 12, 0) - 1
    );
    assert_eq!(
        terms.business_days_after(local_ts(&terms, 2021, 9, 30, 23), 1),
        days_from_civil(2021, 10, 8)
    );
    // R5: above the USD 1000 threshold, auto-approved after 24 hours.
    let big = order(s, 365, 100_001, Cur::Usd);
    assert!(terms.review_required(&big) && !terms.review_required(&order(s, 365, 100_000, Cur::Usd)));
    assert_eq!(terms.approved_at(true, s, None), s + 24 * HOUR);
    assert_eq!(terms.approved_at(true, s, Some(s + HOUR)), s + HOUR);
    assert_eq!(terms.approved_at(false, s, None), s);
}

#[test]
fn a_policy_the_generator_cannot_follow_is_refused() {
    let mut p = bundled();
    p.review.thresholds.remove(&Cur::Jpy.currency());
    let e = Terms::new(&p).err().unwrap();
    assert!(e.to_string().contains("JPY"), "{e}");
    let mut p = bundled();
    p.refund.fallback_destination = "voucher".into();
    let e = Terms::new(&p).err().unwrap();
    assert!(e.to_string().contains("voucher"), "{e}");
    let d = tmp();
    assert!(generate(&GenerateOptions {
        policy: Policy::default(),
        ..opts(d.path(), 10, 1)
    })
    .is_err());
}

#[test]
fn same_seed_gives_identical_files_whatever_the_threads() {
    let (a, b) = (tmp(), tmp());
    let ra = generate(&opts(a.path(), 20_000, 7)).unwrap();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    let rb = pool.install(|| generate(&opts(b.path(), 20_000, 7))).unwrap();
    assert_eq!(ra, rb);
    assert_eq!(files(a.path()), files(b.path()));
}

#[test]
fn different_seed_gives_different_files() {
    let (a, b) = (tmp(), tmp());
    generate(&opts(a.path(), 5_000, 1)).unwrap();
    generate(&opts(b.path(), 5_000, 2)).unwrap();
    let (fa, fb) = (files(a.path()), files(b.path()));
    for i in 0..3 {
        assert_ne!(fa[i], fb[i]);
    }
}

#[test]
fn headers_are_the_spec_columns() {
    let d = tmp();
    generate(&opts(d.path(), 100, 3)).unwrap();
    let spec = [
        ("orders.csv", "order_id account_id instance_id product item_kind billing_mode order_type ordered_at service_start service_end amount coupon_amount currency promotional invoice_issued"),
        ("payments.csv", "payment_id order_id account_id paid_at amount currency method status"),
        ("unsubscriptions.csv", "unsub_id order_id account_id batch_id requested_at reviewed_at completed_at refunded_at instance_state status refund_type refund_amount handling_fee coupon_returned refund_destination billing_cycle"),
    ];
    for (file, cols) in spec {
        let (header, _) = table(d.path(), file);
        assert_eq!(header, cols.split(' ').collect::<Vec<_>>(), "{file}");
    }
}

#[test]
fn row_counts_follow_the_options() {
    let d = tmp();
    let r = generate(&opts(d.path(), 50_000, 11)).unwrap();
    assert_eq!(r.orders, 50_000);
    let pay = r.payments as f64 / r.orders as f64;
    let uns = r.unsubscriptions as f64 / r.orders as f64;
    assert!((0.95..1.25).contains(&pay), "payments per order {pay}");
    assert!((0.12..0.3).contains(&uns), "unsubscriptions per order {uns}");
    assert_eq!(r.malformed, 0);
    for (file, n) in [
        ("orders.csv", r.orders),
        ("payments.csv", r.payments),
        ("unsubscriptions.csv", r.unsubscriptions),
    ] {
        assert_eq!(table(d.path(), file).1.len() as u64, n, "{file}");
    }
    // Accounts: exactly as many as asked when each has orders.
    let (_, orders) = table(d.path(), "orders.csv");
    let accounts: HashSet<&str> = orders.iter().map(|o| o["account_id"].as_str()).collect();
    assert_eq!(accounts.len(), 5_000);
    // More accounts than orders, and no orders at all.
    let r = generate(&GenerateOptions {
        accounts: 50,
        ..opts(d.path(), 7, 1)
    })
    .unwrap();
    assert_eq!(r.orders, 7);
    let r = generate(&opts(d.path(), 0, 1)).unwrap();
    assert_eq!((r.orders, r.payments, r.unsubscriptions), (0, 0, 0));
    assert_eq!(read(d.path(), "orders.csv"), format!("{ORDERS_HEADER}\n"));
}

#[test]
fn clean_cells_are_well_formed_and_linked() {
    let d = tmp();
    let o = GenerateOptions {
        error_rate: 0.0,
        ..opts(d.path(), 20_000, 5)
    };
    generate(&o).unwrap();
    let (_, orders) = table(d.path(), "orders.csv");
    let (_, payments) = table(d.path(), "payments.csv");
    let (_, unsubs) = table(d.path(), "unsubscriptions.csv");
    let mut by_id = HashMap::new();
    let mut quoted_product = false;
    for o in &orders {
        for c in ["amount", "coupon_amount"] {
            assert!(is_money(&o[c]), "{c} {}", o[c]);
        }
        let (start, end) = (parse_ts(&o["service_start"]), parse_ts(&o["service_end"]));
        parse_ts(&o["ordered_at"]);
        assert!(end > start);
        let amount: rust_decimal::Decimal = o["amount"].parse().unwrap();
        let coupon: rust_decimal::Decimal = o["coupon_amount"].parse().unwrap();
        assert!(coupon <= amount);
        assert!(o["order_type"] != "usage" || o["billing_mode"] == "pay_per_use");
        if o["currency"] == "JPY" {
            assert!(!o["amount"].contains('.'));
        }
        quoted_product |= o["product"].contains(',');
        assert!(by_id.insert(o["order_id"].clone(), o).is_none(), "duplicate order id");
    }
    assert!(quoted_product);
    let mut paid: HashMap<&str, rust_decimal::Decimal> = HashMap::new();
    let mut ids = HashSet::new();
    for p in &payments {
        assert!(is_money(&p["amount"]));
        parse_ts(&p["paid_at"]);
        let o = by_id[&p["order_id"]];
        assert_eq!(o["account_id"], p["account_id"]);
        assert_eq!(o["currency"], p["currency"]);
        assert!(ids.insert(p["payment_id"].clone()));
        if p["status"] == "succeeded" {
            *paid.entry(p["order_id"].as_str()).or_default() += p["amount"].parse::<rust_decimal::Decimal>().unwrap();
        }
    }
    for (id, sum) in paid {
        let o = by_id[id];
        let due = o["amount"].parse::<rust_decimal::Decimal>().unwrap()
            - o["coupon_amount"].parse::<rust_decimal::Decimal>().unwrap();
        assert_eq!(sum, due, "payments of {id}");
    }
    let mut ids = HashSet::new();
    let mut completed_orders = HashSet::new();
    for u in &unsubs {
        assert!(ids.insert(u["unsub_id"].clone()));
        let o = by_id[&u["order_id"]];
        assert_eq!(o["account_id"], u["account_id"]);
        let requested = parse_ts(&u["requested_at"]);
        for c in ["reviewed_at", "completed_at", "refunded_at"] {
            if !u[c].is_empty() {
                assert!(parse_ts(&u[c]) >= requested, "{c} before requested_at");
            }
        }
        match u["status"].as_str() {
            "completed" => {
                assert_eq!(u["instance_state"], "normal");
                assert!(completed_orders.insert(u["order_id"].clone()), "two completions");
                for c in ["refund_amount", "handling_fee", "coupon_returned"] {
                    assert!(is_money(&u[c]), "{c} {}", u[c]);
                }
                if u["refund_amount"].parse::<rust_decimal::Decimal>().unwrap() > rust_decimal::Decimal::ZERO {
                    assert!(!u["refund_destination"].is_empty() && u["billing_cycle"].len() == 7);
                }
            }
            "rejected" | "pending" => {
                for c in [
                    "completed_at",
                    "refunded_at",
                    "refund_type",
                    "refund_amount",
                    "billing_cycle",
                ] {
                    assert!(u[c].is_empty());
                }
            }
            s => panic!("status {s}"),
        }
    }
}

#[test]
fn error_rate_changes_the_wrong_count_only() {
    let (a, b) = (tmp(), tmp());
    let clean = generate(&GenerateOptions {
        error_rate: 0.0,
        ..opts(a.path(), 20_000, 9)
    })
    .unwrap();
    let wrong = generate(&GenerateOptions {
        error_rate: 0.1,
        ..opts(b.path(), 20_000, 9)
    })
    .unwrap();
    assert_eq!(clean.wrong_recorded, 0);
    assert!(wrong.wrong_recorded > 100, "{wrong:?}");
    assert_eq!(
        (clean.orders, clean.payments, clean.unsubscriptions),
        (wrong.orders, wrong.payments, wrong.unsubscriptions)
    );
    let (fa, fb) = (files(a.path()), files(b.path()));
    assert!(
        fa[0] == fb[0] && fa[1] == fb[1],
        "orders and payments do not depend on the error rate"
    );
    assert!(fa[2] != fb[2]);
}

#[test]
fn malformed_rows_are_extra_rows() {
    let (a, b) = (tmp(), tmp());
    let clean = generate(&opts(a.path(), 20_000, 4)).unwrap();
    let bad = generate(&GenerateOptions {
        malformed_rate: 0.05,
        ..opts(b.path(), 20_000, 4)
    })
    .unwrap();
    assert_eq!(
        (clean.orders, clean.payments, clean.unsubscriptions),
        (bad.orders, bad.payments, bad.unsubscriptions)
    );
    let lines = |d: &Path| -> u64 {
        ["orders.csv", "payments.csv", "unsubscriptions.csv"]
            .iter()
            .map(|f| parse_csv(&read(d, f)).len() as u64 - 1)
            .sum()
    };
    let valid = bad.orders + bad.payments + bad.unsubscriptions;
    assert_eq!(lines(b.path()), valid + bad.malformed);
    let share = bad.malformed as f64 / (valid + bad.malformed) as f64;
    assert!((0.04..0.06).contains(&share), "malformed share {share}");
    // The valid rows are the clean data set's rows, in the same order.
    let (_, clean_orders) = table(a.path(), "orders.csv");
    let rows = parse_csv(&read(b.path(), "orders.csv"));
    let mut seen = HashSet::new();
    let kept: Vec<&Vec<String>> = rows[1..]
        .iter()
        .filter(|r| r.len() == 15 && r[0].starts_with('O') && !r[0].ends_with('M') && seen.insert(r[0].clone()))
        .collect();
    assert_eq!(kept.len(), clean_orders.len());
    for (k, c) in kept.iter().zip(&clean_orders) {
        assert_eq!(k[0], c["order_id"]);
        assert_eq!(k[10], c["amount"]);
    }
}

#[test]
fn bad_options_are_refused() {
    let d = tmp();
    assert!(generate(&GenerateOptions {
        accounts: 0,
        ..opts(d.path(), 10, 1)
    })
    .is_err());
    assert!(generate(&GenerateOptions {
        error_rate: 1.5,
        ..opts(d.path(), 10, 1)
    })
    .is_err());
    assert!(generate(&GenerateOptions {
        malformed_rate: 1.0,
        ..opts(d.path(), 10, 1)
    })
    .is_err());
    assert!(generate(&GenerateOptions {
        malformed_rate: f64::NAN,
        ..opts(d.path(), 10, 1)
    })
    .is_err());
}

/// The time of a generated timestamp cell (any of the written styles).
fn instant(cell: &str) -> i64 {
    DateTime::parse_from_rfc3339(&cell.replacen(' ', "T", 1))
        .unwrap_or_else(|e| panic!("{cell}: {e}"))
        .timestamp()
}

#[test]
fn interleaved_is_the_by_account_rows_in_time_order() {
    let (a, b) = (tmp(), tmp());
    let by_account = generate(&GenerateOptions {
        layout: Layout::ByAccount,
        ..opts(a.path(), 20_000, 3)
    })
    .unwrap();
    let interleaved = generate(&opts(b.path(), 20_000, 3)).unwrap();
    assert_eq!(by_account, interleaved);
    for (file, time) in [
        ("orders.csv", "ordered_at"),
        ("payments.csv", "paid_at"),
        ("unsubscriptions.csv", "requested_at"),
    ] {
        let (ta, tb) = (read(a.path(), file), read(b.path(), file));
        assert_ne!(ta, tb, "{file}: the layouts differ");
        let (mut la, mut lb): (Vec<&str>, Vec<&str>) = (ta.lines().collect(), tb.lines().collect());
        assert_eq!(la[0], lb[0], "{file}: one header");
        // Time order, ties in by-account order.
        let (_, rows) = table(b.path(), file);
        let times: Vec<i64> = rows.iter().map(|r| instant(&r[time])).collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "{file} is in {time} order");
        // Accounts interleave: the first 100 rows name many accounts.
        let first: HashSet<&str> = rows.iter().take(100).map(|r| r["account_id"].as_str()).collect();
        assert!(
            first.len() > 50,
            "{file}: {} accounts in the first 100 rows",
            first.len()
        );
        // The same rows.
        la.sort_unstable();
        lb.sort_unstable();
        assert_eq!(la, lb, "{file}: the same rows");
    }
}

#[test]
fn interleaved_keeps_malformed_rows_after_their_row() {
    let (a, b) = (tmp(), tmp());
    let o = GenerateOptions {
        malformed_rate: 0.05,
        ..opts(a.path(), 5_000, 8)
    };
    let ra = generate(&GenerateOptions {
        layout: Layout::ByAccount,
        ..o.clone()
    })
    .unwrap();
    let rb = generate(&GenerateOptions {
        out: b.path().to_path_buf(),
        ..o
    })
    .unwrap();
    assert_eq!(ra, rb);
    assert!(ra.malformed > 100, "{ra:?}");
    for file in ["orders.csv", "payments.csv", "unsubscriptions.csv"] {
        let pairs = |dir: &Path| {
            let text = read(dir, file);
            let lines: Vec<String> = text.lines().map(str::to_owned).collect();
            // Each row that is not a plain valid one (its id ends in M, or
            // it repeats the row before), with the row before it.
            let mut p: Vec<(String, String)> = lines
                .windows(2)
                .filter(|w| w[1].split(',').next().is_some_and(|id| id.ends_with('M')) || w[0] == w[1])
                .map(|w| (w[0].clone(), w[1].clone()))
                .collect();
            p.sort_unstable();
            (p, lines.len())
        };
        let (pa, na) = pairs(a.path());
        let (pb, nb) = pairs(b.path());
        assert_eq!(na, nb, "{file}: as many lines");
        assert!(!pa.is_empty(), "{file} has malformed rows");
        assert_eq!(pa, pb, "{file}: every malformed row follows the same row");
    }
}

#[test]
fn the_interleaved_layout_merged_from_many_runs_is_the_one_sorted_in_memory() {
    let (one, many) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let o = GenerateOptions {
        malformed_rate: 0.02,
        ..opts(one.path(), 300_000, 5)
    };
    let a = generate(&o).unwrap();
    // Three groups of blocks, each its own run.
    TEST_RUN_BYTES.with(|c| c.set(1 << 20));
    let b = generate(&GenerateOptions {
        out: many.path().to_path_buf(),
        ..o
    })
    .unwrap();
    TEST_RUN_BYTES.with(|c| c.set(RUN_BYTES));
    assert_eq!(
        (a.orders, a.payments, a.unsubscriptions, a.malformed),
        (b.orders, b.payments, b.unsubscriptions, b.malformed)
    );
    for f in ["orders.csv", "payments.csv", "unsubscriptions.csv"] {
        assert!(read(one.path(), f) == read(many.path(), f), "{f}");
    }
    let left: Vec<_> = std::fs::read_dir(many.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left.len(), 3, "the runs' folder is removed: {left:?}");
}
