//! `threadkit dataset check`: the dataset layout, audited with the same diagnostics as threads.
//! Findings are grouped by the file they concern (manifest, labels, each session file).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;
use serde_json::Value;

use super::layout::TIME_COLUMN;
use super::recording::Recording;
use crate::diagnostic::Diagnostic;
use crate::json::pointer;
use crate::rules;
use crate::schema;
use crate::source;
use crate::findings::{locate_all, FileReport, RecordReport};

use super::recording::MAX_SESSION_BYTES;

fn report(path: PathBuf, diagnostics: Vec<Diagnostic>, text: Option<String>) -> FileReport {
    let mut diagnostics = diagnostics;
    if let Some(t) = &text {
        locate_all(&mut diagnostics, t);
    }
    let keep = (!diagnostics.is_empty()).then_some(text).flatten().map(Arc::from);
    FileReport {
        path,
        records: vec![RecordReport {
            record: None,
            version: None,
            id: None,
            diagnostics,
            text: keep,
            doc: None,
            summary: None,
        }],
        clean: 0,
        stamp: None,
    }
}

/// Read and schema-check one JSON file of the dataset.
fn json_file(path: PathBuf, validator: &jsonschema::Validator) -> (FileReport, Option<Value>) {
    let text = match source::read_whole(&path, 64 * 1024 * 1024) {
        Ok(t) => t,
        Err(d) => return (report(path, vec![*d], None), None),
    };
    let parsed = match source::parse_full(&text) {
        Ok(p) => p,
        Err(d) => return (report(path, vec![*d], Some(text)), None),
    };
    let doc = parsed.value;
    let mut diagnostics = if parsed.duplicates { source::duplicate_key_findings(&text) } else { Vec::new() };
    diagnostics.extend(schema::check(validator, &doc));
    (report(path, diagnostics, Some(text)), Some(doc))
}

