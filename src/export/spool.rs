//! The examples of one export while it runs: each line goes to an unnamed temporary file
//! as it arrives (in whatever order the workers finish), with a small index row in memory,
//! so only the index (about 100 bytes per example) grows with the corpus. Duplicate ids and
//! byte-identical examples are turned away here, and skips and changes are counted.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::{Outcome, Skip};

/// One exported example, in memory while its line waits in the spool.
pub struct Row {
    pub id: String,
    pub dataset: u32,
    pub session: String,
    pub label: u32,
    pub tokens: u32,
    offset: u64,
    len: u32,
}

/// Small strings that repeat across thousands of rows (datasets, labels), stored once.
#[derive(Default)]
pub struct Interner {
    pub names: Vec<String>,
    index: HashMap<String, u32>,
}

impl Interner {
    fn intern(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        self.names.push(s.to_string());
        self.index.insert(s.to_string(), self.names.len() as u32 - 1);
        self.names.len() as u32 - 1
    }
}

pub struct Spool {
    file: File,
    writer: Option<BufWriter<File>>,
    len: u64,
    pub rows: Vec<Row>,
    pub datasets: Interner,
    pub labels: Interner,
    pub skipped: BTreeMap<Skip, usize>,
    /// "place: reason: detail" for skips a user must hear about.
    pub reported: Vec<String>,
    pub changes: BTreeMap<String, usize>,
    pub input_threads: usize,
    ids: HashSet<String>,
    /// Rows by line hash; a hit is compared byte for byte.
    by_hash: HashMap<u64, Vec<usize>>,
}

impl Spool {
    /// A spool in `dir` (the export's scratch folder, on the output's filesystem).
    pub fn new(dir: &Path) -> io::Result<Spool> {
        let file = tempfile::tempfile_in(dir)?;
        let writer = Some(BufWriter::with_capacity(1 << 20, file.try_clone()?));
        Ok(Spool {
            file,
            writer,
            len: 0,
            rows: Vec::new(),
            datasets: Interner::default(),
            labels: Interner::default(),
            skipped: BTreeMap::new(),
            reported: Vec::new(),
            changes: BTreeMap::new(),
            input_threads: 0,
            ids: HashSet::new(),
            by_hash: HashMap::new(),
        })
    }

    /// Take one thread's outcome.
    pub fn add(&mut self, place: &str, outcome: Outcome) -> io::Result<()> {
        self.input_threads += 1;
        let outcome = match outcome {
            Outcome::Exported(ex) if !self.ids.insert(ex.id.clone()) => Outcome::Skipped {
                reason: Skip::DuplicateId,
                id: Some(ex.id.clone()),
                detail: "id exported already".into(),
            },
            Outcome::Exported(ex) if self.holds(&ex.line)? => Outcome::Skipped {
                reason: Skip::DuplicateExample,
                id: Some(ex.id.clone()),
                detail: "the same example as one exported already".into(),
            },
            o => o,
        };
        match outcome {
            Outcome::Exported(ex) => {
                self.by_hash.entry(line_hash(&ex.line)).or_default().push(self.rows.len());
                self.writer.as_mut().expect("open until finish").write_all(&ex.line)?;
                for (what, n) in ex.changes {
                    *self.changes.entry(what).or_default() += n;
                }
                self.rows.push(Row {
                    id: ex.id,
                    dataset: self.datasets.intern(&ex.dataset),
                    session: ex.session,
                    label: self.labels.intern(&ex.label),
                    tokens: ex.tokens.min(u32::MAX as usize) as u32,
                    offset: self.len,
                    len: ex.line.len() as u32,
                });
                self.len += ex.line.len() as u64;
            }
            Outcome::Skipped { reason, detail, .. } => {
                *self.skipped.entry(reason).or_default() += 1;
                if reason.is_reported() {
                    self.reported.push(format!("{place}: {}: {detail}", reason.describe()));
                }
            }
        }
        Ok(())
    }

    /// Whether a byte-identical line was spooled already.
    fn holds(&mut self, line: &[u8]) -> io::Result<bool> {
        let Some(candidates) = self.by_hash.get(&line_hash(line)) else { return Ok(false) };
        self.writer.as_mut().expect("open until finish").flush()?;
        for &i in candidates {
            let r = &self.rows[i];
            if r.len as usize == line.len() && self.file.read_all_at(r)? == line {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// No more lines: flush them for reading.
    pub fn finish(&mut self) -> io::Result<()> {
        if let Some(mut w) = self.writer.take() {
            w.flush()?;
        }
        Ok(())
    }

    pub fn line(&self, i: usize) -> io::Result<Vec<u8>> {
        self.file.read_all_at(&self.rows[i])
    }

    pub fn dataset(&self, r: &Row) -> &str {
        &self.datasets.names[r.dataset as usize]
    }

    pub fn label(&self, r: &Row) -> &str {
        &self.labels.names[r.label as usize]
    }
}

trait ReadRow {
    fn read_all_at(&self, row: &Row) -> io::Result<Vec<u8>>;
}

impl ReadRow for File {
    fn read_all_at(&self, row: &Row) -> io::Result<Vec<u8>> {
        let mut buf = vec![0u8; row.len as usize];
        self.read_exact_at(&mut buf, row.offset)?;
        Ok(buf)
    }
}

/// A fast non-cryptographic hash (foldhash): hits are compared byte for byte anyway.
fn line_hash(line: &[u8]) -> u64 {
    use std::hash::BuildHasher;
    foldhash::fast::FixedState::with_seed(0).hash_one(line)
}
