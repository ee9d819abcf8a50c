//! What a newcomer hits in the first hour: mistakes get a clear answer and the right exit
//! code, at once; help, completions and the version work; output reads as English.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{copy_dir, fixtures, threadkit, Endpoint};
use serde_json::Value;

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn generate(dir: &Path, base_url: Option<&str>, key: Option<&str>, args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_threadkit"));
    c.env_remove("OPENAI_API_KEY").env_remove("THREADKIT_API_KEY").env("THREADKIT_CACHE_DIR", dir.join("cache"));
    if let Some(k) = key {
        c.env("OPENAI_API_KEY", k);
    }
    c.args(["generate", "new", "--batch", "--model", "m", "--structured", "json_object"])
        .args(["--data-root", s(&fixtures().join("datasets")), "--threads-dir", s(&dir.join("threads"))])
        .args(args);
    if let Some(u) = base_url {
        c.args(["--base-url", u]);
    }
    c.stdin(Stdio::null()).output().unwrap()
}

fn no_threads(dir: &Path) -> bool {
    std::fs::read_dir(dir.join("threads"))
        .map(|d| d.filter_map(Result::ok).all(|e| e.path().extension().is_none_or(|x| x != "json")))
        .unwrap_or(true)
}

#[test]
fn generation_fails_fast_with_one_message() {
    let tmp = tempfile::tempdir().unwrap();
    // No key for OpenAI's endpoint: exit 2 before anything, naming the variables.
    let o = generate(tmp.path(), None, None, &["--count", "3"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("OPENAI_API_KEY") && text(&o).contains("THREADKIT_API_KEY"), "{}", text(&o));
    assert!(no_threads(tmp.path()));

    // Nothing listening: one message, fast, no thread created.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}/v1");
    let t = Instant::now();
    let o = generate(tmp.path(), Some(&url), Some("k"), &["--count", "200", "--parallel", "8"]);
    assert!(t.elapsed() < Duration::from_secs(10), "took {:?}", t.elapsed());
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert_eq!(text(&o).matches("threadkit:").count(), 1, "one message:\n{}", text(&o));
    assert!(text(&o).contains("cannot reach"), "{}", text(&o));
    assert!(no_threads(tmp.path()));

    // The key refused (401), and an endpoint that 404s every request: one message each.
    for (status, needle) in [("401", "OPENAI_API_KEY"), ("404", "--base-url")] {
        let endpoint = Endpoint::start(tmp.path(), &["--fail-status", status]);
        let t = Instant::now();
        let o = generate(tmp.path(), Some(&endpoint.url), Some("sk-refused-key-123"), &["--count", "50", "--parallel", "8"]);
        assert!(t.elapsed() < Duration::from_secs(10), "took {:?}", t.elapsed());
        assert_eq!(o.status.code(), Some(2), "{status}: {}", text(&o));
        assert!(text(&o).contains(needle), "{status}: {}", text(&o));
        let messages = text(&o).matches("threadkit:").count();
        assert!(messages <= 2, "{status}: {messages} messages:\n{}", text(&o));
        assert!(no_threads(tmp.path()), "{status}");
    }

    // No scheme: a usage error with the fix.
    let o = generate(tmp.path(), Some("127.0.0.1:8080/v1"), Some("k"), &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("did you mean http://127.0.0.1:8080/v1?"), "{}", text(&o));
}

#[test]
fn a_fixed_seed_draws_new_recordings_on_the_next_run_and_repeats_on_the_same_folder() {
    let endpoint_dir = tempfile::tempdir().unwrap();
    let endpoint = Endpoint::start(endpoint_dir.path(), &["--no-errors"]);
    let sessions = |dir: &Path| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir.join("threads"))
            .unwrap()
            .filter_map(|e| {
                let p = e.ok()?.path();
                let t: Value = serde_json::from_slice(&std::fs::read(&p).ok()?).ok()?;
                t["metadata"]["session"].as_str().map(str::to_string)
            })
            .collect();
        v.sort();
        v
    };
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    for dir in [a.path(), b.path()] {
        let o = generate(dir, Some(&endpoint.url), Some("k"), &["--count", "3", "--seed", "1"]);
        assert!(o.status.success(), "{}", text(&o));
    }
    assert_eq!(sessions(a.path()), sessions(b.path()), "same seed, same folder state: same recordings");
    let first = sessions(a.path());
    let o = generate(a.path(), Some(&endpoint.url), Some("k"), &["--count", "3", "--seed", "1"]);
    assert!(o.status.success(), "{}", text(&o));
    let all = sessions(a.path());
    let second: Vec<&String> = all.iter().filter(|s| !first.contains(s)).collect();
    assert!(!second.is_empty(), "the second run with seed 1 drew new recordings: {all:?}");
}

