//! Loading: the three exports read, validated and hashed, the dictionaries
//! of their interned text finished, their rejects merged (docs/inputs.md;
//! as_of: docs/rules.md#evaluation-order-and-as_of).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::columns::RowOrder;

use super::reader::{read_table_bytes, read_table_digested, read_table_named, HeaderNames, BLOCK};
use super::{read_table, InputError, InputMeta, Interners, Orders, Payments, Reject, Table, Unsubscriptions};
use crate::time::{Calendar, Micros};

/// Rows in account order (ranks, which sort like the
/// account_id text), keeping file order within an account (a stable
/// counting sort). The rules, the bill and every report then read each
/// account's rows from contiguous memory, not scattered over an export in
/// time order (docs/performance.md). Every row keeps its line, and nothing
/// downstream depends on the order of rows of different accounts.
///
/// The order comes from the table's account codes (ranks in the
/// dictionary the three tables share): [`RowOrder::by_account`], `None`
/// when the table is in that order already (it is then left as it is).
/// This puts a table's rows in that order.
fn gather_rows<T: Table>(table: &mut T, rows: Option<RowOrder>, name: &'static str) {
    let _s = crate::trace::span(name);
    if let Some(rows) = rows {
        let _s = crate::trace::span("    gather");
        table.gather(&rows);
        if rows.is_staged() {
            // The old columns, freed, given back before the next table's
            // new ones are made: the staged moves are quick enough that
            // mimalloc's purge delay otherwise kept them (log entry 87).
            crate::memory::give_back();
        }
    }
}

/// Where the three exports are.
#[derive(Debug, Clone)]
pub struct InputPaths {
    pub orders: PathBuf,
    pub payments: PathBuf,
    pub unsubscriptions: PathBuf,
    /// More files of orders, payments, unsubscriptions (after the one
    /// above, in file-name order): an input given as a folder or a pattern.
    pub more: [Vec<PathBuf>; 3],
    /// Files of earlier exports read as context (`--context`): after the
    /// input's own files, their rows link and count but are not reported
    /// (docs/inputs.md#context-earlier-exports).
    pub context: [Vec<PathBuf>; 3],
}

impl InputPaths {
    /// The three exports under their usual names in `dir` (the tests'
    /// generated folders).
    #[cfg(test)]
    pub(crate) fn in_folder(dir: &Path) -> InputPaths {
        InputPaths {
            orders: dir.join("orders.csv"),
            payments: dir.join("payments.csv"),
            unsubscriptions: dir.join("unsubscriptions.csv"),
            more: Default::default(),
            context: Default::default(),
        }
    }

    /// Every file of each input: the first one first, the context files
    /// last.
    pub fn all(&self) -> [Vec<&Path>; 3] {
        let first = [&self.orders, &self.payments, &self.unsubscriptions];
        std::array::from_fn(|k| {
            std::iter::once(first[k].as_path())
                .chain(self.more[k].iter().map(PathBuf::as_path))
                .chain(self.context[k].iter().map(PathBuf::as_path))
                .collect()
        })
    }
}

/// One file of an input read from several (summary.json's `inputs[].files`).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct FileCount {
    pub file: String,
    pub path: String,
    pub sha256: String,
    pub bytes: u64,
    pub rows_read: u64,
    pub accepted: u64,
    pub rejected: u64,
    /// A file of an earlier export read as context (`--context`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub context: bool,
}

/// What summary.json says about each export.
#[derive(Debug, Clone, Default)]
pub struct Metas {
    pub orders: InputMeta,
    pub payments: InputMeta,
    pub unsubs: InputMeta,
}

impl Metas {
    /// The three in file order: orders, payments, unsubscriptions.
    pub fn iter(&self) -> std::array::IntoIter<&InputMeta, 3> {
        [&self.orders, &self.payments, &self.unsubs].into_iter()
    }

    pub fn iter_mut(&mut self) -> std::array::IntoIter<&mut InputMeta, 3> {
        [&mut self.orders, &mut self.payments, &mut self.unsubs].into_iter()
    }
}

