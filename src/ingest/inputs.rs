//! Loading: the three exports read, validated and hashed, the dictionaries
//! of their interned text finished, their rejects merged (docs/inputs.md;
//! as_of: docs/rules.md#evaluation-order-and-as_of).

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use sha2::{Digest, Sha256};

use super::{read_table, InputError, InputMeta, Interner, Orders, Payments, Reject, RowCtx, Table, Unsubscriptions};
use crate::time::{Calendar, Micros};

/// Where the three exports are.
#[derive(Debug, Clone)]
pub struct InputPaths {
    pub orders: PathBuf,
    pub payments: PathBuf,
    pub unsubscriptions: PathBuf,
}

/// What summary.json says about each export.
#[derive(Debug, Clone, Default)]
pub struct Metas {
    pub orders: InputMeta,
    pub payments: InputMeta,
    pub unsubs: InputMeta,
}

impl Metas {
    /// The three in file order: orders, payments, unsubscriptions.
    pub fn iter(&self) -> std::array::IntoIter<&InputMeta, 3> {
        [&self.orders, &self.payments, &self.unsubs].into_iter()
    }

    pub fn iter_mut(&mut self) -> std::array::IntoIter<&mut InputMeta, 3> {
        [&mut self.orders, &mut self.payments, &mut self.unsubs].into_iter()
    }
}

impl<'a> IntoIterator for &'a Metas {
    type Item = &'a InputMeta;
    type IntoIter = std::array::IntoIter<&'a InputMeta, 3>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// The three exports as read.
pub struct Inputs {
    pub orders: Orders,
    pub payments: Payments,
    pub unsubs: Unsubscriptions,
    pub metas: Metas,
    /// Every reject of the three files, sorted by file then line.
    pub rejects: Vec<Reject>,
}

impl Inputs {
    /// Reads and validates the three files (each in parallel chunks), then
    /// turns interned text into ranks of byte-ordered dictionaries.
    pub fn load(paths: &InputPaths, cal: &Calendar) -> Result<Inputs, InputError> {
        // Hash the files on their own threads while they are parsed.
        let hashes: Vec<_> = [&paths.orders, &paths.payments, &paths.unsubscriptions]
            .into_iter()
            .map(|p| {
                let p = p.clone();
                std::thread::spawn(move || sha256_file(&p))
            })
            .collect();
        let (accounts, products, methods) = (Interner::default(), Interner::default(), Interner::default());
        let ctx = RowCtx {
            cal,
            accounts: &accounts,
            products: &products,
            methods: &methods,
        };
        let o = read_table::<Orders>(&paths.orders, &ctx)?;
        let p = read_table::<Payments>(&paths.payments, &ctx)?;
        let u = read_table::<Unsubscriptions>(&paths.unsubscriptions, &ctx)?;
        let (mut orders, mut payments, mut unsubs) = (o.table, p.table, u.table);
        let mut metas = Metas {
            orders: o.meta,
            payments: p.meta,
            unsubs: u.meta,
        };
        let flags = [Orders::FLAG, Payments::FLAG, Unsubscriptions::FLAG];
        for ((meta, handle), flag) in metas.iter_mut().zip(hashes).zip(flags) {
            meta.sha256 = handle
                .join()
                .expect("hash thread")
                .map_err(|e| InputError::Unreadable {
                    path: meta.path.display().to_string(),
                    flag,
                    reason: e.to_string(),
                })?;
        }
        let _span = crate::trace::span("ingest: dictionaries");
        let (dict, remap) = accounts.finish();
        orders.account_id.finish(&dict, |c| remap.rank(c));
        payments.account_id.finish(&dict, |c| remap.rank(c));
        unsubs.account_id.finish(&dict, |c| remap.rank(c));
        let (dict, remap) = products.finish();
        orders.product.finish(&dict, |c| remap.rank(c));
        let (dict, remap) = methods.finish();
        payments.method.finish(&dict, |c| remap.rank(c));
        let mut rejects = o.rejects;
        rejects.extend(p.rejects);
        rejects.extend(u.rejects);
        rejects.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
        Ok(Inputs {
            orders,
            payments,
            unsubs,
            metas,
            rejects,
        })
    }

    /// docs/rules.md#evaluation-order-and-as_of: the latest event timestamp
    /// in the accepted inputs.
    pub fn default_as_of(&self) -> Option<Micros> {
        let u = &self.unsubs;
        let opt = |v: &[Option<Micros>]| v.par_iter().filter_map(|x| *x).max();
        [
            self.orders.ordered_at.par_iter().copied().max(),
            self.payments.paid_at.par_iter().copied().max(),
            u.requested_at.par_iter().copied().max(),
            opt(&u.reviewed_at),
            opt(&u.completed_at),
            opt(&u.refunded_at),
        ]
        .into_iter()
        .flatten()
        .max()
    }
}

/// SHA-256 of a file, hex. Run beside the parse (the inputs' hashes go to
/// summary.json), so it is off the critical path on many cores.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 4 << 20];
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
    }
    Ok(crate::config::hex(&hasher.finalize()))
}
