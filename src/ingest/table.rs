//! One declaration per export: [`declare_table!`] turns a list of columns
//! into the column store and everything about it that is the same for
//! every export — the struct with one field per column of docs/inputs.md
//! (plus `line`), the header list `Table::COLUMNS` in that doc's order
//! (which is also the order in which rejects name the first failing
//! column), an index constant per column (`col::amount`), the row type
//! that validation hands over, and the [`Table`] operations:
//! `with_capacity`, `reserve`, `push_row`'s storage half, `append`,
//! `finish`, `retain`.
//!
//! What a column does in those operations depends only on its type, through
//! [`Column`]: a `Vec<T>` of parsed values, a [`StrCol`] of text (built in
//! a polars string builder per chunk), a [`CodeCol`] of interned text (a
//! code per row through the chunk's [`Memo`], declared with the
//! [`RowCtx`] dictionary it uses: `= accounts`). So a column is named once,
//! and no operation can leave one out (a `retain` that missed a column
//! would silently misalign the rows).
//!
//! The validation stays hand-written per export, as the domain logic it is:
//! each table module implements `fn parse(cells, ctx) -> Result<ParsedRow, _>`,
//! checking the cells in the order of docs/inputs.md (so the first failing
//! column is the one rejected) and returning the row's values; the compiler
//! checks that the returned `ParsedRow` has every column.

use crate::columns::{retain, CodeCol, Lines, OptTimes, RowOrder, StrCol, StrColBuilder, StrView};
use crate::time::Micros;

use super::interner::{Interner, Memo};
use super::{RowCtx, RowError};

