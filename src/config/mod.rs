//! The policy file (docs/policy.md): TOML → a validated [`Policy`]. Every
//! key is optional (the docs/policy.md values are the defaults); unknown
//! keys, wrong types and TOML floats for decimal values are errors naming
//! the key.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::NaiveDate;
use chrono_tz::Tz;
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};
use toml::{Table, Value};

use crate::model::{Currency, OrderType};
use crate::money::{MinorUnits, Rounding};
use crate::time::{Calendar, DAY, HOUR};

mod focus;
pub use focus::{Focus, CHARGE_FREQUENCIES, SERVICE_CATEGORIES};

/// A policy problem: exit code 2.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("policy {file}: {}{message}", key.as_ref().map(|k| format!("key `{k}`: ")).unwrap_or_default())]
pub struct PolicyError {
    pub file: String,
    pub key: Option<String>,
    pub message: String,
}

/// `partial.consumption_unit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumptionUnit {
    Day,
    Hour,
}

impl ConsumptionUnit {
    pub fn micros(self) -> i64 {
        match self {
            ConsumptionUnit::Day => DAY,
            ConsumptionUnit::Hour => HOUR,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            ConsumptionUnit::Day => "day",
            ConsumptionUnit::Hour => "hour",
        }
    }
}

/// One `[[partial.fee_tiers]]` entry: applies when the term is at least
/// `term_days_at_least` days and at most `used_days_at_most` days were used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeeTier {
    pub term_days_at_least: i64,
    pub used_days_at_most: i64,
    pub rate: Decimal,
}

#[derive(Debug, Clone)]
pub struct Unconditional {
    pub window_hours: i64,
    pub per_calendar_year: u32,
    pub order_types: Vec<OrderType>,
    pub return_coupons: bool,
}

#[derive(Debug, Clone)]
pub struct Partial {
    pub handling_fee_rate: Decimal,
    pub consumption_unit: ConsumptionUnit,
    /// `consumption_rounding = "up"`: a started unit counts.
    pub round_up: bool,
    pub fee_tiers: Vec<FeeTier>,
}

#[derive(Debug, Clone)]
pub struct Review {
    pub auto_approve_hours: i64,
    pub thresholds: BTreeMap<Currency, Decimal>,
}

#[derive(Debug, Clone)]
pub struct RefundPolicy {
    pub sla_business_days: u32,
    pub fallback_destination: String,
}

/// A validated policy.
#[derive(Debug, Clone)]
pub struct Policy {
    pub name: String,
    pub billing_timezone: Tz,
    pub rounding: Rounding,
    pub amount_tolerance: Decimal,
    pub holidays: BTreeSet<NaiveDate>,
    pub unconditional: Unconditional,
    pub partial: Partial,
    pub review: Review,
    pub refund: RefundPolicy,
    pub config_days: i64,
    pub minor_units: MinorUnits,
    /// `[focus]`: the fixed values of monthly_bill.focus.csv.
    pub focus: Focus,
    /// Where it was read from and the SHA-256 of its bytes (summary.json).
    pub path: PathBuf,
    pub sha256: String,
}

impl Default for Policy {
    /// The defaults of docs/policy.md (no review thresholds).
    fn default() -> Self {
        Policy {
            name: "once-a-year".into(),
            billing_timezone: chrono_tz::Asia::Shanghai,
            rounding: Rounding::HalfUp,
            amount_tolerance: Decimal::ZERO,
            holidays: BTreeSet::new(),
            unconditional: Unconditional {
                window_hours: 120,
                per_calendar_year: 1,
                order_types: vec![OrderType::New],
                return_coupons: false,
            },
            partial: Partial {
                handling_fee_rate: Decimal::ZERO,
                consumption_unit: ConsumptionUnit::Day,
                round_up: true,
                fee_tiers: Vec::new(),
            },
            review: Review {
                auto_approve_hours: 24,
                thresholds: BTreeMap::new(),
            },
            refund: RefundPolicy {
                sla_business_days: 2,
                fallback_destination: "account_balance".into(),
            },
            config_days: 7,
            minor_units: MinorUnits::default(),
            focus: Focus::default(),
            path: PathBuf::new(),
            sha256: String::new(),
        }
    }
}

