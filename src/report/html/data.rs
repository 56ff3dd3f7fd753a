//! What report.html reads back from the CSV reports of its folder. The
//! files are streamed once each and only aggregates, the first rows and
//! the largest rows are kept, so memory does not grow with the report size
//! (docs/report-html.md#where-the-figures-come-from).

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use rust_decimal::Decimal;

use crate::error::AppError;

/// Rows listed in a "largest differences" table, per currency.
pub const TOP: usize = 20;
/// Rows listed in a "first rows" table (rejects, over-quota rows, new and
/// resolved findings).
pub const FIRST: usize = 20;

/// Expected and recorded refunds of one billing month in one currency.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MonthRefunds {
    pub month: String,
    pub expected: Decimal,
    pub recorded: Decimal,
}

/// One account's refunds in one currency, summed over its months.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountDiff {
    pub account: String,
    pub currency: String,
    pub expected: Decimal,
    pub recorded: Decimal,
    /// Σ refund_difference (recorded − expected).
    pub difference: Decimal,
}

/// A report's total row count and its first rows (selected columns).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
    pub total: u64,
}

/// quota_usage.csv summed per year.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QuotaYear {
    /// Rows (accounts with quota activity that year).
    pub accounts: u64,
    pub granted: u64,
    pub denied_by_quota: u64,
    pub recorded_unconditional: u64,
    /// Rows with over_quota = true.
    pub over_quota: u64,
}

/// What quota_usage.csv says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Quota {
    pub years: BTreeMap<String, QuotaYear>,
    /// Accounts with at least one year over quota.
    pub accounts_over: u64,
    /// The over-quota rows (first [`FIRST`]).
    pub over_rows: Listing,
}

/// discrepancies.csv's `status` column (with `--baseline`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    /// code → (new, persisting).
    pub by_code: BTreeMap<String, (u64, u64)>,
    /// New findings, errors first, then file order (first [`FIRST`]).
    pub new_rows: Listing,
}

/// Everything report.html shows beyond summary.json.
#[derive(Debug, Clone, Default)]
pub struct Data {
    /// currency → months with a nonzero expected or recorded refund, in
    /// month order.
    pub months: BTreeMap<String, Vec<MonthRefunds>>,
    /// currency → the [`TOP`] accounts with the largest |difference|.
    pub top: BTreeMap<String, Vec<AccountDiff>>,
    pub quota: Quota,
    pub rejects: Listing,
    /// None without a status column (or when it is empty in every row).
    pub status: Option<Status>,
    /// None when resolved.csv is absent.
    pub resolved: Option<Listing>,
}

/// Reads every report of `dir` that the page needs. discrepancies.csv is
/// read only with a baseline (its status column is empty otherwise).
///
/// `bill`: monthly_bill.csv's digest when its writer made one (a run);
/// else (a merged folder) the file is read back.
pub fn read(dir: &Path, with_baseline: bool, bill: Option<Bill>) -> Result<Data, AppError> {
    // The two largest reads, side by side.
    let (bill, quota) = rayon::join(
        || match bill {
            Some(b) => Ok(b),
            None => read_bill(dir),
        },
        || read_quota(dir),
    );
    let ((months, top), quota) = (bill?, quota?);
    let rejects = read_listing(
        dir,
        "rejects.csv",
        &crate::report::schema::header(&crate::report::schema::REJECTS),
    )?
    .unwrap_or_default();
    let status = if with_baseline { read_status(dir)? } else { None };
    let resolved = read_listing(
        dir,
        "resolved.csv",
        &[
            "severity",
            "code",
            "account_id",
            "unsub_id",
            "order_id",
            "field",
            "message",
            "first_seen",
        ],
    )?;
    Ok(Data {
        months,
        top,
        quota,
        rejects,
        status,
        resolved,
    })
}

/// A CSV report being streamed, with its header's column positions.
struct Report {
    name: &'static str,
    rdr: csv::Reader<BufReader<File>>,
    header: Vec<String>,
    record: csv::StringRecord,
    line: u64,
}

