//! `gantry app stop` and `gantry app start`, as Kamal's: stop removes each proxied role's route,
//! then stops the role's running containers; start starts the current version's container and
//! deploys its route again (health-gated, as a deploy's).
//!
//! Input: desired state (the selected hosts and roles) and what was observed. Output: changes.
//! Invariant: a route is removed before its containers stop (the planner's edge), so no request
//! is sent to a stopping container.

use crate::desired::Desired;
use crate::diff::{
    self, ChangeKind, Changes, DiffOptions, Resource, StartMode, Work, container_ref,
};
use crate::naming::LABEL_ROLE;
use crate::observe::Observed;

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
