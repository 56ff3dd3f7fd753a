//! A mapping's three inputs read into [`Inputs`]. An input whose mapping
//! only renames headers (one plain file, no filter, no step) is read
//! straight from its file by ingest's reader with those names: no copy,
//! the cost of a canonical run (docs/performance.md#mappings). Any other
//! input is made canonical in memory ([`super::apply`]) and read from
//! there, each row's line pointing back at its source file and line.
//! Either way every reject ends up naming the source file, its line, the
//! source header and the mapping key.

use std::path::{Path, PathBuf};

use super::apply::{self, Mapped};
use super::spec::{InputMap, Mapping, Sign, ValueFrom};
use crate::ingest::{InputError, Inputs, MappedFrom, Part, Reject, SourceCount, ORIGIN_BITS};
use crate::time::Calendar;

/// A made row's line (its source file and line) from its line in the
/// canonical text.
type LineOf<'a> = Box<dyn Fn(u64) -> u64 + Sync + 'a>;

/// The canonical names of the three inputs, as ingest names them.
const NAMES: [&str; 3] = ["orders.csv", "payments.csv", "unsubscriptions.csv"];

/// The file an input is read straight from, when its mapping only renames
/// headers: no `where`, `explode` or step, no null token but the empty
/// cell, no zone of its own, one plain file, and a source nothing else
/// reads.
fn plain_file(m: &Mapping, k: usize, data: &Path, cal: &Calendar) -> Option<PathBuf> {
    let im = &m.inputs[k];
    let src = &m.sources[&im.source];
    let no_steps = im.columns.iter().all(|c| {
        let money = &c.money;
        let time = &c.time;
        c.map.is_none()
            && c.json.is_none()
            && (money.thousands, money.decimal, money.scale, money.round).eq(&(None, None, None, None))
            && money.strip.is_empty()
            && money.sign == Sign::Keep
            && time.format.is_none()
            && time.epoch.is_none()
            && time.timezone.is_none()
            && !time.ignore_offset
            && !time.inclusive_end
            && matches!(c.value, ValueFrom::Column(_) | ValueFrom::Absent)
    });
    let shared = m.inputs.iter().enumerate().any(|(j, other)| {
        (j != k && other.source == im.source)
            || other
                .columns
                .iter()
                .any(|c| matches!(&c.value, ValueFrom::Lookup(l) if l.source == im.source))
    });
    let [pattern] = src.files.as_slice() else {
        return None;
    };
    let path = data.join(pattern);
    let zone_ok = src.timezone.is_none_or(|z| z == cal.tz());
    let simple = im.filters.is_empty() && im.explode.is_none() && src.null.iter().all(String::is_empty);
    (no_steps && !shared && zone_ok && simple && !pattern.contains(['*', '?', '[']) && path.is_file()).then_some(path)
}

/// The header names of an input read straight from its file.
fn header_names(im: &InputMap) -> Vec<Option<Vec<String>>> {
    im.columns
        .iter()
        .map(|c| match &c.value {
            ValueFrom::Column(h) => Some(h.clone()),
            _ => None,
        })
        .collect()
}

/// Reads the exports through a mapping into [`Inputs`], with the same
/// sources found under each `context` folder (earlier exports whose rows
/// link and count but are not reported).
pub fn load_inputs(m: &Mapping, data: &Path, context: &[PathBuf], cal: &Calendar) -> Result<Inputs, InputError> {
    Ok(load(m, data, context, cal, false)?.0)
}

/// [`load_inputs`] for `partition` (docs/scale.md): every input made in
/// memory, returned with the inputs, and the rows' `line` their physical
/// line in that text (rejects still name the source file and line), so
/// each accepted row can be found in the text and copied.
pub fn load_texts(
    m: &Mapping,
    data: &Path,
    context: &[PathBuf],
    cal: &Calendar,
) -> Result<(Inputs, Vec<Mapped>), InputError> {
    let (inputs, mapped) = load(m, data, context, cal, true)?;
    Ok((inputs, mapped.into_iter().flatten().collect()))
}

