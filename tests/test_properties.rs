//! Property tests on generated data sets (seeded, so a failing case is
//! reproduced by its seed): rows are conserved, expected refunds never
//! exceed the cash due, the monthly bill ties out with refunds.csv, and the
//! rule arithmetic stays within its bounds for any amounts and dates.

use std::collections::BTreeMap;

use proptest::prelude::*;
use rust_decimal::Decimal;

use refund_recon::config::Policy;
use refund_recon::engine::{InputPaths, Inputs, Reconciliation};
use refund_recon::generate::{generate, GenerateOptions};
use refund_recon::report::{self, Selection};

use crate::common::parse_csv;

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

/// Generates a data set, reconciles it through the library, and checks
/// the invariants on the written reports.
fn check_invariants(seed: u64, orders: u64, error_rate: f64, malformed_rate: f64) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let report = generate(&GenerateOptions {
        out: data.clone(),
        accounts: (orders / 8).max(1),
        orders,
        seed,
        error_rate,
        malformed_rate,
    })
    .unwrap();
    let policy = Policy::load(&crate::common::repo().join("data/policy.toml")).unwrap();
    let cal = policy.calendar();
    let paths = InputPaths {
        orders: data.join("orders.csv"),
        payments: data.join("payments.csv"),
        unsubscriptions: data.join("unsubscriptions.csv"),
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

    let rec = Reconciliation::run(policy, cal, inputs, None, Default::default()).unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    report::write_reports(&rec, &Selection::default(), &out, "").unwrap();

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
    assert_eq!(orders_billed, rec.inputs.metas[0].accepted);
    // Clean data, clean findings: no error-level finding without mistakes.
    if error_rate == 0.0 && malformed_rate == 0.0 {
        let d = parse_csv(&std::fs::read_to_string(out.join("discrepancies.csv")).unwrap());
        let errors: Vec<_> = d.iter().filter(|x| x.get("severity") == "error").collect();
        assert!(errors.is_empty(), "seed {seed}: {:?}", errors.first());
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
    use refund_recon::rules::r4_amounts::expected_amounts;
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
            let a = expected_amounts(ExpectedType::Partial, &order, requested, &policy);
            let calc = a.partial.clone().unwrap();
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
