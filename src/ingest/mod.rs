//! CSV → typed columns, with every bad row in rejects (docs/inputs.md).
//!
//! The work is split for speed *and* exact positions: the file is read in
//! blocks; each block is cut at record boundaries (a quote-aware scan, see
//! [`quoted_spans`]) into chunks parsed in parallel. A record without
//! quotes or CRs is split by our own SIMD splitter (AVX2 or SSE2, fields as
//! byte ranges of the chunk, no copy); any other record goes through
//! `csv_core`. Every chunk knows its physical start line, so a reject names
//! the exact line of the file even with quoted newlines and blank lines.
//! Shared text (accounts, products, methods) is interned; ids go into
//! string columns ([`crate::columns`]). The tables are then put in account
//! order once, which the joins and the rules rely on.
//!
//! The modules:
//! - this one: one export's file → a [`Table`] and its rejects
//!   ([`read_table`]), with the cell validators shared by the exports;
//! - `table`: [`Table`] and `declare_table!`, the one declaration of an
//!   export's columns (their order in docs/inputs.md, header names, index
//!   constants, the column store and its operations);
//! - `orders`, `payments`, `unsubscriptions`: each export's declaration and
//!   its hand-written row validation (`parse`);
//! - `duplicates`: the rejects of repeated ids;
//! - `interner`: the dictionaries of shared text and their chunk caches;
//! - `inputs`: [`Inputs::load`], the three files read and hashed, their
//!   dictionaries finished and rejects merged.

mod duplicates;
#[doc(hidden)]
pub mod fuzz_api;
mod inputs;
mod interner;
mod orders;
mod payments;
mod table;
mod unsubscriptions;

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::time::Calendar;
use duplicates::reject_duplicates;

pub use inputs::{sha256_file, InputPaths, Inputs, LineBreaks, Metas, LINE_STRIDE};
pub use interner::Interner;
pub use orders::Orders;
pub use payments::Payments;
pub use table::Table;
pub use unsubscriptions::Unsubscriptions;

/// One rejected row (rejects.csv).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    /// The file's name (its last path component).
    pub file: String,
    pub line: u64,
    pub record_id: String,
    pub column: String,
    pub value: String,
    pub reason: String,
}

/// What summary.json says about one input (and where its lines start, for
/// explain.idx).
#[derive(Debug, Clone, Default)]
pub struct InputMeta {
    /// Which export: orders.csv, payments.csv or unsubscriptions.csv.
    pub file: &'static str,
    /// The name of the file read (its last path component).
    pub name: String,
    pub path: PathBuf,
    pub sha256: String,
    pub bytes: u64,
    pub rows_read: u64,
    pub accepted: u64,
    pub rejected: u64,
    /// Header names that are not docs/inputs.md columns, in header order,
    /// once each.
    pub extra_columns: Vec<String>,
    /// Byte offsets of lines 1, 1 + [`LINE_STRIDE`], 1 + 2·LINE_STRIDE, …
    /// (found while the file is hashed).
    pub line_offsets: Vec<u64>,
}

/// A file-level input problem: exit code 3, no reports.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    #[error("{path}: cannot read the file ({reason}); check --data or the --{flag} option")]
    Unreadable {
        path: String,
        flag: &'static str,
        reason: String,
    },
    #[error("{path}: the file is empty; it needs at least a header row")]
    Empty { path: String },
    #[error("{path}: line {line}{}: not valid UTF-8; re-export the file as UTF-8", column.as_ref().map(|c| format!(", column {c}")).unwrap_or_default())]
    NotUtf8 {
        path: String,
        line: u64,
        column: Option<String>,
    },
    #[error("{path}: line 1: required column `{column}` of {export} (--{flag}) is missing from the header; add it (columns are matched by name, any order, case-insensitive){hint}")]
    MissingColumn {
        path: String,
        column: String,
        export: &'static str,
        flag: &'static str,
        /// A guess at the cause (a wrong delimiter), or empty.
        hint: String,
    },
    #[error("{path}: line 1: column `{column}` appears twice in the header; keep one")]
    DuplicateColumn { path: String, column: String },
    #[error("{path}: {bytes} bytes of input in all is more than the memory limit of {limit} bytes (half the RAM by default); split the export into smaller periods or raise --memory-limit")]
    TooLarge { path: String, bytes: u64, limit: u64 },
    #[error("{path}: more than {limit} rows; refund-recon indexes rows with 32-bit numbers (and bounds its sums by that count); split the export into smaller periods")]
    TooManyRows { path: String, limit: u64 },
}

