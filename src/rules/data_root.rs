//! Agreement with the datasets on disk (`--data-root`).

use super::*;

pub fn check(ctx: &Context<'_>, out: &mut Vec<Diagnostic>) {
    let Some(root) = ctx.data_root else { return };
    let t = &ctx.thread;
    let Some(name) = t.dataset() else { return };
    let loaded = root.dataset(name);
    let dataset = match loaded.as_ref() {
        Ok(d) => d,
        Err(why) => {
            out.push(
                Diagnostic::new(
                    &DATASET_NOT_FOUND,
                    t.dataset_pointer(),
                    format!("dataset {name:?} is not usable under {}: {why}", root.root.display()),
                )
                .with_label("unknown dataset"),
            );
            return;
        }
    };
    if let Some(session) = t.session() {
        if !dataset.has_session(session) {
            out.push(
                Diagnostic::new(
                    &SESSION_NOT_FOUND,
                    t.session_pointer(),
                    format!("session {session:?} is neither in {name}/labels.json nor in {name}/sessions/"),
                )
                .with_label("unknown session"),
            );
        } else if let (Some(truth), Some(Some([]))) =
            (t.ground_truth(), dataset.labels.as_ref().map(|l| l.get(session).map(Vec::as_slice)))
        {
            // `"session": []` in labels.json: the thread's ground truth is backed by nothing.
            out.push(
                Diagnostic::new(
                    &GROUND_TRUTH_MISMATCH,
                    t.ground_truth_pointer(),
                    format!("ground truth is {truth:?} but {name}/labels.json gives session {session:?} no label at all"),
                )
                .with_label("labels.json has []"),
            );
        } else if let (Some(first), Some(truth)) = (dataset.first_label(session), t.ground_truth()) {
            if first != truth {
                out.push(
                    Diagnostic::new(
                        &GROUND_TRUTH_MISMATCH,
                        t.ground_truth_pointer(),
                        format!(
                            "ground truth is {truth:?} but {name}/labels.json gives {first:?} for session {session:?}"
                        ),
                    )
                    .with_label(format!("labels.json says {first:?}")),
                );
            }
        }
    }
    if let Some(shown) = t.shown_manifest() {
        if shown != dataset.manifest {
            let at = match ctx.version {
                crate::version::Version::OpenAiV1 => {
                    t.first_user_message().map_or(String::new(), |(i, _)| format!("/messages/{i}/content"))
                }
                _ => "/initial_context/manifest".to_string(),
            };
            out.push(
                Diagnostic::new(
                    &MANIFEST_MISMATCH,
                    at,
                    format!(
                        "the manifest shown to the model differs from {name}/manifest.json{}",
                        first_difference(&shown, &dataset.manifest)
                    ),
                )
                .with_label("shown manifest"),
            );
        }
    }
}

/// Name the first differing place so the user need not diff two manifests by eye.
fn first_difference(a: &serde_json::Value, b: &serde_json::Value) -> String {
    fn walk(a: &serde_json::Value, b: &serde_json::Value, path: &mut String) -> bool {
        use serde_json::Value::{Array, Object};
        match (a, b) {
            (Object(x), Object(y)) => {
                for (k, va) in x {
                    let len = path.len();
                    path.push('/');
                    path.push_str(k);
                    match y.get(k) {
                        Some(vb) if !walk(va, vb, path) => {}
                        _ => return true,
                    }
                    path.truncate(len);
                }
                if let Some(k) = y.keys().find(|k| !x.contains_key(*k)) {
                    path.push('/');
                    path.push_str(k);
                    return true;
                }
                false
            }
            (Array(x), Array(y)) => {
                for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                    let len = path.len();
                    path.push_str(&format!("/{i}"));
                    if walk(va, vb, path) {
                        return true;
                    }
                    path.truncate(len);
                }
                x.len() != y.len()
            }
            _ => a != b,
        }
    }
    let mut path = String::new();
    if walk(a, b, &mut path) && !path.is_empty() {
        format!(" (first difference at {path})")
    } else {
        String::new()
    }
}
