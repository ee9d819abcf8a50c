//! A model's own chat template (Jinja, as shipped in `tokenizer_config.json` or a `.jinja`
//! file), rendered with minijinja and its Python-compatibility layer the way
//! `transformers.apply_chat_template` renders it: `trim_blocks`, `lstrip_blocks`,
//! `raise_exception`, `strftime_now`, and a `tojson` that writes what Python's `json.dumps` writes.
//!
//! Two jobs. `audit` renders an example and lists what does not reach the rendered text:
//! tool calls, tool results, assistant texts (chain of thought a trainer would never see),
//! and template errors. `Adaptation` is what `export --chat-template` may change so that a
//! template renders everything without losing information: short tool-call ids,
//! consecutive assistant turns merged, string `arguments`, reasoning moved to where the
//! template renders it. The adaptation is chosen once per template, by rendering a probe
//! conversation under each candidate and keeping the cheapest that loses nothing.

use std::path::Path;

use minijinja::value::{Kwargs, Serde, Value as JValue};
use minijinja::{Environment, Error, ErrorKind};
use serde_json::{json, Value};

use crate::conversation::{note, Changes};
use crate::pyjson;

/// The render budget, in minijinja fuel: one unit per instruction and per 64 bytes a template
/// creates (output, `~`, `*`, filter results). A fixed base pays for the template's own work;
/// the rest grows with the example, so a long thread renders and a template that loops without
/// end, or doubles a string until memory runs out, stops within about 64 MiB of data.
const BASE_FUEL: u64 = 1_000_000;
/// Fuel per byte of the example's JSON: a real template reads each byte a few times (`tojson`
/// is charged 16 units a byte), which this pays eight times over.
const FUEL_PER_EXAMPLE_BYTE: u64 = 4;
const OUT_OF_BUDGET: &str = "the template ran out of its render budget (it loops without end or builds huge strings)";

pub struct ChatTemplate {
    env: Environment<'static>,
    bos: String,
    eos: String,
    /// Where it came from, for reports and `export.json`.
    pub file: String,
    pub sha256: String,
}

/// Something of an example that the rendered text does not have.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Missing {
    /// JSON pointer into the example.
    pub pointer: String,
    pub what: MissingKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MissingKind {
    AssistantText,
    ToolCall,
    ToolResult,
}

impl MissingKind {
    pub const ALL: [MissingKind; 3] = [MissingKind::ToolCall, MissingKind::ToolResult, MissingKind::AssistantText];

    pub fn describe(self) -> &'static str {
        match self {
            MissingKind::AssistantText => "assistant text not rendered by the chat template (never trained)",
            MissingKind::ToolCall => "tool call not rendered by the chat template",
            MissingKind::ToolResult => "tool result not rendered by the chat template",
        }
    }
}

/// The result of rendering one example.
#[derive(Debug)]
pub enum Audit {
    Rendered { text: String, missing: Vec<Missing> },
    /// The template raised or failed (e.g. Mistral's "Tool call IDs should be alphanumeric strings with length 9!").
    Failed(String),
}

/// Where reasoning written beside a tool call goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reasoning {
    /// In `content`, beside `tool_calls` (as threadkit writes it).
    Content,
    /// In an assistant message of its own just before the call.
    OwnMessage,
    /// In `reasoning_content` (Qwen3, DeepSeek-R1 style templates).
    ReasoningContent,
    /// In `thinking` (gpt-oss: the analysis channel).
    Thinking,
}

/// Changes an export may make so that a template renders the whole example.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Adaptation {
    /// Tool-call ids rewritten to 9 alphanumeric characters (Mistral).
    pub short_ids: bool,
    /// Consecutive assistant messages without calls merged into one (strict alternation).
    pub merge_assistant: bool,
    /// `arguments` as a JSON string instead of an object (templates that concatenate it).
    pub string_arguments: bool,
    pub reasoning: Reasoning,
}

impl Adaptation {
    pub const NONE: Adaptation =
        Adaptation { short_ids: false, merge_assistant: false, string_arguments: false, reasoning: Reasoning::Content };

    fn cost(&self) -> usize {
        usize::from(self.short_ids)
            + usize::from(self.merge_assistant)
            + usize::from(self.string_arguments)
            + usize::from(self.reasoning != Reasoning::Content)
    }

