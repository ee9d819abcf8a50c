//! Token counts of examples with OpenAI's BPE vocabularies: text cut into pieces by the
//! vocabulary's pre-tokenizer (by hand for ASCII, `pieces`, else `bpe-openai`'s regex), and
//! each piece merged by tiktoken's own algorithm over the vocabulary's ranks, remembered per
//! worker (`tests/python/tiktoken_counts.py` compares every count with Python `tiktoken` in CI).
//!
//! Text is counted exactly; the chat framing uses the constants of OpenAI's cookbook
//! (3 tokens per message, 1 per role, 1 per tool call, 3 to prime the reply), and the
//! tool definitions are counted as their compact JSON. Other frameworks' models have
//! other tokenizers: for them this is the standard proxy, not their exact count.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

mod pieces;

use crate::conversation::{Conversation, Turn};

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

    /// Start reading the vocabulary (see `Ranks::of`) on a thread of its own, so that it
    /// overlaps the directory walk and the first reads instead of stalling the workers.
    pub fn preload(self) {
        std::thread::spawn(move || {
            self.ranks();
        });
    }

    /// The rank of every token of the vocabulary, read from OpenAI's own file on first use.
    fn ranks(self) -> &'static Ranks {
        static O200K: LazyLock<Ranks> = LazyLock::new(|| Ranks::of(include_bytes!(concat!(env!("OUT_DIR"), "/o200k_base.tokens"))));
        static CL100K: LazyLock<Ranks> = LazyLock::new(|| Ranks::of(include_bytes!(concat!(env!("OUT_DIR"), "/cl100k_base.tokens"))));
        match self {
            Tokenizer::O200kBase => &O200K,
            Tokenizer::Cl100kBase => &CL100K,
        }
    }

    /// The vocabulary's pre-tokenizer regex, for the pieces `pieces` cannot cut by hand (at
    /// and near text that is not ASCII): compiled only when such text comes.
    fn pretokenizer(self) -> &'static bpe_openai::Pretokenizer {
        // `bpe-openai` builds a pre-tokenizer only as part of a tokenizer: over a vocabulary of
        // the 256 bytes, which nothing encodes with, that costs no more than the regex itself.
        fn of(tokenizer: Tokenizer) -> bpe_openai::Pretokenizer {
            let bytes = bpe::byte_pair_encoding::BytePairEncoding::from_dictionary((0..=255u8).map(|b| vec![b]), None);
            tokenizer.with_pretokenizer(bytes).pre.expect("a look-ahead tokenizer has a pre-tokenizer")
        }
        static O200K: LazyLock<bpe_openai::Pretokenizer> = LazyLock::new(|| of(Tokenizer::O200kBase));
        static CL100K: LazyLock<bpe_openai::Pretokenizer> = LazyLock::new(|| of(Tokenizer::Cl100kBase));
        match self {
            Tokenizer::O200kBase => &O200K,
            Tokenizer::Cl100kBase => &CL100K,
        }
    }

    /// A `bpe-openai` tokenizer of these byte pairs with this vocabulary's pre-tokenizer, as
    /// `bpe-openai` builds it: `\s+(?!\S)`, which the regex engine cannot say, is a look-ahead of
    /// exactly one character that the pre-tokenizer drops from the match.
    fn with_pretokenizer(self, bpe: bpe::byte_pair_encoding::BytePairEncoding) -> bpe_openai::Tokenizer {
        let pattern = match self {
            Tokenizer::O200kBase => concat!(
                "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
                "|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
                "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+$",
            ),
            Tokenizer::Cl100kBase => {
                "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+$"
            }
        };
        bpe_openai::Tokenizer::new_lookahead(bpe, &[(pattern, false), ("\\s+\\s", true), ("\\s+", false)], false)
            .expect("the pre-tokenizer pattern compiles")
    }
}

