//! Corpus-level quality rules: indexes built over many threads, one pass, in path order.
//!
//! - `near-duplicate`: each thread's word 5-shingles (model-written text and tool results, not
//!   the first user message) become a one-permutation MinHash signature of 128 bins; 16 LSH bands
//!   of 8 bins find candidates, whose Jaccard is estimated from the bins. Only the first member
//!   of a group enters the index, so a corpus of copies does not make buckets grow.
//! - `eval-overlap`: the eval set's recordings (dataset, session) and the hashes of its word
//!   13-grams of model-written text, with how many eval items hold each (the boilerplate filter).
//!
//! Signatures and grams are computed by the workers (`Features::of`); the indexes are filled and
//! asked by the one thread that reports, in path order, so "the first of a group" is stable.

use std::borrow::Cow;
type HashSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;

/// Maps keyed by hashes and indexes: SipHash's resistance to chosen keys buys nothing here.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
use std::hash::{BuildHasher, Hasher};

use serde_json::Value;

const BINS: usize = 128;
/// 16 bands of 8 bins: a pair at Jaccard 0.9 shares a band with probability 1 − (1 − 0.9⁸)¹⁶ ≈
/// 0.9999 (0.994 at 0.85), a pair at 0.5 with 0.06, at 0.3 with 0.001 — so templated threads,
/// which share a third of their shingles, are rarely compared at all. (32 bands of 4 compared
/// a quarter of all pairs on the bench corpus: quadratic.)
const BANDS: usize = 16;
/// A bucket this full holds boilerplate, not copies: a true copy shares most bands, so it is
/// found through its other, small buckets.
const MAX_BUCKET: usize = 64;
const ROWS: usize = BINS / BANDS;
const SHINGLE: usize = 5;
const GRAM: usize = 13;
/// Estimated Jaccard at or above which two threads are near-duplicates…
pub const NEAR_DUPLICATE_JACCARD: f64 = 0.9;
/// …provided their model-written text alone is this similar too: two threads about one recording
/// that call the same tools get the same results, and are duplicates only if they also say the
/// same things.
pub const NEAR_DUPLICATE_TEXT_JACCARD: f64 = 0.7;
/// Distinct shared 13-grams that make an overlap (one could be a coincidence of phrasing)…
const MIN_SHARED_GRAMS: usize = 2;
/// …and the share of the thread's own 13-grams they must be: a copied passage, not a template
/// sentence that a scripted generator writes into every thread with another label in it.
const MIN_SHARED_SHARE: f64 = 0.25;

/// What the corpus rules need of one thread, computed on a worker.
#[derive(Debug, Default, Clone)]
pub struct Features {
    /// Model-written text and tool results.
    pub signature: Option<Box<[u32; BINS]>>,
    /// Model-written text alone.
    pub text_signature: Option<Box<[u32; BINS]>>,
    pub recording: Option<(String, String)>,
    /// Hashes of the 13-grams of model-written text (only when an eval set is given).
    pub grams: Vec<u64>,
    /// Hashes of the thread's substantial tool results (only when an eval set is given).
    pub results: Vec<u64>,
}

/// A tool result long enough to be about one recording (a feature table, not `{"samples": 31}`),
/// and not an error (the same error text comes from any recording).
const MIN_RESULT_BYTES: usize = 200;

fn is_result(m: &Value) -> bool {
    matches!(role(m), "tool" | "function" | "ipython") || m.get("from").and_then(Value::as_str) == Some("observation")
}

