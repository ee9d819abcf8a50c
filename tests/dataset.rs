//! Datasets: the BasicMotions import is deterministic and reproduces the shipped fixture;
//! `dataset check` passes on it and fires every dataset rule on a broken copy; hostile input is refused.

mod common;
use common::*;

use std::path::Path;
use std::process::Command;

use threadkit::dataset::recording::Recording;

fn import_basic_motions(out: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_threadkit"))
        .args([
            "dataset",
            "import",
            "--from",
            "uea-ts",
            "fixtures/uea/BasicMotions_TRAIN.ts",
            "fixtures/uea/BasicMotions_TEST.ts",
        ])
        .args(["--out", out.to_str().unwrap(), "--sampling-rate-hz", "10", "--name", "BasicMotions"])
        .args(["--channels", "acc_x,acc_y,acc_z,gyro_x,gyro_y,gyro_z"])
        .current_dir(root())
        .output()
        .unwrap()
}

fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| (e.path().strip_prefix(dir).unwrap().display().to_string(), std::fs::read(e.path()).unwrap()))
        .collect();
    v.sort();
    v
}

#[test]
fn import_is_deterministic_and_reproduces_the_shipped_fixture() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let out = import_basic_motions(&a);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Imported 80 sessions"));
    import_basic_motions(&b);
    let ta = tree(&a);
    assert_eq!(ta, tree(&b), "same input, same bytes");
    assert_eq!(ta, tree(&fixtures().join("datasets/basic_motions")), "the fixture is what the importer writes");
    assert_eq!(ta.len(), 82);
}

#[test]
fn the_fixture_is_real_basic_motions() {
    let rec =
        Recording::from_parquet(&fixtures().join("datasets/basic_motions/sessions/train_0000/data.parquet"), 1 << 20)
            .unwrap();
    assert_eq!(rec.len(), 100);
    assert_eq!(rec.timestamps[1], 0.1);
    assert_eq!(rec.channel("acc_x").unwrap()[0], 0.079106, "first value of the first case in BasicMotions_TRAIN.ts");
    let labels: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("datasets/basic_motions/labels.json")).unwrap())
            .unwrap();
    assert_eq!(labels["train_0000"][0], "Standing");
    assert_eq!(labels.as_object().unwrap().len(), 80);
}

#[test]
fn check_and_info_on_the_fixture() {
    let (report, code) = {
        let out = threadkit(&["dataset", "check", "fixtures/datasets/basic_motions", "--format", "json"]);
        (serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap(), out.status.code().unwrap())
    };
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["summary"]["files"], 82);
    let out = threadkit(&["dataset", "info", "fixtures/datasets/basic_motions", "--format", "json"]);
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(info["sessions"], 80);
    assert_eq!(info["labels"], serde_json::json!({"Badminton": 20, "Running": 20, "Standing": 20, "Walking": 20}));
    assert_eq!(info["channels"].as_array().unwrap().len(), 6);
    assert_eq!(info["samples_per_session"]["min"], 100.0);
}

