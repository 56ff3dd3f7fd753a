//! `refund-recon generate`: seeded synthetic exports (`orders.csv`,
//! `payments.csv`, `unsubscriptions.csv`) for benchmarks and property tests.
//!
//! # Determinism and speed
//! Accounts are cut into fixed blocks (the block size depends only on the
//! options, never on the thread count). Every block has its own ChaCha8
//! streams seeded from `(seed, block index, stream)`: stream 0 draws the data,
//! stream 1 the deliberate mistakes (`error_rate`), stream 2 the malformed rows
//! (`malformed_rate`). The files are byte-identical for one seed whatever the
//! number of rayon threads. Orders and payments do not depend on
//! `error_rate` (only the mistaken unsubscription rows change, and a moved
//! release renumbers its account's unsubscriptions); with `malformed_rate` > 0
//! the valid rows are the same, in the same order, with malformed rows
//! between them. Groups of 64 blocks are generated in parallel, numbered (ids
//! are global sequence numbers, from a prefix sum over the group), formatted
//! in parallel into byte buffers by hand (no `format!` on the hot path), and
//! written in block order while the next group is generated, so memory stays
//! bounded (about 80 MB). A block holds about 2048 orders (at least one
//! account), so a data set with very few accounts uses few threads.
//!
//! Money is held in integer minor units of its currency (exact); time as Unix
//! seconds. The billing zone is `Asia/Shanghai`, a fixed UTC+08:00 since 1991,
//! so local months, years and business days are computed with that offset.
//!
//! # What it models
//! * `orders` is exactly `opts.orders` data rows, spread evenly over
//!   `opts.accounts` accounts (`floor` shares); malformed rows come on top.
//!   Payments are about 1.10 and unsubscriptions about 0.22 per order
//!   (10M orders: 11.05M payments, 2.2M unsubscriptions, 3.0 GB). About a
//!   quarter of the orders are pay-per-use, 3.5% above a review threshold.
//! * Accounts have a main currency (USD mostly, EUR, CNY, JPY; a few orders in
//!   another one) and a preferred payment method.
//! * Subscription instances: an `edition`, `asset_quota` (sometimes with a
//!   `value_added` package on the same instance, bought and renewed with it) or
//!   `resource`; terms of 30/365/730/1095 days; renewals ordered 1–15 days
//!   before the term ends (so they start in the future); upgrades mid-term;
//!   some purchases start days after they are ordered; coupons on some
//!   orders (a few fully paid by coupon); `promotional` / `invoice_issued`
//!   now and then (booleans sometimes written `1`, `yes`, `TRUE`, ...).
//!   Prices put a few % of orders above the bundled review thresholds
//!   (USD 1000, EUR 1000, CNY 7000, JPY 150000).
//! * Pay-per-use instances (`asset_quota` optionally with `value_added`,
//!   `resource`, `value_added`): hourly or daily `usage` orders (the first one
//!   sometimes `new`), often without payment rows; some are released by an
//!   unsubscription (`release`, refund 0) after the last usage.
//! * Payments: one `succeeded` payment of `cash_due` near `ordered_at`; some
//!   with a `failed` attempt first; some split into two succeeded payments;
//!   none when `cash_due` is 0.
//! * Unsubscriptions: early ones within (and exactly at, and just after) the
//!   120 h window, later partial ones, cancellations of renewals that have not
//!   started (`unactivated`), instance teardowns (current order, upgrade and
//!   future renewal together, often as a batch; value-added packages follow
//!   after the asset quota's unsubscription completed, so R10 stays clean),
//!   account-wide batches (2–5 rows, one `requested_at`), retries after a
//!   blocked attempt. Some `requested_at` lie within an hour of a local month
//!   end; timestamps use `+08:00` mostly, `Z` sometimes, a space separator
//!   rarely, and fractional seconds occasionally (non-zero fractions only on
//!   `paid_at`, `completed_at`, `refunded_at`, where they cannot change a rule).
//! * Recorded values are computed under the bundled once-a-year policy (SPEC
//!   §3 defaults plus its 2021 National Day holidays): per account in
//!   (`requested_at`, `unsub_id`) order, R2 blocked states and promotional
//!   invoiced unactivated orders are `rejected`, R3 type with the
//!   1-per-calendar-year quota (completed and pending consume it), R4 amounts
//!   (partial by days rounded up, half-up, fee 0), R5 review and
//!   auto-approval, R6 cycle, R8 original method (about 4% go to
//!   `account_balance`, an info finding), R9 refund within 2 business days.
//!   Pending rows are never above a review threshold (no `STALE_PENDING`).
//! * `error_rate`: that share of completed unsubscriptions gets one mistake:
//!   refund off by 1–5 minor units, wrong billing cycle, wrong refund type,
//!   wrong destination, refund paid late, completed despite a blocked state,
//!   or (rarely) a missing order or another account. Mistakes are placed so
//!   they do not change other rows' expected values. Also, with probability
//!   `error_rate` a completed pay-per-use release is placed before the last
//!   usage period (`CHARGED_AFTER_RELEASE`). `wrong_recorded` counts both.
//!   One mistake can raise more than one finding (a refund raised above
//!   cash_due is also `REFUND_EXCEEDS_PAID`; every usage order after an early
//!   release is flagged).
//! * So with `error_rate` 0 the bundled policy should find nothing but
//!   `FALLBACK_TO_BALANCE` (info) on about 2% of unsubscriptions; an
//!   independent re-implementation of R0–R11 confirmed that on 300k orders.
//!   Not modelled: other policies' fee tiers or hour units (under
//!   `ten-a-year` most partial refunds differ), `REFUND_NOT_PAID` (every refund
//!   has a `refunded_at`), `STALE_PENDING`, payment mistakes. Requests end on
//!   2022-12-28; service periods run up to 2026.
//! * `malformed_rate`: that share of each file's rows (in expectation) are
//!   extra malformed rows inserted after a valid row: bad money (`1e3`, `.5`,
//!   `1,000`, ...), bad timestamps, unknown tokens, missing required values,
//!   wrong field counts, duplicate ids, coupon above amount, end before start,
//!   out-of-order timestamps. Their ids end in `M` unless they duplicate one.

use crate::time::{civil_from_days, days_from_civil};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

/// Options of `refund-recon generate`.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// Folder to write the three CSV files into (created if missing).
    pub out: PathBuf,
    /// Number of accounts (the CLI defaults it to orders / 10, at least 1).
    pub accounts: u64,
    /// Number of valid order rows written (exact).
    pub orders: u64,
    /// Seed of every random choice.
    pub seed: u64,
    /// Share of completed unsubscriptions whose recorded values are wrong.
    pub error_rate: f64,
    /// Expected share of each file's rows that are malformed (below 1).
    pub malformed_rate: f64,
}

/// Row counts of a generated data set (malformed rows counted apart).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GenerateReport {
    pub orders: u64,
    pub payments: u64,
    pub unsubscriptions: u64,
    /// Deliberate mistakes: wrong recorded unsubscriptions plus usage charged
    /// after a release.
    pub wrong_recorded: u64,
    /// Malformed rows inserted, over all three files.
    pub malformed: u64,
}

pub const ORDERS_HEADER: &str = "order_id,account_id,instance_id,product,item_kind,billing_mode,order_type,ordered_at,service_start,service_end,amount,coupon_amount,currency,promotional,invoice_issued";
pub const PAYMENTS_HEADER: &str = "payment_id,order_id,account_id,paid_at,amount,currency,method,status";
pub const UNSUBSCRIPTIONS_HEADER: &str = "unsub_id,order_id,account_id,batch_id,requested_at,reviewed_at,completed_at,refunded_at,instance_state,status,refund_type,refund_amount,handling_fee,coupon_returned,refund_destination,billing_cycle";

/// Blocks generated (and formatted) in parallel before being written.
const GROUP_BLOCKS: u64 = 64;
/// About this many orders per block.
const ORDERS_PER_BLOCK: u64 = 2048;

// ---------------------------------------------------------------- time ----

const MINUTE: i64 = 60;
const HOUR: i64 = 3600;
const DAY: i64 = 86_400;
/// Asia/Shanghai: UTC+08:00 without DST in the generated years.
const LOCAL_OFFSET: i64 = 8 * HOUR;
/// Unconditional refund window of the bundled policy.
const WINDOW: i64 = 120 * HOUR;
/// Auto-approval delay of the bundled policy.
const AUTO_APPROVE: i64 = 24 * HOUR;
const START: i64 = local_ts(2021, 1, 1, 0);
/// No request after this; refunds and reviews still end within 2022.
const HORIZON: i64 = local_ts(2022, 12, 28, 0);
/// Local holidays of the bundled policy (days since the epoch).
const HOLIDAYS: [i64; 5] = [
    days_from_civil(2021, 10, 1),
    days_from_civil(2021, 10, 4),
    days_from_civil(2021, 10, 5),
    days_from_civil(2021, 10, 6),
    days_from_civil(2021, 10, 7),
];

/// Unix seconds of a local (UTC+8) date at an hour.
const fn local_ts(y: i64, m: i64, d: i64, h: i64) -> i64 {
    days_from_civil(y, m, d) * DAY + h * HOUR - LOCAL_OFFSET
}

fn local_day(t: i64) -> i64 {
    (t + LOCAL_OFFSET).div_euclid(DAY)
}

/// Local month as `year * 12 + month - 1`.
fn month_index(t: i64) -> i64 {
    let (y, m, _) = civil_from_days(local_day(t));
    y * 12 + i64::from(m) - 1
}

fn local_year(t: i64) -> i64 {
    civil_from_days(local_day(t)).0
}

/// Start (local midnight) of the local month after the one holding `t`.
fn next_month_start(t: i64) -> i64 {
    let mi = month_index(t) + 1;
    local_ts(mi.div_euclid(12), mi.rem_euclid(12) + 1, 1, 0)
}

fn is_business_day(day: i64) -> bool {
    // 1970-01-01 was a Thursday: (day + 3) % 7 is 0 on Mondays.
    (day + 3).rem_euclid(7) < 5 && !HOLIDAYS.contains(&day)
}

/// R9: 23:59:59 local of the 2nd business day after approved_at's local date.
fn refund_deadline(approved: i64) -> i64 {
    let mut day = local_day(approved);
    let mut n = 0;
    while n < 2 {
        day += 1;
        if is_business_day(day) {
            n += 1;
        }
    }
    day * DAY + DAY - 1 - LOCAL_OFFSET
}

fn ceil_div(n: i64, d: i64) -> i64 {
    (n + d - 1).div_euclid(d)
}

/// round(n / d) half away from zero, for n >= 0, d > 0.
fn div_half_up(n: i64, d: i64) -> i64 {
    (2 * n + d) / (2 * d)
}

// ------------------------------------------------------------- tokens ----

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Item {
    Edition,
    AssetQuota,
    ValueAdded,
    Resource,
}

