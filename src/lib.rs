//! threadkit: validated core for tool-use chain-of-thought threads.
//!
//! The pipeline, one module per step:
//! `walk` → `source` (read, parse) → `version` (detect) → `check` (`schema` + `rules`)
//! → `thread` (typed view) → act (`fix`, `stats`) → `write` (atomic) → re-check.
//! Every check returns `findings` (file and record reports); `report` renders them; `commands` wire the steps to the CLI.
#![warn(clippy::print_stdout, clippy::print_stderr)]

pub mod batch;
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
// PyO3's macros expand to the FFI calls of a CPython extension: the crate's one unsafe code.
#[cfg(feature = "python")]
#[allow(unsafe_code)]
mod python;
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
pub mod text;
pub mod thread;
pub mod tokens;
pub mod tools;
pub mod validate;
pub mod version;
pub mod walk;
pub mod workers;
pub mod write;

pub use commands::{run, ExitStatus};

/// The whole command line, as the `threadkit` binary and the wheel's `threadkit` command run
/// it: parse `args` (the program name first), run, flush; the exit code.
pub fn main_with<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    use clap::Parser;
    use std::io::Write;
    let cli = match cli::Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version are "errors" that print to stdout and exit 0.
            let _ = e.print();
            return e.exit_code() as u8;
        }
    };
    let stdout = std::io::stdout().lock();
    // Keys are scrubbed from all output here, whatever printed them.
    let mut out = secret::Scrubbed(std::io::BufWriter::new(stdout));
    // Not locked for the whole run: progress bars draw to stderr from their own thread,
    // and a lock held here would block them (and the worker waiting on the bar) forever.
    let mut err = secret::Scrubbed(std::io::stderr());
    let status = run(cli, &mut out, &mut err);
    match out.flush() {
        // A closed pipe (`threadkit validate | head`) is the reader's choice, not our failure.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
        Err(e) => {
            let _ = writeln!(err, "threadkit: cannot write output: {e}");
            2
        }
        Ok(()) => status as u8,
    }
}
