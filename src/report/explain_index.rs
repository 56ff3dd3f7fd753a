//! Writes `explain.idx`, the index `explain ID --reports DIR` answers from
//! (the reader, and why the index has this shape, are in
//! [`crate::explain`]'s `store` module; the layout is below). The index
//! is written beside the reports, hashed and fsynced with them.
//!
//! # Layout (little-endian)
//! `RRXI`, u32 version, u32 header length, the JSON [`Header`], then for
//! each input its checkpoints (u64 byte offsets of lines 1, 1+LINE_STRIDE, …),
//! then for each input its slice lines (u32, grouped by slice), then per
//! input and slice the start of its lines (u32; `accounts + groups + 1`
//! entries each), then per account the start of its links (u32;
//! `accounts + 1` entries) and the links (u32 group numbers), then the id
//! table ((u32 hash, u32 account), sorted).
//!
//! A slice is what explaining one account needs: its own rows, the rows
//! of other accounts naming its orders, the first row of each batch it is
//! in, and links to the *order groups* (an order row and its payments) of
//! the orders of other accounts it names — each linear in the rows that
//! name the account.

use std::hash::Hasher;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::columns::Lines;
use crate::engine::{Reconciliation, RowIndex};
use crate::error::AppError;
use crate::ingest::Table;

/// The index's file name in a reports folder.
pub const FILE: &str = "explain.idx";
pub const MAGIC: &[u8; 4] = b"RRXI";
/// The longest JSON header an index may have (paths and counts only).
pub const MAX_HEADER: usize = 1 << 20;
pub const VERSION: u32 = 2;

/// One input as the run read it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct InputStamp {
    /// As given to the run (shown in messages).
    pub path: PathBuf,
    /// Where it is (read by explain --reports from any folder).
    pub abs: PathBuf,
    pub name: String,
    pub size: u64,
    pub mtime_ns: u128,
    pub sha256: String,
}

/// The index's JSON header.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Header {
    pub version: u32,
    /// The run's as_of (Unix microseconds).
    pub as_of: i64,
    /// orders, payments, unsubscriptions.
    pub inputs: Vec<InputStamp>,
    pub policy: InputStamp,
    pub accounts: u32,
    /// Order groups: an order named by other accounts, with its payments.
    pub groups: u32,
    /// (account, group) links.
    pub links: u64,
    pub ids: u64,
    /// Rows of all slices, per input.
    pub lines: [u64; 3],
    pub checkpoints: [u64; 3],
}

pub fn stamp(path: &Path, name: &str, sha256: &str) -> std::io::Result<InputStamp> {
    if !path.exists() && crate::config::PRESETS.iter().any(|(n, _)| Path::new(n) == path) {
        // A policy preset built into the binary: its hash is its identity.
        return Ok(InputStamp {
            path: path.to_path_buf(),
            abs: path.to_path_buf(),
            name: name.to_string(),
            size: 0,
            mtime_ns: 0,
            sha256: sha256.to_string(),
        });
    }
    let m = std::fs::metadata(path)?;
    let mtime_ns = m
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    Ok(InputStamp {
        path: path.to_path_buf(),
        abs: std::fs::canonicalize(path)?,
        name: name.to_string(),
        size: m.len(),
        mtime_ns,
        sha256: sha256.to_string(),
    })
}

/// The 32-bit hash of an id in the id table.
pub fn id_hash(id: &str) -> u32 {
    let mut h = rustc_hash::FxHasher::default();
    h.write(id.as_bytes());
    let v = h.finish();
    (v ^ (v >> 32)) as u32
}

/// Rows of one input in the slices: (slice, physical line). Slices
/// `0..accounts` are the accounts', the rest the order groups'.
type SliceRows = Vec<(u32, u32)>;

/// What the index stores besides the id table: the rows of every slice per
/// input, and which order groups each account's slice pulls in.
struct Slices<'a> {
    rows: [InputRows<'a>; 3],
    /// The number of order groups (slices `accounts..accounts + groups`).
    groups: u32,
    /// (account, group), sorted, without repeats.
    links: Vec<(u32, u32)>,
}

