//! The directory walk: arguments in, a stream of files to check out, in a stable order.
//! Per-file work happens elsewhere, in parallel; this step only finds files, and holds no more
//! than the names of the folders it is in, so memory grows with the largest folder, compactly,
//! not with the tree.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, Default)]
pub struct WalkOptions {
    pub follow_links: bool,
    /// Skip folders named `*_v3_backup` (migrate must not re-migrate its own backups).
    pub skip_backups: bool,
    /// Look for training files (`*.jsonl`, `*.jsonl.gz`, `*.jsonl.zst`) instead of threads.
    pub training_files: bool,
    /// Only this shard's part of the files (`--shard I/N`).
    pub shard: Option<Shard>,
}

/// Part `index` (1-based, as `cargo nextest --partition hash:M/N`) of `count`: the files whose
/// path below their walk root hashes to it. Each of N processes (a Slurm array, Ray tasks, a
/// Kubernetes indexed Job) takes one part with nothing shared but the arguments; the parts are
/// disjoint and together the whole input, and a file's part depends on its path alone, so it
/// does not move when files are added, or when the folder is copied to another machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Shard {
    /// `I/N` with 1 <= I <= N.
    pub fn parse(s: &str) -> Result<Shard, String> {
        let (i, n) = s.split_once('/').ok_or_else(|| format!("{s:?}: write I/N, e.g. 2/4 for the second of four parts"))?;
        let parse = |x: &str| x.trim().parse::<u64>().map_err(|_| format!("{s:?}: {x:?} is not a whole number"));
        let (index, count) = (parse(i)?, parse(n)?);
        if count == 0 || index == 0 || index > count {
            return Err(format!("{s:?}: I runs from 1 to N (N at least 1)"));
        }
        Ok(Shard { index, count })
    }

    /// Whether a file at this path below its walk root is in this part.
    pub fn takes(&self, relative: &Path) -> bool {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(relative.as_os_str().as_bytes());
        let h = u64::from_le_bytes(digest[..8].try_into().expect("8 bytes"));
        h % self.count == self.index - 1
    }
}

pub const BACKUP_SUFFIX: &str = "_v3_backup";

/// A file to check, or a place the walk could not enter (reported as a finding).
#[derive(Debug, Clone)]
pub struct Entry {
    pub path: PathBuf,
    pub problem: Option<String>,
    /// The argument the file was found under (the file itself when given by name).
    pub root: PathBuf,
}

impl Entry {
    /// The path below its walk root (`sub/x.json` for `threads/sub/x.json` walked from `threads`);
    /// just the file name for a file given by name.
    pub fn relative(&self) -> PathBuf {
        match self.path.strip_prefix(&self.root) {
            Ok(rel) if !rel.as_os_str().is_empty() => rel.to_path_buf(),
            _ => self.path.file_name().map(PathBuf::from).unwrap_or_default(),
        }
    }
}

#[derive(Debug)]
enum Root {
    File(PathBuf),
    Dir(PathBuf),
    Problem(PathBuf, String),
}

#[derive(Debug)]
pub struct Walk {
    /// Arguments that do not exist: a usage error, not a finding.
    pub missing: Vec<(PathBuf, String)>,
    roots: Vec<Root>,
    options: WalkOptions,
    /// Folders never entered, by identity (whatever their name or the path used to reach them).
    excluded: Vec<FileId>,
}

/// A folder's identity: device and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileId(u64, u64);

impl FileId {
    pub fn new(dev: u64, ino: u64) -> FileId {
        FileId(dev, ino)
    }

    #[cfg(unix)]
    pub fn of(path: &Path) -> Option<FileId> {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(path).ok().map(|m| FileId(m.dev(), m.ino()))
    }

    #[cfg(not(unix))]
    pub fn of(_path: &Path) -> Option<FileId> {
        None
    }
}