fn result_hashes(msgs: &[Value]) -> Vec<u64> {
    let state = hasher();
    let mut out: Vec<u64> = msgs
        .iter()
        .filter(|m| is_result(m))
        .map(content_text)
        .filter(|t| t.len() >= MIN_RESULT_BYTES && !t.trim_start().starts_with("{\"error\""))
        .map(|t| state.hash_one(t.trim().as_bytes()))
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

fn hasher() -> foldhash::fast::FixedState {
    foldhash::fast::FixedState::with_seed(0x7468_7265_6164_6b74)
}

/// Words as compared: ASCII lower-cased; numbers keep their digits and decimal point; a word is
/// a run of letters, digits, `_`, `.`, `-` and any non-ASCII byte (words in other scripts stay
/// whole, unlowered), without leading or trailing `.` and `-`. One hash per word.
fn tokens(text: &str, into: &mut Vec<u64>) {
    let state = hasher();
    let b = text.as_bytes();
    let mut lower = Vec::with_capacity(64);
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && !WORD[b[i] as usize] {
            i += 1;
        }
        let start = i;
        let mut upper = false;
        while i < b.len() && WORD[b[i] as usize] {
            upper |= b[i].is_ascii_uppercase();
            i += 1;
        }
        let (mut s, mut e) = (start, i);
        while s < e && matches!(b[s], b'.' | b'-') {
            s += 1;
        }
        while e > s && matches!(b[e - 1], b'.' | b'-') {
            e -= 1;
        }
        if s == e {
            continue;
        }
        // Most words are lower case already: hashed where they lie.
        if upper {
            lower.clear();
            lower.extend(b[s..e].iter().map(u8::to_ascii_lowercase));
            into.push(state.hash_one(lower.as_slice()));
        } else {
            into.push(state.hash_one(&b[s..e]));
        }
    }
}

/// The bytes a word is made of: ASCII letters and digits, `_`, `.`, `-`, and any non-ASCII byte.
static WORD: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-' || b >= 0x80;
        c += 1;
    }
    t
};

fn window_hash(window: &[u64]) -> u64 {
    let mut h = hasher().build_hasher();
    window.iter().for_each(|&t| h.write_u64(t));
    h.finish()
}

fn role(m: &Value) -> &str {
    m.get("role").and_then(Value::as_str).unwrap_or("")
}

/// A message's text, whatever shape `content` has (a string, or parts with `text`); borrowed in
/// the common case of a string.
fn content_text(m: &Value) -> Cow<'_, str> {
    match m.get("content").or_else(|| m.get("value")) {
        Some(Value::String(s)) => Cow::Borrowed(s),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").or_else(|| p.get("value")).and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n")
            .into(),
        Some(Value::Null) | None => Cow::Borrowed(""),
        Some(other) => other.to_string().into(),
    }
}

/// The messages of a thread or a training example of any profile.
fn messages(doc: &Value) -> &[Value] {
    doc.get("messages").or_else(|| doc.get("conversations")).and_then(Value::as_array).map_or(&[][..], Vec::as_slice)
}

fn is_model(m: &Value) -> bool {
    matches!(role(m), "assistant") || matches!(m.get("from").and_then(Value::as_str), Some("gpt" | "function_call"))
}

fn is_prompt(m: &Value) -> bool {
    matches!(role(m), "user" | "system") || matches!(m.get("from").and_then(Value::as_str), Some("human" | "system"))
}

impl Features {
    /// `grams`: also hash the 13-grams (an eval set was given).
    pub fn of(doc: &Value, grams: bool) -> Features {
        let msgs = messages(doc);
        // Everything but the prompt (dataset description and question are shared by design).
        let (mut words, mut model) = (Vec::new(), Vec::new());
        let mut model_grams = HashSet::default();
        let first_prompt = msgs.iter().position(is_prompt);
        for (i, m) in msgs.iter().enumerate() {
            if Some(i) == first_prompt || role(m) == "system" {
                continue;
            }
            let at = words.len();
            tokens(&content_text(m), &mut words);
            if grams && is_model(m) {
                // The 13-grams of the model's text, from the same words (not its calls).
                add_grams(&words[at..], &mut model_grams);
            }
            for function in m.get("tool_calls").and_then(Value::as_array).into_iter().flatten().filter_map(|c| c.get("function")) {
                // The words of the call as JSON (`{"name": …, "arguments": "…"}`), read without writing it.
                for (key, value) in function.as_object().into_iter().flatten() {
                    tokens(key, &mut words);
                    match value {
                        Value::String(s) => tokens(s, &mut words),
                        other => tokens(&other.to_string(), &mut words),
                    }
                }
            }
            if is_model(m) {
                model.extend_from_slice(&words[at..]);
            }
        }
        Features {
            signature: signature(&words),
            text_signature: signature(&model),
            recording: recording(doc),
            grams: model_grams.into_iter().collect(),
            results: if grams { result_hashes(msgs) } else { Vec::new() },
        }
    }
}

