//! Text columns backed by polars string arrays, so the ids the ingest
//! validates are already in the form the polars joins and sorts take —
//! no second copy. Everything polars-specific about text columns lives here.

use polars::prelude::*;
use rayon::prelude::*;
use rustc_hash::FxHashMap;

type StrArray = <StringType as PolarsDataType>::Array;

/// A column of text cells.
#[derive(Clone)]
pub struct StrCol {
    ca: StringChunked,
}

impl std::fmt::Debug for StrCol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StrCol({} rows)", self.len())
    }
}

impl Default for StrCol {
    fn default() -> Self {
        StrCol {
            ca: StringChunked::from_iter_values(PlSmallStr::EMPTY, std::iter::empty::<&str>()),
        }
    }
}

/// Builds one chunk of a [`StrCol`].
pub struct StrColBuilder(StringChunkedBuilder);

impl std::fmt::Debug for StrColBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StrColBuilder")
    }
}

impl StrColBuilder {
    pub fn new(capacity: usize) -> Self {
        StrColBuilder(StringChunkedBuilder::new(PlSmallStr::EMPTY, capacity))
    }

    #[inline]
    pub fn push(&mut self, s: &str) {
        self.0.append_value(s);
    }

    pub fn finish(self) -> StrCol {
        StrCol { ca: self.0.finish() }
    }
}

impl StrCol {
    #[cfg(test)]
    pub fn from_strs<'a>(values: impl IntoIterator<Item = &'a str>) -> Self {
        StrCol {
            ca: StringChunked::from_iter_values(PlSmallStr::EMPTY, values.into_iter()),
        }
    }

    pub fn len(&self) -> usize {
        self.ca.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ca.is_empty()
    }

    /// Appends the chunks of `other` (cheap: no copy of the text).
    pub fn append(&mut self, other: StrCol) {
        if self.ca.is_empty() {
            self.ca = other.ca;
        } else {
            self.ca.append_owned(other.ca).expect("string columns have one dtype");
        }
    }

    /// Makes the column one contiguous chunk; required before [`StrCol::view`].
    pub fn rechunk(&mut self) {
        if self.ca.chunks().len() != 1 {
            self.ca = self.ca.rechunk().into_owned();
        }
    }

    /// Keeps the rows where `keep` is true.
    pub fn filter(&self, keep: &[bool]) -> StrCol {
        let mask = BooleanChunked::from_slice(PlSmallStr::EMPTY, keep);
        let mut out = StrCol {
            ca: self.ca.filter(&mask).expect("mask has the column's length"),
        };
        out.rechunk();
        out
    }

    /// A cheap borrowed view for indexed access. The column must be rechunked.
    pub fn view(&self) -> StrView<'_> {
        let arr = if self.ca.chunks().is_empty() {
            None
        } else {
            self.ca.downcast_get(0)
        };
        assert!(self.ca.chunks().len() <= 1, "StrCol::view needs a rechunked column");
        StrView { arr }
    }

    /// The column as a polars column with a name.
    pub fn to_column(&self, name: &str) -> Column {
        self.ca.clone().with_name(PlSmallStr::from_str(name)).into_column()
    }
}

/// Indexed access into a rechunked [`StrCol`].
#[derive(Clone, Copy)]
pub struct StrView<'a> {
    arr: Option<&'a StrArray>,
}

impl<'a> StrView<'a> {
    #[inline]
    pub fn get(&self, i: usize) -> &'a str {
        self.arr.expect("index into an empty column").value(i)
    }
}

