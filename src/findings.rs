//! What checking a file found: one `FileReport` per file, one `RecordReport` per record
//! (a `.json` file has one, a `.jsonl` file one per line), each with its findings. Every
//! command that checks something (validate, validate --profile, verify, dataset check)
//! returns these, and `report/` prints them; this module sits below all of them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use crate::diagnostic::Diagnostic;
use crate::source;
use crate::span;
use crate::stats::Summary;
use crate::version::Version;

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
    /// A record with nothing found (yet).
    pub fn empty(record: Option<usize>) -> Self {
        RecordReport { record, version: None, id: None, diagnostics: Vec::new(), text: None, doc: None, summary: None }
    }

    pub fn failed(record: Option<usize>, failure: Diagnostic, text: Option<Arc<str>>) -> Self {
        RecordReport { diagnostics: vec![failure], text, ..Self::empty(record) }
    }

    /// The record's place and identity only: no findings, text or document.
    pub fn without_content(&self) -> Self {
        RecordReport { version: self.version, id: self.id.clone(), ..Self::empty(self.record) }
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
    /// Records with nothing found that were counted but not kept: a training file of a million
    /// clean examples holds no million reports.
    pub clean: usize,
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


/// What threadkit writes as JSON besides threads, by shape: what `merge` reads and what
/// `validate` names when such a file is given to it as a thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportKind {
    /// `validate`, `quality`, `verify`: `{"files": [...], "summary": {...}}`.
    Findings,
    /// `stats`: counts by version, status, dataset, label, tools, tokens.
    Stats,
    /// An export's manifest, `export.json`: its settings, counts and files.
    Export,
}

impl ReportKind {
    pub fn name(self) -> &'static str {
        match self {
            ReportKind::Findings => "a validate, quality or verify report",
            ReportKind::Stats => "a stats report",
            ReportKind::Export => "an export's export.json",
        }
    }

    /// The kind of a whole document from its top-level keys.
    pub fn of(top: &serde_json::Map<String, Value>) -> Option<ReportKind> {
        let is = |key: &str, of: fn(&Value) -> bool| top.get(key).is_some_and(of);
        if is("threads", Value::is_u64) && is("by_version", Value::is_object) {
            Some(ReportKind::Stats)
        } else if top.contains_key("threadkit_version") && is("counts", Value::is_object) {
            Some(ReportKind::Export)
        } else if is("files", Value::is_array) && is("summary", Value::is_object) {
            Some(ReportKind::Findings)
        } else {
            None
        }
    }
}

/// Where a record is, as messages name it: its file, and `:line` for a JSONL record.
pub fn place(path: impl std::fmt::Display, record: Option<usize>) -> String {
    match record {
        Some(line) => format!("{path}:{line}"),
        None => path.to_string(),
    }
}

/// Spans are computed only here, for records that have findings.
pub fn locate_all(diagnostics: &mut [Diagnostic], text: &str) {
    if diagnostics.iter().all(|d| d.location.is_some()) {
        return;
    }
    // Each container on the way is read once for all findings (thousands, in a labels.json
    // whose sessions all lack data), not from the start of the text for each one.
    let mut locator = span::Locator::new(text);
    for d in diagnostics.iter_mut().filter(|d| d.location.is_none()) {
        d.location = Some(match d.within {
            Some((start, len)) => locator.location_within(&d.pointer, start, len),
            None => locator.location(&d.pointer),
        });
    }
}
