//! Where a dataset's files are (FORMATS.md §4): the one place that knows
//! `manifest.json`, `labels.json` and `sessions/<id>/data.parquet`. Session ids come from
//! files and from model output, so every path built from one is checked here first.

use std::path::{Path, PathBuf};

use super::error::DataError;

pub const MANIFEST: &str = "manifest.json";
pub const LABELS: &str = "labels.json";
pub const SESSIONS: &str = "sessions";
pub const SESSION_FILE: &str = "data.parquet";

/// `DIR/sessions`.
pub fn sessions_dir(dataset_dir: &Path) -> PathBuf {
    dataset_dir.join(SESSIONS)
}

/// `DIR/sessions/<id>`, for an id that names one folder and nothing else.
pub fn session_dir(dataset_dir: &Path, id: &str) -> Result<PathBuf, DataError> {
    crate::data_root::refuse_unsafe("session id", id)?;
    Ok(sessions_dir(dataset_dir).join(id))
}

/// `DIR/sessions/<id>/data.parquet`.
pub fn session_file(dataset_dir: &Path, id: &str) -> Result<PathBuf, DataError> {
    Ok(session_dir(dataset_dir, id)?.join(SESSION_FILE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_cannot_leave_the_dataset() {
        for bad in ["../../x", "/abs", "..", "a/b", ""] {
            assert!(session_file(Path::new("d"), bad).is_err(), "{bad:?}");
        }
        assert_eq!(session_file(Path::new("d"), "s1").unwrap(), Path::new("d/sessions/s1/data.parquet"));
    }
}
