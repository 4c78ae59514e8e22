//! Canary rollouts: which hosts take a new version first, how long they are watched, and the
//! local command that judges them (`x-gantry: canary:`, `--canary`, `--canary-wait`,
//! `--canary-check`). Pure values; the planner turns them into the plan's canary stage.

use serde::Serialize;

/// How long canary hosts are watched when neither deploy.yml nor `--canary-wait` says.
pub const DEFAULT_CANARY_WAIT_SECONDS: u64 = 30;

/// Which hosts are the canaries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CanaryHosts {
    /// The first N hosts the deploy changes, in deploy.yml's order.
    Count(u32),
    /// N percent of the hosts the deploy changes, rounded up, at least one.
    Percent(u32),
    /// These hosts, by name.
    Named(Vec<String>),
}

/// A canary rollout: the canary hosts, the watch and the judge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Canary {
    pub hosts: CanaryHosts,
    /// Seconds the canaries serve the new version while their containers are watched.
    pub wait_seconds: u64,
    /// Run on the deploying machine once the wait is over; a non-zero exit fails the canary.
    pub check: Option<String>,
}

impl CanaryHosts {
    /// `3`, `25%` or `host1,host2`, as `--canary` takes it; `None` for anything else (zero,
    /// `0%`, more than `100%`, an empty host name).
    pub fn parse(text: &str) -> Option<CanaryHosts> {
        let text = text.trim();
        if let Some(number) = text.strip_suffix('%') {
            return number
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|percent| (1..=100).contains(percent))
                .map(CanaryHosts::Percent);
        }
        if text.chars().all(|c| c.is_ascii_digit()) {
            return text
                .parse::<u32>()
                .ok()
                .filter(|count| *count >= 1)
                .map(CanaryHosts::Count);
        }
        let names: Vec<String> = text
            .split(',')
            .map(|name| name.trim().to_string())
            .collect();
        if names.iter().any(String::is_empty) {
            return None;
        }
        Some(CanaryHosts::Named(names))
    }

    /// The canaries among `candidates` (the hosts a deploy changes, in order). More canaries
    /// than candidates makes every candidate a canary.
    pub fn select(&self, candidates: &[String]) -> Vec<String> {
        match self {
            CanaryHosts::Count(count) => candidates.iter().take(*count as usize).cloned().collect(),
            CanaryHosts::Percent(percent) => {
                let count = (candidates.len() * *percent as usize).div_ceil(100).max(1);
                candidates.iter().take(count).cloned().collect()
            }
            CanaryHosts::Named(names) => candidates
                .iter()
                .filter(|candidate| names.contains(candidate))
                .cloned()
                .collect(),
        }
    }
}

impl std::fmt::Display for CanaryHosts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CanaryHosts::Count(count) => write!(f, "{count}"),
            CanaryHosts::Percent(percent) => write!(f, "{percent}%"),
            CanaryHosts::Named(names) => f.write_str(&names.join(",")),
        }
    }
}

/// `30s`, `2m`, `1h30m` or a bare number of seconds, as `--canary-wait` and `wait:` take it.
pub fn parse_wait(text: &str) -> Option<u64> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(seconds);
    }
    humantime::parse_duration(text)
        .ok()
        .map(|duration| duration.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| name.to_string()).collect()
    }

    #[test]
    fn the_flag_takes_a_count_a_percentage_or_host_names() {
        assert_eq!(CanaryHosts::parse("2"), Some(CanaryHosts::Count(2)));
        assert_eq!(CanaryHosts::parse("25%"), Some(CanaryHosts::Percent(25)));
        assert_eq!(
            CanaryHosts::parse("h1, h3"),
            Some(CanaryHosts::Named(hosts(&["h1", "h3"])))
        );
        assert_eq!(CanaryHosts::parse("0"), None);
        assert_eq!(CanaryHosts::parse("0%"), None);
        assert_eq!(CanaryHosts::parse("101%"), None);
        assert_eq!(CanaryHosts::parse("h1,,h2"), None);
        assert_eq!(CanaryHosts::parse(""), None);
    }

    #[test]
    fn selection_takes_the_first_hosts_rounds_percentages_up_and_caps_at_every_host() {
        let all = hosts(&["h1", "h2", "h3", "h4"]);
        assert_eq!(CanaryHosts::Count(1).select(&all), hosts(&["h1"]));
        assert_eq!(CanaryHosts::Count(9).select(&all), all);
        assert_eq!(CanaryHosts::Percent(25).select(&all), hosts(&["h1"]));
        assert_eq!(CanaryHosts::Percent(30).select(&all), hosts(&["h1", "h2"]));
        assert_eq!(CanaryHosts::Percent(1).select(&all), hosts(&["h1"]));
        assert_eq!(
            CanaryHosts::Named(hosts(&["h3", "h9"])).select(&all),
            hosts(&["h3"])
        );
        assert!(CanaryHosts::Count(2).select(&[]).is_empty());
    }

    #[test]
    fn waits_are_durations_or_seconds() {
        assert_eq!(parse_wait("30s"), Some(30));
        assert_eq!(parse_wait("2m"), Some(120));
        assert_eq!(parse_wait("1m 30s"), Some(90));
        assert_eq!(parse_wait("45"), Some(45));
        assert_eq!(parse_wait("soon"), None);
    }
}
