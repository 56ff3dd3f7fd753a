//! monthly_bill.focus.csv (docs/focus.md): the FOCUS 1.0 columns in spec
//! order, their value sets and formats, the BilledCost and ListCost
//! invariants against monthly_bill.csv (sample and generated data),
//! Correction exactly where a refund lands in a later billing period,
//! negative refunds, Credit rows for returned coupons, `[focus]`
//! overrides and `--account`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;

use crate::common::*;

const FILE: &str = "monthly_bill.focus.csv";

/// The FOCUS 1.0 columns, in the order of the specification.
const FOCUS_1_0: [&str; 43] = [
    "AvailabilityZone",
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargeFrequency",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "CommitmentDiscountCategory",
    "CommitmentDiscountId",
    "CommitmentDiscountName",
    "CommitmentDiscountStatus",
    "CommitmentDiscountType",
    "ConsumedQuantity",
    "ConsumedUnit",
    "ContractedCost",
    "ContractedUnitPrice",
    "EffectiveCost",
    "InvoiceIssuerName",
    "ListCost",
    "ListUnitPrice",
    "PricingCategory",
    "PricingQuantity",
    "PricingUnit",
    "ProviderName",
    "PublisherName",
    "RegionId",
    "RegionName",
    "ResourceId",
    "ResourceName",
    "ResourceType",
    "ServiceCategory",
    "ServiceName",
    "SkuId",
    "SkuPriceId",
    "SubAccountId",
    "SubAccountName",
    "Tags",
];

/// Columns this file never fills (FOCUS allows null there).
const ALWAYS_NULL: [&str; 15] = [
    "AvailabilityZone",
    "BillingAccountName",
    "CommitmentDiscountCategory",
    "CommitmentDiscountId",
    "CommitmentDiscountName",
    "CommitmentDiscountStatus",
    "CommitmentDiscountType",
    "ConsumedQuantity",
    "ConsumedUnit",
    "RegionId",
    "RegionName",
    "ResourceName",
    "SubAccountId",
    "SubAccountName",
    "Tags",
];

/// Columns FOCUS 1.0 does not allow to be null.
const NOT_NULL: [&str; 18] = [
    "BilledCost",
    "BillingAccountId",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "ChargeCategory",
    "ChargeFrequency",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "ContractedCost",
    "EffectiveCost",
    "InvoiceIssuerName",
    "ListCost",
    "ProviderName",
    "PublisherName",
    "ServiceCategory",
    "ServiceName",
    "ResourceType",
];

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap_or_else(|e| panic!("{s:?} is not a decimal: {e}"))
}

fn utc(s: &str) -> DateTime<Utc> {
    assert!(
        s.len() == 20 && s.ends_with('Z') && s.as_bytes()[10] == b'T',
        "{s:?} is not YYYY-MM-DDTHH:MM:SSZ"
    );
    DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("{s:?}: {e}"))
        .with_timezone(&Utc)
}

/// Runs the job on the bundled sample (or with extra flags) in the repo,
/// with the FOCUS bill asked for.
fn sample(out: &Path, extra: &[&str]) {
    let mut args = vec!["--format", "csv,focus"];
    args.extend(extra);
    expect_code(&run_sample_to(out, &args), 0);
}

