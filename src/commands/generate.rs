//! `threadkit generate [new | continue | list]`: settings → generator → interactive
//! (a person reviews every step) or batch (`--parallel` threads at once, a progress bar, a
//! summary). Without a subcommand, an interactive main screen like the old tool's menu.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::io::{self, BufRead, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::cli::{GenerateArgs, GenerateCommand, GenerateListArgs, Mode, ModeArgs};
use crate::data_root::DataRoot;
use crate::generate::budget::{self, Budget, Caps, Price, Usage};
use crate::generate::client::{ChatClient, ClientConfig};
use crate::generate::config::{self, Settings};
use crate::generate::listing::{self, Row};
use crate::generate::pick::{self, Pick};
use crate::generate::policy::{ModelPolicy, ModelSettings, Policy};
use crate::generate::prompts::Prompts;
use crate::generate::replies::Step;
use crate::generate::step_loop::{Ended, LoopSettings, LoopStats, Observer, Review};
use crate::generate::thread_doc::ThreadDoc;
use crate::generate::Generator;
use crate::report::Format;
use crate::text::terminal_safe;

use super::ExitStatus;
use super::CommandError;

mod summary;
use summary::{print_projection, report_one, shell_command, short_duration, si, summary, RunEnd};

pub fn run(args: GenerateArgs, out: &mut dyn Write, err: &mut dyn Write) -> Result<ExitStatus, CommandError> {
    let settings = match config::resolve(args.common.config.as_deref(), &flag_settings(&args.common)) {
        Ok(s) => s,
        Err(e) => {
            return Err(CommandError::Usage(e.to_string()));
        }
    };
    match args.command {
        Some(GenerateCommand::List(list)) => {
            if let Some(flag) = generation_flag(&args.common) {
                return Err(CommandError::Usage(format!("generate list takes --threads-dir, --config and its own flags; {flag} is for new, continue and the main screen")));
            }
            run_list(&settings, &list, out)
        }
        Some(GenerateCommand::Prompts { dump }) => match crate::generate::prompts::Prompts::dump(&dump) {
            Ok(paths) => {
                for p in paths {
                    writeln!(out, "wrote {}", p.display())?;
                }
                writeln!(out, "edit them, then pass --prompts {} (placeholders: {})", dump.display(), crate::generate::prompts::PLACEHOLDERS.join(", "))?;
                Ok(ExitStatus::Success)
            }
            Err(e) => {
                Err(CommandError::Usage(e.to_string()))
            }
        },
        Some(GenerateCommand::New(new)) => {
            let app = App::new(settings, &args.common)?;
            crate::generate::in_progress::report_on_interrupt();
            let (datasets, seed, balance) = app.draw_settings(&new);
            app.new_threads(&datasets, new.count, seed, balance, &new.mode, out, err).map(|r| r.status)
        }
        Some(GenerateCommand::Plan(plan)) => {
            let app = App::new(settings, &args.common)?;
            crate::generate::in_progress::report_on_interrupt();
            let new = &plan.new;
            let (datasets, seed, balance) = app.draw_settings(new);
            app.plan(&datasets, new.count, plan.pilot, seed, balance, &new.mode, out, err)
        }
        Some(GenerateCommand::Continue(cont)) => {
            let app = App::new(settings, &args.common)?;
            crate::generate::in_progress::report_on_interrupt();
            app.continue_threads(&cont.ids, cont.max_turns_filter, &cont.mode, out, err)
        }
        None => {
            let app = App::new(settings, &args.common)?;
            crate::generate::in_progress::report_on_interrupt();
            app.main_screen(out, err)
        }
    }
}

/// The generation flags as a settings layer (the file's keys; `None` where no flag was given).
fn flag_settings(c: &crate::cli::GenerateCommon) -> config::FileSettings {
    config::FileSettings {
        data_root: c.data_root.clone(),
        threads_dir: c.threads_dir.clone(),
        base_url: c.base_url.clone(),
        model: c.model.clone(),
        query_temperature: c.query_temperature,
        step_temperature: c.step_temperature,
        prompts: c.prompts.clone(),
        structured: c.structured,
        timeout: c.timeout,
        http_attempts: c.http_attempts,
        max_retries: c.max_retries,
        context_tokens: c.context_tokens,
        max_completion_tokens: c.max_completion_tokens,
        max_turns: c.max_turns,
        min_tool_calls: c.min_tool_calls,
        // Per-subcommand flags, applied by the subcommands over the file's values.
        datasets: None,
        jobs: None,
        seed: None,
        balance: None,
    }
}

