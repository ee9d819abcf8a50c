//! Why data under a data root cannot be used: the errors of the boundary between the files
//! on disk (`data_root`, `dataset::layout`, `dataset::recording`) and what reads them (the
//! tools, the checks, the generator, the commands). Callers match on the kind (a missing
//! session is a finding, an unknown dataset a usage error) instead of on message text; the
//! text is the same a user, a report or a thread has always been shown.

use std::fmt;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq)]
pub enum DataError {
    /// A dataset name or session id that would not name exactly one folder below the root.
    Refused { what: &'static str, name: String, why: &'static str },
    /// No dataset of that name under the root.
    Unknown { name: String, root: PathBuf, known: Vec<String> },
    /// No folder with a manifest under the root.
    NoDataset { root: PathBuf },
    /// Several datasets, and nothing says which one is meant.
    SeveralDatasets { root: PathBuf, known: Vec<String> },
    /// A manifest or labels file that cannot be read or is not what it should be.
    SideFile { path: PathBuf, problem: String },
    /// The session has no recording file.
    NoSessionData { dataset: String, session: String, path: PathBuf },
    /// The session's recording cannot be read.
    Recording(RecordingError),
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataError::Refused { what, name, why } => write!(f, "{what} {name:?} is refused: {why}"),
            DataError::Unknown { name, root, known } => {
                let listed = if known.is_empty() { "none".to_string() } else { known.join(", ") };
                let hint = crate::suggest::hint(name, known.iter().map(String::as_str));
                write!(f, "unknown dataset {name}; datasets in {}: {listed}{hint}", root.display())
            }
            DataError::NoDataset { root } => {
                write!(f, "no dataset (a folder with manifest.json) under {}", root.display())
            }
            DataError::SeveralDatasets { root, known } => {
                write!(f, "{} holds several datasets ({}); choose one with --dataset", root.display(), known.join(", "))
            }
            DataError::SideFile { path, problem } => write!(f, "{} {problem}", path.display()),
            DataError::NoSessionData { dataset, session, path } => write!(
                f,
                "session {session:?} has no data in dataset {dataset:?} ({} does not exist)",
                path.display()
            ),
            DataError::Recording(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for DataError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DataError::Recording(e) => Some(e),
            _ => None,
        }
    }
}

impl From<RecordingError> for DataError {
    fn from(e: RecordingError) -> DataError {
        DataError::Recording(e)
    }
}

/// Tools and checks report data problems as text (a tool's error is what the model reads).
impl From<DataError> for String {
    fn from(e: DataError) -> String {
        e.to_string()
    }
}

/// Why a session's `data.parquet` cannot be read as a recording. The path is the caller's
/// to add: it knows whether the user named the file or a session.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordingError {
    Open(String),
    TooLarge { bytes: u64, limit: u64 },
    NotParquet(String),
    /// More decoded values than one session may hold (a small file can claim billions of rows).
    TooManyValues { rows: u64, columns: usize, limit: u64 },
    /// More channels than one session may have.
    TooManyColumns { columns: usize, limit: usize },
    Corrupt(String),
    /// A column that is not numbers, or whose data is corrupt.
    Column { name: String, problem: ColumnProblem },
    ShortColumn { name: String, got: usize, rows: usize },
    /// `time` is the column's name in the layout (`layout::TIME_COLUMN`).
    NoTimeColumn { time: &'static str, columns: Vec<String> },
}

#[derive(Debug, Clone, PartialEq)]
pub enum ColumnProblem {
    Corrupt(String),
    /// The column's physical type, in words ("boolean", "int96 (a timestamp)", "bytes or text").
    NotNumbers(&'static str),
}

impl fmt::Display for RecordingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordingError::Open(e) => write!(f, "cannot open: {e}"),
            RecordingError::TooLarge { bytes, limit } => {
                write!(f, "{bytes} bytes is larger than the {limit}-byte limit for one session")
            }
            RecordingError::NotParquet(e) => write!(f, "not a readable parquet file: {e}"),
            RecordingError::TooManyValues { rows, columns, limit } => write!(
                f,
                "{rows} rows × {columns} columns is more than the {limit} decoded values one session may hold"
            ),
            RecordingError::TooManyColumns { columns, limit } => {
                write!(f, "{columns} columns is more than the {limit} channels (and a time column) one session may have")
            }
            RecordingError::Corrupt(e) => write!(f, "corrupt parquet data: {e}"),
            RecordingError::Column { name, problem: ColumnProblem::Corrupt(e) } => {
                write!(f, "column {name}: corrupt parquet data: {e}")
            }
            RecordingError::Column { name, problem: ColumnProblem::NotNumbers(kind) } => {
                write!(f, "column {name}: has type {kind}, not a number")
            }
            RecordingError::ShortColumn { name, got, rows } => {
                write!(f, "corrupt parquet data: column {name} has {got} of {rows} rows")
            }
            RecordingError::NoTimeColumn { time, columns } => {
                write!(f, "no {time} column (columns: {})", columns.join(", "))
            }
        }
    }
}

impl std::error::Error for RecordingError {}

impl From<RecordingError> for String {
    fn from(e: RecordingError) -> String {
        e.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The words are what users, reports and threads have always been shown.
    #[test]
    fn each_kind_says_what_to_do() {
        let root = PathBuf::from("data");
        let cases = [
            (
                DataError::Refused { what: "session id", name: "../x".into(), why: "it contains a path separator" },
                "session id \"../x\" is refused: it contains a path separator",
            ),
            (
                DataError::Unknown { name: "uci_ha".into(), root: root.clone(), known: vec!["uci_har".into()] },
                "unknown dataset uci_ha; datasets in data: uci_har (did you mean uci_har?)",
            ),
            (
                DataError::Unknown { name: "x".into(), root: root.clone(), known: vec![] },
                "unknown dataset x; datasets in data: none",
            ),
            (DataError::NoDataset { root: root.clone() }, "no dataset (a folder with manifest.json) under data"),
            (
                DataError::SeveralDatasets { root: root.clone(), known: vec!["a".into(), "b".into()] },
                "data holds several datasets (a, b); choose one with --dataset",
            ),
            (
                DataError::SideFile { path: root.join("a/manifest.json"), problem: "is not valid JSON: EOF".into() },
                "data/a/manifest.json is not valid JSON: EOF",
            ),
            (
                DataError::NoSessionData { dataset: "a".into(), session: "s1".into(), path: root.join("a/sessions/s1/data.parquet") },
                "session \"s1\" has no data in dataset \"a\" (data/a/sessions/s1/data.parquet does not exist)",
            ),
            (
                RecordingError::ShortColumn { name: "acc_x".into(), got: 3, rows: 5 }.into(),
                "corrupt parquet data: column acc_x has 3 of 5 rows",
            ),
            (
                RecordingError::NoTimeColumn { time: crate::dataset::layout::TIME_COLUMN, columns: vec!["acc_x".into()] }.into(),
                "no timestamp_sec column (columns: acc_x)",
            ),
        ];
        for (error, words) in cases {
            assert_eq!(error.to_string(), words);
        }
        let e = DataError::from(RecordingError::Corrupt("bad page".into()));
        assert!(std::error::Error::source(&e).is_some());
    }
}