fn read(out: &Path, name: &str) -> (Vec<String>, Vec<CsvRow>) {
    let text = std::fs::read_to_string(out.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let header = text
        .lines()
        .next()
        .unwrap_or("")
        .split(',')
        .map(str::to_string)
        .collect();
    (header, parse_csv(&text))
}

/// The billing month (YYYY-MM in the billing zone) of a BillingPeriodStart.
fn month(start: &str, zone: Tz) -> String {
    utc(start).with_timezone(&zone).format("%Y-%m").to_string()
}

/// Every structural check of one FOCUS file: columns, value sets, formats,
/// periods, signs, order, and Correction exactly where the refund's period
/// is later than its order's.
fn check_file(out: &Path, zone: Tz) -> Vec<CsvRow> {
    let (header, rows) = read(out, FILE);
    assert_eq!(&header[..43], &FOCUS_1_0[..], "the FOCUS 1.0 columns in spec order");
    assert_eq!(&header[43..], &["x_OrderId", "x_UnsubId"]);
    let cols: Vec<&str> = refund_recon::report::focus::COLUMNS.iter().map(|c| c.name).collect();
    assert_eq!(cols, header, "COLUMNS is the header");
    let mut purchases: BTreeMap<String, &CsvRow> = BTreeMap::new();
    let mut last: Option<(String, DateTime<Utc>, DateTime<Utc>)> = None;
    for r in &rows {
        for c in ALWAYS_NULL {
            assert_eq!(r.get(c), "", "{c} is null");
        }
        for c in NOT_NULL {
            assert_ne!(r.get(c), "", "{c} is not null: {r:?}");
        }
        let category = r.get("ChargeCategory");
        assert!(matches!(category, "Purchase" | "Credit"), "{category}");
        assert!(matches!(r.get("ChargeClass"), "" | "Correction"));
        assert!(matches!(r.get("ChargeFrequency"), "One-Time" | "Recurring"));
        assert!(matches!(r.get("PricingCategory"), "" | "Standard"));
        let (bs, be) = (utc(r.get("BillingPeriodStart")), utc(r.get("BillingPeriodEnd")));
        let (cs, ce) = (utc(r.get("ChargePeriodStart")), utc(r.get("ChargePeriodEnd")));
        assert!(bs < be && cs < ce && bs <= cs && ce <= be, "periods nest: {r:?}");
        let local = |t: DateTime<Utc>| t.with_timezone(&zone).format("%d %H:%M:%S").to_string();
        assert_eq!(local(bs), "01 00:00:00", "billing period starts at local month start");
        assert_eq!(local(be), "01 00:00:00");
        let (billed, list) = (dec(r.get("BilledCost")), dec(r.get("ListCost")));
        assert_eq!(r.get("EffectiveCost"), r.get("BilledCost"));
        assert_eq!(r.get("ContractedCost"), r.get("ListCost"));
        assert_eq!(r.get("ContractedUnitPrice"), r.get("ListUnitPrice"));
        match (category, r.get("x_UnsubId")) {
            ("Purchase", "") => {
                assert!(billed <= list && r.get("ChargeClass").is_empty());
                assert_eq!(dec(r.get("ListUnitPrice")) * dec(r.get("PricingQuantity")), list);
                purchases.insert(r.get("x_OrderId").to_string(), r);
            }
            ("Purchase", _) => {
                assert!(billed < Decimal::ZERO && billed == list, "a refund is negative: {r:?}");
                assert_eq!(dec(r.get("ListUnitPrice")) * dec(r.get("PricingQuantity")), list);
            }
            (_, unsub) => {
                assert!(!unsub.is_empty());
                assert!(billed.is_zero() && list < Decimal::ZERO, "a coupon credit: {r:?}");
                assert_eq!(r.get("ChargeClass"), "");
                for c in ["ListUnitPrice", "PricingQuantity", "PricingUnit", "SkuId", "SkuPriceId"] {
                    assert_eq!(r.get(c), "", "{c} is null on a Credit");
                }
            }
        }
        let key = (r.get("BillingAccountId").to_string(), bs, cs);
        if let Some(prev) = &last {
            assert!(*prev <= key, "sorted by account, billing period, charge period");
        }
        last = Some(key);
    }
    for r in rows
        .iter()
        .filter(|r| r.get("ChargeCategory") == "Purchase" && !r.get("x_UnsubId").is_empty())
    {
        let order = purchases[r.get("x_OrderId")];
        let later = utc(r.get("BillingPeriodStart")) > utc(order.get("BillingPeriodStart"));
        assert_eq!(r.get("ChargeClass") == "Correction", later, "{r:?}");
        assert_eq!(r.get("ResourceId"), order.get("ResourceId"));
        assert_eq!(r.get("BillingCurrency"), order.get("BillingCurrency"));
    }
    rows
}

/// Σ BilledCost = expected_net and Σ ListCost = charged − expected_refunds
/// − expected_coupons_returned for every row of monthly_bill.csv, and every
/// FOCUS group has its bill row. Exact decimals.
fn check_invariant(out: &Path, rows: &[CsvRow], zone: Tz) {
    let mut sums: BTreeMap<(String, String, String), (Decimal, Decimal)> = BTreeMap::new();
    for r in rows {
        let key = (
            r.get("BillingAccountId").to_string(),
            month(r.get("BillingPeriodStart"), zone),
            r.get("BillingCurrency").to_string(),
        );
        let s = sums.entry(key).or_default();
        s.0 += dec(r.get("BilledCost"));
        s.1 += dec(r.get("ListCost"));
    }
    let (_, bill) = read(out, "monthly_bill.csv");
    let mut matched = 0;
    for b in &bill {
        let key = (
            b.get("account_id").to_string(),
            b.get("billing_cycle").to_string(),
            b.get("currency").to_string(),
        );
        let (billed, list) = sums.get(&key).copied().unwrap_or_default();
        matched += usize::from(sums.contains_key(&key));
        assert_eq!(billed, dec(b.get("expected_net")), "Σ BilledCost of {key:?}");
        let want = dec(b.get("charged")) - dec(b.get("expected_refunds")) - dec(b.get("expected_coupons_returned"));
        assert_eq!(list, want, "Σ ListCost of {key:?}");
    }
    assert_eq!(matched, sums.len(), "every FOCUS group has a monthly_bill.csv row");
}

/// The refunds.csv rows of completed, evaluated unsubscriptions with a
/// nonzero expected refund / coupon each have their negative FOCUS row.
fn check_refunds(out: &Path, rows: &[CsvRow]) -> (usize, usize) {
    let (_, refunds) = read(out, "refunds.csv");
    let (mut refund_rows, mut credit_rows) = (0, 0);
    for u in &refunds {
        if u.get("status") != "completed" || u.get("expected_cycle").is_empty() {
            continue;
        }
        let of = |category: &str| -> Vec<&CsvRow> {
            rows.iter()
                .filter(|r| r.get("x_UnsubId") == u.get("unsub_id") && r.get("ChargeCategory") == category)
                .collect()
        };
        let refund = dec(u.get("expected_refund"));
        let found = of("Purchase");
        if refund.is_zero() {
            assert!(found.is_empty());
        } else {
            assert_eq!(found.len(), 1, "{}", u.get("unsub_id"));
            assert_eq!(dec(found[0].get("BilledCost")), -refund);
            assert_eq!(found[0].get("x_OrderId"), u.get("order_id"));
            refund_rows += 1;
        }
        let coupon = dec(u.get("expected_coupon_returned"));
        let found = of("Credit");
        if coupon.is_zero() {
            assert!(found.is_empty());
        } else {
            assert_eq!(found.len(), 1, "{}", u.get("unsub_id"));
            assert_eq!(dec(found[0].get("ListCost")), -coupon);
            credit_rows += 1;
        }
    }
    let unlisted = rows.iter().filter(|r| !r.get("x_UnsubId").is_empty()).count();
    assert_eq!(
        unlisted,
        refund_rows + credit_rows,
        "no refund or credit row without its refunds.csv row"
    );
    (refund_rows, credit_rows)
}

const SHANGHAI: Tz = chrono_tz::Asia::Shanghai;

#[test]
fn focus_sample_columns_values_and_invariant() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("reports");
    sample(&out, &[]);
    let rows = check_file(&out, SHANGHAI);
    check_invariant(&out, &rows, SHANGHAI);
    let (refunds, _) = check_refunds(&out, &rows);
    let purchases = rows.iter().filter(|r| r.get("x_UnsubId").is_empty()).count();
    assert_eq!(purchases, 57, "one Purchase row per accepted order");
    assert!(refunds > 10);
    let refund_class = |c: &str| {
        rows.iter()
            .filter(|r| r.get("ChargeCategory") == "Purchase" && !r.get("x_UnsubId").is_empty())
            .filter(|r| r.get("ChargeClass") == c)
            .count()
    };
    assert!(
        refund_class("Correction") > 0 && refund_class("") > 0,
        "both kinds of refund occur"
    );
    // uns-001: ordered 2021-08-20, refunded in 2021-09: a Correction.
    let u1 = rows.iter().find(|r| r.get("x_UnsubId") == "uns-001").unwrap();
    assert_eq!(u1.get("ChargeClass"), "Correction");
    assert_eq!(u1.get("BillingPeriodStart"), "2021-08-31T16:00:00Z");
    assert_eq!(u1.get("BillingPeriodEnd"), "2021-09-30T16:00:00Z");
    assert_eq!(u1.get("BilledCost"), "-1775.34");
    assert_eq!(u1.get("PricingQuantity"), "-1.0");
    let o1 = rows
        .iter()
        .find(|r| r.get("x_OrderId") == "ord-001" && r.get("x_UnsubId").is_empty())
        .unwrap();
    assert_eq!(o1.get("ChargePeriodStart"), "2021-08-19T16:00:00Z");
    assert_eq!(o1.get("ChargePeriodEnd"), "2021-08-20T16:00:00Z");
    assert_eq!(o1.get("ResourceId"), "inst-001");
    assert_eq!(o1.get("ServiceName"), "Host Security Pro 1 year");
    assert_eq!(o1.get("ProviderName"), "Unknown");
    assert_eq!(o1.get("ServiceCategory"), "Security");
}

