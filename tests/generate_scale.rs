//! Generating at scale against the scripted endpoint (`scripts/mock_chat_endpoint.py`)
//! playing a hosted API: rate limits in requests and in tokens, with and without the
//! `x-ratelimit-*` headers, prompt caching.

#![allow(clippy::print_stderr)] // the measured numbers are the point of these tests

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::Instant;

use common::Endpoint;
use serde_json::Value;

/// `generate new --batch --format json ARGS`: the summary, and the run's wall time in seconds.
fn generate_json(dir: &Path, endpoint: &Endpoint, args: &[&str]) -> (Value, f64) {
    let start = Instant::now();
    let mut c = common::generate_cmd(dir, &endpoint.url, &["new", "--batch", "--format", "json", "-q"]);
    c.args(args);
    let out = c.stdin(Stdio::null()).output().unwrap();
    let took = start.elapsed().as_secs_f64();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let doc: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: {stdout}{}", String::from_utf8_lossy(&out.stderr)));
    (doc, took)
}

struct Limited {
    name: &'static str,
    mock: &'static [&'static str],
    /// What the limit allows over `secs`: the bucket's size plus its refill.
    allowed: fn(secs: f64) -> f64,
    /// What the run used of it, from the endpoint's counts.
    used: fn(stats: &Value) -> f64,
}

