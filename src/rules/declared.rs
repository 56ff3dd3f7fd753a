//! What each rule reads and raises, declared as data next to the rule
//! (`rN_*::RULE`): the input columns it reads itself, the results of other
//! rules it reads (and through them their columns), the policy keys and
//! the finding codes. [`Rule::all_columns`] follows the results, so "which
//! rules does a missing column touch" has one answer; docs/rules.md shows
//! each declaration as a table that a test checks (`BLESS=1` rewrites it).

use super::Code;

/// One of the three inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum File {
    Orders,
    Payments,
    Unsubscriptions,
}

impl File {
    pub fn name(self) -> &'static str {
        match self {
            File::Orders => "orders",
            File::Payments => "payments",
            File::Unsubscriptions => "unsubscriptions",
        }
    }
}

/// An input column: its file and its name in docs/inputs.md.
pub type Column = (File, &'static str);

/// A result a rule reads from another rule (or the run's as_of).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Via {
    /// `R0` … `R11`, or `as_of`.
    pub from: &'static str,
    /// What it reads, in docs/rules.md's words.
    pub result: &'static str,
}

/// A rule's declaration.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// `R0` … `R11`, as in docs/rules.md.
    pub id: &'static str,
    /// The module that declares it (`module_path!()` there).
    pub module: &'static str,
    pub title: &'static str,
    /// Input columns the rule reads itself.
    pub columns: &'static [Column],
    /// Results of other rules it reads.
    pub via: &'static [Via],
    /// Policy keys, dotted as in docs/policy.md (`review.thresholds`).
    pub policy: &'static [&'static str],
    /// Finding codes it can raise.
    pub codes: &'static [Code],
}

/// The run's as_of: the latest event timestamp of the accepted inputs,
/// unless `--as-of` gives it.
pub const AS_OF_COLUMNS: &[Column] = &[
    (File::Orders, "ordered_at"),
    (File::Payments, "paid_at"),
    (File::Unsubscriptions, "requested_at"),
    (File::Unsubscriptions, "reviewed_at"),
    (File::Unsubscriptions, "completed_at"),
    (File::Unsubscriptions, "refunded_at"),
];

/// Every rule, in docs/rules.md's order.
pub const RULES: [&Rule; 12] = [
    &super::r0_linking::RULE,
    &super::r1_payments::RULE,
    &super::r2_blocked::RULE,
    &super::r3_type::RULE,
    &super::r4_amounts::RULE,
    &super::r5_review::RULE,
    &super::r6_cycle::RULE,
    &super::r7_recorded::RULE,
    &super::r8_destination::RULE,
    &super::r9_deadline::RULE,
    &super::r10_value_added::RULE,
    &super::r11_batches::RULE,
];

/// The rule with this id.
pub fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().copied().find(|r| r.id == id)
}

