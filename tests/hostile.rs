//! Hostile and broken input: every case is a clear finding (or usage error), never a panic or a hang.

mod common;
use common::*;

use std::io::Write;

fn single_code(path: &std::path::Path, extra: &[&str]) -> (Vec<String>, i32) {
    let mut args = vec![path.to_str().unwrap()];
    args.extend_from_slice(extra);
    let (report, code) = json_report(&args);
    (codes(&report), code)
}

#[test]
fn a_50_mb_file_is_refused_by_size_and_survives_when_allowed() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("huge.json");
    let mut f = std::fs::File::create(&p).unwrap();
    f.write_all(b"[").unwrap();
    let chunk = "1,".repeat(1 << 20);
    for _ in 0..25 {
        f.write_all(chunk.as_bytes()).unwrap();
    }
    f.write_all(b"1]").unwrap();
    drop(f);
    assert!(std::fs::metadata(&p).unwrap().len() >= 50_000_000);
    assert_eq!(single_code(&p, &[]), (vec!["TK005".to_string()], 1));
    assert_eq!(single_code(&p, &["--max-file-size", "100000000"]), (vec!["TK006".to_string()], 1));
}

#[test]
fn deep_nesting() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("deep.json");
    std::fs::write(&p, "[".repeat(100_000) + &"]".repeat(100_000)).unwrap();
    let (codes, exit) = single_code(&p, &[]);
    assert_eq!((codes, exit), (vec!["TK003".to_string()], 1));
    let out = threadkit(&["validate", p.to_str().unwrap(), "--color", "never"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("nesting deeper than 128 levels"));
}

#[cfg(unix)]
#[test]
fn symlink_loops_and_broken_links() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("threads");
    std::fs::create_dir(&dir).unwrap();
    std::fs::copy(
        fixtures().join("threads/valid/uci_har_train_01_0000_v4_0001.json"),
        dir.join("uci_har_train_01_0000_v4_0001.json"),
    )
    .unwrap();
    std::os::unix::fs::symlink(&dir, dir.join("loop")).unwrap();
    std::os::unix::fs::symlink(tmp.path().join("nowhere.json"), dir.join("broken.json")).unwrap();
    // Not following links: both links are skipped, the real file is checked.
    let (report, code) = json_report(&[dir.to_str().unwrap()]);
    assert_eq!((report["summary"]["files"].as_u64(), code), (Some(1), 0));
    // Following links: the loop and the broken link are findings; the walk goes on.
    let (report, code) = json_report(&[dir.to_str().unwrap(), "--follow-links"]);
    assert_eq!(code, 1);
    let messages: Vec<String> = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| f["diagnostics"].as_array().unwrap().iter().map(|d| format!("{} {}", d["code"], d["message"])))
        .collect();
    assert!(messages.iter().any(|m| m.contains("TK001") && m.contains("symlink loop")), "{messages:?}");
    assert!(messages.iter().any(|m| m.contains("TK001") && m.contains("broken symlink")), "{messages:?}");
    assert_eq!(report["summary"]["valid"], 1);
}

#[cfg(unix)]
#[test]
fn a_fifo_is_reported_not_read() {
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("pipe.json");
    let status = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(status.success());
    // Inside a walked folder it is not a regular file and is skipped (and a folder with nothing
    // else checked nothing: never exit 0, issue 28 row 1); named explicitly it is a finding.
    let (report, code) = json_report(&[tmp.path().to_str().unwrap()]);
    assert_eq!((report["summary"]["files"].as_u64(), code), (Some(0), 2));
    let (codes, code) = single_code(&fifo, &[]);
    assert_eq!((codes, code), (vec!["TK001".to_string()], 1));
}

#[cfg(unix)]
#[test]
fn unreadable_file_is_a_finding() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("locked.json");
    std::fs::write(&p, "{}").unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o000)).unwrap();
    if std::fs::read(&p).is_ok() {
        // Running as root: permissions do not stop us. A directory that cannot be
        // opened as a file exercises the same path.
        let d = tmp.path().join("dir.json");
        std::fs::create_dir(&d).unwrap();
        let out = threadkit(&["validate", "--format", "json", d.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "an empty folder named .json is walked, not read, and nothing checked is no clean");
        return;
    }
    let (codes, code) = single_code(&p, &[]);
    assert_eq!((codes, code), (vec!["TK001".to_string()], 1));
}

#[test]
fn missing_path_is_a_usage_error_that_names_the_path() {
    let out = threadkit(&["validate", "does/not/exist"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("does/not/exist") && err.contains("no such file"), "{err}");
}

#[test]
fn jsonl_with_bad_lines_reports_each_and_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let good = std::fs::read_to_string(fixtures().join("threads/valid/exports/train.jsonl")).unwrap();
    let first = good.lines().next().unwrap();
    let p = tmp.path().join("mixed.jsonl");
    let mut bytes = Vec::new();
    bytes.extend_from_slice(first.as_bytes());
    bytes.extend_from_slice(b"\n\n{\"id\": \"trunc\n");
    bytes.extend_from_slice(b"\xff\xfe\n[1, 2]\n");
    std::fs::write(&p, bytes).unwrap();
    let (report, code) = json_report(&[p.to_str().unwrap()]);
    assert_eq!(code, 1);
    let got: Vec<(u64, String)> = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["record"].as_u64().unwrap(),
                f["diagnostics"]
                    .as_array()
                    .unwrap()
                    .first()
                    .map_or(String::new(), |d| d["code"].as_str().unwrap().to_string()),
            )
        })
        .collect();
    assert_eq!(got, vec![(1, String::new()), (3, "TK003".into()), (4, "TK002".into()), (5, "TK006".into())]);
}

