//! Output files of an export: JSONL shards, optionally compressed, each hashed as it is
//! written. Nothing appears under its final name until every file is complete and
//! durable (`Outputs::commit`): a failed or killed export leaves the previous files.

use std::io::{self, BufWriter, Write};

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::write::{make_durable, stage_empty, sync_dirs, Staged};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    pub fn extension(self) -> &'static str {
        match self {
            Compression::None => "",
            Compression::Gzip => ".gz",
            Compression::Zstd => ".zst",
        }
    }
}

/// One finished file, as `export.json` lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FileInfo {
    /// Relative to the output folder.
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub split: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub records: Option<usize>,
    pub bytes: u64,
    pub sha256: String,
}

/// Counts and hashes the bytes that reach the file.
struct Hashing<W: Write> {
    inner: W,
    hash: Sha256,
    bytes: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Writes to a data file while a helper thread makes each few megabytes durable, so the
/// `fsync` that commits the export waits for the last of them only (alone, it took 0.4 s
/// for a 180 MB file after the last line was written).
struct Writeback<'a> {
    file: &'a std::fs::File,
    since_sync: u64,
    syncer: Option<(std::sync::mpsc::SyncSender<()>, std::thread::JoinHandle<io::Result<()>>)>,
}

/// How many bytes of lines go down a data file's pipeline at a time.
pub const PIPE_CHUNK: usize = 1 << 20;

/// How much is written before the helper is asked to sync.
const WRITEBACK_CHUNK: u64 = 8 << 20;

