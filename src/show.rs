//! One thread as a transcript: the question, each step's reasoning, the tool call with its
//! arguments, the result, the final answer beside the ground truth, and `validate`'s
//! findings under the message they point at. Built once (`Transcript::of`) and rendered as
//! terminal text (coloured or plain), Markdown, HTML or JSON.

use std::fmt::Write as _;

use anstyle::{AnsiColor, Style};
use serde::Serialize;
use serde_json::Value;

use crate::diagnostic::Diagnostic;
use crate::thread::{FirstMessage, ThreadView};
use crate::version::Version;

/// Tool results longer than this many lines are cut (unless `--full`).
pub const RESULT_LINES: usize = 12;
/// Characters of a result shown unless `--full`.
pub const RESULT_CHARS: usize = 4000;

#[derive(Debug, Serialize)]
pub struct Finding {
    pub code: &'static str,
    pub severity: &'static str,
    pub message: String,
    pub pointer: String,
}

#[derive(Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Step {
    System { text: String },
    Question { dataset_channels: Option<usize>, text: String },
    User { text: String },
    Reasoning { text: String },
    Call { name: String, id: String, arguments: Value },
    Result { name: String, content: Value },
    Answer { text: String },
}

#[derive(Debug, Serialize)]
pub struct Entry {
    /// The message this step comes from (index into `messages`).
    pub message: usize,
    #[serde(flatten)]
    pub step: Step,
    pub findings: Vec<Finding>,
}

#[derive(Debug, Serialize)]
pub struct Transcript {
    pub id: Option<String>,
    pub version: Option<String>,
    /// For legacy threads: shown through the in-memory migration to `openai_v1`.
    pub migrated_from: Option<String>,
    pub dataset: Option<String>,
    pub session: Option<String>,
    pub status: Option<String>,
    pub ground_truth: Option<String>,
    pub final_answer: Option<String>,
    pub is_correct: Option<bool>,
    pub steps: Vec<Entry>,
    /// Findings that point at no message (metadata, the whole file), or into a legacy file.
    pub findings: Vec<Finding>,
}

fn finding(d: &Diagnostic) -> Finding {
    Finding {
        code: d.code(),
        severity: d.severity.as_str(),
        message: d.message.clone(),
        pointer: d.pointer.clone(),
    }
}

/// The message index a pointer points into, if it is `/messages/N…`.
pub fn message_of(pointer: &str) -> Option<usize> {
    pointer.strip_prefix("/messages/")?.split('/').next()?.parse().ok()
}

