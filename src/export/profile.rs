//! One validated `openai_v1` thread → one training example in a framework's format.
//!
//! Conversion goes through a small canonical form (`Conversation`) so that each
//! profile is a rendering of the same facts, and everything a profile has to change
//! or drop is counted in `Changes` under a stable description.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use serde_json::{json, Map, Value};

use crate::pyjson;

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

/// What a profile changed or dropped, and how often (description → count).
pub type Changes = BTreeMap<String, usize>;

fn note(changes: &mut Changes, what: &str) {
    *changes.entry(what.to_string()).or_default() += 1;
}

pub struct Call {
    pub id: String,
    pub name: String,
    /// The arguments object.
    pub arguments: Value,
    /// The arguments as the thread stored them (a JSON string).
    pub arguments_text: String,
}

pub enum Turn {
    System(String),
    User(String),
    Assistant { content: String, calls: Vec<Call> },
    Tool { call_id: String, name: String, content: String },
}

/// The facts of one conversation, independent of any format.
pub struct Conversation {
    pub turns: Vec<Turn>,
}

impl Conversation {
    /// Bytes of the longest text in the conversation (a message, or a call's arguments).
    pub fn longest_text(&self) -> Option<usize> {
        self.turns
            .iter()
            .flat_map(|t| -> Vec<usize> {
                match t {
                    Turn::System(s) | Turn::User(s) => vec![s.len()],
                    Turn::Assistant { content, calls } => {
                        std::iter::once(content.len()).chain(calls.iter().map(|c| c.arguments_text.len())).collect()
                    }
                    Turn::Tool { content, .. } => vec![content.len()],
                }
            })
            .max()
    }

    /// Read a thread that passed validation. `Err` only for shapes validation lets through
    /// but no format can carry (non-string user content).
    pub fn of_thread(thread: &Value, changes: &mut Changes) -> Result<Conversation, String> {
        let messages = thread.get("messages").and_then(Value::as_array).ok_or("the thread has no `messages`")?;
        let mut turns = Vec::with_capacity(messages.len());
        for (i, m) in messages.iter().enumerate() {
            let role = m.get("role").and_then(Value::as_str).unwrap_or("");
            let text = |key: &str| m.get(key).and_then(Value::as_str).map(str::to_string);
            match role {
                "system" | "user" => {
                    let content =
                        text("content").ok_or_else(|| format!("message {i} ({role}) has non-string content"))?;
                    turns.push(if role == "system" { Turn::System(content) } else { Turn::User(content) });
                }
                "assistant" => {
                    if m.get("tool_calls").is_some_and(Value::is_null) {
                        note(changes, "assistant `tool_calls: null` removed");
                    }
                    let mut calls = Vec::new();
                    for c in m.get("tool_calls").and_then(Value::as_array).into_iter().flatten() {
                        let name = c.pointer("/function/name").and_then(Value::as_str).unwrap_or("").to_string();
                        let arguments_text = match c.pointer("/function/arguments") {
                            Some(Value::String(s)) => s.clone(),
                            Some(other) => {
                                note(changes, "tool call arguments object serialized to a string");
                                pyjson::dumps(other)
                            }
                            None => "{}".to_string(),
                        };
                        let arguments: Value = serde_json::from_str(&arguments_text)
                            .map_err(|e| format!("message {i}: tool call arguments are not JSON: {e}"))?;
                        let id = c.get("id").and_then(Value::as_str).unwrap_or("").to_string();
                        calls.push(Call { id, name, arguments, arguments_text });
                    }
                    let content = text("content").unwrap_or_default();
                    turns.push(Turn::Assistant { content, calls });
                }
                "tool" => {
                    let content = match m.get("content") {
                        Some(Value::String(s)) => s.clone(),
                        Some(other) => {
                            note(changes, "tool result object serialized to a JSON string");
                            pyjson::dumps(other)
                        }
                        None => String::new(),
                    };
                    turns.push(Turn::Tool {
                        call_id: text("tool_call_id").unwrap_or_default(),
                        name: text("name").unwrap_or_default(),
                        content,
                    });
                }
                other => return Err(format!("message {i} has the unknown role {other:?}")),
            }
        }
        Ok(Conversation { turns })
    }

    pub fn calls(&self) -> impl Iterator<Item = &Call> {
        self.turns.iter().flat_map(|t| match t {
            Turn::Assistant { calls, .. } => calls.as_slice(),
            _ => &[],
        })
    }
}

