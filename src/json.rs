//! JSON helpers every step shares: RFC 6901 pointers (look up, escape, build) and the
//! names of JSON types. A leaf: it depends on nothing in the crate.

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

#[cfg(test)]
mod tests {
    use super::*;

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
