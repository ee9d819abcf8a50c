//! Replaying a thread's tool calls: re-creates its artifacts (so a resumed thread can go
//! on) and compares every recorded result with what the tool returns now.

use serde_json::Value;

use super::artifacts::{canonical, Workspace};
use crate::data_root::DataRoot;
use crate::diagnostic::Diagnostic;
use crate::rules;
use crate::thread::ThreadView;
use crate::version::Version;

/// The workspace a thread had after its last recorded call: the session loaded and
/// every recorded call run again in order (results are not compared).
pub fn rebuild(doc: &Value, root: &DataRoot) -> Result<Workspace, String> {
    let thread = ThreadView::new(doc, Version::OpenAiV1);
    let (Some(dataset), Some(session)) = (thread.dataset(), thread.session()) else {
        return Err("the thread names no dataset or session".into());
    };
    let mut ws = Workspace::open(root, dataset, session)?;
    for m in thread.messages() {
        for call in m.get("tool_calls").and_then(Value::as_array).into_iter().flatten() {
            let (name, _, args) = recorded_call(call);
            super::run(&mut ws, name, &args);
        }
    }
    Ok(ws)
}

/// Name, id and arguments (parsed; `null` when unreadable) of a recorded tool call.
fn recorded_call(call: &Value) -> (&str, &str, Value) {
    let name = call.pointer("/function/name").and_then(Value::as_str).unwrap_or("");
    let id = call.get("id").and_then(Value::as_str).unwrap_or("");
    let args = call
        .pointer("/function/arguments")
        .and_then(Value::as_str)
        .and_then(|a| serde_json::from_str(a).ok())
        .unwrap_or(Value::Null);
    (name, id, args)
}

/// The legacy tool names, as `verify` treats them: the original `3.0` tools that kept their
/// names are replayed as they are; these four returned random placeholder numbers and
/// have nothing to replay.
pub const PLACEHOLDER_TOOLS: [&str; 4] = [
    "human_activity_motion_tokenizer",
    "human_activity_motion_classifier",
    "human_activity_motion_capture_tokenizer",
    "human_activity_motion_capture_classifier",
];

/// What replaying found, one finding per call that did not reproduce.
pub fn verify(doc: &Value, root: &DataRoot) -> Vec<Diagnostic> {
    let thread = ThreadView::new(doc, Version::OpenAiV1);
    let (Some(dataset), Some(session)) = (thread.dataset(), thread.session()) else {
        return vec![Diagnostic::new(&rules::NOT_REPLAYABLE, "/metadata", "the thread names no dataset or session")];
    };
    let mut ws = match Workspace::open(root, dataset, session) {
        Ok(ws) => ws,
        Err(e) => return vec![Diagnostic::new(&rules::NOT_REPLAYABLE, "/metadata/session", e)],
    };
    let messages = thread.messages();
    let mut out = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let Some(calls) = m.get("tool_calls").and_then(Value::as_array) else { continue };
        for (j, call) in calls.iter().enumerate() {
            let (name, id, args) = recorded_call(call);
            if PLACEHOLDER_TOOLS.contains(&name) {
                out.push(Diagnostic::new(
                    &rules::PLACEHOLDER_TOOL,
                    format!("/messages/{i}/tool_calls/{j}/function/name"),
                    format!("`{name}` was a placeholder of the original generator (random results): not replayed"),
                ));
                continue;
            }
            let now = super::run(&mut ws, name, &args);
            let Some((k, answer)) = messages
                .iter()
                .enumerate()
                .skip(i + 1)
                .find(|(_, a)| a.get("tool_call_id").and_then(Value::as_str) == Some(id))
            else {
                continue;
            };
            let recorded = match answer.get("content") {
                Some(Value::String(s)) => serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.clone())),
                Some(other) => other.clone(),
                None => Value::Null,
            };
            if canonical(&recorded) == canonical(&now) {
                continue;
            }
            let at = format!("/messages/{k}/content");
            if let (Some(err), None) = (now.get("error"), recorded.get("error")) {
                out.push(Diagnostic::new(
                    &rules::TOOL_CALL_FAILS,
                    at,
                    format!("call {j} of message {i} (`{name}`) now fails: {}", err.as_str().unwrap_or("")),
                ));
                continue;
            }
            let before = serde_json::to_string_pretty(&recorded).expect("values serialize");
            let after = serde_json::to_string_pretty(&now).expect("values serialize");
            let diff = similar::TextDiff::from_lines(&before, &after)
                .unified_diff()
                .context_radius(2)
                .header("recorded", "replayed")
                .to_string();
            out.push(Diagnostic::new(
                &rules::TOOL_RESULT_DIFFERS,
                at,
                format!("the result of `{name}` (call {id:?}) differs when run again:\n{}", diff.trim_end()),
            ));
        }
    }
    out
}
