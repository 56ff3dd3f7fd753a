//! Golden files: the expected bytes of whole reports and of `explain`,
//! committed under tests/golden/. `BLESS=1 cargo test --release`
//! rewrites them from the current build; review the diff before committing.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    super::repo().join("tests").join("golden")
}

fn blessing() -> bool {
    std::env::var_os("BLESS").is_some_and(|v| v == "1")
}

/// Compares `actual` with tests/golden/`rel` (or rewrites it under BLESS=1).
pub fn check(rel: &str, actual: &str) {
    let path = root().join(rel);
    if blessing() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; create it with BLESS=1 cargo test --release", path.display()));
    if want != actual {
        let line = want
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| want.lines().count().min(actual.lines().count()));
        panic!(
            "{} differs from the build's output at line {}:\n  golden: {:?}\n  actual: {:?}\n\
             if the change is intended, rerun with BLESS=1 and review the diff",
            path.display(),
            line + 1,
            want.lines().nth(line).unwrap_or("<end of file>"),
            actual.lines().nth(line).unwrap_or("<end of file>"),
        );
    }
}

/// Replaces every occurrence of a temporary folder in `text` with `name`,
/// so golden files do not depend on where a test ran.
pub fn scrub(text: &str, dir: &Path, name: &str) -> String {
    text.replace(&dir.display().to_string(), name)
}

/// Every report in `out` against tests/golden/`rel`/ (summary.json without
/// its volatile fields; `dir` scrubbed as `<dir>`).
pub fn check_reports(rel: &str, out: &Path, dir: &Path) {
    for (name, text) in super::report_snapshot(out, false) {
        check(&format!("{rel}/{name}"), &scrub(&text, dir, "<dir>"));
    }
}
