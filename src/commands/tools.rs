//! `threadkit tools list | schema | run`.

use std::io::Write;

use serde_json::Value;

use crate::cli::{ToolsArgs, ToolsCommand};
use crate::data_root::DataRoot;
use crate::tools::{self, artifacts::Workspace};

use super::ExitStatus;
use super::CommandError;

pub fn run(args: ToolsArgs, out: &mut dyn Write, _err: &mut dyn Write) -> Result<ExitStatus, CommandError> {
    match args.command {
        ToolsCommand::List { format } => {
            let all = tools::openai_tools();
            match format {
                crate::report::Format::Json => {
                    writeln!(out, "{}", crate::text::json_pretty(&all))?
                }
                crate::report::Format::Human => {
                    let width = terminal_width();
                    for t in tools::TOOLS {
                        writeln!(out, "{}", signature(t.name, &(t.parameters)()))?;
                        for line in wrap(t.description, width.saturating_sub(4).max(40)) {
                            writeln!(out, "    {line}")?;
                        }
                    }
                    writeln!(out, "\n`threadkit tools schema NAME` prints a tool's JSON Schema; `threadkit tools run NAME` runs it.")?;
                }
            }
            Ok(ExitStatus::Success)
        }
        ToolsCommand::Schema { name } => {
            let all = tools::openai_tools();
            let shown = match name {
                None => all,
                Some(n) => match all.as_array().into_iter().flatten().find(|t| t["function"]["name"] == n.as_str()) {
                    Some(t) => t.clone(),
                    None => return Err(unknown_tool(&n)),
                },
            };
            writeln!(out, "{}", crate::text::json_pretty(&shown))?;
            Ok(ExitStatus::Success)
        }
        ToolsCommand::Run { name, args, data_root, dataset, session } => {
            let parsed: Value = match serde_json::from_str(&args) {
                Ok(v @ Value::Object(_)) => v,
                Ok(_) => {
                    return Err(CommandError::Usage("--args must be a JSON object, e.g. '{\"channel_names\": [\"acc_x\"]}'".to_string()));
                }
                Err(e) => {
                    return Err(CommandError::Usage(format!("--args is not valid JSON: {e}")));
                }
            };
            if !data_root.is_dir() {
                return Err(CommandError::Usage(format!("--data-root {}: not a directory", data_root.display())));
            }
            if tools::TOOLS.iter().all(|t| t.name != name) {
                return Err(unknown_tool(&name));
            }
            let root = DataRoot::new(&data_root);
            let checked = match dataset {
                Some(d) => root.check_dataset(&d).map(|()| d),
                None => root.infer_dataset(session.as_deref()),
            };
            let dataset = match checked {
                Ok(d) => d,
                Err(e) => {
                    return Err(CommandError::Usage(e.to_string()));
                }
            };
            let ws = match &session {
                Some(s) => Workspace::open(&root, &dataset, s),
                None => Workspace::for_dataset(&root, &dataset),
            };
            let result = match ws {
                Ok(mut ws) => tools::run(&mut ws, &name, &parsed),
                Err(e) => serde_json::json!({"error": e.to_string()}),
            };
            writeln!(out, "{}", crate::text::json_pretty(&result))?;
            Ok(if result.get("error").is_some() { ExitStatus::Failure } else { ExitStatus::Success })
        }
    }
}

/// `compute_features(artifact_id?, channel_names?)`: the arguments, optional ones marked.
fn signature(name: &str, schema: &Value) -> String {
    let required: Vec<&str> =
        schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let args: Vec<String> = schema["properties"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, _)| if required.contains(&k.as_str()) { k.clone() } else { format!("{k}?") })
        .collect();
    format!("{name}({})", args.join(", "))
}

/// Columns of the terminal (`COLUMNS`), 100 when unknown.
fn terminal_width() -> usize {
    std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()).filter(|&c: &usize| c >= 40).unwrap_or(100)
}

/// Words of `text` in lines of at most `width` characters.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split_whitespace() {
        let line = lines.last_mut().expect("never empty");
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(word.to_string());
        } else {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
    }
    lines
}

/// A usage error for a tool name that is not one, with the closest name.
fn unknown_tool(name: &str) -> CommandError {
    CommandError::Usage(format!(
        "unknown tool {name}{}; `threadkit tools list` shows them",
        crate::suggest::hint(name, tools::TOOLS.iter().map(|t| t.name))
    ))
}
