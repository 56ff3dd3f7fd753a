//! `refund-recon partition`: the exports read and validated once (rejects
//! written here), rows grouped by account, each group's rows copied as
//! they are in the exports into its shard's CSVs, with each row's line.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{shard_of, Manifest, Work, FORMAT};
use crate::engine::RowIndex;
use crate::error::AppError;
use crate::ingest::{Inputs, ORIGIN_BITS};

/// The three inputs' canonical names, the shard files' names.
pub const NAMES: [&str; 3] = ["orders.csv", "payments.csv", "unsubscriptions.csv"];

/// What a shard's row lines file holds per row: its first line in the
/// shard's CSV and its line in the exports (`file << 40 | line` where the
/// input has several files).
pub const LINES: [&str; 3] = ["orders.lines", "payments.lines", "unsubscriptions.lines"];

/// What partition was asked for besides the inputs.
pub struct Options<'a> {
    pub shards: u32,
    pub work: &'a Path,
    pub focus: bool,
    pub parquet: bool,
}

/// Union-find over account ranks; a group's root is its smallest rank
/// (the first account_id in byte order).
struct Groups(Vec<u32>);

impl Groups {
    fn find(&mut self, mut a: u32) -> u32 {
        while self.0[a as usize] != a {
            let up = self.0[self.0[a as usize] as usize];
            self.0[a as usize] = up;
            a = up;
        }
        a
    }

    fn join(&mut self, a: u32, b: u32) {
        let (ra, rb) = (self.find(a), self.find(b));
        let (lo, hi) = (ra.min(rb), ra.max(rb));
        self.0[hi as usize] = lo;
    }
}

/// Each account's shard: accounts whose rows meet (a payment or an
/// unsubscription of another account's order, a batch spanning accounts)
/// are one group, and a group goes where the hash of its first account_id
/// says.
/// Each account's shard, and (account, root) for each account that meets
/// another (for groups.csv).
type AccountShards = (Vec<u32>, Vec<(String, String)>);

fn account_shards(inputs: &Inputs, shards: u32) -> Result<AccountShards, AppError> {
    let (o, p, u) = (&inputs.orders, &inputs.payments, &inputs.unsubs);
    let dict = o.account_id.dict().clone();
    let mut g = Groups((0..dict.len() as u32).collect());
    let (pay, unsub) = crate::engine::order_links(inputs)?;
    let o_acct = o.account_id.view();
    for (i, oi) in pay.iter().enumerate() {
        if let Some(oi) = oi.map(RowIndex::get) {
            g.join(p.account_id.view().code(i), o_acct.code(oi));
        }
    }
    for (i, oi) in unsub.iter().enumerate() {
        if let Some(oi) = oi.map(RowIndex::get) {
            g.join(u.account_id.view().code(i), o_acct.code(oi));
        }
    }
    let batch = u.batch_id.view();
    let mut first: rustc_hash::FxHashMap<&str, u32> = rustc_hash::FxHashMap::default();
    for i in 0..u.unsub_id.len() {
        let b = batch.get(i);
        if b.is_empty() {
            continue;
        }
        let a = u.account_id.view().code(i);
        let f = *first.entry(b).or_insert(a);
        g.join(f, a);
    }
    let mut met = Vec::new();
    let shard = (0..dict.len() as u32)
        .map(|a| {
            let root = g.find(a);
            if root != a {
                met.push((dict.name(a).to_string(), dict.name(root).to_string()));
            }
            shard_of(dict.name(root), shards)
        })
        .collect();
    Ok((shard, met))
}

/// What a shard's `groups.csv` holds: each of its accounts that meets
/// another (its group rooted at another account), with the group's root.
pub const GROUPS: &str = "groups.csv";

/// Writes each shard's groups.csv from (account, root) pairs: sorted by
/// account, in the shard of the root.
pub(super) fn write_groups(dirs: &[PathBuf], mut met: Vec<(String, String)>) -> Result<(), AppError> {
    met.sort_unstable();
    let mut files: Vec<csv::Writer<std::io::BufWriter<std::fs::File>>> = Vec::with_capacity(dirs.len());
    let bad = |p: &Path, e: &dyn std::fmt::Display| AppError::Output(format!("{}: {e}", p.display()));
    for d in dirs {
        let p = d.join(GROUPS);
        let f = std::fs::File::create(&p).map_err(|e| bad(&p, &e))?;
        let mut w = csv::Writer::from_writer(std::io::BufWriter::new(f));
        w.write_record(["account_id", "group"]).map_err(|e| bad(&p, &e))?;
        files.push(w);
    }
    for (account, root) in &met {
        let s = shard_of(root, dirs.len() as u32) as usize;
        files[s].write_record([account, root]).map_err(|e| bad(&dirs[s], &e))?;
    }
    for (w, d) in files.iter_mut().zip(dirs) {
        w.flush().map_err(|e| bad(d, &e))?;
    }
    Ok(())
}

