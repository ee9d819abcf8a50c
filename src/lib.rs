//! threadkit: validated core for tool-use chain-of-thought threads.
//!
//! The pipeline, one module per step:
//! `walk` → `source` (read, parse) → `version` (detect) → `check` (`schema` + `rules`)
//! → `thread` (typed view) → act (`fix`, `stats`) → `write` (atomic) → re-check.
//! Every check returns `findings` (file and record reports); `report` renders them; `commands` wire the steps to the CLI.
#![warn(clippy::print_stdout, clippy::print_stderr)]

pub mod check;
pub mod cli;
pub mod commands;
pub mod conversation;
pub mod corpus;
pub mod convert;
pub mod data_root;
pub mod dataset;
pub mod diagnostic;
pub mod export;
pub mod findings;
pub mod fix;
pub mod generate;
pub mod json;
pub mod merge;
pub mod open;
pub mod progress;
pub mod pyjson;
pub mod quality;
pub mod records;
pub mod report;
pub mod rules;
pub mod schema;
pub mod secret;
pub mod show;
pub mod source;
pub mod span;
pub mod stats;
pub mod suggest;
pub mod thread;
pub mod tokens;
pub mod tools;
pub mod validate;
pub mod version;
pub mod walk;
pub mod workers;
pub mod write;

pub use commands::{run, ExitStatus};
