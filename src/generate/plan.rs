//! `generate plan`: from a pilot's measured threads, what a run of `--count` will take.
//!
//! The projection resamples the pilot: a run is pilot threads drawn at random, with
//! replacement, until enough of them are accepted; rejected and failed ones cost what they
//! cost and do not count, as in the real run. A pilot of ten that happened to have no
//! rejection would make a plain bootstrap certain of 100 % acceptance, so each simulated run
//! first draws its acceptance rate from what the pilot allows (Beta(accepted + 1,
//! others + 1)), then draws accepted and other threads from their own pools. Two thousand
//! such runs give the p10, p50 and p90 of every total. Wall time is the drawn threads' durations over the
//! parallelism, or the pilot's request rate where the server held it lower.

use serde::Serialize;

use super::budget::Price;
use super::budget::Usage;

/// One pilot thread as measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measured {
    pub usage: Usage,
    pub secs: f64,
    pub requests: u64,
    pub steps: usize,
    /// Ended and passed the gate: counts toward `--count`.
    pub accepted: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Range {
    pub p10: f64,
    pub p50: f64,
    pub p90: f64,
}

impl Range {
    fn of(mut v: Vec<f64>) -> Range {
        v.sort_by(f64::total_cmp);
        let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
        Range { p10: at(0.1), p50: at(0.5), p90: at(0.9) }
    }

    fn plus(self, x: f64) -> Range {
        Range { p10: self.p10 + x, p50: self.p50 + x, p90: self.p90 + x }
    }
}

/// Totals for the whole run (the pilot's actual numbers plus the rest, projected).
#[derive(Debug, Clone, Serialize)]
pub struct Projection {
    pub count: usize,
    pub parallel: usize,
    pub threads_run: Range,
    pub prompt_tokens: Range,
    pub cached_tokens: Range,
    pub completion_tokens: Range,
    pub tokens: Range,
    pub cost_usd: Option<Range>,
    pub wall_secs: Range,
}

const RUNS: usize = 2000;

/// `None` when no pilot thread was accepted: nothing says what an accepted thread costs.
/// `requests_per_sec`: the rate the server allowed the pilot, when it pushed back;
/// `pilot_secs`: how long the pilot took.
pub fn project(
    pilot: &[Measured],
    count: usize,
    parallel: usize,
    price: Option<Price>,
    requests_per_sec: Option<f64>,
    pilot_secs: f64,
    seed: u64,
) -> Option<Projection> {
    if !pilot.iter().any(|m| m.accepted) {
        return None;
    }
    let accepted_in_pilot = pilot.iter().filter(|m| m.accepted).count();
    let remaining = count.saturating_sub(accepted_in_pilot);
    let mut pilot_total = Usage::default();
    for m in pilot {
        pilot_total += m.usage;
    }
    let cost = |u: &Usage| price.map_or(0.0, |p| p.cost(u));
    let mut rng = fastrand::Rng::with_seed(seed);
    let good: Vec<&Measured> = pilot.iter().filter(|m| m.accepted).collect();
    let other: Vec<&Measured> = pilot.iter().filter(|m| !m.accepted).collect();
    let (mut threads, mut prompt, mut cached, mut completion, mut usd, mut wall) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..RUNS {
        let (mut n, mut got, mut u, mut secs, mut requests) = (0usize, 0usize, Usage::default(), 0.0, 0u64);
        let q = beta(&mut rng, good.len(), other.len());
        // A bound for a pilot whose acceptance is tiny: the plan says so, it does not spin.
        while got < remaining && n < remaining.saturating_mul(100) {
            let accepted = rng.f64() < q;
            // No rejected pilot thread to say what one costs: as much as an accepted one.
            let pool = if accepted || other.is_empty() { &good } else { &other };
            let m = pool[rng.usize(..pool.len())];
            n += 1;
            got += usize::from(accepted);
            u += m.usage;
            secs += m.secs;
            requests += m.requests;
        }
        threads.push(n as f64);
        prompt.push(u.prompt as f64);
        cached.push(u.cached as f64);
        completion.push(u.completion as f64);
        usd.push(cost(&u));
        // The last threads run with fewer beside them: on average most of a thread's time
        // is added after the others are done.
        let p = parallel.max(1) as f64;
        let tail = if n > 0 { secs / n as f64 * (1.0 - 1.0 / p) } else { 0.0 };
        let by_threads = secs / p + tail;
        let by_rate = requests_per_sec.map_or(0.0, |r| requests as f64 / r);
        wall.push(by_threads.max(by_rate));
    }
    let prompt = Range::of(prompt).plus(pilot_total.prompt as f64);
    let completion = Range::of(completion).plus(pilot_total.completion as f64);
    Some(Projection {
        count,
        parallel,
        threads_run: Range::of(threads).plus(pilot.len() as f64),
        tokens: Range { p10: prompt.p10 + completion.p10, p50: prompt.p50 + completion.p50, p90: prompt.p90 + completion.p90 },
        prompt_tokens: prompt,
        cached_tokens: Range::of(cached).plus(pilot_total.cached as f64),
        completion_tokens: completion,
        cost_usd: price.map(|_| Range::of(usd).plus(cost(&pilot_total))),
        wall_secs: Range::of(wall).plus(pilot_secs),
    })
}

