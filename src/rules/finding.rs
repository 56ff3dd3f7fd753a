//! Findings (docs/findings.md): a code, a severity, the ids of the row it
//! is on, the compared field and values, and a one-sentence message.

use rust_decimal::Decimal;

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
}
