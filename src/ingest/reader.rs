//! One export's file → a [`Table`] and its rejects: the file read in
//! blocks, each block cut at record boundaries into chunks parsed in
//! parallel (the splitting is [`super::split`]'s), the header matched to
//! docs/inputs.md's columns, every row validated by the table's `parse`.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use rayon::prelude::*;

use super::duplicates::reject_duplicates;
use super::split::{
    count_line_breaks, for_each_record, for_each_record_spanning, last_boundary, quoted_spans, split_points, trim,
};
use super::{InputError, InputMeta, Loaded, Reject, RowCtx, Table, MAX_COLUMNS, MAX_ROWS};

/// Where each column of docs/inputs.md sits in the file's header.
struct HeaderMap {
    /// For each docs/inputs.md column, its field index in the file.
    index: Vec<Option<usize>>,
    fields: usize,
}

/// Bytes read at a time. Two blocks of each export are in memory at once
/// (one parsed, the next read), all three exports at a time: 8 MiB rather
/// than 32 takes 1M orders' peak from 1.7 to 1.3 × the input and its run
/// 6 % shorter, the fresh buffers' page faults fewer (docs/performance.md,
/// log entry 60).
pub(super) const BLOCK: usize = 8 << 20;

/// Reads, validates and de-duplicates one export.
pub fn read_table<T: Table>(path: &Path, ctx: &RowCtx<'_>) -> Result<Loaded<T>, InputError> {
    read_table_with_block::<T>(path, ctx, BLOCK)
}

pub(super) fn read_table_with_block<T: Table>(
    path: &Path,
    ctx: &RowCtx<'_>,
    block: usize,
) -> Result<Loaded<T>, InputError> {
    let (file, total_bytes) = open::<T>(path)?;
    read_from(file, path, total_bytes, ctx, block, None, None)
}

/// Opens an export: the file and its size.
fn open<T: Table>(path: &Path) -> Result<(File, u64), InputError> {
    let file = File::open(path).map_err(|e| InputError::Unreadable {
        path: path.display().to_string(),
        flag: T::FLAG,
        reason: e.to_string(),
    })?;
    let total_bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
    Ok((file, total_bytes))
}

/// [`read_table`] that also fills in the file's SHA-256 and explain.idx's
/// line checkpoints (its meta's `sha256` and `line_offsets`) from the same
/// reads: each block is hashed as it is read, not read a second time on a
/// thread of its own (docs/performance.md, log entry 65).
/// `names`: the header names a mapping gives our columns, if any.
pub(super) fn read_table_digested<T: Table>(
    path: &Path,
    ctx: &RowCtx<'_>,
    block: usize,
    names: Option<&HeaderNames>,
) -> Result<Loaded<T>, InputError> {
    use sha2::Digest;
    let (file, total_bytes) = open::<T>(path)?;
    let mut reader = Digesting::new(file);
    let mut loaded = read_from(&mut reader, path, total_bytes, ctx, block, None, names)?;
    loaded.meta.sha256 = crate::config::hex(&reader.sha.finalize());
    loaded.meta.line_offsets = reader.checkpoints.offsets;
    Ok(loaded)
}

/// A file that hashes and indexes the bytes read from it, as they are
/// read ([`read_table_digested`], [`read_blocks`]).
struct Digesting<R> {
    inner: R,
    sha: sha2::Sha256,
    checkpoints: super::inputs::Checkpoints,
}

impl<R> Digesting<R> {
    fn new(inner: R) -> Self {
        use sha2::Digest;
        Digesting {
            inner,
            sha: sha2::Sha256::new(),
            checkpoints: super::inputs::Checkpoints::default(),
        }
    }
}

/// Where [`read_from`] reads a table's bytes: any reader, or a file read
/// through [`Digesting`]. (Not a `Read` wrapper: `read_to_end` would then
/// zero each block before reading into it, 1 % of the CPU at 1M orders.)
trait Source {
    /// Reads up to `want` more bytes (`usize::MAX`: all the rest) onto the
    /// end of `buf`; returns whether the source is exhausted.
    fn fill(&mut self, buf: &mut Vec<u8>, want: usize) -> std::io::Result<bool>;
}

