//! `partition` of exports larger than memory (docs/scale.md, "Streaming
//! partition"): canonical exports read a block at a time, in three passes,
//! memory bounded by a block and a bucket whatever the exports' size.
//!
//! 1. **Read**: each file, a block at a time, parsed by ingest's own row
//!    reader (every check, rejects with file and line; duplicate ids kept
//!    for now). Each accepted row goes to hash buckets on disk: by its id
//!    (duplicates), by its order_id (orders, and the payments and
//!    unsubscriptions naming one), by its batch_id; and its account to a
//!    list in file order.
//! 2. **Settle**, a bucket at a time: the first row of each id wins, the
//!    others are rejects as a run rejects them; each payment and
//!    unsubscription meets its order's account; each batch joins its
//!    accounts. The accounts that meet are grouped (union-find over those
//!    accounts only, rooted at the first in byte order), and as_of is the
//!    latest event of the rows kept.
//! 3. **Copy**: each file read again, a block at a time, each kept row's
//!    bytes copied into the shard of its account's group.
//!
//! The work folder is the one the in-memory partition writes, byte for
//! byte (tests/test_shards.rs).

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use rustc_hash::FxHashMap;

use super::shard_of;

pub mod parts;
use crate::error::AppError;
use crate::ingest::{Orders, Payments, Reject, Table, Unsubscriptions, ORIGIN_BITS};

/// Bytes of an export parsed at a time.
const BLOCK_BYTES: usize = 64 << 20;

/// [`BLOCK_BYTES`]; a binary built with the `test-hooks` feature takes
/// `REFUND_RECON_TEST_BLOCK_BYTES` instead (tests cut small exports into
/// many blocks).
fn block() -> usize {
    #[cfg(feature = "test-hooks")]
    if let Some(n) = std::env::var("REFUND_RECON_TEST_BLOCK_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return n;
    }
    BLOCK_BYTES
}

/// Rows' ids and links spilled into this many buckets per kind: sized so
/// that a bucket is about 256 MB of records.
fn buckets_for(input_bytes: u64) -> usize {
    (input_bytes / (256 << 20)).clamp(8, 4096) as usize
}

/// An input's files as streaming reads them: its own, then the context's.
pub struct InputFiles {
    pub paths: Vec<PathBuf>,
    /// How many of `paths` (the last ones) are context.
    pub context: usize,
}

impl InputFiles {
    /// Whether rows' lines carry the file index (several files).
    fn several(&self) -> bool {
        self.paths.len() > 1
    }

    fn key(&self, file: usize, line: u64) -> u64 {
        super::partition::line_key(self.several(), file, line)
    }
}

/// Spill files: one per bucket, appended to, read back whole.
struct Spill {
    paths: Vec<PathBuf>,
    files: Vec<BufWriter<File>>,
}

impl Spill {
    fn new(dir: &Path, kind: &str, n: usize) -> Result<Spill, AppError> {
        let mut s = Spill {
            paths: Vec::new(),
            files: Vec::new(),
        };
        for b in 0..n {
            let p = dir.join(format!("{kind}-{b:04}"));
            let f = File::create(&p).map_err(|e| out_err(&p, e))?;
            s.files.push(BufWriter::with_capacity(1 << 16, f));
            s.paths.push(p);
        }
        Ok(s)
    }

    /// Appends a record (numbers, then strings) to the bucket of `key`.
    fn put(&mut self, key: &[u8], nums: &[u64], strs: &[&[u8]]) -> Result<(), AppError> {
        let b = (super::fnv1a64(key) % self.files.len() as u64) as usize;
        let w = &mut self.files[b];
        let mut r = Ok(());
        for n in nums {
            r = r.and_then(|_| w.write_all(&n.to_le_bytes()));
        }
        for s in strs {
            r = r
                .and_then(|_| w.write_all(&(s.len() as u32).to_le_bytes()))
                .and_then(|_| w.write_all(s));
        }
        r.map_err(|e| out_err(&self.paths[b], e))
    }

    fn finish(mut self) -> Result<Vec<PathBuf>, AppError> {
        for (w, p) in self.files.iter_mut().zip(&self.paths) {
            w.flush().map_err(|e| out_err(p, e))?;
        }
        Ok(self.paths)
    }
}

fn out_err(p: &Path, e: std::io::Error) -> AppError {
    AppError::Output(format!("{}: {e} (partition's spill files)", p.display()))
}

/// A spilled record: its numbers and its strings.
type Record<'b, const N: usize, const S: usize> = ([u64; N], [&'b [u8]; S]);

