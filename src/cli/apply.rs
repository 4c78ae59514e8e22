//! `gantry apply [FILE]`: converge every host, under Kamal's deploy lock.
//!
//! Order: connect; take the lock on the primary host; observe and plan (under the lock, so
//! nobody changes the hosts between plan and apply); show the plan; ask on a terminal (`-y`
//! skips); journal, execute, audit; release the lock, also after errors and Ctrl-C. Kamal's hooks
//! run around it: `pre-connect`, then `pre-deploy` and `pre-app-boot` under the lock (a failure
//! stops the run before any host changes), `post-app-boot`, and `post-deploy` after the lock.
//! With a saved plan FILE, the configuration file and destination must be the plan's, and the
//! plan made again from the file's inputs must match it field for field (`plan::saved`).

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use clap::Args;
use miette::{IntoDiagnostic, miette};
use tokio_util::sync::CancellationToken;

use super::GlobalArgs;
use super::hooking::Hooks;
use super::session;
use super::session::{
    PlanFlags, Prepared, TargetArgs, VersionNeed, color_stdout, connect, read_local_file, runtime,
};
use crate::apply::{ExecOptions, Hosts, Reporter};
use crate::host::Host;
use crate::lock::{self, LockRequest};
use crate::naming::ServiceNames;
use crate::pipeline::{self, Connections};
use crate::plan::render::{RenderOptions, render};
use crate::plan::saved::SavedPlan;
use crate::report::{JsonReporter, LineReporter, render_outcome};
use crate::run::{Records, RunIdentity, new_run_id, now_rfc3339, record_and_execute};

/// `gantry apply [FILE]`.
#[derive(Clone, Debug, Args)]
pub struct ApplyCommand {
    /// A plan saved with `gantry plan -o FILE`: apply exactly it, or refuse if stale.
    pub plan_file: Option<PathBuf>,
    #[command(flatten)]
    pub apply: ApplyArgs,
}

/// The flags of every command that applies (`apply`, `deploy`, `rollback`).
#[derive(Clone, Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub flags: PlanFlags,
    /// Do not ask for confirmation.
    #[arg(short = 'y', long = "yes", alias = "auto-approve")]
    pub yes: bool,
    /// Stop everything at the first failure (roll back what is in flight).
    #[arg(long)]
    pub fail_fast: bool,
    /// Wait for a deploy lock held by another automatic deploy (up to --lock-wait-timeout).
    #[arg(long)]
    pub lock_wait: bool,
    /// Seconds to wait for the lock.
    #[arg(long, default_value_t = 900)]
    pub lock_wait_timeout: u64,
    /// Seconds between lock checks.
    #[arg(long, default_value_t = 15)]
    pub lock_wait_interval: u64,
    /// Print progress and the outcome as JSON lines.
    #[arg(long)]
    pub json: bool,
}

/// `gantry apply [FILE]`.
pub fn run_command(
    global: &GlobalArgs,
    command: &ApplyCommand,
) -> Result<ExitCode, miette::Report> {
    run(
        global,
        &command.apply,
        command.plan_file.as_deref(),
        "apply",
    )
}

