//! Writing a large report around the page cache (`O_DIRECT`, Linux): the
//! kernel moves each block from our memory to the device, instead of first
//! copying it into cache pages, which cost a sixth of a run's CPU
//! (docs/performance.md, log entries 25 and 26).
//!
//! A direct write must start at an aligned file offset, from an aligned
//! buffer, for an aligned length, and it returns only when the device has
//! the block. So the bytes are gathered in aligned blocks, and the blocks
//! are written by a thread of their own while the next ones are filled and
//! hashed ([`super::sink::Sink`]). The tail is padded with zeros to the
//! alignment and the file is cut back to its length afterwards. Where the
//! kernel refuses a direct write (`EINVAL`: a file system without direct
//! I/O, an odd block size), that write and every later one go through the
//! page cache instead, with the same bytes.
//!
//! Only Linux opens a file for direct writes ([`super::sink::Sink::create_direct`]);
//! elsewhere every report goes through the page cache and this writer is
//! compiled but never started.
#![cfg_attr(not(target_os = "linux"), allow(dead_code))]

use std::fs::File;
use std::io::Write;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;

/// Alignment of a direct write's buffer, length and file offset: the
/// largest logical block size of common devices.
pub const ALIGN: usize = 4096;
/// Bytes per direct write.
pub const BLOCK: usize = 2 << 20;
/// Blocks in circulation: one being filled, one queued, one being written.
const BLOCKS: usize = 3;

/// A block-sized window aligned to [`ALIGN`] in a plain vector (no unsafe
/// allocation).
struct Block {
    buf: Vec<u8>,
    start: usize,
}

impl Block {
    /// None where the pointer's alignment cannot be computed.
    fn new() -> Option<Block> {
        let buf = vec![0u8; BLOCK + ALIGN];
        let start = buf.as_ptr().align_offset(ALIGN);
        (start < ALIGN).then_some(Block { buf, start })
    }

    fn window(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..self.start + BLOCK]
    }
}

/// The writing side of a file opened with `O_DIRECT`.
pub struct Direct {
    /// The block being filled and its filled length.
    block: Block,
    len: usize,
    /// Filled blocks to the writer thread: (block, length, last).
    full: SyncSender<(Block, usize, bool)>,
    /// Blocks written, back for filling.
    free: Receiver<Block>,
    /// None once it has been waited for.
    writer: Option<JoinHandle<std::io::Result<bool>>>,
}

impl Direct {
    /// Starts the writer thread for `file` (opened with `O_DIRECT`); None
    /// when the blocks or the thread cannot be had (the caller writes
    /// through the cache then).
    pub fn new(file: &File) -> Option<Direct> {
        let mut blocks = (0..BLOCKS).map(|_| Block::new()).collect::<Option<Vec<_>>>()?;
        let block = blocks.pop()?;
        let (full, queued) = sync_channel::<(Block, usize, bool)>(1);
        let (give_back, free) = sync_channel::<Block>(BLOCKS);
        for b in blocks {
            give_back.send(b).ok()?;
        }
        let mut file = file.try_clone().ok()?;
        let writer = std::thread::Builder::new()
            .name("report direct write".into())
            // Returns whether the tail was padded.
            .spawn(move || -> std::io::Result<bool> {
                let mut direct = true;
                for (mut block, len, last) in queued {
                    let window = block.window();
                    let padded = len.next_multiple_of(ALIGN);
                    if direct {
                        window[len..padded].fill(0);
                        match file.write_all(&window[..padded]) {
                            Err(e) if e.raw_os_error() == Some(EINVAL) => {
                                through_the_cache(&file)?;
                                direct = false;
                            }
                            written => written?,
                        }
                    }
                    if !direct {
                        file.write_all(&window[..len])?;
                    }
                    if last {
                        return Ok(direct && padded != len);
                    }
                    // The filling side may have stopped on an error.
                    let _ = give_back.send(block);
                }
                Ok(false)
            })
            .ok()?;
        Some(Direct {
            block,
            len: 0,
            full,
            free,
            writer: Some(writer),
        })
    }

    /// Takes all of `b`.
    pub fn write(&mut self, mut b: &[u8]) -> std::io::Result<()> {
        while !b.is_empty() {
            let n = b.len().min(BLOCK - self.len);
            let at = self.len;
            self.block.window()[at..at + n].copy_from_slice(&b[..n]);
            self.len += n;
            b = &b[n..];
            if self.len == BLOCK {
                let next = match self.free.recv() {
                    Ok(next) => next,
                    Err(_) => return Err(self.stopped()),
                };
                let full = std::mem::replace(&mut self.block, next);
                if self.full.send((full, BLOCK, false)).is_err() {
                    return Err(self.stopped());
                }
                self.len = 0;
            }
        }
        Ok(())
    }

    /// Writes the tail, waits for the writer thread and cuts `file` back
    /// to `len` bytes if the tail was padded.
    pub fn finish(self, file: &File, len: u64) -> std::io::Result<()> {
        let Direct {
            block,
            len: tail,
            full,
            writer,
            ..
        } = self;
        // A send fails only when the writer stopped; its error is below.
        let _ = full.send((block, tail, true));
        drop(full);
        match writer.map(JoinHandle::join) {
            Some(Ok(Ok(true))) => file.set_len(len),
            Some(Ok(r)) => r.map(|_| ()),
            _ => Err(std::io::Error::other("the direct write thread stopped")),
        }
    }

    /// The writer thread stopped early: its error.
    fn stopped(&mut self) -> std::io::Error {
        match self.writer.take().map(JoinHandle::join) {
            Some(Ok(Err(e))) => e,
            _ => std::io::Error::other("the direct write thread stopped"),
        }
    }
}

#[cfg(target_os = "linux")]
const EINVAL: i32 = libc::EINVAL;
#[cfg(not(target_os = "linux"))]
const EINVAL: i32 = 22;

/// Turns direct I/O off for the rest of the file.
fn through_the_cache(file: &File) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let fd = file.as_raw_fd();
        // SAFETY: fcntl on a descriptor `file` owns, with integer arguments only.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        // SAFETY: as above.
        if flags == -1 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_DIRECT) } == -1 {
            return Err(std::io::Error::last_os_error());
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = file;
    Ok(())
}
