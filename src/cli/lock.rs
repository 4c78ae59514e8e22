//! `gantry lock status|acquire|release`: Kamal's deploy lock, by hand.

use crate::session::Exit;

use clap::{Args, Subcommand};
use miette::miette;

use super::GlobalArgs;
use super::session::{TargetArgs, VersionNeed, connect_hosts, runtime};
use crate::naming::ServiceNames;
use crate::records::lock::LockRequest;
use crate::session::identity::holder;
use crate::session::run::now_rfc3339;
use crate::session::{lock_connections, lock_hosts, manual_lock};

/// `gantry lock` subcommands. `--version` and `--parallelism` are accepted, as Kamal accepts its
/// global flags everywhere, but mean nothing here: help does not list them.
#[derive(Clone, Debug, Args)]
#[command(mut_arg("parallelism", |arg| arg.hide(true)))]
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
    let prepared = super::session::load(global, VersionNeed::Optional)?;
    let config = &prepared.loaded.config;
    let lock_hosts = lock_hosts(config, &prepared.selection);
    let names = ServiceNames::for_config(config);
    runtime()?.block_on(async {
        let connections = connect_hosts(&prepared, &lock_hosts).await?;
        let hosts = lock_connections(&lock_hosts, &connections)?;
        let on = lock_hosts.join(", ");
        match &args.command {
            LockCommand::Status => {
                let held = manual_lock::status(&hosts, &names)
                    .await
                    .map_err(|e| miette!("{e}"))?;
                if held.is_empty() {
                    sayln!("There is no deploy lock");
                }
                for info in held {
                    sayln!("{}", info.details);
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
                manual_lock::acquire(&hosts, &names, &request)
                    .await
                    .map_err(|e| miette!("{e}"))?;
                sayln!("Acquired the deploy lock on {on}");
            }
            LockCommand::Release => {
                manual_lock::release(&hosts, &names)
                    .await
                    .map_err(|e| miette!("{e}"))?;
                sayln!("Released the deploy lock on {on}");
            }
        }
        Ok(Exit::Success)
    })
}
