//! `threadkit export` end to end: every profile's output passes `validate --profile`,
//! filters and splits do what they say, the output is deterministic, and `export.json`
//! describes exactly the files written.

mod common;

use std::collections::HashMap;
use std::path::Path;

use common::{fixtures, threadkit};
use serde_json::{json, Value};

/// A corpus made from the finished fixture threads: `per_label` sessions per label, two
/// threads per session, ids and file names kept in step. Plus one invalid and one active thread.
fn corpus(dir: &Path, per_label: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let sources = ["uci_har_train_01_0000_v4_0001", "uci_har_train_01_0078_v4_0002"];
    for src in sources {
        let text = std::fs::read_to_string(fixtures().join(format!("threads/valid/{src}.json"))).unwrap();
        let doc: Value = serde_json::from_str(&text).unwrap();
        for s in 0..per_label {
            for copy in 0..2 {
                let mut d = doc.clone();
                let id = format!("{src}_s{s}_c{copy}");
                d["id"] = json!(id);
                d["metadata"]["session"] = json!(format!("{}_{s}", doc["metadata"]["session"].as_str().unwrap()));
                // Distinct text: byte-identical examples are exported once.
                let asked = d["messages"][0]["content"].as_str().unwrap().to_string();
                d["messages"][0]["content"] = json!(format!("{asked} (variant {s}.{copy})"));
                let query = d["metadata"]["user_query"].as_str().unwrap().to_string();
                d["metadata"]["user_query"] = json!(format!("{query} (variant {s}.{copy})"));
                std::fs::write(dir.join(format!("{id}.json")), serde_json::to_string_pretty(&d).unwrap()).unwrap();
            }
        }
    }
    let active = std::fs::read_to_string(fixtures().join("threads/valid/uci_har_test_24_2888_v4_0003.json")).unwrap();
    std::fs::write(dir.join("uci_har_test_24_2888_v4_0003.json"), active).unwrap();
    std::fs::write(dir.join("broken_v4_0001.json"), "{\"id\": \"broken_v4_0001\", \"messages\": [").unwrap();
}

fn run(args: &[&str]) -> (String, String, i32) {
    let out = threadkit(args);
    (String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap(), out.status.code().unwrap())
}

/// `threadkit export THREADS --out OUT --profile PROFILE EXTRA…`.
/// These tests are about formats, splits and files; the corpus is copies of two threads, which the
/// quality gate (tested in tests/quality.rs) would rightly call near-duplicates: it is off here.
fn export(threads: &Path, out: &Path, profile: &str, extra: &[&str]) -> (String, String, i32) {
    let mut args = vec!["export", threads.to_str().unwrap(), "--out", out.to_str().unwrap(), "--profile", profile];
    if !extra.contains(&"--quality") {
        args.extend_from_slice(&["--quality", "off"]);
    }
    args.extend_from_slice(extra);
    run(&args)
}

fn manifest(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("export.json")).unwrap()).unwrap()
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn every_profile_passes_its_own_validation() {
    let tmp = tempfile::tempdir().unwrap();
    let threads = tmp.path().join("threads");
    corpus(&threads, 3);
    for profile in ["openai", "trl", "axolotl", "llama-factory", "raw"] {
        let out = tmp.path().join(profile);
        let (stdout, stderr, code) = export(&threads, &out, profile, &[]);
        assert_eq!(code, 0, "{profile}: {stdout}{stderr}");
        assert!(stdout.contains("12 exported"), "{stdout}");
        assert!(stderr.contains("broken_v4_0001.json: invalid"), "invalid threads are listed: {stderr}");
        assert!(stdout.contains("preview: "), "{stdout}");
        if profile != "raw" {
            let (v, e, code) = run(&["validate", "--profile", profile, out.join("train.jsonl").to_str().unwrap()]);
            assert_eq!(code, 0, "{profile}: {v}{e}");
        }
        let m = manifest(&out);
        assert_eq!(m["counts"]["exported"], 12);
        assert_eq!(m["counts"]["skipped"]["invalid"], 1);
        assert_eq!(m["counts"]["skipped"]["status"], 1);
        for f in m["files"].as_array().unwrap() {
            let bytes = std::fs::read(out.join(f["path"].as_str().unwrap())).unwrap();
            use sha2::Digest;
            let hex: String = sha2::Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(f["sha256"], hex, "{profile}: {}", f["path"]);
            assert_eq!(f["bytes"], bytes.len());
        }
    }
    assert!(tmp.path().join("axolotl/axolotl.yaml").exists());
    let info: Value =
        serde_json::from_str(&std::fs::read_to_string(tmp.path().join("llama-factory/dataset_info.json")).unwrap())
            .unwrap();
    assert_eq!(info["threadkit"]["file_name"], "train.jsonl");
    assert_eq!(info["threadkit"]["formatting"], "sharegpt");
}

#[test]
fn splits_are_grouped_by_session_stratified_and_deterministic() {
    let tmp = tempfile::tempdir().unwrap();
    let threads = tmp.path().join("threads");
    corpus(&threads, 10);
    let split_export = |out: &Path, seed: &str| {
        let (o, e, code) =
            export(&threads, out, "openai", &["--split", "train=0.8,val=0.2", "--split-method", "stratified", "--seed", seed, "--format", "json", "--allow-few-examples"]);
        assert_eq!(code, 0, "{o}{e}");
    };
    let a = tmp.path().join("a");
    split_export(&a, "1");
    let m = manifest(&a);
    assert_eq!(m["counts"]["splits"]["train"]["examples"], 32);
    assert_eq!(m["counts"]["splits"]["val"]["examples"], 8);
    // Two sessions of each label in val: stratified.
    assert_eq!(m["counts"]["splits"]["val"]["by_label"], json!({"standing": 4, "walking": 4}));
    // The same input and flags give the same bytes; another seed another split.
    let again = tmp.path().join("again");
    split_export(&again, "1");
    for f in ["train.jsonl", "val.jsonl"] {
        assert_eq!(std::fs::read(a.join(f)).unwrap(), std::fs::read(again.join(f)).unwrap(), "{f}");
    }
    // Raw lines carry ids and sessions: no session in two splits, lines in id order.
    let raw_export = |name: &str, seed: &str| {
        let raw = tmp.path().join(name);
        let (o, e, code) = export(&threads, &raw, "raw", &["--split", "train=0.8,val=0.2", "--split-method", "stratified", "--seed", seed]);
        assert_eq!(code, 0, "{o}{e}");
        raw
    };
    let raw = raw_export("raw", "1");
    let other = raw_export("raw2", "2");
    let val_ids = |dir: &Path| lines(&dir.join("val.jsonl")).iter().map(|r| r["id"].to_string()).collect::<Vec<_>>();
    assert!(val_ids(&raw) != val_ids(&other), "another seed, another split");
    let mut where_session: HashMap<String, &str> = HashMap::new();
    for split in ["train", "val"] {
        let rows = lines(&raw.join(format!("{split}.jsonl")));
        let ids: Vec<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted, "lines are in id order");
        for r in &rows {
            let s = r["metadata"]["session"].as_str().unwrap().to_string();
            let before = where_session.insert(s.clone(), split);
            assert!(before.is_none() || before == Some(split), "session {s} is in two splits");
        }
    }
}

/// The recording → split map of a raw export's files.
fn sides(dir: &Path, splits: &[&str]) -> HashMap<String, String> {
    let mut side = HashMap::new();
    for split in splits {
        for r in lines(&dir.join(format!("{split}.jsonl"))) {
            let key = format!("{}/{}", r["metadata"]["dataset"], r["metadata"]["session"]);
            let before = side.insert(key.clone(), split.to_string());
            assert!(before.is_none() || before.as_deref() == Some(*split), "recording {key} is in two splits");
        }
    }
    side
}

