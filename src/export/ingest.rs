//! Training files made elsewhere, read back into conversations so `convert` can write them in
//! another trainer's format: which format an example is in (`detect`, with the reason), and the
//! example as `openai_v1`-shaped messages with the tools it declared (`to_messages`).

use serde_json::{json, Value};

use super::format::Profile;
use super::formats::llama_factory::read_calls;
use crate::conversation::{note, Changes};

/// The first example of a training file, read no further than it: the first line of a JSONL
/// file that is JSON, or the first element of a `.json` array (parsed alone, not the whole array).
pub fn first_example(path: &std::path::Path, max_file_size: u64) -> Option<Value> {
    if !crate::source::is_json(path) {
        return crate::source::first_line(path, max_file_size, |line| serde_json::from_str(line).ok());
    }
    // `read_whole` has taken a byte-order mark off already.
    let text = crate::source::read_whole(path, max_file_size).ok()?;
    let (start, end) = if text.trim_start().starts_with('[') { crate::span::locate(&text, "/0").value } else { (0, text.len()) };
    serde_json::from_str(&text[start..end]).ok()
}

/// An example of a training format and nothing of a thread: a `messages` or `conversations`
/// list, and none of a thread's keys (`id`, `metadata`, `schema_version`, legacy `thread_id`/`turns`).
pub fn looks_like_training_example(example: &Value) -> bool {
    let Some(o) = example.as_object() else { return false };
    (o.contains_key("messages") || o.contains_key("conversations"))
        && !["id", "metadata", "schema_version", "thread_id", "turns"].iter().any(|k| o.contains_key(*k))
}

/// The profile whose shape an example has, and why threadkit says so.
pub fn detect(example: &Value) -> Option<(Profile, &'static str)> {
    let obj = example.as_object()?;
    if obj.get("conversations").is_some_and(Value::is_array) {
        return Some((Profile::LlamaFactory, "a `conversations` list of from/value turns (sharegpt)"));
    }
    let messages = obj.get("messages")?.as_array()?;
    let parts = messages.iter().any(|m| {
        m.get("content").and_then(Value::as_array).is_some_and(|p| p.iter().any(|p| p.get("value").is_some()))
    });
    if parts {
        return Some((Profile::LlamaFactory, "`messages` whose content is typed {type, value} parts (LLaMA-Factory v1)"));
    }
    let mut calls = messages.iter().flat_map(|m| m.get("tool_calls").and_then(Value::as_array).into_iter().flatten());
    if calls.any(|c| c.get("function").and_then(|f| f.get("arguments")).is_some_and(Value::is_object)) {
        return Some((Profile::Trl, "`messages` with tool call arguments as objects (TRL's and transformers' form)"));
    }
    if obj.get("tools").is_some_and(Value::is_string) {
        return Some((Profile::Axolotl, "`messages` with `tools` as a JSON string (Axolotl reads it so)"));
    }
    Some((Profile::Openai, "`messages` with arguments as JSON strings and `tools` a list (OpenAI's form)"))
}

/// The example as a thread-like `{"messages": […]}` in `openai_v1`'s shape, and its declared
/// tools (`None` when it declares none). Calls without ids get ids and tool results are paired
/// with the calls they answer in order, as the OpenAI format needs; each change is noted.
pub fn to_messages(example: &Value, from: Profile, changes: &mut Changes) -> Result<(Value, Option<Vec<Value>>), String> {
    let obj = example.as_object().ok_or("the example is not a JSON object")?;
    let tools = match obj.get("tools") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => {
            let v: Value = serde_json::from_str(s).map_err(|e| format!("`tools` is not JSON: {e}"))?;
            Some(match v {
                Value::Array(a) => a,
                one => vec![one],
            })
        }
        Some(Value::Array(a)) => Some(a.clone()),
        Some(_) => return Err("`tools` is neither a list nor a JSON string of one".into()),
    };
    // Bare function definitions (LLaMA-Factory's glaive data) become OpenAI's `{type, function}`.
    let tools = tools.map(|list| {
        list.into_iter()
            .map(|t| if t.get("function").is_some() { t } else { json!({"type": "function", "function": t}) })
            .collect()
    });
    let mut messages = match from {
        Profile::LlamaFactory if obj.contains_key("conversations") => sharegpt(obj, changes)?,
        Profile::LlamaFactory => v1(obj)?,
        _ => obj.get("messages").and_then(Value::as_array).cloned().ok_or("no `messages` list")?,
    };
    pair_calls(&mut messages, changes);
    Ok((json!({ "messages": messages }), tools))
}

