//! One host: everything besides the app containers themselves (network, proxy, files, routes,
//! accessories, orphans, retention, images, the `latest` tag), then the apps.

use std::collections::BTreeSet;

use crate::desired::{Desired, DesiredAccessory, DesiredFile, DesiredHost, expand_home};
use crate::diff::app::{container_ref, diff_app};
use crate::diff::container::container_fields;
use crate::diff::{
    AccessoryBoot, Change, ChangeKind, ContainerRef, DiffOptions, FieldChange, FileOwner,
    HostChanges, Note, PreviousRoute, PullImage, Reach, Reason, Resource, Work,
};
use crate::naming::LABEL_ROLE;
use crate::observe::{HostState, ObservedContainer};
use crate::proxy::{ProxyRoute, RouteState};

/// Every change one reachable host needs.
pub(super) fn diff_host(
    desired: &Desired,
    host: &DesiredHost,
    state: &HostState,
    options: DiffOptions,
) -> HostChanges {
    let mut changes = Vec::new();
    let mut notes = Vec::new();
    if let Some(lock) = &state.lock {
        notes.push(Note::Locked(lock.clone()));
    }

    if let Some(network) = &host.network
        && !state.networks.contains(network)
    {
        changes.push(Change {
            resource: Resource::Network {
                name: network.clone(),
            },
            kind: ChangeKind::Create,
            reason: Reason::Missing,
            fields: Vec::new(),
            work: Work::CreateNetwork {
                name: network.clone(),
            },
        });
    }

    diff_proxy(host, state, options, &mut changes, &mut notes);

    for app in &host.apps {
        if let Some(change) =
            file_change(&app.env_file, FileOwner::RoleEnv(app.role.clone()), state)
        {
            changes.push(change);
        }
    }
    let mut app_changes = Vec::new();
    for app in &host.apps {
        app_changes.extend(diff_app(desired, app, state));
    }

    let orphans = orphan_roles(host, state);
    changes.extend(orphan_changes(desired, &orphans, state));
    changes.extend(stale_routes(desired, host, state));
    changes.extend(app_changes);

    for accessory in &host.accessories {
        diff_accessory(accessory, state, options, &mut changes, &mut notes);
    }
    for container in &state.accessories {
        if !host
            .configured_accessories
            .contains(&container.details.name)
        {
            notes.push(Note::AccessoryNotInConfig {
                container: container.details.name.clone(),
            });
        }
    }

    changes.extend(retention_changes(desired, host, state, &changes));
    if !host.apps.is_empty() {
        changes.extend(latest_tag_change(desired, state, &changes));
    }
    changes.extend(image_prune_changes(desired, state, &changes));

    HostChanges {
        host: host.name.clone(),
        reach: Reach::Reachable,
        changes,
        notes,
    }
}

fn diff_proxy(
    host: &DesiredHost,
    state: &HostState,
    options: DiffOptions,
    changes: &mut Vec<Change>,
    notes: &mut Vec<Note>,
) {
    let Some(proxy) = &host.proxy else { return };
    let spec = expand_home(&proxy.container, &state.home);
    let pull = !matches!(state.present_images.get(&spec.image), Some(Some(_)));
    let boot = |replaces: Option<ContainerRef>| Work::BootProxy {
        spec: Box::new(spec.clone()),
        apps_config_dir: proxy.apps_config_dir.clone(),
        pull,
        replaces,
    };
    let Some(current) = &state.proxy else {
        changes.push(Change {
            resource: Resource::Proxy,
            kind: ChangeKind::Create,
            reason: Reason::Missing,
            fields: Vec::new(),
            work: boot(None),
        });
        return;
    };
    let fields = container_fields(&spec, current);
    if !fields.is_empty() {
        if options.reboot_proxy {
            changes.push(Change {
                resource: Resource::Proxy,
                kind: ChangeKind::Replace,
                reason: Reason::ConfigChanged,
                fields,
                work: boot(Some(container_ref(current))),
            });
            return;
        }
        notes.push(Note::ProxyOutdated { fields });
    }
    if !current.details.status.is_live() {
        changes.push(Change {
            resource: Resource::Proxy,
            kind: ChangeKind::Update,
            reason: Reason::NotRunning {
                status: current.details.status.to_string(),
            },
            fields: Vec::new(),
            work: Work::StartContainer {
                container: container_ref(current),
            },
        });
    }
}

