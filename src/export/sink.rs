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

type FileWriter<'a> = Hashing<BufWriter<&'a std::fs::File>>;

enum Encoder<'a> {
    Plain(FileWriter<'a>),
    Gzip(flate2::write::GzEncoder<FileWriter<'a>>),
    Zstd(zstd::stream::write::Encoder<'static, FileWriter<'a>>),
}

impl<'a> Encoder<'a> {
    fn new(file: &'a std::fs::File, compression: Compression) -> io::Result<Encoder<'a>> {
        let w = Hashing { inner: BufWriter::with_capacity(1 << 16, file), hash: Sha256::new(), bytes: 0 };
        Ok(match compression {
            Compression::None => Encoder::Plain(w),
            // mtime 0 and no file name: the same input gives the same bytes.
            Compression::Gzip => {
                Encoder::Gzip(flate2::GzBuilder::new().mtime(0).write(w, flate2::Compression::default()))
            }
            Compression::Zstd => Encoder::Zstd(zstd::stream::write::Encoder::new(w, 3)?),
        })
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Encoder::Plain(w) => w.write_all(buf),
            Encoder::Gzip(w) => w.write_all(buf),
            Encoder::Zstd(w) => w.write_all(buf),
        }
    }

    fn finish(self) -> io::Result<(u64, String)> {
        let mut w = match self {
            Encoder::Plain(w) => w,
            Encoder::Gzip(w) => w.finish()?,
            Encoder::Zstd(w) => w.finish()?,
        };
        w.flush()?;
        let digest = w.hash.finalize();
        Ok((w.bytes, hex(&digest)))
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Every file of one export, staged until `commit`.
pub struct Outputs {
    dir: PathBuf,
    staged: Vec<Staged>,
    pub files: Vec<FileInfo>,
}

impl Outputs {
    pub fn new(dir: &Path) -> io::Result<Outputs> {
        std::fs::create_dir_all(dir)?;
        crate::write::remove_stale_temporaries(dir);
        Ok(Outputs { dir: dir.to_path_buf(), staged: Vec::new(), files: Vec::new() })
    }

    /// Write one file from a stream of lines (each without its newline).
    pub fn write_lines<'l>(
        &mut self,
        name: &str,
        split: Option<&str>,
        compression: Compression,
        lines: impl Iterator<Item = io::Result<std::borrow::Cow<'l, [u8]>>>,
    ) -> io::Result<()> {
        let staged = stage_empty(&self.dir.join(name))?;
        let mut encoder = Encoder::new(staged.file(), compression)?;
        let mut records = 0;
        for line in lines {
            encoder.write_all(&line?)?;
            encoder.write_all(b"\n")?;
            records += 1;
        }
        let (bytes, sha256) = encoder.finish()?;
        self.files.push(FileInfo {
            path: name.to_string(),
            split: split.map(str::to_string),
            records: Some(records),
            bytes,
            sha256,
        });
        self.staged.push(staged);
        Ok(())
    }

    /// Write a small side file (configuration snippets); hashed but not listed as data.
    pub fn write_side_file(&mut self, name: &str, bytes: &[u8]) -> io::Result<FileInfo> {
        let staged = crate::write::stage(&self.dir.join(name), bytes)?;
        let digest = Sha256::digest(bytes);
        self.staged.push(staged);
        Ok(FileInfo {
            path: name.to_string(),
            split: None,
            records: None,
            bytes: bytes.len() as u64,
            sha256: hex(&digest),
        })
    }

    /// Make everything durable, then rename it all into place.
    pub fn commit(self) -> io::Result<()> {
        make_durable(&self.staged.iter().collect::<Vec<_>>())?;
        for s in self.staged {
            s.commit()?;
        }
        sync_dirs([self.dir.as_path()]);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    fn write(compression: Compression) -> (Vec<u8>, FileInfo) {
        let dir = tempfile::tempdir().unwrap();
        let mut out = Outputs::new(dir.path()).unwrap();
        let lines = ["{\"a\":1}", "{\"b\":2}"].into_iter().map(|l| Ok(Cow::Borrowed(l.as_bytes())));
        out.write_lines("x.jsonl", Some("train"), compression, lines).unwrap();
        let info = out.files[0].clone();
        assert!(!dir.path().join("x.jsonl").exists(), "nothing is visible before commit");
        out.commit().unwrap();
        (std::fs::read(dir.path().join("x.jsonl")).unwrap(), info)
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
