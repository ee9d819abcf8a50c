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
use crate::export::profile::Profile;
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
    if args.profile == Profile::LlamaFactory && compression != Compression::None {
        usage!(
            "threadkit: LLaMA-Factory reads only arrow, csv, json, jsonl, parquet and txt files: export the llama-factory profile uncompressed (no --compress, no .gz/.zst --out)"
        );
    }
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
            max_tokens: args
                .max_tokens
                .or((args.profile == Profile::Openai).then_some(crate::export::OPENAI_MAX_TOKENS)),
        },
        unplaceable: args.unplaceable,
        counter: Counter::new(args.tokenizer),
        data_root: data_root.as_ref(),
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
                        if reason == Skip::Invalid || reason == Skip::Unconvertible || reason == Skip::DuplicateId {
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
    match args.profile {
        Profile::Axolotl => side_files
            .push(outputs.write_side_file("axolotl.yaml", axolotl_yaml(layout.dir(), &data_files).as_bytes())?),
        Profile::LlamaFactory => side_files
            .push(outputs.write_side_file("dataset_info.json", dataset_info(&args, &spec, &data_files).as_bytes())?),
        _ => {}
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
                preview(out, &rows, &by_split, &spool_file)?;
            }
        }
    }
    if rows.is_empty() && status == ExitStatus::Success {
        status = ExitStatus::Failure;
    }
    Ok(status)
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


/// The first two examples of the first split, each message cut to one short line.
fn preview(out: &mut dyn Write, rows: &[Row], by_split: &[Vec<usize>], spool: &std::fs::File) -> io::Result<()> {
    let Some(first) = by_split.iter().find(|m| !m.is_empty()) else { return Ok(()) };
    for &i in first.iter().take(2) {
        let r = &rows[i];
        let mut buf = vec![0u8; r.len as usize];
        spool.read_exact_at(&mut buf, r.offset)?;
        let example: Value = serde_json::from_slice(&buf).unwrap_or(Value::Null);
        writeln!(out, "\npreview: {} ({} tokens)", r.id, r.tokens)?;
        let turns = example.get("messages").or_else(|| example.get("conversations")).and_then(Value::as_array);
        for m in turns.into_iter().flatten() {
            let role = m.get("role").or_else(|| m.get("from")).and_then(Value::as_str).unwrap_or("?");
            let text = m.get("content").or_else(|| m.get("value")).and_then(Value::as_str).unwrap_or("");
            let call = m
                .pointer("/tool_calls/0/function/name")
                .and_then(Value::as_str)
                .map(|n| format!(" → {n}(…)"))
                .unwrap_or_default();
            let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
            let cut: String = one_line.chars().take(90).collect();
            let more = if one_line.chars().count() > 90 { "…" } else { "" };
            writeln!(out, "  {role:>13}: {cut}{more}{call}")?;
        }
    }
    Ok(())
}

/// A `datasets:` block for Axolotl's config, pointing at the files just written.
fn axolotl_yaml(dir: &Path, files: &[FileInfo]) -> String {
    let mut s = String::from("# Written by `threadkit export --profile axolotl`. Merge into your Axolotl config.\n");
    let path = dir.display().to_string();
    let mut splits: Vec<&str> = files.iter().filter_map(|f| f.split.as_deref()).collect();
    splits.dedup();
    // The first split trains, the second evaluates; Axolotl has no key for more.
    for (i, split) in splits.iter().take(2).enumerate() {
        s.push_str(if i == 0 { "datasets:\n" } else { "test_datasets:\n" });
        s.push_str(&format!("  - path: {}\n    ds_type: json\n    split: train\n    data_files:\n", yaml_str(&path)));
        for f in files.iter().filter(|f| f.split.as_deref() == Some(split)) {
            s.push_str(&format!("      - {}\n", yaml_str(&f.path)));
        }
        s.push_str("    type: chat_template\n    field_messages: messages\n    field_tools: tools\n");
        s.push_str("    message_property_mappings:\n      role: role\n      content: content\n    roles_to_train: [\"assistant\"]\n");
    }
    if splits.len() > 2 {
        s.push_str(&format!("# {} more splits were written; add them as you need.\n", splits.len() - 2));
    }
    s
}

fn yaml_str(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

/// LLaMA-Factory's `dataset_info.json`: one entry per split (a folder when sharded).
fn dataset_info(args: &ExportArgs, spec: &SplitSpec, files: &[FileInfo]) -> String {
    let mut info = serde_json::Map::new();
    for name in spec.names() {
        let mine: Vec<&FileInfo> = files.iter().filter(|f| f.split.as_deref() == Some(name)).collect();
        let file_name = match mine.as_slice() {
            [] => continue,
            [one] => one.path.clone(),
            _ => name.to_string(),
        };
        let key = if spec.parts.len() == 1 { args.name.clone() } else { format!("{}_{name}", args.name) };
        info.insert(
            key,
            json!({
                "file_name": file_name,
                "formatting": "sharegpt",
                // Only columns the lines have: LLaMA-Factory's converter reads every mapped
                // column and fails (KeyError) on one that no line carries.
                "columns": {"messages": "conversations", "tools": "tools"},
                "tags": {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt",
                         "observation_tag": "observation", "function_tag": "function_call", "system_tag": "system"}
            }),
        );
    }
    serde_json::to_string_pretty(&Value::Object(info)).expect("a Value serializes") + "\n"
}