fn recording(doc: &Value) -> Option<(String, String)> {
    let meta = doc.get("metadata")?;
    let get = |k: &str| meta.get(k).and_then(Value::as_str).map(str::to_string);
    Some((get("dataset").or_else(|| get("dataset_name"))?, get("session").or_else(|| get("session_id"))?))
        .or_else(|| Some((doc.get("dataset_name")?.as_str()?.into(), doc.get("session_id")?.as_str()?.into())))
}

/// The word 13-grams of one message's words, as hashes.
fn add_grams(words: &[u64], into: &mut HashSet<u64>) {
    into.extend(words.windows(GRAM).map(window_hash));
}

/// The 13-grams of every model-written message of an eval item (as `Features::of` takes them).
fn model_grams(msgs: &[Value]) -> HashSet<u64> {
    let mut out = HashSet::default();
    let mut words = Vec::new();
    for m in msgs.iter().filter(|m| is_model(m)) {
        words.clear();
        tokens(&content_text(m), &mut words);
        add_grams(&words, &mut out);
    }
    out
}

/// One-permutation MinHash with densification by rotation (Shrivastava and Li, 2014): one hash
/// per shingle instead of 128.
fn signature(words: &[u64]) -> Option<Box<[u32; BINS]>> {
    if words.len() < SHINGLE {
        return None;
    }
    let mut bins = [u32::MAX; BINS];
    let mut filled = [false; BINS];
    for w in words.windows(SHINGLE) {
        let h = window_hash(w);
        let bin = (h % BINS as u64) as usize;
        let v = (h >> 32) as u32;
        if v <= bins[bin] {
            bins[bin] = v;
            filled[bin] = true;
        }
    }
    let out: [u32; BINS] = std::array::from_fn(|b| {
        (0..BINS)
            .map(|k| (b + k) % BINS)
            .find(|&j| filled[j])
            .map_or(u32::MAX, |j| bins[j].wrapping_add((((j + BINS - b) % BINS) as u32).wrapping_mul(0x9E37_79B9)))
    });
    Some(Box::new(out))
}

pub fn jaccard(a: &[u32; BINS], b: &[u32; BINS]) -> f64 {
    a.iter().zip(b.iter()).filter(|(x, y)| x == y).count() as f64 / BINS as f64
}

/// `jaccard(a, b)` when it is at least `min`; `None` as soon as too many bins differ for that
/// (most candidates share one band and little else: they are left after a few dozen bins).
fn jaccard_at_least(a: &[u32; BINS], b: &[u32; BINS], min: f64) -> Option<f64> {
    let allowed = BINS - (min * BINS as f64).ceil() as usize;
    let mut differ = 0;
    for chunk in 0..BANDS {
        let range = chunk * ROWS..(chunk + 1) * ROWS;
        differ += a[range.clone()].iter().zip(&b[range]).filter(|(x, y)| x != y).count();
        if differ > allowed {
            return None;
        }
    }
    Some((BINS - differ) as f64 / BINS as f64)
}

/// The near-duplicate index: the first member of every group seen so far. Only what finds
/// candidates stays in memory (`Bands`, ~7 bytes per thread and band: ~110 MB for a million
/// threads); each member's signatures and place, ~1 KB, wait in `Spill` and are read back for
/// the few candidates a thread has. (In memory they made the index ~2 KB per thread: 2 GB
/// for a million.)
#[derive(Default)]
pub struct NearDuplicates {
    bands: Bands,
    spill: Spill,
}

