//! LLaMA-Factory's `dataset_info.json`: which files of a folder are datasets and how each is
//! read (`formatting`, `columns`, `tags`), as its `data/parser.py` reads them. `validate
//! --profile llama-factory DIR` checks a folder holding one as LLaMA-Factory would load it: each
//! local entry's file with that entry's mapping, and the entries themselves.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::diagnostic::Diagnostic;
use crate::findings::{locate_all, FileReport, RecordReport};
use crate::rules::LLAMA_FACTORY_DATASET_INFO;

/// How LLaMA-Factory turns an entry's rows into turns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Formatting {
    Alpaca,
    Sharegpt,
    Openai,
}

/// An entry's `columns` and `tags`, with LLaMA-Factory's defaults where it names none.
#[derive(Debug, Clone)]
pub struct Mapping {
    pub messages: String,
    pub system: String,
    pub tools: String,
    pub role_tag: String,
    pub content_tag: String,
    pub user_tag: String,
    pub assistant_tag: String,
    pub observation_tag: String,
    pub function_tag: String,
    pub system_tag: String,
    pub prompt: String,
    pub query: String,
    pub response: String,
}

impl Mapping {
    fn new(formatting: Formatting) -> Mapping {
        let s = |v: &str| v.to_string();
        let (messages, role, content, user, assistant, observation) = match formatting {
            Formatting::Openai => ("messages", "role", "content", "user", "assistant", "tool"),
            _ => ("conversations", "from", "value", "human", "gpt", "observation"),
        };
        Mapping {
            messages: s(messages),
            system: s("system"),
            tools: s("tools"),
            role_tag: s(role),
            content_tag: s(content),
            user_tag: s(user),
            assistant_tag: s(assistant),
            observation_tag: s(observation),
            function_tag: s("function_call"),
            system_tag: s("system"),
            prompt: s("instruction"),
            query: s("input"),
            response: s("output"),
        }
    }

    /// A row in threadkit's canonical sharegpt keys (`conversations`, `from`/`value`, `human`/`gpt`/…),
    /// so one set of checks serves every mapping; `file_pointer` maps a finding's pointer back.
    pub fn canonical(&self, row: &Value) -> Value {
        let Some(obj) = row.as_object() else { return row.clone() };
        let mut out = Map::new();
        if let Some(turns) = obj.get(&self.messages) {
            let turns = match turns.as_array() {
                Some(list) => Value::Array(list.iter().map(|t| self.turn(t)).collect()),
                None => turns.clone(),
            };
            out.insert("conversations".into(), turns);
        }
        for (from, to) in [(&self.system, "system"), (&self.tools, "tools")] {
            if let Some(v) = obj.get(from) {
                out.insert(to.into(), v.clone());
            }
        }
        Value::Object(out)
    }

    fn turn(&self, t: &Value) -> Value {
        let Some(t) = t.as_object() else { return t.clone() };
        let mut out = Map::new();
        if let Some(role) = t.get(&self.role_tag) {
            let canonical = match role.as_str() {
                Some(r) if r == self.user_tag => "human".into(),
                Some(r) if r == self.assistant_tag => "gpt".into(),
                Some(r) if r == self.observation_tag => "observation".into(),
                Some(r) if r == self.function_tag => "function_call".into(),
                Some(r) if r == self.system_tag => "system".into(),
                _ => role.clone(),
            };
            out.insert("from".into(), canonical);
        }
        if let Some(v) = t.get(&self.content_tag) {
            out.insert("value".into(), v.clone());
        }
        Value::Object(out)
    }

    /// A pointer into the canonical row, as a pointer into the row as the file holds it.
    pub fn file_pointer(&self, pointer: &str) -> String {
        let mut parts: Vec<String> = pointer.split('/').map(str::to_string).collect();
        let rename = |key: &str| crate::json::escape_token(key).into_owned();
        match parts.get(1).map(String::as_str) {
            Some("conversations") => {
                parts[1] = rename(&self.messages);
                if let Some(leaf) = parts.get_mut(3) {
                    *leaf = match leaf.as_str() {
                        "from" => rename(&self.role_tag),
                        "value" => rename(&self.content_tag),
                        other => other.to_string(),
                    };
                }
            }
            Some("tools") => parts[1] = rename(&self.tools),
            Some("system") => parts[1] = rename(&self.system),
            _ => {}
        }
        parts.join("/")
    }
}

/// One local dataset of a `dataset_info.json`.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub name: String,
    pub file: PathBuf,
    pub formatting: Formatting,
    pub mapping: Mapping,
}

/// What a folder's `dataset_info.json` says: its local datasets, the findings about the file
/// itself, and the entries LLaMA-Factory loads from elsewhere (hub, script, cloud).
pub struct Info {
    pub datasets: Vec<Dataset>,
    pub report: FileReport,
    pub remote: Vec<String>,
}

pub const FILE: &str = "dataset_info.json";

