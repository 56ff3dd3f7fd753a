//! A mapping applied: the sources read, each input's rows filtered,
//! exploded, looked up and made canonical (docs/mapping.md). The result is
//! each input as canonical CSV text (what `refund-recon map` writes), with
//! where each row came from, the mapping's own rejects and the counts per
//! source file.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use rust_decimal::Decimal;

use super::spec::{ColumnMap, Filter, InputMap, Kind, Mapping, Several, Source, ValueFrom};
use super::value;
use crate::ingest::{InputError, Reject, SourceCount};
use crate::time::Calendar;

/// One file of a source, read whole.
pub struct SourceFile {
    /// Its last path component (what rejects name).
    pub name: String,
    pub path: PathBuf,
    pub sha256: String,
    pub bytes: u64,
    /// Found under a `--context` folder: an earlier export whose rows link
    /// and count but are not reported.
    pub context: bool,
    /// Header names, trimmed and lower-cased.
    headers: Vec<String>,
    /// Data rows with their physical line.
    rows: Vec<(u64, csv::StringRecord)>,
}

impl SourceFile {
    fn column(&self, names: &[String]) -> Option<usize> {
        names.iter().find_map(|n| {
            let n = n.trim().to_ascii_lowercase();
            self.headers.iter().position(|h| *h == n)
        })
    }
}

/// A source's files in file-name order.
pub struct SourceData {
    pub source: Source,
    pub files: Vec<SourceFile>,
}

/// Reads every source the mapping names but those in `skip`, its files
/// found under `data`, then under each `context` folder (earlier exports:
/// a source a context folder lacks is left out there, but each folder
/// must hold at least one source's files).
pub fn read_sources(
    m: &Mapping,
    data: &Path,
    context: &[PathBuf],
    skip: &[&str],
) -> Result<BTreeMap<String, SourceData>, InputError> {
    use rayon::prelude::*;
    let mut wanted: Vec<(&String, Vec<(PathBuf, bool)>)> = Vec::new();
    let mut context_used = vec![false; context.len()];
    for (name, s) in m.sources.iter().filter(|(n, _)| !skip.contains(&n.as_str())) {
        let mut paths: Vec<PathBuf> = Vec::new();
        for pattern in &s.files {
            let found = expand(data, pattern).map_err(|message| InputError::Source {
                path: data.join(pattern).display().to_string(),
                message: format!("{message} (mapping key `sources.{name}.files`)"),
            })?;
            paths.extend(found);
        }
        by_name(&mut paths);
        let mut all: Vec<(PathBuf, bool)> = paths.into_iter().map(|p| (p, false)).collect();
        for (dir, used) in context.iter().zip(&mut context_used) {
            let mut found: Vec<PathBuf> = s.files.iter().filter_map(|p| expand(dir, p).ok()).flatten().collect();
            by_name(&mut found);
            *used |= !found.is_empty();
            all.extend(found.into_iter().map(|p| (p, true)));
        }
        wanted.push((name, all));
    }
    if let Some(at) = context_used.iter().position(|u| !u) {
        return Err(InputError::Unreadable {
            path: context[at].display().to_string(),
            flag: "context",
            reason:
                "holds no file of the mapping's sources; give the folder of an earlier export, laid out like --data"
                    .into(),
        });
    }
    // Every file of every source at once (the first error in order wins).
    let all: Vec<&(PathBuf, bool)> = wanted.iter().flat_map(|(_, p)| p.iter()).collect();
    let mut read = all
        .par_iter()
        .map(|(p, context)| read_file(p).map(|f| SourceFile { context: *context, ..f }))
        .collect::<Vec<_>>()
        .into_iter();
    let mut out = BTreeMap::new();
    for (name, paths) in wanted {
        let files = read.by_ref().take(paths.len()).collect::<Result<Vec<_>, _>>()?;
        out.insert(
            name.clone(),
            SourceData {
                source: m.sources[name].clone(),
                files,
            },
        );
    }
    Ok(out)
}

