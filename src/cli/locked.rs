//! What the day-2 commands share at the command line (`app`, `prune`, `remove`, `accessory`,
//! `proxy`, and the reading `exec`, `logs`, `server`): the project loaded once with the desired
//! state of the selected hosts, its hooks, and who runs it.
//!
//! The commands that change hosts start a [`Session`] from it and hand the session their
//! changes (a planner in [`crate::day2`]): lock, plan, confirm, execute, record and release
//! are the session's, the same path `apply` takes.

use miette::miette;

use super::GlobalArgs;
use super::apply::identity;
use super::hooking::Hooks;
use super::session::{PlanFlags, TargetArgs, VersionNeed, connect, connector};
use super::ui;
use crate::desired::Desired;
use crate::naming::ServiceNames;
use crate::observe::Observed;
use crate::pipeline::Connections;
use crate::session::identity::holder;
use crate::session::run::RunIdentity;
use crate::session::{Prepared, RunSettings, Session};

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

impl Day2 {
    /// Loads the configuration, secrets and desired state of the selected hosts.
    pub fn load(
        global: &GlobalArgs,
        target: &TargetArgs,
        command: &str,
        subcommand: Option<&str>,
    ) -> Result<Day2, miette::Report> {
        let prepared = super::session::load(global, VersionNeed::Optional)?;
        let desired = desired_at(&prepared, &prepared.version)?;
        let names = ServiceNames::for_config(&prepared.loaded.config);
        let hosts = desired.hosts.iter().map(|host| host.name.clone()).collect();
        let hooks = Hooks::new(global, &prepared, hosts, command, subcommand);
        let label = match subcommand {
            Some(subcommand) => format!("{command} {subcommand}"),
            None => command.to_string(),
        };
        let identity = identity(&prepared, &label);
        Ok(Day2 {
            prepared,
            desired,
            names,
            hooks,
            identity,
            requested_version: global.version.clone(),
            parallelism: target.parallelism,
        })
    }

    /// The desired state at `version`.
    pub fn at(&self, version: &str) -> Result<Desired, miette::Report> {
        desired_at(&self.prepared, version)
    }

    /// Runs `pre-connect`, then connects to every selected host (the commands that only read).
    pub async fn connect(&self) -> Result<Connections, miette::Report> {
        self.hooks.pre_connect().await?;
        connect(&self.prepared, &self.desired).await
    }

    /// Observes every selected host once.
    pub async fn observe(&self, connections: &Connections) -> Observed {
        crate::observe::observe_all(
            &self.desired,
            connections,
            crate::session::observe_width(connections),
        )
        .await
    }

    /// Starts the run of a command that changes hosts: signals are handled from here on;
    /// `yes` (`-y`) answers its question.
    pub fn start(&self, yes: bool) -> Result<Session<'_>, miette::Report> {
        Ok(Session::start(
            &self.prepared,
            self.identity.clone(),
            holder(),
            ui::for_run(&self.prepared.redactor, false, yes),
            RunSettings {
                parallelism: self.parallelism,
                ..RunSettings::default()
            },
            std::env::var("GANTRY_STALE_LOCK_SECONDS").ok().as_deref(),
        )?)
    }

    /// Runs `pre-connect`, then connects `session` to every selected host and its lock hosts.
    pub async fn connect_for(&self, session: &Session<'_>) -> Result<Connections, miette::Report> {
        self.hooks.pre_connect().await?;
        let hosts: Vec<String> = self
            .desired
            .hosts
            .iter()
            .map(|host| host.name.clone())
            .collect();
        Ok(session.connect(&connector(&self.prepared), &hosts).await?)
    }
}

fn desired_at(prepared: &Prepared, version: &str) -> Result<Desired, miette::Report> {
    prepared
        .desired_at(version, PlanFlags::default().choices())
        .map_err(|error| {
            miette!(
                help = "fix the configuration or the secrets it names",
                "{error}"
            )
        })
}
