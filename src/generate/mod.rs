//! `refund-recon generate`: seeded synthetic exports (`orders.csv`,
//! `payments.csv`, `unsubscriptions.csv`) for benchmarks and property tests.
//!
//! # Determinism and speed
//! Accounts are cut into fixed blocks (the block size depends only on the
//! options, never on the thread count). Every block has its own ChaCha8
//! streams seeded from `(seed, block index, stream)`: stream 0 draws the data,
//! stream 1 the deliberate mistakes (`error_rate`), stream 2 the malformed rows
//! (`malformed_rate`). The files are byte-identical for one seed and policy
//! whatever the number of rayon threads. Orders and payments do not depend on
//! `error_rate` (only the mistaken unsubscription rows change, and a moved
//! release renumbers its account's unsubscriptions); with `malformed_rate` > 0
//! the valid rows are the same, in the same order, with malformed rows
//! between them. Groups of 64 blocks are generated in parallel, numbered (ids
//! are global sequence numbers, from a prefix sum over the group), formatted
//! in parallel into byte buffers by hand (no `format!` on the hot path), and
//! written in block order while the next group is generated, so memory stays
//! bounded (about 80 MB). That is the `by-account` [`Layout`]; the default,
//! `interleaved`, keeps the formatted blocks with each row's time and end,
//! then writes each file's rows sorted by time (stable, so ties keep the
//! by-account order; malformed rows stay after the valid row they follow):
//! the same rows, in the order a billing system exports them. A block holds about 2048 orders (at least one
//! account), so a data set with very few accounts uses few threads.
//!
//! Money is held in integer minor units of its currency (exact; the minor
//! units are the policy's); time as Unix seconds. Local days, months, years
//! and business days come from the policy's [`crate::time::Calendar`] (its
//! billing zone and holidays), and timestamps are written in the billing
//! zone's offset (`+08:00` under the bundled policy) or in UTC.
//!
//! # Modules
//! `accounts` draws accounts, instances, orders and payments; `lifecycle`
//! their unsubscriptions and the values recorded for them; `mistakes` the
//! `error_rate` mistakes; `malformed` the malformed rows; `write` the CSV
//! bytes; `policy` what is taken from the policy, and the calls into
//! [`crate::rules`]; `catalog` products, currencies, payment methods and
//! the weights of the model's enumerations.
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
//!   policy's unconditional window (120 h bundled), later partial ones,
//!   cancellations of renewals that have not started (`unactivated`),
//!   instance teardowns (current order, upgrade and future renewal together,
//!   often as a batch; value-added packages follow after the asset quota's
//!   unsubscription completed, so R10 stays clean), account-wide batches
//!   (2–5 rows, one `requested_at`), retries after a blocked attempt. Some
//!   `requested_at` lie within an hour of a local month end; timestamps use
//!   the zone's offset mostly, `Z` sometimes, a space separator rarely, and
//!   fractional seconds occasionally (non-zero fractions only on `paid_at`,
//!   `completed_at`, `refunded_at`, where they cannot change a rule).
//! * Recorded values are computed under the given policy (`--policy`; the
//!   bundled once-a-year policy is the docs/policy.md defaults plus its
//!   2021 National Day holidays) by the rules' own functions: per account in
//!   (`requested_at`, `unsub_id`) order, R2 blocked states and promotional
//!   invoiced unactivated orders are `rejected`, R3 type with the
//!   per-calendar-year quota (completed and pending consume it), R4 amounts
//!   (partial refund, handling fee, coupons returned as the policy says),
//!   R5 review and auto-approval, R6 cycle, R8 original method (about 4% go
//!   to the policy's fallback, `account_balance`, an info finding), R9 refund
//!   within the policy's business days. Pending rows are never above a
//!   review threshold (no `STALE_PENDING`).
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
//! * So with `error_rate` 0 the policy it was generated under should find
//!   nothing but `FALLBACK_TO_BALANCE` (info) on about 2% of
//!   unsubscriptions; an independent re-implementation of R0–R11 confirmed
//!   that for the bundled policy on 300k orders. Not modelled:
//!   `REFUND_NOT_PAID` (every refund has a `refunded_at`), `STALE_PENDING`,
//!   payment mistakes. Requests end on 2022-12-28 (local); service periods
//!   run up to 2026.
//! * `malformed_rate`: that share of each file's rows (in expectation) are
//!   extra malformed rows inserted after a valid row: bad money (`1e3`, `.5`,
//!   `1,000`, ...), bad timestamps, unknown tokens, missing required values,
//!   wrong field counts, duplicate ids, coupon above amount, end before start,
//!   out-of-order timestamps. Their ids end in `M` unless they duplicate one.

mod accounts;
mod catalog;
mod lifecycle;
mod malformed;
mod mistakes;
mod policy;
#[cfg(test)]
mod tests;
mod write;