/// Break a copy of the fixture in one way per dataset rule and check that rule fires.
#[test]
fn every_dataset_rule_fires_on_a_broken_copy() {
    let tmp = tempfile::tempdir().unwrap();
    let ds = tmp.path().join("ds");
    copy_dir(&fixtures().join("datasets/basic_motions"), &ds);
    let session = |id: &str| ds.join("sessions").join(id).join("data.parquet");
    let write_rec = |id: &str, rec: &Recording| std::fs::write(session(id), rec.to_parquet().unwrap()).unwrap();
    let base = Recording::from_parquet(&session("train_0001"), 1 << 20).unwrap();

    let mut labels: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ds.join("labels.json")).unwrap()).unwrap();
    labels["train_9999"] = serde_json::json!(["Walking"]); // TK801: labelled, no data
    labels.as_object_mut().unwrap().remove("train_0002"); // TK802: data, no labels
    labels["../evil"] = serde_json::json!(["Walking"]); // TK809
    std::fs::write(ds.join("labels.json"), serde_json::to_string_pretty(&labels).unwrap()).unwrap();
    std::fs::write(session("train_0003"), b"PAR1 garbage").unwrap(); // TK803
    let mut rec = base.clone();
    rec.channels.swap(0, 1); // TK804
    write_rec("train_0004", &rec);
    let mut rec = base.clone();
    rec.timestamps.swap(10, 11); // TK805
    write_rec("train_0005", &rec);
    let mut rec = base.clone();
    rec.timestamps.iter_mut().for_each(|t| *t *= 2.0); // TK806 (5 Hz observed)
    write_rec("train_0006", &rec);
    let mut rec = base.clone();
    rec.channels[2].1[7] = f64::NAN; // TK807
    write_rec("train_0007", &rec);
    let mut rec = base.clone();
    rec.timestamps.iter_mut().skip(50).for_each(|t| *t += 0.5); // TK808, rate still within 5%? no: also lower the rest
    write_rec("train_0008", &rec);

    let out = threadkit(&["dataset", "check", ds.to_str().unwrap(), "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let fired = codes(&report);
    for rule in threadkit::rules::ALL.iter().filter(|r| r.code.starts_with("TK8")) {
        assert!(fired.contains(&rule.code.to_string()), "{} did not fire; got {fired:?}", rule.code);
    }
    // The human report names files and explains.
    let human =
        String::from_utf8(threadkit(&["dataset", "check", ds.to_str().unwrap(), "--color", "never"]).stdout).unwrap();
    assert!(
        human.contains("sessions/train_0003/data.parquet") && human.contains("not a readable parquet file"),
        "{human}"
    );
}

#[test]
fn hostile_ts_files_are_refused_with_the_line() {
    let tmp = tempfile::tempdir().unwrap();
    let import = |file: &Path, out: &str, extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_threadkit"))
            .args([
                "dataset",
                "import",
                "--from",
                "uea-ts",
                file.to_str().unwrap(),
                "--out",
                tmp.path().join(out).to_str().unwrap(),
            ])
            .args(extra)
            .output()
            .unwrap()
    };
    let bad = tmp.path().join("Bad_TRAIN.ts");
    std::fs::write(&bad, "@problemName Bad\n@dimensions 2\n@classLabel true a b\n@data\n1,2:3,4:a\n1,2:3:b\n").unwrap();
    let out = import(&bad, "o", &["--sampling-rate-hz", "10"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Bad_TRAIN.ts: line 6") && err.contains("equal, non-zero lengths"), "{err}");
    assert!(!tmp.path().join("o").exists(), "nothing is written for a broken input");
    let good = root().join("fixtures/uea/BasicMotions_TEST.ts");
    for args in [vec!["--sampling-rate-hz", "0"], vec!["--sampling-rate-hz", "10", "--channels", "a,../b"]] {
        assert_eq!(import(&good, "p", &args).status.code(), Some(2), "{args:?}");
    }
}

/// Mutations of the real .ts file never panic the reader.
#[test]
fn mutated_ts_files_never_panic() {
    let seed = std::fs::read_to_string(fixtures().join("uea/BasicMotions_TEST.ts")).unwrap();
    let lines: Vec<&str> = seed.lines().collect();
    let mut next = xorshift(0x1234_5678_9abc_def1u64);
    let pieces = [":", ",", "?", "@data", "@dimensions 99", "NaN", "1e999", "", "#", "@classLabel true", "\u{0}", "é"];
    for _ in 0..400 {
        let mut l: Vec<String> = lines[..20.min(lines.len())].iter().map(|s| s.to_string()).collect();
        for _ in 0..3 {
            let i = (next() as usize) % l.len();
            match next() % 3 {
                0 => l[i] = pieces[(next() as usize) % pieces.len()].to_string(),
                1 => {
                    let cut = (next() as usize) % (l[i].len() + 1);
                    let cut = (0..=cut).rev().find(|c| l[i].is_char_boundary(*c)).unwrap_or(0);
                    l[i].truncate(cut);
                }
                _ => l.insert(i, pieces[(next() as usize) % pieces.len()].to_string()),
            }
        }
        let _ = threadkit::dataset::uea_ts::parse(&l.join("\n"));
    }
}

fn import_csv(files: &[&Path], out: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_threadkit"))
        .args(["dataset", "import", "--from", "csv"])
        .args(files.iter().map(|f| f.to_str().unwrap()))
        .args(["--out", out.to_str().unwrap(), "--sampling-rate-hz", "4", "--label-column", "activity"])
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn csv_import_long_and_per_session_files() {
    let tmp = tempfile::tempdir().unwrap();
    let long = tmp.path().join("long.csv");
    std::fs::write(&long, "subject,t,activity,ax,ay\ns1,0.0,walk,1,2\ns1,0.25,walk,1.5,?\ns2,0.0,sit,0,0\ns2,0.25,sit,0,0.1\ns2,0.5,sit,0,0.2\n").unwrap();
    let out = tmp.path().join("long_ds");
    let o = import_csv(&[&long], &out, &["--session-column", "subject", "--time-column", "t", "--name", "Long"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let check = threadkit(&["dataset", "check", out.to_str().unwrap(), "--format", "json"]);
    let report: serde_json::Value = serde_json::from_slice(&check.stdout).unwrap();
    assert_eq!(codes(&report), vec!["TK807"], "only the '?' is reported (a warning): {report:#}");
    let rec = Recording::from_parquet(&out.join("sessions/s2/data.parquet"), 1 << 20).unwrap();
    assert_eq!(rec.timestamps, vec![0.0, 0.25, 0.5]);
    assert_eq!(rec.channel("ay").unwrap(), &[0.0, 0.1, 0.2]);

    let (a, b) = (tmp.path().join("walk_01.csv"), tmp.path().join("sit_01.csv"));
    std::fs::write(&a, "activity,ax\nwalk,1\nwalk,2\n").unwrap();
    std::fs::write(&b, "activity,ax\nsit,0\nsit,0\n").unwrap();
    let out = tmp.path().join("per_file");
    assert_eq!(import_csv(&[&a, &b], &out, &[]).status.code(), Some(0));
    let labels: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("labels.json")).unwrap()).unwrap();
    assert_eq!(labels, serde_json::json!({"sit_01": ["sit"], "walk_01": ["walk"]}));
}

#[test]
fn csv_import_refuses_inconsistent_or_hostile_input() {
    let tmp = tempfile::tempdir().unwrap();
    let cases = [
        ("activity,ax\nwalk,1\nsit,2\n", vec![], "one label"),
        ("activity,ax\nwalk,1\nwalk,abc\n", vec![], "case1.csv:3: column \"ax\", a channel (every column but the label, session and time columns is one: name those with --session-column and --time-column, or pick channels with --channels), holds \"abc\", not a number"),
        ("session,activity,ax\ns1,walk,1\n", vec![], "column \"session\", a channel"),
        ("t,activity,ax\nnow,walk,1\n", vec!["--time-column", "t"], "the time column \"t\" holds \"now\", not a number"),
        ("activity,ax\nwalk,1\n", vec!["--time-column", "t"], "no column \"t\""),
        ("s,activity,ax\n../x,walk,1\n", vec!["--session-column", "s"], "refused"),
        ("activity\nwalk\n", vec![], "no channel columns"),
    ];
    for (i, (text, extra, needle)) in cases.into_iter().enumerate() {
        let f = tmp.path().join(format!("case{i}.csv"));
        std::fs::write(&f, text).unwrap();
        let o = import_csv(&[&f], &tmp.path().join(format!("out{i}")), &extra);
        assert_eq!(o.status.code(), Some(2), "{text:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(needle), "{text:?}: {err}");
    }
}