/// The slices of every account, per input (see the module docs), each of a
/// size linear in the rows that name the account: its own rows; the rows
/// of other accounts naming its orders; for each batch it is in, the
/// batch's first row (by unsub_id), which is all R11 compares a row with;
/// and a link to the order group (the order row and its payments) of each
/// order of another account it names, so that an order named by many
/// accounts is stored once. Each input's rows are in account order, file
/// order within an account (ingest's gather), so an account's own rows
/// come sorted; the rows it takes from others (few: mismatches and shared
/// batches) are sorted apart and merged in. None when a line or a count
/// does not fit 32 bits.
fn slices(rec: &Reconciliation) -> Option<Slices<'_>> {
    let (o, p, u) = (&rec.inputs.orders, &rec.inputs.payments, &rec.inputs.unsubs);
    let line = |l: u64| u32::try_from(l).ok();
    let (oa, pa, ua) = (&o.account_id.codes, &p.account_id.codes, &u.account_id.codes);
    let accounts = u32::try_from(o.account_id.dict().len()).ok()?;
    let order_of = |x: &Option<RowIndex>| x.map(RowIndex::get);
    // (order, account): an order named by another account's unsubscription
    // or payment (few: mismatches). Each such order is a group.
    let named = rec
        .order_of_unsub
        .iter()
        .zip(ua)
        .chain(rec.order_of_payment.iter().zip(pa));
    let mut foreign: Vec<(u32, u32)> = named
        .filter_map(|(x, &a)| order_of(x).filter(|&oi| oa[oi] != a).map(|oi| (oi as u32, a)))
        .collect();
    foreign.par_sort_unstable();
    foreign.dedup();
    let mut group_orders: Vec<u32> = foreign.iter().map(|&(oi, _)| oi).collect();
    group_orders.dedup();
    let groups = u32::try_from(group_orders.len()).ok()?;
    accounts.checked_add(groups)?;
    // Which orders are groups, a bit each: every payment asks, and few
    // orders are (a binary search per payment took most of this step,
    // docs/performance.md, log entry 58).
    let mut is_group = vec![0u64; o.len().div_ceil(64)];
    for &oi in &group_orders {
        is_group[oi as usize / 64] |= 1 << (oi % 64);
    }
    let group_of = |oi: usize| -> Option<u32> {
        if is_group[oi / 64] & (1 << (oi % 64)) == 0 {
            return None;
        }
        let at = group_orders.binary_search(&(oi as u32)).ok()?;
        Some(accounts + at as u32)
    };
    let mut links: Vec<(u32, u32)> = foreign
        .iter()
        .map(|&(oi, a)| Some((a, group_of(oi as usize)? - accounts)))
        .collect::<Option<_>>()?;
    links.par_sort_unstable();
    // Orders: own, and each group's order.
    let orders: SliceRows = group_orders
        .iter()
        .map(|&oi| Some((group_of(oi as usize)?, line(o.line.get(oi as usize))?)))
        .collect::<Option<_>>()?;
    // Payments: those naming an order of another account go to that
    // account, and every payment of a group's order to the group.
    let mut payments = Vec::new();
    for (i, x) in rec.order_of_payment.iter().enumerate() {
        let Some(oi) = order_of(x) else { continue };
        let pl = line(p.line.get(i))?;
        if oa[oi] != pa[i] {
            payments.push((oa[oi], pl));
        }
        if let Some(g) = group_of(oi) {
            payments.push((g, pl));
        }
    }
    // Unsubscriptions: own, those naming the account's orders, and the
    // first row of each batch the account is in.
    let mut unsubs = Vec::new();
    for (i, x) in rec.order_of_unsub.iter().enumerate() {
        if let Some(oi) = order_of(x).filter(|&oi| oa[oi] != ua[i]) {
            unsubs.push((oa[oi], line(u.line.get(i))?));
        }
    }
    unsubs.extend(batch_firsts(rec)?);
    let owns = [(oa, &o.line), (pa, &p.line), (ua, &u.line)];
    let rows: Vec<InputRows<'_>> = [orders, payments, unsubs]
        .into_par_iter()
        .zip(owns)
        .map(|(extra, (accounts, lines))| with_own(accounts, lines, extra))
        .collect::<Option<_>>()?;
    let rows: [InputRows<'_>; 3] = rows.try_into().ok()?;
    Some(Slices { rows, groups, links })
}

