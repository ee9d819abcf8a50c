//! `threadkit verify`: replay every recorded tool call and report results that differ.

use std::io::Write;

use crate::cli::VerifyArgs;
use crate::data_root::DataRoot;
use crate::report::{human::Renderer, printer::Printer, Totals};
use crate::source;
use crate::tools::replay;
use crate::findings::{locate_all, FileReport, RecordReport};
use crate::version::{detect, Version};
use crate::diagnostic::Diagnostic;

use super::{for_each_batch, use_color, walk_args, ExitStatus};
use super::CommandError;

pub fn run(args: VerifyArgs, out: &mut dyn Write, err: &mut dyn Write) -> Result<ExitStatus, CommandError> {
    if !args.data_root.is_dir() {
        return Err(CommandError::Usage(format!(
            "--data-root {}: not a directory; point it at the datasets the threads were made from",
            args.data_root.display()
        )));
    }
    let root = DataRoot::new(&args.data_root);
    let (walked, mut status) = walk_args(&args.walk, false, err)?;
    let renderer = Renderer::new(use_color(args.color));
    let mut totals = Totals::default();
    let mut printer = Printer::new(args.format, args.quiet, &renderer).shard("verify", &args.walk.settings(), args.walk.shard);
    printer.begin(out)?;
    let max = args.walk.max_file_size;
    let progress = crate::progress::Progress::new("threads verified", None, args.quiet);
    for_each_batch(
        walked.entries(),
        args.walk.jobs,
        |e| {
            let mut records = Vec::new();
            crate::records::for_each_of(e, max, |item| {
                records.push(match item {
                    Ok(rec) => verify_record(rec, &root),
                    // The same finding (and code) as `validate` gives for a file it cannot read.
                    Err(u) => RecordReport::failed(u.record, *u.failure, None),
                })
            });
            FileReport { path: e.path.clone(), records, clean: 0, stamp: None }
        },
        |_, reports| {
            progress.inc(reports.len() as u64);
            for r in reports {
                totals.add(&r);
                printer.file(&r, out)?;
            }
            Ok(())
        },
    )?;
    progress.finish();
    printer.end(&totals, crate::report::Fixing::NotAsked, out)?;
    if totals.paths == 0 && status == ExitStatus::Success {
        return super::no_thread_files(&args.walk, false, err);
    }
    if totals.errors > 0 && status == ExitStatus::Success {
        status = ExitStatus::Failure;
    }
    Ok(status)
}

/// Replay one record's calls: `openai_v1` threads as they are, legacy ones through the
/// in-memory migration (their findings then point into that form, not into the file).
fn verify_record(rec: source::RecordText, root: &DataRoot) -> RecordReport {
    let doc = match source::parse(&rec.text) {
        Ok(doc) => doc,
        Err(failure) => return RecordReport::failed(rec.record, *failure, Some(rec.text.into())),
    };
    let mut report = RecordReport::empty(rec.record);
    match detect(&doc).version {
        Some(Version::OpenAiV1) => {
            report.version = Some(Version::OpenAiV1);
            report.diagnostics = replay::verify(&doc, root);
            locate_all(&mut report.diagnostics, &rec.text);
            report.text = (!report.diagnostics.is_empty()).then(|| rec.text.into());
        }
        Some(version) => {
            report.version = Some(version);
            report.diagnostics = match crate::convert::in_memory(&doc, version, Some(root)) {
                Ok(migrated) => replay::verify(&migrated, root)
                    .into_iter()
                    .map(|mut d| {
                        d.message = format!("{} (in the migrated form, at {})", d.message, d.pointer);
                        d.pointer = String::new();
                        d
                    })
                    .collect(),
                Err(e) => vec![Diagnostic::new(
                    &crate::rules::NOT_REPLAYABLE,
                    "",
                    format!("the legacy thread cannot be migrated to replay it: {e}"),
                )],
            };
        }
        None => report.diagnostics.push(Diagnostic::new(
            &crate::rules::NOT_A_THREAD,
            "",
            "not a thread of any known version: nothing to replay",
        )),
    }
    report
}