pub fn check(dir: &Path) -> Vec<FileReport> {
    let (manifest_report, manifest) = json_file(dir.join(super::layout::MANIFEST), schema::manifest());
    let (mut labels_report, labels) = json_file(dir.join(super::layout::LABELS), schema::labels());
    let channels: Vec<(String, f64)> = manifest
        .as_ref()
        .and_then(|m| m.get("channels"))
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .filter_map(|c| Some((c.get("name")?.as_str()?.to_string(), c.get("sampling_rate_hz")?.as_f64()?)))
                .collect()
        })
        .unwrap_or_default();
    let labelled: BTreeSet<String> =
        labels.as_ref().and_then(Value::as_object).map(|o| o.keys().cloned().collect()).unwrap_or_default();

    let sessions_dir = super::layout::sessions_dir(dir);
    let mut sessions: Vec<String> = std::fs::read_dir(&sessions_dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter(|e| e.path().is_dir())
                .filter_map(|e| e.file_name().to_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    sessions.sort();
    let with_data: BTreeSet<&str> =
        sessions.iter().filter(|s| super::layout::session_file(dir, s).is_ok_and(|p| p.is_file())).map(String::as_str).collect();

    let mut labels_findings = Vec::new();
    for key in &labelled {
        let at = pointer([key.as_str()]);
        if let Err(refused) = crate::dataset::layout::refuse_unsafe("session id", key) {
            labels_findings.push(Diagnostic::new(&rules::UNSAFE_SESSION_NAME, at.clone(), refused.to_string()));
        } else if !with_data.contains(key.as_str()) {
            labels_findings.push(
                Diagnostic::new(
                    &rules::SESSION_WITHOUT_DATA,
                    at,
                    format!("session {key:?} is labelled but sessions/{key}/data.parquet does not exist"),
                )
                .with_label("no data for this session"),
            );
        }
    }
    append(&mut labels_report, labels_findings);

    let mut reports = vec![manifest_report, labels_report];
    let session_reports: Vec<FileReport> = sessions
        .par_iter()
        .map(|id| {
            let path = sessions_dir.join(id).join(super::layout::SESSION_FILE);
            let mut found = Vec::new();
            if labels.is_some() && !labelled.contains(id) {
                found.push(Diagnostic::new(
                    &rules::SESSION_WITHOUT_LABELS,
                    "",
                    format!("session {id:?} has data but no entry in labels.json"),
                ));
            }
            if with_data.contains(id.as_str()) {
                match Recording::from_parquet(&path, MAX_SESSION_BYTES) {
                    Ok(rec) => found.extend(check_recording(&rec, &channels)),
                    Err(e) => found.push(Diagnostic::new(
                        &rules::SESSION_UNREADABLE,
                        "",
                        format!("sessions/{id}/data.parquet: {e}"),
                    )),
                }
            }
            report(if with_data.contains(id.as_str()) { path } else { sessions_dir.join(id) }, found, None)
        })
        .collect();
    reports.extend(session_reports);
    reports
}

fn append(r: &mut FileReport, more: Vec<Diagnostic>) {
    if more.is_empty() {
        return;
    }
    let rec = &mut r.records[0];
    let mut more = more;
    if rec.text.is_none() {
        if let Ok(t) = std::fs::read_to_string(&r.path) {
            rec.text = Some(t.into());
        }
    }
    if let Some(t) = &rec.text {
        locate_all(&mut more, t);
    }
    rec.diagnostics.extend(more);
}

/// Everything that can be wrong inside one recording, given the manifest's channels.
pub fn check_recording(rec: &Recording, channels: &[(String, f64)]) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let have: Vec<&str> = rec.channels.iter().map(|(n, _)| n.as_str()).collect();
    let want: Vec<&str> = channels.iter().map(|(n, _)| n.as_str()).collect();
    if !channels.is_empty() && have != want {
        let missing: Vec<&str> = want.iter().filter(|w| !have.contains(w)).copied().collect();
        let extra: Vec<&str> = have.iter().filter(|h| !want.contains(h)).copied().collect();
        let detail = if missing.is_empty() && extra.is_empty() {
            "the channels are in another order than in the manifest".to_string()
        } else {
            format!("missing {missing:?}, not in the manifest {extra:?}")
        };
        out.push(Diagnostic::new(
            &rules::COLUMNS_MISMATCH,
            "",
            format!("columns are {TIME_COLUMN} + {have:?}: {detail}"),
        ));
    }
    let t = &rec.timestamps;
    if let Some(i) = (1..t.len()).find(|&i| t[i].is_nan() || t[i - 1].is_nan() || t[i] <= t[i - 1]) {
        out.push(Diagnostic::new(
            &rules::TIMESTAMPS_NOT_INCREASING,
            "",
            format!("{TIME_COLUMN} does not increase at row {i}: {} then {}", t[i - 1], t[i]),
        ));
        return out;
    }
    let rate = channels.iter().map(|(_, r)| *r).fold(f64::NAN, f64::max);
    if t.len() > 1 && rate.is_finite() && rate > 0.0 {
        let observed = (t.len() - 1) as f64 / (t[t.len() - 1] - t[0]);
        if (observed - rate).abs() > 0.05 * rate {
            out.push(Diagnostic::new(
                &rules::SAMPLING_RATE_MISMATCH,
                "",
                format!("observed {observed:.3} Hz over {} samples, the manifest says {rate} Hz", t.len()),
            ));
        }
        let gaps = t.windows(2).filter(|w| w[1] - w[0] > 1.5 / rate).count();
        if gaps > 0 {
            out.push(Diagnostic::new(
                &rules::TIME_GAPS,
                "",
                format!("{gaps} gaps longer than 1.5 sampling periods ({:.3} s)", 1.5 / rate),
            ));
        }
    }
    let missing: Vec<String> = rec
        .channels
        .iter()
        .map(|(n, v)| (n, v.iter().filter(|x| x.is_nan()).count()))
        .filter(|(_, c)| *c > 0)
        .map(|(n, c)| format!("{n}: {c}"))
        .collect();
    if !missing.is_empty() {
        out.push(Diagnostic::new(
            &rules::MISSING_VALUES,
            "",
            format!("missing values of {} samples — {}", t.len(), missing.join(", ")),
        ));
    }
    out
}
