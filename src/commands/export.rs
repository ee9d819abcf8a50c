//! `threadkit export`, in four steps: `resolve` the arguments into a `Plan` (every usage
//! error is found before anything is read or written); run the pipeline — walk, prepare each
//! thread in parallel (`export::prepare`), spool the examples (`export::spool`), assign splits;
//! `write` each split in id order (sharded, compressed, hashed) with the format's side files and
//! `export.json`, committed at once; `print` what happened.

use std::collections::{BTreeMap, HashSet};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::cli::ExportArgs;
use crate::data_root::DataRoot;
use crate::export::chat_template::{self, Adaptation, ChatTemplate};
use crate::export::format::{Options, TrainingFormat, Written};
use crate::export::sink::{Compression, DataFile, FileInfo, OutputError, Outputs};
use crate::export::split::{self, SplitSpec};
use crate::export::partitions::Partitions;
use crate::export::in_order::{self, InOrder};
use crate::export::spool::Spool;
use crate::tokens::Counter;
use crate::export::{prepare, Filters, Outcome, Settings, Skip, TokenStats};
use crate::report::Format;
use crate::source;
use crate::thread::Status;
use crate::walk::Entry;

use super::{for_each_batch, open_data_root, ExitStatus};
use super::CommandError;

/// Where the files go: one named file, or a folder of splits.
enum Layout {
    File { dir: PathBuf, name: String },
    Dir { dir: PathBuf },
}

impl Layout {
    fn dir(&self) -> &Path {
        match self {
            Layout::File { dir, .. } | Layout::Dir { dir } => dir,
        }
    }

    fn manifest_name(&self) -> String {
        match self {
            Layout::File { name, .. } => format!("{name}.export.json"),
            Layout::Dir { .. } => "export.json".to_string(),
        }
    }
}

/// Everything the arguments decide, checked before anything is read or written.
struct Plan {
    statuses: Option<Vec<String>>,
    spec: SplitSpec,
    layout: Layout,
    compression: Compression,
    format: &'static dyn TrainingFormat,
    template: Option<(ChatTemplate, Adaptation)>,
    data_root: Option<DataRoot>,
}

