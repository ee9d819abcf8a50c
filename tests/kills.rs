//! The kill harness: every command that writes (migrate, validate --fix, export, dataset
//! import, generate) is killed with SIGKILL at random moments, and after each kill the files
//! must be whole — each one old or new, never half-written — and a rerun must finish the job.
//!
//! CI runs a few kills per command. For the full run:
//!     THREADKIT_KILLS=200 cargo test --release --test kills -- --nocapture
//! It prints `N kills, 0 inconsistencies` per command.
#![allow(clippy::print_stderr, reason = "how many kills landed is reported for the closing note")]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{copy_dir, fixtures, root, Endpoint};
use serde_json::Value;

fn kills() -> usize {
    std::env::var("THREADKIT_KILLS").ok().and_then(|v| v.parse().ok()).unwrap_or(6)
}

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_threadkit"));
    c.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    c
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// How long the command takes uninterrupted, to spread the kills over its whole run.
fn duration_of(mut c: Command) -> Duration {
    let t = Instant::now();
    let st = c.status().unwrap();
    assert!(st.code().is_some_and(|c| c <= 1), "{c:?}: {st}");
    t.elapsed()
}

/// Start `c`, kill it after a random part of `span`. Returns whether it was still running.
fn kill_during(mut c: Command, span: Duration, rng: &mut fastrand::Rng) -> bool {
    let mut child = c.spawn().unwrap();
    let wait = span.mul_f64(rng.f64() * 1.1);
    std::thread::sleep(wait);
    let running = child.try_wait().unwrap().is_none();
    let _ = child.kill();
    child.wait().unwrap();
    running
}

fn temporaries(dir: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_str().is_some_and(|n| n.starts_with(".threadkit-tmp")))
        .map(|e| e.path().to_path_buf())
        .collect()
}

fn report(what: &str, n: usize, bad: &[String]) {
    eprintln!("{what}: {n} kills, {} inconsistencies", bad.len());
    assert!(bad.is_empty(), "{what}: {bad:#?}");
}

/// A corpus of legacy threads, many copies, so that a run lasts long enough to be killed.
fn legacy_corpus(dir: &Path, copies: usize) -> Vec<(String, Vec<u8>)> {
    let mut originals = Vec::new();
    for e in std::fs::read_dir(fixtures().join("threads/legacy")).unwrap() {
        let p = e.unwrap().path();
        let text = std::fs::read_to_string(&p).unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        let Some(old) = v.get("thread_id").and_then(Value::as_str).map(str::to_string) else { continue };
        for k in 0..copies {
            let id = old.replace("_v3_", &format!("_k{k:03}_v3_"));
            let mut t = v.clone();
            t["thread_id"] = Value::from(id.clone());
            let bytes = serde_json::to_vec_pretty(&t).unwrap();
            std::fs::write(dir.join(format!("{id}.json")), &bytes).unwrap();
            originals.push((id, bytes));
        }
    }
    originals
}

#[test]
fn migrate_killed_anywhere_loses_nothing_and_a_rerun_finishes() {
    let mut rng = fastrand::Rng::with_seed(1);
    let mut bad = Vec::new();
    let mut n = 0;
    let span = {
        let tmp = tempfile::tempdir().unwrap();
        let t = tmp.path().join("threads");
        std::fs::create_dir_all(&t).unwrap();
        legacy_corpus(&t, 40);
        let mut c = bin();
        c.args(["migrate", s(&t), "--data-root", s(&fixtures().join("data"))]);
        duration_of(c)
    };
    for round in 0..kills() {
        let tmp = tempfile::tempdir().unwrap();
        let t = tmp.path().join("threads");
        std::fs::create_dir_all(&t).unwrap();
        let originals = legacy_corpus(&t, 40);
        let mut c = bin();
        c.args(["migrate", s(&t), "--data-root", s(&fixtures().join("data"))]);
        n += usize::from(kill_during(c, span, &mut rng));
        // After the kill: every original is in the tree or in the backup, byte for byte.
        let backup = tmp.path().join("threads_v3_backup");
        for (id, bytes) in &originals {
            let name = format!("{id}.json");
            let here = std::fs::read(t.join(&name)).ok();
            let there = std::fs::read(backup.join(&name)).ok();
            if here.as_ref() != Some(bytes) && there.as_ref() != Some(bytes) {
                bad.push(format!("round {round}: {name} lost"));
            }
            let converted = t.join(format!("{}.json", id.replace("_v3_", "_v4_")));
            if converted.exists() {
                let ok = std::fs::read(&converted).ok().and_then(|b| serde_json::from_slice::<Value>(&b).ok()).is_some();
                if !ok {
                    bad.push(format!("round {round}: {} half-written", converted.display()));
                }
            }
        }
        // A rerun finishes the job: every thread converted once, every original backed up.
        let mut c = bin();
        c.args(["migrate", s(&t), "--data-root", s(&fixtures().join("data"))]);
        let st = c.status().unwrap();
        if !st.success() {
            bad.push(format!("round {round}: the rerun failed ({st})"));
        }
        for (id, bytes) in &originals {
            if std::fs::read(backup.join(format!("{id}.json"))).ok().as_ref() != Some(bytes) {
                bad.push(format!("round {round}: {id} not in the backup after the rerun"));
            }
            if !t.join(format!("{}.json", id.replace("_v3_", "_v4_"))).is_file() {
                bad.push(format!("round {round}: {id} not converted after the rerun"));
            }
        }
        if !temporaries(tmp.path()).is_empty() {
            bad.push(format!("round {round}: temporaries left: {:?}", temporaries(tmp.path())));
        }
    }
    report("migrate", n, &bad);
}

