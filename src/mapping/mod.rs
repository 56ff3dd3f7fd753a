//! Real exports in (docs/mapping.md): a mapping file says how a provider's
//! exports become our three inputs — which source files, which rows, and
//! how each of our columns is made (a header, a constant, a sum, a lookup,
//! or absent). The mapped rows are canonical docs/inputs.md CSV text, read
//! by ingest's own reader, so every check of a canonical export applies;
//! each reject then names the source file, its line, the source header and
//! the mapping key.
//!
//! - `spec`: the TOML → a checked [`Mapping`] (errors name the key, exit 2);
//! - `value`: one cell → canonical text (value maps, JSON arrays, money,
//!   timestamps);
//! - `apply`: the sources read, rows filtered, exploded and looked up.

mod apply;
pub mod coverage;
mod spec;
mod value;

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

pub use apply::Mapped;
pub use spec::{columns, ColumnMap, Kind, Mapping, MappingError, ValueFrom};

use crate::ingest::{InputError, Inputs, MappedFrom, SourceCount, ORIGIN_BITS};
use crate::time::Calendar;

/// The presets built into the binary: `--mapping NAME`.
pub const PRESETS: [(&str, &str); 2] = [
    ("alibaba-bss", include_str!("../../data/mappings/alibaba-bss.toml")),
    ("huawei-bss", include_str!("../../data/mappings/huawei-bss.toml")),
];

impl Mapping {
    /// A preset by name, else a mapping file.
    pub fn load(name_or_path: &str) -> Result<Mapping, MappingError> {
        if let Some((name, text)) = PRESETS.iter().find(|(n, _)| *n == name_or_path) {
            return spec::parse(text, name, crate::config::hex(&Sha256::digest(text.as_bytes())));
        }
        let path = Path::new(name_or_path);
        let bytes = std::fs::read(path).map_err(|e| MappingError {
            file: name_or_path.to_string(),
            key: None,
            message: format!(
                "cannot read the mapping file ({e}); give a file or a preset: {}",
                PRESETS.map(|p| p.0).join(", ")
            ),
        })?;
        let text = String::from_utf8(bytes.clone()).map_err(|_| MappingError {
            file: name_or_path.to_string(),
            key: None,
            message: "not UTF-8 text; save the mapping as UTF-8".into(),
        })?;
        spec::parse(&text, name_or_path, crate::config::hex(&Sha256::digest(&bytes)))
    }

    /// Whether a column of ours is given a constant (assumed) or is absent.
    pub fn column(&self, file: crate::rules::declared::File, name: &str) -> Option<&ColumnMap> {
        self.inputs
            .iter()
            .find(|i| i.file == file)?
            .columns
            .iter()
            .find(|c| c.column == name)
    }
}

/// The three inputs made by a mapping, as canonical CSV text (what
/// `refund-recon map` writes), and the files of the sources only looked
/// up (input `lookup`: read and hashed, no rows of their own).
pub fn map(m: &Mapping, data: &Path, cal: &Calendar) -> Result<([Mapped; 3], Vec<SourceCount>), InputError> {
    let sources = apply::read_sources(m, data)?;
    let [o, p, u] = &m.inputs;
    let mapped = [
        apply::apply(o, &sources, cal)?,
        apply::apply(p, &sources, cal)?,
        apply::apply(u, &sources, cal)?,
    ];
    let lookups = sources
        .values()
        .filter(|s| !m.inputs.iter().any(|i| i.source == s.source.name))
        .flat_map(|s| s.files.iter().map(move |f| (s, f)))
        .map(|(s, f)| SourceCount {
            input: "lookup",
            source: s.source.name.clone(),
            file: f.name.clone(),
            path: f.path.display().to_string(),
            sha256: f.sha256.clone(),
            bytes: f.bytes,
            ..SourceCount::default()
        })
        .collect();
    Ok((mapped, lookups))
}

