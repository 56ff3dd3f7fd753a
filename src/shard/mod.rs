//! Past one machine (docs/scale.md): `partition` splits the exports by
//! account into N shards in a work folder, `run --shard K` judges one
//! shard, `merge` puts the shards' reports together into the reports of
//! one run, byte for byte.
//!
//! Every rule needs one account's rows, except where rows of two accounts
//! meet: a payment or an unsubscription whose order belongs to another
//! account, and a batch whose unsubscriptions span accounts. Partition
//! joins such accounts into one group (union-find), and a group goes to
//! one shard, chosen by a pinned hash of its first account_id. So every
//! account is in exactly one shard with everything its rows meet, each
//! shard's reports are exactly the single run's rows for its accounts, and
//! merge interleaves them by account_id (every report is sorted by
//! account_id first) and adds up the counts.

mod explain;
pub mod merge;
pub mod partition;
mod rows;
mod since;
pub mod stream;
pub mod task;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::report::{InputInfo, MappingInfo, PolicyInfo};

/// The work folder layout this version writes and reads (manifest.json's
/// `format`).
pub const FORMAT: &str = "refund-recon-work/1";

/// FNV-1a, 64 bits, of `bytes`: the pinned hash that picks a group's shard
/// (the same on every platform and in every version; never the standard
/// library's or polars' hashers, which may change).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The shard of a group of accounts whose first account_id (in byte
/// order) is `account`.
pub fn shard_of(account: &str, shards: u32) -> u32 {
    (fnv1a64(account.as_bytes()) % u64::from(shards.max(1))) as u32
}

/// manifest.json: what partition read and decided; every shard and the
/// merge read it, and a shard's reports record its `id`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    /// SHA-256 over the inputs', policy's and mapping's hashes and the
    /// options: a shard's reports made under another id are stale.
    pub id: String,
    pub shards: u32,
    /// The run's as_of (µs since the epoch): the latest event of the whole
    /// export, or `--as-of`.
    pub as_of: i64,
    pub policy: PolicyInfo,
    /// The mapping's name and SHA-256 (its text is `mapping.toml`).
    pub mapping: Option<(String, String)>,
    /// summary.json's `inputs` and `mapping`, as partition read them.
    pub inputs: Vec<InputInfo>,
    pub mapping_info: Option<MappingInfo>,
    /// Per input, the files its rows' lines point into, and which are
    /// context (as in [`crate::ingest::Inputs`]).
    pub files: [Vec<(String, String)>; 3],
    pub context: [Vec<bool>; 3],
    /// `--account` selection (empty: every account).
    pub accounts: Vec<String>,
    pub focus: bool,
    pub parquet: bool,
    /// Accepted rows per input, and per shard.
    pub accepted: [u64; 3],
    pub shard_rows: Vec<[u64; 3]>,
    /// The unsubscriptions columns the mapping declares absent.
    pub absent: Vec<String>,
    /// Where the merged reports get an explain.idx (the inputs are one
    /// canonical file each, as for a run's): what its header says of them.
    #[serde(default)]
    pub explain: Option<ExplainBase>,
    /// The map tasks a partition made in parts had (`--part I/M`: M); 0
    /// for a partition in one piece. The shards' rows are then in
    /// `shard-KKKKK/part-IIIII/`, one folder per part.
    #[serde(default)]
    pub parts: u32,
}

/// What merge needs besides the shards' parts to write explain.idx: the
/// inputs and policy as a run over them stamps them, and how many
/// checkpoints of each input [`CHECKPOINTS`] holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExplainBase {
    pub inputs: Vec<crate::report::explain_index::InputStamp>,
    pub policy: crate::report::explain_index::InputStamp,
    pub checkpoints: [u64; 3],
}

/// The inputs' checkpoints (explain.idx's), u64 little-endian, one input
/// after the other, in the work folder.
pub const CHECKPOINTS: &str = "checkpoints.bin";

/// The explain base of inputs read from `metas` (one canonical file each),
/// their checkpoints written into the work folder being made, `tmp`.
pub(crate) fn explain_base(
    metas: [&crate::ingest::InputMeta; 3],
    policy: &crate::config::Policy,
    tmp: &Path,
) -> Result<ExplainBase, AppError> {
    let (inputs, policy) = crate::report::explain_index::stamps(metas, policy)?;
    let path = tmp.join(CHECKPOINTS);
    let mut bytes = Vec::new();
    for m in metas {
        bytes.extend(m.line_offsets.iter().flat_map(|v| v.to_le_bytes()));
    }
    std::fs::write(&path, bytes).map_err(|e| AppError::Output(format!("{}: {e}", path.display())))?;
    Ok(ExplainBase {
        inputs,
        policy,
        checkpoints: metas.map(|m| m.line_offsets.len() as u64),
    })
}

