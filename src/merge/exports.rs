//! The `export.json` of N export shards (`export --shard I/N`) as the manifest of one export:
//! a trainer reads the parts' files (`part-*/train.jsonl`); this says whether they are all
//! there and whole, and what they hold together. The parts must be one run (the same
//! flags), every shard once, and every file a part lists must have the bytes and SHA-256 its
//! manifest recorded: a lost or cut shard would otherwise train a model on part of the data
//! with nothing to say so.

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::{add, check_parts, merged_tokens, Beside, Input};
use crate::export::formats::axolotl;

/// What the parts of one run share: a part exported with other flags is another export.
const SHARED: [&str; 11] = [
    "threadkit_version",
    "profile",
    "tokenizer",
    "filters",
    "split",
    "shard_size",
    "partitions",
    "line_order",
    "compression",
    "chat_template",
    "requires",
];

/// The merged manifest, and the file to write beside it (a trainer's config: `trainer_config`).
pub(super) struct MergedExport {
    pub manifest: Value,
    pub beside: Vec<Beside>,
    /// What a user reading the terminal should know (what was written beside, what to train on).
    pub note: Option<String>,
}

/// Checks the parts and makes their merged manifest, naming each part's files relative to the
/// folder of `to` (the merged manifest's file; `None`: it is printed, names are relative to the
/// working folder and nothing is written beside it).
pub(super) fn merge(inputs: &[Input], manifests: Vec<Map<String, Value>>, partial: bool, to: Option<&Path>) -> Result<MergedExport, String> {
    let names_from = to.map_or(Path::new("."), super::folder_of);
    let first = &manifests[0];
    for (input, m) in inputs.iter().zip(&manifests).skip(1) {
        let differs = SHARED.iter().copied().find(|k| m.get(*k) != first.get(*k));
        let differs = differs.or((m["quality"]["mode"] != first["quality"]["mode"]).then_some("quality.mode"));
        if let Some(key) = differs {
            let at = |m: &Map<String, Value>| match key {
                "quality.mode" => m["quality"]["mode"].to_string(),
                k => m.get(k).map_or("nothing".into(), Value::to_string),
            };
            return Err(format!(
                "{} was exported with {key} {} but {} with {}: merge the parts of one export (the same flags, each with its own --shard I/N)",
                input.name,
                at(m),
                inputs[0].name,
                at(first)
            ));
        }
    }
    // `input_shard` is export's `shard`, without the command it is implied by.
    let tags: Vec<Option<Value>> = manifests
        .iter()
        .map(|m| match &m["input_shard"] {
            Value::Null => None,
            Value::Object(shard) => {
                let mut tag = shard.clone();
                tag.insert("command".into(), "export".into());
                Some(Value::Object(tag))
            }
            other => Some(other.clone()),
        })
        .collect();
    let held = check_parts(inputs, &tags, partial)?;
    let complete = held.is_none();
    let mut files = Vec::new();
    let mut infos = Vec::new();
    for (input, m) in inputs.iter().zip(&manifests) {
        let Some(dir) = &input.dir else { return Err(format!("{}: an export's manifest is merged from its folder", input.name)) };
        for file in m["files"].as_array().into_iter().flatten() {
            let listed = checked(input, dir, file)?;
            let mut file = file.clone();
            // Which shard wrote it: a node's merge has said so already.
            if let (None, Some(shard)) = (file.get("shard"), m["input_shard"]["index"].as_u64()) {
                file["shard"] = json!(shard);
            }
            let at = dir.join(&listed);
            if listed.file_name() == Some(DATASET_INFO.as_ref()) && file["written_by"] != "merge" {
                infos.push((file["shard"].as_u64(), at.clone()));
            }
            file["path"] = json!(relative(names_from, &at).to_string_lossy());
            files.push(file);
        }
    }
    let mut manifest = merged(inputs, &manifests, held, files);
    // A node's merge (`--partial`, shards missing) leaves them to the final merge: nodes writing
    // into one folder would replace each other's.
    let (beside, note) = if complete { trainer_config(&mut manifest, &infos, to)? } else { (Vec::new(), None) };
    Ok(MergedExport { manifest, beside, note })
}

/// LLaMA-Factory's dataset list, which names the files of a `--dataset_dir`.
const DATASET_INFO: &str = "dataset_info.json";
/// Axolotl's `datasets:` block.
const AXOLOTL_YAML: &str = "axolotl.yaml";

