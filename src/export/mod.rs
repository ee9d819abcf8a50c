//! Validated threads → training files. The per-thread step (`prepare`: validate,
//! filter, convert, count tokens, render in the chosen format, render through the model's
//! chat template, re-check the example) runs on worker threads and returns one `Outcome`;
//! `commands::export` spools the examples, assigns splits, orders them by id and writes the files.
//!
//! `conversation` is the canonical form every format renders; `format` is the trait one
//! file per format in `formats/` implements; `audit` checks training files made elsewhere.

pub mod audit;
pub mod chat_template;
pub mod dataset_info;
pub mod format;
pub mod in_order;
pub mod ingest;
pub mod formats;
pub mod sink;
pub mod split;
pub mod partitions;
pub mod spool;


use crate::check;
use crate::convert;
use crate::data_root::DataRoot;
use crate::source;
use crate::thread::ThreadView;
use crate::version::Version;

use chat_template::{Adaptation, Audit, ChatTemplate};
use crate::conversation::{self, Changes, Conversation};
use format::Profile;
use crate::tokens::Counter;
pub use crate::tokens::TokenStats;

/// Which threads to export. Empty lists mean "any".
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Filters {
    /// `None`: every status.
    pub statuses: Option<Vec<String>>,
    pub correct_only: bool,
    pub min_tool_calls: usize,
    pub datasets: Vec<String>,
    pub labels: Vec<String>,
    pub max_tokens: Option<usize>,
}

pub struct Settings<'a> {
    pub profile: Profile,
    pub filters: Filters,
    pub options: format::Options,
    pub counter: Counter,
    pub data_root: Option<&'a DataRoot>,
    /// `--chat-template`: every example is rendered through it (after the adaptation).
    pub template: Option<(&'a ChatTemplate, Adaptation)>,
    /// `--quality`: what the quality rules' findings do to a thread.
    pub quality: QualityMode,
    /// The datasets' labels, for `answer-not-in-labels` (read once per dataset).
    pub labels: crate::quality::LabelCache<'a>,
}

/// What `export --quality` does with a thread the quality rules flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum QualityMode {
    /// Leave out threads with error-severity findings, and all but the first of near-duplicates.
    #[default]
    Deny,
    /// Export them, and count the findings in export.json.
    Warn,
    /// Do not run the quality rules.
    Off,
}

/// Why a thread was not exported. The order is the order of the checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Skip {
    Invalid,
    DuplicateId,
    Status,
    Dataset,
    Label,
    NotCorrect,
    TooFewToolCalls,
    Unconvertible,
    TooManyTokens,
    MessageTooLarge,
    TemplateError,
    TemplateDropsText,
    DuplicateExample,
    Quality,
    NearDuplicate,
}

/// The longest message text an example may hold. Longer ones are no training data (no
/// trainer's context holds them), and counting their tokens would cost seconds and
/// gigabytes (BPE is superlinear in one long piece): they are skipped before counting.
pub const MAX_MESSAGE_BYTES: usize = 1 << 20;

/// The largest `max_tokens` a user may give: an example's count is held in 32 bits (`spool`).
pub const MAX_TOKENS_LIMIT: u32 = u32::MAX;

impl Skip {
    /// Skips a user must hear about one by one (the others are choices they made).
    pub fn is_reported(self) -> bool {
        matches!(
            self,
            Skip::Invalid
                | Skip::Unconvertible
                | Skip::DuplicateId
                | Skip::TemplateError
                | Skip::TemplateDropsText
                | Skip::Quality
                | Skip::NearDuplicate
        )
    }

    pub fn describe(self) -> &'static str {
        match self {
            Skip::Invalid => "invalid (fails `threadkit validate`)",
            Skip::DuplicateId => "duplicate id",
            Skip::Status => "status not selected",
            Skip::Dataset => "dataset not selected",
            Skip::Label => "label not selected",
            Skip::NotCorrect => "not correct (--correct-only)",
            Skip::TooFewToolCalls => "too few tool calls",
            Skip::Unconvertible => "cannot be carried by the profile",
            Skip::TooManyTokens => "too many tokens",
            Skip::MessageTooLarge => "a message longer than 1 MiB (not tokenized)",
            Skip::TemplateError => "the chat template fails on it",
            Skip::TemplateDropsText => "the chat template drops some of its text (--unplaceable skip)",
            Skip::DuplicateExample => "byte-identical to an example exported already",
            Skip::Quality => "quality findings (`threadkit quality`; --quality warn keeps them)",
            Skip::NearDuplicate => "a near-duplicate of a thread exported already (TKQ08)",
        }
    }
}

#[derive(Debug)]
pub struct Example {
    pub id: String,
    pub dataset: String,
    pub session: String,
    pub label: String,
    pub tokens: usize,
    /// The example as one JSON line (no newline).
    pub line: Vec<u8>,
    pub changes: Changes,
    /// Quality rules that flagged the thread (kept under `--quality warn`).
    pub quality: Vec<&'static str>,
    /// For the near-duplicate check the export makes in path order.
    pub features: Option<Box<crate::corpus::Features>>,
}

