//! Entry points for the cargo-fuzz targets in `fuzz/` (not a stable API).
//! A child module of `ingest`, so it reaches the splitter and row parsers
//! without making them public. Each function is a thin wrapper: no logic
//! of its own beyond collecting results into owned values.

use std::path::Path;
use std::sync::OnceLock;

use super::{InputError, Loaded, RowCtx, RowError, Table};

/// One record from [`records`]: its physical line (1-based, relative to
/// the text) and its fields, unescaped and untrimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub line: u64,
    pub fields: Vec<String>,
}

/// Runs the record splitter (`for_each_record`) over `text`: the records
/// and the newline count it returns. Every field the splitter hands out
/// is re-checked as UTF-8 bytes (its slow path builds the record text
/// with `from_utf8_unchecked`); a bad one panics here.
pub fn records(text: &str) -> (Vec<Record>, u64) {
    let mut out = Vec::new();
    let newlines = super::split::for_each_record(text, |line, source, fields| {
        assert!(
            std::str::from_utf8(source.as_bytes()).is_ok(),
            "for_each_record handed out a record source that is not UTF-8"
        );
        out.push(Record {
            line,
            fields: fields.iter().map(|&(a, b)| source[a..b].to_string()).collect(),
        });
    });
    (out, newlines)
}

/// `quoted_spans`: `(open, close)` of each quoted span, `close` =
/// `usize::MAX` for one still open; `None` for a non-RFC-4180 quote.
pub fn quoted_spans(buf: &[u8], eof: bool) -> Option<Vec<(usize, usize)>> {
    super::split::quoted_spans(buf, eof)
}

/// `boundary_at_or_after`: the start of the first record at or after `pos`.
pub fn boundary_at_or_after(buf: &[u8], spans: &[(usize, usize)], pos: usize) -> Option<usize> {
    super::split::boundary_at_or_after(buf, spans, pos)
}

/// `last_boundary`: the end of the last complete record.
pub fn last_boundary(buf: &[u8], spans: &[(usize, usize)]) -> Option<usize> {
    super::split::last_boundary(buf, spans)
}

/// `split_points`: chunk cuts including 0 and `buf.len()`.
pub fn split_points(buf: &[u8], spans: &[(usize, usize)], parts: usize) -> Vec<usize> {
    super::split::split_points(buf, spans, parts)
}

/// The str trim the row parser applies to every cell.
pub fn trim(s: &str) -> &str {
    super::split::trim(s)
}

/// `read_table` with a chosen block size (the production size is
/// [`BLOCK`]); small blocks exercise the cut between blocks.
pub fn read_table_with_block<T: Table>(path: &Path, ctx: &RowCtx<'_>, block: usize) -> Result<Loaded<T>, InputError> {
    super::reader::read_table_with_block::<T>(path, ctx, block)
}

/// The production block size.
pub const BLOCK: usize = super::reader::BLOCK;

/// Validates one row of trimmed cells (indexed like `T::COLUMNS`) into a
/// fresh table, as `parse_chunk` does.
pub fn push_row<T: Table>(cells: &[&str], line: u64, ctx: &RowCtx<'_>) -> Result<(), RowError> {
    let mut table = T::with_capacity(1);
    let r = table.push_row(cells, line, ctx);
    assert_eq!(
        table.len(),
        usize::from(r.is_ok()),
        "push_row appended a row iff it returned Ok"
    );
    table.resolve(ctx);
    r
}

/// Runs `f` on a one-thread rayon pool, so a fuzz target uses one core
/// and the results do not depend on thread timing.
pub fn single_threaded<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    static POOL: OnceLock<rayon::ThreadPool> = OnceLock::new();
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .expect("a one-thread pool")
    })
    .install(f)
}
