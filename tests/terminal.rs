//! threadkit at a real terminal: every interactive command and every progress bar, run
//! under a pseudo-terminal (`tests/pty_driver.py`, Python's `pty`) with a hard time limit.
//! A hang fails the test instead of stalling it; assertions are on what the screen shows.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{copy_dir, fixtures, root, Endpoint};
use serde_json::{json, Value};

struct Screen {
    code: Option<i64>,
    timed_out: bool,
    failed_step: Option<i64>,
    text: String,
    /// Every byte the terminal received, escape sequences included.
    raw: String,
}

/// Run threadkit under a terminal with the scripted steps; at most `secs` seconds.
fn pty(dir: &Path, args: &[&str], steps: Value, secs: u64) -> Screen {
    let mut c = Command::new("python3");
    c.arg(root().join("tests/pty_driver.py"))
        .arg(secs.to_string())
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_threadkit"))
        .args(args)
        .current_dir(dir)
        .env("THREADKIT_CACHE_DIR", dir.join("cache"))
        .env("OPENAI_API_KEY", "sk-test-terminal-key")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    let mut child = c.spawn().expect("python3 runs");
    child.stdin.take().unwrap().write_all(steps.to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).expect("the driver prints JSON");
    Screen {
        code: v["code"].as_i64(),
        timed_out: v["timed_out"].as_bool().unwrap(),
        failed_step: v["failed_step"].as_i64(),
        text: v["screen"].as_str().unwrap().to_string(),
        raw: v["raw"].as_str().unwrap().to_string(),
    }
}

fn finished(s: &Screen) {
    assert!(!s.timed_out, "hung at a terminal:\n{}", s.text);
    assert_eq!(s.failed_step, None, "step {:?} never showed:\n{}", s.failed_step, s.text);
}

fn gen_args<'a>(endpoint: &'a Endpoint, data: &'a str, threads: &'a str) -> Vec<&'a str> {
    vec![
        "--data-root",
        data,
        "--threads-dir",
        threads,
        "--base-url",
        &endpoint.url,
        "--model",
        "scripted",
        "--structured",
        "json_object",
    ]
}

fn json_files(dir: &Path) -> Vec<Value> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "json"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    v.sort();
    v.iter().map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()).collect()
}

#[test]
fn export_draws_its_bar_and_finishes() {
    let tmp = tempfile::tempdir().unwrap();
    for k in 0..20 {
        copy_dir(&fixtures().join("threads/valid"), &tmp.path().join(format!("t/c{k}")));
    }
    let s = pty(tmp.path(), &["export", "t", "--profile", "trl", "--out", "out", "--status", "all"], json!([]), 60);
    finished(&s);
    assert_eq!(s.code, Some(0), "{}", s.text);
    assert!(s.text.contains("threads read") && s.text.contains("wrote"), "{}", s.text);
}

#[test]
fn report_draws_its_bar_and_finishes() {
    let tmp = tempfile::tempdir().unwrap();
    for k in 0..20 {
        copy_dir(&fixtures().join("threads/valid"), &tmp.path().join(format!("t/c{k}")));
    }
    let s = pty(tmp.path(), &["report", "t", "--out", "report.html"], json!([]), 60);
    finished(&s);
    assert_eq!(s.code, Some(0), "{}", s.text);
    assert!(s.text.contains("threads read") && s.text.contains("report.html:"), "{}", s.text);
    assert!(tmp.path().join("report.html").is_file());
}

#[test]
fn batch_generation_draws_its_bar_and_finishes() {
    let tmp = tempfile::tempdir().unwrap();
    let endpoint = Endpoint::start(tmp.path(), &["--no-errors", "--latency-ms", "50"]);
    let data = fixtures().join("datasets");
    let mut args = vec!["generate", "new", "--count", "3", "--parallel", "2", "--batch", "--seed", "4"];
    args.extend(gen_args(&endpoint, data.to_str().unwrap(), "threads"));
    let s = pty(tmp.path(), &args, json!([]), 90);
    finished(&s);
    assert_eq!(s.code, Some(0), "{}", s.text);
    assert!(s.text.contains("3 threads: 3 finished"), "{}", s.text);
    assert_eq!(json_files(&tmp.path().join("threads")).len(), 3);
}