#[test]
fn typos_get_did_you_mean_and_create_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let endpoint = Endpoint::start(tmp.path(), &["--no-errors"]);
    let o = generate(tmp.path(), Some(&endpoint.url), Some("k"), &["--dataset", "basic_motion"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("unknown dataset basic_motion; datasets in"), "{}", text(&o));
    assert!(text(&o).contains("did you mean basic_motions?"), "{}", text(&o));
    assert!(no_threads(tmp.path()));
    let data = fixtures().join("datasets");
    let o = threadkit(&["tools", "run", "show_session_stats", "--data-root", s(&data), "--dataset", "basic_motion"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("did you mean basic_motions?"), "{}", text(&o));
    // The dataset is inferred from the session when only one dataset holds it.
    let session = std::fs::read_dir(data.join("basic_motions/sessions")).unwrap().next().unwrap().unwrap().file_name();
    let o = threadkit(&["tools", "run", "show_channel_stats", "--data-root", s(&data), "--session", session.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn dataset_check_groups_repeats_and_knows_a_data_root() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("bm");
    copy_dir(&fixtures().join("datasets/basic_motions"), &d);
    std::fs::remove_dir_all(d.join("sessions")).unwrap();
    let o = threadkit(&["dataset", "check", s(&d), "--color", "never"]);
    assert_eq!(o.status.code(), Some(1));
    let out = text(&o);
    assert!(out.lines().count() < 80, "{} lines:\n{out}", out.lines().count());
    assert!(out.contains("TK801 session-without-data: 77 more like the above"), "{out}");
    let o = threadkit(&["dataset", "check", s(&d), "-q"]);
    assert!(text(&o).lines().count() <= 3, "{}", text(&o));
    let o = threadkit(&["dataset", "check", s(&fixtures().join("datasets"))]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("is a data root, not a dataset: it holds basic_motions"), "{}", text(&o));
    let o = threadkit(&["dataset", "list", s(&fixtures().join("datasets")), "--format", "json"]);
    let rows: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(rows[0]["name"], "basic_motions");
    assert_eq!(rows[0]["sessions"], 80);
}

#[test]
fn training_files_are_recognised_and_not_counted_as_threads() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("trl");
    let o = threadkit(&["export", s(&fixtures().join("threads/valid")), "--profile", "trl", "--out", s(&out), "--status", "all", "-q"]);
    assert!(o.status.success(), "{}", text(&o));
    // Named without --profile, a training file is checked as one (`--profile auto`), and it says so.
    let o = threadkit(&["validate", s(&out.join("train.jsonl")), "--color", "never"]);
    assert!(text(&o).contains("checked as `--profile auto`") && text(&o).contains("read as trl"), "{}", text(&o));
    assert!(!text(&o).contains("TK100"), "no schema errors: {}", text(&o));
    assert!(o.status.success(), "{}", text(&o));
    // Counted as nothing, it is refused: zero threads would pass for stats of a corpus.
    let o = threadkit(&["stats", s(&out.join("train.jsonl")), "--format", "json"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(o.stdout.is_empty(), "no stats printed");
    assert!(text(&o).contains("this looks like a training example") && text(&o).contains("nothing was counted"), "{}", text(&o));
}

#[test]
fn an_empty_requested_split_is_an_error_and_small_corpora_still_split() {
    let tmp = tempfile::tempdir().unwrap();
    let valid = fixtures().join("threads/valid");
    let o = threadkit(&["export", s(&valid), "--status", "all", "--profile", "trl", "--out", s(&tmp.path().join("a")), "--split", "train=0.9,val=0.1", "--split-method", "stratified", "-q"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(tmp.path().join("a/val.jsonl").is_file(), "7 threads still give a validation split");
    let one = tmp.path().join("one");
    copy_dir(&valid, &one);
    for e in std::fs::read_dir(&one).unwrap() {
        let p = e.unwrap().path();
        if !p.to_str().unwrap().contains("uci_har_train_01_0000") {
            let _ = std::fs::remove_file(&p).or_else(|_| std::fs::remove_dir_all(&p));
        }
    }
    let o = threadkit(&["export", s(&one), "--status", "all", "--profile", "trl", "--out", s(&tmp.path().join("b")), "--split", "train=0.9,val=0.1"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    // One recording, hashed: it lands in one split and the other is empty; the message says what fills every split.
    assert!(text(&o).contains("would be empty") && text(&o).contains("--split-method stratified"), "{}", text(&o));
    assert!(!tmp.path().join("b").exists());
    let o = threadkit(&["export", s(&one), "--status", "all", "--profile", "trl", "--out", s(&tmp.path().join("b")), "--split", "train=0.9,val=0.1", "--split-method", "stratified"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("split \"val\" would be empty: 1 session cannot fill every split"), "{}", text(&o));
}

#[test]
fn llama_factory_exports_load_in_its_converter_shape() {
    let tmp = tempfile::tempdir().unwrap();
    let valid = fixtures().join("threads/valid");
    // Compressed files are refused: LLaMA-Factory's loader rejects .gz and .zst.
    let o = threadkit(&["export", s(&valid), "--status", "all", "--profile", "llama-factory", "--out", s(&tmp.path().join("lf")), "--compress", "zstd"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = threadkit(&["export", s(&valid), "--status", "all", "--profile", "llama-factory", "--out", s(&tmp.path().join("lf.jsonl.gz"))]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    // dataset_info.json maps only columns the lines have (its converter reads every mapped column).
    let o = threadkit(&["export", s(&valid), "--status", "all", "--profile", "llama-factory", "--out", s(&tmp.path().join("lf")), "-q"]);
    assert!(o.status.success(), "{}", text(&o));
    let info: Value = serde_json::from_slice(&std::fs::read(tmp.path().join("lf/dataset_info.json")).unwrap()).unwrap();
    let columns = info["threadkit"]["columns"].as_object().unwrap();
    let first: Value = serde_json::from_str(
        std::fs::read_to_string(tmp.path().join("lf/train.jsonl")).unwrap().lines().next().unwrap(),
    )
    .unwrap();
    for (_, column) in columns {
        assert!(first.get(column.as_str().unwrap()).is_some(), "dataset_info maps {column}, which the lines lack");
    }
}

#[test]
fn help_completions_man_and_version() {
    for sub in ["validate", "stats", "migrate", "dataset", "tools", "generate", "export", "verify", "rules", "schema"] {
        let o = threadkit(&[sub, "--help"]);
        assert!(text(&o).contains("EXAMPLES:"), "{sub} --help has examples");
    }
    let o = threadkit(&["--version"]);
    let v = text(&o);
    assert!(v.starts_with("threadkit 0.") && v.contains("debug") || v.contains("release"), "{v}");
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let o = threadkit(&["completions", shell]);
        assert!(o.status.success() && text(&o).contains("threadkit"), "{shell}");
    }
    let o = threadkit(&["man"]);
    assert!(text(&o).contains(".TH threadkit 1"));
    let o = threadkit(&["tools", "list", "--format", "json"]);
    let tools: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(tools.as_array().unwrap().len() >= 7);
    let o = threadkit(&["tools", "list"]);
    assert!(text(&o).contains("filter_by_time(artifact_id?, start_time_sec, end_time_sec)"), "{}", text(&o));
    assert!(text(&o).lines().all(|l| l.chars().count() <= 100), "wrapped:\n{}", text(&o));
    let o = threadkit(&["tools", "schema", "compute_features"]);
    let t: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(t["function"]["name"], "compute_features");
}

#[test]
fn generate_list_and_prompts_say_what_they_mean() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path().join("threads");
    copy_dir(&fixtures().join("threads/valid"), &t);
    std::fs::remove_file(t.join("uci_har_test_24_2888_v4_0003.json")).unwrap(); // the one active thread
    let o = threadkit(&["generate", "list", "--threads-dir", s(&t)]);
    assert!(text(&o).contains("no active threads (2 finished, 1 max_turns_reached; --all lists them)"), "{}", text(&o));
    let o = threadkit(&["generate", "list", "--threads-dir", s(&t), "--model", "m"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = threadkit(&["generate", "prompts", "--dump", s(&tmp.path().join("p"))]);
    assert!(o.status.success(), "{}", text(&o));
    std::fs::write(tmp.path().join("p/querry.md"), "typo").unwrap();
    std::fs::write(tmp.path().join("p/step.md"), "## system\n{{one}} {{two}}\n## user\nx").unwrap();
    let o = threadkit(&[
        "generate", "new", "--batch", "--model", "m", "--prompts", s(&tmp.path().join("p")),
        "--data-root", s(&fixtures().join("datasets")), "--threads-dir", s(&t), "--base-url", "http://127.0.0.1:9/v1",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let e = text(&o);
    assert!(e.contains("querry.md: not a template") && e.contains("{{one}}") && e.contains("{{two}}"), "{e}");
}

#[test]
fn plain_progress_lines_when_stderr_is_not_a_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let endpoint = Endpoint::start(tmp.path(), &["--no-errors", "--latency-ms", "80"]);
    let mut c = Command::new(env!("CARGO_BIN_EXE_threadkit"));
    c.env("THREADKIT_PROGRESS_SECS", "0.2")
        .env("OPENAI_API_KEY", "k")
        .env("THREADKIT_CACHE_DIR", tmp.path().join("cache"))
        .args(["generate", "new", "--batch", "--count", "3", "--model", "m", "--structured", "json_object", "--format", "json"])
        .args(["--data-root", s(&fixtures().join("datasets")), "--threads-dir", s(&tmp.path().join("threads"))])
        .args(["--base-url", &endpoint.url])
        .stdin(Stdio::null());
    let o = c.output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.lines().any(|l| l.contains("/3 threads") && l.contains("/s")), "{err}");
    let summary: Value = serde_json::from_slice(&o.stdout).expect("--format json prints one document");
    assert_eq!(summary["summary"]["finished"], 3);
    for t in summary["threads"].as_array().unwrap() {
        assert!(Path::new(t["path"].as_str().unwrap()).is_file());
    }
}
