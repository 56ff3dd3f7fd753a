//! Exact money (docs/rules.md#money-and-rounding): input syntax, minor
//! units, the policy's rounding and output formatting. Never binary
//! floating point.

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
            MoneyError::TooLarge => {
                "amount too large: refund-recon accepts at most 9999999999999.999999 (13 integer digits), so that every sum and product it computes is exact"
            }
        }
    }
}

/// The most integer digits an amount may have (refund-recon's own bound:
/// docs/design.md "Money bound", docs/inputs.md#decisions). With at most 13 integer
/// and 6 fractional digits, an amount is below 10¹⁹ units of 10⁻⁶, so:
/// - a sum of up to 2³² − 1 amounts (the most rows a file may have) stays
///   below 4.3 × 10²⁸, inside `rust_decimal`'s 96-bit mantissa (7.9 × 10²⁸),
///   and far inside the bill's `i128` sums;
/// - R4's `cash_due × (total − used)` with hour units over a term from year
///   0 to 9999 (under 8.8 × 10⁷ hours) stays below 8.8 × 10²⁶;
/// - `rate × cash_due` (a rate ≤ 1 with ≤ 6 decimals) stays below 10²⁵.
pub const MAX_INTEGER_DIGITS: usize = 13;

/// The largest amount accepted, as text (for messages and docs).
pub const MAX_AMOUNT: &str = "9999999999999.999999";

/// Parses a trimmed money cell: `digits[.d{1,6}]`. `.5`, `5.`, `+5`,
/// `-5`, `1e3`, `1,000` are refused, and so is an amount with more than
/// [`MAX_INTEGER_DIGITS`] integer digits (leading zeros do not count).
/// The value keeps its written scale.
pub fn parse_money(s: &str) -> Result<Decimal, MoneyError> {
    parse_stored(s).map(Stored::get)
}

/// [`parse_money`] as an export's amount column stores it ([`Stored`]).
pub fn parse_stored(s: &str) -> Result<Stored, MoneyError> {
    // One pass: the digits accumulate as they are checked. The mantissa
    // may wrap on an over-long cell, which is refused below before the
    // value is used.
    let b = s.as_bytes();
    let (mut mantissa, mut significant, mut started) = (0u64, 0usize, false);
    let mut i = 0;
    while let Some(d) = b.get(i).map(|c| c.wrapping_sub(b'0')).filter(|&d| d <= 9) {
        started |= d != 0;
        significant += usize::from(started);
        mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(d));
        i += 1;
    }
    // Syntax first: digits, then optionally '.' and 1+ digits, nothing else.
    if i == 0 {
        return Err(MoneyError::Syntax);
    }
    let mut frac_len = 0;
    match b.get(i) {
        None => {}
        Some(b'.') => {
            i += 1;
            while let Some(d) = b.get(i).map(|c| c.wrapping_sub(b'0')).filter(|&d| d <= 9) {
                mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(d));
                frac_len += 1;
                i += 1;
            }
            if frac_len == 0 || i != b.len() {
                return Err(MoneyError::Syntax);
            }
        }
        Some(_) => return Err(MoneyError::Syntax),
    }
    if frac_len > 6 {
        return Err(MoneyError::TooManyDecimals);
    }
    if significant > MAX_INTEGER_DIGITS {
        return Err(MoneyError::TooLarge);
    }
    // At most 13 + 6 = 19 significant digits: below 10¹⁹, inside u64, so
    // nothing wrapped.
    Ok(Stored {
        mantissa,
        scale: frac_len as u8,
    })
}

/// An amount as an export's column holds it: what [`parse_money`] read (a
/// mantissa below 10¹⁹, non-negative, and its written scale, at most 6),
/// in 9 bytes instead of a [`Decimal`]'s 16, so a column of them takes 9
/// bytes a row (10 for an optional one) instead of 16 (20). [`Stored::get`]
/// gives back the very `Decimal` that was parsed, scale and all
/// (docs/performance.md, log entry 45).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
#[repr(C, packed)]
pub struct Stored {
    mantissa: u64,
    scale: u8,
}

impl Stored {
    /// `v` when it is non-negative with a mantissa inside 64 bits (every
    /// amount [`parse_money`] reads); None otherwise.
    pub fn of(v: Decimal) -> Option<Stored> {
        if v.is_sign_negative() && !v.is_zero() {
            return None;
        }
        let mantissa = u64::try_from(v.mantissa()).ok()?;
        Some(Stored {
            mantissa,
            scale: v.scale() as u8,
        })
    }

    /// The amount, exactly as parsed.
    #[inline]
    pub fn get(self) -> Decimal {
        let m = self.mantissa;
        Decimal::from_parts(m as u32, (m >> 32) as u32, 0, false, u32::from(self.scale))
    }
}

