//! `threadkit quality` as a user runs it: the planted corpus in `fixtures/quality` (made by
//! `bench/quality_eval/make_planted.py`, which perturbs threads built from the real tools on the
//! real BasicMotions recordings, independently of the detectors), bad input, and export's gate.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{fixtures, threadkit};
use serde_json::{json, Value};

fn quality_json(args: &[&str]) -> (Value, i32) {
    let mut all = vec!["quality", "--format", "json"];
    all.extend_from_slice(args);
    let out = threadkit(&all);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let report = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("not one JSON document ({e}):\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr)));
    (report, out.status.code().unwrap())
}

/// Rule names found per thread id.
fn found(report: &Value) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in report["files"].as_array().unwrap() {
        let id = std::path::Path::new(f["path"].as_str().unwrap()).file_stem().unwrap().to_string_lossy().to_string();
        out.entry(id)
            .or_default()
            .extend(f["diagnostics"].as_array().unwrap().iter().map(|d| d["name"].as_str().unwrap().to_string()));
    }
    out
}

#[test]
fn every_rule_finds_its_planted_defects_and_leaves_clean_threads_alone() {
    let labels = planted();
    let (report, code) = quality_json(&[
        "fixtures/quality/train",
        "--against",
        "fixtures/quality/eval",
        "--data-root",
        "fixtures/datasets",
    ]);
    assert_eq!(code, 1, "planted defects are errors");
    let found = found(&report);
    let rules = [
        "number-not-grounded",
        "answer-contradicts-tools",
        "answer-not-in-labels",
        "label-in-question",
        "repeated-call",
        "tool-error-ignored",
        "reasoning-degenerate",
        "near-duplicate",
        "eval-overlap",
        "answer-wrong",
        "garbled-text",
    ];
    let mut table = String::new();
    for rule in rules {
        let planted: BTreeSet<&String> =
            labels.iter().filter(|(_, p)| p.iter().any(|r| r == rule)).map(|(t, _)| t).collect();
        let flagged: BTreeSet<&String> = found.iter().filter(|(_, n)| n.contains(rule)).map(|(t, _)| t).collect();
        assert!(!planted.is_empty(), "the corpus plants no {rule}");
        let tp = planted.intersection(&flagged).count() as f64;
        let (precision, recall) = (tp / flagged.len().max(1) as f64, tp / planted.len() as f64);
        table.push_str(&format!(
            "{rule:<26} planted {:>3} flagged {:>3} precision {precision:.2} recall {recall:.2}\n",
            planted.len(),
            flagged.len()
        ));
        assert!(precision >= 0.9 && recall >= 0.9, "{rule}: precision {precision:.2}, recall {recall:.2}\n{table}");
    }
    let clean: Vec<&String> = labels.iter().filter(|(_, p)| p.is_empty()).map(|(t, _)| t).collect();
    let flagged_clean = clean.iter().filter(|t| found.get(**t).is_some_and(|n| !n.is_empty())).count();
    assert!(clean.len() > 50);
    assert!(
        flagged_clean as f64 <= 0.02 * clean.len() as f64,
        "{flagged_clean} of {} clean threads flagged",
        clean.len()
    );
}

#[test]
fn findings_have_validates_report_shape_and_exact_spans() {
    let (report, _) = quality_json(&[
        "fixtures/quality/train/basic_motions_test_0002_v4_0104.json",
        "--data-root",
        "fixtures/datasets",
    ]);
    let d = &report["files"][0]["diagnostics"][0];
    assert_eq!(d["code"], "TKQ01");
    assert_eq!(d["name"], "number-not-grounded");
    assert_eq!(d["severity"], "error");
    let text = std::fs::read_to_string(fixtures().join("quality/train/basic_motions_test_0002_v4_0104.json")).unwrap();
    let line = text.lines().nth(d["line"].as_u64().unwrap() as usize - 1).unwrap();
    let at: String = line.chars().skip(d["column"].as_u64().unwrap() as usize - 1).take(6).collect();
    assert_eq!(at, "55.5 s", "line and column point at the number itself");
    assert!(report["summary"]["by_rule"]["TKQ01"].as_u64() == Some(1));
}

