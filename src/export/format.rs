//! What a training format is to threadkit: one `TrainingFormat` per file in `formats/`,
//! chosen by the `Profile` a user names. Adding a format is one file there plus one arm in
//! `Profile::format`; the pipeline (`export::prepare`), `validate --profile` and the export
//! command only talk to the trait.

use std::path::Path;

use serde_json::Value;

use crate::conversation::{Changes, Conversation, ToolSet};
use super::sink::FileInfo;
use crate::diagnostic::Diagnostic;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Profile {
    /// OpenAI chat fine-tuning: `messages` + `tools`, arguments as JSON strings.
    Openai,
    /// TRL / transformers chat templates: `messages` + `tools`, arguments as objects.
    Trl,
    /// Axolotl `type: chat_template` (+ an `axolotl.yaml` snippet).
    Axolotl,
    /// LLaMA-Factory sharegpt with function calls (+ a `dataset_info.json` entry).
    LlamaFactory,
    /// Whole thread objects, one per line (archiving; no conversion).
    Raw,
}

// `Profile::format` lives in `formats/mod.rs`: this file names no format, so the formats can
// depend on it without a circle.
impl Profile {
    pub fn name(self) -> &'static str {
        match self {
            Profile::Openai => "openai",
            Profile::Trl => "trl",
            Profile::Axolotl => "axolotl",
            Profile::LlamaFactory => "llama-factory",
            Profile::Raw => "raw",
        }
    }
}

/// What to do with assistant text that a format has no place for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Unplaceable {
    /// Drop the text and count it in the report.
    Drop,
    /// Skip the whole thread instead of losing any text.
    Skip,
}

/// How LLaMA-Factory's sharegpt `function_call` turns carry the reasoning written before a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CallForm {
    /// `reasoning<tool_call>{"name", "arguments"}</tool_call>`: LLaMA-Factory ≥ 0.9.4 keeps the text.
    ToolCall,
    /// A bare `{"name", "arguments"}` object: older LLaMA-Factory; the reasoning has no place (see --unplaceable).
    Json,
}

/// The choices a user makes that change how examples are rendered.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub unplaceable: Unplaceable,
    pub call_form: CallForm,
}

impl Default for Options {
    fn default() -> Options {
        Options { unplaceable: Unplaceable::Drop, call_form: CallForm::ToolCall }
    }
}

impl Options {
    /// Text the format cannot carry: counted and dropped, or the thread is skipped.
    pub fn lose(&self, what: &str, changes: &mut Changes) -> Result<(), String> {
        match self.unplaceable {
            Unplaceable::Drop => {
                crate::conversation::note(changes, what);
                Ok(())
            }
            Unplaceable::Skip => Err(format!("{what} (--unplaceable skip)")),
        }
    }
}

/// What side files are written from: the export folder, the data files just written, and
/// facts gathered over every example.
pub struct Written<'a> {
    pub dir: &'a Path,
    pub files: &'a [FileInfo],
    /// Split names in the order they were asked for.
    pub splits: Vec<&'a str>,
    /// `--name`: the dataset's name in the framework's registry.
    pub name: &'a str,
}

/// One training format: how an example is written, what makes a line valid, and what
/// else the framework needs beside the data files.
pub trait TrainingFormat: Sync {
    fn profile(&self) -> Profile;

    /// One example from a thread's canonical form. `Err` means the thread cannot be
    /// carried under the chosen options (the reason is reported, the thread skipped).
    ///
    /// Formats whose lines hold the `tools` list leave it out here: it is the same in almost
    /// every example, so `line` copies in its JSON serialized once, `check_example` checks
    /// calls against its names, and `with_tools` puts it in where a whole line is needed.
    fn render(
        &self,
        thread: &Value,
        conversation: &Conversation,
        tools: &ToolSet,
        options: &Options,
        changes: &mut Changes,
    ) -> Result<Value, String>;

    /// The whole line as a value: `render`'s example with the `tools` list in it.
    fn with_tools(&self, example: Value, _tools: &ToolSet) -> Value {
        example
    }

    /// Every finding for one line of a training file (token limits are the caller's).
    fn check(&self, example: &Value) -> Vec<Diagnostic>;

    /// `check` of the line `line(example, tools)` writes, without building it.
    fn check_example(&self, example: &Value, _tools: &ToolSet) -> Vec<Diagnostic> {
        self.check(example)
    }

    /// `render`'s example as one JSON line (no newline): what `serde_json::to_vec` writes for
    /// `with_tools(example, tools)`.
    fn line(&self, example: &Value, _tools: &ToolSet) -> Vec<u8> {
        crate::json::exact_vec(|out| crate::json::write_compact(out, example))
    }

    /// The line and what `check_example` finds on it, straight from the conversation, for a
    /// format whose example is only the conversation's messages: the bytes and findings of
    /// `render` → `check_example` → `line` (with the same changes noted), without building the
    /// example. Export takes this path when no chat template rewrites the example; `Err` is
    /// the first finding. `None`: the format has no such path.
    fn direct_line(
        &self,
        _conversation: &Conversation,
        _tools: &ToolSet,
        _changes: &mut Changes,
    ) -> Option<Result<Vec<u8>, Diagnostic>> {
        None
    }

    /// Files the framework reads beside the data: (file name, contents).
    fn side_files(&self, _written: &Written<'_>) -> Vec<(String, String)> {
        Vec::new()
    }

    /// The token limit applied when the user sets none.
    fn default_max_tokens(&self) -> Option<usize> {
        None
    }

    /// Fewer examples than this in a file are refused by the trainer.
    fn min_examples(&self) -> usize {
        0
    }

    /// Whether the framework's loader reads .jsonl.gz / .jsonl.zst files.
    fn reads_compressed(&self) -> bool {
        true
    }

    /// The example's turns as (role, text, called function) for a short preview.
    fn preview(&self, example: &Value) -> Vec<(String, String, Option<String>)> {
        let turns = example.get("messages").and_then(Value::as_array);
        turns
            .into_iter()
            .flatten()
            .map(|m| {
                let text = m.get("content").and_then(Value::as_str).unwrap_or("").to_string();
                let call = m.pointer("/tool_calls/0/function/name").and_then(Value::as_str).map(str::to_string);
                (m.get("role").and_then(Value::as_str).unwrap_or("?").to_string(), text, call)
            })
            .collect()
    }

    /// Versions of the framework's packages this format's files need, as `export.json` states them.
    fn requires(&self) -> Vec<(&'static str, &'static str)> {
        Vec::new()
    }

    /// The example as the framework hands it to a chat template.
    fn template_view(&self, example: &Value) -> Value {
        example.clone()
    }

    /// Whether "what changed" is reported (raw lines are the threads unchanged).
    fn reports_changes(&self) -> bool {
        true
    }

    /// The `messages` form a chat template receives, or `None` for formats a model's own
    /// template never reads (the framework applies its template by name).
    fn templated(&self) -> bool {
        false
    }
}
