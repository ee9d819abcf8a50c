//! Generating at scale against the scripted endpoint (`scripts/mock_chat_endpoint.py`)
//! playing a hosted API: rate limits in requests and in tokens, with and without the
//! `x-ratelimit-*` headers, prompt caching.

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
