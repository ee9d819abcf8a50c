//! The directory walk: arguments in, an ordered list of files to check out.
//! Per-file work happens elsewhere, in parallel; this step only finds files.

use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, Default)]
pub struct WalkOptions {
    pub follow_links: bool,
    /// Skip folders named `*_v3_backup` (migrate must not re-migrate its own backups).
    pub skip_backups: bool,
}

pub const BACKUP_SUFFIX: &str = "_v3_backup";

/// A file to check, or a place the walk could not enter (reported as a finding).
#[derive(Debug, Clone)]
pub struct Entry {
    pub path: PathBuf,
    pub problem: Option<String>,
}

#[derive(Debug, Default)]
pub struct Walk {
    pub entries: Vec<Entry>,
    /// Arguments that do not exist: a usage error, not a finding.
    pub missing: Vec<(PathBuf, String)>,
}

pub fn is_thread_file(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("json" | "jsonl")
    )
}

fn is_hidden(name: &std::ffi::OsStr) -> bool {
    name.to_str()
        .is_some_and(|n| n.starts_with('.') && n != "." && n != "..")
}

pub fn walk(args: &[PathBuf], options: WalkOptions) -> Walk {
    let mut out = Walk::default();
    for arg in args {
        // Explicit arguments are followed even when they are symlinks, as ripgrep does.
        let meta = match std::fs::metadata(arg) {
            Ok(m) => m,
            Err(e)
                if e.kind() == std::io::ErrorKind::NotFound && arg.symlink_metadata().is_err() =>
            {
                out.missing
                    .push((arg.clone(), "no such file or directory".into()));
                continue;
            }
            Err(e) => {
                out.entries.push(Entry {
                    path: arg.clone(),
                    problem: Some(describe_io(&e)),
                });
                continue;
            }
        };
        if meta.is_file() {
            out.entries.push(Entry {
                path: arg.clone(),
                problem: None,
            });
        } else if meta.is_dir() {
            walk_dir(arg, options, &mut out.entries);
        } else {
            out.entries.push(Entry {
                path: arg.clone(),
                problem: Some("not a regular file (a device, FIFO or socket)".into()),
            });
        }
    }
    out
}

fn walk_dir(root: &Path, options: WalkOptions, entries: &mut Vec<Entry>) {
    let walker = walkdir::WalkDir::new(root)
        .follow_links(options.follow_links)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(move |e| {
            e.depth() == 0
                || !(is_hidden(e.file_name())
                    || (options.skip_backups
                        && e.file_type().is_dir()
                        && e.file_name()
                            .to_str()
                            .is_some_and(|n| n.ends_with(BACKUP_SUFFIX))))
        });
    for item in walker {
        match item {
            Ok(e) => {
                if e.file_type().is_file() && is_thread_file(e.path()) {
                    entries.push(Entry {
                        path: e.into_path(),
                        problem: None,
                    });
                }
            }
            Err(err) => {
                let path = err
                    .path()
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| root.to_path_buf());
                let problem = if let Some(ancestor) = err.loop_ancestor() {
                    format!("symlink loop: it points back to {}", ancestor.display())
                } else if let Some(io) = err.io_error() {
                    describe_io(io)
                } else {
                    err.to_string()
                };
                entries.push(Entry {
                    path,
                    problem: Some(problem),
                });
            }
        }
    }
}

pub fn describe_io(e: &std::io::Error) -> String {
    use std::io::ErrorKind::*;
    match e.kind() {
        PermissionDenied => "permission denied: check the file's owner and mode".into(),
        NotFound => "not found (a broken symlink?)".into(),
        _ => e.to_string(),
    }
}
