//! The quality audit as a library: one thread in, diagnostics out (`check_record`), and the
//! corpus pass (`Corpus`) that adds near-duplicates and eval overlap in path order. `threadkit
//! quality`, `export --quality` and the generator's gate all go through here.
//!
//! A record that is not a valid thread gets validate's error findings and no quality rules; a
//! valid legacy thread is judged as `migrate` converts it (as `export` trains on it).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::corpus::{EvalSet, Features, NearDuplicates, Overlap};
use crate::data_root::DataRoot;
use crate::diagnostic::{Diagnostic, Severity};
use crate::findings::{locate_all, FileReport, RecordReport};
use crate::rules::quality::{label_key, Labels};
use crate::rules::{self, Rule};
use crate::source::{file_stem, RecordText};
use crate::validate::{validate_record, Settings};
use crate::version::Version;
use crate::walk::Entry;

/// What the per-thread pass needs; shared by the workers.
pub struct QualitySettings<'a> {
    pub max_file_size: u64,
    pub data_root: Option<&'a DataRoot>,
    /// Hash 13-grams for `eval-overlap` (an eval set was given).
    pub grams: bool,
    /// The rules to run and report (validate's errors are always reported).
    pub enabled: &'a (dyn Fn(&Rule) -> bool + Sync),
    labels: LabelCache<'a>,
}

impl<'a> QualitySettings<'a> {
    pub fn new(
        max_file_size: u64,
        data_root: Option<&'a DataRoot>,
        grams: bool,
        enabled: &'a (dyn Fn(&Rule) -> bool + Sync),
    ) -> Self {
        QualitySettings { max_file_size, data_root, grams, enabled, labels: LabelCache::new(data_root) }
    }
}

/// Every label of each dataset under a data root, read once and shared by the workers.
#[derive(Default)]
pub struct LabelCache<'a> {
    root: Option<&'a DataRoot>,
    cache: Mutex<HashMap<String, Option<Arc<Labels>>>>,
}

impl<'a> LabelCache<'a> {
    pub fn new(root: Option<&'a DataRoot>) -> Self {
        LabelCache { root, cache: Mutex::new(HashMap::new()) }
    }

    /// The dataset's labels; `None` without a data root or a labels.json.
    pub fn of(&self, dataset: &str) -> Option<Arc<Labels>> {
        let root = self.root?;
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .entry(dataset.to_string())
            .or_insert_with(|| {
                let loaded = root.dataset(dataset);
                let all = loaded.as_ref().as_ref().ok()?.labels.as_ref()?;
                let set: Labels = all.values().flatten().map(|l| label_key(l)).collect();
                (!set.is_empty()).then(|| Arc::new(set))
            })
            .clone()
    }
}

/// One thread's quality findings (it must be a valid `openai_v1` thread). `labels`: the
/// dataset's labels, when known. The call the generator's quality gate makes.
pub fn check_thread(doc: &Value, labels: Option<&Labels>) -> Vec<Diagnostic> {
    rules::quality::check(doc, labels)
}

impl LabelCache<'_> {
    /// `check_thread` with the labels of the thread's own dataset (`metadata.dataset`).
    pub fn check(&self, doc: &Value) -> Vec<Diagnostic> {
        let dataset = doc.get("metadata").and_then(|v| v.get("dataset")).and_then(Value::as_str).unwrap_or("");
        check_thread(doc, self.of(dataset).as_deref())
    }
}

/// A file's records, checked as threads and then for quality; with each record the features
/// the corpus pass needs (`None` for a record the quality rules did not read).
pub fn check_entry(entry: &Entry, settings: &QualitySettings<'_>) -> (FileReport, Vec<Option<Features>>) {
    let stem = file_stem(&entry.path);
    let mut records = Vec::new();
    let mut features = Vec::new();
    crate::records::for_each_of(entry, settings.max_file_size, |item| match item {
        Ok(rec) => {
            let stem = if rec.record.is_none() { stem.as_deref() } else { None };
            let (r, f) = check_record(rec, stem, settings);
            records.push(r);
            features.push(f);
        }
        Err(u) => {
            records.push(RecordReport::failed(u.record, *u.failure, None));
            features.push(None);
        }
    });
    (FileReport { path: entry.path.clone(), records, clean: 0, stamp: None }, features)
}

