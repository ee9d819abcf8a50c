//! A folder of datasets (`DIR/<dataset>/manifest.json`, `labels.json`, `sessions/`),
//! loaded lazily and shared by every worker.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::Value;

pub use crate::dataset::error::DataError;

/// What a check needs to know about one dataset.
#[derive(Debug)]
pub struct Dataset {
    pub dir: PathBuf,
    pub manifest: Value,
    /// `None` when the dataset has no labels.json.
    pub labels: Option<HashMap<String, Vec<String>>>,
}

impl Dataset {
    pub fn has_session(&self, session: &str) -> bool {
        if self.labels.as_ref().is_some_and(|l| l.contains_key(session)) {
            return true;
        }
        crate::dataset::layout::session_dir(&self.dir, session).is_ok_and(|d| d.is_dir())
    }

    pub fn first_label(&self, session: &str) -> Option<&str> {
        self.labels.as_ref()?.get(session)?.first().map(String::as_str)
    }
}

#[derive(Debug)]
pub struct DataRoot {
    pub root: PathBuf,
    cache: Mutex<HashMap<String, Arc<Result<Dataset, DataError>>>>,
}

impl DataRoot {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DataRoot { root: root.into(), cache: Mutex::new(HashMap::new()) }
    }

    /// The datasets under the root (folders with a manifest), sorted.
    pub fn datasets(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(&self.root) else { return Vec::new() };
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .filter(|e| e.path().join(crate::dataset::layout::MANIFEST).is_file())
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .collect();
        names.sort();
        names
    }

    /// `name` if it is a dataset here; otherwise a message listing the datasets, with a
    /// suggestion for a typo.
    pub fn check_dataset(&self, name: &str) -> Result<(), DataError> {
        let all = self.datasets();
        if all.iter().any(|d| d == name) {
            return Ok(());
        }
        Err(DataError::Unknown { name: name.to_string(), root: self.root.clone(), known: all })
    }

    /// The one dataset under the root, or the one that holds `session` when only one does.
    pub fn infer_dataset(&self, session: Option<&str>) -> Result<String, DataError> {
        let all = self.datasets();
        if all.len() == 1 {
            return Ok(all[0].clone());
        }
        if all.is_empty() {
            return Err(DataError::NoDataset { root: self.root.clone() });
        }
        if let Some(s) = session {
            let holding: Vec<&String> = all
                .iter()
                .filter(|d| self.dataset(d).as_ref().as_ref().is_ok_and(|ds| ds.has_session(s)))
                .collect();
            if let [only] = holding.as_slice() {
                return Ok((*only).clone());
            }
        }
        Err(DataError::SeveralDatasets { root: self.root.clone(), known: all })
    }

    /// Load (once) and return a dataset, or a message saying why it is unusable.
    pub fn dataset(&self, name: &str) -> Arc<Result<Dataset, DataError>> {
        if let Some(hit) = self.cache.lock().unwrap_or_else(|p| p.into_inner()).get(name) {
            return hit.clone();
        }
        let loaded = Arc::new(load(&self.root, name));
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).insert(name.to_string(), loaded.clone());
        loaded
    }
}

fn load(root: &Path, name: &str) -> Result<Dataset, DataError> {
    crate::dataset::layout::refuse_unsafe("dataset name", name)?;
    let dir = root.join(name);
    let manifest_path = dir.join(crate::dataset::layout::MANIFEST);
    let side = |path: &Path, problem: String| DataError::SideFile { path: path.to_path_buf(), problem };
    let text = crate::open::read_to_string(&manifest_path, crate::open::MAX_SIDE_FILE)
        .map_err(|e| side(&manifest_path, format!("cannot be read: {e}")))?;
    let manifest = crate::source::parse_side_file(&text).map_err(|e| side(&manifest_path, e))?;
    let labels_path = dir.join(crate::dataset::layout::LABELS);
    let labels = match crate::open::read_to_string(&labels_path, crate::open::MAX_SIDE_FILE) {
        Ok(text) => Some(
            serde_json::from_value(crate::source::parse_side_file(&text).map_err(|e| side(&labels_path, e))?)
                .map_err(|e| side(&labels_path, format!("is not a map of session id to label list: {e}")))?,
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(side(&labels_path, format!("cannot be read: {e}"))),
    };
    Ok(Dataset { dir, manifest, labels })
}
