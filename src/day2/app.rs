//! `gantry app stop` and `gantry app start`, as Kamal's: stop removes each proxied role's route,
//! then stops the role's running containers; start starts the current version's container and
//! deploys its route again (health-gated, as a deploy's). `app maintenance` and `app live` stop
//! and resume each proxied role's route in kamal-proxy (503 with a message, then traffic again),
//! leaving containers alone.
//!
//! Input: desired state (the selected hosts and roles) and what was observed. Output: changes.
//! Invariant: a route is removed before its containers stop (the planner's edge), so no request
//! is sent to a stopping container.

use crate::desired::Desired;
use crate::diff::{
    self, ChangeKind, Changes, DiffOptions, FileOwner, Reason, Resource, StartMode, Work,
    container_ref,
};
use crate::kamal_proxy::{ObservedRoute, RouteState};
use crate::naming::{LABEL_ROLE, ServiceNames};
use crate::observe::{HostState, Observed, ObservedContainer};

use super::{change, per_host, restrict};

/// `app stop`: for each selected role on each host, its route (when kamal-proxy has it) goes,
/// then its running containers stop (a rollback starts them again).
pub fn stop(desired: &Desired, observed: &Observed, command: &str) -> Changes {
    per_host(desired, observed, |host, state| {
        let mut changes = Vec::new();
        for app in &host.apps {
            let running: Vec<_> = state
                .app_containers
                .iter()
                .filter(|c| c.details.labels.get(LABEL_ROLE) == Some(&app.role))
                .filter(|c| c.details.status.is_live())
                .map(container_ref)
                .collect();
            if let Some(route) = &app.route {
                let routed = state
                    .routes
                    .iter()
                    .flatten()
                    .any(|observed| observed.service == route.service);
                if routed {
                    changes.push(change(
                        Resource::Route {
                            service: route.service.clone(),
                        },
                        ChangeKind::Remove,
                        command,
                        Work::RemoveRoute {
                            service: route.service.clone(),
                        },
                    ));
                }
            }
            if !running.is_empty() {
                changes.push(change(
                    Resource::App {
                        role: app.role.clone(),
                    },
                    ChangeKind::Update,
                    command,
                    Work::StopContainers {
                        containers: running,
                        timeout: app.stop_timeout,
                    },
                ));
            }
        }
        changes
    })
}

/// `app start`: what a deploy of `desired`'s version does to start its existing containers
/// and route traffic to them, and nothing else (no new containers, no cleanup).
pub fn start(desired: &Desired, observed: &Observed) -> Changes {
    let changes = diff::diff(desired, observed, DiffOptions::default());
    restrict(changes, |change| match (&change.resource, &change.work) {
        (Resource::App { .. }, Work::DeployApp(deployment)) => {
            matches!(deployment.start, StartMode::StartExisting(_))
        }
        (Resource::Route { .. }, Work::SwitchRoute { .. }) => true,
        _ => false,
    })
}

/// What `app maintenance` shows and how long it drains.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MaintenanceOptions {
    /// Seconds in-flight requests get to finish; `None`: the route's `drain_timeout`.
    pub drain_timeout: Option<u64>,
    /// The text of the 503 page; `None`: kamal-proxy's page without one.
    pub message: Option<String>,
}

/// `app maintenance`: every selected role's route that kamal-proxy has and that is not already
/// stopped with this message is stopped (kamal-proxy `stop`), as Kamal's `app maintenance`.
/// Containers keep running; a rollback resumes the route.
pub fn maintenance(
    desired: &Desired,
    observed: &Observed,
    command: &str,
    options: &MaintenanceOptions,
) -> Changes {
    per_host(desired, observed, |host, state| {
        let wanted_message = options.message.clone().unwrap_or_default();
        host.apps
            .iter()
            .filter_map(|app| app.route.as_ref())
            .filter_map(|route| {
                let observed = observed_route(state, &route.service)?;
                let already = observed.state == RouteState::Stopped
                    && observed.stop_message == wanted_message;
                (!already).then(|| {
                    change(
                        Resource::Route {
                            service: route.service.clone(),
                        },
                        ChangeKind::Update,
                        command,
                        Work::StopRoute {
                            service: route.service.clone(),
                            drain_timeout: options.drain_timeout.unwrap_or(route.drain_timeout),
                            message: options.message.clone(),
                        },
                    )
                })
            })
            .collect()
    })
}

/// `app live`: every selected role's route kamal-proxy does not serve is resumed (kamal-proxy
/// `resume`), as Kamal's `app live`; a rollback stops it again with the message it showed.
pub fn live(desired: &Desired, observed: &Observed, command: &str) -> Changes {
    per_host(desired, observed, |host, state| {
        host.apps
            .iter()
            .filter_map(|app| app.route.as_ref())
            .filter_map(|route| observed_route(state, &route.service))
            .filter(|observed| observed.state != RouteState::Running)
            .map(|observed| {
                change(
                    Resource::Route {
                        service: observed.service.clone(),
                    },
                    ChangeKind::Update,
                    command,
                    Work::ResumeRoute {
                        service: observed.service.clone(),
                        stop_message: observed.stop_message.clone(),
                    },
                )
            })
            .collect()
    })
}

