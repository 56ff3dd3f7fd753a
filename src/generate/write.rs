//! Formatting and writing: a block's rows become CSV bytes by hand (no
//! `format!` on the hot path), in the styles drawn with the rows, and the
//! blocks are written in order.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rayon::slice::ParallelSliceMut;

use crate::model::{Month, UnsubStatus};
use crate::time::{civil_from_days, days_from_civil, Calendar};

use super::accounts::{Block, Unsub, NO_BATCH};
use super::catalog::{Cur, Method, PRODUCTS};
use super::malformed::Malformer;
use super::policy::Terms;
use super::{block_rng, Cfg, GenerateReport, DAY};

// Timestamp style bits.
pub(super) const TS_UTC: u8 = 1;
const TS_FRAC_ZERO: u8 = 2;
const TS_FRAC_MS: u8 = 4;
const TS_FRAC_US: u8 = 6;
const TS_FRAC_MASK: u8 = 6;
const TS_SPACE: u8 = 8;

/// The billing zone's offset mostly, `Z` 20%, zero fractions 3%, non-zero
/// fractions 5% where allowed, a space separator 0.5%.
pub(super) fn ts_style(rng: &mut ChaCha8Rng, frac_ok: bool) -> u8 {
    let x: u32 = rng.gen();
    let mut s = if x % 1000 < 800 { 0 } else { TS_UTC };
    let f = (x / 1000) % 100;
    if f < 3 {
        s |= TS_FRAC_ZERO;
    } else if frac_ok && f < 6 {
        s |= TS_FRAC_MS;
    } else if frac_ok && f < 8 {
        s |= TS_FRAC_US;
    }
    if (x / 100_000).is_multiple_of(200) {
        s |= TS_SPACE;
    }
    s
}

/// The billing zone's UTC offset for each UTC day of 2019–2031, so that
/// writing a timestamp does not search the zone's transitions. A day with
/// a transition, or an instant outside those years, asks the calendar.
/// Offsets are truncated to whole minutes, as RFC 3339 writes them (see
/// [`Calendar::write_rfc3339`]).
pub(super) struct Offsets {
    first_day: i64,
    /// None for a day during which the offset changes.
    by_day: Vec<Option<Offset>>,
    /// The offset of every day of the table, when they are all the same,
    /// and the instants the table covers.
    fixed: Option<Offset>,
    covered: std::ops::Range<i64>,
}

/// A UTC offset in seconds (whole minutes) and its `±HH:MM`.
#[derive(Clone, Copy)]
pub(super) struct Offset {
    pub(super) seconds: i32,
    pub(super) text: [u8; 6],
}

impl Offset {
    fn new(seconds: i32) -> Offset {
        let seconds = seconds - seconds % 60;
        let a = seconds.unsigned_abs();
        let (h, m) = (a / 3600, a / 60 % 60);
        let digit = |v: u32| b'0' + v as u8;
        let sign = if seconds < 0 { b'-' } else { b'+' };
        Offset {
            seconds,
            text: [sign, digit(h / 10), digit(h % 10), b':', digit(m / 10), digit(m % 10)],
        }
    }
}

impl Offsets {
    pub(super) fn new(cal: &Calendar) -> Offsets {
        let (first_day, end_day) = (days_from_civil(2019, 1, 1), days_from_civil(2032, 1, 1));
        let by_day: Vec<Option<Offset>> = (first_day..end_day)
            .map(|d| {
                let at_start = cal.offset_seconds(d * DAY);
                (cal.offset_seconds(d * DAY + DAY - 1) == at_start).then(|| Offset::new(at_start))
            })
            .collect();
        let fixed = by_day[0].filter(|f| by_day.iter().all(|d| d.is_some_and(|d| d.seconds == f.seconds)));
        Offsets {
            first_day,
            by_day,
            fixed,
            covered: first_day * DAY..end_day * DAY,
        }
    }

