//! Which versions the hosts can run again: what `gantry rollback` chooses from.
//!
//! A version can be rolled back to when every role on every host still has its container
//! (retained, stopped, after a later deploy): rolling back then only starts containers, with no
//! pull. Pure, over the observed state.

use std::collections::{BTreeMap, BTreeSet};

use crate::naming::{LABEL_ROLE, ServiceNames};
use crate::observe::{Observed, ObservedHost};

/// The versions found on the hosts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Versions {
    /// Per version: the `(host, role)` pairs that have its container, and its newest creation.
    pub available: BTreeMap<String, VersionCopies>,
    /// Per host and role, the version running now.
    pub running: BTreeMap<(String, String), String>,
    /// Every `(host, role)` pair that has app containers at all.
    pub places: BTreeSet<(String, String)>,
}

/// Where one version's containers are.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VersionCopies {
    pub places: BTreeSet<(String, String)>,
    /// RFC 3339 creation time of its newest container, for ordering.
    pub newest: String,
}

impl Versions {
    /// Reads versions off the observed app containers (`_replaced_` copies are not versions,
    /// nor a version that failed to boot and was kept stopped beside the one serving).
    pub fn from_observed(observed: &Observed, names: &ServiceNames) -> Versions {
        let mut versions = Versions::default();
        for (host, observed_host) in &observed.hosts {
            let ObservedHost::Reachable(state) = observed_host else {
                continue;
            };
            for container in &state.app_containers {
                let Some(role) = container.details.labels.get(LABEL_ROLE) else {
                    continue;
                };
                let Some(version) = names.version_of(role, &container.details.name) else {
                    continue;
                };
                if version.contains("_replaced_") {
                    continue;
                }
                let failed_boot = state.app_containers.iter().any(|serving| {
                    serving.details.labels.get(LABEL_ROLE) == Some(role)
                        && container.failed_to_take_over(serving)
                });
                if failed_boot {
                    continue;
                }
                let place = (host.clone(), role.clone());
                versions.places.insert(place.clone());
                if container.details.status.is_live() {
                    versions.running.insert(place.clone(), version.to_string());
                }
                let copies = versions.available.entry(version.to_string()).or_default();
                copies.places.insert(place);
                if container.details.created > copies.newest {
                    copies.newest = container.details.created.clone();
                }
            }
        }
        versions
    }

    /// The `(host, role)` pairs lacking `version`'s container.
    pub fn missing(&self, version: &str) -> Vec<(String, String)> {
        let have = self.available.get(version).map(|copies| &copies.places);
        self.places
            .iter()
            .filter(|place| !have.is_some_and(|have| have.contains(*place)))
            .cloned()
            .collect()
    }

    /// Versions every host and role can run again, newest first.
    pub fn complete(&self) -> Vec<String> {
        let mut complete: Vec<(&String, &VersionCopies)> = self
            .available
            .iter()
            .filter(|(version, _)| self.missing(version).is_empty())
            .collect();
        complete.sort_by(|a, b| b.1.newest.cmp(&a.1.newest).then_with(|| b.0.cmp(a.0)));
        complete
            .into_iter()
            .map(|(version, _)| version.clone())
            .collect()
    }

    /// The previous version: the newest complete one that is not what runs now (kamal#1658).
    pub fn previous(&self) -> Option<String> {
        let current: BTreeSet<&String> = self.running.values().collect();
        self.complete()
            .into_iter()
            .find(|version| !current.contains(version))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::ContainerStatus;
    use crate::testing::{self, observed_of, state_mut};

    #[test]
    fn the_previous_version_is_the_newest_one_retained_everywhere() {
        let config = testing::config(&["h1", "h2"]);
        let names = ServiceNames::for_config(&config);
        let mut observed = observed_of(&testing::desired(&config, "v3"));
        for host in ["h1", "h2"] {
            let state = state_mut(&mut observed, host);
            let template = state.app_containers[0].clone();
            for (index, version) in ["v2", "v1"].iter().enumerate() {
                let mut old = template.clone();
                old.details.name = format!("app-web-{version}");
                old.details.id = testing::id(10 + index as u32);
                old.details.status = ContainerStatus::Exited;
                old.details.created = format!("2026-01-0{}T00:00:00Z", 2 - index);
                state.app_containers.push(old);
            }
            state.app_containers[0].details.created = "2026-01-03T00:00:00Z".into();
        }
        // v2 is gone from h2: only v1 (and the running v3) are everywhere.
        state_mut(&mut observed, "h2")
            .app_containers
            .retain(|c| c.details.name != "app-web-v2");
        let versions = Versions::from_observed(&observed, &names);
        assert_eq!(versions.complete(), vec!["v3", "v1"]);
        assert_eq!(versions.previous().as_deref(), Some("v1"));
        assert_eq!(
            versions.missing("v2"),
            vec![("h2".to_string(), "web".to_string())]
        );
        assert!(versions.missing("v1").is_empty());
    }

    #[test]
    fn a_version_that_failed_to_boot_is_not_one_to_roll_back_to() {
        let config = testing::config(&["h1"]);
        let names = ServiceNames::for_config(&config);
        let mut observed = observed_of(&testing::desired(&config, "v2"));
        let state = state_mut(&mut observed, "h1");
        state.app_containers[0].details.started_at = "2026-01-02T00:00:00Z".into();
        let mut failed = state.app_containers[0].clone();
        failed.details.name = "app-web-v3".into();
        failed.details.id = testing::id(10);
        failed.details.status = ContainerStatus::Exited;
        failed.details.started_at = "2026-01-03T00:00:00.5Z".into();
        let mut retained = failed.clone();
        retained.details.name = "app-web-v1".into();
        retained.details.id = testing::id(11);
        retained.details.started_at = "2026-01-01T00:00:00Z".into();
        state.app_containers.extend([failed, retained]);
        let versions = Versions::from_observed(&observed, &names);
        assert_eq!(versions.previous().as_deref(), Some("v1"));
        assert!(!versions.available.contains_key("v3"));
    }
}
