//! Calendar::parse_ts on arbitrary UTF-8 in four billing zones
//! (Asia/Shanghai, America/New_York, UTC, Pacific/Kiritimati). Never
//! panics. When Ok:
//! - the value equals chrono's reading of the same fields (with the given
//!   offset, or the zone's single local mapping for a local time), and
//!   chrono's RFC 3339 parser, where it accepts the text, agrees;
//! - write_rfc3339 writes it without panicking, as chrono formats it, and
//!   the text parses back to exactly the whole second (also for an offset
//!   with seconds, such as LMT);
//! - month_of / year_of equal chrono's local month / year;
//! - start_of_next_local_day is after it and on a later local date,
//!   end_of_local_day of its date is not before it and on that date
//!   (see KNOWN below).
#![no_main]

use std::sync::OnceLock;

use chrono::{DateTime, Datelike, LocalResult, NaiveDate, NaiveDateTime, Offset, TimeZone};
use chrono_tz::Tz;
use libfuzzer_sys::fuzz_target;
use refund_recon::model::Month;
use refund_recon::time::{Calendar, Micros, SECOND};

const ZONES: [Tz; 4] = [
    chrono_tz::Asia::Shanghai,
    chrono_tz::America::New_York,
    chrono_tz::UTC,
    chrono_tz::Pacific::Kiritimati,
];

/// FIXED (was KNOWN; checked unless REFUND_RECON_FUZZ_LENIENT=1): `Calendar::start_of_local_day` (src/time.rs) finds
/// the start of a day whose midnight is in a DST gap by stepping 15
/// minutes from midnight, at most 16 times, then falls back to midnight
/// *as UTC*. So for a gap that is not a multiple of 15 minutes it is up to
/// 14 minutes late (Pacific/Kiritimati 1979-10-01, a 40-minute gap), and
/// for a skipped day it is hours off (Kiritimati 1994-12-31). Then
/// start_of_next_local_day, end_of_local_day and month_of (whose table is
/// built from it) are wrong near that midnight. These checks are skipped
/// around a midnight gap unless REFUND_RECON_FUZZ_STRICT=1.
fn strict() -> bool {
    static S: OnceLock<bool> = OnceLock::new();
    *S.get_or_init(|| std::env::var_os("REFUND_RECON_FUZZ_LENIENT").is_none_or(|v| v != "1"))
}

/// Whether local midnight of `d` does not exist in `tz` (a DST gap or a
/// skipped day), where the known issue above applies.
fn midnight_gap(tz: Tz, d: NaiveDate) -> bool {
    !strict()
        && matches!(
            tz.from_local_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight")),
            LocalResult::None
        )
}

fn calendars() -> &'static [Calendar; 4] {
    static C: OnceLock<[Calendar; 4]> = OnceLock::new();
    C.get_or_init(|| ZONES.map(|z| Calendar::new(z, Default::default())))
}

fn num(b: &[u8]) -> u32 {
    b.iter().fold(0, |a, &c| a * 10 + u32::from(c - b'0'))
}

fn utc(tz: Tz, t: Micros) -> DateTime<Tz> {
    tz.from_utc_datetime(
        &DateTime::from_timestamp(t.div_euclid(SECOND), (t.rem_euclid(SECOND) * 1000) as u32)
            .expect("in chrono's range")
            .naive_utc(),
    )
}