/// An export whose rows become typed columns. Implemented by
/// `declare_table!` for [`Orders`](super::Orders),
/// [`Payments`](super::Payments) and
/// [`Unsubscriptions`](super::Unsubscriptions).
pub trait Table: Sized + Send {
    /// The file name in rejects.csv and messages.
    const FILE: &'static str;
    /// The command-line flag that overrides the file's path.
    const FLAG: &'static str;
    /// docs/inputs.md columns in table order: (name, must exist in the header).
    const COLUMNS: &'static [(&'static str, bool)];
    /// Index in `COLUMNS` of the record's id.
    const ID: usize;

    fn with_capacity(rows: usize) -> Self;
    /// Makes room for `rows` more rows.
    fn reserve(&mut self, rows: usize);
    /// Validates one row's trimmed cells (indexed like `COLUMNS`; an absent
    /// optional column is an empty cell) and appends it with its line.
    fn push_row(&mut self, cells: &[&str], line: u64, ctx: &RowCtx<'_>) -> Result<(), RowError>;
    /// After a chunk's last `push_row`: interns the chunk's shared text in
    /// one batch (before the chunk is appended to another).
    fn resolve(&mut self, ctx: &RowCtx<'_>);
    /// Appends another chunk's rows.
    fn append(&mut self, other: Self);
    /// Called once after the last chunk: make columns contiguous.
    fn finish(&mut self);
    /// Keeps the rows where `keep` is true (after `finish`).
    fn retain(&mut self, keep: &[bool]);
    /// Reorders the rows (after `finish`) into the order `rows`, a
    /// permutation.
    fn gather(&mut self, rows: &RowOrder);
    /// Physical line of each row.
    fn lines(&self) -> &Lines;
    fn lines_mut(&mut self) -> &mut Lines;
    /// The id column (after `finish`).
    fn ids(&self) -> StrView<'_>;

    fn len(&self) -> usize {
        self.lines().len()
    }
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn id(&self, i: usize) -> &str {
        self.ids().get(i)
    }
    fn line(&self, i: usize) -> u64 {
        self.lines().get(i)
    }
}

/// How one column of a table is stored: what [`declare_table!`] calls for
/// each column, so that the per-column code of the table operations lives
/// here, once per column type.
pub trait Column: Default + std::fmt::Debug + Send {
    /// What a validated row gives the column.
    type Value<'a>;
    /// The column's builder or cache while rows are pushed (`()`: none).
    type State: Default + std::fmt::Debug + Send;
    /// Whether the column is interned: then it is declared with the
    /// dictionary it uses, and [`Column::push`] gets that interner.
    const INTERNED: bool = false;

    /// An empty column for `rows` rows, and its push state.
    fn with_capacity(rows: usize, state: &mut Self::State) -> Self;
    /// Makes room for `rows` more rows.
    fn reserve(&mut self, rows: usize);
    /// Appends one row's value (`interner`: the declared dictionary of an
    /// interned column, else `None`).
    fn push(&mut self, state: &mut Self::State, value: Self::Value<'_>, interner: Option<&Interner>);
    /// Moves what `state` holds into the column.
    fn flush(&mut self, _state: &mut Self::State) {}
    /// At the end of a chunk: turns what the rows' values left pending in
    /// `state` into final values (an interned column's chunk-local codes
    /// into the interner's codes).
    fn resolve(&mut self, _state: &mut Self::State, _interner: Option<&Interner>) {}
    /// Appends another chunk's column (both flushed).
    fn append(&mut self, other: Self);
    /// After the last chunk (flushed): make the column contiguous.
    fn finish(&mut self) {}
    /// Keeps the rows where `keep` is true.
    fn retain(&mut self, keep: &[bool]);
    /// Reorders the rows into the order `rows` (finished columns).
    fn gather(&mut self, rows: &RowOrder);
}

/// Parsed values, one per row.
impl<T: std::fmt::Debug + Copy + Send + Sync> Column for Vec<T> {
    type Value<'a> = T;
    type State = ();

    fn with_capacity(rows: usize, _: &mut ()) -> Self {
        Vec::with_capacity(rows)
    }

    fn reserve(&mut self, rows: usize) {
        Vec::reserve(self, rows);
    }

    #[inline]
    fn push(&mut self, _: &mut (), value: T, _: Option<&Interner>) {
        Vec::push(self, value);
    }

    fn append(&mut self, mut other: Self) {
        Vec::append(self, &mut other);
    }

    fn retain(&mut self, keep: &[bool]) {
        retain(self, keep);
    }

    fn gather(&mut self, rows: &RowOrder) {
        rows.permute(self);
    }
}

/// Text: each chunk's rows go into a polars string builder, which becomes
/// a chunk of the column when the chunk is appended.
impl Column for StrCol {
    type Value<'a> = &'a str;
    type State = Option<StrColBuilder>;

    fn with_capacity(rows: usize, state: &mut Self::State) -> Self {
        *state = Some(StrColBuilder::new(rows));
        StrCol::default()
    }

    fn reserve(&mut self, _rows: usize) {}

    #[inline]
    fn push(&mut self, state: &mut Self::State, value: &str, _: Option<&Interner>) {
        state.get_or_insert_with(|| StrColBuilder::new(16)).push(value);
    }

    fn flush(&mut self, state: &mut Self::State) {
        if let Some(b) = state.take() {
            StrCol::append(self, b.finish());
        }
    }

    fn append(&mut self, other: Self) {
        StrCol::append(self, other);
    }

    fn finish(&mut self) {
        self.rechunk();
    }

    fn retain(&mut self, keep: &[bool]) {
        *self = self.filter(keep);
    }

    fn gather(&mut self, rows: &RowOrder) {
        *self = StrCol::gather(self, rows);
    }
}

/// Interned text: a provisional code per row (ranks once the loader has
/// finished the dictionary), through the chunk's cache.
impl Column for CodeCol {
    type Value<'a> = &'a str;
    type State = Memo;
    const INTERNED: bool = true;

    fn with_capacity(rows: usize, memo: &mut Memo) -> Self {
        memo.reserve(rows);
        CodeCol::with_capacity(rows)
    }

    fn reserve(&mut self, rows: usize) {
        self.codes.reserve(rows);
    }

    #[inline]
    fn push(&mut self, memo: &mut Memo, value: &str, _: Option<&Interner>) {
        self.codes.push(memo.code(value));
    }

    fn resolve(&mut self, memo: &mut Memo, interner: Option<&Interner>) {
        let interner = interner.expect("an interned column is declared with its dictionary");
        memo.resolve(&mut self.codes, interner);
    }

    fn append(&mut self, mut other: Self) {
        self.codes.append(&mut other.codes);
    }

    fn retain(&mut self, keep: &[bool]) {
        retain(&mut self.codes, keep);
    }

    fn gather(&mut self, rows: &RowOrder) {
        rows.permute(&mut self.codes);
    }
}

/// Optional instants, 8 bytes a row.
impl Column for OptTimes {
    type Value<'a> = Option<Micros>;
    type State = ();

    fn with_capacity(rows: usize, _: &mut ()) -> Self {
        OptTimes::with_capacity(rows)
    }

    fn reserve(&mut self, rows: usize) {
        self.at.reserve(rows);
    }

    #[inline]
    fn push(&mut self, _: &mut (), value: Option<Micros>, _: Option<&Interner>) {
        OptTimes::push(self, value);
    }

    fn append(&mut self, mut other: Self) {
        self.at.append(&mut other.at);
    }

    fn retain(&mut self, keep: &[bool]) {
        retain(&mut self.at, keep);
    }

    fn gather(&mut self, rows: &RowOrder) {
        rows.permute(&mut self.at);
    }
}

/// Declares an export's column store, in the module of that export (it
/// defines `ParsedRow`, `State`, `Index` and `col` there). Columns in the
/// order of docs/inputs.md, each
///
/// ```text
/// /// docs
/// required|optional  field: Type [= dictionary],
/// ```
///
/// `required`: the column must be in the header; the field name is the
/// column name in docs/inputs.md; `Type` implements [`Column`]; an interned
/// column (`CodeCol`) names the [`RowCtx`] interner it uses. `id:` names
/// the record's id column (a `StrCol`). The module implements
/// `fn parse<'a>(cells: &[&'a str], ctx: &RowCtx<'_>) -> Result<ParsedRow<'a>, RowError>`
/// for the table; the rest of [`Table`] is generated.
macro_rules! declare_table {
    (@required required) => {
        true
    };
    (@required optional) => {
        false
    };
    (@interner $ctx:ident) => {
        None
    };
    (@interner $ctx:ident $dict:ident) => {
        Some($ctx.$dict)
    };
    (@interned) => {
        false
    };
    (@interned $dict:ident) => {
        true
    };
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            file: $file:literal,
            flag: $flag:literal,
            id: $id:ident,
            columns: {
                $(
                    $(#[$cmeta:meta])*
                    $header:ident $col:ident : $ty:ty $(= $dict:ident)?
                ),+ $(,)?
            }
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Default)]
        pub struct $name {
            $(
                $(#[$cmeta])*
                pub $col: $ty,
            )+
            /// Physical line of each row in the file.
            pub line: $crate::columns::Lines,
            /// Builders and caches while rows are pushed.
            state: State,
        }

        /// Each column's builder or cache while rows are pushed.
        #[derive(Debug, Default)]
        struct State {
            $($col: <$ty as $crate::ingest::table::Column>::State,)+
        }

        /// One validated row: what `parse` hands over for storage.
        struct ParsedRow<'a> {
            $($col: <$ty as $crate::ingest::table::Column>::Value<'a>,)+
        }

        /// The columns in the order of docs/inputs.md; a variant's value is
        /// its index.
        #[allow(non_camel_case_types)]
        enum Index {
            $($col,)+
        }

        /// Each column's index in `COLUMNS`, as `RowError`s name it.
        #[allow(non_upper_case_globals)]
        mod col {
            $(pub const $col: usize = super::Index::$col as usize;)+
        }

        $(
            const _: () = assert!(
                <$ty as $crate::ingest::table::Column>::INTERNED
                    == $crate::ingest::table::declare_table!(@interned $($dict)?),
                concat!(
                    "column ",
                    stringify!($col),
                    ": a CodeCol names its dictionary (`= accounts`), and no other column type takes one"
                ),
            );
        )+

        const _: () = assert!(
            <$name as $crate::ingest::Table>::COLUMNS.len() <= $crate::ingest::MAX_COLUMNS,
            "more columns than ingest::MAX_COLUMNS"
        );

        impl $name {
            /// Moves every column's builder into the column.
            fn flush(&mut self) {
                $($crate::ingest::table::Column::flush(&mut self.$col, &mut self.state.$col);)+
            }
        }

        impl $crate::ingest::Table for $name {
            const FILE: &'static str = $file;
            const FLAG: &'static str = $flag;
            const COLUMNS: &'static [(&'static str, bool)] = &[
                $((stringify!($col), $crate::ingest::table::declare_table!(@required $header)),)+
            ];
            const ID: usize = col::$id;

            fn with_capacity(rows: usize) -> Self {
                let mut state = State::default();
                $name {
                    $($col: $crate::ingest::table::Column::with_capacity(rows, &mut state.$col),)+
                    line: $crate::columns::Lines::with_capacity(rows),
                    state,
                }
            }

            fn reserve(&mut self, rows: usize) {
                $($crate::ingest::table::Column::reserve(&mut self.$col, rows);)+
                self.line.reserve(rows);
            }

            fn push_row(
                &mut self,
                cells: &[&str],
                line: u64,
                ctx: &$crate::ingest::RowCtx<'_>,
            ) -> Result<(), $crate::ingest::RowError> {
                let row = Self::parse(cells, ctx)?;
                $(
                    $crate::ingest::table::Column::push(
                        &mut self.$col,
                        &mut self.state.$col,
                        row.$col,
                        $crate::ingest::table::declare_table!(@interner ctx $($dict)?),
                    );
                )+
                self.line.push(line);
                Ok(())
            }

            fn resolve(&mut self, ctx: &$crate::ingest::RowCtx<'_>) {
                let _ = ctx;
                $(
                    $crate::ingest::table::Column::resolve(
                        &mut self.$col,
                        &mut self.state.$col,
                        $crate::ingest::table::declare_table!(@interner ctx $($dict)?),
                    );
                )+
            }

            fn append(&mut self, mut other: Self) {
                other.flush();
                self.flush();
                $($crate::ingest::table::Column::append(&mut self.$col, other.$col);)+
                self.line.append(std::mem::take(&mut other.line));
            }

            fn finish(&mut self) {
                self.flush();
                // The columns at once: a text column's chunks copied into one
                // is a serial pass over its rows, and the last export's end
                // of the parse waited for them one after another (0.6 s at
                // 10M orders; docs/performance.md, log entry 68).
                rayon::scope(|s| {
                    $(
                        let column = &mut self.$col;
                        s.spawn(move |_| $crate::ingest::table::Column::finish(column));
                    )+
                });
            }

            fn retain(&mut self, keep: &[bool]) {
                $($crate::ingest::table::Column::retain(&mut self.$col, keep);)+
                self.line.retain(keep);
            }

            /// Every column at once: a text column's gather (polars'
            /// `take`) runs on one thread, and each column's is bound by
            /// memory more than by CPU (docs/performance.md, log entry 33).
            fn gather(&mut self, rows: &$crate::columns::RowOrder) {
                let $name { $($col,)+ line, .. } = self;
                rayon::scope(|s| {
                    $(s.spawn(move |_| $crate::ingest::table::Column::gather($col, rows));)+
                    s.spawn(move |_| line.permute(rows));
                });
            }

            fn lines(&self) -> &$crate::columns::Lines {
                &self.line
            }

            fn lines_mut(&mut self) -> &mut $crate::columns::Lines {
                &mut self.line
            }

            fn ids(&self) -> $crate::columns::StrView<'_> {
                self.$id.view()
            }
        }
    };
}

