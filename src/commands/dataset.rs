//! `threadkit dataset check | info | import`.

use std::fmt::Write as _;
use std::io::Write;

use crate::cli::{DatasetArgs, DatasetCommand, ImportArgs, ImportFormat};
use crate::dataset::{check, import, info};
use crate::report::{human::Renderer, printer::Printer, Format, Totals};

use super::{use_color, ExitStatus};
use super::CommandError;

pub fn run(args: DatasetArgs, out: &mut dyn Write, _err: &mut dyn Write) -> Result<ExitStatus, CommandError> {
    match args.command {
        DatasetCommand::Check { dir, format, quiet, deny_warnings, color } => {
            if !dir.is_dir() {
                return Err(CommandError::Usage(format!("{}: not a directory; point it at a dataset folder (manifest.json, labels.json, sessions/)", dir.display())));
            }
            if !dir.join(crate::dataset::layout::MANIFEST).exists() {
                let inside = crate::data_root::DataRoot::new(&dir).datasets();
                if !inside.is_empty() {
                    return Err(CommandError::Usage(format!(
                        "{} is a data root, not a dataset: it holds {}; check one of them, e.g. `threadkit dataset check {}`",
                        dir.display(),
                        inside.join(", "),
                        dir.join(&inside[0]).display()
                    )));
                }
            }
            let mut reports = check::check(&dir);
            let mut totals = Totals::default();
            reports.iter().for_each(|r| totals.add(r));
            let renderer = Renderer::new(use_color(color));
            let mut printer = Printer::new(format, quiet, &renderer);
            // Human output collapses findings repeated over many sessions into one line each.
            let grouped = if format == Format::Human && !quiet { group_repeats(&mut reports) } else { Vec::new() };
            printer.begin(out)?;
            for r in &reports {
                printer.file(r, out)?;
            }
            for line in grouped {
                writeln!(out, "{line}")?;
            }
            printer.end(&totals, crate::report::Fixing::NotAsked, out)?;
            let failing = totals.errors > 0 || (deny_warnings && totals.warnings > 0);
            Ok(if failing { ExitStatus::Failure } else { ExitStatus::Success })
        }
        DatasetCommand::Info { dir, format } => match info::info(&dir) {
            Ok(i) => {
                match format {
                    Format::Json => writeln!(out, "{}", crate::text::json_pretty(&i))?,
                    Format::Human => out.write_all(crate::text::terminal_safe(&render_info(&i), true).as_bytes())?,
                }
                Ok(ExitStatus::Success)
            }
            Err(e) => {
                Err(CommandError::Usage(e.to_string()))
            }
        },
        DatasetCommand::Import(a) => run_import(a, out),
        DatasetCommand::List { data_root, format } => {
            if !data_root.is_dir() {
                return Err(CommandError::Usage(format!("{}: not a directory", data_root.display())));
            }
            let root = crate::data_root::DataRoot::new(&data_root);
            let rows: Vec<serde_json::Value> = root
                .datasets()
                .iter()
                .map(|name| {
                    let d = root.dataset(name);
                    let (sessions, labels) = match d.as_ref() {
                        Ok(ds) => {
                            let labels = ds.labels.as_ref();
                            let mut distinct: Vec<&str> =
                                labels.into_iter().flatten().filter_map(|(_, l)| l.first().map(String::as_str)).collect();
                            distinct.sort_unstable();
                            distinct.dedup();
                            (labels.map_or(0, |l| l.len()), distinct.len())
                        }
                        Err(_) => (0, 0),
                    };
                    serde_json::json!({"name": name, "path": data_root.join(name), "sessions": sessions, "labels": labels,
                                       "problem": d.as_ref().as_ref().err().map(ToString::to_string)})
                })
                .collect();
            match format {
                Format::Json => writeln!(out, "{}", crate::text::json_pretty(&rows))?,
                Format::Human if rows.is_empty() => writeln!(out, "no datasets under {}", data_root.display())?,
                Format::Human => {
                    for r in &rows {
                        writeln!(
                            out,
                            "{:<24} {:>7} sessions {:>4} labels{}",
                            crate::text::terminal_safe(r["name"].as_str().unwrap_or(""), false),
                            r["sessions"],
                            r["labels"],
                            r["problem"].as_str().map_or(String::new(), |p| format!("  ({})", crate::text::terminal_safe(p, false)))
                        )?;
                    }
                }
            }
            Ok(ExitStatus::Success)
        }
    }
}

