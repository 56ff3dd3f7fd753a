//! The rules of SPEC §4 as small pure functions — no polars, no I/O: plain
//! values in, decisions out. The engine ([`crate::engine`]) joins the
//! exports, walks each account's unsubscriptions in order and calls these.

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

use crate::model::{BillingMode, Currency, ItemKind, OrderType};
use crate::time::Micros;

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
    /// `cash_due(O) = amount − coupon_amount` (SPEC §2), exact.
    pub fn cash_due(&self) -> Decimal {
        self.amount - self.coupon_amount
    }
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
}
