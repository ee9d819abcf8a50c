//! Atomic writes: a temporary file in the same folder, made durable, then renamed over
//! the target. A reader (or a crash) sees the old file or the new one, never half of one.
//!
//! Single files use `atomic_write`. Commands that write thousands of files stage them
//! (`stage`), make a whole batch durable with one filesystem sync (`make_durable`), and
//! only then rename them into place (`Staged::commit`): the same guarantee, without
//! paying one disk flush per file.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

pub const TEMP_PREFIX: &str = ".threadkit-tmp.";
pub const TEMP_SUFFIX: &str = ".tmp";
/// Permissions of files threadkit creates (those it replaces keep theirs).
#[cfg(unix)]
pub const NEW_FILE_MODE: u32 = 0o644;

/// A file written beside its target under a temporary name, not yet in place.
#[derive(Debug)]
pub struct Staged {
    file: tempfile::NamedTempFile,
    target: PathBuf,
}

fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Write `bytes` to a temporary file beside `target` (keeping `target`'s permissions).
pub fn stage(target: &Path, bytes: &[u8]) -> std::io::Result<Staged> {
    let mut staged = stage_empty(target)?;
    staged.file.write_all(bytes)?;
    Ok(staged)
}

/// An empty temporary file beside `target`, for content written as a stream (`Staged::file`).
pub fn stage_empty(target: &Path) -> std::io::Result<Staged> {
    let name = target.file_name().and_then(|n| n.to_str()).unwrap_or("threadkit");
    // Hidden, so that a walk running at the same moment never picks it up, and
    // recognisable, so that `remove_stale_temporaries` can clear what a killed run left.
    let file = tempfile::Builder::new()
        .prefix(&format!("{TEMP_PREFIX}{name}."))
        .suffix(TEMP_SUFFIX)
        .tempfile_in(parent_of(target))?;
    match std::fs::metadata(target) {
        Ok(meta) => file.as_file().set_permissions(meta.permissions())?,
        // A temporary file is private (0600); the file it becomes is an ordinary one.
        Err(_) => {
            #[cfg(unix)]
            file.as_file().set_permissions(std::os::unix::fs::PermissionsExt::from_mode(NEW_FILE_MODE))?;
        }
    }
    Ok(Staged { file, target: target.to_path_buf() })
}

impl Staged {
    /// Rename into place. Call only after `make_durable` covered this file.
    pub fn commit(self) -> std::io::Result<()> {
        self.file.persist(&self.target).map(drop).map_err(|e| e.error)
    }

    pub fn target(&self) -> &Path {
        &self.target
    }

    /// The temporary file, to write into before `make_durable`.
    pub fn file(&self) -> &std::fs::File {
        self.file.as_file()
    }
}

/// Make the contents of every staged file durable. On Linux one `syncfs` per
/// filesystem involved; elsewhere one `fsync` per file.
pub fn make_durable(staged: &[&Staged]) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        let dirs: BTreeSet<&Path> = staged.iter().map(|s| parent_of(&s.target)).collect();
        for dir in dirs {
            rustix::fs::syncfs(std::fs::File::open(dir)?)?;
        }
        Ok(())
    }
    #[cfg(not(target_os = "linux"))]
    {
        staged.iter().try_for_each(|s| s.file.as_file().sync_all())
    }
}

/// Make renames into (or out of) these folders durable.
pub fn sync_dirs<'a>(dirs: impl IntoIterator<Item = &'a Path>) {
    let dirs: BTreeSet<&Path> = dirs.into_iter().collect();
    for dir in dirs {
        if let Ok(d) = std::fs::File::open(dir) {
            // Not every filesystem supports syncing a folder, and nothing depends on it succeeding.
            let _ = d.sync_all();
        }
    }
}

/// Write one file atomically and durably.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let staged = stage(path, bytes)?;
    staged.file.as_file().sync_all()?;
    staged.commit()?;
    sync_dirs([parent_of(path)]);
    Ok(())
}

/// Remove temporary files that a killed threadkit left in `dir`. Returns how many.
/// Only names threadkit itself creates are touched.
pub fn remove_stale_temporaries(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_str().is_some_and(|n| n.starts_with(TEMP_PREFIX) && n.ends_with(TEMP_SUFFIX)))
        .filter(|e| std::fs::remove_file(e.path()).is_ok())
        .count()
}

/// Move a file: a rename when both sides share a filesystem (durable once `sync_dirs`
/// covers both folders); across filesystems an atomic, durable copy, then removal.
pub fn move_file(from: &Path, to: &Path) -> std::io::Result<()> {
    match std::fs::rename(from, to) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::CrossesDevices => {
            atomic_write(to, &std::fs::read(from)?)?;
            std::fs::remove_file(from)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_and_leaves_no_temporary_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.json");
        std::fs::write(&p, "old").unwrap();
        atomic_write(&p, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn staged_files_appear_only_when_committed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.json");
        let s = stage(&p, b"x").unwrap();
        assert!(!p.exists());
        make_durable(&[&s]).unwrap();
        s.commit().unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"x");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn new_files_are_ordinary_and_replaced_files_keep_their_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("new.json");
        atomic_write(&p, b"x").unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o644);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        atomic_write(&p, b"y").unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn stale_temporaries_are_ours_only() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".threadkit-tmp.a.json.x1.tmp"), "half").unwrap();
        std::fs::write(dir.path().join(".other.tmp"), "keep").unwrap();
        assert_eq!(remove_stale_temporaries(dir.path()), 1);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
