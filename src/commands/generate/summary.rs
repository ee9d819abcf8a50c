//! The end of a run: each thread's line, the summary (threads, tokens, rate limits, the
//! quality gate's acceptance per rule, the budget and the commands that go on) and the
//! plan's projection; `--format json` as well as text.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::time::Duration;

use serde_json::{json, Value};

use super::Outcome;
use crate::commands::{CommandError, ExitStatus};
use crate::generate::budget::{self, Budget, Usage};
use crate::generate::step_loop::Ended;
use crate::generate::thread_doc::ThreadDoc;
use crate::report::Format;
use crate::text::{plural, terminal_safe};

pub(super) fn report_one(out: &mut dyn Write, o: &Outcome) -> io::Result<()> {
    // The answer is the model's words and the ground truth a label: data, never raw to a terminal.
    let id = terminal_safe(&o.id, false);
    match &o.result {
        Ok(Ended::Finished { correct }) => {
            // The answer beside the ground truth the model never saw.
            let meta = o
                .path
                .as_deref()
                .and_then(|p| ThreadDoc::load(p).ok())
                .map(|t| t.doc["metadata"].clone())
                .unwrap_or_default();
            let field = |k: &str| terminal_safe(meta[k].as_str().unwrap_or("?"), false).into_owned();
            writeln!(
                out,
                "{id}: finished: answer {} ({} confidence), ground truth {} → {}",
                field("final_answer"),
                field("confidence"),
                field("ground_truth"),
                if *correct { "correct" } else { "incorrect" }
            )
        }
        Ok(Ended::MaxTurns) => writeln!(out, "{id}: stopped at the turn limit"),
        Ok(Ended::Quit) if !o.saved => writeln!(out, "{id}: stopped before the first step; nothing was saved"),
        Ok(Ended::Quit) => writeln!(out, "{id}: stopped; `threadkit generate continue {id}` resumes it"),
        Err(e) => writeln!(out, "{id}: failed: {}", terminal_safe(&e.to_string(), true)),
    }
}

/// What a run's summary says besides its threads' outcomes.
pub(super) struct RunEnd<'a> {
    pub(super) total: usize,
    pub(super) endpoint_down: Option<String>,
    pub(super) pace: crate::generate::pace::PaceStats,
    pub(super) budget: &'a Budget,
    /// Flags every printed command repeats (folder, server, prices, mode).
    pub(super) shared: Vec<String>,
    /// `generate new`'s own flags, for a run of new threads.
    pub(super) again: Option<Vec<String>>,
    /// So many threads were rejected that no more replacements were drawn.
    pub(super) replacements_ran_out: bool,
}

impl RunEnd<'_> {
    /// The commands that take a budget-stopped run up again with a larger cap, sized from
    /// what the finished threads cost.
    fn go_on(&self, outcomes: &[Outcome], suspended: usize, to_make: usize) -> String {
        let b = self.budget;
        let spent = b.account().committed();
        let ended: Vec<&Outcome> = outcomes.iter().filter(|o| o.result.is_ok()).collect();
        let left = (suspended + to_make) as f64;
        let per_thread = |f: &dyn Fn(&Outcome) -> f64| {
            if ended.is_empty() { None } else { Some(ended.iter().map(|o| f(o)).sum::<f64>() / ended.len() as f64) }
        };
        let mut caps = Vec::new();
        if let Some(cap) = b.caps().max_cost {
            let need = per_thread(&|o| b.cost(&o.usage).usd).map_or(cap, |c| c * left * 1.25);
            caps.extend(["--max-cost".to_string(), format!("{:.2}", ((spent.usd + need) * 100.0).ceil() / 100.0)]);
        }
        if let Some(cap) = b.caps().max_tokens {
            let need = per_thread(&|o| o.usage.total() as f64).map_or(cap as f64, |t| t * left * 1.25);
            caps.extend(["--max-tokens".to_string(), format!("{}", spent.tokens + need.ceil() as u64)]);
        }
        let command = |sub: &str, extra: &[String]| {
            shell_command(sub, self.shared.iter().chain(extra).chain(&caps))
        };
        let mut commands = Vec::new();
        if suspended > 0 {
            commands.push(command("continue", &[]));
        }
        if to_make > 0 {
            if let Some(again) = &self.again {
                let mut extra = again.clone();
                extra.extend(["--count".to_string(), to_make.to_string()]);
                commands.push(command("new", &extra));
            }
        }
        commands.join(" && ")
    }
}