impl<R: Read> Source for R {
    fn fill(&mut self, buf: &mut Vec<u8>, want: usize) -> std::io::Result<bool> {
        let got = self.by_ref().take(want as u64).read_to_end(buf)?;
        Ok(want == usize::MAX || got < want)
    }
}

impl<R: Read> Source for &mut Digesting<R> {
    fn fill(&mut self, buf: &mut Vec<u8>, want: usize) -> std::io::Result<bool> {
        use sha2::Digest;
        let before = buf.len();
        let eof = self.inner.fill(buf, want)?;
        self.sha.update(&buf[before..]);
        self.checkpoints.feed(&buf[before..]);
        Ok(eof)
    }
}

/// [`read_table`] over any reader (several files as one stream,
/// [`super::multi`]), named by `path`, `total_bytes` long.
pub(super) fn read_from_reader<T: Table, R: Read + Send>(
    reader: R,
    path: &Path,
    total_bytes: u64,
    ctx: &RowCtx<'_>,
) -> Result<Loaded<T>, InputError> {
    read_from(reader, path, total_bytes, ctx, BLOCK, None, None)
}

/// [`read_table`] with the header names a mapping gives our columns (a
/// mapping that only renames headers reads the export directly), hashed
/// as it is read ([`read_table_digested`]). No line checkpoints: a
/// mapping's inputs have none (as when the file was hashed apart).
pub(crate) fn read_table_named<T: Table>(
    path: &Path,
    ctx: &RowCtx<'_>,
    names: &HeaderNames,
) -> Result<Loaded<T>, InputError> {
    let mut loaded = read_table_digested::<T>(path, ctx, BLOCK, Some(names))?;
    loaded.meta.line_offsets = Vec::new();
    Ok(loaded)
}

/// What [`read_table_named`] would say of the file (its name, path, size
/// and extra columns) without reading its rows: for `partition`, which
/// reads such an input through the mapping's text instead (docs/scale.md).
pub(crate) fn named_meta<T: Table>(path: &Path, names: &HeaderNames) -> Result<InputMeta, InputError> {
    let (mut file, total_bytes) = open::<T>(path)?;
    let shown = path.display().to_string();
    let mut buf: Vec<u8> = Vec::new();
    let (header, _, _) = header_of::<T, _>(&mut file, &mut buf, BLOCK, path)?;
    let map = header_map::<T>(&header, &shown, Some(names))?;
    Ok(header_meta::<T>(path, total_bytes, &header, &map))
}

/// An input's meta from its header, before any row is read.
fn header_meta<T: Table>(path: &Path, total_bytes: u64, header: &csv::ByteRecord, map: &HeaderMap) -> InputMeta {
    InputMeta {
        file: T::FILE,
        name: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| T::FILE.to_string()),
        path: path.to_path_buf(),
        bytes: total_bytes,
        extra_columns: extra_columns(header, map),
        ..InputMeta::default()
    }
}