fn check(cal: &Calendar, tz: Tz, s: &str, t: Micros) {
    let b = s.as_bytes();
    assert!(b.len() >= 19, "accepted {s:?}: too short");
    for i in [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18] {
        assert!(b[i].is_ascii_digit(), "accepted {s:?}: byte {i} is not a digit");
    }
    // The independent reading: chrono on the same fields.
    let (y, mo, d) = (num(&b[0..4]), num(&b[5..7]), num(&b[8..10]));
    let (h, mi, se) = (num(&b[11..13]), num(&b[14..16]), num(&b[17..19]));
    let mut i = 19;
    let mut micros = 0u32;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let digits = &b[start..i];
        assert!(!digits.is_empty(), "accepted {s:?}: empty fraction");
        let mut six = [b'0'; 6];
        for (k, c) in digits.iter().take(6).enumerate() {
            six[k] = *c;
        }
        micros = num(&six);
    }
    let naive: NaiveDateTime = NaiveDate::from_ymd_opt(y as i32, mo, d)
        .unwrap_or_else(|| panic!("accepted {s:?}: no such date"))
        .and_hms_micro_opt(h, mi, se, micros)
        .unwrap_or_else(|| panic!("accepted {s:?}: no such time"));
    let rest = &s[i..];
    let want = match rest {
        "" => match tz.from_local_datetime(&naive) {
            LocalResult::Single(dt) => dt.timestamp_micros(),
            other => panic!("accepted local {s:?} in {tz}, which chrono maps to {other:?}"),
        },
        "Z" | "z" => naive.and_utc().timestamp_micros(),
        _ => {
            let r = rest.as_bytes();
            assert!(
                r.len() == 6 && matches!(r[0], b'+' | b'-') && r[3] == b':',
                "accepted {s:?}: offset {rest:?}"
            );
            let off = i64::from(num(&r[1..3]) * 3600 + num(&r[4..6]) * 60);
            let off = if r[0] == b'-' { -off } else { off };
            naive.and_utc().timestamp_micros() - off * SECOND
        }
    };
    assert_eq!(t, want, "parse_ts({s:?}) in {tz}");
    if se < 60 {
        if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
            assert_eq!(
                t,
                dt.timestamp_micros(),
                "chrono's RFC 3339 parser reads {s:?} differently"
            );
        }
    }

    // The writer.
    let mut buf = Vec::new();
    cal.write_rfc3339(&mut buf, t);
    let out = String::from_utf8(buf).expect("the writer writes ASCII");
    assert_eq!(out, cal.format(t));
    let secs = t.div_euclid(SECOND);
    let local = utc(tz, t);
    let off = local.offset().fix().local_minus_utc();
    assert_eq!(cal.offset_seconds(secs), off, "offset at {s:?} in {tz}");
    if (0..=9999).contains(&local.year()) {
        // chrono rounds an offset with seconds to the nearest minute, the
        // writer truncates it: compare only whole-minute offsets.
        if off % 60 == 0 {
            let chrono_text = local.format("%Y-%m-%dT%H:%M:%S%:z").to_string();
            assert_eq!(out, chrono_text, "write_rfc3339 of {s:?} in {tz}");
        }
    }
    // Exactly the instant, also for an offset with seconds (LMT): the
    // writer truncates the offset and shifts the local time to match.
    // (parse_ts refuses year 0000, which the writer can give for 0001-01-01
    // in a zone west of UTC.)
    if out.as_bytes()[0].is_ascii_digit() && !out.starts_with("0000-") {
        let back = cal
            .parse_ts(&out)
            .unwrap_or_else(|e| panic!("{out:?} (written for {s:?} in {tz}) does not parse: {e:?}"));
        assert_eq!(back, secs * SECOND, "{out:?} (written for {s:?} in {tz}) parses back");
    }

    // Months and days.
    let date = local.date_naive();
    let first_of_month = date.with_day(1).expect("day 1");
    if !midnight_gap(tz, first_of_month) {
        assert_eq!(
            cal.month_of(t),
            Month::new(local.year(), local.month()),
            "month_of({s:?}) in {tz}"
        );
    }
    if !midnight_gap(tz, first_of_month) {
        assert_eq!(cal.year_of(t), local.year());
    }
    assert_eq!(cal.local(t), local.naive_local());
    let next_day = date.succ_opt().expect("in range");
    if !midnight_gap(tz, next_day) {
        let next = cal.start_of_next_local_day(t);
        assert!(next > t, "start_of_next_local_day({s:?}) in {tz} is not after it");
        assert!(
            cal.local_date(next) > date,
            "start_of_next_local_day({s:?}) in {tz} is on local date {}",
            cal.local_date(next)
        );
        let eod = cal.end_of_local_day(date);
        assert!(
            eod >= secs * SECOND,
            "end_of_local_day of {s:?}'s date in {tz} is before it"
        );
        assert_eq!(cal.local_date(eod), date, "end_of_local_day of {s:?}'s date in {tz}");
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    for (cal, tz) in calendars().iter().zip(ZONES) {
        if let Ok(t) = cal.parse_ts(s) {
            check(cal, tz, s, t);
        }
    }
});
