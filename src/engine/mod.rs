//! The reconciliation: link every payment and unsubscription to its order
//! (looked up among its own account's orders, which ingest left
//! contiguous; a hash index of all orders for the rest, a polars hash join
//! when the rows are not in account order), then evaluate every account's
//! unsubscriptions in order (rayon over accounts), then the cross-row
//! rules R10 (per instance) and R11 (per batch).
//!
//! Phases, each timed for the benchmark: read + validate (ingest), join,
//! rules, aggregate and write (in [`crate::report`]).

mod context;
mod evaluate;
mod join;
pub(crate) use join::account_starts;

use std::num::NonZeroU32;
use std::ops::Range;
use std::time::{Duration, Instant};

use rayon::prelude::*;
use rust_decimal::Decimal;
use rustc_hash::FxHashMap;

use crate::config::Policy;
use crate::ingest::{Inputs, Orders, RulesDone, Table};
use crate::model::{BillingMode, ItemKind};
use crate::rules::r0_linking::Link;
use crate::rules::r10_value_added::{self, Instance, InstanceOrder, InstanceUnsub, R10};
use crate::rules::r11_batches::{self, BatchRow, R11};
use crate::rules::r1_payments::{
    self, MethodCandidate, OrderPayments, OrderRef, PaymentCheck, PaymentFacts, R1Order, R1,
};
use crate::rules::{Code, Env, Finding, OrderFacts, Rule};
use crate::time::{Calendar, Micros};

pub use evaluate::{unsub_facts, Outcome, QuotaRow};

/// The index of a row in one of the accepted input tables. Stored plus one
/// in a `NonZeroU32`, so `Option<RowIndex>` ("no such row": an
/// unsubscription or payment whose order is not accepted) stays 4 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RowIndex(NonZeroU32);

impl RowIndex {
    /// Row `i` (tables hold at most [`crate::ingest::MAX_ROWS`] rows, so
    /// `i + 1` fits).
    pub fn new(i: usize) -> RowIndex {
        RowIndex(NonZeroU32::new(i as u32 + 1).expect("row indices are below MAX_ROWS"))
    }

    pub fn get(self) -> usize {
        self.0.get() as usize - 1
    }
}

/// Accounts evaluated by one rayon task (their outcomes in one vector).
const ACCOUNTS_PER_TASK: usize = 512;

/// Wall time of each phase.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timings {
    pub ingest: Duration,
    pub join: Duration,
    pub rules: Duration,
    pub aggregate: Duration,
    pub write: Duration,
}

/// R1's aggregates per order. With [`Keep::ReportColumns`], the parts no
/// report reads are empty after the rules ([`PaymentAgg::free_read`]).
pub struct PaymentAgg {
    /// Σ succeeded payments that belong to the order (same account, currency).
    pub cash_paid: crate::money::Sums,
    /// Whether any accepted payment row names the order.
    pub has_rows: Vec<bool>,
    /// The payment row of the original payment method.
    pub original: Vec<Option<RowIndex>>,
    /// R1's check of each payment row.
    pub checks: Vec<PaymentCheck>,
}

impl PaymentAgg {
    /// Frees what only the rules read once they are `done` with it (see
    /// [`Inputs::free_read_columns`]): each payment's check and whether an
    /// order has payment rows after R1's findings, the original payment
    /// method after the accounts' rules (R8). `explain` reads them all.
    fn free_read(&mut self, done: RulesDone) {
        match done {
            RulesDone::PaymentFindings => {
                self.checks = Vec::new();
                self.has_rows = Vec::new();
            }
            RulesDone::Accounts => self.original = Vec::new(),
            RulesDone::ValueAdded => {}
            RulesDone::All => {
                for done in [RulesDone::PaymentFindings, RulesDone::Accounts] {
                    self.free_read(done);
                }
            }
        }
    }
}

/// Everything the reports and `explain` need.
pub struct Reconciliation {
    pub policy: Policy,
    pub cal: Calendar,
    pub as_of: Micros,
    pub inputs: Inputs,
    pub order_of_unsub: Vec<Option<RowIndex>>,
    pub order_of_payment: Vec<Option<RowIndex>>,
    pub pay: PaymentAgg,
    /// One per accepted unsubscription, sorted by account_id, requested_at,
    /// unsub_id (the evaluation order).
    pub outcomes: Vec<Outcome>,
    /// The outcomes of each account, in account order.
    pub accounts: Vec<Range<usize>>,
    /// Quota rows (account, year), sorted.
    pub quota: Vec<QuotaRow>,
    /// Findings on payments and orders (R1, R10).
    pub other_findings: Vec<Finding>,
    /// What this run checked (all of it for canonical inputs).
    pub coverage: crate::mapping::coverage::Coverage,
    pub timings: Timings,
}