/// The first generation-only flag given, if any (`generate list` takes none of them).
fn generation_flag(c: &crate::cli::GenerateCommon) -> Option<&'static str> {
    [
        (c.data_root.is_some(), "--data-root"),
        (c.base_url.is_some(), "--base-url"),
        (c.model.is_some(), "--model"),
        (c.query_temperature.is_some(), "--query-temperature"),
        (c.step_temperature.is_some(), "--step-temperature"),
        (c.prompts.is_some(), "--prompts"),
        (c.structured.is_some(), "--structured"),
        (c.timeout.is_some(), "--timeout"),
        (c.http_attempts.is_some(), "--http-attempts"),
        (c.max_retries.is_some(), "--max-retries"),
        (c.context_tokens.is_some(), "--context-tokens"),
        (c.max_completion_tokens.is_some(), "--max-completion-tokens"),
        (c.max_turns.is_some(), "--max-turns"),
        (c.min_tool_calls.is_some(), "--require-tool-calls"),
        (c.price.is_some(), "--price"),
        (c.prices.is_some(), "--prices"),
        (c.max_cost.is_some(), "--max-cost"),
        (c.max_tokens.is_some(), "--max-tokens"),
        (c.no_quality_gate, "--no-quality-gate"),
    ]
    .into_iter()
    .find_map(|(given, name)| given.then_some(name))
}

fn random_seed() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

fn run_list(settings: &Settings, args: &GenerateListArgs, out: &mut dyn Write) -> Result<ExitStatus, CommandError> {
    let rows: Vec<Row> = listing::list(&settings.threads_dir)
        .into_iter()
        .filter(|r| args.all || r.status == "active")
        .filter(|r| args.max_turns_filter.is_none_or(|n| r.turns <= n))
        .collect();
    match args.format {
        Format::Json => writeln!(out, "{}", crate::text::json_pretty(&rows))?,
        Format::Human if rows.is_empty() && !args.all => {
            let all = listing::list(&settings.threads_dir);
            if all.is_empty() {
                writeln!(out, "no threads in {}", crate::text::shown(&settings.threads_dir))?;
            } else {
                let mut by: BTreeMap<&str, usize> = BTreeMap::new();
                for r in &all {
                    *by.entry(r.status.as_str()).or_default() += 1;
                }
                let parts: Vec<String> = by.iter().map(|(s, n)| format!("{n} {s}")).collect();
                writeln!(out, "no active threads ({}; --all lists them)", parts.join(", "))?;
            }
        }
        Format::Human => print_rows(out, &rows, args.all)?,
    }
    Ok(ExitStatus::Success)
}

fn print_rows(out: &mut dyn Write, rows: &[Row], with_status: bool) -> io::Result<()> {
    if rows.is_empty() {
        return writeln!(out, "no threads");
    }
    let status = |s: &str| if with_status { format!(" {s:<17}") } else { String::new() };
    writeln!(
        out,
        "  # {:<40}{} {:<14} {:<12} {:>5} {:>5}  {:<19} query",
        "id",
        status("status"),
        "dataset",
        "session",
        "turns",
        "tools",
        "last modified"
    )?;
    for (i, r) in rows.iter().enumerate() {
        let query: String = r.query.chars().take(50).collect();
        let query = crate::text::terminal_safe(&query, false);
        let safe = |s: &str| crate::text::terminal_safe(s, false).into_owned();
        writeln!(
            out,
            "{:>3} {:<40}{} {:<14} {:<12} {:>5} {:>5}  {:<19} {query}",
            i + 1,
            safe(&r.id),
            status(&safe(&r.status)),
            safe(&r.dataset),
            safe(&r.session),
            r.turns,
            r.tool_calls,
            safe(r.last_modified.get(..19).unwrap_or(&r.last_modified))
        )?;
    }
    Ok(())
}

struct App {
    settings: Settings,
    generator: Generator,
    client: Arc<ChatClient>,
    prompts: Arc<Prompts>,
    budget: Arc<Budget>,
    gate: bool,
    /// The flags a printed command repeats so that it runs against the same folder, server and prices.
    same_run: Vec<String>,
}

/// A run's outcomes, and how long it took at what parallelism.
struct Ran {
    status: ExitStatus,
    outcomes: Vec<Outcome>,
    secs: f64,
    parallel: usize,
    pace: crate::generate::pace::PaceStats,
}

/// What happened to one thread of a run.
struct Outcome {
    id: String,
    result: Result<Ended, String>,
    /// Whether the thread's file exists (a failure before the first save leaves none).
    saved: bool,
    path: Option<PathBuf>,
    stats: LoopStats,
    usage: Usage,
    /// The recording a new thread was drawn for.
    pick: Option<Pick>,
    /// How long the thread took, and its answered requests.
    secs: f64,
    requests: u64,
    /// The quality gate's verdict on a thread that ended: the rules with error findings
    /// (empty: accepted). `None`: not judged.
    gate: Option<Vec<&'static crate::diagnostic::Rule>>,
}

/// New recordings for rejected threads, so that `--count` threads are accepted.
struct Refill {
    datasets: Vec<String>,
    balance: bool,
    seed: u64,
    /// Replacements drawn so far, and at most.
    drawn: AtomicU64,
    most: u64,
    taken: Mutex<HashSet<String>>,
}

impl Refill {
    /// A thread for another recording of the rejected one's label (with --balance) or any.
    fn another(&self, gen: &Generator, like: &Pick) -> Option<Job> {
        let n = self.drawn.fetch_add(1, Ordering::Relaxed);
        if n >= self.most {
            return None;
        }
        let mut rng = fastrand::Rng::with_seed(self.seed ^ (n + 1).wrapping_mul(0xa076_1d64_78bd_642f));
        for _ in 0..100 {
            let p = pick::pick(&gen.data_root, &self.datasets, 1, rng.u64(..), false).ok()?.pop()?;
            if !self.balance || p.ground_truth == like.ground_truth {
                let id = pick::new_id(&gen.threads_dir, &p, &mut rng, &mut self.taken.lock().expect("no panics while held"));
                return Some(Job::New(p, id));
            }
        }
        None
    }
}

