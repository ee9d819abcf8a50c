//! Generation settings: flags over `threadkit.toml` over defaults, so that a run can be
//! reproduced from a file. Relative paths in the file are relative to the file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::replies::Structured;

/// The `[generate]` table of `threadkit.toml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSettings {
    pub data_root: Option<PathBuf>,
    pub threads_dir: Option<PathBuf>,
    pub base_url: Option<String>,
    pub model: Option<String>,
    pub query_temperature: Option<f64>,
    pub step_temperature: Option<f64>,
    pub prompts: Option<PathBuf>,
    pub structured: Option<Structured>,
    pub timeout: Option<u64>,
    pub http_attempts: Option<u32>,
    pub max_retries: Option<usize>,
    pub context_tokens: Option<usize>,
    pub max_completion_tokens: Option<u32>,
    pub max_turns: Option<usize>,
    /// `require_tool_calls` (the flag's name); `min_tool_calls` is read too, from older files.
    #[serde(rename = "require_tool_calls", alias = "min_tool_calls")]
    pub min_tool_calls: Option<usize>,
    pub datasets: Option<Vec<String>>,
    /// `parallel` (the flag's name); `jobs` is read too, from older files.
    #[serde(rename = "parallel", alias = "jobs")]
    pub jobs: Option<usize>,
    pub seed: Option<u64>,
    pub balance: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    generate: Option<FileSettings>,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub data_root: PathBuf,
    pub threads_dir: PathBuf,
    pub base_url: String,
    pub model: Option<String>,
    pub query_temperature: f64,
    pub step_temperature: f64,
    pub prompts: Option<PathBuf>,
    pub structured: Structured,
    pub timeout: Duration,
    pub http_attempts: u32,
    pub max_retries: usize,
    pub context_tokens: Option<usize>,
    pub max_completion_tokens: u32,
    pub max_turns: usize,
    pub min_tool_calls: usize,
    /// From the file only (the subcommands have their own flags).
    pub file: FileSettings,
}

pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
/// Where the generator writes threads, and what the checking commands read when given no path.
pub const DEFAULT_THREADS_DIR: &str = "data/tool_chain_of_thoughts/threads";

/// Read the settings file (`config`, else `./threadkit.toml` if there is one) and apply
/// `flags` over it: the command line is one more layer of the same settings, resolved by
/// the command before the generator sees them.
pub fn resolve(config: Option<&Path>, flags: &FileSettings) -> Result<Settings, String> {
    let (file, base) = match config {
        Some(path) => (read(path)?, path.parent().map(Path::to_path_buf).unwrap_or_default()),
        None if Path::new("threadkit.toml").is_file() => (read(Path::new("threadkit.toml"))?, PathBuf::new()),
        None => (FileSettings::default(), PathBuf::new()),
    };
    let rel = |p: &Option<PathBuf>| p.as_ref().map(|p| if p.is_absolute() { p.clone() } else { base.join(p) });
    let s = Settings {
        data_root: flags.data_root.clone().or_else(|| rel(&file.data_root)).unwrap_or_else(|| PathBuf::from("data")),
        threads_dir: flags
            .threads_dir
            .clone()
            .or_else(|| rel(&file.threads_dir))
            .unwrap_or_else(|| PathBuf::from(DEFAULT_THREADS_DIR)),
        base_url: flags
            .base_url
            .clone()
            .or_else(|| file.base_url.clone())
            .unwrap_or_else(|| DEFAULT_BASE_URL.to_string()),
        model: flags.model.clone().or_else(|| file.model.clone()),
        query_temperature: flags.query_temperature.or(file.query_temperature).unwrap_or(0.9),
        step_temperature: flags.step_temperature.or(file.step_temperature).unwrap_or(0.7),
        prompts: flags.prompts.clone().or_else(|| rel(&file.prompts)),
        structured: flags.structured.or(file.structured).unwrap_or(Structured::JsonSchema),
        timeout: Duration::from_secs(flags.timeout.or(file.timeout).unwrap_or(120)),
        http_attempts: flags.http_attempts.or(file.http_attempts).unwrap_or(4),
        max_retries: flags.max_retries.or(file.max_retries).unwrap_or(3),
        context_tokens: flags.context_tokens.or(file.context_tokens),
        max_completion_tokens: flags.max_completion_tokens.or(file.max_completion_tokens).unwrap_or(1024),
        max_turns: flags.max_turns.or(file.max_turns).unwrap_or(10),
        min_tool_calls: flags.min_tool_calls.or(file.min_tool_calls).unwrap_or(1),
        file,
    };
    let url = s.base_url.trim();
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        let local = url.starts_with("127.") || url.starts_with("localhost") || url.starts_with("[::1]");
        return Err(format!(
            "--base-url {url:?} has no scheme; did you mean {}://{url}?",
            if local { "http" } else { "https" }
        ));
    }
    // The file's values get the ranges the flags have (the flags are checked by clap).
    let ranges: [(&str, Option<u64>, u64, u64); 6] = [
        ("timeout", Some(s.timeout.as_secs()), 1, 3600),
        ("http_attempts", Some(s.http_attempts.into()), 1, 20),
        ("max_retries", Some(s.max_retries as u64), 0, 20),
        ("max_turns", Some(s.max_turns as u64), 1, 10_000),
        ("require_tool_calls", Some(s.min_tool_calls as u64), 0, 10_000),
        ("parallel", s.file.jobs.map(|j| j as u64), 1, 64),
    ];
    for (name, value, min, max) in ranges {
        if let Some(v) = value.filter(|v| !(min..=max).contains(v)) {
            return Err(format!("{name} = {v} is out of range: use {min} to {max}"));
        }
    }
    for (name, t) in [("--query-temperature", s.query_temperature), ("--step-temperature", s.step_temperature)] {
        if !(0.0..=2.0).contains(&t) {
            return Err(format!("{name} {t}: a temperature is between 0 and 2"));
        }
    }
    Ok(s)
}

