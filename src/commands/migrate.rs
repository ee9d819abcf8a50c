//! `threadkit migrate`: plan every thread in parallel, resolve collisions in order,
//! then act — write the converted thread atomically, then move the original.
//!
//! The order makes a killed run safe to repeat: a converted file whose
//! `migrated_from.id` names its source means "already converted", so a rerun only
//! finishes the move; a source in the backup folder is never overwritten.

use std::collections::HashMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;
use serde_json::Value;

use crate::check::{self, Options};
use crate::cli::MigrateArgs;
use crate::convert::{self, Provenance};
use crate::data_root::DataRoot;
use crate::fix;
use crate::report::Format;
use crate::source;
use crate::version::{detect, Version};
use crate::walk::{Entry, BACKUP_SUFFIX};
use crate::write::{make_durable, move_file, remove_stale_temporaries, stage, sync_dirs, Staged};

use super::{for_each_batch, open_data_root, walk_args, ExitStatus};
use super::CommandError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum Action {
    Converted,
    Moved,
    Skipped,
    Failed,
}

#[derive(Debug, Serialize)]
struct Item {
    path: PathBuf,
    action: Action,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    backup: Option<PathBuf>,
    reason: String,
    #[serde(skip)]
    text: Option<String>,
    /// The source's old id, to recognise our own earlier conversion of it.
    #[serde(skip)]
    source_id: Option<String>,
}

impl Item {
    fn new(path: &Path, action: Action, reason: impl Into<String>) -> Item {
        Item {
            path: path.to_path_buf(),
            action,
            target: None,
            backup: None,
            reason: reason.into(),
            text: None,
            source_id: None,
        }
    }
    fn fail(mut self, reason: impl Into<String>) -> Item {
        self.action = Action::Failed;
        self.reason = reason.into();
        self
    }
}

struct Plan<'a> {
    args: &'a MigrateArgs,
    data_root: Option<DataRoot>,
    provenance_time: String,
}

pub fn run(args: MigrateArgs, out: &mut dyn Write, err: &mut dyn Write) -> Result<ExitStatus, CommandError> {
    let data_root = match open_data_root(args.data_root.as_ref(), err)? {
        Ok(d) => d,
        Err(status) => return Ok(status),
    };
    if let Some(dir) = args.out.as_ref().or(args.backup_dir.as_ref()) {
        if !args.dry_run {
            if let Err(e) = std::fs::create_dir_all(dir) {
                return Err(CommandError::Usage(format!("cannot create {}: {e}", dir.display())));
            }
        }
    }
    let (mut walked, mut status) = walk_args(&args.walk, true, err)?;
    if args.out.is_none() {
        if let Err(message) = guard_backup_folder(&args, &mut walked) {
            return Err(CommandError::Usage(message.to_string()));
        }
    }
    let plan = Plan { args: &args, data_root, provenance_time: migration_time() };
    let mut targets: HashMap<PathBuf, PathBuf> = HashMap::new();
    let mut backups: HashMap<PathBuf, PathBuf> = HashMap::new();
    // A run killed earlier may have left temporary files beside its targets; each
    // folder is cleared once, before the first write into it.
    let mut cleaned: std::collections::HashSet<PathBuf> = std::collections::HashSet::new();
    let mut counts: HashMap<&'static str, usize> = HashMap::new();
    let mut first = true;
    if args.format == Format::Json {
        write!(out, "{{\"threads\": [")?;
    }
    let progress = crate::progress::Progress::new("threads", None, args.quiet);
    for_each_batch(
        walked.entries(),
        args.walk.jobs,
        |e| plan.item(e),
        |pool, mut items| {
            // Sequential: decisions that depend on other threads of this run, in path order.
            for item in &mut items {
                resolve(item, &mut targets, &mut backups, args.reverse);
            }
            if !args.dry_run {
                let dirs =
                    items.iter().flat_map(|i| [Some(i.path.as_path()), i.target.as_deref(), i.backup.as_deref()]);
                for dir in dirs.flatten().filter_map(Path::parent) {
                    if cleaned.insert(dir.to_path_buf()) {
                        remove_stale_temporaries(dir);
                    }
                }
                act_on_batch(pool, &mut items);
            }
            progress.inc(items.len() as u64);
            for item in &items {
                *counts.entry(action_name(item.action)).or_default() += 1;
                match args.format {
                    Format::Json => {
                        write!(
                            out,
                            "{}\n  {}",
                            if first { "" } else { "," },
                            crate::text::json_line(item)
                        )?;
                        first = false;
                    }
                    Format::Human if args.quiet && item.action != Action::Failed => {}
                    Format::Human => human_line(out, item, args.dry_run)?,
                }
            }
            Ok(())
        },
    )?;
    progress.finish();
    let n = |k: &str| counts.get(k).copied().unwrap_or(0);
    match args.format {
        Format::Json => writeln!(
            out,
            "\n], \"summary\": {{\"converted\": {}, \"moved\": {}, \"skipped\": {}, \"failed\": {}, \"dry_run\": {}}}}}",
            n("converted"), n("moved"), n("skipped"), n("failed"), args.dry_run
        )?,
        Format::Human => {
            let (convert, moved) = if args.dry_run { ("Would convert", "would move") } else { ("Converted", "moved") };
            writeln!(out, "{convert} {}, {moved} {}, skipped {}, failed {}.", n("converted"), n("moved"), n("skipped"), n("failed"))?;
            if n("converted") + n("moved") + n("failed") == 0 && !counts.is_empty() {
                writeln!(out, "Nothing to migrate: every thread found is already in its target format.")?;
            }
        }
    }
    // Finding no thread at all is most likely a wrong path, not "nothing to migrate".
    if counts.is_empty() && status == ExitStatus::Success {
        return super::no_thread_files(&args.walk, true, err);
    }
    if n("failed") > 0 && status == ExitStatus::Success {
        status = ExitStatus::Failure;
    }
    Ok(status)
}