pub fn check_record(
    rec: RecordText,
    stem: Option<&str>,
    settings: &QualitySettings<'_>,
) -> (RecordReport, Option<Features>) {
    let validate = Settings {
        max_file_size: settings.max_file_size,
        data_root: settings.data_root,
        keep_fixable: false,
        summarize: false,
        keep_docs: true,
    };
    let mut report = validate_record(rec, stem, &validate);
    // Validate's warnings are validate's business; its errors mean the rules cannot read the thread.
    report.diagnostics.retain(Diagnostic::is_error);
    let doc = report.doc.take();
    let mut features = None;
    match (doc, report.version) {
        (Some(doc), Some(v)) if report.diagnostics.is_empty() => {
            // A valid legacy thread is judged as `migrate` (and `export`) would convert it; its
            // findings point into that conversion, so they name the place in their message.
            let converted = match v {
                Version::OpenAiV1 => Ok(doc),
                _ => crate::convert::in_memory(&doc, v, settings.data_root),
            };
            match converted {
                Ok(thread) => {
                    let mut found = settings.labels.check(&thread);
                    found.retain(|d| (settings.enabled)(d.rule));
                    if v != Version::OpenAiV1 {
                        for d in &mut found {
                            d.message = format!(
                                "{} (at {} of this `{}` thread as `threadkit migrate` converts it)",
                                d.message,
                                d.pointer,
                                v.as_str()
                            );
                            d.pointer = String::new();
                            d.within = None;
                        }
                    }
                    report.diagnostics = found;
                    // The corpus pass reads them only for near-duplicates and eval overlap.
                    if settings.grams || (settings.enabled)(&rules::NEAR_DUPLICATE) {
                        features = Some(Features::of(&thread, settings.grams));
                    }
                }
                Err(e) => {
                    let mut d = Diagnostic::new(
                        &rules::LEGACY_V3,
                        "",
                        format!("a legacy `{}` thread that cannot be converted for the quality rules: {e}", v.as_str()),
                    );
                    d.severity = Severity::Error;
                    report.diagnostics.push(d);
                }
            }
        }
        _ => {}
    }
    // The text was kept with the document; it stays only where there is something to show.
    match report.text.clone() {
        Some(text) if !report.diagnostics.is_empty() => locate_all(&mut report.diagnostics, &text),
        _ => report.text = None,
    }
    (report, features)
}

/// How many training threads may share an eval 13-gram before it counts as the training
/// corpus's own template rather than a leak.
const TRAIN_TEMPLATE: u32 = 3;

/// The corpus pass: near-duplicates among the threads seen so far, and overlap with the eval
/// set. Fed in path order by the thread that reports. A thread whose text might overlap the eval
/// set is held back until every thread was seen (`finish`): only then is it known whether the
/// shared passage is one the training corpus repeats everywhere (a template) or a leak.
pub struct Corpus {
    near: Option<NearDuplicates>,
    eval: Option<EvalSet>,
    /// Eval 13-grams → how many training threads hold them.
    train_counts: HashMap<u64, u32>,
    /// Eval tool results → the training recording holding them, or `None` once two do (then
    /// the result is about the dataset, not one recording: a channel list, a label count).
    result_recordings: HashMap<u64, Option<u64>>,
    held: Vec<Held>,
}

/// A record held for `finish`: its eval text hits with its number of 13-grams, and its eval
/// result hits.
type Hits = (Vec<(u32, u64)>, usize, Vec<(u32, u64)>);

struct Held {
    report: FileReport,
    hits: Vec<Option<Hits>>,
}

impl Corpus {
    pub fn new(near_duplicates: bool, eval: Option<EvalSet>) -> Corpus {
        Corpus {
            near: near_duplicates.then(NearDuplicates::default),
            eval,
            train_counts: HashMap::new(),
            result_recordings: HashMap::new(),
            held: Vec::new(),
        }
    }

    /// Add the corpus findings of one file's records (with the features `check_entry` made).
    /// Returns the report when it can be printed now, `None` when it is held for `finish`.
    pub fn judge(&mut self, mut report: FileReport, features: &[Option<Features>]) -> Option<FileReport> {
        let path = report.path.clone();
        let mut held_hits = Vec::new();
        let mut hold = false;
        for (r, f) in report.records.iter_mut().zip(features) {
            let Some(f) = f else {
                held_hits.push(None);
                continue;
            };
            let place = crate::findings::place(path.display(), r.record);
            let mut found = Vec::new();
            if let Some(index) = self.near.as_mut() {
                if let Some((first, j)) = index.see(f, &place) {
                    found.push(
                        Diagnostic::new(
                            &rules::NEAR_DUPLICATE,
                            "/id",
                            format!(
                                "a near-copy of {first} (estimated Jaccard {j:.2}); the first of the group is kept"
                            ),
                        )
                        .with_label("near-duplicate"),
                    );
                }
            }
            let mut hits = None;
            if let Some(eval) = &self.eval {
                if let Some(Overlap::Recording { dataset, session, eval }) = eval.recording_overlap(f) {
                    found.push(Diagnostic::new(
                        &rules::EVAL_OVERLAP,
                        "/metadata/session",
                        format!("the eval set has this recording ({dataset}, session {session}): {eval}"),
                    ));
                } else {
                    let h = eval.text_hits(f);
                    let mut counted = std::collections::HashSet::new();
                    for &(_, g) in &h {
                        if counted.insert(g) {
                            *self.train_counts.entry(g).or_default() += 1;
                        }
                    }
                    let results = eval.result_hits(f);
                    let this = recording_key(f, &place);
                    for &(_, r) in &results {
                        self.result_recordings
                            .entry(r)
                            .and_modify(|holder| {
                                if *holder != Some(this) {
                                    *holder = None;
                                }
                            })
                            .or_insert(Some(this));
                    }
                    if eval.may_overlap(&h, f.grams.len()) || !results.is_empty() {
                        hold = true;
                        hits = Some((h, f.grams.len(), results));
                    }
                }
            }
            held_hits.push(hits);
            add_located(r, &path, found);
        }
        if hold {
            self.held.push(Held { report, hits: held_hits });
            return None;
        }
        Some(report)
    }