/// Exact non-negative sums (cash_paid per order) in [`Stored`]'s 9 bytes
/// each instead of a [`Decimal`]'s 16; a sum whose mantissa passes 64 bits
/// (two payments of the largest amount at six decimals already do) is kept
/// apart, exactly.
/// 70 MB less at 10M orders (docs/performance.md, log entry 53).
#[derive(Debug, Default)]
pub struct Sums {
    stored: Vec<Stored>,
    /// (index, sum) of the sums that do not fit, by index.
    wide: Vec<(usize, Decimal)>,
}

impl Sums {
    /// Marks a sum kept in `wide` (no parsed amount has this scale).
    const WIDE: Stored = Stored {
        mantissa: 0,
        scale: u8::MAX,
    };

    /// Room for `n` sums: filled a chunk at a time by [`Sums::store`],
    /// then made into sums by [`Sums::from_parts`].
    pub fn slots(n: usize) -> Vec<Stored> {
        vec![Stored::of(Decimal::ZERO).expect("zero fits"); n]
    }

    /// Stores `sums`, the sums `base..base + sums.len()`, into their slots
    /// `out`; returns those that do not fit, for [`Sums::from_parts`].
    pub fn store(base: usize, sums: &[Decimal], out: &mut [Stored]) -> Vec<(usize, Decimal)> {
        let mut wide = Vec::new();
        for (at, (o, &s)) in out.iter_mut().zip(sums).enumerate() {
            *o = Stored::of(s).unwrap_or_else(|| {
                wide.push((base + at, s));
                Sums::WIDE
            });
        }
        wide
    }

    /// The sums, from the slots [`Sums::store`] filled and what it
    /// returned for each chunk, in the order of the chunks.
    pub fn from_parts(stored: Vec<Stored>, wide: Vec<Vec<(usize, Decimal)>>) -> Sums {
        Sums {
            stored,
            wide: wide.into_iter().flatten().collect(),
        }
    }

    /// Sum `i`, exactly as added up.
    #[inline]
    pub fn get(&self, i: usize) -> Decimal {
        let s = self.stored[i];
        if s == Sums::WIDE {
            let at = self.wide.binary_search_by_key(&i, |w| w.0).expect("a wide sum is kept");
            self.wide[at].1
        } else {
            s.get()
        }
    }

    pub fn len(&self) -> usize {
        self.stored.len()
    }

    pub fn is_empty(&self) -> bool {
        self.stored.is_empty()
    }
}

impl std::fmt::Debug for Stored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.get())
    }
}

/// `round(v × num / den)` to `dp` decimals with one exact rounding: the
/// product and the quotient are computed on integers, never truncated in
/// between. `None` when `den` is not positive or a step would not fit
/// (impossible for amounts within [`MAX_AMOUNT`] and terms within year
/// 0–9999, but checked rather than assumed).
pub fn mul_div_round(v: Decimal, num: i64, den: i64, dp: u32, rounding: Rounding) -> Option<Decimal> {
    if den <= 0 || dp > 28 {
        return None;
    }
    let scale = v.scale();
    let mut n = v.mantissa().checked_mul(i128::from(num))?;
    let mut d = i128::from(den);
    if dp >= scale {
        n = n.checked_mul(10i128.checked_pow(dp - scale)?)?;
    } else {
        d = d.checked_mul(10i128.checked_pow(scale - dp)?)?;
    }
    let (q, r) = (n / d, n % d);
    let twice = r.unsigned_abs().checked_mul(2)?;
    let d_abs = d.unsigned_abs();
    let away = twice > d_abs || (twice == d_abs && (rounding == Rounding::HalfUp || q % 2 != 0));
    let q = if away { q + n.signum() } else { q };
    Decimal::try_from_i128_with_scale(q, dp).ok()
}

/// Minor units per currency (docs/rules.md#money-and-rounding): 0 for JPY,
/// KRW, VND, CLP, ISK; 3 for BHD, KWD, OMR, JOD, TND, IQD, LYD; 2
/// otherwise; the policy overrides.
#[derive(Debug, Clone, Default)]
pub struct MinorUnits {
    overrides: BTreeMap<Currency, u32>,
}

impl MinorUnits {
    pub fn new(overrides: BTreeMap<Currency, u32>) -> Self {
        MinorUnits { overrides }
    }

    /// Asked once per amount written: the letters are matched as bytes
    /// (no UTF-8 check, no string comparisons), the overrides only looked
    /// up when the policy has some.
    #[inline]
    pub fn of(&self, c: Currency) -> u32 {
        if !self.overrides.is_empty() {
            if let Some(d) = self.overrides.get(&c) {
                return *d;
            }
        }
        match &c.bytes() {
            b"JPY" | b"KRW" | b"VND" | b"CLP" | b"ISK" => 0,
            b"BHD" | b"KWD" | b"OMR" | b"JOD" | b"TND" | b"IQD" | b"LYD" => 3,
            _ => 2,
        }
    }
}

