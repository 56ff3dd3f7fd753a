//! Typed Parquet copies of the CSV reports (`--format csv,parquet`,
//! docs/parquet.md): `X.parquet` next to each `X.csv`, with exact decimals,
//! time-zone-aware timestamps, booleans and integers instead of text.
//!
//! A copy is made by reading the finished CSV back (RFC 4180, the `csv`
//! crate) and converting each cell by its column's [`Kind`], so the Parquet
//! file equals the CSV cell for cell. A cell that does not parse as its
//! kind is a bug in the CSV writers, reported as an internal error naming
//! the file, line and column.
//!
//! The bytes do not depend on the thread count: each file is read and
//! written by one thread, in row groups of exactly [`ROW_GROUP_ROWS`] rows
//! (the last one shorter), with fixed compression, page size and
//! statistics. Memory per file is one row group.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::Path;

use polars::prelude::{
    BooleanChunked, DataFrame, Int128Chunked, Int64Chunked, IntoColumn, IntoSeries, NewChunkedArray,
    ParquetCompression, ParquetWriter, PlSmallStr, PolarsError, StatisticsOptions, StringChunked, TimeUnit, TimeZone,
};
use rayon::prelude::*;

use super::schema::{self, Column, Kind};
use crate::error::AppError;

/// Which report formats a run writes. The CSVs are always written (verify,
/// explain and `--baseline` read them); Parquet copies are extra.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Formats {
    /// Write the FOCUS bill (monthly_bill.focus.csv).
    pub focus: bool,
    /// Write `X.parquet` next to each `X.csv`.
    pub parquet: bool,
}

/// Rows per Parquet row group (the last group of a file holds the rest).
pub const ROW_GROUP_ROWS: usize = 1 << 17;

/// Bytes per data page before compression.
const DATA_PAGE_BYTES: usize = 1 << 20;

/// The smallest scale of an amount column: `Decimal(38, S)` with S the
/// most decimals of any cell in the column, but at least this.
pub const MIN_SCALE: usize = 2;

/// Decimal precision of every amount column (the most Parquet's 16-byte
/// decimals and DuckDB's DECIMAL hold).
pub const PRECISION: usize = 38;

/// The Parquet copies, in the order they are listed in summary.json.
pub const FILES: [&str; 7] = [
    "discrepancies.parquet",
    "resolved.parquet",
    "refunds.parquet",
    "monthly_bill.parquet",
    "monthly_bill.focus.parquet",
    "quota_usage.parquet",
    "rejects.parquet",
];

/// The FOCUS bill's copy (written only with `--format csv,focus,parquet`).
pub const FOCUS_COPY: &str = "monthly_bill.focus.parquet";

/// The CSV reports copied to Parquet, with their columns (same order as
/// [`FILES`]).
pub const COPIED: [(&str, &[Column]); 7] = [
    ("discrepancies.csv", &schema::DISCREPANCIES),
    ("resolved.csv", &schema::RESOLVED),
    ("refunds.csv", &schema::REFUNDS),
    ("monthly_bill.csv", &schema::MONTHLY_BILL),
    (super::focus::FILE, &super::focus::COLUMNS),
    ("quota_usage.csv", &schema::QUOTA_USAGE),
    ("rejects.csv", &schema::REJECTS),
];

/// The zone a copy's timestamps are tagged with: UTC for the FOCUS bill
/// (FOCUS dates are UTC), else the policy's billing zone `billing`.
pub fn zone_of<'a>(csv: &str, billing: &'a str) -> &'a str {
    if csv == super::focus::FILE {
        "UTC"
    } else {
        billing
    }
}

/// Whether `name` is a Parquet copy a run writes (for
/// [`super::output::check_replaceable`]).
pub fn is_copy(name: &str) -> bool {
    FILES.contains(&name)
}

/// Writes `X.parquet` next to each `X.csv` of `reports` in `dir`, files in
/// parallel; returns each Parquet file's name and row count, in the order
/// given. `billing` is the policy's billing_timezone, the zone timestamps
/// are tagged with ([`zone_of`]).
pub fn write_copies(dir: &Path, reports: &[(&str, &[Column])], billing: &str) -> Result<Vec<super::Done>, AppError> {
    reports
        .par_iter()
        .map(|(csv, columns)| {
            let name = format!("{}.parquet", csv.strip_suffix(".csv").unwrap_or(csv));
            write_copy(&dir.join(csv), &dir.join(&name), columns, zone_of(csv, billing))
        })
        .collect()
}

