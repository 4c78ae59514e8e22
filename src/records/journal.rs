//! gantry's journal: what a run set out to do on a host, and whether it finished.
//!
//! Before its first change on a host, `apply` writes `.kamal/apps/<svc[-dest]>/gantry/
//! journal.json` there (status `running`, the actions planned for that host); when it ends it
//! writes the final status. A run killed in between (`kill -9`, a lost laptop) leaves `running`
//! behind, and every container it created carries its run id (label `gantry.run`): the next plan
//! names the interrupted run and what it left, and plans the completion or cleanup like any
//! other difference. Kamal ignores the file.
//!
//! The journal also names every host the service has been deployed to ([`Journal::deployed_hosts`]):
//! the hosts deploy.yml had at the run, plus those earlier journals named. A host removed from
//! deploy.yml keeps its containers (neither gantry nor Kamal cleans a host it no longer knows), so
//! `gantry drift` reads this list from any reachable host to find such orphaned hosts.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::host::{Host, HostError};
use crate::naming::ServiceNames;
use crate::observe::Observed;

/// How a run ended on a host, as far as the journal knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Started and not (yet) finished: still running, or interrupted.
    Running,
    Converged,
    RolledBack,
    Failed,
    Cancelled,
}

/// One run's record on one host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    pub run: String,
    pub command: String,
    pub by: String,
    pub version: String,
    pub started_at: String,
    pub status: RunStatus,
    /// The actions planned for this host, as the plan described them.
    pub actions: Vec<String>,
    pub finished_at: Option<String>,
    /// Rewritten while the run is alive: a `running` journal whose heartbeat stopped belongs to
    /// a run that was killed, and its deploy lock is stale. For people: the silence itself is
    /// judged by the file's age on the lock host (`lock::abandoned_run`), not by this time.
    #[serde(default)]
    pub heartbeat_at: Option<String>,
    /// Every host the service was deployed to as far as gantry knows, sorted: this run's
    /// deploy.yml hosts and the hosts earlier journals named (see [`deployed_hosts`]). Empty in
    /// journals written before gantry recorded it.
    #[serde(default)]
    pub deployed_hosts: Vec<String>,
}

impl Journal {
    /// Reads a journal; anything unreadable is treated as no journal.
    pub fn parse(text: &str) -> Option<Journal> {
        serde_json::from_str(text).ok()
    }

    /// True when the run never wrote its end.
    pub fn unfinished(&self) -> bool {
        self.status == RunStatus::Running
    }
}

/// A run silent for this long is taken for dead (`GANTRY_STALE_LOCK_SECONDS` changes it).
pub const ABANDONED_AFTER: std::time::Duration = std::time::Duration::from_secs(60);

/// The range `GANTRY_STALE_LOCK_SECONDS` accepts: 0 would call every run dead at once (and
/// make the heartbeat spin), and beyond a day a killed run's lock is never taken over in
/// practice (and the arithmetic on it could overflow).
pub const STALE_LOCK_SECONDS: std::ops::RangeInclusive<u64> = 1..=86_400;

/// Why a `GANTRY_STALE_LOCK_SECONDS` value is refused.
#[derive(Debug, thiserror::Error)]
#[error(
    "GANTRY_STALE_LOCK_SECONDS={value:?} is not a whole number of seconds from {} to {}",
    STALE_LOCK_SECONDS.start(),
    STALE_LOCK_SECONDS.end()
)]
pub struct StaleLockSettingError {
    pub value: String,
}

/// How long a run must be silent before its lock counts as stale: `setting`
/// (`GANTRY_STALE_LOCK_SECONDS`) when given, else [`ABANDONED_AFTER`].
pub fn abandoned_after(
    setting: Option<&str>,
) -> Result<std::time::Duration, StaleLockSettingError> {
    let Some(value) = setting else {
        return Ok(ABANDONED_AFTER);
    };
    value
        .trim()
        .parse::<u64>()
        .ok()
        .filter(|seconds| STALE_LOCK_SECONDS.contains(seconds))
        .map(std::time::Duration::from_secs)
        .ok_or_else(|| StaleLockSettingError {
            value: value.to_string(),
        })
}

/// How often a run rewrites its heartbeat, given when silence means death: six beats per
/// period, so a slow host or two missed writes never make a live run look dead.
pub fn heartbeat_interval(abandoned_after: std::time::Duration) -> std::time::Duration {
    abandoned_after / 6
}