/// Rounds to `dp` decimals with the policy's rounding — the one rounding
/// at the end of each formula of docs/rules.md.
pub fn round(value: Decimal, dp: u32, rounding: Rounding) -> Decimal {
    value.round_dp_with_strategy(dp, rounding.strategy())
}

/// Formats with exactly `dp` decimals, rounding first if the value has
/// more (the same text the reports write).
pub fn format(value: Decimal, dp: u32, rounding: Rounding) -> String {
    let mut buf = Vec::with_capacity(24);
    write_amount(&mut buf, value, dp, rounding);
    String::from_utf8(buf).expect("digits, sign and point")
}

/// Writes `v` with exactly `dp` decimals, rounding once if it has more.
pub fn write_amount(buf: &mut Vec<u8>, v: Decimal, dp: u32, rounding: Rounding) {
    write_scaled(buf, v.mantissa(), v.scale(), dp, rounding);
}

/// Writes `v / 10^scale` with exactly `dp` decimals, rounding once with
/// the policy's rounding when `dp < scale`. `-0.00` is never written.
#[inline]
pub fn write_scaled(buf: &mut Vec<u8>, v: i128, scale: u32, dp: u32, rounding: Rounding) {
    // Zero, more than half the bill's amounts (no refunds that month):
    // `0`, then the point and `dp` zeros, without a division, inlined
    // where it is called (the call cost as much as the zero, log entry 93).
    if v == 0 && dp <= 18 {
        // All 20 bytes copied, then cut: a copy of fixed length is two
        // stores, one of variable length a call to memcpy (log entry 75).
        const ZERO: &[u8; 20] = b"0.000000000000000000";
        let at = buf.len();
        buf.extend_from_slice(ZERO);
        buf.truncate(at + if dp == 0 { 1 } else { 2 + dp as usize });
        return;
    }
    write_scaled_nonzero(buf, v, scale, dp, rounding);
}

/// [`write_scaled`] past its zero.
#[inline(never)]
fn write_scaled_nonzero(buf: &mut Vec<u8>, v: i128, scale: u32, dp: u32, rounding: Rounding) {
    // The common case in 64-bit arithmetic: 128-bit division is slow.
    if let Ok(narrow) = i64::try_from(v) {
        if scale <= 18 && dp <= 18 && write_scaled_narrow(buf, narrow, scale, dp, rounding) {
            return;
        }
    }
    // Decimal's 96-bit mantissas at scale ≤ 28 always fit in i128 here.
    let written = write_scaled_wide(buf, v, scale, dp, rounding);
    assert!(written, "amount out of range");
}

/// `v / 10^scale` rounded once to `dp` decimals (half up or half even),
/// as an integer of `10^-dp` units; None when it does not fit `i128`.
fn rounded_wide(v: i128, scale: u32, dp: u32, rounding: Rounding) -> Option<i128> {
    let ten: i128 = 10;
    if dp >= scale {
        return v.checked_mul(ten.pow(dp - scale));
    }
    let div = ten.pow(scale - dp);
    let (q, rem) = (v / div, v % div);
    let away = rounds_away((2 * rem.abs()).cmp(&div), rounding, q % 2 != 0);
    Some(if away { q + v.signum() } else { q })
}

/// Whether a quotient moves one unit away from zero, its remainder being
/// `twice` (twice the remainder against the divisor) and `odd` whether it
/// is odd: past half always, at exactly half for half up, or for half even
/// when odd. The one rounding decision of both writers.
#[inline]
fn rounds_away(twice: std::cmp::Ordering, rounding: Rounding, odd: bool) -> bool {
    match twice {
        std::cmp::Ordering::Greater => true,
        std::cmp::Ordering::Equal => rounding == Rounding::HalfUp || odd,
        std::cmp::Ordering::Less => false,
    }
}

/// The 128-bit writer (amounts past 64 bits of mantissa, or of a scale
/// past 18): the same text as [`write_scaled_narrow`].
fn write_scaled_wide(buf: &mut Vec<u8>, v: i128, scale: u32, dp: u32, rounding: Rounding) -> bool {
    let Some(m) = rounded_wide(v, scale, dp, rounding) else {
        return false;
    };
    if m < 0 {
        buf.push(b'-');
    }
    let m = m.unsigned_abs();
    let p = 10u128.pow(dp);
    write_u128(buf, m / p);
    if dp > 0 {
        // Exactly dp digits, leading zeros included, written from the
        // right (no insertion into the buffer).
        buf.push(b'.');
        let mut digits = [b'0'; 40];
        let (mut f, mut i) = (m % p, dp as usize);
        while f > 0 {
            i -= 1;
            digits[i] = b'0' + (f % 10) as u8;
            f /= 10;
        }
        buf.extend_from_slice(&digits[..dp as usize]);
    }
    true
}

