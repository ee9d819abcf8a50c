//! `threadkit tools list | schema | run`.

use std::io::{self, Write};

use serde_json::Value;

use crate::cli::{ToolsArgs, ToolsCommand};
use crate::data_root::DataRoot;
use crate::tools::{self, artifacts::Workspace};

use super::ExitStatus;

pub fn run(args: ToolsArgs, out: &mut dyn Write, err: &mut dyn Write) -> io::Result<ExitStatus> {
    match args.command {
        ToolsCommand::List => {
            for t in tools::TOOLS {
                writeln!(out, "{:<20} {}", t.name, t.description)?;
            }
            Ok(ExitStatus::Success)
        }
        ToolsCommand::Schema => {
            writeln!(out, "{}", serde_json::to_string_pretty(&tools::openai_tools()).expect("tools serialize"))?;
            Ok(ExitStatus::Success)
        }
        ToolsCommand::Run { name, args, data_root, dataset, session } => {
            let parsed: Value = match serde_json::from_str(&args) {
                Ok(v @ Value::Object(_)) => v,
                Ok(_) => {
                    writeln!(
                        err,
                        "threadkit: --args must be a JSON object, e.g. '{{\"channel_names\": [\"acc_x\"]}}'"
                    )?;
                    return Ok(ExitStatus::Error);
                }
                Err(e) => {
                    writeln!(err, "threadkit: --args is not valid JSON: {e}")?;
                    return Ok(ExitStatus::Error);
                }
            };
            if !data_root.is_dir() {
                writeln!(err, "threadkit: --data-root {}: not a directory", data_root.display())?;
                return Ok(ExitStatus::Error);
            }
            let dataset = match dataset.map_or_else(|| only_dataset(&data_root), Ok) {
                Ok(d) => d,
                Err(e) => {
                    writeln!(err, "threadkit: {e}")?;
                    return Ok(ExitStatus::Error);
                }
            };
            let root = DataRoot::new(&data_root);
            let ws = match &session {
                Some(s) => Workspace::open(&root, &dataset, s),
                None => Workspace::for_dataset(&root, &dataset),
            };
            let result = match ws {
                Ok(mut ws) => tools::run(&mut ws, &name, &parsed),
                Err(e) => serde_json::json!({"error": e}),
            };
            writeln!(out, "{}", serde_json::to_string_pretty(&result).expect("results serialize"))?;
            Ok(if result.get("error").is_some() { ExitStatus::Failure } else { ExitStatus::Success })
        }
    }
}

/// The one dataset under a data root, when there is exactly one.
fn only_dataset(root: &std::path::Path) -> Result<String, String> {
    let mut names: Vec<String> = std::fs::read_dir(root)
        .map_err(|e| format!("{}: {e}", root.display()))?
        .filter_map(Result::ok)
        .filter(|e| e.path().join(crate::dataset::layout::MANIFEST).is_file())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .collect();
    names.sort();
    match names.len() {
        1 => Ok(names.remove(0)),
        0 => Err(format!("no dataset (a folder with manifest.json) under {}", root.display())),
        _ => {
            Err(format!("{} holds several datasets ({}); choose one with --dataset", root.display(), names.join(", ")))
        }
    }
}