/// Reads the exports through a mapping into [`Inputs`]: every row checked
/// as a canonical row is, every reject naming its source file and line.
pub fn load_inputs(m: &Mapping, data: &Path, cal: &Calendar) -> Result<Inputs, InputError> {
    let (mapped, lookups) = map(m, data, cal)?;
    let texts = mapped.each_ref().map(|x| {
        let lines = move |canonical: u64| -> u64 {
            let row = x.row_lines.partition_point(|&l| l <= canonical).saturating_sub(1);
            let o = x.origins.get(row).copied().unwrap_or(apply::Origin {
                file: 0,
                line: canonical,
            });
            (u64::from(o.file) << ORIGIN_BITS) | o.line
        };
        (x.csv.as_slice(), lines)
    });
    let [(o, lo), (p, lp), (u, lu)] = &texts;
    let names = [
        PathBuf::from("orders.csv"),
        PathBuf::from("payments.csv"),
        PathBuf::from("unsubscriptions.csv"),
    ];
    let absent: Vec<&str> = m.inputs[2]
        .columns
        .iter()
        .filter(|c| matches!(c.value, ValueFrom::Absent))
        .map(|c| c.column)
        .collect();
    let mut inputs = Inputs::from_texts(
        [(o, &names[0], lo), (p, &names[1], lp), (u, &names[2], lu)],
        cal,
        &absent,
    )?;
    let mask = (1u64 << ORIGIN_BITS) - 1;
    let decode = |x: &Mapped, l: u64| {
        (
            x.files
                .get((l >> ORIGIN_BITS) as usize)
                .map(|f| f.0.clone())
                .unwrap_or_default(),
            l & mask,
        )
    };
    let mut counts: Vec<SourceCount> = Vec::new();
    let mut rejects = Vec::new();
    for (k, x) in mapped.iter().enumerate() {
        let file = names[k].to_string_lossy().into_owned();
        let mut per_file = vec![0u64; x.files.len()];
        for r in x.rejects.iter() {
            if let Some(i) = x.files.iter().position(|f| f.0 == r.file) {
                per_file[i] += 1;
            }
        }
        for mut r in inputs.rejects.iter().filter(|r| r.file == file).cloned() {
            let (name, line) = decode(x, r.line);
            if let Some(i) = x.files.iter().position(|f| f.0 == name) {
                per_file[i] += 1;
            }
            // A duplicate names the line of the row used: in source terms too.
            if let Some(pos) = r.reason.find("(line ") {
                let digits: String = r.reason[pos + 6..].chars().take_while(char::is_ascii_digit).collect();
                if let Ok(used) = digits.parse::<u64>() {
                    let (used_file, used_line) = decode(x, used);
                    r.reason = format!(
                        "{}({used_file} line {used_line}{}",
                        &r.reason[..pos],
                        &r.reason[pos + 6 + digits.len()..]
                    );
                }
            }
            if let Some((_, label, key)) = x.labels.iter().find(|(c, _, _)| *c == r.column) {
                r.reason = format!("{} (source column `{label}`, mapping key `{key}`)", r.reason);
                r.column = label.clone();
            }
            r.file = name;
            r.line = line;
            rejects.push(r);
        }
        rejects.extend(x.rejects.iter().cloned());
        for (i, mut c) in x.counts.iter().cloned().enumerate() {
            c.rejected = per_file[i];
            c.accepted = c.rows - c.rejected;
            counts.push(c);
        }
    }
    counts.extend(lookups);
    let canonical: Vec<_> = ["orders.csv", "payments.csv", "unsubscriptions.csv"].to_vec();
    inputs.rejects.retain(|r| !canonical.contains(&r.file.as_str()));
    inputs.rejects.extend(rejects);
    inputs.rejects.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    for (meta, x) in inputs.metas.iter_mut().zip(&mapped) {
        meta.rows_read += x.rejects.len() as u64;
        meta.rejected += x.rejects.len() as u64;
    }
    inputs.mapped = Some(MappedFrom {
        name: m.name.clone(),
        sha256: m.sha256.clone(),
        sources: counts,
        files: mapped.each_ref().map(|x| x.files.clone()),
    });
    Ok(inputs)
}