/// The file a trainer reads beside the data, for all the parts at once (`dataset_info.json`
/// for LLaMA-Factory, `axolotl.yaml` for Axolotl), listed in the manifest as `written_by:
/// merge`, and what the terminal is told of it. Printed manifests (no folder) get a warning.
fn trainer_config(manifest: &mut Value, infos: &[(Option<u64>, PathBuf)], to: Option<&Path>) -> Result<(Vec<Beside>, Option<String>), String> {
    let name = match manifest["profile"].as_str() {
        Some("llama-factory") if !infos.is_empty() => DATASET_INFO,
        Some("axolotl") => AXOLOTL_YAML,
        _ => return Ok((Vec::new(), None)),
    };
    let Some((to, into)) = to.map(|to| (to, super::folder_of(to))) else {
        let warning = format!("{name} for the merged parts is not written: merge with --out FILE to write it beside the merged manifest");
        manifest["warnings"].as_array_mut().expect("warnings is a list").push(json!(warning));
        return Ok((Vec::new(), Some(format!("warning: {warning}"))));
    };
    let at = into.join(name);
    let replaces = crate::walk::FileId::of(&at);
    let (bytes, note) = if name == DATASET_INFO {
        let (info, datasets) = dataset_info(infos, into)?;
        replaceable(&at, to, name, &info, |old| only_these_datasets(old, &datasets))?;
        let lists: Vec<String> =
            datasets.as_object().into_iter().flatten().map(|(key, list)| format!("  {key}: {}", list.as_str().unwrap_or_default())).collect();
        let note = format!(
            "wrote {} for LLaMA-Factory (dataset_dir: {}); train on each dataset's parts together:\n{}",
            at.display(),
            into.display(),
            lists.join("\n")
        );
        manifest["merged"]["llama_factory_datasets"] = datasets;
        (info, note)
    } else {
        let yaml = axolotl_config(manifest, into);
        replaceable(&at, to, name, &yaml, |old| {
            old.starts_with(axolotl::HEADER.as_bytes()).then_some(()).ok_or_else(|| "a config threadkit did not write".to_string())
        })?;
        (yaml, format!("wrote {} for Axolotl: every part's files, one dataset a split", at.display()))
    };
    manifest["files"].as_array_mut().expect("files is a list").push(json!({
        "path": name,
        "bytes": bytes.len(),
        "sha256": crate::export::sink::sha256_hex(&bytes),
        "written_by": "merge",
    }));
    let note = crate::text::terminal_safe(&note, true).into_owned();
    Ok((vec![Beside { name: name.to_string(), bytes, replaces }], Some(note)))
}

/// The trainer config at `at` may be replaced by `new`: nothing is there, or a merge wrote it
/// (`ours`: the format's own check) for these same parts. Anything else (the trainer's own
/// `data/dataset_info.json`, a user's Axolotl config, a part's own file) is refused, named by
/// what `ours` says it holds. A merged config names other parts' files when the manifest at `to`
/// does not list it as it is and it names a data file `new` does not (not the same parts merged
/// again, nor a merge killed before its manifest): replacing it would leave that merge's
/// manifest naming a file that no longer holds its parts, and a trainer reading this merge's
/// data under that merge's dataset names.
fn replaceable(at: &Path, to: &Path, name: &str, new: &[u8], ours: impl Fn(&[u8]) -> Result<(), String>) -> Result<(), String> {
    let old = match std::fs::read(at) {
        Ok(old) => old,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("{}: {}; give --out a folder of its own", crate::text::shown(at), crate::open::describe_io(&e))),
    };
    ours(&old).map_err(|what| {
        format!("{} is there already with {what}: merging would replace it; give --out a folder of its own", crate::text::shown(at))
    })?;
    let these = data_files(name, new);
    let Some(other) = data_files(name, &old).into_iter().find(|f| !these.contains(f)) else { return Ok(()) };
    // Read only now, and only so much: `--out` may name any file, a merged manifest is small.
    let mut text = Vec::new();
    let read = std::fs::File::open(to).and_then(|f| f.take(MANIFEST_LIMIT).read_to_end(&mut text));
    let manifest = read.ok().and_then(|_| serde_json::from_slice::<Value>(&text).ok());
    let sha256 = crate::export::sink::sha256_hex(&old);
    let mut listed = manifest.as_ref().and_then(|m| m["files"].as_array()).into_iter().flatten();
    if listed.any(|f| f["path"] == name && f["written_by"] == "merge" && f["sha256"] == sha256.as_str()) {
        return Ok(());
    }
    Err(format!(
        "{} is there already for other parts (it names {}, which these parts do not have): merging would replace it; give \
         --out a folder of its own, or the --out of the merge that wrote it",
        crate::text::shown(at),
        crate::text::terminal_safe(&other, false)
    ))
}