/// The merge rank of every token of a vocabulary (its id: OpenAI's vocabulary files list
/// tokens in rank order), to count a piece by tiktoken's own merge loop.
///
/// Why not `bpe-openai`'s encoder: its tables (built from the same file) take 0.3–0.8 s of one
/// core to build, or ~130 ms to read back from a 32 MB cache, and every worker waited for them
/// at the start of an export; this table is built from the embedded tokens in ~25 ms. The counts
/// are tiktoken's by construction (its algorithm), tested equal to `bpe-openai`'s encoder here
/// and to Python `tiktoken` in CI.
struct Ranks {
    /// Tokens of two bytes, by their bytes: the first lookups of every merge.
    pairs: Box<[u32]>,
    /// Tokens of 3..=`SHORT_PIECE` bytes (nearly all), keyed by `ShortPieces::key`: two words
    /// read from the bytes without copying them into a padded buffer.
    short: HashMap<([u64; 2], u8), u32, foldhash::fast::FixedState>,
    /// The longer tokens (4k of o200k's 200k).
    long: HashMap<Box<[u8]>, u32, foldhash::fast::FixedState>,
}

impl Ranks {
    /// The table of a vocabulary as `build.rs` embeds it from OpenAI's file: each token as a
    /// length byte and its bytes, in rank order (2.3 MB for the two, where built BPE tables
    /// would be 47 MB of the binary and of the Python wheel).
    fn of(tokens: &[u8]) -> Ranks {
        let hasher = foldhash::fast::FixedState::with_seed(7);
        let mut ranks = Ranks {
            pairs: vec![u32::MAX; 1 << 16].into_boxed_slice(),
            short: HashMap::with_capacity_and_hasher(tokens.len() / 8, hasher.clone()),
            long: HashMap::with_hasher(hasher),
        };
        let (mut at, mut id) = (0, 0u32);
        while let Some(&len) = tokens.get(at) {
            let bytes = &tokens[at + 1..at + 1 + usize::from(len)];
            // The lowest rank where a vocabulary repeats a token (none of OpenAI's do).
            match bytes.len() {
                // Every byte is a token of its own; merges never look one up.
                0 | 1 => {}
                2 => {
                    let pair = &mut ranks.pairs[Self::pair(bytes)];
                    *pair = (*pair).min(id);
                }
                3..=SHORT_PIECE => _ = ranks.short.entry((ShortPieces::key(bytes), len)).or_insert(id),
                _ => _ = ranks.long.entry(bytes.into()).or_insert(id),
            }
            at += 1 + usize::from(len);
            id += 1;
        }
        ranks
    }

    /// Where two bytes sit in `pairs`.
    fn pair(bytes: &[u8]) -> usize {
        usize::from(u16::from_le_bytes([bytes[0], bytes[1]]))
    }

    /// The rank of a token of two bytes or more (`u32::MAX`: not a token).
    #[inline]
    fn rank(&self, bytes: &[u8]) -> u32 {
        let rank = match bytes.len() {
            2 => return self.pairs[Self::pair(bytes)],
            ..=SHORT_PIECE => self.short.get(&(ShortPieces::key(bytes), bytes.len() as u8)),
            _ => self.long.get(bytes),
        };
        rank.copied().unwrap_or(u32::MAX)
    }

    /// The tokens of a piece of two bytes or more: tiktoken's `byte_pair_merge` — merge the
    /// adjacent pair of lowest rank (the leftmost of equals) until no pair is a token. (The
    /// counter calls the loop it needs by itself: it already knows the piece's length.)
    #[cfg(test)]
    fn count(&self, piece: &[u8]) -> usize {
        if piece.len() <= SHORT_PIECE { self.count_short(piece) } else { self.count_long(piece) }
    }

    /// The merge loop as tiktoken writes it, over parts on the stack: a scan per merge is
    /// cheapest for the few parts of a short piece.
    fn count_short(&self, piece: &[u8]) -> usize {
        debug_assert!((2..=SHORT_PIECE).contains(&piece.len()));
        // (start of a part, rank of the part joined with the next one).
        let mut parts = [(0u8, u32::MAX); SHORT_PIECE + 1];
        let mut len = piece.len() + 1;
        for (i, part) in parts[..len].iter_mut().enumerate() {
            *part = (i as u8, if i + 2 <= piece.len() { self.rank(&piece[i..i + 2]) } else { u32::MAX });
        }
        // The rank of part i joined with the two after it, once i + 1 is merged into i.
        let joined = |parts: &[(u8, u32)], len: usize, i: usize| {
            if i + 3 < len { self.rank(&piece[parts[i].0 as usize..parts[i + 3].0 as usize]) } else { u32::MAX }
        };
        loop {
            let (i, rank) = parts[..len - 1].iter().enumerate().fold((0, u32::MAX), |best, (i, p)| if p.1 < best.1 { (i, p.1) } else { best });
            if rank == u32::MAX {
                return len - 1;
            }
            if i > 0 {
                parts[i - 1].1 = joined(&parts, len, i - 1);
            }
            parts[i].1 = joined(&parts, len, i);
            parts.copy_within(i + 2..len, i + 1);
            len -= 1;
        }
    }

