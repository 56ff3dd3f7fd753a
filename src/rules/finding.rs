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

/// A finding's four ids — account, unsubscription, order, payment — in one
/// allocation: 40 bytes and one block instead of four `String`s' 96 bytes
/// and up to four blocks (a million findings at 10M orders;
/// docs/performance.md, log entry 53).
#[derive(Clone, Default, PartialEq, Eq)]
struct Ids {
    text: Box<str>,
    /// Where the unsubscription's, the order's and the payment's id start
    /// (full-width: ids of any length are kept, with no panic).
    at: [usize; 3],
}

impl Ids {
    fn new(parts: [&str; 4]) -> Ids {
        let mut text = String::with_capacity(parts.iter().map(|p| p.len()).sum());
        let mut at = [0usize; 3];
        for (k, p) in parts.iter().enumerate() {
            if k > 0 {
                at[k - 1] = text.len();
            }
            text.push_str(p);
        }
        Ids {
            text: text.into_boxed_str(),
            at,
        }
    }

    /// Part `k` (0 account, 1 unsubscription, 2 order, 3 payment).
    #[inline]
    fn get(&self, k: usize) -> &str {
        let start = if k == 0 { 0 } else { self.at[k - 1] };
        let end = if k == 3 { self.text.len() } else { self.at[k] };
        &self.text[start..end]
    }

    fn parts(&self) -> [&str; 4] {
        [0, 1, 2, 3].map(|k| self.get(k))
    }
}

impl std::fmt::Debug for Ids {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.parts()).finish()
    }
}

/// One finding (a row of discrepancies.csv).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub code: Code,
    ids: Ids,
    pub field: &'static str,
    pub expected: Cell,
    pub recorded: Cell,
    pub delta: Cell,
    pub currency: Option<Currency>,
    /// Kept in a block of its length (a formatted `String` has up to
    /// twice the room).
    pub message: Box<str>,
}

impl Finding {
    /// A finding with the given code and message, no ids or values yet.
    pub fn new(code: Code, message: String) -> Finding {
        let message = if message.capacity() > message.len() + 8 {
            Box::from(message.as_str())
        } else {
            message.into_boxed_str()
        };
        Finding {
            code,
            ids: Ids::default(),
            field: "",
            expected: Cell::Empty,
            recorded: Cell::Empty,
            delta: Cell::Empty,
            currency: None,
            message,
        }
    }

    pub fn account_id(&self) -> &str {
        self.ids.get(0)
    }

    pub fn unsub_id(&self) -> &str {
        self.ids.get(1)
    }

    pub fn order_id(&self) -> &str {
        self.ids.get(2)
    }

    pub fn payment_id(&self) -> &str {
        self.ids.get(3)
    }

    /// Sets the ids the finding is on (empty: none).
    pub fn set_ids(&mut self, account: &str, unsub: &str, order: &str, payment: &str) {
        self.ids = Ids::new([account, unsub, order, payment]);
    }

    /// Sets the unsubscription the finding is on, the other ids kept.
    pub fn set_unsub_id(&mut self, unsub: &str) {
        let [a, _, o, p] = self.ids.parts();
        self.ids = Ids::new([a, unsub, o, p]);
    }

    /// Sets the account, unsubscription and order the finding is on, its
    /// payment kept.
    pub fn set_unsub_ids(&mut self, account: &str, unsub: &str, order: &str) {
        self.ids = Ids::new([account, unsub, order, self.ids.get(3)]);
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
        let [a, u, o, p] = self.ids.parts();
        FindingId::of(self.code.as_str(), a, u, o, p)
    }

    /// The order of discrepancies.csv: account, code, unsub, order,
    /// payment, then field; each compared only when the ones before are
    /// equal (most findings differ in their account).
    pub fn cmp_order(&self, other: &Finding) -> std::cmp::Ordering {
        fn part(f: &Finding, k: usize) -> &str {
            f.ids.get(k)
        }
        part(self, 0)
            .cmp(part(other, 0))
            .then_with(|| self.code.as_str().cmp(other.code.as_str()))
            .then_with(|| {
                (part(self, 1), part(self, 2), part(self, 3), self.field).cmp(&(
                    part(other, 1),
                    part(other, 2),
                    part(other, 3),
                    other.field,
                ))
            })
    }
}

