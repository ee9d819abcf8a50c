//! The `messages` + `tools` shape that OpenAI, TRL and Axolotl share: one renderer and one
//! checker, each format passing the few rules where they differ.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

use serde_json::{json, Map, Value};

use crate::diagnostic::Diagnostic;
use crate::conversation::{Call, Conversation, ToolSet, Turn};
use crate::rules::*;

use super::defined_functions;
use crate::json::pointer;
use crate::thread::{FirstMessage, MANIFEST_PREFIX};

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

impl Rules {
    /// An assistant message with calls leaves out an empty `content` under `strict_calls`.
    fn omits_content(self, content: &str, calls: &[Call]) -> bool {
        !calls.is_empty() && self.strict_calls && content.is_empty()
    }

    /// A call's `arguments` as the format's examples carry them.
    fn arguments<'c>(self, call: &'c Call<'_>) -> Args<'c> {
        match self.arguments {
            Arguments::Text => Args::Text(&call.arguments_text),
            Arguments::Object | Arguments::Either => Args::of(call.arguments()),
        }
    }
}

/// The example without its `tools` (see `TrainingFormat::render`): every content a string,
/// tool results keep their `name` unless `closed`.
pub fn render(conversation: &Conversation, rules: Rules) -> Value {
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
                if !rules.omits_content(content, calls) {
                    m.insert("content".into(), (*content).into());
                }
                let calls: Vec<Value> = calls
                    .iter()
                    .map(|c| {
                        let arguments = match rules.arguments(c) {
                            Args::Text(s) => Value::String(s.to_string()),
                            Args::Value(v) => v.clone(),
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
    Value::Object(example)
}

/// How a format writes the `tools` list into its lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolsAs {
    /// A JSON array (OpenAI, TRL).
    List,
    /// A string holding the array's JSON (Axolotl).
    Text,
}

impl ToolsAs {
    /// The list's bytes in a line, serialized once per tool set.
    fn bytes(self, tools: &ToolSet) -> &[u8] {
        match self {
            ToolsAs::List => tools.json.as_bytes(),
            ToolsAs::Text => tools.json_literal(),
        }
    }
}

/// `render`'s example with the `tools` list after its other keys.
pub fn with_tools(mut example: Value, tools: &ToolSet, form: ToolsAs) -> Value {
    if let Value::Object(fields) = &mut example {
        let value = match form {
            ToolsAs::List => Value::Array(tools.list.clone()),
            ToolsAs::Text => Value::String(tools.json.clone()),
        };
        fields.insert("tools".into(), value);
    }
    example
}

/// The line of `with_tools(example, tools, form)`, the bytes `serde_json::to_vec` writes for
/// it, with the list's JSON (about half of every line) copied in as serialized once.
pub fn line(example: &Value, tools: &ToolSet, form: ToolsAs) -> Vec<u8> {
    crate::json::exact_vec(|out| write_line(out, example, tools, form))
}

fn write_line(out: &mut Vec<u8>, example: &Value, tools: &ToolSet, form: ToolsAs) {
    let Value::Object(fields) = example else {
        crate::json::write_compact(out, example);
        return;
    };
    // `with_tools` puts the list last; here it is a stand-in whose bytes are the list's.
    let stand_in = Value::Null;
    let members = fields.iter().map(|(k, v)| (k.as_str(), v)).filter(|&(k, _)| k != "tools");
    crate::json::write_object(out, members.chain([("tools", &stand_in)]), |out, key, value| match (key, value) {
        ("tools", _) => out.extend_from_slice(form.bytes(tools)),
        ("messages", Value::Array(messages)) => write_messages(out, messages),
        _ => crate::json::write_compact(out, value),
    });
}

/// `write_compact` of a `messages` list, with the first message's manifest written from a
/// per-worker memo: the generator repeats its dataset's manifest (kilobytes of pretty JSON,
/// a quote or newline to escape every few bytes) in every thread's first message.
fn write_messages(out: &mut Vec<u8>, messages: &[Value]) {
    out.push(b'[');
    for (i, m) in messages.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        match m {
            Value::Object(fields) => {
                let members = fields.iter().map(|(k, v)| (k.as_str(), v));
                crate::json::write_object(out, members, |out, key, value| match (key, value) {
                    ("content", Value::String(text)) => write_content(out, text),
                    _ => crate::json::write_compact(out, value),
                })
            }
            _ => crate::json::write_compact(out, m),
        }
    }
    out.push(b']');
}

fn write_content(out: &mut Vec<u8>, text: &str) {
    type Escaped = HashMap<Box<str>, Box<[u8]>, foldhash::fast::RandomState>;
    thread_local! {
        static MANIFESTS: RefCell<Escaped> = RefCell::new(Escaped::default());
    }
    let Some(first) = FirstMessage::parse(text) else { return crate::json::write_str(out, text) };
    let (head, tail) = text.split_at(MANIFEST_PREFIX.len() + first.manifest_text.len());
    out.push(b'"');
    MANIFESTS.with_borrow_mut(|memo| {
        if let Some(escaped) = memo.get(head) {
            out.extend_from_slice(escaped);
            return;
        }
        let at = out.len();
        crate::json::write_str_body(out, head);
        // A bound for corpora of many datasets (there are 17 public HAR datasets).
        if memo.len() >= 256 {
            memo.clear();
        }
        memo.insert(head.into(), out[at..].into());
    });
    crate::json::write_str_body(out, tail);
    out.push(b'"');
}

/// The line `line(&render(conversation, rules), tools, form)` writes, written straight from
/// the conversation: the same bytes without building the example (held to it by a test).
pub fn conversation_line(conversation: &Conversation, tools: &ToolSet, rules: Rules, form: ToolsAs) -> Vec<u8> {
    crate::json::exact_vec(|out| write_conversation_line(out, conversation, tools, rules, form))
}

fn write_conversation_line(out: &mut Vec<u8>, conversation: &Conversation, tools: &ToolSet, rules: Rules, form: ToolsAs) {
    out.extend_from_slice(b"{\"messages\":[");
    for (i, turn) in conversation.turns.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        match turn {
            Turn::System(c) => simple_message(out, "system", c),
            Turn::User(c) => simple_message(out, "user", c),
            Turn::Assistant { content, calls } if calls.is_empty() => simple_message(out, "assistant", content),
            Turn::Assistant { content, calls } => {
                out.extend_from_slice(b"{\"role\":\"assistant\",");
                if !rules.omits_content(content, calls) {
                    out.extend_from_slice(b"\"content\":");
                    write_content(out, content);
                    out.push(b',');
                }
                out.extend_from_slice(b"\"tool_calls\":[");
                for (j, c) in calls.iter().enumerate() {
                    if j > 0 {
                        out.push(b',');
                    }
                    out.extend_from_slice(b"{\"id\":");
                    crate::json::write_str(out, c.id);
                    out.extend_from_slice(b",\"type\":\"function\",\"function\":{\"name\":");
                    crate::json::write_str(out, c.name);
                    out.extend_from_slice(b",\"arguments\":");
                    match rules.arguments(c) {
                        Args::Text(s) => crate::json::write_str(out, s),
                        Args::Value(v) => crate::json::write_compact(out, v),
                    }
                    out.extend_from_slice(b"}}");
                }
                out.extend_from_slice(b"]}");
            }
            Turn::Tool { call_id, name, content } => {
                out.extend_from_slice(b"{\"role\":\"tool\",\"tool_call_id\":");
                crate::json::write_str(out, call_id);
                if !rules.closed {
                    out.extend_from_slice(b",\"name\":");
                    crate::json::write_str(out, name);
                }
                out.extend_from_slice(b",\"content\":");
                write_content(out, content);
                out.push(b'}');
            }
        }
    }
    out.extend_from_slice(b"],\"tools\":");
    out.extend_from_slice(form.bytes(tools));
    out.push(b'}');
}