/// Which input columns a reconciliation keeps once the rules are done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// Every column: `explain` and the FOCUS bill read them all.
    All,
    /// Only those the CSV reports read (`run` and a shard's task without
    /// FOCUS): [`Inputs::free_read_columns`].
    ReportColumns,
}

impl Reconciliation {
    /// Sets what the run checked, and drops the findings of the codes it
    /// did not check (their columns are absent: docs/mapping.md, Coverage).
    pub fn set_coverage(&mut self, coverage: crate::mapping::coverage::Coverage) {
        // The findings are walked only when some code was not checked (never
        // for canonical inputs): each one's code looked up in the coverage
        // took 0.1 s on one core at 10M orders (log entry 88).
        let unchecked: Vec<Code> = Code::ALL.iter().copied().filter(|&c| !coverage.checks(c)).collect();
        if !unchecked.is_empty() {
            let checked = |f: &Finding| !unchecked.contains(&f.code);
            self.outcomes.par_iter_mut().for_each(|o| o.findings.retain(checked));
            self.other_findings.retain(checked);
        }
        self.coverage = coverage;
    }

    /// Joins and evaluates. `as_of` defaults to [`Inputs::default_as_of`].
    /// With [`Keep::ReportColumns`], the input columns only the rules read
    /// are freed as the rules finish with them.
    pub fn run(
        policy: Policy,
        cal: Calendar,
        mut inputs: Inputs,
        as_of: Option<Micros>,
        ingest_time: Duration,
        keep: Keep,
    ) -> Result<Reconciliation, crate::error::AppError> {
        let free = |inputs: &mut Inputs, pay: &mut PaymentAgg, done: RulesDone| {
            if keep == Keep::ReportColumns {
                inputs.free_read_columns(done);
                pay.free_read(done);
                // Before the outcomes are made, before R10 and before the
                // reports: the run's peak of memory is at those moments
                // (log entry 54).
                if done != RulesDone::All {
                    crate::memory::give_back();
                }
            }
        };
        let as_of = as_of.or_else(|| inputs.default_as_of()).unwrap_or(0);
        let mut timings = Timings {
            ingest: ingest_time,
            ..Timings::default()
        };

        let t = Instant::now();
        let j = {
            let _span = crate::trace::span("join");
            join::join(&inputs)?
        };
        timings.join = t.elapsed();

        let t = Instant::now();
        let span = crate::trace::span("rules: R1 aggregates");
        let mut pay = payment_aggregates(&inputs, &j.order_of_payment);
        drop(span);
        let env = Env {
            policy: &policy,
            cal: &cal,
            as_of,
        };
        // R1's findings first, so that the columns only they read are freed
        // before the accounts' outcomes are made (log entry 51).
        let span = crate::trace::span("rules: R1 findings");
        let mut other_findings = payment_findings(&inputs, &j.order_of_payment, &pay, &env);
        drop(span);
        free(&mut inputs, &mut pay, RulesDone::PaymentFindings);
        let span = crate::trace::span("rules: accounts");
        let ctx = evaluate::Ctx {
            policy: &policy,
            cal: &cal,
            as_of,
            inputs: &inputs,
            order_of_unsub: &j.order_of_unsub,
            pay: &pay,
        };
        let (mut outcomes, quota) = evaluate_accounts(&ctx, &j)?;
        let accounts = j.accounts.clone();
        debug_assert_eq!(accounts.last().map_or(0, |r| r.end), outcomes.len());
        drop(span);
        free(&mut inputs, &mut pay, RulesDone::Accounts);
        let span = crate::trace::span("rules: R10");
        let on_orders = value_added(
            &inputs,
            &j.order_of_unsub,
            &mut outcomes,
            (&accounts, j.order_starts.as_deref()),
            &env,
            ACCOUNTS_PER_TASK,
        );
        drop(span);
        free(&mut inputs, &mut pay, RulesDone::ValueAdded);
        // R1's findings first, then R10's; room for exactly these, not
        // twice R1's findings (log entry 48).
        other_findings.reserve_exact(on_orders.iter().map(Vec::len).sum());
        other_findings.extend(on_orders.into_iter().flatten());
        let span = crate::trace::span("rules: R11");
        batches(&inputs, &mut outcomes, &env);
        outcomes
            .par_iter_mut()
            .for_each(|o| o.findings.sort_by(Finding::cmp_order));
        drop(span);
        timings.rules = t.elapsed();
        let mut rec = Reconciliation {
            policy,
            cal,
            as_of,
            inputs,
            order_of_unsub: j.order_of_unsub,
            order_of_payment: j.order_of_payment,
            pay,
            outcomes,
            accounts,
            quota,
            other_findings,
            coverage: crate::mapping::coverage::coverage(None),
            timings,
        };
        rec.drop_context();
        free(&mut rec.inputs, &mut rec.pay, RulesDone::All);
        Ok(rec)
    }

