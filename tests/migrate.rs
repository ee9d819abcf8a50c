//! `threadkit migrate`: snapshots of every legacy case, in-place safety, idempotence,
//! collisions, dry runs, reverse round trips, and a lossless-ness property test.

mod common;
use common::*;

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};
use threadkit::convert::{to_openai, to_v3, Provenance};
use threadkit::version::Version;

const EPOCH: &str = "1767225600"; // 2026-01-01T00:00:00Z

fn migrate(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_threadkit"))
        .arg("migrate")
        .args(args)
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .current_dir(root())
        .output()
        .unwrap()
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map_or_else(|_| vec![], |d| d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect());
    v.sort();
    v
}

#[test]
fn converted_output_of_every_legacy_case_is_snapshotted_and_valid() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let o = migrate(&["fixtures/threads/legacy", "--out", out.to_str().unwrap(), "--data-root", "fixtures/data"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), String::from_utf8_lossy(&o.stderr));
    let names = files(&out);
    assert_eq!(names.len(), 5, "{names:?}");
    for name in &names {
        let text = std::fs::read_to_string(out.join(name)).unwrap();
        insta::assert_snapshot!(name.trim_end_matches(".json"), text);
    }
    // The sources are untouched with --out.
    assert_eq!(files(&fixtures().join("threads/legacy")).len(), 5);
    let (report, code) = json_report(&[out.to_str().unwrap(), "--data-root", "fixtures/data"]);
    assert_eq!(code, 0, "{report:#}");
    // The one warning is inherited: the 2.0 source wrote a time without offset.
    assert_eq!(report["summary"]["warnings"], 1, "{report:#}");
    assert_eq!(report["summary"]["by_rule"], json!({"TK408": 1}));
}

#[test]
fn in_place_moves_originals_to_the_sibling_backup_and_a_second_run_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let threads = tmp.path().join("threads");
    copy_dir(&fixtures().join("threads/legacy"), &threads);
    std::fs::copy(
        fixtures().join("threads/valid/uci_har_train_01_0000_v4_0001.json"),
        threads.join("uci_har_train_01_0000_v4_0001.json"),
    )
    .unwrap();
    let originals: Vec<(String, Vec<u8>)> = files(&threads)
        .into_iter()
        .filter(|n| !n.contains("_v4_"))
        .map(|n| (n.clone(), std::fs::read(threads.join(&n)).unwrap()))
        .collect();

    let o = migrate(&[threads.to_str().unwrap(), "--data-root", "fixtures/data"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).contains("Converted 5, moved 0, skipped 1, failed 0."), "{}", stdout(&o));
    let backup = tmp.path().join("threads_v3_backup");
    for (name, bytes) in &originals {
        assert_eq!(&std::fs::read(backup.join(name)).unwrap(), bytes, "{name} kept byte for byte");
        assert!(!threads.join(name).exists());
    }
    assert!(files(&threads).iter().all(|n| n.contains("_v4_")), "{:?}", files(&threads));
    assert_eq!(files(&threads).len(), 6);

    let before: Vec<_> = files(&threads).iter().map(|n| std::fs::read(threads.join(n)).unwrap()).collect();
    let again = migrate(&[threads.to_str().unwrap(), "--data-root", "fixtures/data"]);
    assert_eq!(again.status.code(), Some(0));
    assert!(stdout(&again).contains("Nothing to migrate"), "{}", stdout(&again));
    let after: Vec<_> = files(&threads).iter().map(|n| std::fs::read(threads.join(n)).unwrap()).collect();
    assert_eq!(before, after);
    // Walking the parent must not re-migrate the backups.
    let parent = migrate(&[tmp.path().to_str().unwrap(), "--data-root", "fixtures/data"]);
    assert!(stdout(&parent).contains("Nothing to migrate"), "{}", stdout(&parent));
}

