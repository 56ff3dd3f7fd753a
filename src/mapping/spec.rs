//! The mapping file (docs/mapping.md): TOML → a checked [`Mapping`]. Every
//! problem is an error naming the key (exit 2), found before any export is
//! read.

use std::collections::BTreeMap;

use chrono_tz::Tz;
use rust_decimal::Decimal;
use toml::{Table, Value};

use crate::money::Rounding;
use crate::rules::declared::File;

/// A mapping problem: exit code 2.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("mapping {file}: {}{message}", key.as_ref().map(|k| format!("key `{k}`: ")).unwrap_or_default())]
pub struct MappingError {
    pub file: String,
    pub key: Option<String>,
    pub message: String,
}

/// What kind of value one of our columns holds: decides which options a
/// column mapping may have and how its text is made canonical.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Money,
    Timestamp,
}

/// Our columns (docs/inputs.md) with their kind, per input.
pub fn columns(file: File) -> &'static [(&'static str, Kind)] {
    use Kind::*;
    match file {
        File::Orders => &[
            ("order_id", Text),
            ("account_id", Text),
            ("instance_id", Text),
            ("product", Text),
            ("item_kind", Text),
            ("billing_mode", Text),
            ("order_type", Text),
            ("ordered_at", Timestamp),
            ("service_start", Timestamp),
            ("service_end", Timestamp),
            ("amount", Money),
            ("coupon_amount", Money),
            ("currency", Text),
            ("promotional", Text),
            ("invoice_issued", Text),
        ],
        File::Payments => &[
            ("payment_id", Text),
            ("order_id", Text),
            ("account_id", Text),
            ("paid_at", Timestamp),
            ("amount", Money),
            ("currency", Text),
            ("method", Text),
            ("status", Text),
        ],
        File::Unsubscriptions => &[
            ("unsub_id", Text),
            ("order_id", Text),
            ("account_id", Text),
            ("batch_id", Text),
            ("requested_at", Timestamp),
            ("reviewed_at", Timestamp),
            ("completed_at", Timestamp),
            ("refunded_at", Timestamp),
            ("instance_state", Text),
            ("status", Text),
            ("refund_type", Text),
            ("refund_amount", Money),
            ("handling_fee", Money),
            ("coupon_returned", Money),
            ("refund_destination", Text),
            ("billing_cycle", Text),
        ],
    }
}

/// The columns a mapping may declare absent: the optional ones and the
/// recorded outcome of an unsubscription. Every other column identifies,
/// links or prices a row, without which no rule runs.
pub fn may_be_absent(file: File, column: &str) -> bool {
    match file {
        File::Orders => matches!(column, "promotional" | "invoice_issued"),
        File::Payments => false,
        File::Unsubscriptions => matches!(
            column,
            "batch_id"
                | "reviewed_at"
                | "refunded_at"
                | "instance_state"
                | "refund_type"
                | "refund_amount"
                | "handling_fee"
                | "coupon_returned"
                | "refund_destination"
                | "billing_cycle"
        ),
    }
}

/// A checked mapping.
#[derive(Debug, Clone)]
pub struct Mapping {
    /// The preset's name or the file's path, as given.
    pub name: String,
    /// SHA-256 of the mapping's text.
    pub sha256: String,
    /// The text itself (a sharded run copies it into its work folder).
    pub text: String,
    pub sources: BTreeMap<String, Source>,
    /// Orders, payments, unsubscriptions.
    pub inputs: [InputMap; 3],
}

/// `[sources.NAME]`: one export of the provider.
#[derive(Debug, Clone)]
pub struct Source {
    pub name: String,
    /// Paths or glob patterns, relative to `--data`.
    pub files: Vec<String>,
    /// The zone of a timestamp without an offset (default: the policy's
    /// billing_timezone).
    pub timezone: Option<Tz>,
    /// Cells that mean "no value" (always including the empty cell).
    pub null: Vec<String>,
}

/// `[orders]`, `[payments]`, `[unsubscriptions]`.
#[derive(Debug, Clone)]
pub struct InputMap {
    pub file: File,
    pub source: String,
    pub filters: Vec<Filter>,
    /// One row per element of this column's JSON array.
    pub explode: Option<String>,
    /// One per column of ours, in docs/inputs.md order.
    pub columns: Vec<ColumnMap>,
}

