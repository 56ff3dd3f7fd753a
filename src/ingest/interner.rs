//! The dictionaries of text shared by many rows (account ids, products,
//! payment methods), filled while chunks are parsed in parallel, and each
//! chunk's cache in front of them. Only loading uses them: once the three
//! files are read, [`Interner::finish`] gives the byte-ordered [`Dict`] of
//! the finished [`CodeCol`](crate::columns::CodeCol)s.

use std::sync::Arc;

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::columns::Dict;

/// Interns text shared by many rows (account ids, products, payment
/// methods) while chunks are parsed in parallel: a sharded dictionary, so
/// threads rarely meet on a lock. Codes handed out during ingest are
/// provisional (their order depends on thread timing); [`Interner::finish`]
/// turns them into ranks in byte order of the text, which are
/// deterministic and sort like the text.
pub struct Interner {
    shards: Box<[Shard]>,
}

/// One lock-protected part of an [`Interner`]: text → index in the shard.
type Shard = std::sync::Mutex<FxHashMap<Key, u32>>;

const SHARD_BITS: u32 = 8;
const INDEX_BITS: u32 = 32 - SHARD_BITS;

/// The bytes a [`Key`] holds in place.
const INLINE: usize = 22;

/// Interned text as a map key: in place when short (ids are), so a lookup
/// compares it without reading a second allocation — with a million
/// accounts the dictionary is far larger than the caches, and that read
/// was a cache miss of its own.
#[derive(Clone)]
enum Key {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<str>),
}

impl Key {
    fn new(s: &str) -> Key {
        if s.len() <= INLINE {
            let mut bytes = [0; INLINE];
            bytes[..s.len()].copy_from_slice(s.as_bytes());
            Key::Inline {
                len: s.len() as u8,
                bytes,
            }
        } else {
            Key::Heap(s.into())
        }
    }

    #[inline]
    fn as_str(&self) -> &str {
        match self {
            // SAFETY: the bytes were copied whole from a `&str` (`Key::new`).
            Key::Inline { len, bytes } => unsafe { std::str::from_utf8_unchecked(&bytes[..usize::from(*len)]) },
            Key::Heap(s) => s,
        }
    }

    fn into_boxed(self) -> Box<str> {
        match self {
            Key::Heap(s) => s,
            inline => inline.as_str().into(),
        }
    }
}

impl std::borrow::Borrow<str> for Key {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

/// Hashes as the `str` does, so the map is queried with a `&str`.
impl std::hash::Hash for Key {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.as_str().hash(h);
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Key {}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.as_str().fmt(f)
    }
}

impl Default for Interner {
    fn default() -> Self {
        Interner {
            shards: (0..1 << SHARD_BITS).map(|_| Default::default()).collect(),
        }
    }
}

/// The hash the interner and the chunk caches share.
#[inline]
fn hash(s: &str) -> u64 {
    use std::hash::BuildHasher;
    rustc_hash::FxBuildHasher.hash_one(s)
}

impl Interner {
    /// The provisional code of `s`.
    pub fn code(&self, s: &str) -> u32 {
        self.code_hashed(s, hash(s))
    }

    /// [`Interner::code`] of `s` whose [`hash`] is `h`.
    fn code_hashed(&self, s: &str, h: u64) -> u32 {
        // Middle bits pick the shard: the shard's own table uses the low bits
        // (slot) and the top 7 (tag) of the same hash.
        let shard = ((h >> 40) & ((1 << SHARD_BITS) - 1)) as u32;
        let mut map = self.shards[shard as usize].lock().expect("interner shard");
        Interner::code_in(&mut map, shard, s)
    }

    /// The provisional code of `s` in shard `shard`, whose map is `map`.
    fn code_in(map: &mut FxHashMap<Key, u32>, shard: u32, s: &str) -> u32 {
        if let Some(&i) = map.get(s) {
            return shard << INDEX_BITS | i;
        }
        let i = map.len() as u32;
        assert!(
            i < 1 << INDEX_BITS,
            "more than 16 million distinct values in one interner shard"
        );
        map.insert(Key::new(s), i);
        shard << INDEX_BITS | i
    }

    /// The dictionary in byte order, and the map from provisional codes to
    /// ranks in it.
    pub fn finish(self) -> (Arc<Dict>, Remap) {
        let mut all: Vec<(Key, u32)> = Vec::new();
        for (s, shard) in self.shards.into_vec().into_iter().enumerate() {
            let map = shard.into_inner().expect("interner shard");
            all.extend(map.into_iter().map(|(k, i)| (k, (s as u32) << INDEX_BITS | i)));
        }
        all.par_sort_unstable_by(|a, b| a.0.as_str().as_bytes().cmp(b.0.as_str().as_bytes()));
        let mut ranks: Vec<Vec<u32>> = vec![Vec::new(); 1 << SHARD_BITS];
        for (rank, (_, code)) in all.iter().enumerate() {
            let (s, i) = ((code >> INDEX_BITS) as usize, (code & ((1 << INDEX_BITS) - 1)) as usize);
            if ranks[s].len() <= i {
                ranks[s].resize(i + 1, u32::MAX);
            }
            ranks[s][i] = rank as u32;
        }
        let names = all.into_par_iter().map(|(k, _)| k.into_boxed()).collect();
        (Arc::new(Dict::from_sorted(names)), Remap { ranks })
    }
}

