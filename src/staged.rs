//! A large table's rows put in account order in two passes over each
//! column instead of one gather of random reads (docs/performance.md, log
//! entry 87). The first pass reads the column in its old order and writes
//! each value into the new column, in the run of new rows it belongs to (a
//! run is 2¹⁶ new rows, so a task writes a few hundred streams, each in
//! order); the second puts each run's values on their own rows, the run
//! copied aside first: a part of the column small enough to stay in a
//! core's cache. A gather of a column larger than the caches missed them
//! on nearly every row (about 13 ns a read here).

use std::mem::MaybeUninit;

use rayon::prelude::*;

/// New rows per run: a run (1 MiB of 16-byte string views) stays in a
/// core's cache while the second pass moves it.
const RUN_BITS: u32 = 16;

/// Old rows per task of the first pass.
const TASK_ROWS: usize = 1 << 20;

/// How the rows of a table move: made with the order itself
/// ([`Staging::by_account`]), so `dest` is a permutation by construction.
pub struct Staging {
    /// The new row of each old row.
    dest: Vec<u32>,
    /// `counts[t * runs + r]`: the old rows of task `t` whose new row is in
    /// run `r`.
    counts: Vec<u32>,
    runs: usize,
    /// For each row of the column after the first pass, the new row of the
    /// value it holds (`dest` through the first pass).
    placed: Vec<u32>,
}

impl Staging {
    /// The account order of rows with account `codes` (a stable counting
    /// sort: rows keep their order within an account).
    pub fn by_account(codes: &[u32], accounts: usize) -> Staging {
        let mut next = vec![0u32; accounts + 1];
        for &c in codes {
            next[c as usize + 1] += 1;
        }
        for a in 0..accounts {
            next[a + 1] += next[a];
        }
        let dest: Vec<u32> = codes
            .iter()
            .map(|&c| {
                let d = next[c as usize];
                next[c as usize] += 1;
                d
            })
            .collect();
        let runs = (codes.len() >> RUN_BITS) + 1;
        let counts: Vec<u32> = dest
            .par_chunks(TASK_ROWS)
            .flat_map_iter(|task| {
                let mut k = vec![0u32; runs];
                for &d in task {
                    k[(d >> RUN_BITS) as usize] += 1;
                }
                k
            })
            .collect();
        let mut s = Staging {
            dest,
            counts,
            runs,
            placed: Vec::new(),
        };
        let placed = s.first_pass(&s.dest);
        s.placed = placed;
        s
    }

    /// The first pass: `v`'s values grouped by the run of their new row,
    /// each group where its run is; within a run, task by task, each task's
    /// values in old row order.
    fn first_pass<T: Copy + Send + Sync>(&self, v: &[T]) -> Vec<T> {
        let n = v.len();
        assert_eq!(n, self.dest.len(), "a column of the table staged");
        let tasks = n.div_ceil(TASK_ROWS);
        let mut out: Vec<T> = Vec::with_capacity(n);
        // Each task's part of each run, carved out of the new column in
        // order: run after run, within a run task after task.
        let mut parts: Vec<Vec<&mut [MaybeUninit<T>]>> = (0..tasks).map(|_| Vec::with_capacity(self.runs)).collect();
        let mut rest = &mut out.spare_capacity_mut()[..n];
        for r in 0..self.runs {
            for (t, of_task) in parts.iter_mut().enumerate() {
                let (part, tail) = std::mem::take(&mut rest).split_at_mut(self.counts[t * self.runs + r] as usize);
                of_task.push(part);
                rest = tail;
            }
        }
        parts
            .into_par_iter()
            .zip(v.par_chunks(TASK_ROWS))
            .zip(self.dest.par_chunks(TASK_ROWS))
            .for_each(|((mut parts, values), dest)| {
                let mut at = vec![0usize; self.runs];
                for (&x, &d) in values.iter().zip(dest) {
                    let r = (d >> RUN_BITS) as usize;
                    parts[r][at[r]].write(x);
                    at[r] += 1;
                }
                assert!(
                    at.iter().zip(&parts).all(|(&a, p)| a == p.len()),
                    "every place of a task's runs written"
                );
            });
        // SAFETY: the parts cover the first `n` places of `out` without
        // overlapping, and each task wrote every place of its parts (the
        // assertion above; a task that had not would have panicked there).
        unsafe { out.set_len(n) };
        out
    }

