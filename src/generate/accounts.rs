//! Accounts and their subscription and pay-per-use instances: the orders,
//! their payments, and when (if ever) each instance is unsubscribed. The
//! unsubscriptions themselves are drafted and recorded in
//! [`super::lifecycle`].

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::model::{BillingMode, InstanceState, ItemKind, Month, OrderType, PaymentStatus, RefundType, UnsubStatus};

use super::catalog::{pick_product, pick_state, pick_term, term_months, upgrade_of, Cur, Method, PRODUCTS};
use super::policy::Terms;
use super::write::ts_style;
use super::{between, block_rng, Cfg, DAY, HOUR, MINUTE};

#[derive(Clone, Copy, Debug)]
pub(super) struct Order {
    pub(super) account: u32,
    pub(super) instance: u32,
    pub(super) product: u16,
    pub(super) item: ItemKind,
    pub(super) mode: BillingMode,
    pub(super) otype: OrderType,
    pub(super) cur: Cur,
    pub(super) promo: bool,
    pub(super) invoice: bool,
    pub(super) bool_style: u8,
    pub(super) ts_style: [u8; 3],
    pub(super) ordered_at: i64,
    pub(super) start: i64,
    pub(super) end: i64,
    pub(super) amount: i64,
    pub(super) coupon: i64,
    /// R8's original method: the largest succeeded payment's.
    pub(super) original: Option<Method>,
}

#[derive(Clone, Copy, Debug)]
pub(super) struct Payment {
    pub(super) order: u32,
    pub(super) account: u32,
    pub(super) paid_at: i64,
    pub(super) amount: i64,
    pub(super) cur: Cur,
    pub(super) method: Method,
    pub(super) status: PaymentStatus,
    pub(super) ts_style: u8,
}

pub(super) const NO_BATCH: u32 = u32::MAX;

#[derive(Clone, Copy, Debug)]
pub(super) struct Unsub {
    pub(super) order: u32,
    /// Deliberate mistake: points at an order id that does not exist.
    pub(super) missing_order: bool,
    /// Account id as written (global index).
    pub(super) account: u64,
    pub(super) batch: u32,
    pub(super) requested: i64,
    pub(super) reviewed: Option<i64>,
    pub(super) completed: Option<i64>,
    pub(super) refunded: Option<i64>,
    pub(super) state: InstanceState,
    pub(super) status: UnsubStatus,
    pub(super) rtype: RefundType,
    pub(super) refund: i64,
    pub(super) fee: i64,
    pub(super) coupon: i64,
    pub(super) dest: Option<Method>,
    /// Recorded billing cycle.
    pub(super) cycle: Option<Month>,
    pub(super) cur: Cur,
    pub(super) ts_style: [u8; 4],
}

/// An unsubscription before R3/R4 are evaluated for its account.
#[derive(Clone, Copy, Debug)]
pub(super) struct Draft {
    pub(super) order: u32,
    pub(super) requested: i64,
    pub(super) reviewed: Option<i64>,
    pub(super) approved: i64,
    pub(super) completed: Option<i64>,
    pub(super) state: InstanceState,
    pub(super) status: UnsubStatus,
    pub(super) key: u32,
    pub(super) seq: u32,
    /// Drawn with the request, not while the account's rows are evaluated,
    /// so that evaluation order never shifts the data stream.
    pub(super) ts_style: [u8; 4],
    pub(super) to_balance: bool,
    pub(super) refund_delay: u64,
}

#[derive(Default)]
pub(super) struct Block {
    pub(super) first_account: u64,
    pub(super) orders: Vec<Order>,
    pub(super) payments: Vec<Payment>,
    pub(super) unsubs: Vec<Unsub>,
    pub(super) batches: u32,
    pub(super) wrong: u64,
}

/// One account being generated: its draws, its rows so far and its
/// unsubscription drafts.
pub(super) struct AccountGen<'a> {
    pub(super) terms: &'a Terms<'a>,
    pub(super) rng: &'a mut ChaCha8Rng,
    pub(super) err: &'a mut ChaCha8Rng,
    pub(super) block: &'a mut Block,
    pub(super) error_rate: f64,
    pub(super) accounts: u64,
    pub(super) acct: u32,
    pub(super) acct_global: u64,
    pub(super) cur: Cur,
    pub(super) method: Method,
    pub(super) remaining: u64,
    pub(super) instances: u32,
    pub(super) drafts: Vec<Draft>,
    pub(super) seq: u32,
    pub(super) keys: u32,
    /// Account-wide batch: time, key, rows so far.
    pub(super) acct_batch: Option<(i64, u32, u32)>,
}