impl NearDuplicates {
    /// The earlier thread (its place and the estimated Jaccard) this one nearly copies, or
    /// `None`, in which case it is remembered as the first of a possible group.
    pub fn see(&mut self, f: &Features, place: &str) -> Option<(String, f64)> {
        let signature = f.signature.as_deref()?;
        let keys: Vec<u64> = (0..BANDS)
            .map(|band| {
                let mut h = hasher().build_hasher();
                h.write_usize(band);
                signature[band * ROWS..(band + 1) * ROWS].iter().for_each(|&v| h.write_u32(v));
                h.finish()
            })
            .collect();
        // Candidates in the order they were seen: the first that qualifies is the group's first.
        // Past the cap a bucket is never read again, nor grown.
        let open: Vec<u64> = keys.into_iter().filter(|&key| self.bands.bucket(key).len() <= MAX_BUCKET).collect();
        let mut candidates: Vec<u32> = open.iter().flat_map(|&key| self.bands.bucket(key)).collect();
        candidates.sort_unstable();
        candidates.dedup();
        for doc in candidates {
            let Some(member) = self.spill.get(doc) else { continue };
            let Some(j) = jaccard_at_least(signature, &member.signature, NEAR_DUPLICATE_JACCARD) else {
                continue;
            };
            let text_alike = match (&f.text_signature, &member.text_signature) {
                (Some(a), Some(b)) => jaccard_at_least(a, b, NEAR_DUPLICATE_TEXT_JACCARD).is_some(),
                (None, None) => true,
                _ => false,
            };
            if text_alike {
                return Some((member.place, j));
            }
        }
        let n = self.spill.push(signature, f.text_signature.as_deref(), place);
        for key in open {
            self.bands.insert(key, n);
        }
        None
    }
}

/// Every (band key, member) pair, in 65,536 parts chosen by the key's top 16 bits, each part
/// sorted by the next 16 bits and then the member: 6 bytes a pair, where a map of vectors
/// spent ~60. A 32-bit key makes a false candidate about once in 270 lookups at a million
/// threads; the signatures, compared next, turn it away. A part holds a few hundred pairs at
/// a million threads, so keeping it sorted on insert costs a short move.
struct Bands {
    /// `[key bits, member >> 16, member & 0xFFFF]`: sorted as arrays, by key and then member.
    parts: Vec<Vec<[u16; 3]>>,
}

impl Default for Bands {
    fn default() -> Self {
        Bands { parts: vec![Vec::new(); 1 << 16] }
    }
}

impl Bands {
    fn split(key: u64) -> (usize, u16) {
        ((key >> 48) as usize, (key >> 32) as u16)
    }

    /// The members whose band has this key, in the order they were added (members are
    /// numbered as they come).
    fn bucket(&self, key: u64) -> impl ExactSizeIterator<Item = u32> + '_ {
        let (part, bits) = Bands::split(key);
        let part = &self.parts[part];
        let start = part.partition_point(|e| e[0] < bits);
        let len = part[start..].partition_point(|e| e[0] == bits);
        part[start..start + len].iter().map(|e| u32::from(e[1]) << 16 | u32::from(e[2]))
    }

    fn insert(&mut self, key: u64, member: u32) {
        let (part, bits) = Bands::split(key);
        let entry = [bits, (member >> 16) as u16, member as u16];
        let part = &mut self.parts[part];
        if part.len() == part.capacity() {
            // An eighth more at a time: doubling would leave a third of the index unused.
            part.reserve_exact(part.len() / 8 + 4);
        }
        let at = part.partition_point(|e| *e < entry);
        part.insert(at, entry);
    }
}

/// One member of the index as read back from the spill.
struct Member {
    signature: [u32; BINS],
    text_signature: Option<[u32; BINS]>,
    place: String,
}

/// The members' signatures and places, appended to an unnamed temporary file (gone when
/// threadkit exits, however it exits) in 1 MB writes; only each record's offset stays in
/// memory. Without a writable temporary folder the records stay in memory, as they did before.
#[derive(Default)]
struct Spill {
    file: Option<std::fs::File>,
    /// Whether making or writing the file failed once (then everything stays in `pending`).
    in_memory: bool,
    /// Bytes already in the file; the records after them are in `pending`.
    flushed: u64,
    pending: Vec<u8>,
    /// Where each member's record starts.
    starts: Vec<u64>,
}

