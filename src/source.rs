//! Reading and parsing: bytes from disk to JSON values, keeping the text for spans.
//! `.json` files hold one thread; `.jsonl` files one per line, read a line at a time.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use serde_json::Value;

use crate::diagnostic::{Diagnostic, Location};
use crate::rules;
use crate::span;

/// One thread's text: a whole `.json` file, or one line of a `.jsonl` file.
#[derive(Debug)]
pub struct RecordText {
    /// 1-based line of a JSONL record; `None` for a `.json` file.
    pub record: Option<usize>,
    pub text: String,
}

/// A problem that stops a record (or a whole file) before it is parsed.
pub type Failure = Box<Diagnostic>;

pub fn is_jsonl(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "jsonl")
}

/// Read a `.json` file whole, refusing files over `max_size` before reading them.
pub fn read_whole(path: &Path, max_size: u64) -> Result<String, Failure> {
    let file = File::open(path).map_err(|e| io_failure(&e))?;
    let len = file.metadata().map_err(|e| io_failure(&e))?.len();
    if len > max_size {
        return Err(too_large(len, max_size));
    }
    let mut bytes = Vec::with_capacity(len as usize + 1);
    // `take` guards against a file that grows while we read it.
    file.take(max_size + 1).read_to_end(&mut bytes).map_err(|e| io_failure(&e))?;
    if bytes.len() as u64 > max_size {
        return Err(too_large(bytes.len() as u64, max_size));
    }
    decode(bytes)
}

/// A JSONL file, or one compressed as export writes them (`.jsonl.gz`, `.jsonl.zst`).
pub fn is_training_file(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    [".jsonl", ".jsonl.gz", ".jsonl.zst"].iter().any(|e| name.ends_with(e))
}

/// Call `each` with every non-blank line of a JSONL file, in order (`.gz` and `.zst` are
/// decompressed on the fly). Only one line is held at a time.
pub fn for_each_line(
    path: &Path,
    max_size: u64,
    each: impl FnMut(Result<RecordText, (usize, Failure)>),
) -> Result<(), Failure> {
    let file = File::open(path).map_err(|e| io_failure(&e))?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if name.ends_with(".gz") {
        for_each_line_of(flate2::read::MultiGzDecoder::new(file), max_size, each)
    } else if name.ends_with(".zst") {
        let decoder = zstd::stream::read::Decoder::new(file).map_err(|e| io_failure(&e))?;
        for_each_line_of(decoder, max_size, each)
    } else {
        for_each_line_of(file, max_size, each)
    }
}

fn for_each_line_of(
    input: impl Read,
    max_size: u64,
    mut each: impl FnMut(Result<RecordText, (usize, Failure)>),
) -> Result<(), Failure> {
    let mut reader = BufReader::with_capacity(1 << 16, input);
    let mut buf = Vec::new();
    let mut line_no = 0usize;
    loop {
        buf.clear();
        let n = (&mut reader).take(max_size + 1).read_until(b'\n', &mut buf).map_err(|e| io_failure(&e))?;
        if n == 0 {
            return Ok(());
        }
        line_no += 1;
        if buf.last() != Some(&b'\n') && n as u64 > max_size {
            each(Err((line_no, too_large(n as u64, max_size))));
            // Skip the rest of the oversized line.
            let mut sink = Vec::new();
            reader.read_until(b'\n', &mut sink).map_err(|e| io_failure(&e))?;
            continue;
        }
        if buf.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match decode(std::mem::take(&mut buf)) {
            Ok(text) => each(Ok(RecordText { record: Some(line_no), text })),
            Err(f) => each(Err((line_no, f))),
        }
    }
}

fn decode(bytes: Vec<u8>) -> Result<String, Failure> {
    match String::from_utf8(bytes) {
        Ok(mut s) => {
            if s.starts_with('\u{feff}') {
                s.drain(..3);
            }
            Ok(s)
        }
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let bytes = e.into_bytes();
            let lossy = String::from_utf8_lossy(&bytes[..at]);
            let (line, column) = span::line_column(&lossy, lossy.len());
            Err(Box::new(
                Diagnostic::new(
                    &rules::INVALID_UTF8,
                    "",
                    format!("invalid UTF-8 byte 0x{:02x} at line {line}, column {column}", bytes[at]),
                )
                .at(Location { offset: at, len: 1, line, column }),
            ))
        }
    }
}

