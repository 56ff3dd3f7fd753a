//! Cutting CSV text into records and fields: our own SIMD splitter for a
//! record without quotes or CRs, `csv_core` for any other, the quote-aware
//! scan that finds safe cut points between chunks, and the line counting
//! that keeps every reject's physical line exact.

/// Calls `f(line, source, fields)` for each record of a chunk (blank lines
/// skipped); a field is `source[start..end]`, untrimmed. Returns the
/// number of line breaks in the chunk.
pub(super) fn for_each_record(text: &str, mut f: impl FnMut(u64, &str, &[(usize, usize)])) -> u64 {
    for_each_record_spanning(text, |line, _, _, source, fields| f(line, source, fields))
}

pub(super) fn count_newlines(b: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', b).count() as u64
}

/// Line breaks in `b`: LF, CRLF (once) and a bare CR, which csv_core (and
/// editors) also end a line at.
pub(crate) fn count_line_breaks(b: &[u8], next: Option<u8>) -> u64 {
    let lf = count_newlines(b);
    let bare_cr = memchr::memchr_iter(b'\r', b)
        .filter(|&i| b.get(i + 1).copied().or(next) != Some(b'\n'))
        .count() as u64;
    lf + bare_cr
}

/// [`for_each_record`], also giving each record's number of line breaks
/// inside quoted fields (`span`: 0 for a one-line record), so a reject can
/// say which lines a multi-line record covers.
///
/// `f(line, span, raw, source, fields)` also gets the record's raw text
/// (quotes and line breaks as in the file).
pub(super) fn for_each_record_spanning(text: &str, mut f: impl FnMut(u64, u64, &str, &str, &[(usize, usize)])) -> u64 {
    let bytes = text.as_bytes();
    let mut fields: Vec<(usize, usize)> = Vec::with_capacity(32);
    let mut slow = SlowRecord::default();
    let (mut pos, mut line) = (0usize, 1u64);
    while pos < bytes.len() {
        let rest = &bytes[pos..];
        // Blank lines are not rows (but count for line numbers).
        match rest[0] {
            b'\n' => {
                line += 1;
                pos += 1;
                continue;
            }
            b'\r' => {
                if rest.get(1) != Some(&b'\n') {
                    line += 1;
                }
                pos += 1;
                continue;
            }
            _ => {}
        }
        let record_line = line;
        // The usual record (no quote, no CR): one pass finds its end and
        // its commas.
        if let Some(end) = split_plain(rest, pos, &mut fields) {
            if end < rest.len() {
                line += 1;
            }
            let raw = &text[pos..pos + end];
            pos += end + 1;
            f(record_line, 0, raw, text, &fields);
            continue;
        }
        let end = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
        let mut rec = &rest[..end];
        if rec.last() == Some(&b'\r') {
            rec = &rec[..rec.len() - 1];
        }
        if memchr::memchr2(b'"', b'\r', rec).is_none() {
            fields.clear();
            let mut start = 0;
            for comma in memchr::memchr_iter(b',', rec) {
                fields.push((pos + start, pos + comma));
                start = comma + 1;
            }
            fields.push((pos + start, pos + rec.len()));
            if end < rest.len() {
                line += 1;
            }
            let raw = &text[pos..pos + rec.len()];
            pos += end + 1;
            f(record_line, 0, raw, text, &fields);
        } else {
            let consumed = match slow.read(rest, &mut fields) {
                0 => rest.len(),
                n => n,
            };
            line += count_line_breaks(&rest[..consumed], rest.get(consumed).copied());
            let raw = text.get(pos..pos + consumed).unwrap_or_default();
            pos += consumed;
            if fields.is_empty() {
                // csv_core's End with nothing read: no record.
                continue;
            }
            let inner = &slow.out[..slow.len];
            let span = if memchr::memchr2(b'\n', b'\r', inner).is_some() {
                count_line_breaks(inner, None)
            } else {
                0
            };
            // SAFETY: the record's unescaped text is valid UTF-8: csv_core
            // only drops ASCII quotes from the valid UTF-8 input.
            let source = unsafe { std::str::from_utf8_unchecked(inner) };
            f(record_line, span, raw, source, &fields);
        }
    }
    line - 1
}

