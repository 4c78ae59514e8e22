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

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use tokio::task::JoinSet;

use crate::config::Config;
use crate::desired::{self, Desired, DesiredError, DesiredInputs, SecretValues, Selection};
use crate::diff::{self, DiffOptions};
use crate::host::Host;
use crate::model::RoundTripCounts;
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
    /// The project's `pre-app-boot`/`post-app-boot` hooks, planned around each boot group.
    pub app_boot_hooks: Vec<String>,
    /// The canary rollout, if the run makes one.
    pub canary: Option<crate::config::Canary>,
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
            // What Kamal's ERB sees as `ENV` in an accessory's `.erb` file.
            local_env: &|name| std::env::var(name).ok(),
        },
    )
}

/// The round trips each connected host was sent so far, by host; hosts that do not count them
/// (fakes) are left out.
pub fn round_trips(connections: &Connections) -> BTreeMap<String, RoundTripCounts> {
    connections
        .iter()
        .filter_map(|(name, host)| Some((name.clone(), host.as_ref().ok()?.round_trips()?)))
        .collect()
}

/// Logs [`round_trips`] at info level (`-v`), one line per host, and returns them.
pub fn log_round_trips(connections: &Connections) -> BTreeMap<String, RoundTripCounts> {
    let counts = round_trips(connections);
    for (host, trips) in &counts {
        tracing::info!("{host}: {trips}");
    }
    counts
}

/// Observes the hosts of `desired` and plans.
pub async fn observe_and_plan(
    request: &PlanRequest<'_>,
    desired: Desired,
    connections: &Connections,
    parallelism: usize,
) -> Planned {
    observe_and_plan_telling(request, desired, connections, parallelism, &|_| {}).await
}

/// [`observe_and_plan`], calling `host_read` as each host is read (for progress).
pub async fn observe_and_plan_telling(
    request: &PlanRequest<'_>,
    desired: Desired,
    connections: &Connections,
    parallelism: usize,
    host_read: &(dyn Fn(&str) + Send + Sync),
) -> Planned {
    let observed =
        observe::observe_all_telling(&desired, connections, parallelism, host_read).await;
    planned_from(request, desired, observed)
}

/// [`observe_and_plan`], taking the deploy lock on the hosts `locks` names in the same round
/// trip as reading them ([`observe::HostState::lock_taken`] says where it was taken).
pub async fn observe_and_plan_locking(
    request: &PlanRequest<'_>,
    desired: Desired,
    connections: &Connections,
    parallelism: usize,
    locks: &BTreeMap<String, observe::LockTake>,
) -> Planned {
    let observed =
        observe::observe_all_with(&desired, connections, parallelism, locks, &|_| {}).await;
    planned_from(request, desired, observed)
}

/// The plan from `observed`, with what it was made of.
fn planned_from(request: &PlanRequest<'_>, desired: Desired, observed: Observed) -> Planned {
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
            app_boot_hooks: request.app_boot_hooks.clone(),
            canary: request.canary.clone(),
        },
    )
}

/// App image pulls started ahead of the plan; dropping it stops the ones still running.
#[derive(Debug, Default)]
pub struct Prefetch {
    pulls: JoinSet<()>,
}

impl Prefetch {
    /// Pulls under way or done.
    pub fn len(&self) -> usize {
        self.pulls.len()
    }

    /// Whether nothing was started.
    pub fn is_empty(&self) -> bool {
        self.pulls.is_empty()
    }

    /// Waits for every pull (for tests and benchmarks; `apply` never waits on a prefetch).
    pub async fn finish(mut self) {
        while self.pulls.join_next().await.is_some() {}
    }
}

/// Starts pulling the version's app image on every connected host that lacks it, so the pull,
/// the slowest step of a deploy, overlaps observing and planning. Called only under the deploy
/// lock (Kamal pulls before taking it): to the run holding the lock, an image another run
/// pulled is an unused image to prune, a change of its plan. The plan's own pull action
/// joins a pull still under way ([`Host::pull_image`]); a prefetch that fails is forgotten,
/// and the action pulls again and reports its own error. Must run inside a tokio runtime.
pub fn prefetch_app_images(desired: &Desired, connections: &Connections) -> Prefetch {
    let mut prefetch = Prefetch::default();
    for host in &desired.hosts {
        let Some(Ok(connection)) = connections.get(&host.name) else {
            continue;
        };
        let images: BTreeSet<String> = host
            .apps
            .iter()
            .map(|app| app.container.image.clone())
            .collect();
        for image in images {
            let connection = connection.clone();
            let auth = desired.registry_auth.clone();
            let span = tracing::debug_span!("prefetch", host = %host.name, image = %image);
            prefetch.pulls.spawn(tracing::Instrument::instrument(
                async move {
                    if let Ok(None) = connection.inspect_image(&image).await {
                        let result = connection.pull_image(&image, auth.as_ref()).await;
                        tracing::debug!(ok = result.is_ok(), "prefetched");
                    }
                },
                span,
            ));
        }
    }
    prefetch
}