/// For each id that occurs more than once, the later rows and the first
/// row that holds it: `(later_row, first_row)`, sorted by later row.
/// Partitioned by hash so the buckets run in parallel; within a bucket the
/// rows are matched on their 64-bit hash and the text is compared only on
/// a hash match, so the pass stays cache-friendly on tens of millions of
/// ids. The answer does not depend on the thread count.
pub fn find_duplicates(ids: StrView<'_>, n: usize) -> Vec<(u32, u32)> {
    use std::collections::hash_map::Entry;
    use std::hash::BuildHasher;
    const BUCKETS: usize = 256;
    let step = (n / (rayon::current_num_threads() * 4)).max(1 << 16);
    let parts: Vec<Vec<Vec<(u64, u32)>>> = (0..n.div_ceil(step))
        .into_par_iter()
        .map(|c| {
            let mut buckets = vec![Vec::new(); BUCKETS];
            for r in c * step..((c + 1) * step).min(n) {
                let h = rustc_hash::FxBuildHasher.hash_one(ids.get(r));
                buckets[(h >> 56) as usize % BUCKETS].push((h, r as u32));
            }
            buckets
        })
        .collect();
    let mut dups: Vec<(u32, u32)> = (0..BUCKETS)
        .into_par_iter()
        .flat_map_iter(|b| {
            let len: usize = parts.iter().map(|p| p[b].len()).sum();
            let mut first: FxHashMap<u64, u32> = FxHashMap::default();
            first.reserve(len);
            // Distinct ids whose hashes collide: matched on their text.
            let mut collided: FxHashMap<&str, u32> = FxHashMap::default();
            let mut out = Vec::new();
            for part in &parts {
                for &(h, r) in &part[b] {
                    match first.entry(h) {
                        Entry::Vacant(v) => {
                            v.insert(r);
                        }
                        Entry::Occupied(e) => {
                            let f = *e.get();
                            let id = ids.get(r as usize);
                            if ids.get(f as usize) == id {
                                out.push((r, f));
                            } else {
                                match collided.entry(id) {
                                    Entry::Occupied(e) => out.push((r, *e.get())),
                                    Entry::Vacant(v) => {
                                        v.insert(r);
                                    }
                                }
                            }
                        }
                    }
                }
            }
            out
        })
        .collect();
    dups.sort_unstable();
    dups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_append_and_view() {
        let mut a = StrColBuilder::new(2);
        a.push("x");
        a.push("a rather long string beyond twelve bytes");
        let mut b = StrColBuilder::new(1);
        b.push("z");
        let mut col = a.finish();
        col.append(b.finish());
        col.rechunk();
        let v = col.view();
        assert_eq!(col.len(), 3);
        assert_eq!(v.get(1), "a rather long string beyond twelve bytes");
        assert_eq!(v.get(2), "z");
        let kept = col.filter(&[true, false, true]);
        assert_eq!(kept.view().get(1), "z");
    }

    #[test]
    fn duplicates_point_at_the_first_row() {
        let col = StrCol::from_strs(["a", "b", "a", "c", "b", "a"]);
        assert_eq!(find_duplicates(col.view(), 6), vec![(2, 0), (4, 1), (5, 0)]);
        let many: Vec<String> = (0..200_000).map(|i| format!("id{}", i % 150_000)).collect();
        let col = StrCol::from_strs(many.iter().map(String::as_str));
        let d = find_duplicates(col.view(), many.len());
        assert_eq!(d.len(), 50_000);
        assert!(d.iter().all(|&(later, first)| later == first + 150_000));
    }
}

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
    pub fn finish(self) -> (std::sync::Arc<Dict>, Remap) {
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
        (std::sync::Arc::new(Dict { names }), Remap { ranks })
    }
}

/// Distinct values in byte order; a value's rank is its index.
#[derive(Debug, Default)]
pub struct Dict {
    names: Vec<Box<str>>,
}

impl Dict {
    pub fn name(&self, rank: u32) -> &str {
        &self.names[rank as usize]
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The rank of a value, if present.
    pub fn rank(&self, s: &str) -> Option<u32> {
        self.names
            .binary_search_by(|n| n.as_bytes().cmp(s.as_bytes()))
            .ok()
            .map(|i| i as u32)
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

/// A column of interned text: a rank per row into a shared [`Dict`].
#[derive(Debug, Default, Clone)]
pub struct CodeCol {
    pub codes: Vec<u32>,
    dict: std::sync::Arc<Dict>,
}

impl CodeCol {
    pub fn with_capacity(n: usize) -> Self {
        CodeCol {
            codes: Vec::with_capacity(n),
            dict: Default::default(),
        }
    }

    /// Replaces provisional codes by ranks in `dict`.
    pub fn finish(&mut self, remap: &Remap, dict: &std::sync::Arc<Dict>) {
        self.codes.par_iter_mut().for_each(|c| *c = remap.rank(*c));
        self.dict = dict.clone();
    }

    pub fn view(&self) -> CodeView<'_> {
        CodeView {
            codes: &self.codes,
            dict: &self.dict,
        }
    }

    pub fn dict(&self) -> &std::sync::Arc<Dict> {
        &self.dict
    }
}

/// Indexed access into a finished [`CodeCol`].
#[derive(Clone, Copy)]
pub struct CodeView<'a> {
    codes: &'a [u32],
    dict: &'a Dict,
}

impl<'a> CodeView<'a> {
    #[inline]
    pub fn get(&self, i: usize) -> &'a str {
        self.dict.name(self.codes[i])
    }

    /// The rank: equal ranks are equal text; ranks order like the text.
    #[inline]
    pub fn code(&self, i: usize) -> u32 {
        self.codes[i]
    }
}

#[cfg(test)]
mod interner_tests {
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
