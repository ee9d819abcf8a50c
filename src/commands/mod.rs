//! One module per subcommand. Each takes its parsed arguments and writers and
//! returns an exit status; none of them calls `process::exit`.

mod migrate;
mod rules;
mod schema;
mod stats;
mod validate;

use std::io::{self, Write};

use crate::cli::{Cli, Command};

/// 0: clean, 1: findings, 2: usage or I/O error (as ruff's `ExitStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ExitStatus {
    Success = 0,
    Failure = 1,
    Error = 2,
}

pub fn run(cli: Cli, out: &mut dyn Write, err: &mut dyn Write) -> ExitStatus {
    let result = match cli.command {
        Command::Validate(args) => validate::run(args, out, err),
        Command::Stats(args) => stats::run(args, out, err),
        Command::Migrate(args) => migrate::run(args, out, err),
        Command::Rules(args) => rules::run(args, out, err),
        Command::Schema(args) => schema::run(args, out, err),
    };
    match result {
        Ok(status) => status,
        // The reader went away (`| head`): not an error of ours.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitStatus::Success,
        Err(e) => {
            let _ = writeln!(err, "threadkit: cannot write output: {e}");
            ExitStatus::Error
        }
    }
}

/// A worker pool of the requested size (default: one thread per core).
pub(crate) fn pool(jobs: Option<usize>) -> rayon::ThreadPool {
    let mut b = rayon::ThreadPoolBuilder::new();
    if let Some(n) = jobs.filter(|&n| n > 0) {
        b = b.num_threads(n);
    }
    b.build().unwrap_or_else(|_| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .expect("a one-thread pool")
    })
}

/// How many files one parallel batch holds: enough to keep every core busy,
/// few enough that memory stays flat however large the tree is.
pub(crate) const BATCH: usize = 1024;