fn load(
    m: &Mapping,
    data: &Path,
    context: &[PathBuf],
    cal: &Calendar,
    canonical_lines: bool,
) -> Result<(Inputs, Vec<Option<Mapped>>), InputError> {
    let would_be_plain: Vec<Option<PathBuf>> = (0..3)
        .map(|k| plain_file(m, k, data, cal).filter(|_| context.is_empty()))
        .collect();
    let plain: Vec<Option<PathBuf>> = would_be_plain
        .iter()
        .map(|p| p.clone().filter(|_| !canonical_lines))
        .collect();
    let skip: Vec<&str> = (0..3)
        .filter(|&k| plain[k].is_some())
        .map(|k| m.inputs[k].source.as_str())
        .collect();
    let span = crate::trace::span("mapping: read sources");
    let sources = apply::read_sources(m, data, context, &skip)?;
    drop(span);
    let mut mapped: Vec<Option<Mapped>> = Vec::new();
    for (k, im) in m.inputs.iter().enumerate() {
        let _span = crate::trace::span(["mapping: orders", "mapping: payments", "mapping: unsubscriptions"][k]);
        mapped.push(match plain[k] {
            Some(_) => None,
            None => Some(apply::apply(im, &sources, cal)?),
        });
    }
    let names: Vec<Vec<Option<Vec<String>>>> = m.inputs.iter().map(header_names).collect();
    let lines: Vec<Option<LineOf<'_>>> = mapped
        .iter()
        .map(|x| {
            x.as_ref().map(|x| {
                if canonical_lines {
                    Box::new(|canonical: u64| canonical) as LineOf<'_>
                } else {
                    Box::new(move |canonical: u64| x.origin_of(canonical)) as LineOf<'_>
                }
            })
        })
        .collect();
    let paths: Vec<PathBuf> = NAMES.iter().map(PathBuf::from).collect();
    let part = |k: usize| -> Part<'_> {
        match (&plain[k], &mapped[k], &lines[k]) {
            (Some(path), _, _) => Part::File { path, names: &names[k] },
            (None, Some(x), Some(l)) => Part::Text {
                text: &x.csv,
                name: &paths[k],
                lines: l.as_ref(),
            },
            _ => unreachable!("an input is plain or mapped"),
        }
    };
    let absent: Vec<&str> = m.inputs[2]
        .columns
        .iter()
        .filter(|c| matches!(c.value, ValueFrom::Absent))
        .map(|c| c.column)
        .collect();
    let mut inputs = Inputs::from_parts([part(0), part(1), part(2)], cal, &absent).map_err(|e| header_error(m, e))?;
    let mut counts: Vec<SourceCount> = Vec::new();
    let mut rejects: Vec<Reject> = Vec::new();
    let mut files: Vec<Vec<(String, String)>> = Vec::new();
    let mut context_files: Vec<Vec<bool>> = Vec::new();
    for (k, im) in m.inputs.iter().enumerate() {
        let meta = [&inputs.metas.orders, &inputs.metas.payments, &inputs.metas.unsubs][k];
        let own: Vec<Reject> = inputs.rejects.iter().filter(|r| r.file == meta.name).cloned().collect();
        let labels: Vec<(&str, String, String)> = im
            .columns
            .iter()
            .map(|c| (c.column, apply::label(c), c.key.clone()))
            .collect();
        match &mapped[k] {
            Some(x) => {
                let (c, r) = mapped_counts(x, own, &labels, canonical_lines);
                counts.extend(c);
                rejects.extend(r);
                files.push(x.files.clone());
                context_files.push(x.context.clone());
            }
            None => {
                let rejected = own.len() as u64;
                rejects.extend(own.into_iter().map(|r| relabel(r, &labels)));
                counts.push(SourceCount {
                    input: im.file.name().to_string(),
                    source: im.source.clone(),
                    file: meta.name.clone(),
                    path: meta.path.display().to_string(),
                    sha256: meta.sha256.clone(),
                    bytes: meta.bytes,
                    rows_read: meta.rows_read,
                    rows: meta.rows_read,
                    accepted: meta.rows_read - rejected,
                    rejected,
                    ..SourceCount::default()
                });
                files.push(vec![(meta.name.clone(), meta.path.display().to_string())]);
                context_files.push(Vec::new());
            }
        }
    }
    counts.extend(apply::lookup_files(m, &sources));
    let canonical: Vec<String> = inputs.metas.iter().map(|m| m.name.clone()).collect();
    inputs.rejects.retain(|r| !canonical.contains(&r.file));
    inputs.rejects.extend(rejects);
    inputs.rejects.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    for (meta, x) in inputs.metas.iter_mut().zip(&mapped) {
        if let Some(x) = x {
            meta.rows_read += x.rejects.len() as u64;
            meta.rejected += x.rejects.len() as u64;
        }
    }
    inputs.mapped = Some(MappedFrom {
        name: m.name.clone(),
        sha256: m.sha256.clone(),
        sources: counts,
    });
    inputs.files = [files[0].clone(), files[1].clone(), files[2].clone()];
    inputs.context = [0, 1, 2].map(|k| std::mem::take(&mut context_files[k]));
    drop(lines);
    if canonical_lines {
        // An input a run reads straight from its file is described as that
        // file, as the run describes it.
        for (k, path) in would_be_plain.iter().enumerate() {
            if let Some(path) = path {
                plain_meta(&mut inputs, k, path, &names[k])?;
            }
        }
    }
    Ok((inputs, mapped))
}

