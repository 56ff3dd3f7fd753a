//! The vocabulary of the exports (docs/inputs.md): enumerations, currencies
//! and booleans, each with its exact input syntax; billing months come from
//! [`crate::time`], re-exported here.

use std::fmt;

/// Declares a lower-case token enumeration: `parse` accepts exactly the
/// listed tokens (the caller has already trimmed the cell), `as_str`
/// gives the token back.
macro_rules! token_enum {
    ($(#[$meta:meta])* $name:ident { $($var:ident = $tok:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($var),+ }

        impl $name {
            /// Every value, in the order of docs/inputs.md.
            pub const ALL: &'static [$name] = &[$($name::$var),+];
            /// The accepted tokens, for error messages.
            pub const TOKENS: &'static str = token_enum!(@join $($tok),+);

            pub fn parse(s: &str) -> Option<Self> {
                match s {
                    $($tok => Some(Self::$var),)+
                    _ => None,
                }
            }

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$var => $tok,)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
    (@join $first:literal $(, $rest:literal)*) => { concat!($first $(, " | ", $rest)*) };
}

token_enum!(
    /// orders.item_kind
    ItemKind { Edition = "edition", AssetQuota = "asset_quota", ValueAdded = "value_added", Resource = "resource" }
);
token_enum!(
    /// orders.billing_mode
    BillingMode { Subscription = "subscription", PayPerUse = "pay_per_use" }
);
token_enum!(
    /// orders.order_type
    OrderType { New = "new", Renewal = "renewal", Upgrade = "upgrade", Usage = "usage" }
);
token_enum!(
    /// payments.status
    PaymentStatus { Succeeded = "succeeded", Failed = "failed" }
);
token_enum!(
    /// unsubscriptions.instance_state: the resource's state at request time (R2).
    InstanceState {
        Normal = "normal",
        Overdue = "overdue",
        SecurityLocked = "security_locked",
        ConfigChanging = "config_changing",
        TransactionInProgress = "transaction_in_progress",
        SpecialUnsubscription = "special_unsubscription",
        LegalFrozen = "legal_frozen",
    }
);
token_enum!(
    /// unsubscriptions.status
    UnsubStatus { Completed = "completed", Rejected = "rejected", Pending = "pending" }
);
token_enum!(
    /// unsubscriptions.refund_type as recorded by the billing system.
    RefundType { Unconditional = "unconditional", Partial = "partial", Unactivated = "unactivated", Release = "release" }
);
token_enum!(
    /// The refund type refund-recon expects (R0, R2, R3): the recorded types
    /// plus `blocked` (R2) and `duplicate` (R0).
    ExpectedType {
        Unconditional = "unconditional",
        Partial = "partial",
        Unactivated = "unactivated",
        Release = "release",
        Blocked = "blocked",
        Duplicate = "duplicate",
    }
);

impl ExpectedType {
    /// Whether a recorded type is the same as this expected type.
    pub fn matches(self, recorded: RefundType) -> bool {
        self.as_str() == recorded.as_str()
    }
}

/// Three upper-case ASCII letters (ISO 4217 style).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency([u8; 3]);

impl Currency {
    pub fn parse(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        if b.len() == 3 && b.iter().all(|c| c.is_ascii_uppercase()) {
            Some(Currency([b[0], b[1], b[2]]))
        } else {
            None
        }
    }

    /// The three letters.
    pub fn bytes(self) -> [u8; 3] {
        self.0
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII upper-case letters are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("???")
    }

    /// The distinct currencies of `cs`, in order: one pass marking each in
    /// a table of the 26³ possible codes (collecting every row into a
    /// sorted set sorted them all: 0.24 s on one core at 10M orders;
    /// docs/performance.md, log entry 88).
    pub fn distinct(cs: &[Currency]) -> Vec<Currency> {
        const LETTERS: usize = 26;
        // Only upper-case letters are stored ([`Currency::parse`]); the
        // clamp keeps the index in the table whatever the bytes.
        let index = |c: &Currency| {
            c.0.iter().fold(0, |i, &b| {
                i * LETTERS + usize::from(b.wrapping_sub(b'A')).min(LETTERS - 1)
            })
        };
        let mut seen = vec![false; LETTERS * LETTERS * LETTERS];
        let mut out = Vec::new();
        for c in cs {
            let slot = &mut seen[index(c)];
            if !*slot {
                *slot = true;
                out.push(*c);
            }
        }
        out.sort_unstable();
        out
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Booleans (docs/inputs.md#cell-syntax-every-file): `true`/`false`,
/// `1`/`0`, `yes`/`no`, any case.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s.len() {
        1 => match s {
            "1" => Some(true),
            "0" => Some(false),
            _ => None,
        },
        2 if s.eq_ignore_ascii_case("no") => Some(false),
        3 if s.eq_ignore_ascii_case("yes") => Some(true),
        4 if s.eq_ignore_ascii_case("true") => Some(true),
        5 if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// A billing month (defined with the calendar that computes it).
pub use crate::time::Month;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_currencies_are_each_once_in_order() {
        let codes = ["USD", "AAA", "ZZZ", "CNY", "USD", "AAZ", "ZZA", "AAA", "CNY", "JPY"];
        let cs: Vec<Currency> = codes
            .iter()
            .cycle()
            .take(1000)
            .map(|c| Currency::parse(c).unwrap())
            .collect();
        let expected: Vec<Currency> = cs
            .iter()
            .copied()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        assert_eq!(Currency::distinct(&cs), expected);
        assert_eq!(expected.len(), 7);
        assert!(Currency::distinct(&[]).is_empty());
    }

    #[test]
    fn tokens_are_exact_and_lower_case() {
        assert_eq!(ItemKind::parse("asset_quota"), Some(ItemKind::AssetQuota));
        assert_eq!(ItemKind::parse("Asset_Quota"), None);
        assert_eq!(InstanceState::parse("legal_frozen"), Some(InstanceState::LegalFrozen));
        assert_eq!(BillingMode::TOKENS, "subscription | pay_per_use");
        for k in OrderType::ALL {
            assert_eq!(OrderType::parse(k.as_str()), Some(*k));
        }
    }

    #[test]
    fn booleans_accept_the_spec_spellings() {
        for t in ["true", "TRUE", "1", "yes", "Yes"] {
            assert_eq!(parse_bool(t), Some(true), "{t}");
        }
        for f in ["false", "False", "0", "no", "NO"] {
            assert_eq!(parse_bool(f), Some(false), "{f}");
        }
        for bad in ["", "y", "t", "2", "truee"] {
            assert_eq!(parse_bool(bad), None, "{bad}");
        }
    }

    #[test]
    fn currency_is_three_upper_case_letters() {
        assert!(Currency::parse("USD").is_some());
        assert!(Currency::parse("usd").is_none());
        assert!(Currency::parse("US").is_none());
        assert!(Currency::parse("U$D").is_none());
    }

    #[test]
    fn month_round_trips_and_orders() {
        let m = Month::parse("2021-09").unwrap();
        assert_eq!(m.to_string(), "2021-09");
        assert_eq!(Month(m.0 + 4).to_string(), "2022-01");
        assert!(Month::parse("2021-13").is_none());
        assert!(Month::parse("2021-9").is_none());
        assert!(Month::parse("2021/09").is_none());
    }
}