/// `Err` carries the exit status after the message was written.
fn resolve(args: &ExportArgs, err: &mut dyn Write) -> io::Result<Result<Plan, ExitStatus>> {
    macro_rules! usage {
        ($($t:tt)*) => {{
            writeln!(err, $($t)*)?;
            return Ok(Err(ExitStatus::Error));
        }};
    }
    let statuses = match Status::filter(&args.status) {
        Ok(statuses) => statuses,
        Err(bad) => usage!("threadkit: --status {bad:?}: use active, finished, max_turns_reached or all"),
    };
    let spec = match &args.split {
        Some(s) => match SplitSpec::parse(s) {
            Ok(spec) => spec,
            Err(e) => usage!("threadkit: --split {s:?}: {e}"),
        },
        None => SplitSpec::single(),
    };
    if args.shard_size == Some(0) {
        usage!("threadkit: --shard-size must be at least 1");
    }
    if args.partitions.is_some() && args.split.is_some() && args.split_method != split::Method::Hash {
        usage!(
            "threadkit: --partitions writes each example as it comes, so its split must follow from its recording alone: \
             use --split-method hash (the default) with it, or drop --partitions"
        );
    }
    let out_name = args.out.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let mut compression = args.compress;
    let layout = if [".jsonl", ".jsonl.gz", ".jsonl.zst"].iter().any(|e| out_name.ends_with(e)) {
        let implied = if out_name.ends_with(".gz") {
            Compression::Gzip
        } else if out_name.ends_with(".zst") {
            Compression::Zstd
        } else {
            Compression::None
        };
        if compression != Compression::None && compression != implied {
            usage!("threadkit: --out {}: the extension and --compress disagree", args.out.display());
        }
        compression = implied;
        if args.split.is_some() || args.shard_size.is_some() || args.partitions.is_some() {
            usage!(
                "threadkit: --split, --shard-size and --partitions write several files: give --out a folder, not {}",
                args.out.display()
            );
        }
        let dir = match args.out.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        Layout::File { dir, name: out_name.to_string() }
    } else {
        if args.out.is_file() {
            usage!(
                "threadkit: --out {}: a file that is not .jsonl; give a folder or a NAME.jsonl path",
                args.out.display()
            );
        }
        Layout::Dir { dir: args.out.clone() }
    };
    let format = args.profile.format();
    if !format.reads_compressed() && compression != Compression::None {
        usage!(
            "threadkit: LLaMA-Factory reads only arrow, csv, json, jsonl, parquet and txt files: export the llama-factory profile uncompressed (no --compress, no .gz/.zst --out)"
        );
    }
    let template = match &args.chat_template {
        None => None,
        Some(_) if !format.templated() => usage!(
            "threadkit: --chat-template: the {} profile is not rendered with a model's chat template; use it with --profile trl or axolotl",
            args.profile.name()
        ),
        Some(path) => match ChatTemplate::load(path) {
            Ok(t) => Some(t),
            Err(e) => usage!("threadkit: --chat-template {e}"),
        },
    };
    // What the template requires is decided once, on a probe with every shape an export has.
    let template = match template {
        None => None,
        Some(t) => match t.choose_adaptation(&chat_template::probe_with_threadkit_tools()) {
            Ok(adaptation) => Some((t, adaptation)),
            Err(e) => usage!(
                "threadkit: --chat-template {}: the template fails on a tool-calling conversation however it is adapted, so it would fail on every example: {}",
                crate::text::terminal_safe(&t.file, false),
                crate::text::terminal_safe(&e, false)
            ),
        },
    };
    let data_root = match open_data_root(args.data_root.as_ref(), err)? {
        Ok(d) => d,
        Err(status) => return Ok(Err(status)),
    };
    Ok(Ok(Plan { statuses, spec, layout, compression, format, template, data_root }))
}