pub(super) fn summary(
    out: &mut dyn Write,
    err: &mut dyn Write,
    outcomes: &[Outcome],
    end: &RunEnd<'_>,
    format: Format,
) -> Result<ExitStatus, CommandError> {
    let (total, endpoint_down, pace) = (end.total, end.endpoint_down.clone(), end.pace);
    let finished: Vec<bool> = outcomes
        .iter()
        .filter_map(|o| match o.result {
            Ok(Ended::Finished { correct }) => Some(correct),
            _ => None,
        })
        .collect();
    let max_turns = outcomes.iter().filter(|o| matches!(o.result, Ok(Ended::MaxTurns))).count();
    let stopped = outcomes.iter().filter(|o| matches!(o.result, Ok(Ended::Quit))).count();
    let over_budget = |o: &Outcome| matches!(&o.result, Err(e) if e.starts_with(budget::STOPPED));
    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| o.result.is_err() && !over_budget(o)).collect();
    // Stopped by the budget: those with a saved step wait for `continue`; those stopped
    // before their first save were never started.
    let suspended: Vec<&Outcome> = outcomes.iter().filter(|o| over_budget(o) && o.saved).collect();
    let not_started = total.saturating_sub(outcomes.len()) + outcomes.iter().filter(|o| over_budget(o) && !o.saved).count();
    for o in &failed {
        let why = o.result.as_ref().err().map_or("", String::as_str);
        // The endpoint's one message is said once, below, not once per thread.
        if endpoint_down.as_deref().is_none_or(|down| !why.contains(down)) {
            // A server's error body is data: it reaches the terminal escaped.
            writeln!(err, "threadkit: {}: {}", terminal_safe(&o.id, false), terminal_safe(why, true))?;
        }
    }
    let saved: Vec<&&Outcome> = failed.iter().filter(|o| o.saved).collect();
    if !saved.is_empty() {
        let ids: Vec<&str> = saved.iter().map(|o| o.id.as_str()).collect();
        writeln!(
            err,
            "threadkit: {} kept {} last saved step (status active); `threadkit generate continue {}` takes {} up again",
            plural(ids.len(), "failed thread"),
            if ids.len() == 1 { "its" } else { "their" },
            ids.join(" "),
            if ids.len() == 1 { "it" } else { "them" }
        )?;
    }
    if let Some(why) = &endpoint_down {
        let not_started = total.saturating_sub(outcomes.len());
        writeln!(
            err,
            "threadkit: stopped: {}{}",
            terminal_safe(why, true),
            if not_started > 0 { format!(" ({} not started)", plural(not_started, "thread")) } else { String::new() }
        )?;
    }
    let budget_stop = end.budget.refused() && (!suspended.is_empty() || not_started > 0);
    // New threads still to make: the run's count less those accepted, those a `continue`
    // takes up (suspended or failed with a saved step) and none for rejected ones, whose
    // replacements the budget stopped.
    let accepted = outcomes.iter().filter(|o| o.result.is_ok() && o.gate.as_ref().is_none_or(|r| r.is_empty())).count();
    let resumable = suspended.len() + failed.iter().filter(|o| o.saved).count();
    let to_make = total.saturating_sub(accepted + resumable);
    let go_on = budget_stop.then(|| end.go_on(outcomes, suspended.len(), to_make));
    if let Some(command) = &go_on {
        writeln!(
            err,
            "threadkit: {}: {}; {} suspended at their last saved step (status active), {} not started",
            budget::STOPPED,
            end.budget.spent_text(&end.budget.account()),
            plural(suspended.len(), "thread"),
            plural(not_started, "thread"),
        )?;
        if !command.is_empty() {
            writeln!(err, "threadkit: to go on with a larger budget: {}", terminal_safe(command, false))?;
        }
    }
    let gate = gate_summary(outcomes);
    let correct = finished.iter().filter(|c| **c).count();
    let steps: usize = outcomes.iter().map(|o| o.stats.steps).sum();
    let tool_errors: usize = outcomes.iter().map(|o| o.stats.tool_errors).sum();
    let retries: usize = outcomes.iter().map(|o| o.stats.retries).sum();
    let mut usage = Usage::default();
    for o in outcomes {
        usage += o.usage;
    }
    let tokens = usage.total();
    let mut overhead: Vec<Duration> = outcomes.iter().flat_map(|o| o.stats.overhead.iter().copied()).collect();
    overhead.sort();
    let median = overhead.get(overhead.len() / 2).copied().unwrap_or_default();
    if format == Format::Json {
        let threads: Vec<Value> = outcomes
            .iter()
            .map(|o| {
                let (outcome, error) = match &o.result {
                    Ok(Ended::Finished { correct: true }) => ("finished_correct", None),
                    Ok(Ended::Finished { correct: false }) => ("finished_incorrect", None),
                    Ok(Ended::MaxTurns) => ("max_turns_reached", None),
                    Ok(Ended::Quit) => ("stopped", None),
                    Err(e) if over_budget(o) => ("suspended_by_budget", Some(e.clone())),
                    Err(e) => ("failed", Some(e.clone())),
                };
                let rejected_by = o.gate.as_ref().map(|rules| rules.iter().map(|r| r.code).collect::<Vec<_>>());
                json!({"id": o.id, "path": o.path, "saved": o.saved, "outcome": outcome, "error": error,
                       "steps": o.stats.steps, "tokens": o.usage.total(), "usage": o.usage,
                       "rejected_by": rejected_by})
            })
            .collect();
        let doc = json!({
            "threads": threads,
            "budget": budget_json(end.budget, go_on.as_deref(), suspended.len()),
            "gate": gate.as_ref().map(|g| g.json(end.replacements_ran_out)),
            "summary": {"threads": outcomes.len(), "not_started": not_started,
                        "finished": finished.len(), "correct": correct, "max_turns_reached": max_turns,
                        "stopped": stopped, "failed": failed.len(), "steps": steps, "tool_errors": tool_errors,
                        "replies_sent_back": retries, "tokens": tokens, "usage": usage,
                        "requests": pace.answered + pace.rejected, "rate_limited": pace.rejected,
                        "overhead_ms_median": median.as_secs_f64() * 1000.0, "endpoint_error": endpoint_down},
        });
        writeln!(out, "{}", crate::text::json_pretty(&doc))?;
    } else {
    writeln!(
            out,
            "{}: {} finished ({} correct{}), {} at the turn limit, {} stopped, {} failed; {}, {}, {} sent back, {tokens} model tokens ({} prompt, {} of them cached, {} completion){}; generator overhead per step: median {:.2} ms",
            plural(outcomes.len(), "thread"),
            finished.len(),
            correct,
            if finished.is_empty() { String::new() } else { format!(", {:.0}%", 100.0 * correct as f64 / finished.len() as f64) },
            max_turns,
            stopped,
            failed.len(),
            plural(steps, "step"),
            plural(tool_errors, "tool error"),
            plural(retries, "reply"),
            usage.prompt,
            usage.cached,
            usage.completion,
            if pace.rejected > 0 {
                format!("; {} of {} rate-limited and sent again", pace.rejected, plural((pace.answered + pace.rejected) as usize, "request"))
            } else {
                String::new()
            } + &format!("; in this folder: {}", end.budget.spent_text(&end.budget.account())),
            median.as_secs_f64() * 1000.0,
        )?;
    }
    if format != Format::Json {
        if let Some(g) = &gate {
            writeln!(out, "{}", g.line())?;
        }
    }
    if end.replacements_ran_out {
        writeln!(
            err,
            "threadkit: the quality gate rejected so many threads that no more were drawn in their place \
             (at most 2 × --count + 10); `threadkit quality` on rejected/ or its *.findings.txt say why"
        )?;
    }
    Ok(if endpoint_down.is_some() {
        ExitStatus::Error
    } else if failed.is_empty() && go_on.is_none() && !end.replacements_ran_out {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    })
}

