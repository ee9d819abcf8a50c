//! Rendering results for people and machines. The only place that formats output;
//! commands hand it data and a writer.

pub mod human;
pub mod json;
pub mod page;
pub mod printer;
pub mod svg;

use std::collections::BTreeMap;

use crate::diagnostic::Severity;
use crate::findings::FileReport;

/// Characters that must never reach a terminal raw from data: C0 controls (ESC starts every
/// escape sequence: colours, clearing the screen, OSC 52 writing the clipboard), DEL, C1 controls
/// (U+009B is a one-character CSI on many terminals) and the bidirectional overrides and
/// isolates that make text display in another order than it reads (CVE-2021-42574).
fn is_unsafe(c: char, keep_lines: bool) -> bool {
    match c {
        '\n' | '\t' => !keep_lines,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' => true,
        '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => true,
        _ => false,
    }
}

/// Text from data (a thread, a label, a server's reply, a template's message) as printed for a
/// person: every unsafe character escaped as `\u{1b}`, never raw. `keep_lines` keeps newlines and
/// tabs (a transcript); without it they are escaped too (one line of a table or a path).
/// The one function every human output passes data through.
pub fn terminal_safe(text: &str, keep_lines: bool) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(|c| is_unsafe(c, keep_lines)) {
        return std::borrow::Cow::Borrowed(text);
    }
    text.chars()
        .map(|c| if is_unsafe(c, keep_lines) { c.escape_unicode().to_string() } else { c.to_string() })
        .collect::<String>()
        .into()
}

/// `terminal_safe` for a source snippet, keeping every byte offset: each unsafe character becomes
/// a visible one of the same UTF-8 length (`?`, `¿`, `�`), so spans computed on the text still fit.
pub fn terminal_safe_same_width(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(|c| is_unsafe(c, true)) {
        return std::borrow::Cow::Borrowed(text);
    }
    text.chars()
        .map(|c| match (is_unsafe(c, true), c.len_utf8()) {
            (false, _) => c,
            (true, 1) => '?',
            (true, 2) => '\u{bf}',
            (true, _) => '\u{fffd}',
        })
        .collect::<String>()
        .into()
}

/// A path as shown to a person: control characters in a file name (an escape sequence
/// could rewrite the terminal) are printed escaped, `\u{1b}`, never raw.
pub fn shown(path: &std::path::Path) -> String {
    terminal_safe(&path.display().to_string(), false).into_owned()
}

/// `1 thread`, `2 threads` (a leaf: the generator's messages and the commands' both use it): counts in messages agree with their nouns.
pub fn plural(n: usize, noun: &str) -> String {
    match noun.strip_suffix('y') {
        _ if n == 1 => format!("1 {noun}"),
        Some(stem) if !stem.ends_with(['a', 'e', 'o', 'u']) => format!("{n} {stem}ies"),
        _ => format!("{n} {noun}s"),
    }
}

#[cfg(test)]
mod safety_tests {
    use super::*;

    #[test]
    fn nothing_from_data_drives_the_terminal() {
        let hostile = "a\u{1b}]52;c;aGk=\u{7}b\u{9b}2J\u{202e}gnp.exe\r\u{7f}";
        for safe in [terminal_safe(hostile, true), terminal_safe(hostile, false), terminal_safe_same_width(hostile)] {
            assert!(!safe.chars().any(|c| is_unsafe(c, true)), "{safe:?}");
        }
        assert_eq!(terminal_safe("x\u{1b}[2J", true), "x\\u{1b}[2J");
        assert_eq!(terminal_safe("two\nlines\tok", true), "two\nlines\tok");
        assert_eq!(terminal_safe("two\nlines", false), "two\\u{a}lines");
        assert_eq!(terminal_safe_same_width(hostile).len(), hostile.len());
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Human,
    Json,
}

/// Totals over every record, as the summary line and the JSON report give them.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Totals {
    pub files: usize,
    pub valid: usize,
    pub invalid: usize,
    pub errors: usize,
    pub warnings: usize,
    /// Findings per rule code.
    pub by_rule: BTreeMap<&'static str, usize>,
    /// The severity a rule's findings had here (a rule can report at another severity than
    /// its own, as TK014 does in legacy threads): the highest seen.
    #[serde(skip)]
    pub rule_severity: BTreeMap<&'static str, Severity>,
    #[serde(skip)]
    pub fixable: usize,
    #[serde(skip)]
    pub paths: usize,
    /// What one record is called in the summary ("thread" when unset; "example" for training files).
    #[serde(skip)]
    pub noun: Option<&'static str>,
}

impl Totals {
    pub fn add(&mut self, file: &FileReport) {
        self.paths += 1;
        // Clean records were counted where they were read (only lines and array items are).
        self.files += file.clean;
        self.valid += file.clean;
        let has_lines = file.clean > 0 || file.records.iter().any(|r| r.record.is_some());
        for r in &file.records {
            // A JSONL file's finding about the whole file (not one of its lines) is no record of its own.
            let file_level = r.record.is_none() && has_lines;
            if !file_level {
                self.files += 1;
                if r.is_valid() {
                    self.valid += 1;
                } else {
                    self.invalid += 1;
                }
            }
            for d in &r.diagnostics {
                match d.severity {
                    Severity::Error => self.errors += 1,
                    Severity::Warning => self.warnings += 1,
                }
                self.fixable += usize::from(d.fix.is_some());
                *self.by_rule.entry(d.code()).or_default() += 1;
                let s = self.rule_severity.entry(d.code()).or_insert(d.severity);
                *s = (*s).max(d.severity);
            }
        }
    }
}