/// Issue 27's case as a new user meets it: 60 threads with `-p 16` against a server that
/// allows 20 requests a second (or a number of tokens a minute) and answers 429 with
/// `Retry-After: 1` beyond. Every thread must finish, at most 10 % of requests may be
/// rejected, and the run must use at least 80 % of what the limit allows over its wall time.
#[test]
fn rate_limits_slow_the_run_down_instead_of_failing_threads() {
    let cases = [
        Limited {
            name: "20 requests/s with x-ratelimit headers",
            mock: &["--rps", "20", "--latency-ms", "200"],
            allowed: |secs| 20.0 + 20.0 * secs,
            used: |s| s["accepted"].as_f64().unwrap(),
        },
        Limited {
            name: "20 requests/s, only Retry-After",
            mock: &["--rps", "20", "--latency-ms", "50", "--no-limit-headers"],
            allowed: |secs| 20.0 + 20.0 * secs,
            used: |s| s["accepted"].as_f64().unwrap(),
        },
        Limited {
            // 30k prompt tokens a second (a minute shortened to 6 s), about 11 requests a second.
            name: "180k tokens per 6 s minute",
            mock: &["--tpm", "180000", "--minute-s", "6", "--latency-ms", "100"],
            allowed: |secs| 180_000.0 + 30_000.0 * secs,
            used: |s| s["prompt_tokens"].as_f64().unwrap(),
        },
    ];
    let results: Vec<(String, Value, Value, f64)> = std::thread::scope(|scope| {
        let handles: Vec<_> = cases
            .iter()
            .map(|case| {
                scope.spawn(move || {
                    let tmp = tempfile::tempdir().unwrap();
                    let endpoint = Endpoint::start(tmp.path(), case.mock);
                    let (doc, secs) = generate_json(tmp.path(), &endpoint, &["--count", "60", "-p", "16", "--seed", "5"]);
                    (case.name.to_string(), doc, endpoint.stats(), secs)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for ((name, doc, stats, secs), case) in results.iter().zip(&cases) {
        let s = &doc["summary"];
        assert_eq!(s["finished"], 60, "{name}: every thread finishes: {s}");
        assert_eq!(s["failed"], 0, "{name}: {s}");
        let (accepted, rejected) = (stats["accepted"].as_f64().unwrap(), stats["rejected"].as_f64().unwrap());
        let rejected_share = rejected / (accepted + rejected);
        let used = (case.used)(stats) / (case.allowed)(*secs);
        eprintln!("{name}: {accepted} answered, {rejected} rejected ({:.1} %), {:.0} % of the limit in {secs:.1} s", 100.0 * rejected_share, 100.0 * used);
        assert!(rejected_share <= 0.10, "{name}: {rejected} of {} requests rejected", accepted + rejected);
        assert!(used >= 0.80, "{name}: used {:.0} % of what the limit allows over {secs:.1} s", 100.0 * used);
        // What the run says about itself matches what the server counted.
        assert_eq!(s["rate_limited"].as_f64().unwrap(), rejected, "{name}");
        assert_eq!(s["usage"]["prompt"], stats["prompt_tokens"], "{name}");
        assert_eq!(s["usage"]["cached"], stats["cached_tokens"], "{name}");
    }
}

/// Every request's stable part (the system prompt, then the dataset's information and its
/// labels) is a byte-identical prefix across steps and threads, so a provider's prompt
/// cache serves it; the cached tokens the server reports are in the summary.
#[test]
fn requests_share_a_byte_identical_prefix_and_cached_tokens_are_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let endpoint = Endpoint::start(tmp.path(), &[]);
    let (doc, _) = generate_json(tmp.path(), &endpoint, &["--count", "6", "-p", "3", "--seed", "9"]);
    assert_eq!(doc["summary"]["finished"], 6, "{doc}");
    let requests = endpoint.requests();
    // Requests by kind (the schema asked for), each kind's system prompt one text.
    let mut systems: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> = Default::default();
    let mut user_prefixes = std::collections::BTreeSet::new();
    for r in &requests {
        let props = &r["response_format"]["schema"]["properties"];
        let kind = ["query", "step", "answer"].iter().find(|k| props.get(**k).is_some()).unwrap().to_string();
        systems.entry(kind.clone()).or_default().insert(r["messages"][0]["content"].as_str().unwrap().to_string());
        if kind != "query" {
            let user = r["messages"][1]["content"].as_str().unwrap();
            let stable = user.split("\nQuestion: ").next().unwrap();
            assert!(stable.starts_with("Dataset information:") && stable.contains("Activities"), "{stable}");
            user_prefixes.insert(stable.to_string());
        }
    }
    for (kind, texts) in &systems {
        assert_eq!(texts.len(), 1, "the {kind} system prompt varies between requests");
    }
    assert_eq!(user_prefixes.len(), 1, "one dataset: one stable user prefix");
    let stats = endpoint.stats();
    let cached = doc["summary"]["usage"]["cached"].as_u64().unwrap();
    assert!(cached > 0, "{doc}");
    assert_eq!(cached, stats["cached_tokens"].as_u64().unwrap());
    // Most of what is sent is the shared prefix.
    let prompt = doc["summary"]["usage"]["prompt"].as_u64().unwrap();
    assert!(cached * 2 > prompt, "{cached} of {prompt} prompt tokens cached");
}

/// What the scripted server billed, at the run's prices (USD per million tokens).
fn billed(stats: &Value, input: f64, cached: f64, output: f64) -> f64 {
    let (p, c, o) = (stats["prompt_tokens"].as_f64().unwrap(), stats["cached_tokens"].as_f64().unwrap(), stats["completion_tokens"].as_f64().unwrap());
    ((p - c) * input + c * cached + o * output) / 1e6
}

/// `--max-cost` holds over runs, kills and resumes: whatever the seed and wherever the
/// kill lands, what the server billed never passes the cap, and the ledger never says less
/// than the server billed.
#[test]
fn the_budget_is_never_exceeded_across_kills_and_resumes() {
    const CAP: &str = "0.30";
    let price = ["--price", "in=10,out=30,cached=5", "--max-cost", CAP];
    let mut worst: f64 = 0.0;
    for seed in 1..=4u64 {
        let tmp = tempfile::tempdir().unwrap();
        let endpoint = Endpoint::start(tmp.path(), &["--latency-ms", "40"]);
        let seed_text = seed.to_string();
        let mut new_args = vec!["new", "--batch", "-q", "--count", "12", "-p", "4", "--seed", &seed_text, "--max-completion-tokens", "200"];
        new_args.extend(price);
        // Killed part-way (at a different moment for each seed), then resumed twice.
        let mut child = common::generate_cmd(tmp.path(), &endpoint.url, &new_args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(150 + 170 * seed));
        child.kill().unwrap();
        child.wait().unwrap();
        for _ in 0..2 {
            let mut cont = vec!["continue", "--batch", "-q", "-p", "4", "--max-completion-tokens", "200"];
            cont.extend(price);
            let out = common::generate_cmd(tmp.path(), &endpoint.url, &cont).stdin(Stdio::null()).output().unwrap();
            assert!(matches!(out.status.code(), Some(0 | 1)), "{}", String::from_utf8_lossy(&out.stderr));
            let out = common::generate_cmd(tmp.path(), &endpoint.url, &new_args).stdin(Stdio::null()).output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(matches!(out.status.code(), Some(0 | 1)), "{stderr}");
        }
        let stats = endpoint.stats();
        let server = billed(&stats, 10.0, 5.0, 30.0);
        let ledger: Value =
            serde_json::from_str(&std::fs::read_to_string(tmp.path().join("threads/.threadkit/spend.json")).unwrap()).unwrap();
        let recorded = ledger["spent"]["usd"].as_f64().unwrap() + ledger["assumed"]["usd"].as_f64().unwrap();
        eprintln!("seed {seed}: server billed ${server:.4} of ${CAP}, ledger ${recorded:.4}");
        assert!(server <= 0.30, "seed {seed}: the server billed ${server} over a ${CAP} cap");
        assert!(recorded + 1e-9 >= server, "seed {seed}: the ledger (${recorded}) says less than the server billed (${server})");
        assert!(server > 0.15, "seed {seed}: the budget was barely used (${server}); the test would prove nothing");
        worst = worst.max(server);
        // Whatever was cut short is a valid, resumable thread.
        let t = tmp.path().join("threads");
        let out = common::threadkit(&["validate", t.to_str().unwrap()]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    }
    eprintln!("worst case: ${worst:.4} of ${CAP}");
}

/// A run stopped by its budget says what it spent and prints the command that goes on.
#[test]
fn a_budget_stop_says_what_was_spent_and_how_to_go_on() {
    let tmp = tempfile::tempdir().unwrap();
    let endpoint = Endpoint::start(tmp.path(), &["--latency-ms", "20"]);
    let args = ["new", "--batch", "-q", "--count", "10", "-p", "2", "--seed", "3", "--max-tokens", "40000"];
    let out = common::generate_cmd(tmp.path(), &endpoint.url, &args).stdin(Stdio::null()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("budget reached:") && stderr.contains("of 40000 tokens"), "{stderr}");
    let command = stderr.lines().find_map(|l| l.strip_prefix("threadkit: to go on with a larger budget: ")).unwrap();
    assert!(command.contains("threadkit generate new") && command.contains("--max-tokens"), "{command}");
    let stats = endpoint.stats();
    assert!(stats["prompt_tokens"].as_u64().unwrap() + stats["completion_tokens"].as_u64().unwrap() <= 40000);
    // The printed command runs as printed (with this test's key and cache) and finishes the job.
    for part in command.split(" && ") {
        let words: Vec<String> = part.split_whitespace().skip(1).map(|w| w.trim_matches('\'').to_string()).collect();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_threadkit"))
            .args(&words)
            .env("THREADKIT_CACHE_DIR", tmp.path().join("cache"))
            .env("OPENAI_API_KEY", "sk-test-secret-key-0042")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{part}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let finished = std::fs::read_dir(tmp.path().join("threads"))
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .filter(|t| t.contains("\"status\": \"finished\""))
        .count();
    assert_eq!(finished, 10, "all ten threads finished after going on");
}

/// The quality gate: threads whose rules find errors go to `rejected/` with their findings,
/// other recordings take their place until `--count` threads are accepted, and the summary
/// gives the acceptance per rule. The scripted server makes 30 % of recordings' threads
/// claim a number no tool gave (TKQ01); the other 70 % are the clean look-alikes.
#[test]
fn the_quality_gate_rejects_with_findings_and_fills_the_count() {
    let tmp = tempfile::tempdir().unwrap();
    let endpoint = Endpoint::start(tmp.path(), &["--bad-share", "0.3"]);
    let (doc, _) = generate_json(tmp.path(), &endpoint, &["--count", "12", "-p", "4", "--seed", "1"]);
    let gate = &doc["gate"];
    let threads_dir = tmp.path().join("threads");
    let read = |dir: &Path| -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| {
                let p = e.ok()?.path();
                (p.extension()? == "json").then(|| (p.file_stem().unwrap().to_string_lossy().into_owned(), std::fs::read_to_string(&p).unwrap()))
            })
            .collect();
        v.sort();
        v
    };
    let accepted = read(&threads_dir);
    let rejected = read(&threads_dir.join("rejected"));
    assert_eq!(accepted.len(), 12, "--count threads accepted: {gate}");
    assert!(!rejected.is_empty(), "30 % bad recordings and none rejected: {gate}");
    assert_eq!(gate["accepted"], 12);
    assert_eq!(gate["rejected"].as_u64().unwrap() as usize, rejected.len());
    assert_eq!(gate["rules"][0]["code"], "TKQ01", "{gate}");
    let share = gate["rules"][0]["acceptance"].as_f64().unwrap();
    assert!((share - 12.0 / (12.0 + rejected.len() as f64)).abs() < 1e-9, "{gate}");
    for (id, text) in &accepted {
        assert!(!text.contains("7.31 g") && text.contains("\"status\": \"finished\""), "{id}: a bad thread was accepted");
    }
    for (id, text) in &rejected {
        assert!(text.contains("7.31 g"), "{id}: a clean thread was rejected");
        let findings = std::fs::read_to_string(threads_dir.join("rejected").join(format!("{id}.findings.txt"))).unwrap();
        assert!(findings.contains("TKQ01 number-not-grounded at /messages/"), "{findings}");
    }
    // Rejected threads stay valid threads; the default export leaves them out, as their rules find them.
    let t = threads_dir.to_str().unwrap();
    let out = common::threadkit(&["validate", t]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let export = tmp.path().join("export.jsonl");
    let data = common::fixtures().join("datasets");
    let out = common::threadkit(&["export", t, "--out", export.to_str().unwrap(), "--profile", "openai", "--data-root", data.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let written = std::fs::read_to_string(&export).unwrap();
    assert_eq!(written.lines().count(), 12, "the rejected threads are not exported");

    // Without the gate every thread stays where it was written.
    let tmp2 = tempfile::tempdir().unwrap();
    let (doc, _) = generate_json(tmp2.path(), &endpoint, &["--count", "12", "-p", "4", "--seed", "1", "--no-quality-gate"]);
    assert!(doc["gate"].is_null(), "{doc}");
    assert_eq!(read(&tmp2.path().join("threads")).len(), 12);
    assert!(!tmp2.path().join("threads/rejected").exists());
}

/// `generate plan`: a pilot, kept, and a projection that the real run then meets: its
/// tokens, cost, threads run and wall time within ±15 % of the projection's median.
#[test]
fn the_plan_projects_the_run_within_fifteen_percent() {
    let tmp = tempfile::tempdir().unwrap();
    let endpoint = Endpoint::start(tmp.path(), &["--bad-share", "0.1", "--latency-ms", "30"]);
    let start = Instant::now();
    let mut c = common::generate_cmd(tmp.path(), &endpoint.url, &["plan", "--format", "json", "-q"]);
    c.args(["--count", "60", "--pilot", "20", "-p", "4", "--seed", "3", "--price", "in=2.5,out=10,cached=1.25"]);
    let out = c.stdin(Stdio::null()).output().unwrap();
    let plan: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)));
    assert_eq!(out.status.code(), Some(0), "{plan}");
    let accepted = plan["pilot_accepted"].as_u64().unwrap();
    assert_eq!(accepted, 20, "the pilot runs until 20 are accepted: {plan}");
    assert_eq!(plan["remaining"], 40);
    // The printed command, run as printed (the test's key and cache in the environment).
    let command = plan["continue"].as_str().unwrap();
    let words: Vec<&str> = command.split_whitespace().skip(1).collect();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_threadkit"))
        .args(&words)
        .args(["-q", "--format", "json"])
        .env("THREADKIT_CACHE_DIR", tmp.path().join("cache"))
        .env("OPENAI_API_KEY", "sk-test-secret-key-0042")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let wall = start.elapsed().as_secs_f64();
    let run: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ledger: Value =
        serde_json::from_str(&std::fs::read_to_string(tmp.path().join("threads/.threadkit/spend.json")).unwrap()).unwrap();
    let pilot_threads = plan["pilot"]["summary"]["threads"].as_f64().unwrap();
    let actual = [
        ("tokens", ledger["spent"]["tokens"].as_f64().unwrap()),
        ("cost_usd", ledger["spent"]["usd"].as_f64().unwrap()),
        ("threads_run", pilot_threads + run["summary"]["threads"].as_f64().unwrap()),
        ("wall_secs", wall),
    ];
    let p = &plan["projection"];
    for (name, actual) in actual {
        let projected = p[name]["p50"].as_f64().unwrap();
        let off = (projected - actual) / actual;
        eprintln!("{name}: projected {projected:.3} (p10 {:.3}, p90 {:.3}), actual {actual:.3}: {:+.1} %", p[name]["p10"].as_f64().unwrap(), p[name]["p90"].as_f64().unwrap(), 100.0 * off);
        assert!(off.abs() <= 0.15, "{name}: projected {projected}, actual {actual}");
    }
    // The whole run's threads: 60 accepted, the rest in rejected/.
    let accepted_files = std::fs::read_dir(tmp.path().join("threads"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "json"))
        .count();
    assert_eq!(accepted_files, 60);
}

/// Two runs on one threads folder at once spend one budget: the ledger is shared under a lock.
#[test]
fn two_runs_on_one_folder_share_the_cap() {
    let tmp = tempfile::tempdir().unwrap();
    let endpoint = Endpoint::start(tmp.path(), &["--latency-ms", "30"]);
    let cap = 120_000u64;
    let cap_text = cap.to_string();
    let children: Vec<_> = ["1", "2"]
        .iter()
        .map(|seed| {
            common::generate_cmd(tmp.path(), &endpoint.url, &["new", "--batch", "-q", "--count", "12", "-p", "3", "--seed", seed, "--max-tokens", &cap_text, "--max-completion-tokens", "200"])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(matches!(out.status.code(), Some(0 | 1)), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let stats = endpoint.stats();
    let used = stats["prompt_tokens"].as_u64().unwrap() + stats["completion_tokens"].as_u64().unwrap();
    eprintln!("two runs, one {cap}-token cap: the server counted {used}");
    assert!(used <= cap, "two runs together used {used} tokens of a {cap} cap");
    assert!(used > cap / 2, "the cap was barely used ({used}); the test proves nothing");
    let runs = tmp.path().join("threads/.threadkit/runs");
    assert_eq!(std::fs::read_dir(runs).unwrap().count(), 0, "finished runs leave no lock behind");
}

/// Mistakes a user can make with the new flags: each is one clear message and exit 2, and
/// nothing is written in the threads folder.
#[test]
fn budget_and_plan_usage_errors_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let endpoint = Endpoint::start(tmp.path(), &[]);
    let cases: [(&[&str], &str); 6] = [
        (&["new", "--batch", "--max-cost", "5"], "--max-cost needs prices"),
        (&["new", "--batch", "--price", "in=1"], "give at least in= and out="),
        (&["new", "--batch", "--price", "in=1,out=2,cached=x"], "a price is a number"),
        (&["new", "--batch", "--max-cost=-3", "--price", "in=1,out=1"], "not an amount of USD"),
        (&["plan", "--interactive", "--count", "5"], "leave out --interactive"),
        (&["new", "--batch", "--prices", "/nonexistent/prices.toml"], "prices.toml"),
    ];
    for (args, expected) in cases {
        let out = common::generate_cmd(tmp.path(), &endpoint.url, args).stdin(Stdio::null()).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!tmp.path().join("threads/.threadkit").exists(), "{args:?} wrote the ledger");
    }
    // A damaged ledger is refused before any request, with what to do.
    std::fs::create_dir_all(tmp.path().join("threads/.threadkit")).unwrap();
    std::fs::write(tmp.path().join("threads/.threadkit/spend.json"), "{\"spent\": ").unwrap();
    let out = common::generate_cmd(tmp.path(), &endpoint.url, &["new", "--batch", "--count", "1"]).stdin(Stdio::null()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("not a threadkit ledger") && stderr.contains("remove it"), "{stderr}");
    assert!(endpoint.requests().is_empty(), "nothing was sent");
}
