//! Checks on one line of a training file, per export profile. `threadkit export` runs
//! them on every line it writes; `threadkit validate --profile P` on files made elsewhere.

use std::collections::HashSet;

use serde_json::Value;

use crate::diagnostic::{escape_token, Diagnostic};
use crate::export::profile::Profile;

use super::*;

/// Every finding for one example. Token limits are checked by the caller, which owns the tokenizer.
pub fn check_example(example: &Value, profile: Profile) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let Some(obj) = example.as_object() else {
        out.push(Diagnostic::new(&TRAINING_NOT_AN_EXAMPLE, "", "the line is not a JSON object"));
        return out;
    };
    match profile {
        Profile::Raw => {}
        Profile::LlamaFactory => sharegpt(obj, &mut out),
        Profile::Openai | Profile::Trl | Profile::Axolotl => messages(obj, profile, &mut out),
    }
    out
}

fn p(parts: &[&str]) -> String {
    parts.iter().map(|t| format!("/{}", escape_token(t))).collect()
}

/// Function names in an OpenAI-style `tools` list; reports malformed entries.
fn defined_functions<'a>(tools: &'a Value, at: &str, out: &mut Vec<Diagnostic>) -> HashSet<&'a str> {
    let mut names = HashSet::new();
    let Some(list) = tools.as_array() else {
        out.push(Diagnostic::new(&TRAINING_TOOLS_MALFORMED, at, "`tools` must be a list"));
        return names;
    };
    for (i, t) in list.iter().enumerate() {
        let f = t.get("function").unwrap_or(t);
        let name = f.get("name").and_then(Value::as_str);
        let typed = t.get("function").is_none() || t.get("type").and_then(Value::as_str) == Some("function");
        let params_ok = f.get("parameters").is_none_or(Value::is_object);
        match name {
            Some(n) if typed && params_ok => {
                names.insert(n);
            }
            _ => out.push(Diagnostic::new(
                &TRAINING_TOOLS_MALFORMED,
                format!("{at}/{i}"),
                "a tool must be {\"type\": \"function\", \"function\": {\"name\", \"description\", \"parameters\": {…}}}",
            )),
        }
    }
    names
}

