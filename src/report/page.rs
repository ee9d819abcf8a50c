//! `threadkit report`: one self-contained HTML page over a thread folder — the totals of
//! `stats`, charts, findings by rule, a thread browser that opens `show`'s transcript, and
//! (with a data root) a plot of what each tool call looked at with its replay status.
//!
//! Workers turn each record into a [`Thread`] (a table row and its transcript as JSON);
//! [`render`] puts the rows, transcripts and charts into `page.html.jinja`. The table and
//! the transcripts are rendered by the page's script from JSON blocks, a page of rows at a
//! time, so a report of ten thousand threads opens without building ten thousand rows.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::svg::{self, Bar};
use crate::data_root::DataRoot;
use crate::diagnostic::Diagnostic;
use crate::findings::RecordReport;
use crate::show::Transcript;
use crate::stats::Stats;
use crate::tools::artifacts::Payload;
use crate::tools::replay;
use crate::version::Version;

/// One row of the thread table.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Position in the table; the transcript is the JSON block `t{n}`.
    pub n: usize,
    pub place: String,
    pub id: String,
    pub dataset: String,
    pub session: String,
    pub label: String,
    pub answer: String,
    pub correct: Option<bool>,
    pub confidence: String,
    pub status: String,
    pub version: String,
    pub turns: usize,
    pub calls: usize,
    pub tokens: Option<usize>,
    pub errors: usize,
    pub warnings: usize,
    /// Replayed calls that did not reproduce (with a data root).
    pub replay_problems: usize,
}

/// One finding, as the "findings by rule" section lists it.
#[derive(Debug, Clone, Serialize)]
pub struct FindingRef {
    pub code: &'static str,
    pub severity: &'static str,
    pub message: String,
    /// `file[:line]` and, when located, `:line:column` inside it.
    pub place: String,
    /// The table row of the thread, when the record is a thread.
    pub thread: Option<usize>,
    /// The message the finding points into (`openai_v1` pointers).
    pub message_index: Option<usize>,
    /// Found by comparing threads (a duplicate id, a near-copy, eval overlap): not in the
    /// thread's transcript, so the viewer lists it on top.
    pub across: bool,
}

/// What a worker makes of one record.
// Nearly every record is a `Thread`, moved once from its worker to the page: boxing it to make
// the rare `Other` smaller would add an allocation per thread and save nothing.
#[allow(clippy::large_enum_variant)]
pub enum Item {
    Thread {
        row: Row,
        transcript: String,
        findings: Vec<FindingRef>,
        replay: BTreeMap<&'static str, usize>,
        /// A JSONL line (its place names the line).
        line_record: bool,
        /// What the corpus pass (near-duplicates, eval overlap) reads of a valid thread.
        features: Option<Box<crate::corpus::Features>>,
    },
    /// Not a thread (unreadable, not JSON, not a known version): findings only.
    Other { findings: Vec<FindingRef> },
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").to_string()
}

/// `line_record`: the record is a JSONL line, whose place already names its line (a
/// location would be inside the record, not the file).
fn finding_ref(d: &Diagnostic, place: &str, line_record: bool, thread: Option<usize>, openai: bool) -> FindingRef {
    let place = match d.location {
        Some(at) if !line_record => format!("{place}:{}:{}", at.line, at.column),
        _ => place.to_string(),
    };
    let message_index = openai.then(|| crate::show::message_of(&d.pointer)).flatten();
    FindingRef {
        code: d.code(),
        severity: d.severity.as_str(),
        message: first_line(&d.message),
        place,
        thread,
        message_index,
        across: false,
    }
}

/// Options the whole report shares.
pub struct Settings<'a> {
    pub data_root: Option<&'a DataRoot>,
    /// Tool results whole in transcripts (they are cut after a dozen lines).
    pub full: bool,
    /// The datasets' labels, for the quality rules every valid thread is also checked with.
    pub labels: crate::quality::LabelCache<'a>,
    /// Each valid thread's corpus features (for near-duplicates) include its 13-grams (eval overlap).
    pub grams: bool,
}

