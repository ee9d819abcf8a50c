//! The thread generator: pick a recording → ask for a question → create and save the
//! thread → step loop (model proposes, real tools run on the recording, every accepted
//! step saved) → final answer judged against the ground truth.
//!
//! `policy` decides, `step_loop` runs one thread, `thread_doc` builds, checks, saves and
//! locks it; `client` speaks the Chat Completions protocol; `prompts` and `replies` are
//! what is asked and what must come back.

pub mod budget;
pub mod client;
pub mod config;
pub mod gate;
pub mod in_progress;
pub mod listing;
pub mod pace;
pub mod pick;
pub mod plan;
pub mod policy;
pub mod prompts;
pub mod replies;
pub mod step_loop;
pub mod thread_doc;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::{json, Map, Value};

use crate::data_root::DataRoot;
use crate::tools::artifacts::Workspace;
use pick::Pick;
use policy::Policy;
use step_loop::{Ended, Inputs, LoopSettings, LoopStats, Observer};
use thread_doc::{NewThread, ThreadDoc, ThreadLock};

/// One thread in progress, with what it needs to go on.
pub struct Active {
    pub thread: ThreadDoc,
    pub workspace: Workspace,
    _lock: ThreadLock,
}

pub struct Generator {
    pub data_root: DataRoot,
    pub threads_dir: PathBuf,
    pub settings: LoopSettings,
    /// Metadata every new thread records (model, temperatures, generator version).
    pub metadata: Map<String, Value>,
    /// Label vocabularies, read once per dataset.
    vocabularies: Mutex<HashMap<String, Vec<String>>>,
}

impl Generator {
    pub fn new(
        data_root: DataRoot,
        threads_dir: PathBuf,
        settings: LoopSettings,
        metadata: Map<String, Value>,
    ) -> Generator {
        Generator { data_root, threads_dir, settings, metadata, vocabularies: Mutex::new(HashMap::new()) }
    }

    fn dataset_inputs(&self, dataset: &str) -> Result<(Value, Vec<String>), String> {
        let d = self.data_root.dataset(dataset);
        let manifest = d.as_ref().as_ref().map_err(Clone::clone)?.manifest.clone();
        let mut cache = self.vocabularies.lock().expect("no panics while held");
        let labels = match cache.get(dataset) {
            Some(l) => l.clone(),
            None => {
                let l = pick::vocabulary(&self.data_root, dataset)?;
                cache.insert(dataset.to_string(), l.clone());
                l
            }
        };
        Ok((manifest, labels))
    }

    /// Ask for the question, create the thread and save it at once.
    pub fn start(&self, p: &Pick, id: &str, policy: &mut dyn Policy, stats: &mut LoopStats) -> Result<Active, String> {
        let (id, lock) = self.claim(id)?;
        let id = id.as_str();
        let (manifest, labels) = self.dataset_inputs(&p.dataset)?;
        let workspace = Workspace::open(&self.data_root, &p.dataset, &p.session)?;
        let inputs =
            Inputs { data_root: &self.data_root, manifest: &manifest, labels: &labels, settings: self.settings };
        let query = step_loop::ask_query(policy, &inputs, stats)?;
        let mut extra = self.metadata.clone();
        if let Some(a) = workspace.session_artifact_id() {
            extra.insert("initial_artifact_id".into(), json!(a));
        }
        let mut thread = ThreadDoc::create(
            &self.threads_dir,
            NewThread {
                id,
                dataset: &p.dataset,
                session: &p.session,
                ground_truth: &p.ground_truth,
                manifest: &manifest,
                query: &query,
                extra,
            },
        );
        thread.save(Some(&self.data_root))?;
        Ok(Active { thread, workspace, _lock: lock })
    }

    /// Lock `id`, or the next free id after it when a thread file of that id exists (another
    /// run with the same seed made it): ids are chosen before the lock, so they are
    /// checked again once it is held. The first save is exclusive as well.
    fn claim(&self, id: &str) -> Result<(String, ThreadLock), String> {
        let mut candidate = id.to_string();
        for _ in 0..10_000 {
            // Held by another run (same seed, same moment): that id is taken too.
            if let Ok(lock) = ThreadLock::acquire(&self.threads_dir, &candidate) {
                let file = format!("{candidate}.json");
                // A rejected thread keeps its id: no new thread takes it.
                if !self.threads_dir.join(&file).exists() && !gate::rejected_dir(&self.threads_dir).join(&file).exists() {
                    return Ok((candidate, lock));
                }
            }
            candidate = pick::next_id(&candidate);
        }
        Err(format!("no free thread id after {id} in {}", self.threads_dir.display()))
    }

    /// Take up an active thread where its last save left it: lock it, check it, and
    /// re-create its artifacts by replaying its tool calls.
    pub fn resume(&self, path: &Path) -> Result<Active, String> {
        // A thread's file is named by its id (TK011, checked below), so the lock can be taken
        // before the file is read: what is read is then what no one else is changing.
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
            return Err(format!("{}: not a thread file name", path.display()));
        };
        // The lock lives beside the file it guards, whatever --threads-dir says.
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let lock = ThreadLock::acquire(dir, stem)?;
        let thread = ThreadDoc::load(path)?;
        let stem = Some(stem);
        let checked =
            crate::check::check(&thread.doc, stem, crate::check::Options { data_root: Some(&self.data_root) });
        if let Some(d) = checked.diagnostics.iter().find(|d| d.is_error()) {
            return Err(format!("{}: cannot continue an invalid thread: {}: {}", path.display(), d.code(), d.message));
        }
        if checked.version != Some(crate::version::Version::OpenAiV1) {
            return Err(format!(
                "{}: only openai_v1 threads can be continued; run `threadkit migrate` first",
                path.display()
            ));
        }
        let status = thread.meta("status");
        if status != "active" {
            return Err(format!("{}: the thread is {status}, not active", path.display()));
        }
        let workspace = crate::tools::replay::rebuild(&thread.doc, &self.data_root)?;
        Ok(Active { thread, workspace, _lock: lock })
    }

    pub fn run(
        &self,
        active: &mut Active,
        policy: &mut dyn Policy,
        observer: &mut dyn Observer,
        stats: &mut LoopStats,
    ) -> Result<Ended, String> {
        let dataset = active.thread.meta("dataset").to_string();
        let (manifest, labels) = self.dataset_inputs(&dataset)?;
        let inputs =
            Inputs { data_root: &self.data_root, manifest: &manifest, labels: &labels, settings: self.settings };
        step_loop::run_thread(&mut active.thread, &mut active.workspace, policy, observer, &inputs, stats)
    }
}
