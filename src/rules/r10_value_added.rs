//! R10 Value-added packages, per instance (account_id, instance_id):
//! a subscription value-added package may only be unsubscribed after the
//! instance's asset quotas; one left behind after every asset quota is
//! gone is orphaned; pay-per-use usage must stop once the item is released.

use crate::model::{BillingMode, Currency, ItemKind, OrderType, UnsubStatus};
use crate::rules::{Cell, Code, Finding};
use crate::time::{Calendar, Micros};

/// An order on the instance (only its R10-relevant fields).
#[derive(Debug, Clone, Copy)]
pub struct InstanceOrder<'a> {
    pub row: usize,
    pub order_id: &'a str,
    pub item_kind: ItemKind,
    pub billing_mode: BillingMode,
    pub order_type: OrderType,
    pub service_start: Micros,
    pub service_end: Micros,
    pub currency: Currency,
}

impl InstanceOrder<'_> {
    fn is(&self, mode: BillingMode, kind: ItemKind) -> bool {
        self.billing_mode == mode && self.item_kind == kind
    }
}

/// An unsubscription of one of the instance's orders (same account).
#[derive(Debug, Clone, Copy)]
pub struct InstanceUnsub<'a> {
    pub row: usize,
    pub unsub_id: &'a str,
    /// Index into the instance's order list.
    pub order: usize,
    pub status: UnsubStatus,
    pub requested_at: Micros,
    pub completed_at: Option<Micros>,
    /// Neither a duplicate (R0) nor blocked (R2): its own checks apply.
    pub evaluated: bool,
}

/// One R10 finding; indices into the instance's order and unsub lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum R10Finding {
    /// `VAS_BEFORE_QUOTA` on unsub `unsub`: asset quota order `quota` was
    /// in service and not unsubscribed at its requested_at.
    VasBeforeQuota { unsub: usize, quota: usize },
    /// `ORPHANED_VALUE_ADDED` on order `order`: still in service after the
    /// last asset-quota completion at `after`.
    OrphanedValueAdded { order: usize, after: Micros },
    /// `CHARGED_AFTER_RELEASE` on usage order `order`, released by unsub
    /// `unsub` at `released_at`.
    ChargedAfterRelease {
        order: usize,
        unsub: usize,
        released_at: Micros,
    },
}

/// R10 for one instance. Completions are every completed U (blocked and
/// duplicate ones included: they still complete and release).
///
/// Linear in the instance's rows (up to a sort), however many orders and
/// unsubscriptions share it: each order's first and last completion are
/// found once, VAS_BEFORE_QUOTA sweeps the request times past the asset
/// quotas' blocking intervals, and CHARGED_AFTER_RELEASE needs only the
/// earliest release of each item.
pub fn check_instance(orders: &[InstanceOrder<'_>], unsubs: &[InstanceUnsub<'_>]) -> Vec<R10Finding> {
    let done = Completions::of(orders.len(), unsubs);
    let mut out = vas_before_quota(orders, unsubs, &done);
    out.extend(orphaned_value_added(orders, &done));
    out.extend(charged_after_release(orders, unsubs));
    out
}

/// The completion instant of an unsubscription, if it completed.
fn completion(u: &InstanceUnsub<'_>) -> Option<Micros> {
    if u.status == UnsubStatus::Completed {
        u.completed_at
    } else {
        None
    }
}

/// The first and last completion of each order of the instance.
struct Completions {
    first: Vec<Option<Micros>>,
    last: Vec<Option<Micros>>,
}

