//! `threadkit export`: walk → prepare each thread in parallel (validate, filter, convert,
//! count, re-check) → spool examples to a temporary file with a small index → assign
//! splits → write each split in id order (sharded, compressed, hashed) → side files and
//! `export.json` → rename everything into place at once.
//!
//! Only the index (id, session, label, tokens, offset: about 100 bytes per example)
//! grows with the corpus; the examples themselves stream through the spool.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::cli::ExportArgs;
use crate::export::chat_template::{self, ChatTemplate};
use crate::export::format::{Options, Written};
use crate::export::sink::{Compression, FileInfo, OutputError, Outputs};
use crate::export::split::{self, SplitSpec};
use crate::export::tokens::Counter;
use crate::export::{prepare, Filters, Outcome, Settings, Skip, TokenStats};
use crate::report::Format;
use crate::source;
use crate::thread::Status;
use crate::validate::file_stem;
use crate::walk::Entry;

use super::{for_each_batch, open_data_root, walk_args, ExitStatus};

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

/// One exported example, in memory while its line waits in the spool.
struct Row {
    id: String,
    dataset: u32,
    session: String,
    label: u32,
    tokens: u32,
    offset: u64,
    len: u32,
}

/// Small strings that repeat across thousands of rows (datasets, labels), stored once.
#[derive(Default)]
struct Interner {
    names: Vec<String>,
    index: HashMap<String, u32>,
}

impl Interner {
    fn intern(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        self.names.push(s.to_string());
        self.index.insert(s.to_string(), self.names.len() as u32 - 1);
        self.names.len() as u32 - 1
    }
}

