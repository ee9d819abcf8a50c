//! An OpenAI-compatible Chat Completions client (OpenAI, vLLM, Ollama, llama.cpp,
//! Gemini's compatible endpoint): one request at a time, a timeout on every request,
//! retries with backoff for 429, 5xx and network failures. The API key is sent in the
//! `Authorization` header and scrubbed from every error text.

use std::time::Duration;

use serde_json::{json, Value};

use super::budget::Usage;

#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// e.g. `http://127.0.0.1:8080/v1` (the path before `/chat/completions`).
    pub base_url: String,
    pub model: String,
    pub api_key: Option<String>,
    pub timeout: Duration,
    /// Attempts per request for retryable failures (at least 1).
    pub attempts: u32,
    /// First backoff; doubled per retry, capped at 30 s.
    pub backoff: Duration,
    pub max_completion_tokens: u32,
}

/// A request rejected for rate (429, 503) this many times in a row fails; each waited at
/// least the server's `Retry-After`, so this is minutes of a server that says no.
const MAX_REJECTIONS: u32 = 40;

impl ClientConfig {
    /// The key from `THREADKIT_API_KEY`, else `OPENAI_API_KEY`.
    pub fn key_from_env() -> Option<String> {
        let key = ["THREADKIT_API_KEY", "OPENAI_API_KEY"]
            .iter()
            .find_map(|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()));
        if let Some(k) = &key {
            crate::secret::register(k);
        }
        key
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Completion {
    pub content: String,
    pub usage: Usage,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ClientError {
    /// The prompt does not fit the model's context; never retried or truncated.
    ContextExceeded(String),
    /// Failed after every attempt, or a failure that retrying cannot fix (4xx).
    Failed(String),
    /// Every request will fail the same way (unreachable server, key refused, unknown
    /// endpoint or model): the whole run stops, with one message.
    Endpoint(String),
    /// The request would pass `--max-cost`/`--max-tokens`; it was not sent.
    Budget(String),
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::ContextExceeded(m) => write!(f, "the prompt exceeds the model's context: {m}"),
            ClientError::Failed(m) | ClientError::Endpoint(m) | ClientError::Budget(m) => f.write_str(m),
        }
    }
}

pub struct ChatClient {
    config: ClientConfig,
    agent: ureq::Agent,
    /// Set by the first `ClientError::Endpoint`: later requests fail at once with it,
    /// instead of each thread finding out again.
    down: std::sync::Mutex<Option<String>>,
    pace: super::pace::Pace,
    /// Every answered request's usage, for the progress line.
    used: std::sync::Mutex<Usage>,
    budget: Option<std::sync::Arc<super::budget::Budget>>,
}