impl<'a> IntoIterator for &'a Metas {
    type Item = &'a InputMeta;
    type IntoIter = std::array::IntoIter<&'a InputMeta, 3>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// What summary.json says about one source file feeding one input.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct SourceCount {
    /// The input it feeds, or `lookup` for a source only looked up.
    pub input: String,
    pub source: String,
    pub file: String,
    pub path: String,
    pub sha256: String,
    pub bytes: u64,
    /// Data rows in the file.
    pub rows_read: u64,
    /// Rows the `where` conditions dropped, per condition.
    pub filtered: BTreeMap<String, u64>,
    /// Rows made from the rest (one per row, or per element where the
    /// input explodes a JSON array).
    pub rows: u64,
    pub accepted: u64,
    pub rejected: u64,
    /// A file found under a `--context` folder.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub context: bool,
}

/// Where mapped inputs came from (summary.json's `mapping`).
#[derive(Debug, Clone)]
pub struct MappedFrom {
    /// The preset's name or the mapping file's path.
    pub name: String,
    pub sha256: String,
    /// Per input and source file.
    pub sources: Vec<SourceCount>,
}

/// Bits of a row's line that hold its line in its file when an input was
/// read from several files (a mapping's sources, or `--orders` naming
/// several); above them, the index of its file ([`Inputs::files`]).
pub const ORIGIN_BITS: u32 = 40;

/// Where one mapped input's rows come from ([`Inputs::from_parts`]).
pub enum Part<'a> {
    /// Canonical text in memory, named `name`; `lines` gives each row's
    /// line from its physical line in the text.
    Text {
        text: &'a [u8],
        name: &'a Path,
        lines: &'a (dyn Fn(u64) -> u64 + Sync),
    },
    /// A source file read as it is, with the header names the mapping gives
    /// our columns.
    File { path: &'a Path, names: &'a HeaderNames },
}

impl Part<'_> {
    fn read<T: Table>(self, ctx: &super::RowCtx<'_>) -> Result<super::Loaded<T>, InputError> {
        match self {
            Part::Text { text, name, lines } => {
                let mut l = read_table_bytes::<T>(text, name, ctx, lines)?;
                l.meta.sha256 = crate::config::hex(&Sha256::digest(text));
                l.meta.path = PathBuf::new();
                Ok(l)
            }
            Part::File { path, names } => read_table_named::<T>(path, ctx, names),
        }
    }
}

/// How far the rules have got: what [`Inputs::free_read_columns`] frees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RulesDone {
    /// Every account's rules (R0–R9, R3c).
    Accounts,
    /// R1's findings on payments and orders.
    PaymentFindings,
    /// R10's findings.
    ValueAdded,
    /// All of them, and the context rows left out.
    All,
}

/// The three exports as read.
pub struct Inputs {
    pub orders: Orders,
    pub payments: Payments,
    pub unsubs: Unsubscriptions,
    pub metas: Metas,
    /// Every reject of the three files, sorted by file then line.
    pub rejects: Vec<Reject>,
    /// Set when the rows came through a mapping (docs/mapping.md).
    pub mapped: Option<MappedFrom>,
    /// Per input (orders, payments, unsubscriptions), the files its rows
    /// came from as (name, path), when that is not the one file of its
    /// meta (mapped inputs, several files per input): a row's line is then
    /// `file << ORIGIN_BITS | line` ([`Inputs::origin`]).
    pub files: [Vec<(String, String)>; 3],
    /// Per input, whether each of its `files` is an earlier export read
    /// as context (empty: no context files).
    pub context: [Vec<bool>; 3],
}

impl Inputs {
    /// Reads and validates the three files (each in parallel chunks), then
    /// turns interned text into ranks of byte-ordered dictionaries.
    pub fn load(paths: &InputPaths, cal: &Calendar) -> Result<Inputs, InputError> {
        if paths.more.iter().chain(&paths.context).any(|m| !m.is_empty()) {
            return Inputs::load_several(paths, cal);
        }
        let interners = Interners::default();
        let ctx = interners.ctx(cal);
        // The three files at once: each one's first and last blocks leave
        // cores idle that the others fill (docs/performance.md, log entry
        // 35). An error of orders.csv still comes before one of payments.csv.
        // Each file is hashed and indexed as it is read.
        let (o, (p, u)) = rayon::join(
            || read_table_digested::<Orders>(&paths.orders, &ctx, BLOCK, None),
            || {
                rayon::join(
                    || read_table_digested::<Payments>(&paths.payments, &ctx, BLOCK, None),
                    || read_table_digested::<Unsubscriptions>(&paths.unsubscriptions, &ctx, BLOCK, None),
                )
            },
        );
        let (o, p, u) = (o?, p?, u?);
        let metas = Metas {
            orders: o.meta,
            payments: p.meta,
            unsubs: u.meta,
        };
        Ok(Inputs::assemble(
            (o.table, p.table, u.table),
            metas,
            [o.rejects, p.rejects, u.rejects],
            interners,
        ))
    }

