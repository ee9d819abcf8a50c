//! What a run may spend and what it has spent: prices, the hard caps (`--max-cost`,
//! `--max-tokens`) and the ledger that keeps the account in the threads folder
//! (`.threadkit/spend.json`; a hidden folder, so no command reads it as a thread).
//!
//! The caps hold because every request reserves its worst case before it is sent (its
//! prompt at the largest tokens-per-byte seen so far plus a margin, and the whole
//! `--max-completion-tokens`), and the reservation is written down first. A request whose
//! reservation does not fit is not sent: its thread stops where its last step was saved
//! (status active) for `generate continue`. A run killed with requests in flight finds their
//! reservations in the ledger and counts them as spent: the server may have billed them.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// Tokens as the server counted them (`usage`); `cached` is the part of `prompt` its prefix
/// cache served (`prompt_tokens_details.cached_tokens`), billed at a lower price.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Usage {
    pub prompt: u64,
    pub completion: u64,
    pub cached: u64,
}

impl Usage {
    pub fn total(&self) -> u64 {
        self.prompt + self.completion
    }
}

impl std::ops::AddAssign for Usage {
    fn add_assign(&mut self, o: Usage) {
        self.prompt += o.prompt;
        self.completion += o.completion;
        self.cached += o.cached;
    }
}

/// USD per million tokens. `cached` prompt tokens cost `cached` where a price is given,
/// else the `input` price.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    #[serde(rename = "in")]
    pub input: f64,
    #[serde(rename = "out")]
    pub output: f64,
    pub cached: Option<f64>,
}

impl Price {
    /// `in=2.5,out=10,cached=1.25` (USD per million tokens).
    pub fn parse(text: &str) -> Result<Price, String> {
        let (mut input, mut output, mut cached) = (None, None, None);
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = part.split_once('=').ok_or_else(|| format!("{part:?}: write key=value"))?;
            let value: f64 = value
                .trim()
                .parse()
                .ok()
                .filter(|v: &f64| v.is_finite() && *v >= 0.0)
                .ok_or_else(|| format!("{part:?}: a price is a number of USD per million tokens"))?;
            match key.trim() {
                "in" | "input" => input = Some(value),
                "out" | "output" => output = Some(value),
                "cached" => cached = Some(value),
                other => return Err(format!("{other:?} is not a price; give in=, out= and optionally cached=")),
            }
        }
        match (input, output) {
            (Some(input), Some(output)) => Ok(Price { input, output, cached }),
            _ => Err(format!("{text:?}: give at least in= and out= (USD per million tokens), e.g. in=0.15,out=0.6,cached=0.075")),
        }
    }

    /// The model's prices from a `prices.toml`: one table per model, `["gpt-4o-mini"]` with
    /// `in`, `out` and optionally `cached`.
    pub fn from_file(path: &Path, model: &str) -> Result<Price, String> {
        let text = crate::open::read_to_string(path, crate::open::MAX_SIDE_FILE)
            .map_err(|e| format!("--prices {}: {e}", path.display()))?;
        let table: std::collections::BTreeMap<String, Price> =
            toml::from_str(&text).map_err(|e| format!("--prices {}: {}", path.display(), e.message().trim()))?;
        table.get(model).copied().ok_or_else(|| {
            let names: Vec<&str> = table.keys().map(String::as_str).collect();
            format!("--prices {}: no prices for model {model:?} (it has {})", path.display(), names.join(", "))
        })
    }

    /// The `--price` text that gives this price.
    pub fn spec(&self) -> String {
        let mut s = format!("in={},out={}", self.input, self.output);
        if let Some(c) = self.cached {
            s.push_str(&format!(",cached={c}"));
        }
        s
    }

    pub fn cost(&self, u: &Usage) -> f64 {
        let cached = u.cached.min(u.prompt) as f64;
        let fresh = (u.prompt as f64) - cached;
        (fresh * self.input + cached * self.cached.unwrap_or(self.input) + u.completion as f64 * self.output) / 1e6
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Caps {
    pub max_cost: Option<f64>,
    pub max_tokens: Option<u64>,
}

impl Caps {
    pub fn any(&self) -> bool {
        self.max_cost.is_some() || self.max_tokens.is_some()
    }
}

/// A cost and a token count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Amount {
    pub usd: f64,
    pub tokens: u64,
}

