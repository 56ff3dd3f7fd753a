//! A CSV row builder for the reports: writes straight into a byte buffer
//! (no allocation per cell), quotes a field only when it holds `,`, `"`,
//! CR or LF (RFC 4180), neutralises spreadsheet formulas in text cells, and
//! formats amounts and timestamps without going through `fmt`.

use rust_decimal::Decimal;

use crate::money::Rounding;
use crate::time::{civil_from_days, Calendar, Micros, SECOND};

/// Rows of CSV text being built.
#[derive(Default)]
pub struct Rows {
    pub buf: Vec<u8>,
    fresh: bool,
}

impl Rows {
    pub fn with_capacity(n: usize) -> Rows {
        Rows {
            buf: Vec::with_capacity(n),
            fresh: true,
        }
    }

    #[inline]
    fn sep(&mut self) {
        if self.fresh {
            self.fresh = false;
        } else {
            self.buf.push(b',');
        }
    }

    /// Ends the current row.
    #[inline]
    pub fn end(&mut self) {
        self.buf.push(b'\n');
        self.fresh = true;
    }

    /// A text cell: formula-escaped (leading `'` before `= + - @`, tab,
    /// CR) and quoted when needed.
    pub fn text(&mut self, s: &str) {
        self.sep();
        let formula = matches!(s.as_bytes().first(), Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r'));
        let quote = s.bytes().any(|b| matches!(b, b',' | b'"' | b'\r' | b'\n'));
        if quote {
            self.buf.push(b'"');
        }
        if formula {
            self.buf.push(b'\'');
        }
        if quote {
            for b in s.bytes() {
                if b == b'"' {
                    self.buf.push(b'"');
                }
                self.buf.push(b);
            }
            self.buf.push(b'"');
        } else {
            self.buf.extend_from_slice(s.as_bytes());
        }
    }

    /// A cell known to need neither quoting nor escaping (tokens, numbers,
    /// timestamps, months).
    #[inline]
    pub fn plain(&mut self, s: &str) {
        self.sep();
        self.buf.extend_from_slice(s.as_bytes());
    }

    #[inline]
    pub fn empty(&mut self) {
        self.sep();
    }

    /// A scaled integer amount (`v / 10^scale`) at `dp` decimals.
    pub fn scaled(&mut self, v: i128, scale: u32, dp: u32, rounding: Rounding) {
        self.sep();
        push_scaled(&mut self.buf, v, scale, dp, rounding);
    }

    pub fn int(&mut self, v: u64) {
        self.sep();
        push_u128(&mut self.buf, u128::from(v));
    }

    /// An amount with exactly `dp` decimals, rounded with the policy's
    /// rounding if it has more.
    pub fn amount(&mut self, v: Decimal, dp: u32, rounding: Rounding) {
        self.sep();
        push_amount(&mut self.buf, v, dp, rounding);
    }

    /// A billing month, `YYYY-MM`.
    pub fn month(&mut self, m: crate::model::Month) {
        self.sep();
        let y = m.year();
        if (0..=9999).contains(&y) {
            two(&mut self.buf, (y / 100) as u32);
            two(&mut self.buf, (y % 100) as u32);
            self.buf.push(b'-');
            two(&mut self.buf, m.month());
        } else {
            self.buf.extend_from_slice(m.to_string().as_bytes());
        }
    }

    /// Tokens joined by `;` (no quoting needed).
    pub fn joined<'s>(&mut self, items: impl IntoIterator<Item = &'s str>) {
        self.sep();
        for (i, s) in items.into_iter().enumerate() {
            if i > 0 {
                self.buf.push(b';');
            }
            self.buf.extend_from_slice(s.as_bytes());
        }
    }

    /// RFC 3339 in the billing zone, whole seconds.
    pub fn ts(&mut self, t: Micros, cal: &Calendar) {
        self.sep();
        push_ts(&mut self.buf, t, cal);
    }

    pub fn opt_ts(&mut self, t: Option<Micros>, cal: &Calendar) {
        match t {
            Some(t) => self.ts(t, cal),
            None => self.empty(),
        }
    }
}