impl<'a> Writeback<'a> {
    fn new(file: &'a std::fs::File) -> Writeback<'a> {
        let syncer = file.try_clone().ok().map(|copy| {
            // One pending request is enough: a sync covers everything written before it.
            let (tx, rx) = std::sync::mpsc::sync_channel::<()>(1);
            let handle = std::thread::spawn(move || rx.iter().try_for_each(|()| copy.sync_data()));
            (tx, handle)
        });
        Writeback { file, since_sync: 0, syncer }
    }

    /// Wait for the helper and return what its syncs found. The helper's descriptor shares
    /// the file's open description, and the kernel reports a write-back error once per open
    /// description: an error the helper saw would not reach the final `fsync`.
    fn finish(&mut self) -> io::Result<()> {
        match self.syncer.take() {
            Some((tx, handle)) => {
                drop(tx);
                handle.join().unwrap_or_else(|_| Err(io::Error::other("the sync helper panicked")))
            }
            None => Ok(()),
        }
    }
}

impl Write for Writeback<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.since_sync += n as u64;
        if self.since_sync >= WRITEBACK_CHUNK {
            if let Some((tx, _)) = &self.syncer {
                // Busy with the previous chunk: this one is taken by the next request.
                let _ = tx.try_send(());
            }
            self.since_sync = 0;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Drop for Writeback<'_> {
    /// On the paths that fail before `finish` (the failure is already being reported).
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

type FileWriter<'a> = BufWriter<Writeback<'a>>;

/// A data file's bytes on their way to disk. A plain file is hashed by `pipe`'s helper; a
/// compressed one here, since its hash is of the compressed bytes.
enum Encoder<'a> {
    Plain(FileWriter<'a>, u64),
    Gzip(flate2::write::GzEncoder<Hashing<FileWriter<'a>>>),
    Zstd(zstd::stream::write::Encoder<'static, Hashing<FileWriter<'a>>>),
}

impl<'a> Encoder<'a> {
    fn new(file: &'a std::fs::File, compression: Compression) -> io::Result<Encoder<'a>> {
        let file = BufWriter::with_capacity(1 << 16, Writeback::new(file));
        let hashing = |inner| Hashing { inner, hash: Sha256::new(), bytes: 0 };
        Ok(match compression {
            Compression::None => Encoder::Plain(file, 0),
            // mtime 0 and no file name: the same input gives the same bytes.
            Compression::Gzip => {
                Encoder::Gzip(flate2::GzBuilder::new().mtime(0).write(hashing(file), flate2::Compression::default()))
            }
            Compression::Zstd => Encoder::Zstd(zstd::stream::write::Encoder::new(hashing(file), 3)?),
        })
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Encoder::Plain(w, bytes) => {
                *bytes += buf.len() as u64;
                w.write_all(buf)
            }
            Encoder::Gzip(w) => w.write_all(buf),
            Encoder::Zstd(w) => w.write_all(buf),
        }
    }

    /// Bytes written, and the SHA-256 of a compressed file.
    fn finish(self) -> io::Result<(u64, Option<String>)> {
        let (mut w, bytes, hash) = match self {
            Encoder::Plain(w, bytes) => (w, bytes, None),
            Encoder::Gzip(w) => Self::unwrap(w.finish()?),
            Encoder::Zstd(w) => Self::unwrap(w.finish()?),
        };
        w.flush()?;
        w.get_mut().finish()?;
        Ok((bytes, hash))
    }

    fn unwrap(h: Hashing<FileWriter<'a>>) -> (FileWriter<'a>, u64, Option<String>) {
        (h.inner, h.bytes, Some(hex(&h.hash.finalize())))
    }
}

/// One data file to write: its name under the output, its split, and where its records come from.
pub struct DataFile<F> {
    pub name: String,
    pub split: Option<String>,
    pub compression: Compression,
    pub fill: F,
}

/// Records, bytes and SHA-256 of a file `pipe` wrote.
type Piped = (usize, u64, String);

/// One data file's pipeline: this thread fills chunks, a helper hashes them (a plain file;
/// a compressed one is hashed as it is encoded), another compresses and writes them, so that
/// SHA-256, the slowest step, has a core to itself. Records, bytes and SHA-256 of the file.
fn pipe<F>(file: &std::fs::File, compression: Compression, mut fill: F) -> io::Result<Piped>
where
    F: FnMut(&mut Vec<u8>) -> io::Result<usize>,
{
    use std::sync::mpsc::{channel, sync_channel};
    std::thread::scope(|scope| {
        let (filled, filled_rx) = sync_channel::<Vec<u8>>(2);
        let (empty, empty_rx) = channel::<Vec<u8>>();
        let (hasher, to_write) = if compression == Compression::None {
            let (hashed, hashed_rx) = sync_channel::<Vec<u8>>(2);
            let hasher = scope.spawn(move || {
                let mut hash = Sha256::new();
                for chunk in filled_rx {
                    hash.update(&chunk);
                    // A closed pipe means the writer stopped on an error: its `join` says which.
                    if hashed.send(chunk).is_err() {
                        break;
                    }
                }
                hex(&hash.finalize())
            });
            (Some(hasher), hashed_rx)
        } else {
            (None, filled_rx)
        };
        let writer = scope.spawn(move || -> io::Result<(u64, Option<String>)> {
            let mut encoder = Encoder::new(file, compression)?;
            for chunk in to_write {
                encoder.write_all(&chunk)?;
                let _ = empty.send(chunk);
            }
            encoder.finish()
        });
        let mut records = 0;
        let mut fed = Ok(());
        loop {
            let mut chunk = empty_rx.try_recv().unwrap_or_else(|_| new_chunk());
            match fill(&mut chunk) {
                Ok(0) => break,
                Ok(n) => records += n,
                Err(e) => {
                    fed = Err(e);
                    break;
                }
            }
            if filled.send(chunk).is_err() {
                break;
            }
        }
        drop(filled);
        let hashed = hasher.map(|h| h.join().map_err(|_| io::Error::other("the hashing thread panicked")));
        let written = writer.join().unwrap_or_else(|_| Err(io::Error::other("the writer thread panicked")));
        fed?;
        let (bytes, encoded) = written?;
        let sha256 = match (hashed, encoded) {
            (Some(h), _) => h?,
            (None, Some(h)) => h,
            (None, None) => unreachable!("a plain file has a hasher, a compressed one is hashed as it is encoded"),
        };
        Ok((records, bytes, sha256))
    })
}

/// A `fill` over lines held in memory.
#[cfg(test)]
fn fill_from<'l>(lines: &'l [&'l [u8]]) -> impl FnMut(&mut Vec<u8>) -> io::Result<usize> + Send + 'l {
    let mut rest = lines.iter();
    move |buf| {
        buf.clear();
        let mut n = 0;
        while buf.len() < PIPE_CHUNK {
            let Some(line) = rest.next() else { break };
            buf.extend_from_slice(line);
            buf.push(b'\n');
            n += 1;
        }
        Ok(n)
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Where an export goes.
enum Destination {
    /// A folder of splits: built whole in a hidden staging folder beside it, then swapped in.
    Folder { dir: PathBuf, staging: tempfile::TempDir, keep: Vec<PathBuf> },
    /// One named file (and its `.export.json`) in `dir`.
    Files { dir: PathBuf, staged: Vec<Staged> },
}

/// Why an export folder cannot be written into.
#[derive(Debug)]
pub enum OutputError {
    /// The folder holds files that no earlier export wrote (listed, relative to it).
    Foreign(Vec<PathBuf>),
    Io(io::Error),
}

impl From<io::Error> for OutputError {
    fn from(e: io::Error) -> Self {
        OutputError::Io(e)
    }
}

/// Every file of one export, staged until `commit`.
pub struct Outputs {
    dest: Destination,
    pub files: Vec<FileInfo>,
}

/// The manifest of an export folder.
pub const MANIFEST: &str = "export.json";

/// The files an earlier export wrote into `dir`, as its `export.json` lists them
/// (with `export.json` itself). Empty when there is none.
pub fn previous_export(dir: &Path) -> Vec<PathBuf> {
    let Ok(text) = crate::open::read_to_string(&dir.join(MANIFEST), 64 << 20) else { return Vec::new() };
    let Ok(doc) = serde_json::from_str::<serde_json::Value>(&text) else { return Vec::new() };
    let listed = doc["files"].as_array().into_iter().flatten().filter_map(|f| f["path"].as_str());
    // Only plain relative paths: a hand-edited manifest must not name files elsewhere.
    let safe = |p: &&str| Path::new(p).components().all(|c| matches!(c, std::path::Component::Normal(_)));
    std::iter::once(MANIFEST).chain(listed.filter(safe)).map(PathBuf::from).collect()
}

/// Every file below `dir`, relative to it (folders are implied by their files).
fn files_below(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for entry in walkdir::WalkDir::new(dir).min_depth(1).sort_by_file_name() {
        let entry = entry.map_err(io::Error::other)?;
        if !entry.file_type().is_dir() {
            found.push(entry.path().strip_prefix(dir).map_err(io::Error::other)?.to_path_buf());
        }
    }
    Ok(found)
}

impl Outputs {
    /// An export into the folder `dir`. The files an earlier export listed in its
    /// `export.json` are replaced as part of the commit; any other file makes this refuse
    /// (`OutputError::Foreign`) unless `keep_others`, which keeps them beside the new files.
    pub fn folder(dir: &Path, keep_others: bool) -> Result<Outputs, OutputError> {
        let mut keep = Vec::new();
        if dir.is_dir() {
            let previous: std::collections::HashSet<PathBuf> = previous_export(dir).into_iter().collect();
            let foreign: Vec<PathBuf> = files_below(dir)?.into_iter().filter(|f| !previous.contains(f)).collect();
            if !foreign.is_empty() && !keep_others {
                return Err(OutputError::Foreign(foreign));
            }
            keep = foreign;
        } else if dir.exists() {
            return Err(OutputError::Io(io::Error::new(io::ErrorKind::AlreadyExists, "it exists and is not a folder")));
        }
        let parent = match dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&parent)?;
        crate::write::remove_stale_temporaries(&parent);
        let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("export");
        let staging = crate::write::staging_dir(&parent, name)?;
        Ok(Outputs { dest: Destination::Folder { dir: dir.to_path_buf(), staging, keep }, files: Vec::new() })
    }

    /// An export into one named file in `dir` (plus its side files).
    pub fn file(dir: &Path) -> io::Result<Outputs> {
        std::fs::create_dir_all(dir)?;
        crate::write::remove_stale_temporaries(dir);
        Ok(Outputs { dest: Destination::Files { dir: dir.to_path_buf(), staged: Vec::new() }, files: Vec::new() })
    }

    /// A folder for scratch files on the same filesystem as the output.
    pub fn scratch_dir(&self) -> &Path {
        match &self.dest {
            Destination::Folder { staging, .. } => staging.path(),
            Destination::Files { dir, .. } => dir,
        }
    }

    /// Open a file to fill, under `name` relative to the output.
    fn open(&mut self, name: &str) -> io::Result<Sink> {
        match &mut self.dest {
            Destination::Folder { staging, .. } => {
                let path = staging.path().join(name);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                // Readable too: a data file streamed while the threads came may be read back (`Lines`).
                let file = std::fs::OpenOptions::new().read(true).write(true).create_new(true).open(&path)?;
                #[cfg(unix)]
                file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(crate::write::NEW_FILE_MODE))?;
                Ok(Sink::Plain(file))
            }
            Destination::Files { dir, .. } => Ok(Sink::Staged(stage_empty(&dir.join(name))?)),
        }
    }

    fn close(&mut self, sink: Sink) {
        if let (Destination::Files { staged, .. }, Sink::Staged(s)) = (&mut self.dest, sink) {
            staged.push(s);
        }
    }

    /// Write data files, two at a time (a split's file beside the next one's, so that a small
    /// validation split does not wait for the training split). Each `fill` replaces the
    /// contents of the buffer it is given (a recycled one) with whole records (lines with
    /// their newlines), about `PIPE_CHUNK` bytes, and says how many: 0 only at the end. The files are listed in
    /// the order given, whatever order they finish in.
    pub fn write_files<F>(&mut self, data: Vec<DataFile<F>>) -> io::Result<()>
    where
        F: FnMut(&mut Vec<u8>) -> io::Result<usize> + Send,
    {
        use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
        let mut sinks = Vec::with_capacity(data.len());
        for d in &data {
            sinks.push(self.open(&d.name)?);
        }
        let queue = std::sync::Mutex::new(sinks.iter().zip(data).enumerate());
        let failed = AtomicBool::new(false);
        let mut results: Vec<Option<io::Result<FileInfo>>> = sinks.iter().map(|_| None).collect();
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..sinks.len().min(2))
                .map(|_| {
                    scope.spawn(|| {
                        let mut done = Vec::new();
                        while !failed.load(Relaxed) {
                            let Some((k, (sink, d))) = queue.lock().expect("no panics while held").next() else { break };
                            let info = pipe(sink.file(), d.compression, d.fill).map(|(records, bytes, sha256)| {
                                FileInfo { path: d.name, split: d.split, records: Some(records), bytes, sha256 }
                            });
                            failed.fetch_or(info.is_err(), Relaxed);
                            done.push((k, info));
                        }
                        done
                    })
                })
                .collect();
            for worker in workers {
                for (k, info) in worker.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)) {
                    results[k] = Some(info);
                }
            }
        });
        let mut outcome = Ok(());
        for (sink, result) in sinks.into_iter().zip(results) {
            // `None`: not started, after another file failed (that failure is returned).
            match result {
                Some(Ok(info)) => self.files.push(info),
                Some(Err(e)) if outcome.is_ok() => outcome = Err(e),
                _ => {}
            }
            self.close(sink);
        }
        outcome
    }

    /// A data file filled while the export runs (`export --partitions`): chunks of whole lines
    /// sent to it go down the same pipeline as `write_files`' (hash, compress, write, synced
    /// every few megabytes) on threads of its own, so the durable write overlaps the work.
    pub fn stream(&mut self, name: &str, split: Option<String>, compression: Compression) -> io::Result<Stream> {
        let sink = self.open(name)?;
        let file = sink.file().try_clone()?;
        self.close(sink);
        // Two chunks in flight: the sender waits (and the workers with it) rather than let lines pile up in memory.
        let (tx, rx) = std::sync::mpsc::sync_channel::<(Vec<u8>, usize)>(2);
        // Written chunks go back to be filled again: a fresh megabyte per chunk was a page
        // fault and a zeroed page every 4 KB of the export's output.
        let (back, emptied) = std::sync::mpsc::channel::<Vec<u8>>();
        let handle = std::thread::spawn(move || {
            let written = pipe(&file, compression, move |buf| match rx.recv() {
                Ok((chunk, records)) => {
                    let mut used = std::mem::replace(buf, chunk);
                    used.clear();
                    let _ = back.send(used);
                    Ok(records)
                }
                Err(_) => Ok(0),
            });
            // Handed back, to read the lines again (`Lines`).
            written.map(|w| (w, file))
        });
        Ok(Stream { tx: Some(tx), emptied: emptied.into(), handle: Some(handle), name: name.to_string(), split })
    }

    /// Leave out a data file staged under `name` (one streamed in vain: its split is written
    /// again after the run). A descriptor still open on it keeps its bytes readable.
    pub fn discard(&mut self, name: &str) -> io::Result<()> {
        match &mut self.dest {
            Destination::Folder { staging, .. } => std::fs::remove_file(staging.path().join(name)),
            Destination::Files { dir, staged } => {
                let target = dir.join(name);
                staged.retain(|s| s.target() != target);
                Ok(())
            }
        }
    }

    /// Write a small side file (configuration snippets); hashed but not listed as data.
    pub fn write_side_file(&mut self, name: &str, bytes: &[u8]) -> io::Result<FileInfo> {
        self.write_side_file_with(name, |w| w.write_all(bytes))
    }

    /// A side file written as it is made (an `export.json` with a long list in it).
    pub fn write_side_file_with(
        &mut self,
        name: &str,
        write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    ) -> io::Result<FileInfo> {
        let sink = self.open(name)?;
        let (hash, bytes) = {
            let mut w = Hashing { inner: io::BufWriter::new(sink.file()), hash: Sha256::new(), bytes: 0 };
            write(&mut w)?;
            w.flush()?;
            (w.hash, w.bytes)
        };
        self.close(sink);
        Ok(FileInfo { path: name.to_string(), split: None, records: None, bytes, sha256: hex(&hash.finalize()) })
    }

    /// Make everything durable, then put it in place in one step: a folder export is
    /// swapped with the previous folder (or renamed into place) at once, so a reader or a
    /// kill sees the whole old export or the whole new one; the old one is then removed.
    pub fn commit(self) -> io::Result<()> {
        match self.dest {
            Destination::Files { dir, staged } => {
                make_durable(&staged.iter().collect::<Vec<_>>())?;
                for s in staged {
                    s.commit()?;
                }
                sync_dirs([dir.as_path()]);
                Ok(())
            }
            Destination::Folder { dir, staging, keep } => {
                for rel in &keep {
                    let (from, to) = (dir.join(rel), staging.path().join(rel));
                    if to.symlink_metadata().is_ok() {
                        continue;
                    }
                    if let Some(p) = to.parent() {
                        std::fs::create_dir_all(p)?;
                    }
                    // A second name for the same file: the original stays where it is
                    // until the swap, so a kill before it loses nothing.
                    match std::fs::read_link(&from) {
                        Ok(target) => std::os::unix::fs::symlink(target, &to)?,
                        Err(_) => std::fs::hard_link(&from, &to)?,
                    }
                }
                crate::write::sync_tree(staging.path())?;
                let staged = staging.keep();
                let parent = staged.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
                if dir.is_dir() {
                    crate::write::exchange(&staged, &dir)?;
                    sync_dirs([parent.as_path()]);
                    // `staged` now holds the previous export; a kill here leaves only a hidden
                    // temporary folder, removed by the next export into this parent.
                    std::fs::remove_dir_all(&staged)?;
                } else {
                    crate::write::rename_no_replace(&staged, &dir)?;
                }
                sync_dirs([parent.as_path()]);
                Ok(())
            }
        }
    }
}