/// Turn one validated record (with its parsed document kept) into a table row and a
/// transcript; `n` is filled in when rows are numbered.
pub fn item(place: &str, mut rec: RecordReport, settings: &Settings<'_>) -> Item {
    let line_record = rec.record.is_some();
    let (Some(version), Some(doc)) = (rec.version, rec.doc.as_ref()) else {
        let findings = rec.diagnostics.iter().map(|d| finding_ref(d, place, line_record, None, false)).collect();
        return Item::Other { findings };
    };
    let migrated;
    let shown: &Value = if version == Version::OpenAiV1 {
        doc
    } else {
        match crate::convert::in_memory(doc, version, settings.data_root) {
            Ok(d) => {
                migrated = d;
                &migrated
            }
            // Shown as far as it can be: the legacy document read as it is.
            Err(_) => doc,
        }
    };
    // The quality rules' findings go beside validate's: in the thread viewer at their step, and
    // in the findings by rule (for a legacy thread, on the conversion that is shown).
    let mut features = None;
    if !rec.diagnostics.iter().any(|d| d.is_error()) {
        features = Some(Box::new(crate::corpus::Features::of(shown, settings.grams)));
        let mut found = settings.labels.check(shown);
        // Located only where the pointers are the file's (an openai_v1 thread: its text is kept with its document).
        if let (Version::OpenAiV1, Some(text)) = (version, &rec.text) {
            crate::findings::locate_all(&mut found, text);
        }
        rec.diagnostics.extend(found);
    }
    let transcript = Transcript::of(doc, Some(version), shown, &rec.diagnostics);
    let mut value = crate::show::shown_value(&transcript, settings.full);
    // The page shows the pre-rendered text; the raw values would double the size.
    for step in value["steps"].as_array_mut().into_iter().flatten() {
        if let Some(o) = step.as_object_mut() {
            o.remove("arguments");
            o.remove("content");
        }
    }
    let mut replay_counts = BTreeMap::new();
    let mut replay_problems = 0;
    if let Some(root) = settings.data_root {
        match replay::replay(shown, root) {
            Ok((ws, calls)) => {
                for call in calls {
                    *replay_counts.entry(call.outcome.word()).or_default() += 1;
                    let problem = matches!(call.outcome, replay::Outcome::NowFails { .. } | replay::Outcome::Differs { .. });
                    replay_problems += usize::from(problem);
                    let plot = call.looked_at.as_deref().and_then(|id| ws.get(Some(id)).ok()).and_then(|a| match &a.payload {
                        Payload::Timeseries(rec) => Some(svg::recording(rec)),
                        Payload::Tokens(_) => None,
                    });
                    let detail = match &call.outcome {
                        replay::Outcome::NowFails { error, .. } => error.clone(),
                        replay::Outcome::Differs { .. } => "the tool returns another result now (`threadkit verify` shows the diff)".into(),
                        _ => String::new(),
                    };
                    let step = value["steps"].as_array_mut().into_iter().flatten().find(|s| {
                        s["kind"] == "call" && s["message"] == call.message && s["id"].as_str() == Some(call.id.as_str())
                    });
                    if let Some(step) = step {
                        step["replay"] = serde_json::json!({"status": call.outcome.word(), "detail": detail, "artifact": call.looked_at});
                        if let Some(plot) = plot {
                            step["plot"] = plot.into();
                        }
                    }
                }
            }
            Err(d) => {
                *replay_counts.entry("not replayable").or_default() += 1;
                value["replay_error"] = first_line(&d.message).into();
            }
        }
    }
    let summary = rec.summary.unwrap_or_default();
    let errors = rec.diagnostics.iter().filter(|d| d.is_error()).count();
    let row = Row {
        n: 0,
        place: place.to_string(),
        id: rec.id.clone().unwrap_or_default(),
        dataset: summary.dataset.unwrap_or_default(),
        session: transcript.session.clone().unwrap_or_default(),
        label: summary.label.unwrap_or_default(),
        answer: summary.answer.unwrap_or_default(),
        correct: summary.is_correct,
        confidence: summary.confidence.unwrap_or_default(),
        status: summary.status.unwrap_or_default(),
        version: version.as_str().to_string(),
        turns: summary.turns,
        calls: summary.tools.len(),
        tokens: summary.tokens,
        errors,
        warnings: rec.diagnostics.len() - errors,
        replay_problems,
    };
    let openai = version == Version::OpenAiV1;
    let findings = rec.diagnostics.iter().map(|d| finding_ref(d, place, line_record, Some(0), openai)).collect();
    Item::Thread { row, transcript: script_json(&value), findings, replay: replay_counts, line_record, features }
}

