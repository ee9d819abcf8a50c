//! `threadkit show THREAD…`: read → parse → check → (legacy: migrate in memory) → transcript → render.

use std::io::Write;

use crate::check;
use crate::cli::{ShowArgs, ShowFormat};
use crate::show::{self, Transcript};
use crate::source;
use crate::source::{file_stem, DEFAULT_MAX_FILE_SIZE};

use super::{open_data_root, use_color, ExitStatus};
use super::CommandError;

pub fn run(args: ShowArgs, out: &mut dyn Write, err: &mut dyn Write) -> Result<ExitStatus, CommandError> {
    let data_root = match open_data_root(args.data_root.as_ref(), err)? {
        Ok(d) => d,
        Err(status) => return Ok(status),
    };
    let color = args.format == ShowFormat::Human && use_color(args.color);
    let labels = crate::quality::LabelCache::new(data_root.as_ref());
    let mut status = ExitStatus::Success;
    let mut json = Vec::new();
    let mut first = true;
    for path in &args.paths {
        let mut records: Vec<(Option<usize>, Result<String, String>)> = Vec::new();
        let mut unreadable = None;
        crate::records::for_each(path, DEFAULT_MAX_FILE_SIZE, |item| match item {
            Ok(rec) => records.push((rec.record, Ok(rec.text))),
            Err(u) if u.record.is_none() => unreadable = Some(u.failure),
            Err(u) => records.push((u.record, Err(u.failure.message.clone()))),
        });
        if let Some(d) = unreadable {
            writeln!(err, "threadkit: {}: {} ({}); check the path", crate::text::shown(path), d.message, d.code())?;
            status = ExitStatus::Error;
            continue;
        }
        for (line, text) in records {
            let place = match line {
                Some(l) => format!("{}:{l}", crate::text::shown(path)),
                None => crate::text::shown(path),
            };
            let doc = match text.and_then(|t| source::parse(&t).map_err(|f| f.message)) {
                Ok(doc) => doc,
                Err(message) => {
                    writeln!(err, "threadkit: {place}: not a thread: {message}; `threadkit validate {place}` explains")?;
                    status = ExitStatus::Error;
                    continue;
                }
            };
            let stem = if line.is_none() { file_stem(path) } else { None };
            let checked = check::check(&doc, stem.as_deref(), check::Options { data_root: data_root.as_ref() });
            let migrated;
            let shown = match checked.version {
                Some(v) if v != crate::version::Version::OpenAiV1 => {
                    match crate::convert::in_memory(&doc, v, data_root.as_ref()) {
                        Ok(d) => {
                            migrated = d;
                            &migrated
                        }
                        Err(e) => {
                            writeln!(err, "threadkit: {place}: a {} thread that cannot be shown migrated: {e}", v.as_str())?;
                            status = ExitStatus::Error;
                            continue;
                        }
                    }
                }
                _ => &doc,
            };
            // A valid thread also gets the quality rules' findings, beside the step they are about
            // (for a legacy thread: on the conversion that is shown).
            let mut findings = checked.diagnostics;
            if checked.version.is_some() && !findings.iter().any(|d| d.is_error()) {
                findings.extend(labels.check(shown));
            }
            let transcript = Transcript::of(&doc, checked.version, shown, &findings);
            match args.format {
                ShowFormat::Json => json.push(serde_json::json!({"path": place, "thread": transcript})),
                ShowFormat::Human => {
                    if !first {
                        writeln!(out, "\n{}", "─".repeat(60))?;
                    }
                    if args.paths.len() > 1 || line.is_some() {
                        writeln!(out, "{place}")?;
                    }
                    write!(out, "{}", show::human(&transcript, color, args.full))?;
                }
                ShowFormat::Md => {
                    if !first {
                        writeln!(out, "\n---\n")?;
                    }
                    write!(out, "{}", show::markdown(&transcript, args.full))?;
                }
                ShowFormat::Html if !first => {
                    return Err(CommandError::Usage("--format html shows one thread per page; give one file (a .jsonl line at a time), or use --format md".into()));
                }
                ShowFormat::Html => match show::html(&transcript, args.full) {
                    Ok(page) => write!(out, "{page}")?,
                    Err(e) => {
                        writeln!(err, "threadkit: {place}: cannot render HTML: {e}")?;
                        status = ExitStatus::Error;
                    }
                },
            }
            first = false;
        }
    }
    if args.format == ShowFormat::Json {
        writeln!(out, "{}", crate::text::json_pretty(&json))?;
    }
    Ok(status)
}
