//! Proxy routes and orphans: switching a route to the right container, and removing the routes
//! and containers of roles deploy.yml no longer has (kamal#1187, kamal#1147, kamal-proxy#61).

use std::collections::BTreeSet;

use crate::desired::{Desired, DesiredHost};
use crate::diff::app::container_ref;
use crate::diff::{
    Change, ChangeKind, ContainerRef, FieldChange, Note, PreviousRoute, Reason, Resource, Work,
};
use crate::kamal_proxy::{ProxyRoute, RouteState};
use crate::naming::LABEL_ROLE;
use crate::observe::{HostState, ObservedContainer};

/// The route change that makes `route` send traffic to `target`, if any is needed.
/// `certificate_changed`: the route's TLS files are being rewritten, and kamal-proxy reads them
/// only when a route is deployed.
pub(super) fn route_change(
    route: &ProxyRoute,
    target: &ContainerRef,
    state: &HostState,
    certificate_changed: bool,
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
        Some(_) if certificate_changed => {
            (ChangeKind::Update, Reason::CertificateChanged, Vec::new())
        }
        // A stopped route is in maintenance, state the user chose ([`maintenance_notes`]): a
        // deploy behind it keeps it stopped, as kamal-proxy keeps it across deploys.
        Some(observed) if !matches!(observed.state, RouteState::Running | RouteState::Stopped) => (
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

/// A note for each of the host's desired routes kamal-proxy keeps in maintenance.
pub(super) fn maintenance_notes(host: &DesiredHost, state: &HostState) -> Vec<Note> {
    let routes = state.routes.iter().flatten();
    routes
        .filter(|observed| observed.state == RouteState::Stopped)
        .filter(|observed| {
            host.apps
                .iter()
                .filter_map(|app| app.route.as_ref())
                .any(|route| route.service == observed.service)
        })
        .map(|observed| Note::Maintenance {
            service: observed.service.clone(),
            message: observed.stop_message.clone(),
        })
        .collect()
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
pub(super) fn orphan_roles(host: &DesiredHost, state: &HostState) -> BTreeSet<String> {
    state
        .app_containers
        .iter()
        .filter_map(|container| container.details.labels.get(LABEL_ROLE))
        .filter(|role| !host.configured_roles.contains(role))
        .cloned()
        .collect()
}

/// Removing what orphaned roles left: their routes first, then their containers.
pub(super) fn orphan_changes(
    desired: &Desired,
    orphans: &BTreeSet<String>,
    state: &HostState,
) -> Vec<Change> {
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

pub(super) fn remove_container_change(container: &ObservedContainer, reason: Reason) -> Change {
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
pub(super) fn stale_routes(
    desired: &Desired,
    host: &DesiredHost,
    state: &HostState,
) -> Vec<Change> {
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
