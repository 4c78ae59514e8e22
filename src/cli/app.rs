//! `gantry app start|stop|restart|exec|logs`: the app's containers on the selected hosts and
//! roles, under the deploy lock, through the plan and the executor.
//!
//! `stop` removes each proxied role's route from kamal-proxy, then stops the running container
//! (Kamal's order: no request reaches a stopping container). `start` starts the current
//! version's container and deploys its route again, health-gated. `restart` is `stop` then
//! `start` under one lock. `exec` and `logs` are `gantry exec` and `gantry logs` (Kamal's
//! `kamal app exec` and `kamal app logs`, so aliases written for Kamal work). `maintenance`
//! and `live` stop and resume the routes in kamal-proxy (503 with a message, then traffic
//! again); maintenance is state: `plan` and `drift` show it, `apply` keeps it.
//! `containers`, `details`, `images`, `version` and `stale_containers` only read ([`read`]);
//! `stale_containers --stop` stops what it finds, under the lock.

mod read;

use crate::session::{Exit, Session};

use clap::{Args, Subcommand};

use super::GlobalArgs;
use super::exec::{self, ExecArgs};
use super::locked::Day2;
use super::logs::{self, LogsArgs};
use super::session::{TargetArgs, runtime};
use crate::day2::app::MaintenanceOptions;
use crate::day2::{app, current_version};
use crate::pipeline::Connections;

/// `gantry app` subcommands.
#[derive(Clone, Debug, Args)]
pub struct AppArgs {
    #[command(subcommand)]
    pub command: AppCommand,
}

/// What to do with the app.
#[derive(Clone, Debug, Subcommand)]
pub enum AppCommand {
    /// Start the current version's containers and route traffic to them again.
    Start(TargetArgs),
    /// Remove the routes, then stop the running containers.
    Stop(TargetArgs),
    /// Stop, then start, under one lock.
    Restart(TargetArgs),
    /// Same as `gantry exec`.
    Exec(ExecArgs),
    /// Same as `gantry logs`.
    Logs(LogsArgs),
    /// Set the app to maintenance mode: kamal-proxy answers 503 (with --message) on every
    /// selected role's route until `app live`; containers keep running, deploys go behind it.
    Maintenance(MaintenanceArgs),
    /// Set the app to live mode: kamal-proxy serves the routes again.
    Live(TargetArgs),
    /// Show app containers on servers (every state), as docker lists them.
    Containers(TargetArgs),
    /// Show each role's running containers on servers.
    Details(TargetArgs),
    /// Show app images on servers.
    Images(TargetArgs),
    /// Show the app version currently running on servers.
    Version(TargetArgs),
    /// Detect stale app containers: running beside the current one (--stop stops them).
    #[command(name = "stale_containers", alias = "stale-containers")]
    StaleContainers(StaleArgs),
    /// Boot the app's current version (--version, else the one running) where it does not
    /// run: the selected roles' part of a deploy, without accessories, proxy or cleanup.
    Boot(TargetArgs),
    /// Remove the app's routes, containers and images (and its directories where every role
    /// of the host is selected); accessories and kamal-proxy stay.
    Remove(TargetArgs),
}

/// `app stale_containers` options, as Kamal's.
#[derive(Clone, Debug, Args)]
pub struct StaleArgs {
    /// Stop the stale containers found (under the deploy lock).
    #[arg(short = 's', long)]
    pub stop: bool,
    #[command(flatten)]
    pub target: TargetArgs,
}

/// `app maintenance` options, as Kamal's.
#[derive(Clone, Debug, Args)]
pub struct MaintenanceArgs {
    /// How long to allow in-flight requests to complete, in seconds (defaults to drain_timeout
    /// from config).
    #[arg(
        long = "drain-timeout",
        alias = "drain_timeout",
        value_name = "SECONDS"
    )]
    pub drain_timeout: Option<u64>,
    /// Message to display to clients while stopped.
    #[arg(long)]
    pub message: Option<String>,
    #[command(flatten)]
    pub target: TargetArgs,
}

/// Runs an app subcommand.
pub fn run(global: &GlobalArgs, args: &AppArgs) -> Result<Exit, miette::Report> {
    let (target, subcommand) = match &args.command {
        AppCommand::Exec(args) => return exec::run(global, args),
        AppCommand::Logs(args) => return logs::run(global, args),
        AppCommand::Start(target) => (target, "start"),
        AppCommand::Stop(target) => (target, "stop"),
        AppCommand::Restart(target) => (target, "restart"),
        AppCommand::Maintenance(args) => (&args.target, "maintenance"),
        AppCommand::Live(target) => (target, "live"),
        AppCommand::StaleContainers(args) if args.stop => (&args.target, "stale_containers"),
        AppCommand::Boot(target) => (target, "boot"),
        AppCommand::Remove(target) => (target, "remove"),
        AppCommand::Containers(target) => return list(global, target, read::Listing::Containers),
        AppCommand::Details(target) => return list(global, target, read::Listing::Details),
        AppCommand::Images(target) => return list(global, target, read::Listing::Images),
        AppCommand::Version(target) => return report(global, target, "version"),
        AppCommand::StaleContainers(args) => {
            return report(global, &args.target, "stale_containers");
        }
    };
    let maintenance = match &args.command {
        AppCommand::Maintenance(args) => MaintenanceOptions {
            drain_timeout: args.drain_timeout,
            message: args.message.clone(),
        },
        _ => MaintenanceOptions::default(),
    };
    let day2 = Day2::load(global, target, "app", Some(subcommand))?;
    runtime()?.block_on(async {
        let session = day2.start(false)?;
        let connections = day2.connect_for(&session).await?;
        session
            .with_lock(&connections, async {
                match subcommand {
                    "stop" => stop(&day2, &session, &connections).await,
                    "start" => start(&day2, &session, &connections).await,
                    "boot" => boot(&day2, &session, &connections).await,
                    "remove" => remove(&day2, &session, &connections).await,
                    "stale_containers" => {
                        let observed = day2.observe(&connections).await;
                        let command = &day2.identity.command;
                        let changes = app::stop_stale(&day2.desired, &observed, command);
                        session
                            .execute_changes(changes, &observed, &connections, None)
                            .await
                    }
                    "maintenance" | "live" => {
                        let observed = day2.observe(&connections).await;
                        let command = &day2.identity.command;
                        let changes = if subcommand == "live" {
                            app::live(&day2.desired, &observed, command)
                        } else {
                            app::maintenance(&day2.desired, &observed, command, &maintenance)
                        };
                        session
                            .execute_changes(changes, &observed, &connections, None)
                            .await
                    }
                    _ => {
                        let stopped = stop(&day2, &session, &connections).await?;
                        if stopped != Exit::Success {
                            return Ok(stopped);
                        }
                        start(&day2, &session, &connections).await
                    }
                }
            })
            .await
    })
}

