//! Who decides: the model behind an endpoint (`ModelPolicy`), or a recorded list of
//! decisions (`ScriptedPolicy`, a test double for driving the loop without a model).
//! The loop owns validation and retries; a policy only proposes.

use std::collections::VecDeque;
use std::sync::Arc;

use serde_json::Value;

use super::budget::Usage;
use super::client::ChatClient;
use super::prompts::Prompts;
use super::replies::{self, FinalAnswer, Step, Structured};
use super::thread_doc::ThreadDoc;
use crate::tools::artifacts::Workspace;

/// What a policy sees when asked for a step or the final answer. It holds the label
/// vocabulary and never the ground truth.
pub struct StepContext<'a> {
    pub thread: &'a ThreadDoc,
    pub workspace: &'a Workspace,
    pub manifest: &'a Value,
    pub labels: &'a [String],
    pub allow_finish: bool,
    pub min_tool_calls: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PolicyError {
    /// The proposal was unusable; the loop sends this back and asks again.
    Invalid(String),
    /// Asking again will not help (the endpoint failed, the prompt does not fit).
    Fatal(String),
}

pub trait Policy: Send {
    fn query(&mut self, manifest: &Value, labels: &[String], feedback: Option<&str>) -> Result<String, PolicyError>;
    fn step(&mut self, ctx: &StepContext<'_>, feedback: Option<&str>) -> Result<Step, PolicyError>;
    fn final_answer(&mut self, ctx: &StepContext<'_>, feedback: Option<&str>) -> Result<FinalAnswer, PolicyError>;
    /// Model tokens used so far, as the server counted them.
    fn usage(&self) -> Usage {
        Usage::default()
    }
    /// Requests the model answered so far.
    fn requests(&self) -> u64 {
        0
    }
    /// Time spent waiting for the model so far (not the policy's own work).
    fn waited(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }
}

/// Settings of the model-driven policy.
#[derive(Clone)]
pub struct ModelSettings {
    pub structured: Structured,
    pub query_temperature: f64,
    pub step_temperature: f64,
    /// The model's context window in tokens, when known: larger prompts are refused.
    pub context_tokens: Option<usize>,
}

pub struct ModelPolicy {
    client: Arc<ChatClient>,
    prompts: Arc<Prompts>,
    settings: ModelSettings,
    /// The current request's messages, extended with each invalid reply and its correction.
    pending: Vec<Value>,
    last_reply: String,
    usage: Usage,
    requests: u64,
    waited: std::time::Duration,
}

impl ModelPolicy {
    pub fn new(client: Arc<ChatClient>, prompts: Arc<Prompts>, settings: ModelSettings) -> ModelPolicy {
        ModelPolicy {
            client,
            prompts,
            settings,
            pending: Vec::new(),
            last_reply: String::new(),
            usage: Usage::default(),
            requests: 0,
            waited: Default::default(),
        }
    }

    fn ask(
        &mut self,
        fresh: Vec<Value>,
        feedback: Option<&str>,
        name: &str,
        schema: &Value,
        temperature: f64,
    ) -> Result<String, PolicyError> {
        match feedback {
            Some(problem) if !self.pending.is_empty() => {
                self.pending.push(serde_json::json!({"role": "assistant", "content": self.last_reply}));
                self.pending.push(serde_json::json!({"role": "user", "content": format!(
                    "That reply cannot be used: {problem}\nReply again with one JSON object that follows the instructions.")}));
            }
            _ => self.pending = fresh,
        }
        if let Some(limit) = self.settings.context_tokens {
            let counter = prompt_counter();
            let used: usize =
                self.pending.iter().map(|m| 4 + counter.text(m["content"].as_str().unwrap_or_default())).sum::<usize>()
                    + counter.text(&schema.to_string())
                    + self.client.config().max_completion_tokens as usize;
            if used > limit {
                return Err(PolicyError::Fatal(format!(
                    "the {name} prompt needs about {used} tokens with its reply, more than the context of {limit} (--context-tokens); \
                     the thread stops here; raise --context-tokens or lower --max-turns"
                )));
            }
        }
        let format = replies::response_format(self.settings.structured, name, schema);
        let asked = std::time::Instant::now();
        let reply = self.client.complete(&self.pending, temperature, &format);
        self.waited += asked.elapsed();
        match reply {
            Ok(c) => {
                self.usage += c.usage;
                self.requests += 1;
                self.last_reply = c.content.clone();
                Ok(c.content)
            }
            Err(e) => Err(PolicyError::Fatal(e.to_string())),
        }
    }

    fn reply_format(&self, schema: &Value) -> String {
        match self.settings.structured {
            Structured::Json => format!(
                "Reply with one JSON object and nothing else. It must match this JSON Schema:\n{}",
                serde_json::to_string(schema).expect("a Value serializes")
            ),
            _ => "Reply with one JSON object.".to_string(),
        }
    }
}

fn prompt_counter() -> &'static crate::tokens::Counter {
    static C: std::sync::OnceLock<crate::tokens::Counter> = std::sync::OnceLock::new();
    C.get_or_init(|| crate::tokens::Counter::new(crate::tokens::Tokenizer::O200kBase))
}

impl Policy for ModelPolicy {
    fn query(&mut self, manifest: &Value, labels: &[String], feedback: Option<&str>) -> Result<String, PolicyError> {
        let schema = replies::query_schema();
        let manifest_text = crate::pyjson::dumps_pretty(manifest);
        let labels_text = labels.join(", ");
        let reply_format = self.reply_format(&schema);
        let fresh = self.prompts.query.render(&[
            ("manifest", &manifest_text),
            ("labels", &labels_text),
            ("reply_format", &reply_format),
        ]);
        let t = self.settings.query_temperature;
        let reply = self.ask(fresh, feedback, "query", &schema, t)?;
        replies::parse_query(&reply).map_err(PolicyError::Invalid)
    }

