//! JSON helpers every step shares: RFC 6901 pointers (look up, escape, build), the
//! names of JSON types, and a compact writer. A leaf: it depends on nothing in the crate.

use serde_json::Value;

/// `Value::pointer` without its per-token allocations: rules look fields up for every
/// thread, and unescaping is only needed for the rare token that contains `~`.
pub fn lookup<'a>(value: &'a Value, pointer: &str) -> Option<&'a Value> {
    if pointer.is_empty() {
        return Some(value);
    }
    let mut current = value;
    for token in pointer.strip_prefix('/')?.split('/') {
        let owned;
        let token = if token.contains('~') {
            owned = token.replace("~1", "/").replace("~0", "~");
            owned.as_str()
        } else {
            token
        };
        current = match current {
            Value::Object(map) => map.get(token)?,
            Value::Array(items) => items.get(token.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(current)
}

/// Escape one JSON Pointer reference token (RFC 6901).
pub fn escape_token(token: &str) -> std::borrow::Cow<'_, str> {
    if token.contains(['~', '/']) {
        token.replace('~', "~0").replace('/', "~1").into()
    } else {
        token.into()
    }
}

/// Build a pointer from tokens: `pointer(&["messages", "3", "content"])`.
pub fn pointer<I, S>(tokens: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut out = String::new();
    for t in tokens {
        out.push('/');
        out.push_str(&escape_token(t.as_ref()));
    }
    out
}

/// The JSON type of a value, as error messages name it.
pub fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The JSON Schema type of a value (integers told apart from other numbers).
pub fn schema_type(v: &Value) -> &'static str {
    match v {
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        other => json_type(other),
    }
}

/// Bytes of `value` as compact JSON, counted without building the text.
pub fn compact_len(value: &Value) -> u64 {
    struct Count(u64);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len() as u64;
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

/// What `serde_json::to_writer` writes for `value`, byte for byte, with string escaping that
/// skips eight plain bytes at a time (export writes ~10 KB of strings per example; serde_json
/// looks every byte up in a table).
pub fn write_compact(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_compact(out, item);
            }
            out.push(b']');
        }
        Value::Object(map) => write_object(out, map.iter().map(|(k, v)| (k.as_str(), v)), |out, _, v| write_compact(out, v)),
        scalar => serde_json::to_writer(out, scalar).expect("writing to memory"),
    }
}

/// `write_compact` of an object whose member values `value` writes (given the key): where a
/// caller writes some members its own way and the rest with `write_compact`.
pub fn write_object<'a>(
    out: &mut Vec<u8>,
    members: impl IntoIterator<Item = (&'a str, &'a Value)>,
    mut value: impl FnMut(&mut Vec<u8>, &str, &Value),
) {
    out.push(b'{');
    for (i, (key, item)) in members.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, key);
        out.push(b':');
        value(out, key, item);
    }
    out.push(b'}');
}

/// A JSON string literal as serde_json writes it: `"` and `\\` escaped, `\b \f \n \r \t`,
/// other control characters as `\u00xx`, everything else (DEL and non-ASCII included) as is.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    write_str_body(out, s);
    out.push(b'"');
}