/// Paths in file-name order, each once.
fn by_name(paths: &mut Vec<PathBuf>) {
    paths.sort_by(|a, b| a.file_name().cmp(&b.file_name()).then(a.cmp(b)));
    paths.dedup();
}

/// The files of the sources read that feed no input (only looked up):
/// summary.json lists them with input `lookup`.
pub fn lookup_files(m: &Mapping, sources: &BTreeMap<String, SourceData>) -> Vec<SourceCount> {
    sources
        .values()
        .filter(|s| !m.inputs.iter().any(|i| i.source == s.source.name))
        .flat_map(|s| s.files.iter().map(move |f| (s, f)))
        .map(|(s, f)| SourceCount {
            input: "lookup".to_string(),
            source: s.source.name.clone(),
            file: f.name.clone(),
            path: f.path.display().to_string(),
            sha256: f.sha256.clone(),
            bytes: f.bytes,
            context: f.context,
            ..SourceCount::default()
        })
        .collect()
}

/// The files one `files` entry names: a file, a folder (its `.csv` files)
/// or a glob pattern; at least one.
pub fn expand(data: &Path, pattern: &str) -> Result<Vec<PathBuf>, String> {
    crate::ingest::multi::expand(&data.join(pattern)).map_err(|e| format!("{e}; check --data and the pattern"))
}

fn read_file(path: &Path) -> Result<SourceFile, InputError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| InputError::Source {
        path: shown.clone(),
        message: format!("cannot read the file ({e}); check --data and the mapping's `files`"),
    })?;
    if bytes.is_empty() {
        return Err(InputError::Empty { path: shown });
    }
    let sha256 = crate::config::hex(&<sha2::Sha256 as sha2::Digest>::digest(&bytes));
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes.as_slice());
    let mut rows = Vec::new();
    let mut headers = None;
    let mut rec = csv::StringRecord::new();
    loop {
        let line = rdr.position().line().max(1);
        match rdr.read_record(&mut rec) {
            Ok(false) => break,
            Ok(true) => {
                // read_record leaves position() at the record's end: its
                // first line is where the reader stood before it.
                let line = rec.position().map_or(line, |p| p.line());
                if headers.is_none() {
                    headers = Some(
                        rec.iter()
                            .map(|h| h.trim().trim_start_matches('\u{feff}').to_ascii_lowercase())
                            .collect(),
                    );
                } else {
                    rows.push((line, rec.clone()));
                }
            }
            Err(e) => {
                let line = e.position().map_or(line, |p| p.line());
                return Err(match e.kind() {
                    csv::ErrorKind::Utf8 { .. } => InputError::NotUtf8 {
                        path: shown,
                        line,
                        column: None,
                    },
                    _ => InputError::Source {
                        path: shown,
                        message: format!("line {line}: {e}"),
                    },
                });
            }
        }
    }
    Ok(SourceFile {
        name: path
            .file_name()
            .map_or_else(|| shown.clone(), |n| n.to_string_lossy().into_owned()),
        path: path.to_path_buf(),
        sha256,
        bytes: bytes.len() as u64,
        context: false,
        headers: headers.unwrap_or_default(),
        rows,
    })
}

/// Where a canonical row came from: the source file (its index in the
/// source) and physical line.
#[derive(Debug, Clone, Copy)]
pub struct Origin {
    pub file: u32,
    pub line: u64,
}

