//! Artifacts: the recordings (and token sequences) a thread's tools work on.
//!
//! The thread's session is the first artifact. Every derived artifact's id is a hash of
//! its lineage — dataset, session, and each operation with its arguments — so the same
//! calls give the same ids in any process, and a resumed thread re-creates its
//! artifacts by replaying its recorded tool calls.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::data_root::{DataError, DataRoot, Dataset};
use crate::dataset::layout::refuse_unsafe;
use crate::dataset::recording::Recording;

#[derive(Debug, Clone)]
pub enum Payload {
    Timeseries(Recording),
    Tokens(BTreeMap<String, String>),
}

#[derive(Debug, Clone)]
pub struct Artifact {
    pub id: String,
    pub parent: Option<String>,
    /// The operation that made it: `{"op": name, "args": {…}}`; `null` for the session itself.
    pub operation: Value,
    pub payload: Payload,
}

impl Artifact {
    pub fn kind(&self) -> &'static str {
        match self.payload {
            Payload::Timeseries(_) => "timeseries",
            Payload::Tokens(_) => "tokens",
        }
    }

    /// What a tool returns about an artifact: small, so that tool results stay cheap in tokens.
    pub fn reference(&self) -> Value {
        let mut r = json!({"type": self.kind(), "artifact_id": self.id});
        if let Some(p) = &self.parent {
            r["parent_id"] = json!(p);
        }
        if let Payload::Timeseries(rec) = &self.payload {
            r["channels"] = json!(rec.channels.iter().map(|(n, _)| n).collect::<Vec<_>>());
            r["samples"] = json!(rec.len());
            r["start_time_sec"] = json!(rec.timestamps.first().copied().unwrap_or(0.0));
            r["end_time_sec"] = json!(rec.timestamps.last().copied().unwrap_or(0.0));
        }
        r
    }
}

fn hash_id(prefix: &str, lineage: &str) -> String {
    let digest = Sha256::digest(lineage.as_bytes());
    let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("{prefix}_{hex}")
}

/// The artifacts of one thread (one dataset, one session).
#[derive(Debug)]
pub struct Workspace {
    pub data_root: PathBuf,
    pub dataset: String,
    pub session: String,
    artifacts: BTreeMap<String, Artifact>,
    order: Vec<String>,
    /// The artifact a tool uses when none is named; `None` before a session is loaded.
    pub current: Option<String>,
    /// The dataset's manifest and labels, read once when the workspace opens (checked `Ok`).
    loaded: Arc<Result<Dataset, DataError>>,
}

impl Workspace {
    /// A workspace for dataset-level tools only (no recording loaded).
    pub fn for_dataset(root: &DataRoot, dataset: &str) -> Result<Workspace, DataError> {
        refuse_unsafe("dataset name", dataset)?;
        let loaded = root.dataset(dataset);
        loaded.as_ref().as_ref().map_err(Clone::clone)?;
        Ok(Workspace {
            data_root: root.root.clone(),
            dataset: dataset.to_string(),
            session: String::new(),
            artifacts: BTreeMap::new(),
            order: Vec::new(),
            current: None,
            loaded,
        })
    }

    /// The dataset's manifest and labels, as loaded when the workspace opened.
    pub fn data(&self) -> &Dataset {
        self.loaded.as_ref().as_ref().expect("a workspace only opens on a dataset that loaded")
    }

    /// Load the session as the first artifact.
    pub fn open(root: &DataRoot, dataset: &str, session: &str) -> Result<Workspace, DataError> {
        let mut ws = Workspace::for_dataset(root, dataset)?;
        let path = crate::dataset::layout::session_file(&ws.data().dir, session)?;
        if !path.is_file() {
            return Err(DataError::NoSessionData { dataset: dataset.to_string(), session: session.to_string(), path });
        }
        let rec = Recording::from_parquet(&path, crate::dataset::recording::MAX_SESSION_BYTES)?;
        let id = hash_id("ts", &format!("session\u{0}{dataset}\u{0}{session}"));
        let first =
            Artifact { id: id.clone(), parent: None, operation: Value::Null, payload: Payload::Timeseries(rec) };
        ws.session = session.to_string();
        ws.current = Some(id.clone());
        ws.artifacts.insert(id.clone(), first);
        ws.order.push(id);
        Ok(ws)
    }

    pub fn dataset_dir(&self) -> PathBuf {
        self.data_root.join(&self.dataset)
    }

    pub fn session_artifact_id(&self) -> Option<&str> {
        self.order.first().map(String::as_str)
    }

    pub fn ids(&self) -> &[String] {
        &self.order
    }

    /// The artifact a tool works on: the one named, or the current one when omitted.
    /// An unknown or invented id is an error that lists the ids that exist.
    pub fn get(&self, id: Option<&str>) -> Result<&Artifact, String> {
        let Some(id) = id.or(self.current.as_deref()) else {
            return Err("no recording is loaded: name an artifact_id, or start from a session (--session)".into());
        };
        self.artifacts.get(id).ok_or_else(|| {
            format!("unknown artifact_id {id:?}; the artifacts of this thread are: {}", self.order.join(", "))
        })
    }

    /// Register an artifact derived from `parent` by `op(args)`; the same lineage gives the same id.
    pub fn derive(&mut self, parent: &str, op: &str, args: &Value, payload: Payload) -> &Artifact {
        let prefix = match payload {
            Payload::Timeseries(_) => "ts",
            Payload::Tokens(_) => "tok",
        };
        let id = hash_id(prefix, &format!("{parent}\u{0}{op}\u{0}{}", canonical(args)));
        if !self.artifacts.contains_key(&id) {
            self.order.push(id.clone());
            let operation = json!({"op": op, "args": args});
            self.artifacts
                .insert(id.clone(), Artifact { id: id.clone(), parent: Some(parent.to_string()), operation, payload });
        }
        if prefix == "ts" {
            self.current = Some(id.clone());
        }
        &self.artifacts[&id]
    }
}

/// JSON with object keys sorted, so that argument order never changes an id.
pub fn canonical(v: &Value) -> String {
    fn sort(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                Value::Object(keys.into_iter().map(|k| (k.clone(), sort(&m[k]))).collect())
            }
            Value::Array(a) => Value::Array(a.iter().map(sort).collect()),
            other => other.clone(),
        }
    }
    serde_json::to_string(&sort(v)).expect("values serialize")
}
