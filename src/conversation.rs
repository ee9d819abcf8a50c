//! The canonical form every training format renders: one validated `openai_v1` thread
//! read into turns, and the `tools` list its example carries. Everything a format has to
//! change or drop is counted in `Changes` under a stable description.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, OnceLock};

use serde_json::{json, Map, Value};

use crate::pyjson;

/// What a profile changed or dropped, and how often (description → count).
pub type Changes = BTreeMap<String, usize>;

pub fn note(changes: &mut Changes, what: &str) {
    *changes.entry(what.to_string()).or_default() += 1;
}

pub struct Call<'a> {
    pub id: &'a str,
    pub name: &'a str,
    /// The arguments as the thread stored them (a JSON string).
    pub arguments_text: Cow<'a, str>,
    /// `arguments_text` parsed, on first use: the openai profile writes the text as it is,
    /// and building a map per call was 1 % of its export.
    arguments: OnceLock<Value>,
}

impl Call<'_> {
    /// The arguments object.
    pub fn arguments(&self) -> &Value {
        // `of_thread` checked that the text parses (`json::check_text`), so the `Null` is never seen.
        self.arguments.get_or_init(|| serde_json::from_str(&self.arguments_text).unwrap_or(Value::Null))
    }
}

/// Texts are borrowed from the thread they were read from (copying each one was 2 % of an
/// export); a text the reader had to make (a tool result object written as a string) is owned.
pub enum Turn<'a> {
    System(&'a str),
    User(&'a str),
    Assistant { content: &'a str, calls: Vec<Call<'a>> },
    Tool { call_id: &'a str, name: &'a str, content: Cow<'a, str> },
}

/// The facts of one conversation, independent of any format.
pub struct Conversation<'a> {
    pub turns: Vec<Turn<'a>>,
}

impl<'a> Conversation<'a> {
    /// Bytes of the longest text in the conversation (a message, or a call's arguments).
    pub fn longest_text(&self) -> Option<usize> {
        self.turns
            .iter()
            .map(|t| match t {
                Turn::System(s) | Turn::User(s) => s.len(),
                Turn::Assistant { content, calls } => {
                    calls.iter().map(|c| c.arguments_text.len()).fold(content.len(), usize::max)
                }
                Turn::Tool { content, .. } => content.len(),
            })
            .max()
    }

    /// Read a thread that passed validation. `Err` only for shapes validation lets through
    /// but no format can carry (non-string user content).
    pub fn of_thread(thread: &'a Value, changes: &mut Changes) -> Result<Conversation<'a>, String> {
        let messages = thread.get("messages").and_then(Value::as_array).ok_or("the thread has no `messages`")?;
        let mut turns = Vec::with_capacity(messages.len());
        for (i, m) in messages.iter().enumerate() {
            // One pass over the message's keys: each `get` would hash its key again (SipHash,
            // serde_json's maps), and this runs for every message of every exported thread.
            let (mut role, mut content, mut tool_calls, mut call_id, mut tool_name) = (None, None, None, None, None);
            for (key, value) in m.as_object().into_iter().flatten() {
                match key.as_str() {
                    "role" => role = Some(value),
                    "content" => content = Some(value),
                    "tool_calls" => tool_calls = Some(value),
                    "tool_call_id" => call_id = Some(value),
                    "name" => tool_name = Some(value),
                    _ => {}
                }
            }
            let role = role.and_then(Value::as_str).unwrap_or("");
            let text = |v: Option<&'a Value>| v.and_then(Value::as_str);
            match role {
                "system" | "user" => {
                    let content =
                        text(content).ok_or_else(|| format!("message {i} ({role}) has non-string content"))?;
                    turns.push(if role == "system" { Turn::System(content) } else { Turn::User(content) });
                }
                "assistant" => {
                    if tool_calls.is_some_and(Value::is_null) {
                        note(changes, "assistant `tool_calls: null` removed");
                    }
                    let mut calls = Vec::new();
                    for c in tool_calls.and_then(Value::as_array).into_iter().flatten() {
                        let function = c.get("function");
                        let name = function.and_then(|f| f.get("name")).and_then(Value::as_str).unwrap_or("");
                        let arguments = function.and_then(|f| f.get("arguments"));
                        let arguments_text =
                            as_text(arguments, "{}", changes, "tool call arguments object serialized to a string");
                        // Checked as `Value` would read it, without building it (see `Call::arguments`).
                        crate::json::check_text(&arguments_text)
                            .map_err(|e| format!("message {i}: tool call arguments are not JSON: {e}"))?;
                        let id = c.get("id").and_then(Value::as_str).unwrap_or("");
                        calls.push(Call { id, name, arguments_text, arguments: OnceLock::new() });
                    }
                    let content = text(content).unwrap_or_default();
                    turns.push(Turn::Assistant { content, calls });
                }
                "tool" => {
                    let content = as_text(content, "", changes, "tool result object serialized to a JSON string");
                    turns.push(Turn::Tool {
                        call_id: text(call_id).unwrap_or_default(),
                        name: text(tool_name).unwrap_or_default(),
                        content,
                    });
                }
                other => return Err(format!("message {i} has the unknown role {other:?}")),
            }
        }
        Ok(Conversation { turns })
    }

    /// Tool results at the end have no assistant turn after them: nothing in them is
    /// trained, and some trainers reject an example that ends on one.
    pub fn drop_trailing_results(&mut self, changes: &mut Changes) {
        while let Some(Turn::Tool { .. }) = self.turns.last() {
            self.turns.pop();
            note(changes, "trailing tool result dropped (no assistant turn after it to train)");
        }
    }

    pub fn calls(&self) -> impl Iterator<Item = &Call<'a>> {
        self.turns.iter().flat_map(|t| match t {
            Turn::Assistant { calls, .. } => calls.as_slice(),
            _ => &[],
        })
    }
}

/// A field the formats carry as a string: a string as it is, any other value as its JSON
/// (noted as `what`), a missing one as `missing`.
fn as_text<'a>(value: Option<&'a Value>, missing: &'static str, changes: &mut Changes, what: &str) -> Cow<'a, str> {
    match value {
        Some(Value::String(s)) => Cow::Borrowed(s),
        Some(other) => {
            note(changes, what);
            Cow::Owned(pyjson::dumps(other))
        }
        None => Cow::Borrowed(missing),
    }
}

/// The `tools` list of an example, and what every example would otherwise recompute from
/// it: its compact JSON (counted for tokens, copied into lines), that JSON as a string literal
/// (formats that carry the list as a string), and the function names (calls are checked
/// against them).
#[derive(Debug)]
pub struct ToolSet {
    pub list: Vec<Value>,
    pub json: String,
    pub names: HashSet<String>,
    json_literal: OnceLock<Vec<u8>>,
}

impl ToolSet {
    pub fn new(list: Vec<Value>) -> ToolSet {
        let json = serde_json::to_string(&list).expect("a Value serializes");
        let names = list
            .iter()
            .filter_map(|t| crate::json::lookup(t, "/function/name").and_then(Value::as_str))
            .map(str::to_string)
            .collect();
        ToolSet { list, json, names, json_literal: OnceLock::new() }
    }

    /// `json` written as a JSON string.
    pub fn json_literal(&self) -> &[u8] {
        self.json_literal.get_or_init(|| {
            let mut out = Vec::with_capacity(self.json.len() * 5 / 4);
            crate::json::write_str(&mut out, &self.json);
            out
        })
    }
}

/// The `tools` list an example carries: every tool threadkit offers (what the model saw
/// when the thread was generated), plus a definition inferred from the recorded calls for
/// any tool threadkit does not know (threads from older generators). The usual set is
/// built once and shared.
pub fn tool_definitions(conversation: &Conversation, changes: &mut Changes) -> Arc<ToolSet> {
    static STANDARD: OnceLock<Arc<ToolSet>> = OnceLock::new();
    let standard = STANDARD.get_or_init(|| {
        let list = match crate::tools::openai_tools() {
            Value::Array(a) => a,
            _ => Vec::new(),
        };
        Arc::new(ToolSet::new(list))
    });
    let mut inferred: BTreeMap<&str, Map<String, Value>> = BTreeMap::new();
    for call in conversation.calls() {
        if crate::tools::find(call.name).is_some() {
            continue;
        }
        let props = inferred.entry(call.name).or_default();
        for (k, v) in call.arguments().as_object().into_iter().flatten() {
            props.entry(k.clone()).or_insert_with(|| json!({"type": crate::json::schema_type(v)}));
        }
    }
    if inferred.is_empty() {
        return standard.clone();
    }
    let mut list = standard.list.clone();
    for (name, props) in inferred {
        note(changes, "tool definition inferred from recorded calls (tool unknown to threadkit)");
        list.push(json!({"type": "function", "function": {
            "name": name,
            "description": "A tool of an older generator; this definition was inferred from its recorded calls.",
            "parameters": {"type": "object", "properties": props}
        }}));
    }
    Arc::new(ToolSet::new(list))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_arguments(arguments: &str) -> Value {
        json!({"messages": [{"role": "assistant", "content": "", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": arguments}}
        ]}]})
    }

    /// The arguments object is built only when a format asks for it, but what it could not hold
    /// is refused when the thread is read, for every format: an object format would get `null`.
    #[test]
    fn arguments_a_value_cannot_hold_are_refused_when_read() {
        for text in [r#"{"x": 1e999}"#, r#"{"s": "\ud800"}"#, r#"{"x": 1"#] {
            let thread = with_arguments(text);
            let refused = Conversation::of_thread(&thread, &mut Changes::new()).err();
            assert!(refused.as_deref().is_some_and(|e| e.contains("not JSON")), "{text}: {refused:?}");
        }
        let thread = with_arguments(r#"{"x": [1, 2.5e3], "s": "\u00e9"}"#);
        let conversation = Conversation::of_thread(&thread, &mut Changes::new()).unwrap();
        let call = conversation.calls().next().unwrap();
        assert_eq!(call.arguments(), &json!({"x": [1, 2500.0], "s": "é"}));
        assert_eq!(call.arguments_text, r#"{"x": [1, 2.5e3], "s": "\u00e9"}"#);
    }
}