/// A data file being filled as lines come (`Outputs::stream`).
pub struct Stream {
    tx: Option<std::sync::mpsc::SyncSender<(Vec<u8>, usize)>>,
    /// Chunks the pipeline is done with (in a mutex only so that the spool that holds the
    /// stream can be shared by reference; one thread takes from it).
    emptied: std::sync::Mutex<std::sync::mpsc::Receiver<Vec<u8>>>,
    /// Records, bytes, SHA-256, and the file.
    handle: Option<std::thread::JoinHandle<io::Result<(Piped, std::fs::File)>>>,
    name: String,
    split: Option<String>,
}

impl Stream {
    /// Whole lines with their newlines, `records` of them. An error is the pipeline's own
    /// (a full disk, most often).
    pub fn send(&mut self, chunk: Vec<u8>, records: usize) -> io::Result<()> {
        if self.tx.as_ref().is_some_and(|tx| tx.send((chunk, records)).is_ok()) {
            return Ok(());
        }
        self.tx = None;
        match self.join() {
            Err(e) => Err(e),
            Ok(_) => Err(io::Error::other(format!("{}: its writer stopped", self.name))),
        }
    }

    /// A chunk to fill: one the pipeline is done with, or a new one.
    fn empty_chunk(&self) -> Vec<u8> {
        let emptied = self.emptied.lock().ok().and_then(|r| r.try_recv().ok());
        emptied.unwrap_or_else(new_chunk)
    }