impl Walk {
    /// Every file to check: explicit files as given, directories recursively, sorted by name.
    /// A file reached twice (`threads/ threads/x.json`, the same folder named twice, or through
    /// a link) comes once: it is one thread, not a duplicate of itself.
    pub fn entries(self) -> impl Iterator<Item = Entry> + Send {
        let options = self.options;
        let excluded = std::sync::Arc::new(self.excluded);
        // One root cannot reach a file twice without following links; only then is memory spent.
        let mut seen = (self.roots.len() > 1 || options.follow_links).then(std::collections::HashSet::<FileId>::new);
        self.roots
            .into_iter()
            .flat_map(move |root| -> Box<dyn Iterator<Item = Entry> + Send> {
                match root {
                    Root::File(path) => Box::new(std::iter::once(Entry { root: path.clone(), path, problem: None })),
                    Root::Problem(path, problem) => {
                        Box::new(std::iter::once(Entry { root: path.clone(), path, problem: Some(problem) }))
                    }
                    Root::Dir(dir) => Box::new(walk_dir(dir, options, excluded.clone())),
                }
            })
            .filter(move |e| options.shard.is_none_or(|shard| shard.takes(&e.relative())))
            .filter(move |e| match (&mut seen, e.problem.is_none().then(|| FileId::of(&e.path)).flatten()) {
                (Some(seen), Some(id)) => seen.insert(id),
                _ => true,
            })
    }

    /// Never enter `dir` (a backup or output folder inside the tree being walked).
    pub fn exclude_dir(&mut self, dir: &Path) {
        self.excluded.extend(FileId::of(dir));
    }

    /// The folders given as arguments.
    pub fn root_dirs(&self) -> impl Iterator<Item = &Path> {
        self.roots.iter().filter_map(|r| match r {
            Root::Dir(d) => Some(d.as_path()),
            _ => None,
        })
    }
}

/// `.json` or `.jsonl`, in any case (`THREAD.JSON` is a thread written on another system).
pub fn is_thread_file(path: &Path) -> bool {
    crate::source::is_json(path) || crate::source::is_jsonl(path)
}

pub fn is_hidden_name(name: &std::ffi::OsStr) -> bool {
    name.to_str().is_some_and(|n| n.starts_with('.') && n != "." && n != "..")
}

