//! Progress of long runs, on stderr: a bar on a terminal (indicatif), and where stderr is
//! not a terminal (nohup, CI, `2>log`) a plain line every few seconds, so a log shows the
//! run is alive. Nothing with `-q`.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

struct State {
    pos: AtomicU64,
    message: Mutex<String>,
}

enum Shown {
    Bar(indicatif::ProgressBar),
    Lines { stop: mpsc::Sender<()>, ticker: std::thread::JoinHandle<()> },
    Nothing,
}

pub struct Progress {
    state: Arc<State>,
    shown: Shown,
}

/// Seconds between plain progress lines (`THREADKIT_PROGRESS_SECS` overrides, for tests).
fn interval() -> Duration {
    let secs = std::env::var("THREADKIT_PROGRESS_SECS").ok().and_then(|s| s.parse::<f64>().ok()).unwrap_or(5.0);
    Duration::from_secs_f64(secs.clamp(0.05, 3600.0))
}

impl Progress {
    /// `what` names the counted things ("threads"); `total` when known.
    pub fn new(what: &'static str, total: Option<u64>, quiet: bool) -> Progress {
        let state = Arc::new(State { pos: AtomicU64::new(0), message: Mutex::new(String::new()) });
        let shown = if quiet {
            Shown::Nothing
        } else if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            let bar = match total {
                Some(n) => indicatif::ProgressBar::new(n).with_style(
                    indicatif::ProgressStyle::with_template(&format!(
                        "{{bar:30}} {{pos}}/{{len}} {what} · {{msg}} · {{elapsed_precise}}"
                    ))
                    .expect("a valid template"),
                ),
                None => indicatif::ProgressBar::new_spinner().with_style(
                    indicatif::ProgressStyle::with_template(&format!("{{spinner}} {{pos}} {what} ({{per_sec}}) {{msg}}"))
                        .expect("a valid template"),
                ),
            };
            bar.enable_steady_tick(Duration::from_millis(200));
            Shown::Bar(bar)
        } else {
            let (stop, stopped) = mpsc::channel::<()>();
            let s = state.clone();
            let ticker = std::thread::spawn(move || {
                let start = Instant::now();
                let every = interval();
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                    let pos = s.pos.load(Ordering::Relaxed);
                    let secs = start.elapsed().as_secs_f64();
                    let of = total.map_or(String::new(), |t| format!("/{t}"));
                    let msg = s.message.lock().map(|m| m.clone()).unwrap_or_default();
                    let msg = if msg.is_empty() { String::new() } else { format!(" · {msg}") };
                    let line = format!("{pos}{of} {what}{msg} · {:.1}/s · {secs:.0}s\n", pos as f64 / secs.max(1e-9));
                    let _ = crate::secret::Scrubbed(std::io::stderr()).write_all(line.as_bytes());
                }
            });
            Shown::Lines { stop, ticker }
        };
        Progress { state, shown }
    }

    pub fn inc(&self, n: u64) {
        self.state.pos.fetch_add(n, Ordering::Relaxed);
        if let Shown::Bar(b) = &self.shown {
            b.inc(n);
        }
    }

    pub fn set_message(&self, message: String) {
        // Messages name threads and datasets: data, escaped before the terminal sees them.
        let message = crate::text::terminal_safe(&message, false).into_owned();
        if let Shown::Bar(b) = &self.shown {
            b.set_message(message.clone());
        }
        if let Ok(mut m) = self.state.message.lock() {
            *m = message;
        }
    }

    /// Clear the bar (or stop the lines) before the summary is printed.
    pub fn finish(self) {
        match self.shown {
            Shown::Bar(b) => b.finish_and_clear(),
            Shown::Lines { stop, ticker } => {
                let _ = stop.send(());
                let _ = ticker.join();
            }
            Shown::Nothing => {}
        }
    }
}
