//! The control totals: what the reports say must add up, counted two
//! independent ways. A failure is a bug, never a silent report: the run
//! stops with exit 5 and publishes nothing (docs/design.md, "Output
//! safety"). Each check is a pure function of the counts it compares, so
//! the tests below skew each input directly.

use std::collections::BTreeMap;

use crate::model::Currency;

/// One input file's rows as ingest counted them, and the rejects listed
/// for its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRows {
    pub name: String,
    pub rows_read: u64,
    /// Rows kept in the table.
    pub accepted: u64,
    /// Rows ingest counted as rejected.
    pub rejected: u64,
}

/// For each input file, rows read = rows accepted + rows rejected, and
/// the rejects listed under its name are those ingest counted for every
/// file of that name (two inputs may share one); over all files, rows
/// read = accepted + the rows of rejects.csv.
///
/// `listed(name)` counts the reject rows naming a file.
pub fn rows_conserved(files: &[FileRows], listed: impl Fn(&str) -> u64, rejects_written: u64) -> Result<(), String> {
    for f in files {
        let rejected_by_name: u64 = files.iter().filter(|x| x.name == f.name).map(|x| x.rejected).sum();
        let listed = listed(&f.name);
        if f.rows_read != f.accepted + f.rejected || listed != rejected_by_name {
            return Err(format!(
                "{} rows read {} ≠ accepted {} + rejected {} (rejects listed for it: {listed})",
                f.name, f.rows_read, f.accepted, f.rejected
            ));
        }
    }
    let read: u64 = files.iter().map(|f| f.rows_read).sum();
    let accepted: u64 = files.iter().map(|f| f.accepted).sum();
    if read != accepted + rejects_written {
        return Err(format!(
            "rows read {read} (all files) ≠ accepted {accepted} + rejected {rejects_written} (rows of rejects.csv)"
        ));
    }
    Ok(())
}

/// The monthly bill's expected refunds equal refunds.csv's, per currency,
/// exactly (both in integers of 10⁻⁶). `show` writes an amount for the
/// message.
pub fn bill_ties_out(
    from_bill: &BTreeMap<Currency, i128>,
    from_refunds: &BTreeMap<Currency, i128>,
    show: impl Fn(Currency, i128) -> String,
) -> Result<(), String> {
    for (c, v) in from_refunds {
        let billed = from_bill.get(c).copied().unwrap_or_default();
        if billed != *v {
            return Err(format!(
                "monthly_bill expected_refunds {} {c} ≠ refunds.csv expected refunds {} {c}",
                show(*c, billed),
                show(*c, *v)
            ));
        }
    }
    for (c, v) in from_bill {
        if *v != 0 && !from_refunds.contains_key(c) {
            return Err(format!(
                "monthly_bill expected_refunds {} {c} ≠ refunds.csv expected refunds 0 {c} (none listed)",
                show(*c, *v)
            ));
        }
    }
    Ok(())
}

/// summary.json's finding counts (the total, by severity, by code) equal
/// the rows of discrepancies.csv.
pub fn findings_counted(total: u64, by_severity: u64, by_code: u64, written: u64) -> Result<(), String> {
    if total != written || by_severity != written || by_code != written {
        return Err(format!(
            "summary.json counts {total} findings ({by_severity} by severity, {by_code} by code) ≠ {written} rows of discrepancies.csv"
        ));
    }
    Ok(())
}

/// A figure each check can be skewed by, to prove it fires: only with the
/// `test-hooks` feature (`REFUND_RECON_TEST_SKEW_CONTROL_TOTAL` = `rows`,
/// `bill` or `findings`); the release binary reads no such switch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Skew {
    pub rows: u64,
    pub bill: i128,
    pub findings: u64,
}

impl Skew {
    #[cfg(feature = "test-hooks")]
    pub fn from_env() -> Skew {
        let which = std::env::var("REFUND_RECON_TEST_SKEW_CONTROL_TOTAL").unwrap_or_default();
        Skew {
            rows: u64::from(which == "rows"),
            bill: i128::from(which == "bill"),
            findings: u64::from(which == "findings"),
        }
    }

    #[cfg(not(feature = "test-hooks"))]
    pub fn from_env() -> Skew {
        Skew::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> Vec<FileRows> {
        vec![
            FileRows {
                name: "orders.csv".into(),
                rows_read: 10,
                accepted: 8,
                rejected: 2,
            },
            FileRows {
                name: "payments.csv".into(),
                rows_read: 5,
                accepted: 5,
                rejected: 0,
            },
        ]
    }

    fn listed(name: &str) -> u64 {
        if name == "orders.csv" {
            2
        } else {
            0
        }
    }

    #[test]
    fn rows_are_conserved_per_file_and_in_all() {
        assert_eq!(rows_conserved(&files(), listed, 2), Ok(()));
        // One more row of rejects.csv than ingest rejected.
        let e = rows_conserved(&files(), listed, 3).unwrap_err();
        assert!(e.contains("rows read 15 (all files) ≠ accepted 13 + rejected 3"), "{e}");
        // A file whose rows do not add up.
        let mut skewed = files();
        skewed[1].accepted = 4;
        let e = rows_conserved(&skewed, listed, 2).unwrap_err();
        assert!(
            e.starts_with("payments.csv rows read 5 ≠ accepted 4 + rejected 0"),
            "{e}"
        );
        // Rejects listed under a name that ingest did not count.
        let e = rows_conserved(&files(), |_| 2, 2).unwrap_err();
        assert!(
            e.contains("payments.csv") && e.contains("rejects listed for it: 2"),
            "{e}"
        );
        // Two inputs of one name share their rejects.
        let mut same = files();
        same[1].name = "orders.csv".into();
        same[1].rejected = 1;
        same[1].accepted = 4;
        assert_eq!(rows_conserved(&same, |_| 3, 3), Ok(()));
    }

    #[test]
    fn the_bill_ties_out_with_refunds_per_currency() {
        let usd = Currency::parse("USD").unwrap();
        let eur = Currency::parse("EUR").unwrap();
        let show = |c: Currency, v: i128| format!("{v}/{c}");
        let bill = BTreeMap::from([(usd, 1_000_000), (eur, 0)]);
        let refunds = BTreeMap::from([(usd, 1_000_000)]);
        assert_eq!(bill_ties_out(&bill, &refunds, show), Ok(()));
        let skewed = BTreeMap::from([(usd, 1_000_001)]);
        let e = bill_ties_out(&skewed, &refunds, show).unwrap_err();
        assert_eq!(
            e,
            "monthly_bill expected_refunds 1000001/USD USD ≠ refunds.csv expected refunds 1000000/USD USD"
        );
        let extra = BTreeMap::from([(usd, 1_000_000), (eur, 5)]);
        let e = bill_ties_out(&extra, &refunds, show).unwrap_err();
        assert!(e.ends_with("refunds.csv expected refunds 0 EUR (none listed)"), "{e}");
        let missing = BTreeMap::new();
        assert!(bill_ties_out(&missing, &refunds, show).is_err());
    }

    #[test]
    fn findings_are_counted_three_ways() {
        assert_eq!(findings_counted(7, 7, 7, 7), Ok(()));
        for (t, s, c, w) in [(8, 7, 7, 7), (7, 6, 7, 7), (7, 7, 8, 7), (7, 7, 7, 6)] {
            let e = findings_counted(t, s, c, w).unwrap_err();
            assert!(e.contains("rows of discrepancies.csv"), "{e}");
        }
    }
}