pub(super) fn print_projection(
    out: &mut dyn Write,
    p: &crate::generate::plan::Projection,
    pilot: &[crate::generate::plan::Measured],
    accepted: usize,
) -> io::Result<()> {
    use crate::generate::plan::Range;
    let n = pilot.len().max(1) as f64;
    let steps = pilot.iter().map(|m| m.steps).sum::<usize>() as f64 / n;
    let tokens = pilot.iter().map(|m| m.usage.total()).sum::<u64>() as f64 / n;
    writeln!(
        out,
        "measured: {} pilot threads, {accepted} accepted ({:.0}%), {steps:.1} steps and {} tokens a thread",
        pilot.len(),
        100.0 * accepted as f64 / n,
        si(tokens)
    )?;
    let range = |r: &Range, f: &dyn Fn(f64) -> String| format!("{} (p10 {} – p90 {})", f(r.p50), f(r.p10), f(r.p90));
    writeln!(out, "projection for --count {} at --parallel {} (the pilot included):", p.count, p.parallel)?;
    writeln!(out, "  threads run      {}", range(&p.threads_run, &|x| format!("{x:.0}")))?;
    writeln!(out, "  tokens           {}", range(&p.tokens, &si))?;
    writeln!(
        out,
        "    prompt {} ({} cached), completion {}",
        si(p.prompt_tokens.p50),
        si(p.cached_tokens.p50),
        si(p.completion_tokens.p50)
    )?;
    match &p.cost_usd {
        Some(c) => writeln!(out, "  cost             {}", range(c, &|x| format!("${x:.2}")))?,
        None => writeln!(out, "  cost             (no prices: give --price in=…,out=…[,cached=…] or --prices FILE)")?,
    }
    writeln!(out, "  wall time        {}", range(&p.wall_secs, &short_duration))?;
    Ok(())
}