/// 10^k for k in 0..=19 (every power of ten a u64 holds).
const POW10: [u64; 20] = {
    let mut t = [1u64; 20];
    let mut k = 1;
    while k < 20 {
        t[k] = t[k - 1] * 10;
        k += 1;
    }
    t
};

/// 10^k, k at most 19.
#[inline]
pub fn pow10(k: u32) -> u64 {
    POW10[k as usize]
}

/// `v / 10^k` and `v % 10^k` for k at most 18, each k's divisor a constant
/// the compiler turns into a multiplication (a division by a variable
/// costs several times more; every amount written divides once).
#[inline]
fn div_rem_pow10(v: i64, k: u32) -> (i64, i64) {
    macro_rules! by_constant {
        ($($k:literal)*) => {
            match k {
                $($k => (v / 10i64.pow($k), v % 10i64.pow($k)),)*
                _ => (v / POW10[k as usize] as i64, v % POW10[k as usize] as i64),
            }
        };
    }
    by_constant!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18)
}

/// Writes `count` digits of `u` from the right, ending just before `*end`
/// in `out` (two digits per division); returns what is left of `u`.
#[inline]
fn digits_from_right(out: &mut [u8], end: &mut usize, mut u: u64, count: usize) -> u64 {
    let mut k = count;
    while k >= 2 {
        let r = (u % 100) as usize * 2;
        u /= 100;
        *end -= 2;
        out[*end..*end + 2].copy_from_slice(&PAIRS[r..r + 2]);
        k -= 2;
    }
    if k == 1 {
        *end -= 1;
        out[*end] = b'0' + (u % 10) as u8;
        u /= 10;
    }
    u
}

/// The number of decimal digits of `u` (1 for 0).
#[inline]
fn digit_count(u: u64) -> usize {
    u.checked_ilog10().map_or(1, |d| d as usize + 1)
}

/// The 64-bit writer (every amount of the reports in practice; `scale`
/// and `dp` at most 18): the value rounded once with table powers of ten,
/// its text written from the right into a fixed block of room appended
/// to `buf`, then cut to its length: no copy of variable length (three
/// before; the amount writer was 18 % of the CPU while the reports are
/// written, docs/performance.md, log entry 57). Returns false, writing
/// nothing, when the value does not fit 64 bits at `dp` decimals.
fn write_scaled_narrow(buf: &mut Vec<u8>, v: i64, scale: u32, dp: u32, rounding: Rounding) -> bool {
    let m = if dp >= scale {
        match v.checked_mul(POW10[(dp - scale) as usize] as i64) {
            Some(m) => m,
            None => return false,
        }
    } else {
        let div = POW10[(scale - dp) as usize];
        let (q, rem) = div_rem_pow10(v, scale - dp);
        // |rem| < div ≤ 10^18, so twice it fits a u64.
        if rounds_away((2 * rem.unsigned_abs()).cmp(&div), rounding, q % 2 != 0) {
            q + v.signum()
        } else {
            q
        }
    };
    let dp = dp as usize;
    let u = m.unsigned_abs();
    let int_digits = digit_count(u).saturating_sub(dp).max(1);
    let len = usize::from(m < 0) + int_digits + if dp > 0 { dp + 1 } else { 0 };
    // At most a sign, 19 digits of u and 18 zeros of a fraction before
    // them, and the point: room for 40 is appended (a constant store, no
    // copy), the digits written into it in place, and the rest cut off.
    let at = buf.len();
    buf.extend_from_slice(&[b'0'; 40]);
    let text = &mut buf[at..];
    let mut end = len;
    let u = digits_from_right(text, &mut end, u, dp);
    if dp > 0 {
        end -= 1;
        text[end] = b'.';
    }
    digits_from_right(text, &mut end, u, int_digits);
    if m < 0 {
        text[0] = b'-';
    }
    buf.truncate(at + len);
    true
}

/// "00" to "99": two digits per division when writing an integer.
const PAIRS: [u8; 200] = {
    let mut t = [0u8; 200];
    let mut k = 0;
    while k < 100 {
        t[2 * k] = b'0' + (k / 10) as u8;
        t[2 * k + 1] = b'0' + (k % 10) as u8;
        k += 1;
    }
    t
};

/// Writes the decimal digits of `v` (in place in room appended to `buf`,
/// as [`write_scaled_narrow`] does).
fn write_u64(buf: &mut Vec<u8>, v: u64) {
    // One or two digits (the bill's order counts, most of the integers
    // written) straight from the pairs (log entry 94).
    if v < 100 {
        // Two bytes stored, then cut: a copy of fixed length.
        let at = buf.len();
        let (pair, len) = if v < 10 {
            ([b'0' + v as u8, b'0'], 1)
        } else {
            ([PAIRS[2 * v as usize], PAIRS[2 * v as usize + 1]], 2)
        };
        buf.extend_from_slice(&pair);
        buf.truncate(at + len);
        return;
    }
    let len = digit_count(v);
    let at = buf.len();
    buf.extend_from_slice(&[b'0'; 20]);
    let mut end = len;
    digits_from_right(&mut buf[at..], &mut end, v, len);
    buf.truncate(at + len);
}

