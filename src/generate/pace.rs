//! How fast requests go to the endpoint, learnt from its answers.
//!
//! Two mechanisms, because a hosted API limits two things. The number of requests in flight
//! adapts as TCP's window does (AIMD): a 429 or 503 halves it, once per window (the requests
//! already in flight when it was cut were sent under the old limit, so their rejections are
//! not news), and every `limit` successes grow it by one, up to `--parallel`. And where the
//! server says what is left of its quota (`x-ratelimit-remaining-requests/-tokens` with
//! their `-limit-` and `-reset-`, as OpenAI, Azure and vLLM's proxies send them), a mirror
//! of each quota's bucket paces requests so they arrive as the bucket refills, instead of
//! finding it empty: halving alone keeps a sawtooth far below the limit. `Retry-After`
//! (or `retry-after-ms`) holds every request, not only the one that was told.

use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// What a reply's headers said about the server's limits.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Limits {
    pub retry_after: Option<Duration>,
    pub requests: Quota,
    pub tokens: Quota,
}

/// One quota as the server reported it: its size, what is left, and how long until it is full again.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Quota {
    pub limit: Option<f64>,
    pub remaining: Option<f64>,
    pub reset: Option<Duration>,
}

impl Limits {
    /// Reads the headers `get` finds (names in lower case).
    pub fn read(get: impl Fn(&str) -> Option<String>) -> Limits {
        let number = |name: &str| get(name).and_then(|v| v.trim().parse::<f64>().ok()).filter(|n| n.is_finite() && *n >= 0.0);
        let quota = |what: &str| Quota {
            limit: number(&format!("x-ratelimit-limit-{what}")),
            remaining: number(&format!("x-ratelimit-remaining-{what}")),
            reset: get(&format!("x-ratelimit-reset-{what}")).and_then(|v| parse_duration(&v)),
        };
        let retry_after = number("retry-after-ms")
            .map(|ms| Duration::from_secs_f64(ms / 1000.0))
            .or_else(|| number("retry-after").map(Duration::from_secs_f64));
        Limits { retry_after, requests: quota("requests"), tokens: quota("tokens") }
    }
}

/// `1s`, `6m0s`, `250ms`, `1h2m3.5s`, or a bare number of seconds: the forms servers send in
/// `x-ratelimit-reset-*`.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let mut total = 0.0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let value: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let scale = match &rest[..unit] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            "us" | "µs" => 1e-6,
            _ => return None,
        };
        total += value * scale;
        rest = &rest[unit..];
    }
    // Every unit came after a number, so only the empty text has none.
    (total.is_finite() && !text.is_empty()).then(|| Duration::from_secs_f64(total))
}

/// Our copy of one of the server's buckets, refilled at the rate its headers imply.
#[derive(Debug, Clone, Copy)]
struct Mirror {
    level: f64,
    capacity: f64,
    /// Units per second.
    rate: f64,
    at: Instant,
}

impl Mirror {
    fn level(&self, now: Instant) -> f64 {
        (self.level + self.rate * now.saturating_duration_since(self.at).as_secs_f64()).min(self.capacity)
    }

    /// How long until `need` units are there (`None`: now).
    fn wait_for(&self, need: f64, now: Instant) -> Option<Duration> {
        let short = need.min(self.capacity) - self.level(now);
        (short > 0.0).then(|| Duration::from_secs_f64((short / self.rate).min(600.0)))
    }

    fn take(&mut self, n: f64, now: Instant) {
        self.level = self.level(now) - n;
        self.at = now;
    }

