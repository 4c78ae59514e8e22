//! Changes → action graph. The rules, each stated where its edges are added:
//!
//! 1. On a host, the network exists before any container is created on it.
//! 2. An image is pulled, and the role's env file written, before the container that uses them.
//! 3. The proxy runs before any route is deployed or removed through it.
//! 4. Stale and orphaned routes are removed before routes are deployed on that host (a stale
//!    route claims the same host and path and kamal-proxy refuses the new one).
//! 5. A new container is ready (kamal-proxy's health-gated deploy, or Docker's health) before
//!    the old container of its role stops: zero downtime.
//! 6. `latest` is tagged after the host's roles are switched; removals (retention, orphans,
//!    images) come last and are best effort, since they cannot be undone.
//! 7. Accessories boot before any app container starts.
//! 8. Every other role waits for the primary role's first host to be ready (Kamal's barrier).
//! 9. Roles on one host boot one after another unless `boot.parallel_roles`; hosts of a role
//!    boot in groups of `boot.limit`, `boot.wait` seconds apart.

use std::collections::BTreeMap;

use petgraph::algo::toposort;
use petgraph::stable_graph::StableDiGraph;

use crate::diff::{
    AccessoryBoot, AppDeployment, Changes, ContainerRef, PreviousRoute, StartMode, Work,
};
use crate::plan::{Action, ActionId, ContainerTarget, Plan, PlanNode, PlanOptions};
use crate::proxy::ProxyRoute;

/// Builds the action graph of `changes`.
pub fn build(changes: Changes, options: &PlanOptions) -> Plan {
    let mut builder = Builder {
        graph: StableDiGraph::new(),
        options,
        accessory_finals: Vec::new(),
        app_starts: Vec::new(),
        role_deploys: BTreeMap::new(),
        total_hosts: changes.hosts.len(),
    };
    for (host_index, host) in changes.hosts.iter().enumerate() {
        builder.host(host_index, host);
    }
    builder.cross_host_edges();
    // A cycle is impossible by construction (module docs); were one to appear, an empty plan is
    // safer than a cyclic one.
    let mut order = toposort(&builder.graph, None).unwrap_or_default();
    stable_topological_order(&builder.graph, &mut order);
    Plan {
        graph: builder.graph,
        order,
        changes,
    }
}

/// Orders actions by dependencies, ties by creation, so the text of a plan never depends on
/// petgraph's internal traversal order.
fn stable_topological_order(graph: &StableDiGraph<PlanNode, ()>, order: &mut Vec<ActionId>) {
    use petgraph::Direction;
    let mut remaining: BTreeMap<ActionId, usize> = graph
        .node_indices()
        .map(|id| {
            (
                id,
                graph.neighbors_directed(id, Direction::Incoming).count(),
            )
        })
        .collect();
    let mut ready: std::collections::BTreeSet<ActionId> = remaining
        .iter()
        .filter(|(_, count)| **count == 0)
        .map(|(id, _)| *id)
        .collect();
    let mut result = Vec::with_capacity(remaining.len());
    while let Some(id) = ready.pop_first() {
        result.push(id);
        for next in graph.neighbors_directed(id, Direction::Outgoing) {
            if let Some(count) = remaining.get_mut(&next) {
                *count -= 1;
                if *count == 0 {
                    ready.insert(next);
                }
            }
        }
    }
    if result.len() == order.len() {
        *order = result;
    }
}

/// A host's app starts and final actions, for boot groups: `(host, starts, finals)`.
type HostBoot = (String, Vec<ActionId>, Vec<ActionId>);

/// One role's deployment on one host, for the cross-host rules.
struct RoleDeploy {
    host: String,
    primary: bool,
    /// The first action of the deployment (run or start).
    start: ActionId,
    /// The readiness gate: the route switch, or the wait for Docker.
    gate: ActionId,
    /// The last actions (old containers stopped; the gate when nothing retires).
    finals: Vec<ActionId>,
}

struct Builder<'a> {
    graph: StableDiGraph<PlanNode, ()>,
    options: &'a PlanOptions,
    accessory_finals: Vec<ActionId>,
    app_starts: Vec<ActionId>,
    /// Per role, its deployments in host order.
    role_deploys: BTreeMap<String, Vec<RoleDeploy>>,
    /// Every host of the plan: `boot.limit` percentages are taken of them all.
    total_hosts: usize,
}