    /// The same merges for a piece of any length, the lowest pair taken from a heap (ordered by
    /// rank, then start: the leftmost of equals, as the scan takes it) so that a long piece
    /// (a run of spaces or punctuation, a word without breaks) costs n log n, not n².
    fn count_long(&self, piece: &[u8]) -> usize {
        use std::cmp::Reverse;
        // Positions as u32: 16 bytes of bookkeeping a byte of the piece while it is counted, not
        // 32 (a piece is one run of a class — spaces, letters, punctuation — inside one string;
        // one of 4 GiB would be counted as its bytes).
        let Ok(n) = u32::try_from(piece.len()) else { return piece.len() };
        if n < 2 {
            return piece.len();
        }
        let span = |from: u32, to: u32| &piece[from as usize..to as usize];
        // Parts are named by their start byte: the start of the part after it, and before it
        // (`u32::MAX`: none).
        let mut next: Vec<u32> = (1..=n).collect();
        let mut prev: Vec<u32> = (0..n).map(|i| i.wrapping_sub(1)).collect();
        // The rank of part i joined with the next part (`u32::MAX`: none, or i is merged away).
        let mut pair = vec![u32::MAX; piece.len()];
        let mut heap = std::collections::BinaryHeap::with_capacity(piece.len());
        for i in 0..n - 1 {
            pair[i as usize] = self.rank(span(i, i + 2));
            if pair[i as usize] != u32::MAX {
                heap.push(Reverse((pair[i as usize], i)));
            }
        }
        let mut parts = piece.len();
        while let Some(Reverse((rank, i))) = heap.pop() {
            // Ranks name distinct tokens, so an entry whose rank is still its part's is that pair.
            if pair[i as usize] != rank {
                continue;
            }
            let gone = next[i as usize];
            let after = next[gone as usize];
            pair[gone as usize] = u32::MAX;
            next[i as usize] = after;
            if after < n {
                prev[after as usize] = i;
            }
            parts -= 1;
            pair[i as usize] = if after < n { self.rank(span(i, next[after as usize])) } else { u32::MAX };
            if pair[i as usize] != u32::MAX {
                heap.push(Reverse((pair[i as usize], i)));
            }
            let before = prev[i as usize];
            if before < n {
                pair[before as usize] = self.rank(span(before, after));
                if pair[before as usize] != u32::MAX {
                    heap.push(Reverse((pair[before as usize], before)));
                }
            }
        }
        parts
    }
}

/// Pieces longer than this are counted every time (long pieces rarely repeat).
const MAX_CACHED_PIECE: usize = 48;
/// Pieces up to this long are remembered in `ShortPieces`, keyed by their bytes inline.
const SHORT_PIECE: usize = 16;
const LONG_PIECE: usize = SHORT_PIECE + 1;
/// Slots of the short-piece memo (log2): 16 K × 24 bytes per worker and vocabulary.
const SHORT_SLOTS_LOG2: u32 = 14;
/// Longer cached pieces per worker thread and vocabulary (the frequent ones come back at once after it is emptied).
const MAX_CACHED_PIECES: usize = 1 << 13;

type PieceCounts = HashMap<Box<[u8]>, u32, foldhash::fast::RandomState>;
/// Whole texts seen in every example (tool definitions, manifests: kilobytes each, hashed
/// once per example, so the hash is foldhash rather than SipHash).
type TextCounts = HashMap<String, usize, foldhash::fast::RandomState>;