/// Sorts findings into discrepancies.csv's order ([`Finding::cmp_order`])
/// on a key made once per finding — its account id's first 16 bytes, the
/// id's length up to 17 and, when that is the whole id, the code's place
/// among the codes' names — comparing two findings only where their keys
/// are equal. The same order as a sort by the comparison alone, which read
/// both findings' ids at every step (a million findings at 10M orders;
/// docs/performance.md, log entry 79). The key orders as the comparison
/// does: zero-padded prefixes never order two ids against their text,
/// equal prefixes and lengths up to 16 are the same id, and an id of 17
/// bytes or more is only ever tied, never ordered, by its key.
pub fn sort_in_order(findings: &mut Vec<&Finding>) {
    use rayon::prelude::*;
    let mut by_name: Vec<Code> = Code::ALL.to_vec();
    by_name.sort_by_key(|c| c.as_str());
    let mut rank = [0u16; Code::ALL.len()];
    for (k, c) in by_name.iter().enumerate() {
        rank[*c as usize] = k as u16;
    }
    let key = |f: &Finding| -> (u128, u16) {
        let id = f.account_id().as_bytes();
        let mut head = [0u8; 16];
        let n = id.len().min(16);
        head[..n].copy_from_slice(&id[..n]);
        let len = id.len().min(17) as u16;
        let code = if id.len() <= 16 { rank[f.code as usize] } else { 0 };
        (u128::from_be_bytes(head), len << 8 | code)
    };
    let mut keyed: Vec<((u128, u16), &Finding)> = findings.par_iter().map(|&f| (key(f), f)).collect();
    keyed.par_sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp_order(b.1)));
    findings.clear();
    findings.extend(keyed.into_iter().map(|(_, f)| f));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The keyed sort gives the comparison's order on ids chosen to meet
    /// at every edge of the key: empty, the same first 16 bytes, lengths
    /// 16 and 17, trailing NUL bytes, every code.
    #[test]
    fn the_keyed_sort_orders_as_the_comparison() {
        use proptest::prelude::*;
        let account = prop::sample::select(vec![
            "",
            "A",
            "A\0",
            "A\0\0",
            "B",
            "A0000000",
            "A0000001",
            "A000000000000000",
            "A0000000000000000",
            "A0000000000000001",
            "A000000000000000\0",
            "A0000000000000000x",
            "Z0000000000000000",
        ]);
        let code = 0..Code::ALL.len();
        let unsub = prop::sample::select(vec!["", "U1", "U2", "U10"]);
        let rows = prop::collection::vec((account, code, unsub), 0..60);
        proptest!(ProptestConfig::with_cases(300), |(rows in rows)| {
            let findings: Vec<Finding> = rows
                .iter()
                .map(|&(a, c, u)| {
                    let mut f = Finding::new(Code::ALL[c], String::new());
                    f.set_ids(a, u, "", "");
                    f
                })
                .collect();
            let mut keyed: Vec<&Finding> = findings.iter().collect();
            sort_in_order(&mut keyed);
            let mut compared: Vec<&Finding> = findings.iter().collect();
            compared.sort_by(|a, b| a.cmp_order(b));
            let text = |v: &[&Finding]| {
                v.iter()
                    .map(|f| (f.account_id().to_string(), f.code.as_str(), f.unsub_id().to_string()))
                    .collect::<Vec<_>>()
            };
            prop_assert_eq!(text(&keyed), text(&compared));
        });
    }

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
        f.set_ids("acc-1", "uns-1", "ord-1", "");
        assert_eq!(
            [f.account_id(), f.unsub_id(), f.order_id(), f.payment_id()],
            ["acc-1", "uns-1", "ord-1", ""]
        );
        let id = f.id();
        // Values and message are not part of the identity.
        let mut g = f.clone().amounts("refund_amount", Decimal::TEN, Decimal::ONE);
        g.message = "another".into();
        assert_eq!(g.id(), id);
        // Every identity part is.
        for change in 0..5 {
            let mut h = f.clone();
            let mut ids = [f.account_id(), f.unsub_id(), f.order_id(), f.payment_id()].map(str::to_string);
            match change {
                0 => h.code = Code::HANDLING_FEE_MISMATCH,
                k => ids[k - 1].push('x'),
            }
            h.set_ids(&ids[0], &ids[1], &ids[2], &ids[3]);
            if change == 2 {
                // The same change by the setters that keep the other ids.
                let mut k = f.clone();
                k.set_unsub_id(&ids[1]);
                assert_eq!(k, h);
                k.set_ids("", "", "", "pay-1");
                k.set_unsub_ids("acc-1", &ids[1], "ord-1");
                assert_eq!(
                    [k.account_id(), k.unsub_id(), k.order_id(), k.payment_id()],
                    ["acc-1", "uns-1x", "ord-1", "pay-1"]
                );
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