/// What the quality gate decided over a run: how many threads each rule rejected.
struct GateSummary {
    judged: usize,
    accepted: usize,
    /// Per rule that rejected any: the rule and how many threads it flagged.
    rules: Vec<(&'static crate::diagnostic::Rule, usize)>,
}

fn gate_summary(outcomes: &[Outcome]) -> Option<GateSummary> {
    let judged: Vec<&Vec<&'static crate::diagnostic::Rule>> = outcomes.iter().filter_map(|o| o.gate.as_ref()).collect();
    if judged.is_empty() {
        return None;
    }
    let mut by: BTreeMap<&'static str, (&'static crate::diagnostic::Rule, usize)> = BTreeMap::new();
    for rule in judged.iter().flat_map(|r| r.iter()) {
        by.entry(rule.code).or_insert((rule, 0)).1 += 1;
    }
    Some(GateSummary {
        judged: judged.len(),
        accepted: judged.iter().filter(|r| r.is_empty()).count(),
        rules: by.into_values().collect(),
    })
}

impl GateSummary {
    fn rate(&self, passed: usize) -> f64 {
        100.0 * passed as f64 / self.judged as f64
    }

    fn line(&self) -> String {
        let rejected = self.judged - self.accepted;
        let mut line = format!(
            "quality gate: {} judged, {} accepted ({:.0}%), {} moved to rejected/",
            self.judged,
            self.accepted,
            self.rate(self.accepted),
            rejected
        );
        if !self.rules.is_empty() {
            let parts: Vec<String> = self
                .rules
                .iter()
                .map(|(r, n)| format!("{} {} {:.0}% passed ({n} rejected)", r.code, r.name, self.rate(self.judged - n)))
                .collect();
            line.push_str(&format!("; per rule: {}", parts.join(", ")));
        }
        line
    }

    fn json(&self, ran_out: bool) -> Value {
        let rules: Vec<Value> = self
            .rules
            .iter()
            .map(|(r, n)| json!({"code": r.code, "name": r.name, "rejected": n, "acceptance": (self.judged - n) as f64 / self.judged as f64}))
            .collect();
        json!({"judged": self.judged, "accepted": self.accepted, "rejected": self.judged - self.accepted,
               "acceptance": self.accepted as f64 / self.judged as f64, "rules": rules,
               "replacements_ran_out": ran_out})
    }
}

/// The ledger in the JSON summary.
fn budget_json(b: &Budget, go_on: Option<&str>, suspended: usize) -> Value {
    let a = b.account();
    let c = a.committed();
    json!({
        "ledger": b.path(), "spent_usd": b.price().map(|_| c.usd), "tokens": c.tokens,
        "max_cost": b.caps().max_cost, "max_tokens": b.caps().max_tokens,
        "usage": a.usage, "assumed_from_killed_runs": a.assumed,
        "stopped": go_on.is_some(), "suspended": suspended, "continue": go_on,
    })
}

/// `threadkit generate SUB WORDS…` as a shell reads it back.
pub(super) fn shell_command<'a>(sub: &str, words: impl IntoIterator<Item = &'a String>) -> String {
    ["threadkit", "generate", sub]
        .into_iter()
        .map(shell_word)
        .chain(words.into_iter().map(|w| shell_word(w)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A word as a POSIX shell reads it back: bare when it is plain, else single-quoted.
fn shell_word(w: &str) -> String {
    if !w.is_empty() && w.bytes().all(|b| b.is_ascii_alphanumeric() || b"_./:=,@%+-".contains(&b)) {
        w.to_string()
    } else {
        format!("'{}'", w.replace('\'', "'\\''"))
    }
}

/// `950`, `12.3k`, `4.1M`.
pub(super) fn si(n: f64) -> String {
    if n >= 1e6 {
        format!("{:.1}M", n / 1e6)
    } else if n >= 1e3 {
        format!("{:.1}k", n / 1e3)
    } else {
        format!("{n:.0}")
    }
}

/// `42s`, `3m10s`, `2h05m`.
pub(super) fn short_duration(secs: f64) -> String {
    let s = secs.round() as u64;
    if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    }
}