#[derive(Debug)]
pub enum Outcome {
    Exported(Box<Example>),
    Skipped { reason: Skip, id: Option<String>, detail: String },
}

/// A thread whose example would break a rule of its format.
fn unwritable(id: &str, finding: &crate::diagnostic::Diagnostic) -> Outcome {
    skipped(Skip::Unconvertible, Some(id), format!("the example would break {}: {}", finding.code(), finding.message))
}

fn skipped(reason: Skip, id: Option<&str>, detail: impl Into<String>) -> Outcome {
    Outcome::Skipped { reason, id: id.map(str::to_string), detail: detail.into() }
}

/// Everything that happens to one thread, from its text to its example line.
pub fn prepare(text: &str, file_stem: Option<&str>, settings: &Settings<'_>) -> Outcome {
    let doc = match source::parse(text) {
        Ok(doc) => doc,
        Err(failure) => return skipped(Skip::Invalid, None, format!("{}: {}", failure.code(), failure.message)),
    };
    let checked = check::check(&doc, file_stem, check::Options { data_root: settings.data_root });
    let id = checked.id.as_deref();
    if let Some(first) = checked.diagnostics.iter().find(|d| d.is_error()) {
        let at = if first.pointer.is_empty() { String::new() } else { format!(" (at {})", first.pointer) };
        return skipped(Skip::Invalid, id, format!("{}: {}{at}", first.code(), first.message));
    }
    let Some(version) = checked.version else { return skipped(Skip::Invalid, id, "not a thread") };
    let view = ThreadView::new(&doc, version);
    let f = &settings.filters;
    let status = view.status_str().unwrap_or("");
    if let Some(statuses) = &f.statuses {
        if !statuses.iter().any(|s| s == status) {
            return skipped(Skip::Status, id, format!("status {status:?}"));
        }
    }
    let dataset = view.dataset().unwrap_or("").to_string();
    if !f.datasets.is_empty() && !f.datasets.iter().any(|d| d == &dataset) {
        return skipped(Skip::Dataset, id, format!("dataset {dataset:?}"));
    }
    let label = view.ground_truth().unwrap_or("").to_string();
    if !f.labels.is_empty() && !f.labels.iter().any(|l| crate::thread::same_label(l, &label)) {
        return skipped(Skip::Label, id, format!("label {label:?}"));
    }
    if f.correct_only && view.is_correct() != Some(true) {
        return skipped(Skip::NotCorrect, id, "is_correct is not true");
    }
    // Counting walks every message: only when there is a minimum to hold the count to.
    if f.min_tool_calls > 0 {
        let calls = view.counts().tool_calls;
        if calls < f.min_tool_calls {
            return skipped(Skip::TooFewToolCalls, id, format!("{calls} tool calls"));
        }
    }
    let session = view.session().unwrap_or("").to_string();
    let id = id.unwrap_or("").to_string();

    let mut changes = Changes::new();
    let openai_doc;
    let thread = match version {
        Version::OpenAiV1 => &doc,
        _ => {
            match convert::in_memory(&doc, version, settings.data_root) {
                Ok(d) => openai_doc = d,
                Err(e) => return skipped(Skip::Unconvertible, Some(&id), format!("legacy thread: {e}")),
            }
            *changes.entry("legacy 3.0 thread converted to openai_v1".into()).or_default() += 1;
            &openai_doc
        }
    };
    let mut quality = Vec::new();
    let mut features = None;
    if settings.quality != QualityMode::Off {
        let findings = settings.labels.check(thread);
        if settings.quality == QualityMode::Deny && findings.iter().any(|d| d.is_error()) {
            // One reason per rule: its first finding, and how many there were.
            let mut reasons: Vec<(&crate::diagnostic::Diagnostic, usize)> = Vec::new();
            for d in findings.iter().filter(|d| d.is_error()) {
                match reasons.iter_mut().find(|(r, _)| r.rule.code == d.rule.code) {
                    Some((_, n)) => *n += 1,
                    None => reasons.push((d, 1)),
                }
            }
            let text: Vec<String> = reasons
                .iter()
                .map(|(d, n)| {
                    let times = if *n > 1 { format!(" ({n}×)") } else { String::new() };
                    format!("{} {}{times}: {}", d.code(), d.rule.name, d.message)
                })
                .collect();
            return skipped(Skip::Quality, Some(&id), text.join("; "));
        }
        quality = findings.iter().map(|d| d.rule.code).collect();
        quality.sort_unstable();
        quality.dedup();
        // Only `deny` leaves near-duplicates out (in path order, as lines are spooled).
        if settings.quality == QualityMode::Deny {
            features = Some(Box::new(crate::corpus::Features::of(thread, false)));
        }
    }
    let mut conversation = match Conversation::of_thread(thread, &mut changes) {
        Ok(c) => c,
        Err(e) => return skipped(Skip::Unconvertible, Some(&id), e),
    };
    if let Some(len) = conversation.longest_text().filter(|&n| n > MAX_MESSAGE_BYTES) {
        return skipped(
            Skip::MessageTooLarge,
            Some(&id),
            format!("a message of {} (the limit is 1 MiB)", crate::text::human_bytes(len as u64)),
        );
    }
    conversation.drop_trailing_results(&mut changes);
    let tools = conversation::tool_definitions(&conversation, &mut changes);
    let meta = Meta { id, dataset, session, label, quality, features };
    write_example(&doc, &conversation, &tools, changes, meta, settings)
}

