//! The per-file pipeline: read → parse → detect → check → locate.
//! Runs on worker threads; returns data, prints nothing. Ids are compared across files
//! afterwards, in path order (`SeenIds`, `mark_duplicates`).

use std::collections::HashMap;
use std::io::{self, BufRead};
use std::path::Path;

use serde_json::Value;

use crate::check::{self, Options};
use crate::data_root::DataRoot;
use crate::diagnostic::Diagnostic;
use crate::{records, rules, span};
use crate::source::{self, RecordText};
use crate::stats::Summary;
use crate::walk::Entry;

use crate::findings::{locate_all, FileReport, RecordReport, ReportKind, Stamp};

use crate::source::{file_stem, DEFAULT_MAX_FILE_SIZE};

#[derive(Debug, Clone, Copy)]
pub struct Settings<'a> {
    pub max_file_size: u64,
    pub data_root: Option<&'a DataRoot>,
    /// Keep parsed documents that have fixable findings (for `--fix`).
    pub keep_fixable: bool,
    /// Keep a small summary of every thread (for `stats`).
    pub summarize: bool,
    /// Keep every parsed document and its text (for `report`, which shows each thread, and
    /// `quality`, which locates its own findings in the text).
    pub keep_docs: bool,
}

impl Default for Settings<'_> {
    fn default() -> Self {
        Settings { max_file_size: DEFAULT_MAX_FILE_SIZE, data_root: None, keep_fixable: false, summarize: false, keep_docs: false }
    }
}

pub fn validate_entry(entry: &Entry, settings: &Settings<'_>) -> FileReport {
    let path = entry.path.clone();
    let stamp = if settings.keep_fixable && entry.problem.is_none() { Stamp::of(&path) } else { None };
    let stem = file_stem(&path);
    let mut records = Vec::new();
    records::for_each_of(entry, settings.max_file_size, |item| {
        records.push(match item {
            // Only a `.json` file is named after its thread.
            Ok(rec) => {
                let stem = if rec.record.is_none() { stem.as_deref() } else { None };
                validate_record(rec, stem, settings)
            }
            Err(u) => RecordReport::failed(u.record, *u.failure, None),
        })
    });
    FileReport { path, records, clean: 0, stamp }
}