pub(crate) use declare_table;

#[cfg(test)]
mod tests {
    use super::super::Interners;
    use super::super::{RowError, Table};
    use crate::time::Calendar;

    /// A small export declared like the real ones.
    mod tiny {
        use crate::columns::{CodeCol, StrCol};
        use crate::ingest::{cell, RowCtx, RowError};

        declare_table! {
            pub struct Tiny {
                file: "tiny.csv",
                flag: "tiny",
                id: tiny_id,
                columns: {
                    required tiny_id: StrCol,
                    required account_id: CodeCol = accounts,
                    optional n: Vec<u32>,
                    optional note: StrCol,
                }
            }
        }

        impl Tiny {
            fn parse<'a>(cells: &[&'a str], _: &RowCtx<'_>) -> Result<ParsedRow<'a>, RowError> {
                let tiny_id = cell::id(cells, col::tiny_id)?;
                let account_id = cell::id(cells, col::account_id)?;
                let n = cells[col::n]
                    .parse()
                    .map_err(|_| RowError::new(col::n, "not a number"))?;
                let note = cell::opt_id(cells, col::note)?;
                Ok(ParsedRow {
                    tiny_id,
                    account_id,
                    n,
                    note,
                })
            }
        }
    }
    use tiny::Tiny;

    #[test]
    fn the_declaration_gives_columns_indices_and_aligned_operations() {
        assert_eq!(
            Tiny::COLUMNS,
            &[("tiny_id", true), ("account_id", true), ("n", false), ("note", false)]
        );
        assert_eq!((Tiny::FILE, Tiny::FLAG, Tiny::ID), ("tiny.csv", "tiny", 0));

        let cal = Calendar::new(chrono_tz::UTC, Default::default());
        let interners = Interners::default();
        let ctx = interners.ctx(&cal);
        let mut a = Tiny::with_capacity(2);
        a.push_row(&["t1", "acc-b", "1", "x"], 2, &ctx).unwrap();
        a.push_row(&["t2", "acc-a", "2", ""], 3, &ctx).unwrap();
        let bad = a.push_row(&["t3", "acc-a", "z", ""], 4, &ctx);
        assert_eq!(bad, Err(RowError::new(2, "not a number")));
        a.resolve(&ctx);
        let mut b = Tiny::with_capacity(0);
        b.reserve(8);
        b.push_row(&["t4", "acc-b", "4", "y"], 5, &ctx).unwrap();
        b.resolve(&ctx);
        a.append(b);
        a.finish();
        a.retain(&[true, false, true]);
        a.gather(&crate::columns::RowOrder::new(vec![1, 0]));

        let (dict, remap) = interners.accounts.finish();
        a.account_id.finish(&dict, |c| remap.rank(c));
        let rows: Vec<_> = (0..a.len())
            .map(|i| {
                (
                    a.id(i),
                    a.account_id.view().get(i),
                    a.n[i],
                    a.note.view().get(i),
                    a.line(i),
                )
            })
            .collect();
        assert_eq!(rows, vec![("t4", "acc-b", 4, "y", 5), ("t1", "acc-b", 1, "x", 2)]);
    }
}
