//! The pre-tokenizer of OpenAI's vocabularies (the regex that cuts text into pieces before
//! BPE), by hand for ASCII and by `bpe_openai`'s regex for the rest.
//!
//! The regex is generic Unicode-class matching and was most of export's time. Thread text is
//! almost all ASCII, where every class the pattern names (letters by case, digits, `\s`) is
//! one byte compare. A piece depends only on the text from its start (the patterns have no
//! look-behind), so each piece is taken here when every byte that decides it is ASCII, and
//! otherwise by the regex anchored at the same place; the two interleave freely. Each
//! branch below is one alternative of the pattern, in the pattern's order (leftmost-first,
//! as the regex and tiktoken's backtracking engine match).
//!
//! o200k_base (tiktoken):
//! ```text
//! [^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?
//! |[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?
//! |\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+
//! ```
//! cl100k_base:
//! ```text
//! (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//! ```

/// What the pattern can tell about one byte, as one bit per class so that a run of several
/// classes is one mask test. `NOT_ASCII` (no bit) means "ask the regex".
type Class = u8;
const UPPER: Class = 1;
const LOWER: Class = 2;
const DIGIT: Class = 4;
/// `\r` or `\n`.
const NEWLINE: Class = 8;
/// The rest of ASCII `\s`: space, tab, vertical tab, form feed.
const BLANK: Class = 16;
/// Punctuation, symbols and control characters: not `\s`, not a letter, not a digit.
const OTHER: Class = 32;
/// Past the end of the text.
const END: Class = 64;
const NOT_ASCII: Class = 0;

/// The class of every byte: one load per byte on the hot path instead of a chain of range tests.
static CLASSES: [Class; 256] = {
    let mut table = [NOT_ASCII; 256];
    let mut c = 0;
    while c < 128 {
        table[c] = match c as u8 {
            b'A'..=b'Z' => UPPER,
            b'a'..=b'z' => LOWER,
            b'0'..=b'9' => DIGIT,
            b'\r' | b'\n' => NEWLINE,
            b' ' | b'\t' | 0x0b | 0x0c => BLANK,
            _ => OTHER,
        };
        c += 1;
    }
    table
};

use super::Tokenizer;

#[inline(always)]
fn class(b: &[u8], i: usize) -> Class {
    match b.get(i) {
        Some(&c) => CLASSES[c as usize],
        None => END,
    }
}

/// Length of the run of bytes from `i` whose class is in `keep`; `None` if the byte that
/// ends it is not ASCII (it might have continued the run).
#[inline(always)]
fn run(b: &[u8], i: usize, keep: Class) -> Option<usize> {
    let mut j = i;
    while let Some(&c) = b.get(j) {
        let class = CLASSES[c as usize];
        if class & keep == 0 {
            if class == NOT_ASCII {
                return None;
            }
            break;
        }
        j += 1;
    }
    Some(j - i)
}

/// `(?i:'s|'t|'re|'ve|'m|'ll|'d)` at `i`: its length, 0 if none.
#[inline(always)]
fn contraction(b: &[u8], i: usize) -> Option<usize> {
    if b.get(i) != Some(&b'\'') {
        return Some(0);
    }
    contraction_after_quote(b, i)
}

#[inline(never)]
fn contraction_after_quote(b: &[u8], i: usize) -> Option<usize> {
    let lower = |k: usize| -> Option<u8> {
        match b.get(k) {
            // `ſ` (U+017F) folds to `s`: any non-ASCII letter goes to the regex.
            Some(c) if !c.is_ascii() => None,
            Some(c) => Some(c.to_ascii_lowercase()),
            None => Some(0),
        }
    };
    Some(match lower(i + 1)? {
        b's' | b't' | b'm' | b'd' => 2,
        b'r' | b'v' if lower(i + 2)? == b'e' => 3,
        b'l' if lower(i + 2)? == b'l' => 3,
        _ => 0,
    })
}

/// `\s*[\r\n]+|\s+(?!\S)|\s+` from a whitespace byte (`\s+$` is the look-ahead case at the end).
fn whitespace(b: &[u8]) -> Option<usize> {
    let n = run(b, 0, BLANK | NEWLINE)?;
    if let Some(last) = b[..n].iter().rposition(|&c| c == b'\r' || c == b'\n') {
        return Some(last + 1);
    }
    if n == b.len() || n == 1 {
        return Some(n);
    }
    Some(n - 1)
}

