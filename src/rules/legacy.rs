//! Legacy `3.0` threads: turn numbering and action/field agreement.

use serde_json::Value;

use super::*;
use crate::diagnostic::Edit;
use crate::version::Version;

pub fn check(ctx: &Context<'_>, out: &mut Vec<Diagnostic>) {
    if ctx.version != Version::V3 {
        return;
    }
    let turns = ctx.thread.turns();
    // Turn numbers increase; gaps are the original generator's own (its "skip" step
    // advanced the counter without recording a turn), so only a number that does not
    // increase is wrong.
    let numbers: Vec<Option<u64>> = turns.iter().map(|t| t.get("turn").and_then(Value::as_u64)).collect();
    let increasing = numbers
        .iter()
        .scan(0u64, |last, n| {
            let ok = n.is_some_and(|n| n > *last);
            *last = n.unwrap_or(u64::MAX);
            Some(ok)
        })
        .all(|ok| ok);
    let renumber: Vec<Edit> = if increasing {
        Vec::new()
    } else {
        turns
            .iter()
            .enumerate()
            .filter(|(n, t)| t.get("turn").and_then(Value::as_u64) != Some(*n as u64 + 1) && t.is_object())
            .map(|(n, _)| Edit::Set { pointer: format!("/conversation/{n}/turn"), value: Value::from(n + 1) })
            .collect()
    };
    if let Some(Edit::Set { pointer, .. }) = renumber.first() {
        let n: usize = pointer.split('/').nth(2).and_then(|s| s.parse().ok()).unwrap_or(0);
        let have = turns[n].get("turn").map_or("nothing".to_string(), Value::to_string);
        out.push(
            Diagnostic::new(
                &TURN_NUMBERS,
                pointer.clone(),
                format!(
                    "entry {n} of `conversation` has turn {have}; turn numbers must increase (expected {}){}",
                    n + 1,
                    if renumber.len() > 1 {
                        format!(" ({} turns are misnumbered)", renumber.len())
                    } else {
                        String::new()
                    }
                ),
            )
            .with_label(format!("expected {}", n + 1))
            .with_fix(renumber),
        );
    }
    for (n, t) in turns.iter().enumerate() {
        let Some(action) = t.get("action").and_then(Value::as_str) else {
            continue;
        };
        let has = |k: &str| t.get(k).is_some_and(|v| !v.is_null());
        let problem = match action {
            "use_tool" if !has("tool_call") => Some("has no `tool_call`"),
            "use_tool" if !has("tool_result") => Some("has no `tool_result`"),
            "use_tool" if has("response") => Some("also has a `response`"),
            "respond" if !has("response") => Some("has no `response`"),
            "respond" if has("tool_call") => Some("also has a `tool_call`"),
            "final_answer" if !has("final_answer") => Some("has no `final_answer`"),
            "final_answer" if n + 1 != turns.len() => Some("is not the last turn"),
            _ => None,
        };
        if action == "final_answer" {
            // The original conversion builds the last message from the top-level fields
            // and ignores this turn: where they disagree, what was trained is not what the
            // turn says.
            let top = ctx.doc.as_object();
            for key in ["final_answer", "confidence", "explanation"] {
                let (here, there) = (t.get(key), top.and_then(|o| o.get(key)));
                let same = match (here.and_then(Value::as_str), there.and_then(Value::as_str)) {
                    (Some(a), Some(b)) => a.trim() == b.trim(),
                    _ => here.is_none_or(Value::is_null) || here == there,
                };
                if !same {
                    out.push(
                        Diagnostic::new(
                            &FINAL_TURN_MISMATCH,
                            format!("/conversation/{n}/{key}"),
                            format!(
                                "the final-answer turn says {key} {} but the thread says {}",
                                here.map_or("nothing".into(), Value::to_string),
                                there.map_or("nothing".into(), Value::to_string)
                            ),
                        )
                        .with_label("disagrees with the top level"),
                    );
                }
            }
        }
        if let Some(problem) = problem {
            out.push(
                Diagnostic::new(
                    &ACTION_FIELDS,
                    format!("/conversation/{n}/action"),
                    format!("turn {} is `{action}` but {problem}", n + 1),
                )
                .with_label(format!("action {action:?}")),
            );
        }
    }
}
