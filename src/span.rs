//! From a JSON Pointer back to bytes: where a value sits in the source text.
//!
//! Only records with findings come here, so the document was already parsed
//! successfully; this scanner can assume well-formed JSON and stay small.

use crate::diagnostic::Location;

/// The byte range of the value at `pointer`, and of its key when it is an object member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    pub value: (usize, usize),
    pub key: Option<(usize, usize)>,
}

impl Found {
    /// The range worth underlining: a scalar itself; for an object or array, its key
    /// (or opening bracket), so that a snippet stays one line long.
    pub fn display_range(&self, src: &[u8]) -> (usize, usize) {
        let (start, end) = self.value;
        let is_container = matches!(src.get(start), Some(b'{' | b'['));
        if !is_container {
            return (start, end);
        }
        match self.key {
            Some(k) => k,
            None => (start, start + 1),
        }
    }
}

/// Find the value at `pointer` (RFC 6901). Returns the deepest existing ancestor's
/// range when the path does not exist, so a finding about a missing key still
/// points somewhere useful.
pub fn locate(src: &str, pointer: &str) -> Found {
    let b = src.as_bytes();
    follow(src, pointer, |pos, token| match b.get(pos) {
        Some(b'{') => member(src, pos, token),
        Some(b'[') => token.parse::<usize>().ok().and_then(|i| element(b, pos, i)),
        _ => None,
    })
}

/// Walk `pointer` from the top, `step` finding each token's value (start, key range) in the
/// container at a position.
fn follow(src: &str, pointer: &str, mut step: impl FnMut(usize, &str) -> Option<(usize, Option<(usize, usize)>)>) -> Found {
    let b = src.as_bytes();
    let mut pos = skip_ws(b, 0);
    let mut key = None;
    for raw in pointer.split('/').skip(1) {
        let token = if raw.contains('~') { raw.replace("~1", "/").replace("~0", "~") } else { raw.to_string() };
        match step(pos, &token) {
            Some((value_start, k)) => {
                pos = value_start;
                key = k;
            }
            None => break,
        }
    }
    // Only the value found is measured: skipping every container on the way (the whole
    // document first) made each lookup cost several passes over the text.
    Found { value: (pos, skip_value(b, pos)), key }
}

/// Start of the value of `key` in the object at `pos`, with the key's range.
fn member(src: &str, pos: usize, key: &str) -> Option<(usize, Option<(usize, usize)>)> {
    let b = src.as_bytes();
    let mut i = skip_ws(b, pos + 1);
    while b.get(i) == Some(&b'"') {
        let key_end = skip_string(b, i);
        let raw = &src[i + 1..key_end - 1];
        let matches = if raw.contains('\\') {
            serde_json::from_str::<String>(&src[i..key_end]).is_ok_and(|k| k == key)
        } else {
            raw == key
        };
        let colon = skip_ws(b, key_end);
        let value_start = skip_ws(b, colon + 1);
        if matches {
            return Some((value_start, Some((i, key_end))));
        }
        let after = skip_ws(b, skip_value(b, value_start));
        if b.get(after) != Some(&b',') {
            return None;
        }
        i = skip_ws(b, after + 1);
    }
    None
}

fn element(b: &[u8], pos: usize, index: usize) -> Option<(usize, Option<(usize, usize)>)> {
    let mut i = skip_ws(b, pos + 1);
    if b.get(i) == Some(&b']') {
        return None;
    }
    for _ in 0..index {
        let after = skip_ws(b, skip_value(b, i));
        if b.get(after) != Some(&b',') {
            return None;
        }
        i = skip_ws(b, after + 1);
    }
    Some((i, None))
}

