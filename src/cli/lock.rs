//! `gantry lock status|acquire|release`: Kamal's deploy lock, by hand.

use crate::session::Exit;

use clap::{Args, Subcommand};
use miette::miette;

use super::GlobalArgs;
use super::session::{TargetArgs, VersionNeed, connect_hosts, runtime};
use crate::lock::{self, LockRequest};
use crate::naming::ServiceNames;
use crate::run::now_rfc3339;
use crate::session::identity::holder;
use crate::session::lock_hosts;

/// `gantry lock` subcommands.
#[derive(Clone, Debug, Args)]
pub struct LockArgs {
    #[command(subcommand)]
    pub command: LockCommand,
    #[command(flatten)]
    pub target: TargetArgs,
}

/// What to do with the lock.
#[derive(Clone, Debug, Subcommand)]
pub enum LockCommand {
    /// Show who holds the deploy lock.
    Status,
    /// Take the deploy lock by hand (deploys stop until it is released).
    Acquire {
        /// Why: shown to whoever tries to deploy.
        #[arg(short, long)]
        message: String,
    },
    /// Release the deploy lock.
    Release,
}

/// Runs a lock subcommand on the lock hosts of the selection (`crate::session::lock_hosts`):
/// the primary host, and the host Kamal locks for the same `--hosts`/`--roles`.
pub fn run(global: &GlobalArgs, args: &LockArgs) -> Result<Exit, miette::Report> {
    let prepared = super::session::load(global, &args.target, VersionNeed::Optional)?;
    let config = &prepared.loaded.config;
    let lock_hosts = lock_hosts(config, &prepared.selection);
    if lock_hosts.is_empty() {
        return Err(miette!("the primary role has no host"));
    }
    let names = ServiceNames::for_config(config);
    runtime()?.block_on(async {
        let connections = connect_hosts(&prepared, &lock_hosts).await?;
        let mut hosts = Vec::new();
        for name in &lock_hosts {
            match connections.get(name) {
                Some(Ok(host)) => hosts.push(host.clone()),
                Some(Err(reason)) => return Err(miette!("{name} is unreachable: {reason}")),
                None => return Err(miette!("{name} is not connected")),
            }
        }
        let on = lock_hosts.join(", ");
        match &args.command {
            LockCommand::Status => {
                let mut held = false;
                for host in &hosts {
                    if let Some(info) = lock::status(host.as_ref(), &names)
                        .await
                        .map_err(|e| miette!("{e}"))?
                    {
                        held = true;
                        sayln!("{}", info.details);
                    }
                }
                if !held {
                    sayln!("There is no deploy lock");
                }
            }
            LockCommand::Acquire { message } => {
                let holder = holder();
                let now = now_rfc3339();
                let request = LockRequest {
                    holder: &holder,
                    now: &now,
                    version: &prepared.version,
                    message,
                };
                for (taken, host) in hosts.iter().enumerate() {
                    if let Err(error) = lock::acquire(host.as_ref(), &names, &request).await {
                        // All or nothing: a lock taken on the primary host alone would stop
                        // deploys with no word of it here.
                        for host in hosts[..taken].iter().rev() {
                            let _ = lock::force_release(host.as_ref(), &names).await;
                        }
                        return Err(miette!("{error}"));
                    }
                }
                sayln!("Acquired the deploy lock on {on}");
            }
            LockCommand::Release => {
                for host in &hosts {
                    lock::force_release(host.as_ref(), &names)
                        .await
                        .map_err(|e| miette!("{e}"))?;
                }
                sayln!("Released the deploy lock on {on}");
            }
        }
        Ok(Exit::Success)
    })
}
