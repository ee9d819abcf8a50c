//! The `messages` + `tools` shape that OpenAI, TRL and Axolotl share: one renderer and one
//! checker, each format passing the few rules where they differ.

use std::collections::HashSet;

use serde_json::{json, Map, Value};

use crate::diagnostic::Diagnostic;
use crate::conversation::{Conversation, ToolSet, Turn};
use crate::rules::*;

use super::defined_functions;
use crate::json::pointer;

/// How a format wants a tool call's `arguments`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arguments {
    /// A string holding a JSON object (OpenAI).
    Text,
    /// A JSON object (chat templates apply `tojson` to it).
    Object,
    /// Either (Axolotl parses strings).
    Either,
}

/// Where the `messages` formats differ.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    /// Only the keys and roles of OpenAI's format, a system message only first.
    pub closed: bool,
    /// Call ids, `tool_call_id` and a `tools` list for calls are required; any null key is an error
    /// and an assistant message with calls may omit `content`.
    pub strict_calls: bool,
    pub arguments: Arguments,
}

/// The example: every content a string, tool results keep their `name` unless `closed`.
pub fn render(conversation: &Conversation, tools: &[Value], rules: Rules) -> Value {
    let messages: Vec<Value> = conversation
        .turns
        .iter()
        .map(|turn| match turn {
            Turn::System(c) => json!({"role": "system", "content": c}),
            Turn::User(c) => json!({"role": "user", "content": c}),
            Turn::Assistant { content, calls } if calls.is_empty() => json!({"role": "assistant", "content": content}),
            Turn::Assistant { content, calls } => {
                let mut m = Map::new();
                m.insert("role".into(), "assistant".into());
                if !(rules.strict_calls && content.is_empty()) {
                    m.insert("content".into(), content.clone().into());
                }
                let calls: Vec<Value> = calls
                    .iter()
                    .map(|c| {
                        let arguments = match rules.arguments {
                            Arguments::Text => Value::String(c.arguments_text.clone()),
                            Arguments::Object | Arguments::Either => c.arguments.clone(),
                        };
                        json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": arguments}})
                    })
                    .collect();
                m.insert("tool_calls".into(), calls.into());
                Value::Object(m)
            }
            Turn::Tool { call_id, content, .. } if rules.closed => {
                json!({"role": "tool", "tool_call_id": call_id, "content": content})
            }
            Turn::Tool { call_id, name, content } => {
                json!({"role": "tool", "tool_call_id": call_id, "name": name, "content": content})
            }
        })
        .collect();
    let mut example = Map::new();
    example.insert("messages".into(), Value::Array(messages));
    // A clone, not `json!`'s re-serialization of the list through `to_value`.
    example.insert("tools".into(), Value::Array(tools.to_vec()));
    Value::Object(example)
}

/// The line of an example `render` made, the bytes `serde_json::to_vec` writes. The tool
/// list is about half of every line and the same in almost every example: its JSON,
/// serialized once per export, is copied in.
pub fn line(example: &Value, tools: &ToolSet) -> Vec<u8> {
    let Value::Object(fields) = example else { return serde_json::to_vec(example).expect("a Value serializes") };
    let mut out = Vec::with_capacity(16 << 10);
    out.push(b'{');
    for (i, (key, value)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut out, key).expect("writing to memory");
        out.push(b':');
        if key == "tools" {
            debug_assert_eq!(value, &Value::Array(tools.list.clone()), "`render` puts the list in unchanged");
            out.extend_from_slice(tools.json.as_bytes());
        } else {
            serde_json::to_writer(&mut out, value).expect("writing to memory");
        }
    }
    out.push(b'}');
    out
}

