//! Orphaned hosts: hosts deploy.yml no longer names that still run the app.
//!
//! Neither gantry nor Kamal touches a host once it leaves deploy.yml, so its containers keep
//! running the old version (and may still take traffic). gantry's journal names every host the
//! service was deployed to (`journal::deployed_hosts`); [`former_hosts`] reads those lists from
//! every reachable host and keeps the hosts deploy.yml no longer has. [`check_former_hosts`] then
//! connects to each and lists the app's containers, read-only:
//!
//! - containers found: `orphaned_host`, with the containers as evidence;
//! - none: not drift (the host was cleaned, or reused for something else);
//! - no answer: `orphaned_host` too, "could not be checked": a host that may still serve an old
//!   version is worth a look; a decommissioned one is silenced with an ignore pattern.
//!
//! Connecting, rather than trusting the journal alone, is what lets a cleaned host drop out of
//! the report without anyone editing a list; the cost is one SSH connection per former host,
//! made in parallel, only when journals name such hosts. Hosts deployed only by Kamal have no
//! journal, so their removal is not seen.

use std::collections::BTreeSet;
use std::sync::Arc;

use futures_util::future::join_all;

use crate::drift::{DriftClass, DriftItem};
use crate::host::{ContainerFilter, Host};
use crate::naming::{LABEL_ROLE, ServiceNames};
use crate::observe::Observed;

/// Hosts that journals on the observed hosts name as deployed and that are not in
/// `configured` (every host of deploy.yml), sorted.
pub fn former_hosts(observed: &Observed, configured: &[String]) -> Vec<String> {
    let configured: BTreeSet<&String> = configured.iter().collect();
    crate::records::journal::deployed_hosts(&[], observed)
        .into_iter()
        .filter(|host| !configured.contains(host))
        .collect()
}

/// One former host, connected or why not.
pub type FormerHost = (String, Result<Arc<dyn Host>, String>);

/// Lists this service's app containers on each former host (in parallel, read-only) and returns
/// an `orphaned_host` item for each host that has some or that could not be checked.
pub async fn check_former_hosts(names: &ServiceNames, hosts: Vec<FormerHost>) -> Vec<DriftItem> {
    // Any role: the host's roles are no longer in deploy.yml either.
    let mut labels = names.app_filters(None);
    labels.push(LABEL_ROLE.to_string());
    let filter = ContainerFilter::labels(labels);
    let checks = hosts.into_iter().map(|(name, connection)| {
        let filter = filter.clone();
        async move {
            let listed = match connection {
                Ok(host) => host
                    .list_containers(&filter)
                    .await
                    .map_err(|error| error.to_string()),
                Err(reason) => Err(reason),
            };
            orphan_item(&name, listed)
        }
    });
    join_all(checks).await.into_iter().flatten().collect()
}

/// The item for one former host, from its container listing (`name`, state) or the reason it
/// could not be listed.
fn orphan_item(
    host: &str,
    listed: Result<Vec<crate::host::ContainerSummary>, String>,
) -> Option<DriftItem> {
    let (summary, details) = match listed {
        Ok(containers) if containers.is_empty() => return None,
        Ok(mut containers) => {
            containers.sort_by(|a, b| a.name.cmp(&b.name));
            let running = containers
                .iter()
                .filter(|container| container.state.is_live())
                .count();
            (
                format!(
                    "not in deploy.yml, but has {} container{} of this service ({running} running); \
                     stop them, or add the host back",
                    containers.len(),
                    if containers.len() == 1 { "" } else { "s" }
                ),
                containers
                    .iter()
                    .map(|container| format!("{} ({})", container.name, container.state))
                    .collect(),
            )
        }
        Err(reason) => (
            format!(
                "not in deploy.yml since a gantry run deployed it, and could not be checked ({reason}); \
                 it may still run the app — ignore `{host}` once it is decommissioned"
            ),
            Vec::new(),
        ),
    };
    Some(DriftItem {
        host: host.to_string(),
        address: host.to_string(),
        class: DriftClass::OrphanedHost,
        summary,
        details,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;
    use crate::testkit::world::FakeWorld;

    fn journal_naming(hosts: &[&str]) -> String {
        serde_json::json!({
            "run": "r1", "command": "apply", "by": "jane", "version": "v1",
            "started_at": "2026-11-26T10:00:00Z", "status": "converged", "actions": [],
            "finished_at": null, "deployed_hosts": hosts,
        })
        .to_string()
    }

    #[test]
    fn former_hosts_are_journal_hosts_that_deploy_yml_lost() {
        let config = testing::config(&["h1", "h2"]);
        let mut observed = testing::observed_of(&testing::desired(&config, "v1"));
        assert!(former_hosts(&observed, &config.all_hosts()).is_empty());
        testing::state_mut(&mut observed, "h1").journal = Some(journal_naming(&["h1", "h2", "h3"]));
        testing::state_mut(&mut observed, "h2").journal = Some(journal_naming(&["h2", "h4"]));
        assert_eq!(
            former_hosts(&observed, &config.all_hosts()),
            vec!["h3", "h4"]
        );
    }

    /// A journal is written by whoever can write files on a host: the names it lists must pass
    /// the host check deploy.yml's hosts pass before `drift` connects to them (#15).
    #[test]
    fn a_poisoned_journal_names_no_host_that_could_reach_a_shell() {
        let config = testing::config(&["h1"]);
        let mut observed = testing::observed_of(&testing::desired(&config, "v1"));
        testing::state_mut(&mut observed, "h1").journal = Some(journal_naming(&[
            "h1",
            "h2.example.com",
            "x;touch /tmp/pwned",
            "$(id)",
            "-oProxyCommand=sh",
            "a\nb",
            "evil\u{1b}[2J",
            "`id`",
            "",
        ]));
        assert_eq!(
            former_hosts(&observed, &config.all_hosts()),
            vec!["h2.example.com"]
        );
    }

    #[tokio::test]
    async fn a_former_host_is_orphaned_while_it_runs_the_app_or_cannot_be_checked() {
        let world = FakeWorld::of_service("app").hosts(["h3", "h4"]);
        let names = ServiceNames::new("app", None);
        let with_app = world.hosts["h3"].clone();
        let config = testing::config(&["h1"]);
        let desired = testing::desired(&config, "v1");
        let spec = &desired.hosts[0].apps[0].container;
        with_app.create_network("kamal").await.unwrap();
        with_app.pull_image(&spec.image, None).await.unwrap();
        let id = with_app.create_container(spec).await.unwrap();
        with_app.start_container(&id).await.unwrap();
        let cleaned = world.hosts["h4"].clone();
        let items = check_former_hosts(
            &names,
            vec![
                ("h3".into(), Ok(with_app as Arc<dyn Host>)),
                ("h4".into(), Ok(cleaned as Arc<dyn Host>)),
                ("h5".into(), Err("connection refused".into())),
            ],
        )
        .await;
        let found: Vec<(&str, DriftClass)> = items
            .iter()
            .map(|item| (item.address.as_str(), item.class))
            .collect();
        assert_eq!(
            found,
            vec![
                ("h3", DriftClass::OrphanedHost),
                ("h5", DriftClass::OrphanedHost)
            ]
        );
        assert_eq!(items[0].details, vec!["app-web-v1 (running)"]);
        assert!(
            items[0]
                .summary
                .contains("1 container of this service (1 running)")
        );
        assert!(items[1].summary.contains("connection refused"));
    }
}