impl Report {
    /// Opens `dir/name`; None when the file does not exist.
    fn open(dir: &Path, name: &'static str) -> Result<Option<Report>, AppError> {
        let path = dir.join(name);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(AppError::Output(format!("report.html: cannot read {name} ({e})"))),
        };
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(false)
            .from_reader(BufReader::with_capacity(1 << 20, file));
        let header = rdr
            .headers()
            .map_err(|e| bad(name, 1, &e.to_string()))?
            .iter()
            .map(str::to_string)
            .collect();
        Ok(Some(Report {
            name,
            rdr,
            header,
            record: csv::StringRecord::new(),
            line: 1,
        }))
    }

    /// Opens a report the run has just written (an error when absent).
    fn open_written(dir: &Path, name: &'static str) -> Result<Report, AppError> {
        Report::open(dir, name)?.ok_or_else(|| bad(name, 0, "the file is missing"))
    }

    fn position(&self, column: &str) -> Option<usize> {
        self.header.iter().position(|h| h == column)
    }

    /// The position of a column the report must have.
    fn column(&self, column: &str) -> Result<usize, AppError> {
        self.position(column)
            .ok_or_else(|| bad(self.name, 1, &format!("no column {column}")))
    }

    /// Reads the next row into `self.record`; false at the end.
    fn next(&mut self) -> Result<bool, AppError> {
        self.line += 1;
        self.rdr
            .read_record(&mut self.record)
            .map_err(|e| bad(self.name, self.line, &e.to_string()))
    }

    fn cell(&self, i: usize) -> &str {
        self.record.get(i).unwrap_or("")
    }

    fn count(&self, i: usize) -> Result<u64, AppError> {
        let s = self.cell(i);
        s.parse()
            .map_err(|_| bad(self.name, self.line, &format!("not a count: {s:?}")))
    }
}

/// A report that does not read back as written: a bug, not an input error.
fn bad(name: &str, line: u64, what: &str) -> AppError {
    AppError::Internal(format!("report.html: {name} line {line}: {what}"))
}

/// `a + b`, an error instead of an overflow.
fn add(a: Decimal, b: Decimal, name: &str) -> Result<Decimal, AppError> {
    a.checked_add(b)
        .ok_or_else(|| bad(name, 0, "a sum does not fit in a decimal"))
}

/// A zero without a sign (`0.00`, never `-0.00`).
pub fn unsigned_zero(mut v: Decimal) -> Decimal {
    if v.is_zero() {
        v.set_sign_positive(true);
    }
    v
}

/// What report.html shows of monthly_bill.csv: refunds per (currency,
/// month), and per currency the accounts with the largest differences.
pub type Bill = (BTreeMap<String, Vec<MonthRefunds>>, BTreeMap<String, Vec<AccountDiff>>);

/// monthly_bill.csv: refunds per (currency, month), and per (account,
/// currency) for the largest differences. The file is sorted by account,
/// so one account's rows are adjacent and only one account is summed at a
/// time. Rows without refunds (most of them: months with orders only) cost
/// a comparison of zeros.
fn read_bill(dir: &Path) -> Result<Bill, AppError> {
    let mut r = Report::open_written(dir, "monthly_bill.csv")?;
    let [acc, cyc, cur, exp, rec, dif] = [
        "account_id",
        "billing_cycle",
        "currency",
        "expected_refunds",
        "recorded_refunds",
        "refund_difference",
    ]
    .map(|c| r.column(c));
    let (acc, cyc, cur, exp, rec, dif) = (acc?, cyc?, cur?, exp?, rec?, dif?);
    let mut digest = BillDigest::default();
    while r.next()? {
        let cells = BillCells {
            account: r.cell(acc),
            month: r.cell(cyc),
            currency: r.cell(cur),
            expected: r.cell(exp),
            recorded: r.cell(rec),
            difference: r.cell(dif),
        };
        digest.row(&cells).map_err(|what| bad(r.name, r.line, &what))?;
    }
    digest.finish()
}

/// The cells of one monthly_bill.csv row that report.html reads, as
/// written.
pub struct BillCells<'a> {
    pub account: &'a str,
    pub month: &'a str,
    pub currency: &'a str,
    pub expected: &'a str,
    pub recorded: &'a str,
    pub difference: &'a str,
}

/// [`Bill`] summed from monthly_bill.csv's rows as written, in file order
/// (account order): by report.html reading the file back ([`read_bill`]),
/// or by the bill's writer from the cells it writes, a batch of whole
/// accounts per digest, the digests then [merged](BillDigest::merge) in
/// order.
#[derive(Debug, Default)]
pub struct BillDigest {
    months: BTreeMap<String, BTreeMap<String, (Decimal, Decimal)>>,
    top: BTreeMap<String, Vec<AccountDiff>>,
    /// The current account's sums, one per currency.
    account: Vec<AccountDiff>,
}

