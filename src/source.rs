//! Reading and parsing: bytes from disk to JSON values, keeping the text for spans.
//! `.json` files hold one thread; `.jsonl` files one per line, read a line at a time.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use serde_json::Value;

use crate::diagnostic::{Diagnostic, Location};
use crate::rules::registry as rules;
use crate::span;

/// Files larger than this are not read whole (a finding says so; `--max-file-size` changes it).
pub const DEFAULT_MAX_FILE_SIZE: u64 = 32 * 1024 * 1024;

/// A thread file's name without `.json`: what its id must be.
pub fn file_stem(path: &Path) -> Option<String> {
    path.file_stem().and_then(|s| s.to_str()).map(str::to_string)
}

/// One thread's text: a whole `.json` file, or one line of a `.jsonl` file.
#[derive(Debug)]
pub struct RecordText {
    /// 1-based line of a JSONL record; `None` for a `.json` file.
    pub record: Option<usize>,
    pub text: String,
    /// A UTF-8 byte-order mark stood before the text (and was taken off it). Threads read
    /// on; training files report it, since Python's `json.loads` refuses such a line.
    pub bom: bool,
}

/// A problem that stops a record (or a whole file) before it is parsed.
pub type Failure = Box<Diagnostic>;

pub fn is_jsonl(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("jsonl"))
}

/// Read a `.json` file whole, refusing files over `max_size` before reading them.
pub fn read_whole(path: &Path, max_size: u64) -> Result<String, Failure> {
    read_whole_record(path, max_size).map(|rec| rec.text)
}

/// `read_whole` as the one record of a `.json` file, knowing whether a byte-order mark stood
/// before its text.
pub fn read_whole_record(path: &Path, max_size: u64) -> Result<RecordText, Failure> {
    match crate::open::read(path, max_size) {
        Ok(bytes) => {
            let bom = bytes.starts_with(BOM);
            decode(bytes).map(|text| RecordText { record: None, text, bom })
        }
        Err(e) if e.kind() == std::io::ErrorKind::FileTooLarge => {
            let len = std::fs::metadata(path).map_or(max_size.saturating_add(1), |m| m.len());
            Err(too_large(len.max(max_size.saturating_add(1)), max_size))
        }
        Err(e) => Err(io_failure(&e)),
    }
}

/// A JSONL file, or one compressed as export writes them (`.jsonl.gz`, `.jsonl.zst`).
pub fn is_training_file(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("").to_ascii_lowercase();
    [".jsonl", ".jsonl.gz", ".jsonl.zst"].iter().any(|e| name.ends_with(e))
}

/// A file read through a decompressor (`.gz`, `.zst`, any case).
pub fn is_compressed(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("").to_ascii_lowercase();
    name.ends_with(".gz") || name.ends_with(".zst")
}

/// A `.json` file (any case): one document (a thread, or for training files an array of examples).
pub fn is_json(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"))
}

/// Call `each` with every non-blank line of a JSONL file, in order (`.gz` and `.zst` are
/// decompressed on the fly). Only one line is held at a time.
pub fn for_each_line(
    path: &Path,
    max_size: u64,
    each: impl FnMut(Result<RecordText, (usize, Failure)>),
) -> Result<(), Failure> {
    for_each_line_of(decompressed(path)?, max_size, each)
}

/// A JSONL file's bytes, through its decompressor when it has one (`.gz`, `.zst`).
fn decompressed(path: &Path) -> Result<Box<dyn Read>, Failure> {
    let file = crate::open::open(path).map_err(|e| io_failure(&e))?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("").to_ascii_lowercase();
    Ok(if name.ends_with(".gz") {
        Box::new(flate2::read::MultiGzDecoder::new(file))
    } else if name.ends_with(".zst") {
        Box::new(zstd::stream::read::Decoder::new(file).map_err(|e| io_failure(&e))?)
    } else {
        Box::new(file)
    })
}

