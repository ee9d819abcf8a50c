//! Raw command-line arguments, as clap parses them. Commands turn these into
//! checked settings; nothing here is trusted yet.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::report::Format;

#[derive(Debug, Parser)]
#[command(name = "threadkit", version = VERSION, about = "Validate, migrate, generate and export tool-use chain-of-thought threads", long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check thread files (.json, .jsonl) against their schema and threadkit's rules.
    #[command(after_help = "EXAMPLES:\n  threadkit validate threads/ --data-root data          # check threads (and their datasets)\n  threadkit validate threads/ --format json > report.json\n  threadkit validate threads/ --fix --dry-run           # show the safe fixes as diffs\n  threadkit validate --profile openai exports/openai/   # check training files")]
    Validate(ValidateArgs),
    /// Count threads by version, status, dataset and label; tool usage and turns.
    #[command(after_help = "EXAMPLES:\n  threadkit stats threads/\n  threadkit stats threads/ --format json")]
    Stats(StatsArgs),
    /// Convert legacy `3.0`/`2.0` threads to `openai_v1` (originals kept in a backup folder), or back with --reverse.
    #[command(after_help = "EXAMPLES:\n  threadkit migrate threads/ --data-root data       # in place; originals → threads_v3_backup/\n  threadkit migrate threads/ --out converted/       # write elsewhere, touch nothing\n  threadkit migrate threads/ --dry-run              # the plan only\n  threadkit migrate converted/ --reverse --out v3/  # back to 3.0")]
    Migrate(MigrateArgs),
    /// Check, describe and import sensor datasets (manifest.json, labels.json, sessions/<id>/data.parquet).
    #[command(after_help = "EXAMPLES:\n  threadkit dataset list data/\n  threadkit dataset check data/basic_motions -q\n  threadkit dataset info data/basic_motions --format json\n  threadkit dataset import --from uea-ts X_TRAIN.ts X_TEST.ts --out data/x --sampling-rate-hz 10")]
    Dataset(DatasetArgs),
    /// The analysis tools: list them, print the OpenAI `tools` array, or run one from the shell.
    #[command(after_help = "EXAMPLES:\n  threadkit tools list\n  threadkit tools schema compute_features\n  threadkit tools run compute_features --data-root data --session train_0003")]
    Tools(ToolsArgs),
    /// Generate threads: a model asks a question, calls real tools on a real recording, and answers.
    #[command(after_help = "EXAMPLES:\n  threadkit generate new --data-root data --model gpt-4o-mini              # review each step\n  threadkit generate new --data-root data --model m --count 200 --batch --parallel 8\n  threadkit generate continue                                              # pick an active thread\n  threadkit generate list --all\n  threadkit generate prompts --dump my_prompts/")]
    Generate(GenerateArgs),
    /// Convert training files between trainer formats (`export --from auto`): each example is checked by its
    /// own format's rules, then written as --to (alias of --profile) writes it.
    #[command(after_help = "EXAMPLES:\n  threadkit convert data/glaive_toolcall_en_demo.json --to openai --out exports/openai\n  threadkit convert train.jsonl --from trl --to llama-factory --out exports/lf")]
    Convert(ExportArgs),
    /// Turn validated threads into training files (OpenAI, TRL, Axolotl, LLaMA-Factory, raw).
    #[command(after_help = "EXAMPLES:\n  threadkit export threads/ --profile openai --out exports/openai --split train=0.9,val=0.1\n  threadkit export threads/ --profile trl --out exports/trl --correct-only --min-tool-calls 2\n  threadkit export threads/ --profile raw --out archive.jsonl.gz --status all")]
    Export(ExportArgs),
    /// Re-run every recorded tool call of every thread and report results that differ.
    #[command(after_help = "EXAMPLES:\n  threadkit verify threads/ --data-root data\n  threadkit verify threads/ --data-root data --format json -q")]
    Verify(VerifyArgs),
    /// A thread as a transcript: question, reasoning, calls, results, answer vs ground truth, findings inline.
    #[command(after_help = "EXAMPLES:\n  threadkit show threads/uci_har_train_01_0000_v4_0001.json\n  threadkit show thread.json --full --format md > thread.md\n  threadkit show thread.json --format html > thread.html")]
    Show(ShowArgs),
    /// One self-contained HTML page: totals, charts, accuracy, findings by rule, and a thread browser.
    #[command(after_help = "EXAMPLES:\n  threadkit report threads/ --out report.html\n  threadkit report threads/ --out report.html --data-root data     # with recording plots and replay status")]
    Report(ReportArgs),
    /// List the rules, or explain one (`threadkit rules TK201`).
    #[command(after_help = "EXAMPLES:\n  threadkit rules\n  threadkit rules TK201\n  threadkit rules tool-call-unanswered")]
    Rules(RulesArgs),
    /// Audit what threads teach: ungrounded numbers, answers against the evidence, leaked labels,
    /// loops, ignored tool errors, degenerate reasoning, near-duplicates and eval overlap.
    #[command(after_help = "EXAMPLES:\n  threadkit quality threads/ --data-root data\n  threadkit quality threads/ --against eval/ --format json > quality.json\n  threadkit quality threads/ --select number-not-grounded,TKQ05\n  threadkit rules TKQ01                                   # what a rule finds, with a bad and a good example")]
    Quality(QualityArgs),
    /// One JSON report from the JSON reports of N shards (`--shard I/N`) of validate, quality, verify or stats;
    /// or one manifest from the `export.json` of N export shards, each part's files checked whole
    /// (LLaMA-Factory and Axolotl parts: and one `dataset_info.json` / `axolotl.yaml` naming them all, beside --out).
    #[command(after_help = "EXAMPLES:\n  for i in 1 2 3 4; do threadkit validate threads/ --shard $i/4 --format json > v$i.json; done\n  threadkit merge v1.json v2.json v3.json v4.json > validate.json\n  threadkit merge stats-*.json --out stats.json\n  threadkit merge --partial v1.json v2.json > node1.json   # some shards now, the rest later\n  threadkit merge exports/part-*/export.json --out exports/export.json   # every part there, every file whole")]
    Merge(MergeArgs),
    /// Print an embedded JSON Schema (`threadkit schema thread.openai_v1`), or list them.
    #[command(after_help = "EXAMPLES:\n  threadkit schema\n  threadkit schema thread.openai_v1 > thread.schema.json")]
    Schema(SchemaArgs),
    /// Print a shell completion script (`threadkit completions bash > /etc/bash_completion.d/threadkit`).
    Completions {
        /// bash, zsh, fish, powershell or elvish.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff): `threadkit man > threadkit.1 && man ./threadkit.1`.
    Man,
}

