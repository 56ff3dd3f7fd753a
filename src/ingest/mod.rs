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
//! - `reader`: one export's file → a [`Table`] and its rejects
//!   ([`read_table`]);
//! - `split`: records and fields out of CSV text, chunk boundaries, line
//!   counting;
//! - `cell`: the cell validators shared by the exports;
//! - `error`: [`InputError`] (a file-level problem, exit 3), [`RowError`]
//!   and [`Reject`] (a row's);
//! - `table`: [`Table`] and `declare_table!`, the one declaration of an
//!   export's columns (their order in docs/inputs.md, header names, index
//!   constants, the column store and its operations);
//! - `orders`, `payments`, `unsubscriptions`: each export's declaration and
//!   its hand-written row validation (`parse`);
//! - `duplicates`: the rejects of repeated ids;
//! - `interner`: the dictionaries of shared text and their chunk caches;
//! - `inputs`: [`Inputs::load`], the three files read and hashed, their
//!   dictionaries finished and rejects merged.

pub(crate) mod cell;
mod duplicates;
mod error;
#[doc(hidden)]
pub mod fuzz_api;
mod inputs;
mod interner;
pub mod multi;
mod orders;
mod payments;
mod reader;
mod split;
mod table;
mod unsubscriptions;

use std::path::PathBuf;

use crate::time::Calendar;

pub use error::{InputError, Reject, RowError, MAX_ROWS};
pub use inputs::{
    sha256_file, FileCount, InputPaths, Inputs, LineBreaks, MappedFrom, Metas, Part, RulesDone, SourceCount,
    LINE_STRIDE, ORIGIN_BITS,
};
pub use interner::Interner;
pub use orders::Orders;
pub use payments::Payments;
pub use reader::HeaderNames;
pub(crate) use reader::{named_meta, read_blocks, read_table};
pub(crate) use split::count_line_breaks;

/// Calls `f(line, span, raw)` for each record of CSV `text` as ingest cuts
/// it: its physical first line, the line breaks inside its quoted fields
/// and its bytes as in the file (a line end it may carry included). What
/// `partition` copies rows with (docs/scale.md).
pub fn raw_records(text: &str, mut f: impl FnMut(u64, u64, &str)) {
    split::for_each_record_spanning(text, |line, span, raw, _, _| f(line, span, raw));
}

/// The end of the last complete record of `buf` (a buffer that starts at a
/// record boundary; all of it at the end of the file), as ingest cuts its
/// blocks; None when more must be read first (no complete record yet, or
/// a quote the fast cut cannot follow: then read to the end).
pub fn record_cut(buf: &[u8], eof: bool) -> Option<usize> {
    reader::cut_or_more(buf, eof, 0).1.ok()
}
pub use table::Table;
pub use unsubscriptions::Unsubscriptions;

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
    /// When the input was read from several files: each file's counts
    /// (the input's `path` and `sha256` are then empty).
    pub files: Vec<FileCount>,
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
            absent: 0,
            keep_duplicates: false,
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
    /// unsubscriptions.csv columns a mapping declares absent (bit `col::x`):
    /// their cells are empty and not required (docs/mapping.md, Coverage).
    pub absent: u32,
    /// Keep rows whose id an earlier row has (a streaming `partition`
    /// settles duplicate ids across all blocks itself).
    pub keep_duplicates: bool,
}

/// The largest number of columns a table has (unsubscriptions: 16).
const MAX_COLUMNS: usize = 16;

/// Everything read from one file.
pub struct Loaded<T> {
    pub table: T,
    pub rejects: Vec<Reject>,
    pub meta: InputMeta,
}
