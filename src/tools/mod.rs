//! The analysis tools a model calls, in one registry: name, a description written for a
//! model, a JSON Schema for the arguments, and the executor. Arguments are validated
//! against the schema before a tool runs; every failure is a JSON error result.

pub mod artifacts;
pub mod classify;
pub mod features;
pub mod replay;

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde_json::{json, Value};

use self::artifacts::{Payload, Workspace};
use crate::dataset::recording::Recording;

pub struct Tool {
    pub name: &'static str,
    pub description: &'static str,
    pub parameters: fn() -> Value,
    run: fn(&mut Workspace, &Value) -> Result<Value, String>,
}

const ARTIFACT: &str = "Artifact to work on (as returned by an earlier tool). Omit it to use the current recording.";

fn artifact_param() -> Value {
    json!({"type": "string", "pattern": "^(ts|tok)_[0-9a-f]{12}$", "description": ARTIFACT})
}

fn dataset_param() -> Value {
    json!({"type": "object", "properties": {"dataset_name": {"type": "string", "description": "Dataset folder name, e.g. uci_har. Omit it for the thread's dataset."}}, "additionalProperties": false})
}

pub static TOOLS: &[Tool] = &[
    Tool {
        name: "show_session_stats",
        description: "Statistics over every session of the dataset (exact, no sampling): number of sessions, label distribution, session duration in seconds (min, max, mean, median) and the number of subjects when session ids encode them.",
        parameters: dataset_param,
        run: show_session_stats,
    },
    Tool {
        name: "show_channel_stats",
        description: "The dataset's channels: name, description, sampling rate in Hz, and samples per session (min, max).",
        parameters: dataset_param,
        run: show_channel_stats,
    },
    Tool {
        name: "select_channels",
        description: "Keep only some channels of a recording. Returns a new timeseries artifact (which becomes the current one).",
        parameters: || json!({"type": "object", "required": ["channel_names"], "additionalProperties": false, "properties": {
            "artifact_id": artifact_param(),
            "channel_names": {"type": "array", "minItems": 1, "uniqueItems": true, "items": {"type": "string", "minLength": 1}, "description": "Channels to keep, as named in the dataset manifest."}}}),
        run: select_channels,
    },
    Tool {
        name: "filter_by_time",
        description: "Cut a recording to a time window, in seconds from the start of the session. Returns a new timeseries artifact (which becomes the current one).",
        parameters: || json!({"type": "object", "required": ["start_time_sec", "end_time_sec"], "additionalProperties": false, "properties": {
            "artifact_id": artifact_param(),
            "start_time_sec": {"type": "number", "minimum": 0, "description": "Window start, seconds from the session start (inclusive)."},
            "end_time_sec": {"type": "number", "minimum": 0, "description": "Window end, seconds from the session start (inclusive)."}}}),
        run: filter_by_time,
    },
    Tool {
        name: "compute_features",
        description: "Signal features of every channel of a recording: mean, std, min, max, RMS and energy (in the sensor's units, suffix _su), mean-crossing rate, dominant frequency and its share of the power (FFT), and cadence from the autocorrelation (Hz); for accelerometer triads the signal magnitude area and, for total acceleration, the gravity direction.",
        parameters: || json!({"type": "object", "additionalProperties": false, "properties": {"artifact_id": artifact_param()}}),
        run: compute_features,
    },
    Tool {
        name: "motion_tokenizer",
        description: "Turn each channel into a SAX word (symbolic aggregate approximation): the signal is z-normalised, averaged over word_length equal segments, and each segment mean becomes a letter from 'a' (low) upwards, with Gaussian breakpoints so letters are equally likely for noise. Returns a token artifact with one word per channel.",
        parameters: || json!({"type": "object", "additionalProperties": false, "properties": {
            "artifact_id": artifact_param(),
            "word_length": {"type": "integer", "minimum": 2, "maximum": 64, "default": 16, "description": "Letters per channel (segments of the recording)."},
            "alphabet_size": {"type": "integer", "minimum": 3, "maximum": 10, "default": 6, "description": "Number of distinct letters."}}}),
        run: motion_tokenizer,
    },
    Tool {
        name: "classify_activity",
        description: "Classify the activity in a recording by k-nearest neighbours over signal features of the other sessions of the same dataset (never this session; with exclude_subject, never the same person). Returns the top labels with vote shares and the neighbours used.",
        parameters: || json!({"type": "object", "additionalProperties": false, "properties": {
            "artifact_id": artifact_param(),
            "k": {"type": "integer", "minimum": 1, "maximum": 50, "default": 5, "description": "Number of neighbours."},
            "exclude_subject": {"type": "boolean", "default": true, "description": "Also leave out sessions of the same subject, when session ids encode subjects."}}}),
        run: classify_activity,
    },
];