    fn step(&mut self, ctx: &StepContext<'_>, feedback: Option<&str>) -> Result<Step, PolicyError> {
        let artifacts = ctx.workspace.ids().to_vec();
        let schema = replies::step_schema(ctx.allow_finish, &artifacts);
        let values = PromptValues::of(ctx);
        let actions = if ctx.allow_finish {
            "- use_tool: call one tool (give `tool` and `arguments`);\n- respond: note an intermediate finding (give `message`);\n- finish: you have enough evidence to answer."
        } else {
            "- use_tool: call one tool (give `tool` and `arguments`);\n- respond: note an intermediate finding (give `message`)."
        };
        let finish_rule = if ctx.allow_finish {
            "- Finish only when the tool results support an answer.".to_string()
        } else {
            format!("- You must call at least {} tool(s) before you can finish.", ctx.min_tool_calls)
        };
        let reply_format = self.reply_format(&schema);
        let mut pairs = values.pairs();
        pairs.extend([("actions", actions), ("finish_rule", &finish_rule), ("reply_format", &reply_format)]);
        let fresh = self.prompts.step.render(&pairs);
        let t = self.settings.step_temperature;
        let reply = self.ask(fresh, feedback, "step", &schema, t)?;
        replies::parse_step_against(&reply, &schema).map_err(PolicyError::Invalid)
    }

    fn final_answer(&mut self, ctx: &StepContext<'_>, feedback: Option<&str>) -> Result<FinalAnswer, PolicyError> {
        let schema = replies::final_schema(ctx.labels);
        let values = PromptValues::of(ctx);
        let reply_format = self.reply_format(&schema);
        let mut pairs = values.pairs();
        pairs.push(("reply_format", &reply_format));
        let fresh = self.prompts.final_answer.render(&pairs);
        let t = self.settings.step_temperature;
        let reply = self.ask(fresh, feedback, "final_answer", &schema, t)?;
        replies::parse_final(&reply, ctx.labels).map_err(PolicyError::Invalid)
    }

    fn usage(&self) -> Usage {
        self.usage
    }

    fn requests(&self) -> u64 {
        self.requests
    }

