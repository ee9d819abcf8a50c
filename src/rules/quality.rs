//! The per-thread quality rules (`threadkit quality`): what a well-formed `openai_v1` thread
//! teaches. Each reads the parsed thread and returns findings pointing at the exact characters
//! (a number, a word of the question, a call, a sentence). The corpus rules (near-duplicates,
//! eval overlap) are in `crate::corpus`.

use std::collections::{BTreeSet, HashMap};
use std::hash::{BuildHasher, Hasher};

/// Maps keyed by short texts and hashes, per thread: SipHash's DoS resistance buys nothing here.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

use serde_json::Value;

use super::grounding::{self, Sources};
use super::{
    ANSWER_CONTRADICTS_TOOLS, ANSWER_NOT_IN_LABELS, ANSWER_WRONG, GARBLED_TEXT, LABEL_IN_QUESTION,
    NUMBER_NOT_GROUNDED, REASONING_DEGENERATE, REPEATED_CALL, TOOL_ERROR_IGNORED,
};
use crate::diagnostic::Diagnostic;
use crate::thread::{final_answer_in_text, FirstMessage};

/// A claim about more numbers than this in one message is reported as its first ones.
const MAX_PER_MESSAGE: usize = 5;

/// The labels a thread's answer must be one of: the dataset's (from `--data-root`), or those the
/// thread was given (a tool result listing the dataset's label distribution).
pub type Labels = BTreeSet<String>;

/// Labels compare as people write them: case, `_`/`-`/space and runs of white space do not matter.
pub fn label_key(s: &str) -> String {
    s.split(|c: char| c.is_whitespace() || c == '_' || c == '-')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Every per-thread quality finding of one `openai_v1` thread. `labels`: the dataset's labels
/// when the data root has them.
pub fn check(doc: &Value, labels: Option<&Labels>) -> Vec<Diagnostic> {
    let messages = doc.get("messages").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
    let meta = doc.get("metadata");
    // Tool results are parsed only where a rule reads their structure (the classifier's labels,
    // a label distribution, an error); numbers are read from their text, which holds the same ones.
    let results: Vec<Option<Value>> =
        messages.iter().map(|m| if needs_parsing(m) { result_value(m) } else { None }).collect();
    let given = if labels.is_some() { None } else { labels_given(messages, &results) };
    let labels = labels.or(given.as_ref());
    let mut out = Vec::new();
    numbers_not_grounded(messages, &results, &mut out);
    answers(doc, messages, &results, labels, &mut out);
    label_in_question(messages, meta, labels, &mut out);
    repeated_calls(messages, &results, &mut out);
    tool_errors_ignored(messages, &results, &mut out);
    degenerate_reasoning(messages, &mut out);
    garbled_text(messages, &mut out);
    out
}

fn text(m: &Value) -> &str {
    m.get("content").and_then(Value::as_str).unwrap_or("")
}

fn role(m: &Value) -> &str {
    m.get("role").and_then(Value::as_str).unwrap_or("")
}

fn calls(m: &Value) -> &[Value] {
    m.get("tool_calls").and_then(Value::as_array).map_or(&[][..], Vec::as_slice)
}

fn needs_parsing(m: &Value) -> bool {
    if role(m) != "tool" {
        return false;
    }
    match m.get("content") {
        Some(Value::String(s)) => {
            m.get("name").and_then(Value::as_str) == Some("classify_activity")
                || s.contains("\"error\"")
                || s.contains("\"status\"")
                || s.contains("\"success\"")
                || s.contains("\"ok\"")
                || s.contains("label_distribution")
        }
        Some(_) => true,
        None => false,
    }
}

/// A tool result as data: its JSON when it is JSON.
fn result_value(m: &Value) -> Option<Value> {
    match m.get("content") {
        Some(Value::String(s)) => serde_json::from_str(s).ok(),
        Some(v @ Value::Object(_)) => Some(v.clone()),
        _ => None,
    }
}

fn collect_numbers(v: &Value, into: &mut Vec<f64>) {
    match v {
        Value::Number(n) => into.extend(n.as_f64()),
        Value::String(s) => grounding::numbers(s, into),
        Value::Array(a) => a.iter().for_each(|x| collect_numbers(x, into)),
        Value::Object(o) => o.values().for_each(|x| collect_numbers(x, into)),
        _ => {}
    }
}

// ---- number-not-grounded ------------------------------------------------------------------

/// Numbers a model may write from general knowledge about motion sensors: gravity (1 g, 9.81 m/s²,
/// 9.8, 9.80665), and the minute and hour in seconds.
const COMMON_KNOWLEDGE: &[f64] = &[1.0, 9.80665, 60.0, 3600.0];

fn numbers_not_grounded(messages: &[Value], results: &[Option<Value>], out: &mut Vec<Diagnostic>) {
    let mut sources = Sources::default();
    sources.add_all(COMMON_KNOWLEDGE);
    // Messages are read for numbers only once a claim needs them: most steps claim none, and
    // the first message's manifest is kilobytes of text in every thread.
    let mut read_up_to = 0;
    let mut found = Vec::new();
    for (i, m) in messages.iter().enumerate().filter(|(_, m)| role(m) == "assistant") {
        let content = text(m);
        let claims = grounding::claims(content);
        if claims.is_empty() {
            continue;
        }
        // Everything shown before this message, and its own call arguments (choices, not claims).
        for k in read_up_to..=i {
            found.clear();
            source_numbers(&messages[k], results[k].as_ref(), &mut found);
            sources.add_all(&found);
        }
        read_up_to = i + 1;
        let mut reported = 0;
        for c in claims {
            if sources.grounds(&c) {
                continue;
            }
            reported += 1;
            if reported > MAX_PER_MESSAGE {
                break;
            }
            let shown = &content[c.start..c.start + c.len];
            out.push(
                Diagnostic::new(
                    &NUMBER_NOT_GROUNDED,
                    format!("/messages/{i}/content"),
                    format!("`{shown}` appears in no earlier tool result, user message or call argument, even rounded"),
                )
                .within(c.start, c.len)
                .with_label("not in any tool result"),
            );
        }
    }
}

/// The numbers one message gives a later claim: a tool's result, the user's text, an
/// assistant's call arguments (not its text: a number it wrote is no source for itself).
fn source_numbers(m: &Value, parsed: Option<&Value>, found: &mut Vec<f64>) {
    match role(m) {
        "assistant" => {
            for call in calls(m) {
                match call.get("function").and_then(|v| v.get("arguments")) {
                    Some(Value::String(s)) => grounding::numbers(s, found),
                    Some(v) => collect_numbers(v, found),
                    None => {}
                }
            }
        }
        "tool" => match (parsed, m.get("content")) {
            (Some(v), _) => collect_numbers(v, found),
            (None, Some(Value::String(s))) => grounding::numbers(s, found),
            (None, Some(other)) => collect_numbers(other, found),
            (None, None) => {}
        },
        _ => grounding::numbers(text(m), found),
    }
}

// ---- answers: contradicts the tools, not a label, wrong ------------------------------------

/// Labels the thread itself was given: a tool result with the dataset's whole label distribution.
fn labels_given(messages: &[Value], results: &[Option<Value>]) -> Option<Labels> {
    messages.iter().zip(results).filter(|(m, _)| role(m) == "tool").find_map(|(_, v)| {
        let v = v.as_ref()?;
        let dist = v.get("label_distribution")?.as_object()?;
        (!dist.is_empty()).then(|| dist.keys().map(|k| label_key(k)).collect())
    })
}

/// The top prediction of the last `classify_activity` call that answered, with its score and
/// the message it is in; `None` when the classifier was not called or its top two tie.
fn classifier_top(messages: &[Value], results: &[Option<Value>]) -> Option<(String, f64, usize)> {
    messages.iter().enumerate().rev().filter(|(_, m)| role(m) == "tool").find_map(|(i, m)| {
        if m.get("name").and_then(Value::as_str) != Some("classify_activity") {
            return None;
        }
        let v = results[i].as_ref()?;
        let list = v.get("top_labels").or_else(|| v.get("top"))?.as_array()?;
        let mut scored: Vec<(&str, f64)> = list
            .iter()
            .filter_map(|e| Some((e.get("label")?.as_str()?, e.get("score").and_then(Value::as_f64).unwrap_or(0.0))))
            .collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1));
        match scored.as_slice() {
            [] => None,
            [(_, a), (_, b), ..] if a == b => None,
            [(label, score), ..] => Some((label.to_string(), *score, i)),
        }
    })
}

