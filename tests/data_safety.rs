//! Never lose a user's data: one regression test per way the audit lost, hung or leaked
//! something (the numbers are the issue's), each failing on the code before the fix.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{copy_dir, fixtures, threadkit, Endpoint};
use serde_json::Value;

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn tk(args: &[&str]) -> Output {
    threadkit(args)
}

/// `threadkit migrate ARGS --data-root fixtures/data` (two legacy fixtures carry no manifest).
fn migrate(args: &[&str]) -> Output {
    let data = fixtures().join("data");
    let mut all = vec!["migrate"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--data-root", data.to_str().unwrap()]);
    threadkit(&all)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Every regular file below `dir`, relative, with its bytes.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out: Vec<(PathBuf, Vec<u8>)> = walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| (e.path().strip_prefix(dir).unwrap().to_path_buf(), std::fs::read(e.path()).unwrap()))
        .collect();
    out.sort();
    out
}

fn legacy_tree(dir: &Path) -> PathBuf {
    let t = dir.join("threads");
    copy_dir(&fixtures().join("threads/legacy"), &t);
    t
}

fn legacy_count(dir: &Path) -> usize {
    snapshot(dir).len()
}

// ---- 1. a backup folder that is the source -------------------------------------------------

#[test]
fn issue10_1_backup_dir_equal_to_the_source_is_refused_and_nothing_is_deleted() {
    let tmp = tempfile::tempdir().unwrap();
    let t = legacy_tree(tmp.path());
    let before = snapshot(&t);
    for extra in [&["--backup-only"][..], &[]] {
        let mut args = vec![s(&t), "--backup-dir", s(&t)];
        args.extend_from_slice(extra);
        let o = migrate(&args);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(text(&o).contains("is the folder being migrated"), "{}", text(&o));
        assert_eq!(snapshot(&t), before, "every original is still there, unchanged");
    }
    // The same folder reached by another spelling, and a backup folder that holds the source.
    let other = format!("{}/../threads/.", t.display());
    let o = migrate(&[s(&t), "--backup-dir", &other, "--backup-only"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = migrate(&[s(&t), "--backup-dir", s(tmp.path()), "--backup-only"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("contains the folder being migrated"), "{}", text(&o));
    assert_eq!(snapshot(&t), before);
}

// ---- 2. a backup folder inside the tree, run twice -------------------------------------------

#[test]
fn issue10_2_a_backup_folder_inside_the_tree_is_never_walked() {
    let tmp = tempfile::tempdir().unwrap();
    let t = legacy_tree(tmp.path());
    let n = legacy_count(&t);
    let bk = t.join("bk");
    let o = migrate(&[s(&t), "--backup-dir", s(&bk)]);
    let first = text(&o);
    let backups = snapshot(&bk);
    assert_eq!(backups.len(), n, "{first}");
    let converted: Vec<PathBuf> = snapshot(&t).into_iter().map(|(p, _)| p).filter(|p| !p.starts_with("bk")).collect();
    let o = migrate(&[s(&t), "--backup-dir", s(&bk)]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("Converted 0, moved 0"), "{}", text(&o));
    assert_eq!(snapshot(&bk), backups, "the backups are untouched by the second run");
    let again: Vec<PathBuf> = snapshot(&t).into_iter().map(|(p, _)| p).filter(|p| !p.starts_with("bk")).collect();
    assert_eq!(again, converted, "every thread converted exactly once");
}

// ---- 3. two sources, one backup name ---------------------------------------------------------

#[test]
fn issue10_3_two_originals_with_one_backup_name_never_overwrite_each_other() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let name = "uci_har_train_01_0051_v3_0042.json";
    copy_dir(&fixtures().join("threads/legacy"), &a);
    std::fs::create_dir_all(&b).unwrap();
    // Same name, other content: the other copy has a different query.
    let mut other: Value = serde_json::from_slice(&std::fs::read(a.join(name)).unwrap()).unwrap();
    other["initial_context"]["user_query"] = Value::from("A different question?");
    std::fs::write(b.join(name), serde_json::to_string_pretty(&other).unwrap()).unwrap();
    let (ta, tb) = (std::fs::read(a.join(name)).unwrap(), std::fs::read(b.join(name)).unwrap());
    let bk = tmp.path().join("bk");
    let o = migrate(&[s(&a), s(&b), "--backup-dir", s(&bk), "--backup-only"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("is also where"), "{}", text(&o));
    let kept: Vec<Vec<u8>> = [bk.join(name), b.join(name)].iter().filter_map(|p| std::fs::read(p).ok()).collect();
    assert!(kept.contains(&ta) && kept.contains(&tb), "both originals exist somewhere");
}

// ---- 4. validate --fix while another program edits -------------------------------------------

/// A thread with one fixable finding (arguments as an object: TK205), with a given id.
fn fixable_thread(id: &str) -> Value {
    let dir = fixtures().join("threads/rules/TK205-tool-arguments-not-json-string");
    let f = std::fs::read_dir(dir).unwrap().next().unwrap().unwrap().path();
    let mut t: Value = serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap();
    t["id"] = Value::from(id);
    t
}

fn ids_in_jsonl(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn issue10_4_fix_never_writes_over_a_file_that_changed_since_it_was_read() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("threads.jsonl");
    let line = |i: usize| serde_json::to_string(&fixable_thread(&format!("t{i:05}"))).unwrap();
    // Version v holds records t{v}, t{v-1}, …, t0: each new version shifts every line down.
    let write_version = |v: usize| {
        let body: String = (0..=v).rev().map(|i| line(i) + "\n").collect();
        threadkit::write::atomic_write(&path, body.as_bytes()).unwrap();
    };
    write_version(0);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let path = path.clone();
        std::thread::spawn(move || {
            let mut v = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && v < 400 {
                v += 1;
                let body: String = (0..=v)
                    .rev()
                    .map(|i| serde_json::to_string(&fixable_thread(&format!("t{i:05}"))).unwrap() + "\n")
                    .collect();
                threadkit::write::atomic_write(&path, body.as_bytes()).unwrap();
                std::thread::sleep(Duration::from_millis(3));
            }
            v
        })
    };
    let mut skipped = 0;
    for _ in 0..15 {
        let o = tk(&["validate", s(&path), "--fix", "-q"]);
        skipped += usize::from(text(&o).contains("TK012"));
        // Whatever the interleaving, the file is always one whole version: every id once.
        let ids = ids_in_jsonl(&path);
        let n = ids.len();
        let expected: Vec<String> = (0..n).rev().map(|i| format!("t{i:05}")).collect();
        assert_eq!(ids, expected, "records lost or duplicated");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let last = writer.join().unwrap();
    let _ = write_version;
    assert!(skipped > 0, "the race was never hit; the test proves nothing");
    // With nobody writing, the fix goes through.
    let o = tk(&["validate", s(&path), "--fix"]);
    assert!(!text(&o).contains("TK012"), "{}", text(&o));
    assert_eq!(ids_in_jsonl(&path).len(), last + 1);
    assert!(!std::fs::read_to_string(&path).unwrap().contains("\"arguments\": {"), "fixed");
}

#[test]
fn issue10_4_a_json_file_edited_during_the_fix_keeps_the_edit() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("t.json");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut t = fixable_thread("t");
    t["metadata"]["user_edit"] = Value::from(0);
    threadkit::write::atomic_write(&path, serde_json::to_string_pretty(&t).unwrap().as_bytes()).unwrap();
    let latest = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let writer = {
        let (stop, path, mut t, latest) = (stop.clone(), path.clone(), t.clone(), latest.clone());
        std::thread::spawn(move || {
            let mut v = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                v += 1;
                t["metadata"]["user_edit"] = Value::from(v);
                threadkit::write::atomic_write(&path, serde_json::to_string_pretty(&t).unwrap().as_bytes()).unwrap();
                latest.store(v, std::sync::atomic::Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(2));
            }
            v
        })
    };
    let mut reverted = 0;
    for _ in 0..20 {
        tk(&["validate", s(&path), "--fix", "-q"]);
        // The fixer has exited: the file holds the editor's latest save or a newer one,
        // never an older version put back by the fix.
        let saved_before = latest.load(std::sync::atomic::Ordering::SeqCst);
        let now: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        reverted += usize::from(now["metadata"]["user_edit"].as_u64().unwrap() < saved_before);
    }
    assert_eq!(reverted, 0, "the fix put back an older version of the file");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let last = writer.join().unwrap();
    let now: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(now["metadata"]["user_edit"], last, "the editor's last save was reverted by the fix");
}

// ---- 5. and 6. exports into a used folder, and beside their inputs ----------------------------

fn export(args: &[&str]) -> Output {
    let mut all = vec!["export", "-q"];
    all.extend_from_slice(args);
    tk(&all)
}

#[test]
fn issue10_5_a_new_export_replaces_the_previous_one_whole_and_never_mixes_with_it() {
    let tmp = tempfile::tempdir().unwrap();
    let valid = fixtures().join("threads/valid");
    let out = tmp.path().join("exp");
    let o = export(&[s(&valid), "--status", "all", "--profile", "trl", "--out", s(&out), "--split", "train=0.5,val=0.5", "--shard-size", "1"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(out.join("val").is_dir());
    let o = export(&[s(&valid), "--status", "all", "--profile", "trl", "--out", s(&out)]);
    assert!(o.status.success(), "{}", text(&o));
    let files: Vec<PathBuf> = snapshot(&out).into_iter().map(|(p, _)| p).collect();
    assert_eq!(files, [PathBuf::from("export.json"), PathBuf::from("train.jsonl")], "no shard or split of the first export is left");
    // A file the user put there: refused, and kept with --force.
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    let o = export(&[s(&valid), "--status", "all", "--profile", "trl", "--out", s(&out)]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("notes.txt") && text(&o).contains("--force"), "{}", text(&o));
    let o = export(&[s(&valid), "--status", "all", "--profile", "trl", "--out", s(&out), "--force"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(std::fs::read_to_string(out.join("notes.txt")).unwrap(), "mine");
    let leftovers = common::temporaries_in(tmp.path());
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn issue10_6_an_archive_written_beside_its_inputs_still_exports_them() {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&fixtures().join("threads/valid"), tmp.path());
    let export_here = || -> Value {
        let o = Command::new(env!("CARGO_BIN_EXE_threadkit"))
            .current_dir(tmp.path())
            .args(["export", ".", "--profile", "raw", "--out", "archive.jsonl.gz", "--status", "all", "-q", "--quality", "off"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        serde_json::from_slice(&std::fs::read(tmp.path().join("archive.jsonl.gz.export.json")).unwrap()).unwrap()
    };
    let manifest = export_here();
    assert_eq!(manifest["counts"]["exported"], 7, "{manifest}");
    // Run again: its own archive is not read as input.
    assert_eq!(export_here()["counts"]["input_threads"], 7);
}

/// A disk that fills while an export runs (here a file-size limit, which fails writes the
/// same way without needing a small filesystem): the previous export stays whole, nothing is
/// left beside it, and the error names the folder and what to do.
#[test]
fn an_export_that_runs_out_of_room_leaves_the_previous_one_and_says_where() {
    let tmp = tempfile::tempdir().unwrap();
    let valid = fixtures().join("threads/valid");
    let out = tmp.path().join("exp");
    let o = export(&[s(&valid), "--status", "all", "--profile", "trl", "--out", s(&out)]);
    assert!(o.status.success(), "{}", text(&o));
    let before = snapshot(&out);
    let data: usize = before.iter().filter(|(p, _)| p.extension().is_some_and(|e| e == "jsonl")).map(|(_, b)| b.len()).sum();
    // `ulimit -f` counts blocks of 512 or 1,024 bytes (shells differ): either way below the
    // data, so the spool cannot hold it. SIGXFSZ ignored: the write fails instead of killing.
    let blocks = (data / 4 / 512).to_string();
    let o = Command::new("sh")
        .args(["-c", "trap '' XFSZ; ulimit -f \"$1\"; shift; exec \"$@\"", "sh", &blocks, env!("CARGO_BIN_EXE_threadkit")])
        .args(["export", s(&valid), "--status", "all", "--profile", "openai", "--out", s(&out), "-q"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let said = text(&o);
    assert!(said.contains(s(&out)) && said.contains("left as they were") && said.contains("free space"), "{said}");
    assert!(snapshot(&out) == before, "the previous export changed");
    let leftovers = common::temporaries_in(tmp.path());
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// `threadkit ARGS` with files limited to one block: every write of a thread fails as on a full
/// disk (SIGXFSZ ignored, so the write fails instead of killing).
fn tk_with_no_room(args: &[&str]) -> Output {
    Command::new("sh")
        .args(["-c", "trap '' XFSZ; ulimit -f 1; exec \"$@\"", "sh", env!("CARGO_BIN_EXE_threadkit")])
        .args(args)
        .output()
        .unwrap()
}

/// Writes that fail part-way (the disk full): the originals stay, nothing is left beside them,
/// the error names the file the user has (not a random temporary), the summary says the fix was
/// not written rather than advising the `--fix` just run, and the same command works once
/// there is room.
#[test]
fn fix_and_migrate_without_room_keep_the_originals_and_say_so() {
    let tmp = tempfile::tempdir().unwrap();
    let fixable = tmp.path().join("fixable");
    copy_dir(&fixtures().join("threads/rules/TK401-metadata-counts"), &fixable);
    let before = snapshot(&fixable);
    let o = tk_with_no_room(&["validate", "--fix", s(&fixable), "--color", "never"]);
    let said = text(&o);
    assert_eq!(o.status.code(), Some(2), "{said}");
    assert!(said.contains("cannot write the fixed file") && said.contains("the original is unchanged"), "{said}");
    assert!(!said.contains(".threadkit-tmp"), "the error names a temporary: {said}");
    assert!(said.contains("1 fixable finding left unfixed: its file was not written"), "{said}");
    assert!(!said.contains("run again with --fix (or"), "{said}");
    assert!(snapshot(&fixable) == before, "a file changed");
    assert!(common::temporaries_in(tmp.path()).is_empty());
    let o = tk(&["validate", "--fix", s(&fixable), "--color", "never"]);
    assert!(o.status.success() && text(&o).contains("Fixed 1 finding."), "{}", text(&o));

    let legacy = legacy_tree(tmp.path());
    let before = snapshot(&legacy);
    let data = fixtures().join("data");
    let o = tk_with_no_room(&["migrate", s(&legacy), "--data-root", s(&data)]);
    let said = text(&o);
    assert_eq!(o.status.code(), Some(1), "{said}");
    assert!(said.contains("cannot write") && said.contains("the original is unchanged"), "{said}");
    assert!(!said.contains(".threadkit-tmp"), "the error names a temporary: {said}");
    assert!(snapshot(&legacy) == before, "a file changed");
    assert!(common::temporaries_in(tmp.path()).is_empty());
    let o = migrate(&[s(&legacy)]);
    assert!(o.status.success(), "{}", text(&o));
}

// ---- 7. two generators with one seed -----------------------------------------------------------

fn generate(dir: &Path, endpoint: &Endpoint, args: &[&str]) -> Command {
    let mut c = common::generate_cmd(dir, &endpoint.url, args);
    c.stdin(Stdio::null());
    c
}

#[test]
fn issue10_7_two_runs_with_one_seed_never_overwrite_each_other() {
    let tmp = tempfile::tempdir().unwrap();
    let endpoint = Endpoint::start(tmp.path(), &["--no-errors", "--latency-ms", "60"]);
    // Started together, both pick the same ids before either has saved anything.
    let args = ["new", "--count", "3", "--seed", "1", "--batch", "--parallel", "1"];
    let a = generate(tmp.path(), &endpoint, &args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let b = generate(tmp.path(), &endpoint, &args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(a.status.success(), "{}", text(&a));
    assert!(b.status.success(), "{}", text(&b));
    let threads: Vec<Value> = snapshot(&tmp.path().join("threads"))
        .into_iter()
        // Threads only: not the budget's ledger in the hidden `.threadkit/`.
        .filter(|(p, _)| p.extension().is_some_and(|e| e == "json") && !p.components().any(|c| c.as_os_str() == ".threadkit"))
        .map(|(_, b)| serde_json::from_slice(&b).unwrap())
        .collect();
    assert_eq!(threads.len(), 6, "six threads, none replaced");
    assert!(threads.iter().all(|t| t["metadata"]["status"] == "finished"));
}

// ---- 8. an import killed half-way ---------------------------------------------------------------

fn import_cmd(out: &Path, force: bool) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_threadkit"));
    let uea = fixtures().join("uea");
    c.args(["dataset", "import", "--from", "uea-ts"])
        .arg(uea.join("BasicMotions_TRAIN.ts"))
        .arg(uea.join("BasicMotions_TEST.ts"))
        .args(["--out", s(out), "--sampling-rate-hz", "10"]);
    if force {
        c.arg("--force");
    }
    c.stdout(Stdio::null()).stderr(Stdio::null());
    c
}

/// A dataset folder is either absent or complete: manifest, labels, and data for every label.
fn dataset_state(out: &Path) -> Result<usize, String> {
    if !out.exists() {
        return Ok(0);
    }
    let labels: Value = serde_json::from_slice(&std::fs::read(out.join("labels.json")).map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    std::fs::read(out.join("manifest.json")).map_err(|e| format!("manifest: {e}"))?;
    let sessions = labels.as_object().unwrap();
    for s in sessions.keys() {
        if !out.join("sessions").join(s).join("data.parquet").is_file() {
            return Err(format!("session {s} missing"));
        }
    }
    Ok(sessions.len())
}

#[test]
fn issue10_8_a_killed_import_leaves_no_partial_dataset_and_no_temporaries() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("basic_motions");
    let mut kills = 0;
    for delay_ms in [0u64, 2, 5, 10, 20, 40, 80] {
        let mut child = import_cmd(&out, true).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            kills += 1;
        }
        child.wait().unwrap();
        dataset_state(&out).unwrap_or_else(|e| panic!("after a kill at {delay_ms} ms: {e}"));
    }
    assert!(kills > 0);
    assert!(import_cmd(&out, true).status().unwrap().success());
    assert_eq!(dataset_state(&out).unwrap(), 80);
    let leftovers = common::temporaries_in(tmp.path());
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // Over an existing dataset without --force: refused, nothing changed.
    let before = snapshot(&out);
    let o = import_cmd(&out, false).stderr(Stdio::piped()).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("--force"), "{}", text(&o));
    assert_eq!(snapshot(&out), before);
}

// ---- 9. FIFOs where files should be ---------------------------------------------------------------

#[cfg(unix)]
fn mkfifo(path: &Path) {
    let _ = std::fs::remove_file(path);
    let st = Command::new("mkfifo").arg(path).status().expect("mkfifo runs");
    assert!(st.success());
}

/// Runs the command with a hard time limit; a hang is a failure, not a stuck test.
fn within(mut c: Command, secs: u64) -> Output {
    let mut child = c.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(secs);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("{c:?} hung");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[cfg(unix)]
#[test]
fn issue10_9_a_fifo_in_place_of_an_input_is_an_error_not_a_hang() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    copy_dir(&fixtures().join("datasets"), &data);
    let ds = data.join("basic_motions");
    let session = std::fs::read_dir(ds.join("sessions")).unwrap().next().unwrap().unwrap().file_name();
    let session = session.to_str().unwrap().to_string();
    for victim in ["labels.json", "manifest.json", &format!("sessions/{session}/data.parquet")] {
        let path = ds.join(victim);
        let saved = std::fs::read(&path).unwrap();
        mkfifo(&path);
        let bin = env!("CARGO_BIN_EXE_threadkit");
        let runs: Vec<Vec<String>> = vec![
            vec!["dataset".into(), "info".into(), s(&ds).into()],
            vec!["dataset".into(), "check".into(), s(&ds).into()],
            vec!["validate".into(), s(&fixtures().join("threads/valid")).into(), "--data-root".into(), s(&data).into()],
            vec!["tools".into(), "run".into(), "show_session_stats".into(), "--data-root".into(), s(&data).into(), "--dataset".into(), "basic_motions".into(), "--session".into(), session.clone()],
        ];
        for args in runs {
            let mut c = Command::new(bin);
            c.args(&args).env("THREADKIT_CACHE_DIR", tmp.path().join("cache"));
            let o = within(c, 20);
            assert!(o.status.code().is_some(), "{args:?}");
        }
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, saved).unwrap();
    }
    // A thread swapped for a FIFO after the walk saw a file: the read says so at once.
    let fifo = tmp.path().join("swapped.json");
    mkfifo(&fifo);
    let t0 = Instant::now();
    let e = threadkit::source::read_whole(&fifo, 1 << 20).unwrap_err();
    assert_eq!(e.rule.code, "TK001", "{}", e.message);
    let mut lines = 0;
    let e = threadkit::source::for_each_line(&fifo, 1 << 20, |_| lines += 1).unwrap_err();
    assert_eq!(e.rule.code, "TK001", "{}", e.message);
    assert!(t0.elapsed() < Duration::from_secs(2));
}

// ---- 10. numeric flags -----------------------------------------------------------------------------

#[test]
fn issue10_10_out_of_range_numbers_are_usage_errors() {
    let valid = fixtures().join("threads/valid");
    for args in [
        vec!["validate", s(&valid), "--max-file-size", "18446744073709551615"],
        vec!["validate", s(&valid), "-j", "100000"],
        vec!["validate", s(&valid), "-j", "0"],
        vec!["generate", "new", "--timeout", "18446744073709551615", "--batch"],
        vec!["generate", "new", "--count", "0", "--batch"],
        vec!["generate", "new", "--parallel", "0", "--batch"],
        vec!["export", s(&valid), "--profile", "raw", "--out", "/tmp/x.jsonl", "--shard-size", "0"],
    ] {
        let o = tk(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        assert!(text(&o).contains("range") || text(&o).contains("not a"), "{args:?}: {}", text(&o));
    }
    let o = tk(&["validate", s(&valid), "--max-file-size", "64M", "-q"]);
    assert!(o.status.success(), "{}", text(&o));
    // A limit smaller than a file is a finding for that file, not an empty pass.
    let o = tk(&["validate", s(&valid), "--max-file-size", "100", "-q"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
}

// ---- 11. memory stays bounded by the limits the user sees ---------------------------------------

/// Peak resident memory (MiB) of a run, sampled from /proc while it runs.
#[cfg(target_os = "linux")]
fn peak_rss_mib(mut c: Command) -> (Output, u64) {
    let mut child = c.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak = 0u64;
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if let Ok(st) = std::fs::read_to_string(&status_path) {
            for l in st.lines().filter(|l| l.starts_with("VmHWM:")) {
                let kb: u64 = l.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0);
                peak = peak.max(kb / 1024);
            }
        }
        assert!(Instant::now() < deadline, "{c:?} took too long");
        std::thread::sleep(Duration::from_millis(5));
    }
    (child.wait_with_output().unwrap(), peak)
}

#[cfg(target_os = "linux")]
#[test]
fn issue10_11_a_huge_sparse_line_costs_no_more_than_the_line_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("sparse.jsonl");
    let f = std::fs::File::create(&path).unwrap();
    f.set_len(1 << 30).unwrap(); // 1 GiB of zeros, no newline
    drop(f);
    let mut c = Command::new(env!("CARGO_BIN_EXE_threadkit"));
    c.args(["validate", s(&path), "--max-file-size", "8M", "-q"]);
    let (o, peak) = peak_rss_mib(c);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("TK005"), "{}", text(&o));
    assert!(peak < 200, "peak RSS {peak} MiB for an 8 MiB line limit");

    // A gzip bomb: 512 MiB of zeros in well under a megabyte.
    let bomb = tmp.path().join("bomb.jsonl.gz");
    let mut gz = flate2::write::GzEncoder::new(std::fs::File::create(&bomb).unwrap(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..512 {
        std::io::Write::write_all(&mut gz, &zeros).unwrap();
    }
    gz.finish().unwrap();
    let mut c = Command::new(env!("CARGO_BIN_EXE_threadkit"));
    c.args(["validate", "--profile", "openai", s(&bomb)]);
    let (o, peak) = peak_rss_mib(c);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(peak < 200, "peak RSS {peak} MiB for a gzip bomb");
}

#[cfg(target_os = "linux")]
#[test]
fn issue10_11_a_huge_string_in_one_thread_is_skipped_before_tokenizing() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path().join("threads");
    copy_dir(&fixtures().join("threads/valid"), &t);
    let victim = t.join("uci_har_train_01_0000_v4_0001.json");
    let mut v: Value = serde_json::from_slice(&std::fs::read(&victim).unwrap()).unwrap();
    let tool = v["messages"].as_array_mut().unwrap().iter_mut().find(|m| m["role"] == "tool").unwrap();
    tool["content"] = Value::from(serde_json::json!({"blob": "A".repeat(30_000_000)}).to_string());
    std::fs::write(&victim, serde_json::to_string(&v).unwrap()).unwrap();
    let mut c = Command::new(env!("CARGO_BIN_EXE_threadkit"));
    c.args(["export", s(&t), "--profile", "trl", "--status", "all", "--out", s(&tmp.path().join("out")), "-q"]);
    let t0 = Instant::now();
    let (o, peak) = peak_rss_mib(c);
    assert!(o.status.success(), "{}", text(&o));
    assert!(t0.elapsed() < Duration::from_secs(20), "{:?}", t0.elapsed());
    assert!(peak < 600, "peak RSS {peak} MiB");
    let manifest: Value = serde_json::from_slice(&std::fs::read(tmp.path().join("out/export.json")).unwrap()).unwrap();
    assert_eq!(manifest["counts"]["skipped"]["message_too_large"], 1, "{manifest}");
}

// ---- 12. names that become paths ---------------------------------------------------------------

#[test]
fn issue10_12_session_names_never_reach_outside_the_dataset() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    copy_dir(&fixtures().join("datasets"), &data);
    let ds = data.join("basic_motions");
    // A recording outside the dataset, reachable through a hostile labels.json key.
    let outside = tmp.path().join("outside");
    let first = std::fs::read_dir(ds.join("sessions")).unwrap().next().unwrap().unwrap().path();
    copy_dir(&first, &outside.join("x"));
    let mut labels: Value = serde_json::from_slice(&std::fs::read(ds.join("labels.json")).unwrap()).unwrap();
    labels["../../../outside/x"] = serde_json::json!(["Walking"]);
    std::fs::write(ds.join("labels.json"), labels.to_string()).unwrap();
    let session = first.file_name().unwrap().to_str().unwrap().to_string();
    let o = Command::new(env!("CARGO_BIN_EXE_threadkit"))
        .env("THREADKIT_CACHE_DIR", tmp.path().join("cache"))
        .args(["tools", "run", "classify_activity", "--data-root", s(&data), "--dataset", "basic_motions", "--session", &session])
        .args(["--args", "{\"k\": 50}"])
        .output()
        .unwrap();
    assert!(!text(&o).contains("outside"), "{}", text(&o));
    // Nor did it enter the feature index that classify builds from the labelled sessions.
    for (p, bytes) in snapshot(&tmp.path().join("cache")) {
        assert!(!String::from_utf8_lossy(&bytes).contains("outside"), "{} indexes the outside recording", p.display());
    }
    let o = Command::new(env!("CARGO_BIN_EXE_threadkit"))
        .env("THREADKIT_CACHE_DIR", tmp.path().join("cache"))
        .args(["tools", "run", "show_session_stats", "--data-root", s(&data), "--dataset", "basic_motions", "--session", &session])
        .output()
        .unwrap();
    let stats: Value = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
    assert_eq!(stats["sessions_without_data"], 1, "the hostile key counts as a session without data: {}", text(&o));
}

#[cfg(target_os = "linux")]
#[test]
fn issue10_12_continue_takes_the_lock_beside_the_thread_whatever_threads_dir_says() {
    let tmp = tempfile::tempdir().unwrap();
    let endpoint = Endpoint::start(tmp.path(), &["--no-errors"]);
    // One saved, active thread: kill a slow run after its first save.
    let slow = Endpoint::start(tmp.path(), &["--no-errors", "--latency-ms", "300"]);
    let mut child = generate(tmp.path(), &slow, &["new", "--count", "1", "--seed", "5", "--batch"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let threads = tmp.path().join("threads");
    let deadline = Instant::now() + Duration::from_secs(30);
    let path = loop {
        let found = std::fs::read_dir(&threads)
            .ok()
            .and_then(|mut d| d.find_map(|e| e.ok().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "json"))));
        if let Some(p) = found {
            break p;
        }
        assert!(Instant::now() < deadline, "nothing saved");
        std::thread::sleep(Duration::from_millis(20));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    let id = path.file_stem().unwrap().to_str().unwrap().to_string();
    // Another process holds that thread's lock (flock(1) from util-linux).
    std::fs::create_dir_all(threads.join(".locks")).unwrap();
    let lock = threads.join(".locks").join(format!("{id}.lock"));
    let mut holder = Command::new("flock").arg(&lock).args(["sleep", "30"]).spawn().expect("flock runs");
    std::thread::sleep(Duration::from_millis(300));
    let elsewhere = tmp.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let before = std::fs::read(&path).unwrap();
    let sneaky = format!("../threads/{id}");
    let cont = |id: &str, threads_dir: &Path| {
        Command::new(env!("CARGO_BIN_EXE_threadkit"))
            .args(["generate", "continue", id, "--batch"])
            .args(["--data-root", s(&fixtures().join("datasets")), "--threads-dir", s(threads_dir)])
            .args(["--base-url", &endpoint.url, "--model", "scripted", "--structured", "json_object"])
            .env("OPENAI_API_KEY", "sk-test-secret-key-0042")
            .env("THREADKIT_CACHE_DIR", tmp.path().join("cache"))
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let o = cont(&sneaky, &elsewhere);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("not a thread id"), "{}", text(&o));
    // Named by its own folder, the lock is found and respected.
    let o = cont(&id, &threads);
    holder.kill().unwrap();
    holder.wait().unwrap();
    assert!(text(&o).contains("another process"), "{}", text(&o));
    assert_eq!(std::fs::read(&path).unwrap(), before, "the locked thread is untouched");
}

// ---- 13. the key never leaves ---------------------------------------------------------------

#[test]
fn issue10_13_a_server_that_echoes_the_key_never_gets_it_printed_or_saved() {
    for mode in ["no-choices", "content"] {
        let tmp = tempfile::tempdir().unwrap();
        let endpoint = Endpoint::start(tmp.path(), &["--no-errors", "--echo-auth", mode]);
        let o = generate(tmp.path(), &endpoint, &["new", "--count", "1", "--seed", "2", "--batch", "--max-retries", "0", "--http-attempts", "1"])
            .output()
            .unwrap();
        let all = text(&o);
        assert!(!all.contains("sk-test-secret-key-0042"), "{mode}: {all}");
        for (p, bytes) in snapshot(tmp.path()) {
            if p.starts_with("requests.jsonl") {
                continue;
            }
            assert!(!String::from_utf8_lossy(&bytes).contains("sk-test-secret-key-0042"), "{mode}: the key is in {}", p.display());
        }
    }
}

// ---- smaller ones ------------------------------------------------------------------------------

#[test]
fn stale_temporaries_are_cleared_by_fix_and_counts_written_as_floats_are_checked() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = fixtures().join("threads/rules/TK401-metadata-counts");
    copy_dir(&dir, tmp.path());
    let file = std::fs::read_dir(tmp.path()).unwrap().next().unwrap().unwrap().path();
    // num_tool_calls written as 1e2 / -0 / 2^64: the schema calls them integers, the count rule must too.
    let original = std::fs::read_to_string(&file).unwrap();
    let v: Value = serde_json::from_str(&original).unwrap();
    let right = v["metadata"]["num_turns"].clone();
    for weird in ["1e2", "-0", "18446744073709551616", "2.0"] {
        let text = original.replacen(&format!("\"num_turns\": {}", v["metadata"]["num_turns"]), &format!("\"num_turns\": {weird}"), 1);
        std::fs::write(&file, text).unwrap();
        let (report, _) = common::json_report(&[s(&file)]);
        let codes = common::codes(&report);
        assert!(codes.contains(&"TK401".to_string()), "{weird}: {codes:?}");
    }
    let _ = right;
    std::fs::write(tmp.path().join(".threadkit-tmp.x.json.abc.tmp"), "half").unwrap();
    tk(&["validate", s(tmp.path()), "--fix", "-q"]);
    assert!(!tmp.path().join(".threadkit-tmp.x.json.abc.tmp").exists());
}

#[test]
fn verify_reports_what_is_not_a_thread_and_replays_legacy_threads() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("null.json"), "null").unwrap();
    std::fs::write(tmp.path().join("string.json"), "\"hello\"").unwrap();
    let o = tk(&["verify", s(tmp.path()), "--data-root", s(&fixtures().join("data")), "--format", "json"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["summary"]["invalid"], 2, "{report}");
}

#[test]
fn control_characters_in_file_names_are_escaped() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("evil\u{1b}[2Jname.json"), "{").unwrap();
    let o = tk(&["validate", s(tmp.path()), "--color", "never"]);
    let out = text(&o);
    assert!(!out.contains('\u{1b}'), "{out:?}");
    assert!(out.contains("\\u{1b}"), "{out}");
}

#[test]
fn in_place_migrate_of_a_tree_keeps_its_backup_outside_the_tree() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path().join("threads");
    copy_dir(&fixtures().join("threads/legacy"), &t.join("sub"));
    let o = migrate(&[s(&t)]);
    assert!(o.status.success(), "{}", text(&o));
    let backup = tmp.path().join("threads_v3_backup/sub");
    assert_eq!(snapshot(&backup).len(), legacy_count(&fixtures().join("threads/legacy")));
    assert!(!t.join("sub_v3_backup").exists());
    let o = tk(&["validate", s(&t), "-q"]);
    assert!(o.status.success(), "the migrated tree validates: {}", text(&o));
}