/// ` ?[^\s\p{L}\p{N}]+` then `[\r\n]*` (and `/` for o200k), if it matches here.
#[inline(always)]
fn symbols(b: &[u8], slash: bool) -> Option<Option<usize>> {
    let start = usize::from(b[0] == b' ');
    match class(b, start) {
        OTHER => {}
        NOT_ASCII => return None,
        _ => return Some(None),
    }
    let n = start + run(b, start, OTHER)?;
    let tail = b[n..].iter().take_while(|&&c| c == b'\r' || c == b'\n' || (slash && c == b'/')).count();
    Some(Some(n + tail))
}

/// `\p{N}{1,3}`.
#[inline(always)]
fn digits(b: &[u8]) -> Option<usize> {
    for i in 1..3 {
        match class(b, i) {
            DIGIT => {}
            NOT_ASCII => return None,
            _ => return Some(i),
        }
    }
    Some(3)
}

/// The alternatives after the word ones, the same in both patterns but for the `/` o200k
/// lets follow symbols: `\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+`.
#[inline(always)]
fn after_words(b: &[u8], c0: Class, slash: bool) -> Option<usize> {
    match c0 {
        DIGIT => digits(b),
        BLANK | OTHER => match symbols(b, slash)? {
            Some(n) => Some(n),
            None => whitespace(b),
        },
        NEWLINE => whitespace(b),
        _ => unreachable!("a letter starts a word; pieces are not empty"),
    }
}

/// Where the letters of a word piece start: 0 at a letter, 1 after the optional prefix
/// character (`[^\r\n\p{L}\p{N}]`: a blank or other); `Err` with the piece's length (or `None`: ask the regex) when no word starts here.
#[inline(always)]
fn word_start(b: &[u8], c0: Class, slash: bool) -> Result<usize, Option<usize>> {
    match c0 {
        UPPER | LOWER => Ok(0),
        BLANK | OTHER => match class(b, 1) {
            UPPER | LOWER => Ok(1),
            NOT_ASCII => Err(None),
            _ => Err(after_words(b, c0, slash)),
        },
        NOT_ASCII => Err(None),
        _ => Err(after_words(b, c0, slash)),
    }
}

/// The length of the o200k piece at the start of `b` (not empty), or `None` if that needs the regex.
#[inline(always)]
pub(super) fn o200k(b: &[u8]) -> Option<usize> {
    let start = match word_start(b, class(b, 0), true) {
        Ok(start) => start,
        Err(other) => return other,
    };
    // `[Lu]*[Ll]+` and, failing that, `[Lu]+[Ll]*` (ASCII has no Lt, Lm, Lo or M), then a contraction.
    let upper = run(b, start, UPPER)?;
    let end = start + upper + run(b, start + upper, LOWER)?;
    Some(end + contraction(b, end)?)
}

/// The length of the cl100k piece at the start of `b` (not empty), or `None` if that needs the regex.
#[inline(always)]
pub(super) fn cl100k(b: &[u8]) -> Option<usize> {
    let c0 = class(b, 0);
    if c0 == NOT_ASCII {
        return None;
    }
    let n = contraction(b, 0)?;
    if n > 0 {
        return Some(n);
    }
    let start = match word_start(b, c0, false) {
        Ok(start) => start,
        Err(other) => return other,
    };
    Some(start + run(b, start, UPPER | LOWER)?)
}

/// The pieces of `text` under o200k_base, the same as the vocabulary's own `split(text)`.
pub(super) fn o200k_pieces(text: &str) -> Pieces<'_, impl Fn(&[u8]) -> Option<usize>> {
    Pieces { text, at: 0, by_hand: o200k, tokenizer: Tokenizer::O200kBase }
}

/// The pieces of `text` under cl100k_base, the same as the vocabulary's own `split(text)`.
pub(super) fn cl100k_pieces(text: &str) -> Pieces<'_, impl Fn(&[u8]) -> Option<usize>> {
    Pieces { text, at: 0, by_hand: cl100k, tokenizer: Tokenizer::Cl100kBase }
}