pub fn run(args: ExportArgs, out: &mut dyn Write, err: &mut dyn Write) -> Result<ExitStatus, CommandError> {
    let plan = match resolve(&args, err)? {
        Ok(plan) => plan,
        Err(status) => return Ok(status),
    };
    let Plan { layout, format, .. } = &plan;
    args.tokenizer.preload();
    let settings = Settings {
        profile: args.profile,
        filters: Filters {
            statuses: plan.statuses.clone(),
            correct_only: args.correct_only,
            min_tool_calls: args.min_tool_calls,
            datasets: args.dataset.clone(),
            labels: args.label.clone(),
            // OpenAI rejects longer examples; other trainers would truncate them silently.
            max_tokens: args.max_tokens.or(format.default_max_tokens()),
        },
        options: Options { unplaceable: args.unplaceable, call_form: args.llama_factory_calls },
        counter: Counter::new(args.tokenizer),
        data_root: plan.data_root.as_ref(),
        template: plan.template.as_ref().map(|(t, a)| (t, *a)),
        quality: args.quality,
        labels: crate::quality::LabelCache::new(plan.data_root.as_ref()),
    };

    // The files an earlier export wrote here are replaced; anything else is the user's.
    let (ours, opened) = match layout {
        Layout::Dir { dir } => (
            crate::export::sink::previous_export(dir).into_iter().map(|f| dir.join(f)).collect::<Vec<_>>(),
            Outputs::folder(dir, args.force),
        ),
        Layout::File { dir, name } => {
            (vec![dir.join(name), dir.join(layout.manifest_name())], Outputs::file(dir).map_err(OutputError::Io))
        }
    };
    let mut outputs = match opened {
        Ok(o) => o,
        Err(OutputError::Foreign(files)) => {
            let shown: Vec<String> = files.iter().take(5).map(|f| f.display().to_string()).collect();
            let more = if files.len() > 5 { format!(" (+{} more)", files.len() - 5) } else { String::new() };
            return Err(CommandError::Usage(format!(
                "--out {}: the folder holds files no earlier export wrote ({}{more}); trainers would read \
                 them with the new export. Choose an empty or new folder, or pass --force to keep them beside it",
                layout.dir().display(),
                shown.join(", ")
            )));
        }
        Err(OutputError::Io(e)) => {
            return Err(CommandError::Usage(format!("--out {}: cannot write the export there: {e}", layout.dir().display())));
        }
    };
    let walk_options = match args.from {
        // Training files: JSONL (plain or compressed) and `.json` arrays.
        Some(_) => crate::walk::WalkOptions { training_files: true, ..super::thread_walk(&args.walk, true) },
        None => super::thread_walk(&args.walk, true),
    };
    let (walked, mut status) = super::walk_with(&args.walk, walk_options, err)?;
    // Exported files must not feed the next export of the same tree; only threadkit's own
    // files are left out, never the folder around them.
    let own: HashSet<crate::walk::FileId> = ours.iter().filter_map(|p| crate::walk::FileId::of(p)).collect();
    // The spool and the new files are written beside the output, and nothing there is
    // replaced until the commit: a failure here (a full disk, most often) changes nothing.
    let unwritable = |e: io::Error| {
        CommandError::Usage(format!(
            "--out {}: cannot write the export there: {e}; files already there were left as they were. \
             While it runs an export needs room for its lines once, or twice when its threads' file names \
             do not follow their ids (a spool and the files): free space there or choose another --out",
            layout.dir().display()
        ))
    };
    if let (Some(shard), crate::export::QualityMode::Deny, false) = (args.walk.shard, args.quality, args.quiet) {
        writeln!(
            err,
            "note: --shard {}/{}: near-duplicates (TKQ08) are found within this shard only; the shards together may keep \
             near-copies that one export over everything would leave out (--quality warn or off makes the shards' union equal one export)",
            shard.index, shard.count
        )?;
    }
    let in_order = match in_order_names(&args, &plan) {
        Some(names) => Some(InOrder::open(&mut outputs, plan.spec.clone(), args.seed, names).map_err(unwritable)?),
        None => None,
    };
    let mut spool = Spool::new(outputs.scratch_dir(), in_order).map_err(unwritable)?;
    let mut partitions = args.partitions.map(|n| Partitions::new(n, plan.spec.clone(), args.seed, plan.compression));
    let progress = crate::progress::Progress::new(if args.from.is_some() { "examples read" } else { "threads read" }, None, args.quiet);
    let mut near = crate::corpus::NearDuplicates::default();
    let entries = walked
        .entries()
        .filter(|e| own.is_empty() || crate::walk::FileId::of(&e.path).is_none_or(|id| !own.contains(&id)));
    for_each_batch(
        entries,
        args.walk.jobs,
        |e| match args.from {
            Some(from) => prepare_training_entry(e, &settings, from.profile(), args.walk.max_file_size),
            None => prepare_entry(e, &settings, args.walk.max_file_size),
        },
        |_, batch| {
            for (place, outcome) in batch.into_iter().flatten() {
                progress.inc(1);
                // Near-duplicates are decided here, in path order: the first of a group is kept.
                let outcome = match outcome {
                    Outcome::Exported(ex) if args.quality == crate::export::QualityMode::Deny => {
                        match ex.features.as_deref().and_then(|f| near.see(f, &place)) {
                            Some((first, j)) => Outcome::Skipped {
                                reason: Skip::NearDuplicate,
                                id: Some(ex.id.clone()),
                                detail: format!("TKQ08 near-duplicate: a near-copy of {first} (estimated Jaccard {j:.2})"),
                            },
                            None => Outcome::Exported(ex),
                        }
                    }
                    other => other,
                };
                match partitions.as_mut() {
                    Some(parts) => {
                        let mut tee = |ex: &crate::export::Example| {
                            parts.add(&mut outputs, parts.split_of(&ex.dataset, &ex.session), &ex.id, &ex.line)
                        };
                        spool.add(&place, outcome, Some(&mut tee))?;
                    }
                    None => spool.add(&place, outcome, None)?,
                }
            }
            Ok(())
        },
    )
    .map_err(unwritable)?;
    // Splits written whole as their lines came, by name; the others are written after the run.
    let mut whole = BTreeMap::new();
    for lane in spool.finish().map_err(unwritable)? {
        match lane {
            in_order::Outcome::Whole(info) => {
                whole.insert(info.split.clone().unwrap_or_default(), info);
            }
            in_order::Outcome::Not(name) => outputs.discard(&name).map_err(unwritable)?,
        }
    }
    if let Some(parts) = partitions {
        let files = parts.finish().map_err(unwritable)?;
        outputs.files.extend(files);
    }
    progress.finish();
    // An export of nothing must not pass for one whose threads were all filtered out; one
    // shard of N may hold nothing, and its (empty) part of the export is then written.
    let empty_shard = spool.input_threads == 0 && status == ExitStatus::Success && {
        let what = if args.from.is_some() { super::TRAINING_FILES } else { super::THREAD_FILES };
        super::nothing_checked(&args.walk, walk_options, what, err)? == ExitStatus::Success
    };

    if args.format == Format::Human && !args.quiet {
        for line in &spool.reported {
            // Places and details come from the data (file names, ids, parser snippets).
            writeln!(err, "skipped {}", crate::text::terminal_safe(line, false))?;
        }
        if spool.unreported > 0 {
            writeln!(
                err,
                "skipped {} more like these (export.json counts them; `threadkit validate` and `threadkit quality` list each)",
                spool.unreported
            )?;
        }
    }
    if args.strict && spool.skipped.get(&Skip::Invalid).is_some_and(|&n| n > 0) {
        writeln!(err, "threadkit: --strict: {} invalid threads; nothing was written. Fix them (`threadkit validate --fix`) or drop --strict.", spool.skipped[&Skip::Invalid])?;
        return Ok(ExitStatus::Failure);
    }
    // A template that renders only part of an example trains only that part: silence would
    // make a run that never learns to call a tool look like a good export.
    if let (Some((template, _)), false) = (&plan.template, args.allow_template_drops) {
        let dropped: Vec<String> = chat_template::MissingKind::ALL
            .iter()
            .filter_map(|k| spool.changes.get(k.describe()).map(|n| format!("{}: {n}", k.describe())))
            .collect();
        if !dropped.is_empty() {
            writeln!(
                err,
                "threadkit: --chat-template {}: the template leaves part of the examples out of what it renders \
                 ({}); nothing was written. What a template does not render is never trained. Use a model whose \
                 template renders tool calls and their results, pass --unplaceable skip to leave those examples out, \
                 or --allow-template-drops to write the export as it is.",
                template.file,
                dropped.join("; ")
            )?;
            return Ok(ExitStatus::Failure);
        }
    }
    let by_split = match assign_splits(&args, &plan, &spool, err)? {
        Ok(b) => b,
        Err(status) => return Ok(status),
    };
    let written = write(&args, &plan, &settings, &spool, &by_split, whole, &mut outputs).map_err(unwritable)?;
    // Said only once the export is in place, but composed now: the spool's lines are
    // needed for the preview, and closing it first lets the kernel drop its pages
    // instead of writing them to disk when the export is made durable.
    let mut report = Vec::new();
    match args.format {
        // The manifest as written (read back once the export is in place).
        Format::Json => {}
        Format::Human => print(&mut report, &args, &plan, &spool, &by_split, &written)?,
    }
    let exported = spool.rows.len();
    drop(spool);
    if let Err(e) = outputs.commit() {
        return Err(CommandError::Usage(format!(
            "{}: cannot write the export: {e}; files already there were left as they were",
            layout.dir().display()
        )));
    }
    if args.format == Format::Json {
        let manifest = layout.dir().join(layout.manifest_name());
        io::copy(&mut std::fs::File::open(&manifest)?, out)?;
    }
    out.write_all(&report)?;
    if exported == 0 && status == ExitStatus::Success && !empty_shard {
        status = ExitStatus::Failure;
    }
    Ok(status)
}

