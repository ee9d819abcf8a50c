//! The records of one file: a `.json` file is one record, a `.jsonl` file (also `.jsonl.gz`,
//! `.jsonl.zst`) one per non-blank line. The one reader behind validate, stats, report,
//! export, `validate --profile`, show and verify, so a file that cannot be read gets the
//! same finding (and code) from every command.

use std::path::Path;

use crate::diagnostic::Diagnostic;
use crate::source::{self, Failure, RecordText};
use crate::walk::Entry;

/// A record (or a whole file) that could not be read.
#[derive(Debug)]
pub struct Unreadable {
    /// The JSONL line; `None` for the whole file.
    pub record: Option<usize>,
    pub failure: Failure,
}

/// Call `each` with every record of `path` in order, or with what stopped it being read.
/// Only one record is held at a time; records over `max_size` are refused unread.
pub fn for_each(path: &Path, max_size: u64, mut each: impl FnMut(Result<RecordText, Unreadable>)) {
    if source::is_training_file(path) {
        let mut any = false;
        let result = source::for_each_line(path, max_size, |item| {
            any = true;
            each(item.map_err(|(line, failure)| Unreadable { record: Some(line), failure }))
        });
        match result {
            Err(failure) => each(Err(Unreadable { record: None, failure })),
            // A JSONL file with no line (a writer that crashed before its first record) holds
            // nothing to check: a finding, as an empty `.json` file is, never a clean file.
            Ok(()) if !any => {
                let empty = Diagnostic::new(&crate::rules::registry::EMPTY_FILE, "", "the file holds no record (it is empty or blank)");
                each(Err(Unreadable { record: None, failure: Box::new(empty) }));
            }
            Ok(()) => {}
        }
    } else {
        each(
            source::read_whole_record(path, max_size).map_err(|failure| Unreadable { record: None, failure }),
        );
    }
}

/// `for_each` for a walked file: a file the walk could not read is one failure.
pub fn for_each_of(entry: &Entry, max_size: u64, mut each: impl FnMut(Result<RecordText, Unreadable>)) {
    match &entry.problem {
        Some(problem) => each(Err(Unreadable {
            record: None,
            failure: Box::new(Diagnostic::new(&crate::rules::IO_ERROR, "", format!("cannot read: {problem}"))),
        })),
        None => for_each(&entry.path, max_size, each),
    }
}
