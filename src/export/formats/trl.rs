//! TRL / transformers: `messages` + `tools` as `apply_chat_template` takes them, arguments
//! as objects (templates apply `tojson`), every content a string.

use serde_json::Value;

use super::messages::{self, Arguments, Rules, ToolsAs};
use crate::diagnostic::Diagnostic;
use crate::conversation::{Changes, Conversation, ToolSet};
use crate::export::format::{Options, Profile, TrainingFormat};

pub(super) const RULES: Rules = Rules { closed: false, strict_calls: false, arguments: Arguments::Object };

pub struct Trl;

impl TrainingFormat for Trl {
    fn profile(&self) -> Profile {
        Profile::Trl
    }

    fn render(&self, _: &Value, c: &Conversation, _: &ToolSet, _: &Options, _: &mut Changes) -> Result<Value, String> {
        Ok(messages::render(c, RULES))
    }

    fn direct_line(&self, c: &Conversation, tools: &ToolSet, _: &mut Changes) -> Option<Result<Vec<u8>, Diagnostic>> {
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

    fn templated(&self) -> bool {
        true
    }

    /// `datasets` < 5.0 unifies the `arguments` objects of all calls into one struct type and
    /// pads each with the other tools' keys set to null (measured: 10 of 10 calls changed with
    /// 4.0–4.4, none with 5.0); 5.0 loads them as its `Json` type, unchanged.
    fn requires(&self) -> Vec<(&'static str, &'static str)> {
        vec![("datasets", ">=5.0.0")]
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::export::format::{Options, Profile};
    use crate::export::formats::test_support::{codes, good_openai, render};

    #[test]
    fn arguments_are_objects() {
        let (ex, _) = render(Profile::Trl, Options::default()).unwrap();
        assert_eq!(ex["messages"][1]["tool_calls"][0]["function"]["arguments"], json!({"dataset_name": "d"}));
        assert!(ex["messages"].as_array().unwrap().iter().all(|m| m["content"].is_string()));
    }

    #[test]
    fn wants_object_arguments_and_string_content() {
        let mut e = good_openai();
        // An assistant that only calls a tool may leave `content` out: TRL's own docs write it so.
        assert_eq!(codes(e.clone(), Profile::Trl), ["TK704"]);
        e["messages"][2]["content"] = json!({"not": "a string"});
        assert_eq!(codes(e.clone(), Profile::Trl), ["TK704", "TK702"]);
        e["messages"][2]["content"] = json!("{}");
        e["messages"][1]["tool_calls"][0]["function"]["arguments"] = json!({});
        assert!(codes(e, Profile::Trl).is_empty());
    }
}
