//! What the model must reply, as JSON Schemas, and the parsing of its replies into
//! typed decisions. The same schemas drive structured output on the server and the
//! validation here, so a reply that passes is one the loop can act on.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use serde_json::{json, Map, Value};

/// How the endpoint is asked for JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Structured {
    /// OpenAI's `response_format: {"type": "json_schema", "json_schema": {…, "strict": true}}`.
    #[value(name = "json_schema")]
    JsonSchema,
    /// llama.cpp's Python server: `{"type": "json_object", "schema": …}` (grammar-constrained).
    #[value(name = "json_object")]
    JsonObject,
    /// Plain JSON mode (`{"type": "json_object"}`); the schema is given in the prompt.
    Json,
}

/// One step the model chose.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    UseTool { reasoning: String, tool: String, arguments: Value },
    Respond { reasoning: String, message: String },
    Finish { reasoning: String },
}

impl Step {
    pub fn action(&self) -> &'static str {
        match self {
            Step::UseTool { .. } => "use_tool",
            Step::Respond { .. } => "respond",
            Step::Finish { .. } => "finish",
        }
    }

    pub fn reasoning(&self) -> &str {
        match self {
            Step::UseTool { reasoning, .. } | Step::Respond { reasoning, .. } | Step::Finish { reasoning } => reasoning,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct FinalAnswer {
    pub answer: String,
    pub confidence: String,
    pub explanation: String,
}

pub const CONFIDENCE: [&str; 3] = ["low", "medium", "high"];

fn text(min: usize) -> Value {
    json!({"type": "string", "minLength": min})
}

pub fn query_schema() -> Value {
    json!({"type": "object", "properties": {"query": text(8)}, "required": ["query"], "additionalProperties": false})
}

/// The next step: one variant per tool (with that tool's argument schema), `respond`,
/// and `finish` when it is allowed. Reasoning comes first so the model reasons before it acts.
/// `artifact_id` may only name an artifact that exists: with grammar-constrained decoding
/// a model cannot invent one (small models copy hash-like ids wrongly).
pub fn step_schema(allow_finish: bool, artifacts: &[String]) -> Value {
    let mut variants = Vec::new();
    for t in crate::tools::TOOLS {
        let mut arguments = (t.parameters)();
        if let (Some(a), false) = (arguments.pointer_mut("/properties/artifact_id"), artifacts.is_empty()) {
            let description = a.get("description").cloned().unwrap_or(Value::Null);
            *a = json!({"type": "string", "enum": artifacts, "description": description});
        }
        variants.push(json!({
            "type": "object",
            "properties": {"reasoning": text(1), "action": {"const": "use_tool"}, "tool": {"const": t.name}, "arguments": arguments},
            "required": ["reasoning", "action", "tool", "arguments"],
            "additionalProperties": false
        }));
    }
    variants.push(json!({
        "type": "object",
        "properties": {"reasoning": text(1), "action": {"const": "respond"}, "message": text(1)},
        "required": ["reasoning", "action", "message"],
        "additionalProperties": false
    }));
    if allow_finish {
        variants.push(json!({
            "type": "object",
            "properties": {"reasoning": text(1), "action": {"const": "finish"}},
            "required": ["reasoning", "action"],
            "additionalProperties": false
        }));
    }
    json!({"type": "object", "properties": {"step": {"anyOf": variants}}, "required": ["step"], "additionalProperties": false})
}

/// The final answer: one of the dataset's labels (the vocabulary, never the ground truth).
pub fn final_schema(labels: &[String]) -> Value {
    json!({
        "type": "object",
        "properties": {"explanation": text(1), "answer": {"type": "string", "enum": labels}, "confidence": {"type": "string", "enum": CONFIDENCE}},
        "required": ["explanation", "answer", "confidence"],
        "additionalProperties": false
    })
}

/// The `response_format` of a request.
pub fn response_format(mode: Structured, name: &str, schema: &Value) -> Value {
    match mode {
        Structured::JsonSchema => {
            json!({"type": "json_schema", "json_schema": {"name": name, "strict": true, "schema": strict(schema)}})
        }
        Structured::JsonObject => json!({"type": "json_object", "schema": schema}),
        Structured::Json => json!({"type": "json_object"}),
    }
}

/// OpenAI's strict mode wants every property required and no extra ones: optional
/// properties become required-but-nullable (a `null` is dropped again when parsing, so the
/// tool's default applies), and keywords strict mode rejects are removed.
fn strict(schema: &Value) -> Value {
    let Value::Object(obj) = schema else { return schema.clone() };
    let mut out = Map::new();
    for (k, v) in obj {
        match k.as_str() {
            "default" => {}
            "properties" => {
                let required: Vec<&str> = obj
                    .get("required")
                    .and_then(Value::as_array)
                    .map(|r| r.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                let mut props = Map::new();
                for (name, p) in v.as_object().into_iter().flatten() {
                    let mut p = strict(p);
                    if !required.contains(&name.as_str()) {
                        if let Some(Value::String(t)) = p.get("type").cloned() {
                            p["type"] = json!([t, "null"]);
                        }
                    }
                    props.insert(name.clone(), p);
                }
                out.insert("required".into(), json!(props.keys().collect::<Vec<_>>()));
                out.insert("properties".into(), Value::Object(props));
                out.insert("additionalProperties".into(), json!(false));
            }
            "required" | "additionalProperties" if obj.contains_key("properties") => {}
            "anyOf" | "oneOf" => {
                let list: Vec<Value> = v.as_array().into_iter().flatten().map(strict).collect();
                out.insert("anyOf".into(), Value::Array(list));
            }
            "items" => {
                out.insert(k.clone(), strict(v));
            }
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    Value::Object(out)
}

/// The JSON object in a reply: the whole text, or the part between the first `{` and
/// the last `}` (models in plain JSON mode wrap it in prose or code fences).
fn extract_json(content: &str) -> Result<Value, String> {
    let repaired = escape_raw_controls(content);
    let trimmed = repaired.trim();
    if let Ok(v) = serde_json::from_str(trimmed) {
        return Ok(v);
    }
    let (Some(a), Some(b)) = (trimmed.find('{'), trimmed.rfind('}')) else {
        return Err("the reply contains no JSON object".into());
    };
    if a >= b {
        return Err("the reply contains no JSON object".into());
    }
    serde_json::from_str(&trimmed[a..=b]).map_err(|e| format!("the reply is not valid JSON: {e}"))
}

/// Models (and some grammars) put raw newlines and tabs inside JSON strings; JSON wants
/// them escaped. Escaping them keeps the text the model meant.
fn escape_raw_controls(content: &str) -> std::borrow::Cow<'_, str> {
    if !content.chars().any(|c| c < ' ') {
        return std::borrow::Cow::Borrowed(content);
    }
    let mut out = String::with_capacity(content.len() + 16);
    let (mut in_string, mut escaped) = (false, false);
    for c in content.chars() {
        if in_string && c < ' ' {
            out.push_str(&format!("\\u{:04x}", c as u32));
            escaped = false;
            continue;
        }
        match c {
            '"' if !escaped => in_string = !in_string,
            _ => {}
        }
        escaped = in_string && c == '\\' && !escaped;
        out.push(c);
    }
    std::borrow::Cow::Owned(out)
}

fn drop_nulls(v: &mut Value) {
    match v {
        Value::Object(map) => {
            map.retain(|_, x| !x.is_null());
            map.values_mut().for_each(drop_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

/// Validate a reply against `schema`; `Err` says what is wrong in words the model can fix.
pub fn parse(content: &str, schema: &Value) -> Result<Value, String> {
    static CACHE: OnceLock<Mutex<HashMap<String, std::sync::Arc<jsonschema::Validator>>>> = OnceLock::new();
    let mut value = extract_json(content)?;
    drop_nulls(&mut value);
    let key = schema.to_string();
    let validator = {
        let mut cache = CACHE.get_or_init(Default::default).lock().expect("no panics while held");
        match cache.get(&key) {
            Some(v) => v.clone(),
            None => {
                // Step schemas differ with the artifacts of each thread: keep the cache small.
                if cache.len() >= 256 {
                    cache.clear();
                }
                let v = std::sync::Arc::new(
                    jsonschema::draft202012::new(schema).map_err(|e| format!("internal schema error: {e}"))?,
                );
                cache.insert(key, v.clone());
                v
            }
        }
    };
    let problems = crate::schema::problems(&validator, &value, 3);
    if problems.is_empty() {
        Ok(value)
    } else {
        Err(format!("the reply does not match the required JSON Schema: {}", problems.join("; ")))
    }
}

pub fn parse_query(content: &str) -> Result<String, String> {
    let v = parse(content, &query_schema())?;
    Ok(v["query"].as_str().unwrap_or_default().trim().to_string())
}

pub fn parse_step(content: &str, allow_finish: bool, artifacts: &[String]) -> Result<Step, String> {
    parse_step_against(content, &step_schema(allow_finish, artifacts))
}

/// `parse_step` with the schema the request was made with (built once per request).
pub fn parse_step_against(content: &str, schema: &Value) -> Result<Step, String> {
    let v = parse(content, schema).map_err(|e| explain_step(content, schema).unwrap_or(e))?;
    let s = &v["step"];
    let reasoning = s["reasoning"].as_str().unwrap_or_default().trim().to_string();
    Ok(match s["action"].as_str() {
        Some("use_tool") => Step::UseTool {
            reasoning,
            tool: s["tool"].as_str().unwrap_or_default().to_string(),
            arguments: s.get("arguments").cloned().unwrap_or_else(|| json!({})),
        },
        Some("respond") => {
            Step::Respond { reasoning, message: s["message"].as_str().unwrap_or_default().trim().to_string() }
        }
        _ => Step::Finish { reasoning },
    })
}

/// "Not valid under any of the schemas in anyOf" helps no one: when the reply names an
/// action (and tool) that exists, say what is wrong against that variant alone.
fn explain_step(content: &str, schema: &Value) -> Option<String> {
    let reply = extract_json(content).ok()?;
    let step = reply.get("step")?;
    let variants = schema.pointer("/properties/step/anyOf")?.as_array()?;
    let same = |v: &&Value, key: &str| v.pointer(&format!("/properties/{key}/const")) == step.get(key);
    let Some(variant) = variants.iter().find(|v| same(v, "action") && (step.get("tool").is_none() || same(v, "tool")))
    else {
        let mut actions: Vec<String> =
            variants.iter().filter_map(|v| v.pointer("/properties/action/const")).map(Value::to_string).collect();
        actions.dedup();
        return Some(format!("`step.action` must be one of {} (with `tool` naming a listed tool)", actions.join(", ")));
    };
    let wrapped = json!({"type": "object", "properties": {"step": variant}, "required": ["step"]});
    parse(content, &wrapped).err()
}

pub fn parse_final(content: &str, labels: &[String]) -> Result<FinalAnswer, String> {
    let v = parse(content, &final_schema(labels))?;
    Ok(FinalAnswer {
        answer: v["answer"].as_str().unwrap_or_default().to_string(),
        confidence: v["confidence"].as_str().unwrap_or_default().to_string(),
        explanation: v["explanation"].as_str().unwrap_or_default().trim().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> Vec<String> {
        vec!["ts_0123456789ab".to_string()]
    }

    #[test]
    fn artifact_ids_are_limited_to_those_that_exist() {
        let ok = r#"{"step": {"reasoning": "r", "action": "use_tool", "tool": "compute_features", "arguments": {"artifact_id": "ts_0123456789ab"}}}"#;
        assert!(parse_step(ok, true, &ids()).is_ok());
        let invented = ok.replace("0123456789ab", "0123456789ac");
        let err = parse_step(&invented, true, &ids()).unwrap_err();
        assert!(err.contains("ts_0123456789ab") && err.contains("/step/arguments/artifact_id"), "{err}");
        let unknown = ok.replace("compute_features", "guess_activity");
        assert!(parse_step(&unknown, true, &ids()).unwrap_err().contains("`step.action` must be one of"));
    }

    #[test]
    fn steps_parse_and_finish_can_be_withheld() {
        let reply = r#"{"step": {"reasoning": "need stats", "action": "use_tool", "tool": "show_session_stats", "arguments": {"dataset_name": "d"}}}"#;
        assert_eq!(
            parse_step(reply, false, &ids()).unwrap(),
            Step::UseTool {
                reasoning: "need stats".into(),
                tool: "show_session_stats".into(),
                arguments: json!({"dataset_name": "d"})
            }
        );
        let finish = r#"{"step": {"reasoning": "enough", "action": "finish"}}"#;
        assert!(parse_step(finish, true, &ids()).is_ok());
        assert!(parse_step(finish, false, &ids()).is_err(), "finish is not offered before the minimum of tool calls");
    }

    #[test]
    fn invalid_tool_arguments_are_explained() {
        let reply = r#"{"step": {"reasoning": "r", "action": "use_tool", "tool": "filter_by_time", "arguments": {"start_time_sec": "soon"}}}"#;
        let err = parse_step(reply, true, &ids()).unwrap_err();
        assert!(err.contains("does not match"), "{err}");
    }

    #[test]
    fn prose_and_fences_around_json_are_tolerated() {
        let reply = "Sure! ```json\n{\"query\": \"What is the person doing here?\"}\n```";
        assert_eq!(parse_query(reply).unwrap(), "What is the person doing here?");
        assert!(parse_query("no json").is_err());
    }

    #[test]
    fn raw_newlines_inside_strings_are_read_as_meant() {
        let reply = "{\"query\": \"What is the\nperson doing?\"}\n";
        assert_eq!(parse_query(reply).unwrap(), "What is the\nperson doing?");
        let escaped_quote = "{\"query\": \"A \\\"quoted\\\"\tword, then more text?\"}";
        assert_eq!(parse_query(escaped_quote).unwrap(), "A \"quoted\"\tword, then more text?");
    }

    #[test]
    fn final_answer_must_be_in_the_vocabulary() {
        let labels = vec!["Walking".to_string(), "Running".to_string()];
        let ok = r#"{"explanation": "periodic", "answer": "Walking", "confidence": "high"}"#;
        assert_eq!(parse_final(ok, &labels).unwrap().answer, "Walking");
        let bad = r#"{"explanation": "periodic", "answer": "Swimming", "confidence": "high"}"#;
        assert!(parse_final(bad, &labels).is_err());
    }

    #[test]
    fn strict_schemas_require_everything_and_allow_null_for_optional() {
        let f = response_format(Structured::JsonSchema, "step", &step_schema(true, &ids()));
        let schema = &f["json_schema"]["schema"];
        let variant = &schema["properties"]["step"]["anyOf"][4];
        assert_eq!(variant["properties"]["tool"]["const"], "compute_features");
        let args = &variant["properties"]["arguments"];
        assert_eq!(args["additionalProperties"], false);
        let required: Vec<&str> = args["required"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        let props: Vec<&str> = args["properties"].as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(required, props);
        assert!(!schema.to_string().contains("\"default\""));
        // A null for an optional argument means "the default": it is dropped before validation.
        let reply = r#"{"step": {"reasoning": "r", "action": "use_tool", "tool": "compute_features", "arguments": {"artifact_id": null}}}"#;
        assert_eq!(
            parse_step(reply, true, &ids()).unwrap(),
            Step::UseTool { reasoning: "r".into(), tool: "compute_features".into(), arguments: json!({}) }
        );
    }

    #[test]
    fn hostile_replies_are_errors_never_panics() {
        let valid = r#"{"step": {"reasoning": "r", "action": "use_tool", "tool": "filter_by_time", "arguments": {"start_time_sec": 1.5, "end_time_sec": 3}}}"#;
        let mut rng = fastrand::Rng::with_seed(42);
        let alphabet: Vec<char> = "{}[]\":,.0123456789-eE ntrufalse\\\u{0}é😀".chars().collect();
        for _ in 0..5000 {
            let mut chars: Vec<char> = valid.chars().collect();
            for _ in 0..rng.usize(1..6) {
                let at = rng.usize(..chars.len());
                match rng.u8(..3) {
                    0 => {
                        chars.remove(at);
                    }
                    1 => chars.insert(at, alphabet[rng.usize(..alphabet.len())]),
                    _ => chars[at] = alphabet[rng.usize(..alphabet.len())],
                }
                if chars.is_empty() {
                    break;
                }
            }
            let text: String = chars.into_iter().collect();
            let _ = parse_step(&text, rng.bool(), &ids());
            let _ = parse_final(&text, &["a".to_string()]);
            let _ = parse_query(&text);
        }
        let deep = "[".repeat(100_000);
        assert!(parse_step(&deep, true, &ids()).is_err());
    }
}