impl BillDigest {
    /// Adds one row; an error says what does not read back.
    pub fn row(&mut self, c: &BillCells<'_>) -> Result<(), String> {
        const NAME: &str = "monthly_bill.csv";
        if self.account.first().is_some_and(|a| a.account != c.account) {
            flush(&mut self.account, &mut self.top);
        }
        let (e, d, x) = (
            written_amount(c.expected)?,
            written_amount(c.recorded)?,
            written_amount(c.difference)?,
        );
        if e.is_zero() && d.is_zero() && x.is_zero() {
            return Ok(());
        }
        let over = |_| "a sum does not fit in a decimal".to_string();
        let i = match self.account.iter().position(|a| a.currency == c.currency) {
            Some(i) => i,
            None => {
                self.account.push(AccountDiff {
                    account: c.account.to_string(),
                    currency: c.currency.to_string(),
                    expected: Decimal::ZERO,
                    recorded: Decimal::ZERO,
                    difference: Decimal::ZERO,
                });
                self.account.len() - 1
            }
        };
        let a = &mut self.account[i];
        a.expected = add(a.expected, e, NAME).map_err(over)?;
        a.recorded = add(a.recorded, d, NAME).map_err(over)?;
        a.difference = add(a.difference, x, NAME).map_err(over)?;
        if e.is_zero() && d.is_zero() {
            return Ok(());
        }
        // One lookup per map for a month and currency seen before (nearly
        // every row): the key is copied into a String only when new.
        let per = match self.months.get_mut(c.currency) {
            Some(per) => per,
            None => self.months.entry(c.currency.to_string()).or_default(),
        };
        let m = match per.get_mut(c.month) {
            Some(m) => m,
            None => per.entry(c.month.to_string()).or_insert((Decimal::ZERO, Decimal::ZERO)),
        };
        m.0 = add(m.0, e, NAME).map_err(over)?;
        m.1 = add(m.1, d, NAME).map_err(over)?;
        Ok(())
    }

    /// Adds the digest of the rows after this one's (whole accounts each).
    pub fn merge(&mut self, mut later: BillDigest) -> Result<(), AppError> {
        flush(&mut self.account, &mut self.top);
        flush(&mut later.account, &mut later.top);
        for (currency, per) in later.months {
            let mine = self.months.entry(currency).or_default();
            for (month, (e, d)) in per {
                let m = mine.entry(month).or_insert((Decimal::ZERO, Decimal::ZERO));
                m.0 = add(m.0, e, "monthly_bill.csv")?;
                m.1 = add(m.1, d, "monthly_bill.csv")?;
            }
        }
        for (currency, list) in later.top {
            let mine = self.top.entry(currency).or_default();
            mine.extend(list);
            if mine.len() >= 4 * TOP {
                finish_top(mine);
            }
        }
        Ok(())
    }

    /// The months in time order and each currency's largest differences.
    pub fn finish(mut self) -> Result<Bill, AppError> {
        flush(&mut self.account, &mut self.top);
        for list in self.top.values_mut() {
            finish_top(list);
        }
        let by_currency = self
            .months
            .into_iter()
            .map(|(currency, per)| {
                let mut list: Vec<MonthRefunds> = per
                    .into_iter()
                    .map(|(month, (e, d))| MonthRefunds {
                        month,
                        expected: unsigned_zero(e),
                        recorded: unsigned_zero(d),
                    })
                    .collect();
                list.sort_by(|a, b| month_order(&a.month, &b.month));
                (currency, list)
            })
            .collect();
        Ok((by_currency, self.top))
    }
}

/// An amount cell as written (a zero keeps its scale: Σ of `0.00` cells
/// shows `0.00`).
fn written_amount(s: &str) -> Result<Decimal, String> {
    if s.bytes().all(|b| b == b'0' || b == b'.') {
        let scale = s.find('.').map_or(0, |i| s.len() - i - 1).min(28);
        return Ok(Decimal::new(0, scale as u32));
    }
    crate::money::parse_written(s).map_err(|_| format!("not an amount: {s:?}"))
}

/// Months in time order: `YYYY-MM` before the expanded `+10000-01` form.
pub fn month_order(a: &str, b: &str) -> Ordering {
    (a.starts_with('+'), a.len(), a).cmp(&(b.starts_with('+'), b.len(), b))
}

/// The order of the largest-difference tables: largest |difference|
/// first, then account id, then currency.
pub fn top_order(a: &AccountDiff, b: &AccountDiff) -> Ordering {
    b.difference
        .abs()
        .cmp(&a.difference.abs())
        .then_with(|| a.account.cmp(&b.account))
        .then_with(|| a.currency.cmp(&b.currency))
}

/// Moves one account's sums into the candidates (nonzero differences
/// only), pruning each currency's list back to [`TOP`] now and then.
fn flush(account: &mut Vec<AccountDiff>, top: &mut BTreeMap<String, Vec<AccountDiff>>) {
    for a in account.drain(..) {
        if a.difference.is_zero() {
            continue;
        }
        if !top.contains_key(&a.currency) {
            top.insert(a.currency.clone(), Vec::new());
        }
        let Some(list) = top.get_mut(&a.currency) else { continue };
        list.push(AccountDiff {
            expected: unsigned_zero(a.expected),
            recorded: unsigned_zero(a.recorded),
            ..a
        });
        if list.len() >= 4 * TOP {
            finish_top(list);
        }
    }
}

