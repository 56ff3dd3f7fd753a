//! The typed shape of each report's columns: what a CSV cell holds, so the
//! Parquet copies (`--format parquet`) and other readers get real types.

/// What one column of a report holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Free text (ids, tokens, messages). Empty cell = null.
    Text,
    /// A whole number (`i64`). Empty cell = null.
    Int,
    /// `true` / `false`. Empty cell = null.
    Bool,
    /// An exact decimal amount, as written (`-12.30`). Empty cell = null.
    Amount,
    /// An RFC 3339 timestamp with its offset (`2026-10-03T12:00:00+08:00`,
    /// or `...Z`). Empty cell = null.
    Timestamp,
    /// A billing month `YYYY-MM`. Empty cell = null.
    Month,
}

/// One column of a report: its header name and what it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    pub kind: Kind,
}

/// Shorthand for a column.
pub const fn col(name: &'static str, kind: Kind) -> Column {
    Column { name, kind }
}
