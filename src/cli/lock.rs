//! `gantry lock status|acquire|release`: Kamal's deploy lock, by hand.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use miette::miette;

use super::GlobalArgs;
use super::apply::holder;
use super::session::{
    PlanFlags, Prepared, TargetArgs, VersionNeed, connect, read_local_file, runtime,
};
use crate::lock::{self, LockRequest};
use crate::naming::ServiceNames;
use crate::pipeline;
use crate::run::now_rfc3339;

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

/// Runs a lock subcommand on the primary host.
pub fn run(global: &GlobalArgs, args: &LockArgs) -> Result<ExitCode, miette::Report> {
    let prepared = Prepared::load(global, &args.target, VersionNeed::Optional)?;
    let read = |path: &str| read_local_file(path);
    let request = prepared.request(&PlanFlags::default(), &read);
    let desired = pipeline::desired(&request).map_err(|error| miette!("{error}"))?;
    let config = &prepared.loaded.config;
    let primary = config
        .primary_host()
        .map(str::to_string)
        .ok_or_else(|| miette!("the primary role has no host"))?;
    let names = ServiceNames::for_config(config);
    runtime()?.block_on(async {
        let mut only_primary = desired.clone();
        only_primary.hosts.retain(|host| host.name == primary);
        let connections = connect(&prepared, &only_primary).await?;
        let host = match connections.get(&primary) {
            Some(Ok(host)) => host.clone(),
            Some(Err(reason)) => return Err(miette!("{primary} is unreachable: {reason}")),
            None => return Err(miette!("{primary} is not connected")),
        };
        match &args.command {
            LockCommand::Status => match lock::status(host.as_ref(), &names)
                .await
                .map_err(|e| miette!("{e}"))?
            {
                Some(info) => sayln!("{}", info.details),
                None => sayln!("There is no deploy lock"),
            },
            LockCommand::Acquire { message } => {
                let holder = holder();
                let now = now_rfc3339();
                let request = LockRequest {
                    holder: &holder,
                    now: &now,
                    version: &prepared.version,
                    message,
                };
                lock::acquire(host.as_ref(), &names, &request)
                    .await
                    .map_err(|e| miette!("{e}"))?;
                sayln!("Acquired the deploy lock on {primary}");
            }
            LockCommand::Release => {
                lock::force_release(host.as_ref(), &names)
                    .await
                    .map_err(|e| miette!("{e}"))?;
                sayln!("Released the deploy lock on {primary}");
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
