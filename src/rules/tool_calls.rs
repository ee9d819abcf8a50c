//! Messages and tool calls of `openai_v1` threads: pairing, argument and content shapes.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::*;
use crate::diagnostic::{pointer, Edit};
use crate::pyjson;
use crate::version::Version;

struct Call<'a> {
    pointer: String,
    name: Option<&'a str>,
}

pub fn check(ctx: &Context<'_>, out: &mut Vec<Diagnostic>) {
    if ctx.version != Version::OpenAiV1 {
        return;
    }
    let mut pending: HashMap<&str, Call<'_>> = HashMap::new();
    let mut answered: HashSet<&str> = HashSet::new();
    let mut seen_ids: HashSet<&str> = HashSet::new();
    let mut unanswered_order: Vec<&str> = Vec::new();

    for (i, m) in ctx.thread.messages().iter().enumerate() {
        let at = |k: &str| pointer([String::from("messages"), i.to_string(), k.to_string()]);
        match m.get("role").and_then(Value::as_str) {
            Some("system") if i > 0 => out.push(
                Diagnostic::new(
                    &SYSTEM_NOT_FIRST,
                    at("role"),
                    format!("system message at position {i}; it may only be the first message"),
                )
                .with_label("system message here"),
            ),
            Some("user") => {
                if let Some(c @ (Value::Object(_) | Value::Array(_))) = m.get("content") {
                    let kind = c
                        .get("type")
                        .and_then(Value::as_str)
                        .map(|t| format!(" of type {t:?}"))
                        .unwrap_or_default();
                    out.push(
                        Diagnostic::new(
                            &USER_CONTENT_NOT_STRING,
                            at("content"),
                            format!("user message {i} has {}{kind} content instead of a string (the split first-message variant); OpenAI chat data needs text", crate::check::json_type(c)),
                        )
                        .with_label("not a string"),
                    );
                }
            }
            Some("assistant") => {
                let Some(calls) = m.get("tool_calls").and_then(Value::as_array) else {
                    continue;
                };
                if calls.is_empty() {
                    out.push(
                        Diagnostic::new(
                            &EMPTY_TOOL_CALLS,
                            at("tool_calls"),
                            format!("assistant message {i} has an empty `tool_calls` list"),
                        )
                        .with_fix(vec![Edit::Remove {
                            pointer: at("tool_calls"),
                        }]),
                    );
                }
                for (j, call) in calls.iter().enumerate() {
                    let call_at = |k: &str| format!("{}/{j}{k}", at("tool_calls"));
                    let name = call.pointer("/function/name").and_then(Value::as_str);
                    check_arguments(call, &call_at("/function/arguments"), name, out);
                    let Some(id) = call.get("id").and_then(Value::as_str) else {
                        continue;
                    };
                    if !seen_ids.insert(id) {
                        out.push(
                            Diagnostic::new(
                                &DUPLICATE_TOOL_CALL_ID,
                                call_at("/id"),
                                format!("tool call id {id:?} is used by an earlier call too"),
                            )
                            .with_label("repeated id"),
                        );
                        continue;
                    }
                    pending.insert(
                        id,
                        Call {
                            pointer: call_at("/id"),
                            name,
                        },
                    );
                    unanswered_order.push(id);
                }
            }
            Some("tool") => {
                check_tool_content(m, &at("content"), i, out);
                let Some(id) = m.get("tool_call_id").and_then(Value::as_str) else {
                    continue;
                };
                if let Some(call) = pending.remove(id) {
                    answered.insert(id);
                    let answer_name = m.get("name").and_then(Value::as_str);
                    if let (Some(called), Some(answered_as)) = (call.name, answer_name) {
                        if called != answered_as {
                            out.push(
                                Diagnostic::new(
                                    &TOOL_NAME_MISMATCH,
                                    at("name"),
                                    format!("tool message {i} answers call {id:?} to `{called}` but names `{answered_as}`"),
                                )
                                .with_label(format!("expected `{called}`")),
                            );
                        }
                    }
                } else if answered.contains(id) {
                    out.push(
                        Diagnostic::new(
                            &TOOL_ANSWERED_TWICE,
                            at("tool_call_id"),
                            format!(
                                "tool call {id:?} was already answered by an earlier tool message"
                            ),
                        )
                        .with_label("second answer"),
                    );
                } else {
                    out.push(
                        Diagnostic::new(&TOOL_ANSWER_ORPHAN, at("tool_call_id"), format!("tool message {i} answers {id:?}, but no earlier assistant message made that call"))
                            .with_label("no such call before this message"),
                    );
                }
            }
            _ => {}
        }
    }
    for id in unanswered_order {
        if let Some(call) = pending.remove(id) {
            let name = call.name.unwrap_or("?");
            out.push(
                Diagnostic::new(
                    &TOOL_CALL_UNANSWERED,
                    call.pointer,
                    format!("tool call {id:?} to `{name}` is never answered by a `tool` message"),
                )
                .with_label("this call has no answer"),
            );
        }
    }
}

fn check_arguments(call: &Value, at: &str, name: Option<&str>, out: &mut Vec<Diagnostic>) {
    let tool = name.unwrap_or("?");
    match call.pointer("/function/arguments") {
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(_)) => {}
            Ok(other) => out.push(
                Diagnostic::new(
                    &TOOL_ARGUMENTS,
                    at,
                    format!(
                        "arguments of `{tool}` hold a JSON {}, not an object",
                        crate::check::json_type(&other)
                    ),
                )
                .with_label("must hold a JSON object"),
            ),
            Err(e) => out.push(
                Diagnostic::new(
                    &TOOL_ARGUMENTS,
                    at,
                    format!("arguments of `{tool}` are not valid JSON: {e}"),
                )
                .with_label("not JSON"),
            ),
        },
        Some(obj @ Value::Object(_)) => out.push(
            Diagnostic::new(
                &TOOL_ARGUMENTS,
                at,
                format!("arguments of `{tool}` are an object; OpenAI stores them as a JSON string"),
            )
            .with_label("object instead of string")
            .with_fix(vec![Edit::Set {
                pointer: at.to_string(),
                value: Value::String(pyjson::dumps(obj)),
            }]),
        ),
        Some(other) => out.push(
            Diagnostic::new(
                &TOOL_ARGUMENTS,
                at,
                format!(
                    "arguments of `{tool}` are a JSON {}, not a string holding an object",
                    crate::check::json_type(other)
                ),
            )
            .with_label("wrong type"),
        ),
        None => {}
    }
}

fn check_tool_content(m: &Value, at: &str, i: usize, out: &mut Vec<Diagnostic>) {
    if let Some(c @ (Value::Object(_) | Value::Array(_))) = m.get("content") {
        out.push(
            Diagnostic::new(
                &TOOL_CONTENT_NOT_STRING,
                at,
                format!(
                    "tool message {i} stores its result as a JSON {} instead of a string",
                    crate::check::json_type(c)
                ),
            )
            .with_label("not a string")
            .with_fix(vec![Edit::Set {
                pointer: at.to_string(),
                value: Value::String(pyjson::dumps(c)),
            }]),
        );
    }
}