/// The policy presets built into the binary: `--policy NAME` works from any
/// folder.
pub const PRESETS: [(&str, &str); 2] = [
    ("once-a-year", include_str!("../../data/policies/once-a-year.toml")),
    ("ten-a-year", include_str!("../../data/policies/ten-a-year.toml")),
];

impl Policy {
    /// Reads and validates a policy file, or a preset by name (when no file
    /// has that name).
    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        let file = path.display().to_string();
        let preset = PRESETS
            .iter()
            .find(|(n, _)| Path::new(n) == path)
            .filter(|_| !path.exists());
        let bytes = match preset {
            Some((_, text)) => text.as_bytes().to_vec(),
            None => std::fs::read(path).map_err(|e| PolicyError {
                file: file.clone(),
                key: None,
                message: format!(
                    "cannot read the policy file ({e}); pass an existing file with --policy, or a preset: {}",
                    PRESETS.map(|p| p.0).join(", ")
                ),
            })?,
        };
        let text = String::from_utf8(bytes.clone()).map_err(|_| PolicyError {
            file: file.clone(),
            key: None,
            message: "not UTF-8 text; save the policy as UTF-8".into(),
        })?;
        let mut policy = Policy::from_toml(&text, &file)?;
        policy.path = path.to_path_buf();
        policy.sha256 = hex(&Sha256::digest(&bytes));
        Ok(policy)
    }

    /// Parses policy TOML text; `file` names it in errors.
    pub fn from_toml(text: &str, file: &str) -> Result<Policy, PolicyError> {
        let table: Table = text.parse().map_err(|e: toml::de::Error| PolicyError {
            file: file.to_string(),
            key: None,
            message: format!("not valid TOML: {}", e.to_string().trim_end()),
        })?;
        let r = Reader { file };
        let mut p = Policy::default();
        r.keys(
            &table,
            "",
            &[
                "name",
                "billing_timezone",
                "rounding",
                "amount_tolerance",
                "holidays",
                "unconditional",
                "partial",
                "review",
                "refund",
                "retention",
                "minor_units",
                "focus",
            ],
        )?;
        if let Some(v) = table.get("name") {
            p.name = r.string(v, "name")?;
        }
        if let Some(v) = table.get("billing_timezone") {
            let s = r.string(v, "billing_timezone")?;
            p.billing_timezone = Tz::from_str(&s).map_err(|_| {
                r.err(
                    "billing_timezone",
                    format!("unknown time zone {s:?}; use an IANA name such as \"Asia/Shanghai\""),
                )
            })?;
        }
        if let Some(v) = table.get("rounding") {
            let s = r.string(v, "rounding")?;
            p.rounding =
                Rounding::parse(&s).ok_or_else(|| r.err("rounding", format!("{s:?} is not half_up or half_even")))?;
        }
        if let Some(v) = table.get("amount_tolerance") {
            p.amount_tolerance = r.decimal(v, "amount_tolerance")?;
        }
        if let Some(v) = table.get("holidays") {
            read_holidays(&r, v, &mut p)?;
        }
        if let Some(v) = table.get("unconditional") {
            read_unconditional(&r, v, &mut p)?;
        }
        if let Some(v) = table.get("partial") {
            read_partial(&r, v, &mut p)?;
        }
        if let Some(v) = table.get("review") {
            read_review(&r, v, &mut p)?;
        }
        if let Some(v) = table.get("refund") {
            read_refund(&r, v, &mut p)?;
        }
        if let Some(v) = table.get("retention") {
            read_retention(&r, v, &mut p)?;
        }
        if let Some(v) = table.get("minor_units") {
            read_minor_units(&r, v, &mut p)?;
        }
        if let Some(v) = table.get("focus") {
            p.focus = focus::read(&r, v)?;
        }
        Ok(p)
    }

    /// The calendar of this policy's zone and holidays.
    pub fn calendar(&self) -> Calendar {
        Calendar::new(self.billing_timezone, self.holidays.clone())
    }

    /// Every currency of the accepted orders needs a review threshold
    /// (docs/policy.md#review); the error names the first missing one.
    pub fn check_thresholds<'a>(&self, currencies: impl IntoIterator<Item = &'a Currency>) -> Result<(), PolicyError> {
        let missing: BTreeSet<&Currency> = currencies
            .into_iter()
            .filter(|c| !self.review.thresholds.contains_key(c))
            .collect();
        if let Some(first) = missing.iter().next() {
            let all: Vec<&str> = missing.iter().map(|c| c.as_str()).collect();
            return Err(PolicyError {
                file: self.path.display().to_string(),
                key: Some(format!("review.thresholds.{first}")),
                message: format!(
                    "no review threshold for currency {} used by accepted orders; add e.g. {first} = \"1000\" under [review] thresholds",
                    all.join(", ")
                ),
            });
        }
        Ok(())
    }
}

