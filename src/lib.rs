//! refund-recon: recomputes what every unsubscription of a cloud billing
//! export should have produced under a published refund policy, and
//! reports every disagreement (see docs/README.md and README.md).
//!
//! The data's path: [`ingest`] (CSV → typed columns in account order,
//! rejects; or, for a provider's own exports, [`mapping`] first) → [`engine`] (each payment and unsubscription linked to its
//! order within its account, rules per account in parallel, then R10 per
//! instance and R11 per batch) → [`report`] (CSV reports, Parquet copies
//! on request, written atomically) and [`explain`] (one unsubscription's
//! trail, and the index behind `explain --reports`). [`rules`] holds the
//! rules of docs/rules.md as pure functions; [`config`] the policy file.

pub mod cmd;
pub mod columns;
pub mod config;
pub mod engine;
pub mod error;
pub mod explain;
pub mod generate;
pub mod ingest;
pub mod mapping;
pub mod memory;
pub mod model;
pub mod money;
pub mod report;
pub mod rules;
pub mod shard;
mod staged;
pub mod time;
pub mod trace;
