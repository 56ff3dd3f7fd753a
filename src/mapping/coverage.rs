//! Coverage: what the data lets refund-recon check (docs/mapping.md,
//! "Coverage"). From the rule declarations ([`crate::rules::declared`]) and
//! the mapping, each rule and finding code is *checked*, *assumed* (a
//! column it reads, directly or through another rule's result, is a
//! constant of the mapping) or *not checked* (such a column is absent).
//! Without a mapping everything is checked.

use std::collections::BTreeMap;

use super::{Mapping, ValueFrom};
use crate::rules::declared::{Column, File, Rule, RULES};
use crate::rules::Code;

/// One rule's or code's coverage.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Status {
    Checked,
    /// Checked under the mapping's constants for these columns.
    Assumed {
        columns: Vec<String>,
    },
    /// These columns are absent.
    NotChecked {
        columns: Vec<String>,
    },
}

impl Status {
    pub fn is_checked(&self) -> bool {
        !matches!(self, Status::NotChecked { .. })
    }

    pub fn word(&self) -> &'static str {
        match self {
            Status::Checked => "checked",
            Status::Assumed { .. } => "assumed",
            Status::NotChecked { .. } => "not checked",
        }
    }
}

/// The coverage of a run: per rule, per finding code.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Coverage {
    pub rules: BTreeMap<&'static str, Status>,
    pub codes: BTreeMap<&'static str, Status>,
}

/// Codes of R7 that compare one recorded column each: such a code needs
/// its own column and the rule's others, not the columns of its siblings
/// (an export without handling_fee can still have its refunds checked).
const OWN_COLUMNS: &[(Code, &[Column])] = &[
    (Code::REFUND_TYPE_MISMATCH, &[(File::Unsubscriptions, "refund_type")]),
    (Code::QUOTA_EXCEEDED, &[(File::Unsubscriptions, "refund_type")]),
    (
        Code::REFUND_AMOUNT_MISMATCH,
        &[(File::Unsubscriptions, "refund_amount")],
    ),
    (Code::REFUND_EXCEEDS_PAID, &[(File::Unsubscriptions, "refund_amount")]),
    (Code::HANDLING_FEE_MISMATCH, &[(File::Unsubscriptions, "handling_fee")]),
    (
        Code::COUPON_RETURN_MISMATCH,
        &[(File::Unsubscriptions, "coupon_returned")],
    ),
    (Code::UNEXPECTED_REJECTION, &[]),
];

fn status(columns: &[Column], mapping: Option<&Mapping>) -> Status {
    let Some(m) = mapping else {
        return Status::Checked;
    };
    let name = |c: &Column| format!("{}.{}", c.0.name(), c.1);
    let of = |want: fn(&ValueFrom) -> bool| -> Vec<String> {
        columns
            .iter()
            .filter(|c| m.column(c.0, c.1).is_some_and(|cm| want(&cm.value)))
            .map(name)
            .collect()
    };
    let absent = of(|v| matches!(v, ValueFrom::Absent));
    if !absent.is_empty() {
        return Status::NotChecked { columns: absent };
    }
    let assumed = of(|v| matches!(v, ValueFrom::Const(_)));
    if assumed.is_empty() {
        Status::Checked
    } else {
        Status::Assumed { columns: assumed }
    }
}

/// The columns one code of a rule depends on.
fn code_columns(rule: &Rule, code: Code) -> Vec<Column> {
    let all = rule.all_columns();
    let own: Vec<Column> = OWN_COLUMNS
        .iter()
        .filter(|(c, _)| rule.codes.contains(c))
        .flat_map(|(_, cols)| cols.iter().copied())
        .collect();
    match OWN_COLUMNS.iter().find(|(c, _)| *c == code) {
        Some((_, mine)) => all
            .into_iter()
            .filter(|c| !own.contains(c) || mine.contains(c))
            .collect(),
        None => all,
    }
}

/// The coverage of a run with this mapping (`None`: canonical inputs).
pub fn coverage(mapping: Option<&Mapping>) -> Coverage {
    let mut cov = Coverage::default();
    for rule in RULES {
        cov.rules.insert(rule.id, status(&rule.all_columns(), mapping));
        for &code in rule.codes {
            cov.codes
                .insert(code.as_str(), status(&code_columns(rule, code), mapping));
        }
    }
    cov
}

impl Coverage {
    /// Whether findings of this code were looked for.
    pub fn checks(&self, code: Code) -> bool {
        self.codes.get(code.as_str()).is_none_or(Status::is_checked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_inputs_check_everything() {
        let c = coverage(None);
        assert_eq!(c.rules.len(), 12);
        assert!(c.codes.values().all(|s| *s == Status::Checked));
    }

    #[test]
    fn an_absent_column_leaves_its_rules_and_their_dependants_unchecked() {
        let m = Mapping::load("alibaba-bss").unwrap();
        let c = coverage(Some(&m));
        // No handling fee in Alibaba's exports: that code is not checked …
        assert!(!c.checks(Code::HANDLING_FEE_MISMATCH));
        // … the refund itself still is, under the preset's constants.
        assert!(matches!(c.codes["REFUND_AMOUNT_MISMATCH"], Status::Assumed { .. }));
        // No refund_type: the type comparison is not checked.
        assert!(!c.checks(Code::REFUND_TYPE_MISMATCH));
        // instance_state = "normal" is a constant: R2 is assumed.
        match &c.rules["R2"] {
            Status::Assumed { columns } => assert!(columns.contains(&"unsubscriptions.instance_state".to_string())),
            other => panic!("{other:?}"),
        }
    }
}