/// The most data rows one file may have: a row's index plus one must fit a
/// `u32` (`engine::RowIndex`), and the money bound's sums assume it.
pub const MAX_ROWS: u64 = u32::MAX as u64 - 1;

/// A row that failed validation: the index of the first failing column (in
/// the order of docs/inputs.md) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub column: usize,
    pub reason: String,
}

impl RowError {
    pub fn new(column: usize, reason: impl Into<String>) -> Self {
        RowError {
            column,
            reason: reason.into(),
        }
    }
}

/// The dictionaries of text that many rows share, filled while parsing.
#[derive(Default)]
pub struct Interners {
    pub accounts: Interner,
    pub products: Interner,
    pub methods: Interner,
}

impl Interners {
    /// The context rows are parsed in, interning into these.
    pub fn ctx<'a>(&'a self, cal: &'a Calendar) -> RowCtx<'a> {
        RowCtx {
            cal,
            accounts: &self.accounts,
            products: &self.products,
            methods: &self.methods,
        }
    }
}

/// What row validation needs besides the cells: the billing calendar and
/// the interners of text shared by many rows.
pub struct RowCtx<'a> {
    pub cal: &'a Calendar,
    pub accounts: &'a Interner,
    pub products: &'a Interner,
    pub methods: &'a Interner,
}

/// The largest number of columns a table has (unsubscriptions: 16).
const MAX_COLUMNS: usize = 16;

/// Everything read from one file.
pub struct Loaded<T> {
    pub table: T,
    pub rejects: Vec<Reject>,
    pub meta: InputMeta,
}

/// Where each column of docs/inputs.md sits in the file's header.
struct HeaderMap {
    /// For each docs/inputs.md column, its field index in the file.
    index: Vec<Option<usize>>,
    fields: usize,
}

const BLOCK: usize = 32 << 20;

/// Reads, validates and de-duplicates one export.
pub fn read_table<T: Table>(path: &Path, ctx: &RowCtx<'_>) -> Result<Loaded<T>, InputError> {
    read_table_with_block::<T>(path, ctx, BLOCK)
}