/// One input made canonical.
pub struct Mapped {
    /// docs/inputs.md CSV: a header, then one record per row made.
    pub csv: Vec<u8>,
    /// The first physical line of each record of `csv`.
    pub row_lines: Vec<u64>,
    /// Where each record came from.
    pub origins: Vec<Origin>,
    /// The source's files (name, path), in origin order.
    pub files: Vec<(String, String)>,
    /// Per file: found under a `--context` folder.
    pub context: Vec<bool>,
    /// Rows the mapping itself rejected (a value with no mapping, a cell
    /// that does not parse), naming the source file and line.
    pub rejects: Vec<Reject>,
    /// Per source file; `rejected` counts the mapping's own rejects, to
    /// which `load` adds ingest's and from which it derives `accepted`.
    pub counts: Vec<SourceCount>,
    /// Per column of ours: the source header(s) it comes from, for rejects.
    pub labels: Vec<(&'static str, String, String)>,
}

impl Mapped {
    /// A made row's line (`file << 40 | line` of its source row) from its
    /// physical line in `csv`.
    pub fn origin_of(&self, canonical: u64) -> u64 {
        let row = self.row_lines.partition_point(|&l| l <= canonical).saturating_sub(1);
        let o = self.origins.get(row).copied().unwrap_or(Origin {
            file: 0,
            line: canonical,
        });
        (u64::from(o.file) << crate::ingest::ORIGIN_BITS) | o.line
    }
}

/// How a column's value is found in one source file.
enum Getter<'a> {
    Absent,
    Const,
    Cell(usize),
    Sum(Vec<usize>),
    Lookup {
        by: usize,
        index: &'a LookupIndex<'a>,
        /// Per file of the looked-up source: the value columns' indexes.
        values: Vec<Vec<usize>>,
    },
}

/// A looked-up source's rows by key, after the lookup's `where`: each as
/// (file, row) of the source, the key borrowed from it. Built once per
/// (source, key column, conditions), whatever the number of columns that
/// look it up.
pub struct LookupIndex<'s> {
    data: &'s SourceData,
    rows: HashMap<&'s str, Vec<(u32, u32)>>,
}

impl<'s> LookupIndex<'s> {
    /// The value cells of a matching row.
    fn values(&self, at: (u32, u32), columns: &[Vec<usize>]) -> Vec<&'s str> {
        let rec = &self.data.files[at.0 as usize].rows[at.1 as usize].1;
        columns[at.0 as usize]
            .iter()
            .map(|&i| cell(rec, i, &self.data.source.null))
            .collect()
    }
}

fn missing_header(file: &SourceFile, what: &str, names: &[String], key: &str) -> InputError {
    InputError::Source {
        path: file.path.display().to_string(),
        message: format!(
            "line 1: the header has no column {} ({what}, mapping key `{key}`); fix the mapping or the export",
            names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(" or ")
        ),
    }
}

fn cell<'r>(rec: &'r csv::StringRecord, i: usize, null: &[String]) -> &'r str {
    let v = rec.get(i).unwrap_or("").trim();
    if null.iter().any(|n| n == v) {
        ""
    } else {
        v
    }
}

fn build_lookup<'s>(
    c: &ColumnMap,
    l: &super::spec::Lookup,
    data: &'s SourceData,
) -> Result<LookupIndex<'s>, InputError> {
    let mut rows: HashMap<&'s str, Vec<(u32, u32)>> = HashMap::new();
    for (fi, f) in data.files.iter().enumerate() {
        let key = f
            .column(std::slice::from_ref(&l.key))
            .ok_or_else(|| missing_header(f, "the lookup's `match`", std::slice::from_ref(&l.key), &c.key))?;
        let filters = filter_columns(f, &l.filters, &c.key)?;
        for (ri, (_, rec)) in f.rows.iter().enumerate() {
            if filters
                .iter()
                .any(|(i, flt)| !flt.test.holds(cell(rec, *i, &data.source.null)))
            {
                continue;
            }
            let k = cell(rec, key, &data.source.null);
            if !k.is_empty() {
                rows.entry(k).or_default().push((fi as u32, ri as u32));
            }
        }
    }
    Ok(LookupIndex { data, rows })
}