/// The most of an existing `--out` file `replaceable` reads to learn whether it lists a config.
const MANIFEST_LIMIT: u64 = 16 << 20;

/// The data files a merged trainer config names: `file_name` of every `dataset_info.json` entry,
/// the `data_files` items of an `axolotl.yaml`.
fn data_files(name: &str, config: &[u8]) -> Vec<String> {
    if name == DATASET_INFO {
        let entries = serde_json::from_slice::<Map<String, Value>>(config).unwrap_or_default();
        return entries.values().filter_map(|e| e["file_name"].as_str().map(str::to_string)).collect();
    }
    axolotl::data_files(&String::from_utf8_lossy(config))
}

/// Export's own `axolotl.yaml` writer over every part's files: one `datasets:` entry whose
/// `data_files` lists the first split's file of every part (Axolotl reads a list), one
/// `test_datasets:` entry for the second split.
fn axolotl_config(manifest: &Value, into: &Path) -> Vec<u8> {
    use crate::export::format::{Profile, Written};
    use crate::export::sink::FileInfo;
    let files: Vec<FileInfo> = manifest["files"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| {
            let (path, split) = (f["path"].as_str()?, f["split"].as_str()?);
            Some(FileInfo { path: path.to_string(), split: Some(split.to_string()), records: None, bytes: 0, sha256: String::new() })
        })
        .collect();
    // The order asked for (the first split trains); a part's counts list only the splits it has.
    let order = manifest["split"]["ratios"].as_object().or(manifest["counts"]["splits"].as_object());
    let splits: Vec<&str> = order.into_iter().flatten().map(|(name, _)| name.as_str()).collect();
    let written = Written { dir: into, files: &files, splits, name: "" };
    let (_, yaml) = Profile::Axolotl.format().side_files(&written).into_iter().find(|(n, _)| n == AXOLOTL_YAML).expect("axolotl writes axolotl.yaml");
    yaml.into_bytes()
}

/// One `dataset_info.json` for the folder `into` from the parts' own (`(shard, path)`): every
/// entry as its part wrote it (`formatting`, `columns`, `tags`), `file_name` made relative to
/// `into`, the key suffixed by the part's shard (`threadkit_train` of shard 2 →
/// `threadkit_train_shard2`; parts of whole runs by their place). LLaMA-Factory reads one file
/// or one folder an entry, and the parts' files lie in folders of their own, so a trainer takes
/// them all with `dataset: threadkit_train_shard1,…`; the second value lists those by the
/// parts' key.
fn dataset_info(infos: &[(Option<u64>, PathBuf)], into: &Path) -> Result<(Vec<u8>, Value), String> {
    // (the part's key, shard, the entry)
    let mut all: Vec<(String, u64, Value)> = Vec::new();
    for (position, (shard, path)) in infos.iter().enumerate() {
        let text = std::fs::read(path).map_err(|e| format!("{}: {}", crate::text::shown(path), crate::open::describe_io(&e)))?;
        let Ok(Value::Object(entries)) = serde_json::from_slice::<Value>(&text) else {
            return Err(format!("{}: not a JSON object of datasets; run that part's export again", crate::text::shown(path)));
        };
        let dir = path.parent().unwrap_or(Path::new("."));
        for (key, entry) in entries {
            let Value::Object(mut entry) = entry else {
                return Err(format!("{}: {key} is not a dataset entry (an object); run that part's export again", crate::text::shown(path)));
            };
            let file_name = entry.get("file_name").and_then(Value::as_str).unwrap_or_default().to_string();
            entry.insert("file_name".into(), json!(relative(into, &dir.join(file_name)).to_string_lossy()));
            all.push((key, shard.unwrap_or(position as u64 + 1), Value::Object(entry)));
        }
    }
    all.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    let mut info = Map::new();
    let mut lists: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (key, shard, entry) in all {
        let merged_key = format!("{key}_shard{shard}");
        lists.entry(key).or_default().push(merged_key.clone());
        info.insert(merged_key, entry);
    }
    let datasets: Map<String, Value> = lists.into_iter().map(|(key, names)| (key, json!(names.join(",")))).collect();
    let mut text = serde_json::to_vec_pretty(&Value::Object(info)).expect("JSON values serialize");
    text.push(b'\n');
    Ok((text, Value::Object(datasets)))
}

