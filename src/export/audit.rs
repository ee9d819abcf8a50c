//! `validate --profile`: training files made by threadkit or elsewhere, checked line by line
//! with the format's own rules, its token limit, and (with `--chat-template`) the model's
//! chat template.

use serde_json::Value;

use super::chat_template::{Audit, ChatTemplate};
use crate::conversation::Conversation;
use super::dataset_info::{check_alpaca, Dataset, Formatting};
use super::format::Profile;
use crate::tokens::Counter;
use crate::diagnostic::Diagnostic;
use crate::rules::{EMPTY_FILE, TRAINING_TEMPLATE_DROPS, TRAINING_TEMPLATE_ERROR, TRAINING_TOO_FEW, TRAINING_TOO_LONG};
use crate::source;
use crate::findings::{locate_all, FileReport, RecordReport};
use crate::walk::Entry;

/// What `validate --profile` checks a training file with.
#[derive(Clone, Copy)]
pub struct TrainingSettings<'a> {
    pub profile: Profile,
    /// Examples above this many tokens are findings.
    pub max_tokens: Option<usize>,
    pub counter: &'a Counter,
    pub template: Option<&'a ChatTemplate>,
    /// Files (and JSONL lines) larger than this are findings, not read.
    pub max_file_size: u64,
    /// The template concatenates tool call arguments: strings holding an object are its form.
    pub string_arguments: bool,
}

/// The per-file pipeline for a training file: JSONL of examples (one per line), or a `.json`
/// dataset (an array of examples, as LLaMA-Factory and Alpaca-style loaders read it, or one
/// example). Each example is parsed, checked against the format's rules, token limit and chat
/// template, and located. A file with no example at all is a finding: trainers refuse it.
pub fn validate_training_entry(entry: &Entry, settings: &TrainingSettings<'_>) -> FileReport {
    validate_mapped_entry(entry, settings, None)
}

/// `validate_training_entry` for a file a LLaMA-Factory `dataset_info.json` entry describes: its
/// rows are read with the entry's `formatting`, `columns` and `tags`.
pub fn validate_mapped_entry(entry: &Entry, settings: &TrainingSettings<'_>, mapping: Option<&Dataset>) -> FileReport {
    let path = entry.path.clone();
    let format = settings.profile.format();
    let mut records = Records::default();
    let mut bom = false;
    if entry.problem.is_none() && source::is_json(&path) {
        bom = read_json_dataset(&path, settings, mapping, &mut records);
    } else {
        crate::records::for_each_of(entry, settings.max_file_size, |item| match item {
            Ok(rec) => records.push(match source::parse_full(&rec.text) {
                Err(failure) => RecordReport::failed(rec.record, *failure, Some(rec.text.into())),
                Ok(parsed) => {
                    let mut diagnostics = check_mapped(&parsed.value, &rec.text, parsed.duplicates, settings, mapping);
                    if rec.bom {
                        diagnostics.insert(0, bom_finding());
                    }
                    located(rec.record, diagnostics, &rec.text)
                }
            }),
            Err(u) => records.push(RecordReport::failed(u.record, *u.failure, None)),
        });
    }
    // An empty or blank JSONL file is one TK004 record already (`records`); a `.json` dataset
    // with no example (`[]`) is found here.
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
    check_mapped(example, text, duplicates, settings, None)
}