pub fn run(args: ExportArgs, out: &mut dyn Write, err: &mut dyn Write) -> io::Result<ExitStatus> {
    macro_rules! usage {
        ($($t:tt)*) => {{
            writeln!(err, $($t)*)?;
            return Ok(ExitStatus::Error);
        }};
    }
    let statuses = if args.status.iter().any(|s| s == "all") {
        None
    } else {
        if let Some(bad) = args.status.iter().find(|s| Status::parse(s).is_none()) {
            usage!("threadkit: --status {bad:?}: use active, finished, max_turns_reached or all");
        }
        Some(args.status.clone())
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
        if args.split.is_some() || args.shard_size.is_some() {
            usage!(
                "threadkit: --split and --shard-size write several files: give --out a folder, not {}",
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
    let adaptation = template.as_ref().map(|t| {
        let tools = match crate::tools::openai_tools() {
            Value::Array(a) => a,
            _ => Vec::new(),
        };
        t.choose_adaptation(&chat_template::probe(&tools))
    });
    let data_root = match open_data_root(args.data_root.as_ref(), err)? {
        Ok(d) => d,
        Err(status) => return Ok(status),
    };
    let settings = Settings {
        profile: args.profile,
        filters: Filters {
            statuses,
            correct_only: args.correct_only,
            min_tool_calls: args.min_tool_calls,
            datasets: args.dataset.clone(),
            labels: args.label.clone(),
            // OpenAI rejects longer examples; other trainers would truncate them silently.
            max_tokens: args.max_tokens.or(format.default_max_tokens()),
        },
        options: Options { unplaceable: args.unplaceable, call_form: args.llama_factory_calls },
        counter: Counter::new(args.tokenizer),
        data_root: data_root.as_ref(),
        template: template.as_ref().zip(adaptation),
    };

    // The files an earlier export wrote here are replaced; anything else is the user's.
    let (ours, opened) = match &layout {
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
            usage!(
                "threadkit: --out {}: the folder holds files no earlier export wrote ({}{more}); trainers would read \
                 them with the new export. Choose an empty or new folder, or pass --force to keep them beside it",
                layout.dir().display(),
                shown.join(", ")
            );
        }
        Err(OutputError::Io(e)) => usage!("threadkit: --out {}: cannot write the export there: {e}", layout.dir().display()),
    };
    let (walked, mut status) = walk_args(&args.walk, true, err)?;
    // Exported files must not feed the next export of the same tree; only threadkit's own
    // files are left out, never the folder around them.
    let own: HashSet<crate::walk::FileId> = ours.iter().filter_map(|p| crate::walk::FileId::of(p)).collect();
    let spool_file = tempfile::tempfile_in(outputs.scratch_dir())?;
    let mut spool = BufWriter::with_capacity(1 << 20, &spool_file);
    let mut spool_len = 0u64;
    let mut rows: Vec<Row> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    // Lines by content hash; a hit is compared byte for byte against the spool.
    let mut by_hash: HashMap<u64, Vec<usize>> = HashMap::new();
    let mut datasets = Interner::default();
    let mut labels = Interner::default();
    let mut skipped: BTreeMap<Skip, usize> = BTreeMap::new();
    let mut invalid: Vec<String> = Vec::new();
    let mut changes: BTreeMap<String, usize> = BTreeMap::new();
    let mut input_threads = 0usize;
    let progress = crate::progress::Progress::new("threads read", None, args.quiet);

    let entries = walked.entries().filter(|e| own.is_empty() || crate::walk::FileId::of(&e.path).is_none_or(|id| !own.contains(&id)));
    for_each_batch(
        entries,
        args.walk.jobs,
        |e| prepare_entry(e, &settings),
        |_, batch| {
            for (place, outcome) in batch.into_iter().flatten() {
                input_threads += 1;
                progress.inc(1);
                let outcome = match outcome {
                    Outcome::Exported(ex) if !seen.insert(ex.id.clone()) => Outcome::Skipped {
                        reason: Skip::DuplicateId,
                        id: Some(ex.id.clone()),
                        detail: "id exported already".into(),
                    },
                    o => o,
                };
                let outcome = match outcome {
                    Outcome::Exported(ex) => {
                        let hash = line_hash(&ex.line);
                        let mut twin = false;
                        if let Some(candidates) = by_hash.get(&hash) {
                            spool.flush()?;
                            for &i in candidates {
                                let r = &rows[i];
                                if r.len as usize == ex.line.len() {
                                    let mut buf = vec![0u8; r.len as usize];
                                    spool_file.read_exact_at(&mut buf, r.offset)?;
                                    twin |= buf == ex.line;
                                }
                            }
                        }
                        if twin {
                            Outcome::Skipped {
                                reason: Skip::DuplicateExample,
                                id: Some(ex.id.clone()),
                                detail: "the same example as one exported already".into(),
                            }
                        } else {
                            by_hash.entry(hash).or_default().push(rows.len());
                            Outcome::Exported(ex)
                        }
                    }
                    o => o,
                };
                match outcome {
                    Outcome::Exported(ex) => {
                        spool.write_all(&ex.line)?;
                        for (what, n) in ex.changes {
                            *changes.entry(what).or_default() += n;
                        }
                        rows.push(Row {
                            id: ex.id,
                            dataset: datasets.intern(&ex.dataset),
                            session: ex.session,
                            label: labels.intern(&ex.label),
                            tokens: ex.tokens.min(u32::MAX as usize) as u32,
                            offset: spool_len,
                            len: ex.line.len() as u32,
                        });
                        spool_len += ex.line.len() as u64;
                    }
                    Outcome::Skipped { reason, detail, .. } => {
                        *skipped.entry(reason).or_default() += 1;
                        if matches!(reason, Skip::Invalid | Skip::Unconvertible | Skip::DuplicateId | Skip::TemplateError | Skip::TemplateDropsText) {
                            invalid.push(format!("{place}: {}: {detail}", reason.describe()));
                        }
                    }
                }
            }
            Ok(())
        },
    )?;
    spool.flush()?;
    drop(spool);
    progress.finish();

    if args.format == Format::Human && !args.quiet {
        for line in &invalid {
            writeln!(err, "skipped {line}")?;
        }
    }
    if args.strict && skipped.get(&Skip::Invalid).is_some_and(|&n| n > 0) {
        writeln!(err, "threadkit: --strict: {} invalid threads; nothing was written. Fix them (`threadkit validate --fix`) or drop --strict.", skipped[&Skip::Invalid])?;
        return Ok(ExitStatus::Failure);
    }

    // Splits: each session (with its stratum) once.
    let mut sessions: HashMap<split::SessionKey, String> = HashMap::new();
    for r in &rows {
        sessions
            .entry((datasets.names[r.dataset as usize].clone(), r.session.clone()))
            .or_insert_with(|| labels.names[r.label as usize].clone());
    }
    let assignment = split::assign(&spec, args.seed, &sessions);
    let mut by_split: Vec<Vec<usize>> = vec![Vec::new(); spec.parts.len()];
    for (i, r) in rows.iter().enumerate() {
        let key = (datasets.names[r.dataset as usize].clone(), r.session.clone());
        by_split[assignment[&key]].push(i);
    }
    // A split that was asked for and comes out empty would silently train or evaluate on nothing.
    if !rows.is_empty() {
        if let Some(((name, _), _)) = spec.parts.iter().zip(&by_split).find(|(_, m)| m.is_empty()) {
            writeln!(
                err,
                "threadkit: --split: split {name:?} would be empty: {} cannot fill {} splits; export more threads, or drop --split; nothing was written",
                super::plural(sessions.len(), "session"),
                spec.parts.len()
            )?;
            return Ok(ExitStatus::Error);
        }
    }
    let min = format.min_examples();
    if !args.allow_few_examples && !rows.is_empty() {
        if let Some(((name, _), members)) = spec.parts.iter().zip(&by_split).find(|(_, m)| m.len() < min) {
            writeln!(
                err,
                "threadkit: split {name:?} would hold {}; {} refuses a file with fewer than {min}. Export more threads, \
                 or pass --allow-few-examples to write it anyway; nothing was written",
                super::plural(members.len(), "example"),
                args.profile.name()
            )?;
            return Ok(ExitStatus::Failure);
        }
    }
    let ext = format!(".jsonl{}", compression.extension());
    let mut split_reports = BTreeMap::new();
    let mut warnings = Vec::new();
    for ((name, ratio), members) in spec.parts.iter().zip(by_split.iter_mut()) {
        members.sort_by(|&a, &b| rows[a].id.cmp(&rows[b].id));
        if members.is_empty() {
            warnings.push(format!("split {name:?} is empty: no file written for it"));
            continue;
        }
        let shards = args.shard_size.map_or(1, |size| members.len().div_ceil(size));
        let per_shard = members.len().div_ceil(shards);
        for (k, chunk) in members.chunks(per_shard).enumerate() {
            let file_name = match (&layout, args.shard_size) {
                (Layout::File { name, .. }, _) => name.clone(),
                (Layout::Dir { .. }, None) => format!("{name}{ext}"),
                (Layout::Dir { .. }, Some(_)) => format!("{name}/{name}-{k:05}-of-{shards:05}{ext}"),
            };
            let lines = chunk.iter().map(|&i| {
                let r = &rows[i];
                let mut buf = vec![0u8; r.len as usize];
                spool_file.read_exact_at(&mut buf, r.offset).map(|()| Cow::Owned(buf))
            });
            outputs.write_lines(&file_name, Some(name), compression, lines)?;
        }
        let mut by_dataset: BTreeMap<&str, usize> = BTreeMap::new();
        let mut by_label: BTreeMap<&str, usize> = BTreeMap::new();
        let mut split_sessions: HashSet<(u32, &str)> = HashSet::new();
        for &i in members.iter() {
            *by_dataset.entry(&datasets.names[rows[i].dataset as usize]).or_default() += 1;
            *by_label.entry(&labels.names[rows[i].label as usize]).or_default() += 1;
            split_sessions.insert((rows[i].dataset, &rows[i].session));
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
                   "grouped_by": "session", "stratified_by": ["dataset", "label"]},
        "shard_size": args.shard_size,
        "compression": compression,
        "counts": {
            "input_threads": input_threads,
            "exported": rows.len(),
            "skipped": skipped,
            "splits": split_reports,
        },
        "tokens": token_stats,
        "changes": changes,
        "chat_template": template.as_ref().zip(adaptation).map(|(t, a)| json!({
            "file": t.file, "sha256": t.sha256, "adaptation": a, "applied": a.describe(),
        })),
        "requires": format.requires().into_iter().collect::<BTreeMap<_, _>>(),
        "warnings": warnings,
        "files": data_files.iter().chain(side_files.iter()).collect::<Vec<_>>(),
    });
    let manifest_text = serde_json::to_string_pretty(&manifest).expect("a Value serializes") + "\n";
    outputs.write_side_file(&layout.manifest_name(), manifest_text.as_bytes())?;
    if let Err(e) = outputs.commit() {
        writeln!(
            err,
            "threadkit: {}: cannot write the export: {e}; files already there were left as they were",
            layout.dir().display()
        )?;
        return Ok(ExitStatus::Error);
    }

    match args.format {
        Format::Json => out.write_all(manifest_text.as_bytes())?,
        Format::Human => {
            writeln!(
                out,
                "{} read, {} exported ({} profile, {} tokens: mean {}, p95 {}, max {})",
                super::plural(input_threads, "thread"),
                rows.len(),
                args.profile.name(),
                args.tokenizer.name(),
                token_stats.mean,
                token_stats.p95,
                token_stats.max
            )?;
            for (name, report) in &split_reports {
                let n = |k: &str| report[k].as_u64().unwrap_or(0) as usize;
                writeln!(out, "  {name}: {} from {}", super::plural(n("examples"), "example"), super::plural(n("sessions"), "session"))?;
            }
            for (reason, n) in &skipped {
                writeln!(out, "  skipped, {}: {n}", reason.describe())?;
            }
            for (what, n) in &changes {
                writeln!(out, "  changed: {what}: {n}")?;
            }
            for w in &warnings {
                writeln!(out, "  warning: {w}")?;
            }
            for f in &data_files {
                writeln!(
                    out,
                    "  wrote {} ({}, sha256 {})",
                    layout.dir().join(&f.path).display(),
                    super::plural(f.records.unwrap_or(0), "example"),
                    &f.sha256[..16]
                )?;
            }
            writeln!(out, "  wrote {}", layout.dir().join(layout.manifest_name()).display())?;
            if !args.quiet {
                preview(out, format, &rows, &by_split, &spool_file)?;
            }
        }
    }
    if rows.is_empty() && status == ExitStatus::Success {
        status = ExitStatus::Failure;
    }
    Ok(status)
}

fn line_hash(line: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    line.hash(&mut h);
    h.finish()
}

/// Every thread of one file (a .json file holds one, a .jsonl file one per line).
fn prepare_entry(entry: &Entry, settings: &Settings<'_>) -> Vec<(String, Outcome)> {
    let place = entry.path.display().to_string();
    let fail = |detail: String| Outcome::Skipped { reason: Skip::Invalid, id: None, detail };
    if let Some(problem) = &entry.problem {
        return vec![(place, fail(format!("TK001: cannot read: {problem}")))];
    }
    let max = crate::validate::DEFAULT_MAX_FILE_SIZE;
    if source::is_jsonl(&entry.path) {
        let mut out = Vec::new();
        let result = source::for_each_line(&entry.path, max, |item| match item {
            Ok(rec) => {
                let at = format!("{place}:{}", rec.record.unwrap_or(0));
                out.push((at, prepare(&rec.text, None, settings)));
            }
            Err((line, d)) => out.push((format!("{place}:{line}"), fail(format!("{}: {}", d.code(), d.message)))),
        });
        if let Err(d) = result {
            out.push((place, fail(format!("{}: {}", d.code(), d.message))));
        }
        out
    } else {
        match source::read_whole(&entry.path, max) {
            Ok(text) => vec![(place, prepare(&text, file_stem(&entry.path).as_deref(), settings))],
            Err(d) => vec![(place, fail(format!("{}: {}", d.code(), d.message)))],
        }
    }
}


/// The first two examples of the first split, each turn cut to one short line.
fn preview(
    out: &mut dyn Write,
    format: &dyn crate::export::format::TrainingFormat,
    rows: &[Row],
    by_split: &[Vec<usize>],
    spool: &std::fs::File,
) -> io::Result<()> {
    let Some(first) = by_split.iter().find(|m| !m.is_empty()) else { return Ok(()) };
    for &i in first.iter().take(2) {
        let r = &rows[i];
        let mut buf = vec![0u8; r.len as usize];
        spool.read_exact_at(&mut buf, r.offset)?;
        let example: Value = serde_json::from_slice(&buf).unwrap_or(Value::Null);
        writeln!(out, "\npreview: {} ({} tokens)", r.id, r.tokens)?;
        for (role, text, call) in format.preview(&example) {
            let call = call.map(|n| format!(" → {n}(…)")).unwrap_or_default();
            let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
            let cut: String = one_line.chars().take(90).collect();
            let more = if one_line.chars().count() > 90 { "…" } else { "" };
            writeln!(out, "  {role:>13}: {cut}{more}{call}")?;
        }
    }
    Ok(())
}