/// The record at the start of `rest` when it has no quote and no CR: the
/// index of the `\n` that ends it (`rest.len()` without one), with its
/// fields' ranges, offset by `base`, in `fields`. `None` (and `fields` in
/// any state) for a record with a quote or a CR, which the callers split
/// more carefully. One pass, 32 bytes at a time with AVX2 (else 16 with
/// SSE2): ends, commas and the bytes that need care at once.
#[inline]
pub(super) fn split_plain(rest: &[u8], base: usize, fields: &mut Vec<(usize, usize)>) -> Option<usize> {
    fields.clear();
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2.
        return unsafe { split_plain_avx2(rest, base, fields) };
    }
    split_plain_from(rest, base, fields, 0, 0)
}

/// [`split_plain`] with AVX2: 32 bytes at a time, then the rest as
/// [`split_plain_from`] does it.
///
/// # Safety
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn split_plain_avx2(rest: &[u8], base: usize, fields: &mut Vec<(usize, usize)>) -> Option<usize> {
    use std::arch::x86_64::{
        __m256i, _mm256_cmpeq_epi8, _mm256_loadu_si256, _mm256_movemask_epi8, _mm256_or_si256, _mm256_set1_epi8,
    };
    let (mut start, mut k) = (0usize, 0usize);
    let (nl_v, comma_v) = (_mm256_set1_epi8(b'\n' as i8), _mm256_set1_epi8(b',' as i8));
    let (quote_v, cr_v) = (_mm256_set1_epi8(b'"' as i8), _mm256_set1_epi8(b'\r' as i8));
    while k + 32 <= rest.len() {
        // SAFETY: the load reads `rest[k..k + 32]`, inside the slice.
        let v = unsafe { _mm256_loadu_si256(rest.as_ptr().add(k).cast::<__m256i>()) };
        let nl = _mm256_movemask_epi8(_mm256_cmpeq_epi8(v, nl_v)) as u32;
        let comma = _mm256_movemask_epi8(_mm256_cmpeq_epi8(v, comma_v)) as u32;
        let special = _mm256_movemask_epi8(_mm256_or_si256(
            _mm256_cmpeq_epi8(v, quote_v),
            _mm256_cmpeq_epi8(v, cr_v),
        )) as u32;
        match window(nl, comma, special, u32::MAX, k, base, &mut start, fields) {
            Window::Next => k += 32,
            Window::End(end) => return Some(end),
            Window::Careful => return None,
        }
    }
    split_plain_from(rest, base, fields, start, k)
}

/// What one window of a record told [`split_plain`].
pub(super) enum Window {
    /// No end yet: the next window.
    Next,
    /// The record ends at this index of `rest`.
    End(usize),
    /// A quote or CR before the end: the careful path.
    Careful,
}

/// One window of a record, starting at byte `k`: the bit masks of its
/// `\n`, `,` and quote-or-CR bytes (`full`: every bit of the window). Pushes
/// the fields it closes; `start` is where the current field starts.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) fn window(
    nl: u32,
    comma: u32,
    special: u32,
    full: u32,
    k: usize,
    base: usize,
    start: &mut usize,
    fields: &mut Vec<(usize, usize)>,
) -> Window {
    // The bytes before the record's end.
    let before = if nl != 0 {
        (1u32 << nl.trailing_zeros()) - 1
    } else {
        full
    };
    if special & before != 0 {
        return Window::Careful;
    }
    let mut c = comma & before;
    while c != 0 {
        let i = k + c.trailing_zeros() as usize;
        fields.push((base + *start, base + i));
        *start = i + 1;
        c &= c - 1;
    }
    if nl == 0 {
        return Window::Next;
    }
    let end = k + nl.trailing_zeros() as usize;
    fields.push((base + *start, base + end));
    Window::End(end)
}