fn action_name(a: Action) -> &'static str {
    match a {
        Action::Converted => "converted",
        Action::Moved => "moved",
        Action::Skipped => "skipped",
        Action::Failed => "failed",
    }
}

/// One migrated file for a person. Paths are the walked files' names and reasons quote errors
/// (a conflict's reason is a diff, kept on its lines): data, so both are made terminal-safe.
fn human_line(out: &mut dyn Write, item: &Item, dry_run: bool) -> io::Result<()> {
    let p = crate::text::shown(&item.path);
    let arrow = |to: &Option<PathBuf>, before: &str, after: &str| {
        to.as_ref().map_or(String::new(), |to| format!("{before}{}{after}", crate::text::shown(to)))
    };
    let reason = crate::text::terminal_safe(&item.reason, true);
    match item.action {
        Action::Converted => {
            let (t, b) = (arrow(&item.target, " → ", ""), arrow(&item.backup, " (original → ", ")"));
            writeln!(out, "{} {p}{t}{b}{}", if dry_run { "would convert" } else { "converted" }, suffix(&reason))
        }
        Action::Moved => {
            let b = arrow(&item.backup, " → ", "");
            writeln!(out, "{} {p}{b}{}", if dry_run { "would move" } else { "moved" }, suffix(&reason))
        }
        Action::Skipped => Ok(()),
        Action::Failed => writeln!(out, "failed {p}: {reason}"),
    }
}

fn suffix(reason: &str) -> String {
    if reason.is_empty() {
        String::new()
    } else {
        format!(" ({reason})")
    }
}