/// For each batch, (account, line of the batch's first row) for every
/// other account with a row in it: R11 compares each row with the first
/// row only, so that row is all an account needs from the others.
fn batch_firsts(rec: &Reconciliation) -> Option<SliceRows> {
    let u = &rec.inputs.unsubs;
    let (batch, ids, ua) = (u.batch_id.view(), u.unsub_id.view(), &u.account_id.codes);
    let mut batched: Vec<(&str, &str, u32)> = (0..u.len())
        .filter(|&i| !batch.get(i).is_empty())
        .map(|i| (batch.get(i), ids.get(i), i as u32))
        .collect();
    batched.par_sort_unstable_by(|a, b| {
        a.0.as_bytes()
            .cmp(b.0.as_bytes())
            .then(a.1.as_bytes().cmp(b.1.as_bytes()))
    });
    let mut out = Vec::new();
    for group in batched.chunk_by(|a, b| a.0 == b.0) {
        let first = group[0].2 as usize;
        let first_line = u32::try_from(u.line.get(first)).ok()?;
        let mut accounts: Vec<u32> = group.iter().map(|r| ua[r.2 as usize]).collect();
        accounts.sort_unstable();
        accounts.dedup();
        out.extend(
            accounts
                .into_iter()
                .filter(|&a| a != ua[first])
                .map(|a| (a, first_line)),
        );
    }
    Some(out)
}

/// One input's rows of the slices, in (slice, line) order without
/// repeats: its own rows, (account, line) for each row, merged as they are
/// written with the few `extra` rows it takes from other accounts. The own
/// rows are read from the columns, where ingest's gather leaves them in
/// that order, rather than kept in a copy (185 MB at 10M orders at the
/// run's peak of memory, docs/performance.md, log entry 52); a sorted copy
/// only where they are not in order.
struct InputRows<'a> {
    own: Own<'a>,
    extra: SliceRows,
    len: usize,
}

/// Where an input's own rows are read from.
enum Own<'a> {
    /// The account and line columns, in order.
    Columns(&'a [u32], &'a [u32]),
    /// A sorted copy.
    Sorted(SliceRows),
}

impl InputRows<'_> {
    /// The rows in order, without repeats.
    fn iter(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        let own = match &self.own {
            Own::Columns(accounts, lines) => OwnRows::Columns(accounts.iter().zip(lines.iter())),
            Own::Sorted(rows) => OwnRows::Sorted(rows.iter()),
        };
        Merge {
            a: own.peekable(),
            b: self.extra.iter().copied().peekable(),
            last: None,
        }
    }

    fn len(&self) -> usize {
        self.len
    }
}

/// The rows of an [`Own`], in order (an enum rather than a boxed
/// iterator: no call through a pointer per row).
enum OwnRows<'a> {
    Columns(std::iter::Zip<std::slice::Iter<'a, u32>, std::slice::Iter<'a, u32>>),
    Sorted(std::slice::Iter<'a, (u32, u32)>),
}

impl Iterator for OwnRows<'_> {
    type Item = (u32, u32);

    #[inline]
    fn next(&mut self) -> Option<(u32, u32)> {
        match self {
            OwnRows::Columns(rows) => rows.next().map(|(&a, &l)| (a, l)),
            OwnRows::Sorted(rows) => rows.next().copied(),
        }
    }
}

/// An input's own rows, (account, line) for each of its `accounts` and
/// `lines`, with the `extra` rows: the rows of its slices; None when a
/// line does not fit 32 bits. The own rows are normally already sorted
/// (checked; sorted in a copy if not), and `extra` is short.
fn with_own<'a>(accounts: &'a [u32], lines: &'a Lines, mut extra: SliceRows) -> Option<InputRows<'a>> {
    if !lines.narrow() && lines.iter().any(|l| u32::try_from(l).is_err()) {
        return None;
    }
    extra.sort_unstable();
    let own = match lines {
        Lines::Narrow(l) if accounts.iter().zip(l).is_sorted() => Own::Columns(accounts, l),
        _ => {
            let mut sorted: SliceRows = accounts.iter().zip(lines.iter()).map(|(&a, l)| (a, l as u32)).collect();
            sorted.par_sort_unstable();
            Own::Sorted(sorted)
        }
    };
    let mut rows = InputRows { own, extra, len: 0 };
    rows.len = rows.iter().count();
    Some(rows)
}

