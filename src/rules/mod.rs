//! The semantic checks of threads, grouped by what they look at in the sibling modules, and
//! the rule registry (`registry`) every finding of every command names its rule from.

use serde_json::Value;

use crate::data_root::DataRoot;
use crate::diagnostic::Diagnostic;
use crate::thread::ThreadView;
use crate::version::Version;

mod data_root;
mod first_message;
pub mod grounding;
mod legacy;
pub mod quality;
mod lifecycle;
pub mod registry;
mod tool_calls;

pub use registry::*;

/// Everything a semantic rule may look at.
pub struct Context<'a> {
    pub doc: &'a Value,
    pub version: Version,
    pub thread: ThreadView<'a>,
    /// The file name without `.json`; `None` for a record inside a JSONL file.
    pub file_stem: Option<&'a str>,
    pub data_root: Option<&'a DataRoot>,
}

/// A semantic check: reads the context, pushes findings.
pub type Check = fn(&Context<'_>, &mut Vec<Diagnostic>);

/// The semantic checks, run in this order on every record whose version is known.
/// Each one decides for itself which versions it applies to.
pub static CHECKS: &[Check] = &[
    tool_calls::check,
    first_message::check,
    lifecycle::check_counts,
    lifecycle::check_finished,
    lifecycle::check_timestamps,
    lifecycle::check_id_matches_file,
    legacy::check,
    data_root::check,
];