/// Row indexes per split, each in id order. `Err` when a split would be empty or (for formats
/// with a minimum) too small, after saying so.
fn assign_splits(
    args: &ExportArgs,
    plan: &Plan,
    spool: &Spool,
    err: &mut dyn Write,
) -> io::Result<Result<Vec<Vec<usize>>, ExitStatus>> {
    let spec = &plan.spec;
    let rows = &spool.rows;
    let session = |s: &crate::export::spool::Session| {
        (
            spool.datasets.names[s.dataset as usize].as_str(),
            spool.session_name(s),
            spool.labels.names[s.label as usize].as_str(),
        )
    };
    let assignment = split::assign(spec, args.split_method, args.seed, spool.sessions.iter().map(session));
    let mut by_split: Vec<Vec<usize>> = vec![Vec::new(); spec.parts.len()];
    for (i, r) in rows.iter().enumerate() {
        by_split[assignment[r.session as usize]].push(i);
    }
    for members in &mut by_split {
        members.sort_by(|&a, &b| spool.id(&rows[a]).cmp(spool.id(&rows[b])));
    }
    // One shard of an export is part of a whole: its splits may be small or empty (the
    // shards' files together are the export).
    if rows.is_empty() || args.walk.shard.is_some() {
        return Ok(Ok(by_split));
    }
    // A split that was asked for and comes out empty would silently train or evaluate on nothing.
    if let Some(((name, _), _)) = spec.parts.iter().zip(&by_split).find(|(_, m)| m.is_empty()) {
        writeln!(
            err,
            "threadkit: --split: split {name:?} would be empty: {} {}; export more threads, or drop --split; nothing was written",
            crate::text::plural(spool.sessions.len(), "session"),
            match args.split_method {
                split::Method::Hash => "hashed by recording put none there (a small corpus: --split-method stratified fills every split)",
                split::Method::Stratified => "cannot fill every split",
            }
        )?;
        return Ok(Err(ExitStatus::Error));
    }
    let min = plan.format.min_examples();
    if !args.allow_few_examples {
        if let Some(((name, _), members)) = spec.parts.iter().zip(&by_split).find(|(_, m)| m.len() < min) {
            writeln!(
                err,
                "threadkit: split {name:?} would hold {}; {} refuses a file with fewer than {min}. Export more threads, \
                 or pass --allow-few-examples to write it anyway; nothing was written",
                crate::text::plural(members.len(), "example"),
                args.profile.name()
            )?;
            return Ok(Err(ExitStatus::Failure));
        }
    }
    Ok(Ok(by_split))
}

