//! The report for people: every finding as a miette snippet, grouped by file, then a summary.

use std::fmt::Write as _;
use std::sync::Arc;

use miette::{
    GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteDiagnostic, MietteError, MietteSpanContents, Report,
    SourceCode, SourceSpan, SpanContents,
};

use super::Totals;
use crate::diagnostic::{Diagnostic, Severity};
use crate::rules;
use crate::validate::{FileReport, RecordReport};

pub struct Renderer {
    handler: GraphicalReportHandler,
    color: bool,
}

impl Renderer {
    pub fn new(color: bool) -> Self {
        let theme = if color { GraphicalTheme::unicode() } else { GraphicalTheme::unicode_nocolor() };
        let handler = GraphicalReportHandler::new_themed(theme).with_width(100).with_context_lines(1);
        Renderer { handler, color }
    }

    fn bold(&self, s: &str) -> String {
        if self.color {
            format!("\x1b[1m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }

    /// Everything to say about one file; empty when it is clean.
    pub fn file(&self, file: &FileReport) -> String {
        let mut out = String::new();
        for r in file.records.iter().filter(|r| !r.diagnostics.is_empty()) {
            let name = match r.record {
                Some(line) => format!("{}:{line}", file.path.display()),
                None => file.path.display().to_string(),
            };
            let _ = writeln!(out, "{}", self.bold(&name));
            for d in &r.diagnostics {
                out.push_str(&self.diagnostic(&file.path.display().to_string(), r, d));
            }
        }
        out
    }

    fn diagnostic(&self, path: &str, record: &RecordReport, d: &Diagnostic) -> String {
        let severity = match d.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        };
        let mut diag = MietteDiagnostic::new(d.message.clone()).with_code(format!("{}({})", d.code(), d.rule.name)).with_severity(severity);
        if let Some(fix) = &d.fix {
            diag = diag.with_help(format!("fix: {} (safe; apply with --fix)", fix.title));
        }
        let mut out = String::new();
        let rendered = match (&record.text, d.location) {
            (Some(text), Some(loc)) => {
                diag = diag.with_label(LabeledSpan::new(d.label.clone(), loc.offset.min(text.len()), loc.len));
                let source = RecordSource { name: path.to_string(), text: text.clone(), line_offset: record.record.map_or(0, |l| l - 1) };
                let report = Report::new(diag).with_source_code(source);
                self.handler.render_report(&mut out, report.as_ref())
            }
            _ => {
                // No text to show (the file could not be read): name the place in words.
                let line = record.record.map_or(String::new(), |l| format!(":{l}"));
                let report = Report::new(diag.with_url(format!("{path}{line}")));
                self.handler.render_report(&mut out, report.as_ref())
            }
        };
        if rendered.is_err() {
            let _ = writeln!(out, "  {}[{}] {}", d.severity.as_str(), d.code(), d.message);
        }
        out
    }

    pub fn summary(&self, totals: &Totals, fixed: usize) -> String {
        let mut out = String::new();
        let threads = if totals.files == totals.paths {
            format!("{} files", totals.files)
        } else {
            format!("{} threads in {} files", totals.files, totals.paths)
        };
        let _ = writeln!(
            out,
            "{}",
            self.bold(&format!(
                "Checked {threads}: {} valid, {} invalid; {} errors, {} warnings",
                totals.valid, totals.invalid, totals.errors, totals.warnings
            ))
        );
        for (code, n) in &totals.by_rule {
            let rule = rules::find(code).expect("reported codes come from the registry");
            let _ = writeln!(out, "  {code} {:<32} {n:>6} {}", rule.name, rule.severity.as_str());
        }
        if fixed > 0 {
            let _ = writeln!(out, "Fixed {fixed} findings.");
        }
        if totals.fixable > 0 {
            let _ = writeln!(out, "{} findings can be fixed automatically: run again with --fix (or --fix --dry-run to see the diff).", totals.fixable);
        }
        out
    }
}

/// A record's text whose line numbers start where the record starts in its file,
/// so that snippets from JSONL files name the real line.
#[derive(Debug)]
struct RecordSource {
    name: String,
    text: Arc<str>,
    line_offset: usize,
}

impl SourceCode for RecordSource {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let inner = self.text.read_span(span, context_lines_before, context_lines_after)?;
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            inner.data(),
            *inner.span(),
            inner.line() + self.line_offset,
            inner.column(),
            inner.line_count(),
        )))
    }
}