    fn join(&mut self) -> io::Result<(Piped, std::fs::File)> {
        match self.handle.take() {
            Some(h) => h.join().unwrap_or_else(|_| Err(io::Error::other("the writer thread panicked"))),
            None => Err(io::Error::other(format!("{}: its writer stopped", self.name))),
        }
    }

    /// No more lines: wait for the file to be written; list it, and keep it open to read back.
    fn finish(mut self) -> io::Result<(FileInfo, std::fs::File)> {
        self.tx = None;
        let ((records, bytes, sha256), file) = self.join()?;
        let info = FileInfo { path: std::mem::take(&mut self.name), split: self.split.take(), records: Some(records), bytes, sha256 };
        Ok((info, file))
    }
}

/// Lines on their way into a streamed data file, gathered into chunks of `PIPE_CHUNK`.
pub struct Lines {
    stream: Stream,
    chunk: Vec<u8>,
    records: usize,
    /// Bytes taken so far: where the next line starts in the file (uncompressed).
    bytes: u64,
}

/// A chunk's buffer: room for `PIPE_CHUNK` and the line that crosses its end (most are ~10 KB).
fn new_chunk() -> Vec<u8> {
    Vec::with_capacity(PIPE_CHUNK + (PIPE_CHUNK >> 4))
}