/// Runs a listing on the hosts (no lock, no plan).
fn list(
    global: &GlobalArgs,
    target: &TargetArgs,
    listing: read::Listing,
) -> Result<Exit, miette::Report> {
    let subcommand = match listing {
        read::Listing::Containers => "containers",
        read::Listing::Details => "details",
        read::Listing::Images => "images",
    };
    let day2 = Day2::load(global, target, "app", Some(subcommand))?;
    let rt = runtime()?;
    let result = rt.block_on(async {
        let connections = day2.connect().await?;
        Ok(read::list(&day2, &connections, listing).await)
    });
    rt.shutdown_background();
    result
}

/// `app version` and `app stale_containers`: observe once, print what was found.
fn report(
    global: &GlobalArgs,
    target: &TargetArgs,
    subcommand: &str,
) -> Result<Exit, miette::Report> {
    let day2 = Day2::load(global, target, "app", Some(subcommand))?;
    let observed = runtime()?.block_on(async {
        let connections = day2.connect().await?;
        Ok::<_, miette::Report>(day2.observe(&connections).await)
    })?;
    let (text, exit) = if subcommand == "version" {
        read::versions(&day2, &observed)
    } else {
        (read::stale(&day2, &observed), Exit::Success)
    };
    say!("{}", day2.prepared.redactor.redact(&text));
    Ok(exit)
}

async fn stop(
    day2: &Day2,
    session: &Session<'_>,
    connections: &Connections,
) -> Result<Exit, miette::Report> {
    let observed = day2.observe(connections).await;
    let changes = app::stop(&day2.desired, &observed, &day2.identity.command);
    session
        .execute_changes(changes, &observed, connections, None)
        .await
}

/// `app boot`: the version asked for (or the one running) where it does not run.
async fn boot(
    day2: &Day2,
    session: &Session<'_>,
    connections: &Connections,
) -> Result<Exit, miette::Report> {
    let observed = day2.observe(connections).await;
    let version = current_or_requested_version(day2, &observed)?;
    let desired = day2.at(&version)?;
    let changes = app::boot(&desired, &observed);
    session
        .execute_changes(changes, &observed, connections, None)
        .await
}

/// `app remove`; the app directories go only from hosts whose roles are all selected, as
/// Kamal's `hosts_removing_all_roles`.
async fn remove(
    day2: &Day2,
    session: &Session<'_>,
    connections: &Connections,
) -> Result<Exit, miette::Report> {
    let observed = day2.observe(connections).await;
    let config = &day2.prepared.loaded.config;
    let whole_hosts: std::collections::BTreeSet<String> = day2
        .desired
        .hosts
        .iter()
        .filter(|host| {
            let all_roles = config
                .roles
                .iter()
                .filter(|role| role.hosts.iter().any(|h| h.host == host.name))
                .count();
            host.apps.len() == all_roles
        })
        .map(|host| host.name.clone())
        .collect();
    let changes = app::remove(
        &day2.desired,
        &observed,
        &whole_hosts,
        &day2.identity.command,
    );
    let code = session
        .execute_changes(changes, &observed, connections, None)
        .await?;
    // The run's journal is written into the app directory after the plan: a directory left
    // behind would make Kamal count the app as still deployed there.
    if code == Exit::Success {
        for host_name in &whole_hosts {
            if let Some(Ok(host)) = connections.get(host_name) {
                let _ = host.remove_path(&day2.names.app_dir()).await;
            }
        }
    }
    Ok(code)
}

/// `--version`, else the version the app runs.
fn current_or_requested_version(
    day2: &Day2,
    observed: &crate::observe::Observed,
) -> Result<String, miette::Report> {
    match &day2.requested_version {
        Some(version) => Ok(version.clone()),
        None => current_version(observed, &day2.names).ok_or_else(|| {
            miette::miette!(
                help = "deploy first with `gantry apply`, or name a version with --version",
                "no container of this app exists on the selected hosts"
            )
        }),
    }
}

async fn start(
    day2: &Day2,
    session: &Session<'_>,
    connections: &Connections,
) -> Result<Exit, miette::Report> {
    let observed = day2.observe(connections).await;
    let version = current_or_requested_version(day2, &observed)?;
    let desired = day2.at(&version)?;
    let changes = app::start(&desired, &observed);
    session
        .execute_changes(changes, &observed, connections, None)
        .await
}