/// Writes the decimal digits of `v` (64-bit arithmetic when it fits).
pub fn write_u128(buf: &mut Vec<u8>, v: u128) {
    if let Ok(small) = u64::try_from(v) {
        return write_u64(buf, small);
    }
    let mut v = v;
    let mut tmp = [0u8; 40];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    buf.extend_from_slice(&tmp[i..]);
}

/// Formats an exact value with all its digits, as written (messages).
pub fn format_exact(value: Decimal) -> String {
    value.to_string()
}

/// Why a report cell is not an amount as the reports write it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WrittenAmountError {
    /// Not `-?digits[.digits]`.
    Syntax,
    /// More decimals than the scale asked for, or more than 38 digits.
    TooPrecise,
}

/// An amount as the reports write it ([`write_amount`]): `-?digits[.digits]`,
/// as an integer of 10^-`scale` units — exact, or an error when it has more
/// decimals than `scale` or the result more than 38 digits. The one reader
/// of written amounts: the Parquet copies, report.html and `--baseline`
/// read reports with it ([`parse_written`]).
pub fn parse_written_scaled(s: &str, scale: usize) -> Result<i128, WrittenAmountError> {
    parse_written_short(s.as_bytes(), scale).unwrap_or_else(|| parse_written_general(s, scale))
}

/// The most digits an amount read back may have at its scale (i128's).
const WRITTEN_PRECISION: usize = 38;

