//! Every rule fires on its fixture (`fixtures/threads/rules/<code>-<name>/`) and on
//! nothing in the valid corpus; every fix resolves its finding, re-validates, and is idempotent.

mod common;
use common::*;

/// Rules whose trigger cannot be a committed thread file: `hostile.rs` fires TK001 and
/// TK005, `data_safety.rs` TK012 (a file changed while it is fixed), `dataset.rs` fires the dataset rules (TK8xx) on broken copies of a dataset, the
/// training-file rules (TK7xx) fire in `rules/training.rs` and `export.rs`, verify's (TK9xx) in `tools.rs`,
/// the quality rules (TKQxx) in `quality.rs`, on the planted corpus `fixtures/quality`.
const TESTED_IN_CODE: &[&str] = &["TK001", "TK005", "TK012"];

fn tested_elsewhere(code: &str) -> bool {
    TESTED_IN_CODE.contains(&code) || ["TK7", "TK8", "TK9", "TKQ"].iter().any(|p| code.starts_with(p))
}

fn fixture_dir(code: &str, name: &str) -> std::path::PathBuf {
    fixtures().join("threads/rules").join(format!("{code}-{name}"))
}

#[test]
fn every_rule_has_a_fixture_that_fires_it() {
    let data = fixtures().join("data");
    for rule in threadkit::rules::ALL {
        if tested_elsewhere(rule.code) {
            continue;
        }
        let dir = fixture_dir(rule.code, rule.name);
        assert!(dir.is_dir(), "rule {} has no fixture folder {}", rule.code, dir.display());
        let (report, code) = json_report(&[dir.to_str().unwrap(), "--data-root", data.to_str().unwrap()]);
        let fired = codes(&report);
        assert!(fired.contains(&rule.code.to_string()), "{} did not fire on its fixture; got {fired:?}", rule.code);
        let expected_exit = if rule.severity == threadkit::diagnostic::Severity::Error { 1 } else { 0 };
        assert_eq!(code, expected_exit, "{}: exit code", rule.code);
    }
}

#[test]
fn no_rule_fires_on_the_valid_corpus() {
    let valid = fixtures().join("threads/valid");
    let data = fixtures().join("data");
    let (report, code) = json_report(&[valid.to_str().unwrap(), "--data-root", data.to_str().unwrap()]);
    assert_eq!(code, 0);
    for rule in threadkit::rules::ALL {
        for f in report["files"].as_array().unwrap() {
            let path = f["path"].as_str().unwrap();
            let fired = f["diagnostics"].as_array().unwrap().iter().any(|d| d["code"] == rule.code);
            // The one legacy file is valid but carries its migration hint.
            let allowed = rule.code == "TK008" && f["schema_version"] == "3.0";
            assert!(!fired || allowed, "{} fired on valid fixture {path}", rule.code);
        }
    }
    assert_eq!(report["summary"]["invalid"], 0);
    assert_eq!(report["summary"]["files"], 7, "5 .json threads + 2 JSONL records");
}

#[test]
fn every_fix_resolves_its_finding_and_is_idempotent() {
    // Training-file rules (TK7xx) are fixed in training files: tests/training_files.rs.
    for rule in threadkit::rules::ALL.iter().filter(|r| r.fix.is_some() && !r.code.starts_with("TK7")) {
        let tmp = tempfile::tempdir().unwrap();
        copy_dir(&fixture_dir(rule.code, rule.name), tmp.path());
        let dir = tmp.path().to_str().unwrap();
        let before = snapshot(tmp.path());
        let count = |report: &serde_json::Value| {
            report["files"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|f| f["diagnostics"].as_array().unwrap().clone())
                .filter(|d| d["code"] == rule.code)
                .count()
        };
        let (report, _) = json_report(&[dir]);
        let fired_before = count(&report);

        let dry = threadkit(&["validate", dir, "--fix", "--dry-run", "--color", "never"]);
        assert!(String::from_utf8_lossy(&dry.stdout).contains("(fixed)"), "{}: dry run shows a diff", rule.code);
        assert_eq!(snapshot(tmp.path()), before, "{}: --dry-run wrote nothing", rule.code);

        let fixed = threadkit(&["validate", dir, "--fix"]);
        assert_ne!(fixed.status.code(), Some(2), "{}: {}", rule.code, String::from_utf8_lossy(&fixed.stderr));
        let (report, _) = json_report(&[dir]);
        // Fixture folders may also hold an unfixable case of the same rule (TK205 does).
        assert!(count(&report) < fired_before, "{} fires as often after --fix", rule.code);
        assert!(report["files"].as_array().unwrap().iter().all(|f| f["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["fixable"] == false)));

        let after = snapshot(tmp.path());
        threadkit(&["validate", dir, "--fix"]);
        assert_eq!(snapshot(tmp.path()), after, "{}: a second --fix changed files", rule.code);
        let names: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert!(
            names.iter().all(|n| !n.to_string_lossy().starts_with('.')),
            "{}: temporary files left: {names:?}",
            rule.code
        );
    }
}

fn snapshot(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap())
        })
        .collect();
    v.sort();
    v
}

