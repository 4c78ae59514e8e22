//! `gantry server exec CMD`: a shell command on every selected host at once, each output line
//! prefixed with its host (`-i`: interactively, on the first selected host). Recorded in Kamal's
//! audit log. No lock: it is the user's command, not a change gantry plans.
//!
//! `gantry server bootstrap`: Docker installed on every selected host that lacks it, then the
//! `docker-setup` hook, as Kamal's (the same installation `setup` runs first).

use crate::session::Exit;

use clap::{Args, Subcommand};

use super::GlobalArgs;
use super::locked::Day2;
use super::logs::connected;
use super::output::{Job, run_interactive, run_labelled, summarize};
use super::session::{TargetArgs, runtime};
use crate::pipeline::Connections;
use futures_util::future::join_all;

/// `gantry server` subcommands.
#[derive(Clone, Debug, Args)]
pub struct ServerArgs {
    #[command(subcommand)]
    pub command: ServerCommand,
}

/// What to do on the servers.
#[derive(Clone, Debug, Subcommand)]
pub enum ServerCommand {
    /// Install Docker where it is missing, then run the docker-setup hook.
    Bootstrap {
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Run a shell command on every selected host.
    Exec {
        #[command(flatten)]
        target: TargetArgs,
        /// Interactive, with a terminal, on the first selected host.
        #[arg(short = 'i', long)]
        interactive: bool,
        /// The command, as shell text.
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
}

/// Runs a server subcommand.
pub fn run(global: &GlobalArgs, args: &ServerArgs) -> Result<Exit, miette::Report> {
    let (target, interactive, command) = match &args.command {
        ServerCommand::Bootstrap { target } => return bootstrap(global, target),
        ServerCommand::Exec {
            target,
            interactive,
            command,
        } => (target, interactive, command),
    };
    let day2 = Day2::load(global, target, "server", Some("exec"))?;
    let command = command.join(" ");
    let rt = runtime()?;
    let result = rt.block_on(async {
        let connections = day2.connect().await?;
        if *interactive {
            let host = day2.desired.hosts.first().map(|host| host.name.clone());
            let Some(host) = host else {
                return Err(miette::miette!("no host selected"));
            };
            let connection = connected(&connections, &host).map_err(|e| miette::miette!("{e}"))?;
            record(&day2, connection.as_ref(), &command).await;
            let code = run_interactive(connection.as_ref(), &command)
                .await
                .map_err(|e| miette::miette!("{e}"))?;
            return Ok(Exit::from_command_status(code));
        }
        Ok(on_every_host(&day2, &connections, &command, true).await)
    });
    rt.shutdown_background();
    result
}

/// Installs Docker where it is missing on the selected hosts, then runs `docker-setup`.
fn bootstrap(global: &GlobalArgs, target: &TargetArgs) -> Result<Exit, miette::Report> {
    // Kamal gives the docker-setup hook no subcommand here.
    let day2 = Day2::load(global, target, "server", None)?;
    let hosts: Vec<String> = day2
        .desired
        .hosts
        .iter()
        .map(|host| host.name.clone())
        .collect();
    runtime()?.block_on(async {
        day2.hooks.pre_connect().await?;
        super::setup::install_docker(&day2.prepared, &hosts).await?;
        day2.hooks.run("docker-setup", false, None).await?;
        Ok(Exit::Success)
    })
}

async fn record(day2: &Day2, connection: &dyn crate::host::Host, command: &str) {
    crate::records::audit::record_command(
        connection,
        &day2.names,
        &day2.identity.performer,
        &day2.prepared.redactor,
        command,
    )
    .await;
}

/// Runs the shell text `command` on every selected host at once, each output line prefixed
/// with its host; with `audited`, each run is first recorded in the host's audit log.
pub(super) async fn on_every_host(
    day2: &Day2,
    connections: &Connections,
    command: &str,
    audited: bool,
) -> Exit {
    let targets = join_all(day2.desired.hosts.iter().map(|host| async {
        let job = async {
            let connection = connected(connections, &host.name)?;
            if audited {
                record(day2, connection.as_ref(), command).await;
            }
            Ok(Job {
                host: connection,
                command: command.to_string(),
                prefix: host.name.clone(),
            })
        };
        (host.name.clone(), job.await)
    }))
    .await;
    summarize(&run_labelled(targets).await)
}
