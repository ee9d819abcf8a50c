//! Converting threads between formats: legacy `3.0`/`2.0` → `openai_v1`, and back.
//! Pure functions on JSON values; the migrate command does the file work.
//!
//! Nothing is dropped: every legacy value lands in a message, in a `metadata` key, or
//! under `metadata.legacy_extras`, and `metadata.migrated_from` records the origin.

use serde_json::{json, Map, Value};

use crate::pyjson;
use crate::thread::{final_answer_in_text, same_label, Counts, FirstMessage, FINAL_ANSWER_MARKER};
use crate::version::Version;

/// Keys of a `3.0` thread that have a place in `openai_v1`; everything else is an extra.
const V3_KNOWN: &[&str] = &[
    "thread_id",
    "conversation_id",
    "schema_version",
    "status",
    "dataset_name",
    "session_id",
    "ground_truth_label",
    "created_at",
    "last_modified",
    "initial_context",
    "generation_metadata",
    "conversation",
    "metadata",
    "final_answer",
    "final_classification",
    "explanation",
    "confidence",
    "is_correct",
];
const TURN_KNOWN: &[&str] = &["turn", "action", "reasoning", "tool_call", "tool_result", "response"];

#[derive(Debug, Clone)]
pub struct Provenance {
    /// RFC 3339 time of the migration.
    pub migrated_at: String,
    /// Used as `created_at` when the legacy thread has none (2.0 files): the file's modification time.
    pub fallback_created_at: Option<String>,
    /// Python's non-finite numbers the file had (read as `null`): kept under
    /// `legacy_extras.non_finite` so that `--reverse` writes them back.
    pub non_finite: Vec<crate::source::NonFinite>,
}

/// The new id: `_v3_`/`_v2_` become `_v4_`, as the v4 naming does.
pub fn new_id(old: &str) -> String {
    for marker in ["_v3_", "_v2_"] {
        if let Some(at) = old.rfind(marker) {
            return format!("{}_v4_{}", &old[..at], &old[at + marker.len()..]);
        }
    }
    old.to_string()
}

/// The id a reversed thread gets: `_v4_` becomes `_v3_`.
pub fn legacy_id(new: &str) -> String {
    match new.rfind("_v4_") {
        Some(at) => format!("{}_v3_{}", &new[..at], &new[at + 4..]),
        None => new.to_string(),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConvertError {
    /// No manifest in the thread and none found in the data root.
    MissingManifest {
        dataset: String,
    },
    Malformed(String),
}

impl std::fmt::Display for ConvertError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConvertError::MissingManifest { dataset } => write!(
                f,
                "the thread has no `initial_context.manifest` and no manifest for dataset {dataset:?} was found; pass --data-root DIR with DIR/{dataset}/manifest.json"
            ),
            ConvertError::Malformed(why) => f.write_str(why),
        }
    }
}

fn str_of<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    obj.get(key).and_then(Value::as_str)
}

/// Legacy (`3.0` or `2.0`) → `openai_v1`. `manifest_for` supplies a dataset's manifest
/// when the thread does not carry one.
/// A legacy thread as `openai_v1`, in memory only (export, verify, show): a fixed
/// migration time, so the same input always gives the same value, and manifests from
/// `data_root` for threads that carry none.
pub fn in_memory(
    doc: &Value,
    version: Version,
    data_root: Option<&crate::data_root::DataRoot>,
) -> Result<Value, ConvertError> {
    let provenance =
        Provenance { migrated_at: "1970-01-01T00:00:00+00:00".into(), fallback_created_at: None, non_finite: Vec::new() };
    let manifest_for =
        |name: &str| -> Option<Value> { data_root?.dataset(name).as_ref().as_ref().ok().map(|d| d.manifest.clone()) };
    to_openai(doc, version, &provenance, &manifest_for)
}