#[test]
fn focus_sample_ten_a_year_has_coupon_credits() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("reports");
    sample(&out, &["--policy", "data/policies/ten-a-year.toml"]);
    let rows = check_file(&out, SHANGHAI);
    check_invariant(&out, &rows, SHANGHAI);
    let (_, credits) = check_refunds(&out, &rows);
    assert!(credits > 0, "ten-a-year returns coupons");
}

#[test]
fn focus_generated_data_invariant_and_threads() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("gen");
    let o = Command::new(BIN)
        .current_dir(repo())
        .args(["generate", "--orders", "3000", "--seed", "7", "--out"])
        .arg(&data)
        .output()
        .unwrap();
    expect_code(&o, 0);
    let run = |out: &Path, threads: &str| {
        let o = Command::new(BIN)
            .current_dir(repo())
            .args(["run", "--format", "csv,focus", "--threads", threads, "--data"])
            .arg(&data)
            .arg("--out")
            .arg(out)
            .output()
            .unwrap();
        expect_code(&o, 0);
    };
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    run(&a, "1");
    run(&b, "3");
    let rows = check_file(&a, SHANGHAI);
    check_invariant(&a, &rows, SHANGHAI);
    let (refunds, credits) = check_refunds(&a, &rows);
    assert!(refunds > 100 && credits > 0, "refunds {refunds}, credits {credits}");
    assert_eq!(
        std::fs::read(a.join(FILE)).unwrap(),
        std::fs::read(b.join(FILE)).unwrap(),
        "bytes do not depend on the thread count"
    );
}