/// A `dataset_info.json` a merge of these dataset keys (`datasets`) wrote: every key is one of
/// theirs with a shard suffix.
fn only_these_datasets(old: &[u8], datasets: &Value) -> Result<(), String> {
    let old: Map<String, Value> = serde_json::from_slice(old).map_err(|_| "something that is not a JSON object".to_string())?;
    let keys = datasets.as_object().into_iter().flatten().map(|(key, _)| key);
    let foreign: Vec<&str> = old.keys().filter(|k| !keys.clone().any(|key| is_shard_key(k, key))).map(String::as_str).collect();
    match foreign.is_empty() {
        true => Ok(()),
        false => Err(format!("other datasets ({})", crate::text::terminal_safe(&foreign.join(", "), false))),
    }
}

/// `name` is what an earlier merge wrote for the part key `key`: `{key}_shard{N}`.
fn is_shard_key(name: &str, key: &str) -> bool {
    name.strip_prefix(key).and_then(|rest| rest.strip_prefix("_shard")).is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// A listed file is there, whole: its bytes and SHA-256 as the part's manifest recorded them.
/// Returns its path below the part's folder.
fn checked(input: &Input, dir: &Path, file: &Value) -> Result<PathBuf, String> {
    let (Some(path), Some(bytes), Some(sha256)) = (file["path"].as_str(), file["bytes"].as_u64(), file["sha256"].as_str()) else {
        return Err(format!("{}: a file entry without path, bytes and sha256 ({file}); merge the export.json threadkit wrote, unedited", input.name));
    };
    let below = Path::new(path);
    if path.is_empty() || !below.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(format!(
            "{}: lists {}, which is not a file inside its folder; merge the export.json threadkit wrote, unedited",
            input.name,
            crate::text::terminal_safe(path, false)
        ));
    }
    let at = dir.join(below);
    let shown = crate::text::shown(&at);
    let again = "run that part's export again";
    let mut reader = crate::open::open(&at).map_err(|e| format!("{shown}: {}; {} lists it: {again}", crate::open::describe_io(&e), input.name))?;
    let mut hash = Sha256::new();
    let mut buf = vec![0; 1 << 20];
    let mut read = 0u64;
    loop {
        let n = reader.read(&mut buf).map_err(|e| format!("{shown}: {}", crate::open::describe_io(&e)))?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
        read += n as u64;
    }
    if read != bytes {
        return Err(format!("{shown}: {read} bytes, but {} says the export wrote {bytes}: the file was cut or changed after the export; {again}", input.name));
    }
    if crate::export::sink::hex(&hash.finalize()) != sha256 {
        return Err(format!("{shown}: its SHA-256 is not the one {} recorded: the file was changed after the export; {again}", input.name));
    }
    Ok(below.to_path_buf())
}

/// `target` as a reader of a file in `from` names it: relative when it is below, else whole.
fn relative(from: &Path, target: &Path) -> PathBuf {
    let clean = |p: &Path| p.canonicalize().or_else(|_| std::path::absolute(p)).unwrap_or_else(|_| p.to_path_buf());
    let (from, target) = (clean(from), clean(target));
    target.strip_prefix(&from).map(Path::to_path_buf).unwrap_or(target)
}

