use std::io::Write;

use crate::cli::MergeArgs;
use crate::merge::{self, Kind};

use super::{CommandError, ExitStatus};

/// Exit status as the single run would give it: 1 when the merged findings hold an error.
pub fn run(args: MergeArgs, out: &mut dyn Write, _err: &mut dyn Write) -> Result<ExitStatus, CommandError> {
    let mut reports = Vec::with_capacity(args.reports.len());
    let mut names = Vec::with_capacity(args.reports.len());
    let mut kind: Option<(Kind, String)> = None;
    for path in &args.reports {
        let name = crate::report::shown(path);
        let bytes = crate::open::read(path, 1 << 32)
            .map_err(|e| CommandError::Usage(format!("{name}: {}; name the JSON reports of the shards", crate::open::describe_io(&e))))?;
        let report: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
            CommandError::Usage(format!("{name}: not a JSON report ({e}); write each shard's report with --format json"))
        })?;
        let this = Kind::of(&report).ok_or_else(|| {
            CommandError::Usage(format!("{name}: not a report threadkit merges (validate, quality, verify or stats, with --format json)"))
        })?;
        match &kind {
            Some((first, first_name)) if *first != this => {
                return Err(CommandError::Usage(format!(
                    "{name} is {} but {first_name} is {}: merge reports of one command",
                    this.name(),
                    first.name()
                )))
            }
            Some(_) => {}
            None => kind = Some((this, name.clone())),
        }
        reports.push(report);
        names.push(name);
    }
    let (kind, _) = kind.expect("at least one report (clap requires it)");
    let merged = merge::merge(kind, reports, &names).map_err(CommandError::Usage)?;
    let mut text = serde_json::to_vec_pretty(&merged).expect("JSON values serialize");
    text.push(b'\n');
    match &args.out {
        Some(path) => crate::write::atomic_write(path, &text).map_err(|e| {
            CommandError::Usage(format!("{}: cannot write the merged report: {e}", crate::report::shown(path)))
        })?,
        None => out.write_all(&text)?,
    }
    let errors = merged["summary"]["errors"].as_u64().unwrap_or(0);
    Ok(if kind == Kind::Findings && errors > 0 { ExitStatus::Failure } else { ExitStatus::Success })
}
