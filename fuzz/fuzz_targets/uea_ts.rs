//! The `.ts` reader on arbitrary text: errors, never panics.
//! Run: `RUSTC_BOOTSTRAP=1 cargo fuzz run uea_ts -- -max_total_time=120`
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = threadkit::dataset::uea_ts::parse(text);
    }
});
