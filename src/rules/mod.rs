//! The rules of docs/rules.md as small pure functions — no polars, no I/O:
//! plain values in, decisions out. Each rule module has one entry point of
//! the same shape ([`Rule`]: its facts in, its step and findings out), owns
//! its state (R3c's [`r3_type::Quota`], R1's [`r1_payments::OrderPayments`])
//! and declares what it reads and raises ([`declared`]). The engine
//! ([`crate::engine`]) links the exports, walks each account's
//! unsubscriptions in order and calls these.

pub mod declared;
pub mod finding;
pub mod r0_linking;
pub mod r10_value_added;
pub mod r11_batches;
pub mod r1_payments;
pub mod r2_blocked;
pub mod r3_type;
pub mod r4_amounts;
pub mod r5_review;
pub mod r6_cycle;
pub mod r7_recorded;
pub mod r8_destination;
pub mod r9_deadline;

pub use finding::{Cell, Code, Finding, Severity};

use rust_decimal::Decimal;

use crate::config::Policy;
use crate::model::{BillingMode, Currency, InstanceState, ItemKind, Month, OrderType, RefundType, UnsubStatus};
use crate::time::{Calendar, Micros};

/// The fields of an order the rules read.
#[derive(Debug, Clone, Copy)]
pub struct OrderFacts<'a> {
    pub order_id: &'a str,
    pub account_id: &'a str,
    pub instance_id: &'a str,
    pub item_kind: ItemKind,
    pub billing_mode: BillingMode,
    pub order_type: OrderType,
    pub ordered_at: Micros,
    pub service_start: Micros,
    pub service_end: Micros,
    pub amount: Decimal,
    pub coupon_amount: Decimal,
    pub currency: Currency,
    pub promotional: bool,
    pub invoice_issued: bool,
}

impl OrderFacts<'_> {
    /// `cash_due(O) = amount − coupon_amount` (docs/rules.md#terms), exact.
    pub fn cash_due(&self) -> Decimal {
        self.amount - self.coupon_amount
    }
}

/// The fields of an unsubscription the rules read, as recorded.
#[derive(Debug, Clone, Copy)]
pub struct UnsubFacts<'a> {
    pub unsub_id: &'a str,
    pub account_id: &'a str,
    pub order_id: &'a str,
    pub status: UnsubStatus,
    pub instance_state: InstanceState,
    pub requested_at: Micros,
    pub reviewed_at: Option<Micros>,
    pub completed_at: Option<Micros>,
    pub refunded_at: Option<Micros>,
    pub refund_type: Option<RefundType>,
    pub refund_amount: Option<Decimal>,
    pub handling_fee: Option<Decimal>,
    pub coupon_returned: Option<Decimal>,
    pub refund_destination: &'a str,
    pub billing_cycle: Option<Month>,
}

impl UnsubFacts<'_> {
    pub fn completed(&self) -> bool {
        self.status == UnsubStatus::Completed
    }

    /// The recorded refund, 0 when there is none.
    pub fn recorded_refund(&self) -> Decimal {
        self.refund_amount.unwrap_or_default()
    }

    /// R8 and R9 look at refunds that were paid out: completed, recorded > 0.
    pub fn pays_out(&self) -> bool {
        self.completed() && self.recorded_refund() > Decimal::ZERO
    }
}

/// What the rules after R0 read of a linked unsubscription: its row and
/// its order.
#[derive(Clone, Copy)]
pub struct Linked<'a> {
    pub unsub: &'a UnsubFacts<'a>,
    pub order: &'a OrderFacts<'a>,
}

/// What every rule may read besides the rows: the policy, its calendar and
/// the as_of instant.
#[derive(Clone, Copy)]
pub struct Env<'a> {
    pub policy: &'a Policy,
    pub cal: &'a Calendar,
    pub as_of: Micros,
}

