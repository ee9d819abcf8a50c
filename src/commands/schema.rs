use std::io::Write;

use crate::cli::SchemaArgs;
use crate::schema;

use super::ExitStatus;
use super::CommandError;

pub fn run(args: SchemaArgs, out: &mut dyn Write, _err: &mut dyn Write) -> Result<ExitStatus, CommandError> {
    let Some(name) = args.name else {
        for s in schema::SCHEMAS {
            writeln!(out, "{:<18} {}", s.name, s.file)?;
        }
        return Ok(ExitStatus::Success);
    };
    match schema::find(&name) {
        Some(s) => {
            out.write_all(s.text.as_bytes())?;
            Ok(ExitStatus::Success)
        }
        None => {
            let names: Vec<_> = schema::SCHEMAS.iter().map(|s| s.name).collect();
            Err(CommandError::Usage(format!("no schema {name:?}; choose one of: {}", names.join(", "))))
        }
    }
}
