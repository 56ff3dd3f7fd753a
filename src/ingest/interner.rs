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
type Shard = std::sync::Mutex<FxHashMap<Box<str>, u32>>;

const SHARD_BITS: u32 = 8;
const INDEX_BITS: u32 = 32 - SHARD_BITS;

impl Default for Interner {
    fn default() -> Self {
        Interner {
            shards: (0..1 << SHARD_BITS).map(|_| Default::default()).collect(),
        }
    }
}

impl Interner {
    /// The provisional code of `s`.
    pub fn code(&self, s: &str) -> u32 {
        use std::hash::BuildHasher;
        // Middle bits pick the shard: the shard's own table uses the low bits
        // (slot) and the top 7 (tag) of the same hash.
        let shard = ((rustc_hash::FxBuildHasher.hash_one(s) >> 40) & ((1 << SHARD_BITS) - 1)) as u32;
        let mut map = self.shards[shard as usize].lock().expect("interner shard");
        if let Some(&i) = map.get(s) {
            return shard << INDEX_BITS | i;
        }
        let i = map.len() as u32;
        assert!(
            i < 1 << INDEX_BITS,
            "more than 16 million distinct values in one interner shard"
        );
        map.insert(s.into(), i);
        shard << INDEX_BITS | i
    }

    /// The dictionary in byte order, and the map from provisional codes to
    /// ranks in it.
    pub fn finish(self) -> (Arc<Dict>, Remap) {
        let mut all: Vec<(Box<str>, u32)> = Vec::new();
        for (s, shard) in self.shards.into_vec().into_iter().enumerate() {
            let map = shard.into_inner().expect("interner shard");
            all.extend(map.into_iter().map(|(k, i)| (k, (s as u32) << INDEX_BITS | i)));
        }
        all.par_sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let mut ranks: Vec<Vec<u32>> = vec![Vec::new(); 1 << SHARD_BITS];
        for (rank, (_, code)) in all.iter().enumerate() {
            let (s, i) = ((code >> INDEX_BITS) as usize, (code & ((1 << INDEX_BITS) - 1)) as usize);
            if ranks[s].len() <= i {
                ranks[s].resize(i + 1, u32::MAX);
            }
            ranks[s][i] = rank as u32;
        }
        let names = all.into_iter().map(|(k, _)| k).collect();
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

/// A chunk's own cache in front of the shared interner: the last value
/// (neighbouring rows repeat accounts) and every value seen in the chunk,
/// so the shared, locked interner sees each value once per chunk.
#[derive(Debug, Default)]
pub struct Memo {
    last: String,
    last_code: Option<u32>,
    seen: FxHashMap<Box<str>, u32>,
}

impl Memo {
    #[inline]
    pub fn code(&mut self, s: &str, interner: &Interner) -> u32 {
        if let Some(c) = self.last_code.filter(|_| self.last == s) {
            return c;
        }
        let code = match self.seen.get(s) {
            Some(&c) => c,
            None => {
                let c = interner.code(s);
                self.seen.insert(s.into(), c);
                c
            }
        };
        self.last.clear();
        self.last.push_str(s);
        self.last_code = Some(code);
        code
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