/// The JSON Pointer of the innermost value that covers byte `offset` of a well-formed
/// document (the inverse of `locate`).
pub fn pointer_at(src: &str, offset: usize) -> String {
    let b = src.as_bytes();
    let mut pointer = String::new();
    let mut pos = skip_ws(b, 0);
    'descend: loop {
        match b.get(pos) {
            Some(b'{') => {
                let mut i = skip_ws(b, pos + 1);
                while b.get(i) == Some(&b'"') {
                    let key_end = skip_string(b, i);
                    let value = skip_ws(b, skip_ws(b, key_end) + 1);
                    let end = skip_value(b, value);
                    if (value..end.max(value + 1)).contains(&offset) {
                        let key: String = serde_json::from_str(&src[i..key_end]).unwrap_or_default();
                        pointer.push('/');
                        pointer.push_str(&key.replace('~', "~0").replace('/', "~1"));
                        pos = value;
                        continue 'descend;
                    }
                    let after = skip_ws(b, end);
                    if b.get(after) != Some(&b',') {
                        break;
                    }
                    i = skip_ws(b, after + 1);
                }
                return pointer;
            }
            Some(b'[') => {
                let mut i = skip_ws(b, pos + 1);
                let mut index = 0;
                while i < b.len() && b[i] != b']' {
                    let end = skip_value(b, i);
                    if (i..end.max(i + 1)).contains(&offset) {
                        pointer.push_str(&format!("/{index}"));
                        pos = i;
                        continue 'descend;
                    }
                    let after = skip_ws(b, end);
                    if b.get(after) != Some(&b',') {
                        break;
                    }
                    i = skip_ws(b, after + 1);
                    index += 1;
                }
                return pointer;
            }
            _ => return pointer,
        }
    }
}

/// A key that an object names twice: the object's pointer, the key, and the byte
/// ranges of both occurrences (quotes included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateKey {
    pub pointer: String,
    pub key: String,
    pub first: (usize, usize),
    pub second: (usize, usize),
}

/// Every key named twice in one object, anywhere in the (well-formed) document.
/// Only called for documents the parser saw a duplicate in, so it may be thorough.
pub fn duplicate_keys(src: &str) -> Vec<DuplicateKey> {
    let mut found = Vec::new();
    let b = src.as_bytes();
    // (position of a container to scan, its pointer)
    let mut todo = vec![(skip_ws(b, 0), String::new())];
    while let Some((pos, pointer)) = todo.pop() {
        match b.get(pos) {
            Some(b'{') => {
                let mut seen: Vec<(String, (usize, usize))> = Vec::new();
                let mut i = skip_ws(b, pos + 1);
                while b.get(i) == Some(&b'"') {
                    let end = skip_string(b, i);
                    let key: String = serde_json::from_str(&src[i..end]).unwrap_or_default();
                    let value = skip_ws(b, skip_ws(b, end) + 1);
                    let escaped = key.replace('~', "~0").replace('/', "~1");
                    match seen.iter().find(|(k, _)| *k == key) {
                        Some((_, first)) => found.push(DuplicateKey {
                            pointer: pointer.clone(),
                            key: key.clone(),
                            first: *first,
                            second: (i, end),
                        }),
                        None => seen.push((key, (i, end))),
                    }
                    todo.push((value, format!("{pointer}/{escaped}")));
                    let after = skip_ws(b, skip_value(b, value));
                    if b.get(after) != Some(&b',') {
                        break;
                    }
                    i = skip_ws(b, after + 1);
                }
            }
            Some(b'[') => {
                let mut i = skip_ws(b, pos + 1);
                let mut index = 0;
                while i < b.len() && b[i] != b']' {
                    todo.push((i, format!("{pointer}/{index}")));
                    let after = skip_ws(b, skip_value(b, i));
                    if b.get(after) != Some(&b',') {
                        break;
                    }
                    i = skip_ws(b, after + 1);
                    index += 1;
                }
            }
            _ => {}
        }
    }
    found.sort_by_key(|d| d.second);
    found
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// End (exclusive) of the string starting at the quote at `i`.
fn skip_string(b: &[u8], i: usize) -> usize {
    let mut j = i + 1;
    // Jump from quote-or-backslash to the next: a message's text is kilobytes of neither.
    while let Some(k) = b.get(j..).and_then(|rest| memchr::memchr2(b'"', b'\\', rest)) {
        j += k;
        if b[j] == b'"' {
            return j + 1;
        }
        j += 2;
    }
    b.len()
}

/// End (exclusive) of the value starting at `i`. Iterative, so depth costs nothing.
fn skip_value(b: &[u8], i: usize) -> usize {
    match b.get(i) {
        Some(b'"') => skip_string(b, i),
        Some(b'{' | b'[') => {
            let mut depth = 0usize;
            let mut j = i;
            while j < b.len() {
                match b[j] {
                    b'"' => {
                        j = skip_string(b, j);
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return j + 1;
                        }
                    }
                    _ => {
                        j = next_structural(b, j + 1);
                        continue;
                    }
                }
                j += 1;
            }
            b.len()
        }
        Some(_) => {
            let mut j = i;
            while j < b.len() && !matches!(b[j], b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                j += 1;
            }
            j
        }
        None => i,
    }
}