fn filter_columns<'f>(
    f: &SourceFile,
    filters: &'f [Filter],
    key: &str,
) -> Result<Vec<(usize, &'f Filter)>, InputError> {
    filters
        .iter()
        .map(|flt| {
            f.column(std::slice::from_ref(&flt.column))
                .map(|i| (i, flt))
                .ok_or_else(|| missing_header(f, "a `where` condition", std::slice::from_ref(&flt.column), key))
        })
        .collect()
}

/// The label of a column's source in a reject: its header(s), or what it is.
pub fn label(c: &ColumnMap) -> String {
    match &c.value {
        ValueFrom::Column(h) => h.first().cloned().unwrap_or_default(),
        ValueFrom::Sum(h) => h.join("+"),
        ValueFrom::Lookup(l) => format!("{}.{}", l.source, l.value.join("+")),
        ValueFrom::Const(_) => format!("{} (a constant)", c.column),
        ValueFrom::Absent => format!("{} (absent)", c.column),
    }
}

/// The canonical CSV being written for one input, and where its rows
/// came from.
struct Out<'m> {
    im: &'m InputMap,
    /// The physical line of the next record.
    line: u64,
    mapped: Mapped,
}

/// What one slice of a source file's rows made: its records and where
/// they came from, its rejects and counts. Slices are mapped in parallel
/// and joined in order, so the output does not depend on the thread count.
#[derive(Default)]
struct Slice {
    csv: Vec<u8>,
    /// Physical lines of each record (1 unless a cell holds a line break).
    record_lines: Vec<u64>,
    origins: Vec<Origin>,
    rejects: Vec<Reject>,
    filtered: BTreeMap<String, u64>,
    rows: u64,
}

/// What mapping a row of one source file needs.
struct FileCtx<'a> {
    im: &'a InputMap,
    f: &'a SourceFile,
    fi: u32,
    null: &'a [String],
    filters: Vec<(usize, &'a Filter)>,
    explode: Option<usize>,
    getters: Vec<Getter<'a>>,
    zone: chrono_tz::Tz,
    cal: &'a Calendar,
}

/// Rows per slice mapped on one thread.
const SLICE: usize = 1 << 14;