    /// The offset at `t` (Unix seconds).
    #[inline]
    pub(super) fn at(&self, cal: &Calendar, t: i64) -> Offset {
        if let Some(f) = self.fixed.filter(|_| self.covered.contains(&t)) {
            return f;
        }
        let day = usize::try_from(t.div_euclid(DAY) - self.first_day).ok();
        match day.and_then(|d| self.by_day.get(d)) {
            Some(Some(off)) => *off,
            _ => Offset::new(cal.offset_seconds(t)),
        }
    }
}

/// Decimal digits of `v`, zero-padded to at least `width` (at most 20).
fn push_padded(buf: &mut Vec<u8>, mut v: u64, width: usize) {
    let mut tmp = [b'0'; 20];
    let mut i = 20;
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    let from = i.min(20 - width.min(20));
    buf.extend_from_slice(&tmp[from..]);
}

/// An amount in minor units with `decimals` decimals (`v` ≥ 0).
fn push_money(buf: &mut Vec<u8>, v: i64, decimals: u32) {
    debug_assert!(v >= 0);
    let v = v.max(0) as u64;
    // Constant divisors for the usual minor units (a division by a
    // variable is many times slower).
    match decimals {
        0 => push_padded(buf, v, 1),
        2 => push_decimal(buf, v, 100, 2),
        3 => push_decimal(buf, v, 1000, 3),
        d => push_decimal(buf, v, 10u64.pow(d), d as usize),
    }
}

#[inline(always)]
fn push_decimal(buf: &mut Vec<u8>, v: u64, unit: u64, decimals: usize) {
    push_padded(buf, v / unit, 1);
    buf.push(b'.');
    push_padded(buf, v % unit, decimals);
}

fn push2(buf: &mut Vec<u8>, v: u32) {
    buf.push(b'0' + (v / 10) as u8);
    buf.push(b'0' + (v % 10) as u8);
}

/// `t` as RFC 3339 in the style's form: the billing zone's local time and
/// offset (whole minutes, as [`Calendar::write_rfc3339`]), or UTC with `Z`.
pub(super) fn push_ts(buf: &mut Vec<u8>, terms: &Terms<'_>, t: i64, style: u8) {
    let utc = style & TS_UTC != 0;
    let off = (!utc).then(|| terms.offset(t));
    let lt = t + i64::from(off.map_or(0, |o| o.seconds));
    let (y, m, d) = civil_from_days(lt.div_euclid(DAY));
    let sod = lt.rem_euclid(DAY) as u32;
    push_padded(buf, y as u64, 4);
    buf.push(b'-');
    push2(buf, m);
    buf.push(b'-');
    push2(buf, d);
    buf.push(if style & TS_SPACE != 0 { b' ' } else { b'T' });
    push2(buf, sod / 3600);
    buf.push(b':');
    push2(buf, sod / 60 % 60);
    buf.push(b':');
    push2(buf, sod % 60);
    // A fraction derived from the instant (so it is stable), never 0.
    let mix = (t as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
    match style & TS_FRAC_MASK {
        TS_FRAC_ZERO => buf.extend_from_slice(b".000"),
        TS_FRAC_MS => {
            buf.push(b'.');
            push_padded(buf, mix % 999 + 1, 3);
        }
        TS_FRAC_US => {
            buf.push(b'.');
            push_padded(buf, mix % 999_999 + 1, 6);
        }
        _ => {}
    }
    match off {
        Some(o) => buf.extend_from_slice(&o.text),
        None => buf.push(b'Z'),
    }
}

/// One CSV row under construction: raw field values and their ends.
pub(super) struct RowBuilder<'t> {
    pub(super) data: Vec<u8>,
    ends: Vec<usize>,
    terms: &'t Terms<'t>,
}

