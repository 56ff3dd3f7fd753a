//! A CSV row builder for the reports: writes straight into a byte buffer
//! (no allocation per cell), quotes a field only when it holds `,`, `"`,
//! CR or LF (RFC 4180), neutralises spreadsheet formulas in text cells, and
//! formats amounts and timestamps with the allocation-free writers of
//! [`crate::money`] and [`crate::time`].

use rust_decimal::Decimal;

use crate::money::Rounding;
use crate::money::{write_amount, write_scaled};
use crate::time::{Calendar, Micros};

/// Where a report row's cells go: a CSV row ([`Rows`]), or the cells'
/// text as a CSV reader gives it back ([`CellList`], what `explain` shows).
/// A writer of rows written against this trait fills both the same way.
pub trait CellWriter {
    /// A text cell (formula-escaped).
    fn text(&mut self, s: &str);
    /// A cell known to need no quoting or escaping.
    fn plain(&mut self, s: &str);
    fn empty(&mut self);
    /// An amount with exactly `dp` decimals.
    fn amount(&mut self, v: Decimal, dp: u32, rounding: Rounding);
    /// RFC 3339 in the billing zone, whole seconds.
    fn ts(&mut self, t: Micros, cal: &Calendar);
    /// Ends the row.
    fn end(&mut self);
}

/// Whether a text cell starts like a spreadsheet formula (`= + - @`, tab,
/// CR), so that it is written after a `'`.
fn is_formula(s: &str) -> bool {
    matches!(s.as_bytes().first(), Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r'))
}

/// The cells of one row as text, unquoted: what a CSV reader returns for
/// the row [`Rows`] writes.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CellList {
    pub cells: Vec<String>,
}

impl CellWriter for CellList {
    fn text(&mut self, s: &str) {
        let mut cell = String::with_capacity(s.len() + 1);
        if is_formula(s) {
            cell.push('\'');
        }
        cell.push_str(s);
        self.cells.push(cell);
    }

    fn plain(&mut self, s: &str) {
        self.cells.push(s.to_string());
    }

    fn empty(&mut self) {
        self.cells.push(String::new());
    }

    fn amount(&mut self, v: Decimal, dp: u32, rounding: Rounding) {
        let mut b = Vec::new();
        write_amount(&mut b, v, dp, rounding);
        self.cells.push(String::from_utf8_lossy(&b).into_owned());
    }

    fn ts(&mut self, t: Micros, cal: &Calendar) {
        let mut b = Vec::new();
        cal.write_rfc3339(&mut b, t);
        self.cells.push(String::from_utf8_lossy(&b).into_owned());
    }

    fn end(&mut self) {}
}

impl CellWriter for Rows {
    fn text(&mut self, s: &str) {
        Rows::text(self, s)
    }

    fn plain(&mut self, s: &str) {
        Rows::plain(self, s)
    }

    fn empty(&mut self) {
        Rows::empty(self)
    }

    fn amount(&mut self, v: Decimal, dp: u32, rounding: Rounding) {
        Rows::amount(self, v, dp, rounding)
    }

    fn ts(&mut self, t: Micros, cal: &Calendar) {
        Rows::ts(self, t, cal)
    }

    fn end(&mut self) {
        Rows::end(self)
    }
}

/// Rows of CSV text being built.
#[derive(Default)]
pub struct Rows {
    pub buf: Vec<u8>,
    /// Rows ended so far (for the control totals).
    pub rows: u64,
    fresh: bool,
    /// Where the last cell's text starts (see [`Rows::last_cell`]).
    cell: usize,
}

impl Rows {
    pub fn with_capacity(n: usize) -> Rows {
        Rows {
            buf: Vec::with_capacity(n),
            rows: 0,
            fresh: true,
            cell: 0,
        }
    }

    #[inline]
    fn sep(&mut self) {
        if self.fresh {
            self.fresh = false;
        } else {
            self.buf.push(b',');
        }
        self.cell = self.buf.len();
    }

    /// The bytes of the last cell written in `buf`, for [`Rows::copy`].
    #[inline]
    pub fn last_cell(&self) -> std::ops::Range<usize> {
        self.cell..self.buf.len()
    }