/// Applies one input's mapping.
pub fn apply(im: &InputMap, sources: &BTreeMap<String, SourceData>, cal: &Calendar) -> Result<Mapped, InputError> {
    let data = &sources[&im.source];
    // Lookup indexes, once per column that has one.
    // Lookup indexes: one per (source, key column, conditions), shared by
    // the columns that look it up.
    let span = crate::trace::span("  lookup indexes");
    let mut built: Vec<(String, LookupIndex<'_>)> = Vec::new();
    let mut which: Vec<Option<usize>> = Vec::new();
    for c in &im.columns {
        which.push(match &c.value {
            ValueFrom::Lookup(l) => {
                let id = format!("{}\u{1f}{}\u{1f}{:?}", l.source, l.key, l.filters);
                match built.iter().position(|(b, _)| *b == id) {
                    Some(k) => Some(k),
                    None => {
                        built.push((id, build_lookup(c, l, &sources[&l.source])?));
                        Some(built.len() - 1)
                    }
                }
            }
            _ => None,
        });
    }
    let indexes: Vec<Option<&LookupIndex<'_>>> = which.iter().map(|w| w.map(|k| &built[k].1)).collect();
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    let names: Vec<&str> = im.columns.iter().map(|c| c.column).collect();
    w.write_record(&names).map_err(io_err)?;
    let header = w.into_inner().map_err(|e| io_err(e.into_error().into()))?;
    let mut out = Out {
        im,
        line: 2,
        mapped: Mapped {
            csv: header,
            row_lines: Vec::new(),
            origins: Vec::new(),
            files: data
                .files
                .iter()
                .map(|f| (f.name.clone(), f.path.display().to_string()))
                .collect(),
            context: data.files.iter().map(|f| f.context).collect(),
            rejects: Vec::new(),
            counts: Vec::new(),
            labels: im.columns.iter().map(|c| (c.column, label(c), c.key.clone())).collect(),
        },
    };
    drop(span);
    let _span = crate::trace::span("  rows");
    let zone = data.source.timezone.unwrap_or(cal.tz());
    for (fi, f) in data.files.iter().enumerate() {
        let count = out.file(fi, f, &data.source.null, &indexes, zone, cal)?;
        out.mapped.counts.push(count);
    }
    Ok(out.mapped)
}

impl Out<'_> {
    /// The getters of each column in one source file (its header indexes).
    fn getters<'a>(
        &self,
        f: &SourceFile,
        indexes: &[Option<&'a LookupIndex<'a>>],
    ) -> Result<Vec<Getter<'a>>, InputError>
    where
        Self: 'a,
    {
        let one = |h: &String, what: &str, key: &str| {
            f.column(std::slice::from_ref(h))
                .ok_or_else(|| missing_header(f, what, std::slice::from_ref(h), key))
        };
        self.im
            .columns
            .iter()
            .zip(indexes)
            .map(|(c, ix)| {
                Ok(match &c.value {
                    ValueFrom::Absent => Getter::Absent,
                    ValueFrom::Const(_) => Getter::Const,
                    ValueFrom::Column(h) => {
                        Getter::Cell(f.column(h).ok_or_else(|| missing_header(f, c.column, h, &c.key))?)
                    }
                    ValueFrom::Sum(h) => {
                        Getter::Sum(h.iter().map(|x| one(x, c.column, &c.key)).collect::<Result<_, _>>()?)
                    }
                    ValueFrom::Lookup(l) => {
                        let index = ix.expect("built for every lookup");
                        let values = index
                            .data
                            .files
                            .iter()
                            .map(|lf| {
                                l.value
                                    .iter()
                                    .map(|v| {
                                        lf.column(std::slice::from_ref(v)).ok_or_else(|| {
                                            missing_header(lf, "the looked-up value", std::slice::from_ref(v), &c.key)
                                        })
                                    })
                                    .collect::<Result<Vec<_>, _>>()
                            })
                            .collect::<Result<Vec<_>, _>>()?;
                        Getter::Lookup {
                            by: one(&l.by, "the lookup's `by`", &c.key)?,
                            index,
                            values,
                        }
                    }
                })
            })
            .collect()
    }

    /// Maps the rows of one source file: slices in parallel, joined in
    /// order.
    fn file(
        &mut self,
        fi: usize,
        f: &SourceFile,
        null: &[String],
        indexes: &[Option<&LookupIndex<'_>>],
        zone: chrono_tz::Tz,
        cal: &Calendar,
    ) -> Result<SourceCount, InputError> {
        use rayon::prelude::*;
        let im = self.im;
        let key = im.file.name();
        let explode = match &im.explode {
            Some(h) => Some(f.column(std::slice::from_ref(h)).ok_or_else(|| {
                missing_header(
                    f,
                    "the column to explode",
                    std::slice::from_ref(h),
                    &format!("{key}.explode"),
                )
            })?),
            None => None,
        };
        let ctx = FileCtx {
            im,
            f,
            fi: fi as u32,
            null,
            filters: filter_columns(f, &im.filters, &format!("{key}.where"))?,
            explode,
            getters: self.getters(f, indexes)?,
            zone,
            cal,
        };
        let slices: Vec<Result<Slice, InputError>> = f.rows.par_chunks(SLICE).map(|rows| ctx.slice(rows)).collect();
        let mut count = SourceCount {
            input: key.to_string(),
            source: im.source.clone(),
            file: f.name.clone(),
            path: f.path.display().to_string(),
            sha256: f.sha256.clone(),
            bytes: f.bytes,
            rows_read: f.rows.len() as u64,
            context: f.context,
            ..SourceCount::default()
        };
        for s in slices {
            let s = s?;
            self.mapped.csv.extend_from_slice(&s.csv);
            for n in s.record_lines {
                self.mapped.row_lines.push(self.line);
                self.line += n;
            }
            self.mapped.origins.extend(s.origins);
            count.rejected += s.rejects.len() as u64;
            self.mapped.rejects.extend(s.rejects);
            for (why, n) in s.filtered {
                *count.filtered.entry(why).or_default() += n;
            }
            count.rows += s.rows;
        }
        Ok(count)
    }
}