/// Records read back from a bucket: `N` numbers and `S` strings each;
/// None where the bytes end inside a record (a damaged spill file).
fn records<const N: usize, const S: usize>(bytes: &[u8]) -> Option<Vec<Record<'_, N, S>>> {
    fn take<'b>(bytes: &'b [u8], at: &mut usize, n: usize) -> Option<&'b [u8]> {
        let b = bytes.get(*at..at.checked_add(n)?)?;
        *at += n;
        Some(b)
    }
    let mut out = Vec::new();
    let mut at = 0usize;
    while at < bytes.len() {
        let mut nums = [0u64; N];
        for n in &mut nums {
            *n = u64::from_le_bytes(take(bytes, &mut at, 8)?.try_into().ok()?);
        }
        let mut strs: [&[u8]; S] = [&[]; S];
        for s in &mut strs {
            let len = u32::from_le_bytes(take(bytes, &mut at, 4)?.try_into().ok()?) as usize;
            *s = take(bytes, &mut at, len)?;
        }
        out.push((nums, strs));
    }
    Some(out)
}

/// What pass 1 found out about one input.
#[derive(Default)]
struct Read1 {
    meta: Vec<(crate::ingest::InputMeta, String)>,
    rejects: Vec<Reject>,
}

/// The spills of pass 1.
struct Spills {
    ids: Spill,
    orders: Spill,
    batches: Spill,
    /// Per input: (line, account) of each accepted row, in file order.
    accounts: [BufWriter<File>; 3],
    account_paths: [PathBuf; 3],
}

/// One accepted row as pass 1 spills it.
struct Row<'a> {
    input: u8,
    line: u64,
    id: &'a str,
    account: &'a str,
    /// The order it names (an order's own id for an order).
    order: &'a str,
    batch: &'a str,
    /// Its latest event (what the default as_of is the latest of).
    latest: i64,
    currency: &'a str,
}

impl Spills {
    fn row(&mut self, r: &Row<'_>) -> Result<(), AppError> {
        let mut key = vec![r.input];
        key.extend_from_slice(r.id.as_bytes());
        self.ids.put(
            &key,
            &[u64::from(r.input), r.line, r.latest as u64],
            &[r.id.as_bytes(), r.currency.as_bytes()],
        )?;
        self.orders.put(
            r.order.as_bytes(),
            &[u64::from(r.input), r.line],
            &[r.order.as_bytes(), r.account.as_bytes()],
        )?;
        if !r.batch.is_empty() {
            self.batches.put(
                r.batch.as_bytes(),
                &[r.line],
                &[r.batch.as_bytes(), r.account.as_bytes()],
            )?;
        }
        let w = &mut self.accounts[r.input as usize];
        w.write_all(&r.line.to_le_bytes())
            .and_then(|_| w.write_all(&(r.account.len() as u32).to_le_bytes()))
            .and_then(|_| w.write_all(r.account.as_bytes()))
            .map_err(|e| out_err(&self.account_paths[r.input as usize], e))
    }
}

/// Pass 1 over one input's files: rows validated, spilled, rejects kept.
/// `finish` gives the block's interned columns their text.
fn read_input<T: Table>(
    k: usize,
    files: &InputFiles,
    cal: &crate::time::Calendar,
    spills: &mut Spills,
    finish: fn(&mut T, crate::ingest::Interners),
    rows: impl Fn(&T, usize) -> (String, String, String, String, i64, String),
    only: &dyn Fn(usize, usize) -> bool,
) -> Result<Read1, AppError> {
    let mut out = Read1::default();
    for (fi, path) in files.paths.iter().enumerate().filter(|&(fi, _)| only(k, fi)) {
        let lines = |l: u64| files.key(fi, l);
        let (meta, sha) =
            crate::ingest::read_blocks::<T, AppError>(path, cal, block(), &lines, |mut loaded, interners| {
                finish(&mut loaded.table, interners);
                for i in 0..loaded.table.len() {
                    let (id, account, order, batch, latest, currency) = rows(&loaded.table, i);
                    spills.row(&Row {
                        input: k as u8,
                        line: loaded.table.line(i),
                        id: &id,
                        account: &account,
                        order: &order,
                        batch: &batch,
                        latest,
                        currency: &currency,
                    })?;
                }
                out.rejects.extend(loaded.rejects);
                Ok(())
            })?;
        out.meta.push((meta, sha));
    }
    Ok(out)
}

