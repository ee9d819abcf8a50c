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
pub fn entries(file: &FileReport) -> Vec<String> {
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
                            line: r.record.map_or(loc.line.max(1), |line| line + loc.line.max(1) - 1),
                            column: loc.column.max(1),
                            fixable: d.fix.is_some(),
                        }
                    })
                    .collect(),
            };
            serde_json::to_string(&entry).expect("report entries serialize")
        })
        .collect()
}

pub fn summary(totals: &Totals) -> String {
    serde_json::to_string(totals).expect("totals serialize")
}
