//! The token parsers of src/model.rs (every enum's `parse`, `parse_bool`,
//! `Currency::parse`, `Month::parse`) and `Rounding::parse`, on arbitrary
//! UTF-8 (the whole input, and each of its lines). Never panic; each
//! accepts exactly its listed spellings and gives them back (`as_str`,
//! Display, `write_month`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use refund_recon::model::{
    parse_bool, BillingMode, Currency, ExpectedType, InstanceState, ItemKind, Month, OrderType, PaymentStatus,
    RefundType, UnsubStatus,
};
use refund_recon::money::Rounding;

macro_rules! check_enum {
    ($s:expr, $($ty:ident),+) => {$(
        let s: &str = $s;
        let want = $ty::ALL.iter().copied().find(|v| v.as_str() == s);
        assert_eq!($ty::parse(s), want, "{}::parse({s:?})", stringify!($ty));
        if let Some(v) = want {
            assert_eq!(v.to_string(), s);
            assert!($ty::TOKENS.split(" | ").any(|t| t == s), "{s:?} not in {}::TOKENS", stringify!($ty));
        }
    )+};
}

fn check(s: &str) {
    check_enum!(
        s,
        ItemKind,
        BillingMode,
        OrderType,
        PaymentStatus,
        InstanceState,
        UnsubStatus,
        RefundType,
        ExpectedType
    );
    if let (Some(r), Some(e)) = (RefundType::parse(s), ExpectedType::parse(s)) {
        assert!(e.matches(r));
    }

    let want_bool = match s.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    };
    assert_eq!(parse_bool(s), want_bool, "parse_bool({s:?})");

    let want_currency = s.len() == 3 && s.bytes().all(|c| c.is_ascii_uppercase());
    match Currency::parse(s) {
        Some(c) => {
            assert!(want_currency, "Currency::parse accepted {s:?}");
            assert_eq!(c.as_str(), s);
            assert_eq!(c.to_string(), s);
        }
        None => assert!(!want_currency, "Currency::parse refused {s:?}"),
    }

    let b = s.as_bytes();
    let want_month = b.len() == 7
        && b[4] == b'-'
        && b[..4].iter().chain(&b[5..]).all(u8::is_ascii_digit)
        && (1..=12).contains(&s[5..7].parse::<u32>().unwrap_or(0));
    match Month::parse(s) {
        Some(m) => {
            assert!(want_month, "Month::parse accepted {s:?}");
            assert_eq!(m.to_string(), s);
            assert_eq!(m.year(), s[..4].parse::<i32>().unwrap());
            assert_eq!(m.month(), s[5..7].parse::<u32>().unwrap());
            let mut buf = Vec::new();
            refund_recon::time::write_month(&mut buf, m);
            assert_eq!(buf, b);
            assert_eq!(Month::new(m.year(), m.month()), m);
        }
        None => assert!(!want_month, "Month::parse refused {s:?}"),
    }

    let want_rounding = match s {
        "half_up" => Some(Rounding::HalfUp),
        "half_even" => Some(Rounding::HalfEven),
        _ => None,
    };
    assert_eq!(Rounding::parse(s), want_rounding);
    if let Some(r) = want_rounding {
        assert_eq!(r.as_str(), s);
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    check(s);
    for line in s.split('\n') {
        check(line);
    }
});
