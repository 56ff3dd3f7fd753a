//! explain.idx for merged reports, put together from the shards' parts
//! (`explain.part`, written by each shard beside its reports): the index
//! a run over the same files would answer from, renumbered.
//!
//! Every slice is one account's or one order group's, and every account,
//! with every group it links to, is in one shard (partition's grouping).
//! So the merged index is the shards' slices one after the other: the
//! accounts of shard 0, of shard 1, …, then the groups of shard 0, of
//! shard 1, …; an account of shard k is renumbered by the accounts of the
//! shards before it, a group by their groups. Lines are the exports' own
//! physical lines in every part, and the checkpoints are partition's
//! (`checkpoints.bin`), so explain reads back the same rows and answers as
//! the run does. The id tables, each sorted, are merged. Everything is
//! read and written a buffer at a time: memory is a buffer per shard.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::{Manifest, ShardResult, Work, CHECKPOINTS};
use crate::error::AppError;
use crate::report::explain_index::{self as index, Counts, Header, Sections, MAX_HEADER, PART, PART_MAGIC, VERSION};
use crate::report::{sink::Sink, Done};

/// One shard's part, opened.
struct Part {
    file: File,
    path: PathBuf,
    counts: Counts,
    sections: Sections,
    /// Per input, how many of its lines are the accounts' slices' (the
    /// rest are the groups').
    account_lines: [u64; 3],
}

fn damaged(path: &Path, why: &str) -> AppError {
    AppError::Work(format!(
        "{}: {why}; the shard's part of the explain index is damaged: rerun the shard",
        path.display()
    ))
}

impl Part {
    fn open(path: &Path) -> Result<Part, AppError> {
        let bad = |why: String| damaged(path, &why);
        let mut file = File::open(path).map_err(|e| bad(format!("cannot open it ({e})")))?;
        let mut head = [0u8; 12];
        file.read_exact(&mut head).map_err(|e| bad(e.to_string()))?;
        if &head[..4] != PART_MAGIC || head[4..8] != VERSION.to_le_bytes() {
            return Err(bad("not a part of an explain index of this version".into()));
        }
        let n = u32::from_le_bytes(head[8..12].try_into().expect("4 bytes")) as usize;
        if n > MAX_HEADER {
            return Err(bad("its header is too long".into()));
        }
        let mut json = vec![0u8; n];
        file.read_exact(&mut json).map_err(|e| bad(e.to_string()))?;
        let counts: Counts = serde_json::from_slice(&json).map_err(|e| bad(e.to_string()))?;
        let sections = counts.sections(12 + n as u64);
        let len = file.metadata().map_err(|e| bad(e.to_string()))?.len();
        if len != sections.end {
            return Err(bad(format!("{len} bytes where its header says {}", sections.end)));
        }
        let mut part = Part {
            file,
            path: path.to_path_buf(),
            counts,
            sections,
            account_lines: [0; 3],
        };
        for f in 0..3 {
            let mut at = 0;
            part.each(part.sections.starts[f], counts.accounts.into(), 1, |v| {
                at = u64::from(v);
                Ok(())
            })?;
            if at > counts.lines[f] {
                return Err(bad("its slices end past its lines".into()));
            }
            part.account_lines[f] = at;
        }
        Ok(part)
    }

    /// Calls `f` with each u32 `[from, from + n)` of the section at `at`.
    fn each(&self, at: u64, from: u64, n: u64, mut f: impl FnMut(u32) -> Result<(), AppError>) -> Result<(), AppError> {
        let bad = |e: std::io::Error| damaged(&self.path, &e.to_string());
        let mut r = BufReader::with_capacity(1 << 16, &self.file);
        r.seek(SeekFrom::Start(at + 4 * from)).map_err(bad)?;
        let mut buf = vec![0u8; 1 << 16];
        let mut left = 4 * n;
        while left > 0 {
            let take = left.min(buf.len() as u64) as usize;
            r.read_exact(&mut buf[..take]).map_err(bad)?;
            for c in buf[..take].chunks_exact(4) {
                f(u32::from_le_bytes(c.try_into().expect("4 bytes")))?;
            }
            left -= take as u64;
        }
        Ok(())
    }
}

/// The merged index's counts, or None where they do not fit 32 bits (a
/// run over the same files would write no index either).
fn total(parts: &[Part]) -> Option<Counts> {
    let sum = |f: &dyn Fn(&Counts) -> u64| parts.iter().map(|p| f(&p.counts)).sum::<u64>();
    let accounts = sum(&|c| c.accounts.into());
    let groups = sum(&|c| c.groups.into());
    let c = Counts {
        accounts: u32::try_from(accounts).ok()?,
        groups: u32::try_from(groups).ok()?,
        links: sum(&|c| c.links),
        ids: sum(&|c| c.ids),
        lines: [0, 1, 2].map(|f| sum(&|c| c.lines[f])),
    };
    let fits = |n: u64| u32::try_from(n).is_ok();
    (fits(accounts + groups) && fits(c.links) && c.lines.iter().all(|&n| fits(n))).then_some(c)
}