    /// Puts `v` in the new order where it is: the first pass into a new
    /// column, then each run's values put back on their rows of `v`. Only
    /// the first pass's column is new memory, and it is freed before the
    /// next column's: a move into a new column took fresh pages for every
    /// column (docs/performance.md, log entry 91).
    pub fn permute<T: Copy + Send + Sync>(&self, v: &mut [T]) {
        let staged = self.first_pass(v);
        v.par_chunks_mut(1 << RUN_BITS)
            .zip(staged.par_chunks(1 << RUN_BITS))
            .zip(self.placed.par_chunks(1 << RUN_BITS))
            .enumerate()
            .for_each(|(r, ((run, from), placed))| {
                let base = r << RUN_BITS;
                // The run read in order first, a value per cache line, so
                // that its lines come in as a sequential read brings them:
                // the writes below land all over the run, and into lines
                // not yet in the cache each one missed on its own.
                let line = (64 / std::mem::size_of::<T>().max(1)).max(1);
                for i in (0..run.len()).step_by(line) {
                    std::hint::black_box(run[i]);
                }
                for (&x, &d) in from.iter().zip(placed) {
                    run[d as usize - base] = x;
                }
            });
    }

    /// `v` in the new order: the first pass, then each run's values put on
    /// their rows (runs in parallel, each copied aside first).
    pub fn gather<T: Copy + Send + Sync>(&self, v: &[T]) -> Vec<T> {
        let mut out = self.first_pass(v);
        out.par_chunks_mut(1 << RUN_BITS)
            .zip(self.placed.par_chunks(1 << RUN_BITS))
            .enumerate()
            .for_each_init(Vec::new, |aside, (r, (run, placed))| {
                let base = r << RUN_BITS;
                aside.clear();
                aside.extend_from_slice(run);
                for (&x, &d) in aside.iter().zip(placed) {
                    run[d as usize - base] = x;
                }
            });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The two passes give the gather's column, into a new column or where
    /// the column is, for tables smaller than one task and larger than
    /// several, with runs left empty.
    #[test]
    fn staged_is_the_gather() {
        for (n, accounts) in [(0usize, 1usize), (1, 1), (1000, 7), (3 * TASK_ROWS + 12_345, 40_000)] {
            let codes: Vec<u32> = (0..n as u64)
                .map(|i| ((i.wrapping_mul(2_654_435_761) >> 7) % accounts as u64) as u32)
                .collect();
            let s = Staging::by_account(&codes, accounts);
            // The stable sort by account, as a gather would take it.
            let mut rows: Vec<u32> = (0..n as u32).collect();
            rows.sort_by_key(|&j| codes[j as usize]);
            let values: Vec<u64> = (0..n as u64).map(|i| i * 3 + 1).collect();
            let want: Vec<u64> = rows.iter().map(|&j| values[j as usize]).collect();
            assert_eq!(s.gather(&values), want);
            let wide: Vec<u128> = (0..n as u128).map(|i| i << 70 | i).collect();
            assert_eq!(
                s.gather(&wide),
                rows.iter().map(|&j| wide[j as usize]).collect::<Vec<_>>()
            );
            let narrow: Vec<u8> = (0..n).map(|i| i as u8).collect();
            assert_eq!(
                s.gather(&narrow),
                rows.iter().map(|&j| narrow[j as usize]).collect::<Vec<_>>()
            );
            // Moved where they are, the same columns.
            let mut moved = values.clone();
            s.permute(&mut moved);
            assert_eq!(moved, want);
            let mut moved = wide.clone();
            s.permute(&mut moved);
            assert_eq!(moved, rows.iter().map(|&j| wide[j as usize]).collect::<Vec<_>>());
            let mut moved = narrow.clone();
            s.permute(&mut moved);
            assert_eq!(moved, rows.iter().map(|&j| narrow[j as usize]).collect::<Vec<_>>());
        }
    }
}