    /// [`Inputs::load`] when some input has several files
    /// ([`super::multi`]): no line offsets (no explain index), each file
    /// hashed and counted.
    fn load_several(paths: &InputPaths, cal: &Calendar) -> Result<Inputs, InputError> {
        let all = paths.all();
        let hashes: Vec<Vec<_>> = all
            .iter()
            .map(|files| {
                files
                    .iter()
                    .map(|p| {
                        let p = p.to_path_buf();
                        std::thread::spawn(move || sha256_file(&p))
                    })
                    .collect()
            })
            .collect();
        let interners = Interners::default();
        let ctx = interners.ctx(cal);
        let several = |k: usize| all[k].len() > 1;
        let owned = |k: usize| all[k].iter().map(|p| p.to_path_buf()).collect::<Vec<_>>();
        let o = if several(0) {
            super::multi::read_files::<Orders>(&owned(0), &ctx)?
        } else {
            read_table::<Orders>(all[0][0], &ctx)?
        };
        let p = if several(1) {
            super::multi::read_files::<Payments>(&owned(1), &ctx)?
        } else {
            read_table::<Payments>(all[1][0], &ctx)?
        };
        let u = if several(2) {
            super::multi::read_files::<Unsubscriptions>(&owned(2), &ctx)?
        } else {
            read_table::<Unsubscriptions>(all[2][0], &ctx)?
        };
        let mut metas = Metas {
            orders: o.meta,
            payments: p.meta,
            unsubs: u.meta,
        };
        let flags = [Orders::FLAG, Payments::FLAG, Unsubscriptions::FLAG];
        for (k, (meta, handles)) in metas.iter_mut().zip(hashes).enumerate() {
            let mut shas = Vec::new();
            for (h, path) in handles.into_iter().zip(&all[k]) {
                shas.push(h.join().expect("hash thread").map_err(|e| InputError::Unreadable {
                    path: path.display().to_string(),
                    flag: flags[k],
                    reason: e.to_string(),
                })?);
            }
            if meta.files.is_empty() {
                meta.sha256 = shas.into_iter().next().unwrap_or_default();
            } else {
                for (f, sha) in meta.files.iter_mut().zip(shas) {
                    f.sha256 = sha;
                }
            }
        }
        let files: [Vec<(String, String)>; 3] = [&metas.orders, &metas.payments, &metas.unsubs]
            .map(|m| m.files.iter().map(|f| (f.file.clone(), f.path.clone())).collect());
        let mut inputs = Inputs::assemble(
            (o.table, p.table, u.table),
            metas,
            [o.rejects, p.rejects, u.rejects],
            interners,
        );
        for (k, meta) in inputs.metas.iter_mut().enumerate() {
            let own = all[k].len() - paths.context[k].len();
            for f in meta.files.iter_mut().skip(own) {
                f.context = true;
            }
            if !paths.context[k].is_empty() && several(k) {
                inputs.context[k] = (0..all[k].len()).map(|i| i >= own).collect();
            }
        }
        inputs.files = files;
        Ok(inputs)
    }