/// JSON that can sit inside `<script type="application/json">`: `<` is written `\u003c`,
/// so no text of a thread can close the element (`</script>`) or open a comment.
pub fn script_json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("report data serializes").replace('<', "\\u003c")
}

/// Everything the page shows.
#[derive(Default)]
pub struct Report {
    pub stats: Stats,
    pub rows: Vec<Row>,
    pub transcripts: Transcripts,
    pub findings: Vec<FindingRef>,
    pub replay: BTreeMap<&'static str, usize>,
    pub inputs: Vec<String>,
    pub with_data_root: bool,
    /// An eval set was given (`--against`): eval overlap was looked for.
    pub with_against: bool,
}

impl Report {
    /// Add one record; `more` are findings about it found across files (duplicate ids).
    pub fn add(&mut self, item: Item, more: &[Diagnostic]) -> std::io::Result<()> {
        match item {
            Item::Thread { mut row, transcript, mut findings, replay, line_record, features: _ } => {
                let n = self.rows.len();
                row.n = n;
                row.errors += more.iter().filter(|d| d.is_error()).count();
                row.warnings += more.iter().filter(|d| !d.is_error()).count();
                findings.extend(
                    more.iter().map(|d| FindingRef { across: true, ..finding_ref(d, &row.place, line_record, Some(n), false) }),
                );
                self.rows.push(row);
                self.transcripts.push(&transcript)?;
                self.findings.extend(findings.into_iter().map(|f| FindingRef { thread: Some(n), ..f }));
                for (k, v) in replay {
                    *self.replay.entry(k).or_default() += v;
                }
            }
            Item::Other { findings } => self.findings.extend(findings),
        }
        Ok(())
    }
}

/// The transcripts (most of a report's bytes) wait in an unnamed temporary file, not in
/// memory, so a report's memory does not grow with the corpus; `render` copies them in.
#[derive(Default)]
pub struct Transcripts {
    file: Option<std::io::BufWriter<std::fs::File>>,
    /// (offset, length) of each transcript.
    at: Vec<(u64, u32)>,
    len: u64,
}

impl Transcripts {
    pub fn push(&mut self, json: &str) -> std::io::Result<()> {
        use std::io::Write;
        let file = match &mut self.file {
            Some(f) => f,
            None => self.file.insert(std::io::BufWriter::with_capacity(1 << 20, tempfile::tempfile()?)),
        };
        file.write_all(json.as_bytes())?;
        self.at.push((self.len, json.len() as u32));
        self.len += json.len() as u64;
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.at.len()
    }

    pub fn is_empty(&self) -> bool {
        self.at.is_empty()
    }

    pub fn get(&self, n: usize) -> std::io::Result<Vec<u8>> {
        use std::os::unix::fs::FileExt;
        let (offset, len) = self.at[n];
        let file = self.file.as_ref().expect("a transcript was pushed");
        let mut buf = vec![0u8; len as usize];
        file.get_ref().read_exact_at(&mut buf, offset)?;
        Ok(buf)
    }