fn read_table_with_block<T: Table>(path: &Path, ctx: &RowCtx<'_>, block: usize) -> Result<Loaded<T>, InputError> {
    let shown = path.display().to_string();
    let unreadable = |e: std::io::Error| InputError::Unreadable {
        path: shown.clone(),
        flag: T::FLAG,
        reason: e.to_string(),
    };
    let mut file = File::open(path).map_err(unreadable)?;
    let total_bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut buf: Vec<u8> = Vec::new();
    let mut eof = fill(&mut file, &mut buf, block).map_err(unreadable)?;
    if buf.is_empty() {
        return Err(InputError::Empty { path: shown });
    }

    // Header: the first record, after an optional BOM.
    let bom = if buf.starts_with(b"\xEF\xBB\xBF") { 3 } else { 0 };
    let (header, header_len) = loop {
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(&buf[bom..]);
        let mut rec = csv::ByteRecord::new();
        let got = rdr.read_byte_record(&mut rec).unwrap_or(false);
        let end = rdr.position().byte() as usize;
        if got && (bom + end < buf.len() || eof) {
            break (rec, bom + end);
        }
        if eof {
            return Err(InputError::Empty { path: shown });
        }
        eof = fill(&mut file, &mut buf, block).map_err(unreadable)?;
    };
    let map = header_map::<T>(&header, &shown)?;
    let mut meta = InputMeta {
        file: T::FILE,
        name: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| T::FILE.to_string()),
        path: path.to_path_buf(),
        bytes: total_bytes,
        extra_columns: extra_columns::<T>(&header),
        ..InputMeta::default()
    };
    let mut line = 1 + count_line_breaks(&buf[..header_len], buf.get(header_len).copied());
    // A header that ends without a newline at EOF ends the file.
    buf.drain(..header_len);

    let parse_span = crate::trace::span("ingest: read + parse");
    let mut table = T::with_capacity(0);
    let mut rejects = Vec::new();
    let mut spare: Vec<u8> = Vec::new();
    loop {
        if buf.is_empty() && eof {
            break;
        }
        // Cut the buffer after its last complete record (all of it at EOF)
        // and into chunks at record boundaries.
        let spans = quoted_spans(&buf, eof);
        let cut = match &spans {
            _ if eof => Some(buf.len()),
            Some(spans) => last_boundary(&buf, spans).filter(|&c| c > 0),
            None => None,
        };
        let Some(cut) = cut else {
            // No complete record yet, or a quote the fast splitter cannot
            // follow: read more (the whole rest of the file in that case,
            // parsed in one piece exactly as the csv crate reads it).
            let want = if spans.is_none() { usize::MAX } else { block };
            eof = fill(&mut file, &mut buf, want).map_err(unreadable)?;
            continue;
        };
        let bounds = match &spans {
            Some(spans) => split_points(&buf[..cut], spans, rayon::current_num_threads() * 4),
            None => vec![0, cut],
        };
        // Read the next block, after the incomplete record left at the end
        // of this one, while this one is parsed.
        // The buffer of the block before last is free again: reusing it
        // saves faulting in fresh pages for every block.
        let mut next = std::mem::take(&mut spare);
        next.clear();
        next.reserve(buf.len() - cut + block);
        next.extend_from_slice(&buf[cut..]);
        let (read, parsed) = rayon::join(
            || {
                if eof {
                    Ok(true)
                } else {
                    fill(&mut file, &mut next, block)
                }
            },
            || {
                bounds
                    .par_windows(2)
                    .map(|w| parse_chunk::<T>(&buf[w[0]..w[1]], &map, ctx))
                    .collect::<Vec<_>>()
            },
        );
        let first_block = table.is_empty();
        let rows: usize = parsed.iter().flatten().map(|c| c.table.len()).sum();
        table.reserve(rows);
        for chunk in parsed {
            let chunk = chunk.map_err(|(rel_line, column)| InputError::NotUtf8 {
                path: shown.clone(),
                line: line + rel_line - 1,
                column,
            })?;
            meta.rows_read += chunk.rows_read;
            if meta.rows_read > MAX_ROWS {
                return Err(InputError::TooManyRows {
                    path: shown.clone(),
                    limit: MAX_ROWS,
                });
            }
            for mut r in chunk.rejects {
                r.line += line - 1;
                rejects.push(r);
            }
            let mut t = chunk.table;
            for l in t.lines_mut() {
                *l += line - 1;
            }
            table.append(t);
            line += chunk.newlines;
        }
        if first_block && !eof && cut > 0 {
            // Size the columns once from the first block's rows per byte.
            let estimate = (table.len() as u128 * u128::from(total_bytes) / cut as u128) as usize;
            table.reserve((estimate + estimate / 32).saturating_sub(table.len()));
        }
        eof = read.map_err(unreadable)?;
        spare = std::mem::replace(&mut buf, next);
    }
    table.finish();
    drop(parse_span);

    reject_duplicates(&mut table, &mut rejects);
    rejects.sort_by_key(|r| r.line);
    for r in &mut rejects {
        r.file.clone_from(&meta.name);
    }
    meta.accepted = table.len() as u64;
    meta.rejected = rejects.len() as u64;
    Ok(Loaded { table, rejects, meta })
}

/// Reads up to `want` more bytes (`usize::MAX`: all the rest) onto the end
/// of `buf`; returns whether the file is exhausted.
fn fill(file: &mut File, buf: &mut Vec<u8>, want: usize) -> std::io::Result<bool> {
    let got = file.by_ref().take(want as u64).read_to_end(buf)?;
    Ok(want == usize::MAX || got < want)
}

fn count_newlines(b: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', b).count() as u64
}

fn normalise_header(field: &[u8]) -> String {
    String::from_utf8_lossy(field).trim().to_ascii_lowercase()
}

