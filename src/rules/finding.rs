//! Findings (docs/findings.md): a code, a severity, the ids of the row it
//! is on, the compared field and values, and a one-sentence message.

use rust_decimal::Decimal;
use sha2::{Digest, Sha256};

use crate::model::Currency;

/// How serious a finding is; ordered so that `Error > Warning > Info`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

macro_rules! codes {
    ($($var:ident => ($sev:ident, $rule:literal)),+ $(,)?) => {
        /// Every finding code of docs/findings.md#codes.
        #[allow(non_camel_case_types, clippy::upper_case_acronyms)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Code { $($var),+ }

        impl Code {
            pub const ALL: &'static [Code] = &[$(Code::$var),+];

            pub fn as_str(self) -> &'static str {
                match self { $(Code::$var => stringify!($var)),+ }
            }

            pub fn severity(self) -> Severity {
                match self { $(Code::$var => Severity::$sev),+ }
            }

            /// The rule of docs/rules.md that raises it.
            pub fn rule(self) -> &'static str {
                match self { $(Code::$var => $rule),+ }
            }
        }
    };
}

codes! {
    ORDER_NOT_FOUND => (Error, "R0"),
    ACCOUNT_MISMATCH => (Error, "R0/R1"),
    DUPLICATE_UNSUBSCRIPTION => (Error, "R0"),
    PAYMENT_MISMATCH => (Error, "R1"),
    ORPHAN_PAYMENT => (Error, "R1"),
    CURRENCY_MISMATCH => (Error, "R1"),
    INELIGIBLE_STATE => (Error, "R2"),
    REVIEW_BYPASSED => (Error, "R5"),
    STALE_PENDING => (Warning, "R5"),
    WRONG_BILLING_CYCLE => (Error, "R6"),
    REFUND_TYPE_MISMATCH => (Error, "R7"),
    QUOTA_EXCEEDED => (Error, "R7"),
    REFUND_AMOUNT_MISMATCH => (Error, "R7"),
    HANDLING_FEE_MISMATCH => (Error, "R7"),
    COUPON_RETURN_MISMATCH => (Error, "R7"),
    REFUND_EXCEEDS_PAID => (Error, "R7"),
    UNEXPECTED_REJECTION => (Warning, "R7"),
    FALLBACK_TO_BALANCE => (Info, "R8"),
    WRONG_DESTINATION => (Error, "R8"),
    LATE_REFUND => (Warning, "R9"),
    REFUND_NOT_PAID => (Error, "R9"),
    VAS_BEFORE_QUOTA => (Error, "R10"),
    ORPHANED_VALUE_ADDED => (Warning, "R10"),
    CHARGED_AFTER_RELEASE => (Error, "R10"),
    BATCH_INCONSISTENT => (Error, "R11"),
}

impl Code {
    pub fn parse(s: &str) -> Option<Code> {
        Code::ALL.iter().copied().find(|c| c.as_str() == s)
    }
}

/// A value in a finding's expected / recorded / delta cells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    Empty,
    /// Text (escaped against formula injection when written).
    Text(String),
    /// An amount, written at the currency's minor units.
    Amount(Decimal),
    /// A count (business days late).
    Count(i64),
}

impl Cell {
    pub fn text(s: impl Into<String>) -> Cell {
        Cell::Text(s.into())
    }
}

/// A finding's stable id (docs/findings.md#finding-id): the first 64 bits
/// of the SHA-256 of its identity — code, account_id, unsub_id, order_id,
/// payment_id, each followed by a 0x1F unit separator — written as 16
/// lower-case hex digits. The same finding gets the same id in every run,
/// whatever else changed about it (amounts, message).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FindingId(pub u64);

impl FindingId {
    pub fn of(code: &str, account_id: &str, unsub_id: &str, order_id: &str, payment_id: &str) -> FindingId {
        let mut h = Sha256::new();
        for part in [code, account_id, unsub_id, order_id, payment_id] {
            h.update(part.as_bytes());
            h.update([0x1f]);
        }
        let d = h.finalize();
        let mut b = [0u8; 8];
        b.copy_from_slice(&d[..8]);
        FindingId(u64::from_be_bytes(b))
    }

    /// Parses the 16 hex digits of a report cell.
    pub fn parse(s: &str) -> Option<FindingId> {
        (s.len() == 16 && s.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| u64::from_str_radix(s, 16).ok().map(FindingId))
            .flatten()
    }
}

impl std::fmt::Display for FindingId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// One finding (a row of discrepancies.csv).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub code: Code,
    pub account_id: String,
    pub unsub_id: String,
    pub order_id: String,
    pub payment_id: String,
    pub field: &'static str,
    pub expected: Cell,
    pub recorded: Cell,
    pub delta: Cell,
    pub currency: Option<Currency>,
    pub message: String,
}

