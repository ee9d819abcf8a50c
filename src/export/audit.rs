//! `validate --profile`: training files made by threadkit or elsewhere, checked line by line
//! with the format's own rules, its token limit, and (with `--chat-template`) the model's
//! chat template.

use serde_json::Value;

use super::chat_template::{Audit, ChatTemplate};
use crate::conversation::Conversation;
use super::format::Profile;
use crate::tokens::Counter;
use crate::diagnostic::Diagnostic;
use crate::rules::{TRAINING_TEMPLATE_DROPS, TRAINING_TEMPLATE_ERROR, TRAINING_TOO_FEW, TRAINING_TOO_LONG};
use crate::source;
use crate::findings::{locate_all, FileReport, RecordReport};
use crate::source::DEFAULT_MAX_FILE_SIZE;
use crate::walk::Entry;

/// What `validate --profile` checks a training file with.
pub struct TrainingSettings<'a> {
    pub profile: Profile,
    /// Examples above this many tokens are findings.
    pub max_tokens: Option<usize>,
    pub counter: Counter,
    pub template: Option<&'a ChatTemplate>,
}

/// The per-file pipeline for a training file (JSONL of examples): read each line,
/// parse, check against the format's rules, token limit and chat template, locate.
pub fn validate_training_entry(entry: &Entry, settings: &TrainingSettings<'_>) -> FileReport {
    let path = entry.path.clone();
    let format = settings.profile.format();
    let mut records = Vec::new();
    crate::records::for_each_of(entry, DEFAULT_MAX_FILE_SIZE, |item| match item {
        Ok(rec) => {
            let report = match source::parse(&rec.text) {
                Err(failure) => RecordReport::failed(rec.record, *failure, Some(rec.text.into())),
                Ok(example) => {
                    let mut diagnostics = format.check(&example);
                    if let Some(limit) = settings.max_tokens {
                        let n = example_tokens(&example, &settings.counter);
                        if n > limit {
                            diagnostics.push(Diagnostic::new(
                                &TRAINING_TOO_LONG,
                                "",
                                format!("{n} tokens, more than the limit of {limit}"),
                            ));
                        }
                    }
                    if let Some(template) = settings.template {
                        diagnostics.extend(template_findings(template, &format.template_view(&example)));
                    }
                    let mut r = RecordReport {
                        record: rec.record,
                        version: None,
                        id: None,
                        diagnostics,
                        text: None,
                        doc: None,
                        summary: None,
                    };
                    if !r.diagnostics.is_empty() {
                        locate_all(&mut r.diagnostics, &rec.text);
                        r.text = Some(rec.text.into());
                    }
                    r
                }
            };
            records.push(report);
        }
        Err(u) => records.push(RecordReport::failed(u.record, *u.failure, None)),
    });
    let min = format.min_examples();
    if records.len() < min {
        let d = Diagnostic::new(
            &TRAINING_TOO_FEW,
            "",
            format!("{} examples; {} needs at least {min}", records.len(), settings.profile.name()),
        );
        records.push(RecordReport::failed(None, d, None));
    }
    FileReport { path, records, stamp: None }
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
