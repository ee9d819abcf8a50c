//! The machine-readable report. Its shape is a promise: keep it stable.

use serde::Serialize;

use super::Totals;
use crate::findings::FileReport;

#[derive(Serialize)]
struct Entry<'a> {
    path: String,
    record: Option<usize>,
    schema_version: Option<&'static str>,
    valid: bool,
    diagnostics: Vec<JsonDiagnostic<'a>>,
}

#[derive(Serialize)]
struct JsonDiagnostic<'a> {
    code: &'static str,
    name: &'static str,
    severity: &'static str,
    message: &'a str,
    pointer: &'a str,
    line: usize,
    column: usize,
    fixable: bool,
}

/// One `files` entry per record, serialized as it is produced so nothing is held.
/// A diagnostic's `line` is the file's line (a JSONL record's line is its record number).
pub fn entries(file: &FileReport) -> Vec<String> {
    render(file, true)
}

/// Entries for a batch of whole threads (the Python API): each record is a text of its own,
/// so a diagnostic's `line` is the line within that thread's text.
pub fn text_entries(file: &FileReport) -> Vec<String> {
    render(file, false)
}

fn render(file: &FileReport, records_are_lines: bool) -> Vec<String> {
    file.records
        .iter()
        .map(|r| {
            let entry = Entry {
                path: file.path.display().to_string(),
                record: r.record,
                schema_version: r.version.map(|v| v.as_str()),
                valid: r.is_valid(),
                diagnostics: r
                    .diagnostics
                    .iter()
                    .map(|d| {
                        let loc = d.location.unwrap_or_default();
                        JsonDiagnostic {
                            code: d.code(),
                            name: d.rule.name,
                            severity: d.severity.as_str(),
                            message: &d.message,
                            pointer: &d.pointer,
                            line: match r.record {
                                Some(line) if records_are_lines => line + loc.line.max(1) - 1,
                                _ => loc.line.max(1),
                            },
                            column: loc.column.max(1),
                            fixable: d.fix.is_some(),
                        }
                    })
                    .collect(),
            };
            crate::text::json_line(&entry)
        })
        .collect()
}

pub fn summary(totals: &Totals) -> String {
    crate::text::json_line(totals)
}