/// Sorts the candidates and keeps the first [`TOP`].
pub fn finish_top(list: &mut Vec<AccountDiff>) {
    list.sort_by(top_order);
    list.truncate(TOP);
}

/// quota_usage.csv: sums per year, the accounts over quota and the first
/// over-quota rows.
fn read_quota(dir: &Path) -> Result<Quota, AppError> {
    let mut r = Report::open_written(dir, "quota_usage.csv")?;
    let names = [
        "account_id",
        "year",
        "allowed",
        "granted",
        "denied_by_quota",
        "recorded_unconditional",
        "over_quota",
    ];
    let cols: Vec<usize> = names.iter().map(|c| r.column(c)).collect::<Result<_, _>>()?;
    let mut q = Quota {
        over_rows: Listing {
            header: names[..6].iter().map(|s| s.to_string()).collect(),
            ..Listing::default()
        },
        ..Quota::default()
    };
    let mut last_over: Option<String> = None;
    while r.next()? {
        let y = q.years.entry(r.cell(cols[1]).to_string()).or_default();
        y.accounts += 1;
        y.granted += r.count(cols[3])?;
        y.denied_by_quota += r.count(cols[4])?;
        // Empty when the export has no refund_type (not checked).
        if !r.cell(cols[5]).is_empty() {
            y.recorded_unconditional += r.count(cols[5])?;
        }
        if r.cell(cols[6]) != "true" {
            continue;
        }
        y.over_quota += 1;
        let account = r.cell(cols[0]);
        if last_over.as_deref() != Some(account) {
            q.accounts_over += 1;
            last_over = Some(account.to_string());
        }
        q.over_rows.total += 1;
        if q.over_rows.rows.len() < FIRST {
            q.over_rows
                .rows
                .push(cols[..6].iter().map(|&i| r.cell(i).to_string()).collect());
        }
    }
    Ok(q)
}

/// A report's row count and the given columns of its first [`FIRST`]
/// rows (a column it lacks shows empty); None when the file is absent.
fn read_listing(dir: &Path, name: &'static str, columns: &[&str]) -> Result<Option<Listing>, AppError> {
    let Some(mut r) = Report::open(dir, name)? else {
        return Ok(None);
    };
    let cols: Vec<Option<usize>> = columns.iter().map(|c| r.position(c)).collect();
    let mut l = Listing {
        header: columns.iter().map(|s| s.to_string()).collect(),
        ..Listing::default()
    };
    while r.next()? {
        l.total += 1;
        if l.rows.len() < FIRST {
            l.rows.push(
                cols.iter()
                    .map(|i| i.map(|i| r.cell(i).to_string()).unwrap_or_default())
                    .collect(),
            );
        }
    }
    Ok(Some(l))
}

/// The columns of the new-findings table.
const NEW_COLUMNS: [&str; 10] = [
    "severity",
    "code",
    "account_id",
    "unsub_id",
    "order_id",
    "payment_id",
    "field",
    "expected",
    "recorded",
    "message",
];

/// discrepancies.csv's status column: new and persisting findings per
/// code, and the first new ones (errors first). None when the column is
/// absent or empty in every row.
fn read_status(dir: &Path) -> Result<Option<Status>, AppError> {
    let mut r = Report::open_written(dir, "discrepancies.csv")?;
    let Some(status) = r.position("status") else {
        return Ok(None);
    };
    let (code, severity) = (r.column("code")?, r.column("severity")?);
    let cols: Vec<usize> = NEW_COLUMNS.iter().map(|c| r.column(c)).collect::<Result<_, _>>()?;
    let mut s = Status::default();
    let (mut errors, mut others) = (Vec::new(), Vec::new());
    let mut any = false;
    while r.next()? {
        let new = match r.cell(status) {
            "new" => true,
            "persisting" => false,
            _ => continue,
        };
        any = true;
        let counts = s.by_code.entry(r.cell(code).to_string()).or_default();
        if !new {
            counts.1 += 1;
            continue;
        }
        counts.0 += 1;
        s.new_rows.total += 1;
        let list = if r.cell(severity) == "error" {
            &mut errors
        } else {
            &mut others
        };
        if list.len() < FIRST {
            list.push(cols.iter().map(|&i| r.cell(i).to_string()).collect());
        }
    }
    if !any {
        return Ok(None);
    }
    errors.extend(others);
    errors.truncate(FIRST);
    s.new_rows.rows = errors;
    s.new_rows.header = NEW_COLUMNS.iter().map(|c| c.to_string()).collect();
    Ok(Some(s))
}
