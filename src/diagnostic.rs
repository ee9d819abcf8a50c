//! Findings as data: what a check says about one record, before anyone renders it.

use serde::Serialize;
use serde_json::Value;

use crate::rules::Rule;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// One change to a JSON document. Fixes are expressed as edits on the parsed
/// value (addressed by JSON Pointer) so that applying them never has to reason
/// about the file's bytes.
#[derive(Debug, Clone, PartialEq)]
pub enum Edit {
    Set { pointer: String, value: Value },
    Remove { pointer: String },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Fix {
    pub title: String,
    pub edits: Vec<Edit>,
}

/// Where a finding sits in the source: byte range for the snippet, and the
/// 1-based line and column (in characters) that editors and reports use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Location {
    pub offset: usize,
    pub len: usize,
    pub line: usize,
    pub column: usize,
}

#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub rule: &'static Rule,
    pub severity: Severity,
    pub message: String,
    /// JSON Pointer into the record; empty for the whole document.
    pub pointer: String,
    /// A short label drawn under the span in the snippet.
    pub label: Option<String>,
    pub fix: Option<Fix>,
    /// Resolved lazily: only records with findings pay for span lookup.
    pub location: Option<Location>,
}

impl Diagnostic {
    pub fn new(rule: &'static Rule, pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic {
            rule,
            severity: rule.severity,
            message: message.into(),
            pointer: pointer.into(),
            label: None,
            fix: None,
            location: None,
        }
    }

    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// Attach a fix. The rule's fix title is used so that `threadkit rules`
    /// and the diagnostics always describe a fix the same way.
    pub fn with_fix(mut self, edits: Vec<Edit>) -> Self {
        let title = self.rule.fix.unwrap_or("apply the suggested change").to_string();
        self.fix = Some(Fix { title, edits });
        self
    }

    pub fn at(mut self, location: Location) -> Self {
        self.location = Some(location);
        self
    }

    pub fn code(&self) -> &'static str {
        self.rule.code
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// `Value::pointer` without its per-token allocations: rules look fields up for every
/// thread, and unescaping is only needed for the rare token that contains `~`.
pub fn lookup<'a>(value: &'a Value, pointer: &str) -> Option<&'a Value> {
    if pointer.is_empty() {
        return Some(value);
    }
    let mut current = value;
    for token in pointer.strip_prefix('/')?.split('/') {
        let owned;
        let token = if token.contains('~') {
            owned = token.replace("~1", "/").replace("~0", "~");
            owned.as_str()
        } else {
            token
        };
        current = match current {
            Value::Object(map) => map.get(token)?,
            Value::Array(items) => items.get(token.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(current)
}

/// Escape one JSON Pointer reference token (RFC 6901).
pub fn escape_token(token: &str) -> std::borrow::Cow<'_, str> {
    if token.contains(['~', '/']) {
        token.replace('~', "~0").replace('/', "~1").into()
    } else {
        token.into()
    }
}

/// Build a pointer from tokens: `pointer(&["messages", "3", "content"])`.
pub fn pointer<I, S>(tokens: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut out = String::new();
    for t in tokens {
        out.push('/');
        out.push_str(&escape_token(t.as_ref()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_matches_value_pointer() {
        let v = serde_json::json!({"a": [{"b/c": 1, "d~e": 2}], "": 3});
        for p in ["", "/a", "/a/0", "/a/0/b~1c", "/a/0/d~0e", "/a/1", "/x", "/", "/a/-1", "a"] {
            assert_eq!(lookup(&v, p), v.pointer(p), "{p}");
        }
    }

    #[test]
    fn pointers_escape_slash_and_tilde() {
        assert_eq!(pointer(["a/b", "c~d", "0"]), "/a~1b/c~0d/0");
        assert_eq!(pointer(Vec::<&str>::new()), "");
    }
}
