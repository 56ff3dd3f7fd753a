//! `explain.idx`: what `explain ID --reports DIR` needs, kept beside a run's
//! reports so that an analyst's questions are answered without reading the
//! whole export again.
//!
//! # Why this shape
//! Every subject of `explain` lives in one account's *slice*: the account's
//! own rows, the rows of other accounts that name its orders, the first
//! row (by unsub_id) of each batch it is in, and, for each order of another
//! account it names, that order's *group* (the order row and its
//! payments). Evaluating a slice gives exactly the outcomes the full run
//! gave that account's rows — the rules look no further (R0–R9 per
//! account, R1 per order and its payments, R10 per instance of one
//! account, R11 compares each row of a batch with the batch's first row).
//! Every part is linear in the rows that name the account: a batch shared
//! by 100,000 accounts adds one row to each slice, not the batch, and an
//! order named by 100,000 accounts is stored once, as a group each of them
//! links to. So the index keeps, per slice (accounts, then groups), the
//! physical line numbers of its rows in each input, per account its links
//! to groups, and per id (unsub_id, order_id, account_id) a 32-bit hash
//! pointing at accounts.
//! `explain --reports` finds the slices, reads those lines from the inputs
//! (checkpoints every [`LINE_STRIDE`] lines, found while ingest hashed the
//! files, give their byte offsets), evaluates
//! the slice with the run's policy and as_of, and replays the trail as
//! always. It never trusts inputs that changed: each input's size and
//! modification time stand for its hash (as in make and git); when either
//! differs the file is hashed again and must match the run's SHA-256.
//!
//! The index is written by [`crate::report::explain_index`], which also
//! describes its layout; this module reads it.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::engine::{Keep, Reconciliation};
use crate::error::AppError;
use crate::ingest::{LineBreaks, LINE_STRIDE};
use crate::report::explain_index::{id_hash, stamp, MAGIC, MAX_HEADER, VERSION};
pub use crate::report::explain_index::{Header, InputStamp, FILE};

/// Reads exactly `buf.len()` bytes at byte `at` of `file`: one `pread` on
/// Unix; elsewhere a seek and a read on the shared handle (explain reads
/// its index and inputs from one thread).
fn read_exact_at(file: &File, buf: &mut [u8], at: u64) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_exact_at(file, buf, at)
    }
    #[cfg(not(unix))]
    {
        let mut f = file;
        f.seek(SeekFrom::Start(at))?;
        f.read_exact(buf)
    }
}

/// Reads up to `buf.len()` bytes at byte `at` of `file` (see
/// [`read_exact_at`]); how many it read.
fn read_at(file: &File, buf: &mut [u8], at: u64) -> std::io::Result<usize> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_at(file, buf, at)
    }
    #[cfg(not(unix))]
    {
        let mut f = file;
        f.seek(SeekFrom::Start(at))?;
        f.read(buf)
    }
}

fn io(path: &Path, e: std::io::Error) -> AppError {
    crate::report::io_err(path, e)
}

/// An open explain.idx.
pub struct Index {
    pub header: Header,
    file: File,
    path: PathBuf,
    /// Byte offset of the first checkpoint.
    body: u64,
}

/// Where the sections start, from the header's counts.
struct Sections {
    checkpoints: [u64; 3],
    body: crate::report::explain_index::Sections,
}