/// What pass 2 settled.
#[derive(Default)]
pub struct Settled {
    /// Per input, the lines of rows that repeat an earlier id (sorted).
    losers: [Vec<u64>; 3],
    /// Accounts whose group is rooted elsewhere: account → root.
    roots: FxHashMap<String, String>,
    pub as_of: Option<i64>,
    pub currencies: BTreeSet<String>,
    /// The rejects of repeated ids, as a run words them.
    duplicates: Vec<Reject>,
}

/// Union-find over account names, rooted at the smallest.
#[derive(Default)]
struct Names(FxHashMap<String, String>);

impl Names {
    fn find(&mut self, a: &str) -> String {
        let mut cur = a.to_string();
        while let Some(up) = self.0.get(&cur) {
            if *up == cur {
                break;
            }
            cur = up.clone();
        }
        cur
    }

    fn join(&mut self, a: &str, b: &str) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
            self.0.insert(hi, lo.clone());
            self.0.entry(lo.clone()).or_insert(lo);
        }
    }
}

/// Pass 2, a bucket at a time.
/// Each bucket is its files one after the other (a partition made in
/// parts has one per part).
fn settle(ids: &[Vec<PathBuf>], orders: &[Vec<PathBuf>], batches: &[Vec<PathBuf>]) -> Result<Settled, AppError> {
    let damaged = || {
        AppError::Work("a spill bucket of the partition is damaged (it ends inside a record); partition again".into())
    };
    let read = |ps: &Vec<PathBuf>| -> Result<Vec<u8>, AppError> {
        let mut all = Vec::new();
        for p in ps {
            File::open(p)
                .and_then(|mut f| f.read_to_end(&mut all))
                .map_err(|e| out_err(p, e))?;
        }
        Ok(all)
    };
    let id_columns = [
        Orders::COLUMNS[Orders::ID].0,
        Payments::COLUMNS[Payments::ID].0,
        Unsubscriptions::COLUMNS[Unsubscriptions::ID].0,
    ];
    let mut s = Settled {
        losers: Default::default(),
        roots: FxHashMap::default(),
        as_of: None,
        currencies: BTreeSet::new(),
        duplicates: Vec::new(),
    };
    for p in ids {
        let bytes = read(p)?;
        let mut recs = records::<3, 2>(&bytes).ok_or_else(damaged)?;
        // By input and id, then line: the first row of each id wins.
        recs.sort_unstable_by(|a, b| (a.0[0], a.1[0], a.0[1]).cmp(&(b.0[0], b.1[0], b.0[1])));
        let mut i = 0;
        while i < recs.len() {
            let (first, [id, currency]) = recs[i];
            s.as_of = s.as_of.max(Some(first[2] as i64));
            if first[0] == 0 {
                s.currencies.insert(String::from_utf8_lossy(currency).into_owned());
            }
            let mut j = i + 1;
            while j < recs.len() && recs[j].0[0] == first[0] && recs[j].1[0] == id {
                let input = first[0] as usize;
                let text = String::from_utf8_lossy(id).into_owned();
                s.losers[input].push(recs[j].0[1]);
                s.duplicates.push(Reject {
                    file: String::new(),
                    line: recs[j].0[1],
                    record_id: text.clone(),
                    column: id_columns[input].to_string(),
                    value: text,
                    reason: format!(
                        "duplicate {}: the first row with this id (line {}) is used",
                        id_columns[input], first[1]
                    ),
                });
                j += 1;
            }
            i = j;
        }
    }
    for l in &mut s.losers {
        l.sort_unstable();
    }
    let lost = |input: u64, line: u64, losers: &[Vec<u64>; 3]| losers[input as usize].binary_search(&line).is_ok();
    let mut names = Names::default();
    for p in orders {
        let bytes = read(p)?;
        let recs = records::<2, 2>(&bytes).ok_or_else(damaged)?;
        // Each order's account (its first row: a repeat lost).
        let mut account: FxHashMap<&[u8], (u64, &[u8])> = FxHashMap::default();
        for &([input, line], [order, acct]) in &recs {
            if input == 0 && !lost(0, line, &s.losers) {
                account.insert(order, (line, acct));
            }
        }
        for &([input, line], [order, acct]) in &recs {
            if input == 0 || lost(input, line, &s.losers) {
                continue;
            }
            if let Some(&(_, owner)) = account.get(order) {
                if owner != acct {
                    names.join(&String::from_utf8_lossy(owner), &String::from_utf8_lossy(acct));
                }
            }
        }
    }
    for p in batches {
        let bytes = read(p)?;
        let recs = records::<1, 2>(&bytes).ok_or_else(damaged)?;
        let mut first: FxHashMap<&[u8], &[u8]> = FxHashMap::default();
        for &([line], [batch, acct]) in &recs {
            if lost(2, line, &s.losers) {
                continue;
            }
            let f = *first.entry(batch).or_insert(acct);
            if f != acct {
                names.join(&String::from_utf8_lossy(f), &String::from_utf8_lossy(acct));
            }
        }
    }
    let members: Vec<String> = names.0.keys().cloned().collect();
    for a in members {
        let root = names.find(&a);
        if root != a {
            s.roots.insert(a, root);
        }
    }
    Ok(s)
}