impl Completions {
    fn of(orders: usize, unsubs: &[InstanceUnsub<'_>]) -> Completions {
        let (mut first, mut last) = (vec![None; orders], vec![None; orders]);
        for u in unsubs {
            if let Some(c) = completion(u) {
                let (f, l): (&mut Option<Micros>, &mut Option<Micros>) = (&mut first[u.order], &mut last[u.order]);
                *f = Some(f.map_or(c, |f| f.min(c)));
                *l = Some(l.map_or(c, |l| l.max(c)));
            }
        }
        Completions { first, last }
    }
}

/// VAS_BEFORE_QUOTA: an asset quota blocks from its service_start until
/// its service_end or its first completion, whichever comes first; each
/// evaluated, not rejected value-added unsubscription names the blocking
/// quota with the smallest order_id at its request time. A sweep over the
/// request times in order, with the blocking quotas on a heap by order_id
/// (one that stopped blocking is dropped when it reaches the top).
fn vas_before_quota(orders: &[InstanceOrder<'_>], unsubs: &[InstanceUnsub<'_>], done: &Completions) -> Vec<R10Finding> {
    use std::cmp::Reverse;
    use BillingMode::Subscription;
    let mut asks: Vec<(Micros, usize)> = unsubs
        .iter()
        .enumerate()
        .filter(|(_, u)| {
            u.evaluated && u.status != UnsubStatus::Rejected && orders[u.order].is(Subscription, ItemKind::ValueAdded)
        })
        .map(|(ui, u)| (u.requested_at, ui))
        .collect();
    if asks.is_empty() {
        return Vec::new();
    }
    // (from, until, order): blocking on from <= t < until.
    let mut quotas: Vec<(Micros, Micros, usize)> = orders
        .iter()
        .enumerate()
        .filter(|(_, q)| q.is(Subscription, ItemKind::AssetQuota))
        .map(|(qi, q)| {
            let until = done.first[qi].map_or(q.service_end, |c| c.min(q.service_end));
            (q.service_start, until, qi)
        })
        .filter(|&(from, until, _)| from < until)
        .collect();
    asks.sort_unstable();
    quotas.sort_unstable();
    let mut blocking = std::collections::BinaryHeap::new();
    let mut next = 0;
    let mut found: Vec<Option<usize>> = vec![None; unsubs.len()];
    for &(t, ui) in &asks {
        while next < quotas.len() && quotas[next].0 <= t {
            let (_, until, qi) = quotas[next];
            blocking.push(Reverse((orders[qi].order_id.as_bytes(), qi, until)));
            next += 1;
        }
        while blocking.peek().is_some_and(|Reverse((_, _, until))| *until <= t) {
            blocking.pop();
        }
        found[ui] = blocking.peek().map(|Reverse((_, qi, _))| *qi);
    }
    found
        .into_iter()
        .enumerate()
        .filter_map(|(unsub, q)| q.map(|quota| R10Finding::VasBeforeQuota { unsub, quota }))
        .collect()
}

/// ORPHANED_VALUE_ADDED: once every subscription asset quota of the
/// instance has a completion, each subscription value-added order still in
/// service after the last of them and never unsubscribed.
fn orphaned_value_added(orders: &[InstanceOrder<'_>], done: &Completions) -> Vec<R10Finding> {
    use BillingMode::Subscription;
    let mut quotas = (0..orders.len()).filter(|&i| orders[i].is(Subscription, ItemKind::AssetQuota));
    let Some(first) = quotas.next() else {
        return Vec::new();
    };
    let mut after = done.last[first];
    for q in quotas {
        after = after.zip(done.last[q]).map(|(a, b)| a.max(b));
    }
    let Some(after) = after else {
        return Vec::new();
    };
    (0..orders.len())
        .filter(|&vi| {
            let v = &orders[vi];
            v.is(Subscription, ItemKind::ValueAdded) && v.service_end > after && done.last[vi].is_none()
        })
        .map(|order| R10Finding::OrphanedValueAdded { order, after })
        .collect()
}

/// CHARGED_AFTER_RELEASE: a completed pay-per-use unsubscription releases
/// its item (an asset quota its value-added package too) at completed_at;
/// a usage order of a released item starting at or after the release names
/// the earliest one (by completed_at, then unsub_id). The earliest release
/// of an item is the same for every usage order it precedes, so it is
/// found once per item.
fn charged_after_release(orders: &[InstanceOrder<'_>], unsubs: &[InstanceUnsub<'_>]) -> Vec<R10Finding> {
    use BillingMode::PayPerUse;
    let earlier = |a: &(Micros, usize), b: &(Micros, usize)| {
        (a.0, unsubs[a.1].unsub_id.as_bytes()) < (b.0, unsubs[b.1].unsub_id.as_bytes())
    };
    let keep = |slot: &mut Option<(Micros, usize)>, r: (Micros, usize)| {
        if slot.is_none_or(|s| earlier(&r, &s)) {
            *slot = Some(r);
        }
    };
    // The earliest release per item kind.
    let mut earliest: [Option<(Micros, usize)>; 4] = [None; 4];
    for (ui, u) in unsubs.iter().enumerate() {
        let o = &orders[u.order];
        if let (PayPerUse, Some(at)) = (o.billing_mode, completion(u)) {
            keep(&mut earliest[item_slot(o.item_kind)], (at, ui));
        }
    }
    if earliest.iter().all(Option::is_none) {
        return Vec::new();
    }
    let mut out = Vec::new();
    for (oi, o) in orders.iter().enumerate() {
        if o.billing_mode != PayPerUse || o.order_type != OrderType::Usage {
            continue;
        }
        let mut release = earliest[item_slot(o.item_kind)];
        if o.item_kind == ItemKind::ValueAdded {
            if let Some(q) = earliest[item_slot(ItemKind::AssetQuota)] {
                keep(&mut release, q);
            }
        }
        if let Some((released_at, unsub)) = release.filter(|r| o.service_start >= r.0) {
            out.push(R10Finding::ChargedAfterRelease {
                order: oi,
                unsub,
                released_at,
            });
        }
    }
    out
}

/// A slot per item kind.
fn item_slot(kind: ItemKind) -> usize {
    match kind {
        ItemKind::Edition => 0,
        ItemKind::AssetQuota => 1,
        ItemKind::ValueAdded => 2,
        ItemKind::Resource => 3,
    }
}

/// The instance R10 looks at: its account and id.
#[derive(Debug, Clone, Copy)]
pub struct Instance<'a> {
    pub account_id: &'a str,
    pub instance_id: &'a str,
}

impl R10Finding {
    /// The finding as discrepancies.csv shows it, with the index (into
    /// `unsubs`) of the unsubscription it belongs to when it is one's
    /// (VAS_BEFORE_QUOTA: the caller puts the unsubscription's ids on it).
    pub fn finding(
        &self,
        inst: Instance<'_>,
        orders: &[InstanceOrder<'_>],
        unsubs: &[InstanceUnsub<'_>],
        cal: &Calendar,
    ) -> (Option<usize>, Finding) {
        let on_order = |mut f: Finding, o: &InstanceOrder<'_>| {
            f.set_ids(inst.account_id, "", o.order_id, "");
            f.currency(Some(o.currency))
        };
        match *self {
            R10Finding::VasBeforeQuota { unsub, quota } => {
                let (x, q) = (&unsubs[unsub], &orders[quota]);
                let v = &orders[x.order];
                let f = Finding::new(
                    Code::VAS_BEFORE_QUOTA,
                    format!(
                        "R10: value-added order {} was unsubscribed at {} while asset quota order {} on instance {} was in service and not unsubscribed",
                        v.order_id,
                        cal.format(x.requested_at),
                        q.order_id,
                        inst.instance_id
                    ),
                )
                .field(
                    "requested_at",
                    Cell::text(format!("after asset_quota {} is unsubscribed", q.order_id)),
                    Cell::text(cal.format(x.requested_at)),
                );
                (Some(unsub), f)
            }
            R10Finding::OrphanedValueAdded { order, after } => {
                let v = &orders[order];
                let f = Finding::new(
                    Code::ORPHANED_VALUE_ADDED,
                    format!(
                        "R10: every asset quota of instance {} was unsubscribed (last at {}) but value-added order {} stays in service until {} without an unsubscription",
                        inst.instance_id,
                        cal.format(after),
                        v.order_id,
                        cal.format(v.service_end)
                    ),
                )
                .field("service_end", Cell::text(cal.format(after)), Cell::text(cal.format(v.service_end)));
                (None, on_order(f, v))
            }
            R10Finding::ChargedAfterRelease {
                order,
                unsub,
                released_at,
            } => {
                let (usage, x) = (&orders[order], &unsubs[unsub]);
                let f = Finding::new(
                    Code::CHARGED_AFTER_RELEASE,
                    format!(
                        "R10: usage order {} ({} on instance {}) starts at {}, after unsubscription {} released that item at {}",
                        usage.order_id,
                        usage.item_kind,
                        inst.instance_id,
                        cal.format(usage.service_start),
                        x.unsub_id,
                        cal.format(released_at)
                    ),
                )
                .field(
                    "service_start",
                    Cell::text(cal.format(released_at)),
                    Cell::text(cal.format(usage.service_start)),
                );
                let mut f = on_order(f, usage);
                f.set_unsub_id(x.unsub_id);
                (None, f)
            }
        }
    }
}

/// R10 in the shape every rule has ([`super::Rule`]), per instance.
pub struct R10;

/// What R10 reads: one instance of one account, its R10-relevant orders
/// and the unsubscriptions of them.
pub struct Facts<'a> {
    pub instance: Instance<'a>,
    pub orders: &'a [InstanceOrder<'a>],
    pub unsubs: &'a [InstanceUnsub<'a>],
}