impl Transcript {
    /// `doc` is the thread as read; `shown` its `openai_v1` form (the same document for
    /// current threads, the in-memory migration for legacy ones).
    pub fn of(doc: &Value, version: Option<Version>, shown: &Value, diagnostics: &[Diagnostic]) -> Transcript {
        let view = ThreadView::new(shown, Version::OpenAiV1);
        let legacy = version.filter(|v| *v != Version::OpenAiV1);
        let mut top = Vec::new();
        let mut by_message: Vec<Vec<Finding>> = Vec::new();
        for d in diagnostics {
            match message_of(&d.pointer).filter(|_| legacy.is_none()) {
                Some(i) => {
                    if by_message.len() <= i {
                        by_message.resize_with(i + 1, Vec::new);
                    }
                    by_message[i].push(finding(d));
                }
                None => top.push(finding(d)),
            }
        }
        let mut steps = Vec::new();
        let mut first_user = true;
        for (i, m) in view.messages().iter().enumerate() {
            let role = m.get("role").and_then(Value::as_str).unwrap_or("");
            let text = m.get("content").and_then(Value::as_str).unwrap_or("").to_string();
            let mut at = |step: Step| steps.push(Entry { message: i, step, findings: Vec::new() });
            match role {
                "system" => at(Step::System { text }),
                "user" if first_user => {
                    first_user = false;
                    match FirstMessage::parse(&text) {
                        Some(first) => {
                            let channels = first
                                .manifest()
                                .ok()
                                .and_then(|m| m.get("channels").and_then(Value::as_array).map(Vec::len));
                            at(Step::Question { dataset_channels: channels, text: first.query.to_string() })
                        }
                        None => at(Step::Question { dataset_channels: None, text }),
                    }
                }
                "user" => at(Step::User { text }),
                "assistant" => {
                    let calls = m.get("tool_calls").and_then(Value::as_array);
                    let is_answer = crate::thread::final_answer_in_text(&text).is_some();
                    if !text.trim().is_empty() {
                        at(if is_answer && calls.is_none_or(Vec::is_empty) {
                            Step::Answer { text }
                        } else {
                            Step::Reasoning { text }
                        });
                    }
                    for c in calls.into_iter().flatten() {
                        let name = c.pointer("/function/name").and_then(Value::as_str).unwrap_or("?").to_string();
                        let arguments = match c.pointer("/function/arguments") {
                            Some(Value::String(s)) => serde_json::from_str(s).unwrap_or(Value::String(s.clone())),
                            Some(v) => v.clone(),
                            None => Value::Null,
                        };
                        let id = c.get("id").and_then(Value::as_str).unwrap_or("").to_string();
                        at(Step::Call { name, id, arguments });
                    }
                }
                "tool" => {
                    let content = match m.get("content") {
                        Some(Value::String(s)) => serde_json::from_str(s).unwrap_or(Value::String(s.clone())),
                        Some(v) => v.clone(),
                        None => Value::Null,
                    };
                    let name = m.get("name").and_then(Value::as_str).unwrap_or("").to_string();
                    at(Step::Result { name, content })
                }
                _ => {}
            }
        }
        // Each message's findings go under its first step (or to the top if it has none).
        for (i, list) in by_message.into_iter().enumerate() {
            match steps.iter_mut().find(|s| s.message == i) {
                Some(entry) => entry.findings.extend(list),
                None => top.extend(list),
            }
        }
        let original = ThreadView::new(doc, version.unwrap_or(Version::OpenAiV1));
        let s = |v: Option<&str>| v.map(str::to_string);
        Transcript {
            id: s(original.id()),
            version: version.map(|v| v.as_str().to_string()),
            migrated_from: legacy.map(|v| v.as_str().to_string()),
            dataset: s(original.dataset()),
            session: s(original.session()),
            status: s(original.status_str()),
            ground_truth: s(original.ground_truth()),
            final_answer: s(original.final_answer()),
            is_correct: original.is_correct(),
            steps,
            findings: top,
        }
    }
}

/// Styles for the terminal; all plain when colour is off.
struct Paint {
    on: bool,
}

impl Paint {
    /// Every string painted is data or our own words; either way it reaches the terminal safe.
    fn paint(&self, style: Style, text: &str) -> String {
        let text = crate::text::terminal_safe(text, false);
        if self.on {
            format!("{}{text}{}", style.render(), style.render_reset())
        } else {
            text.to_string()
        }
    }
}

fn fg(c: AnsiColor) -> Style {
    Style::new().fg_color(Some(c.into()))
}

fn pretty(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => crate::pyjson::dumps_pretty(other),
    }
}

/// At most `RESULT_LINES` lines and `RESULT_CHARS` characters unless `full`, saying how much was
/// left out: a 30 MB result on one line must not become a 30 MB page.
fn cut(text: &str, full: bool) -> String {
    if full {
        return text.to_string();
    }
    let lines: Vec<&str> = text.lines().collect();
    let kept = lines[..lines.len().min(RESULT_LINES)].join("\n");
    let chars = kept.chars().count();
    if chars > RESULT_CHARS {
        let head: String = kept.chars().take(RESULT_CHARS).collect();
        let more = text.chars().count() - RESULT_CHARS;
        return format!("{head}\n… {more} more characters (--full shows all)");
    }
    if lines.len() <= RESULT_LINES {
        return text.to_string();
    }
    format!("{kept}\n… {} more lines (--full shows all)", lines.len() - RESULT_LINES)
}

/// Data lines for the terminal: indented, with nothing in them that could drive the terminal.
fn indent(text: &str, by: &str) -> String {
    crate::text::terminal_safe(text, true).lines().map(|l| format!("{by}{l}")).collect::<Vec<_>>().join("\n")
}

