//! One run of a command that changes hosts, in the order every such command follows:
//!
//! ```text
//! start (signals) ─► connect (once) ─► lock ─► observe ─► plan ─► confirm ─► execute + record ─► release
//! ```
//!
//! [`Session`] holds what stays the same across the run (the loaded project, who runs it, how it
//! shows itself, the cancellation token); a command supplies only its changes: the converging
//! plan of `apply`, `deploy` and `rollback`, or a day-2 planner's (`crate::day2`). Every
//! path out of [`Session::with_lock`] releases the locks it took, after errors, a declined
//! prompt and signals alike.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::connect::{ConnectError, Connector, observe_width};
use super::exit::Exit;
use super::lock_hosts::lock_hosts;
use super::prepared::Prepared;
use super::signals;
use super::ui::{Answer, Notice, Question, Ui};
use crate::apply::{ExecOptions, Hosts, LocalHooks};
use crate::desired::Desired;
use crate::diff::{Changes, Note};
use crate::host::Host;
use crate::naming::{LOCK_DETAILS_FILE, ServiceNames};
use crate::observe::{LockTake, Observed};
use crate::pipeline::{self, Connections, PlanRequest, Planned};
use crate::plan::saved::SavedPlan;
use crate::plan::{self, Plan, PlanOptions};
use crate::records::lock::{self, LockError, LockRequest};
use crate::session::run::{Records, RunIdentity, now_rfc3339, record_execute_and_release};

/// Why a run stopped before its plan ran.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum SessionError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Connect(#[from] ConnectError),
    #[error("the primary role has no host to hold the deploy lock")]
    NoLockHost,
    #[error("cannot take the deploy lock: {host} is unreachable: {reason}")]
    #[diagnostic(help(
        "the deploy lock lives on the primary host (and, with --hosts or --roles, on the host Kamal \
         locks for them too); bring it back"
    ))]
    LockHostUnreachable { host: String, reason: String },
    #[error("cannot take the deploy lock: {host} is not connected")]
    LockHostNotConnected { host: String },
    #[error(transparent)]
    #[diagnostic(help(
        "wait for the other deploy to finish (or use --lock-wait); if no deploy is running, \
         `gantry lock release` frees a stale lock"
    ))]
    Lock(Box<LockError>),
    #[error("{0}")]
    #[diagnostic(help(
        "unset it for the default of 60 s, or give the seconds a run may stay silent before its \
         lock is taken over"
    ))]
    StaleLockSetting(String),
    #[error("{0}")]
    #[diagnostic(help("run `gantry plan -o FILE` again and review the new plan"))]
    StalePlan(String),
}

/// The deploy locks a run holds, each with the details it wrote in it.
type HeldLocks = Vec<(Arc<dyn Host>, String)>;

/// When a plan's run releases the locks: with its last records, when the run ends with it (one
/// session fewer per lock host), or at the end of the command, which may run more under them
/// (a rolling proxy reboot runs a plan per host, hooks run after a plan).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Release {
    WithTheRecords,
    AtTheEnd,
}

/// How a command waits for a deploy lock held by another automatic deploy (`--lock-wait`).
#[derive(Clone, Copy, Debug)]
pub struct LockWait {
    pub timeout: Duration,
    pub interval: Duration,
}

/// How the plans of a run are executed.
#[derive(Clone)]
pub struct RunSettings {
    /// Actions at once over all hosts (`--parallelism`).
    pub parallelism: usize,
    /// Stop everything at the first failure (`--fail-fast`).
    pub fail_fast: bool,
    /// Wait for an automatic lock instead of refusing at once (`--lock-wait`).
    pub lock_wait: Option<LockWait>,
    /// Runs the plan's `run_hook` actions (`pre-app-boot`, `post-app-boot` per boot group).
    pub hooks: Option<Arc<dyn LocalHooks>>,
}

impl Default for RunSettings {
    fn default() -> Self {
        RunSettings {
            parallelism: 10,
            fail_fast: false,
            lock_wait: None,
            hooks: None,
        }
    }
}

/// One run of a command on hosts. Created inside the run's tokio runtime: from that moment,
/// Ctrl-C, SIGTERM and SIGHUP cancel the run instead of ending the process.
pub struct Session<'a> {
    pub prepared: &'a Prepared,
    pub names: ServiceNames,
    pub identity: RunIdentity,
    /// Kamal's lock holder (git user name, else the login name).
    holder: String,
    ui: Arc<dyn Ui>,
    settings: RunSettings,
    cancel: CancellationToken,
    lock_hosts: Vec<String>,
    /// How long a run must be silent before its lock counts as stale.
    stale_lock_after: Duration,
    /// The deploy locks this run holds now, in the order taken.
    held: std::sync::Mutex<HeldLocks>,
}

