//! Property tests on generated data sets (seeded, so a failing case is
//! reproduced by its seed): rows are conserved, expected refunds never
//! exceed the cash due, the monthly bill ties out with refunds.csv, and the
//! rule arithmetic stays within its bounds for any amounts and dates.

use std::collections::BTreeMap;

use proptest::prelude::*;
use rust_decimal::Decimal;

use refund_recon::config::Policy;
use refund_recon::engine::{Keep, Reconciliation};
use refund_recon::generate::{generate, GenerateOptions};
use refund_recon::ingest::{InputPaths, Inputs};
use refund_recon::report::{self, Selection};

use crate::common::parse_csv;

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn bundled_policy() -> Policy {
    Policy::load(&crate::common::repo().join("data/policy.toml")).unwrap()
}

/// Generates a data set, reconciles it through the library, and checks
/// the invariants on the written reports.
fn check_invariants(seed: u64, orders: u64, error_rate: f64, malformed_rate: f64) {
    check_invariants_under(bundled_policy(), seed, orders, error_rate, malformed_rate);
}

/// As [`check_invariants`], generated and reconciled under `policy`;
/// returns the codes of the findings.
fn check_invariants_under(policy: Policy, seed: u64, orders: u64, error_rate: f64, malformed_rate: f64) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let report = generate(&GenerateOptions {
        out: data.clone(),
        accounts: (orders / 8).max(1),
        orders,
        seed,
        error_rate,
        malformed_rate,
        policy: policy.clone(),
        layout: Default::default(),
    })
    .unwrap();
    let cal = policy.calendar();
    let paths = InputPaths {
        orders: data.join("orders.csv"),
        payments: data.join("payments.csv"),
        unsubscriptions: data.join("unsubscriptions.csv"),
        more: Default::default(),
        context: Default::default(),
    };
    let inputs = Inputs::load(&paths, &cal).unwrap();

    // Rows conserved: every data row of a file is accepted or rejected.
    for (meta, path) in inputs
        .metas
        .iter()
        .zip([&paths.orders, &paths.payments, &paths.unsubscriptions])
    {
        let mut r = csv::ReaderBuilder::new().flexible(true).from_path(path).unwrap();
        let physical_rows = r.byte_records().count() as u64;
        assert_eq!(meta.rows_read, physical_rows, "{}", meta.file);
        assert_eq!(meta.rows_read, meta.accepted + meta.rejected, "{}", meta.file);
    }
    let generated = report.orders + report.payments + report.unsubscriptions + report.malformed;
    let read: u64 = inputs.metas.iter().map(|m| m.rows_read).sum();
    assert_eq!(read, generated, "every generated row was read");
    if malformed_rate == 0.0 {
        assert!(
            inputs.rejects.is_empty(),
            "clean data has no rejects: {:?}",
            inputs.rejects.first()
        );
    }

    let rec = Reconciliation::run(policy, cal, inputs, None, Default::default(), Keep::All).unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let opts = report::ReportOptions {
        started_at: "",
        baseline: None,
        formats: report::Formats::default(),
    };
    let (mut summary, written) = report::write_reports(&rec, &Selection::default(), &out, opts).unwrap();
    report::finish(&mut summary, &out, written).unwrap();

    // Expected refunds never exceed the cash due; fees and coupons are
    // within the order's amounts.
    let refunds = parse_csv(&std::fs::read_to_string(out.join("refunds.csv")).unwrap());
    assert_eq!(refunds.len(), rec.outcomes.len());
    let mut by_currency: BTreeMap<String, Decimal> = BTreeMap::new();
    for r in &refunds {
        if r.get("expected_refund").is_empty() {
            continue;
        }
        let (refund, fee, due) = (
            dec(r.get("expected_refund")),
            dec(r.get("expected_fee")),
            dec(r.get("cash_due")),
        );
        assert!(refund >= Decimal::ZERO && fee >= Decimal::ZERO, "{r:?}");
        assert!(refund <= due, "refund above cash due: {r:?}");
        assert!(refund + fee <= due, "refund + fee above cash due: {r:?}");
        if r.get("status") == "completed" {
            *by_currency.entry(r.get("currency").to_string()).or_default() += refund;
        }
    }
    // The monthly bill ties out with refunds.csv, per currency.
    let bill = parse_csv(&std::fs::read_to_string(out.join("monthly_bill.csv")).unwrap());
    let mut billed: BTreeMap<String, Decimal> = BTreeMap::new();
    for b in &bill {
        *billed.entry(b.get("currency").to_string()).or_default() += dec(b.get("expected_refunds"));
    }
    billed.retain(|_, v| !v.is_zero());
    by_currency.retain(|_, v| !v.is_zero());
    assert_eq!(billed, by_currency);
    // Orders in the bill = accepted orders.
    let orders_billed: u64 = bill.iter().map(|b| b.get("orders").parse::<u64>().unwrap()).sum();
    assert_eq!(orders_billed, rec.inputs.metas.orders.accepted);
    // Clean data, clean findings: no error-level finding without mistakes.
    let d = parse_csv(&std::fs::read_to_string(out.join("discrepancies.csv")).unwrap());
    if error_rate == 0.0 && malformed_rate == 0.0 {
        let errors: Vec<_> = d.iter().filter(|x| x.get("severity") == "error").collect();
        assert!(errors.is_empty(), "seed {seed}: {:?}", errors.first());
    }
    d.iter().map(|x| x.get("code").to_string()).collect()
}

