//! `gantry accessory boot|reboot|start|stop|remove|details NAME|all`.
//!
//! Accessory data lives in the accessory's directories and volumes, which only `remove` deletes:
//! `boot` creates what is missing and starts what is stopped, `reboot` replaces the container
//! (pulling the image when the host lacks it) and keeps the data, `stop` and `start` stop and
//! start the existing container (its route removed first, deployed again after, as Kamal's),
//! `remove` takes the container,
//! its route, its image, its env file and its service directory (`~/<accessory service>`, where
//! its `files:` and `directories:` live).

use std::fmt::Write as _;

use crate::desired::{Desired, DesiredAccessory, expand_home};
use crate::diff::{
    self, Change, ChangeKind, Changes, DiffOptions, Resource, Work, accessory_boot, container_ref,
};
use crate::observe::{HostState, Observed, ObservedHost};

use super::cleanup::{remove_containers, remove_paths};
use super::{change, per_host, restrict};

/// Which accessories a command works on: `all`, or one by its key under `accessories:`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Which {
    All,
    Named(String),
}

impl Which {
    /// `all` or a name, as the command line gives it.
    pub fn parse(name: &str) -> Which {
        if name == "all" {
            Which::All
        } else {
            Which::Named(name.to_string())
        }
    }

    /// Whether `accessory` is one of them.
    pub fn includes(&self, accessory: &str) -> bool {
        match self {
            Which::All => true,
            Which::Named(name) => name == accessory,
        }
    }
}

/// `accessory boot`: the accessories that are missing are created (files, directories, image,
/// network first) and the stopped ones started; a running one is left alone, even if its
/// configuration changed (that is `reboot`).
pub fn boot(desired: &Desired, observed: &Observed, which: &Which) -> Changes {
    let routes: Vec<String> = selected(desired, which)
        .filter_map(|accessory| accessory.route.as_ref().map(|route| route.service.clone()))
        .collect();
    let changes = diff::diff(desired, observed, DiffOptions::default());
    restrict(changes, |change| match &change.resource {
        Resource::Accessory { name } => which.includes(name),
        Resource::Network { .. } => true,
        Resource::Proxy => !routes.is_empty(),
        Resource::Route { service } => routes.contains(service),
        _ => false,
    })
}

/// `accessory reboot`: every selected accessory replaced by a new container of its
/// configuration (booted when missing); data directories and volumes stay.
pub fn reboot(desired: &Desired, observed: &Observed, which: &Which, command: &str) -> Changes {
    let network = restrict(
        diff::diff(desired, observed, DiffOptions::default()),
        |change| matches!(change.resource, Resource::Network { .. }),
    );
    let mut changes = per_host(desired, observed, |host, state| {
        host.accessories
            .iter()
            .filter(|accessory| which.includes(&accessory.name))
            .map(|accessory| {
                let existing = observed_container(accessory, state).map(container_ref);
                let kind = if existing.is_some() {
                    ChangeKind::Replace
                } else {
                    ChangeKind::Create
                };
                change(
                    Resource::Accessory {
                        name: accessory.name.clone(),
                    },
                    kind,
                    command,
                    accessory_boot(accessory, state, existing),
                )
            })
            .collect()
    });
    for (host, network) in changes.hosts.iter_mut().zip(network.hosts) {
        let mut all = network.changes;
        all.append(&mut host.changes);
        host.changes = all;
    }
    changes
}

/// `accessory start`: the selected accessories' existing containers started where they are
/// stopped, and their routes deployed again; a missing accessory is not created (that is
/// `boot`), as Kamal's `accessory start` starts only a container that exists.
pub fn start(desired: &Desired, observed: &Observed, which: &Which) -> Changes {
    let routes: Vec<String> = selected(desired, which)
        .filter_map(|accessory| accessory.route.as_ref().map(|route| route.service.clone()))
        .collect();
    restrict(boot(desired, observed, which), |change| {
        match (&change.resource, &change.work) {
            (Resource::Accessory { .. }, Work::StartContainer { .. }) => true,
            (Resource::Route { service }, Work::SwitchRoute { .. }) => routes.contains(service),
            _ => false,
        }
    })
}