    /// The order of accepted row `i` as the rules see it.
    pub fn order_facts(&self, i: usize) -> OrderFacts<'_> {
        order_facts(&self.inputs.orders, i)
    }

    /// The outcome of an unsubscription id, if accepted.
    pub fn outcome_of(&self, unsub_id: &str) -> Option<&Outcome> {
        let ids = self.inputs.unsubs.unsub_id.view();
        self.outcomes.iter().find(|o| ids.get(o.unsub as usize) == unsub_id)
    }
}

/// The accounts' rules (R0–R9, R3c), accounts a task at a time in
/// parallel: each unsubscription's outcome, in evaluation order, and the
/// quota rows.
fn evaluate_accounts(
    ctx: &evaluate::Ctx<'_>,
    j: &join::Joined,
) -> Result<(Vec<Outcome>, Vec<QuotaRow>), crate::error::AppError> {
    // Accounts a task at a time: one outcome per unsubscription, in
    // the evaluation order, so each account's outcomes take the range
    // its unsubscriptions have in `unsub_sorted`. Each task writes its
    // accounts' outcomes straight into its range of the run's outcomes
    // (collecting them per task and then concatenating was a serial
    // copy of 0.3 s at 10M orders: docs/performance.md, log entry 41).
    let tasks: Vec<&[Range<usize>]> = j.accounts.chunks(ACCOUNTS_PER_TASK).collect();
    let mut outcomes: Vec<Outcome> = Vec::new();
    (0..ctx.inputs.unsubs.len())
        .into_par_iter()
        .map(|_| Outcome::placeholder())
        .collect_into_vec(&mut outcomes);
    let slots = task_slots(&mut outcomes, &tasks);
    let per_task: Vec<Vec<QuotaRow>> = tasks
        .into_par_iter()
        .zip(slots)
        .map(|(accounts, slot)| {
            let (mut scratch, mut quota) = (Vec::new(), Vec::new());
            let mut at = 0;
            for range in accounts {
                evaluate::account(ctx, &j.unsub_sorted[range.clone()], &mut scratch, &mut quota)?;
                for (to, mut o) in slot[at..].iter_mut().zip(scratch.drain(..)) {
                    // A vector's first push makes room for four
                    // findings (864 bytes); most outcomes keep one or
                    // two (docs/performance.md, log entry 47).
                    o.findings.shrink_to_fit();
                    *to = o;
                    at += 1;
                }
            }
            debug_assert_eq!(at, slot.len(), "one outcome per unsubscription");
            Ok(quota)
        })
        .collect::<Result<_, _>>()
        .map_err(|e: evaluate::Overflow| {
            let (inputs, r) = (ctx.inputs, e.unsub as usize);
            let u = &inputs.unsubs;
            crate::error::AppError::Arithmetic(format!(
                "{} line {} (unsub_id {}): {} does not fit exactly; the order's amounts or service dates are outside what refund-recon computes (amounts up to {}); correct or remove the row",
                inputs.origin(2, u.line(r)).0,
                inputs.origin(2, u.line(r)).2,
                u.id(r),
                e.step,
                crate::money::MAX_AMOUNT
            ))
        })?;
    Ok((outcomes, per_task.into_iter().flatten().collect()))
}

/// Each row's accepted order row (None: no such order).
pub type OrderLinks = Vec<Option<RowIndex>>;

/// The accepted order row of each payment and of each unsubscription
/// (None: no such order), as the run links them: what `partition` routes
/// rows by (docs/scale.md).
pub fn order_links(inputs: &Inputs) -> Result<(OrderLinks, OrderLinks), crate::error::AppError> {
    let j = join::join(inputs)?;
    Ok((j.order_of_payment, j.order_of_unsub))
}

/// The order of row `i` as the rules see it.
pub fn order_facts(o: &Orders, i: usize) -> OrderFacts<'_> {
    OrderFacts {
        order_id: o.order_id.view().get(i),
        account_id: o.account_id.view().get(i),
        instance_id: o.instance_id.view().get(i),
        item_kind: o.item_kind[i],
        billing_mode: o.billing_mode[i],
        order_type: o.order_type[i],
        ordered_at: o.ordered_at[i],
        service_start: o.service_start[i],
        service_end: o.service_end[i],
        amount: o.amount[i].get(),
        coupon_amount: o.coupon_amount[i].get(),
        currency: o.currency[i],
        promotional: o.promotional[i],
        invoice_issued: o.invoice_issued[i],
    }
}

