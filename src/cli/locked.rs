//! The shared run of the day-2 commands that change hosts (`app`, `prune`, `remove`,
//! `accessory`, `proxy`): load and check everything, run `pre-connect`, connect, take Kamal's
//! deploy lock, observe, plan the command's [`Changes`], show the plan, ask when the command
//! destroys something, then run it with the executor (journal, rollback, audit) and release the
//! lock, also after errors.
//!
//! Each handler supplies only what is its own: the changes, from the desired and observed state
//! (see [`crate::commands`]), and whether to ask. Everything else is the same path `apply` takes.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use miette::{IntoDiagnostic, miette};
use tokio_util::sync::CancellationToken;

use super::GlobalArgs;
use super::apply::{
    lock_host, performer, release_lock, stale_lock_after, take_lock, watch_signals,
};
use super::hooking::Hooks;
use super::session::{
    PlanFlags, Prepared, TargetArgs, VersionNeed, color_stdout, connect, read_local_file,
};
use crate::apply::{ExecOptions, Hosts};
use crate::desired::Desired;
use crate::diff::Changes;
use crate::naming::ServiceNames;
use crate::observe::Observed;
use crate::pipeline::{self, Connections};
use crate::plan::render::{RenderOptions, render};
use crate::plan::{self, PlanOptions};
use crate::report::{LineReporter, render_outcome};
use crate::run::{Records, RunIdentity, new_run_id, record_and_execute};

/// One day-2 command run, loaded and checked before any connection.
pub struct Day2 {
    pub prepared: Prepared,
    /// The desired state at the version `--version`, `$VERSION` or git give (`unknown` without
    /// them): names, hosts and roles; commands that need the current version ask [`Day2::at`].
    pub desired: Desired,
    pub names: ServiceNames,
    pub hooks: Hooks,
    pub identity: RunIdentity,
    /// `--version`, when given: commands that act on the current version use it instead.
    pub requested_version: Option<String>,
    parallelism: usize,
}

/// Whether a command asks before it runs its plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Confirm<'a> {
    /// It only starts, stops or boots things (or asked already): no question.
    No,
    /// It destroys something (data, traffic): ask `question` on a terminal unless `yes` (`-y`);
    /// refuse without a terminal.
    Destructive { yes: bool, question: &'a str },
}

impl Day2 {
    /// Loads the configuration, secrets and desired state of the selected hosts.
    pub fn load(
        global: &GlobalArgs,
        target: &TargetArgs,
        command: &str,
        subcommand: Option<&str>,
    ) -> Result<Day2, miette::Report> {
        let prepared = Prepared::load(global, target, VersionNeed::Optional)?;
        let desired = desired_at(&prepared, &prepared.version)?;
        let names = ServiceNames::for_config(&prepared.loaded.config);
        let hosts = desired.hosts.iter().map(|host| host.name.clone()).collect();
        let hooks = Hooks::new(global, &prepared, hosts, command, subcommand);
        let identity = RunIdentity {
            run_id: new_run_id(),
            performer: performer(),
            command: match subcommand {
                Some(subcommand) => format!("{command} {subcommand}"),
                None => command.to_string(),
            },
            version: prepared.version.clone(),
        };
        Ok(Day2 {
            prepared,
            desired,
            names,
            hooks,
            identity,
            requested_version: target.version.clone(),
            parallelism: target.parallelism,
        })
    }

    /// The desired state at `version`.
    pub fn at(&self, version: &str) -> Result<Desired, miette::Report> {
        desired_at(&self.prepared, version)
    }

    /// Runs `pre-connect`, then connects to every selected host.
    pub async fn connect(&self) -> Result<Connections, miette::Report> {
        self.hooks.pre_connect().await?;
        connect(&self.prepared, &self.desired).await
    }

    /// Observes every selected host once.
    pub async fn observe(&self, connections: &Connections) -> Observed {
        crate::observe::observe_all(
            &self.desired,
            connections,
            super::session::observe_width(connections),
        )
        .await
    }