/// What `write` produced, for printing.
struct WriteResult {
    split_reports: BTreeMap<String, Value>,
    warnings: Vec<String>,
    data_files: Vec<FileInfo>,
    token_stats: TokenStats,
}

/// Where `quality.left_out` goes in the manifest (written from the spool as the file is).
const LEFT_OUT: &str = "\u{0}left out\u{0}";

/// The name of a data file under the output: split `split`'s, or its shard `k` of `shards`.
fn data_file_name(layout: &Layout, split: &str, ext: &str, shard: Option<(usize, usize)>) -> String {
    match (layout, shard) {
        (Layout::File { name, .. }, _) => name.clone(),
        (Layout::Dir { .. }, None) => format!("{split}{ext}"),
        (Layout::Dir { .. }, Some((k, shards))) => format!("{split}/{split}-{k:05}-of-{shards:05}{ext}"),
    }
}

/// The data files to write as the lines come, one per split (`export::in_order`): when a
/// line's split follows from its recording alone and each split is one plain file.
fn in_order_names(args: &ExportArgs, plan: &Plan) -> Option<Vec<String>> {
    let one_file_each = args.partitions.is_none() && args.shard_size.is_none() && plan.compression == Compression::None;
    let split_known = plan.spec.parts.len() == 1 || args.split_method == split::Method::Hash;
    (one_file_each && split_known).then(|| plan.spec.parts.iter().map(|(name, _)| data_file_name(&plan.layout, name, ".jsonl", None)).collect())
}

