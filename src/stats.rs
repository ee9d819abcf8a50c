//! Corpus statistics: what `threadkit stats` counts, aggregated from per-thread summaries.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::thread::ThreadView;
use crate::version::Version;

/// The little that statistics need from one thread; workers build it so the corpus is never held.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub version: Option<&'static str>,
    pub status: Option<String>,
    pub dataset: Option<String>,
    pub label: Option<String>,
    pub is_correct: Option<bool>,
    /// The confidence the model gave with its final answer (`low`, `medium`, `high`).
    pub confidence: Option<String>,
    pub tools: Vec<String>,
    pub turns: usize,
    /// The final answer's label, normalized like ground truths are.
    pub answer: Option<String>,
    /// (tool, the result was an error) per tool result.
    pub results: Vec<(String, bool)>,
    /// Tokens of the conversation as `export` counts them (o200k_base; `openai_v1` threads).
    pub tokens: Option<usize>,
}

impl Summary {
    pub fn of(doc: &Value, version: Option<Version>) -> Summary {
        let Some(version) = version else {
            return Summary::default();
        };
        let t = ThreadView::new(doc, version);
        Summary {
            version: Some(version.as_str()),
            status: t.status_str().map(str::to_string),
            dataset: t.dataset().map(str::to_string),
            label: t.ground_truth().map(str::to_string),
            is_correct: t.is_correct(),
            confidence: t.confidence().map(str::to_string),
            tools: t.tool_names().into_iter().map(str::to_string).collect(),
            turns: t.num_turns(),
            answer: t.final_answer().map(str::to_string),
            results: t.tool_results().into_iter().map(|(n, e)| (n.to_string(), e)).collect(),
            tokens: (version == Version::OpenAiV1).then(|| tokens(doc)).flatten(),
        }
    }
}

fn tokens(doc: &Value) -> Option<usize> {
    use crate::{conversation, tokens};
    static COUNTER: std::sync::OnceLock<tokens::Counter> = std::sync::OnceLock::new();
    let counter = COUNTER.get_or_init(|| tokens::Counter::new(tokens::Tokenizer::O200kBase));
    let mut changes = conversation::Changes::new();
    let c = conversation::Conversation::of_thread(doc, &mut changes).ok()?;
    let tools = conversation::tool_definitions(&c, &mut changes);
    Some(counter.conversation(&c, &tools.json))
}

#[derive(Debug, Default, Serialize)]
pub struct Stats {
    pub files: usize,
    pub threads: usize,
    pub unreadable: usize,
    pub by_version: BTreeMap<String, usize>,
    pub by_status: BTreeMap<String, usize>,
    pub by_dataset: BTreeMap<String, usize>,
    pub by_label: BTreeMap<String, usize>,
    /// Threads whose `is_correct` is set, and how many of those are correct.
    pub judged: usize,
    pub correct: usize,
    pub correct_rate: Option<f64>,
    pub tool_calls: usize,
    pub tool_usage: BTreeMap<String, usize>,
    /// Number of threads with each turn count.
    pub turns_histogram: BTreeMap<usize, usize>,
    /// Number of threads with each count of tool calls.
    pub tool_calls_histogram: BTreeMap<usize, usize>,
    /// Per ground-truth label: threads judged, correct, and the accuracy.
    pub accuracy_by_label: BTreeMap<String, Accuracy>,
    /// Calibration: per stated confidence, threads judged, correct, and the accuracy.
    pub accuracy_by_confidence: BTreeMap<String, Accuracy>,
    /// Ground truth → final answer → threads (labels compared as `same_label` compares them).
    pub confusion: BTreeMap<String, BTreeMap<String, usize>>,
    pub tool_results: usize,
    pub tool_errors: usize,
    pub tool_error_rate: Option<f64>,
    /// Per tool: results and how many were errors.
    pub tool_errors_by_tool: BTreeMap<String, ToolErrors>,
    /// Tokens per `openai_v1` thread (o200k_base, as `export` counts them).
    pub tokens: crate::tokens::TokenStats,
    #[serde(skip)]
    token_counts: Vec<usize>,
}

#[derive(Debug, Default, Clone, Serialize, PartialEq)]
pub struct Accuracy {
    pub judged: usize,
    pub correct: usize,
    pub accuracy: Option<f64>,
}