    /// Runs `body` holding the deploy lock, and releases it afterwards whatever happened.
    pub async fn with_lock<T>(
        &self,
        connections: &Connections,
        body: impl Future<Output = Result<T, miette::Report>>,
    ) -> Result<T, miette::Report> {
        let lock_host = lock_host(&self.prepared, &self.desired, connections)?;
        // Without waiting there is nothing to interrupt: the lock is taken or refused at once.
        let taken = take_lock(
            &lock_host,
            &self.names,
            &self.identity,
            None,
            &CancellationToken::new(),
        )
        .await?;
        let result = body.await;
        let (run_id, written) = (&self.identity.run_id, taken.as_deref());
        release_lock(lock_host.as_ref(), &self.names, run_id, written).await;
        result
    }

    /// Plans `changes`, shows the plan, asks when told to, runs it and shows the outcome.
    /// Exit code: 0 when every host converged, 1 otherwise, 128 + the signal when interrupted.
    pub async fn execute(
        &self,
        changes: Changes,
        observed: &Observed,
        connections: &Connections,
        confirm: Confirm<'_>,
    ) -> Result<ExitCode, miette::Report> {
        let config = &self.prepared.loaded.config;
        let plan = plan::build(
            changes,
            &PlanOptions {
                atomic: false,
                boot: config.boot.clone(),
                primary_role: config.primary_role.clone(),
            },
        );
        let color = color_stdout();
        let redactor = &self.prepared.redactor;
        say!("{}", render(&plan, RenderOptions { color }, redactor));
        let unreachable = plan.changes.unreachable().next().is_some();
        if plan.is_empty() {
            return Ok(if unreachable {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            });
        }
        if let Confirm::Destructive {
            yes: false,
            question,
        } = confirm
            && !ask(question)?
        {
            sayln!("Cancelled; nothing changed.");
            return Ok(ExitCode::from(1));
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
        let live = std::io::stderr().is_terminal();
        let reporter = LineReporter::new(
            Box::new(std::io::stderr()),
            redactor.clone(),
            color,
            live,
            plan.len(),
        );
        let cancel = CancellationToken::new();
        watch_signals(cancel.clone());
        let options = ExecOptions {
            parallelism: self.parallelism,
            fail_fast: false,
            run_id: self.identity.run_id.clone(),
        };
        let deployed_hosts =
            crate::journal::deployed_hosts(&self.prepared.loaded.config.all_hosts(), observed);
        let lock_host_name = lock_host(&self.prepared, &self.desired, connections)
            .ok()
            .map(|host| host.name().to_string());
        let records = Records {
            lock_host: lock_host_name.as_deref(),
            heartbeat: crate::journal::heartbeat_interval(stale_lock_after()?),
            names: &self.names,
            identity: &self.identity,
            redactor,
            deployed_hosts: &deployed_hosts,
        };
        let outcome =
            record_and_execute(&plan, &hosts, &records, &options, &reporter, cancel).await;
        say!("{}", render_outcome(&plan, &outcome, color, redactor));
        Ok(if outcome.succeeded() && !unreachable {
            ExitCode::SUCCESS
        } else if outcome.cancelled.as_deref() == Some("interrupted") {
            super::apply::interrupted_exit_code()
        } else {
            ExitCode::from(1)
        })
    }
}

fn desired_at(prepared: &Prepared, version: &str) -> Result<Desired, miette::Report> {
    let read = |path: &str| read_local_file(path);
    let request = pipeline::PlanRequest {
        version,
        ..prepared.request(&PlanFlags::default(), &read)
    };
    pipeline::desired(&request).map_err(|error| {
        miette!(
            help = "fix the configuration or the secrets it names",
            "{error}"
        )
    })
}

/// Asks `question` on the terminal; without one, refuses (a destructive command in a script
/// must say `-y`).
pub fn ask(question: &str) -> Result<bool, miette::Report> {
    if !std::io::stdin().is_terminal() {
        return Err(miette!(
            help = "pass -y to confirm without a terminal",
            "{question} Refusing to go on without a terminal to ask on"
        ));
    }
    say!("\n{question} [y, N] ");
    std::io::stdout().flush().into_diagnostic()?;
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .into_diagnostic()?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}
