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

    /// Start loading the vocabulary (about 0.3 s of one core for cl100k, 0.8 s for o200k: see
    /// `vocabulary`) on a thread of its own, so that it overlaps the directory walk and the first
    /// reads instead of stalling the workers.
    pub fn preload(self) {
        std::thread::spawn(move || {
            self.short_ranks();
        });
    }

    /// The ranks of the vocabulary's short tokens (built from `bpe`, on first use).
    fn short_ranks(self) -> &'static ShortRanks {
        static O200K: LazyLock<ShortRanks> = LazyLock::new(|| ShortRanks::of(&Tokenizer::O200kBase.bpe().bpe));
        static CL100K: LazyLock<ShortRanks> = LazyLock::new(|| ShortRanks::of(&Tokenizer::Cl100kBase.bpe().bpe));
        match self {
            Tokenizer::O200kBase => &O200K,
            Tokenizer::Cl100kBase => &CL100K,
        }
    }

    fn bpe(self) -> &'static bpe_openai::Tokenizer {
        static O200K: LazyLock<bpe_openai::Tokenizer> = LazyLock::new(|| {
            let pieces = [
                "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
                "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
                "\\p{N}{1,3}",
                " ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*",
                "\\s*[\\r\\n]+",
                "\\s+$",
            ]
            .join("|");
            vocabulary("o200k_base", include_bytes!("tokens/vocab/o200k_base.tiktoken.gz"), &pieces)
        });
        static CL100K: LazyLock<bpe_openai::Tokenizer> = LazyLock::new(|| {
            vocabulary(
                "cl100k_base",
                include_bytes!("tokens/vocab/cl100k_base.tiktoken.gz"),
                "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+$",
            )
        });
        match self {
            Tokenizer::O200kBase => &O200K,
            Tokenizer::Cl100kBase => &CL100K,
        }
    }
}

/// A tokenizer built from OpenAI's own vocabulary file (tiktoken's `.tiktoken`: a token's
/// bytes in base64 and its rank per line, gzipped as `bpe-openai` ships it) and the
/// pre-tokenizer pattern of its model family, as `bpe-openai` builds it.
///
/// Why not `bpe_openai::o200k_base()`: that embeds the vocabulary with its BPE tables already
/// built (47 MB for the two, most of the binary and of the Python wheel), where the source
/// files are 2.4 MB. Building the tables costs 0.3–0.8 s of one core, so the built tables are
/// kept in the user's cache (`table_cache`: read back in ~60 ms for o200k's 32 MB), as tiktoken caches the
/// vocabularies it downloads.
fn vocabulary(name: &str, gzipped: &[u8], pattern: &str) -> bpe_openai::Tokenizer {
    let cache = table_cache(name);
    let bpe = match cache.as_deref().and_then(read_tables) {
        Some(bpe) => bpe,
        None => {
            use std::io::Read;
            let mut text = String::new();
            flate2::read::GzDecoder::new(gzipped).read_to_string(&mut text).expect("the embedded vocabulary is gzip text");
            let tokens = bpe::byte_pair_encoding::read_tiktoken(&text).expect("the embedded vocabulary is base64");
            // The hash factor `bpe-openai` builds these vocabularies with (collision-free for both).
            let bpe = bpe::byte_pair_encoding::BytePairEncoding::from_dictionary(tokens, Some(17_846_336_922_010_275_747));
            if let Some(path) = &cache {
                write_tables(path, &bpe);
            }
            bpe
        }
    };
    // `\s+(?!\S)`, which the regex engine cannot say, as bpe-openai writes it: a look-ahead of
    // exactly one character that the pre-tokenizer drops from the match.
    bpe_openai::Tokenizer::new_lookahead(bpe, &[(pattern, false), ("\\s+\\s", true), ("\\s+", false)], false)
        .expect("the pre-tokenizer pattern compiles")
}

/// Where the built tables of a vocabulary are kept: `$THREADKIT_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/threadkit`, else `~/.cache/threadkit` (`None`: no cache, build every time —
/// `THREADKIT_CACHE_DIR=` set empty asks for that). The name carries threadkit's version, so
/// an upgrade never reads tables another version wrote.
fn table_cache(name: &str) -> Option<std::path::PathBuf> {
    use std::path::PathBuf;
    let dir = match std::env::var_os("THREADKIT_CACHE_DIR") {
        Some(dir) if dir.is_empty() => return None,
        Some(dir) => PathBuf::from(dir),
        None => match std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
            Some(dir) => PathBuf::from(dir).join("threadkit"),
            None => PathBuf::from(std::env::var_os("HOME").filter(|d| !d.is_empty())?).join(".cache/threadkit"),
        },
    };
    // The header's format number is in the name too: builds that write different headers
    // keep their own files instead of rebuilding each other's.
    Some(dir.join(format!("{name}-{}-{}.bpe", env!("CARGO_PKG_VERSION"), TABLES_MAGIC[7])))
}

