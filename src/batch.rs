//! Threads held in memory instead of files: the same steps the commands run on a walked file,
//! on a batch of JSON texts (a Ray Data or 🤗 `datasets` batch, a notebook's list). This is the
//! Rust side of the Python API (`python.rs` only moves strings across); every function runs
//! its records in parallel on the given pool and returns results in input order, or `None`
//! when `stop` was raised (the caller was interrupted) before every record was done.
//!
//! A batch is reported as one JSONL file named `name` would be (record `i + 1` is `texts[i]`),
//! with the columns of `validate --format json`; a diagnostic's line and column are within
//! its thread's text. Duplicate ids are a corpus's property, left to `threadkit validate`.

use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;
use serde_json::json;

use crate::data_root::DataRoot;
use crate::export::chat_template::{self, Adaptation, ChatTemplate};
use crate::export::format::{Options, Profile};
use crate::export::{Filters, Outcome, QualityMode, Settings as ExportSettings};
use crate::findings::{FileReport, RecordReport};
use crate::source::{Failure, RecordText};
use crate::tokens::{Counter, Tokenizer};

/// One thread of a batch: its text, or why its bytes are no text (invalid UTF-8), reported
/// as the CLI reports such a file.
pub type Text = Result<String, Failure>;

/// A thread given as bytes (a file's contents).
pub fn text_of(bytes: Vec<u8>) -> Text {
    crate::source::decode(bytes)
}

fn record(i: usize, text: &str) -> RecordText {
    let (text, bom) = match text.strip_prefix('\u{feff}') {
        Some(rest) => (rest.to_string(), true),
        None => (text.to_string(), false),
    };
    RecordText { record: Some(i + 1), text, bom }
}

/// Where a batch runs: the pool, and the flag that stops it (no record is begun once it is raised).
#[derive(Clone, Copy)]
pub struct Run<'a> {
    pub pool: &'a rayon::ThreadPool,
    pub stop: &'a AtomicBool,
}

impl Run<'_> {
    /// `f` on every item in parallel, in input order; `None` once stopped.
    fn map<I: Sync, T: Send>(self, items: &[I], f: impl Fn(usize, &I) -> T + Sync) -> Option<Vec<T>> {
        let stop = self.stop;
        self.pool.install(|| {
            items.par_iter().enumerate().map(|(i, item)| (!stop.load(Ordering::Relaxed)).then(|| f(i, item))).collect()
        })
    }
}

/// `check` on every readable text of the batch, in parallel, as record `i + 1`; a text that
/// was no UTF-8 is reported as the CLI reports such a file (`unreadable` wraps its report).
fn each_record<T: Send>(
    run: Run,
    texts: &[Text],
    check: impl Fn(RecordText) -> T + Sync,
    unreadable: impl Fn(RecordReport) -> T + Sync,
) -> Option<Vec<T>> {
    run.map(texts, |i, t| match t {
        Ok(t) => check(record(i, t)),
        Err(failure) => unreadable(RecordReport::failed(Some(i + 1), (**failure).clone(), None)),
    })
}

/// The `files` entries of `validate --format json` for a batch, one JSON object per text.
pub fn validate(run: Run, name: &str, texts: &[Text], data_root: Option<&DataRoot>) -> Option<Vec<String>> {
    let settings = crate::validate::Settings { data_root, ..Default::default() };
    let records = each_record(run, texts, |rec| crate::validate::validate_record(rec, None, &settings), |report| report)?;
    // Duplicate ids are not looked for: the CLI confirms one by reading the first file again,
    // and a batch has no files (run `threadkit validate` over the corpus for them).
    let file = FileReport { path: name.into(), records, clean: 0, stamp: None };
    Some(crate::report::json::text_entries(&file))
}

/// The `files` entries of `quality --format json` for a batch: validate's errors, the
/// per-thread quality rules, then near-duplicates across the batch (in input order, the first
/// of a group kept). Near-duplicates across batches need one `quality` run over all of them.
pub fn quality(run: Run, name: &str, texts: &[Text], data_root: Option<&DataRoot>) -> Option<Vec<String>> {
    let all = |_: &crate::rules::Rule| true;
    let settings = crate::quality::QualitySettings::new(u64::MAX, data_root, false, &all);
    let checked = each_record(run, texts, |rec| crate::quality::check_record(rec, None, &settings), |report| (report, None))?;
    let (records, features): (Vec<_>, Vec<_>) = checked.into_iter().unzip();
    let reports = near_duplicates(run.stop, name, records, &features, JUDGED_BETWEEN_STOPS)?;
    Some(reports.iter().flat_map(crate::report::json::text_entries).collect())
}

