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
//! # Layout (little-endian)
//! `RRXI`, u32 version, u32 header length, the JSON [`Header`], then for
//! each input its checkpoints (u64 byte offsets of lines 1, 1+LINE_STRIDE, …),
//! then for each input its slice lines (u32, grouped by slice), then per
//! input and slice the start of its lines (u32; `accounts + groups + 1`
//! entries each), then per account the start of its links (u32;
//! `accounts + 1` entries) and the links (u32 group numbers), then the id
//! table ((u32 hash, u32 account), sorted).

use std::fs::File;
use std::hash::Hasher;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::engine::{Reconciliation, RowIndex};
use crate::error::AppError;
use crate::ingest::{LineBreaks, Table, LINE_STRIDE};

/// The index's file name in a reports folder.
pub const FILE: &str = "explain.idx";
const MAGIC: &[u8; 4] = b"RRXI";
/// The longest JSON header an index may have (paths and counts only).
const MAX_HEADER: usize = 1 << 20;
const VERSION: u32 = 2;

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

fn stamp(path: &Path, name: &str, sha256: &str) -> std::io::Result<InputStamp> {
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

/// The 32-bit hash of an id in the id table.
fn id_hash(id: &str) -> u32 {
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
struct Slices {
    rows: [SliceRows; 3],
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
fn slices(rec: &Reconciliation) -> Option<Slices> {
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
    let group_of = |oi: usize| -> Option<u32> {
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
        .map(|&oi| Some((group_of(oi as usize)?, line(o.line[oi as usize])?)))
        .collect::<Option<_>>()?;
    // Payments: those naming an order of another account go to that
    // account, and every payment of a group's order to the group.
    let mut payments = Vec::new();
    for (i, x) in rec.order_of_payment.iter().enumerate() {
        let Some(oi) = order_of(x) else { continue };
        let pl = line(p.line[i])?;
        if oa[oi] != pa[i] {
            payments.push((oa[oi], pl));
        }
        if !group_orders.is_empty() {
            if let Some(g) = group_of(oi) {
                payments.push((g, pl));
            }
        }
    }
    // Unsubscriptions: own, those naming the account's orders, and the
    // first row of each batch the account is in.
    let mut unsubs = Vec::new();
    for (i, x) in rec.order_of_unsub.iter().enumerate() {
        if let Some(oi) = order_of(x).filter(|&oi| oa[oi] != ua[i]) {
            unsubs.push((oa[oi], line(u.line[i])?));
        }
    }
    unsubs.extend(batch_firsts(rec)?);
    let owns = [(oa, &o.line), (pa, &p.line), (ua, &u.line)];
    let mut rows = [orders, payments, unsubs];
    rows.par_iter_mut()
        .zip(owns)
        .try_for_each(|(extra, (accounts, lines))| {
            *extra = with_own(accounts, lines, std::mem::take(extra))?;
            Some(())
        })?;
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
        let first_line = u32::try_from(u.line[first]).ok()?;
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

/// An input's own rows, (account, line) for each of its `accounts` and
/// `lines`, with the `extra` rows, as one sorted list without repeats;
/// None when a line does not fit 32 bits. The own rows are read from the
/// columns as they are merged, normally already sorted (checked; sorted in
/// a copy if not), and `extra` is short.
fn with_own(accounts: &[u32], lines: &[u64], mut extra: SliceRows) -> Option<SliceRows> {
    if lines.iter().any(|&l| u32::try_from(l).is_err()) {
        return None;
    }
    let own = || accounts.iter().zip(lines).map(|(&a, &l)| (a, l as u32));
    extra.sort_unstable();
    if own().is_sorted() {
        Some(merge(own(), extra))
    } else {
        let mut sorted: SliceRows = own().collect();
        sorted.par_sort_unstable();
        Some(merge(sorted.into_iter(), extra))
    }
}

/// Two sorted lists as one, without repeats.
fn merge(own: impl Iterator<Item = (u32, u32)>, extra: SliceRows) -> SliceRows {
    let mut all = Vec::with_capacity(own.size_hint().0 + extra.len());
    let (mut a, mut b) = (own.peekable(), extra.into_iter().peekable());
    loop {
        let next = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) if y < x => b.next(),
            (Some(_), _) => a.next(),
            (None, _) => b.next(),
        };
        let Some(r) = next else { break };
        if all.last() != Some(&r) {
            all.push(r);
        }
    }
    all
}

/// Every id explain may be asked about, hashed, with its account(s).
fn id_table(rec: &Reconciliation) -> Vec<(u32, u32)> {
    let (o, p, u) = (&rec.inputs.orders, &rec.inputs.payments, &rec.inputs.unsubs);
    let dict = o.account_id.dict();
    let mut ids: Vec<(u32, u32)> = Vec::with_capacity(o.len() + 2 * u.len() + p.len() + dict.len());
    let (ov, uv, pv) = (o.order_id.view(), u.unsub_id.view(), p.order_id.view());
    let uo = u.order_id.view();
    ids.par_extend(
        (0..o.len())
            .into_par_iter()
            .map(|i| (id_hash(ov.get(i)), o.account_id.codes[i])),
    );
    ids.par_extend((0..u.len()).into_par_iter().flat_map_iter(|i| {
        let a = u.account_id.codes[i];
        [(id_hash(uv.get(i)), a), (id_hash(uo.get(i)), a)]
    }));
    ids.par_extend(
        (0..p.len())
            .into_par_iter()
            .map(|i| (id_hash(pv.get(i)), p.account_id.codes[i])),
    );
    ids.par_extend(
        (0..dict.len() as u32)
            .into_par_iter()
            .map(|a| (id_hash(dict.name(a)), a)),
    );
    // A radix sort on the pair as one 64-bit key: the same order as the
    // tuples' (hash, then account). With the exact capacity above, the id
    // table went from 2.10 to 1.54 s at 10M orders (docs/performance.md,
    // log entry 27).
    radsort::sort_by_key(&mut ids, |&(h, a)| (u64::from(h) << 32) | u64::from(a));
    ids.dedup();
    ids
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
    crate::report::io_err(path, e)
}

/// Writes explain.idx for `rec` into the reports folder `dir`. Inputs with
/// more than 2³² lines get no index (explain --reports then says so):
/// None. The file is hashed as written and fsynced before publish.
pub fn write(rec: &Reconciliation, dir: &Path) -> Result<Option<crate::report::Done>, AppError> {
    let _span = crate::trace::span("write explain.idx");
    let s = crate::trace::span("  explain.idx slices");
    let Some(slices) = slices(rec) else {
        return Ok(None);
    };
    drop(s);
    let s = crate::trace::span("  explain.idx ids");
    let ids = id_table(rec);
    drop(s);
    let metas = &rec.inputs.metas;
    let cks: Vec<&Vec<u64>> = metas.iter().map(|m| &m.line_offsets).collect();
    let mut inputs = Vec::new();
    for m in metas.iter() {
        inputs.push(stamp(&m.path, &m.name, &m.sha256).map_err(|e| io(&m.path, e))?);
    }
    let policy_name = rec.policy.path.display().to_string();
    let policy = stamp(&rec.policy.path, &policy_name, &rec.policy.sha256).map_err(|e| io(&rec.policy.path, e))?;
    let accounts = rec.inputs.orders.account_id.dict().len() as u32;
    let fits = |n: usize| u32::try_from(n).is_ok();
    if !slices.rows.iter().all(|r| fits(r.len())) || !fits(slices.links.len()) {
        return Ok(None);
    }
    let header = Header {
        version: VERSION,
        as_of: rec.as_of,
        inputs,
        policy,
        accounts,
        groups: slices.groups,
        links: slices.links.len() as u64,
        ids: ids.len() as u64,
        lines: [0, 1, 2].map(|f| slices.rows[f].len() as u64),
        checkpoints: [0, 1, 2].map(|f| cks[f].len() as u64),
    };
    let path = dir.join(FILE);
    // Read only by later `explain` runs: around the page cache.
    let file = crate::report::sink::Sink::create_direct(&path)?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let json = serde_json::to_vec(&header).expect("the header serializes");
    let mut put = |b: &[u8]| w.write_all(b).map_err(|e| io(&path, e));
    put(MAGIC)?;
    put(&VERSION.to_le_bytes())?;
    put(&(json.len() as u32).to_le_bytes())?;
    put(&json)?;
    for c in cks {
        for chunk in c.chunks(1 << 16) {
            put(&chunk.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>())?;
        }
    }
    for s in &slices.rows {
        for chunk in s.chunks(1 << 16) {
            put(&chunk.iter().flat_map(|&(_, l)| l.to_le_bytes()).collect::<Vec<u8>>())?;
        }
    }
    for s in &slices.rows {
        put(&starts(s.iter().map(|&(slice, _)| slice), accounts + slices.groups))?;
    }
    put(&starts(slices.links.iter().map(|&(a, _)| a), accounts))?;
    for chunk in slices.links.chunks(1 << 16) {
        put(&chunk.iter().flat_map(|&(_, g)| g.to_le_bytes()).collect::<Vec<u8>>())?;
    }
    for chunk in ids.chunks(1 << 16) {
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
    let file = w.into_inner().map_err(|e| io(&path, e.into_error()))?;
    Ok(Some(file.finish(None)?))
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
    lines: [u64; 3],
    starts: [u64; 3],
    link_starts: u64,
    links: u64,
    ids: u64,
}

impl Index {
    /// Opens DIR/explain.idx, or says why it cannot be used.
    pub fn open(dir: &Path) -> Result<Index, AppError> {
        let path = dir.join(FILE);
        let usage = |why: String| AppError::Usage(format!("{}: {why}", path.display()));
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
        let mut lines = [0; 3];
        for (f, l) in lines.iter_mut().enumerate() {
            *l = at;
            at += 4 * h.lines[f];
        }
        let mut starts = [0; 3];
        for s in starts.iter_mut() {
            *s = at;
            at += 4 * (u64::from(h.accounts) + u64::from(h.groups) + 1);
        }
        let link_starts = at;
        at += 4 * (u64::from(h.accounts) + 1);
        let links = at;
        at += 4 * h.links;
        Sections {
            checkpoints,
            lines,
            starts,
            link_starts,
            links,
            ids: at,
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
            self.read(s.ids + 8 * k, &mut b)?;
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
            let (from, to) = self.run_of(s.link_starts, a, h.links)?;
            for g in self.u32s(s.links, from, to)? {
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
            let (from, to) = self.run_of(s.starts[f], k, h.lines[f])?;
            out.extend(self.u32s(s.lines[f], from, to)?);
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
    };
    let mut inputs = crate::ingest::Inputs::load(&input_paths, &cal)?;
    if !inputs.rejects.is_empty() {
        return Err(AppError::Usage(format!(
            "{}: the explain index does not match the inputs (a row the run accepted is rejected now); rerun `refund-recon run`",
            dir.display()
        )));
    }
    let remap = |lines: &mut [u64], map: &rustc_hash::FxHashMap<u64, u64>| {
        for l in lines.iter_mut() {
            *l = map.get(l).copied().unwrap_or(*l);
        }
    };
    remap(&mut inputs.orders.line, &maps[0]);
    remap(&mut inputs.payments.line, &maps[1]);
    remap(&mut inputs.unsubs.line, &maps[2]);
    for (m, s) in inputs.metas.iter_mut().zip(&h.inputs) {
        m.path = s.path.clone();
        m.name = s.name.clone();
    }
    let rec = Reconciliation::run(policy, cal, inputs, Some(h.as_of), std::time::Duration::ZERO)?;
    let text = if json {
        super::json(&rec, id).map(|v| format!("{v:#}\n"))
    } else {
        super::text(&rec, id)
    };
    Ok(Answer { text, ..none() })
}

#[cfg(test)]
mod tests {
    use super::*;

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
            assert_eq!(
                with_own(&accounts, &lines, extra.clone()),
                Some(want(&accounts, &lines)),
                "{accounts:?} {lines:?}"
            );
        }
        assert_eq!(with_own(&[0], &[1 << 32], Vec::new()), None);
    }
}