/// `accessory stop`: the selected accessories' routes removed from kamal-proxy, then their
/// running containers stopped (a rollback starts them again). The container, its directories
/// and volumes stay, so `start` brings back the same data.
pub fn stop(desired: &Desired, observed: &Observed, which: &Which, command: &str) -> Changes {
    per_host(desired, observed, |host, state| {
        let mut changes = Vec::new();
        for accessory in host.accessories.iter().filter(|a| which.includes(&a.name)) {
            if let Some(route) = &accessory.route
                && state
                    .routes
                    .iter()
                    .flatten()
                    .any(|observed| observed.service == route.service)
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
            if let Some(container) = observed_container(accessory, state)
                && container.details.status.is_live()
            {
                changes.push(change(
                    Resource::Accessory {
                        name: accessory.name.clone(),
                    },
                    ChangeKind::Update,
                    command,
                    Work::StopContainers {
                        containers: vec![container_ref(container)],
                        timeout: None,
                    },
                ));
            }
        }
        changes
    })
}

/// `accessory remove`: the selected accessories and all their data, on every host.
pub fn remove(desired: &Desired, observed: &Observed, which: &Which, command: &str) -> Changes {
    per_host(desired, observed, |host, state| {
        host.accessories
            .iter()
            .filter(|accessory| which.includes(&accessory.name))
            .flat_map(|accessory| removal(accessory, state, command))
            .collect()
    })
}

/// Everything of one accessory on one host: route, container, image, env file, directory.
pub(super) fn removal(
    accessory: &DesiredAccessory,
    state: &HostState,
    command: &str,
) -> Vec<Change> {
    let mut changes = Vec::new();
    if let Some(route) = &accessory.route
        && state
            .routes
            .iter()
            .flatten()
            .any(|r| r.service == route.service)
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
    let resource = Resource::Accessory {
        name: accessory.name.clone(),
    };
    if let Some(container) = observed_container(accessory, state) {
        changes.push(remove_containers(
            resource,
            vec![container_ref(container)],
            command,
        ));
    }
    let image = expand_home(&accessory.container, &state.home).image;
    if state
        .present_images
        .get(&image)
        .is_some_and(Option::is_some)
    {
        changes.push(change(
            Resource::Image {
                reference: image.clone(),
            },
            ChangeKind::Remove,
            command,
            Work::RemoveImages {
                references: vec![image],
            },
        ));
    }
    changes.push(remove_paths(
        vec![
            accessory.env_file.path.clone(),
            accessory.container.name.clone(),
        ],
        command,
    ));
    changes
}

/// `accessory details`: per host, each selected accessory's container, image, state and ports.
pub fn details(desired: &Desired, observed: &Observed, which: &Which) -> String {
    let mut text = String::new();
    for host in &desired.hosts {
        for accessory in host.accessories.iter().filter(|a| which.includes(&a.name)) {
            let _ = write!(text, "{}  {}  ", host.name, accessory.name);
            let line = match observed.hosts.get(&host.name) {
                Some(ObservedHost::Reachable(state)) => {
                    match observed_container(accessory, state) {
                        Some(container) => {
                            let details = &container.details;
                            let ports: Vec<String> = details
                                .ports
                                .iter()
                                .map(|port| {
                                    format!(
                                        "{}:{}->{}",
                                        port.host_ip, port.host_port, port.container_port
                                    )
                                })
                                .collect();
                            format!(
                                "{} {} ({}) {}{}",
                                details.name,
                                details.short_id(),
                                details.image,
                                details.status,
                                if ports.is_empty() {
                                    String::new()
                                } else {
                                    format!(" ports {}", ports.join(", "))
                                }
                            )
                        }
                        None => "not booted".to_string(),
                    }
                }
                Some(ObservedHost::Unreachable { reason }) => format!("unreachable: {reason}"),
                None => "not observed".to_string(),
            };
            let _ = writeln!(text, "{line}");
        }
    }
    text
}

/// The accessories `which` selects, over every host (each once).
pub fn selected<'a>(
    desired: &'a Desired,
    which: &'a Which,
) -> impl Iterator<Item = &'a DesiredAccessory> + 'a {
    let mut seen: Vec<&str> = Vec::new();
    desired
        .hosts
        .iter()
        .flat_map(|host| &host.accessories)
        .filter(move |accessory| {
            let first = !seen.contains(&accessory.name.as_str());
            if first {
                seen.push(accessory.name.as_str());
            }
            first && which.includes(&accessory.name)
        })
}

fn observed_container<'a>(
    accessory: &DesiredAccessory,
    state: &'a HostState,
) -> Option<&'a crate::observe::ObservedContainer> {
    state
        .accessories
        .iter()
        .find(|container| container.details.name == accessory.container.name)
}
