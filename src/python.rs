//! The Python extension module `threadkit._native` (built by maturin with `--features python`).
//! It only moves text across: JSON strings in, JSON strings out, the work in `batch.rs` with the
//! GIL released. The Python package (`python/threadkit/`) turns dicts, 🤗 `datasets` batches
//! and Arrow tables into those strings and the results back into Python objects and tables.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::batch::{self, ExampleOptions};
use crate::data_root::DataRoot;
use crate::export::format::{CallForm, Options, Profile, Unplaceable};
use crate::export::QualityMode;
use crate::tokens::Tokenizer;

/// A thread as Python gives it: `str`, or `bytes` (a file's contents, checked for UTF-8 as the CLI does).
#[derive(FromPyObject)]
enum Thread {
    Text(String),
    Bytes(pyo3::pybacked::PyBackedBytes),
}

/// The items of a Python list, a few thousand at a time with Ctrl-C answered between them:
/// copying gigabytes of text out of Python takes seconds, and it needs the GIL.
fn taken<'py, T: for<'a> FromPyObject<'a, 'py>, U>(items: &Bound<'py, PyAny>, what: &str, each: impl Fn(T) -> U) -> PyResult<Vec<U>> {
    if items.is_instance_of::<pyo3::types::PyString>() {
        return Err(pyo3::exceptions::PyTypeError::new_err(format!("{what}: give a list, not one string")));
    }
    let mut out = Vec::with_capacity(items.len().unwrap_or(0));
    for (i, item) in items.try_iter()?.enumerate() {
        if i % 4096 == 0 {
            items.py().check_signals()?;
        }
        out.push(each(item?.extract::<T>().map_err(Into::into)?));
    }
    Ok(out)
}

fn texts(threads: &Bound<'_, PyAny>) -> PyResult<Vec<batch::Text>> {
    taken(threads, "threads", |t: Thread| match t {
        Thread::Text(t) => Ok(t),
        Thread::Bytes(b) => batch::text_of(b.to_vec()),
    })
}

fn value<T: clap::ValueEnum>(what: &str, name: &str) -> PyResult<T> {
    T::from_str(name, false).map_err(|_| {
        let names: Vec<String> =
            T::value_variants().iter().filter_map(|v| v.to_possible_value()).map(|p| p.get_name().to_string()).collect();
        PyValueError::new_err(format!("{what} {name:?}: choose one of {}", names.join(", ")))
    })
}

fn data_root(dir: Option<PathBuf>) -> PyResult<Option<DataRoot>> {
    match dir {
        Some(d) if !d.is_dir() => Err(PyValueError::new_err(format!(
            "data_root {}: not a directory; point it at the folder that holds <dataset>/manifest.json",
            d.display()
        ))),
        Some(d) => Ok(Some(DataRoot::new(&d))),
        None => Ok(None),
    }
}