impl<'t> RowBuilder<'t> {
    fn new(terms: &'t Terms<'t>) -> Self {
        RowBuilder {
            data: Vec::new(),
            ends: Vec::new(),
            terms,
        }
    }
    fn clear(&mut self) {
        self.data.clear();
        self.ends.clear();
    }
    fn end(&mut self) {
        self.ends.push(self.data.len());
    }
    fn text(&mut self, s: &str) {
        self.data.extend_from_slice(s.as_bytes());
        self.end();
    }
    fn empty(&mut self) {
        self.end();
    }
    fn id(&mut self, prefix: &[u8], n: u64, width: usize) {
        self.data.extend_from_slice(prefix);
        push_padded(&mut self.data, n, width);
        self.end();
    }
    fn account(&mut self, a: u64) {
        self.id(b"A", a, 6);
    }
    /// An amount in minor units, with the currency's decimals.
    fn money(&mut self, v: i64, cur: Cur) {
        push_money(&mut self.data, v, self.terms.decimals(cur));
        self.end();
    }
    fn ts(&mut self, t: i64, style: u8) {
        push_ts(&mut self.data, self.terms, t, style);
        self.end();
    }
    fn opt_ts(&mut self, t: Option<i64>, style: u8) {
        if let Some(t) = t {
            push_ts(&mut self.data, self.terms, t, style);
        }
        self.end();
    }
    fn opt_month(&mut self, m: Option<Month>) {
        if let Some(m) = m {
            crate::time::write_month(&mut self.data, m);
        }
        self.end();
    }
    fn field(&self, i: usize) -> &[u8] {
        let from = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.data[from..self.ends[i]]
    }
    pub(super) fn fields(&self) -> Vec<Vec<u8>> {
        (0..self.ends.len()).map(|i| self.field(i).to_vec()).collect()
    }
    fn emit(&self, out: &mut Vec<u8>) {
        for i in 0..self.ends.len() {
            if i > 0 {
                out.push(b',');
            }
            push_field(out, self.field(i));
        }
        out.push(b'\n');
    }
}

/// RFC 4180: quote only when needed.
fn push_field(out: &mut Vec<u8>, f: &[u8]) {
    if f.iter().any(|&b| matches!(b, b',' | b'"' | b'\n' | b'\r')) {
        out.push(b'"');
        for &b in f {
            if b == b'"' {
                out.push(b'"');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(f);
    }
}

pub(super) fn emit_fields(out: &mut Vec<u8>, fields: &[Vec<u8>]) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_field(out, f);
    }
    out.push(b'\n');
}

/// A boolean in one of the spellings the exports accept.
fn bool_token(v: bool, style: u8) -> &'static str {
    match (style, v) {
        (1, true) => "TRUE",
        (1, false) => "FALSE",
        (2, true) => "1",
        (2, false) => "0",
        (3, true) => "yes",
        (3, false) => "no",
        (4, true) => "True",
        (4, false) => "False",
        (_, true) => "true",
        (_, false) => "false",
    }
}

/// Global numbering of a block's rows (ids are 1-based).
#[derive(Clone, Copy, Default)]
pub(super) struct Bases {
    pub(super) order: u64,
    pub(super) payment: u64,
    pub(super) unsub: u64,
    pub(super) batch: u64,
}

/// A block's three files' bytes and counts.
pub(super) struct BlockOut {
    /// orders, payments, unsubscriptions.
    files: [Vec<u8>; 3],
    /// Per file, where each valid row (with the malformed rows written
    /// after it) ends, and its time: what the interleaved layout sorts.
    marks: [Vec<Mark>; 3],
    malformed: u64,
    counts: [u64; 3],
    wrong: u64,
}

impl BlockOut {
    /// The bytes of its three files' rows.
    pub(super) fn bytes(&self) -> usize {
        self.files.iter().map(Vec::len).sum()
    }
}

/// The end (in its block's bytes) and the time of one valid row together
/// with the malformed rows that follow it.
#[derive(Clone, Copy)]
struct Mark {
    at: i64,
    end: usize,
}

