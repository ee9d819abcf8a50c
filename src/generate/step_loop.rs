//! The step loop of one thread: propose → check → (run the tool) → review → append →
//! save, until the model finishes or the turn limit is reached. Every accepted step is
//! saved before the next one starts, so a killed run loses at most the step in flight.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::policy::{Policy, PolicyError, StepContext};
use super::replies::{FinalAnswer, Step};
use super::thread_doc::ThreadDoc;
use crate::data_root::DataRoot;
use crate::tools::artifacts::Workspace;

#[derive(Debug, Clone, Copy)]
pub struct LoopSettings {
    /// Steps (assistant messages) after which a thread stops as `max_turns_reached`.
    pub max_turns: usize,
    /// `finish` is not offered until the thread has made this many tool calls.
    pub min_tool_calls: usize,
    /// How often an unusable proposal is sent back before the thread fails.
    pub max_retries: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Review {
    Accept,
    Regenerate,
    Quit,
}

/// Sees every step; interactive mode asks the person, batch mode accepts.
pub trait Observer {
    /// A proposed step (for a tool step, after the tool ran, with its result).
    fn review(&mut self, _thread: &ThreadDoc, _step: &Step, _result: Option<&Value>) -> Review {
        Review::Accept
    }
    fn saved(&mut self, _thread: &ThreadDoc) {}
    fn rejected_proposal(&mut self, _problem: &str) {}
}

/// Accepts everything (batch mode).
pub struct Accept;
impl Observer for Accept {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    Finished {
        correct: bool,
    },
    MaxTurns,
    /// The person stopped; the thread stays active and can be continued.
    Quit,
}

#[derive(Debug, Clone, Default)]
pub struct LoopStats {
    pub steps: usize,
    pub tool_errors: usize,
    pub retries: usize,
    /// Per accepted step: wall time minus time spent waiting for the model.
    pub overhead: Vec<Duration>,
}

pub struct Inputs<'a> {
    pub data_root: &'a DataRoot,
    pub manifest: &'a Value,
    pub labels: &'a [String],
    pub settings: LoopSettings,
}

/// Ask until the policy proposes something usable, at most `max_retries` times more.
fn propose<T>(
    policy_call: &mut dyn FnMut(Option<&str>) -> Result<T, PolicyError>,
    check: &dyn Fn(&T) -> Result<(), String>,
    inputs: &Inputs<'_>,
    stats: &mut LoopStats,
    observer: &mut dyn Observer,
) -> Result<T, String> {
    let mut feedback: Option<String> = None;
    for _ in 0..=inputs.settings.max_retries {
        let proposal = policy_call(feedback.as_deref());
        let problem = match proposal {
            Ok(p) => match check(&p) {
                Ok(()) => return Ok(p),
                Err(problem) => problem,
            },
            Err(PolicyError::Invalid(problem)) => problem,
            Err(PolicyError::Fatal(e)) => return Err(e),
        };
        stats.retries += 1;
        observer.rejected_proposal(&problem);
        feedback = Some(problem);
    }
    Err(format!(
        "no usable reply after {} attempts; the last problem: {}",
        inputs.settings.max_retries + 1,
        feedback.unwrap_or_default()
    ))
}

/// A realistic question for a new thread; one that names an activity is sent back,
/// since it would give the answer away.
pub fn ask_query(policy: &mut dyn Policy, inputs: &Inputs<'_>, stats: &mut LoopStats) -> Result<String, String> {
    let labels = inputs.labels;
    let check = |q: &String| -> Result<(), String> {
        let lower = q.to_lowercase();
        match labels.iter().find(|l| contains_word(&lower, &l.to_lowercase())) {
            Some(l) => Err(format!("the question names the activity {l:?}; ask without naming any activity")),
            None => Ok(()),
        }
    };
    propose(&mut |fb| policy.query(inputs.manifest, labels, fb), &check, inputs, stats, &mut Accept)
}

fn contains_word(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(at, _)| {
        let before = text[..at].chars().next_back().is_none_or(|c| !c.is_alphanumeric());
        let after = text[at + word.len()..].chars().next().is_none_or(|c| !c.is_alphanumeric());
        before && after
    })
}

