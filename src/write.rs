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

/// The prefix of a temporary beside `name`: it carries this process's id, so that a later
/// run removes only what dead processes left (`remove_stale_temporaries`).
pub fn temp_prefix(name: &str) -> String {
    format!("{TEMP_PREFIX}{}.{name}.", std::process::id())
}

/// A temporary folder beside `target` (for outputs that appear whole: exports, datasets).
pub fn staging_dir(parent: &Path, name: &str) -> std::io::Result<tempfile::TempDir> {
    tempfile::Builder::new().prefix(&temp_prefix(name)).suffix(TEMP_SUFFIX).tempdir_in(parent)
}

/// Whether the process that made a temporary is gone (so the temporary is stale).
fn owner_is_gone(name: &str) -> bool {
    let pid = name.strip_prefix(TEMP_PREFIX).and_then(|rest| rest.split('.').next()).and_then(|p| p.parse::<u32>().ok());
    match pid {
        // Names of older versions carry no process id: stale by definition.
        None => true,
        Some(pid) if pid == std::process::id() => false,
        #[cfg(target_os = "linux")]
        Some(pid) => !Path::new("/proc").join(pid.to_string()).exists(),
        #[cfg(not(target_os = "linux"))]
        Some(_) => true,
    }
}

fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// tempfile's error names the random temporary file ("… at path dir/.threadkit-tmp.…tmp"),
/// which the user never asked for: say what is wrong with the folder instead.
fn folder_error(e: std::io::Error) -> std::io::Error {
    use std::io::ErrorKind::*;
    let why = match e.kind() {
        NotFound => "its folder does not exist",
        PermissionDenied => "its folder is not writable",
        ReadOnlyFilesystem => "its folder is on a read-only file system",
        StorageFull => "no space left on the device",
        NotADirectory => "a part of its folder's path is a file",
        _ => return e,
    };
    std::io::Error::new(e.kind(), why)
}

/// Write `bytes` to a temporary file beside `target` (keeping `target`'s permissions).
pub fn stage(target: &Path, bytes: &[u8]) -> std::io::Result<Staged> {
    let mut staged = stage_empty(target)?;
    // Through the `File`, not the `NamedTempFile`: the latter's error names the random
    // temporary ("… at path …/.threadkit-tmp.….tmp"), which the user never asked for.
    staged.file.as_file_mut().write_all(bytes)?;
    Ok(staged)
}

