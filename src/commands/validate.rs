//! `threadkit validate`: walk, check in parallel batches, merge cross-file findings,
//! fix, report.

use std::collections::{HashMap, HashSet};
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};

use crate::check::Options;
use crate::cli::ValidateArgs;
use crate::diagnostic::Diagnostic;
use crate::fix;
use crate::report::{human::Renderer, printer::Printer, Totals};
use crate::rules;
use crate::source;
use crate::findings::{FileReport, Stamp};
use crate::source::file_stem;
use crate::validate::{mark_duplicates, validate_entry, SeenIds, Settings};

use super::{for_each_batch, open_data_root, use_color, walk_args, ExitStatus};
use super::CommandError;

pub fn run(args: ValidateArgs, out: &mut dyn Write, err: &mut dyn Write) -> Result<ExitStatus, CommandError> {
    let mut ignored: HashSet<&'static str> = HashSet::new();
    for key in &args.ignore {
        match rules::find(key) {
            Some(r) => {
                ignored.insert(r.code);
            }
            None => {
                return Err(CommandError::Usage(format!("--ignore {key:?} names no rule; `threadkit rules` lists them")));
            }
        }
    }
    let data_root = match open_data_root(args.data_root.as_ref(), err)? {
        Ok(d) => d,
        Err(status) => return Ok(status),
    };
    if let Some(read) = args.profile {
        return run_training(&args, read, out, err);
    }
    // Training files named without --profile are read as `--profile auto`: a thread check would
    // only say that an OpenAI or sharegpt example is not a thread.
    if !args.fix && args.data_root.is_none() && !args.walk.paths.is_empty() && args.walk.paths.iter().all(|p| {
        p.is_file()
            && crate::export::ingest::first_example(p, args.walk.max_file_size)
                .is_some_and(|e| crate::export::ingest::looks_like_training_example(&e))
    }) {
        if args.format == crate::report::Format::Human && !args.quiet {
            writeln!(err, "threadkit: these are training examples, not threads: checked as `--profile auto` (name a profile to choose one)")?;
        }
        return run_training(&args, crate::cli::FromFormat::Auto, out, err);
    }
    let settings = Settings {
        max_file_size: args.walk.max_file_size,
        data_root: data_root.as_ref(),
        keep_fixable: args.fix,
        summarize: false,
        keep_docs: false,
    };
    let color = use_color(args.color);
    let renderer = Renderer::new(color);

    let (walked, mut status) = walk_args(&args.walk, false, err)?;

    let mut totals = Totals::default();
    let mut ids = SeenIds::default();
    let mut fixed_count = 0usize;
    // Folders whose leftover temporaries (from a killed run) were removed, once each.
    let mut cleaned: HashSet<PathBuf> = HashSet::new();
    let mut printer = Printer::new(args.format, args.quiet, &renderer).shard("validate", &args.settings(), args.walk.shard);
    printer.begin(out)?;
    for_each_batch(
        walked.entries(),
        args.walk.jobs,
        |e| validate_entry(e, &settings),
        |_, reports| {
            for mut report in reports {
                mark_duplicates(&mut report, &mut ids);
                report.records.iter_mut().for_each(|r| r.diagnostics.retain(|d| !ignored.contains(d.code())));
                if args.fix && !args.dry_run {
                    let dir = report.path.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf);
                    if cleaned.insert(dir.clone()) {
                        crate::write::remove_stale_temporaries(&dir);
                    }
                }
                if args.fix {
                    match apply_fixes(&mut report, &settings, args.dry_run, out) {
                        Ok(n) => fixed_count += n,
                        Err(message) => {
                            let message = crate::text::terminal_safe(&message, false);
                            writeln!(err, "threadkit: {}: {message}", crate::text::shown(&report.path))?;
                            status = ExitStatus::Error;
                        }
                    }
                }
                totals.add(&report);
                printer.file(&report, out)?;
            }
            Ok(())
        },
    )?;
    printer.end(&totals, args.fixing(fixed_count), out)?;
    if totals.paths == 0 && status == ExitStatus::Success {
        return super::no_thread_files(&args.walk, false, err);
    }
    let failing = totals.errors > 0 || (args.deny_warnings && totals.warnings > 0);
    if failing && status == ExitStatus::Success {
        status = ExitStatus::Failure;
    }
    Ok(status)
}