fn run_import(a: ImportArgs, out: &mut dyn Write) -> Result<ExitStatus, CommandError> {
    if a.out.exists() && !a.force {
        return Err(CommandError::Usage(format!(
            "{} already exists; pass --force to replace it, or choose another --out",
            a.out.display()
        )));
    }
    let mut texts = Vec::new();
    for f in &a.files {
        match crate::open::read_to_string(f, crate::cli::MAX_FILE_SIZE_LIMIT) {
            Ok(t) => texts.push(t),
            Err(e) => {
                return Err(CommandError::Usage(format!("{}: cannot read: {e}", f.display())));
            }
        }
    }
    let options = import::ImportOptions {
        name: a.name,
        sampling_rate_hz: a.sampling_rate_hz,
        channels: a.channels,
        description: a.description,
    };
    let inputs: Vec<(&std::path::Path, &str)> =
        a.files.iter().map(|p| p.as_path()).zip(texts.iter().map(String::as_str)).collect();
    let imported = match a.from {
        ImportFormat::UeaTs => import::from_uea_ts(&inputs, &options),
        ImportFormat::Csv => {
            let cols = import::CsvColumns {
                session: a.session_column,
                label: a.label_column.unwrap_or_default(),
                time: a.time_column,
            };
            import::from_csv(&inputs, &options, &cols)
        }
    };
    let imported = match imported {
        Ok(i) => i,
        Err(e) => {
            return Err(CommandError::Usage(e.to_string()));
        }
    };
    if let Err(e) = import::write(&a.out, &imported, a.force) {
        return Err(CommandError::Usage(e.to_string()));
    }
    let mut l: Vec<&str> = imported.labels.values().filter_map(|v| v.first()).map(String::as_str).collect();
    l.sort();
    l.dedup();
    writeln!(
        out,
        "Imported {} into {} ({}).",
        crate::text::plural(imported.sessions.len(), "session"),
        a.out.display(),
        crate::text::plural(l.len(), "label")
    )?;
    Ok(ExitStatus::Success)
}

/// Findings shown in full per rule before the rest are grouped into one line.
const SHOWN_PER_RULE: usize = 3;

/// Keep the first few findings of each rule; replace the rest with one line per rule:
/// `TK801 session-without-data: 10296 more (test_02_0003, test_02_0004, … (+10293))`.
fn group_repeats(reports: &mut [crate::findings::FileReport]) -> Vec<String> {
    use std::collections::BTreeMap;
    let mut seen: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut rest: BTreeMap<&'static str, (&'static str, Vec<String>)> = BTreeMap::new();
    for r in reports.iter_mut() {
        let path = r.path.clone();
        for rec in &mut r.records {
            rec.diagnostics.retain(|d| {
                let n = seen.entry(d.code()).or_default();
                *n += 1;
                if *n <= SHOWN_PER_RULE {
                    return true;
                }
                // Name the finding by what it is about: the session (pointer or folder).
                let what = d
                    .pointer
                    .rsplit('/')
                    .next()
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .or_else(|| path.parent().and_then(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned()))
                    .unwrap_or_else(|| path.display().to_string());
                rest.entry(d.code()).or_insert((d.rule.name, Vec::new())).1.push(what);
                false
            });
        }
    }
    rest.into_iter()
        .map(|(code, (name, items))| {
            let shown: Vec<&str> = items.iter().take(5).map(String::as_str).collect();
            let more = if items.len() > 5 { format!(", … (+{})", items.len() - 5) } else { String::new() };
            format!("{code} {name}: {} more like the above: {}{more}", items.len(), shown.join(", "))
        })
        .collect()
}

fn render_info(i: &info::Info) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "{} — {}", i.dataset_name, i.description);
    let _ = writeln!(o, "\nChannels ({})", i.channels.len());
    for c in &i.channels {
        let rate = c.sampling_rate_hz.map_or("?".to_string(), |r| format!("{r} Hz"));
        let _ = writeln!(o, "  {:<24} {rate}", c.name);
    }
    let _ = writeln!(o, "\nSessions: {} ({} unreadable)", i.sessions, i.unreadable_sessions);
    if let Some(s) = &i.samples_per_session {
        let _ = writeln!(o, "Samples per session: {} – {} (mean {:.1})", s.min, s.max, s.mean);
    }
    if let Some(d) = &i.duration_sec {
        let _ = writeln!(o, "Duration: {:.2} – {:.2} s (mean {:.2} s)", d.min, d.max, d.mean);
    }
    let _ = writeln!(o, "\nLabels");
    for (l, n) in &i.labels {
        let _ = writeln!(o, "  {l:<24} {n:>6}");
    }
    o
}