/// Pass 1's list of an input's accepted rows, (line, account) in file
/// order, read back a row at a time.
struct AccountList {
    path: PathBuf,
    r: std::io::BufReader<File>,
}

impl AccountList {
    fn open(path: &Path) -> Result<AccountList, AppError> {
        let f = File::open(path).map_err(|e| out_err(path, e))?;
        Ok(AccountList {
            path: path.to_path_buf(),
            r: std::io::BufReader::with_capacity(1 << 20, f),
        })
    }

    /// The next row's line, its account in `acct`; None at the end.
    fn next_row(&mut self, acct: &mut Vec<u8>) -> Result<Option<u64>, AppError> {
        let mut head = [0u8; 12];
        match self.r.read_exact(&mut head) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(out_err(&self.path, e)),
        }
        let len = u32::from_le_bytes(head[8..].try_into().expect("4 bytes")) as usize;
        acct.resize(len, 0);
        self.r.read_exact(acct).map_err(|e| out_err(&self.path, e))?;
        Ok(Some(u64::from_le_bytes(head[..8].try_into().expect("8 bytes"))))
    }
}

/// Pass 3 over one input: each kept row's bytes into its shard.
fn copy_input(
    k: usize,
    (files, only): (&InputFiles, &[usize]),
    accounts: &Path,
    settled: &Settled,
    shards: u32,
    dirs: &[PathBuf],
) -> Result<Vec<u64>, AppError> {
    let io = |p: &Path, e: std::io::Error| AppError::Output(format!("{}: {e}", p.display()));
    let mut out = super::partition::ShardFiles::open(dirs, k)?;
    let mut accts = AccountList::open(accounts)?;
    let mut next_row = |acct: &mut Vec<u8>| accts.next_row(acct);
    let mut acct = Vec::new();
    let mut pending = next_row(&mut acct)?;
    let mut failed: Option<AppError> = None;
    for (j, &fi) in only.iter().enumerate() {
        let path = &files.paths[fi];
        let header_done = j > 0;
        let mut wrote_header = header_done;
        let (mut file, mut buf, mut eof, mut line) = open_body(path, &mut |raw, span| {
            if !wrote_header {
                if let Err(e) = out.header(raw, span) {
                    failed = Some(io(path, e));
                }
                wrote_header = true;
            }
        })?;
        loop {
            let Some(cut) = crate::ingest::record_cut(&buf, eof) else {
                // No complete record in the block, or a quote the fast cut
                // cannot follow: the rest of the file in one piece, as
                // ingest reads it.
                eof = fill(&mut file, &mut buf, usize::MAX).map_err(|e| io(path, e))?;
                continue;
            };
            let body = std::str::from_utf8(&buf[..cut])
                .map_err(|_| AppError::Internal(format!("{}: changed while partition read it", path.display())))?;
            let base = line;
            let mut step: Result<(), AppError> = Ok(());
            crate::ingest::raw_records(body, |l, span, raw| {
                if step.is_err() {
                    return;
                }
                let key = files.key(fi, l + base - 1);
                // Rows rejected by the checks are not in the list.
                while let Some(p) = pending.filter(|&p| p < key) {
                    let _ = p;
                    match next_row(&mut acct) {
                        Ok(n) => pending = n,
                        Err(e) => {
                            step = Err(e);
                            return;
                        }
                    }
                }
                if pending != Some(key) {
                    return;
                }
                if settled.losers[k].binary_search(&key).is_err() {
                    let name = String::from_utf8_lossy(&acct);
                    let root = settled.roots.get(name.as_ref()).map_or(name.as_ref(), String::as_str);
                    let s = shard_of(root, shards) as usize;
                    if let Err(e) = out.put(s, raw, span, key) {
                        step = Err(io(path, e));
                        return;
                    }
                }
                match next_row(&mut acct) {
                    Ok(n) => pending = n,
                    Err(e) => step = Err(e),
                }
            });
            step?;
            if let Some(e) = failed.take() {
                return Err(e);
            }
            line += crate::ingest::count_line_breaks(&buf[..cut], buf.get(cut).copied());
            buf.drain(..cut);
            if buf.is_empty() && eof {
                break;
            }
            eof = fill(&mut file, &mut buf, block()).map_err(|e| io(path, e))?;
        }
    }
    out.finish(dirs)
}

