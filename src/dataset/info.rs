//! `threadkit dataset info`: what a dataset holds, computed exactly over every session.

use std::collections::BTreeMap;
use std::path::Path;

use rayon::prelude::*;
use serde::Serialize;
use serde_json::Value;

use super::recording::MAX_SESSION_BYTES;
use super::recording::Recording;

#[derive(Debug, Serialize)]
pub struct Channel {
    pub name: String,
    pub sampling_rate_hz: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct Range {
    pub min: f64,
    pub max: f64,
    pub mean: f64,
}

#[derive(Debug, Serialize)]
pub struct Info {
    pub dataset_name: String,
    pub description: String,
    pub channels: Vec<Channel>,
    pub sessions: usize,
    pub unreadable_sessions: usize,
    pub samples_per_session: Option<Range>,
    pub duration_sec: Option<Range>,
    /// Sessions per ground-truth label (the first label of each session).
    pub labels: BTreeMap<String, usize>,
}

fn range(values: &[f64]) -> Option<Range> {
    if values.is_empty() {
        return None;
    }
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Some(Range { min, max, mean: values.iter().sum::<f64>() / values.len() as f64 })
}

pub fn info(dir: &Path) -> Result<Info, String> {
    let read = |name: &str| -> Result<Value, String> {
        let path = dir.join(name);
        let text = crate::open::read_to_string(&path, crate::open::MAX_SIDE_FILE)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        crate::source::parse_side_file(&text)
            .map_err(|e| format!("{}: {e}; run `threadkit dataset check`", crate::text::shown(&path)))
    };
    let manifest = read(super::layout::MANIFEST)?;
    let labels = read(super::layout::LABELS)?;
    let channels = manifest
        .get("channels")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .map(|c| Channel {
                    name: c.get("name").and_then(Value::as_str).unwrap_or("?").to_string(),
                    sampling_rate_hz: c.get("sampling_rate_hz").and_then(Value::as_f64),
                })
                .collect()
        })
        .unwrap_or_default();
    let mut counts = BTreeMap::new();
    let sessions: Vec<String> = labels.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default();
    for v in labels.as_object().into_iter().flat_map(|o| o.values()) {
        if let Some(first) = v.get(0).and_then(Value::as_str) {
            *counts.entry(first.to_string()).or_insert(0) += 1;
        }
    }
    let measured: Vec<Option<(f64, f64)>> = sessions
        .par_iter()
        .map(|s| {
            let rec =
                Recording::from_parquet(&super::layout::session_file(dir, s).ok()?, MAX_SESSION_BYTES).ok()?;
            Some((rec.len() as f64, rec.duration_sec()))
        })
        .collect();
    let ok: Vec<(f64, f64)> = measured.iter().flatten().copied().collect();
    Ok(Info {
        dataset_name: manifest.get("dataset_name").and_then(Value::as_str).unwrap_or("").to_string(),
        description: manifest.get("description").and_then(Value::as_str).unwrap_or("").to_string(),
        channels,
        sessions: sessions.len(),
        unreadable_sessions: measured.len() - ok.len(),
        samples_per_session: range(&ok.iter().map(|m| m.0).collect::<Vec<_>>()),
        duration_sec: range(&ok.iter().map(|m| m.1).collect::<Vec<_>>()),
        labels: counts,
    })
}