impl Plan<'_> {
    /// Everything about one file that needs no knowledge of the others.
    fn item(&self, entry: &Entry) -> Item {
        let path = entry.path.as_path();
        let item = Item::new(path, Action::Skipped, "");
        if let Some(p) = entry.problem.as_deref() {
            return item.fail(format!("cannot read: {p}"));
        }
        if source::is_jsonl(path) {
            return Item {
                reason: "JSONL archives are not migrated; migrate the thread files they were made from".into(),
                ..item
            };
        }
        let text = match source::read_whole(path, self.args.walk.max_file_size) {
            Ok(t) => t,
            Err(d) => return item.fail(d.message),
        };
        let (doc, non_finite) = match source::parse_full(&text) {
            Ok(p) => (p.value, p.non_finite),
            Err(d) => return item.fail(format!("{} ({})", d.message, d.rule.code)),
        };
        let Some(version) = detect(&doc).version else {
            return item.fail("not a thread of any known version (TK006)");
        };
        if self.args.reverse != (version == Version::OpenAiV1) || (!self.args.reverse && !version.is_legacy()) {
            return Item {
                reason: format!("already {}", if self.args.reverse { "legacy" } else { "openai_v1" }),
                ..item
            };
        }
        let source_id = crate::thread::ThreadView::new(&doc, version).id().map(str::to_string);
        let item = Item { source_id, ..item };
        let backup = (self.args.out.is_none()).then(|| backup_path(self.args.backup_dir.as_deref(), entry));
        if self.args.backup_only {
            return Item { action: Action::Moved, backup, reason: format!("legacy {}", version.as_str()), ..item };
        }
        let converted = if self.args.reverse {
            convert::to_v3(&doc)
        } else {
            let provenance = Provenance {
                migrated_at: self.provenance_time.clone(),
                fallback_created_at: modified_time(path),
                non_finite,
            };
            let manifest_for = |dataset: &str| -> Option<Value> {
                let root = self.data_root.as_ref()?;
                root.dataset(dataset).as_ref().as_ref().ok().map(|d| d.manifest.clone())
            };
            convert::to_openai(&doc, version, &provenance, &manifest_for)
        };
        let new_doc = match converted {
            Ok(d) => d,
            Err(e) => return item.fail(e.to_string()),
        };
        let new_version = if self.args.reverse { Version::V3 } else { Version::OpenAiV1 };
        let new_id = crate::thread::ThreadView::new(&new_doc, new_version).id().unwrap_or("thread").to_string();
        if crate::dataset::layout::safe_name(&new_id).is_err() {
            return item.fail(format!("the thread id {new_id:?} cannot be a file name"));
        }
        // An invalid result is never written: the core checks it as it would any file.
        let checked = check::check(&new_doc, Some(&new_id), Options { data_root: None });
        if let Some(d) = checked.diagnostics.iter().find(|d| d.is_error()) {
            return item.fail(format!("the converted thread would be invalid: {} {}", d.code(), d.message));
        }
        let dir = self
            .args
            .out
            .clone()
            .unwrap_or_else(|| path.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf));
        let target = dir.join(format!("{new_id}.json"));
        let text = if self.args.reverse { convert::render_v3(&new_doc, &text) } else { fix::render(&new_doc, &text) };
        Item { action: Action::Converted, target: Some(target), backup, text: Some(text), ..item }
    }
}

/// Where an original goes: below `--backup-dir`, or below the sibling `<root>_v3_backup/`
/// of the folder it was found in, keeping its path below that folder (so two
/// subfolders' files of the same name never meet, and the backup is outside the tree).
fn backup_path(backup_dir: Option<&Path>, entry: &Entry) -> PathBuf {
    backup_dir.map_or_else(|| default_backup_root(entry), Path::to_path_buf).join(entry.relative())
}

fn default_backup_root(entry: &Entry) -> PathBuf {
    let base = if entry.root == entry.path { entry.path.parent() } else { Some(entry.root.as_path()) };
    let base = base.filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let base = base.canonicalize().unwrap_or_else(|_| base.to_path_buf());
    let folder = base.file_name().and_then(|n| n.to_str()).unwrap_or("threads");
    base.with_file_name(format!("{folder}{BACKUP_SUFFIX}"))
}

/// A path made absolute and free of `..` and symlinks, for a folder that may not exist yet.
fn canonical(path: &Path) -> PathBuf {
    if let Ok(p) = path.canonicalize() {
        return p;
    }
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) => {
            let parent = if parent.as_os_str().is_empty() { Path::new(".") } else { parent };
            canonical(parent).join(name)
        }
        _ => path.to_path_buf(),
    }
}