/// Where one input's rows are copied from: its export files, or the text
/// a mapping made (whose rows' lines are lines of that text).
enum Source<'a> {
    Files(Vec<PathBuf>),
    Text(&'a crate::mapping::Mapped),
}

/// One input's files (the export as given, or its several files).
fn files_of(inputs: &Inputs, k: usize, first: &Path) -> Vec<PathBuf> {
    if inputs.files[k].is_empty() {
        vec![first.to_path_buf()]
    } else {
        inputs.files[k].iter().map(|(_, p)| PathBuf::from(p)).collect()
    }
}

/// A row's line as the inputs hold it: `file << 40 | line` for an input of
/// several files, the physical line otherwise.
pub(super) fn line_key(several: bool, file: usize, line: u64) -> u64 {
    if several {
        ((file as u64) << ORIGIN_BITS) | line
    } else {
        line
    }
}

/// Copies input `k`'s accepted rows into the shards' CSVs (header first)
/// and writes each row's lines; returns the rows per shard.
fn copy_rows(
    inputs: &Inputs,
    k: usize,
    source: &Source<'_>,
    row_shard: &[(u64, u32)],
    dirs: &[PathBuf],
) -> Result<Vec<u64>, AppError> {
    let io = |p: &Path, e: std::io::Error| AppError::Output(format!("{}: {e}", p.display()));
    let mut out = Copy {
        files: ShardFiles::open(dirs, k)?,
        at: 0,
        failed: None,
    };
    match source {
        Source::Files(files) => {
            let several = !inputs.files[k].is_empty();
            for (fi, path) in files.iter().enumerate() {
                let bytes = std::fs::read(path).map_err(|e| io(path, e))?;
                let body = std::str::from_utf8(&bytes)
                    .map_err(|_| AppError::Internal(format!("{}: changed while partition read it", path.display())))?;
                let key = |line: u64| line_key(several, fi, line);
                out.copy(body, fi > 0, row_shard, key, key);
                if let Some(e) = out.failed.take() {
                    return Err(io(path, e));
                }
            }
        }
        Source::Text(x) => {
            let body =
                std::str::from_utf8(&x.csv).map_err(|_| AppError::Internal("a mapped input is not UTF-8".into()))?;
            out.copy(body, false, row_shard, |line| line, |line| x.origin_of(line));
            if let Some(e) = out.failed.take() {
                return Err(io(Path::new(NAMES[k]), e));
            }
        }
    }
    out.files.finish(dirs)
}

/// The shards' CSVs and lines files of one input while rows are copied
/// into them (by the in-memory and the streaming partition alike).
pub(super) struct ShardFiles {
    text: Vec<std::io::BufWriter<std::fs::File>>,
    lines: Vec<std::io::BufWriter<std::fs::File>>,
    /// The line the next row starts at in each shard's CSV.
    next_line: Vec<u64>,
    rows: Vec<u64>,
}

impl ShardFiles {
    /// Creates input `k`'s files in each shard's folder.
    pub(super) fn open(dirs: &[PathBuf], k: usize) -> Result<ShardFiles, AppError> {
        let open = |name: &str| -> Result<Vec<std::io::BufWriter<std::fs::File>>, AppError> {
            dirs.iter()
                .map(|d| {
                    let p = d.join(name);
                    std::fs::File::create(&p)
                        .map(|f| std::io::BufWriter::with_capacity(1 << 20, f))
                        .map_err(|e| AppError::Output(format!("{}: {e}", p.display())))
                })
                .collect()
        };
        Ok(ShardFiles {
            text: open(NAMES[k])?,
            lines: open(LINES[k])?,
            next_line: vec![0; dirs.len()],
            rows: vec![0; dirs.len()],
        })
    }

    /// A record's bytes without the line end it may carry.
    fn trim(raw: &str) -> &[u8] {
        let raw = raw.strip_suffix('\n').unwrap_or(raw);
        raw.strip_suffix('\r').unwrap_or(raw).as_bytes()
    }