#[test]
fn a_hashed_split_keeps_every_recording_on_its_side_when_the_corpus_grows() {
    let tmp = tempfile::tempdir().unwrap();
    let threads = tmp.path().join("threads");
    corpus(&threads, 40);
    let split = ["--split", "train=0.7,val=0.3", "--seed", "5"];
    let first = tmp.path().join("first");
    let (o, e, code) = export(&threads, &first, "raw", &split);
    assert_eq!(code, 0, "{o}{e}");
    // 10 % more threads, from recordings not seen before and from ones seen before.
    let grown = tmp.path().join("grown");
    corpus(&grown, 44);
    let second = tmp.path().join("second");
    let (o, e, code) = export(&grown, &second, "raw", &split);
    assert_eq!(code, 0, "{o}{e}");
    let (before, after) = (sides(&first, &["train", "val"]), sides(&second, &["train", "val"]));
    assert!(before.len() >= 80 && after.len() > before.len(), "{} {}", before.len(), after.len());
    for (recording, side) in &before {
        assert_eq!(after.get(recording), Some(side), "{recording} moved");
    }
    let val = before.values().filter(|s| *s == "val").count();
    assert!((10..=40).contains(&val), "about 30 % of 81 recordings in val: {val}");
    assert_eq!(manifest(&second)["split"]["method"], "hash");
}

/// The split the shard and partition tests export with (12 threads are few examples).
const SPLIT_FLAGS: [&str; 5] = ["--split", "train=0.75,val=0.25", "--seed", "2", "--allow-few-examples"];

/// A temporary folder holding `threads/` with 12 threads.
fn twelve_threads() -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let threads = tmp.path().join("threads");
    corpus(&threads, 12);
    (tmp, threads)
}

/// `export --shard I/4` for I = 1..4, each into `dir(I)`; each must succeed.
fn export_four_shards(threads: &Path, profile: &str, flags: &[&str], dir: impl Fn(usize) -> std::path::PathBuf) -> Vec<std::path::PathBuf> {
    (1..=4)
        .map(|i| {
            let (out, shard) = (dir(i), format!("{i}/4"));
            let (o, e, code) = export(threads, &out, profile, &[flags, &["--shard", shard.as_str()]].concat());
            assert_eq!(code, 0, "{shard}: {o}{e}");
            out
        })
        .collect()
}

#[test]
fn four_export_shards_together_are_the_single_export() {
    let (tmp, threads) = twelve_threads();
    let flags = SPLIT_FLAGS;
    let whole = tmp.path().join("whole");
    let (o, e, code) = export(&threads, &whole, "openai", &flags);
    assert_eq!(code, 0, "{o}{e}");
    let read = |dir: &Path, split: &str| -> Vec<String> {
        let path = dir.join(format!("{split}.jsonl"));
        if !path.exists() {
            return Vec::new();
        }
        std::fs::read_to_string(path).unwrap().lines().map(str::to_string).collect()
    };
    let per_shard = export_four_shards(&threads, "openai", &flags, |i| tmp.path().join(format!("shard{i}")));
    for (i, out) in per_shard.iter().enumerate() {
        assert_eq!(manifest(out)["input_shard"], json!({"index": i + 1, "count": 4}));
    }
    for split in ["train", "val"] {
        let mut single = read(&whole, split);
        let mut union: Vec<String> = per_shard.iter().flat_map(|d| read(d, split)).collect();
        assert!(!single.is_empty(), "{split}");
        single.sort();
        union.sort();
        assert_eq!(union, single, "{split}: the shards' lines, byte for byte, are the single export's");
    }
    // Every shard did part of the work, none all of it.
    let examples = |d: &Path| manifest(d)["counts"]["exported"].as_u64().unwrap();
    assert!(per_shard.iter().all(|d| examples(d) > 0 && examples(d) < examples(&whole)));
    merged_export_shards_are_checked_whole(tmp.path(), &threads, &whole, &per_shard, &flags);
}

