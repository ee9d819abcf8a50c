//! The first user message of an `openai_v1` thread: manifest + query, and its agreement with metadata.

use serde_json::Value;

use super::*;
use crate::diagnostic::Edit;
use crate::text::abbreviate;
use crate::thread::{FirstMessage, MANIFEST_PREFIX, QUERY_SEPARATOR};
use crate::version::Version;

pub fn check(ctx: &Context<'_>, out: &mut Vec<Diagnostic>) {
    if ctx.version != Version::OpenAiV1 {
        return;
    }
    let Some((i, first)) = ctx.thread.first_user_message() else {
        return;
    };
    let role = first.get("role").and_then(Value::as_str);
    if role != Some("user") {
        out.push(
            Diagnostic::new(
                &FIRST_MESSAGE_NOT_USER,
                format!("/messages/{i}/role"),
                format!(
                    "message {i} is the first of the conversation but has role {}",
                    role.map_or("(none)".into(), |r| format!("{r:?}"))
                ),
            )
            .with_label("expected \"user\""),
        );
        return;
    }
    // Non-string content anywhere in the user turn is the split variant (TK208): its
    // layout is explained there, and a query "fixed" from a fragment would be wrong.
    let split_variant = ctx.thread.messages().iter().any(|m| {
        m.get("role").and_then(Value::as_str) == Some("user")
            && m.get("content").is_some_and(|c| c.is_object() || c.is_array())
    });
    let Some(content) = first.get("content").and_then(Value::as_str) else {
        return;
    };
    if split_variant {
        return;
    }
    let content_at = format!("/messages/{i}/content");
    let layout = FirstMessage::parse(content);
    match layout {
        Some(ref layout) => {
            if let Err(e) = manifest_is_object(layout.manifest_text) {
                out.push(
                    Diagnostic::new(
                        &FIRST_MESSAGE_LAYOUT,
                        &content_at,
                        format!("the manifest in the first message is not a JSON object: {e}"),
                    )
                    .with_label("manifest text here"),
                );
            }
        }
        None => {
            let missing = if !content.starts_with(MANIFEST_PREFIX) {
                format!("does not start with {:?}", MANIFEST_PREFIX)
            } else {
                format!("has no {:?} separator", QUERY_SEPARATOR.trim_start())
            };
            out.push(
                Diagnostic::new(
                    &FIRST_MESSAGE_LAYOUT,
                    &content_at,
                    format!("the first user message {missing}; the model never saw the dataset manifest"),
                )
                .with_label("expected manifest + query"),
            );
        }
    }
    // Only a well-formed message has a query we can trust enough to copy.
    let (Some(layout), Some(stored)) = (layout, ctx.thread.user_query()) else {
        return;
    };
    let query = layout.query;
    {
        if stored.trim() != query.trim() {
            out.push(
                Diagnostic::new(
                    &USER_QUERY_MISMATCH,
                    ctx.thread.user_query_pointer(),
                    format!(
                        "`metadata.user_query` is {:?} but the first message asks {:?}",
                        abbreviate(stored, 80),
                        abbreviate(query, 80)
                    ),
                )
                .with_label("differs from the first message")
                .with_fix(vec![Edit::Set {
                    pointer: ctx.thread.user_query_pointer().into(),
                    value: Value::String(query.trim().into()),
                }]),
            );
        }
    }
}

/// Whether the manifest text is a JSON object. Every thread embeds one, and a corpus
/// has only a few distinct manifests (one per dataset), so texts already found good are
/// remembered per worker and compared byte for byte instead of being parsed again.
fn manifest_is_object(text: &str) -> Result<(), serde_json::Error> {
    use std::cell::RefCell;
    thread_local! {
        static KNOWN_GOOD: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    }
    if KNOWN_GOOD.with_borrow(|known| known.iter().any(|k| k == text)) {
        return Ok(());
    }
    // Syntax is checked without building the value.
    serde_json::from_str::<serde::de::IgnoredAny>(text)?;
    if !text.trim_start().starts_with('{') {
        return Err(serde::de::Error::custom("not an object"));
    }
    KNOWN_GOOD.with_borrow_mut(|known| {
        if known.len() < 64 {
            known.push(text.to_string());
        }
    });
    Ok(())
}

