//! One source cell (or several) → the canonical text of one of our columns
//! (docs/mapping.md, "Values"): null tokens, JSON arrays, value maps, then
//! money or a timestamp in docs/inputs.md's syntax. An `Err` is a reject's
//! reason.

use chrono::{DateTime, LocalResult, NaiveDate, NaiveDateTime, TimeZone};
use chrono_tz::Tz;
use rust_decimal::Decimal;

use super::spec::{ColumnMap, JsonArray, MoneyOpts, Sign, TimeOpts};
use crate::time::{Calendar, Micros, SECOND};

/// Text steps shared by every kind: JSON array, then the value map.
pub fn text_steps(c: &ColumnMap, v: &str) -> Result<String, String> {
    let v = match &c.json {
        None => v.to_string(),
        Some(mode) => json_pick(v, mode)?,
    };
    match &c.map {
        None => Ok(v),
        Some(map) => match map.get(&v) {
            Some(to) => Ok(to.clone()),
            None if c.keep_unmapped => Ok(v),
            None => {
                let known: Vec<&str> = map.keys().map(String::as_str).take(12).collect();
                Err(format!(
                    "value {v:?} has no mapping in `{}.map` (mapped: {}); add it to the map",
                    c.key,
                    known.join(", ")
                ))
            }
        },
    }
}

/// The elements of a cell holding a JSON array of strings or numbers; a
/// cell that is not an array is one element.
pub fn json_elements(v: &str) -> Result<Vec<String>, String> {
    let t = v.trim();
    if !t.starts_with('[') {
        return Ok(vec![t.to_string()]);
    }
    let items: Vec<serde_json::Value> =
        serde_json::from_str(t).map_err(|e| format!("not a JSON array ({e}); expected e.g. [\"a\",\"b\"]"))?;
    items
        .into_iter()
        .map(|x| match x {
            serde_json::Value::String(s) => Ok(s),
            serde_json::Value::Number(n) => Ok(n.to_string()),
            other => Err(format!("a JSON array element is {other}, not a string")),
        })
        .collect()
}

fn json_pick(v: &str, mode: &JsonArray) -> Result<String, String> {
    let items = json_elements(v)?;
    match mode {
        JsonArray::First => Ok(items.into_iter().next().unwrap_or_default()),
        JsonArray::Only if items.len() > 1 => Err(format!(
            "the array has {} elements where one is expected; use `json = \"first\"` or `\"join:;\"` if that is right",
            items.len()
        )),
        JsonArray::Only => Ok(items.into_iter().next().unwrap_or_default()),
        JsonArray::Join(sep) => Ok(items.join(sep)),
    }
}

/// A money cell after the text steps, read with the column's separators and
/// signs (not yet signed, scaled or rounded: [`finish_money`]).
pub fn read_money(v: &str, o: &MoneyOpts) -> Result<Decimal, String> {
    let mut s = v.trim().to_string();
    for sym in &o.strip {
        s = s.replace(sym.as_str(), "");
    }
    let mut t: String = s.trim().chars().filter(|&ch| Some(ch) != o.thousands).collect();
    if let Some(d) = o.decimal {
        t = t.replace(d, ".");
    }
    let t = t.strip_prefix('+').unwrap_or(&t);
    crate::money::parse_written(t).map_err(|_| {
        format!(
            "{v:?} is not an amount{}",
            if o.thousands.is_none() && v.contains(',') {
                "; declare `thousands = \",\"` if the comma groups thousands"
            } else {
                ""
            }
        )
    })
}

/// Sign, scale and rounding; the canonical text (docs/inputs.md money).
pub fn finish_money(mut d: Decimal, o: &MoneyOpts) -> Result<String, String> {
    match o.sign {
        Sign::Keep => {}
        Sign::Negate => d = -d,
        Sign::Abs => d = d.abs(),
    }
    if let Some(f) = o.scale {
        d = d.checked_mul(f).ok_or("the amount overflows when scaled")?;
    }
    if d.is_zero() {
        // −0 (a negated or scaled zero) is 0.
        d.set_sign_positive(true);
    }
    if d.scale() > 6 {
        let r = d.round_dp(6);
        if r != d {
            match o.round {
                Some(mode) => d = crate::money::round(d, 6, mode),
                None => {
                    return Err(format!(
                        "{d} has more than 6 decimals; declare `round` (e.g. \"half_up\") if rounding to 6 is right"
                    ))
                }
            }
        } else {
            d = r;
        }
    }
    Ok(d.to_string())
}

