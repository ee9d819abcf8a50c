//! In-process timings of the tools on a dataset (see bench/tools.sh):
//! `compute_features` on one session window, and `classify_activity` once its feature
//! index is built (first call builds or loads the on-disk cache; later calls are timed).
//!
//!     cargo run --release --example bench_tools -- DATA_ROOT DATASET SESSION
#![allow(clippy::print_stdout, clippy::print_stderr, reason = "a benchmark tool reports on the terminal")]

use std::time::Instant;

use serde_json::json;
use threadkit::data_root::DataRoot;
use threadkit::tools::{self, artifacts::Workspace};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let (root, dataset, session) = (DataRoot::new(&a[1]), &a[2], &a[3]);
    let mut ws = Workspace::open(&root, dataset, session).expect("session loads");
    let mut times = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        let r = tools::run(&mut ws, "compute_features", &json!({}));
        times.push(t.elapsed().as_secs_f64() * 1e3);
        assert!(r.get("error").is_none(), "{r}");
    }
    println!("compute_features (128x9 window): median {:.3} ms over 200 runs", median(times));
    let t = Instant::now();
    let r = tools::run(&mut ws, "classify_activity", &json!({"k": 5}));
    assert!(r.get("error").is_none(), "{r}");
    println!("classify_activity first call (builds or loads the index): {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
    let mut times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        tools::run(&mut ws, "classify_activity", &json!({"k": 5}));
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    println!("classify_activity with the index cached: median {:.1} ms", median(times));
}