    fn candidates() -> Vec<Adaptation> {
        let mut all = Vec::new();
        for reasoning in [Reasoning::Content, Reasoning::OwnMessage, Reasoning::ReasoningContent, Reasoning::Thinking] {
            for bits in 0..8u8 {
                all.push(Adaptation {
                    short_ids: bits & 1 != 0,
                    merge_assistant: bits & 2 != 0,
                    string_arguments: bits & 4 != 0,
                    reasoning,
                });
            }
        }
        all.sort_by_key(Adaptation::cost);
        all
    }

    /// What this adaptation changes, as `export.json` lists it.
    pub fn describe(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.short_ids {
            out.push("tool call ids rewritten to 9 alphanumeric characters (the template requires it)");
        }
        if self.merge_assistant {
            out.push("consecutive assistant messages merged (the template requires alternating roles)");
        }
        if self.string_arguments {
            out.push("tool call arguments written as JSON strings (the template concatenates them)");
        }
        match self.reasoning {
            Reasoning::Content => {}
            Reasoning::OwnMessage => {
                out.push("reasoning beside a tool call moved to an assistant message of its own (the template renders it there)")
            }
            Reasoning::ReasoningContent => {
                out.push("reasoning beside a tool call moved to `reasoning_content` (the template renders it there)")
            }
            Reasoning::Thinking => out.push("reasoning beside a tool call moved to `thinking` (the template renders it there)"),
        }
        out
    }

    /// Apply to a `messages` example (TRL / Axolotl form); each change is counted.
    pub fn apply(&self, example: &mut Value, changes: &mut Changes) {
        let Some(messages) = example.get_mut("messages").and_then(Value::as_array_mut) else { return };
        if self.reasoning != Reasoning::Content {
            let mut out = Vec::with_capacity(messages.len() + 4);
            for mut m in std::mem::take(messages) {
                let has_calls = m.get("tool_calls").and_then(Value::as_array).is_some_and(|c| !c.is_empty());
                let text = m.get("content").and_then(Value::as_str).unwrap_or("").to_string();
                if m["role"] == "assistant" && has_calls && !text.trim().is_empty() {
                    note(changes, self.describe().last().copied().unwrap_or("reasoning moved"));
                    match self.reasoning {
                        Reasoning::OwnMessage => out.push(json!({"role": "assistant", "content": text})),
                        Reasoning::ReasoningContent => m["reasoning_content"] = text.into(),
                        Reasoning::Thinking => m["thinking"] = text.into(),
                        Reasoning::Content => {}
                    }
                    m["content"] = "".into();
                }
                out.push(m);
            }
            *messages = out;
        }
        if self.merge_assistant {
            let mut out: Vec<Value> = Vec::with_capacity(messages.len());
            for m in std::mem::take(messages) {
                let plain = |m: &Value| m["role"] == "assistant" && m.get("tool_calls").is_none();
                match out.last_mut() {
                    Some(prev) if plain(prev) && plain(&m) => {
                        note(changes, "consecutive assistant messages merged (the template requires alternating roles)");
                        let joined = format!(
                            "{}\n\n{}",
                            prev["content"].as_str().unwrap_or(""),
                            m["content"].as_str().unwrap_or("")
                        );
                        prev["content"] = joined.into();
                    }
                    _ => out.push(m),
                }
            }
            *messages = out;
        }
        if self.short_ids {
            let mut map: Vec<(String, String)> = Vec::new();
            for m in messages.iter_mut() {
                for c in m.get_mut("tool_calls").and_then(Value::as_array_mut).into_iter().flatten() {
                    let old = c["id"].as_str().unwrap_or("").to_string();
                    let new = nine_char_id(&old, map.len(), &map);
                    note(changes, "tool call ids rewritten to 9 alphanumeric characters (the template requires it)");
                    c["id"] = new.clone().into();
                    map.push((old, new));
                }
                if let Some(id) = m.get("tool_call_id").and_then(Value::as_str) {
                    if let Some((_, new)) = map.iter().find(|(old, _)| old == id) {
                        m["tool_call_id"] = new.clone().into();
                    }
                }
            }
        }
        if self.string_arguments {
            for m in messages.iter_mut() {
                for c in m.get_mut("tool_calls").and_then(Value::as_array_mut).into_iter().flatten() {
                    if let Some(args) = c.pointer_mut("/function/arguments") {
                        if !args.is_string() {
                            note(changes, "tool call arguments written as JSON strings (the template concatenates them)");
                            *args = Value::String(pyjson::dumps(args));
                        }
                    }
                }
            }
        }
    }
}

