//! One report from the JSON reports of N shards (`--shard I/N`): what the single run over
//! every file would have printed, as far as the parts can say it.
//!
//! Three kinds are merged: findings reports (`validate`, `quality`, `verify` with
//! `--format json`: `files` + `summary`), `stats --format json`, and the `export.json` of
//! export shards (`exports.rs`). Counts add up; rates and
//! means are computed again from the summed counts; `max` is the largest. A 95th percentile
//! cannot be rebuilt from parts' percentiles, so a merged `tokens.p95` is `null` and the
//! merged report says so. Checks that look across files (duplicate ids, near-duplicates,
//! eval overlap) saw only their own shard: run them once over everything if they matter.
//! A shard's report names its part (`shard`); the parts of one run must all be there, once.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use serde::de::{self, DeserializeSeed, Deserializer as _, MapAccess, SeqAccess, Visitor};
use serde_json::{json, Map, Value};

mod exports;

pub use crate::findings::ReportKind as Kind;

/// One report as it is read: its `files` entries one at a time, then the rest of it.
enum Item {
    Entry(Value),
    /// The top-level keys other than `files`, and whether `files` was there (an array).
    End(Map<String, Value>, bool),
    Failed(String),
}

/// A report being read on a thread of its own, so that N of them are merged entry by entry
/// and the memory a merge takes does not grow with the reports (a quality report of a
/// million threads is gigabytes of JSON).
pub struct Input {
    pub name: String,
    /// The folder the report is in, when it was read from a file: an export's files are
    /// named relative to it.
    dir: Option<std::path::PathBuf>,
    rx: Receiver<Item>,
    /// The entry read ahead of the merge, and where the report stands.
    next: Option<Item>,
}

impl Input {
    pub fn from_reader(name: String, reader: impl Read + Send + 'static) -> Input {
        let (tx, rx) = sync_channel(256);
        std::thread::spawn(move || {
            let mut de = serde_json::Deserializer::from_reader(std::io::BufReader::with_capacity(1 << 20, reader));
            let sent = tx.clone();
            let item = match de.deserialize_map(Top { tx: &sent }).and_then(|rest| de.end().map(|()| rest)) {
                Ok((rest, files)) => Item::End(rest, files),
                Err(e) => Item::Failed(e.to_string()),
            };
            let _ = tx.send(item);
        });
        Input { name, rx, next: None, dir: None }
    }

    pub fn open(path: &Path) -> std::io::Result<Input> {
        let file = crate::open::open(path)?;
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf();
        Ok(Input { dir: Some(dir), ..Input::from_reader(crate::text::shown(path), file) })
    }

    fn pull(&mut self) -> Item {
        self.next.take().unwrap_or_else(|| self.rx.recv().unwrap_or_else(|_| Item::Failed("the reader stopped".into())))
    }

    fn peek(&mut self) -> &Item {
        if self.next.is_none() {
            self.next = Some(self.pull());
        }
        self.next.as_ref().expect("just read")
    }

    fn kind(&mut self) -> Result<Kind, String> {
        let name = self.name.clone();
        match self.peek() {
            Item::Entry(_) | Item::End(_, true) => Ok(Kind::Findings),
            // `files` was streamed as entries, so a findings report is told above, not here.
            Item::End(rest, false) => match Kind::of(rest) {
                Some(kind @ (Kind::Stats | Kind::Export)) => Ok(kind),
                _ => Err(format!(
                    "{name}: not a report threadkit merges (validate, quality, verify or stats, with --format json; or an export's export.json)"
                )),
            },
            Item::Failed(e) => Err(format!("{name}: not a JSON report ({e}); write each shard's report with --format json")),
        }
    }
}

struct Top<'a> {
    tx: &'a SyncSender<Item>,
}

