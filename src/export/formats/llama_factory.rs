//! LLaMA-Factory sharegpt with function calls: strictly alternating human/observation and
//! gpt/function_call turns, `tools` as a JSON string, and a `dataset_info.json` entry.
//!
//! A `function_call` turn is written as `reasoning<tool_call>{"name", "arguments"}</tool_call>`:
//! since LLaMA-Factory 0.9.4 its `FunctionFormatter` keeps the text around the
//! `<tool_call>` words (its default `tool_call_words`) and formats the call with the
//! template's own tool syntax, so the reasoning before a call is trained. `--llama-factory-calls
//! json` writes the bare object older versions need (the reasoning then has no place).

use std::collections::HashSet;

use serde_json::{json, Map, Value};

use super::defined_functions;
use crate::diagnostic::Diagnostic;
use crate::conversation::{note, Changes, Conversation, ToolSet, Turn};
use crate::export::format::{CallForm, Options, Profile, TrainingFormat, Written};
use crate::pyjson;
use crate::rules::*;

/// LLaMA-Factory's default `tool_call_words`.
const OPEN: &str = "<tool_call>";
const CLOSE: &str = "</tool_call>";

pub struct LlamaFactory;

impl TrainingFormat for LlamaFactory {
    fn profile(&self) -> Profile {
        Profile::LlamaFactory
    }

    fn render(
        &self,
        _: &Value,
        conversation: &Conversation,
        tools: &ToolSet,
        options: &Options,
        changes: &mut Changes,
    ) -> Result<Value, String> {
        sharegpt(conversation, &tools.list, options, changes)
    }

    fn check(&self, example: &Value) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        match example.as_object() {
            // LLaMA-Factory's v1 data engine reads `messages` of typed parts; its sharegpt reader, `conversations`.
            Some(obj) if obj.contains_key("messages") && !obj.contains_key("conversations") => check_v1(obj, &mut out),
            Some(obj) => check_sharegpt(obj, &mut out),
            None => out.push(Diagnostic::new(&TRAINING_NOT_AN_EXAMPLE, "", "the line is not a JSON object")),
        }
        out
    }

    fn side_files(&self, written: &Written<'_>) -> Vec<(String, String)> {
        vec![("dataset_info.json".into(), dataset_info(written))]
    }

    /// Its loader takes arrow, csv, json, jsonl, parquet and txt files only.
    fn reads_compressed(&self) -> bool {
        false
    }

    fn preview(&self, example: &Value) -> Vec<(String, String, Option<String>)> {
        let turns = example.get("conversations").and_then(Value::as_array);
        turns
            .into_iter()
            .flatten()
            .map(|t| {
                let from = t.get("from").and_then(Value::as_str).unwrap_or("?").to_string();
                let value = t.get("value").and_then(Value::as_str).unwrap_or("");
                if from == "function_call" {
                    let (text, json) = split_call(value);
                    let name = parse_calls(value).and_then(|n| n.into_iter().next());
                    let _ = json;
                    (from, text.to_string(), name)
                } else {
                    (from, value.to_string(), None)
                }
            })
            .collect()
    }
}

/// The text before `<tool_call>` and the JSON inside it; a bare JSON value is all call.
fn split_call(value: &str) -> (&str, &str) {
    match (value.find(OPEN), value.rfind(CLOSE)) {
        (Some(a), Some(b)) if a + OPEN.len() <= b => (&value[..a], &value[a + OPEN.len()..b]),
        _ => ("", value),
    }
}

/// A `function_call` value read back: the text before the calls and each call's name and
/// arguments object; `None` if LLaMA-Factory cannot parse it.
pub fn read_calls(value: &str) -> Option<(String, Vec<(String, Value)>)> {
    let (text, json) = split_call(value);
    let calls = match serde_json::from_str::<Value>(json).ok()? {
        Value::Array(list) => list,
        one => vec![one],
    };
    let calls = calls
        .into_iter()
        .map(|c| {
            let name = c.get("name").and_then(Value::as_str)?.to_string();
            let args = c.get("arguments").filter(|a| a.is_object())?.clone();
            Some((name, args))
        })
        .collect::<Option<Vec<_>>>()?;
    Some((text.trim_end().to_string(), calls))
}