fn answers(
    doc: &Value,
    messages: &[Value],
    results: &[Option<Value>],
    labels: Option<&Labels>,
    out: &mut Vec<Diagnostic>,
) {
    let meta = doc.get("metadata");
    let finished = meta.and_then(|m| m.get("status")).and_then(Value::as_str) == Some("finished");
    let last = messages.len().checked_sub(1);
    let in_text = last.filter(|&i| role(&messages[i]) == "assistant" && calls(&messages[i]).is_empty()).and_then(|i| {
        let content = text(&messages[i]);
        let answer = final_answer_in_text(content)?;
        let start = content.rfind(answer).unwrap_or(0);
        Some((i, answer, start))
    });
    let answer = meta.and_then(|m| m.get("final_answer")).and_then(Value::as_str).or(in_text.map(|t| t.1));
    let Some(answer) = answer.filter(|a| !a.trim().is_empty()) else { return };
    if !finished && in_text.is_none() {
        return;
    }
    // Where the model said it, when it did; else the metadata.
    let at = |rule, message: String| match in_text {
        Some((i, said, start)) => {
            Diagnostic::new(rule, format!("/messages/{i}/content"), message).within(start, said.len())
        }
        None => Diagnostic::new(rule, "/metadata/final_answer", message),
    };
    let key = label_key(answer);
    let known = labels.is_none_or(|l| l.contains(&key));
    if !known {
        let list: Vec<&str> = labels.into_iter().flatten().map(String::as_str).collect();
        out.push(at(
            &ANSWER_NOT_IN_LABELS,
            format!("the final answer `{answer}` is not one of the dataset's labels ({})", list.join(", ")),
        ));
    } else if let Some((top, score, i)) = classifier_top(messages, results).filter(|(top, ..)| label_key(top) != key) {
        out.push(at(
            &ANSWER_CONTRADICTS_TOOLS,
            format!(
                "the final answer `{answer}` is not classify_activity's top prediction `{top}` (score {score}, /messages/{i}) and the thread gives no other classification"
            ),
        ));
    }
    let truth = meta.and_then(|m| m.get("ground_truth")).and_then(Value::as_str);
    if let Some(truth) = truth.filter(|t| !t.trim().is_empty()) {
        if label_key(truth) != key {
            out.push(
                Diagnostic::new(
                    &ANSWER_WRONG,
                    "/metadata/final_answer",
                    format!("the final answer `{answer}` is not the ground truth `{truth}`"),
                )
                .with_label("not the ground truth"),
            );
        }
    }
}

// ---- label-in-question -----------------------------------------------------------------------

