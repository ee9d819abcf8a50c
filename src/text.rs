//! Words for a person: text from data escaped before it reaches a terminal, counts with their
//! nouns, sizes in bytes. A leaf every printer (reports, transcripts, progress, the generator's
//! messages, the readers' errors) may use without depending on any of the others.

/// Characters that must never reach a terminal raw from data: C0 controls (ESC starts every
/// escape sequence: colours, clearing the screen, OSC 52 writing the clipboard), DEL, C1 controls
/// (U+009B is a one-character CSI on many terminals) and the bidirectional overrides and
/// isolates that make text display in another order than it reads (CVE-2021-42574).
fn is_unsafe(c: char, keep_lines: bool) -> bool {
    match c {
        '\n' | '\t' => !keep_lines,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' => true,
        '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => true,
        _ => false,
    }
}

/// Text from data (a thread, a label, a server's reply, a template's message) as printed for a
/// person: every unsafe character escaped as `\u{1b}`, never raw. `keep_lines` keeps newlines and
/// tabs (a transcript); without it they are escaped too (one line of a table or a path).
/// The one function every human output passes data through.
pub fn terminal_safe(text: &str, keep_lines: bool) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(|c| is_unsafe(c, keep_lines)) {
        return std::borrow::Cow::Borrowed(text);
    }
    text.chars()
        .map(|c| if is_unsafe(c, keep_lines) { c.escape_unicode().to_string() } else { c.to_string() })
        .collect::<String>()
        .into()
}

/// JSON text as printed (`--format json` on a terminal as much as in a pipe): the characters
/// `terminal_safe` escapes that serde_json leaves raw (DEL, C1 controls, bidi controls) written
/// as `\u009b`. They can only stand inside strings, so the document means exactly the same.
pub fn json_terminal_safe(json: String) -> String {
    if !json.chars().any(|c| is_unsafe(c, true)) {
        return json;
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if is_unsafe(c, true) {
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

/// A value as pretty JSON for output, through `json_terminal_safe`.
pub fn json_pretty<T: serde::Serialize + ?Sized>(value: &T) -> String {
    json_terminal_safe(serde_json::to_string_pretty(value).expect("output values serialize"))
}

/// A value as one line of JSON for output, through `json_terminal_safe`.
pub fn json_line<T: serde::Serialize + ?Sized>(value: &T) -> String {
    json_terminal_safe(serde_json::to_string(value).expect("output values serialize"))
}

/// `terminal_safe` for a source snippet, keeping every byte offset: each unsafe character becomes
/// a visible one of the same UTF-8 length (`?`, `¿`, `�`), so spans computed on the text still fit.
pub fn terminal_safe_same_width(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(|c| is_unsafe(c, true)) {
        return std::borrow::Cow::Borrowed(text);
    }
    text.chars()
        .map(|c| match (is_unsafe(c, true), c.len_utf8()) {
            (false, _) => c,
            (true, 1) => '?',
            (true, 2) => '\u{bf}',
            (true, _) => '\u{fffd}',
        })
        .collect::<String>()
        .into()
}

/// A path as shown to a person: control characters in a file name (an escape sequence
/// could rewrite the terminal) are printed escaped, `\u{1b}`, never raw.
pub fn shown(path: &std::path::Path) -> String {
    terminal_safe(&path.display().to_string(), false).into_owned()
}

/// `1 thread`, `2 threads` (a leaf: the generator's messages and the commands' both use it): counts in messages agree with their nouns.
pub fn plural(n: usize, noun: &str) -> String {
    match noun.strip_suffix('y') {
        _ if n == 1 => format!("1 {noun}"),
        Some(stem) if !stem.ends_with(['a', 'e', 'o', 'u']) => format!("{n} {stem}ies"),
        _ => format!("{n} {noun}s"),
    }
}

/// The first `max` characters of `s`, with `…` when there were more: a value quoted in a
/// message stays one readable line however long the value is.
pub fn abbreviate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_string(),
    }
}

/// A size as a person reads it: `512 bytes`, `3.2 KiB`, `1.5 MiB`.
pub fn human_bytes(n: u64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    if n >= 1 << 20 {
        format!("{:.1} MiB", n as f64 / MIB)
    } else if n >= 1 << 10 {
        format!("{:.1} KiB", n as f64 / 1024.0)
    } else {
        format!("{n} bytes")
    }
}

#[cfg(test)]
mod safety_tests {
    use super::*;

    #[test]
    fn nothing_from_data_drives_the_terminal() {
        let hostile = "a\u{1b}]52;c;aGk=\u{7}b\u{9b}2J\u{202e}gnp.exe\r\u{7f}";
        for safe in [terminal_safe(hostile, true), terminal_safe(hostile, false), terminal_safe_same_width(hostile)] {
            assert!(!safe.chars().any(|c| is_unsafe(c, true)), "{safe:?}");
        }
        assert_eq!(terminal_safe("x\u{1b}[2J", true), "x\\u{1b}[2J");
        assert_eq!(terminal_safe("two\nlines\tok", true), "two\nlines\tok");
        assert_eq!(terminal_safe("two\nlines", false), "two\\u{a}lines");
        assert_eq!(terminal_safe_same_width(hostile).len(), hostile.len());
    }

    #[test]
    fn json_keeps_its_meaning_and_loses_its_controls() {
        let hostile = "a\u{1b}]52;c;aGk=\u{7}b\u{9b}2J\u{202e}gnp.exe\r\u{7f}\u{85}";
        let value = serde_json::json!({"k\u{202e}": [hostile, 1, "plain é"]});
        for text in [serde_json::to_string(&value).unwrap(), serde_json::to_string_pretty(&value).unwrap()] {
            let safe = json_terminal_safe(text);
            assert!(!safe.chars().any(|c| is_unsafe(c, true)), "{safe:?}");
            assert_eq!(serde_json::from_str::<serde_json::Value>(&safe).unwrap(), value);
        }
    }

    #[test]
    fn abbreviations_cut_characters_not_bytes() {
        assert_eq!(abbreviate("héllo", 5), "héllo");
        assert_eq!(abbreviate("héllo", 2), "hé…");
        assert_eq!(abbreviate("", 0), "");
        assert_eq!(abbreviate("ab", 0), "…");
    }
}
