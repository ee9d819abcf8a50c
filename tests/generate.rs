//! `threadkit generate` against a scripted OpenAI-compatible endpoint on 127.0.0.1
//! (`scripts/mock_chat_endpoint.py`, a test double of the server; the real-model test is
//! `generate_real.rs`), and the step loop driven by `ScriptedPolicy` (a test double of the model).

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{fixtures, Endpoint};
use serde_json::{json, Value};
use threadkit::data_root::DataRoot;
use threadkit::generate::pick::Pick;
use threadkit::generate::policy::{PolicyError, ScriptedPolicy};
use threadkit::generate::replies::{FinalAnswer, Step};
use threadkit::generate::step_loop::{Accept, Ended, LoopSettings, LoopStats};
use threadkit::generate::Generator;

fn generate(dir: &Path, endpoint: &Endpoint, args: &[&str]) -> Command {
    common::generate_cmd(dir, &endpoint.url, args)
}

fn run(mut c: Command) -> (String, String, i32) {
    let out = c.stdin(Stdio::null()).output().unwrap();
    (String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap(), out.status.code().unwrap())
}

fn threads(dir: &Path) -> Vec<Value> {
    let mut out: Vec<(PathBuf, Value)> = std::fs::read_dir(dir.join("threads"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| (p.clone(), serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out.into_iter().map(|(_, v)| v).collect()
}

/// `validate --data-root` and `verify` on everything written: both must be clean.
fn validate_and_verify(dir: &Path) {
    let data = fixtures().join("datasets");
    let t = dir.join("threads");
    let out =
        common::threadkit(&["validate", t.to_str().unwrap(), "--data-root", data.to_str().unwrap(), "--deny-warnings"]);
    assert!(out.status.success(), "validate: {}", String::from_utf8_lossy(&out.stdout));
    let out = common::threadkit(&["verify", t.to_str().unwrap(), "--data-root", data.to_str().unwrap()]);
    assert!(out.status.success(), "verify: {}", String::from_utf8_lossy(&out.stdout));
}

const LABELS: [&str; 4] = ["Badminton", "Running", "Standing", "Walking"];

#[test]
fn batch_generation_end_to_end_and_the_ground_truth_never_reaches_a_request() {
    let tmp = tempfile::tempdir().unwrap();
    let endpoint = Endpoint::start(tmp.path(), &[]);
    let (o, e, code) = run({
        let mut c = generate(
            tmp.path(),
            &endpoint,
            &["new", "--count", "4", "--balance", "--seed", "7", "--batch", "--parallel", "2"],
        );
        c.args(["--max-turns", "6"]);
        c
    });
    assert_eq!(code, 0, "{o}{e}");
    assert!(o.contains("4 threads: 4 finished") && o.contains("4 replies sent back"), "{o}");
    let written = threads(tmp.path());
    assert_eq!(written.len(), 4);
    let mut truths: Vec<&str> = written.iter().map(|t| t["metadata"]["ground_truth"].as_str().unwrap()).collect();
    truths.sort();
    assert_eq!(truths, LABELS, "--balance gives each label a thread");
    for t in &written {
        let m = &t["metadata"];
        assert_eq!(m["status"], "finished");
        assert_eq!(m["num_tool_calls"], 2);
        assert_eq!(m["final_answer"], "Walking");
        assert_eq!(m["is_correct"], m["ground_truth"] == "Walking");
        assert_eq!(m["structured_output"], "json_object");
        assert!(m["initial_artifact_id"].as_str().unwrap().starts_with("ts_"));
        assert!(!t.to_string().contains("sk-test-secret-key-0042"), "the API key is never written");
    }
    validate_and_verify(tmp.path());

    let requests = endpoint.requests();
    assert!(requests.len() >= 4 * 5, "{} requests", requests.len());
    for r in &requests {
        let text = r.to_string();
        assert!(!text.contains("ground_truth") && !text.contains("sk-test-secret-key-0042"));
        // The labels reach the model only as the vocabulary: each one equally often.
        let counts: Vec<usize> = LABELS.iter().map(|l| text.matches(l).count()).collect();
        assert!(counts.iter().all(|&c| c == counts[0] && c > 0), "label counts differ in a request: {counts:?}");
        assert_eq!(r["response_format"]["type"], "json_object");
        assert!(r["response_format"]["schema"].is_object());
    }
}

#[test]
fn killed_half_way_then_continued_from_the_last_saved_step() {
    let tmp = tempfile::tempdir().unwrap();
    let endpoint = Endpoint::start(tmp.path(), &["--latency-ms", "400", "--no-errors"]);
    let mut child = generate(tmp.path(), &endpoint, &["new", "--count", "1", "--seed", "3", "--batch"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the first tool step is saved, then kill the run mid-way.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let saved = std::fs::read_dir(tmp.path().join("threads")).ok().and_then(|mut d| {
            d.find_map(|e| {
                let p = e.ok()?.path();
                let v: Value = serde_json::from_str(&std::fs::read_to_string(&p).ok()?).ok()?;
                (v["metadata"]["num_tool_calls"] == 1).then_some(v)
            })
        });
        if saved.is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "the first step was never saved");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let t = &threads(tmp.path())[0];
    assert_eq!(t["metadata"]["status"], "active", "killed before the end");
    let id = t["id"].as_str().unwrap().to_string();
    validate_and_verify(tmp.path());

    let mut list = Command::new(env!("CARGO_BIN_EXE_threadkit"));
    list.args(["generate", "list", "--format", "json", "--threads-dir", tmp.path().join("threads").to_str().unwrap()]);
    let (o, e, code) = run(list);
    assert_eq!(code, 0, "{e}");
    let rows: Value = serde_json::from_str(&o).unwrap();
    assert_eq!(rows[0]["id"], id.as_str());

    let (o, e, code) = run(generate(tmp.path(), &endpoint, &["continue", "--batch"]));
    assert_eq!(code, 0, "{o}{e}");
    assert!(o.contains("1 finished"), "{o}");
    let t = &threads(tmp.path())[0];
    assert_eq!(t["metadata"]["status"], "finished");
    assert_eq!(t["metadata"]["num_tool_calls"], 2, "resumed after the saved step, nothing repeated");
    let leftovers = common::temporaries_in(&tmp.path().join("threads"));
    assert!(leftovers.is_empty(), "{leftovers:?}");
    validate_and_verify(tmp.path());
}

fn scripted_generator(dir: &Path, settings: LoopSettings) -> Generator {
    Generator::new(DataRoot::new(fixtures().join("datasets")), dir.to_path_buf(), settings, Default::default())
}

fn pick() -> Pick {
    Pick { dataset: "basic_motions".into(), session: "train_0000".into(), ground_truth: "Standing".into() }
}

fn tool(name: &str, args: Value) -> Result<Step, PolicyError> {
    Ok(Step::UseTool { reasoning: format!("call {name}"), tool: name.into(), arguments: args })
}

#[test]
fn the_loop_sends_back_what_it_cannot_use() {
    let tmp = tempfile::tempdir().unwrap();
    std::env::set_var("THREADKIT_CACHE_DIR", tmp.path().join("cache"));
    let settings = LoopSettings { max_turns: 10, min_tool_calls: 1, max_retries: 3 };
    let g = scripted_generator(tmp.path(), settings);
    let mut policy = ScriptedPolicy::default();
    policy.queries.push_back(Ok("Is this person standing?".into()));
    policy.queries.push_back(Ok("What is the person doing?".into()));
    policy.steps.push_back(Ok(Step::Finish { reasoning: "too early".into() }));
    policy.steps.push_back(tool("compute_features", json!({"artifact_id": "ts_000000000000"})));
    policy.steps.push_back(tool("filter_by_time", json!({"start_time_sec": "soon"})));
    policy.steps.push_back(tool("compute_features", json!({})));
    policy.steps.push_back(Ok(Step::Finish { reasoning: "enough".into() }));
    policy.finals.push_back(Ok(FinalAnswer {
        answer: "Swimming".into(),
        confidence: "high".into(),
        explanation: "x".into(),
    }));
    policy.finals.push_back(Ok(FinalAnswer {
        answer: "Standing".into(),
        confidence: "high".into(),
        explanation: "Still.".into(),
    }));
    let mut stats = LoopStats::default();
    let mut active = g.start(&pick(), "basic_motions_train_0000_v4_0001", &mut policy, &mut stats).unwrap();
    let ended = g.run(&mut active, &mut policy, &mut Accept, &mut stats).unwrap();
    assert_eq!(ended, Ended::Finished { correct: true });
    let fb = &policy.feedback;
    assert!(fb[0].contains("names the activity \"Standing\""), "{fb:?}");
    assert!(fb[1].contains("finish is not allowed before 1 tool calls"), "{fb:?}");
    assert!(fb[2].contains("does not exist; the artifacts are: ts_"), "{fb:?}");
    assert!(fb[3].contains("invalid arguments for filter_by_time"), "{fb:?}");
    assert!(fb[4].contains("must be one of: Badminton, Running, Standing, Walking"), "{fb:?}");
    assert_eq!(stats.retries, 5);
    let doc = &active.thread.doc;
    assert_eq!(doc["metadata"]["num_tool_calls"], 1, "rejected proposals are never written");
    assert_eq!(doc["metadata"]["user_query"], "What is the person doing?");

    // Out of retries: the thread fails and stays as last saved.
    let mut policy = ScriptedPolicy::default();
    policy.queries.push_back(Ok("What is going on?".into()));
    for _ in 0..4 {
        policy.steps.push_back(Err(PolicyError::Invalid("not JSON".into())));
    }
    let mut active = g.start(&pick(), "basic_motions_train_0000_v4_0002", &mut policy, &mut stats).unwrap();
    let err = g.run(&mut active, &mut policy, &mut Accept, &mut stats).unwrap_err();
    assert!(err.contains("no usable reply after 4 attempts"), "{err}");
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&active.thread.path).unwrap()).unwrap();
    assert_eq!(saved["metadata"]["status"], "active");
}

/// Issue 28 row 13: a million-element argument is sent back to the model, not run and saved
/// (its error echoed the list into an 85 MiB thread that validate, export and show refused).
#[test]
fn issue28_row13_huge_arguments_are_sent_back_not_saved() {
    let tmp = tempfile::tempdir().unwrap();
    std::env::set_var("THREADKIT_CACHE_DIR", tmp.path().join("cache"));
    let settings = LoopSettings { max_turns: 10, min_tool_calls: 1, max_retries: 3 };
    let g = scripted_generator(tmp.path(), settings);
    let mut policy = ScriptedPolicy::default();
    policy.queries.push_back(Ok("What is the person doing?".into()));
    let huge: Vec<String> = (0..1_000_000).map(|i| format!("dim_{i}")).collect();
    policy.steps.push_back(tool("select_channels", json!({"channel_names": huge})));
    policy.steps.push_back(tool("compute_features", json!({})));
    policy.steps.push_back(Ok(Step::Finish { reasoning: "enough".into() }));
    policy.finals.push_back(Ok(FinalAnswer { answer: "Standing".into(), confidence: "high".into(), explanation: "Still.".into() }));
    let mut stats = LoopStats::default();
    let mut active = g.start(&pick(), "basic_motions_train_0000_v4_0001", &mut policy, &mut stats).unwrap();
    g.run(&mut active, &mut policy, &mut Accept, &mut stats).unwrap();
    let fb = &policy.feedback;
    assert!(fb[0].contains("arguments for select_channels are") && fb[0].len() < 500, "{}", &fb[0][..fb[0].len().min(500)]);
    let size = std::fs::metadata(&active.thread.path).unwrap().len();
    assert!(size < 200_000, "the thread is {size} bytes");
    let data = fixtures().join("datasets");
    let out = common::threadkit(&["validate", active.thread.path.to_str().unwrap(), "--data-root", data.to_str().unwrap()]);
    assert!(out.status.success(), "validate: {}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn the_turn_limit_stops_a_thread_and_a_locked_thread_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    std::env::set_var("THREADKIT_CACHE_DIR", tmp.path().join("cache"));
    let g = scripted_generator(tmp.path(), LoopSettings { max_turns: 2, min_tool_calls: 1, max_retries: 0 });
    let mut policy = ScriptedPolicy::default();
    policy.queries.push_back(Ok("What is the person doing?".into()));
    policy.steps.push_back(tool("show_channel_stats", json!({})));
    policy.steps.push_back(Ok(Step::Respond { reasoning: "r".into(), message: "Six channels at 10 Hz.".into() }));
    let mut stats = LoopStats::default();
    let mut active = g.start(&pick(), "basic_motions_train_0000_v4_0003", &mut policy, &mut stats).unwrap();
    assert_eq!(g.run(&mut active, &mut policy, &mut Accept, &mut stats).unwrap(), Ended::MaxTurns);
    assert_eq!(active.thread.doc["metadata"]["status"], "max_turns_reached");
    let path = active.thread.path.clone();
    // `active` still holds its lock: resuming from elsewhere is refused.
    let err = g.resume(&path).err().unwrap();
    assert!(err.contains("being generated by another process"), "{err}");
    drop(active);
    let err = g.resume(&path).err().unwrap();
    assert!(err.contains("is max_turns_reached, not active"), "{err}");
}

#[test]
fn interactive_review_regenerates_and_quits_without_writing_rejected_steps() {
    let tmp = tempfile::tempdir().unwrap();
    let endpoint = Endpoint::start(tmp.path(), &["--no-errors"]);
    let mut child = generate(tmp.path(), &endpoint, &["new", "--count", "1", "--seed", "5", "--interactive"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Regenerate the first proposal, accept the second, then quit at the next one.
    child.stdin.take().unwrap().write_all(b"r\na\nq\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout.matches("tool:      show_channel_stats").count(), 2, "{stdout}");
    assert!(stdout.contains("tool:      compute_features") && stdout.contains("result:\n  {"), "{stdout}");
    assert!(stdout.contains("generate continue"), "{stdout}");
    let t = &threads(tmp.path())[0];
    assert_eq!(t["metadata"]["status"], "active");
    assert_eq!(
        t["metadata"]["num_tool_calls"], 1,
        "one accepted call; the regenerated and the quit ones are not written"
    );
    validate_and_verify(tmp.path());
}

#[test]
fn a_prompt_larger_than_the_context_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let endpoint = Endpoint::start(tmp.path(), &["--no-errors"]);
    let mut c = generate(tmp.path(), &endpoint, &["new", "--count", "1", "--seed", "1", "--batch"]);
    c.args(["--context-tokens", "1500"]);
    let (o, e, code) = run(c);
    assert_eq!(code, 1, "{o}{e}");
    assert!(e.contains("more than the context of 1500 (--context-tokens)"), "{e}");
}

#[test]
fn usage_errors_name_what_to_do() {
    let tmp = tempfile::tempdir().unwrap();
    let out = common::threadkit(&[
        "generate",
        "new",
        "--data-root",
        tmp.path().join("nope").to_str().unwrap(),
        "--model",
        "m",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a directory"));
    let out = common::threadkit(&["generate", "new", "--data-root", fixtures().join("datasets").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("give --model"));
}