/// Two sorted lists as one, without repeats.
struct Merge<A: Iterator<Item = (u32, u32)>, B: Iterator<Item = (u32, u32)>> {
    a: std::iter::Peekable<A>,
    b: std::iter::Peekable<B>,
    last: Option<(u32, u32)>,
}

impl<A: Iterator<Item = (u32, u32)>, B: Iterator<Item = (u32, u32)>> Iterator for Merge<A, B> {
    type Item = (u32, u32);

    fn next(&mut self) -> Option<(u32, u32)> {
        loop {
            let next = match (self.a.peek(), self.b.peek()) {
                (Some(x), Some(y)) if y < x => self.b.next(),
                (Some(_), _) => self.a.next(),
                (None, _) => self.b.next(),
            }?;
            if self.last != Some(next) {
                self.last = Some(next);
                return Some(next);
            }
        }
    }
}

/// Every id explain may be asked about, hashed, with its account(s). An
/// unsubscription's or payment's order_id that links to an order of its
/// own account is the order's own entry again (the join matches the exact
/// text), so it is left out rather than sorted and dropped as a repeat:
/// 26M entries become 13M at 10M orders (docs/performance.md, log entry
/// 52), the same table.
fn id_table(rec: &Reconciliation) -> Vec<(u32, u32)> {
    let (o, p, u) = (&rec.inputs.orders, &rec.inputs.payments, &rec.inputs.unsubs);
    let dict = o.account_id.dict();
    let (ov, uv, pv) = (o.order_id.view(), u.unsub_id.view(), p.order_id.view());
    let uo = u.order_id.view();
    let oa = &o.account_id.codes;
    // Whether row `i`'s order_id is the entry of an order of account `a`.
    let own_order = |links: &[Option<RowIndex>], i: usize, a: u32| links[i].is_some_and(|oi| oa[oi.get()] == a);
    let orders = (0..o.len())
        .into_par_iter()
        .map(|i| (id_hash(ov.get(i)), oa[i]))
        .collect();
    let mut unsubs = Vec::with_capacity(u.len());
    unsubs.par_extend((0..u.len()).into_par_iter().flat_map_iter(|i| {
        let a = u.account_id.codes[i];
        let order = (!own_order(&rec.order_of_unsub, i, a)).then(|| (id_hash(uo.get(i)), a));
        std::iter::once((id_hash(uv.get(i)), a)).chain(order)
    }));
    let payments = (0..p.len())
        .into_par_iter()
        .filter_map(|i| {
            let a = p.account_id.codes[i];
            (!own_order(&rec.order_of_payment, i, a)).then(|| (id_hash(pv.get(i)), a))
        })
        .collect();
    let accounts = (0..dict.len() as u32)
        .into_par_iter()
        .map(|a| (id_hash(dict.name(a)), a))
        .collect();
    let mut ids = sort_ids(vec![orders, unsubs, payments, accounts]);
    ids.dedup();
    ids
}

/// The id table of `parts` in (hash, account) order: scattered by the
/// hash's top [`TOP_BITS`] bits into runs (one counting pass, one scatter
/// into a table of the parts' size), each run then sorted on its own, the
/// runs in parallel. Replaces an LSD radix sort's eight passes over the
/// whole table (docs/performance.md, log entry 39). Each part is freed as
/// soon as it is scattered, so the parts and the table overlap by one part
/// at most at the run's peak of memory (log entry 45).
fn sort_ids(parts: Vec<Vec<(u32, u32)>>) -> Vec<(u32, u32)> {
    const TOP_BITS: u32 = 12;
    let run = |h: u32| (h >> (32 - TOP_BITS)) as usize;
    let mut next = vec![0usize; (1 << TOP_BITS) + 1];
    for &(h, _) in parts.iter().flatten() {
        next[run(h) + 1] += 1;
    }
    for k in 1..next.len() {
        next[k] += next[k - 1];
    }
    let mut out = vec![(0u32, 0u32); next[1 << TOP_BITS]];
    for part in parts {
        for &(h, a) in &part {
            let at = &mut next[run(h)];
            out[*at] = (h, a);
            *at += 1;
        }
    }
    out.par_chunk_by_mut(|x, y| run(x.0) == run(y.0))
        .for_each(|c| c.sort_unstable());
    out
}

