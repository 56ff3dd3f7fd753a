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
pub fn check_instance(orders: &[InstanceOrder<'_>], unsubs: &[InstanceUnsub<'_>]) -> Vec<R10Finding> {
    use BillingMode::{PayPerUse, Subscription};
    let mut out = Vec::new();
    let completion = |u: &InstanceUnsub<'_>| {
        if u.status == UnsubStatus::Completed {
            u.completed_at
        } else {
            None
        }
    };
    let completed_by = |order: usize, t: Micros| {
        unsubs
            .iter()
            .any(|u| u.order == order && completion(u).is_some_and(|c| c <= t))
    };

    // VAS_BEFORE_QUOTA.
    for (ui, u) in unsubs.iter().enumerate() {
        let o = &orders[u.order];
        if !u.evaluated || u.status == UnsubStatus::Rejected || !o.is(Subscription, ItemKind::ValueAdded) {
            continue;
        }
        let t = u.requested_at;
        let blocking = orders
            .iter()
            .enumerate()
            .filter(|(qi, q)| {
                q.is(Subscription, ItemKind::AssetQuota)
                    && q.service_start <= t
                    && t < q.service_end
                    && !completed_by(*qi, t)
            })
            .min_by(|a, b| a.1.order_id.as_bytes().cmp(b.1.order_id.as_bytes()));
        if let Some((qi, _)) = blocking {
            out.push(R10Finding::VasBeforeQuota { unsub: ui, quota: qi });
        }
    }

    // ORPHANED_VALUE_ADDED.
    let quotas: Vec<usize> = (0..orders.len())
        .filter(|&i| orders[i].is(Subscription, ItemKind::AssetQuota))
        .collect();
    if !quotas.is_empty() {
        let mut last: Option<Micros> = Some(Micros::MIN);
        for &q in &quotas {
            let done = unsubs.iter().filter(|u| u.order == q).filter_map(completion).max();
            last = match (last, done) {
                (Some(l), Some(d)) => Some(l.max(d)),
                _ => None,
            };
        }
        if let Some(after) = last {
            for (vi, v) in orders.iter().enumerate() {
                let unsubscribed = unsubs.iter().any(|u| u.order == vi && completion(u).is_some());
                if v.is(Subscription, ItemKind::ValueAdded) && v.service_end > after && !unsubscribed {
                    out.push(R10Finding::OrphanedValueAdded { order: vi, after });
                }
            }
        }
    }

    // CHARGED_AFTER_RELEASE.
    let releases: Vec<(usize, Micros, ItemKind)> = unsubs
        .iter()
        .enumerate()
        .filter(|(_, u)| orders[u.order].billing_mode == PayPerUse)
        .filter_map(|(i, u)| completion(u).map(|c| (i, c, orders[u.order].item_kind)))
        .collect();
    if !releases.is_empty() {
        for (oi, o) in orders.iter().enumerate() {
            if o.billing_mode != PayPerUse || o.order_type != OrderType::Usage {
                continue;
            }
            let earliest = releases
                .iter()
                .filter(|(_, at, item)| {
                    (*item == o.item_kind || (*item == ItemKind::AssetQuota && o.item_kind == ItemKind::ValueAdded))
                        && o.service_start >= *at
                })
                .min_by(|a, b| {
                    a.1.cmp(&b.1)
                        .then(unsubs[a.0].unsub_id.as_bytes().cmp(unsubs[b.0].unsub_id.as_bytes()))
                });
            if let Some(&(ui, at, _)) = earliest {
                out.push(R10Finding::ChargedAfterRelease {
                    order: oi,
                    unsub: ui,
                    released_at: at,
                });
            }
        }
    }
    out
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
            f.account_id = inst.account_id.to_string();
            f.order_id = o.order_id.to_string();
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
                f.unsub_id = x.unsub_id.to_string();
                (None, f)
            }
        }
    }
}

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
        assert_eq!((orphan.1.account_id.as_str(), orphan.1.order_id.as_str()), ("A", "V"));
        assert!(orphan.1.message.contains("instance i-1"), "{}", orphan.1.message);
        let charged = R10Finding::ChargedAfterRelease {
            order: 2,
            unsub: 1,
            released_at: 60 * HOUR,
        }
        .finding(inst, &orders, &unsubs, &cal);
        assert_eq!(
            (charged.1.code, charged.1.unsub_id.as_str()),
            (Code::CHARGED_AFTER_RELEASE, "U2")
        );
        assert_eq!(charged.1.currency, Currency::parse("USD"));
    }
}