    /// A cell with the same text as an earlier one of this row
    /// ([`Rows::last_cell`] then): formatted once, written twice.
    #[inline]
    pub fn copy(&mut self, cell: std::ops::Range<usize>) {
        self.sep();
        self.buf.extend_from_within(cell);
    }

    /// A cell of bytes known to need neither quoting nor escaping.
    #[inline]
    pub fn plain_bytes(&mut self, b: &[u8]) {
        self.sep();
        self.buf.extend_from_slice(b);
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
        write_text(&mut self.buf, s);
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
    #[inline]
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

/// A text cell's bytes as [`Rows::text`] writes them, appended to `buf`:
/// formula-escaped and quoted when needed.
pub fn write_text(buf: &mut Vec<u8>, s: &str) {
    let formula = is_formula(s);
    let quote = needs_quotes(s.as_bytes());
    if quote {
        buf.push(b'"');
    }
    if formula {
        buf.push(b'\'');
    }
    if quote {
        // Each `"` doubled; the runs between them copied whole.
        let mut rest = s.as_bytes();
        while let Some(at) = memchr::memchr(b'"', rest) {
            buf.extend_from_slice(&rest[..=at]);
            buf.push(b'"');
            rest = &rest[at + 1..];
        }
        buf.extend_from_slice(rest);
        buf.push(b'"');
    } else {
        buf.extend_from_slice(s.as_bytes());
    }
}

/// Whether `s` holds `,`, `"`, CR or LF: eight bytes at a time (a text
/// cell is scanned for every row of every report).
#[inline]
fn needs_quotes(s: &[u8]) -> bool {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    // Nonzero exactly when some byte of `x` equals `b` (the classic
    // has-zero-byte test on x ^ b…b).
    #[inline(always)]
    fn has(x: u64, b: u8) -> u64 {
        let y = x ^ (LO * u64::from(b));
        y.wrapping_sub(LO) & !y & HI
    }
    let mut chunks = s.chunks_exact(8);
    for c in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(c);
        let x = u64::from_le_bytes(word);
        if has(x, b',') | has(x, b'"') | has(x, b'\r') | has(x, b'\n') != 0 {
            return true;
        }
    }
    chunks
        .remainder()
        .iter()
        .any(|&b| matches!(b, b',' | b'"' | b'\r' | b'\n'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_scan_matches_the_bytewise_rule() {
        let naive = |s: &[u8]| s.iter().any(|&b| matches!(b, b',' | b'"' | b'\r' | b'\n'));
        let mut cases: Vec<Vec<u8>> = vec![Vec::new(), b"plain text here".to_vec()];
        for len in 0..20 {
            for at in 0..len {
                for special in [b',', b'"', b'\r', b'\n', 0x2b, 0x2d, 0x0b, 0x8c, 0xac, 0x00, 0xff] {
                    let mut v: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
                    v[at] = special;
                    cases.push(v.clone());
                    v[len - 1 - at] = 0x80 | special;
                    cases.push(v);
                }
            }
        }
        for c in &cases {
            assert_eq!(needs_quotes(c), naive(c), "{c:?}");
        }
    }

    #[test]
    fn a_cell_copies_an_earlier_one() {
        let mut r = Rows::with_capacity(64);
        r.plain("a");
        r.amount(rust_decimal::Decimal::new(-150, 2), 2, Rounding::HalfUp);
        let amount = r.last_cell();
        r.empty();
        let empty = r.last_cell();
        r.copy(amount);
        r.copy(empty);
        r.plain_bytes(b"z");
        r.end();
        r.copy(0..1);
        r.end();
        assert_eq!(String::from_utf8(r.buf).unwrap(), "a,-1.50,,-1.50,,z\na\n");
    }

    #[test]
    fn text_cells_are_quoted_and_escaped() {
        let mut r = Rows::with_capacity(64);
        r.text("a,b");
        r.text("=1+1");
        r.text("say \"hi\"");
        r.text("-x,y");
        r.text("\"a\"\"b,\"");
        r.plain("2021-09");
        r.empty();
        r.int(42);
        r.end();
        assert_eq!(
            String::from_utf8(r.buf).unwrap(),
            "\"a,b\",'=1+1,\"say \"\"hi\"\"\",\"'-x,y\",\"\"\"a\"\"\"\"b,\"\"\",2021-09,,42\n"
        );
    }
}
