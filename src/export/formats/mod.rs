//! One file per training format. Each implements `format::TrainingFormat`; the checks a
//! format's lines must pass live with the code that writes them.

pub mod axolotl;
pub mod llama_factory;
pub mod messages;
pub mod openai;
pub mod raw;
pub mod trl;

use std::collections::HashSet;

use serde_json::Value;

use crate::diagnostic::Diagnostic;
use crate::rules::TRAINING_TOOLS_MALFORMED;

impl crate::export::format::Profile {
    /// The format a profile names (defined here, beside the formats, so `format.rs` depends on none of them).
    pub fn format(self) -> &'static dyn crate::export::format::TrainingFormat {
        use crate::export::format::Profile;
        match self {
            Profile::Openai => &openai::Openai,
            Profile::Trl => &trl::Trl,
            Profile::Axolotl => &axolotl::Axolotl,
            Profile::LlamaFactory => &llama_factory::LlamaFactory,
            Profile::Raw => &raw::Raw,
        }
    }
}

/// Function names in an OpenAI-style `tools` list; reports malformed entries.
pub(crate) fn defined_functions<'a>(tools: &'a Value, at: &str, out: &mut Vec<Diagnostic>) -> HashSet<&'a str> {
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

#[cfg(test)]
pub(crate) mod test_support {
    use serde_json::{json, Value};

    use crate::conversation::{tool_definitions, Changes, Conversation};
    use crate::export::format::{Options, Profile};

    pub fn thread() -> Value {
        json!({"id": "t", "messages": [
            {"role": "user", "content": "Dataset Information:\n{}\n\nUser Query: what?"},
            {"role": "assistant", "content": "Look at the stats.", "tool_calls": [{"id": "call_t_turn_1", "type": "function",
                "function": {"name": "show_session_stats", "arguments": "{\"dataset_name\": \"d\"}"}}]},
            {"role": "tool", "tool_call_id": "call_t_turn_1", "name": "show_session_stats", "content": {"sessions": 3}},
            {"role": "assistant", "content": "Thinking aloud.", "tool_calls": null},
            {"role": "assistant", "content": "It walks.\n\nFinal Answer: walking"}
        ]})
    }

    pub fn render(profile: Profile, options: Options) -> Result<(Value, Changes), String> {
        let mut changes = Changes::new();
        let thread = thread();
        let conv = Conversation::of_thread(&thread, &mut changes).unwrap();
        let tools = tool_definitions(&conv, &mut changes);
        let ex = profile.format().render(&thread, &conv, &tools, &options, &mut changes)?;
        Ok((profile.format().with_tools(ex, &tools), changes))
    }

    pub fn codes(example: Value, profile: Profile) -> Vec<&'static str> {
        profile.format().check(&example).iter().map(|d| d.code()).collect()
    }

    pub fn tools() -> Value {
        json!([{"type": "function", "function": {"name": "f", "description": "", "parameters": {"type": "object"}}}])
    }

    pub fn good_openai() -> Value {
        json!({"messages": [
            {"role": "user", "content": "q"},
            {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "{}"},
            {"role": "assistant", "content": "done", "weight": 1}], "tools": tools()})
    }
}