/// The first index ≥ `j` that may hold `"`, `{`, `}`, `[` or `]`, eight bytes at a time (most
/// of a pretty-printed container is indentation and numbers). It may stop early, never late.
fn next_structural(b: &[u8], mut j: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let has = |x: u64, c: u8| {
        let y = x ^ (ONES * u64::from(c));
        y.wrapping_sub(ONES) & !y & HIGH
    };
    while let Some(chunk) = b.get(j..j + 8) {
        let x = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        // `[` and `]` differ from `{` and `}` only in bit 0x20, which no other byte maps onto them.
        let folded = x | (ONES * 0x20);
        if has(x, b'"') | has(folded, b'{') | has(folded, b'}') != 0 {
            break;
        }
        j += 8;
    }
    j
}

/// Line and column (1-based; the column counts characters) of a byte offset.
pub fn line_column(src: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(src.len());
    let before = &src.as_bytes()[..offset];
    let line = memchr::memchr_iter(b'\n', before).count() + 1;
    let line_start = memchr::memrchr(b'\n', before).map_or(0, |p| p + 1);
    let column = String::from_utf8_lossy(&before[line_start..]).chars().count() + 1;
    (line, column)
}

/// Byte offset of a 1-based line and column (in characters), clamped to the text.
pub fn offset_of(src: &str, line: usize, column: usize) -> usize {
    let mut offset = 0;
    for (n, l) in src.split_inclusive('\n').enumerate() {
        if n + 1 == line {
            let col = l.char_indices().nth(column.saturating_sub(1)).map_or(l.len(), |(i, _)| i);
            return offset + col;
        }
        offset += l.len();
    }
    src.len()
}

/// Resolve a pointer to a full location in one step.
pub fn location(src: &str, pointer: &str) -> Location {
    let found = locate(src, pointer);
    whole(src, found, line_column(src, found.display_range(src.as_bytes()).0))
}

fn whole(src: &str, found: Found, (line, column): (usize, usize)) -> Location {
    let (start, end) = found.display_range(src.as_bytes());
    Location { offset: start, len: end - start, line, column }
}

/// The location of bytes `start..start + len` of the decoded string at `pointer`: the raw
/// literal is walked escape by escape, so `\n`, `\"` and `\u00e9` before the range move it as
/// they move the text in the file. Falls back to the whole value when it is no string.
pub fn location_within(src: &str, pointer: &str, start: usize, len: usize) -> Location {
    let found = locate(src, pointer);
    let (offset, end) = raw_range(src, found, start, len);
    let (line, column) = line_column(src, offset);
    Location { offset, len: end - offset, line, column }
}

/// The raw byte range of decoded bytes `start..start + len` of the string `found`, or the
/// display range of `found` when it is no string.
fn raw_range(src: &str, found: Found, start: usize, len: usize) -> (usize, usize) {
    let b = src.as_bytes();
    let (value_start, value_end) = found.value;
    if b.get(value_start) != Some(&b'"') {
        return found.display_range(b);
    }
    // Raw offset of each decoded byte offset we need: `start` and `start + len`.
    let (mut raw, mut decoded) = (value_start + 1, 0usize);
    let mut raw_start = None;
    let target_end = start + len;
    while raw < value_end.saturating_sub(1) {
        if decoded >= start && raw_start.is_none() {
            raw_start = Some(raw);
        }
        if decoded >= target_end {
            break;
        }
        let (raw_len, decoded_len) = match b[raw] {
            b'\\' => match b.get(raw + 1) {
                Some(b'u') => {
                    let unit = |at: usize| src.get(at..at + 4).and_then(|h| u32::from_str_radix(h, 16).ok());
                    match unit(raw + 2) {
                        Some(hi @ 0xD800..=0xDBFF) if src.get(raw + 6..raw + 8) == Some("\\u") => {
                            let lo = unit(raw + 8).unwrap_or(0);
                            let c = char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo.wrapping_sub(0xDC00) & 0x3FF));
                            (12, c.map_or(3, char::len_utf8))
                        }
                        Some(u) => (6, char::from_u32(u).map_or(3, char::len_utf8)),
                        None => (2, 1),
                    }
                }
                _ => (2, 1),
            },
            c => (utf8_width(c), utf8_width(c)),
        };
        raw += raw_len;
        decoded += decoded_len;
    }
    let raw_start = raw_start.unwrap_or(raw);
    (raw_start, raw.max(raw_start))
}

