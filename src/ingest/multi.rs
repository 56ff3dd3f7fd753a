//! Several files per input (`--orders 'exports/orders-2026-*.csv'`, or a
//! folder): the files are one table, in file-name order, read by the same
//! reader as one file — as one stream, each later file's header checked
//! against the first's and skipped. Each row's line then names its file
//! and its line there (`file << ORIGIN_BITS | line`), so every reject
//! names its own file and line; each file is hashed on its own.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::inputs::{FileCount, ORIGIN_BITS};
use super::reader::read_from_reader;
use super::{count_line_breaks, InputError, Loaded, Reject, RowCtx, Table};

/// The files a path names: itself, a folder's `.csv` files, or the files a
/// glob pattern (`*`, `?`, `[…]`) matches, in file-name order; at least
/// one (else why not).
pub fn expand(full: &Path) -> Result<Vec<PathBuf>, String> {
    let by_name = |v: &mut Vec<PathBuf>| v.sort_by(|a, b| a.file_name().cmp(&b.file_name()).then(a.cmp(b)));
    if full.is_dir() {
        let mut v: Vec<PathBuf> = std::fs::read_dir(full)
            .map_err(|e| format!("cannot list the folder ({e})"))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && p.extension().is_some_and(|x| x.eq_ignore_ascii_case("csv")))
            .collect();
        by_name(&mut v);
        return if v.is_empty() {
            Err("the folder has no .csv file".into())
        } else {
            Ok(v)
        };
    }
    let text = full.to_string_lossy();
    if !text.contains(['*', '?', '[']) {
        return Ok(vec![full.to_path_buf()]);
    }
    let mut v: Vec<PathBuf> = glob::glob(&text)
        .map_err(|e| format!("not a valid pattern ({e})"))?
        .filter_map(Result::ok)
        .filter(|p| p.is_file())
        .collect();
    by_name(&mut v);
    if v.is_empty() {
        Err("no file matches this pattern".into())
    } else {
        Ok(v)
    }
}

/// Where one file's data rows start: in the stream and in the file.
#[derive(Debug, Clone, Copy)]
struct Start {
    stream_line: u64,
    file_line: u64,
}

/// The files of one input read as one stream: the first whole, each later
/// one after its header; a line break put between two files when the first
/// does not end with one.
struct Chain {
    files: Vec<(File, u64)>,
    k: usize,
    breaks: super::LineBreaks,
    last: Option<u8>,
    separator: bool,
    /// Per file: the line in the file where its rows start (after its
    /// header).
    body_lines: Vec<u64>,
    starts: Vec<Start>,
    started: bool,
}

impl Read for Chain {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.separator {
                self.separator = false;
                buf[0] = b'\n';
                self.feed(&buf[..1]);
                return Ok(1);
            }
            let Some((file, _)) = self.files.get_mut(self.k) else {
                return Ok(0);
            };
            if !self.started {
                self.started = true;
                // File 0's header is read by the reader itself: its rows
                // start where they start in the file.
                let line = if self.k == 0 {
                    self.body_lines[0]
                } else {
                    self.breaks_line()
                };
                self.starts.push(Start {
                    stream_line: line,
                    file_line: self.body_lines[self.k],
                });
                continue;
            }
            let n = file.read(buf)?;
            if n > 0 {
                self.last = Some(buf[n - 1]);
                self.feed(&buf[..n]);
                return Ok(n);
            }
            self.k += 1;
            self.started = false;
            if self.k < self.files.len() && self.last.is_some_and(|b| b != b'\n') {
                self.separator = true;
            }
            self.last = None;
        }
    }
}

impl Chain {
    fn feed(&mut self, b: &[u8]) {
        self.breaks.feed(b, |_, _| true);
    }

    fn breaks_line(&self) -> u64 {
        self.breaks.line()
    }
}

/// The header of a file: its fields (trimmed, lower-cased), its length in
/// bytes (an optional BOM included) and its line breaks.
fn header_of(path: &Path) -> Result<(Vec<String>, u64, u64), InputError> {
    let shown = path.display().to_string();
    let mut head = Vec::new();
    File::open(path)
        .and_then(|f| f.take(1 << 20).read_to_end(&mut head))
        .map_err(|e| InputError::Source {
            path: shown.clone(),
            message: format!("cannot read the file ({e})"),
        })?;
    let bom = if head.starts_with(b"\xEF\xBB\xBF") { 3 } else { 0 };
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(&head[bom..]);
    let mut rec = csv::ByteRecord::new();
    if !rdr.read_byte_record(&mut rec).unwrap_or(false) {
        return Err(InputError::Empty { path: shown });
    }
    let end = bom + rdr.position().byte() as usize;
    let fields = rec
        .iter()
        .map(|f| String::from_utf8_lossy(f).trim().to_ascii_lowercase())
        .collect();
    Ok((
        fields,
        end as u64,
        count_line_breaks(&head[..end], head.get(end).copied()),
    ))
}