/// Read `dir/dataset_info.json` (which must exist) as LLaMA-Factory does.
pub fn read(dir: &Path, max_file_size: u64) -> Info {
    let path = dir.join(FILE);
    let mut info = Info {
        datasets: Vec::new(),
        report: FileReport { path: path.clone(), records: Vec::new(), clean: 0, stamp: None },
        remote: Vec::new(),
    };
    let text = match crate::source::read_whole(&path, max_file_size) {
        Ok(t) => t,
        Err(failure) => {
            info.report.records.push(RecordReport::failed(None, *failure, None));
            return info;
        }
    };
    let parsed = match crate::source::parse_full(&text) {
        Ok(p) => p,
        Err(failure) => {
            info.report.records.push(RecordReport::failed(None, *failure, Some(text.into())));
            return info;
        }
    };
    let mut found = if parsed.duplicates { crate::source::duplicate_key_findings(&text) } else { Vec::new() };
    let bad = |pointer: String, message: String| Diagnostic::new(&LLAMA_FACTORY_DATASET_INFO, pointer, message);
    match parsed.value.as_object() {
        None => found.push(bad(String::new(), "dataset_info.json must be an object of dataset names to entries".into())),
        Some(entries) => {
            for (name, entry) in entries {
                let at = format!("/{}", crate::json::escape_token(name));
                match read_entry(dir, name, entry, &at) {
                    Ok(Some(d)) => info.datasets.push(d),
                    Ok(None) => info.remote.push(name.clone()),
                    Err((pointer, message)) => found.push(bad(pointer, message)),
                }
            }
        }
    }
    if !found.is_empty() {
        locate_all(&mut found, &text);
        info.report.records.push(RecordReport { diagnostics: found, text: Some(text.into()), ..RecordReport::empty(None) });
    } else {
        info.report.clean = 1;
    }
    info
}

/// One entry: `Ok(None)` for a dataset LLaMA-Factory fetches (hub, script, cloud), `Err` with
/// the pointer and the reason LLaMA-Factory would fail on it.
fn read_entry(dir: &Path, name: &str, entry: &Value, at: &str) -> Result<Option<Dataset>, (String, String)> {
    let Some(e) = entry.as_object() else {
        return Err((at.to_string(), format!("the entry {name:?} must be an object")));
    };
    if ["hf_hub_url", "ms_hub_url", "om_hub_url", "script_url", "cloud_file_name"].iter().any(|k| e.contains_key(*k)) {
        return Ok(None);
    }
    let Some(file) = e.get("file_name") else {
        return Err((at.to_string(), format!("{name:?} names no file_name (nor hf_hub_url, ms_hub_url, script_url, cloud_file_name)")));
    };
    let Some(file) = file.as_str() else {
        return Err((format!("{at}/file_name"), "`file_name` must be a string".into()));
    };
    let formatting = match e.get("formatting").map(|f| f.as_str()) {
        None | Some(Some("alpaca")) => Formatting::Alpaca,
        Some(Some("sharegpt")) => Formatting::Sharegpt,
        Some(Some("openai")) => Formatting::Openai,
        Some(other) => {
            return Err((format!("{at}/formatting"), format!("`formatting` {other:?} is not alpaca, sharegpt or openai")));
        }
    };
    let mut mapping = Mapping::new(formatting);
    for group in ["columns", "tags"] {
        let Some(given) = e.get(group) else { continue };
        let Some(given) = given.as_object() else {
            return Err((format!("{at}/{group}"), format!("`{group}` must be an object")));
        };
        for (k, v) in given {
            let Some(v) = v.as_str() else {
                return Err((format!("{at}/{group}/{}", crate::json::escape_token(k)), format!("`{group}.{k}` must be a string")));
            };
            let slot = match k.as_str() {
                "messages" => &mut mapping.messages,
                "system" => &mut mapping.system,
                "tools" => &mut mapping.tools,
                "prompt" => &mut mapping.prompt,
                "query" => &mut mapping.query,
                "response" => &mut mapping.response,
                "role_tag" => &mut mapping.role_tag,
                "content_tag" => &mut mapping.content_tag,
                "user_tag" => &mut mapping.user_tag,
                "assistant_tag" => &mut mapping.assistant_tag,
                "observation_tag" => &mut mapping.observation_tag,
                "function_tag" => &mut mapping.function_tag,
                "system_tag" => &mut mapping.system_tag,
                // Columns threadkit does not check (images, chosen, kto_tag, …) are LLaMA-Factory's to read.
                _ => continue,
            };
            *slot = v.to_string();
        }
    }
    let path = dir.join(file);
    if !path.exists() {
        return Err((format!("{at}/file_name"), format!("{name:?}: {file} is not in {}", crate::text::shown(dir))));
    }
    Ok(Some(Dataset { name: name.to_string(), file: path, formatting, mapping }))
}

/// The findings of one alpaca row: its prompt and response columns, strings (LLaMA-Factory's
/// alpaca converter reads them as the user's and the assistant's text).
pub fn check_alpaca(row: &Value, m: &Mapping) -> Vec<Diagnostic> {
    use crate::rules::{TRAINING_CONTENT_NOT_STRING, TRAINING_NOT_AN_EXAMPLE};
    let Some(obj) = row.as_object() else {
        return vec![Diagnostic::new(&TRAINING_NOT_AN_EXAMPLE, "", "an alpaca row must be a JSON object")];
    };
    let mut out = Vec::new();
    for (column, required) in [(&m.prompt, true), (&m.response, true), (&m.query, false), (&m.system, false)] {
        let at = format!("/{}", crate::json::escape_token(column));
        match obj.get(column.as_str()) {
            None if required => out.push(Diagnostic::new(&TRAINING_NOT_AN_EXAMPLE, "", format!("an alpaca row needs `{column}`"))),
            Some(v) if !(v.is_string() || column == &m.response && v.is_array()) => {
                out.push(Diagnostic::new(&TRAINING_CONTENT_NOT_STRING, at, format!("`{column}` must be a string")))
            }
            _ => {}
        }
    }
    out
}