impl ChatClient {
    pub fn new(config: ClientConfig) -> ChatClient {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(config.timeout))
            .http_status_as_error(false)
            .build()
            .into();
        let pace = super::pace::Pace::new(1);
        ChatClient { config, agent, down: std::sync::Mutex::new(None), pace, used: Default::default(), budget: None }
    }

    /// Why the endpoint is unusable for this run, once a request has shown it.
    pub fn endpoint_down(&self) -> Option<String> {
        self.down.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn give_up(&self, message: String) -> ClientError {
        let mut down = self.down.lock().unwrap_or_else(|p| p.into_inner());
        down.get_or_insert(message.clone());
        ClientError::Endpoint(message)
    }

    /// One cheap request before anything is created: is the server there, and does it
    /// take the key? (`GET /models`; a server without that endpoint passes.)
    pub fn preflight(&self) -> Result<(), ClientError> {
        let url = format!("{}/models", self.config.base_url.trim_end_matches('/'));
        let mut request = self.agent.get(&url);
        if let Some(key) = &self.config.api_key {
            request = request.header("Authorization", format!("Bearer {key}"));
        }
        match request.call() {
            Err(e) => Err(self.give_up(self.scrub(&format!(
                "cannot reach {}: {e}; is the server running, and is --base-url right?",
                self.config.base_url
            )))),
            Ok(r) if matches!(r.status().as_u16(), 401 | 403) => Err(self.give_up(format!(
                "{url}: HTTP {}: the server refused the key; check THREADKIT_API_KEY / OPENAI_API_KEY",
                r.status().as_u16()
            ))),
            Ok(_) => Ok(()),
        }
    }

    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Every request reserves its worst case in `budget` first, and is not sent when it does not fit.
    pub fn with_budget(mut self, budget: std::sync::Arc<super::budget::Budget>) -> ChatClient {
        self.budget = Some(budget);
        self
    }

    /// At most `n` requests in flight (the run's `--parallel`); fewer while the server pushes back.
    pub fn set_parallel(&self, n: usize) {
        self.pace.set_ceiling(n);
    }

    /// The tokens of every request answered so far.
    pub fn usage(&self) -> Usage {
        *self.used.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Requests in flight allowed now, answers and rejections so far.
    pub fn pace(&self) -> super::pace::PaceStats {
        self.pace.stats()
    }

    fn url(&self) -> String {
        format!("{}/chat/completions", self.config.base_url.trim_end_matches('/'))
    }

    fn scrub(&self, text: &str) -> String {
        if let Some(k) = &self.config.api_key {
            crate::secret::register(k);
        }
        crate::secret::scrub(text).into_owned()
    }

    pub fn complete(
        &self,
        messages: &[Value],
        temperature: f64,
        response_format: &Value,
    ) -> Result<Completion, ClientError> {
        let body = json!({
            "model": self.config.model,
            "messages": messages,
            "temperature": temperature,
            "max_tokens": self.config.max_completion_tokens,
            "response_format": response_format,
        });
        // Compact: ureq's `send_json` pretty-prints, which only adds bytes.
        let body = serde_json::to_vec(&body).expect("a Value serializes");
        if let Some(why) = self.endpoint_down() {
            return Err(ClientError::Endpoint(why));
        }
        self.send(&body)
    }

    /// Before each attempt: its worst case reserved in the budget, if there is one.
    fn reserve(&self, bytes: usize) -> Result<Option<super::budget::Reservation>, ClientError> {
        match &self.budget {
            Some(b) => b.reserve(bytes, u64::from(self.config.max_completion_tokens)).map(Some).map_err(ClientError::Budget),
            None => Ok(None),
        }
    }

    /// After each attempt: what the server billed for it, as far as anyone can know.
    fn bill(&self, reservation: Option<super::budget::Reservation>, bill: Bill) {
        let (Some(b), Some(r)) = (&self.budget, reservation) else { return };
        match bill {
            Bill::Answered(usage) => b.settle(r, &usage),
            Bill::Nothing => b.release(r),
            // Sent, and no answer read: it may have been billed, so it counts as spent.
            Bill::Unknown => b.assume(r),
        }
    }

    /// One request, with its retries.
    fn send(&self, body: &[u8]) -> Result<Completion, ClientError> {
        let url = self.url();
        let attempts = self.config.attempts.max(1);
        // What the server's rate limit will count (a token is about 4 bytes).
        let estimate = body.len() as u64 / 4;
        let mut last = String::new();
        let mut reached = false;
        let (mut attempt, mut rejections) = (0, 0);
        let mut failed_last = false;
        while attempt < attempts {
            if std::mem::take(&mut failed_last) {
                std::thread::sleep(self.backoff(attempt));
            }
            let reservation = self.reserve(body.len())?;
            let permit = self.pace.acquire(estimate);
            let mut request = self.agent.post(&url).header("Content-Type", "application/json");
            if let Some(key) = &self.config.api_key {
                request = request.header("Authorization", format!("Bearer {key}"));
            }
            let mut response = match request.send(body) {
                Ok(r) => r,
                Err(e) => {
                    let unsent = matches!(e, ureq::Error::ConnectionFailed | ureq::Error::HostNotFound);
                    self.bill(reservation, if unsent { Bill::Nothing } else { Bill::Unknown });
                    last = self.scrub(&format!("{url}: {e}"));
                    attempt += 1;
                    failed_last = true;
                    continue;
                }
            };
            reached = true;
            let status = response.status().as_u16();
            let limits = super::pace::Limits::read(|name| {
                response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
            });
            let text = response.body_mut().with_config().limit(64 << 20).read_to_string();
            if matches!(status, 429 | 503) {
                // Slowing down is the answer, not giving up: a rejection costs no attempt.
                permit.rejected(&limits, self.backoff(rejections + 1));
                self.bill(reservation, Bill::Nothing);
                last = self.scrub(&format!("{url}: HTTP {status}: {}", crate::text::abbreviate(text.as_deref().unwrap_or(""), 300)));
                rejections += 1;
                if rejections >= MAX_REJECTIONS {
                    return Err(ClientError::Failed(format!(
                        "{last} (gave up after {} in a row; the server's rate limit is lower than it says, \
                         or it is overloaded: try a lower --parallel later)",
                        crate::text::plural(rejections as usize, "rate-limit rejection")
                    )));
                }
                continue;
            }
            permit.answered(&limits);
            let text = match text {
                Ok(t) => t,
                Err(e) => {
                    self.bill(reservation, if (200..300).contains(&status) { Bill::Unknown } else { Bill::Nothing });
                    last = self.scrub(&format!("{url}: reading the reply failed: {e}"));
                    attempt += 1;
                    failed_last = true;
                    continue;
                }
            };
            match status {
                200..=299 => {
                    let completion = self.completion(&text, &url);
                    self.bill(reservation, completion.as_ref().map_or(Bill::Unknown, |c| Bill::Answered(c.usage)));
                    return completion;
                }
                500..=599 => {
                    self.bill(reservation, Bill::Nothing);
                    last = self.scrub(&format!("{url}: HTTP {status}: {}", crate::text::abbreviate(&text, 300)));
                    attempt += 1;
                    failed_last = true;
                }
                _ => {
                    self.bill(reservation, Bill::Nothing);
                    let lower = text.to_lowercase();
                    let message = self.scrub(&format!("{url}: HTTP {status}: {}", crate::text::abbreviate(&text, 300)));
                    if lower.contains("context")
                        && (lower.contains("exceed") || lower.contains("length") || lower.contains("too long"))
                    {
                        return Err(ClientError::ContextExceeded(message));
                    }
                    return Err(match status {
                        401 | 403 => self.give_up(format!("{message}; check THREADKIT_API_KEY / OPENAI_API_KEY")),
                        404 => self.give_up(format!(
                            "{message}; check --base-url (it ends before /chat/completions) and --model"
                        )),
                        _ => ClientError::Failed(message),
                    });
                }
            }
        }
        let message = format!("{last} (gave up after {})", crate::text::plural(attempts as usize, "attempt"));
        // Never an answer at all: the server is not there, for this thread or any other.
        Err(if reached { ClientError::Failed(message) } else { self.give_up(message) })
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32 << (attempt - 1).min(10);
        (self.config.backoff * factor).min(Duration::from_secs(30))
    }

    fn completion(&self, text: &str, url: &str) -> Result<Completion, ClientError> {
        let v: Value = serde_json::from_str(text).map_err(|e| {
            ClientError::Failed(self.scrub(&format!("{url}: the reply is not JSON ({e}): {}", crate::text::abbreviate(text, 300))))
        })?;
        let choice = v
            .pointer("/choices/0")
            .ok_or_else(|| ClientError::Failed(self.scrub(&format!("{url}: the reply has no choices: {}", crate::text::abbreviate(text, 300)))))?;
        // A model (or a proxy) can echo the request's headers: the key never enters a thread.
        let content = self.scrub(choice.pointer("/message/content").and_then(Value::as_str).unwrap_or_default());
        let usage = |k: &str| v.pointer(&format!("/usage/{k}")).and_then(Value::as_u64).unwrap_or(0);
        let usage = Usage {
            prompt: usage("prompt_tokens"),
            completion: usage("completion_tokens"),
            cached: usage("prompt_tokens_details/cached_tokens"),
        };
        *self.used.lock().unwrap_or_else(|p| p.into_inner()) += usage;
        Ok(Completion { content, usage })
    }
}

/// What an attempt cost.
enum Bill {
    Answered(Usage),
    /// Not sent, or answered with an error: servers bill neither.
    Nothing,
    Unknown,
}


#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    /// A one-connection-per-reply HTTP server on 127.0.0.1 that answers with the given
    /// (status, body) pairs in order and records each request.
    fn serve(replies: Vec<(u16, String)>) -> (String, std::thread::JoinHandle<Vec<String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let handle = std::thread::spawn(move || {
            let mut seen = Vec::new();
            for (status, body) in replies {
                let (mut s, _) = listener.accept().unwrap();
                let mut buf = vec![0u8; 1 << 16];
                let mut req = Vec::new();
                loop {
                    let n = s.read(&mut buf).unwrap();
                    req.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&req);
                    if let Some(h) = text.find("\r\n\r\n") {
                        let len = text[..h]
                            .lines()
                            .find_map(|l| {
                                l.to_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap())
                            })
                            .unwrap_or(0);
                        if req.len() >= h + 4 + len {
                            break;
                        }
                    }
                    if n == 0 {
                        break;
                    }
                }
                seen.push(String::from_utf8_lossy(&req).to_string());
                let reply = format!("HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
                s.write_all(reply.as_bytes()).unwrap();
            }
            seen
        });
        (format!("http://{addr}/v1"), handle)
    }

    fn client(url: String, key: Option<&str>) -> ChatClient {
        ChatClient::new(ClientConfig {
            base_url: url,
            model: "m".into(),
            api_key: key.map(str::to_string),
            timeout: Duration::from_secs(5),
            attempts: 3,
            backoff: Duration::from_millis(1),
            max_completion_tokens: 100,
        })
    }

    const OK: &str = r#"{"choices": [{"message": {"role": "assistant", "content": "{\"query\": \"q\"}"}}], "usage": {"prompt_tokens": 7, "completion_tokens": 3, "prompt_tokens_details": {"cached_tokens": 4}}}"#;

    #[test]
    fn retries_server_errors_then_succeeds_and_sends_the_key_only_in_the_header() {
        let (url, server) = serve(vec![(503, "busy".into()), (429, "slow down".into()), (200, OK.into())]);
        let c = client(url, Some("sk-secret"));
        let got =
            c.complete(&[json!({"role": "user", "content": "hi"})], 0.5, &json!({"type": "json_object"})).unwrap();
        assert_eq!(
            got,
            Completion { content: "{\"query\": \"q\"}".into(), usage: Usage { prompt: 7, completion: 3, cached: 4 } }
        );
        let requests = server.join().unwrap();
        assert_eq!(requests.len(), 3);
        assert!(requests[0].to_lowercase().contains("authorization: bearer sk-secret"));
        assert!(requests[0].contains("\"response_format\":{\"type\":\"json_object\"}"), "{}", requests[0]);
        let body = requests[0].split("\r\n\r\n").nth(1).unwrap();
        assert!(!body.contains("sk-secret"));
    }

    #[test]
    fn client_errors_are_not_retried_and_never_show_the_key() {
        let (url, server) = serve(vec![(401, "{\"error\": \"bad key sk-secret\"}".into())]);
        let err = client(url, Some("sk-secret")).complete(&[], 0.5, &json!({})).unwrap_err().to_string();
        assert!(!err.contains("sk-secret") && err.contains("[API key]") && err.contains("HTTP 401"), "{err}");
        assert!(err.contains("OPENAI_API_KEY"), "{err}");
        assert_eq!(server.join().unwrap().len(), 1);
    }

    #[test]
    fn context_overflow_is_its_own_error() {
        let body = "{\"error\": {\"message\": \"Requested tokens (9000) exceed context window of 8192\"}}";
        let (url, server) = serve(vec![(400, body.into())]);
        let err = client(url, None).complete(&[], 0.5, &json!({})).unwrap_err();
        assert!(matches!(err, ClientError::ContextExceeded(_)), "{err:?}");
        server.join().unwrap();
    }

    #[test]
    fn gives_up_after_the_attempts() {
        let (url, server) = serve(vec![(500, "a".into()), (502, "b".into()), (500, "c".into())]);
        let err = client(url, None).complete(&[], 0.5, &json!({})).unwrap_err().to_string();
        assert!(err.contains("gave up after 3 attempts"), "{err}");
        server.join().unwrap();
    }

    #[test]
    fn a_request_sent_and_never_answered_counts_as_spent() {
        use crate::generate::budget::{Budget, Caps};
        // A server that reads the request and never answers: the client times out.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/v1", listener.local_addr().unwrap());
        let hold = std::thread::spawn(move || {
            let held: Vec<_> = (0..2).filter_map(|_| listener.accept().ok()).collect();
            std::thread::sleep(Duration::from_millis(1500));
            drop(held);
        });
        let dir = tempfile::tempdir().unwrap();
        let budget = std::sync::Arc::new(Budget::open(dir.path(), None, Caps { max_cost: None, max_tokens: Some(1_000_000) }).unwrap());
        let mut config = client(url, None).config().clone();
        config.timeout = Duration::from_millis(300);
        config.attempts = 2;
        let c = ChatClient::new(config).with_budget(budget.clone());
        assert!(c.complete(&[json!({"role": "user", "content": "hi"})], 0.5, &json!({})).is_err());
        let a = budget.account();
        assert!(a.in_flight.is_empty(), "{a:?}");
        // Two attempts, each reserved at most 100 completion tokens plus its prompt: both booked.
        assert!(a.assumed.tokens > 200 && a.spent.tokens == 0, "{a:?}");
        hold.join().unwrap();
    }

    #[test]
    fn unreachable_servers_fail_with_the_url() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/v1", listener.local_addr().unwrap());
        drop(listener);
        let err = client(url.clone(), None).complete(&[], 0.5, &json!({})).unwrap_err().to_string();
        assert!(err.contains(&url), "{err}");
    }
}