/// The first non-blank line of a JSONL file (decompressed) that `keep` accepts, read no further
/// than it and no more than `max_size` bytes. `None` when there is none or it cannot be read.
pub fn first_line<T>(path: &Path, max_size: u64, keep: impl Fn(&str) -> Option<T>) -> Option<T> {
    let mut reader = BufReader::new(decompressed(path).ok()?.take(max_size));
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let text = line.trim_start_matches('\u{feff}').trim();
        if let Some(kept) = Some(text).filter(|t| !t.is_empty()).and_then(&keep) {
            return Some(kept);
        }
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
        let n = (&mut reader).take(max_size.saturating_add(1)).read_until(b'\n', &mut buf).map_err(|e| io_failure(&e))?;
        if n == 0 {
            return Ok(());
        }
        line_no += 1;
        if buf.last() != Some(&b'\n') && n as u64 > max_size {
            // Skip the rest of the oversized line without holding it: memory stays at the
            // limit however long the line (a sparse file, a decompression bomb) is.
            let skipped = skip_line(&mut reader).map_err(|e| io_failure(&e))?;
            each(Err((line_no, too_large((n as u64).saturating_add(skipped), max_size))));
            buf = Vec::new();
            continue;
        }
        if buf.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let bom = buf.starts_with(BOM);
        match decode(std::mem::take(&mut buf)) {
            Ok(text) => each(Ok(RecordText { record: Some(line_no), text, bom })),
            Err(f) => each(Err((line_no, f))),
        }
    }
}

/// Consume input up to and including the next newline; returns how many bytes.
fn skip_line(reader: &mut impl BufRead) -> std::io::Result<u64> {
    let mut skipped = 0u64;
    loop {
        let chunk = reader.fill_buf()?;
        if chunk.is_empty() {
            return Ok(skipped);
        }
        match chunk.iter().position(|&b| b == b'\n') {
            Some(at) => {
                reader.consume(at + 1);
                return Ok(skipped + at as u64 + 1);
            }
            None => {
                let n = chunk.len();
                reader.consume(n);
                skipped += n as u64;
            }
        }
    }
}

const BOM: &[u8] = b"\xef\xbb\xbf";

/// Bytes as text: a leading byte-order mark taken off, invalid UTF-8 a TK diagnostic with its place.
pub fn decode(bytes: Vec<u8>) -> Result<String, Failure> {
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

/// Parse one record. Syntax errors carry their own location. Python's non-finite
/// numbers (`NaN`, `Infinity`, `-Infinity`) are read as `null` (`parse_full` says where).
pub fn parse(text: &str) -> Result<Value, Failure> {
    parse_full(text).map(|p| p.value)
}

/// A number Python's `json` writes but JSON has not: where it was and what it said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NonFinite {
    /// JSON Pointer of the value (read as `null`).
    pub pointer: String,
    /// `NaN`, `Infinity` or `-Infinity`.
    pub token: &'static str,
    pub offset: usize,
}

#[derive(Debug)]
pub struct Parsed {
    pub value: Value,
    /// Some object named a key twice (the last value is kept, as Python's `json` does;
    /// `span::duplicate_keys` finds where).
    pub duplicates: bool,
    pub non_finite: Vec<NonFinite>,
}

/// `parse`, with what the record had that strict JSON has not.
pub fn parse_full(text: &str) -> Result<Parsed, Failure> {
    match parse_strict(text) {
        Ok((value, duplicates)) => Ok(Parsed { value, duplicates, non_finite: Vec::new() }),
        Err(strict_error) => {
            // Only a text that fails as JSON is scanned for Python's tokens: files without
            // them pay nothing.
            let Some((same_length, found)) = python_tokens(text) else { return Err(strict_error) };
            let (mut value, duplicates) = parse_strict(&same_length).map_err(|_| strict_error)?;
            let non_finite: Vec<NonFinite> = found
                .into_iter()
                .map(|(offset, token)| NonFinite { pointer: span::pointer_at(&same_length, offset), token, offset })
                .collect();
            for n in &non_finite {
                if let Some(slot) = value.pointer_mut(&n.pointer) {
                    *slot = Value::Null;
                }
            }
            Ok(Parsed { value, duplicates, non_finite })
        }
    }
}