/// Irregular forms that suffix stripping cannot reach, mapped to the stem of the label word.
const IRREGULAR: &[(&str, &str)] = &[
    ("lying", "lay"),
    ("lie", "lay"),
    ("lies", "lay"),
    ("laid", "lay"),
    ("lain", "lay"),
    ("sat", "sit"),
    ("seated", "sit"),
    ("stood", "stand"),
    ("ran", "run"),
    ("rode", "rid"),
    ("ridden", "rid"),
    ("biking", "cycl"),
    ("bike", "cycl"),
    ("bicycle", "cycl"),
    ("bicycling", "cycl"),
    ("went", "go"),
    ("climbed", "climb"),
];

/// A word's stem for matching forms of a label: `walked`, `walks`, `walking` → `walk`;
/// `running` → `run`; `cycling`, `cycle` → `cycl`; `lying` → `lay`.
pub fn stem(word: &str) -> String {
    let w = word.to_lowercase();
    if let Some((_, s)) = IRREGULAR.iter().find(|(f, _)| *f == w) {
        return s.to_string();
    }
    let mut s = w.as_str();
    for suffix in ["ing", "ed", "es", "s"] {
        if s.len() > suffix.len() + 2 {
            if let Some(base) = s.strip_suffix(suffix) {
                s = base;
                break;
            }
        }
    }
    let mut s = s.trim_end_matches('e').to_string();
    // `runn` → `run`, `sitt` → `sit`, `jogg` → `jog`
    let b = s.as_bytes();
    if b.len() >= 3 && b[b.len() - 1] == b[b.len() - 2] && !b"aeiouls".contains(&b[b.len() - 1]) {
        s.pop();
    }
    s
}

/// Words of a text with their byte offsets.
fn words(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split_inclusive(|c: char| !c.is_alphanumeric())
        .scan(0, |at, piece| {
            let start = *at;
            *at += piece.len();
            Some((start, piece.trim_end_matches(|c: char| !c.is_alphanumeric())))
        })
        .filter(|(_, w)| !w.is_empty())
}

const LABEL_STOPWORDS: &[&str] = &["the", "a", "an", "of", "on", "in", "with", "and", "or", "to", "up", "down"];

/// Whether every word of `label` is, by stem, among the question's words; the first such word.
fn names_label(label: &str, qwords: &[(usize, &str, String)]) -> Option<(usize, usize)> {
    let wanted: Vec<String> = label
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && !LABEL_STOPWORDS.contains(&w.to_lowercase().as_str()))
        .map(stem)
        .collect();
    let mut first = None;
    for want in &wanted {
        let hit = qwords.iter().find(|(_, _, s)| s == want)?;
        first.get_or_insert((hit.0, hit.1.len()));
    }
    first
}

fn label_in_question(messages: &[Value], meta: Option<&Value>, labels: Option<&Labels>, out: &mut Vec<Diagnostic>) {
    let Some(truth) = meta.and_then(|m| m.get("ground_truth")).and_then(Value::as_str) else { return };
    let Some((i, first)) = messages.iter().enumerate().find(|(_, m)| role(m) == "user") else { return };
    let content = text(first);
    // Only the question: the dataset description names every class by design.
    let (query, offset) = match FirstMessage::parse(content) {
        Some(f) => (f.query, content.len() - f.query.len()),
        None => (content, 0),
    };
    let qwords: Vec<(usize, &str, String)> = words(query).map(|(at, w)| (at, w, stem(w))).collect();
    let Some((at, len)) = names_label(truth, &qwords) else { return };
    // A question that lists three or more of the classes offers choices; it does not single
    // out the answer (as the dataset description does not).
    if labels.is_some_and(|all| all.iter().filter(|l| names_label(l, &qwords).is_some()).count() >= 3) {
        return;
    }
    let said = &query[at..at + len];
    out.push(
        Diagnostic::new(
            &LABEL_IN_QUESTION,
            format!("/messages/{i}/content"),
            format!(
                "the question names the ground truth `{truth}` (`{said}`): the answer can be read off the question"
            ),
        )
        .within(offset + at, len)
        .with_label("the answer, in the question"),
    );
}

// ---- repeated-call -------------------------------------------------------------------------------

/// A hash of a value as compared for repetition: object keys in any order are one object, and
/// artifact ids do not count (two runs of one call name new artifacts for the same data).
fn canonical_hash(v: &Value, h: &mut impl Hasher) {
    match v {
        Value::Object(o) => {
            let mut keys: Vec<&String> =
                o.keys().filter(|k| !(k.ends_with("artifact_id") || *k == "parent_id")).collect();
            keys.sort();
            h.write_u8(b'{');
            for k in keys {
                h.write(k.as_bytes());
                h.write_u8(0xff);
                canonical_hash(&o[k], h);
            }
            h.write_u8(b'}');
        }
        Value::Array(a) => {
            h.write_u8(b'[');
            a.iter().for_each(|x| canonical_hash(x, h));
            h.write_u8(b']');
        }
        Value::String(s) => {
            h.write_u8(b'"');
            h.write(s.as_bytes());
            h.write_u8(0xff);
        }
        other => h.write(other.to_string().as_bytes()),
    }
}

fn hash_of(v: Option<&Value>, text: &str) -> u64 {
    let mut h = foldhash::fast::FixedState::with_seed(7).build_hasher();
    match v {
        Some(v) => canonical_hash(v, &mut h),
        None => h.write(text.trim().as_bytes()),
    }
    h.finish()
}