/// The shape every rule has: the facts it reads in (`Facts`: rows, and
/// the results of the rules before it), its step out (what it decided,
/// which explain replays) and its findings pushed. Each rule module
/// implements it (`R0` … `R11`; R1 twice: per payment, and per order as
/// `R1Order` once [`r1_payments::OrderPayments`] has summed its payments);
/// the engine only sequences them.
pub trait Rule {
    /// What the rule reads.
    type Facts<'a>;
    /// What it decided.
    type Step;
    fn check(facts: &Self::Facts<'_>, env: &Env<'_>, findings: &mut Vec<Finding>) -> Self::Step;
}

/// One line of a rule trail, as `explain` shows it: which rule, the values
/// it used (name, value as written in the reports) and the sentence.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Step {
    pub rule: &'static str,
    pub name: &'static str,
    pub values: Vec<(&'static str, String)>,
    /// The sentence; a second line continues it (R4's fee).
    pub lines: Vec<String>,
}

impl Step {
    pub fn new(rule: &'static str, name: &'static str, line: String) -> Step {
        Step {
            rule,
            name,
            values: Vec::new(),
            lines: vec![line],
        }
    }

    pub fn value(mut self, name: &'static str, value: impl ToString) -> Step {
        self.values.push((name, value.to_string()));
        self
    }
}

/// A timestamp as the reports write it, or `-`.
pub fn ts_or_dash(cal: &Calendar, t: Option<Micros>) -> String {
    t.map(|t| cal.format(t)).unwrap_or_else(|| "-".into())
}

#[cfg(test)]
pub(crate) mod testkit {
    //! Builders for rule tests.
    use super::*;
    use crate::config::Policy;
    use crate::time::Calendar;
    use std::str::FromStr;

    pub fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    pub fn cal() -> Calendar {
        Calendar::new(chrono_tz::Asia::Shanghai, Default::default())
    }

    pub fn t(s: &str) -> Micros {
        cal().parse_ts(s).unwrap()
    }

    /// The once-a-year preset with a USD threshold of 1000.
    pub fn policy() -> Policy {
        Policy::from_toml("[review]\nthresholds = { USD = \"1000\" }\n", "test.toml").unwrap()
    }

    pub fn order() -> OrderFacts<'static> {
        OrderFacts {
            order_id: "O1",
            account_id: "A",
            instance_id: "i-1",
            item_kind: ItemKind::Edition,
            billing_mode: BillingMode::Subscription,
            order_type: OrderType::New,
            ordered_at: t("2021-09-01T10:00:00+08:00"),
            service_start: t("2021-09-01T10:00:00+08:00"),
            service_end: t("2022-09-01T10:00:00+08:00"),
            amount: d("300.00"),
            coupon_amount: d("0"),
            currency: Currency::parse("USD").unwrap(),
            promotional: false,
            invoice_issued: false,
        }
    }

    /// A completed partial unsubscription of [`order`], requested 2021-09-10,
    /// refunded the next day to credit_card.
    pub fn unsub() -> UnsubFacts<'static> {
        UnsubFacts {
            unsub_id: "U1",
            account_id: "A",
            order_id: "O1",
            status: UnsubStatus::Completed,
            instance_state: InstanceState::Normal,
            requested_at: t("2021-09-10T10:00:00+08:00"),
            reviewed_at: None,
            completed_at: Some(t("2021-09-10T11:00:00+08:00")),
            refunded_at: Some(t("2021-09-11T10:00:00+08:00")),
            refund_type: Some(RefundType::Partial),
            refund_amount: Some(d("100.00")),
            handling_fee: Some(d("0.00")),
            coupon_returned: Some(d("0.00")),
            refund_destination: "credit_card",
            billing_cycle: Month::parse("2021-09"),
        }
    }

    /// Policy, calendar and an as_of of 2022-01-01.
    pub fn with_env<R>(policy: &Policy, f: impl FnOnce(&Env<'_>) -> R) -> R {
        let cal = cal();
        f(&Env {
            policy,
            cal: &cal,
            as_of: t("2022-01-01T00:00:00+08:00"),
        })
    }
}