/// Records that a valid row (and its malformed followers) ends here.
fn mark(marks: &mut Vec<Mark>, at: i64, out: &[u8]) {
    marks.push(Mark { at, end: out.len() });
}

pub(super) fn format_block(cfg: &Cfg, b: u64, block: &Block, base: Bases) -> BlockOut {
    let mut mal = Malformer::new(block_rng(cfg.seed, b, 2), cfg.malformed_rate, &cfg.terms);
    let mut row = RowBuilder::new(&cfg.terms);
    let mut marks: [Vec<Mark>; 3] = [
        Vec::with_capacity(block.orders.len()),
        Vec::with_capacity(block.payments.len()),
        Vec::with_capacity(block.unsubs.len()),
    ];
    let [mo, mp, mu] = &mut marks;
    let files = [
        format_orders(&mut row, &mut mal, block, base, mo),
        format_payments(&mut row, &mut mal, block, base, mp),
        format_unsubs(&mut row, &mut mal, block, base, mu),
    ];
    BlockOut {
        files,
        marks,
        malformed: mal.count,
        counts: [
            block.orders.len() as u64,
            block.payments.len() as u64,
            block.unsubs.len() as u64,
        ],
        wrong: block.wrong,
    }
}

fn format_orders(
    row: &mut RowBuilder<'_>,
    mal: &mut Malformer<'_>,
    block: &Block,
    base: Bases,
    marks: &mut Vec<Mark>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(block.orders.len() * 200);
    for (i, o) in block.orders.iter().enumerate() {
        let acct = block.first_account + u64::from(o.account);
        row.clear();
        row.id(b"O", base.order + i as u64 + 1, 9);
        row.account(acct);
        row.data.extend_from_slice(b"i-");
        push_padded(&mut row.data, acct, 6);
        row.data.push(b'-');
        push_padded(&mut row.data, u64::from(o.instance), 3);
        row.end();
        row.text(PRODUCTS[o.product as usize].name);
        row.text(o.item.as_str());
        row.text(o.mode.as_str());
        row.text(o.otype.as_str());
        row.ts(o.ordered_at, o.ts_style[0]);
        row.ts(o.start, o.ts_style[1]);
        row.ts(o.end, o.ts_style[2]);
        row.money(o.amount, o.cur);
        row.money(o.coupon, o.cur);
        row.text(o.cur.code());
        row.text(bool_token(o.promo, o.bool_style));
        row.text(bool_token(o.invoice, o.bool_style));
        row.emit(&mut out);
        mal.order(row, &mut out);
        mark(marks, o.ordered_at, &out);
    }
    out
}

fn format_payments(
    row: &mut RowBuilder<'_>,
    mal: &mut Malformer<'_>,
    block: &Block,
    base: Bases,
    marks: &mut Vec<Mark>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(block.payments.len() * 100);
    for (i, p) in block.payments.iter().enumerate() {
        row.clear();
        row.id(b"P", base.payment + i as u64 + 1, 9);
        row.id(b"O", base.order + u64::from(p.order) + 1, 9);
        row.account(block.first_account + u64::from(p.account));
        row.ts(p.paid_at, p.ts_style);
        row.money(p.amount, p.cur);
        row.text(p.cur.code());
        row.text(p.method.token());
        row.text(p.status.as_str());
        row.emit(&mut out);
        mal.payment(row, &mut out);
        mark(marks, p.paid_at, &out);
    }
    out
}