/// Check one record's text completely: parse, version, schema, rules, spans.
pub fn validate_record(rec: RecordText, file_stem: Option<&str>, settings: &Settings<'_>) -> RecordReport {
    let (doc, duplicates, non_finite) = match source::parse_full(&rec.text) {
        Ok(p) => (p.value, p.duplicates, p.non_finite),
        Err(failure) => return RecordReport::failed(rec.record, *failure, Some(rec.text.into())),
    };
    if let Some(what) = known_other_file(&doc) {
        // One clear finding instead of dozens of schema errors, and not counted as a thread.
        let d = Diagnostic::new(&crate::rules::NOT_A_THREAD, "", what);
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
    let has_findings = !report.diagnostics.is_empty();
    if has_findings {
        locate_all(&mut report.diagnostics, &rec.text);
    }
    if has_findings || settings.keep_docs {
        report.text = Some(rec.text.into());
    }
    if settings.keep_docs || (settings.keep_fixable && report.has_fix()) {
        report.doc = Some(doc);
    }
    report
}

/// What a file that is not a thread but that people keep beside threads is, and where it is
/// checked instead: a training line (export's lines have no thread id, and `messages` with
/// `tools` — OpenAI, TRL, Axolotl — or sharegpt `conversations`), or what threadkit itself writes
/// as JSON (the reports `--format json` prints, an export's manifest, LLaMA-Factory's dataset list).
fn known_other_file(doc: &Value) -> Option<String> {
    let o = doc.as_object()?;
    if o.contains_key("id") || o.contains_key("thread_id") || o.contains_key("conversation_id") {
        return None;
    }
    let training = |kind: &str| {
        format!(
            "this looks like a training example ({kind}), not a thread; check training files with \
             `threadkit validate --profile openai|trl|axolotl|llama-factory FILE`"
        )
    };
    let report = |kind: &str| {
        format!("this is {kind}, not a thread; the reports of shards (`--shard I/N`) are combined with `threadkit merge`")
    };
    if o.contains_key("conversations") {
        return Some(training("sharegpt `conversations`"));
    } else if o.contains_key("messages") && o.contains_key("tools") {
        return Some(training("`messages` + `tools`"));
    }
    match ReportKind::of(o) {
        Some(ReportKind::Export) => Some(
            "this is an export's manifest (export.json), not a thread; the training files it lists are checked with \
             `threadkit validate --profile P FOLDER`, and the manifests of export shards combined with `threadkit merge`"
                .to_string(),
        ),
        Some(ReportKind::Findings) => Some(report("a threadkit JSON report (`--format json`)")),
        Some(ReportKind::Stats) => Some(report("a threadkit stats report (`stats --format json`)")),
        None if !o.is_empty() && o.values().all(|entry| entry.get("file_name").is_some_and(Value::is_string)) => Some(
            "this is LLaMA-Factory's dataset list (dataset_info.json), not a thread; the files it names are checked with \
             `threadkit validate --profile llama-factory FOLDER`"
                .to_string(),
        ),
        None => None,
    }
}

/// Where each id was first seen, in little memory per thread: a 64-bit hash of the id
/// and the place in one shared string. A hash match is confirmed by re-reading the
/// first thread's id (rare: only for duplicates), so collisions cannot cause a false report.
#[derive(Default)]
pub struct SeenIds {
    first: HashMap<u64, u32>,
    places: String,
    starts: Vec<u32>,
}

impl SeenIds {
    fn place(&self, n: u32) -> &str {
        let start = self.starts[n as usize] as usize;
        let end = self.starts.get(n as usize + 1).map_or(self.places.len(), |&e| e as usize);
        &self.places[start..end]
    }

    /// Record `id` at `here`; returns the earlier place when the id was seen before.
    fn see(&mut self, id: &str, here: &str) -> Option<String> {
        use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
        let hash = BuildHasherDefault::<DefaultHasher>::default().hash_one(id);
        if let Some(&n) = self.first.get(&hash) {
            let first = self.place(n).to_string();
            if id_at(&first).as_deref() == Some(id) {
                return Some(first);
            }
        }
        self.starts.push(self.places.len() as u32);
        self.places.push_str(here);
        self.first.entry(hash).or_insert(self.starts.len() as u32 - 1);
        None
    }
}

/// The id of the thread at `path` or `path:line`, read again from disk.
fn id_at(place: &str) -> Option<String> {
    let (path, record) = match place.rsplit_once(':') {
        Some((p, line)) if p.ends_with(".jsonl") => (p, line.parse().ok()),
        _ => (place, None),
    };
    let doc: serde_json::Value = serde_json::from_str(&reload(Path::new(path), record)?).ok()?;
    let version = crate::version::detect(&doc).version?;
    crate::thread::ThreadView::new(&doc, version).id().map(str::to_string)
}

/// The first thread (in path order) with an id keeps it; later ones are findings.
pub fn mark_duplicates(report: &mut FileReport, ids: &mut SeenIds) {
    let path = report.path.clone();
    for r in &mut report.records {
        let Some(id) = r.id.clone() else { continue };
        let here = crate::findings::place(path.display(), r.record);
        let Some(first) = ids.see(&id, &here) else { continue };
        let pointer = match r.version {
            Some(v) => crate::thread::ThreadView::new(&serde_json::Value::Null, v).id_pointer(),
            None => "",
        };
        let mut d = Diagnostic::new(&rules::DUPLICATE_ID, pointer, format!("id {id:?} is already used by {first}"))
            .with_label("duplicate id");
        if r.text.is_none() {
            r.text = reload(&path, r.record).map(Into::into);
        }
        if let Some(text) = &r.text {
            d = d.at(span::location(text, pointer));
        }
        r.diagnostics.push(d);
    }
}

/// Text of a record whose text was not kept (it had no findings until the merge found one).
pub fn reload(path: &Path, record: Option<usize>) -> Option<String> {
    match record {
        None => std::fs::read_to_string(path).ok(),
        Some(line) => {
            let file = std::fs::File::open(path).ok()?;
            io::BufReader::new(file).lines().nth(line - 1)?.ok()
        }
    }
}

