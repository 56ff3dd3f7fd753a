//! The `[focus]` policy table (docs/focus.md#the-focus-policy-table): the
//! values of monthly_bill.focus.csv that FOCUS 1.0 requires to be filled
//! but the exports cannot give — who provides, publishes and invoices the
//! services, their service category, how often a charge occurs and the
//! unit a price is quoted in.

use toml::Value;

use super::{PolicyError, Reader};

/// FOCUS 1.0 ServiceCategory values (FOCUS 1.0, column ServiceCategory).
pub const SERVICE_CATEGORIES: [&str; 19] = [
    "AI and Machine Learning",
    "Analytics",
    "Business Applications",
    "Compute",
    "Databases",
    "Developer Tools",
    "Multicloud",
    "Identity",
    "Integration",
    "Internet of Things",
    "Management and Governance",
    "Media",
    "Migration",
    "Mobile",
    "Networking",
    "Security",
    "Storage",
    "Web",
    "Other",
];

/// FOCUS 1.0 ChargeFrequency values that may go with ChargeCategory
/// `Purchase`: FOCUS forbids `Usage-Based` there, and every row of the
/// FOCUS bill is a Purchase or a Credit of one.
pub const CHARGE_FREQUENCIES: [&str; 2] = ["One-Time", "Recurring"];

/// The validated `[focus]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Focus {
    /// ProviderName: who made the services available.
    pub provider: String,
    /// PublisherName: who produced them (default: the provider).
    pub publisher: String,
    /// InvoiceIssuerName: who invoices them (default: the provider).
    pub invoice_issuer: String,
    /// ServiceCategory, one of [`SERVICE_CATEGORIES`].
    pub service_category: String,
    /// ChargeFrequency of every row, one of [`CHARGE_FREQUENCIES`].
    pub charge_frequency: String,
    /// PricingUnit of the Purchase rows (one order = 1 unit).
    pub pricing_unit: String,
}

/// `provider` when the policy names none: the exports do not say whose
/// cloud they come from (docs/focus.md#the-focus-policy-table).
pub const DEFAULT_PROVIDER: &str = "Unknown";

impl Default for Focus {
    /// The defaults of docs/focus.md.
    fn default() -> Self {
        Focus {
            provider: DEFAULT_PROVIDER.into(),
            publisher: DEFAULT_PROVIDER.into(),
            invoice_issuer: DEFAULT_PROVIDER.into(),
            service_category: "Security".into(),
            charge_frequency: "One-Time".into(),
            pricing_unit: "Units".into(),
        }
    }
}

/// The keys of `[focus]`.
const KEYS: [&str; 6] = [
    "provider",
    "publisher",
    "invoice_issuer",
    "service_category",
    "charge_frequency",
    "pricing_unit",
];

