//! How a report file is written: every byte goes through a [`Sink`], which
//! hashes it (SHA-256) and counts it on the way to the file, so
//! summary.json's file list needs no second read of the reports. Each file
//! is fsynced on a thread of its own as soon as it is complete, while the
//! next reports are formatted; [`Written::sync_all`] waits for them all
//! before summary.json is written and the folder is published.
//!
//! [`pipeline`] is the writers' shared loop: items formatted in parallel a
//! group of batches at a time, while the previous group is hashed and
//! written on a writer thread, in order.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc::sync_channel;

use rayon::prelude::*;
use sha2::{Digest, Sha256};

use super::csvout::Rows;
use super::manifest::FileEntry;
use crate::error::AppError;

/// A report file being written, hashed and counted as it goes.
pub struct Sink {
    path: PathBuf,
    file: File,
    hasher: Sha256,
    bytes: u64,
}

impl Sink {
    /// Creates (truncates) the file at `path`.
    pub fn create(path: &Path) -> Result<Sink, AppError> {
        let file = File::create(path).map_err(|e| super::io_err(path, e))?;
        Ok(Sink {
            path: path.to_path_buf(),
            file,
            hasher: Sha256::new(),
            bytes: 0,
        })
    }

    /// Writes all of `b` (a report error names the file).
    pub fn put(&mut self, b: &[u8]) -> Result<(), AppError> {
        self.write_all(b).map_err(|e| super::io_err(&self.path, e))
    }

    /// The file's entry for summary.json (`rows`: its data rows, None for
    /// a file that is not a table); its fsync is started on a thread of its
    /// own (done here where no thread can be started).
    pub fn finish(self, rows: Option<u64>) -> Done {
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (tx, rx) = sync_channel(1);
        let spawned = self.file.try_clone().and_then(|dup| {
            std::thread::Builder::new().name("report fsync".into()).spawn(move || {
                let _ = tx.send(dup.sync_all());
            })
        });
        let sync = match spawned {
            Ok(_) => Fsync::Pending(rx),
            Err(_) => Fsync::Done(self.file.sync_all()),
        };
        Done {
            entry: FileEntry {
                name,
                bytes: self.bytes,
                sha256: crate::config::hex(&self.hasher.finalize()),
                rows,
            },
            sync,
            path: self.path,
        }
    }
}

impl Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(b)?;
        self.hasher.update(&b[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// A file's fsync: running on its thread, which sends the result, or
/// done.
enum Fsync {
    Pending(std::sync::mpsc::Receiver<std::io::Result<()>>),
    Done(std::io::Result<()>),
}

impl Fsync {
    fn wait(self) -> std::io::Result<()> {
        match self {
            Fsync::Pending(rx) => rx
                .recv()
                .unwrap_or_else(|_| Err(std::io::Error::other("the fsync thread ended without a result"))),
            Fsync::Done(r) => r,
        }
    }
}

/// A report written but maybe not yet durable.
pub struct Done {
    pub entry: FileEntry,
    sync: Fsync,
    path: PathBuf,
}

impl Done {
    /// Its data rows (0 for a file that is not a table).
    pub fn rows(&self) -> u64 {
        self.entry.rows.unwrap_or(0)
    }
}

/// The reports written so far, in order (summary.json's file list), with
/// their fsyncs.
#[derive(Default)]
pub struct Written {
    entries: Vec<FileEntry>,
    syncs: Vec<(Fsync, PathBuf)>,
}

impl Written {
    pub fn push(&mut self, d: Done) {
        self.entries.push(d.entry);
        self.syncs.push((d.sync, d.path));
    }

    /// Waits until every file written so far is durable (their fsyncs ran
    /// while later reports were written); the first failure is the error.
    pub fn sync_all(&mut self) -> Result<(), AppError> {
        let _s = crate::trace::span("  fsync reports");
        let mut first = Ok(());
        for (sync, path) in std::mem::take(&mut self.syncs) {
            if let Err(e) = sync.wait() {
                first = first.and(Err(super::io_err(&path, e)));
            }
        }
        first
    }

    /// The files' entries, in the order they were written.
    pub fn entries(&self) -> &[FileEntry] {
        &self.entries
    }
}

/// Writes `items` into `sink`: [`Rows`] of `batch` items at a time from
/// `format`, in parallel, a group of batches at a time, while the previous
/// group is hashed and written on a writer thread, in order — at most
/// three groups in memory. Each batch's extra result goes to `each`, in
/// order. Returns the rows written.
pub fn pipeline<T: Sync, E: Send>(
    sink: &mut Sink,
    items: &[T],
    batch: usize,
    format: impl Fn(&[T]) -> (Rows, E) + Sync,
    mut each: impl FnMut(E),
) -> Result<u64, AppError> {
    let batch = batch.max(1);
    let group = batch * rayon::current_num_threads().max(1) * 4;
    std::thread::scope(|s| {
        let (tx, rx) = sync_channel::<Vec<Vec<u8>>>(1);
        let writer = s.spawn(move || -> Result<(), AppError> {
            for parts in rx {
                for p in parts {
                    sink.put(&p)?;
                }
            }
            Ok(())
        });
        let mut rows = 0u64;
        for g in items.chunks(group) {
            let parts: Vec<(Rows, E)> = g.par_chunks(batch).map(&format).collect();
            let mut bufs = Vec::with_capacity(parts.len());
            for (r, e) in parts {
                rows += r.rows;
                each(e);
                bufs.push(r.buf);
            }
            if tx.send(bufs).is_err() {
                break; // the writer stopped on an error, returned below
            }
        }
        drop(tx);
        match writer.join() {
            Ok(r) => r.map(|()| rows),
            Err(_) => Err(AppError::Internal("the report writer thread panicked".into())),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipeline_writes_in_order_and_the_entry_is_the_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.csv");
        let items: Vec<u32> = (0..100_000).collect();
        let mut sink = Sink::create(&path).unwrap();
        sink.put(b"n\n").unwrap();
        let mut batches = 0;
        let rows = pipeline(
            &mut sink,
            &items,
            7,
            |chunk| {
                let mut r = Rows::with_capacity(64);
                for i in chunk {
                    r.int(u64::from(*i));
                    r.end();
                }
                (r, chunk[0])
            },
            |first| {
                assert_eq!(first, batches * 7);
                batches += 1;
            },
        )
        .unwrap();
        assert_eq!((rows, batches), (100_000, 100_000_u32.div_ceil(7)));
        let mut written = Written::default();
        written.push(sink.finish(Some(rows)));
        written.sync_all().unwrap();
        let want: String = std::iter::once("n".to_string())
            .chain(items.iter().map(|i| i.to_string()))
            .map(|l| l + "\n")
            .collect();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), want);
        let e = &written.entries()[0];
        assert_eq!(e.name, "x.csv");
        assert_eq!(e.bytes, want.len() as u64);
        assert_eq!(e.sha256, crate::ingest::sha256_file(&path).unwrap());
        assert_eq!(e.rows, Some(100_000));
    }

    #[test]
    fn an_empty_file_has_the_empty_hash() {
        let dir = tempfile::tempdir().unwrap();
        let d = Sink::create(&dir.path().join("e")).unwrap().finish(None);
        assert_eq!(d.entry.bytes, 0);
        assert_eq!(
            d.entry.sha256,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