/// Reads `path` a block of about `block` bytes at a time, each block's
/// rows parsed as [`read_table`] parses them (header-checked, validated,
/// rejects with their lines), and hands each block to `each`; a row's
/// line is `lines(physical line)`. Returns the file's meta (counts
/// summed) and its SHA-256. Memory: a few blocks, whatever the file's size.
pub(crate) fn read_blocks<T: Table, E: From<InputError>>(
    path: &Path,
    cal: &crate::time::Calendar,
    block: usize,
    lines: &(dyn Fn(u64) -> u64 + Sync),
    mut each: impl FnMut(Loaded<T>, super::Interners) -> Result<(), E>,
) -> Result<(InputMeta, String), E> {
    use sha2::Digest;
    let (file, total_bytes) = open::<T>(path)?;
    let mut reader = Digesting::new(file);
    let mut file = &mut reader;
    let unreadable = unreadable::<T>(path);
    let mut buf: Vec<u8> = Vec::new();
    let (_, header_len, mut eof) = header_of::<T, _>(&mut file, &mut buf, block, path)?;
    let header: Vec<u8> = buf[..header_len].to_vec();
    let header_lines = count_line_breaks(&header, buf.get(header_len).copied());
    buf.drain(..header_len);
    let mut meta: Option<InputMeta> = None;
    // The physical line of the first byte of `buf`.
    let mut line = 1 + header_lines;
    loop {
        let cut = match cut_or_more(&buf, eof, block).1 {
            Ok(cut) => cut,
            Err(want) => {
                eof = file.fill(&mut buf, want).map_err(&unreadable)?;
                continue;
            }
        };
        let mut text = header.clone();
        if !text.ends_with(b"\n") && !text.ends_with(b"\r") {
            text.push(b'\n');
        }
        let text_header_lines = count_line_breaks(&text, None);
        text.extend_from_slice(&buf[..cut]);
        let base = line;
        let at = move |l: u64| lines(l + base - 1 - text_header_lines);
        // Each block interns into its own dictionaries (handed on with it).
        let interners = super::Interners::default();
        let mut ctx = interners.ctx(cal);
        ctx.keep_duplicates = true;
        let loaded = read_table_bytes::<T>(&text, path, &ctx, &at)?;
        match &mut meta {
            None => meta = Some(loaded.meta.clone()),
            Some(m) => {
                m.rows_read += loaded.meta.rows_read;
                m.rejected += loaded.meta.rejected;
                m.accepted += loaded.meta.accepted;
            }
        }
        each(loaded, interners)?;
        line += count_line_breaks(&buf[..cut], buf.get(cut).copied());
        buf.drain(..cut);
        if buf.is_empty() && eof {
            break;
        }
        eof = file.fill(&mut buf, block).map_err(&unreadable)?;
    }
    let mut meta = meta.unwrap_or_default();
    meta.name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| T::FILE.to_string());
    meta.path = path.to_path_buf();
    meta.bytes = total_bytes;
    meta.line_offsets = reader.checkpoints.offsets;
    Ok((meta, crate::config::hex(&reader.sha.finalize())))
}

/// [`read_table`] over text in memory (a mapping's canonical rows,
/// [`crate::mapping`]), named `name`. Each row's line (and each reject's)
/// is `lines(physical line in the text)`, before duplicate ids are
/// rejected.
pub(crate) fn read_table_bytes<T: Table>(
    text: &[u8],
    name: &Path,
    ctx: &RowCtx<'_>,
    lines: &(dyn Fn(u64) -> u64 + Sync),
) -> Result<Loaded<T>, InputError> {
    read_from(text, name, text.len() as u64, ctx, BLOCK, Some(lines), None)
}