fn arguments_hash(call: &Value) -> u64 {
    match call.get("function").and_then(|v| v.get("arguments")) {
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(v) => hash_of(Some(&v), ""),
            Err(_) => hash_of(None, s),
        },
        Some(v) => hash_of(Some(v), ""),
        None => 0,
    }
}

fn repeated_calls(messages: &[Value], results: &[Option<Value>], out: &mut Vec<Diagnostic>) {
    // Calls keyed by tool and arguments; results are compared (parsed, hashed) only for the
    // rare key that comes twice.
    // (message, call, call id)
    type Call<'a> = (usize, usize, &'a str);
    let mut calls_by_key: FastMap<(&str, u64), Vec<Call>> = FastMap::default();
    for (i, m) in messages.iter().enumerate().filter(|(_, m)| role(m) == "assistant") {
        for (j, call) in calls(m).iter().enumerate() {
            let name = call.get("function").and_then(|v| v.get("name")).and_then(Value::as_str).unwrap_or("");
            let Some(id) = call.get("id").and_then(Value::as_str) else { continue };
            calls_by_key.entry((name, arguments_hash(call))).or_default().push((i, j, id));
        }
    }
    let mut repeated: Vec<(&str, Vec<Call>)> =
        calls_by_key.into_iter().filter(|(_, v)| v.len() > 1).map(|((name, _), v)| (name, v)).collect();
    if repeated.is_empty() {
        return;
    }
    repeated.sort_by_key(|(_, v)| (v[0].0, v[0].1));
    let result_of = |id: &str| -> Option<u64> {
        let k = messages
            .iter()
            .position(|m| role(m) == "tool" && m.get("tool_call_id").and_then(Value::as_str) == Some(id))?;
        let parsed = results[k].clone().or_else(|| result_value(&messages[k]));
        Some(hash_of(parsed.as_ref(), text(&messages[k])))
    };
    for (name, group) in repeated {
        let mut first_with: FastMap<u64, (usize, usize)> = FastMap::default();
        for (i, j, id) in group {
            let Some(result) = result_of(id) else { continue };
            match first_with.get(&result) {
                Some((fi, fj)) => out.push(
                    Diagnostic::new(
                        &REPEATED_CALL,
                        format!("/messages/{i}/tool_calls/{j}/function"),
                        format!("`{name}` with the same arguments as the call at /messages/{fi}/tool_calls/{fj}, and the same result: nothing new was learned"),
                    )
                    .with_label("the same call again"),
                ),
                None => {
                    first_with.insert(result, (i, j));
                }
            }
        }
    }
}

// ---- tool-error-ignored ------------------------------------------------------------------------

/// The error text of a tool result that is an error: `{"error": …}` or text that says so.
fn tool_error(m: &Value, parsed: Option<&Value>) -> Option<String> {
    if let Some(v) = parsed {
        let message =
            || v.get("message").or_else(|| v.get("detail")).and_then(Value::as_str).unwrap_or("error").to_string();
        return match v.get("error") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Object(o)) => Some(o.get("message").and_then(Value::as_str).unwrap_or("error").to_string()),
            Some(Value::Bool(true)) => Some(message()),
            Some(Value::Null | Value::Bool(false)) | None => {
                // `{"status": "error", "message": …}` and `{"success": false, …}`, as other tool servers answer.
                let status = v.get("status").and_then(Value::as_str).map(str::to_ascii_lowercase);
                let failed = matches!(status.as_deref(), Some("error" | "failed" | "failure"))
                    || v.get("success") == Some(&Value::Bool(false))
                    || v.get("ok") == Some(&Value::Bool(false));
                failed.then(message)
            }
            Some(other) => Some(other.to_string()),
        };
    }
    let t = text(m).trim_start();
    let lower = t.get(..t.len().min(12)).unwrap_or("").to_lowercase();
    (lower.starts_with("error") || lower.starts_with("exception") || lower.starts_with("traceback"))
        .then(|| t.to_string())
}

/// Words with which a model says a call went wrong (English; the generator writes English).
const ACKNOWLEDGE: &[&str] = &[
    "error", "fail", "couldn't", "could not", "cannot", "can't", "unable", "invalid", "not valid", "not a valid",
    "not found", "unknown", "doesn't exist", "does not exist", "not exist", "no such", "doesn't have", "does not have",
    "did not work", "didn't work", "went wrong", "unsuccessful", "did not return", "didn't return", "no result",
    "retry", "try again", "once more", "instead", "mistake", "wrong", "unavailable", "not available", "oops",
    "apolog", "sorry", "typo", "out of range", "outside the", "exceed", "rejected", "refused", "problem with",
    "issue with",
];

/// The values an error message quotes (`unknown channels ["acc_w"]`, `artifact 'ts_12ab'`): naming
/// one is acknowledging the error. Unquoted words are often the alternatives the tool lists
/// (`this recording has: acc_x, …`), which a reply may name without having noticed anything.
fn error_tokens(error: &str) -> Vec<String> {
    let mut out = Vec::new();
    for quote in ['"', '\'', '`'] {
        for (k, piece) in error.split(quote).enumerate() {
            if k % 2 == 1 && piece.trim().len() >= 3 && piece.len() <= 64 {
                out.push(piece.trim().to_lowercase());
            }
        }
    }
    out
}

