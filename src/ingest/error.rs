//! What can go wrong with an input: a file-level error (exit 3) or a
//! row's reject (rejects.csv).

/// One rejected row (rejects.csv).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Reject {
    /// The file's name (its last path component).
    pub file: String,
    pub line: u64,
    pub record_id: String,
    pub column: String,
    pub value: String,
    pub reason: String,
}

/// A file-level input problem: exit code 3, no reports.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    #[error("{path}: cannot read the file ({reason}); check --data or the --{flag} option")]
    Unreadable {
        path: String,
        flag: &'static str,
        reason: String,
    },
    /// A mapping's source file (docs/mapping.md) cannot be used: not found,
    /// unreadable, or without a header the mapping names.
    #[error("{path}: {message}")]
    Source { path: String, message: String },
    #[error("{path}: the file is empty; it needs at least a header row")]
    Empty { path: String },
    #[error("{path}: line {line}{}: not valid UTF-8; re-export the file as UTF-8", column.as_ref().map(|c| format!(", column {c}")).unwrap_or_default())]
    NotUtf8 {
        path: String,
        line: u64,
        column: Option<String>,
    },
    #[error("{path}: line 1: required column `{column}` of {export} (--{flag}) is missing from the header; add it (columns are matched by name, any order, case-insensitive){hint}")]
    MissingColumn {
        path: String,
        column: String,
        export: &'static str,
        flag: &'static str,
        /// A guess at the cause (a wrong delimiter), or empty.
        hint: String,
    },
    #[error("{path}: line 1: column `{column}` appears twice in the header; keep one")]
    DuplicateColumn { path: String, column: String },
    #[error("{path}: {bytes} bytes of input in all is more than the memory limit of {limit} bytes (half the RAM by default); split the export into smaller periods or raise --memory-limit")]
    TooLarge { path: String, bytes: u64, limit: u64 },
    #[error("{path}: more than {limit} rows; refund-recon indexes rows with 32-bit numbers (and bounds its sums by that count); split the export into smaller periods")]
    TooManyRows { path: String, limit: u64 },
}

/// The most data rows one file may have: a row's index plus one must fit a
/// `u32` (`engine::RowIndex`), and the money bound's sums assume it.
pub const MAX_ROWS: u64 = u32::MAX as u64 - 1;

/// A row that failed validation: the index of the first failing column (in
/// the order of docs/inputs.md) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub column: usize,
    pub reason: String,
}

impl RowError {
    pub fn new(column: usize, reason: impl Into<String>) -> Self {
        RowError {
            column,
            reason: reason.into(),
        }
    }
}