pub fn find(name: &str) -> Option<&'static Tool> {
    TOOLS.iter().find(|t| t.name == name)
}

/// The OpenAI `tools` array.
pub fn openai_tools() -> Value {
    Value::Array(TOOLS.iter().map(|t| json!({"type": "function", "function": {"name": t.name, "description": t.description, "parameters": (t.parameters)()}})).collect())
}

fn validators() -> &'static BTreeMap<&'static str, jsonschema::Validator> {
    static V: OnceLock<BTreeMap<&'static str, jsonschema::Validator>> = OnceLock::new();
    V.get_or_init(|| {
        TOOLS
            .iter()
            .map(|t| (t.name, jsonschema::draft202012::new(&(t.parameters)()).expect("tool schemas compile (tested)")))
            .collect()
    })
}

/// Whether a tool works on an artifact (takes `artifact_id`), rather than on the dataset.
pub fn reads_artifact(name: &str) -> bool {
    static READS: OnceLock<BTreeMap<&'static str, bool>> = OnceLock::new();
    READS
        .get_or_init(|| {
            TOOLS.iter().map(|t| (t.name, (t.parameters)().pointer("/properties/artifact_id").is_some())).collect()
        })
        .get(name)
        .copied()
        .unwrap_or(false)
}

/// Run a tool by name. Never panics on bad input: unknown tools, invalid arguments and
/// failures all come back as `{"error": …}` results that a model can read.
pub fn run(ws: &mut Workspace, name: &str, args: &Value) -> Value {
    let tool = match check_call(name, args) {
        Ok(tool) => tool,
        Err(e) => return json!({"error": e}),
    };
    match (tool.run)(ws, args) {
        Ok(v) => v,
        Err(e) => json!({"error": bounded(e)}),
    }
}

/// Arguments are names, numbers and short lists; a call whose arguments are larger is refused
/// before it runs (a model once sent a million-element list, and the error echoing it made an
/// 85 MiB thread that nothing could read back).
pub const MAX_ARGUMENTS_BYTES: usize = 16 << 10;

/// Longest error text a tool returns: an error quoting its input is cut, not copied whole
/// into the thread.
const MAX_ERROR_CHARS: usize = 2000;

fn bounded(mut message: String) -> String {
    if let Some((at, _)) = message.char_indices().nth(MAX_ERROR_CHARS) {
        message.truncate(at);
        message.push_str("… (cut)");
    }
    message
}

/// The tool, if `name` is one and `args` match its JSON Schema; otherwise what is wrong,
/// in words a model can act on.
pub fn check_call(name: &str, args: &Value) -> Result<&'static Tool, String> {
    let Some(tool) = find(name) else {
        let names: Vec<&str> = TOOLS.iter().map(|t| t.name).collect();
        return Err(format!("unknown tool {name:?}; the tools are: {}", names.join(", ")));
    };
    let size = crate::json::compact_len(args);
    if size > MAX_ARGUMENTS_BYTES as u64 {
        return Err(format!(
            "the arguments for {name} are {size} bytes of JSON, more than {MAX_ARGUMENTS_BYTES}: pass dataset, session and channel names and a few numbers, not data"
        ));
    }
    let problems = crate::schema::problems(&validators()[tool.name], args, usize::MAX);
    if problems.is_empty() {
        Ok(tool)
    } else {
        Err(bounded(format!("invalid arguments for {name}: {}", problems.join("; "))))
    }
}

fn arg_artifact(args: &Value) -> Option<&str> {
    args.get("artifact_id").and_then(Value::as_str)
}

fn timeseries<'a>(ws: &'a Workspace, args: &Value) -> Result<(&'a str, &'a Recording), String> {
    let a = ws.get(arg_artifact(args))?;
    match &a.payload {
        Payload::Timeseries(rec) => Ok((&a.id, rec)),
        Payload::Tokens(_) => Err(format!("{} is a token artifact; this tool needs a timeseries artifact", a.id)),
    }
}

/// The thread's dataset, unless the model named one — which must then be the same
/// dataset: tools answer about the recording the thread is about.
fn dataset_of(ws: &Workspace, args: &Value) -> Result<(std::path::PathBuf, String), String> {
    let name = args.get("dataset_name").and_then(Value::as_str).unwrap_or(&ws.dataset);
    if name != ws.dataset {
        return Err(format!("this thread is about dataset {:?}, not {name:?}", ws.dataset));
    }
    Ok((ws.dataset_dir(), name.to_string()))
}

