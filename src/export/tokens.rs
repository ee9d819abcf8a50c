//! Token counts of examples with OpenAI's BPE vocabularies, counted by `bpe-openai`
//! (GitHub's rust-gems: the same vocabularies and splits as `tiktoken`, about 4× faster
//! than `tiktoken-rs` on thread text; `tests/python/tiktoken_counts.py` compares every
//! count with Python `tiktoken` in CI).
//!
//! Text is counted exactly; the chat framing uses the constants of OpenAI's cookbook
//! (3 tokens per message, 1 per role, 1 per tool call, 3 to prime the reply), and the
//! tool definitions are counted as their compact JSON. Other frameworks' models have
//! other tokenizers: for them this is the standard proxy, not their exact count.

use std::collections::HashMap;
use std::sync::Mutex;


use super::conversation::{Conversation, Turn};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Tokenizer {
    /// GPT-4o, GPT-4.1, o-series.
    #[value(name = "o200k_base")]
    O200kBase,
    /// GPT-4, GPT-3.5-turbo.
    #[value(name = "cl100k_base")]
    Cl100kBase,
}

impl Tokenizer {
    pub fn name(self) -> &'static str {
        match self {
            Tokenizer::O200kBase => "o200k_base",
            Tokenizer::Cl100kBase => "cl100k_base",
        }
    }

    fn bpe(self) -> &'static bpe_openai::Tokenizer {
        match self {
            Tokenizer::O200kBase => bpe_openai::o200k_base(),
            Tokenizer::Cl100kBase => bpe_openai::cl100k_base(),
        }
    }
}

const PER_MESSAGE: usize = 3;
const PER_CALL: usize = 1;
const REPLY_PRIMING: usize = 3;

/// Counts examples; the tool definitions (the same for almost every example) are counted once.
pub struct Counter {
    tokenizer: Tokenizer,
    tools_cache: Mutex<HashMap<String, usize>>,
    manifest_cache: Mutex<HashMap<String, usize>>,
}

impl Counter {
    pub fn new(tokenizer: Tokenizer) -> Counter {
        Counter { tokenizer, tools_cache: Mutex::new(HashMap::new()), manifest_cache: Mutex::new(HashMap::new()) }
    }

    pub fn text(&self, s: &str) -> usize {
        self.tokenizer.bpe().count(s)
    }

    pub fn tools(&self, tools_json: &str) -> usize {
        self.cached(&self.tools_cache, tools_json)
    }

    fn cached(&self, cache: &Mutex<HashMap<String, usize>>, text: &str) -> usize {
        if let Some(&n) = cache.lock().expect("no panics while held").get(text) {
            return n;
        }
        let n = self.text(text);
        cache.lock().expect("no panics while held").insert(text.to_string(), n);
        n
    }

    /// The generator's first message repeats its dataset's manifest in every thread. The
    /// BPE pre-tokenizer always ends a piece after the manifest's closing `}` and the blank
    /// line (`User` cannot join a piece that ends in a newline), so the manifest part is
    /// counted once per dataset and the query part per thread, with the same total
    /// (tested against counting the whole text).
    pub fn first_message(&self, content: &str) -> usize {
        let Some(first) = crate::thread::FirstMessage::parse(content) else { return self.text(content) };
        if !first.manifest_text.ends_with('}') {
            return self.text(content);
        }
        let split = crate::thread::MANIFEST_PREFIX.len() + first.manifest_text.len() + 2;
        let (head, tail) = content.split_at(split);
        self.cached(&self.manifest_cache, head) + self.text(tail)
    }

    pub fn conversation(&self, conversation: &Conversation, tools_json: &str) -> usize {
        let mut n = REPLY_PRIMING + self.tools(tools_json);
        for turn in &conversation.turns {
            n += PER_MESSAGE;
            n += match turn {
                Turn::System(c) => 1 + self.text(c),
                Turn::User(c) => 1 + self.first_message(c),
                Turn::Assistant { content, calls } => {
                    1 + self.text(content)
                        + calls
                            .iter()
                            .map(|c| self.text(&c.name) + self.text(&c.arguments_text) + PER_CALL)
                            .sum::<usize>()
                }
                // OpenAI's format has no `name` on tool messages (the openai lines leave it out),
                // so it is not counted: export, `validate --profile` and tiktoken agree.
                Turn::Tool { content, .. } => 1 + self.text(content),
            };
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_real_tokens() {
        let c = Counter::new(Tokenizer::O200kBase);
        assert_eq!(c.text("hello world"), 2);
        assert!(c.text("<|endoftext|>") > 1, "special tokens in data are counted as text");
        let c = Counter::new(Tokenizer::Cl100kBase);
        assert_eq!(c.text("hello world"), 2);
    }

    #[test]
    fn first_message_split_counts_exactly_the_whole() {
        let manifests = [
            serde_json::json!({"dataset_name": "UCI HAR", "channels": [{"name": "body_acc_x", "sampling_rate_hz": 50.0}]}),
            serde_json::json!({"dataset_name": "données", "description": "ünïcödé, 中文", "channels": []}),
        ];
        let queries = [
            "What activity is this?",
            " leading space",
            "\nnewline first",
            "123 digits",
            "}}{{",
            "",
            "é",
            "  \n\n  ",
            "'s",
        ];
        for tokenizer in [Tokenizer::O200kBase, Tokenizer::Cl100kBase] {
            let c = Counter::new(tokenizer);
            for m in &manifests {
                for q in queries {
                    let text = crate::thread::FirstMessage::build(m, q);
                    assert_eq!(c.first_message(&text), c.text(&text), "{tokenizer:?} {q:?}");
                }
            }
        }
    }
}
