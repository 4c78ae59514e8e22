//! `gantry prune` and `gantry remove`.
//!
//! Prune is the cleanup a deploy does at its end (Kamal's `prune all`): stopped containers of
//! each role beyond `retain_containers`, and this service's images no container uses, except the
//! current version and `latest`. Remove takes everything of this service (and destination) off
//! the selected hosts: routes, app and accessory containers, their images, env files and data
//! directories, `.kamal/apps/<svc[-dest]>`, and the proxy when no other app on the host still
//! uses it (Kamal counts the entries of `.kamal/apps`). The `kamal` network and the audit log
//! stay, as with Kamal.

use std::collections::BTreeMap;

use crate::desired::{Desired, DesiredHost};
use crate::diff::{
    self, Change, ChangeKind, Changes, DiffOptions, Reason, Resource, Work, container_ref,
};
use crate::naming::LABEL_ROLE;
use crate::observe::{HostState, Observed};

use super::{change, per_host, restrict};

/// What `prune` removes: Kamal's `prune all`, `prune containers` and `prune images`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PruneScope {
    /// Stopped containers beyond retention, and unused images.
    All,
    /// Stopped containers beyond retention only.
    Containers,
    /// Unused images only.
    Images,
}

impl PruneScope {
    /// Whether a change the diff made for `reason` is one this scope prunes.
    fn takes(self, reason: &Reason) -> bool {
        match reason {
            Reason::BeyondRetention { .. } => self != PruneScope::Images,
            Reason::Unused => self != PruneScope::Containers,
            _ => false,
        }
    }
}

/// `prune`: the retention and unused-image changes (as `scope` selects) of a plan for
/// `desired`'s version (the current one), `retain` stopped containers kept per role.
pub fn prune(desired: &Desired, observed: &Observed, retain: usize, scope: PruneScope) -> Changes {
    let mut desired = desired.clone();
    desired.retain_containers = retain;
    let changes = diff::diff(&desired, observed, DiffOptions::default());
    restrict(changes, |change| scope.takes(&change.reason))
}

/// The apps deployed on each host: the entries of `.kamal/apps` (see [`super::shell::list_apps`]);
/// a host whose listing failed has no entry.
pub type AppsOnHosts = BTreeMap<String, Vec<String>>;

/// `remove`: everything of this service on every selected host. `apps` says which apps each
/// host has; the proxy goes only where this service is known to be the last one (a host whose
/// apps are unknown keeps it).
pub fn remove(
    desired: &Desired,
    observed: &Observed,
    apps: &AppsOnHosts,
    command: &str,
) -> Changes {
    let names = &desired.names;
    let this_app = names.service_with_destination();
    per_host(desired, observed, |host, state| {
        let mut changes = route_removals(host, state, command);
        changes.extend(app_removals(state, command));
        for accessory in &host.accessories {
            changes.extend(super::accessory::removal(accessory, state, command));
        }
        changes.extend(image_removal(state, command));
        let mut paths = vec![names.app_dir(), names.proxy_apps_config_dir()];
        let others = apps
            .get(&host.name)
            .is_none_or(|apps| apps.iter().any(|app| *app != this_app));
        if let Some(proxy) = state.proxy.as_ref().filter(|_| !others) {
            changes.push(remove_containers(
                Resource::Proxy,
                vec![container_ref(proxy)],
                command,
            ));
            changes.push(change(
                Resource::Image {
                    reference: proxy.details.image.clone(),
                },
                ChangeKind::Remove,
                command,
                Work::RemoveImages {
                    references: vec![proxy.details.image.clone()],
                },
            ));
            paths = vec![names.app_dir(), ".kamal/proxy".to_string()];
        }
        changes.push(remove_paths(paths, command));
        changes
    })
}

/// The removal of every route of this service kamal-proxy has on the host: the ones deploy.yml
/// names and the ones sending traffic to the service's containers.
fn route_removals(host: &DesiredHost, state: &HostState, command: &str) -> Vec<Change> {
    let mut routes: Vec<String> = host
        .apps
        .iter()
        .filter_map(|app| app.route.as_ref())
        .chain(host.accessories.iter().filter_map(|a| a.route.as_ref()))
        .map(|route| route.service.clone())
        .collect();
    routes.extend(routes_to_service_containers(state));
    routes.sort();
    routes.dedup();
    routes
        .into_iter()
        .filter(|service| state.routes.iter().flatten().any(|r| r.service == *service))
        .map(|service| {
            change(
                Resource::Route {
                    service: service.clone(),
                },
                ChangeKind::Remove,
                command,
                Work::RemoveRoute { service },
            )
        })
        .collect()
}

/// The removal of the app's containers, one change per role.
fn app_removals(state: &HostState, command: &str) -> Vec<Change> {
    let mut roles: BTreeMap<String, Vec<_>> = BTreeMap::new();
    for container in &state.app_containers {
        let role = container
            .details
            .labels
            .get(LABEL_ROLE)
            .cloned()
            .unwrap_or_default();
        roles
            .entry(role)
            .or_default()
            .push(container_ref(container));
    }
    roles
        .into_iter()
        .map(|(role, containers)| remove_containers(Resource::App { role }, containers, command))
        .collect()
}

/// The removal of the service's images, by tag (by id when untagged).
pub(super) fn image_removal(state: &HostState, command: &str) -> Option<Change> {
    let images: Vec<String> = state
        .service_images
        .iter()
        .flat_map(|image| {
            if image.repo_tags.is_empty() {
                vec![image.id.clone()]
            } else {
                image.repo_tags.clone()
            }
        })
        .collect();
    (!images.is_empty()).then(|| {
        change(
            Resource::Image {
                reference: images.join(", "),
            },
            ChangeKind::Remove,
            command,
            Work::RemoveImages { references: images },
        )
    })
}

/// Routes in kamal-proxy that send traffic to this service's app containers, whatever their
/// name (a role renamed since).
fn routes_to_service_containers(state: &HostState) -> Vec<String> {
    let ids: Vec<&str> = state
        .app_containers
        .iter()
        .map(|c| c.details.short_id())
        .collect();
    state
        .routes
        .iter()
        .flatten()
        .filter(|route| {
            route
                .active_targets
                .iter()
                .any(|target| ids.iter().any(|id| target.starts_with(id)))
        })
        .map(|route| route.service.clone())
        .collect()
}

/// Stop (when running) and remove these containers.
pub(super) fn remove_containers(
    resource: Resource,
    containers: Vec<crate::diff::ContainerRef>,
    command: &str,
) -> Change {
    change(
        resource,
        ChangeKind::Remove,
        command,
        Work::RemoveContainers {
            containers,
            stop_first: true,
        },
    )
}

/// Remove these files and directory trees.
pub(super) fn remove_paths(paths: Vec<String>, command: &str) -> Change {
    change(
        Resource::Directory {
            path: paths.join(", "),
        },
        ChangeKind::Remove,
        command,
        Work::RemovePaths { paths },
    )
}