/// A deterministic mutation fuzzer over the fixtures, run on every test: byte flips,
/// truncations, insertions and splices must never panic anywhere in the pipeline.
#[test]
fn mutated_fixtures_never_panic() {
    let mut seeds = Vec::new();
    for e in walkdir::WalkDir::new(fixtures().join("threads")).into_iter().filter_map(Result::ok) {
        if e.file_type().is_file() {
            seeds.push(std::fs::read(e.path()).unwrap());
        }
    }
    // Planted threads too: the quality rules read their numbers, calls, errors and labels.
    for e in std::fs::read_dir(fixtures().join("quality/train")).unwrap().filter_map(Result::ok).take(40) {
        seeds.push(std::fs::read(e.path()).unwrap());
    }
    let mut next = xorshift(0x2545_f491_4f6c_dd1du64);
    let renderer = threadkit::report::human::Renderer::new(false);
    let settings = threadkit::validate::Settings::default();
    let tokens: &[&[u8]] =
        &[b"{", b"}", b"[", b"]", b"\"", b",", b":", b"null", b"\\u0000", b"\xc3", b"1e999", b"-", b"\n"];
    for round in 0..3000 {
        let seed = &seeds[(next() as usize) % seeds.len()];
        let mut bytes = seed.clone();
        for _ in 0..(1 + next() % 4) {
            if bytes.is_empty() {
                break;
            }
            let at = (next() as usize) % bytes.len();
            match next() % 4 {
                0 => bytes[at] = next() as u8,
                1 => bytes.truncate(at),
                2 => {
                    let t = tokens[(next() as usize) % tokens.len()];
                    bytes.splice(at..at, t.iter().copied());
                }
                _ => {
                    let len = ((next() as usize) % 64).min(bytes.len() - at);
                    bytes.drain(at..at + len);
                }
            }
        }
        let text = match String::from_utf8(bytes) {
            Ok(t) => t,
            Err(_) => continue,
        };
        // The quality rules are a library call on any parsed value: never a panic, whatever its shape.
        if let Ok(doc) = serde_json::from_str::<serde_json::Value>(&text) {
            let labels: threadkit::rules::quality::Labels = ["walking".to_string(), "running".to_string()].into();
            let _ = threadkit::quality::check_thread(&doc, Some(&labels));
            let _ = threadkit::quality::check_thread(&doc, None);
            let _ = threadkit::corpus::Features::of(&doc, true);
        }
        let rec = threadkit::source::RecordText { record: if round % 5 == 0 { Some(1) } else { None }, text, bom: false };
        let report = threadkit::validate::validate_record(rec, Some("x"), &settings);
        let file = threadkit::findings::FileReport { path: "fuzz.json".into(), records: vec![report], clean: 0, stamp: None };
        let _ = renderer.file(&file);
        let _ = threadkit::report::json::entries(&file);
    }
}

/// The fuzz targets `chat_template` and `uea_ts`, run in the suite on mutations of the shipped
/// chat templates and `.ts` files (headers first: most mutations land there): an error or a
/// result, within the render budget, never a panic.
#[test]
fn mutated_templates_and_ts_files_never_panic() {
    use threadkit::export::chat_template::{probe_with_threadkit_tools, ChatTemplate};
    let read_all = |dir: &str, ext: &str| -> Vec<String> {
        let mut out: Vec<String> = std::fs::read_dir(fixtures().join(dir))
            .unwrap()
            .filter_map(|e| Some(e.ok()?.path()))
            .filter(|p| p.extension().is_some_and(|e| e == ext))
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect();
        out.sort();
        out
    };
    let templates = read_all("chat_templates", "jinja");
    // A header and the first cases: the reader's decisions are made there.
    let ts: Vec<String> = read_all("uea", "ts").iter().map(|t| t.lines().take(40).collect::<Vec<_>>().join("\n")).collect();
    let mut next = xorshift(0x9e37_79b9_7f4a_7c15u64);
    let template_tokens = [
        "{%", "%}", "{{", "}}", "{#", "endfor", "endif", "range(99999)", "* 99999", " ~ ", "| tojson(indent=99999)",
        "'{:>99999}'.format(1)", "raise_exception('x')", "strftime_now('%Q')", "loop.index", "namespace(", "(", ")", "[", "]",
        "messages", "tools", "\"", "'", "\\", "\u{202e}",
    ];
    let ts_tokens = ["@", ":", ",", "?", "NaN", "1e999", "@dimensions 99999", "@classLabel true", "@data", "\n", "\u{feff}", "#", " "];
    let probe = probe_with_threadkit_tools();
    let mutate = |text: &str, tokens: &[&str], next: &mut dyn FnMut() -> u64| -> String {
        let mut s = text.to_string();
        for _ in 0..(1 + next() % 4) {
            if s.is_empty() {
                break;
            }
            let mut at = (next() as usize) % s.len();
            while !s.is_char_boundary(at) {
                at -= 1;
            }
            match next() % 3 {
                0 => s.insert_str(at, tokens[(next() as usize) % tokens.len()]),
                1 => s.truncate(at),
                _ => {
                    let mut end = (at + (next() as usize) % 40).min(s.len());
                    while !s.is_char_boundary(end) {
                        end -= 1;
                    }
                    s.replace_range(at..end, "");
                }
            }
        }
        s
    };
    let started = std::time::Instant::now();
    for _ in 0..300 {
        let source = mutate(&templates[(next() as usize) % templates.len()], &template_tokens, &mut next);
        if let Ok(t) = ChatTemplate::from_source(&source) {
            let _ = t.audit(&probe);
        }
    }
    for _ in 0..2000 {
        let text = mutate(&ts[(next() as usize) % ts.len()], &ts_tokens, &mut next);
        let _ = threadkit::dataset::uea_ts::parse(&text);
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(120), "{:?}", started.elapsed());
}

