//! `threadkit quality`: walk, check each thread (validate, then the quality rules) in parallel
//! batches, add the corpus findings in path order, report as validate does.

use std::collections::HashSet;
use std::io::Write;

use crate::cli::QualityArgs;
use crate::corpus::EvalSet;
use crate::quality::{check_entry, load_eval, Corpus, QualitySettings};
use crate::report::{human::Renderer, printer::Printer, Totals};
use crate::rules::{self, Rule};

use super::{for_each_batch, open_data_root, use_color, walk_args, CommandError, ExitStatus};

/// Rule keys (codes or names) to codes; an unknown key is a usage error.
fn codes(flag: &str, keys: &[String]) -> Result<HashSet<&'static str>, CommandError> {
    keys.iter()
        .map(|k| {
            rules::find(k).filter(|r| rules::is_quality(r)).map(|r| r.code).ok_or_else(|| {
                CommandError::Usage(format!(
                    "{flag} {k:?} names no quality rule; `threadkit rules` lists them (codes TKQ01–TKQ11)"
                ))
            })
        })
        .collect()
}

/// The eval set `--against` names (`None` without one); a path that is missing or holds no
/// thread or example is a usage error. `report` reads it the same way.
pub(super) fn load_against(paths: &[std::path::PathBuf], max_file_size: u64) -> Result<Option<EvalSet>, CommandError> {
    if paths.is_empty() {
        return Ok(None);
    }
    if let Some(missing) = paths.iter().find(|p| !p.exists()) {
        return Err(CommandError::Usage(format!("--against {}: no such file or directory", crate::text::shown(missing))));
    }
    let (eval, skipped) = load_eval(paths, max_file_size);
    if eval.items() == 0 {
        return Err(CommandError::Usage(format!(
            "--against: no thread or training example found in {} ({skipped} unreadable); give a threads folder or an export",
            paths.iter().map(|p| crate::text::shown(p)).collect::<Vec<_>>().join(", ")
        )));
    }
    Ok(Some(eval))
}

pub fn run(args: QualityArgs, out: &mut dyn Write, err: &mut dyn Write) -> Result<ExitStatus, CommandError> {
    let selected = codes("--select", &args.select)?;
    let ignored = codes("--ignore", &args.ignore)?;
    let enabled = |r: &Rule| {
        !rules::is_quality(r) || ((selected.is_empty() || selected.contains(r.code)) && !ignored.contains(r.code))
    };
    let data_root = match open_data_root(args.data_root.as_ref(), err)? {
        Ok(d) => d,
        Err(status) => return Ok(status),
    };
    let eval = if enabled(&rules::EVAL_OVERLAP) { load_against(&args.against, args.walk.max_file_size)? } else { None };
    let settings = QualitySettings::new(args.walk.max_file_size, data_root.as_ref(), eval.is_some(), &enabled);
    let mut corpus = Corpus::new(enabled(&rules::NEAR_DUPLICATE), eval);
    let renderer = Renderer::new(use_color(args.color));
    let (walked, mut status) = walk_args(&args.walk, false, err)?;
    let mut totals = Totals::default();
    let mut printer = Printer::new(args.format, args.quiet, &renderer).shard("quality", &args.settings(), args.walk.shard);
    printer.begin(out)?;
    for_each_batch(
        walked.entries(),
        args.walk.jobs,
        |e| check_entry(e, &settings),
        |_, results| {
            for (report, features) in results {
                if let Some(report) = corpus.judge(report, &features) {
                    totals.add(&report);
                    printer.file(&report, out)?;
                }
            }
            Ok(())
        },
    )?;
    for report in corpus.finish() {
        totals.add(&report);
        printer.file(&report, out)?;
    }
    printer.end(&totals, crate::report::Fixing::NotAsked, out)?;
    if totals.paths == 0 && status == ExitStatus::Success {
        return super::no_thread_files(&args.walk, false, err);
    }
    if (totals.errors > 0 || (args.deny_warnings && totals.warnings > 0)) && status == ExitStatus::Success {
        status = ExitStatus::Failure;
    }
    Ok(status)
}