#[test]
fn fix_killed_anywhere_leaves_each_file_old_or_fixed() {
    let mut rng = fastrand::Rng::with_seed(2);
    let mut bad = Vec::new();
    let mut n = 0;
    let dir = fixtures().join("threads/rules/TK205-tool-arguments-not-json-string");
    let src = std::fs::read_dir(&dir).unwrap().next().unwrap().unwrap().path();
    let original = std::fs::read_to_string(&src).unwrap();
    let make = |t: &Path| {
        std::fs::create_dir_all(t).unwrap();
        let v: Value = serde_json::from_str(&original).unwrap();
        let mut lines = String::new();
        for k in 0..3000 {
            let mut x = v.clone();
            x["id"] = Value::from(format!("t{k:05}"));
            lines.push_str(&serde_json::to_string(&x).unwrap());
            lines.push('\n');
        }
        std::fs::write(t.join("all.jsonl"), &lines).unwrap();
        lines
    };
    let fixed = {
        let tmp = tempfile::tempdir().unwrap();
        make(tmp.path());
        let mut c = bin();
        c.args(["validate", s(tmp.path()), "--fix", "-q"]);
        let span = duration_of(c);
        (std::fs::read(tmp.path().join("all.jsonl")).unwrap(), span)
    };
    for round in 0..kills() {
        let tmp = tempfile::tempdir().unwrap();
        let old = make(tmp.path());
        let mut c = bin();
        c.args(["validate", s(tmp.path()), "--fix", "-q"]);
        n += usize::from(kill_during(c, fixed.1, &mut rng));
        let now = std::fs::read(tmp.path().join("all.jsonl")).unwrap();
        if now != old.as_bytes() && now != fixed.0 {
            bad.push(format!("round {round}: the file is neither the old nor the fixed one"));
        }
    }
    report("validate --fix", n, &bad);
}

