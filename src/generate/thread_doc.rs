//! The thread being generated: built message by message, its metadata recomputed and the
//! whole document checked by the validator before every atomic save, and guarded by a
//! lock so that one process at a time works on it.

use std::fs::File;
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use crate::check::{self, Options};
use crate::data_root::DataRoot;
use crate::thread::{Counts, FirstMessage, ThreadView, FINAL_ANSWER_MARKER};
use crate::version::Version;

/// RFC 3339 time in UTC with microseconds.
pub fn now() -> String {
    chrono::DateTime::<chrono::Utc>::from(std::time::SystemTime::now())
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, false)
}

#[derive(Debug)]
pub struct ThreadDoc {
    pub doc: Value,
    pub path: PathBuf,
    /// Not on disk yet: the first save must create the file, never replace one.
    new: bool,
}

/// What a new thread is about.
pub struct NewThread<'a> {
    pub id: &'a str,
    pub dataset: &'a str,
    pub session: &'a str,
    pub ground_truth: &'a str,
    pub manifest: &'a Value,
    pub query: &'a str,
    /// Extra metadata (model, temperatures, initial artifact, generator): kept as is.
    pub extra: Map<String, Value>,
}

impl ThreadDoc {
    pub fn create(dir: &Path, t: NewThread<'_>) -> ThreadDoc {
        let created = now();
        let mut metadata = json!({
            "dataset": t.dataset, "session": t.session, "ground_truth": t.ground_truth, "status": "active",
            "num_turns": 0, "num_tool_calls": 0, "num_responds": 0, "user_query": t.query,
            "schema_version": "openai_v1", "created_at": created, "last_modified": created,
        });
        for (k, v) in t.extra {
            metadata[k] = v;
        }
        let doc = json!({
            "id": t.id,
            "metadata": metadata,
            "messages": [{"role": "user", "content": FirstMessage::build(t.manifest, t.query)}],
        });
        ThreadDoc { doc, path: dir.join(format!("{}.json", t.id)), new: true }
    }

    pub fn load(path: &Path) -> Result<ThreadDoc, String> {
        let text = crate::open::read_to_string(path, crate::source::DEFAULT_MAX_FILE_SIZE)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let doc: Value = serde_json::from_str(&text).map_err(|e| format!("{}: not JSON: {e}", path.display()))?;
        Ok(ThreadDoc { doc, path: path.to_path_buf(), new: false })
    }

    pub fn view(&self) -> ThreadView<'_> {
        ThreadView::new(&self.doc, Version::OpenAiV1)
    }

    pub fn id(&self) -> &str {
        self.doc["id"].as_str().unwrap_or_default()
    }

    pub fn meta(&self, key: &str) -> &str {
        self.doc["metadata"][key].as_str().unwrap_or_default()
    }

    fn messages_mut(&mut self) -> &mut Vec<Value> {
        self.doc["messages"].as_array_mut().expect("a thread has messages")
    }

    /// Steps taken so far (assistant messages): the turn number of the old format.
    pub fn steps(&self) -> usize {
        self.view().messages().iter().filter(|m| m["role"] == "assistant").count()
    }

    pub fn tool_calls(&self) -> usize {
        self.view().counts().tool_calls
    }

    pub fn push_tool_step(&mut self, reasoning: &str, tool: &str, arguments: &Value, result: &Value) {
        let call_id = format!("call_{}_turn_{}", self.id(), self.steps() + 1);
        let arguments = crate::pyjson::dumps(arguments);
        let content = serde_json::to_string(result).expect("a Value serializes");
        let messages = self.messages_mut();
        messages.push(json!({"role": "assistant", "content": reasoning, "tool_calls": [
            {"id": call_id, "type": "function", "function": {"name": tool, "arguments": arguments}}]}));
        messages.push(json!({"role": "tool", "tool_call_id": call_id, "name": tool, "content": content}));
    }

    pub fn push_respond(&mut self, message: &str) {
        self.messages_mut().push(json!({"role": "assistant", "content": message}));
    }

    pub fn finish(&mut self, answer: &str, confidence: &str, explanation: &str) {
        let content = format!("{explanation}\n\n{FINAL_ANSWER_MARKER} {answer}");
        self.messages_mut().push(json!({"role": "assistant", "content": content}));
        let correct = crate::thread::same_label(answer, self.meta("ground_truth"));
        let m = &mut self.doc["metadata"];
        m["status"] = json!("finished");
        m["final_answer"] = json!(answer);
        m["confidence"] = json!(confidence);
        m["is_correct"] = json!(correct);
    }

    pub fn set_status(&mut self, status: &str) {
        self.doc["metadata"]["status"] = json!(status);
    }

    fn refresh(&mut self) {
        let finished = self.meta("status") == "finished";
        let Counts { turns, tool_calls, responds } = Counts::of_messages(self.view().messages(), finished);
        let m = &mut self.doc["metadata"];
        m["num_turns"] = json!(turns);
        m["num_tool_calls"] = json!(tool_calls);
        m["num_responds"] = json!(responds);
        m["last_modified"] = json!(now());
    }

    /// Recompute the metadata, check the whole thread, and write it atomically. A thread
    /// that fails its own validation is never written: that would be a generator bug.
    pub fn save(&mut self, data_root: Option<&DataRoot>) -> Result<(), String> {
        self.refresh();
        let stem = self.path.file_stem().and_then(|s| s.to_str()).map(str::to_string);
        let checked = check::check(&self.doc, stem.as_deref(), Options { data_root });
        if let Some(d) = checked.diagnostics.iter().find(|d| d.is_error()) {
            return Err(format!(
                "refusing to save {}: it would fail validation: {}: {} (at {})",
                self.path.display(),
                d.code(),
                d.message,
                d.pointer
            ));
        }
        let text = crate::pyjson::to_string(
            &self.doc,
            crate::pyjson::Style { indent: Some(2), ensure_ascii: false, tight: false },
        ) + "\n";
        // Whatever the model or a tool echoed, a key is never written to a thread.
        let text = crate::secret::scrub(&text).into_owned();
        // A thread validate, export and show would refuse is not written: the run stops with
        // the thread as last saved.
        if text.len() as u64 > crate::source::DEFAULT_MAX_FILE_SIZE {
            return Err(format!(
                "refusing to save {}: it would be {}, over the {} that validate, export and show read",
                crate::text::shown(&self.path),
                crate::text::human_bytes(text.len() as u64),
                crate::text::human_bytes(crate::source::DEFAULT_MAX_FILE_SIZE)
            ));
        }
        let saved = if self.new {
            // Exclusive: a file of the same id that another run wrote is never replaced.
            crate::write::atomic_create(&self.path, text.as_bytes())
        } else {
            crate::write::atomic_write(&self.path, text.as_bytes())
        };
        match saved {
            Ok(()) => {
                self.new = false;
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(format!(
                "{}: another run created a thread with this id; nothing was replaced",
                self.path.display()
            )),
            Err(e) => Err(format!("{}: cannot save: {e}", self.path.display())),
        }
    }
}

