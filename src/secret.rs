//! API keys: registered once when read, and scrubbed from everything threadkit prints or
//! writes — the output streams (`Scrubbed`, wrapped around stdout and stderr by the
//! binary), thread files and error texts (`scrub`). One list, one function, so no path
//! can forget it.

use std::borrow::Cow;
use std::io::{self, Write};
use std::sync::RwLock;

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// What a secret is replaced with.
pub const REDACTED: &str = "[API key]";

/// Remember `secret` so that it is scrubbed from now on. Short strings are ignored:
/// scrubbing them would mangle ordinary text, and no real key is that short.
pub fn register(secret: &str) {
    let secret = secret.trim();
    if secret.len() < 8 {
        return;
    }
    let mut all = SECRETS.write().unwrap_or_else(|p| p.into_inner());
    if !all.iter().any(|s| s == secret) {
        all.push(secret.to_string());
    }
}

/// `text` with every registered secret replaced by `REDACTED`.
pub fn scrub(text: &str) -> Cow<'_, str> {
    let all = SECRETS.read().unwrap_or_else(|p| p.into_inner());
    let mut out = Cow::Borrowed(text);
    for s in all.iter() {
        if out.contains(s.as_str()) {
            out = Cow::Owned(out.replace(s.as_str(), REDACTED));
        }
    }
    out
}

/// A writer that scrubs registered secrets from every write. Each `write!` argument
/// reaches it whole, so a key printed as (part of) one value is always caught.
pub struct Scrubbed<W: Write>(pub W);

impl<W: Write> Write for Scrubbed<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match std::str::from_utf8(buf) {
            Ok(text) => match scrub(text) {
                Cow::Borrowed(_) => self.0.write(buf),
                Cow::Owned(clean) => self.0.write_all(clean.as_bytes()).map(|()| buf.len()),
            },
            Err(_) => self.0.write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match std::str::from_utf8(buf).map(scrub) {
            Ok(Cow::Owned(clean)) => self.0.write_all(clean.as_bytes()),
            _ => self.0.write_all(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The secret as format arguments on purpose: `write!` hands the writer the text in pieces,
    // the key arriving in a piece of its own, as a formatted error message does.
    #[test]
    #[allow(clippy::write_literal)]
    fn registered_secrets_never_reach_a_writer() {
        register("sk-test-secret-0123456789");
        let mut out = Scrubbed(Vec::new());
        write!(out, "HTTP 401: bad key {} (Authorization: Bearer {})", "sk-test-secret-0123456789", "sk-test-secret-0123456789").unwrap();
        let text = String::from_utf8(out.0).unwrap();
        assert!(!text.contains("sk-test"), "{text}");
        assert!(text.contains(REDACTED));
        assert_eq!(scrub("nothing here"), "nothing here");
    }
}