/// shard.json, in a shard's reports: what merge adds up.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShardResult {
    /// The manifest it was made under.
    pub id: String,
    pub shard: u32,
    /// Rows of each input it read.
    pub rows: [u64; 3],
    /// Findings per code (codes not checked left out).
    pub by_code: std::collections::BTreeMap<String, u64>,
    /// Exact refund totals per currency: (expected, recorded).
    pub totals: std::collections::BTreeMap<String, (String, String)>,
    /// Its reports: name, bytes, SHA-256, rows.
    #[serde(default)]
    pub files: Vec<crate::report::FileEntry>,
    /// Whether it wrote its part of the explain index (explain.part).
    #[serde(default)]
    pub explain: bool,
}

/// The files of a work folder.
pub struct Work {
    pub dir: PathBuf,
}

impl Work {
    pub fn new(dir: &Path) -> Work {
        Work { dir: dir.to_path_buf() }
    }

    pub fn manifest(&self) -> PathBuf {
        self.dir.join("manifest.json")
    }

    pub fn shard(&self, k: u32) -> PathBuf {
        self.dir.join(format!("shard-{k:05}"))
    }

    /// A shard's reports (written by `run --shard K`).
    pub fn reports(&self, k: u32) -> PathBuf {
        self.shard(k).join("reports")
    }

    /// Reads manifest.json (exit 3 when missing, unreadable or of another
    /// format).
    pub fn load(&self) -> Result<Manifest, AppError> {
        let path = self.manifest();
        let text = std::fs::read_to_string(&path).map_err(|e| {
            AppError::Work(format!(
                "{}: cannot read the work folder's manifest ({e}); run `refund-recon partition --work {}` first",
                path.display(),
                self.dir.display()
            ))
        })?;
        let m: Manifest = serde_json::from_str(&text).map_err(|e| {
            AppError::Work(format!(
                "{}: not a work folder manifest ({e}); partition again",
                path.display()
            ))
        })?;
        if m.shards == 0 || m.shard_rows.len() != m.shards as usize {
            return Err(AppError::Work(format!(
                "{}: lists {} shards' rows for {} shards; the manifest was changed: partition again",
                path.display(),
                m.shard_rows.len(),
                m.shards
            )));
        }
        if m.format != FORMAT {
            return Err(AppError::Work(format!(
                "{}: work folder format {:?}, this refund-recon reads {FORMAT:?}; partition again with this version",
                path.display(),
                m.format
            )));
        }
        Ok(m)
    }

    /// The policy partition copied, checked against the manifest.
    pub fn policy(&self, m: &Manifest) -> Result<crate::config::Policy, AppError> {
        let mut p = crate::config::Policy::load(&self.dir.join("policy.toml"))?;
        if p.sha256 != m.policy.sha256 {
            return Err(AppError::Work(format!(
                "{}: the policy is not the one partition copied; partition again",
                self.dir.join("policy.toml").display()
            )));
        }
        p.name = m.policy.name.clone();
        p.path = PathBuf::from(&m.policy.path);
        Ok(p)
    }

    /// The mapping partition copied, if the exports came through one.
    pub fn mapping(&self, m: &Manifest) -> Result<Option<crate::mapping::Mapping>, AppError> {
        let Some((_, sha)) = &m.mapping else {
            return Ok(None);
        };
        let path = self.dir.join("mapping.toml");
        let mapping = crate::mapping::Mapping::load(&path.display().to_string())?;
        if &mapping.sha256 != sha {
            return Err(AppError::Work(format!(
                "{}: the mapping is not the one partition copied; partition again",
                path.display()
            )));
        }
        Ok(Some(mapping))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shard_hash_is_pinned() {
        // FNV-1a 64 test vectors (the empty string, "a", "foobar").
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
        assert_eq!(shard_of("acct-001", 7), (fnv1a64(b"acct-001") % 7) as u32);
        assert_eq!(shard_of("anything", 1), 0);
    }
}
