//! The README's "Try it in two minutes" block, run verbatim (extracted from README.md),
//! so the README can never drift from the code.
#![allow(clippy::print_stderr, reason = "the try-it block's time is reported for the closing note")]

mod common;

use std::process::Command;

use common::root;

fn try_it_block() -> String {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let start = readme.find("<!-- try-it").expect("the README marks its try-it block");
    let body = &readme[start..];
    let open = body.find("```sh\n").expect("a sh block follows the marker") + 6;
    let close = body[open..].find("```").expect("the block ends") + open;
    body[open..close].to_string()
}

#[test]
fn the_readme_try_it_block_runs_as_written() {
    let tmp = tempfile::tempdir().unwrap();
    // The block runs from the repository root; a copy of what it reads keeps the tree clean.
    for dir in ["fixtures/uea", "scripts"] {
        common::copy_dir(&root().join(dir), &tmp.path().join(dir));
    }
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_threadkit")).parent().unwrap().to_path_buf();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let script = format!("set -euo pipefail\n{}", try_it_block());
    let t = std::time::Instant::now();
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(tmp.path())
        .env("PATH", path)
        .env("THREADKIT_CACHE_DIR", tmp.path().join("cache"))
        .env_remove("OPENAI_API_KEY")
        .env_remove("THREADKIT_API_KEY")
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the README block failed:\n{text}");
    assert!(text.contains("4 threads: 4 finished"), "{text}");
    assert!(tmp.path().join("try/exports/trl/train.jsonl").is_file());
    let report = std::fs::read_to_string(tmp.path().join("try/report.html")).unwrap();
    assert!(report.contains("data-total=\"threads\">4<") && report.contains("class=\\\"plot\\\""), "the report has 4 threads and plots");
    eprintln!("README try-it block: {:.1} s", t.elapsed().as_secs_f64());
}

/// Every `threadkit …` the README's shell blocks show, as words: comments, redirections,
/// pipes and the commands chained after it cut off, shell variables given a value; a synopsis's
/// optional `[--flag]` is taken and its `…` dropped.
fn readme_commands() -> Vec<(usize, Vec<String>)> {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let mut commands = Vec::new();
    let mut in_sh = false;
    for (n, line) in readme.lines().enumerate() {
        if line.starts_with("```") {
            in_sh = line == "```sh";
            continue;
        }
        if !in_sh {
            continue;
        }
        let line = line.replace("$I", "1").replace("$((I-1))", "0");
        // A command may follow `&&` or `;` on the same line.
        for part in line.split("&&").flat_map(|p| p.split("; ")) {
            let Some(words) = shlex::split(part.trim()) else { continue };
            let words: Vec<String> = words
                .into_iter()
                .take_while(|w| !w.starts_with('#') && !["|", ">", ">>", "2>"].contains(&w.as_str()) && !w.starts_with('>'))
                .filter(|w| w != "…")
                .map(|w| w.trim_start_matches('[').trim_end_matches(']').to_string())
                .collect();
            if words.first().is_some_and(|w| w == "threadkit") {
                commands.push((n + 1, words));
            }
        }
    }
    commands
}

/// A command a reader copies from the README must at least be one threadkit takes (an
/// `export` shown without its required `--profile` went unnoticed here for two rounds).
#[test]
fn every_command_the_readme_shows_parses() {
    use clap::Parser;
    let commands = readme_commands();
    assert!(commands.len() > 40, "the README's commands were found: {}", commands.len());
    let mut wrong = Vec::new();
    for (line, words) in &commands {
        if let Err(e) = threadkit::cli::Cli::try_parse_from(words) {
            if !matches!(e.kind(), clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion) {
                wrong.push(format!("README.md:{line}: {}\n{e}", words.join(" ")));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The same for the EXAMPLES each subcommand's `--help` prints.
#[test]
fn every_example_the_help_shows_parses() {
    use clap::{CommandFactory, Parser};
    fn examples(cmd: &clap::Command, into: &mut Vec<(String, String)>) {
        if let Some(text) = cmd.get_after_help() {
            for line in text.to_string().lines() {
                let Some(words) = shlex::split(line.trim()) else { continue };
                let words: Vec<String> = words.into_iter().take_while(|w| !w.starts_with('#') && !["|", ">", "&&", ";"].contains(&w.as_str()) && !w.starts_with('>')).collect();
                if words.first().is_some_and(|w| w == "threadkit") {
                    into.push((cmd.get_name().to_string(), words.join("\u{1f}")));
                }
            }
        }
        for sub in cmd.get_subcommands() {
            examples(sub, into);
        }
    }
    let mut all = Vec::new();
    examples(&threadkit::cli::Cli::command(), &mut all);
    assert!(all.len() > 20, "the help's examples were found: {}", all.len());
    let wrong: Vec<String> = all
        .iter()
        .filter_map(|(name, line)| {
            let words: Vec<&str> = line.split('\u{1f}').collect();
            threadkit::cli::Cli::try_parse_from(&words).err().map(|e| format!("`{name} --help`: {}\n{e}", words.join(" ")))
        })
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
