//! `threadkit dataset check | info | import`.

use std::fmt::Write as _;
use std::io::{self, Write};

use crate::cli::{DatasetArgs, DatasetCommand, ImportArgs, ImportFormat};
use crate::dataset::{check, import, info};
use crate::report::{human::Renderer, json, Format, Totals};

use super::{use_color, ExitStatus};

pub fn run(args: DatasetArgs, out: &mut dyn Write, err: &mut dyn Write) -> io::Result<ExitStatus> {
    match args.command {
        DatasetCommand::Check { dir, format, deny_warnings, color } => {
            if !dir.is_dir() {
                writeln!(err, "threadkit: {}: not a directory; point it at a dataset folder (manifest.json, labels.json, sessions/)", dir.display())?;
                return Ok(ExitStatus::Error);
            }
            let reports = check::check(&dir);
            let mut totals = Totals::default();
            reports.iter().for_each(|r| totals.add(r));
            match format {
                Format::Human => {
                    let renderer = Renderer::new(use_color(color));
                    for r in &reports {
                        out.write_all(renderer.file(r).as_bytes())?;
                    }
                    out.write_all(renderer.summary(&totals, 0).as_bytes())?;
                }
                Format::Json => {
                    let entries: Vec<String> = reports.iter().flat_map(json::entries).collect();
                    writeln!(
                        out,
                        "{{\"files\": [\n  {}\n], \"summary\": {}}}",
                        entries.join(",\n  "),
                        json::summary(&totals)
                    )?;
                }
            }
            let failing = totals.errors > 0 || (deny_warnings && totals.warnings > 0);
            Ok(if failing { ExitStatus::Failure } else { ExitStatus::Success })
        }
        DatasetCommand::Info { dir, format } => match info::info(&dir) {
            Ok(i) => {
                match format {
                    Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&i).expect("info serializes"))?,
                    Format::Human => out.write_all(render_info(&i).as_bytes())?,
                }
                Ok(ExitStatus::Success)
            }
            Err(e) => {
                writeln!(err, "threadkit: {e}")?;
                Ok(ExitStatus::Error)
            }
        },
        DatasetCommand::Import(a) => run_import(a, out, err),
    }
}

fn run_import(a: ImportArgs, out: &mut dyn Write, err: &mut dyn Write) -> io::Result<ExitStatus> {
    if a.out.exists() && !a.force {
        writeln!(
            err,
            "threadkit: {} already exists; pass --force to replace it, or choose another --out",
            a.out.display()
        )?;
        return Ok(ExitStatus::Error);
    }
    let mut texts = Vec::new();
    for f in &a.files {
        match crate::open::read_to_string(f, crate::cli::MAX_FILE_SIZE_LIMIT) {
            Ok(t) => texts.push(t),
            Err(e) => {
                writeln!(err, "threadkit: {}: cannot read: {e}", f.display())?;
                return Ok(ExitStatus::Error);
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
            writeln!(err, "threadkit: {e}")?;
            return Ok(ExitStatus::Error);
        }
    };
    if let Err(e) = import::write(&a.out, &imported, a.force) {
        writeln!(err, "threadkit: {e}")?;
        return Ok(ExitStatus::Error);
    }
    writeln!(out, "Imported {} sessions into {} ({} labels).", imported.sessions.len(), a.out.display(), {
        let mut l: Vec<&str> = imported.labels.values().filter_map(|v| v.first()).map(String::as_str).collect();
        l.sort();
        l.dedup();
        l.len()
    })?;
    Ok(ExitStatus::Success)
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