/// `validate --profile P`: training files, one example per line, against the profile's rules.
fn run_training(
    args: &ValidateArgs,
    read: crate::cli::FromFormat,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<ExitStatus, CommandError> {
    let auto = read.profile().is_none();
    if auto && args.chat_template.is_some() {
        return Err(CommandError::Usage("--chat-template: name the profile (--profile trl or axolotl) the template is checked with, not auto".into()));
    }
    let profile = read.profile().unwrap_or(crate::export::format::Profile::Openai);
    let template = match &args.chat_template {
        None => None,
        Some(_) if !profile.format().templated() => {
            return Err(CommandError::Usage(format!(
                "--chat-template: the {} profile is not rendered with a model's chat template; use it with --profile trl or axolotl",
                profile.name()
            )));
        }
        Some(path) => match crate::export::chat_template::ChatTemplate::load(path) {
            Ok(t) => {
                if let Err(e) = t.check_budget(&crate::export::chat_template::probe_with_threadkit_tools()) {
                    return Err(CommandError::Usage(format!(
                        "--chat-template {}: {e} on a six-message probe conversation; it would on every example",
                        crate::text::shown(path)
                    )));
                }
                Some(t)
            }
            Err(e) => {
                return Err(CommandError::Usage(format!("--chat-template {e}")));
            }
        },
    };
    let counter = crate::tokens::Counter::new(args.tokenizer);
    let settings = crate::export::audit::TrainingSettings {
        profile,
        max_tokens: args.max_tokens.or(profile.format().default_max_tokens()),
        counter: &counter,
        template: template.as_ref(),
        max_file_size: args.walk.max_file_size,
        string_arguments: template.as_ref().is_some_and(|t| {
            t.choose_adaptation(&crate::export::chat_template::probe_with_threadkit_tools()).is_ok_and(|a| a.string_arguments)
        }),
    };
    if let Some(other) = args.walk.paths.iter().find(|p| {
        p.is_file() && !crate::source::is_training_file(p) && !crate::source::is_json(p)
    }) {
        return Err(CommandError::Usage(format!(
            "{}: not a training file threadkit reads; give JSONL (.jsonl, .jsonl.gz, .jsonl.zst) or a .json array of examples",
            crate::text::shown(other)
        )));
    }
    let renderer = Renderer::new(use_color(args.color));
    // A folder with LLaMA-Factory's dataset_info.json is read as LLaMA-Factory reads it: the
    // files its entries name, each with its entry's formatting, columns and tags.
    let (registries, paths): (Vec<PathBuf>, Vec<PathBuf>) = args.walk.paths.iter().cloned().partition(|p| {
        matches!(read, crate::cli::FromFormat::LlamaFactory | crate::cli::FromFormat::Auto)
            && p.is_dir()
            && p.join(crate::export::dataset_info::FILE).is_file()
    });
    if !registries.is_empty() && paths.is_empty() {
        return check_registries(args, &registries, settings, &renderer, out, err);
    }
    if !registries.is_empty() {
        return Err(CommandError::Usage(
            "a folder with a dataset_info.json is read on its own; name it alone (or its files without the folder)".into(),
        ));
    }
    let options =
        crate::walk::WalkOptions { follow_links: args.walk.follow_links, skip_backups: false, training_files: true, shard: None };
    let (walked, mut status) = super::walk_with(&args.walk, options, err)?;
    let mut totals = Totals { noun: Some("example"), ..Totals::default() };
    let mut fixed_count = 0usize;
    let mut printer = Printer::new(args.format, args.quiet, &renderer).shard("validate --profile", &args.settings(), args.walk.shard);
    printer.begin(out)?;
    for_each_batch(
        // A file named on the command line is always read (a `.json` one as a dataset array);
        // in folders, the walk found the training files.
        walked.entries(),
        args.walk.jobs,
        |e| {
            // `auto`: the file's own format, from its first example (said before its report).
            let detected = if auto { crate::export::audit::detect_file(&e.path, args.walk.max_file_size) } else { None };
            let settings = match detected {
                Some((p, _)) => crate::export::audit::TrainingSettings {
                    profile: p,
                    max_tokens: args.max_tokens.or(p.format().default_max_tokens()),
                    ..settings
                },
                None => settings,
            };
            let report = crate::export::audit::validate_training_entry(e, &settings);
            if !args.fix || !report.records.iter().any(|r| r.has_fix()) {
                return (report, None, detected);
            }
            let fixed = fix_training(&e.path, &settings, args.dry_run);
            // Written: checked again, as it now is on disk.
            let report = match &fixed {
                Ok(TrainingFix { written: true, .. }) => crate::export::audit::validate_training_entry(e, &settings),
                _ => report,
            };
            (report, Some(fixed), detected)
        },
        |_, reports| {
            for (mut report, fixed, detected) in reports {
                if auto && args.format == crate::report::Format::Human && !args.quiet {
                    match detected {
                        Some((p, why)) => writeln!(err, "{}: read as {}: {why}", crate::text::shown(&report.path), p.name())?,
                        None => writeln!(err, "{}: no example of a known training format; checked as openai", crate::text::shown(&report.path))?,
                    }
                }
                match fixed {
                    Some(Ok(TrainingFix { diff, resolved, written })) => {
                        out.write_all(diff.as_bytes())?;
                        if written {
                            fixed_count += resolved;
                        }
                    }
                    Some(Err(message)) => {
                        writeln!(err, "threadkit: {}: {message}", crate::text::shown(&report.path))?;
                        status = ExitStatus::Error;
                    }
                    None => {}
                }
                report.records.iter_mut().for_each(|r| {
                    r.diagnostics
                        .retain(|d| !args.ignore.iter().any(|i| rules::find(i).is_some_and(|r| r.code == d.code())))
                });
                totals.add(&report);
                printer.file(&report, out)?;
            }
            Ok(())
        },
    )?;
    printer.end(&totals, args.fixing(fixed_count), out)?;
    if totals.paths == 0 && status == ExitStatus::Success {
        return super::nothing_checked(&args.walk, options, super::TRAINING_FILES, err);
    }
    if (totals.errors > 0 || (args.deny_warnings && totals.warnings > 0)) && status == ExitStatus::Success {
        status = ExitStatus::Failure;
    }
    Ok(status)
}

/// Fix every fixable record of one file; write it (or print its diff). Returns findings fixed.
fn apply_fixes(
    report: &mut FileReport,
    settings: &Settings<'_>,
    dry_run: bool,
    out: &mut dyn Write,
) -> Result<usize, String> {
    let stem = file_stem(&report.path);
    let options = Options { data_root: settings.data_root };
    let mut replacements: HashMap<usize, String> = HashMap::new();
    // The validated text of each replaced line: a line is only replaced if it still holds it.
    let mut originals: HashMap<usize, std::sync::Arc<str>> = HashMap::new();
    let mut whole_file: Option<(String, String)> = None;
    let mut count = 0;
    let jsonl = report.is_jsonl();
    // Applied to the report only once the fixed file is written.
    let mut updates = Vec::new();
    for (i, r) in report.records.iter_mut().enumerate().filter(|(_, r)| r.has_fix()) {
        let (Some(doc), Some(text)) = (r.doc.take(), r.text.clone()) else {
            continue;
        };
        let file_stem = if jsonl { None } else { stem.as_deref() };
        let fixed = fix::fix_record(&text, doc, file_stem, options)?;
        count += fixed.resolved.len();
        let mut remaining = fixed.remaining;
        // Findings added at the merge (duplicate ids) are not re-derived by the fix; keep them.
        remaining.extend(r.diagnostics.iter().filter(|d| d.rule.code == rules::DUPLICATE_ID.code).cloned());
        crate::findings::locate_all(&mut remaining, &fixed.text);
        if dry_run {
            let name = crate::findings::place(report.path.display(), r.record);
            out.write_all(unified(&text, &fixed.text, &name).as_bytes()).map_err(|e| e.to_string())?;
            continue;
        }
        match r.record {
            Some(line) => {
                replacements.insert(line, fixed.text.clone());
                originals.insert(line, text.clone());
            }
            None => whole_file = Some((text.to_string(), fixed.text.clone())),
        }
        updates.push((i, remaining, fixed.text));
    }
    if dry_run {
        return Ok(0);
    }
    let stamp = report.stamp;
    let expected = stamp.and_then(|s| s.file_id());
    let unchanged = || stamp.is_some() && Stamp::of(&report.path) == stamp;
    let written = if let Some((old, new)) = whole_file {
        // The bytes on disk must still be the ones validated, checked after the new
        // file is staged and right before it is renamed over the old one.
        let same_text = || source::read_whole(&report.path, u64::MAX / 2).is_ok_and(|now| now == old);
        write_if(&report.path, new.as_bytes(), || unchanged() && same_text(), expected)
    } else if !replacements.is_empty() {
        rewrite_jsonl(&report.path, &replacements, &originals, &unchanged, expected)
    } else {
        return Ok(count);
    };
    match written {
        Ok(true) => {
            for (i, remaining, text) in updates {
                report.records[i].diagnostics = remaining;
                report.records[i].text = Some(text.into());
            }
            Ok(count)
        }
        Ok(false) => {
            let d = Diagnostic::new(
                &rules::CHANGED_WHILE_FIXING,
                "",
                "the file changed on disk while it was being fixed; nothing was written \
                 (run `threadkit validate --fix` again when the other program is done)",
            );
            let first = report.records.first_mut().map(|r| r.record);
            let d = d.at(crate::diagnostic::Location { offset: 0, len: 0, line: first.flatten().unwrap_or(1), column: 1 });
            if let Some(r) = report.records.first_mut() {
                r.diagnostics.push(d);
            }
            Ok(0)
        }
        Err(e) => Err(format!("cannot write the fixed file: {e}; the original is unchanged")),
    }
}

/// `validate --profile llama-factory DIR` on folders holding a `dataset_info.json`: the file
/// itself, then each local dataset it names, read with that entry's formatting, columns and tags.
fn check_registries(
    args: &ValidateArgs,
    registries: &[PathBuf],
    settings: crate::export::audit::TrainingSettings<'_>,
    renderer: &Renderer,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<ExitStatus, CommandError> {
    let lf = crate::export::audit::TrainingSettings {
        profile: crate::export::format::Profile::LlamaFactory,
        max_tokens: args.max_tokens,
        ..settings
    };
    let mut totals = Totals { noun: Some("example"), ..Totals::default() };
    let mut printer = Printer::new(args.format, args.quiet, renderer);
    printer.begin(out)?;
    for dir in registries {
        let info = crate::export::dataset_info::read(dir, args.walk.max_file_size);
        if !args.quiet && args.format == crate::report::Format::Human {
            let names: Vec<&str> = info.datasets.iter().map(|d| d.name.as_str()).collect();
            let remote = if info.remote.is_empty() {
                String::new()
            } else {
                format!("; {} loaded from a hub, script or cloud not checked ({})", info.remote.len(), info.remote.join(", "))
            };
            writeln!(err, "{}: LLaMA-Factory dataset_info.json: {} local datasets checked ({}){remote}", crate::text::shown(dir), names.len(), names.join(", "))?;
        }
        totals.add(&info.report);
        printer.file(&info.report, out)?;
        for d in &info.datasets {
            let entry = crate::walk::Entry { path: d.file.clone(), problem: None, root: d.file.clone() };
            let report = crate::export::audit::validate_mapped_entry(&entry, &lf, Some(d));
            totals.add(&report);
            printer.file(&report, out)?;
        }
    }
    printer.end(&totals, crate::report::Fixing::NotAsked, out)?;
    Ok(if totals.errors > 0 || (args.deny_warnings && totals.warnings > 0) { ExitStatus::Failure } else { ExitStatus::Success })
}

/// What `--fix` did to one training file: the diff (with `--dry-run`), how many findings it
/// resolved, and whether the file was rewritten.
struct TrainingFix {
    diff: String,
    resolved: usize,
    written: bool,
}

/// Fix one training file in place (or only show the diff): the changed lines replaced, every
/// other byte kept, written atomically and only if the file still holds what was read.
fn fix_training(path: &Path, settings: &crate::export::audit::TrainingSettings<'_>, dry_run: bool) -> Result<TrainingFix, String> {
    let stamp = Stamp::of(path);
    let Some(fixed) = crate::export::audit::fix_training_file(path, settings)? else {
        return Ok(TrainingFix { diff: String::new(), resolved: 0, written: false });
    };
    let name = crate::text::shown(path);
    if dry_run {
        let diff = match &fixed.whole {
            Some(new) => unified(&fixed.old_text, new, &name),
            None => fixed.lines.iter().map(|(n, old, new)| unified(&format!("{old}\n"), &format!("{new}\n"), &format!("{name}:{n}"))).collect(),
        };
        return Ok(TrainingFix { diff, resolved: fixed.resolved, written: false });
    }
    let expected = stamp.and_then(|s| s.file_id());
    let unchanged = || stamp.is_some() && Stamp::of(path) == stamp;
    let written = match &fixed.whole {
        Some(new) => {
            let same_text = || source::read_whole(path, u64::MAX / 2).is_ok_and(|now| now == fixed.old_text);
            write_if(path, new.as_bytes(), || unchanged() && same_text(), expected)
        }
        None => {
            let replacements = fixed.lines.iter().map(|(n, _, new)| (*n, new.clone())).collect();
            let originals = fixed.lines.iter().map(|(n, old, _)| (*n, std::sync::Arc::from(old.as_str()))).collect();
            rewrite_jsonl(path, &replacements, &originals, &unchanged, expected)
        }
    };
    match written {
        Ok(true) => Ok(TrainingFix { diff: String::new(), resolved: fixed.resolved, written: true }),
        Ok(false) => Err("the file changed on disk while it was being fixed; nothing was written (run --fix again when the other program is done)".into()),
        Err(e) => Err(format!("cannot write the fixed file: {e}; the original is unchanged")),
    }
}

fn unified(old: &str, new: &str, name: &str) -> String {
    similar::TextDiff::from_lines(old, new).unified_diff().context_radius(3).header(name, &format!("{name} (fixed)")).to_string()
}

/// Stage `bytes` beside `path`, then rename it over `path` only if `unchanged()` still
/// holds at that moment. `Ok(false)`: nothing was written.
fn write_if(
    path: &Path,
    bytes: &[u8],
    unchanged: impl Fn() -> bool,
    expected: Option<crate::walk::FileId>,
) -> io::Result<bool> {
    let staged = crate::write::stage(path, bytes)?;
    staged.file().sync_all()?;
    if !unchanged() {
        return Ok(false);
    }
    // The file read (its identity from before the read), not whatever is there now.
    let Some(id) = expected else { return Ok(false) };
    if !staged.commit_if_still(id)? {
        return Ok(false);
    }
    crate::write::sync_dirs([path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))]);
    Ok(true)
}

