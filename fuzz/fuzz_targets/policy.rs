//! Policy::from_toml on arbitrary UTF-8: Ok or a PolicyError, never a
//! panic. When Ok: the values are in their documented ranges, the
//! calendar builds, parses and formats a timestamp, and the business-day
//! helpers and check_thresholds run.
#![no_main]

use std::sync::OnceLock;

use chrono::NaiveDate;
use libfuzzer_sys::fuzz_target;
use refund_recon::config::Policy;
use refund_recon::model::Currency;
use rust_decimal::Decimal;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let policy = match Policy::from_toml(text, "fuzz.toml") {
        Ok(p) => p,
        Err(e) => {
            assert_eq!(e.file, "fuzz.toml");
            let _ = e.to_string();
            return;
        }
    };
    let p = &policy;
    assert!(p.amount_tolerance >= Decimal::ZERO);
    assert!((0..=1_000_000).contains(&p.unconditional.window_hours));
    assert!(p.unconditional.per_calendar_year <= 1_000_000);
    assert!(p.partial.handling_fee_rate >= Decimal::ZERO && p.partial.handling_fee_rate <= Decimal::ONE);
    for t in &p.partial.fee_tiers {
        assert!(t.rate >= Decimal::ZERO && t.rate <= Decimal::ONE);
        assert!(t.term_days_at_least >= 0 && t.used_days_at_most >= 0);
    }
    assert!(p.review.auto_approve_hours >= 0);
    for v in p.review.thresholds.values() {
        assert!(*v >= Decimal::ZERO);
    }
    assert!(p.refund.sla_business_days <= 3650);
    assert!(!p.refund.fallback_destination.is_empty());
    assert!((0..=100_000).contains(&p.config_days));

    // Building a calendar walks 1900..=2200 in the zone: skip the common
    // default zone after the first time.
    static DEFAULT: OnceLock<refund_recon::time::Calendar> = OnceLock::new();
    let owned;
    let cal = if p.billing_timezone == chrono_tz::Asia::Shanghai && p.holidays.is_empty() {
        DEFAULT.get_or_init(|| p.calendar())
    } else {
        owned = p.calendar();
        &owned
    };
    let t = cal
        .parse_ts("2021-09-30T16:30:00Z")
        .expect("an RFC 3339 instant parses in any zone");
    let _ = cal.format(t);
    let _ = cal.month_of(t);
    let _ = cal.start_of_next_local_day(t);
    let d = NaiveDate::from_ymd_opt(2021, 10, 8).expect("date");
    let due = cal.nth_business_day_after(d, p.refund.sla_business_days);
    assert!(due >= d);
    assert_eq!(cal.business_days_between(d, due), p.refund.sla_business_days);
    for h in p.holidays.iter().take(4) {
        let _ = cal.nth_business_day_after(*h, p.refund.sla_business_days);
        let _ = cal.end_of_local_day(*h);
    }
    let usd = Currency::parse("USD").expect("USD");
    let _ = p.check_thresholds([&usd]);
    for c in p.review.thresholds.keys() {
        assert!(p.check_thresholds([c]).is_ok());
    }
    for c in p.review.thresholds.keys().chain([&usd]) {
        assert!(p.minor_units.of(*c) <= 6);
    }
});
