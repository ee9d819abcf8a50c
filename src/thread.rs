//! The typed view of a thread: the same questions answered for every version,
//! so that rules, statistics and commands never re-learn each format's keys.

use serde_json::Value;

use crate::json::lookup;

use crate::version::Version;

pub const MANIFEST_PREFIX: &str = "Dataset Information:\n";
pub const QUERY_SEPARATOR: &str = "\n\nUser Query: ";
pub const FINAL_ANSWER_MARKER: &str = "Final Answer:";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Active,
    Finished,
    MaxTurnsReached,
}

impl Status {
    pub fn parse(s: &str) -> Option<Status> {
        match s {
            "active" => Some(Status::Active),
            "finished" => Some(Status::Finished),
            "max_turns_reached" => Some(Status::MaxTurnsReached),
            _ => None,
        }
    }

    /// The statuses an export keeps, as `--status` and the Python API name them: `None` for
    /// every thread (`all` among the names); `Err` the first name that is no status.
    pub fn filter(names: &[String]) -> Result<Option<Vec<String>>, &str> {
        if names.iter().any(|s| s == "all") {
            return Ok(None);
        }
        match names.iter().find(|s| Status::parse(s).is_none()) {
            Some(bad) => Err(bad),
            None => Ok(Some(names.to_vec())),
        }
    }
}

/// Borrowed, version-independent access to a thread document. Every accessor
/// tolerates a malformed document (it returns `None`) because rules run on
/// files that may also fail their schema.
#[derive(Debug, Clone, Copy)]
pub struct ThreadView<'a> {
    pub doc: &'a Value,
    pub version: Version,
}

/// Where each common field lives, per version.
struct Keys {
    id: &'static str,
    dataset: &'static str,
    session: &'static str,
    ground_truth: &'static str,
    status: &'static str,
    created_at: &'static str,
    last_modified: &'static str,
    final_answer: &'static str,
    confidence: &'static str,
    is_correct: &'static str,
    user_query: &'static str,
}

const V1_KEYS: Keys = Keys {
    id: "/id",
    dataset: "/metadata/dataset",
    session: "/metadata/session",
    ground_truth: "/metadata/ground_truth",
    status: "/metadata/status",
    created_at: "/metadata/created_at",
    last_modified: "/metadata/last_modified",
    final_answer: "/metadata/final_answer",
    confidence: "/metadata/confidence",
    is_correct: "/metadata/is_correct",
    user_query: "/metadata/user_query",
};

const V3_KEYS: Keys = Keys {
    id: "/thread_id",
    dataset: "/dataset_name",
    session: "/session_id",
    ground_truth: "/ground_truth_label",
    status: "/status",
    created_at: "/created_at",
    last_modified: "/last_modified",
    final_answer: "/final_answer",
    confidence: "/confidence",
    is_correct: "/is_correct",
    user_query: "/initial_context/user_query",
};

const V2_KEYS: Keys = Keys { id: "/conversation_id", final_answer: "/final_classification", ..V3_KEYS };

impl<'a> ThreadView<'a> {
    pub fn new(doc: &'a Value, version: Version) -> Self {
        ThreadView { doc, version }
    }