/// A file whose fingerprint on the host differs from the desired contents.
fn file_change(file: &DesiredFile, owner: FileOwner, state: &HostState) -> Option<Change> {
    let current = state.file_fingerprints.get(&file.path).cloned().flatten();
    let (kind, reason) = match current {
        None => (ChangeKind::Create, Reason::Missing),
        Some(fingerprint) if fingerprint != file.fingerprint => {
            (ChangeKind::Update, Reason::ContentChanged)
        }
        Some(_) => return None,
    };
    Some(Change {
        resource: Resource::File {
            path: file.path.clone(),
            owner,
        },
        kind,
        reason,
        fields: Vec::new(),
        work: Work::WriteFile { file: file.clone() },
    })
}

/// The route change that makes `route` send traffic to `target`, if any is needed.
pub(super) fn route_change(
    route: &ProxyRoute,
    target: &ContainerRef,
    state: &HostState,
) -> Option<Change> {
    let observed = state.routes.as_ref().and_then(|routes| {
        routes
            .iter()
            .find(|observed| observed.service == route.service)
    });
    let want_target = route.target(target.short_id());
    let (kind, reason, fields) = match observed {
        None => (ChangeKind::Create, Reason::RouteMissing, Vec::new()),
        Some(observed) if observed.active_targets != [want_target.clone()] => (
            ChangeKind::Update,
            Reason::RouteTarget {
                current: observed.active_targets.clone(),
            },
            Vec::new(),
        ),
        Some(observed) if observed.settings != route.settings => (
            ChangeKind::Update,
            Reason::RouteSettings,
            serialized_fields("route", &route.settings, &observed.settings),
        ),
        Some(observed) if observed.state != RouteState::Running => (
            ChangeKind::Update,
            Reason::RouteNotServing {
                state: format!("{:?}", observed.state).to_lowercase(),
            },
            Vec::new(),
        ),
        Some(_) => return None,
    };
    Some(Change {
        resource: Resource::Route {
            service: route.service.clone(),
        },
        kind,
        reason,
        fields,
        work: Work::SwitchRoute {
            route: Box::new(route.clone()),
            target: target.clone(),
            previous: previous_route(&route.service, state),
        },
    })
}

/// Where kamal-proxy sent a route's traffic when observed.
pub(super) fn previous_route(service: &str, state: &HostState) -> PreviousRoute {
    let Some(route) = state
        .routes
        .iter()
        .flatten()
        .find(|route| route.service == service)
    else {
        return PreviousRoute::Absent;
    };
    let Some(target) = route.active_targets.first() else {
        return PreviousRoute::Absent;
    };
    let short_id = target.split(':').next().unwrap_or_default();
    state
        .app_containers
        .iter()
        .chain(state.accessories.iter())
        .find(|container| !short_id.is_empty() && container.details.id.starts_with(short_id))
        .map_or_else(
            || PreviousRoute::Elsewhere(target.clone()),
            |container| PreviousRoute::Container(container_ref(container)),
        )
}

/// Field differences between two values of the same serializable type.
fn serialized_fields<T: serde::Serialize>(
    prefix: &str,
    desired: &T,
    observed: &T,
) -> Vec<FieldChange> {
    let as_map = |value: &T| match serde_json::to_value(value) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    let desired = as_map(desired);
    let observed = as_map(observed);
    desired
        .iter()
        .filter(|(key, value)| observed.get(*key) != Some(*value))
        .map(|(key, value)| {
            FieldChange::changed(
                &format!("{prefix}.{key}"),
                &observed.get(key).map(|v| v.to_string()).unwrap_or_default(),
                &value.to_string(),
            )
        })
        .collect()
}

/// Roles whose containers are on this host but which deploy.yml no longer puts here.
fn orphan_roles(host: &DesiredHost, state: &HostState) -> BTreeSet<String> {
    state
        .app_containers
        .iter()
        .filter_map(|container| container.details.labels.get(LABEL_ROLE))
        .filter(|role| !host.configured_roles.contains(role))
        .cloned()
        .collect()
}

/// Removing what orphaned roles left: their routes first, then their containers.
fn orphan_changes(desired: &Desired, orphans: &BTreeSet<String>, state: &HostState) -> Vec<Change> {
    let mut changes = Vec::new();
    for role in orphans {
        let service = desired.names.proxy_service(role);
        let has_route = state
            .routes
            .iter()
            .flatten()
            .any(|route| route.service == service);
        if has_route {
            changes.push(remove_route_change(service, Reason::NotInConfig));
        }
        for container in state
            .app_containers
            .iter()
            .filter(|container| container.details.labels.get(LABEL_ROLE) == Some(role))
        {
            changes.push(remove_container_change(container, Reason::NotInConfig));
        }
    }
    changes
}

