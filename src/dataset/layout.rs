//! Where a dataset's files are (FORMATS.md §4): the one place that knows
//! `manifest.json`, `labels.json` and `sessions/<id>/data.parquet`. Session ids come from
//! files and from model output, so every path built from one is checked here first.

use std::path::{Path, PathBuf};

use super::error::DataError;

pub const MANIFEST: &str = "manifest.json";
pub const LABELS: &str = "labels.json";
pub const SESSIONS: &str = "sessions";
pub const SESSION_FILE: &str = "data.parquet";
/// The column of a session file that holds each row's time in seconds; every other column is a channel.
pub const TIME_COLUMN: &str = "timestamp_sec";

/// `DIR/sessions`.
pub fn sessions_dir(dataset_dir: &Path) -> PathBuf {
    dataset_dir.join(SESSIONS)
}

/// `DIR/sessions/<id>`, for an id that names one folder and nothing else.
pub fn session_dir(dataset_dir: &Path, id: &str) -> Result<PathBuf, DataError> {
    refuse_unsafe("session id", id)?;
    Ok(sessions_dir(dataset_dir).join(id))
}

/// `DIR/sessions/<id>/data.parquet`.
pub fn session_file(dataset_dir: &Path, id: &str) -> Result<PathBuf, DataError> {
    Ok(session_dir(dataset_dir, id)?.join(SESSION_FILE))
}

/// `safe_name` as the error a data-root reader returns: `what` is "dataset name" or "session id".
pub fn refuse_unsafe(what: &'static str, name: &str) -> Result<(), DataError> {
    safe_name(name).map_err(|why| DataError::Refused { what, name: name.to_string(), why })
}

/// Dataset names, session ids, channel names and thread ids come from files (and, when
/// generating, from model output) and become folder or file names: each must name one entry
/// below its folder and nothing else.
pub fn safe_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("it is empty");
    }
    if name.len() > 255 {
        return Err("it is longer than 255 bytes");
    }
    if name.contains('\0') {
        return Err("it contains a NUL byte");
    }
    if name.contains(['/', '\\']) {
        return Err("it contains a path separator");
    }
    if name == "." || name == ".." {
        return Err("it names a relative folder");
    }
    if name.chars().any(char::is_control) {
        return Err("it contains a control character");
    }
    Ok(())
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

    #[test]
    fn hostile_names_are_refused() {
        for bad in ["", "..", ".", "../etc", "/abs", "a\\b", "a\0b", &"x".repeat(300), "a\nb"] {
            assert!(safe_name(bad).is_err(), "{bad:?}");
        }
        for good in ["uci_har", "train_16_3157", "subject1_seg000_0000", "basic.motions"] {
            assert!(safe_name(good).is_ok(), "{good:?}");
        }
    }
}