/// Opens a file, hands its header record's bytes (and line breaks inside
/// it) to `header`, and returns the file, the bytes read after the
/// header, whether it is exhausted, and the line of the first byte after
/// the header.
fn open_body(path: &Path, header: &mut dyn FnMut(&str, u64)) -> Result<(File, Vec<u8>, bool, u64), AppError> {
    let io = |e: std::io::Error| AppError::Output(format!("{}: {e}", path.display()));
    let mut file = File::open(path).map_err(io)?;
    let mut buf = Vec::new();
    let mut eof = fill(&mut file, &mut buf, block()).map_err(io)?;
    loop {
        if let Some(end) = first_record_end(&buf, eof) {
            let text = std::str::from_utf8(&buf[..end]).unwrap_or_default();
            crate::ingest::raw_records(text, |_, span, raw| header(raw, span));
            let lines = crate::ingest::count_line_breaks(&buf[..end], buf.get(end).copied());
            buf.drain(..end);
            return Ok((file, buf, eof, 1 + lines));
        }
        if eof {
            return Ok((file, Vec::new(), true, 1));
        }
        eof = fill(&mut file, &mut buf, usize::MAX).map_err(io)?;
    }
}

/// The end of the first record (its line end included).
fn first_record_end(buf: &[u8], eof: bool) -> Option<usize> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(buf);
    let mut rec = csv::ByteRecord::new();
    let got = rdr.read_byte_record(&mut rec).unwrap_or(false);
    let end = rdr.position().byte() as usize;
    (got && (end < buf.len() || eof)).then_some(end)
}

fn fill(file: &mut File, buf: &mut Vec<u8>, want: usize) -> std::io::Result<bool> {
    let got = Read::by_ref(file).take(want as u64).read_to_end(buf)?;
    Ok(want == usize::MAX || got < want)
}

/// What a streaming partition needs besides the files.
pub struct Streamed<'a> {
    pub files: [InputFiles; 3],
    pub policy: &'a crate::config::Policy,
    pub as_of: Option<i64>,
    pub accounts: Vec<String>,
    pub max_reject_rate: f64,
}

/// Partitions canonical exports of any size (the three passes above).
/// Pass 1 over the three inputs' files that `only(input, file)` keeps.
fn read_all(
    s: &Streamed<'_>,
    cal: &crate::time::Calendar,
    spills: &mut Spills,
    only: &dyn Fn(usize, usize) -> bool,
) -> Result<[Read1; 3], AppError> {
    // Pass 1.
    let text = |v: crate::columns::StrView<'_>, i: usize| v.get(i).to_string();
    fn accounts(col: &mut crate::columns::CodeCol, interners: crate::ingest::Interners) {
        let (dict, remap) = interners.accounts.finish();
        col.finish(&dict, |c| remap.rank(c));
    }
    let orders = read_input::<Orders>(
        0,
        &s.files[0],
        cal,
        spills,
        |o, i| accounts(&mut o.account_id, i),
        |o, i| {
            let id = text(o.order_id.view(), i);
            (
                id.clone(),
                o.account_id.view().get(i).to_string(),
                id,
                String::new(),
                o.ordered_at[i],
                o.currency[i].as_str().to_string(),
            )
        },
        only,
    )?;
    let payments = read_input::<Payments>(
        1,
        &s.files[1],
        cal,
        spills,
        |p, i| accounts(&mut p.account_id, i),
        |p, i| {
            (
                text(p.payment_id.view(), i),
                p.account_id.view().get(i).to_string(),
                text(p.order_id.view(), i),
                String::new(),
                p.paid_at[i],
                String::new(),
            )
        },
        only,
    )?;
    let unsubs = read_input::<Unsubscriptions>(
        2,
        &s.files[2],
        cal,
        spills,
        |u, i| accounts(&mut u.account_id, i),
        |u, i| {
            let latest = [u.reviewed_at.get(i), u.completed_at.get(i), u.refunded_at.get(i)]
                .into_iter()
                .flatten()
                .fold(u.requested_at[i], i64::max);
            (
                text(u.unsub_id.view(), i),
                u.account_id.view().get(i).to_string(),
                text(u.order_id.view(), i),
                text(u.batch_id.view(), i),
                latest,
                String::new(),
            )
        },
        only,
    )?;
    Ok([orders, payments, unsubs])
}

