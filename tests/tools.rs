//! The analysis tools on the real BasicMotions recordings: deterministic artifact ids,
//! clear errors for hostile arguments, the classifier's leave-one-out accuracy, and
//! `verify` replaying a thread's calls.
#![allow(clippy::print_stderr, reason = "the accuracy is reported for the closing note")]

mod common;
use common::*;

use serde_json::{json, Value};
use threadkit::data_root::DataRoot;
use threadkit::tools::{self, artifacts::Workspace};

fn root() -> DataRoot {
    DataRoot::new(fixtures().join("datasets"))
}

fn run_cli(args: &[&str]) -> (Value, i32) {
    let mut all = vec!["tools", "run"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--data-root", "fixtures/datasets"]);
    let out = threadkit(&all);
    (serde_json::from_slice(&out.stdout).unwrap_or(Value::Null), out.status.code().unwrap())
}

#[test]
fn artifact_ids_are_the_same_in_every_process() {
    let args = r#"{"channel_names": ["acc_x", "acc_y"]}"#;
    let (a, code) = run_cli(&["select_channels", "--args", args, "--session", "train_0003"]);
    assert_eq!(code, 0, "{a}");
    let (b, _) = run_cli(&["select_channels", "--args", args, "--session", "train_0003"]);
    assert_eq!(a["artifact_id"], b["artifact_id"]);
    let mut ws = Workspace::open(&root(), "basic_motions", "train_0003").unwrap();
    let c = tools::run(&mut ws, "select_channels", &json!({"channel_names": ["acc_x", "acc_y"]}));
    assert_eq!(a["artifact_id"], c["artifact_id"]);
    assert_eq!(c["parent_id"].as_str(), ws.session_artifact_id());
    // Argument order does not change the id; different arguments do.
    let d = tools::run(&mut ws, "filter_by_time", &json!({"end_time_sec": 5.0, "start_time_sec": 1.0}));
    let e = tools::run(
        &mut ws,
        "filter_by_time",
        &json!({"start_time_sec": 1.0, "end_time_sec": 5.0, "artifact_id": d["parent_id"]}),
    );
    assert_eq!(d["artifact_id"], e["artifact_id"]);
    assert_eq!(d["samples"], 41);
}

#[test]
fn hostile_arguments_get_clear_error_results() {
    let cases: &[(&str, &str, &str)] = &[
        ("select_channels", "{}", "channel_names"),
        ("select_channels", r#"{"channel_names": []}"#, "invalid arguments"),
        ("select_channels", r#"{"channel_names": ["nope"]}"#, "unknown channels"),
        (
            "select_channels",
            r#"{"channel_names": ["acc_x"], "artifact_id": "ts_0123456789ab"}"#,
            "the artifacts of this thread are",
        ),
        ("select_channels", r#"{"channel_names": ["acc_x"], "artifact_id": "../../etc"}"#, "invalid arguments"),
        ("filter_by_time", r#"{"start_time_sec": 8, "end_time_sec": 3}"#, "inverted"),
        ("filter_by_time", r#"{"start_time_sec": 50, "end_time_sec": 60}"#, "outside the recording"),
        ("filter_by_time", r#"{"start_time_sec": -1, "end_time_sec": 3}"#, "invalid arguments"),
        ("filter_by_time", r#"{"start_time_sec": "a", "end_time_sec": 3}"#, "invalid arguments"),
        ("motion_tokenizer", r#"{"alphabet_size": 99}"#, "invalid arguments"),
        ("compute_features", r#"{"extra": 1}"#, "invalid arguments"),
        ("show_session_stats", r#"{"dataset_name": "uci_har"}"#, "this thread is about dataset"),
    ];
    // A misspelled tool is a usage error with a suggestion, before any data is read.
    let out = threadkit(&["tools", "run", "compute_feature", "--data-root", "fixtures/datasets"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown tool compute_feature (did you mean compute_features?)"), "{err}");
    for (tool, args, needle) in cases {
        let (result, code) = run_cli(&[tool, "--args", args, "--session", "train_0001"]);
        assert_eq!(code, 1, "{tool} {args}: {result}");
        assert!(result["error"].as_str().unwrap_or("").contains(needle), "{tool} {args}: {result}");
    }
    for (flag, value) in [
        ("--session", "../train_0001"),
        ("--session", "/etc/passwd"),
        ("--session", "nope"),
    ] {
        let out = threadkit(&["tools", "run", "compute_features", "--data-root", "fixtures/datasets", flag, value]);
        let result: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert!(result["error"].is_string(), "{flag} {value}: {result}");
    }
    // A dataset name that is not one of the root's is a usage error, before any path is built.
    let out = threadkit(&["tools", "run", "compute_features", "--data-root", "fixtures/datasets", "--dataset", "../datasets"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown dataset ../datasets"));
}

#[test]
fn dataset_tools_are_exact() {
    let (stats, _) = run_cli(&["show_session_stats"]);
    assert_eq!(stats["total_sessions"], 80);
    assert_eq!(stats["duration_sec"]["median"], 9.9);
    assert!(stats.get("subjects").is_none(), "BasicMotions ids do not encode subjects");
    let (channels, _) = run_cli(&["show_channel_stats"]);
    assert_eq!(channels["samples_per_session"], json!({"min": 100, "max": 100}));
    let (tokens, _) = run_cli(&[
        "motion_tokenizer",
        "--args",
        r#"{"word_length": 8, "alphabet_size": 4}"#,
        "--session",
        "train_0000",
    ]);
    assert_eq!(tokens["words"]["acc_x"].as_str().unwrap().len(), 8);
    assert!(tokens["artifact_id"].as_str().unwrap().starts_with("tok_"));
}

/// Leave-one-out accuracy of `classify_activity` over all 80 BasicMotions sessions.
#[test]
fn classifier_leave_one_out_accuracy_on_basic_motions() {
    let dir = fixtures().join("datasets/basic_motions");
    let labels: std::collections::BTreeMap<String, Vec<String>> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("labels.json")).unwrap()).unwrap();
    let channels: Vec<String> =
        ["acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z"].iter().map(|s| s.to_string()).collect();
    let tmp = tempfile::tempdir().unwrap();
    std::env::set_var("THREADKIT_CACHE_DIR", tmp.path());
    let idx = tools::classify::index(&dir, &labels, &channels).unwrap();
    assert_eq!(idx.entries.len(), 80);
    let correct = idx
        .entries
        .iter()
        .filter(|e| {
            let p = tools::classify::classify(&idx, &e.vector, &e.session, true, 5).unwrap();
            assert!(p.neighbours.iter().all(|n| n.session != e.session), "never its own session");
            p.top[0].0 == e.label
        })
        .count();
    let accuracy = correct as f64 / 80.0;
    eprintln!("BasicMotions leave-one-out accuracy (k=5): {correct}/80 = {accuracy:.3}");
    assert!(accuracy >= 0.85, "accuracy {accuracy}");
    // The cache is written and reused.
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);
}

fn build_thread(session: &str) -> Value {
    let mut ws = Workspace::open(&root(), "basic_motions", session).unwrap();
    let id = format!("basic_motions_{session}_v4_0001");
    let calls = [
        ("show_channel_stats", json!({})),
        ("select_channels", json!({"channel_names": ["acc_x", "acc_y", "acc_z"]})),
        ("filter_by_time", json!({"start_time_sec": 2.0, "end_time_sec": 7.0})),
        ("compute_features", json!({})),
        ("classify_activity", json!({"k": 5})),
    ];
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("datasets/basic_motions/manifest.json")).unwrap(),
    )
    .unwrap();
    let query = "What is the wearer doing?";
    let mut messages =
        vec![json!({"role": "user", "content": threadkit::thread::FirstMessage::build(&manifest, query)})];
    for (n, (name, args)) in calls.iter().enumerate() {
        let call_id = format!("call_{id}_turn_{}", n + 1);
        let result = tools::run(&mut ws, name, args);
        assert!(result.get("error").is_none(), "{name}: {result}");
        messages.push(json!({"role": "assistant", "content": format!("Step {}", n + 1), "tool_calls": [{"id": call_id, "type": "function", "function": {"name": name, "arguments": threadkit::pyjson::dumps(args)}}]}));
        messages.push(json!({"role": "tool", "tool_call_id": call_id, "name": name, "content": threadkit::pyjson::dumps(&result)}));
    }
    json!({"id": id, "metadata": {"dataset": "basic_motions", "session": session, "ground_truth": "Walking", "status": "active",
        "num_turns": 10, "num_tool_calls": 5, "num_responds": 0, "user_query": query, "schema_version": "openai_v1",
        "created_at": "2026-01-01T00:00:00+00:00", "last_modified": "2026-01-01T00:01:00+00:00"}, "messages": messages})
}

#[test]
fn verify_replays_recorded_calls_and_reports_tampering() {
    let tmp = tempfile::tempdir().unwrap();
    let thread = build_thread("train_0021");
    let path = tmp.path().join(format!("{}.json", thread["id"].as_str().unwrap()));
    std::fs::write(&path, serde_json::to_string_pretty(&thread).unwrap()).unwrap();
    let (report, code) = json_report(&[path.to_str().unwrap()]);
    assert_eq!(code, 0, "the built thread is a valid thread: {report:#}");

    let verify = |p: &std::path::Path| {
        threadkit(&["verify", p.to_str().unwrap(), "--data-root", "fixtures/datasets", "--format", "json"])
    };
    let out = verify(tmp.path());
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));

    let mut tampered = thread.clone();
    let content = tampered["messages"][8]["content"].as_str().unwrap().replace("\"samples\": 51", "\"samples\": 60");
    assert_ne!(content, tampered["messages"][8]["content"].as_str().unwrap(), "the features result records 51 samples");
    tampered["messages"][8]["content"] = json!(content);
    std::fs::write(&path, serde_json::to_string_pretty(&tampered).unwrap()).unwrap();
    let out = verify(tmp.path());
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let d = &report["files"][0]["diagnostics"][0];
    assert_eq!(d["code"], "TK901");
    assert!(
        d["message"].as_str().unwrap().contains("-  \"samples\": 60,")
            && d["message"].as_str().unwrap().contains("+  \"samples\": 51,"),
        "{d}"
    );
    assert_eq!(d["pointer"], "/messages/8/content");

    let mut elsewhere = thread.clone();
    elsewhere["metadata"]["session"] = json!("train_9999");
    std::fs::write(&path, serde_json::to_string_pretty(&elsewhere).unwrap()).unwrap();
    let report: Value = serde_json::from_slice(&verify(tmp.path()).stdout).unwrap();
    assert_eq!(report["files"][0]["diagnostics"][0]["code"], "TK903");
}

#[test]
fn verify_reads_files_as_validate_does() {
    let tmp = tempfile::tempdir().unwrap();
    let thread = build_thread("train_0021");
    // A JSONL file of two threads (the second tampered) is replayed line by line.
    let mut tampered = thread.clone();
    tampered["id"] = json!("tampered");
    let content = tampered["messages"][8]["content"].as_str().unwrap().replace("\"samples\": 51", "\"samples\": 60");
    tampered["messages"][8]["content"] = json!(content);
    let lines = format!("{}\n\n{}\n", serde_json::to_string(&thread).unwrap(), serde_json::to_string(&tampered).unwrap());
    std::fs::write(tmp.path().join("two.jsonl"), lines).unwrap();
    // Files that cannot be read: the finding and its code are validate's.
    std::fs::write(tmp.path().join("latin1.json"), b"{\"id\": \"caf\xe9\"}").unwrap();
    std::fs::write(tmp.path().join("truncated.json"), "{\"id\": ").unwrap();
    let args = |cmd: &'static str| {
        let mut a = vec![cmd, tmp.path().to_str().unwrap(), "--format", "json"];
        if cmd == "verify" {
            a.extend(["--data-root", "fixtures/datasets"]);
        }
        a
    };
    let verify: Value = serde_json::from_slice(&threadkit(&args("verify")).stdout).unwrap();
    let validate: Value = serde_json::from_slice(&threadkit(&args("validate")).stdout).unwrap();
    let codes = |report: &Value, file: &str, record: Option<u64>| -> Vec<String> {
        report["files"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["path"].as_str().unwrap().ends_with(file) && f["record"].as_u64() == record)
            .flat_map(|f| f["diagnostics"].as_array().unwrap().iter().map(|d| d["code"].as_str().unwrap().to_string()))
            .collect()
    };
    assert_eq!(codes(&verify, "two.jsonl", Some(1)), Vec::<String>::new(), "{verify:#}");
    assert_eq!(codes(&verify, "two.jsonl", Some(3)), vec!["TK901"], "{verify:#}");
    for file in ["latin1.json", "truncated.json"] {
        let v = codes(&verify, file, None);
        assert!(!v.is_empty() && v[0] != "TK001", "{file}: {v:?}");
        assert_eq!(v[0], codes(&validate, file, None)[0], "{file}");
    }
}