fn remove_route_change(service: String, reason: Reason) -> Change {
    Change {
        resource: Resource::Route {
            service: service.clone(),
        },
        kind: ChangeKind::Remove,
        reason,
        fields: Vec::new(),
        work: Work::RemoveRoute { service },
    }
}

fn remove_container_change(container: &ObservedContainer, reason: Reason) -> Change {
    Change {
        resource: Resource::Container {
            name: container.details.name.clone(),
        },
        kind: ChangeKind::Remove,
        reason,
        fields: Vec::new(),
        work: Work::RemoveContainers {
            containers: vec![container_ref(container)],
            stop_first: container.details.status.is_live(),
        },
    }
}

/// Routes that target this service's app containers under a name no configured role uses
/// (a renamed role or destination: kamal#1147, kamal-proxy#61). Routes of other apps on a shared
/// proxy never point at this service's containers, so they are never touched.
fn stale_routes(desired: &Desired, host: &DesiredHost, state: &HostState) -> Vec<Change> {
    let Some(routes) = &state.routes else {
        return Vec::new();
    };
    let ours: BTreeSet<String> = state
        .app_containers
        .iter()
        .map(|container| container.details.short_id().to_string())
        .collect();
    let configured: BTreeSet<String> = host
        .configured_roles
        .iter()
        .map(|role| desired.names.proxy_service(role))
        .collect();
    let orphan_services: BTreeSet<String> = orphan_roles(host, state)
        .iter()
        .map(|role| desired.names.proxy_service(role))
        .collect();
    routes
        .iter()
        .filter(|route| {
            !configured.contains(&route.service) && !orphan_services.contains(&route.service)
        })
        .filter(|route| {
            route.active_targets.iter().any(|target| {
                let id = target.split(':').next().unwrap_or_default();
                ours.contains(id)
            })
        })
        .map(|route| remove_route_change(route.service.clone(), Reason::StaleRoute))
        .collect()
}

fn diff_accessory(
    accessory: &DesiredAccessory,
    state: &HostState,
    options: DiffOptions,
    changes: &mut Vec<Change>,
    notes: &mut Vec<Note>,
) {
    let spec = expand_home(&accessory.container, &state.home);
    let pull = match state.present_images.get(&spec.image) {
        Some(Some(_)) => None,
        _ => Some(PullImage {
            image: spec.image.clone(),
            auth: accessory.registry_auth.clone(),
        }),
    };
    let mut files = vec![accessory.env_file.clone()];
    files.extend(accessory.files.iter().cloned());
    let boot = |replaces: Option<ContainerRef>| {
        Work::BootAccessory(Box::new(AccessoryBoot {
            name: accessory.name.clone(),
            spec: spec.clone(),
            pull: pull.clone(),
            files: files.clone(),
            directories: accessory.directories.clone(),
            replaces,
            route: accessory.route.clone(),
        }))
    };
    let resource = Resource::Accessory {
        name: accessory.name.clone(),
    };
    let observed = state
        .accessories
        .iter()
        .find(|container| container.details.name == spec.name);
    let Some(observed) = observed else {
        changes.push(Change {
            resource,
            kind: ChangeKind::Create,
            reason: Reason::Missing,
            fields: Vec::new(),
            work: boot(None),
        });
        return;
    };

    let mut fields = container_fields(&spec, observed);
    for file in &files {
        let current = state.file_fingerprints.get(&file.path).cloned().flatten();
        if current.as_deref() != Some(file.fingerprint.as_str()) {
            let sensitive = file.path == accessory.env_file.path;
            fields.push(FieldChange {
                field: format!("file {}", file.path),
                before: None,
                after: None,
                sensitive,
            });
        }
    }
    if !fields.is_empty() {
        if options.recreate_accessories {
            changes.push(Change {
                resource,
                kind: ChangeKind::Replace,
                reason: Reason::ConfigChanged,
                fields,
                work: boot(Some(container_ref(observed))),
            });
            return;
        }
        notes.push(Note::AccessoryChanged {
            name: accessory.name.clone(),
            fields,
        });
    }
    if !observed.details.status.is_live() {
        changes.push(Change {
            resource,
            kind: ChangeKind::Update,
            reason: Reason::NotRunning {
                status: observed.details.status.to_string(),
            },
            fields: Vec::new(),
            work: Work::StartContainer {
                container: container_ref(observed),
            },
        });
    }
    if let Some(route) = &accessory.route
        && let Some(change) = route_change(route, &container_ref(observed), state)
    {
        changes.push(change);
    }
}