/// A dataset's manifest, labels (sorted by session) and folder.
type Loaded = (Value, BTreeMap<String, Vec<String>>, std::path::PathBuf);

fn load_dataset(ws: &Workspace, args: &Value) -> Result<Loaded, String> {
    let (dir, _) = dataset_of(ws, args)?;
    let ds = ws.data();
    let labels: BTreeMap<String, Vec<String>> = ds.labels.clone().unwrap_or_default().into_iter().collect();
    Ok((ds.manifest.clone(), labels, dir))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn r6(v: f64) -> Value {
    if !v.is_finite() {
        Value::Null
    } else if v.abs() >= 1e9 {
        // Six decimals mean nothing here, and v × 1e6 could overflow to a JSON `null`.
        json!(v)
    } else {
        json!((v * 1e6).round() / 1e6)
    }
}

fn show_session_stats(ws: &mut Workspace, args: &Value) -> Result<Value, String> {
    use rayon::prelude::*;
    let (_, labels, dir) = load_dataset(ws, args)?;
    let mut distribution: BTreeMap<String, usize> = BTreeMap::new();
    for l in labels.values().filter_map(|l| l.first()) {
        *distribution.entry(l.clone()).or_default() += 1;
    }
    let sessions: Vec<&String> = labels.keys().collect();
    let durations: Vec<Option<f64>> = sessions
        .par_iter()
        .map(|s| {
            let rec = Recording::from_parquet(
                &crate::dataset::layout::session_file(&dir, s).ok()?,
                crate::dataset::recording::MAX_SESSION_BYTES,
            )
            .ok()?;
            Some(rec.duration_sec())
        })
        .collect();
    let d: Vec<f64> = durations.iter().flatten().copied().collect();
    let subjects: std::collections::BTreeSet<String> =
        sessions.iter().filter_map(|s| classify::subject_of(s)).collect();
    let with_subject = sessions.iter().filter(|s| classify::subject_of(s).is_some()).count();
    let mut out = json!({
        "dataset": ws.dataset,
        "total_sessions": sessions.len(),
        "label_distribution": distribution,
        "duration_sec": {"min": r6(d.iter().copied().fold(f64::INFINITY, f64::min)), "max": r6(d.iter().copied().fold(f64::NEG_INFINITY, f64::max)),
                          "mean": r6(d.iter().sum::<f64>() / d.len() as f64), "median": r6(median(d.clone()))},
        "sessions_without_data": durations.len() - d.len(),
    });
    // Subjects only when (nearly) every id encodes one; a partial count would mislead.
    if !sessions.is_empty() && with_subject * 10 >= sessions.len() * 9 {
        out["subjects"] = json!(subjects.len());
    }
    Ok(out)
}

fn show_channel_stats(ws: &mut Workspace, args: &Value) -> Result<Value, String> {
    let (manifest, labels, dir) = load_dataset(ws, args)?;
    let mut counts: Vec<i64> = Vec::new();
    for s in labels.keys() {
        let Ok(path) = crate::dataset::layout::session_file(&dir, s) else { continue };
        if let Ok(n) = crate::dataset::recording::Recording::row_count(&path) {
            counts.push(n as i64);
        }
    }
    let channels: Vec<Value> = manifest
        .get("channels")
        .and_then(Value::as_array)
        .map(|cs| cs.iter().map(|c| json!({"name": c.get("name"), "description": c.get("description"), "sampling_rate_hz": c.get("sampling_rate_hz")})).collect())
        .unwrap_or_default();
    Ok(json!({"dataset": ws.dataset, "channels": channels,
              "samples_per_session": {"min": counts.iter().min(), "max": counts.iter().max()}}))
}

fn select_channels(ws: &mut Workspace, args: &Value) -> Result<Value, String> {
    let (id, rec) = timeseries(ws, args)?;
    let wanted: Vec<&str> = args["channel_names"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let available: Vec<&str> = rec.channels.iter().map(|(n, _)| n.as_str()).collect();
    let unknown: Vec<&str> = wanted.iter().filter(|w| !available.contains(w)).copied().collect();
    if !unknown.is_empty() {
        return Err(format!("unknown channels {unknown:?}; this recording has: {}", available.join(", ")));
    }
    let new = Recording {
        timestamps: rec.timestamps.clone(),
        channels: wanted.iter().map(|w| (w.to_string(), rec.channel(w).expect("checked").to_vec())).collect(),
    };
    let id = id.to_string();
    let a = ws.derive(&id, "select_channels", &json!({"channel_names": wanted}), Payload::Timeseries(new));
    Ok(a.reference())
}

fn filter_by_time(ws: &mut Workspace, args: &Value) -> Result<Value, String> {
    let (id, rec) = timeseries(ws, args)?;
    let start = args["start_time_sec"].as_f64().unwrap_or(f64::NAN);
    let end = args["end_time_sec"].as_f64().unwrap_or(f64::NAN);
    let (first, last) = (rec.timestamps.first().copied().unwrap_or(0.0), rec.timestamps.last().copied().unwrap_or(0.0));
    if !(start.is_finite() && end.is_finite()) {
        return Err("start_time_sec and end_time_sec must be numbers".into());
    }
    if start >= end {
        return Err(format!("the window is empty or inverted: start {start} s is not before end {end} s"));
    }
    if start > last || end < first {
        return Err(format!("the window {start}–{end} s lies outside the recording, which covers {first}–{last} s"));
    }
    let keep: Vec<usize> = (0..rec.len()).filter(|&i| rec.timestamps[i] >= start && rec.timestamps[i] <= end).collect();
    if keep.is_empty() {
        return Err(format!("no sample falls between {start} and {end} s"));
    }
    let new = Recording {
        timestamps: keep.iter().map(|&i| rec.timestamps[i]).collect(),
        channels: rec.channels.iter().map(|(n, v)| (n.clone(), keep.iter().map(|&i| v[i]).collect())).collect(),
    };
    let id = id.to_string();
    let a = ws.derive(
        &id,
        "filter_by_time",
        &json!({"start_time_sec": start, "end_time_sec": end}),
        Payload::Timeseries(new),
    );
    Ok(a.reference())
}

fn compute_features(ws: &mut Workspace, args: &Value) -> Result<Value, String> {
    let (id, rec) = timeseries(ws, args)?;
    let mut f = features::features(rec);
    f["artifact_id"] = json!(id);
    Ok(f)
}

fn motion_tokenizer(ws: &mut Workspace, args: &Value) -> Result<Value, String> {
    let (id, rec) = timeseries(ws, args)?;
    let word_length = args.get("word_length").and_then(Value::as_u64).unwrap_or(16) as usize;
    let alphabet_size = args.get("alphabet_size").and_then(Value::as_u64).unwrap_or(6) as usize;
    if word_length > rec.len() {
        return Err(format!("word_length {word_length} is longer than the recording ({} samples)", rec.len()));
    }
    let words: BTreeMap<String, String> =
        rec.channels.iter().map(|(n, v)| (n.clone(), features::sax(v, word_length, alphabet_size))).collect();
    let id = id.to_string();
    let params = json!({"word_length": word_length, "alphabet_size": alphabet_size});
    let a = ws.derive(&id, "motion_tokenizer", &params, Payload::Tokens(words.clone()));
    let mut out = a.reference();
    out["word_length"] = json!(word_length);
    out["alphabet_size"] = json!(alphabet_size);
    out["words"] = json!(words);
    Ok(out)
}

fn classify_activity(ws: &mut Workspace, args: &Value) -> Result<Value, String> {
    let (manifest, labels, dir) = load_dataset(ws, &json!({}))?;
    let (id, rec) = timeseries(ws, args)?;
    let channels: Vec<String> = manifest
        .get("channels")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("name")?.as_str().map(str::to_string))
        .collect();
    let idx = classify::index(&dir, &labels, &channels)?;
    let query = classify::vector(rec, &channels);
    let k = args.get("k").and_then(Value::as_u64).unwrap_or(5) as usize;
    let exclude_subject = args.get("exclude_subject").and_then(Value::as_bool).unwrap_or(true);
    let p = classify::classify(&idx, &query, &ws.session, exclude_subject, k)?;
    Ok(json!({
        "artifact_id": id,
        "top_labels": p.top.iter().map(|(l, s)| json!({"label": l, "score": s})).collect::<Vec<_>>(),
        "neighbours": p.neighbours.iter().map(|n| json!({"session": n.session, "label": n.label, "distance": r6(n.distance)})).collect::<Vec<_>>(),
        "k": k, "excluded_sessions": p.excluded_sessions, "training_sessions": idx.entries.len() - p.excluded_sessions,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_schemas_compile_and_describe_every_parameter() {
        for t in TOOLS {
            let schema = (t.parameters)();
            assert!(jsonschema::meta::is_valid(&schema), "{}", t.name);
            for (name, p) in schema["properties"].as_object().unwrap() {
                assert!(p["description"].is_string(), "{}.{name} needs a description for the model", t.name);
            }
        }
        assert_eq!(openai_tools().as_array().unwrap().len(), TOOLS.len());
    }
}
