//! Exact money (SPEC §1, §9): input syntax, minor units, the policy's
//! rounding and output formatting. Never binary floating point.

use std::collections::BTreeMap;

use rust_decimal::{Decimal, RoundingStrategy};

use crate::model::Currency;

/// The policy's `rounding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rounding {
    /// Half away from zero (the default).
    HalfUp,
    /// Half to even (banker's rounding).
    HalfEven,
}

impl Rounding {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "half_up" => Some(Rounding::HalfUp),
            "half_even" => Some(Rounding::HalfEven),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Rounding::HalfUp => "half_up",
            Rounding::HalfEven => "half_even",
        }
    }

    fn strategy(self) -> RoundingStrategy {
        match self {
            Rounding::HalfUp => RoundingStrategy::MidpointAwayFromZero,
            Rounding::HalfEven => RoundingStrategy::MidpointNearestEven,
        }
    }
}

/// Why a money cell was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoneyError {
    Syntax,
    TooManyDecimals,
    TooLarge,
}

impl MoneyError {
    pub fn reason(self) -> &'static str {
        match self {
            MoneyError::Syntax => {
                "not an amount: write digits with an optional '.' and 1-6 decimals (no sign, exponent, separator or currency sign)"
            }
            MoneyError::TooManyDecimals => "more than 6 decimal places",
            MoneyError::TooLarge => "amount too large (more than 22 integer digits)",
        }
    }
}

/// Parses a trimmed money cell: `digits[.d{1,6}]`. `.5`, `5.`, `+5`,
/// `-5`, `1e3`, `1,000` are refused. The value keeps its written scale.
pub fn parse_money(s: &str) -> Result<Decimal, MoneyError> {
    let b = s.as_bytes();
    let mut mantissa: u128 = 0;
    let mut i = 0;
    while i < b.len() && b[i].is_ascii_digit() {
        mantissa = mantissa * 10 + u128::from(b[i] - b'0');
        i += 1;
        if i > 22 {
            return Err(if b.iter().all(|c| c.is_ascii_digit() || *c == b'.') {
                MoneyError::TooLarge
            } else {
                MoneyError::Syntax
            });
        }
    }
    if i == 0 {
        return Err(MoneyError::Syntax);
    }
    let mut scale = 0u32;
    if i < b.len() {
        if b[i] != b'.' {
            return Err(MoneyError::Syntax);
        }
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            mantissa = mantissa * 10 + u128::from(b[i] - b'0');
            i += 1;
        }
        scale = (i - start) as u32;
        if i != b.len() || scale == 0 {
            return Err(MoneyError::Syntax);
        }
        if scale > 6 {
            return Err(MoneyError::TooManyDecimals);
        }
    }
    // At most 22 + 6 = 28 digits: fits rust_decimal's 96-bit mantissa.
    Ok(Decimal::from_i128_with_scale(mantissa as i128, scale))
}

/// Minor units per currency (SPEC §1): 0 for JPY, KRW, VND, CLP, ISK; 3 for
/// BHD, KWD, OMR, JOD, TND, IQD, LYD; 2 otherwise; the policy overrides.
#[derive(Debug, Clone, Default)]
pub struct MinorUnits {
    overrides: BTreeMap<Currency, u32>,
}

impl MinorUnits {
    pub fn new(overrides: BTreeMap<Currency, u32>) -> Self {
        MinorUnits { overrides }
    }

    pub fn of(&self, c: Currency) -> u32 {
        if let Some(d) = self.overrides.get(&c) {
            return *d;
        }
        match c.as_str() {
            "JPY" | "KRW" | "VND" | "CLP" | "ISK" => 0,
            "BHD" | "KWD" | "OMR" | "JOD" | "TND" | "IQD" | "LYD" => 3,
            _ => 2,
        }
    }
}

/// Rounds to `dp` decimals with the policy's rounding — the one rounding
/// at the end of each SPEC formula.
pub fn round(value: Decimal, dp: u32, rounding: Rounding) -> Decimal {
    value.round_dp_with_strategy(dp, rounding.strategy())
}

/// Formats with exactly `dp` decimals, rounding first if the value has more.
pub fn format(value: Decimal, dp: u32, rounding: Rounding) -> String {
    let mut v = round(value, dp, rounding);
    v.rescale(dp);
    let s = v.to_string();
    // `-0.00` never reaches a report.
    if v.is_zero() && s.starts_with('-') {
        s[1..].to_string()
    } else {
        s
    }
}

/// Formats an exact value with all its digits, as written (messages).
pub fn format_exact(value: Decimal) -> String {
    value.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn money_syntax_of_spec_9() {
        assert_eq!(parse_money("0").unwrap(), d("0"));
        assert_eq!(parse_money("300.00").unwrap(), d("300.00"));
        assert_eq!(parse_money("1.123456").unwrap(), d("1.123456"));
        for bad in [".5", "5.", "+5", "-5", "1e3", "1,000", "", "1.2.3", "$5", "5 ", "0x10"] {
            assert_eq!(parse_money(bad), Err(MoneyError::Syntax), "{bad:?}");
        }
        assert_eq!(parse_money("1.1234567"), Err(MoneyError::TooManyDecimals));
        assert_eq!(parse_money("12345678901234567890123"), Err(MoneyError::TooLarge));
        assert!(parse_money("1234567890123456789012.123456").is_ok());
    }

    #[test]
    fn minor_units_defaults_and_overrides() {
        let c = |s| Currency::parse(s).unwrap();
        let mu = MinorUnits::default();
        assert_eq!(mu.of(c("JPY")), 0);
        assert_eq!(mu.of(c("KWD")), 3);
        assert_eq!(mu.of(c("USD")), 2);
        let mu = MinorUnits::new([(c("USD"), 4)].into_iter().collect());
        assert_eq!(mu.of(c("USD")), 4);
    }

    #[test]
    fn rounding_modes() {
        assert_eq!(round(d("2.345"), 2, Rounding::HalfUp), d("2.35"));
        assert_eq!(round(d("2.345"), 2, Rounding::HalfEven), d("2.34"));
        assert_eq!(round(d("2.355"), 2, Rounding::HalfEven), d("2.36"));
        assert_eq!(round(d("-2.345"), 2, Rounding::HalfUp), d("-2.35"));
        assert_eq!(round(d("0.5"), 0, Rounding::HalfUp), d("1"));
    }

    #[test]
    fn formatting_pads_and_rounds() {
        assert_eq!(format(d("5"), 2, Rounding::HalfUp), "5.00");
        assert_eq!(format(d("1100.0"), 0, Rounding::HalfUp), "1100");
        assert_eq!(format(d("10.005"), 2, Rounding::HalfUp), "10.01");
        assert_eq!(format(d("-0.001"), 2, Rounding::HalfUp), "0.00");
        assert_eq!(format(d("-1.5"), 2, Rounding::HalfUp), "-1.50");
        assert_eq!(format_exact(d("10.00500")), "10.00500");
    }
}
