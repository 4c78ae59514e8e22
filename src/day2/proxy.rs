//! `gantry proxy boot|reboot|details`.
//!
//! `boot` starts kamal-proxy where it is missing or stopped; `reboot` replaces it on every
//! selected host even when nothing changed (a new image or `proxy.run` options take effect),
//! which drops traffic for a moment, so the CLI asks first. Routes survive a reboot: they live in
//! the `kamal-proxy-config` volume, which the new container mounts again.

use std::fmt::Write as _;

use crate::desired::Desired;
use crate::diff::{self, ChangeKind, Changes, DiffOptions, Resource, container_ref, proxy_boot};
use crate::observe::{Observed, ObservedHost};

use super::{change, per_host, restrict};

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
