use std::fmt::Write as _;
use std::io::{self, Write};

use crate::cli::StatsArgs;
use crate::report::Format;
use crate::stats::Stats;
use crate::validate::{validate_entry, Settings};

use super::{for_each_batch, walk_args, ExitStatus};

pub fn run(args: StatsArgs, out: &mut dyn Write, err: &mut dyn Write) -> io::Result<ExitStatus> {
    let (walked, status) = walk_args(&args.walk, false, err)?;
    let settings = Settings { max_file_size: args.walk.max_file_size, summarize: true, ..Settings::default() };
    let mut stats = Stats::default();
    for_each_batch(
        walked.entries(),
        args.walk.jobs,
        |e| validate_entry(e, &settings),
        |_, reports| {
            for report in reports {
                stats.files += 1;
                for r in &report.records {
                    stats.add(&r.summary.clone().unwrap_or_default());
                }
            }
            Ok(())
        },
    )?;
    stats.finish();
    match args.format {
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&stats).expect("stats serialize"))?,
        Format::Human => out.write_all(render(&stats).as_bytes())?,
    }
    Ok(status)
}

fn render(s: &Stats) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{} in {} ({} unreadable or not threads)",
        crate::commands::plural(s.threads, "thread"),
        crate::commands::plural(s.files, "file"),
        s.unreadable
    );
    let table = |o: &mut String, title: &str, map: &std::collections::BTreeMap<String, usize>| {
        let _ = writeln!(o, "\n{title}");
        let mut rows: Vec<_> = map.iter().collect();
        rows.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (k, n) in rows {
            let _ = writeln!(o, "  {k:<28} {n:>7}");
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
    let _ = writeln!(o, "\nTool calls: {}", s.tool_calls);
    table(&mut o, "Tool usage", &s.tool_usage);
    let _ = writeln!(o, "\nTurns per thread");
    let max = s.turns_histogram.values().copied().max().unwrap_or(0).max(1);
    for (turns, n) in &s.turns_histogram {
        let bar = "█".repeat((n * 40).div_ceil(max));
        let _ = writeln!(o, "  {turns:>3} │{bar} {n}");
    }
    o
}