/// Applies (also for `deploy` and `rollback`, named by `command` in the journal and hooks).
pub fn run(
    global: &GlobalArgs,
    args: &ApplyArgs,
    plan_file: Option<&Path>,
    command: &str,
) -> Result<ExitCode, miette::Report> {
    let mut args = args.clone();
    let saved = match plan_file {
        Some(path) => {
            let text = std::fs::read_to_string(path).into_diagnostic()?;
            let saved =
                SavedPlan::parse(&text).map_err(|error| miette!("{}: {error}", path.display()))?;
            saved
                .check_inputs(
                    &global.config_file.display().to_string(),
                    global.destination.as_deref(),
                )
                .map_err(|error| {
                    miette!(
                        help = "give the plan's -c and -d, or make the plan again with `gantry plan -o FILE`",
                        "{}: {error}",
                        path.display()
                    )
                })?;
            args.target.version = Some(saved.inputs.version.clone());
            args.target.hosts = saved.inputs.hosts.clone();
            args.target.roles = saved.inputs.roles.clone();
            args.flags.reboot_proxy = saved.inputs.reboot_proxy;
            args.flags.recreate_accessories = saved.inputs.recreate_accessories;
            args.flags.atomic = saved.inputs.atomic;
            Some(saved)
        }
        None => None,
    };
    let prepared = Prepared::load(global, &args.target, VersionNeed::Required)?;
    let read = |path: &str| read_local_file(path);
    let request = prepared.request(&args.flags, &read);
    let desired = pipeline::desired(&request).map_err(|error| {
        miette!(
            help = "fix the configuration or the secrets it names",
            "{error}"
        )
    })?;
    let names = ServiceNames::for_config(&prepared.loaded.config);
    let hosts = desired.hosts.iter().map(|host| host.name.clone()).collect();
    let hooks = Hooks::new(global, &prepared, hosts, command, None);
    let started = std::time::Instant::now();
    let runtime = runtime()?;
    runtime.block_on(async {
        // Ctrl-C and SIGTERM are handled from here on, whatever the run is doing (connecting,
        // waiting for the lock, planning, asking): every path below ends by releasing the
        // lock. Left to their default, they would kill the process with the lock held.
        let cancel = CancellationToken::new();
        watch_signals(cancel.clone());
        hooks.pre_connect().await?;
        let connections = connect(&prepared, &desired).await?;
        if cancel.is_cancelled() {
            return Ok(interrupted_before_changes());
        }
        let lock_host = lock_host(&prepared, &desired, &connections)?;
        let identity = RunIdentity {
            run_id: new_run_id(),
            performer: performer(),
            command: command.to_string(),
            version: prepared.version.clone(),
        };
        let wait = args.lock_wait.then(|| LockWait {
            timeout: Duration::from_secs(args.lock_wait_timeout),
            interval: Duration::from_secs(args.lock_wait_interval),
        });
        let Some(written) = take_lock(&lock_host, &names, &identity, wait, &cancel).await? else {
            return Ok(interrupted_before_changes());
        };
        // Pulling early overlaps the pull with observing and planning, but only under the lock:
        // an image pulled by a run still waiting would be an unused image to the run holding
        // it, pruned as a change. A saved plan must be re-planned from the hosts as they were.
        let _prefetch = saved
            .is_none()
            .then(|| pipeline::prefetch_app_images(&desired, &connections));
        // A failing pre-deploy or pre-app-boot hook stops the run before any host changes.
        let result = match hooks.run("pre-deploy", true, None).await {
            Ok(()) => match hooks.run("pre-app-boot", true, None).await {
                Ok(()) if cancel.is_cancelled() => Ok(interrupted_before_changes()),
                Ok(()) => {
                    apply_under_lock(
                        &prepared,
                        &request,
                        desired,
                        &connections,
                        &identity,
                        &args,
                        saved.as_ref(),
                        cancel.clone(),
                    )
                    .await
                }
                Err(error) => Err(error),
            },
            Err(error) => Err(error),
        };
        let result = match result {
            Ok(code) if code == ExitCode::SUCCESS => {
                hooks.run("post-app-boot", true, None).await.map(|()| code)
            }
            other => other,
        };
        // The lock goes, whatever happened: an error, a refusal, Ctrl-C.
        release_lock(lock_host.as_ref(), &names, &identity.run_id, Some(&written)).await;
        let round_trips = pipeline::log_round_trips(&connections);
        if args.json {
            let event = serde_json::json!({"event": "round_trips", "hosts": round_trips});
            sayln!("{event}");
        }
        match result {
            Ok(code) if code == ExitCode::SUCCESS => hooks
                .run("post-deploy", false, Some(started.elapsed().as_secs()))
                .await
                .map(|()| code),
            other => other,
        }
    })
}