/// `write_str` without the quotes: what goes between them (escaping is per byte, so the body
/// of a string is the bodies of its parts one after the other).
pub fn write_str_body(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    loop {
        // Eight bytes at a time up to the next byte that needs escaping.
        while let Some(chunk) = bytes.get(i..i + 8) {
            let found = needs_escape(u64::from_le_bytes(chunk.try_into().expect("8 bytes")));
            if found != 0 {
                i += found.trailing_zeros() as usize / 8;
                break;
            }
            i += 8;
        }
        while i < bytes.len() && !matches!(bytes[i], b'"' | b'\\' | 0..0x20) {
            i += 1;
        }
        let Some(&b) = bytes.get(i) else { break };
        out.extend_from_slice(&bytes[start..i]);
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(&[b'\\', b'u', b'0', b'0', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
            }
        }
        i += 1;
        start = i;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// The bytes `write` produces, in a vector of exactly their size: they are built in a
/// per-thread buffer that keeps its capacity. Export's lines wait in batches of a thousand
/// before they are spooled, and a guessed capacity (16 KB for a ~10 KB line) made that memory
/// half as large again, and left the allocator holding it after the batch was freed.
pub fn exact_vec(write: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    thread_local! {
        static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    SCRATCH.with_borrow_mut(|scratch| {
        scratch.clear();
        write(scratch);
        let out = scratch.to_vec();
        // A freak line does not pin its size in every worker for the rest of the run.
        if scratch.capacity() > 1 << 20 {
            *scratch = Vec::new();
        }
        out
    })
}

/// Whether `text` is one JSON object, exactly as `serde_json::from_str::<Value>(text)` would
/// parse to an object (the same numbers out of range, nesting limit and trailing text
/// refused), without building it: a tool call's arguments are checked in every exported
/// example, and building each one's map cost more than the rest of the check.
pub fn is_object_text(text: &str) -> bool {
    serde_json::from_str::<Object>(text).is_ok()
}

/// `Ok` where `serde_json::from_str::<Value>(text)` would be (any JSON value, with the same
/// errors: numbers out of range and lone surrogates too, which `IgnoredAny` lets through),
/// without building the value.
pub fn check_text(text: &str) -> Result<(), serde_json::Error> {
    serde_json::from_str::<Any>(text).map(|_| ())
}

/// Any JSON value, read the way `Value` reads it (`deserialize_any`) and dropped.
struct Any;
struct AnyVisitor;

impl<'de> serde::de::Visitor<'de> for AnyVisitor {
    type Value = Any;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Any, E> {
        Ok(Any)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Any, E> {
        Ok(Any)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Any, E> {
        Ok(Any)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Any, E> {
        Ok(Any)
    }
    fn visit_str<E>(self, _: &str) -> Result<Any, E> {
        Ok(Any)
    }
    fn visit_unit<E>(self) -> Result<Any, E> {
        Ok(Any)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Any, A::Error> {
        while seq.next_element::<Any>()?.is_some() {}
        Ok(Any)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Any, A::Error> {
        while map.next_entry::<Any, Any>()?.is_some() {}
        Ok(Any)
    }
}

impl<'de> serde::Deserialize<'de> for Any {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Any, D::Error> {
        d.deserialize_any(AnyVisitor)
    }
}

/// An object (`deserialize_map` refuses any other value, as `Value` would not be one).
struct Object;

impl<'de> serde::Deserialize<'de> for Object {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Object, D::Error> {
        d.deserialize_map(AnyVisitor).map(|_| Object)
    }
}

/// The high bit of each byte of `w` that is below 0x20, `"` or `\`, and possibly of bytes
/// after such a byte (a borrow carries up), so the lowest bit set is always a real one.
fn needs_escape(w: u64) -> u64 {
    const LOW: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero_byte = |x: u64| x.wrapping_sub(LOW) & !x;
    (w.wrapping_sub(LOW * 0x20) & !w | zero_byte(w ^ (LOW * u64::from(b'"'))) | zero_byte(w ^ (LOW * u64::from(b'\\')))) & HIGH
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_writer_is_serde_json() {
        let mut rng = fastrand::Rng::with_seed(42);
        let alphabet: Vec<char> = (0u32..0x80).filter_map(char::from_u32).chain(['é', '中', '🏃', '\u{2028}', '\u{feff}']).collect();
        for round in 0..20_000 {
            let len = rng.usize(0..40);
            // Mostly plain text, as threads are, so that the eight-byte skip and the escapes meet.
            let s: String = (0..len)
                .map(|_| if rng.u8(..) < 200 { 'a' } else { alphabet[rng.usize(..alphabet.len())] })
                .collect();
            let mut ours = Vec::new();
            write_str(&mut ours, &s);
            assert_eq!(ours, serde_json::to_vec(&s).unwrap(), "round {round}: {s:?}");
        }
        let v = serde_json::json!({"a": [1, -2.5, 1e300, true, null, "x\u{0}\"\\\u{7f}"], "b": {}, "c": [], "é": {"k": 18446744073709551615u64}});
        let mut ours = Vec::new();
        write_compact(&mut ours, &v);
        assert_eq!(ours, serde_json::to_vec(&v).unwrap());
    }

    #[test]
    fn texts_are_checked_as_value_parses_them() {
        let deep = |n: usize| format!("{{\"a\":{}1{}}}", "[".repeat(n), "]".repeat(n));
        let cases = [
            "{}".to_string(), " {\"a\": 1} ".into(), "{\"a\":1,\"a\":2}".into(), "[]".into(), "1".into(), "\"{}\"".into(),
            "null".into(), "{\"a\":1e400}".into(), "{\"a\":-1e308, \"b\": 18446744073709551616}".into(), "{\"a\":1} x".into(),
            "{\"a\":}".into(), "{1:2}".into(), "{\"\\ud800\":1}".into(), "{\"a\":\"\\u00e9\\n\"}".into(), "".into(),
            "{\"a\":[1,{\"b\":[true,false,null]}]}".into(), deep(126), deep(127), deep(200), "{\"a\":1,}".into(), "{\"a\":NaN}".into(),
        ];
        for text in &cases {
            let parsed = serde_json::from_str::<Value>(text);
            assert_eq!(check_text(text).is_ok(), parsed.is_ok(), "{text:?}");
            assert_eq!(is_object_text(text), parsed.is_ok_and(|v| v.is_object()), "{text:?}");
        }
        let mut rng = fastrand::Rng::with_seed(9);
        let pieces = ["{", "}", "[", "]", "\"k\"", ":", ",", "1", "-0.5e3", "true", "null", " ", "\"\\\"\"", "1e999"];
        for _ in 0..20_000 {
            let text: String = (0..rng.usize(1..12)).map(|_| pieces[rng.usize(..pieces.len())]).collect();
            let parsed = serde_json::from_str::<Value>(&text);
            assert_eq!(check_text(&text).is_ok(), parsed.is_ok(), "{text:?}");
            assert_eq!(is_object_text(&text), parsed.is_ok_and(|v| v.is_object()), "{text:?}");
        }
    }

    #[test]
    fn lookup_matches_value_pointer() {
        let v = serde_json::json!({"a": [{"b/c": 1, "d~e": 2}], "": 3});
        for p in ["", "/a", "/a/0", "/a/0/b~1c", "/a/0/d~0e", "/a/1", "/x", "/", "/a/-1", "a"] {
            assert_eq!(lookup(&v, p), v.pointer(p), "{p}");
        }
    }

    #[test]
    fn pointers_escape_slash_and_tilde() {
        assert_eq!(pointer(["a/b", "c~d", "0"]), "/a~1b/c~0d/0");
        assert_eq!(pointer(Vec::<&str>::new()), "");
    }
}
