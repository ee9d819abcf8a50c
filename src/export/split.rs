//! Train/validation splits: grouped by session (a session's threads never sit in two
//! splits, or the model would be evaluated on recordings it trained on) and stratified
//! by dataset and label (every split sees each class in proportion).

use std::collections::{BTreeMap, HashMap};

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

/// A session, identified within its dataset.
pub type SessionKey = (String, String);

/// Which split each session goes to (index into `spec.parts`). `sessions` maps each
/// session to its stratum (dataset, label). Deterministic in `seed` and the set of sessions.
pub fn assign(spec: &SplitSpec, seed: u64, sessions: &HashMap<SessionKey, String>) -> HashMap<SessionKey, usize> {
    let mut strata: BTreeMap<(&str, &str), Vec<(u64, &SessionKey)>> = BTreeMap::new();
    for (key, label) in sessions {
        strata.entry((key.0.as_str(), label.as_str())).or_default().push((rank(seed, key), key));
    }
    let mut out = HashMap::with_capacity(sessions.len());
    for (_, mut members) in strata {
        members.sort();
        let counts = apportion(&spec.parts.iter().map(|(_, r)| *r).collect::<Vec<_>>(), members.len());
        let mut members = members.into_iter();
        for (split, n) in counts.into_iter().enumerate() {
            for (_, key) in members.by_ref().take(n) {
                out.insert(key.clone(), split);
            }
        }
    }
    out
}

/// A seeded pseudo-random rank of a session, stable across platforms and versions.
fn rank(seed: u64, key: &SessionKey) -> u64 {
    let mut h = Sha256::new();
    h.update(seed.to_le_bytes());
    h.update(key.0.as_bytes());
    h.update([0]);
    h.update(key.1.as_bytes());
    let digest = h.finalize();
    u64::from_le_bytes(digest[..8].try_into().expect("8 bytes"))
}

/// Split `n` items by `ratios` (largest remainder; ties go to the earlier split).
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
        assert_eq!(apportion(&[0.5, 0.5], 3), [2, 1]);
        assert_eq!(apportion(&[0.8, 0.1, 0.1], 7).iter().sum::<usize>(), 7);
    }

    #[test]
    fn stratified_grouped_and_seeded() {
        let mut sessions = HashMap::new();
        for i in 0..40 {
            let label = if i % 4 == 0 { "rare" } else { "common" };
            sessions.insert(("d".to_string(), format!("s{i}")), label.to_string());
        }
        let spec = SplitSpec::parse("train=0.9,val=0.1").unwrap();
        let a = assign(&spec, 7, &sessions);
        assert_eq!(a, assign(&spec, 7, &sessions));
        assert_ne!(a, assign(&spec, 8, &sessions));
        let val_rare = a.iter().filter(|(k, &s)| s == 1 && sessions[*k] == "rare").count();
        let val_common = a.iter().filter(|(k, &s)| s == 1 && sessions[*k] == "common").count();
        assert_eq!((val_rare, val_common), (1, 3));
    }
}
