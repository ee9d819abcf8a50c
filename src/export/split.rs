//! Train/validation splits, grouped by recording (a session's threads never sit in two
//! splits, or the model would be evaluated on recordings it trained on), in one of two ways:
//!
//! - `Method::Hash` (the default): a recording's split is decided by a hash of its dataset,
//!   session and the seed alone, so adding threads to a corpus never moves a recording that was
//!   exported before, and N shards of one export (`--shard I/N`) agree without talking;
//! - `Method::Stratified`: every split sees each dataset and label in proportion and a small
//!   corpus still fills every split, at the price of a split that depends on the whole set of
//!   recordings (adding one may move others).

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SplitSpec {
    pub parts: Vec<(String, f64)>,
}

impl SplitSpec {
    /// Everything in one split called `train`.
    pub fn single() -> SplitSpec {
        SplitSpec { parts: vec![("train".to_string(), 1.0)] }
    }

    /// `train=0.9,val=0.1`: names of letters, digits, `-` and `_`; ratios that sum to 1.
    pub fn parse(s: &str) -> Result<SplitSpec, String> {
        let mut parts: Vec<(String, f64)> = Vec::new();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (name, ratio) =
                item.split_once('=').ok_or_else(|| format!("{item:?}: write NAME=RATIO, e.g. train=0.9"))?;
            let name = name.trim();
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                return Err(format!("{name:?}: split names use letters, digits, - and _"));
            }
            let ratio: f64 = ratio.trim().parse().map_err(|_| format!("{item:?}: the ratio is not a number"))?;
            if !(ratio > 0.0 && ratio <= 1.0) {
                return Err(format!("{item:?}: a ratio is above 0 and at most 1"));
            }
            if parts.iter().any(|(n, _)| n == name) {
                return Err(format!("{name:?} appears twice"));
            }
            parts.push((name.to_string(), ratio));
        }
        let sum: f64 = parts.iter().map(|(_, r)| r).sum();
        if parts.is_empty() || (sum - 1.0).abs() > 1e-6 {
            return Err(format!("the ratios sum to {sum}, not 1"));
        }
        Ok(SplitSpec { parts })
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().map(|(n, _)| n.as_str())
    }
}

/// How recordings are put in splits (`--split-method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// By a hash of the recording and the seed: stable when the corpus grows, and across shards.
    #[default]
    Hash,
    /// Stratified by dataset and label; decided on the whole set of recordings at once.
    Stratified,
}

/// Which split each session goes to (an index into `spec.parts`), for `sessions` given as
/// (dataset, session, stratum label).
/// By hash, each session is decided as it comes: a million sessions' names are not gathered.
pub fn assign<'a>(
    spec: &SplitSpec,
    method: Method,
    seed: u64,
    sessions: impl Iterator<Item = (&'a str, &'a str, &'a str)>,
) -> Vec<usize> {
    match method {
        Method::Hash => sessions.map(|(dataset, session, _)| by_hash(spec, seed, dataset, session)).collect(),
        Method::Stratified => stratified(spec, seed, &sessions.collect::<Vec<_>>()),
    }
}

/// The split of one recording, from its rank alone: the rank as a fraction of 2^64 falls in
/// one split's share of [0, 1). Nothing else in the corpus takes part.
pub fn by_hash(spec: &SplitSpec, seed: u64, dataset: &str, session: &str) -> usize {
    let at = (rank(seed, dataset, session) >> 11) as f64 / (1u64 << 53) as f64;
    let mut upto = 0.0;
    for (k, (_, ratio)) in spec.parts.iter().enumerate() {
        upto += ratio;
        if at < upto {
            return k;
        }
    }
    // Ratios that sum to 1 within rounding: the last share ends at 1.
    spec.parts.len() - 1
}