/// An empty temporary file beside `target`, for content written as a stream (`Staged::file`).
pub fn stage_empty(target: &Path) -> std::io::Result<Staged> {
    let name = target.file_name().and_then(|n| n.to_str()).unwrap_or("threadkit");
    // Hidden, so that a walk running at the same moment never picks it up, and
    // recognisable, so that `remove_stale_temporaries` can clear what a killed run left.
    let file = tempfile::Builder::new()
        .prefix(&temp_prefix(name))
        .suffix(TEMP_SUFFIX)
        .tempfile_in(parent_of(target))
        .map_err(folder_error)?;
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

    /// Rename into place only if nothing is there yet: a file that appeared since it was
    /// checked (another process, an editor) is never replaced (`ErrorKind::AlreadyExists`).
    pub fn commit_new(self) -> std::io::Result<()> {
        self.file.persist_noclobber(&self.target).map(drop).map_err(|e| e.error)
    }

    /// Rename into place only if `target` is still the file `expected` (device and inode)
    /// at the moment of the swap: on Linux the new file and the old are exchanged in one
    /// step and the old one is inspected afterwards; a file that another program put there
    /// in between is given back. `Ok(false)`: nothing was replaced.
    pub fn commit_if_still(self, expected: crate::walk::FileId) -> std::io::Result<bool> {
        let ours = self.file.path().to_path_buf();
        if crate::walk::FileId::of(&self.target) != Some(expected) {
            return Ok(false);
        }
        match renameat2(&ours, &self.target, Renameat2::Exchange) {
            Some(Ok(())) => {}
            Some(Err(e)) => return Err(e),
            // No exchange here: the check just above is as close as it gets.
            None => return self.commit().map(|()| true),
        }
        // `ours` now holds what was in place. The file we validated: dropping the temporary
        // removes it. Another one (written since the check): put it back, and drop ours.
        if crate::walk::FileId::of(&ours) == Some(expected) {
            return Ok(true);
        }
        let fixed = crate::walk::FileId::of(&self.target);
        exchange(&ours, &self.target)?;
        if crate::walk::FileId::of(&ours) != fixed {
            // Written again meanwhile: the newest is what `ours` holds now; it goes back in
            // place, and the older one it replaced is dropped with the temporary.
            exchange(&ours, &self.target)?;
        }
        Ok(false)
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

/// Make a staged folder's files and folders durable, one `fsync` each: unlike `syncfs`, this
/// does not wait for everything else dirty on the filesystem (a 200 MB export beside a
/// spool as large took twice as long).
pub fn sync_tree(dir: &Path) -> std::io::Result<()> {
    for entry in walkdir::WalkDir::new(dir).contents_first(true) {
        let entry = entry.map_err(std::io::Error::other)?;
        if entry.file_type().is_file() || entry.file_type().is_dir() {
            std::fs::File::open(entry.path())?.sync_all()?;
        }
    }
    Ok(())
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

/// Whether a file name is one of threadkit's temporaries (files and staging folders).
pub fn is_temporary_name(name: &std::ffi::OsStr) -> bool {
    name.to_str().is_some_and(|n| n.starts_with(TEMP_PREFIX) && n.ends_with(TEMP_SUFFIX))
}

/// Create `path` atomically and durably, never over an existing file
/// (`ErrorKind::AlreadyExists`): the file appears whole or not at all, and only once.
pub fn atomic_create(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let staged = stage(path, bytes)?;
    staged.file.as_file().sync_all()?;
    staged.commit_new()?;
    sync_dirs([parent_of(path)]);
    Ok(())
}

/// Remove temporary files (and staging folders) that a killed threadkit left in `dir`.
/// Returns how many. Only names threadkit itself creates are touched, and only those of
/// processes that are gone: another threadkit writing into the same folder keeps its own.
pub fn remove_stale_temporaries(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .filter_map(Result::ok)
        .filter(|e| is_temporary_name(&e.file_name()))
        .filter(|e| e.file_name().to_str().is_some_and(owner_is_gone))
        .filter(|e| match e.file_type() {
            Ok(t) if t.is_dir() => std::fs::remove_dir_all(e.path()).is_ok(),
            _ => std::fs::remove_file(e.path()).is_ok(),
        })
        .count()
}

/// Rename `from` to `to` unless something is already at `to` (`ErrorKind::AlreadyExists`).
/// The check and the rename are one step, so two processes cannot both win.
pub fn rename_no_replace(from: &Path, to: &Path) -> std::io::Result<()> {
    // Filesystems without renameat2 flags: a hard link cannot replace either.
    if let Some(done) = renameat2(from, to, Renameat2::NoReplace) {
        return done;
    }
    if std::fs::symlink_metadata(from)?.is_dir() {
        // Not reachable on Linux; elsewhere a folder cannot be linked, so check, then rename.
        if to.symlink_metadata().is_ok() {
            return Err(std::io::ErrorKind::AlreadyExists.into());
        }
        return std::fs::rename(from, to);
    }
    std::fs::hard_link(from, to)?;
    std::fs::remove_file(from)
}

/// Swap two paths in one step (Linux `RENAME_EXCHANGE`): a reader sees the old folder or
/// the new one, never a mixture. Elsewhere: two renames through a hidden name.
pub fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    if let Some(done) = renameat2(a, b, Renameat2::Exchange) {
        return done;
    }
    let aside = parent_of(b).join(format!("{}swap{TEMP_SUFFIX}", temp_prefix("")));
    std::fs::rename(b, &aside)?;
    std::fs::rename(a, b)?;
    std::fs::rename(&aside, a)
}

enum Renameat2 {
    NoReplace,
    Exchange,
}

/// `renameat2` with a flag; `None` where the system or the filesystem has no such flag.
fn renameat2(from: &Path, to: &Path, how: Renameat2) -> Option<std::io::Result<()>> {
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::{renameat_with, RenameFlags, CWD};
        let flags = match how {
            Renameat2::NoReplace => RenameFlags::NOREPLACE,
            Renameat2::Exchange => RenameFlags::EXCHANGE,
        };
        match renameat_with(CWD, from, CWD, to, flags) {
            Ok(()) => Some(Ok(())),
            Err(e) if e == rustix::io::Errno::INVAL || e == rustix::io::Errno::NOSYS => None,
            Err(e) => Some(Err(e.into())),
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (from, to, how);
        None
    }
}

/// Move a file without ever replacing one: a rename when both sides share a filesystem
/// (durable once `sync_dirs` covers both folders); across filesystems a durable copy
/// put in place without replacing, then removal of the source.
pub fn move_file(from: &Path, to: &Path) -> std::io::Result<()> {
    match rename_no_replace(from, to) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::CrossesDevices => {
            atomic_create(to, &std::fs::read(from)?)?;
            std::fs::remove_file(from)
        }
        Err(e) => Err(e),
    }
}

/// Whether two paths name one file (not two files with equal content).
pub fn same_file(a: &Path, b: &Path) -> bool {
    matches!((file_id(a), file_id(b)), (Some(x), Some(y)) if x == y)
}

/// The identity of an existing file: its device and inode.
#[cfg(unix)]
pub fn file_id(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

#[cfg(not(unix))]
pub fn file_id(path: &Path) -> Option<std::path::PathBuf> {
    path.canonicalize().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The error says what is wrong with the folder, not the name of a temporary file.
    #[test]
    fn a_file_in_a_missing_folder_is_refused_by_its_folder() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "").unwrap();
        for (target, why) in [(dir.path().join("no/such/x.json"), "its folder does not exist"), (file.join("x.json"), "a part of its folder's path is a file")] {
            let e = atomic_write(&target, b"x").unwrap_err().to_string();
            assert_eq!(e, why, "{}", target.display());
        }
    }

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
    fn moves_never_replace_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, "a").unwrap();
        std::fs::write(&b, "b").unwrap();
        assert_eq!(move_file(&a, &b).unwrap_err().kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read_to_string(&a).unwrap(), "a");
        assert_eq!(std::fs::read_to_string(&b).unwrap(), "b");
        std::fs::remove_file(&b).unwrap();
        move_file(&a, &b).unwrap();
        assert!(!a.exists());
        assert_eq!(std::fs::read_to_string(&b).unwrap(), "a");
    }

    #[test]
    fn exchange_swaps_folders() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::create_dir(&a).unwrap();
        std::fs::create_dir(&b).unwrap();
        std::fs::write(a.join("new"), "").unwrap();
        std::fs::write(b.join("old"), "").unwrap();
        exchange(&a, &b).unwrap();
        assert!(b.join("new").exists() && a.join("old").exists());
    }

    #[test]
    fn stale_temporaries_are_ours_only() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".threadkit-tmp.a.json.x1.tmp"), "half").unwrap();
        // A live process's temporary (this one's) is kept; a dead one's is removed.
        let mine = dir.path().join(format!("{}b.json.x.tmp", temp_prefix("")));
        std::fs::write(&mine, "in progress").unwrap();
        std::fs::write(dir.path().join(".threadkit-tmp.4000000000.c.json.x.tmp"), "dead").unwrap();
        std::fs::write(dir.path().join(".other.tmp"), "keep").unwrap();
        std::fs::create_dir(dir.path().join(".threadkit-tmp.export.x2.tmp")).unwrap();
        std::fs::write(dir.path().join(".threadkit-tmp.export.x2.tmp/train.jsonl"), "half").unwrap();
        assert_eq!(remove_stale_temporaries(dir.path()), 3);
        assert!(mine.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }
}