fn header_map<T: Table>(header: &csv::ByteRecord, path: &str) -> Result<HeaderMap, InputError> {
    let mut index = vec![None; T::COLUMNS.len()];
    for (i, field) in header.iter().enumerate() {
        if std::str::from_utf8(field).is_err() {
            return Err(InputError::NotUtf8 {
                path: path.to_string(),
                line: 1,
                column: None,
            });
        }
        let name = normalise_header(field);
        if let Some(c) = T::COLUMNS.iter().position(|(n, _)| *n == name) {
            if index[c].is_some() {
                return Err(InputError::DuplicateColumn {
                    path: path.to_string(),
                    column: name,
                });
            }
            index[c] = Some(i);
        }
    }
    for (c, (name, required)) in T::COLUMNS.iter().enumerate() {
        if *required && index[c].is_none() {
            // One header field holding another delimiter: say so.
            let hint = match header.iter().next().filter(|_| header.len() == 1) {
                Some(only) => [(b';', "`;`"), (b'\t', "a tab"), (b'|', "`|`")]
                    .iter()
                    .find(|(d, _)| only.contains(d))
                    .map(|(_, name)| {
                        format!("; the header is a single column containing {name}: the file seems to use {name} as its delimiter, but refund-recon reads comma-separated files, so re-export it with `,`")
                    })
                    .unwrap_or_default(),
                None => String::new(),
            };
            return Err(InputError::MissingColumn {
                path: path.to_string(),
                column: (*name).to_string(),
                export: T::FILE,
                flag: T::FLAG,
                hint,
            });
        }
    }
    Ok(HeaderMap {
        index,
        fields: header.len(),
    })
}

fn extra_columns<T: Table>(header: &csv::ByteRecord) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for field in header.iter() {
        let name = normalise_header(field);
        if !name.is_empty() && !T::COLUMNS.iter().any(|(n, _)| *n == name) && !out.contains(&name) {
            out.push(String::from_utf8_lossy(field).trim().to_string());
        }
    }
    out
}

struct Chunk<T> {
    table: T,
    rejects: Vec<Reject>,
    rows_read: u64,
    newlines: u64,
}

/// Parses one chunk that starts at a record boundary. Lines are relative
/// (1 = the chunk's first line). A UTF-8 error is `(line, column)`.
///
/// A record without quotes or stray CRs is split with memchr straight out
/// of the chunk (no copy); any other record goes through `csv_core`, the
/// parser behind the `csv` crate, so both give the same fields.
fn parse_chunk<T: Table>(bytes: &[u8], map: &HeaderMap, ctx: &RowCtx<'_>) -> Result<Chunk<T>, (u64, Option<String>)> {
    // Valid UTF-8 as a whole means every field is: fields are cut at ASCII
    // bytes and unescaping only drops ASCII quotes.
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Err(locate_utf8_error::<T>(bytes, map));
    };
    // A row per line at most (short rows, as payments', outnumber any
    // guess by bytes, and growing every column copies it).
    let mut table = T::with_capacity(memchr::memchr_iter(b'\n', bytes).count() + 1);
    let mut rejects = Vec::new();
    let mut rows_read = 0;
    let newlines = for_each_record_spanning(text, |record_line, span, raw, source, fields| {
        rows_read += 1;
        let Err(reject) = push_record(&mut table, map, ctx, record_line, span, source, fields) else {
            return;
        };
        // A rejected record over several lines whose later lines are each a
        // whole row: a quote on its first line was not closed and swallowed
        // them. Reject that line alone and read the others as rows.
        match (span > 0).then(|| single_rows(raw, map.fields)).flatten() {
            Some((first, rest)) => {
                rejects.push(unclosed_quote::<T>(map, record_line, first));
                for (k, line_text) in rest.into_iter().enumerate() {
                    let line = record_line + 1 + k as u64;
                    for_each_record_spanning(line_text, |_, _, _, source, fields| {
                        rows_read += 1;
                        if let Err(r) = push_record(&mut table, map, ctx, line, 0, source, fields) {
                            rejects.push(*r);
                        }
                    });
                }
            }
            None => rejects.push(*reject),
        }
    });
    table.resolve(ctx);
    Ok(Chunk {
        table,
        rejects,
        rows_read,
        newlines,
    })
}

