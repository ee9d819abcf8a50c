//! `validate --profile`: training files made by threadkit or elsewhere, checked line by line
//! with the format's own rules, its token limit, and (with `--chat-template`) the model's
//! chat template.

use serde_json::Value;

use super::chat_template::{Audit, ChatTemplate};
use crate::conversation::Conversation;
use super::format::Profile;
use crate::tokens::Counter;
use crate::diagnostic::Diagnostic;
use crate::rules::{EMPTY_FILE, TRAINING_TEMPLATE_DROPS, TRAINING_TEMPLATE_ERROR, TRAINING_TOO_FEW, TRAINING_TOO_LONG};
use crate::source;
use crate::findings::{locate_all, FileReport, RecordReport};
use crate::walk::Entry;

/// What `validate --profile` checks a training file with.
pub struct TrainingSettings<'a> {
    pub profile: Profile,
    /// Examples above this many tokens are findings.
    pub max_tokens: Option<usize>,
    pub counter: Counter,
    pub template: Option<&'a ChatTemplate>,
    /// Files (and JSONL lines) larger than this are findings, not read.
    pub max_file_size: u64,
}

/// The per-file pipeline for a training file: JSONL of examples (one per line), or a `.json`
/// dataset (an array of examples, as LLaMA-Factory and Alpaca-style loaders read it, or one
/// example). Each example is parsed, checked against the format's rules, token limit and chat
/// template, and located. A file with no example at all is a finding: trainers refuse it.
pub fn validate_training_entry(entry: &Entry, settings: &TrainingSettings<'_>) -> FileReport {
    let path = entry.path.clone();
    let format = settings.profile.format();
    let mut records = Records::default();
    let mut bom = false;
    if entry.problem.is_none() && source::is_json(&path) {
        bom = read_json_dataset(&path, settings, &mut records);
    } else {
        crate::records::for_each_of(entry, settings.max_file_size, |item| match item {
            Ok(rec) => records.push(match source::parse_full(&rec.text) {
                Err(failure) => RecordReport::failed(rec.record, *failure, Some(rec.text.into())),
                Ok(parsed) => {
                    let mut diagnostics = check_example(&parsed.value, &rec.text, parsed.duplicates, settings);
                    if rec.bom {
                        diagnostics.insert(0, bom_finding());
                    }
                    located(rec.record, diagnostics, &rec.text)
                }
            }),
            Err(u) => records.push(RecordReport::failed(u.record, *u.failure, None)),
        });
    }
    let Records { mut records, clean } = records;
    if records.is_empty() && clean == 0 {
        let d = Diagnostic::new(
            &EMPTY_FILE,
            "",
            "no example in this file (it is empty or blank): a trainer refuses an empty dataset",
        );
        records.push(RecordReport::failed(None, d, None));
    }
    let examples = clean
        + records.iter().filter(|r| !(r.record.is_none() && r.diagnostics.iter().any(|d| d.rule.code == EMPTY_FILE.code))).count();
    // A `.json` dataset's BOM is the file's (a JSONL line's is its line's, found above).
    if bom {
        records.insert(0, RecordReport::failed(None, bom_finding(), None));
    }
    let min = format.min_examples();
    if examples < min {
        let d = Diagnostic::new(
            &TRAINING_TOO_FEW,
            "",
            format!("{examples} examples; {} needs at least {min}", settings.profile.name()),
        );
        records.push(RecordReport::failed(None, d, None));
    }
    FileReport { path, records, clean, stamp: None }
}

/// A byte-order mark: the trainers' loaders parse each line (or the file) with Python's JSON
/// reader, which refuses one ("Unexpected UTF-8 BOM").
fn bom_finding() -> Diagnostic {
    Diagnostic::new(
        &crate::rules::INVALID_JSON,
        "",
        "a UTF-8 byte-order mark (BOM) starts this line: Python's json.loads, which the trainers' loaders use, \
         refuses it; save the file as UTF-8 without BOM",
    )
    .at(crate::diagnostic::Location { offset: 0, len: 0, line: 1, column: 1 })
}