/// The data files, the format's side files and `export.json`, staged in `outputs`. The files
/// of `whole` (by split) were written as the lines came.
fn write(
    args: &ExportArgs,
    plan: &Plan,
    settings: &Settings<'_>,
    spool: &Spool,
    by_split: &[Vec<usize>],
    mut whole: BTreeMap<String, FileInfo>,
    outputs: &mut Outputs,
) -> io::Result<WriteResult> {
    let Plan { spec, layout, compression, format, .. } = plan;
    let rows = &spool.rows;
    let ext = format!(".jsonl{}", compression.extension());
    let mut split_reports = BTreeMap::new();
    let mut warnings = Vec::new();
    let mut data = Vec::new();
    for ((name, ratio), members) in spec.parts.iter().zip(by_split) {
        if members.is_empty() {
            warnings.push(format!("split {name:?} is empty: no file written for it"));
            continue;
        }
        let shards = args.shard_size.map_or(1, |size| members.len().div_ceil(size));
        let per_shard = members.len().div_ceil(shards);
        // Partition files, and splits that came in id order, were written while the threads were read.
        let streamed = args.partitions.is_some() || whole.contains_key(name);
        debug_assert!(whole.get(name).is_none_or(|f| f.records == Some(members.len())), "a lane took every line of its split");
        let chunks: Vec<&[usize]> = if streamed { Vec::new() } else { members.chunks(per_shard).collect() };
        for (k, chunk) in chunks.into_iter().enumerate() {
            let file_name = data_file_name(layout, name, &ext, args.shard_size.map(|_| (k, shards)));
            let fill = spool.records(chunk);
            data.push(DataFile { name: file_name, split: Some(name.clone()), compression: *compression, fill });
        }
        let mut by_dataset: BTreeMap<&str, usize> = BTreeMap::new();
        let mut by_label: BTreeMap<&str, usize> = BTreeMap::new();
        let mut split_sessions: HashSet<u32> = HashSet::new();
        for &i in members {
            *by_dataset.entry(spool.dataset(&rows[i])).or_default() += 1;
            *by_label.entry(spool.label(&rows[i])).or_default() += 1;
            split_sessions.insert(rows[i].session);
        }
        split_reports.insert(
            name.clone(),
            json!({
                "ratio": ratio,
                "examples": members.len(),
                "sessions": split_sessions.len(),
                "by_dataset": by_dataset,
                "by_label": by_label,
                "tokens": TokenStats::of(members.iter().map(|&i| rows[i].tokens as usize).collect()),
            }),
        );
    }
    outputs.write_files(data)?;
    if !whole.is_empty() {
        // Listed in split order, as the files written after the run are.
        let position = |f: &FileInfo| spec.parts.iter().position(|(n, _)| f.split.as_ref() == Some(n));
        outputs.files.extend(spec.parts.iter().filter_map(|(n, _)| whole.remove(n)));
        outputs.files.sort_by_key(position);
    }
    let mut side_files = Vec::new();
    let data_files: Vec<FileInfo> = outputs.files.clone();
    let written = Written { dir: layout.dir(), files: &data_files, splits: spec.names().collect(), name: &args.name };
    for (name, text) in format.side_files(&written) {
        side_files.push(outputs.write_side_file(&name, text.as_bytes())?);
    }
    let token_stats = TokenStats::of(rows.iter().map(|r| r.tokens as usize).collect());
    let manifest = json!({
        "threadkit_version": env!("CARGO_PKG_VERSION"),
        "command": std::env::args().collect::<Vec<_>>(),
        "profile": args.profile,
        "tokenizer": args.tokenizer,
        "filters": settings.filters,
        "split": {"ratios": spec.parts.iter().map(|(n, r)| (n.clone(), json!(r))).collect::<serde_json::Map<_, _>>(), "seed": args.seed,
                   "method": args.split_method, "grouped_by": "session",
                   "stratified_by": if args.split_method == split::Method::Stratified { json!(["dataset", "label"]) } else { json!([]) }},
        "shard_size": args.shard_size,
        // Lines in id order in one file per split, or (`--partitions N`) by the hash of their id
        // in N files per split, in the order threads were read.
        "partitions": args.partitions,
        "line_order": if args.partitions.is_some() { "path" } else { "id" },
        // This process's part of the input (`--shard I/N`): the other parts are other exports.
        "input_shard": args.walk.shard.map(|s| json!({"index": s.index, "count": s.count})),
        "compression": compression,
        "counts": {
            "input_threads": spool.input_threads,
            "exported": rows.len(),
            "skipped": spool.skipped,
            "splits": split_reports,
        },
        "tokens": token_stats,
        "changes": spool.changes,
        "quality": {
            "mode": args.quality,
            "left_out": LEFT_OUT,
            "flagged_exported_by_rule": spool.quality_flags,
        },
        "chat_template": plan.template.as_ref().map(|(t, a)| json!({
            "file": t.file, "sha256": t.sha256, "adaptation": a, "applied": a.describe(),
        })),
        "requires": format.requires().into_iter().collect::<BTreeMap<_, _>>(),
        "warnings": warnings,
        "files": data_files.iter().chain(side_files.iter()).collect::<Vec<_>>(),
    });
    let manifest_text = serde_json::to_string_pretty(&manifest).expect("a Value serializes") + "\n";
    // The left-out list goes in where its placeholder is, straight from the spool's file.
    let placeholder = serde_json::to_string(LEFT_OUT).expect("a string serializes");
    let (head, tail) = manifest_text.split_once(&placeholder).expect("the manifest holds the placeholder");
    outputs.write_side_file_with(&layout.manifest_name(), |w| {
        w.write_all(head.as_bytes())?;
        w.write_all(b"[")?;
        if spool.left_out_count > 0 {
            spool.write_left_out(w, "      ")?;
            w.write_all(b"\n    ")?;
        }
        w.write_all(b"]")?;
        w.write_all(tail.as_bytes())
    })?;
    Ok(WriteResult { split_reports, warnings, data_files, token_stats })
}