impl super::Rule for R10 {
    type Facts<'a> = Facts<'a>;
    /// For each finding pushed, in order, the unsubscription (index into
    /// `unsubs`) it belongs to; None for a finding on an order.
    type Step = Vec<Option<usize>>;
    fn check(f: &Facts<'_>, env: &super::Env<'_>, findings: &mut Vec<Finding>) -> Vec<Option<usize>> {
        check_instance(f.orders, f.unsubs)
            .into_iter()
            .map(|r10| {
                let (unsub, finding) = r10.finding(f.instance, f.orders, f.unsubs, env.cal);
                findings.push(finding);
                unsub
            })
            .collect()
    }
}

/// What R10 reads and raises (docs/rules.md, checked by a test).
pub const RULE: super::declared::Rule = {
    use super::declared::{File::*, Rule, Via};
    Rule {
        id: "R10",
        module: module_path!(),
        title: "Value-added packages",
        columns: &[
            (Orders, "order_id"),
            (Orders, "account_id"),
            (Orders, "instance_id"),
            (Orders, "item_kind"),
            (Orders, "billing_mode"),
            (Orders, "order_type"),
            (Orders, "service_start"),
            (Orders, "service_end"),
            (Unsubscriptions, "unsub_id"),
            (Unsubscriptions, "status"),
            (Unsubscriptions, "requested_at"),
            (Unsubscriptions, "completed_at"),
        ],
        via: &[
            Via {
                from: "R0",
                result: "link (duplicates count)",
            },
            Via {
                from: "R2",
                result: "blocked (still releases)",
            },
        ],
        policy: &[],
        codes: &[
            Code::VAS_BEFORE_QUOTA,
            Code::ORPHANED_VALUE_ADDED,
            Code::CHARGED_AFTER_RELEASE,
        ],
    }
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::HOUR;

    fn order(
        id: &'static str,
        mode: BillingMode,
        kind: ItemKind,
        ty: OrderType,
        start: i64,
        end: i64,
    ) -> InstanceOrder<'static> {
        InstanceOrder {
            row: 0,
            order_id: id,
            item_kind: kind,
            billing_mode: mode,
            order_type: ty,
            service_start: start * HOUR,
            service_end: end * HOUR,
            currency: Currency::parse("USD").unwrap(),
        }
    }

    fn unsub(
        id: &'static str,
        order: usize,
        status: UnsubStatus,
        requested: i64,
        completed: Option<i64>,
    ) -> InstanceUnsub<'static> {
        InstanceUnsub {
            row: 0,
            unsub_id: id,
            order,
            status,
            requested_at: requested * HOUR,
            completed_at: completed.map(|c| c * HOUR),
            evaluated: true,
        }
    }

    use BillingMode::{PayPerUse as Ppu, Subscription as Sub};
    use ItemKind::{AssetQuota, ValueAdded};
    use UnsubStatus::{Completed, Pending};

    #[test]
    fn value_added_before_asset_quota() {
        let orders = [
            order("Q", Sub, AssetQuota, OrderType::New, 0, 1000),
            order("V", Sub, ValueAdded, OrderType::New, 0, 1000),
        ];
        // VAS unsubscribed at 100 while Q in service, Q completed at 200.
        let unsubs = [
            unsub("U1", 1, Completed, 100, Some(101)),
            unsub("U2", 0, Completed, 150, Some(200)),
        ];
        assert_eq!(
            check_instance(&orders, &unsubs),
            vec![R10Finding::VasBeforeQuota { unsub: 0, quota: 0 }]
        );
        // VAS requested exactly when Q's unsubscription completed: fine.
        let unsubs = [
            unsub("U1", 1, Pending, 200, None),
            unsub("U2", 0, Completed, 150, Some(200)),
        ];
        let findings = check_instance(&orders, &unsubs);
        assert!(
            findings.iter().all(|f| !matches!(f, R10Finding::VasBeforeQuota { .. })),
            "{findings:?}"
        );
        // A blocked (not evaluated) VAS unsubscription is not checked.
        let mut blocked = unsub("U1", 1, Completed, 100, Some(101));
        blocked.evaluated = false;
        let findings = check_instance(&orders, &[blocked, unsub("U2", 0, Completed, 150, Some(200))]);
        assert!(findings.iter().all(|f| !matches!(f, R10Finding::VasBeforeQuota { .. })));
    }

    #[test]
    fn orphaned_value_added_after_all_quotas_left() {
        let orders = [
            order("Q1", Sub, AssetQuota, OrderType::New, 0, 1000),
            order("Q2", Sub, AssetQuota, OrderType::New, 0, 1000),
            order("V", Sub, ValueAdded, OrderType::New, 0, 1000),
        ];
        let one = [unsub("U1", 0, Completed, 10, Some(20))];
        assert!(check_instance(&orders, &one).is_empty(), "Q2 is still there");
        let both = [
            unsub("U1", 0, Completed, 10, Some(20)),
            unsub("U2", 1, Completed, 30, Some(40)),
        ];
        assert_eq!(
            check_instance(&orders, &both),
            vec![R10Finding::OrphanedValueAdded {
                order: 2,
                after: 40 * HOUR
            }]
        );
        let all = [both[0], both[1], unsub("U3", 2, Completed, 50, Some(60))];
        assert!(check_instance(&orders, &all).is_empty());
        // A value-added package that ended before the last completion.
        let ended = [orders[0], orders[1], order("V", Sub, ValueAdded, OrderType::New, 0, 40)];
        assert!(check_instance(&ended, &both).is_empty());
    }

    #[test]
    fn charged_after_release() {
        let orders = [
            order("PQ", Ppu, AssetQuota, OrderType::New, 0, 1000),
            order("U-before", Ppu, AssetQuota, OrderType::Usage, 40, 41),
            order("U-at", Ppu, AssetQuota, OrderType::Usage, 50, 51),
            order("V-after", Ppu, ValueAdded, OrderType::Usage, 60, 61),
            order("R-after", Ppu, ItemKind::Resource, OrderType::Usage, 60, 61),
        ];
        let unsubs = [
            unsub("X2", 0, Completed, 45, Some(50)),
            unsub("X1", 0, Completed, 45, Some(50)),
        ];
        let f = check_instance(&orders, &unsubs);
        assert_eq!(
            f,
            vec![
                R10Finding::ChargedAfterRelease {
                    order: 2,
                    unsub: 1,
                    released_at: 50 * HOUR
                },
                R10Finding::ChargedAfterRelease {
                    order: 3,
                    unsub: 1,
                    released_at: 50 * HOUR
                },
            ],
            "usage at or after the release, value-added with the asset quota, earliest releasing U by id"
        );
    }

    /// R10 as the SPEC words it, one scan per question (quadratic): the
    /// reference the linear [`check_instance`] is compared with.
    fn reference(orders: &[InstanceOrder<'_>], unsubs: &[InstanceUnsub<'_>]) -> Vec<R10Finding> {
        let mut out = Vec::new();
        let completed_by = |order: usize, t: Micros| {
            unsubs
                .iter()
                .any(|u| u.order == order && completion(u).is_some_and(|c| c <= t))
        };
        for (ui, u) in unsubs.iter().enumerate() {
            if !u.evaluated || u.status == UnsubStatus::Rejected || !orders[u.order].is(Sub, ValueAdded) {
                continue;
            }
            let t = u.requested_at;
            let blocking = (0..orders.len())
                .filter(|&qi| {
                    let q = &orders[qi];
                    q.is(Sub, AssetQuota) && q.service_start <= t && t < q.service_end && !completed_by(qi, t)
                })
                .min_by(|&a, &b| orders[a].order_id.cmp(orders[b].order_id));
            if let Some(quota) = blocking {
                out.push(R10Finding::VasBeforeQuota { unsub: ui, quota });
            }
        }
        let quotas: Vec<usize> = (0..orders.len()).filter(|&i| orders[i].is(Sub, AssetQuota)).collect();
        let last_of = |q: usize| unsubs.iter().filter(|u| u.order == q).filter_map(completion).max();
        if !quotas.is_empty() && quotas.iter().all(|&q| last_of(q).is_some()) {
            let after = quotas.iter().filter_map(|&q| last_of(q)).max().unwrap();
            for (vi, v) in orders.iter().enumerate() {
                if v.is(Sub, ValueAdded) && v.service_end > after && last_of(vi).is_none() {
                    out.push(R10Finding::OrphanedValueAdded { order: vi, after });
                }
            }
        }
        for (oi, o) in orders.iter().enumerate() {
            if o.billing_mode != Ppu || o.order_type != OrderType::Usage {
                continue;
            }
            let earliest = unsubs
                .iter()
                .enumerate()
                .filter(|(_, u)| orders[u.order].billing_mode == Ppu)
                .filter_map(|(ui, u)| completion(u).map(|c| (c, u.unsub_id, ui, orders[u.order].item_kind)))
                .filter(|&(at, _, _, item)| {
                    (item == o.item_kind || (item == AssetQuota && o.item_kind == ValueAdded)) && o.service_start >= at
                })
                .min();
            if let Some((released_at, _, unsub, _)) = earliest {
                out.push(R10Finding::ChargedAfterRelease {
                    order: oi,
                    unsub,
                    released_at,
                });
            }
        }
        out
    }

    /// Random instances: the linear check finds what the reference finds.
    #[test]
    fn the_linear_check_agrees_with_the_rules_as_worded() {
        use proptest::prelude::*;
        const IDS: [&str; 8] = ["O0", "O1", "O2", "O3", "O4", "O5", "O6", "O7"];
        const UIDS: [&str; 8] = ["U0", "U1", "U2", "U3", "U4", "U5", "U6", "U7"];
        let kind = prop_oneof![Just(AssetQuota), Just(ValueAdded), Just(ItemKind::Resource)];
        let mode = prop_oneof![Just(Sub), Just(Ppu)];
        let ty = prop_oneof![Just(OrderType::New), Just(OrderType::Usage)];
        let an_order = (kind, mode, ty, 0i64..12, 1i64..12);
        let status = prop_oneof![Just(Completed), Just(Pending), Just(UnsubStatus::Rejected)];
        let an_unsub = (
            0usize..8,
            status,
            0i64..14,
            proptest::option::of(0i64..14),
            any::<bool>(),
        );
        let cases = (
            prop::collection::vec(an_order, 1..8),
            prop::collection::vec(an_unsub, 0..8),
        );
        proptest!(ProptestConfig::with_cases(3000), |((os, us) in cases)| {
            let orders: Vec<InstanceOrder<'static>> = os
                .iter()
                .enumerate()
                .map(|(i, &(k, m, t, start, len))| order(IDS[7 - i], m, k, t, start, start + len))
                .collect();
            let unsubs: Vec<InstanceUnsub<'static>> = us
                .iter()
                .enumerate()
                .map(|(i, &(o, st, req, done, evaluated))| {
                    let mut u = unsub(UIDS[(i * 5) % 8], o % orders.len(), st, req, done);
                    u.evaluated = evaluated;
                    u
                })
                .collect();
            prop_assert_eq!(check_instance(&orders, &unsubs), reference(&orders, &unsubs));
        });
    }

    /// One instance named by 100,000 orders and as many unsubscriptions:
    /// every value-added unsubscription is blocked, found in one sweep.
    #[test]
    fn an_instance_shared_by_100_000_orders_stays_linear() {
        let n = 100_000;
        let ids: Vec<String> = (0..n).map(|i| format!("O{i:06}")).collect();
        let uids: Vec<String> = (0..n).map(|i| format!("U{i:06}")).collect();
        let orders: Vec<InstanceOrder<'_>> = (0..n)
            .map(|i| {
                let kind = if i % 2 == 0 { AssetQuota } else { ValueAdded };
                InstanceOrder {
                    order_id: &ids[i],
                    ..order("", Sub, kind, OrderType::New, 0, 1_000_000)
                }
            })
            .collect();
        let unsubs: Vec<InstanceUnsub<'_>> = (0..n)
            .map(|i| InstanceUnsub {
                unsub_id: &uids[i],
                ..unsub("", i, Pending, 10 + i as i64, None)
            })
            .collect();
        let started = std::time::Instant::now();
        let found = check_instance(&orders, &unsubs);
        println!("{n} orders on one instance: {:?}", started.elapsed());
        assert_eq!(found.len(), n / 2);
        assert!(found
            .iter()
            .all(|f| matches!(f, R10Finding::VasBeforeQuota { quota: 0, .. })));
    }

    #[test]
    fn r10_findings_name_their_rows() {
        let cal = crate::rules::testkit::cal();
        let inst = Instance {
            account_id: "A",
            instance_id: "i-1",
        };
        let orders = [
            order("Q", Sub, AssetQuota, OrderType::New, 0, 1000),
            order("V", Sub, ValueAdded, OrderType::New, 0, 1000),
            order("R", Ppu, ItemKind::Resource, OrderType::New, 300, 301),
        ];
        let unsubs = [
            unsub("U1", 1, Completed, 100, Some(101)),
            unsub("U2", 2, Completed, 50, Some(60)),
        ];
        let vas = R10Finding::VasBeforeQuota { unsub: 0, quota: 0 }.finding(inst, &orders, &unsubs, &cal);
        assert_eq!(vas.0, Some(0), "on the unsubscription");
        assert_eq!((vas.1.code, vas.1.field), (Code::VAS_BEFORE_QUOTA, "requested_at"));
        assert_eq!(vas.1.expected, Cell::text("after asset_quota Q is unsubscribed"));
        let orphan = R10Finding::OrphanedValueAdded {
            order: 1,
            after: 200 * HOUR,
        }
        .finding(inst, &orders, &unsubs, &cal);
        assert_eq!(orphan.0, None, "on the order");
        assert_eq!((orphan.1.account_id(), orphan.1.order_id()), ("A", "V"));
        assert!(orphan.1.message.contains("instance i-1"), "{}", orphan.1.message);
        let charged = R10Finding::ChargedAfterRelease {
            order: 2,
            unsub: 1,
            released_at: 60 * HOUR,
        }
        .finding(inst, &orders, &unsubs, &cal);
        assert_eq!(
            (charged.1.code, charged.1.unsub_id()),
            (Code::CHARGED_AFTER_RELEASE, "U2")
        );
        assert_eq!(charged.1.currency, Currency::parse("USD"));
    }
}
