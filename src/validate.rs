//! The per-file pipeline: read → parse → detect → check → locate.
//! Runs on worker threads; returns data, prints nothing.


use serde_json::Value;

use crate::check::{self, Options};
use crate::data_root::DataRoot;
use crate::diagnostic::Diagnostic;
use crate::source::{self, RecordText};
use crate::stats::Summary;
use crate::walk::Entry;

use crate::findings::{locate_all, FileReport, RecordReport, Stamp};

use crate::source::{file_stem, DEFAULT_MAX_FILE_SIZE};

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