impl Amount {
    fn add(&mut self, o: Amount) {
        self.usd += o.usd;
        self.tokens += o.tokens;
    }

    fn sub(&mut self, o: Amount) {
        self.tokens = self.tokens.saturating_sub(o.tokens);
        // Sums of reservations do not cancel exactly in floating point.
        self.usd = if self.usd - o.usd < 1e-9 { 0.0 } else { self.usd - o.usd };
    }
}

/// The ledger's contents.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Account {
    /// What answered requests cost, as the server counted their tokens.
    pub usage: Usage,
    pub spent: Amount,
    /// Reserved by requests in flight now, per run (runs of one folder share its account).
    pub in_flight: std::collections::BTreeMap<String, Amount>,
    /// Reserved by requests in flight when a run was killed: counted as spent.
    pub assumed: Amount,
    pub requests: u64,
    /// The largest prompt tokens per request byte seen (for reservations).
    pub tokens_per_byte: f64,
}

impl Account {
    /// Everything that counts against the caps.
    pub fn committed(&self) -> Amount {
        let mut a = self.spent;
        a.add(self.assumed);
        for f in self.in_flight.values() {
            a.add(*f);
        }
        a
    }
}

pub const LEDGER: &str = ".threadkit/spend.json";

/// The message a thread stops with when its next request does not fit the budget.
pub const STOPPED: &str = "budget reached";

struct State {
    /// The ledger as last read or written.
    account: Account,
    /// Finished threads' cost in this run (for the p90 a new thread must fit).
    threads: Vec<Amount>,
    /// Set once a request or a thread was refused.
    refused: bool,
}

/// The threads folder's account, shared by every run on it: each change is read, made and
/// written under an OS lock on `.threadkit/spend.lock`, so two runs on one folder spend one
/// budget. Each run holds `.threadkit/runs/<run>.lock` while it lives; a run that finds
/// another's lock free knows it died and books its reservations as spent.
pub struct Budget {
    path: PathBuf,
    dir: PathBuf,
    run: String,
    /// Held from `begin` for the run's life (the OS drops it if the process dies).
    alive: Mutex<Option<std::fs::File>>,
    price: Option<Price>,
    caps: Caps,
    state: Mutex<State>,
}

/// A request's worst case, held against the caps until it is answered.
#[derive(Debug)]
pub struct Reservation {
    amount: Amount,
    bytes: usize,
}

fn lock_file(path: &Path) -> Result<std::fs::File, String> {
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))
}

impl Budget {
    /// The threads folder's budget; nothing is read or written until `begin`.
    pub fn new(threads_dir: &Path, price: Option<Price>, caps: Caps) -> Budget {
        let path = threads_dir.join(LEDGER);
        let dir = path.parent().expect("the ledger is in a folder").to_path_buf();
        Budget {
            path,
            dir,
            run: format!("{}-{:08x}", std::process::id(), fastrand::u32(..)),
            alive: Mutex::new(None),
            price,
            caps,
            state: Mutex::new(State { account: Account::default(), threads: Vec::new(), refused: false }),
        }
    }

    /// `new` then `begin`.
    pub fn open(threads_dir: &Path, price: Option<Price>, caps: Caps) -> Result<Budget, String> {
        let b = Budget::new(threads_dir, price, caps);
        b.begin()?;
        Ok(b)
    }