#[allow(clippy::too_many_arguments)]
async fn apply_under_lock(
    prepared: &Prepared,
    request: &pipeline::PlanRequest<'_>,
    desired: crate::desired::Desired,
    connections: &Connections,
    identity: &RunIdentity,
    args: &ApplyArgs,
    saved: Option<&SavedPlan>,
    cancel: CancellationToken,
) -> Result<ExitCode, miette::Report> {
    let lock_host_name = lock_host(prepared, &desired, connections)
        .ok()
        .map(|host| host.name().to_string());
    // Observing only reads: an interruption drops it where it is.
    let mut planned = tokio::select! {
        planned = pipeline::observe_and_plan(
            request,
            desired,
            connections,
            session::observe_width(connections),
        ) => planned,
        _ = cancel.cancelled() => return Ok(interrupted_before_changes()),
    };
    // The lock this run holds is no news to its user.
    for host in &mut planned.plan.changes.hosts {
        host.notes.retain(|note| {
            !matches!(note, crate::diff::Note::Locked(info) if lock::run_of(info) == Some(identity.run_id.as_str()))
        });
    }
    if let Some(saved) = saved {
        saved.check_observed(&planned.observed).map_err(|error| {
            miette!(
                help = "run `gantry plan -o FILE` again and review the new plan",
                "{error}"
            )
        })?;
        saved.check_plan(&planned.plan).map_err(|error| {
            miette!(
                help = "run `gantry plan -o FILE` again and review the new plan",
                "{error}"
            )
        })?;
    }
    let plan = &planned.plan;
    let color = color_stdout();
    if !args.json {
        say!(
            "{}",
            render(plan, RenderOptions { color }, &prepared.redactor)
        );
    }
    if plan.is_empty() {
        return Ok(if plan.changes.unreachable().next().is_some() {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        });
    }
    if saved.is_none() && !args.yes && std::io::stdin().is_terminal() {
        match confirm(&cancel).await? {
            Some(true) => {}
            Some(false) => {
                sayln!("Apply cancelled; nothing changed.");
                return Ok(ExitCode::from(1));
            }
            None => return Ok(interrupted_before_changes()),
        }
    }
    if cancel.is_cancelled() {
        return Ok(interrupted_before_changes());
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
    let reporter: Box<dyn Reporter> = if args.json {
        Box::new(JsonReporter::new(
            Box::new(std::io::stdout()),
            prepared.redactor.clone(),
        ))
    } else {
        let live = std::io::stderr().is_terminal();
        Box::new(LineReporter::new(
            Box::new(std::io::stderr()),
            prepared.redactor.clone(),
            color,
            live,
            plan.len(),
        ))
    };
    let options = ExecOptions {
        parallelism: args.target.parallelism,
        fail_fast: args.fail_fast,
        run_id: identity.run_id.clone(),
    };
    let names = ServiceNames::for_config(&prepared.loaded.config);
    let deployed_hosts =
        crate::journal::deployed_hosts(&prepared.loaded.config.all_hosts(), &planned.observed);
    let records = Records {
        lock_host: lock_host_name.as_deref(),
        deployed_hosts: &deployed_hosts,
        heartbeat: crate::journal::heartbeat_interval(stale_lock_after()?),
        names: &names,
        identity,
        redactor: &prepared.redactor,
    };
    let outcome =
        record_and_execute(plan, &hosts, &records, &options, reporter.as_ref(), cancel).await;
    if args.json {
        let summary = serde_json::json!({"event": "finished", "succeeded": outcome.succeeded(), "hosts": outcome.hosts, "took_ms": outcome.took.as_millis() as u64});
        sayln!("{}", prepared.redactor.redact(&summary.to_string()));
    } else {
        say!(
            "{}",
            render_outcome(plan, &outcome, color, &prepared.redactor)
        );
    }
    Ok(
        if outcome.succeeded() && plan.changes.unreachable().next().is_none() {
            ExitCode::SUCCESS
        } else if outcome.cancelled.as_deref() == Some("interrupted") {
            interrupted_exit_code()
        } else {
            ExitCode::from(1)
        },
    )
}

/// The first selected host of the primary role holds the lock, as in Kamal.
pub(super) fn lock_host(
    prepared: &Prepared,
    desired: &crate::desired::Desired,
    connections: &Connections,
) -> Result<Arc<dyn Host>, miette::Report> {
    let config = &prepared.loaded.config;
    let primary = config
        .role(&config.primary_role)
        .and_then(|role| {
            role.hosts
                .iter()
                .map(|h| &h.host)
                .find(|host| prepared.selection.includes_host(host))
        })
        .cloned()
        .or_else(|| desired.hosts.first().map(|host| host.name.clone()))
        .ok_or_else(|| miette!("no host selected"))?;
    match connections.get(&primary) {
        Some(Ok(host)) => Ok(host.clone()),
        Some(Err(reason)) => Err(miette!(
            help = "the deploy lock lives on the primary host; bring it back, or select other hosts with --hosts",
            "cannot take the deploy lock: {primary} is unreachable: {reason}"
        )),
        None => Err(miette!(
            "cannot take the deploy lock: {primary} is not connected"
        )),
    }
}

/// How long a command waits for a deploy lock held by an automatic deploy (`--lock-wait`).
#[derive(Clone, Copy, Debug)]
pub(super) struct LockWait {
    pub timeout: Duration,
    pub interval: Duration,
}

/// What an apply interrupted before its first change says and exits with.
fn interrupted_before_changes() -> ExitCode {
    tellln!("Interrupted before any change; nothing changed.");
    interrupted_exit_code()
}

/// The signal that interrupted this run (0 before any).
static INTERRUPTED_BY: AtomicI32 = AtomicI32::new(0);

/// The shell's convention for a run ended by a signal, 128 + its number: 130 for Ctrl-C, 143
/// for SIGTERM, 129 for SIGHUP. Scripts and CI tell "stopped" from "failed" by it.
pub(super) fn interrupted_exit_code() -> ExitCode {
    match INTERRUPTED_BY.load(Ordering::SeqCst) {
        0 => ExitCode::from(130),
        signal => ExitCode::from(128 + signal as u8),
    }
}

/// Takes Kamal's deploy lock for `identity`'s run, taking over the lock of a gantry run that
/// was killed; `wait` waits for automatic locks instead of refusing at once. The lock details
/// it wrote, or `None` when interrupted while waiting.
pub(super) async fn take_lock(
    host: &Arc<dyn Host>,
    names: &ServiceNames,
    identity: &RunIdentity,
    wait: Option<LockWait>,
    cancel: &CancellationToken,
) -> Result<Option<String>, miette::Report> {
    let stale_after = stale_lock_after()?;
    let message = lock::automatic_message(&identity.run_id);
    let holder = holder();
    let now = now_rfc3339();
    let request = LockRequest {
        holder: &holder,
        now: &now,
        version: &identity.version,
        message: &message,
    };
    let mut result = if let Some(wait) = wait {
        lock::acquire_waiting(
            host.as_ref(),
            names,
            &request,
            wait.timeout,
            wait.interval,
            cancel,
            |host, holder| {
                tellln!(
                    "Waiting for the deploy lock on {host}, held{} (--lock-wait, up to {}s)...",
                    lock::describe(holder),
                    wait.timeout.as_secs()
                );
            },
        )
        .await
    } else {
        lock::acquire(host.as_ref(), names, &request).await
    };
    if let Err(lock::LockError::Held { holder, .. }) = &result
        && let Some(run) = lock::abandoned_run(host.as_ref(), names, holder, stale_after).await
    {
        let taken = lock::take_over(host.as_ref(), names, &run, &request)
            .await
            .map_err(|error| miette!("{error}"))?;
        result = if taken {
            tellln!(
                "The deploy lock was left by gantry run {run}, which stopped without finishing \
                 (no sign of life for {}s); taking it over.",
                stale_after.as_secs()
            );
            Ok(())
        } else {
            // Another run took it over first: it holds the lock, or is about to.
            Err(lock::held(host.as_ref(), names).await)
        };
    }
    match result {
        Ok(()) => Ok(Some(lock::details(&request))),
        Err(lock::LockError::Interrupted { .. }) => Ok(None),
        Err(error) => Err(miette!(
            help = "wait for the other deploy to finish (or use --lock-wait); if no deploy is running, `gantry lock release` frees a stale lock",
            "{error}"
        )),
    }
}

/// Releases this run's lock at its end, warning when it cannot: a lock that was taken over is
/// left to its new holder (no advice to release it: that would free another run's lock).
/// `written`, the details the run wrote, releases in one round trip while they are unchanged.
pub(super) async fn release_lock(
    lock_host: &dyn Host,
    names: &ServiceNames,
    run_id: &str,
    written: Option<&str>,
) {
    let released = match written {
        Some(written) => lock::release_written(lock_host, names, run_id, written).await,
        None => lock::release(lock_host, names, run_id).await,
    };
    match released {
        Ok(()) => {}
        Err(error @ lock::LockError::NotOurs { .. }) => tellln!("warning: {error}"),
        Err(error) => tellln!(
            "warning: could not release the deploy lock on {}: {error}; run `gantry lock release`",
            lock_host.name()
        ),
    }
}

/// How long a run must be silent before its lock counts as stale: 60 s, or
/// `GANTRY_STALE_LOCK_SECONDS` (a value out of range is an error, before any lock is taken).
pub(super) fn stale_lock_after() -> Result<Duration, miette::Report> {
    let setting = std::env::var("GANTRY_STALE_LOCK_SECONDS").ok();
    crate::journal::abandoned_after(setting.as_deref()).map_err(|error| {
        miette!(
            help = "unset it for the default of 60 s, or give the seconds a run may stay silent \
                    before its lock is taken over",
            "{error}"
        )
    })
}

/// Asks for `yes`; `None` when interrupted while asking. The answer is read on a thread of its
/// own: a blocking read cannot be cancelled, and the run must be able to release the lock and
/// exit while it waits.
async fn confirm(cancel: &CancellationToken) -> Result<Option<bool>, miette::Report> {
    say!("\nApply these changes? Only 'yes' is accepted: ");
    std::io::stdout().flush().into_diagnostic()?;
    let (sender, receiver) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut answer = String::new();
        let read = std::io::stdin()
            .lock()
            .read_line(&mut answer)
            .map(|_| answer);
        let _ = sender.send(read);
    });
    tokio::select! {
        answer = receiver => {
            let answer = answer.into_diagnostic()?.into_diagnostic()?;
            Ok(Some(answer.trim() == "yes"))
        }
        _ = cancel.cancelled() => Ok(None),
    }
}

