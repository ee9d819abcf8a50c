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

/// What replaying one recorded call gave.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The tool returns what the thread recorded.
    Reproduced,
    /// A placeholder tool of the original generator: nothing to replay.
    Placeholder,
    /// The thread has no result for this call.
    NoResult,
    /// The recorded result was not an error; the tool fails now.
    NowFails { result_message: usize, error: String },
    /// The tool returns something else now.
    Differs { result_message: usize, recorded: Value, now: Value },
}

impl Outcome {
    /// One word for reports: `reproduced`, `placeholder`, `no result`, `fails`, `differs`.
    pub fn word(&self) -> &'static str {
        match self {
            Outcome::Reproduced => "reproduced",
            Outcome::Placeholder => "placeholder",
            Outcome::NoResult => "no result",
            Outcome::NowFails { .. } => "fails",
            Outcome::Differs { .. } => "differs",
        }
    }
}

/// One recorded call, replayed.
#[derive(Debug, Clone)]
pub struct Replayed {
    /// Message index and position in its `tool_calls`.
    pub message: usize,
    pub call: usize,
    pub name: String,
    pub id: String,
    /// The timeseries artifact the call looked at: the one it made (`select_channels`,
    /// `filter_by_time`), else the one it read; none for dataset-level tools.
    pub looked_at: Option<String>,
    pub outcome: Outcome,
}

/// Replay every recorded call in order. The workspace keeps every artifact the calls made,
/// so callers can look at what each call looked at (`Replayed::looked_at`).
// The error is one finding per thread that cannot be replayed, handed straight to a report.
#[allow(clippy::result_large_err)]
pub fn replay(doc: &Value, root: &DataRoot) -> Result<(Workspace, Vec<Replayed>), Diagnostic> {
    let thread = ThreadView::new(doc, Version::OpenAiV1);
    let (Some(dataset), Some(session)) = (thread.dataset(), thread.session()) else {
        return Err(Diagnostic::new(&rules::NOT_REPLAYABLE, "/metadata", "the thread names no dataset or session"));
    };
    let mut ws = Workspace::open(root, dataset, session)
        .map_err(|e| Diagnostic::new(&rules::NOT_REPLAYABLE, "/metadata/session", e))?;
    let messages = thread.messages();
    let mut out = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let Some(calls) = m.get("tool_calls").and_then(Value::as_array) else { continue };
        for (j, call) in calls.iter().enumerate() {
            let (name, id, args) = recorded_call(call);
            let mut replayed =
                Replayed { message: i, call: j, name: name.into(), id: id.into(), looked_at: None, outcome: Outcome::NoResult };
            if PLACEHOLDER_TOOLS.contains(&name) {
                replayed.outcome = Outcome::Placeholder;
                out.push(replayed);
                continue;
            }
            let input = super::reads_artifact(name)
                .then(|| ws.get(args.get("artifact_id").and_then(Value::as_str)).ok())
                .flatten()
                .filter(|a| a.kind() == "timeseries")
                .map(|a| a.id.clone());
            let now = super::run(&mut ws, name, &args);
            let made = now.get("artifact_id").and_then(Value::as_str).filter(|id| id.starts_with("ts_"));
            replayed.looked_at = made.map(str::to_string).or(input);
            let Some((k, answer)) = messages
                .iter()
                .enumerate()
                .skip(i + 1)
                .find(|(_, a)| a.get("tool_call_id").and_then(Value::as_str) == Some(id))
            else {
                out.push(replayed);
                continue;
            };
            let recorded = match answer.get("content") {
                Some(Value::String(s)) => serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.clone())),
                Some(other) => other.clone(),
                None => Value::Null,
            };
            replayed.outcome = if canonical(&recorded) == canonical(&now) {
                Outcome::Reproduced
            } else if let (Some(err), None) = (now.get("error"), recorded.get("error")) {
                Outcome::NowFails { result_message: k, error: err.as_str().unwrap_or("").to_string() }
            } else {
                Outcome::Differs { result_message: k, recorded, now }
            };
            out.push(replayed);
        }
    }
    Ok((ws, out))
}

/// What replaying found, one finding per call that did not reproduce.
pub fn verify(doc: &Value, root: &DataRoot) -> Vec<Diagnostic> {
    let calls = match replay(doc, root) {
        Ok((_, calls)) => calls,
        Err(d) => return vec![d],
    };
    let mut out = Vec::new();
    for c in calls {
        let (i, j, name, id) = (c.message, c.call, &c.name, &c.id);
        match c.outcome {
            Outcome::Reproduced | Outcome::NoResult => {}
            Outcome::Placeholder => out.push(Diagnostic::new(
                &rules::PLACEHOLDER_TOOL,
                format!("/messages/{i}/tool_calls/{j}/function/name"),
                format!("`{name}` was a placeholder of the original generator (random results): not replayed"),
            )),
            Outcome::NowFails { result_message, error } => out.push(Diagnostic::new(
                &rules::TOOL_CALL_FAILS,
                format!("/messages/{result_message}/content"),
                format!("call {j} of message {i} (`{name}`) now fails: {error}"),
            )),
            Outcome::Differs { result_message, recorded, now } => {
                let before = serde_json::to_string_pretty(&recorded).expect("values serialize");
                let after = serde_json::to_string_pretty(&now).expect("values serialize");
                let diff = similar::TextDiff::from_lines(&before, &after)
                    .unified_diff()
                    .context_radius(2)
                    .header("recorded", "replayed")
                    .to_string();
                out.push(Diagnostic::new(
                    &rules::TOOL_RESULT_DIFFERS,
                    format!("/messages/{result_message}/content"),
                    format!("the result of `{name}` (call {id:?}) differs when run again:\n{}", diff.trim_end()),
                ));
            }
        }
    }
    out
}