fn read_from<T: Table, R: Source + Send>(
    mut file: R,
    path: &Path,
    total_bytes: u64,
    ctx: &RowCtx<'_>,
    block: usize,
    lines: Option<&(dyn Fn(u64) -> u64 + Sync)>,
    names: Option<&HeaderNames>,
) -> Result<Loaded<T>, InputError> {
    let shown = path.display().to_string();
    let unreadable = unreadable::<T>(path);
    let mut buf: Vec<u8> = Vec::new();
    let (header, header_len, mut eof) = header_of::<T, _>(&mut file, &mut buf, block, path)?;
    let map = header_map::<T>(&header, &shown, names)?;
    let mut meta = header_meta::<T>(path, total_bytes, &header, &map);
    let mut line = 1 + count_line_breaks(&buf[..header_len], buf.get(header_len).copied());
    // A header that ends without a newline at EOF ends the file.
    buf.drain(..header_len);

    let parse_span = crate::trace::span("ingest: read + parse");
    let mut appender = Appender {
        table: T::with_capacity(0),
        rejects: Vec::new(),
        meta: &mut meta,
        line: &mut line,
        shown: &shown,
        lines,
        total_bytes,
    };
    let mut spare: Vec<u8> = Vec::new();
    // A block's parsed chunks are appended while the next block is parsed
    // (docs/performance.md, log entry 34): (chunks, cut, last block).
    let mut pending: Option<(Parsed<T>, usize, bool)> = None;
    loop {
        if buf.is_empty() && eof {
            break;
        }
        // Cut the buffer after its last complete record (all of it at EOF)
        // and into chunks at record boundaries.
        let (spans, cut) = cut_or_more(&buf, eof, block);
        let cut = match cut {
            Ok(cut) => cut,
            Err(want) => {
                eof = file.fill(&mut buf, want).map_err(&unreadable)?;
                continue;
            }
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
        let last = pending.take();
        let ((read, appended), parsed) = rayon::join(
            || {
                rayon::join(
                    || {
                        if eof {
                            Ok(true)
                        } else {
                            file.fill(&mut next, block)
                        }
                    },
                    || last.map_or(Ok(()), |(p, cut, end)| appender.append(p, cut, end)),
                )
            },
            || {
                bounds
                    .par_windows(2)
                    .map(|w| parse_chunk::<T>(&buf[w[0]..w[1]], &map, ctx))
                    .collect::<Vec<_>>()
            },
        );
        appended?;
        let block_eof = eof;
        eof = match read {
            Ok(eof) => eof,
            Err(e) => {
                // This block's own errors come first, as when it is read.
                appender.append(parsed, cut, block_eof)?;
                return Err(unreadable(e));
            }
        };
        pending = Some((parsed, cut, block_eof));
        spare = std::mem::replace(&mut buf, next);
    }
    if let Some((p, cut, end)) = pending {
        appender.append(p, cut, end)?;
    }
    let Appender {
        mut table, mut rejects, ..
    } = appender;
    table.finish();
    drop(parse_span);

    if !ctx.keep_duplicates {
        reject_duplicates(&mut table, &mut rejects);
    }
    rejects.sort_by_key(|r| r.line);
    for r in &mut rejects {
        r.file.clone_from(&meta.name);
    }
    meta.accepted = table.len() as u64;
    meta.rejected = rejects.len() as u64;
    Ok(Loaded { table, rejects, meta })
}

/// Reads the first blocks of a file into `buf` until its header (the first
/// record, after an optional BOM) is complete: the header, its length in
/// bytes (BOM included) and whether the file is exhausted. `Err(None)`: an
/// empty file.
/// Quoted spans `(open, close)` of a buffer ([`quoted_spans`]).
type Spans = Vec<(usize, usize)>;

/// Where a block of `buf` (which starts at a record boundary) ends: after
/// its last complete record, all of it at EOF (`Ok`, with the quoted
/// spans, None when a quote is not RFC 4180); or, with no complete record
/// yet or such a quote, how many more bytes to read first (`Err`: the
/// whole rest of the file after such a quote, parsed in one piece exactly
/// as the csv crate reads it).
pub(super) fn cut_or_more(buf: &[u8], eof: bool, block: usize) -> (Option<Spans>, Result<usize, usize>) {
    let spans = quoted_spans(buf, eof);
    let cut = match &spans {
        _ if eof => Some(buf.len()),
        Some(spans) => last_boundary(buf, spans).filter(|&c| c > 0),
        None => None,
    };
    let more = if spans.is_none() { usize::MAX } else { block };
    (spans, cut.ok_or(more))
}

/// A read error of `path` (an input of table `T`).
fn unreadable<T: Table>(path: &Path) -> impl Fn(std::io::Error) -> InputError + '_ {
    move |e| InputError::Unreadable {
        path: path.display().to_string(),
        flag: T::FLAG,
        reason: e.to_string(),
    }
}

/// [`read_header`] of `path` with its errors: unreadable, or empty (not
/// even a header).
fn header_of<T: Table, R: Source>(
    file: &mut R,
    buf: &mut Vec<u8>,
    block: usize,
    path: &Path,
) -> Result<(csv::ByteRecord, usize, bool), InputError> {
    read_header(file, buf, block).map_err(|e| match e {
        Some(e) => unreadable::<T>(path)(e),
        None => InputError::Empty {
            path: path.display().to_string(),
        },
    })
}

fn read_header<R: Source>(
    file: &mut R,
    buf: &mut Vec<u8>,
    block: usize,
) -> Result<(csv::ByteRecord, usize, bool), Option<std::io::Error>> {
    let mut eof = file.fill(buf, block)?;
    if buf.is_empty() {
        return Err(None);
    }
    let bom = if buf.starts_with(b"\xEF\xBB\xBF") { 3 } else { 0 };
    loop {
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(&buf[bom..]);
        let mut rec = csv::ByteRecord::new();
        let got = rdr.read_byte_record(&mut rec).unwrap_or(false);
        let end = rdr.position().byte() as usize;
        if got && (bom + end < buf.len() || eof) {
            return Ok((rec, bom + end, eof));
        }
        if eof {
            return Err(None);
        }
        eof = file.fill(buf, block)?;
    }
}

fn normalise_header(field: &[u8]) -> String {
    String::from_utf8_lossy(field).trim().to_ascii_lowercase()
}