/// R1: checks of every payment row, cash_paid, payment presence and the
/// original payment method per order.
fn payment_aggregates(inputs: &Inputs, order_of_payment: &[Option<RowIndex>]) -> PaymentAgg {
    let (o, p) = (&inputs.orders, &inputs.payments);
    let (o_acct, p_acct, p_id) = (o.account_id.view(), p.account_id.view(), p.payment_id.view());
    let checks: Vec<PaymentCheck> = (0..p.len())
        .into_par_iter()
        .map(|i| {
            let order = order_of_payment[i].map(|oi| (o_acct.get(oi.get()), o.currency[oi.get()]));
            r1_payments::check_payment(p_acct.get(i), p.currency[i], order)
        })
        .collect();
    let mut cash_paid = crate::money::Sums::slots(o.len());
    let mut has_rows = vec![false; o.len()];
    let mut original: Vec<Option<RowIndex>> = vec![None; o.len()];
    // Each task owns a range of orders and reads the payments for them, in
    // payment order: no sharing, and the result is the sequential one. The
    // payments are first bucketed by their order's range, so each task
    // reads only its own ([`payments_by_task`]).
    let span = (o.len() / (rayon::current_num_threads() * 4)).max(1 << 16);
    let tasks = o.len().div_ceil(span);
    let piece = (p.len() / (rayon::current_num_threads() * 4)).max(1 << 16);
    let bucketed = payments_by_task(order_of_payment, span, tasks, piece);
    // Each task adds up its orders' cash_paid as Decimals, then stores
    // them in 9 bytes each (log entry 53).
    let wide: Vec<_> = cash_paid
        .par_chunks_mut(span)
        .zip(has_rows.par_chunks_mut(span))
        .zip(original.par_chunks_mut(span))
        .enumerate()
        .map(|(k, ((stored, has_rows), original))| {
            let lo = k * span;
            let mut cash_paid = vec![Decimal::ZERO; stored.len()];
            for &i in bucketed.iter().flat_map(|lists| &lists[k]) {
                let i = i as usize;
                let Some(oi) = order_of_payment[i].map(RowIndex::get) else {
                    continue;
                };
                let at = oi - lo;
                let mut order = OrderPayments {
                    cash_paid: &mut cash_paid[at],
                    has_rows: &mut has_rows[at],
                    original: &mut original[at],
                };
                order.add(RowIndex::new(i), p.status[i], checks[i], |j: RowIndex| {
                    MethodCandidate {
                        amount: p.amount[j.get()].get(),
                        paid_at: p.paid_at[j.get()],
                        payment_id: p_id.get(j.get()),
                    }
                });
            }
            crate::money::Sums::store(lo, &cash_paid, stored)
        })
        .collect();
    PaymentAgg {
        cash_paid: crate::money::Sums::from_parts(cash_paid, wide),
        has_rows,
        original,
        checks,
    }
}

/// The payments whose order is in each task's range of `span` orders:
/// for each piece of `piece` payments, its rows per task (the pieces in
/// parallel; it was one pass on one core, docs/performance.md, log entry
/// 74). Task `k`'s payments in payment order are the pieces' lists `k`
/// one after another.
fn payments_by_task(
    order_of_payment: &[Option<RowIndex>],
    span: usize,
    tasks: usize,
    piece: usize,
) -> Vec<Vec<Vec<u32>>> {
    order_of_payment
        .par_chunks(piece)
        .enumerate()
        .map(|(k, links)| {
            let mut lists = vec![Vec::new(); tasks];
            for (i, oi) in (k * piece..).zip(links) {
                if let Some(oi) = oi {
                    lists[oi.get() / span].push(i as u32);
                }
            }
            lists
        })
        .collect()
}

/// R1's findings on payments (the rows that do not belong) and orders.
fn payment_findings(
    inputs: &Inputs,
    order_of_payment: &[Option<RowIndex>],
    pay: &PaymentAgg,
    env: &Env<'_>,
) -> Vec<Finding> {
    let (o, p) = (&inputs.orders, &inputs.payments);
    let (o_acct, o_id) = (o.account_id.view(), o.order_id.view());
    let (p_acct, p_id, p_order) = (p.account_id.view(), p.payment_id.view(), p.order_id.view());
    let order_ref = |i: usize| OrderRef {
        order_id: o_id.get(i),
        account_id: o_acct.get(i),
        currency: o.currency[i],
    };
    let mut out: Vec<Finding> = (0..p.len())
        .into_par_iter()
        .filter(|&i| !pay.checks[i].belongs())
        .flat_map_iter(|i| {
            let facts = r1_payments::Facts {
                payment: PaymentFacts {
                    payment_id: p_id.get(i),
                    account_id: p_acct.get(i),
                    order_id: p_order.get(i),
                    currency: p.currency[i],
                },
                order: order_of_payment[i].map(|oi| order_ref(oi.get())),
            };
            let mut findings = Vec::new();
            R1::check(&facts, env, &mut findings);
            findings
        })
        .collect();
    out.par_extend((0..o.len()).into_par_iter().flat_map_iter(|i| {
        let totals = r1_payments::OrderTotals {
            order: order_ref(i),
            billing_mode: o.billing_mode[i],
            amount: o.amount[i].get(),
            coupon_amount: o.coupon_amount[i].get(),
            has_payment_rows: pay.has_rows[i],
            cash_paid: pay.cash_paid.get(i),
        };
        let mut findings = Vec::new();
        R1Order::check(&totals, env, &mut findings);
        findings
    }));
    out
}

