//! The examples of one export while it runs: each line goes to an unnamed temporary file
//! as it arrives (in whatever order the workers finish), with a small index row in memory,
//! so only the index grows with the corpus: a row, its id and session name in chunks of
//! text, and three tables of row numbers (about 130 bytes per example in all, where owned
//! strings in sets made it 350). Duplicate ids and byte-identical examples are turned
//! away here, and skips and changes are counted.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

use hashbrown::HashTable;

use super::in_order::{self, InOrder};
use super::sink::PIPE_CHUNK;
use super::{Example, Outcome, Skip};

/// One exported example, in memory while its line waits in the spool.
pub struct Row {
    /// Where the id is in `Spool::texts`.
    id: Text,
    /// `line_hash` of the line, to find byte-identical ones.
    hash: u64,
    pub dataset: u32,
    /// Index into `Spool::sessions`.
    pub session: u32,
    pub label: u32,
    pub tokens: u32,
    /// Where the line is: its offset, and in the top byte its store (`STORE_SHIFT`).
    at: u64,
    len: u32,
}

/// A row's store is `at >> STORE_SHIFT`: 0 for the spool's file, k + 1 for lane k of
/// `InOrder` (offsets stay below 2^56: 64 PB).
const STORE_SHIFT: u32 = 56;

impl Row {
    fn store(&self) -> u64 {
        self.at >> STORE_SHIFT
    }

    fn offset(&self) -> u64 {
        self.at & ((1 << STORE_SHIFT) - 1)
    }
}

/// A session of the exported threads, identified within its dataset; its stratum is its
/// dataset and the label of its first thread (a session has one activity).
pub struct Session {
    pub dataset: u32,
    name: Text,
    pub label: u32,
}

/// A string in `Spool::texts`.
#[derive(Clone, Copy)]
struct Text {
    chunk: u32,
    at: u32,
    len: u32,
}

impl Text {
    fn of(self, texts: &Texts) -> &str {
        &texts.chunks[self.chunk as usize][self.at as usize..self.at as usize + self.len as usize]
    }
}

/// Strings in 1 MB chunks that never move: one growing buffer would, at each doubling, copy
/// itself while both copies are held (tens of MB at a million rows, near the end of a run).
#[derive(Default)]
struct Texts {
    chunks: Vec<String>,
}

const TEXT_CHUNK: usize = 1 << 20;

impl Texts {
    fn add(&mut self, s: &str) -> Text {
        match self.chunks.last() {
            Some(last) if last.capacity() - last.len() >= s.len() => {}
            _ => self.chunks.push(String::with_capacity(TEXT_CHUNK.max(s.len()))),
        }
        let chunk = self.chunks.len() - 1;
        let last = &mut self.chunks[chunk];
        let at = last.len();
        last.push_str(s);
        Text { chunk: chunk as u32, at: at as u32, len: s.len() as u32 }
    }
}

