//! The module graph of `src/` has no circle (ARCHITECTURE.md: data flows one way). A module is
//! a file; a path `crate::a::b::c` (or `super::…`, or a `use` tree) names the deepest module file
//! it reaches. A module may name its ancestors (`mod.rs` declares it), so those edges are left
//! out, as are comments and `#[cfg(test)] mod tests`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Module = Vec<String>;

fn modules(src: &Path) -> BTreeMap<Module, String> {
    let mut out = BTreeMap::new();
    for entry in walkdir::WalkDir::new(src) {
        let entry = entry.unwrap();
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let rel = path.strip_prefix(src).unwrap().with_extension("");
        let mut name: Module = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
        if name.last().is_some_and(|l| l == "mod") {
            name.pop();
        }
        if name == ["lib"] || name == ["main"] {
            continue;
        }
        out.insert(name, std::fs::read_to_string(path).unwrap());
    }
    out
}

/// The code of a file without comments and without its test module.
fn code(text: &str) -> String {
    let text = ["#[cfg(test)]\nmod tests", "#[cfg(test)]\nmod safety_tests"]
        .iter()
        .filter_map(|m| text.find(m))
        .min()
        .map_or(text, |at| &text[..at]);
    without_comments_and_literals(text)
}

/// `text` with comments removed and the insides of string and character literals blanked: a
/// `//` in a string (a URL) is no comment, and a path in a message is no import.
fn without_comments_and_literals(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let rest = &b[i..];
        if rest.starts_with(b"//") {
            i += rest.iter().position(|&c| c == b'\n').unwrap_or(rest.len());
        } else if rest.starts_with(b"/*") {
            let mut depth = 0;
            while i < b.len() {
                if b[i..].starts_with(b"/*") {
                    depth += 1;
                    i += 2;
                } else if b[i..].starts_with(b"*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(b' ');
        } else if let Some(hashes) = raw_string_start(b, i) {
            let close: Vec<u8> = std::iter::once(b'"').chain(std::iter::repeat_n(b'#', hashes)).collect();
            let body = i + hashes + 2 + usize::from(b[i] == b'b');
            let end = b[body..].windows(close.len()).position(|w| w == close.as_slice()).map_or(b.len(), |p| body + p + close.len());
            out.extend_from_slice(b"\"\"");
            i = end;
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            out.extend_from_slice(b"\"\"");
            i += 1;
        } else if let Some(len) = (b[i] == b'\'').then(|| char_literal_len(&text[i..])).flatten() {
            out.extend_from_slice(b"' '");
            i += len;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// At `i`, `r"`, `r#"`, `br"`…: the number of `#`. Not inside an identifier (`for"` is no raw string).
fn raw_string_start(b: &[u8], i: usize) -> Option<usize> {
    let start = if b[i] == b'b' { i + 1 } else { i };
    if b.get(start) != Some(&b'r') || (i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')) {
        return None;
    }
    let hashes = b[start + 1..].iter().take_while(|&&c| c == b'#').count();
    (b.get(start + 1 + hashes) == Some(&b'"')).then_some(hashes)
}

/// The length of a character literal at the start of `s` (`'a'`, `'"'`, `'\n'`, `'\u{7f}'`);
/// `None` for a lifetime (`'a`).
fn char_literal_len(s: &str) -> Option<usize> {
    let inner = &s[1..];
    if inner.starts_with('\\') {
        return inner.get(2..)?.find('\'').map(|p| p + 4);
    }
    let c = inner.chars().next()?;
    inner[c.len_utf8()..].starts_with('\'').then_some(c.len_utf8() + 2)
}

/// Every path a `use` tree (`a::{b, c::{d, e}}`) names, expanded.
fn expand(tree: &str) -> Vec<String> {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else { return vec![tree.split(" as ").next().unwrap_or("").trim().to_string()] };
    let Some(close) = tree.rfind('}').filter(|&c| c > open) else { return Vec::new() };
    let prefix = tree[..open].trim_end_matches("::");
    let inner = &tree[open + 1..close];
    let (mut parts, mut depth, mut start) = (Vec::new(), 0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter(|p| !p.trim().is_empty())
        .flat_map(expand)
        .map(|p| if p == "self" { prefix.to_string() } else { format!("{prefix}::{p}") })
        .collect()
}

/// The paths a file names: whole `use` trees, and every `crate::…`/`super::…`/`self::…` path
/// or path through one of `children` elsewhere.
fn paths(code: &str, children: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("use ") {
        let boundary = at == 0 || !rest.as_bytes()[at - 1].is_ascii_alphanumeric() && rest.as_bytes()[at - 1] != b'_';
        let end = rest[at..].find(';').map_or(rest.len(), |e| at + e);
        if boundary {
            out.extend(expand(&rest[at + 4..end]));
        }
        rest = &rest[at + 4..];
    }
    let bytes = code.as_bytes();
    let starts = ["crate::".to_string(), "super::".to_string(), "self::".to_string()];
    for start in starts.into_iter().chain(children.iter().map(|c| format!("{c}::"))) {
        for (at, _) in code.match_indices(&start) {
            if at > 0 && (bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_' || bytes[at - 1] == b':') {
                continue;
            }
            let end = code[at..].find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':')).map_or(code.len(), |e| at + e);
            out.push(code[at..end].trim_end_matches(':').to_string());
        }
    }
    out
}

/// The module a path reaches from `from`, if it is another module of the crate: `crate::…`,
/// `super::…` (of `a/b.rs` and of `a/b/mod.rs` alike: `a`), `self::…`, or a child's name.
fn resolve(path: &str, from: &Module, known: &BTreeMap<Module, String>) -> Option<Module> {
    let mut segments: Vec<&str> = path.split("::").collect();
    let mut base: Module = match *segments.first()? {
        "crate" => Vec::new(),
        "super" => from[..from.len().saturating_sub(1)].to_vec(),
        "self" => from.clone(),
        child => {
            let mut m = from.clone();
            m.push(child.to_string());
            if !known.contains_key(&m) {
                return None;
            }
            segments.insert(0, "self");
            from.clone()
        }
    };
    segments.remove(0);
    while segments.first() == Some(&"super") {
        base.pop();
        segments.remove(0);
    }
    let mut best = None;
    let mut module = base;
    for s in segments {
        module.push(s.to_string());
        if known.contains_key(&module) {
            best = Some(module.clone());
        }
    }
    best.filter(|m| !from.starts_with(m))
}

#[test]
fn no_module_imports_itself_back() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let known = modules(&src);
    let mut edges: BTreeMap<&Module, BTreeSet<Module>> = BTreeMap::new();
    for (module, text) in &known {
        let children: Vec<&str> =
            known.keys().filter(|k| k.len() == module.len() + 1 && k.starts_with(module)).map(|k| k[module.len()].as_str()).collect();
        for path in paths(&code(text), &children) {
            if let Some(to) = resolve(&path, module, &known) {
                if &to != module {
                    edges.entry(module).or_default().insert(to);
                }
            }
        }
    }
    assert!(edges.len() > 50, "the scan found edges from only {} modules", edges.len());
    // A circle is a path back to where it started: depth-first from every module.
    let mut circles = Vec::new();
    for start in edges.keys() {
        let mut stack = vec![(vec![(*start).clone()], 0usize)];
        let mut seen = BTreeSet::new();
        while let Some((trail, _)) = stack.pop() {
            let last = trail.last().unwrap();
            for next in edges.get(last).into_iter().flatten() {
                if next == *start {
                    let mut circle: Vec<String> = trail.iter().map(|m| m.join("::")).collect();
                    circle.push(start.join("::"));
                    circles.push(circle.join(" → "));
                } else if seen.insert(next.clone()) {
                    let mut longer = trail.clone();
                    longer.push(next.clone());
                    stack.push((longer, 0));
                }
            }
        }
    }
    assert!(circles.is_empty(), "import circles (fold the shared piece into a leaf both may use):\n{}", circles.join("\n"));
}

#[test]
fn the_scan_sees_use_trees() {
    assert_eq!(expand("super::{a::{b, c as d}, self}"), ["super::a::b", "super::a::c", "super"]);
    let found = paths("use crate::{records, rules::registry};\nlet x = crate::text::shown(p); // crate::nothing\n", &[]);
    assert!(found.contains(&"crate::rules::registry".to_string()) && found.contains(&"crate::text::shown".to_string()), "{found:?}");
}

#[test]
fn the_scan_reads_past_literals_and_not_into_them() {
    // A `//` inside a string hid the rest of its line; a path inside a message is no import.
    let src = r##"let u = "https://x"; let a = crate::text::shown(p); let m = "see crate::report";
let q = '"'; let e = '\''; fn f<'a>(x: &'a str) { crate::walk::run(x) } /* crate::span */
let r = r#"a "quoted" crate::json"#; let n = crate::records::read(b"//", 'x');"##;
    let found = paths(&code(src), &[]);
    for p in ["crate::text::shown", "crate::walk::run", "crate::records::read"] {
        assert!(found.contains(&p.to_string()), "{p} missed: {found:?}");
    }
    for p in ["crate::report", "crate::span", "crate::json"] {
        assert!(!found.iter().any(|f| f.starts_with(p)), "{p} is no import: {found:?}");
    }
}