fn read(path: &Path) -> Result<FileSettings, String> {
    let text = crate::open::read_to_string(path, crate::open::MAX_SIDE_FILE)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    // The parser's own message quotes the offending line, which may hold a key
    // (`api_key = "sk-…"`): say where and what, never the line itself.
    let file: File = toml::from_str(&text).map_err(|e| {
        let line = e.span().map_or(1, |s| text[..s.start.min(text.len())].matches('\n').count() + 1);
        format!("{}:{line}: {} (keys go in OPENAI_API_KEY or THREADKIT_API_KEY, never in this file)", path.display(), e.message().trim())
    })?;
    Ok(file.generate.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_file_and_paths_are_relative_to_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("threadkit.toml");
        std::fs::write(&path, "[generate]\ndata_root = \"data\"\nmodel = \"from-file\"\nstep_temperature = 0.2\nstructured = \"json_object\"\n").unwrap();
        let flags = FileSettings { model: Some("from-flag".into()), ..Default::default() };
        let s = resolve(Some(&path), &flags).unwrap();
        assert_eq!(s.model.as_deref(), Some("from-flag"));
        assert_eq!(s.step_temperature, 0.2);
        assert_eq!(s.structured, Structured::JsonObject);
        assert_eq!(s.data_root, dir.path().join("data"));
        assert_eq!(s.max_turns, 10);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.toml");
        std::fs::write(&path, "[generate]\nmodle = \"typo\"\n").unwrap();
        let err = resolve(Some(&path), &FileSettings::default()).unwrap_err();
        assert!(err.contains("modle"), "{err}");
        std::fs::write(&path, "[generate]\napi_key = \"sk-should-never-be-echoed\"\n").unwrap();
        let err = resolve(Some(&path), &FileSettings::default()).unwrap_err();
        assert!(err.contains("api_key") && err.contains(":2:") && !err.contains("sk-should"), "{err}");
        let err = resolve(None, &FileSettings { step_temperature: Some(5.0), ..Default::default() }).unwrap_err();
        assert!(err.contains("between 0 and 2"), "{err}");
        let err =
            resolve(None, &FileSettings { base_url: Some("127.0.0.1:8080/v1".into()), ..Default::default() }).unwrap_err();
        assert!(err.contains("did you mean http://127.0.0.1:8080/v1"), "{err}");
    }
}
