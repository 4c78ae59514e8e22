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
//!    images, paths) come last and are best effort, since they cannot be undone. A route is
//!    removed before the containers it served are stopped.
//! 7. Accessories boot before any app container starts.
//! 8. Every other role waits for the primary role's first host to be ready (Kamal's barrier).
//! 9. Roles on one host boot one after another unless `boot.parallel_roles`; hosts of a role
//!    boot in groups of `boot.limit`, `boot.wait` seconds apart.
//! 10. With a canary stage, no app of another host boots before the canaries were watched and
//!     judged, and nothing a rollback cannot undo runs on a canary before that verdict.

mod canary;
mod cross;

pub use canary::CANARY_SCOPE;

pub use cross::{POST_APP_BOOT, PRE_APP_BOOT};
mod deploy;
mod host;

use std::collections::BTreeMap;

use petgraph::algo::toposort;
use petgraph::stable_graph::StableDiGraph;

use crate::diff::Changes;
use crate::plan::{Action, ActionId, Plan, PlanNode, PlanOptions};

/// Builds the action graph of `changes`.
pub fn build(changes: Changes, options: &PlanOptions) -> Plan {
    let mut builder = Builder {
        graph: StableDiGraph::new(),
        options,
        accessory_finals: Vec::new(),
        app_starts: Vec::new(),
        role_deploys: BTreeMap::new(),
        total_hosts: changes.hosts.len(),
        cleanups: BTreeMap::new(),
        canary_stage: None,
    };
    for (host_index, host) in changes.hosts.iter().enumerate() {
        builder.host(host_index, host);
    }
    builder.cross_host_edges();
    builder.canary_scope();
    // A cycle is impossible by construction (module docs); were one to appear, an empty plan is
    // safer than a cyclic one.
    let mut order = toposort(&builder.graph, None).unwrap_or_default();
    stable_topological_order(&builder.graph, &mut order);
    Plan {
        graph: builder.graph,
        order,
        changes,
        canary: builder.canary_stage,
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
pub(super) type HostBoot = (String, Vec<ActionId>, Vec<ActionId>);

/// One role's deployment on one host, for the cross-host rules.
pub(super) struct RoleDeploy {
    host: String,
    primary: bool,
    /// The first action of the deployment (run or start).
    start: ActionId,
    /// The readiness gate: the route switch, or the wait for Docker.
    gate: ActionId,
    /// The new container's name.
    container: String,
    /// The last actions (old containers stopped; the gate when nothing retires).
    finals: Vec<ActionId>,
}

pub(super) struct Builder<'a> {
    graph: StableDiGraph<PlanNode, ()>,
    options: &'a PlanOptions,
    accessory_finals: Vec<ActionId>,
    app_starts: Vec<ActionId>,
    /// Per role, its deployments in host order.
    role_deploys: BTreeMap<String, Vec<RoleDeploy>>,
    /// Every host of the plan: `boot.limit` percentages are taken of them all.
    total_hosts: usize,
    /// Per host, what a rollback cannot undo or should not see done (`latest`, removals,
    /// prunes): on a canary, held back until the verdict.
    cleanups: BTreeMap<String, Vec<ActionId>>,
    /// The canary stage, once planned.
    canary_stage: Option<crate::plan::CanaryStage>,
}

/// What a host's actions need to be wired together.
#[derive(Default)]
pub(super) struct HostNodes {
    network: Option<ActionId>,
    pulls: BTreeMap<String, ActionId>,
    env_files: Vec<ActionId>,
    /// Error pages, uploaded before any route deploy on the host.
    error_pages: Vec<ActionId>,
    /// Roles' TLS certificates and keys: kamal-proxy loads them when a route is deployed.
    tls_files: Vec<ActionId>,
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
    path_removals: Vec<ActionId>,
    /// Clean-ups of older versions' directories, one per directory.
    prunes: BTreeMap<crate::diff::OlderVersions, ActionId>,
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

    fn edges_from(&mut self, before: ActionId, after: &[ActionId]) {
        for &id in after {
            self.edge(before, id);
        }
    }
}