    /// The server's word, less what we sent after the request it answered (those are
    /// already on their way to its bucket).
    fn from_quota(q: &Quota, sent_since: f64, previous: Option<Mirror>, now: Instant) -> Option<Mirror> {
        let (limit, remaining) = (q.limit?, q.remaining?);
        if limit <= 0.0 {
            return None;
        }
        let rate = match q.reset {
            Some(reset) if reset > Duration::ZERO && remaining < limit => (limit - remaining) / reset.as_secs_f64(),
            _ => previous.map_or(0.0, |p| p.rate),
        };
        // No refill rate known yet: nothing to pace by, only the concurrency limit.
        (rate > 0.0).then_some(Mirror { level: remaining - sent_since, capacity: limit, rate, at: now })
    }
}

struct State {
    /// Requests allowed in flight at most (`--parallel`).
    ceiling: usize,
    /// Requests allowed in flight now.
    limit: usize,
    in_flight: usize,
    successes: usize,
    hold_until: Option<Instant>,
    last_cut: Option<Instant>,
    /// Requests and tokens sent so far (to discount those in flight from a reply's word).
    sent: u64,
    tokens_sent: f64,
    requests: Option<Mirror>,
    tokens: Option<Mirror>,
    /// For a server that says only "429, Retry-After": its rate as learnt from the answers
    /// between two rejections, grown 5 % per second of answers until the next rejection.
    learnt: Option<Mirror>,
    /// When the last rejection came, and how many answers there were by then.
    last_rejection: Option<(Instant, u64)>,
    answered: u64,
    rejected: u64,
}

pub struct Pace {
    state: Mutex<State>,
    wake: Condvar,
}

/// What the pace knows, for the progress line and the summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PaceStats {
    pub parallelism: usize,
    pub answered: u64,
    pub rejected: u64,
}

/// A request's place in flight; its verdict is `answered` or `rejected`, and dropping it
/// without one (a network error) frees the place.
pub struct Permit<'a> {
    pace: &'a Pace,
    sent: u64,
    tokens_sent: f64,
    started: Instant,
    open: bool,
}