    /// Written out: readable with `get`.
    pub fn finish(&mut self) -> std::io::Result<()> {
        use std::io::Write;
        self.file.as_mut().map_or(Ok(()), |f| f.flush())
    }
}

#[derive(Serialize)]
struct RuleGroup {
    code: &'static str,
    name: &'static str,
    severity: &'static str,
    summary: &'static str,
    count: usize,
}

/// A quality rule's line in the quality section.
#[derive(Serialize)]
struct QualityRule {
    code: &'static str,
    name: &'static str,
    severity: &'static str,
    summary: &'static str,
    /// Threads with at least one finding of the rule.
    threads: usize,
    findings: usize,
}

/// A thread in the "worst threads" list: most quality errors first, then warnings.
#[derive(Serialize)]
struct Worst {
    n: usize,
    place: String,
    id: String,
    errors: usize,
    warnings: usize,
    /// The rules it breaks, each with its count, in registry order.
    rules: Vec<(&'static str, &'static str, usize)>,
}

/// How many threads the worst-threads list shows.
const WORST: usize = 20;

/// The quality section: per rule, and the threads with the most quality findings.
fn quality_section(r: &Report) -> (Vec<QualityRule>, Vec<Worst>, usize) {
    let mut per_thread: BTreeMap<usize, BTreeMap<&'static str, (usize, bool)>> = BTreeMap::new();
    for f in &r.findings {
        let (Some(n), Some(rule)) = (f.thread, crate::rules::find(f.code)) else { continue };
        if !crate::rules::is_quality(rule) {
            continue;
        }
        let e = per_thread.entry(n).or_default().entry(rule.code).or_insert((0, f.severity == "error"));
        e.0 += 1;
    }
    let rules = crate::rules::ALL
        .iter()
        .filter(|rule| crate::rules::is_quality(rule))
        .map(|rule| {
            let (threads, findings) = per_thread
                .values()
                .filter_map(|codes| codes.get(rule.code))
                .fold((0, 0), |(t, f), (count, _)| (t + 1, f + count));
            QualityRule {
                code: rule.code,
                name: rule.name,
                severity: rule.severity.as_str(),
                summary: rule.summary,
                threads,
                findings,
            }
        })
        .collect();
    let order = |code: &str| crate::rules::ALL.iter().position(|r| r.code == code).unwrap_or(usize::MAX);
    let mut worst: Vec<Worst> = per_thread
        .iter()
        .map(|(&n, codes)| {
            let mut rules: Vec<_> = codes
                .iter()
                .map(|(&code, &(count, _))| (code, crate::rules::find(code).map_or("", |r| r.name), count))
                .collect();
            rules.sort_by_key(|(code, ..)| order(code));
            let errors = codes.values().filter(|(_, e)| *e).map(|(c, _)| c).sum();
            let warnings = codes.values().filter(|(_, e)| !*e).map(|(c, _)| c).sum();
            let row = &r.rows[n];
            Worst { n, place: row.place.clone(), id: row.id.clone(), errors, warnings, rules }
        })
        .collect();
    let flagged = worst.len();
    worst.sort_by(|a, b| b.errors.cmp(&a.errors).then(b.warnings.cmp(&a.warnings)).then(a.n.cmp(&b.n)));
    worst.truncate(WORST);
    (rules, worst, flagged)
}

fn pct(r: Option<f64>) -> String {
    r.map_or("—".into(), |r| format!("{:.1}%", r * 100.0))
}

/// Buckets of equal width over token counts (at most 20), labelled by their lower bound.
fn token_buckets(rows: &[Row]) -> Vec<(String, usize)> {
    let counts: Vec<usize> = rows.iter().filter_map(|r| r.tokens).collect();
    let (Some(&min), Some(&max)) = (counts.iter().min(), counts.iter().max()) else { return Vec::new() };
    let raw = ((max - min) / 20).max(1);
    let magnitude = 10usize.pow(raw.ilog10());
    let width = [1, 2, 5, 10].iter().map(|m| m * magnitude).find(|w| *w >= raw).unwrap_or(raw);
    let first = min / width;
    let mut buckets = vec![0usize; max / width - first + 1];
    for c in counts {
        buckets[c / width - first] += 1;
    }
    buckets.into_iter().enumerate().map(|(i, n)| (format!("{}", (first + i) * width), n)).collect()
}