/// A profile's complaint that arguments are a string (TK704) when the string holds a JSON
/// object: under a template that concatenates arguments (TRL's DeepSeek-V3 template), that is
/// the form the template needs, so the profile's object rule gives way to it.
pub fn string_arguments_finding(d: &crate::diagnostic::Diagnostic, example: &Value) -> bool {
    d.rule.code == crate::rules::TRAINING_ARGUMENTS.code
        && crate::json::lookup(example, &d.pointer).and_then(Value::as_str).is_some_and(crate::json::is_object_text)
}

/// A stable 9-character alphanumeric id for a call (unique within the example).
fn nine_char_id(old: &str, index: usize, taken: &[(String, String)]) -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    // FNV-1a: stable across runs and platforms, unlike std's hasher.
    let mut h: u64 = 0xcbf29ce484222325;
    for b in old.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x100000001b3);
    }
    let mut id: String = (0..9).map(|i| ALPHABET[((h >> (i * 6)) % 62) as usize] as char).collect();
    if taken.iter().any(|(_, t)| *t == id) {
        id = format!("{index:09}");
    }
    id
}

impl ChatTemplate {
    /// A `.jinja` file, or a `tokenizer_config.json` whose `chat_template` is a string or a
    /// list of named templates (the `tool_use` one is taken when there is one).
    pub fn load(path: &Path) -> Result<ChatTemplate, String> {
        let text = crate::open::read_to_string(path, crate::open::MAX_SIDE_FILE)
            .map_err(|e| format!("{}: cannot read the chat template: {e}", path.display()))?;
        let sha256 = super::sink::sha256_hex(text.as_bytes());
        let (source, bos, eos) = if path.extension().is_some_and(|e| e == "json") {
            from_tokenizer_config(&text).map_err(|e| format!("{}: {e}", path.display()))?
        } else {
            (text, String::new(), String::new())
        };
        let mut template = ChatTemplate::from_source(&source)
            .map_err(|e| format!("{}: the chat template does not compile: {e}", path.display()))?;
        template.bos = bos;
        template.eos = eos;
        template.file = path.display().to_string();
        template.sha256 = sha256;
        Ok(template)
    }

    pub fn from_source(source: &str) -> Result<ChatTemplate, Error> {
        let mut env = Environment::new();
        env.set_syntax(
            minijinja::syntax::SyntaxConfig::builder().trim_blocks(true).lstrip_blocks(true).build().expect("valid"),
        );
        env.set_fuel(Some(BASE_FUEL));
        env.set_unknown_method_callback(unknown_method);
        env.add_function("raise_exception", |message: String| -> Result<JValue, Error> {
            Err(Error::new(ErrorKind::InvalidOperation, message))
        });
        env.add_function("strftime_now", strftime_now);
        env.add_filter("tojson", tojson);
        env.add_template_owned("chat", strip_generation_tags(source))?;
        Ok(ChatTemplate { env, bos: String::new(), eos: String::new(), file: String::new(), sha256: String::new() })
    }

    /// The text `apply_chat_template(messages, tools=tools, tokenize=False)` gives.
    pub fn render(&self, example: &Value) -> Result<String, String> {
        let mut env = self.env.clone();
        env.set_fuel(Some(BASE_FUEL.saturating_add(FUEL_PER_EXAMPLE_BYTE.saturating_mul(crate::json::compact_len(example)))));
        let template = env.get_template("chat").map_err(|e| e.to_string())?;
        let messages = example.get("messages").cloned().unwrap_or(Value::Array(Vec::new()));
        let tools = example.get("tools").filter(|t| t.as_array().is_some_and(|a| !a.is_empty()));
        let ctx = minijinja::context! {
            messages => JValue::from(Serde(&messages)),
            tools => tools.map(|t| JValue::from(Serde(t))),
            add_generation_prompt => false,
            bos_token => self.bos.as_str(),
            eos_token => self.eos.as_str(),
        };
        template.render(ctx).map_err(|e| {
            if e.kind() == ErrorKind::OutOfFuel {
                return OUT_OF_BUDGET.to_string();
            }
            let mut message = e.to_string();
            // minijinja appends the template line; the kind and detail are what a user needs.
            if let Some(detail) = e.detail() {
                message = detail.to_string();
            }
            message
        })
    }

