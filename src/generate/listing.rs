//! The threads of a threads folder, as `generate list` and `generate continue` show them.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub id: String,
    pub dataset: String,
    pub session: String,
    pub query: String,
    pub status: String,
    pub turns: u64,
    pub tool_calls: u64,
    pub last_modified: String,
    pub path: PathBuf,
}

/// Every `openai_v1` thread directly in `dir` (not in backup or lock folders), newest first.
pub fn list(dir: &Path) -> Vec<Row> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut rows: Vec<Row> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "json") && !p.file_name().is_some_and(crate::walk::is_hidden_name)
        })
        .filter_map(|p| row(&p))
        .collect();
    rows.sort_by(|a, b| b.last_modified.cmp(&a.last_modified).then(a.id.cmp(&b.id)));
    rows
}

fn row(path: &Path) -> Option<Row> {
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    let m = doc.get("metadata")?;
    let s = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    let n = |k: &str| m.get(k).and_then(Value::as_u64).unwrap_or(0);
    Some(Row {
        id: doc.get("id")?.as_str()?.to_string(),
        dataset: s("dataset"),
        session: s("session"),
        query: s("user_query"),
        status: s("status"),
        turns: n("num_turns"),
        tool_calls: n("num_tool_calls"),
        last_modified: s("last_modified"),
        path: path.to_path_buf(),
    })
}
