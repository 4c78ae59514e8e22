//! `gantry proxy boot|reboot|start|stop|remove|details`.
//!
//! `boot` starts kamal-proxy where it is missing or stopped; `reboot` replaces it on every
//! selected host even when nothing changed (a new image or `proxy.run` options take effect),
//! which drops traffic for a moment, so the CLI asks first. Routes survive a reboot: they live in
//! the `kamal-proxy-config` volume, which the new container mounts again. `stop` and `start`
//! stop and start the existing container (Kamal's `docker container stop|start kamal-proxy`);
//! `remove` takes the container, its image and `.kamal/proxy` (boot files and apps' config), as
//! Kamal's does, and leaves the `kamal-proxy-config` volume.

use std::fmt::Write as _;

use crate::desired::Desired;
use crate::diff::{
    self, ChangeKind, Changes, DiffOptions, Resource, Work, container_ref, proxy_boot,
};
use crate::observe::{Observed, ObservedHost};

use super::cleanup::{remove_containers, remove_paths};
use super::{change, per_host, restrict};

/// Where Kamal keeps the proxy's files on a host: boot files and the apps' config.
const PROXY_DIRECTORY: &str = ".kamal/proxy";

/// `proxy boot`: the network and the proxy where missing or stopped.
pub fn boot(desired: &Desired, observed: &Observed) -> Changes {
    restrict(
        diff::diff(desired, observed, DiffOptions::default()),
        |change| matches!(change.resource, Resource::Network { .. } | Resource::Proxy),
    )
}

/// `proxy reboot`: a new proxy container on every selected host that runs the proxy.
pub fn reboot(desired: &Desired, observed: &Observed, command: &str) -> Changes {
    let network = boot(desired, observed);
    let mut changes = per_host(desired, observed, |host, state| {
        let Some(proxy) = &host.proxy else {
            return Vec::new();
        };
        let existing = state.proxy.as_ref().map(container_ref);
        let kind = if existing.is_some() {
            ChangeKind::Replace
        } else {
            ChangeKind::Create
        };
        vec![change(
            Resource::Proxy,
            kind,
            command,
            proxy_boot(proxy, state, existing),
        )]
    });
    for (host, booted) in changes.hosts.iter_mut().zip(network.hosts) {
        let mut all: Vec<_> = booted
            .changes
            .into_iter()
            .filter(|change| matches!(change.resource, Resource::Network { .. }))
            .collect();
        all.append(&mut host.changes);
        host.changes = all;
    }
    changes
}

/// `proxy start`: the existing proxy container started where it is stopped; a missing proxy is
/// not booted (that is `boot`).
pub fn start(desired: &Desired, observed: &Observed, command: &str) -> Changes {
    per_host(desired, observed, |host, state| match &state.proxy {
        Some(proxy) if host.proxy.is_some() && !proxy.details.status.is_live() => vec![change(
            Resource::Proxy,
            ChangeKind::Update,
            command,
            Work::StartContainer {
                container: container_ref(proxy),
            },
        )],
        _ => Vec::new(),
    })
}

/// `proxy stop`: the running proxy container stopped (a rollback starts it again); routes stay
/// in its volume for the next start.
pub fn stop(desired: &Desired, observed: &Observed, command: &str) -> Changes {
    per_host(desired, observed, |host, state| match &state.proxy {
        Some(proxy) if host.proxy.is_some() && proxy.details.status.is_live() => vec![change(
            Resource::Proxy,
            ChangeKind::Update,
            command,
            Work::StopContainers {
                containers: vec![container_ref(proxy)],
                timeout: None,
            },
        )],
        _ => Vec::new(),
    })
}

/// `proxy remove`: the proxy container, its image and `.kamal/proxy` on every selected proxy
/// host. Whether other apps still use the proxy is the caller's question, asked first.
pub fn remove(desired: &Desired, observed: &Observed, command: &str) -> Changes {
    per_host(desired, observed, |host, state| {
        if host.proxy.is_none() {
            return Vec::new();
        }
        let mut changes = Vec::new();
        if let Some(proxy) = &state.proxy {
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
        }
        changes.push(remove_paths(vec![PROXY_DIRECTORY.to_string()], command));
        changes
    })
}

/// `proxy details`: per host, the proxy container and the routes it serves.
pub fn details(desired: &Desired, observed: &Observed) -> String {
    let mut text = String::new();
    for host in desired.hosts.iter().filter(|host| host.proxy.is_some()) {
        let state = match observed.hosts.get(&host.name) {
            Some(ObservedHost::Reachable(state)) => state,
            Some(ObservedHost::Unreachable { reason }) => {
                let _ = writeln!(text, "{}  unreachable: {reason}", host.name);
                continue;
            }
            None => continue,
        };
        match &state.proxy {
            Some(proxy) => {
                let details = &proxy.details;
                let _ = writeln!(
                    text,
                    "{}  {} {} ({}) {}",
                    host.name,
                    details.name,
                    details.short_id(),
                    details.image,
                    details.status
                );
            }
            None => {
                let _ = writeln!(text, "{}  no kamal-proxy", host.name);
            }
        }
        for route in state.routes.iter().flatten() {
            let hosts: Vec<&str> = route
                .settings
                .hosts
                .iter()
                .map(|h| if h.is_empty() { "*" } else { h.as_str() })
                .collect();
            let _ = writeln!(
                text,
                "{}    route {} hosts {} -> {} ({})",
                host.name,
                route.service,
                hosts.join(","),
                route.active_targets.join(","),
                format!("{:?}", route.state).to_lowercase()
            );
        }
    }
    text
}