/// Bytes gathered before one write to the spill file.
const SPILL_WRITE: usize = 1 << 20;
const SIGNATURE_BYTES: usize = BINS * 4;

impl Spill {
    fn end(&self) -> u64 {
        self.flushed + self.pending.len() as u64
    }

    /// Append a member; returns its number.
    fn push(&mut self, signature: &[u32; BINS], text: Option<&[u32; BINS]>, place: &str) -> u32 {
        self.starts.push(self.end());
        self.pending.extend(signature.iter().flat_map(|v| v.to_le_bytes()));
        self.pending.push(u8::from(text.is_some()));
        self.pending.extend(text.unwrap_or(&[0; BINS]).iter().flat_map(|v| v.to_le_bytes()));
        self.pending.extend_from_slice(place.as_bytes());
        if self.pending.len() >= SPILL_WRITE && !self.in_memory {
            self.write_pending();
        }
        self.starts.len() as u32 - 1
    }

    fn write_pending(&mut self) {
        use std::os::unix::fs::FileExt;
        if self.file.is_none() {
            self.file = tempfile::tempfile().ok();
        }
        match &self.file {
            Some(file) if file.write_all_at(&self.pending, self.flushed).is_ok() => {
                self.flushed += self.pending.len() as u64;
                self.pending.clear();
            }
            // No room for it on disk: memory it is (the index works as it did before spilling).
            _ => self.in_memory = true,
        }
    }

    fn get(&self, member: u32) -> Option<Member> {
        use std::os::unix::fs::FileExt;
        let start = *self.starts.get(member as usize)?;
        let end = self.starts.get(member as usize + 1).copied().unwrap_or_else(|| self.end());
        let mut read = Vec::new();
        let bytes: &[u8] = if start >= self.flushed {
            &self.pending[(start - self.flushed) as usize..(end - self.flushed) as usize]
        } else {
            read.resize((end - start) as usize, 0);
            // The file is ours alone and was written whole; a failed read loses one candidate.
            self.file.as_ref()?.read_exact_at(&mut read, start).ok()?;
            &read
        };
        let words = |b: &[u8]| -> [u32; BINS] {
            std::array::from_fn(|i| u32::from_le_bytes(b[i * 4..i * 4 + 4].try_into().expect("4 bytes")))
        };
        let (signature, rest) = bytes.split_at(SIGNATURE_BYTES);
        let (has_text, rest) = rest.split_first()?;
        let (text, place) = rest.split_at(SIGNATURE_BYTES);
        Some(Member {
            signature: words(signature),
            text_signature: (*has_text == 1).then(|| words(text)),
            place: String::from_utf8_lossy(place).into_owned(),
        })
    }
}

/// The eval set of `--against`: its recordings and its 13-grams.
#[derive(Default)]
pub struct EvalSet {
    recordings: HashMap<(String, String), String>,
    /// 13-gram hash → (first item holding it, how many items hold it).
    grams: HashMap<u64, (u32, u32)>,
    /// Tool result hash → (first item holding it, how many items hold it).
    results: HashMap<u64, (u32, u32)>,
    places: Vec<String>,
}

/// How an eval item overlaps a training thread.
pub enum Overlap {
    Recording {
        dataset: String,
        session: String,
        eval: String,
    },
    Text {
        shared: usize,
        eval: String,
    },
}

impl EvalSet {
    /// Add one eval item (a thread or a training example of any profile) found at `place`.
    pub fn add(&mut self, doc: &Value, place: &str) {
        let n = self.places.len() as u32;
        self.places.push(place.to_string());
        if let Some(r) = recording(doc) {
            self.recordings.entry(r).or_insert_with(|| place.to_string());
        }
        for g in model_grams(messages(doc)) {
            let e = self.grams.entry(g).or_insert((n, 0));
            e.1 += 1;
        }
        for r in result_hashes(messages(doc)) {
            let e = self.results.entry(r).or_insert((n, 0));
            e.1 += 1;
        }
    }