    /// Render one example and list what does not reach the text.
    pub fn audit(&self, example: &Value) -> Audit {
        match self.render(example) {
            Ok(text) => {
                let missing = missing_pieces(example, &text);
                Audit::Rendered { text, missing }
            }
            Err(e) => Audit::Failed(e),
        }
    }

    /// The cheapest adaptation under which the probe renders with nothing missing, or the one
    /// that loses least (the rest is reported per example). A template that fails on the probe
    /// under every adaptation would fail on every example: its first error.
    pub fn choose_adaptation(&self, probe: &Value) -> Result<Adaptation, String> {
        let mut best: Option<(usize, Adaptation)> = None;
        let mut first_error = None;
        for candidate in Adaptation::candidates() {
            let mut example = probe.clone();
            candidate.apply(&mut example, &mut Changes::new());
            let lost = match self.audit(&example) {
                Audit::Rendered { missing, .. } => missing.len(),
                Audit::Failed(e) => {
                    // A template over its budget on six messages is over it on every example.
                    if e == OUT_OF_BUDGET {
                        return Err(e);
                    }
                    first_error.get_or_insert(e);
                    continue;
                }
            };
            if lost == 0 {
                return Ok(candidate);
            }
            if best.is_none_or(|(l, _)| lost < l) {
                best = Some((lost, candidate));
            }
        }
        best.map(|(_, a)| a).ok_or_else(|| first_error.unwrap_or_default())
    }

    /// Err when rendering the probe runs out of budget: such a template would spend its whole
    /// budget again on every example.
    pub fn check_budget(&self, probe: &Value) -> Result<(), String> {
        match self.render(probe) {
            Err(e) if e == OUT_OF_BUDGET => Err(e),
            _ => Ok(()),
        }
    }
}

/// `{% generation %}` marks what TRL trains on; transformers implements it as an extension
/// that renders its body unchanged, which is what dropping the tags does.
fn strip_generation_tags(source: &str) -> String {
    let mut out = source.to_string();
    for tag in ["generation", "endgeneration"] {
        for (open, close) in [("{%", "%}"), ("{%-", "%}"), ("{%", "-%}"), ("{%-", "-%}")] {
            out = out.replace(&format!("{open} {tag} {close}"), "");
        }
    }
    out
}

/// The three keys of a `tokenizer_config.json` a chat template needs, read without building the
/// rest (added-token tables run to megabytes). A key named twice is an error, as TK013 is elsewhere.
#[derive(serde::Deserialize)]
struct TokenizerConfig {
    chat_template: Option<TemplateField>,
    bos_token: Option<Token>,
    eos_token: Option<Token>,
}

#[derive(serde::Deserialize)]
#[serde(untagged)]
enum TemplateField {
    One(String),
    Named(Vec<NamedTemplate>),
    Other(serde::de::IgnoredAny),
}

#[derive(serde::Deserialize)]
struct NamedTemplate {
    name: Option<String>,
    template: Option<String>,
}

/// `"<s>"`, or an AddedToken `{"content": "<s>", …}`.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum Token {
    Text(String),
    Added { content: Option<String> },
    Other(serde::de::IgnoredAny),
}

impl Token {
    fn text(self) -> String {
        match self {
            Token::Text(s) | Token::Added { content: Some(s) } => s,
            _ => String::new(),
        }
    }
}

fn from_tokenizer_config(text: &str) -> Result<(String, String, String), String> {
    if text.starts_with('\u{feff}') {
        return Err("starts with a UTF-8 byte-order mark (BOM), which transformers' reader (Python's json) refuses; save it as UTF-8 without BOM".into());
    }
    let config: TokenizerConfig = serde_json::from_str(text).map_err(|e| format!("not a tokenizer config: {e}"))?;
    let template = match config.chat_template {
        Some(TemplateField::One(s)) => s,
        Some(TemplateField::Named(mut list)) => {
            let mut named = |name: &str| {
                let at = list.iter().position(|t| t.name.as_deref() == Some(name) && t.template.is_some())?;
                list.swap_remove(at).template
            };
            named("tool_use").or_else(|| named("default")).ok_or("`chat_template` lists no `tool_use` or `default` template")?
        }
        _ => return Err("no `chat_template` (give the model's tokenizer_config.json or a .jinja file)".into()),
    };
    let token = |t: Option<Token>| t.map(Token::text).unwrap_or_default();
    Ok((template, token(config.bos_token), token(config.eos_token)))
}

