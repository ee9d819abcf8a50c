//! One module per subcommand. Each takes its parsed arguments and writers and
//! returns an exit status; none of them calls `process::exit`.

mod dataset;
mod export;
mod generate;
mod merge;
mod migrate;
mod quality;
mod rules;
mod schema;
mod report;
mod show;
mod stats;
mod tools;
mod validate;
mod verify;

use std::io::{self, Write};
use std::path::PathBuf;

use crate::cli::{Cli, Command, WalkArgs};
use crate::data_root::DataRoot;
use crate::walk::{walk, Walk, WalkOptions};
pub(crate) use crate::workers::for_each_batch;

/// 0: clean, 1: findings, 2: usage or I/O error (as ruff's `ExitStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ExitStatus {
    Success = 0,
    Failure = 1,
    Error = 2,
}

/// Why a command stopped without doing its job. Commands return it; `run` is the one place
/// that says it (`threadkit: …` on stderr) and turns it into an exit status.
#[derive(Debug)]
pub enum CommandError {
    /// Asked for something that cannot be done as asked (a path, a flag, a combination);
    /// the message names it and what to do instead. Exit 2.
    Usage(String),
    /// Writing the command's own output failed. Exit 2, or 0 when the reader closed the pipe.
    Output(io::Error),
}

impl From<io::Error> for CommandError {
    fn from(e: io::Error) -> CommandError {
        CommandError::Output(e)
    }
}

impl std::fmt::Display for CommandError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CommandError::Usage(message) => f.write_str(message),
            CommandError::Output(e) => write!(f, "cannot write output: {e}"),
        }
    }
}

impl std::error::Error for CommandError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CommandError::Usage(_) => None,
            CommandError::Output(e) => Some(e),
        }
    }
}

pub fn run(cli: Cli, out: &mut dyn Write, err: &mut dyn Write) -> ExitStatus {
    let result = match cli.command {
        Command::Validate(args) => validate::run(args, out, err),
        Command::Stats(args) => stats::run(args, out, err),
        Command::Migrate(args) => migrate::run(args, out, err),
        Command::Dataset(args) => dataset::run(args, out, err),
        Command::Tools(args) => tools::run(args, out, err),
        Command::Export(args) => export::run(args, out, err),
        Command::Convert(mut args) => {
            args.from.get_or_insert(crate::cli::FromFormat::Auto);
            export::run(args, out, err)
        }
        Command::Generate(args) => generate::run(args, out, err),
        Command::Verify(args) => verify::run(args, out, err),
        Command::Show(args) => show::run(args, out, err),
        Command::Report(args) => report::run(args, out, err),
        Command::Rules(args) => rules::run(args, out, err),
        Command::Quality(args) => quality::run(args, out, err),
        Command::Schema(args) => schema::run(args, out, err),
        Command::Merge(args) => merge::run(args, out, err),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "threadkit", out);
            Ok(ExitStatus::Success)
        }
        Command::Man => clap_mangen::Man::new(<Cli as clap::CommandFactory>::command())
            .render(out)
            .map(|()| ExitStatus::Success)
            .map_err(CommandError::from),
    };
    match result {
        Ok(status) => status,
        // The reader went away (`| head`): not an error of ours.
        Err(CommandError::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => ExitStatus::Success,
        Err(e) => {
            // Errors quote data (a server's reply, a template's message, a value from a file).
            let _ = writeln!(err, "threadkit: {}", crate::text::terminal_safe(&e.to_string(), true));
            ExitStatus::Error
        }
    }
}

/// Walk the arguments. Paths that do not exist are reported on `err` and turn the
/// final status into a usage error; the others are still checked.
pub(crate) fn walk_args(args: &WalkArgs, skip_backups: bool, err: &mut dyn Write) -> io::Result<(Walk, ExitStatus)> {
    walk_with(args, thread_walk(args, skip_backups), err)
}

/// How `walk_args` walks: thread files, links followed only when asked.
pub(crate) fn thread_walk(args: &WalkArgs, skip_backups: bool) -> WalkOptions {
    WalkOptions { follow_links: args.follow_links, skip_backups, training_files: false, shard: None }
}

pub(crate) fn walk_with(args: &WalkArgs, options: WalkOptions, err: &mut dyn Write) -> io::Result<(Walk, ExitStatus)> {
    let walked = walk(&args.paths, WalkOptions { shard: args.shard, ..options });
    let mut status = ExitStatus::Success;
    for (path, why) in &walked.missing {
        writeln!(err, "threadkit: {}: {why}; check the path", crate::text::shown(path))?;
        status = ExitStatus::Error;
    }
    Ok((walked, status))
}