#[test]
fn interactive_review_accept_regenerate_invalid_expand_and_quit() {
    let tmp = tempfile::tempdir().unwrap();
    let endpoint = Endpoint::start(tmp.path(), &["--no-errors"]);
    let data = fixtures().join("datasets");
    let mut args = vec!["generate", "new", "--seed", "9"];
    args.extend(gen_args(&endpoint, data.to_str().unwrap(), "threads"));
    let s = pty(
        tmp.path(),
        &args,
        json!([
            {"expect": "question: What was the person"},
            {"expect": "step 1 · use_tool"},
            {"expect": "\\(a\\): "},
            {"send": "x\n"},
            {"expect": "\"x\" is not a choice: answer a, r, e or q"},
            {"send": "e\n"},
            {"expect": "\\(a\\): "},
            {"send": "r\n"},
            {"expect": "step 1 · use_tool"},
            {"expect": "\\(a\\): "},
            {"send": "\n"},
            {"expect": "step 2 · use_tool"},
            {"expect": "\\(a\\): "},
            {"send": "q\n"},
            {"expect": "stopped; `threadkit generate continue"},
        ]),
        60,
    );
    finished(&s);
    assert_eq!(s.code, Some(0), "{}", s.text);
    let threads = json_files(&tmp.path().join("threads"));
    assert_eq!(threads.len(), 1);
    assert_eq!(threads[0]["metadata"]["num_tool_calls"], 1, "only the accepted step was written");
    assert_eq!(threads[0]["metadata"]["status"], "active");

    // The continue picker takes it up; accepting every step finishes it, and the end shows
    // the answer beside the ground truth.
    let mut args = vec!["generate", "continue"];
    args.extend(gen_args(&endpoint, data.to_str().unwrap(), "threads"));
    let s = pty(
        tmp.path(),
        &args,
        json!([
            {"expect": "continue which thread\\? \\[1-1, q\\] "},
            {"send": "1\n"},
            {"expect": "step 2 · use_tool"},
            {"expect": "\\(a\\): "},
            {"send": "a\n"},
            {"expect": "step 3 · finish"},
            {"expect": "\\(a\\): "},
            {"send": "a\n"},
            {"expect": "finished: answer Walking \\(medium confidence\\), ground truth \\w+ → (correct|incorrect)"},
        ]),
        60,
    );
    finished(&s);
    assert_eq!(s.code, Some(0), "{}", s.text);
    assert_eq!(json_files(&tmp.path().join("threads"))[0]["metadata"]["status"], "finished");
}

/// The pieces of the mock's `--hostile` payload, each of which would act on a terminal.
const HOSTILE: [&str; 5] = ["\u{1b}]52;", "\u{1b}[2J", "\u{9b}", "\u{202e}", "\u{7}"];

fn assert_no_hostile(what: &str, s: &str) {
    for p in HOSTILE {
        assert!(!s.contains(p), "{what} passes the model's {p:?} to the terminal:\n{s:?}");
    }
}

/// A model whose question, reasoning, explanation and unusable reply carry terminal control
/// sequences: the review shows them escaped, as does the end of the thread and a batch run.
#[test]
fn the_review_never_lets_the_models_words_drive_the_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let endpoint = Endpoint::start(tmp.path(), &["--hostile"]);
    let data = fixtures().join("datasets");
    let mut args = vec!["generate", "new", "--seed", "9"];
    args.extend(gen_args(&endpoint, data.to_str().unwrap(), "threads"));
    let s = pty(
        tmp.path(),
        &args,
        json!([
            {"expect": "question: What was the person"},
            {"expect": "step 1 · use_tool"},
            {"expect": "\\(a\\): "},
            {"send": "\n"},
            {"expect": "unusable reply, asking again"},
            {"expect": "step 2 · use_tool"},
            {"expect": "\\(a\\): "},
            {"send": "\n"},
            {"expect": "step 3 · finish"},
            {"expect": "\\(a\\): "},
            {"send": "\n"},
            {"expect": "finished: answer"},
        ]),
        60,
    );
    finished(&s);
    assert_eq!(s.code, Some(0), "{}", s.text);
    assert!(s.raw.contains("\\u{1b}]52;"), "the payload is shown escaped:\n{}", s.text);
    assert_no_hostile("the interactive review", &s.raw);

    // Such threads are garbled (TKQ11): the quality gate rejects every one, and says so safely.
    let batch = |folder: &str, extra: &[&str]| {
        let mut args = vec!["generate", "new", "--batch", "--count", "2", "--seed", "3"];
        args.extend(gen_args(&endpoint, data.to_str().unwrap(), folder));
        args.extend(extra);
        Command::new(env!("CARGO_BIN_EXE_threadkit"))
            .args(&args)
            .current_dir(tmp.path())
            .env("THREADKIT_CACHE_DIR", tmp.path().join("cache"))
            .env("OPENAI_API_KEY", "sk-test-terminal-key")
            .output()
            .unwrap()
    };
    let gated = batch("gated", &[]);
    let stderr = String::from_utf8_lossy(&gated.stderr);
    assert_eq!(gated.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("the quality gate rejected so many threads"), "{stderr}");
    let rejected = tmp.path().join("gated/rejected");
    let findings: Vec<String> = std::fs::read_dir(&rejected)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".findings.txt"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    assert!(!findings.is_empty() && findings.iter().all(|f| f.contains("TKQ11 garbled-text")), "{findings:?}");
    let ungated = batch("batch", &["--no-quality-gate"]);
    assert!(ungated.status.success(), "{}", String::from_utf8_lossy(&ungated.stderr));
    for (what, o) in [("a gated batch run", &gated), ("a batch run", &ungated)] {
        assert_no_hostile(&format!("{what}'s stdout"), &String::from_utf8_lossy(&o.stdout));
        assert_no_hostile(&format!("{what}'s stderr"), &String::from_utf8_lossy(&o.stderr));
    }
}