/// Many pointers into one text (a file with thousands of findings): each container a pointer
/// passes through is indexed once and lines are counted once, where `location` scans from
/// the start of the text for every pointer.
pub struct Locator<'a> {
    src: &'a str,
    line_starts: Vec<usize>,
    /// Container start → its members.
    children: FastMap<usize, Children>,
}

type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// The members of one container read so far: an object's by decoded key (value start, key
/// range; the first of a key named twice, as `locate` finds it), an array's value starts by
/// index; and where reading stopped. Members are read only up to the one asked for: the
/// messages of a thread are not skipped once to find `messages` and again to find message 5.
struct Children {
    keys: FastMap<String, (usize, (usize, usize))>,
    items: Vec<usize>,
    /// Where reading goes on.
    next: Next,
}

#[derive(Clone, Copy)]
enum Next {
    /// The next member starts here.
    Member(usize),
    /// The last member read has its value here, not yet skipped.
    After(usize),
    End,
}

impl Children {
    fn new(b: &[u8], pos: usize) -> Children {
        let next = match b.get(pos) {
            Some(b'{' | b'[') => Next::Member(skip_ws(b, pos + 1)),
            _ => Next::End,
        };
        Children { keys: FastMap::default(), items: Vec::new(), next }
    }

    /// The member `token` of the object or array at `pos`, reading on from where it stopped.
    fn find(&mut self, src: &str, pos: usize, token: &str) -> Option<(usize, Option<(usize, usize)>)> {
        let b = src.as_bytes();
        let object = b.get(pos) == Some(&b'{');
        let wanted = if object { None } else { Some(token.parse::<usize>().ok()?) };
        loop {
            match wanted {
                None => {
                    if let Some(&(value, k)) = self.keys.get(token) {
                        return Some((value, Some(k)));
                    }
                }
                Some(index) => {
                    if let Some(&value) = self.items.get(index) {
                        return Some((value, None));
                    }
                }
            }
            let i = match self.next {
                Next::End => return None,
                Next::Member(i) => i,
                Next::After(value) => {
                    let after = skip_ws(b, skip_value(b, value));
                    self.next = if b.get(after) == Some(&b',') { Next::Member(skip_ws(b, after + 1)) } else { Next::End };
                    continue;
                }
            };
            let value_start = if object {
                if b.get(i) != Some(&b'"') {
                    self.next = Next::End;
                    return None;
                }
                let key_end = skip_string(b, i);
                let raw = &src[i + 1..key_end - 1];
                let key = if raw.contains('\\') { serde_json::from_str(&src[i..key_end]).unwrap_or_default() } else { raw.to_string() };
                let value_start = skip_ws(b, skip_ws(b, key_end) + 1);
                self.keys.entry(key).or_insert((value_start, (i, key_end)));
                value_start
            } else {
                if i >= b.len() || b[i] == b']' {
                    self.next = Next::End;
                    return None;
                }
                self.items.push(i);
                i
            };
            self.next = Next::After(value_start);
        }
    }
}

impl<'a> Locator<'a> {
    pub fn new(src: &'a str) -> Locator<'a> {
        let line_starts = std::iter::once(0).chain(memchr::memchr_iter(b'\n', src.as_bytes()).map(|p| p + 1)).collect();
        Locator { src, line_starts, children: Default::default() }
    }

    pub fn location(&mut self, pointer: &str) -> Location {
        let found = self.locate(pointer);
        let start = found.display_range(self.src.as_bytes()).0;
        whole(self.src, found, self.line_column(start))
    }

    pub fn location_within(&mut self, pointer: &str, start: usize, len: usize) -> Location {
        let found = self.locate(pointer);
        let (offset, end) = raw_range(self.src, found, start, len);
        let (line, column) = self.line_column(offset);
        Location { offset, len: end - offset, line, column }
    }

    pub fn line_column(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.src.len());
        let line = self.line_starts.partition_point(|&s| s <= offset);
        let start = self.line_starts[line - 1];
        (line, String::from_utf8_lossy(&self.src.as_bytes()[start..offset]).chars().count() + 1)
    }