/// transformers' `tojson`: `json.dumps(x, ensure_ascii=False, indent=…, separators=…, sort_keys=…)`,
/// not minijinja's HTML-safe variant (which escapes `<`, `>`, `&` and `'`).
fn tojson(state: &minijinja::State, value: JValue, kwargs: Kwargs) -> Result<JValue, Error> {
    let indent: Option<usize> = kwargs.get("indent")?;
    let sort_keys: Option<bool> = kwargs.get("sort_keys")?;
    let ensure_ascii: Option<bool> = kwargs.get("ensure_ascii")?;
    let separators: Option<JValue> = kwargs.get("separators")?;
    kwargs.assert_all_used()?;
    let mut json = serde_json::to_value(&value).map_err(|e| Error::new(ErrorKind::InvalidOperation, e.to_string()))?;
    if sort_keys == Some(true) {
        json = sorted(json);
    }
    if let Some(indent) = indent {
        // Indentation multiplies the text by depth: pay for it before it is written.
        let (nodes, depth) = shape(&json);
        let padding = nodes.saturating_mul(depth).saturating_mul(indent as u64);
        state.consume_fuel(padding.saturating_add(crate::json::compact_len(&json)) / 64)?;
    }
    let tight = separators.and_then(|s| s.get_item_by_index(0).ok()).is_some_and(|s| s.as_str() == Some(","));
    let style = pyjson::Style { indent, ensure_ascii: ensure_ascii.unwrap_or(false), tight };
    Ok(JValue::from(pyjson::to_string(&json, style)))
}

/// How many values `v` holds, and how deep they nest.
fn shape(v: &Value) -> (u64, u64) {
    let children: Box<dyn Iterator<Item = &Value>> = match v {
        Value::Array(a) => Box::new(a.iter()),
        Value::Object(o) => Box::new(o.values()),
        _ => return (1, 0),
    };
    children.fold((1, 1), |(n, d), c| {
        let (cn, cd) = shape(c);
        (n + cn, d.max(cd + 1))
    })
}

fn sorted(v: Value) -> Value {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        Value::Array(list) => Value::Array(list.into_iter().map(sorted).collect()),
        other => other,
    }
}

/// What a trainer must see, in order: each assistant text, each call (its name and its
/// arguments as JSON, however the template spaces them), each tool result.
fn missing_pieces(example: &Value, rendered: &str) -> Vec<Missing> {
    let squeezed = squeeze(rendered);
    let mut missing = Vec::new();
    let messages = example.get("messages").and_then(Value::as_array);
    for (i, m) in messages.into_iter().flatten().enumerate() {
        let role = m.get("role").and_then(Value::as_str).unwrap_or("");
        let at = format!("/messages/{i}");
        match role {
            "assistant" => {
                for key in ["content", "reasoning_content", "thinking"] {
                    if let Some(text) = m.get(key).and_then(Value::as_str).map(str::trim).filter(|t| !t.is_empty()) {
                        if !appears(rendered, &squeezed, text) {
                            missing.push(Missing { pointer: format!("{at}/{key}"), what: MissingKind::AssistantText });
                        }
                    }
                }
                for (j, c) in m.get("tool_calls").and_then(Value::as_array).into_iter().flatten().enumerate() {
                    let name = c.pointer("/function/name").and_then(Value::as_str).unwrap_or("");
                    let args = match c.pointer("/function/arguments") {
                        Some(Value::String(s)) => serde_json::from_str::<Value>(s).unwrap_or(Value::String(s.clone())),
                        Some(v) => v.clone(),
                        None => json!({}),
                    };
                    let shown = rendered.contains(name) && arguments_shown(&args, rendered, &squeezed);
                    if !shown {
                        missing.push(Missing { pointer: format!("{at}/tool_calls/{j}"), what: MissingKind::ToolCall });
                    }
                }
            }
            "tool" => {
                if let Some(text) = m.get("content").and_then(Value::as_str).map(str::trim).filter(|t| !t.is_empty()) {
                    let escaped = serde_json::to_string(text).unwrap_or_default();
                    let escaped = &escaped[1..escaped.len().saturating_sub(1).max(1)];
                    if !appears(rendered, &squeezed, text) && !rendered.contains(escaped) {
                        missing.push(Missing { pointer: format!("{at}/content"), what: MissingKind::ToolResult });
                    }
                }
            }
            _ => {}
        }
    }
    missing
}