fn count_bars(map: &BTreeMap<String, usize>) -> (Vec<Bar>, f64) {
    let mut rows: Vec<_> = map.iter().collect();
    rows.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let max = rows.first().map_or(0, |r| *r.1) as f64;
    (rows.into_iter().map(|(k, n)| Bar { label: k.clone(), value: *n as f64, text: n.to_string() }).collect(), max)
}

fn accuracy_bars(map: &BTreeMap<String, crate::stats::Accuracy>, order: Option<&[&str]>) -> Vec<Bar> {
    let mut keys: Vec<&String> = map.keys().collect();
    if let Some(order) = order {
        keys.sort_by_key(|k| order.iter().position(|o| o == k).unwrap_or(order.len()));
    }
    keys.into_iter()
        .map(|k| {
            let a = &map[k];
            Bar { label: k.clone(), value: a.accuracy.unwrap_or(0.0), text: format!("{} ({} of {})", pct(a.accuracy), a.correct, a.judged) }
        })
        .collect()
}

/// The charts, keyed by the name the template places them under.
fn charts(r: &Report) -> BTreeMap<&'static str, String> {
    let s = &r.stats;
    let mut c = BTreeMap::new();
    let (b, max) = count_bars(&s.by_dataset);
    c.insert("by_dataset", svg::bars("by-dataset", "Threads by dataset", &b, max));
    let (b, max) = count_bars(&s.by_label);
    c.insert("by_label", svg::bars("by-label", "Threads by ground-truth label", &b, max));
    let hist = |h: &BTreeMap<usize, usize>| -> Vec<(String, usize)> {
        let top = h.keys().max().copied().unwrap_or(0);
        (h.keys().min().copied().unwrap_or(0)..=top).map(|k| (k.to_string(), h.get(&k).copied().unwrap_or(0))).collect()
    };
    c.insert("turns", svg::columns("turns", "Turns per thread", &hist(&s.turns_histogram)));
    c.insert("calls", svg::columns("calls", "Tool calls per thread", &hist(&s.tool_calls_histogram)));
    let (b, max) = count_bars(&s.tool_usage);
    c.insert("tool_usage", svg::bars("tool-usage", "Tool calls by tool", &b, max));
    let errors: Vec<Bar> = s
        .tool_errors_by_tool
        .iter()
        .map(|(tool, t)| {
            let rate = (t.results > 0).then(|| t.errors as f64 / t.results as f64);
            Bar { label: tool.clone(), value: rate.unwrap_or(0.0), text: format!("{} ({} of {})", pct(rate), t.errors, t.results) }
        })
        .collect();
    c.insert("tool_errors", svg::bars("tool-errors", "Tool error rate by tool", &errors, 1.0));
    c.insert("tokens", svg::columns("tokens", "Tokens per thread (o200k_base)", &token_buckets(&r.rows)));
    let order = ["low", "medium", "high"];
    c.insert(
        "calibration",
        svg::bars("calibration", "Accuracy by stated confidence", &accuracy_bars(&s.accuracy_by_confidence, Some(&order)), 1.0),
    );
    c.insert("accuracy", svg::bars("accuracy", "Accuracy by ground-truth label", &accuracy_bars(&s.accuracy_by_label, None), 1.0));
    c
}

/// The confusion matrix as table cells: rows are ground truths, columns final answers.
#[derive(Serialize)]
struct Confusion {
    answers: Vec<String>,
    rows: Vec<(String, Vec<(usize, String)>)>,
}