/// An exclusive lock on one thread, held while a process works on it. It is an OS
/// file lock (`flock`), so it is released when the process dies, however it dies.
#[derive(Debug)]
pub struct ThreadLock {
    file: File,
    path: PathBuf,
}

impl ThreadLock {
    pub fn acquire(threads_dir: &Path, id: &str) -> Result<ThreadLock, String> {
        use std::io::Write;
        crate::dataset::layout::safe_name(id).map_err(|why| format!("thread id {id:?} is refused: {why}"))?;
        let dir = threads_dir.join(".locks");
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let path = dir.join(format!("{id}.lock"));
        loop {
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .read(true)
                .write(true)
                .open(&path)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            if rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_err() {
                let holder = std::fs::read_to_string(&path).unwrap_or_default();
                let holder = holder.trim();
                return Err(format!(
                    "thread {id} is being generated by another process{}; wait for it to finish or stop it",
                    if holder.is_empty() { String::new() } else { format!(" ({holder})") }
                ));
            }
            // The previous holder may have removed the file between our open and our lock:
            // then we hold a lock on a file nobody else can see. Start again.
            let same = match (rustix::fs::fstat(&file), rustix::fs::stat(&path)) {
                (Ok(a), Ok(b)) => a.st_ino == b.st_ino && a.st_dev == b.st_dev,
                _ => false,
            };
            if !same {
                continue;
            }
            let _ = file.set_len(0);
            let _ = write!(file, "pid {}", std::process::id());
            return Ok(ThreadLock { file, path });
        }
    }
}

impl Drop for ThreadLock {
    fn drop(&mut self) {
        // Remove while still holding the lock, so no one can lock the old file after us.
        let _ = std::fs::remove_file(&self.path);
        let _ = rustix::fs::flock(&self.file, rustix::fs::FlockOperation::Unlock);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let a = ThreadLock::acquire(dir.path(), "t1").unwrap();
        let err = ThreadLock::acquire(dir.path(), "t1").unwrap_err();
        assert!(err.contains("another process") && err.contains(&format!("pid {}", std::process::id())), "{err}");
        assert!(ThreadLock::acquire(dir.path(), "t2").is_ok());
        drop(a);
        assert!(ThreadLock::acquire(dir.path(), "t1").is_ok());
    }

    #[test]
    fn built_threads_validate_at_every_step() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = json!({"dataset_name": "D", "channels": []});
        let new = |query: &str| {
            ThreadDoc::create(
                dir.path(),
                NewThread {
                    id: "d_s1_v4_0001",
                    dataset: "d",
                    session: "s1",
                    ground_truth: "Walking",
                    manifest: &manifest,
                    query,
                    extra: Map::new(),
                },
            )
        };
        let mut t = new("What is the person doing?");
        t.save(None).unwrap();
        t.push_tool_step(
            "Look at the stats.",
            "show_session_stats",
            &json!({"dataset_name": "d"}),
            &json!({"sessions": 1}),
        );
        t.save(None).unwrap();
        t.push_respond("The signal is periodic.");
        t.save(None).unwrap();
        t.finish("walking", "high", "Periodic at 2 Hz.");
        t.save(None).unwrap();
        let saved = ThreadDoc::load(&t.path).unwrap();
        let mut again = new("Another question?");
        let e = again.save(None).unwrap_err();
        assert!(e.contains("another run created"), "{e}");
        assert_eq!(ThreadDoc::load(&t.path).unwrap().doc, saved.doc, "the first thread is untouched");
        assert_eq!(saved.doc["metadata"]["num_turns"], 4);
        assert_eq!(saved.doc["metadata"]["num_responds"], 1);
        assert_eq!(saved.doc["metadata"]["is_correct"], true);
        assert_eq!(saved.doc["messages"][1]["tool_calls"][0]["id"], "call_d_s1_v4_0001_turn_1");
    }
}