/// Parse one record. Syntax errors carry their own location.
pub fn parse(text: &str) -> Result<Value, Failure> {
    if text.trim().is_empty() {
        return Err(Box::new(Diagnostic::new(&rules::EMPTY_FILE, "", "the file is empty").at(Location {
            offset: 0,
            len: 0,
            line: 1,
            column: 1,
        })));
    }
    serde_json::from_str(text).map_err(|e| {
        let (line, column) = (e.line().max(1), e.column().max(1));
        let offset = byte_offset(text, line, column);
        let what = e.to_string();
        let what = what.rsplit_once(" at line ").map_or(what.as_str(), |(m, _)| m).to_string();
        let message = match e.classify() {
            serde_json::error::Category::Eof => {
                format!("the JSON ends too early ({what}): the file is truncated")
            }
            _ if what.contains("recursion limit") => "nesting deeper than 128 levels: not a thread".to_string(),
            _ => format!("JSON syntax error: {what}"),
        };
        Box::new(Diagnostic::new(&rules::INVALID_JSON, "", message).with_label("here").at(Location {
            offset,
            len: usize::from(offset < text.len()),
            line,
            column: span::line_column(text, offset).1,
        }))
    })
}

/// serde_json reports columns in bytes; turn (line, byte column) into a byte offset.
fn byte_offset(text: &str, line: usize, column: usize) -> usize {
    let start: usize = text.split_inclusive('\n').take(line - 1).map(str::len).sum();
    let mut offset = (start + column.saturating_sub(1)).min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

fn too_large(len: u64, max: u64) -> Failure {
    Box::new(
        Diagnostic::new(
            &rules::FILE_TOO_LARGE,
            "",
            format!(
                "{} is larger than the {} limit; raise it with --max-file-size if this really is a thread",
                human_bytes(len),
                human_bytes(max)
            ),
        )
        .at(Location { offset: 0, len: 0, line: 1, column: 1 }),
    )
}

pub fn io_failure(e: &std::io::Error) -> Failure {
    Box::new(
        Diagnostic::new(&rules::IO_ERROR, "", format!("cannot read the file: {}", crate::walk::describe_io(e)))
            .at(Location { offset: 0, len: 0, line: 1, column: 1 }),
    )
}

pub fn human_bytes(n: u64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    if n >= 1 << 20 {
        format!("{:.1} MiB", n as f64 / MIB)
    } else if n >= 1 << 10 {
        format!("{:.1} KiB", n as f64 / 1024.0)
    } else {
        format!("{n} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_json_is_located_at_the_end() {
        let err = parse("{\n  \"id\": \"x\",\n  \"messages\": [").unwrap_err();
        assert_eq!(err.rule.code, "TK003");
        assert!(err.message.contains("truncated"), "{}", err.message);
        assert_eq!(err.location.unwrap().line, 3);
    }

    #[test]
    fn deep_nesting_is_refused_without_overflow() {
        let deep = "[".repeat(100_000);
        let err = parse(&deep).unwrap_err();
        assert!(err.message.contains("128"), "{}", err.message);
    }

    #[test]
    fn invalid_utf8_names_the_byte() {
        let err = decode(b"{\"a\": \"caf\xe9\"}".to_vec()).unwrap_err();
        assert_eq!(err.rule.code, "TK002");
        assert!(err.message.contains("0xe9") && err.message.contains("column 11"), "{}", err.message);
    }

    #[test]
    fn bom_is_dropped() {
        assert_eq!(decode("\u{feff}{}".as_bytes().to_vec()).unwrap(), "{}");
    }

    #[test]
    fn empty_and_blank() {
        assert_eq!(parse("  \n").unwrap_err().rule.code, "TK004");
    }
}
