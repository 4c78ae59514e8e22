//! Plan: the changes as a graph of actions.
//!
//! `build(changes, options)` is pure. Each change becomes a few [`Action`]s (pull, write the env
//! file, run the container, switch the route, stop the old one, ...); edges say "must happen
//! before". The graph is acyclic by construction (every edge points from an action created for
//! an earlier stage of a host's deploy to a later one, or across hosts along the primary-role
//! barrier and boot groups, which are ordered too) and checked with a topological sort.
//!
//! Every mutating action carries its compensation, computed from what was observed, and the
//! rollback scope it belongs to. Two plans of the same world are identical, down to the text of
//! [`Plan`]'s `Display`, which is the canonical form tests compare.

mod action;
mod build;
pub mod dot;
pub mod json;
pub mod markdown;
pub mod render;
pub mod saved;
pub mod svg;

use std::fmt;

use petgraph::Direction;
use petgraph::stable_graph::{NodeIndex, StableDiGraph};
use petgraph::visit::EdgeRef;

use crate::config::{Boot, Canary};
use crate::diff::{ChangeKind, Changes};

pub use action::{Action, ContainerTarget};
pub use build::{CANARY_SCOPE, POST_APP_BOOT, PRE_APP_BOOT, build};

/// An action's place in the plan.
pub type ActionId = NodeIndex;

/// How the planner shapes the graph.
#[derive(Clone, Debug, Default)]
pub struct PlanOptions {
    /// Roll back every host when any action fails (`--atomic`), instead of only the failing host.
    pub atomic: bool,
    /// `boot.limit`, `boot.wait` and `boot.parallel_roles`.
    pub boot: Boot,
    /// The role whose first host gates every other role (Kamal's barrier).
    pub primary_role: String,
    /// The boot hooks the project has (`pre-app-boot`, `post-app-boot`; none with
    /// `--skip-hooks`): each runs around every boot group, as Kamal runs them.
    pub app_boot_hooks: Vec<String>,
    /// A canary rollout (`--canary`, `x-gantry: canary:`): its hosts take the new version first
    /// and are watched and judged before any other host's app boots.
    pub canary: Option<Canary>,
}

/// The two stages of a canary rollout, as planned: who goes first, who follows, what judges.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CanaryStage {
    /// Stage 1: the hosts that take the new version first.
    pub hosts: Vec<String>,
    /// Stage 2: the hosts that follow once the canaries passed; empty when every host is one.
    pub rest: Vec<String>,
    /// How long the canaries' containers are watched.
    pub wait_seconds: u64,
    /// The command run on the deploying machine after the wait.
    pub check: Option<String>,
}

/// One action with everything the executor needs to run or undo it.
#[derive(Clone, Debug)]
pub struct PlanNode {
    pub host: String,
    pub action: Action,
    /// What undoes this action if its scope rolls back; `None` when nothing needs undoing.
    pub compensation: Option<Action>,
    /// The host's index in [`Plan::changes`] and the change's index in that host.
    pub change: (usize, usize),
    /// Actions that fail in the same scope roll back together: a host name, or `*` for all.
    pub scope: String,
    /// A failure is reported but rolls nothing back (cleanup: prune, retention).
    pub best_effort: bool,
}

/// The action graph and the changes it came from.
#[derive(Clone, Debug)]
pub struct Plan {
    graph: StableDiGraph<PlanNode, ()>,
    /// Node ids in a topological order (ties broken by creation order, so it is stable).
    order: Vec<ActionId>,
    pub changes: Changes,
    /// The canary stage, when the plan has one.
    pub canary: Option<CanaryStage>,
}

/// The counts of the summary line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    pub add: usize,
    pub change: usize,
    pub replace: usize,
    pub remove: usize,
}

impl Plan {
    /// True when nothing needs to change on any host.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Every action, in topological order.
    pub fn actions(&self) -> impl Iterator<Item = (ActionId, &PlanNode)> {
        self.order.iter().map(|&id| (id, &self.graph[id]))
    }

    /// One action.
    pub fn node(&self, id: ActionId) -> &PlanNode {
        &self.graph[id]
    }

    /// The number of actions.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// The actions that must finish before `id` starts.
    pub fn dependencies(&self, id: ActionId) -> Vec<ActionId> {
        let mut deps: Vec<ActionId> = self
            .graph
            .edges_directed(id, Direction::Incoming)
            .map(|edge| edge.source())
            .collect();
        deps.sort();
        deps
    }

    /// The actions that wait for `id`.
    pub fn dependents(&self, id: ActionId) -> Vec<ActionId> {
        let mut deps: Vec<ActionId> = self
            .graph
            .edges_directed(id, Direction::Outgoing)
            .map(|edge| edge.target())
            .collect();
        deps.sort();
        deps
    }

    /// The number a person sees for an action (`#3`): its position in creation order, from 1.
    pub fn number(&self, id: ActionId) -> usize {
        id.index() + 1
    }

    /// Resource counts by kind of change, over every host.
    pub fn summary(&self) -> Summary {
        let mut summary = Summary::default();
        for change in self.changes.hosts.iter().flat_map(|host| &host.changes) {
            match change.kind {
                ChangeKind::Create => summary.add += 1,
                ChangeKind::Update => summary.change += 1,
                ChangeKind::Replace => summary.replace += 1,
                ChangeKind::Remove => summary.remove += 1,
            }
        }
        summary
    }
}

/// The canonical text: one line per action, `[deps] -> #id host: action (reason)`, in
/// topological order. Deterministic, so it doubles as the golden format of tests.
impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (id, node) in self.actions() {
            let deps: Vec<String> = self
                .dependencies(id)
                .iter()
                .map(|dep| format!("#{}", self.number(*dep)))
                .collect();
            let change = &self.changes.hosts[node.change.0].changes[node.change.1];
            write!(
                f,
                "[{}] -> #{} {}: {} ({})",
                deps.join(","),
                self.number(id),
                node.host,
                node.action,
                render::reason_text(&change.reason)
            )?;
            if let Some(compensation) = &node.compensation {
                write!(f, " undo: {compensation}")?;
            }
            if node.best_effort {
                write!(f, " [best effort]")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
