use std::fmt::Write as _;
use std::io::Write;

use crate::cli::StatsArgs;
use crate::report::Format;
use crate::stats::Stats;
use crate::validate::{validate_entry, Settings};

use super::{for_each_batch, walk_args, ExitStatus};
use super::CommandError;

pub fn run(args: StatsArgs, out: &mut dyn Write, err: &mut dyn Write) -> Result<ExitStatus, CommandError> {
    let (walked, status) = walk_args(&args.walk, false, err)?;
    let settings = Settings { max_file_size: args.walk.max_file_size, summarize: true, ..Settings::default() };
    let mut stats = Stats::default();
    // The first file that is JSON but no thread, and whether every file is such (not broken threads).
    let (mut first_other, mut all_other) = (None, true);
    for_each_batch(
        walked.entries(),
        args.walk.jobs,
        |e| validate_entry(e, &settings),
        |_, reports| {
            for report in reports {
                stats.files += 1;
                for r in &report.records {
                    if r.version.is_none() {
                        let other = r.diagnostics.first().filter(|d| d.code() == crate::rules::NOT_A_THREAD.code);
                        all_other &= other.is_some();
                        if let (None, Some(d)) = (&first_other, other) {
                            first_other = Some((crate::findings::place(crate::text::shown(&report.path), r.record), d.message.clone()));
                        }
                    }
                    stats.add(&r.summary.clone().unwrap_or_default());
                }
            }
            Ok(())
        },
    )?;
    stats.finish();
    // Counts of nothing are most likely a wrong path (one shard of N may hold nothing, though).
    if stats.files == 0 && status == ExitStatus::Success {
        super::no_thread_files(&args.walk, false, err)?;
    }
    // A shard always writes its report: the merge needs every part, even one of stray files.
    if stats.threads == 0 && stats.files > 0 && all_other && args.walk.shard.is_none() {
        return Err(super::no_thread_among(stats.files, first_other, "nothing was counted"));
    }
    match args.format {
        Format::Json => {
            let mut json = serde_json::to_value(&stats).expect("stats serialize");
            if let (Some(shard), Some(o)) = (args.walk.shard, json.as_object_mut()) {
                o.insert("shard".into(), crate::report::printer::shard_tag("stats", &args.walk.settings(), shard));
            }
            writeln!(out, "{}", crate::text::json_pretty(&json))?
        }
        // Labels, datasets and answers are data: nothing in them may drive the terminal.
        Format::Human => out.write_all(crate::text::terminal_safe(&render(&stats), true).as_bytes())?,
    }
    Ok(status)
}

/// Rows and columns of the confusion matrix shown; the rest are folded into "… N others".
const CONFUSION_MAX: usize = 30;
/// Rows of a count table shown (the JSON output has them all).
const TABLE_MAX: usize = 50;

fn render(s: &Stats) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{} in {} ({} unreadable or not threads)",
        crate::text::plural(s.threads, "thread"),
        crate::text::plural(s.files, "file"),
        s.unreadable
    );
    let table = |o: &mut String, title: &str, map: &std::collections::BTreeMap<String, usize>| {
        let _ = writeln!(o, "\n{title}");
        let mut rows: Vec<_> = map.iter().collect();
        rows.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (k, n) in rows.iter().take(TABLE_MAX) {
            let _ = writeln!(o, "  {k:<28} {n:>7}");
        }
        if rows.len() > TABLE_MAX {
            let rest: usize = rows[TABLE_MAX..].iter().map(|(_, n)| **n).sum();
            let _ = writeln!(o, "  … and {} more {rest:>7}", rows.len() - TABLE_MAX);
        }
    };
    table(&mut o, "By version", &s.by_version);
    table(&mut o, "By status", &s.by_status);
    table(&mut o, "By dataset", &s.by_dataset);
    table(&mut o, "By ground-truth label", &s.by_label);
    match s.correct_rate {
        Some(rate) => {
            let _ = writeln!(o, "\nCorrect: {} of {} judged threads ({:.1}%)", s.correct, s.judged, rate * 100.0);
        }
        None => {
            let _ = writeln!(o, "\nCorrect: no thread has been judged yet");
        }
    }
    if !s.accuracy_by_label.is_empty() {
        let _ = writeln!(o, "\nAccuracy by ground-truth label");
        for (label, a) in s.accuracy_by_label.iter().take(TABLE_MAX) {
            let pct = a.accuracy.map_or("—".to_string(), |r| format!("{:.1}%", r * 100.0));
            let _ = writeln!(o, "  {label:<28} {:>3} of {:<3} {pct:>7}", a.correct, a.judged);
        }
        if s.accuracy_by_label.len() > TABLE_MAX {
            let _ = writeln!(o, "  … and {} more (--format json lists all)", s.accuracy_by_label.len() - TABLE_MAX);
        }
    }
    if !s.accuracy_by_confidence.is_empty() {
        let _ = writeln!(o, "\nAccuracy by stated confidence (calibration)");
        for (confidence, a) in &s.accuracy_by_confidence {
            let pct = a.accuracy.map_or("—".to_string(), |r| format!("{:.1}%", r * 100.0));
            let _ = writeln!(o, "  {confidence:<28} {:>3} of {:<3} {pct:>7}", a.correct, a.judged);
        }
    }
    if !s.confusion.is_empty() {
        // Rows: ground truth; columns: the final answers given (labels normalized), at most 30 of each.
        let confusion = s.confusion_capped(CONFUSION_MAX);
        let answers: std::collections::BTreeSet<&String> = confusion.values().flat_map(|r| r.keys()).collect();
        let width = answers.iter().map(|a| a.chars().count()).max().unwrap_or(1).clamp(5, 18);
        let _ = writeln!(o, "\nConfusion (rows: ground truth, columns: final answer)");
        let mut head = format!("  {:<20}", "");
        for a in &answers {
            let short: String = a.chars().take(width).collect();
            head.push_str(&format!(" {short:>width$}"));
        }
        let _ = writeln!(o, "{head}");
        for (truth, row) in &confusion {
            let short: String = truth.chars().take(20).collect();
            let mut line = format!("  {short:<20}");
            for a in &answers {
                let n = row.get(*a).copied().unwrap_or(0);
                let cell = if n == 0 { "·".to_string() } else { n.to_string() };
                line.push_str(&format!(" {cell:>width$}"));
            }
            let _ = writeln!(o, "{line}");
        }
    }
    let _ = writeln!(o, "\nTool calls: {}", s.tool_calls);
    table(&mut o, "Tool usage", &s.tool_usage);
    if let Some(rate) = s.tool_error_rate {
        let _ = writeln!(o, "\nTool errors: {} of {} results ({:.1}%)", s.tool_errors, s.tool_results, rate * 100.0);
        for (tool, t) in s.tool_errors_by_tool.iter().filter(|(_, t)| t.errors > 0) {
            let _ = writeln!(o, "  {tool:<28} {:>4} of {:<4}", t.errors, t.results);
        }
    }
    if s.tokens.examples > 0 {
        let t = &s.tokens;
        let _ = writeln!(o, "\nTokens per thread (o200k_base, {} openai_v1 threads): mean {}, p95 {}, max {}", t.examples, t.mean, t.p95, t.max);
    }
    let _ = writeln!(o, "\nTurns per thread");
    let max = s.turns_histogram.values().copied().max().unwrap_or(0).max(1);
    for (turns, n) in &s.turns_histogram {
        let bar = "█".repeat((n * 40).div_ceil(max));
        let _ = writeln!(o, "  {turns:>3} │{bar} {n}");
    }
    o
}