/// `{"role":…,"content":…}`.
fn simple_message(out: &mut Vec<u8>, role: &str, content: &str) {
    out.extend_from_slice(b"{\"role\":");
    crate::json::write_str(out, role);
    out.extend_from_slice(b",\"content\":");
    write_content(out, content);
    out.push(b'}');
}

/// What the checks read of one message. A message of a line (a JSON value) and a turn as
/// `render` would write it (`Rendered`) both answer, so that `validate --profile` and
/// export, which checks examples without building them, apply one set of rules.
trait MessageView {
    fn is_object(&self) -> bool;
    /// Each key, and whether its value is null.
    fn keys(&self) -> impl Iterator<Item = (&str, bool)>;
    /// `""` when there is none (or it is not a string).
    fn role(&self) -> &str;
    fn content(&self) -> Content;
    /// `tool_calls`, when it is a list.
    fn calls(&self) -> Option<Vec<CallView<'_>>>;
    fn weight(&self) -> Option<&Value>;
    fn tool_call_id(&self) -> Option<&str>;
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Content {
    Absent,
    Null,
    Text,
    Other,
}

struct CallView<'a> {
    id: Option<&'a str>,
    name: Option<&'a str>,
    arguments: Option<Args<'a>>,
}

#[derive(Clone, Copy)]
enum Args<'a> {
    Text(&'a str),
    /// Anything but a string.
    Value(&'a Value),
}

impl<'a> Args<'a> {
    fn of(v: &'a Value) -> Args<'a> {
        match v {
            Value::String(s) => Args::Text(s),
            v => Args::Value(v),
        }
    }
}

impl MessageView for Value {
    fn is_object(&self) -> bool {
        self.is_object()
    }

    fn keys(&self) -> impl Iterator<Item = (&str, bool)> {
        self.as_object().into_iter().flatten().map(|(k, v)| (k.as_str(), v.is_null()))
    }

    fn role(&self) -> &str {
        self.get("role").and_then(Value::as_str).unwrap_or("")
    }

    fn content(&self) -> Content {
        match self.get("content") {
            None => Content::Absent,
            Some(Value::Null) => Content::Null,
            Some(Value::String(_)) => Content::Text,
            Some(_) => Content::Other,
        }
    }

    fn calls(&self) -> Option<Vec<CallView<'_>>> {
        let calls = self.get("tool_calls").and_then(Value::as_array)?;
        Some(
            calls
                .iter()
                .map(|c| {
                    let function = c.get("function");
                    CallView {
                        id: c.get("id").and_then(Value::as_str),
                        name: function.and_then(|f| f.get("name")).and_then(Value::as_str),
                        arguments: function.and_then(|f| f.get("arguments")).map(Args::of),
                    }
                })
                .collect(),
        )
    }

    fn weight(&self) -> Option<&Value> {
        self.get("weight")
    }

    fn tool_call_id(&self) -> Option<&str> {
        self.get("tool_call_id").and_then(Value::as_str)
    }
}

/// A turn as `render(_, rules)` writes it.
struct Rendered<'c> {
    turn: &'c Turn<'c>,
    rules: Rules,
}

