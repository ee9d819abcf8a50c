//! One report from the JSON reports of N shards (`--shard I/N`): what the single run over
//! every file would have printed, as far as the parts can say it.
//!
//! Two kinds are merged: findings reports (`validate`, `quality`, `verify` with
//! `--format json`: `files` + `summary`) and `stats --format json`. Counts add up; rates and
//! means are computed again from the summed counts; `max` is the largest. A 95th percentile
//! cannot be rebuilt from parts' percentiles, so a merged `tokens.p95` is `null` and the
//! merged report says so. Checks that look across files (duplicate ids, near-duplicates,
//! eval overlap) saw only their own shard: run them once over everything if they matter.

use serde_json::{json, Map, Value};

/// What the reports were, by shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `validate`, `quality`, `verify`: `{"files": [...], "summary": {...}}`.
    Findings,
    /// `stats`: counts by version, status, dataset, label, tools, tokens.
    Stats,
}

impl Kind {
    pub fn of(report: &Value) -> Option<Kind> {
        let o = report.as_object()?;
        if o.get("files").is_some_and(Value::is_array) && o.get("summary").is_some_and(Value::is_object) {
            Some(Kind::Findings)
        } else if o.get("threads").is_some_and(Value::is_u64) && o.get("by_version").is_some_and(Value::is_object) {
            Some(Kind::Stats)
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Findings => "a validate, quality or verify report",
            Kind::Stats => "a stats report",
        }
    }
}

/// Merge reports of one kind (`names` say which report is which in errors).
pub fn merge(kind: Kind, reports: Vec<Value>, names: &[String]) -> Result<Value, String> {
    match kind {
        Kind::Findings => merge_findings(reports, names),
        Kind::Stats => Ok(merge_stats(reports)),
    }
}

fn merge_findings(reports: Vec<Value>, names: &[String]) -> Result<Value, String> {
    let mut files: Vec<Value> = Vec::new();
    let mut summary = Value::Object(Map::new());
    // A record seen in two reports means the reports overlap (the same shard twice, or
    // shards of different splits of the input): summing them would count it twice.
    let mut seen: std::collections::HashMap<(String, String), usize> = std::collections::HashMap::new();
    for (i, report) in reports.into_iter().enumerate() {
        let Value::Object(mut o) = report else { unreachable!("Kind::of checked the shape") };
        if let Some(Value::Array(f)) = o.remove("files") {
            for file in f {
                let key = (file["path"].as_str().unwrap_or_default().to_string(), file["record"].to_string());
                if let Some(&j) = seen.get(&key) {
                    return Err(format!(
                        "{} is in both {} and {}: the reports overlap (the same shard twice?); merge the reports of disjoint shards of one run",
                        key.0, names[j], names[i]
                    ));
                }
                seen.insert(key, i);
                files.push(file);
            }
        }
        add(&mut summary, o.remove("summary").unwrap_or_default());
    }
    // The order one run prints: by path, then record.
    files.sort_by(|a, b| {
        let key = |v: &Value| (v["path"].as_str().unwrap_or_default().to_string(), v["record"].as_u64().unwrap_or(0));
        key(a).cmp(&key(b))
    });
    let mut merged = Map::new();
    merged.insert("files".into(), Value::Array(files));
    merged.insert("summary".into(), summary);
    Ok(Value::Object(merged))
}

