//! Output safety (docs/outputs.md#atomic-write-lock-and---out; exit codes
//! in docs/cli.md#exit-codes): one run at a time per `--out` (a lock file
//! beside it), reports written into a temporary sibling folder and swapped
//! into place only when complete, so an interrupted run leaves the last
//! good reports intact.
//!
//! A run replaces the whole folder, so it only takes a folder it may
//! replace: missing, empty, or holding a previous run's reports (its
//! summary.json and nothing but report files). Anything else is refused
//! before any work (exit 4). A symlinked `--out` is followed: the reports
//! are published into the link's target and the link stays.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::AppError;

/// Holds the lock on an output folder while alive.
#[derive(Debug)]
pub struct OutputLock {
    _file: File,
    path: PathBuf,
    /// The folder the reports go to: `--out`, or its symlink's target.
    target: PathBuf,
}

impl OutputLock {
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn target(&self) -> &Path {
        &self.target
    }
}

/// Follows `out` through symlinks (relative targets are relative to the
/// link's folder) to the folder the reports will be published in. The
/// target need not exist yet.
fn resolve(out: &Path) -> Result<PathBuf, AppError> {
    let mut p = out.to_path_buf();
    for _ in 0..40 {
        match fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let t = fs::read_link(&p).map_err(|e| {
                    AppError::Output(format!("{}: cannot read the symlink ({e}); check --out", p.display()))
                })?;
                p = if t.is_absolute() {
                    t
                } else {
                    p.parent().unwrap_or(Path::new(".")).join(t)
                };
            }
            _ => return Ok(p),
        }
    }
    Err(AppError::Output(format!(
        "{}: too many levels of symlinks; point --out at a folder",
        out.display()
    )))
}

/// Whether `dir` may be replaced by a run's reports: missing, empty, or
/// holding refund-recon's own summary.json and only report files (plain
/// files named as this version's reports, those the old summary lists, or
/// `.gitkeep`). Otherwise the error names the folder, the first foreign
/// entries and what to do.
pub fn check_replaceable(dir: &Path, shown: &Path) -> Result<(), AppError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(AppError::Output(format!(
                "{}: cannot read the --out folder ({e}); check its permissions",
                shown.display()
            )))
        }
    };
    let mut names = Vec::new();
    for e in entries {
        let e = e.map_err(|e| AppError::Output(format!("{}: cannot list the folder ({e})", shown.display())))?;
        let is_file = e.file_type().map(|t| t.is_file()).unwrap_or(false);
        names.push((e.file_name().to_string_lossy().into_owned(), is_file));
    }
    // A placeholder alone (reports/.gitkeep in git) counts as empty.
    if names.iter().all(|(n, is_file)| n == ".gitkeep" && *is_file) {
        return Ok(());
    }
    let listed = previous_reports(&dir.join("summary.json"));
    let foreign: Vec<&str> = names
        .iter()
        .filter(|(n, is_file)| {
            let ours = n == ".gitkeep"
                || crate::report::is_report(n)
                || n == crate::report::explain_index::FILE
                || listed.as_ref().is_some_and(|l| l.contains(n));
            !(ours && *is_file)
        })
        .map(|(n, _)| n.as_str())
        .collect();
    if listed.is_some() && foreign.is_empty() {
        return Ok(());
    }
    let mut shown_names: Vec<&str> = if foreign.is_empty() {
        names.iter().map(|(n, _)| n.as_str()).collect()
    } else {
        foreign
    };
    shown_names.sort_unstable();
    let more = shown_names.len().saturating_sub(5);
    shown_names.truncate(5);
    Err(AppError::Output(format!(
        "{}: --out already holds files refund-recon did not write ({}{}{}); a run replaces the whole folder, so it writes only into a missing or empty folder or one holding its own earlier reports; choose a new --out folder, or move those files away",
        shown.display(),
        if listed.is_none() { "no summary.json of refund-recon; " } else { "" },
        shown_names.join(", "),
        if more > 0 { format!(" and {more} more") } else { String::new() }
    )))
}