impl Finding {
    /// A finding with the given code and message, no ids or values yet.
    pub fn new(code: Code, message: String) -> Finding {
        let message = if message.capacity() > message.len() + 8 {
            String::from(message.as_str())
        } else {
            message
        };
        Finding {
            code,
            account_id: String::new(),
            unsub_id: String::new(),
            order_id: String::new(),
            payment_id: String::new(),
            field: "",
            expected: Cell::Empty,
            recorded: Cell::Empty,
            delta: Cell::Empty,
            currency: None,
            message,
        }
    }

    pub fn severity(&self) -> Severity {
        self.code.severity()
    }

    pub fn field(mut self, field: &'static str, expected: Cell, recorded: Cell) -> Finding {
        self.field = field;
        self.expected = expected;
        self.recorded = recorded;
        self
    }

    /// An amount comparison: delta = recorded − expected.
    pub fn amounts(self, field: &'static str, expected: Decimal, recorded: Decimal) -> Finding {
        let mut f = self.field(field, Cell::Amount(expected), Cell::Amount(recorded));
        f.delta = Cell::Amount(recorded - expected);
        f
    }

    pub fn currency(mut self, c: Option<Currency>) -> Finding {
        self.currency = c;
        self
    }

    /// The stable id of this finding's identity.
    pub fn id(&self) -> FindingId {
        FindingId::of(
            self.code.as_str(),
            &self.account_id,
            &self.unsub_id,
            &self.order_id,
            &self.payment_id,
        )
    }

    /// The sort key of discrepancies.csv: account, code, unsub, order,
    /// payment, then field.
    pub fn sort_key(&self) -> (&str, &str, &str, &str, &str, &str) {
        (
            &self.account_id,
            self.code.as_str(),
            &self.unsub_id,
            &self.order_id,
            &self.payment_id,
            self.field,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_table_of_codes() {
        assert_eq!(Code::ALL.len(), 25);
        // A code indexes an array of per-code counts (summary.json).
        assert!(Code::ALL.iter().enumerate().all(|(i, c)| *c as usize == i));
        assert_eq!(Code::STALE_PENDING.severity(), Severity::Warning);
        assert_eq!(Code::FALLBACK_TO_BALANCE.severity(), Severity::Info);
        assert_eq!(Code::ORPHANED_VALUE_ADDED.severity(), Severity::Warning);
        assert_eq!(Code::LATE_REFUND.severity(), Severity::Warning);
        assert_eq!(Code::UNEXPECTED_REJECTION.severity(), Severity::Warning);
        assert_eq!(Code::BATCH_INCONSISTENT.severity(), Severity::Error);
        assert_eq!(Code::parse("QUOTA_EXCEEDED"), Some(Code::QUOTA_EXCEEDED));
        let warnings = Code::ALL.iter().filter(|c| c.severity() == Severity::Warning).count();
        let infos = Code::ALL.iter().filter(|c| c.severity() == Severity::Info).count();
        assert_eq!((warnings, infos), (4, 1));
        assert!(Severity::Error > Severity::Warning && Severity::Warning > Severity::Info);
    }

    #[test]
    fn finding_id_is_its_identity_only() {
        let f = Finding::new(Code::REFUND_AMOUNT_MISMATCH, "one".into());
        let mut f = f.amounts("refund_amount", Decimal::ONE, Decimal::TWO);
        f.account_id = "acc-1".into();
        f.unsub_id = "uns-1".into();
        f.order_id = "ord-1".into();
        let id = f.id();
        // Values and message are not part of the identity.
        let mut g = f.clone().amounts("refund_amount", Decimal::TEN, Decimal::ONE);
        g.message = "another".into();
        assert_eq!(g.id(), id);
        // Every identity part is.
        for change in 0..5 {
            let mut h = f.clone();
            match change {
                0 => h.code = Code::HANDLING_FEE_MISMATCH,
                1 => h.account_id.push('x'),
                2 => h.unsub_id.push('x'),
                3 => h.order_id.push('x'),
                _ => h.payment_id.push('x'),
            }
            assert_ne!(h.id(), id, "part {change}");
        }
        // The separator keeps parts apart: ("ab", "") is not ("a", "b").
        assert_ne!(
            FindingId::of("C", "ab", "", "", ""),
            FindingId::of("C", "a", "b", "", "")
        );
        let text = id.to_string();
        assert_eq!(text.len(), 16);
        assert_eq!(FindingId::parse(&text), Some(id));
        assert_eq!(FindingId::parse("xyz"), None);
        assert_eq!(FindingId::parse("0123456789abcdeg"), None);
        // Pinned (Python: sha256(b"ORDER_NOT_FOUND\x1fa\x1fu\x1fo\x1f\x1f")[:16]):
        // the id must not change between versions, or every baseline breaks.
        assert_eq!(
            FindingId::of("ORDER_NOT_FOUND", "a", "u", "o", "").to_string(),
            "8bfd5e3d8a58cb60"
        );
    }
}