impl Rule {
    /// Every input column the rule depends on: its own, and those of the
    /// rules (and as_of) whose results it reads, followed to the end;
    /// sorted by file, then name.
    pub fn all_columns(&self) -> Vec<Column> {
        let mut seen: Vec<&str> = vec![self.id];
        let mut todo: Vec<&Rule> = vec![self];
        let mut out: Vec<Column> = Vec::new();
        while let Some(r) = todo.pop() {
            out.extend(r.columns);
            for v in r.via {
                if v.from == "as_of" {
                    out.extend(AS_OF_COLUMNS);
                } else if !seen.contains(&v.from) {
                    seen.push(v.from);
                    todo.extend(rule(v.from));
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }

    /// The declaration as docs/rules.md shows it (a Markdown table).
    pub fn markdown(&self) -> String {
        let columns = |cols: &[Column]| {
            let mut parts: Vec<String> = Vec::new();
            for file in [File::Orders, File::Payments, File::Unsubscriptions] {
                let names: Vec<&str> = cols.iter().filter(|c| c.0 == file).map(|c| c.1).collect();
                if !names.is_empty() {
                    parts.push(format!("{}: {}", file.name(), names.join(", ")));
                }
            }
            or_none(parts.join(" · "))
        };
        let via: Vec<String> = self.via.iter().map(|v| format!("{} {}", v.from, v.result)).collect();
        let codes: Vec<&str> = self.codes.iter().map(|c| c.as_str()).collect();
        let policy: Vec<String> = self.policy.iter().map(|k| format!("`{k}`")).collect();
        format!(
            "| declared (`{}::RULE`) | |\n|---|---|\n| reads | {} |\n| through | {} |\n| depends on | {} |\n| policy | {} |\n| raises | {} |\n",
            self.module.rsplit("::").next().unwrap_or(self.module),
            columns(self.columns),
            or_none(via.join("; ")),
            columns(&self.all_columns()),
            or_none(policy.join(", ")),
            or_none(codes.join(", ")),
        )
    }
}

fn or_none(s: String) -> String {
    if s.is_empty() {
        "—".into()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::{Orders, Payments, Table, Unsubscriptions};

    fn columns_of(file: File) -> &'static [(&'static str, bool)] {
        match file {
            File::Orders => Orders::COLUMNS,
            File::Payments => Payments::COLUMNS,
            File::Unsubscriptions => Unsubscriptions::COLUMNS,
        }
    }

    #[test]
    fn declared_columns_exist_and_results_come_from_rules() {
        for r in RULES {
            for (file, name) in r.columns.iter().chain(AS_OF_COLUMNS) {
                assert!(
                    columns_of(*file).iter().any(|(c, _)| c == name),
                    "{}: {}.{name} is no input column",
                    r.id,
                    file.name()
                );
            }
            for v in r.via {
                assert!(v.from == "as_of" || rule(v.from).is_some(), "{}: {}", r.id, v.from);
                assert_ne!(v.from, r.id, "{} reads itself", r.id);
            }
        }
    }

    /// Each code is declared by the rules Code::rule names, and only them.
    #[test]
    fn every_code_is_declared_by_its_rule() {
        for &code in Code::ALL {
            let declared: Vec<&str> = RULES.iter().filter(|r| r.codes.contains(&code)).map(|r| r.id).collect();
            let named: Vec<&str> = code.rule().split('/').collect();
            assert_eq!(declared, named, "{}", code.as_str());
        }
    }

    /// The results a rule reads bring their columns along: R6 and R9 read
    /// reviewed_at through R5's approved_at, R3's quota reads R2's states.
    #[test]
    fn dependencies_follow_the_results() {
        let depends = |id: &str, file: File, col: &str| rule(id).unwrap().all_columns().contains(&(file, col));
        assert!(depends("R6", File::Unsubscriptions, "reviewed_at"));
        assert!(depends("R9", File::Unsubscriptions, "reviewed_at"));
        assert!(depends("R3", File::Unsubscriptions, "instance_state"));
        assert!(depends("R7", File::Payments, "amount"));
        assert!(!depends("R11", File::Orders, "amount"));
        assert!(!depends("R0", File::Unsubscriptions, "reviewed_at"));
    }

    /// Each declared policy key is a key of docs/policy.md.
    #[test]
    fn declared_policy_keys_are_documented() {
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/policy.md")).unwrap();
        for r in RULES {
            for key in r.policy {
                if doc.contains(&format!("## `[{key}]`")) {
                    continue; // a whole table, such as [minor_units]
                }
                let (section, name) = match key.split_once('.') {
                    Some((t, k)) => (format!("## `[{t}]`"), k),
                    None => ("## Top-level keys".to_string(), *key),
                };
                let at = doc
                    .find(&section)
                    .unwrap_or_else(|| panic!("{}: no section {section}", r.id));
                let rest = &doc[at + section.len()..];
                let body = &rest[..rest.find("\n## ").unwrap_or(rest.len())];
                assert!(
                    body.contains(&format!("| `{name}` |")),
                    "{}: {key} is not in docs/policy.md",
                    r.id
                );
            }
        }
    }

    /// docs/rules.md shows each declaration, generated from it; with
    /// `BLESS=1` the test rewrites the tables.
    #[test]
    fn docs_rules_show_the_declarations() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/rules.md");
        let doc = std::fs::read_to_string(path).unwrap();
        let mut want = doc.clone();
        for r in RULES {
            let (open, close) = (
                format!("<!-- declared {} -->\n", r.id),
                format!("<!-- end {} -->", r.id),
            );
            let start = want
                .find(&open)
                .unwrap_or_else(|| panic!("docs/rules.md has no `{}`", open.trim()));
            let end = want[start..].find(&close).map(|e| start + e).expect("the end marker");
            want.replace_range(start + open.len()..end, &r.markdown());
        }
        if want != doc {
            if std::env::var("BLESS").is_ok_and(|v| v == "1") {
                std::fs::write(path, &want).unwrap();
            } else {
                panic!("docs/rules.md does not show the rules' declarations; rerun with BLESS=1 to rewrite them");
            }
        }
    }
}
