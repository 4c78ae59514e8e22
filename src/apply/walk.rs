//! The graph walk: scheduling, failure propagation, rollback, and the per-host outcome.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::apply::ops;
use crate::apply::{ActionResult, ExecOptions, HostOutcome, Hosts, Outcome, Reporter};
use crate::diff::Reach;
use crate::host::PullProgress;
use crate::plan::{Action, ActionId, Plan};

/// How often the progress of running pulls is read from their hosts and reported.
const PULL_PROGRESS_EVERY: Duration = Duration::from_millis(500);

/// What a spawned action reports back.
enum TaskResult {
    Done(Duration),
    Failed(String),
    /// Its scope failed or the run was cancelled while it waited for a slot.
    NotStarted,
}

/// Runs `plan` on `hosts`. Returns when every action has run, failed, been skipped or been
/// undone; never leaves a task behind.
pub async fn execute(
    plan: &Plan,
    hosts: &Hosts,
    options: &ExecOptions,
    reporter: &dyn Reporter,
    cancel: CancellationToken,
) -> Outcome {
    let started = Instant::now();
    let run_token = cancel.child_token();
    let mut walk = Walk {
        plan,
        hosts,
        options,
        reporter,
        semaphore: Arc::new(Semaphore::new(options.parallelism.max(1))),
        run_token: run_token.clone(),
        scope_tokens: BTreeMap::new(),
        waiting: plan
            .actions()
            .map(|(id, _)| (id, plan.dependencies(id).len()))
            .collect(),
        ready: BTreeSet::new(),
        results: BTreeMap::new(),
        completed: Vec::new(),
        failed_scopes: BTreeMap::new(),
        warnings: Vec::new(),
        cancelled: None,
        pulling: BTreeMap::new(),
    };
    walk.ready = walk
        .waiting
        .iter()
        .filter(|(_, count)| **count == 0)
        .map(|(id, _)| *id)
        .collect();

    let mut running: JoinSet<(ActionId, TaskResult)> = JoinSet::new();
    let mut pull_ticks = tokio::time::interval(PULL_PROGRESS_EVERY);
    pull_ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        // A cancellation is noted before anything more is scheduled, whatever the tasks do: a
        // signal just as execution begins must start nothing.
        if run_token.is_cancelled() {
            walk.note_cancelled(&cancel);
        }
        walk.schedule(&mut running);
        if running.is_empty() {
            break;
        }
        tokio::select! {
            biased;
            joined = running.join_next() => {
                if let Some(Ok((id, result))) = joined {
                    walk.finish(id, result);
                }
            }
            _ = run_token.cancelled(), if walk.cancelled.is_none() => walk.note_cancelled(&cancel),
            _ = pull_ticks.tick(), if !walk.pulling.is_empty() => walk.report_pulls(),
        }
    }
    walk.mark_unfinished();
    // Spawned actions that saw the cancelled token can all end before the `cancelled` branch
    // is polled (a signal just as execution began): work left undone says it anyway.
    if run_token.is_cancelled()
        && walk
            .results
            .values()
            .any(|result| matches!(result, ActionResult::NotRun))
    {
        walk.note_cancelled(&cancel);
    }
    walk.roll_back().await;
    let hosts = walk.host_outcomes();
    Outcome {
        actions: walk.results,
        hosts,
        cancelled: walk.cancelled,
        warnings: walk.warnings,
        took: started.elapsed(),
    }
}

struct Walk<'a> {
    plan: &'a Plan,
    hosts: &'a Hosts,
    options: &'a ExecOptions,
    reporter: &'a dyn Reporter,
    semaphore: Arc<Semaphore>,
    run_token: CancellationToken,
    scope_tokens: BTreeMap<String, CancellationToken>,
    /// Unfinished dependencies per action not yet started.
    waiting: BTreeMap<ActionId, usize>,
    ready: BTreeSet<ActionId>,
    results: BTreeMap<ActionId, ActionResult>,
    /// Done actions, in the order they finished.
    completed: Vec<ActionId>,
    /// Scopes that failed, with the root cause.
    failed_scopes: BTreeMap<String, String>,
    warnings: Vec<String>,
    cancelled: Option<String>,
    /// Pull actions started and not finished, with the progress last reported of each.
    pulling: BTreeMap<ActionId, Option<PullProgress>>,
}