/// One `where` condition: a row that fails it is dropped and counted under
/// `reason`.
#[derive(Debug, Clone)]
pub struct Filter {
    pub column: String,
    pub test: Test,
    pub reason: String,
}

#[derive(Debug, Clone)]
pub enum Test {
    In(Vec<String>),
    NotIn(Vec<String>),
    Empty(bool),
}

impl Test {
    pub fn holds(&self, v: &str) -> bool {
        match self {
            Test::In(set) => set.iter().any(|s| s == v),
            Test::NotIn(set) => !set.iter().any(|s| s == v),
            Test::Empty(want) => v.is_empty() == *want,
        }
    }
}

/// How one column of ours is made.
#[derive(Debug, Clone)]
pub struct ColumnMap {
    /// Our column's name and kind.
    pub column: &'static str,
    pub kind: Kind,
    /// Its key in the mapping (`orders.columns.amount`), for messages.
    pub key: String,
    pub value: ValueFrom,
    /// Value map (applied to the source text after null tokens).
    pub map: Option<BTreeMap<String, String>>,
    /// With a map: an unmapped value passes as it is (else it is rejected).
    pub keep_unmapped: bool,
    pub json: Option<JsonArray>,
    pub money: MoneyOpts,
    pub time: TimeOpts,
}

/// Where a column's value comes from.
#[derive(Debug, Clone)]
pub enum ValueFrom {
    /// The first of these headers that the source has.
    Column(Vec<String>),
    /// The same text on every row: the column is *assumed* (coverage).
    Const(String),
    /// The sum of money columns (an empty cell counts as nothing).
    Sum(Vec<String>),
    Lookup(Lookup),
    /// The export does not have it: the rules that need it are not checked.
    Absent,
}

/// `{ lookup = "SOURCE", match = "THEIR_KEY", by = "OUR_KEY", column = "VALUE" }`.
#[derive(Debug, Clone)]
pub struct Lookup {
    pub source: String,
    /// The key column in the looked-up source.
    pub key: String,
    /// The column of this input's source whose value is looked up.
    pub by: String,
    /// The value column (a money column may instead sum several: `sum`).
    pub value: Vec<String>,
    pub filters: Vec<Filter>,
    pub several: Several,
    /// No match: the cell is empty (`false`) or the row is rejected.
    pub reject_missing: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Several {
    First,
    Sum,
    Reject,
}

/// A cell holding a JSON array of strings (`["a","b"]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonArray {
    First,
    Only,
    Join(String),
}