impl FileCtx<'_> {
    fn reject(&self, line: u64, record_id: String, column: String, value: String, reason: String) -> Reject {
        Reject {
            file: self.f.name.clone(),
            line,
            record_id,
            column,
            value,
            reason,
        }
    }

    /// Maps one slice of the file's rows.
    fn slice(&self, rows: &[(u64, csv::StringRecord)]) -> Result<Slice, InputError> {
        let (im, f, null) = (self.im, self.f, self.null);
        let key = im.file.name();
        let mut out = Slice::default();
        let mut w = csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(Vec::new());
        let mut texts: Vec<String> = vec![String::new(); im.columns.len()];
        for (src_line, rec) in rows {
            if rec.len() != f.headers.len() {
                out.rows += 1;
                let why = format!(
                    "the row has {} fields but the header has {}",
                    rec.len(),
                    f.headers.len()
                );
                // As ingest does: the reject names the row's id when it has one.
                let id = match self.getters.first() {
                    Some(Getter::Cell(i)) => rec.get(*i).unwrap_or("").trim().to_string(),
                    _ => String::new(),
                };
                out.rejects
                    .push(self.reject(*src_line, id, String::new(), String::new(), why));
                continue;
            }
            if let Some((_, flt)) = self
                .filters
                .iter()
                .find(|(i, flt)| !flt.test.holds(cell(rec, *i, null)))
            {
                *out.filtered.entry(flt.reason.clone()).or_default() += 1;
                continue;
            }
            let elements = match self.explode {
                None => vec![None],
                Some(i) => match value::json_elements(cell(rec, i, null)) {
                    Ok(v) if v.is_empty() => {
                        let why = format!("{} is an empty array", im.explode.as_deref().unwrap_or(""));
                        *out.filtered.entry(why).or_default() += 1;
                        continue;
                    }
                    Ok(v) => v.into_iter().map(|e| Some((i, e))).collect(),
                    Err(why) => {
                        out.rows += 1;
                        let (column, value) = (im.explode.clone().unwrap_or_default(), cell(rec, i, &[]).to_string());
                        let why = format!("{why} (mapping key `{key}.explode`)");
                        out.rejects
                            .push(self.reject(*src_line, String::new(), column, value, why));
                        continue;
                    }
                },
            };
            for element in elements {
                out.rows += 1;
                let cells = |i: usize| -> &str {
                    match &element {
                        Some((e, v)) if *e == i => v.as_str(),
                        _ => cell(rec, i, null),
                    }
                };
                match self.row(&cells, &mut texts) {
                    Err((id, column, raw, why)) => out.rejects.push(self.reject(*src_line, id, column, raw, why)),
                    Ok(()) => {
                        let before = w.get_ref().len();
                        w.write_record(&texts).map_err(io_err)?;
                        w.flush().map_err(|e| io_err(e.into()))?;
                        out.record_lines
                            .push(memchr::memchr_iter(b'\n', &w.get_ref()[before..]).count() as u64);
                        out.origins.push(Origin {
                            file: self.fi,
                            line: *src_line,
                        });
                    }
                }
            }
        }
        out.csv = w.into_inner().map_err(|e| io_err(e.into_error().into()))?;
        Ok(out)
    }

    /// Makes one canonical row into `texts`, or says why it is rejected:
    /// (record_id, column, value, reason).
    fn row<'a>(
        &self,
        cells: &impl Fn(usize) -> &'a str,
        texts: &mut [String],
    ) -> Result<(), (String, String, String, String)> {
        for (k, (c, g)) in self.im.columns.iter().zip(&self.getters).enumerate() {
            match make(c, g, cells, self.zone, self.cal) {
                Ok(t) => texts[k] = t,
                Err((raw, reason)) => {
                    let id = if k > 0 { texts[0].clone() } else { String::new() };
                    return Err((id, label(c), raw, format!("{reason} (mapping key `{}`)", c.key)));
                }
            }
        }
        Ok(())
    }
}

