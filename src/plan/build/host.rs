//! The actions of one host's changes, and the rules that hold within a host (1–6 and the
//! sequential roles of 9 in the module docs of `build`).

use crate::diff::{
    Change, ContainerRef, FileOwner, HostChanges, PreviousRoute, ProxyBoot, Resource, Work,
};
use crate::kamal_proxy::ProxyRoute;
use crate::plan::build::{Builder, HostNodes};
use crate::plan::{Action, ActionId, ContainerTarget};

/// Where an action comes from: the host's name and the index of the host and of its change.
type At<'a> = (&'a str, (usize, usize));

impl Builder<'_> {
    /// Every change of one host as actions, then the edges of the rules within a host.
    pub(super) fn host(&mut self, host_index: usize, host: &HostChanges) {
        let mut nodes = HostNodes::default();
        for (change_index, change) in host.changes.iter().enumerate() {
            let at = (host.host.as_str(), (host_index, change_index));
            self.change(at, change, &mut nodes);
        }
        self.host_edges(&nodes);
        let mut cleanups: Vec<ActionId> = nodes.tag.into_iter().collect();
        cleanups.extend(&nodes.container_removals);
        cleanups.extend(&nodes.image_removals);
        cleanups.extend(&nodes.path_removals);
        self.cleanups.insert(host.host.clone(), cleanups);
    }

    /// The actions of one change, each filed under the part it plays in the host's rules.
    fn change(&mut self, at: At<'_>, change: &Change, nodes: &mut HostNodes) {
        let (name, index) = at;
        match &change.work {
            Work::CreateNetwork { name: network } => {
                let create = Action::CreateNetwork {
                    name: network.clone(),
                };
                nodes.network = Some(self.add(name, index, create, None));
            }
            Work::BootProxy(boot) => self.boot_proxy(at, boot, nodes),
            Work::StartContainer { container } => self.start_container(at, container, nodes),
            Work::WriteFile { file } => {
                let id = self.add(name, index, Action::WriteFile { file: file.clone() }, None);
                file_nodes(&change.resource, nodes).push(id);
                if matches!(
                    change.resource,
                    Resource::File {
                        owner: FileOwner::RoleTls(_),
                        ..
                    }
                ) {
                    nodes.tls_files.push(id);
                }
            }
            Work::CreateDirectory { path } => {
                let create = Action::CreateDirectory { path: path.clone() };
                nodes.env_files.push(self.add(name, index, create, None));
            }
            Work::DeployApp(deployment) => self.app(name, index, deployment, nodes),
            Work::SwitchRoute {
                route,
                target,
                previous,
            } => {
                let target = ContainerTarget::Existing(target.clone());
                let id = self.deploy_route(name, index, route, target, previous);
                nodes.route_deploys.push(id);
            }
            Work::StopContainers {
                containers,
                timeout,
            } => {
                for container in containers {
                    let stop = Action::StopContainer {
                        container: ContainerTarget::Existing(container.clone()),
                        timeout: *timeout,
                    };
                    let start = Action::StartContainer {
                        container: container.clone(),
                    };
                    nodes
                        .stray_stops
                        .push(self.add(name, index, stop, Some(start)));
                }
            }
            Work::RemoveContainers {
                containers,
                stop_first,
            } => {
                let removals = containers.iter().map(|container| Action::RemoveContainer {
                    container: ContainerTarget::Existing(container.clone()),
                    stop_first: *stop_first,
                });
                let ids = self.add_each_best_effort(name, index, removals);
                nodes.container_removals.extend(ids);
            }
            Work::RemoveRoute { service } => {
                let remove = Action::RemoveRoute {
                    service: service.clone(),
                };
                nodes
                    .route_removals
                    .push(self.add(name, index, remove, None));
            }
            Work::StopRoute {
                service,
                drain_timeout,
                message,
            } => {
                let stop = Action::StopRoute {
                    service: service.clone(),
                    drain_timeout: *drain_timeout,
                    message: message.clone(),
                };
                let resume = Action::ResumeRoute {
                    service: service.clone(),
                };
                self.add(name, index, stop, Some(resume));
            }
            Work::ResumeRoute {
                service,
                stop_message,
            } => {
                let resume = Action::ResumeRoute {
                    service: service.clone(),
                };
                // The rollback stops it again at once, with the page it showed.
                let stop = Action::StopRoute {
                    service: service.clone(),
                    drain_timeout: 0,
                    message: (!stop_message.is_empty()).then(|| stop_message.clone()),
                };
                self.add(name, index, resume, Some(stop));
            }
            Work::BootAccessory(boot) => self.accessory(name, index, boot, nodes),
            Work::TagImage {
                source,
                target,
                previous,
            } => nodes.tag = Some(self.tag_image(at, source, target, previous.as_deref())),
            Work::RemovePaths { paths } => {
                let removals = paths
                    .iter()
                    .map(|path| Action::RemovePath { path: path.clone() });
                let ids = self.add_each_best_effort(name, index, removals);
                nodes.path_removals.extend(ids);
            }
            Work::RemoveImages { references } => {
                let removals = references.iter().map(|reference| Action::RemoveImage {
                    reference: reference.clone(),
                });
                let ids = self.add_each_best_effort(name, index, removals);
                nodes.image_removals.extend(ids);
            }
        }
    }

    /// kamal-proxy's boot: pull, remove the outdated proxy, create the apps' config directory,
    /// then run the new one.
    fn boot_proxy(&mut self, at: At<'_>, boot: &ProxyBoot, nodes: &mut HostNodes) {
        let (name, index) = at;
        let mut before = Vec::new();
        if boot.pull {
            let image = &boot.spec.image;
            before.push(self.pull(name, index, image, boot.auth.clone(), nodes));
        }
        if let Some(old) = &boot.replaces {
            // A reboot drops traffic while the new proxy starts: only on request.
            let remove = Action::RemoveContainer {
                container: ContainerTarget::Existing(old.clone()),
                stop_first: true,
            };
            before.push(self.add(name, index, remove, None));
        }
        let create_directory = Action::CreateDirectory {
            path: boot.apps_config_dir.clone(),
        };
        before.push(self.add(name, index, create_directory, None));
        // The proxy stays on rollback: it served nothing before it booted, and other apps on the
        // host may start using it at any time.
        let run = Action::RunContainer {
            spec: Box::new(boot.spec.clone()),
        };
        let run = self.add(name, index, run, None);
        self.edges(&before, run);
        nodes.container_creators.push(run);
        nodes.proxy_ready = Some(run);
    }

    /// Starting a stopped container, stopped again on rollback.
    fn start_container(&mut self, at: At<'_>, container: &ContainerRef, nodes: &mut HostNodes) {
        let (name, index) = at;
        let start = Action::StartContainer {
            container: container.clone(),
        };
        let stop = Action::StopContainer {
            container: ContainerTarget::Existing(container.clone()),
            timeout: None,
        };
        let id = self.add(name, index, start, Some(stop));
        if container.name == crate::naming::PROXY_CONTAINER {
            nodes.proxy_ready = Some(id);
        } else {
            self.accessory_finals.push(id);
        }
    }

    /// Tagging `source` as `target`; on rollback `target` goes back to `previous`, or is
    /// removed (removing a reference that another tag shares only untags it).
    fn tag_image(
        &mut self,
        at: At<'_>,
        source: &str,
        target: &str,
        previous: Option<&str>,
    ) -> ActionId {
        let (name, index) = at;
        let tag = Action::TagImage {
            source: source.to_string(),
            target: target.to_string(),
        };
        let undo = match previous {
            Some(previous) => Action::TagImage {
                source: previous.to_string(),
                target: target.to_string(),
            },
            None => Action::RemoveImage {
                reference: target.to_string(),
            },
        };
        self.add(name, index, tag, Some(undo))
    }

    /// Clean-up actions whose failure does not fail the run.
    fn add_each_best_effort(
        &mut self,
        host: &str,
        at: (usize, usize),
        actions: impl Iterator<Item = Action>,
    ) -> Vec<ActionId> {
        actions
            .map(|action| self.add_best_effort(host, at, action))
            .collect()
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

    /// A new app container, undone by stopping it: a version that failed to boot is kept for
    /// inspection under its own name, as Kamal's `boot.rb` keeps it (`docker logs` still
    /// works), and the next apply renames it aside and boots afresh.
    pub(super) fn run_app_container(
        &mut self,
        host: &str,
        at: (usize, usize),
        spec: crate::model::ContainerSpec,
        stop_timeout: Option<u64>,
    ) -> ActionId {
        let name = spec.name.clone();
        self.add(
            host,
            at,
            Action::RunContainer {
                spec: Box::new(spec),
            },
            Some(Action::StopContainer {
                container: ContainerTarget::Named(name),
                timeout: stop_timeout,
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

/// Error pages wait only for their own directory; every other file is one a container reads.
fn file_nodes<'a>(resource: &Resource, nodes: &'a mut HostNodes) -> &'a mut Vec<ActionId> {
    match resource {
        Resource::File {
            owner: FileOwner::ErrorPage,
            ..
        } => &mut nodes.error_pages,
        _ => &mut nodes.env_files,
    }
}