/// The function names of a `function_call` value, or `None` if LLaMA-Factory cannot parse it.
fn parse_calls(value: &str) -> Option<Vec<String>> {
    let (_, json) = split_call(value);
    let calls = match serde_json::from_str::<Value>(json).ok()? {
        Value::Array(list) => list,
        one => vec![one],
    };
    calls
        .iter()
        .map(|c| {
            let name = c.get("name").and_then(Value::as_str)?;
            c.get("arguments").filter(|a| a.is_object())?;
            Some(name.to_string())
        })
        .collect()
}

fn sharegpt(
    conversation: &Conversation,
    tools: &[Value],
    options: &Options,
    changes: &mut Changes,
) -> Result<Value, String> {
    let style = pyjson::Style { ensure_ascii: false, ..Default::default() };
    let mut out: Vec<(&'static str, String)> = Vec::new();
    for turn in &conversation.turns {
        match turn {
            // The converter takes a leading `system` turn as the system prompt (no column needed).
            Turn::System(c) if out.is_empty() => out.push(("system", c.to_string())),
            Turn::System(_) => options.lose("system message after the first turn dropped", changes)?,
            Turn::User(c) => out.push(("human", c.to_string())),
            Turn::Assistant { content, calls } if calls.is_empty() => match out.last_mut() {
                // Consecutive assistant texts (a `respond` step, then the answer) are one gpt turn.
                Some(("gpt", previous)) => {
                    note(changes, "consecutive assistant messages merged into one gpt turn");
                    previous.push_str("\n\n");
                    previous.push_str(content);
                }
                _ => out.push(("gpt", content.to_string())),
            },
            Turn::Assistant { content, calls } => {
                // Text of an assistant turn just before this one belongs to the same model turn.
                let mut text = match out.last() {
                    Some(("gpt", _)) => out.pop().map(|(_, t)| t).unwrap_or_default(),
                    _ => String::new(),
                };
                let carried = !text.is_empty();
                if !content.trim().is_empty() {
                    if !text.is_empty() {
                        text.push_str("\n\n");
                    }
                    text.push_str(content);
                }
                let objects: Vec<Value> =
                    calls.iter().map(|c| json!({"name": c.name, "arguments": c.arguments()})).collect();
                let payload = if objects.len() == 1 { objects[0].clone() } else { Value::Array(objects) };
                let payload = pyjson::to_string(&payload, style);
                let value = match options.call_form {
                    CallForm::ToolCall if text.contains(OPEN) || text.contains(CLOSE) => {
                        options.lose("reasoning that itself contains <tool_call> dropped (it would be read as the call)", changes)?;
                        format!("{OPEN}{payload}{CLOSE}")
                    }
                    CallForm::ToolCall => {
                        if carried {
                            note(changes, "assistant text before a tool call joined to the function_call turn");
                        }
                        format!("{text}{OPEN}{payload}{CLOSE}")
                    }
                    CallForm::Json => {
                        if calls.len() > 1 {
                            return Err("an assistant message makes several tool calls; the json call form has one per turn (use --llama-factory-calls tool-call)".into());
                        }
                        if !text.trim().is_empty() {
                            options.lose("reasoning before a tool call dropped (a bare JSON function_call carries no text)", changes)?;
                        }
                        payload
                    }
                };
                out.push(("function_call", value));
            }
            Turn::Tool { content, .. } => match out.last_mut() {
                // Results of several calls made in one turn are one observation, in call order.
                Some(("observation", previous)) => {
                    previous.push('\n');
                    previous.push_str(content);
                }
                _ => out.push(("observation", content.to_string())),
            },
        }
    }
    let functions: Vec<Value> = tools.iter().map(|t| t.get("function").cloned().unwrap_or_else(|| t.clone())).collect();
    let conversations: Vec<Value> =
        out.into_iter().map(|(from, value)| json!({"from": from, "value": value})).collect();
    let mut example = Map::new();
    example.insert("conversations".into(), conversations.into());
    example.insert("tools".into(), pyjson::to_string(&Value::Array(functions), style).into());
    Ok(Value::Object(example))
}

/// One entry per split (a folder when sharded). Only columns the lines have are mapped:
/// the converter reads every mapped column and fails (KeyError) on one no line carries.
fn dataset_info(written: &Written<'_>) -> String {
    let mut info = Map::new();
    for &name in &written.splits {
        let mine: Vec<_> = written.files.iter().filter(|f| f.split.as_deref() == Some(name)).collect();
        let file_name = match mine.as_slice() {
            [] => continue,
            [one] => one.path.clone(),
            _ => name.to_string(),
        };
        let key = if written.splits.len() == 1 { written.name.to_string() } else { format!("{}_{name}", written.name) };
        // Every line has both; a system prompt travels as a leading `system` turn, not a column.
        let columns = json!({"messages": "conversations", "tools": "tools"});
        info.insert(
            key,
            json!({
                "file_name": file_name,
                "formatting": "sharegpt",
                "columns": columns,
                "tags": {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt",
                         "observation_tag": "observation", "function_tag": "function_call", "system_tag": "system"}
            }),
        );
    }
    serde_json::to_string_pretty(&Value::Object(info)).expect("a Value serializes") + "\n"
}

/// The part types LLaMA-Factory v1's `Content` takes (`v1/utils/types.py`).
const V1_PARTS: &[&str] = &["text", "reasoning", "tool_call", "image_url", "video_url", "audio_url"];

/// An example of LLaMA-Factory v1's SFT shape (`data/reason_tool_use_demo_50.jsonl`): `messages`
/// of `{role, content: [{type, value}], loss_weight?}`, `tools` a JSON string. What its renderer
/// (`v1/core/rendering`) raises on is an error here: a `tool_call` part that is not a JSON object
/// with `name` and `arguments`, `tools` that is not JSON, a last message that is not the assistant's.
fn check_v1(obj: &serde_json::Map<String, Value>, out: &mut Vec<Diagnostic>) {
    let Some(messages) = obj.get("messages").and_then(Value::as_array).filter(|m| !m.is_empty()) else {
        out.push(Diagnostic::new(&TRAINING_NOT_AN_EXAMPLE, "/messages", "an example needs a non-empty `messages` list"));
        return;
    };
    let defined = v1_tools(obj.get("tools"), out);
    let mut has_assistant = false;
    for (i, m) in messages.iter().enumerate() {
        let at = format!("/messages/{i}");
        let role = m.get("role").and_then(Value::as_str).unwrap_or("");
        if !matches!(role, "system" | "user" | "assistant" | "tool") {
            out.push(Diagnostic::new(&TRAINING_UNKNOWN_KEY, format!("{at}/role"), format!("unknown role {role:?}; LLaMA-Factory v1 takes system, user, assistant, tool")));
            continue;
        }
        has_assistant |= role == "assistant";
        if let Some(w) = m.get("loss_weight") {
            if !w.is_number() {
                out.push(Diagnostic::new(&TRAINING_WEIGHT, format!("{at}/loss_weight"), "`loss_weight` must be a number"));
            }
        }
        let Some(parts) = m.get("content").and_then(Value::as_array) else {
            out.push(Diagnostic::new(&TRAINING_CONTENT_NOT_STRING, format!("{at}/content"), "LLaMA-Factory v1's `content` is a list of {\"type\", \"value\"} parts"));
            continue;
        };
        for (j, part) in parts.iter().enumerate() {
            let pat = format!("{at}/content/{j}");
            let kind = part.get("type").and_then(Value::as_str).unwrap_or("");
            if !V1_PARTS.contains(&kind) {
                out.push(Diagnostic::new(&TRAINING_UNKNOWN_KEY, format!("{pat}/type"), format!("unknown part type {kind:?}; LLaMA-Factory v1 takes {}", V1_PARTS.join(", "))));
                continue;
            }
            let Some(value) = part.get("value").and_then(Value::as_str) else {
                out.push(Diagnostic::new(&TRAINING_CONTENT_NOT_STRING, format!("{pat}/value"), "a part's `value` must be a string"));
                continue;
            };
            if kind == "tool_call" {
                match serde_json::from_str::<Value>(value) {
                    Ok(Value::Object(call)) if call.contains_key("name") && call.contains_key("arguments") => {
                        let name = call.get("name").and_then(Value::as_str).unwrap_or("");
                        if defined.as_ref().is_some_and(|d| !d.contains(name)) {
                            out.push(Diagnostic::new(&TRAINING_UNDEFINED_TOOL, format!("{pat}/value"), format!("`{name}` is not in `tools`")));
                        }
                    }
                    _ => out.push(Diagnostic::new(
                        &TRAINING_ARGUMENTS,
                        format!("{pat}/value"),
                        "a tool_call part's value must be a JSON object with `name` and `arguments` (LLaMA-Factory raises on anything else)",
                    )),
                }
            }
        }
    }
    if !has_assistant {
        out.push(Diagnostic::new(&TRAINING_NO_ASSISTANT, "/messages", "no assistant message"));
    } else if messages.last().and_then(|m| m.get("role")).and_then(Value::as_str) != Some("assistant") {
        out.push(Diagnostic::new(
            &TRAINING_TURN_ORDER,
            format!("/messages/{}", messages.len() - 1),
            "LLaMA-Factory trains on the last message, which must be the assistant's",
        ));
    }
}

/// The function names of a LLaMA-Factory `tools` JSON string (`None` without one).
fn v1_tools(tools: Option<&Value>, out: &mut Vec<Diagnostic>) -> Option<HashSet<String>> {
    match tools? {
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(list) => {
                let list = if list.is_array() { list } else { Value::Array(vec![list]) };
                let mut sink = Vec::new();
                let names = defined_functions(&list, "/tools", &mut sink);
                if !sink.is_empty() {
                    out.push(Diagnostic::new(&TRAINING_TOOLS_MALFORMED, "/tools", "a tool in the `tools` string has no name or bad parameters"));
                }
                Some(names.into_iter().map(str::to_string).collect())
            }
            Err(e) => {
                out.push(Diagnostic::new(&TRAINING_TOOLS_MALFORMED, "/tools", format!("`tools` is not JSON: {e}")));
                None
            }
        },
        _ => {
            out.push(Diagnostic::new(&TRAINING_TOOLS_MALFORMED, "/tools", "LLaMA-Factory reads `tools` as a JSON string"));
            None
        }
    }
}