impl Item {
    fn token(self) -> &'static str {
        match self {
            Item::Edition => "edition",
            Item::AssetQuota => "asset_quota",
            Item::ValueAdded => "value_added",
            Item::Resource => "resource",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Subscription,
    PayPerUse,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum OType {
    New,
    Renewal,
    Upgrade,
    Usage,
}

impl OType {
    fn token(self) -> &'static str {
        match self {
            OType::New => "new",
            OType::Renewal => "renewal",
            OType::Upgrade => "upgrade",
            OType::Usage => "usage",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Cur {
    Usd,
    Eur,
    Cny,
    Jpy,
}

impl Cur {
    fn token(self) -> &'static str {
        match self {
            Cur::Usd => "USD",
            Cur::Eur => "EUR",
            Cur::Cny => "CNY",
            Cur::Jpy => "JPY",
        }
    }
    fn decimals(self) -> u32 {
        if self == Cur::Jpy {
            0
        } else {
            2
        }
    }
    /// Review threshold of the bundled policy, in minor units.
    fn threshold(self) -> i64 {
        match self {
            Cur::Usd | Cur::Eur => 100_000,
            Cur::Cny => 700_000,
            Cur::Jpy => 150_000,
        }
    }
    /// A USD price in cents, in this currency's minor units.
    fn usd_cents_to_minor(self, c: i64) -> i64 {
        match self {
            Cur::Usd => c,
            Cur::Eur => (c * 92 + 50) / 100,
            Cur::Cny => (c * 71 + 5) / 10,
            Cur::Jpy => (c * 140 + 50) / 100,
        }
    }
    fn pick(rng: &mut ChaCha8Rng) -> Cur {
        match rng.gen_range(0..100) {
            0..=64 => Cur::Usd,
            65..=77 => Cur::Eur,
            78..=91 => Cur::Cny,
            _ => Cur::Jpy,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Method {
    CreditCard,
    BankTransfer,
    Wallet,
    AccountBalance,
}

impl Method {
    fn token(self) -> &'static str {
        match self {
            Method::CreditCard => "credit_card",
            Method::BankTransfer => "bank_transfer",
            Method::Wallet => "wallet",
            Method::AccountBalance => "account_balance",
        }
    }
    fn pick(rng: &mut ChaCha8Rng) -> Method {
        match rng.gen_range(0..100) {
            0..=44 => Method::CreditCard,
            45..=64 => Method::Wallet,
            65..=79 => Method::BankTransfer,
            _ => Method::AccountBalance,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    Normal,
    Overdue,
    SecurityLocked,
    ConfigChanging,
    TransactionInProgress,
    SpecialUnsubscription,
    LegalFrozen,
}

impl State {
    fn token(self) -> &'static str {
        match self {
            State::Normal => "normal",
            State::Overdue => "overdue",
            State::SecurityLocked => "security_locked",
            State::ConfigChanging => "config_changing",
            State::TransactionInProgress => "transaction_in_progress",
            State::SpecialUnsubscription => "special_unsubscription",
            State::LegalFrozen => "legal_frozen",
        }
    }
    /// One of the six blocked states.
    fn blocked(rng: &mut ChaCha8Rng) -> State {
        match rng.gen_range(0..6) {
            0 => State::Overdue,
            1 => State::SecurityLocked,
            2 => State::ConfigChanging,
            3 => State::TransactionInProgress,
            4 => State::SpecialUnsubscription,
            _ => State::LegalFrozen,
        }
    }
    /// Normal mostly; each blocked state a little (overdue more often on
    /// pay-per-use instances).
    fn pick(rng: &mut ChaCha8Rng, ppu: bool) -> State {
        let r = rng.gen_range(0..1000);
        let overdue = if ppu { 60 } else { 25 };
        if r < overdue {
            State::Overdue
        } else if r < overdue + 15 {
            State::SecurityLocked
        } else if r < overdue + 30 {
            State::ConfigChanging
        } else if r < overdue + 45 {
            State::TransactionInProgress
        } else if r < overdue + 55 {
            State::SpecialUnsubscription
        } else if r < overdue + 65 {
            State::LegalFrozen
        } else {
            State::Normal
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Status {
    Completed,
    Rejected,
    Pending,
}

impl Status {
    fn token(self) -> &'static str {
        match self {
            Status::Completed => "completed",
            Status::Rejected => "rejected",
            Status::Pending => "pending",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum RType {
    Unconditional,
    Partial,
    Unactivated,
    Release,
}

impl RType {
    fn token(self) -> &'static str {
        match self {
            RType::Unconditional => "unconditional",
            RType::Partial => "partial",
            RType::Unactivated => "unactivated",
            RType::Release => "release",
        }
    }
}

// ------------------------------------------------------------ products ----

struct Product {
    name: &'static str,
    item: Item,
    /// Monthly list price in USD cents (per unit of quantity).
    monthly: i64,
    weight: u32,
}

const PRODUCTS: &[Product] = &[
    Product {
        name: "Security Center Basic",
        item: Item::Edition,
        monthly: 990,
        weight: 30,
    },
    Product {
        name: "Security Center Advanced",
        item: Item::Edition,
        monthly: 2900,
        weight: 26,
    },
    Product {
        name: "Security Center, Pro",
        item: Item::Edition,
        monthly: 4900,
        weight: 20,
    },
    Product {
        name: "Security Center Enterprise",
        item: Item::Edition,
        monthly: 12900,
        weight: 6,
    },
    Product {
        name: "Security Center Ultimate",
        item: Item::Edition,
        monthly: 39900,
        weight: 2,
    },
    Product {
        name: "云安全中心 企业版",
        item: Item::Edition,
        monthly: 12900,
        weight: 2,
    },
    Product {
        name: "Server Protection Quota",
        item: Item::AssetQuota,
        monthly: 600,
        weight: 50,
    },
    Product {
        name: "Host Asset Quota, 10 servers",
        item: Item::AssetQuota,
        monthly: 900,
        weight: 25,
    },
    Product {
        name: "Container Image Scan Quota",
        item: Item::AssetQuota,
        monthly: 400,
        weight: 25,
    },
    Product {
        name: "Anti-Ransomware Package",
        item: Item::ValueAdded,
        monthly: 1200,
        weight: 30,
    },
    Product {
        name: "Log Analysis Package",
        item: Item::ValueAdded,
        monthly: 900,
        weight: 30,
    },
    Product {
        name: "Web Tamper Protection",
        item: Item::ValueAdded,
        monthly: 1900,
        weight: 20,
    },
    Product {
        name: "Malicious File Detection, SDK",
        item: Item::ValueAdded,
        monthly: 700,
        weight: 15,
    },
    Product {
        name: "Server \"Turbo\" Guard",
        item: Item::ValueAdded,
        monthly: 500,
        weight: 5,
    },
    Product {
        name: "Cloud Server ecs.g6.large",
        item: Item::Resource,
        monthly: 1900,
        weight: 35,
    },
    Product {
        name: "Object Storage 1 TB",
        item: Item::Resource,
        monthly: 1500,
        weight: 25,
    },
    Product {
        name: "Managed Database, 4 vCPU",
        item: Item::Resource,
        monthly: 6900,
        weight: 8,
    },
    Product {
        name: "Load Balancer",
        item: Item::Resource,
        monthly: 1800,
        weight: 15,
    },
    Product {
        name: "Bandwidth 100 Mbps",
        item: Item::Resource,
        monthly: 2500,
        weight: 13,
    },
];

fn pick_product(rng: &mut ChaCha8Rng, item: Item) -> u16 {
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

/// Term in days, and its price in months of the monthly list price.
fn pick_term(rng: &mut ChaCha8Rng) -> i64 {
    match rng.gen_range(0..100) {
        0..=29 => 30,
        30..=79 => 365,
        80..=91 => 730,
        _ => 1095,
    }
}

fn term_months(term: i64) -> i64 {
    match term {
        30 => 1,
        365 => 10,
        730 => 18,
        _ => 24,
    }
}

// ---------------------------------------------------------------- rows ----

#[derive(Clone, Copy, Debug)]
struct Order {
    account: u32,
    instance: u32,
    product: u16,
    item: Item,
    mode: Mode,
    otype: OType,
    cur: Cur,
    promo: bool,
    invoice: bool,
    bool_style: u8,
    ts_style: [u8; 3],
    ordered_at: i64,
    start: i64,
    end: i64,
    amount: i64,
    coupon: i64,
    /// R8's original method: the largest succeeded payment's.
    original: Option<Method>,
}

#[derive(Clone, Copy, Debug)]
struct Payment {
    order: u32,
    account: u32,
    paid_at: i64,
    amount: i64,
    cur: Cur,
    method: Method,
    ok: bool,
    ts_style: u8,
}

const NO_BATCH: u32 = u32::MAX;

#[derive(Clone, Copy, Debug)]
struct Unsub {
    order: u32,
    /// Deliberate mistake: points at an order id that does not exist.
    missing_order: bool,
    /// Account id as written (global index).
    account: u64,
    batch: u32,
    requested: i64,
    reviewed: Option<i64>,
    completed: Option<i64>,
    refunded: Option<i64>,
    state: State,
    status: Status,
    rtype: RType,
    refund: i64,
    fee: i64,
    coupon: i64,
    dest: Option<Method>,
    /// Recorded billing cycle as a month index.
    cycle: Option<i64>,
    cur: Cur,
    ts_style: [u8; 4],
}

/// An unsubscription before R3/R4 are evaluated for its account.
#[derive(Clone, Copy, Debug)]
struct Draft {
    order: u32,
    requested: i64,
    reviewed: Option<i64>,
    approved: i64,
    completed: Option<i64>,
    state: State,
    status: Status,
    key: u32,
    seq: u32,
    /// Drawn with the request, not while the account's rows are evaluated,
    /// so that evaluation order never shifts the data stream.
    ts_style: [u8; 4],
    to_balance: bool,
    refund_delay: u64,
}

#[derive(Default)]
struct Block {
    first_account: u64,
    orders: Vec<Order>,
    payments: Vec<Payment>,
    unsubs: Vec<Unsub>,
    batches: u32,
    wrong: u64,
}

struct Cfg {
    seed: u64,
    accounts: u64,
    orders: u64,
    accounts_per_block: u64,
    blocks: u64,
    error_rate: f64,
    malformed_rate: f64,
}

impl Cfg {
    /// Orders of account `a`: an even split of `orders` over `accounts`.
    fn budget(&self, a: u64) -> u64 {
        let n = u128::from(self.orders);
        let k = u128::from(self.accounts);
        let lo = u128::from(a) * n / k;
        let hi = (u128::from(a) + 1) * n / k;
        (hi - lo) as u64
    }
}

fn block_rng(seed: u64, block: u64, stream: u64) -> ChaCha8Rng {
    let mut s = [0u8; 32];
    s[0..8].copy_from_slice(&seed.to_le_bytes());
    s[8..16].copy_from_slice(&block.to_le_bytes());
    s[16..24].copy_from_slice(&stream.to_le_bytes());
    s[24..32].copy_from_slice(b"rrgen-v1");
    ChaCha8Rng::from_seed(s)
}

/// Uniform in [lo, hi); lo when the range is empty. Always one draw.
fn between(rng: &mut ChaCha8Rng, lo: i64, hi: i64) -> i64 {
    scale(rng.gen(), lo, hi)
}

/// Maps a uniform u64 onto [lo, hi) (multiply-shift; lo when empty).
fn scale(x: u64, lo: i64, hi: i64) -> i64 {
    if hi <= lo {
        return lo;
    }
    let span = hi.abs_diff(lo);
    lo.wrapping_add(((u128::from(x) * u128::from(span)) >> 64) as i64)
}

// Timestamp style bits.
const TS_UTC: u8 = 1;
const TS_FRAC_ZERO: u8 = 2;
const TS_FRAC_MS: u8 = 4;
const TS_FRAC_US: u8 = 6;
const TS_FRAC_MASK: u8 = 6;
const TS_SPACE: u8 = 8;

/// `+08:00` mostly, `Z` 20%, zero fractions 3%, non-zero fractions 5% where
/// allowed, a space separator 0.5%.
fn ts_style(rng: &mut ChaCha8Rng, frac_ok: bool) -> u8 {
    let x: u32 = rng.gen();
    let mut s = if x % 1000 < 800 { 0 } else { TS_UTC };
    let f = (x / 1000) % 100;
    if f < 3 {
        s |= TS_FRAC_ZERO;
    } else if frac_ok && f < 6 {
        s |= TS_FRAC_MS;
    } else if frac_ok && f < 8 {
        s |= TS_FRAC_US;
    }
    if (x / 100_000).is_multiple_of(200) {
        s |= TS_SPACE;
    }
    s
}

// ---------------------------------------------------------- generation ----

struct AccountGen<'a> {
    rng: &'a mut ChaCha8Rng,
    err: &'a mut ChaCha8Rng,
    block: &'a mut Block,
    error_rate: f64,
    accounts: u64,
    acct: u32,
    acct_global: u64,
    cur: Cur,
    method: Method,
    remaining: u64,
    instances: u32,
    drafts: Vec<Draft>,
    seq: u32,
    keys: u32,
    /// Account-wide batch: time, key, rows so far.
    acct_batch: Option<(i64, u32, u32)>,
}

const NO_KEY: u32 = u32::MAX;

impl AccountGen<'_> {
    fn run(&mut self) {
        self.cur = Cur::pick(self.rng);
        self.method = Method::pick(self.rng);
        if self.rng.gen_bool(0.25) {
            let t = between(self.rng, START + 30 * DAY, HORIZON);
            self.acct_batch = Some((t, NO_KEY, 0));
        }
        while self.remaining > 0 {
            if self.rng.gen_bool(0.1) {
                self.ppu_instance();
            } else {
                self.sub_instance();
            }
        }
        self.finalize();
    }

    fn new_key(&mut self) -> u32 {
        self.keys += 1;
        self.keys - 1
    }

    fn order_cur(&mut self) -> Cur {
        if self.rng.gen_bool(0.04) {
            Cur::pick(self.rng)
        } else {
            self.cur
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn push_order(
        &mut self,
        instance: u32,
        product: u16,
        mode: Mode,
        otype: OType,
        cur: Cur,
        ordered_at: i64,
        start: i64,
        end: i64,
        amount: i64,
        coupon: i64,
    ) -> u32 {
        debug_assert!(self.remaining > 0 && end > start && coupon <= amount);
        self.remaining -= 1;
        let promo = self.rng.gen_bool(0.05);
        let invoice = self.rng.gen_bool(if mode == Mode::Subscription { 0.3 } else { 0.05 })
            // A promotional invoiced package could never be unsubscribed
            // after its asset quota (R2), leaving it orphaned (R10).
            && !(promo && PRODUCTS[product as usize].item == Item::ValueAdded);
        let bool_style = if self.rng.gen_bool(0.03) {
            self.rng.gen_range(1..5)
        } else {
            0
        };
        let ts_style = [
            ts_style(self.rng, false),
            ts_style(self.rng, false),
            ts_style(self.rng, false),
        ];
        let idx = self.block.orders.len() as u32;
        self.block.orders.push(Order {
            account: self.acct,
            instance,
            product,
            item: PRODUCTS[product as usize].item,
            mode,
            otype,
            cur,
            promo,
            invoice,
            bool_style,
            ts_style,
            ordered_at,
            start,
            end,
            amount,
            coupon,
            original: None,
        });
        self.pay(idx);
        idx
    }

    fn push_payment(&mut self, order: u32, paid_at: i64, amount: i64, method: Method, ok: bool) {
        let cur = self.block.orders[order as usize].cur;
        let ts_style = ts_style(self.rng, true);
        self.block.payments.push(Payment {
            order,
            account: self.acct,
            paid_at,
            amount,
            cur,
            method,
            ok,
            ts_style,
        });
    }

    /// Payment rows of an order; sets its original method (R8).
    fn pay(&mut self, oi: u32) {
        let o = self.block.orders[oi as usize];
        let due = o.amount - o.coupon;
        if due <= 0 {
            return;
        }
        let ppu = o.mode == Mode::PayPerUse;
        if ppu && self.rng.gen_bool(0.3) {
            return;
        }
        let method = if self.rng.gen_bool(0.85) {
            self.method
        } else {
            Method::pick(self.rng)
        };
        let t = o.ordered_at;
        let r: f64 = self.rng.gen();
        if r < 0.15 {
            let failed_at = t - between(self.rng, 2 * MINUTE, 30 * MINUTE);
            let m = Method::pick(self.rng);
            self.push_payment(oi, failed_at, due, m, false);
        }
        let original = if !ppu && (0.15..0.27).contains(&r) && due >= 2 {
            let a1 = (due * self.rng.gen_range(20..81) / 100).clamp(1, due - 1);
            let t1 = t - between(self.rng, 0, 2 * MINUTE);
            let t2 = t + between(self.rng, 1, MINUTE);
            self.push_payment(oi, t1, a1, Method::AccountBalance, true);
            self.push_payment(oi, t2, due - a1, method, true);
            // Largest amount; a tie goes to the earlier one (the first).
            if due - a1 > a1 {
                method
            } else {
                Method::AccountBalance
            }
        } else {
            let at = t + between(self.rng, -2 * MINUTE, 30);
            self.push_payment(oi, at, due, method, true);
            method
        };
        self.block.orders[oi as usize].original = Some(original);
    }

    fn coupon(&mut self, cur: Cur, amount: i64) -> i64 {
        let r: f64 = self.rng.gen();
        if r < 0.01 {
            amount
        } else if r < 0.18 {
            let face = [500, 1000, 2000, 5000, 10_000][self.rng.gen_range(0..5)];
            cur.usd_cents_to_minor(face).min(amount)
        } else {
            0
        }
    }

    /// With probability `p`, moves `t` to within an hour of the next local
    /// month end when it stays in [lo, hi).
    fn maybe_month_end(&mut self, p: f64, t: i64, lo: i64, hi: i64) -> i64 {
        if !self.rng.gen_bool(p) {
            return t;
        }
        let b = next_month_start(t);
        let c = b + between(self.rng, -HOUR, HOUR + 1);
        if c >= lo && c < hi && c <= HORIZON {
            c
        } else {
            t
        }
    }

    fn sub_instance(&mut self) {
        let inst = self.instances;
        self.instances += 1;
        let item = match self.rng.gen_range(0..100) {
            0..=39 => Item::Edition,
            40..=69 => Item::AssetQuota,
            _ => Item::Resource,
        };
        let mut product = pick_product(self.rng, item);
        let qty = match item {
            Item::AssetQuota => self.rng.gen_range(1..=8),
            Item::Resource => self.rng.gen_range(1..=2),
            _ => 1,
        };
        let mut monthly = PRODUCTS[product as usize].monthly * qty;
        let vas = if item == Item::AssetQuota && self.rng.gen_bool(0.45) {
            Some(pick_product(self.rng, Item::ValueAdded))
        } else {
            None
        };
        let cur = self.order_cur();
        let mut term = pick_term(self.rng);
        let mut ordered = between(self.rng, START + DAY, HORIZON - 2 * DAY);
        ordered = self.maybe_month_end(0.05, ordered, START, HORIZON);
        let mut start = if self.rng.gen_bool(0.1) {
            (local_day(ordered) + self.rng.gen_range(1..=30)) * DAY - LOCAL_OFFSET
        } else {
            ordered
        };
        let mut otype = OType::New;
        let mut k = 0;
        while self.remaining > 0 {
            let end = start + term * DAY;
            let mut live = Vec::with_capacity(4);
            let mut vas_live = Vec::with_capacity(2);
            let amount = cur.usd_cents_to_minor(monthly * term_months(term));
            let coupon = self.coupon(cur, amount);
            live.push(self.push_order(
                inst,
                product,
                Mode::Subscription,
                otype,
                cur,
                ordered,
                start,
                end,
                amount,
                coupon,
            ));
            if let Some(vp) = vas {
                if self.remaining > 0 {
                    let amount = cur.usd_cents_to_minor(PRODUCTS[vp as usize].monthly * term_months(term));
                    let coupon = self.coupon(cur, amount);
                    vas_live.push(self.push_order(
                        inst,
                        vp,
                        Mode::Subscription,
                        otype,
                        cur,
                        ordered,
                        start,
                        end,
                        amount,
                        coupon,
                    ));
                }
            }

            // When (if ever) this term is unsubscribed.
            let lo = start.max(ordered) + MINUTE;
            let hi = end.min(HORIZON);
            let r: f64 = self.rng.gen();
            let mut t = None;
            let mut joined = None;
            if k == 0 && r < 0.12 {
                t = Some(ordered + self.early_offset());
            } else if r < 0.22 && hi > lo {
                let x = between(self.rng, lo, hi);
                t = Some(self.maybe_month_end(0.12, x, lo, hi));
            }
            if let Some((tb, key, rows)) = self.acct_batch {
                if tb >= lo && tb < hi && rows <= 2 && self.rng.gen_bool(0.8) {
                    t = Some(tb);
                    joined = Some(key);
                }
            }
            let t = t.filter(|&t| t <= HORIZON && t < end);

            // Upgrade mid-term (before the unsubscription, if any).
            if item != Item::AssetQuota && self.remaining > 0 && self.rng.gen_bool(0.08) {
                let u_lo = start.max(ordered) + DAY;
                let u = between(self.rng, u_lo, hi - DAY);
                if u_lo < hi - DAY && t.is_none_or(|t| u < t) {
                    let next = if item == Item::Edition
                        && (product as usize + 1) < PRODUCTS.len()
                        && PRODUCTS[product as usize + 1].item == Item::Edition
                    {
                        product + 1
                    } else {
                        product
                    };
                    let new_monthly = if next == product {
                        monthly * 2
                    } else {
                        PRODUCTS[next as usize].monthly * qty
                    };
                    let days = ceil_div(end - u, DAY);
                    let amount = cur.usd_cents_to_minor(div_half_up((new_monthly - monthly) * days, 30));
                    if amount > 0 {
                        let coupon = self.coupon(cur, amount);
                        live.push(self.push_order(
                            inst,
                            next,
                            Mode::Subscription,
                            OType::Upgrade,
                            cur,
                            u,
                            u,
                            end,
                            amount,
                            coupon,
                        ));
                        product = next;
                        monthly = new_monthly;
                    }
                }
            }

            // Renewal ordered a little before the term ends.
            let mut renewal = None;
            if self.remaining > 0 && self.rng.gen_bool(0.7) {
                let back = self.rng.gen_range(1..=(term / 3).clamp(1, 15));
                let rt = (end - back * DAY - between(self.rng, 0, DAY)).max(ordered + HOUR);
                if rt <= HORIZON && t.is_none_or(|t| rt <= t) {
                    renewal = Some(rt);
                }
            }
            let next_term = if self.rng.gen_bool(0.85) {
                term
            } else {
                pick_term(self.rng)
            };

            match (t, renewal) {
                (None, Some(rt)) if self.rng.gen_bool(0.08) => {
                    // Cancel the renewal before it takes effect.
                    let (r_main, _) = self.push_term(inst, product, vas, monthly, next_term, cur, rt, end);
                    let tc = between(self.rng, rt + MINUTE, end.min(HORIZON));
                    if let Some(r_main) = r_main.filter(|_| tc > rt && tc < end) {
                        let state = State::pick(self.rng, false);
                        self.event(&[r_main], tc, NO_KEY, state, true);
                    }
                    return;
                }
                (Some(t), _) => {
                    if let Some(rt) = renewal {
                        let (m, v) = self.push_term(inst, product, vas, monthly, next_term, cur, rt, end);
                        live.extend(m);
                        vas_live.extend(v);
                    }
                    self.teardown(&live, &vas_live, t, joined);
                    return;
                }
                (None, Some(rt)) => {
                    ordered = rt;
                    start = end;
                    term = next_term;
                    otype = OType::Renewal;
                    k += 1;
                }
                (None, None) => return,
            }
        }
    }

    /// The orders of a renewal term (asset quota with its package).
    #[allow(clippy::too_many_arguments)]
    fn push_term(
        &mut self,
        inst: u32,
        product: u16,
        vas: Option<u16>,
        monthly: i64,
        term: i64,
        cur: Cur,
        ordered: i64,
        start: i64,
    ) -> (Option<u32>, Option<u32>) {
        let end = start + term * DAY;
        let mut main = None;
        let mut v = None;
        if self.remaining > 0 {
            let amount = cur.usd_cents_to_minor(monthly * term_months(term));
            let coupon = self.coupon(cur, amount);
            main = Some(self.push_order(
                inst,
                product,
                Mode::Subscription,
                OType::Renewal,
                cur,
                ordered,
                start,
                end,
                amount,
                coupon,
            ));
        }
        if let Some(vp) = vas {
            if self.remaining > 0 {
                let amount = cur.usd_cents_to_minor(PRODUCTS[vp as usize].monthly * term_months(term));
                let coupon = self.coupon(cur, amount);
                v = Some(self.push_order(
                    inst,
                    vp,
                    Mode::Subscription,
                    OType::Renewal,
                    cur,
                    ordered,
                    start,
                    end,
                    amount,
                    coupon,
                ));
            }
        }
        (main, v)
    }

    /// Offset of an early unsubscription from ordered_at: mostly inside the
    /// 120 h window, sometimes exactly at it or just after it.
    fn early_offset(&mut self) -> i64 {
        let r = self.rng.gen_range(0..100);
        match r {
            0..=79 => between(self.rng, 10 * MINUTE, WINDOW),
            80..=86 => WINDOW,
            87..=92 => WINDOW + between(self.rng, 1, HOUR),
            _ => between(self.rng, WINDOW, 10 * DAY),
        }
    }

    /// Unsubscribes the instance's live orders at `t`; value-added packages
    /// follow once the asset quota's unsubscriptions completed (R10).
    fn teardown(&mut self, live: &[u32], vas_live: &[u32], t: i64, joined: Option<u32>) {
        let key = match joined {
            Some(_) => {
                let (tb, mut key, rows) = self.acct_batch.expect("joined a batch");
                if key == NO_KEY {
                    key = self.new_key();
                }
                self.acct_batch = Some((tb, key, rows + live.len() as u32));
                key
            }
            None if live.len() >= 2 && self.rng.gen_bool(0.8) => self.new_key(),
            None => NO_KEY,
        };
        let state = State::pick(self.rng, false);
        let mut done = self.event(live, t, key, state, true);
        if done.is_none() && state != State::Normal && key == NO_KEY && self.rng.gen_bool(0.5) {
            // Retry once the instance is back to normal.
            let t2 = t + between(self.rng, 2 * HOUR, 72 * HOUR);
            if t2 <= HORIZON {
                done = self.event(live, t2, NO_KEY, State::Normal, true);
            }
        }
        if let Some(c) = done {
            let vas: Vec<u32> = vas_live
                .iter()
                .copied()
                .filter(|&o| self.block.orders[o as usize].end > c)
                .collect();
            if vas.is_empty() {
                return;
            }
            let mut t2 = c + between(self.rng, 10 * MINUTE, 2 * DAY);
            if t2 > HORIZON {
                t2 = c + between(self.rng, MINUTE, 10 * MINUTE);
            }
            let key = if vas.len() >= 2 && self.rng.gen_bool(0.6) {
                self.new_key()
            } else {
                NO_KEY
            };
            self.event(&vas, t2, key, State::Normal, false);
        }
    }

    /// One unsubscription request for `orders` at `t`. Returns the latest
    /// completed_at when every row completed.
    fn event(&mut self, orders: &[u32], t: i64, key: u32, state: State, allow_pending: bool) -> Option<i64> {
        let any_review = orders.iter().any(|&o| {
            let o = &self.block.orders[o as usize];
            o.amount > o.cur.threshold()
        });
        let p_pending = if t > HORIZON - 20 * DAY { 0.4 } else { 0.012 };
        // Always drawn, so the data stream does not depend on the arguments.
        let draw = self.rng.gen_bool(p_pending);
        let pending = allow_pending && state == State::Normal && !any_review && draw;
        let mut all = true;
        let mut last = t;
        for &oi in orders {
            let o = self.block.orders[oi as usize];
            let blocked =
                state != State::Normal || (o.mode == Mode::Subscription && o.start > t && o.promo && o.invoice);
            let review = o.amount > o.cur.threshold();
            let status = if blocked {
                Status::Rejected
            } else if pending {
                Status::Pending
            } else {
                Status::Completed
            };
            // Every draw is made whatever the status, so that a status
            // changed by a mistake does not shift the data stream.
            let how = self.rng.gen_range(0..100);
            let review_after = between(self.rng, 10 * MINUTE, 23 * HOUR);
            let delay = if review {
                between(self.rng, 30, 4 * HOUR)
            } else {
                between(self.rng, 5, 20 * MINUTE)
            };
            let (reviewed, approved) = if review && status == Status::Completed {
                match how {
                    0..=79 => (Some(t + review_after), t + review_after),
                    80..=84 => (Some(t + AUTO_APPROVE), t + AUTO_APPROVE),
                    _ => (None, t + AUTO_APPROVE),
                }
            } else if review {
                (None, t + AUTO_APPROVE)
            } else {
                (None, t)
            };
            let completed = if status == Status::Completed {
                last = last.max(approved + delay);
                Some(approved + delay)
            } else {
                all = false;
                None
            };
            let ts_style = [
                ts_style(self.rng, false),
                ts_style(self.rng, false),
                ts_style(self.rng, true),
                ts_style(self.rng, true),
            ];
            let to_balance = self.rng.gen_bool(0.04);
            let refund_delay = self.rng.gen();
            self.drafts.push(Draft {
                order: oi,
                requested: t,
                reviewed,
                approved,
                completed,
                state,
                status,
                key,
                seq: self.seq,
                ts_style,
                to_balance,
                refund_delay,
            });
            self.seq += 1;
        }
        all.then_some(last)
    }

    fn ppu_instance(&mut self) {
        let inst = self.instances;
        self.instances += 1;
        let item = match self.rng.gen_range(0..100) {
            0..=39 => Item::AssetQuota,
            40..=84 => Item::Resource,
            _ => Item::ValueAdded,
        };
        let mut items = vec![(pick_product(self.rng, item), self.rng.gen_range(1..=4))];
        if item == Item::AssetQuota && self.rng.gen_bool(0.35) {
            items.push((pick_product(self.rng, Item::ValueAdded), 1));
        }
        let cur = self.order_cur();
        let gran = if self.rng.gen_bool(0.6) { HOUR } else { DAY };
        let n = self.rng.gen_range(3..=12i64);
        let span = n * gran;
        let day = between(self.rng, local_day(START) + 1, local_day(HORIZON - span - 7 * DAY));
        let mut s0 = day * DAY - LOCAL_OFFSET;
        if gran == HOUR {
            s0 += self.rng.gen_range(0..24) * HOUR;
        }
        if self.rng.gen_bool(0.15) {
            // Straddle a local month end.
            let b = next_month_start(s0);
            let back = self.rng.gen_range(1..=n / 2 + 1);
            if b - back * gran + span + 7 * DAY <= HORIZON {
                s0 = b - back * gran;
            }
        }
        let mut first = [true; 2];
        let mut primary: Vec<u32> = Vec::with_capacity(n as usize);
        let mut last_end = s0;
        'periods: for i in 0..n {
            for (j, &(product, qty)) in items.iter().enumerate() {
                if self.remaining == 0 {
                    break 'periods;
                }
                if i > 0 && self.rng.gen_bool(0.1) {
                    continue;
                }
                let start = s0 + i * gran;
                let end = start + gran;
                let ordered = end + between(self.rng, MINUTE, HOUR);
                let otype = if std::mem::take(&mut first[j]) && self.rng.gen_bool(0.3) {
                    OType::New
                } else {
                    OType::Usage
                };
                // Pay-per-use costs about three times the subscription rate.
                let hours = gran / HOUR;
                let usd = PRODUCTS[product as usize].monthly * qty * hours * self.rng.gen_range(150..451) / 72_000;
                let amount = cur.usd_cents_to_minor(usd.max(1)).max(1);
                let coupon = if self.rng.gen_bool(0.03) { amount / 2 } else { 0 };
                let oi = self.push_order(
                    inst,
                    product,
                    Mode::PayPerUse,
                    otype,
                    cur,
                    ordered,
                    start,
                    end,
                    amount,
                    coupon,
                );
                if j == 0 {
                    primary.push(oi);
                }
                last_end = last_end.max(end);
            }
        }
        if primary.is_empty() || !self.rng.gen_bool(0.3) {
            return;
        }
        // Release after the last usage period.
        let state = State::pick(self.rng, true);
        let t = last_end + between(self.rng, HOUR, 5 * DAY);
        let mut refer = *primary.last().expect("non-empty");
        let mut t_rel = t;
        let mut after = false;
        if state == State::Normal && primary.len() >= 2 && self.err.gen_bool(self.error_rate) {
            // Mistake: released before the last usage period is charged.
            let last_start = self.block.orders[refer as usize].start;
            t_rel = last_start - between(self.err, gran * 5 / 12, gran * 2 / 3);
            refer = primary[primary.len() - 2];
            after = true;
        }
        let done = self.event(&[refer], t_rel, NO_KEY, state, !after);
        if after && done.is_some() {
            self.block.wrong += 1;
        }
    }

    /// Evaluates the account's unsubscriptions in (requested_at, unsub_id)
    /// order under the bundled policy and records them.
    fn finalize(&mut self) {
        let mut drafts = std::mem::take(&mut self.drafts);
        drafts.sort_by_key(|d| (d.requested, d.seq));
        let mut key_rows = vec![0u32; self.keys as usize];
        for d in &drafts {
            if d.key != NO_KEY {
                key_rows[d.key as usize] += 1;
            }
        }
        let mut key_batch = vec![NO_BATCH; self.keys as usize];
        let mut quota: Vec<(i64, u32)> = Vec::new();
        for d in &drafts {
            let batch = if d.key != NO_KEY && key_rows[d.key as usize] >= 2 {
                let b = &mut key_batch[d.key as usize];
                if *b == NO_BATCH {
                    *b = self.block.batches;
                    self.block.batches += 1;
                }
                *b
            } else {
                NO_BATCH
            };
            let o = self.block.orders[d.order as usize];
            let mut u = Unsub {
                order: d.order,
                missing_order: false,
                account: self.acct_global,
                batch,
                requested: d.requested,
                reviewed: None,
                completed: None,
                refunded: None,
                state: d.state,
                status: d.status,
                rtype: RType::Partial,
                refund: 0,
                fee: 0,
                coupon: 0,
                dest: None,
                cycle: None,
                cur: o.cur,
                ts_style: d.ts_style,
            };
            if d.status != Status::Rejected {
                let cash_due = o.amount - o.coupon;
                let rtype = if o.mode == Mode::PayPerUse {
                    RType::Release
                } else if o.start > d.requested {
                    RType::Unactivated
                } else if o.otype == OType::New
                    && d.requested - o.ordered_at <= WINDOW
                    && take_quota(&mut quota, local_year(d.requested))
                {
                    RType::Unconditional
                } else {
                    RType::Partial
                };
                if d.status == Status::Completed {
                    let (refund, coupon) = match rtype {
                        RType::Release => (0, 0),
                        RType::Unactivated => (cash_due, o.coupon),
                        RType::Unconditional => (cash_due, 0),
                        RType::Partial => (partial_refund(cash_due, o.start, o.end, d.requested), 0),
                    };
                    let completed = d.completed.expect("completed has a time");
                    u.rtype = rtype;
                    u.refund = refund;
                    u.coupon = coupon;
                    u.reviewed = d.reviewed;
                    u.completed = Some(completed);
                    if refund > 0 {
                        u.dest = Some(if d.to_balance {
                            Method::AccountBalance
                        } else {
                            o.original.unwrap_or(Method::AccountBalance)
                        });
                        u.cycle = Some(month_index(d.approved));
                        let deadline = refund_deadline(d.approved);
                        let span = (deadline - completed).min(2 * DAY);
                        u.refunded = Some(completed + scale(d.refund_delay, MINUTE, span));
                    }
                    if self.err.gen::<f64>() < self.error_rate {
                        self.mistake(&mut u, &o, d.approved);
                        self.block.wrong += 1;
                    }
                }
            }
            self.block.unsubs.push(u);
        }
    }

    /// Makes one recorded value of a completed unsubscription wrong, in a way
    /// that does not change any other row's expected values.
    fn mistake(&mut self, u: &mut Unsub, o: &Order, approved: i64) {
        let kind = self.err.gen_range(0..100);
        let isolated = u.rtype != RType::Unconditional
            && u.batch == NO_BATCH
            && o.mode == Mode::Subscription
            && matches!(o.item, Item::Edition | Item::Resource);
        let has_refund = u.refund > 0 && u.refunded.is_some();
        match kind {
            25..=39 if has_refund => {
                let c = u.cycle.unwrap_or_else(|| month_index(approved));
                u.cycle = Some(if self.err.gen_bool(0.6) { c + 1 } else { c - 1 });
            }
            40..=54 => {
                u.rtype = match u.rtype {
                    RType::Partial => RType::Unconditional,
                    RType::Unconditional | RType::Unactivated | RType::Release => RType::Partial,
                };
            }
            55..=69 if has_refund && o.original.is_some() => {
                let orig = o.original;
                let choices = [Method::CreditCard, Method::BankTransfer, Method::Wallet];
                let others: Vec<Method> = choices.into_iter().filter(|m| Some(*m) != orig).collect();
                u.dest = Some(others[self.err.gen_range(0..others.len())]);
            }
            70..=84 if has_refund => {
                let deadline = refund_deadline(approved);
                let mut day = local_day(deadline);
                let mut late = self.err.gen_range(1..=4);
                while late > 0 {
                    day += 1;
                    if is_business_day(day) {
                        late -= 1;
                    }
                }
                u.refunded = Some(day * DAY - LOCAL_OFFSET + between(self.err, 9 * HOUR, 20 * HOUR));
            }
            85..=94 if u.rtype != RType::Unconditional => {
                u.state = State::blocked(self.err);
            }
            95..=97 if isolated => u.missing_order = true,
            98..=99 if isolated && self.accounts > 1 => {
                u.account = if self.acct_global + 1 < self.accounts {
                    self.acct_global + 1
                } else {
                    self.acct_global - 1
                };
            }
            _ => {
                // Refund off by a few minor units.
                let d = self.err.gen_range(1..=5);
                if u.refund > d && self.err.gen_bool(0.5) {
                    u.refund -= d;
                } else {
                    u.refund += d;
                }
                if u.dest.is_none() {
                    u.dest = Some(o.original.unwrap_or(Method::AccountBalance));
                    u.cycle = Some(month_index(approved));
                    let c = u.completed.unwrap_or(u.requested);
                    u.refunded = Some(c + between(self.err, MINUTE, HOUR));
                }
            }
        }
    }
}

/// R3c: one unconditional refund per account and calendar year.
fn take_quota(quota: &mut Vec<(i64, u32)>, year: i64) -> bool {
    match quota.iter_mut().find(|q| q.0 == year) {
        Some(q) if q.1 >= 1 => false,
        Some(q) => {
            q.1 += 1;
            true
        }
        None => {
            quota.push((year, 1));
            true
        }
    }
}

/// R4 partial refund: days rounded up, fee rate 0, half-up rounding.
fn partial_refund(cash_due: i64, start: i64, end: i64, requested: i64) -> i64 {
    let total = ceil_div(end - start, DAY).max(1);
    let used = if requested <= start {
        0
    } else {
        ceil_div(requested - start, DAY).min(total)
    };
    div_half_up(cash_due * (total - used), total)
}

fn gen_block(cfg: &Cfg, b: u64) -> Block {
    let first = b * cfg.accounts_per_block;
    let last = (first + cfg.accounts_per_block).min(cfg.accounts);
    let mut rng = block_rng(cfg.seed, b, 0);
    let mut err = block_rng(cfg.seed, b, 1);
    let mut block = Block {
        first_account: first,
        ..Block::default()
    };
    for a in first..last {
        let budget = cfg.budget(a);
        if budget == 0 {
            continue;
        }
        let mut g = AccountGen {
            rng: &mut rng,
            err: &mut err,
            block: &mut block,
            error_rate: cfg.error_rate,
            accounts: cfg.accounts,
            acct: (a - first) as u32,
            acct_global: a,
            cur: Cur::Usd,
            method: Method::CreditCard,
            remaining: budget,
            instances: 0,
            drafts: Vec::new(),
            seq: 0,
            keys: 0,
            acct_batch: None,
        };
        g.run();
    }
    block
}

// ---------------------------------------------------------- formatting ----

fn push_u64(buf: &mut Vec<u8>, v: u64) {
    push_padded(buf, v, 1);
}

/// Decimal digits of `v`, zero-padded to at least `width` (at most 20).
fn push_padded(buf: &mut Vec<u8>, mut v: u64, width: usize) {
    let mut tmp = [b'0'; 20];
    let mut i = 20;
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    let from = i.min(20 - width.min(20));
    buf.extend_from_slice(&tmp[from..]);
}

fn push2(buf: &mut Vec<u8>, v: u32) {
    buf.push(b'0' + (v / 10) as u8);
    buf.push(b'0' + (v % 10) as u8);
}

fn push_money(buf: &mut Vec<u8>, v: i64, decimals: u32) {
    debug_assert!(v >= 0);
    let v = v.max(0) as u64;
    if decimals == 0 {
        push_u64(buf, v);
    } else {
        let p = 10u64.pow(decimals);
        push_u64(buf, v / p);
        buf.push(b'.');
        push_padded(buf, v % p, decimals as usize);
    }
}

fn push_ts(buf: &mut Vec<u8>, t: i64, style: u8) {
    let utc = style & TS_UTC != 0;
    let lt = if utc { t } else { t + LOCAL_OFFSET };
    let (y, m, d) = civil_from_days(lt.div_euclid(DAY));
    let sod = lt.rem_euclid(DAY) as u32;
    push_padded(buf, y as u64, 4);
    buf.push(b'-');
    push2(buf, m);
    buf.push(b'-');
    push2(buf, d);
    buf.push(if style & TS_SPACE != 0 { b' ' } else { b'T' });
    push2(buf, sod / 3600);
    buf.push(b':');
    push2(buf, sod / 60 % 60);
    buf.push(b':');
    push2(buf, sod % 60);
    // A fraction derived from the instant (so it is stable), never 0.
    let mix = (t as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
    match style & TS_FRAC_MASK {
        TS_FRAC_ZERO => buf.extend_from_slice(b".000"),
        TS_FRAC_MS => {
            buf.push(b'.');
            push_padded(buf, mix % 999 + 1, 3);
        }
        TS_FRAC_US => {
            buf.push(b'.');
            push_padded(buf, mix % 999_999 + 1, 6);
        }
        _ => {}
    }
    if utc {
        buf.push(b'Z');
    } else {
        buf.extend_from_slice(b"+08:00");
    }
}

fn push_cycle(buf: &mut Vec<u8>, mi: i64) {
    push_padded(buf, mi.div_euclid(12) as u64, 4);
    buf.push(b'-');
    push2(buf, (mi.rem_euclid(12) + 1) as u32);
}

/// One CSV row under construction: raw field values and their ends.
#[derive(Default)]
struct Row {
    data: Vec<u8>,
    ends: Vec<usize>,
}

impl Row {
    fn clear(&mut self) {
        self.data.clear();
        self.ends.clear();
    }
    fn end(&mut self) {
        self.ends.push(self.data.len());
    }
    fn text(&mut self, s: &str) {
        self.data.extend_from_slice(s.as_bytes());
        self.end();
    }
    fn empty(&mut self) {
        self.end();
    }
    fn id(&mut self, prefix: &[u8], n: u64, width: usize) {
        self.data.extend_from_slice(prefix);
        push_padded(&mut self.data, n, width);
        self.end();
    }
    fn account(&mut self, a: u64) {
        self.id(b"A", a, 6);
    }
    fn money(&mut self, v: i64, cur: Cur) {
        push_money(&mut self.data, v, cur.decimals());
        self.end();
    }
    fn ts(&mut self, t: i64, style: u8) {
        push_ts(&mut self.data, t, style);
        self.end();
    }
    fn opt_ts(&mut self, t: Option<i64>, style: u8) {
        if let Some(t) = t {
            push_ts(&mut self.data, t, style);
        }
        self.end();
    }
    fn field(&self, i: usize) -> &[u8] {
        let from = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.data[from..self.ends[i]]
    }
    fn fields(&self) -> Vec<Vec<u8>> {
        (0..self.ends.len()).map(|i| self.field(i).to_vec()).collect()
    }
    fn emit(&self, out: &mut Vec<u8>) {
        for i in 0..self.ends.len() {
            if i > 0 {
                out.push(b',');
            }
            push_field(out, self.field(i));
        }
        out.push(b'\n');
    }
}

/// RFC 4180: quote only when needed.
fn push_field(out: &mut Vec<u8>, f: &[u8]) {
    if f.iter().any(|&b| matches!(b, b',' | b'"' | b'\n' | b'\r')) {
        out.push(b'"');
        for &b in f {
            if b == b'"' {
                out.push(b'"');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(f);
    }
}

fn emit_fields(out: &mut Vec<u8>, fields: &[Vec<u8>]) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_field(out, f);
    }
    out.push(b'\n');
}

fn bool_token(v: bool, style: u8) -> &'static str {
    match (style, v) {
        (1, true) => "TRUE",
        (1, false) => "FALSE",
        (2, true) => "1",
        (2, false) => "0",
        (3, true) => "yes",
        (3, false) => "no",
        (4, true) => "True",
        (4, false) => "False",
        (_, true) => "true",
        (_, false) => "false",
    }
}

/// Global numbering of a block's rows (ids are 1-based).
#[derive(Clone, Copy, Default)]
struct Bases {
    order: u64,
    payment: u64,
    unsub: u64,
    batch: u64,
}

struct BlockOut {
    orders: Vec<u8>,
    payments: Vec<u8>,
    unsubs: Vec<u8>,
    malformed: u64,
    counts: [u64; 3],
    wrong: u64,
}

const BAD_MONEY: &[&str] = &[
    "1e3",
    ".5",
    "1,000",
    "5.",
    "+5",
    "-5.00",
    "12.3456789",
    "$12.00",
    "abc",
    "1 000",
];
const BAD_TS: &[&str] = &[
    "2021-13-01T00:00:00Z",
    "2021-09-30",
    "2021-09-30T15:00:00+0800",
    "2021-02-30T10:00:00+08:00",
    "2021-09-30T25:00:00Z",
    "30/09/2021 10:00",
    "yesterday",
];

struct Malformer {
    rng: ChaCha8Rng,
    rate: f64,
    count: u64,
}

impl Malformer {
    /// How many malformed rows follow the current valid one (geometric, so
    /// their share of the file is `rate` in expectation).
    fn rows(&mut self) -> u32 {
        let mut n = 0;
        if self.rate > 0.0 {
            while self.rng.gen::<f64>() < self.rate {
                n += 1;
            }
        }
        n
    }
    fn pick<'s>(&mut self, list: &[&'s str]) -> &'s str {
        list[self.rng.gen_range(0..list.len())]
    }
    /// Drops the last field or adds one.
    fn wrong_count(&mut self, f: &mut Vec<Vec<u8>>) {
        if self.rng.gen_bool(0.5) {
            f.pop();
        } else {
            f.push(b"extra".to_vec());
        }
    }
    fn mark_id(f: &mut [Vec<u8>]) {
        f[0].push(b'M');
    }

    fn order(&mut self, row: &Row, out: &mut Vec<u8>) {
        for _ in 0..self.rows() {
            let mut f = row.fields();
            let kind = self.rng.gen_range(0..10);
            if kind != 6 {
                Self::mark_id(&mut f);
            }
            match kind {
                0 => f[10] = self.pick(BAD_MONEY).into(),
                1 => f[11] = self.pick(BAD_MONEY).into(),
                2 => f[self.rng.gen_range(7..10)] = self.pick(BAD_TS).into(),
                3 => {
                    let (i, v) = [
                        (4, "edtion"),
                        (4, "bundle"),
                        (5, "monthly"),
                        (6, "refund"),
                        (6, "trial"),
                    ][self.rng.gen_range(0..5)];
                    f[i] = v.into();
                }
                4 => f[self.rng.gen_range(0..13)].clear(),
                5 => self.wrong_count(&mut f),
                6 => {} // duplicate order_id: same row again
                7 => {
                    // coupon_amount above amount
                    let mut v = f[10].clone();
                    v.insert(0, b'9');
                    f[11] = v;
                }
                8 => f[9] = f[8].clone(), // service_end = service_start
                _ => {
                    if self.rng.gen_bool(0.5) {
                        f[5] = b"subscription".to_vec();
                        f[6] = b"usage".to_vec();
                    } else {
                        f[12] = self.pick(&["usd", "US", "EURO", "U$D"]).into();
                    }
                }
            }
            emit_fields(out, &f);
            self.count += 1;
        }
    }

    fn payment(&mut self, row: &Row, out: &mut Vec<u8>) {
        for _ in 0..self.rows() {
            let mut f = row.fields();
            let kind = self.rng.gen_range(0..8);
            if kind != 5 {
                Self::mark_id(&mut f);
            }
            match kind {
                0 => f[4] = self.pick(BAD_MONEY).into(),
                1 => f[4] = self.pick(&["0", "0.00"]).into(),
                2 => f[3] = self.pick(BAD_TS).into(),
                3 => f[7] = self.pick(&["ok", "refunded", "success"]).into(),
                4 => f[self.rng.gen_range(0..8)].clear(),
                5 => {} // duplicate payment_id
                6 => self.wrong_count(&mut f),
                _ => f[5] = self.pick(&["usd", "DOLLAR", "J"]).into(),
            }
            emit_fields(out, &f);
            self.count += 1;
        }
    }

    fn unsub(&mut self, row: &Row, u: &Unsub, out: &mut Vec<u8>) {
        for _ in 0..self.rows() {
            let mut f = row.fields();
            let completed = u.status == Status::Completed;
            let kind = self.rng.gen_range(0..if completed { 12 } else { 7 });
            if kind != 5 {
                Self::mark_id(&mut f);
            }
            match kind {
                0 => f[4] = self.pick(BAD_TS).into(),
                1 => f[8] = self.pick(&["frozen", "locked", "ok"]).into(),
                2 => f[9] = self.pick(&["approved", "done", "cancelled"]).into(),
                3 => f[[0, 1, 2, 4, 8, 9][self.rng.gen_range(0..6)]].clear(),
                4 => self.wrong_count(&mut f),
                5 => {} // duplicate unsub_id
                6 => {
                    // reviewed_at before requested_at
                    let mut v = Vec::new();
                    push_ts(&mut v, u.requested - HOUR, 0);
                    f[5] = v;
                }
                7 => f[6].clear(),
                8 => f[10] = self.pick(&["full", "refund", "none"]).into(),
                9 => f[11] = self.pick(BAD_MONEY).into(),
                10 if u.refund > 0 => {
                    if self.rng.gen_bool(0.5) {
                        f[15] = self.pick(&["2021-13", "202109", "2021/09", "21-09"]).into();
                    } else {
                        f[14].clear();
                    }
                }
                _ => {
                    // completed_at before requested_at
                    let mut v = Vec::new();
                    push_ts(&mut v, u.requested - DAY, TS_UTC);
                    f[6] = v;
                }
            }
            emit_fields(out, &f);
            self.count += 1;
        }
    }
}

fn format_block(cfg: &Cfg, b: u64, block: &Block, base: Bases) -> BlockOut {
    let mut mal = Malformer {
        rng: block_rng(cfg.seed, b, 2),
        rate: cfg.malformed_rate,
        count: 0,
    };
    let mut row = Row::default();
    let mut orders = Vec::with_capacity(block.orders.len() * 200);
    let mut payments = Vec::with_capacity(block.payments.len() * 100);
    let mut unsubs = Vec::with_capacity(block.unsubs.len() * 200);
    let acct = |local: u32| block.first_account + u64::from(local);

    for (i, o) in block.orders.iter().enumerate() {
        row.clear();
        row.id(b"O", base.order + i as u64 + 1, 9);
        row.account(acct(o.account));
        row.data.extend_from_slice(b"i-");
        push_padded(&mut row.data, acct(o.account), 6);
        row.data.push(b'-');
        push_padded(&mut row.data, u64::from(o.instance), 3);
        row.end();
        row.text(PRODUCTS[o.product as usize].name);
        row.text(o.item.token());
        row.text(if o.mode == Mode::Subscription {
            "subscription"
        } else {
            "pay_per_use"
        });
        row.text(o.otype.token());
        row.ts(o.ordered_at, o.ts_style[0]);
        row.ts(o.start, o.ts_style[1]);
        row.ts(o.end, o.ts_style[2]);
        row.money(o.amount, o.cur);
        row.money(o.coupon, o.cur);
        row.text(o.cur.token());
        row.text(bool_token(o.promo, o.bool_style));
        row.text(bool_token(o.invoice, o.bool_style));
        row.emit(&mut orders);
        mal.order(&row, &mut orders);
    }

    for (i, p) in block.payments.iter().enumerate() {
        row.clear();
        row.id(b"P", base.payment + i as u64 + 1, 9);
        row.id(b"O", base.order + u64::from(p.order) + 1, 9);
        row.account(acct(p.account));
        row.ts(p.paid_at, p.ts_style);
        row.money(p.amount, p.cur);
        row.text(p.cur.token());
        row.text(p.method.token());
        row.text(if p.ok { "succeeded" } else { "failed" });
        row.emit(&mut payments);
        mal.payment(&row, &mut payments);
    }

    for (i, u) in block.unsubs.iter().enumerate() {
        row.clear();
        row.id(b"U", base.unsub + i as u64 + 1, 9);
        let order_no = base.order + u64::from(u.order) + 1;
        if u.missing_order {
            row.id(b"O9", order_no, 9);
        } else {
            row.id(b"O", order_no, 9);
        }
        row.account(u.account);
        if u.batch == NO_BATCH {
            row.empty();
        } else {
            row.id(b"B", base.batch + u64::from(u.batch) + 1, 9);
        }
        row.ts(u.requested, u.ts_style[0]);
        row.opt_ts(u.reviewed, u.ts_style[1]);
        row.opt_ts(u.completed, u.ts_style[2]);
        row.opt_ts(u.refunded, u.ts_style[3]);
        row.text(u.state.token());
        row.text(u.status.token());
        if u.status == Status::Completed {
            row.text(u.rtype.token());
            row.money(u.refund, u.cur);
            row.money(u.fee, u.cur);
            row.money(u.coupon, u.cur);
            row.text(u.dest.map_or("", Method::token));
            if let Some(c) = u.cycle {
                push_cycle(&mut row.data, c);
            }
            row.end();
        } else {
            for _ in 0..6 {
                row.empty();
            }
        }
        row.emit(&mut unsubs);
        mal.unsub(&row, u, &mut unsubs);
    }

    BlockOut {
        orders,
        payments,
        unsubs,
        malformed: mal.count,
        counts: [
            block.orders.len() as u64,
            block.payments.len() as u64,
            block.unsubs.len() as u64,
        ],
        wrong: block.wrong,
    }
}

// --------------------------------------------------------------- driver ----

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

fn open(path: PathBuf, header: &str) -> io::Result<BufWriter<File>> {
    let f =
        File::create(&path).map_err(|e| io::Error::new(e.kind(), format!("cannot create {}: {e}", path.display())))?;
    let mut w = BufWriter::with_capacity(1 << 20, f);
    w.write_all(header.as_bytes())?;
    w.write_all(b"\n")?;
    Ok(w)
}

type Writers = [BufWriter<File>; 3];

fn write_group(w: &mut Writers, outs: Vec<BlockOut>, report: &mut GenerateReport) -> io::Result<()> {
    for o in outs {
        w[0].write_all(&o.orders)?;
        w[1].write_all(&o.payments)?;
        w[2].write_all(&o.unsubs)?;
        report.orders += o.counts[0];
        report.payments += o.counts[1];
        report.unsubscriptions += o.counts[2];
        report.malformed += o.malformed;
        report.wrong_recorded += o.wrong;
    }
    Ok(())
}

/// Writes `orders.csv`, `payments.csv` and `unsubscriptions.csv` into
/// `opts.out` (see the module documentation for what they contain).
pub fn generate(opts: &GenerateOptions) -> io::Result<GenerateReport> {
    if opts.accounts == 0 {
        return Err(invalid("--accounts must be at least 1".into()));
    }
    if !(0.0..=1.0).contains(&opts.error_rate) {
        return Err(invalid(format!(
            "--error-rate must be between 0 and 1, got {}",
            opts.error_rate
        )));
    }
    if !(0.0..1.0).contains(&opts.malformed_rate) {
        return Err(invalid(format!(
            "--malformed-rate must be at least 0 and below 1 (the share of malformed rows among all rows), got {}",
            opts.malformed_rate
        )));
    }
    let per_account = (opts.orders / opts.accounts).max(1);
    let accounts_per_block = (ORDERS_PER_BLOCK / per_account).clamp(1, 1024);
    let cfg = Cfg {
        seed: opts.seed,
        accounts: opts.accounts,
        orders: opts.orders,
        accounts_per_block,
        blocks: opts.accounts.div_ceil(accounts_per_block),
        error_rate: opts.error_rate,
        malformed_rate: opts.malformed_rate,
    };
    std::fs::create_dir_all(&opts.out)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot create {}: {e}", opts.out.display())))?;
    let mut w: Writers = [
        open(opts.out.join("orders.csv"), ORDERS_HEADER)?,
        open(opts.out.join("payments.csv"), PAYMENTS_HEADER)?,
        open(opts.out.join("unsubscriptions.csv"), UNSUBSCRIPTIONS_HEADER)?,
    ];
    let mut report = GenerateReport::default();
    let mut next = Bases::default();
    let mut ready: Option<Vec<BlockOut>> = None;
    let mut group_start = 0;
    while group_start < cfg.blocks || ready.is_some() {
        let group_end = (group_start + GROUP_BLOCKS).min(cfg.blocks);
        let to_write = ready.take();
        let produce = || -> Vec<BlockOut> {
            if group_start >= group_end {
                return Vec::new();
            }
            let blocks: Vec<Block> = (group_start..group_end)
                .into_par_iter()
                .map(|b| gen_block(&cfg, b))
                .collect();
            let mut bases = Vec::with_capacity(blocks.len());
            let mut run = next;
            for blk in &blocks {
                bases.push(run);
                run.order += blk.orders.len() as u64;
                run.payment += blk.payments.len() as u64;
                run.unsub += blk.unsubs.len() as u64;
                run.batch += u64::from(blk.batches);
            }
            next = run;
            blocks
                .par_iter()
                .zip(bases)
                .enumerate()
                .map(|(i, (blk, base))| format_block(&cfg, group_start + i as u64, blk, base))
                .collect()
        };
        let (produced, written) = rayon::join(produce, || match to_write {
            Some(outs) => write_group(&mut w, outs, &mut report),
            None => Ok(()),
        });
        written?;
        if !produced.is_empty() {
            ready = Some(produced);
        }
        group_start = group_end;
    }
    for x in &mut w {
        x.flush()?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, NaiveDate, TimeZone};
    use std::collections::{HashMap, HashSet};
    use std::path::Path;

    fn opts(dir: &Path, orders: u64, seed: u64) -> GenerateOptions {
        GenerateOptions {
            out: dir.to_path_buf(),
            accounts: (orders / 10).max(1),
            orders,
            seed,
            error_rate: 0.02,
            malformed_rate: 0.0,
        }
    }

    fn read(dir: &Path, name: &str) -> String {
        std::fs::read_to_string(dir.join(name)).unwrap()
    }

    fn files(dir: &Path) -> [Vec<u8>; 3] {
        ["orders.csv", "payments.csv", "unsubscriptions.csv"].map(|f| std::fs::read(dir.join(f)).unwrap())
    }

    /// Minimal RFC 4180 reader (LF line ends, as written here).
    fn parse_csv(text: &str) -> Vec<Vec<String>> {
        let mut rows = Vec::new();
        let mut row = Vec::new();
        let mut field = String::new();
        let mut quoted = false;
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match (quoted, c) {
                (true, '"') if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                (true, '"') => quoted = false,
                (true, c) => field.push(c),
                (false, '"') => quoted = true,
                (false, ',') => row.push(std::mem::take(&mut field)),
                (false, '\n') => {
                    row.push(std::mem::take(&mut field));
                    rows.push(std::mem::take(&mut row));
                }
                (false, c) => field.push(c),
            }
        }
        assert!(field.is_empty() && row.is_empty(), "file ends with a newline");
        rows
    }

    fn table(dir: &Path, name: &str) -> (Vec<String>, Vec<HashMap<String, String>>) {
        let mut rows = parse_csv(&read(dir, name));
        let header = rows.remove(0);
        let maps = rows
            .into_iter()
            .map(|r| {
                assert_eq!(r.len(), header.len(), "{name}: {r:?}");
                header.iter().cloned().zip(r).collect()
            })
            .collect();
        (header, maps)
    }

    fn is_money(s: &str) -> bool {
        let (int, frac) = match s.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (s, None),
        };
        !int.is_empty()
            && int.bytes().all(|b| b.is_ascii_digit())
            && frac.is_none_or(|f| (1..=6).contains(&f.len()) && f.bytes().all(|b| b.is_ascii_digit()))
    }

    /// RFC 3339 with an offset (`T` or a space between date and time).
    fn parse_ts(s: &str) -> DateTime<chrono::FixedOffset> {
        let b = s.as_bytes();
        assert!(b.len() >= 20 && (b[10] == b'T' || b[10] == b' '), "timestamp {s}");
        assert!(s.ends_with('Z') || s.ends_with("+08:00"), "offset of {s}");
        DateTime::parse_from_rfc3339(&s.replacen(' ', "T", 1)).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn tmp() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    #[test]
    fn calendar_matches_chrono() {
        for (y, m, d) in [
            (1970, 1, 1),
            (2000, 2, 29),
            (2021, 9, 30),
            (2021, 12, 31),
            (2022, 3, 1),
            (2024, 2, 29),
        ] {
            let z = days_from_civil(y, m, d);
            let want = NaiveDate::from_ymd_opt(y as i32, m as u32, d as u32).unwrap();
            let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
            assert_eq!(z, (want - epoch).num_days());
            assert_eq!(civil_from_days(z), (y, m as u32, d as u32));
        }
        for z in -1000..100_000 {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, i64::from(m), i64::from(d)), z);
        }
    }

    #[test]
    fn shanghai_is_utc_plus_8_in_the_generated_years() {
        use chrono::Offset;
        for t in (START - DAY..HORIZON + 40 * DAY).step_by(6 * 3600 + 17) {
            let dt = chrono_tz::Asia::Shanghai.timestamp_opt(t, 0).unwrap();
            assert_eq!(dt.offset().fix().local_minus_utc(), 8 * 3600);
        }
        let mut buf = Vec::new();
        push_ts(&mut buf, local_ts(2021, 10, 1, 0) + 30 * MINUTE, TS_UTC);
        assert_eq!(buf, b"2021-09-30T16:30:00Z");
        assert_eq!(month_index(local_ts(2021, 10, 1, 0) + 30 * MINUTE), 2021 * 12 + 9);
    }

    #[test]
    fn spec_worked_examples() {
        // Example 4: 365-day term, cash_due 300.00, requested 100 days and
        // 1 hour after service_start -> 216.99.
        let s = local_ts(2021, 3, 1, 0);
        assert_eq!(partial_refund(30_000, s, s + 365 * DAY, s + 100 * DAY + HOUR), 21_699);
        // Example 6: approved Friday 2021-10-08 10:00 -> Tuesday 23:59:59.
        let approved = local_ts(2021, 10, 8, 10);
        assert_eq!(refund_deadline(approved), local_ts(2021, 10, 12, 23) + 59 * MINUTE + 59);
        // National Day holidays are not business days.
        assert_eq!(
            refund_deadline(local_ts(2021, 9, 30, 10)),
            local_ts(2021, 10, 11, 23) + 3599
        );
        assert_eq!(div_half_up(5, 2), 3);
        assert_eq!(div_half_up(4, 3), 1);
    }

    #[test]
    fn same_seed_gives_identical_files_whatever_the_threads() {
        let (a, b) = (tmp(), tmp());
        let ra = generate(&opts(a.path(), 20_000, 7)).unwrap();
        let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let rb = pool.install(|| generate(&opts(b.path(), 20_000, 7))).unwrap();
        assert_eq!(ra, rb);
        assert_eq!(files(a.path()), files(b.path()));
    }

    #[test]
    fn different_seed_gives_different_files() {
        let (a, b) = (tmp(), tmp());
        generate(&opts(a.path(), 5_000, 1)).unwrap();
        generate(&opts(b.path(), 5_000, 2)).unwrap();
        let (fa, fb) = (files(a.path()), files(b.path()));
        for i in 0..3 {
            assert_ne!(fa[i], fb[i]);
        }
    }

    #[test]
    fn headers_are_the_spec_columns() {
        let d = tmp();
        generate(&opts(d.path(), 100, 3)).unwrap();
        let spec = [
            ("orders.csv", "order_id account_id instance_id product item_kind billing_mode order_type ordered_at service_start service_end amount coupon_amount currency promotional invoice_issued"),
            ("payments.csv", "payment_id order_id account_id paid_at amount currency method status"),
            ("unsubscriptions.csv", "unsub_id order_id account_id batch_id requested_at reviewed_at completed_at refunded_at instance_state status refund_type refund_amount handling_fee coupon_returned refund_destination billing_cycle"),
        ];
        for (file, cols) in spec {
            let (header, _) = table(d.path(), file);
            assert_eq!(header, cols.split(' ').collect::<Vec<_>>(), "{file}");
        }
    }

    #[test]
    fn row_counts_follow_the_options() {
        let d = tmp();
        let r = generate(&opts(d.path(), 50_000, 11)).unwrap();
        assert_eq!(r.orders, 50_000);
        let pay = r.payments as f64 / r.orders as f64;
        let uns = r.unsubscriptions as f64 / r.orders as f64;
        assert!((0.95..1.25).contains(&pay), "payments per order {pay}");
        assert!((0.12..0.3).contains(&uns), "unsubscriptions per order {uns}");
        assert_eq!(r.malformed, 0);
        for (file, n) in [
            ("orders.csv", r.orders),
            ("payments.csv", r.payments),
            ("unsubscriptions.csv", r.unsubscriptions),
        ] {
            assert_eq!(table(d.path(), file).1.len() as u64, n, "{file}");
        }
        // Accounts: exactly as many as asked when each has orders.
        let (_, orders) = table(d.path(), "orders.csv");
        let accounts: HashSet<&str> = orders.iter().map(|o| o["account_id"].as_str()).collect();
        assert_eq!(accounts.len(), 5_000);
        // More accounts than orders, and no orders at all.
        let r = generate(&GenerateOptions {
            accounts: 50,
            ..opts(d.path(), 7, 1)
        })
        .unwrap();
        assert_eq!(r.orders, 7);
        let r = generate(&opts(d.path(), 0, 1)).unwrap();
        assert_eq!((r.orders, r.payments, r.unsubscriptions), (0, 0, 0));
        assert_eq!(read(d.path(), "orders.csv"), format!("{ORDERS_HEADER}\n"));
    }

    #[test]
    fn clean_cells_are_well_formed_and_linked() {
        let d = tmp();
        let o = GenerateOptions {
            error_rate: 0.0,
            ..opts(d.path(), 20_000, 5)
        };
        generate(&o).unwrap();
        let (_, orders) = table(d.path(), "orders.csv");
        let (_, payments) = table(d.path(), "payments.csv");
        let (_, unsubs) = table(d.path(), "unsubscriptions.csv");
        let mut by_id = HashMap::new();
        let mut quoted_product = false;
        for o in &orders {
            for c in ["amount", "coupon_amount"] {
                assert!(is_money(&o[c]), "{c} {}", o[c]);
            }
            let (start, end) = (parse_ts(&o["service_start"]), parse_ts(&o["service_end"]));
            parse_ts(&o["ordered_at"]);
            assert!(end > start);
            let amount: rust_decimal::Decimal = o["amount"].parse().unwrap();
            let coupon: rust_decimal::Decimal = o["coupon_amount"].parse().unwrap();
            assert!(coupon <= amount);
            assert!(o["order_type"] != "usage" || o["billing_mode"] == "pay_per_use");
            if o["currency"] == "JPY" {
                assert!(!o["amount"].contains('.'));
            }
            quoted_product |= o["product"].contains(',');
            assert!(by_id.insert(o["order_id"].clone(), o).is_none(), "duplicate order id");
        }
        assert!(quoted_product);
        let mut paid: HashMap<&str, rust_decimal::Decimal> = HashMap::new();
        let mut ids = HashSet::new();
        for p in &payments {
            assert!(is_money(&p["amount"]));
            parse_ts(&p["paid_at"]);
            let o = by_id[&p["order_id"]];
            assert_eq!(o["account_id"], p["account_id"]);
            assert_eq!(o["currency"], p["currency"]);
            assert!(ids.insert(p["payment_id"].clone()));
            if p["status"] == "succeeded" {
                *paid.entry(p["order_id"].as_str()).or_default() +=
                    p["amount"].parse::<rust_decimal::Decimal>().unwrap();
            }
        }
        for (id, sum) in paid {
            let o = by_id[id];
            let due = o["amount"].parse::<rust_decimal::Decimal>().unwrap()
                - o["coupon_amount"].parse::<rust_decimal::Decimal>().unwrap();
            assert_eq!(sum, due, "payments of {id}");
        }
        let mut ids = HashSet::new();
        let mut completed_orders = HashSet::new();
        for u in &unsubs {
            assert!(ids.insert(u["unsub_id"].clone()));
            let o = by_id[&u["order_id"]];
            assert_eq!(o["account_id"], u["account_id"]);
            let requested = parse_ts(&u["requested_at"]);
            for c in ["reviewed_at", "completed_at", "refunded_at"] {
                if !u[c].is_empty() {
                    assert!(parse_ts(&u[c]) >= requested, "{c} before requested_at");
                }
            }
            match u["status"].as_str() {
                "completed" => {
                    assert_eq!(u["instance_state"], "normal");
                    assert!(completed_orders.insert(u["order_id"].clone()), "two completions");
                    for c in ["refund_amount", "handling_fee", "coupon_returned"] {
                        assert!(is_money(&u[c]), "{c} {}", u[c]);
                    }
                    if u["refund_amount"].parse::<rust_decimal::Decimal>().unwrap() > rust_decimal::Decimal::ZERO {
                        assert!(!u["refund_destination"].is_empty() && u["billing_cycle"].len() == 7);
                    }
                }
                "rejected" | "pending" => {
                    for c in [
                        "completed_at",
                        "refunded_at",
                        "refund_type",
                        "refund_amount",
                        "billing_cycle",
                    ] {
                        assert!(u[c].is_empty());
                    }
                }
                s => panic!("status {s}"),
            }
        }
    }

    #[test]
    fn error_rate_changes_the_wrong_count_only() {
        let (a, b) = (tmp(), tmp());
        let clean = generate(&GenerateOptions {
            error_rate: 0.0,
            ..opts(a.path(), 20_000, 9)
        })
        .unwrap();
        let wrong = generate(&GenerateOptions {
            error_rate: 0.1,
            ..opts(b.path(), 20_000, 9)
        })
        .unwrap();
        assert_eq!(clean.wrong_recorded, 0);
        assert!(wrong.wrong_recorded > 100, "{wrong:?}");
        assert_eq!(
            (clean.orders, clean.payments, clean.unsubscriptions),
            (wrong.orders, wrong.payments, wrong.unsubscriptions)
        );
        let (fa, fb) = (files(a.path()), files(b.path()));
        assert!(
            fa[0] == fb[0] && fa[1] == fb[1],
            "orders and payments do not depend on the error rate"
        );
        assert!(fa[2] != fb[2]);
    }

    #[test]
    fn malformed_rows_are_extra_rows() {
        let (a, b) = (tmp(), tmp());
        let clean = generate(&opts(a.path(), 20_000, 4)).unwrap();
        let bad = generate(&GenerateOptions {
            malformed_rate: 0.05,
            ..opts(b.path(), 20_000, 4)
        })
        .unwrap();
        assert_eq!(
            (clean.orders, clean.payments, clean.unsubscriptions),
            (bad.orders, bad.payments, bad.unsubscriptions)
        );
        let lines = |d: &Path| -> u64 {
            ["orders.csv", "payments.csv", "unsubscriptions.csv"]
                .iter()
                .map(|f| parse_csv(&read(d, f)).len() as u64 - 1)
                .sum()
        };
        let valid = bad.orders + bad.payments + bad.unsubscriptions;
        assert_eq!(lines(b.path()), valid + bad.malformed);
        let share = bad.malformed as f64 / (valid + bad.malformed) as f64;
        assert!((0.04..0.06).contains(&share), "malformed share {share}");
        // The valid rows are the clean data set's rows, in the same order.
        let (_, clean_orders) = table(a.path(), "orders.csv");
        let rows = parse_csv(&read(b.path(), "orders.csv"));
        let mut seen = HashSet::new();
        let kept: Vec<&Vec<String>> = rows[1..]
            .iter()
            .filter(|r| r.len() == 15 && r[0].starts_with('O') && !r[0].ends_with('M') && seen.insert(r[0].clone()))
            .collect();
        assert_eq!(kept.len(), clean_orders.len());
        for (k, c) in kept.iter().zip(&clean_orders) {
            assert_eq!(k[0], c["order_id"]);
            assert_eq!(k[10], c["amount"]);
        }
    }

    #[test]
    fn bad_options_are_refused() {
        let d = tmp();
        assert!(generate(&GenerateOptions {
            accounts: 0,
            ..opts(d.path(), 10, 1)
        })
        .is_err());
        assert!(generate(&GenerateOptions {
            error_rate: 1.5,
            ..opts(d.path(), 10, 1)
        })
        .is_err());
        assert!(generate(&GenerateOptions {
            malformed_rate: 1.0,
            ..opts(d.path(), 10, 1)
        })
        .is_err());
        assert!(generate(&GenerateOptions {
            malformed_rate: f64::NAN,
            ..opts(d.path(), 10, 1)
        })
        .is_err());
    }
}