/// What a host's actions need to be wired together.
#[derive(Default)]
struct HostNodes {
    network: Option<ActionId>,
    pulls: BTreeMap<String, ActionId>,
    env_files: Vec<ActionId>,
    proxy_ready: Option<ActionId>,
    container_creators: Vec<ActionId>,
    /// App containers only: the ones that read the role env files.
    app_creators: Vec<ActionId>,
    route_removals: Vec<ActionId>,
    route_deploys: Vec<ActionId>,
    /// Per role on this host, in order: (start, finals).
    roles: Vec<(ActionId, Vec<ActionId>)>,
    stray_stops: Vec<ActionId>,
    tag: Option<ActionId>,
    container_removals: Vec<ActionId>,
    image_removals: Vec<ActionId>,
}

impl Builder<'_> {
    fn add(
        &mut self,
        host: &str,
        change: (usize, usize),
        action: Action,
        compensation: Option<Action>,
    ) -> ActionId {
        let scope = if self.options.atomic {
            "*".to_string()
        } else {
            host.to_string()
        };
        self.graph.add_node(PlanNode {
            host: host.to_string(),
            action,
            compensation,
            change,
            scope,
            best_effort: false,
        })
    }

    fn add_best_effort(&mut self, host: &str, change: (usize, usize), action: Action) -> ActionId {
        let id = self.add(host, change, action, None);
        self.graph[id].best_effort = true;
        id
    }

    fn edge(&mut self, before: ActionId, after: ActionId) {
        if before != after && self.graph.find_edge(before, after).is_none() {
            self.graph.add_edge(before, after, ());
        }
    }

    fn edges(&mut self, before: &[ActionId], after: ActionId) {
        for &id in before {
            self.edge(id, after);
        }
    }

    fn host(&mut self, host_index: usize, host: &crate::diff::HostChanges) {
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
                    replaces,
                } => {
                    let mut before = Vec::new();
                    if *pull {
                        before.push(self.pull(name, at, &spec.image, None, &mut nodes));
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
                    nodes.env_files.push(id);
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
    fn pull(
        &mut self,
        host: &str,
        at: (usize, usize),
        image: &str,
        auth: Option<crate::host::RegistryAuth>,
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

    fn run_container(
        &mut self,
        host: &str,
        at: (usize, usize),
        spec: crate::host::ContainerSpec,
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

    fn deploy_route(
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

    fn app(
        &mut self,
        host: &str,
        at: (usize, usize),
        deployment: &AppDeployment,
        nodes: &mut HostNodes,
    ) {
        let spec = &deployment.spec;
        let mut before_start = Vec::new();
        if let Some(pull) = &deployment.pull {
            before_start.push(self.pull(host, at, &pull.image, pull.auth.clone(), nodes));
        }
        let start = match &deployment.start {
            StartMode::Create => self.run_container(host, at, spec.clone()),
            StartMode::StartExisting(container) => self.add(
                host,
                at,
                Action::StartContainer {
                    container: container.clone(),
                },
                Some(Action::StopContainer {
                    container: container.clone(),
                    timeout: deployment.stop_timeout,
                }),
            ),
            StartMode::RenameAndCreate {
                existing,
                rename_to,
            } => {
                let rename = self.add(
                    host,
                    at,
                    Action::RenameContainer {
                        container: existing.clone(),
                        new_name: rename_to.clone(),
                    },
                    Some(Action::RenameContainer {
                        container: ContainerRef {
                            id: existing.id.clone(),
                            name: rename_to.clone(),
                        },
                        new_name: existing.name.clone(),
                    }),
                );
                before_start.push(rename);
                self.run_container(host, at, spec.clone())
            }
        };
        // Rule 2: the image and the env file come first.
        self.edges(&before_start, start);
        if !matches!(deployment.start, StartMode::StartExisting(_)) {
            nodes.container_creators.push(start);
            nodes.app_creators.push(start);
        }
        self.app_starts.push(start);

        // Rule 5: the new container is ready before anything of the old one stops.
        let gate = match &deployment.route {
            Some(route) => {
                let id = self.deploy_route(
                    host,
                    at,
                    route,
                    ContainerTarget::Named(spec.name.clone()),
                    &deployment.previous_route,
                );
                nodes.route_deploys.push(id);
                id
            }
            None => {
                let (timeout, readiness_delay) = match deployment.readiness {
                    crate::desired::Readiness::Docker {
                        timeout,
                        readiness_delay,
                    } => (timeout, readiness_delay),
                    crate::desired::Readiness::Proxy => (30, 0),
                };
                self.add(
                    host,
                    at,
                    Action::WaitReady {
                        container: spec.name.clone(),
                        timeout,
                        readiness_delay,
                    },
                    None,
                )
            }
        };
        self.edge(start, gate);
        let mut finals = Vec::new();
        for old in &deployment.retire {
            let stop = self.add(
                host,
                at,
                Action::StopContainer {
                    container: old.clone(),
                    timeout: deployment.stop_timeout,
                },
                Some(Action::StartContainer {
                    container: old.clone(),
                }),
            );
            self.edge(gate, stop);
            finals.push(stop);
        }
        if finals.is_empty() {
            finals.push(gate);
        }
        nodes.roles.push((start, finals.clone()));
        self.role_deploys
            .entry(deployment.role.clone())
            .or_default()
            .push(RoleDeploy {
                host: host.to_string(),
                primary: deployment.primary,
                start,
                gate,
                finals,
            });
    }

    fn accessory(
        &mut self,
        host: &str,
        at: (usize, usize),
        boot: &AccessoryBoot,
        nodes: &mut HostNodes,
    ) {
        let mut before = Vec::new();
        for directory in &boot.directories {
            before.push(self.add(
                host,
                at,
                Action::CreateDirectory {
                    path: directory.clone(),
                },
                None,
            ));
        }
        for file in &boot.files {
            before.push(self.add(host, at, Action::WriteFile { file: file.clone() }, None));
        }
        if let Some(pull) = &boot.pull {
            before.push(self.pull(host, at, &pull.image, pull.auth.clone(), nodes));
        }
        if let Some(old) = &boot.replaces {
            // Recreating an accessory is asked for explicitly; its data lives in volumes and
            // directories that the removal leaves alone.
            before.push(self.add(
                host,
                at,
                Action::RemoveContainer {
                    container: ContainerTarget::Existing(old.clone()),
                    stop_first: true,
                },
                None,
            ));
        }
        let run = self.add(
            host,
            at,
            Action::RunContainer {
                spec: Box::new(boot.spec.clone()),
            },
            None,
        );
        self.edges(&before, run);
        nodes.container_creators.push(run);
        let mut last = run;
        if let Some(route) = &boot.route {
            let id = self.deploy_route(
                host,
                at,
                route,
                ContainerTarget::Named(boot.spec.name.clone()),
                &PreviousRoute::Absent,
            );
            self.edge(run, id);
            nodes.route_deploys.push(id);
            last = id;
        }
        self.accessory_finals.push(last);
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
            self.edges(&nodes.route_removals, deploy);
        }
        for &stop in &nodes.stray_stops {
            self.edges(&nodes.route_deploys, stop);
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
    }

    fn edges_from(&mut self, before: ActionId, after: &[ActionId]) {
        for &id in after {
            self.edge(before, id);
        }
    }

    /// Rules 7, 8 and the boot groups of 9.
    fn cross_host_edges(&mut self) {
        let accessory_finals = std::mem::take(&mut self.accessory_finals);
        let app_starts = std::mem::take(&mut self.app_starts);
        for &start in &app_starts {
            self.edges(&accessory_finals, start);
        }

        let primary_gate = self
            .role_deploys
            .get(&self.options.primary_role)
            .and_then(|deploys| deploys.first())
            .filter(|deploy| deploy.primary)
            .map(|deploy| deploy.gate);
        let role_deploys = std::mem::take(&mut self.role_deploys);
        if let Some(gate) = primary_gate {
            for deploy in role_deploys.values().flatten().filter(|d| !d.primary) {
                self.edge(gate, deploy.start);
            }
        }

        let Some(limit) = self.options.boot.limit else {
            return;
        };
        // Kamal boots hosts in groups: every role on a host is in the host's group.
        let mut hosts: Vec<HostBoot> = Vec::new();
        let mut deploys: Vec<&RoleDeploy> = role_deploys.values().flatten().collect();
        deploys.sort_by_key(|deploy| deploy.start);
        for deploy in deploys {
            match hosts.iter_mut().find(|(host, _, _)| *host == deploy.host) {
                Some((_, starts, finals)) => {
                    starts.push(deploy.start);
                    finals.extend(&deploy.finals);
                }
                None => hosts.push((
                    deploy.host.clone(),
                    vec![deploy.start],
                    deploy.finals.clone(),
                )),
            }
        }
        let group_size = limit.hosts_at_once(self.total_hosts);
        let groups: Vec<&[HostBoot]> = hosts.chunks(group_size).collect();
        for pair in groups.windows(2) {
            let finals: Vec<ActionId> = pair[0].iter().flat_map(|(_, _, f)| f.clone()).collect();
            let next_starts: Vec<ActionId> =
                pair[1].iter().flat_map(|(_, s, _)| s.clone()).collect();
            let barrier = match self.options.boot.wait {
                Some(seconds) if seconds > 0 => {
                    let (host, starts, _) = &pair[1][0];
                    let change = self.graph[starts[0]].change;
                    let sleep = self.add(host, change, Action::Sleep { seconds }, None);
                    self.edges(&finals, sleep);
                    vec![sleep]
                }
                _ => finals,
            };
            for start in next_starts {
                self.edges(&barrier, start);
            }
        }
    }
}