impl Lines {
    pub fn new(stream: Stream) -> Lines {
        Lines { stream, chunk: new_chunk(), records: 0, bytes: 0 }
    }

    /// Add one line (without its newline); where it starts in the file.
    pub fn push(&mut self, line: &[u8]) -> io::Result<u64> {
        let at = self.bytes;
        self.chunk.extend_from_slice(line);
        self.chunk.push(b'\n');
        self.records += 1;
        self.bytes += line.len() as u64 + 1;
        if self.chunk.len() >= PIPE_CHUNK {
            let chunk = std::mem::replace(&mut self.chunk, self.stream.empty_chunk());
            self.stream.send(chunk, std::mem::take(&mut self.records))?;
        }
        Ok(at)
    }

    /// Bytes taken so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Every line written: the file listed, and open to read back (a plain file's lines are
    /// at the offsets `push` gave).
    pub fn finish(mut self) -> io::Result<(FileInfo, std::fs::File)> {
        if self.records > 0 {
            self.stream.send(std::mem::take(&mut self.chunk), self.records)?;
        }
        self.stream.finish()
    }
}

impl Drop for Stream {
    /// On the paths that fail before `finish`: the writer sees the end of its lines and stops.
    fn drop(&mut self) {
        self.tx = None;
        let _ = self.join();
    }
}