impl<'a> Session<'a> {
    /// Starts a run: signals are handled from here on. `stale_lock_setting` is
    /// `GANTRY_STALE_LOCK_SECONDS`, checked before any lock is taken.
    pub fn start(
        prepared: &'a Prepared,
        identity: RunIdentity,
        holder: String,
        ui: Arc<dyn Ui>,
        settings: RunSettings,
        stale_lock_setting: Option<&str>,
    ) -> Result<Session<'a>, SessionError> {
        let stale_lock_after = crate::records::journal::abandoned_after(stale_lock_setting)
            .map_err(|error| SessionError::StaleLockSetting(error.to_string()))?;
        let cancel = CancellationToken::new();
        signals::watch(cancel.clone(), ui.clone());
        Ok(Session {
            names: ServiceNames::for_config(&prepared.loaded.config),
            lock_hosts: lock_hosts(&prepared.loaded.config, &prepared.selection),
            prepared,
            identity,
            holder,
            ui,
            settings,
            cancel,
            stale_lock_after,
            held: std::sync::Mutex::default(),
        })
    }

    /// The hosts whose deploy lock this run takes ([`lock_hosts`]).
    pub fn lock_hosts(&self) -> &[String] {
        &self.lock_hosts
    }

    /// Whether a signal asked the run to stop.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Says the run stopped before its first change, and how it ends.
    pub fn interrupted_before_changes(&self) -> Exit {
        self.ui.notice(Notice::InterruptedBeforeChanges);
        signals::interrupted()
    }

    /// Connects, once, to `hosts` and to the lock hosts (which `--hosts` may leave out).
    pub async fn connect(
        &self,
        connector: &dyn Connector,
        hosts: &[String],
    ) -> Result<Connections, SessionError> {
        let mut all = hosts.to_vec();
        for host in &self.lock_hosts {
            if !all.contains(host) {
                all.push(host.clone());
            }
        }
        Ok(connector.connect(&all).await?)
    }

    /// Runs `body` holding the deploy lock on every lock host, and releases them afterwards
    /// whatever happened. Interrupted while waiting for a lock, nothing runs.
    pub async fn with_lock(
        &self,
        connections: &Connections,
        body: impl Future<Output = Result<Exit, miette::Report>>,
    ) -> Result<Exit, miette::Report> {
        self.locking(&self.lock_hosts, connections, body).await
    }

    /// [`Session::with_lock`] taking the locks of `first` before `body`, which takes the
    /// other lock hosts' itself; every lock held when it ends is released.
    async fn locking(
        &self,
        first: &[String],
        connections: &Connections,
        body: impl Future<Output = Result<Exit, miette::Report>>,
    ) -> Result<Exit, miette::Report> {
        if self.is_cancelled() {
            return Ok(self.interrupted_before_changes());
        }
        if self.lock_hosts.is_empty() {
            return Err(miette::Report::new(SessionError::NoLockHost));
        }
        let result = match self.take_locks(first, connections).await {
            Some(refusal) => refusal,
            None => body.await,
        };
        // The lock goes, whatever happened: an error, a refusal, Ctrl-C.
        self.release_locks().await;
        result
    }

    /// Takes the lock on each of `names` in turn, each held from then on (with the details
    /// this run wrote in it, released in one round trip while they are unchanged); how the run
    /// ends when one was refused or the wait for one interrupted.
    async fn take_locks(
        &self,
        names: &[String],
        connections: &Connections,
    ) -> Option<Result<Exit, miette::Report>> {
        for name in names {
            let taken = match lock_connection(name, connections) {
                Ok(host) => self.take_lock(&host).await.map(|taken| (host, taken)),
                Err(error) => Err(error),
            };
            match taken {
                Ok((host, Some(written))) => self.hold(host, written),
                Ok((_, None)) => return Some(Ok(self.interrupted_before_changes())),
                Err(error) => return Some(Err(miette::Report::new(error))),
            }
        }
        None
    }

    /// The locks held now.
    fn held(&self) -> std::sync::MutexGuard<'_, HeldLocks> {
        self.held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Counts `host`'s lock, with the details written in it, among those held.
    fn hold(&self, host: Arc<dyn Host>, written: String) {
        self.held().push((host, written));
    }

    /// Releases every lock still held, the last taken first.
    async fn release_locks(&self) {
        let held = std::mem::take(&mut *self.held());
        for (host, written) in held.iter().rev() {
            self.release_lock(host.as_ref(), written).await;
        }
    }

    /// Asks `question` through the UI: `None` to go on, else how the run ends (declined, or
    /// interrupted while asking: a signal does not wait for the answer).
    pub async fn ask(&self, question: &Question) -> Result<Option<Exit>, miette::Report> {
        Ok(match self.ui.confirm(question, &self.cancel).await? {
            Answer::Yes => None,
            Answer::No => {
                self.ui.notice(Notice::Declined(question));
                Some(Exit::Failed)
            }
            Answer::Interrupted => Some(self.interrupted_before_changes()),
        })
    }

    /// `apply`'s plan: observe, plan `desired` (a saved plan must match what is observed now),
    /// then [`Session::execute_plan`]. Observing only reads: an interruption drops it.
    pub async fn converge(
        &self,
        request: &PlanRequest<'_>,
        desired: Desired,
        connections: &Connections,
        saved: Option<&SavedPlan>,
        question: Option<Question>,
    ) -> Result<Exit, miette::Report> {
        let width = observe_width(connections);
        let planned: Planned = tokio::select! {
            planned = pipeline::observe_and_plan(request, desired, connections, width) => planned,
            _ = self.cancel.cancelled() => return Ok(self.interrupted_before_changes()),
        };
        self.execute_planned(planned, connections, saved, question, Release::AtTheEnd)
            .await
    }

    /// [`Session::with_lock`] around [`Session::converge`] in one round trip fewer per lock
    /// host: the script that reads a lock host's files takes its lock first (Kamal's `mkdir`,
    /// the same details), so a run that changes nothing opens two sessions there, observe and
    /// release. For an `apply` with nothing to run between the lock and the look at the hosts
    /// (no `pre-deploy` hook). A lock found held goes the usual way, which waits, takes over an
    /// abandoned run's lock or refuses; once taken so, the hosts are looked at again. The app
    /// image pulls start once every lock is held and the plan changes something
    /// ([`pipeline::prefetch_app_images`]).
    pub async fn converge_taking_locks(
        &self,
        request: &PlanRequest<'_>,
        desired: Desired,
        connections: &Connections,
        saved: Option<&SavedPlan>,
        question: Option<Question>,
    ) -> Result<Exit, miette::Report> {
        // A lock host the run does not observe (`--hosts` left it out) is locked on its own.
        let (folded, apart): (Vec<String>, Vec<String>) =
            self.lock_hosts.iter().cloned().partition(|name| {
                desired.hosts.iter().any(|host| &host.name == name)
                    && matches!(connections.get(name), Some(Ok(_)))
            });
        let body = self.observe_locking_and_execute(
            &folded,
            request,
            desired,
            connections,
            saved,
            question,
        );
        self.locking(&apart, connections, body).await
    }

    /// The body of [`Session::converge_taking_locks`]: every lock taken, by the reading
    /// script or the usual way, is held from then on.
    async fn observe_locking_and_execute(
        &self,
        folded: &[String],
        request: &PlanRequest<'_>,
        desired: Desired,
        connections: &Connections,
        saved: Option<&SavedPlan>,
        question: Option<Question>,
    ) -> Result<Exit, miette::Report> {
        let written = lock::details(&LockRequest {
            holder: &self.holder,
            now: &now_rfc3339(),
            version: &self.identity.version,
            message: &lock::automatic_message(&self.identity.run_id),
        });
        let locks: BTreeMap<String, LockTake> = folded
            .iter()
            .map(|name| {
                let take = LockTake {
                    dir: self.names.lock_dir(),
                    details: written.clone(),
                };
                (name.clone(), take)
            })
            .collect();
        let width = observe_width(connections);
        let planned = tokio::select! {
            planned = pipeline::observe_and_plan_locking(
                request, desired.clone(), connections, width, &locks,
            ) => Some(planned),
            _ = self.cancel.cancelled() => None,
        };
        let mut look_again = false;
        for name in folded {
            let host = lock_connection(name, connections).map_err(miette::Report::new)?;
            let taken = planned
                .as_ref()
                .and_then(|planned| planned.observed.hosts.get(name))
                .and_then(|observed| observed.state())
                .and_then(|state| state.lock_taken);
            match taken {
                Some(true) => self.hold(host, written.clone()),
                // Held by another run: the usual way says by whom, waits or takes it over.
                Some(false) => {
                    if let Some(refusal) = self
                        .take_locks(std::slice::from_ref(name), connections)
                        .await
                    {
                        return refusal;
                    }
                    look_again = true;
                }
                // Unknown (the host failed mid-read, or the run was interrupted): whatever this
                // run may have created goes, as a release would take it.
                None => {
                    let _ = host
                        .remove_dir_if_file_is(
                            &self.names.lock_dir(),
                            LOCK_DETAILS_FILE,
                            written.as_bytes(),
                        )
                        .await;
                    if self.is_cancelled() {
                        return Ok(self.interrupted_before_changes());
                    }
                    if let Some(refusal) = self
                        .take_locks(std::slice::from_ref(name), connections)
                        .await
                    {
                        return refusal;
                    }
                    look_again = true;
                }
            }
        }
        let planned = match planned {
            Some(planned) if !look_again => planned,
            _ => tokio::select! {
                planned = pipeline::observe_and_plan(request, desired, connections, width) => planned,
                _ = self.cancel.cancelled() => return Ok(self.interrupted_before_changes()),
            },
        };
        // Under every lock now: the pulls may start while the plan is confirmed and journaled
        // (its pull actions join them).
        let _prefetch = (saved.is_none() && !planned.plan.is_empty())
            .then(|| pipeline::prefetch_app_images(&planned.desired, connections));
        self.execute_planned(
            planned,
            connections,
            saved,
            question,
            Release::WithTheRecords,
        )
        .await
    }

    /// Checks a plan made from what was observed (against a saved plan, if any) and runs it.
    async fn execute_planned(
        &self,
        mut planned: Planned,
        connections: &Connections,
        saved: Option<&SavedPlan>,
        question: Option<Question>,
        release: Release,
    ) -> Result<Exit, miette::Report> {
        // The lock this run holds is no news to its user.
        for host in &mut planned.plan.changes.hosts {
            host.notes.retain(|note| {
                !matches!(note, Note::Locked(info) if lock::run_of(info) == Some(self.identity.run_id.as_str()))
            });
        }
        if let Some(saved) = saved {
            saved
                .check_observed(&planned.observed)
                .and_then(|()| saved.check_plan(&planned.plan))
                .map_err(|error| SessionError::StalePlan(error.to_string()))?;
        }
        self.run_plan(
            &planned.plan,
            &planned.observed,
            connections,
            question,
            release,
        )
        .await
    }

    /// A day-2 planner's `changes`, planned and run by [`Session::execute_plan`].
    pub async fn execute_changes(
        &self,
        changes: Changes,
        observed: &Observed,
        connections: &Connections,
        question: Option<Question>,
    ) -> Result<Exit, miette::Report> {
        let config = &self.prepared.loaded.config;
        let plan = plan::build(
            changes,
            &PlanOptions {
                atomic: false,
                boot: config.boot.clone(),
                primary_role: config.primary_role.clone(),
                app_boot_hooks: Vec::new(),
                canary: None,
            },
        );
        self.execute_plan(&plan, observed, connections, question)
            .await
    }

    /// Shows `plan`, asks `question` when there is one, then journals, executes, audits and
    /// shows the outcome. An empty plan changes nothing; a host that could not be observed
    /// makes the run fail even when every other host converged.
    pub async fn execute_plan(
        &self,
        plan: &Plan,
        observed: &Observed,
        connections: &Connections,
        question: Option<Question>,
    ) -> Result<Exit, miette::Report> {
        self.run_plan(plan, observed, connections, question, Release::AtTheEnd)
            .await
    }

    /// [`Session::execute_plan`], releasing the locks with the last records when the run
    /// ends with this plan.
    async fn run_plan(
        &self,
        plan: &Plan,
        observed: &Observed,
        connections: &Connections,
        question: Option<Question>,
        release: Release,
    ) -> Result<Exit, miette::Report> {
        self.ui.show_plan(plan);
        if let Some((host, note)) = plan.changes.refusals().next() {
            return Err(miette::miette!(
                help = crate::plan::render::refusal_help(note),
                "{host}: {}; nothing was changed",
                crate::plan::render::note_text(note)
            ));
        }
        let unreachable = plan.changes.unreachable().next().is_some();
        if plan.is_empty() {
            return Ok(Exit::success_if(!unreachable));
        }
        if let Some(question) = &question
            && let Some(exit) = self.ask(question).await?
        {
            return Ok(exit);
        }
        if self.is_cancelled() {
            return Ok(self.interrupted_before_changes());
        }
        let hosts: Hosts = connections
            .iter()
            .filter_map(|(name, result)| {
                result
                    .as_ref()
                    .ok()
                    .map(|host| (name.clone(), host.clone()))
            })
            .collect();
        let reporter = self.ui.reporter(plan);
        let options = ExecOptions {
            parallelism: self.settings.parallelism,
            fail_fast: self.settings.fail_fast,
            run_id: self.identity.run_id.clone(),
            hooks: self.settings.hooks.clone(),
        };
        let deployed_hosts = crate::records::journal::deployed_hosts(
            &self.prepared.loaded.config.all_hosts(),
            observed,
        );
        let records = Records {
            lock_hosts: &self.lock_hosts,
            deployed_hosts: &deployed_hosts,
            heartbeat: crate::records::journal::heartbeat_interval(self.stale_lock_after),
            names: &self.names,
            identity: &self.identity,
            redactor: &self.prepared.redactor,
        };
        // When nothing follows this plan under the lock, the locks go with each lock host's
        // last records, in the same session.
        let releases: BTreeMap<String, String> = match release {
            Release::WithTheRecords => self
                .held()
                .iter()
                .map(|(host, written)| (host.name().to_string(), written.clone()))
                .collect(),
            Release::AtTheEnd => BTreeMap::new(),
        };
        let (outcome, released) = record_execute_and_release(
            plan,
            &hosts,
            &records,
            &releases,
            &options,
            reporter.as_ref(),
            self.cancel.clone(),
        )
        .await;
        self.held()
            .retain(|(host, _)| !released.contains(host.name()));
        self.ui.show_outcome(plan, &outcome);
        let canary = crate::report::canary::verdict(plan, &outcome);
        Ok(if outcome.succeeded() && !unreachable {
            Exit::Success
        } else if outcome.cancelled.as_deref() == Some("interrupted") {
            signals::interrupted()
        } else if matches!(
            canary,
            Some(crate::report::canary::CanaryVerdict::Failed { cleanly: true, .. })
        ) {
            Exit::CanaryFailed
        } else {
            Exit::Failed
        })
    }

    /// Takes Kamal's deploy lock on `host` for this run, taking over the lock of a gantry run
    /// that was killed; with `--lock-wait`, waits for automatic locks instead of refusing at
    /// once. The lock details it wrote, or `None` when interrupted while waiting.
    async fn take_lock(&self, host: &Arc<dyn Host>) -> Result<Option<String>, SessionError> {
        let message = lock::automatic_message(&self.identity.run_id);
        let now = now_rfc3339();
        let request = LockRequest {
            holder: &self.holder,
            now: &now,
            version: &self.identity.version,
            message: &message,
        };
        let host = host.as_ref();
        let mut result = match self.settings.lock_wait {
            Some(wait) => {
                lock::acquire_waiting(
                    host,
                    &self.names,
                    &request,
                    wait.timeout,
                    wait.interval,
                    &self.cancel,
                    |host, holder| {
                        self.ui.notice(Notice::WaitingForLock {
                            host,
                            holder,
                            timeout: wait.timeout,
                        })
                    },
                )
                .await
            }
            None => lock::acquire(host, &self.names, &request).await,
        };
        if let Err(LockError::Held { holder, .. }) = &result
            && let Some(run) =
                lock::abandoned_run(host, &self.names, holder, self.stale_lock_after).await
        {
            let taken = lock::take_over(host, &self.names, &run, &request)
                .await
                .map_err(|error| SessionError::Lock(Box::new(error)))?;
            result = if taken {
                self.ui.notice(Notice::TookOverLock {
                    run: &run,
                    silent_for: self.stale_lock_after,
                });
                Ok(())
            } else {
                // Another run took it over first: it holds the lock, or is about to.
                Err(lock::held(host, &self.names).await)
            };
        }
        match result {
            Ok(()) => Ok(Some(lock::details(&request))),
            Err(LockError::Interrupted { .. }) => Ok(None),
            Err(error) => Err(SessionError::Lock(Box::new(error))),
        }
    }

    /// Releases this run's lock on `host` (`written`: the details the run wrote), telling the
    /// user when it cannot.
    async fn release_lock(&self, host: &dyn Host, written: &str) {
        let run_id = &self.identity.run_id;
        if let Err(error) = lock::release_written(host, &self.names, run_id, written).await {
            self.ui.notice(Notice::LockNotReleased {
                host: host.name(),
                error: &error,
            });
        }
    }
}