/// Converts one written CSV report into Parquet by its typed column list;
/// returns the file (its entry counts the rows written; not yet fsynced).
/// The header must equal the column names.
pub fn write_copy(csv: &Path, parquet: &Path, columns: &[Column], tz: &str) -> Result<super::Done, AppError> {
    let shown = file_name(csv);
    let zone = TimeZone::opt_try_new(Some(tz))
        .ok()
        .flatten()
        .ok_or_else(|| AppError::Internal(format!("{shown}: {tz:?} is not a time zone polars knows")))?;
    let scales = amount_scales(csv, columns)?;
    let mut reader = open(csv)?;
    let header = reader.headers().map_err(|e| csv_err(&shown, e))?;
    if !header.iter().eq(columns.iter().map(|c| c.name)) {
        return Err(AppError::Internal(format!(
            "{shown}: header {:?} is not the columns {:?} of its Parquet copy",
            header.iter().collect::<Vec<_>>(),
            schema::names(columns)
        )));
    }
    let out = super::sink::Sink::create(parquet)?;
    let mut out = BufWriter::with_capacity(1 << 20, out);
    let empty = frame(&shown, &[], columns, &scales, &zone)?;
    let mut writer = ParquetWriter::new(&mut out)
        .with_compression(ParquetCompression::Zstd(None))
        .with_statistics(StatisticsOptions {
            min_value: true,
            max_value: true,
            distinct_count: false,
            null_count: true,
            binary_statistics_truncate_length: None,
        })
        .with_row_group_size(Some(ROW_GROUP_ROWS))
        .with_data_page_size(Some(DATA_PAGE_BYTES))
        .set_parallel(false)
        .batched(empty.schema())
        .map_err(|e| write_err(parquet, e))?;
    let mut rows = 0u64;
    let mut group = Vec::with_capacity(ROW_GROUP_ROWS.min(4096));
    let mut records = reader.into_records();
    loop {
        group.clear();
        for r in records.by_ref().take(ROW_GROUP_ROWS) {
            group.push(r.map_err(|e| csv_err(&shown, e))?);
        }
        if group.is_empty() {
            break;
        }
        let df = frame(&shown, &group, columns, &scales, &zone)?;
        writer.write_batch(&df).map_err(|e| write_err(parquet, e))?;
        rows += group.len() as u64;
    }
    writer.finish().map_err(|e| write_err(parquet, e))?;
    drop(writer);
    let file = out.into_inner().map_err(|e| super::io_err(parquet, e.into_error()))?;
    file.finish(Some(rows))
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn open(csv: &Path) -> Result<csv::Reader<BufReader<File>>, AppError> {
    let file = File::open(csv).map_err(|e| {
        AppError::Output(format!(
            "cannot read {} back for its Parquet copy ({e})",
            file_name(csv)
        ))
    })?;
    Ok(csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(BufReader::with_capacity(1 << 20, file)))
}

fn csv_err(shown: &str, e: csv::Error) -> AppError {
    if let csv::ErrorKind::Io(io) = e.kind() {
        return AppError::Output(format!("cannot read {shown} back for its Parquet copy ({io})"));
    }
    AppError::Internal(format!("{shown} does not read back as CSV for its Parquet copy: {e}"))
}

/// A polars error while writing: an I/O failure is an output problem
/// (exit 4), anything else a bug.
fn write_err(parquet: &Path, e: PolarsError) -> AppError {
    match e {
        PolarsError::IO { error, .. } => super::io_err(parquet, std::io::Error::new(error.kind(), error.to_string())),
        other => AppError::Internal(format!("{}: polars: {other}", file_name(parquet))),
    }
}

/// The scale of each amount column (first pass over the file): the most
/// decimals of any of its cells, at least [`MIN_SCALE`] and at most
/// [`PRECISION`]; 0 for the other columns.
fn amount_scales(csv: &Path, columns: &[Column]) -> Result<Vec<usize>, AppError> {
    let shown = file_name(csv);
    let mut scales: Vec<usize> = columns
        .iter()
        .map(|c| if c.kind == Kind::Amount { MIN_SCALE } else { 0 })
        .collect();
    if !columns.iter().any(|c| c.kind == Kind::Amount) {
        return Ok(scales);
    }
    let mut reader = open(csv)?;
    let mut record = csv::ByteRecord::new();
    while reader.read_byte_record(&mut record).map_err(|e| csv_err(&shown, e))? {
        for (j, c) in columns.iter().enumerate() {
            if c.kind != Kind::Amount {
                continue;
            }
            if let Some(cell) = record.get(j) {
                if let Some(dot) = cell.iter().position(|&b| b == b'.') {
                    // Capped: a cell past 38 decimals is reported by itself.
                    scales[j] = scales[j].max((cell.len() - dot - 1).min(PRECISION));
                }
            }
        }
    }
    Ok(scales)
}

/// Why a cell does not parse as its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CellError {
    /// Not the kind's syntax.
    Syntax,
    /// More decimals than the column's scale, or more than 38 digits.
    TooPrecise,
    /// Out of range (an integer past i64, a date past the calendar).
    Range,
}

fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Text => "text",
        Kind::Int => "an integer",
        Kind::Bool => "true or false",
        Kind::Amount => "a decimal amount",
        Kind::Timestamp => "an RFC 3339 timestamp",
        Kind::Month => "a month YYYY-MM",
    }
}

/// One row group as a DataFrame (no rows: the file's schema).
fn frame(
    shown: &str,
    rows: &[csv::StringRecord],
    columns: &[Column],
    scales: &[usize],
    zone: &TimeZone,
) -> Result<DataFrame, AppError> {
    let mut out = Vec::with_capacity(columns.len());
    for (j, c) in columns.iter().enumerate() {
        let name = PlSmallStr::from_static(c.name);
        let cells = rows.iter().map(|r| r.get(j).filter(|s| !s.is_empty()));
        let bad = |r: &csv::StringRecord, why: CellError| {
            let line = r.position().map(|p| p.line()).unwrap_or(0);
            let cell = r.get(j).unwrap_or("");
            let why = match why {
                CellError::Syntax => String::new(),
                CellError::TooPrecise => format!(" (too precise for Decimal({PRECISION}, {}))", scales[j]),
                CellError::Range => " (out of range)".to_string(),
            };
            AppError::Internal(format!(
                "{shown} line {line}, column {}: {cell:?} is not {}{why}",
                c.name,
                kind_name(c.kind)
            ))
        };
        // Parses every cell of the column with `parse`; empty cells are null.
        macro_rules! parsed {
            ($parse:expr) => {
                rows.iter()
                    .map(|r| match r.get(j).filter(|s| !s.is_empty()) {
                        None => Ok(None),
                        Some(s) => $parse(s).map(Some).map_err(|e| bad(r, e)),
                    })
                    .collect::<Result<Vec<_>, AppError>>()?
            };
        }
        let column = match c.kind {
            Kind::Text => StringChunked::from_iter_options(name, cells).into_column(),
            Kind::Month => {
                let _: Vec<Option<()>> = parsed!(parse_month);
                StringChunked::from_iter_options(name, cells).into_column()
            }
            Kind::Int => Int64Chunked::from_iter_options(name, parsed!(parse_int).into_iter()).into_column(),
            Kind::Bool => BooleanChunked::from_iter_options(name, parsed!(parse_bool).into_iter()).into_column(),
            Kind::Amount => {
                let scale = scales[j];
                let values: Vec<Option<i128>> = parsed!(|s| parse_amount(s, scale));
                Int128Chunked::from_iter_options(name, values.into_iter())
                    .into_decimal(PRECISION, scale)
                    .map_err(|e| AppError::Internal(format!("{shown}, column {}: polars: {e}", c.name)))?
                    .into_series()
                    .into_column()
            }
            Kind::Timestamp => Int64Chunked::from_iter_options(name, parsed!(parse_timestamp).into_iter())
                .into_datetime(TimeUnit::Microseconds, Some(zone.clone()))
                .into_series()
                .into_column(),
        };
        out.push(column);
    }
    DataFrame::new(rows.len(), out).map_err(|e| AppError::Internal(format!("{shown}: polars: {e}")))
}