    /// Before the first request: mark this run alive, read the ledger, and count what dead
    /// runs left in flight as spent. A damaged ledger is an error here, before anything is sent.
    pub fn begin(&self) -> Result<(), String> {
        let mut alive = self.alive.lock().unwrap_or_else(|p| p.into_inner());
        if alive.is_some() {
            return Ok(());
        }
        let runs = self.dir.join("runs");
        std::fs::create_dir_all(&runs).map_err(|e| format!("{}: {e}", runs.display()))?;
        let file = lock_file(&runs.join(format!("{}.lock", self.run)))?;
        rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive)
            .map_err(|e| format!("{}: cannot lock: {e}", runs.display()))?;
        *alive = Some(file);
        drop(alive);
        self.transact(&mut self.lock(), |a| {
            let dead: Vec<String> = a.in_flight.keys().filter(|r| !self.is_alive(r)).cloned().collect();
            for r in dead {
                if let Some(amount) = a.in_flight.remove(&r) {
                    a.assumed.add(amount);
                }
                let _ = std::fs::remove_file(runs.join(format!("{r}.lock")));
            }
        })
    }

    /// Whether run `r` still holds its lock.
    fn is_alive(&self, r: &str) -> bool {
        if r == self.run {
            return true;
        }
        let Ok(f) = std::fs::File::open(self.dir.join("runs").join(format!("{r}.lock"))) else { return false };
        rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockShared).is_err()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Read the ledger, change it, write it: under the OS lock (other runs) while the
    /// caller holds the state's mutex (this run's threads).
    fn transact<T>(&self, s: &mut State, change: impl FnOnce(&mut Account) -> T) -> Result<T, String> {
        self.locked(s, true, change)
    }

    /// The ledger as it is, read under the lock and not written (one fsync less per thread).
    fn read<T>(&self, s: &mut State, look: impl FnOnce(&Account) -> T) -> Result<T, String> {
        self.locked(s, false, |a| look(a))
    }

    fn locked<T>(&self, s: &mut State, write: bool, change: impl FnOnce(&mut Account) -> T) -> Result<T, String> {
        use rustix::fs::FlockOperation::{LockExclusive, LockShared};
        let guard = lock_file(&self.dir.join("spend.lock"))?;
        rustix::fs::flock(&guard, if write { LockExclusive } else { LockShared })
            .map_err(|e| format!("{}: cannot lock: {e}", self.dir.display()))?;
        let mut account: Account = match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                format!("{}: not a threadkit ledger ({e}); it keeps what this folder's runs spent: restore it, or remove it to start the account at zero", self.path.display())
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Account::default(),
            Err(e) => return Err(format!("{}: {e}", self.path.display())),
        };
        let out = change(&mut account);
        if write {
            let bytes = serde_json::to_vec_pretty(&account).expect("an account serializes");
            crate::write::atomic_write(&self.path, &bytes).map_err(|e| format!("{}: {e}", self.path.display()))?;
        }
        s.account = account;
        Ok(out)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn caps(&self) -> Caps {
        self.caps
    }

    pub fn price(&self) -> Option<Price> {
        self.price
    }

    /// The account as this run last saw it.
    pub fn account(&self) -> Account {
        self.lock().account.clone()
    }

    pub fn cost(&self, u: &Usage) -> Amount {
        Amount { usd: self.price.map_or(0.0, |p| p.cost(u)), tokens: u.total() }
    }

    fn fits(&self, committed: Amount, more: Amount) -> bool {
        let cost_ok = self.caps.max_cost.is_none_or(|cap| committed.usd + more.usd <= cap + 1e-12);
        let tokens_ok = self.caps.max_tokens.is_none_or(|cap| committed.tokens + more.tokens <= cap);
        cost_ok && tokens_ok
    }

    /// Reserve a request of `bytes` bytes that may answer `max_completion` tokens; written to
    /// the ledger before it returns. `Err` when it does not fit: the request must not be sent.
    pub fn reserve(&self, bytes: usize, max_completion: u64) -> Result<Reservation, String> {
        let mut s = self.lock();
        let run = self.run.clone();
        let fitted = self.transact(&mut s, |a| {
            // Before any answer: at most one token per two bytes (JSON of numbers and words is
            // three to four bytes a token); after, the densest prompt seen, with a margin.
            let per_byte = if a.tokens_per_byte > 0.0 { a.tokens_per_byte * 1.2 } else { 0.5 };
            let prompt = (bytes as f64 * per_byte).ceil() as u64 + 16;
            let amount = self.cost(&Usage { prompt, completion: max_completion, cached: 0 });
            if !self.fits(a.committed(), amount) {
                return None;
            }
            a.in_flight.entry(run).or_default().add(amount);
            Some(amount)
        })?;
        match fitted {
            Some(amount) => Ok(Reservation { amount, bytes }),
            None => {
                s.refused = true;
                Err(self.stopped_message(&s.account))
            }
        }
    }

    fn take_back(&self, a: &mut Account, amount: Amount) {
        if let Some(mine) = a.in_flight.get_mut(&self.run) {
            mine.sub(amount);
            if mine.tokens == 0 && mine.usd == 0.0 {
                a.in_flight.remove(&self.run);
            }
        }
    }

    /// The request was answered with `usage`.
    pub fn settle(&self, r: Reservation, usage: &Usage) {
        let mut s = self.lock();
        let cost = self.cost(usage);
        // A ledger that cannot be written now is noticed at the next reservation, which writes too.
        let _ = self.transact(&mut s, |a| {
            self.take_back(a, r.amount);
            a.spent.add(cost);
            a.usage += *usage;
            a.requests += 1;
            if r.bytes > 0 {
                a.tokens_per_byte = a.tokens_per_byte.max(usage.prompt as f64 / r.bytes as f64);
            }
        });
    }

    /// The request got no answer the server bills (refused, rejected, unreachable).
    pub fn release(&self, r: Reservation) {
        let mut s = self.lock();
        let _ = self.transact(&mut s, |a| self.take_back(a, r.amount));
    }

    /// The request was sent and no answer was read (a timeout, a dropped connection): the
    /// server may have billed it, so its reservation counts as spent.
    pub fn assume(&self, r: Reservation) {
        let mut s = self.lock();
        let _ = self.transact(&mut s, |a| {
            self.take_back(a, r.amount);
            a.assumed.add(r.amount);
        });
    }

    /// A thread of this run ended; its cost joins those a new thread is judged by.
    pub fn thread_done(&self, u: &Usage) {
        let amount = self.cost(u);
        if amount.tokens > 0 {
            self.lock().threads.push(amount);
        }
    }

    /// The cost of a thread at the 90th percentile of this run's so far (`None` before one ended).
    #[cfg(test)]
    pub fn p90_thread(&self) -> Option<Amount> {
        let s = self.lock();
        p90(&s.threads)
    }

    /// Whether a new thread may start: what is left (as the ledger says now) covers a p90 thread.
    pub fn can_start(&self) -> bool {
        let mut s = self.lock();
        let need = p90(&s.threads).unwrap_or_default();
        let committed = match self.read(&mut s, |a| a.committed()) {
            Ok(c) => c,
            Err(_) => s.account.committed(),
        };
        let ok = self.fits(committed, need);
        if !ok {
            s.refused = true;
        }
        ok
    }

    /// Whether the budget stopped anything in this run.
    pub fn refused(&self) -> bool {
        self.lock().refused
    }

    fn stopped_message(&self, a: &Account) -> String {
        format!("{STOPPED}: {}", self.spent_text(a))
    }

    /// `$4.93 of $5.00 spent, 812,344 of 1,000,000 tokens`.
    pub fn spent_text(&self, a: &Account) -> String {
        let c = a.committed();
        let mut parts = Vec::new();
        if self.price.is_some() {
            parts.push(match self.caps.max_cost {
                Some(cap) => format!("${:.4} of ${cap:.2} spent", c.usd),
                None => format!("${:.4} spent", c.usd),
            });
        }
        parts.push(match self.caps.max_tokens {
            Some(cap) => format!("{} of {cap} tokens", c.tokens),
            None => format!("{} tokens", c.tokens),
        });
        parts.join(", ")
    }
}