/// Describes input `k` as the file `path` a run reads it from.
fn plain_meta(
    inputs: &mut Inputs,
    k: usize,
    path: &Path,
    names: &crate::ingest::HeaderNames,
) -> Result<(), InputError> {
    use crate::ingest::{named_meta, Orders, Payments, Unsubscriptions};
    let m = match k {
        0 => named_meta::<Orders>(path, names)?,
        1 => named_meta::<Payments>(path, names)?,
        _ => named_meta::<Unsubscriptions>(path, names)?,
    };
    let sha256 = crate::ingest::sha256_file(path).map_err(|e| InputError::Unreadable {
        path: path.display().to_string(),
        flag: "mapping",
        reason: e.to_string(),
    })?;
    let Some(meta) = inputs.metas.iter_mut().nth(k) else {
        return Ok(());
    };
    (meta.name, meta.path, meta.bytes, meta.extra_columns, meta.sha256) =
        (m.name, m.path, m.bytes, m.extra_columns, sha256);
    Ok(())
}

/// A reject of ingest in source terms: its column the source header, its
/// reason ending with the mapping key.
fn relabel(mut r: Reject, labels: &[(&str, String, String)]) -> Reject {
    if let Some((_, label, key)) = labels.iter().find(|(c, _, _)| *c == r.column) {
        r.reason = format!("{} (source column `{label}`, mapping key `{key}`)", r.reason);
        r.column = label.clone();
    }
    r
}

/// For an input made in memory: its rejects from ingest in source terms
/// (file and line decoded, a duplicate's line too), with the mapping's own,
/// and the counts per source file.
fn mapped_counts(
    x: &Mapped,
    own: Vec<Reject>,
    labels: &[(&str, String, String)],
    canonical_lines: bool,
) -> (Vec<SourceCount>, Vec<Reject>) {
    let mask = (1u64 << ORIGIN_BITS) - 1;
    let locate = |l: u64| {
        let l = if canonical_lines { x.origin_of(l) } else { l };
        ((l >> ORIGIN_BITS) as usize, l & mask)
    };
    let names: Vec<String> = x.files.iter().map(|f| f.0.clone()).collect();
    // The mapping's own rejects are counted per file where it made them;
    // ingest's by the file index their line holds.
    let mut per_file: Vec<u64> = x.counts.iter().map(|c| c.rejected).collect();
    let mut out = Vec::new();
    for mut r in own {
        let k = crate::ingest::multi::relocate(&mut r, &locate, &names);
        if let Some(n) = per_file.get_mut(k) {
            *n += 1;
        }
        out.push(relabel(r, labels));
    }
    out.extend(x.rejects.iter().cloned());
    let counts = x
        .counts
        .iter()
        .cloned()
        .zip(per_file)
        .map(|(mut c, rejected)| {
            c.rejected = rejected;
            c.accepted = c.rows.saturating_sub(rejected);
            c
        })
        .collect();
    (counts, out)
}

/// A header missing from a file read straight: in mapping terms.
fn header_error(m: &Mapping, e: InputError) -> InputError {
    match e {
        InputError::MissingColumn {
            path, column, export, ..
        } => {
            let input = export.trim_end_matches(".csv");
            let key = format!("{input}.columns.{column}");
            let headers = m
                .inputs
                .iter()
                .find(|i| i.file.name() == input)
                .and_then(|i| i.columns.iter().find(|c| c.column == column))
                .map(|c| match &c.value {
                    ValueFrom::Column(h) => h.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(" or "),
                    _ => String::new(),
                })
                .unwrap_or_default();
            InputError::Source {
                path,
                message: format!("line 1: the header has no column {headers} ({column}, mapping key `{key}`); fix the mapping or the export"),
            }
        }
        e => e,
    }
}