/// Header names a mapping gives our columns ([`read_table_named`]): per
/// column of the table, the source headers that may hold it, first found
/// first; `None` for a column the mapping declares absent.
pub type HeaderNames = [Option<Vec<String>>];

fn header_map<T: Table>(
    header: &csv::ByteRecord,
    path: &str,
    names: Option<&HeaderNames>,
) -> Result<HeaderMap, InputError> {
    if header.iter().any(|field| std::str::from_utf8(field).is_err()) {
        return Err(InputError::NotUtf8 {
            path: path.to_string(),
            line: 1,
            column: None,
        });
    }
    let fields: Vec<String> = header.iter().map(normalise_header).collect();
    let mut index = vec![None; T::COLUMNS.len()];
    for (c, (own, _)) in T::COLUMNS.iter().enumerate() {
        let wanted: Vec<String> = match names {
            None => vec![(*own).to_string()],
            Some(n) => n[c].iter().flatten().map(|h| h.trim().to_ascii_lowercase()).collect(),
        };
        for w in wanted {
            let mut hits = fields.iter().enumerate().filter(|(_, f)| **f == w).map(|(i, _)| i);
            if let Some(i) = hits.next() {
                if hits.next().is_some() {
                    return Err(InputError::DuplicateColumn {
                        path: path.to_string(),
                        column: w,
                    });
                }
                index[c] = Some(i);
                break;
            }
        }
    }
    for (c, (name, required)) in T::COLUMNS.iter().enumerate() {
        let absent = names.is_some_and(|n| n[c].is_none());
        if *required && !absent && index[c].is_none() {
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

fn extra_columns(header: &csv::ByteRecord, map: &HeaderMap) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (i, field) in header.iter().enumerate() {
        // (As before mapping files: a later repeat is compared lower-cased
        // with the names kept as written.)
        let name = normalise_header(field);
        if !name.is_empty() && !map.index.contains(&Some(i)) && !out.contains(&name) {
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

/// A block's chunks as parsed, in order.
type Parsed<T> = Vec<Result<Chunk<T>, (u64, Option<String>)>>;

/// Where parsed chunks go: the table and rejects of one export, its
/// counts, and the physical line the next chunk starts at.
struct Appender<'a, T> {
    table: T,
    rejects: Vec<Reject>,
    meta: &'a mut InputMeta,
    line: &'a mut u64,
    shown: &'a str,
    lines: Option<&'a (dyn Fn(u64) -> u64 + Sync)>,
    total_bytes: u64,
}

impl<T: Table> Appender<'_, T> {
    /// Appends one block's chunks (`cut` bytes; `last`: the file's last
    /// block), their lines made absolute, or returns the first chunk's
    /// error.
    fn append(&mut self, parsed: Parsed<T>, cut: usize, last: bool) -> Result<(), InputError> {
        let first_block = self.table.is_empty();
        let rows: usize = parsed.iter().flatten().map(|c| c.table.len()).sum();
        self.table.reserve(rows);
        for chunk in parsed {
            let line = *self.line;
            let chunk = chunk.map_err(|(rel_line, column)| InputError::NotUtf8 {
                path: self.shown.to_string(),
                line: line + rel_line - 1,
                column,
            })?;
            self.meta.rows_read += chunk.rows_read;
            if self.meta.rows_read > MAX_ROWS {
                return Err(InputError::TooManyRows {
                    path: self.shown.to_string(),
                    limit: MAX_ROWS,
                });
            }
            for mut r in chunk.rejects {
                r.line += line - 1;
                if let Some(f) = self.lines {
                    r.line = f(r.line);
                }
                self.rejects.push(r);
            }
            let mut t = chunk.table;
            t.lines_mut().map(|l| l + line - 1);
            if let Some(f) = self.lines {
                t.lines_mut().map(f);
            }
            self.table.append(t);
            *self.line += chunk.newlines;
        }
        if first_block && !last && cut > 0 {
            // Size the columns once from the first block's rows per byte.
            let estimate = (self.table.len() as u128 * u128::from(self.total_bytes) / cut as u128) as usize;
            self.table
                .reserve((estimate + estimate / 32).saturating_sub(self.table.len()));
        }
        Ok(())
    }
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
    let Ok(text) = simdutf8::basic::from_utf8(bytes) else {
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