#[test]
fn broken_threads_get_validates_errors_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a_truncated.json"), "{\"id\": \"a\", \"messages\": [").unwrap();
    std::fs::write(dir.path().join("b_empty.json"), "").unwrap();
    std::fs::write(
        dir.path().join("c_schema.json"),
        json!({"id": "c_schema", "messages": [{"role": "robot"}]}).to_string(),
    )
    .unwrap();
    std::fs::copy(
        fixtures().join("quality/train/basic_motions_test_0002_v4_0104.json"),
        dir.path().join("basic_motions_test_0002_v4_0104.json"),
    )
    .unwrap();
    let (report, code) = quality_json(&[dir.path().to_str().unwrap()]);
    assert_eq!(code, 1);
    let by_file = found(&report);
    assert!(by_file["a_truncated"].contains("invalid-json"));
    assert!(by_file["b_empty"].contains("empty-file"));
    assert!(!by_file["c_schema"].is_empty() && by_file["c_schema"].iter().all(|n| !n.starts_with("number")));
    assert!(
        by_file["basic_motions_test_0002_v4_0104"].contains("number-not-grounded"),
        "the run went on past the broken files"
    );
}

#[test]
fn nothing_to_check_and_unknown_rules_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = threadkit(&["quality", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing was checked"));
    let out = threadkit(&["quality", "fixtures/quality/train", "--select", "TK201"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("names no quality rule"));
}

#[test]
fn select_and_ignore_choose_rules() {
    let args = ["fixtures/quality/train", "--data-root", "fixtures/datasets"];
    let (only, _) = quality_json(&[&args[..], &["--select", "repeated-call"]].concat());
    let names: BTreeSet<String> = found(&only).into_values().flatten().collect();
    assert_eq!(names, BTreeSet::from(["repeated-call".to_string()]));
    let (without, _) = quality_json(&[&args[..], &["--ignore", "TKQ05,answer-wrong"]].concat());
    let names: BTreeSet<String> = found(&without).into_values().flatten().collect();
    assert!(
        !names.contains("repeated-call") && !names.contains("answer-wrong") && names.contains("number-not-grounded")
    );
}

#[test]
fn a_file_named_with_its_folder_is_not_its_own_duplicate() {
    let file = "fixtures/quality/train/basic_motions_test_0001_v4_0128.json";
    let (report, code) =
        quality_json(&["fixtures/quality/train", file, "fixtures/quality/train", "--select", "near-duplicate"]);
    let copies = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["path"].as_str().unwrap().ends_with("0001_v4_0128.json"))
        .count();
    assert_eq!(copies, 1);
    assert!(!found(&report)["basic_motions_test_0001_v4_0128"].contains("near-duplicate"));
    assert_eq!(code, 1, "the planted near-duplicates are still found");
}

/// A thread with 10,000 steps and one with a 30 MB tool result finish in linear time.
#[test]
fn huge_threads_finish_quickly() {
    let dir = tempfile::tempdir().unwrap();
    let user = json!({"role": "user", "content": "Dataset Information:\n{}\n\nUser Query: What is it?"});
    let mut messages = vec![user.clone()];
    for i in 0..10_000 {
        messages.push(json!({"role": "assistant", "content": format!("Step {i}: the value {}.5 looks high.", i % 97), "tool_calls": [{"id": format!("c{i}"), "type": "function", "function": {"name": "compute_features", "arguments": format!("{{\"window\": {i}}}")}}]}));
        messages.push(json!({"role": "tool", "tool_call_id": format!("c{i}"), "name": "compute_features", "content": format!("{{\"mean\": {}.5}}", i % 89)}));
    }
    messages.push(json!({"role": "assistant", "content": "Final Answer: walking"}));
    let long = json!({"id": "long", "metadata": {"status": "active", "user_query": "What is it?", "num_turns": 20001, "num_tool_calls": 10000, "num_responds": 1}, "messages": messages});
    std::fs::write(dir.path().join("long.json"), long.to_string()).unwrap();
    let big: String = (0..3_000_000)
        .map(|i| format!("{}.{} ", i % 1000, i % 7))
        .collect::<String>()
        .chars()
        .take(30_000_000)
        .collect();
    let wide = json!({"id": "wide", "metadata": {"status": "active", "user_query": "q", "num_turns": 2, "num_tool_calls": 1, "num_responds": 0}, "messages": [
        json!({"role": "user", "content": "Dataset Information:\n{}\n\nUser Query: q"}),
        {"role": "assistant", "content": "I compute.", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "compute_features", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c", "name": "compute_features", "content": big},
    ]});
    std::fs::write(dir.path().join("wide.json"), wide.to_string()).unwrap();
    let started = std::time::Instant::now();
    let out = threadkit(&["quality", dir.path().to_str().unwrap(), "--format", "json", "--max-file-size", "64M"]);
    let took = started.elapsed();
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", String::from_utf8_lossy(&out.stderr));
    // Linear work is well under a few seconds even in a debug build; a quadratic pass is minutes.
    assert!(took.as_secs() < 60, "took {took:?}");
}

/// What `make_planted.py` planted in `fixtures/quality`, per thread id.
fn planted() -> BTreeMap<String, Vec<String>> {
    serde_json::from_str(&std::fs::read_to_string(fixtures().join("quality/labels.json")).unwrap()).unwrap()
}

/// `threadkit export INPUT --profile P --out OUT …` must succeed; its export.json.
fn export_manifest(input: &str, profile: &str, out: &std::path::Path, extra: &[&str]) -> Value {
    let mut args = vec!["export", input, "--profile", profile, "--out", out.to_str().unwrap(), "-q"];
    args.extend_from_slice(extra);
    let o = threadkit(&args);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_str(&std::fs::read_to_string(out.join("export.json")).unwrap()).unwrap()
}

#[test]
fn export_leaves_flagged_threads_out_and_says_why() {
    let out_dir = tempfile::tempdir().unwrap();
    let manifest = export_manifest("fixtures/quality/train", "trl", &out_dir.path().join("trl"), &["--data-root", "fixtures/datasets"]);
    let left_out = manifest["quality"]["left_out"].as_array().unwrap();
    let defective = planted().values().filter(|p| p.iter().any(|r| r != "answer-wrong" && r != "eval-overlap")).count();
    assert!(left_out.len() >= defective * 9 / 10, "{} left out of {defective} defective", left_out.len());
    assert!(left_out.iter().any(|l| l["reason"] == "near_duplicate"));
    assert!(left_out.iter().all(|l| !l["detail"].as_str().unwrap().is_empty()));
    let exported = manifest["counts"]["exported"].as_u64().unwrap() as usize;
    // --quality warn keeps them and counts the findings instead.
    let warn = export_manifest(
        "fixtures/quality/train",
        "trl",
        &out_dir.path().join("warn"),
        &["--quality", "warn", "--data-root", "fixtures/datasets"],
    );
    assert!(warn["counts"]["exported"].as_u64().unwrap() as usize > exported);
    assert!(warn["quality"]["flagged_exported_by_rule"]["TKQ01"].as_u64().unwrap() > 0);
}

/// An eval set given as a training export (no metadata: no dataset or session to compare) is
/// still matched by recording, through the recording-specific tool results it holds.
#[test]
fn an_eval_export_without_metadata_is_matched_by_its_tool_results() {
    let tmp = tempfile::tempdir().unwrap();
    let export = tmp.path().join("eval_export");
    export_manifest("fixtures/quality/eval", "openai", &export, &["--quality", "off", "--allow-few-examples"]);
    let against = export.join("train.jsonl");
    let (report, _) =
        quality_json(&["fixtures/quality/train", "--against", against.to_str().unwrap(), "--select", "eval-overlap"]);
    let flagged: BTreeSet<String> =
        found(&report).into_iter().filter(|(_, n)| n.contains("eval-overlap")).map(|(t, _)| t).collect();
    let planted: BTreeSet<String> =
        planted().into_iter().filter(|(_, p)| p.iter().any(|r| r == "eval-overlap")).map(|(t, _)| t).collect();
    assert_eq!(flagged, planted);
}