    /// Reads the three inputs a mapping makes ([`crate::mapping`]): each
    /// from canonical text in memory, or straight from a source file whose
    /// mapping only renames headers. `absent_unsub_columns`: the
    /// unsubscriptions columns the mapping declares absent.
    pub fn from_parts(
        parts: [Part<'_>; 3],
        cal: &Calendar,
        absent_unsub_columns: &[&str],
    ) -> Result<Inputs, InputError> {
        // A source file is hashed as it is read; canonical text after.
        let interners = Interners::default();
        let mut ctx = interners.ctx(cal);
        for name in absent_unsub_columns {
            if let Some(c) = Unsubscriptions::COLUMNS.iter().position(|(n, _)| n == name) {
                ctx.absent |= 1 << c;
            }
        }
        let [op, pp, up] = parts;
        let o = op.read::<Orders>(&ctx)?;
        let p = pp.read::<Payments>(&ctx)?;
        let u = up.read::<Unsubscriptions>(&ctx)?;
        let metas = Metas {
            orders: o.meta,
            payments: p.meta,
            unsubs: u.meta,
        };
        Ok(Inputs::assemble(
            (o.table, p.table, u.table),
            metas,
            [o.rejects, p.rejects, u.rejects],
            interners,
        ))
    }

    /// The tables read: their dictionaries finished, their rows put in
    /// account order, their rejects merged.
    fn assemble(
        (mut orders, mut payments, mut unsubs): (Orders, Payments, Unsubscriptions),
        metas: Metas,
        [or, pr, ur]: [Vec<Reject>; 3],
        interners: Interners,
    ) -> Inputs {
        // What the parses freed (their blocks, the text columns' chunks
        // copied into one), before the gathers.
        crate::memory::give_back();
        let _span = crate::trace::span("ingest: dictionaries");
        let Interners {
            accounts,
            products,
            methods,
        } = interners;
        let (dict, remap) = accounts.finish();
        let accounts = dict.len();
        orders.account_id.finish(&dict, |c| remap.rank(c));
        payments.account_id.finish(&dict, |c| remap.rank(c));
        unsubs.account_id.finish(&dict, |c| remap.rank(c));
        let (dict, remap) = products.finish();
        orders.product.finish(&dict, |c| remap.rank(c));
        let (dict, remap) = methods.finish();
        payments.method.finish(&dict, |c| remap.rank(c));
        drop(_span);
        let _span = crate::trace::span("ingest: rows by account");
        // The three orders at once (each a serial counting sort), then the
        // tables one after another (each gathers its columns in parallel;
        // one at a time keeps a single table's old and new columns in
        // memory together).
        let (ro, (rp, ru)) = {
            let _s = crate::trace::span("  account order");
            rayon::join(
                || RowOrder::by_account(&orders.account_id.codes, accounts),
                || {
                    rayon::join(
                        || RowOrder::by_account(&payments.account_id.codes, accounts),
                        || RowOrder::by_account(&unsubs.account_id.codes, accounts),
                    )
                },
            )
        };
        gather_rows(&mut orders, ro, "  orders by account");
        gather_rows(&mut payments, rp, "  payments by account");
        gather_rows(&mut unsubs, ru, "  unsubscriptions by account");
        let mut rejects = or;
        rejects.extend(pr);
        rejects.extend(ur);
        rejects.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
        Inputs {
            orders,
            payments,
            unsubs,
            metas,
            rejects,
            mapped: None,
            files: Default::default(),
            context: Default::default(),
        }
    }

    /// Where a row of input `input` (0 orders, 1 payments, 2
    /// unsubscriptions) with line `line` was read: the file's name, its
    /// path and the physical line — a source file of the mapping for mapped
    /// inputs.
    pub fn origin(&self, input: usize, line: u64) -> (String, String, u64) {
        let meta = [&self.metas.orders, &self.metas.payments, &self.metas.unsubs][input.min(2)];
        let files = &self.files[input.min(2)];
        if files.is_empty() {
            return (meta.name.clone(), meta.path.display().to_string(), line);
        }
        let (name, path) = files.get((line >> ORIGIN_BITS) as usize).cloned().unwrap_or_default();
        (name, path, line & ((1 << ORIGIN_BITS) - 1))
    }

    /// Frees the columns that only the rules, `explain` and the FOCUS bill
    /// read, each as soon as the rules are `done` with it: payments' method
    /// after the accounts' rules (R8's original method), payments'
    /// payment_id after R1's payment findings, orders' instance_id,
    /// service_start and service_end after R10 (0.5 GB at 10M orders, freed
    /// before the end of the rules, where a run's memory peaks;
    /// docs/performance.md, log entries 46 and 51). With context exports,
    /// payment_id is kept until [`RulesDone::All`]: leaving out the context
    /// rows' findings reads it. For `run` and a shard's task only, and only
    /// without the FOCUS bill: the freed columns are empty afterwards, so
    /// the tables no longer hold whole rows.
    pub fn free_read_columns(&mut self, done: RulesDone) {
        let context = self.has_context();
        let (o, p) = (&mut self.orders, &mut self.payments);
        match done {
            RulesDone::Accounts => p.method = Default::default(),
            RulesDone::PaymentFindings if !context => p.payment_id = Default::default(),
            RulesDone::PaymentFindings => {}
            RulesDone::ValueAdded => {
                o.instance_id = Default::default();
                o.service_start = Vec::new();
                o.service_end = Vec::new();
            }
            RulesDone::All => {
                for done in [RulesDone::Accounts, RulesDone::ValueAdded] {
                    self.free_read_columns(done);
                }
                self.payments.payment_id = Default::default();
            }
        }
    }

    /// Whether a row of input `input` (0 orders, 1 payments, 2
    /// unsubscriptions) with line `line` was read from an earlier export
    /// given as context: it links and counts, but is not reported.
    pub fn is_context(&self, input: usize, line: u64) -> bool {
        let c = &self.context[input.min(2)];
        !c.is_empty() && c.get((line >> ORIGIN_BITS) as usize).copied().unwrap_or(false)
    }

    /// Whether any row comes from an earlier export given as context.
    pub fn has_context(&self) -> bool {
        self.context.iter().any(|c| c.contains(&true))
    }

    /// The rejects of one input (`unsubscriptions`, …): those naming its
    /// file, or, for mapped inputs, one of its source files.
    pub fn rejects_of<'a>(&'a self, input: &'a str) -> impl Iterator<Item = &'a Reject> + 'a {
        let name = self
            .metas
            .iter()
            .find(|m| m.file.trim_end_matches(".csv") == input)
            .map(|m| m.name.as_str())
            .unwrap_or("");
        let k = ["orders", "payments", "unsubscriptions"]
            .iter()
            .position(|i| *i == input)
            .unwrap_or(0);
        let files = &self.files[k];
        self.rejects.iter().filter(move |r| {
            if files.is_empty() {
                r.file == name
            } else {
                files.iter().any(|(f, _)| *f == r.file)
            }
        })
    }