pub(super) const NO_KEY: u32 = u32::MAX;

/// The order values a term's orders share.
#[derive(Clone, Copy)]
struct Priced {
    inst: u32,
    mode: BillingMode,
    otype: OrderType,
    cur: Cur,
    ordered: i64,
    start: i64,
    end: i64,
}

/// A subscription instance's current term.
struct Sub {
    inst: u32,
    item: ItemKind,
    product: u16,
    qty: i64,
    monthly: i64,
    vas: Option<u16>,
    cur: Cur,
    term: i64,
    ordered: i64,
    start: i64,
    otype: OrderType,
}

impl AccountGen<'_> {
    fn run(&mut self) {
        self.cur = Cur::pick(self.rng);
        self.method = Method::pick(self.rng);
        if self.rng.gen_bool(0.25) {
            let t = between(self.rng, self.terms.start + 30 * DAY, self.terms.horizon);
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

    pub(super) fn new_key(&mut self) -> u32 {
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

    fn push_order(&mut self, p: Priced, product: u16, amount: i64, coupon: i64) -> u32 {
        debug_assert!(self.remaining > 0 && p.end > p.start && coupon <= amount);
        self.remaining -= 1;
        let promo = self.rng.gen_bool(0.05);
        let invoice = self.rng.gen_bool(if p.mode == BillingMode::Subscription { 0.3 } else { 0.05 })
            // A promotional invoiced package could never be unsubscribed
            // after its asset quota (R2), leaving it orphaned (R10).
            && !(promo && PRODUCTS[product as usize].item == ItemKind::ValueAdded);
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
            instance: p.inst,
            product,
            item: PRODUCTS[product as usize].item,
            mode: p.mode,
            otype: p.otype,
            cur: p.cur,
            promo,
            invoice,
            bool_style,
            ts_style,
            ordered_at: p.ordered,
            start: p.start,
            end: p.end,
            amount,
            coupon,
            original: None,
        });
        self.pay(idx);
        idx
    }

    /// A subscription order priced `usd_cents` (in the order's currency),
    /// with a coupon on some.
    fn push_priced(&mut self, p: Priced, product: u16, usd_cents: i64) -> u32 {
        let amount = p.cur.usd_cents_to_minor(usd_cents);
        let coupon = self.coupon(p.cur, amount);
        self.push_order(p, product, amount, coupon)
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
            status: if ok {
                PaymentStatus::Succeeded
            } else {
                PaymentStatus::Failed
            },
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
        let ppu = o.mode == BillingMode::PayPerUse;
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
        let b = self.terms.next_month_start(t);
        let c = b + between(self.rng, -HOUR, HOUR + 1);
        if c >= lo && c < hi && c <= self.terms.horizon {
            c
        } else {
            t
        }
    }

    /// A new subscription instance: product, quantity, package, currency,
    /// first term and when it is ordered and starts.
    fn new_sub(&mut self) -> Sub {
        let inst = self.instances;
        self.instances += 1;
        let item = match self.rng.gen_range(0..100) {
            0..=39 => ItemKind::Edition,
            40..=69 => ItemKind::AssetQuota,
            _ => ItemKind::Resource,
        };
        let product = pick_product(self.rng, item);
        let qty = match item {
            ItemKind::AssetQuota => self.rng.gen_range(1..=8),
            ItemKind::Resource => self.rng.gen_range(1..=2),
            _ => 1,
        };
        let monthly = PRODUCTS[product as usize].monthly * qty;
        let vas = if item == ItemKind::AssetQuota && self.rng.gen_bool(0.45) {
            Some(pick_product(self.rng, ItemKind::ValueAdded))
        } else {
            None
        };
        let cur = self.order_cur();
        let term = pick_term(self.rng);
        let (start_t, horizon) = (self.terms.start, self.terms.horizon);
        let mut ordered = between(self.rng, start_t + DAY, horizon - 2 * DAY);
        ordered = self.maybe_month_end(0.05, ordered, start_t, horizon);
        let start = if self.rng.gen_bool(0.1) {
            let day = self.terms.local_day(ordered) + self.rng.gen_range(1..=30);
            self.terms.day_start(day)
        } else {
            ordered
        };
        Sub {
            inst,
            item,
            product,
            qty,
            monthly,
            vas,
            cur,
            term,
            ordered,
            start,
            otype: OrderType::New,
        }
    }

    /// A subscription instance: terms renewed until it is unsubscribed, a
    /// renewal is cancelled, or the account's orders run out.
    fn sub_instance(&mut self) {
        let mut s = self.new_sub();
        let mut k = 0;
        while self.remaining > 0 {
            let end = s.start + s.term * DAY;
            let (mut live, mut vas_live) = self.term_orders(&s, end);

            // When (if ever) this term is unsubscribed.
            let lo = s.start.max(s.ordered) + MINUTE;
            let hi = end.min(self.terms.horizon);
            let (t, joined) = self.unsub_time(k, s.ordered, lo, hi, end);
            self.maybe_upgrade(&mut s, &mut live, end, hi, t);

            // Renewal ordered a little before the term ends.
            let mut renewal = None;
            if self.remaining > 0 && self.rng.gen_bool(0.7) {
                let back = self.rng.gen_range(1..=(s.term / 3).clamp(1, 15));
                let rt = (end - back * DAY - between(self.rng, 0, DAY)).max(s.ordered + HOUR);
                if rt <= self.terms.horizon && t.is_none_or(|t| rt <= t) {
                    renewal = Some(rt);
                }
            }
            let next_term = if self.rng.gen_bool(0.85) {
                s.term
            } else {
                pick_term(self.rng)
            };

            match (t, renewal) {
                (None, Some(rt)) if self.rng.gen_bool(0.08) => {
                    // Cancel the renewal before it takes effect.
                    let (r_main, _) = self.push_term(&s, next_term, rt, end);
                    let tc = between(self.rng, rt + MINUTE, end.min(self.terms.horizon));
                    if let Some(r_main) = r_main.filter(|_| tc > rt && tc < end) {
                        let state = pick_state(self.rng, false);
                        self.event(&[r_main], tc, NO_KEY, state, true);
                    }
                    return;
                }
                (Some(t), _) => {
                    if let Some(rt) = renewal {
                        let (m, v) = self.push_term(&s, next_term, rt, end);
                        live.extend(m);
                        vas_live.extend(v);
                    }
                    self.teardown(&live, &vas_live, t, joined);
                    return;
                }
                (None, Some(rt)) => {
                    s.ordered = rt;
                    s.start = end;
                    s.term = next_term;
                    s.otype = OrderType::Renewal;
                    k += 1;
                }
                (None, None) => return,
            }
        }
    }

    /// The orders of the current term: the main product and its package.
    fn term_orders(&mut self, s: &Sub, end: i64) -> (Vec<u32>, Vec<u32>) {
        let mut live = Vec::with_capacity(4);
        let mut vas_live = Vec::with_capacity(2);
        let p = Priced {
            inst: s.inst,
            mode: BillingMode::Subscription,
            otype: s.otype,
            cur: s.cur,
            ordered: s.ordered,
            start: s.start,
            end,
        };
        live.push(self.push_priced(p, s.product, s.monthly * term_months(s.term)));
        if let Some(vp) = s.vas {
            if self.remaining > 0 {
                let monthly = PRODUCTS[vp as usize].monthly * term_months(s.term);
                vas_live.push(self.push_priced(p, vp, monthly));
            }
        }
        (live, vas_live)
    }

    /// When the `k`-th term (ordered at `ordered`, in service [lo, hi)) is
    /// unsubscribed, if at all, and the account batch it joins.
    fn unsub_time(&mut self, k: u32, ordered: i64, lo: i64, hi: i64, end: i64) -> (Option<i64>, Option<u32>) {
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
        let horizon = self.terms.horizon;
        (t.filter(|&t| t <= horizon && t < end), joined)
    }

    /// Upgrade mid-term (before the unsubscription at `t`, if any).
    fn maybe_upgrade(&mut self, s: &mut Sub, live: &mut Vec<u32>, end: i64, hi: i64, t: Option<i64>) {
        if s.item == ItemKind::AssetQuota || self.remaining == 0 || !self.rng.gen_bool(0.08) {
            return;
        }
        let u_lo = s.start.max(s.ordered) + DAY;
        let u = between(self.rng, u_lo, hi - DAY);
        if u_lo >= hi - DAY || t.is_some_and(|t| u >= t) {
            return;
        }
        let next = upgrade_of(s.product);
        let new_monthly = if next == s.product {
            s.monthly * 2
        } else {
            PRODUCTS[next as usize].monthly * s.qty
        };
        let days = ceil_div(end - u, DAY);
        let amount = s
            .cur
            .usd_cents_to_minor(div_half_up((new_monthly - s.monthly) * days, 30));
        if amount > 0 {
            let coupon = self.coupon(s.cur, amount);
            let p = Priced {
                inst: s.inst,
                mode: BillingMode::Subscription,
                otype: OrderType::Upgrade,
                cur: s.cur,
                ordered: u,
                start: u,
                end,
            };
            live.push(self.push_order(p, next, amount, coupon));
            s.product = next;
            s.monthly = new_monthly;
        }
    }

    /// The orders of a renewal term (asset quota with its package).
    fn push_term(&mut self, s: &Sub, term: i64, ordered: i64, start: i64) -> (Option<u32>, Option<u32>) {
        let p = Priced {
            inst: s.inst,
            mode: BillingMode::Subscription,
            otype: OrderType::Renewal,
            cur: s.cur,
            ordered,
            start,
            end: start + term * DAY,
        };
        let mut main = None;
        let mut v = None;
        if self.remaining > 0 {
            main = Some(self.push_priced(p, s.product, s.monthly * term_months(term)));
        }
        if let Some(vp) = s.vas {
            if self.remaining > 0 {
                v = Some(self.push_priced(p, vp, PRODUCTS[vp as usize].monthly * term_months(term)));
            }
        }
        (main, v)
    }

    /// A pay-per-use instance: hourly or daily usage orders, sometimes
    /// released after the last one.
    fn ppu_instance(&mut self) {
        let inst = self.instances;
        self.instances += 1;
        let item = match self.rng.gen_range(0..100) {
            0..=39 => ItemKind::AssetQuota,
            40..=84 => ItemKind::Resource,
            _ => ItemKind::ValueAdded,
        };
        let mut items = vec![(pick_product(self.rng, item), self.rng.gen_range(1..=4))];
        if item == ItemKind::AssetQuota && self.rng.gen_bool(0.35) {
            items.push((pick_product(self.rng, ItemKind::ValueAdded), 1));
        }
        let cur = self.order_cur();
        let gran = if self.rng.gen_bool(0.6) { HOUR } else { DAY };
        let n = self.rng.gen_range(3..=12i64);
        let span = n * gran;
        let horizon = self.terms.horizon;
        let last_day = self.terms.local_day(horizon - span - 7 * DAY);
        let day = between(self.rng, self.terms.start_day + 1, last_day);
        let mut s0 = self.terms.day_start(day);
        if gran == HOUR {
            s0 += self.rng.gen_range(0..24) * HOUR;
        }
        if self.rng.gen_bool(0.15) {
            // Straddle a local month end.
            let b = self.terms.next_month_start(s0);
            let back = self.rng.gen_range(1..=n / 2 + 1);
            if b - back * gran + span + 7 * DAY <= horizon {
                s0 = b - back * gran;
            }
        }
        let (primary, last_end) = self.usage_orders(inst, &items, cur, s0, gran, n);
        if primary.is_empty() || !self.rng.gen_bool(0.3) {
            return;
        }
        // Release after the last usage period.
        let state = pick_state(self.rng, true);
        let t = last_end + between(self.rng, HOUR, 5 * DAY);
        self.release(&primary, state, t, gran);
    }

    /// `n` usage periods of `gran` from `s0` (a few skipped); returns the
    /// first item's orders and the end of the last period.
    fn usage_orders(
        &mut self,
        inst: u32,
        items: &[(u16, i64)],
        cur: Cur,
        s0: i64,
        gran: i64,
        n: i64,
    ) -> (Vec<u32>, i64) {
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
                    OrderType::New
                } else {
                    OrderType::Usage
                };
                // Pay-per-use costs about three times the subscription rate.
                let hours = gran / HOUR;
                let usd = PRODUCTS[product as usize].monthly * qty * hours * self.rng.gen_range(150..451) / 72_000;
                let amount = cur.usd_cents_to_minor(usd.max(1)).max(1);
                let coupon = if self.rng.gen_bool(0.03) { amount / 2 } else { 0 };
                let p = Priced {
                    inst,
                    mode: BillingMode::PayPerUse,
                    otype,
                    cur,
                    ordered,
                    start,
                    end,
                };
                let oi = self.push_order(p, product, amount, coupon);
                if j == 0 {
                    primary.push(oi);
                }
                last_end = last_end.max(end);
            }
        }
        (primary, last_end)
    }
}

fn ceil_div(n: i64, d: i64) -> i64 {
    (n + d - 1).div_euclid(d)
}

/// round(n / d) half away from zero, for n >= 0, d > 0 (upgrade prices).
fn div_half_up(n: i64, d: i64) -> i64 {
    (2 * n + d) / (2 * d)
}

/// Generates the accounts of block `b`.
pub(super) fn gen_block(cfg: &Cfg, b: u64) -> Block {
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
            terms: &cfg.terms,
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