/// The start of each key's run in a sorted list of `keys` below `n`, and
/// the end: `n + 1` little-endian u32s (the list's length fits 32 bits).
fn starts(keys: impl Iterator<Item = u32>, n: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 * (n as usize + 1));
    let mut keys = keys.peekable();
    let mut k = 0u32;
    for key in 0..=n {
        while keys.next_if(|&x| x < key).is_some() {
            k += 1;
        }
        out.extend_from_slice(&k.to_le_bytes());
    }
    out
}

fn io(path: &Path, e: std::io::Error) -> AppError {
    super::io_err(path, e)
}

/// What an index holds besides its header and checkpoints: the slices
/// and the id table of a run (or of one shard of it).
pub struct Body<'a> {
    accounts: u32,
    slices: Slices<'a>,
    ids: Vec<(u32, u32)>,
}

impl Body<'_> {
    /// The slices and ids of `rec`; None when a line or a count does not
    /// fit 32 bits (inputs of more than 2³² lines get no index).
    pub fn of(rec: &Reconciliation) -> Option<Body<'_>> {
        let s = crate::trace::span("  explain.idx slices");
        let slices = slices(rec)?;
        drop(s);
        let fits = |n: usize| u32::try_from(n).is_ok();
        if !slices.rows.iter().all(|r| fits(r.len())) || !fits(slices.links.len()) {
            return None;
        }
        let s = crate::trace::span("  explain.idx ids");
        let ids = id_table(rec);
        drop(s);
        let accounts = rec.inputs.orders.account_id.dict().len() as u32;
        Some(Body { accounts, slices, ids })
    }

    /// The counts a header gives.
    pub fn counts(&self) -> Counts {
        Counts {
            accounts: self.accounts,
            groups: self.slices.groups,
            links: self.slices.links.len() as u64,
            ids: self.ids.len() as u64,
            lines: [0, 1, 2].map(|f| self.slices.rows[f].len() as u64),
        }
    }

    /// Writes the sections after the checkpoints (see the module docs).
    fn put(&self, put: &mut impl FnMut(&[u8]) -> Result<(), AppError>) -> Result<(), AppError> {
        let slices = &self.slices;
        let n = self.accounts + slices.groups;
        let mut buf = Vec::with_capacity(4 << 16);
        // Each input's lines and the start of each slice's, in one pass
        // over its rows (the starts are written after every input's lines).
        let mut all_starts = Vec::with_capacity(slices.rows.len());
        for s in &slices.rows {
            let mut starts = Vec::with_capacity(4 * (n as usize + 1));
            // `key`'s start is the number of rows of the slices before it.
            let (mut before, mut key) = (0u32, 0u32);
            for (slice, l) in s.iter() {
                while key <= slice.min(n) {
                    starts.extend_from_slice(&before.to_le_bytes());
                    key += 1;
                }
                before += 1;
                buf.extend_from_slice(&l.to_le_bytes());
                if buf.len() == buf.capacity() {
                    put(&buf)?;
                    buf.clear();
                }
            }
            while key <= n {
                starts.extend_from_slice(&before.to_le_bytes());
                key += 1;
            }
            put(&buf)?;
            buf.clear();
            all_starts.push(starts);
        }
        for starts in &all_starts {
            put(starts)?;
        }
        put(&starts(slices.links.iter().map(|&(a, _)| a), self.accounts))?;
        for chunk in slices.links.chunks(1 << 16) {
            put(&chunk.iter().flat_map(|&(_, g)| g.to_le_bytes()).collect::<Vec<u8>>())?;
        }
        for chunk in self.ids.chunks(1 << 16) {
            let bytes: Vec<u8> = chunk
                .iter()
                .flat_map(|&(h, a)| {
                    let mut b = [0u8; 8];
                    b[..4].copy_from_slice(&h.to_le_bytes());
                    b[4..].copy_from_slice(&a.to_le_bytes());
                    b
                })
                .collect();
            put(&bytes)?;
        }
        Ok(())
    }
}

/// The sizes of an index's sections (its header's counts; all of a part
/// file's header).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Counts {
    pub accounts: u32,
    pub groups: u32,
    pub links: u64,
    pub ids: u64,
    pub lines: [u64; 3],
}