/// The report names a previous run's summary.json lists, if the file is
/// refund-recon's own (`"tool": "refund-recon"`).
fn previous_reports(path: &Path) -> Option<Vec<String>> {
    let meta = fs::symlink_metadata(path).ok()?;
    if !meta.file_type().is_file() || meta.len() > 64 << 20 {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&fs::read(path).ok()?).ok()?;
    if v.get("tool")?.as_str()? != "refund-recon" {
        return None;
    }
    let listed = v
        .get("reports")
        .and_then(|r| r.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str())
                .filter(|n| !n.contains('/') && !n.contains('\\') && !n.starts_with('.'))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    Some(listed)
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

/// Takes the lock `.<name>.lock` beside `out` (or beside its symlink's
/// target; exit 4 if another run has it), then checks that the folder may
/// be replaced ([`check_replaceable`]). The lock is released when the
/// process ends, however it ends.
pub fn lock(out: &Path) -> Result<OutputLock, AppError> {
    let shown = out;
    let out = &resolve(out)?;
    let (parent, name) = parent_and_name(out)?;
    // A file where a folder of the path should be: say which one.
    if let Some(blocker) = parent.ancestors().find(|a| a.exists()).filter(|a| !a.is_dir()) {
        return Err(AppError::Output(format!(
            "{}: {} is a file, not a folder, so --out cannot be created there; choose another --out",
            shown.display(),
            blocker.display()
        )));
    }
    fs::create_dir_all(&parent).map_err(|e| {
        AppError::Output(format!(
            "{}: cannot create the folder for --out ({e}); choose a writable place",
            parent.display()
        ))
    })?;
    if out.exists() && !out.is_dir() {
        return Err(AppError::Output(format!(
            "{}: --out exists and is not a folder; choose another path",
            shown.display()
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
                "{}: cannot create the lock file {} beside it ({e}); --out must be in a folder this user can write (not read-only, with free space)",
                shown.display(),
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
    check_replaceable(out, shown)?;
    Ok(OutputLock {
        _file: file,
        path,
        target: out.clone(),
    })
}

/// The previous reports once [`publish`] has replaced them, in a folder
/// of their own: removed when this is dropped, so that a caller can do
/// other work while the file system unlinks them (0.25 s for a 10M
/// orders run's reports here; docs/performance.md, log entry 89).
#[derive(Debug)]
pub struct Replaced(Option<PathBuf>);

impl Drop for Replaced {
    fn drop(&mut self) {
        if let Some(old) = self.0.take() {
            let _ = fs::remove_dir_all(old);
        }
    }
}

/// Writes the reports with `write` into a fresh temporary folder beside
/// `out`, then replaces `out` with it in one step. The previous reports
/// are removed when the returned [`Replaced`] is dropped.
pub fn publish(
    shown: &Path,
    lock: &OutputLock,
    write: impl FnOnce(&Path) -> Result<(), AppError>,
) -> Result<Replaced, AppError> {
    let out = lock.target();
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
        return Err(match e {
            AppError::Output(why) => AppError::Output(format!(
                "{}: the new reports could not be written: {why}; the previous reports there are unchanged; check that the folder is writable and has free space, or choose another --out",
                shown.display()
            )),
            other => other,
        });
    }
    // Keep a .gitkeep (or other placeholder) the folder had.
    let keep = out.join(".gitkeep");
    if keep.exists() {
        let _ = fs::copy(&keep, tmp.join(".gitkeep"));
    }
    if let Ok(d) = File::open(&tmp) {
        let _ = d.sync_all();
    }
    // Test hook (only with the `test-hooks` feature): widens the window in
    // which a killed run must leave the previous reports untouched.
    #[cfg(feature = "test-hooks")]
    if let Some(ms) = std::env::var("REFUND_RECON_TEST_PAUSE_BEFORE_PUBLISH_MS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
    let fail = |e: std::io::Error| {
        AppError::Output(format!(
            "{}: cannot move the new reports into place ({e}); they are in {}",
            shown.display(),
            tmp.display()
        ))
    };
    let replaced = if out.exists() {
        if exchange(&tmp, out).is_ok() {
            Some(tmp)
        } else {
            // No atomic exchange on this file system: move the old folder
            // aside, then the new one in.
            let old = parent.join(format!(".{name}.old-{}", std::process::id()));
            fs::rename(out, &old).map_err(fail)?;
            fs::rename(&tmp, out).map_err(fail)?;
            Some(old)
        }
    } else {
        fs::rename(&tmp, out).map_err(fail)?;
        None
    };
    if let Ok(d) = File::open(&parent) {
        let _ = d.sync_all();
    }
    Ok(Replaced(replaced))
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

    const OLD_SUMMARY: &str = r#"{"tool": "refund-recon", "reports": ["refunds.csv", "summary.json"]}"#;

    /// A folder holding a previous run's reports.
    fn previous_run(out: &Path) {
        fs::create_dir_all(out).unwrap();
        fs::write(out.join("summary.json"), OLD_SUMMARY).unwrap();
        fs::write(out.join("refunds.csv"), "old").unwrap();
    }

    #[test]
    fn publish_replaces_previous_reports_and_keeps_gitkeep() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("reports");
        previous_run(&out);
        fs::write(out.join(".gitkeep"), "").unwrap();
        let lock = lock(&out).unwrap();
        publish(&out, &lock, |tmp| {
            fs::write(tmp.join("refunds.csv"), "new").unwrap();
            Ok(())
        })
        .unwrap();
        assert_eq!(fs::read_to_string(out.join("refunds.csv")).unwrap(), "new");
        assert!(!out.join("summary.json").exists());
        assert!(out.join(".gitkeep").exists());
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(leftovers.len(), 2, "reports and the lock file only: {leftovers:?}");
    }

    #[test]
    fn missing_empty_and_placeholder_only_folders_are_replaceable() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("reports");
        assert!(check_replaceable(&out, &out).is_ok());
        fs::create_dir(&out).unwrap();
        assert!(check_replaceable(&out, &out).is_ok());
        fs::write(out.join(".gitkeep"), "").unwrap();
        assert!(check_replaceable(&out, &out).is_ok());
    }

    #[test]
    fn foreign_files_and_folders_are_refused_before_work() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("reports");
        previous_run(&out);
        fs::write(out.join("notes.docx"), "mine").unwrap();
        let e = lock(&out).unwrap_err();
        assert_eq!(e.exit_code(), 4);
        let msg = e.to_string();
        assert!(msg.contains("notes.docx") && msg.contains("did not write"), "{msg}");
        assert!(msg.contains(&out.display().to_string()), "{msg}");
        fs::remove_file(out.join("notes.docx")).unwrap();
        // A subfolder named like a report is not a report.
        fs::create_dir(out.join("rejects.csv")).unwrap();
        assert!(lock(&out).unwrap_err().to_string().contains("rejects.csv"));
        fs::remove_dir(out.join("rejects.csv")).unwrap();
        assert!(lock(&out).is_ok());
    }

    #[test]
    fn report_files_without_our_summary_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("reports");
        fs::create_dir(&out).unwrap();
        fs::write(out.join("refunds.csv"), "someone else's").unwrap();
        let msg = check_replaceable(&out, &out).unwrap_err().to_string();
        assert!(msg.contains("no summary.json of refund-recon"), "{msg}");
        fs::write(out.join("summary.json"), r#"{"tool": "other"}"#).unwrap();
        assert!(check_replaceable(&out, &out).is_err());
        fs::write(out.join("summary.json"), "not json").unwrap();
        assert!(check_replaceable(&out, &out).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn symlinked_out_publishes_into_its_target() {
        let dir = tempfile::tempdir().unwrap();
        let shared = dir.path().join("shared");
        previous_run(&shared);
        let link = dir.path().join("reports");
        std::os::unix::fs::symlink("shared", &link).unwrap();
        let lock = lock(&link).unwrap();
        assert_eq!(lock.target(), dir.path().join("shared"));
        publish(&link, &lock, |tmp| {
            fs::write(tmp.join("refunds.csv"), "new").unwrap();
            Ok(())
        })
        .unwrap();
        assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        assert_eq!(fs::read_to_string(shared.join("refunds.csv")).unwrap(), "new");
    }

    #[test]
    fn failed_write_leaves_previous_reports() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("reports");
        previous_run(&out);
        let lock = lock(&out).unwrap();
        let r = publish(&out, &lock, |tmp| {
            fs::write(tmp.join("half.csv"), "x").unwrap();
            Err(AppError::Output("disk full".into()))
        });
        assert!(r.is_err());
        assert_eq!(fs::read_to_string(out.join("refunds.csv")).unwrap(), "old");
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