/// The `holidays` part of a policy.
fn read_holidays(r: &Reader<'_>, v: &toml::Value, p: &mut Policy) -> Result<(), PolicyError> {
    let arr = r.array(v, "holidays")?;
    for (i, item) in arr.iter().enumerate() {
        let key = format!("holidays[{i}]");
        let s = r.string(item, &key)?;
        let d = NaiveDate::parse_from_str(&s, "%Y-%m-%d")
            .ok()
            .filter(|_| s.len() == 10)
            .ok_or_else(|| r.err(&key, format!("{s:?} is not a date YYYY-MM-DD")))?;
        p.holidays.insert(d);
    }
    Ok(())
}

/// The `unconditional` part of a policy.
fn read_unconditional(r: &Reader<'_>, v: &toml::Value, p: &mut Policy) -> Result<(), PolicyError> {
    let t = r.table(v, "unconditional")?;
    r.keys(
        t,
        "unconditional",
        &["window_hours", "per_calendar_year", "order_types", "return_coupons"],
    )?;
    if let Some(v) = t.get("window_hours") {
        p.unconditional.window_hours = r.int(v, "unconditional.window_hours", 0, 1_000_000)?;
    }
    if let Some(v) = t.get("per_calendar_year") {
        p.unconditional.per_calendar_year = r.int(v, "unconditional.per_calendar_year", 0, 1_000_000)? as u32;
    }
    if let Some(v) = t.get("order_types") {
        let arr = r.array(v, "unconditional.order_types")?;
        let mut types = Vec::new();
        for (i, item) in arr.iter().enumerate() {
            let key = format!("unconditional.order_types[{i}]");
            let s = r.string(item, &key)?;
            let ot = OrderType::parse(&s)
                .ok_or_else(|| r.err(&key, format!("{s:?} is not one of {}", OrderType::TOKENS)))?;
            types.push(ot);
        }
        p.unconditional.order_types = types;
    }
    if let Some(v) = t.get("return_coupons") {
        p.unconditional.return_coupons = r.boolean(v, "unconditional.return_coupons")?;
    }
    Ok(())
}

/// The `partial` part of a policy.
fn read_partial(r: &Reader<'_>, v: &toml::Value, p: &mut Policy) -> Result<(), PolicyError> {
    let t = r.table(v, "partial")?;
    r.keys(
        t,
        "partial",
        &[
            "handling_fee_rate",
            "consumption_unit",
            "consumption_rounding",
            "fee_tiers",
        ],
    )?;
    if let Some(v) = t.get("handling_fee_rate") {
        p.partial.handling_fee_rate = r.rate(v, "partial.handling_fee_rate")?;
    }
    if let Some(v) = t.get("consumption_unit") {
        let s = r.string(v, "partial.consumption_unit")?;
        p.partial.consumption_unit = match s.as_str() {
            "day" => ConsumptionUnit::Day,
            "hour" => ConsumptionUnit::Hour,
            _ => return Err(r.err("partial.consumption_unit", format!("{s:?} is not day or hour"))),
        };
    }
    if let Some(v) = t.get("consumption_rounding") {
        let s = r.string(v, "partial.consumption_rounding")?;
        p.partial.round_up = match s.as_str() {
            "up" => true,
            "down" => false,
            _ => return Err(r.err("partial.consumption_rounding", format!("{s:?} is not up or down"))),
        };
    }
    if let Some(v) = t.get("fee_tiers") {
        let arr = r.array(v, "partial.fee_tiers")?;
        for (i, item) in arr.iter().enumerate() {
            let key = format!("partial.fee_tiers[{i}]");
            let tier = r.table(item, &key)?;
            r.keys(tier, &key, &["term_days_at_least", "used_days_at_most", "rate"])?;
            let need = |k: &str| {
                tier.get(k).ok_or_else(|| {
                    r.err(
                        &format!("{key}.{k}"),
                        "missing: a fee tier needs term_days_at_least, used_days_at_most and rate".into(),
                    )
                })
            };
            p.partial.fee_tiers.push(FeeTier {
                term_days_at_least: r.int(
                    need("term_days_at_least")?,
                    &format!("{key}.term_days_at_least"),
                    0,
                    1_000_000,
                )?,
                used_days_at_most: r.int(
                    need("used_days_at_most")?,
                    &format!("{key}.used_days_at_most"),
                    0,
                    1_000_000,
                )?,
                rate: r.rate(need("rate")?, &format!("{key}.rate"))?,
            });
        }
    }
    Ok(())
}

