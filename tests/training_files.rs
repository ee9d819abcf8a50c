//! Training files other programs wrote, checked as their consumers read them: the trainers' and
//! services' own published examples (`fixtures/training/public`, sources in its SOURCES.md), and
//! `validate --profile P --fix` on the findings that have a mechanical answer.

mod common;

use common::threadkit;
use serde_json::Value;

const PUBLIC: &str = "fixtures/training/public";

/// Codes `validate --profile` reports for a file, with their severities.
fn findings(profile: &str, path: &str) -> (Vec<(String, String)>, i32) {
    let run = threadkit(&["validate", "--profile", profile, "--format", "json", path]);
    let report: Value = serde_json::from_slice(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&run.stderr)));
    let found = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| f["diagnostics"].as_array().unwrap())
        .map(|d| (d["code"].as_str().unwrap().to_string(), d["severity"].as_str().unwrap().to_string()))
        .collect();
    (found, run.status.code().unwrap())
}

#[test]
fn the_trainers_own_examples_are_valid_under_their_profiles() {
    for (profile, file) in [
        ("llama-factory", "llama-factory/glaive_toolcall_en_demo.json"),
        ("llama-factory", "llama-factory/reason_tool_use_demo_50.jsonl"),
        ("trl", "trl/dataset_formats_tool_calling.jsonl"),
        ("axolotl", "axolotl/toolcalling_dataset.jsonl"),
    ] {
        let (found, code) = findings(profile, &format!("{PUBLIC}/{file}"));
        assert_eq!((found.as_slice(), code), (&[][..], 0), "{profile} {file}");
    }
}

#[test]
fn null_content_beside_calls_is_a_fixable_warning_not_an_error() {
    let (found, code) = findings("openai", &format!("{PUBLIC}/openai/chat_completions_null_content.jsonl"));
    assert_eq!(code, 0, "warnings only");
    assert_eq!(found.len(), 10);
    assert!(found.iter().all(|(c, s)| c == "TK716" && s == "warning"), "{found:?}");
    // A null `tool_calls`, or null content where nothing is called, stays an error.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nulls.jsonl");
    let line = r#"{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": null}, {"role": "assistant", "content": "x", "tool_calls": null}]}"#;
    std::fs::write(&path, format!("{line}\n").repeat(10)).unwrap();
    let (found, code) = findings("openai", path.to_str().unwrap());
    assert_eq!(code, 1);
    assert!(found.iter().all(|(c, _)| c == "TK703" || c == "TK702"), "{found:?}");
}