impl Walk<'_> {
    /// Records why the run stopped, once: the user interrupted it, or `--fail-fast`.
    fn note_cancelled(&mut self, cancel: &CancellationToken) {
        if self.cancelled.is_some() {
            return;
        }
        let why = if cancel.is_cancelled() {
            "interrupted"
        } else {
            "an action failed (--fail-fast)"
        };
        self.cancelled = Some(why.to_string());
        self.reporter.cancelled(why);
    }

    fn scope_token(&mut self, scope: &str) -> CancellationToken {
        self.scope_tokens
            .entry(scope.to_string())
            .or_insert_with(|| self.run_token.child_token())
            .clone()
    }

    /// Starts every ready action whose scope still runs.
    fn schedule(&mut self, running: &mut JoinSet<(ActionId, TaskResult)>) {
        let ready = std::mem::take(&mut self.ready);
        for id in ready {
            let node = self.plan.node(id);
            if self.cancelled.is_some() || self.failed_scopes.contains_key(&node.scope) {
                self.results.insert(id, ActionResult::NotRun);
                continue;
            }
            let Some(host) = self.hosts.get(&node.host).cloned() else {
                self.fail(id, format!("{} is not connected", node.host));
                continue;
            };
            self.reporter.action_started(self.plan, id);
            if matches!(node.action, Action::PullImage { .. }) {
                self.pulling.insert(id, None);
            }
            let token = self.scope_token(&node.scope);
            let semaphore = self.semaphore.clone();
            let action = node.action.clone();
            let run_id = self.options.run_id.clone();
            let hooks = self.options.hooks.clone();
            running.spawn(async move {
                // Biased: a cancelled token wins over a free slot, never a coin toss.
                let permit = tokio::select! {
                    biased;
                    _ = token.cancelled() => return (id, TaskResult::NotStarted),
                    permit = semaphore.acquire_owned() => permit,
                };
                let Ok(_permit) = permit else {
                    return (id, TaskResult::NotStarted);
                };
                let started = Instant::now();
                let result =
                    match ops::run_guarded(host.as_ref(), &action, &run_id, hooks.as_deref()).await
                    {
                        Ok(()) => TaskResult::Done(started.elapsed()),
                        Err(error) => TaskResult::Failed(error.to_string()),
                    };
                (id, result)
            });
        }
    }

    /// Reports how far each running pull has come, when it moved since the last report. The
    /// host tallies the pull's stream; a pull joined to one started earlier reads that one's.
    fn report_pulls(&mut self) {
        for (id, last) in &mut self.pulling {
            let node = self.plan.node(*id);
            let (Action::PullImage { image, .. }, Some(host)) =
                (&node.action, self.hosts.get(&node.host))
            else {
                continue;
            };
            let Some(progress) = host.pull_progress(image) else {
                continue;
            };
            if *last != Some(progress) {
                *last = Some(progress);
                self.reporter.pull_progress(self.plan, *id, &progress);
            }
        }
    }

    fn finish(&mut self, id: ActionId, result: TaskResult) {
        self.pulling.remove(&id);
        match result {
            TaskResult::Done(took) => {
                self.reporter.action_finished(self.plan, id, took);
                self.results.insert(id, ActionResult::Done { took });
                self.completed.push(id);
                for next in self.plan.dependents(id) {
                    if let Some(count) = self.waiting.get_mut(&next) {
                        *count -= 1;
                        if *count == 0 {
                            self.ready.insert(next);
                        }
                    }
                }
            }
            TaskResult::Failed(error) => self.fail(id, error),
            TaskResult::NotStarted => {
                self.results.insert(id, ActionResult::NotRun);
            }
        }
    }

    fn fail(&mut self, id: ActionId, error: String) {
        let node = self.plan.node(id);
        // Host errors name their host; every line that shows this one already does.
        let error = match error.strip_prefix(node.host.as_str()) {
            Some(rest) if rest.starts_with(": ") => rest[2..].to_string(),
            _ => error,
        };
        self.reporter
            .action_failed(self.plan, id, &error, node.best_effort);
        let best_effort = node.best_effort;
        self.results.insert(
            id,
            ActionResult::Failed {
                error: error.clone(),
                best_effort,
            },
        );
        let failure = format!("#{} {} failed: {error}", self.plan.number(id), node.action);
        if best_effort {
            self.warnings.push(format!("{}: {failure}", node.host));
            return;
        }
        let scope = node.scope.clone();
        // A host's own outcome line already names the host; an `--atomic` rollback does not.
        let cause = if scope == node.host {
            failure
        } else {
            format!("{}: {failure}", node.host)
        };
        self.failed_scopes.entry(scope.clone()).or_insert(cause);
        self.scope_token(&scope).cancel();
        if self.options.fail_fast {
            self.run_token.cancel();
        }
    }

    /// Every action without a result was skipped (a dependency did not finish) or not run.
    fn mark_unfinished(&mut self) {
        let order: Vec<ActionId> = self.plan.actions().map(|(id, _)| id).collect();
        for id in order {
            if self.results.contains_key(&id) {
                continue;
            }
            let blocker = self.plan.dependencies(id).into_iter().find_map(|dep| {
                match self.results.get(&dep) {
                    Some(ActionResult::Failed { .. }) => Some(self.plan.number(dep)),
                    Some(ActionResult::Skipped { because }) => Some(*because),
                    _ => None,
                }
            });
            let result = match blocker {
                Some(because) => ActionResult::Skipped { because },
                None => ActionResult::NotRun,
            };
            self.results.insert(id, result);
        }
    }

    /// The scopes to undo: every failed one, and after a cancellation every one caught between
    /// its first change and its last.
    fn scopes_to_roll_back(&self) -> BTreeMap<String, String> {
        let mut scopes = self.failed_scopes.clone();
        if let Some(why) = &self.cancelled {
            let mut changed: BTreeSet<&str> = BTreeSet::new();
            let mut unfinished: BTreeSet<&str> = BTreeSet::new();
            for (id, node) in self.plan.actions() {
                match self.results.get(&id) {
                    Some(ActionResult::Done { .. }) if !node.action.is_read_only() => {
                        changed.insert(&node.scope);
                    }
                    Some(ActionResult::Done { .. }) => {}
                    _ if node.best_effort => {}
                    _ => {
                        unfinished.insert(&node.scope);
                    }
                }
            }
            for scope in changed.intersection(&unfinished) {
                scopes
                    .entry(scope.to_string())
                    .or_insert_with(|| format!("run {why} mid-way"));
            }
        }
        scopes
    }

    /// Undoes each scope to roll back: its completed actions' compensations, newest first.
    /// Scopes roll back in parallel; each one in order.
    async fn roll_back(&mut self) {
        let scopes = self.scopes_to_roll_back();
        if scopes.is_empty() {
            return;
        }
        for (scope, cause) in &scopes {
            self.reporter.rollback_started(scope, cause);
        }
        let mut tasks: JoinSet<Vec<(ActionId, Result<(), String>)>> = JoinSet::new();
        for scope in scopes.keys() {
            let steps: Vec<(ActionId, String, Action)> = self
                .completed
                .iter()
                .rev()
                .filter_map(|&id| {
                    let node = self.plan.node(id);
                    let compensation = node.compensation.clone()?;
                    (node.scope == *scope).then(|| (id, node.host.clone(), compensation))
                })
                .collect();
            let hosts = self.hosts.clone();
            let run_id = self.options.run_id.clone();
            let local_hooks = self.options.hooks.clone();
            tasks.spawn(async move {
                let mut results = Vec::new();
                for (id, host_name, compensation) in steps {
                    let result = match hosts.get(&host_name) {
                        None => Err(format!("{host_name} is not connected")),
                        Some(host) => ops::run_guarded(
                            host.as_ref(),
                            &compensation,
                            &run_id,
                            local_hooks.as_deref(),
                        )
                        .await
                        .map_err(|error| error.to_string()),
                    };
                    results.push((id, result));
                }
                results
            });
        }
        while let Some(joined) = tasks.join_next().await {
            let Ok(results) = joined else { continue };
            for (id, result) in results {
                self.reporter.compensated(
                    self.plan,
                    id,
                    result.as_ref().map(|_| ()).map_err(String::as_str),
                );
                let entry = match result {
                    Ok(()) => ActionResult::RolledBack,
                    Err(error) => ActionResult::RollbackFailed { error },
                };
                self.results.insert(id, entry);
            }
        }
        // Completed actions without compensation in a rolled-back scope stay done: they change
        // nothing that matters (pulls, writes of files read only by new containers).
        self.failed_scopes = scopes;
    }

    fn host_outcomes(&self) -> BTreeMap<String, HostOutcome> {
        let mut outcomes = BTreeMap::new();
        for host in &self.plan.changes.hosts {
            let outcome = if let Reach::Unreachable { reason } = &host.reach {
                HostOutcome::Unreachable {
                    reason: reason.clone(),
                }
            } else {
                self.host_outcome(&host.host)
            };
            outcomes.insert(host.host.clone(), outcome);
        }
        outcomes
    }

    fn host_outcome(&self, host: &str) -> HostOutcome {
        let actions: Vec<(ActionId, &crate::plan::PlanNode)> = self
            .plan
            .actions()
            .filter(|(_, node)| node.host == host)
            .collect();
        let Some((_, first)) = actions.first() else {
            return HostOutcome::Unchanged;
        };
        if let Some(cause) = self.failed_scopes.get(&first.scope) {
            let rollback_errors: Vec<String> = actions
                .iter()
                .filter_map(|(id, node)| match self.results.get(id) {
                    Some(ActionResult::RollbackFailed { error }) => {
                        Some(format!("undo of {} failed: {error}", node.action))
                    }
                    _ => None,
                })
                .collect();
            return if rollback_errors.is_empty() {
                HostOutcome::RolledBack {
                    cause: cause.clone(),
                }
            } else {
                HostOutcome::Failed {
                    cause: cause.clone(),
                    rollback_errors,
                }
            };
        }
        let all_done = actions.iter().all(|(id, _)| {
            matches!(
                self.results.get(id),
                Some(
                    ActionResult::Done { .. }
                        | ActionResult::Failed {
                            best_effort: true,
                            ..
                        }
                )
            )
        });
        if all_done {
            return HostOutcome::Converged;
        }
        let skipped_because = actions
            .iter()
            .find_map(|(id, _)| match self.results.get(id) {
                Some(ActionResult::Skipped { because }) => Some(*because),
                _ => None,
            });
        match skipped_because {
            Some(because) => {
                let blocker = self
                    .plan
                    .actions()
                    .find(|(id, _)| self.plan.number(*id) == because)
                    .map(|(_, node)| format!("{}: {}", node.host, node.action))
                    .unwrap_or_default();
                HostOutcome::Skipped {
                    cause: format!("waited for #{because} ({blocker}), which did not finish"),
                }
            }
            None => HostOutcome::Cancelled,
        }
    }
}