/// First Ctrl-C, SIGTERM or SIGHUP (the terminal went away): start nothing new, roll back what
/// is half done, release the lock. Second Ctrl-C: exit now.
pub(super) fn watch_signals(cancel: CancellationToken) {
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate()).ok();
        let mut hangup = signal(SignalKind::hangup()).ok();
        let signal = tokio::select! {
            _ = tokio::signal::ctrl_c() => libc::SIGINT,
            _ = received(terminate.as_mut()) => libc::SIGTERM,
            _ = received(hangup.as_mut()) => libc::SIGHUP,
        };
        INTERRUPTED_BY.store(signal, Ordering::SeqCst);
        tellln!(
            "\nInterrupted: nothing new starts; actions in flight finish, hosts caught half-way are rolled back and the lock is released (Ctrl-C again to quit at once)."
        );
        cancel.cancel();
        let _ = tokio::signal::ctrl_c().await;
        tellln!(
            "Quitting without waiting; the deploy lock and half-done hosts may remain: rerun `gantry apply`."
        );
        std::process::exit(130);
    });
}

/// Waits for a signal whose handler could be installed; forever otherwise.
async fn received(stream: Option<&mut tokio::signal::unix::Signal>) {
    match stream {
        Some(stream) => {
            stream.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}

fn git_config(key: &str) -> Option<String> {
    std::process::Command::new("git")
        .args(["config", key])
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_string())
        .filter(|value| !value.is_empty())
}

fn whoami() -> String {
    std::env::var("USER").unwrap_or_else(|_| "unknown".to_string())
}

/// Kamal's audit performer: git email, else the login name.
pub fn performer() -> String {
    git_config("user.email").unwrap_or_else(whoami)
}

/// Kamal's lock holder: git user name, else the login name.
pub fn holder() -> String {
    git_config("user.name").unwrap_or_else(whoami)
}
