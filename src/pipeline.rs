//! The stages wired together, in one place: every command that plans goes through here.
//!
//! ```text
//! Config + secrets + version ─► desired ─┐
//!                                        ├─► diff ─► plan
//! hosts ─────────────────────► observe ──┘
//! ```
//!
//! Desired state is built before any host is contacted, so a configuration or secret problem
//! stops the run before the first connection.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::config::Config;
use crate::desired::{self, Desired, DesiredError, DesiredInputs, SecretValues, Selection};
use crate::diff::{self, DiffOptions};
use crate::host::Host;
use crate::observe::{self, Observed};
use crate::plan::{self, Plan, PlanOptions};

/// Connected hosts, or why a host could not be connected.
pub type Connections = BTreeMap<String, Result<Arc<dyn Host>, String>>;

/// Everything a plan is made from, besides the hosts.
pub struct PlanRequest<'a> {
    pub config: &'a Config,
    pub secrets: &'a dyn SecretValues,
    pub version: &'a str,
    pub selection: &'a Selection,
    pub diff: DiffOptions,
    pub atomic: bool,
    /// Reads files named by accessories' `files:`.
    pub read_local_file: &'a dyn Fn(&str) -> Result<Vec<u8>, String>,
}

/// A plan and what it was made from.
pub struct Planned {
    pub desired: Desired,
    pub observed: Observed,
    pub plan: Plan,
}

/// The desired state of a request: pure, and the place configuration errors surface.
pub fn desired(request: &PlanRequest<'_>) -> Result<Desired, DesiredError> {
    desired::build(
        request.config,
        request.secrets,
        &DesiredInputs {
            version: request.version,
            selection: request.selection,
            read_local_file: request.read_local_file,
        },
    )
}

/// Observes the hosts of `desired` and plans.
pub async fn observe_and_plan(
    request: &PlanRequest<'_>,
    desired: Desired,
    connections: &Connections,
    parallelism: usize,
) -> Planned {
    let observed = observe::observe_all(&desired, connections, parallelism).await;
    let plan = plan_from(request, &desired, &observed);
    Planned {
        desired,
        observed,
        plan,
    }
}

/// Plans from an observation already made.
pub fn plan_from(request: &PlanRequest<'_>, desired: &Desired, observed: &Observed) -> Plan {
    let changes = diff::diff(desired, observed, request.diff);
    plan::build(
        changes,
        &PlanOptions {
            atomic: request.atomic,
            boot: request.config.boot.clone(),
            primary_role: request.config.primary_role.clone(),
        },
    )
}