/// Stopped containers of each role beyond `retain_containers`, counting the ones this plan
/// stops: after the plan runs, the next plan must find nothing left to prune.
fn retention_changes(
    desired: &Desired,
    host: &DesiredHost,
    state: &HostState,
    planned: &[Change],
) -> Vec<Change> {
    let removed: BTreeSet<&str> = removed_container_ids(planned);
    let mut stopping: BTreeSet<&str> = BTreeSet::new();
    let mut running: BTreeSet<&str> = BTreeSet::new();
    for change in planned {
        match &change.work {
            Work::DeployApp(deployment) => {
                stopping.extend(deployment.retire.iter().map(|c| c.id.as_str()));
                if let crate::diff::StartMode::StartExisting(container) = &deployment.start {
                    running.insert(container.id.as_str());
                }
            }
            Work::StopContainers { containers, .. } => {
                stopping.extend(containers.iter().map(|c| c.id.as_str()));
            }
            _ => {}
        }
    }
    let mut changes = Vec::new();
    for role in &host.configured_roles {
        let stopped_after: Vec<&ObservedContainer> = state
            .app_containers
            .iter()
            .filter(|c| c.details.labels.get(LABEL_ROLE) == Some(role))
            .filter(|c| !removed.contains(c.details.id.as_str()))
            .filter(|c| {
                let id = c.details.id.as_str();
                !running.contains(id) && (stopping.contains(id) || !c.details.status.is_live())
            })
            .collect();
        // Newest first already; keep the first `retain`.
        for container in stopped_after.iter().skip(desired.retain_containers) {
            changes.push(remove_container_change(
                container,
                Reason::BeyondRetention {
                    retain: desired.retain_containers,
                },
            ));
        }
    }
    changes
}

fn removed_container_ids(planned: &[Change]) -> BTreeSet<&str> {
    planned
        .iter()
        .filter_map(|change| match &change.work {
            Work::RemoveContainers { containers, .. } => Some(containers),
            _ => None,
        })
        .flatten()
        .map(|container| container.id.as_str())
        .collect()
}

/// `latest[-dest]` must name the desired version's image once the host runs it.
fn latest_tag_change(desired: &Desired, state: &HostState, planned: &[Change]) -> Option<Change> {
    let desired_id = state.present_images.get(&desired.image).cloned().flatten();
    let latest_id = state
        .present_images
        .get(&desired.latest_image)
        .cloned()
        .flatten();
    // An image about to be pulled may be the one `latest` already names; the pull decides.
    let pulls = planned.iter().any(|change| match &change.work {
        Work::DeployApp(deployment) => deployment.pull.is_some(),
        _ => false,
    });
    if !pulls && desired_id.is_some() && desired_id == latest_id {
        return None;
    }
    Some(Change {
        resource: Resource::LatestTag {
            reference: desired.latest_image.clone(),
        },
        kind: if latest_id.is_none() {
            ChangeKind::Create
        } else {
            ChangeKind::Update
        },
        reason: Reason::LatestOutdated,
        fields: Vec::new(),
        work: Work::TagImage {
            source: desired.image.clone(),
            target: desired.latest_image.clone(),
            previous: latest_id,
        },
    })
}

/// Images of this service that no container will use once the plan has run (Kamal's
/// `prune images`), except the desired version and `latest`.
fn image_prune_changes(desired: &Desired, state: &HostState, planned: &[Change]) -> Vec<Change> {
    let removed = removed_container_ids(planned);
    let mut in_use: BTreeSet<&str> = state
        .app_containers
        .iter()
        .filter(|c| !removed.contains(c.details.id.as_str()))
        .map(|c| c.details.image_id.as_str())
        .collect();
    in_use.extend(state.other_destination_images.iter().map(String::as_str));
    in_use.extend(
        state
            .accessories
            .iter()
            .map(|c| c.details.image_id.as_str()),
    );
    if let Some(proxy) = &state.proxy {
        in_use.insert(proxy.details.image_id.as_str());
    }
    let keep_refs = [desired.image.as_str(), desired.latest_image.as_str()];
    let mut changes = Vec::new();
    for image in &state.service_images {
        if in_use.contains(image.id.as_str())
            || image
                .repo_tags
                .iter()
                .any(|tag| keep_refs.contains(&tag.as_str()))
        {
            continue;
        }
        let references: Vec<String> = if image.repo_tags.is_empty() {
            vec![image.id.clone()]
        } else {
            image.repo_tags.clone()
        };
        changes.push(Change {
            resource: Resource::Image {
                reference: references.join(", "),
            },
            kind: ChangeKind::Remove,
            reason: Reason::Unused,
            fields: Vec::new(),
            work: Work::RemoveImages { references },
        });
    }
    changes
}