/// A draw from Beta(a + 1, b + 1): the (a + 1)-th smallest of a + b + 1 uniforms.
fn beta(rng: &mut fastrand::Rng, a: usize, b: usize) -> f64 {
    let mut u: Vec<f64> = (0..a + b + 1).map(|_| rng.f64()).collect();
    u.sort_by(f64::total_cmp);
    u[a]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(prompt: u64, accepted: bool) -> Measured {
        Measured { usage: Usage { prompt, completion: 10, cached: 0 }, secs: 2.0, requests: 5, steps: 3, accepted }
    }

    #[test]
    fn a_pilot_without_rejections_still_allows_for_them() {
        let pilot = vec![m(1000, true); 10];
        let p = project(&pilot, 100, 4, Some(Price { input: 1.0, output: 1.0, cached: None }), None, 3.0, 1).unwrap();
        // 90 more accepted; ten of ten accepted says acceptance is likely above 80 %, not that it is 100 %.
        assert!(p.threads_run.p10 >= 100.0 && p.threads_run.p90 > 105.0 && p.threads_run.p90 < 130.0, "{:?}", p.threads_run);
        let per_thread = 1010.0;
        assert!((p.tokens.p50 - p.threads_run.p50 * per_thread).abs() < 2.0 * per_thread, "{:?}", p.tokens);
        assert!((p.cost_usd.unwrap().p50 - p.tokens.p50 / 1e6).abs() < 1e-9);
        // The threads drawn, 2 s each, 4 at a time, after the pilot's 3 s, and a last thread's tail.
        assert!((p.wall_secs.p50 - (3.0 + (p.threads_run.p50 - 10.0) * 2.0 / 4.0 + 1.5)).abs() <= 1.0, "{:?}", p.wall_secs);
    }

    #[test]
    fn rejections_are_paid_for_and_widen_the_range() {
        let mut pilot = vec![m(1000, true); 8];
        pilot.extend([m(1000, false), m(1000, false)]);
        let p = project(&pilot, 108, 4, None, None, 0.0, 1).unwrap();
        // 100 more accepted at about 75 % (Beta(9, 3)'s mean): about 133 drawn, plus the pilot's 10.
        assert!((p.threads_run.p50 - 143.0).abs() <= 6.0, "{:?}", p.threads_run);
        assert!(p.threads_run.p10 < p.threads_run.p50 && p.threads_run.p50 < p.threads_run.p90);
        assert!(p.cost_usd.is_none());
    }

    #[test]
    fn a_rate_limit_bounds_the_wall_time_and_no_acceptance_no_plan() {
        let pilot = vec![m(1000, true); 10];
        let p = project(&pilot, 110, 16, None, Some(2.0), 0.0, 1).unwrap();
        // Each thread drawn: 5 requests at 2 a second, not 2 s over 16 at a time.
        assert!((p.wall_secs.p50 - (p.threads_run.p50 - 10.0) * 2.5).abs() < 1e-9, "{:?}", p.wall_secs);
        assert!(project(&[m(1000, false)], 10, 1, None, None, 0.0, 1).is_none());
    }
}