enum Job {
    New(Pick, String),
    Resume(PathBuf),
}

impl App {
    fn new(settings: Settings, flags: &crate::cli::GenerateCommon) -> Result<App, CommandError> {
        if !settings.data_root.is_dir() {
            return Err(CommandError::Usage(format!(
                "--data-root {}: not a directory; point it at the folder that holds <dataset>/manifest.json",
                settings.data_root.display()
            )));
        }
        let Some(model) = settings.model.clone() else {
            return Err(CommandError::Usage("no model: give --model NAME (or `model` under [generate] in threadkit.toml)".into()));
        };
        let prompts = match Prompts::load(settings.prompts.as_deref()) {
            Ok(p) => p,
            Err(e) => {
                return Err(CommandError::Usage(e.to_string()));
            }
        };
        // What a killed run left half-written is removed before anything new is written.
        if let Err(e) = std::fs::create_dir_all(&settings.threads_dir) {
            return Err(CommandError::Usage(format!("--threads-dir {}: {e}", settings.threads_dir.display())));
        }
        // The thread files, the rejected ones and the budget's ledger: each folder a run writes.
        let ledger_dir = settings.threads_dir.join(budget::LEDGER);
        for dir in [
            settings.threads_dir.as_path(),
            &crate::generate::gate::rejected_dir(&settings.threads_dir),
            ledger_dir.parent().unwrap_or(&settings.threads_dir),
        ] {
            crate::write::remove_stale_temporaries(dir);
        }
        let price = match (&flags.price, &flags.prices) {
            (Some(p), _) => Some(*p),
            (None, Some(file)) => Some(Price::from_file(file, &model).map_err(CommandError::Usage)?),
            (None, None) => None,
        };
        if flags.max_cost.is_some() && price.is_none() {
            return Err(CommandError::Usage(
                "--max-cost needs prices: give --price in=…,out=…[,cached=…] (USD per million tokens) or --prices prices.toml; \
                 --max-tokens caps tokens without prices"
                    .into(),
            ));
        }
        let caps = Caps { max_cost: flags.max_cost, max_tokens: flags.max_tokens };
        let budget = Arc::new(Budget::new(&settings.threads_dir, price, caps));
        let mut same_run = Vec::new();
        if let Some(c) = &flags.config {
            same_run.extend(["--config".to_string(), c.display().to_string()]);
        }
        if flags.no_quality_gate {
            same_run.push("--no-quality-gate".into());
        }
        for (flag, value) in [
            ("--data-root", Some(settings.data_root.display().to_string())),
            ("--threads-dir", Some(settings.threads_dir.display().to_string())),
            ("--base-url", Some(settings.base_url.clone())),
            ("--model", Some(model.clone())),
            ("--price", price.filter(|_| flags.prices.is_none()).map(|p| p.spec())),
            ("--prices", flags.prices.as_ref().map(|f| f.display().to_string())),
        ] {
            if let Some(v) = value {
                same_run.extend([flag.to_string(), v]);
            }
        }
        let api_key = ClientConfig::key_from_env();
        let client = ChatClient::new(ClientConfig {
            base_url: settings.base_url.clone(),
            model: model.clone(),
            api_key,
            timeout: settings.timeout,
            attempts: settings.http_attempts,
            backoff: Duration::from_millis(500),
            max_completion_tokens: settings.max_completion_tokens,
        })
        .with_budget(budget.clone());
        let mut metadata = Map::new();
        metadata.insert("generator".into(), json!(format!("threadkit {}", env!("CARGO_PKG_VERSION"))));
        metadata.insert("model".into(), json!(model));
        metadata.insert("query_temperature".into(), json!(settings.query_temperature));
        metadata.insert("step_temperature".into(), json!(settings.step_temperature));
        metadata.insert("structured_output".into(), serde_json::to_value(settings.structured).expect("enum"));
        let loop_settings = LoopSettings {
            max_turns: settings.max_turns,
            min_tool_calls: settings.min_tool_calls,
            max_retries: settings.max_retries,
        };
        let generator =
            Generator::new(DataRoot::new(&settings.data_root), settings.threads_dir.clone(), loop_settings, metadata);
        Ok(App { settings, generator, client: Arc::new(client), prompts: Arc::new(prompts), budget, gate: !flags.no_quality_gate, same_run })
    }

    /// `new`'s datasets, seed and balance: the flags over the settings file.
    fn draw_settings(&self, new: &crate::cli::GenerateNewArgs) -> (Vec<String>, u64, bool) {
        let file = &self.settings.file;
        let datasets =
            if new.dataset.is_empty() { file.datasets.clone().unwrap_or_default() } else { new.dataset.clone() };
        let seed = new.seed.or(file.seed).unwrap_or_else(random_seed);
        (datasets, seed, new.balance || file.balance.unwrap_or(false))
    }

