//! What the generator draws from: the products and their prices, the four
//! currencies it prices in, payment methods, terms, and the weights of the
//! model's instance states. The tokens written come from [`crate::model`];
//! only the generator's own choices (weights, prices, exchange rates) live
//! here.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::model::{Currency, InstanceState, ItemKind};

/// The currencies of the generated orders. The model's [`Currency`] is any
/// three letters; these four are the ones with prices (exchange rates)
/// here. Their minor units and review thresholds come from the policy.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Cur {
    Usd,
    Eur,
    Cny,
    Jpy,
}

impl Cur {
    pub(super) const ALL: [Cur; 4] = [Cur::Usd, Cur::Eur, Cur::Cny, Cur::Jpy];

    pub(super) fn code(self) -> &'static str {
        match self {
            Cur::Usd => "USD",
            Cur::Eur => "EUR",
            Cur::Cny => "CNY",
            Cur::Jpy => "JPY",
        }
    }

    pub(super) fn currency(self) -> Currency {
        Currency::parse(self.code()).expect("three upper-case letters")
    }

    /// A USD price in cents, in this currency's minor units.
    pub(super) fn usd_cents_to_minor(self, c: i64) -> i64 {
        match self {
            Cur::Usd => c,
            Cur::Eur => (c * 92 + 50) / 100,
            Cur::Cny => (c * 71 + 5) / 10,
            Cur::Jpy => (c * 140 + 50) / 100,
        }
    }

    pub(super) fn pick(rng: &mut ChaCha8Rng) -> Cur {
        match rng.gen_range(0..100) {
            0..=64 => Cur::Usd,
            65..=77 => Cur::Eur,
            78..=91 => Cur::Cny,
            _ => Cur::Jpy,
        }
    }
}

/// Payment methods (`payments.method` is free text in the model; R8
/// compares it as written).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Method {
    CreditCard,
    BankTransfer,
    Wallet,
    AccountBalance,
}

impl Method {
    pub(super) const ALL: [Method; 4] = [
        Method::CreditCard,
        Method::BankTransfer,
        Method::Wallet,
        Method::AccountBalance,
    ];

    pub(super) fn token(self) -> &'static str {
        match self {
            Method::CreditCard => "credit_card",
            Method::BankTransfer => "bank_transfer",
            Method::Wallet => "wallet",
            Method::AccountBalance => "account_balance",
        }
    }

    pub(super) fn parse(s: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.token() == s)
    }

    pub(super) fn pick(rng: &mut ChaCha8Rng) -> Method {
        match rng.gen_range(0..100) {
            0..=44 => Method::CreditCard,
            45..=64 => Method::Wallet,
            65..=79 => Method::BankTransfer,
            _ => Method::AccountBalance,
        }
    }
}

/// One of the six blocked states (R2), evenly.
pub(super) fn blocked_state(rng: &mut ChaCha8Rng) -> InstanceState {
    match rng.gen_range(0..6) {
        0 => InstanceState::Overdue,
        1 => InstanceState::SecurityLocked,
        2 => InstanceState::ConfigChanging,
        3 => InstanceState::TransactionInProgress,
        4 => InstanceState::SpecialUnsubscription,
        _ => InstanceState::LegalFrozen,
    }
}

/// Normal mostly; each blocked state a little (overdue more often on
/// pay-per-use instances).
pub(super) fn pick_state(rng: &mut ChaCha8Rng, ppu: bool) -> InstanceState {
    let r = rng.gen_range(0..1000);
    let overdue = if ppu { 60 } else { 25 };
    if r < overdue {
        InstanceState::Overdue
    } else if r < overdue + 15 {
        InstanceState::SecurityLocked
    } else if r < overdue + 30 {
        InstanceState::ConfigChanging
    } else if r < overdue + 45 {
        InstanceState::TransactionInProgress
    } else if r < overdue + 55 {
        InstanceState::SpecialUnsubscription
    } else if r < overdue + 65 {
        InstanceState::LegalFrozen
    } else {
        InstanceState::Normal
    }
}

pub(super) struct Product {
    pub(super) name: &'static str,
    pub(super) item: ItemKind,
    /// Monthly list price in USD cents (per unit of quantity).
    pub(super) monthly: i64,
    weight: u32,
}

const fn product(name: &'static str, item: ItemKind, monthly: i64, weight: u32) -> Product {
    Product {
        name,
        item,
        monthly,
        weight,
    }
}

pub(super) const PRODUCTS: &[Product] = &[
    product("Security Center Basic", ItemKind::Edition, 990, 30),
    product("Security Center Advanced", ItemKind::Edition, 2900, 26),
    product("Security Center, Pro", ItemKind::Edition, 4900, 20),
    product("Security Center Enterprise", ItemKind::Edition, 12900, 6),
    product("Security Center Ultimate", ItemKind::Edition, 39900, 2),
    product("云安全中心 企业版", ItemKind::Edition, 12900, 2),
    product("Server Protection Quota", ItemKind::AssetQuota, 600, 50),
    product("Host Asset Quota, 10 servers", ItemKind::AssetQuota, 900, 25),
    product("Container Image Scan Quota", ItemKind::AssetQuota, 400, 25),
    product("Anti-Ransomware Package", ItemKind::ValueAdded, 1200, 30),
    product("Log Analysis Package", ItemKind::ValueAdded, 900, 30),
    product("Web Tamper Protection", ItemKind::ValueAdded, 1900, 20),
    product("Malicious File Detection, SDK", ItemKind::ValueAdded, 700, 15),
    product("Server \"Turbo\" Guard", ItemKind::ValueAdded, 500, 5),
    product("Cloud Server ecs.g6.large", ItemKind::Resource, 1900, 35),
    product("Object Storage 1 TB", ItemKind::Resource, 1500, 25),
    product("Managed Database, 4 vCPU", ItemKind::Resource, 6900, 8),
    product("Load Balancer", ItemKind::Resource, 1800, 15),
    product("Bandwidth 100 Mbps", ItemKind::Resource, 2500, 13),
];

pub(super) fn pick_product(rng: &mut ChaCha8Rng, item: ItemKind) -> u16 {
    let total: u32 = PRODUCTS.iter().filter(|p| p.item == item).map(|p| p.weight).sum();
    let mut r = rng.gen_range(0..total);
    for (i, p) in PRODUCTS.iter().enumerate() {
        if p.item != item {
            continue;
        }
        if r < p.weight {
            return i as u16;
        }
        r -= p.weight;
    }
    unreachable!("weights cover the range")
}

/// The next edition up (the upgrade target), or the same product.
pub(super) fn upgrade_of(product: u16) -> u16 {
    let p = product as usize;
    if PRODUCTS[p].item == ItemKind::Edition && p + 1 < PRODUCTS.len() && PRODUCTS[p + 1].item == ItemKind::Edition {
        product + 1
    } else {
        product
    }
}

/// Term in days.
pub(super) fn pick_term(rng: &mut ChaCha8Rng) -> i64 {
    match rng.gen_range(0..100) {
        0..=29 => 30,
        30..=79 => 365,
        80..=91 => 730,
        _ => 1095,
    }
}

/// A term's price in months of the monthly list price.
pub(super) fn term_months(term: i64) -> i64 {
    match term {
        30 => 1,
        365 => 10,
        730 => 18,
        _ => 24,
    }
}
