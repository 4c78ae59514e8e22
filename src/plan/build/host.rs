//! The actions of one host's changes, and the rules that hold within a host (1–6 and the
//! sequential roles of 9 in the module docs of `build`).

use crate::diff::{FileOwner, PreviousRoute, Resource, Work};
use crate::plan::build::{Builder, HostNodes};
use crate::plan::{Action, ActionId, ContainerTarget};
use crate::proxy::ProxyRoute;

impl Builder<'_> {
    pub(super) fn host(&mut self, host_index: usize, host: &crate::diff::HostChanges) {
        let name = host.host.as_str();
        let mut nodes = HostNodes::default();
        for (change_index, change) in host.changes.iter().enumerate() {
            let at = (host_index, change_index);
            match &change.work {
                Work::CreateNetwork { name: network } => {
                    let id = self.add(
                        name,
                        at,
                        Action::CreateNetwork {
                            name: network.clone(),
                        },
                        None,
                    );
                    nodes.network = Some(id);
                }
                Work::BootProxy {
                    spec,
                    apps_config_dir,
                    pull,
                    auth,
                    replaces,
                } => {
                    let mut before = Vec::new();
                    if *pull {
                        before.push(self.pull(name, at, &spec.image, auth.clone(), &mut nodes));
                    }
                    if let Some(old) = replaces {
                        // A reboot drops traffic while the new proxy starts: only on request.
                        before.push(self.add(
                            name,
                            at,
                            Action::RemoveContainer {
                                container: ContainerTarget::Existing(old.clone()),
                                stop_first: true,
                            },
                            None,
                        ));
                    }
                    before.push(self.add(
                        name,
                        at,
                        Action::CreateDirectory {
                            path: apps_config_dir.clone(),
                        },
                        None,
                    ));
                    // The proxy stays on rollback: it served nothing before it booted, and other
                    // apps on the host may start using it at any time.
                    let run = self.add(name, at, Action::RunContainer { spec: spec.clone() }, None);
                    self.edges(&before, run);
                    nodes.container_creators.push(run);
                    nodes.proxy_ready = Some(run);
                }
                Work::StartContainer { container } => {
                    let id = self.add(
                        name,
                        at,
                        Action::StartContainer {
                            container: container.clone(),
                        },
                        Some(Action::StopContainer {
                            container: container.clone(),
                            timeout: None,
                        }),
                    );
                    if container.name == crate::naming::PROXY_CONTAINER {
                        nodes.proxy_ready = Some(id);
                    } else {
                        self.accessory_finals.push(id);
                    }
                }
                Work::WriteFile { file } => {
                    let id = self.add(name, at, Action::WriteFile { file: file.clone() }, None);
                    if matches!(
                        change.resource,
                        Resource::File {
                            owner: FileOwner::ErrorPage,
                            ..
                        }
                    ) {
                        nodes.error_pages.push(id);
                    } else {
                        nodes.env_files.push(id);
                        if let Resource::File {
                            owner: FileOwner::RoleTls(_),
                            ..
                        } = change.resource
                        {
                            nodes.tls_files.push(id);
                        }
                    }
                }
                Work::CreateDirectory { path } => {
                    let id = self.add(
                        name,
                        at,
                        Action::CreateDirectory { path: path.clone() },
                        None,
                    );
                    nodes.env_files.push(id);
                }
                Work::DeployApp(deployment) => self.app(name, at, deployment, &mut nodes),
                Work::SwitchRoute {
                    route,
                    target,
                    previous,
                } => {
                    let id = self.deploy_route(
                        name,
                        at,
                        route,
                        ContainerTarget::Existing(target.clone()),
                        previous,
                    );
                    nodes.route_deploys.push(id);
                }
                Work::StopContainers {
                    containers,
                    timeout,
                } => {
                    for container in containers {
                        let id = self.add(
                            name,
                            at,
                            Action::StopContainer {
                                container: container.clone(),
                                timeout: *timeout,
                            },
                            Some(Action::StartContainer {
                                container: container.clone(),
                            }),
                        );
                        nodes.stray_stops.push(id);
                    }
                }
                Work::RemoveContainers {
                    containers,
                    stop_first,
                } => {
                    for container in containers {
                        let id = self.add_best_effort(
                            name,
                            at,
                            Action::RemoveContainer {
                                container: ContainerTarget::Existing(container.clone()),
                                stop_first: *stop_first,
                            },
                        );
                        nodes.container_removals.push(id);
                    }
                }
                Work::RemoveRoute { service } => {
                    let id = self.add(
                        name,
                        at,
                        Action::RemoveRoute {
                            service: service.clone(),
                        },
                        None,
                    );
                    nodes.route_removals.push(id);
                }
                Work::BootAccessory(boot) => self.accessory(name, at, boot, &mut nodes),
                Work::TagImage {
                    source,
                    target,
                    previous,
                } => {
                    let id = self.add(
                        name,
                        at,
                        Action::TagImage {
                            source: source.clone(),
                            target: target.clone(),
                        },
                        Some(match previous {
                            Some(previous) => Action::TagImage {
                                source: previous.clone(),
                                target: target.clone(),
                            },
                            // Removing a reference that another tag shares only untags it.
                            None => Action::RemoveImage {
                                reference: target.clone(),
                            },
                        }),
                    );
                    nodes.tag = Some(id);
                }
                Work::RemovePaths { paths } => {
                    for path in paths {
                        let id = self.add_best_effort(
                            name,
                            at,
                            Action::RemovePath { path: path.clone() },
                        );
                        nodes.path_removals.push(id);
                    }
                }
                Work::RemoveImages { references } => {
                    for reference in references {
                        let id = self.add_best_effort(
                            name,
                            at,
                            Action::RemoveImage {
                                reference: reference.clone(),
                            },
                        );
                        nodes.image_removals.push(id);
                    }
                }
            }
        }
        self.host_edges(&nodes);
    }

    /// The pull of `image` on a host, shared by every action that needs it.
    pub(super) fn pull(
        &mut self,
        host: &str,
        at: (usize, usize),
        image: &str,
        auth: Option<crate::model::RegistryAuth>,
        nodes: &mut HostNodes,
    ) -> ActionId {
        if let Some(&id) = nodes.pulls.get(image) {
            return id;
        }
        let id = self.add(
            host,
            at,
            Action::PullImage {
                image: image.to_string(),
                auth,
            },
            None,
        );
        nodes.pulls.insert(image.to_string(), id);
        id
    }

    pub(super) fn run_container(
        &mut self,
        host: &str,
        at: (usize, usize),
        spec: crate::model::ContainerSpec,
    ) -> ActionId {
        let name = spec.name.clone();
        self.add(
            host,
            at,
            Action::RunContainer {
                spec: Box::new(spec),
            },
            Some(Action::RemoveContainer {
                container: ContainerTarget::Named(name),
                stop_first: true,
            }),
        )
    }

    pub(super) fn deploy_route(
        &mut self,
        host: &str,
        at: (usize, usize),
        route: &ProxyRoute,
        container: ContainerTarget,
        previous: &PreviousRoute,
    ) -> ActionId {
        let compensation = match previous {
            PreviousRoute::Absent => Some(Action::RemoveRoute {
                service: route.service.clone(),
            }),
            PreviousRoute::Container(old) => Some(Action::DeployRoute {
                route: Box::new(route.clone()),
                container: ContainerTarget::Existing(old.clone()),
            }),
            PreviousRoute::Elsewhere(_) => None,
        };
        self.add(
            host,
            at,
            Action::DeployRoute {
                route: Box::new(route.clone()),
                container,
            },
            compensation,
        )
    }

    /// The rules within one host (1, 3, 4, 6 and the sequential roles of 9).
    fn host_edges(&mut self, nodes: &HostNodes) {
        if let Some(network) = nodes.network {
            self.edges_from(network, &nodes.container_creators);
            if let Some(proxy) = nodes.proxy_ready {
                self.edge(network, proxy);
            }
        }
        for &creator in &nodes.app_creators {
            self.edges(&nodes.env_files, creator);
        }
        if let Some(proxy) = nodes.proxy_ready {
            self.edges_from(proxy, &nodes.route_deploys);
            self.edges_from(proxy, &nodes.route_removals);
        }
        for &deploy in &nodes.route_deploys {
            // A route deploy loads its TLS files, so they are written first.
            self.edges(&nodes.tls_files, deploy);
            self.edges(&nodes.route_removals, deploy);
            // kamal-proxy refuses a deploy whose error pages directory is missing.
            self.edges(&nodes.error_pages, deploy);
        }
        for &stop in &nodes.stray_stops {
            self.edges(&nodes.route_deploys, stop);
            // No route sends traffic to a container while it stops (`gantry app stop`).
            self.edges(&nodes.route_removals, stop);
        }
        if !self.options.boot.parallel_roles {
            for pair in nodes.roles.windows(2) {
                let (previous_finals, next_start) = (&pair[0].1, pair[1].0);
                self.edges(previous_finals, next_start);
            }
        }
        let role_finals: Vec<ActionId> = nodes.roles.iter().flat_map(|(_, f)| f.clone()).collect();
        if let Some(tag) = nodes.tag {
            self.edges(&role_finals, tag);
            self.edges(&nodes.stray_stops, tag);
        }
        let mut committed = role_finals;
        committed.extend(&nodes.stray_stops);
        committed.extend(&nodes.route_deploys);
        committed.extend(nodes.tag);
        for &removal in &nodes.container_removals {
            self.edges(&committed, removal);
            self.edges(&nodes.route_removals, removal);
        }
        for &removal in &nodes.image_removals {
            self.edges(&committed, removal);
            self.edges(&nodes.container_removals, removal);
        }
        // Paths go last: a container still running may have them mounted.
        for &removal in &nodes.path_removals {
            self.edges(&committed, removal);
            self.edges(&nodes.container_removals, removal);
        }
    }
}