fn format_unsubs(
    row: &mut RowBuilder<'_>,
    mal: &mut Malformer<'_>,
    block: &Block,
    base: Bases,
    marks: &mut Vec<Mark>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(block.unsubs.len() * 200);
    for (i, u) in block.unsubs.iter().enumerate() {
        row.clear();
        row.id(b"U", base.unsub + i as u64 + 1, 9);
        let order_no = base.order + u64::from(u.order) + 1;
        let prefix: &[u8] = if u.missing_order { b"O9" } else { b"O" };
        row.id(prefix, order_no, 9);
        row.account(u.account);
        if u.batch == NO_BATCH {
            row.empty();
        } else {
            row.id(b"B", base.batch + u64::from(u.batch) + 1, 9);
        }
        row.ts(u.requested, u.ts_style[0]);
        row.opt_ts(u.reviewed, u.ts_style[1]);
        row.opt_ts(u.completed, u.ts_style[2]);
        row.opt_ts(u.refunded, u.ts_style[3]);
        row.text(u.state.as_str());
        row.text(u.status.as_str());
        recorded_values(row, u);
        row.emit(&mut out);
        mal.unsub(row, u, &mut out);
        mark(marks, u.requested, &out);
    }
    out
}

/// refund_type … billing_cycle: written for completed rows only.
fn recorded_values(row: &mut RowBuilder<'_>, u: &Unsub) {
    if u.status != UnsubStatus::Completed {
        for _ in 0..6 {
            row.empty();
        }
        return;
    }
    row.text(u.rtype.as_str());
    row.money(u.refund, u.cur);
    row.money(u.fee, u.cur);
    row.money(u.coupon, u.cur);
    row.text(u.dest.map_or("", Method::token));
    row.opt_month(u.cycle);
}

pub(super) type Writers = [BufWriter<File>; 3];

/// Creates a file and writes its header line.
pub(super) fn open(path: PathBuf, header: &str) -> io::Result<BufWriter<File>> {
    let f =
        File::create(&path).map_err(|e| io::Error::new(e.kind(), format!("cannot create {}: {e}", path.display())))?;
    let mut w = BufWriter::with_capacity(1 << 20, f);
    w.write_all(header.as_bytes())?;
    w.write_all(b"\n")?;
    Ok(w)
}

/// Counts a block's rows.
fn count(o: &BlockOut, report: &mut GenerateReport) {
    report.orders += o.counts[0];
    report.payments += o.counts[1];
    report.unsubscriptions += o.counts[2];
    report.malformed += o.malformed;
    report.wrong_recorded += o.wrong;
}

/// Writes a group's blocks in order (the by-account layout) and counts
/// their rows.
pub(super) fn write_group(w: &mut Writers, outs: Vec<BlockOut>, report: &mut GenerateReport) -> io::Result<()> {
    for o in outs {
        for (w, bytes) in w.iter_mut().zip(&o.files) {
            w.write_all(bytes)?;
        }
        count(&o, report);
    }
    Ok(())
}

/// One file's rows of a batch of blocks as (time, block, start, end) in
/// the interleaved order: by time, ties in by-account order.
fn sorted_rows(outs: &[BlockOut], file: usize) -> Vec<(i64, u32, usize, usize)> {
    let mut rows: Vec<(i64, u32, usize, usize)> = Vec::with_capacity(outs.iter().map(|o| o.marks[file].len()).sum());
    for (b, o) in outs.iter().enumerate() {
        let mut start = 0;
        for m in &o.marks[file] {
            rows.push((m.at, b as u32, start, m.end));
            start = m.end;
        }
    }
    rows.par_sort_unstable_by_key(|&(at, b, start, _)| (at, b, start));
    rows
}

/// The interleaved layout, streamed (docs/performance.md): each file's
/// valid rows in order of their time (ordered_at, paid_at, requested_at),
/// ties in by-account order (block, then place in the block), each
/// followed by the malformed rows generated after it. Batches of blocks
/// are sorted in memory into runs on disk (a temporary folder in the
/// output folder), then the runs are merged into the files: memory is one
/// batch, whatever the size.
pub(super) struct Runs {
    dir: PathBuf,
    /// Per file, the runs written so far.
    runs: [Vec<PathBuf>; 3],
    /// Blocks sorted into runs so far (the next batch's first block).
    blocks: u32,
}

