//! The report for people: every finding as a miette snippet, grouped by file, then a summary.

use std::fmt::Write as _;

use miette::{
    GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteDiagnostic, MietteError, MietteSpanContents, Report,
    SourceCode, SourceSpan, SpanContents,
};

use super::{Fixing, Totals};
use crate::diagnostic::{Diagnostic, Severity};
use crate::findings::{FileReport, RecordReport};
use crate::rules;
use crate::text::plural;

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
            let path = crate::text::shown(&file.path);
            let name = crate::findings::place(&path, r.record);
            let _ = writeln!(out, "{}", self.bold(&name));
            for d in &r.diagnostics {
                out.push_str(&self.diagnostic(&path, r, d));
            }
        }
        out
    }

    fn diagnostic(&self, path: &str, record: &RecordReport, d: &Diagnostic) -> String {
        let severity = match d.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        };
        let mut diag = MietteDiagnostic::new(crate::text::terminal_safe(&d.message, true).into_owned())
            .with_code(format!("{}({})", d.code(), d.rule.name))
            .with_severity(severity);
        if let Some(fix) = &d.fix {
            diag = diag.with_help(format!("fix: {} (safe; apply with --fix)", fix.title));
        }
        let mut out = String::new();
        let rendered = match (&record.text, d.location) {
            (Some(text), Some(loc)) => {
                let mut ex = Excerpt::around(text, loc);
                // Invalid JSON can hold raw ESC bytes; replaced at the same width, the span still fits.
                if let std::borrow::Cow::Owned(safe) = crate::text::terminal_safe_same_width(&ex.text) {
                    ex.text = safe;
                }
                let label = d.label.as_deref().map(|l| crate::text::terminal_safe(l, false).into_owned());
                diag = diag.with_label(LabeledSpan::new(label, ex.span.0, ex.span.1));
                let source = RecordSource {
                    name: path.to_string(),
                    text: ex.text,
                    first_line: ex.first_line + record.record.map_or(0, |l| l - 1),
                    target_line: ex.target_line,
                    column: loc.column.saturating_sub(1),
                };
                let report = Report::new(diag).with_source_code(source);
                self.handler.render_report(&mut out, report.as_ref())
            }
            _ => {
                let report = Report::new(diag);
                self.handler.render_report(&mut out, report.as_ref())
            }
        };
        if rendered.is_err() {
            let _ = writeln!(out, "  {}[{}] {}", d.severity.as_str(), d.code(), crate::text::terminal_safe(&d.message, true));
        }
        out
    }

    pub fn summary(&self, totals: &Totals, fixing: Fixing) -> String {
        let mut out = String::new();
        let threads = if totals.files == totals.paths {
            plural(totals.files, "file")
        } else {
            let noun = totals.noun.unwrap_or("thread");
            format!("{} in {}", plural(totals.files, noun), plural(totals.paths, "file"))
        };
        let _ = writeln!(
            out,
            "{}",
            self.bold(&format!(
                "Checked {threads}: {} valid, {} invalid; {}, {}",
                totals.valid,
                totals.invalid,
                plural(totals.errors, "error"),
                plural(totals.warnings, "warning")
            ))
        );
        for (code, n) in &totals.by_rule {
            let rule = rules::find(code).expect("reported codes come from the registry");
            let severity = totals.rule_severity.get(code).copied().unwrap_or(rule.severity);
            let _ = writeln!(out, "  {code} {:<32} {n:>6} {}{}", rule.name, severity.as_str(), if *n == 1 { "" } else { "s" });
        }
        let fixable = plural(totals.fixable, "fixable finding");
        match fixing {
            Fixing::Wrote(fixed) => {
                if fixed > 0 {
                    let _ = writeln!(out, "Fixed {}.", plural(fixed, "finding"));
                }
                if totals.fixable > 0 {
                    // Only a file not written keeps a fixable finding after `--fix`.
                    let _ = writeln!(
                        out,
                        "{fixable} left unfixed: {}; run --fix again once that is resolved.",
                        if totals.fixable == 1 { "its file was not written (see its error)" } else { "their files were not written (see the errors)" }
                    );
                }
            }
            Fixing::DryRun if totals.fixable > 0 => {
                let _ = writeln!(out, "{fixable}: the diffs above are what --fix writes.");
            }
            Fixing::NotAsked if totals.fixable > 0 => {
                let _ = writeln!(out, "{fixable}: run again with --fix (or --fix --dry-run to see the diff).");
            }
            _ => {}
        }
        out
    }
}

