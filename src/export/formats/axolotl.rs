//! Axolotl `type: chat_template`: `messages` + `tools`, and an `axolotl.yaml` datasets
//! block to merge into a config.
//!
//! Call `arguments` and `tools` are written as JSON strings: axolotl loads the files with
//! `datasets` (pinned below 5.0 by axolotl 0.19), whose struct unification gives every
//! call's arguments object the keys of every other tool's calls, set to null; strings pass
//! through untouched, and axolotl's chat_template strategy parses both back into objects
//! before the template sees them (`prompt_strategies/chat_template.py`).

use serde_json::Value;

use super::messages::{self, Arguments, Rules, ToolsAs};
use crate::diagnostic::Diagnostic;
use crate::conversation::{Changes, Conversation, ToolSet};
use crate::export::format::{Options, Profile, TrainingFormat, Written};

/// Axolotl parses string arguments, so files made elsewhere may carry either.
const RULES: Rules = Rules { arguments: Arguments::Either, ..super::trl::RULES };
const RENDER: Rules = Rules { arguments: Arguments::Text, ..super::trl::RULES };

pub struct Axolotl;

impl TrainingFormat for Axolotl {
    fn profile(&self) -> Profile {
        Profile::Axolotl
    }

    fn render(&self, _: &Value, c: &Conversation, _: &ToolSet, _: &Options, _: &mut Changes) -> Result<Value, String> {
        Ok(messages::render(c, RENDER))
    }

    fn direct_line(&self, c: &Conversation, tools: &ToolSet, _: &mut Changes) -> Option<Result<Vec<u8>, Diagnostic>> {
        Some(messages::direct_line(c, tools, RENDER, RULES, ToolsAs::Text))
    }

    fn with_tools(&self, example: Value, tools: &ToolSet) -> Value {
        messages::with_tools(example, tools, ToolsAs::Text)
    }

    fn check_example(&self, example: &Value, tools: &ToolSet) -> Vec<Diagnostic> {
        messages::check_example(example, tools, RULES)
    }

    fn line(&self, example: &Value, tools: &ToolSet) -> Vec<u8> {
        messages::line(example, tools, ToolsAs::Text)
    }

    /// What axolotl hands the template: arguments and tools parsed back into objects.
    fn template_view(&self, example: &Value) -> Value {
        let mut view = example.clone();
        if let Some(Ok(tools)) = view.get("tools").and_then(Value::as_str).map(serde_json::from_str::<Value>) {
            view["tools"] = tools;
        }
        for m in view.get_mut("messages").and_then(Value::as_array_mut).into_iter().flatten() {
            for c in m.get_mut("tool_calls").and_then(Value::as_array_mut).into_iter().flatten() {
                if let Some(args) = c.pointer_mut("/function/arguments") {
                    if let Some(Ok(parsed)) = args.as_str().map(serde_json::from_str::<Value>) {
                        *args = parsed;
                    }
                }
            }
        }
        view
    }

    fn check(&self, example: &Value) -> Vec<Diagnostic> {
        messages::check(example, RULES)
    }

    fn side_files(&self, written: &Written<'_>) -> Vec<(String, String)> {
        vec![("axolotl.yaml".into(), axolotl_yaml(written))]
    }

    fn templated(&self) -> bool {
        true
    }
}

/// The first line of every `axolotl.yaml` threadkit writes: `merge` replaces only such a file.
pub const HEADER: &str = "# Written by `threadkit export --profile axolotl`.";

/// How a `data_files` item starts: one file a line, as a JSON string (which YAML reads).
const DATA_FILE: &str = "      - ";

/// The `data_files` items of an `axolotl.yaml` threadkit wrote, read back (by `merge`, to learn
/// which parts' config it is).
pub fn data_files(yaml: &str) -> Vec<String> {
    yaml.lines().filter_map(|l| l.strip_prefix(DATA_FILE)).filter_map(|item| serde_json::from_str::<String>(item).ok()).collect()
}

/// A `datasets:` block pointing at the files just written. Paths are absolute: axolotl
/// hands a local folder's `data_files` to `datasets.load_dataset`, which resolves them
/// against the working directory, not against the config (`utils/data/shared.py`,
/// `_load_from_local_path`), so relative paths load only from one folder.
fn axolotl_yaml(written: &Written<'_>) -> String {
    let dir = std::path::absolute(written.dir).unwrap_or_else(|_| written.dir.to_path_buf());
    let mut s = format!("{HEADER} Merge into your Axolotl config.\n");
    s.push_str("# Paths are absolute (axolotl resolves data_files against the working directory): re-export after moving the folder.\n");
    let splits: Vec<&str> =
        written.splits.iter().copied().filter(|n| written.files.iter().any(|f| f.split.as_deref() == Some(*n))).collect();
    // The first split trains, the second evaluates; Axolotl has no key for more.
    for (i, split) in splits.iter().take(2).enumerate() {
        s.push_str(if i == 0 { "datasets:\n" } else { "test_datasets:\n" });
        s.push_str(&format!("  - path: {}\n    ds_type: json\n    split: train\n    data_files:\n", yaml_str(&dir.display().to_string())));
        for f in written.files.iter().filter(|f| f.split.as_deref() == Some(split)) {
            s.push_str(&format!("{DATA_FILE}{}\n", yaml_str(&dir.join(&f.path).display().to_string())));
        }
        s.push_str("    type: chat_template\n    field_messages: messages\n    field_tools: tools\n");
        // Axolotl keeps only message keys it finds in the template's source, which misses
        // `tool_calls` in templates that read it another way (gpt-oss): map every key written.
        s.push_str("    message_property_mappings:\n");
        for key in ["role", "content", "tool_calls", "tool_call_id", "name", "reasoning_content", "thinking"] {
            s.push_str(&format!("      {key}: {key}\n"));
        }
        s.push_str("    roles_to_train: [\"assistant\"]\n");
    }
    if splits.len() > 2 {
        s.push_str(&format!("# {} more splits were written; add them as you need.\n", splits.len() - 2));
    }
    s
}

fn yaml_str(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::sink::FileInfo;

    #[test]
    fn the_data_files_written_are_the_data_files_read_back() {
        let file = |path: &str, split: &str| FileInfo {
            path: path.into(),
            split: Some(split.into()),
            records: None,
            bytes: 0,
            sha256: String::new(),
        };
        let files = [file("train-00000.jsonl", "train"), file("odd \"name\": - x.jsonl", "train"), file("validation.jsonl", "validation")];
        let dir = std::path::Path::new("/data/my export");
        let yaml = axolotl_yaml(&Written { dir, files: &files, splits: vec!["train", "validation"], name: "" });
        let expected: Vec<String> = files.iter().map(|f| dir.join(&f.path).display().to_string()).collect();
        assert_eq!(data_files(&yaml), expected);
    }
}