    fn keys(&self) -> &'static Keys {
        match self.version {
            Version::OpenAiV1 => &V1_KEYS,
            Version::V3 => &V3_KEYS,
            Version::V2 => &V2_KEYS,
        }
    }

    fn str_at(&self, pointer: &str) -> Option<&'a str> {
        lookup(self.doc, pointer).and_then(Value::as_str)
    }

    pub fn id_pointer(&self) -> &'static str {
        self.keys().id
    }
    pub fn id(&self) -> Option<&'a str> {
        self.str_at(self.keys().id)
    }
    pub fn dataset(&self) -> Option<&'a str> {
        self.str_at(self.keys().dataset)
    }
    pub fn dataset_pointer(&self) -> &'static str {
        self.keys().dataset
    }
    pub fn session(&self) -> Option<&'a str> {
        self.str_at(self.keys().session)
    }
    pub fn session_pointer(&self) -> &'static str {
        self.keys().session
    }
    pub fn ground_truth(&self) -> Option<&'a str> {
        self.str_at(self.keys().ground_truth)
    }
    pub fn ground_truth_pointer(&self) -> &'static str {
        self.keys().ground_truth
    }
    pub fn status_str(&self) -> Option<&'a str> {
        self.str_at(self.keys().status)
    }
    pub fn status(&self) -> Option<Status> {
        self.status_str().and_then(Status::parse)
    }
    pub fn created_at_pointer(&self) -> &'static str {
        self.keys().created_at
    }
    pub fn last_modified_pointer(&self) -> &'static str {
        self.keys().last_modified
    }
    pub fn final_answer(&self) -> Option<&'a str> {
        self.str_at(self.keys().final_answer)
    }
    pub fn final_answer_pointer(&self) -> &'static str {
        self.keys().final_answer
    }
    pub fn confidence(&self) -> Option<&'a str> {
        self.str_at(self.keys().confidence)
    }
    pub fn confidence_pointer(&self) -> &'static str {
        self.keys().confidence
    }
    pub fn is_correct(&self) -> Option<bool> {
        lookup(self.doc, self.keys().is_correct).and_then(Value::as_bool)
    }
    pub fn is_correct_pointer(&self) -> &'static str {
        self.keys().is_correct
    }
    pub fn user_query(&self) -> Option<&'a str> {
        self.str_at(self.keys().user_query)
    }
    pub fn user_query_pointer(&self) -> &'static str {
        self.keys().user_query
    }
    /// The object that holds the lifecycle fields (`/metadata` or the root).
    pub fn fields_pointer(&self) -> &'static str {
        match self.version {
            Version::OpenAiV1 => "/metadata",
            _ => "",
        }
    }

    pub fn messages(&self) -> &'a [Value] {
        self.doc.get("messages").and_then(Value::as_array).map_or(&[], Vec::as_slice)
    }

    pub fn turns(&self) -> &'a [Value] {
        self.doc.get("conversation").and_then(Value::as_array).map_or(&[], Vec::as_slice)
    }

    /// Names of every tool called, in order.
    pub fn tool_names(&self) -> Vec<&'a str> {
        match self.version {
            Version::OpenAiV1 => self
                .messages()
                .iter()
                .filter_map(|m| m.get("tool_calls").and_then(Value::as_array))
                .flatten()
                .filter_map(|c| lookup(c, "/function/name").and_then(Value::as_str))
                .collect(),
            _ => {
                self.turns().iter().filter_map(|t| lookup(t, "/tool_call/tool_name").and_then(Value::as_str)).collect()
            }
        }
    }

    /// Every tool result as (tool name, whether it is an error): tools answer failures
    /// with `{"error": …}`, which a JSON string result may also hold.
    pub fn tool_results(&self) -> Vec<(&'a str, bool)> {
        fn is_error(v: &Value) -> bool {
            match v {
                Value::Object(o) => o.contains_key("error"),
                Value::String(s) => s.trim_start().starts_with('{')
                    && serde_json::from_str::<Value>(s).is_ok_and(|v| v.get("error").is_some()),
                _ => false,
            }
        }
        match self.version {
            Version::OpenAiV1 => self
                .messages()
                .iter()
                .filter(|m| m.get("role").and_then(Value::as_str) == Some("tool"))
                .map(|m| {
                    let name = m.get("name").and_then(Value::as_str).unwrap_or("(unnamed)");
                    (name, m.get("content").is_some_and(is_error))
                })
                .collect(),
            _ => self
                .turns()
                .iter()
                .filter_map(|t| {
                    let result = t.get("tool_result")?;
                    let name = lookup(t, "/tool_call/tool_name").and_then(Value::as_str).unwrap_or("(unnamed)");
                    Some((name, is_error(result)))
                })
                .collect(),
        }
    }

    /// Turn count as the formats define it (see `counts`).
    pub fn num_turns(&self) -> usize {
        self.counts().turns
    }

    pub fn counts(&self) -> Counts {
        match self.version {
            Version::OpenAiV1 => Counts::of_messages(self.messages(), self.status() == Some(Status::Finished)),
            _ => {
                let turns = self.turns();
                let tool_calls = turns
                    .iter()
                    .filter(|t| match t.get("action").and_then(Value::as_str) {
                        Some(a) => a == "use_tool",
                        None => t.get("tool_call").is_some(),
                    })
                    .count();
                Counts { turns: turns.len(), tool_calls, responds: turns.len() - tool_calls }
            }
        }
    }

    /// The first user message of an `openai_v1` thread, split into manifest text and query.
    pub fn first_user_message(&self) -> Option<(usize, &'a Value)> {
        let messages = self.messages();
        let first = usize::from(messages.first().and_then(|m| m.get("role")).and_then(Value::as_str) == Some("system"));
        messages.get(first).map(|m| (first, m))
    }

    /// The manifest the model was shown: from the first message, or `initial_context.manifest` (v3).
    pub fn shown_manifest(&self) -> Option<Value> {
        match self.version {
            Version::OpenAiV1 => {
                let (_, m) = self.first_user_message()?;
                let layout = FirstMessage::parse(m.get("content")?.as_str()?)?;
                layout.manifest().ok()
            }
            _ => lookup(self.doc, "/initial_context/manifest").cloned(),
        }
    }
}

