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
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
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
        let rec = threadkit::source::RecordText { record: if round % 5 == 0 { Some(1) } else { None }, text };
        let report = threadkit::validate::validate_record(rec, Some("x"), &settings);
        let file = threadkit::findings::FileReport { path: "fuzz.json".into(), records: vec![report], stamp: None };
        let _ = renderer.file(&file);
        let _ = threadkit::report::json::entries(&file);
    }
}
