//! Applying fixes: edits on the parsed value, repeated until nothing fixable is
//! left, then re-checked. A fix that would leave the record worse is refused.

use serde_json::Value;

use crate::check::{self, Options};
use crate::diagnostic::{Diagnostic, Edit};
use crate::pyjson::{self, Style};

#[derive(Debug)]
pub struct Fixed {
    pub text: String,
    /// Codes of the findings the fix resolved, one per finding.
    pub resolved: Vec<&'static str>,
    /// What is still wrong after fixing (never anything fixable).
    pub remaining: Vec<Diagnostic>,
}

/// Fix one record. `original` is its text, used to keep the file's layout.
pub fn fix_record(
    original: &str,
    doc: Value,
    file_stem: Option<&str>,
    options: Options<'_>,
) -> Result<Fixed, String> {
    let (doc, resolved, remaining) = settle(doc, |d| check::check(d, file_stem, options).diagnostics)?;
    Ok(Fixed { text: render(&doc, original), resolved, remaining })
}

/// Apply the fixes `check` finds until none is left, checking again after each round (a fix
/// can expose another; a few rounds settle it). Returns the fixed value, the code of each
/// finding resolved and what is still wrong. Refused when it does not settle or when it would
/// leave more errors than it found. Threads and training examples are fixed by this one loop.
pub fn settle(
    mut doc: Value,
    check: impl Fn(&Value) -> Vec<Diagnostic>,
) -> Result<(Value, Vec<&'static str>, Vec<Diagnostic>), String> {
    let mut current = check(&doc);
    let errors_before = current.iter().filter(|d| d.is_error()).count();
    let mut resolved = Vec::new();
    for _ in 0..4 {
        let fixes: Vec<&Diagnostic> = current.iter().filter(|d| d.fix.is_some()).collect();
        if fixes.is_empty() {
            break;
        }
        for d in &fixes {
            for edit in &d.fix.as_ref().expect("filtered").edits {
                apply(&mut doc, edit)?;
            }
            resolved.push(d.code());
        }
        current = check(&doc);
    }
    if let Some(d) = current.iter().find(|d| d.fix.is_some()) {
        return Err(format!("the fix for {} did not settle after several rounds; nothing was written", d.code()));
    }
    let errors_after = current.iter().filter(|d| d.is_error()).count();
    if errors_after > errors_before {
        return Err(format!(
            "fixing would raise the error count from {errors_before} to {errors_after}; nothing was written"
        ));
    }
    Ok((doc, resolved, current))
}

/// Serialize in the layout of the original text, keeping its final newline (or lack of one).
pub fn render(doc: &Value, original: &str) -> String {
    let mut text = pyjson::to_string(doc, Style::detect(original));
    let trailing = &original[original.trim_end().len()..];
    text.push_str(trailing);
    text
}

pub fn apply(doc: &mut Value, edit: &Edit) -> Result<(), String> {
    let (pointer, value) = match edit {
        Edit::Set { pointer, value } => (pointer, Some(value)),
        Edit::Remove { pointer } => (pointer, None),
    };
    let (parent, last) =
        pointer.rsplit_once('/').ok_or_else(|| format!("cannot edit the document root ({pointer:?})"))?;
    let key = last.replace("~1", "/").replace("~0", "~");
    let target = doc.pointer_mut(parent).ok_or_else(|| format!("nothing at {parent:?} to edit"))?;
    match (target, value) {
        (Value::Object(map), Some(v)) => {
            map.insert(key, v.clone());
        }
        (Value::Object(map), None) => {
            map.shift_remove(&key);
        }
        (Value::Array(items), Some(v)) => {
            let slot = key
                .parse::<usize>()
                .ok()
                .and_then(|i| items.get_mut(i))
                .ok_or_else(|| format!("no element {pointer:?}"))?;
            *slot = v.clone();
        }
        (Value::Array(items), None) => {
            let i = key
                .parse::<usize>()
                .ok()
                .filter(|&i| i < items.len())
                .ok_or_else(|| format!("no element {pointer:?}"))?;
            items.remove(i);
        }
        _ => return Err(format!("{parent:?} is not an object or array")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn set_keeps_key_order_and_remove_shifts() {
        let mut v = json!({"a": 1, "b": 2, "c": 3});
        apply(&mut v, &Edit::Set { pointer: "/a".into(), value: json!(9) }).unwrap();
        apply(&mut v, &Edit::Remove { pointer: "/b".into() }).unwrap();
        assert_eq!(serde_json::to_string(&v).unwrap(), r#"{"a":9,"c":3}"#);
    }

    #[test]
    fn edits_on_missing_parents_fail_cleanly() {
        let mut v = json!({"a": [1]});
        assert!(apply(&mut v, &Edit::Set { pointer: "/x/y".into(), value: json!(1) }).is_err());
        assert!(apply(&mut v, &Edit::Set { pointer: "/a/5".into(), value: json!(1) }).is_err());
        assert!(apply(&mut v, &Edit::Set { pointer: "".into(), value: json!(1) }).is_err());
    }

    #[test]
    fn render_keeps_layout_and_final_newline() {
        let original = "{\n  \"a\": 1\n}\n";
        let v: Value = serde_json::from_str(original).unwrap();
        assert_eq!(render(&v, original), original);
    }
}
