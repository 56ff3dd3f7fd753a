//! `generate`: a seeded synthetic data set.

use std::time::Instant;

use super::GenerateArgs;
use crate::error::AppError;
use crate::generate::GenerateOptions;

/// The flags checked and the policy loaded; nothing written yet.
pub(crate) fn options(a: &GenerateArgs) -> Result<GenerateOptions, AppError> {
    if a.orders == 0 {
        return Err(AppError::Usage("--orders must be at least 1".into()));
    }
    for (flag, v) in [("--error-rate", a.error_rate), ("--malformed-rate", a.malformed_rate)] {
        if !(0.0..=1.0).contains(&v) {
            return Err(AppError::Usage(format!("{flag} {v}: must be a share between 0 and 1")));
        }
    }
    let policy = super::load_policy(a.policy.as_deref())?;
    policy.check_thresholds(&crate::generate::currencies())?;
    Ok(GenerateOptions {
        out: a.out.clone(),
        accounts: a.accounts.unwrap_or((a.orders / 10).max(1)),
        orders: a.orders,
        seed: a.seed,
        error_rate: a.error_rate,
        malformed_rate: a.malformed_rate,
        policy,
        layout: match a.layout {
            super::LayoutArg::Interleaved => crate::generate::Layout::Interleaved,
            super::LayoutArg::ByAccount => crate::generate::Layout::ByAccount,
        },
    })
}

pub(crate) fn generate(opts: &GenerateOptions) -> Result<u8, AppError> {
    let t = Instant::now();
    let r = crate::generate::generate(opts).map_err(|e| {
        AppError::Output(format!(
            "{}: cannot write the generated exports ({e})",
            opts.out.display()
        ))
    })?;
    say!(
        "generated {} orders, {} payments, {} unsubscriptions ({} deliberately wrong, {} malformed rows) in {}/ in {:.1} s",
        r.orders,
        r.payments,
        r.unsubscriptions,
        r.wrong_recorded,
        r.malformed,
        opts.out.display(),
        t.elapsed().as_secs_f64()
    );
    Ok(0)
}
