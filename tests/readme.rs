//! The README's "Try it in two minutes" block, run verbatim (extracted from README.md),
//! so the README can never drift from the code.

mod common;

use std::process::Command;

use common::root;

fn try_it_block() -> String {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let start = readme.find("<!-- try-it").expect("the README marks its try-it block");
    let body = &readme[start..];
    let open = body.find("```sh\n").expect("a sh block follows the marker") + 6;
    let close = body[open..].find("```").expect("the block ends") + open;
    body[open..close].to_string()
}

#[test]
fn the_readme_try_it_block_runs_as_written() {
    let tmp = tempfile::tempdir().unwrap();
    // The block runs from the repository root; a copy of what it reads keeps the tree clean.
    for dir in ["fixtures/uea", "scripts"] {
        common::copy_dir(&root().join(dir), &tmp.path().join(dir));
    }
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_threadkit")).parent().unwrap().to_path_buf();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let script = format!("set -euo pipefail\n{}", try_it_block());
    let t = std::time::Instant::now();
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(tmp.path())
        .env("PATH", path)
        .env("THREADKIT_CACHE_DIR", tmp.path().join("cache"))
        .env_remove("OPENAI_API_KEY")
        .env_remove("THREADKIT_API_KEY")
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the README block failed:\n{text}");
    assert!(text.contains("4 threads: 4 finished"), "{text}");
    assert!(tmp.path().join("try/exports/trl/train.jsonl").is_file());
    let report = std::fs::read_to_string(tmp.path().join("try/report.html")).unwrap();
    assert!(report.contains("data-total=\"threads\">4<") && report.contains("class=\\\"plot\\\""), "the report has 4 threads and plots");
    eprintln!("README try-it block: {:.1} s", t.elapsed().as_secs_f64());
}