/// Data generated under a policy other than the bundled one (fee tiers,
/// hour units, a quota of ten, returned coupons; another billing zone with
/// daylight saving time) is clean under that policy.
#[test]
fn data_generated_under_a_policy_is_clean_under_it() {
    let ten = Policy::load(&crate::common::repo().join("data/policies/ten-a-year.toml")).unwrap();
    let mut new_york = bundled_policy();
    new_york.billing_timezone = chrono_tz::America::New_York;
    for (policy, seed) in [(bundled_policy(), 4), (ten, 5), (new_york, 6)] {
        let name = policy.name.clone();
        let codes = check_invariants_under(policy, seed, 3000, 0.0, 0.0);
        assert!(codes.iter().any(|c| c == "FALLBACK_TO_BALANCE"), "{name}");
        let other: Vec<_> = codes.iter().filter(|c| *c != "FALLBACK_TO_BALANCE").collect();
        assert!(other.is_empty(), "{name}: {other:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn generated_data_sets_keep_the_invariants(
        seed in 0u64..1_000_000,
        orders in 50u64..600,
        error_rate in prop_oneof![Just(0.0), 0.0f64..0.3],
        malformed_rate in prop_oneof![Just(0.0), 0.0f64..0.1],
    ) {
        check_invariants(seed, orders, error_rate, malformed_rate);
    }
}

mod arithmetic {
    use super::*;
    use refund_recon::model::{BillingMode, Currency, ExpectedType, ItemKind, OrderType};
    use refund_recon::rules::r4_amounts::{expected_amounts, partial_calc};
    use refund_recon::rules::OrderFacts;
    use refund_recon::time::HOUR;

    proptest! {
        /// For any amount, coupon, term, request time, unit and fee rate:
        /// 0 ≤ refund, refund + fee ≤ gross ≤ round(cash_due).
        #[test]
        fn partial_refund_stays_within_cash_due(
            cents in 0i64..10_000_000,
            coupon_share in 0u32..=100,
            term_hours in 1i64..(4 * 365 * 24),
            used_hours in -100i64..(5 * 365 * 24),
            extra_micros in 0i64..3_600_000_000,
            rate_pct in 0u32..=100,
            hourly in any::<bool>(),
            round_up in any::<bool>(),
        ) {
            let mut policy = Policy::from_toml(
                &format!(
                    "[partial]\nhandling_fee_rate = \"{}\"\nconsumption_unit = \"{}\"\nconsumption_rounding = \"{}\"\n",
                    Decimal::new(i64::from(rate_pct), 2),
                    if hourly { "hour" } else { "day" },
                    if round_up { "up" } else { "down" }
                ),
                "prop",
            ).unwrap();
            policy.amount_tolerance = Decimal::ZERO;
            let amount = Decimal::new(cents, 2);
            let coupon = (amount * Decimal::from(coupon_share) / Decimal::from(100)).round_dp(2).min(amount);
            let start = 1_600_000_000_000_000i64;
            let order = OrderFacts {
                order_id: "O",
                account_id: "A",
                instance_id: "i",
                item_kind: ItemKind::Edition,
                billing_mode: BillingMode::Subscription,
                order_type: OrderType::New,
                ordered_at: start,
                service_start: start,
                service_end: start + term_hours * HOUR,
                amount,
                coupon_amount: coupon,
                currency: Currency::parse("USD").unwrap(),
                promotional: false,
                invoice_issued: false,
            };
            let requested = start + used_hours * HOUR + extra_micros;
            let a = expected_amounts(ExpectedType::Partial, &order, requested, &policy).unwrap();
            let calc = partial_calc(&order, requested, &policy).unwrap();
            let due = (amount - coupon).round_dp(2);
            prop_assert!(a.refund >= Decimal::ZERO);
            prop_assert!(a.fee >= Decimal::ZERO);
            prop_assert!(a.refund + a.fee <= calc.gross);
            prop_assert!(calc.gross <= due);
            prop_assert!(calc.used <= calc.total && calc.total >= 1);
            prop_assert_eq!(a.coupon, Decimal::ZERO);
            // Nothing used: the whole cash due less the fee.
            if requested <= start {
                prop_assert_eq!(calc.gross, due);
            }
        }
    }
}

/// Properties of the real binary on generated data: the invariants above
/// under both presets (ten-a-year has fees, hour units and a quota of 10),
/// the yearly quota, and reports that depend on neither the thread count
/// nor the order of the rows in the exports.
mod binary {
    use std::collections::BTreeMap;
    use std::path::Path;
    use std::process::Command;

    use proptest::prelude::*;
    use rust_decimal::Decimal;

    use refund_recon::generate::{generate, GenerateOptions, Layout};

    use crate::common::{expect_code, parse_csv, repo, report_snapshot, CsvRow, BIN};

    const FILES: [&str; 3] = ["orders.csv", "payments.csv", "unsubscriptions.csv"];

    fn dec(s: &str) -> Decimal {
        s.parse().unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    fn gen(data: &Path, seed: u64, orders: u64, error_rate: f64, malformed_rate: f64) {
        generate(&GenerateOptions {
            out: data.to_path_buf(),
            accounts: (orders / 8).max(1),
            orders,
            seed,
            error_rate,
            malformed_rate,
            policy: refund_recon::config::Policy::load(&repo().join("data/policy.toml")).unwrap(),
            layout: Default::default(),
        })
        .unwrap();
    }

    fn run(data: &Path, policy: &str, out: &Path, threads: &str) {
        let o = Command::new(BIN)
            .args(["run", "--threads", threads, "--data"])
            .arg(data)
            .arg("--policy")
            .arg(repo().join(policy))
            .arg("--out")
            .arg(out)
            .output()
            .unwrap();
        expect_code(&o, 0);
    }

    fn rows(out: &Path, name: &str) -> Vec<CsvRow> {
        parse_csv(&std::fs::read_to_string(out.join(name)).unwrap())
    }

    /// Every CSV report byte for byte, and summary.json without the fields
    /// that may differ: started_at, elapsed_seconds, and (when `no_hashes`)
    /// the inputs' sha256.
    fn snapshot(out: &Path, no_hashes: bool) -> Vec<(String, String)> {
        report_snapshot(out, no_hashes)
    }

    fn assert_same(a: &[(String, String)], b: &[(String, String)], what: &str) -> Result<(), TestCaseError> {
        for (x, y) in a.iter().zip(b) {
            if x.1 != y.1 {
                let line = x.1.lines().zip(y.1.lines()).position(|(p, q)| p != q);
                let show = |s: &str| {
                    line.and_then(|l| s.lines().nth(l))
                        .unwrap_or("(length differs)")
                        .to_string()
                };
                return Err(TestCaseError::fail(format!(
                    "{} differs {what}; first differing line {:?}:\n  {}\n  {}",
                    x.0,
                    line.map(|l| l + 1),
                    show(&x.1),
                    show(&y.1)
                )));
            }
        }
        Ok(())
    }

    /// Rows conserved, refund and fee bounds, bill tie-outs and the quota.
    fn check(data: &Path, out: &Path, policy: &str, allowed: u64) -> Result<(), TestCaseError> {
        let summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
        let rejects = rows(out, "rejects.csv");
        for (i, file) in FILES.iter().enumerate() {
            let m = &summary["inputs"][i];
            let (read, acc, rej) = (
                m["rows_read"].as_u64().unwrap(),
                m["accepted"].as_u64().unwrap(),
                m["rejected"].as_u64().unwrap(),
            );
            let physical = csv::ReaderBuilder::new()
                .flexible(true)
                .from_path(data.join(file))
                .unwrap()
                .byte_records()
                .count() as u64;
            prop_assert_eq!(read, physical, "{} rows read", file);
            prop_assert_eq!(read, acc + rej, "{}", file);
            prop_assert_eq!(
                rejects.iter().filter(|r| r.get("file") == *file).count() as u64,
                rej,
                "{}",
                file
            );
        }

        let refunds = rows(out, "refunds.csv");
        let mut completed: BTreeMap<String, [Decimal; 3]> = BTreeMap::new();
        let mut quota_max: BTreeMap<String, u64> = BTreeMap::new();
        for r in &refunds {
            if !r.get("quota_used").is_empty() {
                let q: u64 = r.get("quota_used").parse().unwrap();
                let m = quota_max.entry(r.get("account_id").to_string()).or_default();
                *m = (*m).max(q);
                prop_assert!(q <= allowed, "{policy}: quota_used {q} above {allowed}: {r:?}");
            }
            if r.get("expected_refund").is_empty() {
                continue;
            }
            let (refund, fee, coupon, due) = (
                dec(r.get("expected_refund")),
                dec(r.get("expected_fee")),
                dec(r.get("expected_coupon_returned")),
                dec(r.get("cash_due")),
            );
            prop_assert!(
                refund >= Decimal::ZERO && fee >= Decimal::ZERO && coupon >= Decimal::ZERO,
                "{r:?}"
            );
            prop_assert!(refund <= due, "{policy}: refund above cash due: {r:?}");
            if r.get("expected_type") == "partial" {
                prop_assert!(
                    refund + fee <= due,
                    "{policy}: partial refund + fee above cash due: {r:?}"
                );
            }
            if r.get("expected_type") == "unconditional" && r.get("status") != "rejected" {
                prop_assert!(
                    r.get("quota_used") != "0",
                    "{policy}: an unconditional refund uses the quota: {r:?}"
                );
            }
            if r.get("status") == "completed" {
                let e = completed.entry(r.get("currency").to_string()).or_default();
                e[0] += refund;
                e[1] += fee;
                e[2] += coupon;
            }
        }
        // The bill's expected refunds, fees and coupons returned equal
        // refunds.csv's for completed unsubscriptions, per currency.
        let mut billed: BTreeMap<String, [Decimal; 3]> = BTreeMap::new();
        for b in rows(out, "monthly_bill.csv") {
            let e = billed.entry(b.get("currency").to_string()).or_default();
            e[0] += dec(b.get("expected_refunds"));
            e[1] += dec(b.get("expected_handling_fees"));
            e[2] += dec(b.get("expected_coupons_returned"));
        }
        billed.retain(|_, v| v.iter().any(|x| !x.is_zero()));
        completed.retain(|_, v| v.iter().any(|x| !x.is_zero()));
        prop_assert_eq!(
            &billed,
            &completed,
            "{}: bill vs refunds.csv [refunds, fees, coupons]",
            policy
        );
        for (c, v) in &completed {
            let total = dec(summary["refund_totals"][c]["expected_refunds"].as_str().unwrap_or("0"));
            prop_assert_eq!(total, v[0], "{}: summary total {}", policy, c);
        }

        // The yearly quota: never more granted than allowed.
        let quota = rows(out, "quota_usage.csv");
        for q in &quota {
            let (a, g, d) = (
                q.get("allowed").parse::<u64>().unwrap(),
                q.get("granted").parse::<u64>().unwrap(),
                q.get("denied_by_quota").parse::<u64>().unwrap(),
            );
            prop_assert_eq!(a, allowed, "{}: {:?}", policy, q);
            prop_assert!(g <= a, "{policy}: granted above allowed: {q:?}");
            prop_assert!(d == 0 || g == a, "{policy}: denied by quota while some left: {q:?}");
        }
        // Each account's running count never passes its yearly total.
        for (account, max) in &quota_max {
            let granted: u64 = quota
                .iter()
                .filter(|q| q.get("account_id") == account)
                .map(|q| q.get("granted").parse::<u64>().unwrap())
                .max()
                .unwrap_or(0);
            prop_assert!(
                *max <= granted,
                "{policy}: {account}: quota_used {max} > granted {granted}"
            );
        }
        Ok(())
    }

    /// Splits a CSV file into its header and raw records (each with its
    /// line end), byte for byte.
    fn split_records(bytes: &[u8]) -> (Vec<u8>, Vec<Vec<u8>>) {
        let mut r = csv::ReaderBuilder::new().flexible(true).from_reader(bytes);
        let starts: Vec<usize> = r
            .byte_records()
            .map(|rec| rec.unwrap().position().unwrap().byte() as usize)
            .collect();
        let header_end = starts.first().copied().unwrap_or(bytes.len());
        let mut records = Vec::new();
        for (i, &s) in starts.iter().enumerate() {
            let e = starts.get(i + 1).copied().unwrap_or(bytes.len());
            records.push(bytes[s..e].to_vec());
        }
        (bytes[..header_end].to_vec(), records)
    }

    /// Fisher-Yates with splitmix64.
    fn shuffle<T>(v: &mut [T], mut seed: u64) {
        for i in (1..v.len()).rev() {
            seed = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = seed;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            v.swap(i, (z % (i as u64 + 1)) as usize);
        }
    }

    /// `generate`'s two layouts hold the same rows, so they give the same
    /// reports (the inputs' hashes aside): accounts interleaved in time
    /// order, as billing systems export, and each account's rows together.
    #[test]
    fn both_layouts_give_the_same_reports() {
        let dir = tempfile::tempdir().unwrap();
        let mut snaps = Vec::new();
        for layout in [Layout::Interleaved, Layout::ByAccount] {
            // One path for both, as report.html shows the inputs' paths.
            let data = dir.path().join("data");
            let _ = std::fs::remove_dir_all(&data);
            generate(&GenerateOptions {
                out: data.clone(),
                accounts: 600,
                orders: 6_000,
                seed: 21,
                error_rate: 0.05,
                malformed_rate: 0.0,
                policy: refund_recon::config::Policy::load(&repo().join("data/policy.toml")).unwrap(),
                layout,
            })
            .unwrap();
            let out = dir.path().join("out");
            run(&data, "data/policy.toml", &out, "2");
            snaps.push(snapshot(&out, true));
        }
        assert_same(&snaps[0], &snaps[1], "between the layouts").unwrap();
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(6))]

        /// The invariants under both presets, on data with mistakes and
        /// malformed rows: rows conserved per file, expected refund ≤ cash
        /// due, fee + refund ≤ cash due for partial refunds, the bill ties
        /// out with refunds.csv (refunds, fees, coupons), granted ≤ allowed.
        #[test]
        fn invariants_hold_under_both_presets(
            seed in 0u64..1_000_000,
            orders in 50u64..400,
            error_rate in prop_oneof![Just(0.0), 0.0f64..0.3],
            malformed_rate in prop_oneof![Just(0.0), 0.0f64..0.1],
        ) {
            let dir = tempfile::tempdir().unwrap();
            let data = dir.path().join("data");
            gen(&data, seed, orders, error_rate, malformed_rate);
            for (policy, allowed) in [("data/policies/once-a-year.toml", 1), ("data/policies/ten-a-year.toml", 10)] {
                let out = dir.path().join("out");
                run(&data, policy, &out, "2");
                check(&data, &out, policy, allowed)?;
            }
        }

        /// --threads 1 and --threads 3 give byte-identical reports.
        #[test]
        fn reports_do_not_depend_on_the_thread_count(
            seed in 0u64..1_000_000,
            orders in 100u64..1500,
            error_rate in 0.0f64..0.2,
            malformed_rate in prop_oneof![Just(0.0), 0.0f64..0.05],
        ) {
            let dir = tempfile::tempdir().unwrap();
            let data = dir.path().join("data");
            gen(&data, seed, orders, error_rate, malformed_rate);
            let (one, three) = (dir.path().join("t1"), dir.path().join("t3"));
            run(&data, "data/policies/ten-a-year.toml", &one, "1");
            run(&data, "data/policies/ten-a-year.toml", &three, "3");
            assert_same(&snapshot(&one, false), &snapshot(&three, false), "between --threads 1 and 3")?;
        }

        /// Shuffling the data rows of every export (header kept first)
        /// changes no report: the evaluation order comes from the data, not
        /// from the file order. Clean data (no rejects, no duplicate ids),
        /// so rejects' line numbers cannot differ.
        #[test]
        fn reports_do_not_depend_on_the_row_order(
            seed in 0u64..1_000_000,
            orders in 50u64..500,
            error_rate in prop_oneof![Just(0.0), 0.0f64..0.3],
            shuffle_seed in any::<u64>(),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let data = dir.path().join("data");
            gen(&data, seed, orders, error_rate, 0.0);
            let policy = "data/policies/once-a-year.toml";
            let out = dir.path().join("out");
            run(&data, policy, &out, "2");
            let before = snapshot(&out, true);
            let rejects = &before.iter().find(|(n, _)| n == "rejects.csv").unwrap().1;
            prop_assert_eq!(rejects.lines().count(), 1, "clean data has no rejects");
            for (k, file) in FILES.iter().enumerate() {
                let path = data.join(file);
                let bytes = std::fs::read(&path).unwrap();
                prop_assert!(bytes.ends_with(b"\n"), "{} ends with a newline", file);
                let (header, mut records) = split_records(&bytes);
                let original = records.clone();
                shuffle(&mut records, shuffle_seed ^ k as u64);
                prop_assert!(records.len() < 3 || records != original, "the shuffle moved rows");
                let mut shuffled = header;
                for r in &records {
                    shuffled.extend_from_slice(r);
                }
                prop_assert_eq!(shuffled.len(), bytes.len());
                std::fs::write(&path, shuffled).unwrap();
            }
            run(&data, policy, &out, "2");
            assert_same(&before, &snapshot(&out, true), "after shuffling the rows")?;
        }
    }
}
