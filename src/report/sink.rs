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
use super::direct::Direct;
use super::manifest::FileEntry;
use crate::error::AppError;

/// A report file being written, hashed and counted as it goes.
pub struct Sink {
    path: PathBuf,
    file: File,
    hasher: Sha256,
    bytes: u64,
    /// Set when the file bypasses the page cache ([`Sink::create_direct`]).
    direct: Option<Direct>,
}

impl Sink {
    /// Creates (truncates) the file at `path`.
    pub fn create(path: &Path) -> Result<Sink, AppError> {
        let file = File::create(path).map_err(|e| super::io_err(path, e))?;
        Ok(Sink::new(path, file, None))
    }

    /// Creates (truncates) the file at `path` to be written around the page
    /// cache (`O_DIRECT`, Linux; [`super::direct`]), for a large report the
    /// run does not read back. Where the file system refuses direct I/O,
    /// at open or at a write, the file is written through the cache as
    /// [`Sink::create`] does. The bytes, the hash and the fsync before
    /// publish are the same either way.
    pub fn create_direct(path: &Path) -> Result<Sink, AppError> {
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::fs::OpenOptionsExt;
            let opened = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .custom_flags(libc::O_DIRECT)
                .open(path);
            match opened {
                Ok(file) => {
                    if let Some(direct) = Direct::new(&file) {
                        return Ok(Sink::new(path, file, Some(direct)));
                    }
                }
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {}
                Err(e) => return Err(super::io_err(path, e)),
            }
        }
        Sink::create(path)
    }

    fn new(path: &Path, file: File, direct: Option<Direct>) -> Sink {
        Sink {
            path: path.to_path_buf(),
            file,
            hasher: Sha256::new(),
            bytes: 0,
            direct,
        }
    }

    /// Writes all of `b` (a report error names the file).
    pub fn put(&mut self, b: &[u8]) -> Result<(), AppError> {
        self.write_all(b).map_err(|e| super::io_err(&self.path, e))
    }

    /// The file's entry for summary.json (`rows`: its data rows, None for
    /// a file that is not a table); its fsync is started on a thread of its
    /// own (done here where no thread can be started).
    pub fn finish(mut self, rows: Option<u64>) -> Result<Done, AppError> {
        if let Some(d) = self.direct.take() {
            d.finish(&self.file, self.bytes)
                .map_err(|e| super::io_err(&self.path, e))?;
        }
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
        Ok(Done {
            entry: FileEntry {
                name,
                bytes: self.bytes,
                sha256: crate::config::hex(&self.hasher.finalize()),
                rows,
            },
            sync,
            path: self.path,
        })
    }
}

/// Bytes a direct file hashes and copies at a time (within the cache).
const PIECE: usize = 64 << 10;

impl Write for Sink {
    /// Direct files take every byte into the block (written when full, the
    /// tail at [`Sink::finish`]); others write through.
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let n = match self.direct.as_mut() {
            Some(d) => {
                // Hashed, then copied, a piece at a time: the copy reads
                // what the hash has just brought into the cache.
                for piece in b.chunks(PIECE) {
                    self.hasher.update(piece);
                    d.write(piece)?;
                }
                b.len()
            }
            None => {
                let n = self.file.write(b)?;
                self.hasher.update(&b[..n]);
                n
            }
        };
        self.bytes += n as u64;
        Ok(n)
    }

    /// Flushes what the file has been given; a direct file's partial block
    /// waits for [`Sink::finish`] (a direct write is whole blocks).
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

    /// Adds files in order.
    pub fn extend(&mut self, done: impl IntoIterator<Item = Done>) {
        for d in done {
            self.push(d);
        }
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
    use super::super::direct::{ALIGN, BLOCK};
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
        written.push(sink.finish(Some(rows)).unwrap());
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

    /// A file written around the page cache holds the same bytes, length
    /// and hash as one written through it, at every length around the
    /// alignment and the block, in pieces of any size.
    #[test]
    fn direct_files_equal_buffered_ones() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..3 * BLOCK + 5000).map(|i| (i * 7 % 251) as u8).collect();
        for len in [
            0,
            1,
            ALIGN - 1,
            ALIGN,
            ALIGN + 1,
            BLOCK - 1,
            BLOCK,
            BLOCK + 1,
            2 * BLOCK + ALIGN,
            data.len(),
        ] {
            for piece in [1000, 65_536, BLOCK + 3] {
                let (a, b) = (dir.path().join("a"), dir.path().join("b"));
                let mut direct = Sink::create_direct(&a).unwrap();
                let mut plain = Sink::create(&b).unwrap();
                for p in data[..len].chunks(piece) {
                    direct.put(p).unwrap();
                    plain.put(p).unwrap();
                }
                let (da, db) = (direct.finish(None).unwrap(), plain.finish(None).unwrap());
                assert_eq!(std::fs::read(&a).unwrap(), &data[..len], "len {len}, pieces of {piece}");
                assert_eq!((da.entry.bytes, &da.entry.sha256), (db.entry.bytes, &db.entry.sha256));
                assert_eq!(da.entry.sha256, crate::ingest::sha256_file(&a).unwrap());
            }
        }
    }

    /// The fallback when the kernel refuses a direct write (EINVAL): the
    /// block and everything after go through the page cache. Provoked by
    /// moving the file offset off the alignment, which a direct write
    /// refuses, so the file gets a hole byte before the data.
    #[test]
    fn a_refused_direct_write_falls_back_to_the_page_cache() {
        use std::io::{Seek, SeekFrom};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..2 * BLOCK + 777).map(|i| (i % 253) as u8).collect();
        let mut sink = Sink::create_direct(&path).unwrap();
        if sink.direct.is_none() {
            return; // this file system has no direct I/O: nothing to fall back from
        }
        // The writer thread's descriptor shares this offset.
        sink.file.seek(SeekFrom::Start(1)).unwrap();
        sink.put(&data).unwrap();
        let d = sink.finish(None).unwrap();
        let mut want = vec![0u8];
        want.extend_from_slice(&data);
        assert_eq!(std::fs::read(&path).unwrap(), want);
        assert_eq!(d.entry.bytes, data.len() as u64);
        let mut h = Sha256::new();
        h.update(&data);
        assert_eq!(d.entry.sha256, crate::config::hex(&h.finalize()));
    }

    #[test]
    fn an_empty_file_has_the_empty_hash() {
        let dir = tempfile::tempdir().unwrap();
        let d = Sink::create(&dir.path().join("e")).unwrap().finish(None).unwrap();
        assert_eq!(d.entry.bytes, 0);
        assert_eq!(
            d.entry.sha256,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
