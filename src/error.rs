//! Every way a command can fail, each with its exit code
//! (docs/cli.md#exit-codes). Exit codes are chosen here and only here.

use crate::config::PolicyError;
use crate::ingest::InputError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A bad command-line value (exit 2).
    #[error("{0}")]
    Usage(String),
    /// A policy problem (exit 2).
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// A mapping problem (exit 2).
    #[error(transparent)]
    Mapping(#[from] crate::mapping::MappingError),
    /// A file-level input problem (exit 3).
    #[error(transparent)]
    Input(#[from] InputError),
    /// Too many rejected rows in one file (exit 3).
    #[error("{file}: {rejected} of {read} rows rejected ({rate:.4}), above --max-reject-rate {max}; fix the rows listed by `refund-recon validate` or raise --max-reject-rate")]
    RejectRate {
        file: String,
        rejected: u64,
        read: u64,
        rate: f64,
        max: f64,
    },
    /// An input value makes an exact computation overflow (exit 3): the
    /// message names the file, line and step.
    #[error("{0}")]
    Arithmetic(String),
    /// A sharded run's work folder is not usable: a shard missing, run
    /// twice under another index, or made from other inputs (exit 3).
    #[error("{0}")]
    Work(String),
    /// Cannot write the output folder (exit 4).
    #[error("{0}")]
    Output(String),
    /// Another run holds the output lock (exit 4).
    #[error("{0}")]
    Locked(String),
    /// A bug: a control total failed or a dataframe operation broke (exit 5).
    #[error("internal error: {0}; this is a bug in refund-recon, please report it with the command line")]
    Internal(String),
}

impl AppError {
    pub fn exit_code(&self) -> u8 {
        match self {
            AppError::Usage(_) | AppError::Policy(_) | AppError::Mapping(_) => 2,
            AppError::Input(_) | AppError::RejectRate { .. } | AppError::Arithmetic(_) | AppError::Work(_) => 3,
            AppError::Output(_) | AppError::Locked(_) => 4,
            AppError::Internal(_) => 5,
        }
    }
}

impl From<polars::prelude::PolarsError> for AppError {
    fn from(e: polars::prelude::PolarsError) -> Self {
        AppError::Internal(format!("polars: {e}"))
    }
}