    /// docs/rules.md#evaluation-order-and-as_of: the latest event timestamp
    /// in the accepted inputs.
    pub fn default_as_of(&self) -> Option<Micros> {
        let u = &self.unsubs;
        [
            self.orders.ordered_at.par_iter().copied().max(),
            self.payments.paid_at.par_iter().copied().max(),
            u.requested_at.par_iter().copied().max(),
            u.reviewed_at.max(),
            u.completed_at.max(),
            u.refunded_at.max(),
        ]
        .into_iter()
        .flatten()
        .max()
    }
}

/// Lines between two entries of [`InputMeta::line_offsets`](super::InputMeta).
pub const LINE_STRIDE: u64 = 1024;

/// The line breaks of a file read in pieces, counted as ingest counts them
/// (LF, CRLF once, a bare CR), also when a CRLF is split between pieces.
#[derive(Debug, Clone)]
pub struct LineBreaks {
    /// Byte offset of the next piece.
    offset: u64,
    /// The line that starts after the last break.
    line: u64,
    pending_cr: bool,
}

impl LineBreaks {
    /// Starting at byte `offset`, the start of line `line`.
    pub fn new(offset: u64, line: u64) -> LineBreaks {
        LineBreaks {
            offset,
            line,
            pending_cr: false,
        }
    }

    /// The line that starts after the last break fed.
    pub fn line(&self) -> u64 {
        self.line
    }

    /// Feeds the next piece; `f(offset, line)` for each line that starts in
    /// it, until `f` returns false (then `feed` returns false too).
    pub fn feed(&mut self, b: &[u8], mut f: impl FnMut(u64, u64) -> bool) -> bool {
        let base = self.offset;
        self.offset += b.len() as u64;
        let mut brk = |this: &mut Self, at: u64| {
            this.line += 1;
            f(at, this.line)
        };
        if std::mem::take(&mut self.pending_cr) && b.first() != Some(&b'\n') && !brk(self, base) {
            return false;
        }
        for i in memchr::memchr2_iter(b'\n', b'\r', b) {
            let ends_line = match (b[i], b.get(i + 1)) {
                (b'\n', _) => true,
                (_, None) => {
                    self.pending_cr = true;
                    false
                }
                (_, Some(&next)) => next != b'\n',
            };
            if ends_line && !brk(self, base + i as u64 + 1) {
                return false;
            }
        }
        true
    }
}

