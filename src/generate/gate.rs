//! The quality gate: every thread that ends runs the per-thread quality rules
//! (`quality::check_thread`, the same ones `threadkit quality` and `export --quality deny`
//! apply). A thread with an error-severity finding is moved to `rejected/` inside the
//! threads folder, with its findings beside it as `<id>.findings.txt`; it is never deleted,
//! stays a valid thread (`export` leaves it out by default, as its rules find it), and
//! is not counted toward `--count`.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::data_root::DataRoot;
use crate::diagnostic::Diagnostic;

pub const REJECTED: &str = "rejected";

pub fn rejected_dir(threads_dir: &Path) -> PathBuf {
    threads_dir.join(REJECTED)
}

/// The thread's error-severity quality findings (none: it passes).
pub fn judge(doc: &Value, root: &DataRoot) -> Vec<Diagnostic> {
    let labels = crate::quality::LabelCache::new(Some(root));
    labels.check(doc).into_iter().filter(|d| d.is_error()).collect()
}

/// Move a rejected thread (the file at `path`, named by its id) into `rejected/` beside it,
/// its findings written first: a kill in between leaves the thread where it was, and the
/// findings file is rewritten by the next gate. Returns the thread's new path.
pub fn reject(path: &Path, findings: &[Diagnostic]) -> Result<PathBuf, String> {
    let dir = rejected_dir(path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")));
    let name = path.file_name().ok_or_else(|| format!("{}: not a thread file", path.display()))?;
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("thread");
    let mut text = format!("{stem}: rejected by the quality gate (`threadkit rules CODE` explains a rule)\n");
    for d in findings {
        let at = if d.pointer.is_empty() { String::new() } else { format!(" at {}", d.pointer) };
        text.push_str(&format!("{} {}{at}: {}\n", d.code(), d.rule.name, d.message));
    }
    crate::write::atomic_write(&dir.join(format!("{stem}.findings.txt")), text.as_bytes())
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    let target = dir.join(name);
    std::fs::rename(path, &target).map_err(|e| format!("{}: cannot move to {}: {e}", path.display(), dir.display()))?;
    crate::write::sync_dirs([dir.as_path(), path.parent().unwrap_or(Path::new("."))]);
    Ok(target)
}