/// Rewrite a JSONL file with some lines replaced, keeping every other byte as it was.
/// Refused (`Ok(false)`) when a replaced line no longer holds the text that was
/// validated, or the file changed before the rename.
fn rewrite_jsonl(
    path: &Path,
    replacements: &HashMap<usize, String>,
    originals: &HashMap<usize, std::sync::Arc<str>>,
    unchanged: &dyn Fn() -> bool,
    expected: Option<crate::walk::FileId>,
) -> io::Result<bool> {
    if !unchanged() {
        return Ok(false);
    }
    let mut reader = io::BufReader::new(std::fs::File::open(path)?);
    let mut out = Vec::new();
    let mut line = Vec::new();
    let mut n = 0;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        n += 1;
        match replacements.get(&n) {
            Some(new) => {
                let end = line.iter().rposition(|&b| b != b'\n' && b != b'\r').map_or(0, |p| p + 1);
                let now = String::from_utf8_lossy(&line[..end]);
                let same = |o: &std::sync::Arc<str>| {
                    now.trim_start_matches('\u{feff}') == o.trim_start_matches('\u{feff}').trim_end_matches(['\n', '\r'])
                };
                if !originals.get(&n).is_some_and(same) {
                    return Ok(false);
                }
                out.extend_from_slice(new.trim_end_matches(['\n', '\r']).as_bytes());
                out.extend_from_slice(&line[end..]);
            }
            None => out.extend_from_slice(&line),
        }
    }
    write_if(path, &out, unchanged, expected)
}
