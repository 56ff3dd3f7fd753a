//! The dictionaries of text shared by many rows (account ids, products,
//! payment methods), filled while chunks are parsed in parallel, and each
//! chunk's cache in front of them. Only loading uses them: once the three
//! files are read, [`Interner::finish`] gives the byte-ordered [`Dict`] of
//! the finished [`CodeCol`](crate::columns::CodeCol)s.

use std::sync::Arc;

use rayon::prelude::*;

use crate::columns::{ByAccount, Dict};

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
type Shard = std::sync::Mutex<Slots>;

/// A shard's dictionary: open addressing with linear probing on the
/// value's hash, the text in the slot, so that a batch of lookups can ask
/// for each one's first slot ahead of time ([`Slots::prefetch`]). With a
/// million accounts the dictionary is far larger than the caches and each
/// lookup's first read of its slot missed them (perf, 10M: three quarters
/// of the lookup's time; docs/performance.md, log entry 63).
#[derive(Default)]
struct Slots {
    /// A power of two long (or empty), at most [`Slots::MAX_LOAD`] full.
    slots: Vec<Slot>,
    len: usize,
}

/// One slot of [`Slots`]; `index == EMPTY` when unused.
#[derive(Clone)]
struct Slot {
    hash: u64,
    index: u32,
    key: Key,
}

const EMPTY: u32 = u32::MAX;

impl Slots {
    /// Fullness past which the table doubles, in tenths.
    const MAX_LOAD: usize = 7;

    /// The index of `s` (hash `h`), added as the next index when new.
    fn index_of(&mut self, h: u64, s: &str) -> u32 {
        if (self.len + 1) * 10 > self.slots.len() * Self::MAX_LOAD {
            self.grow();
        }
        let mask = self.slots.len() - 1;
        let mut i = h as usize & mask;
        loop {
            let slot = &self.slots[i];
            if slot.index == EMPTY {
                assert!(
                    self.len < 1 << INDEX_BITS,
                    "more than 16 million distinct values in one interner shard"
                );
                let index = self.len as u32;
                self.slots[i] = Slot {
                    hash: h,
                    index,
                    key: Key::new(s),
                };
                self.len += 1;
                return index;
            }
            if slot.hash == h && slot.key.as_str() == s {
                return slot.index;
            }
            i = (i + 1) & mask;
        }
    }

    /// Asks the CPU to fetch the slot a lookup of hash `h` reads first.
    #[inline]
    fn prefetch(&self, h: u64) {
        if let Some(slot) = self.slots.get(h as usize & self.slots.len().wrapping_sub(1)) {
            prefetch(slot);
        }
    }

    fn grow(&mut self) {
        let cap = (self.slots.len() * 2).max(16);
        let empty = Slot {
            hash: 0,
            index: EMPTY,
            key: Key::Inline {
                len: 0,
                bytes: [0; INLINE],
            },
        };
        let old = std::mem::replace(&mut self.slots, vec![empty; cap]);
        let mask = cap - 1;
        for slot in old.into_iter().filter(|s| s.index != EMPTY) {
            let mut i = slot.hash as usize & mask;
            while self.slots[i].index != EMPTY {
                i = (i + 1) & mask;
            }
            self.slots[i] = slot;
        }
    }

    /// Every (text, index), in no particular order.
    fn into_entries(self) -> impl Iterator<Item = (Key, u32)> {
        self.slots
            .into_iter()
            .filter(|s| s.index != EMPTY)
            .map(|s| (s.key, s.index))
    }
}

/// A hint to bring `slot`'s cache line in; nothing on other targets.
#[inline]
fn prefetch(slot: &Slot) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults and reads nothing into the program;
    // the pointer comes from a live reference.
    unsafe {
        std::arch::x86_64::_mm_prefetch((slot as *const Slot).cast::<i8>(), std::arch::x86_64::_MM_HINT_T0);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = slot;
}

const SHARD_BITS: u32 = 8;
const INDEX_BITS: u32 = 32 - SHARD_BITS;

/// The bytes a [`Key`] holds in place.
const INLINE: usize = 22;