impl<'de> Visitor<'de> for Top<'_> {
    type Value = (Map<String, Value>, bool);

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut rest, mut files) = (Map::new(), false);
        // An export's manifest starts with its version; its `files` (the few files it wrote)
        // are kept with the rest.
        let mut manifest = None;
        while let Some(key) = map.next_key::<String>()? {
            let manifest = *manifest.get_or_insert(key == "threadkit_version");
            if key == "files" && !manifest {
                // A findings report's entries, or a stats report's count of files.
                match map.next_value_seed(Entries { tx: self.tx })? {
                    None => files = true,
                    Some(count) => {
                        rest.insert(key, count);
                    }
                }
            } else {
                rest.insert(key, map.next_value()?);
            }
        }
        Ok((rest, files))
    }
}

struct Entries<'a> {
    tx: &'a SyncSender<Item>,
}

/// `files`: sent entry by entry when it is a list (`None`), else a number (stats' count).
impl<'de> DeserializeSeed<'de> for Entries<'_> {
    type Value = Option<Value>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Option<Value>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Entries<'_> {
    type Value = Option<Value>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a list of file entries or a count of files")
    }

    fn visit_u64<E>(self, n: u64) -> Result<Option<Value>, E> {
        Ok(Some(n.into()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Option<Value>, A::Error> {
        while let Some(entry) = seq.next_element::<Value>()? {
            if self.tx.send(Item::Entry(entry)).is_err() {
                return Err(de::Error::custom("the merge stopped"));
            }
        }
        Ok(None)
    }
}

/// Where an entry goes in one run's report: by path, compared component by component as the
/// walk orders files, then by record.
type Place = (std::path::PathBuf, u64);

fn place(entry: &Value) -> Place {
    (entry["path"].as_str().unwrap_or_default().into(), entry["record"].as_u64().unwrap_or(0))
}

/// What a merge wrote.
#[derive(Debug)]
pub struct Merged {
    pub kind: Kind,
    /// Errors in the merged findings (0 for stats).
    pub errors: u64,
    /// Files to write beside the merged report (a merged export's trainer config:
    /// `dataset_info.json`, `axolotl.yaml`); the merged report lists them with their SHA-256.
    pub beside: Vec<Beside>,
    /// A few lines for the terminal (standard error) beyond the report itself.
    pub note: Option<String>,
}

/// A file to write beside the merged report.
#[derive(Debug)]
pub struct Beside {
    pub name: String,
    pub bytes: Vec<u8>,
    /// The file the merge found there and judged safe to replace (`None`: nothing was there).
    /// Another one in its place by the time it is written is kept: it is not the one judged.
    pub replaces: Option<crate::walk::FileId>,
}

/// The folder of the merged report `to`: what its names are relative to, where the files
/// written beside it go.
pub fn folder_of(to: &Path) -> &Path {
    to.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

/// Merge reports of one kind into `out`. Findings reports are merged entry by entry (each
/// shard's report is in path order, as its run printed it); stats reports are small and are
/// merged whole.
/// `to` is the file the merged report goes to (`None`: it is printed): a merged export's
/// manifest names the parts' files relative to its folder.
pub fn merge(mut inputs: Vec<Input>, partial: bool, to: Option<&Path>, out: &mut dyn Write) -> Result<Merged, String> {
    let mut kinds = Vec::with_capacity(inputs.len());
    for input in &mut inputs {
        kinds.push(input.kind()?);
    }
    let kind = kinds[0];
    if let Some(k) = kinds.iter().position(|&k| k != kind) {
        return Err(format!("{} is {} but {} is {}: merge reports of one command", inputs[k].name, kinds[k].name(), inputs[0].name, kind.name()));
    }
    let io = |e: std::io::Error| format!("cannot write the merged report: {e}");
    // Through text::json_*, as every JSON output: values read back from reports hold the raw
    // characters their writers escaped, and a merged report may go to a terminal.
    let write_whole = |merged: &Value, out: &mut dyn Write| writeln!(out, "{}", crate::text::json_pretty(merged)).map_err(io);
    match kind {
        Kind::Stats => {
            let (mut reports, mut tags) = (Vec::with_capacity(inputs.len()), Vec::with_capacity(inputs.len()));
            for mut rest in whole(&mut inputs) {
                tags.push(rest.remove("shard"));
                reports.push(Value::Object(rest));
            }
            let held = check_parts(&inputs, &tags, partial)?;
            let mut merged = merge_stats(reports);
            if let (Some(tag), Some(o)) = (held, merged.as_object_mut()) {
                o.insert("shard".into(), tag);
            }
            write_whole(&merged, out)?;
            Ok(Merged { kind, errors: 0, beside: Vec::new(), note: None })
        }
        Kind::Export => {
            let manifests = whole(&mut inputs);
            let merged = exports::merge(&inputs, manifests, partial, to)?;
            write_whole(&merged.manifest, out)?;
            Ok(Merged { kind, errors: 0, beside: merged.beside, note: merged.note })
        }
        Kind::Findings => {
            let (summary, tags) = merge_findings(&mut inputs, out)?;
            let held = check_parts(&inputs, &tags, partial)?;
            let errors = summary["errors"].as_u64().unwrap_or(0);
            write!(out, "\n  ],\n  \"summary\": {}", crate::text::json_line(&summary)).map_err(io)?;
            if let Some(tag) = held {
                write!(out, ",\n  \"shard\": {tag}").map_err(io)?;
            }
            out.write_all(b"\n}\n").map_err(io)?;
            Ok(Merged { kind, errors, beside: Vec::new(), note: None })
        }
    }
}

/// Reports read whole by `kind()` (stats, export manifests): their top-level keys.
fn whole(inputs: &mut [Input]) -> Vec<Map<String, Value>> {
    inputs
        .iter_mut()
        .map(|input| match input.pull() {
            Item::End(rest, _) => rest,
            _ => unreachable!("kind() read the whole report"),
        })
        .collect()
}

/// Writes the `files` of the merged report (the opening included) and returns the summary and
/// each report's `shard`.
fn merge_findings(inputs: &mut [Input], out: &mut dyn Write) -> Result<(Value, Vec<Option<Value>>), String> {
    let io = |e: std::io::Error| format!("cannot write the merged report: {e}");
    let mut summary = Value::Object(Map::new());
    let mut tags: Vec<Option<Value>> = inputs.iter().map(|_| None).collect();
    // The next entry of every report, smallest place first.
    let mut heads: BinaryHeap<Reverse<(Place, usize)>> = BinaryHeap::new();
    let mut entries: Vec<Option<Value>> = inputs.iter().map(|_| None).collect();
    type Heads = BinaryHeap<Reverse<(Place, usize)>>;
    let mut advance = |i: usize, inputs: &mut [Input], heads: &mut Heads, entries: &mut [Option<Value>], summary: &mut Value| {
        match inputs[i].pull() {
            Item::Entry(v) => {
                heads.push(Reverse((place(&v), i)));
                entries[i] = Some(v);
                Ok(())
            }
            Item::End(mut rest, _) => {
                add(summary, rest.remove("summary").unwrap_or_default());
                tags[i] = rest.remove("shard");
                Ok(())
            }
            Item::Failed(e) => Err(format!("{}: not a JSON report ({e}); write each shard's report with --format json", inputs[i].name)),
        }
    };
    for i in 0..inputs.len() {
        advance(i, inputs, &mut heads, &mut entries, &mut summary)?;
    }
    out.write_all(b"{\n  \"files\": [").map_err(io)?;
    let mut last: Option<(Place, usize)> = None;
    let mut first = true;
    while let Some(Reverse((at, i))) = heads.pop() {
        if let Some((before, j)) = &last {
            // The same record twice: the reports overlap, and summing them would count it twice.
            if *before == at {
                return Err(format!(
                    "{} is in both {} and {}: the reports overlap (the same shard twice?); merge the reports of disjoint shards of one run",
                    at.0.display(),
                    inputs[*j].name,
                    inputs[i].name
                ));
            }
        }
        let entry = entries[i].take().expect("a head has its entry");
        out.write_all(if first { b"\n    " } else { b",\n    " }).map_err(io)?;
        out.write_all(crate::text::json_line(&entry).as_bytes()).map_err(io)?;
        first = false;
        last = Some((at, i));
        advance(i, inputs, &mut heads, &mut entries, &mut summary)?;
        // A report out of path order cannot be merged entry by entry.
        if let (Some(Reverse((next, k))), Some((prev, _))) = (heads.peek(), &last) {
            if *k == i && next < prev {
                return Err(format!(
                    "{}: its entries are not in path order ({} after {}), as threadkit writes them; merge the reports threadkit wrote, unedited",
                    inputs[i].name,
                    next.0.display(),
                    prev.0.display()
                ));
            }
        }
    }
    Ok((summary, tags))
}

/// Which parts of which run a report is: its `shard`, as a `--shard I/N` run writes it
/// (`index`), or as a `merge --partial` of some shards writes it (`indexes`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Part {
    command: String,
    indexes: Vec<u64>,
    count: u64,
    /// The threadkit that wrote it and the flags that change what a report says (`null` in
    /// reports written before tags had them).
    version: Value,
    settings: Value,
}

impl Part {
    fn of(tag: &Value) -> Option<Part> {
        let (command, count) = (tag["command"].as_str()?, tag["count"].as_u64()?);
        let indexes = match (&tag["index"], &tag["indexes"]) {
            (Value::Number(i), Value::Null) => vec![i.as_u64()?],
            (Value::Null, Value::Array(list)) => list.iter().map(Value::as_u64).collect::<Option<Vec<u64>>>()?,
            _ => return None,
        };
        let fits = !indexes.is_empty() && indexes.iter().all(|i| (1..=count).contains(i)) && indexes.is_sorted_by(|a, b| a < b);
        let (version, settings) = (tag["threadkit_version"].clone(), tag["settings"].clone());
        fits.then(|| Part { command: command.to_string(), indexes, count, version, settings })
    }

    fn tag(&self) -> Value {
        let mut tag = json!({"command": self.command, "indexes": self.indexes, "count": self.count});
        for (key, value) in [("threadkit_version", &self.version), ("settings", &self.settings)] {
            if !value.is_null() {
                tag[key] = value.clone();
            }
        }
        tag
    }

    /// How the run was made, as a person reads it: `threadkit 0.1.0 (abc) with --select TKQ01`.
    fn made(&self) -> String {
        let version = self.version.as_str().map_or("an older threadkit".to_string(), |v| format!("threadkit {v}"));
        let flags: Vec<&str> = self.settings.as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        format!("{version} with {}", if flags.is_empty() { "no flags recorded".to_string() } else { flags.join(" ") })
    }
}

/// Shards as a person reads them: `2/8, 5/8 and 3 more`.
fn listed(indexes: impl Iterator<Item = u64>, total: u64, count: u64) -> String {
    let shown: Vec<String> = indexes.take(5).map(|i| format!("{i}/{count}")).collect();
    let more = if total > 5 { format!(" and {} more", total - 5) } else { String::new() };
    format!("{}{more}", shown.join(", "))
}

impl std::fmt::Display for Part {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let s = if self.indexes.len() == 1 { "" } else { "s" };
        let shards = listed(self.indexes.iter().copied(), self.indexes.len() as u64, self.count);
        write!(f, "shard{s} {shards} of a `{}` run", self.command)
    }
}

/// Reports of shards merge only when every part of one run is there, once: without a lost
/// shard the merge would be a report that looks whole while its files were never checked.
/// With `partial` (a merge per node, to be merged again) parts may be missing, and the
/// merged report's `shard` lists those it holds. Reports of whole runs (no `shard`) merge as
/// they always did. Returns the merged report's `shard` (`None`: it is the whole run's).
fn check_parts(inputs: &[Input], tags: &[Option<Value>], partial: bool) -> Result<Option<Value>, String> {
    let mut parts = Vec::with_capacity(tags.len());
    for (input, tag) in inputs.iter().zip(tags) {
        parts.push(match tag {
            None => None,
            Some(t) => Some(Part::of(t).ok_or_else(|| {
                format!("{}: its \"shard\" is not one threadkit writes ({t}); merge the reports threadkit wrote, unedited", input.name)
            })?),
        });
    }
    let Some(first) = parts.iter().position(Option::is_some) else { return Ok(None) };
    let model = parts[first].as_ref().expect("found");
    let name = |k: usize| &inputs[k].name;
    if let Some(k) = parts.iter().position(Option::is_none) {
        return Err(format!(
            "{} is {model} but {} is the report of a whole run: merge the reports of the {} shards of one run",
            name(first),
            name(k),
            model.count
        ));
    }
    let mut at: std::collections::BTreeMap<u64, usize> = std::collections::BTreeMap::new();
    for (k, part) in parts.iter().enumerate() {
        let part = part.as_ref().expect("all are parts");
        if part.command != model.command || part.count != model.count {
            return Err(format!("{} is {part} but {} is {model}: merge the reports of the shards of one run", name(k), name(first)));
        }
        // The same shard of another run (re-run with other flags, or by another threadkit)
        // would merge into a report no single run gives.
        if (&part.version, &part.settings) != (&model.version, &model.settings) {
            return Err(format!(
                "{} was made by {} but {} by {}: merge the shards of one run (run the odd one again as the others were)",
                name(k),
                part.made(),
                name(first),
                model.made()
            ));
        }
        for &i in &part.indexes {
            if let Some(j) = at.insert(i, k) {
                return Err(format!(
                    "{} and {} both hold shard {i}/{} of the `{}` run: merge each shard's report once",
                    name(j),
                    name(k),
                    model.count,
                    model.command
                ));
            }
        }
    }
    let missing = model.count - at.len() as u64;
    if missing == 0 {
        return Ok(None);
    }
    if partial {
        let held = Part { indexes: at.into_keys().collect(), ..Part::clone(model) };
        return Ok(Some(held.tag()));
    }
    Err(format!(
        "shard {} of the `{}` run missing: merge the {} of all {} shards (a shard that holds no file still \
         writes its {}), or pass --partial to merge some of them now and the rest later",
        listed((1..=model.count).filter(|i| !at.contains_key(i)), missing, model.count),
        model.command,
        if model.command == "export" { "export.json" } else { "reports" },
        model.count,
        if model.command == "export" { "export.json" } else { "report" },
    ))
}

fn merge_stats(reports: Vec<Value>) -> Value {
    let n = reports.len();
    let mut total = Value::Object(Map::new());
    let mut max_tokens: Option<u64> = None;
    for report in reports {
        max_tokens = max_tokens.max(report["tokens"]["max"].as_u64());
        add(&mut total, report);
    }
    // Quantities that are not sums, computed again from the summed counts.
    let ratio = |num: &Value, den: &Value| match (num.as_f64(), den.as_f64()) {
        (Some(a), Some(b)) if b > 0.0 => json!(a / b),
        _ => Value::Null,
    };
    if let Some(o) = total.as_object_mut() {
        let get = |o: &Map<String, Value>, k: &str| o.get(k).cloned().unwrap_or_default();
        if o.contains_key("correct_rate") {
            let rate = ratio(&get(o, "correct"), &get(o, "judged"));
            o.insert("correct_rate".into(), rate);
        }
        if o.contains_key("tool_error_rate") {
            let rate = ratio(&get(o, "tool_errors"), &get(o, "tool_results"));
            o.insert("tool_error_rate".into(), rate);
        }
        for key in ["accuracy_by_label", "accuracy_by_confidence"] {
            if let Some(Value::Object(groups)) = o.get_mut(key) {
                // A group that is not counts (a report edited by hand) is left as `add` left it.
                for g in groups.values_mut().filter_map(Value::as_object_mut) {
                    let accuracy = ratio(&get(g, "correct"), &get(g, "judged"));
                    g.insert("accuracy".into(), accuracy);
                }
            }
        }
        if let Some(Value::Object(t)) = o.get_mut("tokens") {
            settle_tokens(t, max_tokens);
        }
        o.insert("merged".into(), json!({"reports": n, "not_merged": ["tokens.p95"]}));
    }
    total
}

/// Summed token statistics made right: the mean computed again from the sums, the largest
/// `max`, and no p95 (parts' percentiles do not make the whole's).
fn settle_tokens(t: &mut Map<String, Value>, max: Option<u64>) {
    let mean = match (t.get("total").and_then(Value::as_f64), t.get("examples").and_then(Value::as_f64)) {
        (Some(sum), Some(k)) if k > 0.0 => json!((sum / k * 10.0).round() / 10.0),
        _ => Value::Null,
    };
    t.insert("mean".into(), mean);
    t.insert("max".into(), json!(max));
    t.insert("p95".into(), Value::Null);
}

/// The token statistics of parts as one (`null` when no part has any).
fn merged_tokens(parts: impl Iterator<Item = Value>) -> Value {
    let (mut total, mut max) = (Value::Null, None);
    for part in parts {
        max = max.max(part["max"].as_u64());
        add(&mut total, part);
    }
    if let Value::Object(t) = &mut total {
        settle_tokens(t, max);
    }
    total
}

/// Add `from` into `into`: numbers summed, objects merged key by key, anything else kept from
/// the first report that had it.
fn add(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                match a.get_mut(&k) {
                    Some(slot) => add(slot, v),
                    None => {
                        a.insert(k, v);
                    }
                }
            }
            a.sort_keys();
        }
        (slot @ Value::Number(_), Value::Number(b)) => {
            let a = slot.as_number().expect("a number");
            *slot = match (a.as_u64(), b.as_u64()) {
                (Some(x), Some(y)) if x.checked_add(y).is_some() => json!(x + y),
                _ => json!(a.as_f64().unwrap_or(0.0) + b.as_f64().unwrap_or(0.0)),
            };
        }
        (slot @ Value::Null, b) => *slot = b,
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merged(reports: &[Value]) -> Result<Value, String> {
        let inputs = reports
            .iter()
            .enumerate()
            .map(|(i, r)| Input::from_reader(format!("r{i}.json"), std::io::Cursor::new(serde_json::to_vec(r).unwrap())))
            .collect();
        let mut out = Vec::new();
        merge(inputs, false, None, &mut out)?;
        Ok(serde_json::from_slice(&out).expect("the merged report is JSON"))
    }

    #[test]
    fn findings_add_up_and_files_come_in_path_order() {
        let a = json!({"files": [{"path": "t/b.json", "record": null, "valid": false}, {"path": "t/d/a.json", "record": null}],
                       "summary": {"files": 2, "errors": 2, "by_rule": {"TK001": 2}}});
        let b = json!({"files": [{"path": "t/a.json", "record": null, "valid": true}, {"path": "t/d-1.json", "record": null}],
                       "summary": {"files": 2, "errors": 0, "by_rule": {"TK008": 1}}});
        let m = merged(&[a.clone(), b]).unwrap();
        assert_eq!(m["summary"], json!({"by_rule": {"TK001": 2, "TK008": 1}, "errors": 2, "files": 4}));
        let paths: Vec<&str> = m["files"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
        // As the walk orders them: a folder's files where its name falls among its siblings.
        assert_eq!(paths, ["t/a.json", "t/b.json", "t/d/a.json", "t/d-1.json"]);
        let twice = merged(&[a.clone(), a]).unwrap_err();
        assert!(twice.contains("t/b.json is in both r0.json and r1.json"), "{twice}");
        let unordered = json!({"files": [{"path": "t/z.json"}, {"path": "t/a.json"}], "summary": {}});
        assert!(merged(&[unordered]).unwrap_err().contains("not in path order"));
        let stats = json!({"threads": 1, "by_version": {}});
        assert!(merged(&[json!({"files": [], "summary": {}}), stats]).unwrap_err().contains("merge reports of one command"));
        assert!(merged(&[json!({"other": 1})]).unwrap_err().contains("not a report threadkit merges"));
        let mut out = Vec::new();
        let broken = Input::from_reader("cut.json".into(), std::io::Cursor::new(b"{\"files\": [{\"path\": \"a\"}, {\"pa".to_vec()));
        assert!(merge(vec![broken], false, None, &mut out).unwrap_err().starts_with("cut.json: not a JSON report"));
    }

    #[test]
    fn stats_rates_are_computed_again_not_summed() {
        // `files` first, as `stats` writes it: a count, not a findings report's entries.
        let a = json!({"files": 2, "threads": 2, "by_version": {"openai_v1": 2}, "judged": 2, "correct": 2, "correct_rate": 1.0,
                       "tokens": {"examples": 2, "total": 100, "mean": 50.0, "p95": 60, "max": 60}});
        let b = json!({"files": 1, "threads": 2, "by_version": {"openai_v1": 1, "3.0": 1}, "judged": 2, "correct": 0, "correct_rate": 0.0,
                       "tokens": {"examples": 2, "total": 300, "mean": 150.0, "p95": 200, "max": 200}});
        let m = merged(&[a, b]).unwrap();
        assert_eq!(m["files"], 3);
        assert_eq!(m["correct_rate"], 0.5);
        assert_eq!(m["by_version"], json!({"3.0": 1, "openai_v1": 3}));
        assert_eq!(m["tokens"], json!({"examples": 4, "max": 200, "mean": 100.0, "p95": null, "total": 400}));
    }

    #[test]
    fn reports_edited_out_of_shape_merge_without_a_panic() {
        // A group of accuracy that is a number, and counts whose sum is past u64 (found by mutating real reports).
        let a = json!({"files": 1, "threads": 1, "by_version": {"openai_v1": u64::MAX}, "accuracy_by_label": {"walking": {"judged": 1, "correct": 1, "accuracy": 1.0},
                       "medium": 1180591620717411303424u128 as f64}});
        let b = json!({"files": 1, "threads": 2, "by_version": {"openai_v1": 2}, "accuracy_by_label": {"walking": {"judged": 1, "correct": 0, "accuracy": 0.0}}});
        let m = merged(&[a, b]).unwrap();
        assert_eq!(m["accuracy_by_label"]["walking"], json!({"judged": 2, "correct": 1, "accuracy": 0.5}));
        assert_eq!(m["by_version"]["openai_v1"].as_f64(), Some(u64::MAX as f64 + 2.0), "not wrapped around");
    }

    #[test]
    fn a_shard_tag_threadkit_did_not_write_is_refused() {
        let report = |tag: Value| json!({"files": [], "summary": {}, "shard": tag});
        let whole = |i: u64| json!({"command": "validate", "index": i, "count": 2});
        assert!(merged(&[report(whole(1)), report(whole(2))]).is_ok());
        for bad in [
            json!({"command": "validate", "index": 0, "count": 2}),
            json!({"command": "validate", "index": 3, "count": 2}),
            json!({"command": "validate", "indexes": [2, 1], "count": 2}),
            json!({"command": "validate", "indexes": [], "count": 2}),
            json!({"command": "validate", "index": 1, "indexes": [2], "count": 2}),
            json!({"index": 1, "count": 2}),
            json!("1/2"),
        ] {
            let e = merged(&[report(bad.clone()), report(whole(2))]).unwrap_err();
            assert!(e.contains("is not one threadkit writes"), "{bad}: {e}");
        }
        // Shards of one run were made by one threadkit with one set of flags.
        let made = |i: u64, version: &str, settings: &[&str]| {
            json!({"command": "quality", "index": i, "count": 2, "threadkit_version": version, "settings": settings})
        };
        assert!(merged(&[report(made(1, "0.1.0 (a)", &["--select TKQ01"])), report(made(2, "0.1.0 (a)", &["--select TKQ01"]))]).is_ok());
        let e = merged(&[report(made(1, "0.1.0 (a)", &[])), report(made(2, "0.1.0 (a)", &["--select TKQ01"]))]).unwrap_err();
        assert!(e.contains("r1.json was made by threadkit 0.1.0 (a) with --select TKQ01 but r0.json by threadkit 0.1.0 (a) with no flags"), "{e}");
        let e = merged(&[report(made(1, "0.1.0 (a)", &[])), report(made(2, "0.1.1 (b)", &[]))]).unwrap_err();
        assert!(e.contains("threadkit 0.1.1 (b)"), "{e}");
        let older = json!({"command": "quality", "index": 2, "count": 2});
        assert!(merged(&[report(made(1, "0.1.0 (a)", &[])), report(older)]).unwrap_err().contains("by an older threadkit with no flags recorded"));
    }
}