    /// Writes the header record (with `span` line breaks inside it) into
    /// every shard's CSV.
    pub(super) fn header(&mut self, raw: &str, span: u64) -> std::io::Result<()> {
        for (w, next) in self.text.iter_mut().zip(&mut self.next_line) {
            w.write_all(Self::trim(raw))?;
            w.write_all(b"\n")?;
            *next = 2 + span;
        }
        Ok(())
    }

    /// Copies one row into shard `s`, with its line in the export.
    pub(super) fn put(&mut self, s: usize, raw: &str, span: u64, origin: u64) -> std::io::Result<()> {
        self.text[s].write_all(Self::trim(raw))?;
        self.text[s].write_all(b"\n")?;
        self.lines[s].write_all(&self.next_line[s].to_le_bytes())?;
        self.lines[s].write_all(&origin.to_le_bytes())?;
        self.next_line[s] += 1 + span;
        self.rows[s] += 1;
        Ok(())
    }

    /// Flushes the files; returns the rows each shard got.
    pub(super) fn finish(mut self, dirs: &[PathBuf]) -> Result<Vec<u64>, AppError> {
        for (w, d) in self
            .text
            .iter_mut()
            .chain(self.lines.iter_mut())
            .zip(dirs.iter().cycle())
        {
            w.flush()
                .map_err(|e| AppError::Output(format!("{}: {e}", d.display())))?;
        }
        Ok(self.rows)
    }
}

/// Input rows matched to their shards while one CSV text is copied.
struct Copy {
    files: ShardFiles,
    /// Position in the rows sorted by line.
    at: usize,
    failed: Option<std::io::Error>,
}

impl Copy {
    /// Copies the accepted rows of one CSV text (`skip_header`: its header
    /// was written from an earlier file); `key` is a record's line as the
    /// inputs' rows hold it, `origin` its line in the export.
    fn copy(
        &mut self,
        body: &str,
        skip_header: bool,
        row_shard: &[(u64, u32)],
        key: impl Fn(u64) -> u64,
        origin: impl Fn(u64) -> u64,
    ) {
        let mut header = skip_header;
        crate::ingest::raw_records(body, |line, span, raw| {
            if self.failed.is_some() {
                return;
            }
            if !header {
                header = true;
                if let Err(e) = self.files.header(raw, span) {
                    self.failed = Some(e);
                }
                return;
            }
            let key = key(line);
            while self.at < row_shard.len() && row_shard[self.at].0 < key {
                self.at += 1;
            }
            if self.at < row_shard.len() && row_shard[self.at].0 == key {
                let s = row_shard[self.at].1 as usize;
                if let Err(e) = self.files.put(s, raw, span, origin(line)) {
                    self.failed = Some(e);
                }
            }
        });
    }
}

/// The exports as read for partition: the inputs, the texts a mapping
/// made of them, and what else the work folder records.
pub struct Read<'a> {
    pub inputs: Inputs,
    /// With a mapping: each input's canonical text (rows' lines are lines
    /// of it).
    pub texts: Vec<crate::mapping::Mapped>,
    /// Each input's first file (the files of an input of several are in
    /// `inputs.files`).
    pub firsts: [&'a Path; 3],
    pub as_of: Option<crate::time::Micros>,
    pub policy: &'a crate::config::Policy,
    pub mapping: Option<&'a crate::mapping::Mapping>,
    /// `--account`.
    pub accounts: Vec<String>,
}