use std::io::{self, Write};
use std::ops::Range;
use std::path::PathBuf;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::config::Policy;
use crate::model::Currency;

use accounts::{gen_block, Block};
use policy::Terms;
use write::{format_block, open, write_group, Bases, BlockOut, Runs, Writers};

/// How the rows of the three files are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// Each file in time order (orders by ordered_at, payments by paid_at,
    /// unsubscriptions by requested_at), accounts interleaved, as a billing
    /// system exports them. Sorted in runs of 512 MB on disk, then merged:
    /// memory stays about 1 GB at any size.
    #[default]
    Interleaved,
    /// Each account's rows together, accounts in id order (streamed, about
    /// 80 MB of memory).
    ByAccount,
}

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
    /// The policy the recorded values follow: its billing zone, holidays,
    /// minor units, window, quota, amounts, review thresholds and refund
    /// deadline. It needs a review threshold for each of [`currencies`].
    pub policy: Policy,
    /// The order of the rows; the rows themselves do not depend on it.
    pub layout: Layout,
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

/// The currencies of the generated orders (the policy needs a review
/// threshold for each).
pub fn currencies() -> [Currency; 4] {
    catalog::Cur::ALL.map(catalog::Cur::currency)
}

/// Blocks generated (and formatted) in parallel before being written.
const GROUP_BLOCKS: u64 = 64;
/// Bytes of rows sorted in memory into one run of the interleaved layout.
const RUN_BYTES: usize = 512 << 20;

#[cfg(not(test))]
fn run_bytes() -> usize {
    RUN_BYTES
}

#[cfg(test)]
thread_local! {
    /// A test's run size (small, to merge many runs).
    static TEST_RUN_BYTES: std::cell::Cell<usize> = const { std::cell::Cell::new(RUN_BYTES) };
}

#[cfg(test)]
fn run_bytes() -> usize {
    TEST_RUN_BYTES.with(|c| c.get())
}
/// About this many orders per block.
const ORDERS_PER_BLOCK: u64 = 2048;

// Durations in the generator's unit, seconds.
const MINUTE: i64 = 60;
const HOUR: i64 = 3600;
const DAY: i64 = 86_400;

struct Cfg<'p> {
    seed: u64,
    accounts: u64,
    orders: u64,
    accounts_per_block: u64,
    blocks: u64,
    error_rate: f64,
    malformed_rate: f64,
    terms: Terms<'p>,
}

impl Cfg<'_> {
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

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
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
        terms: Terms::new(&opts.policy)?,
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
    if opts.layout == Layout::Interleaved {
        let mut runs = Runs::new(&opts.out)?;
        let mut batch: Vec<BlockOut> = Vec::new();
        let mut group_start = 0;
        while group_start < cfg.blocks {
            let group_end = (group_start + GROUP_BLOCKS).min(cfg.blocks);
            batch.extend(produce_group(&cfg, group_start..group_end, &mut next));
            group_start = group_end;
            if batch.iter().map(BlockOut::bytes).sum::<usize>() >= run_bytes() {
                runs.add(&batch, &mut report)?;
                batch.clear();
            }
        }
        if runs.is_empty() {
            runs.write_only(&mut w, &batch, &mut report)?;
        } else {
            runs.add(&batch, &mut report)?;
            drop(batch);
            runs.finish(&mut w)?;
        }
        for x in &mut w {
            x.flush()?;
        }
        return Ok(report);
    }
    let mut ready: Option<Vec<BlockOut>> = None;
    let mut group_start = 0;
    while group_start < cfg.blocks || ready.is_some() {
        let group_end = (group_start + GROUP_BLOCKS).min(cfg.blocks);
        let to_write = ready.take();
        // Generate this group while the previous one is written.
        let (produced, written) = rayon::join(
            || produce_group(&cfg, group_start..group_end, &mut next),
            || match to_write {
                Some(outs) => write_group(&mut w, outs, &mut report),
                None => Ok(()),
            },
        );
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

/// Generates a group of blocks in parallel, numbers their rows from `next`
/// on (advancing it), and formats them in parallel.
fn produce_group(cfg: &Cfg, blocks: Range<u64>, next: &mut Bases) -> Vec<BlockOut> {
    if blocks.is_empty() {
        return Vec::new();
    }
    let first = blocks.start;
    let generated: Vec<Block> = blocks.into_par_iter().map(|b| gen_block(cfg, b)).collect();
    let mut bases = Vec::with_capacity(generated.len());
    let mut run = *next;
    for blk in &generated {
        bases.push(run);
        run.order += blk.orders.len() as u64;
        run.payment += blk.payments.len() as u64;
        run.unsub += blk.unsubs.len() as u64;
        run.batch += u64::from(blk.batches);
    }
    *next = run;
    generated
        .par_iter()
        .zip(bases)
        .enumerate()
        .map(|(i, (blk, base))| format_block(cfg, first + i as u64, blk, base))
        .collect()
}
