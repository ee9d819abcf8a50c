//! The JSON Schemas, embedded in the binary and compiled once per process.

use std::sync::OnceLock;

use jsonschema::{error::ValidationErrorKind, Validator};
use serde_json::Value;

use crate::diagnostic::Diagnostic;
use crate::json::escape_token;
use crate::rules;
use crate::version::Version;

/// A schema shipped with threadkit: its name for `threadkit schema NAME` and its text.
pub struct Embedded {
    pub name: &'static str,
    pub file: &'static str,
    pub text: &'static str,
}

pub static SCHEMAS: &[Embedded] = &[
    Embedded {
        name: "thread.openai_v1",
        file: "thread.openai_v1.schema.json",
        text: include_str!("../schemas/thread.openai_v1.schema.json"),
    },
    Embedded {
        name: "thread.v3",
        file: "thread.v3.schema.json",
        text: include_str!("../schemas/thread.v3.schema.json"),
    },
    Embedded {
        name: "dataset.manifest",
        file: "dataset.manifest.schema.json",
        text: include_str!("../schemas/dataset.manifest.schema.json"),
    },
    Embedded {
        name: "dataset.labels",
        file: "dataset.labels.schema.json",
        text: include_str!("../schemas/dataset.labels.schema.json"),
    },
];

/// Find a schema by name (`thread.v3`), file name, or a loose alias (`openai_v1`, `v3`, `manifest`).
pub fn find(name: &str) -> Option<&'static Embedded> {
    let n = name.trim().to_ascii_lowercase();
    let n = n.strip_suffix(".schema.json").unwrap_or(&n);
    SCHEMAS
        .iter()
        .find(|s| s.name == n || s.name.rsplit('.').next() == Some(n) || s.name.strip_prefix("thread.") == Some(n))
}

fn compile(text: &str) -> Validator {
    let schema: Value = serde_json::from_str(text).expect("embedded schemas are valid JSON (tested)");
    jsonschema::draft202012::new(&schema).expect("embedded schemas compile (tested)")
}

macro_rules! compiled {
    ($fn:ident, $idx:expr) => {
        pub fn $fn() -> &'static Validator {
            static V: OnceLock<Validator> = OnceLock::new();
            V.get_or_init(|| compile(SCHEMAS[$idx].text))
        }
    };
}
compiled!(openai_v1, 0);
compiled!(v3, 1);
compiled!(manifest, 2);
compiled!(labels, 3);

/// The validator for a thread version; `2.0` has no schema (it is reported as legacy instead).
pub fn for_version(version: Version) -> Option<&'static Validator> {
    match version {
        Version::OpenAiV1 => Some(openai_v1()),
        Version::V3 => Some(v3()),
        Version::V2 => None,
    }
}

/// Validate and turn every schema error into a diagnostic.
/// `is_valid` first: almost every file is valid and that path allocates nothing.
pub fn check(validator: &Validator, doc: &Value) -> Vec<Diagnostic> {
    if validator.is_valid(doc) {
        return Vec::new();
    }
    validator.iter_errors(doc).map(|e| to_diagnostic(&e)).collect()
}

fn to_diagnostic(error: &jsonschema::ValidationError<'_>) -> Diagnostic {
    let at = error.instance_path().as_str().to_string();
    let (pointer, message, label) = match error.kind() {
        // Point at the offending key itself rather than at the whole object.
        ValidationErrorKind::AdditionalProperties { unexpected } if unexpected.len() == 1 => {
            let key = &unexpected[0];
            (
                format!("{at}/{}", escape_token(key)),
                format!("unexpected key {key:?} {}", where_(&at)),
                "not allowed here".to_string(),
            )
        }
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().map_or_else(|| property.to_string(), |s| format!("{s:?}"));
            (at.clone(), format!("missing required key {name} {}", where_(&at)), "this object".to_string())
        }
        _ => {
            let msg = error.masked().to_string();
            (at.clone(), format!("{} {}", msg, where_(&at)), String::new())
        }
    };
    let mut d = Diagnostic::new(&rules::SCHEMA, pointer, message);
    if !label.is_empty() {
        d = d.with_label(label);
    }
    d
}

fn where_(pointer: &str) -> String {
    if pointer.is_empty() {
        "at the document root".to_string()
    } else {
        format!("at {pointer}")
    }
}

/// A validator's findings on `value` in words a model (or a person) can act on:
/// "<problem> (at <pointer>)", at most `limit` of them.
pub fn problems(validator: &jsonschema::Validator, value: &serde_json::Value, limit: usize) -> Vec<String> {
    validator
        .iter_errors(value)
        .take(limit)
        .map(|e| {
            let at = e.instance_path().as_str().to_string();
            format!("{}{}", e.masked(), if at.is_empty() { String::new() } else { format!(" (at {at})") })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_embedded_schema_compiles_and_is_draft_2020_12() {
        for s in SCHEMAS {
            let v: Value = serde_json::from_str(s.text).unwrap();
            assert_eq!(v["$schema"], "https://json-schema.org/draft/2020-12/schema", "{}", s.name);
            assert!(jsonschema::meta::is_valid(&v), "{} is not a valid schema", s.name);
            compile(s.text);
        }
    }

    #[test]
    fn names_and_aliases() {
        assert_eq!(find("openai_v1").unwrap().name, "thread.openai_v1");
        assert_eq!(find("thread.v3.schema.json").unwrap().name, "thread.v3");
        assert_eq!(find("manifest").unwrap().name, "dataset.manifest");
        assert_eq!(find("labels").unwrap().name, "dataset.labels");
        assert!(find("nope").is_none());
    }

    #[test]
    fn unexpected_key_points_at_the_key() {
        let d = check(openai_v1(), &json!({"id": "x", "messages": [], "metadata": {}, "extra": 1}));
        assert!(d.iter().any(|d| d.pointer == "/extra" && d.message.contains("unexpected key")), "{d:?}");
    }

    #[test]
    fn extra_metadata_keys_pass() {
        let doc = json!({"id": "x", "messages": [{"role": "user", "content": "q"}], "metadata": {
            "dataset": "d", "session": "s", "ground_truth": "g", "status": "active", "num_turns": 0,
            "num_tool_calls": 0, "user_query": "q", "schema_version": "openai_v1",
            "created_at": "2025-01-01T00:00:00+00:00", "gemini_model": "x", "query_temperature": 0.9}});
        assert!(check(openai_v1(), &doc).is_empty());
    }
}