fn session_hash(dataset: u32, name: &str) -> u64 {
    use std::hash::BuildHasher;
    foldhash::fast::FixedState::with_seed(1).hash_one((dataset, name))
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

/// Skips said one by one on the terminal; past them, how many more.
pub const REPORTED: usize = 200;

/// A thread `export --quality deny` left out, and why.
#[derive(Debug, serde::Serialize)]
pub struct LeftOut {
    pub place: String,
    pub id: Option<String>,
    pub reason: Skip,
    pub detail: String,
}

/// What sees each example the spool keeps (`export --partitions` writes it at once).
pub type Tee<'a> = dyn FnMut(&Example) -> io::Result<()> + 'a;

pub struct Spool {
    file: File,
    writer: Option<BufWriter<File>>,
    /// Bytes in `file`.
    len: u64,
    /// Splits written as the lines come, while they come in id order.
    in_order: Option<InOrder>,
    pub rows: Vec<Row>,
    pub datasets: Interner,
    pub labels: Interner,
    /// Every session once, in the order their first threads arrived: the split is decided per
    /// session, and collecting them here (while the workers run) keeps that step short.
    pub sessions: Vec<Session>,
    /// `sessions` by dataset and name.
    session_index: HashTable<u32>,
    /// The rows' ids and the sessions' names, one after another.
    texts: Texts,
    pub skipped: BTreeMap<Skip, usize>,
    /// The export's scratch folder (for the left-out list).
    scratch: std::path::PathBuf,
    /// "place: reason: detail" for skips a user must hear about: the first `REPORTED` of
    /// them; `unreported` counts the rest.
    pub reported: Vec<String>,
    pub unreported: usize,
    /// Threads the quality rules left out, each with its reasons (for export.json).
    /// (One JSON object per line in a temporary file: a corpus the rules mostly turn away
    /// would otherwise hold a million of them, ~2 GB with the manifest built from them.)
    left_out: Option<BufWriter<File>>,
    /// How many threads `left_out` holds.
    pub left_out_count: usize,
    /// Quality rules that flagged exported threads (`--quality warn`), per rule code.
    pub quality_flags: BTreeMap<&'static str, usize>,
    pub changes: BTreeMap<String, usize>,
    pub input_threads: usize,
    /// Rows by id. Tables of row numbers, hashed by what the rows point to, hold 5 bytes a
    /// row where a set of strings held 70: the strings are not held twice.
    ids: HashTable<u32>,
    /// Rows by line hash; a hit is compared byte for byte.
    by_hash: HashTable<u32>,
}

impl Spool {
    /// A spool in `dir` (the export's scratch folder, on the output's filesystem); lines
    /// go to `in_order`'s files while they can.
    pub fn new(dir: &Path, in_order: Option<InOrder>) -> io::Result<Spool> {
        let scratch = dir.to_path_buf();
        let file = tempfile::tempfile_in(dir)?;
        let writer = Some(BufWriter::with_capacity(1 << 20, file.try_clone()?));
        Ok(Spool {
            file,
            writer,
            len: 0,
            in_order,
            rows: Vec::new(),
            datasets: Interner::default(),
            labels: Interner::default(),
            sessions: Vec::new(),
            session_index: HashTable::new(),
            texts: Texts::default(),
            skipped: BTreeMap::new(),
            scratch,
            reported: Vec::new(),
            unreported: 0,
            left_out: None,
            left_out_count: 0,
            quality_flags: BTreeMap::new(),
            changes: BTreeMap::new(),
            input_threads: 0,
            ids: HashTable::new(),
            by_hash: HashTable::new(),
        })
    }

    /// Take one thread's outcome. `tee` sees every example the spool keeps (after the
    /// duplicate checks), in the order they are added.
    pub fn add(&mut self, place: &str, outcome: Outcome, tee: Option<&mut Tee<'_>>) -> io::Result<()> {
        self.input_threads += 1;
        let (hash, id_hash) = match &outcome {
            Outcome::Exported(ex) => (line_hash(ex.line.as_slice()), line_hash(ex.id.as_bytes())),
            Outcome::Skipped { .. } => (0, 0),
        };
        let outcome = match outcome {
            Outcome::Exported(ex)
                if self.ids.find(id_hash, |&r| self.id(&self.rows[r as usize]) == ex.id).is_some() =>
            {
                Outcome::Skipped {
                    reason: Skip::DuplicateId,
                    id: Some(ex.id.clone()),
                    detail: "id exported already".into(),
                }
            }
            Outcome::Exported(ex) if self.holds(&ex.line, hash)? => Outcome::Skipped {
                reason: Skip::DuplicateExample,
                id: Some(ex.id.clone()),
                detail: "the same example as one exported already".into(),
            },
            o => o,
        };
        match outcome {
            Outcome::Exported(ex) => {
                if let Some(tee) = tee {
                    tee(&ex)?;
                }
                let row = u32::try_from(self.rows.len())
                    .map_err(|_| io::Error::other("more than 4 billion examples in one export"))?;
                let (rows, texts) = (&self.rows, &self.texts);
                self.by_hash.insert_unique(hash, row, |&r| rows[r as usize].hash);
                self.ids.insert_unique(id_hash, row, |&r| line_hash(rows[r as usize].id.of(texts).as_bytes()));
                let taken = match &mut self.in_order {
                    Some(o) => o.take(&ex.dataset, &ex.session, &ex.id, &ex.line)?,
                    None => None,
                };
                let at = match taken {
                    Some((lane, offset)) => (lane as u64 + 1) << STORE_SHIFT | offset,
                    None => {
                        // With its newline, so that a run of rows is a run of the data file, read whole.
                        let writer = self.writer.as_mut().expect("open until finish");
                        writer.write_all(&ex.line)?;
                        writer.write_all(b"\n")?;
                        let at = self.len;
                        self.len += ex.line.len() as u64 + 1;
                        at
                    }
                };
                for code in &ex.quality {
                    *self.quality_flags.entry(code).or_default() += 1;
                }
                for (what, n) in ex.changes {
                    *self.changes.entry(what).or_default() += n;
                }
                let dataset = self.datasets.intern(&ex.dataset);
                let label = self.labels.intern(&ex.label);
                let session = self.session(dataset, &ex.session, label);
                let id = self.text(&ex.id);
                self.rows.push(Row {
                    id,
                    hash,
                    dataset,
                    session,
                    label,
                    tokens: ex.tokens.min(u32::MAX as usize) as u32,
                    at,
                    len: ex.line.len() as u32,
                });
            }
            Outcome::Skipped { reason, detail, id } => {
                *self.skipped.entry(reason).or_default() += 1;
                if reason.is_reported() {
                    if self.reported.len() < REPORTED {
                        self.reported.push(format!("{place}: {}: {detail}", reason.describe()));
                    } else {
                        self.unreported += 1;
                    }
                }
                if matches!(reason, Skip::Quality | Skip::NearDuplicate) {
                    if self.left_out.is_none() {
                        let file = tempfile::tempfile_in(self.scratch.as_path())?;
                        self.left_out = Some(BufWriter::new(file));
                    }
                    let w = self.left_out.as_mut().expect("made above");
                    serde_json::to_writer(&mut *w, &LeftOut { place: place.to_string(), id, reason, detail })?;
                    w.write_all(b"\n")?;
                    self.left_out_count += 1;
                }
            }
        }
        Ok(())
    }

    /// The index of a session, added with `label` as its stratum when it is new.
    fn session(&mut self, dataset: u32, name: &str, label: u32) -> u32 {
        let same = |s: &Session| s.dataset == dataset && self.get(s.name) == name;
        if let Some(&i) = self.session_index.find(session_hash(dataset, name), |&i| same(&self.sessions[i as usize])) {
            return i;
        }
        let i = self.sessions.len() as u32;
        let name = self.text(name);
        let (sessions, texts) = (&self.sessions, &self.texts);
        self.session_index.insert_unique(session_hash(dataset, self.get(name)), i, |&k| {
            let s = &sessions[k as usize];
            session_hash(s.dataset, s.name.of(texts))
        });
        self.sessions.push(Session { dataset, name, label });
        i
    }

    fn text(&mut self, s: &str) -> Text {
        self.texts.add(s)
    }

    fn get(&self, t: Text) -> &str {
        t.of(&self.texts)
    }

    /// A row's id.
    pub fn id(&self, r: &Row) -> &str {
        self.get(r.id)
    }

    /// A session's name (within its dataset).
    pub fn session_name(&self, s: &Session) -> &str {
        self.get(s.name)
    }

    /// Whether a byte-identical line was spooled already.
    fn holds(&mut self, line: &[u8], hash: u64) -> io::Result<bool> {
        let rows = &self.rows;
        let candidates: Vec<u32> =
            self.by_hash.iter_hash(hash).copied().filter(|&r| rows[r as usize].hash == hash && rows[r as usize].len as usize == line.len()).collect();
        if candidates.is_empty() {
            return Ok(false);
        }
        self.writer.as_mut().expect("open until finish").flush()?;
        for i in candidates {
            if self.read_row(i as usize)? == line {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// A row's line, without its newline, while lines are added (a lane still being written
    /// is given up first, to read it).
    fn read_row(&mut self, i: usize) -> io::Result<Vec<u8>> {
        if let (k @ 1.., Some(o)) = (self.rows[i].store(), &mut self.in_order) {
            o.file(k as usize - 1)?;
        }
        self.line(i)
    }

    /// The file that holds a row's line, once its lane (if any) is closed.
    fn closed_store(&self, store: u64) -> io::Result<&File> {
        match (store, &self.in_order) {
            (0, _) => Ok(&self.file),
            (k, Some(o)) => o.closed(k as usize - 1).ok_or_else(|| io::Error::other("a lane still open after the run")),
            (_, None) => Err(io::Error::other("a row in a lane that does not exist")),
        }
    }

    /// No more lines: flush them for reading, and let go of the tables that only adding
    /// needs. How each split's file written as lines came turned out (none without `InOrder`).
    pub fn finish(&mut self) -> io::Result<Vec<in_order::Outcome>> {
        if let Some(mut w) = self.writer.take() {
            w.flush()?;
        }
        if let Some(w) = &mut self.left_out {
            w.flush()?;
        }
        self.ids = HashTable::new();
        self.by_hash = HashTable::new();
        self.session_index = HashTable::new();
        match &mut self.in_order {
            Some(o) => o.finish(),
            None => Ok(Vec::new()),
        }
    }

    /// Write the left-out threads as the items of a pretty JSON array whose items are indented
    /// by `indent` (without the brackets). After `finish`.
    pub fn write_left_out(&self, out: &mut dyn Write, indent: &str) -> io::Result<()> {
        use std::io::{BufRead, Seek};
        let Some(w) = &self.left_out else { return Ok(()) };
        let mut file = w.get_ref();
        file.rewind()?;
        for (k, line) in io::BufReader::new(file).lines().enumerate() {
            let item: serde_json::Value = serde_json::from_str(&line?)?;
            let pretty = serde_json::to_string_pretty(&item)?;
            out.write_all(if k == 0 { b"\n" } else { b",\n" })?;
            for (n, l) in pretty.lines().enumerate() {
                if n > 0 {
                    out.write_all(b"\n")?;
                }
                out.write_all(indent.as_bytes())?;
                out.write_all(l.as_bytes())?;
            }
        }
        Ok(())
    }

    /// Row `i`'s line, without its newline (after `finish`, or `read_row`).
    pub fn line(&self, i: usize) -> io::Result<Vec<u8>> {
        let r = &self.rows[i];
        let mut buf = vec![0u8; r.len as usize];
        self.closed_store(r.store())?.read_exact_at(&mut buf, r.offset())?;
        Ok(buf)
    }

    /// The records of `rows`, in that order, as `Outputs::write_files` takes them: each call
    /// replaces the buffer's contents with lines and their newlines, until it holds
    /// `PIPE_CHUNK` bytes (or the rows end), and says how many. Rows that lie one after the
    /// other in their file (most of them: threads arrive in path order, and ids usually follow
    /// file names) are one `pread` straight into the buffer.
    pub fn records<'a>(&'a self, rows: &'a [usize]) -> impl FnMut(&mut Vec<u8>) -> io::Result<usize> + Send + 'a {
        let mut next = 0;
        move |buf| {
            let start = next;
            // Overwritten in place: a recycled buffer is not zeroed again for every chunk.
            let mut len = 0;
            while len < PIPE_CHUNK {
                let Some(first) = rows.get(next).map(|&i| &self.rows[i]) else { break };
                let room = (PIPE_CHUNK - len) as u64;
                let mut end = next + 1;
                let mut bytes = u64::from(first.len) + 1;
                while let Some(r) = rows.get(end).map(|&i| &self.rows[i]) {
                    if r.at != first.at + bytes || bytes + u64::from(r.len) + 1 > room {
                        break;
                    }
                    bytes += u64::from(r.len) + 1;
                    end += 1;
                }
                let to = len + bytes as usize;
                if buf.len() < to {
                    buf.resize(to, 0);
                }
                self.closed_store(first.store())?.read_exact_at(&mut buf[len..to], first.offset())?;
                len = to;
                next = end;
            }
            buf.truncate(len);
            Ok(next - start)
        }
    }

    pub fn dataset(&self, r: &Row) -> &str {
        &self.datasets.names[r.dataset as usize]
    }

    pub fn label(&self, r: &Row) -> &str {
        &self.labels.names[r.label as usize]
    }
}

/// A fast non-cryptographic hash: hits are compared byte for byte anyway. XXH3, not the
/// foldhash of the maps: every exported line (~10 KB) is hashed here, on the thread that
/// takes the workers' lines, and XXH3's vector loop took 1.5 % of export's CPU where foldhash
/// took 2.3 %.
fn line_hash(line: &[u8]) -> u64 {
    twox_hash::XxHash3_64::oneshot(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::{Example, Outcome};

    /// Lines read back in any order, in runs or alone, are the lines that went in.
    #[test]
    fn records_come_back_in_the_order_asked() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::new(dir.path(), None).unwrap();
        let mut rng = fastrand::Rng::with_seed(3);
        let mut written = Vec::new();
        for i in 0..300 {
            // Some lines longer than a whole chunk.
            let len = if i % 97 == 5 { PIPE_CHUNK + 10 } else { rng.usize(1..20_000) };
            let mut line = format!("{i}:").into_bytes();
            line.extend((0..len).map(|k| b'a' + ((i * 7 + k) % 26) as u8));
            let example = Example {
                id: format!("t{i:03}"),
                dataset: "d".into(),
                session: format!("s{i}"),
                label: "walking".into(),
                tokens: 1,
                line: line.clone(),
                changes: Default::default(),
                quality: Vec::new(),
                features: None,
            };
            spool.add("x.json", Outcome::Exported(Box::new(example)), None).unwrap();
            written.push(line);
        }
        spool.finish().unwrap();
        let mut orders: Vec<Vec<usize>> = vec![(0..300).collect(), (0..300).rev().collect(), (0..300).step_by(3).collect()];
        let mut shuffled: Vec<usize> = (0..300).collect();
        rng.shuffle(&mut shuffled);
        orders.push(shuffled);
        for order in orders {
            let mut fill = spool.records(&order);
            let (mut all, mut counted) = (Vec::new(), 0);
            // One buffer for every call, as the pipeline recycles them: stale bytes must not leak.
            let mut buf = vec![b'#'; 3 * PIPE_CHUNK];
            loop {
                let n = fill(&mut buf).unwrap();
                if n == 0 {
                    assert!(buf.is_empty());
                    break;
                }
                assert_eq!(buf.iter().filter(|&&b| b == b'\n').count(), n, "whole records, counted");
                assert!(buf.len() < 2 * PIPE_CHUNK + 20, "a chunk holds at most one line past its size");
                counted += n;
                all.extend_from_slice(&buf);
            }
            assert_eq!(counted, order.len());
            let expected: Vec<u8> = order.iter().flat_map(|&i| written[i].iter().copied().chain([b'\n'])).collect();
            assert!(all == expected);
        }
        assert_eq!(spool.line(5).unwrap(), written[5], "one line, without its newline");
    }

    fn example(id: &str, dataset: &str, session: &str, line: &str) -> Outcome {
        Outcome::Exported(Box::new(Example {
            id: id.into(),
            dataset: dataset.into(),
            session: session.into(),
            label: "walking".into(),
            tokens: 1,
            line: line.as_bytes().to_vec(),
            changes: Default::default(),
            quality: Vec::new(),
            features: None,
        }))
    }

    /// Through the tables' growth: a repeated id, a repeated line and a known session are
    /// found whenever they come; a session name in two datasets is two sessions.
    #[test]
    fn duplicates_and_sessions_are_found_across_table_growth() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::new(dir.path(), None).unwrap();
        for i in 0..5000 {
            spool.add("x.json", example(&format!("t{i}"), "d", &format!("s{}", i / 3), &format!("line {i}")), None).unwrap();
        }
        assert_eq!((spool.rows.len(), spool.sessions.len()), (5000, 1667));
        spool.add("y.json", example("t17", "d", "s0", "a new line"), None).unwrap();
        spool.add("y.json", example("new-id", "d", "s0", "line 4321"), None).unwrap();
        spool.add("y.json", example("t-other", "other", "s5", "line other"), None).unwrap();
        assert_eq!(spool.skipped.get(&Skip::DuplicateId), Some(&1));
        assert_eq!(spool.skipped.get(&Skip::DuplicateExample), Some(&1));
        assert_eq!((spool.rows.len(), spool.sessions.len()), (5001, 1668), "s5 of another dataset is a new session");
        let last = spool.rows.last().unwrap();
        assert_eq!((spool.id(last), spool.session_name(&spool.sessions[last.session as usize])), ("t-other", "s5"));
        assert_ne!(last.session, spool.rows[15].session, "s5 of dataset d");
        assert_eq!(spool.rows[4000].session, 1333);
        spool.finish().unwrap();
        assert_eq!(spool.line(4321).unwrap(), b"line 4321");
    }

    /// Lines of splits that come in id order go to their files as they come; a split that
    /// stops being in order is read back whole, from its file and the spool, in any order.
    #[test]
    fn splits_in_id_order_are_written_as_they_come() {
        use crate::export::split::{by_hash, SplitSpec};
        let dir = tempfile::tempdir().unwrap();
        let mut outputs = crate::export::sink::Outputs::folder(&dir.path().join("out"), false).unwrap();
        let spec = SplitSpec::parse("a=0.5,b=0.5").unwrap();
        let names = vec!["a.jsonl".to_string(), "b.jsonl".to_string()];
        let in_order = InOrder::open(&mut outputs, spec.clone(), 7, names).unwrap();
        let mut spool = Spool::new(outputs.scratch_dir(), Some(in_order)).unwrap();
        let mut written = Vec::new();
        let mut b_seen = 0;
        for i in 0..400 {
            let session = format!("s{i}");
            let split = by_hash(&spec, 7, "d", &session);
            // Split b goes out of order after its 50th line (an id that sorts first).
            let id = if split == 1 && { b_seen += 1; b_seen } == 50 { "a-first".to_string() } else { format!("t{i:04}") };
            let line = format!("{{\"i\":{i},\"pad\":\"{}\"}}", "x".repeat(i * 37 % 5000));
            spool.add("x.json", example(&id, "d", &session, &line), None).unwrap();
            written.push((split, line));
        }
        // Twins of a line in split a's file: found by reading it back, which gives split a up
        // (the second read finds it given up already).
        spool.add("y.json", example("t9998", "d", "s0", &written[0].1), None).unwrap();
        spool.add("y.json", example("t9999", "d", "s0", &written[0].1), None).unwrap();
        assert_eq!(spool.skipped.get(&Skip::DuplicateExample), Some(&2));
        let outcomes = spool.finish().unwrap();
        assert!(outcomes.iter().all(|o| matches!(o, in_order::Outcome::Not(_))), "both splits were given up");
        for k in 0..2 {
            let rows: Vec<usize> = (0..400).filter(|&i| written[i].0 == k).rev().collect();
            let mut fill = spool.records(&rows);
            let mut all = Vec::new();
            let mut buf = Vec::new();
            while fill(&mut buf).unwrap() > 0 {
                all.extend_from_slice(&buf);
            }
            let expected: Vec<u8> = rows.iter().flat_map(|&i| written[i].1.bytes().chain([b'\n'])).collect();
            assert!(all == expected, "split {k}");
        }

        // In order throughout: each split's file is done when the lines end.
        let mut outputs = crate::export::sink::Outputs::folder(&dir.path().join("out2"), false).unwrap();
        let names = vec!["a.jsonl".to_string(), "b.jsonl".to_string()];
        let in_order = InOrder::open(&mut outputs, spec.clone(), 7, names).unwrap();
        let mut spool = Spool::new(outputs.scratch_dir(), Some(in_order)).unwrap();
        for (i, (_, line)) in written.iter().enumerate() {
            spool.add("x.json", example(&format!("t{i:04}"), "d", &format!("s{i}"), line), None).unwrap();
        }
        let outcomes = spool.finish().unwrap();
        for (k, outcome) in outcomes.iter().enumerate() {
            let in_order::Outcome::Whole(info) = outcome else { panic!("split {k} was in order") };
            let count = written.iter().filter(|(s, _)| *s == k).count();
            assert_eq!(info.records, Some(count));
        }
        assert_eq!(spool.line(3).unwrap(), written[3].1.as_bytes(), "read back from its file");
    }
}