/// Derived counts, as `metadata` is supposed to record them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    pub turns: usize,
    pub tool_calls: usize,
    pub responds: usize,
}

impl Counts {
    pub fn of_messages(messages: &[Value], finished: bool) -> Counts {
        let mut c = Counts::default();
        let mut last_assistant_plain = false;
        for m in messages {
            let role = m.get("role").and_then(Value::as_str);
            match role {
                Some("assistant") => {
                    c.turns += 1;
                    if calls_tool(m) {
                        c.tool_calls += 1;
                        last_assistant_plain = false;
                    } else {
                        c.responds += 1;
                        last_assistant_plain = true;
                    }
                }
                Some("tool") => {
                    c.turns += 1;
                    last_assistant_plain = false;
                }
                _ => last_assistant_plain = false,
            }
        }
        if finished && last_assistant_plain {
            c.responds -= 1;
        }
        c
    }
}

pub fn calls_tool(message: &Value) -> bool {
    message.get("tool_calls").and_then(Value::as_array).is_some_and(|c| !c.is_empty())
}

/// The generator's first user message: `Dataset Information:\n<manifest>\n\nUser Query: <query>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FirstMessage<'a> {
    pub manifest_text: &'a str,
    pub query: &'a str,
}

impl<'a> FirstMessage<'a> {
    pub fn parse(content: &'a str) -> Option<FirstMessage<'a>> {
        let rest = content.strip_prefix(MANIFEST_PREFIX)?;
        let sep = rest.rfind(QUERY_SEPARATOR)?;
        Some(FirstMessage { manifest_text: &rest[..sep], query: &rest[sep + QUERY_SEPARATOR.len()..] })
    }

    pub fn manifest(&self) -> Result<Value, serde_json::Error> {
        serde_json::from_str(self.manifest_text)
    }

    pub fn build(manifest: &Value, query: &str) -> String {
        format!("{MANIFEST_PREFIX}{}{QUERY_SEPARATOR}{query}", crate::pyjson::dumps_pretty(manifest))
    }
}

/// The answer after the last `Final Answer:` marker of a final message, if any.
pub fn final_answer_in_text(text: &str) -> Option<&str> {
    let at = text.rfind(FINAL_ANSWER_MARKER)?;
    // The answer is the rest of the message: the generator writes it last.
    Some(text[at + FINAL_ANSWER_MARKER.len()..].trim())
}

/// Answers are compared as the old generator did: ignoring case and white space runs.
pub fn normalize_label(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

pub fn same_label(a: &str, b: &str) -> bool {
    normalize_label(a) == normalize_label(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn counts_follow_the_format_definition() {
        let messages = vec![
            json!({"role": "user", "content": "q"}),
            json!({"role": "assistant", "content": "r", "tool_calls": [{"id": "1"}]}),
            json!({"role": "tool", "tool_call_id": "1", "content": "{}"}),
            json!({"role": "assistant", "content": "thinking", "tool_calls": null}),
            json!({"role": "assistant", "content": "Final Answer: walking"}),
        ];
        assert_eq!(Counts::of_messages(&messages, true), Counts { turns: 4, tool_calls: 1, responds: 1 });
        assert_eq!(Counts::of_messages(&messages, false), Counts { turns: 4, tool_calls: 1, responds: 2 });
    }

    #[test]
    fn first_message_round_trip() {
        let manifest = json!({"dataset_name": "UCI HAR", "channels": [{"name": "x", "sampling_rate_hz": 50.0}]});
        let text = FirstMessage::build(&manifest, "What is happening?");
        let parsed = FirstMessage::parse(&text).unwrap();
        assert_eq!(parsed.query, "What is happening?");
        assert_eq!(parsed.manifest().unwrap(), manifest);
    }

    #[test]
    fn final_answer_extraction_and_comparison() {
        assert_eq!(final_answer_in_text("because...\n\nFinal Answer:  Walking \n"), Some("Walking"));
        assert_eq!(final_answer_in_text("no marker"), None);
        assert!(same_label(" Walking  Upstairs", "walking upstairs"));
        assert!(!same_label("walking", "running"));
    }
}