fn check_mapped(
    example: &Value,
    text: &str,
    duplicates: bool,
    settings: &TrainingSettings<'_>,
    mapping: Option<&Dataset>,
) -> Vec<Diagnostic> {
    let format = settings.profile.format();
    let mut diagnostics = if duplicates { source::duplicate_key_findings(text) } else { Vec::new() };
    match mapping {
        None => diagnostics.extend(format.check(example)),
        Some(d) if d.formatting == Formatting::Alpaca => diagnostics.extend(check_alpaca(example, &d.mapping)),
        Some(d) => diagnostics.extend(format.check(&d.mapping.canonical(example)).into_iter().map(|mut f| {
            f.pointer = d.mapping.file_pointer(&f.pointer);
            f
        })),
    }
    if let Some(limit) = settings.max_tokens {
        let n = example_tokens(example, settings.counter);
        if n > limit {
            diagnostics.push(Diagnostic::new(&TRAINING_TOO_LONG, "", format!("{n} tokens, more than the limit of {limit}")));
        }
    }
    if let Some(template) = settings.template {
        if settings.string_arguments {
            diagnostics.retain(|d| !super::chat_template::string_arguments_finding(d, example));
        }
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
fn read_json_dataset(
    path: &std::path::Path,
    settings: &TrainingSettings<'_>,
    mapping: Option<&Dataset>,
    records: &mut Records,
) -> bool {
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
                let diagnostics = check_mapped(example, own, duplicates, settings, mapping);
                records.push(located(Some(line), diagnostics, own));
            }
        }
        example => {
            let diagnostics = check_mapped(example, &text, duplicates, settings, mapping);
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
    // sharegpt turns (`value`), or messages the conversation reader does not take (LLaMA-Factory
    // v1's typed parts, each with a `value`; TRL's `text` parts).
    let turns = example.get("conversations").or_else(|| example.get("messages")).and_then(Value::as_array);
    let text_of = |v: &Value| -> usize {
        match v {
            Value::String(s) => counter.text(s),
            Value::Array(parts) => parts
                .iter()
                .filter_map(|p| p.get("value").or_else(|| p.get("text")).and_then(Value::as_str))
                .map(|s| counter.text(s))
                .sum(),
            _ => 0,
        }
    };
    let text: usize =
        turns.into_iter().flatten().map(|t| 4 + t.get("value").or_else(|| t.get("content")).map_or(0, text_of)).sum();
    text + counter.tools(&tools) + 3
}

/// What `validate --profile P --fix` would change in one training file.
pub struct FixedFile {
    /// JSONL: each changed line as (line number, old text, new text), newlines left out.
    pub lines: Vec<(usize, String, String)>,
    /// A `.json` dataset: the whole new text (the old one is `old_text`).
    pub whole: Option<String>,
    pub old_text: String,
    /// Findings resolved.
    pub resolved: usize,
}

/// The fixable findings of one example applied until none is left (`fix::settle`, the loop
/// thread fixes go through). `None`: nothing to fix.
pub fn fix_example(example: &Value, settings: &TrainingSettings<'_>) -> Result<Option<(Value, usize)>, String> {
    let check = |e: &Value| check_example(e, "", false, settings);
    if !check(example).iter().any(|d| d.fix.is_some()) {
        return Ok(None);
    }
    let (fixed, resolved, _) = crate::fix::settle(example.clone(), check)?;
    Ok(Some((fixed, resolved.len())))
}

/// Every fix of a plain `.jsonl` file or a `.json` dataset, computed on its text as it is now.
/// Changed examples are written in their own layout (`pyjson`: spacing, indentation and ASCII
/// escapes as found); untouched lines keep every byte. `Ok(None)`: nothing to fix.
pub fn fix_training_file(path: &std::path::Path, settings: &TrainingSettings<'_>) -> Result<Option<FixedFile>, String> {
    if source::is_compressed(path) {
        return Err("a compressed file is not rewritten in place; decompress it, fix it, compress it again".into());
    }
    let text = source::read_whole(path, settings.max_file_size).map_err(|d| d.message.clone())?;
    let mut resolved = 0;
    if source::is_json(path) {
        let Ok(mut doc) = source::parse(&text) else { return Ok(None) };
        let mut changed = false;
        let examples: Vec<&mut Value> = match &mut doc {
            Value::Array(items) => items.iter_mut().collect(),
            one => vec![one],
        };
        for example in examples {
            if let Some((fixed, n)) = fix_example(example, settings)? {
                *example = fixed;
                resolved += n;
                changed = true;
            }
        }
        if !changed {
            return Ok(None);
        }
        let whole = crate::fix::render(&doc, &text);
        return Ok(Some(FixedFile { lines: Vec::new(), whole: Some(whole), old_text: text, resolved }));
    }
    let mut lines = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        let body = line.trim_end_matches('\r').trim_start_matches('\u{feff}');
        let Ok(example) = serde_json::from_str::<Value>(body) else { continue };
        if let Some((fixed, n)) = fix_example(&example, settings)? {
            resolved += n;
            let new = crate::pyjson::to_string(&fixed, crate::pyjson::Style::detect(body));
            lines.push((i + 1, body.to_string(), new));
        }
    }
    if lines.is_empty() {
        return Ok(None);
    }
    Ok(Some(FixedFile { lines, whole: None, old_text: text, resolved }))
}

/// The format of a training file as `--profile auto` decides it: the shape of its first example
/// (`ingest::detect`), with the reason. `None` when the file holds no example threadkit reads.
pub fn detect_file(path: &std::path::Path, max_file_size: u64) -> Option<(Profile, &'static str)> {
    super::ingest::detect(&super::ingest::first_example(path, max_file_size)?)
}