/// [`parse_written_scaled`] for any text.
fn parse_written_general(s: &str, scale: usize) -> Result<i128, WrittenAmountError> {
    let (negative, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (int, frac) = match body.split_once('.') {
        Some((i, f)) => (i, f),
        None => (body, ""),
    };
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || !digits(int) || !digits(frac) || (body.contains('.') && frac.is_empty()) {
        return Err(WrittenAmountError::Syntax);
    }
    if frac.len() > scale || scale > WRITTEN_PRECISION {
        return Err(WrittenAmountError::TooPrecise);
    }
    let int = int.trim_start_matches('0');
    if int.len() + scale > WRITTEN_PRECISION {
        return Err(WrittenAmountError::TooPrecise);
    }
    // At most 38 digits: fits i128 (10^38 < 2^127).
    let mut v: i128 = 0;
    for b in int.bytes().chain(frac.bytes()) {
        v = v * 10 + i128::from(b - b'0');
    }
    for _ in frac.len()..scale {
        v *= 10;
    }
    Ok(if negative { -v } else { v })
}

/// [`parse_written_scaled`] in one pass over a well-formed amount of at
/// most 19 digits (every amount a 64-bit mantissa gives, so nearly every
/// amount read back); None, for the general path, for anything else.
/// report.html's digest of the bill reads three amounts a row with refunds
/// (log entry 93).
#[inline]
fn parse_written_short(s: &[u8], scale: usize) -> Option<Result<i128, WrittenAmountError>> {
    let (negative, body) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    if body.len() > 20 {
        return None;
    }
    // Digits before the point (and those of them past leading zeros),
    // digits after it, and whether a point was seen.
    let (mut int_len, mut significant, mut frac_len, mut point) = (0usize, 0usize, 0usize, false);
    let mut v: u64 = 0;
    for &b in body {
        match b {
            b'0'..=b'9' if point => {
                frac_len += 1;
                v = v.wrapping_mul(10).wrapping_add(u64::from(b - b'0'));
            }
            b'0'..=b'9' => {
                int_len += 1;
                significant += usize::from(significant > 0 || b != b'0');
                v = v.wrapping_mul(10).wrapping_add(u64::from(b - b'0'));
            }
            b'.' if !point => point = true,
            _ => return None,
        }
    }
    // Past 19 digits the value may have wrapped: the general path then.
    if int_len == 0 || (point && frac_len == 0) || int_len + frac_len > 19 {
        return None;
    }
    if frac_len > scale || scale > WRITTEN_PRECISION || significant + scale > WRITTEN_PRECISION {
        return Some(Err(WrittenAmountError::TooPrecise));
    }
    // At most 38 digits in all (checked above): fits i128.
    let mut v = i128::from(v);
    for _ in frac_len..scale {
        v *= 10;
    }
    Some(Ok(if negative { -v } else { v }))
}

/// An amount as the reports write it, as an exact [`Decimal`] at its
/// written scale (`0.00` stays `0.00`). At most 28 decimals (Decimal's).
pub fn parse_written(s: &str) -> Result<Decimal, WrittenAmountError> {
    let scale = s.split_once('.').map_or(0, |(_, f)| f.len());
    if scale > 28 {
        return Err(WrittenAmountError::TooPrecise);
    }
    let v = parse_written_scaled(s, scale)?;
    Decimal::try_from_i128_with_scale(v, scale as u32).map_err(|_| WrittenAmountError::TooPrecise)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    /// The parser before it became one pass, as the oracle.
    fn parse_money_reference(s: &str) -> Result<Decimal, MoneyError> {
        let b = s.as_bytes();
        let digits = |from: usize| b[from..].iter().take_while(|c| c.is_ascii_digit()).count();
        // Syntax first: digits, then optionally '.' and 1+ digits, nothing else.
        let int_len = digits(0);
        if int_len == 0 {
            return Err(MoneyError::Syntax);
        }
        let frac_len = match b.get(int_len) {
            None => 0,
            Some(b'.') => {
                let n = digits(int_len + 1);
                if n == 0 || int_len + 1 + n != b.len() {
                    return Err(MoneyError::Syntax);
                }
                n
            }
            Some(_) => return Err(MoneyError::Syntax),
        };
        if frac_len > 6 {
            return Err(MoneyError::TooManyDecimals);
        }
        let int = &b[..int_len];
        let significant = int.len() - int.iter().take_while(|&&c| c == b'0').count();
        if significant > MAX_INTEGER_DIGITS {
            return Err(MoneyError::TooLarge);
        }
        // At most 13 + 6 = 19 significant digits: below 10¹⁹, inside u64.
        let mantissa = int[int_len - significant..]
            .iter()
            .chain(b.get(int_len + 1..).unwrap_or_default())
            .fold(0u64, |m, c| m * 10 + u64::from(c - b'0'));
        Ok(Decimal::from_i128_with_scale(i128::from(mantissa), frac_len as u32))
    }

    #[test]
    fn one_pass_parser_agrees_with_the_reference() {
        use proptest::prelude::*;
        let alphabet = prop::sample::select(vec!["0", "1", "5", "9", ".", "x", "-", "00", "999999"]);
        proptest!(ProptestConfig::with_cases(4000), |(parts in prop::collection::vec(alphabet, 0..12))| {
            let text: String = parts.concat();
            let (ours, theirs) = (parse_money(&text), parse_money_reference(&text));
            prop_assert_eq!(ours, theirs, "{:?}", text);
            if let (Ok(a), Ok(b)) = (ours, theirs) {
                prop_assert_eq!((a.mantissa(), a.scale()), (b.mantissa(), b.scale()));
                prop_assert_eq!(a.to_string(), b.to_string());
            }
        });
    }

    /// Sums keep every sum exactly, also one past 64 bits of mantissa and
    /// in a later chunk.
    #[test]
    fn sums_are_kept_exactly() {
        let max = d(MAX_AMOUNT);
        let want = [d("0"), d("12.30"), max + max, d("0.000001"), max * d("3"), d("7")];
        let mut slots = Sums::slots(want.len());
        let wide: Vec<_> = slots
            .chunks_mut(4)
            .enumerate()
            .map(|(k, out)| Sums::store(4 * k, &want[4 * k..4 * k + out.len()], out))
            .collect();
        assert_eq!(wide.iter().map(Vec::len).sum::<usize>(), 2, "two sums past 64 bits");
        let sums = Sums::from_parts(slots, wide);
        assert_eq!(sums.len(), want.len());
        for (i, w) in want.iter().enumerate() {
            assert_eq!((sums.get(i), sums.get(i).scale()), (*w, w.scale()), "sum {i}");
        }
    }

    /// Every amount the parser reads is stored in 9 bytes and given back as
    /// the same decimal: value, mantissa and scale (so it is written the
    /// same), the largest amount and every scale included.
    #[test]
    fn a_stored_amount_is_the_parsed_one() {
        use proptest::prelude::*;
        assert_eq!(std::mem::size_of::<Stored>(), 9);
        assert_eq!(std::mem::size_of::<Option<Stored>>(), 10);
        let fixed = [
            MAX_AMOUNT,
            "0",
            "0.000000",
            "306.10",
            "5",
            "0009999999999999.5",
            "1.123456",
            "18446744.073709",
        ];
        let digits = "[0-9]{1,13}(\\.[0-9]{1,6})?";
        let check = |text: &str| {
            let v = parse_money(text).unwrap();
            // The column's own parse stores what `of` makes of the decimal.
            assert_eq!(
                parse_stored(text).unwrap(),
                Stored::of(v).expect("every parsed amount fits")
            );
            let back = Stored::of(v).expect("every parsed amount fits").get();
            assert_eq!(
                (back.mantissa(), back.scale(), back.to_string()),
                (v.mantissa(), v.scale(), v.to_string())
            );
        };
        fixed.iter().for_each(|t| check(t));
        proptest!(ProptestConfig::with_cases(4000), |(text in digits)| check(&text));
        // Nothing else is taken for one.
        assert_eq!(Stored::of(d("-1.5")), None);
        assert_eq!(Stored::of(d("18446744073709551616")), None);
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
        assert_eq!(parse_money("10000000000000"), Err(MoneyError::TooLarge));
        assert_eq!(parse_money("12345678901234567890123"), Err(MoneyError::TooLarge));
        assert_eq!(parse_money(&"9".repeat(40)), Err(MoneyError::TooLarge));
        assert_eq!(parse_money(&format!("{}x", "9".repeat(40))), Err(MoneyError::Syntax));
        assert_eq!(parse_money("123456789012345..5"), Err(MoneyError::Syntax));
        assert_eq!(parse_money("123456789012345.5.5"), Err(MoneyError::Syntax));
        assert_eq!(parse_money("123456789012345.1234567"), Err(MoneyError::TooManyDecimals));
        assert_eq!(parse_money(MAX_AMOUNT).unwrap(), d(MAX_AMOUNT));
        assert_eq!(parse_money("0009999999999999.5").unwrap(), d("9999999999999.5"));
        assert_eq!(parse_money("1.12345678x"), Err(MoneyError::Syntax));
        assert_eq!(parse_money("1.1234567"), Err(MoneyError::TooManyDecimals));
    }

    #[test]
    fn mul_div_rounds_once_exactly() {
        let h = Rounding::HalfUp;
        // Worked example 4 (docs/rules.md#example-4-partial-refund):
        // 300 × 264 / 365 = 216.9863… → 216.99.
        assert_eq!(mul_div_round(d("300.00"), 264, 365, 2, h), Some(d("216.99")));
        // Exact midpoints: half up goes away from zero, half even to even.
        assert_eq!(mul_div_round(d("0.01"), 1, 2, 2, h), Some(d("0.01")));
        assert_eq!(mul_div_round(d("0.01"), 1, 2, 2, Rounding::HalfEven), Some(d("0.00")));
        assert_eq!(mul_div_round(d("0.03"), 1, 2, 2, Rounding::HalfEven), Some(d("0.02")));
        assert_eq!(mul_div_round(d("10.123456"), 1, 1, 3, h), Some(d("10.123")));
        assert_eq!(mul_div_round(d("7"), 2, 3, 6, h), Some(d("4.666667")));
        // The largest amount over 10,000 years in hours.
        let hours = 10_000 * 8_784;
        // 9999999999999.999999 × 87839999 / 87840000 = 9999999886156.6484…
        assert_eq!(
            mul_div_round(d(MAX_AMOUNT), hours - 1, hours, 2, h),
            Some(d("9999999886156.65"))
        );
        assert_eq!(mul_div_round(d("1"), 1, 0, 2, h), None);
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
    fn scaled_integers_round_once() {
        let w = |v: &str, dp: u32, mode: Rounding| {
            let mut b = Vec::new();
            write_scaled(&mut b, d(v).mantissa(), 6, dp, mode);
            String::from_utf8(b).unwrap()
        };
        assert_eq!(w("12.345000", 2, Rounding::HalfUp), "12.35");
        assert_eq!(w("12.345000", 2, Rounding::HalfEven), "12.34");
        assert_eq!(w("12.355000", 2, Rounding::HalfEven), "12.36");
        assert_eq!(w("-12.345000", 2, Rounding::HalfUp), "-12.35");
        assert_eq!(w("-0.004000", 2, Rounding::HalfUp), "0.00");
        assert_eq!(w("0.500000", 0, Rounding::HalfEven), "0");
        assert_eq!(w("1.500000", 0, Rounding::HalfEven), "2");
        assert_eq!(w("7.000001", 3, Rounding::HalfUp), "7.000");
        assert_eq!(w("123.450000", 6, Rounding::HalfUp), "123.450000");
        // Beyond 64 bits.
        let mut b = Vec::new();
        write_scaled(&mut b, 123_456_789_012_345_678_901_234_567i128, 6, 2, Rounding::HalfUp);
        assert_eq!(String::from_utf8(b).unwrap(), "123456789012345678901.23");
    }

    #[test]
    fn formatting_pads_and_rounds() {
        assert_eq!(format(d("5"), 2, Rounding::HalfUp), "5.00");
        assert_eq!(format(d("1100.0"), 0, Rounding::HalfUp), "1100");
        assert_eq!(format(d("10.005"), 2, Rounding::HalfUp), "10.01");
        assert_eq!(format(d("-0.001"), 2, Rounding::HalfUp), "0.00");
        assert_eq!(format(d("-1.5"), 2, Rounding::HalfUp), "-1.50");
        assert_eq!(format(d("0.07"), 2, Rounding::HalfUp), "0.07");
        assert_eq!(format(d("123456789.123456"), 3, Rounding::HalfUp), "123456789.123");
        assert_eq!(format(d("-12.3"), 3, Rounding::HalfUp), "-12.300");
        assert_eq!(format_exact(d("10.00500")), "10.00500");
        // Zero, at any scale, as `0` and `dp` decimals.
        for (scale, dp, want) in [
            (0, 0, "0"),
            (6, 2, "0.00"),
            (2, 3, "0.000"),
            (6, 18, "0.000000000000000000"),
        ] {
            let mut b = Vec::new();
            write_scaled(&mut b, 0, scale, dp, Rounding::HalfEven);
            assert_eq!(String::from_utf8(b).unwrap(), want);
        }
    }

    /// The writer of report amounts (digit pairs, the fraction written
    /// from the right) against rust_decimal's own rounding and formatting,
    /// over both integer widths.
    #[test]
    fn scaled_amounts_match_decimal_formatting() {
        use proptest::prelude::*;
        use rust_decimal::RoundingStrategy;
        let values = prop_oneof![
            any::<i64>().prop_map(i128::from),
            (-1_000_000i128..1_000_000),
            (any::<i32>(), 0u32..12).prop_map(|(v, k)| i128::from(v) * 10i128.pow(k) + 7),
        ];
        let config = ProptestConfig {
            cases: 20000,
            max_global_rejects: 200_000,
            ..ProptestConfig::default()
        };
        proptest!(config, |(v in values, scale in 0u32..=12, dp in 0u32..=8, even in any::<bool>())| {
            let (rounding, strategy) = if even {
                (Rounding::HalfEven, RoundingStrategy::MidpointNearestEven)
            } else {
                (Rounding::HalfUp, RoundingStrategy::MidpointAwayFromZero)
            };
            // The reference holds 96 bits at the written scale.
            let widened = v.abs().checked_mul(10i128.pow(dp.saturating_sub(scale)));
            prop_assume!(widened.is_some_and(|w| w < 1i128 << 96));
            let mut b = Vec::new();
            write_scaled(&mut b, v, scale, dp, rounding);
            let mut want = Decimal::from_i128_with_scale(v, scale).round_dp_with_strategy(dp, strategy);
            if want.is_zero() {
                want.set_sign_positive(true);
            }
            want.rescale(dp);
            let want = want.to_string();
            prop_assert_eq!(String::from_utf8(b).unwrap(), want);
        });
        for v in [0u64, 9, 10, 99, 100, 101, 999_999, 1_000_000, u64::MAX] {
            let mut b = Vec::new();
            write_u128(&mut b, u128::from(v));
            assert_eq!(String::from_utf8(b).unwrap(), v.to_string());
        }
    }

    #[test]
    fn written_amounts_read_back_exactly() {
        assert_eq!(parse_written("216.99"), Ok(d("216.99")));
        assert_eq!(parse_written("-0.50"), Ok(d("-0.50")));
        assert_eq!(parse_written("0.00").map(|v| v.to_string()), Ok("0.00".to_string()));
        assert_eq!(parse_written("1100"), Ok(d("1100")));
        for bad in ["", "-", "+1", "1.", ".5", "1e3", " 1", "1,000.00", "abc"] {
            assert_eq!(parse_written(bad), Err(WrittenAmountError::Syntax), "{bad:?}");
        }
        assert_eq!(parse_written_scaled("1.234", 2), Err(WrittenAmountError::TooPrecise));
    }

    /// The one-pass reader of short amounts gives what the general one
    /// gives, errors included, whenever it answers; and it answers for
    /// every well-formed amount of up to 19 digits.
    #[test]
    fn short_written_amounts_read_as_the_general_reader_reads_them() {
        use proptest::prelude::*;
        let alphabet = prop::sample::select(vec!["0", "1", "9", "5", ".", "-", "00", "12345678", "e", " "]);
        proptest!(ProptestConfig::with_cases(8000), |(parts in prop::collection::vec(alphabet, 0..8), scale in 0usize..=40)| {
            let text = parts.concat();
            let general = parse_written_general(&text, scale);
            if let Some(short) = parse_written_short(text.as_bytes(), scale) {
                prop_assert_eq!(short, general, "{:?} at scale {}", text, scale);
            }
        });
        for (text, scale) in [
            ("0", 0),
            ("-0.50", 2),
            ("9999999999999999999", 19),
            ("1234567890.123456789", 9),
            ("000000000000000001.5", 37),
        ] {
            assert_eq!(
                parse_written_short(text.as_bytes(), scale),
                Some(parse_written_general(text, scale)),
                "{text}"
            );
        }
        assert_eq!(parse_written_short(b"1.2.3", 6), None);
        assert_eq!(parse_written_short(b"12345678901234567890", 0), None);
    }
}
