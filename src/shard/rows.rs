//! A shard's report read row by row, each row's bytes copied as written:
//! what merge interleaves by account.

use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

use crate::error::AppError;

/// One CSV report of one shard: the current row's account cell, and its
/// bytes still unread in `raw` (every row is copied once, in order, so
/// `raw` always stands at the current row's first byte).
pub struct Rows {
    path: PathBuf,
    csv: csv::Reader<BufReader<File>>,
    raw: BufReader<File>,
    rec: csv::ByteRecord,
    have: bool,
    start: u64,
    col: usize,
}

impl Rows {
    /// Opens `path` and copies its header line into `header`; rows are
    /// matched on column `column`.
    pub fn open(path: &Path, column: &str, header: &mut Vec<u8>) -> Result<Rows, AppError> {
        let err = |e: std::io::Error| AppError::Work(format!("{}: {e}", path.display()));
        let file = File::open(path).map_err(err)?;
        let raw = BufReader::with_capacity(1 << 20, File::open(path).map_err(err)?);
        let csv = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(BufReader::with_capacity(1 << 20, file));
        let mut rows = Rows {
            path: path.to_path_buf(),
            csv,
            raw,
            rec: csv::ByteRecord::new(),
            have: false,
            start: 0,
            col: 0,
        };
        rows.advance()?;
        rows.col = rows
            .rec
            .iter()
            .position(|c| c == column.as_bytes())
            .ok_or_else(|| AppError::Work(format!("{}: no column {column}", path.display())))?;
        rows.copy(header)?;
        Ok(rows)
    }

    fn advance(&mut self) -> Result<(), AppError> {
        self.have = self
            .csv
            .read_byte_record(&mut self.rec)
            .map_err(|e| AppError::Work(format!("{}: {e}", self.path.display())))?;
        if self.have {
            self.start = self.rec.position().map_or(0, |p| p.byte());
        }
        Ok(())
    }

    /// The current row's cell of the matched column (None at the end).
    pub fn key(&self) -> Option<&[u8]> {
        self.have.then(|| self.rec.get(self.col).unwrap_or_default())
    }

    /// Field `i` of the current row, unquoted.
    pub fn field(&self, i: usize) -> Option<&[u8]> {
        self.have.then(|| self.rec.get(i)).flatten()
    }

    /// Copies the current row's bytes into `out` and moves to the next.
    pub fn copy(&mut self, out: &mut Vec<u8>) -> Result<(), AppError> {
        let start = self.start;
        self.advance()?;
        let err = |e: std::io::Error| AppError::Work(format!("{}: {e}", self.path.display()));
        if self.have {
            let n = self.start - start;
            (&mut self.raw).take(n).read_to_end(out).map_err(err)?;
        } else {
            self.raw.read_to_end(out).map_err(err)?;
        }
        Ok(())
    }
}

/// The cell refund-recon writes for `text` (a formula-like start gets a
/// `'`; docs/outputs.md).
pub fn cell(text: &[u8]) -> Vec<u8> {
    let mut c = Vec::with_capacity(text.len() + 1);
    if matches!(text.first(), Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r')) {
        c.push(b'\'');
    }
    c.extend_from_slice(text);
    c
}

/// A buffer flushed into a report's sink in large pieces.
pub struct Out {
    pub sink: crate::report::sink::Sink,
    pub buf: Vec<u8>,
    pub rows: u64,
}

impl Out {
    pub fn flush_if_full(&mut self) -> Result<(), AppError> {
        if self.buf.len() >= 1 << 20 {
            self.sink.put(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    pub fn finish(mut self) -> Result<crate::report::Done, AppError> {
        self.sink.put(&self.buf)?;
        self.sink.flush().map_err(|e| AppError::Output(e.to_string()))?;
        self.sink.finish(Some(self.rows))
    }
}
