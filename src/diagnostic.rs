//! Findings as data: what a check says about one record, before anyone renders it.

use serde::Serialize;
use serde_json::Value;


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

/// A check threadkit can report, with a stable code. Declared here, beside what a check reports,
/// so that findings need nothing from the registry (`rules/registry.rs` declares every rule with
/// `rule!` and lists them in `ALL`).
#[derive(Debug)]
pub struct Rule {
    pub code: &'static str,
    pub name: &'static str,
    pub severity: Severity,
    /// One line, shown by `threadkit rules`.
    pub summary: &'static str,
    /// What / Why / Example, shown by `threadkit rules CODE`.
    pub explanation: &'static str,
    /// Title of the automatic fix, when one is safe.
    pub fix: Option<&'static str>,
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
    /// Bytes `(start, len)` inside the string at `pointer` (its decoded text): the number, the
    /// sentence or the word the finding is about, rather than the whole string.
    pub within: Option<(usize, usize)>,
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
            within: None,
        }
    }

    /// Point at bytes `start..start + len` of the decoded string at the pointer.
    pub fn within(mut self, start: usize, len: usize) -> Self {
        self.within = Some((start, len));
        self
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