/// The arguments as one JSON object (Qwen, Llama, Hermes, Mistral), or key by key with
/// each value (GLM's and Qwen3-Coder's `<arg_key>`/`<parameter=…>` forms).
fn arguments_shown(args: &Value, rendered: &str, squeezed: &str) -> bool {
    let Some(object) = args.as_object() else {
        return squeezed.contains(&squeeze(&args.to_string()));
    };
    if object.is_empty() || squeezed.contains(&squeeze(&serde_json::to_string(args).unwrap_or_default())) {
        return true;
    }
    object.iter().all(|(k, v)| {
        let value = match v {
            Value::String(s) => s.clone(),
            other => serde_json::to_string(other).unwrap_or_default(),
        };
        rendered.contains(k.as_str()) && appears(rendered, squeezed, &value)
    })
}

fn appears(rendered: &str, squeezed: &str, text: &str) -> bool {
    rendered.contains(text) || squeezed.contains(&squeeze(text))
}

/// JSON written with other spacing (`{"a":1}` vs `{"a": 1}`) or re-indented compares equal.
fn squeeze(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

/// A conversation with every shape threadkit exports: reasoning beside a call, a second
/// call, a `respond` step followed by the answer, results as JSON text.
/// The probe a template is tried on: every shape an export has, with threadkit's tools.
pub fn probe_with_threadkit_tools() -> Value {
    let tools = crate::tools::openai_tools();
    probe(tools.as_array().map_or(&[][..], Vec::as_slice))
}

pub fn probe(tools: &[Value]) -> Value {
    json!({"messages": [
        {"role": "user", "content": "Which activity is in session s1 of the probe dataset?"},
        {"role": "assistant", "content": "First I look at the session's statistics.", "tool_calls": [
            {"id": "call_probe_turn_1", "type": "function", "function": {"name": "show_session_stats", "arguments": {"dataset_name": "probe", "session_id": "s1"}}}]},
        {"role": "tool", "tool_call_id": "call_probe_turn_1", "name": "show_session_stats", "content": "{\"sessions\": 3, \"mean_magnitude\": 1.02}"},
        {"role": "assistant", "content": "The magnitude is low; next the spectrum.", "tool_calls": [
            {"id": "call_probe_turn_2", "type": "function", "function": {"name": "compute_fft", "arguments": {"dataset_name": "probe", "session_id": "s1", "channel": "acc_x"}}}]},
        {"role": "tool", "tool_call_id": "call_probe_turn_2", "name": "compute_fft", "content": "{\"dominant_hz\": 0.4}"},
        {"role": "assistant", "content": "A slow rhythm of about 0.4 Hz."},
        {"role": "assistant", "content": "Final Answer: sitting"}
    ], "tools": tools})
}

/// Python's string methods (minijinja-contrib's pycompat), except that `str.format` pays for
/// the padding its specs ask for before it pads: `'{:>3000000000}'.format(1)` would allocate
/// 3 GB before the engine could charge for the result.
fn unknown_method(state: &mut minijinja::State, value: &JValue, method: &str, args: &[JValue]) -> Result<JValue, Error> {
    if method == "format" {
        if let Some(spec) = value.as_str() {
            state.consume_fuel(padding_bound(spec, args) / 64)?;
        }
    }
    minijinja_contrib::pycompat::unknown_method_callback(state, value, method, args)
}

/// An upper bound on the bytes of padding and precision a `str.format` string asks for: the sum
/// of the numbers in its specs, plus the integer arguments when a spec takes its width from one
/// (`'{:>{}}'`).
fn padding_bound(spec: &str, args: &[JValue]) -> u64 {
    let mut total: u64 = 0;
    let mut nested = false;
    let mut depth = 0usize;
    let mut in_spec = false;
    let mut number: u64 = 0;
    for c in spec.chars() {
        match c {
            '{' => {
                depth += 1;
                nested |= in_spec;
            }
            '}' => {
                depth = depth.saturating_sub(1);
                in_spec &= depth > 0;
            }
            ':' if depth > 0 => in_spec = true,
            _ => {}
        }
        match c.to_digit(10) {
            Some(d) if in_spec => number = number.saturating_mul(10).saturating_add(u64::from(d)),
            _ => total = total.saturating_add(std::mem::take(&mut number)),
        }
    }
    total = total.saturating_add(number);
    if nested {
        let mut values: Vec<JValue> = Vec::new();
        for arg in args {
            match arg.kind() {
                // Keyword arguments arrive as one trailing map.
                minijinja::value::ValueKind::Map => {
                    values.extend(arg.try_iter().into_iter().flatten().filter_map(|key| arg.get_item(&key).ok()))
                }
                _ => values.push(arg.clone()),
            }
        }
        for v in values {
            if let Ok(n) = i64::try_from(v) {
                total = total.saturating_add(n.unsigned_abs());
            }
        }
    }
    total
}

/// `strftime_now(format)`, as transformers provides it. A format chrono cannot read (`%Q`) is a
/// template error naming the format, never a panic: chrono's `Display` panics on it, so the
/// format is parsed first.
fn strftime_now(format: String) -> Result<String, minijinja::Error> {
    use chrono::format::{Item, StrftimeItems};
    if StrftimeItems::new(&format).any(|item| matches!(item, Item::Error)) {
        return Err(minijinja::Error::new(
            minijinja::ErrorKind::InvalidOperation,
            format!("strftime_now: {format:?} is not a strftime format chrono understands"),
        ));
    }
    use std::fmt::Write as _;
    let mut out = String::new();
    write!(out, "{}", chrono::Utc::now().format(&format))
        .map_err(|_| minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, format!("strftime_now: cannot format {format:?}")))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const QWEN: &str = include_str!("../../fixtures/chat_templates/Qwen-Qwen2.5-7B-Instruct.jinja");
    const LLAMA: &str = include_str!("../../fixtures/chat_templates/meta-llama-Llama-3.1-8B-Instruct.jinja");
    const NEMO: &str = include_str!("../../fixtures/chat_templates/mistralai-Mistral-Nemo-Instruct-2407.jinja");

    fn probe_with_tools() -> Value {
        probe(&[json!({"type": "function", "function": {"name": "show_session_stats", "parameters": {"type": "object"}}})])
    }

    #[test]
    fn qwen_renders_everything_as_is() {
        let t = ChatTemplate::from_source(QWEN).unwrap();
        match t.audit(&probe_with_tools()) {
            Audit::Rendered { missing, text } => {
                assert!(missing.is_empty(), "{missing:?}");
                assert!(text.contains("{\"name\": \"show_session_stats\", \"arguments\": {\"dataset_name\": \"probe\""), "{text}");
            }
            Audit::Failed(e) => panic!("{e}"),
        }
        assert_eq!(t.choose_adaptation(&probe_with_tools()).unwrap(), Adaptation::NONE);
    }

    #[test]
    fn llama_drops_reasoning_beside_calls_until_it_has_a_message_of_its_own() {
        let t = ChatTemplate::from_source(LLAMA).unwrap();
        let Audit::Rendered { missing, .. } = t.audit(&probe_with_tools()) else { panic!() };
        assert_eq!(missing.iter().filter(|m| m.what == MissingKind::AssistantText).count(), 2, "{missing:?}");
        let a = t.choose_adaptation(&probe_with_tools()).unwrap();
        assert_eq!(a.reasoning, Reasoning::OwnMessage);
        let mut ex = probe_with_tools();
        a.apply(&mut ex, &mut Changes::new());
        let Audit::Rendered { missing, .. } = t.audit(&ex) else { panic!() };
        assert!(missing.is_empty(), "{missing:?}");
    }

    #[test]
    fn mistral_needs_nine_character_ids_and_alternation() {
        let t = ChatTemplate::from_source(NEMO).unwrap();
        let Audit::Failed(e) = t.audit(&probe_with_tools()) else { panic!("renders") };
        assert!(e.contains("length 9") || e.contains("alternate"), "{e}");
        let a = t.choose_adaptation(&probe_with_tools()).unwrap();
        assert!(a.short_ids && a.merge_assistant, "{a:?}");
        let mut ex = probe_with_tools();
        let mut changes = Changes::new();
        a.apply(&mut ex, &mut changes);
        let id = ex["messages"][1]["tool_calls"][0]["id"].as_str().unwrap();
        assert_eq!(id.len(), 9);
        assert!(id.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_eq!(ex["messages"][2]["tool_call_id"], id);
    }

    #[test]
    fn a_template_that_concatenates_arguments_gets_strings() {
        let t = ChatTemplate::from_source(
            "{% for m in messages %}{% if m.tool_calls %}{{ m.content }}{% for c in m.tool_calls %}<call>{{ c.function.name + ' ' + c.function.arguments }}</call>{% endfor %}{% elif m.content %}{{ m.content }}{% endif %}{% endfor %}",
        )
        .unwrap();
        assert!(matches!(t.audit(&probe_with_tools()), Audit::Failed(_)));
        let a = t.choose_adaptation(&probe_with_tools()).unwrap();
        assert_eq!(a, Adaptation { string_arguments: true, ..Adaptation::NONE });
        let mut ex = probe_with_tools();
        a.apply(&mut ex, &mut Changes::new());
        assert_eq!(ex["messages"][1]["tool_calls"][0]["function"]["arguments"], "{\"dataset_name\": \"probe\", \"session_id\": \"s1\"}");
    }

    #[test]
    fn tojson_is_pythons() {
        let t = ChatTemplate::from_source("{{ x | tojson }}|{{ x | tojson(indent=2) }}").unwrap();
        let out = t.env.get_template("chat").unwrap().render(minijinja::context! { x => JValue::from(Serde(json!({"b": "<é>", "a": [1, 2.5]}))) }).unwrap();
        assert_eq!(out, "{\"b\": \"<é>\", \"a\": [1, 2.5]}|{\n  \"b\": \"<é>\",\n  \"a\": [\n    1,\n    2.5\n  ]\n}");
    }

    #[test]
    fn a_runaway_template_runs_out_of_fuel() {
        let t = ChatTemplate::from_source("{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}").unwrap();
        assert_eq!(t.render(&json!({"messages": []})).unwrap_err(), OUT_OF_BUDGET);
    }

    /// Issue 28 row 4: the budget counts bytes, so templates that allocate gigabytes in a few
    /// instructions stop at the budget (each of these allocated 1.5 GB+ before).
    #[test]
    fn issue28_row4_templates_that_build_huge_strings_stop_at_the_budget() {
        for source in [
            "{{ messages | tojson(indent=100000000) }}",
            "{{ '{:>3000000000}'.format(1) }}",
            "{{ '{:>{}}'.format(1, 3000000000) }}",
            "{{ '{x:>{w}}'.format(x=1, w=3000000000) }}",
            "{{ 'x' * 3000000000 }}",
            "{% set ns = namespace(s='xxxxxxxx') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s | length }}",
        ] {
            let t = ChatTemplate::from_source(source).unwrap();
            let started = std::time::Instant::now();
            let result = t.render(&json!({"messages": [{"role": "user", "content": "hi"}]}));
            assert!(result.is_err(), "{source}: {:?}", result.map(|r| r.len()));
            assert!(started.elapsed() < std::time::Duration::from_secs(5), "{source}: {:?}", started.elapsed());
        }
        // Ordinary uses of the same features still render.
        let t = ChatTemplate::from_source("{{ '{:>8}|{:.3f}'.format('a', 2.5) }}{{ messages | tojson(indent=2) | length }}").unwrap();
        assert_eq!(t.render(&json!({"messages": [1]})).unwrap(), "       a|2.5007");
    }

    #[test]
    fn the_budget_grows_with_the_example() {
        let t = ChatTemplate::from_source(QWEN).unwrap();
        let big = "x".repeat(4 << 20);
        let example = json!({"messages": [{"role": "user", "content": big}, {"role": "assistant", "content": "ok"}]});
        assert!(t.render(&example).unwrap().len() > 4 << 20);
    }

    /// Issue 28 row 5: a template over budget on the probe is refused once, not rendered to
    /// the budget for every example.
    #[test]
    fn issue28_row5_a_template_over_budget_on_the_probe_is_refused() {
        let t = ChatTemplate::from_source("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}").unwrap();
        let probe = probe_with_threadkit_tools();
        assert_eq!(t.check_budget(&probe).unwrap_err(), OUT_OF_BUDGET);
        assert_eq!(t.choose_adaptation(&probe).unwrap_err(), OUT_OF_BUDGET);
        let raises = ChatTemplate::from_source("{{ raise_exception('no tools here') }}").unwrap();
        assert!(raises.check_budget(&probe).is_ok());
        assert_eq!(raises.choose_adaptation(&probe).unwrap_err(), "no tools here");
    }
}