/// The exports' bytes in all (what the bucket count follows).
fn total_bytes(s: &Streamed<'_>) -> u64 {
    s.files
        .iter()
        .flat_map(|f| &f.paths)
        .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum()
}

/// What pass 1 wrote: what it read of each input, and its spill files.
struct Spilled {
    reads: [Read1; 3],
    ids: Vec<PathBuf>,
    orders: Vec<PathBuf>,
    batches: Vec<PathBuf>,
    accounts: [PathBuf; 3],
}

/// Pass 1 over the files `only(input, file)` keeps, spilled into `dir` in
/// `n` buckets per kind.
fn pass1(
    s: &Streamed<'_>,
    cal: &crate::time::Calendar,
    dir: &Path,
    n: usize,
    only: &dyn Fn(usize, usize) -> bool,
) -> Result<Spilled, AppError> {
    std::fs::create_dir_all(dir).map_err(|e| out_err(dir, e))?;
    let account_paths: [PathBuf; 3] = std::array::from_fn(|k| dir.join(format!("accounts-{k}")));
    let open = |p: &Path| {
        File::create(p)
            .map(|f| BufWriter::with_capacity(1 << 20, f))
            .map_err(|e| out_err(p, e))
    };
    let mut spills = Spills {
        ids: Spill::new(dir, "ids", n)?,
        orders: Spill::new(dir, "orders", n)?,
        batches: Spill::new(dir, "batches", n)?,
        accounts: [
            open(&account_paths[0])?,
            open(&account_paths[1])?,
            open(&account_paths[2])?,
        ],
        account_paths: account_paths.clone(),
    };
    let reads = read_all(s, cal, &mut spills, only)?;
    for (w, p) in spills.accounts.iter_mut().zip(&spills.account_paths) {
        w.flush().map_err(|e| out_err(p, e))?;
    }
    Ok(Spilled {
        reads,
        ids: spills.ids.finish()?,
        orders: spills.orders.finish()?,
        batches: spills.batches.finish()?,
        accounts: account_paths,
    })
}

/// The explain base of canonical inputs of one file each (None for
/// several), its checkpoints written into `tmp`.
fn explain_of(s: &Streamed<'_>, reads: &[Read1; 3], tmp: &Path) -> Result<Option<super::ExplainBase>, AppError> {
    if s.files.iter().any(InputFiles::several) {
        return Ok(None);
    }
    let metas: [crate::ingest::InputMeta; 3] = std::array::from_fn(|k| {
        let (meta, sha) = &reads[k].meta[0];
        crate::ingest::InputMeta {
            sha256: sha.clone(),
            ..meta.clone()
        }
    });
    Ok(Some(super::explain_base(metas.each_ref(), s.policy, tmp)?))
}

pub fn partition(s: Streamed<'_>, opt: &super::partition::Options<'_>) -> Result<super::Manifest, AppError> {
    let cal = s.policy.calendar();
    let tmp = super::partition::temp_sibling(opt.work)?;
    let spill_dir = tmp.join("spill");
    let n = buckets_for(total_bytes(&s));
    let spilled = pass1(&s, &cal, &spill_dir, n, &|_, _| true)?;
    // Pass 2.
    let one = |v: &[PathBuf]| -> Vec<Vec<PathBuf>> { v.iter().map(|p| vec![p.clone()]).collect() };
    let settled = settle(&one(&spilled.ids), &one(&spilled.orders), &one(&spilled.batches))?;
    for p in spilled.ids.iter().chain(&spilled.orders).chain(&spilled.batches) {
        let _ = std::fs::remove_file(p);
    }
    let explain = explain_of(&s, &spilled.reads, &tmp)?;
    let (inputs, rejects, accepted) = describe(&s, spilled.reads, &settled)?;
    check(&s, &inputs, &settled)?;
    // Pass 3.
    let dirs = shard_dirs(&tmp, opt.shards, &settled)?;
    let mut shard_rows = vec![[0u64; 3]; opt.shards as usize];
    for k in 0..3 {
        let all: Vec<usize> = (0..s.files[k].paths.len()).collect();
        let accounts = &spilled.accounts[k];
        let rows = copy_input(k, (&s.files[k], &all), accounts, &settled, opt.shards, &dirs)?;
        std::fs::remove_file(accounts).map_err(|e| out_err(accounts, e))?;
        for (sr, n) in shard_rows.iter_mut().zip(rows) {
            sr[k] = n;
        }
    }
    std::fs::remove_dir_all(&spill_dir).map_err(|e| out_err(&spill_dir, e))?;
    super::partition::all_copied(&accepted, &shard_rows)?;
    let m = manifest(&s, opt, &settled, (inputs, accepted, shard_rows), explain);
    super::partition::finish_work(&tmp, opt.work, m, &rejects, s.policy, None)
}