    /// The reports held back, with their text overlaps decided now that the whole corpus is known.
    pub fn finish(&mut self) -> Vec<FileReport> {
        let (Some(eval), held) = (&self.eval, std::mem::take(&mut self.held)) else { return Vec::new() };
        let counts = &self.train_counts;
        held.into_iter()
            .map(|Held { mut report, hits }| {
                let path = report.path.clone();
                for (r, h) in report.records.iter_mut().zip(hits) {
                    let Some((h, own, results)) = h else { continue };
                    // A result only this training recording got, and one or two eval items: the same recording.
                    let same = results.iter().find(|(_, res)| self.result_recordings.get(res).is_some_and(Option::is_some));
                    if let Some(&(item, _)) = same {
                        let d = Diagnostic::new(
                            &rules::EVAL_OVERLAP,
                            "",
                            format!(
                                "a tool result of this thread is one {} got too, and no other recording's: the same recording",
                                eval.place(item)
                            ),
                        );
                        add_located(r, &path, vec![d]);
                        continue;
                    }
                    let repeated = |g: u64| counts.get(&g).is_some_and(|&n| n >= TRAIN_TEMPLATE);
                    if let Some(Overlap::Text { shared, eval }) = eval.text_overlap(&h, own, repeated) {
                        let d = Diagnostic::new(
                            &rules::EVAL_OVERLAP,
                            "",
                            format!("shares {shared} word 13-grams of model-written text with {eval}"),
                        );
                        add_located(r, &path, vec![d]);
                    }
                }
                report
            })
            .collect()
    }
}

/// Which recording a training thread is about, as a hash: its dataset and session, or the
/// thread itself when it names none.
fn recording_key(f: &Features, place: &str) -> u64 {
    use std::hash::BuildHasher;
    let state = foldhash::fast::FixedState::with_seed(3);
    match &f.recording {
        Some((d, s)) => state.hash_one((d, s)),
        None => state.hash_one(place),
    }
}

fn add_located(r: &mut RecordReport, path: &std::path::Path, mut found: Vec<Diagnostic>) {
    if found.is_empty() {
        return;
    }
    if r.text.is_none() {
        r.text = crate::validate::reload(path, r.record).map(Into::into);
    }
    if let Some(text) = &r.text {
        locate_all(&mut found, text);
    }
    r.diagnostics.extend(found);
}

/// Read an eval set: every thread or training example under `paths` (threads `.json`/`.jsonl`,
/// exports `.jsonl`, `.jsonl.gz`, `.jsonl.zst`). Unreadable items are skipped and counted.
pub fn load_eval(paths: &[std::path::PathBuf], max_file_size: u64) -> (EvalSet, usize) {
    let mut eval = EvalSet::default();
    let mut skipped = 0;
    let options = crate::walk::WalkOptions { follow_links: false, skip_backups: true, training_files: false, shard: None };
    let training = crate::walk::WalkOptions { training_files: true, ..options };
    let mut seen = std::collections::HashSet::new();
    for walk in [crate::walk::walk(paths, options), crate::walk::walk(paths, training)] {
        for entry in walk.entries() {
            if !seen.insert(entry.path.clone()) {
                continue;
            }
            crate::records::for_each_of(&entry, max_file_size, |item| {
                let parsed =
                    item.ok().and_then(|rec| Some((rec.record, serde_json::from_str::<Value>(&rec.text).ok()?)));
                match parsed {
                    Some((record, doc)) => {
                        let place = crate::findings::place(entry.path.display(), record);
                        eval.add(&doc, &place);
                    }
                    None => skipped += 1,
                }
            });
        }
    }
    (eval, skipped)
}
