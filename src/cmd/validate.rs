//! `validate`: read the inputs and the policy, print counts and rejects.

use super::{input_bytes, load_checked, Config, Progress};
use crate::error::AppError;
use crate::ingest::InputMeta;

pub(crate) fn validate(cfg: &Config) -> Result<u8, AppError> {
    let progress = Progress::new(input_bytes(&cfg.paths));
    let result = load_checked(cfg, &progress);
    progress.done();
    let (inputs, _) = result?;
    say!("policy {} ({}): ok", cfg.policy.name, cfg.policy.path.display());
    for m in &inputs.metas {
        print_meta(m);
    }
    let shown = 50;
    if inputs.rejects.is_empty() {
        say!("no rejected rows");
    } else {
        say!("rejected rows ({}):", inputs.rejects.len());
        for r in inputs.rejects.iter().take(shown) {
            let col = if r.column.is_empty() {
                String::new()
            } else {
                format!(", column {}", r.column)
            };
            say!(
                "  {} line {}{col}: {} (value {:?}, id {:?})",
                r.file,
                r.line,
                r.reason,
                r.value,
                r.record_id
            );
        }
        if inputs.rejects.len() > shown {
            say!(
                "  … {} more; `refund-recon run` writes them all to rejects.csv",
                inputs.rejects.len() - shown
            );
        }
    }
    Ok(0)
}

fn print_meta(m: &InputMeta) {
    say!(
        "{}: {} rows read, {} accepted, {} rejected (sha256 {})",
        m.path.display(),
        m.rows_read,
        m.accepted,
        m.rejected,
        &m.sha256[..16]
    );
    if !m.extra_columns.is_empty() {
        say!("  extra columns ignored: {}", m.extra_columns.join(", "));
    }
}
