//! Lifecycle and metadata: derived counts, what `finished` promises, timestamps, ids.

use chrono::{DateTime, FixedOffset, NaiveDateTime};
use serde_json::Value;

use crate::json::lookup;

use crate::text::abbreviate;
use super::*;
use crate::diagnostic::Edit;
use crate::thread::{calls_tool, final_answer_in_text, same_label, Status};
use crate::version::Version;

pub fn check_counts(ctx: &Context<'_>, out: &mut Vec<Diagnostic>) {
    let counts = ctx.thread.counts();
    let mut expected = vec![("num_turns", counts.turns), ("num_tool_calls", counts.tool_calls)];
    if ctx.version == Version::OpenAiV1 {
        expected.push(("num_responds", counts.responds));
    }
    for (key, want) in expected {
        let at = format!("/metadata/{key}");
        // Absent or non-numeric counts are the schema's to report. A number the schema
        // takes for an integer but that is written as a float (`1e2`, `-0`, `2.0`, 2^64)
        // is checked like any other: readers that want a whole number reject it.
        let Some(have) = lookup(ctx.doc, &at).filter(|v| v.is_number()) else {
            continue;
        };
        if have.as_u64() != Some(want as u64) || !have.is_u64() {
            let shown = if have.is_u64() { have.to_string() } else { format!("{have} (not written as a whole number)") };
            out.push(
                Diagnostic::new(&COUNTS, &at, format!("`{key}` is {shown} but the messages give {want}"))
                    .with_label(format!("should be {want}"))
                    .with_fix(vec![Edit::Set { pointer: at.clone(), value: Value::from(want) }]),
            );
        }
    }
}

pub fn check_finished(ctx: &Context<'_>, out: &mut Vec<Diagnostic>) {
    let t = &ctx.thread;
    if let (Some(answer), Some(truth), Some(flag)) = (t.final_answer(), t.ground_truth(), t.is_correct()) {
        let correct = same_label(answer, truth);
        if flag != correct {
            out.push(
                Diagnostic::new(
                    &IS_CORRECT_MISMATCH,
                    t.is_correct_pointer(),
                    format!(
                        "`is_correct` is {flag}, but the answer {answer:?} {} the ground truth {truth:?}",
                        if correct { "matches" } else { "differs from" }
                    ),
                )
                .with_label(format!("should be {correct}"))
                .with_fix(vec![Edit::Set { pointer: t.is_correct_pointer().into(), value: Value::Bool(correct) }]),
            );
        }
    }
    if t.status() != Some(Status::Finished) {
        return;
    }
    let missing: Vec<&str> = [
        ("final_answer", t.final_answer_pointer()),
        ("confidence", t.confidence_pointer()),
        ("is_correct", t.is_correct_pointer()),
    ]
    .into_iter()
    .filter(|(_, p)| lookup(ctx.doc, p).is_none_or(Value::is_null))
    .map(|(k, _)| k)
    .collect();
    if !missing.is_empty() {
        let list = missing.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ");
        out.push(
            Diagnostic::new(
                &FINISHED_MISSING_FIELDS,
                t.fields_pointer(),
                format!("the thread is finished but has no {list}"),
            )
            .with_label("finished thread"),
        );
    }
    if ctx.version != Version::OpenAiV1 {
        return;
    }
    let messages = t.messages();
    let Some(last) = messages.last() else { return };
    let last_at = format!("/messages/{}", messages.len() - 1);
    let is_answer = last.get("role").and_then(Value::as_str) == Some("assistant") && !calls_tool(last);
    if !is_answer {
        let what = match last.get("role").and_then(Value::as_str) {
            Some("assistant") => "an assistant tool call".to_string(),
            Some(r) => format!("a {r:?} message"),
            None => "a message without role".to_string(),
        };
        out.push(
            Diagnostic::new(
                &FINISHED_WITHOUT_ANSWER_MESSAGE,
                &last_at,
                format!("the thread is finished but ends with {what}, not an assistant answer"),
            )
            .with_label("last message"),
        );
        return;
    }
    let (Some(text), Some(recorded)) = (last.get("content").and_then(Value::as_str), t.final_answer()) else {
        return;
    };
    let content_at = format!("{last_at}/content");
    match final_answer_in_text(text) {
        Some(said) if !same_label(said, recorded) => out.push(
            Diagnostic::new(
                &FINAL_ANSWER_TEXT,
                content_at,
                format!(
                    "the last message answers {:?} but `final_answer` is {:?}",
                    abbreviate(said, 80),
                    abbreviate(recorded, 80)
                ),
            )
            .with_label("answer in the text"),
        ),
        Some(_) => {}
        None => out.push(
            Diagnostic::new(
                &FINAL_ANSWER_MARKER,
                content_at,
                "the final message has no `Final Answer:` line to check against `final_answer`",
            )
            .with_label("final message"),
        ),
    }
}

enum Stamp {
    Zoned(DateTime<FixedOffset>),
    Naive(NaiveDateTime),
}

fn parse_stamp(s: &str) -> Option<Stamp> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(Stamp::Zoned(t));
    }
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
        .map(Stamp::Naive)
}

pub fn check_timestamps(ctx: &Context<'_>, out: &mut Vec<Diagnostic>) {
    let t = &ctx.thread;
    let mut stamps = Vec::new();
    for (name, at) in [("created_at", t.created_at_pointer()), ("last_modified", t.last_modified_pointer())] {
        let Some(s) = lookup(ctx.doc, at).and_then(Value::as_str) else {
            stamps.push(None);
            continue;
        };
        match parse_stamp(s) {
            Some(stamp) => {
                if matches!(stamp, Stamp::Naive(_)) {
                    out.push(
                        Diagnostic::new(&TIMESTAMP_NO_OFFSET, at, format!("`{name}` {s:?} has no UTC offset"))
                            .with_label("add Z or ±hh:mm"),
                    );
                }
                stamps.push(Some(stamp));
            }
            None => {
                out.push(
                    Diagnostic::new(&TIMESTAMP_INVALID, at, format!("`{name}` {s:?} is not an RFC 3339 date-time"))
                        .with_label("expected e.g. 2025-11-08T10:00:00+00:00"),
                );
                stamps.push(None);
            }
        }
    }
    let later = match (&stamps[0], &stamps[1]) {
        (Some(Stamp::Zoned(c)), Some(Stamp::Zoned(m))) => c > m,
        (Some(Stamp::Naive(c)), Some(Stamp::Naive(m))) => c > m,
        _ => false,
    };
    if later {
        out.push(
            Diagnostic::new(&TIMESTAMP_ORDER, t.created_at_pointer(), "`created_at` is later than `last_modified`")
                .with_label("after last_modified"),
        );
    }
}

pub fn check_id_matches_file(ctx: &Context<'_>, out: &mut Vec<Diagnostic>) {
    let (Some(stem), Some(id)) = (ctx.file_stem, ctx.thread.id()) else {
        return;
    };
    if stem != id {
        out.push(
            Diagnostic::new(
                &ID_FILE_STEM,
                ctx.thread.id_pointer(),
                format!("id {id:?} differs from the file name {stem:?}.json"),
            )
            .with_label(format!("file is {stem}.json")),
        );
    }
}
