//! A chat template from arbitrary text, rendered on the probe conversation: a compile or
//! template error, or text, within the render budget; never a panic, never unbounded memory.
//! Run: `RUSTC_BOOTSTRAP=1 cargo fuzz run chat_template -- -max_total_time=300 -rss_limit_mb=1024`
#![no_main]

use libfuzzer_sys::fuzz_target;
use threadkit::export::chat_template::{probe_with_threadkit_tools, ChatTemplate};

fuzz_target!(|data: &[u8]| {
    if let Ok(source) = std::str::from_utf8(data) {
        if let Ok(template) = ChatTemplate::from_source(source) {
            let _ = template.audit(&probe_with_threadkit_tools());
        }
    }
});