    fn policy(&self) -> ModelPolicy {
        ModelPolicy::new(
            self.client.clone(),
            self.prompts.clone(),
            ModelSettings {
                structured: self.settings.structured,
                query_temperature: self.settings.query_temperature,
                step_temperature: self.settings.step_temperature,
                context_tokens: self.settings.context_tokens,
            },
        )
    }

    #[allow(clippy::too_many_arguments)]
    #[allow(clippy::too_many_arguments)]
    fn new_threads(
        &self,
        datasets: &[String],
        count: usize,
        seed: u64,
        balance: bool,
        mode: &ModeArgs,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> Result<Ran, CommandError> {
        let datasets =
            if datasets.is_empty() { self.generator.data_root.datasets() } else { datasets.to_vec() };
        // A typo is a usage error before anything is created, not a raw OS error per thread.
        for d in &datasets {
            if let Err(e) = self.generator.data_root.check_dataset(d) {
                return Err(CommandError::Usage(format!("--dataset: {e}")));
            }
        }
        if datasets.is_empty() {
            return Err(CommandError::Usage(format!("no dataset (a folder with manifest.json) under {}", self.generator.data_root.root.display())));
        }
        // A fixed seed reproduces the picks for a given folder; the number of threads
        // already there is mixed in, so the next run with the same seed draws new recordings.
        let existing = listing::list(&self.settings.threads_dir).len() as u64;
        let seed = seed ^ existing.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let picks = match pick::pick(&self.generator.data_root, &datasets, count, seed, balance) {
            Ok(p) => p,
            Err(e) => {
                return Err(CommandError::Usage(e.to_string()));
            }
        };
        let mut rng = fastrand::Rng::with_seed(seed ^ 0x9e37_79b9_7f4a_7c15);
        let mut taken = HashSet::new();
        let refill_seed = rng.u64(..);
        let jobs: Vec<Job> = picks
            .into_iter()
            .map(|p| {
                let id = pick::new_id(&self.generator.threads_dir, &p, &mut rng, &mut taken);
                Job::New(p, id)
            })
            .collect();
        let mut again: Vec<String> = Vec::new();
        if !datasets.is_empty() {
            again.extend(["--dataset".into(), datasets.join(",")]);
        }
        if balance {
            again.push("--balance".into());
        }
        let refill = Refill {
            datasets: datasets.clone(),
            balance,
            seed: refill_seed,
            drawn: AtomicU64::new(0),
            // A model whose threads are mostly rejected is stopped, not run forever.
            most: 2 * count as u64 + 10,
            taken: Mutex::new(taken),
        };
        self.run_jobs(jobs, mode, Some((again, refill)), out, err)
    }

    fn continue_threads(
        &self,
        ids: &[String],
        max_turns_filter: Option<u64>,
        mode: &ModeArgs,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> Result<ExitStatus, CommandError> {
        let active: Vec<Row> = listing::list(&self.settings.threads_dir)
            .into_iter()
            .filter(|r| r.status == "active")
            .filter(|r| max_turns_filter.is_none_or(|n| r.turns <= n))
            .collect();
        let chosen: Vec<PathBuf> = if !ids.is_empty() {
            let mut paths = Vec::new();
            for id in ids {
                let id = id.strip_suffix(".json").unwrap_or(id);
                // An id names a file in the threads folder and nothing else: `../x` would
                // reach a thread whose lock lives elsewhere.
                if let Err(why) = crate::dataset::layout::safe_name(id) {
                    return Err(CommandError::Usage(format!(
                        "{id:?} is not a thread id ({why}); give the id only, with --threads-dir for its folder"
                    )));
                }
                let path = self.settings.threads_dir.join(format!("{id}.json"));
                if !path.is_file() {
                    return Err(CommandError::Usage(format!(
                        "no thread {id} in {}; `threadkit generate list` shows them",
                        self.settings.threads_dir.display()
                    )));
                }
                paths.push(path);
            }
            paths
        } else if mode.mode() == Mode::Interactive {
            if active.is_empty() {
                writeln!(out, "no active threads in {}", crate::text::shown(&self.settings.threads_dir))?;
                return Ok(ExitStatus::Success);
            }
            print_rows(out, &active, false)?;
            match ask(out, &format!("continue which thread? [1-{}, q] ", active.len()))? {
                Some(answer) => match answer.parse::<usize>() {
                    Ok(n) if (1..=active.len()).contains(&n) => vec![active[n - 1].path.clone()],
                    _ => return Ok(ExitStatus::Success),
                },
                None => return Ok(ExitStatus::Success),
            }
        } else {
            active.iter().map(|r| r.path.clone()).collect()
        };
        self.run_jobs(chosen.into_iter().map(Job::Resume).collect(), mode, None, out, err).map(|r| r.status)
    }

    /// Before the first thread is created: a key where the endpoint needs one, and one
    /// request that shows the server is there and takes the key. A dead server or a refused
    /// key is one message and exit 2, not one failure per thread after minutes of retries.
    fn ready(&self) -> Result<(), CommandError> {
        let config = self.client.config();
        if config.api_key.is_none() && config.base_url.contains("api.openai.com") {
            return Err(CommandError::Usage(format!(
                "no API key for {}: set OPENAI_API_KEY (or THREADKIT_API_KEY), or point --base-url at \
                 another OpenAI-compatible server (a local llama.cpp needs none)",
                config.base_url
            )));
        }
        if let Err(e) = self.client.preflight() {
            return Err(CommandError::Usage(e.to_string()));
        }
        Ok(())
    }

    /// `generate plan`: the pilot (a run of new threads, kept), then the projection for `count`.
    #[allow(clippy::too_many_arguments)]
    fn plan(
        &self,
        datasets: &[String],
        count: usize,
        pilot: usize,
        seed: u64,
        balance: bool,
        mode: &ModeArgs,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> Result<ExitStatus, CommandError> {
        if mode.interactive {
            return Err(CommandError::Usage("generate plan runs its pilot in batch mode; leave out --interactive".into()));
        }
        let batch = ModeArgs { interactive: false, batch: true, ..mode.clone() };
        let pilot = pilot.min(count);
        // The pilot's own summary goes into the plan's (as a "pilot" member in JSON).
        let mut pilot_out = Vec::new();
        let ran = self.new_threads(datasets, pilot, seed, balance, &batch, &mut pilot_out, err)?;
        let pilot_text = String::from_utf8_lossy(&pilot_out).into_owned();
        let measured: Vec<crate::generate::plan::Measured> = ran
            .outcomes
            .iter()
            .map(|o| crate::generate::plan::Measured {
                usage: o.usage,
                secs: o.secs,
                requests: o.requests,
                steps: o.stats.steps,
                accepted: o.result.is_ok() && o.gate.as_ref().is_none_or(|r| r.is_empty()),
            })
            .collect();
        // Where the server pushed back, the rate it allowed bounds the run, whatever --parallel says.
        let rate = (ran.pace.rejected > 0 && ran.secs > 0.0).then(|| ran.pace.answered as f64 / ran.secs);
        let projection =
            crate::generate::plan::project(&measured, count, ran.parallel, self.budget.price(), rate, ran.secs, seed ^ 0x5eed);
        let accepted = measured.iter().filter(|m| m.accepted).count();
        let left = count.saturating_sub(accepted);
        let mut go_on = self.same_run.clone();
        go_on.extend(["--batch".into(), "--parallel".into(), ran.parallel.to_string()]);
        if !datasets.is_empty() {
            go_on.extend(["--dataset".into(), datasets.join(",")]);
        }
        if balance {
            go_on.push("--balance".into());
        }
        go_on.extend(["--count".into(), left.to_string()]);
        if let Some(c) = self.budget.caps().max_cost {
            go_on.extend(["--max-cost".into(), format!("{c}")]);
        }
        if let Some(t) = self.budget.caps().max_tokens {
            go_on.extend(["--max-tokens".into(), t.to_string()]);
        }
        let command = shell_command("new", &go_on);
        if mode.format == Format::Json {
            let pilot_doc: Value = serde_json::from_str(&pilot_text).unwrap_or(Value::Null);
            let doc = json!({"pilot": pilot_doc, "pilot_accepted": accepted, "projection": projection,
                             "remaining": left, "continue": (left > 0).then_some(&command)});
            writeln!(out, "{}", crate::text::json_pretty(&doc))?;
        } else {
            write!(out, "pilot: {pilot_text}")?;
            match &projection {
                None => writeln!(
                    out,
                    "no pilot thread was accepted, so nothing says what an accepted thread costs; \
                     look at the pilot's threads (and rejected/) before a larger run"
                )?,
                Some(p) => print_projection(out, p, &measured, accepted)?,
            }
            if left > 0 && projection.is_some() {
                writeln!(out, "the pilot's {accepted} accepted threads count; go on with:\n  {}", crate::text::terminal_safe(&command, false))?;
            }
        }
        Ok(match (ran.status, &projection) {
            (ExitStatus::Success, Some(_)) => ExitStatus::Success,
            (ExitStatus::Error, _) => ExitStatus::Error,
            _ => ExitStatus::Failure,
        })
    }

    /// `new`: for new threads, the flags of `generate new` (besides the shared ones and
    /// --count) that a printed command to go on with repeats, and where replacements for
    /// rejected threads come from.
    fn run_jobs(
        &self,
        jobs: Vec<Job>,
        mode: &ModeArgs,
        new: Option<(Vec<String>, Refill)>,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> Result<Ran, CommandError> {
        if !jobs.is_empty() {
            self.ready()?;
            self.budget.begin().map_err(CommandError::Usage)?;
        }
        let started = std::time::Instant::now();
        let total = jobs.len();
        let parallel = match mode.mode() {
            Mode::Interactive => 1,
            Mode::Batch => mode.jobs.or(self.settings.file.jobs).unwrap_or(1).max(1),
        };
        self.client.set_parallel(parallel);
        let outcomes = match mode.mode() {
            Mode::Interactive => {
                let mut outcomes = Vec::new();
                for job in jobs {
                    if self.client.endpoint_down().is_some() || !self.budget.can_start() {
                        break;
                    }
                    let mut observer = Terminal { out: &mut *out, shown: None };
                    let o = self.run_one(job, &mut observer);
                    let quit = matches!(o.result, Ok(Ended::Quit));
                    report_one(&mut *out, &o)?;
                    outcomes.push(o);
                    if quit {
                        break;
                    }
                }
                outcomes
            }
            Mode::Batch => self.run_batch(jobs, parallel, mode.quiet, new.as_ref().map(|n| &n.1)),
        };
        let mut shared = self.same_run.clone();
        if mode.mode() == Mode::Batch {
            shared.extend(["--batch".into(), "--parallel".into(), parallel.to_string()]);
        }
        let end = RunEnd {
            total,
            endpoint_down: self.client.endpoint_down(),
            pace: self.client.pace(),
            budget: &self.budget,
            shared,
            replacements_ran_out: new.as_ref().is_some_and(|n| n.1.drawn.load(Ordering::Relaxed) > n.1.most),
            again: new.map(|n| n.0),
        };
        let status = summary(out, err, &outcomes, &end, mode.format)?;
        Ok(Ran { status, outcomes, secs: started.elapsed().as_secs_f64(), parallel, pace: end.pace })
    }

    fn run_one(&self, job: Job, observer: &mut dyn Observer) -> Outcome {
        let began = std::time::Instant::now();
        let mut policy = self.policy();
        let mut stats = LoopStats::default();
        let is_new = matches!(job, Job::New(..));
        let mut pick = None;
        let (id, started) = match job {
            Job::New(p, id) => {
                let a = self.generator.start(&p, &id, &mut policy, &mut stats);
                pick = Some(p);
                (id, a)
            }
            Job::Resume(path) => {
                let id = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
                (id, self.generator.resume(&path))
            }
        };
        let mut path = None;
        let mut id = id;
        let mut discarded = false;
        let mut gate = None;
        let result = started.and_then(|mut active| {
            path = Some(active.thread.path.clone());
            id = active.thread.id().to_string();
            crate::generate::in_progress::started(&id, &active.thread.path);
            let ended = self.generator.run(&mut active, &mut policy, observer, &mut stats);
            // Quit before a single step was accepted: the new file holds only the question;
            // nothing of the person's review is lost by not keeping it.
            if is_new && matches!(ended, Ok(Ended::Quit)) && active.thread.steps() == 0 {
                discarded = std::fs::remove_file(&active.thread.path).is_ok();
            }
            if self.gate && matches!(ended, Ok(Ended::Finished { .. } | Ended::MaxTurns)) {
                let findings = crate::generate::gate::judge(&active.thread.doc, &self.generator.data_root);
                if !findings.is_empty() {
                    // Still under the thread's lock: no other run moves or continues it meanwhile.
                    match crate::generate::gate::reject(&active.thread.path, &findings) {
                        Ok(moved) => path = Some(moved),
                        Err(e) => {
                            crate::generate::in_progress::ended(&id);
                            return Err(format!("quality gate: {e}"));
                        }
                    }
                }
                let mut rules: Vec<&'static crate::diagnostic::Rule> = findings.iter().map(|d| d.rule).collect();
                rules.sort_by_key(|r| r.code);
                rules.dedup_by_key(|r| r.code);
                gate = Some(rules);
            }
            crate::generate::in_progress::ended(&id);
            ended
        });
        let saved = !discarded && path.as_ref().is_some_and(|p| p.is_file());
        Outcome { id, result, saved, path: path.filter(|_| saved), stats, usage: policy.usage(), pick, gate,
                  secs: began.elapsed().as_secs_f64(), requests: policy.requests() }
    }

    fn run_batch(&self, jobs: Vec<Job>, workers: usize, quiet: bool, refill: Option<&Refill>) -> Vec<Outcome> {
        let total = jobs.len() as u64;
        let queue = Mutex::new(jobs.into_iter().collect::<VecDeque<_>>());
        let outcomes = Mutex::new(Vec::new());
        let counters = Counters::new(total, &self.client, &self.budget);
        let bar = crate::progress::Progress::new("threads", Some(total), quiet);
        std::thread::scope(|scope| {
            for _ in 0..workers.min(total.max(1) as usize) {
                scope.spawn(|| loop {
                    // Once the endpoint is known to be unusable, or what is left of the budget
                    // would not cover a thread, no further thread is started.
                    if self.client.endpoint_down().is_some() || !self.budget.can_start() {
                        break;
                    }
                    let Some(job) = queue.lock().expect("no panics while held").pop_front() else { break };
                    let mut observer = BatchObserver { counters: &counters, bar: &bar };
                    let o = self.run_one(job, &mut observer);
                    if o.result.is_ok() {
                        self.budget.thread_done(&o.usage);
                    }
                    counters.failed.fetch_add(u64::from(o.result.is_err()), Ordering::Relaxed);
                    let rejected = o.gate.as_ref().is_some_and(|rules| !rules.is_empty());
                    // A rejected thread does not count: another recording takes its place.
                    let replaced = rejected
                        && o.pick.as_ref().and_then(|p| refill?.another(&self.generator, p)).map(|job| {
                            queue.lock().expect("no panics while held").push_back(job);
                        }).is_some();
                    if rejected {
                        counters.rejected.fetch_add(1, Ordering::Relaxed);
                    }
                    if !replaced {
                        counters.done.fetch_add(1, Ordering::Relaxed);
                        bar.inc(1);
                    }
                    bar.set_message(counters.message());
                    outcomes.lock().expect("no panics while held").push(o);
                });
            }
        });
        bar.finish();
        let mut outcomes = outcomes.into_inner().expect("no panics while held");
        outcomes.sort_by(|a, b| a.id.cmp(&b.id));
        outcomes
    }

    /// The old tool's menu: totals, the turns histogram, and new / continue / export / quit.
    fn main_screen(&self, out: &mut dyn Write, err: &mut dyn Write) -> Result<ExitStatus, CommandError> {
        loop {
            let rows = listing::list(&self.settings.threads_dir);
            let mut by_status: BTreeMap<&str, usize> = BTreeMap::new();
            let mut histogram: BTreeMap<u64, usize> = BTreeMap::new();
            for r in &rows {
                *by_status.entry(r.status.as_str()).or_default() += 1;
                *histogram.entry(r.turns).or_default() += 1;
            }
            writeln!(
                out,
                "\nthreads in {}: {} active, {} finished, {} stopped at the turn limit",
                crate::text::shown(&self.settings.threads_dir),
                by_status.get("active").unwrap_or(&0),
                by_status.get("finished").unwrap_or(&0),
                by_status.get("max_turns_reached").unwrap_or(&0)
            )?;
            let widest = histogram.values().copied().max().unwrap_or(1);
            for (turns, n) in &histogram {
                let bar = "#".repeat((n * 40).div_ceil(widest));
                writeln!(out, "  {turns:>3} turns | {bar} {n}")?;
            }
            let Some(choice) = ask(out, "[n]ew thread, [c]ontinue a thread, [e]xport, [q]uit: ")? else {
                return Ok(ExitStatus::Success);
            };
            let interactive = ModeArgs { interactive: true, batch: false, jobs: None, format: Format::Human, quiet: false };
            match choice.as_str() {
                "n" | "new" => {
                    self.new_threads(&[], 1, random_seed(), false, &interactive, out, err)?;
                }
                "c" | "continue" => {
                    self.continue_threads(&[], None, &interactive, out, err)?;
                }
                "e" | "export" => {
                    let profile =
                        ask(out, "profile [openai|trl|axolotl|llama-factory|raw] (openai): ")?.unwrap_or_default();
                    let profile = if profile.is_empty() { "openai".to_string() } else { profile };
                    let default_out = self
                        .settings
                        .threads_dir
                        .parent()
                        .unwrap_or(&self.settings.threads_dir)
                        .join("exports")
                        .join(&profile);
                    let args = [
                        "threadkit",
                        "export",
                        &self.settings.threads_dir.display().to_string(),
                        "--profile",
                        &profile,
                        "--out",
                        &default_out.display().to_string(),
                    ];
                    match <crate::cli::Cli as clap::Parser>::try_parse_from(args) {
                        Ok(cli) => {
                            super::run(cli, out, err);
                        }
                        Err(e) => writeln!(err, "{e}")?,
                    }
                }
                "q" | "quit" => return Ok(ExitStatus::Success),
                _ => writeln!(out, "choose n, c, e or q")?,
            }
        }
    }
}

/// Read one trimmed, lower-cased answer from stdin; `None` at end of input.
fn ask(out: &mut dyn Write, question: &str) -> io::Result<Option<String>> {
    write!(out, "{question}")?;
    out.flush()?;
    let mut line = String::new();
    if io::stdin().lock().read_line(&mut line)? == 0 {
        writeln!(out)?;
        return Ok(None);
    }
    Ok(Some(line.trim().to_lowercase()))
}

/// Interactive review: the question, then every proposed step, each accepted,
/// regenerated or the run stopped.
struct Terminal<'a> {
    out: &'a mut dyn Write,
    /// The thread whose question was shown.
    shown: Option<String>,
}

/// Lines of a tool result shown before `[e]xpand` is offered.
const RESULT_LINES: usize = 16;

impl Observer for Terminal<'_> {
    fn review(&mut self, thread: &ThreadDoc, step: &Step, result: Option<&Value>) -> Review {
        let pretty = result.map(|r| serde_json::to_string_pretty(r).expect("a Value serializes"));
        let long = pretty.as_ref().is_some_and(|p| p.lines().count() > RESULT_LINES);
        // Everything below comes from the model, the data or the tools: never raw to the terminal.
        let (line, lines) = (|s: &str| terminal_safe(s, false).into_owned(), |s: &str| terminal_safe(s, true).into_owned());
        let show = |out: &mut dyn Write, shown: &mut Option<String>| -> io::Result<()> {
            if shown.as_deref() != Some(thread.id()) {
                let m = &thread.doc["metadata"];
                let field = |k: &str| line(m[k].as_str().unwrap_or("?"));
                writeln!(out, "\n══ {} · {} / {}", line(thread.id()), field("dataset"), field("session"))?;
                writeln!(out, "question: {}", lines(m["user_query"].as_str().unwrap_or("")))?;
                *shown = Some(thread.id().to_string());
            }
            writeln!(out, "\n── step {} · {}", thread.steps() + 1, step.action())?;
            writeln!(out, "reasoning: {}", lines(step.reasoning()))?;
            match step {
                Step::UseTool { tool, arguments, .. } => {
                    writeln!(out, "tool:      {}", line(tool))?;
                    writeln!(out, "arguments: {}", line(&arguments.to_string()))?;
                    if let Some(p) = &pretty {
                        let shown_lines: Vec<&str> = p.lines().collect();
                        writeln!(out, "result:")?;
                        for l in shown_lines.iter().take(RESULT_LINES) {
                            writeln!(out, "  {}", line(l))?;
                        }
                        if shown_lines.len() > RESULT_LINES {
                            writeln!(out, "  … {} more lines ([e]xpand shows them)", shown_lines.len() - RESULT_LINES)?;
                        }
                    }
                }
                Step::Respond { message, .. } => writeln!(out, "message:   {}", lines(message))?,
                Step::Finish { .. } => writeln!(out, "(the model asks for the final answer next)")?,
            }
            Ok(())
        };
        if show(&mut *self.out, &mut self.shown).is_err() {
            return Review::Quit;
        }
        let choices = if long { "[a]ccept, [r]egenerate, [e]xpand, [q]uit (a): " } else { "[a]ccept, [r]egenerate, [q]uit (a): " };
        loop {
            match ask(&mut *self.out, choices) {
                Ok(Some(a)) if a.is_empty() || a == "a" => return Review::Accept,
                Ok(Some(a)) if a == "r" => return Review::Regenerate,
                Ok(Some(a)) if a == "q" => return Review::Quit,
                Ok(Some(a)) if a == "e" && long => {
                    let _ = writeln!(self.out, "{}", lines(pretty.as_deref().unwrap_or("")));
                }
                Ok(Some(a)) => {
                    let valid = if long { "a, r, e or q" } else { "a, r or q" };
                    let _ = writeln!(self.out, "{a:?} is not a choice: answer {valid} (Enter accepts)");
                }
                // End of input: stop here; every accepted step is saved.
                _ => return Review::Quit,
            }
        }
    }

    fn rejected_proposal(&mut self, problem: &str) {
        let _ = writeln!(self.out, "(unusable reply, asking again: {})", terminal_safe(problem, true));
    }
}

struct Counters<'a> {
    failed: AtomicU64,
    rejected: AtomicU64,
    done: AtomicU64,
    steps: AtomicU64,
    tool_errors: AtomicU64,
    total: u64,
    started: std::time::Instant,
    client: &'a ChatClient,
    budget: &'a Budget,
}

impl Counters<'_> {
    fn new<'a>(total: u64, client: &'a ChatClient, budget: &'a Budget) -> Counters<'a> {
        Counters {
            failed: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            done: AtomicU64::new(0),
            steps: AtomicU64::new(0),
            tool_errors: AtomicU64::new(0),
            total,
            started: std::time::Instant::now(),
            client,
            budget,
        }
    }

