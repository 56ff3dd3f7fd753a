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

use Kind::{Amount, Bool, Int, Month, Text, Timestamp};

/// discrepancies.csv (docs/outputs.md#discrepanciescsv). `expected`,
/// `recorded` and `delta` stay text: depending on the code they hold an
/// amount, a refund type, a timestamp or a count of days.
pub const DISCREPANCIES: [Column; 16] = [
    col("severity", Text),
    col("code", Text),
    col("account_id", Text),
    col("unsub_id", Text),
    col("order_id", Text),
    col("payment_id", Text),
    col("field", Text),
    col("expected", Text),
    col("recorded", Text),
    col("delta", Text),
    col("currency", Text),
    col("message", Text),
    col("finding_id", Text),
    col("status", Text),
    col("first_seen", Timestamp),
    col("age_days", Int),
];

/// refunds.csv (docs/outputs.md#refundscsv).
pub const REFUNDS: [Column; 25] = [
    col("unsub_id", Text),
    col("account_id", Text),
    col("order_id", Text),
    col("batch_id", Text),
    col("status", Text),
    col("currency", Text),
    col("expected_type", Text),
    col("recorded_type", Text),
    col("cash_due", Amount),
    col("cash_paid", Amount),
    col("expected_refund", Amount),
    col("recorded_refund", Amount),
    col("expected_fee", Amount),
    col("recorded_fee", Amount),
    col("expected_coupon_returned", Amount),
    col("recorded_coupon_returned", Amount),
    col("review_required", Bool),
    col("approved_at", Timestamp),
    col("expected_cycle", Month),
    col("recorded_cycle", Month),
    col("refund_deadline", Timestamp),
    col("quota_used", Int),
    col("config_data_purge_at", Timestamp),
    col("log_data_purge_at", Timestamp),
    col("findings", Text),
];

/// monthly_bill.csv (docs/outputs.md#monthly_billcsv).
pub const MONTHLY_BILL: [Column; 14] = [
    col("account_id", Text),
    col("billing_cycle", Month),
    col("currency", Text),
    col("orders", Int),
    col("charged", Amount),
    col("coupon_deducted", Amount),
    col("cash_due", Amount),
    col("paid", Amount),
    col("expected_refunds", Amount),
    col("recorded_refunds", Amount),
    col("refund_difference", Amount),
    col("expected_handling_fees", Amount),
    col("expected_coupons_returned", Amount),
    col("expected_net", Amount),
];

/// quota_usage.csv (docs/outputs.md#quota_usagecsv).
pub const QUOTA_USAGE: [Column; 7] = [
    col("account_id", Text),
    col("year", Int),
    col("allowed", Int),
    col("granted", Int),
    col("denied_by_quota", Int),
    col("recorded_unconditional", Int),
    col("over_quota", Bool),
];

/// rejects.csv (docs/outputs.md#rejectscsv).
pub const REJECTS: [Column; 6] = [
    col("file", Text),
    col("line", Int),
    col("record_id", Text),
    col("column", Text),
    col("value", Text),
    col("reason", Text),
];

/// resolved.csv (`--baseline`): the baseline's findings gone now.
pub const RESOLVED: [Column; 12] = [
    col("finding_id", Text),
    col("severity", Text),
    col("code", Text),
    col("account_id", Text),
    col("unsub_id", Text),
    col("order_id", Text),
    col("payment_id", Text),
    col("field", Text),
    col("currency", Text),
    col("message", Text),
    col("first_seen", Timestamp),
    col("last_seen", Timestamp),
];

/// The header names of a column list.
pub fn names(columns: &[Column]) -> Vec<&'static str> {
    columns.iter().map(|c| c.name).collect()
}

/// The CSV header of a column list, at compile time: each report's header
/// is its schema's names, so the two cannot drift apart.
pub const fn header<const N: usize>(columns: &[Column; N]) -> [&'static str; N] {
    let mut out = [""; N];
    let mut i = 0;
    while i < N {
        out[i] = columns[i].name;
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_the_schema_names() {
        assert_eq!(names(&DISCREPANCIES), super::super::DISCREPANCIES_HEADER);
        assert_eq!(header(&QUOTA_USAGE)[6], "over_quota");
        assert_eq!(names(&RESOLVED), header(&RESOLVED));
    }
}