/// One training example made elsewhere, as a line of the profile's format (`convert`). `from`:
/// the format it is in (`None`: recognised by its shape). It is held to its own format's rules
/// first, as `validate --profile` would: an example its own trainer would refuse is not carried on.
pub fn prepare_example(example: &serde_json::Value, id: &str, from: Option<Profile>, settings: &Settings<'_>) -> Outcome {
    let Some(from) = from.or_else(|| ingest::detect(example).map(|(p, _)| p)) else {
        return skipped(Skip::Invalid, Some(id), "not an example of a training format threadkit reads (no `messages` or `conversations` list)");
    };
    if let Some(d) = from.format().check(example).into_iter().find(|d| d.is_error()) {
        let at = if d.pointer.is_empty() { String::new() } else { format!(" (at {})", d.pointer) };
        return skipped(Skip::Invalid, Some(id), format!("{} as {}: {}{at}", d.code(), from.name(), d.message));
    }
    let mut changes = Changes::new();
    let (doc, declared) = match ingest::to_messages(example, from, &mut changes) {
        Ok(x) => x,
        Err(e) => return skipped(Skip::Unconvertible, Some(id), e),
    };
    let mut conversation = match Conversation::of_thread(&doc, &mut changes) {
        Ok(c) => c,
        Err(e) => return skipped(Skip::Unconvertible, Some(id), e),
    };
    conversation.drop_trailing_results(&mut changes);
    // The tools the example declared travel with it; an example that declared none gets them inferred.
    let tools = match declared {
        Some(list) => std::sync::Arc::new(conversation::ToolSet::new(list)),
        None => conversation::tool_definitions(&conversation, &mut changes),
    };
    let meta = Meta {
        id: id.to_string(),
        dataset: String::new(),
        session: id.to_string(),
        label: String::new(),
        quality: Vec::new(),
        features: None,
    };
    write_example(&doc, &conversation, &tools, changes, meta, settings)
}

/// What an example carries beside its line: where it came from and what the rules said.
pub struct Meta {
    pub id: String,
    pub dataset: String,
    pub session: String,
    pub label: String,
    pub quality: Vec<&'static str>,
    pub features: Option<Box<crate::corpus::Features>>,
}

/// The example line of one conversation in the profile's format (`doc` is what a raw line
/// holds): token limit, template audit and adaptation, then the format's own checks.
pub fn write_example(
    doc: &serde_json::Value,
    conversation: &Conversation,
    tools: &conversation::ToolSet,
    mut changes: Changes,
    meta: Meta,
    settings: &Settings<'_>,
) -> Outcome {
    let Meta { id, dataset, session, label, quality, features } = meta;
    let format = settings.profile.format();
    let f = &settings.filters;
    let tokens = settings.counter.conversation(conversation, &tools.json);
    if let Some(max) = f.max_tokens {
        if tokens > max {
            return skipped(Skip::TooManyTokens, Some(&id), format!("{tokens} tokens > {max}"));
        }
    }
    let direct = match settings.template {
        None => format.direct_line(conversation, tools, &mut changes),
        Some(_) => None,
    };
    let line = match direct {
        Some(Ok(line)) => line,
        Some(Err(d)) => return unwritable(&id, &d),
        None => {
            // Raw lines are the threads as they are: `doc`, not the converted form.
            let mut example = match format.render(doc, conversation, tools, &settings.options, &mut changes) {
                Ok(e) => e,
                Err(e) => return skipped(Skip::Unconvertible, Some(&id), e),
            };
            if let Some((template, adaptation)) = settings.template {
                adaptation.apply(&mut example, &mut changes);
                match template.audit(&format.template_view(&format.with_tools(example.clone(), tools))) {
                    Audit::Failed(e) => return skipped(Skip::TemplateError, Some(&id), e),
                    Audit::Rendered { missing, .. } => {
                        for m in &missing {
                            if let Err(e) = settings.options.lose(m.what.describe(), &mut changes) {
                                return skipped(Skip::TemplateDropsText, Some(&id), format!("{e} at {}", m.pointer));
                            }
                        }
                    }
                }
            }
            // Every line written is checked by the same rules `validate --profile` applies.
            let strings = settings.template.is_some_and(|(_, a)| a.string_arguments);
            let mut findings = format.check_example(&example, tools);
            findings.retain(|d| !(strings && chat_template::string_arguments_finding(d, &example)));
            if let Some(d) = findings.into_iter().next() {
                return unwritable(&id, &d);
            }
            format.line(&example, tools)
        }
    };
    if !format.reports_changes() {
        changes.clear();
    }
    Outcome::Exported(Box::new(Example { id, dataset, session, label, tokens, line, changes, quality, features }))
}
