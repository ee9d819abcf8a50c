//! Legacy threads exactly as the original Python generator wrote them
//! (`fixtures/threads/legacy_python/`, written by `json.dump(thread, f, indent=2)`): they
//! validate, migrate as the original conversion (`export_training_data.py`) builds its
//! messages, reverse to the same value, and verify (placeholder tools reported, not replayed).

mod common;

use std::path::Path;

use common::{fixtures, threadkit};
use serde_json::{json, Value};
use threadkit::convert::{self, Provenance};
use threadkit::source;
use threadkit::version::Version;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn python_set() -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = std::fs::read_dir(fixtures().join("threads/legacy_python"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| (p.file_name().unwrap().to_str().unwrap().to_string(), std::fs::read_to_string(p).unwrap()))
        .collect();
    v.sort();
    v
}

/// A parsed legacy file: its value (non-finite numbers as null) and where its tokens were.
fn read(text: &str) -> (Value, Vec<(String, &'static str)>) {
    let p = source::parse_full(text).unwrap();
    (p.value, p.non_finite.into_iter().map(|n| (n.pointer, n.token)).collect())
}

#[test]
fn python_written_threads_validate_with_their_tokens_located() {
    let dir = fixtures().join("threads/legacy_python");
    let (report, code) = common::json_report(&[s(&dir), "--data-root", s(&fixtures().join("datasets"))]);
    assert_eq!(code, 0, "{report}");
    let mut located = 0;
    for f in report["files"].as_array().unwrap() {
        let text = std::fs::read_to_string(f["path"].as_str().unwrap()).unwrap();
        for d in f["diagnostics"].as_array().unwrap().iter().filter(|d| d["code"] == "TK014") {
            assert_eq!(d["severity"], "warning", "legacy files: a warning");
            let line = text.lines().nth(d["line"].as_u64().unwrap() as usize - 1).unwrap();
            let at: String = line.chars().skip(d["column"].as_u64().unwrap() as usize - 1).collect();
            assert!(["NaN", "Infinity", "-Infinity"].iter().any(|t| at.starts_with(t)), "{at}");
            located += 1;
        }
    }
    assert_eq!(located, 5);
}

#[test]
fn migration_matches_the_original_conversion_and_reverses_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let (v4, v3) = (tmp.path().join("v4"), tmp.path().join("v3"));
    let data = fixtures().join("datasets");
    let src = fixtures().join("threads/legacy_python");
    let o = threadkit(&["migrate", s(&src), "--out", s(&v4), "--data-root", s(&data)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    assert!(String::from_utf8_lossy(&o.stdout).contains("Converted 4, moved 0, skipped 0, failed 0"));
    let (report, code) = common::json_report(&[s(&v4), "--data-root", s(&data)]);
    assert_eq!(code, 0, "{report}");
    for (name, text) in python_set() {
        let (original, tokens) = read(&text);
        let new_name = name.replace("_v3_", "_v4_");
        let out = std::fs::read_to_string(v4.join(&new_name)).unwrap();
        // Strict JSON only, inside tool-result strings too.
        let t: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{new_name} is not strict JSON: {e}"));
        for m in t["messages"].as_array().unwrap() {
            if let Some(c) = m["content"].as_str().filter(|_| m["role"] == "tool") {
                serde_json::from_str::<Value>(c).unwrap_or_else(|e| panic!("{new_name}: tool content {c}: {e}"));
            }
        }
        // The last message as the original builds it: "{explanation}\n\nFinal Answer: {answer}", both stripped,
        // and no literal "None" for a missing explanation.
        if original["status"] == "finished" {
            let answer = original["final_answer"].as_str().unwrap().trim();
            let want = match original["explanation"].as_str().map(str::trim) {
                Some(e) if !e.is_empty() => format!("{e}\n\nFinal Answer: {answer}"),
                _ => format!("Final Answer: {answer}"),
            };
            let last = t["messages"].as_array().unwrap().last().unwrap();
            assert_eq!(last["content"], want.as_str(), "{new_name}");
            assert!(!want.contains("None"));
        }
        // Every tool call and result of the original, in order; the final-answer turn is no message.
        let calls: Vec<&str> = t["messages"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|m| m["tool_calls"].as_array().into_iter().flatten())
            .map(|c| c["function"]["name"].as_str().unwrap())
            .collect();
        let want: Vec<&str> = original["conversation"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["action"] == "use_tool")
            .map(|x| x["tool_call"]["tool_name"].as_str().unwrap())
            .collect();
        assert_eq!(calls, want, "{new_name}");
        // What v4 readers look for.
        assert_eq!(t["metadata"]["last_modified"], "2025-08-02T10:17:41.654321", "{new_name}");
        let kept: Vec<(String, String)> = t["metadata"]["legacy_extras"]["non_finite"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|n| (n["pointer"].as_str().unwrap().to_string(), n["token"].as_str().unwrap().to_string()))
            .collect();
        let tokens_owned: Vec<(String, String)> = tokens.iter().map(|(p, t)| (p.clone(), t.to_string())).collect();
        assert_eq!(kept, tokens_owned, "{new_name}");
    }
    // Back to 3.0: the same JSON value as the original, the same tokens in the same places,
    // gaps in the turn numbers and the final-answer turn included.
    let o = threadkit(&["migrate", s(&v4), "--reverse", "--out", s(&v3)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    for (name, text) in python_set() {
        let back = std::fs::read_to_string(v3.join(&name)).unwrap();
        assert_eq!(read(&back), read(&text), "{name} does not reverse exactly");
    }
}

#[test]
fn verify_replays_legacy_threads_and_reports_placeholder_tools() {
    let (report, _) = {
        let o = threadkit(&[
            "verify",
            s(&fixtures().join("threads/legacy_python")),
            "--data-root",
            s(&fixtures().join("datasets")),
            "--format",
            "json",
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stdout));
        (serde_json::from_slice::<Value>(&o.stdout).unwrap(), ())
    };
    assert_eq!(report["summary"]["by_rule"]["TK904"], 4, "{report}");
    assert!(report["summary"]["by_rule"].get("TK901").is_none(), "the real tools replay exactly: {report}");
}

/// Random legacy threads of every shape `migrate` accepts: gaps in the turn numbers, final-
/// answer turns, null or padded explanations, Python's non-finite numbers anywhere in a
/// result, extra keys. Forward then back gives the same value and the same tokens.
#[test]
fn any_accepted_legacy_thread_round_trips() {
    let mut rng = fastrand::Rng::with_seed(13);
    let manifest = json!({"dataset_name": "D", "channels": [{"name": "acc_x", "sampling_rate_hz": 50}]});
    for case in 0..300 {
        let mut turn = 0u64;
        let mut conversation = Vec::new();
        for _ in 0..rng.usize(0..6) {
            turn += 1 + u64::from(rng.bool() && rng.bool());
            if rng.bool() {
                let mut result = json!({"mean": rng.f64(), "n": rng.u32(..100)});
                if rng.bool() {
                    result["std"] = json!("__NaN__");
                }
                if rng.bool() {
                    result["peak"] = json!(["__Infinity__", 1, "__-Infinity__"]);
                }
                let mut t = json!({"turn": turn, "action": "use_tool", "reasoning": format!("step {turn}"),
                    "tool_call": {"tool_name": if rng.bool() { "show_channel_stats" } else { "human_activity_motion_classifier" },
                                  "parameters": {"k": rng.u32(..9)}},
                    "tool_result": result});
                if rng.bool() {
                    t["extra_note"] = json!("kept");
                }
                conversation.push(t);
            } else {
                conversation.push(json!({"turn": turn, "action": "respond", "reasoning": "r", "response": format!("said {turn}")}));
            }
        }
        let finished = rng.bool();
        let explanation = match rng.u8(..3) {
            0 => Value::Null,
            1 => json!("  padded explanation \n"),
            _ => json!("plain"),
        };
        if finished && rng.bool() {
            turn += 1 + u64::from(rng.bool());
            conversation.push(json!({"turn": turn, "reasoning": "done", "action": "final_answer",
                "final_answer": "walking", "confidence": "high", "explanation": explanation}));
        }
        let n_tools = conversation.iter().filter(|t| t["action"] == "use_tool").count();
        let mut doc = json!({
            "thread_id": format!("d_s{case}_v3_{case:04}"), "schema_version": "3.0",
            "status": if finished { "finished" } else { "active" },
            "dataset_name": "d", "session_id": format!("s{case}"), "ground_truth_label": "walking",
            "created_at": "2025-08-02T10:15:00+00:00",
            "initial_context": {"user_query": "What is it?", "manifest": manifest},
            "conversation": conversation,
            "metadata": {"num_turns": conversation.len(), "num_tool_calls": n_tools, "last_modified": "2025-08-02T10:16:00+00:00"},
            "final_answer": if finished { json!(" walking ") } else { Value::Null },
            "explanation": explanation,
            "confidence": if finished { json!("high") } else { Value::Null },
            "is_correct": if finished { json!(true) } else { Value::Null },
        });
        if rng.bool() {
            doc["last_modified"] = json!("2025-08-02T10:16:00+00:00");
        }
        if rng.bool() {
            doc["custom_key"] = json!({"a": [1, 2]});
        }
        // As Python writes it: the tokens bare.
        let mut text = serde_json::to_string_pretty(&doc).unwrap();
        for t in ["-Infinity", "Infinity", "NaN"] {
            text = text.replace(&format!("\"__{t}__\""), t);
        }
        let parsed = source::parse_full(&text).unwrap();
        let provenance = Provenance {
            migrated_at: "2026-01-01T00:00:00+00:00".into(),
            fallback_created_at: None,
            non_finite: parsed.non_finite.clone(),
        };
        let v4 = convert::to_openai(&parsed.value, Version::V3, &provenance, &|_| None)
            .unwrap_or_else(|e| panic!("case {case}: {e}\n{text}"));
        let checked = threadkit::check::check(&v4, None, threadkit::check::Options { data_root: None });
        let errors: Vec<_> = checked.diagnostics.iter().filter(|d| d.is_error()).map(|d| d.code()).collect();
        assert!(errors.is_empty(), "case {case}: the migrated thread is invalid: {errors:?}");
        let back = convert::to_v3(&v4).unwrap();
        let back_text = convert::render_v3(&back, &text);
        assert_eq!(read(&back_text), read(&text), "case {case} does not round-trip:\n{text}\n---\n{back_text}");
    }
}