/// Terminal text: coloured when `color`, plain otherwise (the same words either way).
pub fn human(t: &Transcript, color: bool, full: bool) -> String {
    let p = Paint { on: color };
    let bold = Style::new().bold();
    let dim = Style::new().dimmed();
    let mut out = String::new();
    let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "—".into());
    let _ = writeln!(out, "{}", p.paint(bold, &format!("thread {}", or_dash(&t.id))));
    let version = match &t.migrated_from {
        Some(v) => format!("{v} (shown migrated to openai_v1)"),
        None => or_dash(&t.version),
    };
    let _ = writeln!(
        out,
        "{}",
        p.paint(
            dim,
            &format!(
                "{} · session {} · {} · status {}",
                or_dash(&t.dataset),
                or_dash(&t.session),
                version,
                or_dash(&t.status)
            )
        )
    );
    for f in &t.findings {
        let _ = writeln!(out, "{}", finding_line(&p, f));
    }
    for e in &t.steps {
        out.push('\n');
        match &e.step {
            Step::System { text } => {
                let _ = writeln!(out, "{}\n{}", p.paint(fg(AnsiColor::Magenta).bold(), "system"), indent(text, "  "));
            }
            Step::Question { dataset_channels, text } => {
                let shown = dataset_channels.map(|n| format!(" (with the dataset's manifest: {n} channels)")).unwrap_or_default();
                let _ = writeln!(out, "{}{}\n{}", p.paint(fg(AnsiColor::Blue).bold(), "question"), p.paint(dim, &shown), indent(text, "  "));
            }
            Step::User { text } => {
                let _ = writeln!(out, "{}\n{}", p.paint(fg(AnsiColor::Blue).bold(), "user"), indent(text, "  "));
            }
            Step::Reasoning { text } => {
                let _ = writeln!(out, "{}\n{}", p.paint(fg(AnsiColor::Yellow).bold(), "reasoning"), indent(text, "  "));
            }
            Step::Call { name, arguments, .. } => {
                let _ = writeln!(
                    out,
                    "{} {}\n{}",
                    p.paint(fg(AnsiColor::Cyan).bold(), "call"),
                    p.paint(bold, name),
                    indent(&pretty(arguments), "  ")
                );
            }
            Step::Result { name, content } => {
                let _ = writeln!(
                    out,
                    "{} {}\n{}",
                    p.paint(fg(AnsiColor::Green).bold(), "result"),
                    p.paint(dim, name),
                    indent(&cut(&pretty(content), full), "  ")
                );
            }
            Step::Answer { text } => {
                let _ = writeln!(out, "{}\n{}", p.paint(fg(AnsiColor::Yellow).bold(), "answer"), indent(text, "  "));
            }
        }
        for f in &e.findings {
            let _ = writeln!(out, "{}", finding_line(&p, f));
        }
    }
    out.push('\n');
    let verdict = match t.is_correct {
        Some(true) => p.paint(fg(AnsiColor::Green).bold(), "correct"),
        Some(false) => p.paint(fg(AnsiColor::Red).bold(), "wrong"),
        None => p.paint(dim, "not judged"),
    };
    let _ = writeln!(
        out,
        "final answer {} · ground truth {} · {verdict}",
        p.paint(bold, &or_dash(&t.final_answer)),
        p.paint(bold, &or_dash(&t.ground_truth))
    );
    out
}

fn finding_line(p: &Paint, f: &Finding) -> String {
    let color = if f.severity == "error" { AnsiColor::Red } else { AnsiColor::Yellow };
    let at = if f.pointer.is_empty() { String::new() } else { format!(" (at {})", f.pointer) };
    let at = crate::text::terminal_safe(&at, false);
    format!("  {} {}{at}", p.paint(fg(color).bold(), &format!("{} {}:", f.severity, f.code)), crate::text::terminal_safe(&f.message, true))
}

