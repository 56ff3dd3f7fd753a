//! The quote-aware block cut and the record splitter of src/ingest, on
//! arbitrary bytes. Never panics, and:
//! 1. for_each_record gives exactly the records and fields the `csv` crate
//!    reads, each at its physical line, and counts every line break (LF,
//!    CRLF, bare CR);
//! 2. quoted_spans (at EOF and mid-file) gives ordered spans that open at a
//!    field start; every cut that boundary_at_or_after, last_boundary and
//!    split_points return is a true record boundary (the `csv` crate reads
//!    the two halves as the whole, also with more bytes appended when the
//!    buffer is not at EOF);
//! 3. read_table of the input as a whole file (header included; the table
//!    picked from the header) gives the same result at the production
//!    block size and at small blocks, with rows read = accepted + rejected
//!    (= the `csv` crate's records after the header, when no record spans
//!    lines);
//! 4. read_table of the input as the data part under the payments header
//!    matches the `csv` crate + push_row record by record (common::check_table).
#![no_main]

#[path = "../common/mod.rs"]
mod common;

use std::sync::OnceLock;

use common::{csv_records, line_breaks, OracleRecord};
use libfuzzer_sys::fuzz_target;
use refund_recon::ingest::{fuzz_api, Orders, Payments, Table, Unsubscriptions};
use refund_recon::time::Calendar;

fn fields(recs: &[OracleRecord]) -> Vec<&[Vec<u8>]> {
    recs.iter().map(|r| r.fields.as_slice()).collect()
}

/// Whether the `csv` crate reads `buf[..cut]` then `buf[cut..]` as it
/// reads `buf`.
fn is_boundary(buf: &[u8], whole: &[OracleRecord], cut: usize) -> bool {
    let (a, b) = (csv_records(&buf[..cut]), csv_records(&buf[cut..]));
    let mut halves = fields(&a);
    halves.extend(fields(&b));
    halves == fields(whole)
}

fn check_cut(buf: &[u8], whole: &[OracleRecord], cut: usize, what: &str) {
    assert!(
        cut >= 1 && cut <= buf.len(),
        "{what}: cut {cut} outside 1..={}",
        buf.len()
    );
    assert_eq!(buf[cut - 1], b'\n', "{what}: cut {cut} is not after a newline");
    assert!(is_boundary(buf, whole, cut), "{what}: cut {cut} splits a record");
}

fn check_spans(buf: &[u8], spans: &[(usize, usize)], eof: bool) {
    let mut prev_close = None::<usize>;
    for (k, &(open, close)) in spans.iter().enumerate() {
        assert_eq!(buf[open], b'"', "span {k} opens on a quote");
        assert!(
            open == 0 || matches!(buf[open - 1], b',' | b'\n' | b'\r'),
            "span {k} opens at a field start"
        );
        if let Some(p) = prev_close {
            assert!(open > p, "spans are ordered and disjoint");
        }
        if close == usize::MAX {
            assert_eq!(k + 1, spans.len(), "only the last span is open");
        } else {
            assert!(
                close > open && close < buf.len() && buf[close] == b'"',
                "span {k} closes on a quote"
            );
            assert!(
                close + 1 == buf.len() || matches!(buf[close + 1], b',' | b'\n' | b'\r'),
                "span {k} is followed by a separator"
            );
            if !eof {
                assert!(close + 1 < buf.len(), "mid-file, a quote at the end is undecided");
            }
        }
        prev_close = Some(close);
    }
}

/// Appended bytes that may change how an open quote at the end reads.
const CONTINUATIONS: [&[u8]; 4] = [b"\"", b"\"\"", b"\"\n", b"x\n"];

fn splitter(data: &[u8]) {
    let whole = csv_records(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let (ours, nl) = fuzz_api::records(text);
        // A bare CR that ends the input is counted by the slow path only;
        // nothing follows it, so no line number depends on it.
        let lb = line_breaks(data);
        assert!(
            nl == lb || (data.ends_with(b"\r") && nl + 1 == lb),
            "for_each_record counts every line break: {nl}, want {lb}"
        );
        if common::known_bom_issue(data, &whole) {
            return splitter_cuts(data, &whole);
        }
        let theirs: Vec<(u64, Vec<&[u8]>)> = whole
            .iter()
            .map(|r| (r.line, r.fields.iter().map(Vec::as_slice).collect()))
            .collect();
        let ours: Vec<(u64, Vec<&[u8]>)> = ours
            .iter()
            .map(|r| (r.line, r.fields.iter().map(|f| f.as_bytes()).collect()))
            .collect();
        assert_eq!(ours, theirs, "for_each_record (line, fields) against the csv crate");
    }
    splitter_cuts(data, &whole);
}

