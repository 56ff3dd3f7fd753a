//! Text columns backed by polars string arrays, so the ids the ingest
//! validates are already in the form the polars joins and sorts take —
//! no second copy. Everything polars-specific about text columns lives here.

use polars::prelude::*;
use rayon::prelude::*;

use crate::staged::Staging;

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

    /// The rows at `rows`, in that order (a gather of the string views; long
    /// strings keep sharing their buffers).
    pub fn gather(&self, rows: &RowOrder) -> StrCol {
        let rows_of_staged;
        let whole = match (self.ca.chunks().len(), self.ca.null_count()) {
            (1, 0) => self.ca.downcast_get(0),
            _ => None,
        };
        let idx = match (&rows.0, whole) {
            (Order::Rows(idx), _) => idx,
            (Order::Staged(staging), Some(arr)) => {
                // The views in the new order, with the column's buffers: what
                // polars' `take` makes, without its read per row of a view
                // array larger than the caches.
                let views = staging.gather(arr.views());
                // SAFETY: each view is one of `arr`'s, over the same buffers and
                // without nulls (a permutation of them: the same total length).
                let moved = unsafe {
                    StrArray::new_unchecked(
                        ArrowDataType::Utf8View,
                        views.into(),
                        arr.data_buffers().clone(),
                        None,
                        arr.try_total_bytes_len(),
                        arr.total_buffer_len(),
                    )
                };
                return StrCol {
                    ca: StringChunked::with_chunk(PlSmallStr::EMPTY, moved),
                };
            }
            // Not one chunk without nulls (ingest's columns are): the old
            // rows as an index.
            (Order::Staged(staging), None) => {
                let old: Vec<IdxSize> = (0..self.len() as IdxSize).collect();
                rows_of_staged = IdxCa::from_vec(PlSmallStr::EMPTY, staging.gather(&old));
                &rows_of_staged
            }
        };
        let mut out = StrCol {
            ca: self.ca.take(idx).expect("gather rows are within the column"),
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

    /// Row `i`'s 16 bytes as Arrow's string views lay them out: its
    /// length in the low 32 bits, then, for text of at most 12 bytes, the
    /// text itself padded with zeros ([`StrView::raw_is_text`]), else its
    /// first 4 bytes and where the rest is. Two rows of short text are the
    /// same text exactly when their raw views are equal; rows of long text
    /// are the same text only if the low 64 bits (length, first 4 bytes)
    /// are equal.
    #[inline]
    pub fn raw(&self, i: usize) -> u128 {
        self.arr.expect("index into an empty column").views()[i].as_u128()
    }

    /// Whether a [`StrView::raw`] holds its whole text (at most 12 bytes).
    #[inline]
    pub fn raw_is_text(raw: u128) -> bool {
        raw as u32 <= 12
    }
}

/// Row indices bucketed by account rank (a counting sort; rows keep their
/// order within an account).
pub struct ByAccount {
    start: Vec<u32>,
    rows: Vec<u32>,
}

impl ByAccount {
    pub fn new(accounts: usize, n: usize, rank: impl Fn(usize) -> Option<u32>) -> ByAccount {
        let mut start = vec![0u32; accounts + 1];
        for i in 0..n {
            if let Some(r) = rank(i) {
                start[r as usize + 1] += 1;
            }
        }
        for a in 0..accounts {
            start[a + 1] += start[a];
        }
        let mut next = start.clone();
        let mut rows = vec![0u32; start[accounts] as usize];
        for i in 0..n {
            if let Some(r) = rank(i) {
                rows[next[r as usize] as usize] = i as u32;
                next[r as usize] += 1;
            }
        }
        ByAccount { start, rows }
    }

    /// Every bucketed row, account after account.
    pub fn into_rows(self) -> Vec<u32> {
        self.rows
    }

    pub fn of(&self, account: usize) -> &[u32] {
        &self.rows[self.start[account] as usize..self.start[account + 1] as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Raw views: equal for the same short text wherever it sits, holding
    /// the length in the low 32 bits; long texts agree in their low 64
    /// bits when their length and first 4 bytes do.
    #[test]
    fn raw_views_are_equal_exactly_for_the_same_short_text() {
        let texts = [
            "",
            "a",
            "abc",
            "abcd",
            "abcdefghijkl",
            "abcdefghijklm",
            "abcdefghijklmnop",
            "abcdefghijklmnoq",
        ];
        let mut all: Vec<&str> = texts.to_vec();
        all.extend(texts.iter().rev());
        let col = StrCol::from_strs(all.iter().copied());
        let v = col.view();
        for i in 0..all.len() {
            let raw = v.raw(i);
            assert_eq!(raw as u32 as usize, all[i].len());
            assert_eq!(StrView::raw_is_text(raw), all[i].len() <= 12);
            for j in 0..all.len() {
                if StrView::raw_is_text(raw) {
                    assert_eq!(raw == v.raw(j), all[i] == all[j], "{:?} {:?}", all[i], all[j]);
                } else if all[i] == all[j] {
                    assert_eq!(raw as u64, v.raw(j) as u64);
                }
            }
        }
        let (m, q) = (v.raw(6), v.raw(7));
        assert_eq!(m as u64, q as u64, "same length and first bytes");
    }

    /// Lines stay 4 bytes a row until one does not fit 32 bits, and give
    /// the same values either way, through every operation.
    #[test]
    fn lines_widen_only_when_a_line_does_not_fit() {
        let big = 1u64 << 40;
        let mut l = Lines::default();
        [3, 7, 5].iter().for_each(|&x| l.push(x));
        assert!(l.narrow());
        l.map(|x| x + 10);
        assert!(l.narrow());
        assert_eq!(l.iter().collect::<Vec<_>>(), [13, 17, 15]);
        // A map that passes 32 bits in the middle maps every row once.
        let mut m = l.clone();
        m.map(|x| if x == 17 { big } else { x * 2 });
        assert!(!m.narrow());
        assert_eq!(m.iter().collect::<Vec<_>>(), [26, big, 30]);
        // Appending a wide column widens; pushing a wide line widens.
        let mut a = l.clone();
        a.append(m.clone());
        assert_eq!(a.iter().collect::<Vec<_>>(), [13, 17, 15, 26, big, 30]);
        let mut p = l.clone();
        p.push(big + 1);
        assert_eq!((p.narrow(), p.get(3), p.len()), (false, big + 1, 4));
        let mut n = l.clone();
        n.append(l.clone());
        assert!(n.narrow());
        // Reordering and retaining keep the kind and the values.
        let mut g = a.clone();
        g.permute(&RowOrder::new(vec![4, 0]));
        assert_eq!((g.narrow(), g.iter().collect::<Vec<_>>()), (false, vec![big, 13]));
        a.retain(&[false, true, false, false, true, false]);
        assert_eq!(a.iter().collect::<Vec<_>>(), [17, big]);
    }

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
        let moved = col.gather(&RowOrder::new(vec![2, 0, 1]));
        let v = moved.view();
        assert_eq!((v.get(0), v.get(1)), ("z", "x"));
        assert_eq!(v.get(2), "a rather long string beyond twelve bytes");
    }

    /// A staged order moves every kind of column as the list of rows does:
    /// text (short and long, the views over the same buffers), codes, and
    /// one byte a row.
    #[test]
    fn a_staged_order_moves_columns_as_the_rows_do() {
        let n = 5000;
        let codes: Vec<u32> = (0..n as u32).map(|i| (i * 7919) % 613).collect();
        let texts: Vec<String> = (0..n)
            .map(|i| {
                if i % 3 == 0 {
                    format!("a long id beyond twelve bytes {i}")
                } else {
                    format!("s{i}")
                }
            })
            .collect();
        let col = StrCol::from_strs(texts.iter().map(String::as_str));
        let flags: Vec<bool> = (0..n).map(|i| i % 5 == 0).collect();
        let listed = RowOrder::by_account_staged_from(&codes, 613, usize::MAX).unwrap();
        let staged = RowOrder::by_account_staged_from(&codes, 613, 0).unwrap();
        assert!(matches!(listed.0, Order::Rows(_)) && matches!(staged.0, Order::Staged(_)));
        let (a, b) = (col.gather(&listed), col.gather(&staged));
        let (va, vb) = (a.view(), b.view());
        assert!((0..n).all(|i| va.get(i) == vb.get(i)));
        // A column of two chunks is moved through the list of rows.
        let mut halves = StrCol::from_strs(texts[..n / 2].iter().map(String::as_str));
        halves.append(StrCol::from_strs(texts[n / 2..].iter().map(String::as_str)));
        let c = halves.gather(&staged);
        let vc = c.view();
        assert!((0..n).all(|i| va.get(i) == vc.get(i)));
        assert!((1..n).all(|i| codes_of(&codes, &texts, va.get(i - 1)) <= codes_of(&codes, &texts, va.get(i))));
        assert_eq!(listed.gather(&codes), staged.gather(&codes));
        assert_eq!(listed.gather(&flags), staged.gather(&flags));
        // Moved where they are, by either order, the same columns.
        for order in [&listed, &staged] {
            let (mut c, mut f) = (codes.clone(), flags.clone());
            order.permute(&mut c);
            order.permute(&mut f);
            assert_eq!((c, f), (listed.gather(&codes), listed.gather(&flags)));
            let mut lines = Lines::default();
            (0..n as u64).for_each(|l| lines.push(l * 3 + 2));
            lines.permute(order);
            let want = listed.gather(&(0..n as u64).map(|l| l * 3 + 2).collect::<Vec<_>>());
            assert!((0..n).all(|i| lines.get(i) == want[i]));
        }
    }

    /// The account code of the row whose text is `t`.
    fn codes_of(codes: &[u32], texts: &[String], t: &str) -> u32 {
        codes[texts.iter().position(|x| x == t).unwrap()]
    }
}

/// A new order of a table's rows, for all of its columns.
pub struct RowOrder(Order);

enum Order {
    /// The old row of each new row, held as polars' index column, which
    /// every text column's gather takes as it is: one list of the order for
    /// all of a table's columns, not a copy per text column (200 MB of
    /// copies at 10M orders; docs/performance.md, log entry 73).
    Rows(IdxCa),
    /// A large table's order in two passes per column ([`Staging`]).
    Staged(Staging),
}

/// Tables of at least this many rows are put in order through a
/// [`Staging`]: their columns of 8 and 16 bytes a row are larger than the
/// caches, and the two passes beat the gather's reads (10M orders: 2M
/// unsubscriptions staged too, 0.24 → 0.17 s; at 1M orders the gather is
/// the quicker; docs/performance.md, log entry 87).
const STAGED_ROWS: usize = 3 << 19;

impl RowOrder {
    /// The order `rows` (each below the table's length).
    pub fn new(rows: Vec<u32>) -> RowOrder {
        // polars' row indices are u32 (its `bigidx` feature is off), so the
        // list becomes the index column without a copy.
        let rows: Vec<IdxSize> = rows;
        RowOrder(Order::Rows(IdxCa::from_vec(PlSmallStr::EMPTY, rows)))
    }

    /// Account order for rows with account `codes` (ranks below
    /// `accounts`): a stable counting sort. None when already in order.
    pub fn by_account(codes: &[u32], accounts: usize) -> Option<RowOrder> {
        RowOrder::by_account_staged_from(codes, accounts, STAGED_ROWS)
    }

    /// [`RowOrder::by_account`], staged from `staged_rows` rows.
    fn by_account_staged_from(codes: &[u32], accounts: usize, staged_rows: usize) -> Option<RowOrder> {
        if codes.windows(2).all(|w| w[0] <= w[1]) {
            return None;
        }
        Some(if codes.len() < staged_rows {
            RowOrder::new(ByAccount::new(accounts, codes.len(), |i| Some(codes[i])).into_rows())
        } else {
            RowOrder(Order::Staged(Staging::by_account(codes, accounts)))
        })
    }

    /// Whether the order moves each column in two passes ([`Staging`]).
    pub fn is_staged(&self) -> bool {
        matches!(self.0, Order::Staged(_))
    }

    /// Puts `v` (a column of the table) in this order: a staged order moves
    /// it where it is ([`Staging::permute`]), a list of rows gathers it
    /// into a new column.
    pub fn permute<T: Copy + Send + Sync>(&self, v: &mut Vec<T>) {
        match &self.0 {
            Order::Rows(_) => *v = self.gather(v),
            Order::Staged(s) => s.permute(v),
        }
    }

    /// `v` (a column of the table) in this order.
    pub fn gather<T: Copy + Send + Sync>(&self, v: &[T]) -> Vec<T> {
        match &self.0 {
            Order::Rows(idx) => {
                let rows = idx.cont_slice().expect("an order is one chunk without nulls");
                rows.par_iter().map(|&r| v[r as usize]).collect()
            }
            Order::Staged(s) => s.gather(v),
        }
    }
}

/// Keeps the elements whose flag is true.
pub(crate) fn retain<T>(v: &mut Vec<T>, keep: &[bool]) {
    let mut i = 0;
    v.retain(|_| {
        i += 1;
        keep[i - 1]
    });
}

/// Distinct values in byte order; a value's rank is its index.
#[derive(Debug, Default)]
pub struct Dict {
    names: Vec<Box<str>>,
}

impl Dict {
    /// A dictionary of `names`: distinct, in byte order.
    pub(crate) fn from_sorted(names: Vec<Box<str>>) -> Dict {
        debug_assert!(names.windows(2).all(|w| w[0].as_bytes() < w[1].as_bytes()));
        Dict { names }
    }

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

    /// Replaces provisional codes by their ranks in `dict`.
    pub fn finish(&mut self, dict: &std::sync::Arc<Dict>, rank: impl Fn(u32) -> u32 + Sync) {
        self.codes.par_iter_mut().for_each(|c| *c = rank(*c));
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

/// A column of optional instants in 8 bytes a row instead of
/// `Option<Micros>`'s 16: no instant is [`OptTimes::NONE`] (`i64::MIN`
/// microseconds is about 290,000 years before 1970, and timestamps are
/// read for years 0–9999 only), so it stands for an empty cell
/// (docs/performance.md, log entry 53).
#[derive(Debug, Default, Clone)]
pub struct OptTimes {
    pub(crate) at: Vec<crate::time::Micros>,
}

impl OptTimes {
    pub const NONE: crate::time::Micros = i64::MIN;

    pub fn with_capacity(n: usize) -> Self {
        OptTimes {
            at: Vec::with_capacity(n),
        }
    }

    /// Row `i`'s instant, if the cell was given.
    #[inline]
    pub fn get(&self, i: usize) -> Option<crate::time::Micros> {
        let t = self.at[i];
        (t != Self::NONE).then_some(t)
    }

    #[inline]
    pub fn push(&mut self, t: Option<crate::time::Micros>) {
        debug_assert_ne!(t, Some(Self::NONE), "no instant is OptTimes::NONE");
        self.at.push(t.unwrap_or(Self::NONE));
    }

    pub fn len(&self) -> usize {
        self.at.len()
    }

    pub fn is_empty(&self) -> bool {
        self.at.is_empty()
    }

    /// The latest instant given, if any.
    pub fn max(&self) -> Option<crate::time::Micros> {
        self.at.par_iter().copied().filter(|&t| t != Self::NONE).max()
    }
}

/// The physical line of each row of a table, in 4 bytes a row while every
/// line fits 32 bits, in 8 once one does not (a file past 2³² lines, or a
/// mapping's files, whose lines carry the file: `file << ORIGIN_BITS |
/// line`). 92 MB less at 10M orders (docs/performance.md, log entry 56).
#[derive(Debug, Clone)]
pub enum Lines {
    Narrow(Vec<u32>),
    Wide(Vec<u64>),
}

impl Default for Lines {
    fn default() -> Self {
        Lines::Narrow(Vec::new())
    }
}

impl Lines {
    pub fn with_capacity(n: usize) -> Self {
        Lines::Narrow(Vec::with_capacity(n))
    }

    pub fn len(&self) -> usize {
        match self {
            Lines::Narrow(v) => v.len(),
            Lines::Wide(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Row `i`'s line.
    #[inline]
    pub fn get(&self, i: usize) -> u64 {
        match self {
            Lines::Narrow(v) => u64::from(v[i]),
            Lines::Wide(v) => v[i],
        }
    }

    /// The lines in row order.
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    /// Whether every line fits 32 bits.
    pub fn narrow(&self) -> bool {
        matches!(self, Lines::Narrow(_))
    }

    fn widen(&mut self) -> &mut Vec<u64> {
        if let Lines::Narrow(v) = self {
            *self = Lines::Wide(v.iter().map(|&l| u64::from(l)).collect());
        }
        match self {
            Lines::Wide(v) => v,
            Lines::Narrow(_) => unreachable!("widened above"),
        }
    }

    #[inline]
    pub fn push(&mut self, line: u64) {
        match (self, u32::try_from(line)) {
            (Lines::Narrow(v), Ok(l)) => v.push(l),
            (this, _) => this.widen().push(line),
        }
    }

    pub fn reserve(&mut self, n: usize) {
        match self {
            Lines::Narrow(v) => v.reserve(n),
            Lines::Wide(v) => v.reserve(n),
        }
    }

    /// Appends `other`'s lines.
    pub fn append(&mut self, other: Lines) {
        match (&mut *self, other) {
            (Lines::Narrow(v), Lines::Narrow(mut w)) => v.append(&mut w),
            (this, other) => {
                let v = this.widen();
                v.extend(other.iter());
            }
        }
    }

    /// Replaces each line `l` by `f(l)`.
    pub fn map(&mut self, mut f: impl FnMut(u64) -> u64) {
        let wide = match self {
            Lines::Wide(v) => {
                v.iter_mut().for_each(|l| *l = f(*l));
                return;
            }
            Lines::Narrow(v) => {
                let Some(i) = v.iter_mut().position(|l| match u32::try_from(f(u64::from(*l))) {
                    Ok(n) => {
                        *l = n;
                        false
                    }
                    Err(_) => true,
                }) else {
                    return;
                };
                // Rows before `i` are mapped already; `i` on are not.
                let mut w: Vec<u64> = Vec::with_capacity(v.len());
                w.extend(v[..i].iter().map(|&l| u64::from(l)));
                w.extend(v[i..].iter().map(|&l| f(u64::from(l))));
                w
            }
        };
        *self = Lines::Wide(wide);
    }

    /// Keeps the rows where `keep` is true.
    pub fn retain(&mut self, keep: &[bool]) {
        match self {
            Lines::Narrow(v) => retain(v, keep),
            Lines::Wide(v) => retain(v, keep),
        }
    }

    /// Puts the lines in the order `rows` ([`RowOrder::permute`]).
    pub fn permute(&mut self, rows: &RowOrder) {
        match self {
            Lines::Narrow(v) => rows.permute(v),
            Lines::Wide(v) => rows.permute(v),
        }
    }
}
