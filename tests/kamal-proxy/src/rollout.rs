//! Rollouts: a second group of targets that chosen requests go to (kamal-proxy v0.9.2's
//! `RolloutController`).
//!
//! A request belongs to the rollout group when its `kamal-rollout` cookie has a value that is
//! on the allowlist, or whose 32-bit FNV-1a hash falls within the first `percentage` percent of
//! the hash range. Without the cookie, a request goes to the active targets.

use serde::{Deserialize, Serialize};

/// The cookie whose value decides a request's group.
pub const ROLLOUT_COOKIE: &str = "kamal-rollout";

/// The split, as the state file stores it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RolloutController {
    pub percentage: u8,
    pub percentage_split_point: f64,
    pub allowlist: Vec<String>,
}

impl RolloutController {
    /// The split for `percentage` percent plus the `allowlist` values.
    pub fn new(percentage: u8, allowlist: Vec<String>) -> RolloutController {
        RolloutController {
            percentage,
            percentage_split_point: f64::from(u32::MAX) * (f64::from(percentage) / 100.0),
            allowlist,
        }
    }

    /// True when a request with this `kamal-rollout` cookie value goes to the rollout group.
    pub fn uses_rollout(&self, cookie_value: &str) -> bool {
        if cookie_value.is_empty() {
            return false;
        }
        self.allowlist.iter().any(|allowed| allowed == cookie_value)
            || f64::from(fnv1a_32(cookie_value.as_bytes())) <= self.percentage_split_point
    }
}

/// Go's `hash/fnv` 32-bit FNV-1a.
fn fnv1a_32(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5, |hash, &byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    })
}

/// The `kamal-rollout` value among a request's `Cookie` headers, if any.
pub fn rollout_cookie<'a>(cookie_headers: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    cookie_headers
        .flat_map(|header| header.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == ROLLOUT_COOKIE)
        .map(|(_, value)| value.trim_matches('"'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_go() {
        // Reference values of FNV-1a 32 (the algorithm's published test vectors).
        assert_eq!(fnv1a_32(b""), 0x811c_9dc5);
        assert_eq!(fnv1a_32(b"a"), 0xe40c_292c);
        assert_eq!(fnv1a_32(b"foobar"), 0xbf9c_f968);
    }

    #[test]
    fn the_allowlist_and_the_percentage_pick_the_rollout_group() {
        let none = RolloutController::new(0, vec!["beta".into()]);
        assert!(none.uses_rollout("beta"));
        assert!(!none.uses_rollout("someone"));
        assert!(!none.uses_rollout(""));
        let all = RolloutController::new(100, Vec::new());
        assert!(all.uses_rollout("someone"));
        assert!(!all.uses_rollout(""), "no cookie, no rollout");
        assert_eq!(all.percentage_split_point, 4_294_967_295.0);
    }

    #[test]
    fn finds_the_cookie_among_others() {
        let headers = ["a=1; kamal-rollout=beta", "c=3"];
        assert_eq!(rollout_cookie(headers.into_iter()), Some("beta"));
        assert_eq!(rollout_cookie(["a=1"].into_iter()), None);
    }
}
