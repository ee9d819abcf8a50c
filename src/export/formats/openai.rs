//! OpenAI chat fine-tuning: `messages` + `tools`, arguments as JSON strings, no nulls, only
//! the keys OpenAI's format has, at least 10 examples per file.

use serde_json::Value;

use super::messages::{self, Arguments, Rules, ToolsAs};
use crate::diagnostic::Diagnostic;
use crate::conversation::{note, Changes, Conversation, ToolSet, Turn};
use crate::export::format::{Options, Profile, TrainingFormat};

/// OpenAI's per-example token limit for current models (gpt-4o, gpt-4.1 families; 16,385 for gpt-3.5-turbo).
pub const MAX_TOKENS: usize = 65_536;

/// OpenAI rejects a training file with fewer examples.
pub const MIN_EXAMPLES: usize = 10;

const RULES: Rules = Rules { closed: true, strict_calls: true, arguments: Arguments::Text };

pub struct Openai;

/// What OpenAI's lines leave out of a conversation.
fn note_changes(c: &Conversation, changes: &mut Changes) {
    for turn in &c.turns {
        if matches!(turn, Turn::Tool { .. }) {
            note(changes, "tool message `name` removed (not in OpenAI's fine-tuning format)");
        }
    }
}

impl TrainingFormat for Openai {
    fn profile(&self) -> Profile {
        Profile::Openai
    }

    fn render(&self, _: &Value, c: &Conversation, _: &ToolSet, _: &Options, changes: &mut Changes) -> Result<Value, String> {
        note_changes(c, changes);
        Ok(messages::render(c, RULES))
    }

    fn direct_line(&self, c: &Conversation, tools: &ToolSet, changes: &mut Changes) -> Option<Result<Vec<u8>, Diagnostic>> {
        note_changes(c, changes);
        Some(messages::direct_line(c, tools, RULES, RULES, ToolsAs::List))
    }

    fn with_tools(&self, example: Value, tools: &ToolSet) -> Value {
        messages::with_tools(example, tools, ToolsAs::List)
    }

    fn check(&self, example: &Value) -> Vec<Diagnostic> {
        messages::check(example, RULES)
    }

    fn check_example(&self, example: &Value, tools: &ToolSet) -> Vec<Diagnostic> {
        messages::check_example(example, tools, RULES)
    }

    fn line(&self, example: &Value, tools: &ToolSet) -> Vec<u8> {
        messages::line(example, tools, ToolsAs::List)
    }

    fn default_max_tokens(&self) -> Option<usize> {
        Some(MAX_TOKENS)
    }

    fn min_examples(&self) -> usize {
        MIN_EXAMPLES
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use crate::export::format::{Options, Profile};
    use crate::export::formats::test_support::{codes, good_openai, render};

    #[test]
    fn strings_and_no_nulls() {
        let (ex, changes) = render(Profile::Openai, Options::default()).unwrap();
        let m = &ex["messages"];
        assert_eq!(m[1]["tool_calls"][0]["function"]["arguments"], "{\"dataset_name\": \"d\"}");
        assert_eq!(m[2]["content"], "{\"sessions\": 3}");
        assert!(m[2].get("name").is_none());
        assert!(m[3].get("tool_calls").is_none());
        assert_eq!(changes["assistant `tool_calls: null` removed"], 1);
        assert_eq!(changes["tool result object serialized to a JSON string"], 1);
    }

    #[test]
    fn each_rule_fires() {
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
    fn pointers_escape_keys() {
        let mut e = good_openai();
        e["messages"][0]["a/b~c"] = json!(1);
        let d = Profile::Openai.format().check(&e);
        assert_eq!(d[0].pointer, "/messages/0/a~1b~0c");
    }
}
