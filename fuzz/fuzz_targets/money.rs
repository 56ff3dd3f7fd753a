//! money::parse_money on arbitrary UTF-8. Never panics. When Ok: the text
//! has the syntax of docs/inputs.md, `digits[.d{1,6}]`; the value equals
//! rust_decimal's own parse and keeps the written scale; format_exact gives
//! the text back (minus leading zeros) and re-parses to the same value and
//! scale; the report formatter (money::format) agrees with round + pad for
//! 0-6 decimals and both roundings. When Err: the kind fits the text, and
//! any text with the syntax and at most 13 significant integer digits is
//! accepted.
#![no_main]

use std::str::FromStr;

use libfuzzer_sys::fuzz_target;
use refund_recon::money::{format, format_exact, parse_money, round, MoneyError, Rounding};
use rust_decimal::Decimal;

/// The largest number of significant integer digits (leading zeros do not
/// count) an amount may have.
const MAX_INTEGER_DIGITS: usize = 13;

/// (significant integer digits, decimals) when `s` is `digits[.digits]`
/// (any number of decimals, ≥ 1 after a point), else None.
fn shape(s: &str) -> Option<(usize, usize)> {
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|c| c.is_ascii_digit());
    if !digits(int) {
        return None;
    }
    let significant = int.trim_start_matches('0').len();
    match frac {
        None => Some((significant, 0)),
        Some(f) if digits(f) => Some((significant, f.len())),
        Some(_) => None,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let shape = shape(s);
    match parse_money(s) {
        Ok(d) => {
            let (int, dec) = shape.unwrap_or_else(|| panic!("accepted {s:?}, which is not digits[.d{{1,6}}]"));
            assert!(dec <= 6, "accepted {s:?} with {dec} decimals");
            assert!(
                int <= MAX_INTEGER_DIGITS,
                "accepted {s:?} with {int} significant integer digits"
            );
            assert!(!d.is_sign_negative(), "negative value from {s:?}");
            assert_eq!(d.scale() as usize, dec, "scale of {s:?}");
            assert_eq!(
                Decimal::from_str(s).ok(),
                Some(d),
                "rust_decimal reads {s:?} differently"
            );
            let text = format_exact(d);
            let trimmed = {
                let t = s.trim_start_matches('0');
                if t.is_empty() || t.starts_with('.') {
                    format!("0{t}")
                } else {
                    t.to_string()
                }
            };
            assert_eq!(text, trimmed, "format_exact of {s:?}");
            let back = parse_money(&text)
                .unwrap_or_else(|e| panic!("format_exact({s:?}) = {text:?} does not re-parse: {e:?}"));
            assert_eq!(back, d, "round trip of {s:?}");
            assert_eq!(back.scale(), d.scale(), "round trip keeps the scale of {s:?}");
            for dp in 0..=6 {
                for r in [Rounding::HalfUp, Rounding::HalfEven] {
                    let got = format(d, dp, r);
                    let want = format!("{:.*}", dp as usize, round(d, dp, r));
                    assert_eq!(got, want, "format({s:?}, {dp}, {r:?})");
                }
            }
        }
        Err(MoneyError::TooManyDecimals) => {
            let (_, dec) = shape.unwrap_or_else(|| panic!("TooManyDecimals for {s:?}, which is not digits.digits"));
            assert!(dec > 6, "TooManyDecimals for {s:?} with {dec} decimals");
        }
        Err(MoneyError::TooLarge) => {
            // Only the leading digits are checked: the parser says TooLarge
            // for any long run of digits followed by digits and points.
            let lead = &s[..s.bytes().take_while(u8::is_ascii_digit).count()];
            let int = lead.trim_start_matches('0').len();
            assert!(
                int > MAX_INTEGER_DIGITS,
                "TooLarge for {s:?} with only {int} significant integer digits"
            );
        }
        Err(MoneyError::Syntax) => {
            if let Some((int, dec)) = shape {
                assert!(
                    int > MAX_INTEGER_DIGITS || dec > 6,
                    "Syntax error for well-formed {s:?}"
                );
            }
        }
    }
    // Anything with the syntax and a small enough value is accepted.
    if let Some((int, dec)) = shape {
        if int <= MAX_INTEGER_DIGITS && dec <= 6 {
            assert!(parse_money(s).is_ok(), "refused well-formed {s:?}");
        }
    }
});