/// The text with every `NaN`, `Infinity` and `-Infinity` outside strings replaced by a
/// JSON value of the same length (so every offset stays where it was), and where they
/// were. `None` when there is none.
fn python_tokens(text: &str) -> Option<(String, Vec<(usize, &'static str)>)> {
    const TOKENS: [(&str, &str); 3] = [("-Infinity", "null     "), ("Infinity", "null    "), ("NaN", "0e0")];
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut found = Vec::new();
    let mut i = 0;
    let mut in_string = false;
    while i < b.len() {
        let c = b[i];
        if in_string {
            out.push(c);
            if c == b'\\' && i + 1 < b.len() {
                out.push(b[i + 1]);
                i += 2;
                continue;
            }
            in_string = c != b'"';
            i += 1;
            continue;
        }
        if c == b'"' {
            in_string = true;
            out.push(c);
            i += 1;
            continue;
        }
        if let Some((token, same)) = TOKENS.iter().find(|(t, _)| b[i..].starts_with(t.as_bytes())) {
            found.push((i, *token));
            out.extend_from_slice(same.as_bytes());
            i += token.len();
            continue;
        }
        out.push(c);
        i += 1;
    }
    if found.is_empty() {
        return None;
    }
    String::from_utf8(out).ok().map(|s| (s, found))
}

/// Findings for Python's non-finite numbers: a warning in legacy threads (Python wrote
/// them; `migrate` writes `null` and keeps the token to restore), an error with a fix in
/// `openai_v1` threads, whose readers reject them.
pub fn non_finite_findings(found: &[NonFinite], text: &str, legacy: bool) -> Vec<Diagnostic> {
    found
        .iter()
        .map(|n| {
            let (line, column) = span::line_column(text, n.offset);
            let mut d = Diagnostic::new(
                &rules::NON_FINITE,
                n.pointer.clone(),
                format!("`{}` is Python's {} float, not JSON; it is read as null", n.token, describe(n.token)),
            )
            .with_label("not JSON")
            .at(Location { offset: n.offset, len: n.token.len(), line, column });
            if legacy {
                d.severity = crate::diagnostic::Severity::Warning;
            } else {
                d = d.with_fix(vec![crate::diagnostic::Edit::Set { pointer: n.pointer.clone(), value: Value::Null }]);
            }
            d
        })
        .collect()
}

fn describe(token: &str) -> &'static str {
    match token {
        "NaN" => "not-a-number",
        "Infinity" => "infinite",
        _ => "negative infinite",
    }
}

fn parse_strict(text: &str) -> Result<(Value, bool), Failure> {
    if text.trim().is_empty() {
        return Err(Box::new(Diagnostic::new(&rules::EMPTY_FILE, "", "the file is empty").at(Location {
            offset: 0,
            len: 0,
            line: 1,
            column: 1,
        })));
    }
    DUPLICATE_SEEN.with(|d| d.set(false));
    let parsed = {
        use serde::Deserialize;
        let mut de = serde_json::Deserializer::from_str(text);
        Noting::deserialize(&mut de).and_then(|Noting(v)| de.end().map(|()| v))
    };
    let duplicates = DUPLICATE_SEEN.with(std::cell::Cell::get);
    parsed.map(|v| (v, duplicates)).map_err(|e| {
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

thread_local! {
    static DUPLICATE_SEEN: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// A `Value` built the way serde_json builds one, noting duplicate keys on the way
/// (free: the map insert that keeps the last value also says whether there was one).
struct Noting(Value);

impl<'de> serde::Deserialize<'de> for Noting {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NotingVisitor).map(Noting)
    }
}

struct NotingVisitor;

impl<'de> serde::de::Visitor<'de> for NotingVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(Noting(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let Noting(value) = map.next_value()?;
            if object.insert(key, value).is_some() {
                DUPLICATE_SEEN.with(|d| d.set(true));
            }
        }
        Ok(Value::Object(object))
    }
}

/// Findings for the keys a document names twice, each shown at its second occurrence
/// with the first one's line and column.
pub fn duplicate_key_findings(text: &str) -> Vec<Diagnostic> {
    span::duplicate_keys(text)
        .into_iter()
        .map(|d| {
            let (l1, c1) = span::line_column(text, d.first.0);
            let (line, column) = span::line_column(text, d.second.0);
            let at = if d.pointer.is_empty() { "the top level".to_string() } else { format!("the object at {}", d.pointer) };
            Diagnostic::new(
                &rules::DUPLICATE_KEY,
                d.pointer.clone(),
                format!("{at} names {:?} twice (first at line {l1}, column {c1}); readers disagree on which value counts", d.key),
            )
            .with_label(format!("again here (first at {l1}:{c1})"))
            .at(Location { offset: d.second.0, len: d.second.1 - d.second.0, line, column })
        })
        .collect()
}

/// A side file (a dataset's manifest or labels): strict JSON in which no object names a key
/// twice, or what is wrong with it, said for a message that names the file.
pub fn parse_side_file(text: &str) -> Result<Value, String> {
    // Strict: no NaN/Infinity fallback, as Python's `json` readers of these files are not lenient either.
    let (value, duplicates) = parse_strict(text).map_err(|d| format!("is not valid JSON: {}", d.message))?;
    let found = if duplicates { span::duplicate_keys(text) } else { Vec::new() };
    if let Some(d) = found.first() {
        let (l1, c1) = span::line_column(text, d.first.0);
        let (l2, c2) = span::line_column(text, d.second.0);
        let at = if d.pointer.is_empty() { "the top level".to_string() } else { format!("the object at {}", d.pointer) };
        return Err(format!(
            "names {:?} twice in {at} (line {l1}, column {c1} and line {l2}, column {c2}); readers disagree on which \
             value counts: keep one (TK013 duplicate-key)",
            d.key
        ));
    }
    Ok(value)
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
                "{} is larger than the {} limit; if it is meant to be this large, raise the limit with --max-file-size",
                crate::text::human_bytes(len),
                crate::text::human_bytes(max)
            ),
        )
        .at(Location { offset: 0, len: 0, line: 1, column: 1 }),
    )
}