fn io_err(e: csv::Error) -> InputError {
    InputError::Source {
        path: "(memory)".into(),
        message: e.to_string(),
    }
}

/// One column's canonical text, or the raw text and why it is rejected.
fn make<'a>(
    c: &ColumnMap,
    g: &Getter<'_>,
    cells: &impl Fn(usize) -> &'a str,
    zone: chrono_tz::Tz,
    cal: &Calendar,
) -> Result<String, (String, String)> {
    let zone = c.time.timezone.unwrap_or(zone);
    let convert = |raw: &str| -> Result<String, (String, String)> {
        if raw.is_empty() && c.map.as_ref().is_none_or(|m| !m.contains_key("")) {
            return Ok(String::new());
        }
        let fail = |reason: String| (raw.to_string(), reason);
        let t = value::text_steps(c, raw).map_err(fail)?;
        match c.kind {
            Kind::Text => Ok(t),
            _ if t.is_empty() => Ok(t),
            Kind::Money => value::read_money(&t, &c.money)
                .and_then(|d| value::finish_money(d, &c.money))
                .map_err(fail),
            Kind::Timestamp => value::timestamp(&t, &c.time, zone, cal).map_err(fail),
        }
    };
    let sum = |raws: &mut dyn Iterator<Item = &str>| -> Result<String, (String, String)> {
        let mut total: Option<Decimal> = None;
        for raw in raws {
            if raw.is_empty() {
                continue;
            }
            let t = value::text_steps(c, raw).map_err(|r| (raw.to_string(), r))?;
            let d = value::read_money(&t, &c.money).map_err(|r| (raw.to_string(), r))?;
            let sum = total.unwrap_or_default().checked_add(d);
            total = Some(sum.ok_or_else(|| (raw.to_string(), "the sum overflows".to_string()))?);
        }
        match total {
            None => Ok(String::new()),
            Some(d) => value::finish_money(d, &c.money).map_err(|r| (d.to_string(), r)),
        }
    };
    match g {
        Getter::Absent => Ok(String::new()),
        Getter::Const => match &c.value {
            ValueFrom::Const(s) => Ok(s.clone()),
            _ => Ok(String::new()),
        },
        Getter::Cell(i) => convert(cells(*i)),
        Getter::Sum(ix) => sum(&mut ix.iter().map(|&i| cells(i))),
        Getter::Lookup { by, index, values } => {
            let ValueFrom::Lookup(l) = &c.value else {
                unreachable!("a lookup getter")
            };
            let k = cells(*by);
            let matches = index.rows.get(k).map(Vec::as_slice).unwrap_or_default();
            let row = |at: &(u32, u32)| index.values(*at, values);
            match (matches, l.several) {
                ([], _) if l.reject_missing => {
                    Err((k.to_string(), format!("no row of {} has {} = {k:?}", l.source, l.key)))
                }
                ([], _) => Ok(String::new()),
                (many @ [_, _, ..], Several::Reject) => Err((
                    k.to_string(),
                    format!(
                        "{} rows of {} have {} = {k:?}; say `several = \"first\"` or, for money, \"sum\"",
                        many.len(),
                        l.source,
                        l.key
                    ),
                )),
                (rows, Several::Sum) => sum(&mut rows.iter().flat_map(row)),
                ([first, ..], _) if c.kind == Kind::Money && l.value.len() > 1 => sum(&mut row(first).into_iter()),
                ([first, ..], _) => convert(row(first).first().copied().unwrap_or("")),
            }
        }
    }
}
