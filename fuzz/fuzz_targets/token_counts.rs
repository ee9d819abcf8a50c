//! Token counts on arbitrary text: threadkit's pre-tokenizer (by hand for ASCII, the regex
//! for the rest) and its piece memo must count exactly what `bpe-openai` counts with its
//! own regex, on both vocabularies, and never panic.
//! Run: `RUSTC_BOOTSTRAP=1 cargo fuzz run token_counts -- -max_total_time=120`
#![no_main]

use libfuzzer_sys::fuzz_target;
use threadkit::tokens::{Counter, Tokenizer};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for (ours, reference) in [
        (Counter::new(Tokenizer::O200kBase), bpe_openai::o200k_base()),
        (Counter::new(Tokenizer::Cl100kBase), bpe_openai::cl100k_base()),
    ] {
        // Twice: the second count comes from the per-worker memo.
        for _ in 0..2 {
            assert_eq!(ours.text(text), reference.count(text), "{text:?}");
        }
    }
});