/// Every finding of one example; `duplicates`: the parser saw a key named twice in `text` (the
/// example's own text, where those findings are located).
fn check_example(example: &Value, text: &str, duplicates: bool, settings: &TrainingSettings<'_>) -> Vec<Diagnostic> {
    let format = settings.profile.format();
    let mut diagnostics = if duplicates { source::duplicate_key_findings(text) } else { Vec::new() };
    diagnostics.extend(format.check(example));
    if let Some(limit) = settings.max_tokens {
        let n = example_tokens(example, &settings.counter);
        if n > limit {
            diagnostics.push(Diagnostic::new(&TRAINING_TOO_LONG, "", format!("{n} tokens, more than the limit of {limit}")));
        }
    }
    if let Some(template) = settings.template {
        diagnostics.extend(template_findings(template, &format.template_view(example)));
    }
    diagnostics
}

/// The records of one training file with findings, and how many had none (counted, not kept).
#[derive(Default)]
struct Records {
    records: Vec<RecordReport>,
    clean: usize,
}

impl Records {
    fn push(&mut self, r: RecordReport) {
        if r.diagnostics.is_empty() {
            self.clean += 1;
        } else {
            self.records.push(r);
        }
    }
}

/// The record's report; its text is copied only when there is a finding to show in it.
fn located(record: Option<usize>, mut diagnostics: Vec<Diagnostic>, text: &str) -> RecordReport {
    let mut r = RecordReport { diagnostics: Vec::new(), ..RecordReport::empty(record) };
    if !diagnostics.is_empty() {
        locate_all(&mut diagnostics, text);
        r.diagnostics = diagnostics;
        r.text = Some(text.into());
    }
    r
}

/// A `.json` training file: an array of examples (each a record numbered by the line it starts
/// on, located in its own text as a JSONL line is), or a single example. Returns whether a
/// byte-order mark stood before the file's text.
fn read_json_dataset(path: &std::path::Path, settings: &TrainingSettings<'_>, records: &mut Records) -> bool {
    let (text, bom) = match source::read_whole_record(path, settings.max_file_size) {
        Ok(rec) => (rec.text, rec.bom),
        Err(failure) => {
            records.push(RecordReport::failed(None, *failure, None));
            return false;
        }
    };
    let (doc, duplicates) = match source::parse_full(&text) {
        Ok(parsed) => (parsed.value, parsed.duplicates),
        Err(failure) => {
            records.push(RecordReport::failed(None, *failure, Some(text.into())));
            return bom;
        }
    };
    match &doc {
        Value::Array(items) => {
            // One locator for the whole array: each example is found where the previous one ended.
            let mut locator = crate::span::Locator::new(&text);
            for (i, example) in items.iter().enumerate() {
                let (start, end) = locator.locate(&format!("/{i}")).value;
                let line = locator.line_column(start).0;
                let own = &text[start..end];
                let diagnostics = check_example(example, own, duplicates, settings);
                records.push(located(Some(line), diagnostics, own));
            }
        }
        example => {
            let diagnostics = check_example(example, &text, duplicates, settings);
            records.push(located(None, diagnostics, &text));
        }
    }
    bom
}

fn template_findings(template: &ChatTemplate, example: &Value) -> Vec<Diagnostic> {
    match template.audit(example) {
        Audit::Failed(e) => vec![Diagnostic::new(&TRAINING_TEMPLATE_ERROR, "", format!("{}: {e}", template.file))],
        Audit::Rendered { missing, .. } => missing
            .into_iter()
            .map(|m| Diagnostic::new(&TRAINING_TEMPLATE_DROPS, m.pointer, m.what.describe()))
            .collect(),
    }
}

/// Tokens of a training example in any format, counted like `export` counts them.
fn example_tokens(example: &Value, counter: &Counter) -> usize {
    let tools = match example.get("tools") {
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
        None => String::new(),
    };
    if example.get("messages").is_some() {
        let mut sink = Default::default();
        if let Ok(c) = Conversation::of_thread(example, &mut sink) {
            return counter.conversation(&c, &tools);
        }
    }
    let turns = example.get("conversations").and_then(Value::as_array);
    let text: usize = turns
        .into_iter()
        .flatten()
        .map(|t| 4 + t.get("value").and_then(Value::as_str).map_or(0, |v| counter.text(v)))
        .sum();
    text + counter.tools(&tools) + 3
}
