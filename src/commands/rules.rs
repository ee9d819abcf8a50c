use std::io::Write;

use crate::cli::RulesArgs;
use crate::report::Format;
use crate::rules::{self, Rule};

use super::ExitStatus;
use super::CommandError;

pub fn run(args: RulesArgs, out: &mut dyn Write, _err: &mut dyn Write) -> Result<ExitStatus, CommandError> {
    let selected: Vec<&Rule> = match &args.rule {
        Some(key) => match rules::find(key) {
            Some(r) => vec![r],
            None => {
                return Err(CommandError::Usage(format!("no rule {key:?}; `threadkit rules` lists every code and name")));
            }
        },
        None => rules::ALL.to_vec(),
    };
    match args.format {
        Format::Json => {
            let list: Vec<_> = selected
                .iter()
                .map(|r| {
                    serde_json::json!({"code": r.code, "name": r.name, "severity": r.severity, "summary": r.summary,
                        "explanation": r.explanation, "fix": r.fix})
                })
                .collect();
            writeln!(out, "{}", crate::text::json_pretty(&list))?;
        }
        Format::Human if args.rule.is_some() => {
            let r = selected[0];
            writeln!(out, "{} ({}) — {}", r.code, r.name, r.summary)?;
            writeln!(out, "severity: {}", r.severity.as_str())?;
            writeln!(out, "automatic fix: {}", r.fix.unwrap_or("none"))?;
            writeln!(out)?;
            writeln!(out, "{}", r.explanation)?;
        }
        Format::Human => {
            for r in selected {
                let fix = if r.fix.is_some() { "fix" } else { "   " };
                writeln!(out, "{}  {:<7}  {fix}  {:<32}  {}", r.code, r.severity.as_str(), r.name, r.summary)?;
            }
        }
    }
    Ok(ExitStatus::Success)
}
