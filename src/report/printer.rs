//! The report of a check over files (`validate`, `verify`, `dataset check`), printed as it
//! comes: human snippets per file and a summary, or one JSON document
//! `{"files": [entry, …], "summary": {…}}` whose entries are written one by one.

use std::io::{self, Write};

use super::human::Renderer;
use super::{json, Fixing, Format, Totals};
use crate::findings::FileReport;
use crate::walk::Shard;

/// What a report of one shard says about it: `{"command": …, "index": I, "count": N}` (the
/// names an export's `input_shard` uses), the threadkit that wrote it and the flags that change
/// what a report says (`settings`): shards of runs with other rules or flags are not one run.
pub fn shard_tag(command: &str, settings: &[String], shard: Shard) -> serde_json::Value {
    serde_json::json!({
        "command": command, "index": shard.index, "count": shard.count,
        "threadkit_version": concat!(env!("CARGO_PKG_VERSION"), " (", env!("THREADKIT_COMMIT"), ")"),
        "settings": settings,
    })
}

/// Writes reports as they come: human snippets, or the JSON document's entries one by one.
pub struct Printer<'a> {
    format: Format,
    quiet: bool,
    renderer: &'a Renderer,
    first: bool,
    /// The command and part of a `--shard I/N` run, written into the JSON report so that
    /// `threadkit merge` can tell that every part of one run is there, once.
    shard: Option<serde_json::Value>,
}

impl<'a> Printer<'a> {
    pub fn new(format: Format, quiet: bool, renderer: &'a Renderer) -> Self {
        Printer { format, quiet, renderer, first: true, shard: None }
    }

    /// A report of one shard of `command`'s run with these settings (`None`: of the whole run).
    pub fn shard(mut self, command: &str, settings: &[String], shard: Option<Shard>) -> Self {
        self.shard = shard.map(|s| shard_tag(command, settings, s));
        self
    }

    pub fn begin(&self, out: &mut dyn Write) -> io::Result<()> {
        if self.format == Format::Json {
            write!(out, "{{\"files\": [")?;
        }
        Ok(())
    }

    pub fn file(&mut self, report: &FileReport, out: &mut dyn Write) -> io::Result<()> {
        match self.format {
            Format::Human if !self.quiet => out.write_all(self.renderer.file(report).as_bytes()),
            Format::Human => Ok(()),
            Format::Json => {
                for entry in json::entries(report) {
                    if !self.first {
                        out.write_all(b",")?;
                    }
                    self.first = false;
                    write!(out, "\n  {entry}")?;
                }
                Ok(())
            }
        }
    }

    pub fn end(&self, totals: &Totals, fixing: Fixing, out: &mut dyn Write) -> io::Result<()> {
        match self.format {
            Format::Json => match &self.shard {
                Some(tag) => writeln!(out, "\n], \"summary\": {}, \"shard\": {tag}}}", json::summary(totals)),
                None => writeln!(out, "\n], \"summary\": {}}}", json::summary(totals)),
            },
            Format::Human => out.write_all(self.renderer.summary(totals, fixing).as_bytes()),
        }
    }
}
