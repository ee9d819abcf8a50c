//! Rendering results for people and machines. The only place that formats output;
//! commands hand it data and a writer.

pub mod human;
pub mod json;
pub mod page;
pub mod printer;
pub mod svg;

use std::collections::BTreeMap;

use crate::diagnostic::Severity;
use crate::findings::FileReport;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Human,
    Json,
}

/// What `--fix` did in this run, for the summary's last lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fixing {
    /// No `--fix`: fixable findings are pointed at it.
    NotAsked,
    /// `--fix --dry-run`: the diffs were printed, nothing written.
    DryRun,
    /// `--fix`: this many findings were fixed in files written; any fixable one left is in a
    /// file that could not be written (or changed meanwhile), said above it.
    Wrote(usize),
}

/// Totals over every record, as the summary line and the JSON report give them.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Totals {
    pub files: usize,
    pub valid: usize,
    pub invalid: usize,
    pub errors: usize,
    pub warnings: usize,
    /// Findings per rule code.
    pub by_rule: BTreeMap<&'static str, usize>,
    /// The severity a rule's findings had here (a rule can report at another severity than
    /// its own, as TK014 does in legacy threads): the highest seen.
    #[serde(skip)]
    pub rule_severity: BTreeMap<&'static str, Severity>,
    #[serde(skip)]
    pub fixable: usize,
    #[serde(skip)]
    pub paths: usize,
    /// What one record is called in the summary ("thread" when unset; "example" for training files).
    #[serde(skip)]
    pub noun: Option<&'static str>,
}

impl Totals {
    pub fn add(&mut self, file: &FileReport) {
        self.paths += 1;
        // Clean records were counted where they were read (only lines and array items are).
        self.files += file.clean;
        self.valid += file.clean;
        let has_lines = file.clean > 0 || file.records.iter().any(|r| r.record.is_some());
        for r in &file.records {
            // A JSONL file's finding about the whole file (not one of its lines) is no record of its own.
            let file_level = r.record.is_none() && has_lines;
            if !file_level {
                self.files += 1;
                if r.is_valid() {
                    self.valid += 1;
                } else {
                    self.invalid += 1;
                }
            }
            for d in &r.diagnostics {
                match d.severity {
                    Severity::Error => self.errors += 1,
                    Severity::Warning => self.warnings += 1,
                }
                self.fixable += usize::from(d.fix.is_some());
                *self.by_rule.entry(d.code()).or_default() += 1;
                let s = self.rule_severity.entry(d.code()).or_insert(d.severity);
                *s = (*s).max(d.severity);
            }
        }
    }
}