fn sharegpt(obj: &serde_json::Map<String, Value>, changes: &mut Changes) -> Result<Vec<Value>, String> {
    let turns = obj.get("conversations").and_then(Value::as_array).ok_or("no `conversations` list")?;
    let mut out = Vec::new();
    if let Some(system) = obj.get("system").and_then(Value::as_str).filter(|s| !s.is_empty()) {
        out.push(json!({"role": "system", "content": system}));
    }
    for t in turns {
        let from = t.get("from").and_then(Value::as_str).unwrap_or("");
        let value = t.get("value").and_then(Value::as_str).unwrap_or("");
        match from {
            "system" => out.push(json!({"role": "system", "content": value})),
            "human" | "user" => out.push(json!({"role": "user", "content": value})),
            "gpt" | "assistant" => out.push(json!({"role": "assistant", "content": value})),
            "function_call" => {
                let (text, calls) = read_calls(value).ok_or("a function_call value LLaMA-Factory cannot parse")?;
                let calls: Vec<Value> = calls
                    .into_iter()
                    .map(|(name, args)| json!({"type": "function", "function": {"name": name, "arguments": crate::pyjson::dumps(&args)}}))
                    .collect();
                let mut m = json!({"role": "assistant", "tool_calls": calls});
                if !text.is_empty() {
                    m["content"] = text.into();
                }
                out.push(m);
            }
            "observation" | "tool" => out.push(json!({"role": "tool", "content": value})),
            other => return Err(format!("unknown `from` {other:?}")),
        }
    }
    note(changes, "sharegpt turns read as messages");
    Ok(out)
}

fn v1(obj: &serde_json::Map<String, Value>) -> Result<Vec<Value>, String> {
    let messages = obj.get("messages").and_then(Value::as_array).ok_or("no `messages` list")?;
    let mut out = Vec::new();
    for m in messages {
        let role = m.get("role").and_then(Value::as_str).unwrap_or("");
        let (mut text, mut reasoning, mut calls) = (String::new(), String::new(), Vec::new());
        for part in m.get("content").and_then(Value::as_array).into_iter().flatten() {
            let value = part.get("value").and_then(Value::as_str).unwrap_or("");
            match part.get("type").and_then(Value::as_str) {
                Some("text") => text.push_str(value),
                Some("reasoning") => reasoning.push_str(value),
                Some("tool_call") => {
                    let call: Value = serde_json::from_str(value).map_err(|e| format!("a tool_call part is not JSON: {e}"))?;
                    let name = call.get("name").and_then(Value::as_str).ok_or("a tool_call part without `name`")?;
                    let args = match call.get("arguments") {
                        Some(Value::String(s)) => s.clone(),
                        Some(a) => crate::pyjson::dumps(a),
                        None => "{}".into(),
                    };
                    calls.push(json!({"type": "function", "function": {"name": name, "arguments": args}}));
                }
                Some(other) => return Err(format!("a {other} part has no place in a text conversation")),
                None => return Err("a content part without `type`".into()),
            }
        }
        // Reasoning goes before the text, where the conversation keeps a turn's thinking.
        let content = match (reasoning.is_empty(), text.is_empty()) {
            (true, _) => text,
            (false, true) => reasoning,
            (false, false) => format!("{reasoning}\n\n{text}"),
        };
        let mut msg = json!({"role": role, "content": content});
        if !calls.is_empty() {
            msg["tool_calls"] = Value::Array(calls);
        }
        out.push(msg);
    }
    Ok(out)
}

/// Ids for calls without one (`call_<n>`), and `tool_call_id` for results without one: the
/// earliest call not yet answered, which is how TRL's and Axolotl's files pair them.
fn pair_calls(messages: &mut [Value], changes: &mut Changes) {
    let mut n = 0;
    let mut open: std::collections::VecDeque<String> = Default::default();
    for m in messages.iter_mut() {
        for c in m.get_mut("tool_calls").and_then(Value::as_array_mut).into_iter().flatten() {
            n += 1;
            let id = match c.get("id").and_then(Value::as_str).filter(|s| !s.is_empty()) {
                Some(id) => id.to_string(),
                None => {
                    let id = format!("call_{n}");
                    c["id"] = id.clone().into();
                    note(changes, "tool call ids added (the target pairs results with calls by id)");
                    id
                }
            };
            if c.get("type").is_none() {
                c["type"] = "function".into();
            }
            open.push_back(id);
        }
        if m.get("role").and_then(Value::as_str) == Some("tool") {
            match m.get("tool_call_id").and_then(Value::as_str).map(str::to_string) {
                Some(id) => open.retain(|o| *o != id),
                None => {
                    if let Some(id) = open.pop_front() {
                        m["tool_call_id"] = id.into();
                        note(changes, "tool results paired with the calls they answer, in order");
                    }
                }
            }
        }
    }
}