/// Provisional interner codes → ranks.
pub struct Remap {
    ranks: Vec<Vec<u32>>,
}

impl Remap {
    pub fn rank(&self, code: u32) -> u32 {
        self.ranks[(code >> INDEX_BITS) as usize][(code & ((1 << INDEX_BITS) - 1)) as usize]
    }
}

/// Slots of a [`Memo`] (a power of two).
const MEMO_SLOTS: usize = 512;

/// A chunk's own dictionary in front of the shared interner. A row gets a
/// chunk-local code; [`Memo::resolve`] interns the chunk's values in one
/// batch when the chunk is parsed, taking each shard's lock once, and
/// turns the local codes into provisional ones. On exports in time order
/// nearly every row names an account the chunk has not seen, and a lock
/// per row had both cores pulling the shards' lock words back and forth.
/// In front: the last value (neighbouring rows repeat accounts) and a fixed
/// table of recent values by hash (products and methods: a few values,
/// seen again and again). A miss costs one slot and one local entry, never
/// a growing map.
#[derive(Debug, Default)]
pub struct Memo {
    last: String,
    last_code: Option<u32>,
    /// `(hash, local code, text)`, indexed by the hash's low bits; empty
    /// until the first miss of `last`.
    slots: Vec<(u64, u32, Key)>,
    /// The chunk's values by local code: `(hash, text)` (a value evicted
    /// from `slots` and seen again gets a second code; both resolve alike).
    local: Vec<(u64, Key)>,
}

impl Memo {
    /// The chunk-local code of `s`.
    #[inline]
    pub fn code(&mut self, s: &str) -> u32 {
        if let Some(c) = self.last_code.filter(|_| self.last == s) {
            return c;
        }
        let h = hash(s);
        if self.slots.is_empty() {
            self.slots = vec![(0, u32::MAX, Key::new("")); MEMO_SLOTS];
        }
        let slot = &mut self.slots[h as usize & (MEMO_SLOTS - 1)];
        let code = if slot.1 != u32::MAX && slot.0 == h && slot.2.as_str() == s {
            slot.1
        } else {
            let c = self.local.len() as u32;
            let key = Key::new(s);
            self.local.push((h, key.clone()));
            *slot = (h, c, key);
            c
        };
        self.last.clear();
        self.last.push_str(s);
        self.last_code = Some(code);
        code
    }

    /// Interns the chunk's values (each shard locked once) and rewrites
    /// `codes`, local codes from [`Memo::code`], into the interner's
    /// provisional codes. The memo is empty afterwards.
    pub fn resolve(&mut self, codes: &mut [u32], interner: &Interner) {
        let local = std::mem::take(&mut self.local);
        *self = Memo::default();
        if local.is_empty() {
            return;
        }
        let shard_of = |h: u64| ((h >> 40) & ((1 << SHARD_BITS) - 1)) as usize;
        let mut by_shard: Vec<u32> = (0..local.len() as u32).collect();
        by_shard.sort_unstable_by_key(|&k| shard_of(local[k as usize].0));
        let mut global = vec![0u32; local.len()];
        for group in by_shard.chunk_by(|&a, &b| shard_of(local[a as usize].0) == shard_of(local[b as usize].0)) {
            let shard = shard_of(local[group[0] as usize].0);
            let mut map = interner.shards[shard].lock().expect("interner shard");
            for &k in group {
                global[k as usize] = Interner::code_in(&mut map, shard as u32, local[k as usize].1.as_str());
            }
        }
        for c in codes.iter_mut() {
            *c = global[*c as usize];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_follow_byte_order_whatever_the_insertion_order() {
        let words = ["pear", "apple", "Zebra", "apple", "fig", "pear"];
        let i = Interner::default();
        let codes: Vec<u32> = words.iter().map(|w| i.code(w)).collect();
        assert_eq!(codes[1], codes[3]);
        let (dict, remap) = i.finish();
        let ranks: Vec<u32> = codes.iter().map(|&c| remap.rank(c)).collect();
        assert_eq!(dict.len(), 4);
        let names: Vec<&str> = ranks.iter().map(|&r| dict.name(r)).collect();
        assert_eq!(names, words);
        assert_eq!(dict.name(0), "Zebra", "byte order: upper case first");
        assert_eq!(dict.rank("fig"), Some(2));
        assert_eq!(dict.rank("kiwi"), None);
    }
}