/// Partitions the exports read into `opt.shards` shards in `opt.work`
/// (replaced as a whole); returns the manifest.
pub fn partition(read: Read<'_>, opt: &Options<'_>) -> Result<Manifest, AppError> {
    let Read {
        inputs,
        texts,
        firsts,
        as_of,
        policy,
        mapping,
        accounts,
    } = read;
    if opt.shards == 0 {
        return Err(AppError::Usage("--shards 0: give at least 1 shard".into()));
    }
    let (shard_of_account, met) = account_shards(&inputs, opt.shards)?;
    let as_of = as_of.or_else(|| inputs.default_as_of()).unwrap_or(0);

    let work = Work::new(opt.work);
    let tmp = temp_sibling(opt.work)?;
    let dirs: Vec<PathBuf> = (0..opt.shards).map(|k| Work::new(&tmp).shard(k)).collect();
    for d in &dirs {
        std::fs::create_dir_all(d).map_err(|e| AppError::Output(format!("{}: {e}", d.display())))?;
    }
    write_groups(&dirs, met)?;
    let (o, p, u) = (&inputs.orders, &inputs.payments, &inputs.unsubs);
    let tables: [(&crate::columns::Lines, Vec<u32>); 3] = [
        (&o.line, o.account_id.codes.clone()),
        (&p.line, p.account_id.codes.clone()),
        (&u.line, u.account_id.codes.clone()),
    ];
    let mut shard_rows = vec![[0u64; 3]; opt.shards as usize];
    for (k, (line, codes)) in tables.iter().enumerate() {
        let mut row_shard: Vec<(u64, u32)> = line
            .iter()
            .zip(codes)
            .map(|(l, &c)| (l, shard_of_account[c as usize]))
            .collect();
        row_shard.sort_unstable();
        let source = match texts.get(k) {
            Some(x) => Source::Text(x),
            None => Source::Files(files_of(&inputs, k, firsts[k])),
        };
        let rows = copy_rows(&inputs, k, &source, &row_shard, &dirs)?;
        for (s, n) in rows.into_iter().enumerate() {
            shard_rows[s][k] = n;
        }
    }
    let accepted = [o.line.len() as u64, p.line.len() as u64, u.line.len() as u64];
    all_copied(&accepted, &shard_rows)?;
    let canonical = mapping.is_none() && inputs.mapped.is_none() && inputs.files.iter().all(Vec::is_empty);
    let explain = match canonical {
        true => Some(super::explain_base(
            [&inputs.metas.orders, &inputs.metas.payments, &inputs.metas.unsubs],
            policy,
            &tmp,
        )?),
        false => None,
    };
    let m = Manifest {
        format: FORMAT.to_string(),
        id: String::new(),
        shards: opt.shards,
        as_of,
        policy: crate::report::PolicyInfo {
            name: policy.name.clone(),
            path: policy.path.display().to_string(),
            sha256: policy.sha256.clone(),
        },
        mapping: mapping.map(|m| (m.name.clone(), m.sha256.clone())),
        inputs: crate::report::input_infos(&inputs),
        mapping_info: crate::report::mapping_info(&inputs),
        files: inputs.files.clone(),
        context: inputs.context.clone(),
        accounts,
        focus: opt.focus,
        parquet: opt.parquet,
        accepted,
        shard_rows,
        absent: mapping.map_or_else(Vec::new, |m| {
            m.inputs[2]
                .columns
                .iter()
                .filter(|c| matches!(c.value, crate::mapping::ValueFrom::Absent))
                .map(|c| c.column.to_string())
                .collect()
        }),
        explain,
        parts: 0,
    };
    finish_work(&tmp, &work.dir, m, &inputs.rejects, policy, mapping)
}

/// The control total of a partition: the shards hold every accepted row.
pub(super) fn all_copied(accepted: &[u64; 3], shard_rows: &[[u64; 3]]) -> Result<(), AppError> {
    for (k, total) in accepted.iter().enumerate() {
        let copied: u64 = shard_rows.iter().map(|r| r[k]).sum();
        if copied != *total {
            return Err(AppError::Internal(format!(
                "control total failed: partition copied {copied} rows of {} into the shards, and accepted {total}",
                NAMES[k]
            )));
        }
    }
    Ok(())
}

/// Completes the work folder written in `tmp` (its shards done): the
/// rejects, the policy's and mapping's texts, the manifest with its id;
/// then puts it in place of `work`.
pub(super) fn finish_work(
    tmp: &Path,
    work: &Path,
    m: Manifest,
    rejects: &[crate::ingest::Reject],
    policy: &crate::config::Policy,
    mapping: Option<&crate::mapping::Mapping>,
) -> Result<Manifest, AppError> {
    let m = write_work(tmp, m, rejects, policy, mapping)?;
    replace(tmp, work)?;
    Ok(m)
}

/// Writes the rejects, the policy's and mapping's texts, and last the
/// manifest with its id into the work folder `tmp`.
pub(super) fn write_work(
    tmp: &Path,
    mut m: Manifest,
    rejects: &[crate::ingest::Reject],
    policy: &crate::config::Policy,
    mapping: Option<&crate::mapping::Mapping>,
) -> Result<Manifest, AppError> {
    let mut written = crate::report::Written::default();
    written.push(crate::report::write_rejects(&tmp.join("rejects.csv"), rejects)?);
    written.sync_all()?;
    std::fs::write(tmp.join("policy.toml"), policy_text(policy)?)
        .map_err(|e| AppError::Output(format!("{}: {e}", tmp.display())))?;
    if let Some(mapping) = mapping {
        std::fs::write(tmp.join("mapping.toml"), &mapping.text)
            .map_err(|e| AppError::Output(format!("{}: {e}", tmp.display())))?;
    }
    m.id = crate::config::hex(&Sha256::digest(serde_json::to_vec(&m).expect("a manifest serializes")));
    let text = serde_json::to_string_pretty(&m).expect("a manifest serializes") + "\n";
    std::fs::write(tmp.join("manifest.json"), text).map_err(|e| AppError::Output(format!("{}: {e}", tmp.display())))?;
    Ok(m)
}