fn merged(inputs: &[Input], manifests: &[Map<String, Value>], held: Option<Value>, files: Vec<Value>) -> Value {
    let first = &manifests[0];
    let sum = |f: &dyn Fn(&Map<String, Value>) -> Value| {
        let mut total = Value::Null;
        for m in manifests {
            add(&mut total, f(m));
        }
        total
    };
    let mut splits = Map::new();
    for m in manifests {
        for (name, split) in m["counts"]["splits"].as_object().into_iter().flatten() {
            splits.entry(name.clone()).or_insert_with(|| json!({"ratio": split["ratio"]}));
        }
    }
    for (name, split) in &mut splits {
        let of = |m: &Map<String, Value>| m["counts"]["splits"].get(name).cloned().unwrap_or_default();
        split["examples"] = sum(&|m| of(m)["examples"].clone());
        // A recording's threads may lie in two shards: the parts' session counts do not add up.
        split["sessions"] = Value::Null;
        split["by_dataset"] = sum(&|m| of(m)["by_dataset"].clone());
        split["by_label"] = sum(&|m| of(m)["by_label"].clone());
        split["tokens"] = merged_tokens(manifests.iter().map(|m| of(m)["tokens"].clone()));
    }
    let left_out: Vec<Value> = manifests.iter().flat_map(|m| m["quality"]["left_out"].as_array().cloned().unwrap_or_default()).collect();
    let warnings: Vec<Value> = inputs
        .iter()
        .zip(manifests)
        .flat_map(|(input, m)| m["warnings"].as_array().into_iter().flatten().map(move |w| json!(format!("{}: {}", input.name, w.as_str().unwrap_or_default()))))
        .collect();
    let input_shard = held.map(|mut tag| {
        tag.as_object_mut().map(|t| t.remove("command"));
        tag
    });
    let mut out = Map::new();
    out.insert("threadkit_version".into(), first["threadkit_version"].clone());
    out.insert("command".into(), json!(std::env::args().collect::<Vec<_>>()));
    for key in ["profile", "tokenizer", "filters", "split", "shard_size", "partitions", "line_order"] {
        out.insert(key.into(), first[key].clone());
    }
    out.insert("input_shard".into(), input_shard.unwrap_or_default());
    out.insert("compression".into(), first["compression"].clone());
    out.insert(
        "counts".into(),
        json!({
            "input_threads": sum(&|m| m["counts"]["input_threads"].clone()),
            "exported": sum(&|m| m["counts"]["exported"].clone()),
            "skipped": sum(&|m| m["counts"]["skipped"].clone()),
            "splits": splits,
        }),
    );
    out.insert("tokens".into(), merged_tokens(manifests.iter().map(|m| m["tokens"].clone())));
    out.insert("changes".into(), sum(&|m| m["changes"].clone()));
    out.insert(
        "quality".into(),
        json!({
            "mode": first["quality"]["mode"],
            "left_out": left_out,
            "flagged_exported_by_rule": sum(&|m| m["quality"]["flagged_exported_by_rule"].clone()),
        }),
    );
    out.insert("chat_template".into(), first["chat_template"].clone());
    out.insert("requires".into(), first["requires"].clone());
    out.insert("warnings".into(), json!(warnings));
    out.insert("files".into(), json!(files));
    out.insert(
        "merged".into(),
        json!({
            "parts": inputs.iter().zip(manifests).map(|(input, m)| json!({"manifest": input.name, "command": m["command"]})).collect::<Vec<_>>(),
            "not_merged": ["tokens.p95", "counts.splits.*.tokens.p95", "counts.splits.*.sessions"],
            // Each shard saw its own threads only.
            "not_checked_across_parts": ["duplicate ids", "near-duplicates (TKQ08)"],
        }),
    );
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A manifest names files below its folder only: an edited or hostile one cannot make the
    /// merge read (and list) a file elsewhere.
    #[test]
    fn a_listed_file_outside_the_part_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("train.jsonl"), "{}\n").unwrap();
        let input = Input { dir: Some(tmp.path().into()), ..Input::from_reader("p/export.json".into(), std::io::empty()) };
        let sha = "ca3d163bab055381827226140568f3bef7eaac187cebd76878e0b63e9e442356";
        assert_eq!(checked(&input, tmp.path(), &json!({"path": "train.jsonl", "bytes": 3, "sha256": sha})).unwrap(), Path::new("train.jsonl"));
        for path in ["../train.jsonl", "/etc/passwd", "", ".", "a/../../b", "./train.jsonl"] {
            let e = checked(&input, tmp.path(), &json!({"path": path, "bytes": 3, "sha256": sha})).unwrap_err();
            assert!(e.contains("not a file inside its folder"), "{path}: {e}");
        }
        let e = checked(&input, tmp.path(), &json!({"path": "train.jsonl", "bytes": 3})).unwrap_err();
        assert!(e.contains("without path, bytes and sha256"), "{e}");
    }
}
