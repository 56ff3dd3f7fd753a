//! Output safety (SPEC §5, §6): one run at a time per `--out` (a lock file
//! beside it), reports written into a temporary sibling folder and swapped
//! into place only when complete, so an interrupted run leaves the last
//! good reports intact.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::AppError;

/// Holds the lock on an output folder while alive.
#[derive(Debug)]
pub struct OutputLock {
    _file: File,
    path: PathBuf,
}

impl OutputLock {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn parent_and_name(out: &Path) -> Result<(PathBuf, String), AppError> {
    let name = out
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| AppError::Output(format!("{}: --out must name a folder", out.display())))?
        .to_string();
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok((parent, name))
}

/// Takes the lock `.<name>.lock` beside `out` (exit 4 if another run has
/// it). The lock is released when the process ends, however it ends.
pub fn lock(out: &Path) -> Result<OutputLock, AppError> {
    let (parent, name) = parent_and_name(out)?;
    fs::create_dir_all(&parent).map_err(|e| {
        AppError::Output(format!(
            "{}: cannot create the folder for --out ({e}); choose a writable place",
            parent.display()
        ))
    })?;
    if out.exists() && !out.is_dir() {
        return Err(AppError::Output(format!(
            "{}: --out exists and is not a folder; choose another path",
            out.display()
        )));
    }
    let path = parent.join(format!(".{name}.lock"));
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| {
            AppError::Output(format!(
                "{}: cannot create the lock file ({e}); check permissions",
                path.display()
            ))
        })?;
    match file.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            let holder = fs::read_to_string(&path).unwrap_or_default();
            let holder = holder.trim();
            return Err(AppError::Locked(format!(
                "{}: another refund-recon run{} is writing these reports (lock {}); wait for it to finish, or use another --out",
                out.display(),
                if holder.is_empty() { String::new() } else { format!(" (pid {holder})") },
                path.display()
            )));
        }
        Err(fs::TryLockError::Error(e)) => {
            return Err(AppError::Output(format!("{}: cannot lock ({e})", path.display())));
        }
    }
    let _ = file.set_len(0);
    let _ = write!(file, "{}", std::process::id());
    let _ = file.flush();
    // Leftovers of interrupted runs are ours to clean now that we hold the lock.
    if let Ok(entries) = fs::read_dir(&parent) {
        let prefix = format!(".{name}.tmp-");
        for e in entries.flatten() {
            if e.file_name().to_str().is_some_and(|n| n.starts_with(&prefix)) {
                let _ = fs::remove_dir_all(e.path());
            }
        }
    }
    Ok(OutputLock { _file: file, path })
}

/// Writes the reports with `write` into a fresh temporary folder beside
/// `out`, then replaces `out` with it in one step.
pub fn publish(
    out: &Path,
    _lock: &OutputLock,
    write: impl FnOnce(&Path) -> Result<(), AppError>,
) -> Result<(), AppError> {
    let (parent, name) = parent_and_name(out)?;
    let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir(&tmp).map_err(|e| {
        AppError::Output(format!(
            "{}: cannot create a temporary folder ({e}); check permissions",
            tmp.display()
        ))
    })?;
    let result = write(&tmp);
    if let Err(e) = result {
        let _ = fs::remove_dir_all(&tmp);
        return Err(e);
    }
    // Keep a .gitkeep (or other placeholder) the folder had.
    let keep = out.join(".gitkeep");
    if keep.exists() {
        let _ = fs::copy(&keep, tmp.join(".gitkeep"));
    }
    if let Ok(d) = File::open(&tmp) {
        let _ = d.sync_all();
    }
    if let Some(ms) = std::env::var("REFUND_RECON_TEST_PAUSE_BEFORE_PUBLISH_MS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        // Test hook: widens the window in which a killed run must leave the
        // previous reports untouched.
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
    let fail = |e: std::io::Error| {
        AppError::Output(format!(
            "{}: cannot move the new reports into place ({e}); they are in {}",
            out.display(),
            tmp.display()
        ))
    };
    if out.exists() {
        if exchange(&tmp, out).is_ok() {
            let _ = fs::remove_dir_all(&tmp);
        } else {
            // No atomic exchange on this file system: move the old folder
            // aside, then the new one in.
            let old = parent.join(format!(".{name}.old-{}", std::process::id()));
            fs::rename(out, &old).map_err(fail)?;
            fs::rename(&tmp, out).map_err(fail)?;
            let _ = fs::remove_dir_all(&old);
        }
    } else {
        fs::rename(&tmp, out).map_err(fail)?;
    }
    if let Ok(d) = File::open(&parent) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Atomically swaps two directories (Linux `renameat2(RENAME_EXCHANGE)`).
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let a = CString::new(a.as_os_str().as_bytes())?;
    let b = CString::new(b.as_os_str().as_bytes())?;
    // SAFETY: both paths are valid NUL-terminated strings that outlive the
    // call; renameat2 does not keep the pointers.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn exchange(_a: &Path, _b: &Path) -> std::io::Result<()> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "no atomic exchange",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_replaces_whole_folder_and_keeps_gitkeep() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("reports");
        fs::create_dir(&out).unwrap();
        fs::write(out.join(".gitkeep"), "").unwrap();
        fs::write(out.join("old.csv"), "old").unwrap();
        let lock = lock(&out).unwrap();
        publish(&out, &lock, |tmp| {
            fs::write(tmp.join("new.csv"), "new").unwrap();
            Ok(())
        })
        .unwrap();
        assert!(out.join("new.csv").exists());
        assert!(!out.join("old.csv").exists());
        assert!(out.join(".gitkeep").exists());
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(leftovers.len(), 2, "reports and the lock file only: {leftovers:?}");
    }

    #[test]
    fn failed_write_leaves_previous_reports() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("reports");
        fs::create_dir(&out).unwrap();
        fs::write(out.join("old.csv"), "old").unwrap();
        let lock = lock(&out).unwrap();
        let r = publish(&out, &lock, |tmp| {
            fs::write(tmp.join("half.csv"), "x").unwrap();
            Err(AppError::Output("disk full".into()))
        });
        assert!(r.is_err());
        assert_eq!(fs::read_to_string(out.join("old.csv")).unwrap(), "old");
        assert!(!out.join("half.csv").exists());
    }

    #[test]
    fn second_lock_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("reports");
        let first = lock(&out).unwrap();
        let second = lock(&out).unwrap_err();
        assert_eq!(second.exit_code(), 4);
        assert!(second.to_string().contains("another refund-recon run"), "{second}");
        drop(first);
        assert!(lock(&out).is_ok());
    }
}