/// The few lines around a finding, each cut to a readable width: thread files hold
/// single lines of many kilobytes (JSONL records, embedded manifests).
struct Excerpt {
    text: String,
    /// The finding's (offset, len) inside `text`.
    span: (usize, usize),
    /// 0-based line of the record where the excerpt starts.
    first_line: usize,
    /// Line of the finding, counted within the excerpt.
    target_line: usize,
}

const WIDTH: usize = 110;
const LEAD: usize = 40;

impl Excerpt {
    fn around(text: &str, loc: crate::diagnostic::Location) -> Excerpt {
        let offset = loc.offset.min(text.len());
        let line_start = text[..offset].rfind('\n').map_or(0, |p| p + 1);
        let line_end = text[offset..].find('\n').map_or(text.len(), |p| offset + p);
        let target = loc.line.saturating_sub(1);
        let mut out = String::new();
        let mut first_line = target;
        let mut target_line = 0;
        if line_start > 0 {
            let prev_start = text[..line_start - 1].rfind('\n').map_or(0, |p| p + 1);
            out.push_str(&clip(&text[prev_start..line_start - 1], 0));
            out.push('\n');
            first_line -= 1;
            target_line = 1;
        }
        // Window the finding's line so the span is visible, with some context before it.
        let line = &text[line_start..line_end];
        let rel = offset - line_start;
        let mut from = rel.saturating_sub(LEAD);
        while !line.is_char_boundary(from) {
            from -= 1;
        }
        let span_len = loc.len.min(line.len() - rel).min(WIDTH - LEAD);
        let mut to = (rel + span_len + LEAD).max(from + WIDTH).min(line.len());
        while !line.is_char_boundary(to) {
            to += 1;
        }
        let base = out.len();
        let prefix = if from > 0 { "…" } else { "" };
        out.push_str(prefix);
        out.push_str(&line[from..to]);
        if to < line.len() {
            out.push('…');
        }
        let mut span_end = (rel + span_len).min(to);
        while !line.is_char_boundary(span_end) {
            span_end -= 1;
        }
        let span = (base + prefix.len() + rel - from, span_end - rel);
        if line_end < text.len() {
            let next_end = text[line_end + 1..].find('\n').map_or(text.len(), |p| line_end + 1 + p);
            out.push('\n');
            out.push_str(&clip(&text[line_end + 1..next_end], 0));
        }
        Excerpt { text: out, span, first_line, target_line }
    }
}

fn clip(line: &str, from: usize) -> String {
    let rest = &line[from..];
    match rest.char_indices().nth(WIDTH) {
        Some((cut, _)) => format!("{}…", &rest[..cut]),
        None => rest.to_string(),
    }
}

/// An excerpt that reports the line numbers and column of the original record,
/// so snippet headers name the real place in the file.
#[derive(Debug)]
struct RecordSource {
    name: String,
    text: String,
    first_line: usize,
    target_line: usize,
    /// 0-based character column of the finding in its real line.
    column: usize,
}

impl SourceCode for RecordSource {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let inner = self.text.read_span(span, context_lines_before, context_lines_after)?;
        let column = if inner.line() == self.target_line { self.column } else { inner.column() };
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            inner.data(),
            *inner.span(),
            inner.line() + self.first_line,
            column,
            inner.line_count(),
        )))
    }
}

