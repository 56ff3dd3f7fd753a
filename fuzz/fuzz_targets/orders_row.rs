//! orders.csv rows: the fuzz input is the data part of a file under the
//! header in docs/inputs.md order. Every record goes through
//! Orders::push_row (via the real reader, at the production block size
//! and at a small block):
//! Ok or a RowError, never a panic; the reader's accepted rows and
//! rejects (line, id, column, value, reason) must equal what the `csv`
//! crate + push_row give record by record; rows read = accepted +
//! rejected; non-UTF-8 data is NotUtf8 naming the first bad field.
//! Billing zone: America/New_York.
#![no_main]

#[path = "../common/mod.rs"]
mod common;

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use refund_recon::ingest::Orders;
use refund_recon::time::Calendar;

fuzz_target!(|data: &[u8]| {
    static CAL: OnceLock<Calendar> = OnceLock::new();
    let cal = CAL.get_or_init(|| common::calendar(chrono_tz::America::New_York));
    common::check_table::<Orders>(data, cal, &[64.max(data.len() / 4)]);
});