#[test]
fn json_report_has_the_promised_shape() {
    let (report, code) = json_report(&["fixtures/threads/rules/TK201-tool-call-unanswered"]);
    assert_eq!(code, 1);
    let f = &report["files"][0];
    assert_eq!(f["path"], "fixtures/threads/rules/TK201-tool-call-unanswered/uci_har_train_01_0000_v4_0001.json");
    assert_eq!(f["record"], serde_json::Value::Null);
    assert_eq!(f["schema_version"], "openai_v1");
    assert_eq!(f["valid"], false);
    let d = &f["diagnostics"][0];
    assert_eq!(d["code"], "TK201");
    assert_eq!(d["severity"], "error");
    assert_eq!(d["pointer"], "/messages/3/tool_calls/0/id");
    assert_eq!(d["fixable"], false);
    // line/column point at the id value in the file.
    let text = std::fs::read_to_string(root().join(f["path"].as_str().unwrap())).unwrap();
    let line = text.lines().nth(d["line"].as_u64().unwrap() as usize - 1).unwrap();
    let col = d["column"].as_u64().unwrap() as usize - 1;
    assert!(line[col..].starts_with("\"call_uci_har_train_01_0000_v4_0001_turn_2\""), "{line}");
    assert_eq!(
        report["summary"],
        serde_json::json!({"files": 1, "valid": 0, "invalid": 1, "errors": 1, "warnings": 0, "by_rule": {"TK201": 1}})
    );
}

#[test]
fn jsonl_records_are_numbered_by_line() {
    let (report, _) = json_report(&["fixtures/threads/rules/TK010-duplicate-id/backup.jsonl"]);
    let files = report["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    assert_eq!(files[0]["record"], 1);
    assert_eq!(files[1]["record"], 2);
    assert_eq!(files[0]["valid"], true);
    assert_eq!(files[1]["diagnostics"][0]["code"], "TK010");
    assert_eq!(files[1]["diagnostics"][0]["line"], 2);
}

#[test]
fn deny_warnings_and_ignore() {
    let v3 = "fixtures/threads/rules/TK008-legacy-v3";
    assert_eq!(threadkit(&["validate", v3]).status.code(), Some(0));
    assert_eq!(threadkit(&["validate", v3, "--deny-warnings"]).status.code(), Some(1));
    assert_eq!(threadkit(&["validate", v3, "--deny-warnings", "--ignore", "legacy-v3"]).status.code(), Some(0));
    assert_eq!(threadkit(&["validate", v3, "--ignore", "TK999"]).status.code(), Some(2));
}

/// The JSON files people keep beside threads — threadkit's own reports and manifests, and
/// LLaMA-Factory's list — are each named for what they are, with where to check them, instead of
/// a generic "not a thread" (one finding each, on files threadkit itself wrote). A training file
/// named alone is validated as one (`validate --profile` is implied), so it is not among them.
#[test]
fn files_kept_beside_threads_are_named_for_what_they_are() {
    let tmp = tempfile::tempdir().unwrap();
    let threads = fixtures().join("threads/valid");
    let threads = threads.to_str().unwrap();
    let mut cases: Vec<(std::path::PathBuf, &str)> = Vec::new();
    for (command, expected) in [
        ("validate", "this is a threadkit JSON report (`--format json`), not a thread; the reports of shards"),
        ("quality", "this is a threadkit JSON report (`--format json`)"),
        ("stats", "this is a threadkit stats report (`stats --format json`), not a thread"),
    ] {
        let out = threadkit(&[command, threads, "--format", "json", "--shard", "1/2"]);
        let at = tmp.path().join(format!("{command}.json"));
        std::fs::write(&at, &out.stdout).unwrap();
        cases.push((at, expected));
    }
    let export = tmp.path().join("export");
    let out = threadkit(&["export", threads, "--profile", "llama-factory", "--out", export.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    cases.push((export.join("export.json"), "this is an export's manifest (export.json), not a thread; the training files it lists"));
    cases.push((export.join("dataset_info.json"), "this is LLaMA-Factory's dataset list (dataset_info.json), not a thread"));
    for (at, expected) in &cases {
        let (report, code) = json_report(&[at.to_str().unwrap()]);
        assert_eq!(code, 1, "{}", at.display());
        let messages: Vec<&str> = report["files"][0]["diagnostics"].as_array().unwrap().iter().map(|d| d["message"].as_str().unwrap()).collect();
        assert_eq!(codes(&report)[0], "TK006", "{}", at.display());
        assert!(messages[0].starts_with(expected), "{}: {messages:?}", at.display());
    }
    // In a folder walked for threads, a training file's lines are named as training examples.
    let (report, _) = json_report(&[export.to_str().unwrap()]);
    let train = report["files"].as_array().unwrap().iter().find(|f| f["path"].as_str().unwrap().ends_with("train.jsonl")).expect("train.jsonl walked");
    let message = train["diagnostics"][0]["message"].as_str().unwrap();
    assert!(message.starts_with("this looks like a training example (sharegpt `conversations`), not a thread"), "{message}");
    // `stats` and `report` over such files only count nothing: refused, saying what the files are.
    let (validate_json, stats_json) = (cases[0].0.to_str().unwrap(), cases[2].0.to_str().unwrap());
    let page = tmp.path().join("page.html");
    for args in [vec!["stats", validate_json, stats_json], vec!["report", validate_json, stats_json, "--out", page.to_str().unwrap()]] {
        let o = threadkit(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("none of the 2 files read is a thread (the first, ") && err.contains("threadkit merge"), "{args:?}: {err}");
    }
    assert!(!page.exists(), "no page written");
    // A shard writes its part whatever it holds: the merge needs every part.
    assert_eq!(threadkit(&["stats", validate_json, "--shard", "1/1"]).status.code(), Some(0));
    // The threads they were made from are still threads.
    let (report, code) = json_report(&[threads]);
    assert_eq!((report["summary"]["valid"].as_u64(), code), (Some(7), 0), "{report}");
}
