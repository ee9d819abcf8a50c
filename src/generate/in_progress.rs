//! The threads this process is working on, so that Ctrl-C can say what was saved:
//! every accepted step is on disk already, and the message names how far each got.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

static ACTIVE: Mutex<BTreeMap<String, PathBuf>> = Mutex::new(BTreeMap::new());

pub fn started(id: &str, path: &Path) {
    ACTIVE.lock().unwrap_or_else(|p| p.into_inner()).insert(id.to_string(), path.to_path_buf());
}

pub fn ended(id: &str) {
    ACTIVE.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
}

/// On Ctrl-C: say, for every thread in progress, what its file holds, then exit 130.
pub fn report_on_interrupt() {
    let _ = ctrlc::set_handler(|| {
        let active = ACTIVE.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut err = crate::secret::Scrubbed(std::io::stderr());
        let _ = writeln!(err, "\ninterrupted.");
        for (id, path) in active {
            let line = match super::thread_doc::ThreadDoc::load(&path) {
                Ok(t) => format!(
                    "{id}: {} saved (status {}); `threadkit generate continue {id}` resumes it",
                    crate::text::plural(t.steps(), "step"),
                    t.meta("status")
                ),
                Err(_) => format!("{id}: nothing saved yet"),
            };
            // Ids and statuses read back from thread files are data: never raw to the terminal.
            let _ = writeln!(err, "{}", crate::text::terminal_safe(&line, false));
        }
        let _ = err.flush();
        std::process::exit(130);
    });
}