/// `threadkit merge part-*/export.json`: one manifest that says what the single export's says
/// (counts, tokens but p95, changes), listing the parts' files — and a refusal, naming the part,
/// when a shard is lost, a file cut or changed, or a part exported with other flags.
fn merged_export_shards_are_checked_whole(tmp: &Path, threads: &Path, whole: &Path, parts: &[std::path::PathBuf], flags: &[&str]) {
    let manifests: Vec<String> = parts.iter().map(|d| d.join("export.json").to_str().unwrap().to_string()).collect();
    let merge = |extra: &[&str]| {
        let mut args = vec!["merge"];
        args.extend(extra);
        run(&args)
    };
    let target = tmp.join("export.json");
    let mut args: Vec<&str> = manifests.iter().map(String::as_str).collect();
    args.extend(["--out", target.to_str().unwrap()]);
    let (o, e, code) = merge(&args);
    assert_eq!(code, 0, "{o}{e}");
    let (m, single) = (manifest(tmp), manifest(whole));
    for key in ["input_threads", "exported", "skipped"] {
        assert_eq!(m["counts"][key], single["counts"][key], "{key}");
    }
    for split in ["train", "val"] {
        let (a, b) = (&m["counts"]["splits"][split], &single["counts"]["splits"][split]);
        for key in ["ratio", "examples", "by_dataset", "by_label"] {
            assert_eq!(a[key], b[key], "{split}.{key}");
        }
        assert_eq!(a["sessions"], Value::Null, "a recording's threads may be in two shards");
        let mut tokens = b["tokens"].clone();
        tokens["p95"] = Value::Null;
        assert_eq!(a["tokens"], tokens, "{split}");
    }
    assert_eq!((&m["changes"], &m["split"], &m["profile"], &m["input_shard"]), (&single["changes"], &single["split"], &single["profile"], &Value::Null));
    let listed: Vec<&str> = m["files"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert!(listed.contains(&"shard1/train.jsonl") && listed.contains(&"shard4/val.jsonl"), "relative to the merged manifest: {listed:?}");
    for f in m["files"].as_array().unwrap() {
        assert_eq!(std::fs::metadata(tmp.join(f["path"].as_str().unwrap())).unwrap().len(), f["bytes"].as_u64().unwrap());
    }
    // Two node merges, then one: the same manifest (but the command line and parts it names).
    let node = |k: usize| tmp.join(format!("node{k}.json")).to_str().unwrap().to_string();
    assert_eq!(merge(&["--partial", &manifests[0], &manifests[2], "--out", &node(1)]).2, 0);
    assert_eq!(merge(&["--partial", &manifests[1], &manifests[3], "--out", &node(2)]).2, 0);
    let (o, e, code) = merge(&[&node(1), &node(2)]);
    assert_eq!(code, 0, "{e}");
    let again: Value = serde_json::from_str(&o).unwrap();
    assert_eq!((&again["counts"], &again["tokens"], &again["input_shard"]), (&m["counts"], &m["tokens"], &Value::Null));
    // Refused, nothing written: a lost shard, a cut file, a part with other flags, --out over a part.
    let refused = |args: &[&str], needle: &str| {
        let out = tmp.join("refused.json");
        let mut all = args.to_vec();
        all.extend(["--out", out.to_str().unwrap()]);
        let (o, e, code) = merge(&all);
        assert_eq!((code, o.as_str()), (2, ""), "{args:?}: {e}");
        assert!(e.contains(needle), "{args:?}: {e}");
        assert!(!out.exists(), "{args:?}");
    };
    refused(&[&manifests[0], &manifests[1], &manifests[3]], "shard 3/4 of the `export` run missing");
    let val = parts[2].join("val.jsonl");
    let kept = std::fs::read(&val).unwrap();
    std::fs::write(&val, &kept[..kept.len() - 1]).unwrap();
    refused(&manifests.iter().map(String::as_str).collect::<Vec<_>>(), "val.jsonl: ");
    let mut changed = kept.clone();
    changed[2] ^= 0x20;
    std::fs::write(&val, &changed).unwrap();
    refused(&manifests.iter().map(String::as_str).collect::<Vec<_>>(), "its SHA-256 is not the one");
    std::fs::remove_file(&val).unwrap();
    refused(&manifests.iter().map(String::as_str).collect::<Vec<_>>(), "run that part's export again");
    std::fs::write(&val, &kept).unwrap();
    let other = tmp.join("other-seed");
    let mut extra: Vec<&str> = flags.iter().map(|f| if *f == "2" { "3" } else { f }).collect();
    extra.extend(["--shard", "3/4"]);
    assert_eq!(export(threads, &other, "openai", &extra).2, 0);
    let other = other.join("export.json").to_str().unwrap().to_string();
    refused(&[&manifests[0], &manifests[1], &other, &manifests[3]], "was exported with split");
    let (_, e, code) = merge(&[&manifests[0], &manifests[1], "--out", &manifests[0]]);
    assert_eq!(code, 2, "{e}");
    assert!(e.contains("one of the reports being merged"), "{e}");
    assert_eq!(merge(&manifests.iter().map(String::as_str).collect::<Vec<_>>()).2, 0, "the parts as they were merge again");
    // The single export's manifest (no shard) named twice would count every example twice.
    let single = whole.join("export.json").to_str().unwrap().to_string();
    let (_, e, code) = merge(&[&single, &single]);
    assert_eq!(code, 2, "{e}");
    assert!(e.contains("are the same file: name each report once"), "{e}");
}

/// LLaMA-Factory reads one file or folder a `dataset_info.json` entry, and a sharded export's
/// files lie in a folder per part: `merge --out` writes one `dataset_info.json` beside the
/// merged manifest naming every part's files (`threadkit_train_shard2` …), lists it with its
/// SHA-256, and says which entries make up each of the parts' datasets. (LLaMA-Factory's own
/// loader reads it in tests/python/frameworks.py.)
#[test]
fn merged_llama_factory_shards_get_one_dataset_info() {
    let (tmp, threads) = twelve_threads();
    let flags = SPLIT_FLAGS;
    let exports = tmp.path().join("exports");
    let manifests: Vec<String> = export_four_shards(&threads, "llama-factory", &flags, |i| exports.join(format!("part-{i}")))
        .iter()
        .map(|d| d.join("export.json").to_str().unwrap().to_string())
        .collect();
    let merge = |args: &[&str]| run(&[&["merge"], args].concat());
    let parts: Vec<&str> = manifests.iter().map(String::as_str).collect();
    let target = exports.join("export.json");
    let (o, e, code) = merge(&[&parts[..], &["--out", target.to_str().unwrap()]].concat());
    assert_eq!(code, 0, "{o}{e}");
    let m = manifest(&exports);
    let text = std::fs::read(exports.join("dataset_info.json")).unwrap();
    let listed = m["files"].as_array().unwrap().iter().find(|f| f["path"] == "dataset_info.json").expect("listed");
    assert_eq!((listed["bytes"].as_u64(), listed["sha256"].as_str()), (Some(text.len() as u64), Some(threadkit::export::sink::sha256_hex(&text).as_str())));
    let info: Value = serde_json::from_slice(&text).unwrap();
    let mut expected = serde_json::Map::new();
    let mut lists: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for i in 1..=4 {
        let part: Value = serde_json::from_str(&std::fs::read_to_string(exports.join(format!("part-{i}/dataset_info.json"))).unwrap()).unwrap();
        for (key, entry) in part.as_object().unwrap() {
            let mut entry = entry.clone();
            entry["file_name"] = json!(format!("part-{i}/{}", entry["file_name"].as_str().unwrap()));
            assert!(exports.join(entry["file_name"].as_str().unwrap()).is_file(), "{entry}");
            expected.insert(format!("{key}_shard{i}"), entry);
            lists.entry(key.clone()).or_default().push(format!("{key}_shard{i}"));
        }
    }
    assert!(lists["threadkit_train"].len() >= 2 && lists.contains_key("threadkit_val"), "{lists:?}");
    assert_eq!(info, Value::Object(expected), "each part's entries, named by shard, file names relative to the merged manifest");
    let lists: serde_json::Map<String, Value> = lists.into_iter().map(|(k, v)| (k, json!(v.join(",")))).collect();
    assert_eq!(m["merged"]["llama_factory_datasets"], Value::Object(lists.clone()));
    // The terminal is told what to train on.
    assert!(e.starts_with("wrote ") && e.contains("(4 reports merged)") && e.contains("for LLaMA-Factory (dataset_dir: "), "{e}");
    for (key, list) in &lists {
        assert!(e.contains(&format!("  {key}: {}\n", list.as_str().unwrap())), "{e}");
    }
    // Merged again (its own earlier output is replaced), and by two node merges then one: the same file.
    assert_eq!(merge(&[&parts[..], &["--out", target.to_str().unwrap()]].concat()).2, 0);
    assert_eq!(std::fs::read(exports.join("dataset_info.json")).unwrap(), text);
    let node = |k: usize| exports.join(format!("node{k}.json")).to_str().unwrap().to_string();
    let nodes = tmp.path().join("nodes");
    assert_eq!(merge(&["--partial", parts[0], parts[2], "--out", &node(1)]).2, 0);
    assert_eq!(merge(&["--partial", parts[3], parts[1], "--out", &node(2)]).2, 0);
    let node1: Value = serde_json::from_str(&std::fs::read_to_string(node(1)).unwrap()).unwrap();
    assert!(node1["merged"].get("llama_factory_datasets").is_none(), "a node's merge leaves dataset_info.json to the final one");
    assert_eq!(std::fs::read(exports.join("dataset_info.json")).unwrap(), text, "untouched by node merges");
    std::fs::create_dir(&nodes).unwrap();
    let (_, e, code) = merge(&[&node(1), &node(2), "--out", nodes.join("export.json").to_str().unwrap()]);
    assert_eq!(code, 0, "{e}");
    // Merged in another folder: the parts' files are not below it, and are named whole.
    let elsewhere: Value = serde_json::from_str(&std::fs::read_to_string(nodes.join("dataset_info.json")).unwrap()).unwrap();
    assert_eq!(elsewhere.as_object().unwrap().keys().collect::<Vec<_>>(), info.as_object().unwrap().keys().collect::<Vec<_>>());
    for entry in elsewhere.as_object().unwrap().values() {
        let name = entry["file_name"].as_str().unwrap();
        assert!(Path::new(name).is_absolute() && nodes.join(name).is_file(), "{name}");
    }
    let (o, e, code) = merge(&[&node(2), &node(1), "--out", target.to_str().unwrap()]);
    assert_eq!(code, 0, "{o}{e}");
    assert_eq!(std::fs::read(exports.join("dataset_info.json")).unwrap(), text, "node merges then one: the same dataset_info.json");
    // Printed (no --out): nothing is written beside it, and the manifest says so.
    let (o, e, code) = merge(&parts);
    assert_eq!(code, 0, "{e}");
    let printed: Value = serde_json::from_str(&o).unwrap();
    assert!(printed["warnings"].to_string().contains("merge with --out FILE to write it"), "{}", printed["warnings"]);
    assert!(e.starts_with("warning: dataset_info.json for the merged parts is not written"), "{e}");
    assert!(!printed["files"].to_string().contains("\"dataset_info.json\""));
    // A dataset_info.json with other datasets (LLaMA-Factory's data/ folder, a part's own) is not replaced.
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let theirs = b"{\"alpaca_en_demo\": {\"file_name\": \"alpaca_en_demo.json\"}}\n";
    std::fs::write(data.join("dataset_info.json"), theirs).unwrap();
    let (o, e, code) = merge(&[&parts[..], &["--out", data.join("export.json").to_str().unwrap()]].concat());
    assert_eq!((code, o.as_str()), (2, ""), "{e}");
    assert!(e.contains("is there already with other datasets (alpaca_en_demo)") && e.contains("a folder of its own"), "{e}");
    assert_eq!(std::fs::read(data.join("dataset_info.json")).unwrap(), theirs);
    assert!(!data.join("export.json").exists());
    let part1 = exports.join("part-1");
    let own = std::fs::read(part1.join("dataset_info.json")).unwrap();
    let (_, e, code) = merge(&[&parts[..], &["--out", part1.join("merged.json").to_str().unwrap()]].concat());
    assert_eq!(code, 2, "{e}");
    assert_eq!(std::fs::read(part1.join("dataset_info.json")).unwrap(), own, "a part's own dataset_info.json is kept");
}

/// Two sets of parts merged into one folder: the second merge would replace the first's trainer
/// config (the same dataset names, other files), and the first merge's manifest would name a
/// file that no longer holds its parts. Refused; a merge of the same parts (one killed before
/// its manifest), or one into the manifest that lists the config, replaces it.
#[test]
fn a_merge_keeps_the_trainer_config_of_other_parts() {
    let (tmp, threads) = twelve_threads();
    for (profile, config) in [("llama-factory", "dataset_info.json"), ("axolotl", "axolotl.yaml")] {
        let root = tmp.path().join(profile);
        let parts = |set: &str| -> Vec<String> {
            export_four_shards(&threads, profile, &SPLIT_FLAGS, |i| root.join(format!("{set}/part-{i}")))
                .iter()
                .map(|d| d.join("export.json").to_str().unwrap().to_string())
                .collect()
        };
        let (a, b) = (parts("a"), parts("b"));
        let exports = root.join("exports");
        std::fs::create_dir(&exports).unwrap();
        let merge = |set: &[String], to: &str| {
            let out = exports.join(to);
            let mut args = vec!["merge"];
            args.extend(set.iter().map(String::as_str));
            args.extend(["--out", out.to_str().unwrap()]);
            run(&args)
        };
        let (o, e, code) = merge(&a, "a.json");
        assert_eq!(code, 0, "{o}{e}");
        let a_config = std::fs::read(exports.join(config)).unwrap();
        let (o, e, code) = merge(&b, "b.json");
        assert_eq!((code, o.as_str()), (2, ""), "{e}");
        assert!(e.contains(&format!("{config} is there already for other parts (it names ")) && e.contains("a/part-"), "{e}");
        assert_eq!(std::fs::read(exports.join(config)).unwrap(), a_config, "{profile}: a's config is kept");
        assert!(!exports.join("b.json").exists());
        // a's merge killed before its manifest: merged again, it replaces the config it wrote.
        std::fs::remove_file(exports.join("a.json")).unwrap();
        assert_eq!(merge(&a, "a.json").2, 0);
        assert_eq!(std::fs::read(exports.join(config)).unwrap(), a_config);
        // b into a's own manifest: a's merge is replaced whole.
        let (o, e, code) = merge(&b, "a.json");
        assert_eq!(code, 0, "{o}{e}");
        let b_config = String::from_utf8(std::fs::read(exports.join(config)).unwrap()).unwrap();
        assert!(b_config.contains("b/part-1/") && !b_config.contains("a/part-1/"), "{b_config}");
    }
}

/// Axolotl reads a list of `data_files`: `merge --out` of Axolotl parts writes one
/// `axolotl.yaml` (export's own writer) whose `datasets:` entry lists every part's train file
/// and `test_datasets:` every val file. (Axolotl's own loader reads it in frameworks.py.)
#[test]
fn merged_axolotl_shards_get_one_config() {
    let (tmp, threads) = twelve_threads();
    let flags = SPLIT_FLAGS;
    let exports = tmp.path().join("exports");
    let parts = export_four_shards(&threads, "axolotl", &flags, |i| exports.join(format!("part-{i}")));
    let manifests: Vec<String> = parts.iter().map(|d| d.join("export.json").to_str().unwrap().to_string()).collect();
    let mut args: Vec<&str> = vec!["merge"];
    args.extend(manifests.iter().map(String::as_str));
    let target = exports.join("export.json");
    args.extend(["--out", target.to_str().unwrap()]);
    let (o, e, code) = run(&args);
    assert_eq!(code, 0, "{o}{e}");
    assert!(e.contains("axolotl.yaml for Axolotl"), "{e}");
    let yaml = std::fs::read_to_string(exports.join("axolotl.yaml")).unwrap();
    let block = |key: &str| -> Vec<String> {
        let start = yaml.find(&format!("\n{key}:\n")).unwrap_or_else(|| panic!("{key} in {yaml}"));
        let rest = &yaml[start + key.len() + 3..];
        let end = rest.find("\ntest_datasets:").unwrap_or(rest.len());
        rest[..end].lines().filter_map(|l| l.trim().strip_prefix("- \"")).map(|l| l.trim_end_matches('"').to_string()).collect()
    };
    let root = std::fs::canonicalize(&exports).unwrap();
    for (key, split) in [("datasets", "train"), ("test_datasets", "val")] {
        let listed = block(key);
        let expected: Vec<String> = (1..=4)
            .map(|i| format!("part-{i}/{split}.jsonl"))
            .filter(|p| exports.join(p).exists())
            .map(|p| root.join(p).display().to_string())
            .collect();
        assert!(expected.len() >= 2, "{split}: {expected:?}");
        assert_eq!(listed, expected, "{key}: every part's {split} file, named whole: {yaml}");
    }
    let m = manifest(&exports);
    let entry = m["files"].as_array().unwrap().iter().find(|f| f["path"] == "axolotl.yaml").expect("listed");
    assert_eq!((entry["bytes"].as_u64(), entry["sha256"].as_str(), entry["written_by"].as_str()), (Some(yaml.len() as u64), Some(threadkit::export::sink::sha256_hex(yaml.as_bytes()).as_str()), Some("merge")));
    // Merged again: its own file is replaced; a user's Axolotl config in that place is not.
    assert_eq!(run(&args).2, 0);
    std::fs::write(exports.join("axolotl.yaml"), "base_model: Qwen/Qwen3-0.6B\n").unwrap();
    let (o, e, code) = run(&args);
    assert_eq!((code, o.as_str()), (2, ""), "{e}");
    assert!(e.contains("axolotl.yaml is there already with a config threadkit did not write"), "{e}");
    assert_eq!(std::fs::read_to_string(exports.join("axolotl.yaml")).unwrap(), "base_model: Qwen/Qwen3-0.6B\n");
}

/// `--partitions N`: the files are written while threads are read, yet their bytes follow
/// from the input, seed and N alone (not the number of workers, not the run), an example's file
/// from its id, and together they hold exactly the lines of the id-ordered export.
#[test]
fn partitioned_files_are_deterministic_and_together_are_the_export() {
    let (tmp, threads) = twelve_threads();
    let flags = SPLIT_FLAGS;
    let whole = tmp.path().join("whole");
    assert_eq!(export(&threads, &whole, "openai", &flags).2, 0);
    let files_of = |dir: &Path| -> Vec<(String, Vec<u8>)> {
        let m = manifest(dir);
        let listed: Vec<String> = m["files"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap().to_string()).collect();
        listed.into_iter().filter(|p| p.ends_with(".jsonl")).map(|p| (p.clone(), std::fs::read(dir.join(&p)).unwrap())).collect()
    };
    let mut runs = Vec::new();
    for jobs in ["1", "2", "2"] {
        let out = tmp.path().join(format!("parts{}", runs.len()));
        let mut extra = flags.to_vec();
        extra.extend(["--partitions", "3", "--jobs", jobs]);
        let (o, e, code) = export(&threads, &out, "openai", &extra);
        assert_eq!(code, 0, "{o}{e}");
        assert_eq!((manifest(&out)["partitions"].as_u64(), manifest(&out)["line_order"].as_str()), (Some(3), Some("path")));
        runs.push(files_of(&out));
    }
    assert_eq!(runs[0], runs[1], "one worker or two: the same files, byte for byte");
    assert_eq!(runs[1], runs[2], "run twice: the same files");
    let names: Vec<&str> = runs[0].iter().map(|(n, _)| n.as_str()).collect();
    assert!(names.iter().all(|n| n.starts_with("train/train-0000") || n.starts_with("val/val-0000")), "{names:?}");
    assert!(names.iter().filter(|n| n.starts_with("train/")).count() >= 2, "the examples are spread: {names:?}");
    for split in ["train", "val"] {
        let mut single: Vec<String> = std::fs::read_to_string(whole.join(format!("{split}.jsonl"))).unwrap().lines().map(str::to_string).collect();
        let mut parts: Vec<String> = runs[0]
            .iter()
            .filter(|(n, _)| n.starts_with(&format!("{split}/")))
            .flat_map(|(_, b)| String::from_utf8(b.clone()).unwrap().lines().map(str::to_string).collect::<Vec<_>>())
            .collect();
        single.sort();
        parts.sort();
        assert_eq!(parts, single, "{split}: the partitions' lines are the export's");
    }
    // The manifest's hashes are of the files as written.
    let m = manifest(&tmp.path().join("parts0"));
    for f in m["files"].as_array().unwrap().iter().filter(|f| f["split"].is_string()) {
        let bytes = std::fs::read(tmp.path().join("parts0").join(f["path"].as_str().unwrap())).unwrap();
        assert_eq!(f["bytes"].as_u64(), Some(bytes.len() as u64));
        assert_eq!(f["records"].as_u64(), Some(bytes.iter().filter(|&&b| b == b'\n').count() as u64));
    }
    // Compressed partitions hold the same lines.
    let gz = tmp.path().join("gz");
    let mut extra = flags.to_vec();
    extra.extend(["--partitions", "3", "--compress", "gzip"]);
    assert_eq!(export(&threads, &gz, "openai", &extra).2, 0);
    let first = manifest(&gz)["files"][0]["path"].as_str().unwrap().to_string();
    assert!(first.ends_with(".jsonl.gz"), "{first}");
    // What --partitions cannot do is refused before anything is read.
    for (bad, needle) in [
        (vec!["--partitions", "2", "--split", "train=0.5,val=0.5", "--split-method", "stratified"], "--split-method hash"),
        (vec!["--partitions", "2", "--shard-size", "10"], "cannot be used with"),
        (vec!["--partitions", "0"], "0"),
    ] {
        let (_, e, code) = export(&threads, &tmp.path().join("refused"), "openai", &bad);
        assert_eq!(code, 2, "{bad:?}: {e}");
        assert!(e.contains(needle), "{bad:?}: {e}");
        assert!(!tmp.path().join("refused").exists(), "{bad:?}: nothing written");
    }
    let (_, e, code) = run(&["export", threads.to_str().unwrap(), "--profile", "openai", "--out", tmp.path().join("one.jsonl").to_str().unwrap(), "--partitions", "2"]);
    assert_eq!(code, 2, "{e}");
    assert!(e.contains("give --out a folder"), "{e}");
}

#[test]
fn validate_and_quality_shards_merge_into_the_single_report() {
    let tmp = tempfile::tempdir().unwrap();
    let threads = tmp.path().join("threads");
    corpus(&threads, 6);
    for command in ["validate", "quality"] {
        let (single, _, code) = run(&[command, threads.to_str().unwrap(), "--format", "json"]);
        let mut names = Vec::new();
        for i in 1..=3 {
            let shard = format!("{i}/3");
            let (o, e, _) = run(&[command, threads.to_str().unwrap(), "--format", "json", "--shard", &shard]);
            assert!(e.is_empty() || command == "quality", "{e}");
            let path = tmp.path().join(format!("{command}{i}.json"));
            std::fs::write(&path, o).unwrap();
            names.push(path.to_str().unwrap().to_string());
        }
        let mut args = vec!["merge"];
        args.extend(names.iter().map(String::as_str));
        let (merged, e, merged_code) = run(&args);
        assert_eq!(merged_code, code, "{command}: {e}");
        let (a, b): (Value, Value) = (serde_json::from_str(&single).unwrap(), serde_json::from_str(&merged).unwrap());
        if command == "validate" {
            assert_eq!(a, b, "{command}");
        } else {
            // Near-duplicates are a corpus rule: each shard sees its own files only.
            assert_eq!(a["files"].as_array().unwrap().len(), b["files"].as_array().unwrap().len());
            assert_eq!(a["summary"]["by_rule"]["TKQ05"], b["summary"]["by_rule"]["TKQ05"]);
        }
    }
    // The same report twice is refused: named twice, or as two copies (naming the file in both).
    let one = tmp.path().join("validate1.json");
    let (_, e, code) = run(&["merge", one.to_str().unwrap(), one.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(e.contains("are the same file"), "{e}");
    let copy = tmp.path().join("validate1-copy.json");
    std::fs::copy(&one, &copy).unwrap();
    let (_, e, code) = run(&["merge", one.to_str().unwrap(), copy.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(e.contains("is in both") || e.contains("both hold shard"), "{e}");
    let (_, e, code) = run(&["validate", threads.to_str().unwrap(), "--shard", "5/4"]);
    assert_eq!(code, 2);
    assert!(e.contains("I runs from 1 to N"), "{e}");
}

/// A merge of shards is a verdict on the whole run only when every shard is in it, once: a
/// lost or repeated shard, or shards of two commands, are refused before anything is printed.
/// A shard that holds no file succeeds and writes its (empty) report (a run over no file at all
/// fails: `tests/hostile.rs`).
#[test]
fn a_merge_takes_every_shard_of_one_run_once() {
    let tmp = tempfile::tempdir().unwrap();
    let threads = tmp.path().join("threads");
    corpus(&threads, 1); // 6 files: most of 16 shards hold none
    let t = threads.to_str().unwrap();
    let mut reports: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
    let mut empty = 0;
    for command in ["validate", "stats", "verify"] {
        for i in 1..=16 {
            let shard = format!("{i}/16");
            let mut args = vec![command, t, "--format", "json", "--shard", &shard];
            let data = fixtures().join("data");
            if command == "verify" {
                args.extend(["--data-root", data.to_str().unwrap()]);
            }
            let (o, e, code) = run(&args);
            let report: Value = serde_json::from_str(&o).unwrap_or_else(|_| panic!("{command} {shard}: {o}{e}"));
            let tag = &report["shard"];
            assert_eq!((&tag["command"], &tag["index"], &tag["count"]), (&json!(command), &json!(i), &json!(16)), "{command} {shard}");
            assert!(tag["threadkit_version"].as_str().is_some_and(|v| v.starts_with(env!("CARGO_PKG_VERSION"))), "{tag}");
            assert!(tag["settings"].as_array().is_some_and(|s| s.contains(&json!("--max-file-size 33554432"))), "{tag}");
            let files = report["files"].as_array().map_or_else(|| report["files"].as_u64().unwrap(), |f| f.len() as u64);
            if files == 0 {
                assert_eq!(code, 0, "{command} {shard}: an empty shard is a part of a run: {e}");
                assert!(e.contains(&format!("--shard {shard}: none of the thread files")), "{e}");
                empty += 1;
            }
            let path = tmp.path().join(format!("{command}{i}.json"));
            std::fs::write(&path, o).unwrap();
            reports.entry(command).or_default().push(path.to_str().unwrap().to_string());
        }
    }
    assert!(empty > 0);
    let merge = |names: &[&String]| {
        let mut args = vec!["merge"];
        args.extend(names.iter().map(|n| n.as_str()));
        run(&args)
    };
    for (command, names) in &reports {
        let all: Vec<&String> = names.iter().collect();
        let (merged, e, _) = merge(&all);
        let merged: Value = serde_json::from_str(&merged).unwrap_or_else(|_| panic!("{command}: {e}"));
        assert!(merged.get("shard").is_none(), "the merge is the whole run's report");
        let mut args = vec![*command, t, "--format", "json"];
        let data = fixtures().join("data");
        if *command == "verify" {
            args.extend(["--data-root", data.to_str().unwrap()]);
        }
        let single: Value = serde_json::from_str(&run(&args).0).unwrap();
        if *command == "stats" {
            // A 95th percentile cannot be rebuilt from parts (the merge says so).
            assert_eq!(merged["threads"], single["threads"]);
            assert_eq!(merged["files"], single["files"]);
            assert_eq!(merged["by_status"], single["by_status"]);
        } else {
            assert_eq!(merged, single, "{command}");
        }
        let (o, e, code) = merge(&all[1..]);
        assert_eq!((code, o.as_str()), (2, ""), "a lost shard: {e}");
        assert!(e.contains(&format!("shard 1/16 of the `{command}` run missing: merge the reports of all 16 shards")), "{e}");
        // A copy of a shard's report (another file): the same shard twice.
        let copy = format!("{}.copy", all[0]);
        std::fs::copy(all[0], &copy).unwrap();
        let mut twice = all.clone();
        twice.push(&copy);
        let (o, e, code) = merge(&twice);
        assert_eq!((code, o.as_str()), (2, ""), "a shard twice: {e}");
        assert!(e.contains("both hold shard 1/16") || e.contains("is in both"), "{e}");
        twice.pop();
        twice.push(all[0]);
        let (o, e, code) = merge(&twice);
        assert_eq!((code, o.as_str()), (2, ""), "a report named twice: {e}");
        assert!(e.contains("are the same file"), "{e}");
        // Per node first, then the nodes: the same report as one merge of every shard.
        let mut nodes = Vec::new();
        for (k, half) in [&all[..8], &all[8..]].into_iter().enumerate() {
            let mut args = vec!["merge", "--partial"];
            args.extend(half.iter().map(|n| n.as_str()));
            let (o, e, code) = run(&args);
            assert_ne!(code, 2, "{e}"); // 1 when the node's files hold an error
            let node: Value = serde_json::from_str(&o).unwrap();
            let held: Vec<u64> = (1 + 8 * k as u64..=8 + 8 * k as u64).collect();
            let tag = &node["shard"];
            assert_eq!((&tag["command"], &tag["indexes"], &tag["count"]), (&json!(command), &json!(held), &json!(16)));
            assert!(tag["threadkit_version"].is_string() && tag["settings"].is_array(), "a node's merge keeps how its run was made: {tag}");
            let path = tmp.path().join(format!("{command}-node{k}.json"));
            std::fs::write(&path, o).unwrap();
            nodes.push(path.to_str().unwrap().to_string());
        }
        let (o, e, _) = merge(&nodes.iter().collect::<Vec<_>>());
        let (mut whole, mut once): (Value, Value) = (serde_json::from_str(&o).unwrap_or_else(|_| panic!("{e}")), merged.clone());
        // Stats say how many reports the last merge read (2 nodes, or 16 shards).
        for v in [&mut whole, &mut once] {
            v.as_object_mut().unwrap().remove("merged");
        }
        assert_eq!(whole, once, "{command}: nodes merged = shards merged");
        let (o, e, code) = merge(&[&nodes[0], &nodes[0]]);
        assert_eq!((code, o.as_str()), (2, ""), "{e}");
    }
    let mut mixed: Vec<&String> = reports["validate"].iter().collect();
    mixed[3] = &reports["verify"][3];
    let (o, e, code) = merge(&mixed);
    assert_eq!((code, o.as_str()), (2, ""), "{e}");
    assert!(e.contains("of a `verify` run but") && e.contains("merge the reports of the shards of one run"), "{e}");
    // Shard 4 run again with another flag: another run, refused with both flag lists.
    let again = tmp.path().join("validate4-again.json");
    std::fs::write(&again, run(&["validate", t, "--format", "json", "--shard", "4/16", "--ignore", "TK008"]).0).unwrap();
    let mut rerun: Vec<&String> = reports["validate"].iter().collect();
    let again = again.to_str().unwrap().to_string();
    rerun[3] = &again;
    let (o, e, code) = merge(&rerun);
    assert_eq!((code, o.as_str()), (2, ""), "{e}");
    assert!(e.contains("--max-file-size 33554432 --ignore TK008 but") && e.contains("merge the shards of one run"), "{e}");
    // The same rule by name, twice and in another case, is the same setting: those two shard-4 runs are one run's.
    let named = run(&["validate", t, "--format", "json", "--shard", "4/16", "--ignore", "legacy-v3,TK008", "--ignore", "Legacy-V3"]).0;
    let tag = |text: &str| serde_json::from_str::<Value>(text).unwrap()["shard"].clone();
    assert_eq!(tag(&named), tag(&std::fs::read_to_string(&again).unwrap()), "a rule named by code or by name is one setting");
    // An export shard that holds nothing writes its empty part and succeeds.
    let empty_shard = (1..=16)
        .find(|i| serde_json::from_str::<Value>(&std::fs::read_to_string(&reports["validate"][i - 1]).unwrap()).unwrap()["files"] == json!([]))
        .unwrap();
    let out = tmp.path().join("part");
    let (_, e, code) = export(&threads, &out, "openai", &["--shard", &format!("{empty_shard}/16")]);
    assert_eq!(code, 0, "{e}");
    assert_eq!(serde_json::from_str::<Value>(&std::fs::read_to_string(out.join("export.json")).unwrap()).unwrap()["counts"]["exported"], 0);
}

#[test]
fn filters_select_what_they_say() {
    let tmp = tempfile::tempdir().unwrap();
    let threads = tmp.path().join("threads");
    corpus(&threads, 2);
    let count = |extra: &[&str]| -> Value {
        let out = tmp.path().join(format!("o{}", extra.join("_").replace(['-', '=', ','], "")));
        let mut args = vec![
            "export",
            threads.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--profile",
            "openai",
            "--format",
            "json",
            "--allow-few-examples",
            "--quality",
            "off",
        ];
        args.extend_from_slice(extra);
        let (o, e, _) = run(&args);
        let m: Value = serde_json::from_str(&o).unwrap_or_else(|_| panic!("{o}{e}"));
        m["counts"].clone()
    };
    assert_eq!(count(&[])["exported"], 8);
    let c = count(&["--correct-only"]);
    assert_eq!((c["exported"].clone(), c["skipped"]["not_correct"].clone()), (json!(4), json!(4)));
    assert_eq!(count(&["--label", "walking"])["exported"], 4);
    assert_eq!(count(&["--dataset", "mhealth"])["exported"], 0);
    assert_eq!(count(&["--status", "all"])["exported"], 9);
    assert_eq!(count(&["--status", "active"])["exported"], 1);
    assert_eq!(count(&["--min-tool-calls", "50"])["skipped"]["too_few_tool_calls"], 8);
    let c = count(&["--max-tokens", "100"]);
    assert_eq!(c["skipped"]["too_many_tokens"], 8);
}

#[test]
fn strict_writes_nothing_when_a_thread_is_invalid() {
    let tmp = tempfile::tempdir().unwrap();
    let threads = tmp.path().join("threads");
    corpus(&threads, 1);
    let out = tmp.path().join("out");
    let (o, e, code) = export(&threads, &out, "openai", &["--strict"]);
    assert_eq!(code, 1, "{o}{e}");
    assert!(e.contains("--strict"), "{e}");
    assert!(!out.exists(), "nothing written");
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().filter_map(|e| e.ok()?.file_name().into_string().ok()).collect();
    assert_eq!(left, ["threads"], "no temporaries left: {left:?}");
}

#[test]
fn shards_and_compression_hold_the_same_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let threads = tmp.path().join("threads");
    corpus(&threads, 3);
    let plain = tmp.path().join("plain");
    let (o, e, code) = export(&threads, &plain, "trl", &[]);
    assert_eq!(code, 0, "{o}{e}");
    let want = std::fs::read(plain.join("train.jsonl")).unwrap();
    for (compress, ext) in [("gzip", "gz"), ("zstd", "zst")] {
        let out = tmp.path().join(compress);
        let (o, e, code) = export(&threads, &out, "trl", &["--shard-size", "5", "--compress", compress]);
        assert_eq!(code, 0, "{o}{e}");
        let mut got = Vec::new();
        for k in 0..3 {
            let path = out.join(format!("train/train-{k:05}-of-00003.jsonl.{ext}"));
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let mut text = Vec::new();
            if ext == "gz" {
                std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(bytes.as_slice()), &mut text).unwrap();
            } else {
                text = zstd::decode_all(bytes.as_slice()).unwrap();
            }
            assert!(text.split(|&b| b == b'\n').filter(|l| !l.is_empty()).count() <= 5);
            got.extend(text);
        }
        assert_eq!(got, want, "{compress}: the shards hold the unsharded file's lines, in order");
        // Compressed training files are checked as they are.
        let (v, e, code) = run(&["validate", "--profile", "trl", out.to_str().unwrap(), "--format", "json"]);
        assert_eq!(code, 0, "{v}{e}");
        let report: Value = serde_json::from_str(&v).unwrap();
        assert_eq!(report["summary"]["files"], 12, "{compress}: every example of the shards was read");
    }
    // A single named file.
    let file = tmp.path().join("one/data.jsonl.gz");
    let (o, e, code) = export(&threads, &file, "openai", &[]);
    assert_eq!(code, 0, "{o}{e}");
    assert!(file.exists() && tmp.path().join("one/data.jsonl.gz.export.json").exists());
    let (_, e, code) = export(&threads, &file, "openai", &["--split", "a=0.5,b=0.5"]);
    assert_eq!(code, 2, "{e}");
    assert!(e.contains("give --out a folder"), "{e}");
}

#[test]
fn validate_profile_reports_broken_training_files() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("train.jsonl");
    let good = json!({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]});
    let bad = json!({"messages": [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "x", "tool_calls": null},
        {"role": "tool", "tool_call_id": "zz", "content": {"a": 1}}]});
    let mut text = String::new();
    for _ in 0..10 {
        text.push_str(&format!("{good}\n"));
    }
    text.push_str(&format!("{bad}\n"));
    std::fs::write(&file, &text).unwrap();
    let (report, code) = common::json_report(&["--profile", "openai", file.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert_eq!(common::codes(&report), ["TK702", "TK703", "TK705"]);
    // Examples with nothing found are counted, not listed (a million clean lines keep no report each).
    assert_eq!(report["files"].as_array().unwrap().len(), 1, "{report}");
    assert_eq!((report["summary"]["files"].as_u64(), report["summary"]["valid"].as_u64()), (Some(11), Some(10)));
    let diag = &report["files"][0]["diagnostics"][0];
    assert_eq!(report["files"][0]["record"], 11);
    assert_eq!(diag["line"], 11, "findings point at the file's line");

    // Fewer than 10 examples: the file-level OpenAI rule.
    std::fs::write(&file, format!("{good}\n")).unwrap();
    let (report, code) = common::json_report(&["--profile", "openai", file.to_str().unwrap()]);
    assert_eq!((common::codes(&report), code), (vec!["TK710".to_string()], 1));
    let (report, code) = common::json_report(&["--profile", "trl", file.to_str().unwrap()]);
    assert_eq!((common::codes(&report), code), (Vec::<String>::new(), 0));

    // The token limit.
    let (report, _) = common::json_report(&["--profile", "trl", "--max-tokens", "5", file.to_str().unwrap()]);
    assert_eq!(common::codes(&report), ["TK709"]);
}

#[test]
fn openai_refuses_fewer_than_ten_examples_and_twins_are_dropped() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("few");
    // The fixtures: 7 threads, of which two are byte-identical twins of others once exported.
    let (o, e, code) = export(&fixtures().join("threads/valid"), &out, "openai", &["--status", "all"]);
    assert_eq!(code, 1, "{o}{e}");
    assert!(e.contains("fewer than 10") && e.contains("--allow-few-examples"), "{e}");
    assert!(!out.exists(), "nothing is written");
    let (o, e, code) =
        export(&fixtures().join("threads/valid"), &out, "openai", &["--status", "all", "--allow-few-examples", "--format", "json"]);
    assert_eq!(code, 0, "{o}{e}");
    let m: Value = serde_json::from_str(&o).unwrap();
    assert_eq!(m["counts"]["skipped"]["duplicate_example"], 2, "{o}");
    assert_eq!(m["changes"]["trailing tool result dropped (no assistant turn after it to train)"], 1, "{o}");
    let written = lines(&out.join("train.jsonl"));
    let unique: std::collections::HashSet<String> = written.iter().map(|l| l.to_string()).collect();
    assert_eq!(unique.len(), written.len());
    assert!(written.iter().all(|l| l["messages"].as_array().unwrap().last().unwrap()["role"] != "tool"));
}

#[test]
fn chat_template_adaptations_are_applied_and_recorded() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("nemo");
    let template = fixtures().join("chat_templates/mistralai-Mistral-Nemo-Instruct-2407.jinja");
    let (o, e, code) = export(
        &fixtures().join("threads/valid"),
        &out,
        "trl",
        &["--status", "all", "--format", "json", "--chat-template", template.to_str().unwrap(), "--allow-template-drops"],
    );
    assert_eq!(code, 0, "{o}{e}");
    let m: Value = serde_json::from_str(&o).unwrap();
    assert_eq!(m["chat_template"]["adaptation"]["short_ids"], true, "{o}");
    assert_eq!(m["chat_template"]["adaptation"]["merge_assistant"], true, "{o}");
    assert!(m["changes"]["assistant text not rendered by the chat template (never trained)"].as_u64().unwrap() > 0);
    for l in lines(&out.join("train.jsonl")) {
        for msg in l["messages"].as_array().unwrap() {
            for c in msg["tool_calls"].as_array().into_iter().flatten() {
                assert_eq!(c["id"].as_str().unwrap().len(), 9);
            }
        }
    }
    // The same file, checked against the template: clean; the unadapted trl export is not.
    let (v, e, code) = run(&["validate", "--profile", "trl", "--chat-template", template.to_str().unwrap(), "--format", "json", out.join("train.jsonl").to_str().unwrap()]);
    assert!(!v.contains("TK714"), "{v}{e}");
    let _ = code;
    let plain = tmp.path().join("plain");
    export(&fixtures().join("threads/valid"), &plain, "trl", &["--status", "all"]);
    let (v, _, code) = run(&["validate", "--profile", "trl", "--chat-template", template.to_str().unwrap(), "--format", "json", plain.join("train.jsonl").to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(v.contains("TK714") && v.contains("length 9"), "{v}");
    let llama = fixtures().join("chat_templates/meta-llama-Llama-3.1-8B-Instruct.jinja");
    let (v, _, _) = run(&["validate", "--profile", "trl", "--chat-template", llama.to_str().unwrap(), "--format", "json", plain.join("train.jsonl").to_str().unwrap()]);
    assert!(v.contains("TK715"), "{v}");
}

/// Issue 25 §3: a template that leaves tool calls (Granite 3.3) or reasoning (Mistral Nemo) out
/// of what it renders fails the export — exit 1, nothing written, the template and the counts
/// named — unless the loss is accepted with --allow-template-drops.
#[test]
fn a_template_that_drops_calls_or_text_fails_the_export_unless_allowed() {
    for (template, what) in [
        ("chat_templates/drops/ibm-granite-granite-3.3-2B-Instruct.jinja", "tool call not rendered by the chat template"),
        ("chat_templates/mistralai-Mistral-Nemo-Instruct-2407.jinja", "assistant text not rendered"),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        let path = fixtures().join(template);
        let args = ["--status", "all", "--quality", "off", "--chat-template", path.to_str().unwrap()];
        let (o, e, code) = export(&fixtures().join("threads/valid"), &out, "trl", &args);
        assert_eq!(code, 1, "{template}: {o}{e}");
        assert!(e.contains(path.file_name().unwrap().to_str().unwrap()) && e.contains(what) && e.contains("nothing was written"), "{e}");
        assert!(e.contains("--allow-template-drops"), "says how to accept it: {e}");
        assert!(!out.exists(), "{template}: nothing written");
        let mut allowed = args.to_vec();
        allowed.push("--allow-template-drops");
        let (o, e, code) = export(&fixtures().join("threads/valid"), &out, "trl", &allowed);
        assert_eq!(code, 0, "{template}: {o}{e}");
        let m: Value = serde_json::from_str(&std::fs::read_to_string(out.join("export.json")).unwrap()).unwrap();
        let lost: u64 = m["changes"].as_object().unwrap().iter().filter(|(k, _)| k.contains("not rendered")).map(|(_, v)| v.as_u64().unwrap()).sum();
        assert!(lost > 0, "the loss is recorded in export.json: {m}");
    }
}

/// Issue 25 §3: TRL's original DeepSeek-V3 template concatenates `arguments` as a string. The
/// trl profile's rule (arguments are objects, for templates that apply `tojson`) gives way to
/// what the template needs: every example exports, every call renders, no reasoning is lost.
#[test]
fn trls_deepseek_v3_template_exports_every_example_with_string_arguments() {
    let tmp = tempfile::tempdir().unwrap();
    let template = fixtures().join("chat_templates/drops/trl-deepseekv3.jinja");
    let template = template.to_str().unwrap();
    let baseline = tmp.path().join("qwen");
    let qwen = fixtures().join("chat_templates/Qwen-Qwen3-0.6B.jinja");
    let (o, e, code) = export(&fixtures().join("threads/valid"), &baseline, "trl", &["--status", "all", "--chat-template", qwen.to_str().unwrap()]);
    assert_eq!(code, 0, "{o}{e}");
    let out = tmp.path().join("dsv3");
    let (o, e, code) = export(&fixtures().join("threads/valid"), &out, "trl", &["--status", "all", "--chat-template", template]);
    assert_eq!(code, 0, "{o}{e}");
    let m = manifest(&out);
    assert_eq!(m["counts"]["exported"], manifest(&baseline)["counts"]["exported"], "{m}");
    assert!(m["changes"].as_object().unwrap().keys().all(|k| !k.contains("not rendered")), "{m}");
    assert_eq!(m["chat_template"]["adaptation"]["string_arguments"], true);
    let written = lines(&out.join("train.jsonl"));
    let calls: Vec<&Value> = written.iter().flat_map(|l| l["messages"].as_array().unwrap()).flat_map(|m| m["tool_calls"].as_array().into_iter().flatten()).collect();
    assert!(!calls.is_empty());
    assert!(calls.iter().all(|c| c["function"]["arguments"].as_str().is_some_and(|a| a.starts_with('{'))), "string arguments");
    // What validate says of the file: clean with this template; without it, the trl profile's object rule.
    let with = run(&["validate", "--profile", "trl", "--chat-template", template, out.join("train.jsonl").to_str().unwrap(), "-q"]);
    assert_eq!(with.2, 0, "{}{}", with.0, with.1);
    let without = run(&["validate", "--profile", "trl", out.join("train.jsonl").to_str().unwrap(), "-q"]);
    assert_eq!(without.2, 1);
    assert!(without.0.contains("TK704"), "{}", without.0);
}

/// Every file below `dir`, relative to it, with its bytes.
fn files_below(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(Result::unwrap)
        .filter(|e| e.file_type().is_file())
        .map(|e| (e.path().strip_prefix(dir).unwrap().display().to_string(), std::fs::read(e.path()).unwrap()))
        .collect()
}

/// A split whose examples come in id order is written into its file as they come
/// (`export::in_order`); one that stops being in order is written after the run from the
/// spool and the file's own lines. The data files are the same bytes whichever way: threads
/// named by their ids (every split in order), named against them (none), a twin of an
/// example already written (read back from its file, which gives that split up), and the
/// spool alone (`--shard-size`). Nothing else is left in the output, and the manifest lists
/// each file as it is.
#[test]
fn files_written_as_their_lines_come_are_the_files_written_after_the_run() {
    use sha2::Digest;
    let tmp = tempfile::tempdir().unwrap();
    let ordered = tmp.path().join("ordered");
    corpus(&ordered, 6);
    std::fs::remove_file(ordered.join("broken_v4_0001.json")).unwrap();
    let mut names: Vec<String> =
        std::fs::read_dir(&ordered).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    // The same threads in folders that put them in the reverse of their ids' order (a file's
    // name is its id: TK011).
    let reversed = tmp.path().join("reversed");
    for (k, name) in names.iter().enumerate() {
        let folder = reversed.join(format!("{:03}", names.len() - k));
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::copy(ordered.join(name), folder.join(name)).unwrap();
    }
    // A twin of an early example under a later id: byte for byte the same line once exported.
    let twin = tmp.path().join("twin");
    common::copy_dir(&ordered, &twin);
    let mut doc: Value = serde_json::from_str(&std::fs::read_to_string(ordered.join("uci_har_train_01_0000_v4_0001_s0_c0.json")).unwrap()).unwrap();
    doc["id"] = json!("zz_twin_v4_0001");
    std::fs::write(twin.join("zz_twin_v4_0001.json"), serde_json::to_string_pretty(&doc).unwrap()).unwrap();

    let split = ["--split", "train=0.5,val=0.5", "--allow-few-examples"];
    let out = |name: &str| tmp.path().join(format!("out_{name}"));
    for (input, name, extra) in [(&ordered, "ordered", &[][..]), (&reversed, "reversed", &[]), (&twin, "twin", &[]), (&ordered, "spool", &["--shard-size", "1000"])] {
        let args: Vec<&str> = split.iter().chain(extra).copied().collect();
        let (o, e, code) = export(input, &out(name), "trl", &args);
        assert_eq!(code, 0, "{name}: {o}{e}");
        assert!(common::temporaries_in(tmp.path()).is_empty(), "{name}: {:?}", common::temporaries_in(tmp.path()));
        let manifest = manifest(&out(name));
        let files = files_below(&out(name));
        for f in manifest["files"].as_array().unwrap() {
            let bytes = &files[f["path"].as_str().unwrap()];
            assert_eq!(f["bytes"], bytes.len(), "{name}: {f}");
            assert_eq!(f["sha256"].as_str().unwrap(), sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect::<String>(), "{name}: {f}");
            if let Some(records) = f["records"].as_u64() {
                assert_eq!(records as usize, bytes.iter().filter(|&&b| b == b'\n').count(), "{name}: {f}");
            }
        }
        assert_eq!(manifest["files"].as_array().unwrap().len() + 1, files.len(), "{name}: only the listed files and export.json: {:?}", files.keys());
    }
    let ordered_files = files_below(&out("ordered"));
    let data = |files: &std::collections::BTreeMap<String, Vec<u8>>, split: &str| {
        files.iter().find(|(path, _)| path.ends_with(".jsonl") && path.contains(split)).map(|(_, b)| b.clone()).unwrap()
    };
    for split in ["train", "val"] {
        let want = data(&ordered_files, split);
        assert!(want.len() > 1000, "{split}: {}", want.len());
        for name in ["reversed", "twin", "spool"] {
            assert!(data(&files_below(&out(name)), split) == want, "{name}: {split} differs from the export in order");
        }
    }
    assert_eq!(manifest(&out("twin"))["counts"]["skipped"]["duplicate_example"], 1, "{}", manifest(&out("twin"))["counts"]);
    let listed = |name: &str| manifest(&out(name))["files"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    assert_eq!(listed("ordered"), listed("reversed"), "listed in the same order");
    assert_eq!(listed("ordered"), listed("twin"));
}
