//! Importing recordings into the dataset layout:
//! `manifest.json`, `labels.json`, `sessions/<id>/data.parquet`.
//! Deterministic: the same inputs give the same session ids and the same bytes.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Value};

use super::recording::{Recording, MAX_CHANNELS, MAX_SESSION_BYTES, MAX_SESSION_VALUES};
use super::uea_ts;
use crate::pyjson::{self, Style};

#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub name: Option<String>,
    pub sampling_rate_hz: f64,
    pub channels: Option<Vec<String>>,
    pub description: Option<String>,
}

impl ImportOptions {
    fn check(&self) -> Result<(), String> {
        if self.sampling_rate_hz.is_finite() && self.sampling_rate_hz > 0.0 {
            Ok(())
        } else {
            Err(format!("--sampling-rate-hz must be a positive number, not {}", self.sampling_rate_hz))
        }
    }
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
    options.check()?;
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

/// How CSV files map to sessions.
#[derive(Debug, Clone, Default)]
pub struct CsvColumns {
    /// Column holding the session id (one long file, many sessions); without it each file is one session named by its stem.
    pub session: Option<String>,
    /// Column holding the session's label (constant within a session).
    pub label: String,
    /// Column holding the time in seconds; without it, sample i is at i / rate.
    pub time: Option<String>,
}

/// Import CSV files: one per session, or long files with a session column.
pub fn from_csv(files: &[(&Path, &str)], options: &ImportOptions, cols: &CsvColumns) -> Result<Imported, String> {
    options.check()?;
    // session → (label, times, rows of channel values), in a sorted map for stable ids.
    type Rows = (String, Vec<f64>, Vec<Vec<f64>>);
    let mut sessions: BTreeMap<String, Rows> = BTreeMap::new();
    let mut channel_set: Option<Vec<String>> = None;
    for (path, text) in files {
        let where_ = |line: u64| format!("{}:{line}", path.display());
        let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(text.as_bytes());
        let header: Vec<String> =
            reader.headers().map_err(|e| format!("{}: {e}", path.display()))?.iter().map(str::to_string).collect();
        let find = |name: &str| {
            header
                .iter()
                .position(|h| h == name)
                .ok_or_else(|| format!("{}: no column {name:?} (columns: {})", path.display(), header.join(", ")))
        };
        let label_at = find(&cols.label)?;
        let session_at = cols.session.as_deref().map(find).transpose()?;
        let time_at = cols.time.as_deref().map(find).transpose()?;
        let channels: Vec<String> = match &options.channels {
            Some(c) => c.clone(),
            None => header
                .iter()
                .enumerate()
                .filter(|(i, _)| Some(*i) != session_at && Some(*i) != time_at && *i != label_at)
                .map(|(_, h)| h.clone())
                .collect(),
        };
        let channel_at: Vec<usize> = channels.iter().map(|c| find(c)).collect::<Result<_, _>>()?;
        match &channel_set {
            Some(prev) if *prev != channels => {
                return Err(format!(
                    "{}: channels {channels:?} differ from the earlier files' {prev:?}",
                    path.display()
                ))
            }
            _ => channel_set = Some(channels.clone()),
        }
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("session").to_string();
        for record in reader.records() {
            let record = record.map_err(|e| format!("{}: {e}", path.display()))?;
            let line = record.position().map_or(0, |p| p.line());
            let session = match session_at {
                Some(i) => record.get(i).unwrap_or("").to_string(),
                None => stem.clone(),
            };
            crate::dataset::layout::safe_name(&session)
                .map_err(|why| format!("{}: session id {session:?} is refused: {why}", where_(line)))?;
            let label = record.get(label_at).unwrap_or("").to_string();
            let entry = sessions.entry(session.clone()).or_insert_with(|| (label.clone(), Vec::new(), Vec::new()));
            if entry.0 != label {
                return Err(format!(
                    "{}: session {session:?} has label {label:?} here but {:?} earlier; a session has one label",
                    where_(line),
                    entry.0
                ));
            }
            let number = |i: usize| -> Result<f64, String> {
                let raw = record.get(i).unwrap_or("");
                match raw {
                    "" | "?" | "NaN" | "nan" | "NA" => Ok(f64::NAN),
                    _ => raw.parse::<f64>().map_err(|_| crate::text::abbreviate(raw, 40)),
                }
            };
            if let Some(t) = time_at {
                let time = number(t).map_err(|raw| format!("{}: the time column {:?} holds {raw:?}, not a number", where_(line), header[t]))?;
                entry.1.push(time);
            }
            // A column of ids read as a channel (no --session-column) is the usual cause, and a flag the fix.
            let hint = match options.channels {
                Some(_) => "",
                None => " (every column but the label, session and time columns is one: name those with --session-column and --time-column, or pick channels with --channels)",
            };
            let values = channel_at.iter().zip(&channels).map(|(&i, c)| {
                number(i).map_err(|raw| format!("{}: column {c:?}, a channel{hint}, holds {raw:?}, not a number", where_(line)))
            });
            entry.2.push(values.collect::<Result<_, _>>()?);
        }
    }
    let names = channel_set.ok_or("no input files")?;
    if names.is_empty() {
        return Err("no channel columns: every column is the session, label or time column".into());
    }
    channel_names(Some(&names), names.len())?;
    let mut labels = BTreeMap::new();
    let mut out = Vec::new();
    for (id, (label, times, rows)) in sessions {
        let timestamps = if cols.time.is_some() {
            times
        } else {
            (0..rows.len()).map(|k| k as f64 / options.sampling_rate_hz).collect()
        };
        let channels =
            names.iter().enumerate().map(|(c, n)| (n.clone(), rows.iter().map(|r| r[c]).collect())).collect();
        labels.insert(id.clone(), vec![label]);
        out.push((id, Recording { timestamps, channels }));
    }
    let dataset_name = options.name.clone().unwrap_or_else(|| "imported".into());
    let manifest = json!({
        "dataset_name": dataset_name,
        "description": options.description.clone().unwrap_or_else(|| "Imported from CSV".into()),
        "channels": names.iter().map(|n| json!({"name": n, "description": format!("column {n} of the CSV input"), "sampling_rate_hz": options.sampling_rate_hz})).collect::<Vec<_>>(),
    });
    Ok(Imported { manifest, labels, sessions: out })
}

fn channel_names(given: Option<&[String]>, dims: usize) -> Result<Vec<String>, String> {
    match given {
        Some(names) if names.len() != dims => {
            Err(format!("--channels names {} channels, the data has {dims} dimensions", names.len()))
        }
        Some(names) => {
            for n in names {
                crate::dataset::layout::safe_name(n).map_err(|why| format!("channel name {n:?} is refused: {why}"))?;
                if n == super::layout::TIME_COLUMN {
                    return Err(format!("{n} is the time column; choose another channel name"));
                }
            }
            Ok(names.to_vec())
        }
        None => Ok((0..dims).map(|i| format!("dim_{i}")).collect()),
    }
}

/// What the readers (`dataset check`, the tools, `validate --data-root`) refuse is refused
/// here, before anything is written: an import that succeeds makes a dataset threadkit reads.
fn readable(imported: &Imported) -> Result<(), String> {
    for (id, rec) in &imported.sessions {
        if rec.channels.len() > MAX_CHANNELS {
            return Err(format!(
                "session {id} has {} channels, more than the {MAX_CHANNELS} a session may have; nothing was written",
                rec.channels.len()
            ));
        }
        let values = (rec.len() as u64).saturating_mul(rec.channels.len() as u64 + 1);
        if values > MAX_SESSION_VALUES {
            return Err(format!(
                "session {id} holds {} samples × {} channels and its time column: {values} values, more than the \
                 {MAX_SESSION_VALUES} one session may hold; split the recording; nothing was written",
                rec.len(),
                rec.channels.len()
            ));
        }
    }
    Ok(())
}

/// Write the dataset as the folder `out`, all at once: every file is written into a hidden
/// staging folder beside `out`, made durable, and the folder is then renamed into place
/// (or, with `replace`, swapped with the existing one, which is then removed). A kill or a
/// full disk leaves the previous state and a hidden temporary folder that the next import
/// removes; never a dataset with only some of its sessions.
pub fn write(out: &Path, imported: &Imported, replace: bool) -> Result<(), String> {
    readable(imported)?;
    let style = Style { indent: Some(2), ensure_ascii: false, tight: false };
    let io = |what: &Path, e: std::io::Error| format!("cannot write {}: {e}", what.display());
    if out.exists() && !replace {
        return Err(format!(
            "{} already exists; pass --force to replace it (the old folder is removed once the new one is complete), \
             or choose another --out",
            out.display()
        ));
    }
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|e| io(&parent, e))?;
    crate::write::remove_stale_temporaries(&parent);
    let name = out.file_name().and_then(|n| n.to_str()).unwrap_or("dataset");
    let staging = crate::write::staging_dir(&parent, name).map_err(|e| io(&parent, e))?;
    let put = |rel: &Path, bytes: &[u8]| -> Result<(), String> {
        let path = staging.path().join(rel);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| io(&out.join(rel), e))?;
        }
        let mut file = std::fs::File::create(&path).map_err(|e| io(&out.join(rel), e))?;
        std::io::Write::write_all(&mut file, bytes).map_err(|e| io(&out.join(rel), e))
    };
    let side_file = |name: &str, value: &Value| -> Result<String, String> {
        let mut text = pyjson::to_string(value, style);
        text.push('\n');
        match text.len() as u64 {
            n if n > crate::open::MAX_SIDE_FILE => Err(format!(
                "{name} would be {}, over the {} that threadkit reads; nothing was written",
                crate::text::human_bytes(n),
                crate::text::human_bytes(crate::open::MAX_SIDE_FILE)
            )),
            _ => Ok(text),
        }
    };
    put(Path::new("manifest.json"), side_file("manifest.json", &imported.manifest)?.as_bytes())?;
    let labels: Value =
        imported.labels.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>().into();
    put(Path::new("labels.json"), side_file("labels.json", &labels)?.as_bytes())?;
    for (id, rec) in &imported.sessions {
        let bytes = rec.to_parquet()?;
        if bytes.len() as u64 > MAX_SESSION_BYTES {
            return Err(format!(
                "session {id} would be a {} parquet file, over the {} that threadkit reads; split the recording; nothing was written",
                crate::text::human_bytes(bytes.len() as u64),
                crate::text::human_bytes(MAX_SESSION_BYTES)
            ));
        }
        put(&super::layout::session_file(Path::new(""), id)?, &bytes)?;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // A temporary folder is private (0700); the dataset is an ordinary folder.
        std::fs::set_permissions(staging.path(), std::fs::Permissions::from_mode(0o755)).map_err(|e| io(out, e))?;
    }
    #[cfg(target_os = "linux")]
    std::fs::File::open(staging.path())
        .and_then(|d| rustix::fs::syncfs(d).map_err(std::io::Error::from))
        .map_err(|e| io(out, e))?;
    let staged = staging.keep();
    let placed = if out.exists() {
        crate::write::exchange(&staged, out).and_then(|()| {
            crate::write::sync_dirs([parent.as_path()]);
            std::fs::remove_dir_all(&staged)
        })
    } else {
        crate::write::rename_no_replace(&staged, out)
    };
    if let Err(e) = placed {
        let _ = std::fs::remove_dir_all(&staged);
        return Err(io(out, e));
    }
    crate::write::sync_dirs([parent.as_path()]);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_session(rec: Recording) -> Imported {
        Imported { manifest: json!({}), labels: BTreeMap::new(), sessions: vec![("train_0000".into(), rec)] }
    }

    /// Issue 28 row 10: a session the readers would refuse is refused before anything is written.
    #[test]
    fn issue28_row10_what_the_readers_refuse_is_not_written() {
        // Zeroed vectors: the pages are never touched, so this costs no memory.
        let n = (MAX_SESSION_VALUES / 2 + 1) as usize;
        let long = Recording { timestamps: vec![0.0; n], channels: vec![("x".into(), vec![0.0; n])] };
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("ds");
        let e = write(&out, &one_session(long), false).unwrap_err();
        assert!(e.contains("train_0000") && e.contains("split the recording"), "{e}");
        assert!(!out.exists());
        let wide = Recording {
            timestamps: vec![0.0],
            channels: (0..=MAX_CHANNELS).map(|i| (format!("c{i}"), vec![0.0])).collect(),
        };
        let e = write(&out, &one_session(wide), false).unwrap_err();
        assert!(e.contains("4097 channels"), "{e}");
        assert!(!out.exists());
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0, "no staging folder is left");
    }
}