fn tool_errors_ignored(messages: &[Value], results: &[Option<Value>], out: &mut Vec<Diagnostic>) {
    for (i, m) in messages.iter().enumerate().filter(|(_, m)| role(m) == "tool") {
        let Some(error) = tool_error(m, results[i].as_ref()) else { continue };
        let tool = m.get("name").and_then(Value::as_str).unwrap_or("");
        let Some((k, next)) = messages.iter().enumerate().skip(i + 1).find(|(_, n)| role(n) == "assistant") else {
            continue;
        };
        let retries = calls(next).iter().any(|c| c.get("function").and_then(|v| v.get("name")).and_then(Value::as_str) == Some(tool));
        let said = text(next).to_lowercase();
        let acknowledges = ACKNOWLEDGE.iter().any(|w| said.contains(w))
            || error_tokens(&error).iter().any(|t| said.contains(t.as_str()));
        if retries || acknowledges {
            continue;
        }
        let pointer =
            if next.get("content").is_some() { format!("/messages/{k}/content") } else { format!("/messages/{k}") };
        out.push(
            Diagnostic::new(
                &TOOL_ERROR_IGNORED,
                pointer,
                format!(
                    "`{tool}` answered with an error at /messages/{i} (\"{}\"), and this turn neither retries nor mentions it",
                    crate::text::abbreviate(&error, 80).escape_debug()
                ),
            )
            .with_label("goes on as if the call had worked"),
        );
    }
}

// ---- reasoning-degenerate ----------------------------------------------------------------------

/// Reasoning as compared for repetition: lower case, digits as `#` (only step numbers differ),
/// punctuation and white space as one separator. Returned as a hash and a word count, built
/// without a copy of the text.
fn normalized(text: &str) -> (u64, usize) {
    // The normal form is written out and hashed once: a hasher fed byte by byte mixes per byte.
    let mut form = Vec::with_capacity(text.len() + 1);
    let (mut words, mut in_word) = (0, false);
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii() {
            i += 1;
            if b.is_ascii_alphanumeric() {
                if !in_word {
                    words += 1;
                    form.push(b' ');
                    in_word = true;
                }
                form.push(if b.is_ascii_digit() { b'#' } else { b.to_ascii_lowercase() });
            } else {
                in_word = false;
            }
            continue;
        }
        let c = text[i..].chars().next().expect("a char starts here");
        i += c.len_utf8();
        if c.is_alphanumeric() {
            if !in_word {
                words += 1;
                form.push(b' ');
                in_word = true;
            }
            for l in c.to_lowercase() {
                let mut buf = [0; 4];
                form.extend_from_slice(l.encode_utf8(&mut buf).as_bytes());
            }
        } else {
            in_word = false;
        }
    }
    (foldhash::fast::FixedState::with_seed(11).hash_one(form.as_slice()), words)
}

/// Sentences with their byte ranges.
fn sentences(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = 0;
    let b = text.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        let end_of_sentence = c == b'\n'
            || ((c == b'.' || c == b'!' || c == b'?') && b.get(i + 1).is_none_or(|n| n.is_ascii_whitespace()));
        if end_of_sentence {
            let s = &text[start..=i];
            if !s.trim().is_empty() {
                out.push((start + (s.len() - s.trim_start().len()), s.trim()));
            }
            start = i + 1;
        }
    }
    if start < text.len() && !text[start..].trim().is_empty() {
        let s = &text[start..];
        out.push((start + (s.len() - s.trim_start().len()), s.trim()));
    }
    out
}

fn degenerate_reasoning(messages: &[Value], out: &mut Vec<Diagnostic>) {
    let steps: Vec<(usize, &Value)> =
        messages.iter().enumerate().filter(|(_, m)| role(m) == "assistant" && !calls(m).is_empty()).collect();
    let reasons_somewhere = steps.iter().any(|(_, m)| !text(m).trim().is_empty());
    let mut seen: FastMap<u64, usize> = FastMap::default();
    for (i, m) in messages.iter().enumerate().filter(|(_, m)| role(m) == "assistant") {
        let content = text(m);
        let pointer = format!("/messages/{i}/content");
        if content.trim().is_empty() {
            if !calls(m).is_empty() && reasons_somewhere {
                let pointer = if m.get("content").is_some() { pointer } else { format!("/messages/{i}") };
                out.push(Diagnostic::new(
                    &REASONING_DEGENERATE,
                    pointer,
                    "this step calls a tool without a word of reasoning, though the thread reasons at its other steps",
                ));
            }
            continue;
        }
        let (norm, words) = normalized(content);
        if words >= 6 {
            if let Some(first) = seen.get(&norm) {
                out.push(
                    Diagnostic::new(
                        &REASONING_DEGENERATE,
                        pointer.clone(),
                        format!("the same reasoning as /messages/{first} (only numbers differ, if anything)"),
                    )
                    .with_label("repeated reasoning"),
                );
                continue;
            }
            seen.insert(norm, i);
        }
        let mut counts: FastMap<u64, (usize, usize, usize)> = FastMap::default();
        for (at, s) in sentences(content) {
            let (n, words) = normalized(s);
            if words < 3 {
                continue;
            }
            counts.entry(n).or_insert((0, at, s.len())).0 += 1;
        }
        if let Some((_, (n, at, len))) = counts.into_iter().filter(|(_, c)| c.0 >= 3).min_by_key(|(_, c)| c.1) {
            out.push(
                Diagnostic::new(&REASONING_DEGENERATE, pointer, format!("one sentence {n} times in this message"))
                    .within(at, len)
                    .with_label("repeated sentence"),
            );
        }
    }
}