/// Runs a batch with the GIL released while this thread answers Ctrl-C. Python runs its
/// signal handlers only when the interpreter has control, so a call that held it for the
/// whole batch (a million threads: minutes) ignored KeyboardInterrupt until it returned.
/// On a signal the batch is stopped (no record is begun after it) and the exception raised.
fn interruptible<T: Send>(py: Python<'_>, jobs: Option<usize>, work: impl FnOnce(batch::Run) -> Option<T> + Send) -> PyResult<T> {
    let (pool, stop) = (crate::workers::pool(jobs), AtomicBool::new(false));
    let run = batch::Run { pool: &pool, stop: &stop };
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::channel();
        let worker = scope.spawn(move || {
            let done = work(run);
            let _ = tx.send(());
            done
        });
        let mut rx = rx;
        loop {
            // Done, or the worker panicked (its sender dropped): join it either way.
            let (waited, back) = py.detach(move || (rx.recv_timeout(Duration::from_millis(50)), rx));
            rx = back;
            if waited != Err(std::sync::mpsc::RecvTimeoutError::Timeout) {
                break;
            }
            if let Err(interrupt) = py.check_signals() {
                stop.store(true, Ordering::Relaxed);
                // Records already begun finish (one thread each: milliseconds).
                let _ = py.detach(|| worker.join());
                return Err(interrupt);
            }
        }
        match worker.join() {
            Ok(Some(done)) => Ok(done),
            Ok(None) => unreachable!("stopped only here"),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

#[pyfunction]
#[pyo3(signature = (threads, name, data_root=None, jobs=None))]
fn validate(py: Python<'_>, threads: &Bound<'_, PyAny>, name: String, data_root: Option<PathBuf>, jobs: Option<usize>) -> PyResult<Vec<String>> {
    let root = self::data_root(data_root)?;
    let texts = texts(threads)?;
    interruptible(py, jobs, |run| batch::validate(run, &name, &texts, root.as_ref()))
}

#[pyfunction]
#[pyo3(signature = (threads, name, data_root=None, jobs=None))]
fn quality(py: Python<'_>, threads: &Bound<'_, PyAny>, name: String, data_root: Option<PathBuf>, jobs: Option<usize>) -> PyResult<Vec<String>> {
    let root = self::data_root(data_root)?;
    let texts = texts(threads)?;
    interruptible(py, jobs, |run| batch::quality(run, &name, &texts, root.as_ref()))
}

#[pyfunction]
#[pyo3(signature = (threads, profile, chat_template=None, tokenizer="o200k_base", max_tokens=None, status=None, quality="off", unplaceable="drop", llama_factory_calls="tool-call", data_root=None, jobs=None))]
#[allow(clippy::too_many_arguments)]
fn to_examples(
    py: Python<'_>,
    threads: &Bound<'_, PyAny>,
    profile: &str,
    chat_template: Option<PathBuf>,
    tokenizer: &str,
    max_tokens: Option<i64>,
    status: Option<Vec<String>>,
    quality: &str,
    unplaceable: &str,
    llama_factory_calls: &str,
    data_root: Option<PathBuf>,
    jobs: Option<usize>,
) -> PyResult<Vec<(String, Option<String>)>> {
    // The limits `export` takes on its command line: a wrong value is an error, never an empty result.
    let max_tokens = match max_tokens {
        Some(n) if !(1..=i64::from(crate::export::MAX_TOKENS_LIMIT)).contains(&n) => {
            return Err(PyValueError::new_err(format!(
                "max_tokens {n}: give a number of tokens from 1 to {}, or None",
                crate::export::MAX_TOKENS_LIMIT
            )));
        }
        n => n.map(|n| n as usize),
    };
    let statuses = match status.as_deref().map(crate::thread::Status::filter) {
        None => None,
        Some(Ok(statuses)) => statuses,
        Some(Err(bad)) => {
            return Err(PyValueError::new_err(format!(
                "status {bad:?}: choose from active, finished, max_turns_reached, or \"all\" (or None) for every thread"
            )))
        }
    };
    let options = ExampleOptions {
        profile: value::<Profile>("profile", profile)?,
        tokenizer: value::<Tokenizer>("tokenizer", tokenizer)?,
        max_tokens,
        statuses,
        quality: value::<QualityMode>("quality", quality)?,
        options: Options {
            unplaceable: value::<Unplaceable>("unplaceable", unplaceable)?,
            call_form: value::<CallForm>("llama_factory_calls", llama_factory_calls)?,
        },
    };
    if chat_template.is_some() && !options.profile.format().templated() {
        return Err(PyValueError::new_err(format!(
            "chat_template: the {} profile is not rendered with a model's chat template; use it with profile=\"trl\" or \"axolotl\"",
            options.profile.name()
        )));
    }
    let template = chat_template.map(|p| batch::load_template(&p)).transpose().map_err(PyValueError::new_err)?;
    let root = self::data_root(data_root)?;
    options.tokenizer.preload();
    let texts = texts(threads)?;
    interruptible(py, jobs, |run| batch::to_examples(run, &texts, &options, template.as_ref(), root.as_ref()))
}

#[pyfunction]
#[pyo3(signature = (texts, tokenizer="o200k_base", jobs=None))]
fn count_tokens(py: Python<'_>, texts: &Bound<'_, PyAny>, tokenizer: &str, jobs: Option<usize>) -> PyResult<Vec<usize>> {
    let tokenizer = value::<Tokenizer>("tokenizer", tokenizer)?;
    let texts = taken(texts, "texts", |t: String| t)?;
    interruptible(py, jobs, |run| batch::count_tokens(run, &texts, tokenizer))
}

/// The command line, as the `threadkit` binary runs it (the wheel's `threadkit` command).
#[pyfunction]
fn main(py: Python<'_>, argv: Vec<String>) -> i32 {
    i32::from(py.detach(|| crate::main_with(argv)))
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(validate, m)?)?;
    m.add_function(wrap_pyfunction!(quality, m)?)?;
    m.add_function(wrap_pyfunction!(to_examples, m)?)?;
    m.add_function(wrap_pyfunction!(count_tokens, m)?)?;
    m.add_function(wrap_pyfunction!(main, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