/// The connections to `lock_hosts`, in order (`gantry lock`).
pub fn lock_connections(
    lock_hosts: &[String],
    connections: &Connections,
) -> Result<Vec<Arc<dyn Host>>, SessionError> {
    if lock_hosts.is_empty() {
        return Err(SessionError::NoLockHost);
    }
    lock_hosts
        .iter()
        .map(|name| lock_connection(name, connections))
        .collect()
}

/// The connection to lock host `name`.
fn lock_connection(name: &str, connections: &Connections) -> Result<Arc<dyn Host>, SessionError> {
    match connections.get(name) {
        Some(Ok(host)) => Ok(host.clone()),
        Some(Err(reason)) => Err(SessionError::LockHostUnreachable {
            host: name.to_string(),
            reason: reason.clone(),
        }),
        None => Err(SessionError::LockHostNotConnected {
            host: name.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::{Outcome, QuietReporter, Reporter};
    use crate::config::{LoadOptions, Secrets, load_with_env};
    use crate::desired::Selection;
    use crate::session::prepared::PlanChoices;
    use crate::testkit::fake_host::{FakeHost, FakeRegistry};

    /// Shows nothing, answers yes.
    struct SilentUi;

    #[async_trait::async_trait]
    impl Ui for SilentUi {
        fn notice(&self, _notice: Notice<'_>) {}
        fn show_plan(&self, _plan: &Plan) {}
        async fn confirm(
            &self,
            _question: &Question,
            _cancel: &CancellationToken,
        ) -> Result<Answer, miette::Report> {
            Ok(Answer::Yes)
        }
        fn reporter(&self, _plan: &Plan) -> Box<dyn Reporter> {
            Box::new(QuietReporter)
        }
        fn show_outcome(&self, _plan: &Plan, _outcome: &Outcome) {}
    }

    /// A project on h1 (primary) and h2, run with `-h h2`.
    fn prepared_for_h2() -> (tempfile::TempDir, Prepared) {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("deploy.yml");
        std::fs::write(
            &file,
            "service: app\nimage: app\nservers: [h1, h2]\n\
             registry:\n  server: registry.test\n  username: u\n  password: p\n",
        )
        .expect("write");
        let loaded = load_with_env(
            &LoadOptions {
                config_file: file,
                destination: None,
            },
            &|_| None,
        )
        .expect("loads");
        let prepared = Prepared {
            loaded,
            secrets: Secrets::default(),
            redactor: Secrets::default().redactor(),
            version: "v1".into(),
            selection: Selection {
                hosts: vec!["h2".into()],
                roles: Vec::new(),
            },
            skip_hooks: false,
        };
        (dir, prepared)
    }

    fn identity() -> RunIdentity {
        RunIdentity {
            run_id: "run-1".into(),
            performer: "tester".into(),
            command: "apply".into(),
            version: "v1".into(),
        }
    }

    /// A run of `prepared` that shows nothing and answers yes.
    fn start(prepared: &Prepared) -> Session<'_> {
        Session::start(
            prepared,
            identity(),
            "tester".into(),
            Arc::new(SilentUi),
            RunSettings::default(),
            None,
        )
        .expect("starts")
    }

    /// Fake hosts h1 and h2, both connected.
    fn two_hosts() -> (Arc<FakeHost>, Arc<FakeHost>, Connections) {
        let registry = FakeRegistry::default();
        let h1 = Arc::new(FakeHost::new("h1", registry.clone()));
        let h2 = Arc::new(FakeHost::new("h2", registry));
        let connections: Connections = [
            ("h1".to_string(), Ok(h1.clone() as Arc<dyn Host>)),
            ("h2".to_string(), Ok(h2.clone() as Arc<dyn Host>)),
        ]
        .into();
        (h1, h2, connections)
    }

    /// Kamal takes `host`'s lock by hand.
    async fn kamal_locks(host: &FakeHost, names: &ServiceNames) {
        let kamal = LockRequest {
            holder: "kamal",
            now: "2026-12-06T09:00:00Z",
            version: "v0",
            message: "by hand",
        };
        lock::acquire(host, names, &kamal).await.expect("locked");
    }

    async fn locked(host: &FakeHost, names: &ServiceNames) -> bool {
        lock::status(host, names).await.expect("status").is_some()
    }

    #[tokio::test]
    async fn a_run_holds_every_lock_host_while_it_works_and_none_after_or_when_refused() {
        let (_dir, prepared) = prepared_for_h2();
        let session = start(&prepared);
        assert_eq!(session.lock_hosts(), ["h1", "h2"]);
        let (h1, h2, connections) = two_hosts();
        let names = session.names.clone();

        let exit = session
            .with_lock(&connections, async {
                assert!(locked(&h1, &names).await && locked(&h2, &names).await);
                Ok(Exit::Success)
            })
            .await
            .expect("runs");
        assert_eq!(exit, Exit::Success);
        assert!(!locked(&h1, &names).await && !locked(&h2, &names).await);

        // Someone holds h2 (Kamal with `-h h2`): the run stops, and leaves h1 as it found it.
        kamal_locks(&h2, &names).await;
        let refused = session
            .with_lock(&connections, async {
                panic!("the body runs only under every lock")
            })
            .await;
        assert!(refused.is_err());
        assert!(!locked(&h1, &names).await);
        assert!(locked(&h2, &names).await, "another's lock is left alone");

        // The primary host unreachable: no run, whatever `-h` selects.
        let unreachable: Connections = [
            ("h1".to_string(), Err("connection refused".to_string())),
            ("h2".to_string(), Ok(h2.clone() as Arc<dyn Host>)),
        ]
        .into();
        let error = session
            .with_lock(&unreachable, async { Ok(Exit::Success) })
            .await
            .expect_err("refused");
        assert!(error.to_string().contains("h1 is unreachable"), "{error}");
    }

    #[tokio::test]
    async fn observe_takes_the_lock_of_a_host_it_reads_and_a_held_lock_goes_the_usual_way() {
        let (_dir, prepared) = prepared_for_h2();
        let session = start(&prepared);
        let (h1, h2, connections) = two_hosts();
        let names = session.names.clone();
        let read = |_: &str| Err("no local files".to_string());
        let request = prepared.request(PlanChoices::default(), &read);
        let desired = pipeline::desired(&request).expect("desired");
        assert_eq!(desired.hosts.len(), 1, "-h h2 observes h2 only");

        // h1 (not observed) is locked on its own; h2 by observe's reads, whose answer says so.
        let refused = session.take_locks(&["h1".to_string()], &connections).await;
        assert!(refused.is_none());
        let written = "details of this run".to_string();
        let locks: BTreeMap<String, LockTake> = [(
            "h2".to_string(),
            LockTake {
                dir: names.lock_dir(),
                details: written.clone(),
            },
        )]
        .into();
        let planned =
            pipeline::observe_and_plan_locking(&request, desired.clone(), &connections, 4, &locks)
                .await;
        let state = planned.observed.hosts["h2"].state().expect("h2 read");
        assert_eq!(state.lock_taken, Some(true));
        assert!(locked(&h2, &names).await);
        session.release_locks().await;
        assert!(
            h2.remove_dir_if_file_is(&names.lock_dir(), LOCK_DETAILS_FILE, written.as_bytes())
                .await
                .expect("removed")
        );
        assert!(!locked(&h1, &names).await && !locked(&h2, &names).await);

        // Kamal holds h2: the reads say so, the usual way refuses naming the holder, and h1's
        // lock, taken first, is released.
        kamal_locks(&h2, &names).await;
        let planned =
            pipeline::observe_and_plan_locking(&request, desired.clone(), &connections, 4, &locks)
                .await;
        assert_eq!(
            planned.observed.hosts["h2"]
                .state()
                .expect("h2 read")
                .lock_taken,
            Some(false)
        );
        let refused = session
            .converge_taking_locks(&request, desired, &connections, None, None)
            .await
            .expect_err("refused");
        assert!(refused.to_string().contains("held by kamal"), "{refused}");
        assert!(!locked(&h1, &names).await, "h1's lock is released");
        let holder = lock::status(h2.as_ref(), &names).await.expect("status");
        assert_eq!(
            holder.and_then(|info| info.holder).as_deref(),
            Some("kamal")
        );
    }
}