/// What a character no conversation means to write is, or `None` for a character text may hold.
fn garbled(c: char) -> Option<String> {
    let what = match c {
        '\t' | '\n' | '\r' => return None,
        '\u{1b}' => "an escape character (U+001B), which starts a terminal control sequence",
        '\0' => "a NUL character (U+0000)",
        '\u{1}'..='\u{1f}' | '\u{7f}' => return Some(format!("a control character U+{:04X}", c as u32)),
        '\u{80}'..='\u{9f}' => return Some(format!("a C1 control character U+{:04X} (bytes decoded as Latin-1?)", c as u32)),
        '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => {
            return Some(format!("a bidirectional override U+{:04X}, which shows the text in another order than it reads", c as u32))
        }
        '\u{200b}' | '\u{2060}' | '\u{feff}' => return Some(format!("an invisible zero-width character U+{:04X}", c as u32)),
        '\u{fffd}' => "the replacement character U+FFFD: bytes that were not UTF-8 were lost here",
        _ => return None,
    };
    Some(what.to_string())
}

/// The characters Windows-1252 puts at bytes 0x80–0x9F: with 0xA0–0xBF, what the second byte of
/// a two-byte UTF-8 sequence becomes when the text is decoded as Windows-1252.
const CP1252_HIGH: &str = "€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ";

/// Mojibake at the start of `rest`: UTF-8 decoded as Windows-1252 (`â€™` for `’`, `Ã©` for `é`,
/// `Â°` for `°`); the length in bytes of the first two characters.
fn mojibake(rest: &str) -> Option<usize> {
    let mut chars = rest.chars();
    let (first, second) = (chars.next()?, chars.next()?);
    let garbled = match first {
        'â' => second == '€',
        'Ã' | 'Â' => ('\u{a0}'..='\u{bf}').contains(&second) || CP1252_HIGH.contains(second),
        _ => false,
    };
    garbled.then(|| first.len_utf8() + second.len_utf8())
}

/// A byte outside printable ASCII, tabs and line breaks: where a garbled character can start.
fn is_odd(b: u8) -> bool {
    b >= 0x7f || (b < b' ' && b != b'\n' && b != b'\t' && b != b'\r')
}

/// The first odd byte at or after `from`. Blocks of 32 bytes are tested whole, without an
/// early exit, so that the test runs on vectors; only a block with an odd byte is searched.
fn next_odd(bytes: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    while at < bytes.len() {
        let block = &bytes[at..bytes.len().min(at + 32)];
        if block.iter().fold(0u8, |any, &b| any | u8::from(is_odd(b))) != 0 {
            return block.iter().position(|&b| is_odd(b)).map(|i| at + i);
        }
        at += block.len();
    }
    None
}

/// The first garbled character (or mojibake pair) of a string, and how many the string holds.
#[derive(Debug, PartialEq)]
struct Garbled {
    /// Byte offset and length in the decoded string.
    at: usize,
    len: usize,
    what: String,
    count: usize,
}

/// The first garbled character or mojibake of `text`. Only characters that start at an odd byte
/// are decoded: nearly all text is printable ASCII, passed over a block at a time.
fn first_garbled(text: &str) -> Option<Garbled> {
    let bytes = text.as_bytes();
    let mut first = None;
    let mut count = 0;
    let mut at = 0;
    while let Some(odd) = next_odd(bytes, at) {
        at = odd;
        // `at` is a character's start: odd bytes include every byte of a multi-byte character,
        // and each step below moves past whole characters.
        let c = text[at..].chars().next()?;
        let mut step = c.len_utf8();
        // A byte-order mark opening the text is a file's, not a word's; readers drop it.
        let found = match garbled(c) {
            Some(_) if at == 0 && c == '\u{feff}' => None,
            Some(what) => Some((at, step, what)),
            None => mojibake(&text[at..]).map(|len| {
                step = len;
                (at, len, "mojibake: UTF-8 text decoded as Windows-1252".to_string())
            }),
        };
        if let Some(found) = found {
            count += 1;
            first.get_or_insert(found);
        }
        at += step;
    }
    first.map(|(at, len, what)| Garbled { at, len, what, count })
}

/// A call's arguments are JSON in a string: a control character the model meant to pass is
/// written there as an escape (`{"note": "end\u0000"}`). The first one its values hold, pointed at
/// by its escape in the text when it is written as one.
fn escaped_in_arguments(text: &str) -> Option<Garbled> {
    fn values<'a>(v: &'a Value, into: &mut Vec<&'a str>) {
        match v {
            Value::String(s) => into.push(s),
            Value::Array(items) => items.iter().for_each(|i| values(i, into)),
            Value::Object(map) => map.iter().for_each(|(k, i)| {
                into.push(k);
                values(i, into)
            }),
            _ => {}
        }
    }
    let parsed: Value = serde_json::from_str(text).ok()?;
    let mut decoded = Vec::new();
    values(&parsed, &mut decoded);
    let mut found = decoded.iter().filter_map(|s| first_garbled(s).map(|g| (s, g)));
    let (s, first) = found.next()?;
    let count = first.count + found.map(|(_, g)| g.count).sum::<usize>();
    let c = s[first.at..].chars().next()?;
    let escape = |hex: String| text.find(&hex).map(|i| (i, hex.len()));
    let (at, len) = escape(format!("\\u{:04x}", c as u32))
        .or_else(|| escape(format!("\\u{:04X}", c as u32)))
        .unwrap_or((0, text.len()));
    Some(Garbled { at, len, what: format!("{}, written as an escape in the call's arguments", first.what), count })
}