/// A two-way set-associative memo of short pieces (words, keys, digit groups, punctuation:
/// nearly every piece of thread text). A lookup is one multiply and a few word compares, where
/// a hash map of boxed keys costs a hash over the bytes, a probe and a `memcmp` call; a miss
/// replaces the set's older slot, so random identifiers cannot push the frequent pieces out
/// for long.
struct ShortPieces {
    slots: Vec<Slot>,
}

/// A piece's `ShortPieces::key` and length (0: a free slot), with its count.
#[derive(Clone, Copy, Default)]
struct Slot {
    key: [u64; 2],
    len: u32,
    count: u32,
}

impl ShortPieces {
    fn new() -> ShortPieces {
        ShortPieces { slots: vec![Slot::default(); 1 << SHORT_SLOTS_LOG2] }
    }

    /// The bytes of a piece of 2..=16 bytes as two words: its first and last 8 bytes, which
    /// overlap (or first and last 4, or the first, middle and last byte) — with the length, one
    /// key per piece, read without copying it into a padded buffer (a store-forwarding stall).
    fn key(b: &[u8]) -> [u64; 2] {
        let n = b.len();
        let word = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"));
        let half = |at: usize| u64::from(u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes")));
        match n {
            8.. => [word(0), word(n - 8)],
            4.. => [half(0) | half(n - 4) << 32, 0],
            _ => [u64::from(b[0]) | u64::from(b[n / 2]) << 8 | u64::from(b[n - 1]) << 16, 0],
        }
    }

    /// The first of the two slots that may hold a piece with this key and length.
    fn set(key: [u64; 2], len: u32) -> usize {
        // wyhash's folded multiply: every key bit reaches the set index.
        let m = u128::from(key[0] ^ 0x243F_6A88_85A3_08D3) * u128::from(key[1] ^ u64::from(len) ^ 0x1319_8A2E_0370_7344);
        let h = (m as u64) ^ (m >> 64) as u64;
        (h as usize & ((1 << (SHORT_SLOTS_LOG2 - 1)) - 1)) * 2
    }

    fn count(&mut self, bytes: &[u8], ranks: &Ranks) -> usize {
        let key = Self::key(bytes);
        let len = bytes.len() as u32;
        // Two slots per set: with one, two frequent pieces that shared a slot (`_stats` and
        // ` to`, in the benchmark corpus) evicted each other on every use, and those misses
        // were half of all misses. The last one used sits first.
        let set = Self::set(key, len);
        let pair = &mut self.slots[set..set + 2];
        if pair[0].key == key && pair[0].len == len {
            return pair[0].count as usize;
        }
        if pair[1].key == key && pair[1].len == len {
            pair.swap(0, 1);
            return pair[0].count as usize;
        }
        let count = ranks.count_short(bytes);
        pair[1] = pair[0];
        pair[0] = Slot { key, len, count: count as u32 };
        count
    }

    #[cfg(test)]
    fn remembers(&self, bytes: &[u8]) -> bool {
        let (key, len) = (Self::key(bytes), bytes.len() as u32);
        let set = Self::set(key, len);
        self.slots[set..set + 2].iter().any(|s| s.key == key && s.len == len)
    }
}

#[derive(Default)]
struct Memo {
    short: Option<ShortPieces>,
    long: PieceCounts,
}

thread_local! {
    static PIECES: std::cell::RefCell<[Memo; 2]> = std::cell::RefCell::new(Default::default());
}

const PER_MESSAGE: usize = 3;
const PER_CALL: usize = 1;
const REPLY_PRIMING: usize = 3;

/// Counts examples; the tool definitions (the same for almost every example) are counted once.
pub struct Counter {
    tokenizer: Tokenizer,
    tools_cache: Mutex<TextCounts>,
    manifest_cache: Mutex<TextCounts>,
}

impl Counter {
    pub fn new(tokenizer: Tokenizer) -> Counter {
        Counter { tokenizer, tools_cache: Mutex::default(), manifest_cache: Mutex::default() }
    }

    /// Exactly tiktoken's count (the same pre-tokenizer splits — see `pieces` — and no
    /// normalization for the OpenAI vocabularies), with each short piece's count remembered
    /// per worker thread: words, keys and punctuation repeat across threads, and a lookup is
    /// much cheaper than merging the piece again.
    pub fn text(&self, s: &str) -> usize {
        match self.tokenizer {
            Tokenizer::O200kBase => self.count(pieces::o200k_pieces(s)),
            Tokenizer::Cl100kBase => self.count(pieces::cl100k_pieces(s)),
        }
    }

