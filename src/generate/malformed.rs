//! Malformed rows (`malformed_rate`): after each valid row, a geometric
//! number of broken copies of it, drawn from the block's stream 2 so the
//! valid rows never change. Their ids end in `M` unless they duplicate one.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::model::UnsubStatus;

use super::accounts::Unsub;
use super::policy::Terms;
use super::write::{emit_fields, push_ts, RowBuilder, TS_UTC};
use super::{DAY, HOUR};

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

pub(super) struct Malformer<'t> {
    rng: ChaCha8Rng,
    rate: f64,
    terms: &'t Terms<'t>,
    pub(super) count: u64,
}

impl<'t> Malformer<'t> {
    pub(super) fn new(rng: ChaCha8Rng, rate: f64, terms: &'t Terms<'t>) -> Self {
        Malformer {
            rng,
            rate,
            terms,
            count: 0,
        }
    }

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
    fn ts(&self, t: i64, style: u8) -> Vec<u8> {
        let mut v = Vec::new();
        push_ts(&mut v, self.terms, t, style);
        v
    }

    pub(super) fn order(&mut self, row: &RowBuilder<'_>, out: &mut Vec<u8>) {
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

    pub(super) fn payment(&mut self, row: &RowBuilder<'_>, out: &mut Vec<u8>) {
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

    pub(super) fn unsub(&mut self, row: &RowBuilder<'_>, u: &Unsub, out: &mut Vec<u8>) {
        for _ in 0..self.rows() {
            let mut f = row.fields();
            let completed = u.status == UnsubStatus::Completed;
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
                5 => {}                                     // duplicate unsub_id
                6 => f[5] = self.ts(u.requested - HOUR, 0), // reviewed_at before requested_at
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
                _ => f[6] = self.ts(u.requested - DAY, TS_UTC), // completed_at before requested_at
            }
            emit_fields(out, &f);
            self.count += 1;
        }
    }
}