/// An integer: `-?digits`, within i64.
pub(crate) fn parse_int(s: &str) -> Result<i64, CellError> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CellError::Syntax);
    }
    s.parse().map_err(|_| CellError::Range)
}

/// `true` or `false`.
pub(crate) fn parse_bool(s: &str) -> Result<bool, CellError> {
    match s {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(CellError::Syntax),
    }
}

/// An amount at the column's scale ([`crate::money::parse_written_scaled`]).
pub(crate) fn parse_amount(s: &str, scale: usize) -> Result<i128, CellError> {
    crate::money::parse_written_scaled(s, scale).map_err(|e| match e {
        crate::money::WrittenAmountError::Syntax => CellError::Syntax,
        crate::money::WrittenAmountError::TooPrecise => CellError::TooPrecise,
    })
}

impl From<crate::time::WrittenError> for CellError {
    fn from(e: crate::time::WrittenError) -> CellError {
        match e {
            crate::time::WrittenError::Syntax => CellError::Syntax,
            crate::time::WrittenError::Range => CellError::Range,
        }
    }
}

/// A billing month `YYYY-MM` (expanded years allowed, as written past 9999).
pub(crate) fn parse_month(s: &str) -> Result<(), CellError> {
    crate::time::parse_written_month(s).map(|_| ()).map_err(CellError::from)
}

