//! refund-recon: recomputes what every unsubscription of a cloud billing
//! export should have produced under a published refund policy, and
//! reports every disagreement (see docs/README.md and README.md).
//!
//! The data's path: [`ingest`] (CSV → typed columns, rejects) →
//! [`engine`] (polars joins, rules per account in parallel) → [`report`]
//! (CSV reports, written atomically). [`rules`] holds the rules of
//! docs/rules.md as pure functions; [`config`] the policy file.

pub mod cmd;
pub mod columns;
pub mod config;
pub mod engine;
pub mod error;
pub mod explain;
pub mod generate;
pub mod ingest;
pub mod model;
pub mod money;
pub mod report;
pub mod rules;
pub mod time;
pub mod trace;