/// `0.1.0 (abc123def456, release)`: the version, the commit it was built from, the profile.
pub const VERSION: &str =
    concat!(env!("CARGO_PKG_VERSION"), " (", env!("THREADKIT_COMMIT"), ", ", env!("THREADKIT_PROFILE"), ")");

pub use crate::generate::config::DEFAULT_THREADS_DIR;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Args)]
pub struct WalkArgs {
    /// Files and directories to check (directories recursively: *.json, *.jsonl).
    #[arg(default_value = DEFAULT_THREADS_DIR)]
    pub paths: Vec<PathBuf>,
    /// Follow symbolic links met while walking directories.
    #[arg(long)]
    pub follow_links: bool,
    /// Skip files (and JSONL lines) larger than this (bytes, or with K, M, G: 64M) [default: 32M; at most 4G].
    #[arg(long, value_name = "SIZE", default_value = "32M", value_parser = parse_size)]
    pub max_file_size: u64,
    /// Worker threads (default: one per core; 1 to 256).
    #[arg(long, short = 'j', value_name = "N", value_parser = in_range::<usize>(1, 256))]
    pub jobs: Option<usize>,
    /// Only part I of N (1 <= I <= N), decided by a hash of each file's path below its argument: N
    /// processes with the same arguments and I = 1..N check every file exactly once.
    #[arg(long, value_name = "I/N", value_parser = crate::walk::Shard::parse)]
    pub shard: Option<crate::walk::Shard>,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub walk: WalkArgs,
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    pub format: Format,
    /// Apply the safe automatic fixes (atomically; the fixed file is re-validated before it is written).
    #[arg(long)]
    pub fix: bool,
    /// With --fix: print a unified diff per file and write nothing.
    #[arg(long, requires = "fix")]
    pub dry_run: bool,
    /// Folder of datasets (DIR/<dataset>/manifest.json, labels.json): check threads against it.
    #[arg(long, value_name = "DIR")]
    pub data_root: Option<PathBuf>,
    /// Treat warnings as failures (exit code 1).
    #[arg(long)]
    pub deny_warnings: bool,
    /// Rule codes or names to skip, comma-separated (e.g. TK008,metadata-counts).
    #[arg(long, value_delimiter = ',', value_name = "RULE")]
    pub ignore: Vec<String>,
    /// Print only the summary (human format).
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Colors in human output.
    #[arg(long, value_enum, default_value = "auto")]
    pub color: Color,
    /// Check training files (JSONL, .json arrays) against a trainer format's rules instead of threads
    /// (`auto`: each file's format recognised from its first example, and said).
    #[arg(long, value_enum)]
    pub profile: Option<FromFormat>,
    /// With --profile: the token limit per example (default for openai: 65536).
    #[arg(long, value_name = "N", requires = "profile", value_parser = in_range::<usize>(1, crate::export::MAX_TOKENS_LIMIT.into()))]
    pub max_tokens: Option<usize>,
    /// With --profile: the tokenizer that counts tokens.
    #[arg(long, value_enum, default_value = "o200k_base", requires = "profile")]
    pub tokenizer: crate::tokens::Tokenizer,
    /// With --profile trl or axolotl: render every example through the model's chat template
    /// (a .jinja file or its tokenizer_config.json) and report errors and what it does not render.
    #[arg(long, value_name = "FILE", requires = "profile")]
    pub chat_template: Option<PathBuf>,
}