/// The shards' folders in the work folder `dir`, made, each with its
/// groups.csv.
fn shard_dirs(dir: &Path, shards: u32, settled: &Settled) -> Result<Vec<PathBuf>, AppError> {
    let dirs: Vec<PathBuf> = (0..shards).map(|k| super::Work::new(dir).shard(k)).collect();
    for d in &dirs {
        std::fs::create_dir_all(d).map_err(|e| out_err(d, e))?;
    }
    super::partition::write_groups(
        &dirs,
        settled.roots.iter().map(|(a, r)| (a.clone(), r.clone())).collect(),
    )?;
    Ok(dirs)
}

/// The manifest of a streaming partition (its id set when written).
fn manifest(
    s: &Streamed<'_>,
    opt: &super::partition::Options<'_>,
    settled: &Settled,
    (inputs, accepted, shard_rows): (Vec<crate::report::InputInfo>, [u64; 3], Vec<[u64; 3]>),
    explain: Option<super::ExplainBase>,
) -> super::Manifest {
    let several = |k: usize| s.files[k].several();
    super::Manifest {
        format: super::FORMAT.to_string(),
        id: String::new(),
        shards: opt.shards,
        as_of: s.as_of.or(settled.as_of).unwrap_or(0),
        policy: crate::report::PolicyInfo {
            name: s.policy.name.clone(),
            path: s.policy.path.display().to_string(),
            sha256: s.policy.sha256.clone(),
        },
        mapping: None,
        files: std::array::from_fn(|k| {
            if several(k) {
                inputs[k]
                    .files
                    .iter()
                    .map(|f| (f.file.clone(), f.path.clone()))
                    .collect()
            } else {
                Vec::new()
            }
        }),
        context: std::array::from_fn(|k| {
            let f = &s.files[k];
            if several(k) && f.context > 0 {
                (0..f.paths.len()).map(|i| i >= f.paths.len() - f.context).collect()
            } else {
                Vec::new()
            }
        }),
        inputs,
        mapping_info: None,
        accounts: s.accounts.clone(),
        focus: opt.focus,
        parquet: opt.parquet,
        accepted,
        shard_rows,
        absent: Vec::new(),
        explain,
        parts: 0,
    }
}

/// summary.json's `inputs`, the rejects (sorted as a run sorts them) and
/// each input's accepted rows.
type Described = (Vec<crate::report::InputInfo>, Vec<Reject>, [u64; 3]);

