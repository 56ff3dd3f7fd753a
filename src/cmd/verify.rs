//! `verify DIR`: is this reports folder the one a run produced?

use super::VerifyArgs;
use crate::error::AppError;
use crate::report::manifest::Outcome;

/// Prints one line per file and exits 0 when every report (and every input
/// and the policy still at its path) matches summary.json, else 1.
pub(crate) fn verify(a: &VerifyArgs) -> Result<u8, AppError> {
    let checks = crate::report::verify(&a.dir)?;
    let mut failed = 0;
    for c in &checks {
        let (word, why) = match &c.outcome {
            Outcome::Matches => ("ok", String::new()),
            Outcome::Differs(why) => ("DIFFERS", format!(": {why}")),
            Outcome::Missing => ("MISSING", ": the run wrote it, it is gone".to_string()),
            Outcome::NotAtPath => ("skipped", ": no longer at its path, not checked".to_string()),
            Outcome::Unlisted => ("extra", ": not written by the run (not checked)".to_string()),
        };
        failed += usize::from(c.fails());
        say!("{word:<8} {:<6} {}{why}", c.kind, c.path.display());
    }
    if failed == 0 {
        say!("verified: {} matches its summary.json", a.dir.display());
        Ok(0)
    } else {
        say!(
            "NOT VERIFIED: {failed} {} from {}",
            if failed == 1 { "file differs" } else { "files differ" },
            a.dir.join("summary.json").display()
        );
        Ok(1)
    }
}