impl Runs {
    pub(super) fn new(out: &std::path::Path) -> io::Result<Runs> {
        let dir = out.join(format!(".generate-runs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir)?;
        Ok(Runs {
            dir,
            runs: Default::default(),
            blocks: 0,
        })
    }

    /// Sorts a batch of blocks (the next ones in block order) into one run
    /// per file, and counts their rows. Each record: the row's time (i64),
    /// its block (u32), its bytes' length (u32), its bytes.
    pub(super) fn add(&mut self, outs: &[BlockOut], report: &mut GenerateReport) -> io::Result<()> {
        if outs.is_empty() {
            return Ok(());
        }
        for o in outs {
            count(o, report);
        }
        for file in 0..3 {
            let rows = sorted_rows(outs, file);
            let path = self.dir.join(format!("{file}-{}", self.runs[file].len()));
            let mut w = BufWriter::with_capacity(1 << 20, File::create(&path)?);
            for (at, b, start, end) in rows {
                let bytes = &outs[b as usize].files[file][start..end];
                w.write_all(&at.to_le_bytes())?;
                w.write_all(&(self.blocks + b).to_le_bytes())?;
                w.write_all(&(bytes.len() as u32).to_le_bytes())?;
                w.write_all(bytes)?;
            }
            w.flush()?;
            self.runs[file].push(path);
        }
        self.blocks += outs.len() as u32;
        Ok(())
    }

    /// Whether no run was written yet.
    pub(super) fn is_empty(&self) -> bool {
        self.runs[0].is_empty()
    }

    /// Writes the only batch straight into the files (no run on disk: the
    /// export fits one batch) and removes the runs' folder.
    pub(super) fn write_only(self, w: &mut Writers, outs: &[BlockOut], report: &mut GenerateReport) -> io::Result<()> {
        for o in outs {
            count(o, report);
        }
        for (file, w) in w.iter_mut().enumerate() {
            for (_, b, start, end) in sorted_rows(outs, file) {
                w.write_all(&outs[b as usize].files[file][start..end])?;
            }
        }
        std::fs::remove_dir_all(&self.dir)
    }

    /// Merges the runs into the files (by time, then block: a block is in
    /// one run, where its rows are already in order) and removes them.
    pub(super) fn finish(self, w: &mut Writers) -> io::Result<()> {
        use std::cmp::Reverse;
        use std::io::{BufReader, Read};
        let next = |r: &mut BufReader<File>, buf: &mut Vec<u8>| -> io::Result<Option<(i64, u32)>> {
            let mut head = [0u8; 16];
            match r.read_exact(&mut head) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
                Err(e) => return Err(e),
            }
            let at = i64::from_le_bytes(head[..8].try_into().expect("8 bytes"));
            let b = u32::from_le_bytes(head[8..12].try_into().expect("4 bytes"));
            let len = u32::from_le_bytes(head[12..].try_into().expect("4 bytes")) as usize;
            buf.resize(len, 0);
            r.read_exact(buf)?;
            Ok(Some((at, b)))
        };
        for (file, w) in w.iter_mut().enumerate() {
            let mut readers = Vec::new();
            for path in &self.runs[file] {
                readers.push(BufReader::with_capacity(1 << 18, File::open(path)?));
            }
            let mut bufs = vec![Vec::new(); readers.len()];
            let mut heap = std::collections::BinaryHeap::new();
            for (k, r) in readers.iter_mut().enumerate() {
                if let Some((at, b)) = next(r, &mut bufs[k])? {
                    heap.push(Reverse((at, b, k)));
                }
            }
            while let Some(Reverse((_, _, k))) = heap.pop() {
                w.write_all(&bufs[k])?;
                if let Some((at, b)) = next(&mut readers[k], &mut bufs[k])? {
                    heap.push(Reverse((at, b, k)));
                }
            }
            // This file's runs are merged: their disk is free for the next.
            for path in &self.runs[file] {
                std::fs::remove_file(path)?;
            }
        }
        std::fs::remove_dir_all(&self.dir)
    }
}