/// The `review` part of a policy.
fn read_review(r: &Reader<'_>, v: &toml::Value, p: &mut Policy) -> Result<(), PolicyError> {
    let t = r.table(v, "review")?;
    r.keys(t, "review", &["auto_approve_hours", "thresholds"])?;
    if let Some(v) = t.get("auto_approve_hours") {
        p.review.auto_approve_hours = r.int(v, "review.auto_approve_hours", 0, 1_000_000)?;
    }
    if let Some(v) = t.get("thresholds") {
        let th = r.table(v, "review.thresholds")?;
        for (cur, amount) in th {
            let key = format!("review.thresholds.{cur}");
            let c = Currency::parse(cur)
                .ok_or_else(|| r.err(&key, format!("{cur:?} is not a currency (three upper-case letters)")))?;
            p.review.thresholds.insert(c, r.decimal(amount, &key)?);
        }
    }
    Ok(())
}

/// The `refund` part of a policy.
fn read_refund(r: &Reader<'_>, v: &toml::Value, p: &mut Policy) -> Result<(), PolicyError> {
    let t = r.table(v, "refund")?;
    r.keys(t, "refund", &["sla_business_days", "fallback_destination"])?;
    if let Some(v) = t.get("sla_business_days") {
        p.refund.sla_business_days = r.int(v, "refund.sla_business_days", 0, 3650)? as u32;
    }
    if let Some(v) = t.get("fallback_destination") {
        let s = r.string(v, "refund.fallback_destination")?;
        if s.trim().is_empty() {
            return Err(r.err("refund.fallback_destination", "must not be empty".into()));
        }
        p.refund.fallback_destination = s.trim().to_string();
    }
    Ok(())
}

/// The `retention` part of a policy.
fn read_retention(r: &Reader<'_>, v: &toml::Value, p: &mut Policy) -> Result<(), PolicyError> {
    let t = r.table(v, "retention")?;
    r.keys(t, "retention", &["config_days"])?;
    if let Some(v) = t.get("config_days") {
        p.config_days = r.int(v, "retention.config_days", 0, 100_000)?;
    }
    Ok(())
}

/// The `minor_units` part of a policy.
fn read_minor_units(r: &Reader<'_>, v: &toml::Value, p: &mut Policy) -> Result<(), PolicyError> {
    let t = r.table(v, "minor_units")?;
    let mut overrides = BTreeMap::new();
    for (cur, digits) in t {
        let key = format!("minor_units.{cur}");
        let c = Currency::parse(cur)
            .ok_or_else(|| r.err(&key, format!("{cur:?} is not a currency (three upper-case letters)")))?;
        overrides.insert(c, r.int(digits, &key, 0, 6)? as u32);
    }
    p.minor_units = MinorUnits::new(overrides);
    Ok(())
}

/// Lower-case hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

struct Reader<'a> {
    file: &'a str,
}

