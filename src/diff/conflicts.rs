//! Conflicts with other services on a shared kamal-proxy, found at plan time.
//!
//! kamal-proxy gives each host name + path prefix to one service and refuses a deploy that
//! claims a pair another service holds ("host settings conflict with another service"). It
//! compares the strings exactly: `*.example.com` and `app.example.com` are different hosts, and
//! `""` (no host) is a host of its own. Refused there, a deploy fails halfway, after its new
//! containers started; found here, the plan refuses before anything changes.
//!
//! Docker refuses to start a container that publishes a host port another container publishes
//! (same port and protocol, overlapping addresses): an accessory of this service that wants a
//! port another service's container holds is refused here as well.
//!
//! Desired and observed settings are both in kamal-proxy's normalised form (the diff compares
//! them for equality), so the comparison is the same exact match kamal-proxy makes.

use std::collections::BTreeSet;

use crate::desired::DesiredHost;
use crate::diff::Note;
use crate::kamal_proxy::{ObservedRoute, ProxyRoute, RouteSettings};
use crate::model::PortBinding;
use crate::naming::LABEL_SERVICE;
use crate::observe::HostState;

/// One note per route of this host that claims a host + path prefix another service's route
/// holds on the host's kamal-proxy.
pub(super) fn route_conflicts(host: &DesiredHost, state: &HostState) -> Vec<Note> {
    let Some(observed) = &state.routes else {
        return Vec::new();
    };
    let desired = desired_routes(host);
    let ours = own_route_services(&desired, state);
    let others: Vec<&ObservedRoute> = observed
        .iter()
        .filter(|route| !ours.contains(route.service.as_str()))
        .collect();
    desired
        .iter()
        .flat_map(|route| {
            others
                .iter()
                .filter_map(move |other| conflict_between(route, other))
        })
        .collect()
}

/// The note for `route` when `other` already holds one of its host + path prefix pairs.
fn conflict_between(route: &ProxyRoute, other: &ObservedRoute) -> Option<Note> {
    shared_pair(&route.settings, &other.settings).map(|(host_name, path_prefix)| {
        Note::RouteConflict {
            service: route.service.clone(),
            other_service: other.service.clone(),
            host_name,
            path_prefix,
        }
    })
}

/// The first host + path prefix pair both routes claim, compared exactly as kamal-proxy does.
fn shared_pair(route: &RouteSettings, other: &RouteSettings) -> Option<(String, String)> {
    route.hosts.iter().find_map(|host_name| {
        route
            .path_prefixes
            .iter()
            .find(|prefix| other.hosts.contains(host_name) && other.path_prefixes.contains(prefix))
            .map(|prefix| (host_name.clone(), prefix.clone()))
    })
}

/// Conflicts between two services planned together on the same host, before either is
/// deployed: one note for each route of `later` that claims a pair a route of `earlier` claims
/// (kamal-proxy would refuse whichever is deployed second).
pub fn conflicts_between(earlier: &DesiredHost, later: &DesiredHost) -> Vec<Note> {
    let earlier_routes = desired_routes(earlier);
    desired_routes(later)
        .into_iter()
        .flat_map(|route| {
            earlier_routes.iter().filter_map(move |other| {
                (other.service != route.service)
                    .then(|| shared_pair(&route.settings, &other.settings))
                    .flatten()
                    .map(|(host_name, path_prefix)| Note::RouteConflict {
                        service: route.service.clone(),
                        other_service: other.service.clone(),
                        host_name,
                        path_prefix,
                    })
            })
        })
        .collect()
}

/// Every route this host's apps and accessories deploy.
fn desired_routes(host: &DesiredHost) -> Vec<&ProxyRoute> {
    host.apps
        .iter()
        .filter_map(|app| app.route.as_ref())
        .chain(host.accessories.iter().filter_map(|acc| acc.route.as_ref()))
        .collect()
}

/// The routes that are this service's own: the ones it deploys, and any route whose traffic
/// goes to one of its containers (a renamed role's, which the diff removes as stale).
fn own_route_services<'a>(desired: &[&'a ProxyRoute], state: &'a HostState) -> BTreeSet<&'a str> {
    let container_ids: BTreeSet<&str> = state
        .app_containers
        .iter()
        .chain(state.accessories.iter())
        .map(|container| container.details.short_id())
        .collect();
    let targets_ours = |route: &ObservedRoute| {
        route.active_targets.iter().any(|target| {
            let id = target.split(':').next().unwrap_or_default();
            container_ids.contains(id)
        })
    };
    desired
        .iter()
        .map(|route| route.service.as_str())
        .chain(
            state
                .routes
                .iter()
                .flatten()
                .filter(|route| targets_ours(route))
                .map(|route| route.service.as_str()),
        )
        .collect()
}

/// One note per host port a container of this host publishes that another service's container
/// publishes already.
pub(super) fn port_conflicts(host: &DesiredHost, state: &HostState) -> Vec<Note> {
    let containers = host.apps.iter().map(|app| &app.container).chain(
        host.accessories
            .iter()
            .map(|accessory| &accessory.container),
    );
    containers
        .flat_map(|container| {
            container.ports.iter().flat_map(move |binding| {
                state
                    .other_services
                    .iter()
                    .filter(move |other| {
                        other
                            .published_ports
                            .iter()
                            .any(|held| same_host_port(binding, held))
                    })
                    .map(move |other| Note::PortConflict {
                        container: container.name.clone(),
                        port: binding.host_port.clone(),
                        other_container: other.name.clone(),
                        other_service: other.labels.get(LABEL_SERVICE).cloned().unwrap_or_default(),
                    })
            })
        })
        .collect()
}

/// Whether Docker would refuse `wanted` because `held` is published: the same host port and
/// protocol on overlapping addresses (empty, `0.0.0.0` and `::` are every address).
fn same_host_port(wanted: &PortBinding, held: &PortBinding) -> bool {
    let protocol = |binding: &PortBinding| {
        binding
            .container_port
            .split_once('/')
            .map_or("tcp", |(_, protocol)| protocol)
            .to_string()
    };
    let every_address = |ip: &str| ip.is_empty() || ip == "0.0.0.0" || ip == "::";
    !wanted.host_port.is_empty()
        && wanted.host_port == held.host_port
        && protocol(wanted) == protocol(held)
        && (every_address(&wanted.host_ip)
            || every_address(&held.host_ip)
            || wanted.host_ip == held.host_ip)
}