/// Tool and arguments valid, and every artifact id named one that exists.
fn check_step(step: &Step, ws: &Workspace) -> Result<(), String> {
    let Step::UseTool { tool, arguments, .. } = step else { return Ok(()) };
    crate::tools::check_call(tool, arguments)?;
    if let Some(id) = arguments.get("artifact_id").and_then(Value::as_str) {
        if ws.get(Some(id)).is_err() {
            return Err(format!("artifact {id:?} does not exist; the artifacts are: {}", ws.ids().join(", ")));
        }
    }
    Ok(())
}

fn context<'a>(thread: &'a ThreadDoc, ws: &'a Workspace, inputs: &Inputs<'a>, allow_finish: bool) -> StepContext<'a> {
    StepContext {
        thread,
        workspace: ws,
        manifest: inputs.manifest,
        labels: inputs.labels,
        allow_finish,
        min_tool_calls: inputs.settings.min_tool_calls,
    }
}

/// Run one thread until it ends. On `Err` the thread is left as last saved (active).
pub fn run_thread(
    thread: &mut ThreadDoc,
    ws: &mut Workspace,
    policy: &mut dyn Policy,
    observer: &mut dyn Observer,
    inputs: &Inputs<'_>,
    stats: &mut LoopStats,
) -> Result<Ended, String> {
    let s = inputs.settings;
    loop {
        let started = Instant::now();
        let waited_before = policy.waited();
        // The time a person spends reading a step is not the generator's overhead.
        let mut reading = Duration::ZERO;
        let mut review = |observer: &mut dyn Observer, thread: &ThreadDoc, step: &Step, result: Option<&Value>| {
            let t = Instant::now();
            let verdict = observer.review(thread, step, result);
            reading += t.elapsed();
            verdict
        };
        if thread.steps() >= s.max_turns {
            thread.set_status("max_turns_reached");
            thread.save(Some(inputs.data_root))?;
            observer.saved(thread);
            return Ok(Ended::MaxTurns);
        }
        let allow_finish = thread.tool_calls() >= s.min_tool_calls;
        let step = {
            let ctx = context(thread, ws, inputs, allow_finish);
            let check = |step: &Step| -> Result<(), String> {
                if matches!(step, Step::Finish { .. }) && !allow_finish {
                    return Err(format!("finish is not allowed before {} tool calls", s.min_tool_calls));
                }
                check_step(step, ws)
            };
            propose(&mut |fb| policy.step(&ctx, fb), &check, inputs, stats, observer)?
        };
        match &step {
            Step::UseTool { reasoning, tool, arguments } => {
                let result = crate::tools::run(ws, tool, arguments);
                match review(observer, thread, &step, Some(&result)) {
                    Review::Accept => {
                        stats.tool_errors += usize::from(result.get("error").is_some());
                        thread.push_tool_step(reasoning, tool, arguments, &result);
                    }
                    verdict => {
                        // The tool may have moved the current artifact: back to the saved state.
                        *ws = crate::tools::replay::rebuild(&thread.doc, inputs.data_root)?;
                        if verdict == Review::Quit {
                            return Ok(Ended::Quit);
                        }
                        continue;
                    }
                }
            }
            Step::Respond { message, .. } => match review(observer, thread, &step, None) {
                Review::Accept => thread.push_respond(message),
                Review::Regenerate => continue,
                Review::Quit => return Ok(Ended::Quit),
            },
            Step::Finish { .. } => {
                match review(observer, thread, &step, None) {
                    Review::Accept => {}
                    Review::Regenerate => continue,
                    Review::Quit => return Ok(Ended::Quit),
                }
                let answer: FinalAnswer = {
                    let ctx = context(thread, ws, inputs, allow_finish);
                    let labels = inputs.labels;
                    let check = |a: &FinalAnswer| -> Result<(), String> {
                        if labels.iter().any(|l| l == &a.answer) {
                            Ok(())
                        } else {
                            Err(format!("the answer must be one of: {}", labels.join(", ")))
                        }
                    };
                    propose(&mut |fb| policy.final_answer(&ctx, fb), &check, inputs, stats, observer)?
                };
                thread.finish(&answer.answer, &answer.confidence, &answer.explanation);
            }
        }
        thread.save(Some(inputs.data_root))?;
        stats.steps += 1;
        // Everything but waiting for the model: prompt building, checks, the tool, the save.
        stats.overhead.push(started.elapsed().saturating_sub(policy.waited() - waited_before).saturating_sub(reading));
        observer.saved(thread);
        if thread.meta("status") == "finished" {
            return Ok(Ended::Finished { correct: thread.doc["metadata"]["is_correct"] == true });
        }
    }
}