/// Where each section of an index's body starts, the body at `at` (the
/// first byte after the checkpoints).
#[derive(Debug, Clone, Copy)]
pub struct Sections {
    pub lines: [u64; 3],
    pub starts: [u64; 3],
    pub link_starts: u64,
    pub links: u64,
    pub ids: u64,
    pub end: u64,
}

impl Counts {
    pub fn sections(&self, mut at: u64) -> Sections {
        let mut lines = [0; 3];
        for (f, l) in lines.iter_mut().enumerate() {
            *l = at;
            at += 4 * self.lines[f];
        }
        let mut starts = [0; 3];
        for s in starts.iter_mut() {
            *s = at;
            at += 4 * (u64::from(self.accounts) + u64::from(self.groups) + 1);
        }
        let link_starts = at;
        at += 4 * (u64::from(self.accounts) + 1);
        let links = at;
        at += 4 * self.links;
        let ids = at;
        at += 8 * self.ids;
        Sections {
            lines,
            starts,
            link_starts,
            links,
            ids,
            end: at,
        }
    }
}

/// The stamps of the inputs and policy of a run over single canonical
/// files (what explain --reports checks and reads back).
pub fn stamps<'m>(
    metas: impl IntoIterator<Item = &'m crate::ingest::InputMeta>,
    policy: &crate::config::Policy,
) -> Result<(Vec<InputStamp>, InputStamp), AppError> {
    let mut inputs = Vec::new();
    for m in metas {
        inputs.push(stamp(&m.path, &m.name, &m.sha256).map_err(|e| io(&m.path, e))?);
    }
    let policy_name = policy.path.display().to_string();
    let policy = stamp(&policy.path, &policy_name, &policy.sha256).map_err(|e| io(&policy.path, e))?;
    Ok((inputs, policy))
}

/// Starts an index file at `path`: magic, version, `header`; returns the
/// writer for the rest.
pub fn start<H: Serialize>(path: &Path, magic: &[u8; 4], header: &H) -> Result<BufWriter<super::sink::Sink>, AppError> {
    // Read only by later `explain` runs: around the page cache.
    let file = super::sink::Sink::create_direct(path)?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let json = serde_json::to_vec(header).expect("the header serializes");
    let mut put = |b: &[u8]| w.write_all(b).map_err(|e| io(path, e));
    put(magic)?;
    put(&VERSION.to_le_bytes())?;
    put(&(json.len() as u32).to_le_bytes())?;
    put(&json)?;
    Ok(w)
}

/// Finishes an index file begun by [`start`]: flushed, hashed, fsynced.
pub fn finish(path: &Path, w: BufWriter<super::sink::Sink>) -> Result<super::Done, AppError> {
    let file = w.into_inner().map_err(|e| io(path, e.into_error()))?;
    file.finish(None)
}

/// A shard's part of the merged index (`explain.part` in its reports):
/// [`PART_MAGIC`], the version, the JSON [`Counts`], then the sections of
/// an index's body over the shard's accounts (docs/scale.md). Slices,
/// accounts and groups are numbered within the shard; lines are the
/// exports' own. Returns false, writing nothing, where the index would
/// not fit 32 bits.
pub fn write_part(rec: &Reconciliation, path: &Path) -> Result<bool, AppError> {
    let _span = crate::trace::span("write explain.part");
    let Some(body) = Body::of(rec) else {
        return Ok(false);
    };
    let mut w = start(path, PART_MAGIC, &body.counts())?;
    body.put(&mut |b: &[u8]| w.write_all(b).map_err(|e| io(path, e)))?;
    finish(path, w)?;
    Ok(true)
}

/// A shard's part of an index (see [`write_part`]).
pub const PART: &str = "explain.part";
pub const PART_MAGIC: &[u8; 4] = b"RRXP";