/// Interned text in a dictionary slot: in place when short (ids are), so
/// a lookup compares it without reading a second allocation — with a million
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
        // Middle bits pick the shard: the shard's own table uses the low bits.
        let shard = ((h >> 40) & ((1 << SHARD_BITS) - 1)) as u32;
        let mut map = self.shards[shard as usize].lock().expect("interner shard");
        Interner::code_in(&mut map, shard, h, s)
    }

    /// The provisional code of `s` (hash `h`) in shard `shard`, whose
    /// dictionary is `map`.
    fn code_in(map: &mut Slots, shard: u32, h: u64, s: &str) -> u32 {
        shard << INDEX_BITS | map.index_of(h, s)
    }

    /// The dictionary in byte order, and the map from provisional codes to
    /// ranks in it.
    pub fn finish(self) -> (Arc<Dict>, Remap) {
        let mut all: Vec<(Key, u32)> = Vec::new();
        for (s, shard) in self.shards.into_vec().into_iter().enumerate() {
            let map = shard.into_inner().expect("interner shard");
            all.extend(map.into_entries().map(|(k, i)| (k, (s as u32) << INDEX_BITS | i)));
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
    /// The slot of the last value asked for (it stays there until the
    /// next value is asked for): compared in place, not copied per row.
    last: Option<usize>,
    /// `(hash, local code, text)`, indexed by the hash's low bits; empty
    /// until the first value.
    slots: Vec<(u64, u32, Key)>,
    /// The chunk's values by local code: `(hash, text)` (a value evicted
    /// from `slots` and seen again gets a second code; both resolve alike).
    local: Vec<(u64, Key)>,
}

impl Memo {
    /// Room for a chunk of `rows` rows: as many values at most (an
    /// account column's are nearly all new to the chunk).
    pub fn reserve(&mut self, rows: usize) {
        self.local.reserve(rows);
    }

    /// The chunk-local code of `s`.
    #[inline]
    pub fn code(&mut self, s: &str) -> u32 {
        if let Some(last) = self.last {
            let (_, code, key) = &self.slots[last];
            if key.as_str() == s {
                return *code;
            }
        }
        let h = hash(s);
        if self.slots.is_empty() {
            self.slots = vec![(0, u32::MAX, Key::new("")); MEMO_SLOTS];
        }
        let at = h as usize & (MEMO_SLOTS - 1);
        let slot = &mut self.slots[at];
        let code = if slot.1 != u32::MAX && slot.0 == h && slot.2.as_str() == s {
            slot.1
        } else {
            let c = self.local.len() as u32;
            let key = Key::new(s);
            self.local.push((h, key.clone()));
            *slot = (h, c, key);
            c
        };
        self.last = Some(at);
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
        // The local values grouped by shard: the stable counting sort that
        // puts rows in account order, over the shards instead of a
        // comparison sort of the chunk's values.
        let by_shard = ByAccount::new(1 << SHARD_BITS, local.len(), |k| Some(shard_of(local[k].0) as u32)).into_rows();
        let mut global = vec![0u32; local.len()];
        for group in by_shard.chunk_by(|&a, &b| shard_of(local[a as usize].0) == shard_of(local[b as usize].0)) {
            let shard = shard_of(local[group[0] as usize].0);
            let mut map = interner.shards[shard].lock().expect("interner shard");
            // Each lookup's first slot asked for a few lookups ahead, so
            // their cache misses overlap instead of following each other.
            const AHEAD: usize = 8;
            for &k in group.iter().take(AHEAD) {
                map.prefetch(local[k as usize].0);
            }
            for (n, &k) in group.iter().enumerate() {
                if let Some(&next) = group.get(n + AHEAD) {
                    map.prefetch(local[next as usize].0);
                }
                let (h, key) = &local[k as usize];
                global[k as usize] = Interner::code_in(&mut map, shard as u32, *h, key.as_str());
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

    /// Within a chunk: a value repeated on the next row, and a value whose
    /// memo slot another value took in between (same slot, other text),
    /// each resolve to the one code their text has; the other value to
    /// its own.
    #[test]
    fn a_memo_gives_repeats_and_evicted_values_their_one_code() {
        let slot = |s: &str| hash(s) as usize & (MEMO_SLOTS - 1);
        let rival = (0..)
            .map(|i| format!("B{i:07}"))
            .find(|s| slot(s) == slot("A0000001"))
            .expect("some id shares the slot");
        let rows = [
            "A0000001",
            "A0000001",
            rival.as_str(),
            "A0000001",
            "A0000001",
            "C0000002",
        ];
        let interner = Interner::default();
        let mut memo = Memo::default();
        let mut codes: Vec<u32> = rows.iter().map(|s| memo.code(s)).collect();
        memo.resolve(&mut codes, &interner);
        assert_eq!([codes[1], codes[3], codes[4]], [codes[0]; 3]);
        assert_ne!(codes[2], codes[0]);
        assert_ne!(codes[5], codes[0]);
        assert_eq!(interner.code("A0000001"), codes[0]);
        assert_eq!(interner.code(&rival), codes[2]);
    }

    /// Through chunk memos and batched lookups, past many doublings of
    /// every shard's table and with long (heap) keys among short ones:
    /// equal text gets one code, different text different codes, and the
    /// dictionary holds each once.
    #[test]
    fn batched_lookups_across_growth_give_one_code_per_value() {
        let interner = Interner::default();
        let text = |i: usize| {
            if i.is_multiple_of(7) {
                format!("a-long-account-identifier-{i:08}")
            } else {
                format!("A{i:07}")
            }
        };
        let n = 50_000;
        let mut first = Vec::new();
        for round in 0..2 {
            let mut codes = Vec::new();
            for chunk in (0..n).collect::<Vec<_>>().chunks(3_001) {
                let mut memo = Memo::default();
                let mut local: Vec<u32> = chunk
                    .iter()
                    .map(|&i| memo.code(&text(if round == 0 { i } else { n - 1 - i })))
                    .collect();
                memo.resolve(&mut local, &interner);
                codes.extend(local);
            }
            if round == 1 {
                codes.reverse();
            }
            if round == 0 {
                first = codes;
            } else {
                assert_eq!(codes, first, "the second pass finds every value's code");
            }
        }
        let distinct: std::collections::HashSet<u32> = first.iter().copied().collect();
        assert_eq!(distinct.len(), n);
        let (dict, remap) = interner.finish();
        assert_eq!(dict.len(), n);
        for (i, &c) in first.iter().enumerate() {
            assert_eq!(dict.name(remap.rank(c)), text(i));
        }
    }
}