/// Whether an order can take part in R10: pay-per-use, or an asset quota
/// or value-added package.
fn r10_relevant(o: &Orders, i: usize) -> bool {
    o.billing_mode[i] == BillingMode::PayPerUse || matches!(o.item_kind[i], ItemKind::AssetQuota | ItemKind::ValueAdded)
}

/// R10 per instance: findings on unsubscriptions go into their outcomes;
/// findings on orders are returned, in pieces (a task's each) in order.
///
/// With the orders in account order (as ingest leaves them; `order_starts`
/// from the join), each account is checked on its own, in parallel: its
/// outcomes (`accounts` gives their ranges) against its own order rows.
/// An unsubscription linked to its order has the order's account, so an
/// instance's orders and unsubscriptions are all in one account. A global map of the instances
/// took 0.2 s on one core at 10M orders, and its probes from every order
/// another 0.2 s (docs/performance.md, log entry 42). Otherwise (a few
/// accounts' rows in file order: `explain --reports`) all outcomes are one
/// group against every order row. Either way the findings come in the
/// same order: accounts in order, and in an account its instances in the
/// order their first unsubscription comes.
fn value_added(
    inputs: &Inputs,
    order_of_unsub: &[Option<RowIndex>],
    outcomes: &mut [Outcome],
    (accounts, order_starts): (&[Range<usize>], Option<&[u32]>),
    env: &Env<'_>,
    accounts_per_task: usize,
) -> Vec<Vec<Finding>> {
    let o = &inputs.orders;
    let Some(start) = order_starts else {
        let all = 0..outcomes.len();
        let found = r10_group(
            inputs,
            order_of_unsub,
            outcomes,
            all,
            |_| std::iter::once(0..o.len()).collect(),
            env,
        );
        let mut on_orders = Vec::new();
        put_r10(inputs, outcomes, found, &mut on_orders);
        return vec![on_orders];
    };
    // Accounts a task at a time, each task's findings on unsubscriptions
    // put into its own range of the outcomes as they are found (put in
    // afterwards, on one core, they took about 15 ms of R10's 40 at 1M
    // orders: docs/performance.md, log entry 95).
    let tasks: Vec<&[Range<usize>]> = accounts.chunks(accounts_per_task).collect();
    let slots = task_slots(outcomes, &tasks);
    tasks
        .into_par_iter()
        .zip(slots)
        .map(|(accounts, slot)| {
            let base = accounts.first().map_or(0, |r| r.start);
            let mut on_orders = Vec::new();
            for range in accounts {
                let rows_of = |codes: &[u32]| account_rows(start, codes);
                let group = range.start - base..range.end - base;
                let found = r10_group(inputs, order_of_unsub, slot, group, rows_of, env);
                put_r10(inputs, slot, found, &mut on_orders);
            }
            on_orders
        })
        .collect()
}

/// R10's findings of a group put in place: those on unsubscriptions into
/// their outcomes (`outcomes`: the slice the group's indices are into),
/// those on orders onto `on_orders`, in the order found.
fn put_r10(inputs: &Inputs, outcomes: &mut [Outcome], found: Vec<InstanceFindings>, on_orders: &mut Vec<Finding>) {
    for (on_unsubs, orders) in found {
        for (k, mut f) in on_unsubs {
            let out = &mut outcomes[k];
            out.stamp(&mut f, inputs);
            // Room for this one only (log entry 47).
            out.findings.reserve_exact(1);
            out.findings.push(f);
        }
        on_orders.extend(orders);
    }
}

/// The outcomes split into one slice per task of accounts, in order: the
/// rows of its accounts.
fn task_slots<'o>(outcomes: &'o mut [Outcome], tasks: &[&[Range<usize>]]) -> Vec<&'o mut [Outcome]> {
    let mut slots: Vec<&mut [Outcome]> = Vec::with_capacity(tasks.len());
    let mut rest = outcomes;
    for accounts in tasks {
        let rows: usize = accounts.iter().map(Range::len).sum();
        let n = rows.min(rest.len());
        let (slot, after) = std::mem::take(&mut rest).split_at_mut(n);
        slots.push(slot);
        rest = after;
    }
    slots
}

/// The rows of accounts `codes` (sorted) in a table in account order whose
/// accounts start at `start` ([`join::account_starts`]).
fn account_rows(start: &[u32], codes: &[u32]) -> Vec<Range<usize>> {
    codes
        .iter()
        .map(|&c| start[c as usize] as usize..start[c as usize + 1] as usize)
        .collect()
}