/// How many records the near-duplicate pass judges between two looks at `stop`. The pass is
/// sequential and comes after the parallel checks: over a million threads in one call it took
/// seconds, during which Ctrl-C was not answered.
const JUDGED_BETWEEN_STOPS: usize = 4096;

/// The near-duplicate pass over a batch's records in input order, `part` records at a time into
/// one corpus (a near-copy of a thread of an earlier part is still found); `None` once stopped.
fn near_duplicates(
    stop: &AtomicBool,
    name: &str,
    records: Vec<RecordReport>,
    features: &[Option<crate::corpus::Features>],
    part: usize,
) -> Option<Vec<FileReport>> {
    let mut corpus = crate::quality::Corpus::new(true, None);
    let mut records = records.into_iter();
    let mut reports = Vec::new();
    for features in features.chunks(part) {
        if stop.load(Ordering::Relaxed) {
            return None;
        }
        let file = FileReport { path: name.into(), records: records.by_ref().take(features.len()).collect(), clean: 0, stamp: None };
        reports.extend(corpus.judge(file, features));
    }
    reports.extend(corpus.finish());
    Some(reports)
}

/// How `to_examples` writes: the profile and what `export` would be given on its command line.
pub struct ExampleOptions {
    pub profile: Profile,
    pub tokenizer: Tokenizer,
    pub max_tokens: Option<usize>,
    /// `None`: every status.
    pub statuses: Option<Vec<String>>,
    pub quality: QualityMode,
    pub options: Options,
}

/// A chat template ready for export: loaded, and its adaptation chosen on the probe an export
/// uses (what `export --chat-template` does once before the first thread).
pub fn load_template(path: &std::path::Path) -> Result<(ChatTemplate, Adaptation), String> {
    let template = ChatTemplate::load(path)?;
    let adaptation = template.choose_adaptation(&chat_template::probe_with_threadkit_tools()).map_err(|e| {
        format!("{}: the template fails on a tool-calling conversation however it is adapted: {e}", template.file)
    })?;
    Ok((template, adaptation))
}

/// One row per text: `(meta, line)`. `meta` is a JSON object, `{"id", "dataset", "session",
/// "label", "tokens"}` for an example or `{"id", "skipped", "detail"}` for a thread left out;
/// `line` is the exact JSON line `export` writes for the example (`None` when skipped).
pub fn to_examples(
    run: Run,
    texts: &[Text],
    options: &ExampleOptions,
    template: Option<&(ChatTemplate, Adaptation)>,
    data_root: Option<&DataRoot>,
) -> Option<Vec<(String, Option<String>)>> {
    let format = options.profile.format();
    let settings = ExportSettings {
        profile: options.profile,
        filters: Filters {
            statuses: options.statuses.clone(),
            max_tokens: options.max_tokens.or(format.default_max_tokens()),
            ..Filters::default()
        },
        options: options.options,
        counter: Counter::new(options.tokenizer),
        data_root,
        template: template.map(|(t, a)| (t, *a)),
        quality: options.quality,
        labels: crate::quality::LabelCache::new(data_root),
    };
    run.map(texts, |_, text| match text.as_ref().map(|t| crate::export::prepare(t, None, &settings)) {
        Err(failure) => (json!({"id": null, "skipped": crate::export::Skip::Invalid, "detail": failure.message}).to_string(), None),
        Ok(Outcome::Exported(ex)) => {
            let meta = json!({"id": ex.id, "dataset": ex.dataset, "session": ex.session, "label": ex.label, "tokens": ex.tokens});
            (meta.to_string(), Some(String::from_utf8_lossy(&ex.line).into_owned()))
        }
        Ok(Outcome::Skipped { reason, id, detail }) => (json!({"id": id, "skipped": reason, "detail": detail}).to_string(), None),
    })
}