/// Markdown: headings per step, JSON in fenced blocks.
pub fn markdown(t: &Transcript, full: bool) -> String {
    let mut out = String::new();
    let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "—".into());
    let _ = writeln!(out, "# Thread {}\n", md_code(&or_dash(&t.id)));
    let _ = writeln!(
        out,
        "{} · session {} · {} · status {}\n",
        md_inline(&or_dash(&t.dataset)),
        md_code(&or_dash(&t.session)),
        t.migrated_from.as_ref().map_or_else(|| or_dash(&t.version), |v| format!("{v} (shown migrated to openai_v1)")),
        md_inline(&or_dash(&t.status))
    );
    let md_finding = |f: &Finding| {
        let at = if f.pointer.is_empty() { String::new() } else { format!(" (at {})", md_code(&f.pointer)) };
        format!("> **{} {}**: {}{at}\n", f.severity, f.code, md_inline(&f.message))
    };
    for f in &t.findings {
        out.push_str(&md_finding(f));
    }
    // Every piece of data goes in a fence longer than any backtick run it holds: nothing in a
    // thread can close it, add raw HTML or forge a heading.
    for e in &t.steps {
        match &e.step {
            Step::System { text } => {
                let _ = writeln!(out, "\n## System\n\n{}", md_fenced("text", text));
            }
            Step::Question { text, .. } => {
                let _ = writeln!(out, "\n## Question\n\n{}", md_fenced("text", text));
            }
            Step::User { text } => {
                let _ = writeln!(out, "\n## User\n\n{}", md_fenced("text", text));
            }
            Step::Reasoning { text } => {
                let _ = writeln!(out, "\n## Reasoning\n\n{}", md_fenced("text", text));
            }
            Step::Call { name, arguments, .. } => {
                let _ = writeln!(out, "\n## Call {}\n\n{}", md_code(name), md_fenced("json", &pretty(arguments)));
            }
            Step::Result { name, content } => {
                let _ = writeln!(out, "\n## Result of {}\n\n{}", md_code(name), md_fenced("json", &cut(&pretty(content), full)));
            }
            Step::Answer { text } => {
                let _ = writeln!(out, "\n## Answer\n\n{}", md_fenced("text", text));
            }
        }
        for f in &e.findings {
            out.push('\n');
            out.push_str(&md_finding(f));
        }
    }
    let verdict = match t.is_correct {
        Some(true) => "correct",
        Some(false) => "wrong",
        None => "not judged",
    };
    let _ = writeln!(
        out,
        "\n---\n\nFinal answer {}, ground truth {}: {verdict}.",
        md_code(&or_dash(&t.final_answer)),
        md_code(&or_dash(&t.ground_truth))
    );
    crate::text::terminal_safe(&out, true).into_owned()
}

/// The longest run of backticks in `text`.
fn longest_backtick_run(text: &str) -> usize {
    text.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

/// A fenced block that `text` cannot close: its fence is longer than any backtick run inside.
fn md_fenced(lang: &str, text: &str) -> String {
    let fence = "`".repeat(longest_backtick_run(text).max(2) + 1);
    format!("{fence}{lang}\n{text}\n{fence}")
}

/// Inline code that `text` cannot close (CommonMark: a longer backtick string, padded with spaces).
fn md_code(text: &str) -> String {
    let one_line = text.replace(['\n', '\r'], " ");
    let ticks = "`".repeat(longest_backtick_run(&one_line) + 1);
    // CommonMark strips one space each side: padding lets the text start or end with a backtick.
    if one_line.starts_with('`') || one_line.ends_with('`') {
        format!("{ticks} {one_line} {ticks}")
    } else {
        format!("{ticks}{one_line}{ticks}")
    }
}

/// Running text with every Markdown and HTML metacharacter that could act mid-line escaped, on one line.
fn md_inline(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' | '\r' => out.push(' '),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '#' | '|' | '~' | '!' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// A self-contained HTML page (inline CSS, no scripts, nothing fetched), from a template
/// with HTML escaping on.
/// The transcript as JSON with each call's arguments and result pre-rendered (`shown`)
/// as the terminal shows them: what the HTML views display.
pub fn shown_value(t: &Transcript, full: bool) -> Value {
    let mut value = serde_json::to_value(t).expect("a transcript serializes");
    for (e, step) in value["steps"].as_array_mut().into_iter().flatten().zip(&t.steps) {
        match &step.step {
            Step::Call { arguments, .. } => e["shown"] = pretty(arguments).into(),
            Step::Result { content, .. } => e["shown"] = cut(&pretty(content), full).into(),
            _ => {}
        }
    }
    value
}

pub fn html(t: &Transcript, full: bool) -> Result<String, String> {
    let mut env = minijinja::Environment::new();
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
    env.add_template("show.html", include_str!("show.html.jinja")).map_err(|e| e.to_string())?;
    let value = shown_value(t, full);
    let template = env.get_template("show.html").map_err(|e| e.to_string())?;
    template.render(minijinja::context! { t => minijinja::Value::from(minijinja::value::Serde(&value)) }).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_find_their_message() {
        assert_eq!(message_of("/messages/3/content"), Some(3));
        assert_eq!(message_of("/messages/12"), Some(12));
        assert_eq!(message_of("/metadata/status"), None);
        assert_eq!(message_of("/messages/x"), None);
    }

    #[test]
    fn long_results_are_cut_and_say_so() {
        let text: String = (0..30).map(|i| format!("line {i}\n")).collect();
        let shown = cut(&text, false);
        assert_eq!(shown.lines().count(), RESULT_LINES + 1);
        assert!(shown.ends_with("18 more lines (--full shows all)"));
        assert_eq!(cut(&text, true), text);
    }
}
