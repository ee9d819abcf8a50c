//! Atomic writes: a temporary file in the same folder, fsync, rename, fsync the folder.
//! A reader (or a crash) sees the old file or the new one, never half of one.

use std::io::Write;
use std::path::Path;

pub const TEMP_PREFIX: &str = ".threadkit-tmp.";
pub const TEMP_SUFFIX: &str = ".tmp";

/// Remove temporary files that a killed threadkit left in `dir`. Returns how many.
/// Only names threadkit itself creates are touched.
pub fn remove_stale_temporaries(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_str().is_some_and(|n| n.starts_with(TEMP_PREFIX) && n.ends_with(TEMP_SUFFIX)))
        .filter(|e| std::fs::remove_file(e.path()).is_ok())
        .count()
}

/// Move a file, atomically when source and destination share a filesystem; across
/// filesystems the copy is written atomically and made durable before the source goes.
pub fn move_file(from: &Path, to: &Path) -> std::io::Result<()> {
    match std::fs::rename(from, to) {
        Ok(()) => {
            sync_dir(to.parent());
            sync_dir(from.parent());
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::CrossesDevices => {
            atomic_write(to, &std::fs::read(from)?)?;
            std::fs::remove_file(from)?;
            sync_dir(from.parent());
            Ok(())
        }
        Err(e) => Err(e),
    }
}

fn sync_dir(dir: Option<&Path>) {
    let dir = match dir {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if let Ok(d) = std::fs::File::open(dir) {
        // Makes renames durable; not every filesystem supports it, and nothing depends on it succeeding.
        let _ = d.sync_all();
    }
}

pub fn atomic_write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("threadkit");
    // Hidden, so that a walk running at the same moment never picks it up, and
    // recognisable, so that `remove_stale_temporaries` can clear what a killed run left.
    let mut tmp =
        tempfile::Builder::new().prefix(&format!("{TEMP_PREFIX}{name}.")).suffix(TEMP_SUFFIX).tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    if let Ok(meta) = std::fs::metadata(path) {
        tmp.as_file().set_permissions(meta.permissions())?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    sync_dir(Some(dir));
    Ok(())
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
    fn stale_temporaries_are_ours_only() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".threadkit-tmp.a.json.x1.tmp"), "half").unwrap();
        std::fs::write(dir.path().join(".other.tmp"), "keep").unwrap();
        assert_eq!(remove_stale_temporaries(dir.path()), 1);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
