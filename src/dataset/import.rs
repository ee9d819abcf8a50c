//! Importing recordings into the dataset layout:
//! `manifest.json`, `labels.json`, `sessions/<id>/data.parquet`.
//! Deterministic: the same inputs give the same session ids and the same bytes.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Value};

use super::recording::Recording;
use super::uea_ts;
use crate::pyjson::{self, Style};
use crate::write::atomic_write;

#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub name: Option<String>,
    pub sampling_rate_hz: f64,
    pub channels: Option<Vec<String>>,
    pub description: Option<String>,
}

#[derive(Debug)]
pub struct Imported {
    pub manifest: Value,
    pub labels: BTreeMap<String, Vec<String>>,
    pub sessions: Vec<(String, Recording)>,
}

/// `BasicMotions_TRAIN.ts` → `train`; other names → the stem in lower case.
fn split_of(path: &Path) -> String {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("cases");
    let last = stem.rsplit('_').next().unwrap_or(stem).to_ascii_lowercase();
    if ["train", "test", "valid", "validation", "eval"].contains(&last.as_str()) {
        last
    } else {
        stem.to_ascii_lowercase().replace(|c: char| !c.is_ascii_alphanumeric(), "_")
    }
}

/// Import UEA `.ts` files: every case becomes a session whose ground truth is its class label.
pub fn from_uea_ts(files: &[(&Path, &str)], options: &ImportOptions) -> Result<Imported, String> {
    if !(options.sampling_rate_hz.is_finite() && options.sampling_rate_hz > 0.0) {
        return Err(format!("--sampling-rate-hz must be a positive number, not {}", options.sampling_rate_hz));
    }
    let mut problem = None;
    let mut description = String::new();
    let mut dims = None;
    let mut labels = BTreeMap::new();
    let mut sessions = Vec::new();
    for (path, text) in files {
        let (header, cases) = uea_ts::parse(text).map_err(|e| format!("{}: {e}", path.display()))?;
        if header.class_labels.is_none() {
            return Err(format!(
                "{}: the file has no class labels (@classLabel false); sessions need a ground truth",
                path.display()
            ));
        }
        if problem.is_none() {
            problem = header.problem_name.clone();
            description = header.description.clone();
        }
        let split = split_of(path);
        for (i, case) in cases.into_iter().enumerate() {
            let d = case.dims.len();
            if *dims.get_or_insert(d) != d {
                return Err(format!(
                    "{}: case {} has {d} dimensions, earlier cases {}",
                    path.display(),
                    i + 1,
                    dims.unwrap_or(0)
                ));
            }
            let id = format!("{split}_{i:04}");
            if labels.contains_key(&id) {
                return Err(format!(
                    "{}: session id {id} repeats; give the files distinct names (…_TRAIN.ts, …_TEST.ts)",
                    path.display()
                ));
            }
            let rate = options.sampling_rate_hz;
            let n = case.dims[0].len();
            let timestamps = (0..n).map(|k| k as f64 / rate).collect();
            let names = channel_names(options.channels.as_deref(), d)?;
            let channels = names.into_iter().zip(case.dims).collect();
            labels.insert(id.clone(), vec![case.label.unwrap_or_default()]);
            sessions.push((id, Recording { timestamps, channels }));
        }
    }
    let d = dims.ok_or("the files hold no cases")?;
    let names = channel_names(options.channels.as_deref(), d)?;
    let dataset_name = options.name.clone().or(problem).unwrap_or_else(|| "imported".into());
    let sources: Vec<String> =
        files.iter().map(|(p, _)| p.file_name().map_or(String::new(), |n| n.to_string_lossy().into_owned())).collect();
    let manifest = json!({
        "dataset_name": dataset_name,
        "description": options.description.clone().unwrap_or(description),
        "source": format!("UEA/UCR time series archive: {}", sources.join(", ")),
        "channels": names.iter().map(|n| json!({"name": n, "description": format!("dimension {n} of the archive's series"), "sampling_rate_hz": options.sampling_rate_hz})).collect::<Vec<_>>(),
    });
    Ok(Imported { manifest, labels, sessions })
}

fn channel_names(given: Option<&[String]>, dims: usize) -> Result<Vec<String>, String> {
    match given {
        Some(names) if names.len() != dims => {
            Err(format!("--channels names {} channels, the data has {dims} dimensions", names.len()))
        }
        Some(names) => {
            for n in names {
                crate::data_root::safe_name(n).map_err(|why| format!("channel name {n:?} is refused: {why}"))?;
                if n == super::recording::TIME_COLUMN {
                    return Err(format!("{n} is the time column; choose another channel name"));
                }
            }
            Ok(names.to_vec())
        }
        None => Ok((0..dims).map(|i| format!("dim_{i}")).collect()),
    }
}

/// Write the dataset under `out`, every file atomically.
pub fn write(out: &Path, imported: &Imported) -> Result<(), String> {
    let style = Style { indent: Some(2), ensure_ascii: false, tight: false };
    let io = |what: &Path, e: std::io::Error| format!("cannot write {}: {e}", what.display());
    std::fs::create_dir_all(out.join("sessions")).map_err(|e| io(out, e))?;
    let mut text = pyjson::to_string(&imported.manifest, style);
    text.push('\n');
    atomic_write(&out.join("manifest.json"), text.as_bytes()).map_err(|e| io(&out.join("manifest.json"), e))?;
    let labels: Value =
        imported.labels.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>().into();
    let mut text = pyjson::to_string(&labels, style);
    text.push('\n');
    atomic_write(&out.join("labels.json"), text.as_bytes()).map_err(|e| io(&out.join("labels.json"), e))?;
    for (id, rec) in &imported.sessions {
        let dir = out.join("sessions").join(id);
        std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
        let bytes = rec.to_parquet()?;
        atomic_write(&dir.join("data.parquet"), &bytes).map_err(|e| io(&dir, e))?;
    }
    Ok(())
}