impl Rendered<'_> {
    fn has_content(&self) -> bool {
        match self.turn {
            Turn::Assistant { content, calls } => !self.rules.omits_content(content, calls),
            _ => true,
        }
    }
}

impl<'c> MessageView for Rendered<'c> {
    fn is_object(&self) -> bool {
        true
    }

    fn keys(&self) -> impl Iterator<Item = (&str, bool)> {
        let keys: &[&str] = match self.turn {
            Turn::System(_) | Turn::User(_) => &["role", "content"],
            Turn::Assistant { calls, .. } if calls.is_empty() => &["role", "content"],
            Turn::Assistant { .. } if self.has_content() => &["role", "content", "tool_calls"],
            Turn::Assistant { .. } => &["role", "tool_calls"],
            Turn::Tool { .. } if self.rules.closed => &["role", "tool_call_id", "content"],
            Turn::Tool { .. } => &["role", "tool_call_id", "name", "content"],
        };
        keys.iter().map(|&k| (k, false))
    }

    fn role(&self) -> &str {
        match self.turn {
            Turn::System(_) => "system",
            Turn::User(_) => "user",
            Turn::Assistant { .. } => "assistant",
            Turn::Tool { .. } => "tool",
        }
    }

    fn content(&self) -> Content {
        if self.has_content() {
            Content::Text
        } else {
            Content::Absent
        }
    }