impl Pace {
    /// At most `ceiling` requests in flight (the run's `--parallel`).
    pub fn new(ceiling: usize) -> Pace {
        let ceiling = ceiling.max(1);
        Pace {
            state: Mutex::new(State {
                ceiling,
                limit: ceiling,
                in_flight: 0,
                successes: 0,
                hold_until: None,
                last_cut: None,
                sent: 0,
                tokens_sent: 0.0,
                requests: None,
                tokens: None,
                learnt: None,
                last_rejection: None,
                answered: 0,
                rejected: 0,
            }),
            wake: Condvar::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A run's `--parallel`: the most requests in flight, and where the limit starts.
    pub fn set_ceiling(&self, ceiling: usize) {
        let mut s = self.lock();
        s.ceiling = ceiling.max(1);
        s.limit = s.ceiling;
        drop(s);
        self.wake.notify_all();
    }

    pub fn stats(&self) -> PaceStats {
        let s = self.lock();
        PaceStats { parallelism: s.limit, answered: s.answered, rejected: s.rejected }
    }

    /// Wait until a request of about `tokens` prompt tokens may go.
    pub fn acquire(&self, tokens: u64) -> Permit<'_> {
        let tokens = tokens as f64;
        let mut s = self.lock();
        loop {
            let now = Instant::now();
            let wait = if s.in_flight >= s.limit {
                Some(None)
            } else if let Some(until) = s.hold_until.filter(|u| *u > now) {
                Some(Some(until - now))
            } else {
                let r = s.requests.or(s.learnt).and_then(|m| m.wait_for(1.0, now));
                let t = s.tokens.and_then(|m| m.wait_for(tokens, now));
                r.max(t).map(Some)
            };
            s = match wait {
                None => break,
                Some(None) => self.wake.wait(s).unwrap_or_else(|p| p.into_inner()),
                Some(Some(d)) => self.wake.wait_timeout(s, d).unwrap_or_else(|p| p.into_inner()).0,
            };
        }
        let now = Instant::now();
        s.in_flight += 1;
        s.sent += 1;
        s.tokens_sent += tokens;
        if let Some(m) = s.requests.as_mut() {
            m.take(1.0, now);
        }
        if let Some(m) = s.learnt.as_mut() {
            m.take(1.0, now);
        }
        if let Some(m) = s.tokens.as_mut() {
            m.take(tokens, now);
        }
        Permit { pace: self, sent: s.sent, tokens_sent: s.tokens_sent, started: now, open: true }
    }
}

impl Permit<'_> {
    fn close(&mut self, limits: Option<&Limits>, rejected: bool, fallback: Duration) {
        if !std::mem::replace(&mut self.open, false) {
            return;
        }
        let pace = self.pace;
        let mut s = pace.lock();
        let now = Instant::now();
        s.in_flight = s.in_flight.saturating_sub(1);
        if let Some(l) = limits {
            let requests_since = (s.sent - self.sent) as f64;
            let tokens_since = s.tokens_sent - self.tokens_sent;
            if l.requests.remaining.is_some() {
                s.requests = Mirror::from_quota(&l.requests, requests_since, s.requests, now);
            }
            if l.tokens.remaining.is_some() {
                s.tokens = Mirror::from_quota(&l.tokens, tokens_since, s.tokens, now);
            }
            if rejected {
                s.rejected += 1;
                // Sent after the last cut: the cut was not enough.
                if s.last_cut.is_none_or(|cut| self.started >= cut) {
                    s.limit = (s.limit / 2).max(1);
                    s.last_cut = Some(now);
                    s.successes = 0;
                }
                let exhausted = [l.requests, l.tokens]
                    .iter()
                    .filter(|q| q.remaining.is_some_and(|r| r < 1.0))
                    .filter_map(|q| q.reset)
                    .max();
                let hold = l.retry_after.or(exhausted).unwrap_or(fallback).min(Duration::from_secs(120));
                if s.requests.is_none() {
                    // Between two rejections the server answered as much as it allows: the
                    // rate over that span (its hold included) is its rate.
                    if let Some((at, answered)) = s.last_rejection {
                        let secs = now.saturating_duration_since(at).as_secs_f64();
                        let n = (s.answered - answered) as f64;
                        if n >= 4.0 && secs > 0.0 {
                            let rate = n / secs;
                            s.learnt = Some(Mirror { level: 0.0, capacity: 1.0, rate, at: now + hold });
                        }
                    }
                    s.last_rejection = Some((now, s.answered));
                }
                let until = now + hold;
                s.hold_until = Some(s.hold_until.map_or(until, |h| h.max(until)));
            } else {
                s.answered += 1;
                s.successes += 1;
                if let Some(m) = s.learnt.as_mut() {
                    // Probe upwards: a second's worth of answers adds 5 %.
                    m.rate *= 1.0 + 0.05 / m.rate.max(1.0);
                }
                if s.successes >= s.limit {
                    s.limit = (s.limit + 1).min(s.ceiling);
                    s.successes = 0;
                }
            }
        }
        drop(s);
        pace.wake.notify_all();
    }

    /// The server answered (any status but a rejection); its headers update the quotas.
    pub fn answered(mut self, limits: &Limits) {
        self.close(Some(limits), false, Duration::ZERO);
    }