/// An output file being filled.
enum Sink {
    Plain(std::fs::File),
    Staged(Staged),
}

impl Sink {
    fn file(&self) -> &std::fs::File {
        match self {
            Sink::Plain(f) => f,
            Sink::Staged(s) => s.file(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data<'l>(name: &str, compression: Compression, lines: &'l [&'l [u8]]) -> DataFile<impl FnMut(&mut Vec<u8>) -> io::Result<usize> + Send + 'l> {
        DataFile { name: name.into(), split: Some("train".into()), compression, fill: fill_from(lines) }
    }

    fn write(compression: Compression) -> (Vec<u8>, FileInfo) {
        let dir = tempfile::tempdir().unwrap();
        let mut out = Outputs::file(dir.path()).unwrap();
        out.write_files(vec![data("x.jsonl", compression, &[b"{\"a\":1}", b"{\"b\":2}"])]).unwrap();
        let info = out.files[0].clone();
        assert!(!dir.path().join("x.jsonl").exists(), "nothing is visible before commit");
        out.commit().unwrap();
        (std::fs::read(dir.path().join("x.jsonl")).unwrap(), info)
    }

    /// Past a few write-back chunks, so the sync helper runs while lines are written.
    #[test]
    fn a_large_file_is_written_whole_while_synced() {
        let dir = tempfile::tempdir().unwrap();
        let mut out = Outputs::file(dir.path()).unwrap();
        let line = vec![b'x'; 100_000];
        let n = (3 * WRITEBACK_CHUNK as usize) / line.len() + 1;
        let lines: Vec<&[u8]> = (0..n).map(|_| line.as_slice()).collect();
        out.write_files(vec![data("big.jsonl", Compression::None, &lines)]).unwrap();
        let info = out.files[0].clone();
        out.commit().unwrap();
        let written = std::fs::read(dir.path().join("big.jsonl")).unwrap();
        assert_eq!(written.len(), n * (line.len() + 1));
        assert_eq!((info.bytes, info.sha256), (written.len() as u64, hex(&Sha256::digest(&written))));
    }

    /// Files written side by side are listed in the order given, each whole and hashed; a
    /// source that fails fails the whole call.
    #[test]
    fn files_written_together_are_each_whole_and_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut out = Outputs::file(dir.path()).unwrap();
        let contents: Vec<Vec<Vec<u8>>> = (0..5)
            .map(|f| (0..(f * 40 + 1)).map(|i| format!("{{\"f\":{f},\"i\":{i},\"pad\":\"{}\"}}", "x".repeat(60_000)).into_bytes()).collect())
            .collect();
        let borrowed: Vec<Vec<&[u8]>> = contents.iter().map(|ls| ls.iter().map(Vec::as_slice).collect()).collect();
        let files = borrowed.iter().enumerate().map(|(f, ls)| data(&format!("f{f}.jsonl"), Compression::None, ls)).collect();
        out.write_files(files).unwrap();
        let listed: Vec<String> = out.files.iter().map(|i| i.path.clone()).collect();
        assert_eq!(listed, ["f0.jsonl", "f1.jsonl", "f2.jsonl", "f3.jsonl", "f4.jsonl"]);
        let infos = out.files.clone();
        out.commit().unwrap();
        for (f, info) in infos.iter().enumerate() {
            let written = std::fs::read(dir.path().join(&info.path)).unwrap();
            let expected: Vec<u8> = contents[f].iter().flat_map(|l| l.iter().copied().chain([b'\n'])).collect();
            assert!(written == expected, "file {f}");
            assert_eq!(info.records, Some(contents[f].len()));
            assert_eq!((info.bytes, info.sha256.clone()), (written.len() as u64, hex(&Sha256::digest(&written))));
        }

        let dir = tempfile::tempdir().unwrap();
        let mut out = Outputs::file(dir.path()).unwrap();
        let mut calls = 0;
        let failing = move |buf: &mut Vec<u8>| {
            calls += 1;
            buf.clear();
            buf.extend_from_slice(b"{}\n");
            if calls < 3 { Ok(1) } else { Err(io::Error::other("the spool went away")) }
        };
        let ok = &[b"{}".as_slice()][..];
        let err = out
            .write_files(vec![
                DataFile { name: "a.jsonl".into(), split: None, compression: Compression::Zstd, fill: Box::new(fill_from(ok)) as Box<dyn FnMut(&mut Vec<u8>) -> io::Result<usize> + Send> },
                DataFile { name: "b.jsonl".into(), split: None, compression: Compression::None, fill: Box::new(failing) },
            ])
            .unwrap_err();
        assert_eq!(err.to_string(), "the spool went away");
        drop(out);
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert!(left.is_empty(), "nothing is left behind: {left:?}");
    }

    #[test]
    fn compressed_output_round_trips_and_is_deterministic() {
        let (plain, info) = write(Compression::None);
        assert_eq!(plain, b"{\"a\":1}\n{\"b\":2}\n");
        assert_eq!(info.sha256, hex(&Sha256::digest(&plain)));
        let (gz, _) = write(Compression::Gzip);
        assert_eq!(gz, write(Compression::Gzip).0);
        let mut back = Vec::new();
        io::Read::read_to_end(&mut flate2::read::GzDecoder::new(gz.as_slice()), &mut back).unwrap();
        assert_eq!(back, plain);
        let (zst, info) = write(Compression::Zstd);
        assert_eq!(zstd::decode_all(zst.as_slice()).unwrap(), plain);
        assert_eq!(info.bytes, zst.len() as u64);
    }
}
