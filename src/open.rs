//! Opening input files. Every file threadkit reads is opened here: regular files only,
//! checked on the opened handle (never by path first, which a swap could race), and
//! opened without blocking, so a FIFO or device where a file should be is an error
//! instead of a hang. Reads are bounded: a file is never read past the limit given.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// Open `path` for reading if it is a regular file.
pub fn open(path: &Path) -> io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // A FIFO opened for reading blocks until a writer appears; O_NONBLOCK returns at once.
        // It has no effect on regular files, the only kind read further.
        options.custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32);
    }
    let file = options.open(path)?;
    let kind = file.metadata()?.file_type();
    if !kind.is_file() {
        let what = if kind.is_dir() { "a folder" } else { "not a regular file (a FIFO, device or socket)" };
        return Err(io::Error::new(io::ErrorKind::InvalidInput, what));
    }
    Ok(file)
}

/// Read a regular file whole, refusing one larger than `max` bytes (also one that grows
/// past it while being read).
pub fn read(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    let file = open(path)?;
    let len = file.metadata()?.len();
    if len > max {
        return Err(too_large(len, max));
    }
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(max.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(too_large(bytes.len() as u64, max));
    }
    Ok(bytes)
}

/// `read`, as UTF-8 text.
pub fn read_to_string(path: &Path, max: u64) -> io::Result<String> {
    String::from_utf8(read(path, max)?).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.utf8_error()))
}

fn too_large(len: u64, max: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::FileTooLarge,
        format!("{} is over the {} limit", crate::text::human_bytes(len), crate::text::human_bytes(max)),
    )
}

/// Limit for small JSON side files (manifests, labels, configuration, templates).
pub const MAX_SIDE_FILE: u64 = 256 << 20;

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn a_fifo_is_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("labels.json");
        rustix::fs::mknodat(rustix::fs::CWD, &fifo, rustix::fs::FileType::Fifo, rustix::fs::Mode::from(0o644), 0)
            .unwrap();
        let e = read(&fifo, 100).unwrap_err();
        assert!(e.to_string().contains("FIFO"), "{e}");
        assert!(read(dir.path(), 100).is_err());
    }

    #[test]
    fn reads_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x");
        std::fs::write(&p, "0123456789").unwrap();
        assert_eq!(read(&p, 10).unwrap().len(), 10);
        assert_eq!(read(&p, 9).unwrap_err().kind(), io::ErrorKind::FileTooLarge);
    }
}

/// An I/O error in words a user can act on.
pub fn describe_io(e: &std::io::Error) -> String {
    use std::io::ErrorKind::*;
    match e.kind() {
        PermissionDenied => "permission denied: check the file's owner and mode".into(),
        NotFound => "not found (a broken symlink?)".into(),
        _ => e.to_string(),
    }
}