#[derive(Debug, Clone, Default)]
pub struct MoneyOpts {
    /// Thousands separator to drop (`,`).
    pub thousands: Option<char>,
    /// Decimal separator, when it is not `.`.
    pub decimal: Option<char>,
    /// Currency signs or codes to drop (`¥`, `CNY`).
    pub strip: Vec<String>,
    pub sign: Sign,
    /// Multiply by this (`0.01`: cents to units).
    pub scale: Option<Decimal>,
    /// Round to 6 decimals this way; else more than 6 decimals rejects.
    pub round: Option<Rounding>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Sign {
    #[default]
    Keep,
    Negate,
    Abs,
}

#[derive(Debug, Clone, Default)]
pub struct TimeOpts {
    /// A strftime pattern (chrono's), else docs/inputs.md's syntax.
    pub format: Option<String>,
    /// Seconds (1) or milliseconds (1000) since the epoch.
    pub epoch: Option<i64>,
    /// The zone of a text without an offset, for this column.
    pub timezone: Option<Tz>,
    /// The text's own offset (`Z`, `+00:00`) is wrong: read the wall time in
    /// `timezone`.
    pub ignore_offset: bool,
    /// The text is the last instant inside the period: add the smallest
    /// unit of its pattern (a second by default) to make it exclusive.
    pub inclusive_end: bool,
}

/// Reads a mapping's TOML text; `file` names it in errors.
pub fn parse(text: &str, name: &str, sha256: String) -> Result<Mapping, MappingError> {
    let r = Reader { file: name };
    let table: Table = text
        .parse()
        .map_err(|e: toml::de::Error| r.err(None, format!("not valid TOML: {}", e.to_string().trim_end())))?;
    r.keys(
        &table,
        "",
        &[
            "version",
            "description",
            "sources",
            "orders",
            "payments",
            "unsubscriptions",
        ],
    )?;
    match table.get("version") {
        Some(Value::Integer(1)) => {}
        Some(_) => return Err(r.err(Some("version"), "this refund-recon reads mapping version 1".into())),
        None => return Err(r.err(Some("version"), "missing: start the file with `version = 1`".into())),
    }
    if let Some(v) = table.get("description") {
        r.string(v, "description")?;
    }
    let mut sources = BTreeMap::new();
    let Some(src) = table.get("sources") else {
        return Err(r.err(
            Some("sources"),
            "missing: name at least one export under [sources.NAME]".into(),
        ));
    };
    for (name, v) in r.table(src, "sources")? {
        let key = format!("sources.{name}");
        let t = r.table(v, &key)?;
        r.keys(t, &key, &["files", "timezone", "null"])?;
        let files = match t.get("files") {
            Some(v) => r.strings(v, &format!("{key}.files"))?,
            None => {
                return Err(r.err(
                    Some(&format!("{key}.files")),
                    "missing: the export's file name(s) or pattern(s), relative to --data".into(),
                ))
            }
        };
        if files.is_empty() {
            return Err(r.err(
                Some(&format!("{key}.files")),
                "give at least one file name or pattern".into(),
            ));
        }
        let timezone = t
            .get("timezone")
            .map(|v| r.zone(v, &format!("{key}.timezone")))
            .transpose()?;
        let mut null = match t.get("null") {
            Some(v) => r.strings(v, &format!("{key}.null"))?,
            None => Vec::new(),
        };
        if !null.iter().any(String::is_empty) {
            null.push(String::new());
        }
        sources.insert(
            name.clone(),
            Source {
                name: name.clone(),
                files,
                timezone,
                null,
            },
        );
    }
    let mut inputs = Vec::new();
    for file in [File::Orders, File::Payments, File::Unsubscriptions] {
        let key = file.name();
        let Some(v) = table.get(key) else {
            return Err(r.err(
                Some(key),
                format!("missing: say where {key} come from ([{key}] with `source` and `columns`)"),
            ));
        };
        inputs.push(r.input(file, v, key, &sources)?);
    }
    let inputs: [InputMap; 3] = inputs.try_into().expect("three inputs");
    Ok(Mapping {
        name: name.to_string(),
        sha256,
        text: text.to_string(),
        sources,
        inputs,
    })
}

struct Reader<'a> {
    file: &'a str,
}