/// The header of kept tables: this tag, the payload's length (u64) and its CRC-32 (u32), little-endian.
const TABLES_MAGIC: &[u8; 8] = b"tkbpe\0\0\x02";
const TABLES_HEADER: usize = 8 + 8 + 4;

/// Tables a previous run kept: the payload after the header, whose length and CRC-32 must
/// match (a file cut short or changed on disk is built again, never trusted: a wrong table
/// counts wrong). CRC-32, not a cryptographic hash: it guards against accidents to a file in
/// the user's own cache, and on the 32 MB of o200k it costs ~1 ms where SHA-256 cost ~20.
fn read_tables(path: &std::path::Path) -> Option<bpe::byte_pair_encoding::BytePairEncoding> {
    let bytes = std::fs::read(path).ok()?;
    let payload = tables_payload(&bytes)?;
    rmp_serde::from_slice(payload).ok()
}

/// The payload of a kept tables file, if it is whole.
fn tables_payload(bytes: &[u8]) -> Option<&[u8]> {
    let (header, payload) = bytes.split_at_checked(TABLES_HEADER)?;
    let len = u64::from_le_bytes(header[8..16].try_into().ok()?);
    let crc = u32::from_le_bytes(header[16..20].try_into().ok()?);
    (&header[..8] == TABLES_MAGIC && payload.len() as u64 == len && crc32fast::hash(payload) == crc).then_some(payload)
}

/// Keep built tables for the next run; a cache that cannot be written only costs time.
fn write_tables(path: &std::path::Path, bpe: &bpe::byte_pair_encoding::BytePairEncoding) {
    let mut payload = Vec::new();
    if serde::Serialize::serialize(bpe, &mut rmp_serde::Serializer::new(&mut payload)).is_err() {
        return;
    }
    let _ = keep_tables(path, &payload);
}

fn keep_tables(path: &std::path::Path, payload: &[u8]) -> std::io::Result<()> {
    let mut bytes = Vec::with_capacity(TABLES_HEADER + payload.len());
    bytes.extend_from_slice(TABLES_MAGIC);
    bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    bytes.extend_from_slice(payload);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    crate::write::atomic_write(path, &bytes)
}

/// The merge rank of every token of 2..=`SHORT_PIECE` bytes (its id: OpenAI's vocabulary files
/// list tokens in rank order), to count short pieces the memo has not seen by tiktoken's own
/// merge loop: random identifiers and SAX words (`motion_tokenizer`'s 16 letters of a–f) never
/// repeat, and on them the loop over a few rank lookups takes a third of the time of
/// `bpe`'s backtracking encoder (tested equal on random pieces of every kind).
struct ShortRanks {
    /// 24 bytes an entry (a `u128` key would align it to 48: 12 MB more of resident memory).
    ranks: HashMap<([u8; SHORT_PIECE], u8), u32, foldhash::fast::FixedState>,
}

impl ShortRanks {
    fn of(bpe: &bpe::byte_pair_encoding::BytePairEncoding) -> ShortRanks {
        let mut ranks = HashMap::with_capacity_and_hasher(bpe.num_tokens(), foldhash::fast::FixedState::with_seed(7));
        for id in 0..bpe.num_tokens() as u32 {
            let bytes = bpe.token_bytes(id);
            if (2..=SHORT_PIECE).contains(&bytes.len()) {
                // The lowest rank where a vocabulary repeats a token (none of OpenAI's do).
                ranks.entry(Self::key(bytes)).or_insert(id);
            }
        }
        ShortRanks { ranks }
    }

    fn key(bytes: &[u8]) -> ([u8; SHORT_PIECE], u8) {
        let mut padded = [0u8; SHORT_PIECE];
        padded[..bytes.len()].copy_from_slice(bytes);
        (padded, bytes.len() as u8)
    }

    fn rank(&self, bytes: &[u8]) -> u32 {
        self.ranks.get(&Self::key(bytes)).copied().unwrap_or(u32::MAX)
    }

    /// The tokens of a piece of 2..=`SHORT_PIECE` bytes: tiktoken's `byte_pair_merge` — merge
    /// the adjacent pair of lowest rank (the leftmost of equals) until no pair is a token.
    fn count(&self, piece: &[u8]) -> usize {
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
}

/// Pieces longer than this are counted every time (long pieces rarely repeat).
const MAX_CACHED_PIECE: usize = 48;
/// Pieces up to this long are remembered in `ShortPieces`, keyed by their bytes inline.
const SHORT_PIECE: usize = 16;
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