/// One pattern's pieces; generic over the pattern so that its piece function is inlined into
/// the loop that counts them.
pub(super) struct Pieces<'t, F> {
    text: &'t str,
    at: usize,
    by_hand: F,
    /// Whose regex cuts the pieces `by_hand` cannot (compiled when the first such piece comes).
    tokenizer: Tokenizer,
}

impl<'t, F: Fn(&[u8]) -> Option<usize>> Iterator for Pieces<'t, F> {
    /// A piece's bytes (a whole number of characters: pieces end where the text's characters do).
    type Item = &'t [u8];

    #[inline(always)]
    fn next(&mut self) -> Option<&'t [u8]> {
        let rest = &self.text.as_bytes()[self.at..];
        if rest.is_empty() {
            return None;
        }
        let n = match (self.by_hand)(rest) {
            Some(n) => n,
            None => self.tokenizer.pretokenizer().split(&self.text[self.at..]).next().expect("the pattern matches any non-empty text").len(),
        };
        self.at += n;
        Some(&rest[..n])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same_as_regex(text: &str) {
        for tokenizer in [Tokenizer::O200kBase, Tokenizer::Cl100kBase] {
            let ours: Vec<&[u8]> = match tokenizer {
                Tokenizer::O200kBase => o200k_pieces(text).collect(),
                Tokenizer::Cl100kBase => cl100k_pieces(text).collect(),
            };
            let ours: Vec<&str> = ours.into_iter().map(|p| std::str::from_utf8(p).expect("whole characters")).collect();
            let regex: Vec<&str> = tokenizer.pretokenizer().split(text).collect();
            assert_eq!(ours, regex, "{tokenizer:?} {text:?}");
        }
    }

    #[test]
    fn pieces_of_thread_text() {
        for text in [
            "The accelerometer's dominant frequency is 1.95 Hz, typical of walking.",
            "{\"mean_su\":3.214027,\"std_su\":-9.864671e-05,\"channels\":[\"acc_x\",\"acc_y\"]}",
            "  indented\n\n\tlines  \r\n trailing   ",
            "DON'T we'll I'M they'RE you'VE He'D it'S 'll 'x '",
            "HELLOworld helloWorld ABCdef XMLHttpRequest iPhone",
            "a/b\n/c //\n\n/ 12345678 1,234.5 x2 2x",
            "<|endoftext|> ))\r\n\r\n  {\n    \"a\": 1\n  }\n",
            "\u{0} \u{7f}\u{1f}\x0b\x0c word\x0b\x0bword",
            "données, ünïcödé, 中文, emoji 🏃‍♀️ and ’quotes’ ſ 'ſ Kelvin \u{212a} NBSP\u{a0}x \u{85}",
            "x\u{301} \u{301}a A\u{301}B ² ١٢٣ 12\u{663}",
            " ",
            "\n",
            "  ",
            "'",
        ] {
            same_as_regex(text);
        }
    }

    /// Random strings over an alphabet that has every class of the pattern, ASCII and not.
    #[test]
    fn pieces_of_random_text() {
        const ALPHABET: &[&str] = &[
            "a", "e", "l", "r", "s", "t", "v", "m", "d", "x", "A", "E", "L", "R", "S", "T", "Z", "0", "7", "9", " ", " ",
            "\t", "\n", "\r", "\x0b", "\x0c", "'", "/", "{", "\"", ":", ",", ".", "-", "_", "\u{0}", "\u{7f}", "é", "É",
            "ſ", "ǅ", "ʰ", "中", "\u{301}", "²", "٣", "\u{a0}", "\u{85}", "\u{2028}", "\u{3000}", "’", "€", "🏃",
        ];
        let mut rng = fastrand::Rng::with_seed(15);
        for _ in 0..20_000 {
            let len = rng.usize(1..24);
            let text: String = (0..len).map(|_| ALPHABET[rng.usize(..ALPHABET.len())]).collect();
            same_as_regex(&text);
        }
        // Mostly ASCII, as threads are: long runs where the fast path and the regex hand over often.
        for _ in 0..2_000 {
            let len = rng.usize(1..200);
            let text: String = (0..len)
                .map(|_| if rng.u8(..) < 8 { ALPHABET[rng.usize(38..ALPHABET.len())] } else { ALPHABET[rng.usize(..38)] })
                .collect();
            same_as_regex(&text);
        }
    }
}