#[test]
fn the_cookbook_double_encoded_arguments_are_found_and_fixed_in_place() {
    let (found, _) = findings("openai", &format!("{PUBLIC}/openai-cookbook/drone_training.jsonl"));
    // Line 3's arguments decode to a string; the excerpt has 3 lines, under OpenAI's minimum of 10.
    assert_eq!(found, [("TK704".to_string(), "error".to_string()), ("TK710".to_string(), "error".to_string())]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("drone.jsonl");
    let original = std::fs::read_to_string(common::root().join(PUBLIC).join("openai-cookbook/drone_training.jsonl")).unwrap();
    std::fs::write(&path, &original).unwrap();
    let p = path.to_str().unwrap();
    // --dry-run shows the change and writes nothing.
    let dry = threadkit(&["validate", "--profile", "openai", p, "--fix", "--dry-run"]);
    let shown = String::from_utf8_lossy(&dry.stdout);
    assert!(shown.contains(r#"+{"messages""#) && shown.contains(r#""arguments": "{\"location\": \"current\"}""#), "{shown}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), original);
    let fixed = threadkit(&["validate", "--profile", "openai", p, "--fix"]);
    assert!(String::from_utf8_lossy(&fixed.stdout).contains("Fixed 1 finding"), "{}", String::from_utf8_lossy(&fixed.stdout));
    let now = std::fs::read_to_string(&path).unwrap();
    let (old_lines, new_lines): (Vec<&str>, Vec<&str>) = (original.lines().collect(), now.lines().collect());
    assert_eq!(old_lines[..2], new_lines[..2], "untouched lines keep every byte");
    let line3: Value = serde_json::from_str(new_lines[2]).unwrap();
    assert_eq!(line3["messages"][2]["tool_calls"][0]["function"]["arguments"], r#"{"location": "current"}"#);
    let mut before: Value = serde_json::from_str(old_lines[2]).unwrap();
    before["messages"][2]["tool_calls"][0]["function"]["arguments"] = r#"{"location": "current"}"#.into();
    assert_eq!(line3, before, "only the arguments changed");
    let (found, _) = findings("openai", p);
    assert_eq!(found, [("TK710".to_string(), "error".to_string())]);
}

#[test]
fn trl_takes_object_arguments_so_the_fix_decodes_to_an_object() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trl.jsonl");
    let line = r#"{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": "\"{\\\"a\\\": 1}\""}}]}, {"role": "tool", "name": "f", "content": "1"}, {"role": "assistant", "content": "done"}], "tools": [{"type": "function", "function": {"name": "f", "description": "", "parameters": {"type": "object"}}}]}"#;
    std::fs::write(&path, format!("{line}\n")).unwrap();
    let p = path.to_str().unwrap();
    assert_eq!(findings("trl", p).0, [("TK704".to_string(), "error".to_string())]);
    assert_eq!(threadkit(&["validate", "--profile", "trl", p, "--fix", "-q"]).status.code(), Some(0));
    let fixed: Value = serde_json::from_str(std::fs::read_to_string(&path).unwrap().trim_end()).unwrap();
    assert_eq!(fixed["messages"][1]["tool_calls"][0]["function"]["arguments"], serde_json::json!({"a": 1}));
}

#[test]
fn a_fix_of_a_json_dataset_keeps_its_layout_and_a_compressed_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let example = serde_json::json!({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": null, "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": {"a": 1}}}]}, {"role": "tool", "name": "f", "content": "1"}, {"role": "assistant", "content": "ok"}]});
    let path = dir.path().join("data.json");
    std::fs::write(&path, serde_json::to_string_pretty(&serde_json::json!([example, example])).unwrap() + "\n").unwrap();
    let p = path.to_str().unwrap();
    assert_eq!(findings("trl", p).0.len(), 2);
    threadkit(&["validate", "--profile", "trl", p, "--fix", "-q"]);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("[\n  {\n    \"messages\": [") && text.ends_with("]\n"), "{text}");
    assert!(!text.contains("null"), "{text}");
    assert_eq!(findings("trl", p), (vec![], 0));
    // A gzip'd file is checked, not rewritten.
    let gz = dir.path().join("data.jsonl.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut enc, format!("{}\n", serde_json::to_string(&example).unwrap()).as_bytes()).unwrap();
    std::fs::write(&gz, enc.finish().unwrap()).unwrap();
    let run = threadkit(&["validate", "--profile", "trl", gz.to_str().unwrap(), "--fix"]);
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("compressed file is not rewritten"), "{}", String::from_utf8_lossy(&run.stderr));
}

#[test]
fn a_llama_factory_folder_is_read_through_its_dataset_info() {
    let dir = tempfile::tempdir().unwrap();
    let lf = common::root().join(PUBLIC).join("llama-factory");
    std::fs::copy(lf.join("glaive_toolcall_en_demo.json"), dir.path().join("glaive_toolcall_en_demo.json")).unwrap();
    // The published registry, cut to the entries whose files are here (and one hub entry).
    let info: Value = serde_json::from_str(&std::fs::read_to_string(lf.join("dataset_info.json")).unwrap()).unwrap();
    let mut kept = serde_json::Map::new();
    for name in ["glaive_toolcall_en_demo", "glaive_toolcall_en"] {
        kept.insert(name.into(), info[name].clone());
    }
    // A dataset of its own with OpenAI-style tags, one row broken.
    kept.insert("chat".into(), serde_json::json!({"file_name": "chat.jsonl", "formatting": "sharegpt",
        "columns": {"messages": "messages"}, "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"}}));
    kept.insert("missing".into(), serde_json::json!({"file_name": "nowhere.json"}));
    std::fs::write(dir.path().join("dataset_info.json"), serde_json::to_string_pretty(&Value::Object(kept)).unwrap()).unwrap();
    let good = r#"{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}"#;
    let bad = r#"{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": 7}]}"#;
    std::fs::write(dir.path().join("chat.jsonl"), format!("{good}\n{bad}\n")).unwrap();
    let run = threadkit(&["validate", "--profile", "llama-factory", "--format", "json", dir.path().to_str().unwrap()]);
    assert_eq!(run.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&run.stdout).unwrap();
    let found: Vec<(String, String, String)> = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| {
            let path = f["path"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
            f["diagnostics"].as_array().unwrap().iter().map(move |d| (path.clone(), d["code"].as_str().unwrap().to_string(), d["pointer"].as_str().unwrap().to_string())).collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(
        found,
        [
            ("dataset_info.json".to_string(), "TK717".to_string(), "/missing/file_name".to_string()),
            // Pointed at with the file's own keys, not threadkit's.
            ("chat.jsonl".to_string(), "TK702".to_string(), "/messages/1/content".to_string()),
        ]
    );
}

/// The lines of every `.jsonl` a convert wrote into `dir`.
fn written(dir: &std::path::Path) -> Vec<Value> {
    let mut files: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "jsonl")).collect();
    files.sort();
    files.iter().flat_map(|f| std::fs::read_to_string(f).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect::<Vec<Value>>()).collect()
}

/// A sharegpt example as (turn kind, text or calls), and its tools, for comparing round trips.
fn sharegpt_shape(example: &Value) -> (Vec<(String, Value)>, Value) {
    let turns = example["conversations"].as_array().unwrap().iter().map(|t| {
        let value = t["value"].as_str().unwrap();
        if t["from"] == "function_call" {
            let inner = match (value.find("<tool_call>"), value.rfind("</tool_call>")) {
                (Some(a), Some(b)) => &value[a + 11..b],
                _ => value,
            };
            let calls: Value = serde_json::from_str(inner).unwrap();
            let calls = if calls.is_array() { calls } else { Value::Array(vec![calls]) };
            ("call".to_string(), calls)
        } else {
            (t["from"].as_str().unwrap().to_string(), Value::String(value.to_string()))
        }
    });
    let tools: Value = serde_json::from_str(example["tools"].as_str().filter(|s| !s.is_empty()).unwrap_or("[]")).unwrap();
    (turns.collect(), tools)
}

#[test]
fn convert_round_trips_llama_factory_through_openai_and_trl_keeping_every_turn_call_and_argument() {
    let dir = tempfile::tempdir().unwrap();
    let source = common::root().join(PUBLIC).join("llama-factory/glaive_toolcall_en_demo.json");
    let hops = [("openai", "oa"), ("trl", "trl"), ("llama-factory", "lf")];
    let mut input = source.clone();
    for (to, name) in hops {
        let out = dir.path().join(name);
        let run = threadkit(&["convert", input.to_str().unwrap(), "--to", to, "--out", out.to_str().unwrap(), "-q"]);
        assert_eq!(run.status.code(), Some(0), "{to}: {}", String::from_utf8_lossy(&run.stderr));
        // Every hop's output is valid under its own profile.
        assert_eq!(findings(to, out.join("train.jsonl").to_str().unwrap()), (vec![], 0), "{to}");
        input = out.join("train.jsonl");
    }
    let original: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(&source).unwrap()).unwrap();
    let mut expected: Vec<String> = original.iter().map(|e| serde_json::to_string(&sharegpt_shape(e)).unwrap()).collect();
    expected.sort();
    expected.dedup(); // The demo holds byte-identical examples; an export keeps one of each.
    let mut back: Vec<String> = written(&dir.path().join("lf")).iter().map(|e| serde_json::to_string(&sharegpt_shape(e)).unwrap()).collect();
    back.sort();
    assert_eq!(back.len(), expected.len());
    assert_eq!(back, expected, "every turn, call, argument and tool survives three conversions");
}

#[test]
fn convert_reads_each_shape_pairs_calls_by_order_and_names_what_it_cannot_carry() {
    let dir = tempfile::tempdir().unwrap();
    // TRL's docs example: no ids, a result paired by order; to openai (ids needed).
    let out = dir.path().join("trl-to-openai.jsonl");
    let src = common::root().join(PUBLIC).join("trl/dataset_formats_tool_calling.jsonl");
    let run = threadkit(&["convert", src.to_str().unwrap(), "--to", "openai", "--allow-few-examples", "--out", out.to_str().unwrap(), "--format", "json"]);
    assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stderr));
    let manifest: Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(manifest["changes"]["tool call ids added (the target pairs results with calls by id)"], 1, "{manifest}");
    let line: Value = serde_json::from_str(std::fs::read_to_string(&out).unwrap().lines().next().unwrap()).unwrap();
    let id = line["messages"][1]["tool_calls"][0]["id"].as_str().unwrap();
    assert_eq!(line["messages"][2]["tool_call_id"], id);
    assert_eq!(line["messages"][1]["tool_calls"][0]["function"]["arguments"], r#"{"room": "living room", "state": "on"}"#);
    assert_eq!(line["tools"][0]["function"]["name"], "control_light", "the declared tools travel");
    // LLaMA-Factory v1 typed parts: reasoning and text become the assistant's content, tool_call parts its calls.
    let out = dir.path().join("v1");
    let src = common::root().join(PUBLIC).join("llama-factory/reason_tool_use_demo_50.jsonl");
    let run = threadkit(&["convert", src.to_str().unwrap(), "--to", "trl", "--out", out.to_str().unwrap(), "-q"]);
    assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stderr));
    let lines = written(&out);
    assert_eq!(lines.len(), 50);
    let calls: usize = lines.iter().flat_map(|l| l["messages"].as_array().unwrap()).map(|m| m["tool_calls"].as_array().map_or(0, Vec::len)).sum();
    assert_eq!(calls, 68, "every tool_call part is a call");
    // An example its own format refuses is named with the reason, not carried on.
    let bad = dir.path().join("mixed.jsonl");
    let good = std::fs::read_to_string(common::root().join(PUBLIC).join("axolotl/toolcalling_dataset.jsonl")).unwrap();
    std::fs::write(&bad, format!("{good}{}\n", r#"{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": 5}]}"#)).unwrap();
    let run = threadkit(&["convert", bad.to_str().unwrap(), "--from", "axolotl", "--to", "trl", "--out", dir.path().join("m").to_str().unwrap()]);
    let said = String::from_utf8_lossy(&run.stderr);
    assert!(said.contains("mixed.jsonl:2") && said.contains("TK702 as axolotl"), "{said}");
    assert_eq!(written(&dir.path().join("m")).len(), 1);
}

#[test]
fn profile_auto_says_which_format_it_read_each_file_as_and_why() {
    let files = [
        ("llama-factory/glaive_toolcall_en_demo.json", "read as llama-factory: a `conversations` list"),
        ("llama-factory/reason_tool_use_demo_50.jsonl", "read as llama-factory: `messages` whose content is typed"),
        ("trl/dataset_formats_tool_calling.jsonl", "read as trl: `messages` with tool call arguments as objects"),
        ("openai/chat_completions_null_content.jsonl", "read as openai: `messages` with arguments as JSON strings"),
    ];
    let paths: Vec<String> = files.iter().map(|(f, _)| format!("{PUBLIC}/{f}")).collect();
    let mut args = vec!["validate", "--profile", "auto"];
    args.extend(paths.iter().map(String::as_str));
    let run = threadkit(&args);
    let said = String::from_utf8_lossy(&run.stderr);
    for (f, expected) in files {
        assert!(said.contains(&format!("{f}: {expected}")), "{f}: {said}");
    }
    // Each is then checked by its own format's rules: only the null-content warnings remain.
    assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stdout));
}