/// The hosts a run records as deployed: `configured` (every host of deploy.yml, whatever
/// `--hosts` selected) and every host named by a journal observed on a reachable host, sorted
/// and without duplicates. Hosts are carried forward so that one removed from deploy.yml stays
/// known after later runs; `gantry drift` connects to it to tell whether it still runs the app.
///
/// A journal is a file on a host, so anyone with access to that host can write it: a recorded
/// name is kept only if it passes the check deploy.yml's hosts pass
/// ([`crate::config::invalid_host_reason`]), since it becomes an SSH argument and may be
/// substituted into `ProxyCommand`. Others are dropped with a warning.
pub fn deployed_hosts(configured: &[String], observed: &Observed) -> Vec<String> {
    let recorded = observed
        .hosts
        .values()
        .filter_map(|host| Journal::parse(host.state()?.journal.as_deref()?))
        .flat_map(|journal| journal.deployed_hosts)
        .filter(|host| match crate::config::invalid_host_reason(host) {
            None => true,
            Some(reason) => {
                tracing::warn!(
                    host = %host.escape_debug(),
                    "ignoring a host named by a journal: {reason}"
                );
                false
            }
        });
    configured
        .iter()
        .cloned()
        .chain(recorded)
        .collect::<BTreeSet<String>>()
        .into_iter()
        .collect()
}

/// Writes the journal to a host (0644: it holds no secrets).
pub async fn write(
    host: &dyn Host,
    names: &ServiceNames,
    journal: &Journal,
) -> Result<(), HostError> {
    host.write_file(&names.journal(), text(journal).as_bytes(), JOURNAL_MODE)
        .await
}

/// The journal file's permission bits.
pub const JOURNAL_MODE: u32 = 0o644;

/// The journal as its file holds it.
pub fn text(journal: &Journal) -> String {
    serde_json::to_string_pretty(journal).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::fake_host::{FakeHost, FakeRegistry};

    #[tokio::test]
    async fn journal_round_trip() {
        let host = FakeHost::new("h1", FakeRegistry::default());
        let names = ServiceNames::new("app", None);
        let journal = Journal {
            run: "r1".into(),
            command: "apply".into(),
            by: "jane".into(),
            version: "v2".into(),
            started_at: "2026-11-26T10:00:00Z".into(),
            status: RunStatus::Running,
            actions: vec!["run app-web-v2".into()],
            finished_at: None,
            heartbeat_at: Some("2026-11-26T10:00:30Z".into()),
            deployed_hosts: vec!["h1".into(), "h2".into()],
        };
        write(&host, &names, &journal).await.unwrap();
        let (bytes, _) = host.file(".kamal/apps/app/gantry/journal.json").unwrap();
        let read = Journal::parse(&String::from_utf8(bytes).unwrap()).unwrap();
        assert_eq!(read, journal);
        assert!(read.unfinished());
        assert_eq!(Journal::parse("not json"), None);
    }

    #[test]
    fn the_stale_lock_setting_is_bounded() {
        use std::time::Duration;
        assert_eq!(abandoned_after(None).unwrap(), ABANDONED_AFTER);
        assert_eq!(abandoned_after(Some("2")).unwrap(), Duration::from_secs(2));
        assert_eq!(
            abandoned_after(Some("86400")).unwrap(),
            Duration::from_secs(86_400)
        );
        for refused in [
            "0",
            "86401",
            "18446744073709551615",
            "-5",
            "1.5",
            "",
            "sixty",
        ] {
            let error = abandoned_after(Some(refused)).unwrap_err();
            assert_eq!(
                error.to_string(),
                format!(
                    "GANTRY_STALE_LOCK_SECONDS={refused:?} is not a whole number of seconds from 1 to 86400"
                )
            );
        }
    }

    #[test]
    fn deployed_hosts_carry_removed_hosts_forward() {
        let config = crate::testing::config(&["h1", "h2"]);
        let mut observed = crate::testing::observed_of(&crate::testing::desired(&config, "v1"));
        let journal = serde_json::json!({
            "run": "r1", "command": "apply", "by": "jane", "version": "v1",
            "started_at": "2026-11-26T10:00:00Z", "status": "converged", "actions": [],
            "finished_at": null, "deployed_hosts": ["h1", "h2", "h3"],
        });
        crate::testing::state_mut(&mut observed, "h2").journal = Some(journal.to_string());
        // A journal from before the field existed reads as naming no host.
        let old = serde_json::json!({
            "run": "r0", "command": "apply", "by": "jane", "version": "v0",
            "started_at": "2026-11-25T10:00:00Z", "status": "converged", "actions": [],
            "finished_at": null,
        });
        crate::testing::state_mut(&mut observed, "h1").journal = Some(old.to_string());
        assert_eq!(
            deployed_hosts(&["h2".into(), "h1".into(), "h4".into()], &observed),
            vec!["h1", "h2", "h3", "h4"]
        );
    }
}