/// The route kamal-proxy holds for `service` on a host.
fn observed_route<'a>(state: &'a HostState, service: &str) -> Option<&'a ObservedRoute> {
    state
        .routes
        .iter()
        .flatten()
        .find(|route| route.service == service)
}

/// A role's live containers on a host: the current one (the newest, as Kamal's
/// `current_running_version` finds it) and the stale ones beside it.
#[derive(Clone, Debug, Default)]
pub struct RoleContainers<'a> {
    pub current: Option<&'a ObservedContainer>,
    pub stale: Vec<&'a ObservedContainer>,
}

/// The live containers of `role` in `state`, current and stale.
pub fn role_containers<'a>(state: &'a HostState, role: &str) -> RoleContainers<'a> {
    let mut live: Vec<&ObservedContainer> = state
        .app_containers
        .iter()
        .filter(|c| c.details.labels.get(LABEL_ROLE).map(String::as_str) == Some(role))
        .filter(|c| c.details.status.is_live())
        .collect();
    live.sort_by(|a, b| {
        (&b.details.created, &b.details.name).cmp(&(&a.details.created, &a.details.name))
    });
    let mut live = live.into_iter();
    RoleContainers {
        current: live.next(),
        stale: live.collect(),
    }
}

/// The version a container of `role` runs, read from its name as Kamal reads it.
pub fn version_of(names: &ServiceNames, role: &str, container: &ObservedContainer) -> String {
    names
        .version_of(role, &container.details.name)
        .unwrap_or(&container.details.name)
        .to_string()
}

/// `app stale_containers --stop`: every live container of a selected role beside its current
/// one is stopped (a rollback starts it again), as Kamal's `app stale_containers --stop`.
pub fn stop_stale(desired: &Desired, observed: &Observed, command: &str) -> Changes {
    per_host(desired, observed, |host, state| {
        host.apps
            .iter()
            .filter_map(|app| {
                let stale = role_containers(state, &app.role).stale;
                (!stale.is_empty()).then(|| {
                    change(
                        Resource::App {
                            role: app.role.clone(),
                        },
                        ChangeKind::Update,
                        command,
                        Work::StopContainers {
                            containers: stale.into_iter().map(container_ref).collect(),
                            timeout: app.stop_timeout,
                        },
                    )
                })
            })
            .collect()
    })
}

/// `app remove`, as Kamal's: on every selected host, the selected roles' routes go, then their
/// containers (stopped, then removed); where every role of the host is selected, also the
/// service's images and its app directories (`.kamal/apps/<svc[-dest]>`, the proxy's
/// `apps-config/<svc[-dest]>`). Accessories and kamal-proxy stay. `whole_hosts` are the hosts
/// whose roles are all selected.
pub fn remove(
    desired: &Desired,
    observed: &Observed,
    whole_hosts: &std::collections::BTreeSet<String>,
    command: &str,
) -> Changes {
    let names = &desired.names;
    per_host(desired, observed, |host, state| {
        let mut changes = Vec::new();
        for app in &host.apps {
            if let Some(route) = &app.route
                && observed_route(state, &route.service).is_some()
            {
                changes.push(change(
                    Resource::Route {
                        service: route.service.clone(),
                    },
                    ChangeKind::Remove,
                    command,
                    Work::RemoveRoute {
                        service: route.service.clone(),
                    },
                ));
            }
        }
        for app in &host.apps {
            let containers: Vec<_> = state
                .app_containers
                .iter()
                .filter(|c| c.details.labels.get(LABEL_ROLE) == Some(&app.role))
                .map(container_ref)
                .collect();
            if !containers.is_empty() {
                changes.push(super::cleanup::remove_containers(
                    Resource::App {
                        role: app.role.clone(),
                    },
                    containers,
                    command,
                ));
            }
        }
        if whole_hosts.contains(&host.name) {
            changes.extend(super::cleanup::image_removal(state, command));
            changes.push(super::cleanup::remove_paths(
                vec![names.app_dir(), names.proxy_apps_config_dir()],
                command,
            ));
        }
        changes
    })
}

/// `app boot`: what a deploy of `desired`'s version does to the selected roles (their env
/// files, containers and routes, the `latest` tag), and nothing else: no accessory, no proxy,
/// no cleanup of old containers or images, no removal of roles deploy.yml no longer has. A role
/// already running the version is left alone, where Kamal's `app boot` reboots it.
pub fn boot(desired: &Desired, observed: &Observed) -> Changes {
    let changes = diff::diff(desired, observed, DiffOptions::default());
    restrict(changes, |change| {
        let housekeeping = matches!(
            change.reason,
            Reason::NotInConfig
                | Reason::StaleRoute
                | Reason::BeyondRetention { .. }
                | Reason::Unused
        );
        let app_resource = match &change.resource {
            Resource::App { .. }
            | Resource::Route { .. }
            | Resource::Network { .. }
            | Resource::LatestTag { .. } => true,
            Resource::File { owner, .. } => matches!(
                owner,
                FileOwner::RoleEnv(_) | FileOwner::RoleTls(_) | FileOwner::ErrorPage
            ),
            _ => false,
        };
        app_resource && !housekeeping
    })
}