    fn count(&mut self, bytes: &[u8], ranks: &ShortRanks) -> usize {
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
        let count = ranks.count(bytes);
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

    /// Exactly `bpe_openai::Tokenizer::count` (the same pre-tokenizer splits — see `pieces` —
    /// and no normalization for the OpenAI vocabularies), with each short piece's count
    /// remembered per worker thread: words, keys and punctuation repeat across threads, and a
    /// lookup is much cheaper than running the BPE encoder (which allocates per piece) again.
    pub fn text(&self, s: &str) -> usize {
        match self.tokenizer {
            Tokenizer::O200kBase => self.count(pieces::o200k_pieces(s)),
            Tokenizer::Cl100kBase => self.count(pieces::cl100k_pieces(s)),
        }
    }

    #[inline(always)]
    fn count<'a>(&self, pieces: impl Iterator<Item = &'a [u8]>) -> usize {
        let t = self.tokenizer.bpe();
        let ranks = self.tokenizer.short_ranks();
        PIECES.with_borrow_mut(|memos| {
            let Memo { short, long } = &mut memos[self.tokenizer as usize];
            let short = short.get_or_insert_with(ShortPieces::new);
            pieces
                .map(|bytes| {
                    match bytes.len() {
                        // Every byte is a token of a byte-level BPE, and a piece is never split
                        // into less than its bytes' tokens.
                        1 => 1,
                        ..=SHORT_PIECE => short.count(bytes, ranks),
                        ..=MAX_CACHED_PIECE => {
                            if let Some(&n) = long.get(bytes) {
                                return n as usize;
                            }
                            let n = t.bpe.count(bytes);
                            if long.len() >= MAX_CACHED_PIECES {
                                long.clear();
                            }
                            long.insert(bytes.into(), n as u32);
                            n
                        }
                        _ => t.bpe.count(bytes),
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

    /// The merge loop over short pieces counts what `bpe`'s encoder counts, on every kind of
    /// piece: random bytes (not UTF-8), letters, SAX words, digits, punctuation runs, and
    /// words the vocabulary holds whole.
    #[test]
    fn short_pieces_are_merged_as_the_encoder_counts_them() {
        let mut rng = fastrand::Rng::with_seed(11);
        let alphabets: [&[u8]; 5] = [b"abcdef", b"abcdefghijklmnopqrstuvwxyz", b"0123456789", b" .,:;{}[]\"'_-/\n", b"aeiou rstlnE"];
        for tokenizer in [Tokenizer::O200kBase, Tokenizer::Cl100kBase] {
            let (bpe, ranks) = (&tokenizer.bpe().bpe, tokenizer.short_ranks());
            for k in 0..60_000 {
                let n = rng.usize(2..=SHORT_PIECE);
                let piece: Vec<u8> = match k % 6 {
                    5 => (0..n).map(|_| rng.u8(..)).collect(),
                    a => (0..n).map(|_| alphabets[a][rng.usize(..alphabets[a].len())]).collect(),
                };
                assert_eq!(ranks.count(&piece), bpe.count(&piece), "{tokenizer:?}: {piece:?}");
            }
            for word in [&b"hello"[..], b" the", b"_session", b"\":", b"  ", b"ab"] {
                assert_eq!(ranks.count(word), bpe.count(word), "{tokenizer:?}: {word:?}");
            }
        }
    }

    /// Kept tables are read back only when whole: cut short, changed by a byte, or from
    /// another format, they are not trusted.
    #[test]
    fn kept_tables_are_read_back_only_when_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.bpe");
        let payload: Vec<u8> = (0..100_000u32).flat_map(|i| (i * 7919).to_le_bytes()).collect();
        keep_tables(&path, &payload).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(tables_payload(&bytes), Some(payload.as_slice()));
        assert_eq!(tables_payload(&bytes[..bytes.len() - 1]), None, "cut short");
        for at in [3, 10, 17, TABLES_HEADER + 5, bytes.len() - 1] {
            let mut changed = bytes.clone();
            changed[at] ^= 0x20;
            assert_eq!(tables_payload(&changed), None, "a byte changed at {at}");
        }
        assert_eq!(tables_payload(&bytes[..5]), None);
        // Real tables survive the round trip and count the same.
        let bpe = Tokenizer::Cl100kBase.bpe();
        write_tables(&path, &bpe.bpe);
        let back = read_tables(&path).expect("kept tables read back");
        assert_eq!(back.count(b"hello world, 1234 tokens"), bpe.bpe.count(b"hello world, 1234 tokens"));
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
                    assert_eq!(c.text(t), tokenizer.bpe().count(t), "{tokenizer:?} round {round}: {t:?}");
                }
            }
        }
    }

    #[test]
    fn pieces_sharing_a_set_are_both_remembered() {
        let (bpe, ranks) = (&Tokenizer::O200kBase.bpe().bpe, Tokenizer::O200kBase.short_ranks());
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
        let (bpe, ranks) = (&Tokenizer::O200kBase.bpe().bpe, Tokenizer::O200kBase.short_ranks());
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
