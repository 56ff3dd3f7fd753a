//! `map`: a mapping's canonical inputs written out (docs/mapping.md), so
//! a user can look at what `run --mapping` reads.

use std::io::Write;
use std::path::Path;

use super::{Config, MapArgs};
use crate::error::AppError;
use crate::ingest::Reject;

/// Writes orders.csv, payments.csv, unsubscriptions.csv (docs/inputs.md)
/// and mapping-rejects.csv (the rows the mapping itself rejected) into
/// `--out`; each file is written whole to a temporary name, then renamed.
pub(crate) fn map(cfg: &Config, a: &MapArgs) -> Result<u8, AppError> {
    let Some(m) = &cfg.mapping else {
        return Err(AppError::Usage(
            "map needs --mapping FILE or a preset (alibaba-bss, huawei-bss)".into(),
        ));
    };
    if !cfg.context.is_empty() {
        return Err(AppError::Usage(
            "map writes one export's canonical files: leave out --context, and run map once per export folder (--data DIR)"
                .into(),
        ));
    }
    let (mapped, _) = crate::mapping::map(m, &cfg.data, &cfg.cal)?;
    std::fs::create_dir_all(&a.out).map_err(|e| out_err(&a.out, e))?;
    let names = ["orders.csv", "payments.csv", "unsubscriptions.csv"];
    for (x, name) in mapped.iter().zip(names) {
        write_atomic(&a.out.join(name), &x.csv)?;
    }
    let mut rejects: Vec<&Reject> = mapped.iter().flat_map(|x| x.rejects.iter()).collect();
    rejects.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    let mut w = csv::Writer::from_writer(Vec::new());
    let bad = |e: csv::Error| AppError::Output(format!("mapping-rejects.csv: {e}"));
    w.write_record(["file", "line", "record_id", "column", "value", "reason"])
        .map_err(bad)?;
    for r in &rejects {
        w.write_record([
            &r.file,
            &r.line.to_string(),
            &r.record_id,
            &r.column,
            &r.value,
            &r.reason,
        ])
        .map_err(bad)?;
    }
    let text = w
        .into_inner()
        .map_err(|e| AppError::Output(format!("mapping-rejects.csv: {e}")))?;
    write_atomic(&a.out.join("mapping-rejects.csv"), &text)?;
    say!("mapping {} ({})", m.name, &m.sha256[..16]);
    for x in &mapped {
        for c in &x.counts {
            let filtered: u64 = c.filtered.values().sum();
            say!(
                "  {:<16} {:<28} {:>8} read {:>8} filtered {:>8} rows made",
                c.input,
                c.file,
                c.rows_read,
                filtered,
                c.rows
            );
        }
    }
    say!(
        "{} rows rejected by the mapping (mapping-rejects.csv); the canonical files are in {} — `refund-recon validate --data {}` checks them",
        rejects.len(),
        a.out.display(),
        a.out.display()
    );
    Ok(0)
}

fn out_err(path: &Path, e: std::io::Error) -> AppError {
    AppError::Output(format!(
        "{}: {e}; check that the folder is writable, or choose another --out",
        path.display()
    ))
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), AppError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| out_err(path, e))?;
    tmp.write_all(bytes).map_err(|e| out_err(path, e))?;
    tmp.as_file().sync_all().map_err(|e| out_err(path, e))?;
    tmp.persist(path).map_err(|e| out_err(path, e.error))?;
    Ok(())
}