    fn waited(&self) -> std::time::Duration {
        self.waited
    }
}

/// The texts the templates' placeholders are filled with.
struct PromptValues {
    manifest: String,
    labels: String,
    query: String,
    history: String,
    tools: String,
    artifacts: String,
}

impl PromptValues {
    /// Every placeholder a template may use about the thread (a template uses the ones it names).
    fn pairs(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("manifest", &self.manifest),
            ("labels", &self.labels),
            ("query", &self.query),
            ("history", &self.history),
            ("tools", &self.tools),
            ("artifacts", &self.artifacts),
        ]
    }

    fn of(ctx: &StepContext<'_>) -> PromptValues {
        // The tools never change: their text is built once.
        static TOOLS_TEXT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let tools = TOOLS_TEXT
            .get_or_init(|| {
                crate::tools::TOOLS
                    .iter()
                    .map(|t| {
                        let params = serde_json::to_string(&(t.parameters)()).expect("a Value serializes");
                        format!("- {}: {}\n  {params}", t.name, t.description)
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .clone();
        let ws = ctx.workspace;
        let artifacts = ws
            .ids()
            .iter()
            .filter_map(|id| ws.get(Some(id)).ok())
            .map(|a| {
                let mark = if ws.current.as_deref() == Some(a.id.as_str()) { " (current)" } else { "" };
                format!("- {}{mark}", serde_json::to_string(&a.reference()).expect("a Value serializes"))
            })
            .collect::<Vec<_>>()
            .join("\n");
        PromptValues {
            manifest: crate::pyjson::dumps_pretty(ctx.manifest),
            labels: ctx.labels.join(", "),
            query: ctx.thread.meta("user_query").to_string(),
            history: history(ctx.thread),
            tools,
            artifacts,
        }
    }
}

/// The thread so far, one block per step, as the model reads it.
pub fn history(thread: &ThreadDoc) -> String {
    let mut out = String::new();
    let mut n = 0;
    for m in thread.view().messages().iter().skip(1) {
        match m["role"].as_str() {
            Some("assistant") => {
                n += 1;
                let content = m["content"].as_str().unwrap_or_default();
                match m.pointer("/tool_calls/0/function") {
                    Some(f) => out.push_str(&format!(
                        "Step {n}. Reasoning: {content}\nCalled {}({})\n",
                        f["name"].as_str().unwrap_or_default(),
                        f["arguments"].as_str().unwrap_or_default()
                    )),
                    None => out.push_str(&format!("Step {n}. Noted: {content}\n")),
                }
            }
            Some("tool") => out.push_str(&format!("Result: {}\n", m["content"].as_str().unwrap_or_default())),
            _ => {}
        }
    }
    if out.is_empty() {
        out.push_str("(none yet)");
    }
    out.trim_end().to_string()
}

/// A test double: replays recorded decisions in order, and records every feedback it gets.
/// Used to drive the loop in tests and benchmarks without a model.
#[derive(Debug, Default)]
pub struct ScriptedPolicy {
    pub queries: VecDeque<Result<String, PolicyError>>,
    pub steps: VecDeque<Result<Step, PolicyError>>,
    pub finals: VecDeque<Result<FinalAnswer, PolicyError>>,
    pub feedback: Vec<String>,
}

impl Policy for ScriptedPolicy {
    fn query(&mut self, _: &Value, _: &[String], feedback: Option<&str>) -> Result<String, PolicyError> {
        self.feedback.extend(feedback.map(str::to_string));
        self.queries.pop_front().unwrap_or_else(|| Err(PolicyError::Fatal("the script has no more queries".into())))
    }

    fn step(&mut self, _: &StepContext<'_>, feedback: Option<&str>) -> Result<Step, PolicyError> {
        self.feedback.extend(feedback.map(str::to_string));
        self.steps.pop_front().unwrap_or_else(|| Err(PolicyError::Fatal("the script has no more steps".into())))
    }

    fn final_answer(&mut self, _: &StepContext<'_>, feedback: Option<&str>) -> Result<FinalAnswer, PolicyError> {
        self.feedback.extend(feedback.map(str::to_string));
        self.finals.pop_front().unwrap_or_else(|| Err(PolicyError::Fatal("the script has no more answers".into())))
    }
}
