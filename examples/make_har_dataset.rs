//! Writes a UCI-HAR-sized dataset for benchmarks: the real UCI HAR manifest and labels
//! (10,299 sessions, 6 activities) with synthetic 128-sample × 9-channel signals whose
//! rhythm and posture depend on the label.
//!
//!     cargo run --release --example make_har_dataset -- OUT_DIR
#![allow(clippy::print_stdout, clippy::print_stderr, reason = "a benchmark tool reports on the terminal")]

use std::path::PathBuf;

use threadkit::dataset::recording::Recording;

fn main() {
    let out = PathBuf::from(std::env::args().nth(1).expect("usage: make_har_dataset OUT_DIR"));
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/data/uci_har");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures.join("manifest.json")).unwrap()).unwrap();
    let labels: std::collections::BTreeMap<String, Vec<String>> =
        serde_json::from_str(&std::fs::read_to_string(fixtures.join("labels.json")).unwrap()).unwrap();
    std::fs::create_dir_all(out.join("sessions")).unwrap();
    std::fs::copy(fixtures.join("manifest.json"), out.join("manifest.json")).unwrap();
    std::fs::copy(fixtures.join("labels.json"), out.join("labels.json")).unwrap();
    let channels: Vec<String> =
        manifest["channels"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap().to_string()).collect();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for (n, (session, label)) in labels.iter().enumerate() {
        let (freq, amp, tilt) = match label[0].as_str() {
            "walking" => (1.9, 0.30, 0.1),
            "walking_upstairs" => (1.6, 0.35, 0.2),
            "walking_downstairs" => (2.1, 0.45, 0.15),
            "sitting" => (0.0, 0.01, 0.6),
            "standing" => (0.0, 0.01, 0.05),
            _ => (0.0, 0.01, 1.2),
        };
        let t: Vec<f64> = (0..128).map(|i| i as f64 / 50.0).collect();
        let data = channels
            .iter()
            .enumerate()
            .map(|(c, name)| {
                let v = t
                    .iter()
                    .map(|&t| {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        let noise = (seed % 1000) as f64 / 1000.0 - 0.5;
                        let wave = amp * (2.0 * std::f64::consts::PI * freq * t + c as f64).sin();
                        let gravity = if name.starts_with("total_acc") { [1.0 - tilt, tilt, 0.1][c % 3] } else { 0.0 };
                        gravity + wave + 0.02 * noise
                    })
                    .collect();
                (name.clone(), v)
            })
            .collect();
        let rec = Recording { timestamps: t, channels: data };
        let dir = out.join("sessions").join(session);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("data.parquet"), rec.to_parquet().unwrap()).unwrap();
        if n % 2000 == 0 {
            eprintln!("{n} sessions");
        }
    }
    eprintln!("{} sessions written to {}", labels.len(), out.display());
}