/// [`split_plain`] from byte `k` of the record on, the current field
/// starting at `start` (the fields before it already in `fields`).
#[inline]
pub(super) fn split_plain_from(
    rest: &[u8],
    base: usize,
    fields: &mut Vec<(usize, usize)>,
    mut start: usize,
    mut k: usize,
) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    while k + 16 <= rest.len() {
        use std::arch::x86_64::{__m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8};
        // SAFETY: SSE2 is part of x86_64, and the load reads
        // `rest[k..k + 16]`, inside the slice.
        let (nl, comma, special) = unsafe {
            let v = _mm_loadu_si128(rest.as_ptr().add(k).cast::<__m128i>());
            let eq = |c: u8| _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(c as i8))) as u32;
            (eq(b'\n'), eq(b','), eq(b'"') | eq(b'\r'))
        };
        match window(nl, comma, special, 0xffff, k, base, &mut start, fields) {
            Window::Next => k += 16,
            Window::End(end) => return Some(end),
            Window::Careful => return None,
        }
    }
    for (i, &b) in rest.iter().enumerate().skip(k) {
        match b {
            b'\n' => {
                fields.push((base + start, base + i));
                return Some(i);
            }
            b',' => {
                fields.push((base + start, base + i));
                start = i + 1;
            }
            b'"' | b'\r' => return None,
            _ => {}
        }
    }
    fields.push((base + start, base + rest.len()));
    Some(rest.len())
}

/// `csv_core` for the records the fast splitter leaves alone (quotes, bare
/// CRs): unescaped field text goes to `out`.
pub(super) struct SlowRecord {
    reader: csv_core::Reader,
    out: Vec<u8>,
    /// Bytes of `out` the last record filled.
    len: usize,
    ends: Vec<usize>,
}

impl Default for SlowRecord {
    fn default() -> Self {
        // csv_core strips a UTF-8 BOM before the first record it reads (and
        // again after `reset`). A BOM is the file's business, handled once
        // at its start: prime the reader with one record so that a record
        // starting with U+FEFF keeps it, as on the fast path.
        let mut reader = csv_core::Reader::new();
        let (mut out, mut ends) = ([0u8; 4], [0usize; 4]);
        let _ = reader.read_record(b"x\n", &mut out, &mut ends);
        SlowRecord {
            reader,
            out: vec![0; 4096],
            len: 0,
            ends: vec![0; 64],
        }
    }
}

impl SlowRecord {
    /// Reads one record from the start of `input` into `out`, sets
    /// `fields` to its ranges in `out`, and returns the bytes consumed.
    fn read(&mut self, input: &[u8], fields: &mut Vec<(usize, usize)>) -> usize {
        use csv_core::ReadRecordResult::*;
        // No `reset`: after a record the reader is at the start of the next
        // one, and a reset would re-arm its BOM stripping.
        let (mut nin, mut nout, mut nend) = (0, 0, 0);
        loop {
            // Once the input is used up, the empty slice tells csv_core it
            // is at the end, which completes a last record without newline.
            let (res, i, o, e) = self
                .reader
                .read_record(&input[nin..], &mut self.out[nout..], &mut self.ends[nend..]);
            nin += i;
            nout += o;
            nend += e;
            match res {
                InputEmpty => {}
                OutputFull => {
                    let n = self.out.len() * 2;
                    self.out.resize(n, 0);
                }
                OutputEndsFull => {
                    let n = self.ends.len() * 2;
                    self.ends.resize(n, 0);
                }
                Record | End => break,
            }
        }
        fields.clear();
        let mut start = 0;
        for &end in &self.ends[..nend] {
            fields.push((start, end));
            start = end;
        }
        self.len = nout;
        nin
    }
}

/// `str::trim` with a fast path for the usual cell that needs none.
#[inline]
pub(super) fn trim(s: &str) -> &str {
    match (s.as_bytes().first(), s.as_bytes().last()) {
        (Some(&a), Some(&b)) if a > b' ' && a < 0x80 && b > b' ' && b < 0x80 => s,
        _ => s.trim(),
    }
}