pub fn to_openai(
    doc: &Value,
    version: Version,
    provenance: &Provenance,
    manifest_for: &dyn Fn(&str) -> Option<Value>,
) -> Result<Value, ConvertError> {
    let obj = doc.as_object().ok_or_else(|| ConvertError::Malformed("the thread is not a JSON object".into()))?;
    let old_id = str_of(obj, "thread_id")
        .or_else(|| str_of(obj, "conversation_id"))
        .ok_or_else(|| ConvertError::Malformed("the thread has no `thread_id`".into()))?;
    let id = new_id(old_id);
    let dataset = str_of(obj, "dataset_name")
        .ok_or_else(|| ConvertError::Malformed("the thread has no `dataset_name`".into()))?;
    let context = obj.get("initial_context").and_then(Value::as_object);
    let query =
        context.and_then(|c| str_of(c, "user_query")).or_else(|| str_of(obj, "user_query")).ok_or_else(|| {
            ConvertError::Malformed(
                "the thread has no `initial_context.user_query`; the first message cannot be built".into(),
            )
        })?;
    let manifest = match context.and_then(|c| c.get("manifest")) {
        Some(m) if m.is_object() => m.clone(),
        _ => manifest_for(dataset).ok_or_else(|| ConvertError::MissingManifest { dataset: dataset.to_string() })?,
    };
    let final_answer = obj.get("final_answer").or_else(|| obj.get("final_classification")).filter(|v| !v.is_null());
    let status = match str_of(obj, "status") {
        Some(s) => s.to_string(),
        // 2.0 files have no status: an answered thread was finished.
        None if final_answer.is_some() => "finished".into(),
        None => "active".into(),
    };

    let mut messages = vec![json!({"role": "user", "content": FirstMessage::build(&manifest, query)})];
    let mut turn_extras = Map::new();
    let mut respond_reasoning = Map::new();
    let mut final_turn = None;
    let turns = obj.get("conversation").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
    for (n, turn) in turns.iter().enumerate() {
        let t = turn.as_object().ok_or_else(|| ConvertError::Malformed(format!("turn {} is not an object", n + 1)))?;
        let number = n + 1;
        if str_of(t, "action") == Some("final_answer") && n + 1 == turns.len() {
            // As the original conversion does: the last message is built from the
            // thread's top-level answer; the turn itself is kept whole for `--reverse`.
            final_turn = Some(turn.clone());
            continue;
        }
        let action = str_of(t, "action").unwrap_or(if t.contains_key("tool_call") { "use_tool" } else { "respond" });
        let reasoning = t.get("reasoning").cloned().unwrap_or(Value::Null);
        let extras: Map<String, Value> =
            t.iter().filter(|(k, _)| !TURN_KNOWN.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect();
        if !extras.is_empty() {
            turn_extras.insert(number.to_string(), Value::Object(extras));
        }
        if t.get("turn").and_then(Value::as_u64) != Some(number as u64) {
            turn_extras
                .entry(number.to_string())
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .expect("inserted as object")
                .insert("turn".into(), t.get("turn").cloned().unwrap_or(Value::Null));
        }
        let mut keep = |key: &str, value: Value| {
            turn_extras
                .entry(number.to_string())
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .expect("inserted as object")
                .insert(key.into(), value);
        };
        match action {
            "use_tool" => {
                let call = t.get("tool_call").and_then(Value::as_object).ok_or_else(|| {
                    ConvertError::Malformed(format!("turn {number} is `use_tool` but has no `tool_call` object"))
                })?;
                let name = str_of(call, "tool_name")
                    .ok_or_else(|| ConvertError::Malformed(format!("turn {number} has no `tool_call.tool_name`")))?;
                let params = call.get("parameters").cloned().unwrap_or_else(|| json!({}));
                if call.len() != 2 || !call.get("parameters").is_some_and(Value::is_object) {
                    // Extra keys, or parameters that are not an object: keep the call as it was.
                    keep("tool_call", Value::Object(call.clone()));
                }
                let call_id = format!("call_{id}_turn_{number}");
                messages.push(json!({"role": "assistant", "content": reasoning_text(&reasoning),
                    "tool_calls": [{"id": call_id, "type": "function", "function": {"name": name, "arguments": pyjson::dumps(&params)}}]}));
                let content = match t.get("tool_result") {
                    Some(Value::String(s)) => {
                        // A string result that reads as JSON would come back as that JSON: remember it was text.
                        if serde_json::from_str::<Value>(s).is_ok() {
                            keep("tool_result", Value::String(s.clone()));
                        }
                        s.clone()
                    }
                    Some(v) => pyjson::dumps(v),
                    None => {
                        keep("tool_result_absent", json!(true));
                        "null".into()
                    }
                };
                messages.push(json!({"role": "tool", "tool_call_id": call_id, "name": name, "content": content}));
                match &reasoning {
                    Value::String(_) => {}
                    Value::Null if !t.contains_key("reasoning") => keep("reasoning_absent", json!(true)),
                    other => {
                        respond_reasoning.insert(number.to_string(), other.clone());
                    }
                }
            }
            "respond" => {
                match t.get("response") {
                    Some(Value::String(r)) => {
                        messages.push(json!({"role": "assistant", "content": r, "tool_calls": null}))
                    }
                    other => {
                        keep("response", other.cloned().unwrap_or(Value::Null));
                        messages.push(json!({"role": "assistant", "content": "", "tool_calls": null}));
                    }
                }
                if t.contains_key("reasoning") {
                    respond_reasoning.insert(number.to_string(), reasoning);
                }
            }
            other => return Err(ConvertError::Malformed(format!("turn {number} has unknown action {other:?}"))),
        }
    }
    let explanation = obj.get("explanation").and_then(Value::as_str).map(str::trim);
    if status == "finished" {
        if let Some(answer) = final_answer.and_then(Value::as_str).map(str::trim) {
            // `"{explanation}\n\nFinal Answer: {answer}"`, both stripped, as the original
            // conversion writes it; a missing explanation is left out (it wrote `None`).
            let text = match explanation {
                Some(e) if !e.is_empty() => format!("{e}\n\n{FINAL_ANSWER_MARKER} {answer}"),
                _ => format!("{FINAL_ANSWER_MARKER} {answer}"),
            };
            messages.push(json!({"role": "assistant", "content": text, "tool_calls": null}));
        }
    }

    let counts = Counts::of_messages(&messages, status == "finished");
    let ground_truth = str_of(obj, "ground_truth_label").unwrap_or("");
    let created_at = obj
        .get("created_at")
        .cloned()
        .or_else(|| provenance.fallback_created_at.clone().map(Value::String))
        .unwrap_or_else(|| Value::String(provenance.migrated_at.clone()));
    let mut meta = Map::new();
    meta.insert("dataset".into(), json!(dataset));
    meta.insert("session".into(), obj.get("session_id").cloned().unwrap_or(json!("")));
    meta.insert("ground_truth".into(), json!(ground_truth));
    meta.insert("status".into(), json!(status));
    meta.insert("num_turns".into(), json!(counts.turns));
    meta.insert("num_tool_calls".into(), json!(counts.tool_calls));
    meta.insert("num_responds".into(), json!(counts.responds));
    meta.insert("user_query".into(), json!(query));
    meta.insert("schema_version".into(), json!("openai_v1"));
    meta.insert("created_at".into(), created_at);
    // Old threads keep `last_modified` at the top level, in `metadata`, or both; v4 readers
    // (the original generator's "continue" list) read `metadata.last_modified`.
    let legacy_modified = obj.get("metadata").and_then(|m| m.get("last_modified"));
    if let Some(m) = obj.get("last_modified").or(legacy_modified) {
        meta.insert("last_modified".into(), m.clone());
    }
    if let Some(a) = final_answer {
        meta.insert("final_answer".into(), a.clone());
    }
    for key in ["confidence", "explanation"] {
        if let Some(v) = obj.get(key) {
            meta.insert(key.into(), v.clone());
        }
    }
    // 2.0 threads recorded no confidence, which a finished thread must carry: the lowest
    // level is assumed, and said so, rather than dropping the thread.
    let confidence_assumed =
        version == Version::V2 && status == "finished" && obj.get("confidence").is_none_or(Value::is_null);
    if confidence_assumed {
        meta.insert("confidence".into(), json!("low"));
    }
    let is_correct = match (obj.get("is_correct"), final_answer.and_then(Value::as_str)) {
        (Some(v), _) => Some(v.clone()),
        // 2.0 files never recorded correctness; derive it as the generator did.
        (None, Some(a)) if !ground_truth.is_empty() => Some(json!(same_label(a, ground_truth))),
        _ => None,
    };
    if let Some(v) = is_correct {
        meta.insert("is_correct".into(), v);
    }
    if let Some(g) = obj.get("generation_metadata") {
        meta.insert("generation_metadata".into(), g.clone());
    }

    let mut extras = Map::new();
    for (k, v) in obj.iter().filter(|(k, _)| !V3_KNOWN.contains(&k.as_str())) {
        extras.insert(k.clone(), v.clone());
    }
    if let Some(c) = context {
        let rest: Map<String, Value> = c
            .iter()
            .filter(|(k, _)| *k != "user_query" && *k != "manifest")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !rest.is_empty() {
            extras.insert("initial_context".into(), Value::Object(rest));
        }
        if c.get("manifest").is_none() {
            extras.insert("manifest_from_data_root".into(), json!(true));
        }
    }
    if let Some(m) = obj.get("metadata").and_then(Value::as_object) {
        // The legacy counts are recomputed; keep what they said and any other key.
        extras.insert("metadata".into(), Value::Object(m.clone()));
    }
    if confidence_assumed {
        extras.insert("confidence_assumed".into(), json!("the 2.0 thread recorded no confidence; \"low\" was assumed"));
    }
    if !turn_extras.is_empty() {
        extras.insert("turn_extras".into(), Value::Object(turn_extras));
    }
    if let Some(t) = final_turn {
        extras.insert("final_answer_turn".into(), t);
    }
    if obj.get("last_modified").is_none() && legacy_modified.is_some() {
        extras.insert("last_modified_absent".into(), json!(true));
    }
    if !provenance.non_finite.is_empty() {
        let kept: Vec<Value> =
            provenance.non_finite.iter().map(|n| json!({"pointer": n.pointer, "token": n.token})).collect();
        extras.insert("non_finite".into(), Value::Array(kept));
    }
    if !respond_reasoning.is_empty() {
        extras.insert("turn_reasoning".into(), Value::Object(respond_reasoning));
    }
    if obj.get("explanation").is_some_and(Value::is_string) && status != "finished" {
        extras.insert("explanation_unplaced".into(), json!(true));
    }
    if !extras.is_empty() {
        meta.insert("legacy_extras".into(), Value::Object(extras));
    }
    meta.insert(
        "migrated_from".into(),
        json!({"id": old_id, "schema_version": version.as_str(), "migrated_at": provenance.migrated_at,
               "tool": concat!("threadkit ", env!("CARGO_PKG_VERSION"))}),
    );
    Ok(json!({"id": id, "metadata": meta, "messages": messages}))
}

fn marked(turn_extras: Option<&Value>, turn: &str, flag: &str) -> bool {
    turn_extras.and_then(|t| t.get(turn)).and_then(|t| t.get(flag)) == Some(&Value::Bool(true))
}

fn reasoning_text(reasoning: &Value) -> Value {
    match reasoning {
        Value::String(s) => Value::String(s.clone()),
        Value::Null => Value::String(String::new()),
        other => Value::String(pyjson::dumps(other)),
    }
}

/// Stands where a non-finite number goes back into a reversed thread, until `render_v3`
/// writes the token itself (a JSON value cannot hold one).
const NON_FINITE_MARK: &str = "\u{0}threadkit-non-finite:";

/// Serialize a reversed (`3.0`) thread in the layout of `original`, writing back the
/// `NaN`/`Infinity`/`-Infinity` tokens the legacy file had, where it had them.
pub fn render_v3(doc: &Value, original: &str) -> String {
    let mut text = crate::fix::render(doc, original);
    for token in ["-Infinity", "Infinity", "NaN"] {
        let mark = pyjson::dumps(&Value::String(format!("{NON_FINITE_MARK}{token}")));
        text = text.replace(&mark, token);
    }
    text
}

/// `openai_v1` → `3.0`, as the old `messages_to_conversation_history` did, restoring what
/// a migration kept aside so that migrate → reverse gives the original turns back.
pub fn to_v3(doc: &Value) -> Result<Value, ConvertError> {
    let obj = doc.as_object().ok_or_else(|| ConvertError::Malformed("the thread is not a JSON object".into()))?;
    let meta = obj
        .get("metadata")
        .and_then(Value::as_object)
        .ok_or_else(|| ConvertError::Malformed("the thread has no `metadata`".into()))?;
    let id = str_of(obj, "id").ok_or_else(|| ConvertError::Malformed("the thread has no `id`".into()))?;
    let messages = obj
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| ConvertError::Malformed("the thread has no `messages`".into()))?;
    let extras = meta.get("legacy_extras").and_then(Value::as_object);
    let extra = |k: &str| extras.and_then(|e| e.get(k));
    let origin = meta.get("migrated_from").and_then(Value::as_object);
    let thread_id = origin.and_then(|o| str_of(o, "id")).map_or_else(|| legacy_id(id), str::to_string);
    let status = str_of(meta, "status").unwrap_or("active");

    let first = messages.iter().position(|m| m.get("role").and_then(Value::as_str) == Some("user"));
    let (manifest, query) =
        match first.and_then(|i| messages[i].get("content")).and_then(Value::as_str).and_then(FirstMessage::parse) {
            Some(layout) => (layout.manifest().ok(), layout.query.to_string()),
            None => (None, str_of(meta, "user_query").unwrap_or("").to_string()),
        };
    let mut context = Map::new();
    context.insert("user_query".into(), json!(query));
    if let Some(m) = manifest {
        if extra("manifest_from_data_root") != Some(&json!(true)) {
            context.insert("manifest".into(), m);
        }
    }
    if let Some(Value::Object(rest)) = extra("initial_context") {
        context.extend(rest.clone());
    }

    let last_final = status == "finished"
        && messages.last().is_some_and(|m| {
            m.get("role").and_then(Value::as_str) == Some("assistant") && !crate::thread::calls_tool(m)
        });
    let body = &messages[first.map_or(0, |i| i + 1)..messages.len() - usize::from(last_final)];
    let mut conversation = Vec::new();
    let mut i = 0;
    while i < body.len() {
        let m = &body[i];
        let number = conversation.len() + 1;
        let key = number.to_string();
        let mut turn = Map::new();
        turn.insert("turn".into(), json!(number));
        match m.get("tool_calls").and_then(Value::as_array).and_then(|c| c.first()) {
            Some(call) => {
                let args = call
                    .pointer("/function/arguments")
                    .and_then(Value::as_str)
                    .and_then(|a| serde_json::from_str(a).ok())
                    .unwrap_or_else(|| json!({}));
                let name = call.pointer("/function/name").cloned().unwrap_or(Value::Null);
                let call_id = call.get("id").and_then(Value::as_str);
                let answer = body.get(i + 1).filter(|a| a.get("tool_call_id").and_then(Value::as_str) == call_id);
                let result = answer.and_then(|a| a.get("content")).map(|c| match c {
                    Value::String(s) => serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.clone())),
                    other => other.clone(),
                });
                turn.insert("action".into(), json!("use_tool"));
                let reasoning = extra("turn_reasoning")
                    .and_then(|r| r.get(&key))
                    .cloned()
                    .unwrap_or_else(|| m.get("content").cloned().unwrap_or(json!("")));
                turn.insert("reasoning".into(), reasoning);
                if marked(extra("turn_extras"), &key, "reasoning_absent") {
                    turn.shift_remove("reasoning");
                }
                turn.insert("tool_call".into(), json!({"tool_name": name, "parameters": args}));
                if !marked(extra("turn_extras"), &key, "tool_result_absent") {
                    turn.insert("tool_result".into(), result.unwrap_or(Value::Null));
                }
                i += if answer.is_some() { 2 } else { 1 };
            }
            None => {
                turn.insert("action".into(), json!("respond"));
                if let Some(r) = extra("turn_reasoning").and_then(|r| r.get(&key)) {
                    turn.insert("reasoning".into(), r.clone());
                }
                turn.insert("response".into(), m.get("content").cloned().unwrap_or(json!("")));
                i += 1;
            }
        }
        if let Some(Value::Object(more)) = extra("turn_extras").and_then(|t| t.get(&key)) {
            for (k, v) in more {
                if !k.ends_with("_absent") {
                    turn.insert(k.clone(), v.clone());
                }
            }
        }
        conversation.push(Value::Object(turn));
    }

    if let Some(t) = extra("final_answer_turn") {
        conversation.push(t.clone());
    }
    let explanation = if last_final {
        let text = messages.last().and_then(|m| m.get("content")).and_then(Value::as_str).unwrap_or("");
        let body = match text.rfind(FINAL_ANSWER_MARKER) {
            Some(at) if final_answer_in_text(text).is_some() => text[..at].trim_end_matches('\n'),
            _ => text,
        };
        meta.get("explanation").cloned().unwrap_or_else(|| if body.is_empty() { Value::Null } else { json!(body) })
    } else {
        meta.get("explanation").cloned().unwrap_or(Value::Null)
    };

    let mut out = Map::new();
    out.insert("thread_id".into(), json!(thread_id));
    out.insert("schema_version".into(), json!("3.0"));
    out.insert("status".into(), json!(status));
    for (from, to) in [
        ("dataset", "dataset_name"),
        ("session", "session_id"),
        ("ground_truth", "ground_truth_label"),
        ("created_at", "created_at"),
        ("last_modified", "last_modified"),
    ] {
        if to == "last_modified" && extra("last_modified_absent") == Some(&json!(true)) {
            continue;
        }
        if let Some(v) = meta.get(from) {
            out.insert(to.into(), v.clone());
        }
    }
    out.insert("initial_context".into(), Value::Object(context));
    if let Some(g) = meta.get("generation_metadata") {
        out.insert("generation_metadata".into(), g.clone());
    }
    let tool_calls = conversation.iter().filter(|t| t["action"] == "use_tool").count();
    let mut legacy_meta = match extra("metadata") {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    legacy_meta.insert("num_turns".into(), json!(conversation.len()));
    legacy_meta.insert("num_tool_calls".into(), json!(tool_calls));
    out.insert("conversation".into(), Value::Array(conversation));
    out.insert("metadata".into(), Value::Object(legacy_meta));
    out.insert("final_answer".into(), meta.get("final_answer").cloned().unwrap_or(Value::Null));
    out.insert("explanation".into(), explanation);
    out.insert("confidence".into(), meta.get("confidence").cloned().unwrap_or(Value::Null));
    out.insert("is_correct".into(), meta.get("is_correct").cloned().unwrap_or(Value::Null));
    if let Some(Value::Object(e)) = extras.map(|e| Value::Object(e.clone())) {
        for (k, v) in e {
            if ![
                "initial_context",
                "metadata",
                "turn_extras",
                "turn_reasoning",
                "manifest_from_data_root",
                "explanation_unplaced",
                "confidence_assumed",
                "final_answer_turn",
                "last_modified_absent",
                "non_finite",
            ]
            .contains(&k.as_str())
            {
                out.insert(k, v);
            }
        }
    }
    // Keys the v4 generator added to metadata (model names, temperatures…) have no v3 home but the generation metadata.
    let known_meta = [
        "dataset",
        "session",
        "ground_truth",
        "status",
        "num_turns",
        "num_tool_calls",
        "num_responds",
        "user_query",
        "schema_version",
        "created_at",
        "last_modified",
        "final_answer",
        "confidence",
        "is_correct",
        "explanation",
        "generation_metadata",
        "legacy_extras",
        "migrated_from",
    ];
    // Python's non-finite numbers, back where they were (written by `render_v3`).
    let mut out = Value::Object(out);
    for n in extra("non_finite").and_then(Value::as_array).into_iter().flatten() {
        if let (Some(p), Some(t)) = (n.get("pointer").and_then(Value::as_str), n.get("token").and_then(Value::as_str)) {
            if let Some(slot) = out.pointer_mut(p) {
                *slot = Value::String(format!("{NON_FINITE_MARK}{t}"));
            }
        }
    }
    let Value::Object(mut out) = out else { unreachable!("built as an object") };
    let unplaced: Map<String, Value> =
        meta.iter().filter(|(k, _)| !known_meta.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect();
    if !unplaced.is_empty() {
        let g = out.entry("generation_metadata").or_insert_with(|| json!({}));
        if let Some(g) = g.as_object_mut() {
            for (k, v) in unplaced {
                g.entry(k).or_insert(v);
            }
        }
    }
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prov() -> Provenance {
        Provenance { migrated_at: "2026-01-01T00:00:00+00:00".into(), fallback_created_at: None, non_finite: Vec::new() }
    }

    #[test]
    fn ids() {
        assert_eq!(new_id("uci_har_session_001_v3_0042"), "uci_har_session_001_v4_0042");
        assert_eq!(new_id("plain"), "plain");
        assert_eq!(legacy_id("a_v4_1"), "a_v3_1");
    }

    #[test]
    fn missing_manifest_names_the_flag() {
        let doc = json!({"thread_id": "t_v3_1", "schema_version": "3.0", "dataset_name": "uci_har", "session_id": "s",
            "ground_truth_label": "walking", "status": "active", "initial_context": {"user_query": "q"}, "conversation": []});
        let err = to_openai(&doc, Version::V3, &prov(), &|_| None).unwrap_err();
        assert!(err.to_string().contains("--data-root"));
        let ok =
            to_openai(&doc, Version::V3, &prov(), &|_| Some(json!({"dataset_name": "x", "channels": []}))).unwrap();
        assert_eq!(ok["metadata"]["legacy_extras"]["manifest_from_data_root"], true);
    }
}