/// A timestamp cell after the text steps → RFC 3339 in UTC.
pub fn timestamp(v: &str, o: &TimeOpts, zone: Tz, cal: &Calendar) -> Result<String, String> {
    let t = v.trim();
    let micros = if let Some(per_second) = o.epoch {
        let n: i64 = t.parse().map_err(|_| {
            format!(
                "{t:?} is not a whole number of {}",
                if per_second == 1 { "seconds" } else { "milliseconds" }
            )
        })?;
        n.checked_mul(SECOND / per_second).ok_or("out of range")?
    } else if let Some(f) = &o.format {
        from_pattern(t, f, o, zone)?
    } else if o.ignore_offset {
        let wall = strip_offset(t);
        local(
            NaiveDateTime::parse_from_str(&wall.replacen(['t', ' '], "T", 1), "%Y-%m-%dT%H:%M:%S%.f")
                .map_err(|e| format!("{t:?} is not a timestamp ({e})"))?,
            zone,
        )?
    } else if zone == cal.tz() {
        cal.parse_ts(t).map_err(|e| format!("{t:?}: {}", e.reason()))?
    } else {
        Calendar::new(zone, Default::default())
            .parse_ts(t)
            .map_err(|e| format!("{t:?}: {}", e.reason()))?
    };
    // Years 0001–9999, as docs/inputs.md's timestamps (an epoch value can
    // name any instant i64 holds).
    const FIRST: Micros = crate::time::days_from_civil(1, 1, 1) * 86_400 * SECOND;
    const END: Micros = crate::time::days_from_civil(10000, 1, 1) * 86_400 * SECOND;
    if !(FIRST..END).contains(&micros) {
        return Err(format!("{t:?} is outside the years 0001–9999"));
    }
    let micros = if o.inclusive_end {
        micros + unit(o.format.as_deref())
    } else {
        micros
    };
    let mut buf = Vec::with_capacity(20);
    crate::time::write_utc_exact(&mut buf, micros);
    Ok(String::from_utf8(buf).expect("ASCII"))
}

/// The smallest unit a pattern writes: what makes an inclusive end
/// exclusive.
fn unit(format: Option<&str>) -> Micros {
    match format {
        None => SECOND,
        Some(f) if f.contains("%S") || f.contains("%T") || f.contains("%s") => SECOND,
        Some(f) if f.contains("%M") || f.contains("%R") => 60 * SECOND,
        Some(f) if f.contains("%H") || f.contains("%I") => 3600 * SECOND,
        Some(_) => 86_400 * SECOND,
    }
}

fn strip_offset(t: &str) -> String {
    let t = t.strip_suffix(['Z', 'z']).unwrap_or(t);
    let b = t.as_bytes();
    if b.len() > 6 && matches!(b[b.len() - 6], b'+' | b'-') && b[b.len() - 3] == b':' {
        t[..t.len() - 6].to_string()
    } else {
        t.to_string()
    }
}

fn has_offset(f: &str) -> bool {
    f.contains("%z") || f.contains("%:z") || f.contains("%#z") || f.contains("%::z")
}

fn from_pattern(t: &str, f: &str, o: &TimeOpts, zone: Tz) -> Result<Micros, String> {
    let bad = |e: chrono::ParseError| format!("{t:?} does not match the pattern {f:?} ({e})");
    if has_offset(f) {
        let dt = DateTime::parse_from_str(t, f).map_err(bad)?;
        if o.ignore_offset {
            return local(dt.naive_local(), zone);
        }
        return Ok(dt.timestamp() * SECOND + i64::from(dt.timestamp_subsec_micros()));
    }
    let naive = match NaiveDateTime::parse_from_str(t, f) {
        Ok(n) => n,
        Err(e) => match NaiveDate::parse_from_str(t, f) {
            Ok(d) => d.and_hms_opt(0, 0, 0).expect("midnight"),
            Err(_) => return Err(bad(e)),
        },
    };
    local(naive, zone)
}