/// Reads the `focus` table of a policy. `publisher` and `invoice_issuer`
/// follow `provider` unless given.
pub(super) fn read(r: &Reader<'_>, v: &Value) -> Result<Focus, PolicyError> {
    let t = r.table(v, "focus")?;
    r.keys(t, "focus", &KEYS)?;
    let name = |k: &str| -> Result<Option<String>, PolicyError> {
        let key = format!("focus.{k}");
        let Some(v) = t.get(k) else { return Ok(None) };
        let s = r.string(v, &key)?;
        let s = s.trim();
        if s.is_empty() {
            return Err(r.err(&key, "must not be empty (FOCUS does not allow a null here)".into()));
        }
        if s.chars().any(char::is_control) {
            return Err(r.err(&key, "must not hold control characters (tabs, line breaks)".into()));
        }
        Ok(Some(s.to_string()))
    };
    let mut f = Focus::default();
    if let Some(p) = name("provider")? {
        f.publisher = p.clone();
        f.invoice_issuer = p.clone();
        f.provider = p;
    }
    if let Some(p) = name("publisher")? {
        f.publisher = p;
    }
    if let Some(p) = name("invoice_issuer")? {
        f.invoice_issuer = p;
    }
    if let Some(c) = name("service_category")? {
        if !SERVICE_CATEGORIES.contains(&c.as_str()) {
            return Err(r.err(
                "focus.service_category",
                format!(
                    "{c:?} is not a FOCUS 1.0 ServiceCategory; use one of: {}",
                    SERVICE_CATEGORIES.join(", ")
                ),
            ));
        }
        f.service_category = c;
    }
    if let Some(c) = name("charge_frequency")? {
        if !CHARGE_FREQUENCIES.contains(&c.as_str()) {
            let why = if c == "Usage-Based" {
                "FOCUS forbids Usage-Based on Purchase rows, and every charge of the bill is a Purchase"
            } else {
                "not a FOCUS 1.0 ChargeFrequency"
            };
            return Err(r.err(
                "focus.charge_frequency",
                format!("{c:?}: {why}; use {}", CHARGE_FREQUENCIES.join(" or ")),
            ));
        }
        f.charge_frequency = c;
    }
    if let Some(u) = name("pricing_unit")? {
        f.pricing_unit = u;
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Policy;

    fn parse(text: &str) -> Result<Policy, PolicyError> {
        Policy::from_toml(text, "p.toml")
    }

    #[test]
    fn defaults_without_a_focus_table() {
        let f = parse("").unwrap().focus;
        assert_eq!(f, Focus::default());
        assert_eq!(f.provider, "Unknown");
        assert_eq!(f.publisher, "Unknown");
        assert_eq!(f.invoice_issuer, "Unknown");
        assert_eq!(f.service_category, "Security");
        assert_eq!(f.charge_frequency, "One-Time");
        assert_eq!(f.pricing_unit, "Units");
        assert_eq!(parse("[focus]\n").unwrap().focus, Focus::default());
    }

    #[test]
    fn provider_is_the_default_publisher_and_issuer() {
        let f = parse("[focus]\nprovider = \" Example Cloud \"\n").unwrap().focus;
        assert_eq!(f.provider, "Example Cloud");
        assert_eq!(f.publisher, "Example Cloud");
        assert_eq!(f.invoice_issuer, "Example Cloud");
        let f = parse(
            "[focus]\nprovider = \"Example Cloud\"\npublisher = \"Acme Security\"\ninvoice_issuer = \"Example Cloud Intl\"\n\
             service_category = \"Networking\"\ncharge_frequency = \"Recurring\"\npricing_unit = \"Licenses\"\n",
        )
        .unwrap()
        .focus;
        assert_eq!(
            f,
            Focus {
                provider: "Example Cloud".into(),
                publisher: "Acme Security".into(),
                invoice_issuer: "Example Cloud Intl".into(),
                service_category: "Networking".into(),
                charge_frequency: "Recurring".into(),
                pricing_unit: "Licenses".into(),
            }
        );
    }

    #[test]
    fn bad_values_name_the_key() {
        let key = |text: &str| {
            let e = parse(text).unwrap_err();
            (e.key.clone().unwrap_or_default(), e.to_string())
        };
        let (k, m) = key("[focus]\nservice_category = \"security\"\n");
        assert_eq!(k, "focus.service_category");
        assert!(m.contains("Security") && m.contains("Other"), "{m}");
        let (k, m) = key("[focus]\ncharge_frequency = \"Usage-Based\"\n");
        assert_eq!(k, "focus.charge_frequency");
        assert!(m.contains("forbids"), "{m}");
        let (k, m) = key("[focus]\ncharge_frequency = \"Monthly\"\n");
        assert_eq!(k, "focus.charge_frequency");
        assert!(m.contains("One-Time or Recurring"), "{m}");
        assert_eq!(key("[focus]\nprovider = \"  \"\n").0, "focus.provider");
        assert_eq!(key("[focus]\npublisher = 3\n").0, "focus.publisher");
        assert_eq!(key("[focus]\ninvoice_issuer = \"a\\nb\"\n").0, "focus.invoice_issuer");
        assert_eq!(key("[focus]\nregion = \"x\"\n").0, "focus.region");
        assert_eq!(key("focus = 1\n").0, "focus");
    }
}