#[test]
fn a_training_file_named_without_a_profile_is_checked_as_auto() {
    let path = format!("{PUBLIC}/llama-factory/glaive_toolcall_en_demo.json");
    let run = threadkit(&["validate", &path]);
    let said = String::from_utf8_lossy(&run.stderr);
    assert!(said.contains("checked as `--profile auto`") && said.contains("read as llama-factory"), "{said}");
    assert_eq!(run.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&run.stdout).contains("300 examples"));
    // A thread file is still a thread file.
    let run = threadkit(&["validate", "fixtures/threads/valid/uci_har_test_24_2888_v4_0003.json"]);
    assert!(!String::from_utf8_lossy(&run.stderr).contains("--profile auto"));
}

#[test]
fn openai_fix_adds_missing_ids_pairs_results_in_order_and_serializes_object_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trl-as-openai.jsonl");
    // TRL's docs example (object arguments, no ids), read as OpenAI's format.
    let first = std::fs::read_to_string(common::root().join(PUBLIC).join("trl/dataset_formats_tool_calling.jsonl")).unwrap();
    let first = first.lines().next().unwrap();
    std::fs::write(&path, format!("{first}\n").repeat(10)).unwrap();
    let p = path.to_str().unwrap();
    let (before, code) = findings("openai", p);
    assert_eq!(code, 1);
    assert_eq!(before.iter().filter(|(c, _)| c == "TK705").count(), 20, "{before:?}");
    assert_eq!(before.iter().filter(|(c, _)| c == "TK704").count(), 10, "{before:?}");
    let run = threadkit(&["validate", "--profile", "openai", p, "--fix", "-q"]);
    assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stdout));
    let line: Value = serde_json::from_str(std::fs::read_to_string(&path).unwrap().lines().next().unwrap()).unwrap();
    let call = &line["messages"][1]["tool_calls"][0];
    assert_eq!(call["function"]["arguments"], r#"{"room": "living room", "state": "on"}"#);
    assert_eq!(line["messages"][2]["tool_call_id"], call["id"]);
    assert_eq!(findings("openai", p), (vec![], 0));
}