    /// The thread's tool results that an eval item also got (`(item, result)`), leaving out
    /// those many eval items got (a dataset's channel list is the same for every recording).
    pub fn result_hits(&self, f: &Features) -> Vec<(u32, u64)> {
        f.results
            .iter()
            .filter_map(|r| self.results.get(r).filter(|(_, holding)| *holding <= 2).map(|&(item, _)| (item, *r)))
            .collect()
    }

    /// Where eval item `item` is.
    pub fn place(&self, item: u32) -> &str {
        &self.places[item as usize]
    }

    fn boilerplate(&self, items_holding: u32) -> bool {
        items_holding >= 3 && items_holding as f64 >= 0.02 * self.items() as f64
    }

    /// How many eval items were added.
    pub fn items(&self) -> usize {
        self.places.len()
    }

    /// The eval recording this thread is about, if any.
    pub fn recording_overlap(&self, f: &Features) -> Option<Overlap> {
        let (dataset, session) = f.recording.as_ref()?;
        let eval = self.recordings.get(&(dataset.clone(), session.clone()))?;
        Some(Overlap::Recording { dataset: dataset.clone(), session: session.clone(), eval: eval.clone() })
    }

    /// The thread's 13-grams that an eval item holds and that are not eval boilerplate:
    /// `(item, gram)` pairs. Empty for most threads.
    pub fn text_hits(&self, f: &Features) -> Vec<(u32, u64)> {
        f.grams
            .iter()
            .filter_map(|g| {
                self.grams.get(g).filter(|(_, holding)| !self.boilerplate(*holding)).map(|&(item, _)| (item, *g))
            })
            .collect()
    }

    /// Whether `hits` (minus grams the training corpus itself repeats) make a text overlap for a
    /// thread with `own` 13-grams.
    pub fn text_overlap(&self, hits: &[(u32, u64)], own: usize, repeated: impl Fn(u64) -> bool) -> Option<Overlap> {
        let needed = MIN_SHARED_GRAMS.max((MIN_SHARED_SHARE * own as f64).ceil() as usize);
        let mut per_item: HashMap<u32, usize> = HashMap::default();
        for &(item, g) in hits {
            if !repeated(g) {
                *per_item.entry(item).or_default() += 1;
            }
        }
        let (item, shared) =
            per_item.into_iter().filter(|&(_, n)| n >= needed).max_by_key(|&(i, n)| (n, std::cmp::Reverse(i)))?;
        Some(Overlap::Text { shared, eval: self.places[item as usize].clone() })
    }