/// Quoted spans `(open, close)` of a buffer that starts at a record
/// boundary; `close` is `usize::MAX` for a span still open at the end.
/// `None` when some quote is not RFC 4180 (a `"` inside an unquoted field,
/// or text right after a closing quote): then the buffer cannot be cut
/// safely and is parsed in one piece.
pub(super) fn quoted_spans(buf: &[u8], eof: bool) -> Option<Vec<(usize, usize)>> {
    let mut spans = Vec::new();
    let mut i = 0;
    while let Some(q) = memchr::memchr(b'"', &buf[i..]) {
        let open = i + q;
        if open > 0 && !matches!(buf[open - 1], b',' | b'\n' | b'\r') {
            return None;
        }
        let mut j = open + 1;
        loop {
            let Some(k) = memchr::memchr(b'"', &buf[j..]) else {
                spans.push((open, usize::MAX));
                return Some(spans);
            };
            let close = j + k;
            if close + 1 == buf.len() {
                if eof {
                    spans.push((open, close));
                    return Some(spans);
                }
                // Could be the first half of an escaped quote: undecided.
                spans.push((open, usize::MAX));
                return Some(spans);
            }
            match buf[close + 1] {
                b'"' => j = close + 2,
                b',' | b'\n' | b'\r' => {
                    spans.push((open, close));
                    i = close + 1;
                    break;
                }
                _ => return None,
            }
        }
    }
    Some(spans)
}

/// The span that strictly contains `pos`, if any.
pub(super) fn span_containing(spans: &[(usize, usize)], pos: usize) -> Option<(usize, usize)> {
    let idx = spans.partition_point(|s| s.0 < pos);
    if idx == 0 {
        return None;
    }
    let s = spans[idx - 1];
    (pos <= s.1).then_some(s)
}

/// The start of the first record that begins at or after `pos`.
pub(super) fn boundary_at_or_after(buf: &[u8], spans: &[(usize, usize)], mut pos: usize) -> Option<usize> {
    loop {
        let n = pos + memchr::memchr(b'\n', &buf[pos..])?;
        match span_containing(spans, n) {
            Some((_, close)) if close == usize::MAX => return None,
            Some((_, close)) => pos = close + 1,
            None => return Some(n + 1),
        }
    }
}

/// The end of the last complete record in the buffer.
pub(super) fn last_boundary(buf: &[u8], spans: &[(usize, usize)]) -> Option<usize> {
    let mut limit = buf.len();
    loop {
        let n = memchr::memrchr(b'\n', &buf[..limit])?;
        match span_containing(spans, n) {
            Some((open, _)) => limit = open,
            None => return Some(n + 1),
        }
    }
}