// ---- issue 28 (hostile inputs, round 2), by row ---------------------------------------------

/// The shipped finished thread, to be made hostile.
fn finished_thread() -> serde_json::Value {
    let text = std::fs::read_to_string(fixtures().join("threads/valid/uci_har_train_01_0000_v4_0001.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn write_thread(dir: &std::path::Path, doc: &serde_json::Value) -> std::path::PathBuf {
    let thread = dir.join("uci_har_train_01_0000_v4_0001.json");
    std::fs::write(&thread, serde_json::to_string(doc).unwrap()).unwrap();
    thread
}

fn stdout_of(args: &[&str]) -> (String, String, i32) {
    let o = threadkit(args);
    (String::from_utf8_lossy(&o.stdout).into(), String::from_utf8_lossy(&o.stderr).into(), o.status.code().unwrap())
}

/// Row 1: a named file is always read, whatever its extension says; checking nothing, or an empty
/// training file, is never exit 0.
#[test]
fn issue28_row1_nothing_checked_is_never_clean() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let s = |p: &std::path::Path| p.to_str().unwrap().to_string();
    std::fs::create_dir(d.join("empty")).unwrap();
    let (_, err, code) = stdout_of(&["validate", &s(&d.join("empty"))]);
    assert_eq!(code, 2, "an empty folder checked nothing: {err}");
    assert!(err.contains("nothing was checked") && err.contains("empty"), "{err}");
    // Every command that walks threads, sharded or not: a wrong path must not look like a
    // clean corpus, an empty report, a migration with nothing to do, or an empty export.
    let (empty, data, out) = (s(&d.join("empty")), s(&fixtures().join("data")), s(&d.join("out")));
    for args in [
        vec!["validate", &empty, "--shard", "1/4"],
        vec!["quality", &empty, "--shard", "2/2"],
        vec!["verify", &empty, "--data-root", &data],
        vec!["stats", &empty, "--format", "json"],
        vec!["report", &empty, "--out", &out],
        vec!["migrate", &empty],
        vec!["export", &empty, "--profile", "openai", "--out", &out],
    ] {
        let (_, err, code) = stdout_of(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains("nothing was checked: no thread files (*.json, *.jsonl) in"), "{args:?}: {err}");
        assert!(!d.join("out").exists(), "{args:?} wrote something");
    }
    // Upper-case extensions are the same files.
    std::fs::create_dir(d.join("upper")).unwrap();
    std::fs::copy(fixtures().join("threads/valid/uci_har_train_01_0000_v4_0001.json"), d.join("upper/uci_har_train_01_0000_v4_0001.JSON")).unwrap();
    let (out, _, code) = stdout_of(&["validate", &s(&d.join("upper")), "--color", "never"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Checked 1 file"), "{out}");
    // Under --profile: a named train.json is read (garbage is a finding), TRAIN.JSONL too,
    // an empty or blank JSONL is a finding, an unsupported file is a usage error.
    std::fs::write(d.join("train.json"), "garbage").unwrap();
    std::fs::write(d.join("empty.jsonl"), "").unwrap();
    std::fs::write(d.join("blank.jsonl"), "\n   \n").unwrap();
    std::fs::write(d.join("none.json"), "[]").unwrap();
    let line = r#"{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": 3}]}"#;
    std::fs::write(d.join("TRAIN.JSONL"), format!("{line}\n")).unwrap();
    for (file, code_wanted, rule) in [("train.json", 1, "TK003"), ("empty.jsonl", 1, "TK004"), ("blank.jsonl", 1, "TK004"), ("none.json", 1, "TK004"), ("TRAIN.JSONL", 1, "TK702")] {
        for profile in ["trl", "axolotl", "llama-factory", "openai"] {
            let (out, err, code) = stdout_of(&["validate", "--profile", profile, &s(&d.join(file)), "--format", "json"]);
            assert_eq!(code, code_wanted, "{profile} {file}: {out}{err}");
            let report: serde_json::Value = serde_json::from_str(&out).unwrap();
            let codes = common::codes(&report);
            assert!(codes.iter().any(|c| c == rule) || profile == "llama-factory" && rule == "TK702", "{profile} {file}: {codes:?}");
        }
    }
    // Read as threads, an empty or blank JSONL file (a generator killed before its first line)
    // checked nothing either: a finding for every command that checks, never a clean file.
    for file in ["empty.jsonl", "blank.jsonl"] {
        for args in [vec!["validate", file], vec!["quality", file], vec!["verify", file, "--data-root", &data]] {
            let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
            args[1] = s(&d.join(file));
            args.extend(["--format".into(), "json".into()]);
            let (out, err, code) = stdout_of(&args.iter().map(String::as_str).collect::<Vec<_>>());
            assert_eq!(code, 1, "{args:?}: {out}{err}");
            let report: serde_json::Value = serde_json::from_str(&out).unwrap();
            assert_eq!(common::codes(&report), ["TK004"], "{args:?}: {out}");
        }
    }
    std::fs::write(d.join("notes.txt"), "hello").unwrap();
    let (_, err, code) = stdout_of(&["validate", "--profile", "trl", &s(&d.join("notes.txt"))]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("notes.txt") && err.contains(".jsonl"), "{err}");
    // A token limit of 0 would call every example too long: refused, as export refuses it.
    for command in ["validate", "export"] {
        let mut args = vec![command, "--profile", "openai", "--max-tokens", "0", "TRAIN.JSONL"];
        if command == "export" {
            args.extend(["--out", "x"]);
        }
        let (_, err, code) = stdout_of(&args);
        assert_eq!(code, 2, "{command}: {err}");
        assert!(err.contains("0 is out of range: use 1 to 4294967295"), "{command}: {err}");
    }
}

/// Row 1 and issue 25: a `.json` array of examples is a dataset, its examples located by line.
#[test]
fn issue28_row1_a_json_array_of_examples_is_read_as_a_dataset() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("sharegpt.json");
    std::fs::write(&f, "[\n {\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", \"content\": \"yo\"}]},\n {\"messages\": [{\"role\": \"user\", \"content\": \"hi\"},\n   {\"role\": \"assistant\", \"content\": 3}]}\n]\n").unwrap();
    let (out, _, code) = stdout_of(&["validate", "--profile", "trl", f.to_str().unwrap(), "--format", "json"]);
    assert_eq!(code, 1);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["summary"]["files"], 2, "two examples: {out}");
    let bad = &report["files"][0]["diagnostics"][0];
    assert_eq!((bad["code"].as_str(), bad["line"].as_u64(), bad["column"].as_u64()), (Some("TK702"), Some(4), Some(37)));
}

/// Row 2: --max-file-size applies to training files too.
#[test]
fn issue28_row2_max_file_size_applies_under_profile() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("t.jsonl");
    let line = format!(r#"{{"messages": [{{"role": "user", "content": "{}"}}, {{"role": "assistant", "content": "ok"}}]}}"#, "x".repeat(5000));
    std::fs::write(&f, format!("{line}\n")).unwrap();
    let (out, _, _) = stdout_of(&["validate", "--profile", "trl", f.to_str().unwrap(), "--format", "json", "--max-file-size", "1K"]);
    assert!(out.contains("TK005"), "lowered: {out}");
    let (out, _, code) = stdout_of(&["validate", "--profile", "trl", f.to_str().unwrap(), "--format", "json", "--max-file-size", "64K"]);
    assert!(!out.contains("TK005") && code == 0, "raised: {out}");
}

/// Row 6: escape sequences in thread text, labels, ids and the source snippet of invalid JSON
/// never reach the terminal raw (clipboard via OSC 52, clearing the screen, bidi overrides).
#[test]
fn issue28_row6_no_terminal_control_from_data() {
    let tmp = tempfile::tempdir().unwrap();
    let mut doc = finished_thread();
    let evil = "\u{1b}]52;c;cHduZWQ=\u{7}\u{1b}[2J\u{9b}31m\u{202e}txt.exe";
    doc["messages"][1]["content"] = evil.into();
    doc["metadata"]["ground_truth"] = format!("standing{evil}").into();
    doc["metadata"]["final_answer"] = format!("standing{evil}").into();
    let thread = write_thread(tmp.path(), &doc);
    // Invalid JSON with raw ESC bytes in its snippet.
    std::fs::write(tmp.path().join("broken.json"), format!("{{\"id\": \"{evil}\" \"x\"}}")).unwrap();
    // A file name holds them too (export says each skipped file's place).
    std::fs::write(tmp.path().join(format!("named{}.json", evil.replace('\u{202e}', ""))), "{}").unwrap();
    // A legacy thread under such a name: `migrate` says each file it converts, and where the original went.
    let legacy = tempfile::tempdir().unwrap();
    let legacy_name = format!("legacy{}_v3.json", evil.replace('\u{202e}', ""));
    std::fs::copy(fixtures().join("threads/valid/uci_har_train_01_0051_v3_0042.json"), legacy.path().join(legacy_name)).unwrap();
    let out = tempfile::tempdir().unwrap();
    let out = out.path().join("export");
    let t = thread.to_str().unwrap();
    let dir = tmp.path().to_str().unwrap();
    let old = legacy.path().to_str().unwrap();
    // `merge` reads reports back (their escapes become characters again) and writes them anew.
    let reports = tempfile::tempdir().unwrap();
    let mut shards: Vec<String> = Vec::new();
    for command in ["validate", "stats"] {
        for i in 1..=2 {
            let shard = format!("{i}/2");
            let o = threadkit(&[command, dir, "--shard", &shard, "--format", "json"]);
            let at = reports.path().join(format!("{command}{i}.json"));
            std::fs::write(&at, &o.stdout).unwrap();
            shards.push(at.to_str().unwrap().to_string());
        }
    }
    let merged = threadkit(&["merge", &shards[0], &shards[1]]);
    let merged: serde_json::Value = serde_json::from_slice(&merged.stdout)
        .unwrap_or_else(|e| panic!("merge: {e}\n{}", String::from_utf8_lossy(&merged.stderr)));
    assert_eq!(merged["files"].as_array().map(Vec::len), Some(3), "both shards' files merged: {merged}");
    let runs: Vec<Vec<&str>> = vec![
        vec!["merge", &shards[0], &shards[1]],
        vec!["merge", &shards[2], &shards[3]],
        vec!["merge", "--partial", &shards[0]],
        vec!["migrate", old, "--dry-run"],
        vec!["migrate", old, "--dry-run", "--format", "json"],
        vec!["migrate", old],
        vec!["export", dir, "--out", out.to_str().unwrap(), "--profile", "openai", "--allow-few-examples", "--force"],
        vec!["show", t, "--color", "never"],
        vec!["show", t, "--color", "always"],
        vec!["show", t, "--format", "md"],
        vec!["stats", dir],
        vec!["validate", dir, "--color", "always"],
        vec!["validate", dir, "--color", "never"],
        vec!["quality", dir, "--color", "never"],
        // JSON for machines is printed too (a terminal, a log viewer): the same document, its controls escaped.
        vec!["validate", dir, "--format", "json"],
        vec!["quality", dir, "--format", "json"],
        vec!["stats", dir, "--format", "json"],
        vec!["show", t, "--format", "json"],
        vec!["generate", "list", "--threads-dir", dir, "--all", "--format", "json"],
        vec!["verify", dir, "--format", "json"],
        vec!["export", dir, "--out", out.to_str().unwrap(), "--profile", "openai", "--allow-few-examples", "--force", "--format", "json"],
    ];
    for args in runs {
        let o = threadkit(&args);
        for (name, bytes) in [("stdout", &o.stdout), ("stderr", &o.stderr)] {
            let s = String::from_utf8_lossy(bytes);
            // Our own colours are `ESC [ … m`; nothing else may start with ESC, and no C1 or bidi control at all.
            let foreign_escape = s.match_indices('\u{1b}').any(|(i, _)| {
                let rest = &s[i + 1..];
                !(rest.starts_with('[') && rest[1..].chars().take_while(|c| *c != 'm').all(|c| c.is_ascii_digit() || c == ';'))
            });
            let raw = s.chars().any(|c| matches!(c, '\u{80}'..='\u{9f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{7}'));
            assert!(!foreign_escape && !raw, "{args:?} {name} passes data's control characters through:\n{s:?}");
        }
    }
}

/// Row 7: a tool result holding a code fence cannot close the fence, add HTML or forge a heading.
#[test]
fn issue28_row7_markdown_fences_hold_any_data() {
    let tmp = tempfile::tempdir().unwrap();
    let mut doc = finished_thread();
    let forged = "x\n```\n\n<img src=x onerror=alert(1)>\n\n## Final answer\n\n````\nwalking";
    doc["messages"][2]["content"] = forged.into();
    doc["messages"][1]["content"] = forged.into();
    let thread = write_thread(tmp.path(), &doc);
    let (md, _, _) = stdout_of(&["show", thread.to_str().unwrap(), "--format", "md"]);
    // Every line of the forged text stays inside a fence: outside fences, no line is it.
    let mut open: Option<usize> = None;
    for line in md.lines() {
        let ticks = line.chars().take_while(|c| *c == '`').count();
        match open {
            None if ticks >= 3 => open = Some(ticks),
            Some(n) if ticks >= n && line.trim_start_matches('`').trim().is_empty() => open = None,
            None => assert!(!line.contains("<img") && line != "## Final answer", "escaped the fence: {line}\n{md}"),
            _ => {}
        }
    }
    assert!(open.is_none(), "a fence left open:\n{md}");
}

/// Row 9: a one-line 30 MB tool result is cut in `show` (unless --full).
#[test]
fn issue28_row9_one_line_results_are_cut() {
    let tmp = tempfile::tempdir().unwrap();
    let mut doc = finished_thread();
    doc["messages"][2]["content"] = "7".repeat(30_000_000).into();
    let thread = write_thread(tmp.path(), &doc);
    for format in ["human", "md"] {
        let (out, err, _) = stdout_of(&["show", thread.to_str().unwrap(), "--format", format, "--color", "never"]);
        assert!(out.len() < 100_000, "{format}: {} bytes {err}", out.len());
        assert!(out.contains("more characters (--full shows all)"), "{format}");
    }
    let page = tmp.path().join("r.html");
    let o = threadkit(&["report", thread.to_str().unwrap(), "--out", page.to_str().unwrap(), "--max-file-size", "100M", "-q"]);
    assert!(o.status.code().is_some_and(|c| c < 2), "{}", String::from_utf8_lossy(&o.stderr));
    let size = std::fs::metadata(&page).unwrap().len();
    assert!(size < 200_000, "the report page is {size} bytes");
}

/// Row 3: a chat template calling `strftime_now` with a format chrono cannot read is a template
/// error naming the template, never a panic (exit 101).
#[test]
fn issue28_row3_a_bad_strftime_format_is_a_template_error() {
    let tmp = tempfile::tempdir().unwrap();
    let template = tmp.path().join("bad.jinja");
    std::fs::write(&template, "{{ strftime_now('%Q') }}{% for m in messages %}{{ m.content }}{% endfor %}").unwrap();
    let train = tmp.path().join("t.jsonl");
    std::fs::write(&train, "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", \"content\": \"yo\"}]}\n").unwrap();
    let (out, err, code) = stdout_of(&["validate", "--profile", "trl", train.to_str().unwrap(), "--chat-template", template.to_str().unwrap(), "--format", "json"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("TK714") && out.contains("strftime_now") && out.contains("bad.jinja"), "{out}");
    let dest = tmp.path().join("out");
    let valid = fixtures().join("threads/valid");
    let o = threadkit(&["export", valid.to_str().unwrap(), "--profile", "trl", "--status", "all", "--out", dest.to_str().unwrap(), "--chat-template", template.to_str().unwrap(), "-q"]);
    assert_ne!(o.status.code(), Some(101), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Row 16: a UTF-8 BOM in a training file is a finding that says BOM (Python's json.loads, which
/// the trainers' loaders use, refuses it); in a thread file it is still read.
#[test]
fn issue28_row16_a_bom_in_a_training_file_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let line = r#"{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}"#;
    let jsonl = tmp.path().join("t.jsonl");
    std::fs::write(&jsonl, format!("\u{feff}{line}\n{line}\n")).unwrap();
    let json = tmp.path().join("t.json");
    std::fs::write(&json, format!("\u{feff}[{line}]")).unwrap();
    for f in [&jsonl, &json] {
        let (out, err, code) = stdout_of(&["validate", "--profile", "trl", f.to_str().unwrap(), "--format", "json"]);
        assert_eq!(code, 1, "{out}{err}");
        assert!(out.contains("byte-order mark (BOM)"), "{out}");
    }
    let thread = write_thread(tmp.path(), &finished_thread());
    let text = std::fs::read_to_string(&thread).unwrap();
    std::fs::write(&thread, format!("\u{feff}{text}")).unwrap();
    let (_, _, code) = stdout_of(&["validate", thread.to_str().unwrap()]);
    assert_eq!(code, 0);
}

/// Row 12: a session whose label list is `[]` does not back a thread's ground truth.
#[test]
fn issue28_row12_an_empty_label_list_is_no_ground_truth() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    common::copy_dir(&fixtures().join("data"), &data);
    let labels_path = data.join("uci_har/labels.json");
    let mut labels: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&labels_path).unwrap()).unwrap();
    labels["train_01_0000"] = serde_json::json!([]);
    std::fs::write(&labels_path, labels.to_string()).unwrap();
    let thread = fixtures().join("threads/valid/uci_har_train_01_0000_v4_0001.json");
    let (out, _, code) = stdout_of(&["validate", thread.to_str().unwrap(), "--data-root", data.to_str().unwrap(), "--format", "json"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("TK603") && out.contains("no label at all"), "{out}");
}

/// Row 8: 2,000 distinct answers do not make a 2,000 × 2,000 confusion matrix.
#[test]
fn issue28_row8_the_confusion_matrix_is_capped() {
    let tmp = tempfile::tempdir().unwrap();
    let threads = tmp.path().join("threads");
    std::fs::create_dir(&threads).unwrap();
    let base = finished_thread();
    for i in 0..2000 {
        let mut doc = base.clone();
        let id = format!("t_{i:05}");
        doc["id"] = id.clone().into();
        doc["metadata"]["final_answer"] = format!("answer {i}").into();
        doc["metadata"]["ground_truth"] = format!("truth {i}").into();
        std::fs::write(threads.join(format!("{id}.json")), doc.to_string()).unwrap();
    }
    let (out, _, _) = stdout_of(&["stats", threads.to_str().unwrap()]);
    assert!(out.len() < 50_000, "stats printed {} bytes", out.len());
    assert!(out.contains("1970 others"), "{}", &out[..out.len().min(3000)]);
    let page = tmp.path().join("r.html");
    let o = threadkit(&["report", threads.to_str().unwrap(), "--out", page.to_str().unwrap(), "-q"]);
    assert!(o.status.code().is_some_and(|c| c < 2), "{}", String::from_utf8_lossy(&o.stderr));
    let size = std::fs::metadata(&page).unwrap().len();
    assert!(size < 20_000_000, "report is {size} bytes");
}

/// Rows 4 and 5: a template that builds huge strings or loops without end is refused on the
/// probe in a moment, once, with the template's name; it is not rendered to the budget for
/// every example.
#[test]
fn issue28_rows4_5_a_runaway_template_is_refused_once_and_quickly() {
    let tmp = tempfile::tempdir().unwrap();
    let train = tmp.path().join("t.jsonl");
    let line = r#"{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}"#;
    std::fs::write(&train, format!("{line}\n").repeat(20)).unwrap();
    let valid = fixtures().join("threads/valid");
    for (name, source) in [
        ("loop.jinja", "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"),
        ("double.jinja", "{% set ns = namespace(s='xxxxxxxx') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}"),
        ("indent.jinja", "{{ messages | tojson(indent=100000000) }}"),
        ("pad.jinja", "{{ '{:>3000000000}'.format(1) }}"),
    ] {
        let template = tmp.path().join(name);
        std::fs::write(&template, source).unwrap();
        let started = std::time::Instant::now();
        let (out, err, code) =
            stdout_of(&["validate", "--profile", "trl", train.to_str().unwrap(), "--chat-template", template.to_str().unwrap()]);
        assert_eq!(code, 2, "{name}: {out}{err}");
        assert!(err.contains(name) && err.contains("render budget"), "{name}: {err}");
        let dest = tmp.path().join("out");
        let o = threadkit(&["export", valid.to_str().unwrap(), "--profile", "trl", "--status", "all", "--quality", "off", "--out", dest.to_str().unwrap(), "--chat-template", template.to_str().unwrap(), "-q"]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{name}: {err}");
        assert!(err.contains(name) && err.contains("render budget"), "{name}: {err}");
        assert!(!dest.exists(), "{name}: nothing is written");
        assert!(started.elapsed() < std::time::Duration::from_secs(20), "{name}: {:?}", started.elapsed());
    }
}

/// Row 11: a key named twice is TK013 in training examples and in a dataset's labels and
/// manifest, and validate --data-root refuses an ambiguous labels.json instead of taking the
/// last value.
#[test]
fn issue28_row11_duplicate_keys_are_reported_everywhere_json_is_read() {
    let tmp = tempfile::tempdir().unwrap();
    let dup = r#"{"messages": [{"role": "user", "content": "hi", "content": "ho"}, {"role": "assistant", "content": "yo"}]}"#;
    let ok = r#"{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}"#;
    let jsonl = tmp.path().join("t.jsonl");
    std::fs::write(&jsonl, format!("{ok}\n{dup}\n")).unwrap();
    let json = tmp.path().join("t.json");
    std::fs::write(&json, format!("[{ok},\n{dup}]")).unwrap();
    for f in [&jsonl, &json] {
        let (out, err, code) = stdout_of(&["validate", "--profile", "trl", f.to_str().unwrap()]);
        assert_eq!(code, 1, "{out}{err}");
        assert!(out.contains("TK013") && out.contains(":2:"), "{out}");
    }

    let data = tmp.path().join("data");
    common::copy_dir(&fixtures().join("data"), &data);
    let labels_path = data.join("uci_har/labels.json");
    let text = std::fs::read_to_string(&labels_path).unwrap();
    let (open, rest) = text.split_once('{').unwrap();
    std::fs::write(&labels_path, format!("{open}{{\"train_01_0000\": [\"LAYING\"], {rest}")).unwrap();
    let (out, err, code) = stdout_of(&["dataset", "check", data.join("uci_har").to_str().unwrap()]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("TK013") && out.contains("train_01_0000"), "{out}");
    let thread = fixtures().join("threads/valid/uci_har_train_01_0000_v4_0001.json");
    let (out, err, code) = stdout_of(&["validate", thread.to_str().unwrap(), "--data-root", data.to_str().unwrap()]);
    assert_ne!(code, 0, "{out}{err}");
    assert!(format!("{out}{err}").contains("\"train_01_0000\" twice"), "{out}{err}");

    let manifest_path = data.join("mhealth/manifest.json");
    let text = std::fs::read_to_string(&manifest_path).unwrap();
    let (open, rest) = text.split_once('{').unwrap();
    std::fs::write(&manifest_path, format!("{open}{{\"dataset_name\": \"x\", {rest}")).unwrap();
    let (out, err, code) = stdout_of(&["dataset", "check", data.join("mhealth").to_str().unwrap()]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("TK013"), "{out}");
    let (out, err, code) = stdout_of(&["dataset", "info", data.join("mhealth").to_str().unwrap()]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("twice"), "{err}");
}

/// Row 16 (the rest) and row 17: a BOM in a tokenizer config or a `.ts` file is named as such;
/// a tokenizer config is read for its three keys, whatever else it holds, and a key named
/// twice there is an error too.
#[test]
fn issue28_rows16_17_tokenizer_configs_and_ts_files() {
    let tmp = tempfile::tempdir().unwrap();
    let train = tmp.path().join("t.jsonl");
    std::fs::write(&train, r#"{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}"#.to_string() + "\n").unwrap();
    let template = "{% for m in messages %}{{ bos_token }}{{ m.content }}{{ eos_token }}{% endfor %}";
    let big_table: String = (0..20_000).map(|i| format!("\"{i}\": {{\"content\": \"<tok{i}>\", \"special\": true}}")).collect::<Vec<_>>().join(",");
    let config = tmp.path().join("tokenizer_config.json");
    let cases = [
        (format!("{{\"added_tokens_decoder\": {{{big_table}}}, \"bos_token\": {{\"content\": \"<s>\"}}, \"eos_token\": \"</s>\", \"chat_template\": {}}}", serde_json::json!(template)), 0, ""),
        (format!("\u{feff}{{\"chat_template\": {}}}", serde_json::json!(template)), 2, "byte-order mark (BOM)"),
        (format!("{{\"chat_template\": {0}, \"chat_template\": {0}}}", serde_json::json!(template)), 2, "duplicate field"),
        ("{\"bos_token\": \"<s>\"}".to_string(), 2, "no `chat_template`"),
    ];
    for (text, expected, says) in cases {
        std::fs::write(&config, &text).unwrap();
        let (out, err, code) = stdout_of(&["validate", "--profile", "trl", train.to_str().unwrap(), "--chat-template", config.to_str().unwrap()]);
        assert_eq!(code, expected, "{out}{err}");
        assert!(err.contains(says), "{err}");
    }

    let ts = tmp.path().join("bom.ts");
    let text = std::fs::read_to_string(fixtures().join("uea/BasicMotions_TEST.ts")).unwrap();
    std::fs::write(&ts, format!("\u{feff}{text}")).unwrap();
    let (out, err, code) = stdout_of(&["dataset", "import", "--from", "uea-ts", "--sampling-rate-hz", "10", ts.to_str().unwrap(), "--out", tmp.path().join("ds").to_str().unwrap()]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("byte-order mark (BOM)"), "{err}");
}

/// Reports and export manifests edited out of shape (a node of any kind where another was):
/// `merge` gives a result or an error naming the file, never a panic. Each round replaces nodes
/// of real shard reports of the fixtures, the way a hand edit or a broken writer would.
#[test]
fn mutated_shard_reports_never_panic_merge() {
    use serde_json::json;
    let tmp = tempfile::tempdir().unwrap();
    let threads = fixtures().join("threads/valid");
    let mut pairs: Vec<[serde_json::Value; 2]> = Vec::new();
    for command in ["validate", "stats", "quality"] {
        let pair = ["1/2", "2/2"].map(|shard| {
            let out = threadkit(&[command, threads.to_str().unwrap(), "--shard", shard, "--format", "json"]);
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{command} --shard {shard}: {e}"))
        });
        pairs.push(pair);
    }
    let manifests = ["1/2", "2/2"].map(|shard| {
        let out = tmp.path().join(format!("e{}", &shard[..1]));
        let run = threadkit(&["export", threads.to_str().unwrap(), "--profile", "llama-factory", "--shard", shard, "--out", out.to_str().unwrap()]);
        assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
        serde_json::from_slice(&std::fs::read(out.join("export.json")).unwrap()).unwrap()
    });
    pairs.push(manifests);
    let mut next = xorshift(0x9e37_79b9_7f4a_7c15u64);
    let odd = [json!(null), json!(-1), json!(1.5), json!(u64::MAX), json!("x"), json!([]), json!({}), json!([1, 2]), json!(true)];
    for round in 0..1500 {
        let kind = (next() as usize) % pairs.len();
        let mut reports = pairs[kind].clone();
        let which = (next() % 2) as usize;
        for _ in 0..(1 + next() % 3) {
            // Down a random path; the node there becomes one of another kind.
            let mut node = &mut reports[which];
            for _ in 0..(next() % 7) {
                let children = match node {
                    serde_json::Value::Object(o) if !o.is_empty() => o.len(),
                    serde_json::Value::Array(a) if !a.is_empty() => a.len(),
                    _ => break,
                };
                let i = (next() as usize) % children;
                node = match node {
                    serde_json::Value::Object(o) => o.values_mut().nth(i).unwrap(),
                    serde_json::Value::Array(a) => &mut a[i],
                    _ => unreachable!(),
                };
            }
            *node = odd[(next() as usize) % odd.len()].clone();
        }
        let (dir, to) = (tmp.path(), tmp.path().join(format!("merged{round}.json")));
        let inputs = reports
            .iter()
            .enumerate()
            .map(|(i, r)| {
                // The export's parts are merged from their folders (their files are checked there).
                let at = dir.join(format!("e{}", i + 1)).join(if kind == 3 { "export.json".to_string() } else { format!("r{i}.json") });
                std::fs::write(&at, serde_json::to_vec(r).unwrap()).unwrap();
                threadkit::merge::Input::open(&at).unwrap()
            })
            .collect();
        let mut out = Vec::new();
        let merged = threadkit::merge::merge(inputs, round % 4 == 0, Some(&to), &mut out);
        if let Err(e) = merged {
            assert!(e.contains(".json"), "round {round}: an error names the file: {e}");
        }
    }

    // A part's dataset_info.json whose entry is not an object, its manifest made to agree.
    let mut manifest = pairs[3][0].clone();
    let info = b"{\"threadkit_train\": 5}\n";
    std::fs::write(tmp.path().join("e1/dataset_info.json"), info).unwrap();
    for f in manifest["files"].as_array_mut().unwrap().iter_mut().filter(|f| f["path"] == "dataset_info.json") {
        f["sha256"] = json!(threadkit::export::sink::sha256_hex(info));
        f["bytes"] = json!(info.len());
    }
    std::fs::write(tmp.path().join("e1/export.json"), serde_json::to_vec(&manifest).unwrap()).unwrap();
    std::fs::write(tmp.path().join("e2/export.json"), serde_json::to_vec(&pairs[3][1]).unwrap()).unwrap();
    let inputs = ["e1", "e2"].iter().map(|e| threadkit::merge::Input::open(&tmp.path().join(e).join("export.json")).unwrap()).collect();
    let e = threadkit::merge::merge(inputs, false, Some(&tmp.path().join("merged.json")), &mut Vec::new()).expect_err("refused");
    assert!(e.contains("dataset_info.json: threadkit_train is not a dataset entry"), "{e}");
}