    #[inline(always)]
    fn count<'a>(&self, pieces: impl Iterator<Item = &'a [u8]>) -> usize {
        let ranks = self.tokenizer.ranks();
        PIECES.with_borrow_mut(|memos| {
            let Memo { short, long } = &mut memos[self.tokenizer as usize];
            let short = short.get_or_insert_with(ShortPieces::new);
            pieces
                .map(|bytes| {
                    match bytes.len() {
                        // Every byte is a token of a byte-level BPE, and a piece is never split
                        // into less than its bytes' tokens.
                        1 => 1,
                        // One token if the pair is one, else its two bytes: one load, cheaper
                        // than the memo (pairs are a third of thread text's pieces).
                        2 => 2 - usize::from(ranks.rank(bytes) != u32::MAX),
                        3..=SHORT_PIECE => short.count(bytes, ranks),
                        LONG_PIECE..=MAX_CACHED_PIECE => {
                            if let Some(&n) = long.get(bytes) {
                                return n as usize;
                            }
                            let n = ranks.count_long(bytes);
                            if long.len() >= MAX_CACHED_PIECES {
                                long.clear();
                            }
                            long.insert(bytes.into(), n as u32);
                            n
                        }
                        _ => ranks.count_long(bytes),
                    }
                })
                .sum()
        })
    }

    pub fn tools(&self, tools_json: &str) -> usize {
        self.cached(&self.tools_cache, tools_json)
    }