    /// The progress line's message: what a person leaving a run needs to see at a glance.
    fn message(&self) -> String {
        let pace = self.client.pace();
        let minutes = self.started.elapsed().as_secs_f64() / 60.0;
        let per_min = if minutes > 0.0 { self.client.usage().total() as f64 / minutes } else { 0.0 };
        let done = self.done.load(Ordering::Relaxed);
        let eta = if done > 0 && done < self.total {
            let left = minutes * 60.0 * (self.total - done) as f64 / done as f64;
            format!(" · ETA {}", short_duration(left))
        } else {
            String::new()
        };
        let mut rejected = if pace.rejected > 0 { format!(" · {} rate-limited", pace.rejected) } else { String::new() };
        let gated = self.rejected.load(Ordering::Relaxed);
        if gated > 0 {
            rejected.push_str(&format!(" · {gated} rejected by the gate"));
        }
        let spent = self.budget.account().committed();
        if self.budget.price().is_some() {
            rejected.push_str(&format!(" · ${:.2}", spent.usd));
        }
        format!(
            "parallel {} · {} tok/min{rejected} · failed {} · steps {} · tool errors {}{eta}",
            pace.parallelism,
            si(per_min),
            self.failed.load(Ordering::Relaxed),
            self.steps.load(Ordering::Relaxed),
            self.tool_errors.load(Ordering::Relaxed),
        )
    }
}

struct BatchObserver<'a> {
    counters: &'a Counters<'a>,
    bar: &'a crate::progress::Progress,
}

impl Observer for BatchObserver<'_> {
    fn review(&mut self, _: &ThreadDoc, _: &Step, result: Option<&Value>) -> Review {
        if result.is_some_and(|r| r.get("error").is_some()) {
            self.counters.tool_errors.fetch_add(1, Ordering::Relaxed);
        }
        Review::Accept
    }

    fn saved(&mut self, _: &ThreadDoc) {
        self.counters.steps.fetch_add(1, Ordering::Relaxed);
        self.bar.set_message(self.counters.message());
    }
}