#[test]
fn focus_account_selection_keeps_only_that_account() {
    let dir = tempfile::tempdir().unwrap();
    let (all, one) = (dir.path().join("all"), dir.path().join("one"));
    sample(&all, &[]);
    sample(&one, &["--account", "acct-001"]);
    let whole = std::fs::read_to_string(all.join(FILE)).unwrap();
    let text = std::fs::read_to_string(one.join(FILE)).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    assert_eq!(Some(header), whole.lines().next());
    let kept: Vec<&str> = lines.collect();
    let want: Vec<&str> = whole.lines().skip(1).filter(|l| l.contains(",acct-001,")).collect();
    assert!(kept.len() >= 4, "{kept:?}");
    assert_eq!(kept, want, "the full run's rows of acct-001, in the same order");
    let rows = check_file(&one, SHANGHAI);
    assert!(rows.iter().all(|r| r.get("BillingAccountId") == "acct-001"));
    check_invariant(&one, &rows, SHANGHAI);
}

#[test]
fn focus_policy_table_reaches_the_file() {
    let f = Fixture::with(
        &[
            "ord-1,acct-1,inst-1,Cloud Firewall 1 year,edition,subscription,new,2021-03-10T10:00:00-05:00,2021-03-10T10:00:00-05:00,2022-03-10T10:00:00-05:00,365.00,65.00,USD,false,false",
        ],
        &["pay-1,ord-1,acct-1,2021-03-10T10:00:00-05:00,300.00,USD,credit_card,succeeded"],
        &[
            "uns-1,ord-1,acct-1,,2021-04-02T10:00:00-04:00,,2021-04-02T11:00:00-04:00,2021-04-03T10:00:00-04:00,normal,completed,partial,280.00,0.00,0.00,credit_card,2021-04",
        ],
    );
    f.policy(
        r#"
name = "focus-test"
billing_timezone = "America/New_York"
[focus]
provider = "Example Cloud"
publisher = "Acme Security"
service_category = "Networking"
charge_frequency = "Recurring"
pricing_unit = "Licenses"
[review]
thresholds = { USD = "1000" }
"#,
    );
    let o = f.run(&["--format", "csv,focus"]);
    expect_code(&o, 0);
    let zone = chrono_tz::America::New_York;
    let rows = check_file(&f.out(), zone);
    check_invariant(&f.out(), &rows, zone);
    assert_eq!(rows.len(), 2, "{rows:?}");
    for r in &rows {
        assert_eq!(r.get("ProviderName"), "Example Cloud");
        assert_eq!(r.get("PublisherName"), "Acme Security");
        assert_eq!(
            r.get("InvoiceIssuerName"),
            "Example Cloud",
            "the issuer follows the provider"
        );
        assert_eq!(r.get("ServiceCategory"), "Networking");
        assert_eq!(r.get("ChargeFrequency"), "Recurring");
        assert_eq!(r.get("PricingUnit"), "Licenses");
    }
    let (order, refund) = (&rows[0], &rows[1]);
    // March starts at 05:00Z (EST), April at 04:00Z (EDT).
    assert_eq!(order.get("BillingPeriodStart"), "2021-03-01T05:00:00Z");
    assert_eq!(order.get("BillingPeriodEnd"), "2021-04-01T04:00:00Z");
    assert_eq!(order.get("BilledCost"), "300.00");
    assert_eq!(order.get("ListCost"), "365.00");
    assert_eq!(refund.get("BillingPeriodStart"), "2021-04-01T04:00:00Z");
    assert_eq!(refund.get("ChargeClass"), "Correction");
    assert!(refund
        .get("ChargeDescription")
        .contains("correcting billing period 2021-03"));
}