/// R10 on the outcomes `group`: their instances (an order's account and
/// instance_id, for unsubscriptions linked to an order R10 concerns) in
/// the order of their first unsubscription, and each instance's findings.
/// `rows_of` gives, for the accounts of those instances (sorted), the
/// order rows that may be on them, in row order.
fn r10_group<'a>(
    inputs: &'a Inputs,
    order_of_unsub: &[Option<RowIndex>],
    outcomes: &[Outcome],
    group: Range<usize>,
    rows_of: impl Fn(&[u32]) -> Vec<Range<usize>>,
    env: &Env<'_>,
) -> Vec<InstanceFindings> {
    let o = &inputs.orders;
    let (o_acct, o_inst) = (o.account_id.view(), o.instance_id.view());
    let mut instance_of: FxHashMap<(u32, &'a str), u32> = FxHashMap::default();
    let mut unsubs_of: Vec<Vec<u32>> = Vec::new();
    for k in group {
        let out = &outcomes[k];
        if matches!(out.link, Link::OrderNotFound | Link::AccountMismatch) {
            continue;
        }
        let Some(oi) = order_of_unsub[out.unsub as usize]
            .map(RowIndex::get)
            .filter(|&oi| r10_relevant(o, oi))
        else {
            continue;
        };
        let next = instance_of.len() as u32;
        let idx = *instance_of.entry((o_acct.code(oi), o_inst.get(oi))).or_insert(next);
        if idx == next {
            unsubs_of.push(Vec::new());
        }
        unsubs_of[idx as usize].push(k as u32);
    }
    if instance_of.is_empty() {
        return Vec::new();
    }
    let mut codes: Vec<u32> = instance_of.keys().map(|&(c, _)| c).collect();
    codes.sort_unstable();
    codes.dedup();
    // Their R10-relevant orders, in row order.
    let mut orders_of: Vec<Vec<u32>> = vec![Vec::new(); instance_of.len()];
    for i in rows_of(&codes).into_iter().flatten() {
        if !r10_relevant(o, i) {
            continue;
        }
        if let Some(&k) = instance_of.get(&(o_acct.code(i), o_inst.get(i))) {
            orders_of[k as usize].push(i as u32);
        }
    }
    orders_of
        .iter()
        .zip(&unsubs_of)
        .map(|(rows, unsubs)| instance_findings(inputs, order_of_unsub, outcomes, rows, unsubs, env))
        .collect()
}

/// R10's findings on one instance: on unsubscriptions (by outcome), and on
/// orders.
type InstanceFindings = (Vec<(usize, Finding)>, Vec<Finding>);

/// R10 on one instance: its order rows and the outcomes of its
/// unsubscriptions. Returns findings on unsubscriptions (by outcome) and on
/// orders.
fn instance_findings(
    inputs: &Inputs,
    order_of_unsub: &[Option<RowIndex>],
    outcomes: &[Outcome],
    rows: &[u32],
    unsub_outcomes: &[u32],
    env: &Env<'_>,
) -> InstanceFindings {
    let (o, u) = (&inputs.orders, &inputs.unsubs);
    let list: Vec<InstanceOrder<'_>> = rows
        .iter()
        .map(|&r| {
            let r = r as usize;
            InstanceOrder {
                row: r,
                order_id: o.order_id.view().get(r),
                item_kind: o.item_kind[r],
                billing_mode: o.billing_mode[r],
                order_type: o.order_type[r],
                service_start: o.service_start[r],
                service_end: o.service_end[r],
                currency: o.currency[r],
            }
        })
        .collect();
    let index_of = |row: usize| {
        rows.binary_search(&(row as u32))
            .expect("the unsubscribed order is on its instance")
    };
    let us: Vec<InstanceUnsub<'_>> = unsub_outcomes
        .iter()
        .map(|&oc| {
            let out = &outcomes[oc as usize];
            let ur = out.unsub as usize;
            InstanceUnsub {
                row: oc as usize,
                unsub_id: u.unsub_id.view().get(ur),
                order: index_of(order_of_unsub[ur].map(RowIndex::get).expect("linked to an order")),
                status: u.status[ur],
                requested_at: u.requested_at[ur],
                completed_at: u.completed_at.get(ur),
                evaluated: out.evaluated(),
            }
        })
        .collect();
    let first = list[0].row;
    let inst = Instance {
        account_id: o.account_id.view().get(first),
        instance_id: o.instance_id.view().get(first),
    };
    let facts = r10_value_added::Facts {
        instance: inst,
        orders: &list,
        unsubs: &us,
    };
    let mut findings = Vec::new();
    let owners = R10::check(&facts, env, &mut findings);
    let (mut on_unsubs, mut on_orders) = (Vec::new(), Vec::new());
    for (owner, f) in owners.into_iter().zip(findings) {
        match owner {
            Some(k) => on_unsubs.push((us[k].row, f)),
            None => on_orders.push(f),
        }
    }
    // Kept until every account is checked: no room for four findings
    // where one was found (log entry 48).
    on_unsubs.shrink_to_fit();
    on_orders.shrink_to_fit();
    (on_unsubs, on_orders)
}

/// R11 over all accepted unsubscriptions.
fn batches(inputs: &Inputs, outcomes: &mut [Outcome], env: &Env<'_>) {
    let u = &inputs.unsubs;
    let (batch, ids, acct) = (u.batch_id.view(), u.unsub_id.view(), u.account_id.view());
    let mut rows: Vec<(&str, usize)> = outcomes
        .par_iter()
        .enumerate()
        .filter(|(_, o)| !batch.get(o.unsub as usize).is_empty())
        .map(|(k, o)| (batch.get(o.unsub as usize), k))
        .collect();
    // (batch, outcome) pairs are unique, so an unstable sort gives one
    // order; the batches are then checked in parallel and their findings
    // added in batch order (docs/performance.md, log entry 38).
    rows.par_sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()).then(a.1.cmp(&b.1)));
    let mut groups = Vec::new();
    let mut start = 0;
    while start < rows.len() {
        let mut end = start + 1;
        while end < rows.len() && rows[end].0 == rows[start].0 {
            end += 1;
        }
        groups.push(start..end);
        start = end;
    }
    let shared: &[Outcome] = outcomes;
    let found: Vec<Vec<(usize, Finding)>> = groups
        .into_par_iter()
        .map(|range| {
            let group: Vec<BatchRow<'_>> = rows[range.clone()]
                .iter()
                .map(|&(_, k)| {
                    let r = shared[k].unsub as usize;
                    BatchRow {
                        row: k,
                        unsub_id: ids.get(r),
                        account_id: acct.get(r),
                        requested_at: u.requested_at[r],
                    }
                })
                .collect();
            let facts = r11_batches::Facts {
                batch_id: rows[range.start].0,
                rows: &group,
            };
            let mut findings = Vec::new();
            let owners = R11::check(&facts, env, &mut findings);
            owners.into_iter().zip(findings).collect()
        })
        .collect();
    for (k, mut f) in found.into_iter().flatten() {
        let out = &mut outcomes[k];
        out.stamp(&mut f, inputs);
        // Room for this one only (log entry 47).
        out.findings.reserve_exact(1);
        out.findings.push(f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each task's payments, read piece after piece, are the payments of
    /// its orders in payment order, however the payments are cut into
    /// pieces (the sequential bucketing's answer).
    #[test]
    fn payments_by_task_keep_payment_order_across_pieces() {
        let (span, tasks) = (4, 5);
        let links: Vec<Option<RowIndex>> = (0..97usize)
            .map(|i| (i % 7 != 3).then(|| RowIndex::new((i * 13 + i / 5) % 20)))
            .collect();
        for piece in [1, 3, 10, 97, 200] {
            let got = payments_by_task(&links, span, tasks, piece);
            for t in 0..tasks {
                let read: Vec<u32> = got.iter().flat_map(|lists| lists[t].iter().copied()).collect();
                let want: Vec<u32> = (0..links.len() as u32)
                    .filter(|&i| links[i as usize].is_some_and(|oi| oi.get() / span == t))
                    .collect();
                assert_eq!(read, want, "piece {piece}, task {t}");
            }
        }
    }

    /// R10 account by account (the orders in account order, as ingest
    /// leaves them) finds what R10 over all outcomes against every order
    /// row finds (the path for orders in file order), in the same order.
    #[test]
    fn r10_by_account_finds_what_r10_over_everything_finds() {
        use crate::generate::{generate, GenerateOptions, Layout};
        let dir = tempfile::tempdir().unwrap();
        let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/policy.toml");
        let policy = Policy::load(&data).unwrap();
        generate(&GenerateOptions {
            out: dir.path().to_path_buf(),
            accounts: 2000,
            orders: 20_000,
            seed: 11,
            error_rate: 0.5,
            malformed_rate: 0.0,
            policy: policy.clone(),
            layout: Layout::default(),
        })
        .unwrap();
        let cal = policy.calendar();
        let paths = crate::ingest::InputPaths::in_folder(dir.path());
        let inputs = Inputs::load(&paths, &cal).unwrap();
        let rec = Reconciliation::run(policy, cal, inputs, None, Duration::ZERO, Keep::All).unwrap();
        // Each outcome's findings take the room they need and no more, the
        // ones R10 and R11 add included (log entry 47).
        let kept: usize = rec.outcomes.iter().map(|o| o.findings.len()).sum();
        assert!(kept > 100, "the generated data has findings: {kept}");
        assert!(rec.outcomes.iter().all(|o| o.findings.capacity() == o.findings.len()));
        let env = Env {
            policy: &rec.policy,
            cal: &rec.cal,
            as_of: rec.as_of,
        };
        let o = &rec.inputs.orders;
        let start = join::account_starts(&o.account_id.codes, o.account_id.dict().len())
            .expect("ingest leaves the orders in account order");
        let rows_of = |codes: &[u32]| account_rows(&start, codes);
        let (links, outcomes) = (&rec.order_of_unsub, &rec.outcomes);
        let by_account: Vec<InstanceFindings> = rec
            .accounts
            .iter()
            .flat_map(|r| r10_group(&rec.inputs, links, outcomes, r.clone(), rows_of, &env))
            .collect();
        let everything: Vec<Range<usize>> = std::iter::once(0..o.len()).collect();
        let at_once = r10_group(
            &rec.inputs,
            links,
            outcomes,
            0..outcomes.len(),
            |_| everything.clone(),
            &env,
        );
        let found: usize = by_account.iter().map(|(u, o)| u.len() + o.len()).sum();
        assert!(found > 10, "R10 finds something in the generated data: {found}");
        assert_eq!(by_account, at_once);
    }

    /// R10's findings put in place by tasks of accounts in parallel, each
    /// task into its own slice of the outcomes (here an account a task, so
    /// that every account but the first is at an offset), are those put in
    /// by one group over all outcomes: the sample's VAS_BEFORE_QUOTA on an
    /// unsubscription and its findings on orders.
    #[test]
    fn r10_in_tasks_puts_findings_where_one_group_does() {
        let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
        let policy = Policy::load(&data.join("policy.toml")).unwrap();
        let cal = policy.calendar();
        let inputs = Inputs::load(&crate::ingest::InputPaths::in_folder(&data), &cal).unwrap();
        let rec = Reconciliation::run(policy, cal, inputs, None, Duration::ZERO, Keep::All).unwrap();
        let env = Env {
            policy: &rec.policy,
            cal: &rec.cal,
            as_of: rec.as_of,
        };
        let o = &rec.inputs.orders;
        let start = join::account_starts(&o.account_id.codes, o.account_id.dict().len()).unwrap();
        let links = &rec.order_of_unsub;
        let (mut by_tasks, mut as_one) = (rec.outcomes.clone(), rec.outcomes.clone());
        let accounts = (&rec.accounts[..], Some(&start[..]));
        let on_orders = value_added(&rec.inputs, links, &mut by_tasks, accounts, &env, 1);
        let accounts = (&rec.accounts[..], None);
        let on_orders_as_one = value_added(&rec.inputs, links, &mut as_one, accounts, &env, 1);
        let (on_orders, on_orders_as_one) = (on_orders.concat(), on_orders_as_one.concat());
        assert!(!on_orders.is_empty(), "R10 finds something on the sample's orders");
        assert_eq!(on_orders, on_orders_as_one);
        let findings = |v: &[Outcome]| v.iter().map(|o| o.findings.clone()).collect::<Vec<_>>();
        assert_eq!(findings(&by_tasks), findings(&as_one));
        let added: Vec<usize> = (0..by_tasks.len())
            .filter(|&k| by_tasks[k].findings.len() > rec.outcomes[k].findings.len())
            .collect();
        assert!(
            added.iter().any(|&k| k >= rec.accounts[1].start),
            "a finding put on an unsubscription past the first account: {added:?}"
        );
        assert!(added
            .iter()
            .all(|&k| by_tasks[k].findings.last().unwrap().code == Code::VAS_BEFORE_QUOTA));
    }

    /// What the engine keeps per row stays small: peak memory at 10M orders
    /// is mostly these (docs/performance.md, "Memory").
    #[test]
    fn sizes_of_what_is_kept_per_row() {
        let sizes = [
            ("Outcome", std::mem::size_of::<Outcome>()),
            ("Decimal", std::mem::size_of::<Decimal>()),
            ("Option<Decimal>", std::mem::size_of::<Option<Decimal>>()),
            ("Option<Micros>", std::mem::size_of::<Option<Micros>>()),
            ("Option<RowIndex>", std::mem::size_of::<Option<RowIndex>>()),
            ("PaymentCheck", std::mem::size_of::<PaymentCheck>()),
            ("Finding", std::mem::size_of::<Finding>()),
            ("Amounts", std::mem::size_of::<crate::rules::r4_amounts::Amounts>()),
            (
                "TypeStep",
                std::mem::size_of::<Option<crate::rules::r3_type::TypeStep>>(),
            ),
            (
                "ReviewStep",
                std::mem::size_of::<Option<crate::rules::r5_review::ReviewStep>>(),
            ),
            (
                "DeadlineStep",
                std::mem::size_of::<Option<crate::rules::r9_deadline::DeadlineStep>>(),
            ),
            ("Cell", std::mem::size_of::<crate::rules::Cell>()),
        ];
        println!("{sizes:?}");
        assert_eq!(std::mem::size_of::<Option<RowIndex>>(), 4);
        assert!(std::mem::size_of::<Outcome>() <= 152, "{sizes:?}");
        assert!(std::mem::size_of::<Finding>() <= 152, "{sizes:?}");
    }
}