/// Open `--data-root`; a path that is not a folder is a usage error (`Err`).
pub(crate) fn open_data_root(
    dir: Option<&PathBuf>,
    err: &mut dyn Write,
) -> io::Result<Result<Option<DataRoot>, ExitStatus>> {
    match dir {
        Some(dir) if !dir.is_dir() => {
            writeln!(
                err,
                "threadkit: --data-root {}: not a directory; point it at the folder that holds <dataset>/manifest.json",
                dir.display()
            )?;
            Ok(Err(ExitStatus::Error))
        }
        Some(dir) => Ok(Ok(Some(DataRoot::new(dir)))),
        None => Ok(Ok(None)),
    }
}

/// What the walks look for, as errors name them.
pub(crate) const THREAD_FILES: &str = "thread files (*.json, *.jsonl)";
pub(crate) const TRAINING_FILES: &str = "training files (*.jsonl, *.jsonl.gz, *.jsonl.zst)";

/// What a run that found no file to check (walked with `options`) ends with. A checker that
/// checked nothing must never say "clean" (exit 0): a usage error that names the paths. One
/// shard (`--shard I/N`) may hold none of the files the other shards hold, though: that is a
/// part of a run, not a wrong path, so it says so and succeeds (`threadkit merge` refuses a
/// merge that lacks a shard, and the merged report decides).
pub(crate) fn nothing_checked(
    args: &WalkArgs,
    options: WalkOptions,
    what: &str,
    err: &mut dyn Write,
) -> Result<ExitStatus, CommandError> {
    if let Some(shard) = args.shard {
        if walk(&args.paths, WalkOptions { shard: None, ..options }).entries().next().is_some() {
            writeln!(
                err,
                "threadkit: --shard {}/{}: none of the {what} in {} falls in this part (the other parts hold them); nothing to do here",
                shard.index,
                shard.count,
                shown_paths(&args.paths)
            )?;
            return Ok(ExitStatus::Success);
        }
    }
    Err(CommandError::Usage(nothing_to_check(&args.paths, what)))
}

/// `nothing_checked` for a command that walked thread files with `walk_args(args, skip_backups)`.
pub(crate) fn no_thread_files(args: &WalkArgs, skip_backups: bool, err: &mut dyn Write) -> Result<ExitStatus, CommandError> {
    nothing_checked(args, thread_walk(args, skip_backups), THREAD_FILES, err)
}

/// Why a run that read files but found no thread among them fails: counts of nothing, or a page
/// of nothing, would pass for a corpus (a folder of reports or exports named by mistake). `first`:
/// the first file that is not a thread and why, from its finding.
pub(crate) fn no_thread_among(files: usize, first: Option<(String, String)>, outcome: &str) -> CommandError {
    let first = first.map(|(place, why)| format!("{place}: {}", crate::text::terminal_safe(&why, false)));
    CommandError::Usage(match (files, first) {
        // The finding already says what the file is and that it is not a thread.
        (1, Some(first)) => format!("{first}; {outcome}"),
        (1, None) => format!("the file read is not a thread; {outcome}"),
        (n, Some(first)) => format!("none of the {n} files read is a thread (the first, {first}); {outcome}"),
        (n, None) => format!("none of the {n} files read is a thread; {outcome}"),
    })
}

/// Why a run that found no file to check fails (see `nothing_checked`).
pub(crate) fn nothing_to_check(paths: &[PathBuf], what: &str) -> String {
    format!(
        "nothing was checked: no {what} in {}; check the path (folders are searched recursively, hidden folders skipped)",
        shown_paths(paths)
    )
}

fn shown_paths(paths: &[PathBuf]) -> String {
    paths.iter().map(|p| crate::text::shown(p)).collect::<Vec<_>>().join(", ")
}

/// Whether human output gets colors: `--color`, else a terminal without `NO_COLOR`.
pub(crate) fn use_color(color: crate::cli::Color) -> bool {
    match color {
        crate::cli::Color::Always => true,
        crate::cli::Color::Never => false,
        crate::cli::Color::Auto => {
            std::io::IsTerminal::is_terminal(&std::io::stdout()) && std::env::var_os("NO_COLOR").is_none()
        }
    }
}