fn messages(obj: &serde_json::Map<String, Value>, profile: Profile, out: &mut Vec<Diagnostic>) {
    let Some(messages) = obj.get("messages").and_then(Value::as_array).filter(|m| !m.is_empty()) else {
        out.push(Diagnostic::new(&TRAINING_NOT_AN_EXAMPLE, "", "an example needs a non-empty `messages` list"));
        return;
    };
    for key in obj.keys() {
        let known = matches!(key.as_str(), "messages" | "tools" | "parallel_tool_calls");
        if profile == Profile::Openai && !known {
            out.push(Diagnostic::new(
                &TRAINING_UNKNOWN_KEY,
                p(&[key]),
                format!("OpenAI's format has no top-level `{key}`"),
            ));
        }
    }
    let defined = obj.get("tools").map(|t| defined_functions(t, "/tools", out));
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
            if v.is_null() && (profile == Profile::Openai || k == "content") {
                out.push(Diagnostic::new(
                    &TRAINING_NULL_VALUE,
                    format!("{at}/{k}"),
                    format!("`{k}` is null; omit the key instead"),
                ));
            }
        }
        let role = m.get("role").and_then(Value::as_str).unwrap_or("");
        let content = m.get("content");
        let content_is_text = matches!(content, Some(Value::String(_)));
        let calls = m.get("tool_calls").and_then(Value::as_array);
        let allowed: &[&str] = match role {
            "system" | "user" => &["role", "content", "name"],
            "assistant" => &["role", "content", "tool_calls", "weight", "name"],
            "tool" => &["role", "content", "tool_call_id", "name"],
            _ => {
                out.push(Diagnostic::new(
                    &TRAINING_UNKNOWN_KEY,
                    format!("{at}/role"),
                    format!("unknown role {role:?}"),
                ));
                continue;
            }
        };
        if profile == Profile::Openai {
            for k in m.keys().filter(|k| !allowed.contains(&k.as_str())) {
                if !(role == "tool" && k == "name") {
                    out.push(Diagnostic::new(
                        &TRAINING_UNKNOWN_KEY,
                        format!("{at}/{k}"),
                        format!("a {role} message has no `{k}` in OpenAI's format"),
                    ));
                }
            }
            if role == "system" && i > 0 {
                out.push(Diagnostic::new(&TRAINING_TURN_ORDER, at.clone(), "a system message may only come first"));
            }
        }
        let may_omit_content =
            profile == Profile::Openai && role == "assistant" && calls.is_some_and(|c| !c.is_empty());
        let omitted = may_omit_content && content.is_none_or(Value::is_null);
        if !(content_is_text || omitted || content.is_some_and(Value::is_null)) {
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
                    let name = c.pointer("/function/name").and_then(Value::as_str);
                    match c.get("id").and_then(Value::as_str) {
                        Some(id) => open_calls.push(id.to_string()),
                        None if profile == Profile::Openai => {
                            out.push(Diagnostic::new(&TRAINING_TOOL_PAIRING, cat.clone(), "a tool call needs an `id`"))
                        }
                        None => {}
                    }
                    if let (Some(defined), Some(name)) = (&defined, name) {
                        if !defined.contains(name) {
                            out.push(Diagnostic::new(
                                &TRAINING_UNDEFINED_TOOL,
                                format!("{cat}/function/name"),
                                format!("`{name}` is not in `tools`"),
                            ));
                        }
                    }
                    if profile == Profile::Openai && defined.is_none() {
                        out.push(Diagnostic::new(
                            &TRAINING_UNDEFINED_TOOL,
                            cat.clone(),
                            "the example calls tools but has no `tools` list",
                        ));
                    }
                    let args = c.pointer("/function/arguments");
                    let args_at = format!("{cat}/function/arguments");
                    let ok = match (profile, args) {
                        (Profile::Openai, Some(Value::String(s))) => {
                            serde_json::from_str::<Value>(s).is_ok_and(|v| v.is_object())
                        }
                        (Profile::Trl, Some(v)) => v.is_object(),
                        (Profile::Axolotl, Some(Value::String(s))) => {
                            serde_json::from_str::<Value>(s).is_ok_and(|v| v.is_object())
                        }
                        (Profile::Axolotl, Some(v)) => v.is_object(),
                        _ => false,
                    };
                    if !ok {
                        let want = match profile {
                            Profile::Openai => "a string holding a JSON object",
                            Profile::Trl => "a JSON object (chat templates apply `tojson` to it)",
                            _ => "a JSON object or a string holding one",
                        };
                        out.push(Diagnostic::new(&TRAINING_ARGUMENTS, args_at, format!("`arguments` must be {want}")));
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
                None if profile == Profile::Openai => {
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
}

fn sharegpt(obj: &serde_json::Map<String, Value>, out: &mut Vec<Diagnostic>) {
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
            let call = value.and_then(Value::as_str).and_then(|s| serde_json::from_str::<Value>(s).ok());
            let name = call.as_ref().and_then(|c| c.get("name")).and_then(Value::as_str);
            let args_ok = call.as_ref().and_then(|c| c.get("arguments")).is_some_and(Value::is_object);
            match name {
                Some(name) if args_ok => {
                    if let Some(defined) = &defined {
                        if !defined.contains(name) {
                            out.push(Diagnostic::new(
                                &TRAINING_UNDEFINED_TOOL,
                                format!("{at}/value"),
                                format!("`{name}` is not in `tools`"),
                            ));
                        }
                    }
                }
                _ => out.push(Diagnostic::new(
                    &TRAINING_ARGUMENTS,
                    format!("{at}/value"),
                    "a function_call value must be a JSON string of {\"name\": …, \"arguments\": {…}}",
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
    use super::*;
    use serde_json::json;

    fn codes(example: Value, profile: Profile) -> Vec<&'static str> {
        check_example(&example, profile).iter().map(|d| d.code()).collect()
    }

    fn tools() -> Value {
        json!([{"type": "function", "function": {"name": "f", "description": "", "parameters": {"type": "object"}}}])
    }

    fn good_openai() -> Value {
        json!({"messages": [
            {"role": "user", "content": "q"},
            {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "{}"},
            {"role": "assistant", "content": "done", "weight": 1}], "tools": tools()})
    }

    #[test]
    fn each_openai_rule_fires() {
        assert!(codes(good_openai(), Profile::Openai).is_empty());
        let mut e = good_openai();
        e["messages"][2]["content"] = json!({"a": 1});
        assert_eq!(codes(e, Profile::Openai), ["TK702"]);
        let mut e = good_openai();
        e["messages"][3]["tool_calls"] = Value::Null;
        assert_eq!(codes(e, Profile::Openai), ["TK703"]);
        let mut e = good_openai();
        e["messages"][1]["tool_calls"][0]["function"]["arguments"] = json!({});
        assert_eq!(codes(e, Profile::Openai), ["TK704"]);
        let mut e = good_openai();
        e["messages"][2]["tool_call_id"] = json!("nope");
        assert_eq!(codes(e, Profile::Openai), ["TK705"]);
        let mut e = good_openai();
        e["messages"][1]["tool_calls"][0]["function"]["name"] = json!("g");
        assert_eq!(codes(e, Profile::Openai), ["TK706"]);
        let mut e = good_openai();
        e["messages"][3]["weight"] = json!(0.5);
        assert_eq!(codes(e, Profile::Openai), ["TK707"]);
        let e = json!({"messages": [{"role": "user", "content": "q"}]});
        assert_eq!(codes(e, Profile::Openai), ["TK708"]);
        let mut e = good_openai();
        e["metadata"] = json!({});
        assert_eq!(codes(e, Profile::Openai), ["TK711"]);
        let mut e = good_openai();
        e["tools"] = json!([{"type": "function", "function": {"description": "no name"}}]);
        assert_eq!(codes(e, Profile::Openai), ["TK712", "TK706"]);
        let mut e = good_openai();
        e["messages"].as_array_mut().unwrap().push(json!({"role": "system", "content": "late"}));
        assert_eq!(codes(e, Profile::Openai), ["TK713"]);
        assert_eq!(codes(json!([1]), Profile::Openai), ["TK701"]);
    }

    #[test]
    fn trl_wants_object_arguments_and_string_content() {
        let mut e = good_openai();
        assert_eq!(codes(e.clone(), Profile::Trl), ["TK702", "TK704"]);
        e["messages"][1]["content"] = json!("");
        e["messages"][1]["tool_calls"][0]["function"]["arguments"] = json!({});
        assert!(codes(e, Profile::Trl).is_empty());
    }

    #[test]
    fn sharegpt_alternation() {
        let good = json!({"conversations": [
            {"from": "human", "value": "q"},
            {"from": "function_call", "value": "{\"name\": \"f\", \"arguments\": {}}"},
            {"from": "observation", "value": "{}"},
            {"from": "gpt", "value": "done"}], "tools": "[{\"name\": \"f\", \"parameters\": {}}]"});
        assert!(codes(good.clone(), Profile::LlamaFactory).is_empty());
        let mut e = good.clone();
        e["conversations"].as_array_mut().unwrap().insert(3, json!({"from": "gpt", "value": "x"}));
        assert!(codes(e, Profile::LlamaFactory).contains(&"TK713"));
        let mut e = good.clone();
        e["conversations"][1]["value"] = json!("{\"name\": \"f\", \"arguments\": \"{}\"}");
        assert_eq!(codes(e, Profile::LlamaFactory), ["TK704"]);
        let mut e = good;
        e["tools"] = json!([]);
        assert_eq!(codes(e, Profile::LlamaFactory), ["TK712"]);
    }
}