/// Cuts `buf` (complete records) into about `parts` chunks at record
/// boundaries; returns the cut positions including 0 and `buf.len()`.
pub(super) fn split_points(buf: &[u8], spans: &[(usize, usize)], parts: usize) -> Vec<usize> {
    const MIN_CHUNK: usize = 1 << 20;
    let parts = parts.clamp(1, (buf.len() / MIN_CHUNK).max(1));
    let mut cuts = vec![0];
    for k in 1..parts {
        let target = buf.len() * k / parts;
        if target <= *cuts.last().expect("non-empty") {
            continue;
        }
        match boundary_at_or_after(buf, spans, target) {
            Some(b) if b < buf.len() && b > *cuts.last().expect("non-empty") => cuts.push(b),
            _ => {}
        }
    }
    cuts.push(buf.len());
    cuts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_follow_rfc4180_quotes() {
        let b = b"a,\"x,\ny\",c\n\"\"\"q\"\"\",d\n";
        let spans = quoted_spans(b, true).unwrap();
        assert_eq!(spans.len(), 2);
        assert_eq!(span_containing(&spans, 5), Some(spans[0]), "the quoted newline");
        assert_eq!(boundary_at_or_after(b, &spans, 0), Some(11));
        assert_eq!(last_boundary(b, &spans), Some(b.len()));
        // A stray quote inside an unquoted field.
        assert!(quoted_spans(b"ab\"c,d\n", true).is_none());
        // Text after a closing quote.
        assert!(quoted_spans(b"\"ab\"c,d\n", true).is_none());
        // A span still open at the end of a block.
        let open = quoted_spans(b"a,b\nc,\"d\ne", false).unwrap();
        assert_eq!(open, vec![(6, usize::MAX)]);
        assert_eq!(last_boundary(b"a,b\nc,\"d\ne", &open), Some(4));
    }

    /// The fast splitter and csv_core give exactly the records and fields
    /// the `csv` crate reads, on any mix of quotes, CR, LF and blank lines.
    #[test]
    fn records_match_the_csv_crate() {
        use proptest::prelude::*;
        let alphabet = prop::sample::select(vec![
            "a",
            "bc",
            ",",
            "\"",
            "\r",
            "\n",
            "\r\n",
            " ",
            "é",
            "\"\"",
            "x,\"y\nz\",w",
        ]);
        proptest!(ProptestConfig::with_cases(2000), |(parts in prop::collection::vec(alphabet, 0..40))| {
            let text: String = parts.concat();
            let mut ours: Vec<Vec<String>> = Vec::new();
            for_each_record(&text, |_, src, fields| {
                ours.push(fields.iter().map(|&(a, b)| src[a..b].to_string()).collect());
            });
            let mut rdr = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text.as_bytes());
            let theirs: Vec<Vec<String>> = rdr
                .byte_records()
                .map(|r| r.unwrap().iter().map(|f| String::from_utf8(f.to_vec()).unwrap()).collect())
                .collect();
            prop_assert_eq!(ours, theirs, "{:?}", text);
        });
    }

    #[test]
    fn record_lines_are_physical() {
        let text = "a,b\r\n\"x\r\ny\",1\r\nc,2\r\n\r\n\r\nd,3\n\n\"p\nq\",4\ne,5";
        let mut lines = Vec::new();
        let n = for_each_record(text, |l, _, _| lines.push(l));
        assert_eq!(lines, vec![1, 2, 4, 7, 9, 11]);
        assert_eq!(n, 10);
    }

    #[test]
    fn a_bom_inside_the_data_is_kept_on_both_paths() {
        let mut recs = Vec::new();
        for_each_record("x\n\u{feff}a,\"b\"\n\u{feff}\r\r\na\n", |l, src, f| {
            recs.push((l, f.iter().map(|&(a, b)| src[a..b].to_string()).collect::<Vec<_>>()))
        });
        let want = |l: u64, v: &[&str]| (l, v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            recs,
            vec![
                want(1, &["x"]),
                want(2, &["\u{feff}a", "b"]),
                want(3, &["\u{feff}"]),
                want(5, &["a"])
            ]
        );
    }

    #[test]
    fn bare_cr_ends_a_line_too() {
        let mut lines = Vec::new();
        let n = for_each_record("a,b\rc,d\r\re,f\r\ng,h", |l, _, _| lines.push(l));
        assert_eq!(lines, vec![1, 2, 4, 5]);
        assert_eq!(n, 4);
    }

    #[test]
    fn multi_line_records_report_their_span() {
        let mut spans = Vec::new();
        for_each_record_spanning("a,b\n\"x\ny\nz\",1\nc,2\n\"p\r\nq\",3\n", |l, s, _, _, _| {
            spans.push((l, s))
        });
        assert_eq!(spans, vec![(1, 0), (2, 2), (5, 0), (6, 1)]);
    }

    #[test]
    fn split_points_respect_quotes() {
        let mut buf = Vec::new();
        for i in 0..200_000 {
            buf.extend_from_slice(format!("{i},\"multi\nline {i}\",x\n").as_bytes());
        }
        let spans = quoted_spans(&buf, true).unwrap();
        let cuts = split_points(&buf, &spans, 8);
        assert!(cuts.len() > 2);
        for c in &cuts[1..cuts.len() - 1] {
            assert_eq!(buf[c - 1], b'\n');
            assert!(span_containing(&spans, c - 1).is_none());
            assert_ne!(buf[*c], b'l', "a cut never lands inside a quoted field");
        }
    }
}
