//! Sub-phase timings on stderr when `REFUND_RECON_TRACE=1`: the profile
//! notes in docs/performance.md come from these.

use std::sync::OnceLock;
use std::time::Instant;

fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("REFUND_RECON_TRACE").is_some_and(|v| v != "0"))
}

/// Prints its name and elapsed time when dropped (if tracing is on).
pub struct Span {
    name: &'static str,
    start: Instant,
}

pub fn span(name: &'static str) -> Span {
    let start = Instant::now();
    EPOCH.get_or_init(|| start);
    Span { name, start }
}

/// When the first span started: each line also says when its span ended,
/// counted from there, so a timeline of overlapping spans can be read.
static EPOCH: OnceLock<Instant> = OnceLock::new();

impl Drop for Span {
    fn drop(&mut self) {
        if enabled() {
            let end = EPOCH.get().map_or(0.0, |e| e.elapsed().as_secs_f64());
            eprintln!(
                "[trace] {:<28} {:>8.3} s  (ends at {end:.3} s)",
                self.name,
                self.start.elapsed().as_secs_f64()
            );
        }
    }
}