/// Validates one record and appends it to `table`, or says why not.
#[allow(clippy::too_many_arguments)]
fn push_record<T: Table>(
    table: &mut T,
    map: &HeaderMap,
    ctx: &RowCtx<'_>,
    record_line: u64,
    span: u64,
    source: &str,
    fields: &[(usize, usize)],
) -> Result<(), Box<Reject>> {
    let cell = |i: usize| trim(&source[fields[i].0..fields[i].1]);
    // Only a reject names the id.
    let id = || map.index[T::ID].filter(|&i| i < fields.len()).map(cell).unwrap_or("");
    // A record over several lines usually means a quote that is not
    // closed where it should be: say so, and which lines it took.
    let spanning = |reason: String| {
        if span == 0 {
            reason
        } else {
            format!(
                "{reason}; this row runs over {} lines, joined by a quoted field, so a quote (\") is probably not closed where it should be: check the quotes on its first line",
                span + 1
            )
        }
    };
    if fields.len() != map.fields {
        return Err(Box::new(Reject {
            file: String::new(),
            line: record_line,
            record_id: id().to_string(),
            column: String::new(),
            value: String::new(),
            reason: spanning(format!(
                "the row has {} fields but the header has {}",
                fields.len(),
                map.fields
            )),
        }));
    }
    let mut cells: [&str; MAX_COLUMNS] = [""; MAX_COLUMNS];
    for (c, index) in cells.iter_mut().zip(&map.index) {
        if let Some(i) = *index {
            *c = cell(i);
        }
    }
    table
        .push_row(&cells[..T::COLUMNS.len()], record_line, ctx)
        .map_err(|e| {
            Box::new(Reject {
                file: String::new(),
                line: record_line,
                record_id: id().to_string(),
                column: T::COLUMNS[e.column].0.to_string(),
                value: cells[e.column].to_string(),
                reason: spanning(e.reason),
            })
        })
}

/// The physical lines of a multi-line record — `(first, rest)` — when each
/// line after the first, read on its own, is one whole row of `fields`
/// fields (or blank); else `None`.
fn single_rows(raw: &str, fields: usize) -> Option<(&str, Vec<&str>)> {
    let mut lines = Vec::new();
    let mut start = 0;
    let b = raw.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\n' => {
                lines.push(&raw[start..i]);
                start = i + 1;
            }
            b'\r' => {
                lines.push(&raw[start..i]);
                if b.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    if start < b.len() {
        lines.push(&raw[start..]);
    }
    let (first, rest) = lines.split_first()?;
    if rest.is_empty() {
        return None;
    }
    let whole = rest.iter().all(|line| {
        let mut counts = Vec::new();
        for_each_record(line, |_, _, f| counts.push(f.len()));
        counts.is_empty() || counts == [fields]
    });
    whole.then(|| (*first, rest.to_vec()))
}

/// The reject of a line whose open quote swallowed the lines after it.
fn unclosed_quote<T: Table>(map: &HeaderMap, line: u64, text: &str) -> Reject {
    let mut id = String::new();
    for_each_record(text, |_, source, fields| {
        if let Some(&(a, b)) = map.index[T::ID].and_then(|i| fields.get(i)) {
            id = trim(&source[a..b]).to_string();
        }
    });
    Reject {
        file: String::new(),
        line,
        record_id: id,
        column: String::new(),
        value: String::new(),
        reason: "a quote (\") on this line is not closed before the line ends, so it would swallow the next lines; this line is rejected and the lines after it are read as rows of their own: fix the quotes on this line".into(),
    }
}

