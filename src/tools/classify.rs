//! `classify_activity`: k-nearest neighbours over signal features, trained on the *other*
//! sessions of the same dataset — never the thread's own session, and with
//! `exclude_subject` never another recording of the same person.
//!
//! The feature index (one vector per session) is cached on disk, keyed by the dataset's
//! content (labels, manifest, and every session file's size and modification time).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::features::{channel_features, sampling_rate};
use crate::dataset::recording::Recording;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    pub session: String,
    pub label: String,
    pub vector: Vec<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Index {
    pub key: String,
    pub channels: Vec<String>,
    pub entries: Vec<Entry>,
}

/// The feature vector of a recording over the given channels (missing channels give NaN).
pub fn vector(rec: &Recording, channels: &[String]) -> Vec<f64> {
    let rate = sampling_rate(rec);
    channels
        .iter()
        .flat_map(|c| match rec.channel(c) {
            Some(v) => channel_features(v, rate).vector().to_vec(),
            None => vec![f64::NAN; 9],
        })
        .collect()
}

/// Subject of a session id when the id encodes one: `subject3_…` → `subject3`,
/// `train_07_0123` → `07` (UCI HAR's layout). `None` otherwise.
pub fn subject_of(session: &str) -> Option<String> {
    let parts: Vec<&str> = session.split('_').collect();
    if parts[0].starts_with("subject") && parts[0].len() > "subject".len() {
        return Some(parts[0].to_string());
    }
    if parts.len() >= 3
        && ["train", "test"].contains(&parts[0])
        && !parts[1].is_empty()
        && parts[1].chars().all(|c| c.is_ascii_digit())
    {
        return Some(parts[1].to_string());
    }
    None
}

fn cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("THREADKIT_CACHE_DIR") {
        return PathBuf::from(d);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")));
    base.unwrap_or_else(std::env::temp_dir).join("threadkit")
}

fn content_key(dir: &Path, sessions: &[(String, String)]) -> String {
    let mut h = Sha256::new();
    use crate::dataset::layout;
    for f in [layout::MANIFEST, layout::LABELS] {
        h.update(crate::open::read(&dir.join(f), crate::open::MAX_SIDE_FILE).unwrap_or_default());
    }
    for (s, _) in sessions {
        let meta = layout::session_file(dir, s).ok().and_then(|p| std::fs::metadata(p).ok());
        let stamp = meta
            .as_ref()
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        h.update(format!("{s}\u{0}{}\u{0}{stamp}\n", meta.map_or(0, |m| m.len())).as_bytes());
    }
    h.finalize().iter().take(12).map(|b| format!("{b:02x}")).collect()
}

/// Load the index from the cache, or build it (in parallel) and store it.
pub fn index(dir: &Path, labels: &BTreeMap<String, Vec<String>>, channels: &[String]) -> Result<Index, String> {
    let sessions: Vec<(String, String)> =
        labels.iter().filter_map(|(s, l)| Some((s.clone(), l.first()?.clone()))).collect();
    let key = content_key(dir, &sessions);
    let path = cache_dir().join(format!("features-{key}.json"));
    if let Ok(text) = crate::open::read_to_string(&path, crate::open::MAX_SIDE_FILE) {
        if let Ok(idx) = serde_json::from_str::<Index>(&text) {
            if idx.key == key && idx.channels == channels {
                return Ok(idx);
            }
        }
    }
    let entries: Vec<Entry> = sessions
        .par_iter()
        .filter_map(|(s, label)| {
            let rec = Recording::from_parquet(
                &crate::dataset::layout::session_file(dir, s).ok()?,
                crate::dataset::recording::MAX_SESSION_BYTES,
            )
            .ok()?;
            Some(Entry { session: s.clone(), label: label.clone(), vector: vector(&rec, channels) })
        })
        .collect();
    let idx = Index { key, channels: channels.to_vec(), entries };
    // The cache is an optimisation: failing to write it is not an error.
    if std::fs::create_dir_all(cache_dir()).is_ok() {
        let _ = crate::write::atomic_write(&path, serde_json::to_string(&idx).expect("index serializes").as_bytes());
    }
    Ok(idx)
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Neighbour {
    pub session: String,
    pub label: String,
    pub distance: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prediction {
    /// Labels with their share of the inverse-distance-weighted vote, best first.
    pub top: Vec<(String, f64)>,
    pub neighbours: Vec<Neighbour>,
    pub excluded_sessions: usize,
}

/// Classify `query` against the index, leaving out `own` session and (optionally) its subject.
pub fn classify(idx: &Index, query: &[f64], own: &str, exclude_subject: bool, k: usize) -> Result<Prediction, String> {
    let own_subject = if exclude_subject { subject_of(own) } else { None };
    let pool: Vec<&Entry> = idx
        .entries
        .iter()
        .filter(|e| e.session != own && (own_subject.is_none() || subject_of(&e.session) != own_subject))
        .collect();
    if pool.is_empty() {
        return Err("no other sessions to compare with".into());
    }
    // Standardise every feature over the training pool so no unit dominates the distance.
    let dims = query.len();
    let mut mean = vec![0.0; dims];
    let mut std = vec![0.0; dims];
    for d in 0..dims {
        let col: Vec<f64> = pool.iter().map(|e| e.vector[d]).filter(|v| v.is_finite()).collect();
        if col.is_empty() {
            continue;
        }
        mean[d] = col.iter().sum::<f64>() / col.len() as f64;
        std[d] = (col.iter().map(|v| (v - mean[d]).powi(2)).sum::<f64>() / col.len() as f64).sqrt();
    }
    let z = |v: &[f64], d: usize| if std[d] > 1e-12 && v[d].is_finite() { (v[d] - mean[d]) / std[d] } else { 0.0 };
    let mut scored: Vec<Neighbour> = pool
        .iter()
        .map(|e| Neighbour {
            session: e.session.clone(),
            label: e.label.clone(),
            distance: (0..dims).map(|d| (z(query, d) - z(&e.vector, d)).powi(2)).sum::<f64>().sqrt(),
        })
        .collect();
    scored.sort_by(|a, b| a.distance.total_cmp(&b.distance).then_with(|| a.session.cmp(&b.session)));
    scored.truncate(k.max(1));
    let mut votes: BTreeMap<String, f64> = BTreeMap::new();
    for n in &scored {
        *votes.entry(n.label.clone()).or_default() += 1.0 / (n.distance + 1e-9);
    }
    let total: f64 = votes.values().sum();
    let mut top: Vec<(String, f64)> =
        votes.into_iter().map(|(l, v)| (l, (v / total * 1000.0).round() / 1000.0)).collect();
    top.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok(Prediction { top, neighbours: scored, excluded_sessions: idx.entries.len() - pool.len() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_read_from_common_id_layouts() {
        assert_eq!(subject_of("subject3_seg001_0004").as_deref(), Some("subject3"));
        assert_eq!(subject_of("train_07_0123").as_deref(), Some("07"));
        assert_eq!(subject_of("train_0001"), None);
        assert_eq!(subject_of("session_42"), None);
    }
}
