//! The cell validators the three exports share (docs/inputs.md, "Cell
//! syntax").

use super::RowError;
use crate::money::{parse_stored, Stored};
use crate::time::{Calendar, Micros};

pub fn required<'a>(cells: &[&'a str], c: usize) -> Result<&'a str, RowError> {
    let v = cells[c];
    if v.is_empty() {
        Err(RowError::new(c, "required value is empty"))
    } else {
        Ok(v)
    }
}

/// An id or token-like text (order_id, account_id, method, …): required
/// and single-line, without control characters (a NUL or a line break
/// in an id is an export fault, and would reach the reports raw).
pub fn id<'a>(cells: &[&'a str], c: usize) -> Result<&'a str, RowError> {
    let v = required(cells, c)?;
    check_plain(v, c, false)?;
    Ok(v)
}

/// An optional id (batch_id, refund_destination): as [`id`] when given.
pub fn opt_id<'a>(cells: &[&'a str], c: usize) -> Result<&'a str, RowError> {
    let v = cells[c];
    check_plain(v, c, false)?;
    Ok(v)
}

/// Free text (product): required; tabs and line breaks are allowed,
/// other control characters (NUL, …) are not.
pub fn text<'a>(cells: &[&'a str], c: usize) -> Result<&'a str, RowError> {
    let v = required(cells, c)?;
    check_plain(v, c, true)?;
    Ok(v)
}

fn check_plain(v: &str, c: usize, free_text: bool) -> Result<(), RowError> {
    if !has_control(v.as_bytes()) {
        return Ok(());
    }
    let bad = v
        .bytes()
        .find(|&b| (b < 0x20 || b == 0x7f) && !(free_text && matches!(b, b'\t' | b'\n' | b'\r')));
    match bad {
        None => Ok(()),
        Some(b'\n' | b'\r') => Err(RowError::new(c, "contains a line break; ids are single-line text")),
        Some(b) => Err(RowError::new(
            c,
            format!("contains the control character U+{b:04X}; remove it from the export"),
        )),
    }
}

/// Whether any byte is a control character (below 0x20, or 0x7F):
/// eight bytes at a time, the last eight overlapping the ones before
/// (a cell of 8 to 16 bytes, as ids are, takes two words).
#[inline]
pub(super) fn has_control(b: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    // Some byte below 0x20, or some byte 0x7F (a zero byte once XORed):
    // exact for the word as a whole, whatever its other bytes.
    let word = |w: &[u8]| {
        let x = u64::from_ne_bytes(w.try_into().unwrap_or_default());
        let y = x ^ (ONES * 0x7f);
        (x.wrapping_sub(ONES * 0x20) & !x | y.wrapping_sub(ONES) & !y) & HIGH != 0
    };
    let n = b.len();
    if n < 8 {
        return b.iter().any(|&c| c < 0x20 || c == 0x7f);
    }
    let mut i = 0;
    while i + 8 < n {
        if word(&b[i..i + 8]) {
            return true;
        }
        i += 8;
    }
    word(&b[n - 8..])
}

pub fn ts(cells: &[&str], c: usize, cal: &Calendar) -> Result<Micros, RowError> {
    let v = required(cells, c)?;
    cal.parse_ts(v).map_err(|e| RowError::new(c, e.reason()))
}

pub fn opt_ts(cells: &[&str], c: usize, cal: &Calendar) -> Result<Option<Micros>, RowError> {
    if cells[c].is_empty() {
        Ok(None)
    } else {
        ts(cells, c, cal).map(Some)
    }
}

pub fn money(cells: &[&str], c: usize) -> Result<Stored, RowError> {
    let v = required(cells, c)?;
    parse_stored(v).map_err(|e| RowError::new(c, e.reason()))
}

pub fn token<E>(cells: &[&str], c: usize, parse: fn(&str) -> Option<E>, tokens: &str) -> Result<E, RowError> {
    let v = required(cells, c)?;
    parse(v).ok_or_else(|| RowError::new(c, format!("unknown value; expected one of: {tokens}")))
}

pub fn opt_bool(cells: &[&str], c: usize) -> Result<bool, RowError> {
    if cells[c].is_empty() {
        return Ok(false);
    }
    crate::model::parse_bool(cells[c])
        .ok_or_else(|| RowError::new(c, "not a boolean; expected true/false, 1/0 or yes/no"))
}

pub fn currency(cells: &[&str], c: usize) -> Result<crate::model::Currency, RowError> {
    let v = required(cells, c)?;
    crate::model::Currency::parse(v)
        .ok_or_else(|| RowError::new(c, "not a currency; expected three upper-case letters such as USD"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_found_at_any_position() {
        for len in 0..40 {
            let plain: Vec<u8> = (0..len).map(|i| b"aZ09-_ \x80\xff~"[i % 10]).collect();
            assert!(!has_control(&plain), "{len}");
            for at in 0..len {
                for bad in [0x00, 0x09, 0x0a, 0x0d, 0x1f, 0x7f] {
                    let mut v = plain.clone();
                    v[at] = bad;
                    assert!(has_control(&v), "{len} {at} {bad}");
                }
                let mut v = plain.clone();
                v[at] = 0x20;
                assert!(!has_control(&v));
            }
        }
    }
}