/// Calls `f(line, source, fields)` for each record of a chunk (blank lines
/// skipped); a field is `source[start..end]`, untrimmed. Returns the
/// number of line breaks in the chunk.
fn for_each_record(text: &str, mut f: impl FnMut(u64, &str, &[(usize, usize)])) -> u64 {
    for_each_record_spanning(text, |line, _, _, source, fields| f(line, source, fields))
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
fn for_each_record_spanning(text: &str, mut f: impl FnMut(u64, u64, &str, &str, &[(usize, usize)])) -> u64 {
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
fn split_plain(rest: &[u8], base: usize, fields: &mut Vec<(usize, usize)>) -> Option<usize> {
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
enum Window {
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
fn window(
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
fn split_plain_from(
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
struct SlowRecord {
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
fn trim(s: &str) -> &str {
    match (s.as_bytes().first(), s.as_bytes().last()) {
        (Some(&a), Some(&b)) if a > b' ' && a < 0x80 && b > b' ' && b < 0x80 => s,
        _ => s.trim(),
    }
}

/// The line and column of the first field that is not UTF-8 (slow path,
/// only for a chunk that failed the check).
fn locate_utf8_error<T: Table>(bytes: &[u8], map: &HeaderMap) -> (u64, Option<String>) {
    // The csv crate drops a BOM at the start of its input (and leaves it
    // out of its positions); a chunk may start with one that is data. A
    // leading newline, counted as line 0, keeps it in.
    let prefixed = [b"\n".as_slice(), bytes].concat();
    let bytes = prefixed.as_slice();
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut rec = csv::ByteRecord::new();
    let (mut seen, mut line) = (0usize, 0u64);
    while rdr.read_byte_record(&mut rec).unwrap_or(false) {
        let mut start = rec.position().map(|p| p.byte() as usize).unwrap_or(seen).max(seen);
        while start < bytes.len() && matches!(bytes[start], b'\r' | b'\n') {
            start += 1;
        }
        line += count_line_breaks(&bytes[seen..start], bytes.get(start).copied());
        seen = start;
        for (i, field) in rec.iter().enumerate() {
            if std::str::from_utf8(field).is_err() {
                let column = map
                    .index
                    .iter()
                    .position(|x| *x == Some(i))
                    .map(|c| T::COLUMNS[c].0.to_string());
                return (line, column);
            }
        }
    }
    (line, None)
}

/// Quoted spans `(open, close)` of a buffer that starts at a record
/// boundary; `close` is `usize::MAX` for a span still open at the end.
/// `None` when some quote is not RFC 4180 (a `"` inside an unquoted field,
/// or text right after a closing quote): then the buffer cannot be cut
/// safely and is parsed in one piece.
fn quoted_spans(buf: &[u8], eof: bool) -> Option<Vec<(usize, usize)>> {
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
fn span_containing(spans: &[(usize, usize)], pos: usize) -> Option<(usize, usize)> {
    let idx = spans.partition_point(|s| s.0 < pos);
    if idx == 0 {
        return None;
    }
    let s = spans[idx - 1];
    (pos <= s.1).then_some(s)
}

/// The start of the first record that begins at or after `pos`.
fn boundary_at_or_after(buf: &[u8], spans: &[(usize, usize)], mut pos: usize) -> Option<usize> {
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
fn last_boundary(buf: &[u8], spans: &[(usize, usize)]) -> Option<usize> {
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
fn split_points(buf: &[u8], spans: &[(usize, usize)], parts: usize) -> Vec<usize> {
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
    fn control_characters_are_found_at_any_position() {
        for len in 0..40 {
            let plain: Vec<u8> = (0..len).map(|i| b"aZ09-_ \x80\xff~"[i % 10]).collect();
            assert!(!cell::has_control(&plain), "{len}");
            for at in 0..len {
                for bad in [0x00, 0x09, 0x0a, 0x0d, 0x1f, 0x7f] {
                    let mut v = plain.clone();
                    v[at] = bad;
                    assert!(cell::has_control(&v), "{len} {at} {bad}");
                }
                let mut v = plain.clone();
                v[at] = 0x20;
                assert!(!cell::has_control(&v));
            }
        }
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

/// Cell validators shared by the three tables: each names its column by
/// index and says in the reason what a good value looks like.
pub(crate) mod cell {
    use super::RowError;
    use crate::money::parse_money;
    use crate::time::{Calendar, Micros};
    use rust_decimal::Decimal;

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

    pub fn money(cells: &[&str], c: usize) -> Result<Decimal, RowError> {
        let v = required(cells, c)?;
        parse_money(v).map_err(|e| RowError::new(c, e.reason()))
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
}
