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
    pub tools: Vec<String>,
    pub turns: usize,
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
            tools: t.tool_names().into_iter().map(str::to_string).collect(),
            turns: t.num_turns(),
        }
    }
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
}

impl Stats {
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
        }
        self.tool_calls += s.tools.len();
        for t in &s.tools {
            *self.tool_usage.entry(t.clone()).or_default() += 1;
        }
        *self.turns_histogram.entry(s.turns).or_default() += 1;
    }

    pub fn finish(&mut self) {
        self.correct_rate = (self.judged > 0).then(|| self.correct as f64 / self.judged as f64);
    }
}