/// Stratified: deterministic in `seed` and the set of sessions (their order does not matter).
fn stratified(spec: &SplitSpec, seed: u64, sessions: &[(&str, &str, &str)]) -> Vec<usize> {
    type Member<'a> = (u64, (&'a str, &'a str), usize);
    let mut strata: BTreeMap<(&str, &str), Vec<Member<'_>>> = BTreeMap::new();
    for (i, &(dataset, session, label)) in sessions.iter().enumerate() {
        strata.entry((dataset, label)).or_default().push((rank(seed, dataset, session), (dataset, session), i));
    }
    let ratios: Vec<f64> = spec.parts.iter().map(|(_, r)| *r).collect();
    let strata: Vec<Vec<Member<'_>>> = strata
        .into_values()
        .map(|mut m| {
            m.sort_unstable();
            m
        })
        .collect();
    let sizes: Vec<usize> = strata.iter().map(Vec::len).collect();
    let mut out = vec![0; sessions.len()];
    for (members, counts) in strata.into_iter().zip(apportion_strata(&ratios, &sizes)) {
        let mut members = members.into_iter();
        for (split, n) in counts.into_iter().enumerate() {
            for (_, _, i) in members.by_ref().take(n) {
                out[i] = split;
            }
        }
    }
    out
}

/// Split every stratum by `ratios` so that the totals are the largest-remainder split of
/// all sessions: a small corpus with many small strata still gets its validation split
/// (per-stratum rounding alone would round 0.1 of every 3-session stratum to 0).
fn apportion_strata(ratios: &[f64], sizes: &[usize]) -> Vec<Vec<usize>> {
    let total: usize = sizes.iter().sum();
    let targets = apportion(ratios, total);
    let mut counts: Vec<Vec<usize>> =
        sizes.iter().map(|&n| ratios.iter().map(|r| (r * n as f64).floor() as usize).collect()).collect();
    let mut left: Vec<usize> = sizes.iter().zip(&counts).map(|(n, c)| n - c.iter().sum::<usize>()).collect();
    let mut extra: Vec<usize> =
        targets.iter().enumerate().map(|(k, t)| t.saturating_sub(counts.iter().map(|c| c[k]).sum())).collect();
    // Leftover places go where the rounding lost the most, within the totals.
    let mut slots: Vec<(f64, usize, usize)> = Vec::new();
    for (s, &n) in sizes.iter().enumerate() {
        for (k, r) in ratios.iter().enumerate() {
            let q = r * n as f64;
            slots.push((q - q.floor(), s, k));
        }
    }
    slots.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.2.cmp(&b.2)).then(a.1.cmp(&b.1)));
    for pass in 0..2 {
        for &(frac, s, k) in &slots {
            if left[s] > 0 && extra[k] > 0 && (pass == 1 || frac > 0.0) {
                counts[s][k] += 1;
                left[s] -= 1;
                extra[k] -= 1;
            }
        }
    }
    // Whatever rounding could not place (never, when the totals add up) stays in the first split.
    for (s, l) in left.into_iter().enumerate() {
        counts[s][0] += l;
    }
    counts
}

/// A seeded pseudo-random rank of a session, stable across platforms and versions.
fn rank(seed: u64, dataset: &str, session: &str) -> u64 {
    let mut h = Sha256::new();
    h.update(seed.to_le_bytes());
    h.update(dataset.as_bytes());
    h.update([0]);
    h.update(session.as_bytes());
    let digest = h.finalize();
    u64::from_le_bytes(digest[..8].try_into().expect("8 bytes"))
}

