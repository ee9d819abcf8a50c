//! The per-file pipeline: read → parse → detect → check → locate.
//! Runs on worker threads; returns data, prints nothing.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use crate::check::{self, Options};
use crate::data_root::DataRoot;
use crate::diagnostic::Diagnostic;
use crate::source::{self, RecordText};
use crate::span;
use crate::stats::Summary;
use crate::version::Version;
use crate::walk::Entry;

pub const DEFAULT_MAX_FILE_SIZE: u64 = 32 * 1024 * 1024;

#[derive(Debug, Clone, Copy)]
pub struct Settings<'a> {
    pub max_file_size: u64,
    pub data_root: Option<&'a DataRoot>,
    /// Keep parsed documents that have fixable findings (for `--fix`).
    pub keep_fixable: bool,
    /// Keep a small summary of every thread (for `stats`).
    pub summarize: bool,
}

impl Default for Settings<'_> {
    fn default() -> Self {
        Settings { max_file_size: DEFAULT_MAX_FILE_SIZE, data_root: None, keep_fixable: false, summarize: false }
    }
}

#[derive(Debug)]
pub struct RecordReport {
    /// 1-based line of a JSONL record; `None` for a `.json` file.
    pub record: Option<usize>,
    pub version: Option<Version>,
    pub id: Option<String>,
    pub diagnostics: Vec<Diagnostic>,
    /// The record's text, kept only when there is a finding to show.
    pub text: Option<Arc<str>>,
    /// The parsed record, kept only when `keep_fixable` and a fix exists.
    pub doc: Option<Value>,
    pub summary: Option<Summary>,
}

impl RecordReport {
    pub fn failed(record: Option<usize>, failure: Diagnostic, text: Option<Arc<str>>) -> Self {
        RecordReport { record, version: None, id: None, diagnostics: vec![failure], text, doc: None, summary: None }
    }

    pub fn is_valid(&self) -> bool {
        !self.diagnostics.iter().any(Diagnostic::is_error)
    }

    pub fn has_fix(&self) -> bool {
        self.diagnostics.iter().any(|d| d.fix.is_some())
    }
}

#[derive(Debug)]
pub struct FileReport {
    pub path: PathBuf,
    pub records: Vec<RecordReport>,
    /// What the file was when it was read (kept for `--fix`, which must not write over
    /// a file that changed since).
    pub stamp: Option<Stamp>,
}

/// A file's identity and version as the filesystem tells them: taken before reading,
/// so any write after it (even one racing with the read) changes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
    #[cfg(unix)]
    id: (u64, u64),
}

impl Stamp {
    /// The file's identity (device, inode) when it was read.
    pub fn file_id(&self) -> Option<crate::walk::FileId> {
        #[cfg(unix)]
        {
            Some(crate::walk::FileId::new(self.id.0, self.id.1))
        }
        #[cfg(not(unix))]
        {
            None
        }
    }

    pub fn of(path: &Path) -> Option<Stamp> {
        let meta = std::fs::metadata(path).ok()?;
        Some(Stamp {
            len: meta.len(),
            modified: meta.modified().ok(),
            #[cfg(unix)]
            id: {
                use std::os::unix::fs::MetadataExt;
                (meta.dev(), meta.ino())
            },
        })
    }
}

impl FileReport {
    pub fn is_jsonl(&self) -> bool {
        source::is_jsonl(&self.path)
    }
}

pub fn validate_entry(entry: &Entry, settings: &Settings<'_>) -> FileReport {
    let path = entry.path.clone();
    if let Some(problem) = &entry.problem {
        let d = Diagnostic::new(&crate::rules::IO_ERROR, "", format!("cannot read: {problem}"));
        return FileReport { path, records: vec![RecordReport::failed(None, d, None)], stamp: None };
    }
    let stamp = if settings.keep_fixable { Stamp::of(&path) } else { None };
    let records = if source::is_jsonl(&path) {
        let mut records = Vec::new();
        let result = source::for_each_line(&path, settings.max_file_size, |item| match item {
            Ok(rec) => records.push(validate_record(rec, None, settings)),
            Err((line, failure)) => records.push(RecordReport::failed(Some(line), *failure, None)),
        });
        if let Err(failure) = result {
            records.push(RecordReport::failed(None, *failure, None));
        }
        records
    } else {
        match source::read_whole(&path, settings.max_file_size) {
            Ok(text) => vec![validate_record(RecordText { record: None, text }, file_stem(&path).as_deref(), settings)],
            Err(failure) => vec![RecordReport::failed(None, *failure, None)],
        }
    };
    FileReport { path, records, stamp }
}

pub fn file_stem(path: &Path) -> Option<String> {
    path.file_stem().and_then(|s| s.to_str()).map(str::to_string)
}

/// Check one record's text completely: parse, version, schema, rules, spans.
pub fn validate_record(rec: RecordText, file_stem: Option<&str>, settings: &Settings<'_>) -> RecordReport {
    let (doc, duplicates, non_finite) = match source::parse_full(&rec.text) {
        Ok(p) => (p.value, p.duplicates, p.non_finite),
        Err(failure) => return RecordReport::failed(rec.record, *failure, Some(rec.text.into())),
    };
    if let Some(kind) = training_example_kind(&doc) {
        // One clear finding instead of dozens of schema errors, and not counted as a thread.
        let d = Diagnostic::new(
            &crate::rules::NOT_A_THREAD,
            "",
            format!(
                "this looks like a training example ({kind}), not a thread; check training files with \
                 `threadkit validate --profile openai|trl|axolotl|llama-factory FILE`"
            ),
        );
        return RecordReport::failed(rec.record, d, Some(rec.text.into()));
    }
    let mut checked = check::check(&doc, file_stem, Options { data_root: settings.data_root });
    if duplicates {
        checked.diagnostics.splice(0..0, source::duplicate_key_findings(&rec.text));
    }
    if !non_finite.is_empty() {
        let legacy = checked.version.is_some_and(|v| v.is_legacy());
        checked.diagnostics.splice(0..0, source::non_finite_findings(&non_finite, &rec.text, legacy));
    }
    let summary = settings.summarize.then(|| Summary::of(&doc, checked.version));
    let mut report = RecordReport {
        record: rec.record,
        version: checked.version,
        id: checked.id,
        diagnostics: checked.diagnostics,
        text: None,
        doc: None,
        summary,
    };
    if !report.diagnostics.is_empty() {
        locate_all(&mut report.diagnostics, &rec.text);
        report.text = Some(rec.text.into());
        if settings.keep_fixable && report.has_fix() {
            report.doc = Some(doc);
        }
    }
    report
}

/// What kind of training line `doc` is, if it is one: export's lines have no thread id,
/// and `messages` with `tools` (OpenAI, TRL, Axolotl) or sharegpt `conversations`.
fn training_example_kind(doc: &Value) -> Option<&'static str> {
    let o = doc.as_object()?;
    if o.contains_key("id") || o.contains_key("thread_id") || o.contains_key("conversation_id") {
        return None;
    }
    if o.contains_key("conversations") {
        Some("sharegpt `conversations`")
    } else if o.contains_key("messages") && o.contains_key("tools") {
        Some("`messages` + `tools`")
    } else {
        None
    }
}

/// Spans are computed only here, for records that have findings.
pub fn locate_all(diagnostics: &mut [Diagnostic], text: &str) {
    for d in diagnostics.iter_mut().filter(|d| d.location.is_none()) {
        d.location = Some(span::location(text, &d.pointer));
    }
}