/// Exact token counts of texts (OpenAI's vocabularies, as `tiktoken` counts `encode_ordinary`).
pub fn count_tokens(run: Run, texts: &[String], tokenizer: Tokenizer) -> Option<Vec<usize>> {
    let counter = Counter::new(tokenizer);
    run.map(texts, |_, t| counter.text(t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!("{}/fixtures/threads/valid/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    fn run(pool: &rayon::ThreadPool) -> Run<'_> {
        static GOING: AtomicBool = AtomicBool::new(false);
        Run { pool, stop: &GOING }
    }

    #[test]
    fn a_batch_reads_as_a_jsonl_file_of_its_texts() {
        let pool = crate::workers::pool(Some(2));
        let good = fixture("uci_har_train_01_0000_v4_0001.json");
        let texts = vec![Ok(good.clone()), Ok("{\"id\": 1".to_string()), Ok(good), text_of(b"{\"id\": \"\xff\"}".to_vec())];
        let rows: Vec<Value> = validate(run(&pool), "batch", &texts, None).unwrap().iter().map(|r| serde_json::from_str(r).unwrap()).collect();
        assert_eq!(rows.len(), 4);
        assert_eq!((rows[0]["record"].as_u64(), rows[0]["valid"].as_bool()), (Some(1), Some(true)));
        assert_eq!(rows[1]["valid"], false);
        assert_eq!(rows[1]["diagnostics"][0]["code"], "TK003", "not JSON");
        assert_eq!(rows[2]["valid"], true);
        // Bytes that are no UTF-8: the CLI's diagnostic, with its place.
        assert_eq!((rows[3]["record"].as_u64(), rows[3]["diagnostics"][0]["column"].as_u64()), (Some(4), Some(9)), "{}", rows[3]);
        assert_eq!(rows[3]["diagnostics"][0]["line"], 1, "the line within the thread's text, not the batch's");
    }

    #[test]
    fn examples_equal_the_export_s_lines() {
        let pool = crate::workers::pool(Some(2));
        let texts = vec![Ok(fixture("uci_har_train_01_0000_v4_0001.json"))];
        let options = ExampleOptions {
            profile: Profile::Openai,
            tokenizer: Tokenizer::O200kBase,
            max_tokens: None,
            statuses: None,
            quality: QualityMode::Off,
            options: Options::default(),
        };
        let rows = to_examples(run(&pool), &texts, &options, None, None).unwrap();
        let meta: Value = serde_json::from_str(&rows[0].0).unwrap();
        assert!(meta["tokens"].as_u64().unwrap() > 100, "{meta}");
        let example: Value = serde_json::from_str(rows[0].1.as_deref().unwrap()).unwrap();
        assert_eq!(example["messages"][0]["role"], "user");
        assert_eq!(count_tokens(run(&pool), &["hello world".into()], Tokenizer::O200kBase).unwrap(), [2]);
    }

    #[test]
    fn a_stopped_batch_begins_no_record() {
        let pool = crate::workers::pool(Some(2));
        let stop = AtomicBool::new(true);
        let texts: Vec<String> = (0..1000).map(|i| format!("text {i}")).collect();
        assert_eq!(count_tokens(Run { pool: &pool, stop: &stop }, &texts, Tokenizer::O200kBase), None);
        assert_eq!(validate(Run { pool: &pool, stop: &stop }, "batch", &[Ok("{}".into())], None), None);
    }

    #[test]
    fn the_near_duplicate_pass_stops_between_parts_and_finds_copies_across_them() {
        let pool = crate::workers::pool(Some(2));
        let names = ["uci_har_train_01_0000_v4_0001.json", "mhealth_subject1_seg009_0000_v4_0004.json", "uci_har_test_24_2888_v4_0003.json", "uci_har_train_01_0078_v4_0002.json"];
        let mut texts: Vec<Text> = names.iter().map(|n| Ok(fixture(n))).collect();
        texts.push(Ok(fixture(names[0])));
        let all = |_: &crate::rules::Rule| true;
        let settings = crate::quality::QualitySettings::new(u64::MAX, None, false, &all);
        let judged = |part: usize, stop: &AtomicBool| {
            let checked = each_record(run(&pool), &texts, |rec| crate::quality::check_record(rec, None, &settings), |r| (r, None)).unwrap();
            let (records, features): (Vec<_>, Vec<_>) = checked.into_iter().unzip();
            near_duplicates(stop, "batch", records, &features, part).map(|r| r.iter().flat_map(crate::report::json::text_entries).collect::<Vec<_>>())
        };
        let going = AtomicBool::new(false);
        let whole = judged(usize::MAX, &going).unwrap();
        // Parts of 2: the copy (record 5) is in the third part, its original in the first.
        assert_eq!(judged(2, &going).unwrap(), whole);
        let near: Vec<usize> = whole.iter().enumerate().filter(|(_, e)| e.contains("\"TKQ08\"")).map(|(i, _)| i + 1).collect();
        assert_eq!(near, [5], "{whole:#?}");
        assert!(whole[4].contains("a near-copy of batch:1"), "{}", whole[4]);
        assert_eq!(judged(2, &AtomicBool::new(true)), None);
    }
}
