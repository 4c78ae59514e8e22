//! What the executor tells the outside world while it runs.
//!
//! The executor never prints: it calls a [`Reporter`] (ripgrep's `Sink`, uv's `InstallLogger`),
//! and the CLI picks an implementation (live lines, JSON events, quiet). Every method has an
//! empty default, so a reporter implements only what it shows.

use std::time::Duration;

use crate::host::PullProgress;
use crate::plan::{ActionId, Plan};

/// Receives the executor's progress.
pub trait Reporter: Send + Sync {
    /// An action started.
    fn action_started(&self, _plan: &Plan, _id: ActionId) {}
    /// A running pull action's image came further (read from its host every half second,
    /// reported only when it moved).
    fn pull_progress(&self, _plan: &Plan, _id: ActionId, _progress: &PullProgress) {}
    /// An action finished.
    fn action_finished(&self, _plan: &Plan, _id: ActionId, _took: Duration) {}
    /// An action failed; `best_effort` failures roll nothing back.
    fn action_failed(&self, _plan: &Plan, _id: ActionId, _error: &str, _best_effort: bool) {}
    /// A scope (a host, or everything with `--atomic`) starts rolling back.
    fn rollback_started(&self, _scope: &str, _cause: &str) {}
    /// One compensation ran.
    fn compensated(&self, _plan: &Plan, _id: ActionId, _result: Result<(), &str>) {}
    /// Scheduling stopped (Ctrl-C, SIGTERM or `--fail-fast`).
    fn cancelled(&self, _why: &str) {}
}

/// Reports nothing.
pub struct QuietReporter;

impl Reporter for QuietReporter {}