/// Writes explain.idx into the merged reports `dir` when partition could
/// (`m.explain`) and every shard wrote its part; None otherwise.
pub fn write_index(work: &Work, m: &Manifest, results: &[&ShardResult], dir: &Path) -> Result<Option<Done>, AppError> {
    let _span = crate::trace::span("write explain.idx from the shards");
    let Some(base) = &m.explain else {
        return Ok(None);
    };
    if !results.iter().all(|r| r.explain) {
        return Ok(None);
    }
    let parts: Vec<Part> = (0..m.shards)
        .map(|k| Part::open(&work.reports(k).join(PART)))
        .collect::<Result<_, _>>()?;
    let Some(counts) = total(&parts) else {
        return Ok(None);
    };
    let header = Header::new(
        m.as_of,
        base.inputs.clone(),
        base.policy.clone(),
        counts,
        base.checkpoints,
    );
    let path = dir.join(index::FILE);
    let mut w = index::start(&path, index::MAGIC, &header)?;
    copy_checkpoints(&work.dir.join(CHECKPOINTS), base.checkpoints, &mut w, &path)?;
    write_body(&parts, &counts, &mut w, &path)?;
    Ok(Some(index::finish(&path, w)?))
}

/// Partition's checkpoints, as they are (their count checked).
fn copy_checkpoints(from: &Path, counts: [u64; 3], w: &mut BufWriter<Sink>, to: &Path) -> Result<(), AppError> {
    let want = 8 * counts.iter().sum::<u64>();
    let file = File::open(from).map_err(|e| AppError::Work(format!("{}: {e}; partition again", from.display())))?;
    let got = std::io::copy(&mut BufReader::new(file).take(want + 1), w)
        .map_err(|e| AppError::Output(format!("{}: {e}", to.display())))?;
    if got != want {
        return Err(AppError::Work(format!(
            "{}: {got} bytes, the manifest says {want}; the work folder was changed: partition again",
            from.display()
        )));
    }
    Ok(())
}

/// The sections after the checkpoints, renumbered (see the module docs).
fn write_body(parts: &[Part], total: &Counts, w: &mut BufWriter<Sink>, path: &Path) -> Result<(), AppError> {
    let mut put = |v: u32| {
        w.write_all(&v.to_le_bytes())
            .map_err(|e| crate::report::io_err(path, e))
    };
    // Each input's lines: the accounts' slices of every shard, then the
    // groups'.
    for f in 0..3 {
        for p in parts {
            p.each(p.sections.lines[f], 0, p.account_lines[f], &mut put)?;
        }
        for p in parts {
            let n = p.counts.lines[f] - p.account_lines[f];
            p.each(p.sections.lines[f], p.account_lines[f], n, &mut put)?;
        }
    }
    // Each input's starts, shifted by the lines before them.
    for f in 0..3 {
        let mut before = 0u64;
        for p in parts {
            p.each(p.sections.starts[f], 0, p.counts.accounts.into(), |s| {
                put((before + u64::from(s)) as u32)
            })?;
            before += p.account_lines[f];
        }
        for p in parts {
            let own = p.account_lines[f];
            p.each(
                p.sections.starts[f],
                p.counts.accounts.into(),
                p.counts.groups.into(),
                |s| {
                    let s = u64::from(s)
                        .checked_sub(own)
                        .ok_or_else(|| damaged(&p.path, "slices out of order"))?;
                    put((before + s) as u32)
                },
            )?;
            before += p.counts.lines[f] - own;
        }
        put(total.lines[f] as u32)?;
    }
    // Each account's links, and the links' groups, shifted.
    let mut before = 0u64;
    for p in parts {
        p.each(p.sections.link_starts, 0, p.counts.accounts.into(), |s| {
            put((before + u64::from(s)) as u32)
        })?;
        before += p.counts.links;
    }
    put(total.links as u32)?;
    let mut groups = 0u32;
    for p in parts {
        p.each(p.sections.links, 0, p.counts.links, |g| put(groups + g))?;
        groups += p.counts.groups;
    }
    merge_ids(parts, w, path)
}

/// The shards' id tables, each sorted by (hash, account), merged into one
/// with the accounts renumbered (an account is in one shard: no repeats).
fn merge_ids(parts: &[Part], w: &mut BufWriter<Sink>, path: &Path) -> Result<(), AppError> {
    struct Ids<'p> {
        r: BufReader<&'p File>,
        left: u64,
        first: u32,
        path: &'p Path,
    }
    impl Ids<'_> {
        fn next(&mut self) -> Result<Option<u64>, AppError> {
            if self.left == 0 {
                return Ok(None);
            }
            self.left -= 1;
            let mut b = [0u8; 8];
            self.r
                .read_exact(&mut b)
                .map_err(|e| damaged(self.path, &e.to_string()))?;
            let h = u32::from_le_bytes(b[..4].try_into().expect("4 bytes"));
            let a = u32::from_le_bytes(b[4..].try_into().expect("4 bytes"));
            Ok(Some((u64::from(h) << 32) | u64::from(self.first + a)))
        }
    }
    let mut readers = Vec::with_capacity(parts.len());
    let mut heap = BinaryHeap::new();
    let mut first = 0u32;
    for (k, p) in parts.iter().enumerate() {
        let mut r = BufReader::with_capacity(1 << 16, &p.file);
        r.seek(SeekFrom::Start(p.sections.ids))
            .map_err(|e| damaged(&p.path, &e.to_string()))?;
        let mut ids = Ids {
            r,
            left: p.counts.ids,
            first,
            path: &p.path,
        };
        if let Some(key) = ids.next()? {
            heap.push(Reverse((key, k)));
        }
        readers.push(ids);
        first += p.counts.accounts;
    }
    while let Some(Reverse((key, k))) = heap.pop() {
        w.write_all(&key.rotate_left(32).to_le_bytes())
            .map_err(|e| crate::report::io_err(path, e))?;
        if let Some(next) = readers[k].next()? {
            heap.push(Reverse((next, k)));
        }
    }
    Ok(())
}
