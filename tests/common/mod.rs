#![allow(dead_code)]
use std::path::{Path, PathBuf};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixtures() -> PathBuf {
    root().join("fixtures")
}

/// A deterministic stream of random numbers (xorshift64) for the mutation tests: the same
/// mutations on every run, so a failure is found again by running the test again.
pub fn xorshift(seed: u64) -> impl FnMut() -> u64 {
    let mut rng = seed;
    move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    }
}

pub fn threadkit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_threadkit")).args(args).current_dir(root()).output().expect("threadkit runs")
}

#[allow(dead_code)]
pub fn json_report(args: &[&str]) -> (serde_json::Value, i32) {
    let mut all = vec!["validate", "--format", "json"];
    all.extend_from_slice(args);
    let out = threadkit(&all);
    let stdout = String::from_utf8(out.stdout).expect("utf-8 output");
    let report = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not one JSON document ({e}):\n{stdout}"));
    (report, out.status.code().expect("exit code"))
}

pub fn codes(report: &serde_json::Value) -> Vec<String> {
    let mut codes: Vec<String> = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| f["diagnostics"].as_array().unwrap().iter().map(|d| d["code"].as_str().unwrap().to_string()))
        .collect();
    codes.sort();
    codes.dedup();
    codes
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// The scripted endpoint, stopped when dropped.
pub struct Endpoint {
    child: Child,
    pub url: String,
    pub log: PathBuf,
}

impl Endpoint {
    pub fn start(dir: &Path, extra: &[&str]) -> Endpoint {
        let log = dir.join("requests.jsonl");
        let mut child = Command::new("python3")
            .arg(root().join("scripts/mock_chat_endpoint.py"))
            .args(["--log", log.to_str().unwrap()])
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port = line.trim().strip_prefix("port ").expect("the endpoint prints its port").to_string();
        Endpoint { child, url: format!("http://127.0.0.1:{port}/v1"), log }
    }

    /// The endpoint's counts (`GET /stats`): accepted, rejected, tokens.
    pub fn stats(&self) -> Value {
        let url = format!("{}/stats", self.url);
        serde_json::from_str(&ureq::get(&url).call().unwrap().body_mut().read_to_string().unwrap()).unwrap()
    }

    pub fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}


/// `threadkit generate ARGS` against `url` with the fixture datasets and `DIR/threads`, a test key,
/// and the tool cache in `DIR/cache`.
pub fn generate_cmd(dir: &Path, url: &str, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_threadkit"));
    c.current_dir(root())
        .env("THREADKIT_CACHE_DIR", dir.join("cache"))
        .env("OPENAI_API_KEY", "sk-test-secret-key-0042")
        .args(["generate"])
        .args(args)
        .args(["--data-root", fixtures().join("datasets").to_str().unwrap()])
        .args(["--threads-dir", dir.join("threads").to_str().unwrap()])
        .args(["--base-url", url, "--model", "scripted", "--structured", "json_object"]);
    c
}

/// threadkit's temporaries (files or staging folders) directly in `dir`.
pub fn temporaries_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.starts_with(".threadkit-tmp"))
                .collect()
        })
        .unwrap_or_default()
}