fn print(
    out: &mut dyn Write,
    args: &ExportArgs,
    plan: &Plan,
    spool: &Spool,
    by_split: &[Vec<usize>],
    written: &WriteResult,
) -> io::Result<()> {
    let stats = &written.token_stats;
    writeln!(
        out,
        "{} read, {} exported ({} profile, {} tokens: mean {}, p95 {}, max {})",
        crate::text::plural(spool.input_threads, if args.from.is_some() { "example" } else { "thread" }),
        spool.rows.len(),
        args.profile.name(),
        args.tokenizer.name(),
        stats.mean,
        stats.p95,
        stats.max
    )?;
    for (name, report) in &written.split_reports {
        let n = |k: &str| report[k].as_u64().unwrap_or(0) as usize;
        writeln!(out, "  {name}: {} from {}", crate::text::plural(n("examples"), "example"), crate::text::plural(n("sessions"), "session"))?;
    }
    for (reason, n) in &spool.skipped {
        writeln!(out, "  skipped, {}: {n}", reason.describe())?;
    }
    for (what, n) in &spool.changes {
        writeln!(out, "  changed: {what}: {n}")?;
    }
    for w in &written.warnings {
        writeln!(out, "  warning: {w}")?;
    }
    let dir = plan.layout.dir();
    for f in &written.data_files {
        writeln!(
            out,
            "  wrote {} ({}, sha256 {})",
            dir.join(&f.path).display(),
            crate::text::plural(f.records.unwrap_or(0), "example"),
            &f.sha256[..16]
        )?;
    }
    writeln!(out, "  wrote {}", dir.join(plan.layout.manifest_name()).display())?;
    if !args.quiet {
        preview(out, plan.format, spool, by_split)?;
    }
    Ok(())
}

