//! Duplicate ids (docs/inputs.md#decisions): only accepted rows claim an
//! id, and the first row with an id wins; every later one is a reject.

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use super::{Reject, Table};
use crate::columns::StrView;

/// Rejects each accepted row whose id an earlier accepted row has, and
/// drops it from the table (after `finish`).
pub(super) fn reject_duplicates<T: Table>(table: &mut T, rejects: &mut Vec<Reject>) {
    let _dedupe_span = crate::trace::span("ingest: duplicate ids");
    let dups = find_duplicates(table.ids(), table.len());
    if !dups.is_empty() {
        let mut keep = vec![true; table.len()];
        for &(later, first) in &dups {
            keep[later as usize] = false;
            rejects.push(Reject {
                file: String::new(),
                line: table.line(later as usize),
                record_id: table.id(later as usize).to_string(),
                column: T::COLUMNS[T::ID].0.to_string(),
                value: table.id(later as usize).to_string(),
                reason: format!(
                    "duplicate {}: the first row with this id (line {}) is used",
                    T::COLUMNS[T::ID].0,
                    table.line(first as usize)
                ),
            });
        }
        table.retain(&keep);
    }
}

/// For each id that occurs more than once, the later rows and the first
/// row that holds it: `(later_row, first_row)`, sorted by later row.
/// Partitioned by hash so the buckets run in parallel; within a bucket the
/// rows are matched on their 64-bit hash and the text is compared only on
/// a hash match, so the pass stays cache-friendly on tens of millions of
/// ids. The answer does not depend on the thread count.
fn find_duplicates(ids: StrView<'_>, n: usize) -> Vec<(u32, u32)> {
    use std::collections::hash_map::Entry;
    use std::hash::BuildHasher;
    const BUCKETS: usize = 256;
    let step = (n / (rayon::current_num_threads() * 4)).max(1 << 16);
    let parts: Vec<Vec<Vec<(u64, u32)>>> = (0..n.div_ceil(step))
        .into_par_iter()
        .map(|c| {
            // Room for an even share and a little more, so that a bucket
            // rarely grows (it grew by doubling from empty: each row copied
            // about once more, log entry 76).
            let rows = ((c + 1) * step).min(n) - c * step;
            let room = rows / BUCKETS + rows / (BUCKETS * 8) + 16;
            let mut buckets: Vec<Vec<(u64, u32)>> = (0..BUCKETS).map(|_| Vec::with_capacity(room)).collect();
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
    use crate::columns::StrCol;

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