pub fn walk(args: &[PathBuf], options: WalkOptions) -> Walk {
    let mut missing = Vec::new();
    let mut roots = Vec::new();
    for arg in args {
        // Explicit arguments are followed even when they are symlinks, as ripgrep does.
        match std::fs::metadata(arg) {
            Ok(m) if m.is_file() => roots.push(Root::File(arg.clone())),
            Ok(m) if m.is_dir() => roots.push(Root::Dir(arg.clone())),
            Ok(_) => roots.push(Root::Problem(arg.clone(), "not a regular file (a device, FIFO or socket)".into())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && arg.symlink_metadata().is_err() => {
                missing.push((arg.clone(), "no such file or directory".into()));
            }
            Err(e) => roots.push(Root::Problem(arg.clone(), crate::open::describe_io(&e))),
        }
    }
    Walk { missing, roots, options, excluded: Vec::new() }
}

fn walk_dir(
    root: PathBuf,
    options: WalkOptions,
    excluded: std::sync::Arc<Vec<FileId>>,
) -> impl Iterator<Item = Entry> + Send {
    SortedWalk { root, options, excluded, stack: Vec::new(), started: false }
}

/// A depth-first walk that lists each folder once, sorted by name, and yields its files and
/// enters its folders in that order (as `walkdir` with `sort_by_file_name` does). It is ours
/// because of memory: `walkdir` holds a sorted folder as one `DirEntry` per name (a path
/// allocation and an error-sized slot), ~160 MB for a folder of a million threads, the usual
/// shape of a generated corpus; a `Listing` holds the sorted names front-coded, ~20 MB.
struct SortedWalk {
    root: PathBuf,
    options: WalkOptions,
    excluded: std::sync::Arc<Vec<FileId>>,
    /// The folders being listed, outermost first.
    stack: Vec<Listing>,
    started: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    File,
    Dir,
    Link,
}

/// One folder's names that the walk may yield or enter, sorted and front-coded: each name is
/// its kind, how many leading bytes it shares with the name before it, and the rest (sorted
/// generated names share most of theirs). Read once, front to back.
struct Listing {
    dir: PathBuf,
    /// The folder's identity, to find symlink loops (only when links are followed).
    id: Option<FileId>,
    coded: Vec<u8>,
    /// Where the next name starts in `coded`.
    at: usize,
    /// The name read last.
    name: Vec<u8>,
}

impl Listing {
    fn code(kind: Kind) -> u8 {
        match kind {
            Kind::File => 0,
            Kind::Dir => 1,
            Kind::Link => 2,
        }
    }

    /// The next name's path, whether the name is a backup's, and its kind.
    fn next(&mut self) -> Option<(PathBuf, bool, Kind)> {
        let head = self.coded.get(self.at..self.at + 5)?;
        let kind = match head[0] {
            0 => Kind::File,
            1 => Kind::Dir,
            _ => Kind::Link,
        };
        let shared = u16::from_le_bytes([head[1], head[2]]) as usize;
        let rest = u16::from_le_bytes([head[3], head[4]]) as usize;
        self.name.truncate(shared);
        self.name.extend_from_slice(&self.coded[self.at + 5..self.at + 5 + rest]);
        self.at += 5 + rest;
        let backup = self.name.ends_with(BACKUP_SUFFIX.as_bytes());
        Some((self.dir.join(std::ffi::OsStr::from_bytes(&self.name)), backup, kind))
    }
}

impl SortedWalk {
    fn problem(&self, path: PathBuf, problem: String) -> Entry {
        Entry { path, problem: Some(problem), root: self.root.clone() }
    }

    /// List `dir`, keeping only what the walk can use: thread (or training) files, folders,
    /// and symlinks when they are followed; hidden names never.
    fn list(&self, dir: PathBuf, id: Option<FileId>) -> Result<Listing, Entry> {
        let read = std::fs::read_dir(&dir).map_err(|e| self.problem(dir.clone(), crate::open::describe_io(&e)))?;
        let (mut names, mut items) = (Vec::new(), Vec::new());
        for item in read {
            let item = item.map_err(|e| self.problem(dir.clone(), crate::open::describe_io(&e)))?;
            let name = item.file_name();
            if is_hidden_name(&name) {
                continue;
            }
            let Ok(file_type) = item.file_type() else { continue };
            let kind = if file_type.is_dir() {
                Kind::Dir
            } else if file_type.is_symlink() {
                if !self.options.follow_links {
                    continue;
                }
                Kind::Link
            } else if file_type.is_file() && self.wanted(Path::new(&name)) {
                Kind::File
            } else {
                continue;
            };
            // A name longer than 65,535 bytes is longer than any file system allows.
            let Ok(len) = u16::try_from(name.len()) else { continue };
            items.push((names.len(), len, kind));
            names.extend_from_slice(name.as_bytes());
        }
        let name = |&(start, len, _): &(usize, u16, Kind)| &names[start..start + len as usize];
        items.sort_unstable_by(|a, b| name(a).cmp(name(b)));
        let mut coded = Vec::new();
        let mut before: &[u8] = &[];
        for item in &items {
            let this = name(item);
            let shared = before.iter().zip(this).take_while(|(a, b)| a == b).count();
            coded.push(Listing::code(item.2));
            coded.extend_from_slice(&(shared as u16).to_le_bytes());
            coded.extend_from_slice(&((this.len() - shared) as u16).to_le_bytes());
            coded.extend_from_slice(&this[shared..]);
            before = this;
        }
        coded.shrink_to_fit();
        Ok(Listing { dir, id, coded, at: 0, name: Vec::new() })
    }

    fn wanted(&self, path: &Path) -> bool {
        if self.options.training_files {
            crate::source::is_training_file(path)
        } else {
            is_thread_file(path)
        }
    }

    /// Whether the walk goes into the folder at `path` (`backup`: its name says it is one).
    fn enters(&self, path: &Path, backup: bool) -> bool {
        !(self.options.skip_backups && backup)
            && (self.excluded.is_empty() || FileId::of(path).is_none_or(|id| !self.excluded.contains(&id)))
    }

    /// Go into the folder at `path`, or say why not (a symlink loop, an unreadable folder).
    fn descend(&mut self, path: PathBuf) -> Option<Entry> {
        let id = if self.options.follow_links { FileId::of(&path) } else { None };
        if let Some(ancestor) = id.and_then(|id| self.stack.iter().find(|l| l.id == Some(id))) {
            let problem = format!("symlink loop: it points back to {}", ancestor.dir.display());
            return Some(self.problem(path, problem));
        }
        match self.list(path, id) {
            Ok(listing) => {
                self.stack.push(listing);
                None
            }
            Err(problem) => Some(problem),
        }
    }
}

impl Iterator for SortedWalk {
    type Item = Entry;

    fn next(&mut self) -> Option<Entry> {
        if !self.started {
            self.started = true;
            if let Some(problem) = self.descend(self.root.clone()) {
                return Some(problem);
            }
        }
        loop {
            let top = self.stack.last_mut()?;
            let Some((path, backup, kind)) = top.next() else {
                self.stack.pop();
                continue;
            };
            let kind = match kind {
                // A followed link is what it points to; one pointing nowhere is a finding.
                Kind::Link => match std::fs::metadata(&path) {
                    Ok(m) if m.is_dir() => Kind::Dir,
                    Ok(m) if m.is_file() && self.wanted(&path) => Kind::File,
                    Ok(_) => continue,
                    Err(e) => return Some(self.problem(path, crate::open::describe_io(&e))),
                },
                other => other,
            };
            if kind == Kind::File {
                return Some(Entry { path, problem: None, root: self.root.clone() });
            }
            if self.enters(&path, backup) {
                if let Some(problem) = self.descend(path) {
                    return Some(problem);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The order `walkdir` gives with `sort_by_file_name`: names that share long prefixes,
    /// folders between files, hidden names and other files left out.
    #[test]
    fn the_walk_is_walkdirs_sorted_walk() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("threads");
        let names = [
            "b.json",
            "a_session_0001_v4_0001.json",
            "a_session_0001_v4_0002.json",
            "a_session_0010_v4_0001.json",
            "a_session_0001",
            "a_session_0001/x.json",
            "a_session_0001/deeper",
            "a_session_0001/deeper/y.jsonl",
            "a",
            "a/z.json",
            "notes.txt",
            ".hidden.json",
            "é.json",
            "Z.JSON",
            "a_session_0001/b.json",
            "empty",
        ];
        std::fs::create_dir(&root).unwrap();
        for name in names {
            let path = root.join(name);
            if name.contains('.') {
                std::fs::write(&path, "{}").unwrap();
            } else {
                std::fs::create_dir(&path).unwrap();
            }
        }
        let ours: Vec<PathBuf> =
            walk(std::slice::from_ref(&root), WalkOptions::default()).entries().map(|e| e.path).collect();
        let theirs: Vec<PathBuf> = walkdir::WalkDir::new(&root)
            .sort_by_file_name()
            .into_iter()
            .map(|e| e.unwrap().into_path())
            .filter(|p| {
                let below = p.strip_prefix(&root).unwrap();
                p.is_file() && is_thread_file(p) && !below.components().any(|c| is_hidden_name(c.as_os_str()))
            })
            .collect();
        assert_eq!(ours, theirs);
        assert_eq!(ours.len(), 10);
    }
}
