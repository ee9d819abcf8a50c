//! `threadkit report PATHS… --out report.html`: walk → validate each record (documents kept)
//! → a row and a transcript per thread, in parallel → one HTML page, written atomically.

use std::io::{self, Write};

use crate::cli::ReportArgs;
use crate::report::page::{self, Report};
use crate::text::shown;
use crate::findings::{FileReport, RecordReport};
use crate::validate::{mark_duplicates, validate_entry, SeenIds, Settings};

use super::{for_each_batch, open_data_root, walk_args, ExitStatus};
use super::CommandError;

pub fn run(args: ReportArgs, out: &mut dyn Write, err: &mut dyn Write) -> Result<ExitStatus, CommandError> {
    if args.out.is_dir() {
        return Err(CommandError::Usage(format!("--out {}: is a directory; give the HTML file to write, e.g. --out report.html", shown(&args.out))));
    }
    let data_root = match open_data_root(args.data_root.as_ref(), err)? {
        Ok(d) => d,
        Err(status) => return Ok(status),
    };
    let (walked, status) = walk_args(&args.walk, false, err)?;
    let settings = Settings {
        max_file_size: args.walk.max_file_size,
        data_root: data_root.as_ref(),
        summarize: true,
        keep_docs: true,
        ..Settings::default()
    };
    let eval = super::quality::load_against(&args.against, args.walk.max_file_size)?;
    let page_settings = page::Settings {
        data_root: data_root.as_ref(),
        full: args.full,
        labels: crate::quality::LabelCache::new(data_root.as_ref()),
        grams: eval.is_some(),
    };
    let mut report = Report {
        inputs: args.walk.paths.iter().map(|p| shown(p)).collect(),
        with_data_root: data_root.is_some(),
        with_against: eval.is_some(),
        ..Report::default()
    };
    // The corpus rules, as `quality` runs them: in path order, a file held back until the whole
    // corpus is known when its text may overlap the eval set (its rows come last then).
    let mut corpus = crate::quality::Corpus::new(true, eval);
    let mut held: std::collections::HashMap<std::path::PathBuf, Vec<Pending>> = Default::default();
    let mut ids = SeenIds::default();
    let progress = crate::progress::Progress::new("threads read", None, args.quiet);
    for_each_batch(
        walked.entries(),
        args.walk.jobs,
        |e| {
            let mut file = validate_entry(e, &settings);
            let path = shown(&file.path);
            // What the id check across files needs, without the documents.
            let light = FileReport {
                path: file.path.clone(),
                records: file.records.iter().map(RecordReport::without_content).collect(),
                clean: file.clean,
                stamp: None,
            };
            let items: Vec<_> = std::mem::take(&mut file.records)
                .into_iter()
                .map(|rec| {
                    let place = crate::findings::place(&path, rec.record);
                    let summary = rec.summary.clone();
                    (summary, page::item(&place, rec, &page_settings))
                })
                .collect();
            (light, items)
        },
        |_, files| {
            for (mut light, mut items) in files {
                report.stats.files += 1;
                progress.inc(items.len() as u64);
                // Files arrive in path order: the first thread with an id keeps it, as in `validate`.
                mark_duplicates(&mut light, &mut ids);
                let features: Vec<_> = items
                    .iter_mut()
                    .map(|(_, item)| match item {
                        page::Item::Thread { features, .. } => features.take().map(|f| *f),
                        page::Item::Other { .. } => None,
                    })
                    .collect();
                let path = light.path.clone();
                match corpus.judge(light, &features) {
                    Some(judged) => add_all(&mut report, items, &judged)?,
                    None => {
                        held.insert(path, items);
                    }
                }
            }
            Ok(())
        },
    )?;
    for judged in corpus.finish() {
        if let Some(items) = held.remove(&judged.path) {
            add_all(&mut report, items, &judged)?;
        }
    }
    progress.finish();
    // A page of nothing would pass for a report on a corpus that is elsewhere (a wrong path).
    if report.stats.files == 0 && status == ExitStatus::Success {
        super::no_thread_files(&args.walk, false, err)?;
    }
    // Files that are JSON but no thread (reports, exports), not broken threads; a shard always writes its page.
    let all_other = || report.findings.iter().all(|f| f.code == crate::rules::NOT_A_THREAD.code);
    if report.rows.is_empty() && report.stats.files > 0 && args.walk.shard.is_none() && all_other() {
        let first = report.findings.first().map(|f| (f.place.clone(), f.message.clone()));
        return Err(super::no_thread_among(report.stats.files, first, "no page was written"));
    }
    report.stats.finish();
    report.transcripts.finish()?;
    let size = match write_report(&args.out, &report) {
        Ok(size) => size,
        Err(e) => {
            return Err(CommandError::Usage(format!("{}: cannot write the report: {e}; give --out a path in a folder you can write", shown(&args.out))));
        }
    };
    writeln!(
        out,
        "{}: {}, {} in {}, {} ({})",
        shown(&args.out),
        crate::text::plural(report.rows.len(), "thread"),
        crate::text::plural(report.findings.len(), "finding"),
        crate::text::plural(report.stats.files, "file"),
        crate::text::human_bytes(size),
        if report.with_data_root { "with recordings" } else { "no --data-root: no recording plots" }
    )?;
    Ok(status)
}

/// A file's rows, rendered by a worker, waiting for their findings across files.
type Pending = (Option<crate::stats::Summary>, page::Item);

/// Add a file's rows with what was found across files (`judged`: the file's records in order).
fn add_all(report: &mut Report, items: Vec<Pending>, judged: &FileReport) -> io::Result<()> {
    for ((summary, item), rec) in items.into_iter().zip(&judged.records) {
        report.stats.add(&summary.unwrap_or_default());
        report.add(item, &rec.diagnostics)?;
    }
    Ok(())
}

/// Written to a temporary file beside `path` and renamed into place once durable: an
/// interrupted run leaves the previous report, never half a page.
fn write_report(path: &std::path::Path, report: &Report) -> io::Result<u64> {
    let staged = crate::write::stage_empty(path)?;
    let mut w = io::BufWriter::with_capacity(1 << 20, staged.file());
    let size = page::render(report, &mut w)?;
    w.flush()?;
    drop(w);
    staged.file().sync_all()?;
    staged.commit()?;
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    crate::write::sync_dirs([parent]);
    Ok(size)
}