/// The work folder needs about the exports' size and a seventh more
/// (their accepted rows; 16 bytes of lines per row, about 12 % of a row;
/// a streaming partition's buckets, freed before the rows are copied,
/// need less): refuse to start (exit 4) where its file system has less
/// free than 1.15 × the inputs + 64 MiB.
pub fn check_space(work: &Path, input_bytes: u64) -> Result<(), AppError> {
    let need = input_bytes + input_bytes * 3 / 20 + (64 << 20);
    let at = work
        .ancestors()
        .find(|a| a.exists())
        .filter(|a| !a.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    match free_bytes(at) {
        Some(free) if free < need => Err(AppError::Output(format!(
            "{}: {} MB free where the work folder needs about {} MB (1.15 × the exports); free space or choose another --work",
            at.display(),
            free >> 20,
            need >> 20
        ))),
        _ => Ok(()),
    }
}

/// Free bytes for this user on the file system of `path` (None where
/// unknown).
#[cfg(unix)]
fn free_bytes(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a NUL-terminated path and `st` a valid out-pointer.
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    (rc == 0).then(|| st.f_bavail as u64 * st.f_frsize as u64)
}

#[cfg(not(unix))]
fn free_bytes(_: &Path) -> Option<u64> {
    None
}

/// The policy's text as it was read (a file, or a built-in preset).
fn policy_text(p: &crate::config::Policy) -> Result<String, AppError> {
    if let Some((_, text)) = crate::config::PRESETS
        .iter()
        .find(|(n, _)| Path::new(n) == p.path && !p.path.exists())
    {
        return Ok(text.to_string());
    }
    std::fs::read_to_string(&p.path).map_err(|e| AppError::Usage(format!("{}: {e}", p.path.display())))
}

/// A fresh folder beside `work` to write into before it replaces `work`.
pub(super) fn temp_sibling(work: &Path) -> Result<PathBuf, AppError> {
    let name = work
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| AppError::Usage(format!("--work {}: name a folder", work.display())))?;
    let parent = work
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| AppError::Output(format!("{}: {e}", parent.display())))?;
    let tmp = parent.join(format!(".{name}.partial-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir(&tmp).map_err(|e| AppError::Output(format!("{}: {e}", tmp.display())))?;
    Ok(tmp)
}

/// Puts the finished work folder in place of `work`: a missing or empty
/// folder, or an earlier work folder (it has a manifest.json); anything
/// else is refused (exit 4).
fn replace(tmp: &Path, work: &Path) -> Result<(), AppError> {
    if work.exists() {
        let empty = std::fs::read_dir(work).map(|mut d| d.next().is_none()).unwrap_or(false);
        if !empty && !work.join("manifest.json").is_file() {
            let _ = std::fs::remove_dir_all(tmp);
            return Err(AppError::Output(format!(
                "{}: --work holds files that are not a refund-recon work folder; choose a new or empty folder",
                work.display()
            )));
        }
        std::fs::remove_dir_all(work).map_err(|e| AppError::Output(format!("{}: {e}", work.display())))?;
    }
    std::fs::rename(tmp, work).map_err(|e| AppError::Output(format!("{}: {e}", work.display())))
}

#[cfg(test)]
mod tests {
    use super::Groups;

    #[test]
    fn a_group_is_rooted_at_its_smallest_account_whatever_the_order_of_joins() {
        let mut g = Groups((0..6).collect());
        g.join(4, 2);
        g.join(5, 4);
        g.join(3, 1);
        assert_eq!([g.find(2), g.find(4), g.find(5)], [2, 2, 2]);
        assert_eq!([g.find(1), g.find(3)], [1, 1]);
        assert_eq!(g.find(0), 0);
        g.join(5, 3);
        assert!(
            (1..6).all(|a| g.find(a) == 1),
            "two groups joined: rooted at the smaller"
        );
        g.join(0, 0);
        assert_eq!(g.find(0), 0);
    }
}
