//! `gantry proxy boot|reboot|logs|details`: kamal-proxy on the selected hosts.
//!
//! `boot` starts the proxy where it is missing or stopped. `reboot` replaces it everywhere
//! (a new image or `proxy.run` options take effect; routes survive in the `kamal-proxy-config`
//! volume), which drops traffic for a moment: it asks first (`-y` skips; without a terminal it
//! refuses unless `-y`) and runs the `pre-proxy-reboot` and `post-proxy-reboot` hooks around it.
//! Both take the deploy lock and run through the plan and the executor.

use crate::session::{Exit, Question};

use clap::{Args, Subcommand};

use super::GlobalArgs;
use super::locked::Day2;
use super::logs::{LogFlags, container_logs};
use super::session::{TargetArgs, runtime};
use crate::day2::proxy;
use crate::naming::PROXY_CONTAINER;

/// `gantry proxy` subcommands.
#[derive(Clone, Debug, Args)]
pub struct ProxyArgs {
    #[command(subcommand)]
    pub command: ProxyCommand,
    #[command(flatten)]
    pub target: TargetArgs,
}

/// What to do with kamal-proxy.
#[derive(Clone, Debug, Subcommand)]
pub enum ProxyCommand {
    /// Boot kamal-proxy where it is missing, start it where it is stopped.
    Boot,
    /// Replace kamal-proxy on every host (drops traffic for a moment).
    Reboot {
        /// Do not ask for confirmation.
        #[arg(short = 'y', long = "yes", alias = "confirmed")]
        yes: bool,
        /// Reboot one host after the other, each between its own pre- and post-proxy-reboot
        /// hooks, instead of all at once.
        #[arg(long)]
        rolling: bool,
    },
    /// Show kamal-proxy's logs.
    Logs {
        #[command(flatten)]
        flags: LogFlags,
    },
    /// Show kamal-proxy and its routes on each host.
    Details,
}

/// Runs a proxy subcommand.
pub fn run(global: &GlobalArgs, args: &ProxyArgs) -> Result<Exit, miette::Report> {
    let word = match &args.command {
        ProxyCommand::Boot => "boot",
        ProxyCommand::Reboot { .. } => "reboot",
        ProxyCommand::Logs { .. } => "logs",
        ProxyCommand::Details => "details",
    };
    let mut day2 = Day2::load(global, &args.target, "proxy", Some(word))?;
    day2.desired.hosts.retain(|host| host.proxy.is_some());
    runtime()?.block_on(async {
        match &args.command {
            ProxyCommand::Details => {
                let connections = day2.connect().await?;
                let observed = day2.observe(&connections).await;
                say!("{}", proxy::details(&day2.desired, &observed));
                Ok(Exit::Success)
            }
            ProxyCommand::Logs { flags } => {
                let connections = day2.connect().await?;
                let containers = day2
                    .desired
                    .hosts
                    .iter()
                    .map(|host| (host.name.clone(), PROXY_CONTAINER.to_string()))
                    .collect();
                Ok(container_logs(&connections, containers, &flags.options()).await)
            }
            ProxyCommand::Boot => {
                let session = day2.start(false)?;
                let connections = day2.connect_for(&session).await?;
                session.with_lock(&connections, async {
                    let observed = day2.observe(&connections).await;
                    let changes = proxy::boot(&day2.desired, &observed);
                    session.execute_changes(changes, &observed, &connections, None).await
                })
                .await
            }
            ProxyCommand::Reboot { yes, rolling } => {
                let session = day2.start(*yes)?;
                let connections = day2.connect_for(&session).await?;
                session.with_lock(&connections, async {
                    let observed = day2.observe(&connections).await;
                    let changes = proxy::reboot(&day2.desired, &observed, &day2.identity.command);
                    // Asked before the hooks run: a "no" changes nothing at all.
                    let question = Question::Destructive(
                        "This reboots kamal-proxy: each host drops traffic for a moment. Are you sure?".to_string(),
                    );
                    if let Some(exit) = session.ask(&question).await? {
                        return Ok(exit);
                    }
                    if !*rolling {
                        day2.hooks.run("pre-proxy-reboot", true, None).await?;
                        let code = session
                            .execute_changes(changes, &observed, &connections, None)
                            .await?;
                        if code == Exit::Success {
                            day2.hooks.run("post-proxy-reboot", true, None).await?;
                        }
                        return Ok(code);
                    }
                    // Host by host, as Kamal's `--rolling`: a host that fails stops the rest.
                    for host_changes in changes.hosts {
                        let host = vec![host_changes.host.clone()];
                        day2.hooks.run_on("pre-proxy-reboot", true, &host).await?;
                        let one = crate::diff::Changes {
                            hosts: vec![host_changes],
                        };
                        let code = session.execute_changes(one, &observed, &connections, None).await?;
                        if code != Exit::Success {
                            return Ok(code);
                        }
                        day2.hooks.run_on("post-proxy-reboot", true, &host).await?;
                    }
                    Ok(Exit::Success)
                })
                .await
            }
        }
    })
}