#[test]
fn missing_manifest_fails_that_thread_only_and_says_what_to_do() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let o = migrate(&["fixtures/threads/legacy", "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let text = stdout(&o);
    assert!(
        text.contains("failed fixtures/threads/legacy/uci_har_train_01_0150_v3_0043.json")
            && text.contains("--data-root")
            && text.contains("manifest"),
        "{text}"
    );
    assert_eq!(files(&out).len(), 3, "the other threads are converted (the v2 one lacks its manifest too)");
}

#[test]
fn backup_only_moves_and_never_overwrites() {
    let tmp = tempfile::tempdir().unwrap();
    let threads = tmp.path().join("threads");
    copy_dir(&fixtures().join("threads/legacy"), &threads);
    let backup = tmp.path().join("threads_v3_backup");
    std::fs::create_dir(&backup).unwrap();
    std::fs::write(backup.join("uci_har_train_01_0051_v3_0042.json"), "{\"different\": true}").unwrap();
    let o = migrate(&[threads.to_str().unwrap(), "--backup-only"]);
    assert_eq!(o.status.code(), Some(1));
    let text = stdout(&o);
    assert!(text.contains("already exists in the backup folder"), "{text}");
    assert_eq!(files(&threads), vec!["uci_har_train_01_0051_v3_0042.json"]);
    assert_eq!(files(&backup).len(), 5);
    assert_eq!(
        std::fs::read_to_string(backup.join("uci_har_train_01_0051_v3_0042.json")).unwrap(),
        "{\"different\": true}"
    );
}

#[test]
fn dry_run_changes_nothing_and_shows_conflicting_targets_as_diffs() {
    let tmp = tempfile::tempdir().unwrap();
    let threads = tmp.path().join("threads");
    copy_dir(&fixtures().join("threads/legacy"), &threads);
    std::fs::write(threads.join("uci_har_train_01_0051_v4_0042.json"), "{\n  \"id\": \"someone else\"\n}\n").unwrap();
    let before = files(&threads);
    let o = migrate(&[threads.to_str().unwrap(), "--dry-run", "--data-root", "fixtures/data"]);
    let text = stdout(&o);
    assert!(text.contains("would convert"), "{text}");
    assert!(
        text.contains("already exists with other content") && text.lines().any(|l| l == "-  \"id\": \"someone else\""),
        "{text}"
    );
    assert_eq!(files(&threads), before);
    assert!(!tmp.path().join("threads_v3_backup").exists());
}

#[test]
fn json_report_lists_every_thread_with_its_action() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let o = migrate(&[
        "fixtures/threads/legacy",
        "fixtures/threads/valid",
        "--out",
        out.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let report: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let threads = report["threads"].as_array().unwrap();
    assert_eq!(threads.len(), 11);
    assert!(threads
        .iter()
        .all(|t| ["converted", "skipped", "failed"].contains(&t["action"].as_str().unwrap()) && t["path"].is_string()));
    // valid/ holds a copy of one legacy thread: both would be written to the same target.
    assert_eq!(report["summary"], json!({"converted": 3, "moved": 0, "skipped": 5, "failed": 3, "dry_run": false}));
    assert!(threads.iter().any(|t| t["reason"].as_str().unwrap().contains("is also the target of")));
}

#[test]
fn reverse_gives_back_the_legacy_turns() {
    let tmp = tempfile::tempdir().unwrap();
    let (v4, v3) = (tmp.path().join("v4"), tmp.path().join("v3"));
    migrate(&["fixtures/threads/legacy", "--out", v4.to_str().unwrap(), "--data-root", "fixtures/data"]);
    let o = migrate(&[v4.to_str().unwrap(), "--reverse", "--out", v3.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    for name in files(&fixtures().join("threads/legacy")).iter().filter(|n| n.contains("_v3_")) {
        let original: Value =
            serde_json::from_str(&std::fs::read_to_string(fixtures().join("threads/legacy").join(name)).unwrap())
                .unwrap();
        let back: Value = serde_json::from_str(&std::fs::read_to_string(v3.join(name)).unwrap()).unwrap();
        assert_eq!(original["conversation"], back["conversation"], "{name}");
        for key in [
            "thread_id",
            "status",
            "dataset_name",
            "session_id",
            "ground_truth_label",
            "final_answer",
            "explanation",
            "confidence",
            "is_correct",
            "initial_context",
            "metadata",
        ] {
            assert_eq!(original[key], back[key], "{name}: {key}");
        }
    }
}

// ---- property test: generated legacy threads lose nothing ------------------------------------

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn text(&mut self) -> String {
        const PIECES: &[&str] =
            &["walk", "Gyro", " ", "ä", "ß", "胸", "\"q\"", "\\", "\n", "Final", "{", "}", "😀", "42", "x_y", "\t"];
        (0..1 + self.below(6)).map(|_| PIECES[self.below(PIECES.len() as u64) as usize]).collect::<String>()
            + &self.below(1000).to_string()
    }
    fn value(&mut self, depth: u32) -> Value {
        match if depth > 2 { self.below(4) } else { self.below(7) } {
            0 => json!(self.text()),
            1 => json!(self.below(10_000) as f64 / 7.0),
            2 => json!(self.below(100)),
            3 => json!(self.below(2) == 0),
            4 => Value::Array((0..self.below(4)).map(|_| self.value(depth + 1)).collect()),
            _ => Value::Object((0..self.below(4)).map(|_| (self.text(), self.value(depth + 1))).collect()),
        }
    }
}

fn legacy(rng: &mut Rng, n: u64) -> Value {
    let mut conversation = Vec::new();
    for i in 0..rng.below(6) {
        let mut turn = if rng.below(3) > 0 {
            let result = if rng.below(4) == 0 { json!(rng.text()) } else { rng.value(0) };
            json!({"turn": i + 1, "action": "use_tool", "reasoning": rng.text(),
                   "tool_call": {"tool_name": format!("tool_{}", rng.below(5)), "parameters": {"k": rng.value(1)}}, "tool_result": result})
        } else {
            json!({"turn": i + 1, "action": "respond", "reasoning": rng.text(), "response": rng.text()})
        };
        if rng.below(4) == 0 {
            turn[rng.text()] = rng.value(1);
        }
        conversation.push(turn);
    }
    let status = ["active", "finished", "max_turns_reached"][rng.below(3) as usize];
    let truth = rng.text();
    let answer = if rng.below(2) == 0 { truth.clone() } else { rng.text() };
    let mut doc = json!({
        "thread_id": format!("ds_s{n}_v3_{n:04}"), "schema_version": "3.0", "status": status, "dataset_name": "ds",
        "session_id": format!("s{n}"), "ground_truth_label": truth, "created_at": "2025-10-01T09:00:00+00:00",
        "initial_context": {"user_query": rng.text()},
        "conversation": conversation, "metadata": {"num_turns": 0, "num_tool_calls": 0},
    });
    if rng.below(2) == 0 {
        doc["initial_context"]["manifest"] = json!({"dataset_name": rng.text(), "description": rng.text(), "channels": [{"name": "a", "sampling_rate_hz": 50.0}]});
    }
    if status == "finished" {
        doc["final_answer"] = json!(answer);
        doc["explanation"] = json!(rng.text());
        doc["confidence"] = json!("medium");
        doc["is_correct"] = json!(threadkit::thread::same_label(&answer, doc["ground_truth_label"].as_str().unwrap()));
    }
    for _ in 0..rng.below(3) {
        doc[format!("extra_{}", rng.text())] = rng.value(0);
    }
    if rng.below(3) == 0 {
        doc["generation_metadata"] = json!({"model": rng.text(), "step_temperature": 0.7});
    }
    doc
}

/// Keys whose names the formats define (and the conversion renames); every other key must survive.
const FORMAT_KEYS: &[&str] = &[
    "thread_id",
    "schema_version",
    "status",
    "dataset_name",
    "session_id",
    "ground_truth_label",
    "created_at",
    "initial_context",
    "user_query",
    "manifest",
    "conversation",
    "metadata",
    "num_turns",
    "num_tool_calls",
    "final_answer",
    "explanation",
    "confidence",
    "is_correct",
    "turn",
    "action",
    "reasoning",
    "tool_call",
    "tool_name",
    "parameters",
    "tool_result",
    "response",
    "generation_metadata",
];

/// Every string reachable in a document, reading JSON held in strings and the manifest in the first message.
fn deep_strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => {
            out.push(s.clone());
            if let Ok(inner @ (Value::Object(_) | Value::Array(_) | Value::String(_))) =
                serde_json::from_str::<Value>(s)
            {
                deep_strings(&inner, out);
            }
            if let Some(layout) = threadkit::thread::FirstMessage::parse(s) {
                out.push(layout.query.to_string());
                if let Ok(m) = layout.manifest() {
                    deep_strings(&m, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| deep_strings(x, out)),
        Value::Object(o) => o.iter().for_each(|(k, x)| {
            if !FORMAT_KEYS.contains(&k.as_str()) {
                out.push(k.clone());
            }
            deep_strings(x, out);
        }),
        _ => {}
    }
}

#[test]
fn generated_legacy_threads_lose_nothing_and_round_trip() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let provenance =
        Provenance { migrated_at: "2026-01-01T00:00:00+00:00".into(), fallback_created_at: None, non_finite: Vec::new() };
    let manifest =
        json!({"dataset_name": "DS", "description": "fallback", "channels": [{"name": "a", "sampling_rate_hz": 50.0}]});
    for n in 0..500 {
        let doc = legacy(&mut rng, n);
        let new = to_openai(&doc, Version::V3, &provenance, &|_| Some(manifest.clone()))
            .unwrap_or_else(|e| panic!("{e}: {doc:#}"));
        let checked = threadkit::check::check(&new, new["id"].as_str(), Default::default());
        let errors: Vec<_> = checked
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(|d| format!("{} {}", d.code(), d.message))
            .collect();
        assert!(errors.is_empty(), "converted thread invalid: {errors:?}\n{new:#}");

        let mut old_strings = Vec::new();
        deep_strings(&doc, &mut old_strings);
        let mut new_strings = Vec::new();
        deep_strings(&new, &mut new_strings);
        // Format constants (actions, versions, statuses) are re-expressed, not carried.
        for s in old_strings.into_iter().filter(|s| !["use_tool", "respond", "3.0"].contains(&s.as_str())) {
            assert!(new_strings.iter().any(|n| n.contains(&s)), "string {s:?} was lost\n{doc:#}\n{new:#}");
        }
        let back = to_v3(&new).unwrap();
        assert_eq!(back["conversation"], doc["conversation"], "turns differ after migrate → reverse");
        for (k, v) in doc.as_object().unwrap() {
            if k != "metadata" {
                assert_eq!(&back[k], v, "top-level {k} differs after the round trip");
            }
        }
    }
}

// ---- crash safety -------------------------------------------------------------------------------

#[cfg(unix)]
#[test]
fn a_migration_killed_at_random_points_finishes_exactly_once() {
    let tmp = tempfile::tempdir().unwrap();
    let threads = tmp.path().join("threads");
    std::fs::create_dir(&threads).unwrap();
    let base: Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("threads/legacy/uci_har_train_01_0051_v3_0042.json")).unwrap(),
    )
    .unwrap();
    const N: usize = 5000;
    let mut originals = std::collections::HashMap::new();
    for i in 0..N {
        let mut t = base.clone();
        let id = format!("uci_har_train_01_0051_v3_{i:05}");
        t["thread_id"] = json!(id);
        let text = serde_json::to_string_pretty(&t).unwrap();
        std::fs::write(threads.join(format!("{id}.json")), &text).unwrap();
        originals.insert(format!("{id}.json"), text);
    }
    let mut rng = Rng(0xdead_beef_cafe_f00d);
    let converted = || files(&threads).iter().filter(|n| n.contains("_v4_")).count();
    let mut partial_kills = 0;
    // Kills start early, since a fast machine migrates the 5000 files in half a second; on a
    // slow or loaded one a run needs longer before its first batch lands: wait twice as long
    // each time a kill came before any progress.
    let mut patience = 30;
    for _ in 0..16 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_threadkit"))
            .args(["migrate", threads.to_str().unwrap(), "--format", "json"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(patience + rng.below(2 * patience)));
        let finished = child.try_wait().unwrap().is_some();
        let _ = child.kill();
        let _ = child.wait();
        let done = converted();
        if finished || done == N {
            break;
        }
        partial_kills += usize::from(done > 0);
        if done == 0 {
            patience *= 2;
        }
    }
    assert!(partial_kills >= 1, "no kill landed in the middle of the migration; the test proved nothing");
    let o = migrate(&[threads.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));

    let live = files(&threads);
    let backup = files(&tmp.path().join("threads_v3_backup"));
    assert_eq!(live.len(), N, "every thread converted exactly once");
    assert!(live.iter().all(|n| n.contains("_v4_") && !n.starts_with('.')), "no legacy or temporary files left");
    assert_eq!(backup.len(), N);
    for name in &backup {
        assert_eq!(
            &std::fs::read_to_string(tmp.path().join("threads_v3_backup").join(name)).unwrap(),
            &originals[name]
        );
    }
    let (report, code) = json_report(&[threads.to_str().unwrap()]);
    assert_eq!((code, report["summary"]["valid"].as_u64()), (0, Some(N as u64)));
}