    /// Whether a thread could overlap by text at all (before the training corpus is counted).
    pub fn may_overlap(&self, hits: &[(u32, u64)], own: usize) -> bool {
        self.text_overlap(hits, own, |_| false).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn thread(session: &str, text: &str, result: &str) -> Value {
        json!({"id": session, "metadata": {"dataset": "d", "session": session}, "messages": [
            {"role": "user", "content": "Dataset Information: the same long description of every class for every thread here\n\nUser Query: what is it?"},
            {"role": "assistant", "content": text, "tool_calls": [{"id": "1", "type": "function", "function": {"name": "compute_features", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "1", "name": "compute_features", "content": result},
            {"role": "assistant", "content": "Final Answer: walking"}]})
    }

    #[test]
    fn copies_are_near_duplicates_and_other_recordings_are_not() {
        let text = "The mean of the acceleration is high and the variance suggests a periodic motion of the wrist, so next I compute features.";
        // A realistic result: a few hundred words of features.
        let result = serde_json::to_string(&json!({"channels": (0..12).map(|c| (format!("ch{c}"), json!({"mean": 3.288686 + c as f64, "std": 5.762568 * c as f64, "rms": 6.634956 / (c + 1) as f64, "zcr": 2.2 + c as f64 / 10.0}))).collect::<serde_json::Map<_, _>>()})).unwrap();
        let a = Features::of(&thread("s1", text, &result), false);
        let copy = Features::of(&thread("s1b", &format!("{text} Good."), &result), false);
        let other = Features::of(&thread("s2", "The wrist barely moves and the signal is flat, so the person is at rest; the features will confirm it.", r#"{"acc_x": {"mean": 0.011, "std": 0.004, "rms": 0.012, "zcr": 0.0}}"#), false);
        let mut index = NearDuplicates::default();
        assert!(index.see(&a, "a.json").is_none());
        assert!(index.see(&other, "other.json").is_none());
        // The same recording and tools (same results), reasoning in other words: not a copy.
        let rewritten = Features::of(&thread("s1c", "Periodic wrist motion with a large spread; I expect a sport, and the features should show a swing rhythm.", &result), false);
        assert!(index.see(&rewritten, "rewritten.json").is_none());
        let (first, j) = index.see(&copy, "copy.json").unwrap();
        assert_eq!(first, "a.json");
        assert!(j >= 0.9, "{j}");
    }

    #[test]
    fn eval_overlap_by_recording_and_by_shared_text_but_not_by_boilerplate() {
        let mut eval = EvalSet::default();
        let unique = "Its dominant frequency of 2.2 Hz with a standard deviation of 5.76 looks exactly like a racket swing in badminton play.";
        eval.add(&thread("e1", unique, "{}"), "eval/e1.json");
        let boiler = "I will now look at the features of the signal to decide which of the activities this recording shows in the end.";
        for k in 0..4 {
            eval.add(&thread(&format!("e{}", k + 2), boiler, "{}"), &format!("eval/e{}.json", k + 2));
        }
        let same_recording = Features::of(&thread("e1", "other words entirely", "{}"), true);
        assert!(matches!(eval.recording_overlap(&same_recording), Some(Overlap::Recording { .. })));
        let copied = Features::of(&thread("t1", unique, "{}"), true);
        let hits = eval.text_hits(&copied);
        assert!(matches!(eval.text_overlap(&hits, copied.grams.len(), |_| false), Some(Overlap::Text { .. })));
        // A passage the training corpus itself repeats is a template, not a leak.
        assert!(eval.text_overlap(&hits, copied.grams.len(), |_| true).is_none());
        let templated = Features::of(&thread("t2", boiler, "{}"), true);
        assert!(eval.text_hits(&templated).is_empty());
    }

    /// Members written to the spill file are read back: copies of the first thread (long on
    /// disk) and of the last (still in memory) are found, with their places.
    #[test]
    fn copies_are_found_on_disk_and_in_memory() {
        let text = |k: usize| {
            let mut rng = fastrand::Rng::with_seed(k as u64);
            (0..80)
                .map(|_| {
                    ["walk", "run", "sit", "stand", "mean", "std", "peak", "axis", "x", "y", "z", "high", "low"]
                        [rng.usize(..13)]
                })
                .collect::<Vec<_>>()
                .join(" ")
        };
        let mut index = NearDuplicates::default();
        let n = 3000;
        for k in 0..n {
            let f = Features::of(&thread(&format!("s{k}"), &text(k), &format!("result {k} {}", text(k + n))), false);
            assert!(index.see(&f, &format!("t{k}.json")).is_none(), "thread {k} is new");
        }
        assert!(index.spill.flushed > 0 && !index.spill.in_memory, "the first members are in the file");
        for k in [0, 1, n - 1] {
            let copy = Features::of(&thread("copy", &text(k), &format!("result {k} {}", text(k + n))), false);
            let (first, j) = index.see(&copy, "copy.json").expect("a copy");
            assert_eq!((first.as_str(), j), (format!("t{k}.json").as_str(), 1.0));
        }
    }

    #[test]
    fn a_bucket_lists_its_members_in_order_and_only_them() {
        let mut bands = Bands::default();
        let key = 0xABCD_1234_5678_9ABC;
        // Same part (top 16 bits), other keys around it; members past 16 bits.
        for (k, member) in [(key, 7), (key + (1 << 32), 1), (key, 3 << 20), (key - (1 << 32), 2), (key, 9 << 20)] {
            bands.insert(k, member);
        }
        assert_eq!(bands.bucket(key).collect::<Vec<_>>(), [7, 3 << 20, 9 << 20]);
        assert_eq!(bands.bucket(key + (1 << 32)).collect::<Vec<_>>(), [1]);
        assert_eq!(bands.bucket(key ^ (1 << 63)).len(), 0);
    }
}