    fn calls(&self) -> Option<Vec<CallView<'_>>> {
        let Turn::Assistant { calls, .. } = self.turn else { return None };
        if calls.is_empty() {
            return None;
        }
        let view = |c: &'c Call| CallView { id: Some(c.id), name: Some(c.name), arguments: Some(self.rules.arguments(c)) };
        Some(calls.iter().map(view).collect())
    }

    fn weight(&self) -> Option<&Value> {
        None
    }

    fn tool_call_id(&self) -> Option<&str> {
        match self.turn {
            Turn::Tool { call_id, .. } => Some(call_id),
            _ => None,
        }
    }
}

/// `TrainingFormat::direct_line` of the `messages` formats: the first finding of
/// `check_conversation`, or else `conversation_line`.
// The error is the one finding of a refused example, returned as the trait's `Diagnostic`:
// a box here would be unboxed at once by every caller.
#[allow(clippy::result_large_err)]
pub fn direct_line(
    conversation: &Conversation,
    tools: &ToolSet,
    render_rules: Rules,
    rules: Rules,
    form: ToolsAs,
) -> Result<Vec<u8>, Diagnostic> {
    match check_conversation(conversation, tools, render_rules, rules).into_iter().next() {
        Some(finding) => Err(finding),
        None => Ok(conversation_line(conversation, tools, render_rules, form)),
    }
}

/// `check_example(&render(conversation, render_rules), tools, rules)` without rendering.
pub fn check_conversation(conversation: &Conversation, tools: &ToolSet, render_rules: Rules, rules: Rules) -> Vec<Diagnostic> {
    let turns: Vec<Rendered<'_>> = conversation.turns.iter().map(|turn| Rendered { turn, rules: render_rules }).collect();
    let mut out = Vec::new();
    check_messages(["messages"].into_iter(), Some(&turns), rules, Some(&tools.names), Vec::new(), &mut out);
    out
}

/// Every finding for a line of a training file.
pub fn check(example: &Value, rules: Rules) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let Some(obj) = example.as_object() else {
        out.push(Diagnostic::new(&TRAINING_NOT_AN_EXAMPLE, "", "the line is not a JSON object"));
        return out;
    };
    let mut tool_findings = Vec::new();
    // Axolotl takes `tools` as a JSON string too (and parses it before templating).
    let parsed_tools: Option<std::borrow::Cow<'_, Value>> = match obj.get("tools") {
        // TRL's docs give it too ("store `tools` as a JSON str" for datasets < 4.7); OpenAI takes a list only.
        Some(Value::String(s)) if !rules.closed => match serde_json::from_str::<Value>(s) {
            Ok(v) => Some(std::borrow::Cow::Owned(v)),
            Err(e) => {
                tool_findings.push(Diagnostic::new(&TRAINING_TOOLS_MALFORMED, "/tools", format!("`tools` is a string but not JSON: {e}")));
                None
            }
        },
        other => other.map(std::borrow::Cow::Borrowed),
    };
    let defined: Option<HashSet<&str>> = parsed_tools.as_ref().map(|t| defined_functions(t, "/tools", &mut tool_findings));
    let messages = obj.get("messages").and_then(Value::as_array).map(Vec::as_slice);
    check_messages(obj.keys().map(String::as_str), messages, rules, defined.as_ref(), tool_findings, &mut out);
    out
}