pub fn check(example: &Value, rules: Rules) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let Some(obj) = example.as_object() else {
        out.push(Diagnostic::new(&TRAINING_NOT_AN_EXAMPLE, "", "the line is not a JSON object"));
        return out;
    };
    let Some(messages) = obj.get("messages").and_then(Value::as_array).filter(|m| !m.is_empty()) else {
        out.push(Diagnostic::new(&TRAINING_NOT_AN_EXAMPLE, "", "an example needs a non-empty `messages` list"));
        return out;
    };
    if rules.closed {
        for key in obj.keys().filter(|k| !matches!(k.as_str(), "messages" | "tools" | "parallel_tool_calls")) {
            out.push(Diagnostic::new(
                &TRAINING_UNKNOWN_KEY,
                pointer([key]),
                format!("OpenAI's format has no top-level `{key}`"),
            ));
        }
    }
    // Axolotl takes `tools` as a JSON string too (and parses it before templating).
    let parsed_tools: Option<std::borrow::Cow<'_, Value>> = match obj.get("tools") {
        Some(Value::String(s)) if rules.arguments != Arguments::Object => match serde_json::from_str::<Value>(s) {
            Ok(v) => Some(std::borrow::Cow::Owned(v)),
            Err(e) => {
                out.push(Diagnostic::new(&TRAINING_TOOLS_MALFORMED, "/tools", format!("`tools` is a string but not JSON: {e}")));
                None
            }
        },
        other => other.map(std::borrow::Cow::Borrowed),
    };
    let defined: Option<HashSet<String>> = parsed_tools
        .as_ref()
        .map(|t| defined_functions(t, "/tools", &mut out).into_iter().map(str::to_string).collect());
    let mut open_calls: Vec<String> = Vec::new();
    let mut answered: HashSet<String> = HashSet::new();
    let mut has_assistant = false;
    for (i, m) in messages.iter().enumerate() {
        let at = format!("/messages/{i}");
        let Some(m) = m.as_object() else {
            out.push(Diagnostic::new(&TRAINING_NOT_AN_EXAMPLE, at, "a message must be an object"));
            continue;
        };
        for (k, v) in m {
            if v.is_null() && (rules.strict_calls || k == "content") {
                out.push(Diagnostic::new(
                    &TRAINING_NULL_VALUE,
                    format!("{at}{}", pointer([k])),
                    format!("`{k}` is null; omit the key instead"),
                ));
            }
        }
        let role = m.get("role").and_then(Value::as_str).unwrap_or("");
        let content = m.get("content");
        let calls = m.get("tool_calls").and_then(Value::as_array);
        let allowed: &[&str] = match role {
            "system" | "user" => &["role", "content", "name"],
            "assistant" => &["role", "content", "tool_calls", "weight", "name"],
            // OpenAI ignores a tool result's `name`, so it is not a finding.
            "tool" => &["role", "content", "tool_call_id", "name"],
            _ => {
                out.push(Diagnostic::new(&TRAINING_UNKNOWN_KEY, format!("{at}/role"), format!("unknown role {role:?}")));
                continue;
            }
        };
        if rules.closed {
            for k in m.keys().filter(|k| !allowed.contains(&k.as_str())) {
                out.push(Diagnostic::new(
                    &TRAINING_UNKNOWN_KEY,
                    format!("{at}{}", pointer([k])),
                    format!("a {role} message has no `{k}` in OpenAI's format"),
                ));
            }
            if role == "system" && i > 0 {
                out.push(Diagnostic::new(&TRAINING_TURN_ORDER, at.clone(), "a system message may only come first"));
            }
        }
        let may_omit_content = rules.strict_calls && role == "assistant" && calls.is_some_and(|c| !c.is_empty());
        let omitted = may_omit_content && content.is_none_or(Value::is_null);
        if !(matches!(content, Some(Value::String(_))) || omitted || content.is_some_and(Value::is_null)) {
            out.push(Diagnostic::new(
                &TRAINING_CONTENT_NOT_STRING,
                format!("{at}/content"),
                format!("the {role} message's `content` must be a string"),
            ));
        }
        match role {
            "assistant" => {
                has_assistant = true;
                if let Some(w) = m.get("weight") {
                    if !(w == 0 || w == 1) {
                        out.push(Diagnostic::new(&TRAINING_WEIGHT, format!("{at}/weight"), "`weight` must be 0 or 1"));
                    }
                }
                for (j, c) in calls.into_iter().flatten().enumerate() {
                    let cat = format!("{at}/tool_calls/{j}");
                    match c.get("id").and_then(Value::as_str) {
                        Some(id) => open_calls.push(id.to_string()),
                        None if rules.strict_calls => {
                            out.push(Diagnostic::new(&TRAINING_TOOL_PAIRING, cat.clone(), "a tool call needs an `id`"))
                        }
                        None => {}
                    }
                    let name = c.pointer("/function/name").and_then(Value::as_str);
                    if let (Some(defined), Some(name)) = (&defined, name) {
                        if !defined.contains(name) {
                            out.push(Diagnostic::new(
                                &TRAINING_UNDEFINED_TOOL,
                                format!("{cat}/function/name"),
                                format!("`{name}` is not in `tools`"),
                            ));
                        }
                    }
                    if rules.strict_calls && defined.is_none() {
                        out.push(Diagnostic::new(
                            &TRAINING_UNDEFINED_TOOL,
                            cat.clone(),
                            "the example calls tools but has no `tools` list",
                        ));
                    }
                    let text_ok = |s: &str| serde_json::from_str::<Value>(s).is_ok_and(|v| v.is_object());
                    let ok = match (rules.arguments, c.pointer("/function/arguments")) {
                        (Arguments::Text | Arguments::Either, Some(Value::String(s))) => text_ok(s),
                        (Arguments::Object | Arguments::Either, Some(v)) => v.is_object(),
                        _ => false,
                    };
                    if !ok {
                        let want = match rules.arguments {
                            Arguments::Text => "a string holding a JSON object",
                            Arguments::Object => "a JSON object (chat templates apply `tojson` to it)",
                            Arguments::Either => "a JSON object or a string holding one",
                        };
                        out.push(Diagnostic::new(
                            &TRAINING_ARGUMENTS,
                            format!("{cat}/function/arguments"),
                            format!("`arguments` must be {want}"),
                        ));
                    }
                }
            }
            "tool" => match m.get("tool_call_id").and_then(Value::as_str) {
                Some(id) if open_calls.iter().any(|c| c == id) && answered.insert(id.to_string()) => {}
                Some(id) => out.push(Diagnostic::new(
                    &TRAINING_TOOL_PAIRING,
                    format!("{at}/tool_call_id"),
                    format!("`{id}` answers no earlier, unanswered tool call"),
                )),
                None if rules.strict_calls => {
                    out.push(Diagnostic::new(&TRAINING_TOOL_PAIRING, at, "a tool message needs `tool_call_id`"))
                }
                None => {}
            },
            _ => {}
        }
    }
    if !has_assistant {
        out.push(Diagnostic::new(&TRAINING_NO_ASSISTANT, "/messages", "no assistant message"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conversation::{tool_definitions, Changes, Conversation};
    use crate::export::format::{Options, Profile};

    #[test]
    fn a_line_is_what_serde_json_writes() {
        let mut changes = Changes::new();
        let thread = super::super::test_support::thread();
        let conv = Conversation::of_thread(&thread, &mut changes).unwrap();
        let standard = tool_definitions(&conv, &mut changes);
        for profile in [Profile::Openai, Profile::Trl, Profile::Axolotl, Profile::LlamaFactory, Profile::Raw] {
            let example = profile.format().render(&thread, &conv, &standard, &Options::default(), &mut changes).unwrap();
            assert_eq!(profile.format().line(&example, &standard), serde_json::to_vec(&example).unwrap(), "{profile:?}");
        }
        let odd = serde_json::json!([1, "x"]);
        assert_eq!(line(&odd, &standard), serde_json::to_vec(&odd).unwrap());
    }
}