/// The `tools` list of an example, and its compact JSON (counted for tokens).
#[derive(Debug)]
pub struct ToolSet {
    pub list: Vec<Value>,
    pub json: String,
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
        let json = serde_json::to_string(&list).expect("a Value serializes");
        Arc::new(ToolSet { list, json })
    });
    let mut inferred: BTreeMap<&str, Map<String, Value>> = BTreeMap::new();
    for call in conversation.calls() {
        if crate::tools::find(&call.name).is_some() {
            continue;
        }
        let props = inferred.entry(&call.name).or_default();
        for (k, v) in call.arguments.as_object().into_iter().flatten() {
            props.entry(k.clone()).or_insert_with(|| json!({"type": json_type(v)}));
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
    let json = serde_json::to_string(&list).expect("a Value serializes");
    Arc::new(ToolSet { list, json })
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

pub struct Options {
    pub unplaceable: Unplaceable,
}

/// Render one example. `Err` means the thread cannot be carried by this profile under
/// the chosen options (the reason is reported, the thread skipped).
pub fn render(
    profile: Profile,
    thread: &Value,
    conversation: &Conversation,
    tools: &[Value],
    options: &Options,
    changes: &mut Changes,
) -> Result<Value, String> {
    match profile {
        Profile::Raw => Ok(thread.clone()),
        Profile::Openai => Ok(openai(conversation, tools, changes)),
        Profile::Trl | Profile::Axolotl => Ok(chat_template(conversation, tools)),
        Profile::LlamaFactory => sharegpt(conversation, tools, options, changes),
    }
}

fn openai(conversation: &Conversation, tools: &[Value], changes: &mut Changes) -> Value {
    let mut messages = Vec::with_capacity(conversation.turns.len());
    for turn in &conversation.turns {
        messages.push(match turn {
            Turn::System(c) => json!({"role": "system", "content": c}),
            Turn::User(c) => json!({"role": "user", "content": c}),
            Turn::Assistant { content, calls } if calls.is_empty() => json!({"role": "assistant", "content": content}),
            Turn::Assistant { content, calls } => {
                let mut m = Map::new();
                m.insert("role".into(), "assistant".into());
                if !content.is_empty() {
                    m.insert("content".into(), content.clone().into());
                }
                let calls: Vec<Value> = calls
                    .iter()
                    .map(|c| json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments_text}}))
                    .collect();
                m.insert("tool_calls".into(), calls.into());
                Value::Object(m)
            }
            Turn::Tool { call_id, content, .. } => {
                note(changes, "tool message `name` removed (not in OpenAI's fine-tuning format)");
                json!({"role": "tool", "tool_call_id": call_id, "content": content})
            }
        });
    }
    json!({"messages": messages, "tools": tools})
}

/// transformers chat templates (TRL, Axolotl): arguments as objects, every content a string.
fn chat_template(conversation: &Conversation, tools: &[Value]) -> Value {
    let messages: Vec<Value> = conversation
        .turns
        .iter()
        .map(|turn| match turn {
            Turn::System(c) => json!({"role": "system", "content": c}),
            Turn::User(c) => json!({"role": "user", "content": c}),
            Turn::Assistant { content, calls } if calls.is_empty() => json!({"role": "assistant", "content": content}),
            Turn::Assistant { content, calls } => {
                let calls: Vec<Value> = calls
                    .iter()
                    .map(|c| json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}))
                    .collect();
                json!({"role": "assistant", "content": content, "tool_calls": calls})
            }
            Turn::Tool { call_id, name, content } => {
                json!({"role": "tool", "tool_call_id": call_id, "name": name, "content": content})
            }
        })
        .collect();
    json!({"messages": messages, "tools": tools})
}