/// `--backup-dir` must never be a folder being migrated, nor hold one: the originals
/// would be "backed up" onto themselves. A backup folder inside a source folder is
/// allowed and never walked, whatever its name, so a second run cannot take backups
/// for input.
fn guard_backup_folder(args: &MigrateArgs, walked: &mut crate::walk::Walk) -> Result<(), String> {
    let Some(backup) = &args.backup_dir else { return Ok(()) };
    let b = canonical(backup);
    let sources: Vec<PathBuf> = args
        .walk
        .paths
        .iter()
        .filter(|p| p.exists())
        .map(|p| if p.is_dir() { canonical(p) } else { canonical(p.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."))) })
        .collect();
    for src in &sources {
        if *src == b || src.starts_with(&b) {
            let how = if *src == b { "is" } else { "contains" };
            return Err(format!(
                "--backup-dir {} {how} the folder being migrated ({}); the originals would be moved onto \
                 themselves. Choose a backup folder outside it (for example {}{BACKUP_SUFFIX})",
                backup.display(),
                src.display(),
                src.display()
            ));
        }
    }
    if sources.iter().any(|src| b.starts_with(src)) {
        walked.exclude_dir(backup);
    }
    Ok(())
}

/// Now, or `SOURCE_DATE_EPOCH` when set, so that migrations can be reproduced byte for byte.
fn migration_time() -> String {
    let now = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .and_then(|secs| chrono::DateTime::<chrono::Utc>::from_timestamp(secs, 0))
        .unwrap_or_else(|| chrono::DateTime::<chrono::Utc>::from(std::time::SystemTime::now()));
    now.to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

fn modified_time(path: &Path) -> Option<String> {
    let t = std::fs::metadata(path).ok()?.modified().ok()?;
    Some(chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Secs, false))
}

/// Decisions that depend on the disk and on other threads of the run.
fn resolve(
    item: &mut Item,
    targets: &mut HashMap<PathBuf, PathBuf>,
    backups: &mut HashMap<PathBuf, PathBuf>,
    reverse: bool,
) {
    if let Some(target) = item.target.clone() {
        if let Some(other) = targets.get(&target) {
            let msg =
                format!("{} is also the target of {}; rename one of the threads", target.display(), other.display());
            *item = std::mem::replace(item, Item::new(&item.path, Action::Failed, "")).fail(msg);
            return;
        }
        targets.insert(target.clone(), item.path.clone());
        if let Ok(existing) = std::fs::read_to_string(&target) {
            let ours = serde_json::from_str::<Value>(&existing).ok().is_some_and(|v| {
                let origin = if reverse { v.get("thread_id") } else { v.pointer("/metadata/migrated_from/id") };
                origin.and_then(Value::as_str) == item.source_id.as_deref()
            });
            if ours {
                // A previous (perhaps killed) run converted it: only the move is left to do.
                item.text = None;
                item.reason = "already converted by an earlier run".into();
            } else if Some(existing.as_str()) == item.text.as_deref() {
                item.text = None;
                item.reason = "an identical converted file is already there".into();
            } else {
                let diff = similar::TextDiff::from_lines(existing.as_str(), item.text.as_deref().unwrap_or(""))
                    .unified_diff()
                    .context_radius(2)
                    .header(&target.display().to_string(), "converted")
                    .to_string();
                let msg =
                    format!("{} already exists with other content; nothing was written\n{diff}", target.display());
                *item = std::mem::replace(item, Item::new(&item.path, Action::Failed, "")).fail(msg);
                return;
            }
        }
    }
    if let Some(backup) = item.backup.clone() {
        // Two originals of this run with one backup name: the second would replace the first.
        if let Some(other) = backups.get(&backup).filter(|o| std::fs::read(o).ok() != std::fs::read(&item.path).ok()) {
            let msg = format!(
                "{} is also where {} is backed up, with other content; nothing was moved (use a --backup-dir per source folder)",
                backup.display(),
                other.display()
            );
            *item = std::mem::replace(item, Item::new(&item.path, Action::Failed, "")).fail(msg);
            return;
        }
        backups.insert(backup.clone(), item.path.clone());
        if crate::write::same_file(&backup, &item.path) {
            let msg = format!("{} is the original itself; nothing was moved", backup.display());
            *item = std::mem::replace(item, Item::new(&item.path, Action::Failed, "")).fail(msg);
            return;
        }
        if backup.exists() {
            let same = std::fs::read(&backup).ok() == std::fs::read(&item.path).ok();
            if !same {
                let msg = format!(
                    "{} already exists in the backup folder with other content; nothing was moved",
                    backup.display()
                );
                *item = std::mem::replace(item, Item::new(&item.path, Action::Failed, "")).fail(msg);
            }
        }
    }
}

/// Write every converted thread, then move every original, for one batch. Each step
/// is atomic, and the order makes a repeated run finish the job:
/// stage the converted files (parallel); make them durable (one sync per filesystem);
/// rename them into place and make those renames durable; move the originals.
/// A crash before the renames leaves only hidden temporaries (removed by the next run);
/// after them, the next run sees "already converted" and finishes the moves.
fn act_on_batch(pool: &rayon::ThreadPool, items: &mut [Item]) {
    let fail = |item: &mut Item, reason: String| {
        item.action = Action::Failed;
        item.reason = reason;
    };
    let staged: Vec<Option<Staged>> = pool.install(|| {
        items
            .par_iter_mut()
            .map(|item| {
                let (Some(target), Some(text)) = (&item.target, &item.text) else { return None };
                if item.action != Action::Converted {
                    return None;
                }
                let result = target
                    .parent()
                    .map_or(Ok(()), std::fs::create_dir_all)
                    .and_then(|()| stage(target, text.as_bytes()));
                match result {
                    Ok(s) => Some(s),
                    Err(e) => {
                        let msg = format!("cannot write {}: {e}; the original is unchanged", target.display());
                        fail(item, msg);
                        None
                    }
                }
            })
            .collect()
    });
    let pending: Vec<&Staged> = staged.iter().flatten().collect();
    if let Err(e) = make_durable(&pending) {
        for (item, s) in items.iter_mut().zip(&staged) {
            if s.is_some() {
                fail(item, format!("cannot make the converted file durable: {e}; the original is unchanged"));
            }
        }
        return;
    }
    let target_dirs: Vec<PathBuf> = pending.iter().filter_map(|s| s.target().parent().map(Path::to_path_buf)).collect();
    for (item, s) in items.iter_mut().zip(staged) {
        if let Some(s) = s {
            // Never over a file that appeared since `resolve` looked (another run, an editor).
            if let Err(e) = s.commit_new() {
                fail(item, format!("cannot rename the converted file into place: {e}; the original is unchanged"));
            }
        }
    }
    sync_dirs(target_dirs.iter().map(PathBuf::as_path));

    pool.install(|| {
        items.par_iter_mut().filter(|i| matches!(i.action, Action::Converted | Action::Moved)).for_each(move_original)
    });
    let touched: Vec<PathBuf> = items
        .iter()
        .filter(|i| i.backup.is_some() && matches!(i.action, Action::Converted | Action::Moved))
        .flat_map(|i| [i.path.parent(), i.backup.as_deref().and_then(Path::parent)])
        .flatten()
        .map(Path::to_path_buf)
        .collect();
    sync_dirs(touched.iter().map(PathBuf::as_path));
}

fn move_original(item: &mut Item) {
    let Some(backup) = &item.backup else { return };
    let result = (|| -> io::Result<()> {
        if let Some(dir) = backup.parent() {
            std::fs::create_dir_all(dir)?;
        }
        match move_file(&item.path, backup) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                // Checked again here, not only in `resolve`: another process may have put a
                // file there since. Only an identical copy that is not the original itself
                // lets the original go.
                let identical = !crate::write::same_file(backup, &item.path)
                    && std::fs::read(backup).ok().is_some_and(|b| std::fs::read(&item.path).ok() == Some(b));
                if identical {
                    std::fs::remove_file(&item.path)
                } else {
                    Err(io::Error::new(
                        io::ErrorKind::AlreadyExists,
                        "a different file is already there (nothing was moved or replaced)",
                    ))
                }
            }
            other => other,
        }
    })();
    if let Err(e) = result {
        item.action = Action::Failed;
        item.reason =
            format!("converted, but the original could not be moved to {}: {e}; run again to finish", backup.display());
    }
}
