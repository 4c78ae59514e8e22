//! `gantry server exec CMD`: a shell command on every selected host at once, each output line
//! prefixed with its host (`-i`: interactively, on the first selected host). Recorded in Kamal's
//! audit log. No lock: it is the user's command, not a change gantry plans.

use crate::session::Exit;

use clap::{Args, Subcommand};

use super::GlobalArgs;
use super::locked::Day2;
use super::logs::connected;
use super::output::{Job, run_interactive, run_prefixed, summarize};
use super::session::{TargetArgs, runtime};

/// `gantry server` subcommands.
#[derive(Clone, Debug, Args)]
pub struct ServerArgs {
    #[command(subcommand)]
    pub command: ServerCommand,
}

/// What to do on the servers.
#[derive(Clone, Debug, Subcommand)]
pub enum ServerCommand {
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
    let ServerCommand::Exec {
        target,
        interactive,
        command,
    } = &args.command;
    let day2 = Day2::load(global, target, "server", Some("exec"))?;
    let command = command.join(" ");
    let rt = runtime()?;
    let result = rt.block_on(async {
        let connections = day2.connect().await?;
        let hosts: Vec<String> = day2.desired.hosts.iter().map(|h| h.name.clone()).collect();
        let mut results = Vec::new();
        let mut jobs = Vec::new();
        let mut labels = Vec::new();
        for host in &hosts {
            match connected(&connections, host) {
                Ok(connection) => {
                    crate::records::audit::record_command(
                        connection.as_ref(),
                        &day2.names,
                        &day2.identity.performer,
                        &day2.prepared.redactor,
                        &command,
                    )
                    .await;
                    if *interactive {
                        let code = run_interactive(connection.as_ref(), &command)
                            .await
                            .map_err(|e| miette::miette!("{e}"))?;
                        return Ok(Exit::from_command_status(code));
                    }
                    labels.push(host.clone());
                    jobs.push(Job {
                        host: connection,
                        command: command.clone(),
                        prefix: host.clone(),
                    });
                }
                Err(error) => results.push((host.clone(), Err(error))),
            }
        }
        results.extend(labels.into_iter().zip(run_prefixed(jobs).await));
        Ok(summarize(&results))
    });
    rt.shutdown_background();
    result
}