/// An RFC 3339 timestamp as the reports write it (expanded years allowed),
/// as microseconds since the epoch.
pub(crate) fn parse_timestamp(s: &str) -> Result<i64, CellError> {
    crate::time::parse_written_ts(s).map_err(CellError::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::schema::col;

    #[test]
    fn ints_and_bools() {
        assert_eq!(parse_int("0"), Ok(0));
        assert_eq!(parse_int("-42"), Ok(-42));
        assert_eq!(parse_int("9223372036854775807"), Ok(i64::MAX));
        assert_eq!(parse_int("9223372036854775808"), Err(CellError::Range));
        for bad in ["", "-", "+1", "1.0", " 1", "1e3", "x"] {
            assert_eq!(parse_int(bad), Err(CellError::Syntax), "{bad:?}");
        }
        assert_eq!(parse_bool("true"), Ok(true));
        assert_eq!(parse_bool("false"), Ok(false));
        for bad in ["True", "1", "yes", ""] {
            assert_eq!(parse_bool(bad), Err(CellError::Syntax));
        }
    }

    #[test]
    fn amounts_are_exact_at_the_column_scale() {
        assert_eq!(parse_amount("216.99", 2), Ok(21_699));
        assert_eq!(parse_amount("1100", 2), Ok(110_000));
        assert_eq!(parse_amount("-15.000", 6), Ok(-15_000_000));
        assert_eq!(parse_amount("0250.5", 2), Ok(25_050));
        assert_eq!(parse_amount("-0.01", 2), Ok(-1));
        let big = "9".repeat(36);
        assert_eq!(parse_amount(&format!("{big}.99"), 2), Ok(10i128.pow(38) - 1));
        assert_eq!(parse_amount(&format!("9{big}.99"), 2), Err(CellError::TooPrecise));
        assert_eq!(parse_amount("1.234", 2), Err(CellError::TooPrecise));
        for bad in ["", "-", ".5", "5.", "+5", "1e3", "1,000", "--1", "1.2.3", "NaN", " 1"] {
            assert_eq!(parse_amount(bad, 6), Err(CellError::Syntax), "{bad:?}");
        }
    }

    #[test]
    fn timestamps_are_the_instant_their_offset_names() {
        let utc = parse_timestamp("2021-10-01T07:00:00Z").unwrap();
        assert_eq!(utc, 1_633_071_600 * 1_000_000);
        assert_eq!(parse_timestamp("2021-10-01T15:00:00+08:00"), Ok(utc));
        assert_eq!(parse_timestamp("2021-09-30T21:30:00-09:30"), Ok(utc));
        assert_eq!(parse_timestamp("2021-10-01T07:00:00.25Z"), Ok(utc + 250_000));
        assert_eq!(parse_timestamp("1970-01-01T00:00:00+00:00"), Ok(0));
        // Past 9999: ISO 8601's expanded year, as the reports write it.
        let far = parse_timestamp("+10000-01-04T23:59:59+08:00").unwrap();
        assert_eq!(
            far,
            (crate::time::days_from_civil(10000, 1, 4) * 86_400 + 86_399 - 8 * 3600) * 1_000_000
        );
        for bad in [
            "",
            "2021-10-01",
            "2021-10-01 07:00:00Z",
            "2021-10-01T07:00:00",
            "2021-10-01T07:00:00+0800",
            "2021-10-01T07:00Z",
            "10000-01-01T00:00:00Z",
            "2021-10-01T07:00:00.Z",
            "2021-10-01T07:00:00.1234567Z",
        ] {
            assert_eq!(parse_timestamp(bad), Err(CellError::Syntax), "{bad:?}");
        }
        for bad in [
            "2021-02-29T00:00:00Z",
            "2021-13-01T00:00:00Z",
            "2021-10-01T24:00:00Z",
            "2021-10-01T00:00:60Z",
        ] {
            assert_eq!(parse_timestamp(bad), Err(CellError::Range), "{bad:?}");
        }
        assert_eq!(parse_timestamp("2020-02-29T00:00:00Z").map(|_| ()), Ok(()));
    }

    #[test]
    fn months() {
        assert_eq!(parse_month("2021-09"), Ok(()));
        assert_eq!(parse_month("+10000-01"), Ok(()));
        assert_eq!(parse_month("2021-13"), Err(CellError::Range));
        for bad in ["2021-9", "21-09", "2021/09", "2021-09-01", ""] {
            assert_eq!(parse_month(bad), Err(CellError::Syntax), "{bad:?}");
        }
    }

    const COLUMNS: [Column; 7] = [
        col("id", Kind::Text),
        col("n", Kind::Int),
        col("ok", Kind::Bool),
        col("amount", Kind::Amount),
        col("at", Kind::Timestamp),
        col("month", Kind::Month),
        col("note", Kind::Text),
    ];

    fn copy(csv_text: &str) -> Result<(u64, DataFrame), AppError> {
        use polars::prelude::{ParquetReader, SerReader};
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("x.csv");
        std::fs::write(&csv, csv_text).unwrap();
        let pq = dir.path().join("x.parquet");
        let rows = write_copy(&csv, &pq, &COLUMNS, "Asia/Shanghai")?.rows();
        let df = ParquetReader::new(File::open(&pq).unwrap()).finish().unwrap();
        Ok((rows, df))
    }

    #[test]
    fn a_copy_holds_typed_cells_and_nulls_for_empty_ones() {
        use polars::prelude::DataType;
        let (rows, df) = copy(
            "id,n,ok,amount,at,month,note\n\
             a,1,true,1.5,2021-10-01T15:00:00+08:00,2021-10,'=x\n\
             ,,,,,,\n\
             c,-3,false,-0.125,2021-10-01T07:00:00Z,2021-11,\"x,y\"\n",
        )
        .unwrap();
        assert_eq!(rows, 3);
        assert_eq!(df.height(), 3);
        assert_eq!(df.column("amount").unwrap().dtype(), &DataType::Decimal(38, 3));
        let tz = TimeZone::opt_try_new(Some("Asia/Shanghai")).unwrap();
        assert_eq!(
            df.column("at").unwrap().dtype(),
            &DataType::Datetime(TimeUnit::Microseconds, tz)
        );
        let amounts: Vec<_> = df.column("amount").unwrap().decimal().unwrap().phys.iter().collect();
        assert_eq!(amounts, [Some(1500), None, Some(-125)]);
        let at = df.column("at").unwrap().datetime().unwrap();
        assert_eq!(at.phys.get(0), at.phys.get(2));
        let note: Vec<_> = df.column("note").unwrap().str().unwrap().iter().collect();
        assert_eq!(note, [Some("'=x"), None, Some("x,y")]);
        let id: Vec<_> = df.column("id").unwrap().str().unwrap().iter().collect();
        assert_eq!(id, [Some("a"), None, Some("c")]);
        assert_eq!(df.column("ok").unwrap().bool().unwrap().get(1), None);
        assert_eq!(df.column("n").unwrap().i64().unwrap().get(2), Some(-3));
    }

    #[test]
    fn an_empty_report_gives_an_empty_typed_file() {
        use polars::prelude::DataType;
        let (rows, df) = copy("id,n,ok,amount,at,month,note\n").unwrap();
        assert_eq!((rows, df.height()), (0, 0));
        assert_eq!(df.column("amount").unwrap().dtype(), &DataType::Decimal(38, MIN_SCALE));
        assert_eq!(df.column("ok").unwrap().dtype(), &DataType::Boolean);
    }

    #[test]
    fn bad_cells_and_headers_are_internal_errors_naming_the_place() {
        let e = copy("id,n,ok,amount,at,month,note\na,1,true,1.5,2021-10-01T15:00:00+08:00,2021-10,x\nb,one,,,,,\n")
            .unwrap_err();
        assert_eq!(e.exit_code(), 5);
        let msg = e.to_string();
        assert!(
            msg.contains("x.csv line 3, column n") && msg.contains("\"one\""),
            "{msg}"
        );
        let e = copy("id,n,ok,amount,at,month\n").unwrap_err();
        assert!(e.to_string().contains("x.csv: header"), "{e}");
        let e = copy("id,n,ok,amount,at,month,note\na,1\n").unwrap_err();
        assert_eq!(e.exit_code(), 5);
        let e = copy("id,n,ok,amount,at,month,note\na,1,yes,,,,\n").unwrap_err();
        assert!(e.to_string().contains("column ok"), "{e}");
        let e = copy("id,n,ok,amount,at,month,note\na,1,,1e3,,,\n").unwrap_err();
        assert!(e.to_string().contains("column amount"), "{e}");
        let tiny = format!("0.{}1", "0".repeat(40));
        let e = copy(&format!("id,n,ok,amount,at,month,note\na,1,,0.5,,,\nb,2,,{tiny},,,\n")).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("line 3, column amount") && msg.contains("Decimal(38, 38)"),
            "{msg}"
        );
        let e = copy("id,n,ok,amount,at,month,note\na,1,,,2021-10-01,,\n").unwrap_err();
        assert!(e.to_string().contains("column at"), "{e}");
        let e = copy("id,n,ok,amount,at,month,note\na,1,,,,2021-1,\n").unwrap_err();
        assert!(e.to_string().contains("column month"), "{e}");
    }

    #[test]
    fn row_groups_split_at_the_fixed_size_and_bytes_repeat() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("x.csv");
        let mut text = String::from("id,n,ok,amount,at,month,note\n");
        for i in 0..ROW_GROUP_ROWS + 10 {
            text.push_str(&format!("u{i},{i},true,{i}.5,2021-10-01T15:00:00+08:00,2021-10,n\n"));
        }
        std::fs::write(&csv, text).unwrap();
        let (a, b) = (dir.path().join("a.parquet"), dir.path().join("b.parquet"));
        assert_eq!(
            write_copy(&csv, &a, &COLUMNS, "UTC").unwrap().rows(),
            ROW_GROUP_ROWS as u64 + 10
        );
        write_copy(&csv, &b, &COLUMNS, "UTC").unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
        use polars::prelude::SerReader;
        let mut reader = polars::prelude::ParquetReader::new(File::open(&a).unwrap());
        let groups: Vec<usize> = reader
            .get_metadata()
            .unwrap()
            .row_groups
            .iter()
            .map(|g| g.num_rows())
            .collect();
        assert_eq!(groups, [ROW_GROUP_ROWS, 10]);
    }

    #[test]
    fn copied_reports_are_the_parquet_files() {
        let names: Vec<String> = COPIED.iter().map(|(csv, _)| csv.replace(".csv", ".parquet")).collect();
        assert_eq!(names, FILES);
        for (csv, _) in COPIED {
            assert!(crate::report::is_report(csv), "{csv}");
        }
        assert!(is_copy("refunds.parquet") && !is_copy("refunds.csv"));
    }
}