fn splitter_cuts(data: &[u8], whole: &[OracleRecord]) {
    let len = data.len();
    let probes: Vec<usize> = [0, len / 4, len / 2, len * 3 / 4, len.saturating_sub(1)]
        .into_iter()
        .chain(data.iter().take(4).map(|&b| usize::from(b) * len / 256))
        .filter(|&p| p < len)
        .collect();
    if let Some(spans) = fuzz_api::quoted_spans(data, true) {
        check_spans(data, &spans, true);
        for &p in &probes {
            if let Some(b) = fuzz_api::boundary_at_or_after(data, &spans, p) {
                assert!(b > p, "boundary_at_or_after({p}) = {b}");
                check_cut(data, whole, b, "boundary_at_or_after");
            }
        }
        if let Some(c) = fuzz_api::last_boundary(data, &spans) {
            check_cut(data, whole, c, "last_boundary");
        }
        for parts in [1, 2, 3, 8] {
            let cuts = fuzz_api::split_points(data, &spans, parts);
            assert_eq!(cuts.first(), Some(&0));
            assert_eq!(cuts.last(), Some(&len));
            assert!(
                cuts.windows(2).all(|w| w[0] < w[1] || len == 0),
                "cuts increase: {cuts:?}"
            );
            for &c in &cuts[1..cuts.len() - 1] {
                check_cut(data, whole, c, "split_points");
            }
        }
    }
    if let Some(spans) = fuzz_api::quoted_spans(data, false) {
        check_spans(data, &spans, false);
        if let Some(c) = fuzz_api::last_boundary(data, &spans) {
            check_cut(data, whole, c, "last_boundary mid-file");
            for more in CONTINUATIONS {
                let mut longer = data.to_vec();
                longer.extend_from_slice(more);
                let whole = csv_records(&longer);
                assert!(
                    is_boundary(&longer, &whole, c),
                    "last_boundary mid-file: cut {c} splits a record once {more:?} is appended"
                );
            }
        }
    }
}

fn cal() -> &'static Calendar {
    static CAL: OnceLock<Calendar> = OnceLock::new();
    CAL.get_or_init(|| common::calendar(chrono_tz::Asia::Shanghai))
}

/// The input as a whole file of table `T`.
fn whole_file<T: Table>(data: &[u8]) {
    let path = common::scratch(data);
    let big = common::read::<T>(&path, cal(), fuzz_api::BLOCK);
    let len = data.len();
    let bom = if data.starts_with(b"\xEF\xBB\xBF") { 3 } else { 0 };
    let records = csv_records(&data[bom..]);
    let known = common::known_bom_issue(&data[bom..], &records);
    for block in [5.max(len / 64), 64.max(len / 16)] {
        let small = common::read::<T>(&path, cal(), block);
        assert!(
            known || common::same_read(&big, &small, data),
            "block {block} and the production block read the file differently\n production: {big:?}\n small: {small:?}"
        );
    }
    if let Ok(got) = &big {
        // The unclosed-quote recovery may read a rejected multi-line
        // record's later lines as rows: count only without those.
        if !known && !records.iter().skip(1).any(common::multi_line) {
            assert_eq!(
                got.rows_read,
                (records.len() as u64).saturating_sub(1),
                "rows read = the csv crate's records after the header"
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    splitter(data);

    let first_line = data
        .split(|&b| b == b'\n')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let has = |name: &[u8]| first_line.windows(name.len()).any(|w| w == name);
    if has(b"unsub_id") {
        whole_file::<Unsubscriptions>(data);
    } else if has(b"instance_id") {
        whole_file::<Orders>(data);
    } else {
        whole_file::<Payments>(data);
    }

    let len = data.len();
    common::check_table::<Payments>(data, cal(), &[16.max(len / 64), 61.max(len / 8)]);
});