/// A step of the way from a message down to one of its strings.
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// Reports each garbled string below `v`; `path` is the way there, made into a pointer only for a finding.
fn garbled_strings<'a>(v: &'a Value, path: &mut Vec<Step<'a>>, message: usize, out: &mut Vec<Diagnostic>) {
    match v {
        Value::String(text) => {
            let found = first_garbled(text).or_else(|| match path.last() {
                Some(Step::Key("arguments")) if text.contains("\\u") => escaped_in_arguments(text),
                _ => None,
            });
            let Some(Garbled { at, len, what, count }) = found else { return };
            let mut pointer = format!("/messages/{message}");
            for step in path.iter() {
                match step {
                    Step::Key(k) => pointer.push_str(&format!("/{}", crate::json::escape_token(k))),
                    Step::Index(i) => pointer.push_str(&format!("/{i}")),
                }
            }
            let more = match count - 1 {
                0 => String::new(),
                n => format!(" ({n} more in this string)"),
            };
            out.push(Diagnostic::new(&GARBLED_TEXT, pointer, format!("{what}{more}")).within(at, len).with_label("here"));
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(Step::Index(i));
                garbled_strings(item, path, message, out);
                path.pop();
            }
        }
        Value::Object(map) => {
            for (k, item) in map {
                path.push(Step::Key(k));
                garbled_strings(item, path, message, out);
                path.pop();
            }
        }
        _ => {}
    }
}