fn merge_stats(reports: Vec<Value>) -> Value {
    let n = reports.len();
    let mut total = Value::Object(Map::new());
    let mut max_tokens: Option<u64> = None;
    for report in reports {
        max_tokens = max_tokens.max(report["tokens"]["max"].as_u64());
        add(&mut total, report);
    }
    // Quantities that are not sums, computed again from the summed counts.
    let ratio = |num: &Value, den: &Value| match (num.as_f64(), den.as_f64()) {
        (Some(a), Some(b)) if b > 0.0 => json!(a / b),
        _ => Value::Null,
    };
    if let Some(o) = total.as_object_mut() {
        let get = |o: &Map<String, Value>, k: &str| o.get(k).cloned().unwrap_or_default();
        if o.contains_key("correct_rate") {
            let rate = ratio(&get(o, "correct"), &get(o, "judged"));
            o.insert("correct_rate".into(), rate);
        }
        if o.contains_key("tool_error_rate") {
            let rate = ratio(&get(o, "tool_errors"), &get(o, "tool_results"));
            o.insert("tool_error_rate".into(), rate);
        }
        for key in ["accuracy_by_label", "accuracy_by_confidence"] {
            if let Some(Value::Object(groups)) = o.get_mut(key) {
                for g in groups.values_mut() {
                    let accuracy = ratio(&g["correct"], &g["judged"]);
                    g["accuracy"] = accuracy;
                }
            }
        }
        if let Some(Value::Object(t)) = o.get_mut("tokens") {
            let mean = match (t.get("total").and_then(Value::as_f64), t.get("examples").and_then(Value::as_f64)) {
                (Some(sum), Some(k)) if k > 0.0 => json!((sum / k * 10.0).round() / 10.0),
                _ => Value::Null,
            };
            t.insert("mean".into(), mean);
            t.insert("max".into(), json!(max_tokens));
            t.insert("p95".into(), Value::Null);
        }
        o.insert("merged".into(), json!({"reports": n, "not_merged": ["tokens.p95"]}));
    }
    total
}

/// Add `from` into `into`: numbers summed, objects merged key by key, anything else kept from
/// the first report that had it.
fn add(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                match a.get_mut(&k) {
                    Some(slot) => add(slot, v),
                    None => {
                        a.insert(k, v);
                    }
                }
            }
            a.sort_keys();
        }
        (slot @ Value::Number(_), Value::Number(b)) => {
            let a = slot.as_number().expect("a number");
            *slot = match (a.as_u64(), b.as_u64()) {
                (Some(x), Some(y)) => json!(x + y),
                _ => json!(a.as_f64().unwrap_or(0.0) + b.as_f64().unwrap_or(0.0)),
            };
        }
        (slot @ Value::Null, b) => *slot = b,
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_add_up_and_files_come_in_path_order() {
        let a = json!({"files": [{"path": "t/b.json", "record": null, "valid": false}], "summary": {"files": 1, "errors": 2, "by_rule": {"TK001": 2}}});
        let b = json!({"files": [{"path": "t/a.json", "record": null, "valid": true}], "summary": {"files": 1, "errors": 0, "by_rule": {"TK008": 1}}});
        let m = merge(Kind::Findings, vec![a.clone(), b], &["a".into(), "b".into()]).unwrap();
        assert_eq!(m["summary"], json!({"by_rule": {"TK001": 2, "TK008": 1}, "errors": 2, "files": 2}));
        assert_eq!(m["files"][0]["path"], "t/a.json");
        let twice = merge(Kind::Findings, vec![a.clone(), a], &["one.json".into(), "two.json".into()]).unwrap_err();
        assert!(twice.contains("t/b.json is in both one.json and two.json"), "{twice}");
    }

    #[test]
    fn stats_rates_are_computed_again_not_summed() {
        let a = json!({"threads": 2, "by_version": {"openai_v1": 2}, "judged": 2, "correct": 2, "correct_rate": 1.0,
                       "tokens": {"examples": 2, "total": 100, "mean": 50.0, "p95": 60, "max": 60}});
        let b = json!({"threads": 2, "by_version": {"openai_v1": 1, "3.0": 1}, "judged": 2, "correct": 0, "correct_rate": 0.0,
                       "tokens": {"examples": 2, "total": 300, "mean": 150.0, "p95": 200, "max": 200}});
        let m = merge(Kind::Stats, vec![a, b], &[]).unwrap();
        assert_eq!(m["correct_rate"], 0.5);
        assert_eq!(m["by_version"], json!({"3.0": 1, "openai_v1": 3}));
        assert_eq!(m["tokens"], json!({"examples": 4, "max": 200, "mean": 100.0, "p95": null, "total": 400}));
    }
}
