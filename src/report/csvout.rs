//! A CSV row builder for the reports: writes straight into a byte buffer
//! (no allocation per cell), quotes a field only when it holds `,`, `"`,
//! CR or LF (RFC 4180), neutralises spreadsheet formulas in text cells, and
//! formats amounts and timestamps with the allocation-free writers of
//! [`crate::money`] and [`crate::time`].

use rust_decimal::Decimal;

use crate::money::Rounding;
use crate::money::{write_amount, write_scaled};
use crate::time::{Calendar, Micros};

/// Rows of CSV text being built.
#[derive(Default)]
pub struct Rows {
    pub buf: Vec<u8>,
    /// Rows ended so far (for the control totals).
    pub rows: u64,
    fresh: bool,
}

impl Rows {
    pub fn with_capacity(n: usize) -> Rows {
        Rows {
            buf: Vec::with_capacity(n),
            rows: 0,
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
        self.rows += 1;
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
        write_scaled(&mut self.buf, v, scale, dp, rounding);
    }

    pub fn int(&mut self, v: u64) {
        self.sep();
        crate::money::write_u128(&mut self.buf, u128::from(v));
    }

    /// An amount with exactly `dp` decimals, rounded with the policy's
    /// rounding if it has more.
    pub fn amount(&mut self, v: Decimal, dp: u32, rounding: Rounding) {
        self.sep();
        write_amount(&mut self.buf, v, dp, rounding);
    }

    /// A billing month, `YYYY-MM`.
    pub fn month(&mut self, m: crate::model::Month) {
        self.sep();
        crate::time::write_month(&mut self.buf, m);
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
        cal.write_rfc3339(&mut self.buf, t);
    }

    /// UTC, whole seconds, `…Z`.
    pub fn utc(&mut self, t: Micros) {
        self.sep();
        crate::time::write_utc(&mut self.buf, t);
    }

    pub fn opt_ts(&mut self, t: Option<Micros>, cal: &Calendar) {
        match t {
            Some(t) => self.ts(t, cal),
            None => self.empty(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