    fn cached(&self, cache: &Mutex<TextCounts>, text: &str) -> usize {
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
                            .map(|c| self.text(c.name) + self.text(&c.arguments_text) + PER_CALL)
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

/// Mean, 95th percentile and maximum of token counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct TokenStats {
    pub examples: usize,
    pub total: u64,
    pub mean: f64,
    pub p95: usize,
    pub max: usize,
}

impl TokenStats {
    pub fn of(mut counts: Vec<usize>) -> TokenStats {
        if counts.is_empty() {
            return TokenStats::default();
        }
        counts.sort_unstable();
        let total: u64 = counts.iter().map(|&c| c as u64).sum();
        // Nearest-rank percentile.
        let rank = ((0.95 * counts.len() as f64).ceil() as usize).clamp(1, counts.len());
        TokenStats {
            examples: counts.len(),
            total,
            mean: (total as f64 / counts.len() as f64 * 10.0).round() / 10.0,
            p95: counts[rank - 1],
            max: *counts.last().expect("not empty"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `bpe-openai`'s encoder over the same vocabularies and pre-tokenizers: what the counts
    /// here are tested against (CI also tests them against Python `tiktoken`).
    fn reference(tokenizer: Tokenizer) -> &'static bpe_openai::Tokenizer {
        fn build(gzipped: &[u8], tokenizer: Tokenizer) -> bpe_openai::Tokenizer {
            use std::io::Read;
            let mut text = String::new();
            flate2::read::GzDecoder::new(gzipped).read_to_string(&mut text).unwrap();
            let tokens = bpe::byte_pair_encoding::read_tiktoken(&text).unwrap();
            // The hash factor `bpe-openai` builds these vocabularies with (collision-free for both).
            tokenizer.with_pretokenizer(bpe::byte_pair_encoding::BytePairEncoding::from_dictionary(tokens, Some(17_846_336_922_010_275_747)))
        }
        static O200K: LazyLock<bpe_openai::Tokenizer> =
            LazyLock::new(|| build(include_bytes!("tokens/vocab/o200k_base.tiktoken.gz"), Tokenizer::O200kBase));
        static CL100K: LazyLock<bpe_openai::Tokenizer> =
            LazyLock::new(|| build(include_bytes!("tokens/vocab/cl100k_base.tiktoken.gz"), Tokenizer::Cl100kBase));
        match tokenizer {
            Tokenizer::O200kBase => &O200K,
            Tokenizer::Cl100kBase => &CL100K,
        }
    }

    /// The merge loops count what `bpe`'s encoder counts, on every kind of piece: random bytes
    /// (not UTF-8), letters, SAX words, digits, punctuation and space runs, words the
    /// vocabulary holds whole and pieces made of its tokens; short, long (the heap's loop) and
    /// thousands of bytes long; and the two loops agree with each other.
    #[test]
    fn pieces_are_merged_as_the_encoder_counts_them() {
        let mut rng = fastrand::Rng::with_seed(11);
        let alphabets: [&[u8]; 6] = [b"abcdef", b"abcdefghijklmnopqrstuvwxyz", b"0123456789", b" .,:;{}[]\"'_-/\n", b"aeiou rstlnE", b" "];
        for tokenizer in [Tokenizer::O200kBase, Tokenizer::Cl100kBase] {
            let (bpe, ranks) = (&reference(tokenizer).bpe, tokenizer.ranks());
            let random = |rng: &mut fastrand::Rng, k: usize, n: usize| -> Vec<u8> {
                match k % 8 {
                    6 => (0..n).map(|_| rng.u8(..)).collect(),
                    // Whole tokens of the vocabulary one after another.
                    7 => {
                        let mut piece = Vec::new();
                        while piece.len() < n {
                            piece.extend_from_slice(bpe.token_bytes(rng.u32(..bpe.num_tokens() as u32)));
                        }
                        piece
                    }
                    a => (0..n).map(|_| alphabets[a % 6][rng.usize(..alphabets[a % 6].len())]).collect(),
                }
            };
            for k in 0..60_000 {
                let n = rng.usize(2..=SHORT_PIECE);
                let piece = random(&mut rng, k, n);
                assert_eq!(ranks.count(&piece), bpe.count(&piece), "{tokenizer:?}: {piece:?}");
                assert_eq!(ranks.count_long(&piece), bpe.count(&piece), "{tokenizer:?}: {piece:?}");
            }
            for k in 0..6_000 {
                let n = if k % 50 == 0 { rng.usize(200..3_000) } else { rng.usize(SHORT_PIECE + 1..=4 * MAX_CACHED_PIECE) };
                let piece = random(&mut rng, k, n);
                assert_eq!(ranks.count(&piece), bpe.count(&piece), "{tokenizer:?}: {piece:?}");
            }
            for k in 0..8 {
                let piece = random(&mut rng, k, 100_000);
                assert_eq!(ranks.count(&piece), bpe.count(&piece), "{tokenizer:?}: a piece of 100 KB, kind {k}");
            }
            for id in (0..bpe.num_tokens() as u32).filter(|&id| bpe.token_bytes(id).len() >= 2) {
                assert_eq!(ranks.count(bpe.token_bytes(id)), 1, "{tokenizer:?}: token {id} is one token");
            }
            for word in [&b"hello"[..], b" the", b"_session", b"\":", b"  ", b"ab"] {
                assert_eq!(ranks.count(word), bpe.count(word), "{tokenizer:?}: {word:?}");
            }
        }
    }

    #[test]
    fn token_stats_nearest_rank() {
        let s = TokenStats::of((1..=100).collect());
        assert_eq!((s.p95, s.max, s.mean), (95, 100, 50.5));
        assert_eq!(TokenStats::of(vec![]).examples, 0);
    }

    #[test]
    fn counts_real_tokens() {
        let c = Counter::new(Tokenizer::O200kBase);
        assert_eq!(c.text("hello world"), 2);
        assert!(c.text("<|endoftext|>") > 1, "special tokens in data are counted as text");
        let c = Counter::new(Tokenizer::Cl100kBase);
        assert_eq!(c.text("hello world"), 2);
    }

    #[test]
    fn remembered_pieces_count_as_the_tokenizer_does() {
        let long = "x".repeat(MAX_CACHED_PIECE * 3);
        let texts = [
            "The accelerometer's dominant frequency is 1.95 Hz, typical of walking.",
            "{\"mean_su\":3.214027,\"std_su\":9.864671,\"channels\":[\"acc_x\",\"acc_y\"]}",
            "  indented\n\n\tlines  \r\n trailing   ",
            "données, ünïcödé, 中文, emoji 🏃‍♀️ and 'quotes' it's we'll",
            long.as_str(),
            "",
        ];
        for tokenizer in [Tokenizer::O200kBase, Tokenizer::Cl100kBase] {
            let c = Counter::new(tokenizer);
            for round in 0..2 {
                for t in texts {
                    assert_eq!(c.text(t), reference(tokenizer).count(t), "{tokenizer:?} round {round}: {t:?}");
                }
            }
        }
    }

    /// Whole texts, counted through every path (single bytes, the pair table, the memo and
    /// its misses, the long pieces' map and heap, the regex for non-ASCII), count what the
    /// reference counts, twice over (the second time from the memos).
    #[test]
    fn random_texts_count_as_the_tokenizer_does() {
        const ALPHABET: &[&str] = &[
            "a", "e", "s", "t", "x", "q", "A", "Z", "0", "7", " ", " ", "  ", "\n", "\t", "'", "\"", ":", ",", ".", "{",
            "_", "é", "中", "🏃", "\u{a0}", "abcdef", "_session", "walking", "1.95", "0.0000",
        ];
        let mut rng = fastrand::Rng::with_seed(21);
        let texts: Vec<String> = (0..3_000)
            .map(|k| {
                let len = if k % 100 == 0 { rng.usize(200..2_000) } else { rng.usize(1..60) };
                (0..len).map(|_| ALPHABET[rng.usize(..ALPHABET.len())]).collect()
            })
            .collect();
        for tokenizer in [Tokenizer::O200kBase, Tokenizer::Cl100kBase] {
            let c = Counter::new(tokenizer);
            for round in 0..2 {
                for t in &texts {
                    assert_eq!(c.text(t), reference(tokenizer).count(t.as_str()), "{tokenizer:?} round {round}: {t:?}");
                }
            }
        }
    }

    #[test]
    fn pieces_sharing_a_set_are_both_remembered() {
        let (bpe, ranks) = (&reference(Tokenizer::O200kBase).bpe, Tokenizer::O200kBase.ranks());
        let mut memo = ShortPieces::new();
        let set_of = |p: &str| ShortPieces::set(ShortPieces::key(p.as_bytes()), p.len() as u32);
        let target = set_of("_stats");
        let mates: Vec<String> = (0..2_000_000).map(|i| format!("w{i}")).filter(|p| set_of(p) == target).take(2).collect();
        assert_eq!(mates.len(), 2, "two more pieces in the set of `_stats`");
        let (a, b, c) = ("_stats", mates[0].as_str(), mates[1].as_str());
        for _ in 0..3 {
            assert_eq!(memo.count(a.as_bytes(), ranks), bpe.count(a.as_bytes()));
            assert_eq!(memo.count(b.as_bytes(), ranks), bpe.count(b.as_bytes()));
        }
        assert!(memo.remembers(a.as_bytes()) && memo.remembers(b.as_bytes()), "two pieces of one set stay");
        memo.count(a.as_bytes(), ranks);
        assert_eq!(memo.count(c.as_bytes(), ranks), bpe.count(c.as_bytes()));
        assert!(memo.remembers(a.as_bytes()) && memo.remembers(c.as_bytes()), "the newest and the last used stay");
        assert!(!memo.remembers(b.as_bytes()), "the least recently used of the set goes");
    }

    /// Keys read overlapping words: every string over two letters of each short length must
    /// still get a key of its own.
    #[test]
    fn short_piece_keys_are_unique() {
        let mut seen = std::collections::HashMap::new();
        for n in 2..=SHORT_PIECE {
            for bits in 0..(1u32 << n.min(12)) {
                let piece: Vec<u8> = (0..n).map(|i| if bits >> (i % 12) & 1 == 1 { b'b' } else { b'a' }).collect();
                let key = (ShortPieces::key(&piece), piece.len());
                if let Some(other) = seen.insert(key, piece.clone()) {
                    assert_eq!(other, piece, "two pieces share a key");
                }
            }
        }
        let mut memo = ShortPieces::new();
        let (bpe, ranks) = (&reference(Tokenizer::O200kBase).bpe, Tokenizer::O200kBase.ranks());
        for round in 0..2 {
            for piece in seen.values() {
                assert_eq!(memo.count(piece, ranks), bpe.count(piece), "round {round}");
            }
        }
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