pub fn io_failure(e: &std::io::Error) -> Failure {
    Box::new(
        Diagnostic::new(&rules::IO_ERROR, "", format!("cannot read the file: {}", crate::open::describe_io(e)))
            .at(Location { offset: 0, len: 0, line: 1, column: 1 }),
    )
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
    fn an_oversized_line_is_skipped_without_holding_it() {
        // 64 MiB of zeros (as a sparse file reads) and then two good lines.
        let zeros = std::io::repeat(0).take(64 << 20);
        let input = zeros.chain(&b"\n{\"a\": 1}\n{\"b\": 2}\n"[..]);
        let mut seen = Vec::new();
        for_each_line_of(input, 1 << 20, |r| seen.push(r.map(|t| t.text).map_err(|(l, f)| (l, f.rule.code)))).unwrap();
        assert_eq!(seen.len(), 3);
        assert_eq!(seen[0].as_ref().unwrap_err(), &(1, "TK005"));
        assert_eq!(seen[1].as_ref().unwrap(), "{\"a\": 1}\n");
    }

    #[test]
    fn duplicate_keys_are_noted_with_both_places() {
        let text = "{\n  \"a\": 1,\n  \"m\": [{\"k\": 1, \"k\": 2}],\n  \"a\": 3\n}";
        let p = parse_full(text).unwrap();
        let (v, dup) = (p.value, p.duplicates);
        assert!(dup);
        assert_eq!(v["a"], 3, "the last value counts, as in Python");
        let found = duplicate_key_findings(text);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].pointer, "/m/0");
        assert_eq!(found[1].pointer, "");
        assert!(found[1].message.contains("first at line 2, column 3"), "{}", found[1].message);
        assert_eq!(found[1].location.unwrap().line, 4);
        assert!(!parse_full("{\"a\": {\"a\": 1}}").unwrap().duplicates);
    }

    #[test]
    fn python_non_finite_numbers_are_read_as_null_and_located() {
        let text = "{\"std\": NaN, \"s\": \"NaN in a string\", \"r\": [Infinity, -Infinity, 1.5]}";
        let p = parse_full(text).unwrap();
        assert_eq!(p.value["std"], Value::Null);
        assert_eq!(p.value["s"], "NaN in a string");
        assert_eq!(p.value["r"], serde_json::json!([null, null, 1.5]));
        let where_: Vec<(&str, &str)> = p.non_finite.iter().map(|n| (n.pointer.as_str(), n.token)).collect();
        assert_eq!(where_, [("/std", "NaN"), ("/r/0", "Infinity"), ("/r/1", "-Infinity")]);
        assert_eq!(&text[p.non_finite[2].offset..p.non_finite[2].offset + 9], "-Infinity");
        assert!(parse_full("{\"a\": Nope}").is_err());
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