fn local(n: NaiveDateTime, zone: Tz) -> Result<Micros, String> {
    match zone.from_local_datetime(&n) {
        LocalResult::Single(dt) => Ok(dt.timestamp() * SECOND + i64::from(dt.timestamp_subsec_micros())),
        LocalResult::None => Err(format!("{n} does not exist in {zone} (a daylight-saving gap)")),
        LocalResult::Ambiguous(..) => Err(format!("{n} is ambiguous in {zone} (a daylight-saving overlap)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Rounding;

    fn money(thousands: Option<char>) -> MoneyOpts {
        MoneyOpts {
            thousands,
            ..MoneyOpts::default()
        }
    }

    #[test]
    fn money_with_separators_signs_and_symbols() {
        let o = MoneyOpts {
            thousands: Some(','),
            strip: vec!["¥".into(), "CNY".into()],
            sign: Sign::Abs,
            ..MoneyOpts::default()
        };
        let d = read_money("-¥1,200.50 ", &o).unwrap();
        assert_eq!(finish_money(d, &o).unwrap(), "1200.50");
        assert!(read_money("1,200.50", &money(None)).unwrap_err().contains("thousands"));
        let eu = MoneyOpts {
            thousands: Some('.'),
            decimal: Some(','),
            ..MoneyOpts::default()
        };
        assert_eq!(read_money("1.234,5", &eu).unwrap().to_string(), "1234.5");
        let scaled = MoneyOpts {
            scale: Some(Decimal::new(1, 2)),
            ..MoneyOpts::default()
        };
        assert_eq!(finish_money(Decimal::from(12345), &scaled).unwrap(), "123.45");
        let negate = MoneyOpts {
            sign: Sign::Negate,
            ..MoneyOpts::default()
        };
        assert_eq!(
            finish_money(read_money("0.00", &negate).unwrap(), &negate).unwrap(),
            "0.00"
        );
    }

    #[test]
    fn more_than_six_decimals_needs_a_declared_rounding() {
        let d = read_money("0.12345678", &money(None)).unwrap();
        assert!(finish_money(d, &money(None)).unwrap_err().contains("round"));
        let o = MoneyOpts {
            round: Some(Rounding::HalfUp),
            ..MoneyOpts::default()
        };
        assert_eq!(finish_money(d, &o).unwrap(), "0.123457");
        // Trailing zeros past 6 decimals lose nothing.
        assert_eq!(
            finish_money(read_money("1.50000000", &money(None)).unwrap(), &money(None)).unwrap(),
            "1.500000"
        );
    }

    #[test]
    fn timestamps_in_the_providers_shapes() {
        let sh: Tz = "Asia/Shanghai".parse().unwrap();
        let cal = Calendar::new(sh, Default::default());
        let plain = TimeOpts::default();
        assert_eq!(
            timestamp("2024-03-04T02:10:05Z", &plain, sh, &cal).unwrap(),
            "2024-03-04T02:10:05Z"
        );
        assert_eq!(
            timestamp("2020-03-11 08:00:00", &plain, sh, &cal).unwrap(),
            "2020-03-11T00:00:00Z"
        );
        let slash = TimeOpts {
            format: Some("%Y/%m/%d %H:%M".into()),
            ..TimeOpts::default()
        };
        assert_eq!(
            timestamp("2020/07/02 08:36", &slash, sh, &cal).unwrap(),
            "2020-07-02T00:36:00Z"
        );
        let gmt = TimeOpts {
            format: Some("%Y-%m-%d %H:%M:%S GMT%:z".into()),
            ..TimeOpts::default()
        };
        assert_eq!(
            timestamp("2020-09-28 09:00:00 GMT+08:00", &gmt, sh, &cal).unwrap(),
            "2020-09-28T01:00:00Z"
        );
        let wrong_z = TimeOpts {
            timezone: Some(sh),
            ignore_offset: true,
            ..TimeOpts::default()
        };
        assert_eq!(
            timestamp("2020-03-11T08:00:00Z", &wrong_z, sh, &cal).unwrap(),
            "2020-03-11T00:00:00Z"
        );
        let end = TimeOpts {
            inclusive_end: true,
            ..TimeOpts::default()
        };
        assert_eq!(
            timestamp("2025-03-04T15:59:59Z", &end, sh, &cal).unwrap(),
            "2025-03-04T16:00:00Z"
        );
        let ms = TimeOpts {
            epoch: Some(1000),
            ..TimeOpts::default()
        };
        assert_eq!(
            timestamp("1709518205000", &ms, sh, &cal).unwrap(),
            "2024-03-04T02:10:05Z"
        );
        assert!(timestamp("2020/07/02", &slash, sh, &cal).is_err());
        // `%.f`: fractional seconds when there are any.
        let frac = TimeOpts {
            format: Some("%d/%m/%Y %H:%M:%S%.f GMT%:z".into()),
            ..TimeOpts::default()
        };
        assert_eq!(
            timestamp("01/02/2021 08:36:44.250 GMT+08:00", &frac, sh, &cal).unwrap(),
            "2021-02-01T00:36:44.25Z"
        );
        assert_eq!(
            timestamp("01/02/2021 08:36:44 GMT+08:00", &frac, sh, &cal).unwrap(),
            "2021-02-01T00:36:44Z"
        );
    }

    #[test]
    fn json_arrays() {
        assert_eq!(json_elements("[\"sas-1\",\"sas-2\"]").unwrap(), vec!["sas-1", "sas-2"]);
        assert_eq!(json_elements("sas-1").unwrap(), vec!["sas-1"]);
        assert_eq!(json_pick("[\"a\",\"b\"]", &JsonArray::Join(";".into())).unwrap(), "a;b");
        assert!(json_pick("[\"a\",\"b\"]", &JsonArray::Only).is_err());
        assert!(json_elements("[1, {}]").is_err());
    }
}
