//! One role on one host: which container should run, what must start, what must stop.
//!
//! The desired container is the one named `<svc>-<role>[-<dest>]-<version>`. If it exists with
//! the desired configuration it is kept (and started if stopped: that is how a rollback to a
//! retained version works); if it exists with another configuration it is renamed out of the
//! way as Kamal does (`_replaced_<hex>`) and a new one is created; if it does not exist it is
//! created. Every other running container of the role is retired once the new one serves.

use sha2::{Digest, Sha256};

use crate::desired::{Desired, DesiredApp, expand_home};
use crate::diff::container::container_fields;
use crate::diff::routes::{previous_route, route_change};
use crate::diff::{
    AppDeployment, Change, ChangeKind, ContainerRef, PreviousRoute, PullImage, Reason, Resource,
    StartMode, Work,
};
use crate::observe::{HostState, ObservedContainer};

/// The changes one role needs on one host.
pub(super) fn diff_app(desired: &Desired, app: &DesiredApp, state: &HostState) -> Vec<Change> {
    let spec = expand_home(&app.container, &state.home);
    let role_containers: Vec<&ObservedContainer> = state
        .app_containers
        .iter()
        .filter(|container| container.details.labels.get("role") == Some(&app.role))
        .collect();
    let target = role_containers
        .iter()
        .find(|container| container.details.name == spec.name);
    let running_others: Vec<&ObservedContainer> = role_containers
        .iter()
        .filter(|container| {
            container.details.name != spec.name && container.details.status.is_live()
        })
        .copied()
        .collect();
    let retire: Vec<ContainerRef> = running_others.iter().map(|c| container_ref(c)).collect();
    let pull = match state.present_images.get(&desired.image) {
        Some(Some(_)) => None,
        _ => Some(PullImage {
            image: desired.image.clone(),
            auth: desired.registry_auth.clone(),
        }),
    };
    let deployment = |start: StartMode, retire: Vec<ContainerRef>, pull: Option<PullImage>| {
        Work::DeployApp(Box::new(AppDeployment {
            role: app.role.clone(),
            primary: app.primary,
            spec: spec.clone(),
            pull,
            start,
            route: app.route.clone(),
            previous_route: app.route.as_ref().map_or(PreviousRoute::Absent, |route| {
                previous_route(&route.service, state)
            }),
            readiness: app.readiness.clone(),
            retire,
            stop_timeout: app.stop_timeout,
        }))
    };
    let resource = Resource::App {
        role: app.role.clone(),
    };

    let Some(target) = target else {
        let current = running_others.first();
        let (kind, reason, fields) = match current {
            Some(current) => (
                ChangeKind::Replace,
                Reason::NewVersion {
                    from: desired
                        .names
                        .version_of(&app.role, &current.details.name)
                        .map(str::to_string),
                    to: desired.version.clone(),
                },
                container_fields(&spec, current),
            ),
            None => (ChangeKind::Create, Reason::Missing, Vec::new()),
        };
        return vec![Change {
            resource,
            kind,
            reason,
            fields,
            work: deployment(StartMode::Create, retire, pull),
        }];
    };

    let fields = container_fields(&spec, target);
    if !fields.is_empty() {
        let mut retire = retire;
        if target.details.status.is_live() {
            retire.push(container_ref(target));
        }
        let existing = container_ref(target);
        let rename_to = format!(
            "{}_replaced_{}",
            existing.name,
            replaced_suffix(&existing.id)
        );
        return vec![Change {
            resource,
            kind: ChangeKind::Replace,
            reason: Reason::ConfigChanged,
            fields,
            work: deployment(
                StartMode::RenameAndCreate {
                    existing,
                    rename_to,
                },
                retire,
                pull,
            ),
        }];
    }

    if !target.details.status.is_live() {
        return vec![Change {
            resource,
            kind: ChangeKind::Update,
            reason: Reason::NotRunning {
                status: target.details.status.to_string(),
            },
            fields: Vec::new(),
            work: deployment(
                StartMode::StartExisting(container_ref(target)),
                retire,
                None,
            ),
        }];
    }

    // The right container runs: only its route and stray older containers can be off.
    let mut changes = Vec::new();
    if let Some(route) = &app.route
        && let Some(change) = route_change(
            route,
            &container_ref(target),
            state,
            tls_files_change(app, state),
        )
    {
        changes.push(change);
    }
    for other in running_others {
        changes.push(Change {
            resource: Resource::Container {
                name: other.details.name.clone(),
            },
            kind: ChangeKind::Update,
            reason: Reason::NotCurrent,
            fields: Vec::new(),
            work: Work::StopContainers {
                containers: vec![container_ref(other)],
                timeout: app.stop_timeout,
            },
        });
    }
    changes
}

/// True when a TLS file of the role differs from the host's copy (or is missing there).
fn tls_files_change(app: &DesiredApp, state: &HostState) -> bool {
    app.tls_files.iter().any(|file| {
        state.file_fingerprints.get(&file.path).cloned().flatten() != Some(file.fingerprint.clone())
    })
}

/// The id and name of an observed container.
pub fn container_ref(container: &ObservedContainer) -> ContainerRef {
    ContainerRef {
        id: container.details.id.clone(),
        name: container.details.name.clone(),
    }
}

/// 16 hex digits for Kamal's `_replaced_` suffix, derived from the container id so that two
/// plans of the same world agree.
fn replaced_suffix(container_id: &str) -> String {
    hex::encode(&Sha256::digest(container_id.as_bytes())[..8])
}