    /// 429 or 503: slow down; every request waits `Retry-After`, else until the exhausted
    /// quota refills, else `fallback`.
    pub fn rejected(mut self, limits: &Limits, fallback: Duration) {
        self.close(Some(limits), true, fallback);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.close(None, false, Duration::ZERO);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(pairs: &[(&str, &str)]) -> Limits {
        let map: std::collections::HashMap<String, String> =
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Limits::read(|k| map.get(k).cloned())
    }

    #[test]
    fn durations_in_the_forms_servers_send() {
        assert_eq!(parse_duration("1s"), Some(Duration::from_secs(1)));
        assert_eq!(parse_duration("6m0s"), Some(Duration::from_secs(360)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("1h2m3.5s"), Some(Duration::from_secs_f64(3723.5)));
        assert_eq!(parse_duration("0.35"), Some(Duration::from_secs_f64(0.35)));
        for bad in ["", "s", "3 parsecs", "-1", "1x", "NaN"] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn headers_are_read_as_openai_and_azure_send_them() {
        let l = limits(&[
            ("retry-after", "2"),
            ("x-ratelimit-limit-requests", "500"),
            ("x-ratelimit-remaining-requests", "499"),
            ("x-ratelimit-reset-requests", "120ms"),
            ("x-ratelimit-remaining-tokens", "garbage"),
        ]);
        assert_eq!(l.retry_after, Some(Duration::from_secs(2)));
        assert_eq!(l.requests, Quota { limit: Some(500.0), remaining: Some(499.0), reset: Some(Duration::from_millis(120)) });
        assert_eq!(l.tokens, Quota::default());
        assert_eq!(limits(&[("retry-after-ms", "1500"), ("retry-after", "9")]).retry_after, Some(Duration::from_millis(1500)));
    }

    #[test]
    fn a_rejection_halves_once_per_window_and_successes_grow_it_back() {
        let pace = Pace::new(16);
        let none = Limits::default();
        let permits: Vec<Permit> = (0..16).map(|_| pace.acquire(0)).collect();
        // Sixteen rejections of requests that were all in flight when the first one came back: one cut.
        for p in permits {
            p.rejected(&Limits { retry_after: Some(Duration::ZERO), ..Limits::default() }, Duration::ZERO);
        }
        assert_eq!(pace.stats().parallelism, 8);
        assert_eq!(pace.stats().rejected, 16);
        // A rejection of a request sent after the cut cuts again.
        pace.acquire(0).rejected(&Limits::default(), Duration::ZERO);
        assert_eq!(pace.stats().parallelism, 4);
        // Additive increase: one more per `limit` successes.
        for _ in 0..4 {
            pace.acquire(0).answered(&none);
        }
        assert_eq!(pace.stats().parallelism, 5);
        for _ in 0..5 {
            pace.acquire(0).answered(&none);
        }
        assert_eq!(pace.stats().parallelism, 6);
    }

    #[test]
    fn the_limit_is_held_in_flight() {
        let pace = std::sync::Arc::new(Pace::new(3));
        let most = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let now = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        std::thread::scope(|scope| {
            for _ in 0..8 {
                let (pace, most, now) = (pace.clone(), most.clone(), now.clone());
                scope.spawn(move || {
                    for _ in 0..5 {
                        let p = pace.acquire(0);
                        let n = now.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                        most.fetch_max(n, std::sync::atomic::Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(2));
                        now.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                        p.answered(&Limits::default());
                    }
                });
            }
        });
        assert_eq!(most.load(std::sync::atomic::Ordering::SeqCst), 3);
    }

    #[test]
    fn a_reported_quota_paces_requests_to_its_refill_rate() {
        let pace = Pace::new(64);
        // 20 a second, 5 left, full again in 0.75 s: refills at 20/s.
        pace.acquire(0).answered(&limits(&[
            ("x-ratelimit-limit-requests", "20"),
            ("x-ratelimit-remaining-requests", "5"),
            ("x-ratelimit-reset-requests", "750ms"),
        ]));
        let start = Instant::now();
        for _ in 0..15 {
            drop(pace.acquire(0));
        }
        // 5 at once, then 10 more at 20/s: about half a second, not at once.
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(400) && took < Duration::from_millis(900), "{took:?}");
    }

    #[test]
    fn retry_after_holds_every_request() {
        let pace = Pace::new(4);
        pace.acquire(0).rejected(&Limits { retry_after: Some(Duration::from_millis(300)), ..Limits::default() }, Duration::ZERO);
        let start = Instant::now();
        drop(pace.acquire(0));
        assert!(start.elapsed() >= Duration::from_millis(250), "{:?}", start.elapsed());
    }
}
