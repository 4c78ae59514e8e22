//! Version numbers as Kamal compares them (RubyGems' order): `minimum_version` in deploy.yml and
//! kamal-proxy's minimum version.

/// `v1.2.3` or `1.2.3` as numbers; `None` when a part is not a number (`latest`, `1.2-rc1`).
pub fn numeric_segments(version: &str) -> Option<Vec<u64>> {
    version
        .trim()
        .trim_start_matches('v')
        .split('.')
        .map(|segment| segment.parse::<u64>().ok())
        .collect()
}

/// True when `version` is older than `other` as RubyGems orders them (`v0.8.10` < `v0.9.2`,
/// missing parts are zeros, a pre-release `-rc1` comes before its release); `false` when either
/// is not a version (`latest`): nothing is refused on a guess.
pub fn is_older(version: &str, other: &str) -> bool {
    let (version, mine_pre) = version
        .split_once('-')
        .map_or((version, false), |(v, _)| (v, true));
    let (other, theirs_pre) = other
        .split_once('-')
        .map_or((other, false), |(v, _)| (v, true));
    let (Some(mut mine), Some(mut theirs)) = (numeric_segments(version), numeric_segments(other))
    else {
        return false;
    };
    let width = mine.len().max(theirs.len());
    mine.resize(width, 0);
    theirs.resize(width, 0);
    mine < theirs || (mine == theirs && mine_pre && !theirs_pre)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_numerically_and_anything_else_is_not_older() {
        assert!(is_older("v0.8.10", "v0.9.2"));
        assert!(is_older("0.9", "v0.9.2"));
        assert!(!is_older("v0.9.2", "0.9.2.0"));
        assert!(!is_older("v0.10.0", "v0.9.2"));
        assert!(!is_older("latest", "v0.9.2"));
        assert!(is_older("v0.8.0-rc1", "v0.9.2"));
        assert!(is_older("v0.9.2-rc1", "v0.9.2"));
    }
}
