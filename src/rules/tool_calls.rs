//! Messages and tool calls of `openai_v1` threads: pairing, argument and content shapes.

use serde_json::Value;

use super::*;
use crate::diagnostic::Edit;
use crate::json::lookup;
use crate::pyjson;
use crate::version::Version;

/// One tool call seen so far. Threads make a handful of calls, so a vector searched
/// linearly beats hashing, and pointers are only formatted for calls that are reported.
struct Call<'a> {
    id: &'a str,
    message: usize,
    index: usize,
    name: Option<&'a str>,
    answered: bool,
}

fn at(message: usize, rest: &str) -> String {
    format!("/messages/{message}/{rest}")
}

pub fn check(ctx: &Context<'_>, out: &mut Vec<Diagnostic>) {
    if ctx.version != Version::OpenAiV1 {
        return;
    }
    let mut calls: Vec<Call<'_>> = Vec::new();
    for (i, m) in ctx.thread.messages().iter().enumerate() {
        match m.get("role").and_then(Value::as_str) {
            Some("system") if i > 0 => out.push(
                Diagnostic::new(
                    &SYSTEM_NOT_FIRST,
                    at(i, "role"),
                    format!("system message at position {i}; it may only be the first message"),
                )
                .with_label("system message here"),
            ),
            Some("user") => {
                if let Some(c @ (Value::Object(_) | Value::Array(_))) = m.get("content") {
                    let kind =
                        c.get("type").and_then(Value::as_str).map(|t| format!(" of type {t:?}")).unwrap_or_default();
                    out.push(
                        Diagnostic::new(
                            &USER_CONTENT_NOT_STRING,
                            at(i, "content"),
                            format!(
                                "user message {i} has {}{kind} content instead of a string (the split first-message variant); OpenAI chat data needs text",
                                crate::json::json_type(c)
                            ),
                        )
                        .with_label("not a string"),
                    );
                }
            }
            Some("assistant") => {
                let Some(list) = m.get("tool_calls").and_then(Value::as_array) else {
                    continue;
                };
                if list.is_empty() {
                    out.push(
                        Diagnostic::new(
                            &EMPTY_TOOL_CALLS,
                            at(i, "tool_calls"),
                            format!("assistant message {i} has an empty `tool_calls` list"),
                        )
                        .with_fix(vec![Edit::Remove { pointer: at(i, "tool_calls") }]),
                    );
                }
                for (j, call) in list.iter().enumerate() {
                    let name = lookup(call, "/function/name").and_then(Value::as_str);
                    check_arguments(call, i, j, name, out);
                    let Some(id) = call.get("id").and_then(Value::as_str) else {
                        continue;
                    };
                    if calls.iter().any(|c| c.id == id) {
                        out.push(
                            Diagnostic::new(
                                &DUPLICATE_TOOL_CALL_ID,
                                at(i, &format!("tool_calls/{j}/id")),
                                format!("tool call id {id:?} is used by an earlier call too"),
                            )
                            .with_label("repeated id"),
                        );
                        continue;
                    }
                    calls.push(Call { id, message: i, index: j, name, answered: false });
                }
            }
            Some("tool") => {
                check_tool_content(m, i, out);
                let Some(id) = m.get("tool_call_id").and_then(Value::as_str) else {
                    continue;
                };
                match calls.iter_mut().find(|c| c.id == id) {
                    Some(call) if !call.answered => {
                        call.answered = true;
                        if let (Some(called), Some(answered_as)) = (call.name, m.get("name").and_then(Value::as_str)) {
                            if called != answered_as {
                                out.push(
                                    Diagnostic::new(
                                        &TOOL_NAME_MISMATCH,
                                        at(i, "name"),
                                        format!("tool message {i} answers call {id:?} to `{called}` but names `{answered_as}`"),
                                    )
                                    .with_label(format!("expected `{called}`")),
                                );
                            }
                        }
                    }
                    Some(_) => out.push(
                        Diagnostic::new(
                            &TOOL_ANSWERED_TWICE,
                            at(i, "tool_call_id"),
                            format!("tool call {id:?} was already answered by an earlier tool message"),
                        )
                        .with_label("second answer"),
                    ),
                    None => out.push(
                        Diagnostic::new(
                            &TOOL_ANSWER_ORPHAN,
                            at(i, "tool_call_id"),
                            format!("tool message {i} answers {id:?}, but no earlier assistant message made that call"),
                        )
                        .with_label("no such call before this message"),
                    ),
                }
            }
            _ => {}
        }
    }
    for call in calls.iter().filter(|c| !c.answered) {
        let (id, name) = (call.id, call.name.unwrap_or("?"));
        out.push(
            Diagnostic::new(
                &TOOL_CALL_UNANSWERED,
                at(call.message, &format!("tool_calls/{}/id", call.index)),
                format!("tool call {id:?} to `{name}` is never answered by a `tool` message"),
            )
            .with_label("this call has no answer"),
        );
    }
}

fn check_arguments(call: &Value, message: usize, index: usize, name: Option<&str>, out: &mut Vec<Diagnostic>) {
    let tool = name.unwrap_or("?");
    let here = || at(message, &format!("tool_calls/{index}/function/arguments"));
    match lookup(call, "/function/arguments") {
        Some(Value::String(s)) => {
            // Syntax is checked without building the value; only the outer type matters.
            let is_object = s.trim_start().starts_with('{');
            match serde_json::from_str::<serde::de::IgnoredAny>(s) {
                Ok(_) if is_object => {}
                Ok(_) => {
                    let kind = serde_json::from_str::<Value>(s).map_or("value", |v| crate::json::json_type(&v));
                    out.push(
                        Diagnostic::new(
                            &TOOL_ARGUMENTS,
                            here(),
                            format!("arguments of `{tool}` hold a JSON {kind}, not an object"),
                        )
                        .with_label("must hold a JSON object"),
                    )
                }
                Err(e) => out.push(
                    Diagnostic::new(&TOOL_ARGUMENTS, here(), format!("arguments of `{tool}` are not valid JSON: {e}"))
                        .with_label("not JSON"),
                ),
            }
        }
        Some(obj @ Value::Object(_)) => out.push(
            Diagnostic::new(
                &TOOL_ARGUMENTS,
                here(),
                format!("arguments of `{tool}` are an object; OpenAI stores them as a JSON string"),
            )
            .with_label("object instead of string")
            .with_fix(vec![Edit::Set { pointer: here(), value: Value::String(pyjson::dumps(obj)) }]),
        ),
        Some(other) => out.push(
            Diagnostic::new(
                &TOOL_ARGUMENTS,
                here(),
                format!(
                    "arguments of `{tool}` are a JSON {}, not a string holding an object",
                    crate::json::json_type(other)
                ),
            )
            .with_label("wrong type"),
        ),
        None => {}
    }
}

fn check_tool_content(m: &Value, i: usize, out: &mut Vec<Diagnostic>) {
    if let Some(c @ (Value::Object(_) | Value::Array(_))) = m.get("content") {
        out.push(
            Diagnostic::new(
                &TOOL_CONTENT_NOT_STRING,
                at(i, "content"),
                format!(
                    "tool message {i} stores its result as a JSON {} instead of a string",
                    crate::json::json_type(c)
                ),
            )
            .with_label("not a string")
            .with_fix(vec![Edit::Set { pointer: at(i, "content"), value: Value::String(pyjson::dumps(c)) }]),
        );
    }
}