/// LLaMA-Factory sharegpt: strictly alternating human/observation and gpt/function_call.
fn sharegpt(
    conversation: &Conversation,
    tools: &[Value],
    options: &Options,
    changes: &mut Changes,
) -> Result<Value, String> {
    let mut system: Option<String> = None;
    let mut out: Vec<(&'static str, String)> = Vec::new();
    let lost = |what: &str, changes: &mut Changes| -> Result<(), String> {
        match options.unplaceable {
            Unplaceable::Drop => {
                note(changes, what);
                Ok(())
            }
            Unplaceable::Skip => Err(format!("{what} (--unplaceable skip)")),
        }
    };
    for turn in &conversation.turns {
        match turn {
            Turn::System(c) => system = Some(c.clone()),
            Turn::User(c) => out.push(("human", c.clone())),
            Turn::Assistant { content, calls } if calls.is_empty() => match out.last_mut() {
                // Consecutive assistant texts (a `respond` step, then the answer) are one gpt turn.
                Some(("gpt", previous)) => {
                    note(changes, "consecutive assistant messages merged into one gpt turn");
                    previous.push_str("\n\n");
                    previous.push_str(content);
                }
                _ => out.push(("gpt", content.clone())),
            },
            Turn::Assistant { content, calls } => {
                if !content.trim().is_empty() {
                    lost("reasoning before a tool call dropped (sharegpt function_call turns carry no text)", changes)?;
                }
                if let Some(("gpt", _)) = out.last() {
                    lost("assistant text before a tool call dropped (it would break the turn alternation)", changes)?;
                    out.pop();
                }
                if calls.len() > 1 {
                    return Err("an assistant message makes several tool calls; sharegpt has one per turn".into());
                }
                let call = &calls[0];
                let value = json!({"name": call.name, "arguments": call.arguments});
                out.push((
                    "function_call",
                    pyjson::to_string(&value, pyjson::Style { ensure_ascii: false, ..Default::default() }),
                ));
            }
            Turn::Tool { content, .. } => out.push(("observation", content.clone())),
        }
    }
    if let Some(("observation", _)) = out.last() {
        lost("trailing tool result dropped (an example must end with an assistant turn)", changes)?;
        out.pop();
    }
    let functions: Vec<Value> = tools.iter().map(|t| t.get("function").cloned().unwrap_or_else(|| t.clone())).collect();
    let conversations: Vec<Value> =
        out.into_iter().map(|(from, value)| json!({"from": from, "value": value})).collect();
    let mut example = Map::new();
    example.insert("conversations".into(), conversations.into());
    if let Some(system) = system {
        example.insert("system".into(), system.into());
    }
    example.insert(
        "tools".into(),
        pyjson::to_string(&Value::Array(functions), pyjson::Style { ensure_ascii: false, ..Default::default() }).into(),
    );
    Ok(Value::Object(example))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn thread() -> Value {
        json!({"id": "t", "messages": [
            {"role": "user", "content": "Dataset Information:\n{}\n\nUser Query: what?"},
            {"role": "assistant", "content": "Look at the stats.", "tool_calls": [{"id": "call_t_turn_1", "type": "function",
                "function": {"name": "show_session_stats", "arguments": "{\"dataset_name\": \"d\"}"}}]},
            {"role": "tool", "tool_call_id": "call_t_turn_1", "name": "show_session_stats", "content": {"sessions": 3}},
            {"role": "assistant", "content": "Thinking aloud.", "tool_calls": null},
            {"role": "assistant", "content": "It walks.\n\nFinal Answer: walking"}
        ]})
    }

    fn render_one(profile: Profile) -> (Value, Changes) {
        let mut changes = Changes::new();
        let conv = Conversation::of_thread(&thread(), &mut changes).unwrap();
        let tools = tool_definitions(&conv, &mut changes);
        let options = Options { unplaceable: Unplaceable::Drop };
        (render(profile, &thread(), &conv, &tools.list, &options, &mut changes).unwrap(), changes)
    }

    #[test]
    fn openai_strings_and_no_nulls() {
        let (ex, changes) = render_one(Profile::Openai);
        let m = &ex["messages"];
        assert_eq!(m[1]["tool_calls"][0]["function"]["arguments"], "{\"dataset_name\": \"d\"}");
        assert_eq!(m[2]["content"], "{\"sessions\": 3}");
        assert!(m[2].get("name").is_none());
        assert!(m[3].get("tool_calls").is_none());
        assert_eq!(changes["assistant `tool_calls: null` removed"], 1);
        assert_eq!(changes["tool result object serialized to a JSON string"], 1);
    }

    #[test]
    fn chat_template_arguments_are_objects() {
        let (ex, _) = render_one(Profile::Trl);
        assert_eq!(ex["messages"][1]["tool_calls"][0]["function"]["arguments"], json!({"dataset_name": "d"}));
        assert!(ex["messages"].as_array().unwrap().iter().all(|m| m["content"].is_string()));
    }

    #[test]
    fn sharegpt_alternates_and_reports_what_it_drops() {
        let (ex, changes) = render_one(Profile::LlamaFactory);
        let froms: Vec<&str> =
            ex["conversations"].as_array().unwrap().iter().map(|t| t["from"].as_str().unwrap()).collect();
        assert_eq!(froms, ["human", "function_call", "observation", "gpt"]);
        assert_eq!(ex["conversations"][3]["value"], "Thinking aloud.\n\nIt walks.\n\nFinal Answer: walking");
        assert_eq!(
            ex["conversations"][1]["value"],
            "{\"name\": \"show_session_stats\", \"arguments\": {\"dataset_name\": \"d\"}}"
        );
        assert!(ex["tools"].is_string());
        assert_eq!(changes["reasoning before a tool call dropped (sharegpt function_call turns carry no text)"], 1);
        assert_eq!(changes["consecutive assistant messages merged into one gpt turn"], 1);
    }

    #[test]
    fn sharegpt_skip_keeps_every_word_or_nothing() {
        let mut changes = Changes::new();
        let conv = Conversation::of_thread(&thread(), &mut changes).unwrap();
        let options = Options { unplaceable: Unplaceable::Skip };
        let err = render(Profile::LlamaFactory, &thread(), &conv, &[], &options, &mut changes).unwrap_err();
        assert!(err.contains("reasoning before a tool call"), "{err}");
    }

    #[test]
    fn unknown_tools_get_an_inferred_definition() {
        let t = json!({"messages": [
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": "", "tool_calls": [{"id": "c1", "type": "function",
                "function": {"name": "human_activity_motion_tokenizer", "arguments": "{\"artifact_id\": \"ts_1\"}"}}]},
            {"role": "tool", "tool_call_id": "c1", "name": "human_activity_motion_tokenizer", "content": "{}"}]});
        let mut changes = Changes::new();
        let conv = Conversation::of_thread(&t, &mut changes).unwrap();
        let tools = tool_definitions(&conv, &mut changes);
        let last = tools.list.last().unwrap();
        assert_eq!(last["function"]["name"], "human_activity_motion_tokenizer");
        assert_eq!(last["function"]["parameters"]["properties"]["artifact_id"]["type"], "string");
    }
}
