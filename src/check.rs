//! Validation of one parsed record: detect the version, run the schema and the
//! semantic rules, and merge their findings. Knows nothing of files or spans.

use serde_json::Value;

use crate::data_root::DataRoot;
use crate::diagnostic::Diagnostic;
use crate::rules::{self, Context};
use crate::thread::ThreadView;
use crate::schema;
use crate::version::{detect, Version};

#[derive(Debug, Default, Clone, Copy)]
pub struct Options<'a> {
    pub data_root: Option<&'a DataRoot>,
}

#[derive(Debug)]
pub struct Checked {
    pub version: Option<Version>,
    pub id: Option<String>,
    pub diagnostics: Vec<Diagnostic>,
}

pub fn check(doc: &Value, file_stem: Option<&str>, options: Options<'_>) -> Checked {
    let detection = detect(doc);
    let mut diagnostics = Vec::new();
    let Some(version) = detection.version else {
        let what = match doc {
            Value::Object(_) => "an object without `id`+`messages` or `thread_id`+`conversation`".to_string(),
            other => format!("a JSON {}", crate::json::json_type(other)),
        };
        diagnostics.push(Diagnostic::new(&rules::NOT_A_THREAD, "", format!("not a thread: the document is {what}")));
        return Checked { version: None, id: None, diagnostics };
    };
    let mut semantic = Vec::new();
    if let Some(msg) = detection.mismatch() {
        let pointer = detection.declared.as_ref().map_or("", |(_, p)| *p);
        semantic.push(Diagnostic::new(&rules::VERSION_MISMATCH, pointer, msg).with_label("declared version"));
    }
    let thread = ThreadView::new(doc, version);
    let id = thread.id().map(str::to_string);

    match version {
        Version::V2 => {
            diagnostics.push(
                Diagnostic::new(
                    &rules::LEGACY_V2,
                    "",
                    "legacy `2.0` thread: no trainer reads this format; run `threadkit migrate` on it",
                )
                .with_label("2.0 document"),
            );
            diagnostics.extend(semantic);
            return Checked { version: Some(version), id, diagnostics };
        }
        Version::V3 => diagnostics.push(Diagnostic::new(
            &rules::LEGACY_V3,
            "",
            "legacy `3.0` thread: valid, but convert it with `threadkit migrate` before export or training",
        )),
        Version::OpenAiV1 => {}
    }

    let ctx = Context { doc, version, thread, file_stem, data_root: options.data_root };
    for check in rules::CHECKS {
        check(&ctx, &mut semantic);
    }
    let structural = schema::for_version(version).map(|v| schema::check(v, doc)).unwrap_or_default();

    // A rule that explains a value knows more than the schema error at the same
    // place (e.g. object tool content is a fixable warning, not a type error).
    for s in structural {
        if !semantic.iter().any(|r| covers(&r.pointer, &s.pointer)) {
            diagnostics.push(s);
        }
    }
    diagnostics.extend(semantic);
    Checked { version: Some(version), id, diagnostics }
}

/// True when `inner` is `outer` or lies below it. The root covers nothing:
/// a finding about the whole document must not hide specific schema errors.
fn covers(outer: &str, inner: &str) -> bool {
    !outer.is_empty() && (inner == outer || inner.strip_prefix(outer).is_some_and(|rest| rest.starts_with('/')))
}


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coverage_is_by_whole_tokens() {
        assert!(covers("/messages/1/content", "/messages/1/content"));
        assert!(covers("/messages/1", "/messages/1/content"));
        assert!(!covers("/messages/1", "/messages/10"));
        assert!(!covers("", "/id"));
    }
}