#[test]
fn quitting_before_the_first_step_and_end_of_input_leave_no_empty_thread() {
    let tmp = tempfile::tempdir().unwrap();
    let endpoint = Endpoint::start(tmp.path(), &["--no-errors"]);
    let data = fixtures().join("datasets");
    let mut args = vec!["generate", "new", "--seed", "11"];
    args.extend(gen_args(&endpoint, data.to_str().unwrap(), "threads"));
    let s = pty(
        tmp.path(),
        &args,
        json!([{"expect": "\\(a\\): "}, {"send": "q\n"}, {"expect": "stopped before the first step; nothing was saved"}]),
        60,
    );
    finished(&s);
    assert_eq!(s.code, Some(0), "{}", s.text);
    assert!(json_files(&tmp.path().join("threads")).is_empty());
    // Ctrl-D at the prompt: the same, and no hang.
    let s = pty(tmp.path(), &args, json!([{"expect": "\\(a\\): "}, {"eof": true}]), 60);
    finished(&s);
    assert_eq!(s.code, Some(0), "{}", s.text);
    assert!(json_files(&tmp.path().join("threads")).is_empty(), "{}", s.text);
}

#[test]
fn ctrl_c_says_what_was_saved() {
    let tmp = tempfile::tempdir().unwrap();
    let endpoint = Endpoint::start(tmp.path(), &["--no-errors"]);
    let data = fixtures().join("datasets");
    let mut args = vec!["generate", "new", "--seed", "12"];
    args.extend(gen_args(&endpoint, data.to_str().unwrap(), "threads"));
    let s = pty(
        tmp.path(),
        &args,
        json!([
            {"expect": "step 1 · "}, {"expect": "\\(a\\): "}, {"send": "a\n"},
            {"expect": "step 2 · "}, {"expect": "\\(a\\): "}, {"interrupt": true},
            {"expect": "interrupted\\."},
            {"expect": "1 step saved \\(status active\\); `threadkit generate continue"},
        ]),
        60,
    );
    finished(&s);
    assert_eq!(s.code, Some(130), "{}", s.text);
}

#[test]
fn the_main_screen_offers_new_continue_export_and_quit() {
    let tmp = tempfile::tempdir().unwrap();
    let endpoint = Endpoint::start(tmp.path(), &["--no-errors"]);
    let data = fixtures().join("datasets");
    copy_dir(&fixtures().join("threads/valid"), &tmp.path().join("threads"));
    let mut args = vec!["generate"];
    args.extend(gen_args(&endpoint, data.to_str().unwrap(), "threads"));
    let s = pty(
        tmp.path(),
        &args,
        json!([
            {"expect": "\\[n\\]ew thread, \\[c\\]ontinue a thread, \\[e\\]xport, \\[q\\]uit: "},
            {"send": "z\n"},
            {"expect": "choose n, c, e or q"},
            {"expect": "\\[q\\]uit: "},
            {"send": "n\n"},
            {"expect": "\\(a\\): "}, {"send": "a\n"},
            {"expect": "\\(a\\): "}, {"send": "a\n"},
            {"expect": "\\(a\\): "}, {"send": "a\n"},
            {"expect": "finished: answer"},
            {"expect": "\\[q\\]uit: "},
            {"send": "c\n"},
            {"expect": "continue which thread"},
            {"send": "q\n"},
            {"expect": "\\[q\\]uit: "},
            {"send": "e\n"},
            {"expect": "profile .*: "},
            {"send": "trl\n"},
            {"expect": "wrote .*export.json"},
            {"expect": "\\[q\\]uit: "},
            {"send": "q\n"},
        ]),
        90,
    );
    finished(&s);
    assert_eq!(s.code, Some(0), "{}", s.text);
    assert!(tmp.path().join("exports/trl/export.json").is_file(), "{}", s.text);
}