/// Split `n` items by `ratios` (largest remainder; ties go to the earlier split); every
/// split with a positive ratio gets at least one item when there are enough items.
fn apportion(ratios: &[f64], n: usize) -> Vec<usize> {
    let quotas: Vec<f64> = ratios.iter().map(|r| r * n as f64).collect();
    let mut counts: Vec<usize> = quotas.iter().map(|q| q.floor() as usize).collect();
    let mut left = n - counts.iter().sum::<usize>();
    let mut order: Vec<usize> = (0..ratios.len()).collect();
    order.sort_by(|&a, &b| (quotas[b] - quotas[b].floor()).total_cmp(&(quotas[a] - quotas[a].floor())).then(a.cmp(&b)));
    for i in order.into_iter().cycle() {
        if left == 0 {
            break;
        }
        counts[i] += 1;
        left -= 1;
    }
    // A requested split is never left empty while there are items enough for every split.
    if n >= ratios.len() {
        for k in 0..counts.len() {
            if counts[k] == 0 && ratios[k] > 0.0 {
                let largest = (0..counts.len()).max_by_key(|&j| (counts[j], usize::MAX - j)).expect("non-empty");
                counts[largest] -= 1;
                counts[k] += 1;
            }
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_checks_names_and_sum() {
        let s = SplitSpec::parse("train=0.8, val=0.1,test=0.1").unwrap();
        assert_eq!(s.names().collect::<Vec<_>>(), ["train", "val", "test"]);
        assert!(SplitSpec::parse("train=0.8,val=0.1").unwrap_err().contains("sum"));
        assert!(SplitSpec::parse("train").is_err());
        assert!(SplitSpec::parse("../x=1").is_err());
        assert!(SplitSpec::parse("a=0.5,a=0.5").is_err());
    }

    #[test]
    fn apportion_is_exact() {
        assert_eq!(apportion(&[0.9, 0.1], 10), [9, 1]);
        assert_eq!(apportion(&[0.9, 0.1], 1), [1, 0]);
        assert_eq!(apportion(&[0.9, 0.1], 5), [4, 1], "a small corpus still gets its validation split");
        assert_eq!(apportion(&[0.5, 0.5], 3), [2, 1]);
        assert_eq!(apportion(&[0.8, 0.1, 0.1], 7).iter().sum::<usize>(), 7);
    }

    fn sessions<'a>(names: &'a [String], labels: &'a [String]) -> Vec<(&'a str, &'a str, &'a str)> {
        names.iter().zip(labels).map(|(n, l)| ("d", n.as_str(), l.as_str())).collect()
    }

    #[test]
    fn stratified_grouped_and_seeded() {
        let names: Vec<String> = (0..40).map(|i| format!("s{i}")).collect();
        let labels: Vec<String> = (0..40).map(|i| if i % 4 == 0 { "rare" } else { "common" }.to_string()).collect();
        let sessions = sessions(&names, &labels);
        let spec = SplitSpec::parse("train=0.9,val=0.1").unwrap();
        let a = assign(&spec, Method::Stratified, 7, sessions.iter().copied());
        assert_eq!(a, assign(&spec, Method::Stratified, 7, sessions.iter().copied()));
        assert_ne!(a, assign(&spec, Method::Stratified, 8, sessions.iter().copied()));
        let val = |label: &str| (0..40).filter(|&i| a[i] == 1 && sessions[i].2 == label).count();
        assert_eq!((val("rare"), val("common")), (1, 3));
        // The order sessions are listed in does not matter.
        let mut reversed = sessions.clone();
        reversed.reverse();
        let b = assign(&spec, Method::Stratified, 7, reversed.iter().copied());
        assert!((0..40).all(|i| a[i] == b[39 - i]));
    }

    #[test]
    fn many_small_strata_still_fill_every_split() {
        // 20 sessions in 10 strata of 2: per-stratum rounding would give val nothing.
        let names: Vec<String> = (0..20).map(|i| format!("s{i}")).collect();
        let labels: Vec<String> = (0..20).map(|i| format!("label{}", i % 10)).collect();
        let spec = SplitSpec::parse("train=0.9,val=0.1").unwrap();
        let a = assign(&spec, Method::Stratified, 1, sessions(&names, &labels).iter().copied());
        assert_eq!(a.iter().filter(|&&s| s == 1).count(), 2);
        assert_eq!(a.len(), 20);
    }

    #[test]
    fn a_hashed_split_never_moves_a_recording_when_the_corpus_grows() {
        let spec = SplitSpec::parse("train=0.8,val=0.1,test=0.1").unwrap();
        let names: Vec<String> = (0..5000).map(|i| format!("subject{}_run{i}", i % 30)).collect();
        let labels = vec!["x".to_string(); names.len()];
        let all = sessions(&names, &labels);
        let before = assign(&spec, Method::Hash, 3, all[..4000].iter().copied());
        let after = assign(&spec, Method::Hash, 3, all.iter().copied());
        assert_eq!(before, after[..4000]);
        // In proportion, within sampling noise (5000 draws: sd of the val share about 0.004).
        let share = |k: usize| after.iter().filter(|&&s| s == k).count() as f64 / after.len() as f64;
        assert!((share(0) - 0.8).abs() < 0.02 && (share(1) - 0.1).abs() < 0.015 && (share(2) - 0.1).abs() < 0.015);
        // The seed and the dataset take part; the order does not.
        assert_ne!(after, assign(&spec, Method::Hash, 4, all.iter().copied()));
        let other: Vec<_> = all.iter().map(|&(_, s, l)| ("other", s, l)).collect();
        assert_ne!(after, assign(&spec, Method::Hash, 3, other.iter().copied()));
    }
}