impl Index {
    /// Opens DIR/explain.idx, or says why it cannot be used.
    pub fn open(dir: &Path) -> Result<Index, AppError> {
        let path = dir.join(FILE);
        let usage = |why: String| AppError::Usage(format!("{}: {why}", path.display()));
        let summary = std::fs::read_to_string(dir.join("summary.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok());
        let mapped = summary.as_ref().and_then(|v| {
            v.get("mapping")
                .and_then(|m| m.get("name"))
                .and_then(|n| n.as_str().map(str::to_string))
        });
        let several = summary
            .as_ref()
            .and_then(|v| v.get("inputs"))
            .and_then(|i| i.as_array())
            .is_some_and(|i| {
                i.iter()
                    .any(|x| x.get("files").and_then(|f| f.as_array()).is_some_and(|f| !f.is_empty()))
            });
        if let (Some(name), false) = (&mapped, path.exists()) {
            return Err(usage(format!(
                "this run read its exports through the mapping {name}, and --reports reads rows back from canonical input files, which a mapped run does not have; run `refund-recon explain ID --mapping {name} --data …` (it maps the exports again), or write the canonical files with `refund-recon map` and run on those"
            )));
        }
        if several && !path.exists() {
            return Err(usage(
                "this run read several files for one input, and --reports reads rows back from one file per input; run `refund-recon explain ID` with the same --orders/--payments/--unsubscriptions (it reads the exports again)".into(),
            ));
        }
        if summary.as_ref().is_some_and(|v| v.get("shards").is_some()) && !path.exists() {
            return Err(usage(
                "this folder is the merge of a sharded run that wrote no explain index (its inputs have more than 2³² lines, or its shards were run by a version that wrote none); run `refund-recon explain ID` with the run's input options (it reads the exports again and answers as the run did)".into(),
            ));
        }
        let mut file = File::open(&path).map_err(|e| {
            usage(format!(
                "cannot open the explain index ({e}); --reports needs the folder of a finished run of this version (rerun `refund-recon run`, or explain without --reports)"
            ))
        })?;
        let mut head = [0u8; 12];
        file.read_exact(&mut head)
            .map_err(|e| usage(format!("not an explain index ({e})")))?;
        if &head[..4] != MAGIC || head[4..8] != VERSION.to_le_bytes() {
            return Err(usage(
                "not an explain index of this version of refund-recon; rerun `refund-recon run`".into(),
            ));
        }
        let n = u32::from_le_bytes(head[8..12].try_into().expect("4 bytes")) as usize;
        if n > MAX_HEADER {
            return Err(usage("not an explain index (its header is too long)".into()));
        }
        let mut json = vec![0u8; n];
        file.read_exact(&mut json)
            .map_err(|e| usage(format!("truncated explain index ({e})")))?;
        let header: Header =
            serde_json::from_slice(&json).map_err(|e| usage(format!("unreadable explain index ({e})")))?;
        if header.inputs.len() != 3 {
            return Err(usage("not an explain index (it does not name three inputs)".into()));
        }
        Ok(Index {
            header,
            file,
            path,
            body: 12 + n as u64,
        })
    }

    fn sections(&self) -> Sections {
        let h = &self.header;
        let mut at = self.body;
        let mut checkpoints = [0; 3];
        for (f, c) in checkpoints.iter_mut().enumerate() {
            *c = at;
            at += 8 * h.checkpoints[f];
        }
        Sections {
            checkpoints,
            body: h.counts().sections(at),
        }
    }

    fn read(&self, at: u64, buf: &mut [u8]) -> Result<(), AppError> {
        read_exact_at(&self.file, buf, at).map_err(|e| {
            AppError::Usage(format!(
                "{}: truncated explain index ({e}); rerun `refund-recon run`",
                self.path.display()
            ))
        })
    }

    fn u32_at(&self, at: u64) -> Result<u32, AppError> {
        let mut b = [0u8; 4];
        self.read(at, &mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    /// The accounts whose slices may hold `id` (hash matches).
    pub fn accounts_of(&self, id: &str) -> Result<Vec<u32>, AppError> {
        let s = self.sections();
        let h = id_hash(id);
        let entry = |k: u64| -> Result<(u32, u32), AppError> {
            let mut b = [0u8; 8];
            self.read(s.body.ids + 8 * k, &mut b)?;
            Ok((
                u32::from_le_bytes(b[..4].try_into().expect("4 bytes")),
                u32::from_le_bytes(b[4..].try_into().expect("4 bytes")),
            ))
        };
        let (mut lo, mut hi) = (0u64, self.header.ids);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if entry(mid)?.0 < h {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let mut out = Vec::new();
        while lo < self.header.ids {
            let (eh, a) = entry(lo)?;
            if eh != h {
                break;
            }
            out.push(a);
            lo += 1;
        }
        Ok(out)
    }

    /// The u32s `[from, to)` of a section starting at `at`.
    fn u32s(&self, at: u64, from: u32, to: u32) -> Result<Vec<u32>, AppError> {
        let mut buf = vec![0u8; 4 * (to - from) as usize];
        self.read(at + 4 * u64::from(from), &mut buf)?;
        Ok(buf
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect())
    }

    /// The run `[from, to)` of key `k` in a starts table at `at` whose
    /// list has `len` entries.
    fn run_of(&self, at: u64, k: u32, len: u64) -> Result<(u32, u32), AppError> {
        let from = self.u32_at(at + 4 * u64::from(k))?;
        let to = self.u32_at(at + 4 * (u64::from(k) + 1))?;
        if from > to || u64::from(to) > len {
            return Err(self.corrupt());
        }
        Ok((from, to))
    }

    /// The slices that answer for `accounts`: theirs, and the order groups
    /// they link to, each once.
    pub fn slices_of(&self, accounts: &[u32]) -> Result<Vec<u32>, AppError> {
        let s = self.sections();
        let h = &self.header;
        let mut out = Vec::new();
        for &a in accounts {
            if a >= h.accounts {
                return Err(self.corrupt());
            }
            out.push(a);
            let (from, to) = self.run_of(s.body.link_starts, a, h.links)?;
            for g in self.u32s(s.body.links, from, to)? {
                if g >= h.groups {
                    return Err(self.corrupt());
                }
                out.push(h.accounts + g);
            }
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    /// The physical lines of `slices` (from [`Index::slices_of`]) in input
    /// `f`, sorted, without repeats.
    pub fn slice_lines(&self, f: usize, slices: &[u32]) -> Result<Vec<u32>, AppError> {
        let s = self.sections();
        let h = &self.header;
        let mut out = Vec::new();
        for &k in slices {
            if u64::from(k) >= u64::from(h.accounts) + u64::from(h.groups) {
                return Err(self.corrupt());
            }
            let (from, to) = self.run_of(s.body.starts[f], k, h.lines[f])?;
            out.extend(self.u32s(s.body.lines[f], from, to)?);
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    fn corrupt(&self) -> AppError {
        AppError::Usage(format!(
            "{}: the explain index is damaged; rerun `refund-recon run`",
            self.path.display()
        ))
    }

    /// The byte offset of checkpoint `k` of input `f` (line 1 + k·LINE_STRIDE).
    fn checkpoint(&self, f: usize, k: u64) -> Result<u64, AppError> {
        if k >= self.header.checkpoints[f] {
            return Err(self.corrupt());
        }
        let mut b = [0u8; 8];
        self.read(self.sections().checkpoints[f] + 8 * k, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    /// The raw bytes of the records that start at `lines` of input `f`
    /// (sorted), each ending with a line break, and the header record.
    pub fn records(&self, f: usize, lines: &[u32]) -> Result<(Vec<u8>, Vec<Vec<u8>>), AppError> {
        let path = &self.header.inputs[f].abs;
        let file = File::open(path).map_err(|e| io(path, e))?;
        let mut reader = RecordReader::new(&file);
        let (header, _) = reader.at(0).map_err(|e| io(path, e))?;
        let mut out = Vec::with_capacity(lines.len());
        // Where the last record ended: (0-based line, byte offset). The next
        // line is found from there when no checkpoint is nearer, so a dense
        // slice (one account holding the whole export) is read in one pass.
        let mut cursor: Option<(u64, u64)> = None;
        for &l in lines {
            let Some(l) = u64::from(l).checked_sub(1) else {
                return Err(self.corrupt());
            };
            let (from_line, from) = match cursor {
                Some((line, at)) if line <= l && line >= l - l % LINE_STRIDE => (line, at),
                _ => (l - l % LINE_STRIDE, self.checkpoint(f, l / LINE_STRIDE)?),
            };
            let at = skip_lines(&file, from, l - from_line).map_err(|e| io(path, e))?;
            let (record, len) = reader.at(at).map_err(|e| io(path, e))?;
            cursor = Some((l + breaks(&record), at + len));
            out.push(record);
        }
        Ok((header, out))
    }
}

/// The offset after `n` more line breaks from `at` (the end of the file if
/// it has fewer).
fn skip_lines(file: &File, at: u64, n: u64) -> std::io::Result<u64> {
    if n == 0 {
        return Ok(at);
    }
    let mut buf = vec![0u8; 1 << 16];
    let mut f = file;
    f.seek(SeekFrom::Start(at))?;
    let mut breaks = LineBreaks::new(at, 0);
    let mut found = None;
    loop {
        let got = f.read(&mut buf)?;
        if got == 0 {
            return Ok(found.unwrap_or(at));
        }
        let more = breaks.feed(&buf[..got], |offset, line| {
            found = Some(offset);
            line < n
        });
        if !more {
            return Ok(found.expect("stopped at a break"));
        }
    }
}

/// Reads single CSV records at given byte offsets of one file, with one
/// CSV reader (building a reader costs more than reading a short record).
struct RecordReader<'f> {
    file: &'f File,
    csv: csv::Reader<&'f File>,
    record: csv::ByteRecord,
}

impl<'f> RecordReader<'f> {
    fn new(file: &'f File) -> RecordReader<'f> {
        let csv = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(file);
        RecordReader {
            file,
            csv,
            record: csv::ByteRecord::new(),
        }
    }

    /// The raw bytes of the record starting at byte `at` (its line break
    /// included; one added at the end of the file), and how many bytes of
    /// the file it took.
    fn at(&mut self, at: u64) -> std::io::Result<(Vec<u8>, u64)> {
        let mut start = csv::Position::new();
        start.set_byte(at);
        self.csv
            .seek_raw(SeekFrom::Start(at), start)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        self.csv
            .read_byte_record(&mut self.record)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        let mut len = self.csv.position().byte() - at;
        let mut out = vec![0u8; len as usize];
        read_exact_at(self.file, &mut out, at)?;
        if out.ends_with(b"\r") {
            // The reader stops inside a CRLF: the LF belongs to this record.
            let mut next = [0u8; 1];
            if read_at(self.file, &mut next, at + len)? == 1 && next[0] == b'\n' {
                out.push(b'\n');
                len += 1;
            }
        } else if !out.ends_with(b"\n") {
            out.push(b'\n');
        }
        Ok((out, len))
    }
}

/// Line breaks in a record's raw bytes (as ingest counts them).
fn breaks(b: &[u8]) -> u64 {
    crate::ingest::count_line_breaks(b, None)
}

/// Whether an input is still the one the run read: same size and
/// modification time, or else the same SHA-256.
fn unchanged(s: &InputStamp) -> Result<bool, AppError> {
    let now = match stamp(&s.abs, &s.name, &s.sha256) {
        Ok(now) => now,
        Err(_) => return Ok(false),
    };
    if now.size == s.size && now.mtime_ns == s.mtime_ns {
        return Ok(true);
    }
    let sha = crate::ingest::sha256_file(&s.abs).map_err(|e| io(&s.path, e))?;
    Ok(sha == s.sha256)
}

/// What `explain --reports` found.
pub struct Answer {
    /// The explanation; None when the id names nothing accepted.
    pub text: Option<String>,
    /// The name of the run's unsubscriptions file (its rejects.csv rows).
    pub unsubscriptions: String,
}

/// Answers `explain ID [--json]` from a finished run's reports folder
/// (`dir`).
pub fn answer(dir: &Path, id: &str, json: bool) -> Result<Answer, AppError> {
    let idx = Index::open(dir)?;
    let h = &idx.header;
    let none = || Answer {
        text: None,
        unsubscriptions: h.inputs[2].name.clone(),
    };
    for s in h.inputs.iter().chain(std::iter::once(&h.policy)) {
        if !unchanged(s)? {
            return Err(AppError::Usage(format!(
                "{}: {} is not the file this run read (sha256 {}); explain --reports answers only for the inputs of the run: rerun `refund-recon run`, or explain without --reports",
                dir.display(),
                s.path.display(),
                s.sha256.chars().take(16).collect::<String>()
            )));
        }
    }
    let accounts = idx.accounts_of(id)?;
    if accounts.is_empty() {
        return Ok(none());
    }
    let slices = idx.slices_of(&accounts)?;
    let mut policy = crate::config::Policy::load(&h.policy.abs)?;
    policy.path = h.policy.path.clone();
    let cal = policy.calendar();
    let tmp = tempfile::Builder::new()
        .prefix("refund-recon-explain-")
        .tempdir()
        .map_err(|e| AppError::Output(format!("cannot create a temporary folder ({e})")))?;
    let mut maps = Vec::new();
    let mut paths = Vec::new();
    for f in 0..3 {
        let lines = idx.slice_lines(f, &slices)?;
        let (header, records) = idx.records(f, &lines)?;
        let path = tmp.path().join(&h.inputs[f].name);
        let mut text = header.clone();
        let mut map = rustc_hash::FxHashMap::default();
        let mut at = 1 + breaks(&header);
        for (line, rec) in lines.iter().zip(&records) {
            map.insert(at, u64::from(*line));
            at += breaks(rec);
            text.extend_from_slice(rec);
        }
        std::fs::write(&path, &text).map_err(|e| io(&path, e))?;
        maps.push(map);
        paths.push(path);
    }
    let input_paths = crate::ingest::InputPaths {
        orders: paths[0].clone(),
        payments: paths[1].clone(),
        unsubscriptions: paths[2].clone(),
        more: Default::default(),
        context: Default::default(),
    };
    let mut inputs = crate::ingest::Inputs::load(&input_paths, &cal)?;
    if !inputs.rejects.is_empty() {
        return Err(AppError::Usage(format!(
            "{}: the explain index does not match the inputs (a row the run accepted is rejected now); rerun `refund-recon run`",
            dir.display()
        )));
    }
    let remap = |lines: &mut crate::columns::Lines, map: &rustc_hash::FxHashMap<u64, u64>| {
        lines.map(|l| map.get(&l).copied().unwrap_or(l));
    };
    remap(&mut inputs.orders.line, &maps[0]);
    remap(&mut inputs.payments.line, &maps[1]);
    remap(&mut inputs.unsubs.line, &maps[2]);
    for (m, s) in inputs.metas.iter_mut().zip(&h.inputs) {
        m.path = s.path.clone();
        m.name = s.name.clone();
    }
    let rec = Reconciliation::run(policy, cal, inputs, Some(h.as_of), std::time::Duration::ZERO, Keep::All)?;
    let text = if json {
        super::json(&rec, id).map(|v| format!("{v:#}\n"))
    } else {
        super::text(&rec, id)
    };
    Ok(Answer { text, ..none() })
}