/// Every thread of one file (a .json file holds one, a .jsonl file one per line).
fn prepare_entry(entry: &Entry, settings: &Settings<'_>, max_file_size: u64) -> Vec<(String, Outcome)> {
    let place = entry.path.display().to_string();
    let stem = source::file_stem(&entry.path);
    let mut out = Vec::new();
    crate::records::for_each_of(entry, max_file_size, |item| match item {
        Ok(rec) => match rec.record {
            Some(line) => out.push((format!("{place}:{line}"), prepare(&rec.text, None, settings))),
            None => out.push((place.clone(), prepare(&rec.text, stem.as_deref(), settings))),
        },
        Err(u) => {
            let at = u.record.map_or(place.clone(), |line| format!("{place}:{line}"));
            let detail = format!("{}: {}", u.failure.code(), u.failure.message);
            out.push((at, Outcome::Skipped { reason: Skip::Invalid, id: None, detail }));
        }
    });
    out
}

/// The examples of one training file (`convert`): each JSONL line, or each element of a `.json`
/// array, named `file:line` / `file:#n`.
fn prepare_training_entry(
    entry: &Entry,
    settings: &Settings<'_>,
    from: Option<crate::export::format::Profile>,
    max_file_size: u64,
) -> Vec<(String, Outcome)> {
    let place = entry.path.display().to_string();
    let mut out = Vec::new();
    if entry.problem.is_none() && source::is_json(&entry.path) {
        let parsed = source::read_whole(&entry.path, max_file_size).and_then(|t| source::parse(&t));
        match parsed {
            Ok(Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    let at = format!("{place}:#{}", i + 1);
                    out.push((at.clone(), crate::export::prepare_example(item, &at, from, settings)));
                }
            }
            Ok(one) => out.push((place.clone(), crate::export::prepare_example(&one, &place, from, settings))),
            Err(d) => out.push((place.clone(), Outcome::Skipped { reason: Skip::Invalid, id: None, detail: format!("{}: {}", d.code(), d.message) })),
        }
        return out;
    }
    crate::records::for_each_of(entry, max_file_size, |item| match item {
        Ok(rec) => {
            let at = rec.record.map_or(place.clone(), |line| format!("{place}:{line}"));
            let outcome = match source::parse(&rec.text) {
                Ok(example) => crate::export::prepare_example(&example, &at, from, settings),
                Err(f) => Outcome::Skipped { reason: Skip::Invalid, id: Some(at.clone()), detail: format!("{}: {}", f.code(), f.message) },
            };
            out.push((at, outcome));
        }
        Err(u) => {
            let at = u.record.map_or(place.clone(), |line| format!("{place}:{line}"));
            out.push((at, Outcome::Skipped { reason: Skip::Invalid, id: None, detail: format!("{}: {}", u.failure.code(), u.failure.message) }));
        }
    });
    out
}

/// The first two examples of the first split, each turn cut to one short line.
fn preview(out: &mut dyn Write, format: &dyn TrainingFormat, spool: &Spool, by_split: &[Vec<usize>]) -> io::Result<()> {
    let Some(first) = by_split.iter().find(|m| !m.is_empty()) else { return Ok(()) };
    for &i in first.iter().take(2) {
        let r = &spool.rows[i];
        let example: Value = serde_json::from_slice(&spool.line(i)?).unwrap_or(Value::Null);
        writeln!(out, "\npreview: {} ({} tokens)", spool.id(r), r.tokens)?;
        for (role, text, call) in format.preview(&example) {
            let call = call.map(|n| format!(" → {n}(…)")).unwrap_or_default();
            let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
            writeln!(out, "  {role:>13}: {}{call}", crate::text::abbreviate(&one_line, 90))?;
        }
    }
    Ok(())
}