/// `check` of the line `line(example, tools, _)` writes: the list is threadkit's own, made
/// by `ToolSet::new`, so its names stand in for parsing it back out of every line.
pub fn check_example(example: &Value, tools: &ToolSet, rules: Rules) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let Some(obj) = example.as_object() else {
        out.push(Diagnostic::new(&TRAINING_NOT_AN_EXAMPLE, "", "the line is not a JSON object"));
        return out;
    };
    let messages = obj.get("messages").and_then(Value::as_array).map(Vec::as_slice);
    check_messages(obj.keys().map(String::as_str), messages, rules, Some(&tools.names), Vec::new(), &mut out);
    out
}

/// The checks of a line's keys and messages; `defined` holds the names in its `tools` list
/// (if it has one) and `tool_findings` what was wrong with that list.
fn check_messages<'k, M: MessageView, S: std::borrow::Borrow<str> + std::hash::Hash + Eq>(
    top_keys: impl Iterator<Item = &'k str>,
    messages: Option<&[M]>,
    rules: Rules,
    defined: Option<&HashSet<S>>,
    tool_findings: Vec<Diagnostic>,
    out: &mut Vec<Diagnostic>,
) {
    let Some(messages) = messages.filter(|m| !m.is_empty()) else {
        out.push(Diagnostic::new(&TRAINING_NOT_AN_EXAMPLE, "", "an example needs a non-empty `messages` list"));
        return;
    };
    if rules.closed {
        for key in top_keys.filter(|k| !matches!(*k, "messages" | "tools" | "parallel_tool_calls")) {
            out.push(Diagnostic::new(
                &TRAINING_UNKNOWN_KEY,
                pointer([key]),
                format!("OpenAI's format has no top-level `{key}`"),
            ));
        }
    }
    out.extend(tool_findings);
    let mut open_calls: Vec<&str> = Vec::new();
    let mut answered: HashSet<&str> = HashSet::new();
    // Every call's id as the fix would leave it (its own, or `call_<i>_<j>` for one without),
    // in order: a result without `tool_call_id` answers the earliest one not yet answered.
    let mut unanswered: std::collections::VecDeque<std::borrow::Cow<'_, str>> = Default::default();
    let mut has_assistant = false;
    for (i, m) in messages.iter().enumerate() {
        // Pointers are built only for findings: most lines have none.
        let at = || format!("/messages/{i}");
        if !m.is_object() {
            out.push(Diagnostic::new(&TRAINING_NOT_AN_EXAMPLE, at(), "a message must be an object"));
            continue;
        }
        let role = m.role();
        let calls = m.calls();
        let calling = role == "assistant" && calls.as_ref().is_some_and(|c| !c.is_empty());
        for (k, null) in m.keys() {
            if null && k == "content" && calling {
                // What the Chat Completions API returns beside tool calls: read by every consumer.
                let pointer = format!("{}/content", at());
                let remove = vec![crate::diagnostic::Edit::Remove { pointer: pointer.clone() }];
                out.push(
                    Diagnostic::new(&TRAINING_NULL_CONTENT, pointer, "`content` is null beside `tool_calls`; the documented form omits the key")
                        .with_fix(remove),
                );
            } else if null && (rules.strict_calls || k == "content") {
                out.push(Diagnostic::new(
                    &TRAINING_NULL_VALUE,
                    format!("{}{}", at(), pointer([k])),
                    format!("`{k}` is null; omit the key instead"),
                ));
            }
        }
        let content = m.content();
        let allowed: &[&str] = match role {
            "system" | "user" => &["role", "content", "name"],
            "assistant" => &["role", "content", "tool_calls", "weight", "name"],
            // OpenAI ignores a tool result's `name`, so it is not a finding.
            "tool" => &["role", "content", "tool_call_id", "name"],
            _ => {
                out.push(Diagnostic::new(&TRAINING_UNKNOWN_KEY, format!("{}/role", at()), format!("unknown role {role:?}")));
                continue;
            }
        };
        if rules.closed {
            for (k, _) in m.keys().filter(|(k, _)| !allowed.contains(k)) {
                out.push(Diagnostic::new(
                    &TRAINING_UNKNOWN_KEY,
                    format!("{}{}", at(), pointer([k])),
                    format!("a {role} message has no `{k}` in OpenAI's format"),
                ));
            }
            if role == "system" && i > 0 {
                out.push(Diagnostic::new(&TRAINING_TURN_ORDER, at(), "a system message may only come first"));
            }
        }
        // An assistant that calls tools may leave its text out: OpenAI's guide, TRL's docs and
        // Axolotl's tests all write it so, and chat templates render it.
        let omitted = calling && matches!(content, Content::Absent | Content::Null);
        if !(content == Content::Text || omitted || content == Content::Null) {
            out.push(Diagnostic::new(
                &TRAINING_CONTENT_NOT_STRING,
                format!("{}/content", at()),
                format!("the {role} message's `content` must be a string"),
            ));
        }
        match role {
            "assistant" => {
                has_assistant = true;
                if let Some(w) = m.weight() {
                    if !(w == 0 || w == 1) {
                        out.push(Diagnostic::new(&TRAINING_WEIGHT, format!("{}/weight", at()), "`weight` must be 0 or 1"));
                    }
                }
                for (j, c) in calls.into_iter().flatten().enumerate() {
                    let cat = || format!("{}/tool_calls/{j}", at());
                    match c.id {
                        Some(id) => {
                            open_calls.push(id);
                            unanswered.push_back(id.into());
                        }
                        None => {
                            let id = format!("call_{i}_{j}");
                            if rules.strict_calls {
                                let set = vec![crate::diagnostic::Edit::Set { pointer: format!("{}/id", cat()), value: id.clone().into() }];
                                out.push(Diagnostic::new(&TRAINING_TOOL_PAIRING, cat(), "a tool call needs an `id`").with_fix(set));
                            }
                            unanswered.push_back(id.into());
                        }
                    }
                    if let (Some(defined), Some(name)) = (defined, c.name) {
                        if !defined.contains(name) {
                            out.push(Diagnostic::new(
                                &TRAINING_UNDEFINED_TOOL,
                                format!("{}/function/name", cat()),
                                format!("`{name}` is not in `tools`"),
                            ));
                        }
                    }
                    if rules.strict_calls && defined.is_none() {
                        out.push(Diagnostic::new(
                            &TRAINING_UNDEFINED_TOOL,
                            cat(),
                            "the example calls tools but has no `tools` list",
                        ));
                    }
                    let ok = match (rules.arguments, c.arguments) {
                        (Arguments::Text | Arguments::Either, Some(Args::Text(s))) => crate::json::is_object_text(s),
                        (Arguments::Object | Arguments::Either, Some(Args::Value(v))) => v.is_object(),
                        _ => false,
                    };
                    if !ok {
                        let fix = c.arguments.and_then(|a| arguments_fix(a, rules.arguments, &format!("{}/function/arguments", cat())));
                        let want = match rules.arguments {
                            Arguments::Text => "a string holding a JSON object",
                            Arguments::Object => "a JSON object (chat templates apply `tojson` to it)",
                            Arguments::Either => "a JSON object or a string holding one",
                        };
                        let twice = matches!(c.arguments, Some(Args::Text(_))) && fix.is_some();
                        let mut d = Diagnostic::new(
                            &TRAINING_ARGUMENTS,
                            format!("{}/function/arguments", cat()),
                            if twice {
                                format!("`arguments` is JSON-encoded twice (a string holding a string holding an object); it must be {want}")
                            } else {
                                format!("`arguments` must be {want}")
                            },
                        );
                        if let Some(fix) = fix {
                            d = d.with_fix(fix);
                        }
                        out.push(d);
                    }
                }
            }
            "tool" => match m.tool_call_id() {
                Some(id) if open_calls.contains(&id) && answered.insert(id) => unanswered.retain(|u| u != id),
                Some(id) => out.push(Diagnostic::new(
                    &TRAINING_TOOL_PAIRING,
                    format!("{}/tool_call_id", at()),
                    format!("`{id}` answers no earlier, unanswered tool call"),
                )),
                None if rules.strict_calls => {
                    let d = Diagnostic::new(&TRAINING_TOOL_PAIRING, at(), "a tool message needs `tool_call_id`");
                    out.push(match unanswered.pop_front() {
                        // Results without ids answer the calls in order (TRL's and Axolotl's files pair them so).
                        Some(id) => d.with_fix(vec![crate::diagnostic::Edit::Set { pointer: format!("{}/tool_call_id", at()), value: id.into_owned().into() }]),
                        None => d,
                    });
                }
                None => {}
            },
            _ => {}
        }
    }
    if !has_assistant {
        out.push(Diagnostic::new(&TRAINING_NO_ASSISTANT, "/messages", "no assistant message"));
    }
}