/// summary.json's `inputs` and the rejects, as a run in one piece reads
/// the same files; and each input's accepted rows.
fn describe(s: &Streamed<'_>, reads: [Read1; 3], settled: &Settled) -> Result<Described, AppError> {
    let mask = (1u64 << ORIGIN_BITS) - 1;
    let mut infos = Vec::new();
    let mut all = Vec::new();
    let mut accepted = [0u64; 3];
    for (k, read) in reads.into_iter().enumerate() {
        let f = &s.files[k];
        let names: Vec<String> = read.meta.iter().map(|(m, _)| m.name.clone()).collect();
        let mut rejects = read.rejects;
        rejects.extend(settled.duplicates.iter().filter(|d| d.column == id_column(k)).cloned());
        let mut per_file = vec![0u64; f.paths.len()];
        if f.several() {
            let locate = |l: u64| ((l >> ORIGIN_BITS) as usize, l & mask);
            for r in &mut rejects {
                let i = crate::ingest::multi::relocate(r, &locate, &names);
                if let Some(n) = per_file.get_mut(i) {
                    *n += 1;
                }
            }
            let index = |name: &str| names.iter().position(|n| n == name).unwrap_or(usize::MAX);
            rejects.sort_by_key(|r| (index(&r.file), r.line));
        } else {
            for r in &mut rejects {
                r.file.clone_from(&names[0]);
            }
            per_file[0] = rejects.len() as u64;
            rejects.sort_by_key(|r| r.line);
        }
        let rows_read: u64 = read.meta.iter().map(|(m, _)| m.rows_read).sum();
        let rejected = rejects.len() as u64;
        accepted[k] = rows_read - rejected;
        let (first, sha) = &read.meta[0];
        let files = if f.several() {
            read.meta
                .iter()
                .zip(&per_file)
                .enumerate()
                .map(|(i, ((m, sha), &rej))| crate::ingest::FileCount {
                    file: m.name.clone(),
                    path: m.path.display().to_string(),
                    sha256: sha.clone(),
                    bytes: m.bytes,
                    rows_read: m.rows_read,
                    accepted: m.rows_read - rej,
                    rejected: rej,
                    context: i >= f.paths.len() - f.context,
                })
                .collect()
        } else {
            Vec::new()
        };
        infos.push(crate::report::InputInfo {
            file: first.file.to_string(),
            path: if f.several() {
                String::new()
            } else {
                first.path.display().to_string()
            },
            sha256: if f.several() { String::new() } else { sha.clone() },
            bytes: read.meta.iter().map(|(m, _)| m.bytes).sum(),
            rows_read,
            accepted: accepted[k],
            rejected,
            extra_columns: first.extra_columns.clone(),
            files,
        });
        all.extend(rejects);
    }
    all.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    Ok((infos, all, accepted))
}

fn id_column(k: usize) -> &'static str {
    [
        Orders::COLUMNS[Orders::ID].0,
        Payments::COLUMNS[Payments::ID].0,
        Unsubscriptions::COLUMNS[Unsubscriptions::ID].0,
    ][k]
}

/// The checks a run makes on inputs read: a review threshold for every
/// currency of the orders kept (exit 2), each input's reject share (exit 3).
fn check(s: &Streamed<'_>, inputs: &[crate::report::InputInfo], settled: &Settled) -> Result<(), AppError> {
    let currencies: Vec<crate::model::Currency> = settled
        .currencies
        .iter()
        .filter_map(|c| crate::model::Currency::parse(c))
        .collect();
    s.policy.check_thresholds(currencies.iter())?;
    for i in inputs {
        if i.rows_read > 0 {
            let rate = i.rejected as f64 / i.rows_read as f64;
            if rate > s.max_reject_rate {
                return Err(AppError::RejectRate {
                    file: i.path.clone(),
                    rejected: i.rejected,
                    read: i.rows_read,
                    rate,
                    max: s.max_reject_rate,
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_groups_are_rooted_at_their_first_name_in_byte_order() {
        let mut n = Names::default();
        n.join("acct-9", "acct-5");
        n.join("acct-7", "acct-9");
        n.join("acct-2", "acct-3");
        assert_eq!(n.find("acct-7"), "acct-5");
        assert_eq!(n.find("acct-3"), "acct-2");
        n.join("acct-3", "acct-7");
        for a in ["acct-2", "acct-3", "acct-5", "acct-7", "acct-9"] {
            assert_eq!(n.find(a), "acct-2", "{a}");
        }
        assert_eq!(
            n.find("acct-1"),
            "acct-1",
            "an account that meets no other is its own root"
        );
    }

    #[test]
    fn spilled_records_read_back_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spill::new(dir.path(), "t", 3).unwrap();
        for i in 0..20u64 {
            let id = format!("id-{i}");
            s.put(id.as_bytes(), &[i, u64::MAX - i], &[id.as_bytes(), b"x,\"y\"\n"])
                .unwrap();
        }
        let mut got: Vec<(u64, String)> = Vec::new();
        for p in s.finish().unwrap() {
            let bytes = std::fs::read(p).unwrap();
            // A bucket cut inside a record reads as damaged, not a panic.
            for cut in [1, 9, bytes.len() - 1] {
                assert!(records::<2, 2>(&bytes[..cut]).is_none(), "cut at {cut}");
            }
            for ([a, b], [id, tail]) in records::<2, 2>(&bytes).unwrap() {
                assert_eq!(b, u64::MAX - a);
                assert_eq!(tail, b"x,\"y\"\n");
                got.push((a, String::from_utf8(id.to_vec()).unwrap()));
            }
        }
        got.sort();
        assert_eq!(got, (0..20).map(|i| (i, format!("id-{i}"))).collect::<Vec<_>>());
    }
}
