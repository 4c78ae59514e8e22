//! Apply: run a plan's action graph on the hosts, and undo what failed.
//!
//! The executor decides nothing: the plan says what to run, in which order, what undoes each
//! action and which actions roll back together (their scope). The executor walks the graph
//! with at most `parallelism` actions at a time, starting every action whose dependencies are
//! done. When an action fails, its dependents are skipped and its scope stops scheduling; once
//! the walk is over, each failed scope runs the compensations of its completed actions in
//! reverse order of completion. Independent branches (other hosts) go on, unless `fail_fast`.
//!
//! Cancellation (Ctrl-C, SIGTERM) stops scheduling; actions already running finish or time out,
//! then every scope caught mid-way is rolled back, so no host is left half-switched.

mod events;
pub mod ops;
mod walk;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::host::Host;
use crate::plan::ActionId;

pub use events::{QuietReporter, Reporter};
pub use walk::execute;

/// How the executor runs a plan.
#[derive(Clone, Debug)]
pub struct ExecOptions {
    /// At most this many actions at once, over all hosts (`--parallelism`, default 10).
    pub parallelism: usize,
    /// Stop scheduling everywhere at the first failure (`--fail-fast`).
    pub fail_fast: bool,
    /// Labels every container this run creates (`gantry.run`), so an interrupted run is found.
    pub run_id: String,
    /// Runs the project's hooks for the plan's `run_hook` actions; a plan with such actions and
    /// no runner fails them.
    pub hooks: Option<Arc<dyn LocalHooks>>,
}

impl Default for ExecOptions {
    fn default() -> Self {
        ExecOptions {
            parallelism: 10,
            fail_fast: false,
            run_id: "gantry".to_string(),
            hooks: None,
        }
    }
}

/// Runs a project hook on the deploying machine ([`Action::RunHook`](crate::plan::Action)):
/// the run around the executor provides it, as it knows the hook directory, the secrets and
/// the `KAMAL_*` context. The error is the message to show.
#[async_trait::async_trait]
pub trait LocalHooks: Send + Sync {
    async fn run_hook(&self, hook: &str, hosts: &[String]) -> Result<(), String>;

    /// Runs `--canary-check`'s `command` with the hooks' `KAMAL_*` context, `KAMAL_HOSTS`
    /// naming the canaries. The error says why the canary failed.
    async fn check_canary(&self, command: &str, hosts: &[String]) -> Result<(), String> {
        let _ = (command, hosts);
        Err("no runner for the canary check".to_string())
    }
}

impl std::fmt::Debug for dyn LocalHooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LocalHooks")
    }
}

/// The connected hosts, by name.
pub type Hosts = BTreeMap<String, Arc<dyn Host>>;

/// How one action ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum ActionResult {
    Done {
        #[serde(with = "duration_ms")]
        took: Duration,
    },
    Failed {
        error: String,
        best_effort: bool,
    },
    /// Not run because an action it depends on failed or was skipped.
    Skipped {
        because: usize,
    },
    /// Not run because its scope rolled back, or the run was cancelled.
    NotRun,
    /// Done, then undone by its compensation.
    RolledBack,
    /// Done; its compensation failed.
    RollbackFailed {
        error: String,
    },
}

/// How one host ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum HostOutcome {
    /// Everything planned for it ran.
    Converged,
    /// Nothing was planned for it.
    Unchanged,
    /// Something failed and everything done was undone: the host is as before the run.
    RolledBack { cause: String },
    /// Something failed and undoing it failed too: the host needs attention.
    Failed {
        cause: String,
        rollback_errors: Vec<String>,
    },
    /// It waited on another host that failed; nothing was changed on it.
    Skipped { cause: String },
    /// The run was cancelled before anything changed on it.
    Cancelled,
    /// It could not be observed, so nothing was planned for it.
    Unreachable { reason: String },
}

/// What a run did.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    pub actions: BTreeMap<ActionId, ActionResult>,
    pub hosts: BTreeMap<String, HostOutcome>,
    /// Why scheduling stopped early, if it did.
    pub cancelled: Option<String>,
    /// Best-effort actions that failed (cleanup left for the next run).
    pub warnings: Vec<String>,
    pub took: Duration,
}

impl Outcome {
    /// True when every host converged (or had nothing to do).
    pub fn succeeded(&self) -> bool {
        self.cancelled.is_none()
            && self
                .hosts
                .values()
                .all(|host| matches!(host, HostOutcome::Converged | HostOutcome::Unchanged))
    }
}

mod duration_ms {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(
        duration: &Duration,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(duration.as_millis() as u64)
    }
}

#[cfg(test)]
mod tests;