    pub fn locate(&mut self, pointer: &str) -> Found {
        let (src, children) = (self.src, &mut self.children);
        follow(src, pointer, |pos, token| children.entry(pos).or_insert_with(|| Children::new(src.as_bytes(), pos)).find(src, pos, token))
    }
}

fn utf8_width(first: u8) -> usize {
    match first {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "{\n  \"id\": \"x\",\n  \"messages\": [\n    {\"role\": \"user\", \"content\": \"hé\"},\n    {\"role\": \"tool\", \"a/b\": 3}\n  ]\n}";

    /// The indexed locator answers exactly what the one-pointer functions answer, for every
    /// value of real threads, for pointers that do not exist, and inside strings.
    #[test]
    fn the_locator_agrees_with_location_everywhere() {
        fn pointers(v: &serde_json::Value, at: String, out: &mut Vec<String>) {
            match v {
                serde_json::Value::Object(o) => o.iter().for_each(|(k, c)| pointers(c, format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")), out)),
                serde_json::Value::Array(a) => a.iter().enumerate().for_each(|(i, c)| pointers(c, format!("{at}/{i}"), out)),
                _ => {}
            }
            out.push(at);
        }
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/threads/valid");
        let mut texts: Vec<String> = std::fs::read_dir(dir).unwrap().filter_map(|e| std::fs::read_to_string(e.unwrap().path()).ok()).take(3).collect();
        texts.push(DOC.to_string());
        for text in &texts {
            let doc: serde_json::Value = serde_json::from_str(text).unwrap();
            let mut all = Vec::new();
            pointers(&doc, String::new(), &mut all);
            all.extend(["/nope".to_string(), "/messages/99/x".to_string(), "/messages/0/nope".to_string()]);
            let mut locator = Locator::new(text);
            for p in &all {
                assert_eq!(locator.location(p), location(text, p), "{p}");
                assert_eq!(locator.location_within(p, 1, 2), location_within(text, p, 1, 2), "{p}");
            }
        }
    }

    #[test]
    fn a_range_inside_a_string_skips_escapes_before_it() {
        let src = r#"{"m": [{"content": "a\"b\n\u00e9 0.97 Hz"}]}"#;
        let decoded = "a\"b\n\u{e9} 0.97 Hz";
        let start = decoded.find("0.97").unwrap();
        let loc = location_within(src, "/m/0/content", start, 4);
        assert_eq!(&src[loc.offset..loc.offset + loc.len], "0.97");
        let loc = location_within(src, "/m/0/content", 0, 3);
        assert_eq!(&src[loc.offset..loc.offset + loc.len], "a\\\"b");
    }

    #[test]
    fn scalar_value() {
        let loc = location(DOC, "/id");
        assert_eq!(&DOC[loc.offset..loc.offset + loc.len], "\"x\"");
        assert_eq!((loc.line, loc.column), (2, 9));
    }

    #[test]
    fn nested_with_escaped_token() {
        let loc = location(DOC, "/messages/1/a~1b");
        assert_eq!(&DOC[loc.offset..loc.offset + loc.len], "3");
        assert_eq!(loc.line, 5);
    }

    #[test]
    fn container_points_at_its_key() {
        let loc = location(DOC, "/messages");
        assert_eq!(&DOC[loc.offset..loc.offset + loc.len], "\"messages\"");
    }

    #[test]
    fn missing_path_falls_back_to_nearest_ancestor() {
        let loc = location(DOC, "/messages/7/content");
        assert_eq!(&DOC[loc.offset..loc.offset + loc.len], "\"messages\"");
        let root = location(DOC, "/nope");
        assert_eq!((root.line, root.column, root.len), (1, 1, 1));
    }

    #[test]
    fn columns_count_characters() {
        let loc = location(DOC, "/messages/0/content");
        assert_eq!(&DOC[loc.offset..loc.offset + loc.len], "\"hé\"");
        let (line, col) = line_column(DOC, loc.offset + loc.len);
        assert_eq!(line, 4);
        assert_eq!(col, 37);
        assert_eq!(offset_of(DOC, line, col), loc.offset + loc.len);
    }

    #[test]
    fn escaped_keys_and_strings() {
        let src = r#"{"a\"b": "x\"}", "c": [1, {"d": null}]}"#;
        assert_eq!(location(src, "/a\"b").len, 6);
        let loc = location(src, "/c/1/d");
        assert_eq!(&src[loc.offset..loc.offset + loc.len], "null");
    }
}