/// The fix for arguments in the wrong form when what is meant is certain: an object where the
/// profile wants its text, or a string whose JSON is a string whose JSON is an object (encoded
/// once too often), becomes the profile's form of that object. `None` otherwise.
fn arguments_fix(args: Args<'_>, want: Arguments, pointer: &str) -> Option<Vec<crate::diagnostic::Edit>> {
    // An object where the profile wants its JSON text (TRL's form read as OpenAI's): serialized once.
    if let (Args::Value(v @ Value::Object(_)), Arguments::Text) = (args, want) {
        return Some(vec![crate::diagnostic::Edit::Set { pointer: pointer.to_string(), value: Value::String(crate::pyjson::dumps(v)) }]);
    }
    let Args::Text(outer) = args else { return None };
    let Ok(Value::String(inner)) = serde_json::from_str::<Value>(outer) else { return None };
    let object = serde_json::from_str::<Value>(&inner).ok().filter(Value::is_object)?;
    let value = match want {
        Arguments::Text | Arguments::Either => Value::String(inner),
        Arguments::Object => object,
    };
    Some(vec![crate::diagnostic::Edit::Set { pointer: pointer.to_string(), value }])
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
            let format = profile.format();
            let example = format.render(&thread, &conv, &standard, &Options::default(), &mut changes).unwrap();
            let whole = format.with_tools(example.clone(), &standard);
            assert_eq!(format.line(&example, &standard), serde_json::to_vec(&whole).unwrap(), "{profile:?}");
        }
        // A real manifest (quotes, newlines, non-ASCII) through the manifest memo: missed, then hit.
        let manifest = serde_json::json!({"dataset_name": "UCI \"HAR\"", "note": "tab\there, é", "channels": [{"name": "acc_x"}]});
        let mut thread = super::super::test_support::thread();
        thread["messages"][0]["content"] = crate::thread::FirstMessage::build(&manifest, "what?\u{1}").into();
        let conv = Conversation::of_thread(&thread, &mut changes).unwrap();
        for _ in 0..2 {
            let example = Profile::Openai.format().render(&thread, &conv, &standard, &Options::default(), &mut changes).unwrap();
            let whole = Profile::Openai.format().with_tools(example.clone(), &standard);
            assert_eq!(Profile::Openai.format().line(&example, &standard), serde_json::to_vec(&whole).unwrap());
        }
        let odd = serde_json::json!([1, "x"]);
        assert_eq!(line(&odd, &standard, ToolsAs::List), serde_json::to_vec(&odd).unwrap());
    }

    /// Export writes and checks the lines of the `messages` formats straight from the
    /// conversation: the same bytes, changes and first finding as rendering the example.
    #[test]
    fn the_direct_line_is_the_rendered_line() {
        let thread = super::super::test_support::thread();
        let mut variants = vec![thread.clone()];
        let mut v = thread.clone();
        v["messages"][1]["tool_calls"][0]["function"]["name"] = "old_tool".into();
        variants.push(v);
        let mut v = thread.clone();
        v["messages"][2]["tool_call_id"] = "nope".into();
        variants.push(v);
        let mut v = thread.clone();
        v["messages"].as_array_mut().unwrap().push(serde_json::json!({"role": "system", "content": "late"}));
        variants.push(v);
        let mut v = thread.clone();
        v["messages"].as_array_mut().unwrap().insert(0, serde_json::json!({"role": "system", "content": "first \"quoted\"\ttab é"}));
        variants.push(v);
        let mut v = thread.clone();
        v["messages"][1]["content"] = "".into();
        variants.push(v);
        let mut v = thread.clone();
        v["messages"][1]["tool_calls"][0]["function"]["arguments"] = "{\"x\": [1, 2.5, null], \"é\": \"\\u0001\"}".into();
        variants.push(v);
        let mut v = thread.clone();
        let manifest = serde_json::json!({"dataset_name": "UCI \"HAR\"", "channels": [{"name": "acc_x"}]});
        v["messages"][0]["content"] = crate::thread::FirstMessage::build(&manifest, "what?").into();
        variants.push(v);
        let mut v = thread.clone();
        v["messages"].as_array_mut().unwrap().retain(|m| m["role"] != "assistant" || m.get("tool_calls").is_some_and(|c| !c.is_null()));
        variants.push(v);
        let describe = |d: &Diagnostic| (d.code(), d.pointer.clone(), d.message.clone());
        for (k, thread) in variants.iter().enumerate() {
            for profile in [Profile::Openai, Profile::Trl, Profile::Axolotl] {
                let format = profile.format();
                let mut changes = Changes::new();
                let conv = Conversation::of_thread(thread, &mut changes).unwrap();
                let tools = tool_definitions(&conv, &mut changes);
                let (mut rendered_changes, mut direct_changes) = (changes.clone(), changes);
                let example = format.render(thread, &conv, &tools, &Options::default(), &mut rendered_changes).unwrap();
                let rendered = match format.check_example(&example, &tools).into_iter().next() {
                    Some(d) => Err(describe(&d)),
                    None => Ok(format.line(&example, &tools)),
                };
                let direct = format.direct_line(&conv, &tools, &mut direct_changes).expect("a messages format");
                assert_eq!(direct.map_err(|d| describe(&d)), rendered, "variant {k}, {profile:?}");
                assert_eq!(direct_changes, rendered_changes, "variant {k}, {profile:?}");
            }
        }
    }

    /// The export path checks calls against the tool set's names instead of the list in the
    /// line: both must find the same, for the standard tools and for inferred ones.
    #[test]
    fn checking_with_the_tool_set_is_checking_the_line() {
        let thread = super::super::test_support::thread();
        let mut unknown = thread.clone();
        unknown["messages"][1]["tool_calls"][0]["function"]["name"] = "old_tool".into();
        let mut orphan = thread.clone();
        orphan["messages"][2]["tool_call_id"] = "nope".into();
        let mut late_system = thread.clone();
        late_system["messages"].as_array_mut().unwrap().push(serde_json::json!({"role": "system", "content": "late"}));
        for thread in [thread, unknown, orphan, late_system] {
            let mut changes = Changes::new();
            let conv = Conversation::of_thread(&thread, &mut changes).unwrap();
            let tools = tool_definitions(&conv, &mut changes);
            let list = Value::Array(tools.list.clone());
            let names = crate::export::formats::defined_functions(&list, "/tools", &mut Vec::new());
            assert_eq!(names, tools.names.iter().map(String::as_str).collect::<HashSet<_>>());
            for profile in [Profile::Openai, Profile::Trl, Profile::Axolotl] {
                let format = profile.format();
                let example = format.render(&thread, &conv, &tools, &Options::default(), &mut changes).unwrap();
                let whole = format.with_tools(example.clone(), &tools);
                let codes = |d: Vec<Diagnostic>| d.iter().map(|d| (d.code(), d.pointer.clone(), d.message.clone())).collect::<Vec<_>>();
                assert_eq!(codes(format.check_example(&example, &tools)), codes(format.check(&whole)), "{profile:?}");
            }
        }
    }
}
