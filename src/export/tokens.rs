//! Token counts of examples with a real BPE tokenizer (`tiktoken-rs`).
//!
//! Text is counted exactly; the chat framing uses the constants of OpenAI's cookbook
//! (3 tokens per message, 1 per name, 1 per tool call, 3 to prime the reply), and the
//! tool definitions are counted as their compact JSON. Other frameworks' models have
//! other tokenizers: for them this is the standard proxy, not their exact count.

use std::collections::HashMap;
use std::sync::Mutex;

use tiktoken_rs::CoreBPE;

use super::profile::{Conversation, Turn};

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

    fn bpe(self) -> &'static CoreBPE {
        match self {
            Tokenizer::O200kBase => tiktoken_rs::o200k_base_singleton(),
            Tokenizer::Cl100kBase => tiktoken_rs::cl100k_base_singleton(),
        }
    }
}

const PER_MESSAGE: usize = 3;
const PER_NAME: usize = 1;
const PER_CALL: usize = 1;
const REPLY_PRIMING: usize = 3;

/// Counts examples; the tool definitions (the same for almost every example) are counted once.
pub struct Counter {
    tokenizer: Tokenizer,
    tools_cache: Mutex<HashMap<String, usize>>,
}

impl Counter {
    pub fn new(tokenizer: Tokenizer) -> Counter {
        Counter { tokenizer, tools_cache: Mutex::new(HashMap::new()) }
    }

    pub fn text(&self, s: &str) -> usize {
        self.tokenizer.bpe().count_ordinary(s)
    }

    pub fn tools(&self, tools_json: &str) -> usize {
        if let Some(&n) = self.tools_cache.lock().expect("no panics while held").get(tools_json) {
            return n;
        }
        let n = self.text(tools_json);
        self.tools_cache.lock().expect("no panics while held").insert(tools_json.to_string(), n);
        n
    }

    pub fn conversation(&self, conversation: &Conversation, tools_json: &str) -> usize {
        let mut n = REPLY_PRIMING + self.tools(tools_json);
        for turn in &conversation.turns {
            n += PER_MESSAGE;
            n += match turn {
                Turn::System(c) => 1 + self.text(c),
                Turn::User(c) => 1 + self.text(c),
                Turn::Assistant { content, calls } => {
                    1 + self.text(content)
                        + calls.iter().map(|c| self.text(&c.name) + self.text(&c.arguments_text) + PER_CALL).sum::<usize>()
                }
                Turn::Tool { name, content, .. } => 1 + self.text(content) + self.text(name) + PER_NAME,
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
}