impl Reader<'_> {
    fn err(&self, key: Option<&str>, message: String) -> MappingError {
        MappingError {
            file: self.file.to_string(),
            key: key.map(str::to_string),
            message,
        }
    }

    fn keys(&self, t: &Table, prefix: &str, allowed: &[&str]) -> Result<(), MappingError> {
        match crate::config::unknown_key(t, prefix, allowed) {
            Some(key) => Err(self.err(
                Some(&key),
                format!("unknown key; expected one of: {}", allowed.join(", ")),
            )),
            None => Ok(()),
        }
    }

    fn table<'t>(&self, v: &'t Value, key: &str) -> Result<&'t Table, MappingError> {
        v.as_table()
            .ok_or_else(|| self.err(Some(key), "must be a table".into()))
    }

    fn string(&self, v: &Value, key: &str) -> Result<String, MappingError> {
        v.as_str()
            .map(str::to_string)
            .ok_or_else(|| self.err(Some(key), "must be a string (in quotes)".into()))
    }

    fn strings(&self, v: &Value, key: &str) -> Result<Vec<String>, MappingError> {
        match v {
            Value::String(s) => Ok(vec![s.clone()]),
            Value::Array(a) => a.iter().map(|x| self.string(x, key)).collect(),
            _ => Err(self.err(Some(key), "must be a string or an array of strings".into())),
        }
    }

    fn bool(&self, v: &Value, key: &str) -> Result<bool, MappingError> {
        v.as_bool()
            .ok_or_else(|| self.err(Some(key), "must be true or false".into()))
    }

    fn zone(&self, v: &Value, key: &str) -> Result<Tz, MappingError> {
        let s = self.string(v, key)?;
        s.parse::<Tz>().map_err(|_| {
            self.err(
                Some(key),
                format!("{s:?} is not an IANA time zone such as \"Asia/Shanghai\" or \"UTC\""),
            )
        })
    }

    fn decimal(&self, v: &Value, key: &str) -> Result<Decimal, MappingError> {
        let s = self.string(v, key)?;
        crate::money::parse_written(&s)
            .map_err(|_| self.err(Some(key), format!("{s:?} is not a decimal in quotes, such as \"0.01\"")))
    }

    fn filters(&self, v: &Value, key: &str) -> Result<Vec<Filter>, MappingError> {
        let Value::Array(items) = v else {
            return Err(self.err(
                Some(key),
                "must be an array of conditions, e.g. [{ column = \"OrderType\", in = [\"New\"] }]".into(),
            ));
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let k = format!("{key}[{i}]");
            let t = self.table(item, &k)?;
            self.keys(t, &k, &["column", "in", "not_in", "empty", "reason"])?;
            let column = match t.get("column") {
                Some(c) => self.string(c, &format!("{k}.column"))?,
                None => return Err(self.err(Some(&k), "missing `column`".into())),
            };
            let tests: Vec<Test> = [
                t.get("in").map(|v| self.strings(v, &format!("{k}.in")).map(Test::In)),
                t.get("not_in")
                    .map(|v| self.strings(v, &format!("{k}.not_in")).map(Test::NotIn)),
                t.get("empty")
                    .map(|v| self.bool(v, &format!("{k}.empty")).map(Test::Empty)),
            ]
            .into_iter()
            .flatten()
            .collect::<Result<_, _>>()?;
            let [test] = <[Test; 1]>::try_from(tests)
                .map_err(|_| self.err(Some(&k), "give exactly one of `in`, `not_in`, `empty`".into()))?;
            let reason = match t.get("reason") {
                Some(v) => self.string(v, &format!("{k}.reason"))?,
                None => match &test {
                    Test::In(set) => format!("{column} not in [{}]", set.join(", ")),
                    Test::NotIn(set) => format!("{column} in [{}]", set.join(", ")),
                    Test::Empty(true) => format!("{column} not empty"),
                    Test::Empty(false) => format!("{column} empty"),
                },
            };
            out.push(Filter { column, test, reason });
        }
        Ok(out)
    }

    fn input(
        &self,
        file: File,
        v: &Value,
        key: &str,
        sources: &BTreeMap<String, Source>,
    ) -> Result<InputMap, MappingError> {
        let t = self.table(v, key)?;
        self.keys(t, key, &["source", "where", "explode", "columns"])?;
        let source = match t.get("source") {
            Some(v) => self.string(v, &format!("{key}.source"))?,
            None => {
                return Err(self.err(
                    Some(&format!("{key}.source")),
                    "missing: the [sources.NAME] these rows come from".into(),
                ))
            }
        };
        self.known_source(&source, &format!("{key}.source"), sources)?;
        let filters = t
            .get("where")
            .map(|v| self.filters(v, &format!("{key}.where")))
            .transpose()?
            .unwrap_or_default();
        let explode = t
            .get("explode")
            .map(|v| self.string(v, &format!("{key}.explode")))
            .transpose()?;
        let ckey = format!("{key}.columns");
        let Some(cols) = t.get("columns") else {
            return Err(self.err(Some(&ckey), "missing: say how each column is made".into()));
        };
        let cols = self.table(cols, &ckey)?;
        let ours = columns(file);
        for k in cols.keys() {
            if !ours.iter().any(|(n, _)| n == k) {
                let names: Vec<&str> = ours.iter().map(|(n, _)| *n).collect();
                return Err(self.err(
                    Some(&format!("{ckey}.{k}")),
                    format!("not a column of {key}; its columns are: {}", names.join(", ")),
                ));
            }
        }
        let mut columns = Vec::new();
        for (name, kind) in ours {
            let k = format!("{ckey}.{name}");
            let Some(v) = cols.get(*name) else {
                return Err(self.err(
                    Some(&k),
                    "missing: map every column — a source header, { value = \"…\" }, or \"absent\" when the export does not have it".into(),
                ));
            };
            columns.push(self.column(name, *kind, v, &k, sources)?);
        }
        for c in &columns {
            if matches!(c.value, ValueFrom::Absent) && !may_be_absent(file, c.column) {
                return Err(self.err(
                    Some(&c.key),
                    format!("{} cannot be absent: every rule of its input needs it; map it from a source column, or give it a constant with {{ value = \"…\" }}", c.column),
                ));
            }
        }
        Ok(InputMap {
            file,
            source,
            filters,
            explode,
            columns,
        })
    }

    fn known_source(&self, name: &str, key: &str, sources: &BTreeMap<String, Source>) -> Result<(), MappingError> {
        if sources.contains_key(name) {
            Ok(())
        } else {
            let names: Vec<&str> = sources.keys().map(String::as_str).collect();
            Err(self.err(
                Some(key),
                format!("no [sources.{name}]; the sources are: {}", names.join(", ")),
            ))
        }
    }

    fn column(
        &self,
        column: &'static str,
        kind: Kind,
        v: &Value,
        key: &str,
        sources: &BTreeMap<String, Source>,
    ) -> Result<ColumnMap, MappingError> {
        let mut c = ColumnMap {
            column,
            kind,
            key: key.to_string(),
            value: ValueFrom::Absent,
            map: None,
            keep_unmapped: false,
            json: None,
            money: MoneyOpts::default(),
            time: TimeOpts::default(),
        };
        let t = match v {
            Value::String(s) if s == "absent" => return Ok(c),
            Value::String(_) | Value::Array(_) => {
                c.value = ValueFrom::Column(self.strings(v, key)?);
                return Ok(c);
            }
            Value::Table(t) => t,
            _ => {
                return Err(self.err(
                    Some(key),
                    "must be a header name, a list of header names, \"absent\" or a table".into(),
                ))
            }
        };
        let mut allowed = vec!["column", "value", "sum", "lookup", "absent", "map", "unmapped", "json"];
        match kind {
            Kind::Money => allowed.extend(["thousands", "decimal", "strip", "sign", "scale", "round"]),
            Kind::Timestamp => allowed.extend(["format", "epoch", "timezone", "ignore_offset", "inclusive_end"]),
            Kind::Text => {}
        }
        let lookup_keys = ["match", "by", "where", "several", "missing"];
        if t.contains_key("lookup") {
            allowed.extend(lookup_keys);
        }
        for k in t.keys() {
            if !allowed.contains(&k.as_str()) {
                let why = match k.as_str() {
                    "thousands" | "decimal" | "strip" | "sign" | "scale" | "round" => {
                        format!("`{k}` is for money columns; {column} is not one")
                    }
                    "format" | "epoch" | "timezone" | "ignore_offset" | "inclusive_end" => {
                        format!("`{k}` is for timestamp columns; {column} is not one")
                    }
                    k if lookup_keys.contains(&k) => format!("`{k}` belongs to a lookup (`lookup = \"SOURCE\"`)"),
                    _ => format!("unknown key; expected one of: {}", allowed.join(", ")),
                };
                return Err(self.err(Some(&format!("{key}.{k}")), why));
            }
        }
        let sub = |k: &str| format!("{key}.{k}");
        let from: Vec<&str> = ["column", "value", "sum", "lookup", "absent"]
            .into_iter()
            .filter(|k| t.contains_key(*k))
            .collect();
        c.value = match from.as_slice() {
            ["absent"] => {
                if !self.bool(&t["absent"], &sub("absent"))? {
                    return Err(self.err(
                        Some(&sub("absent")),
                        "write `absent = true`, or leave the key out".into(),
                    ));
                }
                ValueFrom::Absent
            }
            ["column"] => ValueFrom::Column(self.strings(&t["column"], &sub("column"))?),
            ["value"] => ValueFrom::Const(self.string(&t["value"], &sub("value"))?),
            ["sum"] => {
                if kind != Kind::Money {
                    return Err(self.err(
                        Some(&sub("sum")),
                        format!("a sum makes money; {column} is not a money column"),
                    ));
                }
                ValueFrom::Sum(self.strings(&t["sum"], &sub("sum"))?)
            }
            ["lookup"] | ["lookup", "column"] | ["column", "lookup"] | ["lookup", "sum"] | ["sum", "lookup"] => {
                ValueFrom::Lookup(self.lookup(t, key, kind, sources)?)
            }
            [] => {
                return Err(self.err(
                    Some(key),
                    "say where the value comes from: `column`, `value`, `sum`, `lookup` or `absent = true`".into(),
                ))
            }
            many => return Err(self.err(Some(key), format!("give only one of {}", many.join(", ")))),
        };
        if let Some(m) = t.get("map") {
            let mt = self.table(m, &sub("map"))?;
            let mut map = BTreeMap::new();
            for (from, to) in mt {
                map.insert(from.clone(), self.string(to, &format!("{key}.map.{from}"))?);
            }
            c.map = Some(map);
        }
        if let Some(u) = t.get("unmapped") {
            c.keep_unmapped = match self.string(u, &sub("unmapped"))?.as_str() {
                "keep" => true,
                "reject" => false,
                other => {
                    return Err(self.err(
                        Some(&sub("unmapped")),
                        format!("{other:?}: expected \"keep\" or \"reject\""),
                    ))
                }
            };
        }
        if let Some(j) = t.get("json") {
            let s = self.string(j, &sub("json"))?;
            c.json = Some(match s.as_str() {
                "first" => JsonArray::First,
                "only" => JsonArray::Only,
                s if s.starts_with("join") => {
                    JsonArray::Join(s.strip_prefix("join").unwrap_or("").trim_start_matches(':').to_string())
                }
                _ => {
                    return Err(self.err(
                        Some(&sub("json")),
                        format!("{s:?}: expected \"first\", \"only\" or \"join:SEPARATOR\" (e.g. \"join:;\")"),
                    ))
                }
            });
        }
        self.money(t, key, &mut c.money)?;
        self.time(t, key, &mut c.time)?;
        Ok(c)
    }

    fn lookup(
        &self,
        t: &Table,
        key: &str,
        kind: Kind,
        sources: &BTreeMap<String, Source>,
    ) -> Result<Lookup, MappingError> {
        let sub = |k: &str| format!("{key}.{k}");
        let source = self.string(&t["lookup"], &sub("lookup"))?;
        self.known_source(&source, &sub("lookup"), sources)?;
        let need = |k: &str| -> Result<String, MappingError> {
            match t.get(k) {
                Some(v) => self.string(v, &sub(k)),
                None => Err(self.err(Some(&sub(k)), format!("a lookup needs `{k}`: `match` is the key column in {source}, `by` the column of this export whose value it matches"))),
            }
        };
        let (key_col, by) = (need("match")?, need("by")?);
        let value = match (t.get("column"), t.get("sum")) {
            (Some(v), None) => self.strings(v, &sub("column"))?,
            (None, Some(v)) if kind == Kind::Money => self.strings(v, &sub("sum"))?,
            (None, Some(_)) => {
                return Err(self.err(
                    Some(&sub("sum")),
                    "a sum makes money; this is not a money column".into(),
                ))
            }
            _ => {
                return Err(self.err(
                    Some(key),
                    "a lookup needs the `column` (or, for money, `sum`) it reads".into(),
                ))
            }
        };
        let filters = t
            .get("where")
            .map(|v| self.filters(v, &sub("where")))
            .transpose()?
            .unwrap_or_default();
        let several = match t
            .get("several")
            .map(|v| self.string(v, &sub("several")))
            .transpose()?
            .as_deref()
        {
            None | Some("reject") => Several::Reject,
            Some("first") => Several::First,
            Some("sum") if kind == Kind::Money => Several::Sum,
            Some(s) => {
                return Err(self.err(
                    Some(&sub("several")),
                    format!("{s:?}: expected \"first\", \"reject\" or, for money, \"sum\""),
                ))
            }
        };
        let reject_missing = match t
            .get("missing")
            .map(|v| self.string(v, &sub("missing")))
            .transpose()?
            .as_deref()
        {
            None | Some("empty") => false,
            Some("reject") => true,
            Some(s) => {
                return Err(self.err(
                    Some(&sub("missing")),
                    format!("{s:?}: expected \"empty\" or \"reject\""),
                ))
            }
        };
        Ok(Lookup {
            source,
            key: key_col,
            by,
            value,
            filters,
            several,
            reject_missing,
        })
    }

    fn money(&self, t: &Table, key: &str, m: &mut MoneyOpts) -> Result<(), MappingError> {
        let sub = |k: &str| format!("{key}.{k}");
        let one_char = |k: &str| -> Result<Option<char>, MappingError> {
            t.get(k)
                .map(|v| {
                    let s = self.string(v, &sub(k))?;
                    let mut chars = s.chars();
                    match (chars.next(), chars.next()) {
                        (Some(c), None) => Ok(c),
                        _ => Err(self.err(Some(&sub(k)), "must be one character, e.g. \",\"".into())),
                    }
                })
                .transpose()
        };
        m.thousands = one_char("thousands")?;
        m.decimal = one_char("decimal")?;
        if m.thousands.is_some() && m.thousands == m.decimal {
            return Err(self.err(
                Some(&sub("decimal")),
                "the decimal separator must differ from the thousands separator".into(),
            ));
        }
        if let Some(v) = t.get("strip") {
            m.strip = self.strings(v, &sub("strip"))?;
        }
        if let Some(v) = t.get("sign") {
            m.sign = match self.string(v, &sub("sign"))?.as_str() {
                "keep" => Sign::Keep,
                "negate" => Sign::Negate,
                "abs" => Sign::Abs,
                s => {
                    return Err(self.err(
                        Some(&sub("sign")),
                        format!("{s:?}: expected \"keep\", \"negate\" or \"abs\""),
                    ))
                }
            };
        }
        m.scale = t.get("scale").map(|v| self.decimal(v, &sub("scale"))).transpose()?;
        if let Some(v) = t.get("round") {
            let s = self.string(v, &sub("round"))?;
            m.round = Some(Rounding::parse(&s).ok_or_else(|| {
                self.err(
                    Some(&sub("round")),
                    format!("{s:?}: expected a rounding mode such as \"half_up\" or \"half_even\""),
                )
            })?);
        }
        Ok(())
    }

    fn time(&self, t: &Table, key: &str, o: &mut TimeOpts) -> Result<(), MappingError> {
        let sub = |k: &str| format!("{key}.{k}");
        if let Some(v) = t.get("format") {
            let f = self.string(v, &sub("format"))?;
            if chrono::format::StrftimeItems::new(&f).any(|i| matches!(i, chrono::format::Item::Error)) {
                return Err(self.err(
                    Some(&sub("format")),
                    format!("{f:?} is not a valid strftime pattern (e.g. \"%Y-%m-%d %H:%M:%S\")"),
                ));
            }
            o.format = Some(f);
        }
        if let Some(v) = t.get("epoch") {
            o.epoch = Some(match self.string(v, &sub("epoch"))?.as_str() {
                "s" | "seconds" => 1,
                "ms" | "milliseconds" => 1000,
                s => return Err(self.err(Some(&sub("epoch")), format!("{s:?}: expected \"s\" or \"ms\""))),
            });
            if o.format.is_some() {
                return Err(self.err(Some(&sub("epoch")), "give `format` or `epoch`, not both".into()));
            }
        }
        o.timezone = t.get("timezone").map(|v| self.zone(v, &sub("timezone"))).transpose()?;
        if let Some(v) = t.get("ignore_offset") {
            o.ignore_offset = self.bool(v, &sub("ignore_offset"))?;
            if o.ignore_offset && o.timezone.is_none() {
                return Err(self.err(
                    Some(&sub("ignore_offset")),
                    "say which zone the wall time is in with `timezone`".into(),
                ));
            }
        }
        if let Some(v) = t.get("inclusive_end") {
            o.inclusive_end = self.bool(v, &sub("inclusive_end"))?;
        }
        Ok(())
    }
}