/// Reads the files of one input as one table.
pub(super) fn read_files<T: Table>(paths: &[PathBuf], ctx: &RowCtx<'_>) -> Result<Loaded<T>, InputError> {
    let mut files = Vec::new();
    let mut body_lines = Vec::new();
    let mut first: Option<Vec<String>> = None;
    for (k, path) in paths.iter().enumerate() {
        let (fields, len, breaks) = header_of(path)?;
        match &first {
            None => first = Some(fields),
            Some(f) if *f != fields => {
                return Err(InputError::Source {
                    path: path.display().to_string(),
                    message: format!(
                        "line 1: its header differs from {}'s; the files of one input are one table and need the same columns in the same order",
                        paths[0].display()
                    ),
                })
            }
            Some(_) => {}
        }
        let mut file = File::open(path).map_err(|e| InputError::Unreadable {
            path: path.display().to_string(),
            flag: T::FLAG,
            reason: e.to_string(),
        })?;
        if k > 0 {
            file.seek(SeekFrom::Start(len)).map_err(|e| InputError::Unreadable {
                path: path.display().to_string(),
                flag: T::FLAG,
                reason: e.to_string(),
            })?;
        }
        files.push((file, len));
        body_lines.push(1 + breaks);
    }
    let total: u64 = paths
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();
    let mut chain = Chain {
        files,
        k: 0,
        breaks: super::LineBreaks::new(0, 1),
        last: None,
        separator: false,
        body_lines,
        starts: Vec::new(),
        started: false,
    };
    let mut loaded = read_from_reader::<T, _>(&mut chain, &paths[0], total, ctx)?;
    let starts = chain.starts;
    let names: Vec<String> = paths.iter().map(|p| file_name(p)).collect();
    // Stream lines → (file, line).
    let locate = |line: u64| -> (usize, u64) {
        let k = starts.partition_point(|s| s.stream_line <= line).saturating_sub(1);
        let s = starts.get(k).copied().unwrap_or(Start {
            stream_line: line,
            file_line: line,
        });
        (k, (line + s.file_line).saturating_sub(s.stream_line))
    };
    loaded.table.lines_mut().map(|l| {
        let (k, line) = locate(l);
        ((k as u64) << ORIGIN_BITS) | line
    });
    // Counted by file index (two files of a pattern may share a name).
    let mut rejected = vec![0u64; paths.len()];
    for r in &mut loaded.rejects {
        let k = relocate(r, &locate, &names);
        if let Some(n) = rejected.get_mut(k) {
            *n += 1;
        }
    }
    loaded.rejects.sort_by_key(|r| (paths_index(&names, &r.file), r.line));
    let mut accepted = vec![0u64; paths.len()];
    for l in loaded.table.lines().iter() {
        if let Some(n) = accepted.get_mut((l >> ORIGIN_BITS) as usize) {
            *n += 1;
        }
    }
    loaded.meta.files = names
        .iter()
        .zip(paths)
        .enumerate()
        .map(|(k, (name, path))| FileCount {
            file: name.clone(),
            path: path.display().to_string(),
            sha256: String::new(),
            bytes: std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
            rows_read: accepted[k] + rejected[k],
            accepted: accepted[k],
            rejected: rejected[k],
            context: false,
        })
        .collect();
    loaded.meta.path = PathBuf::new();
    Ok(loaded)
}

fn paths_index(names: &[String], name: &str) -> usize {
    names.iter().position(|n| n == name).unwrap_or(usize::MAX)
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into_owned())
}

/// A reject read from several files (a stream of them, or a mapping's
/// canonical text) in its own file's terms: `locate` turns a line as read
/// into (file index, line in that file); the duplicate reason's "(line N)"
/// is rewritten the same way. Returns the file index.
pub fn relocate(r: &mut Reject, locate: &impl Fn(u64) -> (usize, u64), names: &[String]) -> usize {
    let (k, line) = locate(r.line);
    if let Some(pos) = r.reason.find("(line ") {
        let digits: String = r.reason[pos + 6..].chars().take_while(char::is_ascii_digit).collect();
        if let Ok(used) = digits.parse::<u64>() {
            let (uk, ul) = locate(used);
            let used_file = names.get(uk).cloned().unwrap_or_default();
            r.reason = format!(
                "{}({used_file} line {ul}{}",
                &r.reason[..pos],
                &r.reason[pos + 6 + digits.len()..]
            );
        }
    }
    r.file = names.get(k).cloned().unwrap_or_default();
    r.line = line;
    k
}