/// The byte offsets of lines 1, 1 + [`LINE_STRIDE`], … of a file fed in
/// pieces from its first byte (explain.idx's checkpoints).
#[derive(Debug)]
pub struct Checkpoints {
    pub offsets: Vec<u64>,
    breaks: LineBreaks,
}

impl Default for Checkpoints {
    fn default() -> Checkpoints {
        Checkpoints {
            offsets: vec![0],
            breaks: LineBreaks::new(0, 1),
        }
    }
}

impl Checkpoints {
    pub fn feed(&mut self, b: &[u8]) {
        let offsets = &mut self.offsets;
        self.breaks.feed(b, |at, line| {
            if (line - 1).is_multiple_of(LINE_STRIDE) {
                offsets.push(at);
            }
            true
        });
    }
}

/// SHA-256 of a file, hex.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    read_in_pieces(path, |_| {})
}

/// Reads a file in 4 MiB pieces, giving each to `f`; returns its SHA-256.
fn read_in_pieces(path: &Path, mut f: impl FnMut(&[u8])) -> std::io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 4 << 20];
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        f(&buf[..n]);
    }
    Ok(crate::config::hex(&hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Line starts as `count_line_breaks` counts, whatever the pieces.
    #[test]
    fn line_breaks_across_pieces() {
        let text = b"a\r\nb\rc\n\"d\re\"\r\n\rf";
        let want: Vec<(u64, u64)> = vec![(3, 2), (5, 3), (7, 4), (10, 5), (14, 6), (15, 7)];
        for cut in 0..=text.len() {
            let mut got = Vec::new();
            let mut lb = LineBreaks::new(0, 1);
            for piece in [&text[..cut], &text[cut..]] {
                lb.feed(piece, |at, line| {
                    got.push((at, line));
                    true
                });
            }
            assert_eq!(got, want, "cut at {cut}");
        }
        assert_eq!(super::super::count_line_breaks(text, None), 6);
        // Stopping early.
        let mut n = 0;
        assert!(!LineBreaks::new(0, 1).feed(text, |_, _| {
            n += 1;
            n < 2
        }));
        assert_eq!(n, 2);
    }

    /// A file hashed and indexed as its blocks are read gives the hash
    /// and checkpoints of the whole file read at once, whatever the block
    /// size: CRLF and CR line ends, a quoted field over two lines, and no
    /// newline at the end.
    #[test]
    fn digested_while_read_as_in_one_read() {
        let mut text = String::from("payment_id,order_id,account_id,paid_at,amount,currency,method,status\r\n");
        for i in 0..3000 {
            let end = if i % 7 == 0 { "\r" } else { "\r\n" };
            let method = if i % 500 == 0 { "\"card\nsplit\"" } else { "card" };
            text.push_str(&format!(
                "P{i},O{i},A{},2024-01-0{}T10:00:00+08:00,{}.50,CNY,{method},succeeded{end}",
                i % 13,
                1 + i % 9,
                i % 1000
            ));
        }
        text.push_str("P-last,O1,A1,2024-01-02T10:00:00+08:00,1.00,CNY,card,succeeded");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("payments.csv");
        std::fs::write(&path, &text).unwrap();
        let mut whole = Checkpoints::default();
        whole.feed(text.as_bytes());
        assert!(whole.offsets.len() > 2, "{:?}", whole.offsets);
        let sha = sha256_file(&path).unwrap();
        let cal = Calendar::new(chrono_tz::Asia::Shanghai, Default::default());
        for block in [64, 1000, 4096, BLOCK] {
            let interners = Interners::default();
            let loaded = read_table_digested::<Payments>(&path, &interners.ctx(&cal), block, None).unwrap();
            assert_eq!(loaded.meta.sha256, sha, "block {block}");
            assert_eq!(loaded.meta.line_offsets, whole.offsets, "block {block}");
            assert_eq!(loaded.meta.rows_read, 3001, "block {block}");
        }
    }
}
