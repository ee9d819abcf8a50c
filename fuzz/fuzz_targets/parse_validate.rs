//! Parse + validate + render arbitrary bytes as a `.json` file and as a JSONL record.
//! Run: `RUSTC_BOOTSTRAP=1 cargo fuzz run parse_validate -- -max_total_time=300`
#![no_main]

use libfuzzer_sys::fuzz_target;
use threadkit::report::{human::Renderer, json};
use threadkit::source::RecordText;
use threadkit::validate::{validate_record, FileReport, Settings};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let settings = Settings::default();
    for record in [None, Some(3)] {
        let report = validate_record(RecordText { record, text: text.to_string(), bom: false }, Some("fuzz"), &settings);
        let file = FileReport { path: "fuzz.json".into(), records: vec![report] };
        let _ = Renderer::new(false).file(&file);
        let _ = json::entries(&file);
    }
});
