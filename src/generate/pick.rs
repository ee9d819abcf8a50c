//! Which recordings new threads are about: seeded, optionally balanced over labels, and
//! only sessions that have data and a label.

use std::collections::BTreeMap;

use crate::data_root::DataRoot;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pick {
    pub dataset: String,
    pub session: String,
    pub ground_truth: String,
}

/// The label vocabulary of a dataset: every ground-truth label, sorted, once.
pub fn vocabulary(root: &DataRoot, dataset: &str) -> Result<Vec<String>, String> {
    let d = root.dataset(dataset);
    let d = d.as_ref().as_ref().map_err(Clone::clone)?;
    let mut labels: Vec<String> = d.labels.iter().flat_map(|l| l.values()).filter_map(|v| v.first().cloned()).collect();
    labels.sort();
    labels.dedup();
    if labels.is_empty() {
        return Err(format!("dataset {dataset:?} has no labels.json (or it is empty): threads need a ground truth"));
    }
    Ok(labels)
}

/// `count` picks. With `balance`, labels take turns (in a seeded order) and each gets
/// sessions of its own; otherwise sessions are drawn uniformly.
pub fn pick(root: &DataRoot, datasets: &[String], count: usize, seed: u64, balance: bool) -> Result<Vec<Pick>, String> {
    let mut rng = fastrand::Rng::with_seed(seed);
    // dataset → label → sessions (sorted, so the same seed gives the same picks).
    let mut pools: Vec<(String, BTreeMap<String, Vec<String>>)> = Vec::new();
    for name in datasets {
        let d = root.dataset(name);
        let d = d.as_ref().as_ref().map_err(|e| format!("dataset {name:?}: {e}"))?;
        let mut by_label: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (session, labels) in d.labels.iter().flatten() {
            let has_data = crate::dataset::layout::session_file(&d.dir, session).is_ok_and(|p| p.is_file());
            if let (Some(label), true) = (labels.first(), has_data) {
                by_label.entry(label.clone()).or_default().push(session.clone());
            }
        }
        by_label.values_mut().for_each(|s| s.sort());
        if by_label.is_empty() {
            return Err(format!("dataset {name:?} has no labelled session with data"));
        }
        pools.push((name.clone(), by_label));
    }
    if pools.is_empty() {
        return Err(
            "no dataset to generate from: point --data-root at a folder of datasets, or name them with --dataset"
                .into(),
        );
    }
    let mut picks = Vec::with_capacity(count);
    for i in 0..count {
        let (dataset, by_label) = &pools[rng.usize(..pools.len())];
        let labels: Vec<&String> = by_label.keys().collect();
        let (label, sessions) = if balance {
            let label = labels[i % labels.len()];
            (label, &by_label[label])
        } else {
            let all: usize = by_label.values().map(Vec::len).sum();
            let mut k = rng.usize(..all);
            let mut found = None;
            for (l, s) in by_label {
                if k < s.len() {
                    found = Some((l, s));
                    break;
                }
                k -= s.len();
            }
            found.expect("k < total")
        };
        let session = sessions[rng.usize(..sessions.len())].clone();
        picks.push(Pick { dataset: dataset.clone(), session, ground_truth: label.clone() });
    }
    Ok(picks)
}

/// A new thread id (`<dataset>_<session>_v4_<nnnn>`) not used by any file in `dir` nor in `taken`.
pub fn new_id(
    dir: &std::path::Path,
    p: &Pick,
    rng: &mut fastrand::Rng,
    taken: &mut std::collections::HashSet<String>,
) -> String {
    let mut id = format!("{}_{}_v4_{:04}", p.dataset, p.session, rng.u32(..10_000));
    // Random first, then counting up: bounded however full the folder is.
    for attempt in 0.. {
        let file = format!("{id}.json");
        let free = !dir.join(&file).exists() && !super::gate::rejected_dir(dir).join(&file).exists();
        if free && taken.insert(id.clone()) {
            break;
        }
        id = if attempt < 100 {
            format!("{}_{}_v4_{:04}", p.dataset, p.session, rng.u32(..10_000))
        } else {
            next_id(&id)
        };
    }
    id
}

/// The id after `id`: its trailing number plus one (`x_v4_0042` → `x_v4_0043`, `x_v4_9999` → `x_v4_10000`).
pub fn next_id(id: &str) -> String {
    match id.rsplit_once("_v4_") {
        Some((stem, n)) if n.bytes().all(|b| b.is_ascii_digit()) && !n.is_empty() => {
            let next = n.parse::<u64>().map_or(0, |v| v.saturating_add(1));
            format!("{stem}_v4_{next:0width$}", width = n.len().max(4))
        }
        _ => format!("{id}_v4_0001"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> DataRoot {
        DataRoot::new(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/datasets"))
    }

    #[test]
    fn next_ids_count_up() {
        assert_eq!(next_id("a_s_v4_0042"), "a_s_v4_0043");
        assert_eq!(next_id("a_s_v4_9999"), "a_s_v4_10000");
        assert_eq!(next_id("odd"), "odd_v4_0001");
    }

    #[test]
    fn seeded_and_balanced() {
        let r = root();
        let ds = r.datasets();
        assert_eq!(ds, ["basic_motions"]);
        let a = pick(&r, &ds, 8, 3, true).unwrap();
        assert_eq!(a, pick(&r, &ds, 8, 3, true).unwrap());
        let mut labels: Vec<&str> = a.iter().map(|p| p.ground_truth.as_str()).collect();
        labels.sort();
        assert_eq!(
            labels,
            ["Badminton", "Badminton", "Running", "Running", "Standing", "Standing", "Walking", "Walking"]
        );
        assert_eq!(vocabulary(&r, "basic_motions").unwrap(), ["Badminton", "Running", "Standing", "Walking"]);
    }
}