fn check_sharegpt(obj: &serde_json::Map<String, Value>, out: &mut Vec<Diagnostic>) {
    let Some(turns) = obj.get("conversations").and_then(Value::as_array).filter(|m| !m.is_empty()) else {
        out.push(Diagnostic::new(&TRAINING_NOT_AN_EXAMPLE, "", "an example needs a non-empty `conversations` list"));
        return;
    };
    let mut defined: Option<HashSet<String>> = None;
    match obj.get("tools") {
        None => {}
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(list) => {
                let mut sink = Vec::new();
                let names = defined_functions(&list, "/tools", &mut sink);
                if !sink.is_empty() {
                    out.push(Diagnostic::new(
                        &TRAINING_TOOLS_MALFORMED,
                        "/tools",
                        "a tool in the `tools` string has no name or bad parameters",
                    ));
                }
                defined = Some(names.into_iter().map(str::to_string).collect());
            }
            Err(e) => out.push(Diagnostic::new(
                &TRAINING_TOOLS_MALFORMED,
                "/tools",
                format!("`tools` is not a JSON string of a list: {e}"),
            )),
        },
        Some(_) => out.push(Diagnostic::new(
            &TRAINING_TOOLS_MALFORMED,
            "/tools",
            "LLaMA-Factory reads `tools` as a JSON string, not a list",
        )),
    }
    if obj.get("system").is_some_and(|s| !s.is_string()) {
        out.push(Diagnostic::new(&TRAINING_CONTENT_NOT_STRING, "/system", "`system` must be a string"));
    }
    let mut has_assistant = false;
    // After an optional leading system turn, human/observation sit at even indices, gpt/function_call at odd.
    let start = usize::from(turns.first().and_then(|t| t.get("from")).and_then(Value::as_str) == Some("system"));
    for (i, t) in turns.iter().enumerate().skip(start) {
        let at = format!("/conversations/{i}");
        let from = t.get("from").and_then(Value::as_str).unwrap_or("");
        let value = t.get("value");
        if !value.is_some_and(Value::is_string) {
            out.push(Diagnostic::new(&TRAINING_CONTENT_NOT_STRING, format!("{at}/value"), "`value` must be a string"));
        }
        let asking = (i - start) % 2 == 0;
        let (expected, known) = match from {
            "human" | "observation" => (asking, true),
            "gpt" | "function_call" => (!asking, true),
            _ => (false, false),
        };
        if !known {
            out.push(Diagnostic::new(&TRAINING_UNKNOWN_KEY, format!("{at}/from"), format!("unknown `from` {from:?}")));
            continue;
        }
        if !expected {
            let want = if asking { "human or observation" } else { "gpt or function_call" };
            out.push(Diagnostic::new(
                &TRAINING_TURN_ORDER,
                format!("{at}/from"),
                format!("turn {} must be {want}, not {from}", i - start + 1),
            ));
        }
        if from == "observation"
            && turns.get(i.wrapping_sub(1)).and_then(|t| t.get("from")).and_then(Value::as_str) != Some("function_call")
        {
            out.push(Diagnostic::new(
                &TRAINING_TURN_ORDER,
                format!("{at}/from"),
                "an observation must follow a function_call",
            ));
        }
        if from == "gpt" || from == "function_call" {
            has_assistant = true;
        }
        if from == "function_call" {
            match value.and_then(Value::as_str).and_then(parse_calls) {
                Some(calls) => {
                    for name in calls {
                        if defined.as_ref().is_some_and(|d| !d.contains(&name)) {
                            out.push(Diagnostic::new(
                                &TRAINING_UNDEFINED_TOOL,
                                format!("{at}/value"),
                                format!("`{name}` is not in `tools`"),
                            ));
                        }
                    }
                }
                None => out.push(Diagnostic::new(
                    &TRAINING_ARGUMENTS,
                    format!("{at}/value"),
                    "a function_call value must be {\"name\": …, \"arguments\": {…}} as JSON, optionally after text and inside <tool_call>…</tool_call>",
                )),
            }
        }
    }
    if (turns.len() - start) % 2 != 0 {
        out.push(Diagnostic::new(
            &TRAINING_TURN_ORDER,
            "/conversations",
            "the number of turns must be even (end with gpt or function_call)",
        ));
    }
    if !has_assistant {
        out.push(Diagnostic::new(&TRAINING_NO_ASSISTANT, "/conversations", "no gpt or function_call turn"));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::export::format::Unplaceable;
    use crate::export::formats::test_support::{codes, render};

    fn froms(ex: &Value) -> Vec<&str> {
        ex["conversations"].as_array().unwrap().iter().map(|t| t["from"].as_str().unwrap()).collect()
    }

    #[test]
    fn tool_call_form_keeps_the_reasoning() {
        let (ex, changes) = render(Profile::LlamaFactory, Options::default()).unwrap();
        assert_eq!(froms(&ex), ["human", "function_call", "observation", "gpt"]);
        assert_eq!(
            ex["conversations"][1]["value"],
            "Look at the stats.<tool_call>{\"name\": \"show_session_stats\", \"arguments\": {\"dataset_name\": \"d\"}}</tool_call>"
        );
        assert_eq!(ex["conversations"][3]["value"], "Thinking aloud.\n\nIt walks.\n\nFinal Answer: walking");
        assert!(ex["tools"].is_string());
        assert!(!changes.keys().any(|k| k.contains("dropped")), "{changes:?}");
        assert!(codes(ex, Profile::LlamaFactory).is_empty());
    }

    #[test]
    fn json_form_drops_or_skips() {
        let options = Options { call_form: CallForm::Json, ..Options::default() };
        let (ex, changes) = render(Profile::LlamaFactory, options).unwrap();
        assert_eq!(
            ex["conversations"][1]["value"],
            "{\"name\": \"show_session_stats\", \"arguments\": {\"dataset_name\": \"d\"}}"
        );
        assert_eq!(changes["reasoning before a tool call dropped (a bare JSON function_call carries no text)"], 1);
        let err = render(Profile::LlamaFactory, Options { unplaceable: Unplaceable::Skip, ..options }).unwrap_err();
        assert!(err.contains("reasoning before a tool call"), "{err}");
    }

    #[test]
    fn alternation() {
        let good = json!({"conversations": [
            {"from": "human", "value": "q"},
            {"from": "function_call", "value": "why<tool_call>{\"name\": \"f\", \"arguments\": {}}</tool_call>"},
            {"from": "observation", "value": "{}"},
            {"from": "gpt", "value": "done"}], "tools": "[{\"name\": \"f\", \"parameters\": {}}]"});
        assert!(codes(good.clone(), Profile::LlamaFactory).is_empty());
        let mut e = good.clone();
        e["conversations"].as_array_mut().unwrap().insert(3, json!({"from": "gpt", "value": "x"}));
        assert!(codes(e, Profile::LlamaFactory).contains(&"TK713"));
        let mut e = good.clone();
        e["conversations"][1]["value"] = json!("{\"name\": \"f\", \"arguments\": \"{}\"}");
        assert_eq!(codes(e, Profile::LlamaFactory), ["TK704"]);
        let mut e = good.clone();
        e["conversations"][1]["value"] = json!("<tool_call>{\"name\": \"g\", \"arguments\": {}}</tool_call>");
        assert_eq!(codes(e, Profile::LlamaFactory), ["TK706"]);
        let mut e = good;
        e["tools"] = json!([]);
        assert_eq!(codes(e, Profile::LlamaFactory), ["TK712"]);
    }

    #[test]
    fn the_v1_message_shape_is_checked_as_its_renderer_reads_it() {
        let tools = r#"[{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]"#;
        let call = r#"{"name": "f", "arguments": {"a": 1}}"#;
        let good = json!({"messages": [
            {"role": "user", "content": [{"type": "text", "value": "q"}]},
            {"role": "assistant", "content": [{"type": "reasoning", "value": "r"}, {"type": "tool_call", "value": call}]},
            {"role": "tool", "content": [{"type": "text", "value": "1"}]},
            {"role": "assistant", "content": [{"type": "text", "value": "done"}], "loss_weight": 1.0}], "tools": tools});
        assert_eq!(codes(good.clone(), Profile::LlamaFactory), Vec::<&str>::new());
        let mut e = good.clone();
        e["messages"][1]["content"][1]["value"] = json!(r#"{"name": "f"}"#);
        assert_eq!(codes(e, Profile::LlamaFactory), ["TK704"], "a call without arguments raises in its renderer");
        let mut e = good.clone();
        e["messages"][1]["content"][1]["value"] = json!(r#"{"name": "g", "arguments": {}}"#);
        assert_eq!(codes(e, Profile::LlamaFactory), ["TK706"]);
        let mut e = good.clone();
        e["messages"][0]["content"][0]["type"] = json!("html");
        assert_eq!(codes(e, Profile::LlamaFactory), ["TK711"]);
        let mut e = good.clone();
        e["messages"][0]["content"] = json!("q");
        assert_eq!(codes(e, Profile::LlamaFactory), ["TK702"]);
        let mut e = good.clone();
        e["messages"].as_array_mut().unwrap().pop();
        assert_eq!(codes(e, Profile::LlamaFactory), ["TK713"], "the last message is the one trained on");
        let mut e = good;
        e["tools"] = json!("[not json");
        assert_eq!(codes(e, Profile::LlamaFactory), ["TK712"]);
    }
}