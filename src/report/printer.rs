//! The report of a check over files (`validate`, `verify`, `dataset check`), printed as it
//! comes: human snippets per file and a summary, or one JSON document
//! `{"files": [entry, …], "summary": {…}}` whose entries are written one by one.

use std::io::{self, Write};

use super::human::Renderer;
use super::{json, Format, Totals};
use crate::findings::FileReport;

/// Writes reports as they come: human snippets, or the JSON document's entries one by one.
pub struct Printer<'a> {
    format: Format,
    quiet: bool,
    renderer: &'a Renderer,
    first: bool,
}

impl<'a> Printer<'a> {
    pub fn new(format: Format, quiet: bool, renderer: &'a Renderer) -> Self {
        Printer { format, quiet, renderer, first: true }
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

    pub fn end(&self, totals: &Totals, fixed: usize, out: &mut dyn Write) -> io::Result<()> {
        match self.format {
            Format::Json => writeln!(out, "\n], \"summary\": {}}}", json::summary(totals)),
            Format::Human => out.write_all(self.renderer.summary(totals, fixed).as_bytes()),
        }
    }
}