#[derive(Debug, Default, Clone, Serialize, PartialEq)]
pub struct ToolErrors {
    pub results: usize,
    pub errors: usize,
}

impl Stats {
    /// The confusion matrix as people can read it: the `max` most frequent ground truths and
    /// answers, the rest folded into one "… N others" row and column (a corpus whose answers are
    /// all different would otherwise draw a matrix of N² cells).
    pub fn confusion_capped(&self, max: usize) -> BTreeMap<String, BTreeMap<String, usize>> {
        fn top(counts: BTreeMap<&String, usize>, max: usize) -> (std::collections::HashSet<String>, usize) {
            let mut v: Vec<(&String, usize)> = counts.into_iter().collect();
            v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
            let kept = v.iter().take(max).map(|(k, _)| (*k).clone()).collect();
            (kept, v.len().saturating_sub(max))
        }
        let mut truths = BTreeMap::new();
        let mut answers = BTreeMap::new();
        for (t, row) in &self.confusion {
            for (a, n) in row {
                *truths.entry(t).or_insert(0) += n;
                *answers.entry(a).or_insert(0) += n;
            }
        }
        let (rows, rows_left) = top(truths, max);
        let (cols, cols_left) = top(answers, max);
        let other = |n: usize| format!("\u{2026} {n} others");
        let mut out: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
        for (t, row) in &self.confusion {
            let t = if rows.contains(t) { t.clone() } else { other(rows_left) };
            for (a, n) in row {
                let a = if cols.contains(a) { a.clone() } else { other(cols_left) };
                *out.entry(t.clone()).or_default().entry(a).or_default() += n;
            }
        }
        out
    }

    pub fn add(&mut self, s: &Summary) {
        let Some(version) = s.version else {
            self.unreadable += 1;
            return;
        };
        self.threads += 1;
        *self.by_version.entry(version.to_string()).or_default() += 1;
        let unknown = || "(none)".to_string();
        *self.by_status.entry(s.status.clone().unwrap_or_else(unknown)).or_default() += 1;
        *self.by_dataset.entry(s.dataset.clone().unwrap_or_else(unknown)).or_default() += 1;
        *self.by_label.entry(s.label.clone().unwrap_or_else(unknown)).or_default() += 1;
        if let Some(c) = s.is_correct {
            self.judged += 1;
            self.correct += usize::from(c);
            let a = self.accuracy_by_label.entry(s.label.clone().unwrap_or_else(unknown)).or_default();
            a.judged += 1;
            a.correct += usize::from(c);
            let a = self.accuracy_by_confidence.entry(s.confidence.clone().unwrap_or_else(unknown)).or_default();
            a.judged += 1;
            a.correct += usize::from(c);
        }
        if let (Some(truth), Some(answer)) = (&s.label, &s.answer) {
            let answer = crate::thread::normalize_label(answer);
            *self.confusion.entry(crate::thread::normalize_label(truth)).or_default().entry(answer).or_default() += 1;
        }
        if let Some(n) = s.tokens {
            self.token_counts.push(n);
        }
        for (tool, error) in &s.results {
            self.tool_results += 1;
            self.tool_errors += usize::from(*error);
            let t = self.tool_errors_by_tool.entry(tool.clone()).or_default();
            t.results += 1;
            t.errors += usize::from(*error);
        }
        self.tool_calls += s.tools.len();
        for t in &s.tools {
            *self.tool_usage.entry(t.clone()).or_default() += 1;
        }
        *self.turns_histogram.entry(s.turns).or_default() += 1;
        *self.tool_calls_histogram.entry(s.tools.len()).or_default() += 1;
    }

    pub fn finish(&mut self) {
        let rate = |a: usize, b: usize| (b > 0).then(|| a as f64 / b as f64);
        self.correct_rate = rate(self.correct, self.judged);
        self.tool_error_rate = rate(self.tool_errors, self.tool_results);
        self.tokens = crate::tokens::TokenStats::of(std::mem::take(&mut self.token_counts));
        for a in self.accuracy_by_label.values_mut().chain(self.accuracy_by_confidence.values_mut()) {
            a.accuracy = rate(a.correct, a.judged);
        }
    }
}
