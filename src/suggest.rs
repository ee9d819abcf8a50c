//! "Did you mean …?" for names a person types: datasets, tools, sessions.

/// The candidate closest to `word`, when it is close enough to be a likely typo.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(&word.to_lowercase(), &c.to_lowercase()), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// ` (did you mean X?)`, or nothing.
pub fn hint<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    closest(word, candidates).map_or(String::new(), |c| format!(" (did you mean {c}?)"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn typos_find_their_word() {
        assert_eq!(super::closest("basic_motion", ["basic_motions", "uci_har"]), Some("basic_motions"));
        assert_eq!(super::closest("compute_feature", ["compute_features", "filter_by_time"]), Some("compute_features"));
        assert_eq!(super::closest("zzz", ["basic_motions"]), None);
    }
}
