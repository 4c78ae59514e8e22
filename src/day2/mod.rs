//! Day-2 planners: the logic of the commands that change a running deployment, apart from the
//! command line. What `app stop`, `prune`, `remove`, `accessory ...` and `proxy ...` change, as
//! [`Changes`] the planner turns into an action graph (so they run with the executor's lock,
//! rollback, journal and audit), and the shell command lines `logs`, `exec` and `setup` run on
//! hosts.
//!
//! Everything here is pure: planners are functions of the desired and observed state, builders
//! of plain values; both are tested by exact equality. The CLI connects, observes, runs.
//!
//! - [`app`]: `app stop` and `app start`.
//! - [`cleanup`]: `prune` and `remove`.
//! - [`accessory`]: `accessory boot|reboot|start|stop|remove` and their details.
//! - [`proxy`]: `proxy boot|reboot|start|stop|remove` and details.
//! - [`proxy_boot_config`]: `proxy boot_config set|get|reset`, Kamal's boot files.
//! - [`shell`]: the `docker logs`, `docker run`/`docker exec` and bootstrap command lines.

pub mod accessory;
pub mod app;
pub mod cleanup;
pub mod proxy;
pub mod proxy_boot_config;
pub mod shell;

use crate::desired::{Desired, DesiredHost};
use crate::diff::{Change, ChangeKind, Changes, HostChanges, Reach, Reason, Resource, Work};
use crate::host::ContainerSummary;
use crate::naming::{LABEL_ROLE, ServiceNames};
use crate::observe::{HostState, Observed, ObservedHost};

/// Changes for every desired host, made by `host_changes` for the reachable ones; unreachable
/// hosts are carried as such, so the plan reports them.
pub fn per_host(
    desired: &Desired,
    observed: &Observed,
    mut host_changes: impl FnMut(&DesiredHost, &HostState) -> Vec<Change>,
) -> Changes {
    let hosts = desired
        .hosts
        .iter()
        .map(|host| {
            let (reach, changes) = match observed.hosts.get(&host.name) {
                Some(ObservedHost::Reachable(state)) => {
                    (Reach::Reachable, host_changes(host, state))
                }
                Some(ObservedHost::Unreachable { reason }) => (
                    Reach::Unreachable {
                        reason: reason.clone(),
                    },
                    Vec::new(),
                ),
                None => (
                    Reach::Unreachable {
                        reason: "not observed".to_string(),
                    },
                    Vec::new(),
                ),
            };
            HostChanges {
                host: host.name.clone(),
                reach,
                changes,
                notes: Vec::new(),
            }
        })
        .collect();
    Changes { hosts }
}

/// Only the changes `keep` accepts (notes go too: the command is not a full apply).
pub fn restrict(mut changes: Changes, keep: impl Fn(&Change) -> bool) -> Changes {
    for host in &mut changes.hosts {
        host.changes.retain(&keep);
        host.notes.clear();
    }
    changes
}

/// The reason of every change a command asks for by name.
pub fn requested(command: &str) -> Reason {
    Reason::Requested {
        command: command.to_string(),
    }
}

/// A change a command asks for.
pub fn change(resource: Resource, kind: ChangeKind, command: &str, work: Work) -> Change {
    Change {
        resource,
        kind,
        reason: requested(command),
        fields: Vec::new(),
        work,
    }
}

/// The version the app is at: the one most hosts run (see [`crate::drift::running_version`]),
/// else the newest app container's in any state (after `app stop` nothing runs). `None` when
/// the app has no container anywhere.
pub fn current_version(observed: &Observed, names: &ServiceNames) -> Option<String> {
    if let Some(version) = crate::drift::running_version(observed, names) {
        return Some(version);
    }
    observed
        .hosts
        .values()
        .filter_map(ObservedHost::state)
        .flat_map(|state| &state.app_containers)
        .filter_map(|container| {
            let role = container.details.labels.get(LABEL_ROLE)?;
            let version = names.version_of(role, &container.details.name)?;
            (!version.contains("_replaced_"))
                .then(|| (container.details.created.clone(), version.to_string()))
        })
        .max()
        .map(|(_, version)| version)
}

/// The container a role runs now on a host, from a listing of its containers: the newest
/// running (or restarting) one, as Kamal's `docker ps --latest --filter status=running` finds it.
pub fn current_container(containers: &[ContainerSummary]) -> Option<&ContainerSummary> {
    containers
        .iter()
        .filter(|container| container.state.is_live())
        .max_by(|a, b| a.created.cmp(&b.created).then_with(|| a.name.cmp(&b.name)))
}

#[cfg(test)]
mod tests;