fn garbled_text(messages: &[Value], out: &mut Vec<Diagnostic>) {
    let mut path = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        garbled_strings(m, &mut path, i, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn thread(messages: Value, meta: Value) -> Value {
        json!({"id": "t", "metadata": meta, "messages": messages})
    }

    fn names(doc: &Value, labels: Option<&Labels>) -> Vec<&'static str> {
        check(doc, labels).iter().map(|d| d.rule.name).collect()
    }

    fn user(q: &str) -> Value {
        json!({"role": "user", "content": format!("Dataset Information:\n{{\"dataset_name\": \"X\", \"description\": \"walking, running\"}}\n\nUser Query: {q}")})
    }

    fn call(id: &str, name: &str, text: &str, args: &str) -> Value {
        json!({"role": "assistant", "content": text, "tool_calls": [{"id": id, "type": "function", "function": {"name": name, "arguments": args}}]})
    }

    fn result(id: &str, name: &str, content: Value) -> Value {
        json!({"role": "tool", "tool_call_id": id, "name": name, "content": content.to_string()})
    }

    fn finished(answer: &str, truth: &str) -> Value {
        json!({"status": "finished", "final_answer": answer, "ground_truth": truth})
    }

    #[test]
    fn stems_reach_the_forms_people_write() {
        for (a, b) in [
            ("walking", "walked"),
            ("running", "ran"),
            ("laying", "lying"),
            ("sitting", "sat"),
            ("cycling", "cycle"),
            ("standing", "stood"),
            ("walks", "walk"),
        ] {
            assert_eq!(stem(a), stem(b), "{a} / {b}");
        }
        assert_ne!(stem("standing"), stem("understanding"));
    }

    #[test]
    fn a_clean_thread_with_rounded_numbers_and_a_recovered_error_is_clean() {
        let doc = thread(
            json!([
                user("What is the person doing?"),
                call("1", "select_channels", "First the channels.", r#"{"channel_names": ["acc_w"]}"#),
                result("1", "select_channels", json!({"error": "unknown channels [\"acc_w\"]"})),
                call("2", "select_channels", "That failed: acc_w does not exist, so I retry.", r#"{"channel_names": ["acc_x"]}"#),
                result("2", "select_channels", json!({"artifact_id": "ts_1"})),
                call("3", "compute_features", "Step 2: features.", "{}"),
                result("3", "compute_features", json!({"acc_x": {"std": 0.8312, "dominant_frequency_hz": 1.8, "share": 0.152689}})),
                call("4", "classify_activity", "The std is 0.83 (83 %), the dominant frequency 1.8 Hz or 108 per minute, 15% of the power.", "{}"),
                result("4", "classify_activity", json!({"top_labels": [{"label": "Walking", "score": 0.8}, {"label": "Running", "score": 0.2}]})),
                {"role": "assistant", "content": "Walking wins with 80 percent of the votes.\n\nFinal Answer: Walking"},
            ]),
            finished("Walking", "Walking"),
        );
        assert_eq!(names(&doc, None), Vec::<&str>::new());
    }

    #[test]
    fn each_defect_is_found_and_points_at_its_characters() {
        let doc = thread(
            json!([
                user("Was the person running?"),
                call("1", "compute_features", "Let me compute the signal features now.", "{}"),
                result("1", "compute_features", json!({"std": 0.8312})),
                call("2", "compute_features", "Let me compute the signal features now.", "{}"),
                result("2", "compute_features", json!({"std": 0.8312})),
                call("3", "filter_by_time", "The std of 0.97 is high.", "{}"),
                result("3", "filter_by_time", json!({"error": "window outside the recording"})),
                call("4", "classify_activity", "Next the classifier.", "{}"),
                result("4", "classify_activity", json!({"top_labels": [{"label": "Running", "score": 0.9}]})),
                {"role": "assistant", "content": "Final Answer: Walking"},
            ]),
            finished("Walking", "Running"),
        );
        let found = check(&doc, None);
        let got: Vec<_> = found.iter().map(|d| d.rule.name).collect();
        for rule in [
            "number-not-grounded",
            "label-in-question",
            "repeated-call",
            "tool-error-ignored",
            "reasoning-degenerate",
            "answer-contradicts-tools",
            "answer-wrong",
        ] {
            assert!(got.contains(&rule), "{rule} not in {got:?}");
        }
        let number = found.iter().find(|d| d.rule.name == "number-not-grounded").unwrap();
        assert_eq!(number.pointer, "/messages/5/content");
        assert_eq!(number.within, Some((11, 4)));
        let labels: Labels = ["walking", "running"].into_iter().map(String::from).collect();
        let not_label = thread(
            json!([user("q"), {"role": "assistant", "content": "Final Answer: Jogging"}]),
            finished("Jogging", "Running"),
        );
        assert_eq!(names(&not_label, Some(&labels)), ["answer-not-in-labels", "answer-wrong"]);
    }

    #[test]
    fn a_question_listing_the_classes_is_no_leak_but_one_naming_the_answer_is() {
        let labels: Labels = ["walking", "running", "standing", "badminton"].into_iter().map(String::from).collect();
        let asked = |q: &str| thread(json!([user(q)]), json!({"status": "active", "ground_truth": "Walking"}));
        let leak = |q: &str| names(&asked(q), Some(&labels)).contains(&"label-in-question");
        assert!(!leak("Is the person walking, running or standing?"));
        assert!(leak("Was the person out for a walk?"));
        assert!(leak("Is this walking or running?"), "two options: the answer is half given");
        assert!(!leak("What is the person doing?"));
        assert!(!leak("Was the person moving about a sidewalk?"), "a word that merely contains the label");
    }

    #[test]
    fn a_sentence_three_times_and_empty_steps_are_degenerate() {
        let doc = thread(
            json!([
                user("q"),
                call("1", "a", "I look closer. I look closer. I look closer. Then more.", "{}"),
                result("1", "a", json!({})),
                call("2", "b", "", "{}"),
                result("2", "b", json!({"x": 1})),
            ]),
            json!({"status": "active"}),
        );
        let found = check(&doc, None);
        assert_eq!(found.iter().filter(|d| d.rule.name == "reasoning-degenerate").count(), 2);
        assert_eq!(found[0].within, Some((0, 14)));
    }

    #[test]
    fn garbled_text_is_found_where_it_is_and_clean_unicode_is_left_alone() {
        let clean = [
            "Naïve café data: 1.8 Hz ≈ 108 per minute, 20 °C, 5 µs — the person isn’t moving.\tOK\r\n",
            "Great 👍🏽 and 🧑‍💻 (a zero-width joiner inside an emoji)",
            "Arabic needs its marks: مرحبا\u{200f} and NÃO in Portuguese, Ãgua… no: Água",
            "\u{feff}a byte-order mark opening the text",
            r"the escape written as text: \u001b[1m is six characters, not ESC",
        ];
        for text in clean {
            assert_eq!(first_garbled(text), None, "{text}");
        }
        for (text, at, len, what) in [
            ("The classifier says \u{1b}[1mWalking\u{1b}[0m.", 20, 1, "an escape character (U+001B), which starts a terminal control sequence (1 more in this string)"),
            ("isnâ€™t", 3, 5, "mojibake: UTF-8 text decoded as Windows-1252"),
            ("cafÃ© and Â°", 3, 4, "mojibake: UTF-8 text decoded as Windows-1252 (1 more in this string)"),
            ("a \u{9b}31m C1", 2, 2, "a C1 control character U+009B (bytes decoded as Latin-1?)"),
            ("x\u{202e}gnikl", 1, 3, "a bidirectional override U+202E, which shows the text in another order than it reads"),
            ("lost \u{fffd} byte", 5, 3, "the replacement character U+FFFD: bytes that were not UTF-8 were lost here"),
            ("zero\u{200b}width", 4, 3, "an invisible zero-width character U+200B"),
            ("bell\u{7}", 4, 1, "a control character U+0007"),
        ] {
            let g = first_garbled(text).unwrap_or_else(|| panic!("{text:?} not found"));
            let w = if g.count > 1 { format!("{} ({} more in this string)", g.what, g.count - 1) } else { g.what };
            assert_eq!((g.at, g.len, w.as_str()), (at, len, what), "{text:?}");
        }
        // Past the 32-byte blocks the scan skips whole, and characters that straddle a block's end.
        let long = format!("{}é{}\u{1b}[0m", "a".repeat(31), "b".repeat(40));
        assert_eq!(first_garbled(&long).map(|g| (g.at, g.len, g.count)), Some((73, 1, 1)));
        assert_eq!(first_garbled(&format!("{}Ã©", "a".repeat(31))).map(|g| (g.at, g.len)), Some((31, 4)));
        assert_eq!(first_garbled(&"é".repeat(40)), None);
        let doc = thread(
            json!([
                user("What is the person doing?"),
                call("1", "select_channels", "Fine.", "{\"channel_names\": [\"acc_x\u{1b}]52;c;aGk=\u{7}\"]}"),
                result("1", "select_channels", json!({"error": "unknown channel \u{fffd}"})),
                call("2", "compute_features", "Fine.", r#"{"note": "end\u0000", "nb": "\u00A0"}"#),
                result("2", "compute_features", json!({"ok": true})),
                {"role": "assistant", "content": "isnâ€™t clear.\n\nFinal Answer: Walking"},
            ]),
            finished("Walking", "Walking"),
        );
        let found: Vec<_> = check(&doc, None).into_iter().filter(|d| d.rule.name == "garbled-text").collect();
        let at: Vec<_> = found.iter().map(|d| (d.pointer.as_str(), d.within)).collect();
        assert_eq!(
            at,
            [
                ("/messages/1/tool_calls/0/function/arguments", Some((25, 1))),
                ("/messages/2/content", Some((26, 3))),
                ("/messages/3/tool_calls/0/function/arguments", Some((13, 6))),
                ("/messages/5/content", Some((3, 5))),
            ]
        );
        assert_eq!(found[2].message, "a NUL character (U+0000), written as an escape in the call's arguments");
    }
}