impl WalkArgs {
    /// The walk's flags that change which files a run reads (a shard's report names them).
    pub fn settings(&self) -> Vec<String> {
        let mut s = vec![format!("--max-file-size {}", self.max_file_size)];
        if self.follow_links {
            s.push("--follow-links".into());
        }
        s
    }
}

/// A list of rules as a setting: by code, since `TK008` and `legacy-v3` are one rule, and
/// neither their order nor a repeat is a setting. A key that names no rule stays as written (the
/// command refuses it before any report is made).
fn rules_setting(flag: &str, keys: &[String]) -> Option<String> {
    let rules: std::collections::BTreeSet<String> =
        keys.iter().map(|k| crate::rules::find(k).map_or_else(|| k.clone(), |r| r.code.to_string())).collect();
    (!rules.is_empty()).then(|| format!("{flag} {}", rules.into_iter().collect::<Vec<_>>().join(",")))
}

impl ValidateArgs {
    /// The flags that change what a report says: folders only by whether they are given (a
    /// shard's node may mount them elsewhere), a chat template by its file name.
    pub fn settings(&self) -> Vec<String> {
        let mut s = self.walk.settings();
        s.extend(self.data_root.as_ref().map(|_| "--data-root".to_string()));
        s.extend(self.fix.then(|| if self.dry_run { "--fix --dry-run" } else { "--fix" }.to_string()));
        s.extend(rules_setting("--ignore", &self.ignore));
        if let Some(profile) = self.profile {
            s.push(format!("--profile {}", profile.to_possible_value().map_or(String::new(), |v| v.get_name().to_string())));
            s.push(format!("--tokenizer {}", self.tokenizer.name()));
            s.extend(self.max_tokens.map(|n| format!("--max-tokens {n}")));
            s.extend(self.chat_template.as_ref().map(|t| format!("--chat-template {}", t.file_name().unwrap_or_default().to_string_lossy())));
        }
        s
    }

    /// What `--fix` did, for the summary: `fixed` findings were written.
    pub fn fixing(&self, fixed: usize) -> crate::report::Fixing {
        use crate::report::Fixing;
        match (self.fix, self.dry_run) {
            (false, _) => Fixing::NotAsked,
            (true, true) => Fixing::DryRun,
            (true, false) => Fixing::Wrote(fixed),
        }
    }
}

impl QualityArgs {
    /// As `ValidateArgs::settings`: the eval set by how many paths name it.
    pub fn settings(&self) -> Vec<String> {
        let mut s = self.walk.settings();
        s.extend(self.data_root.as_ref().map(|_| "--data-root".to_string()));
        s.extend((!self.against.is_empty()).then(|| format!("--against ({} paths)", self.against.len())));
        s.extend(rules_setting("--select", &self.select));
        s.extend(rules_setting("--ignore", &self.ignore));
        s
    }
}

