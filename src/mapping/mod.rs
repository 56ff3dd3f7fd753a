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
mod load;
mod spec;
mod value;

use std::path::Path;

use sha2::{Digest, Sha256};

pub use apply::Mapped;
pub use load::{load_inputs, load_texts};
pub use spec::{columns, ColumnMap, Kind, Mapping, MappingError, ValueFrom};

use crate::ingest::{InputError, SourceCount};
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
    let sources = apply::read_sources(m, data, &[], &[])?;
    let [o, p, u] = &m.inputs;
    let mapped = [
        apply::apply(o, &sources, cal)?,
        apply::apply(p, &sources, cal)?,
        apply::apply(u, &sources, cal)?,
    ];
    Ok((mapped, apply::lookup_files(m, &sources)))
}