fn push_u64(buf: &mut Vec<u8>, mut v: u64) {
    let mut tmp = [0u8; 20];
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

/// Writes `v / 10^scale` with exactly `dp` decimals, rounding once with the
/// policy's rounding when `dp < scale`.
pub fn push_scaled(buf: &mut Vec<u8>, v: i128, scale: u32, dp: u32, rounding: Rounding) {
    // The common case in 64-bit arithmetic: 128-bit division is slow.
    if let Ok(narrow) = i64::try_from(v) {
        if scale <= 18 && dp <= 18 && push_scaled_narrow(buf, narrow, scale, dp, rounding) {
            return;
        }
    }
    // Decimal's 96-bit mantissas at scale ≤ 28 always fit in i128 here.
    let written = push_scaled_wide(buf, v, scale, dp, rounding);
    assert!(written, "amount out of range");
}

/// Defines a writer of `v / 10^scale` at exactly `dp` decimals, rounded
/// once (half up or half even), for one integer width. Returns false,
/// writing nothing, when the value does not fit that width.
macro_rules! scaled_writer {
    ($name:ident, $int:ty, $digits:ident) => {
        fn $name(buf: &mut Vec<u8>, v: $int, scale: u32, dp: u32, rounding: Rounding) -> bool {
            let ten: $int = 10;
            let m = if dp >= scale {
                match v.checked_mul(ten.pow(dp - scale)) {
                    Some(m) => m,
                    None => return false,
                }
            } else {
                let div = ten.pow(scale - dp);
                let (q, rem) = (v / div, v % div);
                let twice = 2 * rem.abs();
                let away = twice > div || (twice == div && (rounding == Rounding::HalfUp || q % 2 != 0));
                if away {
                    q + v.signum()
                } else {
                    q
                }
            };
            if m < 0 {
                buf.push(b'-');
            }
            let m = m.unsigned_abs();
            let p = ten.unsigned_abs().pow(dp);
            $digits(buf, m / p);
            if dp > 0 {
                buf.push(b'.');
                let start = buf.len();
                $digits(buf, m % p);
                let written = buf.len() - start;
                if written < dp as usize {
                    buf.splice(start..start, std::iter::repeat_n(b'0', dp as usize - written));
                }
            }
            true
        }
    };
}

scaled_writer!(push_scaled_narrow, i64, push_u64);
scaled_writer!(push_scaled_wide, i128, push_u128);

fn push_u128(buf: &mut Vec<u8>, v: u128) {
    if let Ok(small) = u64::try_from(v) {
        return push_u64(buf, small);
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

/// Writes `v` with exactly `dp` decimals (same text as
/// [`crate::money::format`]).
pub fn push_amount(buf: &mut Vec<u8>, v: Decimal, dp: u32, rounding: Rounding) {
    push_scaled(buf, v.mantissa(), v.scale(), dp, rounding);
}

fn two(buf: &mut Vec<u8>, v: u32) {
    buf.push(b'0' + (v / 10) as u8);
    buf.push(b'0' + (v % 10) as u8);
}

/// Writes `t` as `YYYY-MM-DDTHH:MM:SS±HH:MM` in the billing zone.
pub fn push_ts(buf: &mut Vec<u8>, t: Micros, cal: &Calendar) {
    let secs = t.div_euclid(SECOND);
    let off = cal.offset_seconds(secs);
    let local = secs + i64::from(off);
    let days = local.div_euclid(86_400);
    let sod = local.rem_euclid(86_400) as u32;
    let (y, m, d) = civil_from_days(days);
    if (0..=9999).contains(&y) {
        let y = y as u32;
        two(buf, y / 100);
        two(buf, y % 100);
    } else {
        buf.extend_from_slice(format!("{y:04}").as_bytes());
    }
    buf.push(b'-');
    two(buf, m);
    buf.push(b'-');
    two(buf, d);
    buf.push(b'T');
    two(buf, sod / 3600);
    buf.push(b':');
    two(buf, sod / 60 % 60);
    buf.push(b':');
    two(buf, sod % 60);
    buf.push(if off < 0 { b'-' } else { b'+' });
    let a = off.unsigned_abs();
    two(buf, a / 3600);
    buf.push(b':');
    two(buf, a / 60 % 60);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::str::FromStr;

    #[test]
    fn amounts_match_money_format() {
        for (v, dp) in [
            ("5", 2),
            ("1100.0", 0),
            ("10.005", 2),
            ("-0.001", 2),
            ("-1.5", 2),
            ("0.07", 2),
            ("123456789.123456", 3),
            ("0", 0),
            ("-12.3", 3),
        ] {
            let d = Decimal::from_str(v).unwrap();
            let mut b = Vec::new();
            push_amount(&mut b, d, dp, Rounding::HalfUp);
            assert_eq!(
                String::from_utf8(b).unwrap(),
                crate::money::format(d, dp, Rounding::HalfUp),
                "{v} at {dp}"
            );
        }
    }

    #[test]
    fn scaled_amounts_round_once() {
        for (v, dp, mode) in [
            ("12.345000", 2, Rounding::HalfUp),
            ("12.345000", 2, Rounding::HalfEven),
            ("12.355000", 2, Rounding::HalfEven),
            ("-12.345000", 2, Rounding::HalfUp),
            ("-0.004000", 2, Rounding::HalfUp),
            ("0.500000", 0, Rounding::HalfEven),
            ("1.500000", 0, Rounding::HalfEven),
            ("7.000001", 3, Rounding::HalfUp),
            ("123.450000", 6, Rounding::HalfUp),
        ] {
            let d = Decimal::from_str(v).unwrap();
            let mut b = Vec::new();
            push_scaled(&mut b, d.mantissa(), 6, dp, mode);
            assert_eq!(
                String::from_utf8(b).unwrap(),
                crate::money::format(d, dp, mode),
                "{v} at {dp}"
            );
        }
    }

    #[test]
    fn timestamps_match_calendar_format() {
        for zone in [
            chrono_tz::Asia::Shanghai,
            chrono_tz::America::New_York,
            chrono_tz::Asia::Kolkata,
            chrono_tz::UTC,
        ] {
            let cal = Calendar::new(zone, BTreeSet::new());
            for s in [
                "2021-09-30T16:30:00.9Z",
                "2021-03-14T07:30:00Z",
                "1969-12-31T23:59:59Z",
                "2000-02-29T12:00:00Z",
                "9999-12-31T00:00:00Z",
            ] {
                let t = cal.parse_ts(s).unwrap();
                let mut b = Vec::new();
                push_ts(&mut b, t, &cal);
                assert_eq!(String::from_utf8(b).unwrap(), cal.format(t), "{s} in {zone}");
            }
        }
    }

    #[test]
    fn text_cells_are_quoted_and_escaped() {
        let mut r = Rows::with_capacity(64);
        r.text("a,b");
        r.text("=1+1");
        r.text("say \"hi\"");
        r.text("-x,y");
        r.plain("2021-09");
        r.empty();
        r.int(42);
        r.end();
        assert_eq!(
            String::from_utf8(r.buf).unwrap(),
            "\"a,b\",'=1+1,\"say \"\"hi\"\"\",\"'-x,y\",2021-09,,42\n"
        );
    }
}
