use std::io::Write;

use crate::cli::MergeArgs;
use crate::merge::{self, Kind};

use super::{CommandError, ExitStatus};

/// Exit status as the single run would give it: 1 when the merged findings hold an error.
pub fn run(args: MergeArgs, out: &mut dyn Write, err: &mut dyn Write) -> Result<ExitStatus, CommandError> {
    if let Some(out) = &args.out {
        if let Some(input) = args.reports.iter().find(|r| crate::write::same_file(r, out)) {
            return Err(CommandError::Usage(format!(
                "--out {}: is {}, one of the reports being merged; write the merged report to a new file",
                crate::text::shown(out),
                crate::text::shown(input)
            )));
        }
    }
    // A report named twice (`merge a.json a.json`, or a glob and a name) would be counted twice;
    // the shard and overlap checks cannot see it in reports of whole runs.
    let mut seen = std::collections::HashMap::with_capacity(args.reports.len());
    for later in &args.reports {
        if let Some(first) = crate::write::file_id(later).and_then(|id| seen.insert(id, later)) {
            return Err(CommandError::Usage(format!(
                "{} and {} are the same file: name each report once",
                crate::text::shown(first),
                crate::text::shown(later)
            )));
        }
    }
    let mut inputs = Vec::with_capacity(args.reports.len());
    for path in &args.reports {
        inputs.push(merge::Input::open(path).map_err(|e| {
            CommandError::Usage(format!("{}: {}; name the JSON reports of the shards", crate::text::shown(path), crate::open::describe_io(&e)))
        })?);
    }
    let merged = match &args.out {
        // Written beside the file and renamed over it only when whole.
        Some(path) => {
            let cannot = |e: std::io::Error| CommandError::Usage(format!("{}: cannot write the merged report: {e}", crate::text::shown(path)));
            let staged = crate::write::stage_empty(path).map_err(cannot)?;
            let mut writer = std::io::BufWriter::new(staged.file());
            let into = merge::folder_of(path);
            let merged = merge::merge(inputs, args.partial, Some(path), &mut writer).map_err(CommandError::Usage)?;
            writer.flush().map_err(cannot)?;
            drop(writer);
            let not_beside = |at: &std::path::Path, e: std::io::Error| {
                CommandError::Usage(format!("{}: cannot write it beside the merged report: {e}; give --out a folder of its own", crate::text::shown(at)))
            };
            let mut beside = Vec::with_capacity(merged.beside.len());
            for file in &merged.beside {
                let at = into.join(&file.name);
                beside.push((crate::write::stage(&at, &file.bytes).map_err(|e| not_beside(&at, e))?, file.replaces));
            }
            crate::write::make_durable(&beside.iter().map(|(s, _)| s).chain([&staged]).collect::<Vec<_>>()).map_err(cannot)?;
            // The files the merged report lists first: a report is never there without them.
            for (staged, replaces) in beside {
                let at = staged.target().to_path_buf();
                let raced = || not_beside(&at, std::io::Error::other("another program wrote it while the reports were merged (kept as it is)"));
                match replaces {
                    None => staged.commit_new().map_err(|e| if e.kind() == std::io::ErrorKind::AlreadyExists { raced() } else { not_beside(&at, e) })?,
                    Some(id) => {
                        if !staged.commit_if_still(id).map_err(|e| not_beside(&at, e))? {
                            return Err(raced());
                        }
                    }
                }
            }
            staged.commit().map_err(cannot)?;
            crate::write::sync_dirs([into]);
            writeln!(err, "wrote {} ({} merged)", crate::text::shown(path), crate::text::plural(args.reports.len(), "report"))?;
            merged
        }
        // Whether the reports merge is known only at their ends (an overlap, a lost shard, a
        // report cut short): standard output gets the merged report whole, or nothing.
        None => {
            let cannot = |e: std::io::Error| CommandError::Usage(format!("cannot stage the merged report in a temporary file: {e}; give --out FILE to write it there instead"));
            let mut staged = std::io::BufWriter::new(tempfile::tempfile().map_err(cannot)?);
            let merged = merge::merge(inputs, args.partial, None, &mut staged).map_err(CommandError::Usage)?;
            let mut file = staged.into_inner().map_err(|e| cannot(e.into_error()))?;
            std::io::Seek::rewind(&mut file).map_err(cannot)?;
            std::io::copy(&mut file, out)?;
            merged
        }
    };
    if let Some(note) = &merged.note {
        writeln!(err, "{note}")?;
    }
    Ok(if merged.kind == Kind::Findings && merged.errors > 0 { ExitStatus::Failure } else { ExitStatus::Success })
}