#[derive(Debug, Args)]
pub struct QualityArgs {
    #[command(flatten)]
    pub walk: WalkArgs,
    /// Folder of datasets: the labels an answer must be one of (and validate's data checks).
    #[arg(long, value_name = "DIR")]
    pub data_root: Option<PathBuf>,
    /// An evaluation set (threads, or a training export of any profile): threads about its
    /// recordings, or sharing its text, are `eval-overlap`.
    #[arg(long, value_name = "PATH")]
    pub against: Vec<PathBuf>,
    /// Output format (JSON: validate's report shape).
    #[arg(long, value_enum, default_value = "human")]
    pub format: Format,
    /// Only these quality rules, comma-separated codes or names (files that are not valid threads are reported whatever this says).
    #[arg(long, value_delimiter = ',', value_name = "RULE")]
    pub select: Vec<String>,
    /// Quality rules to skip, comma-separated codes or names.
    #[arg(long, value_delimiter = ',', value_name = "RULE")]
    pub ignore: Vec<String>,
    /// Treat warnings (`answer-wrong`) as failures (exit code 1).
    #[arg(long)]
    pub deny_warnings: bool,
    /// Print only the summary (human format).
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Colors in human output.
    #[arg(long, value_enum, default_value = "auto")]
    pub color: Color,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ShowFormat {
    /// Terminal text (coloured on a terminal).
    Human,
    /// Markdown.
    Md,
    /// One self-contained HTML page.
    Html,
    /// The transcript as JSON.
    Json,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Thread files (.json, or .jsonl for every line).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Show tool results whole (they are cut after a dozen lines).
    #[arg(long)]
    pub full: bool,
    #[arg(long, value_enum, default_value = "human")]
    pub format: ShowFormat,
    /// Colors in human output.
    #[arg(long, value_enum, default_value = "auto")]
    pub color: Color,
    /// Folder of datasets: check the thread against it (and migrate legacy threads with its manifests).
    #[arg(long, value_name = "DIR")]
    pub data_root: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub walk: WalkArgs,
    /// The HTML file to write (replaced atomically).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Folder of datasets: check threads against it, plot what each tool call looked at, and replay every call.
    #[arg(long, value_name = "DIR")]
    pub data_root: Option<PathBuf>,
    /// Tool results whole in transcripts (they are cut after a dozen lines).
    #[arg(long)]
    pub full: bool,
    /// An evaluation set (threads, or a training export of any profile), as `quality --against`:
    /// the quality section then lists `eval-overlap` too.
    #[arg(long, value_name = "PATH")]
    pub against: Vec<PathBuf>,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub walk: WalkArgs,
    /// Output folder, or a file ending in .jsonl (.jsonl.gz, .jsonl.zst) for a single unsplit file.
    #[arg(long, value_name = "FILE_OR_DIR")]
    pub out: PathBuf,
    /// The training format.
    #[arg(long, value_enum, visible_alias = "to")]
    pub profile: crate::export::format::Profile,
    /// Read training files (JSONL, or .json arrays) in this format instead of threads, and convert them
    /// (`auto`: recognise each example by its shape).
    #[arg(long, value_name = "FORMAT")]
    pub from: Option<FromFormat>,
    /// Statuses to export, comma-separated, or `all`.
    #[arg(long, value_delimiter = ',', default_value = "finished")]
    pub status: Vec<String>,
    /// Only threads whose final answer matched the ground truth (rejection sampling; what the
    /// quality rule `answer-wrong` finds).
    #[arg(long, visible_alias = "only-correct")]
    pub correct_only: bool,
    /// What the quality rules (`threadkit quality`) decide: deny leaves out threads with
    /// error-severity findings and all but the first of near-duplicates; warn exports them and
    /// counts the findings in export.json; off does not run them.
    #[arg(long, value_enum, default_value = "deny")]
    pub quality: crate::export::QualityMode,
    /// Only threads with at least N tool calls.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub min_tool_calls: usize,
    /// Only these datasets (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub dataset: Vec<String>,
    /// Only these ground-truth labels (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub label: Vec<String>,
    /// Leave out examples longer than N tokens (counted with --tokenizer; openai default: 65536).
    #[arg(long, value_name = "N", value_parser = in_range::<usize>(1, crate::export::MAX_TOKENS_LIMIT.into()))]
    pub max_tokens: Option<usize>,
    /// The tokenizer that counts tokens for --max-tokens and the statistics (OpenAI's, exact).
    #[arg(long, value_enum, default_value = "o200k_base")]
    pub tokenizer: crate::tokens::Tokenizer,
    /// Splits and their ratios, e.g. train=0.9,val=0.1 (grouped by recording: a session is never in two splits).
    #[arg(long, value_name = "NAME=RATIO,…")]
    pub split: Option<String>,
    /// hash: a recording's split follows from its dataset, session and --seed alone (adding threads never
    /// moves one; shards agree). stratified: each dataset and label in proportion, every split filled even
    /// in a small corpus, but decided on the whole set (adding threads may move recordings).
    #[arg(long, value_enum, default_value = "hash", requires = "split")]
    pub split_method: crate::export::split::Method,
    /// Seed of the split assignment.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// At most N examples per file (files are named NAME-00000-of-00003.jsonl).
    #[arg(long, value_name = "N", value_parser = in_range::<usize>(1, usize::MAX as u64))]
    pub shard_size: Option<usize>,
    /// Write each split as N files while the threads are read (SPLIT/SPLIT-00000-of-0000N.jsonl; an
    /// example's file is a hash of its id, lines in path order), instead of one file in id order after
    /// them: the write overlaps the work. Needs --split-method hash (or no --split).
    #[arg(long, value_name = "N", value_parser = in_range::<u32>(1, 4096), conflicts_with = "shard_size")]
    pub partitions: Option<u32>,
    /// Compress the JSONL files (gzip or zstd; for OpenAI, TRL and Axolotl loaders).
    #[arg(long, value_enum, default_value = "none")]
    pub compress: crate::export::sink::Compression,
    /// Text a format or chat template has no place for: drop it and report, or skip the thread.
    #[arg(long, value_enum, default_value = "drop")]
    pub unplaceable: crate::export::format::Unplaceable,
    /// With --chat-template: write the export even when the template leaves tool calls, tool results or
    /// assistant text out of what it renders (without it, such an export fails and writes nothing).
    #[arg(long, requires = "chat_template")]
    pub allow_template_drops: bool,
    /// llama-factory: how function_call turns are written (tool-call keeps the reasoning; LLaMA-Factory >= 0.9.4).
    #[arg(long, value_enum, default_value = "tool-call")]
    pub llama_factory_calls: crate::export::format::CallForm,
    /// trl, axolotl: the model's chat template (a .jinja file or its tokenizer_config.json). Every example is
    /// rendered through it; what it requires is applied (short ids, merged turns, string arguments, reasoning
    /// placement) and recorded in export.json; examples it fails on are skipped.
    #[arg(long, value_name = "FILE")]
    pub chat_template: Option<PathBuf>,
    /// Write an openai export with fewer than 10 examples in a file (OpenAI refuses such files).
    #[arg(long)]
    pub allow_few_examples: bool,
    /// Fail (write nothing) if any thread is invalid, instead of skipping it.
    #[arg(long)]
    pub strict: bool,
    /// Write into an --out folder that holds files no earlier export wrote (they are kept beside the new files).
    #[arg(long)]
    pub force: bool,
    /// Folder of datasets: validate threads against it, and supply manifests for legacy threads.
    #[arg(long, value_name = "DIR")]
    pub data_root: Option<PathBuf>,
    /// Name of the dataset in dataset_info.json / axolotl.yaml.
    #[arg(long, default_value = "threadkit")]
    pub name: String,
    #[arg(long, value_enum, default_value = "human")]
    pub format: Format,
    /// No preview and no list of skipped threads (human format).
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    #[command(flatten)]
    pub walk: WalkArgs,
    #[arg(long, value_enum, default_value = "human")]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct RulesArgs {
    /// A rule code or name; without it, all rules are listed.
    pub rule: Option<String>,
    #[arg(long, value_enum, default_value = "human")]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The JSON reports (`--format json`), or the `export.json`, of the shards of one run: every shard I = 1..N once.
    #[arg(required = true, num_args = 1..)]
    pub reports: Vec<PathBuf>,
    /// Merge some shards of a run now (one node's, say) and the rest later: the merged report
    /// lists the shards it holds, and merging it with the others needs every shard once.
    #[arg(long)]
    pub partial: bool,
    /// Write the merged report here (atomically) instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// thread.openai_v1, thread.v3, dataset.manifest or dataset.labels.
    pub name: Option<String>,
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub walk: WalkArgs,
    /// Write converted threads into DIR and leave the sources untouched.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Where originals go (default: the sibling `<folder>_v3_backup/` of each thread's folder).
    #[arg(long, value_name = "DIR", conflicts_with = "out")]
    pub backup_dir: Option<PathBuf>,
    /// Only move legacy files into the backup folder; convert nothing.
    #[arg(long, conflicts_with_all = ["out", "reverse"])]
    pub backup_only: bool,
    /// Print the plan (and diffs where a target exists with other content); change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Convert `openai_v1` threads back to `3.0` (needs --out; sources are never touched).
    #[arg(long, requires = "out")]
    pub reverse: bool,
    /// Folder of datasets: manifests for threads whose `initial_context` lacks one.
    #[arg(long, value_name = "DIR")]
    pub data_root: Option<PathBuf>,
    /// Output format: human, or one JSON document listing every thread's action.
    #[arg(long, value_enum, default_value = "human")]
    pub format: Format,
    /// Print only the summary (human format), and no progress.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct DatasetArgs {
    #[command(subcommand)]
    pub command: DatasetCommand,
}

#[derive(Debug, Subcommand)]
pub enum DatasetCommand {
    /// Audit a dataset folder: schemas, labels ↔ sessions, columns, timestamps, rates, gaps, missing values.
    Check {
        /// The dataset folder (manifest.json, labels.json, sessions/).
        dir: PathBuf,
        /// Output format: human, or JSON for machines.
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
        /// Print only the summary (human format).
        #[arg(long, short = 'q')]
        quiet: bool,
        /// Treat warnings as failures (exit code 1).
        #[arg(long)]
        deny_warnings: bool,
        /// Colors in human output.
        #[arg(long, value_enum, default_value = "auto")]
        color: Color,
    },
    /// Channels, rates, session count, duration range and label counts.
    Info {
        /// The dataset folder (manifest.json, labels.json, sessions/).
        dir: PathBuf,
        /// Output format: human, or JSON for machines.
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
    },
    /// Import recordings into the dataset layout (atomic, deterministic).
    Import(ImportArgs),
    /// The datasets under a data root, with their session and label counts.
    List {
        /// The folder that holds the datasets.
        data_root: PathBuf,
        /// Output format: human, or JSON for machines.
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ImportFormat {
    /// The UEA/UCR time-series archive format (.ts).
    UeaTs,
    /// CSV: one file per session (named by the file), or long files with --session-column.
    Csv,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The input format.
    #[arg(long, value_enum)]
    pub from: ImportFormat,
    /// Input files (e.g. NAME_TRAIN.ts NAME_TEST.ts: session ids become train_0000…, test_0000…).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// The dataset folder to write; it appears only when complete.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Replace an existing --out folder (the old one is removed once the new one is in place).
    #[arg(long)]
    pub force: bool,
    /// Sampling rate of every channel, in Hz (the .ts format does not record it).
    #[arg(long, value_name = "HZ", value_parser = parse_rate)]
    pub sampling_rate_hz: f64,
    /// `dataset_name` in the manifest (default: the file's @problemName).
    #[arg(long)]
    pub name: Option<String>,
    /// Channel names, one per dimension, comma-separated (default: dim_0, dim_1, …).
    #[arg(long, value_delimiter = ',')]
    pub channels: Option<Vec<String>>,
    /// Manifest description (default: the file's leading comments).
    #[arg(long)]
    pub description: Option<String>,
    /// CSV: the column with each session's label.
    #[arg(long, value_name = "COLUMN", required_if_eq("from", "csv"))]
    pub label_column: Option<String>,
    /// CSV: the column with the session id (for files holding many sessions).
    #[arg(long, value_name = "COLUMN")]
    pub session_column: Option<String>,
    /// CSV: the column with the time in seconds (default: sample i at i / rate).
    #[arg(long, value_name = "COLUMN")]
    pub time_column: Option<String>,
}

#[derive(Debug, Args)]
pub struct ToolsArgs {
    #[command(subcommand)]
    pub command: ToolsCommand,
}

#[derive(Debug, Subcommand)]
pub enum ToolsCommand {
    /// Every tool: its signature (arguments, `?` when optional) and what it does.
    List {
        /// Output format: human, or JSON for machines.
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
    },
    /// The OpenAI `tools` array (function name, description, JSON Schema of the arguments), or one tool's entry.
    Schema {
        /// One tool's name (default: all of them).
        name: Option<String>,
    },
    /// Run one tool and print its JSON result.
    Run {
        /// The tool (`threadkit tools list` shows them).
        name: String,
        /// The arguments, as a JSON object.
        #[arg(long, default_value = "{}")]
        args: String,
        /// Folder of datasets.
        #[arg(long, value_name = "DIR")]
        data_root: PathBuf,
        /// Dataset (needed when the data root holds several).
        #[arg(long)]
        dataset: Option<String>,
        /// Load this session as the current artifact.
        #[arg(long)]
        session: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub walk: WalkArgs,
    /// Folder of datasets the threads were generated from.
    #[arg(long, value_name = "DIR")]
    pub data_root: PathBuf,
    /// Output format: human, or one JSON document.
    #[arg(long, value_enum, default_value = "human")]
    pub format: Format,
    /// Print only the summary (human format), and no progress.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Colors in human output.
    #[arg(long, value_enum, default_value = "auto")]
    pub color: Color,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[command(subcommand)]
    pub command: Option<GenerateCommand>,
    #[command(flatten)]
    pub common: GenerateCommon,
}

#[derive(Debug, Subcommand)]
pub enum GenerateCommand {
    /// Start new threads (and run them to the end).
    New(GenerateNewArgs),
    /// Run a pilot of new threads (kept: they count toward the run) and project what
    /// --count will take: tokens, cost and wall time, p10–p90.
    Plan(GeneratePlanArgs),
    /// Resume active threads from their last saved step.
    Continue(GenerateContinueArgs),
    /// List the threads of the threads folder (active ones unless --all).
    List(GenerateListArgs),
    /// Write the embedded prompt templates into a folder, to edit and use with --prompts.
    Prompts {
        /// The folder to write query.md, step.md and final_answer.md into (existing files are never replaced).
        #[arg(long, value_name = "DIR")]
        dump: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Interactive,
    Batch,
}

#[derive(Debug, Args, Clone)]
pub struct ModeArgs {
    /// Show every proposed step and ask accept / regenerate / quit (default on a terminal).
    #[arg(long, conflicts_with = "batch")]
    pub interactive: bool,
    /// Ask nothing; generate --parallel threads at once with a progress bar (default when not on a terminal).
    #[arg(long)]
    pub batch: bool,
    /// Threads generated at the same time in batch mode, 1 to 64 [default: 1].
    #[arg(long = "parallel", short = 'p', value_name = "N", value_parser = in_range::<usize>(1, 64))]
    pub jobs: Option<usize>,
    /// The final summary: human, or json (every thread with its id, path and outcome).
    #[arg(long, value_enum, default_value = "human")]
    pub format: Format,
    /// No progress bar or progress lines in batch mode; only the summary.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

impl ModeArgs {
    pub fn mode(&self) -> Mode {
        if self.interactive {
            Mode::Interactive
        } else if self.batch || !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
            Mode::Batch
        } else {
            Mode::Interactive
        }
    }
}

#[derive(Debug, Args)]
pub struct GenerateNewArgs {
    /// Datasets to draw recordings from (default: every dataset in the data root).
    #[arg(long, value_delimiter = ',')]
    pub dataset: Vec<String>,
    /// How many threads (1 to 1,000,000).
    #[arg(long, default_value_t = 1, value_parser = in_range::<usize>(1, 1_000_000))]
    pub count: usize,
    /// Draw labels in turn, so that each activity gets as many threads.
    #[arg(long)]
    pub balance: bool,
    /// Seed of the recording picks and thread ids.
    #[arg(long)]
    pub seed: Option<u64>,
    #[command(flatten)]
    pub mode: ModeArgs,
}

#[derive(Debug, Args)]
pub struct GeneratePlanArgs {
    /// Pilot threads to run and measure (1 to 1,000).
    #[arg(long, default_value_t = 10, value_parser = in_range::<usize>(1, 1000))]
    pub pilot: usize,
    #[command(flatten)]
    pub new: GenerateNewArgs,
}

#[derive(Debug, Args)]
pub struct GenerateContinueArgs {
    /// Thread ids (default: pick from the list, or in batch mode every active thread).
    pub ids: Vec<String>,
    /// Only threads with at most N turns.
    #[arg(long, value_name = "N")]
    pub max_turns_filter: Option<u64>,
    #[command(flatten)]
    pub mode: ModeArgs,
}

#[derive(Debug, Args)]
pub struct GenerateListArgs {
    /// Every thread, not only active ones.
    #[arg(long)]
    pub all: bool,
    /// Only threads with at most N turns.
    #[arg(long, value_name = "N")]
    pub max_turns_filter: Option<u64>,
    #[arg(long, value_enum, default_value = "human")]
    pub format: Format,
}

/// Settings shared by every `generate` subcommand; each can also come from `threadkit.toml`.
#[derive(Debug, Args, Clone, Default)]
pub struct GenerateCommon {
    /// Settings file (default: ./threadkit.toml when it exists). Flags override it.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Folder of datasets (DIR/<dataset>/manifest.json, labels.json, sessions/).
    #[arg(long, global = true, value_name = "DIR")]
    pub data_root: Option<PathBuf>,
    /// Where threads are written [default: data/tool_chain_of_thoughts/threads].
    #[arg(long, global = true, value_name = "DIR")]
    pub threads_dir: Option<PathBuf>,
    /// OpenAI-compatible endpoint, up to /v1 [default: https://api.openai.com/v1].
    #[arg(long, global = true, value_name = "URL")]
    pub base_url: Option<String>,
    /// Model name sent with every request.
    #[arg(long, global = true)]
    pub model: Option<String>,
    /// Temperature of the question request, 0 to 2 [default: 0.9].
    #[arg(long, global = true, value_parser = parse_temperature)]
    pub query_temperature: Option<f64>,
    /// Temperature of step and answer requests, 0 to 2 [default: 0.7].
    #[arg(long, global = true, value_parser = parse_temperature)]
    pub step_temperature: Option<f64>,
    /// Folder of prompt templates (query.md, step.md, final_answer.md) replacing the embedded ones.
    #[arg(long, global = true, value_name = "DIR")]
    pub prompts: Option<PathBuf>,
    /// How JSON replies are requested [default: json_schema].
    #[arg(long, global = true, value_enum)]
    pub structured: Option<crate::generate::replies::Structured>,
    /// Seconds before a request is abandoned (and retried) [default: 120].
    #[arg(long, global = true, value_name = "SECS", value_parser = in_range::<u64>(1, 3600))]
    pub timeout: Option<u64>,
    /// Attempts per request on 429, 5xx and network errors [default: 4].
    #[arg(long, global = true, value_name = "N", value_parser = in_range::<u32>(1, 20))]
    pub http_attempts: Option<u32>,
    /// Times an unusable reply is sent back with the problem before the thread fails [default: 3].
    #[arg(long, global = true, value_name = "N", value_parser = in_range::<usize>(0, 20))]
    pub max_retries: Option<usize>,
    /// The model's context window: prompts that do not fit are an error for that thread.
    #[arg(long, global = true, value_name = "TOKENS", value_parser = in_range::<usize>(256, 100_000_000))]
    pub context_tokens: Option<usize>,
    /// Token limit of each reply [default: 1024].
    #[arg(long, global = true, value_name = "TOKENS", value_parser = in_range::<u32>(16, 10_000_000))]
    pub max_completion_tokens: Option<u32>,
    /// Steps after which a thread stops as max_turns_reached [default: 10].
    #[arg(long, global = true, value_name = "N", value_parser = in_range::<usize>(1, 10_000))]
    pub max_turns: Option<usize>,
    /// `finish` is not offered before the thread made this many tool calls [default: 1].
    #[arg(long = "require-tool-calls", global = true, value_name = "N", value_parser = in_range::<usize>(0, 10_000))]
    pub min_tool_calls: Option<usize>,
    /// Prices in USD per million tokens: in=…,out=…[,cached=…]. Without prices, runs count tokens only.
    #[arg(long, global = true, value_name = "PRICES", value_parser = crate::generate::budget::Price::parse, conflicts_with = "prices")]
    pub price: Option<crate::generate::budget::Price>,
    /// A prices.toml with one table per model (["gpt-4o-mini"] in = 0.15, out = 0.6, cached = 0.075); --model picks the table.
    #[arg(long, global = true, value_name = "FILE")]
    pub prices: Option<PathBuf>,
    /// Never spend more than this many USD in the threads folder (its ledger: .threadkit/spend.json); needs prices.
    #[arg(long, global = true, value_name = "USD", value_parser = parse_usd)]
    pub max_cost: Option<f64>,
    /// Keep every thread that ends: do not move those with error-severity quality findings to rejected/.
    #[arg(long, global = true)]
    pub no_quality_gate: bool,
    /// Never use more than this many model tokens (prompt + completion) in the threads folder.
    #[arg(long, global = true, value_name = "N", value_parser = in_range::<u64>(1, u64::MAX))]
    pub max_tokens: Option<u64>,
}

fn parse_usd(text: &str) -> Result<f64, String> {
    let t = text.trim().trim_start_matches('$');
    t.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
        .ok_or_else(|| format!("{text:?} is not an amount of USD (e.g. 25 or 2.50)"))
}

/// A whole number between `min` and `max`, as a clap parser with a clear message.
fn in_range<T>(min: u64, max: u64) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static
where
    T: TryFrom<u64>,
{
    move |text: &str| {
        let n: u64 = text.trim().replace('_', "").parse().map_err(|_| format!("{text:?} is not a whole number"))?;
        if !(min..=max).contains(&n) {
            return Err(format!("{n} is out of range: use {min} to {max}"));
        }
        T::try_from(n).map_err(|_| format!("{n} is too large"))
    }
}

/// Largest `--max-file-size`: every worker may hold one file of this size.
pub const MAX_FILE_SIZE_LIMIT: u64 = 4 << 30;

/// A size in bytes: `1048576`, `64K`, `64M`, `1G` (binary units; `KiB`/`MB` spellings accepted).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(digits);
    let n: u64 = number.parse().map_err(|_| format!("{text:?} is not a size (examples: 1048576, 64K, 64M, 1G)"))?;
    let factor: u64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        _ => return Err(format!("{text:?}: unknown unit {unit:?} (use K, M or G)")),
    };
    let bytes = n.checked_mul(factor).filter(|&b| (1..=MAX_FILE_SIZE_LIMIT).contains(&b));
    bytes.ok_or_else(|| format!("{text:?} is out of range: use 1 byte to 4G"))
}

fn parse_rate(text: &str) -> Result<f64, String> {
    let hz: f64 = text.trim().parse().map_err(|_| format!("{text:?} is not a number"))?;
    if !(hz.is_finite() && hz > 0.0 && hz <= 1e6) {
        return Err(format!("{text}: a sampling rate is a number of Hz above 0 (at most 1000000)"));
    }
    Ok(hz)
}

fn parse_temperature(text: &str) -> Result<f64, String> {
    let t: f64 = text.trim().parse().map_err(|_| format!("{text:?} is not a number"))?;
    if !(0.0..=2.0).contains(&t) {
        return Err(format!("{t}: a temperature is between 0 and 2"));
    }
    Ok(t)
}

#[cfg(test)]
mod range_tests {
    use super::*;

    #[test]
    fn sizes_and_ranges() {
        assert_eq!(parse_size("64M").unwrap(), 64 << 20);
        assert_eq!(parse_size("1048576").unwrap(), 1 << 20);
        assert!(parse_size("18446744073709551615").is_err());
        assert!(parse_size("0").is_err());
        assert!(parse_size("5G").is_err());
        assert!(in_range::<usize>(1, 256)("100000").is_err());
        assert!(in_range::<usize>(1, 256)("0").is_err());
        assert!(in_range::<u64>(1, 3600)("18446744073709551615").is_err());
        assert_eq!(in_range::<u32>(1, 20)("4").unwrap(), 4);
    }
}

/// A training format to read files as (`validate --profile`, `convert --from`), or `auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FromFormat {
    Auto,
    Openai,
    Trl,
    Axolotl,
    LlamaFactory,
}

impl FromFormat {
    pub fn profile(self) -> Option<crate::export::format::Profile> {
        use crate::export::format::Profile;
        match self {
            FromFormat::Auto => None,
            FromFormat::Openai => Some(Profile::Openai),
            FromFormat::Trl => Some(Profile::Trl),
            FromFormat::Axolotl => Some(Profile::Axolotl),
            FromFormat::LlamaFactory => Some(Profile::LlamaFactory),
        }
    }
}