/// The first key of table `t` (at `prefix`, dotted) that is not in
/// `allowed`, as a full dotted key: the policy's and the mapping's
/// unknown-key check.
pub(crate) fn unknown_key(t: &Table, prefix: &str, allowed: &[&str]) -> Option<String> {
    let k = t.keys().find(|k| !allowed.contains(&k.as_str()))?;
    Some(if prefix.is_empty() {
        k.clone()
    } else {
        format!("{prefix}.{k}")
    })
}

impl Reader<'_> {
    fn err(&self, key: &str, message: String) -> PolicyError {
        PolicyError {
            file: self.file.to_string(),
            key: Some(key.to_string()),
            message,
        }
    }

    fn keys(&self, t: &Table, prefix: &str, allowed: &[&str]) -> Result<(), PolicyError> {
        match unknown_key(t, prefix, allowed) {
            Some(key) => Err(self.err(&key, format!("unknown key; allowed here: {}", allowed.join(", ")))),
            None => Ok(()),
        }
    }

    fn string(&self, v: &Value, key: &str) -> Result<String, PolicyError> {
        v.as_str()
            .map(str::to_string)
            .ok_or_else(|| self.err(key, format!("expected a string, found {}", v.type_str())))
    }

    fn boolean(&self, v: &Value, key: &str) -> Result<bool, PolicyError> {
        v.as_bool()
            .ok_or_else(|| self.err(key, format!("expected true or false, found {}", v.type_str())))
    }

    fn int(&self, v: &Value, key: &str, min: i64, max: i64) -> Result<i64, PolicyError> {
        let i = v
            .as_integer()
            .ok_or_else(|| self.err(key, format!("expected an integer, found {}", v.type_str())))?;
        if i < min || i > max {
            return Err(self.err(key, format!("{i} is out of range {min}..={max}")));
        }
        Ok(i)
    }

    fn array<'v>(&self, v: &'v Value, key: &str) -> Result<&'v Vec<Value>, PolicyError> {
        v.as_array()
            .ok_or_else(|| self.err(key, format!("expected an array, found {}", v.type_str())))
    }

    fn table<'v>(&self, v: &'v Value, key: &str) -> Result<&'v Table, PolicyError> {
        v.as_table()
            .ok_or_else(|| self.err(key, format!("expected a table, found {}", v.type_str())))
    }

    /// A non-negative decimal: a TOML string ("0.05") or integer; a float is
    /// refused because it cannot hold most decimal fractions exactly.
    fn decimal(&self, v: &Value, key: &str) -> Result<Decimal, PolicyError> {
        let d = match v {
            Value::String(s) => crate::money::parse_money(s.trim()).map_err(|e| match e {
                crate::money::MoneyError::TooLarge => self.err(key, format!("{s:?}: {}", e.reason())),
                _ => self.err(key, format!("{s:?} is not a non-negative decimal like \"0.05\"")),
            })?,
            Value::Integer(i) if *i >= 0 => {
                if *i >= 10i64.pow(crate::money::MAX_INTEGER_DIGITS as u32) {
                    return Err(self.err(key, format!("{i}: {}", crate::money::MoneyError::TooLarge.reason())));
                }
                Decimal::from(*i)
            }
            Value::Integer(i) => return Err(self.err(key, format!("{i} is negative"))),
            Value::Float(f) => {
                return Err(self.err(
                    key,
                    format!(
                        "{f} is a TOML float, which cannot hold decimal values exactly; write it as a string: \"{f}\""
                    ),
                ))
            }
            other => return Err(self.err(key, format!("expected a decimal string, found {}", other.type_str()))),
        };
        Ok(d)
    }

    /// A fraction between 0 and 1.
    fn rate(&self, v: &Value, key: &str) -> Result<Decimal, PolicyError> {
        let d = self.decimal(v, key)?;
        if d > Decimal::ONE {
            return Err(self.err(key, format!("{d} is above 1; a rate is a fraction such as \"0.10\"")));
        }
        Ok(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Policy, PolicyError> {
        Policy::from_toml(text, "p.toml")
    }

    #[test]
    fn empty_policy_gives_spec_defaults() {
        let p = parse("").unwrap();
        assert_eq!(p.name, "once-a-year");
        assert_eq!(p.billing_timezone, chrono_tz::Asia::Shanghai);
        assert_eq!(p.unconditional.window_hours, 120);
        assert_eq!(p.unconditional.per_calendar_year, 1);
        assert_eq!(p.unconditional.order_types, vec![OrderType::New]);
        assert!(!p.unconditional.return_coupons);
        assert_eq!(p.partial.consumption_unit, ConsumptionUnit::Day);
        assert!(p.partial.round_up);
        assert_eq!(p.review.auto_approve_hours, 24);
        assert!(p.review.thresholds.is_empty());
        assert_eq!(p.refund.sla_business_days, 2);
        assert_eq!(p.refund.fallback_destination, "account_balance");
        assert_eq!(p.config_days, 7);
    }

    #[test]
    fn presets_load() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let once = Policy::load(&root.join("data/policies/once-a-year.toml")).unwrap();
        assert_eq!(once.name, "once-a-year");
        assert_eq!(
            once.review.thresholds[&Currency::parse("USD").unwrap()],
            Decimal::from(1000)
        );
        assert_eq!(once.sha256.len(), 64);
        let ten = Policy::load(&root.join("data/policies/ten-a-year.toml")).unwrap();
        assert_eq!(ten.unconditional.per_calendar_year, 10);
        assert!(ten.unconditional.return_coupons);
        assert_eq!(ten.partial.consumption_unit, ConsumptionUnit::Hour);
        assert!(!ten.partial.round_up);
        assert_eq!(ten.partial.handling_fee_rate, Decimal::from_str("0.10").unwrap());
        let tiers: Vec<(i64, i64, String)> = ten
            .partial
            .fee_tiers
            .iter()
            .map(|t| (t.term_days_at_least, t.used_days_at_most, t.rate.to_string()))
            .collect();
        assert_eq!(
            tiers,
            vec![
                (730, 365, "0.15".into()),
                (730, 730, "0.10".into()),
                (1095, 1095, "0.05".into())
            ]
        );
        let default = Policy::load(&root.join("data/policy.toml")).unwrap();
        assert_eq!(default.name, "once-a-year");
    }

    #[test]
    fn errors_name_the_key() {
        let e = parse("[partial]\nhandling_fee_rate = 0.05\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("partial.handling_fee_rate"));
        assert!(e.message.contains("string"), "{e}");
        let e = parse("[review]\nauto_approve = 24\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("review.auto_approve"));
        assert!(e.to_string().contains("unknown key"), "{e}");
        let e = parse("colour = 1\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("colour"));
        let e = parse("billing_timezone = \"Mars/Olympus\"\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("billing_timezone"));
        let e = parse("[[partial.fee_tiers]]\nterm_days_at_least = 730\nrate = \"0.1\"\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("partial.fee_tiers[0].used_days_at_most"));
        let e = parse("[minor_units]\nUSD = 7\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("minor_units.USD"));
        let e = parse("[review]\nthresholds = { usd = \"1\" }\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("review.thresholds.usd"));
        let e = parse("rounding = \"up\"\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("rounding"));
        let e = parse("holidays = [\"2021-10-1\"]\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("holidays[0]"));
        let e = parse("name = \n").unwrap_err();
        assert!(e.key.is_none() && e.message.contains("TOML"), "{e}");
    }

    #[test]
    fn integers_are_accepted_for_decimals() {
        let p = parse("amount_tolerance = 1\n[review]\nthresholds = { USD = 1000, JPY = \"150000\" }\n").unwrap();
        assert_eq!(p.amount_tolerance, Decimal::ONE);
        assert_eq!(p.review.thresholds.len(), 2);
    }

    #[test]
    fn missing_threshold_names_the_currency() {
        let p = parse("[review]\nthresholds = { USD = \"1000\" }\n").unwrap();
        let eur = Currency::parse("EUR").unwrap();
        let usd = Currency::parse("USD").unwrap();
        assert!(p.check_thresholds([&usd]).is_ok());
        let e = p.check_thresholds([&usd, &eur]).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("review.thresholds.EUR"));
        assert!(e.message.contains("EUR"));
    }
}