#[test]
fn focus_bad_policy_value_is_a_policy_error() {
    let f = Fixture::with(&[], &[], &[]);
    f.policy(&format!("{POLICY}\n[focus]\nservice_category = \"Cybersecurity\"\n"));
    let o = f.run(&["--format", "csv,focus"]);
    expect_code(&o, 2);
    assert!(stderr(&o).contains("focus.service_category"), "{}", stderr(&o));
}

/// The FOCUS bill is written on request only: a default run neither writes
/// nor lists it, and `--format csv,focus,parquet` adds its Parquet copy.
#[test]
fn focus_bill_is_written_on_request_only() {
    let dir = tempfile::tempdir().unwrap();
    let (plain, asked, both) = (
        dir.path().join("plain"),
        dir.path().join("asked"),
        dir.path().join("both"),
    );
    expect_code(&run_sample_to(&plain, &[]), 0);
    assert!(!plain.join(FILE).exists());
    let summary = std::fs::read_to_string(plain.join("summary.json")).unwrap();
    assert!(!summary.contains("focus"), "{summary}");
    sample(&asked, &[]);
    assert!(asked.join(FILE).exists());
    assert!(!asked.join("monthly_bill.focus.parquet").exists());
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(asked.join("summary.json")).unwrap()).unwrap();
    let reports: Vec<&str> = summary["reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let at = reports.iter().position(|n| *n == "monthly_bill.csv").unwrap();
    assert_eq!(reports[at + 1], FILE, "{reports:?}");
    sample(&both, &["--format", "csv,focus,parquet"]);
    assert!(both.join("monthly_bill.focus.parquet").exists());
    // The other reports do not change with it.
    for name in refund_recon::report::FILES {
        if name != "summary.json" && name != "report.html" {
            assert_eq!(
                std::fs::read(plain.join(name)).unwrap(),
                std::fs::read(asked.join(name)).unwrap(),
                "{name}"
            );
        }
    }
}
