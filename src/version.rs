//! Version detection: which thread format a parsed document is, from its shape
//! and its declared `schema_version`, and whether the two agree.

use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Version {
    OpenAiV1,
    V3,
    V2,
}

impl Version {
    /// The `schema_version` string this format declares.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::OpenAiV1 => "openai_v1",
            Version::V3 => "3.0",
            Version::V2 => "2.0",
        }
    }

    pub fn from_declared(s: &str) -> Option<Version> {
        match s.trim() {
            "openai_v1" => Some(Version::OpenAiV1),
            "3.0" | "3" => Some(Version::V3),
            "2.0" | "2" => Some(Version::V2),
            _ => None,
        }
    }

    pub fn is_legacy(self) -> bool {
        self != Version::OpenAiV1
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detection {
    /// The version the document is validated as; `None` when nothing fits.
    pub version: Option<Version>,
    /// The version its keys say it is.
    pub shape: Option<Version>,
    /// What `schema_version` says, verbatim, and where it was found.
    pub declared: Option<(String, &'static str)>,
}

impl Detection {
    /// A message for the case where shape and declaration disagree.
    pub fn mismatch(&self) -> Option<String> {
        let (declared, pointer) = self.declared.as_ref()?;
        let shape = self.shape?;
        match Version::from_declared(declared) {
            Some(v) if v == shape => None,
            _ => Some(format!(
                "`{pointer}` says {declared:?}, but the keys are those of a `{}` thread; validating it as `{}`",
                shape.as_str(),
                shape.as_str()
            )),
        }
    }
}

pub fn detect(doc: &Value) -> Detection {
    let Some(obj) = doc.as_object() else {
        return Detection { version: None, shape: None, declared: None };
    };
    let declared = obj
        .get("metadata")
        .and_then(|m| m.get("schema_version"))
        .and_then(Value::as_str)
        .map(|s| (s.to_string(), "/metadata/schema_version"))
        .or_else(|| {
            obj.get("schema_version").map(|v| {
                let s = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (s, "/schema_version")
            })
        });

    let shape = if obj.contains_key("messages") {
        Some(Version::OpenAiV1)
    } else if obj.contains_key("conversation") {
        let v2_keys = obj.contains_key("conversation_id") || obj.contains_key("final_classification");
        let has_actions = obj
            .get("conversation")
            .and_then(Value::as_array)
            .is_some_and(|turns| turns.iter().any(|t| t.get("action").is_some()));
        if obj.contains_key("thread_id") || (has_actions && !v2_keys) {
            Some(Version::V3)
        } else {
            Some(Version::V2)
        }
    } else {
        None
    };

    // The shape wins; a bare declaration still lets the schema explain what is missing.
    let version = shape.or_else(|| declared.as_ref().and_then(|(d, _)| Version::from_declared(d)));
    Detection { version, shape, declared }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn openai_shape() {
        let d = detect(&json!({"id": "a", "messages": [], "metadata": {"schema_version": "openai_v1"}}));
        assert_eq!(d.version, Some(Version::OpenAiV1));
        assert_eq!(d.mismatch(), None);
    }

    #[test]
    fn v3_and_v2_shapes() {
        let v3 = detect(&json!({"thread_id": "a", "schema_version": "3.0", "conversation": []}));
        assert_eq!(v3.version, Some(Version::V3));
        let v2 = detect(&json!({"conversation_id": "a", "conversation": [{"turn": 1}]}));
        assert_eq!(v2.version, Some(Version::V2));
    }

    #[test]
    fn declared_version_disagreeing_with_shape_is_reported() {
        let d = detect(&json!({"id": "a", "messages": [], "metadata": {"schema_version": "3.0"}}));
        assert_eq!(d.version, Some(Version::OpenAiV1));
        assert!(d.mismatch().unwrap().contains("openai_v1"));
    }

    #[test]
    fn declaration_alone_picks_the_schema() {
        let d = detect(&json!({"schema_version": "3.0"}));
        assert_eq!(d.version, Some(Version::V3));
        assert_eq!(d.shape, None);
        assert_eq!(d.mismatch(), None);
    }

    #[test]
    fn unknown() {
        assert_eq!(detect(&json!([1, 2])).version, None);
        assert_eq!(detect(&json!({"a": 1})).version, None);
    }
}