/// Writes explain.idx for `rec` into the reports folder `dir`. Inputs with
/// more than 2³² lines get no index (explain --reports then says so):
/// None. The file is hashed as written and fsynced before publish.
pub fn write(rec: &Reconciliation, dir: &Path) -> Result<Option<super::Done>, AppError> {
    let _span = crate::trace::span("write explain.idx");
    if rec.inputs.mapped.is_some() || rec.inputs.files.iter().any(|f| !f.is_empty()) {
        // Its rows have no one canonical file per input to be read back
        // from (explain --reports says so).
        return Ok(None);
    }
    let Some(body) = Body::of(rec) else {
        return Ok(None);
    };
    let metas = &rec.inputs.metas;
    let cks: Vec<&Vec<u64>> = metas.iter().map(|m| &m.line_offsets).collect();
    let (inputs, policy) = stamps(metas, &rec.policy)?;
    let header = Header::new(
        rec.as_of,
        inputs,
        policy,
        body.counts(),
        [0, 1, 2].map(|f| cks[f].len() as u64),
    );
    let path = dir.join(FILE);
    let mut w = start(&path, MAGIC, &header)?;
    let mut put = |b: &[u8]| w.write_all(b).map_err(|e| io(&path, e));
    for c in cks {
        put_u64s(&mut put, c)?;
    }
    body.put(&mut put)?;
    Ok(Some(finish(&path, w)?))
}

/// Writes `values` little-endian through `put`, 64 Ki at a time.
pub fn put_u64s(put: &mut impl FnMut(&[u8]) -> Result<(), AppError>, values: &[u64]) -> Result<(), AppError> {
    for chunk in values.chunks(1 << 16) {
        put(&chunk.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>())?;
    }
    Ok(())
}

impl Header {
    pub fn new(as_of: i64, inputs: Vec<InputStamp>, policy: InputStamp, c: Counts, checkpoints: [u64; 3]) -> Header {
        Header {
            version: VERSION,
            as_of,
            inputs,
            policy,
            accounts: c.accounts,
            groups: c.groups,
            links: c.links,
            ids: c.ids,
            lines: c.lines,
            checkpoints,
        }
    }

    /// The counts of its sections.
    pub fn counts(&self) -> Counts {
        Counts {
            accounts: self.accounts,
            groups: self.groups,
            links: self.links,
            ids: self.ids,
            lines: self.lines,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The run-by-run sort gives the order of a plain sort, duplicates kept.
    #[test]
    fn the_id_table_sorts_as_a_plain_sort() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut ids: Vec<(u32, u32)> = (0..50_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                ((x >> 32) as u32 & 0xfff0_00ff, (x as u32) % 7)
            })
            .collect();
        ids.extend_from_within(..100);
        ids.extend([(0, 0), (u32::MAX, u32::MAX), (u32::MAX, 0)]);
        let mut want = ids.clone();
        want.sort_unstable();
        assert_eq!(sort_ids(vec![ids.clone()]), want);
        // In parts, as the index gives them.
        let (a, rest) = ids.split_at(10_000);
        let (b, c) = rest.split_at(25_000);
        assert_eq!(sort_ids(vec![a.to_vec(), Vec::new(), b.to_vec(), c.to_vec()]), want);
        assert!(sort_ids(Vec::new()).is_empty());
        assert!(sort_ids(vec![Vec::new(), Vec::new()]).is_empty());
    }

    /// The merge equals sorting everything and dropping repeats, whether
    /// the own rows come sorted (after ingest) or not, and a line past 32
    /// bits gives no slices.
    #[test]
    fn own_rows_and_extra_rows_merge_as_a_sort_would() {
        let extra = vec![(2, 9), (0, 1), (1, 5), (2, 9), (3, 0)];
        let want = |accounts: &[u32], lines: &[u64]| {
            let mut all: SliceRows = accounts.iter().zip(lines).map(|(&a, &l)| (a, l as u32)).collect();
            all.extend(&extra);
            all.sort_unstable();
            all.dedup();
            all
        };
        let sorted = ([0, 0, 1, 2, 2], [1, 4, 2, 3, 9]);
        let unsorted = ([2, 0, 1, 0, 2], [3, 4, 2, 1, 9]);
        for (accounts, lines) in [sorted, unsorted] {
            let want = want(&accounts, &lines);
            // Lines kept narrow, and wide (as after a line past 32 bits
            // was dropped).
            let mut narrow = Lines::default();
            lines.iter().for_each(|&l| narrow.push(l));
            assert!(narrow.narrow());
            for l in [narrow, Lines::Wide(lines.to_vec())] {
                let rows = with_own(&accounts, &l, extra.clone()).expect("lines fit");
                assert_eq!(rows.iter().collect::<SliceRows>(), want, "{accounts:?} {lines:?}");
                assert_eq!(rows.len(), want.len());
            }
        }
        assert!(with_own(&[0], &Lines::Wide(vec![1 << 32]), Vec::new()).is_none());
    }
}