fn confusion(s: &Stats) -> Confusion {
    // At most 30 ground truths and 30 answers, the rest folded: 2,000 distinct answers made a
    // 196 MB page of empty cells.
    let capped = s.confusion_capped(30);
    let answers: std::collections::BTreeSet<String> = capped.values().flat_map(|r| r.keys().cloned()).collect();
    let answers: Vec<String> = answers.into_iter().collect();
    let rows = capped
        .iter()
        .map(|(truth, row)| {
            let total: usize = row.values().sum::<usize>().max(1);
            let cells = answers
                .iter()
                .map(|a| {
                    let n = row.get(a).copied().unwrap_or(0);
                    let hue = if crate::thread::same_label(a, truth) { "22,163,74" } else { "220,38,38" };
                    let alpha = if n == 0 { 0.0 } else { 0.12 + 0.78 * n as f64 / total as f64 };
                    (n, format!("background: rgba({hue},{alpha:.2})"))
                })
                .collect();
            (truth.clone(), cells)
        })
        .collect();
    Confusion { answers, rows }
}

fn ser<T: Serialize>(v: &T) -> minijinja::Value {
    minijinja::Value::from(minijinja::value::Serde(v))
}

/// Where the transcripts go: they are written straight to the file, not through the
/// template, so a report of many threads is not held twice in memory.
const TRANSCRIPTS_HERE: &str = "<!-- threadkit: transcripts -->";

/// The page, written to `out`. Template errors are `InvalidData` (a bug, not the user's).
pub fn render(r: &Report, out: &mut dyn std::io::Write) -> std::io::Result<u64> {
    let html = render_frame(r).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    let (head, tail) = html.split_once(TRANSCRIPTS_HERE).expect("the template places the transcripts");
    let mut written = head.len() + tail.len();
    out.write_all(head.as_bytes())?;
    for n in 0..r.transcripts.len() {
        let t = r.transcripts.get(n)?;
        let tag = format!("<script type=\"application/json\" id=\"t{n}\">");
        out.write_all(tag.as_bytes())?;
        out.write_all(&t)?;
        out.write_all(b"</script>\n")?;
        written += tag.len() + t.len() + 10;
    }
    out.write_all(tail.as_bytes())?;
    Ok(written as u64)
}

fn render_frame(r: &Report) -> Result<String, String> {
    let mut env = minijinja::Environment::new();
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
    env.add_template("page.html", include_str!("page.html.jinja")).map_err(|e| e.to_string())?;
    let mut groups: BTreeMap<&'static str, RuleGroup> = BTreeMap::new();
    for f in &r.findings {
        let g = groups.entry(f.code).or_insert_with(|| {
            let rule = crate::rules::find(f.code);
            RuleGroup {
                code: f.code,
                name: rule.map_or("", |r| r.name),
                severity: f.severity,
                summary: rule.map_or("", |r| r.summary),
                count: 0,
            }
        });
        g.count += 1;
    }
    let totals = &r.stats;
    let valid = r.rows.iter().filter(|row| row.errors == 0).count();
    let (quality_rules, worst, flagged) = quality_section(r);
    let template = env.get_template("page.html").map_err(|e| e.to_string())?;
    let ctx = minijinja::context! {
        s => ser(totals),
        valid => valid,
        invalid => r.rows.len() - valid,
        inputs => r.inputs.clone(),
        charts => charts(r),
        confusion => ser(&confusion(totals)),
        groups => ser(&groups.into_values().collect::<Vec<_>>()),
        findings_count => r.findings.len(),
        quality_rules => ser(&quality_rules),
        worst => ser(&worst),
        quality_flagged => flagged,
        with_against => r.with_against,
        replay => r.replay.clone(),
        with_data_root => r.with_data_root,
        version => env!("CARGO_PKG_VERSION"),
        rows_json => script_json(&r.rows),
        stats_json => script_json(totals),
        findings_json => script_json(&r.findings),
        transcripts_here => TRANSCRIPTS_HERE,
        css => include_str!("page.css"),
        js => include_str!("page.js"),
    };
    template.render(ctx).map_err(|e| e.to_string())
}