/// Every file an export lists is there with its hash: the export is whole.
fn export_is_whole(out: &Path) -> Result<(), String> {
    let manifest: Value = serde_json::from_slice(&std::fs::read(out.join("export.json")).map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    for f in manifest["files"].as_array().unwrap() {
        let p = out.join(f["path"].as_str().unwrap());
        let bytes = std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        let hash: String = sha2::Digest::finalize(<sha2::Sha256 as sha2::Digest>::new_with_prefix(&bytes))
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if hash != f["sha256"].as_str().unwrap() {
            return Err(format!("{} does not match export.json", p.display()));
        }
    }
    Ok(())
}

#[test]
fn export_killed_anywhere_leaves_the_old_export_or_the_new_one() {
    let mut rng = fastrand::Rng::with_seed(3);
    let mut bad = Vec::new();
    let mut n = 0;
    let tmp = tempfile::tempdir().unwrap();
    let corpus = tmp.path().join("corpus");
    for k in 0..60 {
        copy_dir(&fixtures().join("threads/valid"), &corpus.join(format!("c{k:02}")));
    }
    // Duplicate ids across copies are skipped by export; that is fine for this purpose.
    let out = tmp.path().join("exp");
    let args = |split: &str| -> Command {
        let mut c = bin();
        c.args(["export", s(&corpus), "--status", "all", "--profile", "trl", "--out", s(&out), "-q"])
            .args(["--split", split, "--shard-size", "1"]);
        c
    };
    let span = duration_of(args("train=0.5,val=0.5"));
    for round in 0..kills() {
        let split = if round % 2 == 0 { "train=0.9,val=0.1" } else { "train=0.5,val=0.5" };
        n += usize::from(kill_during(args(split), span, &mut rng));
        if let Err(e) = export_is_whole(&out) {
            bad.push(format!("round {round}: {e}"));
        }
    }
    let st = args("train=0.9,val=0.1").status().unwrap();
    assert!(st.code().is_some_and(|c| c <= 1));
    if let Err(e) = export_is_whole(&out) {
        bad.push(format!("final: {e}"));
    }
    if !temporaries(tmp.path()).is_empty() {
        bad.push(format!("temporaries left: {:?}", temporaries(tmp.path())));
    }
    report("export", n, &bad);
}

#[test]
fn import_killed_anywhere_leaves_no_partial_dataset() {
    let mut rng = fastrand::Rng::with_seed(4);
    let mut bad = Vec::new();
    let mut n = 0;
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("bm");
    let uea = fixtures().join("uea");
    let cmd = || {
        let mut c = bin();
        c.args(["dataset", "import", "--from", "uea-ts"])
            .arg(uea.join("BasicMotions_TRAIN.ts"))
            .arg(uea.join("BasicMotions_TEST.ts"))
            .args(["--out", s(&out), "--sampling-rate-hz", "10", "--force"]);
        c
    };
    let span = duration_of(cmd());
    for round in 0..kills() {
        n += usize::from(kill_during(cmd(), span, &mut rng));
        let labels: Option<Value> =
            std::fs::read(out.join("labels.json")).ok().and_then(|b| serde_json::from_slice(&b).ok());
        match labels {
            None if !out.exists() => {}
            None => bad.push(format!("round {round}: a dataset folder without labels")),
            Some(l) => {
                for sess in l.as_object().unwrap().keys() {
                    if !out.join("sessions").join(sess).join("data.parquet").is_file() {
                        bad.push(format!("round {round}: session {sess} missing"));
                    }
                }
            }
        }
    }
    assert!(cmd().status().unwrap().success());
    if !temporaries(tmp.path()).is_empty() {
        bad.push(format!("temporaries left: {:?}", temporaries(tmp.path())));
    }
    report("dataset import", n, &bad);
}

#[test]
fn generate_killed_anywhere_leaves_valid_threads_and_continue_finishes_them() {
    let mut rng = fastrand::Rng::with_seed(5);
    let mut bad = Vec::new();
    let mut n = 0;
    let tmp = tempfile::tempdir().unwrap();
    let endpoint = Endpoint::start(tmp.path(), &["--no-errors", "--latency-ms", "30"]);
    let threads = tmp.path().join("threads");
    let gen = |args: &[&str]| {
        let mut c = bin();
        c.current_dir(root())
            .env("THREADKIT_CACHE_DIR", tmp.path().join("cache"))
            .env("OPENAI_API_KEY", "sk-test-secret-key")
            .arg("generate")
            .args(args)
            .args(["--data-root", s(&fixtures().join("datasets")), "--threads-dir", s(&threads)])
            .args(["--base-url", &endpoint.url, "--model", "scripted", "--structured", "json_object", "--batch"]);
        c
    };
    let span = duration_of(gen(&["new", "--count", "3", "--parallel", "3", "--seed", "100"]));
    for round in 0..kills() {
        let seed = (200 + round).to_string();
        n += usize::from(kill_during(gen(&["new", "--count", "3", "--parallel", "3", "--seed", &seed]), span, &mut rng));
        let o = Command::new(env!("CARGO_BIN_EXE_threadkit"))
            .args(["validate", s(&threads), "--data-root", s(&fixtures().join("datasets")), "-q"])
            .output()
            .unwrap();
        if !o.status.success() {
            bad.push(format!("round {round}: {}", String::from_utf8_lossy(&o.stdout)));
        }
    }
    let st = gen(&["continue"]).status().unwrap();
    assert!(st.code().is_some_and(|c| c <= 1), "{st}");
    if !temporaries(&threads).is_empty() {
        bad.push(format!("temporaries left: {:?}", temporaries(&threads)));
    }
    for e in std::fs::read_dir(&threads).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "json") {
            let v: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
            if v["metadata"]["status"] == "active" {
                bad.push(format!("{} still active after continue", p.display()));
            }
        }
    }
    report("generate", n, &bad);
}