impl Drop for Budget {
    fn drop(&mut self) {
        // A run that ends normally leaves nothing in flight and no lock file behind.
        if self.alive.get_mut().map(|a| a.is_some()).unwrap_or(true) {
            let _ = std::fs::remove_file(self.dir.join("runs").join(format!("{}.lock", self.run)));
        }
    }
}

fn p90(amounts: &[Amount]) -> Option<Amount> {
    if amounts.is_empty() {
        return None;
    }
    let at = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[((v.len() - 1) as f64 * 0.9).round() as usize]
    };
    Some(Amount {
        usd: at(amounts.iter().map(|a| a.usd).collect()),
        tokens: at(amounts.iter().map(|a| a.tokens as f64).collect()) as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_parse_and_cost_what_providers_bill() {
        let p = Price::parse("in=2.5, out=10,cached=1.25").unwrap();
        assert_eq!(p, Price { input: 2.5, output: 10.0, cached: Some(1.25) });
        let u = Usage { prompt: 1_000_000, completion: 100_000, cached: 400_000 };
        assert!((p.cost(&u) - (0.6 * 2.5 + 0.4 * 1.25 + 0.1 * 10.0)).abs() < 1e-9);
        assert!((Price::parse("in=1,out=1").unwrap().cost(&u) - 1.1).abs() < 1e-9);
        for bad in ["in=1", "in=x,out=1", "in=-1,out=1", "in=1,out=1,extra=2", "in 1"] {
            assert!(Price::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn prices_from_a_file_by_model() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("prices.toml");
        std::fs::write(&f, "[\"gpt-4o-mini\"]\nin = 0.15\nout = 0.6\ncached = 0.075\n[other]\nin = 1\nout = 2\n").unwrap();
        assert_eq!(Price::from_file(&f, "gpt-4o-mini").unwrap().cached, Some(0.075));
        let err = Price::from_file(&f, "gpt-5").unwrap_err();
        assert!(err.contains("gpt-5") && err.contains("gpt-4o-mini, other"), "{err}");
    }

    #[test]
    fn reservations_never_pass_the_cap_and_a_kill_counts_them_as_spent() {
        let dir = tempfile::tempdir().unwrap();
        let price = Price { input: 1.0, output: 1.0, cached: None };
        let caps = Caps { max_cost: Some(0.01), max_tokens: None };
        let b = Budget::open(dir.path(), Some(price), caps).unwrap();
        // 4000 bytes at 0.5 token/byte + 16, plus 1000 completion: 3016 tokens = $0.003016 each.
        let r1 = b.reserve(4000, 1000).unwrap();
        let _r2 = b.reserve(4000, 1000).unwrap();
        let r3 = b.reserve(4000, 1000).unwrap();
        assert!(b.reserve(4000, 1000).unwrap_err().starts_with(STOPPED));
        b.settle(r1, &Usage { prompt: 1000, completion: 100, cached: 0 });
        b.release(r3);
        assert!((b.account().spent.usd - 0.0011).abs() < 1e-12);
        // While this run lives, another run on the folder sees its reservation in flight.
        let other = Budget::open(dir.path(), Some(price), caps).unwrap();
        assert!((other.account().committed().usd - 0.0011 - 0.003016).abs() < 1e-12);
        assert_eq!(other.account().assumed, Amount::default());
        // Killed with r2 in flight (its lock gone with the process): the next run counts it as spent.
        std::mem::forget(b);
        let ledger = dir.path().join(LEDGER);
        let runs = ledger.parent().unwrap().join("runs");
        for e in std::fs::read_dir(&runs).unwrap() {
            let p = e.unwrap().path();
            if !p.to_string_lossy().contains(&other.run) {
                std::fs::remove_file(p).unwrap();
            }
        }
        drop(other);
        let b = Budget::open(dir.path(), Some(price), caps).unwrap();
        let a = b.account();
        assert!((a.assumed.usd - 0.003016).abs() < 1e-12 && a.in_flight.is_empty(), "{a:?}");
        // Learnt: 0.25 token per byte, reserved with a 20 % margin.
        let r = b.reserve(4000, 1000).unwrap();
        assert_eq!(r.amount.tokens, 1200 + 16 + 1000);
    }

    #[test]
    fn a_new_thread_needs_room_for_a_p90_thread() {
        let dir = tempfile::tempdir().unwrap();
        let b = Budget::open(dir.path(), None, Caps { max_cost: None, max_tokens: Some(10_000) }).unwrap();
        for t in [1000, 1200, 900, 5000] {
            b.thread_done(&Usage { prompt: t, completion: 0, cached: 0 });
        }
        assert_eq!(b.p90_thread().unwrap().tokens, 5000);
        let r = b.reserve(1000, 100).unwrap();
        b.settle(r, &Usage { prompt: 4000, completion: 100, cached: 0 });
        assert!(b.can_start(), "4,100 spent, 5,000 more fits");
        let r = b.reserve(1000, 100).unwrap();
        b.settle(r, &Usage { prompt: 2000, completion: 0, cached: 0 });
        assert!(!b.can_start() && b.refused());
    }

    #[test]
    fn a_damaged_ledger_is_an_error_not_a_fresh_account() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".threadkit")).unwrap();
        std::fs::write(dir.path().join(LEDGER), "{\"spent\": ").unwrap();
        let err = Budget::open(dir.path(), None, Caps::default()).err().unwrap();
        assert!(err.contains("spend.json") && err.contains("remove it"), "{err}");
    }
}
