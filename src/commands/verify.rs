//! `threadkit verify`: replay every recorded tool call and report results that differ.

use std::io::{self, Write};

use crate::cli::VerifyArgs;
use crate::data_root::DataRoot;
use crate::report::{human::Renderer, json, Format, Totals};
use crate::source;
use crate::tools::replay;
use crate::findings::{locate_all, FileReport, RecordReport};
use crate::version::{detect, Version};

use super::{for_each_batch, use_color, walk_args, ExitStatus};

pub fn run(args: VerifyArgs, out: &mut dyn Write, err: &mut dyn Write) -> io::Result<ExitStatus> {
    if !args.data_root.is_dir() {
        writeln!(
            err,
            "threadkit: --data-root {}: not a directory; point it at the datasets the threads were made from",
            args.data_root.display()
        )?;
        return Ok(ExitStatus::Error);
    }
    let root = DataRoot::new(&args.data_root);
    let (walked, mut status) = walk_args(&args.walk, false, err)?;
    let renderer = Renderer::new(use_color(args.color));
    let mut totals = Totals::default();
    let mut entries = Vec::new();
    let max = args.walk.max_file_size;
    let progress = crate::progress::Progress::new("threads verified", None, args.quiet);
    for_each_batch(
        walked.entries().filter(|e| !source::is_jsonl(&e.path)),
        args.walk.jobs,
        |e| {
            let mut rec = RecordReport {
                record: None,
                version: None,
                id: None,
                diagnostics: Vec::new(),
                text: None,
                doc: None,
                summary: None,
            };
            let text = match e.problem.as_ref() {
                Some(p) => Err(p.clone()),
                None => source::read_whole(&e.path, max).map_err(|d| d.message),
            };
            match text.and_then(|t| source::parse(&t).map(|d| (t, d)).map_err(|d| d.message)) {
                Ok((text, doc)) => match detect(&doc).version {
                    Some(Version::OpenAiV1) => {
                        rec.version = Some(Version::OpenAiV1);
                        rec.diagnostics = replay::verify(&doc, &root);
                        locate_all(&mut rec.diagnostics, &text);
                        rec.text = (!rec.diagnostics.is_empty()).then(|| text.into());
                    }
                    // Legacy threads are replayed through the in-memory migration; findings
                    // point into that migrated form, so they carry no span in this file.
                    Some(version) => {
                        rec.version = Some(version);
                        rec.diagnostics = match crate::convert::in_memory(&doc, version, Some(&root)) {
                            Ok(migrated) => replay::verify(&migrated, &root)
                                .into_iter()
                                .map(|mut d| {
                                    d.message = format!("{} (in the migrated form, at {})", d.message, d.pointer);
                                    d.pointer = String::new();
                                    d
                                })
                                .collect(),
                            Err(e) => vec![crate::diagnostic::Diagnostic::new(
                                &crate::rules::NOT_REPLAYABLE,
                                "",
                                format!("the legacy thread cannot be migrated to replay it: {e}"),
                            )],
                        };
                    }
                    None => rec.diagnostics.push(crate::diagnostic::Diagnostic::new(
                        &crate::rules::NOT_A_THREAD,
                        "",
                        "not a thread of any known version: nothing to replay",
                    )),
                },
                Err(message) => {
                    rec.diagnostics.push(crate::diagnostic::Diagnostic::new(&crate::rules::IO_ERROR, "", message))
                }
            }
            FileReport { path: e.path.clone(), records: vec![rec], stamp: None }
        },
        |_, reports| {
            progress.inc(reports.len() as u64);
            for r in reports {
                totals.add(&r);
                match args.format {
                    Format::Human if args.quiet => {}
                    Format::Human => out.write_all(renderer.file(&r).as_bytes())?,
                    Format::Json => entries.extend(json::entries(&r)),
                }
            }
            Ok(())
        },
    )?;
    progress.finish();
    match args.format {
        Format::Human => out.write_all(renderer.summary(&totals, 0).as_bytes())?,
        Format::Json => {
            writeln!(out, "{{\"files\": [\n  {}\n], \"summary\": {}}}", entries.join(",\n  "), json::summary(&totals))?
        }
    }
    if totals.errors > 0 && status == ExitStatus::Success {
        status = ExitStatus::Failure;
    }
    Ok(status)
}
